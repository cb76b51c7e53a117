#!/usr/bin/env bash
# State that cannot be poisoned or lost, with real agents on loopback:
#   a corrupt catalog file is moved aside and the catalog refilled from the
#   peers; a second agent on a data dir in use refuses, naming the first;
#   a peer stopped before an `rm` comes back with its old live record after
#   the others restarted (and collected garbage): the service stays deleted;
#   a peer away for longer than the tombstone horizon drops, and never runs,
#   what was deleted meanwhile; idle streams from one address and frames
#   that claim a lot cannot lock joins out or exhaust memory.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami

stop() { # stop NAME: SIGTERM, and wait for the clean exit
    kill -TERM "${CL_PID[$1]}"
    wait_exit "$1" 20
}
has_service() { "$STARLING" services --rpc "$(rpc_of "$1")" | awk '{ print $1 }' | grep -qx "$2"; }
lacks_service() { ! has_service "$@"; }
runs_none_of() { ! "$STARLING" ps --rpc "$(rpc_of "$1")" | awk '{ print $1 }' | grep -qx "$2"; }
field() {
    "$STARLING" info --json --rpc "$(rpc_of "$1")" |
        python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

TTL=12s # the tombstone horizon: short enough for a peer to outlive it here
for i in 1 2 3; do start_with_dir "a$i" "$i" --tombstone-ttl "$TTL"; done
check "3 agents converge" wait_until 20 all_count alive 3 a1 a2 a3

# ---- the data dir is one agent's ----
mkdir -p "$CL_DIR/dup"
"$STARLING" agent --name dup --bind "$(ip_of 9):7946" --rpc "$(ip_of 9):7373" \
    --data-dir "$CL_DIR/data-a1" >"$CL_DIR/dup.out" 2>"$CL_DIR/dup.err"
rc=$?
check "a second agent on a data dir in use exits 1" test "$rc" = 1
check "...naming the pid of the agent that holds it" \
    grep -q "data dir $CL_DIR/data-a1 is in use by another agent (pid ${CL_PID[a1]})" "$CL_DIR/dup.err"

# ---- a corrupt catalog file ----
"$STARLING" deploy web --replicas 1 --rpc "$(rpc_of a2)" -- "$WHOAMI" >/dev/null
check "a1 learns web" wait_until 20 has_service a1 web
stop a1
head -c 3000 /dev/urandom >"$CL_DIR/data-a1/catalog"
start_with_dir a1 1 --tombstone-ttl "$TTL"
check "a1 starts with a corrupt catalog file" wait_until 20 all_count alive 3 a1 a2 a3
check "a1 says it moved the file aside" grep -q "is corrupt.*moved it to $CL_DIR/data-a1/catalog.corrupt." "$CL_DIR/a1.log"
check "the corrupt file is kept aside" bash -c "ls $CL_DIR/data-a1/catalog.corrupt.* >/dev/null"
check "a1 gets the catalog back from its peers" wait_until 40 has_service a1 web

# ---- a peer away during an rm, the others restarted ----
check "a3 holds web before it stops" has_service a3 web
stop a3
"$STARLING" rm web --rpc "$(rpc_of a1)" >/dev/null
check "a2 learns the rm" wait_until 20 lacks_service a2 web
stop a1
stop a2
start_with_dir a1 1 --tombstone-ttl 10m
start_with_dir a2 2 --tombstone-ttl 10m
gc_after() { [ "$(field "$1" "s['security']['catalog']['gc_runs']")" -ge "$2" ]; }
check "the restarted agents collect garbage (tombstones loaded from disk included)" \
    wait_until 30 gc_after a1 2
check "...and keep the tombstone, which is younger than the horizon" \
    test "$(field a1 "s['security']['catalog']['tombstones']")" = 1
start_with_dir a3 3 --tombstone-ttl 10m
check "a3 comes back" wait_until 20 all_count alive 3 a1 a2 a3
synced() { [ "$(field a3 "s['security']['catalog']['tombstones']")" = 1 ]; }
check "a3 learns the rm from the others" wait_until 40 synced
for a in a1 a2 a3; do check "web stays deleted on $a" lacks_service "$a" web; done
check "a3 runs no replica of web" runs_none_of a3 web

# ---- a peer away for longer than the horizon ----
"$STARLING" deploy api --replicas 1 --rpc "$(rpc_of a1)" -- "$WHOAMI" >/dev/null
check "every agent learns api" wait_until 20 bash -c \
    "for a in 1 2 3; do '$STARLING' services --rpc $CL_NET.\$a:7373 | grep -q '^api ' || exit 1; done"
stop a3
stop a1
stop a2
for i in 1 2; do start_with_dir "a$i" "$i" --tombstone-ttl "$TTL"; done
check "a1 and a2 come back" wait_until 20 all_count alive 2 a1 a2
tombstones() { [ "$(field "$1" "s['security']['catalog']['tombstones']")" = "$2" ]; }
none_left() { tombstones a1 0 && tombstones a2 0; }
check "a1 and a2 collect web's old tombstone" wait_until 20 none_left
"$STARLING" rm api --rpc "$(rpc_of a1)" >/dev/null
check "rm api leaves a tombstone on a2" wait_until 20 tombstones a2 1
check "a1 collects api's tombstone once it is older than $TTL" wait_until 40 tombstones a1 0
check "a2 too" wait_until 40 tombstones a2 0
start_with_dir a3 3 --tombstone-ttl "$TTL"
check "a3, back after longer than the horizon, says its old records wait for a current peer" \
    wait_until 20 grep -q "saved longer ago than the tombstone horizon" "$CL_DIR/a3.log"
check "a3 rejoins" wait_until 20 all_count alive 3 a1 a2 a3
current() { [ "$(field a3 "s['security']['catalog']['sync']")" = current ]; }
check "a3's catalog becomes current from a peer" wait_until 40 current
check "a3 dropped api, deleted while it was away" lacks_service a3 api
check "...and counted it" test "$(field a3 "s['security']['catalog']['dropped_stale']")" -ge 1
for a in a1 a2; do check "api did not come back on $a" lacks_service "$a" api; done
this_life() { # this_life NAME: the agent's log since its last start
    local from
    from=$(grep -n 'starting: gossip on' "$CL_DIR/$1.log" | tail -n 1 | cut -d: -f1)
    tail -n +"${from:-1}" "$CL_DIR/$1.log"
}
! this_life a3 | grep -q 'replica api/'
check "a3 never ran api in this life" test $? = 0

# ---- disclosure: a stream client gets nothing before its state checks out ----
cat >"$CL_DIR/peek.py" <<'PY'
import socket, struct, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
# A plain state of another cluster label: version 1, [cluster, join, sender, [], bin]
body = bytes([1]) + b"\x95\xa5intru\xc2\xa5intru\x90\xc4\x00"
s.sendall(struct.pack(">I", len(body)) + body)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
except OSError:
    pass
print(len(got))
PY
check "a stream client whose state is not acceptable gets 0 bytes back" \
    test "$(python3 "$CL_DIR/peek.py" "$(ip_of 1)" 7946)" = 0

# ---- without a data dir: a private directory, gone after a clean stop ----
ln -s /etc "$CL_DIR/starling-p7" # what a local user could plant
start_agent p7 7 --join "$(ip_of 1):7946"
check "p7 joins without a data dir" wait_until 20 sees a1 p7 alive
priv=$(ls -d "$CL_DIR"/starling-p7-?????? 2>/dev/null | head -n 1)
check "p7 keeps its files in a new private directory (mode 700)" \
    test -n "$priv" -a "$(stat -c %a "$priv" 2>/dev/null)" = 700
check "...not in the planted symlink" test -L "$CL_DIR/starling-p7"
kill -TERM "${CL_PID[p7]}"
wait_exit p7 20
check "p7's private directory is removed at a clean stop" test ! -e "$priv"

# ---- exhaustion ----
# Idle streams from one address (127.0.0.1: the source of this script's
# connections, not an agent's) are capped per address: a new agent still
# joins through a1 while they keep coming back.
cat >"$CL_DIR/flood.py" <<'EOF'
import socket, sys, time
host, port, n, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
end = time.time() + secs
socks = []
while time.time() < end:
    socks = [s for s in socks if s.fileno() >= 0]
    while len(socks) < n and time.time() < end:
        try:
            s = socket.create_connection((host, port), timeout=1)
            socks.append(s)
        except OSError:
            time.sleep(0.05)
    for s in list(socks):  # reconnect the ones the agent closed
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                s.close(); socks.remove(s)
        except BlockingIOError:
            pass
        except OSError:
            s.close(); socks.remove(s)
    time.sleep(0.1)
for s in socks:
    s.close()
EOF
python3 "$CL_DIR/flood.py" "$(ip_of 1)" 7946 40 25 &
flood=$!
refused_streams() { [ "$(field a1 "s['counters']['agent']['streams_refused']")" -gt 0 ]; }
check "a1 refuses idle streams past the per-address cap" wait_until 15 refused_streams
start_with_dir a4 4
check "a new agent joins through a1 during the flood" wait_until 20 all_count alive 4 a1 a4
kill "$flood" 2>/dev/null
wait "$flood" 2>/dev/null

# Frames that claim nearly the whole --max-state (1 MB here), all but their
# last KB sent at once from 12 connections: the buffered bytes stay within
# their budget (four states), and the agent is unharmed.
stop a4
start_with_dir a4 4 --max-state 1 --max-streams-per-ip 64 --max-inbound-streams 64
check "a4 rejoins with small limits" wait_until 20 all_count alive 4 a1 a4
cat >"$CL_DIR/frames.py" <<'EOF'
import socket, struct, sys, threading
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
frame = struct.pack(">I", 1000000) + b"\x00" * 999000  # all but the last KB
sent = [0] * n
def one(i):
    try:
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(frame)
        sent[i] = len(frame)
        s.recv(1)  # until the agent closes it (refused, or timed out)
    except OSError:
        pass
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join(20)
print(sum(sent))
EOF
python3 "$CL_DIR/frames.py" "$(ip_of 4)" 7946 12 >/dev/null
rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/${CL_PID[a4]}/status")
check "a4 is alive after 12 frames of ~1 MB (VmRSS ${rss_kb} kB, under 64 MB)" \
    test -n "$rss_kb" -a "${rss_kb:-999999}" -lt 65536
refused4() { [ "$(field a4 "s['counters']['agent']['streams_refused']")" -gt 0 ]; }
check "a4 refused the streams past its stream memory budget" wait_until 10 refused4
check "a4 still sees the cluster" wait_until 20 all_count alive 4 a4

# ---- one error domain: a system error prints the system's message ----
# Our codes once collided with negated errno values: -2 was both ENOENT and
# "out of memory", -5 both EIO and "unsupported wire version".
rm -rf "$CL_DIR/data-a2"
"$STARLING" deploy errs --replicas 1 --rpc "$(rpc_of a1)" -- "$WHOAMI" >/dev/null
check "a2, its data dir gone, says why it cannot save the catalog: the system's words" \
    wait_until 20 grep -q "cannot save the catalog in $CL_DIR/data-a2: No such file or directory" \
    "$CL_DIR/a2.log"
check "...not one of ours" bash -c "! grep -q 'cannot save the catalog.*out of memory' '$CL_DIR/a2.log'"
mkdir -p "$CL_DIR/data-a2"
mkdir -p "$CL_DIR/locked/data"
chmod 700 "$CL_DIR/locked"
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
    skip "an agent that may not enter its data dir says 'Permission denied' (needs root and setpriv to run it as nobody)"
elif ! setpriv --reuid=65534 --regid=65534 --clear-groups "$STARLING" --help >/dev/null 2>&1; then
    skip "an agent that may not enter its data dir says 'Permission denied' (user nobody cannot run $STARLING here)"
else
    setpriv --reuid=65534 --regid=65534 --clear-groups "$STARLING" agent --name locked \
        --bind "$(ip_of 9):7946" --rpc "$(ip_of 9):7373" --rpc-token "$CL_TOKEN" \
        --data-dir "$CL_DIR/locked/data" >"$CL_DIR/locked.out" 2>"$CL_DIR/locked.err" &
    CL_PID[locked]=$!
    wait_exit locked 20
    check "an agent (run as nobody) that may not enter its data dir exits 1" test "$CL_RC" = 1
    check "...saying 'Permission denied', the system's message for EACCES" \
        grep -q "data dir $CL_DIR/locked/data.*Permission denied" "$CL_DIR/locked.err"
fi

cl_finish
