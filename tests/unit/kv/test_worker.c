/* The storage thread: jobs run in order, completions carry the durable
 * position or the apply results, the queue is bounded, payloads are copied,
 * stop finishes what was queued, and a failure fails every later job. */
#include <criterion/criterion.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "../storage/helpers.h"
#include "cairn/errors.h"
#include "cmds.h"
#include "kv/kv.h"
#include "kv/worker.h"

static struct cairn_storage *store;
static struct cairn_kv *kv;
static struct cairn_kv_worker *worker;
static atomic_int notified;

#define DONE_MAX 256
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
