/* Commitment (§5.3-§5.4, Figure 8), persistence gating (persist before
 * you speak; the leader counts itself once durable) and proposals. */
#include <criterion/criterion.h>
#include <string.h>

#include "cairn/errors.h"
#include "harness.h"

/* Figure 8: leader 1 of term 3 holds an entry of term 1 that a majority
 * then stores; counting replicas must not commit it, only an entry of
 * term 3 reaching a majority does (and commits it indirectly). */
Test(commit, leader_never_commits_previous_term_entry_by_counting)
{
	struct net *net = net_new(3);
	net->cfg.pre_vote = false;
	net->cfg.max_entries_per_msg = 1;
	uint64_t lead[] = {1, 1};
	uint64_t foll[] = {1};
	net_preload(net, 1, 2, 0, lead, 2);
	net_preload(net, 2, 2, 0, foll, 1);
	net_preload(net, 3, 2, 0, foll, 1);
	net_node(net, 1)->hs.commit = 1;
	net_start(net);
	net_isolate(net, 3);
	net_tick_until_campaign(net, 1);
	net_until_role(net, 1, CAIRN_RAFT_LEADER);
	cr_assert_eq(net_term(net, 1), 3);
	/* The probe after the no-op: prev 2 unknown to 2 -> reject, then
	 * entry 2 alone (max one entry per message). */
	while (net_status(net, 1).progress[1].match < 2)
		cr_assert(net_deliver_one(net, 0, 0));
	cr_assert_eq(net_status(net, 1).progress[1].match, 2);
	cr_assert_eq(net_status(net, 1).persisted_index, 3);
	cr_assert_eq(net_commit(net, 1), 1, "entry 2 of term 1 is on a majority, yet uncommitted");
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 1), 3, "the term-3 no-op commits both");
	net_free(net);
}

Test(commit, stale_leader_proposals_never_commit)
{
	struct net *net = net_new(3);
	net->cfg.check_quorum = false;
	net->cfg.pre_vote = false;
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 1);
	uint64_t stale = 0;
	cr_assert_eq(net_propose(net, 1, "stale", &stale), 0);
	net_stabilize(net);
	net_elect(net, 2);
	cr_assert_eq(net_propose(net, 2, "fresh", NULL), 0);
	net_stabilize(net);
	net_heal(net);
	net_tick(net, 2);
	net_stabilize(net);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	for (uint64_t id = 1; id <= 3; id++) {
		struct tnode *nd = net_node(net, id);
		for (size_t i = 0; i < nd->committed.n; i++) {
			const struct cairn_raft_entry *e = &nd->committed.v[i];
			cr_assert(!(e->len == 5 && memcmp(e->data, "stale", 5) == 0),
				  "member %lu applied the stale leader's entry", (unsigned long)id);
		}
		cr_assert_eq(net_commit(net, id), 3);
	}
	net_free(net);
}

Test(commit, leader_counts_itself_only_after_persisted)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net->auto_persist = false;
	uint64_t idx = 0;
	cr_assert_eq(net_propose(net, 1, "a", &idx), 0);
	net_stabilize(net);
	net_persist(net, 2);
	net_stabilize(net);
	cr_assert_eq(net_status(net, 1).progress[1].match, idx);
	cr_assert_lt(net_commit(net, 1), idx, "one durable copy of three is no majority");
	net_persist(net, 1);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 1), idx);
	net_free(net);
}

Test(commit, follower_acknowledges_only_after_persist)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net->auto_persist = false;
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	cr_assert(net_deliver_one(net, CAIRN_RAFT_MSG_APPEND, 2));
	net_expect_sent_once_persisted(net, 2, CAIRN_RAFT_MSG_APPEND_REPLY, 1);
	net_free(net);
}

Test(commit, committed_entries_never_pass_the_persisted_index)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net->auto_persist = false;
	uint64_t idx = 0;
	cr_assert_eq(net_propose(net, 1, "a", &idx), 0);
	net_stabilize(net);
	net_persist(net, 1);
	net_persist(net, 3);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 1), idx);
	/* The next APPEND tells 2 the commit index. */
	cr_assert_eq(net_propose(net, 1, "b", NULL), 0);
	net_stabilize(net);
	cr_assert_eq(net_commit(net, 2), idx, "2 learned the commit index");
	cr_assert_lt(net_node(net, 2)->applied, idx, "but holds the entry only in memory");
	net_persist(net, 2);
	cr_assert_eq(net_node(net, 2)->applied, idx);
	net_drop_all(net);
	net_free(net);
}

Test(commit, persisted_report_for_an_overwritten_term_is_ignored)
{
	uint64_t members[] = {1, 2, 3};
	struct cairn_raft_config cfg = {
		.id = 1,
		.members = members,
		.n_members = 3,
		.heartbeat_ticks = 1,
		.election_ticks = 10,
	};
	struct cairn_raft *r = NULL;
	cr_assert_eq(cairn_raft_create(&r, &cfg, NULL), 0);
	struct cairn_raft_entry old[] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
	struct cairn_raft_msg m = net_append_msg(2, 1, 1, 0, 0, 0, old, 2);
	cr_assert_eq(cairn_raft_step(r, &m), 0);
	struct cairn_raft_ready rd;
	cairn_raft_ready(r, &rd);
	cr_assert_eq(rd.n_entries, 2);
	cairn_raft_advance(r, &rd);
	struct cairn_raft_entry fresh = {.term = 2, .index = 2};
	m = net_append_msg(3, 1, 2, 1, 1, 0, &fresh, 1);
	cr_assert_eq(cairn_raft_step(r, &m), 0);
	cairn_raft_ready(r, &rd);
	cr_assert_eq(rd.n_entries, 1);
	cr_assert_eq(rd.entries[0].index, 2, "the durable log is cut back to 1 first");
	cairn_raft_advance(r, &rd);
	cairn_raft_persisted(r, 2, 1); /* the first write, for the old entry */
	struct cairn_raft_status st;
	cairn_raft_status(r, &st);
	cr_assert_eq(st.persisted_index, 0);
	cairn_raft_persisted(r, 2, 2);
	cairn_raft_status(r, &st);
	cr_assert_eq(st.persisted_index, 2);
	cairn_raft_destroy(r);
}

Test(commit, propose_on_follower_is_not_leader)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(net_propose(net, 2, "a", NULL), CAIRN_ENOTLEADER);
	net_free(net);
}

Test(commit, propose_over_entry_limit_is_too_big)
{
	struct net *net = net_new(1);
	net_start(net);
	net_elect(net, 1);
	static const uint8_t byte;
	uint64_t idx = 0;
	cr_assert_eq(cairn_raft_propose(net_core(net, 1), &byte, CAIRN_ENTRY_BYTES_MAX + 1, &idx),
		     CAIRN_ETOOBIG);
	cr_assert_eq(net_status(net, 1).last_index, 1);
	net_free(net);
}

Test(commit, propose_returns_full_when_pending_queue_is_at_its_limit)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 1);
	struct cairn_raft *r = net_core(net, 1);
	uint32_t accepted = 0;
	int rv = 0;
	while ((rv = cairn_raft_propose(r, NULL, 0, NULL)) == 0)
		accepted++;
	cr_assert_eq(rv, CAIRN_EFULL);
	cr_assert_eq(accepted, CAIRN_PROPOSALS_PENDING_MAX);
	net_drain(net, 1);
	net_drop_all(net);
	net_free(net);
}

Test(commit, propose_returns_the_new_entry_index)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	uint64_t a = 0;
	uint64_t b = 0;
	cr_assert_eq(net_propose(net, 1, "a", &a), 0);
	cr_assert_eq(net_propose(net, 1, "b", &b), 0);
	cr_assert_eq(a, 2);
	cr_assert_eq(b, 3);
	net_stabilize(net);
	const struct tentries *c = &net_node(net, 3)->committed;
	cr_assert_eq(c->n, 3);
	cr_assert_eq(c->v[1].len, 1);
	cr_assert_eq(memcmp(c->v[2].data, "b", 1), 0);
	cr_assert_eq(c->v[0].type, CAIRN_RAFT_ENTRY_NOOP);
	net_free(net);
}
