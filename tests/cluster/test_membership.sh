#!/usr/bin/env bash
# Ten real agents on loopback: they converge; a `kill -9` is reported dead by
# every other peer; the same name restarted is alive everywhere again; SIGTERM
# makes a peer "left" everywhere and exits 0; and the RPC of every peer
# answers the same membership.
cd "$(dirname "$0")/../.." || exit 2
. tests/cluster/lib.sh

N=10
all=()
for i in $(seq 1 $N); do all+=("n$i"); done
others() { # the peers other than $1
    local n
    for n in "${all[@]}"; do [ "$n" != "$1" ] && echo "$n"; done
}

# n1 starts alone; odd peers join n1, even peers join n2 (which may not be up
# yet: joins are retried with backoff).
start_agent n1 11
for i in $(seq 2 $N); do
    if [ $((i % 2)) = 0 ] && [ "$i" != 2 ]; then seed=$(ip_of 12); else seed=$(ip_of 11); fi
    start_agent "n$i" $((10 + i)) --join "$seed:7946" --zone "z$((i % 3))" --tag "idx=$i"
done

if wait_until 30 all_count alive $N "${all[@]}"; then
    pass "$N agents converge: every peer lists $N alive members"
else
    fail "$N agents converge"
    for n in "${all[@]}"; do echo "$n sees $(count_status "$n" alive) alive"; done
fi
check "the RPC of every peer answers the same membership" same_view "${all[@]}"

json=$(members n3 --json)
check "members --json lists $N objects with name, addr, status, incarnation, zone, tags" \
    test "$(grep -o '"name":"n[0-9]*","addr":"[0-9.]*:7946","status":"alive","incarnation":{"gen":[0-9]*,"ctr":[0-9]*},"zone":"[^"]*","tags":{' <<<"$json" | wc -l)" -eq $N
# (Its tags also hold starling.rpc, the RPC address every agent advertises.)
check "metadata spreads: n4 is in zone z1 with tag idx=4 as n9 sees it" \
    sh -c "'$STARLING' members --rpc $(rpc_of n9) | awk '\$1 == \"n4\" && \$5 == \"z1\" && \$6 ~ /(^|,)idx=4(,|\$)/' | grep -q n4"

# kill -9: every other peer must report it dead.
kill9 n5
t0=$SECONDS
mapfile -t rest < <(others n5)
if wait_until 40 all_see dead n5 "${rest[@]}"; then
    pass "kill -9 of n5 is reported dead by all $((N - 1)) others ($((SECONDS - t0)) s)"
else
    fail "kill -9 of n5 is reported dead by all others"
    for n in "${rest[@]}"; do echo "$n sees n5 as $(status_of "$n" n5)"; done
fi

# The same name restarted: alive everywhere, with a larger generation.
start_agent n5 15 --join "$(ip_of 11):7946"
if wait_until 30 all_see alive n5 "${all[@]}"; then
    pass "n5 restarted under the same name is alive everywhere"
else
    fail "n5 restarted under the same name is alive everywhere"
    for n in "${all[@]}"; do echo "$n sees n5 as $(status_of "$n" n5)"; done
fi
check "after the restart every peer answers the same membership" \
    wait_until 10 same_view "${all[@]}"

# SIGTERM: a graceful leave, exit 0, "left" everywhere.
kill -TERM "${CL_PID[n7]}"
wait_exit n7 20
check "SIGTERM makes the agent exit 0 (got $CL_RC)" test "$CL_RC" = 0
mapfile -t rest < <(others n7)
if wait_until 20 all_see left n7 "${rest[@]}"; then
    pass "after SIGTERM n7 is 'left' at every other peer"
else
    fail "after SIGTERM n7 is 'left' at every other peer"
    for n in "${rest[@]}"; do echo "$n sees n7 as $(status_of "$n" n7)"; done
fi
check "the others still agree on one membership" wait_until 10 same_view "${rest[@]}"
check "no peer lists a dead member" all_count dead 0 "${rest[@]}"

# Everyone stops cleanly.
for n in "${rest[@]}"; do kill -TERM "${CL_PID[$n]}"; done
bad=""
for n in "${rest[@]}"; do
    wait_exit "$n" 20
    [ "$CL_RC" = 0 ] || bad="$bad $n:$CL_RC"
done
check "every agent exits 0 on SIGTERM${bad:+ (not:$bad)}" test -z "$bad"
cl_finish
