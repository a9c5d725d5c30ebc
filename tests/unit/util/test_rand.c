/* The generator is a pure function of its seed, and bounded draws stay in range. */
#include <criterion/criterion.h>

#include "util/rand.h"

Test(rand, same_seed_same_sequence)
{
	struct cairn_rand a, b;
	cairn_rand_seed(&a, 42);
	cairn_rand_seed(&b, 42);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(cairn_rand_next(&a), cairn_rand_next(&b));
}

Test(rand, different_seeds_differ)
{
	struct cairn_rand a, b;
	cairn_rand_seed(&a, 1);
	cairn_rand_seed(&b, 2);
	cr_assert_neq(cairn_rand_next(&a), cairn_rand_next(&b));
}

Test(rand, range_covers_every_value_and_no_other)
{
	struct cairn_rand r;
	cairn_rand_seed(&r, 7);
	int seen[10] = {0};
	for (int i = 0; i < 10000; i++) {
		uint64_t v = cairn_rand_range(&r, 10, 20);
		cr_assert(v >= 10 && v < 20);
		seen[v - 10]++;
	}
	for (int i = 0; i < 10; i++)
		cr_assert_gt(seen[i], 800, "value %d drawn %d times", i + 10, seen[i]);
}
