#!/usr/bin/env bash
# Rolling updates with real agents and the test service (build/svc/whoami,
# HTTP mode, an HTTP check):
#   - a redeploy of 5 replicas with another environment (max-unavailable 0,
#     max-surge 1, the defaults) never shows fewer than 5 running replicas
#     in `where` (sampled every 100 ms) and ends with all 5 on the new
#     version and the surge replica gone; `rollout` says complete;
#   - a broken version (its check fails) halts after the surge replica: the
#     5 old replicas keep running and no other is restarted; with
#     --auto-revert, past --progress-deadline the catalog holds the old spec
#     again and the surge replica goes;
#   - `rollback` writes the previous version back, rolled out the same way;
#   - killing the peer that started a rollout in the middle does not stop
#     it: the others finish it.
. "$(dirname "$0")/lib.sh"
WHOAMI=$BUILD/svc/whoami
[ -x "$WHOAMI" ] || { echo "FAIL: $WHOAMI is missing; run make first"; exit 1; }
WHOAMI=$(cd "$(dirname "$WHOAMI")" && pwd)/whoami
WATCH=$(dirname "$0")/rollout_watch.py

for i in 1 2 3 4 5 6; do start_with_dir "a$i" "$i"; done
check "6 agents converge" wait_until 30 all_count alive 6 a1 a2 a3 a4 a5 a6

# where_json OBS: the replicas of web as OBS's `where --json` lists them.
# versions OBS STATUS: the distinct versions of replicas 0..4 in STATUS.
versions() {
    "$STARLING" where web --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
reps = json.load(sys.stdin)
print(" ".join(sorted({r["version"] for r in reps if r["replica"] < 5 and r["status"] == sys.argv[1]})))
' "$2"
}
# count OBS STATUS VERSION [MIN_INDEX]: replicas in STATUS running VERSION
# ("any": whatever version), of index MIN_INDEX or more (default 0).
count() {
    "$STARLING" where web --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
reps = json.load(sys.stdin)
st, ver, lo = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(sum(1 for r in reps if r["status"] == st and (ver == "any" or r["version"] == ver)
          and r["replica"] >= lo))
' "$2" "$3" "${4:-0}"
}
count_is() { [ "$(count "$1" "$2" "$3" "${5:-0}")" = "$4" ]; }
one_version() { v=$(versions "$1" running) && [ -n "$v" ] && [ "${v// /}" = "$v" ]; }
# surges OBS [VERSION]: replicas of index 5 or more (of VERSION), any status.
surges() {
    "$STARLING" where web --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
v = sys.argv[1]
print(sum(1 for r in json.load(sys.stdin) if r["replica"] >= 5 and (not v or r["version"] == v)))
' "${2:-}"
}
surge_gone() { [ "$(surges "$1")" = 0 ]; }
surge_not_of() { # surge_not_of OBS VERSION: a surge replica of another version exists
    [ "$(surges "$1")" -gt "$(surges "$1" "$2")" ]
}
# env_has OBS K=V: the catalog's current spec (not the previous) has K=V.
env_has() {
    "$STARLING" services --json --rpc "$(rpc_of "$1")" | python3 -c '
import json, sys
svc = [s for s in json.load(sys.stdin) if s["name"] == "web"]
sys.exit(0 if svc and sys.argv[1] in svc[0]["env"] else 1)
' "$2"
}

# deploy VIA [extra flags...]: web, 5 replicas, command $CMD (default whoami).
deploy() {
    local via=$1
    shift
    "$STARLING" deploy web --replicas 5 --rpc "$(rpc_of "$via")" --env WHOAMI_HTTP=1 \
        --check http:/healthz --check-interval 200ms --check-failures 2 --min-healthy 1 "$@" \
        -- "${CMD:-$WHOAMI}" >/dev/null
}
# The same program under another path: a new command, as a new build is.
cp "$WHOAMI" "$CL_DIR/whoami-v2"

# ---- a good rollout ------------------------------------------------------
deploy a1 --env V=1
check "v1: 5 replicas running" wait_until 40 count_is a2 running any 5
check "v1: one version" one_version a3
V1=$(versions a3 running)
CMD=$CL_DIR/whoami-v2 deploy a1 --env V=2 # a new command and environment
out=$(python3 "$WATCH" "$STARLING" "$(rpc_of a6)" web 5 "$V1" $((120 * CL_SLOW)))
echo "rollout v1 -> v2: $out"
check "v2: the rollout ends with all 5 on the new version and no surge replica" \
    [ "${out%% *}" = "done=1" ]
min=$(echo "$out" | sed -n 's/.*min_running=\([0-9]*\).*/\1/p')
check "v2: never fewer than 5 running replicas during the rollout (fewest: $min)" \
    [ "${min:-0}" -ge 5 ]
V2=$(versions a2 running)
check "v2: a new version ($V1 -> $V2)" test -n "$V2" -a "$V2" != "$V1"
new_command() { "$STARLING" services --json --rpc "$(rpc_of a3)" | grep -q 'whoami-v2"'; }
check "v2: the catalog holds the new command" new_command
rollout_complete() { "$STARLING" rollout web --rpc "$(rpc_of "$1")" | grep -q '^state: complete'; }
check "rollout says complete (once a4 heard the last reports)" wait_until 10 rollout_complete a4

# ---- a broken version halts after the surge replica, then reverts ---------
BAD=$CL_DIR/bad
touch "$BAD"
deploy a2 --env V=3 --env "WHOAMI_UNHEALTHY_FILE=$BAD" --progress-deadline 12s --auto-revert
check "v3 (broken): the catalog holds V=3 (before its deadline)" env_has a2 V=3
check "v3 (broken): a surge replica tries it" wait_until 20 surge_not_of a5 "$V2"
check "v3 (broken): the 5 v2 replicas keep running meanwhile" count_is a3 running "$V2" 5
rollout_in_progress() { "$STARLING" rollout web --rpc "$(rpc_of "$1")" | grep -q '^state: in progress: .* 1 surge'; }
check "rollout shows it in progress, with the surge replica" wait_until 10 rollout_in_progress a4
check "v3 (broken): reverted past the progress deadline: the catalog holds V=2 again" \
    wait_until 40 env_has a1 V=2
check "after the revert the surge replica goes" wait_until 30 surge_gone a4
check "after the revert all 5 run v2, never restarted by the broken version" \
    count_is a5 running "$V2" 5
check "an agent logged the revert" \
    grep -q "reverting to the previous version" "$CL_DIR"/a*.log
rm -f "$BAD"

# ---- rollback --------------------------------------------------------------
"$STARLING" deploy web --replicas 5 --rpc "$(rpc_of a3)" --env WHOAMI_HTTP=1 \
    --check http:/healthz --check-interval 200ms --check-failures 2 --min-healthy 1 \
    --env V=4 -- "$WHOAMI" >/dev/null
out=$(python3 "$WATCH" "$STARLING" "$(rpc_of a6)" web 5 "$V2" $((120 * CL_SLOW)))
echo "rollout v2 -> v4: $out"
check "v4: rolled out" [ "${out%% *}" = "done=1" ]
V4=$(versions a2 running)
check "v4: the catalog's previous version is v2's" sh -c \
    "'$STARLING' rollout web --rpc $(rpc_of a5) | grep -q 'previous $V2'"
"$STARLING" rollback web --rpc "$(rpc_of a4)" >/dev/null
out=$(python3 "$WATCH" "$STARLING" "$(rpc_of a6)" web 5 "$V4" $((120 * CL_SLOW)))
echo "rollback v4 -> v2: $out"
check "rollback: all 5 back on the previous version, never fewer than 5 running" \
    sh -c "[ '${out%% *}' = done=1 ] && [ \"\$(echo '$out' | sed -n 's/.*min_running=\([0-9]*\).*/\1/p')\" -ge 5 ]"
check "rollback: the version is v2's again" [ "$(versions a2 running)" = "$V2" ]
expect_fail 1 "nosuch" "rollback of an unknown service fails, saying which" \
    "$STARLING" rollback nosuch --rpc "$(rpc_of a1)"

# ---- the peer that started the rollout dies in the middle -----------------
check "before v5: one version runs" wait_until 20 one_version a2
VB=$(versions a2 running)
deploy a1 --env V=5
out=$(python3 "$WATCH" "$STARLING" "$(rpc_of a1)" web 5 "$VB" $((150 * CL_SLOW)) \
    --kill "${CL_PID[a1]}" --rpc-after "$(rpc_of a6)")
echo "rollout v2 -> v5, a1 killed: $out"
wait "${CL_PID[a1]}" 2>/dev/null
unset "CL_PID[a1]"
check "v5: a1 (which started the rollout) was killed in the middle" \
    sh -c "echo '$out' | grep -q killed=1"
check "v5: the other peers finish the rollout" [ "${out%% *}" = "done=1" ]

cl_finish
