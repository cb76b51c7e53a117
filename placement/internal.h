/* Internal, cross-file helpers of placement/: platform-stable hashing and the
 * fixed-point rendezvous score. Not part of the public contract. */
#ifndef STARLING_PLACEMENT_INTERNAL_H
#define STARLING_PLACEMENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns a 64-bit hash of the NUL-terminated string s (FNV-1a, then a
 * splitmix64 finaliser). The same bytes give the same value on every
 * platform. */
uint64_t sl__placement_hash_str(const char *s);

/* Returns the splitmix64 finaliser of x: a bijective 64-bit mixer. Inline:
 * placement's inner loops hash every (replica, member) pair. */
static inline uint64_t sl__placement_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

/* Returns the pair's draw x in 1 .. 2^53 (u = x / 2^53, score.c): the
 * replica key and the node hash combined by a multiply, an exclusive-or and
 * two rounds of the finaliser. */
static inline uint64_t sl__placement_pair_x(uint64_t replica_key, uint64_t node_hash)
{
    uint64_t h = sl__placement_mix(replica_key ^ (node_hash * 0x9e3779b97f4a7c15ull));
    h = sl__placement_mix(h ^ node_hash);
    return (h >> 11) + 1;
}

/* The same, with node_golden = node_hash * 0x9e3779b97f4a7c15 computed once
 * per node. */
static inline uint64_t sl__placement_pair_x_pre(uint64_t replica_key, uint64_t node_hash,
                                                uint64_t node_golden)
{
    uint64_t h = sl__placement_mix(replica_key ^ node_golden);
    h = sl__placement_mix(h ^ node_hash);
    return (h >> 11) + 1;
}

/* Coarse bounds of the fixed-point log (sl__placement_log2_q32), to reject
 * most pairs without computing it. The fractional part of the log depends
 * only on the mantissa (x shifted so that its top bit is bit 31), and grows
 * with it; its first SL__PLACEMENT_COARSE_BITS bits below the top bit pick
 * an entry p of a table with bounds tab[p] <= fraction <= tab[p + 1]. */
#define SL__PLACEMENT_COARSE_BITS 10
#define SL__PLACEMENT_COARSE_SIZE ((1u << SL__PLACEMENT_COARSE_BITS) + 1)

/* Fills tab[0 .. SL__PLACEMENT_COARSE_SIZE) for the above. */
void sl__placement_coarse_init(uint64_t *tab);

/* Sets *lo and *hi to bounds of sl__placement_log2_q32(x) for x in
 * 1 .. 2^53, from the table of sl__placement_coarse_init(): *lo <= log <= *hi
 * <= 53 << 32. */
static inline void sl__placement_coarse_log(const uint64_t *tab, uint64_t x, uint64_t *lo,
                                            uint64_t *hi)
{
    unsigned t = 63u - (unsigned)__builtin_clzll(x);
    uint64_t m = t >= 31 ? x >> (t - 31) : x << (31 - t);
    uint32_t p =
        (uint32_t)(m >> (31 - SL__PLACEMENT_COARSE_BITS)) & ((1u << SL__PLACEMENT_COARSE_BITS) - 1);
    uint64_t base = (uint64_t)t << 32;
    *lo = base + tab[p];
    *hi = base + tab[p + 1];
    if (*hi > 53ull << 32)
        *hi = 53ull << 32;
}

/* Returns the score of the pair whose draw is x (sl__placement_pair_x) for
 * a node of weight w: the same value as sl__placement_score(). */
uint64_t sl__placement_score_x(uint64_t x, uint32_t w);

/* Whether this machine runs sl__placement_draw_block's fast path. */
bool sl__placement_draw_fast(void);

/* Sets xs[j] = sl__placement_pair_x_pre(key, hash[j], golden[j]) for j < n
 * (n <= 64) and returns the mask of the j with xs[j] >= xcut[cls[j]]; xcut
 * has SL__PLACEMENT_DRAW_CLASSES entries. With fast (from
 * sl__placement_draw_fast()) and n == 64 it computes eight at once; the
 * results are the same either way. */
#define SL__PLACEMENT_DRAW_CLASSES 8
uint64_t sl__placement_draw_block(bool fast, uint64_t key, const uint64_t *hash,
                                  const uint64_t *golden, const uint8_t *cls, const uint64_t *xcut,
                                  uint64_t *xs, size_t n);

/* Sets out[i] = sl__placement_score_x(x[i], w[i]) for i < n, faster than
 * one at a time; fast as for sl__placement_draw_block (the same results). */
void sl__placement_score_many(bool fast, const uint64_t *x, const uint32_t *w, uint64_t *out,
                              size_t n);

/* Returns the key of replica `index` of the service whose name hashes to
 * service_hash. */
uint64_t sl__placement_replica_key(uint64_t service_hash, uint32_t index);

/* Returns log2(x) in fixed point with 32 fractional bits, for x >= 1, using
 * integer arithmetic only; 0 for x == 0. */
uint64_t sl__placement_log2_q32(uint64_t x);

/* Returns the weighted rendezvous score of (replica key, node hash) for a
 * node of weight w (1..65535): a fixed-point value of -ln(u) / w, up to a
 * constant factor, where u is uniform in (0, 1] derived from the pair's hash.
 * Lower is better. */
uint64_t sl__placement_score(uint64_t replica_key, uint64_t node_hash, uint32_t w);

/* Returns the same score as sl__placement_score() when it is below limit;
 * otherwise returns UINT64_MAX or that score (both >= limit). Cheaper than
 * sl__placement_score() when the score is far from the limit. */
uint64_t sl__placement_score_below(uint64_t replica_key, uint64_t node_hash, uint32_t w,
                                   uint64_t limit);

#endif
