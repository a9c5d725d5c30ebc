/*
 * proto.h - the wire protocol of cairn: every message on the peer and the
 * client port, encoded as msgpack.
 *
 * Framing (both ports): a 4-byte big-endian length L, then L bytes holding
 * exactly one msgpack array whose first element is the message type (an
 * unsigned integer, enum cairn_proto_type). 1 <= L <= CAIRN_FRAME_BYTES_MAX.
 * Encoders append the whole frame, prefix included, to a struct cairn_buf;
 * decoders take the body only (the L bytes after the prefix), as src/net
 * delivers it. This module knows message shapes, not sockets.
 *
 * Wire shapes. "u" is a msgpack unsigned integer (any width; non-negative
 * signed integers are accepted too), "bin" a msgpack bin, "str" a msgpack
 * str, "nil" msgpack nil, "bool" true/false. Every array has exactly the
 * number of elements shown; anything else is rejected.
 *
 * Peer port (member to member). Node ids are 1..CAIRN_NODE_ID_MAX.
 *   HELLO          [16, version u, cluster_id u, node_id u]
 *                  the first frame a connecting member sends on a link.
 *   PREVOTE        [1, from, to, term, last_log_index, last_log_term]
 *   VOTE           [3, from, to, term, last_log_index, last_log_term,
 *                   transfer bool]  (transfer: started by TIMEOUT_NOW)
 *   PREVOTE_REPLY, VOTE_REPLY
 *                  [t, from, to, term, reject bool]
 *   APPEND         [5, from, to, term, prev_index, prev_term, commit,
 *                   [[term u, type u, payload bin], ...]]
 *                  entry i has index prev_index + 1 + i (not sent).
 *   APPEND_REPLY   [6, from, to, term, reject, index, hint_term, hint_index]
 *   HEARTBEAT      [7, from, to, term, commit, read_seq]
 *   HEARTBEAT_REPLY [8, from, to, term, reject bool, read_seq]
 *   TIMEOUT_NOW    [9, from, to, term]
 *   SNAPSHOT       [10, from, to, term, prev_index, prev_term, commit]
 *   The type numbers are those of enum cairn_raft_msg_type (cairn/raft.h).
 *
 *   The state machine's state behind a SNAPSHOT travels in its own frames,
 *   one chunk at a time, each acknowledged before the next is sent:
 *   SNAP_CHUNK     [17, from, to, term, snap_index, snap_term, offset u,
 *                   last bool, data bin]
 *                  bytes offset .. offset + len(data) of the state at
 *                  snap_index (whose term is snap_term); last: no more
 *                  follow. 1 <= snap_term <= term, snap_index >= 1,
 *                  len(data) <= CAIRN_SNAPSHOT_CHUNK_BYTES, offset + len
 *                  does not overflow.
 *   SNAP_ACK       [18, from, to, term, snap_index, offset_next u, ok bool]
 *                  ok: every byte before offset_next is kept; not ok: the
 *                  chunk at offset_next was refused (the sender gives up).
 *
 * Client port, requests (client to member). id is any u64 chosen by the
 * client and echoed in the reply; requests on one connection are pipelined
 * and replies may come back in any order. client_id and seq (both >= 1)
 * make writes exactly-once: a client numbers its writes 1, 2, 3, ... and a
 * retry reuses the number. Keys are bin of 1..CAIRN_KEY_BYTES_MAX bytes,
 * values bin of 0..CAIRN_VALUE_BYTES_MAX bytes.
 *   GET            [32, id, key]
 *   PUT            [33, id, client_id, seq, key, value]
 *   DEL            [34, id, client_id, seq, key]
 *   CAS            [35, id, client_id, seq, key, expected, new]
 *   STATUS         [36, id]
 *
 * Client port, replies (member to client):
 *   REPLY          [48, id, code u, ...] where ... depends on code:
 *                    OK, CAS_MISMATCH   nothing, or one value bin (OK: the
 *                                       value of a GET; CAS_MISMATCH: the
 *                                       current value, optional)
 *                    NOT_FOUND          nothing
 *                    NOT_LEADER         leader_id (u or nil), leader_addr
 *                                       (str or nil): the leader's client
 *                                       address, when known
 *                    UNAVAILABLE, BUSY, BAD_REQUEST
 *                                       message str (human-readable)
 *   STATUS_REPLY   [49, id, node_id, role str, term, leader (0 = none),
 *                   commit_index, applied_index, last_log_index,
 *                   peer_addr str, client_addr str, first_log_index,
 *                   log_bytes]
 *
 * Text fields (str) hold no NUL byte and are at most their *_BYTES_MAX
 * below; decoders copy them NUL-terminated into the output struct.
 *
 * Decoding is safe on hostile input: the reader walks the bytes against the
 * expected shape, checks every declared length against the bytes left and
 * the field's limit before looking further, never recurses into a value it
 * does not expect and never allocates. Any violation returns CAIRN_EPROTO
 * and sets out->why to a static description for the one log line. Byte
 * fields (keys, values, entry payloads) point into the frame: they are valid
 * while the frame buffer lives and is unchanged.
 *
 * Use, on a client:
 *   struct cairn_proto_request q = {.type = CAIRN_PROTO_PUT, .id = 7,
 *           .client_id = me, .seq = 42, .key = {k, klen}, .value = {v, vlen}};
 *   cairn_proto_encode_request(&out, &q);      then write out.data[0..out.len)
 *   on each frame from net:  cairn_proto_decode_reply(frame, len, &rep)
 * and on a member: cairn_proto_decode_request() per client frame,
 * cairn_proto_reply_init() + cairn_proto_encode_reply() to answer;
 * cairn_proto_encode_hello() / cairn_proto_encode_raft() to peers and
 * cairn_proto_decode_peer() for what they send.
 *
 * Encoders append one frame to b (growing it within b->cap_max; reusing a
 * buffer means no allocation per message in steady state). On any error
 * b->len is restored, so a failed encode leaves nothing behind. Encoding a
 * field out of its limits returns CAIRN_EINVAL (a caller bug, not a peer's);
 * a buffer at its cap or a frame over CAIRN_FRAME_BYTES_MAX CAIRN_ETOOBIG;
 * CAIRN_ENOMEM.
 */
#ifndef CAIRN_PROTO_PROTO_H
#define CAIRN_PROTO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/limits.h"
#include "cairn/raft.h"
#include "util/buf.h"

/* Bumped on any incompatible change; a HELLO with another version is refused.
 * 2: SNAPSHOT, SNAP_CHUNK and SNAP_ACK, which a version 1 member would refuse. */
#define CAIRN_PROTO_VERSION 2u

/* Bytes of the length prefix in front of every frame. */
#define CAIRN_PROTO_PREFIX_BYTES 4u

/* Text fields, without the terminating NUL. */
#define CAIRN_PROTO_ADDR_BYTES_MAX 255u    /* "HOST:PORT", "[v6]:PORT" */
#define CAIRN_PROTO_ROLE_BYTES_MAX 31u     /* "follower", "leader", ... */
#define CAIRN_PROTO_MESSAGE_BYTES_MAX 255u /* error text in replies */

/* Entries in one APPEND: the replication limit of cairn/limits.h. A Raft
 * config's max_entries_per_msg must not exceed it. */
#define CAIRN_PROTO_APPEND_ENTRIES_MAX CAIRN_APPEND_ENTRIES_MAX

enum cairn_proto_type {
	/* Peer port: 1..10 are enum cairn_raft_msg_type, unchanged. */
	CAIRN_PROTO_HELLO = 16,
	CAIRN_PROTO_SNAP_CHUNK = 17,
	CAIRN_PROTO_SNAP_ACK = 18,
	/* Client port, requests. */
	CAIRN_PROTO_GET = 32,
	CAIRN_PROTO_PUT = 33,
	CAIRN_PROTO_DEL = 34,
	CAIRN_PROTO_CAS = 35,
	CAIRN_PROTO_STATUS = 36,
	/* Client port, replies. */
	CAIRN_PROTO_REPLY = 48,
	CAIRN_PROTO_STATUS_REPLY = 49,
};

/* Result codes of a REPLY. */
enum cairn_proto_code {
	/* Done. A GET that found its key carries the value (has_value). */
	CAIRN_PROTO_OK = 0,
	/* GET or CAS: no such key; nothing changed. */
	CAIRN_PROTO_NOT_FOUND = 1,
	/* CAS: the current value differs from expected; nothing changed. */
	CAIRN_PROTO_CAS_MISMATCH = 2,
	/* This member does not lead (leader hint attached when known), and
	 * this request took no effect through it: retry at the leader. */
	CAIRN_PROTO_NOT_LEADER = 3,
	/* Not applied by this member. A read took no effect; for a write the
	 * outcome may be unknown (it was proposed, then leadership was lost,
	 * the member stopped or its storage failed): retry with the same
	 * client_id and seq, which returns the first result if it did apply. */
	CAIRN_PROTO_UNAVAILABLE = 4,
	/* Overloaded (a queue is full): certainly not applied; retry later. */
	CAIRN_PROTO_BUSY = 5,
	/* Well-formed but refused; never applied. Not retried. */
	CAIRN_PROTO_BAD_REQUEST = 6,
};
#define CAIRN_PROTO_CODE_MAX CAIRN_PROTO_BAD_REQUEST

/* For readers outside src/net (the client library): is there a whole frame
 * at the start of the avail bytes at p? Returns 1 and sets *body_len (the
 * body is at p + CAIRN_PROTO_PREFIX_BYTES), 0 when more bytes are needed,
 * or CAIRN_EPROTO when the length prefix is 0 or over CAIRN_FRAME_BYTES_MAX
 * (close the connection). */
int cairn_proto_frame_split(const uint8_t *p, size_t avail, size_t *body_len);

/* "ok", "not-found", ... ; "unknown" for any other value. Never NULL. */
const char *cairn_proto_code_name(int code);
/* "hello", "get", ..., the Raft names for 1..10; "unknown" otherwise. */
const char *cairn_proto_type_name(int type);

/* A borrowed byte string: len bytes at data (data may be NULL when len == 0). */
struct cairn_proto_bytes {
	const uint8_t *data;
	uint32_t len;
};

/* ---- Peer port ---------------------------------------------------------- */

struct cairn_proto_hello {
	uint32_t version;    /* CAIRN_PROTO_VERSION */
	uint64_t cluster_id; /* 0 when the sender does not know one */
	uint64_t node_id;    /* the sender, 1..CAIRN_NODE_ID_MAX */
};

/* One piece of a snapshot's state (SNAP_CHUNK). */
struct cairn_proto_snap_chunk {
	uint64_t from;
	uint64_t to;
	uint64_t term;                 /* the sender's current term */
	uint64_t snap_index;           /* the last index the state includes, >= 1 */
	uint64_t snap_term;            /* its term, 1..term */
	uint64_t offset;               /* of data[0] in the whole state */
	bool last;                     /* the final chunk */
	struct cairn_proto_bytes data; /* 0..CAIRN_SNAPSHOT_CHUNK_BYTES bytes */
};

/* The answer to one SNAP_CHUNK (SNAP_ACK). */
struct cairn_proto_snap_ack {
	uint64_t from;
	uint64_t to;
	uint64_t term;
	uint64_t snap_index;  /* echoed from the chunk, >= 1 */
	uint64_t offset_next; /* ok: bytes kept so far; else the refused offset */
	bool ok;
};

/* A decoded peer frame. Large (the entries arena): allocate it once per
 * connection or loop, not per frame. */
struct cairn_proto_peer {
	uint8_t type;                        /* HELLO, SNAP_CHUNK, SNAP_ACK or a Raft type */
	struct cairn_proto_hello hello;      /* type == HELLO */
	struct cairn_proto_snap_chunk chunk; /* type == SNAP_CHUNK; data points into the frame */
	struct cairn_proto_snap_ack ack;     /* type == SNAP_ACK */
	struct cairn_raft_msg msg;           /* Raft types; fields not on the wire are 0 */
	/* Arena for msg.entries (APPEND): msg.entries points here, and each
	 * entry's data points into the frame. */
	struct cairn_raft_entry entries[CAIRN_PROTO_APPEND_ENTRIES_MAX];
	const char *why; /* on CAIRN_EPROTO: a static description */
};

/* Append a HELLO frame. */
int cairn_proto_encode_hello(struct cairn_buf *b, const struct cairn_proto_hello *h);

/* Append the frame of a Raft message, with only its type's fields. The
 * message must be well-formed: a known type, node ids in range, at most
 * CAIRN_PROTO_APPEND_ENTRIES_MAX entries with consecutive indexes from
 * prev_index + 1, payloads of at most CAIRN_ENTRY_BYTES_MAX; otherwise
 * CAIRN_EINVAL. */
int cairn_proto_encode_raft(struct cairn_buf *b, const struct cairn_raft_msg *m);

/* Append a SNAP_CHUNK frame. Fields out of the limits above: CAIRN_EINVAL. */
int cairn_proto_encode_snap_chunk(struct cairn_buf *b, const struct cairn_proto_snap_chunk *c);

/* Append a SNAP_ACK frame. Node ids out of range, snap_index 0: CAIRN_EINVAL. */
int cairn_proto_encode_snap_ack(struct cairn_buf *b, const struct cairn_proto_snap_ack *a);

/* Decode a peer frame body (HELLO, SNAP_CHUNK, SNAP_ACK or any Raft message)
 * into *out. Returns 0 or CAIRN_EPROTO (out->why says why; the other fields
 * are then meaningless). Entry payloads and chunk data point into frame:
 * valid while frame lives. Besides shapes and limits it checks what must hold of any Raft message:
 * entry terms do not decrease and do not exceed the message's term, NOOP
 * entries are empty, indexes do not overflow. */
int cairn_proto_decode_peer(const uint8_t *frame, size_t len, struct cairn_proto_peer *out);

/* ---- Client port -------------------------------------------------------- */

struct cairn_proto_request {
	uint8_t type; /* CAIRN_PROTO_GET .. CAIRN_PROTO_STATUS */
	uint64_t id;
	uint64_t client_id;                /* PUT, DEL, CAS: >= 1 */
	uint64_t seq;                      /* PUT, DEL, CAS: >= 1 */
	struct cairn_proto_bytes key;      /* all but STATUS */
	struct cairn_proto_bytes value;    /* PUT: the value; CAS: the new value */
	struct cairn_proto_bytes expected; /* CAS */
	/* On CAIRN_EPROTO: why, and whether type and id could be read (so a
	 * server may answer BAD_REQUEST to that id instead of only closing). */
	const char *why;
	bool id_known;
};

/* Append the frame of a request (fields not used by its type are ignored).
 * Out-of-limit fields: CAIRN_EINVAL. */
int cairn_proto_encode_request(struct cairn_buf *b, const struct cairn_proto_request *req);

/* Decode a client request body. 0 or CAIRN_EPROTO. Byte fields point into
 * frame. */
int cairn_proto_decode_request(const uint8_t *frame, size_t len, struct cairn_proto_request *out);

struct cairn_proto_status {
	uint64_t node_id;                          /* 1..CAIRN_NODE_ID_MAX */
	char role[CAIRN_PROTO_ROLE_BYTES_MAX + 1]; /* non-empty */
	uint64_t term;
	uint64_t leader; /* CAIRN_RAFT_NONE (0) when unknown */
	uint64_t commit_index;
	uint64_t applied_index;
	uint64_t last_log_index;
	char peer_addr[CAIRN_PROTO_ADDR_BYTES_MAX + 1];
	char client_addr[CAIRN_PROTO_ADDR_BYTES_MAX + 1];
	uint64_t first_log_index; /* first index still in the log (compacted before) */
	uint64_t log_bytes;       /* payload bytes of the log held in memory */
};

/* A reply: REPLY (code and what it carries) or STATUS_REPLY (status). */
struct cairn_proto_reply {
	uint8_t type; /* CAIRN_PROTO_REPLY or CAIRN_PROTO_STATUS_REPLY */
	uint64_t id;

	/* REPLY */
	uint8_t code;                   /* enum cairn_proto_code */
	bool has_value;                 /* OK, CAS_MISMATCH only */
	struct cairn_proto_bytes value; /* when has_value; points into the frame */
	uint64_t leader_id;             /* NOT_LEADER: 0 when unknown */
	char leader_addr[CAIRN_PROTO_ADDR_BYTES_MAX + 1]; /* NOT_LEADER: "" when unknown */
	char message[CAIRN_PROTO_MESSAGE_BYTES_MAX + 1];  /* UNAVAILABLE, BUSY, BAD_REQUEST */

	/* STATUS_REPLY */
	struct cairn_proto_status status;

	const char *why; /* on CAIRN_EPROTO: a static description */
};

/* Append the frame of a reply. Only the fields of its type and code are
 * encoded. A message longer than CAIRN_PROTO_MESSAGE_BYTES_MAX is cut to
 * that length (it is diagnostic text); any other out-of-limit field is
 * CAIRN_EINVAL. */
int cairn_proto_encode_reply(struct cairn_buf *b, const struct cairn_proto_reply *rep);

/* Decode a reply body (REPLY or STATUS_REPLY). 0 or CAIRN_EPROTO. value
 * points into frame; text fields are copied into *out. */
int cairn_proto_decode_reply(const uint8_t *frame, size_t len, struct cairn_proto_reply *out);

/* Convenience for servers: fill *rep as a REPLY with the given code and no
 * value, hint or message (everything else zeroed). */
void cairn_proto_reply_init(struct cairn_proto_reply *rep, uint64_t id, enum cairn_proto_code code);

#endif
