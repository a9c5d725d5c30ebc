/*
 * names.c - printable names of message types and reply codes, for logs.
 */
#include "proto/proto.h"

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
		"prevote",    "prevote-reply",   "vote",
		"vote-reply", "append",          "append-reply",
		"heartbeat",  "heartbeat-reply", "timeout-now",
	};
	if (type >= CAIRN_RAFT_MSG_TYPE_MIN && type <= CAIRN_RAFT_MSG_TYPE_MAX)
		return raft[type - CAIRN_RAFT_MSG_TYPE_MIN];
	switch (type) {
	case CAIRN_PROTO_HELLO:
		return "hello";
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
