/*
 * op.c - one client operation's bookkeeping: limits, attempts, and the
 * classification of every way an operation can end into the contract's
 * outcome classes. No sockets here; see op.h for the model.
 */
#include "client/op.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "cairn/errors.h"
#include "client/wire.h"

const char *cairn_client_outcome_name(enum cairn_client_outcome outcome)
{
	switch (outcome) {
	case CAIRN_CLIENT_DONE:
		return "done";
	case CAIRN_CLIENT_NOT_FOUND:
		return "not found";
	case CAIRN_CLIENT_BAD_INPUT:
		return "bad input";
	case CAIRN_CLIENT_UNAVAILABLE:
		return "unavailable";
	case CAIRN_CLIENT_UNKNOWN:
		return "outcome unknown";
	case CAIRN_CLIENT_CAS_MISMATCH:
		return "value differs";
	}
	return "invalid outcome";
}

void cairn_client_op_init(struct cairn_client_op *op, enum cairn_client_op_kind kind,
			  const void *key, size_t key_bytes, const void *value, size_t value_bytes,
			  const void *expected, size_t expected_bytes, uint64_t client_id,
			  uint64_t seq)
{
	memset(op, 0, sizeof(*op));
	op->kind = kind;
	op->key = key;
	op->key_bytes = key_bytes;
	op->value = value;
	op->value_bytes = value_bytes;
	op->expected = expected;
	op->expected_bytes = expected_bytes;
	op->client_id = client_id;
	op->seq = seq;
	op->outcome = CAIRN_CLIENT_UNAVAILABLE;
}

bool cairn_client_op_is_write(const struct cairn_client_op *op)
{
	return op->kind == CAIRN_CLIENT_OP_PUT || op->kind == CAIRN_CLIENT_OP_DEL ||
	       op->kind == CAIRN_CLIENT_OP_CAS;
}

static void finish(struct cairn_client_op *op, enum cairn_client_outcome outcome,
		   const char *message)
{
	assert(!op->finished);
	op->finished = true;
	op->outcome = outcome;
	snprintf(op->message, sizeof(op->message), "%s", message != NULL ? message : "");
}

int cairn_client_op_check(struct cairn_client_op *op)
{
	const char *why = NULL;
	if (op->kind != CAIRN_CLIENT_OP_STATUS) {
		if (op->key_bytes == 0)
			why = "key is empty (keys are 1 to 1024 bytes)";
		else if (op->key_bytes > CAIRN_KEY_BYTES_MAX)
			why = "key is longer than 1024 bytes";
	}
	if (why == NULL && op->value_bytes > CAIRN_VALUE_BYTES_MAX)
		why = "value is larger than 1 MiB";
	if (why == NULL && op->expected_bytes > CAIRN_VALUE_BYTES_MAX)
		why = "expected value is larger than 1 MiB";
	if (why == NULL)
		return 0;
	finish(op, CAIRN_CLIENT_BAD_INPUT, why);
	return CAIRN_EINVAL;
}

int cairn_client_op_encode(struct cairn_client_op *op, uint64_t req_id, struct cairn_buf *out)
{
	assert(!op->finished);
	/* The previous attempt went out and never got an answer: it may
	 * still be applied, whatever happens from here on. */
	if (op->sent && cairn_client_op_is_write(op))
		op->maybe_applied = true;
	op->sent = false;
	op->req_id = req_id;
	return cairn_client_wire_encode(op, req_id, out);
}

void cairn_client_op_sent(struct cairn_client_op *op)
{
	assert(!op->finished);
	op->sent = true;
	op->attempts_sent++;
}

bool cairn_client_op_reply_matches(const struct cairn_client_op *op,
				   const struct cairn_client_reply *r)
{
	return !op->finished && r->id == op->req_id;
}

/* A reply that says this attempt was not taken by the member. */
static void settle_not_taken(struct cairn_client_op *op)
{
	op->sent = false;
}

/* A reply that leaves this attempt's fate open. */
static void settle_ambiguous(struct cairn_client_op *op)
{
	if (op->sent && cairn_client_op_is_write(op))
		op->maybe_applied = true;
	op->sent = false;
}

static enum cairn_client_step reply_final(struct cairn_client_op *op,
					  const struct cairn_client_reply *r)
{
	enum cairn_client_op_kind k = op->kind;
	switch (r->kind) {
	case CAIRN_CLIENT_REPLY_OK:
		if (k == CAIRN_CLIENT_OP_GET && !r->has_value)
			break;
		if (k == CAIRN_CLIENT_OP_STATUS)
			break;
		finish(op, CAIRN_CLIENT_DONE, NULL);
		return CAIRN_CLIENT_STEP_FINISH;
	case CAIRN_CLIENT_REPLY_NOT_FOUND:
		if (k == CAIRN_CLIENT_OP_DEL) {
			/* Contract: del of an absent key is done. */
			finish(op, CAIRN_CLIENT_DONE, NULL);
			return CAIRN_CLIENT_STEP_FINISH;
		}
		if (k != CAIRN_CLIENT_OP_GET && k != CAIRN_CLIENT_OP_CAS)
			break;
		finish(op, CAIRN_CLIENT_NOT_FOUND, "key not found");
		return CAIRN_CLIENT_STEP_FINISH;
	case CAIRN_CLIENT_REPLY_CAS_MISMATCH:
		if (k != CAIRN_CLIENT_OP_CAS)
			break;
		finish(op, CAIRN_CLIENT_CAS_MISMATCH, "current value differs from expected");
		return CAIRN_CLIENT_STEP_FINISH;
	case CAIRN_CLIENT_REPLY_STATUS:
		if (k != CAIRN_CLIENT_OP_STATUS)
			break;
		finish(op, CAIRN_CLIENT_DONE, NULL);
		return CAIRN_CLIENT_STEP_FINISH;
	default:
		assert(false);
	}
	/* A reply of the wrong kind for this op: that member is confused;
	 * treat it as a failed attempt whose fate is open. */
	settle_ambiguous(op);
	return CAIRN_CLIENT_STEP_NEXT;
}

enum cairn_client_step cairn_client_op_reply(struct cairn_client_op *op,
					     const struct cairn_client_reply *r)
{
	assert(cairn_client_op_reply_matches(op, r));
	switch (r->kind) {
	case CAIRN_CLIENT_REPLY_NOT_LEADER:
		settle_not_taken(op);
		if (r->leader_id != 0 || r->leader_addr[0] != '\0')
			return CAIRN_CLIENT_STEP_REDIRECT;
		return CAIRN_CLIENT_STEP_BACKOFF; /* an election is under way */
	case CAIRN_CLIENT_REPLY_BUSY:
		settle_not_taken(op);
		return CAIRN_CLIENT_STEP_BACKOFF;
	case CAIRN_CLIENT_REPLY_UNAVAILABLE:
		/* A leader may say this after proposing (it lost leadership
		 * with the entry in its log): the entry may still commit. */
		settle_ambiguous(op);
		return CAIRN_CLIENT_STEP_BACKOFF;
	case CAIRN_CLIENT_REPLY_BAD_REQUEST:
		settle_not_taken(op);
		finish(op, CAIRN_CLIENT_BAD_INPUT, "the server rejected the request as bad input");
		return CAIRN_CLIENT_STEP_FINISH;
	default:
		return reply_final(op, r);
	}
}

static enum cairn_client_outcome open_outcome(const struct cairn_client_op *op)
{
	if (cairn_client_op_is_write(op) && (op->maybe_applied || op->sent))
		return CAIRN_CLIENT_UNKNOWN;
	return CAIRN_CLIENT_UNAVAILABLE;
}

void cairn_client_op_expire(struct cairn_client_op *op, const char *why)
{
	enum cairn_client_outcome o = open_outcome(op);
	char msg[sizeof(op->message)];
	if (o == CAIRN_CLIENT_UNKNOWN)
		snprintf(msg, sizeof(msg),
			 "timed out: the write was sent but not answered, "
			 "it may or may not have been applied%s%s",
			 why != NULL ? "; last error: " : "", why != NULL ? why : "");
	else
		snprintf(msg, sizeof(msg), "timed out: no leader answered%s%s",
			 why != NULL ? "; last error: " : "", why != NULL ? why : "");
	finish(op, o, msg);
}

void cairn_client_op_fail(struct cairn_client_op *op, int err)
{
	enum cairn_client_outcome o = open_outcome(op);
	char msg[sizeof(op->message)];
	snprintf(msg, sizeof(msg), "local failure: %s", cairn_strerror(err));
	finish(op, o, msg);
}
