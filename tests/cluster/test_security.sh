#!/usr/bin/env bash
# Sealed gossip and signed desired state, with real agents on loopback:
#   three agents share a cluster key and trust one operator key;
#   a stranger without the key, and one with another key, join and deploy:
#   neither gets in, neither runs anything on the cluster, both are counted;
#   a holder of the cluster key without an operator key joins, but what it
#   deploys runs nowhere else, and is counted;
#   an unsigned deploy, and one signed by an untrusted operator, are refused
#   with a clear error; signed deploy, scale and rm work.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami

key=$(head -c 32 /dev/urandom | base64)
other_key=$(head -c 32 /dev/urandom | base64)
pub=$("$STARLING" operator-keygen "$CL_DIR/operator.key")
check "operator-keygen prints a public key" test "$(printf %s "$pub" | base64 -d | wc -c)" = 32
check "operator-keygen writes the secret key with mode 0600" \
    test "$(stat -c %a "$CL_DIR/operator.key")" = 600
"$STARLING" operator-keygen "$CL_DIR/operator.key" >/dev/null 2>"$CL_DIR/err"
check "operator-keygen never overwrites a file (exit 1)" test $? = 1
"$STARLING" operator-keygen "$CL_DIR/untrusted.key" >/dev/null

start() { # start NAME INDEX [flags]: an agent with its own data dir
    local name=$1 idx=$2
    shift 2
    mkdir -p "$CL_DIR/data-$name"
    start_agent "$name" "$idx" --data-dir "$CL_DIR/data-$name" "$@"
}
start a1 1 --encrypt "$key" --operator-key "$pub"
for i in 2 3; do start "a$i" "$i" --encrypt "$key" --operator-key "$pub" --join "$(ip_of 1):7946"; done
check "3 sealed agents converge" wait_until 20 all_count alive 3 a1 a2 a3

info() { "$STARLING" info --json --rpc "$(rpc_of "$1")"; }
field() { # field AGENT PYTHON-EXPR: a value of the agent's info, e.g. field a1 "s['security']['keys']"
    info "$1" | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}
check "info: gossip is sealed with one key" test "$(field a1 "s['security']['sealed'], s['security']['keys']")" = "True 1"
check "info: signatures are required" test "$(field a2 "s['security']['signatures_required']")" = True
grep -q "NO operator key" "$CL_DIR/a1.log"
check "a trusting agent does not warn about a missing operator key" test $? = 1

# Strangers: no key, and another key. Each deploys on its own agent a
# command that leaves a mark named after the node that runs it.
marks=$CL_DIR/marks
mkdir -p "$marks"
start s1 11 --join "$(ip_of 1):7946"
start s2 12 --encrypt "$other_key" --join "$(ip_of 2):7946"
drops() { field "$1" "s['counters']['drops']['$2']"; }
grew() { [ "$(drops "$1" "$2")" -gt 0 ]; }
check "the stranger without a key is refused and counted (unsealed)" wait_until 20 grew a1 unsealed
check "the stranger with another key is refused and counted (key)" wait_until 20 grew a2 key
for s in s1 s2; do
    "$STARLING" deploy evil --replicas 3 --rpc "$(rpc_of "$s")" -- \
        sh -c "touch $marks/ran-\$STARLING_NODE; exec sleep 600" >/dev/null
done
check "the strangers run their deploy themselves" wait_until 20 test -e "$marks/ran-s1" -a -e "$marks/ran-s2"
before=$(drops a1 unsealed)
later() { [ "$(drops a1 unsealed)" -gt "$before" ]; }
check "the stranger keeps being refused after its deploy" wait_until 20 later
for a in a1 a2 a3; do
    n=$(members "$a" | grep -c '^s[12] ')
    check "$a never lists a stranger" test "$n" = 0
    ! "$STARLING" services --rpc "$(rpc_of "$a")" | grep -q '^evil '
    check "$a has no 'evil' in its catalog" test $? = 0
done
check "the strangers know nobody" test "$(count_status s1 alive) $(count_status s2 alive)" = "1 1"
check "nothing ran on the cluster's agents" \
    test ! -e "$marks/ran-a1" -a ! -e "$marks/ran-a2" -a ! -e "$marks/ran-a3"

# A holder of the cluster key without an operator key: it joins, and runs
# its own unsigned deploy; the others refuse the record and run nothing.
start k4 4 --encrypt "$key" --join "$(ip_of 1):7946"
check "a holder of the cluster key joins" wait_until 20 all_count alive 4 a1 a2 a3 k4
grep -q "NO operator key" "$CL_DIR/k4.log"
check "an agent without an operator key says so loudly at start" test $? = 0
check "info: an agent without operator keys does not require signatures" \
    test "$(field k4 "s['security']['signatures_required']")" = False
"$STARLING" deploy rogue --replicas 4 --spread nodes --rpc "$(rpc_of k4)" -- \
    sh -c "touch $marks/rogue-\$STARLING_NODE; exec sleep 600" >/dev/null
refused() { [ "$(field "$1" "s['security']['catalog']['refused']['unsigned']")" -gt 0 ]; }
check "the unsigned record is refused and counted by the trusting agents" wait_until 20 refused a1
for a in a1 a2 a3; do
    ! "$STARLING" services --rpc "$(rpc_of "$a")" | grep -q '^rogue '
    check "$a does not store the unsigned record" test $? = 0
done
check "only the key holder itself runs its unsigned deploy" wait_until 20 test -e "$marks/rogue-k4"
check "no trusting agent ran it" test ! -e "$marks/rogue-a1" -a ! -e "$marks/rogue-a2" -a ! -e "$marks/rogue-a3"

# Writes through a trusting agent.
out=$("$STARLING" deploy web --replicas 2 --rpc "$(rpc_of a1)" -- "$WHOAMI" 2>&1)
check "an unsigned deploy is refused with a clear error (exit 1)" \
    test $? = 1 -a "$(echo "$out" | grep -c 'runs only what a trusted operator key signed')" = 1
out=$("$STARLING" deploy web --replicas 2 --operator-secret "$CL_DIR/untrusted.key" \
    --rpc "$(rpc_of a1)" -- "$WHOAMI" 2>&1)
check "a deploy signed by an untrusted operator is refused (exit 1)" \
    test $? = 1 -a "$(echo "$out" | grep -c 'does not trust the operator key')" = 1
"$STARLING" deploy web --replicas 2 --operator-secret "$CL_DIR/operator.key" \
    --rpc "$(rpc_of a2)" -- "$WHOAMI" >/dev/null
check "a signed deploy is accepted" test $? = 0
running() { "$STARLING" where web --rpc "$(rpc_of "$1")" | awk '$4 == "running"' | wc -l; }
two_run() { [ "$(running a3)" = 2 ]; }
check "the signed deploy runs 2 replicas" wait_until 30 two_run
stored() { "$STARLING" services --rpc "$(rpc_of "$1")" | grep -q '^web '; }
stored_everywhere() { stored a1 && stored a2 && stored a3; }
check "every trusting agent stores the signed record" wait_until 30 stored_everywhere
export STARLING_OPERATOR_SECRET=$CL_DIR/operator.key
"$STARLING" scale web 3 --rpc "$(rpc_of a3)" >/dev/null
three_run() { [ "$(running a1)" = 3 ]; }
check "a signed scale (key from STARLING_OPERATOR_SECRET) runs 3" wait_until 30 three_run
"$STARLING" rm web --rpc "$(rpc_of a1)" >/dev/null
gone() { ! "$STARLING" services --rpc "$(rpc_of "$1")" | grep -q '^web '; }
gone_everywhere() { gone a1 && gone a2 && gone a3; }
check "a signed rm removes the service everywhere" wait_until 20 gone_everywhere
unset STARLING_OPERATOR_SECRET
chmod 644 "$CL_DIR/operator.key"
out=$("$STARLING" deploy web --replicas 1 --operator-secret "$CL_DIR/operator.key" \
    --rpc "$(rpc_of a1)" -- "$WHOAMI" 2>&1)
check "a secret key file others can read is refused (exit 1)" \
    test $? = 1 -a "$(echo "$out" | grep -c 'accessible by other users')" = 1

cl_finish
