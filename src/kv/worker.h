/*
 * worker.h - the storage thread: every disk write of a member, off the
 * event loop (DESIGN.md principle 3).
 *
 * One pthread consumes a bounded FIFO of jobs and runs them strictly in
 * order: append (entries + hard state of one Ready), apply (a batch of
 * committed entries to the key-value state machine, with the applied
 * index), and the snapshot and compaction jobs (below: a chunk of a
 * received snapshot, its install, a log compaction). Every job queued when
 * the thread wakes up (while the previous sync ran), of every kind
 * interleaved, runs in ONE transaction with
 * one fsync (group commit; at most 256 jobs and about 32 MiB per group), in
 * submission order: an apply sees the entries and hard state of every job
 * before it. Each job still gets its own completion, sent only once the
 * transaction is durable, and cairn_kv_applied() moves only then. A bad
 * append or apply in a group (a gap, an apply out of order) fails alone,
 * with every job after it; the jobs before it are committed as if it had
 * not been there.
 * Each finished job becomes a completion on a done list and the caller's
 * notify_cb is called from the worker thread (in cairnd it calls
 * uv_async_send; it must be thread-safe and must not call back into the
 * worker). The caller then drains
 * completions on its own thread with cairn_kv_worker_drain().
 *
 * Applies alone wait for company: when a wake-up finds only apply jobs, the
 * thread first waits up to 1 ms (apply_linger_ns) for any other job (typically the next
 * request's append) so both share one fsync. An append, stop, a full group
 * or cairn_kv_worker_kick() ends that wait at once; kick when someone (a
 * linearizable read, a write whose reply needs the apply's result) waits
 * for the queued applies.
 *
 * It lives in src/kv, not src/storage, because it drives both the log store
 * and the state machine and only kv may use both.
 *
 * Submitting never blocks on the disk: it copies the entries (payloads too:
 * the Ready's memory dies at cairn_raft_advance) and returns CAIRN_EFULL when
 * jobs_max jobs are queued, running or completed but not yet drained. After
 * an append or apply fails, every later job fails with the same error
 * without touching the disk, so nothing is ever persisted out of order. (The
 * refusals of the snapshot and compaction jobs, below, are not sticky.)
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
	CAIRN_KV_JOB_SNAP_CHUNK = 3,
	CAIRN_KV_JOB_SNAP_INSTALL = 4,
	CAIRN_KV_JOB_COMPACT = 5,
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
	/* SNAP_INSTALL, err == 0: applied is the snapshot's index, and
	 * last_index / last_term the log's last after the install (the
	 * snapshot's index and term when the log was dropped whole).
	 * COMPACT, err == 0: last_index / last_term are the log's prev
	 * position after it (the compaction point and its term). */
};

typedef void (*cairn_kv_notify_cb)(void *arg);
typedef void (*cairn_kv_done_cb)(void *arg, const struct cairn_kv_done *done);

struct cairn_kv_worker_options {
	size_t jobs_max; /* 0: CAIRN_KV_WORKER_JOBS_DEFAULT */
	/* Called on the worker thread when completions wait to be drained
	 * (at least once after each job; may be coalesced). May be NULL. */
	cairn_kv_notify_cb notify_cb;
	void *notify_arg;
	/* How long applies alone wait for company; 0: 1 ms (tests stretch
	 * it to make the wait observable). */
	uint64_t apply_linger_ns;
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

/*
 * Snapshot import and compaction (snap_txn.h has the details). These jobs
 * run in FIFO order with appends and applies and share their transactions.
 * A refusal of a chunk or a compaction (bad input, below) fails that job
 * alone: it is not sticky, the jobs after it run normally. A refused install
 * is sticky like a disk error: the Raft core took the snapshot before the
 * install was queued, so nothing after it may be written (the member must
 * restart, and recovers from its disk as it was). A crash leaves
 * either the state before a job or after it: staging lives in databases of
 * its own, and an install is one transaction.
 *
 * snap_chunk: stage chunk[0..len) (copied; len <= CAIRN_SNAPSHOT_CHUNK_BYTES
 * else CAIRN_ETOOBIG at submit) of the snapshot (index, term), at byte
 * offset of its stream; offset 0 starts a new staging, discarding any other.
 * Refusals, discarding the staging: CAIRN_EPROTO (malformed chunk, records
 * out of order, a final chunk completing a state snap_install would refuse
 * as not holding together), CAIRN_EINVAL (offset not the staged end, (index, term) not
 * the staged one, a chunk after the final one).
 */
int cairn_kv_worker_snap_chunk(struct cairn_kv_worker *w, uint64_t index, uint64_t term,
			       uint64_t offset, const uint8_t *chunk, size_t len, void *data);

/*
 * snap_install: in one transaction, kv/sessions/sessions_lru become the
 * staged state, applied = index with term, the log follows (index, term)
 * (entries through index dropped if the log holds term at index, else the
 * whole log), the prev position becomes (index, term), the stored hard
 * state's commit is raised to index, the staging is cleared. Refusals,
 * sticky (every later job fails with the same error, nothing written):
 * CAIRN_EINVAL (not fully staged for (index, term), or index below the
 * applied index; nothing changes), CAIRN_EPROTO (the staged state does not
 * hold together: sessions vs their lru records, a session used after
 * index, a user key stored twice; staging discarded). cairn_kv_applied() moves to index once
 * durable.
 */
int cairn_kv_worker_snap_install(struct cairn_kv_worker *w, uint64_t index, uint64_t term,
				 void *data);

/* compact: drop the log entries through index (cairn_storage_drop_prefix
 * semantics). Refusal: CAIRN_EINVAL when index is above the applied index
 * or the log's last at its turn. An index at or below the prev position is
 * a no-op. */
int cairn_kv_worker_compact(struct cairn_kv_worker *w, uint64_t index, void *data);

/* Every job queued now is wanted now: if the thread is waiting for company
 * for queued applies, it starts them at once. No-op when nothing is
 * queued (a job already running is never delayed). */
void cairn_kv_worker_kick(struct cairn_kv_worker *w);

/* Call cb for every completion, in job order; returns how many. cb may
 * submit new jobs. */
size_t cairn_kv_worker_drain(struct cairn_kv_worker *w, cairn_kv_done_cb cb, void *arg);

/* Run every job already queued, then stop and join the thread. Later
 * submits return CAIRN_ESTOPPED; completions can still be drained. */
void cairn_kv_worker_stop(struct cairn_kv_worker *w);

/* Stop (if needed) and free, dropping completions not drained. NULL: no-op. */
void cairn_kv_worker_destroy(struct cairn_kv_worker *w);

#endif
