#!/usr/bin/env bash
# Cluster keys with real agents on loopback: `starling keygen`, `starling
# keys list|install|use|remove` answered by every member through gossip, a
# full rotation K1 -> K2 on five agents without a single suspicion, the
# keyring files, a peer holding only the retired key kept out, and the two
# ways back in for a peer that was away during a rotation.
cd "$(dirname "$0")/../.." || exit 2
. tests/cluster/lib.sh

# A key operation on NODE with --json: the reply in $CL_DIR/keys.json, the
# error line in $CL_DIR/keys.err, the exit code in KRC.
KT=$((10 * CL_SLOW))
keys_run() {
    local node=$1
    shift
    "$STARLING" keys "$@" --rpc "$(rpc_of "$node")" --timeout "$KT" --json \
        >"$CL_DIR/keys.json" 2>"$CL_DIR/keys.err"
    KRC=$?
}

# jfield EXPR: evaluates a Python expression over the last reply, bound to r.
jfield() {
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
        "$CL_DIR/keys.json" "$1" 2>/dev/null
}

# held KEY: "holders primary" for KEY in the last reply ("0 0" when absent).
held() {
    jfield "next(('%d %d' % (k['holders'], k['primary']) for k in r['keys'] if k['key'] == '$1'), '0 0')"
}

# nkeys: how many distinct keys the last reply counts.
nkeys() { jfield "len(r['keys'])"; }

# answered_all N: the last reply says N of N answered, no one missing, no error.
answered_all() {
    [ "$(jfield "(r['total'], r['answered'], len(r['missing']), len(r['errors']))")" = "($1, $1, 0, 0)" ]
}

# ok_all N: the last operation exited 0 and N of N answered without error.
ok_all() { [ "$KRC" = 0 ] && answered_all "$1"; }

# only_alive N NODE...: every NODE lists exactly N members, all alive.
only_alive() {
    local n=$1 o
    shift
    for o in "$@"; do
        [ "$(members "$o" | tail -n +2 | wc -l)" = "$n" ] || return 1
        [ "$(count_status "$o" alive)" = "$n" ] || return 1
    done
}

# counter NODE PATH: one of NODE's counters from `info --json`, e.g. events.suspect.
counter() {
    "$STARLING" info --json --rpc "$(rpc_of "$1")" |
        python3 -c 'import json, sys
d = json.load(sys.stdin)["counters"]
for k in sys.argv[1].split("."):
    d = d[k]
print(d)' "$2"
}

# Suspicions and failures NODE has seen so far: "suspect failed".
alarms() { echo "$(counter "$1" events.suspect) $(counter "$1" events.failed)"; }

# acks_grew NODE N: NODE received at least N acks since ACKS0[NODE].
acks_grew() { [ "$(counter "$1" acks_in)" -ge $((ACKS0[$1] + $2)) ]; }
all_acks_grew() {
    local o
    for o in n1 n2 n3 n4 n5; do acks_grew "$o" "$1" || return 1; done
}

# key_drops: datagrams and states the five first agents refused for their seal.
key_drops() {
    local o sum=0
    for o in n1 n2 n3 n4 n5; do sum=$((sum + $(counter "$o" drops.key))); done
    echo "$sum"
}
key_drops_above() { [ "$(key_drops)" -gt "$1" ]; }

FIVE="n1 n2 n3 n4 n5"

# ---- keygen ----
K1=$("$STARLING" keygen)
K2=$("$STARLING" keygen)
K3=$("$STARLING" keygen)
check "keygen prints one line of 44 base64 characters" \
    sh -c "[ \$('$STARLING' keygen | wc -l) = 1 ] && echo '$K1' | grep -qE '^[A-Za-z0-9+/]{43}=\$'"
check "keygen's key is 32 bytes" sh -c "[ \$(printf %s '$K1' | base64 -d | wc -c) = 32 ]"
check "two keygens give two keys" [ "$K1" != "$K2" -a "$K2" != "$K3" -a "$K1" != "$K3" ]
for c in keygen keys; do
    check "starling $c --help prints its usage and exits 0" \
        sh -c "'$STARLING' $c --help | grep -q '^Usage: starling $c'"
done
expect_fail 2 "unexpected argument 'now'" "keygen with an argument exits 2" "$STARLING" keygen now
expect_fail 2 "unknown operation 'rotate'" "an unknown keys operation exits 2" \
    "$STARLING" keys rotate "$K1"
expect_fail 2 "install wants one 32-byte key in base64" "keys install without a key exits 2" \
    "$STARLING" keys install
expect_fail 2 "use wants one 32-byte key in base64" "keys use of a malformed key exits 2" \
    "$STARLING" keys use c2hvcnQ=
expect_fail 2 "list takes no key" "keys list with a key exits 2" "$STARLING" keys list "$K1"
expect_fail 2 "--timeout must be 1..3600 seconds" "a bad --timeout exits 2" \
    "$STARLING" keys list --timeout 0

# ---- five agents sealed with K1 ----
for i in 1 2 3 4 5; do
    mkdir -p "$CL_DIR/d$i"
    if [ "$i" = 1 ]; then join=(); else join=(--join "$(ip_of 1):7946"); fi
    start_agent "n$i" "$i" --data-dir "$CL_DIR/d$i" --encrypt "$K1" "${join[@]}"
done
check "five agents sealed with K1 form one cluster" wait_until 30 all_count alive 5 $FIVE

keys_run n1 list
check "keys list: 5 of 5 members answer, exit 0" ok_all 5
check "keys list: K1 is installed on 5/5, the primary on 5/5" [ "$(held "$K1")" = "5 5" ]
check "keys list: no other key" [ "$(nkeys)" = 1 ]
# table_ok: the human table of `keys list` on n3 shows K1 on 5/5, primary 5/5.
table_ok() {
    "$STARLING" keys list --rpc "$(rpc_of n3)" --timeout "$KT" >"$CL_DIR/table" || return 1
    grep -qE '^KEY +INSTALLED +PRIMARY$' "$CL_DIR/table" &&
        [ "$(awk -v k="$K1" '$1 == k { print $2, $3 }' "$CL_DIR/table")" = "5/5 5/5" ] &&
        grep -q '^5 of 5 members answered$' "$CL_DIR/table"
}
check "keys list prints a table: KEY, INSTALLED n/total, PRIMARY n/total" table_ok

# ---- the rotation, watched for false alarms ----
declare -A ALARMS0 ACKS0
for o in $FIVE; do ALARMS0[$o]=$(alarms "$o"); done

keys_run n2 install "$K2"
check "keys install K2: 5 of 5 answer, exit 0" ok_all 5
check "after install: K2 on 5/5 (primary 0/5), K1 still primary on 5/5" \
    [ "$(held "$K2")/$(held "$K1")" = "5 0/5 5" ]
check "after install: every member is alive everywhere" only_alive 5 $FIVE

keys_run n3 use "$K2"
check "keys use K2: 5 of 5 answer, exit 0" ok_all 5
check "after use: K2 is the primary on 5/5, K1 still installed on 5/5" \
    [ "$(held "$K2")/$(held "$K1")" = "5 5/5 0" ]
check "after use: every member is alive everywhere" only_alive 5 $FIVE

keys_run n4 remove "$K1"
check "keys remove K1: 5 of 5 answer, exit 0" ok_all 5
check "after remove: only K2, on 5/5, the primary on 5/5" \
    [ "$(held "$K2")/$(held "$K1")/$(nkeys)" = "5 5/0 0/1" ]

# Let the cluster probe for a while on K2 alone (five acks per agent, about
# five probe rounds), then look for alarms.
for o in $FIVE; do ACKS0[$o]=$(counter "$o" acks_in); done
check "after the rotation every agent keeps receiving acks" wait_until 30 all_acks_grew 5
ok=1
for o in $FIVE; do
    now=$(alarms "$o")
    if [ "$now" != "${ALARMS0[$o]}" ]; then
        echo "  $o: suspect/failed events went from ${ALARMS0[$o]} to $now"
        ok=0
    fi
done
check "no agent saw a suspicion or a failure during the rotation" [ "$ok" = 1 ]
check "after the rotation every member is still alive everywhere, none else listed" \
    only_alive 5 $FIVE

ok=1
for i in 1 2 3 4 5; do
    f=$CL_DIR/d$i/keyring
    if [ "$(cat "$f")" != "$K2" ] || [ "$(stat -c %a "$f")" != 600 ]; then
        echo "  $f: mode $(stat -c %a "$f"), $(wc -l <"$f") line(s), K2: $(grep -c "$K2" "$f")"
        ok=0
    fi
done
check "every DATA_DIR/keyring holds only K2, mode 0600" [ "$ok" = 1 ]

# ---- a peer that holds only the retired key stays out ----
mkdir -p "$CL_DIR/d6"
drops0=$(key_drops)
start_agent n6 6 --data-dir "$CL_DIR/d6" --encrypt "$K1" --join "$(ip_of 1):7946"
check "n6 (K1 only) runs" wait_until 10 sees n6 n6 alive
check "the others refuse n6's traffic: their 'key' drop counter grows" \
    wait_until 20 key_drops_above "$drops0"
drops1=$(key_drops)
check "... and keeps growing as n6 retries" wait_until 20 key_drops_above "$drops1"
check "n6 stays alone" [ "$(count_status n6 alive)" = 1 ]
check "no one lists n6" sh -c "! '$STARLING' members --rpc $(rpc_of n1) | grep -q '^n6 '"

# Restarted with --encrypt K2 (which becomes its primary), it joins.
kill9 n6
start_agent n6 6 --data-dir "$CL_DIR/d6" --encrypt "$K2" --join "$(ip_of 1):7946"
check "n6 restarted with --encrypt K2 joins: six alive everywhere" \
    wait_until 30 all_count alive 6 $FIVE n6
keys_run n1 list
check "keys list: 6 of 6 answer" ok_all 6
check "... K2 on 6/6, primary 6/6; n6 still holds K1" [ "$(held "$K2")/$(held "$K1")" = "6 6/1 0" ]
keys_run n6 remove "$K1"
check "keys remove K1 again clears n6's old key: 6 of 6 answer" ok_all 6
check "... only K2 is left, on 6/6" [ "$(held "$K2")/$(nkeys)" = "6 6/1" ]

# Or, without a restart: install and use the new key through its own RPC.
mkdir -p "$CL_DIR/d7"
start_agent n7 7 --data-dir "$CL_DIR/d7" --encrypt "$K1" --join "$(ip_of 1):7946"
check "n7 (K1 only) runs alone" wait_until 10 sees n7 n7 alive
keys_run n7 install "$K2"
check "on n7 alone, keys install K2 is answered by 1 of 1" ok_all 1
keys_run n7 use "$K2"
check "on n7 alone, keys use K2 is answered by 1 of 1" ok_all 1
check "... K2 is n7's primary" [ "$(held "$K2")" = "1 1" ]
check "n7 then joins: seven alive everywhere" wait_until 30 all_count alive 7 $FIVE n6 n7
keys_run n7 remove "$K1"
check "keys remove K1 on n7 clears its old key: 7 of 7 answer" ok_all 7
check "... only K2 is left, on 7/7" [ "$(held "$K2")/$(nkeys)" = "7 7/1" ]

# ---- refusals ----
keys_run n1 use "$K3"
check "keys use of a key nobody holds exits 1" [ "$KRC" = 1 ]
check "... every member answers, each with an error" \
    [ "$(jfield "(r['total'], len(r['errors']), len(r['missing']))")" = "(7, 7, 0)" ]
check "... said in one line" sh -c "[ \$(wc -l <'$CL_DIR/keys.err') = 1 ] &&
    grep -q '^starling keys: 7 of 7 members answered with an error: the key is not installed here' '$CL_DIR/keys.err'"
check "... and nothing changed: K2 is still the primary on 7/7" [ "$(held "$K2")/$(nkeys)" = "7 7/1" ]
check "... the table is printed all the same" \
    sh -c "'$STARLING' keys use '$K3' --rpc $(rpc_of n2) --timeout $KT 2>/dev/null | grep -q '^error from n[1-7]: the key is not installed here'"

expect_fail 1 "^starling keys: cannot remove the primary key: make another key the primary first" \
    "keys remove of the primary is refused with a clear error" \
    "$STARLING" keys remove "$K2" --rpc "$(rpc_of n2)" --timeout "$KT"
keys_run n3 list
check "... and K2 is still on 7/7" [ "$(held "$K2")/$KRC" = "7 7/0" ]

# A peer without any key cannot start or accept key operations.
start_agent plain 9
check "a plain agent runs" wait_until 10 sees plain plain alive
expect_fail 1 "^starling keys: gossip is not sealed on this peer" \
    "keys on an agent without a key is refused in one line" \
    "$STARLING" keys list --rpc "$(rpc_of plain)"

# Keys are secrets: no agent logged one.
check "no agent log contains a key" sh -c "! grep -qF -e '$K1' -e '$K2' -e '$K3' '$CL_DIR'/*.log"

cl_finish
