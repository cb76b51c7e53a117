#!/usr/bin/env bash
# tests/cluster/running_low.py, the exact "never fewer than N running" of
# the cluster tests, on hand-written agent logs: a hand-off made before the
# break holds the count (its "now belongs to" line changes nothing), one made after it shows the dip and when, a new
# life of an agent ends what its old one ran.
set -u
cd "$(dirname "$0")/../.." || exit 2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "PASS: $1"; }
ko() { echo "FAIL: $1"; fails=$((fails + 1)); }
low() { python3 tests/cluster/running_low.py "$@"; }
ms() { python3 -c "import datetime as d; print(int(d.datetime(2026,1,1,0,0,$1, tzinfo=d.timezone.utc).timestamp()*1000))"; }
line() { echo "2026-01-01T00:00:$1Z [info] $2"; }
{
    line 01.000 "replica web/0 running on port 20001"
    line 01.000 "replica web/1 running on port 20002"
    line 03.000 "replica web/1 now belongs to b: keeping it until b runs it"
    line 05.000 "replica web/1 stopping on port 20002"
    line 05.100 "replica web/1 stopped"
} >"$T/a.log"
{
    line 04.500 "replica web/1 starting on port 20003"
    line 04.900 "replica web/1 running on port 20003"
    line 06.000 "replica api/0 running on port 20004"
} >"$T/b.log"
r=$(low web "$(ms 2)" "$(ms 9)" "$T/a.log" "$T/b.log")
[ "$r" = "2 $(ms 2)" ] && ok "make before break holds 2 ($r)" || ko "make before break holds 2 ($r)"
{
    line 04.500 "replica web/1 starting on port 20003"
    line 05.400 "replica web/1 running on port 20003"
} >"$T/late.log"
r=$(low web "$(ms 2)" "$(ms 9)" "$T/a.log" "$T/late.log")
[ "$r" = "1 $(ms 5)" ] && ok "break before make dips to 1 at 5 s ($r)" || ko "break before make dips to 1 at 5 s ($r)"
r=$(low web "$(ms 6)" "$(ms 9)" "$T/a.log" "$T/late.log")
[ "$r" = "2 $(ms 6)" ] && ok "a window after the dip does not see it ($r)" || ko "a window after the dip does not see it ($r)"
{
    line 01.000 "replica web/0 running on port 20001"
    line 03.000 "starling agent a starting: gossip on 127.0.0.1:7946"
} >"$T/restart.log"
r=$(low web "$(ms 2)" "$(ms 9)" "$T/restart.log")
[ "$r" = "0 $(ms 3)" ] && ok "a new life of an agent ends what the old one ran ($r)" || ko "a new life of an agent ends what the old one ran ($r)"
[ "$fails" = 0 ]
