/*
 * Crash test for snapshot import and compaction: a forked child drives a
 * member's storage thread through snapshot streams (whole, with their
 * install, or cut short with none), appends after them, applies of the
 * appended no-ops, and compactions, announcing each step on a pipe before
 * ("intent") and after ("done") it completes. The parent SIGKILLs it at a
 * random moment, reopens the dir and checks that the disk is exactly the
 * state after the last reported step, or after the one in flight: the log
 * and its prev position, the applied index and term, and the key-value
 * state byte for byte one of the snapshots' (never a mix, never a partial
 * install). Then the next child continues from there.
 *
 * The three snapshots come from another member's dir, built once: S1 at
 * (I1, 2), S2 = S1 + 50 entries at (I1 + 50, 2), S3 = S2 + 70 entries at
 * (I1 + 120, 3), each several chunks long. No-op applies do not change the
 * key-value state, so the state is always the last installed snapshot's.
 *
 * CAIRN_CRASH_ITERATIONS (default 24) and CAIRN_CRASH_SEED tune it.
 */
#include <criterion/criterion.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "crash_common.h"
#include "helpers.h"
#include "snap_stream.h"
#include "kv/kv.h"
#include "kv/worker.h"
#include "storage/storage.h"
#include "util/rand.h"

#define SNAPS 3
#define I1 2400u

static struct snap_stream snaps[SNAPS];
static uint64_t snap_hash[SNAPS]; /* of each one's chunk bytes */
static uint64_t empty_hash;       /* the stream of the initial empty state */
static uint64_t seed;
static char src_dir[128], dst_dir[128];
static uint64_t kills_in_stream; /* kills while chunks or an install were in flight */
static uint64_t found_in_flight; /* kills after which the step in flight was durable */

struct msg {
	uint8_t kind; /* 'S' install, 'X' stream cut short, 'A' append, 'P' apply,
			 'C' compact, 'D' done */
	uint64_t a, b, c;
};
_Static_assert(sizeof(struct msg) <= CRASH_MSG_BYTES_MAX, "atomic pipe writes");

/* What the disk must hold. */
struct model {
	uint64_t prev_index, prev_term;
	uint64_t last;
	uint64_t *terms; /* terms[i] for prev_index < i <= last */
	uint64_t cap;
	uint64_t applied;
	int snap; /* the installed snapshot, -1: none */
};

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* ---- building the snapshots (parent, once) ---- */

#define BATCH 100

static void apply_puts(struct cairn_kv *kv, uint64_t from, uint64_t to, uint64_t term)
{
	static uint8_t value[900];
	static uint8_t bufs[BATCH][1024];
	struct cairn_raft_entry e[BATCH];
	struct cairn_kv_result r[BATCH];
	size_t n = 0;
	for (uint64_t i = from; i <= to; i++) {
		char key[32];
		snprintf(key, sizeof(key), "key%llu", (unsigned long long)(i % 2000));
		memset(value, (int)('a' + i % 26), sizeof(value));
		struct cairn_kv_cmd c = {.op = CAIRN_KV_PUT,
					 .client_id = 1 + i % 9,
					 .seq = i,
					 .key = (const uint8_t *)key,
					 .key_len = (uint32_t)strlen(key),
					 .value = value,
					 .value_len = sizeof(value)};
		size_t len = 0;
		cr_assert_eq(cairn_kv_cmd_encode(&c, bufs[n], sizeof(bufs[n]), &len), 0);
		e[n] = (struct cairn_raft_entry){.index = i,
						 .term = term,
						 .type = CAIRN_RAFT_ENTRY_NORMAL,
						 .len = (uint32_t)len,
						 .data = bufs[n]};
		n++;
		if (n == BATCH || i == to) {
			cr_assert_eq(cairn_kv_apply(kv, e, n, r), 0);
			n = 0;
		}
	}
}

/* Export kv's state; the hash of its chunk bytes, the chunks kept in s
 * unless it is NULL. */
static uint64_t export_state(struct cairn_kv *kv, struct snap_stream *s)
{
	struct snap_stream tmp;
	struct snap_stream *st = s != NULL ? s : &tmp;
	snap_stream_export(kv, st);
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < st->n; i++)
		h = fnv(h, st->chunks[i], st->lens[i]);
	if (s == NULL)
		snap_stream_free(&tmp);
	return h;
}

static void build_snaps(const char *dir)
{
	struct cairn_storage *s = open_store(dir, 9);
	struct cairn_kv *kv = NULL;
	cr_assert_eq(cairn_kv_open(&kv, s, NULL), 0);
	empty_hash = export_state(kv, NULL);
	const uint64_t ends[SNAPS] = {I1, I1 + 50, I1 + 120};
	const uint64_t terms[SNAPS] = {2, 2, 3};
	uint64_t from = 1;
	for (int k = 0; k < SNAPS; k++) {
		apply_puts(kv, from, ends[k], terms[k]);
		from = ends[k] + 1;
		snap_hash[k] = export_state(kv, &snaps[k]);
		cr_assert_eq(snaps[k].index, ends[k]);
		cr_assert_eq(snaps[k].term, terms[k]);
		cr_assert_geq(snaps[k].n, 2, "several chunks");
	}
	cairn_kv_close(kv);
	cairn_storage_close(s);
}

/* ---- the model, shared by child and parent ---- */

static void model_set(struct model *m, uint64_t index, uint64_t term)
{
	if (index >= m->cap) {
		m->cap = index * 2 + 1024;
		m->terms = realloc(m->terms, (size_t)m->cap * sizeof(*m->terms));
		if (m->terms == NULL)
			abort();
	}
	m->terms[index] = term;
}

static uint64_t model_term(const struct model *m, uint64_t index)
{
	return index == m->prev_index ? m->prev_term : m->terms[index];
}

static void model_step(struct model *m, const struct msg *s)
{
	switch (s->kind) {
	case 'S': {
		const struct snap_stream *sn = &snaps[s->a];
		bool holds = sn->index >= m->prev_index && sn->index <= m->last &&
			     model_term(m, sn->index) == sn->term;
		if (!holds)
			m->last = sn->index;
		m->prev_index = sn->index;
		m->prev_term = sn->term;
		m->applied = sn->index;
		m->snap = (int)s->a;
		break;
	}
	case 'A':
		for (uint64_t i = 0; i < s->b; i++)
			model_set(m, s->a + i, s->c);
		m->last = s->a + s->b - 1;
		break;
	case 'P':
		m->applied = s->a;
		break;
	case 'C':
		if (s->a > m->prev_index) {
			m->prev_term = model_term(m, s->a);
			m->prev_index = s->a;
		}
		break;
	default: /* 'X': staging only */
		break;
	}
}

static void model_copy(struct model *dst, const struct model *src)
{
	free(dst->terms);
	*dst = *src;
	dst->terms = malloc((size_t)(src->cap > 0 ? src->cap : 1) * sizeof(*dst->terms));
	if (dst->terms == NULL)
		abort();
	if (src->cap > 0)
		memcpy(dst->terms, src->terms, (size_t)src->cap * sizeof(*src->terms));
}

/* ---- the child ---- */

struct child {
	struct cairn_storage *s;
	struct cairn_kv *kv;
	struct cairn_kv_worker *w;
	int fd;
	sem_t sem;
	size_t submitted, done;
	struct model m;
};

static void child_done(void *arg, const struct cairn_kv_done *d)
{
	struct child *c = arg;
	if (d->err != 0)
		_exit(5);
	c->done++;
}

static void send_msg(int fd, const struct msg *m)
{
	crash_send(fd, m, sizeof(*m));
}

/* Wait for every job of the step, then report it done. */
static void child_finish(struct child *c, const struct msg *intent)
{
	crash_wait_jobs(&c->sem, c->w, &c->done, c->submitted, child_done, c);
	model_step(&c->m, intent);
	send_msg(c->fd, &(struct msg){.kind = 'D'});
}

static void child_stream(struct child *c, int k, size_t n_chunks)
{
	uint64_t off = 0;
	for (size_t i = 0; i < n_chunks; i++) {
		if (cairn_kv_worker_snap_chunk(c->w, snaps[k].index, snaps[k].term, off,
					       snaps[k].chunks[i], snaps[k].lens[i], NULL) != 0)
			_exit(5);
		off += snaps[k].lens[i];
		c->submitted++;
	}
}

static void child_step(struct child *c, struct cairn_rand *r)
{
	struct model *m = &c->m;
	struct msg s = {0};
	uint64_t dice = cairn_rand_below(r, 100);
	int k = (int)cairn_rand_below(r, SNAPS);
	if (dice < 25 && snaps[k].index >= m->applied) {
		s = (struct msg){.kind = 'S', .a = (uint64_t)k};
		send_msg(c->fd, &s);
		child_stream(c, k, snaps[k].n);
		if (cairn_kv_worker_snap_install(c->w, snaps[k].index, snaps[k].term, NULL) != 0)
			_exit(5);
		c->submitted++;
	} else if (dice < 35) {
		s = (struct msg){.kind = 'X', .a = (uint64_t)k};
		send_msg(c->fd, &s);
		child_stream(c, k, (size_t)cairn_rand_below(r, snaps[k].n));
	} else if (dice < 70) {
		uint64_t term = m->last > 0 ? model_term(m, m->last) : 1;
		if (term == 0)
			term = 1;
		if (cairn_rand_chance(r, 100000))
			term++;
		uint64_t n = cairn_rand_range(r, 1, 12);
		s = (struct msg){.kind = 'A', .a = m->last + 1, .b = n, .c = term};
		send_msg(c->fd, &s);
		struct cairn_raft_entry e[40];
		for (uint64_t i = 0; i < n; i++)
			e[i] = (struct cairn_raft_entry){
				.index = s.a + i, .term = term, .type = CAIRN_RAFT_ENTRY_NOOP};
		if (cairn_kv_worker_append(c->w, e, (size_t)n, NULL, NULL) != 0)
			_exit(5);
		c->submitted++;
	} else if (dice < 88) {
		if (m->last <= m->applied)
			return;
		uint64_t upto = cairn_rand_range(r, m->applied + 1, m->last + 1);
		s = (struct msg){.kind = 'P', .a = upto};
		send_msg(c->fd, &s);
		size_t n = (size_t)(upto - m->applied);
		struct cairn_raft_entry *e = calloc(n, sizeof(*e));
		if (e == NULL)
			_exit(3);
		for (size_t i = 0; i < n; i++)
			e[i] = (struct cairn_raft_entry){.index = m->applied + 1 + i,
							 .term = model_term(m, m->applied + 1 + i),
							 .type = CAIRN_RAFT_ENTRY_NOOP};
		int rv = cairn_kv_worker_apply(c->w, e, n, NULL);
		free(e);
		if (rv != 0)
			_exit(5);
		c->submitted++;
	} else {
		if (m->applied <= m->prev_index)
			return;
		s = (struct msg){.kind = 'C',
				 .a = cairn_rand_range(r, m->prev_index, m->applied + 1)};
		send_msg(c->fd, &s);
		if (cairn_kv_worker_compact(c->w, s.a, NULL) != 0)
			_exit(5);
		c->submitted++;
	}
	child_finish(c, &s);
}

static void child_main(const char *dir, uint64_t child_seed, int fd, const struct model *start)
{
	struct child c = {.fd = fd};
	model_copy(&c.m, start);
	c.s = open_store(dir, 1);
	if (cairn_kv_open(&c.kv, c.s, NULL) != 0 || sem_init(&c.sem, 0, 0) != 0)
		_exit(3);
	struct cairn_kv_worker_options wopt = {.notify_cb = crash_notify, .notify_arg = &c.sem};
	if (cairn_kv_worker_start(&c.w, c.s, c.kv, &wopt) != 0)
		_exit(3);
	struct cairn_rand r;
	cairn_rand_seed(&r, child_seed);
	for (;;)
		child_step(&c, &r);
}

struct child_args {
	uint64_t child_seed;
	const struct model *start;
};

static void child_run(int fd, void *arg)
{
	const struct child_args *a = arg;
	child_main(dst_dir, a->child_seed, fd, a->start);
}

/* ---- the parent ---- */

struct disk {
	struct cairn_raft_restore rs;
	struct cairn_storage_entries log;
	uint64_t applied_term;
	uint64_t hash;
};

static bool same_state(const struct model *m, const struct disk *d)
{
	const struct cairn_raft_restore *rs = &d->rs;
	if (rs->first_prev_index != m->prev_index || rs->first_prev_term != m->prev_term ||
	    rs->applied != m->applied || rs->n_log != m->last - m->prev_index)
		return false;
	for (size_t i = 0; i < rs->n_log; i++)
		if (rs->log[i].index != m->prev_index + 1 + i ||
		    rs->log[i].term != m->terms[m->prev_index + 1 + i])
			return false;
	uint64_t want_hash = m->snap < 0 ? empty_hash : snap_hash[m->snap];
	if (d->hash != want_hash)
		return false;
	uint64_t want_term = m->applied == 0 ? 0 : model_term(m, m->applied);
	return d->applied_term == want_term;
}

static void check_disk(const char *dir, struct model *reported, const struct msg *in_flight,
		       size_t n_in_flight)
{
	cr_assert_leq(n_in_flight, 1, "one step at a time");
	if (n_in_flight == 1 && (in_flight[0].kind == 'S' || in_flight[0].kind == 'X'))
		kills_in_stream++;
	struct cairn_storage *s = open_store(dir, 1);
	struct cairn_kv *kv = NULL;
	cr_assert_eq(cairn_kv_open(&kv, s, NULL), 0);
	struct disk d = {0};
	cr_assert_eq(cairn_storage_load(s, &d.rs, &d.log), 0, "load (seed %llu)",
		     (unsigned long long)seed);
	cr_assert_geq(d.rs.applied, d.rs.first_prev_index);
	uint64_t ai = 0;
	cr_assert_eq(cairn_kv_applied_pos(kv, &ai, &d.applied_term), 0);
	cr_assert_eq(ai, d.rs.applied);
	d.hash = export_state(kv, NULL);
	bool match = same_state(reported, &d);
	if (!match && n_in_flight == 1) {
		struct model next = {0};
		model_copy(&next, reported);
		model_step(&next, &in_flight[0]);
		match = same_state(&next, &d);
		if (match) {
			model_copy(reported, &next);
			found_in_flight++;
		}
		free(next.terms);
	}
	cr_assert(match,
		  "disk (prev %llu/%llu, %zu entries, applied %llu/%llu) is neither the reported "
		  "state (prev %llu, last %llu, applied %llu, snapshot %d) nor that after the "
		  "step in flight '%c' (seed %llu)",
		  (unsigned long long)d.rs.first_prev_index,
		  (unsigned long long)d.rs.first_prev_term, d.rs.n_log,
		  (unsigned long long)d.rs.applied, (unsigned long long)d.applied_term,
		  (unsigned long long)reported->prev_index, (unsigned long long)reported->last,
		  (unsigned long long)reported->applied, reported->snap,
		  n_in_flight > 0 ? in_flight[0].kind : '-', (unsigned long long)seed);
	cairn_storage_entries_free(&d.log);
	cairn_kv_close(kv);
	cairn_storage_close(s);
}

static void wipe_member(const char *dir)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	unlink(path);
	rmdir(dir);
}

static void setup(void)
{
	const char *t = tmpdir_make();
	snprintf(src_dir, sizeof(src_dir), "%s/src", t);
	snprintf(dst_dir, sizeof(dst_dir), "%s/dst", t);
}

static void teardown(void)
{
	for (int k = 0; k < SNAPS; k++)
		snap_stream_free(&snaps[k]);
	tmpdir_remove();
}

Test(crash, sigkill_during_snapshot_staging_and_install_leaves_old_or_new, .init = setup,
     .fini = teardown, .timeout = 300)
{
	int iterations = crash_iterations(24);
	seed = crash_seed();
	cr_log_info("snapshot crash test: %d kills, seed %llu", iterations,
		    (unsigned long long)seed);
	build_snaps(src_dir);
	struct cairn_rand r;
	cairn_rand_seed(&r, seed);
	struct model reported = {.snap = -1};
	enum { MSGS_MAX = 1 << 16 };
	static struct msg msgs[MSGS_MAX];
	uint64_t steps = 0, installs = 0;
	for (int it = 0; it < iterations; it++) {
		if (it % 3 == 0) {
			/* A fresh member now and then, so installs keep coming
			 * (applies soon pass the last snapshot's index). */
			wipe_member(dst_dir);
			free(reported.terms);
			reported = (struct model){.snap = -1};
		}
		struct child_args args = {.child_seed = cairn_rand_next(&r), .start = &reported};
		uint64_t delay_ms = cairn_rand_range(&r, 5, 150);
		size_t n = crash_run_child(child_run, &args, delay_ms, msgs, sizeof(*msgs),
					   MSGS_MAX, seed);
		struct msg pending = {0};
		bool has_pending = false;
		for (size_t i = 0; i < n; i++) {
			if (msgs[i].kind == 'D') {
				cr_assert(has_pending, "a report without an intent");
				model_step(&reported, &pending);
				installs += pending.kind == 'S';
				steps++;
				has_pending = false;
			} else {
				cr_assert(!has_pending, "one step at a time");
				pending = msgs[i];
				has_pending = true;
			}
		}
		check_disk(dst_dir, &reported, &pending, has_pending ? 1 : 0);
	}
	cr_log_info("snapshot crash test: %llu steps reported, %llu installs, %llu kills during "
		    "a stream or install, %llu in-flight steps found durable, final prev %llu "
		    "last %llu applied %llu snapshot %d",
		    (unsigned long long)steps, (unsigned long long)installs,
		    (unsigned long long)kills_in_stream, (unsigned long long)found_in_flight,
		    (unsigned long long)reported.prev_index, (unsigned long long)reported.last,
		    (unsigned long long)reported.applied, reported.snap);
	cr_assert_gt(steps, 0, "the children made progress");
	free(reported.terms);
}
