#!/usr/bin/env bash
# starling-sim's command line: help, exit codes, and scenario errors that
# name the line and what was expected.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
SIM=$BUILD/starling-sim
tmp=$BUILD/test-logs/sim-cli
mkdir -p "$tmp"
[ -x "$SIM" ] || { echo "FAIL: $SIM is not built"; exit 1; }
rc=0

check() { # check WHAT WANT_RC GOT_RC OUTPUT PATTERN
    if [ "$3" = "$2" ] && grep -qF -- "$5" <<<"$4"; then
        echo "PASS: $1"
    else
        echo "FAIL: $1: exit $3 (want $2), output: $4"
        rc=1
    fi
}

o=$("$SIM" --help 2>&1); check "--help" 0 $? "$o" "usage: starling-sim SCENARIO"
o=$("$SIM" 2>&1); check "no scenario is a usage error" 2 $? "$o" "no scenario given"
o=$("$SIM" x.scn --frobnicate 2>&1); check "unknown option" 2 $? "$o" "unknown option"
o=$("$SIM" "$tmp/none.scn" 2>&1); check "missing file" 2 $? "$o" "none.scn: No such file"

printf 'nodes 10\nat 5s crash n3\nat soon heal\nrun 20s\n' >"$tmp/bad.scn"
o=$("$SIM" "$tmp/bad.scn" 2>&1)
check "malformed time names the line" 2 $? "$o" "bad.scn:3: expected a time like 30s, got 'soon'"
printf 'nodes 10\nat 5s crash n12\nrun 20s\n' >"$tmp/bad2.scn"
o=$("$SIM" "$tmp/bad2.scn" 2>&1)
check "unknown node names the line" 2 $? "$o" "bad2.scn:2: n12 does not exist"

printf 'nodes 10\nprofile local\nrun 10s\nexpect live == 10\nexpect converged\n' >"$tmp/ok.scn"
o=$("$SIM" "$tmp/ok.scn" 2>&1); check "met expectations exit 0" 0 $? "$o" "ok   expect live == 10"
printf 'nodes 10\nprofile local\nrun 10s\nexpect live == 9\n' >"$tmp/unmet.scn"
o=$("$SIM" "$tmp/unmet.scn" 2>&1); check "an unmet expectation exits 1" 1 $? "$o" "FAIL expect live == 9"
o=$("$SIM" "$tmp/unmet.scn" --json - 2>&1)
check "--json - writes the report to stdout" 1 $? "$o" '"ok": false'
exit $rc
