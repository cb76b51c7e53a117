#!/usr/bin/env bash
# A replica that cannot run where it is placed moves, with real agents: the
# service's command is the test service (build/svc/whoami) reached through
# a per-agent path, $CL_DIR/bin/$STARLING_NODE/svc. Once the replica runs,
# its binary is removed on its agent only and the replica killed: that
# agent fails to start it again, gives it up after 3 failed starts in a row
# (`where` shows it "gave-up" there), and another agent runs it: the service
# is back at its count, answering, while the first agent still lacks the
# binary.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami

for a in a1 a2 a3; do
    mkdir -p "$CL_DIR/bin/$a"
    ln -s "$WHOAMI" "$CL_DIR/bin/$a/svc"
done

# where_rows OBSERVER: "replica node status addr" lines of web.
where_rows() {
    "$STARLING" where web --rpc "$(rpc_of "$1")" | tail -n +2 | awk '{ print $2, $3, $4, $5 }'
}
running_on() { where_rows "$1" | awk '$1 == 0 && $3 == "running" { print $2 }'; }
runs_elsewhere() { # runs_elsewhere OBSERVER NODE: replica 0 runs, not on NODE
    local on
    on=$(running_on "$1")
    [ -n "$on" ] && [ "$on" != "$2" ]
}
gave_up_on() { where_rows "$1" | awk -v n="$2" '$1 == 0 && $2 == n && $3 == "gave-up"' | grep -q .; }
answers() {
    local host=${1%:*} port=${1##*:}
    timeout 2 bash -c "exec 3<>/dev/tcp/$host/$port && head -n 1 <&3" 2>/dev/null
}
answers_as_itself() { # answers_as_itself OBSERVER: replica 0 answers where `where` says
    local row node addr
    row=$(where_rows "$1" | awk '$1 == 0 && $3 == "running"')
    node=$(echo "$row" | awk '{ print $2 }')
    addr=$(echo "$row" | awk '{ print $4 }')
    [[ $(answers "$addr") == "service=web replica=0 node=$node "* ]]
}

for i in 1 2 3; do start_with_dir "a$i" "$i"; done
check "3 agents converge" wait_until 20 all_count alive 3 a1 a2 a3

"$STARLING" deploy web --replicas 1 --rpc "$(rpc_of a1)" -- \
    /bin/sh -c "exec $CL_DIR/bin/\$STARLING_NODE/svc" >/dev/null
check "web runs on one agent" wait_until 30 answers_as_itself a1
first=$(running_on a1)
echo "web/0 runs on $first"

pid=$("$STARLING" ps --json --rpc "$(rpc_of "$first")" | grep -o '"pid":[0-9]*' | head -n 1 |
    cut -d: -f2)
rm "$CL_DIR/bin/$first/svc"
[ -n "$pid" ] && kill -9 "$pid"
check "its agent gives it up after failing to start it (where: gave-up)" \
    wait_until 40 gave_up_on a1 "$first"
check "another agent runs it, and it answers there" wait_until 40 runs_elsewhere a1 "$first"
check "the moved replica answers as itself" wait_until 20 answers_as_itself a1
everyone_sees_it_moved() { runs_elsewhere a2 "$first" && runs_elsewhere a3 "$first"; }
check "every agent sees it running elsewhere" wait_until 20 everyone_sees_it_moved
grep -q "failed to start 3 times in a row: giving it up" "$CL_DIR/$first.log" &&
    pass "the log of $first says it gave web/0 up" || fail "no give-up line in $first's log"

cl_finish
