/*
 * check.c - the simulator's safety checker.
 *
 * Every function here looks at one step (an entry entering a log, an entry
 * applied, a status after a step, a message leaving a member) and compares it
 * with what the run has shown so far, so each check costs O(1) or O(members)
 * and can run after every step. Log matching is checked by induction: for
 * each (index, term) ever seen in any log, the payload and the term before it
 * must always be the same, which makes equal (index, term) imply equal
 * prefixes. "Committed" means what some leader's commit index acknowledged.
 * A member that installed a snapshot holds no entries up to its log's base:
 * checks that compare entries look only at indexes both sides hold, and
 * the installed state itself must be a prefix of the one applied history.
 */
#include "sim.h"

#include "cairn/limits.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void *grow(void *p, uint64_t *cap, uint64_t need, size_t elem_bytes)
{
	if (need <= *cap)
		return p;
	uint64_t cap_new = *cap ? *cap : 64;
	while (cap_new < need)
		cap_new *= 2;
	p = realloc(p, cap_new * elem_bytes);
	assert(p != NULL);
	memset((char *)p + *cap * elem_bytes, 0, (cap_new - *cap) * elem_bytes);
	*cap = cap_new;
	return p;
}

static bool same(struct sim_entry a, struct sim_entry b)
{
	return a.term == b.term && a.pid == b.pid && a.type == b.type;
}

uint64_t sim_log_term(const struct sim_log *l, uint64_t index)
{
	if (index == l->base)
		return l->base_term;
	if (index < l->base || index > l->len)
		return 0;
	return l->e[index - 1].term;
}

#define term_at sim_log_term

/* Whether l holds index as an entry (not compacted into a snapshot). */
static bool holds(const struct sim_log *l, uint64_t index)
{
	return index > l->base && index <= l->len;
}

void sim_log_rebase(struct sim_log *l, uint64_t index, uint64_t term)
{
	l->e = grow(l->e, &l->cap, index, sizeof(*l->e));
	l->len = index;
	l->base = index;
	l->base_term = term;
}

void sim_log_push(struct sim_log *l, struct sim_entry e)
{
	l->e = grow(l->e, &l->cap, l->len + 1, sizeof(*l->e));
	l->e[l->len++] = e;
}

void sim_log_free(struct sim_log *l)
{
	free(l->e);
	memset(l, 0, sizeof(*l));
}

void check_reset(struct sim_check *ck)
{
	for (uint64_t i = 0; i < ck->lm_cap; i++)
		ck->lm[i].n = 0;
	if (ck->terms_cap > 0) {
		memset(ck->leader_of_term, 0, ck->terms_cap * sizeof(*ck->leader_of_term));
		memset(ck->max_commit_of_term, 0, ck->terms_cap * sizeof(*ck->max_commit_of_term));
	}
	ck->committed.len = 0;
	ck->history.len = 0;
	ck->max_commit_seen = 0;
	ck->elections = 0;
}

void check_free(struct sim_check *ck)
{
	for (uint64_t i = 0; i < ck->lm_cap; i++)
		free(ck->lm[i].recs);
	free(ck->lm);
	free(ck->leader_of_term);
	free(ck->max_commit_of_term);
	free(ck->commit_term);
	sim_log_free(&ck->committed);
	sim_log_free(&ck->history);
	memset(ck, 0, sizeof(*ck));
}

static void ensure_term(struct sim_check *ck, uint64_t term)
{
	uint64_t cap = ck->terms_cap;
	ck->leader_of_term = grow(ck->leader_of_term, &cap, term + 1, sizeof(*ck->leader_of_term));
	cap = ck->terms_cap;
	ck->max_commit_of_term =
		grow(ck->max_commit_of_term, &cap, term + 1, sizeof(*ck->max_commit_of_term));
	ck->terms_cap = cap;
}

void check_log_entry(struct sim *s, struct sim_member *mb, uint64_t index, uint64_t prev_term,
		     struct sim_entry e)
{
	struct sim_check *ck = &s->ck;
	if (e.term < prev_term) {
		sim_fail(s, "log matching",
			 "m%llu: entry %llu has term %llu below the %llu before it",
			 (unsigned long long)mb->id, (unsigned long long)index,
			 (unsigned long long)e.term, (unsigned long long)prev_term);
		return;
	}
	ck->lm = grow(ck->lm, &ck->lm_cap, index + 1, sizeof(*ck->lm));
	struct sim_lm_slot *slot = &ck->lm[index];
	for (uint32_t i = 0; i < slot->n; i++) {
		struct sim_lm_rec *r = &slot->recs[i];
		if (r->term != e.term)
			continue;
		if (r->prev_term != prev_term || r->pid != e.pid || r->type != e.type)
			sim_fail(s, "log matching",
				 "m%llu: entry %llu/%llu (payload #%u, after term %llu) differs "
				 "from an earlier %llu/%llu (payload #%u, after term %llu)",
				 (unsigned long long)mb->id, (unsigned long long)index,
				 (unsigned long long)e.term, e.pid, (unsigned long long)prev_term,
				 (unsigned long long)index, (unsigned long long)r->term, r->pid,
				 (unsigned long long)r->prev_term);
		return;
	}
	if (slot->n == slot->cap) {
		uint64_t cap = slot->cap;
		slot->recs = grow(slot->recs, &cap, slot->n + 1, sizeof(*slot->recs));
		slot->cap = (uint32_t)cap;
	}
	slot->recs[slot->n++] = (struct sim_lm_rec){
		.term = e.term, .prev_term = prev_term, .pid = e.pid, .type = e.type};
}

/*
 * A member may lose its copy of a committed entry only while it has not yet
 * heard of the term that committed it: a stale leader (say of term 2) may
 * overwrite an entry that a leader of term 3 committed without this member
 * in its majority. Once the member is in the committing term or later, every
 * leader it accepts holds the entry (Leader Completeness), so replacing it
 * means the core broke Raft.
 */
void check_truncate(struct sim *s, struct sim_member *mb, uint64_t term, uint64_t index,
		    const struct sim_entry *new_ents, size_t n_new)
{
	const struct sim_log *old = &mb->log;
	const struct sim_log *c = &s->ck.committed;
	uint64_t k = index;
	for (size_t i = 0; k <= old->len && i < n_new; i++, k++) {
		if (!same(old->e[k - 1], new_ents[i]))
			break;
	}
	/* k is the first index whose entry goes away (log matching makes it
	 * enough to look at that one). */
	if (k > old->len || k > c->len || !same(old->e[k - 1], c->e[k - 1]))
		return;
	if (term >= s->ck.commit_term[k - 1])
		sim_fail(s, "committed entry lost",
			 "m%llu in term %llu replaces entry %llu/%llu (payload #%u), committed in "
			 "term %llu",
			 (unsigned long long)mb->id, (unsigned long long)term,
			 (unsigned long long)k, (unsigned long long)c->e[k - 1].term,
			 c->e[k - 1].pid, (unsigned long long)s->ck.commit_term[k - 1]);
}

void check_apply(struct sim *s, struct sim_member *mb, uint64_t index, struct sim_entry e)
{
	struct sim_check *ck = &s->ck;
	unsigned long long id = mb->id, i = index;
	if (index != mb->applied_seq.len + 1) {
		sim_fail(s, "state-machine safety", "m%llu applies %llu after %llu", id, i,
			 (unsigned long long)mb->applied_seq.len);
		return;
	}
	sim_log_push(&mb->applied_seq, e);
	if (index > ck->committed.len || !same(ck->committed.e[index - 1], e))
		sim_fail(s, "state-machine safety",
			 "m%llu applies %llu/%llu (payload #%u) that no leader committed", id, i,
			 (unsigned long long)e.term, e.pid);
	else if (!holds(&mb->durable, index) || !same(mb->durable.e[index - 1], e))
		sim_fail(s, "persist before apply", "m%llu applies %llu before it is durable there",
			 id, i);
	if (index <= ck->history.len) {
		struct sim_entry h = ck->history.e[index - 1];
		if (!same(h, e))
			sim_fail(s, "state-machine safety",
				 "m%llu applied %llu/%llu (payload #%u) where another member "
				 "applied %llu/%llu (payload #%u)",
				 id, i, (unsigned long long)e.term, e.pid, i,
				 (unsigned long long)h.term, h.pid);
	} else {
		assert(index == ck->history.len + 1);
		sim_log_push(&ck->history, e);
	}
}

/* A new leader must hold every entry committed by the leaders of earlier
 * terms (Leader Completeness, Figure 3). */
static void check_new_leader(struct sim *s, struct sim_member *mb, uint64_t term)
{
	struct sim_check *ck = &s->ck;
	uint64_t need = 0;
	for (uint64_t t = 0; t < term; t++)
		if (ck->max_commit_of_term[t] > need)
			need = ck->max_commit_of_term[t];
	if (need == 0)
		return;
	if (need <= mb->log.base)
		return; /* in its installed snapshot, checked by check_install */
	if (need > mb->log.len || !same(mb->log.e[need - 1], ck->committed.e[need - 1]))
		sim_fail(s, "leader completeness",
			 "m%llu leads term %llu without committed entry %llu/%llu",
			 (unsigned long long)mb->id, (unsigned long long)term,
			 (unsigned long long)need,
			 (unsigned long long)ck->committed.e[need - 1].term);
}

/* Entries up to commit became committed in term: every sitting leader of a
 * later term must hold them too. */
static void check_later_leaders(struct sim *s, uint64_t term, uint64_t commit)
{
	const struct sim_entry c = s->ck.committed.e[commit - 1];
	for (uint32_t i = 0; i < s->n; i++) {
		struct sim_member *o = &s->m[i];
		if (o->core == NULL || o->role != CAIRN_RAFT_LEADER || o->term <= term ||
		    commit <= o->log.base)
			continue;
		if (commit > o->log.len || !same(o->log.e[commit - 1], c))
			sim_fail(s, "leader completeness",
				 "entry %llu committed in term %llu is missing at m%llu, leader "
				 "of term %llu",
				 (unsigned long long)commit, (unsigned long long)term,
				 (unsigned long long)o->id, (unsigned long long)o->term);
	}
}

static void check_leader(struct sim *s, struct sim_member *mb, const struct cairn_raft_status *st)
{
	struct sim_check *ck = &s->ck;
	uint64_t t = st->term;
	ensure_term(ck, t);
	if (ck->leader_of_term[t] == 0) {
		ck->leader_of_term[t] = mb->id;
		ck->elections++;
		check_new_leader(s, mb, t);
	} else if (ck->leader_of_term[t] != mb->id) {
		sim_fail(s, "election safety", "m%llu and m%llu both lead term %llu",
			 (unsigned long long)ck->leader_of_term[t], (unsigned long long)mb->id,
			 (unsigned long long)t);
		return;
	}
	if (st->commit > mb->commit && mb->leader_commit_term == t && holds(&mb->log, st->commit) &&
	    mb->log.e[st->commit - 1].term != t)
		sim_fail(s, "commitment rule",
			 "m%llu, leader of term %llu, advanced commit to %llu of term %llu",
			 (unsigned long long)mb->id, (unsigned long long)t,
			 (unsigned long long)st->commit,
			 (unsigned long long)mb->log.e[st->commit - 1].term);
	mb->leader_commit_term = t;
	if (st->commit > mb->log.len)
		return; /* reported by check_status */
	if (st->commit > ck->committed.len) {
		ck->commit_term = grow(ck->commit_term, &ck->commit_term_cap, st->commit,
				       sizeof(*ck->commit_term));
		for (uint64_t i = ck->committed.len; i < st->commit; i++) {
			if (!holds(&mb->log, i + 1)) {
				sim_fail(s, "commit",
					 "m%llu, leader of term %llu, commits %llu, which it "
					 "got from a snapshot that was never committed",
					 (unsigned long long)mb->id, (unsigned long long)t,
					 (unsigned long long)i + 1);
				return;
			}
			ck->commit_term[i] = t;
			sim_log_push(&ck->committed, mb->log.e[i]);
		}
		check_later_leaders(s, t, st->commit);
	}
	if (st->commit > ck->max_commit_of_term[t])
		ck->max_commit_of_term[t] = st->commit;
}

static void check_status_shape(struct sim *s, struct sim_member *mb,
			       const struct cairn_raft_status *st)
{
	unsigned long long id = mb->id;
	if (st->id != mb->id)
		sim_fail(s, "core status", "m%llu reports id %llu", id, (unsigned long long)st->id);
	if (st->last_index != mb->log.len || st->last_term != term_at(&mb->log, mb->log.len))
		sim_fail(s, "core status",
			 "m%llu reports last %llu/%llu but its Ready stream built %llu/%llu", id,
			 (unsigned long long)st->last_index, (unsigned long long)st->last_term,
			 (unsigned long long)mb->log.len,
			 (unsigned long long)term_at(&mb->log, mb->log.len));
	if (st->applied != mb->applied_handed || st->applied > st->commit)
		sim_fail(s, "core status",
			 "m%llu reports applied %llu (handed out %llu), commit %llu", id,
			 (unsigned long long)st->applied, (unsigned long long)mb->applied_handed,
			 (unsigned long long)st->commit);
	if (st->first_index < mb->log.base + 1 || st->first_index > st->applied + 1 ||
	    st->first_index < mb->compacted + 1 || st->persisted_index + 1 < st->first_index)
		sim_fail(s, "core status",
			 "m%llu reports first index %llu (snapshot base %llu, compacted %llu, "
			 "applied %llu, persisted %llu)",
			 id, (unsigned long long)st->first_index, (unsigned long long)mb->log.base,
			 (unsigned long long)mb->compacted, (unsigned long long)st->applied,
			 (unsigned long long)st->persisted_index);
	if ((s->seq & 63) == 0 && !s->failed) { /* O(log): now and then */
		uint64_t bytes = 0;
		for (uint64_t i = st->first_index; i <= mb->log.len; i++)
			if (mb->log.e[i - 1].pid != 0)
				bytes += s->payloads[mb->log.e[i - 1].pid].len;
		if (bytes != st->log_bytes)
			sim_fail(s, "core status", "m%llu reports %llu log bytes, holds %llu", id,
				 (unsigned long long)st->log_bytes, (unsigned long long)bytes);
	}
	if (st->term < mb->term || st->term < mb->durable_hs.term)
		sim_fail(s, "term monotonic", "m%llu term went from %llu to %llu (durable %llu)",
			 id, (unsigned long long)mb->term, (unsigned long long)st->term,
			 (unsigned long long)mb->durable_hs.term);
	if (st->commit < mb->commit)
		sim_fail(s, "core status", "m%llu commit went back from %llu to %llu", id,
			 (unsigned long long)mb->commit, (unsigned long long)st->commit);
	if (st->commit > mb->log.len)
		sim_fail(s, "core status", "m%llu commit %llu beyond its last index %llu", id,
			 (unsigned long long)st->commit, (unsigned long long)mb->log.len);
	if (st->last_term > st->term)
		sim_fail(s, "core status", "m%llu in term %llu holds an entry of term %llu", id,
			 (unsigned long long)st->term, (unsigned long long)st->last_term);
}

/* A member that names a leader for its term names the one that won it. */
static void check_leader_hint(struct sim *s, struct sim_member *mb,
			      const struct cairn_raft_status *st)
{
	const struct sim_check *ck = &s->ck;
	if (st->leader == CAIRN_RAFT_NONE)
		return;
	uint64_t won = st->term < ck->terms_cap ? ck->leader_of_term[st->term] : 0;
	if (won != st->leader)
		sim_fail(s, "leader hint", "m%llu follows m%llu in term %llu, which m%llu won",
			 (unsigned long long)mb->id, (unsigned long long)st->leader,
			 (unsigned long long)st->term, (unsigned long long)won);
}

void check_commit_early(struct sim *s, struct sim_member *mb, const struct cairn_raft_status *st)
{
	if (st->role == CAIRN_RAFT_LEADER && st->term == mb->term && st->commit <= mb->log.len)
		check_leader(s, mb, st);
}

void check_status(struct sim *s, struct sim_member *mb, const struct cairn_raft_status *st)
{
	struct sim_check *ck = &s->ck;
	check_status_shape(s, mb, st);
	if (s->failed)
		return;
	if (st->role == CAIRN_RAFT_LEADER)
		check_leader(s, mb, st);
	check_leader_hint(s, mb, st);
	if (st->commit > ck->max_commit_seen)
		ck->max_commit_seen = st->commit;
	if (st->commit > ck->committed.len)
		sim_fail(s, "commit", "m%llu commit %llu beyond any leader's commit %llu",
			 (unsigned long long)mb->id, (unsigned long long)st->commit,
			 (unsigned long long)ck->committed.len);
	else if (st->commit > 0 && st->commit <= mb->log.base &&
		 mb->log.base_term != ck->committed.e[st->commit - 1].term)
		sim_fail(s, "commit",
			 "m%llu commit %llu at its snapshot of term %llu, committed %llu",
			 (unsigned long long)mb->id, (unsigned long long)st->commit,
			 (unsigned long long)mb->log.base_term,
			 (unsigned long long)ck->committed.e[st->commit - 1].term);
	else if (st->commit > mb->log.base &&
		 !same(mb->log.e[st->commit - 1], ck->committed.e[st->commit - 1]))
		sim_fail(s, "commit", "m%llu commit %llu names %llu/%llu, committed was %llu/%llu",
			 (unsigned long long)mb->id, (unsigned long long)st->commit,
			 (unsigned long long)st->commit,
			 (unsigned long long)mb->log.e[st->commit - 1].term,
			 (unsigned long long)st->commit,
			 (unsigned long long)ck->committed.e[st->commit - 1].term);
	mb->role = st->role;
	mb->term = st->term;
	mb->commit = st->commit;
}

/* An AppendEntries stays within the configured entry and byte limits (a
 * single entry over the byte limit goes out alone). */
static void check_flow_control(struct sim *s, struct sim_member *mb, const struct cairn_raft_msg *m)
{
	uint32_t ents_max =
		s->max_entries_per_msg ? s->max_entries_per_msg : CAIRN_APPEND_ENTRIES_MAX;
	uint32_t bytes_max = s->max_bytes_per_msg ? s->max_bytes_per_msg : CAIRN_APPEND_BYTES_MAX;
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < m->n_entries; i++)
		bytes += m->entries[i].len;
	if (m->n_entries > ents_max || (m->n_entries > 1 && bytes > bytes_max))
		sim_fail(s, "flow control",
			 "m%llu sends %u entries of %llu bytes; limits are %u entries, %u bytes",
			 (unsigned long long)mb->id, m->n_entries, (unsigned long long)bytes,
			 ents_max, bytes_max);
}

void check_msg_made(struct sim *s, struct sim_member *mb, struct sim_msg *sm)
{
	const struct cairn_raft_msg *m = &sm->m;
	unsigned long long id = mb->id;
	if (m->from != mb->id || m->to == 0 || m->to > s->n || m->to == m->from ||
	    m->type < CAIRN_RAFT_MSG_TYPE_MIN || m->type > CAIRN_RAFT_MSG_TYPE_MAX) {
		sim_fail(s, "message shape", "m%llu made type %u from %llu to %llu", id, m->type,
			 (unsigned long long)m->from, (unsigned long long)m->to);
		return;
	}
	if (m->type == CAIRN_RAFT_MSG_APPEND) {
		if (m->prev_index > mb->log.len || term_at(&mb->log, m->prev_index) != m->prev_term)
			sim_fail(s, "message shape", "m%llu sends prev %llu/%llu not in its log",
				 id, (unsigned long long)m->prev_index,
				 (unsigned long long)m->prev_term);
		for (uint32_t i = 0; i < m->n_entries && !s->failed; i++) {
			uint64_t idx = m->entries[i].index;
			if (idx != m->prev_index + 1 + i || idx > mb->log.len ||
			    mb->log.e[idx - 1].term != m->entries[i].term)
				sim_fail(s, "message shape",
					 "m%llu sends entry %llu/%llu not in its log", id,
					 (unsigned long long)idx,
					 (unsigned long long)m->entries[i].term);
		}
	}
	if (m->type == CAIRN_RAFT_MSG_APPEND)
		check_flow_control(s, mb, m);
	if (m->type == CAIRN_RAFT_MSG_SNAPSHOT && (m->prev_index != 0 || m->prev_term != 0))
		sim_fail(s, "message shape", "m%llu makes a SNAPSHOT with prev %llu/%llu", id,
			 (unsigned long long)m->prev_index, (unsigned long long)m->prev_term);
	sm->ack_log_term = UINT64_MAX;
	if (m->type == CAIRN_RAFT_MSG_APPEND_REPLY && !m->reject && m->index <= mb->log.len)
		sm->ack_log_term = term_at(&mb->log, m->index);
}

void check_send(struct sim *s, struct sim_member *mb, const struct sim_msg *sm)
{
	const struct cairn_raft_msg *m = &sm->m;
	const struct cairn_raft_hard_state *hs = &mb->durable_hs;
	unsigned long long id = mb->id, to = m->to, t = m->term;
	/* A granted vote, and a candidate's request (its vote for itself),
	 * must be durable before they leave; and one per term. */
	uint64_t voted_for = 0;
	if (m->type == CAIRN_RAFT_MSG_VOTE_REPLY && !m->reject)
		voted_for = m->to;
	if (m->type == CAIRN_RAFT_MSG_VOTE)
		voted_for = mb->id;
	if (voted_for != 0) {
		if (hs->term < m->term || (hs->term == m->term && hs->vote != voted_for))
			sim_fail(s, "persist before you speak",
				 "m%llu sends %s to m%llu (a vote for m%llu in term %llu); durable "
				 "is "
				 "term %llu vote %llu",
				 id, cairn_raft_msg_name(m->type), to,
				 (unsigned long long)voted_for, t, (unsigned long long)hs->term,
				 (unsigned long long)hs->vote);
		mb->vote_sent = grow(mb->vote_sent, &mb->vote_sent_cap, m->term + 1,
				     sizeof(*mb->vote_sent));
		if (mb->vote_sent[m->term] != 0 && mb->vote_sent[m->term] != voted_for)
			sim_fail(s, "one vote per term",
				 "m%llu voted for m%llu and m%llu in term %llu", id,
				 (unsigned long long)mb->vote_sent[m->term],
				 (unsigned long long)voted_for, t);
		mb->vote_sent[m->term] = voted_for;
	}
	/* An acknowledgement at or below what is already committed cannot
	 * change what the leader commits (raft.h lets a follower acknowledge
	 * its commit index for an APPEND that lies wholly below it). */
	if (m->type == CAIRN_RAFT_MSG_APPEND_REPLY && !m->reject &&
	    m->index > s->ck.committed.len) {
		if (m->index > mb->durable.len || m->index < mb->durable.base ||
		    term_at(&mb->durable, m->index) != sm->ack_log_term)
			sim_fail(
				s, "persist before you speak",
				"m%llu acknowledges %llu to m%llu (term %llu) but has %llu durable",
				id, (unsigned long long)m->index, to, t,
				(unsigned long long)mb->durable.len);
	}
}

void check_read(struct sim *s, struct sim_member *mb, const struct sim_read *rd)
{
	if (rd->index < rd->required)
		sim_fail(s, "linearizable read",
			 "m%llu confirms read %llu at index %llu, but %llu was committed when "
			 "it was asked",
			 (unsigned long long)mb->id, (unsigned long long)rd->ctx,
			 (unsigned long long)rd->index, (unsigned long long)rd->required);
	else if (rd->index > s->ck.committed.len)
		sim_fail(s, "linearizable read",
			 "m%llu confirms read %llu at index %llu beyond any commit (%llu)",
			 (unsigned long long)mb->id, (unsigned long long)rd->ctx,
			 (unsigned long long)rd->index, (unsigned long long)s->ck.committed.len);
}

void check_durable_majority(struct sim *s)
{
	const struct sim_log *c = &s->ck.committed;
	if (c->len == 0)
		return;
	uint32_t holders = 0;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct sim_log *d = &s->m[i].durable;
		if (c->len <= d->base ||
		    (holds(d, c->len) && same(d->e[c->len - 1], c->e[c->len - 1])))
			holders++;
	}
	if (holders < sim_quorum(s))
		sim_fail(s, "committed entry lost",
			 "committed entry %llu/%llu is durable on only %u of %u members",
			 (unsigned long long)c->len, (unsigned long long)c->e[c->len - 1].term,
			 holders, s->n);
}

void check_final(struct sim *s)
{
	const struct sim_log *h = &s->ck.history;
	if (h->len > s->ck.committed.len)
		sim_fail(s, "state-machine safety", "history of %llu beyond commit %llu",
			 (unsigned long long)h->len, (unsigned long long)s->ck.committed.len);
	for (uint32_t i = 0; i < s->n && !s->failed; i++) {
		const struct sim_log *a = &s->m[i].applied_seq;
		for (uint64_t k = 0; k < a->len; k++) {
			if (k >= h->len || !same(a->e[k], h->e[k])) {
				sim_fail(s, "state-machine safety",
					 "m%u applied sequence leaves the history at %llu", i + 1,
					 (unsigned long long)k + 1);
				break;
			}
		}
	}
}

void check_install(struct sim *s, struct sim_member *mb, uint64_t index, uint64_t term,
		   const struct sim_entry *state)
{
	const struct sim_check *ck = &s->ck;
	unsigned long long id = mb->id;
	if (index > ck->committed.len || ck->committed.e[index - 1].term != term) {
		sim_fail(s, "snapshot", "m%llu installs a snapshot at %llu/%llu, not committed", id,
			 (unsigned long long)index, (unsigned long long)term);
		return;
	}
	if (index <= mb->applied_seq.len) {
		sim_fail(s, "snapshot", "m%llu installs a snapshot at %llu, already applied %llu",
			 id, (unsigned long long)index, (unsigned long long)mb->applied_seq.len);
		return;
	}
	/* The state at index must be what every member applied through
	 * index: the sender's history, and so the one history. */
	for (uint64_t k = 0; k < index; k++) {
		if (k >= ck->history.len || !same(state[k], ck->history.e[k])) {
			sim_fail(s, "state-machine safety",
				 "m%llu installs a snapshot through %llu that leaves the applied "
				 "history at %llu",
				 id, (unsigned long long)index, (unsigned long long)k + 1);
			return;
		}
	}
}
