/*
 * gen.c - random well-formed messages for the proto tests, and the checks
 * that compare and validate decoded ones.
 */
#include "gen.h"

#include <string.h>

static uint64_t pick_u64(struct gen *g)
{
	/* Mostly small numbers, sometimes the edges of each encoding width. */
	static const uint64_t edges[] = {0,          1,          127,       128,
					 255,        256,        65535,     65536,
					 UINT32_MAX, 1ull << 32, INT64_MAX, UINT64_MAX - 1,
					 UINT64_MAX};
	switch (cairn_rand_below(&g->rand, 4)) {
	case 0:
		return edges[cairn_rand_below(&g->rand, sizeof edges / sizeof edges[0])];
	case 1:
		return cairn_rand_next(&g->rand);
	default:
		return cairn_rand_below(&g->rand, 1000);
	}
}

static uint64_t pick_node(struct gen *g)
{
	if (cairn_rand_chance(&g->rand, 100000))
		return cairn_rand_chance(&g->rand, 500000) ? 1 : CAIRN_NODE_ID_MAX;
	return 1 + cairn_rand_below(&g->rand, 7);
}

static struct cairn_proto_bytes pick_bytes(struct gen *g, uint32_t min, uint32_t max)
{
	struct cairn_proto_bytes b;
	uint32_t hi = max < g->len_max ? max : g->len_max;
	if (hi > g->pool_len)
		hi = (uint32_t)g->pool_len;
	if (hi < min)
		hi = min;
	b.len = (uint32_t)cairn_rand_range(&g->rand, min, (uint64_t)hi + 1);
	size_t off = cairn_rand_below(&g->rand, g->pool_len - b.len + 1);
	b.data = b.len == 0 ? NULL : g->pool + off;
	return b;
}

static void pick_text(struct gen *g, char *dst, uint32_t min, uint32_t max)
{
	uint32_t hi = max < g->len_max ? max : g->len_max;
	if (hi < min)
		hi = min;
	uint32_t n = (uint32_t)cairn_rand_range(&g->rand, min, (uint64_t)hi + 1);
	for (uint32_t i = 0; i < n; i++)
		dst[i] = (char)cairn_rand_range(&g->rand, 1, 256);
	dst[n] = '\0';
}

void gen_hello(struct gen *g, struct cairn_proto_hello *h)
{
	memset(h, 0, sizeof *h);
	h->version = CAIRN_PROTO_VERSION;
	h->cluster_id = pick_u64(g);
	h->node_id = pick_node(g);
}

static void gen_entries(struct gen *g, struct cairn_raft_msg *m, struct cairn_raft_entry *entries)
{
	uint32_t n = (uint32_t)cairn_rand_below(&g->rand, 9);
	if (cairn_rand_chance(&g->rand, 20000))
		n = CAIRN_PROTO_APPEND_ENTRIES_MAX;
	if (m->prev_index > UINT64_MAX - n)
		m->prev_index = UINT64_MAX - n;
	uint64_t term = m->term == 0 ? 0 : cairn_rand_below(&g->rand, m->term);
	for (uint32_t i = 0; i < n; i++) {
		struct cairn_raft_entry *en = &entries[i];
		if (term < m->term && cairn_rand_chance(&g->rand, 300000))
			term++;
		en->term = term;
		en->index = m->prev_index + 1 + i;
		en->type = cairn_rand_chance(&g->rand, 200000) ? CAIRN_RAFT_ENTRY_NOOP
							       : CAIRN_RAFT_ENTRY_NORMAL;
		struct cairn_proto_bytes p = {NULL, 0};
		if (en->type == CAIRN_RAFT_ENTRY_NORMAL)
			p = pick_bytes(g, 0, CAIRN_ENTRY_BYTES_MAX);
		en->len = p.len;
		en->data = p.data;
	}
	m->entries = n > 0 ? entries : NULL;
	m->n_entries = n;
}

void gen_raft(struct gen *g, struct cairn_raft_msg *m, struct cairn_raft_entry *entries)
{
	memset(m, 0, sizeof *m);
	m->type = (uint8_t)cairn_rand_range(&g->rand, CAIRN_RAFT_MSG_TYPE_MIN,
					    CAIRN_RAFT_MSG_TYPE_MAX + 1);
	m->from = pick_node(g);
	m->to = pick_node(g);
	m->term = pick_u64(g);
	bool reject = cairn_rand_chance(&g->rand, 500000);
	switch (m->type) {
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		m->last_log_index = pick_u64(g);
		m->last_log_term = pick_u64(g);
		m->transfer = m->type == CAIRN_RAFT_MSG_VOTE && reject;
		break;
	case CAIRN_RAFT_MSG_PREVOTE_REPLY:
	case CAIRN_RAFT_MSG_VOTE_REPLY:
		m->reject = reject;
		break;
	case CAIRN_RAFT_MSG_APPEND:
		m->prev_index = pick_u64(g);
		m->prev_term = pick_u64(g);
		m->commit = pick_u64(g);
		gen_entries(g, m, entries);
		break;
	case CAIRN_RAFT_MSG_APPEND_REPLY:
		m->reject = reject;
		m->index = pick_u64(g);
		m->hint_term = pick_u64(g);
		m->hint_index = pick_u64(g);
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT:
		m->commit = pick_u64(g);
		m->read_seq = pick_u64(g);
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT_REPLY:
		m->reject = reject;
		m->read_seq = pick_u64(g);
		break;
	case CAIRN_RAFT_MSG_SNAPSHOT:
		m->prev_index = pick_u64(g);
		m->prev_term = pick_u64(g);
		m->commit = pick_u64(g);
		break;
	default:
		break;
	}
}

void gen_snap_chunk(struct gen *g, struct cairn_proto_snap_chunk *c)
{
	memset(c, 0, sizeof *c);
	c->from = pick_node(g);
	c->to = pick_node(g);
	c->term = pick_u64(g) | 1;
	c->snap_index = pick_u64(g) | 1;
	c->snap_term = 1 + cairn_rand_below(&g->rand, c->term);
	if (cairn_rand_chance(&g->rand, 200000))
		c->snap_term = c->term;
	c->last = cairn_rand_chance(&g->rand, 300000);
	c->data = pick_bytes(g, 0, CAIRN_SNAPSHOT_CHUNK_BYTES);
	c->offset = pick_u64(g);
	if (c->offset > UINT64_MAX - c->data.len)
		c->offset = UINT64_MAX - c->data.len;
}

void gen_snap_ack(struct gen *g, struct cairn_proto_snap_ack *a)
{
	memset(a, 0, sizeof *a);
	a->from = pick_node(g);
	a->to = pick_node(g);
	a->term = pick_u64(g);
	a->snap_index = pick_u64(g) | 1;
	a->offset_next = pick_u64(g);
	a->ok = cairn_rand_chance(&g->rand, 700000);
}

void gen_request(struct gen *g, struct cairn_proto_request *q)
{
	memset(q, 0, sizeof *q);
	q->type = (uint8_t)cairn_rand_range(&g->rand, CAIRN_PROTO_GET, CAIRN_PROTO_STATUS + 1);
	q->id = pick_u64(g);
	if (q->type == CAIRN_PROTO_STATUS)
		return;
	if (q->type != CAIRN_PROTO_GET) {
		q->client_id = pick_u64(g) | 1;
		q->seq = pick_u64(g) | 1;
	}
	q->key = pick_bytes(g, 1, CAIRN_KEY_BYTES_MAX);
	if (q->type == CAIRN_PROTO_PUT || q->type == CAIRN_PROTO_CAS)
		q->value = pick_bytes(g, 0, CAIRN_VALUE_BYTES_MAX);
	if (q->type == CAIRN_PROTO_CAS)
		q->expected = pick_bytes(g, 0, CAIRN_VALUE_BYTES_MAX);
}

static void gen_status(struct gen *g, struct cairn_proto_status *st)
{
	st->node_id = pick_node(g);
	pick_text(g, st->role, 1, CAIRN_PROTO_ROLE_BYTES_MAX);
	st->term = pick_u64(g);
	st->leader = cairn_rand_chance(&g->rand, 300000) ? 0 : pick_node(g);
	st->commit_index = pick_u64(g);
	st->applied_index = pick_u64(g);
	st->last_log_index = pick_u64(g);
	pick_text(g, st->peer_addr, 0, CAIRN_PROTO_ADDR_BYTES_MAX);
	pick_text(g, st->client_addr, 0, CAIRN_PROTO_ADDR_BYTES_MAX);
	st->first_log_index = pick_u64(g);
	st->log_bytes = pick_u64(g);
}

void gen_reply(struct gen *g, struct cairn_proto_reply *rep)
{
	uint64_t id = pick_u64(g);
	uint8_t code = (uint8_t)cairn_rand_below(&g->rand, CAIRN_PROTO_CODE_MAX + 1);
	cairn_proto_reply_init(rep, id, code);
	if (cairn_rand_chance(&g->rand, 150000)) {
		rep->type = CAIRN_PROTO_STATUS_REPLY;
		rep->code = 0;
		gen_status(g, &rep->status);
		return;
	}
	switch (code) {
	case CAIRN_PROTO_OK:
	case CAIRN_PROTO_CAS_MISMATCH:
		rep->has_value = cairn_rand_chance(&g->rand, 500000);
		if (rep->has_value)
			rep->value = pick_bytes(g, 0, CAIRN_VALUE_BYTES_MAX);
		break;
	case CAIRN_PROTO_NOT_LEADER:
		if (cairn_rand_chance(&g->rand, 700000))
			rep->leader_id = pick_node(g);
		if (cairn_rand_chance(&g->rand, 700000))
			pick_text(g, rep->leader_addr, 1, CAIRN_PROTO_ADDR_BYTES_MAX);
		break;
	case CAIRN_PROTO_NOT_FOUND:
		break;
	default:
		pick_text(g, rep->message, 0, CAIRN_PROTO_MESSAGE_BYTES_MAX);
		break;
	}
}

static bool bytes_eq(const struct cairn_proto_bytes *a, const struct cairn_proto_bytes *b)
{
	return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

bool hello_eq(const struct cairn_proto_hello *a, const struct cairn_proto_hello *b)
{
	return a->version == b->version && a->cluster_id == b->cluster_id &&
	       a->node_id == b->node_id;
}

static bool entry_eq(const struct cairn_raft_entry *a, const struct cairn_raft_entry *b)
{
	return a->term == b->term && a->index == b->index && a->type == b->type &&
	       a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

bool raft_eq(const struct cairn_raft_msg *a, const struct cairn_raft_msg *b)
{
	if (a->type != b->type || a->from != b->from || a->to != b->to || a->term != b->term)
		return false;
	if (a->last_log_index != b->last_log_index || a->last_log_term != b->last_log_term ||
	    a->transfer != b->transfer)
		return false;
	if (a->reject != b->reject || a->prev_index != b->prev_index ||
	    a->prev_term != b->prev_term || a->commit != b->commit)
		return false;
	if (a->index != b->index || a->hint_term != b->hint_term ||
	    a->hint_index != b->hint_index || a->read_seq != b->read_seq)
		return false;
	if (a->n_entries != b->n_entries)
		return false;
	for (uint32_t i = 0; i < a->n_entries; i++) {
		if (!entry_eq(&a->entries[i], &b->entries[i]))
			return false;
	}
	return true;
}

bool snap_chunk_eq(const struct cairn_proto_snap_chunk *a, const struct cairn_proto_snap_chunk *b)
{
	return a->from == b->from && a->to == b->to && a->term == b->term &&
	       a->snap_index == b->snap_index && a->snap_term == b->snap_term &&
	       a->offset == b->offset && a->last == b->last && bytes_eq(&a->data, &b->data);
}

bool snap_ack_eq(const struct cairn_proto_snap_ack *a, const struct cairn_proto_snap_ack *b)
{
	return a->from == b->from && a->to == b->to && a->term == b->term &&
	       a->snap_index == b->snap_index && a->offset_next == b->offset_next && a->ok == b->ok;
}

bool request_eq(const struct cairn_proto_request *a, const struct cairn_proto_request *b)
{
	return a->type == b->type && a->id == b->id && a->client_id == b->client_id &&
	       a->seq == b->seq && bytes_eq(&a->key, &b->key) && bytes_eq(&a->value, &b->value) &&
	       bytes_eq(&a->expected, &b->expected);
}

static bool status_eq(const struct cairn_proto_status *a, const struct cairn_proto_status *b)
{
	return a->node_id == b->node_id && strcmp(a->role, b->role) == 0 && a->term == b->term &&
	       a->leader == b->leader && a->commit_index == b->commit_index &&
	       a->applied_index == b->applied_index && a->last_log_index == b->last_log_index &&
	       strcmp(a->peer_addr, b->peer_addr) == 0 &&
	       strcmp(a->client_addr, b->client_addr) == 0 &&
	       a->first_log_index == b->first_log_index && a->log_bytes == b->log_bytes;
}

bool reply_eq(const struct cairn_proto_reply *a, const struct cairn_proto_reply *b)
{
	if (a->type != b->type || a->id != b->id)
		return false;
	if (a->type == CAIRN_PROTO_STATUS_REPLY)
		return status_eq(&a->status, &b->status);
	return a->code == b->code && a->has_value == b->has_value &&
	       bytes_eq(&a->value, &b->value) && a->leader_id == b->leader_id &&
	       strcmp(a->leader_addr, b->leader_addr) == 0 && strcmp(a->message, b->message) == 0;
}

static bool node_ok(uint64_t id)
{
	return id >= 1 && id <= CAIRN_NODE_ID_MAX;
}

bool raft_valid(const struct cairn_raft_msg *m)
{
	if (m->type < CAIRN_RAFT_MSG_TYPE_MIN || m->type > CAIRN_RAFT_MSG_TYPE_MAX)
		return false;
	if (!node_ok(m->from) || !node_ok(m->to))
		return false;
	if (m->n_entries > CAIRN_PROTO_APPEND_ENTRIES_MAX)
		return false;
	if (m->type != CAIRN_RAFT_MSG_APPEND && m->n_entries != 0)
		return false;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct cairn_raft_entry *en = &m->entries[i];
		if (en->index != m->prev_index + 1 + i || en->term > m->term)
			return false;
		if (i > 0 && en->term < m->entries[i - 1].term)
			return false;
		if (en->type > CAIRN_RAFT_ENTRY_NORMAL || en->len > CAIRN_ENTRY_BYTES_MAX)
			return false;
		if (en->type == CAIRN_RAFT_ENTRY_NOOP && en->len != 0)
			return false;
		if ((en->len == 0) != (en->data == NULL))
			return false;
	}
	return true;
}

static bool bytes_valid(const struct cairn_proto_bytes *b, uint32_t min, uint32_t max)
{
	return b->len >= min && b->len <= max && (b->len == 0) == (b->data == NULL);
}

bool snap_chunk_valid(const struct cairn_proto_snap_chunk *c)
{
	if (!node_ok(c->from) || !node_ok(c->to))
		return false;
	if (c->snap_index == 0 || c->snap_term == 0 || c->snap_term > c->term)
		return false;
	if (!bytes_valid(&c->data, 0, CAIRN_SNAPSHOT_CHUNK_BYTES))
		return false;
	return c->offset <= UINT64_MAX - c->data.len;
}

bool snap_ack_valid(const struct cairn_proto_snap_ack *a)
{
	return node_ok(a->from) && node_ok(a->to) && a->snap_index != 0;
}

bool request_valid(const struct cairn_proto_request *q)
{
	if (q->type < CAIRN_PROTO_GET || q->type > CAIRN_PROTO_STATUS)
		return false;
	bool write = q->type != CAIRN_PROTO_GET && q->type != CAIRN_PROTO_STATUS;
	if (write && (q->client_id == 0 || q->seq == 0))
		return false;
	if (q->type != CAIRN_PROTO_STATUS && !bytes_valid(&q->key, 1, CAIRN_KEY_BYTES_MAX))
		return false;
	return bytes_valid(&q->value, 0, CAIRN_VALUE_BYTES_MAX) &&
	       bytes_valid(&q->expected, 0, CAIRN_VALUE_BYTES_MAX);
}

static bool text_valid(const char *s, size_t min, size_t cap)
{
	size_t n = strnlen(s, cap);
	return n >= min && n < cap;
}

bool reply_valid(const struct cairn_proto_reply *rep)
{
	if (rep->type == CAIRN_PROTO_STATUS_REPLY) {
		const struct cairn_proto_status *st = &rep->status;
		return node_ok(st->node_id) && st->leader <= CAIRN_NODE_ID_MAX &&
		       text_valid(st->role, 1, sizeof st->role) &&
		       text_valid(st->peer_addr, 0, sizeof st->peer_addr) &&
		       text_valid(st->client_addr, 0, sizeof st->client_addr);
	}
	if (rep->type != CAIRN_PROTO_REPLY || rep->code > CAIRN_PROTO_CODE_MAX)
		return false;
	if (rep->has_value && rep->code != CAIRN_PROTO_OK && rep->code != CAIRN_PROTO_CAS_MISMATCH)
		return false;
	if (rep->leader_id > CAIRN_NODE_ID_MAX)
		return false;
	return bytes_valid(&rep->value, 0, CAIRN_VALUE_BYTES_MAX) &&
	       text_valid(rep->leader_addr, 0, sizeof rep->leader_addr) &&
	       text_valid(rep->message, 0, sizeof rep->message);
}
