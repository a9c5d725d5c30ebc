/* Buffers grow, stop at their cap, and encode big-endian exactly. */
#include <criterion/criterion.h>
#include <string.h>

#include "cairn/errors.h"
#include "util/buf.h"

Test(buf, append_and_consume)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_buf_append(&b, "hello ", 6), 0);
	cr_assert_eq(cairn_buf_append(&b, "world", 5), 0);
	cr_assert_eq(b.len, 11);
	cr_assert_eq(memcmp(b.data, "hello world", 11), 0);
	cairn_buf_consume(&b, 6);
	cr_assert_eq(b.len, 5);
	cr_assert_eq(memcmp(b.data, "world", 5), 0);
	cairn_buf_reset(&b);
	cr_assert_eq(b.len, 0);
	cr_assert_geq(b.cap, 11, "reset keeps the allocation");
	cairn_buf_free(&b);
}

Test(buf, refuses_to_grow_past_cap)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 100);
	uint8_t chunk[60] = {0};
	cr_assert_eq(cairn_buf_append(&b, chunk, sizeof chunk), 0);
	cr_assert_eq(cairn_buf_append(&b, chunk, sizeof chunk), CAIRN_ETOOBIG);
	cr_assert_eq(b.len, 60, "a refused append changes nothing");
	cr_assert_eq(cairn_buf_append(&b, chunk, 40), 0);
	cr_assert_eq(b.len, 100);
	cr_assert_leq(b.cap, 100);
	cairn_buf_free(&b);
}

Test(buf, big_endian_round_trip)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_buf_append_be32(&b, 0x01020304u), 0);
	cr_assert_eq(cairn_buf_append_be64(&b, 0x1122334455667788ull), 0);
	cr_assert_eq(cairn_buf_append_u8(&b, 0xab), 0);
	const uint8_t want[] = {1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0xab};
	cr_assert_eq(b.len, sizeof want);
	cr_assert_eq(memcmp(b.data, want, sizeof want), 0);
	cr_assert_eq(cairn_get_be32(b.data), 0x01020304u);
	cr_assert_eq(cairn_get_be64(b.data + 4), 0x1122334455667788ull);
	cairn_buf_free(&b);
}
