/* Leadership transfer (thesis §3.10): bring the target up to date, send
 * TIMEOUT_NOW, refuse proposals meanwhile, give up after an election
 * timeout. */
#include <criterion/criterion.h>

#include "cairn/errors.h"
#include "harness.h"

Test(transfer, target_gets_timeout_now_and_wins)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 1), 2), 0);
	net_drain(net, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_TIMEOUT_NOW, 1, 2), 1);
	net_stabilize(net);
	cr_assert_eq(net_role(net, 2), CAIRN_RAFT_LEADER, "check-quorum's lease does not block it");
	cr_assert_eq(net_term(net, 2), 2);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_FOLLOWER);
	net_free(net);
}

Test(transfer, proposals_are_refused_during_transfer)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 2);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 1), 2), 0);
	net_stabilize(net);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_LEADER);
	cr_assert_eq(net_propose(net, 1, "a", NULL), CAIRN_ENOTLEADER);
	net_free(net);
}

Test(transfer, transfer_is_abandoned_after_an_election_timeout)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 2);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 1), 2), 0);
	net_stabilize(net);
	for (int i = 0; i < 10; i++) {
		net_tick(net, 1);
		net_stabilize(net);
	}
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_LEADER);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_free(net);
}

Test(transfer, target_is_caught_up_before_timeout_now)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 2);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_stabilize(net);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 1), 2), 0);
	net_drain(net, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_TIMEOUT_NOW, 1, 2), 0);
	net_stabilize(net);
	net_heal(net);
	net_tick(net, 1);
	net_stabilize(net);
	cr_assert_eq(net_role(net, 2), CAIRN_RAFT_LEADER);
	cr_assert_eq(net_commit(net, 2), 7, "its own no-op after the five");
	net_free(net);
}

Test(transfer, no_target_picks_the_most_up_to_date_follower)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 2);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_stabilize(net);
	net_heal(net);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 1), CAIRN_RAFT_NONE), 0);
	net_drain(net, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_TIMEOUT_NOW, 1, 3), 1);
	net_stabilize(net);
	cr_assert_eq(net_role(net, 3), CAIRN_RAFT_LEADER);
	net_free(net);
}

Test(transfer, bad_targets_are_refused)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 1), 1), CAIRN_EINVAL);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 1), 9), CAIRN_EINVAL);
	cr_assert_eq(cairn_raft_transfer_leadership(net_core(net, 2), 3), CAIRN_ENOTLEADER);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_free(net);
}
