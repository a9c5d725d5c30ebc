/*
 * cluster.c - the simulated world one seed runs in: its clock and its run.
 *
 * A binary heap of events ordered by (virtual ms, sequence) drives everything:
 * member ticks (every 10 ms, each member at its own phase and clock rate),
 * message deliveries, disk completions, faults, client proposals and reads.
 * sim_run() sets up a cluster from the seed's profile, pops events until the
 * run is over, and hands each to the member (member.c) or to the fault and
 * client machinery (faults.c). Faults run until fault_end_ms; then
 * everything heals and liveness is required.
 */
#include "sim.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

struct sim_event {
	uint64_t at_ms;
	uint64_t seq;
	uint32_t kind;   /* enum sim_ev_kind */
	uint32_t member; /* index into s->m */
	uint32_t incarnation;
	struct sim_msg *msg;
};

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
	SIM_TRACE(s, -1, "VIOLATION %s", s->why);
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

void sim_schedule(struct sim *s, uint64_t at_ms, uint32_t kind, uint32_t member,
		  struct sim_msg *msg)
{
	/* A cluster of five with every fault has a few thousand events
	 * pending; far more means messages breed messages (a storm), which
	 * would otherwise end only when memory does. */
	uint64_t ents = msg != NULL ? msg->m.n_entries : 0;
	if (s->heap_len >= SIM_EVENTS_PENDING_MAX ||
	    s->ents_in_flight + ents > SIM_ENTRIES_IN_FLIGHT_MAX) {
		sim_fail(s, "message storm", "%zu events and %llu entries in flight (%u members)",
			 s->heap_len, (unsigned long long)s->ents_in_flight, s->n);
		if (msg != NULL)
			sim_msg_release(s, msg);
		return;
	}
	s->ents_in_flight += ents;
	struct sim_event ev = {.at_ms = at_ms, .kind = kind, .member = member, .msg = msg};
	if (member < s->n)
		ev.incarnation = s->m[member].incarnation;
	ev_push(s, ev);
}

/* ---- the run ----------------------------------------------------------------- */

static void profile(struct sim *s)
{
	static const uint32_t disk_choices[] = {1, 5, 20, 60};
	static const uint32_t gap_choices[] = {100, 300, 1000, 3000};
	static const uint32_t client_choices[] = {5, 20, 60};
	static const uint32_t read_choices[] = {20, 60, 200};
	s->fault_end_ms = 4000 + sim_draw(s, 8000);
	s->fault_mask = sim_fault_mask_draw(s);
	sim_fault_network(s);
	s->disk_delay_max_ms = SIM_PICK(s, disk_choices);
	s->fault_gap_ms = SIM_PICK(s, gap_choices);
	s->client_gap_ms = SIM_PICK(s, client_choices);
	s->read_gap_ms = SIM_PICK(s, read_choices);
	s->pre_vote = sim_chance(s, 750000);
	s->check_quorum = sim_chance(s, 750000);
	if (sim_chance(s, 500000)) {
		s->max_entries_per_msg = 1 + (uint32_t)sim_draw(s, 8);
		s->max_inflight_msgs = 1 + (uint32_t)sim_draw(s, 4);
		s->max_bytes_per_msg = sim_chance(s, 500000) ? 64 + (uint32_t)sim_draw(s, 448) : 0;
		/* One entry per round trip cannot keep up with 200 writes a
		 * second; the backlog would outlast any liveness bound. (No
		 * draw here, so other seeds keep their runs.) */
		if (s->max_entries_per_msg * s->max_inflight_msgs <= 2 && s->client_gap_ms < 60)
			s->client_gap_ms = 60;
	}
	static const uint32_t compact_choices[] = {0, 20000, 100000, 400000};
	static const uint32_t keep_choices[] = {0, 3, 20};
	static const uint32_t snap_fail_choices[] = {0, 0, 100000};
	s->compact_ppm = SIM_PICK(s, compact_choices);
	s->compact_keep_max = SIM_PICK(s, keep_choices);
	s->snap_fail_ppm = SIM_PICK(s, snap_fail_choices);
	static const uint32_t snap_delay_choices[] = {0, 0, 300, SIM_SNAP_DELAY_MS_MAX};
	s->snap_delay_max_ms = SIM_PICK(s, snap_delay_choices);
	SIM_TRACE(s, -1,
		  "seed %llu: %u members, faults for %llu ms, disk <= %u ms, fault gap %u ms, "
		  "client gap %u ms, read gap %u ms, pre-vote %d, check-quorum %d, "
		  "flow %u entries/%u bytes/%u inflight, fault kinds 0x%03x, compact %u ppm "
		  "keeping <= %u, snapshot failures %u ppm, snapshot transfer <= +%u ms",
		  (unsigned long long)s->seed, s->n, (unsigned long long)s->fault_end_ms,
		  s->disk_delay_max_ms, s->fault_gap_ms, s->client_gap_ms, s->read_gap_ms,
		  s->pre_vote, s->check_quorum, s->max_entries_per_msg, s->max_bytes_per_msg,
		  s->max_inflight_msgs, s->fault_mask, s->compact_ppm, s->compact_keep_max,
		  s->snap_fail_ppm, s->snap_delay_max_ms);
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
	case SIM_EV_TICK:
		if (mb->core == NULL || ev->incarnation != mb->incarnation || deferred(s, ev))
			return;
		cairn_raft_tick(mb->core);
		sim_drain_tick(s, mb);
		sim_schedule(s, s->now_ms + s->tick_ms[ev->member], SIM_EV_TICK, ev->member, NULL);
		return;
	case SIM_EV_DELIVER:
		if (mb->core != NULL && deferred(s, ev))
			return;
		s->ents_in_flight -= ev->msg->m.n_entries;
		if (mb->core == NULL || !s->link[ev->msg->m.from - 1][ev->member]) {
			sim_msg_release(s, ev->msg);
			return;
		}
		sim_hash(s, 16, ev->msg->m.type, ev->msg->m.from << 8 | ev->msg->m.to,
			 ev->msg->m.term);
		/* A SNAPSHOT's state is kept aside until the core says whether
		 * to install it (in the Ready that follows the step). */
		if (ev->msg->m.type == CAIRN_RAFT_MSG_SNAPSHOT)
			mb->snap_aside = ev->msg;
		int rc = cairn_raft_step(mb->core, &ev->msg->m);
		if (rc != 0)
			sim_fail(s, "step", "m%llu refused %s from m%llu: %s",
				 (unsigned long long)mb->id, cairn_raft_msg_name(ev->msg->m.type),
				 (unsigned long long)ev->msg->m.from, cairn_strerror(rc));
		sim_drain(s, mb);
		mb->snap_aside = NULL;
		sim_msg_release(s, ev->msg);
		return;
	case SIM_EV_DISK:
		if (mb->core == NULL || ev->incarnation != mb->incarnation || deferred(s, ev))
			return;
		sim_disk_complete(s, mb);
		return;
	case SIM_EV_RESTART:
		if (mb->core == NULL && s->phase == SIM_PHASE_FAULTS)
			sim_member_restart(s, mb);
		return;
	default:
		break;
	}
	if (s->phase != SIM_PHASE_FAULTS)
		return; /* clients and faults stop at the heal */
	if (ev->kind == SIM_EV_FAULT)
		sim_fault(s);
	else if (ev->kind == SIM_EV_PROPOSE)
		sim_client_propose(s);
	else if (ev->kind == SIM_EV_READ)
		sim_client_read(s);
	else if (ev->kind == SIM_EV_HEAL)
		sim_heal(s);
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
	case CAIRN_RAFT_MSG_SNAPSHOT:
		snprintf(buf, size, "state at %llu/%llu, commit %llu", ULL(m->prev_index),
			 ULL(m->prev_term), ULL(m->commit));
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
	sim_links_all(s, true);
	profile(s);
	for (uint32_t i = 0; i < n; i++) {
		s->ids[i] = i + 1;
		s->m[i].id = i + 1;
		s->tick_ms[i] = SIM_TICK_MS - 1 + (uint32_t)sim_draw(s, 3);
		SIM_TRACE(s, (int)i, "clock: a tick every %u ms", s->tick_ms[i]);
	}
	for (uint32_t i = 0; i < n && !s->failed; i++)
		sim_member_start(s, &s->m[i], NULL);
	sim_schedule(s, 1 + sim_draw(s, s->fault_gap_ms), SIM_EV_FAULT, UINT32_MAX, NULL);
	sim_schedule(s, 1 + sim_draw(s, s->client_gap_ms), SIM_EV_PROPOSE, UINT32_MAX, NULL);
	sim_schedule(s, 1 + sim_draw(s, s->read_gap_ms), SIM_EV_READ, UINT32_MAX, NULL);
	sim_schedule(s, s->fault_end_ms, SIM_EV_HEAL, UINT32_MAX, NULL);
}

/* Ends a run: cores go, buffers stay for the next run. */
static void sim_teardown(struct sim *s)
{
	s->verbose = false;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->m[i].core != NULL)
			sim_member_crash(s, &s->m[i]);
	while (s->heap_len > 0) {
		struct sim_event ev = ev_pop(s);
		if (ev.msg)
			sim_msg_release(s, ev.msg);
	}
}

static struct sim sim_state; /* large, and its buffers live across runs */

void sim_shutdown(void)
{
	struct sim *s = &sim_state;
	for (uint32_t i = 0; i < SIM_MEMBERS_MAX; i++)
		sim_member_free(&s->m[i]);
	free(s->heap);
	while (s->write_free) {
		struct sim_write *w = s->write_free;
		s->write_free = w->next;
		free(w->ents);
		free(w->snap);
		free(w->apply);
		free(w);
	}
	while (s->msg_free) {
		struct sim_msg *sm = s->msg_free;
		s->msg_free = sm->next;
		free(sm->ents);
		free(sm->snap);
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
		if (s->verbose && ev.kind == SIM_EV_DELIVER)
			trace_delivery(s, &ev);
		dispatch(s, &ev);
		if (s->phase != SIM_PHASE_FAULTS && s->phase != SIM_PHASE_DONE && !s->failed)
			sim_liveness(s);
	}
	if (!s->failed)
		check_final(s);
	if (!s->failed && s->phase != SIM_PHASE_DONE)
		sim_fail(s, "liveness", "the run ran out of events");
	if (!s->failed)
		sim_reads_settled(s);
	res->passed = !s->failed;
	res->virtual_ms = s->now_ms;
	res->trace_hash = s->trace_hash;
	res->committed = s->ck.committed.len;
	res->elections = s->ck.elections;
	res->crashes = s->crashes;
	res->reads = s->reads_answered;
	res->snapshots = s->snapshots_sent;
	res->installs = s->snapshots_installed;
	_Static_assert(sizeof(res->why) == sizeof(s->why), "same size");
	memcpy(res->why, s->why, sizeof(res->why));
	SIM_TRACE(s, -1, "end: %s; %llu committed, trace hash %016llx",
		  res->passed ? "pass" : "FAIL", (unsigned long long)res->committed,
		  (unsigned long long)res->trace_hash);
	sim_teardown(s);
}
