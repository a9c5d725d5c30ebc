/*
 * cluster.c - the simulated world one seed runs in.
 *
 * A binary heap of events ordered by (virtual ms, sequence) drives everything:
 * member ticks (every 10 ms, each member at its own phase), message
 * deliveries, disk completions, faults, client proposals and reads. Each
 * member is a real core plus the simulator's mirror of its log, its durable
 * log and hard state (only what completed writes made durable), its queue of
 * writes in flight and its state machine. After every input to a core the
 * Ready loop is drained and the checker looks at the result. Faults run until
 * fault_end_ms; then everything heals and liveness is required: a stable
 * leader, a new entry applied everywhere, and a read answered, each within
 * SIM_LIVENESS_ELECTIONS election timeouts.
 */
#include "sim.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

enum ev_kind {
	EV_TICK = 0,
	EV_DELIVER = 1,
	EV_DISK = 2,
	EV_FAULT = 3,
	EV_PROPOSE = 4,
	EV_READ = 5,
	EV_RESTART = 6,
	EV_HEAL = 7,
};

struct sim_event {
	uint64_t at_ms;
	uint64_t seq;
	uint32_t kind;
	uint32_t member; /* index into s->m */
	uint32_t incarnation;
	struct sim_msg *msg;
};

#define TRACE(s, member, ...)                                                                      \
	do {                                                                                       \
		if ((s)->verbose)                                                                  \
			sim_trace((s), (member), __VA_ARGS__);                                     \
	} while (0)

/* ---- trace, failure, hashing -------------------------------------------- */

void sim_trace(struct sim *s, int member, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (member < 0)
		printf("%7llums tick %4llu  --  %s\n", (unsigned long long)s->now_ms,
		       (unsigned long long)(s->now_ms / SIM_TICK_MS), line);
	else
		printf("%7llums tick %4llu  m%d  %s\n", (unsigned long long)s->now_ms,
		       (unsigned long long)(s->now_ms / SIM_TICK_MS), member + 1, line);
}

void sim_fail(struct sim *s, const char *property, const char *fmt, ...)
{
	if (s->failed)
		return;
	char detail[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	s->failed = true;
	snprintf(s->why, sizeof(s->why), "%s: %s (at %llu ms)", property, detail,
		 (unsigned long long)s->now_ms);
	TRACE(s, -1, "VIOLATION %s", s->why);
}

void sim_hash(struct sim *s, uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t v[4] = {a, b, c, d};
	uint64_t h = s->trace_hash;
	for (int i = 0; i < 4; i++) {
		h ^= v[i] + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	s->trace_hash = h;
}

uint32_t sim_quorum(const struct sim *s)
{
	return s->n / 2 + 1;
}

/* Uniform enough in [0, bound) for a simulator (bias below 2^-32 for the
 * bounds used here) and free of the division cairn_rand_below pays for
 * exactness: the simulator draws several numbers per message. */
static uint64_t draw(struct sim *s, uint64_t bound)
{
	assert(bound > 0);
	return (uint64_t)(((unsigned __int128)cairn_rand_next(&s->rng) * bound) >> 64);
}

static bool chance(struct sim *s, uint32_t per_million)
{
	return per_million > 0 && draw(s, 1000000) < per_million;
}

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
static uint32_t payload_new(struct sim *s, bool marker)
{
	if (s->n_payloads + 1 >= s->payloads_cap) {
		s->payloads_cap = s->payloads_cap ? s->payloads_cap * 2 : 256;
		s->payloads = realloc(s->payloads, s->payloads_cap * sizeof(*s->payloads));
		assert(s->payloads != NULL);
	}
	uint32_t pid = ++s->n_payloads;
	struct sim_payload *p = &s->payloads[pid];
	p->len = 8 + (uint32_t)draw(s, 57);
	if (chance(s, 20000))
		p->len = 200 + (uint32_t)draw(s, 1800); /* over a small byte limit: goes alone */
	p->data = payload_bytes(s, p->len);
	p->marker = marker;
	for (uint32_t i = 0; i < 4; i++)
		p->data[i] = (uint8_t)(pid >> (8 * i));
	for (uint32_t i = 4; i < p->len; i++)
		p->data[i] = (uint8_t)draw(s, 256);
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

/* ---- the event heap ------------------------------------------------------ */

static bool ev_before(const struct sim_event *a, const struct sim_event *b)
{
	return a->at_ms < b->at_ms || (a->at_ms == b->at_ms && a->seq < b->seq);
}

static void ev_push(struct sim *s, struct sim_event ev)
{
	if (s->heap_len == s->heap_cap) {
		s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 1024;
		s->heap = realloc(s->heap, s->heap_cap * sizeof(*s->heap));
		assert(s->heap != NULL);
	}
	ev.seq = s->seq++;
	size_t i = s->heap_len++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!ev_before(&ev, &s->heap[parent]))
			break;
		s->heap[i] = s->heap[parent];
		i = parent;
	}
	s->heap[i] = ev;
}

static struct sim_event ev_pop(struct sim *s)
{
	assert(s->heap_len > 0);
	struct sim_event top = s->heap[0];
	struct sim_event last = s->heap[--s->heap_len];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->heap_len)
			break;
		if (c + 1 < s->heap_len && ev_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->heap_len > 0)
		s->heap[i] = last;
	return top;
}

static void schedule(struct sim *s, uint64_t at_ms, uint32_t kind, uint32_t member,
		     struct sim_msg *msg)
{
	struct sim_event ev = {.at_ms = at_ms, .kind = kind, .member = member, .msg = msg};
	if (member < s->n)
		ev.incarnation = s->m[member].incarnation;
	ev_push(s, ev);
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
	if (n_entries > sm->ents_cap) {
		free(sm->ents);
		sm->ents = malloc(n_entries * sizeof(*sm->ents));
		assert(sm->ents != NULL);
		sm->ents_cap = n_entries;
	}
	return sm;
}

static void msg_release(struct sim *s, struct sim_msg *sm)
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

static struct sim_msg *msg_dup(struct sim *s, const struct sim_msg *src)
{
	struct sim_msg *sm = msg_alloc(s, src->m.n_entries);
	sm->m = src->m;
	sm->ack_log_term = src->ack_log_term;
	sm->m.entries = src->m.n_entries ? sm->ents : NULL;
	if (src->m.n_entries > 0)
		memcpy(sm->ents, src->ents, src->m.n_entries * sizeof(*sm->ents));
	return sm;
}

static uint64_t net_delay_ms(struct sim *s)
{
	uint64_t d = 1 + draw(s, s->delay_max_ms);
	if (s->long_delay_ppm && chance(s, s->long_delay_ppm))
		d += draw(s, s->long_delay_max_ms);
	return d;
}

/* sm leaves its sender now: it may be cut, dropped, duplicated, delayed. */
static void transmit(struct sim *s, struct sim_member *from, struct sim_msg *sm)
{
	if (s->failed) { /* the message may be malformed */
		msg_release(s, sm);
		return;
	}
	uint32_t a = (uint32_t)(sm->m.from - 1), b = (uint32_t)(sm->m.to - 1);
	check_send(s, from, sm);
	sim_hash(s, 1, sm->m.type, sm->m.from << 8 | sm->m.to, sm->m.term);
	if (!s->link[a][b] || chance(s, s->drop_ppm)) {
		msg_release(s, sm);
		return;
	}
	if (s->dup_ppm && chance(s, s->dup_ppm))
		schedule(s, s->now_ms + net_delay_ms(s), EV_DELIVER, b, msg_dup(s, sm));
	schedule(s, s->now_ms + net_delay_ms(s), EV_DELIVER, b, sm);
}

/* ---- Ready handling ------------------------------------------------------ */

static void observe(struct sim *s, struct sim_member *mb);
static void drain(struct sim *s, struct sim_member *mb);

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
	if (first == 0 || first > mb->log.len + 1) {
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
		TRACE(s, (int)mb->id - 1, "log truncated to %llu", (unsigned long long)first - 1);
		mb->log.len = first - 1;
	}
	for (size_t i = 0; i < rd->n_entries; i++) {
		uint64_t prev = mb->log.len ? mb->log.e[mb->log.len - 1].term : 0;
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
	memset(w, 0, sizeof(*w));
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
		msg_release(s, sm);
	}
	w->next = s->write_free;
	s->write_free = w;
}

/* Hard state, entries and msgs_after_persist go to the disk as one write. */
static void ready_persist(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd,
			  const struct sim_entry *ents)
{
	if (!rd->has_hard_state && rd->n_entries == 0 && rd->n_msgs_after_persist == 0)
		return;
	struct sim_write *w = write_alloc(s, rd->n_entries);
	w->has_hs = rd->has_hard_state;
	w->hs = rd->hard_state;
	if (rd->n_entries > 0) {
		w->first_index = rd->entries[0].index;
		w->n_ents = rd->n_entries;
		memcpy(w->ents, ents, rd->n_entries * sizeof(*w->ents));
	}
	for (size_t i = 0; i < rd->n_msgs_after_persist; i++) {
		struct sim_msg *sm = msg_clone(s, mb, &rd->msgs_after_persist[i]);
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
	uint64_t done = s->now_ms + 1 + draw(s, s->disk_delay_max_ms);
	if (done < mb->disk_done_ms)
		done = mb->disk_done_ms; /* the disk completes in order */
	mb->disk_done_ms = done;
	schedule(s, done, EV_DISK, (uint32_t)(mb->id - 1), NULL);
}

static void ready_apply(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd)
{
	for (size_t i = 0; i < rd->n_committed && !s->failed; i++) {
		struct sim_entry e;
		if (!entry_from_core(s, &rd->committed[i], &e))
			return;
		uint64_t index = rd->committed[i].index;
		if (s->inject == SIM_INJECT_APPLIED && mb->id == 1 && index >= 3 &&
		    s->injected == 0) {
			e.pid ^= 1u << 20; /* the state machine applied something else */
			s->injected++;
		}
		check_apply(s, mb, index, e);
		if (e.pid != 0 && e.pid <= s->n_payloads && s->payloads[e.pid].marker)
			mb->saw_marker = true;
		sim_hash(s, 2, mb->id, index, e.term << 32 | e.pid);
		TRACE(s, (int)mb->id - 1, "apply %llu term %llu %s#%u", (unsigned long long)index,
		      (unsigned long long)e.term, e.pid ? "payload " : "noop ", e.pid);
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
		TRACE(s, (int)id - 1, "read %llu confirmed at index %llu (needs >= %llu)",
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
		TRACE(s, (int)id - 1, "read %llu dropped (not leader)", (unsigned long long)r->ctx);
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
		TRACE(s, (int)mb->id - 1, "read %llu answered at applied %llu",
		      (unsigned long long)r->ctx, (unsigned long long)mb->applied_seq.len);
		if (r->ctx == s->read_ctx && s->phase == SIM_PHASE_READ)
			s->phase = SIM_PHASE_DONE;
		read_remove(mb, r);
	}
}

static void handle_ready(struct sim *s, struct sim_member *mb, const struct cairn_raft_ready *rd)
{
	struct sim_entry stack_ents[64];
	struct sim_entry *ents = stack_ents;
	if (rd->n_entries > 64) {
		ents = malloc(rd->n_entries * sizeof(*ents));
		assert(ents != NULL);
	}
	ready_entries(s, mb, rd, ents);
	if (rd->n_committed > 0 && mb->role == CAIRN_RAFT_LEADER && !s->failed) {
		/* A leader may commit and apply in one Ready: the checker must
		 * learn the commit before it judges the apply. */
		struct cairn_raft_status st;
		cairn_raft_status(mb->core, &st);
		check_commit_early(s, mb, &st);
	}
	for (size_t i = 0; i < rd->n_msgs && !s->failed; i++)
		transmit(s, mb, msg_clone(s, mb, &rd->msgs[i]));
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
static void drain_tick(struct sim *s, struct sim_member *mb)
{
	if (cairn_raft_has_ready(mb->core))
		drain(s, mb);
}

static void drain(struct sim *s, struct sim_member *mb)
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
	}
	if (!s->failed && mb->core != NULL)
		observe(s, mb);
}

static void observe(struct sim *s, struct sim_member *mb)
{
	struct cairn_raft_status st;
	cairn_raft_status(mb->core, &st);
	if (st.role != mb->role || st.term != mb->term)
		TRACE(s, (int)mb->id - 1, "%s in term %llu (commit %llu, last %llu/%llu)",
		      cairn_raft_role_name(st.role), (unsigned long long)st.term,
		      (unsigned long long)st.commit, (unsigned long long)st.last_index,
		      (unsigned long long)st.last_term);
	else if (st.commit != mb->commit && st.role == CAIRN_RAFT_LEADER)
		TRACE(s, (int)mb->id - 1, "leader commit %llu", (unsigned long long)st.commit);
	sim_hash(s, 4, mb->id, (uint64_t)st.role << 56 | st.term, st.commit << 32 | st.last_index);
	mb->leader_id = st.leader;
	check_status(s, mb, &st);
	if (!s->failed)
		check_durable_majority(s);
	if (!s->failed)
		reads_answer(s, mb);
}

/* ---- the disk -------------------------------------------------------------- */

/* The oldest write of mb is durable: apply it, speak, report it. */
static void disk_complete(struct sim *s, struct sim_member *mb)
{
	struct sim_write *w = mb->wq_head;
	assert(w != NULL);
	mb->wq_head = w->next;
	if (mb->wq_head == NULL)
		mb->wq_tail = NULL;
	if (w->n_ents > 0) {
		assert(w->first_index >= 1 && w->first_index <= mb->durable.len + 1);
		mb->durable.len = w->first_index - 1;
		for (size_t i = 0; i < w->n_ents; i++)
			sim_log_push(&mb->durable, w->ents[i]);
	}
	if (w->has_hs)
		mb->durable_hs = w->hs;
	uint64_t last = mb->durable.len;
	uint64_t last_term = last ? mb->durable.e[last - 1].term : 0;
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
	drain(s, mb);
}

/* ---- members: start, crash, restart --------------------------------------- */

static void member_start(struct sim *s, struct sim_member *mb,
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
	mb->disk_done_ms = s->now_ms;
	schedule(s, s->now_ms + 1 + draw(s, SIM_TICK_MS), EV_TICK, (uint32_t)(mb->id - 1), NULL);
	drain(s, mb);
}

static void member_crash(struct sim *s, struct sim_member *mb)
{
	assert(mb->core != NULL);
	cairn_raft_destroy(mb->core);
	mb->core = NULL;
	s->crashes++;
	mb->incarnation++;
	while (mb->wq_head) {
		struct sim_write *w = mb->wq_head;
		mb->wq_head = w->next;
		write_free(s, w);
	}
	mb->wq_tail = NULL;
	mb->n_reads = 0;
	mb->paused_until_ms = 0;
	mb->role = CAIRN_RAFT_FOLLOWER;
	sim_hash(s, 6, mb->id, mb->durable.len, mb->durable_hs.term);
	TRACE(s, (int)mb->id - 1,
	      "CRASH (durable log %llu, term %llu vote %llu; lost %llu entries)",
	      (unsigned long long)mb->durable.len, (unsigned long long)mb->durable_hs.term,
	      (unsigned long long)mb->durable_hs.vote,
	      (unsigned long long)(mb->log.len > mb->durable.len ? mb->log.len - mb->durable.len
								 : 0));
}

static void member_restart(struct sim *s, struct sim_member *mb)
{
	assert(mb->core == NULL);
	if (s->inject == SIM_INJECT_DISK_LOSS && mb->durable.len > mb->applied_seq.len) {
		mb->durable.len = mb->applied_seq.len; /* a disk that lied about fsync */
		s->injected++;
	}
	/* The core's log is now exactly what was durable. */
	mb->log.len = 0;
	for (uint64_t i = 0; i < mb->durable.len; i++)
		sim_log_push(&mb->log, mb->durable.e[i]);
	struct cairn_raft_entry *ents = NULL;
	if (mb->durable.len > 0) {
		ents = malloc(mb->durable.len * sizeof(*ents));
		assert(ents != NULL);
	}
	for (uint64_t i = 0; i < mb->durable.len; i++)
		ents[i] = entry_to_core(s, i + 1, mb->durable.e[i]);
	struct cairn_raft_restore restore = {
		.hard_state = mb->durable_hs,
		.log = ents,
		.n_log = mb->durable.len,
		.applied = mb->applied_seq.len,
	};
	sim_hash(s, 7, mb->id, mb->durable.len, mb->applied_seq.len);
	TRACE(s, (int)mb->id - 1,
	      "RESTART (log %llu, term %llu vote %llu commit %llu, applied %llu)",
	      (unsigned long long)mb->durable.len, (unsigned long long)mb->durable_hs.term,
	      (unsigned long long)mb->durable_hs.vote, (unsigned long long)mb->durable_hs.commit,
	      (unsigned long long)mb->applied_seq.len);
	member_start(s, mb, &restore);
	free(ents);
}

static void member_free(struct sim_member *mb)
{
	free(mb->reads);
	free(mb->vote_sent);
	sim_log_free(&mb->log);
	sim_log_free(&mb->durable);
	sim_log_free(&mb->applied_seq);
}

/* ---- who leads, as far as the simulator can see ---------------------------- */

static int leader_now(const struct sim *s)
{
	int best = -1;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct sim_member *mb = &s->m[i];
		if (mb->core == NULL || mb->role != CAIRN_RAFT_LEADER)
			continue;
		if (best < 0 || mb->term > s->m[best].term)
			best = (int)i;
	}
	return best;
}

static int random_up(struct sim *s)
{
	uint32_t up[SIM_MEMBERS_MAX], n_up = 0;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->m[i].core != NULL)
			up[n_up++] = i;
	return n_up ? (int)up[draw(s, n_up)] : -1;
}

static uint32_t members_down(const struct sim *s)
{
	uint32_t down = 0;
	for (uint32_t i = 0; i < s->n; i++)
		down += s->m[i].core == NULL;
	return down;
}

/* The leader 60% of the time (clients follow hints), else anyone up. */
static int client_target(struct sim *s)
{
	int l = leader_now(s);
	if (l >= 0 && chance(s, 600000))
		return l;
	return random_up(s);
}

/* ---- clients ---------------------------------------------------------------- */

static int propose(struct sim *s, struct sim_member *mb, bool marker)
{
	uint32_t pid = payload_new(s, marker);
	uint64_t index = 0;
	int rc = cairn_raft_propose(mb->core, s->payloads[pid].data, s->payloads[pid].len, &index);
	if (rc == 0) {
		sim_hash(s, 8, mb->id, pid, index);
		TRACE(s, (int)mb->id - 1, "propose %s#%u -> index %llu", marker ? "MARKER " : "",
		      pid, (unsigned long long)index);
	} else if (rc != CAIRN_ENOTLEADER && rc != CAIRN_EFULL) {
		sim_fail(s, "propose", "m%llu: cairn_raft_propose: %s", (unsigned long long)mb->id,
			 cairn_strerror(rc));
	}
	drain(s, mb);
	return rc;
}

static int read_ask(struct sim *s, struct sim_member *mb)
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
		TRACE(s, (int)mb->id - 1, "read %llu asked (commit anywhere %llu)",
		      (unsigned long long)ctx, (unsigned long long)required);
	} else if (rc != CAIRN_ENOTLEADER && rc != CAIRN_EFULL) {
		sim_fail(s, "read index", "m%llu: cairn_raft_read_index: %s",
			 (unsigned long long)mb->id, cairn_strerror(rc));
	}
	drain(s, mb);
	return rc;
}

static void client_propose(struct sim *s)
{
	int t = client_target(s);
	if (t >= 0) {
		uint32_t burst = 1 + (uint32_t)(chance(s, 200000) ? draw(s, 8) : 0);
		for (uint32_t i = 0; i < burst && !s->failed && s->m[t].core; i++)
			propose(s, &s->m[t], false);
	}
	schedule(s, s->now_ms + 1 + draw(s, s->client_gap_ms), EV_PROPOSE, UINT32_MAX, NULL);
}

static void fault_transfer(struct sim *s);

/* Reads, and now and then an operator moving leadership (a rolling restart
 * does that) while reads and writes are in flight. */
static void client_read(struct sim *s)
{
	int t = client_target(s);
	if (t >= 0)
		read_ask(s, &s->m[t]);
	if (!s->failed && chance(s, 15000))
		fault_transfer(s);
	schedule(s, s->now_ms + 1 + draw(s, s->read_gap_ms), EV_READ, UINT32_MAX, NULL);
}

/* ---- faults ----------------------------------------------------------------- */

static void links_all(struct sim *s, bool up)
{
	for (uint32_t a = 0; a < s->n; a++)
		for (uint32_t b = 0; b < s->n; b++)
			s->link[a][b] = up;
}

/* Members in different groups cannot talk (either way). */
static void partition_groups(struct sim *s, const uint32_t *group)
{
	char desc[64];
	size_t off = 0;
	for (uint32_t a = 0; a < s->n; a++) {
		for (uint32_t b = 0; b < s->n; b++)
			s->link[a][b] = group[a] == group[b];
		off += (size_t)snprintf(desc + off, sizeof(desc) - off, " m%u:%u", a + 1, group[a]);
	}
	sim_hash(s, 10, group[0], group[1], group[s->n - 1]);
	TRACE(s, -1, "partition into groups:%s", desc);
}

static void fault_partition(struct sim *s, uint32_t how)
{
	uint32_t group[SIM_MEMBERS_MAX];
	int l = leader_now(s);
	for (uint32_t i = 0; i < s->n; i++)
		group[i] = (how == 0) ? (uint32_t)draw(s, s->n == 5 ? 3 : 2) : 1;
	if (how == 1) { /* the leader alone */
		if (l < 0)
			l = (int)draw(s, s->n);
		group[l] = 0;
	}
	if (how == 2) { /* a minority with the leader, the majority without */
		if (l < 0)
			l = (int)draw(s, s->n);
		group[l] = 0;
		uint32_t more = (uint32_t)draw(s, s->n / 2);
		for (uint32_t k = 0; k < more; k++)
			group[draw(s, s->n)] = 0;
	}
	partition_groups(s, group);
}

/* One-way faults: a single link, or everything into or out of a member. */
static void fault_one_way(struct sim *s)
{
	int l = leader_now(s);
	uint32_t x = l >= 0 && chance(s, 500000) ? (uint32_t)l : (uint32_t)draw(s, s->n);
	uint32_t kind = (uint32_t)draw(s, 3);
	for (uint32_t o = 0; o < s->n; o++) {
		if (o == x)
			continue;
		if (kind == 0 && chance(s, 400000)) {
			s->link[x][o] = false;
			break;
		}
		if (kind == 1)
			s->link[o][x] = false; /* x is deaf */
		if (kind == 2)
			s->link[x][o] = false; /* x is mute */
	}
	sim_hash(s, 11, x, kind, 0);
	TRACE(s, -1, "one-way cut at m%u (%s)", x + 1,
	      kind == 0   ? "one outgoing link"
	      : kind == 1 ? "cannot hear"
			  : "cannot speak");
}

static void fault_crash(struct sim *s)
{
	int l = leader_now(s);
	int v = l >= 0 && chance(s, 350000) ? l : random_up(s);
	if (v < 0)
		return;
	/* Mostly keep a majority up; sometimes take it down too. */
	if (members_down(s) + 1 > s->n - sim_quorum(s) && !chance(s, 100000))
		return;
	member_crash(s, &s->m[v]);
	if (chance(s, 850000))
		schedule(s, s->now_ms + 20 + draw(s, 3000), EV_RESTART, (uint32_t)v, NULL);
}

static void fault_restart(struct sim *s)
{
	for (uint32_t i = 0; i < s->n && !s->failed; i++)
		if (s->m[i].core == NULL && chance(s, 500000))
			member_restart(s, &s->m[i]);
}

static void fault_pause(struct sim *s)
{
	int l = leader_now(s);
	int v = l >= 0 && chance(s, 500000) ? l : random_up(s);
	if (v < 0)
		return;
	uint64_t until = s->now_ms + 50 + draw(s, 2000);
	if (until > s->fault_end_ms)
		until = s->fault_end_ms;
	s->m[v].paused_until_ms = until;
	sim_hash(s, 12, (uint64_t)v, until, 0);
	TRACE(s, v, "PAUSE until %llums", (unsigned long long)until);
}

static const uint32_t drop_choices[] = {0, 10000, 50000, 150000, 400000};
static const uint32_t dup_choices[] = {0, 10000, 50000};
static const uint32_t delay_choices[] = {2, 10, 40, 100};
static const uint32_t long_choices[] = {0, 5000, 30000, 100000};
static const uint32_t long_max_choices[] = {500, 2000};
#define PICK(s, arr) ((arr)[draw((s), sizeof(arr) / sizeof((arr)[0]))])

static void fault_network(struct sim *s)
{
	s->drop_ppm = PICK(s, drop_choices);
	s->dup_ppm = PICK(s, dup_choices);
	s->delay_max_ms = PICK(s, delay_choices);
	s->long_delay_ppm = PICK(s, long_choices);
	s->long_delay_max_ms = PICK(s, long_max_choices);
	sim_hash(s, 13, s->drop_ppm, s->dup_ppm, s->delay_max_ms);
	TRACE(s, -1, "network: drop %u ppm, dup %u ppm, delay <= %u ms, long (<= %u ms) %u ppm",
	      s->drop_ppm, s->dup_ppm, s->delay_max_ms, s->long_delay_max_ms, s->long_delay_ppm);
}

static void fault_transfer(struct sim *s)
{
	int l = leader_now(s);
	if (l < 0)
		return;
	uint64_t target = chance(s, 300000) ? CAIRN_RAFT_NONE : 1 + draw(s, s->n);
	int rc = cairn_raft_transfer_leadership(s->m[l].core, target);
	TRACE(s, l, "transfer leadership to m%llu: %s", (unsigned long long)target,
	      rc ? cairn_strerror(rc) : "started");
	sim_hash(s, 14, (uint64_t)l, target, (uint64_t)-rc);
	drain(s, &s->m[l]);
}

/* A disk that stops completing for a while (a stalled fsync): writes queue
 * behind it, the member keeps ticking and talking. */
static void fault_disk_stall(struct sim *s)
{
	int l = leader_now(s);
	int v = l >= 0 && chance(s, 500000) ? l : random_up(s);
	if (v < 0)
		return;
	uint64_t until = s->now_ms + 100 + draw(s, 2000);
	if (until > s->fault_end_ms)
		until = s->fault_end_ms;
	if (s->m[v].disk_done_ms < until)
		s->m[v].disk_done_ms = until;
	sim_hash(s, 17, (uint64_t)v, until, 0);
	TRACE(s, v, "DISK STALL until %llums", (unsigned long long)until);
}

static void fault(struct sim *s)
{
	uint32_t roll = (uint32_t)draw(s, 21);
	if (roll < 4) {
		links_all(s, true);
		TRACE(s, -1, "network healed");
		sim_hash(s, 15, 0, 0, 0);
	} else if (roll < 9) {
		fault_partition(s, (uint32_t)draw(s, 3));
	} else if (roll < 11) {
		fault_one_way(s);
	} else if (roll < 14) {
		fault_crash(s);
	} else if (roll < 16) {
		fault_restart(s);
	} else if (roll < 17) {
		fault_pause(s);
	} else if (roll < 19) {
		fault_network(s);
	} else if (roll < 20) {
		fault_transfer(s);
	} else {
		fault_disk_stall(s);
	}
	schedule(s, s->now_ms + 1 + draw(s, 2 * s->fault_gap_ms), EV_FAULT, UINT32_MAX, NULL);
}

/* ---- healing and liveness ---------------------------------------------------- */

static void heal(struct sim *s)
{
	links_all(s, true);
	s->drop_ppm = 0;
	s->dup_ppm = 0;
	s->long_delay_ppm = 0;
	if (s->delay_max_ms > 10)
		s->delay_max_ms = 10;
	TRACE(s, -1, "HEAL: faults stop; a leader is due within %u election timeouts",
	      SIM_LIVENESS_ELECTIONS);
	for (uint32_t i = 0; i < s->n && !s->failed; i++) {
		s->m[i].paused_until_ms = 0;
		if (s->m[i].core == NULL)
			member_restart(s, &s->m[i]);
	}
	s->phase = SIM_PHASE_LEADER;
	s->heal_ms = s->now_ms;
	s->phase_deadline_ms = s->now_ms + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
}

/* A leader every member follows in its term, or -1. */
static int stable_leader(const struct sim *s)
{
	int l = leader_now(s);
	if (l < 0)
		return -1;
	for (uint32_t i = 0; i < s->n; i++) {
		const struct sim_member *mb = &s->m[i];
		if (mb->core == NULL || mb->term != s->m[l].term || mb->leader_id != s->m[l].id)
			return -1;
	}
	return l;
}

static bool all_saw_marker(const struct sim *s)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (!s->m[i].saw_marker)
			return false;
	return true;
}

/* A throttled cluster (one entry per message, one in flight, a slow disk)
 * may need long to bring a member back from far behind: what must not
 * happen is a stall, SIM_LIVENESS_ELECTIONS election timeouts in which the
 * leader's match indexes and the applied indexes do not move. */
static void catch_up_progress(struct sim *s, struct sim_member *leader)
{
	struct cairn_raft_status st;
	cairn_raft_status(leader->core, &st);
	uint64_t progress = 0;
	for (size_t i = 0; i < st.n_progress; i++)
		progress += st.progress[i].match;
	for (uint32_t i = 0; i < s->n; i++)
		progress += s->m[i].applied_seq.len;
	uint64_t key = leader->id << 32 | st.term;
	if (key != s->progress_key || progress > s->progress_max) {
		s->progress_key = key;
		s->progress_max = progress;
		s->phase_deadline_ms = s->now_ms + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
	}
}

static void liveness(struct sim *s)
{
	int l = stable_leader(s);
	if (s->phase == SIM_PHASE_LEADER && l >= 0) {
		if (propose(s, &s->m[l], true) == 0) {
			s->marker_leader = s->m[l].id << 32 | s->m[l].term;
			s->phase = SIM_PHASE_COMMIT;
			s->phase_deadline_ms = s->now_ms + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
		}
	} else if (s->phase == SIM_PHASE_COMMIT && all_saw_marker(s)) {
		if (l >= 0 && read_ask(s, &s->m[l]) == 0) {
			s->read_ctx = s->next_ctx;
			s->phase = SIM_PHASE_READ;
			s->phase_deadline_ms = s->now_ms + SIM_LIVENESS_ELECTIONS * SIM_ELECTION_MS;
		}
	} else if (s->phase == SIM_PHASE_COMMIT && l >= 0 &&
		   s->marker_leader != (s->m[l].id << 32 | s->m[l].term)) {
		/* Leadership moved before the marker made it: propose again. */
		if (propose(s, &s->m[l], true) == 0)
			s->marker_leader = s->m[l].id << 32 | s->m[l].term;
	}
	if (s->phase == SIM_PHASE_COMMIT && l >= 0)
		catch_up_progress(s, &s->m[l]);
	if (s->phase != SIM_PHASE_DONE && !s->failed &&
	    (s->now_ms > s->phase_deadline_ms || s->now_ms > s->heal_ms + SIM_CATCH_UP_MS_MAX)) {
		static const char *const what[] = {
			"", "no stable leader within %u election timeouts after healing",
			"a new entry was not applied on every member (no replication progress "
			"for %u election timeouts, or not within 120 s)",
			"a read at the leader was not answered within %u election timeouts"};
		sim_fail(s, "liveness", what[s->phase], SIM_LIVENESS_ELECTIONS);
	}
}

/* Once a read at the stable leader has been answered, every read asked
 * before must have been answered or dropped: members that lost leadership
 * drop theirs, and the leader confirms its rounds in order. */
static void reads_settled(struct sim *s)
{
	for (uint32_t i = 0; i < s->n && !s->failed; i++) {
		const struct sim_member *mb = &s->m[i];
		for (size_t k = 0; k < mb->n_reads; k++)
			sim_fail(s, "liveness",
				 "m%u still holds read %llu (asked, %s) after the cluster healed",
				 i + 1, (unsigned long long)mb->reads[k].ctx,
				 mb->reads[k].index ? "confirmed, never applied"
						    : "never confirmed");
	}
}

/* ---- the run ----------------------------------------------------------------- */

static void profile(struct sim *s)
{
	static const uint32_t disk_choices[] = {1, 5, 20, 60};
	static const uint32_t gap_choices[] = {100, 300, 1000, 3000};
	static const uint32_t client_choices[] = {5, 20, 60};
	static const uint32_t read_choices[] = {20, 60, 200};
	s->fault_end_ms = 4000 + draw(s, 8000);
	fault_network(s);
	s->disk_delay_max_ms = PICK(s, disk_choices);
	s->fault_gap_ms = PICK(s, gap_choices);
	s->client_gap_ms = PICK(s, client_choices);
	s->read_gap_ms = PICK(s, read_choices);
	s->pre_vote = chance(s, 750000);
	s->check_quorum = chance(s, 750000);
	if (chance(s, 500000)) {
		s->max_entries_per_msg = 1 + (uint32_t)draw(s, 8);
		s->max_inflight_msgs = 1 + (uint32_t)draw(s, 4);
		s->max_bytes_per_msg = chance(s, 500000) ? 64 + (uint32_t)draw(s, 448) : 0;
		/* One entry per round trip cannot keep up with 200 writes a
		 * second; the backlog would outlast any liveness bound. (No
		 * draw here, so other seeds keep their runs.) */
		if (s->max_entries_per_msg * s->max_inflight_msgs <= 2 && s->client_gap_ms < 60)
			s->client_gap_ms = 60;
	}
	TRACE(s, -1,
	      "seed %llu: %u members, faults for %llu ms, disk <= %u ms, fault gap %u ms, "
	      "client gap %u ms, read gap %u ms, pre-vote %d, check-quorum %d, "
	      "flow %u entries/%u bytes/%u inflight",
	      (unsigned long long)s->seed, s->n, (unsigned long long)s->fault_end_ms,
	      s->disk_delay_max_ms, s->fault_gap_ms, s->client_gap_ms, s->read_gap_ms, s->pre_vote,
	      s->check_quorum, s->max_entries_per_msg, s->max_bytes_per_msg, s->max_inflight_msgs);
}

/* Events for a paused member wait until it wakes up, in their order. */
static bool deferred(struct sim *s, const struct sim_event *ev)
{
	struct sim_member *mb = &s->m[ev->member];
	if (mb->paused_until_ms <= s->now_ms)
		return false;
	struct sim_event again = *ev;
	again.at_ms = mb->paused_until_ms;
	ev_push(s, again);
	return true;
}

static void dispatch(struct sim *s, struct sim_event *ev)
{
	struct sim_member *mb = ev->member < s->n ? &s->m[ev->member] : NULL;
	switch (ev->kind) {
	case EV_TICK:
		if (mb->core == NULL || ev->incarnation != mb->incarnation || deferred(s, ev))
			return;
		cairn_raft_tick(mb->core);
		drain_tick(s, mb);
		schedule(s, s->now_ms + s->tick_ms[ev->member], EV_TICK, ev->member, NULL);
		return;
	case EV_DELIVER:
		if (mb->core != NULL && deferred(s, ev))
			return;
		if (mb->core == NULL || !s->link[ev->msg->m.from - 1][ev->member]) {
			msg_release(s, ev->msg);
			return;
		}
		sim_hash(s, 16, ev->msg->m.type, ev->msg->m.from << 8 | ev->msg->m.to,
			 ev->msg->m.term);
		int rc = cairn_raft_step(mb->core, &ev->msg->m);
		if (rc != 0)
			sim_fail(s, "step", "m%llu refused %s from m%llu: %s",
				 (unsigned long long)mb->id, cairn_raft_msg_name(ev->msg->m.type),
				 (unsigned long long)ev->msg->m.from, cairn_strerror(rc));
		msg_release(s, ev->msg);
		drain(s, mb);
		return;
	case EV_DISK:
		if (mb->core == NULL || ev->incarnation != mb->incarnation || deferred(s, ev))
			return;
		disk_complete(s, mb);
		return;
	case EV_RESTART:
		if (mb->core == NULL && s->phase == SIM_PHASE_FAULTS)
			member_restart(s, mb);
		return;
	default:
		break;
	}
	if (s->phase != SIM_PHASE_FAULTS)
		return; /* clients and faults stop at the heal */
	if (ev->kind == EV_FAULT)
		fault(s);
	else if (ev->kind == EV_PROPOSE)
		client_propose(s);
	else if (ev->kind == EV_READ)
		client_read(s);
	else if (ev->kind == EV_HEAL)
		heal(s);
}

#define ULL(x) ((unsigned long long)(x))

/* What a message says, in the words its type uses. */
static void msg_describe(const struct cairn_raft_msg *m, char *buf, size_t size)
{
	switch (m->type) {
	case CAIRN_RAFT_MSG_PREVOTE:
	case CAIRN_RAFT_MSG_VOTE:
		snprintf(buf, size, "last %llu/%llu%s", ULL(m->last_log_index),
			 ULL(m->last_log_term), m->transfer ? " (transfer)" : "");
		break;
	case CAIRN_RAFT_MSG_APPEND:
		snprintf(buf, size, "prev %llu/%llu, %u entries, commit %llu", ULL(m->prev_index),
			 ULL(m->prev_term), m->n_entries, ULL(m->commit));
		break;
	case CAIRN_RAFT_MSG_APPEND_REPLY:
		if (m->reject)
			snprintf(buf, size, "REJECT index %llu, hint %llu/%llu", ULL(m->index),
				 ULL(m->hint_index), ULL(m->hint_term));
		else
			snprintf(buf, size, "ok index %llu", ULL(m->index));
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT:
		snprintf(buf, size, "commit %llu, read round %llu", ULL(m->commit),
			 ULL(m->read_seq));
		break;
	case CAIRN_RAFT_MSG_HEARTBEAT_REPLY:
		snprintf(buf, size, "read round %llu%s", ULL(m->read_seq),
			 m->reject ? " REJECT" : "");
		break;
	default:
		snprintf(buf, size, "%s", m->reject ? "REJECT" : "granted");
		break;
	}
}

static void trace_delivery(struct sim *s, const struct sim_event *ev)
{
	const struct cairn_raft_msg *m = &ev->msg->m;
	struct sim_member *mb = &s->m[ev->member];
	const char *fate = mb->core == NULL                    ? " (dropped: member down)"
			   : !s->link[m->from - 1][ev->member] ? " (dropped: partition)"
			   : mb->paused_until_ms > s->now_ms   ? " (deferred: paused)"
							       : "";
	char what[160];
	msg_describe(m, what, sizeof(what));
	sim_trace(s, (int)ev->member, "recv %s from m%llu term %llu: %s%s",
		  cairn_raft_msg_name(m->type), (unsigned long long)m->from,
		  (unsigned long long)m->term, what, fate);
}

/* Everything but the buffers starts from zero; the buffers one run grew
 * serve the next (thousands of runs per process: reusing them beats going
 * back to the allocator, a sanitizer's above all). */
static void sim_reset(struct sim *s)
{
	struct sim keep = *s;
	memset(s, 0, sizeof(*s));
	s->heap = keep.heap;
	s->heap_cap = keep.heap_cap;
	s->msg_free = keep.msg_free;
	s->write_free = keep.write_free;
	s->payloads = keep.payloads;
	s->payloads_cap = keep.payloads_cap;
	s->chunks = keep.chunks;
	s->n_chunks = keep.n_chunks;
	s->chunks_cap = keep.chunks_cap;
	s->ck = keep.ck;
	check_reset(&s->ck);
	for (uint32_t i = 0; i < SIM_MEMBERS_MAX; i++) {
		struct sim_member *mb = &s->m[i], *old = &keep.m[i];
		mb->log = (struct sim_log){.e = old->log.e, .cap = old->log.cap};
		mb->durable = (struct sim_log){.e = old->durable.e, .cap = old->durable.cap};
		mb->applied_seq =
			(struct sim_log){.e = old->applied_seq.e, .cap = old->applied_seq.cap};
		mb->reads = old->reads;
		mb->reads_cap = old->reads_cap;
		mb->vote_sent = old->vote_sent;
		mb->vote_sent_cap = old->vote_sent_cap;
		if (mb->vote_sent_cap > 0)
			memset(mb->vote_sent, 0, mb->vote_sent_cap * sizeof(*mb->vote_sent));
	}
}

static void sim_setup(struct sim *s, uint64_t seed, uint32_t n, bool verbose,
		      enum sim_inject inject)
{
	sim_reset(s);
	s->seed = seed;
	s->n = n;
	s->verbose = verbose;
	s->inject = inject;
	cairn_rand_seed(&s->rng, seed * 2 + (n == 5));
	links_all(s, true);
	profile(s);
	for (uint32_t i = 0; i < n; i++) {
		s->ids[i] = i + 1;
		s->m[i].id = i + 1;
		s->tick_ms[i] = SIM_TICK_MS - 1 + (uint32_t)draw(s, 3);
		TRACE(s, (int)i, "clock: a tick every %u ms", s->tick_ms[i]);
	}
	for (uint32_t i = 0; i < n && !s->failed; i++)
		member_start(s, &s->m[i], NULL);
	schedule(s, 1 + draw(s, s->fault_gap_ms), EV_FAULT, UINT32_MAX, NULL);
	schedule(s, 1 + draw(s, s->client_gap_ms), EV_PROPOSE, UINT32_MAX, NULL);
	schedule(s, 1 + draw(s, s->read_gap_ms), EV_READ, UINT32_MAX, NULL);
	schedule(s, s->fault_end_ms, EV_HEAL, UINT32_MAX, NULL);
}

/* Ends a run: cores go, buffers stay for the next run. */
static void sim_teardown(struct sim *s)
{
	s->verbose = false;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->m[i].core != NULL)
			member_crash(s, &s->m[i]);
	while (s->heap_len > 0) {
		struct sim_event ev = ev_pop(s);
		if (ev.msg)
			msg_release(s, ev.msg);
	}
}

static struct sim sim_state; /* large, and its buffers live across runs */

void sim_shutdown(void)
{
	struct sim *s = &sim_state;
	for (uint32_t i = 0; i < SIM_MEMBERS_MAX; i++)
		member_free(&s->m[i]);
	free(s->heap);
	while (s->write_free) {
		struct sim_write *w = s->write_free;
		s->write_free = w->next;
		free(w->ents);
		free(w);
	}
	while (s->msg_free) {
		struct sim_msg *sm = s->msg_free;
		s->msg_free = sm->next;
		free(sm->ents);
		free(sm);
	}
	for (uint32_t i = 0; i < s->n_chunks; i++)
		free(s->chunks[i]);
	free(s->chunks);
	free(s->payloads);
	check_free(&s->ck);
	memset(s, 0, sizeof(*s));
}

void sim_run(uint64_t seed, uint32_t n, bool verbose, enum sim_inject inject,
	     struct sim_result *res)
{
	struct sim *s = &sim_state;
	assert(n == 3 || n == 5);
	sim_setup(s, seed, n, verbose, inject);
	while (!s->failed && s->phase != SIM_PHASE_DONE && s->heap_len > 0) {
		struct sim_event ev = ev_pop(s);
		s->now_ms = ev.at_ms;
		if (s->verbose && ev.kind == EV_DELIVER)
			trace_delivery(s, &ev);
		dispatch(s, &ev);
		if (s->phase != SIM_PHASE_FAULTS && s->phase != SIM_PHASE_DONE && !s->failed)
			liveness(s);
	}
	if (!s->failed)
		check_final(s);
	if (!s->failed && s->phase != SIM_PHASE_DONE)
		sim_fail(s, "liveness", "the run ran out of events");
	if (!s->failed)
		reads_settled(s);
	res->passed = !s->failed;
	res->virtual_ms = s->now_ms;
	res->trace_hash = s->trace_hash;
	res->committed = s->ck.committed.len;
	res->elections = s->ck.elections;
	res->crashes = s->crashes;
	res->reads = s->reads_answered;
	_Static_assert(sizeof(res->why) == sizeof(s->why), "same size");
	memcpy(res->why, s->why, sizeof(res->why));
	TRACE(s, -1, "end: %s; %llu committed, trace hash %016llx", res->passed ? "pass" : "FAIL",
	      (unsigned long long)res->committed, (unsigned long long)res->trace_hash);
	sim_teardown(s);
}
