#!/usr/bin/env bash
# The sans-IO guard (tests/check_sansio.sh) passes the core as it is and
# fails it as soon as it calls what can reach the world: an object that
# calls getenv, printf, exit, clock_gettime, fopen and randombytes_buf,
# checked with the core's archives, is refused, naming each of them.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "PASS: $1"; }
ko() { echo "FAIL: $1"; fails=$((fails + 1)); }
archives=("$BUILD/libstarling_gossip.a" "$BUILD/libstarling_placement.a")

if bash tests/check_sansio.sh "${archives[@]}" >"$T/clean.out" 2>&1; then
    ok "the core as built passes the sans-IO guard"
else
    ko "the core as built passes the sans-IO guard: $(cat "$T/clean.out")"
fi

cat >"$T/leak.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void randombytes_buf(void *buf, size_t size);
int sl_leak(void);
int sl_leak(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    FILE *f = fopen("/etc/hostname", "r");
    char b[8];
    randombytes_buf(b, sizeof b);
    printf("%s %p %d\n", getenv("HOME"), (void *)f, b[0]);
    exit(3);
}
C
${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -c "$T/leak.c" -o "$T/leak.o"
if bash tests/check_sansio.sh "${archives[@]}" "$T/leak.o" >"$T/leak.out" 2>&1; then
    ko "an object calling getenv, printf, exit, ... is refused"
else
    ok "an object calling getenv, printf, exit, ... is refused"
fi
for sym in getenv exit clock_gettime fopen randombytes_buf; do
    if grep -q "\b$sym\b" "$T/leak.out"; then ok "...naming $sym"; else ko "...naming $sym"; fi
done
# gcc turns a printf of a format with a newline into printf or puts
if grep -qE '\b(printf|puts)\b' "$T/leak.out"; then ok "...naming printf"; else ko "...naming printf"; fi
[ "$fails" = 0 ]
