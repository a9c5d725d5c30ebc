/*
 * conn.c - a non-blocking TCP connection carrying length-prefixed frames.
 *
 * Frames are split by proto's cairn_proto_frame_split, the one definition
 * of the framing. Name resolution is getaddrinfo() (blocking, but the addresses in a cluster
 * file are literals or local names); everything after is non-blocking and
 * driven by the caller's poll(). Received bytes accumulate in a capped buffer
 * so a reply can never make the client allocate without bound.
 */
#include "client/conn.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cairn/client.h"
#include "cairn/errors.h"
#include "cairn/limits.h"
#include "proto/proto.h"

#define READ_CHUNK_BYTES 65536u

int cairn_client_split_addr(const char *addr, char *host, size_t host_size, uint16_t *port)
{
	const char *host_start = addr;
	const char *host_end;
	const char *colon;
	if (addr[0] == '[') {
		host_start = addr + 1;
		host_end = strchr(host_start, ']');
		if (host_end == NULL || host_end[1] != ':')
			return CAIRN_EINVAL;
		colon = host_end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			return CAIRN_EINVAL;
		host_end = colon;
	}
	size_t host_len = (size_t)(host_end - host_start);
	if (host_len == 0 || host_len >= host_size)
		return CAIRN_EINVAL;
	const char *p = colon + 1;
	if (*p == '\0')
		return CAIRN_EINVAL;
	unsigned long v = 0;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return CAIRN_EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return CAIRN_EINVAL;
	}
	if (v == 0)
		return CAIRN_EINVAL;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	*port = (uint16_t)v;
	return 0;
}

static int fail(struct cairn_client_conn *c, int err)
{
	assert(err < 0);
	if (c->state != CAIRN_CLIENT_CONN_FAILED) {
		c->state = CAIRN_CLIENT_CONN_FAILED;
		c->err = err;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	return c->err;
}

static int resolve(const char *addr, struct sockaddr_storage *sa, socklen_t *sa_len)
{
	char host[CAIRN_CLIENT_ADDR_BYTES_MAX];
	char port_str[8];
	uint16_t port;
	if (cairn_client_split_addr(addr, host, sizeof(host), &port) != 0)
		return CAIRN_EINVAL;
	snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	struct addrinfo *res = NULL;
	if (getaddrinfo(host, port_str, &hints, &res) != 0 || res == NULL)
		return CAIRN_EINVAL;
	assert(res->ai_addrlen <= sizeof(*sa));
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*sa_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int cairn_client_conn_open(struct cairn_client_conn *c, const char *addr)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->state = CAIRN_CLIENT_CONN_CONNECTING;
	cairn_buf_init(&c->out, CAIRN_FRAME_BYTES_MAX);
	cairn_buf_init(&c->in, CAIRN_FRAME_BYTES_MAX + 4u + READ_CHUNK_BYTES);

	struct sockaddr_storage sa;
	socklen_t sa_len = 0;
	int rv = resolve(addr, &sa, &sa_len);
	if (rv != 0)
		return fail(c, rv);
	c->fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail(c, -errno);
	int one = 1;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sa_len) == 0) {
		c->state = CAIRN_CLIENT_CONN_OPEN;
		return 0;
	}
	if (errno == EINPROGRESS)
		return 0;
	return fail(c, -errno);
}

void cairn_client_conn_close(struct cairn_client_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	cairn_buf_free(&c->out);
	cairn_buf_free(&c->in);
}

static int flush(struct cairn_client_conn *c)
{
	while (c->out_done_bytes < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_done_bytes,
				 c->out.len - c->out_done_bytes, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return fail(c, -errno);
		}
		c->out_done_bytes += (size_t)n;
	}
	cairn_buf_reset(&c->out);
	c->out_done_bytes = 0;
	return 0;
}

int cairn_client_conn_send(struct cairn_client_conn *c, const void *bytes, size_t n)
{
	if (c->state == CAIRN_CLIENT_CONN_FAILED)
		return c->err;
	int rv = cairn_buf_append(&c->out, bytes, n);
	if (rv != 0)
		return rv;
	if (c->state == CAIRN_CLIENT_CONN_OPEN)
		return flush(c);
	return 0;
}

bool cairn_client_conn_flushed(const struct cairn_client_conn *c)
{
	return c->state == CAIRN_CLIENT_CONN_OPEN && c->out.len == c->out_done_bytes;
}

short cairn_client_conn_events(const struct cairn_client_conn *c)
{
	switch (c->state) {
	case CAIRN_CLIENT_CONN_CONNECTING:
		return POLLOUT;
	case CAIRN_CLIENT_CONN_OPEN:
		return (short)(POLLIN | (c->out.len > c->out_done_bytes ? POLLOUT : 0));
	case CAIRN_CLIENT_CONN_FAILED:
		return 0;
	}
	return 0;
}

static int finish_connect(struct cairn_client_conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return fail(c, -errno);
	if (err != 0)
		return fail(c, -err);
	c->state = CAIRN_CLIENT_CONN_OPEN;
	return flush(c);
}

static int receive(struct cairn_client_conn *c)
{
	/* Drop the frame handed out last time before reading more. */
	if (c->frame_done_bytes > 0) {
		cairn_buf_consume(&c->in, c->frame_done_bytes);
		c->frame_done_bytes = 0;
	}
	for (;;) {
		int rv = cairn_buf_reserve(&c->in, READ_CHUNK_BYTES);
		if (rv != 0)
			return fail(c, CAIRN_EPROTO);
		ssize_t n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK_BYTES, 0);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return fail(c, -errno);
		}
		if (n == 0)
			return fail(c, -ECONNRESET);
		c->in.len += (size_t)n;
	}
}

int cairn_client_conn_io(struct cairn_client_conn *c, short revents)
{
	if (c->state == CAIRN_CLIENT_CONN_FAILED)
		return c->err;
	if (c->state == CAIRN_CLIENT_CONN_CONNECTING) {
		if (revents == 0)
			return 0;
		int rv = finish_connect(c);
		if (rv != 0)
			return rv;
	}
	if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
		int rv = receive(c);
		if (rv != 0)
			return rv;
	}
	if ((revents & POLLOUT) != 0)
		return flush(c);
	return 0;
}

int cairn_client_conn_frame(struct cairn_client_conn *c, const uint8_t **payload, size_t *bytes)
{
	if (c->frame_done_bytes > 0) {
		cairn_buf_consume(&c->in, c->frame_done_bytes);
		c->frame_done_bytes = 0;
	}
	size_t len = 0;
	int rv = cairn_proto_frame_split(c->in.data, c->in.len, &len);
	if (rv < 0) {
		fail(c, CAIRN_EPROTO);
		return CAIRN_EPROTO;
	}
	if (rv == 0)
		return 0;
	*payload = c->in.data + CAIRN_PROTO_PREFIX_BYTES;
	*bytes = len;
	c->frame_done_bytes = CAIRN_PROTO_PREFIX_BYTES + len;
	return 1;
}
