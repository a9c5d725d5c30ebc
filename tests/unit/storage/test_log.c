/* The log store and the hard state: append, truncate, drop, read, load,
 * reopen, and the checks that refuse a batch that does not fit. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "helpers.h"
#include "storage/storage.h"
#include "storage/txn.h"

static void setup(void)
{
	tmpdir_make();
}

static void teardown(void)
{
	tmpdir_remove();
}

TestSuite(log, .init = setup, .fini = teardown, .timeout = 30);

static void expect_bounds(struct cairn_storage *s, uint64_t first, uint64_t last,
			  uint64_t last_term)
{
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(s, &b), 0);
	cr_assert_eq(b.first_index, first, "first %llu", (unsigned long long)b.first_index);
	cr_assert_eq(b.last_index, last, "last %llu", (unsigned long long)b.last_index);
	cr_assert_eq(b.last_term, last_term, "last term %llu", (unsigned long long)b.last_term);
}

static void expect_entry(struct cairn_storage *s, uint64_t index, uint64_t term)
{
	struct cairn_storage_entries e = {0};
	cr_assert_eq(cairn_storage_read(s, index, index, &e), 0);
	cr_assert_eq(e.n, 1);
	char want[48];
	int n = snprintf(want, sizeof(want), "e%llut%llu", (unsigned long long)index,
			 (unsigned long long)term);
	cr_assert_eq(e.entries[0].index, index);
	cr_assert_eq(e.entries[0].term, term);
	cr_assert_eq(e.entries[0].len, (uint32_t)n);
	cr_assert_eq(memcmp(e.entries[0].data, want, (size_t)n), 0);
	cairn_storage_entries_free(&e);
}

Test(log, new_store_is_empty)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	expect_bounds(s, 1, 0, 0);
	struct cairn_raft_hard_state hs;
	cr_assert_eq(cairn_storage_hard_state(s, &hs), 0);
	cr_assert_eq(hs.term, 0);
	cr_assert_eq(hs.vote, 0);
	uint64_t applied = 99;
	cr_assert_eq(cairn_storage_applied(s, &applied), 0);
	cr_assert_eq(applied, 0);
	cairn_storage_close(s);
}

Test(log, append_then_read_back)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 10, 1), 10, NULL), 0);
	expect_bounds(s, 1, 10, 1);
	struct cairn_storage_entries e = {0};
	cr_assert_eq(cairn_storage_read(s, 3, 7, &e), 0);
	cr_assert_eq(e.n, 5);
	for (size_t i = 0; i < e.n; i++)
		cr_assert_eq(e.entries[i].index, 3 + i);
	cairn_storage_entries_free(&e);
	expect_entry(s, 10, 1);
	cr_assert_eq(cairn_storage_read(s, 5, 11, &e), CAIRN_ENOTFOUND);
	cairn_storage_close(s);
}

Test(log, noop_entry_without_payload_round_trips)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	struct cairn_raft_entry noop = {.term = 2, .index = 1, .type = CAIRN_RAFT_ENTRY_NOOP};
	cr_assert_eq(cairn_storage_append(s, &noop, 1, NULL), 0);
	struct cairn_storage_entries e = {0};
	cr_assert_eq(cairn_storage_read(s, 1, 1, &e), 0);
	cr_assert_eq(e.entries[0].type, CAIRN_RAFT_ENTRY_NOOP);
	cr_assert_eq(e.entries[0].len, 0);
	cr_assert_null(e.entries[0].data);
	cairn_storage_entries_free(&e);
	cairn_storage_close(s);
}

Test(log, overlapping_batch_replaces_suffix_across_batch_boundaries)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 5, 1), 5, NULL), 0);
	cr_assert_eq(cairn_storage_append(s, make_entries(6, 10, 1), 5, NULL), 0);
	cr_assert_eq(cairn_storage_append(s, make_entries(11, 12, 2), 2, NULL), 0);
	/* A new leader's batch starting inside the first batch. */
	cr_assert_eq(cairn_storage_append(s, make_entries(4, 6, 3), 3, NULL), 0);
	expect_bounds(s, 1, 6, 3);
	expect_entry(s, 3, 1);
	expect_entry(s, 4, 3);
	expect_entry(s, 6, 3);
	struct cairn_storage_entries e = {0};
	cr_assert_eq(cairn_storage_read(s, 7, 7, &e), CAIRN_ENOTFOUND);
	cairn_storage_close(s);
}

Test(log, batch_leaving_a_gap_is_refused)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 3, 1), 3, NULL), 0);
	cr_assert_eq(cairn_storage_append(s, make_entries(5, 6, 1), 2, NULL), CAIRN_EINVAL);
	expect_bounds(s, 1, 3, 1);
	cairn_storage_close(s);
}

Test(log, batch_with_lower_term_than_its_predecessor_is_refused)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 3, 4), 3, NULL), 0);
	cr_assert_eq(cairn_storage_append(s, make_entries(4, 4, 3), 1, NULL), CAIRN_EINVAL);
	struct cairn_raft_entry bad[2];
	memcpy(bad, make_entries(4, 5, 4), sizeof(bad));
	bad[1].index = 7;
	cr_assert_eq(cairn_storage_append(s, bad, 2, NULL), CAIRN_EINVAL, "not consecutive");
	expect_bounds(s, 1, 3, 4);
	cairn_storage_close(s);
}

Test(log, hard_state_is_stored_with_the_batch)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	struct cairn_raft_hard_state hs = {.term = 3, .vote = 2, .commit = 1};
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 2, 3), 2, &hs), 0);
	struct cairn_raft_hard_state got;
	cr_assert_eq(cairn_storage_hard_state(s, &got), 0);
	cr_assert_eq(got.term, 3);
	cr_assert_eq(got.vote, 2);
	cr_assert_eq(got.commit, 1);
	struct cairn_raft_hard_state hs2 = {.term = 4, .vote = 0, .commit = 2};
	cr_assert_eq(cairn_storage_set_hard_state(s, &hs2), 0);
	cr_assert_eq(cairn_storage_hard_state(s, &got), 0);
	cr_assert_eq(got.term, 4);
	cr_assert_eq(got.vote, 0);
	cairn_storage_close(s);
}

Test(log, refused_batch_does_not_store_its_hard_state)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	struct cairn_raft_hard_state hs = {.term = 9, .vote = 1, .commit = 0};
	cr_assert_eq(cairn_storage_append(s, make_entries(2, 2, 9), 1, &hs), CAIRN_EINVAL);
	struct cairn_raft_hard_state got;
	cr_assert_eq(cairn_storage_hard_state(s, &got), 0);
	cr_assert_eq(got.term, 0, "one transaction: all or nothing");
	cairn_storage_close(s);
}

Test(log, truncate_suffix_deletes_from_index)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 8, 1), 8, NULL), 0);
	cr_assert_eq(cairn_storage_truncate_suffix(s, 20), 0, "beyond the end: nothing");
	expect_bounds(s, 1, 8, 1);
	cr_assert_eq(cairn_storage_truncate_suffix(s, 5), 0);
	expect_bounds(s, 1, 4, 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(5, 5, 2), 1, NULL), 0);
	expect_entry(s, 5, 2);
	cairn_storage_close(s);
}

Test(log, drop_prefix_keeps_the_position_before_the_first_entry)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 4, 1), 4, NULL), 0);
	cr_assert_eq(cairn_storage_append(s, make_entries(5, 8, 2), 4, NULL), 0);
	cr_assert_eq(cairn_storage_drop_prefix(s, 5), CAIRN_EINVAL, "not applied yet");
	cairn_storage_close(s);
}

Test(log, load_returns_everything_for_restore)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	struct cairn_raft_hard_state hs = {.term = 2, .vote = 1, .commit = 5};
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 3, 1), 3, NULL), 0);
	cr_assert_eq(cairn_storage_append(s, make_entries(4, 6, 2), 3, &hs), 0);
	cairn_storage_close(s);

	s = open_store(tmpdir_path(), 1);
	struct cairn_raft_restore rs;
	struct cairn_storage_entries log = {0};
	cr_assert_eq(cairn_storage_load(s, &rs, &log), 0);
	cr_assert_eq(rs.hard_state.term, 2);
	cr_assert_eq(rs.hard_state.vote, 1);
	cr_assert_eq(rs.hard_state.commit, 5);
	cr_assert_eq(rs.n_log, 6);
	cr_assert_eq(rs.first_prev_index, 0);
	cr_assert_eq(rs.first_prev_term, 0);
	cr_assert_eq(rs.applied, 0);
	for (size_t i = 0; i < rs.n_log; i++) {
		cr_assert_eq(rs.log[i].index, i + 1);
		cr_assert_eq(rs.log[i].term, i < 3 ? 1u : 2u);
		char want[48];
		int n = snprintf(want, sizeof(want), "e%zut%u", i + 1, i < 3 ? 1u : 2u);
		cr_assert_eq(rs.log[i].len, (uint32_t)n);
		cr_assert_eq(memcmp(rs.log[i].data, want, (size_t)n), 0);
	}
	cairn_storage_entries_free(&log);
	cairn_storage_close(s);
}

/* A file-size limit makes the data file's growth fail with EFBIG, as a
 * full disk would fail it with ENOSPC: the store enters its failed state,
 * refuses every later write, and what was committed before survives. */
Test(log, write_error_fails_the_store_and_keeps_what_was_committed)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 10, 1), 10, NULL), 0);
	char path[256];
	snprintf(path, sizeof(path), "%s/data.mdb", tmpdir_path());
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	struct rlimit old;
	cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	struct rlimit lim = {(rlim_t)st.st_size + 8192, old.rlim_max};
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	static uint8_t big[64 * 1024];
	struct cairn_raft_entry e = {.term = 1,
				     .index = 11,
				     .type = CAIRN_RAFT_ENTRY_NORMAL,
				     .len = sizeof(big),
				     .data = big};
	int rv = cairn_storage_append(s, &e, 1, NULL);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	/* LMDB reports a short write as EIO, a refused one as the errno. */
	cr_assert(rv == CAIRN_ENOSPACE || rv == CAIRN_EIO, "%s", cairn_strerror(rv));
	cr_assert_eq(cairn_storage_failed(s), rv);
	cr_assert_eq(cairn_storage_append(s, make_entries(11, 11, 1), 1, NULL), rv,
		     "failed state is sticky");
	expect_bounds(s, 1, 10, 1);
	cairn_storage_close(s);
	s = open_store(tmpdir_path(), 1);
	expect_bounds(s, 1, 10, 1);
	expect_entry(s, 10, 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(11, 11, 1), 1, NULL), 0);
	cairn_storage_close(s);
}

/* LMDB (a shared library) resolves fdatasync to this definition first, so
 * the tests can count the flushes a commit makes. */
static atomic_ulong fdatasyncs;

int fdatasync(int fd)
{
	atomic_fetch_add(&fdatasyncs, 1);
	return (int)syscall(SYS_fdatasync, fd);
}

Test(log, a_batch_is_one_transaction_and_one_fdatasync)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(s, &st0);
	unsigned long before = atomic_load(&fdatasyncs);
	struct cairn_raft_hard_state hs = {.term = 1, .vote = 1, .commit = 0};
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 256, 1), 256, &hs), 0);
	cairn_storage_stats(s, &st1);
	cr_assert_eq(st1.commits - st0.commits, 1);
	cr_assert_eq(atomic_load(&fdatasyncs) - before, 1, "synced before returning");
	cairn_storage_close(s);
}

Test(log, unsafe_no_sync_skips_the_flush)
{
	struct cairn_storage_options opt = {.dir = tmpdir_path(),
					    .cluster_id = TEST_CLUSTER,
					    .member_id = 1,
					    .create = true,
					    .unsafe_no_sync = true};
	struct cairn_storage *s = NULL;
	char msg[256];
	cr_assert_eq(cairn_storage_open(&s, &opt, msg, sizeof(msg)), 0, "%s", msg);
	unsigned long before = atomic_load(&fdatasyncs);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 16, 1), 16, NULL), 0);
	cr_assert_eq(atomic_load(&fdatasyncs) - before, 0);
	cairn_storage_close(s);
}

Test(log, several_batches_commit_as_one_transaction_in_order)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	static struct cairn_raft_entry first[5], second[2];
	memcpy(first, make_entries(1, 5, 1), sizeof(first));
	memcpy(second, make_entries(4, 5, 2), sizeof(second));
	struct cairn_raft_hard_state hs1 = {.term = 1, .vote = 1}, hs2 = {.term = 2, .vote = 3};
	struct cairn_storage_append_batch b[3] = {
		{.entries = first, .n = 5, .hs = &hs1},
		{.entries = second, .n = 2, .hs = &hs2}, /* replaces 4..5 of the first */
		{.entries = NULL, .n = 0, .hs = NULL},
	};
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(s, &st0);
	cr_assert_eq(cairn_storage_append_batches(s, b, 3), 0);
	cairn_storage_stats(s, &st1);
	cr_assert_eq(st1.commits - st0.commits, 1);
	cr_assert_eq(b[0].last_index, 5);
	cr_assert_eq(b[0].last_term, 1);
	cr_assert_eq(b[1].last_index, 5);
	cr_assert_eq(b[1].last_term, 2);
	cr_assert_eq(b[2].last_index, 5, "no entries: the log's last");
	expect_bounds(s, 1, 5, 2);
	expect_entry(s, 3, 1);
	expect_entry(s, 4, 2);
	struct cairn_raft_hard_state got;
	cr_assert_eq(cairn_storage_hard_state(s, &got), 0);
	cr_assert_eq(got.vote, 3);
	static struct cairn_raft_entry ok6[1], gap8[1];
	memcpy(ok6, make_entries(6, 6, 2), sizeof(ok6));
	memcpy(gap8, make_entries(8, 8, 2), sizeof(gap8));
	struct cairn_storage_append_batch bad[2] = {{.entries = ok6, .n = 1},
						    {.entries = gap8, .n = 1}};
	cr_assert_eq(cairn_storage_append_batches(s, bad, 2), CAIRN_EINVAL);
	expect_bounds(s, 1, 5, 2); /* all or nothing */
	cairn_storage_close(s);
}

/* Two batches and a bad one inside a caller's transaction (as the storage
 * thread runs its groups); `commit` decides the transaction's fate. */
struct in_txn_args {
	bool commit;
	struct cairn_storage_append_batch b[2];
	int bad_rc;
};

static int in_txn_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct in_txn_args *a = arg;
	for (size_t i = 0; i < 2; i++) {
		int rc = cairn_storage_append_in_txn(txn, dbs, &a->b[i]);
		if (rc != 0)
			return rc;
	}
	/* A gap after the second batch: refused, and the transaction goes on. */
	struct cairn_raft_entry gap = a->b[1].entries[0];
	gap.index = 9;
	struct cairn_storage_append_batch bad = {.entries = &gap, .n = 1};
	a->bad_rc = cairn_storage_append_in_txn(txn, dbs, &bad);
	return a->commit ? 0 : CAIRN_EINVAL;
}

static void run_in_txn(struct cairn_storage *s, bool commit, int want)
{
	const struct cairn_raft_entry *e = make_entries(1, 5, 2);
	struct cairn_raft_hard_state hs = {.term = 2, .vote = 1, .commit = 0};
	struct in_txn_args a = {.commit = commit};
	a.b[0] = (struct cairn_storage_append_batch){.entries = e, .n = 3};
	a.b[1] = (struct cairn_storage_append_batch){.entries = e + 3, .n = 2, .hs = &hs};
	cr_assert_eq(cairn_storage_write_txn(s, in_txn_fn, &a), want);
	cr_assert_eq(a.b[0].last_index, 3);
	cr_assert_eq(a.b[1].last_index, 5, "the second batch follows the first, uncommitted");
	cr_assert_eq(a.b[1].last_term, 2);
	cr_assert_eq(a.bad_rc, CAIRN_EINVAL, "a gap after the uncommitted batches");
}

Test(log, appends_in_a_callers_transaction_land_only_with_its_commit)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	run_in_txn(s, false, CAIRN_EINVAL);
	expect_bounds(s, 1, 0, 0);
	struct cairn_raft_hard_state hs;
	cr_assert_eq(cairn_storage_hard_state(s, &hs), 0);
	cr_assert_eq(hs.term, 0, "an aborted transaction leaves nothing");
	run_in_txn(s, true, 0);
	expect_bounds(s, 1, 5, 2);
	expect_entry(s, 4, 2);
	cr_assert_eq(cairn_storage_hard_state(s, &hs), 0);
	cr_assert_eq(hs.term, 2);
	cairn_storage_close(s);
}
