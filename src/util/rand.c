/*
 * rand.c - xoshiro256** seeded through splitmix64; bounded draws use
 * rejection so every value in range is equally likely.
 */
#include "util/rand.h"

#include <assert.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void cairn_rand_seed(struct cairn_rand *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

uint64_t cairn_rand_next(struct cairn_rand *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t cairn_rand_below(struct cairn_rand *r, uint64_t bound)
{
	assert(bound > 0);
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t x;
	do {
		x = cairn_rand_next(r);
	} while (x >= limit);
	return x % bound;
}

uint64_t cairn_rand_range(struct cairn_rand *r, uint64_t lo, uint64_t hi)
{
	assert(lo < hi);
	return lo + cairn_rand_below(r, hi - lo);
}

int cairn_rand_chance(struct cairn_rand *r, uint32_t per_million)
{
	return cairn_rand_below(r, 1000000) < per_million;
}
