/* cmds.c - see cmds.h. */
#include "cmds.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kv/kv.h"

#define POOL_MAX 8192
static uint8_t *pool[POOL_MAX];
static size_t n_pool;

static struct cairn_raft_entry encode_entry(uint64_t index, const struct cairn_kv_cmd *c)
{
	size_t cap = cairn_kv_cmd_bytes(c);
	uint8_t *p = malloc(cap);
	cr_assert_not_null(p);
	cr_assert_lt(n_pool, POOL_MAX);
	pool[n_pool++] = p;
	size_t len = 0;
	cr_assert_eq(cairn_kv_cmd_encode(c, p, cap, &len), 0);
	struct cairn_raft_entry e = {.term = 1,
				     .index = index,
				     .type = CAIRN_RAFT_ENTRY_NORMAL,
				     .len = (uint32_t)len,
				     .data = p};
	return e;
}

struct cairn_raft_entry cmd_entry(uint64_t index, uint8_t op, uint64_t client, uint64_t seq,
				  const char *key, const char *value, const char *expected)
{
	struct cairn_kv_cmd c = {.op = op,
				 .client_id = client,
				 .seq = seq,
				 .key = (const uint8_t *)key,
				 .key_len = (uint32_t)strlen(key),
				 .value = (const uint8_t *)value,
				 .value_len = value != NULL ? (uint32_t)strlen(value) : 0,
				 .expected = (const uint8_t *)expected,
				 .expected_len = expected != NULL ? (uint32_t)strlen(expected) : 0};
	return encode_entry(index, &c);
}

struct cairn_raft_entry cmd_entry_bytes(uint64_t index, uint8_t op, uint64_t client, uint64_t seq,
					const void *key, uint32_t key_len, const void *value,
					uint32_t value_len)
{
	struct cairn_kv_cmd c = {.op = op,
				 .client_id = client,
				 .seq = seq,
				 .key = key,
				 .key_len = key_len,
				 .value = value,
				 .value_len = value_len};
	return encode_entry(index, &c);
}

struct cairn_raft_entry noop_entry(uint64_t index)
{
	struct cairn_raft_entry e = {.term = 1, .index = index, .type = CAIRN_RAFT_ENTRY_NOOP};
	return e;
}

void cmds_reset(void)
{
	for (size_t i = 0; i < n_pool; i++)
		free(pool[i]);
	n_pool = 0;
}
