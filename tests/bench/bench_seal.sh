#!/usr/bin/env bash
# What sealing costs: the same agents and the same simulations with gossip
# sealed (XChaCha20-Poly1305, --encrypt / `seal on`) and plain, in one run.
# Writes the figures into BENCHMARKS.md, "## Sealing".
#
#   N=50 IDLE=20 SIM_SIZES="100 1000" tests/bench/bench_seal.sh   (what `make bench` runs)
#
# Agents (lan profile, loopback, one address each): n1 starts; once it
# answers, n2..nN start at once, each told to join n1. "CPU during the join"
# is the CPU time (/proc/PID/schedstat, in ns) of all N agents from the
# moment n2..nN are started until
# every agent lists N alive members and 5 s more (the joins' push-pulls and
# broadcasts), divided by N: CPU seconds per agent. "Idle CPU" is the same
# over IDLE seconds afterwards, as % of one core per agent. The plain and the
# sealed cluster run one after the other on different addresses.
# Simulator: tests/bench/sim_lan_N.scn (or the same shape generated for N:
# lan profile, three crashes, 300 s simulated) with `seal off` and `seal on`
# added; wall time and events per second from the JSON report.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/bench/report_lib.sh
BUILD=${BUILD:-build}
STARLING=${STARLING:-$BUILD/starling}
SIM=$BUILD/starling-sim
N=${N:-50}
IDLE=${IDLE:-20}
SIM_SIZES=${SIM_SIZES:-100 1000}
OUT=${OUT:-BENCHMARKS.md}
[ -x "$STARLING" ] && [ -x "$SIM" ] || { echo "bench_seal: run make first" >&2; exit 1; }
DIR=$(mktemp -d "${TMPDIR:-/tmp}/starling-bench-seal.XXXXXX")
declare -a PIDS=()
TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
export STARLING_RPC_TOKEN=$TOKEN
token_flag=()
"$STARLING" agent --help | grep -q -- '--rpc-token' && token_flag=(--rpc-token "$TOKEN")

cleanup() {
    local p
    for p in "${PIDS[@]}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# cpu_ns PID: CPU time in ns (/proc/PID/schedstat: finer than utime+stime,
# whose 10 ms ticks are coarser than what an agent spends here).
cpu_ns() { awk '{ print $1 }' "/proc/$1/schedstat" 2>/dev/null || echo 0; }
all_cpu_ns() {
    local i t=0
    for i in $(seq 1 "$N"); do t=$((t + $(cpu_ns "${PIDS[i]}"))); done
    echo "$t"
}
alive_at() { # alive_at IP: alive members the agent lists
    "$STARLING" members --status alive --rpc "$1:7373" 2>/dev/null | tail -n +2 | wc -l
}

# run_agents MODE NET: sets R_JOIN[MODE] (CPU s per agent), R_CONV[MODE] (s)
# and R_IDLE[MODE] (% of a core per agent).
run_agents() {
    local mode=$1 net=$2 i t0 tk0 flags=() deadline
    [ "$mode" = sealed ] && flags=(--encrypt "$(head -c 32 /dev/urandom | base64)")
    mkdir -p "$DIR/$mode"
    start_one() {
        local i=$1
        TMPDIR=$DIR/$mode "$STARLING" agent --name "n$i" --bind "$net.$((10 + i)):7946" \
            --rpc "$net.$((10 + i)):7373" --profile lan "${token_flag[@]}" "${flags[@]}" \
            ${2:+--join "$2"} 2>"$DIR/$mode/n$i.log" &
        PIDS[i]=$!
    }
    start_one 1
    deadline=$((SECONDS + 20))
    until "$STARLING" info --rpc "$net.11:7373" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "[$mode] n1 does not answer" >&2; return 1; }
        sleep 0.1
    done
    t0=$EPOCHREALTIME
    tk0=$(cpu_ns "${PIDS[1]}")
    for i in $(seq 2 "$N"); do start_one "$i" "$net.11:7946"; done
    deadline=$((SECONDS + 120))
    i=1
    while [ "$i" -le "$N" ]; do # every agent lists N alive
        if [ "$(alive_at "$net.$((10 + i))")" = "$N" ]; then
            i=$((i + 1))
            continue
        fi
        [ "$SECONDS" -lt "$deadline" ] || { echo "[$mode] no convergence in 120 s" >&2; return 1; }
        sleep 0.2
    done
    R_CONV[$mode]=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    sleep 5 # the join's tail: push-pulls and broadcasts (part of the measured window)
    local tk=$(($(all_cpu_ns) - tk0))
    R_JOIN[$mode]=$(awk -v t="$tk" -v n="$N" 'BEGIN { printf "%.1f", t / 1e6 / n }')
    tk0=$(all_cpu_ns)
    sleep "$IDLE" # the idle measurement window
    tk=$(($(all_cpu_ns) - tk0))
    R_IDLE[$mode]=$(awk -v t="$tk" -v n="$N" -v s="$IDLE" \
        'BEGIN { printf "%.4f", 100 * t / 1e9 / s / n }')
    echo "[$mode] $N agents: converged (every agent lists $N alive) in ${R_CONV[$mode]} s (polled);" \
        "CPU during the join ${R_JOIN[$mode]} ms per agent; idle ${R_IDLE[$mode]} % of a core per agent"
    for i in $(seq 1 "$N"); do kill -TERM "${PIDS[i]}" 2>/dev/null; done
    for i in $(seq 1 "$N"); do wait "${PIDS[i]}" 2>/dev/null; done
    PIDS=()
}

num() { sed -n "s/^ *\"$1\": \([0-9.]*\).*/\1/p" "$2" | head -n1; }

# run_sim SIZE MODE: sets R_WALL[SIZE.MODE], R_EPS[SIZE.MODE].
run_sim() {
    local n=$1 mode=$2 src=tests/bench/sim_lan_$1.scn scn=$DIR/sim_$1_$2.scn json=$DIR/sim_$1_$2.json
    if [ -f "$src" ]; then
        awk -v m="$mode" '!/^seal / { print } /^nodes / { print "seal " m }' "$src" >"$scn"
    else
        printf 'nodes %d\nseal %s\nprofile lan\nlatency 1ms 0.5ms\nat 100s crash n10 n%d n%d\nrun 300s\n' \
            "$n" "$mode" $((n / 2)) $((n - 1)) >"$scn"
    fi
    "$SIM" "$scn" --quiet --json "$json" || { echo "[sim] $n nodes, seal $mode: failed" >&2; return 1; }
    R_WALL[$n.$mode]=$(num wall_s "$json")
    R_EPS[$n.$mode]=$(num events_per_s "$json")
    echo "[sim] $n nodes, seal $mode: ${R_WALL[$n.$mode]} s wall, ${R_EPS[$n.$mode]} events/s"
}

declare -A R_CONV R_JOIN R_IDLE R_WALL R_EPS
base=$((RANDOM % 200 + 20))
run_agents plain "127.$base.$((RANDOM % 60 + 1))" || exit 1
run_agents sealed "127.$base.$((RANDOM % 60 + 64))" || exit 1
for n in $SIM_SIZES; do
    run_sim "$n" off || exit 1
    run_sim "$n" on || exit 1
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "-" }'; }
cmd="N=$N IDLE=$IDLE SIM_SIZES=\"$SIM_SIZES\" tests/bench/bench_seal.sh"
report=$(
    cat <<REPORT
## Sealing

\`make bench\` runs \`$cmd\` on $(nproc) cores ($(uname -sr),
$(date -u +%Y-%m-%d)): the same $N agents (lan profile, loopback) and the same
simulations, plain and sealed, in one run. Method: the comment at the top of
tests/bench/bench_seal.sh.

| figure | plain | sealed | sealed / plain |
|---|---|---|---|
| CPU per agent during a join of $N (from the start of n2..n$N to 5 s after every agent lists $N alive) | ${R_JOIN[plain]} ms | ${R_JOIN[sealed]} ms | $(ratio "${R_JOIN[plain]}" "${R_JOIN[sealed]}") |
| every agent lists $N alive (polled every 0.2 s, so an upper bound) | ${R_CONV[plain]} s | ${R_CONV[sealed]} s | $(ratio "${R_CONV[plain]}" "${R_CONV[sealed]}") |
| CPU per idle agent over $IDLE s (% of one core) | ${R_IDLE[plain]} % | ${R_IDLE[sealed]} % | $(ratio "${R_IDLE[plain]}" "${R_IDLE[sealed]}") |
$(for n in $SIM_SIZES; do
        echo "| simulator, $n nodes, 300 s simulated: wall time | ${R_WALL[$n.off]} s | ${R_WALL[$n.on]} s | $(ratio "${R_WALL[$n.off]}" "${R_WALL[$n.on]}") |"
        echo "| simulator, $n nodes: events per second | ${R_EPS[$n.off]} | ${R_EPS[$n.on]} | $(ratio "${R_EPS[$n.off]}" "${R_EPS[$n.on]}") |"
    done)

An agent's CPU goes to waking up, reading and writing sockets and running
the protocol; sealing a datagram or a state adds one XChaCha20-Poly1305 pass
over it (and an opening at the receiver), small beside that: compare the
sealed / plain ratios of the agent rows. The simulator does nothing but run
the protocol, for every node, with no I/O at all, so the same cipher work is
a large share of each event there: it is the price of simulating the code
that ships byte for byte (\`seal on\`, the default); \`seal off\` is the
faster model, and the simulator's speed benchmark ("## Simulator") uses it.
REPORT
)
echo
echo "$report"
write_section Sealing "$report" "$OUT"
