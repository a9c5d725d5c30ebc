/*
 * worker.c - the storage thread (contract in worker.h).
 *
 * A job is one allocation: the job header, its copied entries, room for the
 * per-entry results (apply) and the copied payloads. The owner thread pushes
 * jobs on the todo list; at each wake-up the worker takes every queued job
 * (up to the group bounds), runs them in order, appends and applies
 * interleaved, inside ONE write transaction committed with one fsync (group
 * commit: DESIGN.md principle 4), without holding the lock, and pushes them,
 * now completions, on the done list; the owner takes the whole done list at
 * once in drain. Job functions write only through the transaction and
 * overwrite their outputs, so a MAP_FULL retry of the whole group starts
 * clean; the applied index other threads read is published after commit.
 * A wake-up that finds only applies, not kicked, first waits up to
 * apply_linger_ns (CLOCK_MONOTONIC) for any other job, so the next append
 * rides in the same transaction; an append, a kick, stop or a full group
 * ends the wait.
 * notify_cb runs only when the done list goes from empty to non-empty:
 * whoever drains takes everything, so the next completion after a drain
 * always notifies again.
 *
 * in_flight counts jobs submitted and not yet drained; only the owner
 * changes it, so a submit can test it before allocating.
 */
#include "kv/worker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "kv/apply.h"
#include "kv/snap_txn.h"
#include "storage/txn.h"
#include "util/log.h"

/* More entries than this in one job is a caller bug, refused. */
#define JOB_ENTRIES_MAX (1u << 20)
/* One wake-up commits at most this many jobs, and (after the first job)
 * this much weight, in one transaction, keeping it well inside LMDB's
 * dirty-page limit and bounding the wait of the group's first job. A job
 * weighs its payload bytes plus ENTRY_WEIGHT_BYTES per entry (an entry
 * without payload still writes a log record, or a session and the kv). */
#define GROUP_JOBS_MAX 256u
#define GROUP_WEIGHT_BYTES_MAX (32u * 1024u * 1024u)
#define ENTRY_WEIGHT_BYTES 128u
/* A wake-up that finds only applies nobody is waiting for (not kicked)
 * waits at most this long for another job to share their transaction:
 * with one client, the next request's append arrives right after the
 * reply, and would otherwise wait behind the apply's own fsync. */
#define APPLY_LINGER_NS_DEFAULT 1000000u

struct job {
	struct job *next;
	uint8_t kind;
	void *data;
	struct cairn_raft_entry *entries; /* n copies, payloads in this block */
	size_t n;
	size_t payload_bytes;
	bool has_hs;
	struct cairn_raft_hard_state hs;
	struct cairn_kv_result *results; /* apply: n slots in this block */
	/* Snapshot and compaction jobs. */
	uint64_t index;
	uint64_t term;
	uint64_t offset;
	uint8_t *chunk; /* snap_chunk: chunk_len bytes in this block */
	size_t chunk_len;
	/* Outcome, written by the worker before the job moves to done.
	 * refused: the job's own refusal (not sticky), rewritten by every run
	 * of its transaction; err is set from it once that committed. */
	int refused;
	int err;
	uint64_t last_index;
	uint64_t last_term;
	uint64_t applied;
};

struct cairn_kv_worker {
	struct cairn_storage *storage;
	struct cairn_kv *kv;
	size_t jobs_max;
	cairn_kv_notify_cb notify_cb;
	void *notify_arg;
	uint64_t apply_linger_ns;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Guarded by mu. */
	struct job *todo_head, *todo_tail;
	struct job *done_head, *done_tail;
	bool stopping; /* the thread exits once todo is empty */
	bool kicked;   /* cairn_kv_worker_kick since the last take */

	/* Owner thread only. Invariant: in_flight <= jobs_max. */
	size_t in_flight;
	bool stopped; /* stop was called: submits refused, thread joined */

	/* Worker thread only: the first error, failing every later job. */
	int sticky_err;
};

static const char *kind_name(uint8_t kind)
{
	switch (kind) {
	case CAIRN_KV_JOB_APPEND:
		return "append";
	case CAIRN_KV_JOB_APPLY:
		return "apply";
	case CAIRN_KV_JOB_SNAP_CHUNK:
		return "snapshot chunk";
	case CAIRN_KV_JOB_SNAP_INSTALL:
		return "snapshot install";
	case CAIRN_KV_JOB_COMPACT:
		return "compact";
	default:
		return "?";
	}
}

static void note_failure(struct cairn_kv_worker *w, const struct job *j)
{
	if (j->err == 0 || w->sticky_err != 0)
		return;
	w->sticky_err = j->err;
	CAIRN_ERROR("storage thread: %s job failed (%s); failing every later job",
		    kind_name(j->kind), cairn_strerror(j->err));
}

static size_t job_weight(const struct job *j)
{
	switch (j->kind) {
	case CAIRN_KV_JOB_SNAP_CHUNK:
		return j->chunk_len + ENTRY_WEIGHT_BYTES;
	case CAIRN_KV_JOB_SNAP_INSTALL:
		return GROUP_WEIGHT_BYTES_MAX; /* copies the whole state: alone */
	case CAIRN_KV_JOB_COMPACT:
		return 64u * ENTRY_WEIGHT_BYTES;
	default:
		return j->payload_bytes + j->n * ENTRY_WEIGHT_BYTES;
	}
}

/* Mark j failed with err (it had no effect). */
static void fail_job(struct cairn_kv_worker *w, struct job *j, int err)
{
	assert(err != 0);
	j->err = err;
	j->last_index = 0;
	j->last_term = 0;
	j->applied = cairn_kv_applied(w->kv);
}

/* jobs[0..n) of one wake-up, inside one write transaction. */
struct group_args {
	const struct cairn_kv *kv;
	struct job **jobs;
	size_t n;
	/* Out, rewritten by every run (a MAP_FULL retry starts afresh): the
	 * job whose function failed (n: none failed, the commit did), and
	 * the applied index the group leaves (0: it applies nothing). */
	size_t failed_at;
	uint64_t applied;
};

static int group_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct group_args *a = arg;
	a->failed_at = a->n;
	a->applied = 0;
	for (size_t i = 0; i < a->n; i++) {
		struct job *j = a->jobs[i];
		int rc = 0;
		j->refused = 0;
		switch (j->kind) {
		case CAIRN_KV_JOB_APPEND: {
			struct cairn_storage_append_batch b = {
				.entries = j->entries,
				.n = j->n,
				.hs = j->has_hs ? &j->hs : NULL,
			};
			rc = cairn_storage_append_in_txn(txn, dbs, &b);
			j->last_index = b.last_index;
			j->last_term = b.last_term;
			break;
		}
		case CAIRN_KV_JOB_APPLY:
			rc = cairn_kv_apply_in_txn(a->kv, txn, dbs, j->entries, j->n, j->results);
			if (rc == 0)
				a->applied = j->applied = j->entries[j->n - 1].index;
			break;
		case CAIRN_KV_JOB_SNAP_CHUNK:
			rc = cairn_kv_snap_stage_in_txn(txn, dbs, j->index, j->term, j->offset,
							j->chunk, j->chunk_len, &j->refused);
			break;
		case CAIRN_KV_JOB_SNAP_INSTALL:
			rc = cairn_kv_snap_install_in_txn(txn, dbs, j->index, j->term, &j->refused,
							  &j->last_index, &j->last_term);
			if (rc == 0 && j->refused == 0)
				a->applied = j->applied = j->index;
			/* The core has already taken the state: a refused install
			 * must stop every later write (the Ready queued behind it
			 * raises the commit index over the old log), so it fails
			 * like a disk error, sticky. */
			if (rc == 0 && j->refused != 0)
				rc = j->refused;
			break;
		case CAIRN_KV_JOB_COMPACT:
			rc = cairn_storage_drop_prefix_in_txn(txn, dbs, j->index, &j->last_index,
							      &j->last_term);
			if (rc == CAIRN_EINVAL) {
				j->refused = rc; /* nothing written: refuse it alone */
				rc = 0;
			}
			break;
		default:
			assert(!"submit admits only known kinds");
			rc = CAIRN_EINVAL;
		}
		if (rc != 0) {
			a->failed_at = i;
			return rc;
		}
	}
	return 0;
}

/*
 * Run jobs[0..n), taken off todo in one wake-up, in order, in as few
 * durable transactions as possible: normally one. The applied index is
 * published only after the commit. When a job's function fails while the
 * storage is healthy (bad input, or a transaction grown too big), the jobs
 * before it are committed on their own and the run resumes at it; a job
 * that fails first in its transaction fails alone, and every job after it
 * fails with the same error (sticky), exactly as if each had run alone. A
 * failed commit, or a storage that entered its failed state, fails the
 * first job of the transaction and so every later one.
 */
static void run_group(struct cairn_kv_worker *w, struct job **jobs, size_t n)
{
	size_t i = 0, end = n;
	while (i < n) {
		if (w->sticky_err != 0) {
			for (; i < n; i++)
				fail_job(w, jobs[i], w->sticky_err);
			return;
		}
		/* failed_at stays "none" if no run starts (storage failed, or
		 * no transaction could begin): the whole group fails. */
		struct group_args a = {
			.kv = w->kv, .jobs = jobs + i, .n = end - i, .failed_at = end - i};
		int rv = cairn_storage_write_txn(w->storage, group_fn, &a);
		if (rv == 0) {
			if (a.applied != 0)
				cairn_kv_publish_applied(w->kv, a.applied);
			for (; i < end; i++) {
				jobs[i]->err = jobs[i]->refused;
				if (jobs[i]->err != 0) {
					jobs[i]->last_index = 0;
					jobs[i]->last_term = 0;
					jobs[i]->applied = cairn_kv_applied(w->kv);
				}
			}
			end = n;
			continue;
		}
		if (cairn_storage_failed(w->storage) == 0 && a.failed_at > 0 &&
		    a.failed_at < end - i) {
			end = i + a.failed_at; /* commit those before it, then retry it */
			continue;
		}
		fail_job(w, jobs[i], rv);
		note_failure(w, jobs[i]);
		i++;
	}
}

/* Take every job queued (up to the group bounds) off todo. Called with mu
 * held. */
static size_t take_jobs(struct cairn_kv_worker *w, struct job **jobs)
{
	size_t n = 0, weight = 0;
	while (w->todo_head != NULL && n < GROUP_JOBS_MAX) {
		struct job *j = w->todo_head;
		if (n > 0 && weight + job_weight(j) > GROUP_WEIGHT_BYTES_MAX)
			break;
		w->todo_head = j->next;
		if (w->todo_head == NULL)
			w->todo_tail = NULL;
		j->next = NULL;
		weight += job_weight(j);
		jobs[n++] = j;
	}
	return n;
}

/* True when todo holds only applies, fewer than a group's worth, and
 * nothing asks for them now: worth waiting for company. Called with mu
 * held. */
static bool should_linger(const struct cairn_kv_worker *w)
{
	if (w->stopping || w->kicked || w->todo_head == NULL)
		return false;
	size_t n = 0;
	for (const struct job *j = w->todo_head; j != NULL; j = j->next) {
		if (j->kind != CAIRN_KV_JOB_APPLY || ++n >= GROUP_JOBS_MAX)
			return false;
	}
	return true;
}

/* Wait (mu held) up to apply_linger_ns while should_linger holds. */
static void linger(struct cairn_kv_worker *w)
{
	if (!should_linger(w))
		return;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	uint64_t ns = (uint64_t)until.tv_nsec + w->apply_linger_ns;
	until.tv_sec += (time_t)(ns / 1000000000u);
	until.tv_nsec = (long)(ns % 1000000000u);
	while (should_linger(w)) {
		if (pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT)
			break;
	}
}

static void *worker_main(void *arg)
{
	struct cairn_kv_worker *w = arg;
	struct job *jobs[GROUP_JOBS_MAX];
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->todo_head == NULL && !w->stopping)
			pthread_cond_wait(&w->cv, &w->mu);
		linger(w);
		w->kicked = false;
		size_t n = take_jobs(w, jobs);
		if (n == 0)
			break; /* stopping, and everything queued is done */
		pthread_mutex_unlock(&w->mu);

		run_group(w, jobs, n);

		pthread_mutex_lock(&w->mu);
		bool was_empty = w->done_head == NULL;
		for (size_t i = 0; i < n; i++) {
			if (w->done_head == NULL)
				w->done_head = jobs[i];
			else
				w->done_tail->next = jobs[i];
			w->done_tail = jobs[i];
		}
		if (was_empty && w->notify_cb != NULL) {
			pthread_mutex_unlock(&w->mu);
			w->notify_cb(w->notify_arg);
			pthread_mutex_lock(&w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int cairn_kv_worker_start(struct cairn_kv_worker **out, struct cairn_storage *s,
			  struct cairn_kv *kv, const struct cairn_kv_worker_options *opt)
{
	if (s == NULL || kv == NULL)
		return CAIRN_EINVAL;
	struct cairn_kv_worker *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return CAIRN_ENOMEM;
	w->storage = s;
	w->kv = kv;
	w->jobs_max =
		opt != NULL && opt->jobs_max != 0 ? opt->jobs_max : CAIRN_KV_WORKER_JOBS_DEFAULT;
	w->notify_cb = opt != NULL ? opt->notify_cb : NULL;
	w->notify_arg = opt != NULL ? opt->notify_arg : NULL;
	w->apply_linger_ns = opt != NULL && opt->apply_linger_ns != 0 ? opt->apply_linger_ns
								      : APPLY_LINGER_NS_DEFAULT;
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		return CAIRN_ENOMEM;
	}
	pthread_condattr_t ca;
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&w->mu);
		free(w);
		return CAIRN_ENOMEM;
	}
	int crc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (crc == 0)
		crc = pthread_cond_init(&w->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (crc != 0) {
		pthread_mutex_destroy(&w->mu);
		free(w);
		return CAIRN_ENOMEM;
	}
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		free(w);
		return CAIRN_EIO;
	}
	*out = w;
	return 0;
}

/* One block: job, entries[n], results[n] (apply), payloads, then
 * extra_bytes (a snapshot chunk). */
static struct job *job_new(uint8_t kind, const struct cairn_raft_entry *entries, size_t n,
			   size_t extra_bytes)
{
	size_t payload_bytes = 0;
	for (size_t i = 0; i < n; i++)
		payload_bytes += entries[i].len; /* each <= CAIRN_ENTRY_BYTES_MAX */
	size_t results_bytes = kind == CAIRN_KV_JOB_APPLY ? n * sizeof(struct cairn_kv_result) : 0;
	size_t bytes = sizeof(struct job) + n * sizeof(struct cairn_raft_entry) + results_bytes +
		       payload_bytes + extra_bytes;
	struct job *j = malloc(bytes);
	if (j == NULL)
		return NULL;
	memset(j, 0, sizeof(*j));
	j->kind = kind;
	j->n = n;
	j->payload_bytes = payload_bytes;
	j->entries = (struct cairn_raft_entry *)(j + 1);
	j->results = results_bytes > 0 ? (struct cairn_kv_result *)(j->entries + n) : NULL;
	uint8_t *p = (uint8_t *)(j->entries + n) + results_bytes;
	for (size_t i = 0; i < n; i++) {
		j->entries[i] = entries[i];
		if (entries[i].len == 0) {
			j->entries[i].data = NULL;
			continue;
		}
		memcpy(p, entries[i].data, entries[i].len);
		j->entries[i].data = p;
		p += entries[i].len;
	}
	j->chunk = extra_bytes > 0 ? p : NULL;
	return j;
}

/* Queue j (owner thread). */
static void enqueue(struct cairn_kv_worker *w, struct job *j)
{
	w->in_flight++;
	assert(w->in_flight <= w->jobs_max);
	pthread_mutex_lock(&w->mu);
	if (w->todo_tail == NULL)
		w->todo_head = j;
	else
		w->todo_tail->next = j;
	w->todo_tail = j;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

static int can_submit(const struct cairn_kv_worker *w)
{
	if (w->stopped)
		return CAIRN_ESTOPPED;
	if (w->in_flight >= w->jobs_max)
		return CAIRN_EFULL;
	return 0;
}

static int submit(struct cairn_kv_worker *w, uint8_t kind, const struct cairn_raft_entry *entries,
		  size_t n, const struct cairn_raft_hard_state *hs, void *data)
{
	int rv = can_submit(w);
	if (rv != 0)
		return rv;
	if (n > JOB_ENTRIES_MAX || (n > 0 && entries == NULL))
		return CAIRN_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (entries[i].len > CAIRN_ENTRY_BYTES_MAX)
			return CAIRN_ETOOBIG;
	struct job *j = job_new(kind, entries, n, 0);
	if (j == NULL)
		return CAIRN_ENOMEM;
	j->data = data;
	if (hs != NULL) {
		j->has_hs = true;
		j->hs = *hs;
	}
	enqueue(w, j);
	return 0;
}

/* A snapshot or compaction job (no entries). */
static int submit_snap(struct cairn_kv_worker *w, uint8_t kind, uint64_t index, uint64_t term,
		       uint64_t offset, const uint8_t *chunk, size_t len, void *data)
{
	int rv = can_submit(w);
	if (rv != 0)
		return rv;
	if (len > CAIRN_SNAPSHOT_CHUNK_BYTES)
		return CAIRN_ETOOBIG;
	if (len > 0 && chunk == NULL)
		return CAIRN_EINVAL;
	struct job *j = job_new(kind, NULL, 0, len);
	if (j == NULL)
		return CAIRN_ENOMEM;
	j->data = data;
	j->index = index;
	j->term = term;
	j->offset = offset;
	j->chunk_len = len;
	if (len > 0)
		memcpy(j->chunk, chunk, len);
	enqueue(w, j);
	return 0;
}

int cairn_kv_worker_snap_chunk(struct cairn_kv_worker *w, uint64_t index, uint64_t term,
			       uint64_t offset, const uint8_t *chunk, size_t len, void *data)
{
	return submit_snap(w, CAIRN_KV_JOB_SNAP_CHUNK, index, term, offset, chunk, len, data);
}

int cairn_kv_worker_snap_install(struct cairn_kv_worker *w, uint64_t index, uint64_t term,
				 void *data)
{
	return submit_snap(w, CAIRN_KV_JOB_SNAP_INSTALL, index, term, 0, NULL, 0, data);
}

int cairn_kv_worker_compact(struct cairn_kv_worker *w, uint64_t index, void *data)
{
	return submit_snap(w, CAIRN_KV_JOB_COMPACT, index, 0, 0, NULL, 0, data);
}

int cairn_kv_worker_append(struct cairn_kv_worker *w, const struct cairn_raft_entry *entries,
			   size_t n, const struct cairn_raft_hard_state *hs, void *data)
{
	return submit(w, CAIRN_KV_JOB_APPEND, entries, n, hs, data);
}

int cairn_kv_worker_apply(struct cairn_kv_worker *w, const struct cairn_raft_entry *entries,
			  size_t n, void *data)
{
	if (n == 0)
		return CAIRN_EINVAL;
	return submit(w, CAIRN_KV_JOB_APPLY, entries, n, NULL, data);
}

void cairn_kv_worker_kick(struct cairn_kv_worker *w)
{
	pthread_mutex_lock(&w->mu);
	if (w->todo_head != NULL) {
		w->kicked = true;
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
}

size_t cairn_kv_worker_drain(struct cairn_kv_worker *w, cairn_kv_done_cb cb, void *arg)
{
	pthread_mutex_lock(&w->mu);
	struct job *j = w->done_head;
	w->done_head = NULL;
	w->done_tail = NULL;
	pthread_mutex_unlock(&w->mu);
	size_t count = 0;
	while (j != NULL) {
		struct job *next = j->next;
		struct cairn_kv_done d = {
			.data = j->data,
			.kind = j->kind,
			.err = j->err,
			.last_index = j->last_index,
			.last_term = j->last_term,
			.results = j->err == 0 ? j->results : NULL,
			.n_results = j->err == 0 && j->kind == CAIRN_KV_JOB_APPLY ? j->n : 0,
			.applied = j->applied,
		};
		assert(w->in_flight > 0);
		w->in_flight--; /* before cb, so that cb may submit into the room */
		cb(arg, &d);
		free(j);
		count++;
		j = next;
	}
	return count;
}

void cairn_kv_worker_stop(struct cairn_kv_worker *w)
{
	if (w->stopped)
		return;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	w->stopped = true;
}

static void free_list(struct job *j)
{
	while (j != NULL) {
		struct job *next = j->next;
		free(j);
		j = next;
	}
}

void cairn_kv_worker_destroy(struct cairn_kv_worker *w)
{
	if (w == NULL)
		return;
	cairn_kv_worker_stop(w);
	assert(w->todo_head == NULL);
	free_list(w->done_head);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
