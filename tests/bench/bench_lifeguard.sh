#!/usr/bin/env bash
# Lifeguard against plain SWIM in starling-sim, same scenarios, same seeds,
# one invocation: 200 nodes, lan profile, 1 ms +-0.5 ms latency, 330 s:
#   stall   a tenth of the nodes stall 1-3 s every 2-6 s (CPU starvation)
#   loss20  loss 0.2 on every link of a tenth of the nodes
#   loss60  loss 0.6 on every link of a tenth of the nodes
#   loss60c the same, and three crashes at 150 s
# For each: healthy members declared dead (by anyone: Lifeguard's false
# positive, see README) with Lifeguard on and off, and the worst and mean
# time until every live node holds a crashed one dead.
#
#   tests/bench/bench_lifeguard.sh            (what `make bench` runs)
#   SEEDS="1 2 3" tests/bench/bench_lifeguard.sh
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
SIM=$BUILD/starling-sim
SEEDS=${SEEDS:-5}
tmp=$BUILD/bench-lifeguard
mkdir -p "$tmp"
[ -x "$SIM" ] || { echo "bench_lifeguard: $SIM is missing; run make first" >&2; exit 1; }

body() { # body NAME: the scenario's faults
    case $1 in
    stall) echo "at 30s stall n0-n19 for 1s 3s every 2s 6s until 330s" ;;
    loss20) echo "at 30s loss n0-n19 0.2" ;;
    loss60) echo "at 30s loss n0-n19 0.6" ;;
    loss60c) printf 'at 30s loss n0-n19 0.6\nat 150s crash n50 n100 n150\n' ;;
    esac
}
# figures JSON: "DEAD DETECT" (DETECT: worst/mean all_detect_s, or -)
figures() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = [f["all_detect_s"] for f in r["failures"] if f["all_detect_s"] is not None]
print(r["healthy_declared_dead"], "%.2f/%.2f" % (max(d), sum(d) / len(d)) if d else "-")
PY
}
rc=0
printf '%-8s %-5s %-8s %-8s %-9s %-16s %s\n' scenario seed dead_on dead_off ratio \
    "detect_on(w/m)" "detect_off(w/m)"
for name in stall loss20 loss60 loss60c; do
    for seed in $SEEDS; do
        for lg in on off; do
            f=$tmp/$name.$lg.scn
            printf 'nodes 200\nlifeguard %s\nlatency 1ms 0.5ms\n%s\nrun 330s\n' "$lg" "$(body $name)" >"$f"
            "$SIM" "$f" --seed "$seed" --quiet --json "$tmp/$name.$lg.json" >/dev/null 2>&1
            [ -s "$tmp/$name.$lg.json" ] || { echo "bench_lifeguard: $name $lg failed" >&2; rc=1; }
        done
        read -r on det_on < <(figures "$tmp/$name.on.json")
        read -r off det_off < <(figures "$tmp/$name.off.json")
        ratio=$(awk -v a="${on:-0}" -v b="${off:-0}" 'BEGIN { if (a > 0) printf "%.1fx", b / a; else if (b > 0) printf "inf"; else printf "-" }')
        printf '%-8s %-5s %-8s %-8s %-9s %-16s %s\n' "$name" "$seed" "$on" "$off" "$ratio" \
            "$det_on" "$det_off"
    done
done
echo "command: SEEDS=\"$SEEDS\" tests/bench/bench_lifeguard.sh (scenarios in $tmp)"
exit $rc
