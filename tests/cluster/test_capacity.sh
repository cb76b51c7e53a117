#!/usr/bin/env bash
# Resource requests must fit what agents advertise: three agents, one with
# 1000 millicores and two with 200; a service of 2 replicas asking 500
# millicores each fits only the first, so exactly one replica runs, there.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami

start_agent big 1 --cpu 1000 --mem 4096
start_agent small1 2 --cpu 200 --join "$(ip_of 1):7946"
start_agent small2 3 --cpu 200 --mem 64 --join "$(ip_of 1):7946"
check "3 agents converge" wait_until 20 all_count alive 3 big small1 small2

"$STARLING" deploy heavy --replicas 2 --cpu 500 --rpc "$(rpc_of small1)" -- "$WHOAMI" >/dev/null
rows() { "$STARLING" where heavy --rpc "$(rpc_of "$1")" | tail -n +2 | awk '$4 == "running" { print $3 }'; }
only_on_big() { [ "$(rows small2)" = "big" ]; }
check "a 500-millicore replica runs only where 1000 are advertised" wait_until 30 only_on_big
running_of() { "$STARLING" services --rpc "$(rpc_of "$1")" | awk '$1 == "heavy" { print $2, $3 }'; }
two_wanted_one_running() { [ "$(running_of small1)" = "2 1" ]; }
check "services: 2 wanted, 1 running" wait_until 10 two_wanted_one_running

# A light service fits everywhere, and memory counts too: 128 MB does not fit
# small2's 64.
"$STARLING" deploy light --replicas 3 --cpu 100 --mem 128 --rpc "$(rpc_of big)" -- "$WHOAMI" >/dev/null
light_nodes() { "$STARLING" where light --rpc "$(rpc_of big)" | tail -n +2 | awk '$4 == "running" { print $3 }' | sort | tr '\n' ' '; }
skips_small2() { [ "$(light_nodes)" = "big small1 " ]; }
check "128 MB replicas skip the 64 MB agent (2 of 3 placed)" wait_until 30 skips_small2

cl_finish
