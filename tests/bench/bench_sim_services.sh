#!/usr/bin/env bash
# starling-sim with the runtime on: every virtual node runs the runtime core
# (catalog, reports, placement, reconcile) and a virtual supervisor. One row
# per size N: N nodes in 3 zones, lan profile, 1 ms +-0.5 ms latency,
# SERVICES services x 3 replicas (default 1000), three crashes at 300 s,
# 600 s simulated; beside it the same run without services (membership
# only), measured in the same invocation, and the ratio of their wall times.
#
#   tests/bench/bench_sim_services.sh           (what `make bench` runs)
#   SIZES="300 1000" SERVICES=1000 tests/bench/bench_sim_services.sh
#
# Target (issue 12): 1,000 nodes x 1,000 services x 3, 600 s simulated, at
# least 10x faster than real time.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
SIM=$BUILD/starling-sim
SIZES=${SIZES:-1000}
SERVICES=${SERVICES:-1000}
TIMEOUT=${TIMEOUT:-1200}
tmp=$BUILD/bench-sim
mkdir -p "$tmp"
[ -x "$SIM" ] || { echo "bench_sim_services: $SIM is missing; run make first" >&2; exit 1; }

num() { sed -n "s/^ *\"$1\": \([0-9.]*\).*/\1/p" "$2" | head -n1; }

run() { # run SCENARIO JSON -> prints "wall rss"
    rm -f "$2"
    timeout "$TIMEOUT" "$SIM" "$1" --quiet --json "$2" >/dev/null 2>&1
    [ -s "$2" ] || { echo "- -"; return 1; }
    echo "$(num wall_s "$2") $(num peak_rss_mb "$2")"
}

rc=0
printf '%-6s %-9s %-7s %-9s %-9s %-10s %-9s %-9s %s\n' nodes services sim_s wall_s x_real rss_MB \
    plain_s plain_MB ratio
for n in $SIZES; do
    base=$tmp/svc_$n
    head="nodes $n
zones 3
profile lan
latency 1ms 0.5ms"
    tail="at 300s crash n10 n$((n / 2)) n$((n - 1))
run 600s"
    printf '%s\n%s\n' "$head" "$tail" >"$base.plain.scn"
    printf '%s\nservices %d replicas 3\n%s\n' "$head" "$SERVICES" "$tail" >"$base.scn"
    read -r pw pm < <(run "$base.plain.scn" "$base.plain.json") || rc=1
    read -r w m < <(run "$base.scn" "$base.json") || rc=1
    x=$(awk -v w="$w" 'BEGIN { printf "%.1f", (w > 0 ? 600 / w : 0) }')
    ratio=$(awk -v w="$w" -v p="$pw" 'BEGIN { printf "%.1f", (p > 0 ? w / p : 0) }')
    printf '%-6s %-9s %-7s %-9s %-9s %-10s %-9s %-9s %s\n' "$n" "${SERVICES}x3" 600 "$w" "${x}x" \
        "$m" "$pw" "$pm" "${ratio}x"
done
echo "command: SIZES=\"$SIZES\" SERVICES=$SERVICES tests/bench/bench_sim_services.sh (scenarios in $tmp/svc_N*.scn)"
exit $rc
