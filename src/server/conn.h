/*
 * conn.h - one framed TCP connection on the node's libuv loop.
 *
 * Every frame is a 4-byte big-endian length and that many bytes (DESIGN.md,
 * wire protocol). A connection reads into a buffer capped at one maximal
 * frame, hands each complete frame to frame_cb, and queues writes with a byte
 * count so the owner can bound them. A length of zero or above
 * CAIRN_FRAME_BYTES_MAX closes the connection (one log line). The owner
 * embeds the struct, sets the callbacks and frees it in close_cb, which runs
 * exactly once after cairn_conn_close() or a read error.
 */
#ifndef CAIRN_SERVER_CONN_H
#define CAIRN_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "util/buf.h"

struct cairn_conn;

/* One complete frame (without its length prefix); valid during the call.
 * The callback may close the connection. */
typedef void (*cairn_conn_frame_cb)(struct cairn_conn *c, const uint8_t *frame, size_t len);
/* The connection is closed and no callback will follow: free it now. */
typedef void (*cairn_conn_close_cb)(struct cairn_conn *c);
/* Queued write bytes fell to zero (flow control for the owner); optional. */
typedef void (*cairn_conn_drain_cb)(struct cairn_conn *c);

struct cairn_conn {
	uv_tcp_t tcp; /* tcp.data points back at this struct */
	cairn_conn_frame_cb frame_cb;
	cairn_conn_close_cb close_cb;
	cairn_conn_drain_cb drain_cb;
	void *data;          /* the owner's back-pointer */
	char peer_name[64];  /* "ip:port" of the remote end, for logs */
	struct cairn_buf rd; /* unparsed input; cap: a frame plus a read chunk */
	size_t wq_bytes;     /* bytes handed to uv_write and not yet written */
	bool reading;
	bool closing;
};

/* Initialise c on loop (uv_tcp_init) with its callbacks. 0 or -errno. */
int cairn_conn_init(struct cairn_conn *c, uv_loop_t *loop, cairn_conn_frame_cb frame_cb,
		    cairn_conn_close_cb close_cb, void *data);
/* Accept a pending connection from server into c (initialised), fill its
 * peer_name and start reading. 0 or -errno (then close c). */
int cairn_conn_accept(struct cairn_conn *c, uv_stream_t *server);
/* Start or stop delivering frames (back-pressure). */
int cairn_conn_read_start(struct cairn_conn *c);
void cairn_conn_read_stop(struct cairn_conn *c);
/* Queue one frame: prefix is written, then payload (both copied). Returns
 * 0, CAIRN_ESTOPPED when closing, CAIRN_ENOMEM, or -errno from libuv. */
int cairn_conn_send(struct cairn_conn *c, const void *payload, size_t len);
/* Queue bytes that are already a whole frame including its prefix. */
int cairn_conn_send_raw(struct cairn_conn *c, const void *bytes, size_t len);
/* Close (idempotent); close_cb follows from the loop. */
void cairn_conn_close(struct cairn_conn *c);

#endif
