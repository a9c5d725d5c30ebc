/*
 * harness.h - a tiny cluster for the Raft core's unit tests.
 *
 * A few cores, one message queue delivered by hand, and per member a "disk"
 * that takes each Ready's hard state and entries. Persistence is instant
 * (auto_persist) or held until net_persist(), with the Ready's
 * msgs_after_persist held with it, as the contract in cairn/raft.h demands.
 * Links can be cut one way; members can be stopped and restarted from their
 * disk. Everything a Ready hands out (committed entries, reads) is recorded
 * so tests can assert on it. A SNAPSHOT a leader asks for is filled in on
 * delivery with the leader's applied index and its term (unless the test
 * filled it already); an install moves the state machine there at once and
 * the disk's log with the Ready's write.
 */
#ifndef CAIRN_TEST_RAFT_HARNESS_H
#define CAIRN_TEST_RAFT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"

#define NET_MAX 7

struct tmsg {
	struct cairn_raft_msg m; /* entries point into ents below */
	struct cairn_raft_entry *ents;
};

struct tmsgs {
	struct tmsg *v;
	size_t n;
	size_t cap;
};

struct tentries {
	struct cairn_raft_entry *v; /* payloads owned */
	size_t n;
	size_t cap;
};

/* A write handed to a member's disk, durable once persisted. */
struct twrite {
	bool has_snap;
	uint64_t snap_index, snap_term;
	bool has_hs;
	struct cairn_raft_hard_state hs;
	struct tentries ents;
	struct tmsgs after;
};

struct tnode {
	uint64_t id;
	struct cairn_raft *r;
	bool down;
	/* Durable state. */
	struct cairn_raft_hard_state hs;
	struct tentries disk;     /* the log after disk_prev_index */
	uint64_t disk_prev_index; /* replaced by an installed snapshot */
	uint64_t disk_prev_term;
	uint64_t applied; /* the state machine's applied index (durable) */
	/* Snapshots this member was asked to install, the last one's place. */
	size_t n_installs;
	uint64_t snap_index, snap_term;
	/* Writes not yet durable (manual persistence), oldest first. */
	struct twrite *pending;
	size_t n_pending;
	size_t cap_pending;
	/* What Readies handed out. */
	struct tentries committed;
	uint64_t reads_ctx[256];
	uint64_t reads_index[256];
	size_t n_reads;
	uint64_t dropped[256];
	size_t n_dropped;
};

struct net {
	size_t n;
	struct tnode nodes[NET_MAX];
	struct cairn_raft_config cfg; /* template; id and seed vary per member */
	uint64_t members[NET_MAX];
	bool auto_persist;
	bool cut[NET_MAX + 1][NET_MAX + 1]; /* cut[from][to] drops messages */
	struct tmsgs q;                     /* sent, not yet delivered */
	size_t delivered;                   /* step() calls made */
	char *trace;                        /* one line per delivered message */
	size_t trace_len;
	bool tracing;
	size_t sent_by_type[CAIRN_RAFT_MSG_TYPE_MAX + 1];
};

/* n members with ids 1..n, heartbeat 1 tick, election 10 ticks; cfg fields
 * may be changed before net_start(). */
struct net *net_new(size_t n);
void net_start(struct net *net);
void net_free(struct net *net);

struct cairn_raft *net_core(struct net *net, uint64_t id);
struct tnode *net_node(struct net *net, uint64_t id);

/* Take every Ready of member id (messages go to the queue, writes to its
 * disk or pending list). */
void net_drain(struct net *net, uint64_t id);
void net_drain_all(struct net *net);
/* Make member id's oldest pending write durable (all: every one). */
void net_persist_one(struct net *net, uint64_t id);
void net_persist(struct net *net, uint64_t id);
/* Assert that member id holds back its message of type to `to` until its
 * writes are durable: none queued, then exactly one after net_persist(). */
void net_expect_sent_once_persisted(struct net *net, uint64_t id, int type, uint64_t to);

/* Deliver queued messages (and all they cause) until the queue is empty;
 * returns how many were delivered. */
size_t net_stabilize(struct net *net);
/* Deliver only the first queued message matching type (0: any) and to (0:
 * any), draining the receiver; false if none. */
bool net_deliver_one(struct net *net, int type, uint64_t to);
/* Drop every queued message. */
void net_drop_all(struct net *net);
size_t net_count(const struct net *net, int type, uint64_t from, uint64_t to);
/* The i-th queued message matching type/to, or NULL. */
struct tmsg *net_find(struct net *net, int type, uint64_t to, size_t i);

void net_tick(struct net *net, uint64_t id);
/* Tick every live member once, draining each. */
void net_tick_all(struct net *net);
/* Tick id until it leaves the follower role, then stabilize. */
void net_campaign(struct net *net, uint64_t id);
/* Tick id alone until it starts a campaign (pre-vote or vote; at most 100
 * ticks, asserted), delivering nothing. */
void net_tick_until_campaign(struct net *net, uint64_t id);
/* The same, then drop every message in flight: id campaigns unheard. */
void net_campaign_unheard(struct net *net, uint64_t id);
/* Elect id leader (asserts it won). */
void net_elect(struct net *net, uint64_t id);

void net_isolate(struct net *net, uint64_t id);
void net_heal(struct net *net);
void net_cut(struct net *net, uint64_t from, uint64_t to);

/* Stop member id (its unpersisted writes are lost) and restart it from its
 * disk. */
void net_crash(struct net *net, uint64_t id);
void net_restart(struct net *net, uint64_t id);

/* Propose a string on id; returns the propose() result, index in *index. */
int net_propose(struct net *net, uint64_t id, const char *s, uint64_t *index);

/* Member id's cairn_raft_status(). */
struct cairn_raft_status net_status(struct net *net, uint64_t id);
enum cairn_raft_role net_role(struct net *net, uint64_t id);
uint64_t net_term(struct net *net, uint64_t id);
uint64_t net_commit(struct net *net, uint64_t id);
uint64_t net_leader(struct net *net);

/* Before net_start: give member id a durable state with entries 1..n of
 * the given terms. */
void net_preload(struct net *net, uint64_t id, uint64_t term, uint64_t vote, const uint64_t *terms,
		 size_t n);

/* Deliver messages one by one until member id has the role (asserts). */
void net_until_role(struct net *net, uint64_t id, enum cairn_raft_role role);

/* Start recording each delivered message as a line of text; net_trace()
 * returns what was recorded (owned by net). */
void net_trace_start(struct net *net);
const char *net_trace(struct net *net);

/* Inject a message built by the test (from/to/term set by the caller). */
int net_step(struct net *net, const struct cairn_raft_msg *m);

/* Builders for what tests inject or restore from. Nothing is copied: the
 * result points at the caller's entries and strings. */

/* An APPEND from -> to in term, after (prev_index, prev_term), carrying
 * commit and the n entries at ents (NULL when n is 0). */
struct cairn_raft_msg net_append_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index,
				     uint64_t prev_term, uint64_t commit,
				     const struct cairn_raft_entry *ents, uint32_t n);

/* A SNAPSHOT from -> to in term offering the state at (index, index_term),
 * carrying commit. */
struct cairn_raft_msg net_snapshot_msg(uint64_t from, uint64_t to, uint64_t term, uint64_t index,
				       uint64_t index_term, uint64_t commit);

/* A NORMAL entry at (index, term) whose payload is the bytes of s. */
struct cairn_raft_entry net_entry(uint64_t index, uint64_t term, const char *s);

/* The config of member 1 alone (heartbeat 1 tick, election 10, seed 7). */
struct cairn_raft_config net_lone_config(void);

#endif
