/*
 * internal.h - the Raft core's state and the functions its files share.
 *
 * struct cairn_raft holds Figure 2's state (term, vote, log, commit) plus
 * what each role needs: election tallies, the leader's progress of every
 * member, ReadIndex rounds and a leadership transfer, and the output queues
 * a Ready is made of. The role is a pair of function pointers (step, tick)
 * swapped by the raft_become_* functions; each role's file (follower.c,
 * candidate.c, leader.c) supplies its pair and its raft_become_*.
 */
#ifndef CAIRN_RAFT_INTERNAL_H
#define CAIRN_RAFT_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cairn/raft.h"
#include "raft/log.h"
#include "raft/progress.h"
#include "util/rand.h"

/* Messages queued for the next Ready. An APPEND's entries are bound to the
 * log only when the Ready is built (the log may grow or be cut meanwhile);
 * last_term remembers the term of its last entry so a message whose entries
 * were overwritten since is dropped rather than sent wrong. */
struct raft_msgq {
	struct cairn_raft_msg *msgs;
	uint64_t *last_term;
	size_t n;
	size_t cap;
};

/* A ReadIndex request waiting for its heartbeat round. seq 0: the leader
 * has not committed in its term yet, the request has no read point. */
struct raft_read_wait {
	uint64_t ctx;
	uint64_t index;
	uint64_t seq;
};

enum raft_vote_state {
	RAFT_VOTE_NONE = 0,
	RAFT_VOTE_GRANTED = 1,
	RAFT_VOTE_REJECTED = 2,
};

struct cairn_raft {
	/* Configuration, fixed at create. members[] parallels prs[]. */
	uint64_t id;
	uint64_t members[CAIRN_MEMBERS_MAX];
	size_t n_members;
	uint32_t heartbeat_ticks;
	uint32_t election_ticks;
	bool pre_vote;
	bool check_quorum;
	uint32_t max_entries_per_msg;
	uint32_t max_bytes_per_msg;
	uint32_t max_inflight_msgs;
	struct cairn_rand rng;

	/* The current role: step handles a message that passed the term rules
	 * of raft_step_dispatch, tick one unit of time. */
	enum cairn_raft_role role;
	int (*step)(struct cairn_raft *r, const struct cairn_raft_msg *m);
	void (*tick)(struct cairn_raft *r);

	/* Figure 2's persistent state; the log also carries commit/applied. */
	uint64_t term;
	uint64_t vote;
	struct raft_log log;
	uint64_t leader; /* CAIRN_RAFT_NONE while unknown */

	/* Timers in ticks. Invariant: election_ticks <= election_timeout <
	 * 2 * election_ticks (re-drawn at each reset). */
	uint32_t election_elapsed;
	uint32_t election_timeout;
	uint32_t heartbeat_elapsed;

	/* (Pre-)candidate: answers of this election, by member slot. */
	uint8_t votes[CAIRN_MEMBERS_MAX];

	/* Leader. prs[i] is members[i]'s progress; prs[self].match mirrors
	 * log.persisted (the leader counts itself only once durable). */
	struct raft_progress prs[CAIRN_MEMBERS_MAX];
	bool committed_in_term;   /* an entry of term is committed */
	uint64_t transfer_target; /* CAIRN_RAFT_NONE when no transfer runs */
	uint32_t transfer_elapsed;
	uint64_t read_seq;       /* the last ReadIndex round started */
	bool read_round_pending; /* reads wait for a round not yet sent */
	bool append_pending;     /* proposals not yet sent to followers */
	struct raft_read_wait *reads_wait;
	size_t n_reads_wait;
	size_t cap_reads_wait;

	/* Output gathered for the next Ready. */
	struct raft_msgq out_now;
	struct raft_msgq out_after;
	struct cairn_raft_read *reads_done;
	size_t n_reads_done;
	size_t cap_reads_done;
	uint64_t *reads_dropped;
	size_t n_reads_dropped;
	size_t cap_reads_dropped;
	struct cairn_raft_hard_state hs_handed; /* last hard state handed out */
	/* A snapshot installed by a SNAPSHOT, for the next Ready. */
	bool snap_pending;
	uint64_t snap_index;
	uint64_t snap_term;

	/* Between cairn_raft_ready() and cairn_raft_advance(): what that
	 * Ready handed out. Nothing may change the core meanwhile. */
	bool ready_out;
	uint64_t rd_handed;
	uint64_t rd_applied;
	struct cairn_raft_hard_state rd_hs;
};

/* raft.c: shared machinery. */
size_t raft_slot(const struct cairn_raft *r, uint64_t id); /* n_members if unknown */
size_t raft_quorum(const struct cairn_raft *r);
/* Queue m (from and entries filled in) in the Ready's msgs or, for VOTE,
 * VOTE_REPLY and APPEND_REPLY, msgs_after_persist. */
void raft_send(struct cairn_raft *r, struct cairn_raft_msg *m);
/* Restart the election timer with a new draw from [T, 2T). */
void raft_reset_election_timer(struct cairn_raft *r);
/* A leader was heard from within the last T ticks (check-quorum's lease,
 * pre-vote's stickiness). */
bool raft_in_lease(const struct cairn_raft *r);

/* follower.c */
void raft_become_follower(struct cairn_raft *r, uint64_t term, uint64_t leader);
int raft_step_follower(struct cairn_raft *r, const struct cairn_raft_msg *m);
void raft_tick_follower(struct cairn_raft *r);
int raft_handle_append(struct cairn_raft *r, const struct cairn_raft_msg *m);
void raft_handle_snapshot(struct cairn_raft *r, const struct cairn_raft_msg *m);
void raft_handle_heartbeat(struct cairn_raft *r, const struct cairn_raft_msg *m);

/* candidate.c */
void raft_become_pre_candidate(struct cairn_raft *r);
void raft_become_candidate(struct cairn_raft *r, bool transfer);
void raft_campaign(struct cairn_raft *r); /* pre-vote first when configured */
int raft_handle_vote_request(struct cairn_raft *r, const struct cairn_raft_msg *m);
int raft_step_candidate(struct cairn_raft *r, const struct cairn_raft_msg *m);
void raft_tick_candidate(struct cairn_raft *r);

/* leader.c */
void raft_become_leader(struct cairn_raft *r);
void raft_drop_reads(struct cairn_raft *r); /* waiting reads -> reads_dropped */
int raft_step_leader(struct cairn_raft *r, const struct cairn_raft_msg *m);
void raft_tick_leader(struct cairn_raft *r);
void raft_leader_start(struct cairn_raft *r);
void raft_leader_persisted(struct cairn_raft *r);
int raft_leader_propose(struct cairn_raft *r, const void *data, uint32_t len, uint64_t *index);
int raft_leader_read_index(struct cairn_raft *r, uint64_t ctx);
void raft_leader_flush(struct cairn_raft *r);
int raft_leader_transfer(struct cairn_raft *r, uint64_t target);
void raft_leader_snapshot_failed(struct cairn_raft *r, uint64_t peer);
/* Assert the invariants of every progress against the log. */
void raft_leader_check(const struct cairn_raft *r);

#endif
