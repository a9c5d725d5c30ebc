/*
 * store.h - the node's bridge to the storage thread and the key-value state
 * machine (src/storage, src/kv).
 *
 * The loop thread never touches the disk except for LMDB read transactions
 * (GETs and recovery at start-up): persisting a Ready and applying committed
 * entries are jobs on the storage worker's FIFO queue, and their completions
 * come back to the loop through a uv_async handle, in submission order.
 */
#ifndef CAIRN_SERVER_STORE_H
#define CAIRN_SERVER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"
#include "proto/proto.h"
#include "util/buf.h"

struct cairn_node;
struct cairn_store;

/* Open (creating when new) the member's data dir n->data_dir, refusing a
 * dir of another member or cluster. On failure err holds one line. */
int cairn_store_open(struct cairn_node *n, struct cairn_store **out, char *err, size_t err_size);

/* The durable state for cairn_raft_create(): the pointers stay valid until
 * cairn_store_recovered_free(). */
int cairn_store_recover(struct cairn_store *s, struct cairn_raft_restore *out);
void cairn_store_recovered_free(struct cairn_store *s);

/* Submit one job that makes rd's hard state and entries durable (copied).
 * frames holds the encoded msgs_after_persist as records (see node.c); the
 * store takes it over (frames is left empty). On completion the node sends
 * them and reports the durable position to the core. */
int cairn_store_persist(struct cairn_store *s, const struct cairn_raft_ready *rd,
			struct cairn_buf *frames);

/* Snapshots and compaction: thin wrappers over kv/snapshot.h and the
 * worker's SNAP_CHUNK, SNAP_INSTALL and COMPACT jobs (kv/worker.h), whose
 * completions go to cairn_snap_chunk_done() (ctx), cairn_snap_installed()
 * and, for compaction, only a log line on failure. */
struct cairn_kv_snap_reader;
int cairn_store_snap_open(struct cairn_store *s, struct cairn_kv_snap_reader **out, uint64_t *index,
			  uint64_t *term);
int cairn_store_snap_chunk(struct cairn_store *s, uint64_t index, uint64_t term, uint64_t offset,
			   const uint8_t *data, size_t len, void *ctx);
int cairn_store_snap_install(struct cairn_store *s, uint64_t index, uint64_t term);
int cairn_store_compact(struct cairn_store *s, uint64_t index);

/* The commit manager's apply hook (ctx is the store). */
int cairn_store_apply(void *ctx, const struct cairn_raft_entry *entries, size_t n);
/* The commit manager's urgent hook: start queued applies now. */
void cairn_store_apply_urgent(void *ctx);

/* The log entry payload of a client write (PUT, DEL, CAS): its size in
 * *bytes (0 for another request type), then the encoding into out, which
 * has room for *bytes. Encoding returns 0 or CAIRN_EINVAL (out of limits). */
void cairn_store_write_bytes(const struct cairn_proto_request *req, size_t *bytes);
int cairn_store_encode_write(const struct cairn_proto_request *req, uint8_t *out, size_t size);

/* Linearizable only when called once applied >= the read index. Copies the
 * value into value (reset first). 0, CAIRN_ENOTFOUND, or an error. */
int cairn_store_get(struct cairn_store *s, const uint8_t *key, uint32_t key_len,
		    struct cairn_buf *value);

/* The client reply code (enum cairn_proto_code) for the apply result of a
 * write of type (CAIRN_PROTO_PUT, _DEL, _CAS). */
int cairn_store_result_code(uint8_t type, int result);

/* False while so many persist jobs are in flight that the node should let
 * the core batch instead of handing out another Ready. */
bool cairn_store_can_persist(const struct cairn_store *s);

/* Handle the completions the worker has finished (also done by the loop's
 * async handle; shutdown calls it directly). */
void cairn_store_drain(struct cairn_store *s);

/* One log line "stats commits=N entries_appended=N entries_applied=N"
 * (synced LMDB commits, log entries made durable, entries applied), for
 * tools/bench; logged at a clean exit once every job is done. */
void cairn_store_log_stats(const struct cairn_store *s);

/* Jobs submitted and not yet completed. */
size_t cairn_store_jobs_inflight(const struct cairn_store *s);

/* Stop the worker after the jobs already queued, close the environment.
 * Blocks until the worker is done (shutdown only). */
void cairn_store_close(struct cairn_store *s);

#endif
