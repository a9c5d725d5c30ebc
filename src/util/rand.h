/*
 * rand.h - a small seeded generator (splitmix64 seeding xoshiro256**).
 *
 * Deterministic for a given seed on every platform, so the Raft core and the
 * simulator replay exactly. The caller owns the state; there is no global.
 */
#ifndef CAIRN_UTIL_RAND_H
#define CAIRN_UTIL_RAND_H

#include <stdint.h>

struct cairn_rand {
	uint64_t s[4];
};

void cairn_rand_seed(struct cairn_rand *r, uint64_t seed);
uint64_t cairn_rand_next(struct cairn_rand *r);
/* Uniform in [0, bound); bound > 0. */
uint64_t cairn_rand_below(struct cairn_rand *r, uint64_t bound);
/* Uniform in [lo, hi); lo < hi. */
uint64_t cairn_rand_range(struct cairn_rand *r, uint64_t lo, uint64_t hi);
/* true with probability per_million / 1e6. */
int cairn_rand_chance(struct cairn_rand *r, uint32_t per_million);

#endif
