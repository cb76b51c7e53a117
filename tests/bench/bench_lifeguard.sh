#!/usr/bin/env bash
# Lifeguard against plain SWIM in starling-sim, issue 14's three scenarios,
# same seeds, one invocation: 200 nodes, `local` profile (memberlist's
# DefaultLocalConfig: probe 1 s, timeout 200 ms, one indirect check,
# suspicion 3 x log10(200) x 1 s = 6.9 s for plain SWIM, retransmit x2),
# 1 ms +-0.5 ms latency, 330 s:
#   stall    (a) a tenth of the nodes stall 1-3 s every 2-6 s, the whole run,
#            each stall at a random instant (as SIGSTOP would)
#   stallp   (a) the same stalls, each just after the node sent a probe
#            (`probing`: a CPU-starved process stops while it runs; README)
#   loss10   (b) loss 0.1 on every link of a tenth of the nodes
#   loss20   (b) loss 0.2 on every link of a tenth of the nodes
#   loss20c  (c) loss 0.2 as above, and three crashes at 150 s
# For each, with Lifeguard on and off: healthy = healthy_declared_dead (a
# member neither stalled, down nor cut off, declared dead by anyone), alive =
# alive_declared_dead (any running member declared dead, stalled or lossy
# ones too; see README, "The report"), their off/on ratios, and the mean
# time until every live node holds a crashed one dead, with its on/off ratio.
#
#   tests/bench/bench_lifeguard.sh            (what `make bench` runs)
#   SEEDS="1 2 3 4 5" SCENARIOS="stallp loss20c" tests/bench/bench_lifeguard.sh
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
SIM=$BUILD/starling-sim
SEEDS=${SEEDS:-1 2 3}
PROFILE=${PROFILE:-local}
tmp=$BUILD/bench-lifeguard
mkdir -p "$tmp"
[ -x "$SIM" ] || { echo "bench_lifeguard: $SIM is missing; run make first" >&2; exit 1; }

body() { # body NAME: the scenario's faults
    case $1 in
    stall) echo "at 30s stall n0-n19 for 1s 3s every 2s 6s until 330s" ;;
    stallp) echo "at 30s stall n0-n19 for 1s 3s every 2s 6s until 330s probing" ;;
    loss10) echo "at 30s loss n0-n19 0.1" ;;
    loss20) echo "at 30s loss n0-n19 0.2" ;;
    loss20c) printf 'at 30s loss n0-n19 0.2\nat 150s crash n50 n100 n150\n' ;;
    esac
}
# figures JSON: "HEALTHY ALIVE DETECT" (DETECT: mean all_detect_s, or -)
figures() {
    python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = [f["all_detect_s"] for f in r["failures"] if f["all_detect_s"] is not None]
print(r["healthy_declared_dead"], r["alive_declared_dead"], "%.2f" % (sum(d) / len(d)) if d else "-")
PY
}
ratio() { # ratio OFF ON: OFF/ON, "inf" when only OFF has some, "-" when neither
    awk -v b="${1:-0}" -v a="${2:-0}" 'BEGIN { if (a > 0) printf "%.1fx", b / a; else if (b > 0) printf "inf"; else printf "-" }'
}
rc=0
printf '%-8s %-4s %-7s %-7s %-7s %-6s %-6s %-7s %-7s %-7s %s\n' scenario seed \
    healthy healthy "off/on" alive alive "off/on" detect detect "on/off"
printf '%-8s %-4s %-7s %-7s %-7s %-6s %-6s %-7s %-7s %-7s\n' "" "" on off "" on off "" on off
for name in ${SCENARIOS:-stall stallp loss10 loss20 loss20c}; do
    for seed in $SEEDS; do
        for lg in on off; do
            f=$tmp/$name.$lg.scn
            printf 'nodes 200\nprofile %s\nlifeguard %s\nlatency 1ms 0.5ms\n%s\nrun 330s\n' \
                "$PROFILE" "$lg" "$(body $name)" >"$f"
            rm -f "$tmp/$name.$lg.json"
            "$SIM" "$f" --seed "$seed" --quiet --json "$tmp/$name.$lg.json" >/dev/null 2>&1
            [ -s "$tmp/$name.$lg.json" ] || { echo "bench_lifeguard: $name $lg failed" >&2; rc=1; }
        done
        read -r h_on a_on d_on < <(figures "$tmp/$name.on.json")
        read -r h_off a_off d_off < <(figures "$tmp/$name.off.json")
        dr=$(awk -v a="$d_on" -v b="$d_off" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "-" }')
        printf '%-8s %-4s %-7s %-7s %-7s %-6s %-6s %-7s %-7s %-7s %s\n' "$name" "$seed" \
            "$h_on" "$h_off" "$(ratio "$h_off" "$h_on")" "$a_on" "$a_off" "$(ratio "$a_off" "$a_on")" \
            "$d_on" "$d_off" "$dr"
    done
done
echo "command: SEEDS=\"$SEEDS\" PROFILE=$PROFILE tests/bench/bench_lifeguard.sh (scenarios in $tmp)"
exit $rc
