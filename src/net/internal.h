/*
 * internal.h - what the files of src/net share and nobody else sees.
 *
 * A connection does not know who owns it beyond its listener or link
 * pointer: when its last handle is closed it tells that owner through
 * cairn_net__*_conn_closed(), which may free it.
 */
#ifndef CAIRN_NET_INTERNAL_H
#define CAIRN_NET_INTERNAL_H

#include <stdbool.h>
#include <sys/socket.h>

#include "net/net.h"

/* Set up c (handles initialised, buffers empty) with limits' defaults
 * applied. The owner pointer (listener or link) must be set by the caller. */
void cairn_net__conn_init(uv_loop_t *loop, struct cairn_net_conn *c,
			  const struct cairn_net_conn_limits *limits);
/* The socket is connected: learn the remote name, start reading and timing. */
int cairn_net__conn_start(struct cairn_net_conn *c);
/* Begin closing with a reason (see cairn_net_conn_close_cb). Idempotent. */
void cairn_net__conn_close(struct cairn_net_conn *c, int reason);

void cairn_net__listener_conn_closed(struct cairn_net_conn *c);
void cairn_net__link_conn_closed(struct cairn_net_conn *c);

/* Are bytes whole frames, each 1..frame_bytes_max long? */
bool cairn_net__frames_ok(const uint8_t *p, size_t len, size_t frame_bytes_max);

/* A numeric host ("127.0.0.1", "::1") and port into ss; CAIRN_EINVAL if the
 * host is not a numeric address. */
int cairn_net__numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *ss);

/* "address:port" or "[address]:port" of sa into name. */
void cairn_net__name(const struct sockaddr *sa, char *name, size_t size);

#endif
