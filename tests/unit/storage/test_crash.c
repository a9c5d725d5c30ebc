/*
 * Crash test: a forked child appends batches (with hard state, sometimes
 * replacing a conflicting suffix in a new term, sometimes a hard state
 * alone) and applies committed prefixes to the key-value state machine,
 * directly or (every other child) through the storage thread in bursts of
 * queued jobs that it commits together, announcing each step on a pipe
 * before ("intent") and after ("done") it completes. The parent SIGKILLs it
 * at a random moment, reopens the data dir and checks that the disk holds
 * exactly the state after the last reported step plus some prefix (maybe
 * empty) of the steps in flight:
 * the log contiguous with non-decreasing terms and every payload intact, the
 * hard state never older than reported, the applied index matching the data
 * exactly, nothing reported durable missing. Then the next child continues
 * from there.
 *
 * CAIRN_CRASH_ITERATIONS (default 40) sets the number of kills and
 * CAIRN_CRASH_SEED the seed (printed on failure, replays the schedule; the
 * kill moments themselves depend on timing).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "crash_common.h"
#include "helpers.h"
#include "kv/kv.h"
#include "kv/worker.h"
#include "storage/storage.h"
#include "util/buf.h"
#include "util/rand.h"

#define KEYS 17
#define CLIENTS 3

struct msg {
	uint8_t kind; /* 'A' append intent, 'P' apply intent, 'D' done */
	uint64_t start, n, term;
	struct cairn_raft_hard_state hs;
	uint64_t upto;
};
_Static_assert(sizeof(struct msg) <= CRASH_MSG_BYTES_MAX, "atomic pipe writes");

/* What the disk must hold. terms[i] is the term of index i (1-based). */
struct model {
	uint64_t *terms;
	uint64_t last;
	uint64_t cap;
	uint64_t applied;
	struct cairn_raft_hard_state hs;
};

static uint64_t seed;
static uint64_t in_flight_found; /* steps found durable before their report */
static size_t max_in_flight;     /* most steps in flight at a kill */

/* ---- the command every (index, term) carries ---- */

static void key_of(uint64_t index, char *key, size_t size)
{
	snprintf(key, size, "k%llu", (unsigned long long)(index % KEYS));
}

static bool is_noop(uint64_t index)
{
	return index % 13 == 0;
}

static bool is_del(uint64_t index)
{
	return index % 11 == 0;
}

static void value_of(uint64_t index, uint64_t term, char *v, size_t size)
{
	snprintf(v, size, "v%llu.%llu", (unsigned long long)index, (unsigned long long)term);
}

static size_t payload_of(uint64_t index, uint64_t term, uint8_t *buf, size_t size)
{
	char key[16], v[48];
	key_of(index, key, sizeof(key));
	value_of(index, term, v, sizeof(v));
	struct cairn_kv_cmd c = {.op = is_del(index) ? CAIRN_KV_DEL : CAIRN_KV_PUT,
				 .client_id = 1 + index % CLIENTS,
				 .seq = index, /* rises along the log for every client */
				 .key = (const uint8_t *)key,
				 .key_len = (uint32_t)strlen(key),
				 .value = is_del(index) ? NULL : (const uint8_t *)v,
				 .value_len = is_del(index) ? 0 : (uint32_t)strlen(v)};
	size_t len = 0;
	if (cairn_kv_cmd_encode(&c, buf, size, &len) != 0)
		return 0;
	return len;
}

/* ---- the child ---- */

/* The child writes either directly (even kills) or through the storage
 * thread (odd kills), where it queues bursts of 1..8 jobs, appends and
 * applies mixed, before waiting for them: the worker commits what queued
 * up in one transaction, so a kill can land in the middle of a group. Each
 * job is announced before its submit and reported done, in order, from its
 * completion. The child plans every step on its own model of what its
 * queued steps will have written, not on the disk. */
struct child {
	struct cairn_storage *s;
	struct cairn_kv *kv;
	struct cairn_kv_worker *worker; /* NULL: direct calls */
	int fd;
	sem_t done_sem;
	size_t submitted; /* worker jobs */
	size_t done_count;
	/* The state once every step issued so far is done. */
	uint64_t *terms; /* terms[i]: term of index i */
	uint64_t cap;
	uint64_t last;
	uint64_t applied;
};

static void send_msg(int fd, const struct msg *m)
{
	crash_send(fd, m, sizeof(*m));
}

static void child_done(void *arg, const struct cairn_kv_done *d)
{
	struct child *c = arg;
	if (d->err != 0)
		_exit(5);
	send_msg(c->fd, &(struct msg){.kind = 'D'});
	c->done_count++;
}

/* Wait until every job submitted so far is done. */
static void child_wait(struct child *c)
{
	crash_wait_jobs(&c->done_sem, c->worker, &c->done_count, c->submitted, child_done, c);
}

static void child_set_term(struct child *c, uint64_t index, uint64_t term)
{
	if (index >= c->cap) {
		c->cap = index * 2 + 1024;
		c->terms = realloc(c->terms, (size_t)c->cap * sizeof(*c->terms));
		if (c->terms == NULL)
			_exit(3);
	}
	c->terms[index] = term;
}

/* Entry index in term, its payload in buf (128 bytes). */
static struct cairn_raft_entry entry_of(uint64_t index, uint64_t term, uint8_t *buf)
{
	struct cairn_raft_entry e = {.index = index, .term = term};
	e.type = is_noop(index) ? CAIRN_RAFT_ENTRY_NOOP : CAIRN_RAFT_ENTRY_NORMAL;
	e.len = is_noop(index) ? 0 : (uint32_t)payload_of(index, term, buf, 128);
	e.data = is_noop(index) ? NULL : buf;
	return e;
}

static int child_append(struct child *c, struct cairn_rand *r, uint64_t *term)
{
	uint64_t start = c->last + 1;
	size_t n = (size_t)cairn_rand_range(r, 1, 17);
	if (cairn_rand_chance(r, 100000)) {
		(*term)++; /* a vote in a new term: hard state alone */
		n = 0;
	} else if (c->last > c->applied && cairn_rand_chance(r, 200000)) {
		(*term)++; /* a new leader overwrites an unapplied suffix */
		start = cairn_rand_range(r, c->applied + 1, c->last + 2);
	}
	static struct cairn_raft_entry e[16];
	static uint8_t payloads[16][128];
	for (size_t i = 0; i < n; i++)
		e[i] = entry_of(start + i, *term, payloads[i]);
	struct msg m = {.kind = 'A', .start = start, .n = n, .term = *term};
	m.hs.term = *term;
	m.hs.vote = cairn_rand_range(r, 1, 4);
	m.hs.commit = c->applied;
	send_msg(c->fd, &m);
	int rv = c->worker != NULL ? cairn_kv_worker_append(c->worker, e, n, &m.hs, NULL)
				   : cairn_storage_append(c->s, e, n, &m.hs);
	if (rv != 0)
		return rv;
	if (c->worker != NULL)
		c->submitted++;
	else
		send_msg(c->fd, &(struct msg){.kind = 'D'});
	for (size_t i = 0; i < n; i++)
		child_set_term(c, start + i, *term);
	if (n > 0)
		c->last = start + n - 1;
	return 0;
}

static int child_apply(struct child *c, struct cairn_rand *r)
{
	if (c->last <= c->applied)
		return 0;
	uint64_t upto = cairn_rand_range(r, c->applied + 1, c->last + 1);
	size_t n = (size_t)(upto - c->applied);
	struct cairn_raft_entry *e = calloc(n, sizeof(*e));
	uint8_t(*payloads)[128] = calloc(n, sizeof(*payloads));
	struct cairn_kv_result *res = calloc(n, sizeof(*res));
	if (e == NULL || payloads == NULL || res == NULL)
		_exit(3);
	for (size_t i = 0; i < n; i++) {
		uint64_t index = c->applied + 1 + i;
		e[i] = entry_of(index, c->terms[index], payloads[i]);
	}
	send_msg(c->fd, &(struct msg){.kind = 'P', .upto = upto});
	int rv = c->worker != NULL ? cairn_kv_worker_apply(c->worker, e, n, NULL) /* copies */
				   : cairn_kv_apply(c->kv, e, n, res);
	if (rv == 0 && c->worker != NULL)
		c->submitted++;
	else if (rv == 0)
		send_msg(c->fd, &(struct msg){.kind = 'D'});
	if (rv == 0)
		c->applied = upto;
	free(e);
	free(payloads);
	free(res);
	return rv;
}

/* The child's model starts as the disk. */
static void child_load(struct child *c, uint64_t *term)
{
	struct cairn_raft_restore rs;
	struct cairn_storage_entries log = {0};
	if (cairn_storage_load(c->s, &rs, &log) != 0 || rs.first_prev_index != 0)
		_exit(3);
	for (size_t i = 0; i < rs.n_log; i++)
		child_set_term(c, rs.log[i].index, rs.log[i].term);
	c->last = rs.n_log;
	c->applied = rs.applied;
	*term = rs.hard_state.term;
	if (rs.n_log > 0 && rs.log[rs.n_log - 1].term > *term)
		*term = rs.log[rs.n_log - 1].term;
	if (*term == 0)
		*term = 1;
	cairn_storage_entries_free(&log);
}

static void child_main(const char *dir, uint64_t child_seed, bool use_worker, int fd)
{
	struct cairn_storage_options opt = {
		.dir = dir, .cluster_id = TEST_CLUSTER, .member_id = 1, .create = true};
	struct child c = {.fd = fd};
	char msg[256];
	if (cairn_storage_open(&c.s, &opt, msg, sizeof(msg)) != 0 ||
	    cairn_kv_open(&c.kv, c.s, NULL) != 0 || sem_init(&c.done_sem, 0, 0) != 0)
		_exit(3);
	struct cairn_kv_worker_options wopt = {.notify_cb = crash_notify,
					       .notify_arg = &c.done_sem};
	if (use_worker && cairn_kv_worker_start(&c.worker, c.s, c.kv, &wopt) != 0)
		_exit(3);
	uint64_t term = 0;
	child_load(&c, &term);
	struct cairn_rand r;
	cairn_rand_seed(&r, child_seed);
	for (;;) {
		size_t burst = use_worker ? (size_t)cairn_rand_range(&r, 1, 9) : 1;
		for (size_t i = 0; i < burst; i++) {
			int rv = cairn_rand_chance(&r, 600000) ? child_append(&c, &r, &term)
							       : child_apply(&c, &r);
			if (rv != 0)
				_exit(5);
		}
		if (use_worker)
			child_wait(&c);
	}
}

struct child_args {
	uint64_t child_seed;
	bool use_worker;
};

static void child_run(int fd, void *arg)
{
	const struct child_args *a = arg;
	child_main(tmpdir_path(), a->child_seed, a->use_worker, fd);
}

/* ---- the parent ---- */

static void model_set(struct model *m, uint64_t index, uint64_t term)
{
	if (index >= m->cap) {
		m->cap = m->cap == 0 ? 1024 : m->cap * 2;
		m->terms = realloc(m->terms, (size_t)m->cap * sizeof(*m->terms));
		cr_assert_not_null(m->terms);
	}
	m->terms[index] = term;
}

static void model_copy(struct model *dst, const struct model *src)
{
	free(dst->terms);
	*dst = *src;
	dst->terms = malloc((size_t)(src->cap > 0 ? src->cap : 1) * sizeof(*dst->terms));
	cr_assert_not_null(dst->terms);
	if (src->cap > 0)
		memcpy(dst->terms, src->terms, (size_t)src->cap * sizeof(*src->terms));
}

static void model_step(struct model *m, const struct msg *intent)
{
	if (intent->kind == 'P') {
		m->applied = intent->upto;
		return;
	}
	for (uint64_t i = 0; i < intent->n; i++)
		model_set(m, intent->start + i, intent->term);
	if (intent->n > 0)
		m->last = intent->start + intent->n - 1;
	m->hs = intent->hs;
}

static bool same_state(const struct model *m, const struct cairn_raft_restore *rs)
{
	if (rs->n_log != m->last || rs->applied != m->applied)
		return false;
	if (memcmp(&rs->hard_state, &m->hs, sizeof(m->hs)) != 0)
		return false;
	for (size_t i = 0; i < rs->n_log; i++)
		if (rs->log[i].term != m->terms[i + 1])
			return false;
	return true;
}

/* Every entry: contiguous, terms non-decreasing, the payload its
 * (index, term) dictates. */
static void check_log(const struct cairn_raft_restore *rs)
{
	cr_assert_eq(rs->first_prev_index, 0);
	uint64_t prev_term = 0;
	for (size_t i = 0; i < rs->n_log; i++) {
		const struct cairn_raft_entry *e = &rs->log[i];
		cr_assert_eq(e->index, i + 1, "contiguous (seed %llu)", (unsigned long long)seed);
		cr_assert_geq(e->term, prev_term, "terms never go down");
		prev_term = e->term;
		uint8_t want[128];
		size_t len =
			is_noop(e->index) ? 0 : payload_of(e->index, e->term, want, sizeof(want));
		cr_assert_eq(e->len, len, "payload of %llu", (unsigned long long)e->index);
		cr_assert(len == 0 || memcmp(e->data, want, len) == 0);
	}
	cr_assert_leq(rs->applied, rs->n_log, "applied entries are in the log");
}

/* The kv data is exactly the fold of the applied entries. */
static void check_kv(struct cairn_kv *kv, const struct cairn_raft_restore *rs)
{
	struct cairn_buf v;
	cairn_buf_init(&v, 0);
	for (uint64_t k = 0; k < KEYS; k++) {
		char key[16], want[48];
		want[0] = '\0';
		bool present = false;
		for (uint64_t i = 1; i <= rs->applied; i++) {
			if (i % KEYS != k || is_noop(i))
				continue;
			present = !is_del(i);
			if (present)
				value_of(i, rs->log[i - 1].term, want, sizeof(want));
		}
		key_of(k, key, sizeof(key));
		uint64_t applied = 0;
		int rv = cairn_kv_get(kv, key, strlen(key), &v, &applied);
		cr_assert_eq(applied, rs->applied);
		if (!present) {
			cr_assert_eq(rv, CAIRN_ENOTFOUND, "%s absent (seed %llu)", key,
				     (unsigned long long)seed);
			continue;
		}
		cr_assert_eq(rv, 0, "%s present (seed %llu)", key, (unsigned long long)seed);
		cr_assert_eq(v.len, strlen(want));
		cr_assert_eq(memcmp(v.data, want, v.len), 0, "%s = %s (seed %llu)", key, want,
			     (unsigned long long)seed);
	}
	cairn_buf_free(&v);
}

/* Reopen; the disk must be `reported` plus the first k of the steps in
 * flight (announced, not reported done), for some k: the storage thread
 * commits queued jobs together, in order, so any prefix may be durable.
 * Adopt what is on disk as the model for the next round. */
static void check_disk(struct model *reported, const struct msg *in_flight, size_t n_in_flight)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	struct cairn_kv *kv = NULL;
	cr_assert_eq(cairn_kv_open(&kv, s, NULL), 0);
	struct cairn_raft_restore rs;
	struct cairn_storage_entries log = {0};
	cr_assert_eq(cairn_storage_load(s, &rs, &log), 0);
	check_log(&rs);
	check_kv(kv, &rs);
	cr_assert_geq(rs.hard_state.term, reported->hs.term, "hard state never older");
	bool match = same_state(reported, &rs);
	struct model next = {0};
	model_copy(&next, reported);
	for (size_t k = 0; !match && k < n_in_flight; k++) {
		model_step(&next, &in_flight[k]);
		match = same_state(&next, &rs);
		if (match) {
			model_copy(reported, &next);
			in_flight_found += k + 1;
		}
	}
	free(next.terms);
	cr_assert(match,
		  "disk (last %zu, applied %llu, term %llu) is neither the reported state (last "
		  "%llu, applied %llu) nor that plus a prefix of the %zu steps in flight (seed "
		  "%llu)",
		  rs.n_log, (unsigned long long)rs.applied, (unsigned long long)rs.hard_state.term,
		  (unsigned long long)reported->last, (unsigned long long)reported->applied,
		  n_in_flight, (unsigned long long)seed);
	cairn_storage_entries_free(&log);
	cairn_kv_close(kv);
	cairn_storage_close(s);
}

static void setup(void)
{
	tmpdir_make();
}

static void teardown(void)
{
	tmpdir_remove();
}

Test(crash, sigkill_at_random_moments_loses_nothing_reported, .init = setup, .fini = teardown,
     .timeout = 300)
{
	int iterations = crash_iterations(40);
	seed = crash_seed();
	cr_log_info("crash test: %d kills, seed %llu", iterations, (unsigned long long)seed);
	struct cairn_rand r;
	cairn_rand_seed(&r, seed);
	struct model reported = {0};
	enum { MSGS_MAX = 1 << 16 };
	static struct msg msgs[MSGS_MAX];
	uint64_t steps = 0;
	for (int it = 0; it < iterations; it++) {
		struct child_args args = {.child_seed = cairn_rand_next(&r),
					  .use_worker = it % 2 == 1};
		uint64_t delay_ms = cairn_rand_range(&r, 5, 120);
		size_t n = crash_run_child(child_run, &args, delay_ms, msgs, sizeof(*msgs),
					   MSGS_MAX, seed);
		/* Intents not yet reported done, oldest first; a 'D' reports
		 * the oldest. */
		static struct msg in_flight[MSGS_MAX];
		size_t head = 0, tail = 0;
		for (size_t i = 0; i < n; i++) {
			if (msgs[i].kind == 'D') {
				cr_assert_lt(head, tail, "a report without an intent");
				model_step(&reported, &in_flight[head++]);
				steps++;
			} else {
				in_flight[tail++] = msgs[i];
			}
		}
		max_in_flight = tail - head > max_in_flight ? tail - head : max_in_flight;
		check_disk(&reported, in_flight + head, tail - head);
	}
	cr_log_info("crash test: %llu steps reported durable, %llu more found durable but "
		    "unreported, up to %zu in flight at a kill, final log %llu, applied %llu",
		    (unsigned long long)steps, (unsigned long long)in_flight_found, max_in_flight,
		    (unsigned long long)reported.last, (unsigned long long)reported.applied);
	cr_assert_gt(steps, 0, "the children made progress");
	free(reported.terms);
}
