#!/usr/bin/env bash
# The sans-IO guard: the core libraries (gossip/ and placement/, built as
# $BUILD/libstarling_gossip.a and libstarling_placement.a) may call only
# what cannot reach the world: memory and string functions of libc, libm,
# msgpack-c, and libsodium's crypto (not its randombytes). Every symbol the
# archives leave undefined (nm -u) and do not define themselves must be on
# the list below, so that a getenv, printf, exit, fopen, clock_gettime or
# uv_* in the core fails `make test`, whatever header it came through.
#
#   tests/check_sansio.sh [ARCHIVE_OR_OBJECT...]   (default: the two archives)
#
# Exits 0 when clean, 1 listing the symbols that are not allowed.
set -u
BUILD=${BUILD:-build}
if [ $# -gt 0 ]; then
    files=("$@")
else
    files=("$BUILD/libstarling_gossip.a" "$BUILD/libstarling_placement.a")
fi
for f in "${files[@]}"; do
    [ -f "$f" ] || { echo "check-sansio: $f is missing; run make first" >&2; exit 1; }
done
allowed=(
    # memory
    malloc calloc realloc free memcpy memmove memset memcmp memchr bcmp
    # strings, formatting into buffers, sorting, number parsing
    strlen strnlen strcmp strncmp strchr strrchr strstr strcpy strncpy strdup strndup
    strtol strtoul strtoll strtoull strerror snprintf vsnprintf qsort bsearch
    # address text <-> bytes (pure conversions)
    inet_pton inet_ntop
    # libm
    log log2 log10 exp exp2 pow sqrt ceil floor fabs
    # libsodium helpers that touch only their arguments
    sodium_memzero sodium_memcmp sodium_bin2base64 sodium_base642bin sodium_increment
    # the compiler's CPU feature flags (__builtin_cpu_supports): placement
    # picks its AVX-512 path by them, with the same results either way
    # (tests/unit/test_placement_golden.c checks lane by lane)
    __cpu_model __cpu_features2 __cpu_indicator_init
)
allowed_re='^(crypto_[a-z0-9_]+|msgpack_[a-z0-9_]+|__stack_chk_fail|__(memcpy|memmove|memset|strcpy|strncpy|snprintf|vsnprintf)_chk|__(asan|ubsan|sanitizer|lsan)_[A-Za-z0-9_]+|_GLOBAL_OFFSET_TABLE_)$'
defined=$(nm --defined-only "${files[@]}" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u)
undefined=$(nm -u "${files[@]}" 2>/dev/null | awk '$1 == "U" { print $2 }' | sort -u)
external=$(comm -23 <(printf '%s\n' "$undefined") <(printf '%s\n' "$defined"))
bad=()
for sym in $external; do
    base=${sym%%@*} # versioned names (memcpy@GLIBC_2.14)
    ok=0
    for a in "${allowed[@]}"; do [ "$base" = "$a" ] && ok=1 && break; done
    [ $ok = 1 ] || [[ $base =~ $allowed_re ]] || bad+=("$base")
done
if [ ${#bad[@]} -gt 0 ]; then
    echo "check-sansio: the sans-IO core calls what it may not: ${bad[*]}" >&2
    echo "check-sansio: (from ${files[*]}; allowed: libc memory and string functions, libm, msgpack-c, libsodium crypto; see tests/check_sansio.sh)" >&2
    exit 1
fi
echo "check-sansio: ${#files[@]} archives, $(printf '%s\n' "$external" | grep -c .) external symbols, all allowed"
