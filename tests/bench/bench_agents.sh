#!/usr/bin/env bash
# Agents on loopback, Starling next to Serf: join convergence time, kill -9
# detection time (first peer and all peers), resident memory per agent, and
# CPU per idle agent. Writes the figures into BENCHMARKS.md, "## Agents".
#
#   N=50 PROFILE=lan IDLE=30 KILLS=9 tests/bench/bench_agents.sh   (what `make bench` runs)
#
# Method, the same for both systems:
#   - agent n1 starts first; once it answers its RPC, the clock starts and
#     n2..nN start at once, each told to join n1;
#   - convergence: when every agent has logged a join for each of the N-1
#     others (timestamps are taken as each log line is written, by a reader
#     on the agent's log pipe, with bash's $EPOCHREALTIME);
#   - memory: VmRSS, RssAnon (/proc/PID/status) and Pss (smaps_rollup), 5 s
#     after convergence; N idle copies of /bin/sleep give the floor of any
#     dynamically linked C program in the same run;
#   - idle CPU: utime+stime from /proc/PID/stat over IDLE seconds;
#   - detection: n(N/2), then the next KILLS-1 agents one at a time, are
#     killed with SIGKILL; medians over the kills of the time until the first and
#     until the last of the others logs it as failed.
# Serf (Debian package `serf`) runs only when installed; otherwise its
# columns say so.
set -u
cd "$(dirname "$0")/../.." || exit 2
. tests/bench/report_lib.sh
BUILD=${BUILD:-build}
STARLING=${STARLING:-$BUILD/starling}
N=${N:-50}
PROFILE=${PROFILE:-lan}
IDLE=${IDLE:-30}
KILLS=${KILLS:-9}
OUT=${OUT:-BENCHMARKS.md}
if [ ! -x "$STARLING" ]; then
    echo "bench_agents: $STARLING is missing; run make first" >&2
    exit 1
fi
if [ "$N" -lt 3 ] || [ "$N" -gt 250 ]; then
    echo "bench_agents: N must be between 3 and 250" >&2
    exit 2
fi
if [ "$KILLS" -lt 1 ] || [ "$KILLS" -gt $((N - N / 2 - 1)) ]; then
    # The victims are n(N/2) onwards, one after another, and at least one
    # agent after them must stay to see the last one go.
    echo "bench_agents: KILLS must be between 1 and $((N - N / 2 - 1)) for N=$N" >&2
    exit 2
fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/starling-bench.XXXXXX")
HZ=$(getconf CLK_TCK)
declare -a PIDS=() TSPIDS=() FDS=()
# Starling's RPC token for this run, read by the CLI from the environment.
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export STARLING_RPC_TOKEN=$TOKEN

cleanup() {
    local p
    for p in "${PIDS[@]}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done
    close_logs
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Copies stdin to stdout with each line prefixed by the time it was read.
ts_lines() {
    local l
    while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done
}

close_logs() {
    local fd p
    for fd in "${FDS[@]}"; do exec {fd}>&-; done
    for p in "${TSPIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    FDS=()
    TSPIDS=()
}

# start SYSTEM I NET [join address]: starts agent nI of SYSTEM on NET.I.
start() {
    local sys=$1 i=$2 net=$3 join=${4:-} fd
    local ip=$net.$((10 + i)) log=$DIR/$sys/n$i.log
    exec {fd}> >(ts_lines >"$log")
    TSPIDS+=($!)
    FDS+=("$fd")
    if [ "$sys" != serf ]; then
        "${BIN[$sys]}" agent --name "n$i" --bind "$ip:7946" --rpc "$ip:7373" --profile "$PROFILE" \
            --rpc-token "$TOKEN" ${join:+--join "$join"} >&"$fd" 2>&1 &
    else
        serf agent -node "n$i" -bind "$ip:7946" -rpc-addr "$ip:7373" -profile "$PROFILE" \
            -log-level info ${join:+-join "$join"} >&"$fd" 2>&1 &
    fi
    PIDS[i]=$!
}

# answers SYSTEM IP: the agent's RPC answers.
answers() {
    if [ "$1" != serf ]; then
        "$STARLING" members --rpc "$2:7373" >/dev/null 2>&1
    else
        serf members -rpc-addr "$2:7373" >/dev/null 2>&1
    fi
}

# join_pattern / fail_pattern SYSTEM: the log lines that report a member
# joining / failing, with the member's name as the first word after them.
join_pattern() { [ "$1" != serf ] && echo ' member ' || echo 'EventMemberJoin: '; }

# converged_at SYSTEM I: the time at which agent nI had logged N-1 joins, or
# nothing yet.
converged_at() {
    local pat
    pat=$(join_pattern "$1")
    awk -v pat="$pat" -v self="n$2" -v want=$((N - 1)) -v sys="$1" '
        index($0, pat) {
            rest = substr($0, index($0, pat) + length(pat))
            split(rest, w, /[ :]/)
            name = w[1]
            if (sys != "serf" && rest !~ /^[^ ]+ joined /) next
            if (name != self && !(name in seen)) { seen[name] = 1; n++ }
            if (n == want) { print $1; exit }
        }' "$DIR/$1/n$2.log"
}

# failed_at SYSTEM I VICTIM: when agent nI logged VICTIM as failed, if it has.
failed_at() {
    local pat
    if [ "$1" != serf ]; then pat=" member $3 failed "; else pat="EventMemberFailed: $3 "; fi
    grep -F -m1 -- "$pat" "$DIR/$1/n$2.log" | awk '{ print $1 }'
}

# poll_all SECONDS FUNC SYSTEM [ARGS...]: waits until FUNC prints something
# for every agent but the victim (when set); bounded.
poll_all() {
    local secs=$1 fn=$2 sys=$3 deadline i ok
    shift 3
    deadline=$((SECONDS + secs))
    while :; do
        ok=1
        for i in $(seq 1 "$N"); do
            [ -n "${PIDS[i]:-}" ] || continue # killed
            [ "$i" = "${VICTIM:-0}" ] && continue
            [ -n "$("$fn" "$sys" "$i" "$@")" ] || { ok=0; break; }
        done
        [ $ok = 1 ] && return 0
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.5
    done
}

# mem_means PID...: means over the processes (KiB): VmRSS, max VmRSS, Pss,
# RssAnon. VmRSS counts every shared page in full in every process; Pss
# splits the shared ones among the processes that map them; RssAnon is the
# private part.
mem_means() {
    local p
    for p in "$@"; do
        echo "$(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { print r, a }' \
            "/proc/$p/status") $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup")"
    done | awk '{ r += $1; a += $2; p += $3; if ($1 > m) m = $1 }
        END { printf "%.0f %.0f %.0f %.0f", r / NR, m, p / NR, a / NR }'
}

# median X...: the median of numbers (the lower middle one for an even count).
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# ticks PID: utime + stime in clock ticks.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

run_system() {
    local sys=$1 net=$2 i t0 tk last first
    mkdir -p "$DIR/$sys"
    VICTIM=
    echo "[$sys] starting $N agents on $net.0/24, profile $PROFILE"
    start "$sys" 1 "$net"
    local deadline=$((SECONDS + 20))
    until answers "$sys" "$net.11"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "[$sys] the first agent does not answer" >&2
            return 1
        fi
        sleep 0.1
    done
    t0=$EPOCHREALTIME
    for i in $(seq 2 "$N"); do start "$sys" "$i" "$net" "$net.11:7946"; done
    if ! poll_all 120 converged_at "$sys"; then
        echo "[$sys] did not converge within 120 s" >&2
        return 1
    fi
    last=$(for i in $(seq 1 "$N"); do converged_at "$sys" "$i"; done | sort -n | tail -n1)
    R_CONV[$sys]=$(awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.2f", b - a }')
    echo "[$sys] converged in ${R_CONV[$sys]} s"
    sleep 5 # let the joins' push-pulls and broadcasts settle before measuring
    R_RSS[$sys]=$(mem_means "${PIDS[@]}")
    echo "[$sys] memory per agent (KiB; VmRSS mean, VmRSS max, Pss mean, RssAnon mean): ${R_RSS[$sys]}"
    if [ "${MEM_ONLY:-0}" = 1 ]; then
        stop_all
        return 0
    fi

    local -a before
    for i in $(seq 1 "$N"); do before[i]=$(ticks "${PIDS[i]}"); done
    sleep "$IDLE" # the measurement window itself
    tk=0
    for i in $(seq 1 "$N"); do tk=$((tk + $(ticks "${PIDS[i]}") - before[i])); done
    R_CPU[$sys]=$(awk -v t="$tk" -v n="$N" -v hz="$HZ" -v s="$IDLE" \
        'BEGIN { printf "%.3f", 100 * t / hz / s / n }')
    echo "[$sys] idle CPU per agent over $IDLE s: ${R_CPU[$sys]} % of a core"

    # KILLS victims, one after another: each is killed once every peer has
    # reported the previous one; the figures are the medians over victims
    # (one kill alone mostly measures when the victim's next probe happened).
    local k tk0 first last d1=() dn=()
    for k in $(seq 0 $((KILLS - 1))); do
        VICTIM=$((N / 2 + k))
        tk0=$EPOCHREALTIME
        kill -9 "${PIDS[VICTIM]}"
        wait "${PIDS[VICTIM]}" 2>/dev/null
        PIDS[VICTIM]=
        if ! poll_all 120 failed_at "$sys" "n$VICTIM"; then
            echo "[$sys] not every peer noticed n$VICTIM within 120 s" >&2
            return 1
        fi
        read -r first last < <(for i in $(seq 1 "$N"); do
            [ -n "${PIDS[i]:-}" ] && failed_at "$sys" "$i" "n$VICTIM"
        done | sort -n | awk 'NR == 1 { f = $1 } { l = $1 } END { print f, l }')
        d1+=("$(awk -v a="$tk0" -v b="$first" 'BEGIN { printf "%.2f", b - a }')")
        dn+=("$(awk -v a="$tk0" -v b="$last" 'BEGIN { printf "%.2f", b - a }')")
        echo "[$sys] kill -9 of n$VICTIM detected by the first peer in ${d1[k]} s, by all in ${dn[k]} s"
    done
    VICTIM=
    R_DET1[$sys]=$(median "${d1[@]}")
    R_DETN[$sys]=$(median "${dn[@]}")
    R_DETR[$sys]="$(printf '%s\n' "${d1[@]}" | sort -n | head -n1)-$(printf '%s\n' "${dn[@]}" | sort -n | tail -n1)"
    echo "[$sys] kill -9 detection, median of $KILLS: first peer ${R_DET1[$sys]} s, all ${R_DETN[$sys]} s"
    stop_all
}

stop_all() {
    local i deadline=$((SECONDS + 30))
    for i in "${!PIDS[@]}"; do [ -n "${PIDS[i]}" ] && kill -TERM "${PIDS[i]}" 2>/dev/null; done
    for i in "${!PIDS[@]}"; do
        [ -n "${PIDS[i]}" ] || continue
        while kill -0 "${PIDS[i]}" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
        kill -9 "${PIDS[i]}" 2>/dev/null
        wait "${PIDS[i]}" 2>/dev/null
    done
    PIDS=()
    close_logs
}

# A statically linked build of the same agent, for its memory only: VmRSS
# counts each shared library's touched code in full in every process, which
# is most of a small C agent's VmRSS (Serf, in Go, is statically linked).
build_static() {
    local out=$DIR/starling-static libdir a libs=()
    libdir=$(pkg-config --variable=libdir libuv 2>/dev/null)
    for a in uv_a sodium msgpackc jansson; do
        [ -f "$libdir/lib$a.a" ] || { [ "$a" = uv_a ] && [ -f "$libdir/libuv.a" ] && a=uv; }
        [ -f "$libdir/lib$a.a" ] || return 1
        libs+=("$libdir/lib$a.a")
    done
    ${CC:-cc} -static -o "$out" "$BUILD/obj/node/main.o" "$BUILD/libstarling_node.a" \
        "$BUILD/libstarling_placement.a" "$BUILD/libstarling_gossip.a" "${libs[@]}" \
        -lm -lpthread -ldl >/dev/null 2>&1 || return 1
    echo "$out"
}

# The floor of any dynamically linked C program, measured in the same run:
# N copies of /bin/sleep (coreutils: libc only, no work at all). Sets
# R_RSS[sleep] like run_system does for the agents.
measure_sleep() {
    local i p
    for i in $(seq 1 "$N"); do
        sleep 600 &
        PIDS[i]=$!
    done
    # Poll until every copy has finished exec (its comm is "sleep", not bash).
    local deadline=$((SECONDS + 10))
    for i in $(seq 1 "$N"); do
        p=${PIDS[i]}
        while [ "$(cat "/proc/$p/comm" 2>/dev/null)" != sleep ] && [ "$SECONDS" -lt "$deadline" ]; do
            sleep 0.05
        done
    done
    R_RSS[sleep]=$(mem_means "${PIDS[@]}")
    echo "[sleep] memory per process (KiB; VmRSS mean, VmRSS max, Pss mean, RssAnon mean): ${R_RSS[sleep]}"
    for i in $(seq 1 "$N"); do kill "${PIDS[i]}" 2>/dev/null; wait "${PIDS[i]}" 2>/dev/null; done
    PIDS=()
}

declare -A R_CONV R_RSS R_CPU R_DET1 R_DETN R_DETR BIN
BIN[starling]=$STARLING
measure_sleep
base=$((RANDOM % 200 + 20))
run_system starling "127.$base.$((RANDOM % 60 + 1))" || exit 1
have_static=0
if BIN[static]=$(build_static); then
    have_static=1
    MEM_ONLY=1 run_system static "127.$base.$((RANDOM % 60 + 64))" || exit 1
else
    echo "[static] cannot link a static build here (static libraries missing): skipped"
fi
have_serf=0
if command -v serf >/dev/null 2>&1; then
    have_serf=1
    run_system serf "127.$base.$((RANDOM % 60 + 128))" || exit 1
else
    echo "[serf] not installed (Debian package 'serf'): Starling's figures only"
fi

# ---- the report ----
ratio() { # serf / starling, or "-"
    [ "$have_serf" = 1 ] || { echo "-"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.1f", b / a; else print "-" }'
}
col() { [ "$have_serf" = 1 ] && echo "$1" || echo "not installed"; }
f() { echo "${R_RSS[$2]:-0 0 0 0}" | awk -v k="$1" '{ print $k }'; } # memory field K of SYSTEM
cmd="N=$N PROFILE=$PROFILE IDLE=$IDLE KILLS=$KILLS tests/bench/bench_agents.sh"
report=$(
    cat <<REPORT
## Agents

\`make bench\` runs \`$cmd\`: $N agents of each system on loopback
(127.0.0.0/8, one address per agent), profile \`$PROFILE\` for both, on
$(nproc) cores ($(uname -sr), $(date -u +%Y-%m-%d)). Serf: $([ "$have_serf" = 1 ] && serf version | head -n1 || echo "not installed").
Method: see the comment at the top of tests/bench/bench_agents.sh.

| figure | Starling | Serf | Serf / Starling |
|---|---|---|---|
| join convergence: every agent has seen the other $((N - 1)) join | ${R_CONV[starling]} s | $(col "${R_CONV[serf]:-} s") | $(ratio "${R_CONV[starling]}" "${R_CONV[serf]:-0}") |
| \`kill -9\` detection, first peer (median of $KILLS kills) | ${R_DET1[starling]} s | $(col "${R_DET1[serf]:-} s") | $(ratio "${R_DET1[starling]}" "${R_DET1[serf]:-0}") |
| \`kill -9\` detection, all peers (median of $KILLS kills) | ${R_DETN[starling]} s | $(col "${R_DETN[serf]:-} s") | $(ratio "${R_DETN[starling]}" "${R_DETN[serf]:-0}") |
| \`kill -9\` detection, range over the kills (first peer, fastest, to all peers, slowest) | ${R_DETR[starling]} s | $(col "${R_DETR[serf]:-} s") | |
| memory per agent on the machine: Pss, mean (what the $N agents occupy together, divided by $N) | $(f 3 starling) KiB | $(col "$(f 3 serf) KiB") | $(ratio "$(f 3 starling)" "$(f 3 serf)") |
| resident set of one agent: VmRSS, mean (max) | $(f 1 starling) KiB ($(f 2 starling) KiB) | $(col "$(f 1 serf) KiB ($(f 2 serf) KiB)") | $(ratio "$(f 1 starling)" "$(f 1 serf)") |
| baseline, same run: $N copies of \`/bin/sleep\` (libc only, idle): VmRSS; Pss | $(f 1 sleep) KiB; $(f 3 sleep) KiB | $(col "$(f 1 serf) KiB; $(f 3 serf) KiB") | $(ratio "$(f 1 sleep)" "$(f 1 serf)"); $(ratio "$(f 3 sleep)" "$(f 3 serf)") |
| private memory per agent: RssAnon, mean | $(f 4 starling) KiB | $(col "$(f 4 serf) KiB") | $(ratio "$(f 4 starling)" "$(f 4 serf)") |
$([ "$have_static" = 1 ] && echo "| the same agent statically linked: VmRSS, mean (max); Pss | $(f 1 static) KiB ($(f 2 static) KiB); $(f 3 static) KiB | $(col "$(f 1 serf) KiB; $(f 3 serf) KiB") | $(ratio "$(f 1 static)" "$(f 1 serf)"); $(ratio "$(f 3 static)" "$(f 3 serf)") |")
| CPU per idle agent over $IDLE s (% of one core) | ${R_CPU[starling]} % | $(col "${R_CPU[serf]:-} %") | $(ratio "${R_CPU[starling]}" "${R_CPU[serf]:-0}") |

Targets: memory per agent at most 1/10 of Serf's (ratio >= 10); idle CPU
and detection time no worse than Serf's (ratio >= 1). Memory is judged on
Pss, the first memory row: it divides each shared page among the processes
that map it, so the $N agents' Pss add up to the memory they occupy together,
and the mean is what one agent costs the machine. VmRSS counts every shared
page in full in every process: the C library's code, mapped once for all
agents, counts $N times. It cannot show 1/10 of Serf for any dynamically
linked C program: \`/bin/sleep\`, which does nothing, already has the VmRSS
of the baseline row. RssAnon is the private memory alone. \`make\` links
the agent dynamically; the "statically linked" row is the same code linked
with \`-static\` by this script, for memory only (static glibc warns about
getaddrinfo and NSS, which is why it is not the default build).
REPORT
)
echo
echo "$report"

write_section Agents "$report" "$OUT"
