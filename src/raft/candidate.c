/*
 * candidate.c - the pre-candidate and candidate roles (extended paper §5.2,
 * thesis §9.6 for pre-vote).
 *
 * A pre-candidate keeps its term and asks "would you vote for me at term + 1?";
 * only with a majority of yeses does it become a real candidate, bump its
 * term and ask for votes. So a member cut off from the cluster never inflates
 * its term and cannot disrupt a working leader when it comes back. Both roles
 * share this step function and tick; the reply type that counts depends on
 * the role. The RequestVote receiver of Figure 2 (for every role) lives here
 * too, with pre-vote's leader stickiness.
 */
#include <assert.h>
#include <string.h>

#include "cairn/errors.h"
#include "raft/internal.h"

static void reset_votes(struct cairn_raft *r)
{
	memset(r->votes, 0, sizeof(r->votes));
	r->votes[raft_slot(r, r->id)] = RAFT_VOTE_GRANTED;
}

static bool won(const struct cairn_raft *r)
{
	size_t granted = 0;
	for (size_t i = 0; i < r->n_members; i++)
		granted += r->votes[i] == RAFT_VOTE_GRANTED;
	return granted >= raft_quorum(r);
}

static void request_votes(struct cairn_raft *r, uint8_t type, uint64_t term, bool transfer)
{
	for (size_t i = 0; i < r->n_members; i++) {
		if (r->members[i] == r->id)
			continue;
		struct cairn_raft_msg m = {
			.type = type,
			.to = r->members[i],
			.term = term,
			.last_log_index = raft_log_last_index(&r->log),
			.last_log_term = raft_log_last_term(&r->log),
			.transfer = transfer,
		};
		raft_send(r, &m);
	}
}

/* Thesis §9.6: ask whether we could win before disturbing anyone's term. */
void raft_become_pre_candidate(struct cairn_raft *r)
{
	assert(r->role != CAIRN_RAFT_LEADER);
	r->role = CAIRN_RAFT_PRE_CANDIDATE;
	r->step = raft_step_candidate;
	r->tick = raft_tick_candidate;
	r->leader = CAIRN_RAFT_NONE;
	raft_reset_election_timer(r);
	reset_votes(r);
	if (won(r)) {
		raft_become_candidate(r, false);
		return;
	}
	request_votes(r, CAIRN_RAFT_MSG_PREVOTE, r->term + 1, false);
}

/* Figure 2, Candidates: increment term, vote for self, ask everyone. */
void raft_become_candidate(struct cairn_raft *r, bool transfer)
{
	assert(r->role != CAIRN_RAFT_LEADER);
	assert(r->term < CAIRN_RAFT_TERM_MAX);
	r->term++;
	r->vote = r->id;
	r->role = CAIRN_RAFT_CANDIDATE;
	r->step = raft_step_candidate;
	r->tick = raft_tick_candidate;
	r->leader = CAIRN_RAFT_NONE;
	raft_reset_election_timer(r);
	reset_votes(r);
	if (won(r)) {
		raft_become_leader(r);
		return;
	}
	request_votes(r, CAIRN_RAFT_MSG_VOTE, r->term, transfer);
}

void raft_campaign(struct cairn_raft *r)
{
	if (r->term >= CAIRN_RAFT_TERM_MAX) {
		raft_reset_election_timer(r);
		return; /* terms are exhausted; never wrap (Figure 2) */
	}
	if (r->pre_vote)
		raft_become_pre_candidate(r);
	else
		raft_become_candidate(r, false);
}

/* Figure 2 RequestVote receiver, with pre-vote (thesis §9.6): grant only to
 * an up-to-date log, once per term for real votes, and a pre-vote only when
 * no leader was heard from within the election timeout. */
int raft_handle_vote_request(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	bool pre = m->type == CAIRN_RAFT_MSG_PREVOTE;
	assert(pre || m->term == r->term);
	bool can_vote = r->vote == m->from ||
			(r->vote == CAIRN_RAFT_NONE && r->leader == CAIRN_RAFT_NONE) ||
			(pre && m->term > r->term);
	if (pre && raft_in_lease(r))
		can_vote = false;
	bool grant = can_vote && raft_log_up_to_date(&r->log, m->last_log_index, m->last_log_term);
	struct cairn_raft_msg reply = {
		.type = pre ? CAIRN_RAFT_MSG_PREVOTE_REPLY : CAIRN_RAFT_MSG_VOTE_REPLY,
		.to = m->from,
		.term = grant ? m->term : r->term,
		.reject = !grant,
	};
	if (grant && !pre) {
		r->vote = m->from;
		raft_reset_election_timer(r);
	}
	raft_send(r, &reply);
	return 0;
}

static void tally(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	size_t slot = raft_slot(r, m->from);
	assert(slot < r->n_members);
	/* A grant names this campaign's term, so it always answers this
	 * campaign; a rejection carries the voter's term and could answer an
	 * older request, so it never overrides a grant. */
	if (!m->reject)
		r->votes[slot] = RAFT_VOTE_GRANTED;
	else if (r->votes[slot] == RAFT_VOTE_NONE)
		r->votes[slot] = RAFT_VOTE_REJECTED;
	size_t granted = 0;
	size_t rejected = 0;
	for (size_t i = 0; i < r->n_members; i++) {
		granted += r->votes[i] == RAFT_VOTE_GRANTED;
		rejected += r->votes[i] == RAFT_VOTE_REJECTED;
	}
	if (granted >= raft_quorum(r)) {
		if (r->role == CAIRN_RAFT_PRE_CANDIDATE)
			raft_become_candidate(r, false);
		else
			raft_become_leader(r);
	} else if (rejected >= raft_quorum(r)) {
		raft_become_follower(r, r->term, CAIRN_RAFT_NONE);
	}
}

int raft_step_candidate(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	assert(r->role == CAIRN_RAFT_PRE_CANDIDATE || r->role == CAIRN_RAFT_CANDIDATE);
	switch (m->type) {
	case CAIRN_RAFT_MSG_APPEND:
	case CAIRN_RAFT_MSG_HEARTBEAT:
	case CAIRN_RAFT_MSG_SNAPSHOT:
		/* A leader of our term exists (§5.2): follow it. Its message
		 * is the leader contact that restarts the election timer. */
		raft_become_follower(r, m->term, m->from);
		return raft_step_follower(r, m);
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		return raft_handle_vote_request(r, m);
	case CAIRN_RAFT_MSG_PREVOTE_REPLY:
		/* A yes carries the term we would campaign in; a no, the
		 * voter's own term, which equals ours here. */
		if (r->role == CAIRN_RAFT_PRE_CANDIDATE &&
		    m->term == (m->reject ? r->term : r->term + 1))
			tally(r, m);
		return 0;
	case CAIRN_RAFT_MSG_VOTE_REPLY:
		if (r->role == CAIRN_RAFT_CANDIDATE)
			tally(r, m);
		return 0;
	default:
		return 0;
	}
}

void raft_tick_candidate(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_PRE_CANDIDATE || r->role == CAIRN_RAFT_CANDIDATE);
	r->election_elapsed++;
	if (r->election_elapsed >= r->election_timeout)
		raft_campaign(r);
}
