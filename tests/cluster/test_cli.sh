#!/usr/bin/env bash
# The agent's and the CLI's edges, with real agents on loopback: clear errors
# and exit codes, --help, RPC join / leave / monitor, the data dir (restart
# without --join rejoins), cluster labels, and garbage on every port.
cd "$(dirname "$0")/../.." || exit 2
. tests/cluster/lib.sh

nobody=$(ip_of 250):7373
expect_fail 1 "^starling members: cannot reach agent at $nobody: connection refused$" \
    "an unreachable agent is one clear line and exit 1" "$STARLING" members --rpc "$nobody"
expect_fail 2 "unknown option '--bogus'" "a bad agent flag exits 2" "$STARLING" agent --bogus
expect_fail 2 "advertise must be an address others can reach" "--advertise 0.0.0.0 is refused" \
    "$STARLING" agent --bind "$(ip_of 9):7946" --advertise 0.0.0.0:7946
expect_fail 2 "--profile must be lan, local or wan" "a bad profile exits 2" \
    "$STARLING" agent --profile fast
expect_fail 2 "--status must be alive, suspect, dead or left" "a bad --status exits 2" \
    "$STARLING" members --status zombie
expect_fail 2 "wants HOST:PORT" "a --join without a port exits 2" "$STARLING" agent --join nowhere
for c in agent members info join leave monitor; do
    check "starling $c --help prints its usage and exits 0" \
        sh -c "'$STARLING' $c --help | grep -q '^Usage: starling $c'"
done

start_agent a1 1
check "a1 answers info" wait_until 10 sh -c "'$STARLING' info --rpc $(rpc_of a1) | grep -q '^name  *a1$'"

# A second agent on a1's gossip address: one line, exit 1.
expect_fail 1 "^starling agent: cannot bind gossip UDP $(gossip_of a1): address already in use$" \
    "a busy gossip port is one clear line and exit 1" \
    "$STARLING" agent --name dup --bind "$(gossip_of a1)" --rpc "$(ip_of 2):7373"
expect_fail 1 "^starling agent: cannot bind RPC $(rpc_of a1): address already in use$" \
    "a busy RPC port is one clear line and exit 1" \
    "$STARLING" agent --name dup --bind "$(ip_of 2):7946" --rpc "$(rpc_of a1)"

# Garbage on every port must not hurt: a msgpack array that claims 64M
# elements, a frame header claiming 4 GiB, random datagrams.
{
    exec 3<>"/dev/tcp/${CL_IP[a1]}/7373" && printf '\x00\x00\x00\x05\xdd\x04\x00\x00\x00' >&3
    exec 3>&-
    exec 3<>"/dev/tcp/${CL_IP[a1]}/7373" && printf '\xff\xff\xff\xff\x01\x02' >&3
    exec 3>&-
    exec 3<>"/dev/tcp/${CL_IP[a1]}/7946" && printf '\x00\x00\x00\x05\xdd\x04\x00\x00\x00' >&3
    exec 3>&-
    exec 3<>"/dev/tcp/${CL_IP[a1]}/7946" && printf '\xff\xff\xff\xff' >&3
    exec 3>&-
    for i in 1 2 3 4 5; do head -c 300 /dev/urandom >"/dev/udp/${CL_IP[a1]}/7946"; done
    # Random payloads behind well-formed frame headers reach the decoders.
    for i in $(seq 1 40); do
        len=$((RANDOM % 200 + 1))
        port=$((i % 2 ? 7373 : 7946))
        exec 3<>"/dev/tcp/${CL_IP[a1]}/$port" || continue
        printf "\\x00\\x00\\x$(printf %02x $((len >> 8)))\\x$(printf %02x $((len & 255)))" >&3
        head -c "$len" /dev/urandom >&3
        exec 3>&-
    done
} 2>/dev/null
check "garbage on the RPC, stream and UDP ports leaves the agent answering" \
    wait_until 5 sees a1 a1 alive

# Join over RPC, then a join that cannot succeed.
start_agent a2 2
wait_until 10 sees a2 a2 alive
check "starling join makes a2 join a1" \
    sh -c "'$STARLING' join --rpc $(rpc_of a2) $(gossip_of a1) | grep -q '^joined 1 of 1 peer$'"
check "a1 and a2 both list two alive members" wait_until 10 all_count alive 2 a1 a2
expect_fail 1 "^starling join: cannot join: connection refused$" \
    "a join nobody answers is one clear line and exit 1" \
    "$STARLING" join --rpc "$(rpc_of a2)" "$(ip_of 250):7946"

# Monitor streams events.
"$STARLING" monitor --rpc "$(rpc_of a1)" --json >"$CL_DIR/monitor.out" 2>&1 &
mon=$!
check "info counts the monitor client" \
    wait_until 5 sh -c "'$STARLING' info --rpc $(rpc_of a1) --json | grep -q '\"monitors\":1'"
start_agent a3 3 --join "$(gossip_of a1)"
check "monitor streams a3's join" \
    wait_until 10 grep -q '"event":"joined","name":"a3","addr":"'"$(gossip_of a3)"'","status":"alive"' \
    "$CL_DIR/monitor.out"
check "a1 and a2 know a3" wait_until 10 all_see alive a3 a1 a2

# Leave over RPC: the agent leaves, exits 0, and is "left" at the others.
check "starling leave stops a3 after its leave spread" \
    sh -c "'$STARLING' leave --rpc $(rpc_of a3) | grep -q 'left the cluster and stopped'"
wait_exit a3 10
check "a3 exited 0 after starling leave (got $CL_RC)" test "$CL_RC" = 0
check "a3 is left at a1 and a2" wait_until 10 all_see left a3 a1 a2
check "monitor streams a3's leave" wait_until 10 grep -q '"event":"left","name":"a3"' "$CL_DIR/monitor.out"
kill -INT $mon
wait $mon
check "monitor exits 0 when interrupted" test $? = 0

# The data dir: a restart without --join rejoins the remembered peers, with a
# larger boot generation.
mkdir -p "$CL_DIR/a4"
start_agent a4 4 --join "$(gossip_of a1)" --data-dir "$CL_DIR/a4"
check "a4 joins" wait_until 10 all_see alive a4 a1 a2
check "a4 remembers its peers in its data dir" \
    wait_until 5 grep -q "^a1 $(gossip_of a1)\$" "$CL_DIR/a4/peers"
gen1=$(cat "$CL_DIR/a4/generation")
kill9 a4
check "a4 killed is dead at a1" wait_until 30 sees a1 a4 dead
start_agent a4 4 --data-dir "$CL_DIR/a4"
check "a4 restarted without --join rejoins what it knew" wait_until 20 all_see alive a4 a1 a2
gen2=$(cat "$CL_DIR/a4/generation")
check "a4's boot generation grew across the restart ($gen1 -> $gen2)" test "$gen2" -gt "$gen1"

# Another cluster label cannot join.
start_agent b1 5 --cluster other
wait_until 10 sees b1 b1 alive
expect_fail 1 "^starling join: cannot join" "an agent of another cluster label cannot join" \
    "$STARLING" join --rpc "$(rpc_of b1)" "$(gossip_of a1)"
check "a1 does not list b1" test -z "$(status_of a1 b1)"

# --rpc-idle: a client that connects and says nothing is disconnected after
# the idle time, not before; a monitor, silent too, is not.
start_agent i1 6 --rpc-idle 1
check "i1 answers info" wait_until 10 "$STARLING" info --rpc "$(rpc_of i1)"
"$STARLING" monitor --rpc "$(rpc_of i1)" >/dev/null 2>&1 &
mon=$!
check "i1 counts its monitor" \
    wait_until 5 sh -c "'$STARLING' info --rpc $(rpc_of i1) --json | grep -q '\"monitors\":1'"
if exec {idle}<>"/dev/tcp/${CL_IP[i1]}/7373"; then
    t0=$EPOCHREALTIME
    read -r -t $((10 * CL_SLOW)) -u "$idle" _
    rc=$?
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    exec {idle}>&-
    check "a silent RPC client is disconnected after --rpc-idle 1 (read status $rc after $took s)" \
        awk -v rc="$rc" -v t="$took" 'BEGIN { exit !(rc == 1 && t >= 0.9) }'
else
    fail "cannot connect to i1's RPC port"
fi
check "the monitor, silent for longer, is still connected" \
    sh -c "kill -0 $mon && '$STARLING' info --rpc $(rpc_of i1) --json | grep -q '\"monitors\":1'"
kill -INT "$mon" 2>/dev/null
wait "$mon" 2>/dev/null

for n in a1 a2 a4 b1 i1; do kill -TERM "${CL_PID[$n]}"; done
bad=""
for n in a1 a2 a4 b1 i1; do
    wait_exit "$n" 20
    [ "$CL_RC" = 0 ] || bad="$bad $n:$CL_RC"
done
check "every agent exits 0 on SIGTERM${bad:+ (not:$bad)}" test -z "$bad"
cl_finish
