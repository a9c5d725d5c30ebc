/*
 * test_wire.c - the client's requests as proto decodes them, and proto's
 * replies as the client reads them.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "cairn/errors.h"
#include "client/op.h"
#include "client/wire.h"
#include "proto/proto.h"

static void decode_request(const struct cairn_buf *b, struct cairn_proto_request *req)
{
	cr_assert_geq(b->len, 4);
	cr_assert_eq(cairn_get_be32(b->data), b->len - 4);
	cr_assert_eq(cairn_proto_decode_request(b->data + 4, b->len - 4, req), 0);
}

Test(wire, put_carries_client_id_seq_key_and_value)
{
	struct cairn_client_op op;
	struct cairn_buf b;
	struct cairn_proto_request req;
	cairn_buf_init(&b, 0);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_PUT, "key", 3, "value", 5, NULL, 0, 99, 4);
	cr_assert_eq(cairn_client_op_encode(&op, 17, &b), 0);
	decode_request(&b, &req);
	cr_assert_eq(req.type, CAIRN_PROTO_PUT);
	cr_assert_eq(req.id, 17);
	cr_assert_eq(req.client_id, 99);
	cr_assert_eq(req.seq, 4);
	cr_assert_eq(req.key.len, 3);
	cr_assert(memcmp(req.key.data, "key", 3) == 0);
	cr_assert_eq(req.value.len, 5);
	cr_assert(memcmp(req.value.data, "value", 5) == 0);
	cairn_buf_free(&b);
}

Test(wire, retry_resends_the_same_client_id_and_seq_under_a_new_id)
{
	struct cairn_client_op op;
	struct cairn_buf b;
	struct cairn_proto_request req;
	cairn_buf_init(&b, 0);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_DEL, "k", 1, NULL, 0, NULL, 0, 5, 6);
	cr_assert_eq(cairn_client_op_encode(&op, 1, &b), 0);
	cairn_client_op_sent(&op);
	cairn_buf_reset(&b);
	cr_assert_eq(cairn_client_op_encode(&op, 2, &b), 0);
	decode_request(&b, &req);
	cr_assert_eq(req.type, CAIRN_PROTO_DEL);
	cr_assert_eq(req.id, 2);
	cr_assert_eq(req.client_id, 5);
	cr_assert_eq(req.seq, 6);
	cairn_buf_free(&b);
}

Test(wire, cas_carries_expected_and_new)
{
	struct cairn_client_op op;
	struct cairn_buf b;
	struct cairn_proto_request req;
	cairn_buf_init(&b, 0);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_CAS, "k", 1, "new", 3, "old", 3, 1, 1);
	cr_assert_eq(cairn_client_op_encode(&op, 3, &b), 0);
	decode_request(&b, &req);
	cr_assert_eq(req.type, CAIRN_PROTO_CAS);
	cr_assert(memcmp(req.expected.data, "old", 3) == 0);
	cr_assert(memcmp(req.value.data, "new", 3) == 0);
	cairn_buf_free(&b);
}

Test(wire, get_and_status_are_encoded)
{
	struct cairn_client_op op;
	struct cairn_buf b;
	struct cairn_proto_request req;
	cairn_buf_init(&b, 0);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_GET, "k", 1, NULL, 0, NULL, 0, 1, 0);
	cr_assert_eq(cairn_client_op_encode(&op, 8, &b), 0);
	decode_request(&b, &req);
	cr_assert_eq(req.type, CAIRN_PROTO_GET);
	cairn_buf_reset(&b);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_STATUS, NULL, 0, NULL, 0, NULL, 0, 1, 0);
	cr_assert_eq(cairn_client_op_encode(&op, 9, &b), 0);
	decode_request(&b, &req);
	cr_assert_eq(req.type, CAIRN_PROTO_STATUS);
	cr_assert_eq(req.id, 9);
	cairn_buf_free(&b);
}

static void roundtrip(const struct cairn_proto_reply *rep, struct cairn_client_reply *r,
		      struct cairn_buf *b)
{
	cairn_buf_init(b, 0);
	cr_assert_eq(cairn_proto_encode_reply(b, rep), 0);
	cr_assert_eq(cairn_client_wire_decode(b->data + 4, b->len - 4, r), 0);
}

Test(wire, ok_with_value_is_read_as_ok_with_the_value)
{
	struct cairn_proto_reply rep;
	struct cairn_client_reply r;
	struct cairn_buf b;
	cairn_proto_reply_init(&rep, 12, CAIRN_PROTO_OK);
	rep.has_value = true;
	rep.value.data = (const uint8_t *)"abc";
	rep.value.len = 3;
	roundtrip(&rep, &r, &b);
	cr_assert_eq(r.kind, CAIRN_CLIENT_REPLY_OK);
	cr_assert_eq(r.id, 12);
	cr_assert(r.has_value);
	cr_assert_eq(r.value_bytes, 3);
	cr_assert(memcmp(r.value, "abc", 3) == 0);
	cairn_buf_free(&b);
}

Test(wire, not_leader_hint_is_read)
{
	struct cairn_proto_reply rep;
	struct cairn_client_reply r;
	struct cairn_buf b;
	cairn_proto_reply_init(&rep, 1, CAIRN_PROTO_NOT_LEADER);
	rep.leader_id = 3;
	snprintf(rep.leader_addr, sizeof(rep.leader_addr), "127.0.0.1:8003");
	roundtrip(&rep, &r, &b);
	cr_assert_eq(r.kind, CAIRN_CLIENT_REPLY_NOT_LEADER);
	cr_assert_eq(r.leader_id, 3);
	cr_assert_str_eq(r.leader_addr, "127.0.0.1:8003");
	cairn_buf_free(&b);
}

Test(wire, every_code_maps_to_its_reply_kind)
{
	static const struct {
		enum cairn_proto_code code;
		enum cairn_client_reply_kind kind;
	} map[] = {
		{CAIRN_PROTO_NOT_FOUND, CAIRN_CLIENT_REPLY_NOT_FOUND},
		{CAIRN_PROTO_CAS_MISMATCH, CAIRN_CLIENT_REPLY_CAS_MISMATCH},
		{CAIRN_PROTO_UNAVAILABLE, CAIRN_CLIENT_REPLY_UNAVAILABLE},
		{CAIRN_PROTO_BUSY, CAIRN_CLIENT_REPLY_BUSY},
		{CAIRN_PROTO_BAD_REQUEST, CAIRN_CLIENT_REPLY_BAD_REQUEST},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		struct cairn_proto_reply rep;
		struct cairn_client_reply r;
		struct cairn_buf b;
		cairn_proto_reply_init(&rep, 5, map[i].code);
		roundtrip(&rep, &r, &b);
		cr_assert_eq(r.kind, map[i].kind);
		cairn_buf_free(&b);
	}
}

Test(wire, status_reply_is_read_into_a_node_status)
{
	struct cairn_proto_reply rep;
	struct cairn_client_reply r;
	struct cairn_buf b;
	memset(&rep, 0, sizeof(rep));
	rep.type = CAIRN_PROTO_STATUS_REPLY;
	rep.id = 4;
	rep.status.node_id = 2;
	snprintf(rep.status.role, sizeof(rep.status.role), "follower");
	rep.status.term = 7;
	rep.status.leader = 1;
	rep.status.commit_index = 10;
	rep.status.applied_index = 9;
	rep.status.last_log_index = 11;
	rep.status.first_log_index = 3;
	rep.status.log_bytes = 700;
	snprintf(rep.status.peer_addr, sizeof(rep.status.peer_addr), "127.0.0.1:7002");
	snprintf(rep.status.client_addr, sizeof(rep.status.client_addr), "127.0.0.1:8002");
	roundtrip(&rep, &r, &b);
	cr_assert_eq(r.kind, CAIRN_CLIENT_REPLY_STATUS);
	cr_assert_eq(r.status.id, 2);
	cr_assert_str_eq(r.status.role, "follower");
	cr_assert_eq(r.status.term, 7);
	cr_assert_eq(r.status.leader, 1);
	cr_assert_eq(r.status.commit_index, 10);
	cr_assert_eq(r.status.applied_index, 9);
	cr_assert_eq(r.status.last_log_index, 11);
	cr_assert_eq(r.status.first_log_index, 3);
	cr_assert_eq(r.status.log_bytes, 700);
	cairn_buf_free(&b);
}

Test(wire, garbage_is_a_protocol_error)
{
	struct cairn_client_reply r;
	static const uint8_t junk[] = {0xc1, 0x00, 0xff};
	cr_assert_eq(cairn_client_wire_decode(junk, sizeof(junk), &r), CAIRN_EPROTO);
	/* A request is not a reply. */
	struct cairn_client_op op;
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_GET, "k", 1, NULL, 0, NULL, 0, 1, 0);
	cr_assert_eq(cairn_client_op_encode(&op, 1, &b), 0);
	cr_assert_eq(cairn_client_wire_decode(b.data + 4, b.len - 4, &r), CAIRN_EPROTO);
	cairn_buf_free(&b);
}
