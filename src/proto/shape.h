/*
 * shape.h - facts about message shapes that the encoder and the decoder
 * must agree on, kept in one place (private to src/proto).
 */
#ifndef CAIRN_PROTO_SHAPE_H
#define CAIRN_PROTO_SHAPE_H

#include <stdint.h>

#include "proto/proto.h"

/* Array elements of each Raft message type, the type included. */
extern const uint8_t cairn_proto__raft_elems[CAIRN_RAFT_MSG_TYPE_MAX + 1];

/* Array elements of each request type, GET .. STATUS, the type included. */
extern const uint8_t cairn_proto__request_elems[CAIRN_PROTO_STATUS - CAIRN_PROTO_GET + 1];

/* Array elements of SNAP_CHUNK and SNAP_ACK, the type included. */
#define CAIRN_PROTO__SNAP_CHUNK_ELEMS 9u
#define CAIRN_PROTO__SNAP_ACK_ELEMS 7u

#endif
