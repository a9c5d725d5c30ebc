/*
 * fuzz_proto.c - a deterministic, seeded fuzz loop over every decoder.
 *
 * Each iteration feeds all three decoders one of: a shaped frame (the right
 * skeleton for a random type, with fields near and over their limits, of
 * the wrong type now and then, one element short or extra); a valid frame
 * of a random message after a few mutations (bit flips, bytes set to msgpack
 * markers, truncations, extensions, inserted and deleted runs, length bytes
 * nudged, the type swapped); or random bytes. Every input is copied into a
 * buffer of exactly its size so AddressSanitizer sees any read past the end.
 * Whatever a decoder accepts must satisfy the rules of proto.h (checked by
 * gen.c's independent validators) and must re-encode and decode to the same
 * message, byte for byte when it was packed the way the encoders pack;
 * every unmutated frame must decode to what was encoded.
 *
 *   fuzz-proto [SEED [ITERATIONS]]   (defaults 1 and 200000; also
 *                                      CAIRN_FUZZ_SEED, CAIRN_FUZZ_ITERS;
 *                                      CAIRN_FUZZ_SHAPED: shaped frames per
 *                                      million, default 400000)
 * A failure prints the seed and iteration, and exits 1.
 */
#include <inttypes.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "gen.h"
#include "proto/proto.h"
#include "util/clock.h"

#define INPUT_BYTES_MAX 4096u

struct fuzz {
	struct gen gen;
	struct cairn_rand rand; /* mutations */
	uint64_t seed;
	uint64_t iter;
	struct cairn_buf enc;
	struct cairn_buf reenc;
	uint8_t input[INPUT_BYTES_MAX];
	size_t input_len;
	struct cairn_proto_peer *peer, *peer2;
	struct cairn_proto_request req, req2;
	struct cairn_proto_reply *rep, *rep2;
	uint64_t accepted[3];
	bool canonical; /* the input is packed as our encoders pack */
};

static void die(struct fuzz *f, const char *what)
{
	fprintf(stderr, "fuzz-proto: FAIL seed=%" PRIu64 " iteration=%" PRIu64 ": %s\n", f->seed,
		f->iter, what);
	fprintf(stderr, "input (%zu bytes):", f->input_len);
	for (size_t i = 0; i < f->input_len && i < 256; i++)
		fprintf(stderr, " %02x", f->input[i]);
	fprintf(stderr, "\n");
	exit(1);
}

/* The body of the last frame in b. */
static const uint8_t *frame_body(const struct cairn_buf *b, size_t *len)
{
	*len = cairn_get_be32(b->data);
	return b->data + CAIRN_PROTO_PREFIX_BYTES;
}

/* An accepted frame packed the way the encoders pack must come back
 * byte for byte: nothing ignored, nothing extra, nothing reinterpreted. */
static void check_canonical(struct fuzz *f, const uint8_t *p, size_t n, const uint8_t *b,
			    size_t len)
{
	if (f->canonical && (n != len || memcmp(p, b, n) != 0))
		die(f, "an accepted frame differs from its re-encoding");
}

static void check_peer(struct fuzz *f, const uint8_t *p, size_t n)
{
	if (cairn_proto_decode_peer(p, n, f->peer) != 0) {
		if (f->peer->why == NULL)
			die(f, "peer refused without a reason");
		return;
	}
	f->accepted[0]++;
	size_t len;
	cairn_buf_reset(&f->reenc);
	if (f->peer->type == CAIRN_PROTO_HELLO) {
		if (f->peer->hello.version != CAIRN_PROTO_VERSION ||
		    cairn_proto_encode_hello(&f->reenc, &f->peer->hello) != 0)
			die(f, "accepted an invalid hello");
		const uint8_t *b = frame_body(&f->reenc, &len);
		check_canonical(f, p, n, b, len);
		if (cairn_proto_decode_peer(b, len, f->peer2) != 0 ||
		    !hello_eq(&f->peer->hello, &f->peer2->hello))
			die(f, "hello does not survive a re-encode");
		return;
	}
	if (f->peer->type == CAIRN_PROTO_SNAP_CHUNK) {
		if (!snap_chunk_valid(&f->peer->chunk) ||
		    cairn_proto_encode_snap_chunk(&f->reenc, &f->peer->chunk) != 0)
			die(f, "accepted an invalid snap-chunk");
		const uint8_t *b = frame_body(&f->reenc, &len);
		check_canonical(f, p, n, b, len);
		if (cairn_proto_decode_peer(b, len, f->peer2) != 0 ||
		    !snap_chunk_eq(&f->peer->chunk, &f->peer2->chunk))
			die(f, "snap-chunk does not survive a re-encode");
		return;
	}
	if (f->peer->type == CAIRN_PROTO_SNAP_ACK) {
		if (!snap_ack_valid(&f->peer->ack) ||
		    cairn_proto_encode_snap_ack(&f->reenc, &f->peer->ack) != 0)
			die(f, "accepted an invalid snap-ack");
		const uint8_t *b = frame_body(&f->reenc, &len);
		check_canonical(f, p, n, b, len);
		if (cairn_proto_decode_peer(b, len, f->peer2) != 0 ||
		    !snap_ack_eq(&f->peer->ack, &f->peer2->ack))
			die(f, "snap-ack does not survive a re-encode");
		return;
	}
	if (!raft_valid(&f->peer->msg))
		die(f, "accepted an invalid raft message");
	if (cairn_proto_encode_raft(&f->reenc, &f->peer->msg) != 0)
		die(f, "accepted raft message does not re-encode");
	const uint8_t *b = frame_body(&f->reenc, &len);
	check_canonical(f, p, n, b, len);
	if (cairn_proto_decode_peer(b, len, f->peer2) != 0 ||
	    !raft_eq(&f->peer->msg, &f->peer2->msg))
		die(f, "raft message does not survive a re-encode");
}

static void check_request(struct fuzz *f, const uint8_t *p, size_t n)
{
	if (cairn_proto_decode_request(p, n, &f->req) != 0) {
		if (f->req.why == NULL)
			die(f, "request refused without a reason");
		return;
	}
	f->accepted[1]++;
	size_t len;
	if (!request_valid(&f->req))
		die(f, "accepted an invalid request");
	cairn_buf_reset(&f->reenc);
	if (cairn_proto_encode_request(&f->reenc, &f->req) != 0)
		die(f, "accepted request does not re-encode");
	const uint8_t *b = frame_body(&f->reenc, &len);
	check_canonical(f, p, n, b, len);
	if (cairn_proto_decode_request(b, len, &f->req2) != 0 || !request_eq(&f->req, &f->req2))
		die(f, "request does not survive a re-encode");
}

static void check_reply(struct fuzz *f, const uint8_t *p, size_t n)
{
	if (cairn_proto_decode_reply(p, n, f->rep) != 0) {
		if (f->rep->why == NULL)
			die(f, "reply refused without a reason");
		return;
	}
	f->accepted[2]++;
	size_t len;
	if (!reply_valid(f->rep))
		die(f, "accepted an invalid reply");
	cairn_buf_reset(&f->reenc);
	if (cairn_proto_encode_reply(&f->reenc, f->rep) != 0)
		die(f, "accepted reply does not re-encode");
	const uint8_t *b = frame_body(&f->reenc, &len);
	check_canonical(f, p, n, b, len);
	if (cairn_proto_decode_reply(b, len, f->rep2) != 0 || !reply_eq(f->rep, f->rep2))
		die(f, "reply does not survive a re-encode");
}

/* Every decoder on f->input, through an exact-size copy. */
static void feed(struct fuzz *f)
{
	uint8_t *p = malloc(f->input_len == 0 ? 1 : f->input_len);
	if (p == NULL)
		die(f, "out of memory");
	memcpy(p, f->input, f->input_len);
	check_peer(f, p, f->input_len);
	check_request(f, p, f->input_len);
	check_reply(f, p, f->input_len);
	free(p);
}

static const uint8_t markers[] = {0x00, 0x01, 0x05, 0x7f, 0x80, 0x90, 0x91, 0x9f, 0xa0, 0xbf, 0xc0,
				  0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xca, 0xcc, 0xcd, 0xce, 0xcf,
				  0xd0, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
static const uint8_t types[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 16,
				17, 18, 19, 32, 33, 34, 35, 36, 48, 49, 0};

static void mutate(struct fuzz *f)
{
	struct cairn_rand *r = &f->rand;
	size_t n = f->input_len;
	size_t at = n == 0 ? 0 : cairn_rand_below(r, n);
	switch (cairn_rand_below(r, 9)) {
	case 0: /* bit flip */
		if (n > 0)
			f->input[at] ^= (uint8_t)(1u << cairn_rand_below(r, 8));
		break;
	case 1: /* a msgpack marker where it does not belong */
		if (n > 0)
			f->input[at] = markers[cairn_rand_below(r, sizeof markers)];
		break;
	case 2: /* truncate */
		f->input_len = at;
		break;
	case 3: /* extend with random bytes */
		while (f->input_len < INPUT_BYTES_MAX && cairn_rand_chance(r, 800000))
			f->input[f->input_len++] = (uint8_t)cairn_rand_next(r);
		break;
	case 4: /* nudge a (length or count) byte up or down a little */
		if (n > 0)
			f->input[at] = (uint8_t)(f->input[at] + cairn_rand_range(r, 1, 5) - 2);
		break;
	case 5: /* swap the message type (second byte after a fixarray) */
		if (n > 1)
			f->input[1] = types[cairn_rand_below(r, sizeof types)];
		break;
	case 6: /* delete a run */
		if (n > 0) {
			size_t k = cairn_rand_range(r, 1, n - at + 1);
			memmove(f->input + at, f->input + at + k, n - at - k);
			f->input_len -= k;
		}
		break;
	case 7: /* insert a random byte */
		if (n < INPUT_BYTES_MAX) {
			memmove(f->input + at + 1, f->input + at, n - at);
			f->input[at] = (uint8_t)cairn_rand_next(r);
			f->input_len++;
		}
		break;
	default: /* random byte */
		if (n > 0)
			f->input[at] = (uint8_t)cairn_rand_next(r);
		break;
	}
}

/* Encodes a random valid message into f->enc, checks it decodes back
 * unchanged, and leaves its body in f->input (cut to INPUT_BYTES_MAX). */
static void valid_frame(struct fuzz *f)
{
	static struct cairn_raft_entry entries[CAIRN_PROTO_APPEND_ENTRIES_MAX];
	struct cairn_raft_msg m;
	struct cairn_proto_hello h;
	struct cairn_proto_request q;
	struct cairn_proto_snap_chunk c;
	struct cairn_proto_snap_ack a;
	uint64_t kind = cairn_rand_below(&f->rand, 6);
	int rv;
	cairn_buf_reset(&f->enc);
	if (kind == 0) {
		gen_raft(&f->gen, &m, entries);
		rv = cairn_proto_encode_raft(&f->enc, &m);
	} else if (kind == 1) {
		gen_hello(&f->gen, &h);
		rv = cairn_proto_encode_hello(&f->enc, &h);
	} else if (kind == 2) {
		gen_request(&f->gen, &q);
		rv = cairn_proto_encode_request(&f->enc, &q);
	} else if (kind == 3) {
		gen_reply(&f->gen, f->rep2);
		rv = cairn_proto_encode_reply(&f->enc, f->rep2);
	} else if (kind == 4) {
		gen_snap_chunk(&f->gen, &c);
		rv = cairn_proto_encode_snap_chunk(&f->enc, &c);
	} else {
		gen_snap_ack(&f->gen, &a);
		rv = cairn_proto_encode_snap_ack(&f->enc, &a);
	}
	if (rv != 0)
		die(f, "a valid message does not encode");
	size_t len;
	const uint8_t *b = frame_body(&f->enc, &len);
	bool same;
	if (kind == 0)
		same = cairn_proto_decode_peer(b, len, f->peer) == 0 && raft_eq(&m, &f->peer->msg);
	else if (kind == 1)
		same = cairn_proto_decode_peer(b, len, f->peer) == 0 &&
		       hello_eq(&h, &f->peer->hello);
	else if (kind == 2)
		same = cairn_proto_decode_request(b, len, &f->req) == 0 && request_eq(&q, &f->req);
	else if (kind == 3)
		same = cairn_proto_decode_reply(b, len, f->rep) == 0 && reply_eq(f->rep2, f->rep);
	else if (kind == 4)
		same = cairn_proto_decode_peer(b, len, f->peer) == 0 &&
		       f->peer->type == CAIRN_PROTO_SNAP_CHUNK &&
		       snap_chunk_eq(&c, &f->peer->chunk);
	else
		same = cairn_proto_decode_peer(b, len, f->peer) == 0 &&
		       f->peer->type == CAIRN_PROTO_SNAP_ACK && snap_ack_eq(&a, &f->peer->ack);
	if (!same)
		die(f, "a valid message does not round-trip");
	f->input_len = len < INPUT_BYTES_MAX ? len : INPUT_BYTES_MAX;
	memcpy(f->input, b, f->input_len);
}

/* ---- Shaped frames: the right skeleton with doubtful fields ------------ */

enum field {
	F_U64,
	F_NODE,
	F_OPT_NODE, /* nil or a node id */
	F_BOOL,
	F_KEY,
	F_VALUE,
	F_ROLE,
	F_ADDR,
	F_OPT_ADDR, /* nil or a non-empty address */
	F_TEXT,
	F_VERSION,
	F_ENTRIES,
	F_CHUNK, /* snapshot chunk data */
};

/* The fields after the type, for each message type (0-terminated lists are
 * avoided: F_U64 is 0, so each shape carries its length). */
struct shape {
	uint8_t type;
	uint8_t n;
	enum field f[10];
};

static const struct shape shapes[] = {
	{CAIRN_PROTO_HELLO, 3, {F_VERSION, F_U64, F_NODE}},
	{CAIRN_RAFT_MSG_PREVOTE, 5, {F_NODE, F_NODE, F_U64, F_U64, F_U64}},
	{CAIRN_RAFT_MSG_PREVOTE_REPLY, 4, {F_NODE, F_NODE, F_U64, F_BOOL}},
	{CAIRN_RAFT_MSG_VOTE, 6, {F_NODE, F_NODE, F_U64, F_U64, F_U64, F_BOOL}},
	{CAIRN_RAFT_MSG_VOTE_REPLY, 4, {F_NODE, F_NODE, F_U64, F_BOOL}},
	{CAIRN_RAFT_MSG_APPEND, 7, {F_NODE, F_NODE, F_U64, F_U64, F_U64, F_U64, F_ENTRIES}},
	{CAIRN_RAFT_MSG_APPEND_REPLY, 7, {F_NODE, F_NODE, F_U64, F_BOOL, F_U64, F_U64, F_U64}},
	{CAIRN_RAFT_MSG_HEARTBEAT, 5, {F_NODE, F_NODE, F_U64, F_U64, F_U64}},
	{CAIRN_RAFT_MSG_HEARTBEAT_REPLY, 5, {F_NODE, F_NODE, F_U64, F_BOOL, F_U64}},
	{CAIRN_RAFT_MSG_TIMEOUT_NOW, 3, {F_NODE, F_NODE, F_U64}},
	{CAIRN_RAFT_MSG_SNAPSHOT, 6, {F_NODE, F_NODE, F_U64, F_U64, F_U64, F_U64}},
	{CAIRN_PROTO_SNAP_CHUNK, 8, {F_NODE, F_NODE, F_U64, F_U64, F_U64, F_U64, F_BOOL, F_CHUNK}},
	{CAIRN_PROTO_SNAP_ACK, 6, {F_NODE, F_NODE, F_U64, F_U64, F_U64, F_BOOL}},
	{CAIRN_PROTO_GET, 2, {F_U64, F_KEY}},
	{CAIRN_PROTO_PUT, 5, {F_U64, F_U64, F_U64, F_KEY, F_VALUE}},
	{CAIRN_PROTO_DEL, 4, {F_U64, F_U64, F_U64, F_KEY}},
	{CAIRN_PROTO_CAS, 6, {F_U64, F_U64, F_U64, F_KEY, F_VALUE, F_VALUE}},
	{CAIRN_PROTO_STATUS, 1, {F_U64}},
	{CAIRN_PROTO_REPLY, 2, {F_U64, F_U64}}, /* code; the rest varies */
	{CAIRN_PROTO_REPLY, 3, {F_U64, F_U64, F_VALUE}},
	{CAIRN_PROTO_REPLY, 4, {F_U64, F_U64, F_OPT_NODE, F_OPT_ADDR}},
	{CAIRN_PROTO_REPLY, 3, {F_U64, F_U64, F_TEXT}},
	{CAIRN_PROTO_STATUS_REPLY,
	 10,
	 {F_U64, F_NODE, F_ROLE, F_U64, F_OPT_NODE, F_U64, F_U64, F_U64, F_ADDR, F_ADDR}},
};

struct shaper {
	struct fuzz *f;
	msgpack_packer pk;
	struct cairn_buf out;
	bool canonical; /* packed as msgpack-c packs: re-encoding must match */
	uint64_t term;  /* of the message, for entry terms near it */
	uint64_t last;  /* the last integer field packed */
};

static int shaper_write_cb(void *data, const char *p, size_t n)
{
	struct shaper *s = data;
	return cairn_buf_append(&s->out, p, n) == 0 ? 0 : -1;
}

static uint64_t near(struct cairn_rand *r, uint64_t v)
{
	uint64_t d = cairn_rand_below(r, 3);
	return cairn_rand_chance(r, 500000) ? v + d : v - d;
}

static uint64_t doubtful_u64(struct cairn_rand *r)
{
	static const uint64_t edges[] = {
		0, 1, 2, 3, 5, 7, 8, CAIRN_NODE_ID_MAX, UINT32_MAX, INT64_MAX, UINT64_MAX};
	if (cairn_rand_chance(r, 500000))
		return cairn_rand_below(r, 10);
	return near(r, edges[cairn_rand_below(r, sizeof edges / sizeof edges[0])]);
}

/* A length near one of the limits of its field. */
static uint32_t doubtful_len(struct cairn_rand *r, uint32_t min, uint32_t max)
{
	if (!cairn_rand_chance(r, 5000))
		return (uint32_t)cairn_rand_below(r, 6) + (min > 0 ? min - 1 : 0);
	return (uint32_t)near(r, max);
}

static void pack_wrong(struct shaper *s)
{
	struct cairn_rand *r = &s->f->rand;
	switch (cairn_rand_below(r, 6)) {
	case 0:
		msgpack_pack_nil(&s->pk);
		break;
	case 1:
		msgpack_pack_int64(&s->pk, -(int64_t)cairn_rand_range(r, 1, 1000));
		break;
	case 2:
		msgpack_pack_double(&s->pk, 1.5);
		break;
	case 3:
		msgpack_pack_map(&s->pk, 0);
		break;
	case 4:
		msgpack_pack_array(&s->pk, 1);
		msgpack_pack_uint64(&s->pk, 1);
		break;
	default:
		msgpack_pack_ext(&s->pk, 1, 1);
		msgpack_pack_ext_body(&s->pk, "x", 1);
		break;
	}
}

static void pack_uint(struct shaper *s, uint64_t v)
{
	if (v <= INT64_MAX && cairn_rand_chance(&s->f->rand, 20000)) {
		msgpack_pack_int64(&s->pk, (int64_t)v); /* may pick a signed form */
		s->canonical = false;
	} else {
		msgpack_pack_uint64(&s->pk, v);
	}
}

static void pack_bytes(struct shaper *s, bool str, uint32_t len)
{
	const uint8_t *p = s->f->gen.pool;
	if (len > s->f->gen.pool_len)
		len = (uint32_t)s->f->gen.pool_len;
	if (str) {
		msgpack_pack_str(&s->pk, len);
		msgpack_pack_str_body(&s->pk, p + (len == 0 ? 0 : cairn_rand_below(&s->f->rand, 8)),
				      len);
	} else {
		msgpack_pack_bin(&s->pk, len);
		msgpack_pack_bin_body(&s->pk, p, len);
	}
}

static void pack_entries(struct shaper *s)
{
	struct cairn_rand *r = &s->f->rand;
	uint32_t n = (uint32_t)cairn_rand_below(r, 4);
	uint32_t noise = 2000; /* per million, per entry field */
	if (cairn_rand_chance(r, 20000)) {
		n = (uint32_t)near(r, CAIRN_PROTO_APPEND_ENTRIES_MAX);
		noise = 0; /* let a long array reach the count limit */
	}
	/* Terms mostly valid (non-decreasing, at most the message's term),
	 * so that long entry arrays get as far as the count limit. */
	uint64_t term = s->term > 0 ? s->term - 1 : 0;
	msgpack_pack_array(&s->pk, n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t elems = cairn_rand_chance(r, noise) ? (uint32_t)cairn_rand_below(r, 5) : 3;
		if (cairn_rand_chance(r, noise))
			term = near(r, term);
		msgpack_pack_array(&s->pk, elems);
		if (elems > 0)
			pack_uint(s, term);
		uint64_t type = cairn_rand_chance(r, 200000) ? CAIRN_RAFT_ENTRY_NOOP
							     : CAIRN_RAFT_ENTRY_NORMAL;
		uint32_t len = type == CAIRN_RAFT_ENTRY_NOOP ? 0 : (uint32_t)cairn_rand_below(r, 3);
		if (cairn_rand_chance(r, noise))
			type = 2;
		if (cairn_rand_chance(r, noise))
			len = 1;
		if (elems > 1)
			pack_uint(s, type);
		if (elems > 2)
			pack_bytes(s, false, len);
		for (uint32_t k = 3; k < elems; k++)
			pack_uint(s, 0);
	}
}

static void pack_field(struct shaper *s, enum field fd)
{
	struct cairn_rand *r = &s->f->rand;
	if (cairn_rand_chance(r, 20000)) {
		pack_wrong(s);
		return;
	}
	bool nil = cairn_rand_chance(r, 300000);
	switch (fd) {
	case F_OPT_NODE:
		if (nil) {
			msgpack_pack_nil(&s->pk);
			break;
		}
		/* fall through */
	case F_U64:
	case F_NODE:
		s->last = doubtful_u64(r);
		pack_uint(s, s->last);
		break;
	case F_VERSION:
		pack_uint(s, near(r, CAIRN_PROTO_VERSION));
		break;
	case F_BOOL:
		if (cairn_rand_chance(r, 500000))
			msgpack_pack_true(&s->pk);
		else
			msgpack_pack_false(&s->pk);
		break;
	case F_KEY:
		pack_bytes(s, false, doubtful_len(r, 1, CAIRN_KEY_BYTES_MAX));
		break;
	case F_VALUE:
		pack_bytes(s, false, doubtful_len(r, 0, CAIRN_VALUE_BYTES_MAX));
		break;
	case F_ROLE:
		pack_bytes(s, true, doubtful_len(r, 1, CAIRN_PROTO_ROLE_BYTES_MAX));
		break;
	case F_OPT_ADDR:
		if (nil) {
			msgpack_pack_nil(&s->pk);
			break;
		}
		/* fall through */
	case F_ADDR:
		pack_bytes(s, true, doubtful_len(r, 0, CAIRN_PROTO_ADDR_BYTES_MAX));
		break;
	case F_TEXT:
		pack_bytes(s, true, doubtful_len(r, 0, CAIRN_PROTO_MESSAGE_BYTES_MAX));
		break;
	case F_ENTRIES:
		pack_entries(s);
		break;
	case F_CHUNK:
		pack_bytes(s, false, doubtful_len(r, 0, CAIRN_SNAPSHOT_CHUNK_BYTES));
		break;
	}
}

/* A frame of the right skeleton for a random type, with fields near and
 * over their limits, now and then of the wrong type, one element too few or
 * too many. Whatever a decoder accepts of it must, when it was packed
 * canonically, re-encode to exactly the same bytes. */
static void shaped_frame(struct fuzz *f)
{
	static struct shaper s;
	struct cairn_rand *r = &f->rand;
	const struct shape *sh = &shapes[cairn_rand_below(r, sizeof shapes / sizeof shapes[0])];
	uint32_t n = sh->n;
	if (cairn_rand_chance(r, 50000))
		n = cairn_rand_chance(r, 500000) ? n + 1 : n - 1; /* n >= 1 */
	if (s.f == NULL) {
		cairn_buf_init(&s.out, 0);
		msgpack_packer_init(&s.pk, &s, shaper_write_cb);
	}
	s.f = f;
	s.canonical = true;
	s.term = 0;
	cairn_buf_reset(&s.out);
	msgpack_pack_array(&s.pk, (size_t)n + 1);
	pack_uint(&s, sh->type);
	for (uint32_t i = 0; i < n; i++) {
		if (i < sh->n)
			pack_field(&s, sh->f[i]);
		else
			pack_uint(&s, doubtful_u64(r));
		if (i == 2) /* from, to, term: the term of a Raft message */
			s.term = s.last;
	}
	/* Shaped frames are fed whole (they may exceed INPUT_BYTES_MAX). */
	uint8_t *p = malloc(s.out.len);
	if (p == NULL)
		die(f, "out of memory");
	memcpy(p, s.out.data, s.out.len);
	f->input_len = s.out.len < INPUT_BYTES_MAX ? s.out.len : INPUT_BYTES_MAX;
	memcpy(f->input, p, f->input_len);
	f->canonical = s.canonical;
	check_peer(f, p, s.out.len);
	check_request(f, p, s.out.len);
	check_reply(f, p, s.out.len);
	f->canonical = false;
	free(p);
}

static uint64_t arg_or_env(int argc, char **argv, int i, const char *env, uint64_t def)
{
	const char *s = argc > i ? argv[i] : getenv(env);
	return s != NULL ? strtoull(s, NULL, 0) : def;
}

int main(int argc, char **argv)
{
	static struct fuzz f;
	static uint8_t pool[CAIRN_VALUE_BYTES_MAX + CAIRN_SNAPSHOT_CHUNK_BYTES + 64];
	static struct cairn_proto_reply rep, rep2;
	f.seed = arg_or_env(argc, argv, 1, "CAIRN_FUZZ_SEED", 1);
	uint64_t iters = arg_or_env(argc, argv, 2, "CAIRN_FUZZ_ITERS", 200000);
	/* Share of shaped frames (the rest: mutated valid frames, random bytes). */
	uint32_t shaped_per_million = (uint32_t)arg_or_env(0, argv, 0, "CAIRN_FUZZ_SHAPED", 400000);
	cairn_rand_seed(&f.rand, f.seed);
	cairn_rand_seed(&f.gen.rand, f.seed ^ 0x9e3779b97f4a7c15ull);
	for (size_t i = 0; i < sizeof pool; i++)
		pool[i] = (uint8_t)cairn_rand_next(&f.rand);
	f.gen.pool = pool;
	f.gen.pool_len = sizeof pool;
	f.gen.len_max = 24;
	f.peer = malloc(sizeof *f.peer);
	f.peer2 = malloc(sizeof *f.peer2);
	if (f.peer == NULL || f.peer2 == NULL)
		die(&f, "out of memory");
	f.rep = &rep;
	f.rep2 = &rep2;
	cairn_buf_init(&f.enc, 0);
	cairn_buf_init(&f.reenc, 0);

	uint64_t start_ns = cairn_clock_now_ns();
	for (f.iter = 0; f.iter < iters; f.iter++) {
		if (cairn_rand_chance(&f.rand, shaped_per_million)) {
			shaped_frame(&f);
			continue;
		}
		if (cairn_rand_chance(&f.rand, 100000)) {
			f.input_len = cairn_rand_below(&f.rand, 64);
			for (size_t i = 0; i < f.input_len; i++)
				f.input[i] = (uint8_t)cairn_rand_next(&f.rand);
		} else {
			valid_frame(&f);
			uint64_t k = cairn_rand_range(&f.rand, 1, 4);
			for (uint64_t i = 0; i < k; i++)
				mutate(&f);
		}
		feed(&f);
	}
	uint64_t ms = (cairn_clock_now_ns() - start_ns) / 1000000u;
	printf("fuzz-proto: seed=%" PRIu64 " iterations=%" PRIu64 " in %" PRIu64
	       " ms; inputs accepted: peer %" PRIu64 ", request %" PRIu64 ", reply %" PRIu64 "\n",
	       f.seed, iters, ms, f.accepted[0], f.accepted[1], f.accepted[2]);
	cairn_buf_free(&f.enc);
	cairn_buf_free(&f.reenc);
	free(f.peer);
	free(f.peer2);
	return 0;
}
