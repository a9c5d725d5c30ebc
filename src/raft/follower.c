/*
 * follower.c - the follower role (and becoming one): the AppendEntries
 * receiver of Figure 2
 * (consistency check, conflict truncation, commit advance), heartbeats, and
 * the election timer (extended paper §5.2-§5.3).
 *
 * A rejected AppendEntries carries a hint (hint_term, hint_index, see
 * cairn/raft.h) so the leader can skip a whole conflicting term per round
 * trip instead of one entry (§5.3, "optimization"). Every acknowledgement
 * goes out only after this member's log is durable (msgs_after_persist).
 * A SNAPSHOT (Figure 13) replaces the log up to its last index with the
 * leader's state machine state, which the caller installs.
 */
#include <assert.h>

#include "cairn/errors.h"
#include "raft/internal.h"

void raft_become_follower(struct cairn_raft *r, uint64_t term, uint64_t leader)
{
	assert(term >= r->term);
	if (r->role == CAIRN_RAFT_LEADER)
		raft_drop_reads(r);
	if (term > r->term) {
		r->term = term;
		r->vote = CAIRN_RAFT_NONE;
	}
	r->role = CAIRN_RAFT_FOLLOWER;
	r->step = raft_step_follower;
	r->tick = raft_tick_follower;
	r->leader = leader;
	r->transfer_target = CAIRN_RAFT_NONE;
	r->read_round_pending = false;
	r->append_pending = false;
	/* The election timer runs on (Figure 2): only a leader's message, a
	 * granted vote or a campaign resets it. A term bump by a candidate we
	 * refuse must not, or a member with a stale log and a fast clock could
	 * keep the whole cluster from ever electing anyone. */
}

static void reply_append(struct cairn_raft *r, const struct cairn_raft_msg *m, bool reject,
			 uint64_t index, uint64_t hint_term, uint64_t hint_index)
{
	struct cairn_raft_msg reply = {
		.type = CAIRN_RAFT_MSG_APPEND_REPLY,
		.to = m->from,
		.term = r->term,
		.reject = reject,
		.index = index,
		.hint_term = hint_term,
		.hint_index = hint_index,
	};
	raft_send(r, &reply);
}

/* The first position of ents[0..n) our log does not already hold, as an
 * offset into ents (n when we hold them all). */
static uint32_t first_new(const struct raft_log *l, const struct cairn_raft_entry *ents, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t term = 0;
		if (!raft_log_term(l, ents[i].index, &term) || term != ents[i].term)
			return i;
	}
	return n;
}

int raft_handle_append(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	assert(m->term == r->term);
	assert(r->leader == m->from);
	struct raft_log *l = &r->log;
	uint64_t prev = m->prev_index;
	uint64_t prev_term = m->prev_term;
	const struct cairn_raft_entry *ents = m->entries;
	uint32_t n = m->n_entries;
	/* Entries through commit match every leader's log (§5.4); skip them. */
	if (prev < l->commit) {
		uint64_t skip = l->commit - prev;
		if (skip >= n) {
			reply_append(r, m, false, l->commit, 0, 0);
			return 0;
		}
		prev = l->commit;
		prev_term = ents[skip - 1].term;
		ents += skip;
		n -= (uint32_t)skip;
	}
	uint64_t last = raft_log_last_index(l);
	if (prev > last) {
		reply_append(r, m, true, m->prev_index, 0, last + 1);
		return 0;
	}
	uint64_t term = 0;
	bool known = raft_log_term(l, prev, &term);
	assert(known);
	if (term != prev_term) {
		reply_append(r, m, true, m->prev_index, term, raft_log_first_of_term(l, prev));
		return 0;
	}
	uint32_t i = first_new(l, ents, n);
	if (i < n && ents[i].index <= last) {
		/* A conflicting suffix; it is never committed (Leader
		 * Completeness), or the sender is not a Raft leader. */
		if (ents[i].index <= l->commit)
			return CAIRN_EINVAL;
		raft_log_truncate(l, ents[i].index);
	}
	for (; i < n; i++) {
		int rv = raft_log_append(l, ents[i].term, ents[i].type, ents[i].data, ents[i].len);
		if (rv != 0)
			return rv;
	}
	uint64_t last_new = prev + n;
	raft_log_commit_to(l, m->commit < last_new ? m->commit : last_new);
	reply_append(r, m, false, last_new, 0, 0);
	return 0;
}

/* Figure 13 InstallSnapshot receiver; the caller holds the state aside. */
void raft_handle_snapshot(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	assert(m->term == r->term);
	assert(r->leader == m->from);
	struct raft_log *l = &r->log;
	if (m->prev_index <= l->commit) {
		/* We hold all of it already (committed entries match every
		 * leader's log, §5.4): nothing to install. */
		reply_append(r, m, false, l->commit, 0, 0);
		return;
	}
	raft_log_install(l, m->prev_index, m->prev_term);
	r->snap_pending = true;
	r->snap_index = m->prev_index;
	r->snap_term = m->prev_term;
	reply_append(r, m, false, m->prev_index, 0, 0);
}

/* The leader caps a heartbeat's commit at what it knows we hold. */
void raft_handle_heartbeat(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	assert(m->term == r->term);
	uint64_t last = raft_log_last_index(&r->log);
	raft_log_commit_to(&r->log, m->commit < last ? m->commit : last);
	struct cairn_raft_msg reply = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT_REPLY,
		.to = m->from,
		.term = r->term,
		.read_seq = m->read_seq,
	};
	raft_send(r, &reply);
}

int raft_step_follower(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	assert(r->role == CAIRN_RAFT_FOLLOWER);
	assert(m->term <= r->term || m->type == CAIRN_RAFT_MSG_PREVOTE ||
	       m->type == CAIRN_RAFT_MSG_PREVOTE_REPLY);
	switch (m->type) {
	case CAIRN_RAFT_MSG_APPEND:
		r->leader = m->from;
		raft_reset_election_timer(r);
		return raft_handle_append(r, m);
	case CAIRN_RAFT_MSG_HEARTBEAT:
		r->leader = m->from;
		raft_reset_election_timer(r);
		raft_handle_heartbeat(r, m);
		return 0;
	case CAIRN_RAFT_MSG_SNAPSHOT:
		r->leader = m->from;
		raft_reset_election_timer(r);
		raft_handle_snapshot(r, m);
		return 0;
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		return raft_handle_vote_request(r, m);
	case CAIRN_RAFT_MSG_TIMEOUT_NOW:
		/* Thesis §3.10: the leader wants us to take over now; skip
		 * pre-vote, our log is known to be up to date. Only from the
		 * leader we follow, and only while terms are left. */
		if (m->from == r->leader && r->term < CAIRN_RAFT_TERM_MAX)
			raft_become_candidate(r, true);
		return 0;
	default:
		return 0; /* stale replies from an earlier role */
	}
}

void raft_tick_follower(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_FOLLOWER);
	r->election_elapsed++;
	if (r->election_elapsed >= r->election_timeout)
		raft_campaign(r);
}
