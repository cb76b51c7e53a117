#!/usr/bin/env bash
# Rolling updates where agents run only what an operator signed: an agent
# cannot write the catalog, so --auto-revert rests on the revert record
# the CLI signs with the deploy (option 15, sl_service_revert_of).
#   - a signed deploy of a broken version with --auto-revert: the surge
#     replica tries it, the old replicas keep running, and past the
#     progress deadline the agent that runs the surge writes the signed
#     revert: the catalog holds the old spec again (writer auto-revert), the
#     surge replica goes, the old replicas were never restarted;
#   - the same without --auto-revert: it halts and stays halted (the old
#     replicas run, the catalog keeps the broken spec), and the log says so;
#     a signed `rollback` then ends it.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami
pub=$("$STARLING" operator-keygen "$CL_DIR/operator.key")
export STARLING_OPERATOR_SECRET=$CL_DIR/operator.key

for i in 1 2 3 4; do start_with_dir "a$i" "$i" --operator-key "$pub"; done
check "4 agents that trust one operator key converge" wait_until 30 all_count alive 4 a1 a2 a3 a4

# py OBS CMD PYTHON: runs `starling CMD web --json` on OBS and prints PYTHON
# of its parsed output d.
py() {
    "$STARLING" $2 --json --rpc "$(rpc_of "$1")" | python3 -c "import json,sys; d=json.load(sys.stdin); print($3)"
}
svc() { py "$1" services "[s for s in d if s['name'] == 'web'][0]$2"; }
env_has() { svc "$1" "['env']" | grep -q "'$2'"; }
running_of() { # running_of OBS VERSION: replicas 0..1 running VERSION
    "$STARLING" where web --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if r["replica"] < 2 and r["status"] == "running" and r["version"] == sys.argv[1]))
' "$2"
}
surges() {
    "$STARLING" where web --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin) if r["replica"] >= 2))'
}
restarts() { # restarts OBS: the sum of replicas 0..1's restarts
    "$STARLING" where web --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
print(sum(r["restarts"] for r in json.load(sys.stdin) if r["replica"] < 2))'
}
deploy() { # deploy VIA [flags...]: signed (STARLING_OPERATOR_SECRET)
    local via=$1
    shift
    "$STARLING" deploy web --replicas 2 --rpc "$(rpc_of "$via")" --env WHOAMI_HTTP=1 \
        --check http:/healthz --check-interval 200ms --check-failures 2 --min-healthy 1 "$@" \
        -- "$WHOAMI" >/dev/null
}
# predicates for check / wait_until (shell functions: never through sh -c)
runs_n() { [ "$(running_of "$1" "$2")" = "$3" ]; }       # runs_n OBS VERSION N
surge_at_least() { [ "$(surges "$1")" -ge "$2" ]; }
no_surge() { [ "$(surges "$1")" = 0 ]; }
restarts_are() { [ "$(restarts "$1")" = "$2" ]; }
writer_is() { [ "$(svc "$1" "['writer']")" = "$2" ]; }
signed_revert() { # the catalog holds V=2 with a revert signed in advance
    local j
    j=$("$STARLING" services --json --rpc "$(rpc_of "$1")")
    echo "$j" | grep -q '"V=2"' && echo "$j" | grep -q '"revert_signed": *true'
}
one_version() { v=$(py "$1" "where web" "' '.join(sorted({r['version'] for r in d if r['status'] == 'running'}))") && [ -n "$v" ] && [ "${v// /}" = "$v" ]; }

deploy a1 --env V=1
check "v1 (signed): 2 replicas running" wait_until 40 one_version a2
V1=$(py a2 "where web" "d[0]['version']")
check "v1: both run it" wait_until 20 runs_n a3 "$V1" 2
r0=$(restarts a3)

# ---- auto-revert, signed in advance ------------------------------------
BAD=$CL_DIR/bad
touch "$BAD"
deploy a2 --env V=2 --env "WHOAMI_UNHEALTHY_FILE=$BAD" --progress-deadline 10s --auto-revert
check "v2 (broken, signed, --auto-revert): the catalog holds it, with a signed revert" \
    wait_until 10 signed_revert a2
check "v2: a surge replica tries it" wait_until 20 surge_at_least a1 1
check "v2: both v1 replicas keep running (as a3 saw them start)" runs_n a3 "$V1" 2
check "v2: past the deadline an agent writes the signed revert: the catalog holds V=1" \
    wait_until 40 env_has a3 V=1
check "v2: the revert's writer is auto-revert" writer_is a1 auto-revert
check "v2: the surge replica goes" wait_until 30 no_surge a4
check "v2: the v1 replicas ran throughout" runs_n a2 "$V1" 2
check "v2: and were never restarted" restarts_are a2 "$r0"
check "an agent logged the revert" grep -q "reverting to the previous version" "$CL_DIR"/a*.log
no_failed_revert() { ! grep -q 'cannot revert' "$CL_DIR"/a*.log; }
check "no agent failed to write it" no_failed_revert

# ---- no auto-revert: it halts and stays halted --------------------------
deploy a3 --env V=3 --env "WHOAMI_UNHEALTHY_FILE=$BAD" --progress-deadline 4s
check "v3 (broken, no --auto-revert): a surge replica tries it" wait_until 20 surge_at_least a1 1
check "v3: the rollout halts (logged)" wait_until 30 grep -q "the rollout of web halted" "$CL_DIR"/a*.log
check "v3: after the deadline the catalog still holds V=3" env_has a2 V=3
check "v3: and both v1 replicas still run" runs_n a4 "$V1" 2
"$STARLING" rollback web --rpc "$(rpc_of a4)" >/dev/null
check "a signed rollback ends it: V=1 again" wait_until 20 env_has a1 V=1
check "and the surge replica goes" wait_until 30 no_surge a2
check "the v1 replicas were never restarted" restarts_are a3 "$r0"
rm -f "$BAD"

cl_finish
