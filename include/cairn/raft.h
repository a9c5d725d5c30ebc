/*
 * raft.h - the pure, deterministic Raft core of cairn.
 *
 * The core implements Raft as the extended paper (Figure 2) and Ongaro's
 * thesis describe it: elections with pre-vote and check-quorum, log
 * replication with pipelining and flow control, commitment by counting in the
 * current term, ReadIndex and leadership transfer. It does no I/O, reads no
 * clock, starts no thread and draws randomness only from the seed in its
 * config. It is driven by three inputs:
 *
 *   cairn_raft_tick()       one unit of abstract time has passed
 *   cairn_raft_step()       a message from a peer arrived
 *   cairn_raft_propose()    a client wants an entry appended (leader only)
 *
 * and answers with a batch of work, the Ready (etcd's raft library has the
 * same shape). The caller loop is:
 *
 *   while (cairn_raft_has_ready(r)) {
 *       struct cairn_raft_ready rd;
 *       cairn_raft_ready(r, &rd);
 *       send rd.msgs[] now;                       (never waits on the disk)
 *       start persisting rd.hard_state and rd.entries, and attach
 *         rd.msgs_after_persist to that write;     (one batch, one fsync)
 *       hand rd.committed[] to the state machine;
 *       answer rd.reads[] once applied >= read.index;
 *       cairn_raft_advance(r, &rd);               (rd's pointers die here)
 *   }
 *   ... later, when that write is durable:
 *       send the attached msgs_after_persist;
 *       cairn_raft_persisted(r, last_index, last_term);
 *
 * Persist before you speak: every message that depends on state not yet on
 * disk (a vote, an AppendEntries acknowledgement) is in msgs_after_persist.
 * A leader's own AppendEntries go out in msgs while its disk write runs; the
 * leader counts itself towards a majority only after cairn_raft_persisted().
 * Writes handed out by successive Ready values must be made durable in order
 * (a FIFO storage thread does that). A Ready with msgs_after_persist but
 * nothing to write still queues behind the earlier writes: its messages go
 * out once every write handed out before is durable. The messages that wait
 * are VOTE, VOTE_REPLY and APPEND_REPLY.
 *
 * Between cairn_raft_ready() and cairn_raft_advance() only
 * cairn_raft_status() and cairn_raft_has_ready() may be called (asserted).
 *
 * Ownership: every pointer inside a Ready (entries, payloads, messages) points
 * into memory owned by the core and stays valid until cairn_raft_advance() for
 * that Ready. Callers copy what they need beyond that. Inputs (messages given
 * to step, payloads given to propose) are copied by the core; the caller keeps
 * ownership of what it passed.
 *
 * Errors: functions return 0 or a negative CAIRN_E* code (cairn/errors.h).
 */
#ifndef CAIRN_RAFT_H
#define CAIRN_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/limits.h"

#define CAIRN_RAFT_NONE 0 /* no node: no vote, no known leader */

/* Terms run 1 .. CAIRN_RAFT_TERM_MAX; a message or restore beyond is
 * invalid, so a hostile term can never wrap the current term (Figure 2:
 * terms only grow). */
#define CAIRN_RAFT_TERM_MAX (UINT64_MAX / 2)

enum cairn_raft_role {
	CAIRN_RAFT_FOLLOWER = 0,
	CAIRN_RAFT_PRE_CANDIDATE = 1, /* pre-vote in progress, term unchanged */
	CAIRN_RAFT_CANDIDATE = 2,
	CAIRN_RAFT_LEADER = 3,
};

/* "follower", "pre-candidate", "candidate", "leader". */
const char *cairn_raft_role_name(enum cairn_raft_role role);

enum cairn_raft_entry_type {
	CAIRN_RAFT_ENTRY_NOOP = 0,   /* appended by each new leader (no payload) */
	CAIRN_RAFT_ENTRY_NORMAL = 1, /* an opaque client command */
};

struct cairn_raft_entry {
	uint64_t term;
	uint64_t index;
	uint8_t type;        /* enum cairn_raft_entry_type */
	uint32_t len;        /* payload length in bytes */
	const uint8_t *data; /* payload; NULL when len == 0 */
};

/* Durable state of Figure 2. */
struct cairn_raft_hard_state {
	uint64_t term;
	uint64_t vote;   /* CAIRN_RAFT_NONE or the id voted for in term */
	uint64_t commit; /* not required for safety; persisted as a hint */
};

enum cairn_raft_msg_type {
	CAIRN_RAFT_MSG_PREVOTE = 1, /* term = the term it would campaign in */
	CAIRN_RAFT_MSG_PREVOTE_REPLY = 2,
	CAIRN_RAFT_MSG_VOTE = 3,
	CAIRN_RAFT_MSG_VOTE_REPLY = 4,
	CAIRN_RAFT_MSG_APPEND = 5,
	CAIRN_RAFT_MSG_APPEND_REPLY = 6,
	CAIRN_RAFT_MSG_HEARTBEAT = 7,
	CAIRN_RAFT_MSG_HEARTBEAT_REPLY = 8,
	CAIRN_RAFT_MSG_TIMEOUT_NOW = 9,
	CAIRN_RAFT_MSG_SNAPSHOT = 10,
};
#define CAIRN_RAFT_MSG_TYPE_MIN CAIRN_RAFT_MSG_PREVOTE
#define CAIRN_RAFT_MSG_TYPE_MAX CAIRN_RAFT_MSG_SNAPSHOT

/* "prevote", "prevote-reply", ... for logs and traces. */
const char *cairn_raft_msg_name(int type);

/*
 * One message between members. A flat struct: each type uses the fields its
 * comment names and leaves the others zero, so that the wire codec
 * (src/proto) can carry every type with one shape.
 */
struct cairn_raft_msg {
	uint8_t type; /* enum cairn_raft_msg_type */
	uint64_t from;
	uint64_t to;
	uint64_t term;

	/* PREVOTE, VOTE: the candidate's last log position. */
	uint64_t last_log_index;
	uint64_t last_log_term;
	/* VOTE: the campaign was started by TIMEOUT_NOW (a leadership
	 * transfer, thesis §3.10), so voters grant it even while they hear
	 * from a leader under check-quorum. */
	bool transfer;

	/* *_REPLY: false = granted / success, true = rejected. Any reply with
	 * reject set may just be telling a stale sender the current term. */
	bool reject;

	/* APPEND: the entries follow prev_index (whose term is prev_term).
	 * APPEND, HEARTBEAT: commit is the leader's commit index (for a
	 * heartbeat, already capped at what the follower is known to hold). */
	uint64_t prev_index;
	uint64_t prev_term;
	uint64_t commit;
	const struct cairn_raft_entry *entries;
	uint32_t n_entries;

	/* APPEND_REPLY: on success, index is the highest index the follower
	 * now holds matching the leader's log and has persisted (the last
	 * entry of the APPEND, or the follower's commit index when the APPEND
	 * lies wholly below it). A reject that only tells a stale leader the
	 * current term has index 0 (and no hint). On reject,
	 * index is the rejected prev_index, and the hint lets the leader jump
	 * back over a whole conflicting term: hint_term is the follower's term
	 * at the rejected position (0 if its log is shorter) and hint_index the
	 * first index the follower holds of hint_term (or its last index + 1
	 * when its log is shorter). */
	uint64_t index;
	uint64_t hint_term;
	uint64_t hint_index;

	/* HEARTBEAT, HEARTBEAT_REPLY: the ReadIndex round being confirmed;
	 * the reply echoes it. 0 when no read is waiting. */
	uint64_t read_seq;

	/* SNAPSHOT (Figure 13, InstallSnapshot): the leader's state machine
	 * state takes the place of every entry through prev_index (the last
	 * index the state includes, whose term is prev_term), and commit is
	 * the leader's commit index. The state itself never passes through
	 * the core; see "Snapshots" below. The follower answers with an
	 * APPEND_REPLY (success: index = prev_index, or its commit index when
	 * that is already higher). */
};

/* A read request made safe: the caller may answer it once its applied index
 * reaches index (thesis §6.4). ctx is what the caller passed to
 * cairn_raft_read_index(). */
struct cairn_raft_read {
	uint64_t ctx;
	uint64_t index;
};

struct cairn_raft_ready {
	/* Persist before msgs_after_persist are sent. */
	bool has_hard_state;
	struct cairn_raft_hard_state hard_state;

	/* Entries to append to the durable log. If entries[0].index is at or
	 * below the durable last index, the durable log is first truncated to
	 * entries[0].index - 1 (a conflicting suffix is replaced). */
	const struct cairn_raft_entry *entries;
	size_t n_entries;

	/* Send now; these depend on nothing still unpersisted. */
	const struct cairn_raft_msg *msgs;
	size_t n_msgs;

	/* Send only after hard_state and entries of this Ready are durable. */
	const struct cairn_raft_msg *msgs_after_persist;
	size_t n_msgs_after_persist;

	/* Committed entries, in index order, to apply to the state machine.
	 * Only entries this member has persisted are handed out, so applying
	 * them never runs ahead of the local log. */
	const struct cairn_raft_entry *committed;
	size_t n_committed;

	/* ReadIndex requests now confirmed. */
	const struct cairn_raft_read *reads;
	size_t n_reads;

	/* ReadIndex requests dropped: leadership was lost before they were
	 * confirmed. The caller fails them with "not leader". */
	const uint64_t *reads_dropped;
	size_t n_reads_dropped;

	/* Follower: install the received snapshot for (snapshot_index,
	 * snapshot_term) - the state machine becomes that state, applied =
	 * snapshot_index, and the durable log keeps only what follows
	 * snapshot_index (all of it is dropped unless the durable log holds
	 * snapshot_term at snapshot_index, Figure 13). This write comes
	 * before this Ready's hard state and entries in the same FIFO order,
	 * and its APPEND_REPLY is in msgs_after_persist. */
	bool has_snapshot;
	uint64_t snapshot_index;
	uint64_t snapshot_term;
};

struct cairn_raft_config {
	uint64_t id;             /* this member, in members[] */
	const uint64_t *members; /* ids of all voting members, self included */
	size_t n_members;        /* 1 .. CAIRN_MEMBERS_MAX */

	uint32_t heartbeat_ticks; /* leader heartbeat interval, >= 1 */
	uint32_t election_ticks;  /* T: timeouts are drawn from [T, 2T); > heartbeat */
	uint64_t seed;            /* the only source of randomness */

	/* thesis §9.6; a pre-vote is refused by a member that heard from a
	 * leader within T ticks, whatever check_quorum says. */
	bool pre_vote;
	/* A leader steps down without a majority in T ticks, and members that
	 * heard from a leader within T ticks ignore VOTE requests (unless
	 * started by TIMEOUT_NOW). */
	bool check_quorum;

	/* Flow control; 0 takes the default of cairn/limits.h. */
	uint32_t max_entries_per_msg;
	uint32_t max_bytes_per_msg;
	uint32_t max_inflight_msgs;
};

/* What a restarting member hands in: its durable state. */
struct cairn_raft_restore {
	struct cairn_raft_hard_state hard_state;
	/* The durable log, contiguous, in index order. The core copies it. */
	const struct cairn_raft_entry *log;
	size_t n_log;
	/* Index and term just before log[0] (0, 0 for a log starting at 1):
	 * the prefix through it was compacted away or replaced by an
	 * installed snapshot, and the state machine already holds it. */
	uint64_t first_prev_index;
	uint64_t first_prev_term;
	/* Entries up to applied are already in the state machine; they are
	 * not handed out again as committed. first_prev_index <= applied. */
	uint64_t applied;
};

struct cairn_raft_progress {
	uint64_t id;
	uint64_t match;    /* highest index known replicated (and persisted) there */
	uint64_t next;     /* next index to send */
	uint32_t inflight; /* AppendEntries in flight */
	bool active;       /* heard from within the last election timeout */
	bool snapshot;     /* a SNAPSHOT was asked for and not yet answered */
};

struct cairn_raft_status {
	uint64_t id;
	enum cairn_raft_role role;
	uint64_t term;
	uint64_t vote;
	uint64_t leader; /* CAIRN_RAFT_NONE while unknown */
	uint64_t commit;
	uint64_t applied;    /* last index handed out in committed[] */
	uint64_t last_index; /* last index in the (possibly unpersisted) log */
	uint64_t last_term;
	uint64_t persisted_index; /* last index reported by cairn_raft_persisted */
	uint64_t first_index;     /* first index held in memory (compacted before) */
	uint64_t log_bytes;       /* payload bytes of the entries held in memory */
	/* Leader only: one entry per member, self included. */
	struct cairn_raft_progress progress[CAIRN_MEMBERS_MAX];
	size_t n_progress;
};

struct cairn_raft;

/* Create a core. restore may be NULL for a brand-new member. On success
 * *out owns a core to be freed with cairn_raft_destroy(). Returns
 * CAIRN_EINVAL for a bad config and CAIRN_ENOMEM. */
int cairn_raft_create(struct cairn_raft **out, const struct cairn_raft_config *cfg,
		      const struct cairn_raft_restore *restore);
void cairn_raft_destroy(struct cairn_raft *r);

/* One unit of abstract time. */
void cairn_raft_tick(struct cairn_raft *r);

/* Deliver a message addressed to this member. A message that cannot be
 * valid (unknown sender or type, not addressed to us, term 0 on a request,
 * a term above CAIRN_RAFT_TERM_MAX, a last_log_term or hint_term above the
 * message's term, APPEND entries not numbered prev_index + 1.. or with terms out of order,
 * an APPEND_REPLY acknowledging more than the leader's log, a SNAPSHOT with
 * prev_index 0 or above UINT64_MAX / 2, prev_term 0 or above its term, or
 * entries) returns
 * CAIRN_EINVAL and changes nothing. Stale messages are not errors: they are
 * answered with the current term or ignored, and return 0. CAIRN_ENOMEM if
 * entries could not be copied: the log may then hold a prefix of them, and
 * no reply goes out, so the leader sends them again. */
int cairn_raft_step(struct cairn_raft *r, const struct cairn_raft_msg *m);

/* Append a NORMAL entry with a copy of data (index may be NULL). On success
 * *index is its log index; followers get it with the next Ready. Not the
 * leader (or a transfer in progress): CAIRN_ENOTLEADER. len over
 * CAIRN_ENTRY_BYTES_MAX: CAIRN_ETOOBIG. CAIRN_PROPOSALS_PENDING_MAX entries
 * already past the applied index: CAIRN_EFULL. len > 0 with data NULL:
 * CAIRN_EINVAL. */
int cairn_raft_propose(struct cairn_raft *r, const void *data, uint32_t len, uint64_t *index);

/* Ask for a linearizable read point. ctx is echoed in a later Ready's
 * reads[] (or reads_dropped[]). Not the leader: CAIRN_ENOTLEADER; more than
 * CAIRN_READS_PENDING_MAX reads outstanding: CAIRN_EFULL. Reads that arrive
 * between two Ready calls share one heartbeat round; a new leader starts
 * rounds only once it has committed an entry of its term (reads asked
 * before wait for that). */
int cairn_raft_read_index(struct cairn_raft *r, uint64_t ctx);

/* Leader only: hand leadership to target (CAIRN_RAFT_NONE picks the most
 * up-to-date follower). Proposals are refused while the transfer runs; it is
 * abandoned after one election timeout. Not the leader: CAIRN_ENOTLEADER;
 * target is this member or not a member: CAIRN_EINVAL; a cluster of one:
 * CAIRN_EUNAVAIL. */
int cairn_raft_transfer_leadership(struct cairn_raft *r, uint64_t target);

bool cairn_raft_has_ready(const struct cairn_raft *r);
void cairn_raft_ready(struct cairn_raft *r, struct cairn_raft_ready *rd);
void cairn_raft_advance(struct cairn_raft *r, const struct cairn_raft_ready *rd);

/* The log through index (whose term is term), and the hard state of every
 * Ready handed out before, are durable. A report for a position that was
 * since overwritten (term differs) is ignored. */
void cairn_raft_persisted(struct cairn_raft *r, uint64_t index, uint64_t term);

void cairn_raft_status(const struct cairn_raft *r, struct cairn_raft_status *st);

/*
 * Snapshots and compaction (extended paper §7, Figure 13).
 *
 * The core holds only the log after its first_index - 1; the caller keeps
 * memory bounded by compacting what its state machine already holds
 * durably. A follower that needs an entry the leader compacted away gets
 * the state machine's state instead:
 *
 *  1. The leader's core puts a SNAPSHOT message for that follower in msgs,
 *     with term and commit set and prev_index = prev_term = 0, and stops
 *     sending it entries (progress.snapshot).
 *  2. The caller takes its state machine's state at some applied index A
 *     (first_index - 1 <= A <= the applied index of status), sets
 *     prev_index = A and prev_term = term(A), and streams the state to the
 *     follower however it likes. If that fails it calls
 *     cairn_raft_snapshot_failed(); the core asks again after the
 *     follower's next heartbeat answer. So does a caller whose state
 *     machine does not hold first_index - 1 yet (a member that just
 *     installed a snapshot and was elected before the install was
 *     durable). A SNAPSHOT (or its answer) that is lost is asked for
 *     again as well, once an election timeout has passed without an
 *     answer: the core never waits forever. A caller still streaming a
 *     state to that peer (a large state takes longer) may keep that
 *     transfer and ignore the new request: its answer ends the wait.
 *  3. The follower's caller receives the whole state, keeps it aside, and
 *     then steps the SNAPSHOT message (with prev_index, prev_term) into its
 *     core. A stale one is answered like a stale APPEND (a reject with the
 *     current term, index 0). One wholly at or below the follower's commit
 *     index is answered (success, index = commit; in msgs_after_persist
 *     like every APPEND_REPLY) and needs no install (rd.has_snapshot
 *     stays false: discard the state). Otherwise
 *     the core resets its log to start after (prev_index, prev_term),
 *     keeping the entries after it only if it holds prev_term at
 *     prev_index, sets commit and applied to prev_index, and asks for the
 *     install in rd.has_snapshot; the reply follows in msgs_after_persist.
 *     Committed entries handed out from then on (in that Ready or later)
 *     start at prev_index + 1: apply them after the install.
 *  4. The leader takes the APPEND_REPLY like any other and resumes
 *     replication after index; if it compacted past index meanwhile, it
 *     asks for a SNAPSHOT again at once.
 */

/* The state machine holds every entry through index durably; drop them
 * from memory (first_index becomes index + 1). index <= the applied index
 * of status and <= persisted_index, else CAIRN_EINVAL. An index at or
 * below first_index - 1 is a no-op. May be called in any role, outside
 * ready/advance. */
int cairn_raft_compact(struct cairn_raft *r, uint64_t index);

/* Leader: sending the state asked for by a SNAPSHOT to peer failed; the
 * core asks again later. Ignored when not leader or not waiting. */
void cairn_raft_snapshot_failed(struct cairn_raft *r, uint64_t peer);

#endif
