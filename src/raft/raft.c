/*
 * raft.c - the Raft core's entry points: create/destroy and restore, the
 * term rules every message passes before its role sees it, the output
 * queues, and the Ready/Advance/persisted protocol (extended paper Figure 2 "Rules for
 * Servers"; thesis §3.4, §9.6 for pre-vote, §6.4 for reads).
 *
 * Every message first meets the term rules here: a higher term makes this
 * member a follower (except a pre-vote, which never moves terms, and a vote
 * arriving while a leader is known and check-quorum is on); a lower term is
 * answered with our term so a stale member catches up, then dropped. What
 * is left goes to the current role's step function.
 *
 * Compaction (cairn_raft_compact) drops the log's prefix that the caller's
 * state machine holds durably; a SNAPSHOT installed on a follower is
 * handed to the caller in the next Ready (extended paper §7, Figure 13).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "raft/internal.h"

const char *cairn_raft_role_name(enum cairn_raft_role role)
{
	switch (role) {
	case CAIRN_RAFT_FOLLOWER:
		return "follower";
	case CAIRN_RAFT_PRE_CANDIDATE:
		return "pre-candidate";
	case CAIRN_RAFT_CANDIDATE:
		return "candidate";
	case CAIRN_RAFT_LEADER:
		return "leader";
	}
	return "unknown";
}

const char *cairn_raft_msg_name(int type)
{
	static const char *const names[] = {
		[CAIRN_RAFT_MSG_PREVOTE] = "prevote",
		[CAIRN_RAFT_MSG_PREVOTE_REPLY] = "prevote-reply",
		[CAIRN_RAFT_MSG_VOTE] = "vote",
		[CAIRN_RAFT_MSG_VOTE_REPLY] = "vote-reply",
		[CAIRN_RAFT_MSG_APPEND] = "append",
		[CAIRN_RAFT_MSG_APPEND_REPLY] = "append-reply",
		[CAIRN_RAFT_MSG_HEARTBEAT] = "heartbeat",
		[CAIRN_RAFT_MSG_HEARTBEAT_REPLY] = "heartbeat-reply",
		[CAIRN_RAFT_MSG_TIMEOUT_NOW] = "timeout-now",
		[CAIRN_RAFT_MSG_SNAPSHOT] = "snapshot",
	};
	if (type < CAIRN_RAFT_MSG_TYPE_MIN || type > CAIRN_RAFT_MSG_TYPE_MAX)
		return "unknown";
	return names[type];
}

size_t raft_slot(const struct cairn_raft *r, uint64_t id)
{
	for (size_t i = 0; i < r->n_members; i++)
		if (r->members[i] == id)
			return i;
	return r->n_members;
}

size_t raft_quorum(const struct cairn_raft *r)
{
	return r->n_members / 2 + 1;
}

/* ---- configuration and restore ---------------------------------------- */

static int check_config(const struct cairn_raft_config *cfg)
{
	if (cfg->n_members < 1 || cfg->n_members > CAIRN_MEMBERS_MAX || cfg->members == NULL)
		return CAIRN_EINVAL;
	bool self = false;
	for (size_t i = 0; i < cfg->n_members; i++) {
		uint64_t id = cfg->members[i];
		if (id == CAIRN_RAFT_NONE || id > CAIRN_NODE_ID_MAX)
			return CAIRN_EINVAL;
		for (size_t j = 0; j < i; j++)
			if (cfg->members[j] == id)
				return CAIRN_EINVAL;
		self = self || id == cfg->id;
	}
	if (!self)
		return CAIRN_EINVAL;
	if (cfg->heartbeat_ticks < 1 || cfg->election_ticks <= cfg->heartbeat_ticks ||
	    cfg->election_ticks > UINT32_MAX / 2)
		return CAIRN_EINVAL;
	if (cfg->max_entries_per_msg > CAIRN_APPEND_ENTRIES_MAX ||
	    cfg->max_bytes_per_msg > CAIRN_APPEND_BYTES_MAX ||
	    cfg->max_inflight_msgs > CAIRN_INFLIGHT_MSGS_MAX)
		return CAIRN_EINVAL;
	return 0;
}

static bool entry_ok(const struct cairn_raft_entry *e)
{
	if (e->type != CAIRN_RAFT_ENTRY_NOOP && e->type != CAIRN_RAFT_ENTRY_NORMAL)
		return false;
	if (e->len > CAIRN_ENTRY_BYTES_MAX)
		return false;
	return e->len == 0 || e->data != NULL;
}

static int check_restore(const struct cairn_raft *r, const struct cairn_raft_restore *rs)
{
	const struct cairn_raft_hard_state *hs = &rs->hard_state;
	if (hs->vote != CAIRN_RAFT_NONE && raft_slot(r, hs->vote) == r->n_members)
		return CAIRN_EINVAL;
	if (rs->n_log > 0 && rs->log == NULL)
		return CAIRN_EINVAL;
	if (hs->term > CAIRN_RAFT_TERM_MAX || rs->first_prev_term > hs->term)
		return CAIRN_EINVAL;
	if ((rs->first_prev_index == 0) != (rs->first_prev_term == 0))
		return CAIRN_EINVAL;
	uint64_t term = rs->first_prev_term;
	for (size_t i = 0; i < rs->n_log; i++) {
		const struct cairn_raft_entry *e = &rs->log[i];
		if (e->index != rs->first_prev_index + 1 + i || e->term < term ||
		    e->term > hs->term || e->term == 0 || !entry_ok(e))
			return CAIRN_EINVAL;
		term = e->term;
	}
	if (rs->applied < rs->first_prev_index || rs->applied > rs->first_prev_index + rs->n_log)
		return CAIRN_EINVAL;
	return 0;
}

static int restore(struct cairn_raft *r, const struct cairn_raft_restore *rs)
{
	int rv = check_restore(r, rs);
	if (rv != 0)
		return rv;
	raft_log_init(&r->log, rs->first_prev_index, rs->first_prev_term);
	for (size_t i = 0; i < rs->n_log; i++) {
		const struct cairn_raft_entry *e = &rs->log[i];
		rv = raft_log_append(&r->log, e->term, e->type, e->data, e->len);
		if (rv != 0)
			return rv;
	}
	uint64_t last = raft_log_last_index(&r->log);
	r->log.handed = last;
	r->log.persisted = last;
	/* commit is a hint that may lag what was applied; neither may pass
	 * the durable log. */
	uint64_t commit = rs->hard_state.commit;
	if (commit < rs->applied)
		commit = rs->applied;
	if (commit > last)
		commit = last;
	r->log.commit = commit;
	r->log.applied = rs->applied;
	r->term = rs->hard_state.term;
	r->vote = rs->hard_state.vote;
	raft_log_check(&r->log);
	return 0;
}

int cairn_raft_create(struct cairn_raft **out, const struct cairn_raft_config *cfg,
		      const struct cairn_raft_restore *rs)
{
	assert(out != NULL);
	if (cfg == NULL)
		return CAIRN_EINVAL;
	int rv = check_config(cfg);
	if (rv != 0)
		return rv;
	struct cairn_raft *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return CAIRN_ENOMEM;
	r->id = cfg->id;
	memcpy(r->members, cfg->members, cfg->n_members * sizeof(uint64_t));
	r->n_members = cfg->n_members;
	r->heartbeat_ticks = cfg->heartbeat_ticks;
	r->election_ticks = cfg->election_ticks;
	r->pre_vote = cfg->pre_vote;
	r->check_quorum = cfg->check_quorum;
	r->max_entries_per_msg =
		cfg->max_entries_per_msg ? cfg->max_entries_per_msg : CAIRN_APPEND_ENTRIES_MAX;
	r->max_bytes_per_msg =
		cfg->max_bytes_per_msg ? cfg->max_bytes_per_msg : CAIRN_APPEND_BYTES_MAX;
	r->max_inflight_msgs =
		cfg->max_inflight_msgs ? cfg->max_inflight_msgs : CAIRN_INFLIGHT_MSGS_MAX;
	cairn_rand_seed(&r->rng, cfg->seed);
	raft_log_init(&r->log, 0, 0);
	if (rs != NULL) {
		rv = restore(r, rs);
		if (rv != 0) {
			cairn_raft_destroy(r);
			return rv;
		}
	}
	r->hs_handed = (struct cairn_raft_hard_state){r->term, r->vote, r->log.commit};
	raft_become_follower(r, r->term, CAIRN_RAFT_NONE);
	raft_reset_election_timer(r);
	*out = r;
	return 0;
}

void cairn_raft_destroy(struct cairn_raft *r)
{
	if (r == NULL)
		return;
	raft_log_free(&r->log);
	free(r->out_now.msgs);
	free(r->out_now.last_term);
	free(r->out_after.msgs);
	free(r->out_after.last_term);
	free(r->reads_wait);
	free(r->reads_done);
	free(r->reads_dropped);
	free(r);
}

/* ---- sending ------------------------------------------------------------ */

/* Messages that promise something about durable state (a vote asked or
 * given, entries held) wait for the write of their Ready. */
static bool needs_persist(uint8_t type)
{
	return type == CAIRN_RAFT_MSG_VOTE || type == CAIRN_RAFT_MSG_VOTE_REPLY ||
	       type == CAIRN_RAFT_MSG_APPEND_REPLY;
}

static int msgq_push(struct raft_msgq *q, const struct cairn_raft_msg *m, uint64_t last_term)
{
	if (q->n == q->cap) {
		size_t cap = q->cap == 0 ? 16 : q->cap * 2;
		struct cairn_raft_msg *msgs = realloc(q->msgs, cap * sizeof(*msgs));
		if (msgs == NULL)
			return CAIRN_ENOMEM;
		q->msgs = msgs;
		uint64_t *terms = realloc(q->last_term, cap * sizeof(*terms));
		if (terms == NULL)
			return CAIRN_ENOMEM;
		q->last_term = terms;
		q->cap = cap;
	}
	q->msgs[q->n] = *m;
	q->msgs[q->n].entries = NULL;
	q->last_term[q->n] = last_term;
	q->n++;
	return 0;
}

/* Queue m for the next Ready. A message that cannot be queued for lack of
 * memory is dropped: Raft tolerates lost messages. */
void raft_send(struct cairn_raft *r, struct cairn_raft_msg *m)
{
	assert(m->to != r->id);
	assert(raft_slot(r, m->to) < r->n_members);
	m->from = r->id;
	uint64_t last_term = 0;
	if (m->type == CAIRN_RAFT_MSG_APPEND && m->n_entries > 0)
		last_term = raft_log_entry(&r->log, m->prev_index + m->n_entries)->term;
	struct raft_msgq *q = needs_persist(m->type) ? &r->out_after : &r->out_now;
	(void)msgq_push(q, m, last_term);
}

/* ---- timers ------------------------------------------------------------- */

void raft_reset_election_timer(struct cairn_raft *r)
{
	r->election_elapsed = 0;
	r->election_timeout = (uint32_t)cairn_rand_range(&r->rng, r->election_ticks,
							 2 * (uint64_t)r->election_ticks);
	assert(r->election_timeout >= r->election_ticks);
	assert(r->election_timeout < 2 * r->election_ticks);
}

/* Heard from a live leader within the minimum election timeout. */
bool raft_in_lease(const struct cairn_raft *r)
{
	return r->leader != CAIRN_RAFT_NONE && r->election_elapsed < r->election_ticks;
}

/* ---- step --------------------------------------------------------------- */

static int check_append(const struct cairn_raft_msg *m)
{
	if (m->n_entries > CAIRN_APPEND_ENTRIES_MAX || (m->n_entries > 0 && m->entries == NULL))
		return CAIRN_EINVAL;
	if (m->prev_term > m->term || m->prev_index > UINT64_MAX - CAIRN_APPEND_ENTRIES_MAX)
		return CAIRN_EINVAL;
	if (m->prev_index == 0 && m->prev_term != 0)
		return CAIRN_EINVAL;
	uint64_t term = m->prev_term;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		const struct cairn_raft_entry *e = &m->entries[i];
		if (e->index != m->prev_index + 1 + i || e->term < term || e->term > m->term ||
		    e->term == 0 || !entry_ok(e))
			return CAIRN_EINVAL;
		term = e->term;
	}
	return 0;
}

static int check_msg(const struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	if (m->type < CAIRN_RAFT_MSG_TYPE_MIN || m->type > CAIRN_RAFT_MSG_TYPE_MAX)
		return CAIRN_EINVAL;
	if (m->to != r->id || m->from == r->id || raft_slot(r, m->from) == r->n_members)
		return CAIRN_EINVAL;
	if (m->term > CAIRN_RAFT_TERM_MAX)
		return CAIRN_EINVAL;
	switch (m->type) {
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		return m->term == 0 || m->last_log_term > m->term ? CAIRN_EINVAL : 0;
	case CAIRN_RAFT_MSG_APPEND_REPLY:
		return m->hint_term > m->term ? CAIRN_EINVAL : 0;
	case CAIRN_RAFT_MSG_HEARTBEAT:
	case CAIRN_RAFT_MSG_TIMEOUT_NOW:
		return m->term == 0 ? CAIRN_EINVAL : 0;
	case CAIRN_RAFT_MSG_APPEND:
		return m->term == 0 ? CAIRN_EINVAL : check_append(m);
	case CAIRN_RAFT_MSG_SNAPSHOT:
		/* The state through prev_index >= 1, of a real term no later
		 * than the sender's; it carries no entries. */
		if (m->term == 0 || m->prev_index == 0 || m->prev_index > UINT64_MAX / 2 ||
		    m->prev_term == 0 || m->prev_term > m->term || m->n_entries != 0 ||
		    m->entries != NULL)
			return CAIRN_EINVAL;
		return 0;
	default:
		return 0;
	}
}

/* A message from an older term: tell its sender ours so a stale leader or
 * candidate steps down (Figure 2: "reply false if term < currentTerm"). */
static void answer_stale(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	struct cairn_raft_msg reply = {.to = m->from, .term = r->term, .reject = true};
	switch (m->type) {
	case CAIRN_RAFT_MSG_APPEND:
	case CAIRN_RAFT_MSG_SNAPSHOT:
		/* index 0: only the term is news; a leader must not take it
		 * for a rejection of its own probe (it may lead our term by
		 * the time this arrives). */
		reply.type = CAIRN_RAFT_MSG_APPEND_REPLY;
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT:
		reply.type = CAIRN_RAFT_MSG_HEARTBEAT_REPLY;
		break;
	case CAIRN_RAFT_MSG_PREVOTE:
		reply.type = CAIRN_RAFT_MSG_PREVOTE_REPLY;
		break;
	default:
		/* Stale replies and TIMEOUT_NOW are dropped, and so is a stale
		 * VOTE: a rejection carries our term, and the candidate, by
		 * then campaigning in that term, could not tell it from a
		 * refusal of its new request (etcd raft does the same). */
		return;
	}
	raft_send(r, &reply);
}

static bool from_leader(uint8_t type)
{
	return type == CAIRN_RAFT_MSG_APPEND || type == CAIRN_RAFT_MSG_HEARTBEAT ||
	       type == CAIRN_RAFT_MSG_TIMEOUT_NOW || type == CAIRN_RAFT_MSG_SNAPSHOT;
}

/* Figure 2 "All Servers": a higher term makes us a follower of it. Returns
 * false when the message is to be dropped instead. */
static bool higher_term(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	switch (m->type) {
	case CAIRN_RAFT_MSG_PREVOTE:
		return true; /* a pre-vote never moves our term */
	case CAIRN_RAFT_MSG_PREVOTE_REPLY:
		if (!m->reject)
			return true; /* carries the term we would campaign in */
		break;
	case CAIRN_RAFT_MSG_VOTE:
		/* Check-quorum's lease: while we hear from a leader, a vote
		 * request is disruption, not news (thesis §4.2.3), unless the
		 * leader itself asked for it by TIMEOUT_NOW. */
		if (r->check_quorum && raft_in_lease(r) && !m->transfer)
			return false;
		break;
	default:
		break;
	}
	raft_become_follower(r, m->term, from_leader(m->type) ? m->from : CAIRN_RAFT_NONE);
	return true;
}

int cairn_raft_step(struct cairn_raft *r, const struct cairn_raft_msg *m)
{
	assert(r != NULL);
	assert(!r->ready_out);
	if (m == NULL)
		return CAIRN_EINVAL;
	int rv = check_msg(r, m);
	if (rv != 0)
		return rv;
	if (m->term > r->term) {
		if (!higher_term(r, m))
			return 0;
	} else if (m->term < r->term) {
		answer_stale(r, m);
		return 0;
	}
	rv = r->step(r, m);
	raft_log_check(&r->log);
	assert(r->role != CAIRN_RAFT_LEADER || r->leader == r->id);
	if (r->role == CAIRN_RAFT_LEADER)
		raft_leader_check(r);
	return rv;
}

void cairn_raft_tick(struct cairn_raft *r)
{
	assert(r != NULL);
	assert(!r->ready_out);
	r->tick(r);
	if (r->role == CAIRN_RAFT_LEADER)
		raft_leader_check(r);
}

int cairn_raft_propose(struct cairn_raft *r, const void *data, uint32_t len, uint64_t *index)
{
	assert(r != NULL);
	assert(!r->ready_out);
	if (len > CAIRN_ENTRY_BYTES_MAX)
		return CAIRN_ETOOBIG;
	if (len > 0 && data == NULL)
		return CAIRN_EINVAL;
	if (r->role != CAIRN_RAFT_LEADER)
		return CAIRN_ENOTLEADER;
	return raft_leader_propose(r, data, len, index);
}

int cairn_raft_read_index(struct cairn_raft *r, uint64_t ctx)
{
	assert(r != NULL);
	assert(!r->ready_out);
	if (r->role != CAIRN_RAFT_LEADER)
		return CAIRN_ENOTLEADER;
	return raft_leader_read_index(r, ctx);
}

int cairn_raft_transfer_leadership(struct cairn_raft *r, uint64_t target)
{
	assert(r != NULL);
	assert(!r->ready_out);
	if (r->role != CAIRN_RAFT_LEADER)
		return CAIRN_ENOTLEADER;
	return raft_leader_transfer(r, target);
}

/* ---- Ready / Advance ---------------------------------------------------- */

static struct cairn_raft_hard_state hard_state(const struct cairn_raft *r)
{
	return (struct cairn_raft_hard_state){r->term, r->vote, r->log.commit};
}

static bool hs_equal(const struct cairn_raft_hard_state *a, const struct cairn_raft_hard_state *b)
{
	return a->term == b->term && a->vote == b->vote && a->commit == b->commit;
}

static uint64_t apply_limit(const struct cairn_raft *r)
{
	return r->log.commit < r->log.persisted ? r->log.commit : r->log.persisted;
}

bool cairn_raft_has_ready(const struct cairn_raft *r)
{
	assert(r != NULL);
	struct cairn_raft_hard_state hs = hard_state(r);
	return !hs_equal(&hs, &r->hs_handed) || raft_log_last_index(&r->log) > r->log.handed ||
	       r->out_now.n > 0 || r->out_after.n > 0 || r->n_reads_done > 0 ||
	       r->n_reads_dropped > 0 || apply_limit(r) > r->log.applied || r->read_round_pending ||
	       r->append_pending || r->snap_pending;
}

/* Point each queued APPEND at its entries, dropping one whose entries were
 * overwritten since it was queued, and an acknowledgement of an older term
 * (its entries may have been cut by the newer term's leader since). */
static void bind_entries(const struct cairn_raft *r, struct raft_msgq *q)
{
	size_t kept = 0;
	for (size_t i = 0; i < q->n; i++) {
		struct cairn_raft_msg *m = &q->msgs[i];
		if (m->type == CAIRN_RAFT_MSG_APPEND_REPLY && !m->reject && m->term < r->term)
			continue;
		if (m->type == CAIRN_RAFT_MSG_APPEND && m->n_entries > 0) {
			uint64_t last = m->prev_index + m->n_entries;
			uint64_t term = 0;
			if (!raft_log_term(&r->log, last, &term) || term != q->last_term[i] ||
			    m->prev_index < r->log.prev_index)
				continue;
			m->entries = raft_log_entry(&r->log, m->prev_index + 1);
		}
		q->msgs[kept] = *m;
		q->last_term[kept] = q->last_term[i];
		kept++;
	}
	q->n = kept;
}

void cairn_raft_ready(struct cairn_raft *r, struct cairn_raft_ready *rd)
{
	assert(r != NULL);
	assert(rd != NULL);
	assert(!r->ready_out);
	if (r->role == CAIRN_RAFT_LEADER)
		raft_leader_flush(r);
	memset(rd, 0, sizeof(*rd));
	struct raft_log *l = &r->log;
	rd->hard_state = hard_state(r);
	rd->has_hard_state = !hs_equal(&rd->hard_state, &r->hs_handed);
	uint64_t last = raft_log_last_index(l);
	if (last > l->handed) {
		rd->entries = raft_log_entry(l, l->handed + 1);
		rd->n_entries = last - l->handed;
	}
	bind_entries(r, &r->out_now);
	bind_entries(r, &r->out_after);
	rd->msgs = r->out_now.msgs;
	rd->n_msgs = r->out_now.n;
	rd->msgs_after_persist = r->out_after.msgs;
	rd->n_msgs_after_persist = r->out_after.n;
	uint64_t limit = apply_limit(r);
	if (limit > l->applied) {
		rd->committed = raft_log_entry(l, l->applied + 1);
		rd->n_committed = limit - l->applied;
	}
	rd->reads = r->reads_done;
	rd->n_reads = r->n_reads_done;
	rd->reads_dropped = r->reads_dropped;
	rd->n_reads_dropped = r->n_reads_dropped;
	rd->has_snapshot = r->snap_pending;
	rd->snapshot_index = r->snap_pending ? r->snap_index : 0;
	rd->snapshot_term = r->snap_pending ? r->snap_term : 0;
	r->ready_out = true;
	r->rd_handed = last;
	r->rd_applied = limit > l->applied ? limit : l->applied;
	r->rd_hs = rd->hard_state;
}

void cairn_raft_advance(struct cairn_raft *r, const struct cairn_raft_ready *rd)
{
	assert(r != NULL);
	assert(r->ready_out);
	assert(rd->n_msgs == r->out_now.n);
	assert(rd->n_msgs_after_persist == r->out_after.n);
	r->log.handed = r->rd_handed;
	r->log.applied = r->rd_applied;
	r->hs_handed = r->rd_hs;
	r->out_now.n = 0;
	r->out_after.n = 0;
	r->n_reads_done = 0;
	r->n_reads_dropped = 0;
	r->snap_pending = false;
	r->ready_out = false;
	raft_log_check(&r->log);
}

void cairn_raft_persisted(struct cairn_raft *r, uint64_t index, uint64_t term)
{
	assert(r != NULL);
	assert(!r->ready_out);
	if (raft_log_persisted(&r->log, index, term) && r->role == CAIRN_RAFT_LEADER)
		raft_leader_persisted(r);
}

void cairn_raft_status(const struct cairn_raft *r, struct cairn_raft_status *st)
{
	assert(r != NULL);
	memset(st, 0, sizeof(*st));
	st->id = r->id;
	st->role = r->role;
	st->term = r->term;
	st->vote = r->vote;
	st->leader = r->leader;
	st->commit = r->log.commit;
	st->applied = r->log.applied;
	st->last_index = raft_log_last_index(&r->log);
	st->last_term = raft_log_last_term(&r->log);
	st->persisted_index = r->log.persisted;
	st->first_index = r->log.prev_index + 1;
	st->log_bytes = r->log.bytes;
	if (r->role != CAIRN_RAFT_LEADER)
		return;
	for (size_t i = 0; i < r->n_members; i++) {
		const struct raft_progress *pr = &r->prs[i];
		st->progress[i] = (struct cairn_raft_progress){
			.id = r->members[i],
			.match = pr->match,
			.next = pr->next,
			.inflight = pr->infl.count,
			.active = pr->active,
			.snapshot = pr->state == RAFT_PR_SNAPSHOT,
		};
	}
	st->n_progress = r->n_members;
}

/* ---- compaction and snapshots ------------------------------------------- */

int cairn_raft_compact(struct cairn_raft *r, uint64_t index)
{
	assert(r != NULL);
	assert(!r->ready_out);
	struct raft_log *l = &r->log;
	if (index > l->applied || index > l->persisted)
		return CAIRN_EINVAL;
	if (index <= l->prev_index)
		return 0;
	raft_log_compact(l, index);
	if (r->role == CAIRN_RAFT_LEADER)
		raft_leader_check(r);
	return 0;
}

void cairn_raft_snapshot_failed(struct cairn_raft *r, uint64_t peer)
{
	assert(r != NULL);
	assert(!r->ready_out);
	if (r->role == CAIRN_RAFT_LEADER)
		raft_leader_snapshot_failed(r, peer);
}
