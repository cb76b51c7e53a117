#!/usr/bin/env bash
# `starling logs` with real agents on loopback (every agent with --log-max 1
# and --rpc-max-monitors 1):
#   a replica that prints a line every 0.2 s, followed from a peer that does
#   not run it: the lines arrive there, from the replica's start on, whole
#   and in order; a second follow is refused, --tail N prints N lines;
#   killing the agent that runs it ends the follow with exit 1 and a
#   message; on its next owner, `rm` ends a follow with exit 0 and "no
#   longer runs"; a chatty replica (6 MB through a 1 MB cap) leaves at most
#   .log, .log.1 and .log.2, each under the cap, holding only whole lines;
#   a follower of 6 MB in bursts gets every line across the rotations;
#   SIGTERM and a closed stdout end the CLI with exit 0.
. "$(dirname "$0")/lib.sh"

CAP=$((1024 * 1024))
TALK='i=0; while :; do echo "talk line $i"; i=$((i + 1)); sleep 0.2; done'
LINE="chatty 0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 ABCDEFGHIJKLMNOPQRSTU"
CHATTY="yes '$LINE' | head -n 75000; echo chatty-done; exec sleep 100000"
# 6 MB again, in 60 bursts of 100 KB, from line 1 to 75000, for a follower.
BURST='sleep 1; i=0; while [ $i -lt 60 ]; do seq $((i * 1250 + 1)) $((i * 1250 + 1250)) | sed "s/$/ burst line of a replica that writes a lot, to be followed/"; i=$((i + 1)); sleep 0.05; done; echo burst-done; exec sleep 100000'

# owner_of OBSERVER SERVICE: the node that runs replica 0, when running.
owner_of() {
    "$STARLING" where "$2" --rpc "$(rpc_of "$1")" | awk '$2 == 0 && $4 == "running" { print $3 }'
}
has_owner() { [ -n "$(owner_of "$1" "$2")" ]; }
# moved OBSERVER SERVICE OLD: replica 0 runs, on another node than OLD.
moved() { local o; o=$(owner_of "$1" "$2"); [ -n "$o" ] && [ "$o" != "$3" ]; }
# other_than NODE: a live agent that is not NODE.
other_than() { for a in a1 a2 a3; do [ -n "${CL_PID[$a]:-}" ] && [ "$a" != "$1" ] && { echo "$a"; return; }; done; }
lines_in() { grep -c "^talk line" "$1" 2>/dev/null || echo 0; }
more_lines() { [ "$(lines_in "$1")" -ge "$2" ]; }
alive() { kill -0 "${CL_PID[$1]}" 2>/dev/null; }
not_alive() { ! alive "$1"; }

for i in 1 2 3; do start_with_dir "a$i" "$i" --log-max 1 --rpc-max-monitors 1; done
check "3 agents converge" wait_until 20 all_count alive 3 a1 a2 a3

"$STARLING" deploy talk --replicas 1 --rpc "$(rpc_of a1)" -- sh -c "$TALK" >/dev/null
check "talk runs somewhere" wait_until 20 has_owner a1 talk
OWNER=$(owner_of a1 talk)
FROM=$(other_than "$OWNER")
echo "talk.0 runs on $OWNER; following it from $FROM"

# A follow from a peer that does not run the replica.
"$STARLING" logs talk --follow --rpc "$(rpc_of "$FROM")" >"$CL_DIR/follow1" 2>"$CL_DIR/follow1.err" &
CL_PID[follow1]=$!
check "logs --follow from $FROM shows talk's lines" wait_until 15 more_lines "$CL_DIR/follow1" 2
N1=$(lines_in "$CL_DIR/follow1")
check "new lines keep coming while following ($N1, then 5 more)" \
    wait_until 15 more_lines "$CL_DIR/follow1" $((N1 + 5))
check "the stream starts at the replica's start, with the agent's note" \
    grep -q "^\[starling\] .* starting talk.0 on port" "$CL_DIR/follow1"
check "the lines arrive whole and in order" \
    bash -c "grep '^talk line' '$CL_DIR/follow1' | awk '{ if (\$3 != NR - 1) exit 1 }'"

expect_fail 1 "already serves 1 monitor and log stream" \
    "a second follow on $OWNER (--rpc-max-monitors 1): exit 1, one line" \
    timeout 10 "$STARLING" logs talk -f --rpc "$(rpc_of "$FROM")"
"$STARLING" logs talk --tail 2 --rpc "$(rpc_of "$FROM")" >"$CL_DIR/tail2"
rc=$?
check "logs --tail 2 from $FROM: exit 0 and exactly 2 talk lines" \
    test "$rc" = 0 -a "$(wc -l <"$CL_DIR/tail2")" = 2 -a "$(lines_in "$CL_DIR/tail2")" = 2
expect_fail 1 "no service named 'nosuch'" "logs of an unknown service: exit 1, one line" \
    "$STARLING" logs nosuch --rpc "$(rpc_of "$FROM")"
expect_fail 2 "tail must be" "logs --tail -1: usage error" \
    "$STARLING" logs talk --tail -1 --rpc "$(rpc_of "$FROM")"

# The agent that runs the replica dies: the follow ends, exit 1, one message.
kill9 "$OWNER"
wait_exit follow1 15
check "killing $OWNER ends the follow with exit 1 (got $CL_RC)" test "$CL_RC" = 1
check "... saying the agent closed the stream" \
    grep -q "closed the stream before its end" "$CL_DIR/follow1.err"

# Its next owner: a follow there ends cleanly when the service is removed.
check "talk runs again, on another agent" wait_until 30 moved "$FROM" talk "$OWNER"
OWNER2=$(owner_of "$FROM" talk)
FROM2=$(other_than "$OWNER2")
"$STARLING" logs talk -f --tail 0 --rpc "$(rpc_of "$FROM2")" >"$CL_DIR/follow2" 2>"$CL_DIR/follow2.err" &
CL_PID[follow2]=$!
check "a follow from $FROM2 of talk.0 on $OWNER2 shows its lines" \
    wait_until 15 more_lines "$CL_DIR/follow2" 2
"$STARLING" rm talk --rpc "$(rpc_of "$FROM2")" >/dev/null
wait_exit follow2 20
check "rm ends the follow with exit 0 (got $CL_RC)" test "$CL_RC" = 0
check "... saying the replica no longer runs there" \
    grep -q "replica talk.0 no longer runs on $OWNER2" "$CL_DIR/follow2.err"

# Rotation: 6 MB of output through a 1 MB cap.
"$STARLING" deploy chatty --replicas 1 --rpc "$(rpc_of "$FROM2")" -- sh -c "$CHATTY" >/dev/null
check "chatty runs somewhere" wait_until 20 has_owner "$FROM2" chatty
COWNER=$(owner_of "$FROM2" chatty)
LOG=$CL_DIR/data-$COWNER/logs/chatty.0.log
check "chatty's 6 MB are written ($COWNER)" wait_until 60 grep -q chatty-done "$LOG"
sizes_ok() {
    local f
    for f in "$LOG" "$LOG.1" "$LOG.2"; do
        [ -f "$f" ] && [ "$(stat -c %s "$f")" -le "$CAP" ] || return 1
    done
    [ ! -e "$LOG.3" ]
}
check "three files, each at most $CAP bytes ($(stat -c %s "$LOG" "$LOG.1" "$LOG.2" 2>/dev/null | tr '\n' ' '))" \
    sizes_ok
check "the files hold whole lines only" \
    test -z "$(cat "$LOG.2" "$LOG.1" "$LOG" | grep -v -x -e "$LINE" -e chatty-done -e '\[starling\] .*')"
check "what they hold is the end of the output: the last file ends with chatty-done" \
    test "$(grep -v '^\[starling\]' "$LOG" | tail -n 1)" = chatty-done
CFROM=$(other_than "$COWNER")
"$STARLING" logs chatty --tail 3 --rpc "$(rpc_of "$CFROM")" >"$CL_DIR/tail3"
check "logs --tail 3 from $CFROM: two chatty lines and chatty-done" \
    test "$(head -n 2 "$CL_DIR/tail3" | grep -c -x -e "$LINE")" = 2 -a "$(tail -n 1 "$CL_DIR/tail3")" = chatty-done
"$STARLING" logs chatty --rpc "$(rpc_of "$CFROM")" | head -n 1 >"$CL_DIR/head1"
check "logs | head -n 1 ends quietly (exit ${PIPESTATUS[0]})" test "${PIPESTATUS[0]}" = 0 -a "$(wc -l <"$CL_DIR/head1")" = 1
expect_fail 1 "replica chatty.0 has no log on $CFROM" "logs --here on a peer without the file: exit 1" \
    "$STARLING" logs chatty --here --rpc "$(rpc_of "$CFROM")"

# A follower across rotations: 6 MB in bursts through the 1 MB cap, every
# line arrives, once, in order.
"$STARLING" rm chatty --rpc "$(rpc_of "$CFROM")" >/dev/null
"$STARLING" deploy burst --replicas 1 --rpc "$(rpc_of "$CFROM")" -- sh -c "$BURST" >/dev/null
check "burst runs somewhere" wait_until 20 has_owner "$CFROM" burst
BOWNER=$(owner_of "$CFROM" burst)
"$STARLING" logs burst -f --rpc "$(rpc_of "$(other_than "$BOWNER")")" >"$CL_DIR/follow3" 2>&1 &
CL_PID[follow3]=$!
check "the follower sees burst-done" wait_until 60 grep -q burst-done "$CL_DIR/follow3"
check "... after all 75000 lines, in order, none lost across $(ls "$CL_DIR/data-$BOWNER/logs/" | grep -c burst) files" \
    bash -c "grep ' burst line' '$CL_DIR/follow3' | awk '{ if (\$1 != NR) exit 1 } END { if (NR != 75000) exit 1 }'"
kill "${CL_PID[follow3]}"
wait_exit follow3 10
check "SIGTERM ends a follow with exit 0 (got $CL_RC)" test "$CL_RC" = 0

cl_finish
