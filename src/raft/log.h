/*
 * log.h - the Raft core's in-memory log (extended paper §5.3, Figure 2).
 *
 * The core keeps the log after prev_index in memory; every entry owns a
 * copy of its payload. What lies at or before prev_index was compacted away
 * (the state machine holds it) or replaced by an installed snapshot.
 * Positions along the log are tracked by four indexes: what was handed out
 * for persistence (everything after it is the unstable tail), what the
 * caller reported durable, what is committed and what was handed to the
 * state machine. A conflicting suffix is cut off by truncation, which pulls
 * the first two back with it.
 */
#ifndef CAIRN_RAFT_LOG_H
#define CAIRN_RAFT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"

struct raft_log {
	/* ents[i].index == prev_index + 1 + i; terms never decrease. */
	struct cairn_raft_entry *ents;
	size_t n_ents;
	size_t cap_ents;
	/* The position just before ents[0] (0, 0 for a log starting at 1). */
	uint64_t prev_index;
	uint64_t prev_term;
	uint64_t bytes; /* payload bytes of ents[] */

	/* Invariant: prev_index <= persisted <= handed <= last_index. */
	uint64_t handed;    /* entries through here were given out to persist */
	uint64_t persisted; /* the durable log matches ours through here */
	/* Invariant: prev_index <= applied <= commit <= last_index,
	 * applied <= persisted. */
	uint64_t commit;
	uint64_t applied; /* last entry handed to the state machine */
};

/* An empty log that starts after (prev_index, prev_term). */
void raft_log_init(struct raft_log *l, uint64_t prev_index, uint64_t prev_term);
void raft_log_free(struct raft_log *l);

uint64_t raft_log_last_index(const struct raft_log *l);
uint64_t raft_log_last_term(const struct raft_log *l);

/* The term at index into *term; false when the log does not know index
 * (before prev_index or after the last entry). */
bool raft_log_term(const struct raft_log *l, uint64_t index, uint64_t *term);

/* The entry at index; index in (prev_index, last_index]. Valid until the log
 * next changes. */
const struct cairn_raft_entry *raft_log_entry(const struct raft_log *l, uint64_t index);

/* Append one entry after the last, copying len bytes of data. 0 or
 * CAIRN_ENOMEM (the log is then unchanged). */
int raft_log_append(struct raft_log *l, uint64_t term, uint8_t type, const void *data,
		    uint32_t len);

/* Drop every entry from index on; index > commit (a committed entry is never
 * replaced). handed and persisted move back to index - 1 if they were past. */
void raft_log_truncate(struct raft_log *l, uint64_t index);

/* Drop every entry through index (prev_index < index <= applied, index <=
 * persisted): the log then starts after (index, term(index)). */
void raft_log_compact(struct raft_log *l, uint64_t index);

/* A snapshot through (index, term) replaces the log up to index; index >
 * commit. The entries after index stay only if the log holds term at
 * index (Figure 13); commit and applied become index, handed and persisted
 * at least index. */
void raft_log_install(struct raft_log *l, uint64_t index, uint64_t term);

/* The first index holding the same term as index (which the log holds). */
uint64_t raft_log_first_of_term(const struct raft_log *l, uint64_t index);

/* The largest i <= index (index <= last) whose term is <= term; at least
 * prev_index. Terms never decrease, so this is a binary search. */
uint64_t raft_log_last_at_or_below_term(const struct raft_log *l, uint64_t index, uint64_t term);

/* Whether a log ending at (last_index, last_term) is at least as up to date
 * as ours (§5.4.1). */
bool raft_log_up_to_date(const struct raft_log *l, uint64_t last_index, uint64_t last_term);

/* The caller made the log durable through (index, term). Ignored unless the
 * log still holds term at index and the index was handed out; returns
 * whether persisted moved. */
bool raft_log_persisted(struct raft_log *l, uint64_t index, uint64_t term);

/* Raise commit to index (<= last_index); never lowers it. */
void raft_log_commit_to(struct raft_log *l, uint64_t index);

/* Assert every invariant above. */
void raft_log_check(const struct raft_log *l);

#endif
