/*
 * api.c - the client port: GET, PUT, DEL, CAS and STATUS (proto.h).
 *
 * Requests are pipelined: each carries an id and its reply may come back in
 * any order. A request is checked (shape by proto, limits, leadership,
 * pending bounds) and then only recorded: writes join the proposal list and
 * GETs the next read batch. Once per loop iteration cairn_api_flush()
 * proposes every write (each waits in the commit manager for its entry to be
 * applied) and issues one ReadIndex for the whole read batch; when the core
 * confirms it, the batch waits until applied >= the read index and then
 * reads from an LMDB read transaction.
 *
 * What each reply code means for the client (its retry rules rely on it):
 *   OK, NOT_FOUND, CAS_MISMATCH  final; a write was applied exactly once
 *                  (a retried client_id+seq answers the first result).
 *   NOT_LEADER     certainly not applied; carries the leader's id and client
 *                  address when this member knows one (none: election under
 *                  way, or this member is stopping).
 *   BUSY           certainly not applied: a pending bound, or this member's
 *                  storage failed (the message says which); retry later.
 *   UNAVAILABLE    a write that was proposed and whose fate this member can
 *                  no longer tell (leadership lost, stopping, storage
 *                  failed): retry with the same client_id+seq. For GET: the
 *                  read failed, nothing happened.
 *   BAD_REQUEST    malformed or out of the contract's limits; never applied.
 * STATUS is answered by every member, leader or not, at once.
 *
 * Connections are src/net's. A connection closed by its client may still
 * have requests in flight: its state here is freed when the last one
 * completes, and replies to it are dropped. A client that lets more than
 * CAIRN_CLIENT_SENDQ_BYTES_MAX reply bytes pile up is dropped by net. Near
 * the connection cap the connection idle longest is closed, so idle sockets
 * cannot lock clients out.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "server/node.h"
#include "server/store.h"
#include "util/log.h"

/* Connections kept free below the cap for newcomers (see evict_idle). */
#define CLIENT_CONNS_SPARE 8u

struct client_conn {
	struct cairn_net_conn *conn; /* NULL once net closed it */
	struct cairn_node *node;
	uint32_t pending;   /* requests accepted and not yet answered */
	uint64_t active_ms; /* last frame received (for evicting idle ones) */
	bool closed;        /* the socket is gone; free once pending == 0 */
	bool evicted;       /* closed here for being idle */
	struct client_conn *prev;
	struct client_conn *next;
};

struct client_req {
	struct client_conn *cc;
	uint64_t id;
	uint8_t type;
	struct cairn_commit_waiter w; /* writes */
	struct client_req *next;      /* in a read batch */
	uint32_t len;                 /* GET: key; writes: entry payload */
	uint8_t bytes[];
};

struct read_batch {
	uint64_t ctx;
	struct client_req *head;
	struct client_req *tail;
	size_t n;
	struct cairn_commit_waiter w;
	struct cairn_node *node;
	struct read_batch *next;
};

/* ---- Connections and replies ------------------------------------------- */

static void conn_maybe_free(struct client_conn *cc)
{
	if (!cc->closed || cc->pending > 0)
		return;
	free(cc);
}

static void send_reply(struct client_conn *cc, const struct cairn_proto_reply *rep)
{
	if (cc->closed)
		return;
	struct cairn_node *n = cc->node;
	cairn_buf_reset(&n->enc);
	int rv = cairn_proto_encode_reply(&n->enc, rep);
	if (rv != 0) {
		CAIRN_ERROR("cannot encode a reply to %s: %s", cairn_net_conn_name(cc->conn),
			    cairn_strerror(rv));
		cairn_net_conn_close(cc->conn);
		return;
	}
	/* On failure net is closing the connection (queue over its bound). */
	(void)cairn_net_conn_send(cc->conn, n->enc.data, n->enc.len);
}

static void reply_code(struct client_conn *cc, uint64_t id, enum cairn_proto_code code,
		       const char *message)
{
	struct cairn_proto_reply rep;
	cairn_proto_reply_init(&rep, id, code);
	if (message != NULL)
		cairn_node_copy_text(rep.message, sizeof rep.message, message);
	send_reply(cc, &rep);
}

/* NOT_LEADER with the leader's id and client address when this member
 * knows a leader other than itself. */
static void reply_not_leader(struct client_conn *cc, uint64_t id)
{
	struct cairn_node *n = cc->node;
	struct cairn_proto_reply rep;
	cairn_proto_reply_init(&rep, id, CAIRN_PROTO_NOT_LEADER);
	const struct cairn_node_config *l = NULL;
	if (n->leader != CAIRN_RAFT_NONE && n->leader != n->id)
		l = cairn_config_node(&n->cfg, n->leader);
	if (l != NULL) {
		rep.leader_id = l->id;
		cairn_node_copy_text(rep.leader_addr, sizeof rep.leader_addr, l->client.text);
	}
	send_reply(cc, &rep);
}

static void reply_status(struct client_conn *cc, uint64_t id)
{
	struct cairn_node *n = cc->node;
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	struct cairn_proto_reply rep;
	memset(&rep, 0, sizeof rep);
	rep.type = CAIRN_PROTO_STATUS_REPLY;
	rep.id = id;
	rep.status.node_id = n->id;
	cairn_node_copy_text(rep.status.role, sizeof rep.status.role,
			     cairn_raft_role_name(st.role));
	rep.status.term = st.term;
	rep.status.leader = st.leader;
	rep.status.commit_index = st.commit;
	rep.status.applied_index = n->commit.applied;
	rep.status.last_log_index = st.last_index;
	rep.status.first_log_index = st.first_index;
	rep.status.log_bytes = st.log_bytes;
	cairn_node_copy_text(rep.status.peer_addr, sizeof rep.status.peer_addr, n->self->peer.text);
	cairn_node_copy_text(rep.status.client_addr, sizeof rep.status.client_addr,
			     n->self->client.text);
	send_reply(cc, &rep);
}

/* ---- Request bookkeeping ------------------------------------------------ */

static struct client_req *req_new(struct client_conn *cc, const struct cairn_proto_request *r,
				  uint32_t len)
{
	struct client_req *q = malloc(sizeof *q + len);
	if (q == NULL)
		return NULL;
	memset(q, 0, sizeof *q);
	q->cc = cc;
	q->id = r->id;
	q->type = r->type;
	q->len = len;
	cc->pending++;
	return q;
}

/* The request is answered (or its client is gone): release it. */
static void req_done(struct client_req *q)
{
	struct client_conn *cc = q->cc;
	assert(cc->pending > 0);
	cc->pending--;
	free(q);
	conn_maybe_free(cc);
}

static bool is_write(uint8_t type)
{
	return type == CAIRN_PROTO_PUT || type == CAIRN_PROTO_DEL || type == CAIRN_PROTO_CAS;
}

/* ---- Writes ------------------------------------------------------------- */

/* The write was proposed but this member cannot tell whether it will take
 * effect (leadership lost, stopping, storage failed): UNAVAILABLE, which the
 * client treats as "maybe applied" and retries with the same client id and
 * seq, and the retry settles it exactly once. NOT_LEADER is kept for writes
 * that certainly did not take effect. */
static void reply_unknown(struct client_req *q)
{
	reply_code(q->cc, q->id, CAIRN_PROTO_UNAVAILABLE,
		   "leadership lost while the write was in flight: outcome unknown here");
}

static void write_done_cb(struct cairn_commit_waiter *w, int err, int result)
{
	struct client_req *q = w->data;
	struct cairn_node *n = q->cc->node;
	assert(n->writes_pending > 0);
	n->writes_pending--;
	if (err == 0) {
		int code = cairn_store_result_code(q->type, result);
		reply_code(q->cc, q->id, (enum cairn_proto_code)code,
			   code == CAIRN_PROTO_BAD_REQUEST ? "stale or malformed command" : NULL);
	} else if (err == CAIRN_EUNAVAIL) {
		/* Overwritten by another leader's entry: certainly not applied. */
		reply_not_leader(q->cc, q->id);
	} else {
		reply_unknown(q);
	}
	req_done(q);
}

static int grow_proposals(struct cairn_node *n)
{
	if (n->n_proposals < n->cap_proposals)
		return 0;
	size_t cap = n->cap_proposals < 64 ? 64 : n->cap_proposals * 2;
	struct client_req **p = realloc(n->proposals, cap * sizeof *p);
	if (p == NULL)
		return CAIRN_ENOMEM;
	n->proposals = p;
	n->cap_proposals = cap;
	return 0;
}

static void accept_write(struct client_conn *cc, const struct cairn_proto_request *r)
{
	struct cairn_node *n = cc->node;
	if (n->write_error != 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "writes stopped: storage failed: %s",
			 cairn_strerror(n->write_error));
		reply_code(cc, r->id, CAIRN_PROTO_BUSY, msg); /* certainly not applied */
		return;
	}
	if (n->writes_pending >= CAIRN_PROPOSALS_PENDING_MAX) {
		reply_code(cc, r->id, CAIRN_PROTO_BUSY, "too many writes pending on this member");
		return;
	}
	size_t bytes = 0;
	cairn_store_write_bytes(r, &bytes);
	if (bytes == 0 || bytes > CAIRN_ENTRY_BYTES_MAX) {
		reply_code(cc, r->id, CAIRN_PROTO_BAD_REQUEST, "request out of limits");
		return;
	}
	struct client_req *q = req_new(cc, r, (uint32_t)bytes);
	if (q == NULL || grow_proposals(n) != 0) {
		reply_code(cc, r->id, CAIRN_PROTO_BUSY, "out of memory");
		if (q != NULL)
			req_done(q);
		return;
	}
	if (cairn_store_encode_write(r, q->bytes, bytes) != 0) {
		reply_code(cc, r->id, CAIRN_PROTO_BAD_REQUEST, "request out of limits");
		req_done(q);
		return;
	}
	n->proposals[n->n_proposals++] = q;
	n->writes_pending++;
}

static void propose_all(struct cairn_node *n)
{
	if (n->n_proposals == 0)
		return;
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	for (size_t i = 0; i < n->n_proposals; i++) {
		struct client_req *q = n->proposals[i];
		uint64_t index = 0;
		int rv = cairn_raft_propose(n->raft, q->bytes, q->len, &index);
		if (rv == 0) {
			q->w.index = index;
			q->w.term = st.term;
			/* A PUT or DEL can only apply as OK (a duplicate answers
			 * the first OK; a stale one has no waiter left), so it is
			 * answered once committed; reads wait for its apply. */
			q->w.at_commit = q->type == CAIRN_PROTO_PUT || q->type == CAIRN_PROTO_DEL;
			q->w.done_cb = write_done_cb;
			q->w.data = q;
			rv = cairn_commit_wait_write(&n->commit, &q->w);
			if (rv == 0)
				continue;
			/* Proposed but cannot be followed: outcome unknown. */
			n->writes_pending--;
			reply_unknown(q);
			req_done(q);
			continue;
		}
		n->writes_pending--;
		if (rv == CAIRN_ENOTLEADER)
			reply_not_leader(q->cc, q->id);
		else if (rv == CAIRN_ETOOBIG)
			reply_code(q->cc, q->id, CAIRN_PROTO_BAD_REQUEST, "command too large");
		else
			reply_code(q->cc, q->id, CAIRN_PROTO_BUSY, cairn_strerror(rv));
		req_done(q);
	}
	n->n_proposals = 0;
}

/* ---- Reads -------------------------------------------------------------- */

static struct read_batch *batch_new(struct cairn_node *n)
{
	struct read_batch *b = calloc(1, sizeof *b);
	if (b != NULL)
		b->node = n;
	return b;
}

/* Answer every GET of b with NOT_LEADER (or code) and free b. */
static void batch_fail(struct read_batch *b, enum cairn_proto_code code, const char *msg)
{
	struct cairn_node *n = b->node;
	while (b->head != NULL) {
		struct client_req *q = b->head;
		b->head = q->next;
		if (code == CAIRN_PROTO_NOT_LEADER)
			reply_not_leader(q->cc, q->id);
		else
			reply_code(q->cc, q->id, code, msg);
		req_done(q);
	}
	assert(n->reads_pending >= b->n);
	n->reads_pending -= b->n;
	free(b);
}

static void batch_read_cb(struct cairn_commit_waiter *w, int err, int result)
{
	struct read_batch *b = w->data;
	struct cairn_node *n = b->node;
	(void)result;
	if (err != 0) {
		batch_fail(b, CAIRN_PROTO_UNAVAILABLE, "storage failed");
		return;
	}
	struct cairn_buf value;
	cairn_buf_init(&value, CAIRN_VALUE_BYTES_MAX);
	while (b->head != NULL) {
		struct client_req *q = b->head;
		b->head = q->next;
		int rv = cairn_store_get(n->store, q->bytes, q->len, &value);
		struct cairn_proto_reply rep;
		if (rv == 0) {
			cairn_proto_reply_init(&rep, q->id, CAIRN_PROTO_OK);
			rep.has_value = true;
			rep.value.data = value.data;
			rep.value.len = (uint32_t)value.len;
		} else if (rv == CAIRN_ENOTFOUND) {
			cairn_proto_reply_init(&rep, q->id, CAIRN_PROTO_NOT_FOUND);
		} else {
			cairn_proto_reply_init(&rep, q->id, CAIRN_PROTO_UNAVAILABLE);
			snprintf(rep.message, sizeof rep.message, "read failed: %s",
				 cairn_strerror(rv));
		}
		send_reply(q->cc, &rep);
		req_done(q);
	}
	cairn_buf_free(&value);
	n->reads_pending -= b->n;
	free(b);
}

static void accept_get(struct client_conn *cc, const struct cairn_proto_request *r)
{
	struct cairn_node *n = cc->node;
	if (n->reads_pending >= CAIRN_READS_PENDING_MAX) {
		reply_code(cc, r->id, CAIRN_PROTO_BUSY, "too many reads pending on this member");
		return;
	}
	if (n->reads_next == NULL)
		n->reads_next = batch_new(n);
	struct client_req *q = n->reads_next != NULL ? req_new(cc, r, r->key.len) : NULL;
	if (q == NULL) {
		reply_code(cc, r->id, CAIRN_PROTO_BUSY, "out of memory");
		return;
	}
	memcpy(q->bytes, r->key.data, r->key.len);
	struct read_batch *b = n->reads_next;
	if (b->tail != NULL)
		b->tail->next = q;
	else
		b->head = q;
	b->tail = q;
	b->n++;
	n->reads_pending++;
}

static void read_index_all(struct cairn_node *n)
{
	struct read_batch *b = n->reads_next;
	if (b == NULL)
		return;
	n->reads_next = NULL;
	b->ctx = ++n->read_ctx_next;
	int rv = cairn_raft_read_index(n->raft, b->ctx);
	if (rv != 0) {
		batch_fail(b, CAIRN_PROTO_NOT_LEADER, NULL);
		return;
	}
	b->next = n->reads_waiting;
	n->reads_waiting = b;
}

static struct read_batch *take_waiting(struct cairn_node *n, uint64_t ctx)
{
	for (struct read_batch **pp = &n->reads_waiting; *pp != NULL; pp = &(*pp)->next) {
		struct read_batch *b = *pp;
		if (b->ctx == ctx) {
			*pp = b->next;
			b->next = NULL;
			return b;
		}
	}
	return NULL;
}

void cairn_api_reads_confirmed(struct cairn_node *n, const struct cairn_raft_read *reads,
			       size_t n_reads)
{
	for (size_t i = 0; i < n_reads; i++) {
		struct read_batch *b = take_waiting(n, reads[i].ctx);
		if (b == NULL)
			continue; /* already failed when leadership was lost */
		b->w.index = reads[i].index;
		b->w.done_cb = batch_read_cb;
		b->w.data = b;
		cairn_commit_wait_applied(&n->commit, &b->w);
	}
}

void cairn_api_reads_dropped(struct cairn_node *n, const uint64_t *ctxs, size_t n_ctxs)
{
	for (size_t i = 0; i < n_ctxs; i++) {
		struct read_batch *b = take_waiting(n, ctxs[i]);
		if (b != NULL)
			batch_fail(b, CAIRN_PROTO_NOT_LEADER, NULL);
	}
}

void cairn_api_leadership_lost(struct cairn_node *n)
{
	cairn_commit_fail_writes(&n->commit, CAIRN_ENOTLEADER);
	while (n->reads_waiting != NULL) {
		struct read_batch *b = n->reads_waiting;
		n->reads_waiting = b->next;
		batch_fail(b, CAIRN_PROTO_NOT_LEADER, NULL);
	}
}

void cairn_api_flush(struct cairn_node *n)
{
	propose_all(n);
	read_index_all(n);
}

bool cairn_api_busy(const struct cairn_node *n)
{
	return n->writes_pending > 0 || n->reads_pending > 0;
}

/* ---- Frames ------------------------------------------------------------- */

static void client_frame_cb(struct cairn_net_conn *c, const uint8_t *frame, size_t len)
{
	struct client_conn *cc = c->data;
	if (cc == NULL)
		return;
	struct cairn_node *n = cc->node;
	struct cairn_proto_request r;
	cc->active_ms = uv_now(n->loop);
	if (cairn_proto_decode_request(frame, len, &r) != 0) {
		if (r.id_known) {
			reply_code(cc, r.id, CAIRN_PROTO_BAD_REQUEST, r.why);
			return;
		}
		CAIRN_WARN("closing client connection from %s: malformed request: %s",
			   cairn_net_conn_name(c), r.why != NULL ? r.why : "?");
		cairn_net_conn_close(c);
		return;
	}
	if (r.type == CAIRN_PROTO_STATUS) {
		reply_status(cc, r.id);
		return;
	}
	if (cc->pending >= CAIRN_CONN_PENDING_REQS_MAX) {
		reply_code(cc, r.id, CAIRN_PROTO_BUSY,
			   "too many requests pending on this connection");
		return;
	}
	if (n->stopping || n->role != CAIRN_RAFT_LEADER) {
		/* Stopping: nothing more is taken; NOT_LEADER sends the client
		 * to look for the (next) leader. */
		reply_not_leader(cc, r.id);
		return;
	}
	if (is_write(r.type))
		accept_write(cc, &r);
	else
		accept_get(cc, &r);
}

/* Near the connection cap: close the connection idle longest with nothing
 * pending, so that idle sockets cannot lock clients out (net refuses
 * newcomers at the cap itself). */
static void evict_idle(struct cairn_node *n)
{
	struct client_conn *victim = NULL;
	for (struct client_conn *cc = n->clients; cc != NULL; cc = cc->next) {
		if (cc->pending > 0 || cc->evicted)
			continue;
		if (victim == NULL || cc->active_ms < victim->active_ms)
			victim = cc;
	}
	if (victim == NULL)
		return;
	uint64_t now = uv_now(n->loop);
	if (now - n->client_evict_log_ms >= 1000) {
		n->client_evict_log_ms = now;
		CAIRN_WARN("client port: %zu connections, closing the one idle longest (%s)",
			   n->n_clients, cairn_net_conn_name(victim->conn));
	}
	victim->evicted = true;
	cairn_net_conn_close(victim->conn);
}

static void client_accept_cb(struct cairn_net_listener *l, struct cairn_net_conn *c)
{
	struct cairn_node *n = l->data;
	struct client_conn *cc = calloc(1, sizeof *cc);
	if (cc == NULL) {
		cairn_net_conn_close(c);
		return;
	}
	cc->conn = c;
	cc->node = n;
	cc->active_ms = uv_now(n->loop);
	cc->next = n->clients;
	if (n->clients != NULL)
		n->clients->prev = cc;
	n->clients = cc;
	n->n_clients++;
	c->data = cc;
	if (n->n_clients + CLIENT_CONNS_SPARE > CAIRN_CLIENT_CONNS_MAX)
		evict_idle(n);
}

static void client_close_cb(struct cairn_net_conn *c, int reason)
{
	struct client_conn *cc = c->data;
	(void)reason;
	if (cc == NULL)
		return;
	struct cairn_node *n = cc->node;
	if (cc->prev != NULL)
		cc->prev->next = cc->next;
	else
		n->clients = cc->next;
	if (cc->next != NULL)
		cc->next->prev = cc->prev;
	n->n_clients--;
	c->data = NULL;
	cc->conn = NULL;
	cc->closed = true;
	conn_maybe_free(cc);
}

int cairn_api_listen(struct cairn_node *n, char *err, size_t err_size)
{
	struct cairn_net_listener_config cfg = {
		.addr = n->self->client.text,
		.conns_max = CAIRN_CLIENT_CONNS_MAX,
		.limits = {.sendq_bytes_max = CAIRN_CLIENT_SENDQ_BYTES_MAX},
		.accept_cb = client_accept_cb,
		.frame_cb = client_frame_cb,
		.conn_close_cb = client_close_cb,
	};
	n->client_listener.data = n;
	n->client_listener_started = true;
	return cairn_net_listener_start(n->loop, &n->client_listener, &cfg, err, err_size);
}

size_t cairn_api_queued_bytes(const struct cairn_node *n)
{
	size_t bytes = 0;
	for (const struct client_conn *cc = n->clients; cc != NULL; cc = cc->next)
		bytes += cairn_net_conn_queued_bytes(cc->conn);
	return bytes;
}

void cairn_api_close_all(struct cairn_node *n)
{
	struct read_batch *b = n->reads_next;
	n->reads_next = NULL;
	if (b != NULL)
		batch_fail(b, CAIRN_PROTO_UNAVAILABLE, "member is shutting down");
	for (size_t i = 0; i < n->n_proposals; i++) {
		n->writes_pending--;
		reply_not_leader(n->proposals[i]->cc, n->proposals[i]->id); /* never proposed */
		req_done(n->proposals[i]);
	}
	n->n_proposals = 0;
	while (n->reads_waiting != NULL) {
		b = n->reads_waiting;
		n->reads_waiting = b->next;
		batch_fail(b, CAIRN_PROTO_UNAVAILABLE, "member is shutting down");
	}
	if (n->client_listener_started) {
		n->client_listener_started = false;
		cairn_net_listener_close(&n->client_listener, NULL);
	}
	free(n->proposals);
	n->proposals = NULL;
	n->cap_proposals = 0;
}
