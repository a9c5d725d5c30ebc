/*
 * encode.c - building frames with msgpack-c's packer.
 *
 * Each encoder checks its message against the limits first (a violation is
 * the caller's bug: CAIRN_EINVAL), then reserves the 4-byte length prefix,
 * packs the array through a write callback that appends to the caller's
 * struct cairn_buf, and patches the prefix at the end. The first failed
 * write is remembered and later writes are skipped; on any failure the
 * buffer is cut back to where the frame began.
 */
#include "proto/proto.h"
#include "proto/shape.h"

#include <assert.h>
#include <msgpack.h>
#include <string.h>

#include "cairn/errors.h"

struct enc {
	struct cairn_buf *b;
	size_t start; /* b->len when the frame began */
	int err;      /* first error of a write, sticky */
	msgpack_packer pk;
};

static int enc_write_cb(void *data, const char *p, size_t n)
{
	struct enc *e = data;
	if (e->err != 0)
		return -1;
	e->err = cairn_buf_append(e->b, p, n);
	return e->err == 0 ? 0 : -1;
}

static void enc_begin(struct enc *e, struct cairn_buf *b, size_t n_elems, unsigned type)
{
	e->b = b;
	e->start = b->len;
	e->err = cairn_buf_append_be32(b, 0);
	msgpack_packer_init(&e->pk, e, enc_write_cb);
	msgpack_pack_array(&e->pk, n_elems);
	msgpack_pack_unsigned_int(&e->pk, type);
}

static int enc_end(struct enc *e)
{
	size_t body = e->b->len - e->start - CAIRN_PROTO_PREFIX_BYTES;
	if (e->err == 0 && body > CAIRN_FRAME_BYTES_MAX)
		e->err = CAIRN_ETOOBIG;
	if (e->err != 0) {
		e->b->len = e->start;
		return e->err;
	}
	assert(body >= 1);
	cairn_put_be32(e->b->data + e->start, (uint32_t)body);
	return 0;
}

static void enc_u64(struct enc *e, uint64_t v)
{
	msgpack_pack_uint64(&e->pk, v);
}

static void enc_bool(struct enc *e, bool v)
{
	if (v)
		msgpack_pack_true(&e->pk);
	else
		msgpack_pack_false(&e->pk);
}

static void enc_bin(struct enc *e, const uint8_t *p, size_t n)
{
	msgpack_pack_bin(&e->pk, n);
	if (n > 0)
		msgpack_pack_bin_body(&e->pk, p, n);
}

static void enc_str(struct enc *e, const char *s, size_t n)
{
	msgpack_pack_str(&e->pk, n);
	if (n > 0)
		msgpack_pack_str_body(&e->pk, s, n);
}

static bool node_id_ok(uint64_t id)
{
	return id >= 1 && id <= CAIRN_NODE_ID_MAX;
}

static bool bytes_ok(const struct cairn_proto_bytes *v, uint32_t min, uint32_t max)
{
	return v->len >= min && v->len <= max && (v->len == 0 || v->data != NULL);
}

int cairn_proto_encode_hello(struct cairn_buf *b, const struct cairn_proto_hello *h)
{
	if (!node_id_ok(h->node_id))
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, 4, CAIRN_PROTO_HELLO);
	enc_u64(&e, h->version);
	enc_u64(&e, h->cluster_id);
	enc_u64(&e, h->node_id);
	return enc_end(&e);
}

/* What cairn_proto_decode_peer() insists on for an APPEND's entries. */
static bool entries_ok(const struct cairn_raft_msg *m)
{
	if (m->n_entries > CAIRN_PROTO_APPEND_ENTRIES_MAX)
		return false;
	if (m->n_entries > 0 && m->entries == NULL)
		return false;
	if (m->prev_index > UINT64_MAX - m->n_entries)
		return false;
	uint64_t prev_term = 0;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct cairn_raft_entry *en = &m->entries[i];
		if (en->index != m->prev_index + 1 + i)
			return false;
		if (en->term < prev_term || en->term > m->term)
			return false;
		if (en->type != CAIRN_RAFT_ENTRY_NOOP && en->type != CAIRN_RAFT_ENTRY_NORMAL)
			return false;
		if (en->type == CAIRN_RAFT_ENTRY_NOOP && en->len != 0)
			return false;
		if (en->len > CAIRN_ENTRY_BYTES_MAX || (en->len > 0 && en->data == NULL))
			return false;
		prev_term = en->term;
	}
	return true;
}

static void enc_raft_fields(struct enc *e, const struct cairn_raft_msg *m)
{
	switch (m->type) {
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		enc_u64(e, m->last_log_index);
		enc_u64(e, m->last_log_term);
		if (m->type == CAIRN_RAFT_MSG_VOTE)
			enc_bool(e, m->transfer);
		break;
	case CAIRN_RAFT_MSG_PREVOTE_REPLY:
	case CAIRN_RAFT_MSG_VOTE_REPLY:
		enc_bool(e, m->reject);
		break;
	case CAIRN_RAFT_MSG_APPEND:
		enc_u64(e, m->prev_index);
		enc_u64(e, m->prev_term);
		enc_u64(e, m->commit);
		msgpack_pack_array(&e->pk, m->n_entries);
		for (uint32_t i = 0; i < m->n_entries; i++) {
			msgpack_pack_array(&e->pk, 3);
			enc_u64(e, m->entries[i].term);
			enc_u64(e, m->entries[i].type);
			enc_bin(e, m->entries[i].data, m->entries[i].len);
		}
		break;
	case CAIRN_RAFT_MSG_APPEND_REPLY:
		enc_bool(e, m->reject);
		enc_u64(e, m->index);
		enc_u64(e, m->hint_term);
		enc_u64(e, m->hint_index);
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT:
		enc_u64(e, m->commit);
		enc_u64(e, m->read_seq);
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT_REPLY:
		enc_bool(e, m->reject);
		enc_u64(e, m->read_seq);
		break;
	case CAIRN_RAFT_MSG_TIMEOUT_NOW:
		break;
	case CAIRN_RAFT_MSG_SNAPSHOT:
		enc_u64(e, m->prev_index);
		enc_u64(e, m->prev_term);
		enc_u64(e, m->commit);
		break;
	default:
		assert(!"unreachable: type checked by the caller");
	}
}

int cairn_proto_encode_raft(struct cairn_buf *b, const struct cairn_raft_msg *m)
{
	if (m->type < CAIRN_RAFT_MSG_TYPE_MIN || m->type > CAIRN_RAFT_MSG_TYPE_MAX)
		return CAIRN_EINVAL;
	if (!node_id_ok(m->from) || !node_id_ok(m->to))
		return CAIRN_EINVAL;
	if (m->type == CAIRN_RAFT_MSG_APPEND && !entries_ok(m))
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, cairn_proto__raft_elems[m->type], m->type);
	enc_u64(&e, m->from);
	enc_u64(&e, m->to);
	enc_u64(&e, m->term);
	enc_raft_fields(&e, m);
	return enc_end(&e);
}

int cairn_proto_encode_snap_chunk(struct cairn_buf *b, const struct cairn_proto_snap_chunk *c)
{
	if (!node_id_ok(c->from) || !node_id_ok(c->to))
		return CAIRN_EINVAL;
	if (c->snap_index == 0 || c->snap_term == 0 || c->snap_term > c->term)
		return CAIRN_EINVAL;
	if (!bytes_ok(&c->data, 0, CAIRN_SNAPSHOT_CHUNK_BYTES))
		return CAIRN_EINVAL;
	if (c->offset > UINT64_MAX - c->data.len)
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, CAIRN_PROTO__SNAP_CHUNK_ELEMS, CAIRN_PROTO_SNAP_CHUNK);
	enc_u64(&e, c->from);
	enc_u64(&e, c->to);
	enc_u64(&e, c->term);
	enc_u64(&e, c->snap_index);
	enc_u64(&e, c->snap_term);
	enc_u64(&e, c->offset);
	enc_bool(&e, c->last);
	enc_bin(&e, c->data.data, c->data.len);
	return enc_end(&e);
}

int cairn_proto_encode_snap_ack(struct cairn_buf *b, const struct cairn_proto_snap_ack *a)
{
	if (!node_id_ok(a->from) || !node_id_ok(a->to) || a->snap_index == 0)
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, CAIRN_PROTO__SNAP_ACK_ELEMS, CAIRN_PROTO_SNAP_ACK);
	enc_u64(&e, a->from);
	enc_u64(&e, a->to);
	enc_u64(&e, a->term);
	enc_u64(&e, a->snap_index);
	enc_u64(&e, a->offset_next);
	enc_bool(&e, a->ok);
	return enc_end(&e);
}

static bool request_ok(const struct cairn_proto_request *q)
{
	bool write = q->type == CAIRN_PROTO_PUT || q->type == CAIRN_PROTO_DEL ||
		     q->type == CAIRN_PROTO_CAS;
	if (q->type == CAIRN_PROTO_STATUS)
		return true;
	if (q->type != CAIRN_PROTO_GET && !write)
		return false;
	if (write && (q->client_id == 0 || q->seq == 0))
		return false;
	if (!bytes_ok(&q->key, 1, CAIRN_KEY_BYTES_MAX))
		return false;
	if (q->type == CAIRN_PROTO_PUT || q->type == CAIRN_PROTO_CAS) {
		if (!bytes_ok(&q->value, 0, CAIRN_VALUE_BYTES_MAX))
			return false;
	}
	if (q->type == CAIRN_PROTO_CAS && !bytes_ok(&q->expected, 0, CAIRN_VALUE_BYTES_MAX))
		return false;
	return true;
}

int cairn_proto_encode_request(struct cairn_buf *b, const struct cairn_proto_request *q)
{
	if (!request_ok(q))
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, cairn_proto__request_elems[q->type - CAIRN_PROTO_GET], q->type);
	enc_u64(&e, q->id);
	if (q->type == CAIRN_PROTO_STATUS)
		return enc_end(&e);
	if (q->type != CAIRN_PROTO_GET) {
		enc_u64(&e, q->client_id);
		enc_u64(&e, q->seq);
	}
	enc_bin(&e, q->key.data, q->key.len);
	if (q->type == CAIRN_PROTO_CAS)
		enc_bin(&e, q->expected.data, q->expected.len);
	if (q->type == CAIRN_PROTO_PUT || q->type == CAIRN_PROTO_CAS)
		enc_bin(&e, q->value.data, q->value.len);
	return enc_end(&e);
}

/* A NUL-terminated text field within max bytes; its length in *len. */
static bool text_ok(const char *s, size_t max, size_t *len)
{
	*len = strnlen(s, max + 1);
	return *len <= max;
}

static int encode_status_reply(struct cairn_buf *b, const struct cairn_proto_reply *rep)
{
	const struct cairn_proto_status *st = &rep->status;
	size_t role_len, peer_len, client_len;
	if (!node_id_ok(st->node_id) || st->leader > CAIRN_NODE_ID_MAX)
		return CAIRN_EINVAL;
	if (!text_ok(st->role, CAIRN_PROTO_ROLE_BYTES_MAX, &role_len) || role_len == 0)
		return CAIRN_EINVAL;
	if (!text_ok(st->peer_addr, CAIRN_PROTO_ADDR_BYTES_MAX, &peer_len) ||
	    !text_ok(st->client_addr, CAIRN_PROTO_ADDR_BYTES_MAX, &client_len))
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, 13, CAIRN_PROTO_STATUS_REPLY);
	enc_u64(&e, rep->id);
	enc_u64(&e, st->node_id);
	enc_str(&e, st->role, role_len);
	enc_u64(&e, st->term);
	enc_u64(&e, st->leader);
	enc_u64(&e, st->commit_index);
	enc_u64(&e, st->applied_index);
	enc_u64(&e, st->last_log_index);
	enc_str(&e, st->peer_addr, peer_len);
	enc_str(&e, st->client_addr, client_len);
	enc_u64(&e, st->first_log_index);
	enc_u64(&e, st->log_bytes);
	return enc_end(&e);
}

static int encode_not_leader(struct cairn_buf *b, const struct cairn_proto_reply *rep)
{
	size_t addr_len;
	if (rep->leader_id > CAIRN_NODE_ID_MAX)
		return CAIRN_EINVAL;
	if (!text_ok(rep->leader_addr, CAIRN_PROTO_ADDR_BYTES_MAX, &addr_len))
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, 5, CAIRN_PROTO_REPLY);
	enc_u64(&e, rep->id);
	enc_u64(&e, rep->code);
	if (rep->leader_id == 0)
		msgpack_pack_nil(&e.pk);
	else
		enc_u64(&e, rep->leader_id);
	if (addr_len == 0)
		msgpack_pack_nil(&e.pk);
	else
		enc_str(&e, rep->leader_addr, addr_len);
	return enc_end(&e);
}

int cairn_proto_encode_reply(struct cairn_buf *b, const struct cairn_proto_reply *rep)
{
	if (rep->type == CAIRN_PROTO_STATUS_REPLY)
		return encode_status_reply(b, rep);
	if (rep->type != CAIRN_PROTO_REPLY || rep->code > CAIRN_PROTO_CODE_MAX)
		return CAIRN_EINVAL;
	if (rep->code == CAIRN_PROTO_NOT_LEADER)
		return encode_not_leader(b, rep);

	bool valued = rep->code == CAIRN_PROTO_OK || rep->code == CAIRN_PROTO_CAS_MISMATCH;
	bool texted = rep->code == CAIRN_PROTO_UNAVAILABLE || rep->code == CAIRN_PROTO_BUSY ||
		      rep->code == CAIRN_PROTO_BAD_REQUEST;
	bool with_value = valued && rep->has_value;
	if (with_value && !bytes_ok(&rep->value, 0, CAIRN_VALUE_BYTES_MAX))
		return CAIRN_EINVAL;
	struct enc e;
	enc_begin(&e, b, 3 + (with_value || texted), CAIRN_PROTO_REPLY);
	enc_u64(&e, rep->id);
	enc_u64(&e, rep->code);
	if (with_value)
		enc_bin(&e, rep->value.data, rep->value.len);
	if (texted)
		enc_str(&e, rep->message, strnlen(rep->message, CAIRN_PROTO_MESSAGE_BYTES_MAX));
	return enc_end(&e);
}

void cairn_proto_reply_init(struct cairn_proto_reply *rep, uint64_t id, enum cairn_proto_code code)
{
	memset(rep, 0, sizeof *rep);
	rep->type = CAIRN_PROTO_REPLY;
	rep->id = id;
	rep->code = (uint8_t)code;
}
