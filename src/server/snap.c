/*
 * snap.c - log compaction, and snapshots between members (raft.h,
 * "Snapshots and compaction"; extended Raft paper §7, Figure 13).
 *
 * Compaction: once applies are durable through A, a member that holds
 * 2 * log_keep_entries entries at or below A drops all but the last
 * log_keep_entries of them, in the core and (a storage job) on disk; past
 * CAIRN_LOG_KEEP_BYTES_MAX of log in memory it drops everything through A.
 * A leader does not compact past the index of a snapshot a follower is
 * taking (until that follower's match reaches it, or the transfer ends
 * otherwise) unless the log passes CAIRN_LOG_HOLD_BYTES_MAX: compacted
 * past, the follower's answer would lie below the log again, the core
 * would ask for another snapshot, and under a steady write load that
 * follower would never get back to the log.
 *
 * Sending (leader): a SNAPSHOT from the core for follower X opens a reader
 * on the state machine at its durable applied index and streams it as
 * SNAP_CHUNK frames over the link to X, one at a time: the next chunk is
 * read (on libuv's thread pool, never on the loop) and sent when X
 * acknowledges the last (SNAP_ACK), so a transfer holds one chunk buffer
 * and one read transaction. A refused chunk, a link that goes down, a
 * reader error or no progress for CAIRN_SNAP_STALL_ELECTIONS election
 * timeouts end it with cairn_raft_snapshot_failed(): the core asks again.
 * The core learns the outcome from X's APPEND_REPLY, not from here.
 *
 * Receiving (follower): chunks from a sender whose term is not stale are
 * checked, staged by the storage thread in order and acknowledged once
 * staged. After the last one the SNAPSHOT is stepped into the core; its
 * Ready (has_snapshot) hands the install to storage ahead of the Ready's own
 * write, and the commit manager jumps to the snapshot's index once the
 * install is durable.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "kv/snapshot.h"
#include "server/node.h"
#include "server/store.h"
#include "util/clock.h"
#include "util/log.h"

/* A transfer without progress for this many election timeouts fails. */
#define CAIRN_SNAP_STALL_ELECTIONS 10u
/* Chunks a follower has queued for staging at most: a sender waits for
 * each acknowledgement, so more means it does not, and each holds a copy. */
#define CAIRN_SNAP_CHUNKS_QUEUED_MAX 4u
/* At most one "log compacted" line per this many milliseconds. */
#define SNAP_COMPACT_LOG_EVERY_MS 1000u

/* ---- Compaction --------------------------------------------------------- */

uint64_t cairn_snap_compact_target(uint64_t keep, const struct cairn_raft_status *st,
				   uint64_t applied)
{
	uint64_t prev = st->first_index - 1;
	uint64_t target = 0;
	assert(keep >= 1);
	if (applied > prev && applied - prev >= 2 * keep)
		target = applied - keep;
	if (st->log_bytes > CAIRN_LOG_KEEP_BYTES_MAX)
		target = applied;
	/* The core's preconditions (raft.h). */
	if (target > st->applied)
		target = st->applied;
	if (target > st->persisted_index)
		target = st->persisted_index;
	return target > prev ? target : 0;
}

uint64_t cairn_snap_compact_hold(uint64_t target, uint64_t hold, uint64_t log_bytes)
{
	if (hold != 0 && target > hold && log_bytes <= CAIRN_LOG_HOLD_BYTES_MAX)
		return hold;
	return target;
}

static uint64_t stall_ms(const struct cairn_node *n)
{
	return (uint64_t)CAIRN_SNAP_STALL_ELECTIONS * n->cfg.election_timeout_ms;
}

/* The lowest index a follower is taking a snapshot of (0: none); holds
 * that ended are dropped. */
static uint64_t compact_hold(struct cairn_node *n, const struct cairn_raft_status *st)
{
	uint64_t now = cairn_clock_now_ms();
	uint64_t hold = 0;
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_snap_out *o = &n->peers[i].snap;
		if (o->hold_index == 0)
			continue;
		uint64_t match = 0;
		for (size_t k = 0; k < st->n_progress; k++)
			if (st->progress[k].id == n->peers[i].id)
				match = st->progress[k].match;
		if (st->role != CAIRN_RAFT_LEADER || st->term != o->leader_term ||
		    now > o->hold_until_ms || match >= o->hold_index) {
			o->hold_index = 0;
			continue;
		}
		if (hold == 0 || o->hold_index < hold)
			hold = o->hold_index;
	}
	return hold;
}

void cairn_snap_compact(struct cairn_node *n, uint64_t applied)
{
	if (n->write_error != 0 || n->raft == NULL)
		return;
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	uint64_t target = cairn_snap_compact_target(n->cfg.log_keep_entries, &st, applied);
	/* A follower taking a snapshot resumes from the log after its index:
	 * compacting past it would make the core ask for another. */
	target = cairn_snap_compact_hold(target, compact_hold(n, &st), st.log_bytes);
	if (target < st.first_index)
		return;
	int rv = cairn_raft_compact(n->raft, target);
	if (rv != 0) {
		CAIRN_WARN("cannot compact the log through %llu: %s", (unsigned long long)target,
			   cairn_strerror(rv));
		return;
	}
	/* The disk follows in FIFO order, after the applies that made
	 * target durable. A refusal only keeps the disk's log longer. */
	rv = cairn_store_compact(n->store, target);
	if (rv != 0)
		CAIRN_WARN("cannot queue the log compaction through %llu: %s",
			   (unsigned long long)target, cairn_strerror(rv));
	uint64_t now = cairn_clock_now_ms();
	if (now - n->compact_log_ms >= SNAP_COMPACT_LOG_EVERY_MS) {
		n->compact_log_ms = now;
		cairn_raft_status(n->raft, &st);
		CAIRN_INFO("log compacted through %llu: first index %llu, %llu entries and %llu "
			   "bytes in memory",
			   (unsigned long long)target, (unsigned long long)st.first_index,
			   (unsigned long long)(st.last_index + 1 - st.first_index),
			   (unsigned long long)st.log_bytes);
	}
}

/* ---- Sending (leader) --------------------------------------------------- */

/* Close the reader and free the chunk buffer (either may be NULL). */
static void out_release(struct cairn_snap_out *o)
{
	cairn_kv_snap_reader_close(o->reader);
	o->reader = NULL;
	free(o->buf);
	o->buf = NULL;
}

static void out_end(struct cairn_peer *peer, bool ok)
{
	struct cairn_snap_out *o = &peer->snap;
	assert(o->active);
	if (!o->reading)
		out_release(o); /* else the read's completion does */
	o->active = false;
	if (!ok) {
		o->fail_pending = true;
		o->hold_index = 0; /* the core asks again: a new transfer, a new hold */
	}
}

static void out_fail(struct cairn_peer *peer, const char *why, int err)
{
	struct cairn_snap_out *o = &peer->snap;
	CAIRN_WARN("snapshot to %llu failed after %llu bytes: %s%s%s", (unsigned long long)peer->id,
		   (unsigned long long)o->offset, why, err != 0 ? ": " : "",
		   err != 0 ? cairn_strerror(err) : "");
	out_end(peer, false);
}

/* On a thread-pool thread: read the next chunk into buf. The loop touches
 * neither the reader nor buf while reading is set. */
static void out_read_cb(uv_work_t *w)
{
	struct cairn_snap_out *o = &((struct cairn_peer *)w->data)->snap;
	o->read_rv = cairn_kv_snap_reader_next(o->reader, o->buf, CAIRN_SNAPSHOT_CHUNK_BYTES,
					       &o->read_len, &o->read_last);
	atomic_store_explicit(&o->read_busy, false, memory_order_release);
}

/* Back on the loop: send the chunk read, unless the transfer ended. */
static void out_read_done_cb(uv_work_t *w, int status)
{
	struct cairn_peer *peer = w->data;
	struct cairn_node *n = peer->node;
	struct cairn_snap_out *o = &peer->snap;
	assert(o->reading);
	o->reading = false;
	if (!o->active) {
		out_release(o);
		return;
	}
	int rv = status != 0 ? CAIRN_ESTOPPED : o->read_rv;
	if (rv != 0) {
		out_fail(peer, "reading the state", rv);
		cairn_snap_flush(n);
		return;
	}
	size_t len = o->read_len;
	assert(len <= CAIRN_SNAPSHOT_CHUNK_BYTES);
	struct cairn_proto_snap_chunk c = {
		.from = n->id,
		.to = peer->id,
		.term = o->leader_term,
		.snap_index = o->index,
		.snap_term = o->term,
		.offset = o->offset,
		.last = o->read_last,
		.data = {len > 0 ? o->buf : NULL, (uint32_t)len},
	};
	cairn_buf_reset(&n->enc);
	rv = cairn_proto_encode_snap_chunk(&n->enc, &c);
	if (rv == 0)
		rv = cairn_peer_send_frame(n, peer->id, n->enc.data, n->enc.len);
	if (rv != 0) {
		out_fail(peer, "sending a chunk", rv);
		cairn_snap_flush(n);
		return;
	}
	o->inflight_len = len;
	o->inflight_last = o->read_last;
}

/* Read the next chunk off the loop; out_read_done_cb sends it. */
static void out_send_next(struct cairn_node *n, struct cairn_peer *peer)
{
	struct cairn_snap_out *o = &peer->snap;
	assert(o->active && !o->reading);
	o->work.data = peer;
	o->reading = true;
	atomic_store_explicit(&o->read_busy, true, memory_order_relaxed);
	int rv = uv_queue_work(n->loop, &o->work, out_read_cb, out_read_done_cb);
	if (rv != 0) {
		o->reading = false;
		atomic_store_explicit(&o->read_busy, false, memory_order_relaxed);
		out_fail(peer, "queueing a read", CAIRN_EIO);
	}
}

void cairn_snap_send(struct cairn_node *n, const struct cairn_raft_msg *m)
{
	assert(m->type == CAIRN_RAFT_MSG_SNAPSHOT);
	struct cairn_peer *peer = cairn_peer_find(n, m->to);
	if (peer == NULL || peer->snap.active)
		return; /* one transfer per follower at a time */
	if (peer->snap.reading) {
		/* The read of an ended transfer is still out: ask again later. */
		peer->snap.fail_pending = true;
		return;
	}
	struct cairn_snap_out *o = &peer->snap;
	if (!peer->link_started || !cairn_net_link_connected(&peer->link)) {
		o->fail_pending = true;
		return;
	}
	memset(o, 0, sizeof *o);
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	int rv = cairn_store_snap_open(n->store, &o->reader, &o->index, &o->term);
	/* The state must reach the core's log (raft.h): a member elected
	 * before its own snapshot install is durable cannot send one yet. */
	if (rv == 0 && o->index + 1 < st.first_index)
		rv = CAIRN_EUNAVAIL;
	if (rv == 0 && (o->index == 0 || o->term == 0 || o->term > m->term))
		rv = CAIRN_EINVAL; /* nothing applied yet: nothing to send */
	if (rv == 0) {
		o->buf = malloc(CAIRN_SNAPSHOT_CHUNK_BYTES);
		if (o->buf == NULL)
			rv = CAIRN_ENOMEM;
	}
	if (rv != 0) {
		CAIRN_WARN("snapshot to %llu: cannot read the state: %s",
			   (unsigned long long)peer->id, cairn_strerror(rv));
		cairn_kv_snap_reader_close(o->reader);
		o->reader = NULL;
		o->fail_pending = true;
		return;
	}
	o->active = true;
	o->leader_term = m->term;
	o->start_ms = cairn_clock_now_ms();
	o->progress_ms = o->start_ms;
	o->hold_index = o->index;
	o->hold_until_ms = o->progress_ms + stall_ms(n);
	CAIRN_INFO("snapshot to %llu started: index %llu term %llu", (unsigned long long)peer->id,
		   (unsigned long long)o->index, (unsigned long long)o->term);
	out_send_next(n, peer);
}

void cairn_snap_flush(struct cairn_node *n)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_peer *peer = &n->peers[i];
		if (peer->snap.fail_pending) {
			peer->snap.fail_pending = false;
			cairn_raft_snapshot_failed(n->raft, peer->id);
		}
	}
}

void cairn_snap_on_ack(struct cairn_node *n, const struct cairn_proto_snap_ack *a)
{
	struct cairn_peer *peer = cairn_peer_find(n, a->from);
	if (peer == NULL || !peer->snap.active)
		return;
	struct cairn_snap_out *o = &peer->snap;
	if (a->snap_index != o->index || o->reading)
		return; /* about an earlier transfer, or a chunk not sent yet */
	if (!a->ok) {
		out_fail(peer, "the follower refused a chunk", 0);
	} else if (a->offset_next != o->offset + o->inflight_len) {
		out_fail(peer, "acknowledged out of order", 0);
	} else {
		o->offset += o->inflight_len;
		o->progress_ms = cairn_clock_now_ms();
		/* After the last chunk: while the follower installs and answers. */
		o->hold_until_ms = o->progress_ms + stall_ms(n);
		if (!o->inflight_last) {
			out_send_next(n, peer);
		} else {
			CAIRN_INFO("snapshot to %llu sent: index %llu, %llu bytes in %llu ms",
				   (unsigned long long)peer->id, (unsigned long long)o->index,
				   (unsigned long long)o->offset,
				   (unsigned long long)(o->progress_ms - o->start_ms));
			n->snap_in.sent++;
			out_end(peer, true);
		}
	}
	cairn_snap_flush(n);
}

void cairn_snap_link_down(struct cairn_node *n, struct cairn_peer *peer)
{
	if (!peer->snap.active)
		return;
	out_fail(peer, "the link went down", 0);
	cairn_snap_flush(n);
}

void cairn_snap_tick(struct cairn_node *n, uint64_t now_ms)
{
	uint64_t stall = stall_ms(n);
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_peer *peer = &n->peers[i];
		struct cairn_snap_out *o = &peer->snap;
		if (!o->active)
			continue;
		if (n->role != CAIRN_RAFT_LEADER || n->term != o->leader_term)
			out_fail(peer, "leadership lost", 0);
		else if (now_ms - o->progress_ms > stall)
			out_fail(peer, "no progress in time", 0);
	}
	cairn_snap_flush(n);
}

void cairn_snap_close_all(struct cairn_node *n)
{
	for (size_t i = 0; i < n->n_peers; i++) {
		struct cairn_peer *peer = &n->peers[i];
		if (peer->snap.active)
			out_end(peer, true);
		/* The store closes next and every reader must be closed by then:
		 * wait for a read still on the pool (one chunk at most). Its
		 * completion finds nothing left to release. */
		while (atomic_load_explicit(&peer->snap.read_busy, memory_order_acquire))
			uv_sleep(1);
		out_release(&peer->snap);
		peer->snap.fail_pending = false;
		peer->snap.hold_index = 0;
	}
}

/* ---- Receiving (follower) ----------------------------------------------- */

/* What a chunk job carries to its completion. */
struct chunk_job {
	uint64_t gen; /* the staging it belongs to */
	uint64_t from;
	uint64_t term;
	uint64_t index;
	uint64_t snap_term;
	uint64_t offset;
	uint64_t len;
	bool last;
};

static void send_ack(struct cairn_node *n, uint64_t to, uint64_t index, uint64_t offset_next,
		     bool ok)
{
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	struct cairn_proto_snap_ack a = {
		.from = n->id,
		.to = to,
		.term = st.term,
		.snap_index = index,
		.offset_next = offset_next,
		.ok = ok,
	};
	cairn_buf_reset(&n->enc);
	if (cairn_proto_encode_snap_ack(&n->enc, &a) == 0)
		(void)cairn_peer_send_frame(n, to, n->enc.data, n->enc.len);
}

/* Does c continue the snapshot being received? */
static bool continues(const struct cairn_snap_in *in, const struct cairn_proto_snap_chunk *c)
{
	return in->from == c->from && in->term == c->term && in->index == c->snap_index &&
	       in->snap_term == c->snap_term && in->next_offset == c->offset;
}

static void refuse_chunk(struct cairn_node *n, const struct cairn_proto_snap_chunk *c,
			 const char *why)
{
	CAIRN_WARN("snapshot from %llu: chunk at %llu refused: %s", (unsigned long long)c->from,
		   (unsigned long long)c->offset, why);
	/* Only the stream being received ends here: a chunk of another
	 * sender (a deposed leader's late one, a stray) must not break it. */
	if (c->from == n->snap_in.from)
		n->snap_in.from = 0;
	send_ack(n, c->from, c->snap_index, c->offset, false);
}

void cairn_snap_on_chunk(struct cairn_node *n, const struct cairn_proto_snap_chunk *c)
{
	struct cairn_snap_in *in = &n->snap_in;
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	if (c->term < st.term)
		return; /* a deposed leader's: it learns the term from Raft */
	if (n->write_error != 0 || in->hold) {
		refuse_chunk(n, c,
			     n->write_error != 0 ? "storage failed" : "an install is pending");
		return;
	}
	if (in->jobs >= CAIRN_SNAP_CHUNKS_QUEUED_MAX) {
		refuse_chunk(n, c, "too many chunks unacknowledged");
		return;
	}
	if (c->offset == 0) {
		in->gen++;
		in->from = c->from;
		in->term = c->term;
		in->index = c->snap_index;
		in->snap_term = c->snap_term;
		in->next_offset = 0;
		in->start_ms = cairn_clock_now_ms();
		CAIRN_INFO("snapshot from %llu: receiving index %llu term %llu",
			   (unsigned long long)c->from, (unsigned long long)c->snap_index,
			   (unsigned long long)c->snap_term);
	} else if (!continues(in, c)) {
		refuse_chunk(n, c, "not the next chunk");
		return;
	}
	if (cairn_kv_snap_chunk_check(c->data.data, c->data.len) != 0) {
		refuse_chunk(n, c, "malformed");
		return;
	}
	struct chunk_job *job = malloc(sizeof *job);
	if (job == NULL) {
		refuse_chunk(n, c, "out of memory");
		return;
	}
	*job = (struct chunk_job){
		.gen = in->gen,
		.from = c->from,
		.term = c->term,
		.index = c->snap_index,
		.snap_term = c->snap_term,
		.offset = c->offset,
		.len = c->data.len,
		.last = c->last,
	};
	int rv = cairn_store_snap_chunk(n->store, c->snap_index, c->snap_term, c->offset,
					c->data.data, c->data.len, job);
	if (rv != 0) {
		free(job);
		refuse_chunk(n, c, cairn_strerror(rv));
		return;
	}
	in->next_offset += c->data.len;
	in->jobs++;
	/* Nothing continues a final chunk: staged, a chunk after it would
	 * discard the complete staging the core is about to install. */
	if (c->last)
		in->from = 0;
}

/* The last chunk is staged: the core decides whether to install. */
static void step_snapshot(struct cairn_node *n, const struct chunk_job *job)
{
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_SNAPSHOT,
		.from = job->from,
		.to = n->id,
		.term = job->term,
		.prev_index = job->index,
		.prev_term = job->snap_term,
		/* The leader's commit is at least the state's applied index. */
		.commit = job->index,
	};
	CAIRN_INFO("snapshot from %llu received: index %llu, %llu bytes in %llu ms",
		   (unsigned long long)job->from, (unsigned long long)job->index,
		   (unsigned long long)(job->offset + job->len),
		   (unsigned long long)(cairn_clock_now_ms() - n->snap_in.start_ms));
	n->snap_in.hold = true;
	n->snap_in.from = 0;
	cairn_node_step(n, &m);
}

void cairn_snap_chunk_done(struct cairn_node *n, void *ctx, int err)
{
	struct chunk_job *job = ctx;
	assert(n->snap_in.jobs > 0);
	n->snap_in.jobs--;
	if (err != 0) {
		CAIRN_WARN("snapshot from %llu: chunk at %llu not staged: %s",
			   (unsigned long long)job->from, (unsigned long long)job->offset,
			   cairn_strerror(err));
		if (n->snap_in.gen == job->gen)
			n->snap_in.from = 0;
		send_ack(n, job->from, job->index, job->offset, false);
	} else if (n->snap_in.gen != job->gen) {
		/* A newer staging replaced this one: installing now would find
		 * it incomplete. The sender's transfer has ended already. */
		send_ack(n, job->from, job->index, job->offset, false);
	} else {
		send_ack(n, job->from, job->index, job->offset + job->len, true);
		if (job->last)
			step_snapshot(n, job);
	}
	free(job);
}

void cairn_snap_install(struct cairn_node *n, const struct cairn_raft_ready *rd)
{
	assert(rd->has_snapshot);
	if (n->write_error != 0)
		return; /* persist() says nothing more either */
	int rv = cairn_store_snap_install(n->store, rd->snapshot_index, rd->snapshot_term);
	if (rv == 0)
		rv = cairn_commit_snapshot_begin(&n->commit, rd->snapshot_index);
	if (rv != 0) {
		n->write_error = rv;
		n->snap_in.install_failed = true;
		CAIRN_ERROR("cannot install the snapshot at %llu: %s; this member takes no more "
			    "writes",
			    (unsigned long long)rd->snapshot_index, cairn_strerror(rv));
		cairn_node_storage_failed(n);
	}
}

void cairn_snap_installed(struct cairn_node *n, int err, uint64_t index, uint64_t last_index,
			  uint64_t last_term)
{
	if (err != 0) {
		/* The core already reset its log to the snapshot: nothing it
		 * says from now on may go out (see store.c). */
		n->snap_in.install_failed = true;
		if (n->write_error == 0) {
			n->write_error = err;
			cairn_node_storage_failed(n);
		}
		CAIRN_ERROR("snapshot install refused: %s; this member takes no more writes "
			    "(restart it)",
			    cairn_strerror(err));
		return;
	}
	n->snap_in.installed++;
	n->durable_index = last_index;
	n->durable_term = last_term;
	int rv = cairn_commit_snapshot_done(&n->commit, index);
	if (rv != 0 && n->write_error == 0) {
		n->write_error = rv;
		cairn_node_storage_failed(n);
	}
	cairn_raft_persisted(n->raft, last_index, last_term);
	CAIRN_INFO("snapshot installed: index %llu, log now ends at %llu",
		   (unsigned long long)index, (unsigned long long)last_index);
}
