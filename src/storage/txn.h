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
};

/* Keys in meta. The applied index is written by src/kv in the transaction
 * that applies the entries it covers. */
#define CAIRN_META_FORMAT "format"         /* u32 BE */
#define CAIRN_META_CLUSTER_ID "cluster_id" /* u64 BE */
#define CAIRN_META_MEMBER_ID "member_id"   /* u64 BE */
#define CAIRN_META_HARD_STATE "hard_state" /* u64 BE term, vote, commit */
#define CAIRN_META_APPLIED "applied"       /* u64 BE */
#define CAIRN_META_LOG_PREV "log_prev"     /* u64 BE index, term */

typedef int (*cairn_storage_txn_fn)(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg);

/* Run fn in a write transaction and commit it durably (see above). Returns
 * fn's CAIRN_E* code, a mapped LMDB error, or the failed-state error. */
int cairn_storage_write_txn(struct cairn_storage *s, cairn_storage_txn_fn fn, void *arg);

/* Run fn in a read-only transaction, aborted afterwards. */
int cairn_storage_read_txn(struct cairn_storage *s, cairn_storage_txn_fn fn, void *arg);

/* Map an LMDB / errno return code to a CAIRN_E* code (0 stays 0). */
int cairn_storage_mdb_err(int rc);

/* The effect of cairn_storage_append() for one batch (same checks, same
 * CAIRN_EINVAL refusals), inside the caller's write transaction, so that
 * the storage thread can commit several append and apply jobs together.
 * Fills b->last_index / last_term. Reads everything it checks from txn,
 * so it sees earlier writes of the same transaction. Txn fn style returns. */
int cairn_storage_append_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				struct cairn_storage_append_batch *b);

/* u64 values in meta: absent reads as 0. Return LMDB codes (txn fn style). */
int cairn_storage_meta_get_u64(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const char *name,
			       uint64_t *v);
int cairn_storage_meta_put_u64(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const char *name,
			       uint64_t v);

#endif
