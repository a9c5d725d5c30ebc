/*
 * gen.h - random well-formed messages, equality and an independent validity
 * check, shared by the proto unit tests and the fuzz test.
 *
 * Byte fields of generated messages point into a caller-supplied pool, so
 * nothing is allocated per message.
 */
#ifndef CAIRN_TEST_PROTO_GEN_H
#define CAIRN_TEST_PROTO_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "util/rand.h"

struct gen {
	struct cairn_rand rand;
	const uint8_t *pool; /* random bytes that byte fields point into */
	size_t pool_len;     /* >= CAIRN_VALUE_BYTES_MAX */
	uint32_t len_max;    /* byte fields are drawn from 0..len_max (capped) */
};

void gen_hello(struct gen *g, struct cairn_proto_hello *h);
/* entries: room for CAIRN_PROTO_APPEND_ENTRIES_MAX. */
void gen_raft(struct gen *g, struct cairn_raft_msg *m, struct cairn_raft_entry *entries);
void gen_snap_chunk(struct gen *g, struct cairn_proto_snap_chunk *c);
void gen_snap_ack(struct gen *g, struct cairn_proto_snap_ack *a);
void gen_request(struct gen *g, struct cairn_proto_request *q);
void gen_reply(struct gen *g, struct cairn_proto_reply *rep);

bool hello_eq(const struct cairn_proto_hello *a, const struct cairn_proto_hello *b);
bool raft_eq(const struct cairn_raft_msg *a, const struct cairn_raft_msg *b);
bool snap_chunk_eq(const struct cairn_proto_snap_chunk *a, const struct cairn_proto_snap_chunk *b);
bool snap_ack_eq(const struct cairn_proto_snap_ack *a, const struct cairn_proto_snap_ack *b);
bool request_eq(const struct cairn_proto_request *a, const struct cairn_proto_request *b);
bool reply_eq(const struct cairn_proto_reply *a, const struct cairn_proto_reply *b);

/* Written from the wire description in proto.h, not from the decoder:
 * does a decoded message respect every rule? */
bool raft_valid(const struct cairn_raft_msg *m);
bool snap_chunk_valid(const struct cairn_proto_snap_chunk *c);
bool snap_ack_valid(const struct cairn_proto_snap_ack *a);
bool request_valid(const struct cairn_proto_request *q);
bool reply_valid(const struct cairn_proto_reply *rep);

#endif
