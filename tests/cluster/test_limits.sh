#!/usr/bin/env bash
# Resource limits and what replicas inherit, with a real agent:
#   `info` says whether --cpu and --mem are enforced, and why not (the agent
#   logs it once); a replica sees only descriptors 0, 1 and 2, although the
#   agent was started with another one open (fd 7, not close-on-exec, as a
#   careless service manager would leave it); where cgroup v2 limits are
#   available, a replica over its --mem is OOM-killed and `where` shows
#   `oom`, with its restarts counted (skipped with the reason elsewhere).
. "$(dirname "$0")/lib.sh"

exec 7</dev/null # inherited by the agent, and by nothing below it
start_with_dir a1 1
exec 7<&-
rpc=$(rpc_of a1)
check "the agent answers" wait_until 10 "$STARLING" info --rpc "$rpc"

limits_of() { # limits_of AGENT KEY: one field of info's limits
    "$STARLING" info --json --rpc "$(rpc_of "$1")" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["limits"][sys.argv[1]])' "$2"
}
mode=$(limits_of a1 mode)
why=$(limits_of a1 why)
enforced=$(limits_of a1 enforced)
echo "limits: mode $mode: $why"
if [ "$mode" = on ]; then
    check "info: limits enforced" [ "$enforced" = True ]
else
    check "info: limits not enforced, and why ($why)" \
        test "$enforced" = False -a "${why#off (}" != "$why"
fi
text_says() { "$STARLING" info --rpc "$rpc" | grep -q "^limits.why  *$1 ("; }
if [ "$mode" = on ]; then want=on; else want=off; fi
check "info (text) shows limits.why $want (...)" text_says "$want"
said=$(grep -c "limits: " "$CL_DIR/a1.log")
check "the agent says it once in its log ($said)" [ "$said" = 1 ]

start_agent a2 2 --no-cgroups
mode2() { [ "$(limits_of a2 why)" = "off (cgroups disabled)" ]; }
check "--no-cgroups: info says limits are off (cgroups disabled)" wait_until 10 mode2

# ---- descriptors ---------------------------------------------------------
# The shell lists its own descriptors to its output (the log file) without
# a redirection of its own (dash keeps a copy of a redirected descriptor).
"$STARLING" deploy fds --replicas 1 --rpc "$rpc" -- /bin/sh -c 'ls /proc/$$/fd; echo end; exec sleep 600' \
    >/dev/null
log=$CL_DIR/data-a1/logs/fds.0.log
check "the fd lister ran" wait_until 15 grep -qx end "$log"
fds=$(grep -v '^\[starling\]' "$log" | sed '/^end$/q' | tr '\n' ' ')
check "a replica sees only fds 0 1 2 (saw: $fds)" [ "$fds" = "0 1 2 end " ]

# ---- an OOM kill ---------------------------------------------------------
where_status() {
    "$STARLING" where "$1" --json --rpc "$rpc" |
        python3 -c 'import json,sys; r=json.load(sys.stdin); print(" ".join("%s:%s" % (x["status"], x["restarts"]) for x in r))'
}
oom_seen() { where_status big | grep -q '^oom:'; }
restarted() { [ "$(where_status big | cut -d: -f2)" -ge 1 ]; }
if [ "$mode" != on ]; then
    skip "a replica over its --mem is OOM-killed: cgroup v2 limits are not available here: $why"
else
    # 256 MiB written (not merely reserved) by a replica allowed 32 MiB.
    "$STARLING" deploy big --replicas 1 --mem 32 --rpc "$rpc" -- \
        python3 -c 'import time; b = b"x" * (256 << 20); time.sleep(600)' >/dev/null
    check "where shows the OOM kill as oom" wait_until 30 oom_seen
    check "and the restart counts it" wait_until 30 restarted
    check "its log says why" grep -q "out of memory" "$CL_DIR/data-a1/logs/big.0.log"
fi

cl_finish
