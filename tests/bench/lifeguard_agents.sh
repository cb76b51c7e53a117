#!/usr/bin/env bash
# The real-agent twin of the simulator's stall scenario (issue 14): N agents
# on loopback (lan profile), one of them (a2) stopped with SIGSTOP for
# STALL_S seconds every EVERY_S seconds, ROUNDS times, with Lifeguard on and
# then off (`starling agent --lifeguard off`), same everything else. Counts,
# from the agents' own logs: false failures of healthy agents (a log line
# "member aK failed" for any K but 2, in any agent's log), and how often the
# stalled agent itself was declared failed.
#
#   N=30 ROUNDS=12 tests/bench/lifeguard_agents.sh
#
# Not part of `make bench` (it takes about 5 minutes); BENCHMARKS.md records
# what it printed.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
STARLING=${STARLING:-$BUILD/starling}
N=${N:-30}
ROUNDS=${ROUNDS:-12}
STALL_S=${STALL_S:-3}
EVERY_S=${EVERY_S:-10}
[ -x "$STARLING" ] || { echo "lifeguard_agents: $STARLING is missing; run make first" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/starling-lg.XXXXXX")
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export STARLING_RPC_TOKEN=$TOKEN
declare -a PIDS
stop_all() {
    local i
    for i in "${!PIDS[@]}"; do kill -CONT "${PIDS[i]}" 2>/dev/null; kill -TERM "${PIDS[i]}" 2>/dev/null; done
    for i in "${!PIDS[@]}"; do
        for _ in $(seq 1 50); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${PIDS[i]}" 2>/dev/null
        wait "${PIDS[i]}" 2>/dev/null
    done
    PIDS=()
}
trap 'stop_all; rm -rf "$DIR"' EXIT
trap 'exit 1' INT TERM

alive_seen_by_a1() {
    "$STARLING" members --rpc "$1.1:7373" --status alive 2>/dev/null | tail -n +2 | wc -l
}

run() { # run on|off -> prints "false_failures stalled_declared_failed"
    local mode=$1 net="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))" i
    mkdir -p "$DIR/$mode"
    for i in $(seq 1 "$N"); do
        TMPDIR=$DIR "$STARLING" agent --name "a$i" --bind "$net.$i:7946" --rpc "$net.$i:7373" \
            --profile lan --lifeguard "$mode" --rpc-token "$TOKEN" \
            $([ "$i" -gt 1 ] && echo --join "$net.1:7946") 2>"$DIR/$mode/a$i.log" &
        PIDS[i]=$!
    done
    local deadline=$((SECONDS + 90))
    while [ "$(alive_seen_by_a1 "$net")" -lt "$N" ] && [ $SECONDS -lt "$deadline" ]; do sleep 0.5; done
    [ "$(alive_seen_by_a1 "$net")" -ge "$N" ] || echo "lifeguard_agents: $mode: not converged" >&2
    sleep 5 # a quiet moment before the faults
    for r in $(seq 1 "$ROUNDS"); do
        kill -STOP "${PIDS[2]}"
        sleep "$STALL_S"
        kill -CONT "${PIDS[2]}"
        sleep $((EVERY_S - STALL_S))
    done
    sleep 15 # late declarations
    stop_all
    local ff sf
    ff=$(cat "$DIR/$mode"/a*.log | grep -E '\[INFO\] member a[0-9]+ failed' | grep -vc 'member a2 failed')
    sf=$(cat "$DIR/$mode"/a*.log | grep -c 'member a2 failed')
    echo "$ff $sf"
}

read -r ff_on sf_on < <(run on)
read -r ff_off sf_off < <(run off)
printf '%-10s %-26s %s\n' lifeguard "healthy agents failed" "a2 (stalled) declared failed"
printf '%-10s %-26s %s\n' on "$ff_on" "$sf_on"
printf '%-10s %-26s %s\n' off "$ff_off" "$sf_off"
echo "command: N=$N ROUNDS=$ROUNDS STALL_S=$STALL_S EVERY_S=$EVERY_S tests/bench/lifeguard_agents.sh"
