/*
 * apply.h - applying committed entries inside a transaction owned by the
 * caller. For the storage thread (src/kv/worker.c), which runs every job of
 * one wake-up, appends and applies, in one durable transaction; everyone
 * else uses cairn_kv_apply() from kv.h.
 *
 * The split: cairn_kv_apply_in_txn() writes the data, the sessions and the
 * applied index through txn only (nothing in memory changes, so a run that
 * is aborted, e.g. for MDB_MAP_FULL, leaves no trace and may simply be run
 * again); cairn_kv_publish_applied() then makes the new applied index
 * visible to other threads, and must be called only once that transaction
 * has committed.
 */
#ifndef CAIRN_KV_APPLY_H
#define CAIRN_KV_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"
#include "kv/kv.h"
#include "storage/txn.h"

/*
 * Apply entries[0..n) (n >= 1) inside txn and record the applied index
 * there. entries[0].index must be the applied index stored in txn plus 1 and
 * the rest consecutive, else CAIRN_EINVAL (nothing written). results[i]
 * gets the result of entries[i] (overwritten, never accumulated). Txn fn
 * style returns (0, an LMDB code, or a negative CAIRN_E* code).
 */
int cairn_kv_apply_in_txn(const struct cairn_kv *kv, MDB_txn *txn,
			  const struct cairn_storage_dbs *dbs,
			  const struct cairn_raft_entry *entries, size_t n,
			  struct cairn_kv_result *results);

/* The transaction that applied through `applied` has committed: publish it
 * (cairn_kv_applied). The applied index never goes back (asserted). */
void cairn_kv_publish_applied(struct cairn_kv *kv, uint64_t applied);

/* The storage kv was opened over. */
struct cairn_storage *cairn_kv_storage(const struct cairn_kv *kv);

/* The databases of the state machine, as numbered in snapshot records. */
enum cairn_kv_db {
	CAIRN_KV_DB_KV = 1,
	CAIRN_KV_DB_SESSIONS = 2,
	CAIRN_KV_DB_SESSIONS_LRU = 3,
};

/* Is (key, val) a well-formed record of database db (enum cairn_kv_db), as
 * kv.c lays them out? 0 or CAIRN_EPROTO. Pure: no disk. */
int cairn_kv_record_check(int db, const uint8_t *key, size_t key_len, const uint8_t *val,
			  size_t val_len);

/* Do sessions and lru (databases laid out like `sessions` and
 * `sessions_lru`) agree: as many records, every lru record (index ->
 * client) naming a session whose last use is that index, none after
 * index_max? 0, CAIRN_EPROTO, or an LMDB code. */
int cairn_kv_sessions_check_in_txn(MDB_txn *txn, MDB_dbi sessions, MDB_dbi lru, uint64_t index_max);

/* In dbi (laid out like `kv`), do the long-key records sharing a stem hold
 * distinct full keys (no user key stored twice)? 0, CAIRN_EPROTO,
 * CAIRN_ENOMEM or an LMDB code. */
int cairn_kv_long_keys_check_in_txn(MDB_txn *txn, MDB_dbi dbi);

#endif
