#!/usr/bin/env bash
# Placement benchmark (see tests/bench/bench_placement.c); run by `make bench`.
# The tables it prints go in BENCHMARKS.md (Placement); the moves against
# the bounded-load ring are also drawn, with gnuplot when it is installed
# (`make bench` installs gnuplot-nox), into $BUILD/bench/placement_moves.png
# (PLOT_OUT picks another path; BENCHMARKS.md shows the copy in
# docs/placement_moves.png).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
out=$BUILD/bench/placement
mkdir -p "$out" || exit 1
"$BUILD/bench/bench_placement" "$out" || exit 1
png=${PLOT_OUT:-$BUILD/bench/placement_moves.png}
if ! command -v gnuplot >/dev/null 2>&1; then
    echo "bench_placement: gnuplot not installed, plot skipped (make bench installs gnuplot-nox)"
    exit 0
fi
gnuplot -e "large='$out/placement_large.dat'; small='$out/placement_small.dat'; out='$png'" \
    tests/bench/placement_moves.gp || exit 1
echo "bench_placement: plot written to $png"
