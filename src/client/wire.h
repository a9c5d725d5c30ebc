/*
 * wire.h - the client's bridge to src/proto: turns an op into a request
 * frame and a reply frame into a struct cairn_client_reply. The msgpack
 * codec itself is proto's; this only maps between its types and the
 * client's.
 */
#ifndef CAIRN_CLIENT_WIRE_H
#define CAIRN_CLIENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "client/op.h"
#include "util/buf.h"

/* Append op's request, with request id req_id, as one whole frame (length
 * prefix included) to out. Returns 0 or a negative CAIRN_E* code. */
int cairn_client_wire_encode(const struct cairn_client_op *op, uint64_t req_id,
			     struct cairn_buf *out);

/* Decode one reply frame's payload (the bytes after the length prefix).
 * r->value, when set, points into payload. Returns 0, or CAIRN_EPROTO for
 * anything that is not a well-formed client reply. */
int cairn_client_wire_decode(const uint8_t *payload, size_t bytes, struct cairn_client_reply *r);

#endif
