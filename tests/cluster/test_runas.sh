#!/usr/bin/env bash
# `deploy --user NAME` with real agents (issue 15). Needs root (the agents
# drop the replicas' command to the user) and setpriv (one agent runs as
# nobody, the way test_hardening.sh runs one).
#
# - a root agent runs `--user nobody`: the command's own /proc/self/status
#   and `id` say uid and gid 65534, HOME/USER/LOGNAME are nobody's, and the
#   log file it writes through the shim stays root's;
# - a user that does not exist: every start fails, the replica's log and the
#   agent's log say "no such user on this node", and after 3 failed starts
#   `where` shows it gave-up;
# - an agent running as nobody refuses `deploy --user` (exit 1, one line),
#   and a replica with --user placed on it fails to start with "needs an
#   agent running as root" in its log and the agent's.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
    skip "deploy --user needs agents running as root"
    exit 0
fi
if ! command -v setpriv >/dev/null ||
    ! setpriv --reuid=65534 --regid=65534 --clear-groups "$STARLING" --help >/dev/null 2>&1; then
    skip "deploy --user: needs setpriv, and user nobody able to run $STARLING"
    exit 0
fi
if ! getent passwd nobody | grep -q '^nobody:x*:65534:65534:'; then
    skip "deploy --user: user nobody is not uid/gid 65534 here"
    exit 0
fi
NOBODY_HOME=$(getent passwd nobody | cut -d: -f6)

# The root agent has supplementary groups (0 and 4), so that a replica
# that kept them would show.
CL_IP[a1]=$(ip_of 1)
mkdir -p "$CL_DIR/data-a1"
TMPDIR=$CL_DIR setpriv --groups 0,4 "$STARLING" agent --name a1 --bind "$(ip_of 1):7946" \
    --rpc "$(ip_of 1):7373" --profile local --rpc-token "$CL_TOKEN" --data-dir "$CL_DIR/data-a1" \
    2>>"$CL_DIR/a1.log" &
CL_PID[a1]=$!
check "a root agent comes up" wait_until 20 all_count alive 1 a1

# where_of SERVICE OBSERVER: "replica node status" lines.
where_of() { "$STARLING" where "$1" --rpc "$(rpc_of "$2")" | tail -n +2 | awk '{ print $2, $3, $4 }'; }
LOG1=$CL_DIR/data-a1/logs

"$STARLING" deploy who --replicas 1 --user nobody --rpc "$(rpc_of a1)" -- /bin/sh -c \
    'echo "ids uid=$(id -u) gid=$(id -g) home=$HOME user=$USER logname=$LOGNAME"; grep -E "^(Uid|Gid|Groups):" /proc/self/status; sed "s/^/cgroup /" /proc/self/cgroup; exec sleep 600' \
    >/dev/null
check "deploy --user nobody through a root agent: accepted" test $? = 0
check "its replica prints its ids" wait_until 20 grep -q '^ids ' "$LOG1/who.0.log"
check "...uid and gid 65534 (id -u, id -g)" grep -q '^ids uid=65534 gid=65534 ' "$LOG1/who.0.log"
check "...the kernel agrees: real, effective, saved and fs uid and gid all 65534" \
    bash -c "grep -qP '^Uid:\t65534\t65534\t65534\t65534$' '$LOG1/who.0.log' &&
             grep -qP '^Gid:\t65534\t65534\t65534\t65534$' '$LOG1/who.0.log'"
groups_of_log() { grep -P '^Groups:' "$LOG1/who.0.log" | head -n 1 | cut -f2 | tr ' ' '\n' | grep . | sort -n | tr '\n' ' '; }
NOBODY_GROUPS=$(id -G nobody | tr ' ' '\n' | sort -n | tr '\n' ' ')
check "...its supplementary groups are nobody's ($NOBODY_GROUPS), not the agent's (0 4)" \
    test "$(groups_of_log)" = "$NOBODY_GROUPS"
check "...HOME, USER and LOGNAME are nobody's" \
    grep -qF "home=$NOBODY_HOME user=nobody logname=nobody" "$LOG1/who.0.log"
cg_mode=$("$STARLING" info --json --rpc "$(rpc_of a1)" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["limits"]["mode"])')
if [ "$cg_mode" = off ]; then
    skip "a --user replica is in its own cgroup: the agent has no cgroups here"
else
    check "...it is in its replica's cgroup (entered before the drop; mode $cg_mode)" \
        wait_until 10 grep -qE '^cgroup 0::(/.*)?/starling-[0-9]+\.who\.0$' "$LOG1/who.0.log"
fi
check "...its log file stays the agent's (root, 0600)" \
    test "$(stat -c '%u %a' "$LOG1/who.0.log")" = "0 600"
check "services --json shows the user" \
    bash -c "'$STARLING' services --json --rpc '$(rpc_of a1)' | grep -q '\"user\": *\"nobody\"'"
runs_who() { where_of who a1 | grep -q '^0 a1 running$'; }
check "the replica runs" wait_until 20 runs_who
# An exec check runs as the replica does: it passes only as uid 65534 (and
# the replica is starting, never running, while it fails).
"$STARLING" deploy whocheck --replicas 1 --user nobody --check 'exec:test "$(id -u)" = 65534' \
    --check-interval 1 --rpc "$(rpc_of a1)" -- sleep 600 >/dev/null
runs_whocheck() { where_of whocheck a1 | grep -q '^0 a1 running$'; }
check "an exec check of a --user service runs as that user (it passes as 65534)" \
    wait_until 20 runs_whocheck
"$STARLING" rm whocheck --rpc "$(rpc_of a1)" >/dev/null
# The same command without --user: the spec changed, the replica restarts
# as the agent's user.
"$STARLING" deploy who --replicas 1 --rpc "$(rpc_of a1)" -- /bin/sh -c \
    'echo "ids uid=$(id -u) gid=$(id -g) home=$HOME user=$USER logname=$LOGNAME"; grep -E "^(Uid|Gid|Groups):" /proc/self/status; exec sleep 600' \
    >/dev/null
check "redeployed without --user, it restarts as root (the user is in the spec hash)" \
    wait_until 20 grep -q '^ids uid=0 gid=0 ' "$LOG1/who.0.log"

# A user that does not exist on the node.
"$STARLING" deploy ghost --replicas 1 --user no-such-user-x7 --rpc "$(rpc_of a1)" -- sleep 600 \
    >/dev/null
check "the replica's log says why it cannot start" \
    wait_until 20 grep -q "_exec: --user no-such-user-x7: no such user on this node" "$LOG1/ghost.0.log"
check "...and so does the agent's log" \
    wait_until 10 grep -q "replica ghost.0: --user no-such-user-x7: no such user on this node" "$CL_DIR/a1.log"
gave_up() { where_of ghost a1 | grep -q '^0 a1 gave-up$'; }
check "after 3 failed starts where shows it gave-up" wait_until 40 gave_up

# An agent running as nobody: its data dir its own, $CL_DIR traversable.
chmod 711 "$CL_DIR"
mkdir -p "$CL_DIR/nr/data"
chown -R 65534:65534 "$CL_DIR/nr"
CL_IP[nr]=$(ip_of 2)
TMPDIR=$CL_DIR/nr setpriv --reuid=65534 --regid=65534 --clear-groups "$STARLING" agent --name nr \
    --bind "$(ip_of 2):7946" --rpc "$(ip_of 2):7373" --rpc-token "$CL_TOKEN" --profile local \
    --data-dir "$CL_DIR/nr/data" --join "$(ip_of 1):7946" 2>>"$CL_DIR/nr.log" &
CL_PID[nr]=$!
check "an agent running as nobody joins" wait_until 20 all_count alive 2 a1 nr
expect_fail 1 "--user nobody needs an agent running as root; this one runs as uid 65534" \
    "deploy --user through an agent not running as root: exit 1, one line" \
    "$STARLING" deploy nope --replicas 1 --user nobody --rpc "$(rpc_of nr)" -- sleep 600
"$STARLING" operator-keygen "$CL_DIR/operator.key" >/dev/null
expect_fail 1 "--user nobody needs an agent running as root" \
    "...a signed deploy --user through it too: exit 1, one line" \
    "$STARLING" deploy nope --replicas 1 --user nobody --operator-secret "$CL_DIR/operator.key" \
    --rpc "$(rpc_of nr)" -- sleep 600
check "...and it wrote nothing" bash -c "! '$STARLING' services --rpc '$(rpc_of a1)' | grep -q '^nope '"
"$STARLING" deploy nope --replicas 1 --rpc "$(rpc_of nr)" -- sleep 600 >/dev/null
check "...while a deploy without --user through it works" test $? = 0

# Through the root agent, two replicas on distinct nodes: one is the
# non-root agent's, and cannot start there.
"$STARLING" deploy both --replicas 2 --spread nodes --user nobody --rpc "$(rpc_of a1)" -- \
    sleep 600 >/dev/null
check "a replica with --user on the non-root agent: its log says it needs root" \
    wait_until 30 bash -c "cat '$CL_DIR'/nr/data/logs/both.*.log 2>/dev/null |
        grep -q '_exec: --user nobody needs an agent running as root'"
check "...and so does that agent's log" \
    wait_until 10 grep -q "replica both.[01]: --user nobody needs an agent running as root" \
    "$CL_DIR/nr.log"

cl_finish
