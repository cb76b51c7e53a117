#!/usr/bin/env bash
# The self-healing runtime with real agents on loopback and the project's
# test service (build/svc/whoami, which answers "service=S replica=R node=N
# port=P pid=PID" on STARLING_HOST:STARLING_PORT):
#   deploy 3 replicas on 5 agents: all answer where `where` says, on distinct
#   agents; kill -9 a host: 3 running again on live agents, and its replica
#   died with it; a sixth agent joins: never fewer than 3 running meanwhile;
#   scale 3 -> 5 -> 1; rm: every replica process is gone; restart every
#   agent: catalog and replicas come back; two concurrent deploys: every
#   agent converges to the same spec.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami

# where_rows OBSERVER SERVICE: "replica node status addr" lines.
where_rows() {
    "$STARLING" where "$2" --rpc "$(rpc_of "$1")" | tail -n +2 | awk '{ print $2, $3, $4, $5 }'
}
running_count() { where_rows "$1" "$2" | awk '$3 == "running"' | wc -l; }
has_running() { [ "$(running_count "$1" "$2")" -eq "$3" ]; }
# running_low SERVICE FROM_MS TO_MS AGENT...: "LOW AT_MS", the fewest replicas
# of SERVICE running over the window by the agents' own logs (running_low.py).
running_low() {
    local svc=$1 from=$2 to=$3 a logs=()
    shift 3
    for a in "$@"; do logs+=("$CL_DIR/$a.log"); done
    python3 "$(dirname "$0")/running_low.py" "$svc" "$from" "$to" "${logs[@]}"
}
live_agents() { for a in a1 a2 a3 a4 a5 a6; do [ -n "${CL_PID[$a]:-}" ] && echo "$a"; done; }

# answers ADDR: the whoami line of the replica at host:port.
answers() {
    local host=${1%:*} port=${1##*:}
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && head -n 1 <&3" 2>/dev/null
}

# all_answer OBSERVER SERVICE N: N running replicas, each answering as itself
# on the address `where` gives, on N distinct nodes.
all_answer() {
    local obs=$1 svc=$2 n=$3 rows line nodes
    rows=$(where_rows "$obs" "$svc" | awk '$3 == "running"')
    [ "$(echo "$rows" | grep -c .)" -eq "$n" ] || return 1
    nodes=$(echo "$rows" | awk '{ print $2 }' | sort -u | wc -l)
    [ "$nodes" -eq "$n" ] || return 1
    while read -r replica node status addr; do
        line=$(answers "$addr")
        [[ $line == "service=$svc replica=$replica node=$node "* ]] || return 1
    done <<<"$rows"
}

pids_of() { # pids_of AGENT: pids of the replicas AGENT runs
    "$STARLING" ps --json --rpc "$(rpc_of "$1")" | grep -o '"pid":[0-9]*' | cut -d: -f2
}

for i in 1 2 3 4 5; do start_with_dir "a$i" "$i"; done
check "5 agents converge" wait_until 20 all_count alive 5 a1 a2 a3 a4 a5

"$STARLING" deploy web --replicas 3 --rpc "$(rpc_of a2)" -- "$WHOAMI" >/dev/null
check "deploy: 3 replicas answer on distinct agents at the addresses where gives" \
    wait_until 30 all_answer a5 web 3
# Reports spread by gossip (a few retransmissions each) and by push-pull
# (every 15 s in the local profile): allow one push-pull interval.
where_sig() { "$STARLING" where web --rpc "$(rpc_of "$1")" | tail -n +2 | sort | md5sum; }
where_agree() {
    local first o
    first=$(where_sig "$1")
    for o in "$@"; do [ "$(where_sig "$o")" = "$first" ] || return 1; done
}
check "every agent's where agrees" wait_until 20 where_agree a1 a2 a3 a4 a5

# kill -9 an agent hosting a replica (never a1, the seed of later joins).
victim=$(where_rows a1 web | awk '$2 != "a1" { print $2; exit }')
victim_pids=$(pids_of "$victim" | tr '\n' ' ')
kill9 "$victim"
check "kill -9 $victim: 3 replicas running again on live agents" \
    wait_until 40 all_answer a1 web 3
check "the killed agent's replicas died with it" \
    wait_until 10 bash -c "for p in $victim_pids; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0"
! where_rows a1 web | awk '{print $2}' | grep -qx "$victim"
check "no replica is reported on the dead agent" test $? -eq 0

# A sixth agent joins: placement moves about a fair share to it, make before
# break. The running count is read from the agents' own logs (every status
# change, to the millisecond), over the 25 s the rebalance takes.
t0=$(date +%s%3N)
start_with_dir a6 6
low=3
deadline=$((SECONDS + 25 * CL_SLOW))
while [ $SECONDS -lt $deadline ] && [ "$low" -ge 3 ]; do
    read -r low at < <(running_low web "$t0" "$(date +%s%3N)" $(live_agents))
    sleep 0.5
done
check "a sixth agent joins: never fewer than 3 running, by the agents' logs (lowest: $low)" \
    test "$low" -ge 3
check "after the rebalance: 3 replicas answer" wait_until 20 all_answer a1 web 3

"$STARLING" scale web 5 --rpc "$(rpc_of a3)" >/dev/null
check "scale 3 -> 5" wait_until 30 all_answer a4 web 5
"$STARLING" scale web 1 --rpc "$(rpc_of a4)" >/dev/null
check "scale 5 -> 1" wait_until 30 all_answer a1 web 1

all_pids() { for a in "$@"; do pids_of "$a"; done; }
live=$(for a in a1 a2 a3 a4 a5 a6; do [ -n "${CL_PID[$a]:-}" ] && echo "$a"; done | tr '\n' ' ')
obs=$(echo $live | awk '{ print $NF }') # a live observer (the victim is gone)
pids=$(all_pids $live | tr '\n' ' ')
"$STARLING" rm web --rpc "$(rpc_of a1)" >/dev/null
check "rm: every agent runs no replica" wait_until 30 bash -c \
    "for a in $(echo $live); do [ \"\$($STARLING ps --rpc $CL_NET.\${a#a}:7373 | tail -n +2 | wc -l)\" = 0 ] || exit 1; done"
check "rm: every replica process is gone" wait_until 10 bash -c \
    "for p in $pids; do kill -0 \$p 2>/dev/null && exit 1; done; exit 0"

# Full restart: the catalog survives in the data dirs.
"$STARLING" deploy api --replicas 2 --rpc "$(rpc_of a1)" -- "$WHOAMI" >/dev/null
check "deploy api: 2 replicas answer" wait_until 30 all_answer "$obs" api 2
for a in $live; do kill -TERM "${CL_PID[$a]}"; done
for a in $live; do wait_exit "$a" 20; done
for a in $live; do start_with_dir "$a" "${a#a}"; done
check "full restart: members come back" wait_until 30 all_count alive "$(echo $live | wc -w)" $live
check "full restart: api's 2 replicas run again" wait_until 40 all_answer "$obs" api 2
! "$STARLING" services --rpc "$(rpc_of "$obs")" | grep -q '^web '
check "full restart: the removed service stays removed" test $? -eq 0

# Two peers deploy conflicting specs at once: one wins everywhere.
"$STARLING" deploy dup --replicas 1 --rpc "$(rpc_of a1)" -- "$WHOAMI" >/dev/null &
d1=$!
"$STARLING" deploy dup --replicas 2 --rpc "$(rpc_of a5)" -- "$WHOAMI" >/dev/null &
d2=$!
wait "$d1" "$d2" # only these two: a bare wait would wait for the agents too
spec_of() { "$STARLING" services --rpc "$(rpc_of "$1")" | awk '$1 == "dup" { print $2 }'; }
same_spec() {
    local first o
    first=$(spec_of a1)
    [ -n "$first" ] || return 1
    for o in $live; do [ "$(spec_of "$o")" = "$first" ] || return 1; done
}
check "concurrent deploys: every agent holds the same spec" wait_until 20 same_spec
n=$(spec_of a1)
check "concurrent deploys: the winner's $n replicas run" wait_until 30 all_answer "$obs" dup "$n"

# Redeploy with a new environment: the replicas restart with it.
svc_pids() { # svc_pids SERVICE: the pids of its replicas on every live agent, sorted
    local a
    for a in $live; do
        "$STARLING" ps --json --rpc "$(rpc_of "$a")" 2>/dev/null | grep -o '{[^}]*}' |
            grep "\"service\":\"$1\"" | grep -o '"pid":[0-9]*' | cut -d: -f2
    done | sort -n | tr '\n' ' '
}
old_pids=$(svc_pids dup)
"$STARLING" deploy dup --replicas "$n" --env VERSION=2 --min-healthy 1 --rpc "$(rpc_of a1)" \
    -- "$WHOAMI" >/dev/null
all_new() {
    local now p
    now=$(svc_pids dup)
    [ "$(echo $now | wc -w)" -eq "$n" ] || return 1
    for p in $now; do [[ " $old_pids " == *" $p "* ]] && return 1; done
    return 0
}
check "redeploy with a new environment restarts the replicas" wait_until 30 all_new
check "redeploy: the winner's $n replicas answer again" wait_until 30 all_answer "$obs" dup "$n"

# Drain an agent that hosts a replica of api: it hands it over (make before
# break) and ends up running nothing, while api stays at two.
on_node() { where_rows "$obs" api | awk '{ print $2 }' | grep -qx "$1"; }
drained=$(where_rows "$obs" api | awk '$3 == "running" { print $2; exit }')
t0=$(date +%s%3N)
"$STARLING" drain --rpc "$(rpc_of "$drained")" >"$CL_DIR/drain.out" 2>&1 &
drain_pid=$!
wait_until 60 bash -c "! kill -0 $drain_pid 2>/dev/null"
wait "$drain_pid"
check "drain $drained: the command ends once it runs nothing" test $? -eq 0
read -r low at < <(running_low api "$t0" "$(date +%s%3N)" $live)
check "drain: never fewer than 2 api replicas running, by the agents' logs (lowest: $low)" \
    test "$low" -ge 2
not_on_node() { ! on_node "$1"; }
check "drain: no replica is left on $drained" wait_until 20 not_on_node "$drained"
check "drain: 2 api replicas answer" wait_until 20 all_answer "$obs" api 2

cl_finish
