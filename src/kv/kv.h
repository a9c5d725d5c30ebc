/*
 * kv.h - the key-value state machine of cairn and its client sessions.
 *
 * Committed Raft entries are applied in batches: one LMDB transaction (one
 * fsync) per batch applies every command and records the applied index (and
 * the term of its entry: cairn_kv_applied_pos), so a
 * restart resumes exactly after the last applied entry, never replaying and
 * never skipping one. NOOP entries only advance the applied index.
 *
 * Exactly-once (Raft thesis §6.3): the `sessions` database keeps, per client
 * id, the last sequence number applied and its result. A command whose
 * (client_id, seq) was already applied is answered with the stored result and
 * has no effect (duplicate); a seq lower than the last is answered
 * CAIRN_KV_STALE, also without effect. client_id 0 means no session (no
 * deduplication). Sessions expire deterministically, as functions of the
 * applied sequence only, so every member expires the same ones at the same
 * index: before applying the entry at index i, sessions whose last use is
 * more than session_idle_entries entries older than i are removed; after it,
 * while more than sessions_max sessions exist the least recently used one
 * (lowest last-use index) is removed. A duplicate refreshes last use; a
 * stale command does not. A client whose session expired starts a new one
 * with its next command (a retry arriving after expiry may apply twice).
 *
 * Reads (cairn_kv_get) run in an LMDB read transaction on any thread and
 * never block the writer; the value is copied out before the transaction
 * ends. Functions return 0 or a negative CAIRN_E* code.
 */
#ifndef CAIRN_KV_KV_H
#define CAIRN_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"
#include "storage/storage.h"
#include "util/buf.h"

/*
 * Command encoding: the payload of a NORMAL entry. All integers big-endian.
 *
 *   offset  size  field
 *   0       1     version, CAIRN_KV_CMD_VERSION
 *   1       1     op (enum cairn_kv_op)
 *   2       8     client_id (0: no session)
 *   10      8     seq
 *   18      2     key_len       1 .. CAIRN_KEY_BYTES_MAX
 *   20      4     value_len     put, cas: 0 .. CAIRN_VALUE_BYTES_MAX; del: 0
 *   24      4     expected_len  cas: 0 .. CAIRN_VALUE_BYTES_MAX; others: 0
 *   28      key_len       key
 *   ..      expected_len  expected value (cas)
 *   ..      value_len     new value (put, cas)
 *
 * The payload is exactly 28 + key_len + expected_len + value_len bytes.
 */
#define CAIRN_KV_CMD_VERSION 1u
#define CAIRN_KV_CMD_HEADER_BYTES 28u

enum cairn_kv_op {
	CAIRN_KV_PUT = 1,
	CAIRN_KV_DEL = 2,
	CAIRN_KV_CAS = 3, /* replace value if it equals expected */
};

struct cairn_kv_cmd {
	uint8_t op; /* enum cairn_kv_op */
	uint64_t client_id;
	uint64_t seq;
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *value; /* put, cas: the new value */
	uint32_t value_len;
	const uint8_t *expected; /* cas */
	uint32_t expected_len;
};

/* Encoded size of cmd (not validated). */
size_t cairn_kv_cmd_bytes(const struct cairn_kv_cmd *cmd);

/* Encode cmd into buf (buf_bytes >= cairn_kv_cmd_bytes(cmd)); *len_out gets
 * the size. CAIRN_EINVAL for an unknown op or a field of bad length,
 * CAIRN_ETOOBIG if buf is too small. */
int cairn_kv_cmd_encode(const struct cairn_kv_cmd *cmd, uint8_t *buf, size_t buf_bytes,
			size_t *len_out);

/* Decode p[0..len). Every length is checked against the limits and the
 * total; CAIRN_EPROTO on any mismatch. cmd's pointers point into p. */
int cairn_kv_cmd_decode(const uint8_t *p, size_t len, struct cairn_kv_cmd *cmd);

/* The result of one applied entry. Stored in the session table, so the
 * values are part of the on-disk format: never renumber. */
enum cairn_kv_status {
	CAIRN_KV_OK = 0,       /* put done, del removed the key, cas swapped, noop */
	CAIRN_KV_NOTFOUND = 1, /* del or cas: the key does not exist */
	CAIRN_KV_MISMATCH = 2, /* cas: the current value differs; nothing changed */
	CAIRN_KV_STALE = 3,    /* seq below the client's last applied: no effect */
	CAIRN_KV_BADCMD = 4,   /* payload did not decode: no effect */
};

/* "ok", "not-found", "mismatch", "stale", "bad-command". */
const char *cairn_kv_status_name(int status);

struct cairn_kv_result {
	uint64_t index;     /* the entry's log index */
	uint64_t client_id; /* 0 for noop, bad or sessionless commands */
	uint64_t seq;
	uint8_t status; /* enum cairn_kv_status */
	bool duplicate; /* answered from the session table, not applied again */
};

struct cairn_kv_options {
	/* Must be equal on every member (the default 0 everywhere). */
	uint32_t sessions_max;         /* 0: CAIRN_SESSIONS_MAX */
	uint64_t session_idle_entries; /* 0: CAIRN_SESSION_IDLE_ENTRIES */
};

struct cairn_kv;

/* A state machine over s (which must outlive it). opt may be NULL. Reads
 * the applied index. CAIRN_ENOMEM, CAIRN_EINVAL, or a storage error. */
int cairn_kv_open(struct cairn_kv **out, struct cairn_storage *s,
		  const struct cairn_kv_options *opt);
void cairn_kv_close(struct cairn_kv *kv);

/*
 * Apply entries[0..n) in one fsync'd transaction that also records the
 * applied index. entries[0].index must be applied + 1 and the rest
 * consecutive, else CAIRN_EINVAL and nothing changes. results[i] (caller
 * allocated, n of them) gets the result of entries[i]. On any error nothing
 * of the batch is applied and results are undefined.
 */
int cairn_kv_apply(struct cairn_kv *kv, const struct cairn_raft_entry *entries, size_t n,
		   struct cairn_kv_result *results);

/* The applied index (atomic: any thread). */
uint64_t cairn_kv_applied(const struct cairn_kv *kv);

/* The durable applied index and the term of its entry (read from disk;
 * 0, 0 before anything was applied). Recorded by every apply and by a
 * snapshot install; for a data dir from before that it is taken from the
 * log (the entry at the applied index, or the prev position), else 0. */
int cairn_kv_applied_pos(struct cairn_kv *kv, uint64_t *index, uint64_t *term);

/*
 * Copy the value of key into value (reset first; the caller owns value).
 * CAIRN_ENOTFOUND if absent, CAIRN_EINVAL for a key length outside
 * 1..CAIRN_KEY_BYTES_MAX. On 0 and CAIRN_ENOTFOUND, *applied_out (if not
 * NULL) gets the applied index of the snapshot read: at least every index
 * whose apply had completed before the call.
 */
int cairn_kv_get(struct cairn_kv *kv, const void *key, size_t key_len, struct cairn_buf *value,
		 uint64_t *applied_out);

/* Number of live sessions (tests, status). */
int cairn_kv_sessions(struct cairn_kv *kv, uint64_t *count);

#endif
