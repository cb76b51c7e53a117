/* Platform-stable weighted rendezvous scores.
 *
 * Rendezvous (highest random weight) hashing gives each (item, node) pair a
 * pseudo-random score and gives the item to the node with the best score.
 * Weighted rendezvous (Schindelhauer and Schomaker, and the "logarithmic
 * method" of Resch) draws u uniform in (0, 1] from the pair's hash and scores
 * the node -ln(u) / w: that is an exponential random variable of rate w, and
 * the smallest of independent exponentials of rates w1..wn is the one of rate
 * wi with probability wi / (w1 + ... + wn). So each node wins exactly its
 * weight's share of the items, and removing a node only moves the items it
 * won; no other pair's score changes.
 *
 * Every peer must compute the same winner, so nothing here may depend on the
 * platform: no floating point (libm's log is not correctly rounded and
 * differs between libcs; x87 and SSE round differently), no hash that depends
 * on the machine's word size or endianness, no seeded or per-process hash.
 *
 * - Hashing a name: 64-bit FNV-1a over its bytes, then splitmix64's
 *   finaliser (FNV alone mixes its last bytes poorly). Names are hashed once
 *   per call.
 * - Hashing a pair: the replica key (service hash mixed with the replica
 *   index) and the node hash are combined by a multiply, an exclusive-or and
 *   two rounds of the finaliser, so that neither the same node nor the same
 *   replica makes correlated scores.
 * - u: the top 53 bits of the pair's hash, plus one, over 2^53: in (0, 1].
 * - -log2(u) = 53 - log2(x): log2 in fixed point with 32 fractional bits,
 *   computed with integers only: the integer part is the position of the top
 *   bit; the fractional bits come one at a time from squaring the mantissa
 *   (a Q1.31 value in [1, 2)): if the square is 2 or more, the next bit is 1
 *   and the square is halved. Each squaring truncates, so the last bits are
 *   not exact, but they are the same everywhere, which is what matters; the
 *   error is far below what would bias a weight's share measurably. The
 *   constant factor ln 2 between log2 and ln changes no comparison.
 * - The score is that value shifted left by 16 bits and divided by the
 *   weight (at most 65535), an integer division: -log2(u) < 54, so the
 *   shifted value stays under 2^54 and nothing overflows.
 *
 * - Most scores are only compared with a threshold (is this member among a
 *   replica's best few?), so sl__placement_score_below() bounds the score from
 *   below with the integer part of the log, then with its first 4
 *   fractional bits (the later squarings only set lower bits), and stops as
 *   soon as the bound is not below the threshold; otherwise it finishes the
 *   same computation, so its scores are bit for bit those of
 *   sl__placement_score(). It compares e = (53 << 32) - log2(x) with the
 *   smallest e whose score reaches the limit (e_limit), not the score: no
 *   division per test.
 * - The candidate scans of placement.c bound the log even more cheaply: its
 *   fraction grows with the mantissa, so a table of the fractions of 1025
 *   evenly spaced mantissas (sl__placement_coarse_init) bounds it from both
 *   sides by the mantissa's first 10 bits.
 * - Machines with AVX-512 (F and DQ, for the 64-bit multiply) hash eight
 *   pairs at once and compute eight logs at once; every lane does the same
 *   integer operations as the portable code, so the bits are the same
 *   (tests/unit/test_placement_golden.c checks it; -DSL_PLACEMENT_NO_SIMD
 *   builds the portable code only). Which path runs depends on the CPU the
 *   process runs on, never the result.
 *
 * Ties (equal scores) are left to the caller, who breaks them by the
 * canonical (name) order of the nodes. */
#include <stdbool.h>

#include "internal.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&                            \
    !defined(SL_PLACEMENT_NO_SIMD)
#include <immintrin.h>
#define DRAW_AVX512 1
#endif

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define GOLDEN 0x9e3779b97f4a7c15ull

uint64_t sl__placement_hash_str(const char *s)
{
    uint64_t h = FNV_OFFSET;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= FNV_PRIME;
    }
    return sl__placement_mix(h);
}

uint64_t sl__placement_replica_key(uint64_t service_hash, uint32_t index)
{
    return sl__placement_mix(service_hash + GOLDEN * ((uint64_t)index + 1));
}

/* The first steps of the log: sets *n to the position of x's top bit
 * (x >= 1) and returns the mantissa as Q1.31 in [2^31, 2^32). */
static uint64_t log2_start(uint64_t x, unsigned *n)
{
    unsigned t = 0; /* by binary search */
    for (unsigned step = 32; step; step >>= 1)
        if (x >> (t + step))
            t += step;
    *n = t;
    return t >= 31 ? x >> (t - 31) : x << (31 - t);
}

/* Computes the fractional bits hi-1 down to lo of the log from the mantissa
 * *m, ORs them into *r and leaves *m ready for the next ones. */
static void log2_bits(uint64_t *m, uint64_t *r, int hi, int lo)
{
    for (int bit = hi - 1; bit >= lo; bit--) {
        *m = (*m * *m) >> 31; /* m < 2^32, so m * m < 2^64 */
        if (*m >= (1ull << 32)) {
            *m >>= 1;
            *r |= 1ull << bit;
        }
    }
}

uint64_t sl__placement_log2_q32(uint64_t x)
{
    if (x == 0)
        return 0;
    unsigned n;
    uint64_t m = log2_start(x, &n);
    uint64_t r = (uint64_t)n << 32;
    log2_bits(&m, &r, 32, 0);
    return r;
}

static uint64_t pair_x(uint64_t replica_key, uint64_t node_hash)
{
    return sl__placement_pair_x(replica_key, node_hash);
}

void sl__placement_coarse_init(uint64_t *tab)
{
    const unsigned shift = 31 - SL__PLACEMENT_COARSE_BITS;
    for (uint32_t p = 0; p + 1 < SL__PLACEMENT_COARSE_SIZE; p++) {
        uint64_t m = (1ull << 31) + ((uint64_t)p << shift), r = 0;
        log2_bits(&m, &r, 32, 0);
        tab[p] = r; /* the smallest mantissa with this prefix: a lower bound */
    }
    tab[SL__PLACEMENT_COARSE_SIZE - 1] = 1ull << 32; /* the fraction is below 1 */
}

static uint64_t score_of_log(uint64_t log2x, uint32_t w)
{
    uint64_t e = (53ull << 32) - log2x;
    return (e << 16) / (w ? w : 1);
}

uint64_t sl__placement_score_x(uint64_t x, uint32_t w)
{
    return score_of_log(sl__placement_log2_q32(x), w);
}

#ifdef DRAW_AVX512
/* Eight logs side by side, the steps of log2_bits lane by lane: m < 2^32,
 * so the 32-bit multiply gives m * m exactly. */
__attribute__((target("avx512f,avx512dq"))) static void log2_frac8(const uint64_t *m0,
                                                                   uint64_t *out)
{
    __m512i m = _mm512_loadu_si512(m0), r = _mm512_setzero_si512();
    for (int bit = 31; bit >= 0; bit--) {
        __m512i v = _mm512_srli_epi64(_mm512_mul_epu32(m, m), 31);
        __m512i b = _mm512_srli_epi64(v, 32);
        m = _mm512_srlv_epi64(v, b);
        r = _mm512_or_si512(r, _mm512_sllv_epi64(b, _mm512_set1_epi64(bit)));
    }
    _mm512_storeu_si512(out, r);
}
#endif

void sl__placement_score_many(bool fast, const uint64_t *x, const uint32_t *w, uint64_t *out,
                              size_t n)
{
    size_t i = 0;
#ifdef DRAW_AVX512
    for (; fast && i + 8 <= n; i += 8) {
        uint64_t m[8], r[8];
        unsigned t[8];
        for (int j = 0; j < 8; j++)
            m[j] = log2_start(x[i + j], &t[j]);
        log2_frac8(m, r);
        for (int j = 0; j < 8; j++)
            out[i + j] = score_of_log(((uint64_t)t[j] << 32) | r[j], w[i + j]);
    }
#else
    (void)fast;
#endif
    for (; i + 4 <= n; i += 4) {
        /* Four logs side by side: each squaring waits for the previous one
         * of the same log, so interleaving four keeps the multiplier busy.
         * The steps are log2_bits' with the branch made arithmetic. */
        uint64_t m[4], r[4];
        for (int j = 0; j < 4; j++) {
            unsigned t = 63u - (unsigned)__builtin_clzll(x[i + j]);
            m[j] = t >= 31 ? x[i + j] >> (t - 31) : x[i + j] << (31 - t);
            r[j] = (uint64_t)t << 32;
        }
        for (int bit = 31; bit >= 0; bit--)
            for (int j = 0; j < 4; j++) {
                uint64_t v = (m[j] * m[j]) >> 31, b = v >> 32;
                m[j] = v >> b;
                r[j] |= b << bit;
            }
        for (int j = 0; j < 4; j++)
            out[i + j] = score_of_log(r[j], w[i + j]);
    }
    for (; i < n; i++)
        out[i] = sl__placement_score_x(x[i], w[i]);
}

uint64_t sl__placement_score(uint64_t replica_key, uint64_t node_hash, uint32_t w)
{
    return score_of_log(sl__placement_log2_q32(pair_x(replica_key, node_hash)), w);
}

/* The smallest e = (53 << 32) - log2(x) whose score is not below limit:
 * floor((e << 16) / w) >= limit exactly when e << 16 >= limit * w, that is
 * e >= ceil(limit * w / 2^16), computed in two halves so that nothing
 * overflows (limit < 2^64, w < 2^16). Comparing e with it replaces a
 * division per test. */
static uint64_t e_limit(uint32_t w, uint64_t limit)
{
    uint64_t ww = w ? w : 1;
    return (limit >> 16) * ww + (((limit & 0xffff) * ww + 0xffff) >> 16);
}

/* Whether the score is certainly not below the limit (as e_min), knowing
 * the log's bits down to `known` (r): the later iterations only set lower
 * bits, so r <= log2(x) <= r + 2^known - 1, and log2(x) <= 53. */
static bool not_below(uint64_t r, int known, uint64_t e_min)
{
    uint64_t hi = r + (1ull << known) - 1;
    if (hi > 53ull << 32)
        hi = 53ull << 32;
    return (53ull << 32) - hi >= e_min;
}

uint64_t sl__placement_score_below(uint64_t replica_key, uint64_t node_hash, uint32_t w,
                                   uint64_t limit)
{
    unsigned n;
    uint64_t e_min = e_limit(w, limit);
    uint64_t m = log2_start(pair_x(replica_key, node_hash), &n);
    uint64_t r = (uint64_t)n << 32;
    if (not_below(r, 32, e_min))
        return UINT64_MAX;
    log2_bits(&m, &r, 32, 28);
    if (not_below(r, 28, e_min))
        return UINT64_MAX;
    log2_bits(&m, &r, 28, 0);
    return score_of_log(r, w);
}

/* ---- Draws of many members at once ----
 *
 * A candidate scan hashes the replica with every member; that is most of
 * the work of a placement. With AVX-512 (DQ has the 64-bit multiply), eight
 * draws are computed side by side and compared with their class thresholds
 * in one go. The integer operations are those of sl__placement_pair_x_pre,
 * lane by lane, so the draws are the same bits whichever path runs; only
 * the speed depends on the machine. */

#ifdef DRAW_AVX512
__attribute__((target("avx512f,avx512dq"))) static inline __m512i mix8(__m512i x)
{
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 30));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9ull));
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 27));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0x94d049bb133111ebull));
    return _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
}

__attribute__((target("avx512f,avx512dq"))) static uint64_t
draw64(uint64_t key, const uint64_t *hash, const uint64_t *golden, const uint8_t *cls,
       const uint64_t *xcut, uint64_t *xs)
{
    __m512i k = _mm512_set1_epi64((long long)key), cuts = _mm512_loadu_si512(xcut);
    uint64_t mask = 0;
    for (unsigned j = 0; j < 64; j += 8) { /* independent: they overlap */
        __m512i h = _mm512_loadu_si512(hash + j), g = _mm512_loadu_si512(golden + j);
        __m512i x = mix8(_mm512_xor_si512(k, g));
        x = mix8(_mm512_xor_si512(x, h));
        x = _mm512_add_epi64(_mm512_srli_epi64(x, 11), _mm512_set1_epi64(1));
        _mm512_storeu_si512(xs + j, x);
        __m512i idx = _mm512_cvtepu8_epi64(_mm_loadl_epi64((const __m128i *)(cls + j)));
        __m512i cut = _mm512_permutexvar_epi64(idx, cuts);
        mask |= (uint64_t)_mm512_cmpge_epu64_mask(x, cut) << j;
    }
    return mask;
}
#endif

bool sl__placement_draw_fast(void)
{
#ifdef DRAW_AVX512
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
#else
    return false;
#endif
}

uint64_t sl__placement_draw_block(bool fast, uint64_t key, const uint64_t *hash,
                                  const uint64_t *golden, const uint8_t *cls, const uint64_t *xcut,
                                  uint64_t *xs, size_t n)
{
#ifdef DRAW_AVX512
    if (fast && n == 64)
        return draw64(key, hash, golden, cls, xcut, xs);
#else
    (void)fast;
#endif
    uint64_t mask = 0;
    for (size_t j = 0; j < n; j++) {
        xs[j] = sl__placement_pair_x_pre(key, hash[j], golden[j]);
        mask |= (uint64_t)(xs[j] >= xcut[cls[j]]) << j;
    }
    return mask;
}
