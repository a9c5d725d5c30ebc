/* Log compaction and snapshots (extended paper §7, Figure 13): compaction
 * bounds, the leader asking for a SNAPSHOT when a follower needs entries it
 * compacted away and waiting for the answer, the follower's install, and
 * restoring from a compacted log. */
#include <criterion/criterion.h>
#include <string.h>

#include "cairn/errors.h"
#include "harness.h"

/* Leader 1 of three commits n entries everywhere. */
static struct net *cluster_with_entries(int n)
{
	struct net *net = net_new(3);
	net_start(net);
	net_elect(net, 1);
	for (int i = 0; i < n; i++)
		cr_assert_eq(net_propose(net, 1, "payload", NULL), 0);
	net_stabilize(net);
	return net;
}

/* Leader 1 commits n entries while 3 is cut off, then compacts through its
 * applied index; 3 is reachable again. */
static struct net *lagging_follower(int n, bool from_the_start)
{
	struct net *net = net_new(3);
	net_start(net);
	if (from_the_start)
		net_isolate(net, 3);
	net_elect(net, 1);
	net_isolate(net, 3);
	for (int i = 0; i < n; i++)
		cr_assert_eq(net_propose(net, 1, "payload", NULL), 0);
	net_stabilize(net);
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert_eq(st.commit, st.last_index);
	cr_assert_eq(cairn_raft_compact(net_core(net, 1), st.applied), 0);
	net_heal(net);
	return net;
}

static struct net *cluster_with_lagging_follower(int n)
{
	return lagging_follower(n, false);
}

/* Deliver messages (ticking the leader when none are left) until leader
 * asks for a SNAPSHOT to peer; the request stays queued. */
static struct tmsg *until_snapshot_asked(struct net *net, uint64_t leader, uint64_t peer)
{
	for (int guard = 0; guard < 1000; guard++) {
		struct tmsg *t = net_find(net, CAIRN_RAFT_MSG_SNAPSHOT, peer, 0);
		if (t != NULL)
			return t;
		bool delivered = false;
		for (size_t i = 0; i < net->q.n && !delivered; i++)
			if (net->q.v[i].m.type != CAIRN_RAFT_MSG_SNAPSHOT)
				delivered =
					net_deliver_one(net, net->q.v[i].m.type, net->q.v[i].m.to);
		if (!delivered)
			net_tick(net, leader);
	}
	cr_assert_fail("no SNAPSHOT was asked for");
	return NULL;
}

/* Drop every queued message of type to to (lost in the network). */
static void drop_msgs(struct net *net, int type, uint64_t to)
{
	struct tmsg *t;
	while ((t = net_find(net, type, to, 0)) != NULL) {
		size_t i = (size_t)(t - net->q.v);
		free(t->ents);
		memmove(&net->q.v[i], &net->q.v[i + 1], (net->q.n - i - 1) * sizeof(*t));
		net->q.n--;
	}
}

static void drop_snapshots(struct net *net)
{
	drop_msgs(net, CAIRN_RAFT_MSG_SNAPSHOT, 0);
}

/* Deliver everything but SNAPSHOT requests (dropped) for one tick of every
 * member. */
static void tick_dropping_snapshots(struct net *net)
{
	net_tick_all(net);
	for (int guard = 0; guard < 1000 && net->q.n > 0; guard++) {
		drop_snapshots(net);
		if (net->q.n > 0)
			net_deliver_one(net, 0, 0);
	}
	drop_snapshots(net);
}

Test(snapshot, msg_name_of_snapshot)
{
	cr_assert_str_eq(cairn_raft_msg_name(CAIRN_RAFT_MSG_SNAPSHOT), "snapshot");
	cr_assert_eq(CAIRN_RAFT_MSG_TYPE_MAX, CAIRN_RAFT_MSG_SNAPSHOT);
}

Test(snapshot, compact_beyond_applied_is_einval_and_changes_nothing)
{
	struct net *net = cluster_with_entries(5);
	struct cairn_raft_status before = net_status(net, 2);
	cr_assert_eq(cairn_raft_compact(net_core(net, 2), before.applied + 1), CAIRN_EINVAL);
	struct cairn_raft_status after = net_status(net, 2);
	cr_assert_eq(after.first_index, 1);
	cr_assert_eq(after.log_bytes, before.log_bytes);
	net_free(net);
}

Test(snapshot, compact_of_unpersisted_entries_is_einval)
{
	struct net *net = cluster_with_entries(2);
	net->auto_persist = false;
	cr_assert_eq(net_propose(net, 1, "unpersisted", NULL), 0);
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert_lt(st.persisted_index, st.last_index);
	cr_assert_eq(cairn_raft_compact(net_core(net, 1), st.last_index), CAIRN_EINVAL);
	net_free(net);
}

Test(snapshot, compact_moves_first_index_and_drops_log_bytes)
{
	struct net *net = cluster_with_entries(5); /* noop 1, "payload" 2..6 */
	struct cairn_raft_status before = net_status(net, 2);
	cr_assert_eq(before.first_index, 1);
	cr_assert_eq(before.log_bytes, 5 * strlen("payload"));
	cr_assert_eq(cairn_raft_compact(net_core(net, 2), 4), 0);
	struct cairn_raft_status after = net_status(net, 2);
	cr_assert_eq(after.first_index, 5);
	cr_assert_eq(after.log_bytes, 2 * strlen("payload"));
	cr_assert_eq(after.last_index, before.last_index, "the log's end stays");
	net_free(net);
}

Test(snapshot, compact_at_or_below_first_index_is_a_noop)
{
	struct net *net = cluster_with_entries(5);
	cr_assert_eq(cairn_raft_compact(net_core(net, 2), 4), 0);
	cr_assert_eq(cairn_raft_compact(net_core(net, 2), 4), 0);
	cr_assert_eq(cairn_raft_compact(net_core(net, 2), 2), 0);
	cr_assert_eq(cairn_raft_compact(net_core(net, 2), 0), 0);
	cr_assert_eq(net_status(net, 2).first_index, 5);
	net_free(net);
}

Test(snapshot, log_bytes_follow_appends_and_truncation)
{
	struct net *net = net_new(3);
	net_start(net);
	struct cairn_raft_entry ents[] = {net_entry(1, 1, "abc"), net_entry(2, 1, "defgh")};
	struct cairn_raft_msg m = net_append_msg(2, 1, 1, 0, 0, 0, ents, 2);
	cr_assert_eq(net_step(net, &m), 0);
	cr_assert_eq(net_status(net, 1).log_bytes, 8);
	struct cairn_raft_entry other = net_entry(2, 2, "x");
	m = net_append_msg(3, 1, 2, 1, 1, 0, &other, 1);
	cr_assert_eq(net_step(net, &m), 0);
	cr_assert_eq(net_status(net, 1).last_index, 2);
	cr_assert_eq(net_status(net, 1).log_bytes, 4, "the replaced entry's bytes are gone");
	net_free(net);
}

Test(snapshot, leader_asks_for_snapshot_when_follower_needs_compacted_entries)
{
	struct net *net = cluster_with_lagging_follower(5);
	struct tmsg *t = until_snapshot_asked(net, 1, 3);
	cr_assert_eq(t->m.from, 1);
	cr_assert_eq(t->m.term, net_term(net, 1));
	cr_assert_eq(t->m.commit, net_status(net, 1).commit);
	cr_assert_eq(t->m.prev_index, 0, "the caller fills in the state's index");
	cr_assert_eq(t->m.prev_term, 0);
	cr_assert_eq(t->m.n_entries, 0);
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert(st.progress[2].snapshot);
	cr_assert_eq(st.progress[2].id, 3);
	net_free(net);
}

Test(snapshot, no_entries_go_to_a_follower_waiting_for_a_snapshot)
{
	struct net *net = cluster_with_lagging_follower(5);
	until_snapshot_asked(net, 1, 3);
	drop_snapshots(net);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(net_propose(net, 1, "more", NULL), 0);
	for (int i = 0; i < 5; i++) {
		net_tick(net, 1);
		cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 3), 0);
		struct tmsg *hb = net_find(net, CAIRN_RAFT_MSG_HEARTBEAT, 3, 0);
		cr_assert(hb != NULL, "heartbeats go on");
		cr_assert_leq(hb->m.commit, net_status(net, 1).progress[2].match,
			      "a heartbeat's commit is capped at match");
		while (net_deliver_one(net, CAIRN_RAFT_MSG_HEARTBEAT, 3))
			;
		while (net_deliver_one(net, CAIRN_RAFT_MSG_HEARTBEAT_REPLY, 1))
			;
		cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_SNAPSHOT, 1, 3), 0,
			     "not asked again while waiting");
	}
	cr_assert(net_status(net, 1).progress[2].snapshot);
	net_free(net);
}

Test(snapshot, acknowledged_snapshot_resumes_replication)
{
	struct net *net = cluster_with_lagging_follower(5);
	until_snapshot_asked(net, 1, 3);
	uint64_t applied = net_node(net, 1)->applied;
	net_stabilize(net); /* the harness sends the leader's state at applied */
	cr_assert_eq(net_node(net, 3)->n_installs, 1);
	cr_assert_eq(net_node(net, 3)->snap_index, applied);
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert_not(st.progress[2].snapshot);
	cr_assert_geq(st.progress[2].match, applied);
	cr_assert_eq(net_propose(net, 1, "after", NULL), 0);
	net_stabilize(net);
	st = net_status(net, 1);
	cr_assert_eq(st.progress[2].match, st.last_index, "entries flow again");
	cr_assert_eq(net_status(net, 3).commit, st.commit);
	net_free(net);
}

Test(snapshot, failed_snapshot_is_asked_again_after_a_heartbeat_answer)
{
	struct net *net = cluster_with_lagging_follower(5);
	until_snapshot_asked(net, 1, 3);
	drop_snapshots(net);
	cairn_raft_snapshot_failed(net_core(net, 1), 3);
	net_drain(net, 1);
	cr_assert_not(net_status(net, 1).progress[2].snapshot);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_SNAPSHOT, 1, 3), 0, "not in a tight loop");
	net_tick(net, 1); /* heartbeat */
	while (net_deliver_one(net, CAIRN_RAFT_MSG_HEARTBEAT, 3))
		;
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_SNAPSHOT, 1, 3), 0);
	cr_assert(net_deliver_one(net, CAIRN_RAFT_MSG_HEARTBEAT_REPLY, 1));
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_SNAPSHOT, 1, 3), 1, "asked again");
	cr_assert(net_status(net, 1).progress[2].snapshot);
	net_free(net);
}

Test(snapshot, snapshot_failed_is_ignored_when_not_waiting)
{
	struct net *net = cluster_with_entries(2);
	struct cairn_raft_status before = net_status(net, 1);
	cairn_raft_snapshot_failed(net_core(net, 1), 2);
	cairn_raft_snapshot_failed(net_core(net, 1), 1);
	cairn_raft_snapshot_failed(net_core(net, 1), 42);
	cairn_raft_snapshot_failed(net_core(net, 2), 3); /* not leader */
	struct cairn_raft_status after = net_status(net, 1);
	cr_assert_eq(after.progress[1].next, before.progress[1].next);
	cr_assert_eq(after.progress[1].match, before.progress[1].match);
	cr_assert_not(cairn_raft_has_ready(net_core(net, 1)));
	net_free(net);
}

Test(snapshot, lost_snapshot_is_asked_again_within_an_election_timeout)
{
	struct net *net = cluster_with_lagging_follower(5);
	until_snapshot_asked(net, 1, 3);
	drop_snapshots(net);
	size_t asked = net->sent_by_type[CAIRN_RAFT_MSG_SNAPSHOT];
	int ticks = 0;
	while (net->sent_by_type[CAIRN_RAFT_MSG_SNAPSHOT] == asked) {
		cr_assert_lt(ticks, 30, "never asked again");
		tick_dropping_snapshots(net);
		ticks++;
	}
	cr_assert_geq(ticks, 10, "not before an election timeout (asked again after %d ticks)",
		      ticks);
	cr_assert_eq(net_role(net, 1), CAIRN_RAFT_LEADER);
	net_free(net);
}

Test(snapshot, lost_snapshot_answer_is_asked_again_and_answered_without_install)
{
	struct net *net = cluster_with_lagging_follower(5);
	until_snapshot_asked(net, 1, 3);
	cr_assert(net_deliver_one(net, CAIRN_RAFT_MSG_SNAPSHOT, 3));
	cr_assert_eq(net_node(net, 3)->n_installs, 1);
	drop_msgs(net, CAIRN_RAFT_MSG_APPEND_REPLY, 1); /* the answer is lost */
	size_t asked = net->sent_by_type[CAIRN_RAFT_MSG_SNAPSHOT];
	for (int ticks = 0; net_status(net, 1).progress[2].snapshot; ticks++) {
		cr_assert_lt(ticks, 30, "the leader waits forever");
		net_tick_all(net);
		net_stabilize(net);
	}
	cr_assert_eq(net->sent_by_type[CAIRN_RAFT_MSG_SNAPSHOT], asked + 1, "asked once more");
	cr_assert_eq(net_node(net, 3)->n_installs, 1, "the second one needs no install");
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert_eq(st.progress[2].match, st.last_index);
	net_free(net);
}

Test(snapshot, answer_below_a_newer_compaction_point_asks_again_at_once)
{
	struct net *net = cluster_with_lagging_follower(5);
	struct tmsg *t = until_snapshot_asked(net, 1, 3);
	struct cairn_raft_msg m = t->m;
	uint64_t old = net_status(net, 1).first_index - 1;
	m.prev_index = old;
	m.prev_term = net_term(net, 1);
	drop_snapshots(net);
	/* The leader moves on and compacts past the state it is sending. */
	net_isolate(net, 3);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(net_propose(net, 1, "newer", NULL), 0);
	net_stabilize(net);
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert_eq(cairn_raft_compact(net_core(net, 1), st.applied), 0);
	net_heal(net);
	cr_assert_eq(net_step(net, &m), 0); /* 3 installs the older state */
	cr_assert_eq(net_node(net, 3)->snap_index, old);
	cr_assert(net_deliver_one(net, CAIRN_RAFT_MSG_APPEND_REPLY, 1));
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_SNAPSHOT, 1, 3), 1, "asked again at once");
	st = net_status(net, 1);
	cr_assert(st.progress[2].snapshot);
	cr_assert_eq(st.progress[2].match, old);
	net_stabilize(net);
	st = net_status(net, 1);
	cr_assert_eq(st.progress[2].match, st.last_index);
	net_free(net);
}

Test(snapshot, older_append_answer_keeps_waiting_for_the_snapshot)
{
	struct net *net = lagging_follower(5, true);
	until_snapshot_asked(net, 1, 3);
	drop_snapshots(net);
	struct cairn_raft_status st = net_status(net, 1);
	cr_assert_eq(st.progress[2].match, 0);
	cr_assert_gt(st.first_index, 2);
	/* An acknowledgement of an AppendEntries sent before, below the
	 * log's start when the SNAPSHOT was asked for. */
	struct cairn_raft_msg ack = {.type = CAIRN_RAFT_MSG_APPEND_REPLY,
				     .from = 3,
				     .to = 1,
				     .term = net_term(net, 1),
				     .index = 1};
	cr_assert_eq(net_step(net, &ack), 0);
	st = net_status(net, 1);
	cr_assert(st.progress[2].snapshot, "still waiting");
	cr_assert_eq(st.progress[2].match, 1);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_SNAPSHOT, 1, 3), 0);
	cr_assert_eq(net_count(net, CAIRN_RAFT_MSG_APPEND, 1, 3), 0);
	net_free(net);
}

Test(snapshot, follower_installs_snapshot_and_drops_log_without_its_term)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 1, 2, 2};
	net_preload(net, 2, 2, 0, terms, 4);
	net_start(net);
	struct cairn_raft_msg m = net_snapshot_msg(1, 2, 3, 6, 3, 6);
	cr_assert_eq(net_step(net, &m), 0);
	struct tnode *nd = net_node(net, 2);
	cr_assert_eq(nd->n_installs, 1);
	cr_assert_eq(nd->snap_index, 6);
	cr_assert_eq(nd->snap_term, 3);
	struct cairn_raft_status st = net_status(net, 2);
	cr_assert_eq(st.first_index, 7);
	cr_assert_eq(st.last_index, 6);
	cr_assert_eq(st.last_term, 3);
	cr_assert_eq(st.commit, 6);
	cr_assert_eq(st.applied, 6);
	cr_assert_eq(st.leader, 1);
	cr_assert_eq(nd->disk_prev_index, 6);
	cr_assert_eq(nd->disk.n, 0, "no entry of the old log survives");
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 1, 0);
	cr_assert(reply != NULL && !reply->m.reject);
	cr_assert_eq(reply->m.index, 6);
	cr_assert_eq(reply->m.term, 3);
	net_free(net);
}

Test(snapshot, follower_install_keeps_entries_after_a_matching_position)
{
	struct net *net = net_new(3);
	uint64_t terms[] = {1, 1, 1, 1, 1};
	net_preload(net, 2, 1, 0, terms, 5);
	net_start(net);
	struct cairn_raft_msg m = net_snapshot_msg(1, 2, 1, 3, 1, 5);
	cr_assert_eq(net_step(net, &m), 0);
	struct cairn_raft_status st = net_status(net, 2);
	cr_assert_eq(net_node(net, 2)->n_installs, 1);
	cr_assert_eq(st.first_index, 4);
	cr_assert_eq(st.last_index, 5, "entries 4 and 5 stay (Figure 13)");
	cr_assert_eq(st.commit, 3, "the kept entries are not known to match the leader's");
	cr_assert_eq(st.applied, 3);
	cr_assert_eq(st.persisted_index, 5);
	struct tnode *nd = net_node(net, 2);
	cr_assert_eq(nd->disk_prev_index, 3);
	cr_assert_eq(nd->disk.n, 2);
	cr_assert_eq(nd->disk.v[0].index, 4);
	net_free(net);
}

Test(snapshot, snapshot_reply_waits_for_the_install_to_be_durable)
{
	struct net *net = net_new(3);
	net->auto_persist = false;
	net_start(net);
	struct cairn_raft_msg m = net_snapshot_msg(1, 2, 1, 4, 1, 4);
	cr_assert_eq(net_step(net, &m), 0);
	net_expect_sent_once_persisted(net, 2, CAIRN_RAFT_MSG_APPEND_REPLY, 1);
	net_free(net);
}

Test(snapshot, snapshot_at_or_below_commit_is_answered_without_install)
{
	struct net *net = cluster_with_entries(5);
	uint64_t commit = net_status(net, 2).commit;
	cr_assert_geq(commit, 4);
	struct cairn_raft_msg m = net_snapshot_msg(1, 2, net_term(net, 1), 3, 1, commit);
	cr_assert_eq(net_step(net, &m), 0);
	cr_assert_eq(net_node(net, 2)->n_installs, 0);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 1, 0);
	cr_assert(reply != NULL && !reply->m.reject);
	cr_assert_eq(reply->m.index, commit, "answered with the commit index");
	cr_assert_eq(net_status(net, 2).first_index, 1, "the log is untouched");
	net_free(net);
}

Test(snapshot, stale_snapshot_is_rejected_with_the_current_term)
{
	struct net *net = net_new(3);
	net_preload(net, 2, 3, 0, NULL, 0);
	net_start(net);
	struct cairn_raft_msg m = net_snapshot_msg(1, 2, 2, 5, 2, 5);
	cr_assert_eq(net_step(net, &m), 0);
	cr_assert_eq(net_node(net, 2)->n_installs, 0);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 1, 0);
	cr_assert(reply != NULL && reply->m.reject);
	cr_assert_eq(reply->m.term, 3);
	cr_assert_eq(reply->m.index, 0);
	cr_assert_eq(net_status(net, 2).last_index, 0);
	net_free(net);
}

Test(snapshot, hostile_snapshot_fields_are_einval_and_change_nothing)
{
	struct net *net = net_new(3);
	net_start(net);
	struct cairn_raft_entry e = {.term = 1, .index = 6, .type = CAIRN_RAFT_ENTRY_NOOP};
	struct cairn_raft_msg bad[] = {
		net_snapshot_msg(1, 2, 2, 0, 0, 0),          /* index 0 */
		net_snapshot_msg(1, 2, 2, 5, 0, 5),          /* term 0 at a real index */
		net_snapshot_msg(1, 2, 2, 5, 3, 5),          /* index term above the message's */
		net_snapshot_msg(1, 2, 0, 5, 1, 5),          /* message term 0 */
		net_snapshot_msg(1, 2, 2, UINT64_MAX, 1, 5), /* an index that would wrap */
		net_snapshot_msg(1, 2, CAIRN_RAFT_TERM_MAX + 1, 5, 1,
				 5),                /* term beyond the maximum */
		net_snapshot_msg(1, 2, 2, 5, 1, 5), /* with entries */
	};
	bad[6].entries = &e;
	bad[6].n_entries = 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(net_step(net, &bad[i]), CAIRN_EINVAL, "case %zu", i);
		struct cairn_raft_status st = net_status(net, 2);
		cr_assert_eq(st.term, 0, "case %zu", i);
		cr_assert_eq(st.last_index, 0, "case %zu", i);
		cr_assert_eq(st.leader, CAIRN_RAFT_NONE, "case %zu", i);
		cr_assert_eq(net_node(net, 2)->n_installs, 0, "case %zu", i);
	}
	net_free(net);
}

Test(snapshot, restore_with_compacted_prefix)
{
	struct cairn_raft_entry log[] = {
		net_entry(11, 2, "ab"),
		{.term = 3, .index = 12, .type = CAIRN_RAFT_ENTRY_NOOP},
	};
	struct cairn_raft_config cfg = net_lone_config();
	struct cairn_raft_restore rs = {.hard_state = {.term = 3, .commit = 10},
					.log = log,
					.n_log = 2,
					.first_prev_index = 10,
					.first_prev_term = 2,
					.applied = 10};
	struct cairn_raft *r = NULL;
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), 0);
	struct cairn_raft_status st;
	cairn_raft_status(r, &st);
	cr_assert_eq(st.first_index, 11);
	cr_assert_eq(st.last_index, 12);
	cr_assert_eq(st.applied, 10);
	cr_assert_eq(st.log_bytes, 2);
	/* A cluster of one elects itself and commits; nothing <= 10 is handed
	 * out again. */
	uint64_t first_committed = 0;
	for (int i = 0; i < 40; i++) {
		cairn_raft_tick(r);
		while (cairn_raft_has_ready(r)) {
			struct cairn_raft_ready rd;
			cairn_raft_ready(r, &rd);
			if (rd.n_committed > 0 && first_committed == 0)
				first_committed = rd.committed[0].index;
			uint64_t last = rd.n_entries ? rd.entries[rd.n_entries - 1].index : 0;
			uint64_t term = rd.n_entries ? rd.entries[rd.n_entries - 1].term : 0;
			cairn_raft_advance(r, &rd);
			if (last != 0)
				cairn_raft_persisted(r, last, term);
		}
	}
	cairn_raft_status(r, &st);
	cr_assert_eq(st.role, CAIRN_RAFT_LEADER);
	cr_assert_eq(first_committed, 11);
	cr_assert_eq(st.applied, 13);
	cairn_raft_destroy(r);
}

Test(snapshot, restore_with_applied_below_the_compacted_prefix_is_einval)
{
	struct cairn_raft_entry log[] = {{.term = 2, .index = 11, .type = CAIRN_RAFT_ENTRY_NOOP}};
	struct cairn_raft_config cfg = net_lone_config();
	struct cairn_raft_restore rs = {.hard_state = {.term = 2},
					.log = log,
					.n_log = 1,
					.first_prev_index = 10,
					.first_prev_term = 2,
					.applied = 9}; /* the state machine lacks index 10 */
	struct cairn_raft *r = NULL;
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL);
	rs.applied = 10;
	rs.first_prev_term = 0; /* a compacted prefix has a term */
	cr_assert_eq(cairn_raft_create(&r, &cfg, &rs), CAIRN_EINVAL);
}

Test(snapshot, committed_entries_after_install_start_after_the_snapshot)
{
	struct net *net = net_new(3);
	net_start(net);
	struct cairn_raft_msg m = net_snapshot_msg(1, 2, 1, 4, 1, 4);
	cr_assert_eq(net_step(net, &m), 0);
	struct cairn_raft_entry ents[] = {net_entry(5, 1, "a"), net_entry(6, 1, "b")};
	struct cairn_raft_msg a = net_append_msg(1, 2, 1, 4, 1, 6, ents, 2);
	cr_assert_eq(net_step(net, &a), 0);
	struct tnode *nd = net_node(net, 2);
	cr_assert_eq(nd->committed.n, 2);
	cr_assert_eq(nd->committed.v[0].index, 5);
	cr_assert_eq(nd->committed.v[1].index, 6);
	cr_assert_eq(net_status(net, 2).applied, 6);
	net_free(net);
}

Test(snapshot, append_below_snapshot_is_answered_with_commit)
{
	struct net *net = net_new(3);
	net_start(net);
	struct cairn_raft_msg m = net_snapshot_msg(1, 2, 1, 4, 1, 4);
	cr_assert_eq(net_step(net, &m), 0);
	net_drop_all(net);
	struct cairn_raft_msg a = net_append_msg(1, 2, 1, 1, 1, 4, NULL, 0);
	cr_assert_eq(net_step(net, &a), 0);
	struct tmsg *reply = net_find(net, CAIRN_RAFT_MSG_APPEND_REPLY, 1, 0);
	cr_assert(reply != NULL && !reply->m.reject);
	cr_assert_eq(reply->m.index, 4);
	net_free(net);
}
