/*
 * worker.h - the storage thread: every disk write of a member, off the
 * event loop (DESIGN.md principle 3).
 *
 * One pthread consumes a bounded FIFO of jobs and runs them strictly in
 * order: append (entries + hard state of one Ready) and apply (a batch of
 * committed entries to the key-value state machine, with the applied
 * index). Every job queued when the thread wakes up (while the previous
 * sync ran), appends and applies interleaved, runs in ONE transaction with
 * one fsync (group commit; at most 256 jobs and about 32 MiB per group), in
 * submission order: an apply sees the entries and hard state of every job
 * before it. Each job still gets its own completion, sent only once the
 * transaction is durable, and cairn_kv_applied() moves only then. A bad job
 * in a group (a gap, an apply out of order) fails alone, with every job
 * after it; the jobs before it are committed as if it had not been there.
 * Each finished job becomes a completion on a done list and the caller's
 * notify_cb is called from the worker thread (in cairnd it calls
 * uv_async_send; it must be thread-safe and must not call back into the
 * worker). The caller then drains
 * completions on its own thread with cairn_kv_worker_drain().
 *
 * It lives in src/kv, not src/storage, because it drives both the log store
 * and the state machine and only kv may use both.
 *
 * Submitting never blocks on the disk: it copies the entries (payloads too:
 * the Ready's memory dies at cairn_raft_advance) and returns CAIRN_EFULL when
 * jobs_max jobs are queued, running or completed but not yet drained. After a
 * job fails, every later job fails with the same error without touching the
 * disk, so nothing is ever persisted out of order.
 *
 * Threads: submit, drain, stop and destroy are called from one thread (the
 * owner); notify_cb runs on the worker thread.
 */
#ifndef CAIRN_KV_WORKER_H
#define CAIRN_KV_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"
#include "kv/kv.h"
#include "storage/storage.h"

#define CAIRN_KV_WORKER_JOBS_DEFAULT 1024u

enum cairn_kv_job_kind {
	CAIRN_KV_JOB_APPEND = 1,
	CAIRN_KV_JOB_APPLY = 2,
};

/* A finished job, handed to the drain callback. Valid only during it. */
struct cairn_kv_done {
	void *data;   /* as given to submit */
	uint8_t kind; /* enum cairn_kv_job_kind */
	int err;      /* 0, or CAIRN_E*: the job had no effect */
	/* APPEND, err == 0: the log through last_index, whose term is
	 * last_term, and the job's hard state are durable (the arguments of
	 * cairn_raft_persisted). With no entries: the log's current last. */
	uint64_t last_index;
	uint64_t last_term;
	/* APPLY, err == 0: one result per entry, in order; applied is the
	 * applied index after the batch. */
	const struct cairn_kv_result *results;
	size_t n_results;
	uint64_t applied;
};

typedef void (*cairn_kv_notify_cb)(void *arg);
typedef void (*cairn_kv_done_cb)(void *arg, const struct cairn_kv_done *done);

struct cairn_kv_worker_options {
	size_t jobs_max; /* 0: CAIRN_KV_WORKER_JOBS_DEFAULT */
	/* Called on the worker thread when completions wait to be drained
	 * (at least once after each job; may be coalesced). May be NULL. */
	cairn_kv_notify_cb notify_cb;
	void *notify_arg;
};

struct cairn_kv_worker;

/* Start the thread. s and kv must outlive the worker. CAIRN_ENOMEM,
 * CAIRN_EINVAL, or CAIRN_EIO if the thread cannot be started. */
int cairn_kv_worker_start(struct cairn_kv_worker **out, struct cairn_storage *s,
			  struct cairn_kv *kv, const struct cairn_kv_worker_options *opt);

/* Queue an append of entries[0..n) (copied) and *hs (copied; NULL: none).
 * 0, CAIRN_EFULL (jobs_max jobs not yet drained), CAIRN_ENOMEM,
 * CAIRN_ETOOBIG (an entry over CAIRN_ENTRY_BYTES_MAX), CAIRN_EINVAL,
 * CAIRN_ESTOPPED after stop. On error no completion will come. */
int cairn_kv_worker_append(struct cairn_kv_worker *w, const struct cairn_raft_entry *entries,
			   size_t n, const struct cairn_raft_hard_state *hs, void *data);

/* Queue an apply of committed entries[0..n) (n >= 1, copied). Same
 * returns as cairn_kv_worker_append. */
int cairn_kv_worker_apply(struct cairn_kv_worker *w, const struct cairn_raft_entry *entries,
			  size_t n, void *data);

/* Call cb for every completion, in job order; returns how many. cb may
 * submit new jobs. */
size_t cairn_kv_worker_drain(struct cairn_kv_worker *w, cairn_kv_done_cb cb, void *arg);

/* Run every job already queued, then stop and join the thread. Later
 * submits return CAIRN_ESTOPPED; completions can still be drained. */
void cairn_kv_worker_stop(struct cairn_kv_worker *w);

/* Stop (if needed) and free, dropping completions not drained. NULL: no-op. */
void cairn_kv_worker_destroy(struct cairn_kv_worker *w);

#endif
