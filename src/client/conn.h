/*
 * conn.h - one non-blocking TCP connection to a member's client port, driven
 * by the caller's poll() loop.
 *
 * A connection starts connecting at once, queues whole frames to send and
 * gathers received bytes until a whole frame (4-byte big-endian length, then
 * the payload) is there. The caller asks which poll events it wants, hands
 * back what poll() returned, and takes frames out. Failures are sticky: a
 * failed connection keeps its first error (a negative errno or CAIRN_E*).
 */
#ifndef CAIRN_CLIENT_CONN_H
#define CAIRN_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

enum cairn_client_conn_state {
	CAIRN_CLIENT_CONN_CONNECTING,
	CAIRN_CLIENT_CONN_OPEN,
	CAIRN_CLIENT_CONN_FAILED,
};

struct cairn_client_conn {
	int fd; /* -1 once failed or closed */
	enum cairn_client_conn_state state;
	int err;                 /* why it failed; 0 while healthy */
	struct cairn_buf out;    /* bytes queued to send */
	size_t out_done_bytes;   /* of out, already written */
	struct cairn_buf in;     /* bytes received, not yet taken */
	size_t frame_done_bytes; /* of in, the frame handed out last time */
};

/* Split "HOST:PORT" or "[IPv6]:PORT" into host (NUL-terminated, in a
 * buffer of host_size bytes) and port. Returns 0 or CAIRN_EINVAL. */
int cairn_client_split_addr(const char *addr, char *host, size_t host_size, uint16_t *port);

/* Start connecting to addr. Returns 0 with the connection CONNECTING or
 * OPEN, or an error with it FAILED (refused at once, bad address). The
 * connection must be closed with cairn_client_conn_close either way. */
int cairn_client_conn_open(struct cairn_client_conn *c, const char *addr);

void cairn_client_conn_close(struct cairn_client_conn *c);

/* Queue a frame's bytes for sending (tries to send at once). */
int cairn_client_conn_send(struct cairn_client_conn *c, const void *bytes, size_t n);

/* True when everything queued has been handed to the kernel. */
bool cairn_client_conn_flushed(const struct cairn_client_conn *c);

/* The poll() events the connection waits for (0 once failed). */
short cairn_client_conn_events(const struct cairn_client_conn *c);

/* Act on poll()'s revents: finish connecting, send, receive. Returns 0 or
 * the error that failed the connection (also in c->err). */
int cairn_client_conn_io(struct cairn_client_conn *c, short revents);

/* Take the next whole frame's payload, valid until the next call on c.
 * Returns 1 with *payload and *bytes set, 0 if no whole frame is there yet, or
 * CAIRN_EPROTO (length over the limit, the connection failed). */
int cairn_client_conn_frame(struct cairn_client_conn *c, const uint8_t **payload, size_t *bytes);

#endif
