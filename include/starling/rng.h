/* A small deterministic random generator (xoshiro256**), seeded by the
 * caller. The sans-IO core uses only this, never a global generator, so that a
 * simulation replays bit for bit from its seed. Public because the modules
 * around the core use the same generator: sl_rejoin embeds one, and the
 * simulator draws its network and scenario randomness from it. */
#ifndef STARLING_RNG_H
#define STARLING_RNG_H

#include <stdint.h>

typedef struct sl_rng {
    uint64_t s[4];
} sl_rng;

/* Seeds the generator; every seed, including 0, gives a valid state. */
void sl_rng_seed(sl_rng *r, uint64_t seed);

/* Returns the next 64 random bits. */
uint64_t sl_rng_next(sl_rng *r);

/* Returns a uniform integer in [0, n); n must be > 0. */
uint64_t sl_rng_below(sl_rng *r, uint64_t n);

/* Returns a uniform double in [0, 1). */
double sl_rng_unit(sl_rng *r);

/* A 64-bit mixing function (splitmix64's finaliser), useful to derive seeds. */
uint64_t sl_mix64(uint64_t x);

#endif
