/*
 * snap_txn.h - importing a snapshot inside a write transaction owned by the
 * storage thread (src/kv/worker.c); the stream format is in snapshot.h.
 *
 * Chunks are staged in their own databases (snap_kv, snap_sessions,
 * snap_sessions_lru) with the staging's position in meta (snap_stage: u64
 * index, u64 term, u64 bytes staged, u8 final chunk seen), so a crash at any
 * point leaves the live state untouched; the install swaps the staged state
 * in, in one transaction.
 *
 * Both functions are txn fn style (0, an LMDB code or a negative CAIRN_E*
 * code: the transaction fails) and report a refusal of the job itself in
 * *refused (0 or CAIRN_E*) with a 0 return, so the transaction still commits
 * what the refusal did (discarding the staging) and later jobs go on. They
 * read every input from txn and only overwrite outputs (MAP_FULL retries).
 */
#ifndef CAIRN_KV_SNAP_TXN_H
#define CAIRN_KV_SNAP_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "storage/txn.h"

/*
 * Stage chunk[0..len), which starts at byte offset of the stream of the
 * snapshot (index, term). offset 0 discards any staging and starts anew.
 * Refusals, each discarding the staging: CAIRN_EPROTO (malformed chunk,
 * records out of order across chunks, or, for the final chunk, a staged
 * state that does not hold together as the install checks it), CAIRN_EINVAL
 * (offset not the staged end, another (index, term) than the staged one, a
 * chunk after the final one).
 */
int cairn_kv_snap_stage_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t index,
			       uint64_t term, uint64_t offset, const uint8_t *chunk, size_t len,
			       int *refused);

/*
 * Install the staged snapshot (index, term): kv, sessions and sessions_lru
 * become the staged content, applied = index with term, the log follows
 * (cairn_storage_follow_snapshot_in_txn), the hard state's commit is raised
 * to index, the staging is cleared. *last_index / *last_term get the log's
 * last position after. Refusals: CAIRN_EINVAL (nothing staged for (index,
 * term), final chunk missing, index below the applied index: nothing
 * changes), CAIRN_EPROTO (the staged state does not hold together: sessions
 * and their lru records disagree, a session was used after index, or a
 * user key is stored twice; the staging is discarded).
 */
int cairn_kv_snap_install_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t index,
				 uint64_t term, int *refused, uint64_t *last_index,
				 uint64_t *last_term);

#endif
