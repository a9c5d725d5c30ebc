/* Golden traces: the exact message sequence of a scenario, where the
 * sequence itself is the behaviour (etcd raft's testdata style). On a
 * mismatch the actual trace is printed; after a deliberate behaviour
 * change, paste it in as the new golden text. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static void assert_trace(struct net *net, const char *golden)
{
	const char *got = net_trace(net);
	cr_assert(strcmp(got, golden) == 0, "trace differs; actual:\n%s", got);
}

Test(trace, pre_vote_election_then_noop_commit)
{
	struct net *net = net_new(3);
	net_start(net);
	net_tick_until_campaign(net, 1);
	net_trace_start(net);
	net_stabilize(net);
	assert_trace(net, "1->2 prevote t1 last=0/0\n"
			  "1->3 prevote t1 last=0/0\n"
			  "2->1 prevote-reply t1\n"
			  "3->1 prevote-reply t1\n"
			  "1->2 vote t1 last=0/0\n"
			  "1->3 vote t1 last=0/0\n"
			  "2->1 vote-reply t1\n"
			  "3->1 vote-reply t1\n"
			  "1->2 append t1 prev=0/0 n=1 commit=0\n"
			  "1->3 append t1 prev=0/0 n=1 commit=0\n"
			  "2->1 append-reply t1 index=1\n"
			  "3->1 append-reply t1 index=1\n"
			  "1->2 heartbeat t1 commit=1 read=0\n"
			  "1->3 heartbeat t1 commit=1 read=0\n"
			  "2->1 heartbeat-reply t1 read=0\n"
			  "3->1 heartbeat-reply t1 read=0\n");
	net_free(net);
}

Test(trace, read_index_round_then_catch_up_of_a_lagging_follower)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	net_isolate(net, 3);
	cr_assert_eq(net_propose(net, 1, "a", NULL), 0);
	net_stabilize(net);
	net_heal(net);
	cr_assert_eq(cairn_raft_read_index(net_core(net, 1), 1), 0);
	net_trace_start(net);
	net_stabilize(net);
	assert_trace(net, "1->2 heartbeat t1 commit=2 read=1\n"
			  "1->3 heartbeat t1 commit=1 read=1\n"
			  "2->1 heartbeat-reply t1 read=1\n"
			  "3->1 heartbeat-reply t1 read=1\n"
			  "1->3 append t1 prev=2/1 n=0 commit=2\n"
			  "3->1 append-reply t1 index=2 hint=0/2\n"
			  "1->3 append t1 prev=1/1 n=1 commit=2\n"
			  "3->1 append-reply t1 index=2\n");
	cr_assert_eq(net_node(net, 1)->n_reads, 1);
	net_free(net);
}
