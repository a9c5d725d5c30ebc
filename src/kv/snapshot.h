/*
 * snapshot.h - the state machine's state as a stream of chunks, for
 * InstallSnapshot (raft.h, "Snapshots and compaction").
 *
 * Export: a reader holds ONE consistent LMDB read transaction, the state at
 * the durable applied index A, from open to close, and hands it out chunk
 * by chunk. It is meant for the event loop: the same thread may do
 * cairn_kv_get reads meanwhile (the environment has MDB_NOTLS) and the
 * storage thread keeps writing. A map growth closes the transaction (LMDB
 * cannot resize under an open one): the reader's next call then fails with
 * CAIRN_EBUSY and the caller starts again later. Import is done by the
 * storage thread (worker.h: cairn_kv_worker_snap_chunk / _snap_install).
 *
 * Stream format, version 1. All integers big-endian. The stream is a
 * sequence of chunks; each chunk is self-contained (whole records only) and
 * at most CAIRN_SNAPSHOT_CHUNK_BYTES (cairn/limits.h) long:
 *
 *   chunk header, 8 bytes
 *     0  4  magic 0x43534e50 ("CSNP")
 *     4  1  version, CAIRN_KV_SNAP_VERSION
 *     5  1  flags: bit 0 = the final chunk of the stream; other bits 0
 *     6  2  reserved, 0
 *   then records up to the end of the chunk, each:
 *     0  1  database: 1 kv, 2 sessions, 3 sessions_lru
 *     1  2  key_len    1 .. 511
 *     3  4  value_len  (bounded per database, below)
 *     7  key_len bytes key, then value_len bytes value
 *
 * Records carry the databases' own records (kv.c describes them): kv keys
 * are 0x00 + user key (1..510 bytes, value at most CAIRN_VALUE_BYTES_MAX),
 * or a long key's 411-byte stem whose value starts with the full key (u16
 * length 511..CAIRN_KEY_BYTES_MAX, bytes) and whose stem must match it;
 * sessions: u64 client id (!= 0) -> 17 bytes (seq, last-use index != 0,
 * status <= 4); sessions_lru: u64 index (!= 0) -> u64 client id (!= 0).
 * Records come in database order (kv, sessions, sessions_lru) and, within
 * a database, in strictly increasing key order (LMDB's order: bytes, then
 * shorter first); the importer refuses anything else. An empty state is
 * one final chunk holding no record.
 */
#ifndef CAIRN_KV_SNAPSHOT_H
#define CAIRN_KV_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

#define CAIRN_KV_SNAP_MAGIC 0x43534e50u
#define CAIRN_KV_SNAP_VERSION 1u
#define CAIRN_KV_SNAP_HEADER_BYTES 8u
#define CAIRN_KV_SNAP_RECORD_HEADER_BYTES 7u
#define CAIRN_KV_SNAP_FLAG_LAST 0x01u

struct cairn_kv_snap_reader;

/*
 * Open a reader on the state at the durable applied index: *index gets it,
 * *term its entry's term (0, 0 for the initial state). 0, CAIRN_ENOMEM,
 * or a storage error. Close it with cairn_kv_snap_reader_close() before
 * the kv and its storage are closed.
 */
int cairn_kv_snap_reader_open(struct cairn_kv *kv, struct cairn_kv_snap_reader **out,
			      uint64_t *index, uint64_t *term);

/*
 * Fill buf with the next chunk: *len its size (at most
 * CAIRN_SNAPSHOT_CHUNK_BYTES, whatever cap), *last true for the final one.
 * cap >= CAIRN_SNAPSHOT_CHUNK_BYTES, else CAIRN_EINVAL. After the final
 * chunk, or after an error, every call fails (CAIRN_EINVAL, or the error
 * again). CAIRN_EBUSY: a map growth closed the read; start over.
 */
int cairn_kv_snap_reader_next(struct cairn_kv_snap_reader *rd, uint8_t *buf, size_t cap,
			      size_t *len, bool *last);

/* NULL: no-op. */
void cairn_kv_snap_reader_close(struct cairn_kv_snap_reader *rd);

/* Is p[0..len) a well-formed chunk (the whole format above, each record's
 * layout and the order inside the chunk)? 0 or CAIRN_EPROTO. Pure: touches
 * no disk, safe on hostile bytes. */
int cairn_kv_snap_chunk_check(const uint8_t *p, size_t len);

#endif
