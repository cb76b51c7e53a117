#!/usr/bin/env bash
# Tests `starling plan`: output, JSON shape, determinism under input order,
# and one-line errors with the right exit codes. One "PASS: what" or
# "FAIL: what" line per case; exits non-zero on any failure.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
S=$BUILD/starling
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "PASS: $1"; }
ko() { echo "FAIL: $1"; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else ko "$1"; fi; }

cat >"$T/m.json" <<'J'
[{"name": "n1", "zone": "z1", "weight": 2, "cpu": 4000, "mem": 8192, "state": "alive", "rack": "r9"},
 {"name": "n2", "zone": "z2"}, {"name": "n3", "zone": "z3", "state": "suspect"},
 {"name": "n4", "zone": "z1", "state": "draining"}]
J
cat >"$T/m2.json" <<'J'
[{"name": "n4", "zone": "z1", "state": "draining"}, {"name": "n3", "zone": "z3", "state": "suspect"},
 {"name": "n2", "zone": "z2"},
 {"name": "n1", "zone": "z1", "weight": 2, "cpu": 4000, "mem": 8192, "state": "alive"}]
J
cat >"$T/s.json" <<'J'
[{"name": "web", "replicas": 3, "cpu": 500, "mem": 256, "owner": "ops"}, {"name": "db", "replicas": 4}]
J
cat >"$T/s2.json" <<'J'
[{"name": "db", "replicas": 4}, {"name": "web", "replicas": 3, "cpu": 500, "mem": 256}]
J

"$S" plan --members "$T/m.json" --services "$T/s.json" --json >"$T/out1" 2>"$T/err"
check "plan --json exits 0" "[ $? = 0 ]"
check "json has assignments and unplaced" "python3 -c 'import json,sys; d=json.load(open(\"$T/out1\")); assert set(d)=={\"assignments\",\"unplaced\"}; assert len(d[\"assignments\"])+len(d[\"unplaced\"])==7'"
check "web's 3 replicas on 3 distinct zones" "python3 -c '
import json; d=json.load(open(\"$T/out1\")); z={\"n1\":1,\"n2\":2,\"n3\":3}
w=[a[\"node\"] for a in d[\"assignments\"] if a[\"service\"]==\"web\"]
assert len(w)==3 and len({z[n] for n in w})==3'"
check "draining member gets nothing" "! grep -q '\"n4\"' $T/out1"
check "4th db replica unplaced with a reason" "python3 -c '
import json; d=json.load(open(\"$T/out1\")); u=d[\"unplaced\"]
assert len(u)==1 and u[0][\"service\"]==\"db\" and u[0][\"reason\"]'"
"$S" plan --members "$T/m2.json" --services "$T/s2.json" --json >"$T/out2"
check "same assignment whatever the input order" "python3 -c '
import json
def k(f):
    d=json.load(open(f)); return sorted((a[\"service\"],a[\"replica\"],a[\"node\"]) for a in d[\"assignments\"])
assert k(\"$T/out1\")==k(\"$T/out2\")'"
"$S" plan --members "$T/m.json" --services "$T/s.json" >"$T/table"
check "table output names every replica" "[ \$(grep -cE '^(web|db) ' $T/table) = 7 ] && grep -q '1 unplaced' $T/table"
"$S" plan --members "$T/m.json" --services "$T/s.json" --eps 0 --json >/dev/null
check "--eps 0 accepted" "[ $? = 0 ]"
"$S" plan --help >"$T/help"
check "--help exits 0 and documents the flags" "[ $? = 0 ] && grep -q -- --members $T/help && grep -q -- --eps $T/help"

expect_err() { # what, expected exit code, pattern, args...
    local what=$1 code=$2 pat=$3
    shift 3
    "$S" plan "$@" >/dev/null 2>"$T/err"
    local rc=$?
    if [ "$rc" = "$code" ] && [ "$(wc -l <"$T/err")" -ge 1 ] && grep -q -- "$pat" "$T/err" &&
        [ "$(grep -c 'starling plan:' "$T/err")" = 1 ]; then ok "$what"; else
        ko "$what (exit $rc: $(head -c 200 "$T/err"))"; fi
}
printf '[{"name": "n1",\n "zone": }]\n' >"$T/bad.json"
echo '[{"name": "n1", "state": "dead"}]' >"$T/state.json"
echo '[{"name": "n1", "weight": "two"}]' >"$T/type.json"
echo '{"name": "n1"}' >"$T/obj.json"
echo '[{"name": "a", "replicas": 1}, {"name": "a", "replicas": 2}]' >"$T/dup.json"
expect_err "missing file: exit 1" 1 "No such file" --members "$T/nope.json" --services "$T/s.json"
expect_err "invalid JSON names the line: exit 1" 1 "line 2" --members "$T/bad.json" --services "$T/s.json"
expect_err "unknown state: exit 1" 1 'unknown state "dead"' --members "$T/state.json" --services "$T/s.json"
expect_err "wrong type: exit 1" 1 '"weight" must be an integer' --members "$T/type.json" --services "$T/s.json"
expect_err "not an array: exit 1" 1 "expected a JSON array" --members "$T/obj.json" --services "$T/s.json"
expect_err "duplicate names: exit 1" 1 "duplicate" --members "$T/m.json" --services "$T/dup.json"
expect_err "missing --services: exit 2" 2 "required" --members "$T/m.json"
expect_err "bad --eps: exit 2" 2 "eps" --members "$T/m.json" --services "$T/s.json" --eps -1
expect_err "unknown option: exit 2" 2 "unknown" --members "$T/m.json" --services "$T/s.json" --bogus

[ "$fails" = 0 ]
