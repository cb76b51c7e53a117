#!/usr/bin/env bash
# Health checks with real agents and the test service (build/svc/whoami):
#   an HTTP check (whoami in HTTP mode, /healthz failing while a file
#   exists): running once it passes; when it starts failing the replica is
#   unhealthy (`where` shows it), restarted (restarts grows), starting while
#   its check fails, running again when it passes; `services` shows the check;
#   an exec check works the same way; an exec check that outlives its timeout
#   is killed each time (new pids, never more than one), and none is left
#   once the service is removed; a drain waits for the successor to pass its
#   check, not merely to start, before the old replica stops; a signed
#   record carries its check to every peer.
# One service at a time, removed before the next, so that placement never
# moves a replica in the middle of a case.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami

# state OBSERVER SERVICE: "status restarts" of replica 0, as `where` says.
state() {
    "$STARLING" where "$2" --rpc "$(rpc_of "$1")" | awk '$2 == 0 { print $4, $6 }'
}
is_state() { [ "$(state "$1" "$2" | awk '{ print $1 }')" = "$3" ]; }
restarts_of() { state "$1" "$2" | awk '{ print $2 }'; }
# gone OBSERVER SERVICE: `where` lists no replica of it any more.
gone() { [ -z "$(state "$1" "$2")" ]; }
remove() {
    "$STARLING" rm "$1" --rpc "$(rpc_of a1)" >/dev/null
    check "rm $1: its replicas are gone" wait_until 20 gone a2 "$1"
}
# restarted OBS SVC STATUS: STATUS, with at least one restart.
restarted() {
    local s
    s=$(state "$1" "$2")
    [ "${s% *}" = "$3" ] && [ "${s#* }" -ge 1 ]
}

for i in 1 2 3; do start_with_dir "a$i" "$i"; done
check "3 agents converge" wait_until 20 all_count alive 3 a1 a2 a3

# ---- an HTTP check ------------------------------------------------------
DOWN=$CL_DIR/hweb.down
"$STARLING" deploy hweb --replicas 1 --rpc "$(rpc_of a1)" --env WHOAMI_HTTP=1 \
    --env "WHOAMI_UNHEALTHY_FILE=$DOWN" --check http:/healthz --check-interval 200ms \
    --check-timeout 500ms --check-failures 2 -- "$WHOAMI" >/dev/null
check "http check: the replica is running once /healthz answers 200" \
    wait_until 20 is_state a2 hweb running
check "services shows the check and one running" \
    sh -c "'$STARLING' services --rpc $(rpc_of a3) | awk '\$1 == \"hweb\" && \$3 == 1 && \$4 == 0 && \$7 == \"http:/healthz\"' | grep -q ."
check "no restart yet" [ "$(restarts_of a2 hweb)" = 0 ]
touch "$DOWN"
check "http check fails (503): where shows the replica unhealthy" \
    wait_until 15 is_state a3 hweb unhealthy
check "then it is restarted, and stays starting while its check fails" \
    wait_until 15 restarted a1 hweb starting
check "services counts no running replica meanwhile" \
    sh -c "'$STARLING' services --rpc $(rpc_of a1) | awk '\$1 == \"hweb\" && \$3 == 0' | grep -q ."
rm -f "$DOWN"
check "its check passes again: running, with its restart counted" \
    wait_until 15 restarted a2 hweb running
host=$("$STARLING" where hweb --rpc "$(rpc_of a1)" | awk '$2 == 0 { print $3 }')
logf=$CL_DIR/data-$host/logs/hweb.0.log
check "the replica's log says why it was restarted" \
    grep -q 'unhealthy: 2 checks (http:/healthz) failed in a row, the last: HTTP status 503' "$logf"
remove hweb

# ---- an exec check ------------------------------------------------------
XDOWN=$CL_DIR/xweb.down
"$STARLING" deploy xweb --replicas 1 --rpc "$(rpc_of a2)" \
    --check "exec:test ! -e '$XDOWN' && test -n \"\$STARLING_PORT\"" --check-interval 200ms \
    --check-failures 2 -- "$WHOAMI" >/dev/null
check "exec check: running once the command exits 0" wait_until 20 is_state a1 xweb running
touch "$XDOWN"
check "exec check exits 1: unhealthy" wait_until 15 is_state a2 xweb unhealthy
check "exec check: restarted and starting" wait_until 15 restarted a3 xweb starting
rm -f "$XDOWN"
check "exec check passes again: running" wait_until 15 restarted a1 xweb running
remove xweb

# ---- an exec check that outlives its timeout -----------------------------
"$STARLING" deploy slow --replicas 1 --rpc "$(rpc_of a3)" --check "exec:sleep 37.25" \
    --check-timeout 300ms -- "$WHOAMI" >/dev/null
sleepers() { pgrep -f '^sleep 37.25' || true; }
check "a check that times out keeps the replica starting" wait_until 15 is_state a1 slow starting
# Sample for 3 s: each check is killed at its timeout (new pids keep coming),
# and there is never more than one (plus, at a sample's instant, the next one
# started before the last was reaped).
declare -A seen=()
most=0
end=$((SECONDS + 3))
while [ $SECONDS -lt $end ]; do
    n=0
    for p in $(sleepers); do seen[$p]=1; n=$((n + 1)); done
    [ $n -gt $most ] && most=$n
    sleep 0.05
done
check "timed-out exec checks are killed: ${#seen[@]} distinct in 3 s (want >= 4)" [ "${#seen[@]}" -ge 4 ]
check "never more than 2 exec checks at once (saw $most)" [ "$most" -le 2 ]
check "still starting, never running" is_state a2 slow starting
"$STARLING" rm slow --rpc "$(rpc_of a1)" >/dev/null
no_sleepers() { [ -z "$(sleepers)" ]; }
check "no exec check left once the service is removed" wait_until 10 no_sleepers

# ---- a drain waits for the successor's check ------------------------------
# The check fails on a node while $CL_DIR/down.NODE exists.
"$STARLING" deploy dweb --replicas 1 --rpc "$(rpc_of a1)" \
    --check "exec:test ! -e '$CL_DIR/down.'\"\$STARLING_NODE\"" --check-interval 200ms \
    -- "$WHOAMI" >/dev/null
check "drain case: running" wait_until 20 is_state a1 dweb running
host=$("$STARLING" where dweb --rpc "$(rpc_of a1)" | awk '$2 == 0 { print $3 }')
for a in a1 a2 a3; do [ "$a" != "$host" ] && touch "$CL_DIR/down.$a"; done
"$STARLING" drain --rpc "$(rpc_of "$host")" >"$CL_DIR/drain.out" 2>&1 &
drain_pid=$!
# rows OBS: "node status" of every dweb row.
rows() { "$STARLING" where dweb --rpc "$(rpc_of "$1")" | awk 'NR > 1 { print $3, $4 }'; }
successor_starting() { rows a1 | grep -v "^$host " | grep -q ' starting$'; }
check "drain: the successor started, its check failing" wait_until 20 successor_starting
held=1
end=$((SECONDS + 6))
while [ $SECONDS -lt $end ]; do
    rows a1 | grep -qx "$host running" || { held=0; break; }
    sleep 0.2
done
check "drain: $host keeps its replica running for 6 s while the successor's check fails" \
    [ "$held" = 1 ]
rm -f "$CL_DIR"/down.*
wait_until 40 bash -c "! kill -0 $drain_pid 2>/dev/null"
wait "$drain_pid"
check "drain ends once the successor passes its check" test $? -eq 0
only_successor() {
    local r
    r=$(rows a2)
    [ "$(echo "$r" | grep -c .)" = 1 ] && ! echo "$r" | grep -q "^$host " &&
        echo "$r" | grep -q ' running$'
}
check "drain: the successor runs it, $host does not" wait_until 20 only_successor

# ---- a signed record carries its check -----------------------------------
"$STARLING" operator-keygen "$CL_DIR/operator.key" >/dev/null
"$STARLING" deploy sweb --replicas 1 --rpc "$(rpc_of a3)" --operator-secret "$CL_DIR/operator.key" \
    --check "exec:test -n \"\$STARLING_PORT\"" --check-failures 4 -- "$WHOAMI" >/dev/null
signed_check() {
    "$STARLING" services --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
s = [x for x in json.load(sys.stdin) if x["name"] == "sweb"]
c = s[0]["check"] if s else {}
sys.exit(0 if s and "signed_by" in s[0] and c.get("spec") == "exec:test -n \"$STARLING_PORT\""
         and c.get("failures") == 4 else 1)'
}
both_signed() { signed_check a1 && signed_check a2; }
check "a signed deploy keeps its check on every peer" wait_until 10 both_signed
check "the signed service runs by its check" wait_until 20 is_state a1 sweb running

cl_finish
