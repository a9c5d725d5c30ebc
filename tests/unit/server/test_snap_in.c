/*
 * test_snap_in.c - a follower receiving a snapshot (snap.c), in process: a
 * node with its real store, storage thread, commit manager and Raft core,
 * but no sockets (acknowledgements to peers are dropped). Chunks go in
 * through cairn_snap_on_chunk() as if they came off the peer port; the
 * Ready that installs is handed to storage the way the node loop does.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "kv/snapshot.h"
#include "server/node.h"
#include "server/store.h"
#include "util/buf.h"

static char tmp[256];
static struct cairn_node *n;

static void node_make(void)
{
	snprintf(tmp, sizeof tmp, "/tmp/cairn-snapin-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	n = calloc(1, sizeof *n);
	cr_assert_not_null(n);
	n->loop = malloc(sizeof *n->loop);
	cr_assert_not_null(n->loop);
	cr_assert_eq(uv_loop_init(n->loop), 0);
	n->id = 2;
	n->cluster_id = 77;
	cairn_node_copy_text(n->data_dir, sizeof n->data_dir, tmp);
	n->cfg.election_timeout_ms = 1000;
	n->cfg.log_keep_entries = 10000;
	cairn_buf_init(&n->enc, CAIRN_FRAME_BYTES_MAX + CAIRN_PROTO_PREFIX_BYTES);
	uint64_t others[] = {1, 3};
	for (size_t i = 0; i < 2; i++) {
		n->peers[i].id = others[i];
		n->peers[i].node = n;
	}
	n->n_peers = 2;
	char err[512] = "";
	cr_assert_eq(cairn_store_open(n, &n->store, err, sizeof err), 0, "%s", err);
	struct cairn_raft_restore rs;
	cr_assert_eq(cairn_store_recover(n->store, &rs), 0);
	uint64_t members[] = {1, 2, 3};
	struct cairn_raft_config rc = {
		.id = 2,
		.members = members,
		.n_members = 3,
		.heartbeat_ticks = 1,
		.election_ticks = 10,
		.seed = 1,
	};
	cr_assert_eq(cairn_raft_create(&n->raft, &rc, &rs), 0);
	cairn_store_recovered_free(n->store);
	struct cairn_commit_ops ops = {
		.apply = cairn_store_apply, .urgent = cairn_store_apply_urgent, .ctx = n->store};
	cairn_commit_init(&n->commit, &ops, rs.applied);
}

/* Run the storage thread's completions until no job is left. */
static void drain(void)
{
	for (int i = 0; i < 5000 && cairn_store_jobs_inflight(n->store) > 0; i++) {
		cairn_store_drain(n->store);
		if (cairn_store_jobs_inflight(n->store) > 0)
			usleep(1000);
	}
	cr_assert_eq(cairn_store_jobs_inflight(n->store), 0, "storage jobs never finished");
}

/* What the node loop does with a Ready, for a follower: install, persist. */
static void ready(void)
{
	while (cairn_raft_has_ready(n->raft)) {
		struct cairn_raft_ready rd;
		cairn_raft_ready(n->raft, &rd);
		if (rd.has_snapshot)
			cairn_snap_install(n, &rd);
		if (n->write_error == 0) {
			struct cairn_buf frames;
			cairn_buf_init(&frames, 0);
			cr_assert_eq(cairn_store_persist(n->store, &rd, &frames), 0);
			cairn_buf_free(&frames);
		}
		if (rd.n_committed > 0 && n->write_error == 0)
			cr_assert_eq(cairn_commit_push(&n->commit, rd.committed, rd.n_committed),
				     0);
		cairn_raft_advance(n->raft, &rd);
	}
	n->snap_in.hold = false;
	drain();
}

static void node_free(void)
{
	drain();
	cairn_commit_close(&n->commit);
	cairn_snap_close_all(n);
	cairn_store_close(n->store);
	uv_run(n->loop, UV_RUN_DEFAULT);
	uv_loop_close(n->loop);
	cairn_raft_destroy(n->raft);
	cairn_buf_free(&n->enc);
	free(n->loop);
	free(n);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(snap_in, .init = node_make, .fini = node_free);

/* An empty state's chunk: the header alone (the final one if last). */
static uint8_t hdr_final[CAIRN_KV_SNAP_HEADER_BYTES];
static uint8_t hdr_more[CAIRN_KV_SNAP_HEADER_BYTES];

static struct cairn_proto_snap_chunk chunk(uint64_t from, uint64_t offset, bool last)
{
	uint8_t *h = last ? hdr_final : hdr_more;
	cairn_put_be32(h, CAIRN_KV_SNAP_MAGIC);
	h[4] = CAIRN_KV_SNAP_VERSION;
	h[5] = last ? CAIRN_KV_SNAP_FLAG_LAST : 0;
	h[6] = 0;
	h[7] = 0;
	struct cairn_proto_snap_chunk c = {
		.from = from,
		.to = 2,
		.term = 1,
		.snap_index = 5,
		.snap_term = 1,
		.offset = offset,
		.last = last,
		.data = {h, CAIRN_KV_SNAP_HEADER_BYTES},
	};
	return c;
}

static void assert_installed(void)
{
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	cr_assert_eq(st.first_index, 6, "the core took the snapshot");
	cr_assert_not(n->snap_in.install_failed, "the install was refused");
	cr_assert_eq(n->write_error, 0, "storage failed: %s", cairn_strerror(n->write_error));
	cr_assert_eq(n->snap_in.installed, 1);
	cr_assert_eq(n->commit.applied, 5);
}

Test(snap_in, a_whole_stream_installs)
{
	struct cairn_proto_snap_chunk c0 = chunk(1, 0, false);
	cairn_snap_on_chunk(n, &c0);
	struct cairn_proto_snap_chunk c1 = chunk(1, CAIRN_KV_SNAP_HEADER_BYTES, true);
	cairn_snap_on_chunk(n, &c1);
	drain();
	ready();
	assert_installed();
}

/* A chunk that continues a stream past its final chunk is refused on the
 * loop: staged, it would discard the complete staging the core is about
 * to install, and the refused install leaves the member unable to write
 * (with the install's commit index stored over a log that may not hold
 * those entries). */
Test(snap_in, a_chunk_after_the_final_one_does_not_undo_the_stream)
{
	struct cairn_proto_snap_chunk c0 = chunk(1, 0, true);
	cairn_snap_on_chunk(n, &c0);
	struct cairn_proto_snap_chunk extra = chunk(1, CAIRN_KV_SNAP_HEADER_BYTES, true);
	cairn_snap_on_chunk(n, &extra);
	drain();
	ready();
	assert_installed();
}

/* A chunk of some other stream (another member, a deposed leader's late
 * chunk) is refused without ending the transfer in progress. */
Test(snap_in, a_stray_chunk_does_not_end_the_transfer_in_progress)
{
	struct cairn_proto_snap_chunk c0 = chunk(1, 0, false);
	cairn_snap_on_chunk(n, &c0);
	struct cairn_proto_snap_chunk stray = chunk(3, 4096, false);
	cairn_snap_on_chunk(n, &stray);
	struct cairn_proto_snap_chunk c1 = chunk(1, CAIRN_KV_SNAP_HEADER_BYTES, true);
	cairn_snap_on_chunk(n, &c1);
	drain();
	ready();
	assert_installed();
}

/* A follower whose log (1..10, term 1) was never committed. */
static void follow_term_one_log(void)
{
	struct cairn_raft_entry e[10];
	for (uint64_t i = 0; i < 10; i++)
		e[i] = (struct cairn_raft_entry){
			.term = 1, .index = i + 1, .type = CAIRN_RAFT_ENTRY_NOOP};
	struct cairn_raft_msg m = {
		.type = CAIRN_RAFT_MSG_APPEND,
		.from = 1,
		.to = 2,
		.term = 1,
		.entries = e,
		.n_entries = 10,
	};
	cr_assert_eq(cairn_raft_step(n->raft, &m), 0);
	ready();
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	cr_assert_eq(st.persisted_index, 10);
	cr_assert_eq(st.commit, 0);
}

/* A final chunk whose state does not hold together (a session without its
 * lru record passes the chunk check, record by record) is refused when it
 * is staged, before the core is told of it: once the core installs, a
 * refused install would leave the member unable to write, and the Ready
 * behind it would store the snapshot's index as the commit index over a
 * log whose entries up to it were never committed (a restart would apply
 * them). */
Test(snap_in, an_inconsistent_state_is_refused_before_the_core_installs_it)
{
	follow_term_one_log();
	static uint8_t buf[64];
	cairn_put_be32(buf, CAIRN_KV_SNAP_MAGIC);
	buf[4] = CAIRN_KV_SNAP_VERSION;
	buf[5] = CAIRN_KV_SNAP_FLAG_LAST;
	size_t off = CAIRN_KV_SNAP_HEADER_BYTES;
	buf[off] = 2; /* sessions */
	buf[off + 1] = 0;
	buf[off + 2] = 8;
	cairn_put_be32(buf + off + 3, 17);
	off += CAIRN_KV_SNAP_RECORD_HEADER_BYTES;
	cairn_put_be64(buf + off, 7); /* client id */
	off += 8;
	cairn_put_be64(buf + off, 1);     /* seq */
	cairn_put_be64(buf + off + 8, 3); /* last use */
	buf[off + 16] = 0;
	off += 17;
	cr_assert_eq(cairn_kv_snap_chunk_check(buf, off), 0);
	struct cairn_proto_snap_chunk c = {
		.from = 3,
		.to = 2,
		.term = 2,
		.snap_index = 8,
		.snap_term = 2,
		.offset = 0,
		.last = true,
		.data = {buf, (uint32_t)off},
	};
	cairn_snap_on_chunk(n, &c);
	drain();
	ready();
	struct cairn_raft_status st;
	cairn_raft_status(n->raft, &st);
	cr_assert_eq(n->write_error, 0, "storage failed: %s", cairn_strerror(n->write_error));
	cr_assert_not(n->snap_in.install_failed);
	cr_assert_eq(st.commit, 0, "the core must not take a state storage refuses");
	cr_assert_eq(st.first_index, 1);
	/* A good stream afterwards still installs. */
	struct cairn_proto_snap_chunk g = chunk(3, 0, true);
	g.term = 2;
	g.snap_index = 8;
	g.snap_term = 2;
	cairn_snap_on_chunk(n, &g);
	drain();
	ready();
	cairn_raft_status(n->raft, &st);
	cr_assert_eq(st.first_index, 9);
	cr_assert_eq(n->write_error, 0);
	cr_assert_eq(n->commit.applied, 8);
}
