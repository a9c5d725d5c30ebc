/*
 * progress.h - what a leader knows of each member's log (thesis §3.5, and
 * etcd raft's tracker): match and next, a probe/replicate state and a bounded
 * ring of AppendEntries in flight for flow control.
 *
 * A follower starts in probe: one AppendEntries at a time until one
 * succeeds and tells where the logs match. Then it moves to replicate, where
 * the leader pipelines: next runs ahead optimistically and up to
 * max_inflight messages are outstanding. A rejection sends it back to probe.
 * A follower that needs entries the leader compacted away is in snapshot:
 * no AppendEntries go to it until it acknowledges the snapshot (or the
 * caller reports the transfer failed, or it took too long: back to probe).
 */
#ifndef CAIRN_RAFT_PROGRESS_H
#define CAIRN_RAFT_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include "cairn/limits.h"

enum raft_pr_state {
	RAFT_PR_PROBE = 0,
	RAFT_PR_REPLICATE = 1,
	RAFT_PR_SNAPSHOT = 2,
};

/* A ring of the last index carried by each AppendEntries in flight, oldest
 * first. Invariant: count <= cap <= CAIRN_INFLIGHT_MSGS_MAX; the indexes
 * increase from the oldest to the newest. */
struct raft_inflights {
	uint64_t last[CAIRN_INFLIGHT_MSGS_MAX];
	uint32_t start;
	uint32_t count;
	uint32_t cap;
};

struct raft_progress {
	uint64_t id;
	/* Invariant: match < next. match only grows while one leader rules. */
	uint64_t match;
	uint64_t next;
	enum raft_pr_state state;
	bool probe_sent;           /* probe: one message is out, wait for its answer */
	bool active;               /* heard from since the last check-quorum */
	uint64_t read_ack;         /* highest ReadIndex round this member confirmed */
	uint64_t commit_sent;      /* highest commit index an AppendEntries told it */
	uint32_t snapshot_elapsed; /* snapshot: ticks since the SNAPSHOT went out */
	uint64_t snapshot_floor;   /* snapshot: the leader's prev_index then */
	struct raft_inflights infl;
};

/* A fresh progress in probe with next as given, match 0. */
void raft_progress_init(struct raft_progress *pr, uint64_t id, uint64_t next,
			uint32_t max_inflight);

/* Whether the leader must hold back AppendEntries carrying entries. */
bool raft_progress_paused(const struct raft_progress *pr);

void raft_progress_become_probe(struct raft_progress *pr);
void raft_progress_become_replicate(struct raft_progress *pr);
/* A SNAPSHOT went out while the leader's log started after floor: nothing
 * more until it is answered. */
void raft_progress_become_snapshot(struct raft_progress *pr, uint64_t floor);
/* Leave snapshot for probe without asking again before the next heartbeat
 * answer (the transfer failed or took too long). */
void raft_progress_snapshot_abort(struct raft_progress *pr);

/* An AppendEntries carrying entries up to last went out (n_entries of
 * them). In replicate next moves past last optimistically. */
void raft_progress_sent(struct raft_progress *pr, uint64_t last, uint32_t n_entries);

/* A success reply acknowledged index. Returns whether match moved. In
 * snapshot the state stays; the leader decides when to resume. */
bool raft_progress_acked(struct raft_progress *pr, uint64_t index);

/* A reject of prev_index rejected, with next_hint the leader's guess from
 * the follower's hint. Returns false for a stale reject (ignored). */
bool raft_progress_rejected(struct raft_progress *pr, uint64_t rejected, uint64_t next_hint);

/* A heartbeat answer: a probe may go again; a full window frees one slot so
 * a lost message cannot stall the follower forever. */
void raft_progress_heartbeat_acked(struct raft_progress *pr);

void raft_progress_check(const struct raft_progress *pr);

#endif
