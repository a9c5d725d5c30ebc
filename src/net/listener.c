/*
 * listener.c - a TCP listener that binds exactly one address and accepts a
 * bounded number of framed connections.
 *
 * Start-up is synchronous (a host name is resolved with a synchronous
 * uv_getaddrinfo) so that a server can report "address in use" and exit
 * before it serves anything. Each accepted connection is allocated here,
 * kept on a list, and freed after its owner has heard it closed. Past
 * conns_max a connection is still accepted (to take it off the backlog)
 * and closed at once, without any callback.
 */
#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "net/internal.h"
#include "util/log.h"

#define BACKLOG 511

static void maybe_closed(struct cairn_net_listener *l)
{
	if (!l->closing || !l->tcp_closed || l->conns != NULL)
		return;
	cairn_net_listener_close_cb cb = l->close_cb;
	l->close_cb = NULL;
	if (cb != NULL)
		cb(l);
}

void cairn_net__listener_conn_closed(struct cairn_net_conn *c)
{
	struct cairn_net_listener *l = c->listener;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->accepted) {
		assert(l->n_conns > 0);
		l->n_conns--;
		if (l->cfg.conn_close_cb != NULL)
			l->cfg.conn_close_cb(c, c->close_reason);
	}
	free(c);
	maybe_closed(l);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct cairn_net_listener *l = server->data;
	if (status < 0) {
		CAIRN_WARN("net: accept on %s: %s", l->addr, uv_strerror(status));
		return;
	}
	if (l->closing)
		return;
	struct cairn_net_conn *c = malloc(sizeof *c);
	if (c == NULL) {
		CAIRN_ERROR("net: accept on %s: out of memory", l->addr);
		return;
	}
	cairn_net__conn_init(l->loop, c, &l->cfg.limits);
	c->listener = l;
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	int rv = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (rv == 0 && l->n_conns >= l->cfg.conns_max)
		rv = CAIRN_EFULL;
	if (rv == 0)
		rv = cairn_net__conn_start(c);
	if (rv != 0) {
		if (rv == CAIRN_EFULL)
			CAIRN_WARN("net: refusing a connection on %s: %zu open", l->addr,
				   l->n_conns);
		else
			CAIRN_WARN("net: accept on %s: %s", l->addr, cairn_strerror(rv));
		cairn_net__conn_close(c, rv); /* not accepted: no callbacks */
		return;
	}
	c->accepted = true;
	l->n_conns++;
	if (l->cfg.accept_cb != NULL)
		l->cfg.accept_cb(l, c);
}

/* cfg->addr into *ss, resolving a name synchronously. */
static int resolve(struct cairn_net_listener *l, struct sockaddr_storage *ss, char *errmsg,
		   size_t errmsg_len)
{
	char host[CAIRN_NET_ADDR_BYTES_MAX + 1];
	char port_s[8];
	uint16_t port;
	if (cairn_net_split_addr(l->addr, host, sizeof host, &port) != 0) {
		snprintf(errmsg, errmsg_len, "bad address '%s' (want HOST:PORT or [IPv6]:PORT)",
			 l->addr);
		return CAIRN_EINVAL;
	}
	if (cairn_net__numeric_addr(host, port, ss) == 0)
		return 0;
	uv_getaddrinfo_t req;
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port_s, sizeof port_s, "%u", port);
	int rv = uv_getaddrinfo(l->loop, &req, NULL, host, port_s, &hints);
	if (rv != 0) {
		snprintf(errmsg, errmsg_len, "resolve %s: %s", l->addr, uv_strerror(rv));
		return rv;
	}
	assert(req.addrinfo != NULL);
	memset(ss, 0, sizeof *ss);
	memcpy(ss, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
	uv_freeaddrinfo(req.addrinfo);
	return 0;
}

int cairn_net_listener_start(uv_loop_t *loop, struct cairn_net_listener *l,
			     const struct cairn_net_listener_config *cfg, char *errmsg,
			     size_t errmsg_len)
{
	char scratch[1];
	struct sockaddr_storage ss;
	if (errmsg == NULL || errmsg_len == 0) {
		errmsg = scratch;
		errmsg_len = sizeof scratch;
	}
	errmsg[0] = '\0';
	void *data = l->data;
	memset(l, 0, sizeof *l);
	l->data = data;
	l->loop = loop;
	l->cfg = *cfg;
	if (l->cfg.conns_max == 0)
		l->cfg.conns_max = CAIRN_CLIENT_CONNS_MAX;
	int rv = uv_tcp_init(loop, &l->tcp);
	assert(rv == 0);
	l->tcp.data = l;
	if (cfg->addr == NULL || cfg->frame_cb == NULL) {
		snprintf(errmsg, errmsg_len, "listener: missing address or frame callback");
		return CAIRN_EINVAL;
	}
	l->cfg.addr = l->addr;
	snprintf(l->addr, sizeof l->addr, "%s", cfg->addr);
	rv = resolve(l, &ss, errmsg, errmsg_len);
	if (rv != 0)
		return rv;
	/* Exactly the address given: an IPv6 socket takes no IPv4 traffic. */
	unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
	rv = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, flags);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&l->tcp, BACKLOG, connection_cb);
	if (rv != 0)
		snprintf(errmsg, errmsg_len, "listen on %s: %s", l->addr, uv_strerror(rv));
	return rv;
}

int cairn_net_listener_port(const struct cairn_net_listener *l)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	int rv = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
	if (rv != 0)
		return rv;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void tcp_closed_cb(uv_handle_t *h)
{
	struct cairn_net_listener *l = h->data;
	l->tcp_closed = true;
	maybe_closed(l);
}

void cairn_net_listener_close(struct cairn_net_listener *l, cairn_net_listener_close_cb cb)
{
	assert(!l->closing);
	l->closing = true;
	l->close_cb = cb;
	uv_close((uv_handle_t *)&l->tcp, tcp_closed_cb);
	for (struct cairn_net_conn *c = l->conns; c != NULL; c = c->next)
		cairn_net__conn_close(c, CAIRN_ESTOPPED);
}
