#!/usr/bin/env bash
# Placement benchmark (see tests/bench/bench_placement.c); run by `make bench`.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
"$BUILD/bench/bench_placement"
