/* Internal, cross-file helpers of placement/: platform-stable hashing and the
 * fixed-point rendezvous score. Not part of the public contract. */
#ifndef STARLING_PLACEMENT_INTERNAL_H
#define STARLING_PLACEMENT_INTERNAL_H

#include <stdint.h>

/* Returns a 64-bit hash of the NUL-terminated string s (FNV-1a, then a
 * splitmix64 finaliser). The same bytes give the same value on every
 * platform. */
uint64_t sl__placement_hash_str(const char *s);

/* Returns the splitmix64 finaliser of x: a bijective 64-bit mixer. */
uint64_t sl__placement_mix(uint64_t x);

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
