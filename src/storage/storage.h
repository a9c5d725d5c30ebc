/*
 * storage.h - the durable state of one member: its Raft log and hard state,
 * in one LMDB environment in the member's data dir.
 *
 * The environment holds named databases (DESIGN.md, "Storage layout"):
 *
 *   log           u64 big-endian index -> u64 BE term, u8 type, payload
 *   meta          name -> value: format, cluster and member id, hard state,
 *                 applied index and its term, the position just before the
 *                 first entry, the snapshot being staged (txn.h)
 *   kv            user key -> user value              (src/kv)
 *   sessions      client id -> last seq, its result   (src/kv)
 *   sessions_lru  u64 BE applied index -> client id   (src/kv, for expiry)
 *   snap_kv, snap_sessions, snap_sessions_lru
 *                 a snapshot being received, staged   (src/kv/snapshot.c)
 *
 * The snap_* databases and the applied term came after format 1 without
 * changing it: older dirs open, gain the empty databases, and have their
 * applied term taken from the log (txn.h).
 *
 * Every write is one LMDB transaction, committed with fsync before the call
 * returns (group commit: one Ready batch = one transaction = one fsync), so a
 * call that returned 0 survives SIGKILL and power loss. The map starts small
 * and doubles on MDB_MAP_FULL, retrying the transaction. Disk full or an I/O
 * error puts the storage in a failed state: one log line, and every later
 * write returns the same error; what was committed before stays.
 *
 * Threads: writes come from one thread at a time (the storage thread);
 * reads (src/kv get) may run on any thread at the same time and never wait
 * for a writer, except for the instant a map resize needs no transaction
 * open. The environment has MDB_NOTLS: a read transaction belongs to its
 * handle, not to its thread, so one thread may keep a long read open (a
 * snapshot export) while it does other reads; each open read takes one of
 * LMDB's reader slots (126) until it ends. Functions return 0 or a negative CAIRN_E* code (cairn/errors.h).
 */
#ifndef CAIRN_STORAGE_STORAGE_H
#define CAIRN_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"

/* First map size and the default ceiling the map may grow to. */
#define CAIRN_STORAGE_MAP_BYTES_DEFAULT (64ull * 1024 * 1024)
#define CAIRN_STORAGE_MAP_BYTES_MAX_DEFAULT (1ull << 40)

/* Bumped when the on-disk layout changes incompatibly. */
#define CAIRN_STORAGE_FORMAT 1u

struct cairn_storage_options {
	const char *dir;     /* the data dir (one per member) */
	uint64_t cluster_id; /* != 0; stamped at initialisation, checked after */
	uint64_t member_id;  /* != 0; likewise */
	/* true: create dir (and missing parents) if absent and initialise an
	 * empty dir. false: a dir without cairn data is CAIRN_ENOTFOUND. */
	bool create;
	uint64_t map_bytes;     /* first map size; 0: CAIRN_STORAGE_MAP_BYTES_DEFAULT */
	uint64_t map_bytes_max; /* growth ceiling; 0: ..._MAX_DEFAULT */
	/* UNSAFE, for benchmarks only: commits skip fsync (MDB_NOSYNC), so a
	 * crash loses acknowledged writes. Default false. */
	bool unsafe_no_sync;
};

struct cairn_storage;

/*
 * Open (and with opt->create, initialise) the data dir opt->dir.
 *
 * Before anything is written the dir is checked, read-only and without
 * taking LMDB's lock file: a dir stamped with another cluster id or member
 * id gives CAIRN_EFOREIGN and is left byte-for-byte untouched. Other
 * failures, each leaving the dir unchanged: CAIRN_ENOTFOUND (absent or not
 * initialised and !create), CAIRN_EIO (not a directory, no permission, I/O),
 * CAIRN_ECORRUPT (not cairn's data or an unknown format), CAIRN_EBUSY (the
 * dir is open elsewhere: an exclusive flock on the dir itself is held until
 * close, so two processes, or two opens in one process, never share a log),
 * CAIRN_EINVAL (bad options). On error msg (if not NULL) holds one line
 * naming the cause and *out is untouched. On success *out is freed with
 * cairn_storage_close().
 */
int cairn_storage_open(struct cairn_storage **out, const struct cairn_storage_options *opt,
		       char *msg, size_t msg_bytes);

/* Close the environment. No call may be running on s. NULL is a no-op. */
void cairn_storage_close(struct cairn_storage *s);

/*
 * Append entries[0..n) and, if hs is not NULL, store *hs, in one fsync'd
 * transaction. n may be 0 (hard state only). If entries[0].index is at or
 * below the last index, entries from entries[0].index on are deleted first
 * (a conflicting suffix is replaced). Entries must be consecutive, follow the
 * log without a gap (entries[0].index <= last + 1, > the dropped prefix),
 * have terms no lower than the entry before them, and never replace an
 * applied entry: otherwise CAIRN_EINVAL and nothing is written. Payloads are
 * copied into the database; the caller keeps its entries.
 */
int cairn_storage_append(struct cairn_storage *s, const struct cairn_raft_entry *entries, size_t n,
			 const struct cairn_raft_hard_state *hs);

/* One Ready's worth of writes, for cairn_storage_append_batches(). */
struct cairn_storage_append_batch {
	const struct cairn_raft_entry *entries;
	size_t n;
	const struct cairn_raft_hard_state *hs; /* NULL: unchanged */
	/* Out: the log's last entry once this batch is in (its own last
	 * entry, or the log's last when n == 0). */
	uint64_t last_index;
	uint64_t last_term;
};

/*
 * Group commit across Readys: the effect of cairn_storage_append() on each
 * of b[0..n) in turn, in ONE transaction and one fsync, all or nothing.
 * Fills each batch's last_index / last_term. (The storage thread groups
 * append and apply jobs itself with cairn_storage_append_in_txn, txn.h.)
 */
int cairn_storage_append_batches(struct cairn_storage *s, struct cairn_storage_append_batch *b,
				 size_t n);

/* Store the hard state alone (one fsync'd transaction). */
int cairn_storage_set_hard_state(struct cairn_storage *s, const struct cairn_raft_hard_state *hs);

/* The stored hard state (all zero for a new member). */
int cairn_storage_hard_state(struct cairn_storage *s, struct cairn_raft_hard_state *hs);

/* Delete every entry with index >= from_index (nothing if beyond the end).
 * Refuses (CAIRN_EINVAL) to delete an applied entry. */
int cairn_storage_truncate_suffix(struct cairn_storage *s, uint64_t from_index);

/* Delete every entry with index <= through_index and remember its position
 * (index, term) as the new prev position (compaction: the state machine
 * holds them). Refuses (CAIRN_EINVAL) to drop past the applied index or the
 * last index; at or below the prev position it is a no-op. */
int cairn_storage_drop_prefix(struct cairn_storage *s, uint64_t through_index);

/* Where the log stands. An empty log has first_index = prev_index + 1 and
 * last_index = prev_index, last_term = prev_term. */
struct cairn_storage_bounds {
	uint64_t prev_index; /* just before the first entry (0 at start) */
	uint64_t prev_term;
	uint64_t first_index;
	uint64_t first_term; /* 0 when the log is empty */
	uint64_t last_index;
	uint64_t last_term;
};
int cairn_storage_bounds(struct cairn_storage *s, struct cairn_storage_bounds *b);

/* Entries read out of the store: the array and every payload are owned by
 * this struct (one allocation for payloads), freed by
 * cairn_storage_entries_free(). Zero-initialise before first use. */
struct cairn_storage_entries {
	struct cairn_raft_entry *entries;
	size_t n;
	uint8_t *payloads; /* entries[i].data points in here */
};
void cairn_storage_entries_free(struct cairn_storage_entries *e);

/* Copy entries lo..hi inclusive into *out (previous contents freed).
 * Indexes outside [first_index, last_index] give CAIRN_ENOTFOUND. */
int cairn_storage_read(struct cairn_storage *s, uint64_t lo, uint64_t hi,
		       struct cairn_storage_entries *out);

/* The applied index recorded with the state machine (0 if none yet). */
int cairn_storage_applied(struct cairn_storage *s, uint64_t *applied);

/*
 * Everything a restarting member hands to cairn_raft_create(): hard state,
 * the whole durable log, its prev position (first_prev_index/term: where a
 * compaction or an installed snapshot left it) and the applied index, never
 * below first_prev_index (else CAIRN_ECORRUPT). rs->log
 * points into *log, which the caller frees with cairn_storage_entries_free()
 * once the core has copied it.
 */
int cairn_storage_load(struct cairn_storage *s, struct cairn_raft_restore *rs,
		       struct cairn_storage_entries *log);

/* 0 while healthy; after a disk full or I/O failure the error every write
 * now returns (CAIRN_ENOSPACE, CAIRN_EIO, CAIRN_ECORRUPT). Any thread. */
int cairn_storage_failed(const struct cairn_storage *s);

/* Counters since open, for benchmarks and status. Any thread. */
struct cairn_storage_stats {
	uint64_t commits;   /* write transactions committed (one fsync each) */
	uint64_t map_grows; /* map doublings */
	uint64_t map_bytes; /* current map size */
};
void cairn_storage_stats(const struct cairn_storage *s, struct cairn_storage_stats *st);

#endif
