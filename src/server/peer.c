/*
 * peer.c - the peer port: Raft traffic between members, over src/net.
 *
 * Each member keeps one outbound link (cairn_net_link) per other member and
 * sends all its messages there; net reconnects it with backoff and jitter,
 * sends our HELLO (protocol version, cluster id, node id) first on every
 * connection, and drops a link whose send queue passes
 * CAIRN_PEER_SENDQ_BYTES_MAX (Raft retransmits what was lost). It receives
 * on the connections the others open to its peer listener: the first frame
 * must be a HELLO naming a member of this cluster; then every frame is
 * decoded by proto into a Raft message and stepped into the core, or is a
 * snapshot chunk or acknowledgement for snap.c. A
 * malformed frame, a wrong cluster, a message claiming another sender, or
 * no HELLO within CAIRN_PEER_HELLO_TIMEOUT_MS closes that connection with
 * one log line.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "server/node.h"
#include "util/clock.h"
#include "util/log.h"

struct peer_in {
	struct cairn_net_conn *conn;
	struct cairn_node *node;
	uint64_t id; /* 0 until HELLO */
	uint64_t accepted_ms;
	bool expired; /* closed for sending no HELLO in time */
	struct peer_in *prev;
	struct peer_in *next;
};

/* ---- Inbound ------------------------------------------------------------ */

static bool is_member(const struct cairn_node *n, uint64_t id)
{
	return cairn_config_node(&n->cfg, id) != NULL;
}

static void inbound_hello(struct peer_in *p, const struct cairn_proto_hello *h)
{
	struct cairn_node *n = p->node;
	const char *why = NULL;
	if (p->id != 0)
		why = "a second HELLO";
	else if (h->version != CAIRN_PROTO_VERSION)
		why = "another protocol version";
	else if (h->cluster_id != 0 && h->cluster_id != n->cluster_id)
		why = "another cluster";
	else if (!is_member(n, h->node_id) || h->node_id == n->id)
		why = "an unknown member id";
	if (why != NULL) {
		CAIRN_WARN("closing peer connection from %s: %s", cairn_net_conn_name(p->conn),
			   why);
		cairn_net_conn_close(p->conn);
		return;
	}
	/* A member reconnecting replaces its old connection. */
	for (struct peer_in *q = n->inbound; q != NULL; q = q->next) {
		if (q != p && q->id == h->node_id)
			cairn_net_conn_close(q->conn);
	}
	p->id = h->node_id;
	CAIRN_INFO("peer %llu connected (inbound from %s)", (unsigned long long)p->id,
		   cairn_net_conn_name(p->conn));
}

static void inbound_frame_cb(struct cairn_net_conn *c, const uint8_t *frame, size_t len)
{
	struct peer_in *p = c->data;
	if (p == NULL)
		return;
	struct cairn_node *n = p->node;
	struct cairn_proto_peer *d = n->dec;
	if (cairn_proto_decode_peer(frame, len, d) != 0) {
		CAIRN_WARN("closing peer connection from %s: malformed frame: %s",
			   cairn_net_conn_name(c), d->why != NULL ? d->why : "?");
		cairn_net_conn_close(c);
		return;
	}
	if (d->type == CAIRN_PROTO_HELLO) {
		inbound_hello(p, &d->hello);
		return;
	}
	uint64_t from = d->msg.from, to = d->msg.to;
	if (d->type == CAIRN_PROTO_SNAP_CHUNK) {
		from = d->chunk.from;
		to = d->chunk.to;
	} else if (d->type == CAIRN_PROTO_SNAP_ACK) {
		from = d->ack.from;
		to = d->ack.to;
	}
	if (p->id == 0 || from != p->id || to != n->id) {
		CAIRN_WARN("closing peer connection from %s: %s", cairn_net_conn_name(c),
			   p->id == 0 ? "no HELLO first"
				      : "message for another sender or receiver");
		cairn_net_conn_close(c);
		return;
	}
	if (d->type == CAIRN_PROTO_SNAP_CHUNK)
		cairn_snap_on_chunk(n, &d->chunk);
	else if (d->type == CAIRN_PROTO_SNAP_ACK)
		cairn_snap_on_ack(n, &d->ack);
	else
		cairn_node_step(n, &d->msg);
}

static void inbound_accept_cb(struct cairn_net_listener *l, struct cairn_net_conn *c)
{
	struct cairn_node *n = l->data;
	struct peer_in *p = calloc(1, sizeof *p);
	if (p == NULL || n->stopping) {
		free(p);
		cairn_net_conn_close(c);
		return;
	}
	p->conn = c;
	p->node = n;
	p->accepted_ms = cairn_clock_now_ms();
	p->next = n->inbound;
	if (n->inbound != NULL)
		n->inbound->prev = p;
	n->inbound = p;
	n->n_inbound++;
	c->data = p;
}

static void inbound_close_cb(struct cairn_net_conn *c, int reason)
{
	struct peer_in *p = c->data;
	(void)reason;
	if (p == NULL)
		return;
	struct cairn_node *n = p->node;
	if (p->id != 0 && !n->stopping)
		CAIRN_INFO("peer %llu disconnected (inbound from %s)", (unsigned long long)p->id,
			   cairn_net_conn_name(c));
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		n->inbound = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	n->n_inbound--;
	c->data = NULL;
	free(p);
}

void cairn_peer_expire_inbound(struct cairn_node *n, uint64_t now_ms)
{
	size_t closed = 0;
	const char *example = NULL;
	for (struct peer_in *q = n->inbound; q != NULL; q = q->next) {
		if (q->id == 0 && !q->expired &&
		    now_ms - q->accepted_ms > CAIRN_PEER_HELLO_TIMEOUT_MS) {
			q->expired = true;
			example = cairn_net_conn_name(q->conn);
			closed++;
			cairn_net_conn_close(q->conn);
		}
	}
	/* One line per sweep: a flood of silent connections must not flood
	 * the log. */
	if (closed > 0)
		CAIRN_WARN("closed %zu peer connection(s) that sent no HELLO in %u ms (e.g. %s)",
			   closed, CAIRN_PEER_HELLO_TIMEOUT_MS, example);
}

int cairn_peer_listen(struct cairn_node *n, char *err, size_t err_size)
{
	struct cairn_net_listener_config cfg = {
		.addr = n->self->peer.text,
		.conns_max = CAIRN_PEER_CONNS_MAX,
		.accept_cb = inbound_accept_cb,
		.frame_cb = inbound_frame_cb,
		.conn_close_cb = inbound_close_cb,
	};
	n->peer_listener.data = n;
	n->peer_listener_started = true;
	return cairn_net_listener_start(n->loop, &n->peer_listener, &cfg, err, err_size);
}

/* ---- Outbound ----------------------------------------------------------- */

static void link_state_cb(struct cairn_net_link *k, bool connected, int status)
{
	struct cairn_peer *peer = k->data;
	struct cairn_node *n = peer->node;
	if (n->stopping)
		return;
	if (connected)
		CAIRN_INFO("peer %llu connected (link to %s)", (unsigned long long)peer->id,
			   peer->cfg->peer.text);
	else
		CAIRN_INFO("peer %llu unreachable (link to %s): %s", (unsigned long long)peer->id,
			   peer->cfg->peer.text, cairn_strerror(status));
	if (!connected)
		cairn_snap_link_down(n, peer);
}

int cairn_peer_start(struct cairn_node *n)
{
	struct cairn_proto_hello h = {
		.version = CAIRN_PROTO_VERSION, .cluster_id = n->cluster_id, .node_id = n->id};
	cairn_buf_reset(&n->enc);
	int rv = cairn_proto_encode_hello(&n->enc, &h);
	if (rv != 0)
		return rv;
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_peer *peer = &n->peers[i];
		struct cairn_net_link_config cfg = {
			.addr = peer->cfg->peer.text,
			.greeting = n->enc.data,
			.greeting_len = n->enc.len,
			.backoff_min_ms = CAIRN_PEER_BACKOFF_MS_MIN,
			.backoff_max_ms = CAIRN_PEER_BACKOFF_MS_MAX,
			.seed = cairn_rand_next(&n->rng),
			.state_cb = link_state_cb,
		};
		peer->link.data = peer;
		rv = cairn_net_link_start(n->loop, &peer->link, &cfg);
		if (rv != 0)
			return rv;
		peer->link_started = true;
	}
	return 0;
}

struct cairn_peer *cairn_peer_find(struct cairn_node *n, uint64_t id)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		if (n->peers[i].id == id)
			return &n->peers[i];
	}
	return NULL;
}

int cairn_peer_send_frame(struct cairn_node *n, uint64_t to, const uint8_t *frame, size_t len)
{
	struct cairn_peer *peer = cairn_peer_find(n, to);
	if (peer == NULL || !peer->link_started)
		return CAIRN_EUNAVAIL;
	/* Down or dropped for a full queue: Raft retransmits once it is back. */
	return cairn_net_link_send(&peer->link, frame, len);
}

void cairn_peer_send(struct cairn_node *n, const struct cairn_raft_msg *m)
{
	cairn_buf_reset(&n->enc);
	int rv = cairn_proto_encode_raft(&n->enc, m);
	if (rv != 0) {
		CAIRN_ERROR("cannot encode %s to %llu: %s", cairn_raft_msg_name(m->type),
			    (unsigned long long)m->to, cairn_strerror(rv));
		return;
	}
	(void)cairn_peer_send_frame(n, m->to, n->enc.data, n->enc.len);
}

void cairn_peer_close_all(struct cairn_node *n)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_peer *peer = &n->peers[i];
		if (peer->link_started) {
			peer->link_started = false;
			cairn_net_link_close(&peer->link, NULL);
		}
	}
	if (n->peer_listener_started) {
		n->peer_listener_started = false;
		cairn_net_listener_close(&n->peer_listener, NULL);
	}
}
