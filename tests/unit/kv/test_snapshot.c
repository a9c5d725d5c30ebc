/* Snapshots and compaction on the storage side: the applied term, export
 * with a reader, import and install through the storage thread into another
 * member's dir, compaction jobs, and refusals that fail one job alone. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../storage/helpers.h"
#include "../storage/snap_stream.h"
#include "cairn/errors.h"
#include "cairn/limits.h"
#include "cmds.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "kv/worker.h"
#include "storage/txn.h"
#include "util/buf.h"
#include "util/rand.h"

/* Member a exports, member b imports. */
static char dir_a[128], dir_b[128];
static struct cairn_storage *sa, *sb;
static struct cairn_kv *kva, *kvb;
static struct cairn_kv_worker *wb;
static uint64_t seq_next; /* every command gets a fresh seq: none is stale */

#define DONE_MAX 64
static struct cairn_kv_done done[DONE_MAX];
static size_t n_done;

static void collect(void *arg, const struct cairn_kv_done *d)
{
	(void)arg;
	if (n_done < DONE_MAX) {
		done[n_done] = *d;
		done[n_done].results = NULL;
	}
	n_done++;
}

static void wait_done(size_t count)
{
	for (int i = 0; i < 20000 && n_done < count; i++) {
		cairn_kv_worker_drain(wb, collect, NULL);
		if (n_done < count)
			nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	cr_assert_eq(n_done, count, "completions: %zu of %zu", n_done, count);
}

/* Stop b's worker, close b and open its dir again (map_bytes and no_sync
 * as open_store_opt); the caller starts the worker again. */
static void reopen_b(uint64_t map_bytes, bool no_sync)
{
	cairn_kv_worker_destroy(wb);
	wb = NULL;
	cairn_kv_close(kvb);
	cairn_storage_close(sb);
	sb = open_store_opt(dir_b, 2, map_bytes, no_sync);
	cr_assert_eq(cairn_kv_open(&kvb, sb, NULL), 0);
}

static void setup(void)
{
	const char *t = tmpdir_make();
	snprintf(dir_a, sizeof(dir_a), "%s/a", t);
	snprintf(dir_b, sizeof(dir_b), "%s/b", t);
	sa = open_store(dir_a, 1);
	sb = open_store(dir_b, 2);
	cr_assert_eq(cairn_kv_open(&kva, sa, NULL), 0);
	cr_assert_eq(cairn_kv_open(&kvb, sb, NULL), 0);
	cr_assert_eq(cairn_kv_worker_start(&wb, sb, kvb, NULL), 0);
	n_done = 0;
	seq_next = 1;
}

static void teardown(void)
{
	cairn_kv_worker_destroy(wb);
	wb = NULL;
	cairn_kv_close(kva);
	cairn_kv_close(kvb);
	cairn_storage_close(sa);
	cairn_storage_close(sb);
	cmds_reset();
	tmpdir_remove();
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 120);

/* ---- building states ---- */

static void apply_one(struct cairn_kv *kv, struct cairn_raft_entry e)
{
	struct cairn_kv_result r;
	cr_assert_eq(cairn_kv_apply(kv, &e, 1, &r), 0);
}

/* Apply n puts from index applied+1 on, in term: key "k<i>" (every 7th a
 * 700-byte long key), value_len bytes, sessions for `clients` clients. */
static void populate(struct cairn_kv *kv, size_t n, uint32_t value_len, uint64_t clients,
		     uint64_t term)
{
	uint8_t *value = malloc(value_len > 0 ? value_len : 1);
	cr_assert_not_null(value);
	uint8_t key[700];
	struct cairn_raft_entry batch[64];
	struct cairn_kv_result res[64];
	size_t nb = 0;
	uint64_t index = cairn_kv_applied(kv) + 1;
	for (size_t i = 0; i < n; i++) {
		memset(key, 'L', sizeof(key));
		int kl = snprintf((char *)key, sizeof(key), "k%zu", i);
		uint32_t key_len = i % 7 == 3 ? (uint32_t)sizeof(key) : (uint32_t)kl;
		if (key_len == sizeof(key))
			key[kl] = 'L';
		for (uint32_t b = 0; b < value_len; b++)
			value[b] = (uint8_t)(i * 31 + b);
		uint64_t client = clients > 0 ? 1 + i % clients : 0;
		batch[nb] = cmd_entry_bytes(index, CAIRN_KV_PUT, client, seq_next++, key, key_len,
					    value, value_len);
		batch[nb].term = term;
		nb++;
		index++;
		if (nb == 64 || i + 1 == n) {
			cr_assert_eq(cairn_kv_apply(kv, batch, nb, res), 0);
			nb = 0;
			cmds_reset();
		}
	}
	free(value);
}

/* ---- export ---- */

static bool streams_equal(const struct snap_stream *x, const struct snap_stream *y)
{
	if (x->n != y->n || x->index != y->index || x->term != y->term)
		return false;
	for (size_t i = 0; i < x->n; i++)
		if (x->lens[i] != y->lens[i] || memcmp(x->chunks[i], y->chunks[i], x->lens[i]) != 0)
			return false;
	return true;
}

/* Queue chunk i of st at offset off of the snapshot (index, term). */
static void queue_chunk(const struct snap_stream *st, size_t i, uint64_t index, uint64_t term,
			uint64_t off)
{
	cr_assert_lt(i, st->n);
	cr_assert_eq(
		cairn_kv_worker_snap_chunk(wb, index, term, off, st->chunks[i], st->lens[i], NULL),
		0);
}

/* Queue every chunk of st for (index, term) and the install; returns the
 * number of jobs queued. */
static size_t import_jobs(const struct snap_stream *st, uint64_t index, uint64_t term, bool install)
{
	uint64_t off = 0;
	for (size_t i = 0; i < st->n; i++) {
		queue_chunk(st, i, index, term, off);
		off += st->lens[i];
	}
	if (install)
		cr_assert_eq(cairn_kv_worker_snap_install(wb, index, term, NULL), 0);
	return st->n + (install ? 1 : 0);
}

static void import_ok(const struct snap_stream *st)
{
	size_t base = n_done;
	size_t n = import_jobs(st, st->index, st->term, true);
	wait_done(base + n);
	for (size_t i = base; i < base + n; i++)
		cr_assert_eq(done[i].err, 0, "job %zu: %s", i, cairn_strerror(done[i].err));
	cr_assert_eq(done[base + n - 1].kind, CAIRN_KV_JOB_SNAP_INSTALL);
	cr_assert_eq(done[base + n - 1].applied, st->index);
}

static void round_trip(void)
{
	struct snap_stream x, y;
	snap_stream_export(kva, &x);
	import_ok(&x);
	snap_stream_export(kvb, &y);
	cr_assert(streams_equal(&x, &y), "b's state after the install is a's");
	uint64_t ia, ta, ib, tb, ca, cb;
	cr_assert_eq(cairn_kv_applied_pos(kvb, &ib, &tb), 0);
	cr_assert_eq(cairn_kv_applied_pos(kva, &ia, &ta), 0);
	cr_assert_eq(ib, ia);
	cr_assert_eq(tb, ta);
	cr_assert_eq(cairn_kv_applied(kvb), ia);
	cr_assert_eq(cairn_kv_sessions(kva, &ca), 0);
	cr_assert_eq(cairn_kv_sessions(kvb, &cb), 0);
	cr_assert_eq(ca, cb);
	snap_stream_free(&x);
	snap_stream_free(&y);
}

static void expect_get(struct cairn_kv *kv, const char *key, const char *value)
{
	struct cairn_buf b;
	cairn_buf_init(&b, CAIRN_VALUE_BYTES_MAX);
	int rv = cairn_kv_get(kv, key, strlen(key), &b, NULL);
	if (value == NULL) {
		cr_assert_eq(rv, CAIRN_ENOTFOUND, "%s absent", key);
	} else {
		cr_assert_eq(rv, 0, "%s: %s", key, cairn_strerror(rv));
		cr_assert_eq(b.len, strlen(value));
		cr_assert_eq(memcmp(b.data, value, b.len), 0);
	}
	cairn_buf_free(&b);
}

/* ---- the applied term ---- */

Test(snapshot, applied_pos_records_the_term_of_the_last_applied_entry)
{
	uint64_t i = 9, t = 9;
	cr_assert_eq(cairn_kv_applied_pos(kva, &i, &t), 0);
	cr_assert_eq(i, 0);
	cr_assert_eq(t, 0);
	populate(kva, 5, 3, 1, 2);
	populate(kva, 3, 3, 1, 4);
	cr_assert_eq(cairn_kv_applied_pos(kva, &i, &t), 0);
	cr_assert_eq(i, 8);
	cr_assert_eq(t, 4);
}

static int forget_applied_term(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	(void)arg;
	MDB_val k = {strlen(CAIRN_META_APPLIED_TERM), (void *)(uintptr_t)CAIRN_META_APPLIED_TERM};
	int rc = mdb_del(txn, dbs->meta, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

Test(snapshot, old_dir_without_applied_term_takes_it_from_the_log)
{
	/* The log holds 1..6 in term 3; 1..4 applied; then the term is
	 * forgotten, as in a dir written before it was recorded. */
	cr_assert_eq(cairn_storage_append(sa, make_entries(1, 6, 3), 6, NULL), 0);
	struct cairn_raft_entry e[4];
	for (uint64_t i = 1; i <= 4; i++) {
		e[i - 1] = noop_entry(i);
		e[i - 1].term = 3;
	}
	struct cairn_kv_result r[4];
	cr_assert_eq(cairn_kv_apply(kva, e, 4, r), 0);
	cr_assert_eq(cairn_storage_write_txn(sa, forget_applied_term, NULL), 0);
	uint64_t i = 0, t = 0;
	cr_assert_eq(cairn_kv_applied_pos(kva, &i, &t), 0);
	cr_assert_eq(i, 4);
	cr_assert_eq(t, 3, "from the log entry at the applied index");
	/* Dropping the prefix records the term before its entry goes. */
	cr_assert_eq(cairn_storage_drop_prefix(sa, 4), 0);
	cr_assert_eq(cairn_kv_applied_pos(kva, &i, &t), 0);
	cr_assert_eq(t, 3);
	/* Forgotten again after the drop: the prev position has it. */
	cr_assert_eq(cairn_storage_write_txn(sa, forget_applied_term, NULL), 0);
	cr_assert_eq(cairn_kv_applied_pos(kva, &i, &t), 0);
	cr_assert_eq(i, 4);
	cr_assert_eq(t, 3, "from the prev position");
}

/* ---- export and import ---- */

Test(snapshot, empty_state_exports_one_final_chunk_and_installs)
{
	for (uint64_t i = 1; i <= 5; i++) {
		struct cairn_raft_entry e = noop_entry(i);
		e.term = 2;
		apply_one(kva, e);
	}
	struct snap_stream x;
	snap_stream_export(kva, &x);
	cr_assert_eq(x.n, 1);
	cr_assert_eq(x.lens[0], CAIRN_KV_SNAP_HEADER_BYTES);
	cr_assert_eq(x.index, 5);
	cr_assert_eq(x.term, 2);
	/* b had data of its own: the install replaces it with nothing. */
	populate(kvb, 3, 10, 2, 1);
	round_trip();
	expect_get(kvb, "k1", NULL);
	uint64_t c = 9;
	cr_assert_eq(cairn_kv_sessions(kvb, &c), 0);
	cr_assert_eq(c, 0);
	snap_stream_free(&x);
}

Test(snapshot, many_small_keys_span_several_chunks_and_round_trip)
{
	populate(kva, 12000, 200, 50, 3);
	struct snap_stream x;
	snap_stream_export(kva, &x);
	cr_assert_geq(x.n, 3, "%zu chunks", x.n);
	for (size_t i = 0; i + 1 < x.n; i++)
		cr_assert_eq(x.chunks[i][5] & CAIRN_KV_SNAP_FLAG_LAST, 0);
	cr_assert_neq(x.chunks[x.n - 1][5] & CAIRN_KV_SNAP_FLAG_LAST, 0);
	snap_stream_free(&x);
	round_trip();
	uint64_t i = 0, t = 0;
	cr_assert_eq(cairn_kv_applied_pos(kvb, &i, &t), 0);
	cr_assert_eq(i, 12000);
	cr_assert_eq(t, 3);
}

Test(snapshot, one_mib_values_go_one_per_chunk_and_round_trip)
{
	populate(kva, 5, CAIRN_VALUE_BYTES_MAX, 1, 1);
	struct snap_stream x;
	snap_stream_export(kva, &x);
	cr_assert_geq(x.n, 5, "%zu chunks", x.n);
	snap_stream_free(&x);
	round_trip();
}

Test(snapshot, reader_sees_the_state_at_open_while_writes_go_on)
{
	populate(kva, 300, 50, 3, 1);
	struct cairn_kv_snap_reader *rd = NULL;
	uint64_t index = 0, term = 0;
	cr_assert_eq(cairn_kv_snap_reader_open(kva, &rd, &index, &term), 0);
	cr_assert_eq(index, 300);
	populate(kva, 400, 50, 5, 2); /* overwrites k0..k299, adds more */
	struct cairn_buf b;
	cairn_buf_init(&b, CAIRN_VALUE_BYTES_MAX);
	cr_assert_eq(cairn_kv_get(kva, "k399", 4, &b, NULL), 0, "reads run beside the reader");
	cairn_buf_free(&b);
	/* Import what the reader hands out: b holds the state at 300. */
	uint8_t *buf = malloc(CAIRN_SNAPSHOT_CHUNK_BYTES);
	bool last = false;
	uint64_t off = 0;
	size_t jobs = 0;
	while (!last) {
		size_t len = 0;
		cr_assert_eq(
			cairn_kv_snap_reader_next(rd, buf, CAIRN_SNAPSHOT_CHUNK_BYTES, &len, &last),
			0);
		cr_assert_eq(cairn_kv_worker_snap_chunk(wb, index, term, off, buf, len, NULL), 0);
		off += len;
		jobs++;
	}
	cairn_kv_snap_reader_close(rd);
	free(buf);
	cr_assert_eq(cairn_kv_worker_snap_install(wb, index, term, NULL), 0);
	wait_done(jobs + 1);
	for (size_t i = 0; i < n_done; i++)
		cr_assert_eq(done[i].err, 0);
	expect_get(kvb, "k350", NULL);
	cr_assert_eq(cairn_kv_applied(kvb), 300);
}

Test(snapshot, reader_refuses_a_small_buffer)
{
	struct cairn_kv_snap_reader *rd = NULL;
	uint64_t index, term;
	cr_assert_eq(cairn_kv_snap_reader_open(kva, &rd, &index, &term), 0);
	uint8_t small[64];
	size_t len;
	bool last;
	cr_assert_eq(cairn_kv_snap_reader_next(rd, small, sizeof(small), &len, &last),
		     CAIRN_EINVAL);
	cairn_kv_snap_reader_close(rd);
}

/* ---- the log after an install ---- */

/* b holds 1..10 in term 1; a's state after 6 puts in term is exported to
 * x and installed on b, whose log then ends at (last_index, term). */
static void install_over_a_log(struct snap_stream *x, uint64_t term, uint64_t last_index)
{
	populate(kva, 6, 5, 1, term);
	cr_assert_eq(cairn_storage_append(sb, make_entries(1, 10, 1), 10, NULL), 0);
	snap_stream_export(kva, x);
	cr_assert_eq(x->index, 6);
	cr_assert_eq(x->term, term);
	import_ok(x);
	cr_assert_eq(done[n_done - 1].last_index, last_index);
	cr_assert_eq(done[n_done - 1].last_term, term);
	expect_compacted_bounds(sb, 6, term, last_index, term);
}

Test(snapshot, install_keeps_the_log_after_a_matching_entry)
{
	struct snap_stream x;
	install_over_a_log(&x, 1, 10);
	struct cairn_raft_hard_state hs;
	cr_assert_eq(cairn_storage_hard_state(sb, &hs), 0);
	cr_assert_geq(hs.commit, 6, "the commit index covers the installed state");
	snap_stream_free(&x);
}

Test(snapshot, install_drops_the_whole_log_after_a_conflicting_entry)
{
	struct snap_stream x;
	install_over_a_log(&x, 2, 6);
	/* The log goes on after the snapshot. */
	size_t base = n_done;
	cr_assert_eq(cairn_kv_worker_append(wb, make_entries(7, 8, 2), 2, NULL, NULL), 0);
	wait_done(base + 1);
	cr_assert_eq(done[n_done - 1].err, 0);
	cr_assert_eq(done[n_done - 1].last_index, 8);
	snap_stream_free(&x);
}

Test(snapshot, install_survives_a_restart)
{
	populate(kva, 40, 20, 4, 3);
	cr_assert_eq(cairn_storage_append(sb, make_entries(1, 3, 1), 3, NULL), 0);
	struct snap_stream x;
	snap_stream_export(kva, &x);
	import_ok(&x);
	reopen_b(0, false);
	cr_assert_eq(cairn_kv_applied(kvb), 40);
	expect_loaded(sb, 40, 3, 40, 0);
	struct snap_stream y;
	snap_stream_export(kvb, &y);
	cr_assert(streams_equal(&x, &y));
	snap_stream_free(&x);
	snap_stream_free(&y);
	cr_assert_eq(cairn_kv_worker_start(&wb, sb, kvb, NULL), 0);
}

/* ---- refusals fail one job alone ---- */

/* An append after the refused job still works. */
static void worker_still_works(uint64_t index, uint64_t term)
{
	size_t base = n_done;
	cr_assert_eq(cairn_kv_worker_append(wb, make_entries(index, index, term), 1, NULL, NULL),
		     0);
	wait_done(base + 1);
	cr_assert_eq(done[base].err, 0, "later jobs run: %s", cairn_strerror(done[base].err));
}

static void two_chunk_stream(struct snap_stream *x)
{
	populate(kva, 9000, 200, 10, 1);
	snap_stream_export(kva, x);
	cr_assert_geq(x->n, 2);
}

Test(snapshot, chunk_at_a_gap_fails_alone_and_discards_the_staging)
{
	struct snap_stream x;
	two_chunk_stream(&x);
	queue_chunk(&x, 0, x.index, x.term, 0);
	queue_chunk(&x, 1, x.index, x.term, x.lens[0] + 1);
	/* Even the right offset now fails: the staging is gone. */
	queue_chunk(&x, 1, x.index, x.term, x.lens[0]);
	wait_done(3);
	cr_assert_eq(done[0].err, 0);
	cr_assert_eq(done[1].err, CAIRN_EINVAL);
	cr_assert_eq(done[2].err, CAIRN_EINVAL);
	worker_still_works(1, 1);
	/* And a fresh stream from offset 0 installs. */
	n_done = 0;
	import_ok(&x);
	snap_stream_free(&x);
}

Test(snapshot, chunk_of_another_snapshot_fails_alone)
{
	struct snap_stream x;
	two_chunk_stream(&x);
	queue_chunk(&x, 0, x.index, x.term, 0);
	queue_chunk(&x, 1, x.index + 1, x.term, x.lens[0]);
	queue_chunk(&x, 1, x.index, x.term + 1, x.lens[0]);
	wait_done(3);
	cr_assert_eq(done[1].err, CAIRN_EINVAL);
	cr_assert_eq(done[2].err, CAIRN_EINVAL);
	worker_still_works(1, 1);
	snap_stream_free(&x);
}

Test(snapshot, malformed_chunk_fails_alone)
{
	struct snap_stream x;
	two_chunk_stream(&x);
	uint8_t *bad = malloc(x.lens[1]);
	memcpy(bad, x.chunks[1], x.lens[1]);
	bad[0] ^= 0xff; /* magic */
	queue_chunk(&x, 0, x.index, x.term, 0);
	cr_assert_eq(
		cairn_kv_worker_snap_chunk(wb, x.index, x.term, x.lens[0], bad, x.lens[1], NULL),
		0);
	/* The staging is discarded: even the right chunk now has nothing to
	 * continue. */
	queue_chunk(&x, 1, x.index, x.term, x.lens[0]);
	wait_done(3);
	cr_assert_eq(done[0].err, 0);
	cr_assert_eq(done[1].err, CAIRN_EPROTO);
	cr_assert_eq(done[2].err, CAIRN_EINVAL, "nothing left to continue");
	cr_assert_eq(cairn_kv_applied(kvb), 0);
	worker_still_works(1, 1);
	free(bad);
	snap_stream_free(&x);
}

Test(snapshot, chunks_out_of_order_are_refused)
{
	struct snap_stream x;
	two_chunk_stream(&x);
	/* The second chunk first, then the first after it: keys go back. */
	queue_chunk(&x, 1, x.index, x.term, 0);
	queue_chunk(&x, 0, x.index, x.term, x.lens[1]);
	wait_done(2);
	cr_assert_eq(done[0].err, 0);
	cr_assert_eq(done[1].err, CAIRN_EPROTO);
	worker_still_works(1, 1);
	snap_stream_free(&x);
}

/* The core took the snapshot before its install was queued: a refused
 * install must stop every later write, or the Ready behind it would raise
 * the commit index over the old log. */
Test(snapshot, install_without_the_final_chunk_stops_every_later_write)
{
	struct snap_stream x;
	two_chunk_stream(&x);
	queue_chunk(&x, 0, x.index, x.term, 0);
	cr_assert_eq(cairn_kv_worker_snap_install(wb, x.index, x.term, NULL), 0);
	struct cairn_raft_entry e = {.term = x.term, .index = 1, .type = CAIRN_RAFT_ENTRY_NOOP};
	struct cairn_raft_hard_state hs = {.term = x.term, .vote = 0, .commit = x.index};
	cr_assert_eq(cairn_kv_worker_append(wb, &e, 1, &hs, NULL), 0);
	wait_done(3);
	cr_assert_eq(done[0].err, 0);
	cr_assert_eq(done[1].err, CAIRN_EINVAL);
	cr_assert_eq(done[2].err, CAIRN_EINVAL, "the append behind the refused install");
	cr_assert_eq(cairn_kv_applied(kvb), 0);
	struct cairn_raft_hard_state got;
	cr_assert_eq(cairn_storage_hard_state(sb, &got), 0);
	cr_assert_eq(got.commit, 0, "no commit index written over the old log");
	snap_stream_free(&x);
}

Test(snapshot, install_below_the_applied_index_is_refused)
{
	populate(kva, 3, 5, 1, 1);
	populate(kvb, 5, 5, 1, 1);
	struct snap_stream x;
	snap_stream_export(kva, &x);
	size_t n = import_jobs(&x, x.index, x.term, true);
	cr_assert_eq(cairn_kv_worker_compact(wb, 1, NULL), 0);
	wait_done(n + 1);
	cr_assert_eq(done[n - 1].err, CAIRN_EINVAL);
	cr_assert_eq(done[n].err, CAIRN_EINVAL, "sticky: the job after it fails too");
	cr_assert_eq(cairn_kv_applied(kvb), 5);
	snap_stream_free(&x);
}

Test(snapshot, oversized_chunk_is_refused_at_submit)
{
	static uint8_t big[CAIRN_SNAPSHOT_CHUNK_BYTES + 1];
	cr_assert_eq(cairn_kv_worker_snap_chunk(wb, 1, 1, 0, big, sizeof(big), NULL),
		     CAIRN_ETOOBIG);
}

/* ---- compaction ---- */

/* Queue on b the append of 1..20 in term 1 and the apply of 1..applied. */
static void queue_log_and_apply(uint64_t applied)
{
	cr_assert_leq(applied, 20);
	cr_assert_eq(cairn_kv_worker_append(wb, make_entries(1, 20, 1), 20, NULL, NULL), 0);
	struct cairn_raft_entry e[20];
	for (uint64_t i = 1; i <= applied; i++)
		e[i - 1] = noop_entry(i);
	cr_assert_eq(cairn_kv_worker_apply(wb, e, applied, NULL), 0);
}

/* b: log 1..20 in term 1, 1..applied applied through the worker. */
static void log_and_apply(uint64_t applied)
{
	size_t base = n_done;
	queue_log_and_apply(applied);
	wait_done(base + 2);
	cr_assert_eq(done[n_done - 1].err, 0);
}

Test(snapshot, compact_drops_the_prefix_and_restart_loads_the_rest)
{
	log_and_apply(12);
	cr_assert_eq(cairn_kv_worker_compact(wb, 10, NULL), 0);
	cr_assert_eq(cairn_kv_worker_compact(wb, 5, NULL), 0); /* below: a no-op */
	wait_done(4);
	cr_assert_eq(done[2].kind, CAIRN_KV_JOB_COMPACT);
	cr_assert_eq(done[2].err, 0);
	cr_assert_eq(done[2].last_index, 10);
	cr_assert_eq(done[2].last_term, 1);
	cr_assert_eq(done[3].err, 0);
	cr_assert_eq(done[3].last_index, 10);
	reopen_b(0, false);
	expect_loaded(sb, 10, 1, 12, 10); /* 11..20 */
	cr_assert_eq(cairn_kv_worker_start(&wb, sb, kvb, NULL), 0);
}

Test(snapshot, compact_beyond_applied_is_refused_alone)
{
	log_and_apply(12);
	cr_assert_eq(cairn_kv_worker_compact(wb, 13, NULL), 0);
	wait_done(3);
	cr_assert_eq(done[2].err, CAIRN_EINVAL);
	worker_still_works(21, 1);
	struct cairn_storage_bounds bd;
	cr_assert_eq(cairn_storage_bounds(sb, &bd), 0);
	cr_assert_eq(bd.first_index, 1);
	cr_assert_eq(bd.last_index, 21);
}

Test(snapshot, compact_sees_the_applies_queued_before_it)
{
	queue_log_and_apply(15);
	cr_assert_eq(cairn_kv_worker_compact(wb, 15, NULL), 0);
	wait_done(3);
	cr_assert_eq(done[2].err, 0);
	cr_assert_eq(done[2].last_index, 15);
}

/* ---- hostile chunks ---- */

Test(snapshot, check_refuses_truncated_and_padded_chunks)
{
	populate(kva, 50, 30, 3, 1);
	struct snap_stream x;
	snap_stream_export(kva, &x);
	cr_assert_eq(x.n, 1);
	for (size_t len = 0; len < x.lens[0]; len++) {
		int rv = cairn_kv_snap_chunk_check(x.chunks[0], len);
		/* A cut at a record boundary is a well-formed shorter chunk. */
		cr_assert(rv == 0 || rv == CAIRN_EPROTO);
	}
	cr_assert_eq(cairn_kv_snap_chunk_check(x.chunks[0], 7), CAIRN_EPROTO);
	cr_assert_eq(cairn_kv_snap_chunk_check(NULL, 0), CAIRN_EPROTO);
	uint8_t *pad = calloc(1, x.lens[0] + 3);
	memcpy(pad, x.chunks[0], x.lens[0]);
	cr_assert_eq(cairn_kv_snap_chunk_check(pad, x.lens[0] + 3), CAIRN_EPROTO);
	free(pad);
	snap_stream_free(&x);
}

/* A record of an unknown database or a bad layout is refused. */
Test(snapshot, check_refuses_bad_records)
{
	uint8_t c[64] = {0x43, 0x53, 0x4e, 0x50, 1, 1, 0, 0};
	/* kv record: db 1, key 0x00 'a', value "v". */
	uint8_t rec[] = {1, 0, 2, 0, 0, 0, 1, 0, 'a', 'v'};
	memcpy(c + 8, rec, sizeof(rec));
	cr_assert_eq(cairn_kv_snap_chunk_check(c, 8 + sizeof(rec)), 0);
	c[8] = 4;
	cr_assert_eq(cairn_kv_snap_chunk_check(c, 8 + sizeof(rec)), CAIRN_EPROTO);
	c[8] = 1;
	c[8 + 7] = 2; /* key tag neither short nor long */
	cr_assert_eq(cairn_kv_snap_chunk_check(c, 8 + sizeof(rec)), CAIRN_EPROTO);
	c[8 + 7] = 0;
	c[5] = 3; /* unknown flag */
	cr_assert_eq(cairn_kv_snap_chunk_check(c, 8 + sizeof(rec)), CAIRN_EPROTO);
	c[5] = 1;
	c[4] = 2; /* unknown version */
	cr_assert_eq(cairn_kv_snap_chunk_check(c, 8 + sizeof(rec)), CAIRN_EPROTO);
	c[4] = 1;
	/* The same record twice: keys must go strictly up. */
	memcpy(c + 8 + sizeof(rec), rec, sizeof(rec));
	cr_assert_eq(cairn_kv_snap_chunk_check(c, 8 + 2 * sizeof(rec)), CAIRN_EPROTO);
}

/* Thousands of random mutations of a valid chunk through the check and
 * (some) through the chunk job: no crash, and the job agrees with the
 * check; whatever is accepted installs into a state that exports as
 * well-formed chunks. */
Test(snapshot, fuzzed_chunks_never_crash_and_never_install_garbage)
{
	reopen_b(0, true); /* no fsync: many small jobs */
	cr_assert_eq(cairn_kv_worker_start(&wb, sb, kvb, NULL), 0);

	populate(kva, 60, 12, 4, 1);
	struct snap_stream x;
	snap_stream_export(kva, &x);
	cr_assert_eq(x.n, 1);
	const uint8_t *good = x.chunks[0];
	size_t good_len = x.lens[0];
	uint8_t *m = malloc(good_len + 64);
	struct cairn_rand r;
	cairn_rand_seed(&r, 0x5eed);
	size_t accepted = 0, jobs = 0;
	for (int it = 0; it < 4000; it++) {
		size_t len = good_len;
		memcpy(m, good, good_len);
		int edits = 1 + (int)cairn_rand_below(&r, 4);
		for (int e = 0; e < edits; e++) {
			switch (cairn_rand_below(&r, 4)) {
			case 0: /* flip a byte */
				m[cairn_rand_below(&r, len)] ^=
					(uint8_t)(1 + cairn_rand_below(&r, 255));
				break;
			case 1: /* truncate */
				len = cairn_rand_below(&r, len + 1);
				break;
			case 2: /* append junk */
				for (int k = 0; k < 8 && len < good_len + 64; k++)
					m[len++] = (uint8_t)cairn_rand_below(&r, 256);
				break;
			default: /* a random byte in a length field region */
				if (len > 16)
					m[8 + cairn_rand_below(&r, 8)] =
						(uint8_t)cairn_rand_below(&r, 256);
				break;
			}
			if (len == 0)
				break;
		}
		int rv = cairn_kv_snap_chunk_check(m, len);
		cr_assert(rv == 0 || rv == CAIRN_EPROTO);
		accepted += rv == 0;
		if (it % 8 != 0)
			continue;
		size_t base = n_done;
		cr_assert_eq(cairn_kv_worker_snap_chunk(wb, 7, 1, 0, m, len, NULL), 0);
		wait_done(base + 1);
		jobs++;
		cr_assert_eq(done[base].err, rv == 0 ? 0 : CAIRN_EPROTO, "job agrees with check");
		n_done = 0;
	}
	cr_assert_gt(jobs, 400);
	/* The worker still works and a good stream still installs. */
	n_done = 0;
	import_ok(&x);
	struct snap_stream y;
	snap_stream_export(kvb, &y);
	cr_assert(streams_equal(&x, &y));
	snap_stream_free(&y);
	free(m);
	snap_stream_free(&x);
	cr_assert_gt(accepted, 0, "some mutations stay well-formed (value bytes)");
}

/* A mutation that passes the check still installs only a state that is
 * itself well-formed (every record passes the check again on export). */
Test(snapshot, accepted_mutations_install_well_formed_states)
{
	populate(kva, 30, 12, 3, 1);
	struct snap_stream x;
	snap_stream_export(kva, &x);
	uint8_t *m = malloc(x.lens[0]);
	struct cairn_rand r;
	cairn_rand_seed(&r, 42);
	int installed = 0;
	for (int it = 0; it < 400 && installed < 5; it++) {
		memcpy(m, x.chunks[0], x.lens[0]);
		m[8 + cairn_rand_below(&r, x.lens[0] - 8)] ^=
			(uint8_t)(1 + cairn_rand_below(&r, 255));
		if (cairn_kv_snap_chunk_check(m, x.lens[0]) != 0)
			continue;
		size_t base = n_done;
		uint64_t index = x.index + (uint64_t)installed;
		cr_assert_eq(cairn_kv_worker_snap_chunk(wb, index, 1, 0, m, x.lens[0], NULL), 0);
		wait_done(base + 1);
		int ce = done[base].err;
		cr_assert(ce == 0 || ce == CAIRN_EPROTO, "chunk: %s", cairn_strerror(ce));
		if (ce == 0) { /* staged whole and consistent: it installs */
			cr_assert_eq(cairn_kv_worker_snap_install(wb, index, 1, NULL), 0);
			wait_done(base + 2);
			cr_assert_eq(done[base + 1].err, 0);
		}
		if (ce == 0) {
			installed++;
			struct snap_stream y;
			snap_stream_export(kvb, &y); /* asserts every chunk passes the check */
			snap_stream_free(&y);
		}
		n_done = 0;
	}
	free(m);
	snap_stream_free(&x);
}

/* ---- the reader and map growth ---- */

Test(snapshot, map_growth_closes_an_open_reader_with_ebusy)
{
	cairn_kv_close(kva);
	cairn_storage_close(sa);
	char dir_c[160];
	snprintf(dir_c, sizeof(dir_c), "%s/c", tmpdir_path());
	sa = open_store_opt(dir_c, 3, 1u << 20, true);
	cr_assert_eq(cairn_kv_open(&kva, sa, NULL), 0);
	populate(kva, 10, 10, 1, 1);
	struct cairn_kv_snap_reader *rd = NULL;
	uint64_t index, term;
	cr_assert_eq(cairn_kv_snap_reader_open(kva, &rd, &index, &term), 0);
	struct cairn_storage_stats st;
	cairn_storage_stats(sa, &st);
	uint64_t grows = st.map_grows;
	for (int i = 0; i < 64 && st.map_grows == grows; i++) {
		populate(kva, 20, 64 * 1024, 0, 1);
		cairn_storage_stats(sa, &st);
	}
	cr_assert_gt(st.map_grows, grows, "the map grew while the reader was open");
	uint8_t *buf = malloc(CAIRN_SNAPSHOT_CHUNK_BYTES);
	size_t len;
	bool last;
	cr_assert_eq(cairn_kv_snap_reader_next(rd, buf, CAIRN_SNAPSHOT_CHUNK_BYTES, &len, &last),
		     CAIRN_EBUSY);
	cairn_kv_snap_reader_close(rd);
	/* A new reader works. */
	cr_assert_eq(cairn_kv_snap_reader_open(kva, &rd, &index, &term), 0);
	cr_assert_eq(cairn_kv_snap_reader_next(rd, buf, CAIRN_SNAPSHOT_CHUNK_BYTES, &len, &last),
		     0);
	cairn_kv_snap_reader_close(rd);
	free(buf);
}

/* ---- hand-made streams that pass the chunk check but do not hold
 * together as a state ---- */

struct hand {
	uint8_t b[8192];
	size_t len;
};

static void hand_start(struct hand *h)
{
	static const uint8_t head[CAIRN_KV_SNAP_HEADER_BYTES] = {0x43, 0x53, 0x4e, 0x50,
								 1,    1,    0,    0};
	memcpy(h->b, head, sizeof(head));
	h->len = sizeof(head);
}

static void hand_rec(struct hand *h, uint8_t db, const void *k, size_t kl, const void *v, size_t vl)
{
	cr_assert_lt(h->len + 7 + kl + vl, sizeof(h->b));
	uint8_t *p = h->b + h->len;
	p[0] = db;
	p[1] = (uint8_t)(kl >> 8);
	p[2] = (uint8_t)kl;
	cairn_put_be32(p + 3, (uint32_t)vl);
	memcpy(p + 7, k, kl);
	memcpy(p + 7 + kl, v, vl);
	h->len += 7 + kl + vl;
}

static void hand_session(struct hand *h, uint64_t client, uint64_t last_use)
{
	uint8_t k[8], v[17] = {0};
	cairn_put_be64(k, client);
	cairn_put_be64(v, 1);
	cairn_put_be64(v + 8, last_use);
	hand_rec(h, 2, k, 8, v, 17);
}

static void hand_lru(struct hand *h, uint64_t last_use, uint64_t client)
{
	uint8_t k[8], v[8];
	cairn_put_be64(k, last_use);
	cairn_put_be64(v, client);
	hand_rec(h, 3, k, 8, v, 8);
}

/* Stage h as the whole snapshot (index, 1) and install it: the refusal of
 * its final chunk, else the install's error. */
static int hand_install(const struct hand *h, uint64_t index)
{
	cr_assert_eq(cairn_kv_snap_chunk_check(h->b, h->len), 0, "the chunk alone is well-formed");
	size_t base = n_done;
	cr_assert_eq(cairn_kv_worker_snap_chunk(wb, index, 1, 0, h->b, h->len, NULL), 0);
	wait_done(base + 1);
	/* A state that does not hold together is refused with its final
	 * chunk, before anyone is told it is staged (an install after that
	 * would be refused, and a refused install stops the worker). */
	if (done[base].err != 0) {
		cr_assert_eq(done[base].err, CAIRN_EPROTO);
		return done[base].err;
	}
	cr_assert_eq(cairn_kv_worker_snap_install(wb, index, 1, NULL), 0);
	wait_done(base + 2);
	return done[base + 1].err;
}

Test(snapshot, hand_made_consistent_state_installs)
{
	struct hand h;
	hand_start(&h);
	hand_rec(&h, 1, "\0a", 2, "v", 1);
	hand_session(&h, 7, 3);
	hand_lru(&h, 3, 7);
	cr_assert_eq(hand_install(&h, 5), 0);
	expect_get(kvb, "a", "v");
	uint64_t c = 0;
	cr_assert_eq(cairn_kv_sessions(kvb, &c), 0);
	cr_assert_eq(c, 1);
}

Test(snapshot, sessions_without_their_lru_records_are_refused)
{
	struct hand h;
	hand_start(&h);
	hand_session(&h, 7, 3);
	cr_assert_eq(hand_install(&h, 5), CAIRN_EPROTO);
	hand_start(&h);
	hand_session(&h, 7, 3);
	hand_lru(&h, 4, 7); /* names the session at another last use */
	cr_assert_eq(hand_install(&h, 5), CAIRN_EPROTO);
	cr_assert_eq(cairn_kv_applied(kvb), 0);
	worker_still_works(1, 1);
}

Test(snapshot, a_session_used_after_the_snapshot_index_is_refused)
{
	struct hand h;
	hand_start(&h);
	hand_session(&h, 7, 9);
	hand_lru(&h, 9, 7);
	cr_assert_eq(hand_install(&h, 5), CAIRN_EPROTO);
	cr_assert_eq(hand_install(&h, 9), 0, "at its own index it is fine");
}

static void long_record(struct hand *h, const uint8_t *key, size_t len, uint16_t slot)
{
	/* kv.c's layout: 0x01, first 400 bytes, FNV-1a-64, u16 slot. */
	uint8_t k[411];
	k[0] = 1;
	memcpy(k + 1, key, 400);
	uint64_t f = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++) {
		f ^= key[i];
		f *= 1099511628211ull;
	}
	cairn_put_be64(k + 401, f);
	k[409] = (uint8_t)(slot >> 8);
	k[410] = (uint8_t)slot;
	uint8_t v[2 + 600 + 1];
	v[0] = (uint8_t)(len >> 8);
	v[1] = (uint8_t)len;
	memcpy(v + 2, key, len);
	v[2 + len] = 'x';
	hand_rec(h, 1, k, sizeof(k), v, 2 + len + 1);
}

/* A stream holding one 600-byte key of 'q's (key) in slot 0. */
static void hand_long_key(struct hand *h, uint8_t (*key)[600])
{
	memset(*key, 'q', sizeof(*key));
	hand_start(h);
	long_record(h, *key, sizeof(*key), 0);
}

Test(snapshot, a_long_key_stored_twice_is_refused)
{
	uint8_t key[600];
	struct hand h;
	hand_long_key(&h, &key);
	long_record(&h, key, sizeof(key), 1);
	cr_assert_eq(hand_install(&h, 5), CAIRN_EPROTO);
	hand_long_key(&h, &key);
	cr_assert_eq(hand_install(&h, 5), 0);
	struct cairn_buf b;
	cairn_buf_init(&b, 0);
	cr_assert_eq(cairn_kv_get(kvb, key, sizeof(key), &b, NULL), 0);
	cr_assert_eq(b.len, 1);
	cairn_buf_free(&b);
}

Test(snapshot, a_long_key_with_a_wrong_stem_fails_the_chunk_check)
{
	uint8_t key[600];
	struct hand h;
	hand_long_key(&h, &key);
	h.b[8 + 7 + 405] ^= 1; /* a hash byte */
	cr_assert_eq(cairn_kv_snap_chunk_check(h.b, h.len), CAIRN_EPROTO);
}

Test(snapshot, random_bytes_never_pass_the_chunk_check)
{
	struct cairn_rand r;
	cairn_rand_seed(&r, 7);
	static uint8_t buf[4096];
	for (int it = 0; it < 3000; it++) {
		size_t len = (size_t)cairn_rand_below(&r, sizeof(buf) + 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)cairn_rand_below(&r, 256);
		if (len >= 8 && it % 2 == 0) { /* a valid header: the records are random */
			memcpy(buf, "CSNP\x01\x00\x00\x00", 8);
		}
		int rv = cairn_kv_snap_chunk_check(buf, len);
		cr_assert(rv == CAIRN_EPROTO || (rv == 0 && len == 8),
			  "random bytes accepted (it %d, len %zu)", it, len);
	}
}

/* The event loop's pattern under a busy storage thread: readers open and
 * stream on this thread, with gets in between, while the worker applies
 * big batches on its own thread and grows a small map. Every reader either
 * finishes with well-formed chunks or ends with CAIRN_EBUSY; nothing hangs
 * or crashes (ASan/UBSan builds check the rest). */
Test(snapshot, readers_stream_beside_a_writing_worker_and_map_growth)
{
	reopen_b(1u << 20, true);
	cr_assert_eq(cairn_kv_worker_start(&wb, sb, kvb, NULL), 0);
	static uint8_t value[16 * 1024];
	memset(value, 'w', sizeof(value));
	uint8_t *buf = malloc(CAIRN_SNAPSHOT_CHUNK_BYTES);
	cr_assert_not_null(buf);
	uint64_t index = 1;
	size_t queued = 0, finished = 0, busy = 0;
	for (int round = 0; round < 40; round++) {
		struct cairn_raft_entry e[32];
		for (int i = 0; i < 32; i++) {
			char key[24];
			snprintf(key, sizeof(key), "w%llu", (unsigned long long)(index % 500));
			e[i] = cmd_entry_bytes(index, CAIRN_KV_PUT, 0, 0, key,
					       (uint32_t)strlen(key), value, sizeof(value));
			index++;
		}
		cr_assert_eq(cairn_kv_worker_apply(wb, e, 32, NULL), 0);
		cmds_reset();
		queued++;
		struct cairn_kv_snap_reader *rd = NULL;
		uint64_t ri, rt;
		cr_assert_eq(cairn_kv_snap_reader_open(kvb, &rd, &ri, &rt), 0);
		bool last = false;
		int rv = 0;
		while (!last && rv == 0) {
			size_t len = 0;
			rv = cairn_kv_snap_reader_next(rd, buf, CAIRN_SNAPSHOT_CHUNK_BYTES, &len,
						       &last);
			if (rv == 0)
				cr_assert_eq(cairn_kv_snap_chunk_check(buf, len), 0);
			struct cairn_buf g;
			cairn_buf_init(&g, 0);
			int gr = cairn_kv_get(kvb, "w1", 2, &g, NULL);
			cr_assert(gr == 0 || gr == CAIRN_ENOTFOUND);
			cairn_buf_free(&g);
		}
		cr_assert(rv == 0 || rv == CAIRN_EBUSY, "reader: %s", cairn_strerror(rv));
		finished += rv == 0;
		busy += rv == CAIRN_EBUSY;
		cairn_kv_snap_reader_close(rd);
		cairn_kv_worker_drain(wb, collect, NULL);
	}
	wait_done(queued);
	for (size_t i = 0; i < queued && i < DONE_MAX; i++)
		cr_assert_eq(done[i].err, 0);
	cr_assert_gt(finished, 0);
	free(buf);
	struct cairn_storage_stats st;
	cairn_storage_stats(sb, &st);
	cr_assert_gt(st.map_grows, 0, "the map grew meanwhile");
}
