#!/usr/bin/env bash
# `make demo`: five Starling peers on this machine, narrated.
#
# Makes a cluster key and an operator key, starts five agents on loopback
# addresses with them, shows the membership, shows an unsigned deploy
# refused, deploys a signed service of three replicas and shows where they run, kills a peer hosting
# one with SIGKILL and shows the cluster noticing and healing, restarts it,
# and stops everything. Every wait is bounded; every process started
# here is stopped by its PID when the demo ends, however it ends.
set -u
cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
STARLING=$BUILD/starling
if [ ! -x "$STARLING" ]; then
    echo "demo: $STARLING is missing; run make first" >&2
    exit 1
fi
NET=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))
DIR=$(mktemp -d "${TMPDIR:-/tmp}/starling-demo.XXXXXX")
declare -A PID
NAMES=(n1 n2 n3 n4 n5)
# The agents' RPC token, random for this run; the CLI reads it from the
# environment (see "RPC security" in README.md).
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export STARLING_RPC_TOKEN=$TOKEN

cleanup() {
    local n
    for n in "${!PID[@]}"; do kill -9 "${PID[$n]}" 2>/dev/null; done
    for n in "${!PID[@]}"; do wait "${PID[$n]}" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ -t 1 ]; then B=$'\e[1m' D=$'\e[2m' R=$'\e[0m'; else B= D= R=; fi
say() { printf '\n%s%s%s\n' "$B" "$*" "$R"; }
note() { printf '%s\n' "$*" | fold -s -w 78; }
# show CMD...: prints the command as typed, then runs it.
show() {
    printf '%s$ %s%s\n' "$D" "$*" "$R"
    "$@"
}
ip() { echo "$NET.${1#n}"; }

start() {
    local n=$1
    shift
    "$STARLING" agent --name "$n" --bind "$(ip "$n"):7946" --rpc "$(ip "$n"):7373" \
        --rpc-token "$TOKEN" --encrypt "$KEY" --operator-key "$OPERATOR" --profile local "$@" \
        2>>"$DIR/$n.log" &
    PID[$n]=$!
}

status_of() { # status_of OBSERVER TARGET
    "$STARLING" members --rpc "$(ip "$1"):7373" 2>/dev/null | awk -v n="$2" '$1 == n { print $3 }'
}
# wait_all SECONDS STATUS TARGET OBSERVER...: until every observer says so.
wait_all() {
    local deadline=$((SECONDS + $1)) st=$2 target=$3 o ok
    shift 3
    while :; do
        ok=1
        for o in "$@"; do [ "$(status_of "$o" "$target")" = "$st" ] || ok=0; done
        [ $ok = 1 ] && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "demo: gave up waiting for $target to be $st everywhere" >&2
            exit 1
        fi
        sleep 0.2
    done
}
others() {
    local n
    for n in "${NAMES[@]}"; do [ "$n" != "$1" ] && echo "$n"; done
}

say "Starling: five peers, no leader."
note "Every machine runs the same program, 'starling agent'. Peers find each \
other with SWIM gossip: each one pings a random peer every second, asks \
others to ping it when it does not answer, and spreads what it learns on \
the back of those pings. Here the five 'machines' are five processes on \
the loopback addresses $NET.1 to $NET.5 (gossip port 7946, RPC port 7373 \
for the command-line tool), with the fast 'local' timing profile. The \
command-line tool proves it holds the agents' RPC token (here exported in \
STARLING_RPC_TOKEN) on a sealed channel: without it, an agent refuses."

say "0. Keys: one for the cluster, one for the operator."
note "Gossip between peers is sealed with a cluster key; what the peers run \
must be signed by an operator key they trust, so even a machine that holds \
the cluster key cannot run code on the others. The operator's secret key \
stays with the operator (here, in a file of this demo)."
if "$STARLING" keygen --help >/dev/null 2>&1; then
    printf '%s$ %s%s\n' "$D" "KEY=\$(starling keygen)" "$R"
    KEY=$("$STARLING" keygen)
else
    KEY=$(head -c 32 /dev/urandom | base64)
fi
printf '%s$ %s%s\n' "$D" "OPERATOR=\$(starling operator-keygen operator.key)" "$R"
OPERATOR=$("$STARLING" operator-keygen "$DIR/operator.key")
echo "  operator public key: $OPERATOR"

say "1. Start n1 alone, then four more peers that join it."
note "Every peer gets --encrypt \$KEY and --operator-key \$OPERATOR."
start n1
for n in n2 n3 n4 n5; do start "$n" --join "$(ip n1):7946" --zone "zone-$(((${n#n} % 2) + 1))"; done
for n in "${NAMES[@]}"; do wait_all 20 alive "$n" "${NAMES[@]}"; done
note "Each peer only contacted n1, yet every peer now knows all five. Ask any \
one of them; here n3:"
show "$STARLING" members --rpc "$(ip n3):7373"

WHOAMI=$(cd "$BUILD/svc" && pwd)/whoami
running() { # running OBSERVER SERVICE: replicas reported running
    "$STARLING" where "$2" --rpc "$(ip "$1"):7373" 2>/dev/null | awk '$4 == "running"' | wc -l
}
wait_running() { # wait_running SECONDS OBSERVER SERVICE N
    local deadline=$((SECONDS + $1))
    until [ "$(running "$2" "$3")" -eq "$4" ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "demo: gave up waiting for $4 running replicas of $3" >&2
            exit 1
        fi
        sleep 0.2
    done
}

say "2. Deploy a service: three replicas of a tiny 'who am I' server."
note "Any peer accepts the change and gossips it; every peer then computes \
the same placement (rendezvous hashing with bounded loads, replicas on \
distinct peers, spread over zones) and starts the replicas it owns. No \
scheduler, no leader."
note "Without the operator's key, a deploy is refused:"
show "$STARLING" deploy web --replicas 3 --rpc "$(ip n2):7373" -- "$WHOAMI" || true
note "Signed with it, it is accepted:"
show "$STARLING" deploy web --replicas 3 --operator-secret "$DIR/operator.key" \
    --rpc "$(ip n2):7373" -- "$WHOAMI"
wait_running 30 n1 web 3
show "$STARLING" where web --rpc "$(ip n1):7373"
addr=$("$STARLING" where web --rpc "$(ip n1):7373" | awk '$4 == "running" { print $5; exit }')
note "Each replica got STARLING_SERVICE, STARLING_REPLICA, STARLING_NODE and a \
port in its environment. Asking the one at $addr who it is:"
printf '%s$ exec 3<>/dev/tcp/%s/%s; head -n 1 <&3%s\n' "$D" "${addr%:*}" "${addr##*:}" "$R"
timeout 2 bash -c "exec 3<>/dev/tcp/${addr%:*}/${addr##*:} && head -n 1 <&3" | sed 's/^/  /'

victim=$("$STARLING" where web --rpc "$(ip n1):7373" | awk '$3 != "n1" && $4 == "running" { print $3; exit }')
say "3. Kill $victim, which runs a replica, with SIGKILL: as if its machine lost power."
t0=$SECONDS
{
    kill -9 "${PID[$victim]}"
    wait "${PID[$victim]}"
} 2>/dev/null # no "Killed" notice from the shell: we know
unset "PID[$victim]"
mapfile -t rest < <(others "$victim")
note "Its replica died with it (a replica never outlives its agent). The \
peers that probe $victim get no answer, ask others to try, then suspect it; \
when nobody vouches for it in time it is declared dead, the news spreads, \
and each survivor recomputes the placement: the new owner of the lost \
replica starts it..."
wait_all 30 dead "$victim" "${rest[@]}"
wait_running 30 n1 web 3
note "...three replicas run again, $((SECONDS - t0)) s after the crash, \
without anyone in charge:"
show "$STARLING" where web --rpc "$(ip n1):7373"
note "What n1 logged meanwhile:"
grep -h "member $victim\|replica web" "$DIR/n1.log" | sed 's/^/  /' | tail -n 8

say "4. Restart $victim under the same name."
note "It starts with a larger boot generation, so its 'I am alive' beats the \
old news of its death. Placement may give it a replica back: the old \
owner keeps its copy until the new one reports it running (make before \
break), so the service never drops below three."
start "$victim" --join "$(ip n1):7946" --zone zone-1
wait_all 20 alive "$victim" "${NAMES[@]}"
wait_running 30 n1 web 3
show "$STARLING" members --rpc "$(ip n5):7373"

say "5. One peer's own view: starling info (first lines)."
show "$STARLING" info --rpc "$(ip n1):7373" | head -n 16

say "6. Stop everything: SIGTERM to every peer."
note "Each peer announces its leave, stops its replicas (SIGTERM, then SIGKILL \
after a grace period) and exits 0."
for n in "${!PID[@]}"; do kill -TERM "${PID[$n]}"; done
bad=
for n in "${!PID[@]}"; do
    deadline=$((SECONDS + 15))
    while kill -0 "${PID[$n]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    wait "${PID[$n]}" || bad="$bad $n"
    unset "PID[$n]"
done
if [ -n "$bad" ]; then
    echo "demo: these peers did not stop cleanly:$bad" >&2
    exit 1
fi
note "Every peer left gracefully and exited 0. To run your own: see 'Running a \
cluster' in README.md, or 'starling agent --help'."
