/*
 * member.c - one simulated member: a real core, its network card and its disk.
 *
 * After every input to a core the Ready loop is drained: entries join the
 * simulator's mirror of the core's log, messages are deep-copied (Ready
 * memory dies at advance) and sent through the simulated network, the hard
 * state, entries and msgs_after_persist go to the disk as one write that
 * completes in order after a random delay, committed entries are applied to
 * the state machine, and confirmed reads wait for the applied index. Only
 * completed writes are durable; a crash loses the rest (now and then all but
 * a prefix the disk had finished without the process hearing of it), and a
 * restart builds a new core from the durable log and hard state.
 *
 * Snapshots: members compact their logs now and then, keeping a few applied
 * entries. When a leader's core asks for a SNAPSHOT, its host sends the
 * state machine's state at an applied index (the applied sequence) through
 * the network like any message. The receiving host keeps it aside while it
 * steps the SNAPSHOT, and installs it through the disk in FIFO order with
 * its other writes: state machine and log change together once durable,
 * and committed entries handed out meanwhile are applied after it.
 */
#include "sim.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

/* ---- payloads ------------------------------------------------------------ */

static uint8_t *payload_bytes(struct sim *s, uint32_t len)
{
	assert(len <= SIM_CHUNK_BYTES);
	if (s->chunk_i < s->n_chunks && s->chunk_off + len > SIM_CHUNK_BYTES) {
		s->chunk_i++;
		s->chunk_off = 0;
	}
	if (s->chunk_i == s->n_chunks) {
		if (s->n_chunks == s->chunks_cap) {
			s->chunks_cap = s->chunks_cap ? 2 * s->chunks_cap : 16;
			s->chunks = realloc(s->chunks, s->chunks_cap * sizeof(*s->chunks));
			assert(s->chunks != NULL);
		}
		s->chunks[s->n_chunks] = malloc(SIM_CHUNK_BYTES);
		assert(s->chunks[s->n_chunks] != NULL);
		s->n_chunks++;
		s->chunk_off = 0;
	}
	uint8_t *p = s->chunks[s->chunk_i] + s->chunk_off;
	s->chunk_off += len;
	return p;
}

/* A new payload: 4 bytes of pid, then random filler; 8..64 bytes, now and
 * then 200..2000. */
uint32_t sim_payload_new(struct sim *s, bool marker)
{
	if (s->n_payloads + 1 >= s->payloads_cap) {
		s->payloads_cap = s->payloads_cap ? s->payloads_cap * 2 : 256;
		s->payloads = realloc(s->payloads, s->payloads_cap * sizeof(*s->payloads));
		assert(s->payloads != NULL);
	}
	uint32_t pid = ++s->n_payloads;
	struct sim_payload *p = &s->payloads[pid];
	p->len = 8 + (uint32_t)sim_draw(s, 57);
	if (sim_chance(s, 20000))
		p->len =
			200 + (uint32_t)sim_draw(s, 1800); /* over a small byte limit: goes alone */
	p->data = payload_bytes(s, p->len);
	p->marker = marker;
	for (uint32_t i = 0; i < 4; i++)
		p->data[i] = (uint8_t)(pid >> (8 * i));
	for (uint32_t i = 4; i < p->len; i++)
		p->data[i] = (uint8_t)sim_draw(s, 256);
	return pid;
}

/* The simulator's view of an entry a core handed out; false (and a
 * violation) when the payload is not one the simulator proposed. */
static bool entry_from_core(struct sim *s, const struct cairn_raft_entry *ce, struct sim_entry *out)
{
	*out = (struct sim_entry){.term = ce->term, .pid = 0, .type = ce->type};
	if (ce->type == CAIRN_RAFT_ENTRY_NOOP && ce->len == 0)
		return true;
	if (ce->type == CAIRN_RAFT_ENTRY_NORMAL && ce->len >= 4 && ce->data != NULL) {
		uint32_t pid = (uint32_t)ce->data[0] | (uint32_t)ce->data[1] << 8 |
			       (uint32_t)ce->data[2] << 16 | (uint32_t)ce->data[3] << 24;
		if (pid >= 1 && pid <= s->n_payloads && s->payloads[pid].len == ce->len &&
		    memcmp(s->payloads[pid].data, ce->data, ce->len) == 0) {
			out->pid = pid;
			return true;
		}
	}
	sim_fail(s, "payload integrity", "entry %llu/%llu type %u len %u is not what was proposed",
		 (unsigned long long)ce->index, (unsigned long long)ce->term, ce->type, ce->len);
	return false;
}

static struct cairn_raft_entry entry_to_core(const struct sim *s, uint64_t index,
					     struct sim_entry e)
{
	struct cairn_raft_entry ce = {.term = e.term, .index = index, .type = e.type};
	if (e.pid != 0) {
		ce.len = s->payloads[e.pid].len;
		ce.data = s->payloads[e.pid].data;
	}
	return ce;
}

/* ---- messages ------------------------------------------------------------ */

static struct sim_msg *msg_alloc(struct sim *s, uint32_t n_entries)
{
	struct sim_msg *sm = s->msg_free;
	if (sm != NULL)
		s->msg_free = sm->next;
	else
		sm = calloc(1, sizeof(*sm));
	assert(sm != NULL);
	sm->next = NULL;
	sm->snap_len = 0;
	if (n_entries > sm->ents_cap) {
		free(sm->ents);
		sm->ents = malloc(n_entries * sizeof(*sm->ents));
		assert(sm->ents != NULL);
		sm->ents_cap = n_entries;
	}
	return sm;
}

void sim_msg_release(struct sim *s, struct sim_msg *sm)
{
	sm->next = s->msg_free;
	s->msg_free = sm;
}

/* A deep copy of a message a core handed out (Ready memory dies at
 * advance); entries point at the simulator's payloads. */
static struct sim_msg *msg_clone(struct sim *s, struct sim_member *mb,
				 const struct cairn_raft_msg *m)
{
	struct sim_msg *sm = msg_alloc(s, m->n_entries);
	sm->m = *m;
	sm->m.entries = m->n_entries ? sm->ents : NULL;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		struct sim_entry e;
		if (!entry_from_core(s, &m->entries[i], &e))
			e = (struct sim_entry){.term = m->entries[i].term};
		sm->ents[i] = entry_to_core(s, m->entries[i].index, e);
	}
	check_msg_made(s, mb, sm);
	return sm;
}

/* A copy of n entries of a state machine's state into *dst (grown). */
static void snap_copy(struct sim_entry **dst, uint64_t *cap, const struct sim_entry *src,
		      uint64_t n)
{
	if (n > *cap) {
		free(*dst);
		*dst = malloc(n * sizeof(**dst));
		assert(*dst != NULL);
		*cap = n;
	}
	if (n > 0)
		memcpy(*dst, src, n * sizeof(**dst));
}

static struct sim_msg *msg_dup(struct sim *s, const struct sim_msg *src)
{
	struct sim_msg *sm = msg_alloc(s, src->m.n_entries);
	sm->m = src->m;
	sm->ack_log_term = src->ack_log_term;
	sm->m.entries = src->m.n_entries ? sm->ents : NULL;
	if (src->m.n_entries > 0)
		memcpy(sm->ents, src->ents, src->m.n_entries * sizeof(*sm->ents));
	snap_copy(&sm->snap, &sm->snap_cap, src->snap, src->snap_len);
	sm->snap_len = src->snap_len;
	return sm;
}

static uint64_t net_delay_ms(struct sim *s, const struct sim_msg *sm)
{
	uint64_t d = 1 + sim_draw(s, s->delay_max_ms);
	if (s->long_delay_ppm && sim_chance(s, s->long_delay_ppm))
		d += sim_draw(s, s->long_delay_max_ms);
	/* A state takes a while to stream (now and then longer than an
	 * election timeout, so the leader asks again meanwhile). */
	if (sm->m.type == CAIRN_RAFT_MSG_SNAPSHOT && s->snap_delay_max_ms > 0)
		d += sim_draw(s, s->snap_delay_max_ms);
	return d;
}

/* sm leaves its sender now: it may be cut, dropped, duplicated, delayed. */
static void transmit(struct sim *s, struct sim_member *from, struct sim_msg *sm)
{
	if (s->failed) { /* the message may be malformed */
		sim_msg_release(s, sm);
		return;
	}
	uint32_t a = (uint32_t)(sm->m.from - 1), b = (uint32_t)(sm->m.to - 1);
	check_send(s, from, sm);
	sim_hash(s, 1, sm->m.type, sm->m.from << 8 | sm->m.to, sm->m.term);
	if (!s->link[a][b] || sim_chance(s, s->drop_ppm)) {
		sim_msg_release(s, sm);
		return;
	}
	if (s->dup_ppm && sim_chance(s, s->dup_ppm))
		sim_schedule(s, s->now_ms + net_delay_ms(s, sm), SIM_EV_DELIVER, b, msg_dup(s, sm));
	sim_schedule(s, s->now_ms + net_delay_ms(s, sm), SIM_EV_DELIVER, b, sm);
}

/* ---- Ready handling ------------------------------------------------------ */

static void observe(struct sim *s, struct sim_member *mb);
static void compact(struct sim *s, struct sim_member *mb, const struct cairn_raft_status *st);

/* The Ready's entries join the mirror of the core's log. */
static void ready_entries(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd,
			  struct sim_entry *ents)
{
	if (rd->n_entries == 0)
		return;
	uint64_t first = rd->entries[0].index;
	for (size_t i = 0; i < rd->n_entries; i++) {
		if (!entry_from_core(s, &rd->entries[i], &ents[i]))
			return;
		if (rd->entries[i].index != first + i) {
			sim_fail(s, "ready shape", "m%llu: Ready entries not contiguous at %llu",
				 (unsigned long long)mb->id,
				 (unsigned long long)rd->entries[i].index);
			return;
		}
	}
	if (first <= mb->log.base || first > mb->log.len + 1) {
		sim_fail(s, "ready shape", "m%llu: Ready entries start at %llu, log ends at %llu",
			 (unsigned long long)mb->id, (unsigned long long)first,
			 (unsigned long long)mb->log.len);
		return;
	}
	if (first <= mb->log.len) {
		struct cairn_raft_status st;
		cairn_raft_status(mb->core, &st);
		if (st.role == CAIRN_RAFT_LEADER)
			sim_fail(s, "leader append-only",
				 "m%llu, leader of term %llu, rewrites from %llu",
				 (unsigned long long)mb->id, (unsigned long long)st.term,
				 (unsigned long long)first);
		check_truncate(s, mb, st.term, first, ents, rd->n_entries);
		SIM_TRACE(s, (int)mb->id - 1, "log truncated to %llu",
			  (unsigned long long)first - 1);
		mb->log.len = first - 1;
	}
	for (size_t i = 0; i < rd->n_entries; i++) {
		uint64_t prev = sim_log_term(&mb->log, mb->log.len);
		check_log_entry(s, mb, first + i, prev, ents[i]);
		sim_log_push(&mb->log, ents[i]);
	}
}

static struct sim_write *write_alloc(struct sim *s, size_t n_ents)
{
	struct sim_write *w = s->write_free;
	if (w != NULL)
		s->write_free = w->next;
	else
		w = calloc(1, sizeof(*w));
	assert(w != NULL);
	struct sim_entry *ents = w->ents;
	size_t cap = w->ents_cap;
	struct sim_entry *snap = w->snap, *apply = w->apply;
	uint64_t snap_cap = w->snap_cap, apply_cap = w->apply_cap;
	memset(w, 0, sizeof(*w));
	w->snap = snap;
	w->snap_cap = snap_cap;
	w->apply = apply;
	w->apply_cap = apply_cap;
	if (n_ents > cap) {
		free(ents);
		ents = malloc(n_ents * sizeof(*ents));
		assert(ents != NULL);
		cap = n_ents;
	}
	w->ents = ents;
	w->ents_cap = cap;
	return w;
}

static void write_free(struct sim *s, struct sim_write *w)
{
	while (w->after) {
		struct sim_msg *sm = w->after;
		w->after = sm->next;
		sim_msg_release(s, sm);
	}
	w->next = s->write_free;
	s->write_free = w;
}

/* Hard state, entries and msgs_after_persist go to the disk as one write. */
static void ready_persist(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd,
			  const struct sim_entry *ents)
{
	if (!rd->has_hard_state && rd->n_entries == 0 && rd->n_msgs_after_persist == 0 &&
	    !rd->has_snapshot)
		return;
	struct sim_write *w = write_alloc(s, rd->n_entries);
	if (rd->has_snapshot) {
		const struct sim_msg *aside = mb->snap_aside; /* checked by handle_ready */
		w->has_snap = true;
		w->snap_index = rd->snapshot_index;
		w->snap_term = rd->snapshot_term;
		snap_copy(&w->snap, &w->snap_cap, aside->snap, aside->snap_len);
		mb->installs_pending++;
	}
	w->has_hs = rd->has_hard_state;
	w->hs = rd->hard_state;
	if (rd->n_entries > 0) {
		w->first_index = rd->entries[0].index;
		w->n_ents = rd->n_entries;
		memcpy(w->ents, ents, rd->n_entries * sizeof(*w->ents));
	}
	for (size_t i = 0; i < rd->n_msgs_after_persist && !s->failed; i++) {
		struct sim_msg *sm = msg_clone(s, mb, &rd->msgs_after_persist[i]);
		if (s->inject == SIM_INJECT_EARLY_SEND) {
			transmit(s, mb, sm); /* a host that does not wait for the disk */
			continue;
		}
		if (w->after_tail)
			w->after_tail->next = sm;
		else
			w->after = sm;
		w->after_tail = sm;
	}
	if (mb->wq_tail)
		mb->wq_tail->next = w;
	else
		mb->wq_head = w;
	mb->wq_tail = w;
	uint64_t done = s->now_ms + 1 + sim_draw(s, s->disk_delay_max_ms);
	if (done < mb->disk_done_ms)
		done = mb->disk_done_ms; /* the disk completes in order */
	mb->disk_done_ms = done;
	sim_schedule(s, done, SIM_EV_DISK, (uint32_t)(mb->id - 1), NULL);
}

/* The state machine applies e at index. */
static void sm_apply(struct sim *s, struct sim_member *mb, uint64_t index, struct sim_entry e)
{
	check_apply(s, mb, index, e);
	if (e.pid != 0 && e.pid <= s->n_payloads && s->payloads[e.pid].marker)
		mb->saw_marker = true;
	sim_hash(s, 2, mb->id, index, e.term << 32 | e.pid);
	SIM_TRACE(s, (int)mb->id - 1, "apply %llu term %llu %s#%u", (unsigned long long)index,
		  (unsigned long long)e.term, e.pid ? "payload " : "noop ", e.pid);
}

/* Committed entries go to the state machine now, or, while a snapshot
 * install waits in the disk queue, once the last queued write is durable. */
static void ready_apply(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd)
{
	for (size_t i = 0; i < rd->n_committed && !s->failed; i++) {
		struct sim_entry e;
		if (!entry_from_core(s, &rd->committed[i], &e))
			return;
		uint64_t index = rd->committed[i].index;
		if (index != mb->applied_handed + 1) {
			sim_fail(s, "state-machine safety", "m%llu hands out %llu after %llu",
				 (unsigned long long)mb->id, (unsigned long long)index,
				 (unsigned long long)mb->applied_handed);
			return;
		}
		mb->applied_handed = index;
		if (s->inject == SIM_INJECT_APPLIED && mb->id == 1 && index >= 3 &&
		    s->injected == 0) {
			e.pid ^= 1u << 20; /* the state machine applied something else */
			s->injected++;
		}
		if (mb->installs_pending == 0 && mb->applies_deferred == 0) {
			sm_apply(s, mb, index, e);
			continue;
		}
		struct sim_write *w = mb->wq_tail;
		assert(w != NULL);
		if (w->n_apply == 0)
			w->apply_first = index;
		assert(w->apply_first + w->n_apply == index);
		if (w->n_apply == w->apply_cap) {
			w->apply_cap = w->apply_cap ? 2 * w->apply_cap : 64;
			w->apply = realloc(w->apply, w->apply_cap * sizeof(*w->apply));
			assert(w->apply != NULL);
		}
		w->apply[w->n_apply++] = e;
		mb->applies_deferred++;
	}
}

static struct sim_read *read_find(struct sim_member *mb, uint64_t ctx)
{
	for (size_t i = 0; i < mb->n_reads; i++)
		if (mb->reads[i].ctx == ctx)
			return &mb->reads[i];
	return NULL;
}

static void read_remove(struct sim_member *mb, struct sim_read *rd)
{
	*rd = mb->reads[--mb->n_reads];
}

static void ready_reads(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd)
{
	unsigned long long id = mb->id;
	for (size_t i = 0; i < rd->n_reads && !s->failed; i++) {
		struct sim_read *r = read_find(mb, rd->reads[i].ctx);
		if (r == NULL || r->index != 0) {
			sim_fail(s, "read index", "m%llu confirms read %llu it was not waiting on",
				 id, (unsigned long long)rd->reads[i].ctx);
			return;
		}
		r->index = rd->reads[i].index;
		if (s->inject == SIM_INJECT_STALE_READ && r->index > 0 && r->index == r->required)
			r->index--; /* pretend the core answered one index low */
		sim_hash(s, 3, id, r->ctx, r->index);
		SIM_TRACE(s, (int)id - 1, "read %llu confirmed at index %llu (needs >= %llu)",
			  (unsigned long long)r->ctx, (unsigned long long)r->index,
			  (unsigned long long)r->required);
		check_read(s, mb, r);
	}
	for (size_t i = 0; i < rd->n_reads_dropped && !s->failed; i++) {
		struct sim_read *r = read_find(mb, rd->reads_dropped[i]);
		if (r == NULL || r->index != 0) {
			sim_fail(s, "read index", "m%llu drops read %llu it was not waiting on", id,
				 (unsigned long long)rd->reads_dropped[i]);
			return;
		}
		SIM_TRACE(s, (int)id - 1, "read %llu dropped (not leader)",
			  (unsigned long long)r->ctx);
		if (r->ctx == s->read_ctx && s->phase == SIM_PHASE_READ)
			s->phase = SIM_PHASE_COMMIT; /* leadership moved: ask again */
		read_remove(mb, r);
	}
}

/* Confirmed reads are answered once the state machine has caught up. */
static void reads_answer(struct sim *s, struct sim_member *mb)
{
	for (size_t i = 0; i < mb->n_reads;) {
		struct sim_read *r = &mb->reads[i];
		if (r->index == 0 || mb->applied_seq.len < r->index) {
			i++;
			continue;
		}
		s->reads_answered++;
		SIM_TRACE(s, (int)mb->id - 1, "read %llu answered at applied %llu",
			  (unsigned long long)r->ctx, (unsigned long long)mb->applied_seq.len);
		if (r->ctx == s->read_ctx && s->phase == SIM_PHASE_READ)
			s->phase = SIM_PHASE_DONE;
		read_remove(mb, r);
	}
}

/* The core installed a snapshot: its log now starts after it. */
static void ready_snapshot(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd)
{
	const struct sim_msg *a = mb->snap_aside;
	uint64_t index = rd->snapshot_index, term = rd->snapshot_term;
	if (a == NULL || a->m.prev_index != index || a->m.prev_term != term ||
	    a->snap_len != index) {
		sim_fail(s, "snapshot",
			 "m%llu is asked to install %llu/%llu, which it was not sent",
			 (unsigned long long)mb->id, (unsigned long long)index,
			 (unsigned long long)term);
		return;
	}
	struct sim_log *l = &mb->log;
	bool keep = index > l->base && index <= l->len && sim_log_term(l, index) == term;
	if (keep) {
		l->base = index;
		l->base_term = term;
	} else {
		sim_log_rebase(l, index, term);
	}
	mb->applied_handed = index;
	sim_hash(s, 19, mb->id, index, term);
	SIM_TRACE(s, (int)mb->id - 1, "install snapshot %llu/%llu (log %s, last %llu)",
		  (unsigned long long)index, (unsigned long long)term,
		  keep ? "keeps its suffix" : "emptied", (unsigned long long)l->len);
}

/* A SNAPSHOT the core asks for: the host picks an applied index its state
 * machine holds, within what the core still has a term for, and sends the
 * state there (or reports the transfer failed, after advance). */
static void snapshot_send(struct sim *s, struct sim_member *mb, const struct cairn_raft_msg *m)
{
	struct sim_msg *sm = msg_clone(s, mb, m);
	if (s->failed) {
		sim_msg_release(s, sm);
		return;
	}
	struct cairn_raft_status st;
	cairn_raft_status(mb->core, &st);
	uint64_t lo = st.first_index - 1;
	uint64_t hi = st.applied < mb->applied_seq.len ? st.applied : mb->applied_seq.len;
	if (lo == 0) { /* nothing was compacted: AppendEntries would do */
		sim_fail(s, "snapshot", "m%llu (%s, first index %llu) asks for a SNAPSHOT",
			 (unsigned long long)mb->id, cairn_raft_role_name(st.role),
			 (unsigned long long)st.first_index);
		sim_msg_release(s, sm);
		return;
	}
	if (hi < lo || sim_chance(s, s->snap_fail_ppm)) {
		/* Its own install is not durable yet, or the stream broke. */
		if (mb->n_snap_failed < SIM_MEMBERS_MAX)
			mb->snap_failed[mb->n_snap_failed++] = m->to;
		SIM_TRACE(s, (int)mb->id - 1, "snapshot to m%llu fails (state machine at %llu)",
			  (unsigned long long)m->to, (unsigned long long)mb->applied_seq.len);
		sim_msg_release(s, sm);
		return;
	}
	uint64_t index = lo + sim_draw(s, hi - lo + 1);
	sm->m.prev_index = index;
	sm->m.prev_term = sim_log_term(&mb->log, index);
	snap_copy(&sm->snap, &sm->snap_cap, mb->applied_seq.e, index);
	sm->snap_len = index;
	if (s->inject == SIM_INJECT_SNAPSHOT)
		sm->snap[index - 1].pid ^= 1u << 20; /* a state that was never applied */
	s->snapshots_sent++;
	sim_hash(s, 18, mb->id, index, sm->m.prev_term);
	SIM_TRACE(s, (int)mb->id - 1, "snapshot to m%llu: state at %llu/%llu (applied %llu)",
		  (unsigned long long)m->to, (unsigned long long)index,
		  (unsigned long long)sm->m.prev_term, (unsigned long long)mb->applied_seq.len);
	transmit(s, mb, sm);
}

static void handle_ready(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd)
{
	struct sim_entry stack_ents[64];
	struct sim_entry *ents = stack_ents;
	if (rd->n_entries > 64) {
		ents = malloc(rd->n_entries * sizeof(*ents));
		assert(ents != NULL);
	}
	if (rd->has_snapshot)
		ready_snapshot(s, mb, rd);
	if (!s->failed)
		ready_entries(s, mb, rd, ents);
	if (rd->n_committed > 0 && mb->role == CAIRN_RAFT_LEADER && !s->failed) {
		/* A leader may commit and apply in one Ready: the checker must
		 * learn the commit before it judges the apply. */
		struct cairn_raft_status st;
		cairn_raft_status(mb->core, &st);
		check_commit_early(s, mb, &st);
	}
	for (size_t i = 0; i < rd->n_msgs && !s->failed; i++) {
		if (rd->msgs[i].type == CAIRN_RAFT_MSG_SNAPSHOT)
			snapshot_send(s, mb, &rd->msgs[i]);
		else
			transmit(s, mb, msg_clone(s, mb, &rd->msgs[i]));
	}
	if (!s->failed)
		ready_persist(s, mb, rd, ents);
	if (!s->failed)
		ready_apply(s, mb, rd);
	if (!s->failed)
		ready_reads(s, mb, rd);
	if (ents != stack_ents)
		free(ents);
}

/* Drain the member's Ready loop, then let the checker look at it. A tick
 * that produced no Ready changed nothing the checker can see. */
void sim_drain_tick(struct sim *s, struct sim_member *mb)
{
	if (cairn_raft_has_ready(mb->core))
		sim_drain(s, mb);
}

void sim_drain(struct sim *s, struct sim_member *mb)
{
	uint32_t rounds = 0;
	while (!s->failed && mb->core != NULL && cairn_raft_has_ready(mb->core)) {
		if (++rounds > SIM_READY_ROUNDS_MAX) {
			sim_fail(s, "ready loop", "m%llu still has a Ready after %u rounds",
				 (unsigned long long)mb->id, rounds);
			return;
		}
		struct cairn_raft_ready rd;
		cairn_raft_ready(mb->core, &rd);
		handle_ready(s, mb, &rd);
		cairn_raft_advance(mb->core, &rd);
		for (uint32_t i = 0; i < mb->n_snap_failed; i++)
			cairn_raft_snapshot_failed(mb->core, mb->snap_failed[i]);
		mb->n_snap_failed = 0;
	}
	if (!s->failed && mb->core != NULL)
		observe(s, mb);
}

static void observe(struct sim *s, struct sim_member *mb)
{
	struct cairn_raft_status st;
	cairn_raft_status(mb->core, &st);
	if (st.role != mb->role || st.term != mb->term)
		SIM_TRACE(s, (int)mb->id - 1, "%s in term %llu (commit %llu, last %llu/%llu)",
			  cairn_raft_role_name(st.role), (unsigned long long)st.term,
			  (unsigned long long)st.commit, (unsigned long long)st.last_index,
			  (unsigned long long)st.last_term);
	else if (st.commit != mb->commit && st.role == CAIRN_RAFT_LEADER)
		SIM_TRACE(s, (int)mb->id - 1, "leader commit %llu", (unsigned long long)st.commit);
	sim_hash(s, 4, mb->id, (uint64_t)st.role << 56 | st.term, st.commit << 32 | st.last_index);
	mb->leader_id = st.leader;
	check_status(s, mb, &st);
	if (!s->failed)
		check_durable_majority(s);
	if (!s->failed)
		reads_answer(s, mb);
	if (!s->failed && sim_chance(s, s->compact_ppm))
		compact(s, mb, &st);
}

/* Drop the log up to a few entries behind what the state machine holds
 * durably (and the log too); now and then try a bad index, which the core
 * must refuse. */
static void compact(struct sim *s, struct sim_member *mb, const struct cairn_raft_status *st)
{
	if (sim_chance(s, 10000)) {
		int rc = cairn_raft_compact(mb->core, st->applied + 1);
		if (rc != CAIRN_EINVAL)
			sim_fail(s, "compact", "m%llu compacts past applied %llu: %s",
				 (unsigned long long)mb->id, (unsigned long long)st->applied,
				 rc ? cairn_strerror(rc) : "accepted");
		return;
	}
	uint64_t hi = st->applied < st->persisted_index ? st->applied : st->persisted_index;
	if (hi > mb->applied_seq.len)
		hi = mb->applied_seq.len;
	uint64_t keep = sim_draw(s, s->compact_keep_max + 1);
	if (hi <= keep || hi - keep < st->first_index)
		return;
	uint64_t index = hi - keep;
	int rc = cairn_raft_compact(mb->core, index);
	if (rc != 0) {
		sim_fail(s, "compact", "m%llu compacts to %llu (applied %llu, persisted %llu): %s",
			 (unsigned long long)mb->id, (unsigned long long)index,
			 (unsigned long long)st->applied, (unsigned long long)st->persisted_index,
			 cairn_strerror(rc));
		return;
	}
	struct cairn_raft_status after;
	cairn_raft_status(mb->core, &after);
	if (after.first_index != index + 1)
		sim_fail(s, "compact", "m%llu compacted to %llu has first index %llu",
			 (unsigned long long)mb->id, (unsigned long long)index,
			 (unsigned long long)after.first_index);
	if (index > mb->compacted)
		mb->compacted = index;
	s->compactions++;
	sim_hash(s, 20, mb->id, index, 0);
	SIM_TRACE(s, (int)mb->id - 1, "compact through %llu", (unsigned long long)index);
}

/* ---- the disk -------------------------------------------------------------- */

/* The oldest write of mb is durable: apply it, speak, report it. */
/* What a write makes durable: the log (a conflicting suffix replaced) and
 * the hard state. */
static void write_apply(struct sim *s, struct sim_member *mb, const struct sim_write *w)
{
	if (w->has_snap) {
		/* The state machine and the log change together. */
		struct sim_log *d = &mb->durable;
		uint64_t index = w->snap_index, term = w->snap_term;
		check_install(s, mb, index, term, w->snap);
		if (index > d->base && index <= d->len && sim_log_term(d, index) == term) {
			d->base = index;
			d->base_term = term;
		} else {
			sim_log_rebase(d, index, term);
		}
		mb->applied_seq.len = 0;
		for (uint64_t k = 0; k < index; k++) {
			sim_log_push(&mb->applied_seq, w->snap[k]);
			uint32_t pid = w->snap[k].pid;
			if (pid != 0 && pid <= s->n_payloads && s->payloads[pid].marker)
				mb->saw_marker = true;
		}
		assert(mb->installs_pending > 0);
		mb->installs_pending--;
		s->snapshots_installed++;
		sim_hash(s, 21, mb->id, index, term);
		SIM_TRACE(s, (int)mb->id - 1, "snapshot %llu/%llu durable (log %llu .. %llu)",
			  (unsigned long long)index, (unsigned long long)term,
			  (unsigned long long)d->base + 1, (unsigned long long)d->len);
	}
	if (w->n_ents > 0) {
		assert(w->first_index > mb->durable.base && w->first_index <= mb->durable.len + 1);
		mb->durable.len = w->first_index - 1;
		for (size_t i = 0; i < w->n_ents; i++)
			sim_log_push(&mb->durable, w->ents[i]);
	}
	if (w->has_hs)
		mb->durable_hs = w->hs;
	assert(mb->applies_deferred >= w->n_apply);
	mb->applies_deferred -= w->n_apply;
	for (uint64_t i = 0; i < w->n_apply && !s->failed; i++)
		sm_apply(s, mb, w->apply_first + i, w->apply[i]);
}

void sim_disk_complete(struct sim *s, struct sim_member *mb)
{
	struct sim_write *w = mb->wq_head;
	assert(w != NULL);
	mb->wq_head = w->next;
	if (mb->wq_head == NULL)
		mb->wq_tail = NULL;
	write_apply(s, mb, w);
	uint64_t last = mb->durable.len;
	uint64_t last_term = sim_log_term(&mb->durable, last);
	sim_hash(s, 5, mb->id, last, last_term);
	while (w->after && !s->failed) {
		struct sim_msg *sm = w->after;
		w->after = sm->next;
		transmit(s, mb, sm);
	}
	write_free(s, w);
	if (s->failed)
		return;
	cairn_raft_persisted(mb->core, last, last_term);
	sim_drain(s, mb);
}

/* ---- members: start, crash, restart --------------------------------------- */

void sim_member_start(struct sim *s, struct sim_member *mb,
		      const struct cairn_raft_restore *restore)
{
	struct cairn_raft_config cfg = {
		.id = mb->id,
		.members = s->ids,
		.n_members = s->n,
		.heartbeat_ticks = SIM_HEARTBEAT_TICKS,
		.election_ticks = SIM_ELECTION_TICKS,
		.seed = cairn_rand_next(&s->rng),
		.pre_vote = s->pre_vote,
		.check_quorum = s->check_quorum,
		.max_entries_per_msg = s->max_entries_per_msg,
		.max_bytes_per_msg = s->max_bytes_per_msg,
		.max_inflight_msgs = s->max_inflight_msgs,
	};
	int rc = cairn_raft_create(&mb->core, &cfg, restore);
	if (rc != 0) {
		mb->core = NULL;
		sim_fail(s, "start", "m%llu: cairn_raft_create: %s", (unsigned long long)mb->id,
			 cairn_strerror(rc));
		return;
	}
	mb->role = CAIRN_RAFT_FOLLOWER;
	mb->term = mb->durable_hs.term;
	mb->commit = 0;
	mb->leader_id = 0;
	mb->leader_commit_term = 0;
	mb->applied_handed = mb->applied_seq.len;
	mb->disk_done_ms = s->now_ms;
	sim_schedule(s, s->now_ms + 1 + sim_draw(s, SIM_TICK_MS), SIM_EV_TICK,
		     (uint32_t)(mb->id - 1), NULL);
	sim_drain(s, mb);
}

void sim_member_crash(struct sim *s, struct sim_member *mb)
{
	assert(mb->core != NULL);
	cairn_raft_destroy(mb->core);
	mb->core = NULL;
	s->crashes++;
	mb->incarnation++;
	/* Usually every write not yet reported is lost; sometimes the disk had
	 * finished a prefix of them and the process died before it heard. */
	size_t pending = 0, lucky = 0;
	for (const struct sim_write *w = mb->wq_head; w != NULL; w = w->next)
		pending++;
	if (pending > 0 && s->phase == SIM_PHASE_FAULTS && sim_chance(s, 300000))
		lucky = (size_t)sim_draw(s, pending + 1);
	for (size_t i = 0; mb->wq_head; i++) {
		struct sim_write *w = mb->wq_head;
		mb->wq_head = w->next;
		if (i < lucky)
			write_apply(s, mb, w);
		write_free(s, w);
	}
	mb->wq_tail = NULL;
	mb->installs_pending = 0;
	mb->applies_deferred = 0;
	mb->n_snap_failed = 0;
	mb->n_reads = 0;
	mb->paused_until_ms = 0;
	mb->role = CAIRN_RAFT_FOLLOWER;
	sim_hash(s, 6, mb->id, mb->durable.len, mb->durable_hs.term);
	SIM_TRACE(s, (int)mb->id - 1,
		  "CRASH (%zu of %zu pending writes reached the disk; durable log %llu, term "
		  "%llu vote %llu; lost %llu entries)",
		  lucky, pending, (unsigned long long)mb->durable.len,
		  (unsigned long long)mb->durable_hs.term, (unsigned long long)mb->durable_hs.vote,
		  (unsigned long long)(mb->log.len > mb->durable.len ? mb->log.len - mb->durable.len
								     : 0));
}

void sim_member_restart(struct sim *s, struct sim_member *mb)
{
	assert(mb->core == NULL);
	if (s->inject == SIM_INJECT_DISK_LOSS && mb->durable.len > mb->applied_seq.len) {
		mb->durable.len = mb->applied_seq.len; /* a disk that lied about fsync */
		s->injected++;
	}
	/* The core's log is now exactly what was durable, from after the
	 * snapshot or the compaction point, whichever is later. */
	const struct sim_log *d = &mb->durable;
	sim_log_rebase(&mb->log, d->base, d->base_term);
	for (uint64_t i = d->base + 1; i <= d->len; i++)
		sim_log_push(&mb->log, d->e[i - 1]);
	uint64_t first_prev = d->base > mb->compacted ? d->base : mb->compacted;
	assert(first_prev <= d->len && first_prev <= mb->applied_seq.len);
	struct cairn_raft_entry *ents = NULL;
	if (d->len > first_prev) {
		ents = malloc((d->len - first_prev) * sizeof(*ents));
		assert(ents != NULL);
	}
	for (uint64_t i = first_prev + 1; i <= d->len; i++)
		ents[i - first_prev - 1] = entry_to_core(s, i, d->e[i - 1]);
	struct cairn_raft_restore restore = {
		.hard_state = mb->durable_hs,
		.log = ents,
		.n_log = d->len - first_prev,
		.first_prev_index = first_prev,
		.first_prev_term = sim_log_term(d, first_prev),
		.applied = mb->applied_seq.len,
	};
	sim_hash(s, 7, mb->id, mb->durable.len, mb->applied_seq.len);
	SIM_TRACE(s, (int)mb->id - 1,
		  "RESTART (log %llu .. %llu, term %llu vote %llu commit %llu, applied %llu)",
		  (unsigned long long)first_prev + 1, (unsigned long long)mb->durable.len,
		  (unsigned long long)mb->durable_hs.term, (unsigned long long)mb->durable_hs.vote,
		  (unsigned long long)mb->durable_hs.commit,
		  (unsigned long long)mb->applied_seq.len);
	sim_member_start(s, mb, &restore);
	free(ents);
}

void sim_member_free(struct sim_member *mb)
{
	free(mb->reads);
	free(mb->vote_sent);
	sim_log_free(&mb->log);
	sim_log_free(&mb->durable);
	sim_log_free(&mb->applied_seq);
}

/* ---- client requests at one member ----------------------------------------- */

int sim_propose(struct sim *s, struct sim_member *mb, bool marker)
{
	uint32_t pid = sim_payload_new(s, marker);
	uint64_t index = 0;
	int rc = cairn_raft_propose(mb->core, s->payloads[pid].data, s->payloads[pid].len, &index);
	if (rc == 0) {
		sim_hash(s, 8, mb->id, pid, index);
		SIM_TRACE(s, (int)mb->id - 1, "propose %s#%u -> index %llu",
			  marker ? "MARKER " : "", pid, (unsigned long long)index);
	} else if (rc != CAIRN_ENOTLEADER && rc != CAIRN_EFULL) {
		sim_fail(s, "propose", "m%llu: cairn_raft_propose: %s", (unsigned long long)mb->id,
			 cairn_strerror(rc));
	}
	sim_drain(s, mb);
	return rc;
}

int sim_read_ask(struct sim *s, struct sim_member *mb)
{
	uint64_t ctx = ++s->next_ctx;
	uint64_t required = s->ck.max_commit_seen;
	int rc = cairn_raft_read_index(mb->core, ctx);
	if (rc == 0) {
		if (mb->n_reads == mb->reads_cap) {
			mb->reads_cap = mb->reads_cap ? mb->reads_cap * 2 : 16;
			mb->reads = realloc(mb->reads, mb->reads_cap * sizeof(*mb->reads));
			assert(mb->reads != NULL);
		}
		mb->reads[mb->n_reads++] = (struct sim_read){.ctx = ctx, .required = required};
		sim_hash(s, 9, mb->id, ctx, required);
		SIM_TRACE(s, (int)mb->id - 1, "read %llu asked (commit anywhere %llu)",
			  (unsigned long long)ctx, (unsigned long long)required);
	} else if (rc != CAIRN_ENOTLEADER && rc != CAIRN_EFULL) {
		sim_fail(s, "read index", "m%llu: cairn_raft_read_index: %s",
			 (unsigned long long)mb->id, cairn_strerror(rc));
	}
	sim_drain(s, mb);
	return rc;
}
