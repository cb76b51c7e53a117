#!/usr/bin/env bash
# Runs every benchmark under tests/bench/ (bench_*.sh), in name order. Each
# prints its own figures; BENCHMARKS.md records them with the command.
set -u
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.." || exit 2
rc=0
for b in tests/bench/bench_*.sh; do
    [ -f "$b" ] || continue
    [[ $b =~ ${ONLY:-.} ]] || continue
    echo "== $b"
    bash "$b" || rc=1
done
exit $rc
