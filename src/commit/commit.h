/*
 * commit.h - the commit manager: applies committed entries in order and in
 * batches, and completes the requests waiting on them.
 *
 * The node loop pushes every committed entry the Raft core hands out (the
 * manager copies them). The manager keeps at most one apply batch in flight:
 * it hands a contiguous run of entries to ops.apply (in cairnd a storage job
 * that applies them to the key-value state machine in one LMDB transaction
 * together with the applied index) and, while that runs, queues what arrives,
 * so batches grow by themselves under load. When the batch is done the caller
 * reports per-entry results with cairn_commit_applied(); the manager then
 * advances its applied index and completes waiters:
 *
 *   write waiters  (a proposal at index/term): completed with the state
 *                  machine's result when the entry at that index carries
 *                  that term; if it carries another term the proposal was
 *                  overwritten and never took effect (CAIRN_EUNAVAIL).
 *                  A waiter marked at_commit (a write whose result cannot
 *                  depend on the state, e.g. a PUT) completes as soon as its
 *                  entry is pushed as committed, with result 0: the entry is
 *                  durable on a majority and reads wait for it to apply.
 *   apply waiters  (a confirmed read): completed once applied >= index.
 *
 * A follower that installs a snapshot jumps: cairn_commit_snapshot_begin()
 * when the install is handed to storage, cairn_commit_snapshot_done() once
 * it is durable; applied then becomes the snapshot's index.
 *
 * The manager knows nothing of sockets or LMDB, so its ordering and waiter
 * rules are unit-tested with a fake ops.apply. Single-threaded: every call
 * comes from the node loop. Errors: 0 or a negative CAIRN_E* code.
 */
#ifndef CAIRN_COMMIT_COMMIT_H
#define CAIRN_COMMIT_COMMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"

/* At most this many entries, and (after the first) payload bytes, per apply
 * batch: one LMDB transaction stays short enough to keep latency low. */
#define CAIRN_COMMIT_BATCH_ENTRIES_MAX 1024u
#define CAIRN_COMMIT_BATCH_BYTES_MAX (16u * 1024u * 1024u)

struct cairn_commit_waiter;

/* Called once per waiter. err is 0 and result the state machine's result
 * for the entry (writes) or 0 (apply waiters); otherwise err says why the
 * waiter was given up: CAIRN_EUNAVAIL (the proposal was overwritten: it did
 * not take effect), CAIRN_ENOTLEADER or CAIRN_ESTOPPED (given up by the
 * caller: outcome unknown), CAIRN_EIO (applying failed). The callback may
 * free the waiter. */
typedef void (*cairn_commit_done_cb)(struct cairn_commit_waiter *w, int err, int result);

/* Caller-allocated; the caller sets index (and term for writes), done_cb and
 * data, and keeps the struct alive until done_cb ran. */
struct cairn_commit_waiter {
	uint64_t index;
	uint64_t term;  /* writes: the term the entry was proposed in */
	bool at_commit; /* writes: complete on commit, result 0 (see above) */
	cairn_commit_done_cb done_cb;
	void *data;
	/* Private to the manager. */
	struct cairn_commit_waiter *prev;
	struct cairn_commit_waiter *next;
};

/* Start applying entries[0..n) (n >= 1, consecutive indexes) as one batch.
 * The entries stay valid until cairn_commit_applied() for this batch.
 * Returns 0, or an error after which the manager stops (see commit_failed). */
typedef int (*cairn_commit_apply_fn)(void *ctx, const struct cairn_raft_entry *entries, size_t n);

/* Someone now waits for the batch in flight (a confirmed read, or a write
 * whose reply needs its result): it should not be delayed. A hint. */
typedef void (*cairn_commit_urgent_fn)(void *ctx);

struct cairn_commit_ops {
	cairn_commit_apply_fn apply;
	cairn_commit_urgent_fn urgent; /* may be NULL */
	void *ctx;
};

/* A list of waiters kept sorted by index. */
struct cairn_commit_waitq {
	struct cairn_commit_waiter *head;
	struct cairn_commit_waiter *tail;
	size_t n;
};

struct cairn_commit {
	struct cairn_commit_ops ops;
	/* Invariant: applied < index of every queued entry; queued entries are
	 * consecutive from applied + 1, except while a snapshot is pending:
	 * then those after the batch in flight continue from snapshot + 1. */
	uint64_t applied;
	/* 0, or the index of the newest snapshot install not yet done. While
	 * set no batch starts (the install must land first). */
	uint64_t snapshot;
	struct cairn_raft_entry *queue; /* owned copies, data malloc'd */
	size_t n_queue;
	size_t cap_queue;
	size_t n_inflight; /* queue[0..n_inflight) are being applied */
	int failed;        /* 0, or the error that stopped applying */
	struct cairn_commit_waitq writes;
	struct cairn_commit_waitq reads;
};

/* Initialise with the applied index recovered from storage. */
void cairn_commit_init(struct cairn_commit *cm, const struct cairn_commit_ops *ops,
		       uint64_t applied);
/* Frees queued entries and gives every waiter up with CAIRN_ESTOPPED. Call
 * only while no batch is in flight (or the apply will never be reported). */
void cairn_commit_close(struct cairn_commit *cm);

/* Copy committed entries (consecutive, continuing the last pushed or the
 * applied index; entries at or below applied are skipped) and start a batch
 * if none is in flight. CAIRN_ENOMEM, CAIRN_EINVAL for a gap, or the error
 * of ops.apply. */
int cairn_commit_push(struct cairn_commit *cm, const struct cairn_raft_entry *entries, size_t n);

/* The batch in flight is done. err 0: results[i] is the state machine's
 * result for the i-th entry of the batch (n must equal the batch size).
 * Otherwise applying failed: the manager stops, every waiter is given up
 * with err, and later pushes return err. Starts the next batch. */
int cairn_commit_applied(struct cairn_commit *cm, int err, const int *results, size_t n);

/* Wait for the outcome of a proposal at w->index in term w->term. Writes
 * already known lost (a waiter at or above a newer proposal's index, whose
 * entry is thus overwritten) are completed with CAIRN_EUNAVAIL right away.
 * An index at or below applied cannot be judged any more and is refused with
 * CAIRN_EINVAL (done_cb not called). */
int cairn_commit_wait_write(struct cairn_commit *cm, struct cairn_commit_waiter *w);

/* Wait until applied >= w->index; completes at once (done_cb called before
 * returning) when it already is. */
void cairn_commit_wait_applied(struct cairn_commit *cm, struct cairn_commit_waiter *w);

/* Give up every write waiter with err (leadership lost: the caller cannot
 * tell whether they will commit). Apply waiters are kept. */
void cairn_commit_fail_writes(struct cairn_commit *cm, int err);

/* A snapshot through index (index > every entry pushed so far) will
 * replace the state machine: the caller handed its install to storage
 * after every apply batch started so far. Queued entries not yet handed to
 * ops.apply are dropped (the snapshot holds them); a batch in flight
 * completes as usual. Write waiters at or below index are given up with
 * CAIRN_ENOTLEADER (outcome unknown: this member no longer follows them).
 * Until the matching cairn_commit_snapshot_done() no batch starts, and
 * entries pushed continue from index + 1. A second begin (a newer snapshot
 * before the first is done) supersedes the first. CAIRN_EINVAL if index is
 * not above what was pushed; the error that stopped the manager. */
int cairn_commit_snapshot_begin(struct cairn_commit *cm, uint64_t index);

/* The install of the snapshot through index is durable: applied becomes
 * index (if higher), apply waiters up to it complete, and once the newest
 * pending snapshot is done batching resumes. Returns 0 or the error of the
 * next batch's ops.apply. */
int cairn_commit_snapshot_done(struct cairn_commit *cm, uint64_t index);

/* True while a batch is in flight or entries are queued. */
bool cairn_commit_busy(const struct cairn_commit *cm);

#endif
