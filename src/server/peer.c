/*
 * peer.c - the peer port: Raft traffic between members.
 *
 * Each member keeps one outbound link per other member and sends all its
 * messages there; it receives on the connections the others open to it.
 * An outbound link opens with a HELLO (protocol version, cluster id, node
 * id), reconnects with exponential backoff and jitter when it drops, and is
 * dropped and reconnected when its write queue passes
 * CAIRN_PEER_SENDQ_BYTES_MAX (a member that cannot keep up never makes this
 * one grow without bound; Raft retransmits what was lost). An inbound
 * connection must send HELLO first; then every frame is decoded by proto
 * into a Raft message and stepped into the core. A malformed frame, a wrong
 * cluster or a message claiming another sender closes that connection with
 * one log line.
 */
#include <assert.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "server/node.h"
#include "util/clock.h"
#include "util/log.h"

struct peer_in {
	struct cairn_conn conn;
	struct cairn_node *node;
	uint64_t id; /* 0 until HELLO */
	uint64_t accepted_ms;
	struct peer_in *prev;
	struct peer_in *next;
};

struct peer_out {
	struct cairn_conn conn;
	struct cairn_peer *peer;
	uv_connect_t req;
	bool connected;
};

/* ---- Addresses ---------------------------------------------------------- */

/* Fill ss for addr. Host names are resolved with getaddrinfo, which blocks;
 * names are rare in cluster files and usually sit in /etc/hosts. */
static int resolve(const struct cairn_addr *addr, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (addr->kind == CAIRN_ADDR_IPV4)
		return uv_ip4_addr(addr->host, addr->port, (struct sockaddr_in *)ss);
	if (addr->kind == CAIRN_ADDR_IPV6)
		return uv_ip6_addr(addr->host, addr->port, (struct sockaddr_in6 *)ss);
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", (unsigned)addr->port);
	if (getaddrinfo(addr->host, port, &hints, &res) != 0 || res == NULL)
		return UV_EAI_NONAME;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int cairn_node_listen(uv_loop_t *loop, uv_tcp_t *tcp, const struct cairn_addr *addr,
		      uv_connection_cb cb, void *data)
{
	struct sockaddr_storage ss;
	int rv = resolve(addr, &ss);
	if (rv != 0)
		return rv;
	rv = uv_tcp_init(loop, tcp);
	if (rv != 0)
		return rv;
	tcp->data = data;
	rv = uv_tcp_bind(tcp, (const struct sockaddr *)&ss, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)tcp, 128, cb);
	return rv;
}

/* ---- Inbound ------------------------------------------------------------ */

static void inbound_unlink(struct cairn_node *n, struct peer_in *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		n->inbound = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	n->n_inbound--;
}

static void inbound_closed(struct cairn_conn *c)
{
	struct peer_in *p = c->data;
	struct cairn_node *n = p->node;
	if (p->id != 0 && !n->stopping)
		CAIRN_INFO("peer %llu disconnected (inbound from %s)", (unsigned long long)p->id,
			   c->peer_name);
	inbound_unlink(n, p);
	free(p);
}

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
		CAIRN_WARN("closing peer connection from %s: %s", p->conn.peer_name, why);
		cairn_conn_close(&p->conn);
		return;
	}
	/* A member reconnecting replaces its old connection. */
	for (struct peer_in *q = n->inbound; q != NULL; q = q->next) {
		if (q != p && q->id == h->node_id)
			cairn_conn_close(&q->conn);
	}
	p->id = h->node_id;
	CAIRN_INFO("peer %llu connected (inbound from %s)", (unsigned long long)p->id,
		   p->conn.peer_name);
}

static void inbound_frame(struct cairn_conn *c, const uint8_t *frame, size_t len)
{
	struct peer_in *p = c->data;
	struct cairn_node *n = p->node;
	struct cairn_proto_peer *d = n->dec;
	if (cairn_proto_decode_peer(frame, len, d) != 0) {
		CAIRN_WARN("closing peer connection from %s: malformed frame: %s", c->peer_name,
			   d->why != NULL ? d->why : "?");
		cairn_conn_close(c);
		return;
	}
	if (d->type == CAIRN_PROTO_HELLO) {
		inbound_hello(p, &d->hello);
		return;
	}
	if (p->id == 0 || d->msg.from != p->id || d->msg.to != n->id) {
		CAIRN_WARN("closing peer connection from %s: %s", c->peer_name,
			   p->id == 0 ? "no HELLO first"
				      : "message for another sender or receiver");
		cairn_conn_close(c);
		return;
	}
	cairn_node_step(n, &d->msg);
}

static void on_peer_connection(uv_stream_t *server, int status)
{
	struct cairn_node *n = server->data;
	if (status != 0) {
		CAIRN_WARN("peer port: accept failed: %s", uv_strerror(status));
		return;
	}
	struct peer_in *p = calloc(1, sizeof *p);
	if (p == NULL ||
	    cairn_conn_init(&p->conn, n->loop, inbound_frame, inbound_closed, p) != 0) {
		free(p);
		CAIRN_WARN("peer port: out of memory accepting a connection");
		return;
	}
	p->node = n;
	p->accepted_ms = cairn_clock_now_ms();
	p->next = n->inbound;
	if (n->inbound != NULL)
		n->inbound->prev = p;
	n->inbound = p;
	n->n_inbound++;
	int rv = cairn_conn_accept(&p->conn, server);
	if (rv != 0 || n->stopping) {
		cairn_conn_close(&p->conn);
		return;
	}
	/* At the cap, make room by dropping the oldest connection that never
	 * said who it is: strangers cannot lock members out. */
	if (n->n_inbound > CAIRN_PEER_CONNS_MAX) {
		struct peer_in *victim = NULL;
		for (struct peer_in *q = n->inbound; q != NULL; q = q->next) {
			if (q->id == 0 && !q->conn.closing)
				victim = q;
		}
		if (victim == NULL)
			victim = p;
		/* One line per second at most: a flood must not flood the log. */
		uint64_t now = cairn_clock_now_ms();
		if (now - n->peer_evict_log_ms >= 1000) {
			n->peer_evict_log_ms = now;
			CAIRN_WARN("peer port: at %u connections, closing the oldest that sent "
				   "no HELLO (%s)",
				   (unsigned)CAIRN_PEER_CONNS_MAX, victim->conn.peer_name);
		}
		cairn_conn_close(&victim->conn);
	}
}

void cairn_peer_expire_inbound(struct cairn_node *n, uint64_t now_ms)
{
	for (struct peer_in *q = n->inbound; q != NULL; q = q->next) {
		if (q->id == 0 && !q->conn.closing &&
		    now_ms - q->accepted_ms > CAIRN_PEER_HELLO_TIMEOUT_MS) {
			CAIRN_WARN("closing peer connection from %s: no HELLO in %u ms",
				   q->conn.peer_name, CAIRN_PEER_HELLO_TIMEOUT_MS);
			cairn_conn_close(&q->conn);
		}
	}
}

int cairn_peer_listen(struct cairn_node *n)
{
	return cairn_node_listen(n->loop, &n->peer_listener, &n->self->peer, on_peer_connection, n);
}

/* ---- Outbound ----------------------------------------------------------- */

static void connect_peer(struct cairn_peer *peer);

static void retry_cb(uv_timer_t *t)
{
	struct cairn_peer *peer = t->data;
	if (!peer->node->stopping)
		connect_peer(peer);
}

static void schedule_retry(struct cairn_peer *peer)
{
	struct cairn_node *n = peer->node;
	if (n->stopping)
		return;
	uint32_t b = peer->backoff_ms;
	uint64_t delay = b / 2 + cairn_rand_below(&n->rng, b / 2 + 1);
	peer->backoff_ms = b * 2 > CAIRN_PEER_BACKOFF_MS_MAX ? CAIRN_PEER_BACKOFF_MS_MAX : b * 2;
	uv_timer_start(&peer->retry_timer, retry_cb, delay, 0);
}

static void outbound_closed(struct cairn_conn *c)
{
	struct peer_out *o = c->data;
	struct cairn_peer *peer = o->peer;
	if (peer->up && !peer->node->stopping)
		CAIRN_INFO("peer %llu disconnected (link to %s)", (unsigned long long)peer->id,
			   peer->cfg->peer.text);
	peer->up = false;
	peer->out = NULL;
	free(o);
	schedule_retry(peer);
}

static void outbound_frame(struct cairn_conn *c, const uint8_t *frame, size_t len)
{
	/* Members answer on their own links; nothing is expected here. */
	(void)frame;
	(void)len;
	CAIRN_WARN("closing link to %s: unexpected frame", c->peer_name);
	cairn_conn_close(c);
}

static void connected_cb(uv_connect_t *req, int status)
{
	struct peer_out *o = req->data;
	struct cairn_peer *peer = o->peer;
	struct cairn_node *n = peer->node;
	if (status != 0 || o->conn.closing) {
		cairn_conn_close(&o->conn);
		return;
	}
	uv_tcp_nodelay(&o->conn.tcp, 1);
	cairn_node_copy_text(o->conn.peer_name, sizeof o->conn.peer_name, peer->cfg->peer.text);
	struct cairn_proto_hello h = {
		.version = CAIRN_PROTO_VERSION, .cluster_id = n->cluster_id, .node_id = n->id};
	cairn_buf_reset(&n->enc);
	if (cairn_proto_encode_hello(&n->enc, &h) != 0 ||
	    cairn_conn_send_raw(&o->conn, n->enc.data, n->enc.len) != 0 ||
	    cairn_conn_read_start(&o->conn) != 0) {
		cairn_conn_close(&o->conn);
		return;
	}
	o->connected = true;
	peer->up = true;
	peer->backoff_ms = CAIRN_PEER_BACKOFF_MS_MIN;
	CAIRN_INFO("peer %llu connected (link to %s)", (unsigned long long)peer->id,
		   peer->cfg->peer.text);
	peer->ever_up = true;
}

static void connect_peer(struct cairn_peer *peer)
{
	struct cairn_node *n = peer->node;
	assert(peer->out == NULL);
	struct sockaddr_storage ss;
	if (resolve(&peer->cfg->peer, &ss) != 0) {
		schedule_retry(peer);
		return;
	}
	struct peer_out *o = calloc(1, sizeof *o);
	if (o == NULL) {
		schedule_retry(peer);
		return;
	}
	o->peer = peer;
	if (cairn_conn_init(&o->conn, n->loop, outbound_frame, outbound_closed, o) != 0) {
		free(o);
		schedule_retry(peer);
		return;
	}
	peer->out = o;
	o->req.data = o;
	int rv = uv_tcp_connect(&o->req, &o->conn.tcp, (const struct sockaddr *)&ss, connected_cb);
	if (rv != 0)
		cairn_conn_close(&o->conn);
}

void cairn_peer_start(struct cairn_node *n)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_peer *peer = &n->peers[i];
		peer->backoff_ms = CAIRN_PEER_BACKOFF_MS_MIN;
		connect_peer(peer);
	}
}

static struct cairn_peer *find_peer(struct cairn_node *n, uint64_t id)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		if (n->peers[i].id == id)
			return &n->peers[i];
	}
	return NULL;
}

void cairn_peer_send_frame(struct cairn_node *n, uint64_t to, const uint8_t *frame, size_t len)
{
	struct cairn_peer *peer = find_peer(n, to);
	if (peer == NULL || !peer->up || peer->out == NULL) {
		if (peer != NULL)
			peer->dropped_msgs++;
		return; /* Raft retransmits once the link is back */
	}
	struct cairn_conn *c = &peer->out->conn;
	if (cairn_conn_send_raw(c, frame, len) != 0) {
		cairn_conn_close(c);
		return;
	}
	if (c->wq_bytes > CAIRN_PEER_SENDQ_BYTES_MAX) {
		CAIRN_WARN("peer %llu is not keeping up (%zu bytes queued): reconnecting",
			   (unsigned long long)to, c->wq_bytes);
		cairn_conn_close(c);
	}
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
	cairn_peer_send_frame(n, m->to, n->enc.data, n->enc.len);
}

void cairn_peer_close_all(struct cairn_node *n)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_peer *peer = &n->peers[i];
		uv_timer_stop(&peer->retry_timer);
		if (peer->out != NULL)
			cairn_conn_close(&peer->out->conn);
	}
	for (struct peer_in *q = n->inbound; q != NULL; q = q->next)
		cairn_conn_close(&q->conn);
}
