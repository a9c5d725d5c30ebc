/* ReadIndex (thesis §6.4): a read point is the commit index, confirmed by
 * one heartbeat round that a majority answers; many reads share a round. */
#include <criterion/criterion.h>

#include "cairn/errors.h"
#include "harness.h"

Test(read, one_heartbeat_round_confirms_many_reads)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	size_t before = net->sent_by_type[CAIRN_RAFT_MSG_HEARTBEAT];
	for (uint64_t ctx = 1; ctx <= 5; ctx++)
		cr_assert_eq(cairn_raft_read_index(net_core(net, 1), ctx), 0);
	net_drain(net, 1);
	cr_assert_eq(net->sent_by_type[CAIRN_RAFT_MSG_HEARTBEAT] - before, 2);
	cr_assert_eq(net_node(net, 1)->n_reads, 0, "not before a majority answers");
	net_stabilize(net);
	struct tnode *nd = net_node(net, 1);
	cr_assert_eq(nd->n_reads, 5);
	for (size_t i = 0; i < 5; i++) {
		cr_assert_eq(nd->reads_ctx[i], i + 1);
		cr_assert_eq(nd->reads_index[i], 1);
	}
	net_free(net);
}

Test(read, one_answer_besides_the_leader_is_a_majority_of_three)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 3);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 9), 0);
	net_stabilize(net);
	cr_assert_eq(net_node(net, 1)->n_reads, 1);
	net_free(net);
}

Test(read, no_read_confirmed_without_a_majority)
{
	struct net *net = net_new(5);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 4);
	net_isolate(net, 5);
	net_cut(net, 1, 3);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 9), 0);
	net_stabilize(net);
	cr_assert_eq(net_node(net, 1)->n_reads, 0, "1 and 2 are two of five");
	net_free(net);
}

Test(read, read_point_is_the_commit_index_at_request)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_stabilize(net);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 7), 0);
	cr_assert_eq(net_propose(net, 1, "b", NULL), 0);
	net_stabilize(net);
	cr_assert_eq(net_node(net, 1)->n_reads, 1);
	cr_assert_eq(net_node(net, 1)->reads_index[0], 2);
	net_free(net);
}

Test(read, reads_wait_for_the_leaders_first_commit_in_its_term)
{
	struct net *net = net_new(3);
	net_start(net);
	net_tick_until_campaign(net, 1);
	net_until_role(net, 1, CAIRN_RAFT_LEADER);
	cr_assert_eq(net_commit(net, 1), 0);
	size_t before = net->sent_by_type[CAIRN_RAFT_MSG_HEARTBEAT];
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 42), 0);
	net_drain(net, 1);
	cr_assert_eq(net->sent_by_type[CAIRN_RAFT_MSG_HEARTBEAT], before,
		     "no round before the no-op commits");
	cr_assert_eq(net_node(net, 1)->n_reads, 0);
	net_stabilize(net);
	cr_assert_eq(net_node(net, 1)->n_reads, 1);
	cr_assert_eq(net_node(net, 1)->reads_index[0], 1, "the read point includes the no-op");
	net_free(net);
}

Test(read, reads_are_dropped_when_leadership_is_lost)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 1);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 5), 0);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 6), 0);
	net_stabilize(net);
	struct cairn_raft_msg hb = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT, .from = 2, .to = 1, .term = 2};
	cr_assert_eq(net_step(net, &hb), 0);
	struct tnode *nd = net_node(net, 1);
	cr_assert_eq(nd->n_reads, 0);
	cr_assert_eq(nd->n_dropped, 2);
	cr_assert_eq(nd->dropped[0], 5);
	cr_assert_eq(nd->dropped[1], 6);
	net_free(net);
}

Test(read, reads_are_dropped_on_check_quorum_step_down)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 1);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 5), 0);
	for (int i = 0; i < 20; i++) {
		net_tick(net, 1);
		net_stabilize(net);
	}
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	cr_assert_eq(net_node(net, 1)->n_dropped, 1);
	net_free(net);
}

Test(read, single_member_confirms_at_once)
{
	struct net *net = net_new(1);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 3), 0);
	net_drain(net, 1);
	cr_assert_eq(net_node(net, 1)->n_reads, 1);
	cr_assert_eq(net_node(net, 1)->reads_index[0], 1);
	net_free(net);
}

Test(read, follower_refuses_read_index)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 2), 1), CAIRN_ENOTLEADER);
	net_free(net);
}

Test(read, stale_heartbeat_answer_confirms_no_newer_round)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_tick(net, 1); /* a plain heartbeat, round 0 */
	struct tmsg *hb = net_find(net, CAIRN_RAFT_MSG_HEARTBEAT, 2, 0);
	cr_assert(hb != NULL);
	cr_assert_eq(hb->m.read_seq, 0);
	net_drop_all(net);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 1), 0);
	net_drain(net, 1);
	net_drop_all(net);
	struct cairn_raft_msg old = {.type = CAIRN_RAFT_MSG_HEARTBEAT_REPLY,
				     .from = 2,
				     .to = 1,
				     .term = 1,
				     .read_seq = 0};
	net_step(net, &old);
	cr_assert_eq(net_node(net, 1)->n_reads, 0);
	old.read_seq = 1;
	net_step(net, &old);
	cr_assert_eq(net_node(net, 1)->n_reads, 1);
	net_drop_all(net);
	net_free(net);
}
