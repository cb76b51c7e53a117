#!/usr/bin/env bash
# `starling deploy`'s rollout flags (--max-surge, --max-unavailable,
# --min-healthy, --progress-deadline, --auto-revert) and `starling rollback`:
# what --help says, usage errors (exit 2, one line naming the flag), and
# that valid flags get past parsing (exit 1 at an agent that is not there,
# port 1 on loopback: nothing is started). One "PASS: what" or "FAIL: what"
# line per case; exits non-zero on any failure.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
S=$BUILD/starling
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "PASS: $1"; }
ko() { echo "FAIL: $1"; fails=$((fails + 1)); }
NOWHERE=(--rpc 127.0.0.1:1 --token 0123456789abcdef0123)

# expect CODE PATTERN WHAT ARGS...: exit code CODE, first stderr line matches PATTERN.
expect() {
    local code=$1 pat=$2 what=$3
    shift 3
    "$S" "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" = "$code" ] && head -n1 "$T/err" | grep -qE -- "$pat"; then
        ok "$what"
    else
        ko "$what (exit $rc, stderr: $(head -n1 "$T/err"))"
    fi
}

"$S" deploy --help >"$T/help"
if [ $? = 0 ] && grep -q -- '--max-surge N (default' "$T/help" && grep -q -- '^1) new replicas' "$T/help" &&
    grep -q -- '--max-unavailable N$' "$T/help" && grep -q -- '^(default 0)' "$T/help" &&
    grep -q -- '--min-healthy DURATION (default 10s)' "$T/help" &&
    grep -q -- '--progress-deadline DURATION (default 10m)' "$T/help" &&
    grep -q -- '--auto-revert' "$T/help" && grep -q 'starling rollback NAME' "$T/help"; then
    ok "deploy --help documents the rollout flags and their defaults"
else
    ko "deploy --help documents the rollout flags and their defaults"
fi

D=(deploy web --replicas 3)
expect 2 "--max-surge must be 0..1000, not '1001'" "--max-surge over 1000 is a usage error" \
    "${D[@]}" --max-surge 1001 -- /bin/true
expect 2 "--max-surge must be 0..1000, not '-1'" "a negative --max-surge is a usage error" \
    "${D[@]}" --max-surge -1 -- /bin/true
expect 2 "--max-unavailable must be 0..1000, not 'x'" "a non-number --max-unavailable" \
    "${D[@]}" --max-unavailable x -- /bin/true
expect 2 "--max-surge 0 needs --max-unavailable 1 or more" "surge 0 without unavailable" \
    "${D[@]}" --max-surge 0 -- /bin/true
expect 2 "--max-surge 0 needs --max-unavailable 1 or more" "surge 0 and unavailable 0" \
    "${D[@]}" --max-surge 0 --max-unavailable 0 -- /bin/true
expect 2 "--min-healthy must be a duration up to 24h, not '0'" "--min-healthy 0 is refused" \
    "${D[@]}" --min-healthy 0 -- /bin/true
expect 2 "--min-healthy must be a duration up to 24h, not '86401'" "--min-healthy over 24 h" \
    "${D[@]}" --min-healthy 86401 -- /bin/true
expect 2 "--min-healthy must be a duration up to 24h, not '10h'" "hours are not a unit" \
    "${D[@]}" --min-healthy 10h -- /bin/true
expect 2 "--progress-deadline must be a duration up to 24h, not '1441m'" \
    "--progress-deadline over 24 h" "${D[@]}" --progress-deadline 1441m -- /bin/true
expect 2 "missing value for" "--progress-deadline without a value" "${D[@]}" --progress-deadline
expect 2 "unknown option '--auto-revert=yes'" "--auto-revert takes no value" \
    "${D[@]}" --auto-revert=yes -- /bin/true
expect 1 "cannot reach agent at 127.0.0.1:1" "valid rollout flags get past parsing" \
    "${D[@]}" --max-surge 0 --max-unavailable 2 --min-healthy 500ms --progress-deadline 2m \
    --auto-revert "${NOWHERE[@]}" -- /bin/true
expect 1 "cannot reach agent at 127.0.0.1:1" "the largest values are accepted" \
    "${D[@]}" --max-surge 1000 --max-unavailable 1000 --min-healthy 86400 \
    --progress-deadline 1440m "${NOWHERE[@]}" -- /bin/true
expect 1 "cannot reach agent at 127.0.0.1:1" "--check-interval takes minutes too" \
    "${D[@]}" --check tcp --check-interval 1m "${NOWHERE[@]}" -- /bin/true

"$S" rollback --help >"$T/help"
if [ $? = 0 ] && grep -q 'previous version' "$T/help" && grep -q -- '--operator-secret' "$T/help"; then
    ok "rollback --help exits 0 and says what it does"
else
    ko "rollback --help exits 0 and says what it does"
fi
"$S" --help 2>&1 | grep -qE '^  rollback ' && ok "rollback is listed in starling --help" ||
    ko "rollback is listed in starling --help"
expect 2 "missing argument" "rollback without NAME is a usage error" rollback
expect 2 "." "rollback with two names is a usage error" rollback web api
expect 1 "cannot reach agent at 127.0.0.1:1" "rollback goes to the agent's RPC" \
    rollback web "${NOWHERE[@]}"
expect 1 "operator secret: " "a signed rollback needs a readable secret file" \
    rollback web --operator-secret "$T/none" "${NOWHERE[@]}"
[ "$fails" = 0 ]
