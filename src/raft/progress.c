/*
 * progress.c - per-member replication state of a leader (thesis §3.5,
 * flow control as in etcd raft's tracker/progress.go and inflights.go).
 *
 * The inflight window is a fixed ring sized by max_inflight_msgs; an
 * acknowledgement of index frees every message whose last entry is at or
 * below it, since the follower acknowledges cumulatively.
 */
#include "raft/progress.h"

#include <assert.h>
#include <string.h>

static void infl_reset(struct raft_inflights *in)
{
	in->start = 0;
	in->count = 0;
}

static bool infl_full(const struct raft_inflights *in)
{
	return in->count == in->cap;
}

static void infl_add(struct raft_inflights *in, uint64_t last)
{
	assert(!infl_full(in));
	if (in->count > 0) {
		uint32_t newest = (in->start + in->count - 1) % in->cap;
		assert(in->last[newest] < last);
	}
	in->last[(in->start + in->count) % in->cap] = last;
	in->count++;
}

static void infl_free_to(struct raft_inflights *in, uint64_t index)
{
	while (in->count > 0 && in->last[in->start] <= index) {
		in->start = (in->start + 1) % in->cap;
		in->count--;
	}
}

static void infl_free_first(struct raft_inflights *in)
{
	if (in->count == 0)
		return;
	in->start = (in->start + 1) % in->cap;
	in->count--;
}

void raft_progress_init(struct raft_progress *pr, uint64_t id, uint64_t next, uint32_t max_inflight)
{
	assert(next >= 1);
	assert(max_inflight >= 1 && max_inflight <= CAIRN_INFLIGHT_MSGS_MAX);
	memset(pr, 0, sizeof(*pr));
	pr->id = id;
	pr->next = next;
	pr->state = RAFT_PR_PROBE;
	pr->infl.cap = max_inflight;
}

bool raft_progress_paused(const struct raft_progress *pr)
{
	if (pr->state == RAFT_PR_SNAPSHOT)
		return true;
	if (pr->state == RAFT_PR_PROBE)
		return pr->probe_sent;
	return infl_full(&pr->infl);
}

void raft_progress_become_probe(struct raft_progress *pr)
{
	pr->state = RAFT_PR_PROBE;
	pr->probe_sent = false;
	infl_reset(&pr->infl);
	if (pr->next <= pr->match)
		pr->next = pr->match + 1;
	raft_progress_check(pr);
}

void raft_progress_become_replicate(struct raft_progress *pr)
{
	pr->state = RAFT_PR_REPLICATE;
	pr->probe_sent = false;
	pr->next = pr->match + 1;
	infl_reset(&pr->infl);
	raft_progress_check(pr);
}

void raft_progress_become_snapshot(struct raft_progress *pr, uint64_t floor)
{
	assert(pr->match < floor);
	pr->state = RAFT_PR_SNAPSHOT;
	pr->probe_sent = false;
	pr->snapshot_elapsed = 0;
	pr->snapshot_floor = floor;
	infl_reset(&pr->infl);
	raft_progress_check(pr);
}

void raft_progress_snapshot_abort(struct raft_progress *pr)
{
	assert(pr->state == RAFT_PR_SNAPSHOT);
	raft_progress_become_probe(pr);
	pr->probe_sent = true; /* the next heartbeat answer asks again */
}

void raft_progress_sent(struct raft_progress *pr, uint64_t last, uint32_t n_entries)
{
	assert(!raft_progress_paused(pr));
	if (pr->state == RAFT_PR_PROBE) {
		pr->probe_sent = true;
		return;
	}
	if (n_entries == 0)
		return;
	assert(last >= pr->next);
	pr->next = last + 1;
	infl_add(&pr->infl, last);
	raft_progress_check(pr);
}

bool raft_progress_acked(struct raft_progress *pr, uint64_t index)
{
	bool moved = false;
	if (index > pr->match) {
		pr->match = index;
		moved = true;
	}
	if (pr->next <= index)
		pr->next = index + 1;
	if (pr->state == RAFT_PR_PROBE) {
		if (moved)
			raft_progress_become_replicate(pr);
	} else if (pr->state == RAFT_PR_REPLICATE) {
		infl_free_to(&pr->infl, index);
	}
	raft_progress_check(pr);
	return moved;
}

bool raft_progress_rejected(struct raft_progress *pr, uint64_t rejected, uint64_t next_hint)
{
	if (pr->state == RAFT_PR_SNAPSHOT)
		return false; /* an answer to an AppendEntries sent before */
	if (pr->state == RAFT_PR_REPLICATE) {
		if (rejected <= pr->match)
			return false; /* an answer to a message older than match */
		raft_progress_become_probe(pr);
	} else if (pr->next - 1 != rejected) {
		return false; /* an answer to an older probe */
	}
	uint64_t next = next_hint;
	if (next > rejected)
		next = rejected; /* always step back: a reject must make progress */
	if (next <= pr->match)
		next = pr->match + 1;
	pr->next = next;
	pr->probe_sent = false;
	raft_progress_check(pr);
	return true;
}

void raft_progress_heartbeat_acked(struct raft_progress *pr)
{
	pr->probe_sent = false;
	if (pr->state == RAFT_PR_REPLICATE && infl_full(&pr->infl))
		infl_free_first(&pr->infl);
}

void raft_progress_check(const struct raft_progress *pr)
{
	assert(pr->match < pr->next);
	assert(pr->infl.count <= pr->infl.cap);
	assert(pr->state == RAFT_PR_REPLICATE || pr->infl.count == 0);
	assert(pr->state != RAFT_PR_SNAPSHOT || !pr->probe_sent);
}
