#!/usr/bin/env bash
# Healing benchmark: N agents (default 20, lan profile) run S services
# (default 50) of 3 replicas each (the project's whoami test service). Then,
# ROUNDS times (default 5): kill -9 one agent that hosts replicas, and time
# until every replica runs again on live agents, as one surviving peer sees
# it (the victim declared dead and the sum of running replicas back to 3*S);
# count the replica processes started meanwhile (churn); restart the victim
# and wait until the cluster has settled (every hand-off done). Prints the
# median and the spread. Loopback only; every process is stopped by its PID.
set -u
cd "$(dirname "$0")/../.." || exit 2
BUILD=${BUILD:-build}
N=${N:-20}
S=${S:-50}
ROUNDS=${ROUNDS:-5}
PROFILE=${PROFILE:-lan}
STARLING=$BUILD/starling
WHOAMI=$(cd "$BUILD/svc" 2>/dev/null && pwd)/whoami
[ -x "$STARLING" ] && [ -x "$WHOAMI" ] || { echo "bench_heal: run make first" >&2; exit 1; }
NET=127.$((RANDOM % 60 + 190)).$((RANDOM % 250 + 1))
DIR=$(mktemp -d "${TMPDIR:-/tmp}/starling-heal.XXXXXX")
declare -A PID
# One RPC token for every agent of this run, read by the CLI from the environment.
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export STARLING_RPC_TOKEN=$TOKEN

cleanup() {
    local a
    for a in "${!PID[@]}"; do kill -9 "${PID[$a]}" 2>/dev/null; done
    for a in "${!PID[@]}"; do wait "${PID[$a]}" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip() { echo "$NET.$1"; }
rpc() { echo "$(ip "$1"):7373"; }
start() {
    local i=$1 join=()
    [ "$i" != 1 ] && join=(--join "$(ip 1):7946")
    mkdir -p "$DIR/d$i"
    "$STARLING" agent --name "a$i" --bind "$(ip "$i"):7946" --rpc "$(rpc "$i")" \
        --profile "$PROFILE" --data-dir "$DIR/d$i" --rpc-token "$TOKEN" "${join[@]}" \
        2>>"$DIR/a$i.log" &
    PID[$i]=$!
}
now_ms() { date +%s%3N; }
# until_true SECONDS CMD...: polls every 0.1 s; fails after the deadline.
until_true() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.1
    done
}
total_running() { "$STARLING" services --rpc "$(rpc 1)" | awk 'NR > 1 { s += $3 } END { print s + 0 }'; }
all_running() { [ "$(total_running)" -eq $((3 * S)) ]; }
alive_count() { "$STARLING" members --rpc "$(rpc 1)" --status alive | tail -n +2 | wc -l; }
is_dead() { "$STARLING" members --rpc "$(rpc 1)" --status dead | awk -v n="a$1" '$1 == n' | grep -q .; }
healed() { is_dead "$1" && all_running; }
starts() { cat "$DIR"/a*.log | grep -c 'starting on port'; }
settled() {
    local i n=0
    for i in $(seq 1 "$N"); do
        n=$((n + $("$STARLING" ps --rpc "$(rpc "$i")" | tail -n +2 | wc -l)))
    done
    [ "$n" -eq $((3 * S)) ]
}
hosts_replicas() { [ "$("$STARLING" ps --rpc "$(rpc "$1")" | tail -n +2 | wc -l)" -gt 0 ]; }

echo "[heal] $N agents ($PROFILE profile) on $NET.1-$N, $S services x 3 replicas"
for i in $(seq 1 "$N"); do start "$i"; done
until_true 60 bash -c "[ \$($STARLING members --rpc $(rpc 1) --status alive | tail -n +2 | wc -l) -eq $N ]" ||
    { echo "bench_heal: the cluster did not converge" >&2; exit 1; }
for s in $(seq -w 0 $((S - 1))); do
    "$STARLING" deploy "svc$s" --replicas 3 --rpc "$(rpc $((10#$s % N + 1)))" -- "$WHOAMI" >/dev/null ||
        exit 1
done
until_true 120 all_running || { echo "bench_heal: replicas did not all start" >&2; exit 1; }
echo "[heal] $((3 * S)) replicas running; $(starts) replica processes started so far"

times=()
churn=()
for r in $(seq 1 "$ROUNDS"); do
    victim=
    for try in $(seq 1 50); do
        c=$((RANDOM % (N - 1) + 2))
        if hosts_replicas "$c"; then victim=$c; break; fi
    done
    [ -n "$victim" ] || { echo "bench_heal: no agent hosts a replica?" >&2; exit 1; }
    lost=$("$STARLING" ps --rpc "$(rpc "$victim")" | tail -n +2 | wc -l)
    before=$(starts)
    t0=$(now_ms)
    kill -9 "${PID[$victim]}"
    wait "${PID[$victim]}" 2>/dev/null
    unset "PID[$victim]"
    if ! until_true 120 healed "$victim"; then
        echo "bench_heal: round $r did not heal within 120 s" >&2
        exit 1
    fi
    t=$(($(now_ms) - t0))
    started=$(($(starts) - before))
    times+=("$t")
    churn+=("$started")
    printf '[heal] round %d: killed a%d (%d replicas): healed in %d.%03d s, %d replica processes started\n' \
        "$r" "$victim" "$lost" $((t / 1000)) $((t % 1000)) "$started"
    start "$victim"
    until_true 60 bash -c "[ \$($STARLING members --rpc $(rpc 1) --status alive | tail -n +2 | wc -l) -eq $N ]"
    until_true 60 all_running
    # Settled: hand-offs back to the restarted agent are over, and every
    # agent together runs exactly 3*S replicas (no old copy left).
    until_true 90 settled || echo "[heal] warning: not settled after 90 s" >&2
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
min() { printf '%s\n' "$@" | sort -n | head -n 1; }
max() { printf '%s\n' "$@" | sort -n | tail -n 1; }
m=$(median "${times[@]}")
printf '[heal] median %d.%03d s (min %d.%03d, max %d.%03d) over %d rounds; replica starts per round: %s\n' \
    $((m / 1000)) $((m % 1000)) $(($(min "${times[@]}") / 1000)) $(($(min "${times[@]}") % 1000)) \
    $(($(max "${times[@]}") / 1000)) $(($(max "${times[@]}") % 1000)) "$ROUNDS" "${churn[*]}"
echo "[heal] Kubernetes defaults replace a lost node's pods after ~340 s (40 s node monitor grace + 300 s toleration)"
