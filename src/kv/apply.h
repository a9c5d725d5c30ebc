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

#endif
