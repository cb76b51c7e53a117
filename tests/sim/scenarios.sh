#!/usr/bin/env bash
# Runs every scenario under tests/sim/ with starling-sim. Each scenario states
# its own expectations (`expect` lines); starling-sim exits 0 only when all of
# them and the invariants (no ghosts, views agree with events) hold.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
SIM=$BUILD/starling-sim
out=$BUILD/test-logs/sim
mkdir -p "$out"
[ -x "$SIM" ] || { echo "FAIL: $SIM is not built"; exit 1; }
rc=0
for scn in tests/sim/*.scn; do
    name=$(basename "$scn" .scn)
    if "$SIM" "$scn" --quiet --json "$out/$name.json" --csv "$out/$name.csv"; then
        echo "PASS: scenario $name"
    else
        echo "FAIL: scenario $name (exit $?), report in $out/$name.json"
        "$SIM" "$scn" --quiet --json - | grep -E '"(ok|expect|value)"|violations' | head -n 40
        rc=1
    fi
done
exit $rc
