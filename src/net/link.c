/*
 * link.c - an outbound connection to one peer that keeps itself connected.
 *
 * A small state machine: WAITING (backoff timer) -> RESOLVING (host names
 * only) -> CONNECTING (with a timeout) -> CONNECTED -> DROPPING -> WAITING.
 * Any failure closes the attempt's connection; when its handles are closed
 * the next attempt is scheduled after an exponential backoff with jitter,
 * drawn from the link's own seeded generator. The first attempt also goes
 * through the timer, so no callback ever runs inside cairn_net_link_start().
 * A connection ends a series of failures only once it has lived as long as
 * the longest backoff: a peer that accepts and closes at once (a proxy in
 * front of a dead member, a peer refusing us) is retried with a growing
 * delay, not every backoff_min_ms.
 */
#include <assert.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "net/internal.h"
#include "util/log.h"

#define BACKOFF_MIN_MS_DEFAULT 50u
#define BACKOFF_MAX_MS_DEFAULT 2000u
#define CONNECT_TIMEOUT_MS_DEFAULT 2000u

static void attempt_cb(uv_timer_t *t);

static void maybe_closed(struct cairn_net_link *k)
{
	if (k->state != CAIRN_NET_LINK_CLOSING || k->gai_busy || k->conn_open || k->timer_open)
		return;
	cairn_buf_free(&k->greeting);
	cairn_net_link_close_cb cb = k->close_cb;
	k->close_cb = NULL;
	if (cb != NULL)
		cb(k);
}

/* Delay before attempt number failures + 1: min * 2^(failures-1), capped
 * at max, then drawn uniformly from its upper half. */
static uint64_t backoff_ms(struct cairn_net_link *k)
{
	uint64_t d = k->cfg.backoff_min_ms;
	for (uint32_t i = 1; i < k->failures && d < k->cfg.backoff_max_ms; i++)
		d *= 2;
	if (d > k->cfg.backoff_max_ms)
		d = k->cfg.backoff_max_ms;
	return d - d / 2 + cairn_rand_below(&k->rand, d / 2 + 1);
}

/* Wait, then try again. Done before any callback, so that a callback may
 * close the link. */
static void schedule_retry(struct cairn_net_link *k, int status)
{
	k->failures++;
	k->last_status = status;
	k->state = CAIRN_NET_LINK_WAITING;
	uv_timer_start(&k->timer, attempt_cb, backoff_ms(k), 0);
}

void cairn_net__link_conn_closed(struct cairn_net_conn *c)
{
	struct cairn_net_link *k = c->link;
	bool was_connected = k->state == CAIRN_NET_LINK_CONNECTED;
	int reason = c->close_reason;
	k->conn_open = false;
	if (k->state == CAIRN_NET_LINK_CLOSING) {
		maybe_closed(k);
		return;
	}
	if (was_connected && uv_now(k->loop) - k->connected_ms >= k->cfg.backoff_max_ms)
		k->failures = 0; /* it was healthy: the next attempt comes quickly */
	/* Report a lost connection, and the first failure of a series. */
	bool report = was_connected || k->failures == 0;
	schedule_retry(k, reason);
	if (report && k->cfg.state_cb != NULL)
		k->cfg.state_cb(k, false, reason != 0 ? reason : UV_EOF); /* may close k */
}

/* End the current attempt or connection; a retry follows. */
static void drop(struct cairn_net_link *k, int reason)
{
	assert(k->conn_open);
	uv_timer_stop(&k->timer);
	k->state = CAIRN_NET_LINK_DROPPING;
	cairn_net__conn_close(&k->conn, reason);
}

static void connect_timeout_cb(uv_timer_t *t)
{
	struct cairn_net_link *k = t->data;
	assert(k->state == CAIRN_NET_LINK_CONNECTING);
	drop(k, UV_ETIMEDOUT);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct cairn_net_link *k = req->data;
	if (k->state != CAIRN_NET_LINK_CONNECTING)
		return; /* closing or timed out: the close is under way */
	if (status < 0) {
		drop(k, status);
		return;
	}
	uv_timer_stop(&k->timer);
	int rv = cairn_net__conn_start(&k->conn);
	if (rv != 0) {
		drop(k, rv);
		return;
	}
	k->state = CAIRN_NET_LINK_CONNECTED;
	k->connected_ms = uv_now(k->loop);
	if (k->greeting.len > 0 &&
	    cairn_net_conn_send(&k->conn, k->greeting.data, k->greeting.len) != 0)
		return; /* the send closed the connection */
	if (k->cfg.state_cb != NULL)
		k->cfg.state_cb(k, true, 0);
}

static void connect_to(struct cairn_net_link *k, const struct sockaddr *sa)
{
	cairn_net__conn_init(k->loop, &k->conn, &k->cfg.limits);
	k->conn.link = k;
	k->conn_open = true;
	k->state = CAIRN_NET_LINK_CONNECTING;
	cairn_net__name(sa, k->conn.name, sizeof k->conn.name);
	k->connect_req.data = k;
	int rv = uv_tcp_connect(&k->connect_req, &k->conn.tcp, sa, connect_cb);
	if (rv != 0) {
		drop(k, rv);
		return;
	}
	uv_timer_start(&k->timer, connect_timeout_cb, k->cfg.connect_timeout_ms, 0);
}

/* Resolution failed: count it as a failed attempt without a connection. */
static void resolve_failed(struct cairn_net_link *k, int status)
{
	bool report = k->failures == 0;
	schedule_retry(k, status);
	if (report && k->cfg.state_cb != NULL)
		k->cfg.state_cb(k, false, status); /* may close k */
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct cairn_net_link *k = req->data;
	k->gai_busy = false;
	if (k->state == CAIRN_NET_LINK_CLOSING) {
		uv_freeaddrinfo(res);
		maybe_closed(k);
		return;
	}
	if (status < 0) {
		resolve_failed(k, status);
		return;
	}
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	memcpy(&ss, res->ai_addr, res->ai_addrlen);
	uv_freeaddrinfo(res);
	connect_to(k, (const struct sockaddr *)&ss);
}

static void attempt_cb(uv_timer_t *t)
{
	struct cairn_net_link *k = t->data;
	struct sockaddr_storage ss;
	uint16_t port = (uint16_t)strtoul(k->port, NULL, 10);
	assert(k->state == CAIRN_NET_LINK_WAITING);
	if (cairn_net__numeric_addr(k->host, port, &ss) == 0) {
		connect_to(k, (const struct sockaddr *)&ss);
		return;
	}
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	k->gai.data = k;
	k->state = CAIRN_NET_LINK_RESOLVING;
	int rv = uv_getaddrinfo(k->loop, &k->gai, gai_cb, k->host, k->port, &hints);
	if (rv != 0) {
		resolve_failed(k, rv);
		return;
	}
	k->gai_busy = true;
}

int cairn_net_link_start(uv_loop_t *loop, struct cairn_net_link *k,
			 const struct cairn_net_link_config *cfg)
{
	uint16_t port;
	void *data = k->data;
	memset(k, 0, sizeof *k);
	k->data = data;
	if (cfg->addr == NULL ||
	    cairn_net_split_addr(cfg->addr, k->host, sizeof k->host, &port) != 0)
		return CAIRN_EINVAL;
	k->loop = loop;
	k->cfg = *cfg;
	snprintf(k->addr, sizeof k->addr, "%s", cfg->addr);
	k->cfg.addr = k->addr;
	snprintf(k->port, sizeof k->port, "%u", port);
	if (k->cfg.backoff_min_ms == 0)
		k->cfg.backoff_min_ms = BACKOFF_MIN_MS_DEFAULT;
	if (k->cfg.backoff_max_ms == 0)
		k->cfg.backoff_max_ms = BACKOFF_MAX_MS_DEFAULT;
	if (k->cfg.backoff_max_ms < k->cfg.backoff_min_ms)
		return CAIRN_EINVAL;
	if (k->cfg.connect_timeout_ms == 0)
		k->cfg.connect_timeout_ms = CONNECT_TIMEOUT_MS_DEFAULT;
	size_t frame_max = cfg->limits.frame_bytes_max != 0 ? cfg->limits.frame_bytes_max
							    : CAIRN_FRAME_BYTES_MAX;
	cairn_buf_init(&k->greeting, 0);
	if (cfg->greeting_len > 0) {
		if (!cairn_net__frames_ok(cfg->greeting, cfg->greeting_len, frame_max))
			return CAIRN_EINVAL;
		int rv = cairn_buf_append(&k->greeting, cfg->greeting, cfg->greeting_len);
		if (rv != 0)
			return rv;
	}
	k->cfg.greeting = NULL;
	cairn_rand_seed(&k->rand, cfg->seed);
	int rv = uv_timer_init(loop, &k->timer);
	assert(rv == 0);
	k->timer.data = k;
	k->timer_open = true;
	k->state = CAIRN_NET_LINK_WAITING;
	uv_timer_start(&k->timer, attempt_cb, 0, 0);
	return 0;
}

int cairn_net_link_send(struct cairn_net_link *k, const void *frames, size_t len)
{
	if (k->state != CAIRN_NET_LINK_CONNECTED)
		return CAIRN_EUNAVAIL;
	return cairn_net_conn_send(&k->conn, frames, len);
}

bool cairn_net_link_connected(const struct cairn_net_link *k)
{
	return k->state == CAIRN_NET_LINK_CONNECTED;
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct cairn_net_link *k = h->data;
	k->timer_open = false;
	maybe_closed(k);
}

void cairn_net_link_close(struct cairn_net_link *k, cairn_net_link_close_cb cb)
{
	assert(k->state != CAIRN_NET_LINK_CLOSING);
	k->state = CAIRN_NET_LINK_CLOSING;
	k->close_cb = cb;
	if (k->gai_busy)
		(void)uv_cancel((uv_req_t *)&k->gai); /* else its callback ends it */
	if (k->conn_open)
		cairn_net__conn_close(&k->conn, CAIRN_ESTOPPED);
	uv_close((uv_handle_t *)&k->timer, timer_closed_cb);
}
