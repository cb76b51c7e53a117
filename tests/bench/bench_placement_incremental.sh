#!/usr/bin/env bash
# Incremental placement benchmark (tests/bench/bench_placement_incremental.c):
# one change at a time at 1,000 members x 10,000 services x 3, incremental
# against full in the same invocation, then the same with a cpu request on
# every replica (so that the first greedy is never reused); run by `make
# bench`. PL_BIG=1 adds
# 10,000 members x 100,000 services x 3, with one full run to compare with
# (it takes a few minutes: the full run takes seconds, and the cache's first
# call is one).
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
rc=0
"$BUILD/bench/bench_placement_incremental" 1000 10000 3 || rc=1
"$BUILD/bench/bench_placement_incremental" 1000 10000 3 1000000 10 || rc=1
if [ "${PL_BIG:-0}" = 1 ]; then
    "$BUILD/bench/bench_placement_incremental" 10000 100000 3 1 || rc=1
fi
exit $rc
