/* Malformed input of every class is refused with CAIRN_EPROTO (and a reason),
 * and encoders refuse out-of-limit fields leaving the buffer as it was. */
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "proto/proto.h"

static msgpack_sbuffer sb;
static msgpack_packer pk;
static struct cairn_proto_peer *peer;
static struct cairn_proto_request req;
static struct cairn_proto_reply rep;

static void setup(void)
{
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	peer = malloc(sizeof *peer);
	cr_assert_not_null(peer);
}

static void teardown(void)
{
	free(peer);
	msgpack_sbuffer_destroy(&sb);
}

TestSuite(proto_reject, .init = setup, .fini = teardown);

static const uint8_t *bytes(void)
{
	return (const uint8_t *)sb.data;
}

/* Every decoder refuses the body in sb. */
static void refused_by_all(const char *what)
{
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO, "peer: %s",
		     what);
	cr_assert_not_null(peer->why);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO,
		     "request: %s", what);
	cr_assert_not_null(req.why);
	cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO, "reply: %s",
		     what);
	cr_assert_not_null(rep.why);
}

static void pack_u(uint64_t v)
{
	msgpack_pack_uint64(&pk, v);
}

static void pack_bin(size_t n, uint8_t fill)
{
	uint8_t *p = malloc(n + 1);
	cr_assert_not_null(p);
	memset(p, fill, n);
	msgpack_pack_bin(&pk, n);
	msgpack_pack_bin_body(&pk, p, n);
	free(p);
}

static void pack_str(const char *s, size_t n)
{
	msgpack_pack_str(&pk, n);
	msgpack_pack_str_body(&pk, s, n);
}

static void raw(const void *p, size_t n)
{
	msgpack_sbuffer_write(&sb, p, n);
}

static void reset(void)
{
	msgpack_sbuffer_clear(&sb);
}

Test(proto_reject, empty_and_oversize_frames)
{
	uint8_t one = 0x90;
	cr_assert_eq(cairn_proto_decode_peer(&one, 0, peer), CAIRN_EPROTO);
	cr_assert_eq(cairn_proto_decode_request(&one, 0, &req), CAIRN_EPROTO);
	cr_assert_eq(cairn_proto_decode_reply(&one, 0, &rep), CAIRN_EPROTO);
	/* The length is checked before a single byte is read. */
	cr_assert_eq(cairn_proto_decode_peer(&one, CAIRN_FRAME_BYTES_MAX + 1u, peer), CAIRN_EPROTO);
}

Test(proto_reject, not_an_array)
{
	pack_u(5);
	refused_by_all("integer");
	reset();
	msgpack_pack_map(&pk, 1);
	pack_u(5);
	pack_u(5);
	refused_by_all("map");
	reset();
	pack_str("hello", 5);
	refused_by_all("string");
	reset();
	raw("\xc1", 1); /* never used in msgpack */
	refused_by_all("reserved byte");
}

Test(proto_reject, empty_array_and_unknown_types)
{
	msgpack_pack_array(&pk, 0);
	refused_by_all("empty array");
	uint64_t unknown[] = {0, 11, 15, 19, 31, 37, 47, 50, 255, 1ull << 40};
	for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
		reset();
		msgpack_pack_array(&pk, 4);
		pack_u(unknown[i]);
		pack_u(1);
		pack_u(2);
		pack_u(3);
		refused_by_all("unknown type");
	}
	reset();
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int64(&pk, -9); /* a negative type number */
	pack_u(1);
	pack_u(2);
	pack_u(3);
	refused_by_all("negative type");
}

/* A TIMEOUT_NOW with n elements. */
static void timeout_now(uint32_t n)
{
	reset();
	msgpack_pack_array(&pk, n);
	pack_u(CAIRN_RAFT_MSG_TIMEOUT_NOW);
	for (uint32_t i = 1; i < n; i++)
		pack_u(1);
}

Test(proto_reject, too_few_and_extra_elements)
{
	timeout_now(4);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), 0, "%s", peer->why);
	timeout_now(3);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	timeout_now(5);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);

	reset();
	msgpack_pack_array(&pk, 3); /* STATUS with an extra element */
	pack_u(CAIRN_PROTO_STATUS);
	pack_u(1);
	pack_u(1);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	cr_assert(req.id_known, "the id was readable, so a server may answer it");
	cr_assert_eq(req.id, 1);
}

Test(proto_reject, trailing_bytes_after_the_message)
{
	timeout_now(4);
	pack_u(0);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_str_eq(peer->why, "trailing bytes after the message");
}

Test(proto_reject, wrong_field_types)
{
	/* VOTE_REPLY wants a boolean reject; give it an integer, then nil. */
	for (int variant = 0; variant < 4; variant++) {
		reset();
		msgpack_pack_array(&pk, 5);
		pack_u(CAIRN_RAFT_MSG_VOTE_REPLY);
		pack_u(1);
		pack_u(2);
		if (variant == 0)
			msgpack_pack_float(&pk, 1.0f); /* term as a float */
		else
			pack_u(3);
		if (variant == 1)
			pack_u(1);
		else if (variant == 2)
			msgpack_pack_nil(&pk);
		else if (variant == 3)
			pack_str("no", 2);
		else
			msgpack_pack_true(&pk);
		cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO,
			     "variant %d", variant);
	}
	/* GET with the key as a string rather than bin. */
	reset();
	msgpack_pack_array(&pk, 3);
	pack_u(CAIRN_PROTO_GET);
	pack_u(1);
	pack_str("k", 1);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
}

Test(proto_reject, non_negative_signed_integers_are_numbers)
{
	/* Other msgpack writers may use the signed forms for small numbers. */
	msgpack_pack_array(&pk, 4);
	pack_u(CAIRN_RAFT_MSG_TIMEOUT_NOW);
	raw("\xd0\x01", 2);
	raw("\xd1\x00\x02", 3);
	raw("\xd3\x00\x00\x00\x00\x00\x00\x00\x09", 9);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), 0, "%s", peer->why);
	cr_assert_eq(peer->msg.term, 9);
	reset();
	msgpack_pack_array(&pk, 4);
	pack_u(CAIRN_RAFT_MSG_TIMEOUT_NOW);
	pack_u(1);
	pack_u(2);
	raw("\xd3\x80\x00\x00\x00\x00\x00\x00\x09", 9);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_str_eq(peer->why, "negative integer");
}

Test(proto_reject, truncated_at_every_byte)
{
	msgpack_pack_array(&pk, 6);
	pack_u(CAIRN_PROTO_PUT);
	pack_u(77);
	pack_u(5);
	pack_u(1000);
	pack_bin(300, 'k');
	pack_bin(3000, 'v');
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), 0, "%s", req.why);
	for (size_t n = 1; n < sb.size; n++) {
		/* A copy of exactly n bytes, so ASan sees any read past it. */
		uint8_t *cut = malloc(n);
		cr_assert_not_null(cut);
		memcpy(cut, bytes(), n);
		cr_assert_eq(cairn_proto_decode_request(cut, n, &req), CAIRN_EPROTO, "cut at %zu",
			     n);
		free(cut);
	}
}

Test(proto_reject, huge_declared_lengths)
{
	/* array32 claiming 4 billion elements, five bytes in all */
	raw("\xdd\xff\xff\xff\xff", 5);
	refused_by_all("array32 of 2^32-1");
	/* an APPEND whose entry array claims 2^32-1 entries */
	reset();
	msgpack_pack_array(&pk, 8);
	for (int i = 0; i < 7; i++)
		pack_u(i == 0 ? CAIRN_RAFT_MSG_APPEND : 1);
	raw("\xdd\xff\xff\xff\xff", 5);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_str_eq(peer->why, "too many entries");
	/* a GET whose key claims 4 GiB */
	reset();
	msgpack_pack_array(&pk, 3);
	pack_u(CAIRN_PROTO_GET);
	pack_u(1);
	raw("\xc6\xff\xff\xff\xff", 5);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	/* a key that claims 10 bytes of which 3 are present */
	reset();
	msgpack_pack_array(&pk, 3);
	pack_u(CAIRN_PROTO_GET);
	pack_u(1);
	raw("\xc4\x0a"
	    "abc",
	    5);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	cr_assert_str_eq(req.why, "truncated");
}

Test(proto_reject, deep_nesting)
{
	static uint8_t deep[100000];
	memset(deep, 0x91, sizeof deep); /* [[[[... */
	cr_assert_eq(cairn_proto_decode_peer(deep, sizeof deep, peer), CAIRN_EPROTO);
	cr_assert_eq(cairn_proto_decode_request(deep, sizeof deep, &req), CAIRN_EPROTO);
	cr_assert_eq(cairn_proto_decode_reply(deep, sizeof deep, &rep), CAIRN_EPROTO);
}

/* A PUT whose key and value have the given sizes. */
static void put(size_t key_len, size_t value_len)
{
	reset();
	msgpack_pack_array(&pk, 6);
	pack_u(CAIRN_PROTO_PUT);
	pack_u(1);
	pack_u(1);
	pack_u(1);
	pack_bin(key_len, 'k');
	pack_bin(value_len, 'v');
}

Test(proto_reject, key_and_value_sizes)
{
	put(1, 0);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), 0, "%s", req.why);
	put(0, 10);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	cr_assert_str_eq(req.why, "bytes too short");
	put(CAIRN_KEY_BYTES_MAX + 1, 10);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	put(10, CAIRN_VALUE_BYTES_MAX + 1);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	cr_assert_str_eq(req.why, "bytes too long");
}

Test(proto_reject, write_without_client_id_or_sequence)
{
	for (int zero = 0; zero < 2; zero++) {
		reset();
		msgpack_pack_array(&pk, 5);
		pack_u(CAIRN_PROTO_DEL);
		pack_u(1);
		pack_u(zero == 0 ? 0 : 4);
		pack_u(zero == 1 ? 0 : 4);
		pack_bin(1, 'k');
		cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	}
}

/* An APPEND from 1 to 2 in term 5 after (10, 4) with the given entries,
 * each {term, type, payload length}. */
static void append(const uint64_t (*e)[3], size_t n, uint64_t from)
{
	reset();
	msgpack_pack_array(&pk, 8);
	pack_u(CAIRN_RAFT_MSG_APPEND);
	pack_u(from);
	pack_u(2);
	pack_u(5);
	pack_u(10);
	pack_u(4);
	pack_u(9);
	msgpack_pack_array(&pk, n);
	for (size_t i = 0; i < n; i++) {
		msgpack_pack_array(&pk, 3);
		pack_u(e[i][0]);
		pack_u(e[i][1]);
		pack_bin(e[i][2], 'p');
	}
}

Test(proto_reject, raft_invariants_of_append)
{
	const uint64_t good[][3] = {{4, 1, 3}, {5, 0, 0}, {5, 1, 1}};
	append(good, 3, 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), 0, "%s", peer->why);
	cr_assert_eq(peer->msg.entries[2].index, 13);
	const uint64_t future[][3] = {{6, 1, 3}};
	append(future, 1, 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	const uint64_t backwards[][3] = {{5, 1, 3}, {4, 1, 3}};
	append(backwards, 2, 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	const uint64_t noop_payload[][3] = {{5, 0, 3}};
	append(noop_payload, 1, 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	const uint64_t bad_type[][3] = {{5, 2, 3}};
	append(bad_type, 1, 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	append(good, 3, 0);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_str_eq(peer->why, "node id out of range");
	append(good, 3, CAIRN_NODE_ID_MAX + 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
}

Test(proto_reject, entry_count_over_limit)
{
	static uint64_t e[CAIRN_PROTO_APPEND_ENTRIES_MAX + 1][3];
	for (size_t i = 0; i <= CAIRN_PROTO_APPEND_ENTRIES_MAX; i++) {
		e[i][0] = 5;
		e[i][1] = 1;
		e[i][2] = 0;
	}
	append((const uint64_t(*)[3])e, CAIRN_PROTO_APPEND_ENTRIES_MAX, 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), 0, "%s", peer->why);
	append((const uint64_t(*)[3])e, CAIRN_PROTO_APPEND_ENTRIES_MAX + 1, 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
}

Test(proto_reject, hello_of_another_version)
{
	msgpack_pack_array(&pk, 4);
	pack_u(CAIRN_PROTO_HELLO);
	pack_u(CAIRN_PROTO_VERSION + 1);
	pack_u(0);
	pack_u(1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_str_eq(peer->why, "hello: unsupported protocol version");
}

Test(proto_reject, messages_of_the_other_port)
{
	/* A client request on the peer port and a peer message on the client port. */
	msgpack_pack_array(&pk, 2);
	pack_u(CAIRN_PROTO_STATUS);
	pack_u(1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO);
	timeout_now(4);
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	cr_assert_not(req.id_known);
}

Test(proto_reject, bad_reply_fields)
{
	/* unknown code */
	msgpack_pack_array(&pk, 3);
	pack_u(CAIRN_PROTO_REPLY);
	pack_u(1);
	pack_u(CAIRN_PROTO_CODE_MAX + 1);
	cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO);
	/* a value on NOT_FOUND */
	reset();
	msgpack_pack_array(&pk, 4);
	pack_u(CAIRN_PROTO_REPLY);
	pack_u(1);
	pack_u(CAIRN_PROTO_NOT_FOUND);
	pack_bin(1, 'v');
	cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO);
	/* NOT_LEADER naming leader 0, and one with an empty address */
	for (int v = 0; v < 2; v++) {
		reset();
		msgpack_pack_array(&pk, 5);
		pack_u(CAIRN_PROTO_REPLY);
		pack_u(1);
		pack_u(CAIRN_PROTO_NOT_LEADER);
		pack_u(v == 0 ? 0 : 1);
		pack_str("", 0);
		cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO);
	}
	/* a message with a NUL byte, and one over its limit */
	for (int v = 0; v < 2; v++) {
		static char text[CAIRN_PROTO_MESSAGE_BYTES_MAX + 1];
		memset(text, 'm', sizeof text);
		text[3] = v == 0 ? '\0' : 'm';
		reset();
		msgpack_pack_array(&pk, 4);
		pack_u(CAIRN_PROTO_REPLY);
		pack_u(1);
		pack_u(CAIRN_PROTO_BUSY);
		pack_str(text, v == 0 ? 10 : sizeof text);
		cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO);
	}
}

Test(proto_reject, status_reply_with_empty_role)
{
	msgpack_pack_array(&pk, 11);
	pack_u(CAIRN_PROTO_STATUS_REPLY);
	pack_u(1);
	pack_u(1);
	pack_str("", 0);
	for (int i = 0; i < 5; i++)
		pack_u(0);
	pack_str("a", 1);
	pack_str("b", 1);
	cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO);
}

/* ---- encoders ---------------------------------------------------------- */

Test(proto_reject, encoders_refuse_out_of_limit_fields_and_leave_the_buffer)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_buf_append(&b, "xyz", 3), 0);
	static uint8_t big[CAIRN_VALUE_BYTES_MAX + 1];
	struct cairn_proto_request q = {.type = CAIRN_PROTO_GET, .id = 1};
	cr_assert_eq(cairn_proto_encode_request(&b, &q), CAIRN_EINVAL, "empty key");
	q.key = (struct cairn_proto_bytes){big, CAIRN_KEY_BYTES_MAX + 1};
	cr_assert_eq(cairn_proto_encode_request(&b, &q), CAIRN_EINVAL, "key too long");
	q = (struct cairn_proto_request){.type = CAIRN_PROTO_PUT,
					 .id = 1,
					 .client_id = 1,
					 .seq = 1,
					 .key = {big, 1},
					 .value = {big, CAIRN_VALUE_BYTES_MAX + 1}};
	cr_assert_eq(cairn_proto_encode_request(&b, &q), CAIRN_EINVAL, "value too long");
	q.value.len = 1;
	q.seq = 0;
	cr_assert_eq(cairn_proto_encode_request(&b, &q), CAIRN_EINVAL, "seq 0");
	q.type = 99;
	cr_assert_eq(cairn_proto_encode_request(&b, &q), CAIRN_EINVAL, "unknown type");

	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_VOTE, .from = 0, .to = 1};
	cr_assert_eq(cairn_proto_encode_raft(&b, &m), CAIRN_EINVAL, "node 0");
	struct cairn_raft_entry e[2] = {{.term = 1, .index = 5, .type = 1},
					{.term = 1, .index = 7, .type = 1}};
	m = (struct cairn_raft_msg){.type = CAIRN_RAFT_MSG_APPEND,
				    .from = 1,
				    .to = 2,
				    .term = 1,
				    .prev_index = 4,
				    .entries = e,
				    .n_entries = 2};
	cr_assert_eq(cairn_proto_encode_raft(&b, &m), CAIRN_EINVAL, "a gap in indexes");

	static struct cairn_proto_reply r;
	cairn_proto_reply_init(&r, 1, CAIRN_PROTO_NOT_LEADER);
	r.leader_id = CAIRN_NODE_ID_MAX + 1;
	cr_assert_eq(cairn_proto_encode_reply(&b, &r), CAIRN_EINVAL, "leader out of range");
	cr_assert_eq(b.len, 3, "refused encodes leave the buffer as it was");
	cairn_buf_free(&b);
}

Test(proto_reject, encoder_over_buffer_cap_or_frame_limit)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 64);
	cr_assert_eq(cairn_buf_append(&b, "ab", 2), 0);
	static uint8_t big[CAIRN_ENTRY_BYTES_MAX];
	struct cairn_proto_request q = {.type = CAIRN_PROTO_PUT,
					.id = 1,
					.client_id = 1,
					.seq = 1,
					.key = {big, 1},
					.value = {big, 100}};
	cr_assert_eq(cairn_proto_encode_request(&b, &q), CAIRN_ETOOBIG, "buffer cap");
	cr_assert_eq(b.len, 2);
	cairn_buf_free(&b);

	/* Four of the largest entries do not fit in one frame. */
	cairn_buf_init(&b, 0);
	struct cairn_raft_entry e[4];
	for (int i = 0; i < 4; i++)
		e[i] = (struct cairn_raft_entry){.term = 1,
						 .index = 1 + (uint64_t)i,
						 .type = 1,
						 .len = CAIRN_ENTRY_BYTES_MAX,
						 .data = big};
	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_APPEND,
				   .from = 1,
				   .to = 2,
				   .term = 1,
				   .entries = e,
				   .n_entries = 4};
	cr_assert_eq(cairn_proto_encode_raft(&b, &m), CAIRN_ETOOBIG);
	cr_assert_eq(b.len, 0);
	cairn_buf_free(&b);
}

Test(proto_reject, frame_split_finds_whole_frames_and_refuses_bad_lengths)
{
	struct cairn_buf b;
	size_t len = 0;
	cairn_buf_init(&b, 0);
	struct cairn_proto_request q = {.type = CAIRN_PROTO_STATUS, .id = 5};
	cr_assert_eq(cairn_proto_encode_request(&b, &q), 0);
	for (size_t n = 0; n < b.len; n++)
		cr_assert_eq(cairn_proto_frame_split(b.data, n, &len), 0, "%zu bytes: wait", n);
	cr_assert_eq(cairn_proto_frame_split(b.data, b.len, &len), 1);
	cr_assert_eq(len, b.len - CAIRN_PROTO_PREFIX_BYTES);
	cr_assert_eq(cairn_proto_decode_request(b.data + 4, len, &req), 0);
	cr_assert_eq(cairn_proto_frame_split((const uint8_t *)"\0\0\0\0", 4, &len), CAIRN_EPROTO);
	uint8_t over[4];
	cairn_put_be32(over, CAIRN_FRAME_BYTES_MAX + 1u);
	cr_assert_eq(cairn_proto_frame_split(over, 4, &len), CAIRN_EPROTO, "refused early");
	cairn_buf_free(&b);
}

/* ---- snapshot frames --------------------------------------------------- */

/* A SNAP_CHUNK with the given fields and a data bin of data_len bytes. */
static void snap_chunk(uint64_t term, uint64_t snap_index, uint64_t snap_term, uint64_t offset,
		       size_t data_len)
{
	reset();
	msgpack_pack_array(&pk, 9);
	pack_u(CAIRN_PROTO_SNAP_CHUNK);
	pack_u(1);
	pack_u(2);
	pack_u(term);
	pack_u(snap_index);
	pack_u(snap_term);
	pack_u(offset);
	msgpack_pack_false(&pk);
	pack_bin(data_len, 's');
}

Test(proto_reject, snap_chunk_over_its_size_limit_or_out_of_range)
{
	snap_chunk(5, 100, 5, 0, CAIRN_SNAPSHOT_CHUNK_BYTES);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), 0, "%s", peer->why);
	cr_assert_eq(peer->chunk.data.len, CAIRN_SNAPSHOT_CHUNK_BYTES);
	snap_chunk(5, 100, 5, 0, CAIRN_SNAPSHOT_CHUNK_BYTES + 1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_str_eq(peer->why, "bytes too long");
	snap_chunk(5, 0, 5, 0, 10);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO, "index 0");
	snap_chunk(5, 100, 0, 0, 10);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO, "term 0");
	snap_chunk(5, 100, 6, 0, 10);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO,
		     "a snapshot term above the sender's term");
	snap_chunk(5, 100, 5, UINT64_MAX - 9, 10);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO,
		     "offset + length overflows");
	snap_chunk(5, 100, 5, UINT64_MAX - 10, 10);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), 0, "%s", peer->why);
}

Test(proto_reject, snap_frames_of_the_wrong_shape)
{
	/* The data as a str, an ACK one element short, an ACK without a bool. */
	reset();
	msgpack_pack_array(&pk, 9);
	pack_u(CAIRN_PROTO_SNAP_CHUNK);
	for (int i = 0; i < 6; i++)
		pack_u(1);
	msgpack_pack_true(&pk);
	pack_str("data", 4);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	reset();
	msgpack_pack_array(&pk, 6);
	pack_u(CAIRN_PROTO_SNAP_ACK);
	for (int i = 0; i < 5; i++)
		pack_u(1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	reset();
	msgpack_pack_array(&pk, 7);
	pack_u(CAIRN_PROTO_SNAP_ACK);
	for (int i = 0; i < 6; i++)
		pack_u(1);
	cr_assert_eq(cairn_proto_decode_peer(bytes(), sb.size, peer), CAIRN_EPROTO);
	cr_assert_str_eq(peer->why, "expected a boolean");
	/* Peer frames are nothing on the client port. */
	cr_assert_eq(cairn_proto_decode_request(bytes(), sb.size, &req), CAIRN_EPROTO);
	cr_assert_eq(cairn_proto_decode_reply(bytes(), sb.size, &rep), CAIRN_EPROTO);
}

Test(proto_reject, snap_encoders_refuse_out_of_limit_fields)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	static uint8_t big[CAIRN_SNAPSHOT_CHUNK_BYTES + 1];
	struct cairn_proto_snap_chunk c = {.from = 1,
					   .to = 2,
					   .term = 3,
					   .snap_index = 10,
					   .snap_term = 3,
					   .data = {big, CAIRN_SNAPSHOT_CHUNK_BYTES + 1}};
	cr_assert_eq(cairn_proto_encode_snap_chunk(&b, &c), CAIRN_EINVAL, "data too long");
	c.data.len = 1;
	c.snap_term = 4;
	cr_assert_eq(cairn_proto_encode_snap_chunk(&b, &c), CAIRN_EINVAL, "term above");
	c.snap_term = 3;
	c.snap_index = 0;
	cr_assert_eq(cairn_proto_encode_snap_chunk(&b, &c), CAIRN_EINVAL, "index 0");
	c.snap_index = 10;
	c.offset = UINT64_MAX;
	cr_assert_eq(cairn_proto_encode_snap_chunk(&b, &c), CAIRN_EINVAL, "overflow");
	c.offset = 0;
	c.to = 0;
	cr_assert_eq(cairn_proto_encode_snap_chunk(&b, &c), CAIRN_EINVAL, "node 0");
	struct cairn_proto_snap_ack a = {.from = 1, .to = 2, .term = 3, .snap_index = 0};
	cr_assert_eq(cairn_proto_encode_snap_ack(&b, &a), CAIRN_EINVAL, "index 0");
	a.snap_index = 1;
	a.from = CAIRN_NODE_ID_MAX + 1;
	cr_assert_eq(cairn_proto_encode_snap_ack(&b, &a), CAIRN_EINVAL, "node out of range");
	cr_assert_eq(b.len, 0, "refused encodes leave the buffer as it was");
	cairn_buf_free(&b);
}
