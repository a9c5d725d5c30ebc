/*
 * conn.c - framed TCP connections (see conn.h).
 *
 * Reads land in one static scratch buffer (the loop is single-threaded) and
 * are appended to the connection's input buffer; complete frames are handed
 * out in order and consumed together at the end of the read. Writes copy the
 * bytes into a request that frees itself when libuv is done with it.
 */
#include "server/conn.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "util/log.h"

#define READ_CHUNK_BYTES (64u * 1024u)
#define FRAME_PREFIX_BYTES 4u

struct write_req {
	uv_write_t req;
	struct cairn_conn *conn;
	size_t len;
	uint8_t bytes[]; /* the whole frame */
};

static uint8_t read_scratch[READ_CHUNK_BYTES];

static void on_closed(uv_handle_t *h)
{
	struct cairn_conn *c = h->data;
	cairn_buf_free(&c->rd);
	c->close_cb(c);
}

void cairn_conn_close(struct cairn_conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	c->reading = false;
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

int cairn_conn_init(struct cairn_conn *c, uv_loop_t *loop, cairn_conn_frame_cb frame_cb,
		    cairn_conn_close_cb close_cb, void *data)
{
	assert(frame_cb != NULL && close_cb != NULL);
	memset(c, 0, sizeof *c);
	c->frame_cb = frame_cb;
	c->close_cb = close_cb;
	c->data = data;
	/* Before a read only an incomplete frame is buffered, so one frame plus
	 * one read chunk always fits. */
	cairn_buf_init(&c->rd, FRAME_PREFIX_BYTES + CAIRN_FRAME_BYTES_MAX + READ_CHUNK_BYTES);
	snprintf(c->peer_name, sizeof c->peer_name, "?");
	int rv = uv_tcp_init(loop, &c->tcp);
	if (rv != 0)
		return rv;
	c->tcp.data = c;
	return 0;
}

static void name_peer(struct cairn_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	char ip[48] = "?";
	int port = 0;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		uv_ip4_name(sin, ip, sizeof ip);
		port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
		uv_ip6_name(sin6, ip, sizeof ip);
		port = ntohs(sin6->sin6_port);
	}
	snprintf(c->peer_name, sizeof c->peer_name, "%s:%d", ip, port);
}

int cairn_conn_accept(struct cairn_conn *c, uv_stream_t *server)
{
	int rv = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (rv != 0)
		return rv;
	uv_tcp_nodelay(&c->tcp, 1);
	name_peer(c);
	return cairn_conn_read_start(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = (char *)read_scratch;
	buf->len = sizeof read_scratch;
}

/* Hand out every complete frame; returns false if the connection closed. */
static bool parse_frames(struct cairn_conn *c)
{
	size_t off = 0;
	while (!c->closing && c->reading && c->rd.len - off >= FRAME_PREFIX_BYTES) {
		uint32_t flen = cairn_get_be32(c->rd.data + off);
		if (flen == 0 || flen > CAIRN_FRAME_BYTES_MAX) {
			CAIRN_WARN("closing connection from %s: frame length %u out of range",
				   c->peer_name, flen);
			cairn_conn_close(c);
			return false;
		}
		if (c->rd.len - off - FRAME_PREFIX_BYTES < flen)
			break;
		off += FRAME_PREFIX_BYTES + flen;
		c->frame_cb(c, c->rd.data + off - flen, flen);
	}
	if (c->closing)
		return false;
	if (off > 0)
		cairn_buf_consume(&c->rd, off);
	return true;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct cairn_conn *c = s->data;
	(void)buf;
	if (nread == 0 || c->closing)
		return;
	if (nread < 0) {
		if (nread != UV_EOF)
			CAIRN_DEBUG("connection from %s: %s", c->peer_name,
				    uv_strerror((int)nread));
		cairn_conn_close(c);
		return;
	}
	if (cairn_buf_append(&c->rd, read_scratch, (size_t)nread) != 0) {
		/* Only memory exhaustion gets here (see the cap in init). */
		CAIRN_WARN("closing connection from %s: input buffer full", c->peer_name);
		cairn_conn_close(c);
		return;
	}
	parse_frames(c);
}

int cairn_conn_read_start(struct cairn_conn *c)
{
	if (c->closing)
		return CAIRN_ESTOPPED;
	if (c->reading)
		return 0;
	c->reading = true;
	int rv = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (rv != 0) {
		c->reading = false;
		return rv;
	}
	/* Frames already buffered while stopped go out now. */
	parse_frames(c);
	return 0;
}

void cairn_conn_read_stop(struct cairn_conn *c)
{
	if (!c->reading || c->closing)
		return;
	c->reading = false;
	uv_read_stop((uv_stream_t *)&c->tcp);
}

static void write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct cairn_conn *c = w->conn;
	assert(c->wq_bytes >= w->len);
	c->wq_bytes -= w->len;
	free(w);
	if (status != 0) {
		if (status != UV_ECANCELED)
			CAIRN_DEBUG("write to %s: %s", c->peer_name, uv_strerror(status));
		cairn_conn_close(c);
		return;
	}
	if (c->wq_bytes == 0 && c->drain_cb != NULL && !c->closing)
		c->drain_cb(c);
}

static int send_parts(struct cairn_conn *c, const void *prefix, size_t prefix_len,
		      const void *payload, size_t len)
{
	if (c->closing)
		return CAIRN_ESTOPPED;
	struct write_req *w = malloc(sizeof *w + prefix_len + len);
	if (w == NULL)
		return CAIRN_ENOMEM;
	w->conn = c;
	w->len = prefix_len + len;
	if (prefix_len > 0)
		memcpy(w->bytes, prefix, prefix_len);
	if (len > 0)
		memcpy(w->bytes + prefix_len, payload, len);
	uv_buf_t b = uv_buf_init((char *)w->bytes, (unsigned)w->len);
	int rv = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb);
	if (rv != 0) {
		free(w);
		return rv;
	}
	c->wq_bytes += w->len;
	return 0;
}

int cairn_conn_send(struct cairn_conn *c, const void *payload, size_t len)
{
	assert(len <= CAIRN_FRAME_BYTES_MAX);
	uint8_t prefix[FRAME_PREFIX_BYTES];
	cairn_put_be32(prefix, (uint32_t)len);
	return send_parts(c, prefix, sizeof prefix, payload, len);
}

int cairn_conn_send_raw(struct cairn_conn *c, const void *bytes, size_t len)
{
	return send_parts(c, NULL, 0, bytes, len);
}
