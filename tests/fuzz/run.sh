#!/usr/bin/env bash
# Runs every fuzz target (built by `make fuzz` into $FUZZ_DIR) for
# FUZZ_SECONDS each, one after another, and fails naming the target and the
# input that crashed it.
#
# Each target has its own working corpus, $FUZZ_DIR/corpus/TARGET, which
# starts from the seeds checked in under tests/fuzz/corpus/TARGET (copied,
# never written to) and the seeds the target writes itself at start-up
# (FUZZ_SEEDS), and keeps what the fuzzer found between runs. Crashing
# inputs go to $FUZZ_DIR/crashes/TARGET-crash-SHA1 (or -leak-, -timeout-,
# -oom-); a log per target to $FUZZ_DIR/logs/TARGET.log.
#
#   FUZZ_SECONDS  seconds per target (default 60)
#   FUZZ_TARGETS  the targets to run (default: all)
#   FUZZ_DIR      where the binaries are (default build-fuzz)
set -u
cd "$(dirname "$0")/../.." || exit 2
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
SECS=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-decoders sealed signed scenario}

# The largest input each target gets: a datagram is at most 1400 bytes, but
# states and catalogs of several members or records are larger.
max_len() {
    case $1 in
    sealed | signed) echo 8192 ;;
    *) echo 4096 ;;
    esac
}

failed=()
for t in $TARGETS; do
    bin=$FUZZ_DIR/fuzz_$t
    if [ ! -x "$bin" ]; then
        echo "make fuzz: $bin is missing (unknown target '$t'?)"
        failed+=("$t: not built")
        continue
    fi
    work=$FUZZ_DIR/corpus/$t
    crashes=$FUZZ_DIR/crashes
    log=$FUZZ_DIR/logs/$t.log
    mkdir -p "$work" "$crashes" "$FUZZ_DIR/logs"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null
    fi
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    echo "make fuzz: $t for $SECS s (max_len $(max_len "$t"), corpus $work, log $log)"
    FUZZ_SEEDS=$work "$bin" -max_total_time="$SECS" -max_len="$(max_len "$t")" -timeout=30 \
        -print_final_stats=1 -artifact_prefix="$crashes/$t-" "${dict[@]}" "$work" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    if [ "$rc" != 0 ]; then
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        echo "make fuzz: target $t FAILED (exit $rc) after ${runs:-?} runs"
        echo "  input: ${input:-none written; see the log}"
        echo "  log:   $log"
        [ -n "$input" ] && echo "  rerun: $bin $input"
        grep -m 8 -E 'ERROR: |property failed|runtime error|SUMMARY' "$log" | sed 's/^/  /'
        failed+=("$t: ${input:-see $log}")
    else
        echo "make fuzz: $t: ${runs:-?} runs in $SECS s, $(find "$work" -type f | wc -l) inputs in its corpus, no crash"
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "make fuzz: ${#failed[@]} target(s) failed:"
    printf '  %s\n' "${failed[@]}"
    exit 1
fi
echo "make fuzz: every target ran $SECS s without a crash ($TARGETS)"
