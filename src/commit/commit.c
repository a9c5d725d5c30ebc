/*
 * commit.c - the commit manager (see commit.h for the contract).
 *
 * Committed entries sit in one array: the first n_inflight are the batch the
 * apply hook is working on, the rest wait for the next batch. Waiters live in
 * two doubly linked lists sorted by index; completion walks from the head
 * while the head's index is applied, so each waiter is touched once.
 */
#include "commit/commit.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

static void waitq_remove(struct cairn_commit_waitq *q, struct cairn_commit_waiter *w)
{
	assert(q->n > 0);
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
	w->prev = NULL;
	w->next = NULL;
	q->n--;
}

/* Insert keeping the list sorted by index; equal indexes keep arrival order.
 * Walks from the tail because indexes almost always arrive increasing. */
static void waitq_insert(struct cairn_commit_waitq *q, struct cairn_commit_waiter *w)
{
	struct cairn_commit_waiter *after = q->tail;
	while (after != NULL && after->index > w->index)
		after = after->prev;
	w->prev = after;
	w->next = after != NULL ? after->next : q->head;
	if (w->next != NULL)
		w->next->prev = w;
	else
		q->tail = w;
	if (after != NULL)
		after->next = w;
	else
		q->head = w;
	q->n++;
}

static void waitq_fail_all(struct cairn_commit_waitq *q, int err)
{
	while (q->head != NULL) {
		struct cairn_commit_waiter *w = q->head;
		waitq_remove(q, w);
		w->done_cb(w, err, 0);
	}
}

void cairn_commit_init(struct cairn_commit *cm, const struct cairn_commit_ops *ops,
		       uint64_t applied)
{
	assert(ops->apply != NULL);
	memset(cm, 0, sizeof *cm);
	cm->ops = *ops;
	cm->applied = applied;
}

static void free_entries(struct cairn_raft_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((void *)(uintptr_t)e[i].data);
}

void cairn_commit_close(struct cairn_commit *cm)
{
	free_entries(cm->queue, cm->n_queue);
	free(cm->queue);
	cm->queue = NULL;
	cm->n_queue = 0;
	cm->cap_queue = 0;
	cm->n_inflight = 0;
	waitq_fail_all(&cm->writes, CAIRN_ESTOPPED);
	waitq_fail_all(&cm->reads, CAIRN_ESTOPPED);
}

bool cairn_commit_busy(const struct cairn_commit *cm)
{
	return cm->n_queue > 0;
}

static uint64_t last_queued_index(const struct cairn_commit *cm)
{
	if (cm->n_queue > cm->n_inflight || (cm->n_queue > 0 && cm->snapshot == 0))
		return cm->queue[cm->n_queue - 1].index;
	/* Nothing queued beyond the batch in flight: a pending snapshot is
	 * where the next entry continues. */
	if (cm->snapshot != 0)
		return cm->snapshot;
	return cm->applied;
}

/* Tell ops.urgent that the batch in flight has a waiter: a read (any read
 * waiter waits at least for it), or a write waiter at or below last (those
 * left are not at_commit: at_commit ones complete on push). */
static void note_urgency(struct cairn_commit *cm, uint64_t last)
{
	if (cm->ops.urgent == NULL || cm->n_inflight == 0)
		return;
	if (cm->reads.head != NULL || (cm->writes.head != NULL && cm->writes.head->index <= last))
		cm->ops.urgent(cm->ops.ctx);
}

/* Hand the next run of queued entries to the apply hook. */
static int start_batch(struct cairn_commit *cm)
{
	if (cm->n_inflight > 0 || cm->n_queue == 0 || cm->snapshot != 0 || cm->failed != 0)
		return cm->failed;
	size_t n = 0;
	size_t bytes = 0;
	while (n < cm->n_queue && n < CAIRN_COMMIT_BATCH_ENTRIES_MAX) {
		if (n > 0 && bytes + cm->queue[n].len > CAIRN_COMMIT_BATCH_BYTES_MAX)
			break;
		bytes += cm->queue[n].len;
		n++;
	}
	assert(n >= 1);
	cm->n_inflight = n;
	int rv = cm->ops.apply(cm->ops.ctx, cm->queue, n);
	if (rv != 0) {
		cm->n_inflight = 0;
		cm->failed = rv;
		waitq_fail_all(&cm->writes, rv);
		waitq_fail_all(&cm->reads, rv);
		return rv;
	}
	note_urgency(cm, cm->queue[n - 1].index);
	return 0;
}

static int queue_reserve(struct cairn_commit *cm, size_t extra)
{
	if (cm->n_queue + extra <= cm->cap_queue)
		return 0;
	size_t cap = cm->cap_queue < 64 ? 64 : cm->cap_queue;
	while (cap < cm->n_queue + extra)
		cap *= 2;
	struct cairn_raft_entry *q = realloc(cm->queue, cap * sizeof *q);
	if (q == NULL)
		return CAIRN_ENOMEM;
	cm->queue = q;
	cm->cap_queue = cap;
	return 0;
}

/* The queued entry at index (queued: applied < index <= last queued). The
 * queue is consecutive except for the jump a pending snapshot makes after
 * the batch in flight. */
static const struct cairn_raft_entry *queued_entry(const struct cairn_commit *cm, uint64_t index)
{
	size_t i = 0;
	if (cm->snapshot != 0 && index > cm->snapshot)
		i = cm->n_inflight;
	assert(i < cm->n_queue && index >= cm->queue[i].index);
	return &cm->queue[i + (index - cm->queue[i].index)];
}

/* Complete at_commit waiters up to last, the newest committed index. */
static void complete_at_commit(struct cairn_commit *cm, uint64_t last)
{
	struct cairn_commit_waiter *w = cm->writes.head;
	while (w != NULL && w->index <= last) {
		struct cairn_commit_waiter *next = w->next;
		if (w->at_commit) {
			assert(w->index > cm->applied);
			const struct cairn_raft_entry *e = queued_entry(cm, w->index);
			assert(e->index == w->index);
			waitq_remove(&cm->writes, w);
			if (e->term == w->term)
				w->done_cb(w, 0, 0);
			else
				w->done_cb(w, CAIRN_EUNAVAIL, 0);
		}
		w = next;
	}
}

int cairn_commit_push(struct cairn_commit *cm, const struct cairn_raft_entry *entries, size_t n)
{
	if (cm->failed != 0)
		return cm->failed;
	int rv = queue_reserve(cm, n);
	if (rv != 0)
		return rv;
	for (size_t i = 0; i < n; i++) {
		const struct cairn_raft_entry *e = &entries[i];
		if (e->index <= last_queued_index(cm))
			continue; /* already applied or queued (a restart's replay) */
		if (e->index != last_queued_index(cm) + 1)
			return CAIRN_EINVAL;
		struct cairn_raft_entry copy = *e;
		copy.data = NULL;
		if (e->len > 0) {
			uint8_t *p = malloc(e->len);
			if (p == NULL)
				return CAIRN_ENOMEM;
			memcpy(p, e->data, e->len);
			copy.data = p;
		}
		cm->queue[cm->n_queue++] = copy;
	}
	if (cm->n_queue > 0)
		complete_at_commit(cm, last_queued_index(cm));
	return start_batch(cm);
}

/* Complete write waiters up to and including entry e. */
static void complete_writes(struct cairn_commit *cm, const struct cairn_raft_entry *e, int result)
{
	while (cm->writes.head != NULL && cm->writes.head->index <= e->index) {
		struct cairn_commit_waiter *w = cm->writes.head;
		waitq_remove(&cm->writes, w);
		if (w->index == e->index && w->term == e->term)
			w->done_cb(w, 0, result);
		else
			w->done_cb(w, CAIRN_EUNAVAIL, 0);
	}
}

static void complete_reads(struct cairn_commit *cm)
{
	while (cm->reads.head != NULL && cm->reads.head->index <= cm->applied) {
		struct cairn_commit_waiter *w = cm->reads.head;
		waitq_remove(&cm->reads, w);
		w->done_cb(w, 0, 0);
	}
}

int cairn_commit_applied(struct cairn_commit *cm, int err, const int *results, size_t n)
{
	assert(cm->n_inflight > 0);
	size_t done = cm->n_inflight;
	cm->n_inflight = 0;
	if (err != 0) {
		cm->failed = err;
		waitq_fail_all(&cm->writes, err);
		waitq_fail_all(&cm->reads, err);
		return err;
	}
	assert(n == done);
	for (size_t i = 0; i < done; i++) {
		assert(cm->queue[i].index == cm->applied + 1);
		cm->applied = cm->queue[i].index;
		complete_writes(cm, &cm->queue[i], results[i]);
	}
	free_entries(cm->queue, done);
	memmove(cm->queue, cm->queue + done, (cm->n_queue - done) * sizeof *cm->queue);
	cm->n_queue -= done;
	complete_reads(cm);
	return start_batch(cm);
}

int cairn_commit_wait_write(struct cairn_commit *cm, struct cairn_commit_waiter *w)
{
	assert(w->done_cb != NULL);
	if (cm->failed != 0)
		return cm->failed;
	if (w->index <= cm->applied)
		return CAIRN_EINVAL;
	/* A proposal at index i means this member's log was cut back to i - 1:
	 * every older proposal waiting at i or above was overwritten. */
	while (cm->writes.tail != NULL && cm->writes.tail->index >= w->index) {
		struct cairn_commit_waiter *old = cm->writes.tail;
		waitq_remove(&cm->writes, old);
		old->done_cb(old, CAIRN_EUNAVAIL, 0);
	}
	waitq_insert(&cm->writes, w);
	if (!w->at_commit)
		note_urgency(cm, UINT64_MAX);
	return 0;
}

void cairn_commit_wait_applied(struct cairn_commit *cm, struct cairn_commit_waiter *w)
{
	assert(w->done_cb != NULL);
	if (cm->failed != 0) {
		w->done_cb(w, cm->failed, 0);
		return;
	}
	if (w->index <= cm->applied) {
		w->done_cb(w, 0, 0);
		return;
	}
	waitq_insert(&cm->reads, w);
	note_urgency(cm, UINT64_MAX);
}

int cairn_commit_snapshot_begin(struct cairn_commit *cm, uint64_t index)
{
	if (cm->failed != 0)
		return cm->failed;
	if (index <= last_queued_index(cm))
		return CAIRN_EINVAL;
	/* No batch starts while a snapshot is pending, so what is queued
	 * beyond the batch in flight has not been handed out: drop it. */
	free_entries(cm->queue + cm->n_inflight, cm->n_queue - cm->n_inflight);
	cm->n_queue = cm->n_inflight;
	cm->snapshot = index;
	while (cm->writes.head != NULL && cm->writes.head->index <= index) {
		struct cairn_commit_waiter *w = cm->writes.head;
		waitq_remove(&cm->writes, w);
		w->done_cb(w, CAIRN_ENOTLEADER, 0);
	}
	assert(last_queued_index(cm) == index);
	return 0;
}

int cairn_commit_snapshot_done(struct cairn_commit *cm, uint64_t index)
{
	assert(cm->snapshot != 0 && index <= cm->snapshot);
	/* Storage runs the jobs in order: every batch started before the
	 * install is done by now. */
	assert(cm->n_inflight == 0);
	if (index > cm->applied)
		cm->applied = index;
	if (index == cm->snapshot)
		cm->snapshot = 0;
	complete_reads(cm);
	return start_batch(cm);
}

void cairn_commit_fail_writes(struct cairn_commit *cm, int err)
{
	waitq_fail_all(&cm->writes, err);
}
