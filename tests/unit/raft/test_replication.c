/* Log replication (Figure 2 AppendEntries, §5.3): the consistency check,
 * conflict truncation, fast backtracking with the reject hint, flow
 * control, pipelining and probing. */
#include <criterion/criterion.h>
#include <string.h>

#include "cairn/errors.h"
#include "harness.h"

static bool logs_equal(struct net *net, uint64_t a, uint64_t b)
{
	struct tnode *x = net_node(net, a);
	struct tnode *y = net_node(net, b);
	if (x->disk.n != y->disk.n)
		return false;
	for (size_t i = 0; i < x->disk.n; i++) {
		const struct cairn_raft_entry *e = &x->disk.v[i];
		const struct cairn_raft_entry *f = &y->disk.v[i];
		if (e->term != f->term || e->index != f->index || e->len != f->len ||
		    (e->len && memcmp(e->data, f->data, e->len) != 0))
			return false;
	}
	return true;
}

Test(replication, append_with_unknown_prev_is_rejected_with_log_end_hint)
{
	struct net *net = net_new(3);
	net_start(net);
	struct cairn_raft_msg m = net_append_msg(2, 1, 1, 5, 1, 0, NULL, 0);
	cr_assert_eq(net_step(net, &m), 0);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 2, 0);
	cr_assert(reply && reply->m.reject);
	cr_assert_eq(reply->m.index, 5);
	cr_assert_eq(reply->m.hint_term, 0);
	cr_assert_eq(reply->m.hint_index, 1);
	net_free(net);
}

Test(replication, append_with_mismatched_prev_term_is_rejected_with_term_hint)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 2, 2, 2};
	net_preload(net, 1, 2, 0, terms, 4);
	net_start(net);
	struct cairn_raft_msg m = net_append_msg(2, 1, 3, 4, 3, 0, NULL, 0);
	net_step(net, &m);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 2, 0);
	cr_assert(reply && reply->m.reject);
	cr_assert_eq(reply->m.hint_term, 2);
	cr_assert_eq(reply->m.hint_index, 2, "the first index of the conflicting term");
	cr_assert_eq(net_status(net, 1).last_index, 4, "a reject changes no entry");
	net_free(net);
}

Test(replication, conflicting_suffix_is_truncated_and_replaced)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 1, 1};
	net_preload(net, 1, 1, 0, terms, 3);
	net_start(net);
	struct cairn_raft_entry e = {.term = 2, .index = 2, .type = CAIRN_RAFT_ENTRY_NOOP};
	struct cairn_raft_msg m = net_append_msg(2, 1, 2, 1, 1, 0, &e, 1);
	net_step(net, &m);
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert_eq(st.last_index, 2);
	cr_assert_eq(st.last_term, 2);
	struct tnode *nd = net_node(net, 1);
	cr_assert_eq(nd->disk.n, 2, "the durable log was cut too");
	cr_assert_eq(nd->disk.v[1].term, 2);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 2, 0);
	cr_assert(reply && !reply->m.reject);
	cr_assert_eq(reply->m.index, 2);
	net_free(net);
}

Test(replication, stale_append_does_not_truncate_matching_entries)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 1, 1};
	net_preload(net, 1, 1, 0, terms, 3);
	net_start(net);
	struct cairn_raft_entry e = {.term = 1, .index = 2, .type = CAIRN_RAFT_ENTRY_NORMAL};
	struct cairn_raft_msg m = net_append_msg(2, 1, 1, 1, 1, 0, &e, 1);
	net_step(net, &m);
	cr_assert_eq(net_status(net, 1).last_index, 3);
	cr_assert_eq(net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 2, 0)->m.index, 2);
	net_free(net);
}

Test(replication, follower_commit_is_min_of_leader_commit_and_last_new_entry)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 1, 1, 1};
	net_preload(net, 1, 1, 0, terms, 4);
	net_start(net);
	/* Matches through 2 only: entries 3..4 may still be cut later. */
	struct cairn_raft_msg m = net_append_msg(2, 1, 1, 2, 1, 4, NULL, 0);
	net_step(net, &m);
	cr_assert_eq(net_commit(net, 1), 2);
	m = net_append_msg(2, 1, 1, 4, 1, 3, NULL, 0);
	net_step(net, &m);
	cr_assert_eq(net_commit(net, 1), 3);
	cr_assert_eq(net_node(net, 1)->applied, 3);
	net_free(net);
}

Test(replication, committed_entries_reach_every_follower)
{
	struct net *net = net_new(5);
	net_start(net);
	net_elect(net, 1);
	for (int i = 0; i < 10; i++)
		cr_assert_eq(net_propose(net, 1, "v", NULL), 0);
	net_stabilize(net);
	for (uint64_t id = 1; id <= 5; id++) {
		cr_assert_eq(net_commit(net, id), 11);
		cr_assert_eq(net_node(net, id)->applied, 11);
		cr_assert(logs_equal(net, 1, id));
	}
	net_free(net);
}

Test(replication, reject_hint_skips_a_whole_conflicting_term)
{
	struct net *net = net_new(3);
	uint64_t lead[51];
	uint64_t foll[61];
	lead[0] = foll[0] = 1;
	for (int i = 1; i < 51; i++)
		lead[i] = 3;
	for (int i = 1; i < 61; i++)
		foll[i] = 2;
	net_preload(net, 1, 3, 0, lead, 51);
	net_preload(net, 3, 3, 0, lead, 51);
	net_preload(net, 2, 2, 0, foll, 61);
	net_start(net);
	net_isolate(net, 2);
	net_elect(net, 1);
	net_heal(net);
	size_t before = net->sent_by_type[CAIRN_RAFT_MSG_APPEND];
	net_tick(net, 1);
	net_stabilize(net);
	size_t appends = net->sent_by_type[CAIRN_RAFT_MSG_APPEND] - before;
	cr_assert(logs_equal(net, 1, 2));
	cr_assert_leq(appends, 4, "%zu round trips to skip 60 conflicting entries", appends);
	net_free(net);
}

Test(replication, reject_hint_jumps_to_a_short_followers_end)
{
	struct net *net = net_new(3);
	uint64_t terms[40];
	for (int i = 0; i < 40; i++)
		terms[i] = 1;
	net_preload(net, 1, 1, 0, terms, 40);
	net_preload(net, 3, 1, 0, terms, 40);
	net_preload(net, 2, 1, 0, terms, 3);
	net_start(net);
	net_isolate(net, 2);
	net_elect(net, 1);
	net_heal(net);
	size_t before = net->sent_by_type[CAIRN_RAFT_MSG_APPEND];
	net_tick(net, 1);
	net_stabilize(net);
	cr_assert(logs_equal(net, 1, 2));
	cr_assert_leq(net->sent_by_type[CAIRN_RAFT_MSG_APPEND] - before, 4);
	net_free(net);
}

/* Elect 1 in a 3-cluster with the given flow control, then queue n
 * proposals in one batch (one Ready). */
static struct net *flow_net(uint32_t entries, uint32_t bytes, uint32_t inflight)
{
	struct net *net = net_new(3);
	net->cfg.max_entries_per_msg = entries;
	net->cfg.max_bytes_per_msg = bytes;
	net->cfg.max_inflight_msgs = inflight;
	net_start(net);
	net_elect(net, 1);
	return net;
}

static void propose_batch(struct net *net, size_t n, uint32_t len)
{
	static uint8_t buf[1024];
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(cairn_raft_propose(net_core(net, 1), buf, len, NULL), 0);
	net_drain(net, 1);
}

Test(replication, append_carries_at_most_max_entries)
{
	struct net *net = flow_net(2, 0, 0);
	propose_batch(net, 5, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_leq(net_find(net, CAIRN_RAFT_MSG_APPEND, 2, i)->m.n_entries, 2);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 2), 6);
	net_free(net);
}

Test(replication, append_carries_at_most_max_bytes_but_oversize_entry_goes_alone)
{
	struct net *net = flow_net(0, 100, 0);
	propose_batch(net, 3, 60);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 3, "60 + 60 > 100");
	net_stabilize(net);
	propose_batch(net, 1, 300);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 1);
	cr_assert_eq(net_find(net, CAIRN_RAFT_MSG_APPEND, 2, 0)->m.n_entries, 1);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 2), 5);
	net_free(net);
}

Test(replication, inflight_messages_are_bounded)
{
	struct net *net = flow_net(1, 0, 2);
	propose_batch(net, 5, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 2);
	/* Each acknowledgement opens the window again. */
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 1), 6);
	cr_assert_eq(net_commit(net, 2), 6);
	net_free(net);
}

Test(replication, replicate_state_pipelines_without_waiting_for_acks)
{
	struct net *net = flow_net(1, 0, 0);
	propose_batch(net, 3, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 3);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(net_find(net, CAIRN_RAFT_MSG_APPEND, 2, i)->m.prev_index, 1 + i);
	net_free(net);
}

Test(replication, probe_state_sends_one_append_at_a_time)
{
	struct net *net = net_new(3);
	net_start(net);
	net_isolate(net, 2);
	net_elect(net, 1); /* 2 never answers the first probe */
	propose_batch(net, 3, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 0);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 3), 1);
	net_stabilize(net);
	/* A heartbeat answer lets the probe go again. */
	net_heal(net);
	net_tick(net, 1);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 2), 4);
	net_free(net);
}

Test(replication, heartbeat_commit_is_capped_at_follower_match)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 3);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 1), 2);
	net_tick(net, 1);
	struct tmsg *hb3 = net_find(net, CAIRN_RAFT_MSG_HEARTBEAT, 3, 0);
	struct tmsg *hb2 = net_find(net, CAIRN_RAFT_MSG_HEARTBEAT, 2, 0);
	cr_assert(hb2 && hb3);
	cr_assert_eq(hb2->m.commit, 2);
	cr_assert_eq(hb3->m.commit, 1);
	net_free(net);
}

Test(replication, lost_appends_are_resent_after_heartbeat)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_drop_all(net);
	cr_assert_eq(net_propose(net, 1, "b", NULL), 0);
	net_stabilize(net); /* 2 and 3 reject: they lack entry 2 */
	net_tick(net, 1);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 2), 3);
	cr_assert(logs_equal(net, 1, 2));
	net_free(net);
}

Test(replication, lagging_follower_catches_up_after_heal)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 3);
	for (int i = 0; i < 700; i++)
		cr_assert_eq(net_propose(net, 1, "entry", NULL), 0);
	net_stabilize(net);
	net_heal(net);
	for (int i = 0; i < 3; i++) {
		net_tick(net, 1);
		net_stabilize(net);
	}
	cr_assert(logs_equal(net, 1, 3));
	cr_assert_eq(net_commit(net, 3), 701);
	net_free(net);
}

/* sim-findings note: a follower whose disk lost acknowledged entries
 * rejects at its match index; the leader must not answer each rejection
 * with a new probe at once (a flood under duplication). */
Test(replication, rejection_at_match_waits_for_a_heartbeat_before_probing_again)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_stabilize(net);
	net_cut(net, 1, 2);
	cr_assert_eq(net_propose(net, 1, "b", NULL), 0);
	net_stabilize(net);
	struct cairn_raft_msg no = {.type = CAIRN_RAFT_MSG_APPEND_REPLY,
				    .from = 2,
				    .to = 1,
				    .term = 1,
				    .reject = true,
				    .index = 3,
				    .hint_index = 3};
	net_step(net, &no); /* replicate -> probe at 3 */
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 1);
	net_drop_all(net);
	no.index = 2;
	no.hint_index = 2; /* "I do not have 2", which it acknowledged */
	cr_assert_eq(net_step(net, &no), 0);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 0, "no immediate re-probe");
	struct cairn_raft_msg hb = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT_REPLY, .from = 2, .to = 1, .term = 1};
	net_step(net, &hb);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 2), 1, "one probe per heartbeat");
	net_drop_all(net);
	net_free(net);
}
