#!/usr/bin/env bash
# The RPC's token and seal, with real agents on loopback: requests without
# the token or with a wrong one are refused (one line, exit 1) and counted;
# the token file (mode 0600, in the data dir or the private directory) and
# every way the CLI finds it, in order; an agent refuses a token file that is
# open to others or a symlink, and a non-loopback RPC without a token; the
# limits (silent connections, the auth timeout, monitors); garbage, replayed
# and tampered frames. Raw clients are in rpc_raw.py.
cd "$(dirname "$0")/../.." || exit 2
. tests/cluster/lib.sh
RAW="python3 tests/cluster/rpc_raw.py"

# info_key NAME KEY [CLI flags...]: one value of NAME's `info --json` (KEY as
# a.b.c).
info_key() {
    local name=$1 key=$2
    shift 2
    "$STARLING" info --rpc "$(rpc_of "$name")" --json "$@" |
        python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$key"
}
# info_is NAME KEY VALUE: NAME's info says KEY is VALUE (for wait_until).
info_is() { [ "$(info_key "$1" "$2")" = "$3" ]; }
# Monitor clients started here; the agents' end ends them too, but they are
# stopped by PID all the same.
MONS=()
trap 'for p in "${MONS[@]}"; do kill "$p" 2>/dev/null; done; cl_cleanup' EXIT
# no_token CMD...: CMD without any token in the environment.
no_token() { env -u STARLING_RPC_TOKEN -u STARLING_RPC_TOKEN_FILE -u STARLING_DATA_DIR "$@"; }
WRONG=wrong-token-wrong-token

# ---- refusals, counted ----
start_agent r1 1
check "r1 answers with the run's token" wait_until 10 "$STARLING" info --rpc "$(rpc_of r1)"
r1=$(rpc_of r1)
expect_fail 1 "^starling members: the agent at $r1 refused the RPC token: wrong or missing RPC token \(pass --token, --token-file or --data-dir; see 'starling members --help'\)$" \
    "no token: refused in one line that says how to pass one, exit 1" no_token "$STARLING" members --rpc "$r1"
expect_fail 1 "^starling members: the agent at $r1 refused the RPC token: wrong or missing RPC token$" \
    "a wrong --token: refused in one line, exit 1" no_token "$STARLING" members --rpc "$r1" --token "$WRONG"
expect_fail 1 "^starling deploy: the agent at $r1 refused the RPC token: wrong or missing RPC token$" \
    "a wrong \$STARLING_RPC_TOKEN: deploy refused, exit 1" \
    env STARLING_RPC_TOKEN=$WRONG "$STARLING" deploy web --replicas 1 --rpc "$r1" -- /bin/true
expect_fail 1 "^starling monitor: the agent at $r1 refused the RPC token" \
    "monitor without the token is refused too" no_token "$STARLING" monitor --rpc "$r1"
expect_fail 1 "^starling leave: the agent at $r1 refused the RPC token" \
    "leave without the token is refused too" no_token "$STARLING" leave --rpc "$r1"
check "r1 still runs after the refused leave" kill -0 "${CL_PID[r1]}"
check "the refusals are counted in info (rpc_auth_failures = $(info_key r1 counters.agent.rpc_auth_failures))" \
    test "$(info_key r1 counters.agent.rpc_auth_failures)" = 5
check "info says the token came from the flag" test "$(info_key r1 rpc_token)" = flag
check "info never shows the token" sh -c "! '$STARLING' info --rpc $r1 --json | grep -q '$CL_TOKEN'"
check "the agent's command line no longer shows the token" \
    sh -c "! tr '\\0' ' ' </proc/${CL_PID[r1]}/cmdline | grep -q '$CL_TOKEN'"
check "r1 logs the refusals at warn" grep -q "\[WARN\] rpc: refused a client at .*: wrong or missing RPC token" "$CL_DIR/r1.log"
check "--token wins over a wrong \$STARLING_RPC_TOKEN" \
    env STARLING_RPC_TOKEN=$WRONG "$STARLING" members --rpc "$r1" --token "$CL_TOKEN"
check "no deploy happened without the token" sh -c "! '$STARLING' services --rpc $r1 | grep -q '^web '"
expect_fail 2 "^starling members: --token must be 16 to 1024 bytes long$" \
    "a --token shorter than 16 bytes is a usage error" "$STARLING" members --rpc "$r1" --token short
for c in members info join leave monitor deploy scale rm services ps where drain; do
    check "starling $c --help tells of --token, --token-file, --data-dir and the environment" \
        sh -c "'$STARLING' $c --help | tr '\\n' ' ' | grep -q -- '--token TOKEN | --token-file FILE | --data-dir DIR.*STARLING_RPC_TOKEN, .STARLING_RPC_TOKEN_FILE, .STARLING_DATA_DIR'"
done

# ---- the token file in a data dir, and how the CLI finds it ----
mkdir -p "$CL_DIR/r2"
start_agent_bare r2 2 --data-dir "$CL_DIR/r2"
r2=$(rpc_of r2)
tf=$CL_DIR/r2/rpc-token
check "r2 creates its token file" wait_until 10 test -s "$tf"
check "the token file has mode 0600 (got $(stat -c %a "$tf" 2>/dev/null))" test "$(stat -c %a "$tf")" = 600
check "the token is 43 characters of URL-safe base64" grep -qE '^[A-Za-z0-9_-]{43}$' "$tf"
check "r2 logs the file's name at info" wait_until 5 grep -q "\[INFO\] created the RPC token in $tf" "$CL_DIR/r2.log"
check "the CLI finds the token with --data-dir" wait_until 10 no_token "$STARLING" info --rpc "$r2" --data-dir "$CL_DIR/r2"
check "the CLI finds the token with STARLING_DATA_DIR" no_token env STARLING_DATA_DIR="$CL_DIR/r2" "$STARLING" members --rpc "$r2"
check "the CLI finds the token with --token-file" no_token "$STARLING" members --rpc "$r2" --token-file "$tf"
check "the CLI finds the token with STARLING_RPC_TOKEN_FILE" no_token env STARLING_RPC_TOKEN_FILE="$tf" "$STARLING" members --rpc "$r2"
check "--data-dir wins over a wrong \$STARLING_RPC_TOKEN" "$STARLING" members --rpc "$r2" --data-dir "$CL_DIR/r2"
expect_fail 1 "refused the RPC token: wrong or missing RPC token$" \
    "\$STARLING_RPC_TOKEN wins over \$STARLING_DATA_DIR" env STARLING_DATA_DIR="$CL_DIR/r2" "$STARLING" members --rpc "$r2"
check "info says the token came from the file" \
    test "$(info_key r2 rpc_token --data-dir "$CL_DIR/r2")" = "file $tf"
expect_fail 1 "^starling members: cannot read the RPC token from $CL_DIR/nowhere/rpc-token: no such file or directory$" \
    "a --data-dir without a token file is one line, exit 1" no_token "$STARLING" members --rpc "$r2" --data-dir "$CL_DIR/nowhere"
tok=$(cat "$tf")
kill -TERM "${CL_PID[r2]}"
wait_exit r2 20
start_agent_bare r2 2 --data-dir "$CL_DIR/r2"
check "restarted, r2 answers the same token file" wait_until 10 no_token "$STARLING" info --rpc "$r2" --data-dir "$CL_DIR/r2"
check "the token survives the restart" test "$(cat "$tf")" = "$tok"

# ---- without a data dir: the private directory ----
start_agent_bare r3 3
check "r3 makes a token file in its private directory" \
    wait_until 10 sh -c "ls '$CL_DIR'/starling-r3-*/rpc-token"
pdir=$(ls -d "$CL_DIR"/starling-r3-* 2>/dev/null | head -n 1)
check "the private directory's token file has mode 0600" test "$(stat -c %a "$pdir/rpc-token")" = 600
check "r3 logs the token file's path" wait_until 5 grep -q "created the RPC token in $pdir/rpc-token" "$CL_DIR/r3.log"
check "the CLI on the same machine reaches r3 with --data-dir of that directory" \
    wait_until 10 no_token "$STARLING" members --rpc "$(rpc_of r3)" --data-dir "$pdir"
kill -TERM "${CL_PID[r3]}"
wait_exit r3 20
check "r3's private directory and token are gone after a clean exit" test ! -e "$pdir"

# ---- the agent refuses unsafe token files and exposed RPCs, before binding ----
agent() { # agent INDEX FLAGS...: a start expected to fail at once
    local i=$1
    shift
    TMPDIR=$CL_DIR timeout 20 "$STARLING" agent --name "x$i" --bind "$(ip_of "$i"):7946" \
        --rpc "$(ip_of "$i"):7373" "$@"
}
mkdir -p "$CL_DIR/loose"
echo "a-token-of-enough-bytes-here" >"$CL_DIR/loose/rpc-token"
chmod 644 "$CL_DIR/loose/rpc-token"
expect_fail 1 "^starling agent: $CL_DIR/loose/rpc-token is readable by other users \(mode 0644\): chmod 600 it$" \
    "a token file of mode 0644 stops the agent" agent 9 --data-dir "$CL_DIR/loose"
chmod 620 "$CL_DIR/loose/rpc-token"
expect_fail 1 "rpc-token is writable by other users \(mode 0620\): chmod 600 it$" \
    "a token file of mode 0620 stops the agent" agent 9 --data-dir "$CL_DIR/loose"
mkdir -p "$CL_DIR/link"
echo "a-token-of-enough-bytes-here" >"$CL_DIR/target-token"
chmod 600 "$CL_DIR/target-token"
ln -s "$CL_DIR/target-token" "$CL_DIR/link/rpc-token"
expect_fail 1 "^starling agent: $CL_DIR/link/rpc-token is a symbolic link: refusing to follow it" \
    "a token file that is a symlink stops the agent" agent 9 --data-dir "$CL_DIR/link"
mkdir -p "$CL_DIR/dir/rpc-token"
expect_fail 1 "rpc-token is not a regular file" "a token 'file' that is a directory stops the agent" \
    agent 9 --data-dir "$CL_DIR/dir"
mkdir -p "$CL_DIR/short"
echo "too-short" >"$CL_DIR/short/rpc-token"
chmod 600 "$CL_DIR/short/rpc-token"
expect_fail 1 "rpc-token holds a token of 9 bytes: at least 16 are needed$" \
    "a token file with a short token stops the agent" agent 9 --data-dir "$CL_DIR/short"
# --bind on r1's busy gossip address: if the exposure check came after the
# binds, this would say "cannot bind"; so nothing is ever bound outside loopback.
port=$((20000 + RANDOM % 10000))
expect_fail 1 "^starling agent: --rpc 0.0.0.0:$port is not a loopback address: pass --rpc-token TOKEN or --data-dir DIR" \
    "a non-loopback --rpc without a token or data dir is refused before anything binds" \
    env TMPDIR="$CL_DIR" timeout 20 "$STARLING" agent --name x10 --bind "$(gossip_of r1)" --rpc "0.0.0.0:$port"
check "that refused start left no private directory" sh -c "! ls -d '$CL_DIR'/starling-x10-* 2>/dev/null"
expect_fail 2 "^starling agent: --rpc-token must be 16 to 1024 bytes long" \
    "an --rpc-token shorter than 16 bytes is a usage error" agent 9 --rpc-token tiny-secret
check "...and the usage error does not echo the token" sh -c "! grep -q tiny-secret '$CL_DIR/err'"
expect_fail 2 "^starling agent: --rpc-auth-timeout must be 1..3600 seconds: '0'$" \
    "--rpc-auth-timeout 0 is a usage error" agent 9 --rpc-auth-timeout 0
expect_fail 2 "^starling agent: --rpc-max-monitors must be 0..55" \
    "--rpc-max-monitors 56 is a usage error" agent 9 --rpc-max-monitors 56
expect_fail 2 "^starling agent: --rpc-max-monitors must be 0..55" \
    "--rpc-max-monitors abc is a usage error" agent 9 --rpc-max-monitors abc

# ---- silent connections cannot lock the CLI out ----
start_agent r4 4 --rpc-auth-timeout "$CL_SLOW"
check "r4 answers" wait_until 10 "$STARLING" info --rpc "$(rpc_of r4)"
$RAW silent "${CL_IP[r4]}" 7373 20 "$CL_SLOW" "$STARLING" || fail "rpc_raw.py silent exited $?"
check "r4 has no unauthenticated connection left" wait_until 10 info_is r4 rpc_clients.unauthenticated 0
# A connection that shook hands but never sends its first request is closed too.
check "a handshake without a request is closed after the auth timeout" \
    timeout $((10 * CL_SLOW)) python3 -c '
import socket, struct, os, sys, time
s = socket.create_connection((sys.argv[1], 7373), timeout=10)
s.sendall(struct.pack(">I", 38) + b"SLRPC1" + os.urandom(32))
t0 = time.monotonic(); data = b""
while True:
    c = s.recv(4096)
    if not c: break
    data += c
took = time.monotonic() - t0
sys.exit(0 if len(data) == 42 and took >= 0.8 * float(sys.argv[2]) else 1)' "${CL_IP[r4]}" "$CL_SLOW"

# ---- monitors are limited ----
start_agent r5 5
check "r5 answers" wait_until 10 "$STARLING" info --rpc "$(rpc_of r5)"
for i in $(seq 1 16); do
    "$STARLING" monitor --rpc "$(rpc_of r5)" >/dev/null 2>"$CL_DIR/mon$i.err" &
    MONS+=($!)
done
check "r5 serves 16 monitors" wait_until 20 info_is r5 rpc_clients.monitors 16
expect_fail 1 "^starling monitor: the agent already serves 16 monitor streams, its limit \(--rpc-max-monitors\)$" \
    "a 17th monitor is refused with a clear error" timeout 20 "$STARLING" monitor --rpc "$(rpc_of r5)"
check "the CLI still works next to 16 monitors" "$STARLING" members --rpc "$(rpc_of r5)"
check "the 16 monitors are still connected" info_is r5 rpc_clients.monitors 16
for p in "${MONS[@]}"; do kill -INT "$p" 2>/dev/null; done
for p in "${MONS[@]}"; do wait "$p" 2>/dev/null; done
MONS=()
start_agent r6 6 --rpc-max-monitors 1
check "r6 answers" wait_until 10 "$STARLING" info --rpc "$(rpc_of r6)"
"$STARLING" monitor --rpc "$(rpc_of r6)" >/dev/null 2>&1 &
MONS+=($!)
check "r6 serves its one monitor" wait_until 10 info_is r6 rpc_clients.monitors 1
expect_fail 1 "already serves 1 monitor stream, its limit" "--rpc-max-monitors 1 refuses a second monitor" \
    timeout 20 "$STARLING" monitor --rpc "$(rpc_of r6)"
kill -INT "${MONS[0]}" 2>/dev/null
wait "${MONS[0]}" 2>/dev/null
MONS=()

# ---- garbage, replays and tampering do not hurt ----
before=$(info_key r1 counters.agent.rpc_auth_failures)
$RAW garbage "${CL_IP[r1]}" 7373 || fail "rpc_raw.py garbage exited $?"
check "after the garbage r1 still answers" wait_until 5 sees r1 r1 alive
after=$(info_key r1 counters.agent.rpc_auth_failures)
check "the garbage is counted ($before -> $after)" test "$after" -ge $((before + 6))
lines=$(grep -c "rpc: refused a client at" "$CL_DIR/r1.log")
check "failures past the first five are not logged one by one ($lines lines for $after failures)" \
    test "$lines" -le 5
check "r1's log says the rest are throttled" grep -q "failures are logged at most once per 10 s" "$CL_DIR/r1.log"
$RAW proxy "${CL_IP[r1]}" 7373 tamper "$STARLING" members >"$CL_DIR/tamper.out" 2>&1
check "a request with one byte flipped on the way is refused (cli: $(tail -n 1 "$CL_DIR/tamper.out"))" \
    grep -q "cli stderr: starling members: the agent at .* refused the RPC token: wrong or missing RPC token$" "$CL_DIR/tamper.out"
n0=$(info_key r1 counters.agent.rpc_auth_failures)
q0=$(info_key r1 counters.agent.rpc_requests)
$RAW proxy "${CL_IP[r1]}" 7373 replay "$STARLING" members >"$CL_DIR/replay.out" 2>&1
q1=$(info_key r1 counters.agent.rpc_requests)
n1=$(info_key r1 counters.agent.rpc_auth_failures)
# q1 counts the members request once, and the info call that reads it.
check "a replayed request is served once ($q0 -> $q1 requests, with one info)" test "$q1" = $((q0 + 2))
check "the replay is counted as a failure ($n0 -> $n1)" test "$n1" = $((n0 + 1))
check "r1 still answers after all that" "$STARLING" members --rpc "$r1"

for n in r1 r2 r4 r5 r6; do kill -TERM "${CL_PID[$n]}"; done
bad=""
for n in r1 r2 r4 r5 r6; do
    wait_exit "$n" 20
    [ "$CL_RC" = 0 ] || bad="$bad $n:$CL_RC"
done
check "every agent exits 0 on SIGTERM${bad:+ (not:$bad)}" test -z "$bad"
cl_finish
