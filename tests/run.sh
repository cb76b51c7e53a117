#!/usr/bin/env bash
# Runs every test: the cmocka unit tests (build/tests/test_*), the simulation
# scenarios (tests/sim/*.sh), the command-line tests (tests/cli/*.sh) and the
# cluster tests (tests/cluster/*.sh), then
# prints one line "N passed, N failed" that counts every test case run.
#
# Script tests print one line per case, "PASS: what" or "FAIL: what", and exit
# non-zero when anything failed; a script that fails without saying so counts
# as one failure. A case that cannot run here (it needs root, a package, a
# tool) prints "SKIP: what, and why": counted as skipped, never as passed.
# Set ONLY=regex to run a subset.
set -u
BUILD=${BUILD:-build}
export BUILD
cd "$(dirname "$0")/.." || exit 2
mkdir -p "$BUILD/test-logs"
passed=0
failed=0
skipped=0
failures=()
skips=()

run_unit() {
    local bin=$1 name log p f
    name=$(basename "$bin")
    log="$BUILD/test-logs/$name.log"
    timeout 600 "$bin" >"$log" 2>&1
    local rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
    local s
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
    p=${p:-0}
    f=${f:-0}
    s=${s:-0}
    skipped=$((skipped + s))
    [ "$s" = 0 ] || skips+=("$name: $s (see $log)")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" != 0 ]; then
        failures+=("$name (see $log)")
        printf '%-40s %3d passed, %d FAILED\n' "$name" "$p" "$f"
        grep -E '^\[  (FAILED|ERROR)|error|Assert|ERROR' "$log" | head -n 20
    elif [ "$s" != 0 ]; then
        printf '%-40s %3d passed, %d skipped\n' "$name" "$p" "$s"
    else
        printf '%-40s %3d passed\n' "$name" "$p"
    fi
}

run_script() {
    local script=$1 name log p f
    name=${script#tests/}
    log="$BUILD/test-logs/$(echo "$name" | tr / _).log"
    timeout 900 bash "$script" >"$log" 2>&1
    local rc=$?
    p=$(grep -c '^PASS: ' "$log")
    f=$(grep -c '^FAIL: ' "$log")
    local s
    s=$(grep -c '^SKIP: ' "$log")
    skipped=$((skipped + s))
    while IFS= read -r line; do skips+=("$name: ${line#SKIP: }"); done < <(grep '^SKIP: ' "$log")
    if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; echo "FAIL: $name exited $rc" >>"$log"; fi
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" != 0 ]; then
        failures+=("$name (see $log)")
        printf '%-40s %3d passed, %d FAILED\n' "$name" "$p" "$f"
        grep '^FAIL: ' "$log" | head -n 20
        tail -n 15 "$log"
    elif [ "$s" != 0 ]; then
        printf '%-40s %3d passed, %d skipped\n' "$name" "$p" "$s"
    else
        printf '%-40s %3d passed\n' "$name" "$p"
    fi
}

only=${ONLY:-.}
for bin in "$BUILD"/tests/test_*; do
    [ -x "$bin" ] || continue
    [[ $bin =~ $only ]] || continue
    run_unit "$bin"
done
for script in tests/cli/*.sh tests/sim/*.sh tests/cluster/*.sh; do
    [ -f "$script" ] || continue
    case $(basename "$script") in lib*.sh) continue ;; esac # sourced helpers, not tests
    [[ $script =~ $only ]] || continue
    run_script "$script"
done

if [ "$skipped" != 0 ]; then
    echo "skipped ($skipped, not counted as passed):"
    printf '  %s\n' "${skips[@]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
    echo "failed:"
    printf '  %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
