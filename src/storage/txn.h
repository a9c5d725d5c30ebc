/*
 * txn.h - LMDB transactions on a cairn storage, for the modules built on it
 * (src/kv). Not for the node loop: it uses storage.h and kv.h.
 *
 * cairn_storage_write_txn() runs a function inside one write transaction and
 * commits it with fsync. If the map fills up (MDB_MAP_FULL, from the function
 * or from the commit) the transaction is aborted, the map doubled and the
 * function run again from the start, so the function must do all its work
 * through the transaction and may only overwrite (never accumulate into) its
 * outputs. cairn_storage_read_txn() runs a function in a read-only snapshot
 * that never blocks the writer; bytes LMDB hands out inside the function are
 * valid only until it returns: copy out what you keep.
 *
 * The function must not call other storage functions (the map lock is held
 * and is not recursive). It returns 0 (commit), an LMDB or errno code from an mdb_* call
 * (mapped to CAIRN_E* by the runner; I/O and disk-full errors put the storage
 * in its failed state) or a negative CAIRN_E* code (abort, returned as is).
 */
#ifndef CAIRN_STORAGE_TXN_H
#define CAIRN_STORAGE_TXN_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/storage.h"

struct cairn_storage_dbs {
	MDB_dbi log;
	MDB_dbi meta;
	MDB_dbi kv;
	MDB_dbi sessions;
	MDB_dbi sessions_lru;
	/* Staging of a snapshot being received (src/kv/snapshot.c): the same
	 * layout as kv, sessions and sessions_lru; empty unless one is. */
	MDB_dbi snap_kv;
	MDB_dbi snap_sessions;
	MDB_dbi snap_sessions_lru;
};

/* Keys in meta. The applied index is written by src/kv in the transaction
 * that applies the entries it covers. */
#define CAIRN_META_FORMAT "format"         /* u32 BE */
#define CAIRN_META_CLUSTER_ID "cluster_id" /* u64 BE */
#define CAIRN_META_MEMBER_ID "member_id"   /* u64 BE */
#define CAIRN_META_HARD_STATE "hard_state" /* u64 BE term, vote, commit */
#define CAIRN_META_APPLIED "applied"       /* u64 BE */
#define CAIRN_META_LOG_PREV "log_prev"     /* u64 BE index, term */
/* The term of the entry at the applied index, written with it. Data dirs
 * from before it lack it: see cairn_storage_applied_pos_in_txn. */
#define CAIRN_META_APPLIED_TERM "applied_term" /* u64 BE */
/* The snapshot being staged (src/kv/snapshot.c); absent: none. */
#define CAIRN_META_SNAP_STAGE "snap_stage"

typedef int (*cairn_storage_txn_fn)(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg);

/* Run fn in a write transaction and commit it durably (see above). Returns
 * fn's CAIRN_E* code, a mapped LMDB error, or the failed-state error. */
int cairn_storage_write_txn(struct cairn_storage *s, cairn_storage_txn_fn fn, void *arg);

/* Run fn in a read-only transaction, aborted afterwards. */
int cairn_storage_read_txn(struct cairn_storage *s, cairn_storage_txn_fn fn, void *arg);

/*
 * A read-only transaction that stays open across calls (snapshot export):
 * begin opens it, step runs fn in it (like cairn_storage_read_txn: bytes
 * and cursors are valid only during fn), end closes it. Between calls it
 * holds no lock, so writes go on while it is open. The environment has
 * MDB_NOTLS, so one thread may hold it and other read transactions at
 * once; one long read is used by one thread at a time.
 *
 * LMDB may resize the map only with no transaction open, so a map growth
 * closes every open long read first: its later steps return CAIRN_EBUSY
 * (the consistent view is gone; start again). Growths are doublings, rare.
 */
struct cairn_storage_long_read;
int cairn_storage_long_read_begin(struct cairn_storage *s, struct cairn_storage_long_read **out);
int cairn_storage_long_read_step(struct cairn_storage *s, struct cairn_storage_long_read *lr,
				 cairn_storage_txn_fn fn, void *arg);
/* NULL: no-op. */
void cairn_storage_long_read_end(struct cairn_storage *s, struct cairn_storage_long_read *lr);

/* Map an LMDB / errno return code to a CAIRN_E* code (0 stays 0). */
int cairn_storage_mdb_err(int rc);

/* The effect of cairn_storage_append() for one batch (same checks, same
 * CAIRN_EINVAL refusals), inside the caller's write transaction, so that
 * the storage thread can commit several append and apply jobs together.
 * Fills b->last_index / last_term. Reads everything it checks from txn,
 * so it sees earlier writes of the same transaction. Txn fn style returns. */
int cairn_storage_append_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				struct cairn_storage_append_batch *b);

/* The applied index and the term of its entry, as stored in txn (0, 0
 * before anything was applied). A data dir from before the applied term was
 * recorded gets the term of the log entry at the applied index, else the
 * prev position's term if that is the applied index, else 0. */
int cairn_storage_applied_pos_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				     uint64_t *index, uint64_t *term);

/* cairn_storage_drop_prefix() inside the caller's transaction (same
 * refusals, CAIRN_EINVAL). Records the applied term first if it was not.
 * *prev_index / *prev_term (each may be NULL) get the prev position after. */
int cairn_storage_drop_prefix_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				     uint64_t through_index, uint64_t *prev_index,
				     uint64_t *prev_term);

/* Make the log follow a snapshot through (index, term) (Figure 13): if the
 * log holds term at index, only the entries through index are dropped,
 * else every entry; the prev position becomes (index, term). The applied
 * index is the caller's business. index below the prev position:
 * CAIRN_EINVAL. *last_index / *last_term get the log's
 * last position afterwards ((index, term) when empty). */
int cairn_storage_follow_snapshot_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
					 uint64_t index, uint64_t term, uint64_t *last_index,
					 uint64_t *last_term);

/* Raise the stored hard state's commit to at least commit (the state
 * machine durably holds everything through it). */
int cairn_storage_raise_commit_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				      uint64_t commit);

/* u64 values in meta: absent reads as 0. Return LMDB codes (txn fn style). */
int cairn_storage_meta_get_u64(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const char *name,
			       uint64_t *v);
int cairn_storage_meta_put_u64(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const char *name,
			       uint64_t v);

#endif
