/* Elections (Figure 2, §5.2, §5.4.1), pre-vote (thesis §9.6), check-quorum
 * (thesis §6.2) and the term rules every message passes. */
#include <criterion/criterion.h>

#include "cairn/errors.h"
#include "harness.h"

Test(election, single_member_elects_itself)
{
	struct net *net = net_new(1);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(net_term(net, 1), 1);
	cr_assert_eq(net_commit(net, 1), 1, "the no-op commits once persisted");
	net_free(net);
}

Test(election, candidate_with_majority_becomes_leader)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(net_term(net, 1), 1);
	for (uint64_t id = 2; id <= 3; id++) {
		cr_assert_eq(net_role(net, id), CAIRN_RAFT_FOLLOWER);
		struct cairn_raft_status st;
		cairn_raft_status(net_core(net, id), &st);
		cr_assert_eq(st.leader, 1);
		cr_assert_eq(st.vote, 1);
		cr_assert_eq(st.commit, 1);
	}
	net_free(net);
}

Test(election, timeout_is_drawn_from_t_to_2t)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net_start(net);
	for (int round = 0; round < 20; round++) {
		int ticks = 0;
		uint64_t term = net_term(net, 1);
		while (net_term(net, 1) == term) {
			net_tick(net, 1);
			ticks++;
		}
		cr_assert_geq(ticks, 10);
		cr_assert_lt(ticks, 20);
		net_drop_all(net);
	}
	net_free(net);
}

static struct cairn_raft_msg vote_req(uint64_t from, uint64_t to, uint64_t term, uint64_t li,
				      uint64_t lt)
{
	return (struct cairn_raft_msg){
		.type = CAIRN_RAFT_MSG_VOTE,
		.from = from,
		.to = to,
		.term = term,
		.last_log_index = li,
		.last_log_term = lt,
	};
}

Test(election, vote_granted_at_most_once_per_term)
{
	struct net *net = net_new(3);
	net->cfg.check_quorum = false;
	net_start(net);
	struct cairn_raft_msg a = vote_req(2, 1, 5, 0, 0);
	struct cairn_raft_msg b = vote_req(3, 1, 5, 0, 0);
	cr_assert_eq(net_step(net, &a), 0);
	cr_assert_eq(net_step(net, &b), 0);
	struct tmsg *r2 = net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 2, 0);
	struct tmsg *r3 = net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 3, 0);
	cr_assert(r2 && r3);
	cr_assert(!r2->m.reject);
	cr_assert(r3->m.reject, "a second candidate of the same term is refused");
	/* The same candidate asking again gets the same answer. */
	net_step(net, &a);
	cr_assert(!net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 2, 1)->m.reject);
	net_free(net);
}

Test(election, vote_denied_to_a_less_up_to_date_log)
{
	struct net *net = net_new(3);
	net->cfg.check_quorum = false;
	uint64_t terms[] = {1, 2, 2};
	net_preload(net, 1, 2, 0, terms, 3);
	net_start(net);
	/* Lower last term: refused even with a longer log. */
	struct cairn_raft_msg m = vote_req(2, 1, 3, 10, 1);
	net_step(net, &m);
	cr_assert(net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 2, 0)->m.reject);
	/* Same last term, shorter log: refused. */
	m = vote_req(3, 1, 4, 2, 2);
	net_step(net, &m);
	cr_assert(net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 3, 0)->m.reject);
	/* Same last term, as long: granted. */
	m = vote_req(3, 1, 5, 3, 2);
	net_step(net, &m);
	cr_assert(!net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 3, 1)->m.reject);
	net_free(net);
}

Test(election, higher_term_makes_leader_follower)
{
	struct net *net = net_new(3);
	net->cfg.check_quorum = false;
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT_REPLY, .from = 2, .to = 1, .term = 7};
	cr_assert_eq(net_step(net, &m), 0);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_term(net, 1), 7);
	net_free(net);
}

Test(election, lower_term_message_is_answered_with_current_term)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_APPEND, .from = 3, .to = 2, .term = 0 + 1, .prev_index = 0};
	/* term 1 is current; make 2's term higher first. */
	struct cairn_raft_msg hb = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 4};
	net_step(net, &hb);
	net_drop_all(net);
	cr_assert_eq(net_step(net, &m), 0);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 3, 0);
	cr_assert(reply != NULL);
	cr_assert(reply->m.reject);
	cr_assert_eq(reply->m.term, 4);
	cr_assert_eq(net_term(net, 2), 4);
	net_free(net);
}

Test(election, vote_request_waits_for_persist)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net->auto_persist = false;
	net_start(net);
	net_tick_until_campaign(net, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_VOTE, 1, 0), 0,
		     "the new term and self-vote must be durable first");
	net_persist(net, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_VOTE, 1, 0), 2);
	cr_assert_eq(net_node(net, 1)->hs.term, 1);
	cr_assert_eq(net_node(net, 1)->hs.vote, 1);
	net_free(net);
}

Test(election, vote_reply_waits_for_persist)
{
	struct net *net = net_new(3);
	net->auto_persist = false;
	net->cfg.check_quorum = false;
	net_start(net);
	struct cairn_raft_msg m = vote_req(2, 1, 3, 0, 0);
	net_step(net, &m);
	net_expect_sent_once_persisted(net, 1, CAIRN_RAFT_MSG_VOTE_REPLY, 2);
	cr_assert_eq(net_node(net, 1)->hs.vote, 2);
	net_free(net);
}

Test(election, candidate_follows_leader_of_same_term)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net_start(net);
	net_campaign_unheard(net, 1);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_CANDIDATE);
	struct cairn_raft_msg hb = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 1};
	net_step(net, &hb);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_term(net, 1), 1);
	net_free(net);
}

Test(election, pre_candidate_does_not_bump_term)
{
	struct net *net = net_new(3);
	net_start(net);
	net_isolate(net, 1);
	for (int i = 0; i < 100; i++)
		net_tick(net, 1);
	net_stabilize(net);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_PRE_CANDIDATE);
	cr_assert_eq(net_term(net, 1), 0);
	net_free(net);
}

Test(election, pre_vote_refused_while_leader_is_heard)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = vote_req(3, 2, 2, 1, 1);
	m.type = CAIRN_RAFT_MSG_PREVOTE;
	net_step(net, &m);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_PREVOTE_REPLY, 3, 0);
	cr_assert(reply != NULL);
	cr_assert(reply->m.reject);
	cr_assert_eq(net_term(net, 2), 1, "a pre-vote never moves the voter's term");
	/* Once the leader has been silent for an election timeout, granted. */
	for (int i = 0; i < 10; i++)
		cairn_raft_tick(net_core(net, 2));
	net_drop_all(net);
	net_step(net, &m);
	reply = net_find(net, CAIRN_RAFT_MSG_PREVOTE_REPLY, 3, 0);
	cr_assert(reply != NULL);
	cr_assert(!reply->m.reject);
	cr_assert_eq(reply->m.term, 2);
	cr_assert_eq(net_term(net, 2), 1);
	net_free(net);
}

Test(election, rejoining_member_with_pre_vote_does_not_disrupt)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 3);
	cr_assert_eq(net_propose(net, 1, "x", NULL), 0);
	net_stabilize(net);
	for (int i = 0; i < 200; i++) {
		net_tick(net, 3);
		net_tick(net, 1);
		net_tick(net, 2);
		net_stabilize(net);
	}
	cr_assert_eq(net_term(net, 3), 1, "no term inflation while cut off");
	net_heal(net);
	for (int i = 0; i < 30; i++) {
		net_tick_all(net);
		net_stabilize(net);
	}
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_LEADER);
	cr_assert_eq(net_term(net, 1), 1);
	cr_assert_eq(net_role(net, 3), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_commit(net, 3), 2);
	net_free(net);
}

Test(election, rejoining_member_without_pre_vote_disrupts)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net->cfg.check_quorum = false;
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 3);
	for (int i = 0; i < 100; i++)
		net_tick(net, 3);
	net_stabilize(net);
	uint64_t term3 = net_term(net, 3);
	cr_assert_gt(term3, 1, "a cut-off candidate keeps bumping its term");
	net_heal(net);
	net_tick(net, 1); /* a heartbeat reaches 3, which answers with its term */
	net_stabilize(net);
	cr_assert_neq(net_role(net, 1), CAIRN_RAFT_LEADER);
	cr_assert_geq(net_term(net, 1), term3);
	net_free(net);
}

Test(election, leader_without_quorum_steps_down)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 1);
	for (int i = 0; i < 20; i++) {
		net_tick(net, 1);
		net_stabilize(net);
	}
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_term(net, 1), 1);
	net_free(net);
}

Test(election, leader_with_quorum_stays)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 3);
	for (int i = 0; i < 50; i++) {
		net_tick(net, 1);
		net_stabilize(net);
	}
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_LEADER);
	net_free(net);
}

Test(election, follower_ignores_vote_while_leader_is_heard)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = vote_req(3, 2, 5, 100, 100);
	net_step(net, &m);
	cr_assert_eq(net_term(net, 2), 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_VOTE_REPLY, 0, 0), 0);
	net_free(net);
}

Test(election, rejected_majority_sends_candidate_back_to_follower)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net->cfg.check_quorum = false;
	uint64_t terms[] = {1, 1};
	net_preload(net, 2, 1, 0, terms, 2);
	net_preload(net, 3, 1, 0, terms, 2);
	net_preload(net, 1, 1, 0, terms, 1);
	net_start(net);
	net_campaign(net, 1);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_term(net, 1), 2);
	net_free(net);
}

Test(election, follower_times_out_despite_a_stale_candidates_term_bumps)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net->cfg.check_quorum = false;
	uint64_t terms[] = {1, 1};
	net_preload(net, 1, 1, 0, terms, 2);
	net_start(net);
	/* 3 has an empty log and campaigns every 5 ticks: 1 refuses it each
	 * time, and its own timer (10..19 ticks) must still run out. */
	uint64_t term = 1;
	for (int tick = 1; tick <= 20 && net_role(net, 1) == CAIRN_RAFT_FOLLOWER; tick++) {
		if (tick % 5 == 0) {
			struct cairn_raft_msg m = {
				.type = CAIRN_RAFT_MSG_VOTE, .from = 3, .to = 1, .term = ++term};
			net_step(net, &m);
			cr_assert(net_find(net, CAIRN_RAFT_MSG_VOTE_REPLY, 3, 0)->m.reject);
			net_drop_all(net);
		}
		net_tick(net, 1);
	}
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_CANDIDATE);
	net_free(net);
}

Test(election, pre_candidate_adopts_the_term_of_a_refusal_from_a_later_term)
{
	struct net *net = net_new(3);
	net_start(net);
	net_campaign_unheard(net, 1);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_PRE_CANDIDATE);
	struct cairn_raft_msg no = {.type = CAIRN_RAFT_MSG_PREVOTE_REPLY,
				    .from = 2,
				    .to = 1,
				    .term = 4,
				    .reject = true};
	net_step(net, &no);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_term(net, 1), 4);
	net_free(net);
}

Test(election, granted_pre_vote_moves_no_term_until_the_real_campaign)
{
	struct net *net = net_new(5);
	net_start(net);
	net_campaign_unheard(net, 1);
	struct cairn_raft_msg yes = {
		.type = CAIRN_RAFT_MSG_PREVOTE_REPLY, .from = 2, .to = 1, .term = 1};
	net_step(net, &yes);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_PRE_CANDIDATE, "two of five");
	cr_assert_eq(net_term(net, 1), 0);
	yes.from = 3;
	net_step(net, &yes);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_CANDIDATE);
	cr_assert_eq(net_term(net, 1), 1);
	net_free(net);
}

Test(election, leader_under_check_quorum_ignores_a_higher_term_vote)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_VOTE,
				   .from = 3,
				   .to = 1,
				   .term = 9,
				   .last_log_index = 50,
				   .last_log_term = 50};
	net_step(net, &m);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_LEADER);
	cr_assert_eq(net_term(net, 1), 1);
	net_free(net);
}

Test(election, timeout_now_campaign_skips_pre_vote)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_TIMEOUT_NOW, .from = 1, .to = 2, .term = 1};
	net_step(net, &m);
	cr_assert_eq(net_role(net, 2), CAIRN_RAFT_CANDIDATE);
	cr_assert_eq(net_term(net, 2), 2);
	net_persist(net, 2);
	struct tmsg *vote = net_find(net, CAIRN_RAFT_MSG_VOTE, 3, 0);
	cr_assert(vote != NULL);
	cr_assert(vote->m.transfer);
	net_free(net);
}

/* sim-findings review: a candidate that hears from its term's leader
 * restarts its election timer like any follower. */
Test(election, candidate_following_a_leader_restarts_its_election_timer)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net_start(net);
	net_campaign_unheard(net, 1);
	for (int i = 0; i < 9; i++)
		net_tick(net, 1); /* elapsed 9 of at least 10 */
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_CANDIDATE);
	struct cairn_raft_msg hb = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 1};
	net_step(net, &hb);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	for (int i = 0; i < 9; i++)
		net_tick(net, 1);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER, "9 ticks since the leader spoke");
	net_drop_all(net);
	net_free(net);
}

/* sim-findings review: a rejection answering an older VOTE must not cost a
 * won election. */
Test(election, grant_counts_even_after_an_earlier_rejection_from_the_same_voter)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net_start(net);
	net_campaign_unheard(net, 1);
	struct cairn_raft_msg no = {
		.type = CAIRN_RAFT_MSG_VOTE_REPLY, .from = 2, .to = 1, .term = 1, .reject = true};
	net_step(net, &no);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_CANDIDATE);
	struct cairn_raft_msg yes = {
		.type = CAIRN_RAFT_MSG_VOTE_REPLY, .from = 2, .to = 1, .term = 1};
	net_step(net, &yes);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_LEADER);
	net_drop_all(net);
	net_free(net);
}

Test(election, vote_request_of_an_older_term_is_not_answered)
{
	struct net *net = net_new(3);
	net->cfg.check_quorum = false;
	net_start(net);
	struct cairn_raft_msg hb = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 4};
	net_step(net, &hb);
	net_drop_all(net);
	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_VOTE, .from = 3, .to = 1, .term = 2};
	cr_assert_eq(net_step(net, &m), 0);
	cr_assert_eq(net_count(net, 0, 0, 0), 0);
	cr_assert_eq(net_term(net, 1), 4);
	net_free(net);
}

Test(election, timeout_now_from_a_member_other_than_the_leader_is_ignored)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_TIMEOUT_NOW, .from = 3, .to = 2, .term = 1};
	cr_assert_eq(net_step(net, &m), 0);
	cr_assert_eq(net_role(net, 2), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_term(net, 2), 1);
	net_free(net);
}
