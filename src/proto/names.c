/*
 * names.c - printable names of message types and reply codes, for logs,
 * and the shape tables shared by the encoder and the decoder.
 */
#include "proto/proto.h"
#include "proto/shape.h"

const uint8_t cairn_proto__raft_elems[CAIRN_RAFT_MSG_TYPE_MAX + 1] = {
	[CAIRN_RAFT_MSG_PREVOTE] = 6,       /* from, to, term, last_log_index, last_log_term */
	[CAIRN_RAFT_MSG_PREVOTE_REPLY] = 5, /* from, to, term, reject */
	[CAIRN_RAFT_MSG_VOTE] = 7,          /* as PREVOTE, then transfer */
	[CAIRN_RAFT_MSG_VOTE_REPLY] = 5,    /* as PREVOTE_REPLY */
	[CAIRN_RAFT_MSG_APPEND] = 8, /* from, to, term, prev_index, prev_term, commit, entries */
	[CAIRN_RAFT_MSG_APPEND_REPLY] =
		8,                      /* from, to, term, reject, index, hint_term, hint_index */
	[CAIRN_RAFT_MSG_HEARTBEAT] = 6, /* from, to, term, commit, read_seq */
	[CAIRN_RAFT_MSG_HEARTBEAT_REPLY] = 6, /* from, to, term, reject, read_seq */
	[CAIRN_RAFT_MSG_TIMEOUT_NOW] = 4,     /* from, to, term */
	[CAIRN_RAFT_MSG_SNAPSHOT] = 7,        /* from, to, term, prev_index, prev_term, commit */
};

const uint8_t cairn_proto__request_elems[CAIRN_PROTO_STATUS - CAIRN_PROTO_GET + 1] = {
	3, /* GET: id, key */
	6, /* PUT: id, client_id, seq, key, value */
	5, /* DEL: id, client_id, seq, key */
	7, /* CAS: id, client_id, seq, key, expected, new */
	2, /* STATUS: id */
};

const char *cairn_proto_code_name(int code)
{
	switch (code) {
	case CAIRN_PROTO_OK:
		return "ok";
	case CAIRN_PROTO_NOT_FOUND:
		return "not-found";
	case CAIRN_PROTO_CAS_MISMATCH:
		return "cas-mismatch";
	case CAIRN_PROTO_NOT_LEADER:
		return "not-leader";
	case CAIRN_PROTO_UNAVAILABLE:
		return "unavailable";
	case CAIRN_PROTO_BUSY:
		return "busy";
	case CAIRN_PROTO_BAD_REQUEST:
		return "bad-request";
	default:
		return "unknown";
	}
}

const char *cairn_proto_type_name(int type)
{
	static const char *const raft[] = {
		"prevote",     "prevote-reply", "vote",      "vote-reply",
		"append",      "append-reply",  "heartbeat", "heartbeat-reply",
		"timeout-now", "snapshot",
	};
	if (type >= CAIRN_RAFT_MSG_TYPE_MIN && type <= CAIRN_RAFT_MSG_TYPE_MAX)
		return raft[type - CAIRN_RAFT_MSG_TYPE_MIN];
	switch (type) {
	case CAIRN_PROTO_HELLO:
		return "hello";
	case CAIRN_PROTO_SNAP_CHUNK:
		return "snap-chunk";
	case CAIRN_PROTO_SNAP_ACK:
		return "snap-ack";
	case CAIRN_PROTO_GET:
		return "get";
	case CAIRN_PROTO_PUT:
		return "put";
	case CAIRN_PROTO_DEL:
		return "del";
	case CAIRN_PROTO_CAS:
		return "cas";
	case CAIRN_PROTO_STATUS:
		return "status";
	case CAIRN_PROTO_REPLY:
		return "reply";
	case CAIRN_PROTO_STATUS_REPLY:
		return "status-reply";
	default:
		return "unknown";
	}
}
