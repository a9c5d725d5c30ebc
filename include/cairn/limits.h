/*
 * limits.h - every hard limit of cairn, in one place.
 *
 * A limit reached is a clear error for that request or connection, never a
 * crash and never unbounded memory. The relations between limits are checked
 * at compile time below.
 */
#ifndef CAIRN_LIMITS_H
#define CAIRN_LIMITS_H

/* User data (contract: keys 1..1024 bytes, values 0..1 MiB). */
#define CAIRN_KEY_BYTES_MAX 1024u
#define CAIRN_VALUE_BYTES_MAX (1024u * 1024u)

/* Cluster shape. */
#define CAIRN_MEMBERS_MAX 7u
#define CAIRN_NODE_ID_MAX 1000000u

/* One entry carries one client command: a key, a value, an expected value
 * (cas) and a fixed header of at most 64 bytes. */
#define CAIRN_ENTRY_BYTES_MAX (64u + CAIRN_KEY_BYTES_MAX + 2u * CAIRN_VALUE_BYTES_MAX)

/* Replication flow control (per follower). */
#define CAIRN_APPEND_ENTRIES_MAX 512u
#define CAIRN_APPEND_BYTES_MAX (4u * 1024u * 1024u)
#define CAIRN_INFLIGHT_MSGS_MAX 64u

/* Wire framing: one frame must hold the largest AppendEntries (one oversize
 * entry always goes out alone) and the largest client request. */
#define CAIRN_FRAME_BYTES_MAX (CAIRN_APPEND_BYTES_MAX + CAIRN_ENTRY_BYTES_MAX + 4096u)

/* Connections and queues. */
#define CAIRN_CLIENT_CONNS_MAX 1024u
#define CAIRN_PEER_CONNS_MAX 64u
#define CAIRN_CONN_PENDING_REQS_MAX 4096u
#define CAIRN_PEER_SENDQ_BYTES_MAX (64u * 1024u * 1024u)
#define CAIRN_PROPOSALS_PENDING_MAX 65536u
#define CAIRN_READS_PENDING_MAX 65536u

/* Compaction: whatever log_keep_entries says, the log held in memory (and on
 * disk) is compacted through the applied index once its payload passes
 * this many bytes. */
#define CAIRN_LOG_KEEP_BYTES_MAX (64u * 1024u * 1024u)
/* While a follower takes a snapshot, its leader keeps the log after the
 * snapshot's index (so that follower resumes from the log) up to this many
 * bytes. */
#define CAIRN_LOG_HOLD_BYTES_MAX (4u * CAIRN_LOG_KEEP_BYTES_MAX)

/* Exactly-once bookkeeping. */
#define CAIRN_SESSIONS_MAX 65536u
/* A session unused for more than this many applied entries expires. */
#define CAIRN_SESSION_IDLE_ENTRIES 1000000u

/* Snapshot streaming: one chunk of the state machine's state, whole
 * records only, so it holds the largest record (a 1 MiB value, its key and
 * a few headers). */
#define CAIRN_SNAPSHOT_CHUNK_BYTES (CAIRN_VALUE_BYTES_MAX + 4096u)

_Static_assert(CAIRN_KEY_BYTES_MAX >= 1, "keys are at least one byte");
_Static_assert(CAIRN_ENTRY_BYTES_MAX <= CAIRN_FRAME_BYTES_MAX,
	       "a single entry must fit in a frame");
_Static_assert(CAIRN_APPEND_BYTES_MAX + CAIRN_ENTRY_BYTES_MAX < CAIRN_FRAME_BYTES_MAX,
	       "an AppendEntries at its byte limit must fit in a frame");
_Static_assert(CAIRN_FRAME_BYTES_MAX < (1u << 31), "frame length fits in 31 bits");
_Static_assert(CAIRN_SNAPSHOT_CHUNK_BYTES + 4096u <= CAIRN_FRAME_BYTES_MAX,
	       "a snapshot chunk and its message header fit in a frame");
_Static_assert(CAIRN_MEMBERS_MAX % 2 == 1, "an odd member cap");

#endif
