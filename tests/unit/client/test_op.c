/*
 * test_op.c - how one client operation classifies each way it can end:
 * limits before sending, final replies, leader hints, and which failures
 * leave a write's outcome unknown rather than certainly not applied.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "cairn/errors.h"
#include "client/op.h"

static uint8_t big[CAIRN_VALUE_BYTES_MAX + 1];

static void start(struct cairn_client_op *op, enum cairn_client_op_kind kind)
{
	cairn_client_op_init(op, kind, "k", 1, kind == CAIRN_CLIENT_OP_PUT ? "v" : NULL,
			     kind == CAIRN_CLIENT_OP_PUT ? 1 : 0, NULL, 0, 42, 7);
	if (kind == CAIRN_CLIENT_OP_CAS) {
		op->expected = (const uint8_t *)"a";
		op->expected_bytes = 1;
		op->value = (const uint8_t *)"b";
		op->value_bytes = 1;
	}
	cr_assert_eq(cairn_client_op_check(op), 0);
}

/* One attempt: encode with request id, the frame fully sent. */
static void send_attempt(struct cairn_client_op *op, uint64_t req_id)
{
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_client_op_encode(op, req_id, &b), 0);
	cr_assert_gt(b.len, 4);
	cairn_buf_free(&b);
	cairn_client_op_sent(op);
}

static enum cairn_client_step reply(struct cairn_client_op *op, enum cairn_client_reply_kind k)
{
	struct cairn_client_reply r;
	memset(&r, 0, sizeof(r));
	r.kind = k;
	r.id = op->req_id;
	if (k == CAIRN_CLIENT_REPLY_OK && op->kind == CAIRN_CLIENT_OP_GET) {
		r.has_value = true;
		r.value = (const uint8_t *)"v";
		r.value_bytes = 1;
	}
	cr_assert(cairn_client_op_reply_matches(op, &r));
	return cairn_client_op_reply(op, &r);
}

Test(op, empty_key_is_bad_input)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_GET, "", 0, NULL, 0, NULL, 0, 1, 0);
	cr_assert_eq(cairn_client_op_check(&op), CAIRN_EINVAL);
	cr_assert(op.finished);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_BAD_INPUT);
}

Test(op, key_of_1024_bytes_is_fine_and_1025_is_bad_input)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_DEL, big, 1024, NULL, 0, NULL, 0, 1, 1);
	cr_assert_eq(cairn_client_op_check(&op), 0);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_DEL, big, 1025, NULL, 0, NULL, 0, 1, 1);
	cr_assert_eq(cairn_client_op_check(&op), CAIRN_EINVAL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_BAD_INPUT);
}

Test(op, value_of_1_mib_is_fine_and_one_more_byte_is_bad_input)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_PUT, "k", 1, big, CAIRN_VALUE_BYTES_MAX, NULL, 0,
			     1, 1);
	cr_assert_eq(cairn_client_op_check(&op), 0);
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_PUT, "k", 1, big, CAIRN_VALUE_BYTES_MAX + 1, NULL,
			     0, 1, 1);
	cr_assert_eq(cairn_client_op_check(&op), CAIRN_EINVAL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_BAD_INPUT);
}

Test(op, empty_value_is_fine)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_PUT, "k", 1, "", 0, NULL, 0, 1, 1);
	cr_assert_eq(cairn_client_op_check(&op), 0);
}

Test(op, oversized_cas_expected_is_bad_input)
{
	struct cairn_client_op op;
	cairn_client_op_init(&op, CAIRN_CLIENT_OP_CAS, "k", 1, "n", 1, big,
			     CAIRN_VALUE_BYTES_MAX + 1, 1, 1);
	cr_assert_eq(cairn_client_op_check(&op), CAIRN_EINVAL);
}

Test(op, get_found_is_done)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_GET);
	send_attempt(&op, 1);
	cr_assert_eq(reply(&op, CAIRN_CLIENT_REPLY_OK), CAIRN_CLIENT_STEP_FINISH);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_DONE);
}

Test(op, get_missing_is_not_found)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_GET);
	send_attempt(&op, 1);
	cr_assert_eq(reply(&op, CAIRN_CLIENT_REPLY_NOT_FOUND), CAIRN_CLIENT_STEP_FINISH);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_NOT_FOUND);
}

Test(op, del_of_absent_key_is_done)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_DEL);
	send_attempt(&op, 1);
	cr_assert_eq(reply(&op, CAIRN_CLIENT_REPLY_NOT_FOUND), CAIRN_CLIENT_STEP_FINISH);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_DONE);
}

Test(op, cas_outcomes_map_to_done_not_found_and_mismatch)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_CAS);
	send_attempt(&op, 1);
	reply(&op, CAIRN_CLIENT_REPLY_OK);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_DONE);
	start(&op, CAIRN_CLIENT_OP_CAS);
	send_attempt(&op, 1);
	reply(&op, CAIRN_CLIENT_REPLY_NOT_FOUND);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_NOT_FOUND);
	start(&op, CAIRN_CLIENT_OP_CAS);
	send_attempt(&op, 1);
	reply(&op, CAIRN_CLIENT_REPLY_CAS_MISMATCH);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_CAS_MISMATCH);
}

Test(op, server_bad_request_is_bad_input)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_PUT);
	send_attempt(&op, 1);
	cr_assert_eq(reply(&op, CAIRN_CLIENT_REPLY_BAD_REQUEST), CAIRN_CLIENT_STEP_FINISH);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_BAD_INPUT);
}

Test(op, not_leader_with_hint_redirects_and_without_backs_off)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_PUT);
	send_attempt(&op, 1);
	struct cairn_client_reply r;
	memset(&r, 0, sizeof(r));
	r.kind = CAIRN_CLIENT_REPLY_NOT_LEADER;
	r.id = 1;
	r.leader_id = 2;
	cr_assert_eq(cairn_client_op_reply(&op, &r), CAIRN_CLIENT_STEP_REDIRECT);
	send_attempt(&op, 2);
	r.id = 2;
	r.leader_id = 0;
	cr_assert_eq(cairn_client_op_reply(&op, &r), CAIRN_CLIENT_STEP_BACKOFF);
	cr_assert_not(op.finished);
}

Test(op, stale_replies_do_not_match_the_attempt_in_flight)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_GET);
	send_attempt(&op, 1);
	send_attempt(&op, 2);
	struct cairn_client_reply r;
	memset(&r, 0, sizeof(r));
	r.kind = CAIRN_CLIENT_REPLY_OK;
	r.id = 1;
	cr_assert_not(cairn_client_op_reply_matches(&op, &r));
}

Test(op, write_refused_everywhere_is_unavailable)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_PUT);
	cairn_client_op_expire(&op, "connection refused");
	cr_assert_eq(op.outcome, CAIRN_CLIENT_UNAVAILABLE);
	cr_assert_not_null(strstr(op.message, "connection refused"));
}

Test(op, write_answered_only_by_followers_is_unavailable)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_PUT);
	send_attempt(&op, 1);
	reply(&op, CAIRN_CLIENT_REPLY_NOT_LEADER);
	send_attempt(&op, 2);
	reply(&op, CAIRN_CLIENT_REPLY_BUSY);
	cairn_client_op_expire(&op, NULL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_UNAVAILABLE);
}

Test(op, write_sent_without_answer_is_unknown)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_PUT);
	send_attempt(&op, 1);
	cairn_client_op_expire(&op, NULL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_UNKNOWN);
}

Test(op, unanswered_attempt_stays_unknown_after_later_refusals)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_DEL);
	send_attempt(&op, 1); /* connection lost, no reply */
	send_attempt(&op, 2);
	reply(&op, CAIRN_CLIENT_REPLY_NOT_LEADER);
	cairn_client_op_expire(&op, NULL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_UNKNOWN);
}

Test(op, unavailable_reply_after_sending_a_write_leaves_it_unknown)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_CAS);
	send_attempt(&op, 1);
	cr_assert_eq(reply(&op, CAIRN_CLIENT_REPLY_UNAVAILABLE), CAIRN_CLIENT_STEP_BACKOFF);
	cairn_client_op_expire(&op, NULL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_UNKNOWN);
}

Test(op, partially_sent_write_is_not_unknown)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_PUT);
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_client_op_encode(&op, 1, &b), 0);
	cairn_buf_free(&b);
	/* never cairn_client_op_sent: the frame did not fully leave */
	cairn_client_op_expire(&op, NULL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_UNAVAILABLE);
}

Test(op, read_that_times_out_is_unavailable)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_GET);
	send_attempt(&op, 1);
	send_attempt(&op, 2);
	cairn_client_op_expire(&op, NULL);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_UNAVAILABLE);
}

Test(op, retry_after_lost_reply_keeps_client_id_and_seq)
{
	struct cairn_client_op op;
	start(&op, CAIRN_CLIENT_OP_PUT);
	send_attempt(&op, 1);
	send_attempt(&op, 2);
	cr_assert_eq(op.client_id, 42);
	cr_assert_eq(op.seq, 7);
	cr_assert_eq(reply(&op, CAIRN_CLIENT_REPLY_OK), CAIRN_CLIENT_STEP_FINISH);
	cr_assert_eq(op.outcome, CAIRN_CLIENT_DONE);
}

Test(op, outcome_names_are_never_null)
{
	for (int o = 0; o <= 6; o++)
		cr_assert_not_null(cairn_client_outcome_name((enum cairn_client_outcome)o));
	cr_assert_str_eq(cairn_client_outcome_name(CAIRN_CLIENT_UNKNOWN), "outcome unknown");
}
