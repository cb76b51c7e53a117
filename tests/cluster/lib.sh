#!/usr/bin/env bash
# Shared helpers for the cluster tests: real agents on loopback.
#
# Each test script sources this file, starts agents with start_agent, waits
# for conditions with wait_until (a bounded poll, never a blind sleep), and
# reports "PASS: what" / "FAIL: what" lines. Every agent started is recorded
# by PID and killed on exit, pass or fail; logs stay in $CL_DIR when anything
# failed.
#
# Addresses: each run picks its own 127.A.B.0/24 network (A and B random), so
# that two runs on one machine (two engineers, or a test next to `make demo`)
# never fight over a port. Agent i listens on 127.A.B.i, gossip port 7946 and
# RPC port 7373.
#
# The RPC token: every agent start_agent starts gets --rpc-token "$CL_TOKEN",
# a random token of this run, and STARLING_RPC_TOKEN carries it to every CLI
# call, so tests talk to their agents as the operator would. start_agent_bare
# starts one without the flag (it then makes its own token file).
set -u
BUILD=${BUILD:-build}
STARLING=${STARLING:-$BUILD/starling}
if [ ! -x "$STARLING" ]; then
    echo "FAIL: $STARLING is missing; run make first"
    exit 1
fi
CL_NET=${CL_NET:-127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))}
CL_DIR=$(mktemp -d "${TMPDIR:-/tmp}/starling-cluster.XXXXXX")
CL_FAILS=0
CL_TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export STARLING_RPC_TOKEN=$CL_TOKEN
declare -A CL_PID CL_IP
# Sanitized builds are slower; give every wait more room.
case $BUILD in *san*) CL_SLOW=3 ;; *) CL_SLOW=1 ;; esac

pass() { echo "PASS: $*"; }
fail() {
    echo "FAIL: $*"
    CL_FAILS=$((CL_FAILS + 1))
}
# skip WHAT: a case that cannot run here (say why in WHAT); tests/run.sh
# counts it as skipped, never as passed.
skip() { echo "SKIP: $*"; }
# check WHAT CMD...: PASS when CMD succeeds.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

cl_cleanup() {
    local name
    for name in "${!CL_PID[@]}"; do
        kill -9 "${CL_PID[$name]}" 2>/dev/null
    done
    for name in "${!CL_PID[@]}"; do
        wait "${CL_PID[$name]}" 2>/dev/null
    done
    if [ "$CL_FAILS" = 0 ]; then
        rm -rf "$CL_DIR"
    else
        echo "logs kept in $CL_DIR"
        for f in "$CL_DIR"/*.log; do
            [ -f "$f" ] || continue
            echo "---- $f (last 15 lines)"
            tail -n 15 "$f"
        done
    fi
}
trap cl_cleanup EXIT
trap 'exit 1' INT TERM

ip_of() { echo "$CL_NET.$1"; }
gossip_of() { echo "${CL_IP[$1]}:7946"; }
rpc_of() { echo "${CL_IP[$1]}:7373"; }

# start_agent NAME INDEX [agent flags...]: starts an agent on 127.A.B.INDEX with
# the local profile and the run's RPC token; its stderr goes to
# $CL_DIR/NAME.log.
start_agent() {
    local name=$1 idx=$2
    shift 2
    start_agent_bare "$name" "$idx" --rpc-token "$CL_TOKEN" "$@"
}

# start_agent_bare NAME INDEX [agent flags...]: the same without --rpc-token.
start_agent_bare() {
    local name=$1 idx=$2
    shift 2
    CL_IP[$name]=$(ip_of "$idx")
    TMPDIR=$CL_DIR "$STARLING" agent --name "$name" --bind "${CL_IP[$name]}:7946" \
        --rpc "${CL_IP[$name]}:7373" --profile local "$@" 2>>"$CL_DIR/$name.log" &
    CL_PID[$name]=$!
}

# wait_until SECONDS CMD...: polls CMD every 0.2 s until it succeeds or the
# deadline (scaled for sanitized builds) passes. Returns CMD's last status.
wait_until() {
    local secs=$(($1 * CL_SLOW))
    shift
    local deadline=$((SECONDS + secs))
    while :; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
        sleep 0.2
    done
}

# wait_exit NAME SECONDS: waits for the agent's process to end and sets CL_RC
# to its exit code ("timeout", after killing it, when it outlives the
# deadline). Not to be called in a subshell: only this shell can reap it.
wait_exit() {
    local name=$1 secs=$(($2 * CL_SLOW)) pid=${CL_PID[$1]}
    local deadline=$((SECONDS + secs))
    CL_RC=timeout
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            kill -9 "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            unset "CL_PID[$name]"
            return 1
        fi
        sleep 0.1
    done
    wait "$pid"
    CL_RC=$?
    unset "CL_PID[$name]"
}

# kill9 NAME: kills an agent with SIGKILL and reaps it.
kill9() {
    kill -9 "${CL_PID[$1]}" 2>/dev/null
    wait "${CL_PID[$1]}" 2>/dev/null
    unset "CL_PID[$1]"
}

# members OBSERVER [flags]: the member table as OBSERVER's RPC reports it.
members() {
    local who=$1
    shift
    "$STARLING" members --rpc "$(rpc_of "$who")" "$@"
}

# status_of OBSERVER TARGET: TARGET's status in OBSERVER's table.
status_of() {
    members "$1" | awk -v n="$2" '$1 == n { print $3 }'
}

# sees OBSERVER TARGET STATUS: succeeds when OBSERVER lists TARGET as STATUS.
sees() { [ "$(status_of "$1" "$2")" = "$3" ]; }

# all_see STATUS TARGET OBSERVER...: every observer lists TARGET as STATUS.
all_see() {
    local st=$1 target=$2 o
    shift 2
    for o in "$@"; do sees "$o" "$target" "$st" || return 1; done
}

# count_status OBSERVER STATUS: how many members OBSERVER lists as STATUS.
count_status() { members "$1" --status "$2" | tail -n +2 | wc -l; }

# all_count STATUS N OBSERVER...: every observer lists exactly N members as STATUS.
all_count() {
    local st=$1 n=$2 o
    shift 2
    for o in "$@"; do [ "$(count_status "$o" "$st")" -eq "$n" ] || return 1; done
}

# view OBSERVER: "name addr status" lines, the part of the membership that
# every peer must agree on.
view() { members "$1" | tail -n +2 | awk '{ print $1, $2, $3 }'; }

# same_view OBSERVER...: every observer answers exactly the same view.
same_view() {
    local first o
    first=$(view "$1")
    [ -n "$first" ] || return 1
    for o in "$@"; do [ "$(view "$o")" = "$first" ] || return 1; done
}

# expect_fail CODE PATTERN WHAT CMD...: CMD exits CODE, and the first line of
# its stderr matches PATTERN; a failure (1) is that one line alone, a usage
# error (2) is followed by the usage.
expect_fail() {
    local code=$1 pat=$2 what=$3 rc
    shift 3
    "$@" >"$CL_DIR/out" 2>"$CL_DIR/err"
    rc=$?
    if [ "$rc" = "$code" ] && { [ "$code" != 1 ] || [ "$(wc -l <"$CL_DIR/err")" = 1 ]; } &&
        head -n 1 "$CL_DIR/err" | grep -qE -- "$pat"; then
        pass "$what"
    else
        fail "$what (exit $rc, stderr: $(head -n 3 "$CL_DIR/err" | tr '\n' '|'))"
    fi
}

# start_with_dir NAME INDEX [flags]: an agent with a data dir of its own
# ($CL_DIR/data-NAME); every agent but the first (INDEX 1) joins the first.
start_with_dir() {
    local name=$1 idx=$2
    shift 2
    mkdir -p "$CL_DIR/data-$name"
    if [ "$idx" = 1 ]; then
        start_agent "$name" "$idx" --data-dir "$CL_DIR/data-$name" "$@"
    else
        start_agent "$name" "$idx" --data-dir "$CL_DIR/data-$name" --join "$(ip_of 1):7946" "$@"
    fi
}

cl_finish() {
    [ "$CL_FAILS" = 0 ]
}
