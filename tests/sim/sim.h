/*
 * sim.h - the deterministic fault simulator of cairn's Raft core.
 *
 * One run ("a seed") builds a cluster of real cores (cairn_raft_create) and
 * drives them through a virtual clock, a network that drops, duplicates,
 * delays and reorders, partitions, pauses, and a per-member disk whose writes
 * complete in order after a random delay and vanish on a crash. Everything
 * random comes from one generator seeded by the seed, so a run is a pure
 * function of (seed, members) and replays exactly. cluster.c runs the
 * clock and the run, member.c the cores with their networks and disks,
 * faults.c the clients, faults and the liveness check after healing; the
 * checker (check.c) watches every step for a broken Raft property; main.c is
 * the command line.
 */
#ifndef CAIRN_SIM_H
#define CAIRN_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"
#include "util/rand.h"

/* Virtual time: 1 tick = 10 ms; heartbeat 50 ms, election 300..600 ms. */
#define SIM_TICK_MS 10u
#define SIM_HEARTBEAT_TICKS 5u
#define SIM_ELECTION_TICKS 30u
#define SIM_ELECTION_MS (SIM_ELECTION_TICKS * SIM_TICK_MS)
#define SIM_MEMBERS_MAX 5u
/* After healing (and SIM_NET_DRAIN_MS): a leader within this many election
 * timeouts, then a new entry applied everywhere without a stall that long. */
#define SIM_LIVENESS_ELECTIONS 10u
/* The network delays a message by up to SIM_DELAY_MS_MAX, and now and then
 * by up to SIM_LONG_DELAY_MS_MAX more (a SNAPSHOT up to SIM_SNAP_DELAY_MS_MAX
 * more again): after the heal, the last held-back
 * message arrives within SIM_NET_DRAIN_MS. */
#define SIM_DELAY_MS_MAX 100u
#define SIM_LONG_DELAY_MS_MAX 2000u
/* A SNAPSHOT's state takes up to this much longer (streaming it). */
#define SIM_SNAP_DELAY_MS_MAX 1000u
#define SIM_NET_DRAIN_MS (SIM_DELAY_MS_MAX + SIM_LONG_DELAY_MS_MAX + SIM_SNAP_DELAY_MS_MAX)
/* However slow the catch-up, the new entry is everywhere this long after
 * the heal. */
#define SIM_CATCH_UP_MS_MAX 120000u
/* A Ready loop that never settles is a core bug, not a long computation. */
#define SIM_READY_ROUNDS_MAX 10000u
/* More events pending, or more entries in flight, than this is a message
 * storm, reported as such (and memory stays bounded). */
#define SIM_EVENTS_PENDING_MAX 100000u
#define SIM_ENTRIES_IN_FLIGHT_MAX 2000000u
/* Payload bytes are carved from chunks of this size. */
#define SIM_CHUNK_BYTES 65536u

/* Faults the self-test injects to prove the checker can fail. */
enum sim_inject {
	SIM_INJECT_NONE = 0,
	SIM_INJECT_APPLIED = 1,    /* member 1 applies a different payload */
	SIM_INJECT_DISK_LOSS = 2,  /* a restart loses the last durable entry */
	SIM_INJECT_STALE_READ = 3, /* a read answer is taken one index low */
	SIM_INJECT_EARLY_SEND = 4, /* msgs_after_persist go out before the write */
	SIM_INJECT_SNAPSHOT = 5    /* a leader sends a snapshot of a wrong state */
};

/* One log entry as the simulator keeps it: the payload is named by the
 * proposal id (pid) that created it; 0 for a no-op. */
struct sim_entry {
	uint64_t term;
	uint32_t pid;
	uint8_t type;
};

/* A log by absolute index: e[i - 1] holds index i, for base < i <= len.
 * What lies at or below base was replaced by an installed snapshot (its
 * slots hold nothing); base_term is the term at base. */
struct sim_log {
	struct sim_entry *e;
	uint64_t len;
	uint64_t cap;
	uint64_t base;
	uint64_t base_term;
};

/* A message in flight: a deep copy of what the core handed out, its entries
 * pointing at the simulator's own payload copies. */
struct sim_msg {
	struct sim_msg *next;
	struct cairn_raft_msg m;
	struct cairn_raft_entry *ents;
	uint32_t ents_cap;
	/* APPEND_REPLY: the sender's log term at m.index when it was made. */
	uint64_t ack_log_term;
	/* SNAPSHOT: the state machine's state at m.prev_index (the sequence
	 * of entries applied 1 .. prev_index), as the leader's host sent it. */
	struct sim_entry *snap;
	uint64_t snap_len, snap_cap;
};

/* One write handed to a member's disk: durable only once done. */
struct sim_write {
	struct sim_write *next;
	bool has_hs;
	struct cairn_raft_hard_state hs;
	uint64_t first_index;
	struct sim_entry *ents;
	size_t n_ents, ents_cap;
	struct sim_msg *after; /* msgs_after_persist, in order */
	struct sim_msg *after_tail;
	/* A snapshot to install before hard state and entries: the state
	 * machine becomes snap[0 .. snap_index), the log keeps what follows
	 * snap_index only if it holds snap_term there. */
	bool has_snap;
	uint64_t snap_index, snap_term;
	struct sim_entry *snap;
	uint64_t snap_cap;
	/* Committed entries handed out while an install waited in the queue:
	 * applied once this write (and so the install) is durable. */
	uint64_t apply_first;
	struct sim_entry *apply;
	uint64_t n_apply, apply_cap;
};

/* A ReadIndex request in progress. */
struct sim_read {
	uint64_t ctx;
	uint64_t required; /* max commit anywhere when it was asked */
	uint64_t index;    /* 0 until confirmed */
};

struct sim_member {
	uint64_t id;
	struct cairn_raft *core; /* NULL while crashed */
	uint32_t incarnation;    /* bumped by each crash: stale events die */
	uint64_t paused_until_ms;

	struct sim_log log;     /* the core's log, mirrored from its Ready */
	struct sim_log durable; /* what completed writes made durable */
	struct cairn_raft_hard_state durable_hs;
	struct sim_write *wq_head, *wq_tail; /* writes not yet durable */
	uint64_t disk_done_ms;               /* last completion scheduled */

	/* The state machine: durable together with its applied index. */
	struct sim_log applied_seq;
	bool saw_marker;
	uint64_t applied_handed;               /* the core's applied index, by its Ready stream */
	uint32_t installs_pending;             /* queued writes that install a snapshot */
	uint64_t applies_deferred;             /* committed entries waiting in those writes */
	uint64_t compacted;                    /* the log (durable too) starts after this */
	struct sim_msg *snap_aside;            /* a SNAPSHOT being stepped: its state */
	uint64_t snap_failed[SIM_MEMBERS_MAX]; /* peers to report after advance */
	uint32_t n_snap_failed;

	struct sim_read *reads;
	size_t n_reads, reads_cap;

	/* Last observed status. */
	enum cairn_raft_role role;
	uint64_t term;
	uint64_t commit;
	uint64_t leader_id;
	uint64_t leader_commit_term; /* term in which commit was last counted */
	/* Granted votes sent, by term (0 = none). */
	uint64_t *vote_sent;
	uint64_t vote_sent_cap;
};

/* The checker's view of the whole history of one run. */
struct sim_lm_rec {
	uint64_t term;
	uint64_t prev_term;
	uint32_t pid;
	uint8_t type;
};

struct sim_lm_slot {
	struct sim_lm_rec *recs;
	uint32_t n, cap;
};

struct sim_check {
	uint64_t *leader_of_term;     /* by term, 0 = none seen */
	uint64_t *max_commit_of_term; /* commit counted by that term's leader */
	uint64_t terms_cap;
	struct sim_log committed; /* committed[i] as leaders acknowledged */
	uint64_t *commit_term;    /* the term of the leader that first did */
	uint64_t commit_term_cap;
	struct sim_lm_slot *lm; /* (index, term) -> prev term, payload */
	uint64_t lm_cap;
	struct sim_log history;   /* the one applied history */
	uint64_t max_commit_seen; /* the highest commit any member had */
	uint64_t elections;       /* terms that had a leader */
};

struct sim_payload {
	uint8_t *data;
	uint32_t len;
	bool marker;
};

enum sim_phase {
	SIM_PHASE_FAULTS = 0,
	SIM_PHASE_LEADER = 1, /* healed: waiting for a stable leader */
	SIM_PHASE_COMMIT = 2, /* a marker proposed: waiting for it everywhere */
	SIM_PHASE_READ = 3,   /* a read at the leader: waiting for its answer */
	SIM_PHASE_DONE = 4,
};

struct sim_event;

struct sim {
	uint64_t seed;
	uint32_t n;
	bool verbose;
	enum sim_inject inject;
	struct cairn_rand rng;

	uint64_t now_ms;
	uint64_t seq;
	struct sim_event *heap;
	size_t heap_len, heap_cap;
	struct sim_msg *msg_free;
	struct sim_write *write_free;
	uint64_t ents_in_flight; /* entries in messages the network holds */

	struct sim_member m[SIM_MEMBERS_MAX];
	uint64_t ids[SIM_MEMBERS_MAX];
	bool link[SIM_MEMBERS_MAX][SIM_MEMBERS_MAX]; /* [from][to] delivers */

	/* Per-run fault profile. */
	uint64_t fault_end_ms;
	uint32_t fault_mask; /* the fault kinds this seed uses */
	uint32_t drop_ppm, dup_ppm, long_delay_ppm, long_delay_max_ms;
	uint32_t delay_max_ms, disk_delay_max_ms;
	uint32_t fault_gap_ms, client_gap_ms, read_gap_ms;
	bool pre_vote, check_quorum;
	uint32_t max_entries_per_msg, max_bytes_per_msg, max_inflight_msgs;
	uint32_t tick_ms[SIM_MEMBERS_MAX]; /* clocks run 10% fast or slow */
	/* Compaction: how often after a step, how many applied entries at
	 * most to keep; how often a snapshot transfer fails. */
	uint32_t compact_ppm, compact_keep_max, snap_fail_ppm;
	uint32_t snap_delay_max_ms; /* extra time a SNAPSHOT's state takes to arrive */

	struct sim_payload *payloads; /* by pid; [0] unused */
	uint32_t n_payloads, payloads_cap;
	uint8_t **chunks; /* payload bytes, SIM_CHUNK_BYTES each */
	uint32_t n_chunks, chunks_cap;
	uint32_t chunk_i, chunk_off; /* where the next payload goes */
	uint64_t next_ctx;
	uint32_t injected; /* injections done so far */
	uint64_t crashes, reads_answered;
	uint64_t snapshots_sent, snapshots_installed, compactions;

	enum sim_phase phase;
	uint64_t phase_deadline_ms;
	uint64_t heal_ms;
	uint64_t progress_key; /* the leader (id << 32 | term) progress_max is for */
	uint64_t progress_max; /* its match indexes plus applied indexes: high water */
	uint64_t marker_leader;
	uint64_t read_ctx;

	struct sim_check ck;
	uint64_t trace_hash;
	bool failed;
	char why[768];
};

/* What one seed did. */
struct sim_result {
	bool passed;
	uint64_t virtual_ms;
	uint64_t trace_hash;
	uint64_t committed;
	uint64_t elections, crashes, reads; /* leaders elected, crashes, reads answered */
	uint64_t snapshots, installs;       /* SNAPSHOT states sent, installs durable */
	char why[768];
};

/* Runs one seed with n members (3 or 5) and fills *res. verbose prints the
 * trace on stdout. */
void sim_run(uint64_t seed, uint32_t n, bool verbose, enum sim_inject inject,
	     struct sim_result *res);
/* Frees the buffers runs keep for one another (call once, at exit). */
void sim_shutdown(void);

/* ---- cluster.c: the clock, the trace, the verdict ---------------------- */

enum sim_ev_kind {
	SIM_EV_TICK = 0,
	SIM_EV_DELIVER = 1,
	SIM_EV_DISK = 2,
	SIM_EV_FAULT = 3,
	SIM_EV_PROPOSE = 4,
	SIM_EV_READ = 5,
	SIM_EV_RESTART = 6,
	SIM_EV_HEAL = 7,
};

/* An event at at_ms for member (an index into s->m; UINT32_MAX for the
 * cluster), carrying msg for SIM_EV_DELIVER. Events at the same ms run in
 * the order they were scheduled. */
void sim_schedule(struct sim *s, uint64_t at_ms, uint32_t kind, uint32_t member,
		  struct sim_msg *msg);
/* One trace line (only with --verbose: use SIM_TRACE); member < 0 for the
 * cluster as a whole. */
void sim_trace(struct sim *s, int member, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define SIM_TRACE(s, member, ...)                                                                  \
	do {                                                                                       \
		if ((s)->verbose)                                                                  \
			sim_trace((s), (member), __VA_ARGS__);                                     \
	} while (0)
/* The first violation ends the run; later ones are ignored. */
void sim_fail(struct sim *s, const char *property, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Folds an event into the run's fingerprint (replays must match it). */
void sim_hash(struct sim *s, uint64_t a, uint64_t b, uint64_t c, uint64_t d);
uint32_t sim_quorum(const struct sim *s);

/* Uniform enough in [0, bound) for a simulator (bias below 2^-32 for the
 * bounds used here) and free of the division cairn_rand_below pays for
 * exactness: the simulator draws several numbers per message. */
static inline uint64_t sim_draw(struct sim *s, uint64_t bound)
{
	return (uint64_t)(((unsigned __int128)cairn_rand_next(&s->rng) * bound) >> 64);
}

static inline bool sim_chance(struct sim *s, uint32_t per_million)
{
	return per_million > 0 && sim_draw(s, 1000000) < per_million;
}

#define SIM_PICK(s, arr) ((arr)[sim_draw((s), sizeof(arr) / sizeof((arr)[0]))])

/* ---- member.c: a core with its network card, disk and state machine ---- */

/* Creates mb's core (restore NULL for a brand-new member) and its ticks. */
void sim_member_start(struct sim *s, struct sim_member *mb,
		      const struct cairn_raft_restore *restore);
/* Destroys the core; writes not yet durable are lost with their messages. */
void sim_member_crash(struct sim *s, struct sim_member *mb);
/* A new core from the durable log, hard state and applied index. */
void sim_member_restart(struct sim *s, struct sim_member *mb);
void sim_member_free(struct sim_member *mb);
/* Drains mb's Ready loop and lets the checker look at mb. */
void sim_drain(struct sim *s, struct sim_member *mb);
/* The same after a tick: a tick that made no Ready changed nothing visible. */
void sim_drain_tick(struct sim *s, struct sim_member *mb);
/* mb's oldest write is durable: its messages go out, the core is told. */
void sim_disk_complete(struct sim *s, struct sim_member *mb);
void sim_msg_release(struct sim *s, struct sim_msg *sm);
/* A new payload (a marker for the liveness check), its proposal id. */
uint32_t sim_payload_new(struct sim *s, bool marker);
/* A client proposal or ReadIndex request at mb: the core's return code. */
int sim_propose(struct sim *s, struct sim_member *mb, bool marker);
int sim_read_ask(struct sim *s, struct sim_member *mb);

/* ---- faults.c: clients, faults, healing, liveness ----------------------- */

/* The member that leads the highest term among those up, or -1. */
int sim_leader_now(const struct sim *s);
void sim_client_propose(struct sim *s);
void sim_client_read(struct sim *s);
void sim_fault(struct sim *s);
/* A random subset of the fault kinds for one seed (bits of faults.c's enum). */
uint32_t sim_fault_mask_draw(struct sim *s);
void sim_links_all(struct sim *s, bool up);
/* Draws new loss, duplication and delay rates. */
void sim_fault_network(struct sim *s);
/* Ends the faults: the network heals, every member is up, liveness is due. */
void sim_heal(struct sim *s);
/* After each event once healed: moves the liveness check along. */
void sim_liveness(struct sim *s);
/* At the end: every read was answered or dropped. */
void sim_reads_settled(struct sim *s);
void sim_log_push(struct sim_log *l, struct sim_entry e);
/* The term at index: base_term at base, 0 where the log holds nothing. */
uint64_t sim_log_term(const struct sim_log *l, uint64_t index);
/* The log restarts after (index, term), its slots up to index empty. */
void sim_log_rebase(struct sim_log *l, uint64_t index, uint64_t term);
void sim_log_free(struct sim_log *l);

/* check.c: each function checks one step and calls sim_fail on a violation. */
/* Forget one run, keeping the buffers for the next; check_free frees them. */
void check_reset(struct sim_check *ck);
void check_free(struct sim_check *ck);
/* An entry entered member mb's log at index, after an entry of prev_term. */
void check_log_entry(struct sim *s, struct sim_member *mb, uint64_t index, uint64_t prev_term,
		     struct sim_entry e);
/* mb, now in term, replaces its log from index on with new_ents. */
void check_truncate(struct sim *s, struct sim_member *mb, uint64_t term, uint64_t index,
		    const struct sim_entry *new_ents, size_t n_new);
/* mb applied entry e at index (already appended to its applied_seq). */
void check_apply(struct sim *s, struct sim_member *mb, uint64_t index, struct sim_entry e);
/* mb's state machine became state[0 .. index), which a leader's host
 * sent as its state at (index, term): it must be the one history. */
void check_install(struct sim *s, struct sim_member *mb, uint64_t index, uint64_t term,
		   const struct sim_entry *state);
/* After every step of mb: its status against everything seen so far. */
void check_status(struct sim *s, struct sim_member *mb, const struct cairn_raft_status *st);
/* mb's Ready just made sm: its shape, and entries/prev against mb's log. */
void check_msg_made(struct sim *s, struct sim_member *mb, struct sim_msg *sm);
/* Mid-Ready, before committed entries are applied: a leader's commit. */
void check_commit_early(struct sim *s, struct sim_member *mb, const struct cairn_raft_status *st);
/* A message is leaving mb: persist before you speak, one vote per term. */
void check_send(struct sim *s, struct sim_member *mb, const struct sim_msg *sm);
/* A confirmed read: its index against the commit known when it was asked. */
void check_read(struct sim *s, struct sim_member *mb, const struct sim_read *rd);
/* Global: every committed entry durable on a majority. */
void check_durable_majority(struct sim *s);
/* End of run: every applied sequence is a prefix of the one history. */
void check_final(struct sim *s);

#endif
