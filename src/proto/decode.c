/*
 * decode.c - reading frames, safely, without allocating.
 *
 * A small cursor walks the frame body against the shape each message type
 * must have. It reads one msgpack header at a time, checks a declared length
 * against the bytes left and the field's limit before going further, and
 * never descends into a value it does not expect, so hostile input (huge
 * declared lengths, deep nesting, truncation, wrong types, extra elements)
 * is refused in time linear in the bytes read with no memory at stake.
 * msgpack-c's own unpacker is not used here: it allocates room for a
 * container's declared element count before seeing the elements, which a
 * five-byte frame can make gigabytes.
 */
#include "proto/proto.h"
#include "proto/shape.h"

#include <assert.h>
#include <string.h>

#include "cairn/errors.h"

struct rd {
	const uint8_t *p;
	const uint8_t *end; /* Invariant: p <= end */
	const char *why;    /* the first failure */
};

static int fail(struct rd *r, const char *why)
{
	if (r->why == NULL)
		r->why = why;
	return CAIRN_EPROTO;
}

static bool has(const struct rd *r, size_t n)
{
	assert(r->p <= r->end);
	return n <= (size_t)(r->end - r->p);
}

/* Reads an n-byte big-endian length or value after the marker byte. */
static int take_be(struct rd *r, unsigned n, uint64_t *v)
{
	if (!has(r, n))
		return fail(r, "truncated");
	uint64_t x = 0;
	for (unsigned i = 0; i < n; i++)
		x = x << 8 | r->p[i];
	r->p += n;
	*v = x;
	return 0;
}

static int take_marker(struct rd *r, uint8_t *m)
{
	if (!has(r, 1))
		return fail(r, "truncated");
	*m = *r->p++;
	return 0;
}

static int rd_u64(struct rd *r, uint64_t *v)
{
	uint8_t m;
	int rv = take_marker(r, &m);
	if (rv != 0)
		return rv;
	if (m <= 0x7f) {
		*v = m;
		return 0;
	}
	if (m >= 0xcc && m <= 0xcf) /* uint 8, 16, 32, 64 */
		return take_be(r, 1u << (m - 0xcc), v);
	if (m >= 0xd0 && m <= 0xd3) { /* int 8..64: accepted when not negative */
		unsigned n = 1u << (m - 0xd0);
		if (!has(r, n))
			return fail(r, "truncated");
		if (r->p[0] & 0x80)
			return fail(r, "negative integer");
		return take_be(r, n, v);
	}
	return fail(r, "expected an unsigned integer");
}

static int rd_u64_max(struct rd *r, uint64_t max, uint64_t *v, const char *why)
{
	int rv = rd_u64(r, v);
	if (rv != 0)
		return rv;
	return *v <= max ? 0 : fail(r, why);
}

static int rd_node_id(struct rd *r, uint64_t *v)
{
	int rv = rd_u64(r, v);
	if (rv != 0)
		return rv;
	return *v >= 1 && *v <= CAIRN_NODE_ID_MAX ? 0 : fail(r, "node id out of range");
}

static int rd_bool(struct rd *r, bool *v)
{
	uint8_t m;
	int rv = take_marker(r, &m);
	if (rv != 0)
		return rv;
	if (m != 0xc2 && m != 0xc3)
		return fail(r, "expected a boolean");
	*v = m == 0xc3;
	return 0;
}

static bool rd_nil(struct rd *r)
{
	if (has(r, 1) && *r->p == 0xc0) {
		r->p++;
		return true;
	}
	return false;
}

static int rd_array(struct rd *r, uint32_t *n)
{
	uint8_t m;
	uint64_t v;
	int rv = take_marker(r, &m);
	if (rv != 0)
		return rv;
	if (m >= 0x90 && m <= 0x9f) {
		*n = m & 0x0f;
		return 0;
	}
	if (m != 0xdc && m != 0xdd)
		return fail(r, "expected an array");
	rv = take_be(r, m == 0xdc ? 2 : 4, &v);
	if (rv != 0)
		return rv;
	*n = (uint32_t)v;
	return 0;
}

/* A byte string of the given family (bin or str) of min..max bytes. */
static int rd_raw(struct rd *r, bool str, uint32_t min, uint32_t max, struct cairn_proto_bytes *out)
{
	uint8_t m;
	uint64_t len;
	int rv = take_marker(r, &m);
	if (rv != 0)
		return rv;
	if (str && m >= 0xa0 && m <= 0xbf)
		len = m & 0x1f;
	else if (str && m >= 0xd9 && m <= 0xdb)
		rv = take_be(r, 1u << (m - 0xd9), &len);
	else if (!str && m >= 0xc4 && m <= 0xc6)
		rv = take_be(r, 1u << (m - 0xc4), &len);
	else
		return fail(r, str ? "expected a string" : "expected binary data");
	if (rv != 0)
		return rv;
	if (len < min)
		return fail(r, str ? "string too short" : "bytes too short");
	if (len > max)
		return fail(r, str ? "string too long" : "bytes too long");
	if (!has(r, len))
		return fail(r, "truncated");
	out->data = len == 0 ? NULL : r->p;
	out->len = (uint32_t)len;
	r->p += len;
	return 0;
}

static int rd_bin(struct rd *r, uint32_t min, uint32_t max, struct cairn_proto_bytes *out)
{
	return rd_raw(r, false, min, max, out);
}

/* A str of min..max bytes without NUL, copied NUL-terminated into dst
 * (room for max + 1 bytes). */
static int rd_text(struct rd *r, uint32_t min, uint32_t max, char *dst)
{
	struct cairn_proto_bytes s;
	int rv = rd_raw(r, true, min, max, &s);
	if (rv != 0)
		return rv;
	if (s.len > 0 && memchr(s.data, '\0', s.len) != NULL)
		return fail(r, "NUL byte in a string");
	if (s.len > 0)
		memcpy(dst, s.data, s.len);
	dst[s.len] = '\0';
	return 0;
}

/* Starts a frame: the outer array, its element count and the type. */
static int rd_begin(struct rd *r, const uint8_t *frame, size_t len, uint32_t *n, uint64_t *type)
{
	r->p = frame;
	r->end = frame + len;
	r->why = NULL;
	if (len == 0 || len > CAIRN_FRAME_BYTES_MAX)
		return fail(r, "bad frame length");
	int rv = rd_array(r, n);
	if (rv != 0)
		return rv;
	if (*n == 0)
		return fail(r, "empty message");
	return rd_u64(r, type);
}

static int rd_finish(struct rd *r)
{
	return r->p == r->end ? 0 : fail(r, "trailing bytes after the message");
}

int cairn_proto_frame_split(const uint8_t *p, size_t avail, size_t *body_len)
{
	if (avail < CAIRN_PROTO_PREFIX_BYTES)
		return 0;
	uint32_t len = cairn_get_be32(p);
	if (len == 0 || len > CAIRN_FRAME_BYTES_MAX)
		return CAIRN_EPROTO;
	if (avail - CAIRN_PROTO_PREFIX_BYTES < len)
		return 0;
	*body_len = len;
	return 1;
}

/* ---- Peer frames -------------------------------------------------------- */

static int rd_entry(struct rd *r, const struct cairn_raft_msg *m, uint64_t prev_term,
		    struct cairn_raft_entry *en)
{
	uint32_t n;
	uint64_t type;
	struct cairn_proto_bytes payload;
	int rv = rd_array(r, &n);
	if (rv == 0 && n != 3)
		rv = fail(r, "entry: wrong element count");
	if (rv == 0)
		rv = rd_u64(r, &en->term);
	if (rv == 0 && (en->term < prev_term || en->term > m->term))
		rv = fail(r, "entry: term out of order");
	if (rv == 0)
		rv = rd_u64_max(r, CAIRN_RAFT_ENTRY_NORMAL, &type, "entry: unknown type");
	if (rv == 0)
		rv = rd_bin(r, 0, CAIRN_ENTRY_BYTES_MAX, &payload);
	if (rv != 0)
		return rv;
	if (type == CAIRN_RAFT_ENTRY_NOOP && payload.len != 0)
		return fail(r, "entry: payload on a no-op");
	en->type = (uint8_t)type;
	en->len = payload.len;
	en->data = payload.data;
	return 0;
}

static int rd_append(struct rd *r, struct cairn_proto_peer *out)
{
	struct cairn_raft_msg *m = &out->msg;
	uint32_t n;
	int rv = rd_u64(r, &m->prev_index);
	if (rv == 0)
		rv = rd_u64(r, &m->prev_term);
	if (rv == 0)
		rv = rd_u64(r, &m->commit);
	if (rv == 0)
		rv = rd_array(r, &n);
	if (rv != 0)
		return rv;
	if (n > CAIRN_PROTO_APPEND_ENTRIES_MAX)
		return fail(r, "too many entries");
	if (m->prev_index > UINT64_MAX - n)
		return fail(r, "entry index overflows");
	uint64_t prev_term = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct cairn_raft_entry *en = &out->entries[i];
		rv = rd_entry(r, m, prev_term, en);
		if (rv != 0)
			return rv;
		en->index = m->prev_index + 1 + i;
		prev_term = en->term;
	}
	m->entries = n > 0 ? out->entries : NULL;
	m->n_entries = n;
	return 0;
}

static int rd_raft_fields(struct rd *r, struct cairn_proto_peer *out)
{
	struct cairn_raft_msg *m = &out->msg;
	int rv;
	switch (m->type) {
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		rv = rd_u64(r, &m->last_log_index);
		if (rv == 0)
			rv = rd_u64(r, &m->last_log_term);
		if (rv == 0 && m->type == CAIRN_RAFT_MSG_VOTE)
			rv = rd_bool(r, &m->transfer);
		return rv;
	case CAIRN_RAFT_MSG_PREVOTE_REPLY:
	case CAIRN_RAFT_MSG_VOTE_REPLY:
		return rd_bool(r, &m->reject);
	case CAIRN_RAFT_MSG_APPEND:
		return rd_append(r, out);
	case CAIRN_RAFT_MSG_APPEND_REPLY:
		rv = rd_bool(r, &m->reject);
		if (rv == 0)
			rv = rd_u64(r, &m->index);
		if (rv == 0)
			rv = rd_u64(r, &m->hint_term);
		return rv != 0 ? rv : rd_u64(r, &m->hint_index);
	case CAIRN_RAFT_MSG_HEARTBEAT:
		rv = rd_u64(r, &m->commit);
		return rv != 0 ? rv : rd_u64(r, &m->read_seq);
	case CAIRN_RAFT_MSG_HEARTBEAT_REPLY:
		rv = rd_bool(r, &m->reject);
		return rv != 0 ? rv : rd_u64(r, &m->read_seq);
	case CAIRN_RAFT_MSG_TIMEOUT_NOW:
		return 0;
	case CAIRN_RAFT_MSG_SNAPSHOT:
		rv = rd_u64(r, &m->prev_index);
		if (rv == 0)
			rv = rd_u64(r, &m->prev_term);
		return rv != 0 ? rv : rd_u64(r, &m->commit);
	default:
		assert(!"unreachable: type checked by the caller");
		return CAIRN_EPROTO;
	}
}

static int rd_hello(struct rd *r, uint32_t n, struct cairn_proto_hello *h)
{
	uint64_t version;
	if (n != 4)
		return fail(r, "hello: wrong element count");
	int rv = rd_u64(r, &version);
	if (rv == 0 && version != CAIRN_PROTO_VERSION)
		rv = fail(r, "hello: unsupported protocol version");
	if (rv == 0)
		rv = rd_u64(r, &h->cluster_id);
	if (rv == 0)
		rv = rd_node_id(r, &h->node_id);
	h->version = (uint32_t)version;
	return rv;
}

static int rd_snap_chunk(struct rd *r, uint32_t n, struct cairn_proto_snap_chunk *c)
{
	if (n != CAIRN_PROTO__SNAP_CHUNK_ELEMS)
		return fail(r, "snap-chunk: wrong element count");
	int rv = rd_node_id(r, &c->from);
	if (rv == 0)
		rv = rd_node_id(r, &c->to);
	if (rv == 0)
		rv = rd_u64(r, &c->term);
	if (rv == 0)
		rv = rd_u64(r, &c->snap_index);
	if (rv == 0 && c->snap_index == 0)
		rv = fail(r, "snap-chunk: snapshot index 0");
	if (rv == 0)
		rv = rd_u64(r, &c->snap_term);
	if (rv == 0 && (c->snap_term == 0 || c->snap_term > c->term))
		rv = fail(r, "snap-chunk: snapshot term out of range");
	if (rv == 0)
		rv = rd_u64(r, &c->offset);
	if (rv == 0)
		rv = rd_bool(r, &c->last);
	if (rv == 0)
		rv = rd_bin(r, 0, CAIRN_SNAPSHOT_CHUNK_BYTES, &c->data);
	if (rv == 0 && c->offset > UINT64_MAX - c->data.len)
		rv = fail(r, "snap-chunk: offset overflows");
	return rv;
}

static int rd_snap_ack(struct rd *r, uint32_t n, struct cairn_proto_snap_ack *a)
{
	if (n != CAIRN_PROTO__SNAP_ACK_ELEMS)
		return fail(r, "snap-ack: wrong element count");
	int rv = rd_node_id(r, &a->from);
	if (rv == 0)
		rv = rd_node_id(r, &a->to);
	if (rv == 0)
		rv = rd_u64(r, &a->term);
	if (rv == 0)
		rv = rd_u64(r, &a->snap_index);
	if (rv == 0 && a->snap_index == 0)
		rv = fail(r, "snap-ack: snapshot index 0");
	if (rv == 0)
		rv = rd_u64(r, &a->offset_next);
	if (rv == 0)
		rv = rd_bool(r, &a->ok);
	return rv;
}

int cairn_proto_decode_peer(const uint8_t *frame, size_t len, struct cairn_proto_peer *out)
{
	struct rd r;
	uint32_t n;
	uint64_t type;
	out->type = 0;
	memset(&out->hello, 0, sizeof out->hello);
	memset(&out->chunk, 0, sizeof out->chunk);
	memset(&out->ack, 0, sizeof out->ack);
	memset(&out->msg, 0, sizeof out->msg);
	int rv = rd_begin(&r, frame, len, &n, &type);
	if (rv != 0)
		goto out;
	if (type == CAIRN_PROTO_HELLO) {
		rv = rd_hello(&r, n, &out->hello);
	} else if (type == CAIRN_PROTO_SNAP_CHUNK) {
		rv = rd_snap_chunk(&r, n, &out->chunk);
	} else if (type == CAIRN_PROTO_SNAP_ACK) {
		rv = rd_snap_ack(&r, n, &out->ack);
	} else if (type >= CAIRN_RAFT_MSG_TYPE_MIN && type <= CAIRN_RAFT_MSG_TYPE_MAX) {
		struct cairn_raft_msg *m = &out->msg;
		m->type = (uint8_t)type;
		if (n != cairn_proto__raft_elems[type])
			rv = fail(&r, "wrong element count");
		if (rv == 0)
			rv = rd_node_id(&r, &m->from);
		if (rv == 0)
			rv = rd_node_id(&r, &m->to);
		if (rv == 0)
			rv = rd_u64(&r, &m->term);
		if (rv == 0)
			rv = rd_raft_fields(&r, out);
	} else {
		rv = fail(&r, "unknown peer message type");
	}
	if (rv == 0)
		rv = rd_finish(&r);
	out->type = (uint8_t)type;
out:
	out->why = r.why;
	assert((rv == 0) == (r.why == NULL));
	return rv;
}

/* ---- Client requests ---------------------------------------------------- */

static int rd_request_fields(struct rd *r, struct cairn_proto_request *q)
{
	int rv = 0;
	bool write = q->type != CAIRN_PROTO_GET;
	if (write)
		rv = rd_u64(r, &q->client_id);
	if (rv == 0 && write && q->client_id == 0)
		rv = fail(r, "client id 0");
	if (rv == 0 && write)
		rv = rd_u64(r, &q->seq);
	if (rv == 0 && write && q->seq == 0)
		rv = fail(r, "sequence number 0");
	if (rv == 0)
		rv = rd_bin(r, 1, CAIRN_KEY_BYTES_MAX, &q->key);
	if (rv == 0 && q->type == CAIRN_PROTO_CAS)
		rv = rd_bin(r, 0, CAIRN_VALUE_BYTES_MAX, &q->expected);
	if (rv == 0 && (q->type == CAIRN_PROTO_PUT || q->type == CAIRN_PROTO_CAS))
		rv = rd_bin(r, 0, CAIRN_VALUE_BYTES_MAX, &q->value);
	return rv;
}

int cairn_proto_decode_request(const uint8_t *frame, size_t len, struct cairn_proto_request *out)
{
	struct rd r;
	uint32_t n;
	uint64_t type;
	memset(out, 0, sizeof *out);
	int rv = rd_begin(&r, frame, len, &n, &type);
	if (rv == 0 && (type < CAIRN_PROTO_GET || type > CAIRN_PROTO_STATUS))
		rv = fail(&r, "unknown request type");
	if (rv == 0 && n < 2)
		rv = fail(&r, "wrong element count");
	if (rv == 0)
		rv = rd_u64(&r, &out->id);
	if (rv != 0)
		goto out;
	out->type = (uint8_t)type;
	out->id_known = true;
	if (n != cairn_proto__request_elems[type - CAIRN_PROTO_GET])
		rv = fail(&r, "wrong element count");
	if (rv == 0 && type != CAIRN_PROTO_STATUS)
		rv = rd_request_fields(&r, out);
	if (rv == 0)
		rv = rd_finish(&r);
out:
	out->why = r.why;
	assert((rv == 0) == (r.why == NULL));
	return rv;
}

/* ---- Client replies ----------------------------------------------------- */

static int rd_status_reply(struct rd *r, uint32_t n, struct cairn_proto_status *st)
{
	if (n != 13)
		return fail(r, "status: wrong element count");
	int rv = rd_node_id(r, &st->node_id);
	if (rv == 0)
		rv = rd_text(r, 1, CAIRN_PROTO_ROLE_BYTES_MAX, st->role);
	if (rv == 0)
		rv = rd_u64(r, &st->term);
	if (rv == 0)
		rv = rd_u64_max(r, CAIRN_NODE_ID_MAX, &st->leader, "leader id out of range");
	if (rv == 0)
		rv = rd_u64(r, &st->commit_index);
	if (rv == 0)
		rv = rd_u64(r, &st->applied_index);
	if (rv == 0)
		rv = rd_u64(r, &st->last_log_index);
	if (rv == 0)
		rv = rd_text(r, 0, CAIRN_PROTO_ADDR_BYTES_MAX, st->peer_addr);
	if (rv == 0)
		rv = rd_text(r, 0, CAIRN_PROTO_ADDR_BYTES_MAX, st->client_addr);
	if (rv == 0)
		rv = rd_u64(r, &st->first_log_index);
	if (rv == 0)
		rv = rd_u64(r, &st->log_bytes);
	return rv;
}

static int rd_not_leader(struct rd *r, uint32_t n, struct cairn_proto_reply *rep)
{
	int rv = 0;
	if (n != 5)
		return fail(r, "not-leader: wrong element count");
	if (!rd_nil(r))
		rv = rd_node_id(r, &rep->leader_id);
	if (rv == 0 && !rd_nil(r))
		rv = rd_text(r, 1, CAIRN_PROTO_ADDR_BYTES_MAX, rep->leader_addr);
	return rv;
}

static int rd_reply_fields(struct rd *r, uint32_t n, struct cairn_proto_reply *rep)
{
	uint64_t code;
	int rv = rd_u64_max(r, CAIRN_PROTO_CODE_MAX, &code, "unknown reply code");
	if (rv != 0)
		return rv;
	rep->code = (uint8_t)code;
	switch (code) {
	case CAIRN_PROTO_OK:
	case CAIRN_PROTO_CAS_MISMATCH:
		if (n != 3 && n != 4)
			return fail(r, "reply: wrong element count");
		rep->has_value = n == 4;
		return n == 4 ? rd_bin(r, 0, CAIRN_VALUE_BYTES_MAX, &rep->value) : 0;
	case CAIRN_PROTO_NOT_FOUND:
		return n == 3 ? 0 : fail(r, "reply: wrong element count");
	case CAIRN_PROTO_NOT_LEADER:
		return rd_not_leader(r, n, rep);
	default:
		if (n != 4)
			return fail(r, "reply: wrong element count");
		return rd_text(r, 0, CAIRN_PROTO_MESSAGE_BYTES_MAX, rep->message);
	}
}

int cairn_proto_decode_reply(const uint8_t *frame, size_t len, struct cairn_proto_reply *out)
{
	struct rd r;
	uint32_t n;
	uint64_t type;
	memset(out, 0, sizeof *out);
	int rv = rd_begin(&r, frame, len, &n, &type);
	if (rv == 0 && type != CAIRN_PROTO_REPLY && type != CAIRN_PROTO_STATUS_REPLY)
		rv = fail(&r, "unknown reply type");
	if (rv == 0 && n < 3)
		rv = fail(&r, "wrong element count");
	if (rv == 0)
		rv = rd_u64(&r, &out->id);
	if (rv != 0)
		goto out;
	out->type = (uint8_t)type;
	if (type == CAIRN_PROTO_STATUS_REPLY)
		rv = rd_status_reply(&r, n, &out->status);
	else
		rv = rd_reply_fields(&r, n, out);
	if (rv == 0)
		rv = rd_finish(&r);
out:
	out->why = r.why;
	assert((rv == 0) == (r.why == NULL));
	return rv;
}
