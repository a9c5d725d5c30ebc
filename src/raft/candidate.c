/*
 * candidate.c - the pre-candidate and candidate roles (extended paper §5.2,
 * thesis §9.6 for pre-vote).
 *
 * A pre-candidate keeps its term and asks "would you vote for me at term + 1?";
 * only with a majority of yeses does it become a real candidate, bump its
 * term and ask for votes. So a member cut off from the cluster never inflates
 * its term and cannot disrupt a working leader when it comes back. Both roles
 * share this step function and tick; the reply type that counts depends on
 * the role.
 */
#include <assert.h>

#include "cairn/errors.h"
#include "raft/internal.h"

static void tally(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	size_t slot = raft_slot(r, m->from);
	assert(slot < r->n_members);
	if (r->votes[slot] == RAFT_VOTE_NONE)
		r->votes[slot] = m->reject ? RAFT_VOTE_REJECTED : RAFT_VOTE_GRANTED;
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
		/* A leader of our term exists (§5.2): follow it. */
		raft_become_follower(r, m->term, m->from);
		return raft_handle_append(r, m);
	case CAIRN_RAFT_MSG_HEARTBEAT:
		raft_become_follower(r, m->term, m->from);
		raft_handle_heartbeat(r, m);
		return 0;
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
