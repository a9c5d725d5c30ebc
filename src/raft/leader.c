/*
 * leader.c - the leader role: log replication with flow control and
 * pipelining, heartbeats, commitment, check-quorum, ReadIndex and
 * leadership transfer (extended paper §5.3-§5.4 and Figure 8; thesis §3.10,
 * §6.4, §9.6).
 *
 * Commit advances to the highest index a majority holds durably, and only
 * when that entry is of the current term (Figure 8): earlier entries are
 * committed indirectly. The leader's own log counts only through the index
 * the caller reported persisted. Each new leader appends a no-op so it can
 * commit, learn the commit index, and start serving reads.
 *
 * A follower that needs an entry compacted away (at or before the log's
 * prev_index) gets a SNAPSHOT request instead (Figure 13); the caller
 * fills in the state it sends. Until that follower acknowledges it, no
 * entries go there; a transfer that failed or took an election timeout is
 * asked for again after the follower's next heartbeat answer, and one
 * answered below what we compacted meanwhile at once.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "raft/internal.h"

static struct raft_progress *self_pr(struct cairn_raft *r)
{
	return &r->prs[raft_slot(r, r->id)];
}

/* Send pr one AppendEntries from pr->next, bounded by entries and bytes per
 * message (a single entry over the byte bound goes alone). With allow_empty
 * a message goes out even with nothing new (a probe or commit carrier).
 * Returns whether a message went out. */
static bool send_append(struct cairn_raft *r, struct raft_progress *pr, bool allow_empty)
{
	assert(pr->id != r->id);
	if (raft_progress_paused(pr))
		return false;
	const struct raft_log *l = &r->log;
	uint64_t last = raft_log_last_index(l);
	uint64_t prev = pr->next - 1;
	uint64_t prev_term = 0;
	if (!raft_log_term(l, prev, &prev_term)) {
		/* Compacted away: the follower needs the state machine. */
		assert(prev < l->prev_index);
		struct cairn_raft_msg m = {
			.type = CAIRN_RAFT_MSG_SNAPSHOT,
			.to = pr->id,
			.term = r->term,
			.commit = l->commit,
		};
		raft_send(r, &m);
		raft_progress_become_snapshot(pr, l->prev_index);
		return true;
	}
	uint32_t n = 0;
	uint64_t bytes = 0;
	for (uint64_t i = pr->next; i <= last && n < r->max_entries_per_msg; i++) {
		uint32_t len = raft_log_entry(l, i)->len;
		if (n > 0 && bytes + len > r->max_bytes_per_msg)
			break;
		bytes += len;
		n++;
	}
	if (n == 0 && !allow_empty)
		return false;
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_APPEND,
		.to = pr->id,
		.term = r->term,
		.prev_index = prev,
		.prev_term = prev_term,
		.commit = l->commit,
		.n_entries = n,
	};
	raft_send(r, &m);
	raft_progress_sent(pr, prev + n, n);
	pr->commit_sent = l->commit < prev + n ? l->commit : prev + n;
	return true;
}

/* Fill pr's window with whatever it lacks. */
static void send_all(struct cairn_raft *r, struct raft_progress *pr)
{
	while (send_append(r, pr, false)) {
	}
}

/* The commit index pr could learn from a heartbeat now. */
static uint64_t commit_for(const struct cairn_raft *r, const struct raft_progress *pr)
{
	return pr->match < r->log.commit ? pr->match : r->log.commit;
}

/* A heartbeat tells a follower the commit index only as far as it is known
 * to hold the log (§5.3: it must never commit past what matches), and the
 * ReadIndex round in progress. Its answer needs no disk write on the
 * follower, unlike an AppendEntries acknowledgement. */
static void send_heartbeat(struct cairn_raft *r, struct raft_progress *pr)
{
	assert(pr->id != r->id);
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_HEARTBEAT,
		.to = pr->id,
		.term = r->term,
		.commit = commit_for(r, pr),
		.read_seq = r->read_seq,
	};
	raft_send(r, &m);
	pr->commit_sent = m.commit;
}

/* Entries pr lacks; else, if the commit index moved since pr was last told,
 * a heartbeat carrying it (so followers apply without waiting for the
 * heartbeat tick, and without a disk write for an empty AppendEntries). */
static void send_updates(struct cairn_raft *r, struct raft_progress *pr)
{
	bool sent = false;
	while (send_append(r, pr, false))
		sent = true;
	if (!sent && commit_for(r, pr) > pr->commit_sent)
		send_heartbeat(r, pr);
}

static void broadcast_append(struct cairn_raft *r)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i] != r->id)
			send_all(r, &r->prs[i]);
}

static void broadcast_heartbeat(struct cairn_raft *r)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i] != r->id)
			send_heartbeat(r, &r->prs[i]);
}

static void send_timeout_now(struct cairn_raft *r, uint64_t to)
{
	struct cairn_raft_msg m = {.type = CAIRN_RAFT_MSG_TIMEOUT_NOW, .to = to, .term = r->term};
	raft_send(r, &m);
}

/* The quorum-th largest of values (the largest value a majority reaches). */
static uint64_t quorum_value(const struct cairn_raft *r, uint64_t *values)
{
	size_t n = r->n_members;
	for (size_t i = 1; i < n; i++) { /* insertion sort, descending */
		uint64_t v = values[i];
		size_t j = i;
		for (; j > 0 && values[j - 1] < v; j--)
			values[j] = values[j - 1];
		values[j] = v;
	}
	return values[raft_quorum(r) - 1];
}

/* ---- ReadIndex (thesis §6.4) -------------------------------------------- */

void raft_drop_reads(struct cairn_raft *r)
{
	/* Capacity for this was reserved when each read was accepted. */
	assert(r->n_reads_dropped + r->n_reads_wait <= r->cap_reads_dropped ||
	       r->n_reads_wait == 0);
	for (size_t i = 0; i < r->n_reads_wait; i++)
		r->reads_dropped[r->n_reads_dropped++] = r->reads_wait[i].ctx;
	r->n_reads_wait = 0;
	r->read_round_pending = false;
}

/* Confirm every waiting read whose round a majority has answered. */
static void confirm_reads(struct cairn_raft *r)
{
	uint64_t acks[CAIRN_MEMBERS_MAX];
	for (size_t i = 0; i < r->n_members; i++)
		acks[i] = r->prs[i].read_ack;
	uint64_t confirmed = quorum_value(r, acks);
	size_t kept = 0;
	for (size_t i = 0; i < r->n_reads_wait; i++) {
		struct raft_read_wait *w = &r->reads_wait[i];
		if (w->seq != 0 && w->seq <= confirmed) {
			assert(r->n_reads_done < r->cap_reads_done);
			r->reads_done[r->n_reads_done++] =
				(struct cairn_raft_read){.ctx = w->ctx, .index = w->index};
		} else {
			r->reads_wait[kept++] = *w;
		}
	}
	r->n_reads_wait = kept;
}

/* One heartbeat round for every read that came in since the last Ready. */
static void start_read_round(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	assert(r->committed_in_term);
	r->read_round_pending = false;
	r->read_seq++;
	self_pr(r)->read_ack = r->read_seq;
	broadcast_heartbeat(r);
	confirm_reads(r);
}

/* The first commit of our term: reads that waited for it get their read
 * point now. */
static void release_reads(struct cairn_raft *r)
{
	for (size_t i = 0; i < r->n_reads_wait; i++) {
		struct raft_read_wait *w = &r->reads_wait[i];
		if (w->seq == 0) {
			w->index = r->log.commit;
			w->seq = r->read_seq + 1;
			r->read_round_pending = true;
		}
	}
}

static int reserve_reads(struct cairn_raft *r)
{
	size_t need = r->n_reads_wait + r->n_reads_done + r->n_reads_dropped + 1;
	if (need > CAIRN_READS_PENDING_MAX)
		return CAIRN_EFULL;
	struct {
		void **p;
		size_t *cap;
		size_t size;
	} arrays[] = {
		{(void **)&r->reads_wait, &r->cap_reads_wait, sizeof(*r->reads_wait)},
		{(void **)&r->reads_done, &r->cap_reads_done, sizeof(*r->reads_done)},
		{(void **)&r->reads_dropped, &r->cap_reads_dropped, sizeof(*r->reads_dropped)},
	};
	for (size_t i = 0; i < 3; i++) {
		if (*arrays[i].cap >= need)
			continue;
		size_t cap = need < 16 ? 16 : need * 2;
		if (cap > CAIRN_READS_PENDING_MAX)
			cap = CAIRN_READS_PENDING_MAX;
		void *p = realloc(*arrays[i].p, cap * arrays[i].size);
		if (p == NULL)
			return CAIRN_ENOMEM;
		*arrays[i].p = p;
		*arrays[i].cap = cap;
	}
	return 0;
}

int raft_leader_read_index(struct cairn_raft *r, uint64_t ctx)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	int rv = reserve_reads(r);
	if (rv != 0)
		return rv;
	struct raft_read_wait w = {.ctx = ctx};
	if (r->committed_in_term) {
		w.index = r->log.commit;
		w.seq = r->read_seq + 1;
		r->read_round_pending = true;
	}
	r->reads_wait[r->n_reads_wait++] = w;
	return 0;
}

/* ---- commitment --------------------------------------------------------- */

static void maybe_commit(struct cairn_raft *r)
{
	uint64_t matches[CAIRN_MEMBERS_MAX];
	for (size_t i = 0; i < r->n_members; i++)
		matches[i] = r->prs[i].match;
	uint64_t index = quorum_value(r, matches);
	uint64_t term = 0;
	if (index <= r->log.commit || !raft_log_term(&r->log, index, &term))
		return;
	if (term != r->term)
		return; /* Figure 8: never commit an older term by counting */
	raft_log_commit_to(&r->log, index);
	if (!r->committed_in_term) {
		r->committed_in_term = true;
		release_reads(r);
	}
}

void raft_leader_persisted(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	struct raft_progress *pr = self_pr(r);
	assert(r->log.persisted >= pr->match);
	pr->match = r->log.persisted;
	pr->next = pr->match + 1;
	maybe_commit(r);
}

/* ---- becoming leader, proposing, transferring -------------------------- */

/* The no-op lets this term commit (and so commit all before it, and start
 * serving reads). Without memory for it, the leader tick tries again. */
static void append_noop(struct cairn_raft *r)
{
	if (raft_log_last_term(&r->log) == r->term)
		return;
	if (raft_log_append(&r->log, r->term, CAIRN_RAFT_ENTRY_NOOP, NULL, 0) == 0)
		r->append_pending = true;
}

void raft_become_leader(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_CANDIDATE);
	assert(r->vote == r->id);
	r->role = CAIRN_RAFT_LEADER;
	r->step = raft_step_leader;
	r->tick = raft_tick_leader;
	r->leader = r->id;
	raft_leader_start(r);
}

void raft_leader_start(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	uint64_t last = raft_log_last_index(&r->log);
	for (size_t i = 0; i < r->n_members; i++)
		raft_progress_init(&r->prs[i], r->members[i], last + 1, r->max_inflight_msgs);
	struct raft_progress *self = self_pr(r);
	self->match = r->log.persisted;
	self->next = self->match + 1;
	self->active = true;
	self->state = RAFT_PR_REPLICATE;
	r->committed_in_term = false;
	r->transfer_target = CAIRN_RAFT_NONE;
	r->read_round_pending = false;
	r->append_pending = false;
	r->heartbeat_elapsed = 0;
	r->election_elapsed = 0;
	assert(r->n_reads_wait == 0);
	append_noop(r);
	broadcast_append(r);
}

int raft_leader_propose(struct cairn_raft *r, const void *data, uint32_t len, uint64_t *index)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	if (r->transfer_target != CAIRN_RAFT_NONE)
		return CAIRN_ENOTLEADER;
	if (raft_log_last_index(&r->log) - r->log.applied >= CAIRN_PROPOSALS_PENDING_MAX)
		return CAIRN_EFULL;
	int rv = raft_log_append(&r->log, r->term, CAIRN_RAFT_ENTRY_NORMAL, data, len);
	if (rv != 0)
		return rv;
	if (index != NULL)
		*index = raft_log_last_index(&r->log);
	r->append_pending = true; /* one AppendEntries per peer per Ready */
	return 0;
}

/* Called when a Ready is built: new entries go to every follower in one
 * batch, and a commit index that moved travels with them (or alone, in an
 * empty AppendEntries) so followers apply without waiting for a heartbeat. */
void raft_leader_flush(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i] != r->id)
			send_updates(r, &r->prs[i]);
	r->append_pending = false;
	if (r->read_round_pending)
		start_read_round(r);
}

int raft_leader_transfer(struct cairn_raft *r, uint64_t target)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	if (target == CAIRN_RAFT_NONE) {
		const struct raft_progress *best = NULL;
		for (size_t i = 0; i < r->n_members; i++) {
			const struct raft_progress *pr = &r->prs[i];
			if (pr->id != r->id && (best == NULL || pr->match > best->match))
				best = pr;
		}
		if (best == NULL)
			return CAIRN_EUNAVAIL; /* a cluster of one */
		target = best->id;
	}
	size_t slot = raft_slot(r, target);
	if (target == r->id || slot == r->n_members)
		return CAIRN_EINVAL;
	r->transfer_target = target;
	r->transfer_elapsed = 0;
	struct raft_progress *pr = &r->prs[slot];
	if (pr->match == raft_log_last_index(&r->log))
		send_timeout_now(r, target);
	else
		send_all(r, pr);
	return 0;
}

/* ---- replies ------------------------------------------------------------ */

/* Where to resume after a reject, from the follower's hint (raft.h): skip
 * the whole conflicting term in one step. */
static uint64_t next_from_hint(const struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	if (m->hint_term == 0)
		return m->hint_index; /* the follower's log ends before */
	uint64_t i = raft_log_last_at_or_below_term(&r->log, m->index, m->hint_term);
	uint64_t term = 0;
	bool known = raft_log_term(&r->log, i, &term);
	assert(known);
	if (term == m->hint_term)
		return i + 1; /* we share that term: the logs likely match at i */
	return m->hint_index < i + 1 ? m->hint_index : i + 1;
}

static void handle_append_reply(struct cairn_raft *r, struct raft_progress *pr,
				const struct cairn_raft_msg *m)
{
	uint64_t last = raft_log_last_index(&r->log);
	if (m->reject) {
		if (m->index > last)
			return; /* about a longer log we had in an older term */
		uint64_t next = pr->next;
		if (!raft_progress_rejected(pr, m->index, next_from_hint(r, m)))
			return;
		if (pr->next == next) {
			/* Rejected at match: it lost entries it acknowledged
			 * (a disk that lies; outside Raft's model). Probing
			 * again at once would flood; wait for a heartbeat. */
			pr->probe_sent = true;
			return;
		}
		send_append(r, pr, true);
		return;
	}
	if (raft_progress_acked(pr, m->index))
		maybe_commit(r);
	if (pr->state == RAFT_PR_SNAPSHOT) {
		/* Resume once what follows match is still in our log. Below
		 * the log's start now but at or past where it started when
		 * we asked: this answers the snapshot, which we compacted
		 * past meanwhile; ask again at once. Below that it answers
		 * an older AppendEntries: keep waiting. */
		if (pr->match < r->log.prev_index) {
			if (pr->match >= pr->snapshot_floor) {
				raft_progress_become_probe(pr);
				send_append(r, pr, true);
			}
			return;
		}
		raft_progress_become_replicate(pr);
	}
	if (r->transfer_target == pr->id && pr->match == last) {
		send_timeout_now(r, pr->id);
		return;
	}
	send_updates(r, pr);
}

static void handle_heartbeat_reply(struct cairn_raft *r, struct raft_progress *pr,
				   const struct cairn_raft_msg *m)
{
	raft_progress_heartbeat_acked(pr);
	if (pr->match < raft_log_last_index(&r->log))
		send_append(r, pr, true);
	if (m->read_seq > pr->read_ack && m->read_seq <= r->read_seq) {
		pr->read_ack = m->read_seq;
		confirm_reads(r);
	}
}

int raft_step_leader(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	struct raft_progress *pr = &r->prs[raft_slot(r, m->from)];
	switch (m->type) {
	case CAIRN_RAFT_MSG_APPEND_REPLY:
		/* We never sent what this would acknowledge. A rejection that
		 * far out is an answer to an APPEND we sent as leader of an
		 * earlier term, and is handled (ignored) below. */
		if (!m->reject && m->index > raft_log_last_index(&r->log))
			return CAIRN_EINVAL;
		pr->active = true;
		handle_append_reply(r, pr, m);
		return 0;
	case CAIRN_RAFT_MSG_HEARTBEAT_REPLY:
		pr->active = true;
		handle_heartbeat_reply(r, pr, m);
		return 0;
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		return raft_handle_vote_request(r, m);
	default:
		return 0; /* stale replies; no other leader exists in our term */
	}
}

/* Check-quorum (thesis §6.2): a leader cut off from a majority stops
 * acting as one, so clients go find the real leader. */
static bool quorum_active(struct cairn_raft *r)
{
	size_t active = 0;
	for (size_t i = 0; i < r->n_members; i++) {
		active += r->prs[i].active;
		if (r->members[i] != r->id)
			r->prs[i].active = false;
	}
	return active >= raft_quorum(r);
}

void raft_tick_leader(struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	append_noop(r);
	r->heartbeat_elapsed++;
	r->election_elapsed++;
	if (r->transfer_target != CAIRN_RAFT_NONE && ++r->transfer_elapsed >= r->election_ticks)
		r->transfer_target = CAIRN_RAFT_NONE; /* abandoned (thesis §3.10) */
	if (r->election_elapsed >= r->election_ticks) {
		r->election_elapsed = 0;
		if (r->check_quorum && !quorum_active(r)) {
			raft_become_follower(r, r->term, CAIRN_RAFT_NONE);
			return;
		}
	}
	for (size_t i = 0; i < r->n_members; i++) {
		struct raft_progress *pr = &r->prs[i];
		/* The SNAPSHOT or its answer may be lost: never wait forever. */
		if (pr->state == RAFT_PR_SNAPSHOT && ++pr->snapshot_elapsed >= r->election_ticks)
			raft_progress_snapshot_abort(pr);
	}
	if (r->heartbeat_elapsed >= r->heartbeat_ticks) {
		r->heartbeat_elapsed = 0;
		broadcast_heartbeat(r);
	}
}

void raft_leader_snapshot_failed(struct cairn_raft *r, uint64_t peer)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	size_t slot = raft_slot(r, peer);
	if (slot == r->n_members || peer == r->id)
		return;
	struct raft_progress *pr = &r->prs[slot];
	if (pr->state == RAFT_PR_SNAPSHOT)
		raft_progress_snapshot_abort(pr);
}

void raft_leader_check(const struct cairn_raft *r)
{
	assert(r->role == CAIRN_RAFT_LEADER);
	uint64_t last = raft_log_last_index(&r->log);
	for (size_t i = 0; i < r->n_members; i++) {
		const struct raft_progress *pr = &r->prs[i];
		raft_progress_check(pr);
		assert(pr->match <= last);
		assert(pr->next <= last + 1);
		/* Waiting for a snapshot only while what it lacks is gone. */
		assert(pr->state != RAFT_PR_SNAPSHOT || pr->match < r->log.prev_index);
	}
}
