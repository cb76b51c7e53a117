#!/usr/bin/env bash
# starling-sim as a benchmark: how much faster than real time it runs the
# gossip core, with how many events per second and how much memory.
#
#   tests/bench/bench_sim.sh                 (what `make bench` runs)
#   SIZES="100 1000 10000" tests/bench/bench_sim.sh
#
# Each size runs tests/bench/sim_lan_N.scn when it exists (100 and 10,000
# nodes are checked in), or the same shape generated for N: lan profile, 1 ms
# +-0.5 ms latency, three crashes at 100 s, 300 s simulated. The run is
# capped at MEM_GB of address space (default 8, the target) and TIMEOUT
# seconds of wall time (default 900), so that a size that does not fit fails
# instead of taking the machine down. Prints one line per size; targets:
# 100 nodes at least 1000x real time, 10,000 nodes at least 1x in 8 GB.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
SIM=$BUILD/starling-sim
SIZES=${SIZES:-100 10000}
MEM_GB=${MEM_GB:-8}
TIMEOUT=${TIMEOUT:-900}
tmp=$BUILD/bench-sim
mkdir -p "$tmp"
[ -x "$SIM" ] || { echo "bench_sim: $SIM is missing; run make first" >&2; exit 1; }

scenario() { # scenario N -> path
    local f=tests/bench/sim_lan_$1.scn
    if [ ! -f "$f" ]; then
        f=$tmp/sim_lan_$1.scn
        printf 'nodes %d\nprofile lan\nlatency 1ms 0.5ms\nat 100s crash n10 n%d n%d\nrun 300s\n' \
            "$1" $(($1 / 2)) $(($1 - 1)) >"$f"
    fi
    echo "$f"
}

num() { # num KEY FILE: a number from the JSON report
    sed -n "s/^ *\"$1\": \([0-9.]*\).*/\1/p" "$2" | head -n1
}

rc=0
printf '%-7s %-9s %-9s %-10s %-12s %-8s %s\n' nodes sim_s wall_s x_real events/s rss_MB result
for n in $SIZES; do
    scn=$(scenario "$n")
    json=$tmp/sim_lan_$n.json
    rm -f "$json"
    (
        ulimit -v $((MEM_GB * 1024 * 1024))
        exec timeout "$TIMEOUT" "$SIM" "$scn" --quiet --json "$json"
    )
    st=$?
    if [ ! -s "$json" ]; then
        why="failed (exit $st)"
        [ "$st" = 124 ] && why="timed out after ${TIMEOUT}s"
        printf '%-7s %-9s %-9s %-10s %-12s %-8s %s\n' "$n" - - - - - "$why (limit ${MEM_GB} GB)"
        rc=1
        continue
    fi
    sim=$(num simulated_s "$json")
    wall=$(num wall_s "$json")
    eps=$(num events_per_s "$json")
    rss=$(num peak_rss_mb "$json")
    x=$(awk -v s="$sim" -v w="$wall" 'BEGIN { printf "%.1f", (w > 0 ? s / w : 0) }')
    printf '%-7s %-9s %-9s %-10s %-12s %-8s %s\n' "$n" "$sim" "$wall" "${x}x" "$eps" "$rss" \
        "ok (exit $st)"
done
echo "command: SIZES=\"$SIZES\" MEM_GB=$MEM_GB tests/bench/bench_sim.sh (scenarios: tests/bench/sim_lan_N.scn)"
exit $rc
