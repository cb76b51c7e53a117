#!/usr/bin/env bash
# Hostile input at live agents: three agents sealed with one cluster key
# (--encrypt), each with a data dir, joined together; then for NOISE_SECONDS
# (default 20) tests/cluster/noise.py throws random and truncated bytes and
# mutated copies of plausible frames (huge frame headers, half headers, cut
# frames, sealed-looking garbage, mutated RPC requests, connections held
# open) at the gossip UDP port, the gossip TCP port and the RPC port of every
# agent, from an address of the test's own network. The stream ports must
# answer none of it; afterwards every agent is alive, each still lists the
# three as alive, the drop counters of `info --json` (unsealed, key,
# malformed) grew on each, nobody was declared dead, and a deploy still runs
# its replicas.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami
NOISE_SECONDS=${NOISE_SECONDS:-20}
AGENTS="n1 n2 n3"
KEY=$(head -c 32 /dev/urandom | base64)

for i in 1 2 3; do
    mkdir -p "$CL_DIR/data-n$i"
    join=()
    [ "$i" != 1 ] && join=(--join "$(ip_of 1):7946")
    start_agent "n$i" "$i" --encrypt "$KEY" --data-dir "$CL_DIR/data-n$i" "${join[@]}"
done
check "3 sealed agents converge" wait_until 20 all_count alive 3 $AGENTS

# drops AGENT: "unsealed key malformed" from the agent's info.
drops() {
    "$STARLING" info --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
d = json.load(sys.stdin)["counters"]["drops"]
print(d["unsealed"], d["key"], d["malformed"])'
}
failed_events() {
    "$STARLING" info --json --rpc "$(rpc_of "$1")" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["counters"]["events"]["failed"])'
}
declare -A BEFORE FAILED_BEFORE
for n in $AGENTS; do
    BEFORE[$n]=$(drops "$n")
    FAILED_BEFORE[$n]=$(failed_events "$n")
done

targets=()
for n in $AGENTS; do
    targets+=(--udp "$(gossip_of "$n")" --stream "$(gossip_of "$n")" --rpc "$(rpc_of "$n")")
done
if timeout $((NOISE_SECONDS + 30)) python3 "$(dirname "$0")/noise.py" --duration "$NOISE_SECONDS" \
    --source "$(ip_of 200)" "${targets[@]}" >"$CL_DIR/noise.out" 2>&1; then
    pass "noise for ${NOISE_SECONDS} s: $(cat "$CL_DIR/noise.out")"
else
    fail "noise.py failed: $(tail -n 5 "$CL_DIR/noise.out" | tr '\n' '|')"
fi
check "the gossip stream ports sent nothing back to frames no key opens" \
    grep -q 'stream_reply_bytes=0 ' "$CL_DIR/noise.out"

alive=""
for n in $AGENTS; do kill -0 "${CL_PID[$n]}" 2>/dev/null || alive="$alive $n"; done
check "every agent process survived the noise${alive:+ (gone:$alive)}" test -z "$alive"
check "every agent still lists the 3 as alive" wait_until 20 all_count alive 3 $AGENTS
check "the three agents agree on the membership" wait_until 10 same_view $AGENTS

# grew BEFORE AFTER: every one of the three counters grew.
grew() {
    python3 -c 'import sys; b, a = sys.argv[1].split(), sys.argv[2].split()
sys.exit(0 if all(int(y) > int(x) for x, y in zip(b, a)) else 1)' "$1" "$2"
}
for n in $AGENTS; do
    after=$(drops "$n")
    check "$n counted the garbage as drops (unsealed key malformed: ${BEFORE[$n]} -> $after)" \
        grew "${BEFORE[$n]}" "$after"
    f=$(failed_events "$n")
    check "$n declared nobody dead during the noise (failed events ${FAILED_BEFORE[$n]} -> $f)" \
        test "$f" = "${FAILED_BEFORE[$n]}"
done

# A deploy still works: 3 replicas running, each answering as itself.
where_rows() {
    "$STARLING" where "$2" --rpc "$(rpc_of "$1")" | tail -n +2 | awk '{ print $2, $3, $4, $5 }'
}
answers() {
    local host=${1%:*} port=${1##*:}
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && head -n 1 <&3" 2>/dev/null
}
all_answer() {
    local obs=$1 svc=$2 n=$3 rows line
    rows=$(where_rows "$obs" "$svc" | awk '$3 == "running"')
    [ "$(echo "$rows" | grep -c .)" -eq "$n" ] || return 1
    while read -r replica node status addr; do
        line=$(answers "$addr")
        [[ $line == "service=$svc replica=$replica node=$node "* ]] || return 1
    done <<<"$rows"
}
deploy_calm() { "$STARLING" deploy calm --replicas 3 --rpc "$(rpc_of n2)" -- "$WHOAMI" >/dev/null; }
check "deploy after the noise is accepted" deploy_calm
check "its 3 replicas run and answer where the others say" wait_until 30 all_answer n3 calm 3

bad=""
for n in $AGENTS; do
    grep -qE 'AddressSanitizer|runtime error|LeakSanitizer' "$CL_DIR/$n.log" && bad="$bad $n"
done
check "no sanitizer report in the agents' logs${bad:+ (in:$bad)}" test -z "$bad"

for n in $AGENTS; do kill -TERM "${CL_PID[$n]}"; done
bad=""
for n in $AGENTS; do
    wait_exit "$n" 20
    [ "$CL_RC" = 0 ] || bad="$bad $n:$CL_RC"
done
check "every agent exits 0 on SIGTERM${bad:+ (not:$bad)}" test -z "$bad"
cl_finish
