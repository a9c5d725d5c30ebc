/*
 * node.h - one cairnd member: the node loop that joins the Raft core, the
 * storage thread, the peer port and the client port on one libuv loop.
 *
 * Everything runs on the loop thread except the storage worker. Inputs
 * (ticks, peer frames, client requests, storage completions) only record
 * work; once per loop iteration, in a uv_prepare handle just before the loop
 * would block, the node proposes the client writes and ReadIndex requests
 * gathered since the last iteration and processes the core's Ready (see
 * node_ready.c). The loop never waits on the disk: storage completions come
 * back through a uv_async handle.
 *
 * Files: node.c (start-up, shutdown, tick, Ready), peer.c (peer port and
 * outbound links), api.c (client port), store.c (the storage thread
 * bridge), snap.c (log compaction, and snapshots sent to and received from
 * other members). TCP and framing are src/net's.
 */
#ifndef CAIRN_SERVER_NODE_H
#define CAIRN_SERVER_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cairn/raft.h"
#include "commit/commit.h"
#include "config/config.h"
#include "net/net.h"
#include "proto/proto.h"
#include "util/buf.h"
#include "util/rand.h"

struct cairn_node;
struct cairn_store;
struct cairn_kv_snap_reader;

/* Exit statuses of cairnd (contract). */
#define CAIRN_NODE_EXIT_OK 0
#define CAIRN_NODE_EXIT_FAILED 1
#define CAIRN_NODE_EXIT_STARTUP 2

/* Reconnect backoff of outbound peer links. */
#define CAIRN_PEER_BACKOFF_MS_MIN 50u
#define CAIRN_PEER_BACKOFF_MS_MAX 2000u
/* An inbound peer connection must identify itself (HELLO) within this. */
#define CAIRN_PEER_HELLO_TIMEOUT_MS 3000u
/* Reply bytes queued to one client before it is treated as gone: room for
 * a full pipeline of small replies and several maximal values. */
#define CAIRN_CLIENT_SENDQ_BYTES_MAX (64u * 1024u * 1024u)

/* A snapshot this member (as leader) streams to one follower: one chunk in
 * flight at a time, the next sent when the follower acknowledges it. */
struct cairn_snap_out {
	bool active;
	bool fail_pending;                   /* tell the core cairn_raft_snapshot_failed() */
	struct cairn_kv_snap_reader *reader; /* open while active */
	uint8_t *buf;                        /* one chunk, while active */
	uint64_t leader_term;                /* our term when it started */
	uint64_t index;                      /* the state's applied index */
	uint64_t term;                       /* and its term */
	uint64_t offset;                     /* bytes acknowledged */
	uint64_t inflight_len;               /* bytes of the chunk awaiting its ack */
	bool inflight_last;
	uint64_t start_ms;
	uint64_t progress_ms; /* last start or ack: the stall timeout runs from here */
	/* The log is not compacted past hold_index (0: no hold) while this
	 * follower takes the state: from the start of the transfer until its
	 * match reaches it, leadership of leader_term ends, the transfer
	 * fails, or nothing happens for the stall timeout (hold_until_ms). */
	uint64_t hold_index;
	uint64_t hold_until_ms;
	/* Each chunk is read on libuv's thread pool, so a state that is not
	 * in the page cache never stalls the loop (DESIGN.md principle 3).
	 * reading: queued, its completion has not run yet; read_busy: the
	 * pool thread has not finished the read (shutdown waits for it). A
	 * transfer that ends while reading leaves the reader and buf to the
	 * completion. */
	uv_work_t work;
	bool reading;
	atomic_bool read_busy;
	int read_rv;
	size_t read_len;
	bool read_last;
};

/* One other member, and this member's outbound link to it. */
struct cairn_peer {
	uint64_t id;
	const struct cairn_node_config *cfg;
	struct cairn_node *node;
	struct cairn_net_link link; /* link.data points back here */
	bool link_started;
	struct cairn_snap_out snap;
};

/* The snapshot this member (as follower) is receiving: chunks are staged by
 * the storage thread in order, each acknowledged once staged. */
struct cairn_snap_in {
	uint64_t from; /* the sender; 0: nothing being received */
	uint64_t term; /* the sender's term */
	uint64_t index;
	uint64_t snap_term;
	uint64_t next_offset; /* bytes handed to the storage thread */
	uint64_t start_ms;
	/* Bumped by every chunk at offset 0 (it starts a new staging): a
	 * chunk's completion only counts for the staging it belongs to. */
	uint64_t gen;
	uint32_t jobs; /* chunks handed to the storage thread, not yet done */
	/* A complete snapshot was stepped into the core: no new chunk until
	 * the Ready that installs it has been handed to storage. */
	bool hold;
	bool install_failed; /* an install was refused: nothing said after it */
	uint64_t sent;       /* snapshots sent (stats) */
	uint64_t installed;  /* snapshots installed (stats) */
};

/* A request batch of GETs that share one ReadIndex round. */
struct read_batch;

struct cairn_node {
	uv_loop_t *loop;
	struct cairn_config cfg;
	const struct cairn_node_config *self;
	uint64_t id;
	uint64_t cluster_id;
	char data_dir[4096];

	struct cairn_raft *raft;
	struct cairn_commit commit;
	struct cairn_store *store;

	uint32_t tick_ms;
	uint64_t ticks_done;
	uint64_t start_ms;
	uint64_t expire_ms; /* last check of inbound peer HELLO deadlines */
	uv_timer_t tick_timer;
	uv_prepare_t prepare;
	uv_signal_t sigterm;
	uv_signal_t sigint;
	struct cairn_net_listener peer_listener;
	struct cairn_net_listener client_listener;
	bool peer_listener_started;
	bool client_listener_started;

	struct cairn_peer peers[CAIRN_MEMBERS_MAX];
	size_t n_peers;
	struct peer_in *inbound; /* list of inbound peer connections */
	size_t n_inbound;
	uint64_t client_evict_log_ms;

	/* Last observed core state, for logging and leadership changes. */
	enum cairn_raft_role role;
	uint64_t term;
	uint64_t leader;
	uint64_t vote;

	/* Snapshots received; compaction. */
	struct cairn_snap_in snap_in;
	uint64_t compact_log_ms; /* last "log compacted" line */

	/* Durable log position (what the storage thread has confirmed). */
	uint64_t durable_index;
	uint64_t durable_term;
	uint32_t persist_jobs_inflight;
	/* Term and vote of the last hard state handed to the storage thread. */
	uint64_t synced_term;
	uint64_t synced_vote;

	/* Client side. */
	struct client_conn *clients; /* list of client connections */
	size_t n_clients;
	struct client_req **proposals; /* writes gathered this iteration */
	size_t n_proposals;
	size_t cap_proposals;
	struct read_batch *reads_next;    /* GETs gathered this iteration */
	struct read_batch *reads_waiting; /* batches waiting for ReadIndex */
	uint64_t read_ctx_next;
	size_t writes_pending;  /* proposals gathered or waiting to apply */
	size_t reads_pending;   /* GETs gathered, confirming or waiting to apply */
	int write_error;        /* storage failed: writes refused with this */
	bool hand_over_pending; /* storage failed: a leader hands over */

	/* Shutdown. */
	bool handles_open; /* timers, prepare, signals initialised */
	bool stopping;
	bool handing_over; /* stopping leader: wait for the next leader */
	uint64_t stop_deadline_ms;
	uv_timer_t stop_timer;
	int exit_status;

	struct cairn_rand rng; /* backoff jitter (not the core's seed) */

	/* Scratch buffers on the loop thread. */
	struct cairn_buf enc;
	struct cairn_proto_peer *dec;
};

/* Start-up (node.c). On failure writes one line naming the cause to stderr
 * and returns CAIRN_NODE_EXIT_STARTUP. */
int cairn_node_run(const char *config_path, uint64_t id, const char *data_dir_override);

/* Derived cluster id: FNV-1a 64 over the sorted member ids, each as 8
 * big-endian bytes; never 0. Same members, same id, on every member. */
uint64_t cairn_node_cluster_id(const struct cairn_config *cfg);

/* Copy NUL-terminated src into dst of size bytes, cut to fit. */
void cairn_node_copy_text(char *dst, size_t size, const char *src);

/* Core state changed (role, term, leader): log and update the log context. */
void cairn_node_observe(struct cairn_node *n);
/* The storage thread failed (n->write_error set): stop taking writes; a
 * leader hands leadership over. */
void cairn_node_storage_failed(struct cairn_node *n);
/* Step one decoded Raft message into the core. */
void cairn_node_step(struct cairn_node *n, const struct cairn_raft_msg *m);

/* peer.c */
/* Bind the peer listener; err gets a line naming the address on failure. */
int cairn_peer_listen(struct cairn_node *n, char *err, size_t err_size);
/* Start one outbound link per other member. */
int cairn_peer_start(struct cairn_node *n);
void cairn_peer_send(struct cairn_node *n, const struct cairn_raft_msg *m);
/* Send an already encoded frame (prefix included) to member to. */
/* 0, or why it was not queued (no such peer, link down, queue full). */
int cairn_peer_send_frame(struct cairn_node *n, uint64_t to, const uint8_t *frame, size_t len);
struct cairn_peer *cairn_peer_find(struct cairn_node *n, uint64_t id);
void cairn_peer_expire_inbound(struct cairn_node *n, uint64_t now_ms);
void cairn_peer_close_all(struct cairn_node *n);

/* snap.c */
/* A SNAPSHOT from the core (in a Ready's msgs; may run between ready and
 * advance): start streaming the state to m->to unless a transfer to it
 * runs. Failures are reported to the core by cairn_snap_flush(). */
void cairn_snap_send(struct cairn_node *n, const struct cairn_raft_msg *m);
/* Report failed transfers to the core (outside ready/advance). */
void cairn_snap_flush(struct cairn_node *n);
/* A SNAP_ACK or SNAP_CHUNK arrived from a member (sender checked). */
void cairn_snap_on_ack(struct cairn_node *n, const struct cairn_proto_snap_ack *a);
void cairn_snap_on_chunk(struct cairn_node *n, const struct cairn_proto_snap_chunk *c);
/* The outbound link to peer went down: its transfer fails. */
void cairn_snap_link_down(struct cairn_node *n, struct cairn_peer *peer);
/* Stall timeouts and transfers of a lost leadership (from the tick). */
void cairn_snap_tick(struct cairn_node *n, uint64_t now_ms);
/* Storage staged the chunk ctx describes (err 0) or refused it. */
void cairn_snap_chunk_done(struct cairn_node *n, void *ctx, int err);
/* A Ready with has_snapshot: hand the install to storage (before the
 * Ready's own write). */
void cairn_snap_install(struct cairn_node *n, const struct cairn_raft_ready *rd);
/* The install is durable (err 0): applied = index, the log's last is
 * (last_index, last_term). */
void cairn_snap_installed(struct cairn_node *n, int err, uint64_t index, uint64_t last_index,
			  uint64_t last_term);
/* The index to compact the log through, or 0 for none: applies are
 * durable through applied, the core's state is st. With 2 * keep entries
 * at or below applied held, all but the last keep of them; with over
 * CAIRN_LOG_KEEP_BYTES_MAX bytes held, everything through applied; never
 * past st->applied or st->persisted_index (cairn_raft_compact's rules). */
uint64_t cairn_snap_compact_target(uint64_t keep, const struct cairn_raft_status *st,
				   uint64_t applied);
/* target capped at hold, the index of a snapshot a follower is taking
 * (0: none), unless log_bytes pass CAIRN_LOG_HOLD_BYTES_MAX. */
uint64_t cairn_snap_compact_hold(uint64_t target, uint64_t hold, uint64_t log_bytes);
/* Applies are durable through applied: compact the log when it is long. */
void cairn_snap_compact(struct cairn_node *n, uint64_t applied);
/* Abandon every transfer and close the readers (before the store closes). */
void cairn_snap_close_all(struct cairn_node *n);

/* api.c */
int cairn_api_listen(struct cairn_node *n, char *err, size_t err_size);
/* Propose the writes and ReadIndex the GETs gathered this iteration. */
void cairn_api_flush(struct cairn_node *n);
/* Ready's confirmed and dropped reads. */
void cairn_api_reads_confirmed(struct cairn_node *n, const struct cairn_raft_read *reads,
			       size_t n_reads);
void cairn_api_reads_dropped(struct cairn_node *n, const uint64_t *ctxs, size_t n_ctxs);
/* Leadership lost: answer what waits so clients retry elsewhere. */
void cairn_api_leadership_lost(struct cairn_node *n);
void cairn_api_close_all(struct cairn_node *n);
/* Reply bytes still queued to clients (shutdown waits for them). */
size_t cairn_api_queued_bytes(const struct cairn_node *n);
/* True while client requests are still waiting for an answer. */
bool cairn_api_busy(const struct cairn_node *n);

#endif
