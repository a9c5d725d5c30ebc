/* The storage thread: jobs run in order, completions carry the durable
 * position or the apply results, the queue is bounded, payloads are copied,
 * stop finishes what was queued, and a failure fails every later job. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../storage/helpers.h"
#include "cairn/errors.h"
#include "cmds.h"
#include "kv/kv.h"
#include "kv/worker.h"
#include "util/buf.h"

static struct cairn_storage *store;
static struct cairn_kv *kv;
static struct cairn_kv_worker *worker;
static atomic_int notified;

#define DONE_MAX 512
static struct cairn_kv_done done[DONE_MAX];
static struct cairn_kv_result done_results[DONE_MAX][8];
static size_t n_done;

static void notify(void *arg)
{
	(void)arg;
	atomic_fetch_add(&notified, 1);
}

static void collect(void *arg, const struct cairn_kv_done *d)
{
	(void)arg;
	cr_assert_lt(n_done, DONE_MAX);
	done[n_done] = *d;
	if (d->n_results > 0) {
		cr_assert_leq(d->n_results, 8);
		memcpy(done_results[n_done], d->results, d->n_results * sizeof(*d->results));
	}
	done[n_done].results = done_results[n_done];
	n_done++;
}

/* Drain until count completions arrived (guarded against a hang). */
static void wait_done(size_t count)
{
	for (int i = 0; i < 10000 && n_done < count; i++) {
		cairn_kv_worker_drain(worker, collect, NULL);
		if (n_done < count)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	cr_assert_eq(n_done, count, "completions: %zu of %zu", n_done, count);
}

static void start(size_t jobs_max)
{
	struct cairn_kv_worker_options opt = {
		.jobs_max = jobs_max, .notify_cb = notify, .notify_arg = NULL};
	cr_assert_eq(cairn_kv_worker_start(&worker, store, kv, &opt), 0);
}

static void setup(void)
{
	tmpdir_make();
	store = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_kv_open(&kv, store, NULL), 0);
	n_done = 0;
	atomic_store(&notified, 0);
}

static void teardown(void)
{
	cairn_kv_worker_destroy(worker);
	worker = NULL;
	cairn_kv_close(kv);
	cairn_storage_close(store);
	cmds_reset();
	tmpdir_remove();
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 60);

Test(worker, appends_complete_in_order_with_their_durable_position)
{
	start(0);
	uint64_t next = 1;
	for (uintptr_t j = 0; j < 40; j++) {
		size_t n = 1 + j % 3;
		struct cairn_raft_hard_state hs = {.term = 1 + j / 10, .vote = 1, .commit = 0};
		cr_assert_eq(cairn_kv_worker_append(worker,
						    make_entries(next, next + n - 1, hs.term), n,
						    &hs, (void *)j),
			     0);
		next += n;
	}
	wait_done(40);
	uint64_t last = 0;
	for (uintptr_t j = 0; j < 40; j++) {
		cr_assert_eq(done[j].data, (void *)j, "in submission order");
		cr_assert_eq(done[j].kind, CAIRN_KV_JOB_APPEND);
		cr_assert_eq(done[j].err, 0);
		cr_assert_eq(done[j].last_index, last + 1 + j % 3);
		cr_assert_eq(done[j].last_term, 1 + j / 10);
		last = done[j].last_index;
	}
	cr_assert_gt(atomic_load(&notified), 0);
	struct cairn_raft_hard_state hs;
	cr_assert_eq(cairn_storage_hard_state(store, &hs), 0);
	cr_assert_eq(hs.term, 4);
}

Test(worker, hard_state_alone_reports_the_current_last_entry)
{
	start(0);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(1, 3, 2), 3, NULL, NULL), 0);
	struct cairn_raft_hard_state hs = {.term = 3, .vote = 2, .commit = 0};
	cr_assert_eq(cairn_kv_worker_append(worker, NULL, 0, &hs, NULL), 0);
	wait_done(2);
	cr_assert_eq(done[1].err, 0);
	cr_assert_eq(done[1].last_index, 3);
	cr_assert_eq(done[1].last_term, 2);
}

Test(worker, apply_completes_with_per_entry_results)
{
	start(0);
	struct cairn_raft_entry batch[3] = {
		cmd_entry(1, CAIRN_KV_PUT, 5, 1, "a", "1", NULL),
		cmd_entry(2, CAIRN_KV_CAS, 5, 2, "a", "2", "nope"),
		cmd_entry(3, CAIRN_KV_DEL, 5, 3, "b", NULL, NULL),
	};
	cr_assert_eq(cairn_kv_worker_apply(worker, batch, 3, (void *)7), 0);
	wait_done(1);
	cr_assert_eq(done[0].err, 0);
	cr_assert_eq(done[0].kind, CAIRN_KV_JOB_APPLY);
	cr_assert_eq(done[0].data, (void *)7);
	cr_assert_eq(done[0].n_results, 3);
	cr_assert_eq(done[0].applied, 3);
	cr_assert_eq(done[0].results[0].status, CAIRN_KV_OK);
	cr_assert_eq(done[0].results[1].status, CAIRN_KV_MISMATCH);
	cr_assert_eq(done[0].results[2].status, CAIRN_KV_NOTFOUND);
}

Test(worker, full_queue_refuses_without_blocking)
{
	start(4);
	for (uint64_t i = 1; i <= 4; i++)
		cr_assert_eq(cairn_kv_worker_append(worker, make_entries(i, i, 1), 1, NULL, NULL),
			     0);
	/* Queued, running or completed: all four count until drained. */
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(5, 5, 1), 1, NULL, NULL),
		     CAIRN_EFULL);
	wait_done(4);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(5, 5, 1), 1, NULL, NULL), 0);
	wait_done(5);
	cr_assert_eq(done[4].err, 0);
	cr_assert_eq(done[4].last_index, 5);
}

Test(worker, jobs_own_copies_of_their_payloads)
{
	start(0);
	char payload[16] = "original";
	struct cairn_raft_entry e = {.term = 1,
				     .index = 1,
				     .type = CAIRN_RAFT_ENTRY_NORMAL,
				     .len = 8,
				     .data = (const uint8_t *)payload};
	cr_assert_eq(cairn_kv_worker_append(worker, &e, 1, NULL, NULL), 0);
	memcpy(payload, "CLOBBER!", 8); /* the Ready's memory dies at advance */
	wait_done(1);
	struct cairn_storage_entries got = {0};
	cr_assert_eq(cairn_storage_read(store, 1, 1, &got), 0);
	cr_assert_eq(memcmp(got.entries[0].data, "original", 8), 0);
	cairn_storage_entries_free(&got);
}

Test(worker, stop_runs_every_queued_job_then_refuses)
{
	start(0);
	for (uint64_t i = 1; i <= 30; i++)
		cr_assert_eq(cairn_kv_worker_append(worker, make_entries(i, i, 1), 1, NULL, NULL),
			     0);
	cairn_kv_worker_stop(worker);
	cr_assert_eq(cairn_kv_worker_drain(worker, collect, NULL), 30);
	for (size_t i = 0; i < 30; i++)
		cr_assert_eq(done[i].err, 0);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(31, 31, 1), 1, NULL, NULL),
		     CAIRN_ESTOPPED);
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(store, &b), 0);
	cr_assert_eq(b.last_index, 30);
}

Test(worker, a_failed_job_fails_every_later_job)
{
	start(0);
	struct cairn_raft_entry gap = cmd_entry(2, CAIRN_KV_PUT, 1, 1, "a", "1", NULL);
	cr_assert_eq(cairn_kv_worker_apply(worker, &gap, 1, NULL), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(1, 1, 1), 1, NULL, NULL), 0);
	wait_done(2);
	cr_assert_eq(done[0].err, CAIRN_EINVAL);
	cr_assert_eq(done[0].n_results, 0);
	cr_assert_eq(done[1].err, CAIRN_EINVAL, "nothing persisted out of order");
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(store, &b), 0);
	cr_assert_eq(b.last_index, 0);
}

/* A notify_cb that holds the worker after its first completion until the
 * test has queued more jobs, so that they queue up behind a "sync". */
static sem_t gate;
static atomic_int gate_armed;

static void gated_notify(void *arg)
{
	(void)arg;
	if (atomic_exchange(&gate_armed, 0))
		while (sem_wait(&gate) != 0)
			;
}

static void start_gated(void)
{
	cr_assert_eq(sem_init(&gate, 0, 0), 0);
	atomic_store(&gate_armed, 1);
	struct cairn_kv_worker_options opt = {.notify_cb = gated_notify};
	cr_assert_eq(cairn_kv_worker_start(&worker, store, kv, &opt), 0);
}

Test(worker, appends_queued_behind_a_sync_share_one_commit)
{
	start_gated();
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(store, &st0);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(1, 1, 1), 1, NULL, (void *)0), 0);
	uint64_t next = 2;
	for (uintptr_t j = 1; j <= 20; j++) {
		struct cairn_raft_hard_state hs = {.term = 1, .vote = j, .commit = 0};
		if (j == 10) { /* a vote alone between batches */
			cr_assert_eq(cairn_kv_worker_append(worker, NULL, 0, &hs, (void *)j), 0);
			continue;
		}
		cr_assert_eq(cairn_kv_worker_append(worker, make_entries(next, next + 1, 1), 2, &hs,
						    (void *)j),
			     0);
		next += 2;
	}
	sem_post(&gate);
	wait_done(21);
	cairn_storage_stats(store, &st1);
	cr_assert_leq(st1.commits - st0.commits, 2, "21 jobs, %llu commits",
		      (unsigned long long)(st1.commits - st0.commits));
	uint64_t last = 1;
	for (uintptr_t j = 0; j <= 20; j++) {
		cr_assert_eq(done[j].data, (void *)j, "in order");
		cr_assert_eq(done[j].err, 0);
		if (j > 0 && j != 10)
			last += 2;
		cr_assert_eq(done[j].last_index, last, "job %zu", (size_t)j);
		cr_assert_eq(done[j].last_term, 1);
	}
	struct cairn_raft_hard_state hs;
	cr_assert_eq(cairn_storage_hard_state(store, &hs), 0);
	cr_assert_eq(hs.vote, 20, "the last hard state wins");
	sem_destroy(&gate);
}

Test(worker, a_bad_job_in_a_group_fails_alone_with_the_jobs_after_it)
{
	start_gated();
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(1, 1, 1), 1, NULL, NULL), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(2, 3, 1), 2, NULL, NULL), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(9, 9, 1), 1, NULL, NULL), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(4, 4, 1), 1, NULL, NULL), 0);
	sem_post(&gate);
	wait_done(4);
	cr_assert_eq(done[0].err, 0);
	cr_assert_eq(done[1].err, 0, "before the bad job: durable as if alone");
	cr_assert_eq(done[1].last_index, 3);
	cr_assert_eq(done[2].err, CAIRN_EINVAL);
	cr_assert_eq(done[3].err, CAIRN_EINVAL, "after it: never persisted out of order");
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(store, &b), 0);
	cr_assert_eq(b.last_index, 3);
	sem_destroy(&gate);
}

/* ---- one wake-up, one transaction: appends and applies together ---- */

/* LMDB flushes its data with fdatasync() once per commit; this
 * definition in the test executable counts those calls. */
static atomic_ulong fdatasyncs;

int fdatasync(int fd)
{
	atomic_fetch_add(&fdatasyncs, 1);
	return (int)syscall(SYS_fdatasync, fd);
}

/* Replace the fixture's store with one in a fresh dir whose map starts at
 * map_bytes and may grow up to map_bytes_max. */
static void reopen_store(uint64_t map_bytes, uint64_t map_bytes_max)
{
	cairn_kv_close(kv);
	cairn_storage_close(store);
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/small", tmpdir_path());
	struct cairn_storage_options opt = {.dir = dir,
					    .cluster_id = TEST_CLUSTER,
					    .member_id = 1,
					    .create = true,
					    .map_bytes = map_bytes,
					    .map_bytes_max = map_bytes_max};
	char msg[256];
	cr_assert_eq(cairn_storage_open(&store, &opt, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(cairn_kv_open(&kv, store, NULL), 0);
}

static void assert_value(const char *key, const char *want)
{
	struct cairn_buf v;
	cairn_buf_init(&v, 0);
	int rv = cairn_kv_get(kv, key, strlen(key), &v, NULL);
	if (want == NULL) {
		cr_assert_eq(rv, CAIRN_ENOTFOUND, "%s absent", key);
	} else {
		cr_assert_eq(rv, 0, "%s present", key);
		cr_assert_eq(v.len, strlen(want));
		cr_assert_eq(memcmp(v.data, want, v.len), 0, "%s = %s", key, want);
	}
	cairn_buf_free(&v);
}

Test(worker, appends_and_applies_of_one_wake_up_share_one_fdatasync)
{
	start_gated();
	struct cairn_raft_entry e[6] = {
		cmd_entry(1, CAIRN_KV_PUT, 7, 1, "a", "1", NULL),
		cmd_entry(2, CAIRN_KV_PUT, 7, 2, "b", "2", NULL),
		cmd_entry(3, CAIRN_KV_CAS, 7, 3, "a", "3", "1"),
		cmd_entry(4, CAIRN_KV_DEL, 7, 4, "b", NULL, NULL),
		cmd_entry(5, CAIRN_KV_PUT, 8, 1, "c", "5", NULL),
	};
	cr_assert_eq(cairn_kv_worker_append(worker, &e[0], 2, NULL, (void *)0), 0);
	wait_done(1); /* the worker now waits in gated_notify: the next jobs queue up */
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(store, &st0);
	unsigned long sync0 = atomic_load(&fdatasyncs);
	struct cairn_raft_hard_state hs = {.term = 1, .vote = 3, .commit = 4};
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[0], 2, (void *)1), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[2], 2, &hs, (void *)2), 0);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[2], 2, (void *)3), 0); /* same txn */
	cr_assert_eq(cairn_kv_worker_append(worker, &e[4], 1, NULL, (void *)4), 0);
	cr_assert_eq(cairn_kv_applied(kv), 0);
	sem_post(&gate);
	wait_done(5);
	cairn_storage_stats(store, &st1);
	cr_assert_eq(st1.commits - st0.commits, 1, "4 jobs, %llu commits",
		     (unsigned long long)(st1.commits - st0.commits));
	cr_assert_eq(atomic_load(&fdatasyncs) - sync0, 1, "one fdatasync");
	for (uintptr_t j = 0; j < 5; j++) {
		cr_assert_eq(done[j].data, (void *)j, "in order");
		cr_assert_eq(done[j].err, 0, "job %zu", (size_t)j);
	}
	cr_assert_eq(done[1].kind, CAIRN_KV_JOB_APPLY);
	cr_assert_eq(done[1].applied, 2, "each apply reports its own applied index");
	cr_assert_eq(done[1].n_results, 2);
	cr_assert_eq(done[2].last_index, 4, "each append its own durable last");
	cr_assert_eq(done[3].applied, 4);
	cr_assert_eq(done[3].results[0].status, CAIRN_KV_OK, "the cas saw the put before it");
	cr_assert_eq(done[3].results[1].status, CAIRN_KV_OK, "the del saw b");
	cr_assert_eq(done[4].last_index, 5);
	cr_assert_eq(cairn_kv_applied(kv), 4);
	uint64_t applied = 0;
	cr_assert_eq(cairn_storage_applied(store, &applied), 0);
	cr_assert_eq(applied, 4);
	assert_value("a", "3");
	assert_value("b", NULL);
	struct cairn_raft_hard_state got;
	cr_assert_eq(cairn_storage_hard_state(store, &got), 0);
	cr_assert_eq(got.vote, 3);
	sem_destroy(&gate);
}

Test(worker, a_failing_apply_job_in_a_group_fails_alone_with_the_jobs_after_it)
{
	start_gated();
	struct cairn_raft_entry e[5] = {
		cmd_entry(1, CAIRN_KV_PUT, 7, 1, "a", "1", NULL),
		cmd_entry(2, CAIRN_KV_PUT, 7, 2, "b", "2", NULL),
		cmd_entry(3, CAIRN_KV_PUT, 7, 3, "c", "3", NULL),
		cmd_entry(4, CAIRN_KV_PUT, 7, 4, "d", "4", NULL),
		cmd_entry(5, CAIRN_KV_PUT, 7, 5, "e", "5", NULL),
	};
	cr_assert_eq(cairn_kv_worker_append(worker, &e[0], 3, NULL, (void *)0), 0);
	wait_done(1);
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(store, &st0);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[0], 1, (void *)1), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[3], 1, NULL, (void *)2), 0);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[2], 1, (void *)3), 0); /* a gap: 2 skipped */
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[1], 1, (void *)4), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[4], 1, NULL, (void *)5), 0);
	sem_post(&gate);
	wait_done(6);
	cairn_storage_stats(store, &st1);
	cr_assert_eq(done[1].err, 0, "before the bad job: durable as if alone");
	cr_assert_eq(done[1].applied, 1);
	cr_assert_eq(done[2].err, 0);
	cr_assert_eq(done[2].last_index, 4);
	cr_assert_eq(done[3].err, CAIRN_EINVAL);
	cr_assert_eq(done[3].n_results, 0);
	cr_assert_eq(done[3].applied, 1, "the applied index it leaves");
	cr_assert_eq(done[4].err, CAIRN_EINVAL, "after it: never applied out of order");
	cr_assert_eq(done[5].err, CAIRN_EINVAL);
	cr_assert_eq(done[5].last_index, 0);
	cr_assert_eq(st1.commits - st0.commits, 1, "the jobs before it, in one commit");
	cr_assert_eq(cairn_kv_applied(kv), 1);
	uint64_t applied = 0;
	cr_assert_eq(cairn_storage_applied(store, &applied), 0);
	cr_assert_eq(applied, 1);
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(store, &b), 0);
	cr_assert_eq(b.last_index, 4);
	assert_value("a", "1");
	assert_value("b", NULL);
	sem_destroy(&gate);
}

Test(worker, map_full_in_a_mixed_group_reruns_the_whole_group_from_scratch)
{
	reopen_store(256 * 1024, 0);
	start_gated();
	enum { N = 16, VALUE = 40000 }; /* 640 kB into a 256 kB map */
	static char value[VALUE];
	memset(value, 'x', sizeof(value));
	static struct cairn_raft_entry e[N + 2];
	e[0] = noop_entry(1);
	for (uint64_t i = 1; i <= N; i++) {
		char key[8];
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)i);
		/* Client 9 numbers its commands, so a session written by an
		 * aborted attempt would make the rerun answer "duplicate". */
		e[i] = cmd_entry_bytes(i + 1, CAIRN_KV_PUT, 9, i, key, (uint32_t)strlen(key), value,
				       VALUE);
	}
	e[N + 1] = cmd_entry(N + 2, CAIRN_KV_CAS, 10, 1, "k1", "small", NULL);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[0], 1, NULL, (void *)0), 0);
	wait_done(1);
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(store, &st0);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[0], 1, (void *)1), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[1], N, NULL, (void *)2), 0);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[1], N / 2, (void *)3), 0);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[1 + N / 2], N / 2, (void *)4), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[N + 1], 1, NULL, (void *)5), 0);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[N + 1], 1, (void *)6), 0);
	sem_post(&gate);
	wait_done(7);
	cairn_storage_stats(store, &st1);
	cr_assert_gt(st1.map_grows - st0.map_grows, 0, "the group hit MAP_FULL");
	cr_assert_eq(st1.commits - st0.commits, 1, "and still committed once");
	for (size_t j = 0; j < 7; j++)
		cr_assert_eq(done[j].err, 0, "job %zu", j);
	for (size_t j = 3; j <= 4; j++)
		for (size_t i = 0; i < N / 2; i++) {
			cr_assert_eq(done[j].results[i].status, CAIRN_KV_OK);
			cr_assert(!done[j].results[i].duplicate, "no trace of the aborted attempt");
		}
	cr_assert_eq(done[6].results[0].status, CAIRN_KV_MISMATCH, "k1 holds the big value");
	cr_assert_eq(done[6].applied, N + 2);
	cr_assert_eq(done[5].last_index, N + 2);
	cr_assert_eq(cairn_kv_applied(kv), N + 2);
	uint64_t sessions = 0;
	cr_assert_eq(cairn_kv_sessions(kv, &sessions), 0);
	cr_assert_eq(sessions, 2);
	sem_destroy(&gate);
}

Test(worker, applied_index_stays_put_when_the_group_commit_fails)
{
	/* A map that may not grow: the big append overflows it, the whole
	 * group fails with the storage, the apply before it included. */
	reopen_store(256 * 1024, 256 * 1024);
	start_gated();
	enum { N = 12, VALUE = 40000 };
	static char value[VALUE];
	memset(value, 'x', sizeof(value));
	static struct cairn_raft_entry e[N + 1];
	e[0] = cmd_entry(1, CAIRN_KV_PUT, 0, 0, "a", "1", NULL);
	for (uint64_t i = 1; i <= N; i++)
		e[i] = cmd_entry_bytes(i + 1, CAIRN_KV_PUT, 0, 0, "k", 1, value, VALUE);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[0], 1, NULL, (void *)0), 0);
	wait_done(1);
	cr_assert_eq(cairn_kv_worker_apply(worker, &e[0], 1, (void *)1), 0);
	cr_assert_eq(cairn_kv_worker_append(worker, &e[1], N, NULL, (void *)2), 0);
	sem_post(&gate);
	wait_done(3);
	cr_assert_eq(done[1].err, CAIRN_ENOSPACE);
	cr_assert_eq(done[2].err, CAIRN_ENOSPACE);
	cr_assert_eq(cairn_storage_failed(store), CAIRN_ENOSPACE, "sticky");
	cr_assert_eq(cairn_kv_applied(kv), 0, "an apply that never committed is not visible");
	cr_assert_eq(done[1].applied, 0);
	uint64_t applied = 1;
	cr_assert_eq(cairn_storage_applied(store, &applied), 0);
	cr_assert_eq(applied, 0);
	assert_value("a", NULL);
	sem_destroy(&gate);
}

/* A reader on another thread: the applied index it sees published is never
 * ahead of what a read transaction started after it shows committed. */
static atomic_int reader_stop;
static atomic_ulong reader_ahead, reader_checks;

static void *reader_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&reader_stop)) {
		uint64_t published = cairn_kv_applied(kv);
		uint64_t committed = 0;
		if (cairn_storage_applied(store, &committed) != 0 || committed < published)
			atomic_fetch_add(&reader_ahead, 1);
		atomic_fetch_add(&reader_checks, 1);
	}
	return NULL;
}

Test(worker, published_applied_index_is_never_ahead_of_the_committed_one)
{
	start(0);
	pthread_t reader;
	cr_assert_eq(pthread_create(&reader, NULL, reader_main, NULL), 0);
	enum { ROUNDS = 120 }; /* 240 completions: under DONE_MAX */
	static struct cairn_raft_entry e[2 * ROUNDS + 2];
	for (uint64_t i = 1; i <= 2 * ROUNDS; i++)
		e[i] = cmd_entry(i, CAIRN_KV_PUT, 1, i, "k", "v", NULL);
	size_t want = 0;
	for (uint64_t r = 0; r < ROUNDS; r++) {
		/* Two entries per round, applied one round later, so that
		 * appends and applies keep sharing wake-ups. */
		if (cairn_kv_worker_append(worker, &e[2 * r + 1], 2, NULL, NULL) == 0)
			want++;
		if (r > 0 && cairn_kv_worker_apply(worker, &e[2 * r - 1], 2, NULL) == 0)
			want++;
		/* Keep about two jobs queued; no assert while the reader runs. */
		for (int i = 0; i < 10000 && n_done + 2 < want; i++) {
			cairn_kv_worker_drain(worker, collect, NULL);
			if (n_done + 2 < want)
				nanosleep(&(struct timespec){0, 100000}, NULL);
		}
	}
	int rv = cairn_kv_worker_apply(worker, &e[2 * ROUNDS - 1], 2, NULL);
	want++;
	cairn_kv_worker_stop(worker); /* runs what is queued */
	cairn_kv_worker_drain(worker, collect, NULL);
	atomic_store(&reader_stop, 1);
	pthread_join(reader, NULL);
	cr_assert_eq(rv, 0);
	cr_assert_eq(n_done, want);
	for (size_t j = 0; j < want; j++)
		cr_assert_eq(done[j].err, 0);
	cr_assert_eq(cairn_kv_applied(kv), 2 * ROUNDS);
	cr_assert_gt(atomic_load(&reader_checks), 0);
	cr_assert_eq(atomic_load(&reader_ahead), 0, "published before its commit %lu times",
		     atomic_load(&reader_ahead));
}

Test(worker, a_wake_up_commits_at_most_256_jobs_at_once)
{
	start_gated();
	cr_assert_eq(cairn_kv_worker_append(worker, make_entries(1, 1, 1), 1, NULL, NULL), 0);
	wait_done(1);
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(store, &st0);
	for (uint64_t i = 2; i <= 301; i++)
		cr_assert_eq(cairn_kv_worker_append(worker, make_entries(i, i, 1), 1, NULL, NULL),
			     0);
	sem_post(&gate);
	wait_done(301);
	cairn_storage_stats(store, &st1);
	cr_assert_eq(st1.commits - st0.commits, 2, "300 jobs: 256, then 44");
	for (size_t j = 1; j < 301; j++) {
		cr_assert_eq(done[j].err, 0);
		cr_assert_eq(done[j].last_index, j + 1);
	}
	sem_destroy(&gate);
}
