/*
 * conn.c - one TCP connection: the frame reader, the bounded double-buffered
 * write queue, the stall/idle timer, and closing.
 *
 * Reading: libuv reads into the free tail of rbuf; after each read every
 * complete frame is handed to the owner's frame_cb straight from rbuf, and
 * the bytes of a partial frame move to the front. A length prefix is
 * checked as soon as its four bytes are in, so a hostile length closes the
 * connection before anything is buffered for it.
 *
 * Writing: frames are appended to pending; when no uv_write is under way,
 * pending becomes inflight and goes out in one uv_write. Frames queued
 * during that write gather in pending and go out together when it ends.
 *
 * Closing: the tcp and timer handles are closed; libuv cancels an unfinished
 * write first. When both close callbacks have run, the owner is told (and
 * may free the connection).
 */
#include <assert.h>
#include <string.h>

#include "cairn/errors.h"
#include "net/internal.h"
#include "util/log.h"

/* A buffer this large is released when it empties rather than kept. */
#define KEEP_BYTES_MAX (1024u * 1024u)

void cairn_net__conn_init(uv_loop_t *loop, struct cairn_net_conn *c,
			  const struct cairn_net_conn_limits *limits)
{
	memset(c, 0, sizeof *c);
	c->limits = *limits;
	if (c->limits.frame_bytes_max == 0 || c->limits.frame_bytes_max > CAIRN_FRAME_BYTES_MAX)
		c->limits.frame_bytes_max = CAIRN_FRAME_BYTES_MAX;
	if (c->limits.sendq_bytes_max == 0)
		c->limits.sendq_bytes_max = CAIRN_PEER_SENDQ_BYTES_MAX;
	if (c->limits.stall_timeout_ms == 0)
		c->limits.stall_timeout_ms = CAIRN_NET_STALL_TIMEOUT_MS_DEFAULT;
	cairn_buf_init(&c->rbuf, CAIRN_NET_PREFIX_BYTES + c->limits.frame_bytes_max +
					 CAIRN_NET_READ_CHUNK_BYTES);
	cairn_buf_init(&c->pending, c->limits.sendq_bytes_max);
	cairn_buf_init(&c->inflight, c->limits.sendq_bytes_max);
	int rv = uv_tcp_init(loop, &c->tcp);
	assert(rv == 0);
	rv = uv_timer_init(loop, &c->timer);
	assert(rv == 0);
	c->tcp.data = c;
	c->timer.data = c;
	c->write_req.data = c;
	c->open_handles = 2;
	snprintf(c->name, sizeof c->name, "?");
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct cairn_net_conn *c = h->data;
	assert(c->closing);
	assert(c->open_handles > 0);
	if (--c->open_handles > 0)
		return;
	cairn_buf_free(&c->rbuf);
	cairn_buf_free(&c->pending);
	cairn_buf_free(&c->inflight);
	if (c->listener != NULL)
		cairn_net__listener_conn_closed(c);
	else
		cairn_net__link_conn_closed(c);
}

void cairn_net__conn_close(struct cairn_net_conn *c, int reason)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_reason = reason;
	uv_close((uv_handle_t *)&c->tcp, handle_closed_cb);
	uv_close((uv_handle_t *)&c->timer, handle_closed_cb);
}

void cairn_net_conn_close(struct cairn_net_conn *c)
{
	cairn_net__conn_close(c, CAIRN_ESTOPPED);
}

const char *cairn_net_conn_name(const struct cairn_net_conn *c)
{
	return c->name;
}

size_t cairn_net_conn_queued_bytes(const struct cairn_net_conn *c)
{
	return c->pending.len + c->inflight.len;
}

/* ---- Timer ---------------------------------------------------------------- */

static void timer_cb(uv_timer_t *t)
{
	struct cairn_net_conn *c = t->data;
	if (c->closing)
		return;
	if (c->rbuf.len > 0)
		CAIRN_WARN("net: closing %s: partial frame stalled for %llu ms", c->name,
			   (unsigned long long)c->limits.stall_timeout_ms);
	else
		CAIRN_INFO("net: closing %s: idle for %llu ms", c->name,
			   (unsigned long long)c->limits.idle_timeout_ms);
	cairn_net__conn_close(c, CAIRN_ETIMEOUT);
}

/* Re-arm after bytes arrived: a partial frame must progress within the
 * stall timeout; a quiet connection lives for the idle timeout, if any. */
static void rearm(struct cairn_net_conn *c)
{
	uint64_t ms = c->rbuf.len > 0 ? c->limits.stall_timeout_ms : c->limits.idle_timeout_ms;
	if (ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* ---- Reading -------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct cairn_net_conn *c = h->data;
	size_t want = CAIRN_NET_READ_CHUNK_BYTES;
	(void)suggested;
	/* Room for the rest of a large partial frame at once (its length
	 * was checked against the limit when its prefix came in). */
	if (c->rbuf.len >= CAIRN_NET_PREFIX_BYTES) {
		size_t frame_bytes = CAIRN_NET_PREFIX_BYTES + cairn_get_be32(c->rbuf.data);
		if (frame_bytes > c->rbuf.len + want)
			want = frame_bytes - c->rbuf.len;
	}
	/* Refused growth (cap or memory) leaves what room there is; none at
	 * all makes libuv report UV_ENOBUFS, which closes the connection. */
	(void)cairn_buf_reserve(&c->rbuf, want);
	buf->base = (char *)c->rbuf.data + c->rbuf.len;
	buf->len = c->rbuf.cap - c->rbuf.len;
}

static cairn_net_frame_cb frame_cb_of(const struct cairn_net_conn *c)
{
	return c->listener != NULL ? c->listener->cfg.frame_cb : c->link->cfg.frame_cb;
}

/* Hands every complete frame in rbuf to the owner. false: c is closing. */
static bool deliver(struct cairn_net_conn *c)
{
	cairn_net_frame_cb cb = frame_cb_of(c);
	size_t off = 0;
	while (!c->closing && c->rbuf.len - off >= CAIRN_NET_PREFIX_BYTES) {
		const uint8_t *p = c->rbuf.data + off;
		uint32_t len = cairn_get_be32(p);
		if (len == 0 || len > c->limits.frame_bytes_max) {
			CAIRN_WARN("net: closing %s: frame length %u not in 1..%zu", c->name, len,
				   c->limits.frame_bytes_max);
			cairn_net__conn_close(c, CAIRN_EPROTO);
			break;
		}
		if (c->rbuf.len - off - CAIRN_NET_PREFIX_BYTES < len)
			break;
		if (cb != NULL)
			cb(c, p + CAIRN_NET_PREFIX_BYTES, len);
		off += CAIRN_NET_PREFIX_BYTES + len;
	}
	if (c->closing)
		return false;
	if (off > 0)
		cairn_buf_consume(&c->rbuf, off);
	if (c->rbuf.len == 0 && c->rbuf.cap > KEEP_BYTES_MAX)
		cairn_buf_free(&c->rbuf);
	return true;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct cairn_net_conn *c = s->data;
	(void)buf;
	if (c->closing)
		return;
	if (nread < 0) {
		if (nread != UV_EOF)
			CAIRN_INFO("net: closing %s: %s", c->name, uv_strerror((int)nread));
		cairn_net__conn_close(c, nread == UV_EOF ? 0 : (int)nread);
		return;
	}
	assert((size_t)nread <= c->rbuf.cap - c->rbuf.len);
	c->rbuf.len += (size_t)nread;
	if (nread > 0 && deliver(c))
		rearm(c);
}

int cairn_net__conn_start(struct cairn_net_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0)
		cairn_net__name((struct sockaddr *)&ss, c->name, sizeof c->name);
	uv_tcp_nodelay(&c->tcp, 1);
	int rv = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (rv == 0)
		rearm(c);
	return rv;
}

/* ---- Writing -------------------------------------------------------------- */

static int flush(struct cairn_net_conn *c);

static void write_cb(uv_write_t *req, int status)
{
	struct cairn_net_conn *c = req->data;
	assert(c->writing);
	c->writing = false;
	cairn_buf_reset(&c->inflight);
	if (c->inflight.cap > KEEP_BYTES_MAX)
		cairn_buf_free(&c->inflight);
	if (c->closing)
		return;
	if (status < 0) {
		CAIRN_INFO("net: closing %s: write failed: %s", c->name, uv_strerror(status));
		cairn_net__conn_close(c, status);
		return;
	}
	if (c->pending.len > 0)
		(void)flush(c); /* a failure closes c */
}

/* Hands everything pending to one uv_write. A failure closes c. */
static int flush(struct cairn_net_conn *c)
{
	assert(!c->writing);
	assert(c->inflight.len == 0);
	struct cairn_buf t = c->inflight;
	c->inflight = c->pending;
	c->pending = t;
	uv_buf_t b = uv_buf_init((char *)c->inflight.data, (unsigned)c->inflight.len);
	int rv = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (rv < 0) {
		CAIRN_INFO("net: closing %s: write failed: %s", c->name, uv_strerror(rv));
		cairn_buf_reset(&c->inflight);
		cairn_net__conn_close(c, rv);
		return rv;
	}
	c->writing = true;
	c->write_started_ms = uv_now(c->tcp.loop);
	c->writes++;
	return 0;
}

bool cairn_net__frames_ok(const uint8_t *p, size_t len, size_t frame_bytes_max)
{
	size_t off = 0;
	if (len == 0)
		return false;
	while (off < len) {
		if (len - off < CAIRN_NET_PREFIX_BYTES)
			return false;
		uint32_t n = cairn_get_be32(p + off);
		if (n == 0 || n > frame_bytes_max || len - off - CAIRN_NET_PREFIX_BYTES < n)
			return false;
		off += CAIRN_NET_PREFIX_BYTES + n;
	}
	return true;
}

int cairn_net_conn_send(struct cairn_net_conn *c, const void *frames, size_t len)
{
	if (c->closing)
		return CAIRN_ESTOPPED;
	if (!cairn_net__frames_ok(frames, len, c->limits.frame_bytes_max))
		return CAIRN_EINVAL;
	uint64_t now_ms = uv_now(c->tcp.loop);
	if (c->writing && c->limits.write_timeout_ms != 0 &&
	    now_ms - c->write_started_ms > c->limits.write_timeout_ms) {
		CAIRN_WARN("net: dropping %s: a write has been waiting for %llu ms", c->name,
			   (unsigned long long)(now_ms - c->write_started_ms));
		cairn_net__conn_close(c, CAIRN_ETIMEOUT);
		return CAIRN_ETIMEOUT;
	}
	size_t queued = c->pending.len + c->inflight.len;
	assert(queued <= c->limits.sendq_bytes_max);
	if (len > c->limits.sendq_bytes_max - queued) {
		CAIRN_WARN("net: dropping %s: send queue would pass %zu bytes", c->name,
			   c->limits.sendq_bytes_max);
		cairn_net__conn_close(c, CAIRN_EFULL);
		return CAIRN_EFULL;
	}
	int rv = cairn_buf_append(&c->pending, frames, len);
	if (rv != 0) {
		CAIRN_WARN("net: dropping %s: %s", c->name, cairn_strerror(rv));
		cairn_net__conn_close(c, rv);
		return rv;
	}
	return c->writing ? 0 : flush(c);
}
