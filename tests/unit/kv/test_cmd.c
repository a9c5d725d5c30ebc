/* The command encoding: round trips, and a decoder that checks every
 * length. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "kv/kv.h"
#include "util/rand.h"

static uint8_t buf[64 + CAIRN_KEY_BYTES_MAX + 2 * 4096];

static size_t encode(const struct cairn_kv_cmd *c)
{
	size_t len = 0;
	cr_assert_eq(cairn_kv_cmd_encode(c, buf, sizeof(buf), &len), 0);
	cr_assert_eq(len, cairn_kv_cmd_bytes(c));
	return len;
}

Test(cmd, cas_round_trips_every_field)
{
	struct cairn_kv_cmd c = {.op = CAIRN_KV_CAS,
				 .client_id = 0x0102030405060708ull,
				 .seq = 77,
				 .key = (const uint8_t *)"key",
				 .key_len = 3,
				 .value = (const uint8_t *)"new",
				 .value_len = 3,
				 .expected = (const uint8_t *)"older",
				 .expected_len = 5};
	size_t len = encode(&c);
	cr_assert_eq(len, CAIRN_KV_CMD_HEADER_BYTES + 11);
	struct cairn_kv_cmd d;
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), 0);
	cr_assert_eq(d.op, CAIRN_KV_CAS);
	cr_assert_eq(d.client_id, c.client_id);
	cr_assert_eq(d.seq, 77);
	cr_assert_eq(d.key_len, 3);
	cr_assert_eq(memcmp(d.key, "key", 3), 0);
	cr_assert_eq(d.expected_len, 5);
	cr_assert_eq(memcmp(d.expected, "older", 5), 0);
	cr_assert_eq(d.value_len, 3);
	cr_assert_eq(memcmp(d.value, "new", 3), 0);
}

Test(cmd, put_with_empty_value_and_del_round_trip)
{
	struct cairn_kv_cmd c = {.op = CAIRN_KV_PUT,
				 .client_id = 1,
				 .seq = 1,
				 .key = (const uint8_t *)"k",
				 .key_len = 1};
	size_t len = encode(&c);
	struct cairn_kv_cmd d;
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), 0);
	cr_assert_eq(d.value_len, 0);
	cr_assert_null(d.value);
	c.op = CAIRN_KV_DEL;
	len = encode(&c);
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), 0);
	cr_assert_eq(d.op, CAIRN_KV_DEL);
}

Test(cmd, decode_rejects_any_length_mismatch)
{
	struct cairn_kv_cmd c = {.op = CAIRN_KV_PUT,
				 .client_id = 1,
				 .seq = 1,
				 .key = (const uint8_t *)"key",
				 .key_len = 3,
				 .value = (const uint8_t *)"v",
				 .value_len = 1};
	size_t len = encode(&c);
	struct cairn_kv_cmd d;
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(cairn_kv_cmd_decode(buf, cut, &d), CAIRN_EPROTO, "cut at %zu", cut);
	cr_assert_eq(cairn_kv_cmd_decode(buf, len + 1, &d), CAIRN_EPROTO, "trailing byte");
	cr_assert_eq(cairn_kv_cmd_decode(NULL, 0, &d), CAIRN_EPROTO);
}

Test(cmd, decode_rejects_bad_header_fields)
{
	struct cairn_kv_cmd c = {.op = CAIRN_KV_PUT,
				 .client_id = 1,
				 .seq = 1,
				 .key = (const uint8_t *)"key",
				 .key_len = 3,
				 .value = (const uint8_t *)"v",
				 .value_len = 1};
	size_t len = encode(&c);
	struct cairn_kv_cmd d;
	uint8_t saved[CAIRN_KV_CMD_HEADER_BYTES];
	memcpy(saved, buf, sizeof(saved));

	buf[0] = 2; /* version */
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), CAIRN_EPROTO);
	memcpy(buf, saved, sizeof(saved));
	buf[1] = 9; /* op */
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), CAIRN_EPROTO);
	memcpy(buf, saved, sizeof(saved));
	buf[1] = CAIRN_KV_DEL; /* del carrying a value */
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), CAIRN_EPROTO);
	memcpy(buf, saved, sizeof(saved));
	buf[27] = 1; /* put with expected_len 1 (total still short by one) */
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), CAIRN_EPROTO);
	cr_assert_eq(cairn_kv_cmd_decode(buf, len + 1, &d), CAIRN_EPROTO, "put never has expected");
	memcpy(buf, saved, sizeof(saved));
	buf[18] = 0xff; /* key_len far beyond the limit */
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), CAIRN_EPROTO);
	memcpy(buf, saved, sizeof(saved));
	buf[20] = 0xff; /* value_len 4 GiB */
	cr_assert_eq(cairn_kv_cmd_decode(buf, len, &d), CAIRN_EPROTO);
}

Test(cmd, encode_refuses_out_of_limit_fields)
{
	uint8_t key[CAIRN_KEY_BYTES_MAX + 1];
	memset(key, 'k', sizeof(key));
	struct cairn_kv_cmd c = {.op = CAIRN_KV_PUT, .client_id = 1, .seq = 1, .key = key};
	size_t len;
	c.key_len = 0;
	cr_assert_eq(cairn_kv_cmd_encode(&c, buf, sizeof(buf), &len), CAIRN_EINVAL);
	c.key_len = CAIRN_KEY_BYTES_MAX + 1;
	cr_assert_eq(cairn_kv_cmd_encode(&c, buf, sizeof(buf), &len), CAIRN_EINVAL);
	c.key_len = CAIRN_KEY_BYTES_MAX;
	cr_assert_eq(cairn_kv_cmd_encode(&c, buf, sizeof(buf), &len), 0);
	cr_assert_eq(cairn_kv_cmd_encode(&c, buf, 10, &len), CAIRN_ETOOBIG);
	c.op = 7;
	cr_assert_eq(cairn_kv_cmd_encode(&c, buf, sizeof(buf), &len), CAIRN_EINVAL);
}

/* Random bytes, and every single-byte corruption of a valid command,
 * either decode into a command whose fields lie inside the payload or are
 * refused: never a read out of bounds (ASan watches). */
Test(cmd, decoder_survives_random_and_corrupted_input)
{
	struct cairn_rand r;
	cairn_rand_seed(&r, 42);
	static uint8_t junk[256];
	struct cairn_kv_cmd d;
	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)cairn_rand_below(&r, sizeof(junk) + 1);
		uint8_t *p = malloc(len > 0 ? len : 1); /* exact size: ASan sees overreads */
		cr_assert_not_null(p);
		for (size_t k = 0; k < len; k++)
			p[k] = (uint8_t)cairn_rand_next(&r);
		if (len > 1 && i % 2 == 0) {
			p[0] = CAIRN_KV_CMD_VERSION; /* get past the first check */
			p[1] = (uint8_t)(1 + cairn_rand_below(&r, 3));
		}
		if (cairn_kv_cmd_decode(p, len, &d) == 0)
			cr_assert_eq(cairn_kv_cmd_bytes(&d), len);
		free(p);
	}
	struct cairn_kv_cmd c = {.op = CAIRN_KV_CAS,
				 .client_id = 3,
				 .seq = 4,
				 .key = (const uint8_t *)"abc",
				 .key_len = 3,
				 .value = (const uint8_t *)"v",
				 .value_len = 1,
				 .expected = (const uint8_t *)"e",
				 .expected_len = 1};
	size_t len = encode(&c);
	for (size_t at = 0; at < len; at++)
		for (int bit = 0; bit < 8; bit++) {
			uint8_t *p = malloc(len);
			cr_assert_not_null(p);
			memcpy(p, buf, len);
			p[at] ^= (uint8_t)(1u << bit);
			if (cairn_kv_cmd_decode(p, len, &d) == 0)
				cr_assert_eq(cairn_kv_cmd_bytes(&d), len);
			free(p);
		}
}
