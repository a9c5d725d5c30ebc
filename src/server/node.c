/*
 * node.c - start-up, the node loop and shutdown of one cairnd member.
 *
 * Start-up is recovery: load the config, bind both listeners and open the
 * data dir (storage checks it before writing anything, so a refused start
 * leaves it unchanged), load hard state, log and applied index into the core.
 * The loop then runs three kinds of callbacks that only record work (the
 * tick timer, peer and client frames, storage completions) and one that does
 * it: process_cb, a uv_prepare handle that runs once per iteration just
 * before the loop would block. It proposes what the clients sent, then
 * drains the core's Ready exactly as cairn/raft.h prescribes.
 *
 * SIGTERM/SIGINT: stop listening for clients, let a leader hand leadership
 * over (up to one election timeout), answer what still waits, let the
 * storage jobs in flight finish, close and exit 0.
 */
#include "server/node.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "server/store.h"
#include "util/clock.h"
#include "util/log.h"

/* The core's unit of time; heartbeat and election timeouts are whole ticks. */
#define NODE_TICK_MS_DEFAULT 10u
/* Inbound peer connections are checked for a missing HELLO this often. */
#define NODE_EXPIRE_EVERY_MS 500u
/* Shutdown polls its progress this often. */
#define NODE_STOP_POLL_MS 10u
/* and waits at most this long for queued replies to leave. */
#define NODE_STOP_DRAIN_MS 500u

uint64_t cairn_node_cluster_id(const struct cairn_config *cfg)
{
	/* nodes[] is sorted by id (config.h invariant). */
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < cfg->node_count; i++) {
		uint8_t b[8];
		cairn_put_be64(b, cfg->nodes[i].id);
		for (int k = 0; k < 8; k++) {
			h ^= b[k];
			h *= 1099511628211ull;
		}
	}
	return h == 0 ? 1 : h;
}

void cairn_node_copy_text(char *dst, size_t size, const char *src)
{
	assert(size > 0);
	size_t len = strnlen(src, size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* ---- Observing the core ------------------------------------------------- */

void cairn_node_observe(struct cairn_node *n)
{
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	assert(st.term >= n->term); /* terms never go back */
	assert(st.role != CAIRN_RAFT_LEADER || st.leader == n->id);
	/* Leadership of n->term ends when the role or the term changes (a
	 * member may lose and win again between two observations). */
	bool lost = n->role == CAIRN_RAFT_LEADER &&
		    (st.role != CAIRN_RAFT_LEADER || st.term != n->term);
	if (st.role != n->role || st.term != n->term)
		cairn_log_set_role(cairn_raft_role_name(st.role), st.term);
	if (st.role != n->role) {
		if (st.role == CAIRN_RAFT_PRE_CANDIDATE)
			CAIRN_INFO("election timeout: pre-vote started");
		else if (st.role == CAIRN_RAFT_CANDIDATE)
			CAIRN_INFO("election started");
		else if (st.role == CAIRN_RAFT_LEADER)
			CAIRN_INFO("election won: now the leader");
		else
			CAIRN_INFO("now a follower (was %s)", cairn_raft_role_name(n->role));
	}
	if (st.vote != CAIRN_RAFT_NONE && st.vote != n->id &&
	    (st.vote != n->vote || st.term != n->term))
		CAIRN_INFO("voted for %llu", (unsigned long long)st.vote);
	if (st.leader != n->leader) {
		if (st.leader == CAIRN_RAFT_NONE)
			CAIRN_INFO("leader %llu lost", (unsigned long long)n->leader);
		else
			CAIRN_INFO("leader is %llu", (unsigned long long)st.leader);
	}
	n->role = st.role;
	n->term = st.term;
	n->leader = st.leader;
	n->vote = st.vote;
	if (lost)
		cairn_api_leadership_lost(n);
}

void cairn_node_step(struct cairn_node *n, const struct cairn_raft_msg *m)
{
	int rv = cairn_raft_step(n->raft, m);
	if (rv != 0)
		CAIRN_DEBUG("dropped %s from %llu: %s", cairn_raft_msg_name(m->type),
			    (unsigned long long)m->from, cairn_strerror(rv));
}

void cairn_node_storage_failed(struct cairn_node *n)
{
	/* The handover happens in process_cb: this may run between
	 * cairn_raft_ready() and cairn_raft_advance(), when the core takes no
	 * other call. */
	n->hand_over_pending = true;
	cairn_commit_fail_writes(&n->commit, CAIRN_EIO);
}

/* A member whose disk failed cannot lead: hand leadership over once. */
static void hand_over_if_failed(struct cairn_node *n)
{
	if (!n->hand_over_pending)
		return;
	n->hand_over_pending = false;
	if (n->role != CAIRN_RAFT_LEADER || n->cfg.node_count == 1)
		return;
	int rv = cairn_raft_transfer_leadership(n->raft, CAIRN_RAFT_NONE);
	if (rv == 0)
		CAIRN_INFO("handing leadership over (storage failed)");
}

/* ---- Ready -------------------------------------------------------------- */

/* Encode msgs into records (u64 BE to, u32 BE length, frame) in frames. */
static int encode_after_persist(struct cairn_node *n, const struct cairn_raft_ready *rd,
				struct cairn_buf *frames)
{
	for (size_t i = 0; i < rd->n_msgs_after_persist; i++) {
		const struct cairn_raft_msg *m = &rd->msgs_after_persist[i];
		cairn_buf_reset(&n->enc);
		int rv = cairn_proto_encode_raft(&n->enc, m);
		if (rv == 0)
			rv = cairn_buf_append_be64(frames, m->to);
		if (rv == 0)
			rv = cairn_buf_append_be32(frames, (uint32_t)n->enc.len);
		if (rv == 0)
			rv = cairn_buf_append(frames, n->enc.data, n->enc.len);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* A Ready whose only durable change is the commit index needs no sync:
 * commit is a hint (raft.h), and it rides along with the next write
 * (etcd's MustSync rule). */
static bool needs_sync(const struct cairn_node *n, const struct cairn_raft_ready *rd)
{
	if (rd->n_entries > 0 || rd->n_msgs_after_persist > 0)
		return true;
	if (!rd->has_hard_state)
		return false;
	return rd->hard_state.term != n->synced_term || rd->hard_state.vote != n->synced_vote;
}

static void persist(struct cairn_node *n, const struct cairn_raft_ready *rd)
{
	if (!needs_sync(n, rd))
		return;
	if (n->write_error != 0)
		return; /* nothing more becomes durable: say nothing that needs it */
	struct cairn_buf frames;
	cairn_buf_init(&frames, 0);
	int rv = encode_after_persist(n, rd, &frames);
	if (rv == 0)
		rv = cairn_store_persist(n->store, rd, &frames);
	cairn_buf_free(&frames);
	if (rv == 0 && rd->has_hard_state) {
		n->synced_term = rd->hard_state.term;
		n->synced_vote = rd->hard_state.vote;
	}
	if (rv != 0) {
		n->write_error = rv;
		CAIRN_ERROR("cannot hand a write to the storage thread: %s; this member takes "
			    "no more writes",
			    cairn_strerror(rv));
		cairn_node_storage_failed(n);
	}
}

static void handle_ready(struct cairn_node *n)
{
	while (cairn_raft_has_ready(n->raft) && cairn_store_can_persist(n->store)) {
		struct cairn_raft_ready rd;
		cairn_raft_ready(n->raft, &rd);
		for (size_t i = 0; i < rd.n_msgs; i++) {
			if (rd.msgs[i].type == CAIRN_RAFT_MSG_SNAPSHOT)
				cairn_snap_send(n, &rd.msgs[i]);
			else
				cairn_peer_send(n, &rd.msgs[i]);
		}
		/* The install goes to storage ahead of this Ready's write, and
		 * the commit manager learns of it before the entries after it. */
		if (rd.has_snapshot)
			cairn_snap_install(n, &rd);
		persist(n, &rd);
		if (rd.n_committed > 0 && n->write_error == 0) {
			int rv = cairn_commit_push(&n->commit, rd.committed, rd.n_committed);
			if (rv != 0 && n->write_error == 0) {
				n->write_error = rv;
				CAIRN_ERROR("cannot apply committed entries: %s; this member "
					    "takes no more writes",
					    cairn_strerror(rv));
				cairn_node_storage_failed(n);
			}
		}
		if (rd.n_reads > 0)
			cairn_api_reads_confirmed(n, rd.reads, rd.n_reads);
		if (rd.n_reads_dropped > 0)
			cairn_api_reads_dropped(n, rd.reads_dropped, rd.n_reads_dropped);
		cairn_raft_advance(n->raft, &rd);
		cairn_node_observe(n);
		cairn_snap_flush(n);
	}
	/* Every Ready the last stepped snapshot produced is handed out. */
	if (!cairn_raft_has_ready(n->raft))
		n->snap_in.hold = false;
}

static void process_cb(uv_prepare_t *p)
{
	struct cairn_node *n = p->data;
	if (n->raft == NULL)
		return;
	hand_over_if_failed(n);
	/* Observe first: proposals must not be given up for a leadership
	 * change that happened before they were made. */
	cairn_node_observe(n);
	cairn_api_flush(n);
	handle_ready(n);
	hand_over_if_failed(n);
	handle_ready(n);
}

/* ---- Time --------------------------------------------------------------- */

static void tick_cb(uv_timer_t *t)
{
	struct cairn_node *n = t->data;
	uint64_t now = cairn_clock_now_ms();
	uint64_t due = (now - n->start_ms) / n->tick_ms;
	/* After a stall (SIGSTOP, a slow machine) catch up at most one
	 * election timeout: the effect is the same and the loop stays fair. */
	uint64_t cap = 2 * (uint64_t)n->cfg.election_timeout_ms / n->tick_ms + 1;
	if (due - n->ticks_done > cap)
		n->ticks_done = due - cap;
	while (n->ticks_done < due) {
		cairn_raft_tick(n->raft);
		n->ticks_done++;
	}
	if (now - n->expire_ms >= NODE_EXPIRE_EVERY_MS) {
		n->expire_ms = now;
		cairn_peer_expire_inbound(n, now);
	}
	cairn_snap_tick(n, now);
}

/* ---- Shutdown ----------------------------------------------------------- */

/* Close the handles this file owns (net and the store close their own). */
static void close_own_handles(struct cairn_node *n)
{
	if (!n->handles_open)
		return;
	n->handles_open = false;
	uv_close((uv_handle_t *)&n->tick_timer, NULL);
	uv_close((uv_handle_t *)&n->stop_timer, NULL);
	uv_close((uv_handle_t *)&n->prepare, NULL);
	uv_close((uv_handle_t *)&n->sigterm, NULL);
	uv_close((uv_handle_t *)&n->sigint, NULL);
}

/* Every storage job is done: close everything; the loop then ends. */
static void finish(struct cairn_node *n)
{
	cairn_api_close_all(n);
	cairn_peer_close_all(n);
	cairn_commit_close(&n->commit);
	cairn_snap_close_all(n);
	cairn_store_log_stats(n->store);
	cairn_store_close(n->store);
	n->store = NULL;
	close_own_handles(n);
	CAIRN_INFO("stopped");
}

static void stop_poll_cb(uv_timer_t *t)
{
	struct cairn_node *n = t->data;
	uint64_t now = cairn_clock_now_ms();
	/* A leader that hands over stays until another leader is known: the
	 * target needs its vote to win in a three-member cluster. */
	bool other_leader = n->leader != CAIRN_RAFT_NONE && n->leader != n->id;
	if (n->handing_over && !other_leader && now < n->stop_deadline_ms)
		return;
	if (uv_is_active((uv_handle_t *)&n->tick_timer)) {
		/* Raft traffic stops here; what was not handed to the storage
		 * thread was promised to no one. Replies already queued get a
		 * moment to leave before the client connections close. */
		uv_timer_stop(&n->tick_timer);
		uv_prepare_stop(&n->prepare);
		cairn_peer_close_all(n);
		n->stop_deadline_ms = now + NODE_STOP_DRAIN_MS;
	}
	if (cairn_api_queued_bytes(n) > 0 && now < n->stop_deadline_ms)
		return;
	if (cairn_store_jobs_inflight(n->store) > 0)
		return; /* completions arrive through the async handle */
	uv_timer_stop(&n->stop_timer);
	finish(n);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	struct cairn_node *n = s->data;
	if (n->stopping)
		return;
	n->stopping = true;
	CAIRN_INFO("%s received: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	n->stop_deadline_ms = cairn_clock_now_ms() + n->cfg.election_timeout_ms;
	if (n->role == CAIRN_RAFT_LEADER && n->cfg.node_count > 1 && n->write_error == 0) {
		int rv = cairn_raft_transfer_leadership(n->raft, CAIRN_RAFT_NONE);
		n->handing_over = rv == 0;
		if (rv == 0)
			CAIRN_INFO("handing leadership over");
		else
			CAIRN_WARN("cannot hand leadership over: %s", cairn_strerror(rv));
	}
	uv_timer_start(&n->stop_timer, stop_poll_cb, NODE_STOP_POLL_MS, NODE_STOP_POLL_MS);
}

/* ---- Start-up ----------------------------------------------------------- */

static int init_handles(struct cairn_node *n)
{
	uv_timer_init(n->loop, &n->tick_timer);
	n->tick_timer.data = n;
	uv_timer_init(n->loop, &n->stop_timer);
	n->stop_timer.data = n;
	uv_prepare_init(n->loop, &n->prepare);
	n->prepare.data = n;
	uv_signal_init(n->loop, &n->sigterm);
	n->sigterm.data = n;
	uv_signal_init(n->loop, &n->sigint);
	n->sigint.data = n;
	for (size_t i = 0; i < n->cfg.node_count; i++) {
		const struct cairn_node_config *nc = &n->cfg.nodes[i];
		if (nc->id == n->id)
			continue;
		struct cairn_peer *p = &n->peers[n->n_peers++];
		p->id = nc->id;
		p->cfg = nc;
		p->node = n;
	}
	n->handles_open = true;
	return 0;
}

static void choose_ticks(struct cairn_node *n, struct cairn_raft_config *rc)
{
	uint32_t hb = n->cfg.heartbeat_ms;
	n->tick_ms = NODE_TICK_MS_DEFAULT;
	if (hb < 2 * NODE_TICK_MS_DEFAULT)
		n->tick_ms = hb / 2 > 0 ? hb / 2 : 1;
	rc->heartbeat_ticks = hb / n->tick_ms > 0 ? hb / n->tick_ms : 1;
	rc->election_ticks = n->cfg.election_timeout_ms / n->tick_ms;
	if (rc->election_ticks <= rc->heartbeat_ticks)
		rc->election_ticks = rc->heartbeat_ticks + 1;
}

static int create_core(struct cairn_node *n, char *err, size_t err_size)
{
	uint64_t members[CAIRN_MEMBERS_MAX];
	for (size_t i = 0; i < n->cfg.node_count; i++)
		members[i] = n->cfg.nodes[i].id;
	struct cairn_raft_config rc = {
		.id = n->id,
		.members = members,
		.n_members = n->cfg.node_count,
		.seed = n->id * 0x9e3779b97f4a7c15ull ^ cairn_clock_now_ns(),
		.pre_vote = true,
		.check_quorum = true,
	};
	choose_ticks(n, &rc);
	struct cairn_raft_restore rs;
	int rv = cairn_store_recover(n->store, &rs);
	if (rv != 0) {
		snprintf(err, err_size, "%s: cannot load the durable state: %s", n->data_dir,
			 cairn_strerror(rv));
		return rv;
	}
	cairn_log_set_role(cairn_raft_role_name(CAIRN_RAFT_FOLLOWER), rs.hard_state.term);
	n->synced_term = rs.hard_state.term;
	n->synced_vote = rs.hard_state.vote;
	n->durable_index = rs.n_log > 0 ? rs.log[rs.n_log - 1].index : rs.first_prev_index;
	n->durable_term = rs.n_log > 0 ? rs.log[rs.n_log - 1].term : rs.first_prev_term;
	rv = cairn_raft_create(&n->raft, &rc, &rs);
	cairn_store_recovered_free(n->store);
	if (rv != 0) {
		snprintf(err, err_size, "%s: cannot restore the Raft state: %s", n->data_dir,
			 cairn_strerror(rv));
		return rv;
	}
	struct cairn_commit_ops ops = {
		.apply = cairn_store_apply, .urgent = cairn_store_apply_urgent, .ctx = n->store};
	cairn_commit_init(&n->commit, &ops, rs.applied);
	CAIRN_INFO("started: peer %s client %s data dir %s; term %llu, last index %llu, "
		   "applied %llu; tick %u ms, heartbeat %u ticks, election %u ticks",
		   n->self->peer.text, n->self->client.text, n->data_dir,
		   (unsigned long long)rs.hard_state.term, (unsigned long long)n->durable_index,
		   (unsigned long long)rs.applied, n->tick_ms, rc.heartbeat_ticks,
		   rc.election_ticks);
	return 0;
}

static int listen_both(struct cairn_node *n, char *err, size_t err_size)
{
	char why[512] = "";
	int rv = cairn_peer_listen(n, why, sizeof why);
	if (rv != 0) {
		snprintf(err, err_size, "cannot use the peer address: %s", why);
		return rv;
	}
	rv = cairn_api_listen(n, why, sizeof why);
	if (rv != 0) {
		snprintf(err, err_size, "cannot use the client address: %s", why);
		return rv;
	}
	return 0;
}

static int start(struct cairn_node *n, const char *config_path, uint64_t id,
		 const char *data_dir_override, char *err, size_t err_size)
{
	int rv = cairn_config_load(config_path, &n->cfg, err, err_size);
	if (rv != 0)
		return rv;
	n->self = cairn_config_node(&n->cfg, id);
	if (n->self == NULL) {
		snprintf(err, err_size, "node id %llu is not a member in %s",
			 (unsigned long long)id, config_path);
		return CAIRN_ECONFIG;
	}
	n->id = id;
	n->cluster_id = cairn_node_cluster_id(&n->cfg);
	const char *dir = data_dir_override != NULL ? data_dir_override : n->self->data_dir;
	if (strlen(dir) == 0 || strlen(dir) >= sizeof n->data_dir) {
		snprintf(err, err_size, "data dir: bad path");
		return CAIRN_ECONFIG;
	}
	cairn_node_copy_text(n->data_dir, sizeof n->data_dir, dir);
	cairn_log_set_node(id);
	/* Every line carries role and term (contract); a member starts as a
	 * follower, and its term is known once the durable state is loaded. */
	cairn_log_set_role(cairn_raft_role_name(CAIRN_RAFT_FOLLOWER), 0);
	cairn_rand_seed(&n->rng, id ^ cairn_clock_now_ns());
	init_handles(n);
	rv = listen_both(n, err, err_size);
	if (rv != 0)
		return rv;
	rv = cairn_store_open(n, &n->store, err, err_size);
	if (rv != 0)
		return rv;
	return create_core(n, err, err_size);
}

static void run_loop(struct cairn_node *n)
{
	cairn_node_observe(n);
	n->start_ms = cairn_clock_now_ms();
	uv_timer_start(&n->tick_timer, tick_cb, n->tick_ms, n->tick_ms);
	uv_prepare_start(&n->prepare, process_cb);
	uv_signal_start(&n->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&n->sigint, signal_cb, SIGINT);
	int rv = cairn_peer_start(n);
	if (rv != 0) {
		CAIRN_ERROR("cannot start the peer links: %s", cairn_strerror(rv));
		n->exit_status = CAIRN_NODE_EXIT_FAILED;
		finish(n);
	}
	uv_run(n->loop, UV_RUN_DEFAULT);
}

static struct cairn_node *node_new(void)
{
	struct cairn_node *n = calloc(1, sizeof *n);
	if (n == NULL)
		return NULL;
	n->dec = malloc(sizeof *n->dec);
	n->loop = malloc(sizeof *n->loop);
	if (n->dec == NULL || n->loop == NULL || uv_loop_init(n->loop) != 0) {
		free(n->dec);
		free(n->loop);
		free(n);
		return NULL;
	}
	cairn_buf_init(&n->enc, CAIRN_FRAME_BYTES_MAX + CAIRN_PROTO_PREFIX_BYTES);
	return n;
}

static void node_free(struct cairn_node *n)
{
	/* Close whatever start-up opened, and let the loop release it. */
	cairn_snap_close_all(n);
	if (n->store != NULL) {
		cairn_store_close(n->store);
		n->store = NULL;
	}
	cairn_api_close_all(n);
	cairn_peer_close_all(n);
	close_own_handles(n);
	uv_run(n->loop, UV_RUN_DEFAULT);
	uv_loop_close(n->loop);
	if (n->raft != NULL)
		cairn_raft_destroy(n->raft);
	cairn_config_free(&n->cfg);
	cairn_buf_free(&n->enc);
	free(n->dec);
	free(n->loop);
	free(n);
}

int cairn_node_run(const char *config_path, uint64_t id, const char *data_dir_override)
{
	struct cairn_node *n = node_new();
	if (n == NULL) {
		fprintf(stderr, "cairnd: out of memory\n");
		return CAIRN_NODE_EXIT_STARTUP;
	}
	char err[8192] = "";
	int rv = start(n, config_path, id, data_dir_override, err, sizeof err);
	if (rv != 0) {
		fprintf(stderr, "cairnd: %s\n", err[0] != '\0' ? err : cairn_strerror(rv));
		node_free(n);
		return CAIRN_NODE_EXIT_STARTUP;
	}
	run_loop(n);
	int status = n->exit_status;
	node_free(n);
	return status;
}
