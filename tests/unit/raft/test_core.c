/* The core's contract beyond Raft itself: create and restore, input
 * validation, the Ready/Advance bookkeeping, names. */
#include <criterion/criterion.h>
#include <string.h>

#include "cairn/errors.h"
#include "harness.h"

static const uint64_t members3[] = {1, 2, 3};

static struct cairn_raft_config config3(uint64_t id)
{
	return (struct cairn_raft_config){
		.id = id,
		.members = members3,
		.n_members = 3,
		.heartbeat_ticks = 1,
		.election_ticks = 10,
		.pre_vote = true,
		.check_quorum = true,
	};
}

Test(core, create_rejects_bad_config)
{
	struct cairn_raft *r = NULL;
	struct cairn_raft_config cfg = config3(4);
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), CAIRN_EINVAL, "self not a member");
	cfg = config3(1);
	cfg.election_ticks = 1;
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), CAIRN_EINVAL, "election <= heartbeat");
	cfg = config3(1);
	cfg.heartbeat_ticks = 0;
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), CAIRN_EINVAL);
	const uint64_t dup[] = {1, 2, 2};
	cfg = config3(1);
	cfg.members = dup;
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), CAIRN_EINVAL, "duplicate member");
	const uint64_t zero[] = {1, 0, 3};
	cfg.members = zero;
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), CAIRN_EINVAL, "id 0 means none");
	cfg = config3(1);
	cfg.n_members = CAIRN_MEMBERS_MAX + 1;
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), CAIRN_EINVAL);
	cfg = config3(1);
	cfg.max_inflight_msgs = CAIRN_INFLIGHT_MSGS_MAX + 1;
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), CAIRN_EINVAL);
	cr_assert_null(r);
}

Test(core, create_rejects_inconsistent_restore)
{
	struct cairn_raft *r = NULL;
	struct cairn_raft_config cfg = config3(1);
	struct cairn_raft_entry log[] = {{.term = 1, .index = 1}, {.term = 1, .index = 3}};
	struct cairn_raft_restore rs = {.hard_state = {.term = 1}, .log = log, .n_log = 2};
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL, "a gap in the log");
	log[1].index = 2;
	log[1].term = 2;
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL, "entry term above term");
	log[1].term = 1;
	rs.applied = 3;
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL, "applied past the log");
	rs.applied = 2;
	rs.hard_state.vote = 7;
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL, "vote for a stranger");
	rs.hard_state.vote = 2;
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), 0);
	cairn_raft_destroy(r);
}

Test(core, restart_restores_term_vote_log_and_commit)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(net_propose(net, 1, "abc", NULL), 0);
	net_stabilize(net);
	struct cairn_raft_status before;
	cairn_raft_status(net_core(net, 2), &before);
	net_crash(net, 2);
	net_restart(net, 2);
	struct cairn_raft_status after;
	cairn_raft_status(net_core(net, 2), &after);
	cr_assert_eq(after.term, before.term);
	cr_assert_eq(after.vote, 1);
	cr_assert_eq(after.last_index, 4);
	cr_assert_eq(after.last_term, 1);
	cr_assert_eq(after.commit, 4);
	cr_assert_eq(after.applied, 4);
	cr_assert_eq(after.persisted_index, 4);
	cr_assert_eq(after.role, CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(after.leader, CAIRN_RAFT_NONE);
	net_drain(net, 2); /* applied entries are not handed out again */
	cr_assert_eq(net_node(net, 2)->committed.n, 4);
	net_free(net);
}

Test(core, restart_hands_out_committed_but_unapplied_entries)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 1, 1};
	net_preload(net, 1, 1, 0, terms, 3);
	net_node(net, 1)->hs.commit = 3;
	net_node(net, 1)->applied = 1;
	net_start(net);
	net_drain(net, 1);
	cr_assert_eq(net_node(net, 1)->committed.n, 2);
	cr_assert_eq(net_node(net, 1)->committed.v[0].index, 2);
	net_free(net);
}

Test(core, restarted_member_loses_unpersisted_entries_and_catches_up)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net->auto_persist = false;
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_stabilize(net);
	net_persist(net, 1);
	net_persist(net, 2);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 1), 2);
	net_crash(net, 3); /* it never made entry 2 durable */
	net->auto_persist = true;
	net_restart(net, 3);
	cr_assert_eq(net_node(net, 3)->disk.n, 1);
	net_tick(net, 1);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 3), 2);
	cr_assert_eq(net_node(net, 3)->disk.n, 2);
	net_free(net);
}

Test(core, leader_restart_keeps_its_vote_and_rejoins)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_crash(net, 1);
	net_restart(net, 1);
	cr_assert_eq(net_term(net, 1), 1);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_VOTE,
				   .from = 2,
				   .to = 1,
				   .term = 1,
				   .last_log_index = 5,
				   .last_log_term = 1};
	net_step(net, &m);
	cr_assert(net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 2, 0)->m.reject,
		  "it voted for itself in term 1 before the crash");
	net_free(net);
}

static struct net *lone(void)
{
	struct net *net = net_new(3);
	net_start(net);
	return net;
}

static void assert_untouched(struct net *net)
{
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, 1), &st);
	cr_assert_eq(st.term, 0);
	cr_assert_eq(st.last_index, 0);
	cr_assert_not(cairn_raft_has_ready(net_core(net, 1)));
}

Test(core, step_rejects_unknown_sender)
{
	struct net *net = lone();
	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 9, .to = 1, .term = 5};
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	m.from = 1;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL, "from itself");
	assert_untouched(net);
	net_free(net);
}

Test(core, step_rejects_unknown_type_and_wrong_recipient)
{
	struct net *net = lone();
	struct cairn_raft_msg m = {.type = 0, .from = 2, .to = 1, .term = 5};
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	m.type = CAIRN_RAFT_MSG_TYPE_MAX + 1;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	m.type = CAIRN_RAFT_MSG_HEARTBEAT;
	m.to = 2;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	m.to = 1;
	m.term = 0;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL, "term 0 request");
	cr_assert_eq(cairn_raft_step(net_core(net, 1), NULL), CAIRN_EINVAL);
	assert_untouched(net);
	net_free(net);
}

Test(core, step_rejects_append_with_nonconsecutive_entries)
{
	struct net *net = lone();
	struct cairn_raft_entry ents[] = {{.term = 1, .index = 1}, {.term = 1, .index = 3}};
	struct cairn_raft_msg m = net_append_msg(2, 1, 1, 0, 0, 0, ents, 2);
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	ents[1].index = 2;
	ents[0].term = 2;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL, "term above message's");
	ents[0].term = 1;
	ents[1].type = 77;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL, "unknown entry type");
	ents[1].type = CAIRN_RAFT_ENTRY_NORMAL;
	ents[1].len = 4;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL, "payload without data");
	m.entries = NULL;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	assert_untouched(net);
	ents[1].len = 0;
	m.entries = ents;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), 0, "and the fixed one is taken");
	net_free(net);
}

Test(core, step_rejects_append_reply_beyond_the_leaders_log)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_APPEND_REPLY, .from = 2, .to = 1, .term = 1, .index = 99};
	cr_assert_eq(net_step(net, &m), CAIRN_EINVAL);
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, 1), &st);
	cr_assert_eq(st.progress[1].match, 1);
	net_free(net);
}

Test(core, append_replacing_a_committed_entry_is_refused)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 1};
	net_preload(net, 1, 1, 0, terms, 2);
	net_node(net, 1)->hs.commit = 2;
	net_start(net);
	struct cairn_raft_entry e = {.term = 2, .index = 2};
	struct cairn_raft_msg m = net_append_msg(2, 1, 2, 1, 1, 0, &e, 1);
	/* prev 1 < commit 2: the committed entry 2 is compared, not replaced. */
	cairn_raft_step(net_core(net, 1), &m);
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, 1), &st);
	cr_assert_eq(st.last_term, 1);
	cr_assert_eq(st.last_index, 2);
	net_drain(net, 1);
	net_drop_all(net);
	net_free(net);
}

Test(core, entries_are_handed_out_for_persistence_once)
{
	struct cairn_raft *r = NULL;
	uint64_t one[] = {1};
	struct cairn_raft_config cfg = {
		.id = 1, .members = one, .n_members = 1, .heartbeat_ticks = 1, .election_ticks = 5};
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), 0);
	while (!cairn_raft_has_ready(r))
		cairn_raft_tick(r);
	struct cairn_raft_ready rd;
	cairn_raft_ready(r, &rd);
	cr_assert(rd.has_hard_state);
	cr_assert_eq(rd.hard_state.term, 1);
	cr_assert_eq(rd.hard_state.vote, 1);
	cr_assert_eq(rd.n_entries, 1, "the no-op");
	cr_assert_eq(rd.n_committed, 0, "not before it is durable");
	cairn_raft_advance(r, &rd);
	cr_assert_not(cairn_raft_has_ready(r));
	cairn_raft_persisted(r, 1, 1);
	cr_assert(cairn_raft_has_ready(r));
	cairn_raft_ready(r, &rd);
	cr_assert_eq(rd.n_entries, 0);
	cr_assert_eq(rd.n_committed, 1);
	cr_assert(rd.has_hard_state);
	cr_assert_eq(rd.hard_state.commit, 1);
	cairn_raft_advance(r, &rd);
	cr_assert_not(cairn_raft_has_ready(r));
	cairn_raft_destroy(r);
}

Test(core, names_cover_every_role_and_message)
{
	cr_assert_str_eq(cairn_raft_role_name(CAIRN_RAFT_PRE_CANDIDATE), "pre-candidate");
	cr_assert_str_eq(cairn_raft_role_name(CAIRN_RAFT_LEADER), "leader");
	for (int t = CAIRN_RAFT_MSG_TYPE_MIN; t <= CAIRN_RAFT_MSG_TYPE_MAX; t++)
		cr_assert_str_neq(cairn_raft_msg_name(t), "unknown");
	cr_assert_str_eq(cairn_raft_msg_name(0), "unknown");
	cr_assert_str_eq(cairn_raft_msg_name(CAIRN_RAFT_MSG_TIMEOUT_NOW), "timeout-now");
}

/* sim finding: a term-6 APPEND answered by a member of term 13 reaches its
 * sender once that has become leader of term 13 with a shorter log. */
Test(core, leader_ignores_a_rejection_beyond_its_log)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_APPEND_REPLY,
				   .from = 2,
				   .to = 1,
				   .term = 1,
				   .reject = true,
				   .index = 130};
	cr_assert_eq(net_step(net, &m), 0);
	struct cairn_raft_status st;
	cairn_raft_status(net_core(net, 1), &st);
	cr_assert_eq(st.progress[1].match, 1);
	cr_assert_eq(st.progress[1].next, 2);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 0);
	net_free(net);
}

Test(core, stale_append_is_answered_with_index_zero)
{
	struct net *net = net_new(3);
	net_start(net);
	struct cairn_raft_msg hb = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 3, .to = 1, .term = 13};
	net_step(net, &hb);
	net_drop_all(net);
	struct cairn_raft_msg m = net_append_msg(2, 1, 6, 130, 6, 0, NULL, 0);
	cr_assert_eq(net_step(net, &m), 0);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 2, 0);
	cr_assert(reply && reply->m.reject);
	cr_assert_eq(reply->m.term, 13);
	cr_assert_eq(reply->m.index, 0);
	net_free(net);
}

Test(core, restored_log_may_start_after_a_prefix)
{
	struct cairn_raft *r = NULL;
	struct cairn_raft_config cfg = config3(1);
	struct cairn_raft_entry log[] = {{.term = 2, .index = 6}, {.term = 2, .index = 7}};
	struct cairn_raft_restore rs = {.hard_state = {.term = 2, .commit = 6},
					.log = log,
					.n_log = 2,
					.first_prev_index = 5,
					.first_prev_term = 2,
					.applied = 5};
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), 0);
	struct cairn_raft_status st;
	cairn_raft_status(r, &st);
	cr_assert_eq(st.last_index, 7);
	cr_assert_eq(st.commit, 6);
	cr_assert_eq(st.applied, 5);
	/* An APPEND reaching back before the prefix: the committed part is
	 * skipped, the rest checked and appended. */
	struct cairn_raft_entry ents[5];
	for (int i = 0; i < 5; i++)
		ents[i] = (struct cairn_raft_entry){.term = 2, .index = 4 + (uint64_t)i};
	struct cairn_raft_msg m = net_append_msg(2, 1, 2, 3, 2, 8, ents, 5);
	cr_assert_eq(cairn_raft_step(r, &m), 0);
	cairn_raft_status(r, &st);
	cr_assert_eq(st.last_index, 8);
	cr_assert_eq(st.commit, 8);
	struct cairn_raft_ready rd;
	cairn_raft_ready(r, &rd);
	cr_assert_eq(rd.n_committed, 2, "6 and 7 are durable; 8 is not yet");
	cr_assert_eq(rd.committed[0].index, 6);
	cr_assert_eq(rd.n_entries, 1);
	cr_assert_eq(rd.n_msgs_after_persist, 1);
	cr_assert_eq(rd.msgs_after_persist[0].index, 8);
	cairn_raft_advance(r, &rd);
	cairn_raft_destroy(r);
}

/* sim-findings review: a term near UINT64_MAX must not wrap. */
Test(core, term_beyond_the_ceiling_is_invalid)
{
	struct net *net = lone();
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = UINT64_MAX};
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	m.term = CAIRN_RAFT_TERM_MAX + 1;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL);
	m.type = CAIRN_RAFT_MSG_APPEND_REPLY;
	cr_assert_eq(cairn_raft_step(net_core(net, 1), &m), CAIRN_EINVAL, "replies too");
	assert_untouched(net);
	struct cairn_raft *r = NULL;
	struct cairn_raft_config cfg = config3(1);
	struct cairn_raft_restore rs = {.hard_state = {.term = CAIRN_RAFT_TERM_MAX + 1}};
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL);
	net_free(net);
}

Test(core, member_at_the_last_term_never_campaigns)
{
	struct cairn_raft *r = NULL;
	struct cairn_raft_config cfg = config3(1);
	struct cairn_raft_restore rs = {.hard_state = {.term = CAIRN_RAFT_TERM_MAX}};
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), 0);
	for (int i = 0; i < 100; i++)
		cairn_raft_tick(r);
	struct cairn_raft_status st;
	cairn_raft_status(r, &st);
	cr_assert_eq(st.role, CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(st.term, CAIRN_RAFT_TERM_MAX);
	cairn_raft_destroy(r);
}

/* sim-findings review: an acknowledgement queued in term 5 is not sent
 * once a term-6 leader cut the entries it acknowledges. */
Test(core, acknowledgement_of_an_older_term_is_not_sent)
{
	struct cairn_raft *r = NULL;
	struct cairn_raft_config cfg = config3(1);
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), 0);
	struct cairn_raft_entry old[] = {{.term = 5, .index = 1}, {.term = 5, .index = 2}};
	struct cairn_raft_msg m = net_append_msg(2, 1, 5, 0, 0, 0, old, 2);
	cr_assert_eq(cairn_raft_step(r, &m), 0);
	struct cairn_raft_entry fresh = {.term = 6, .index = 1};
	m = net_append_msg(3, 1, 6, 0, 0, 0, &fresh, 1);
	cr_assert_eq(cairn_raft_step(r, &m), 0);
	struct cairn_raft_ready rd;
	cairn_raft_ready(r, &rd);
	cr_assert_eq(rd.n_msgs_after_persist, 1);
	cr_assert_eq(rd.msgs_after_persist[0].to, 3);
	cr_assert_eq(rd.msgs_after_persist[0].term, 6);
	cairn_raft_advance(r, &rd);
	cairn_raft_destroy(r);
}

Test(core, restore_with_prev_term_but_no_prev_index_is_invalid)
{
	struct cairn_raft *r = NULL;
	struct cairn_raft_config cfg = config3(1);
	struct cairn_raft_restore rs = {.hard_state = {.term = 2}, .first_prev_term = 1};
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL);
	struct cairn_raft_entry zero = {.term = 0, .index = 1};
	rs = (struct cairn_raft_restore){.hard_state = {.term = 2}, .log = &zero, .n_log = 1};
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL, "an entry of term 0");
}
