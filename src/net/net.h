/*
 * net.h - TCP for cairn on libuv: listeners, connections and peer links
 * that move length-prefixed frames, and nothing more.
 *
 * A frame is a 4-byte big-endian length L, then L bytes (src/proto says what
 * they mean; this module does not look inside). Incoming frames are handed
 * to the owner's frame_cb as (bytes, L) without the prefix, valid during
 * the callback only. A length of 0 or over the connection's frame limit
 * closes that connection with one log line; everybody else is unaffected.
 *
 * Sending copies whole frames (prefix included, as the proto encoders write
 * them) into the connection's queue and never blocks. Each connection has
 * two buffers: the one being written and the one filling up; when a write
 * completes, everything queued meanwhile goes out in one uv_write, so a
 * burst of frames becomes one system call. The queue is bounded: a send
 * that would take it over sendq_bytes_max drops the connection instead of
 * growing memory (a reader that slow is treated as gone); optionally, so
 * does a send that finds a write stuck for write_timeout_ms.
 *
 * Listener: binds exactly the address given ("IPv4:PORT", "[IPv6]:PORT" or
 * "host:PORT", the first address the name resolves to), accepts up to
 * conns_max connections (more are accepted and closed at once, with a log
 * line) and closes a connection whose partial frame stalls for
 * stall_timeout_ms, or that is silent for idle_timeout_ms when set.
 * Accepted connections are the one thing this module allocates: one struct
 * per connection, at most conns_max, freed after its close callback.
 *
 * Link: an outbound connection to one peer that connects, sends a greeting
 * frame (the HELLO) first on every connection, and reconnects after any
 * failure with exponential backoff and jitter from a seed. Sending on a link
 * that is down drops the frame (Raft retransmits) and says so.
 *
 * A member typically runs one listener for peers (frames decoded with
 * cairn_proto_decode_peer, the first being the HELLO that says who is
 * calling), one for clients (requests in, replies out on the same
 * connection), and one link per other member for everything it sends to
 * that member. Everything here runs on the loop's thread only.
 *
 * Conventions, as libuv's: the caller allocates listeners and links; every
 * struct has void *data for the owner; callbacks end in _cb; a function that
 * takes a callback and returns an error never calls that callback; closing
 * is asynchronous and ends with a close callback, after which the memory may
 * be freed. Errors are 0 or negative: CAIRN_E* codes, or libuv's -errno
 * codes for socket errors (cairn_strerror() prints both).
 */
#ifndef CAIRN_NET_NET_H
#define CAIRN_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/limits.h"
#include "util/buf.h"
#include "util/rand.h"

#define CAIRN_NET_PREFIX_BYTES 4u
#define CAIRN_NET_ADDR_BYTES_MAX 255u /* "HOST:PORT" as given in the config */
#define CAIRN_NET_NAME_BYTES 64u      /* room for "[v6 address]:port" + NUL */

/* Defaults taken when a field of struct cairn_net_conn_limits is 0. */
#define CAIRN_NET_STALL_TIMEOUT_MS_DEFAULT 10000u
#define CAIRN_NET_READ_CHUNK_BYTES (64u * 1024u)

struct cairn_net_conn;
struct cairn_net_listener;
struct cairn_net_link;

/* A frame arrived (prefix stripped). frame is valid during the call only.
 * The callback may send, and may close the connection. */
typedef void (*cairn_net_frame_cb)(struct cairn_net_conn *c, const uint8_t *frame, size_t len);

/* Per-connection limits; 0 takes the default named. */
struct cairn_net_conn_limits {
	/* CAIRN_FRAME_BYTES_MAX */
	size_t frame_bytes_max;
	/* CAIRN_PEER_SENDQ_BYTES_MAX */
	size_t sendq_bytes_max;
	/* CAIRN_NET_STALL_TIMEOUT_MS_DEFAULT: a partial frame with no new
	 * byte for this long closes the connection. */
	uint64_t stall_timeout_ms;
	/* 0: never; else no byte at all for this long closes it. */
	uint64_t idle_timeout_ms;
	/* 0: never; else a send that finds a uv_write unfinished for this
	 * long drops the connection (a peer that stopped reading). Checked
	 * when sending. */
	uint64_t write_timeout_ms;
};

/* One TCP connection. Accepted ones are allocated by their listener; a
 * link embeds its own. Only data may be touched by the owner; the rest is
 * private. */
struct cairn_net_conn {
	void *data;
	struct cairn_net_listener *listener; /* accepted by; NULL for a link's */
	struct cairn_net_link *link;         /* or belonging to; NULL if accepted */

	/* private */
	uv_tcp_t tcp;
	uv_timer_t timer; /* stall and idle timeout */
	uv_write_t write_req;
	struct cairn_net_conn_limits limits;
	struct cairn_buf rbuf;     /* bytes read, not yet delivered */
	struct cairn_buf pending;  /* frames queued, not yet handed to uv_write */
	struct cairn_buf inflight; /* frames in the uv_write under way */
	/* Invariant: pending.len + inflight.len <= limits.sendq_bytes_max */
	bool writing;
	uint64_t write_started_ms; /* uv_now() when the write under way began */
	bool closing;
	bool accepted;    /* counted and announced by its listener */
	int open_handles; /* tcp, timer: closed when 0 */
	int close_reason;
	uint64_t writes;                 /* uv_write calls made: batching is observable in tests */
	char name[CAIRN_NET_NAME_BYTES]; /* the remote "address:port", for logs */
	struct cairn_net_conn *next, *prev; /* listener's list */
};

/* Queue one or more whole frames (bytes = prefix + body, repeated) for
 * sending. Never blocks and never calls back. Returns 0; CAIRN_EINVAL if
 * the bytes are not whole frames within the frame limit; CAIRN_ESTOPPED if
 * the connection is closing; CAIRN_EFULL if the queue would pass its bound,
 * or CAIRN_ETIMEOUT if the write under way is older than write_timeout_ms:
 * in these two cases the connection is being closed (dropped). */
int cairn_net_conn_send(struct cairn_net_conn *c, const void *frames, size_t len);

/* Close the connection (asynchronous; queued frames are abandoned). Its
 * owner hears of it through conn_close_cb (accepted) or link_state_cb
 * (link). Idempotent. */
void cairn_net_conn_close(struct cairn_net_conn *c);

/* The remote "address:port" (e.g. "127.0.0.1:40112", "[::1]:7001"). */
const char *cairn_net_conn_name(const struct cairn_net_conn *c);

/* Bytes queued for sending and not yet written. */
size_t cairn_net_conn_queued_bytes(const struct cairn_net_conn *c);

/* ---- Listener ----------------------------------------------------------- */

/* A connection was accepted: set c->data here if you like. */
typedef void (*cairn_net_accept_cb)(struct cairn_net_listener *l, struct cairn_net_conn *c);
/* An accepted connection is closed and about to be freed: drop every
 * reference to it. reason: 0 (the remote closed), a libuv code, or
 * CAIRN_EPROTO (bad frame length), CAIRN_ETIMEOUT (stalled or idle),
 * CAIRN_EFULL (send queue), CAIRN_ESTOPPED (closed here). */
typedef void (*cairn_net_conn_close_cb)(struct cairn_net_conn *c, int reason);
typedef void (*cairn_net_listener_close_cb)(struct cairn_net_listener *l);

struct cairn_net_listener_config {
	const char *addr; /* "IPv4:PORT", "[IPv6]:PORT", "host:PORT"; port 0 = any */
	size_t conns_max; /* 0: CAIRN_CLIENT_CONNS_MAX */
	struct cairn_net_conn_limits limits;
	cairn_net_accept_cb accept_cb;         /* may be NULL */
	cairn_net_frame_cb frame_cb;           /* required */
	cairn_net_conn_close_cb conn_close_cb; /* may be NULL */
};

struct cairn_net_listener {
	void *data;

	/* private */
	uv_loop_t *loop;
	uv_tcp_t tcp;
	struct cairn_net_listener_config cfg;
	char addr[CAIRN_NET_ADDR_BYTES_MAX + 1];
	struct cairn_net_conn *conns; /* list of accepted, open or closing */
	size_t n_conns;               /* Invariant: n_conns <= cfg.conns_max */
	bool closing;
	bool tcp_closed;
	cairn_net_listener_close_cb close_cb;
};

/* Bind and listen on cfg->addr (resolving a host name synchronously, so
 * call it at start-up). On error returns a negative code (UV_EADDRINUSE for
 * an address in use, UV_EADDRNOTAVAIL for an address not on this host,
 * CAIRN_EINVAL for a malformed address, ...) and writes a one-line reason
 * naming the address into errmsg (errmsg_len bytes, may be 0). Whatever it
 * returns, the listener must be closed with cairn_net_listener_close(). */
int cairn_net_listener_start(uv_loop_t *loop, struct cairn_net_listener *l,
			     const struct cairn_net_listener_config *cfg, char *errmsg,
			     size_t errmsg_len);

/* The port actually bound (useful after binding port 0), or a negative
 * code when not listening. */
int cairn_net_listener_port(const struct cairn_net_listener *l);

/* Stop listening and close every accepted connection (each gets its
 * conn_close_cb with CAIRN_ESTOPPED); cb runs once all are closed. */
void cairn_net_listener_close(struct cairn_net_listener *l, cairn_net_listener_close_cb cb);

/* ---- Link --------------------------------------------------------------- */

/* The link connected (status 0) or lost its connection / failed an attempt
 * (status < 0: the reason). Called once per change, for logging; the link
 * retries by itself. */
typedef void (*cairn_net_link_state_cb)(struct cairn_net_link *k, bool connected, int status);
typedef void (*cairn_net_link_close_cb)(struct cairn_net_link *k);

struct cairn_net_link_config {
	const char *addr;            /* the peer's "HOST:PORT" */
	const void *greeting;        /* whole frame(s) sent first on every connection; copied */
	size_t greeting_len;         /* 0: none */
	uint64_t backoff_min_ms;     /* 0: 50 */
	uint64_t backoff_max_ms;     /* 0: 2000 */
	uint64_t connect_timeout_ms; /* 0: 2000 */
	uint64_t seed;               /* jitter of the backoff */
	struct cairn_net_conn_limits limits;
	cairn_net_frame_cb frame_cb;      /* frames the peer sends back; may be NULL */
	cairn_net_link_state_cb state_cb; /* may be NULL */
};

enum cairn_net_link_state {
	CAIRN_NET_LINK_WAITING = 0, /* backing off before the next attempt */
	CAIRN_NET_LINK_RESOLVING,
	CAIRN_NET_LINK_CONNECTING,
	CAIRN_NET_LINK_CONNECTED,
	CAIRN_NET_LINK_DROPPING, /* the connection is closing; retry follows */
	CAIRN_NET_LINK_CLOSING,
};

struct cairn_net_link {
	void *data;

	/* private */
	uv_loop_t *loop;
	struct cairn_net_link_config cfg;
	char addr[CAIRN_NET_ADDR_BYTES_MAX + 1];
	char host[CAIRN_NET_ADDR_BYTES_MAX + 1];
	char port[8];
	struct cairn_buf greeting;
	enum cairn_net_link_state state;
	struct cairn_net_conn conn; /* the current attempt or connection */
	bool conn_open;             /* conn has handles not yet closed */
	uv_timer_t timer;           /* backoff and connect timeout */
	bool timer_open;
	uv_getaddrinfo_t gai;
	bool gai_busy;
	uv_connect_t connect_req;
	uint32_t failures;     /* consecutive; drives the backoff */
	uint64_t connected_ms; /* uv_now() when the current connection came up */
	int last_status;
	struct cairn_rand rand;
	cairn_net_link_close_cb close_cb;
};

/* Start a link: it connects now and keeps reconnecting until closed.
 * Returns CAIRN_EINVAL for a malformed address or config (then nothing was
 * started and the link needs no close). */
int cairn_net_link_start(uv_loop_t *loop, struct cairn_net_link *k,
			 const struct cairn_net_link_config *cfg);

/* Queue whole frames to the peer. 0 when queued; CAIRN_EUNAVAIL when the
 * link is not connected (the frames are dropped); otherwise as
 * cairn_net_conn_send(). Never blocks, never calls back. */
int cairn_net_link_send(struct cairn_net_link *k, const void *frames, size_t len);

bool cairn_net_link_connected(const struct cairn_net_link *k);

/* Close the link and any connection or attempt under way; cb runs when
 * everything is closed. */
void cairn_net_link_close(struct cairn_net_link *k, cairn_net_link_close_cb cb);

/* ---- Addresses ---------------------------------------------------------- */

/* Split "HOST:PORT" or "[IPv6]:PORT" into host (without brackets) and port
 * (decimal 0..65535). host has room for host_len bytes. CAIRN_EINVAL if
 * malformed or too long. */
int cairn_net_split_addr(const char *addr, char *host, size_t host_len, uint16_t *port);

#endif
