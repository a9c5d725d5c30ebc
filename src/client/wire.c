/*
 * wire.c - maps client ops to proto requests and proto replies to client
 * replies. proto/ owns the msgpack codec; this file only copies fields and
 * names the reply codes in the client's terms.
 */
#include "client/wire.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cairn/errors.h"
#include "proto/proto.h"

static uint8_t request_type(enum cairn_client_op_kind kind)
{
	switch (kind) {
	case CAIRN_CLIENT_OP_GET:
		return CAIRN_PROTO_GET;
	case CAIRN_CLIENT_OP_PUT:
		return CAIRN_PROTO_PUT;
	case CAIRN_CLIENT_OP_DEL:
		return CAIRN_PROTO_DEL;
	case CAIRN_CLIENT_OP_CAS:
		return CAIRN_PROTO_CAS;
	case CAIRN_CLIENT_OP_STATUS:
		return CAIRN_PROTO_STATUS;
	}
	assert(false);
	return 0;
}

static struct cairn_proto_bytes bytes_of(const uint8_t *p, size_t n)
{
	assert(n <= UINT32_MAX);
	struct cairn_proto_bytes b = {.data = p, .len = (uint32_t)n};
	return b;
}

int cairn_client_wire_encode(const struct cairn_client_op *op, uint64_t req_id,
			     struct cairn_buf *out)
{
	struct cairn_proto_request req;
	memset(&req, 0, sizeof(req));
	req.type = request_type(op->kind);
	req.id = req_id;
	if (cairn_client_op_is_write(op)) {
		assert(op->client_id != 0 && op->seq != 0);
		req.client_id = op->client_id;
		req.seq = op->seq;
	}
	req.key = bytes_of(op->key, op->key_bytes);
	req.value = bytes_of(op->value, op->value_bytes);
	req.expected = bytes_of(op->expected, op->expected_bytes);
	return cairn_proto_encode_request(out, &req);
}

static int map_code(uint8_t code, enum cairn_client_reply_kind *kind)
{
	switch (code) {
	case CAIRN_PROTO_OK:
		*kind = CAIRN_CLIENT_REPLY_OK;
		return 0;
	case CAIRN_PROTO_NOT_FOUND:
		*kind = CAIRN_CLIENT_REPLY_NOT_FOUND;
		return 0;
	case CAIRN_PROTO_CAS_MISMATCH:
		*kind = CAIRN_CLIENT_REPLY_CAS_MISMATCH;
		return 0;
	case CAIRN_PROTO_NOT_LEADER:
		*kind = CAIRN_CLIENT_REPLY_NOT_LEADER;
		return 0;
	case CAIRN_PROTO_UNAVAILABLE:
		*kind = CAIRN_CLIENT_REPLY_UNAVAILABLE;
		return 0;
	case CAIRN_PROTO_BUSY:
		*kind = CAIRN_CLIENT_REPLY_BUSY;
		return 0;
	case CAIRN_PROTO_BAD_REQUEST:
		*kind = CAIRN_CLIENT_REPLY_BAD_REQUEST;
		return 0;
	}
	return CAIRN_EPROTO;
}

int cairn_client_wire_decode(const uint8_t *payload, size_t bytes, struct cairn_client_reply *r)
{
	struct cairn_proto_reply rep;
	memset(r, 0, sizeof(*r));
	if (cairn_proto_decode_reply(payload, bytes, &rep) != 0)
		return CAIRN_EPROTO;
	r->id = rep.id;
	if (rep.type == CAIRN_PROTO_STATUS_REPLY) {
		struct cairn_client_node_status *s = &r->status;
		r->kind = CAIRN_CLIENT_REPLY_STATUS;
		s->id = rep.status.node_id;
		s->reachable = true;
		snprintf(s->role, sizeof(s->role), "%s", rep.status.role);
		s->term = rep.status.term;
		s->leader = rep.status.leader;
		s->commit_index = rep.status.commit_index;
		s->applied_index = rep.status.applied_index;
		s->last_log_index = rep.status.last_log_index;
		s->first_log_index = rep.status.first_log_index;
		s->log_bytes = rep.status.log_bytes;
		snprintf(s->peer, sizeof(s->peer), "%s", rep.status.peer_addr);
		snprintf(s->client, sizeof(s->client), "%s", rep.status.client_addr);
		return 0;
	}
	if (map_code(rep.code, &r->kind) != 0)
		return CAIRN_EPROTO;
	r->has_value = rep.has_value;
	r->value = rep.value.data;
	r->value_bytes = rep.value.len;
	r->leader_id = rep.leader_id;
	snprintf(r->leader_addr, sizeof(r->leader_addr), "%s", rep.leader_addr);
	return 0;
}
