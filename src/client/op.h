/*
 * op.h - one client operation's bookkeeping, free of sockets.
 *
 * An op is a get/put/del/cas with its write identity (client id, sequence
 * number). The transport (the blocking driver in client.c, or a benchmark's
 * own event loop) encodes it into a frame for each attempt, tells the op when
 * a complete frame went out and when a reply or a failure came back, and the
 * op says what to do next: finish, follow a leader hint, try another member,
 * or back off. When the deadline passes, the op decides between
 * UNAVAILABLE (certainly not applied) and UNKNOWN (a write may have been).
 *
 * Why a write sent to a member is "maybe applied" until a definitive answer:
 * the member may be the leader, may have proposed it, and may commit it after
 * the connection died. Only a reply saying it was not taken (not leader,
 * busy, bad request) keeps it certain; a later success (the same client id
 * and seq) settles it either way.
 */
#ifndef CAIRN_CLIENT_OP_H
#define CAIRN_CLIENT_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/client.h"
#include "util/buf.h"

enum cairn_client_op_kind {
	CAIRN_CLIENT_OP_GET,
	CAIRN_CLIENT_OP_PUT,
	CAIRN_CLIENT_OP_DEL,
	CAIRN_CLIENT_OP_CAS,
	CAIRN_CLIENT_OP_STATUS,
};

/* A decoded reply, in the client's terms (client/wire.c maps the wire's). */
enum cairn_client_reply_kind {
	CAIRN_CLIENT_REPLY_OK,
	CAIRN_CLIENT_REPLY_NOT_FOUND,
	CAIRN_CLIENT_REPLY_CAS_MISMATCH,
	CAIRN_CLIENT_REPLY_NOT_LEADER,
	CAIRN_CLIENT_REPLY_UNAVAILABLE, /* the member cannot serve now */
	CAIRN_CLIENT_REPLY_BUSY,        /* the member refused: queues full */
	CAIRN_CLIENT_REPLY_BAD_REQUEST,
	CAIRN_CLIENT_REPLY_STATUS,
};

struct cairn_client_reply {
	enum cairn_client_reply_kind kind;
	uint64_t id; /* the request id it answers */
	/* OK to a get: the value (borrowed from the decoded frame). */
	bool has_value;
	const uint8_t *value;
	size_t value_bytes;
	/* NOT_LEADER: the leader's id and client address, 0 / "" if unknown. */
	uint64_t leader_id;
	char leader_addr[CAIRN_CLIENT_ADDR_BYTES_MAX];
	/* STATUS: the member's report (peer and client addresses unused). */
	struct cairn_client_node_status status;
};

/* What the transport does after an event. */
enum cairn_client_step {
	CAIRN_CLIENT_STEP_FINISH,   /* op->outcome is final */
	CAIRN_CLIENT_STEP_REDIRECT, /* re-send to the hinted leader (leader_id/addr) */
	CAIRN_CLIENT_STEP_NEXT,     /* try another member now */
	CAIRN_CLIENT_STEP_BACKOFF,  /* wait a little, then try another member */
};

struct cairn_client_op {
	enum cairn_client_op_kind kind;
	const uint8_t *key; /* borrowed until the op finishes */
	size_t key_bytes;
	const uint8_t *value; /* put: the value; cas: the new value */
	size_t value_bytes;
	const uint8_t *expected; /* cas only */
	size_t expected_bytes;
	uint64_t client_id; /* writes: the same on every attempt */
	uint64_t seq;
	uint64_t req_id; /* id of the attempt in flight; replies to others are stale */
	unsigned attempts_sent;
	/* An earlier attempt's complete write frame reached a member and no
	 * reply said it was not taken: it may be applied. Sticky. */
	bool maybe_applied;
	/* The current attempt's complete frame went out and no reply came. */
	bool sent;
	bool finished;
	enum cairn_client_outcome outcome; /* valid once finished */
	char message[512];
};

/* Set up an op (borrows the byte ranges). Writes take (client_id, seq). */
void cairn_client_op_init(struct cairn_client_op *op, enum cairn_client_op_kind kind,
			  const void *key, size_t key_bytes, const void *value, size_t value_bytes,
			  const void *expected, size_t expected_bytes, uint64_t client_id,
			  uint64_t seq);

/* Check the contract's limits before anything is sent. Returns 0, or
 * CAIRN_EINVAL with the op finished as BAD_INPUT and a message. */
int cairn_client_op_check(struct cairn_client_op *op);

/* True for put, del and cas. */
bool cairn_client_op_is_write(const struct cairn_client_op *op);

/* Encode the op as one frame (length prefix included) with request id
 * req_id, appended to out, and remember req_id as the attempt in flight.
 * Returns 0 or a negative CAIRN_E* code from the encoder. */
int cairn_client_op_encode(struct cairn_client_op *op, uint64_t req_id, struct cairn_buf *out);

/* The whole frame of the current attempt was handed to the kernel. */
void cairn_client_op_sent(struct cairn_client_op *op);

/* A reply to the attempt in flight arrived (the caller checked
 * cairn_client_op_reply_matches and drops stale replies). Returns what to do
 * next; FINISH means op->outcome is final. */
enum cairn_client_step cairn_client_op_reply(struct cairn_client_op *op,
					     const struct cairn_client_reply *r);

/* True if r answers the attempt in flight (the transport drops the rest). */
bool cairn_client_op_reply_matches(const struct cairn_client_op *op,
				   const struct cairn_client_reply *r);

/* The deadline passed: finish as UNKNOWN if a write may have been applied,
 * else UNAVAILABLE. why (may be NULL) becomes the message. */
void cairn_client_op_expire(struct cairn_client_op *op, const char *why);

/* Finish with a local failure (no memory): UNKNOWN if a write may have been
 * applied, else UNAVAILABLE. */
void cairn_client_op_fail(struct cairn_client_op *op, int err);

#endif
