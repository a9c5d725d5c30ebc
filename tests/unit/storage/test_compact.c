/* The storage side of compaction and snapshots: the applied position, the
 * log following a snapshot, load after a compacted prefix, long reads, and
 * data dirs from before the snapshot databases. */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "cairn/errors.h"
#include "helpers.h"
#include "storage/storage.h"
#include "storage/txn.h"
#include "util/buf.h"

static void setup(void)
{
	tmpdir_make();
}

static void teardown(void)
{
	tmpdir_remove();
}

TestSuite(compact, .init = setup, .fini = teardown, .timeout = 30);

struct pos {
	uint64_t index, term;
};

static int set_applied_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	const struct pos *p = arg;
	int rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_APPLIED, p->index);
	if (rc == 0 && p->term != 0)
		rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_APPLIED_TERM, p->term);
	return rc;
}

static void set_applied(struct cairn_storage *s, uint64_t index, uint64_t term)
{
	struct pos p = {index, term};
	cr_assert_eq(cairn_storage_write_txn(s, set_applied_fn, &p), 0);
}

static int applied_pos_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct pos *p = arg;
	return cairn_storage_applied_pos_in_txn(txn, dbs, &p->index, &p->term);
}

static struct pos applied_pos(struct cairn_storage *s)
{
	struct pos p = {99, 99};
	cr_assert_eq(cairn_storage_read_txn(s, applied_pos_fn, &p), 0);
	return p;
}

struct follow_args {
	uint64_t index, term;
	uint64_t last_index, last_term;
};

static int follow_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct follow_args *a = arg;
	return cairn_storage_follow_snapshot_in_txn(txn, dbs, a->index, a->term, &a->last_index,
						    &a->last_term);
}

/* Make s's log follow a snapshot at (index, term); returns the follow's
 * result, the log's new end in a. */
static int follow(struct cairn_storage *s, uint64_t index, uint64_t term, struct follow_args *a)
{
	*a = (struct follow_args){.index = index, .term = term};
	return cairn_storage_write_txn(s, follow_fn, a);
}

/* Follow (index, term), which must succeed and leave the log ending at
 * (last_index, last_term) right after it. */
static void expect_follow(struct cairn_storage *s, uint64_t index, uint64_t term,
			  uint64_t last_index, uint64_t last_term)
{
	struct follow_args a;
	cr_assert_eq(follow(s, index, term, &a), 0);
	cr_assert_eq(a.last_index, last_index);
	cr_assert_eq(a.last_term, last_term);
	expect_compacted_bounds(s, index, term, last_index, last_term);
}

/* A new store with entries 1..8 in term 3. */
static struct cairn_storage *store_with_eight_entries(void)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 8, 3), 8, NULL), 0);
	return s;
}

Test(compact, applied_pos_of_a_new_store_is_zero)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	struct pos p = applied_pos(s);
	cr_assert_eq(p.index, 0);
	cr_assert_eq(p.term, 0);
	cairn_storage_close(s);
}

Test(compact, applied_pos_without_a_recorded_term_and_without_its_entry_is_term_zero)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	set_applied(s, 5, 0); /* no log at all: nothing to take the term from */
	struct pos p = applied_pos(s);
	cr_assert_eq(p.index, 5);
	cr_assert_eq(p.term, 0);
	cairn_storage_close(s);
}

Test(compact, load_after_drop_prefix_starts_after_the_dropped_entries)
{
	const char *dir = tmpdir_path();
	struct cairn_storage *s = open_store(dir, 1);
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 9, 2), 9, NULL), 0);
	set_applied(s, 7, 2);
	cr_assert_eq(cairn_storage_drop_prefix(s, 6), 0);
	cr_assert_eq(cairn_storage_drop_prefix(s, 8), CAIRN_EINVAL, "beyond applied");
	cairn_storage_close(s);
	s = open_store(dir, 1);
	expect_loaded(s, 6, 2, 7, 3); /* 7..9 */
	cairn_storage_close(s);
}

static int put_prev_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	(void)arg;
	uint8_t b[16];
	cairn_put_be64(b, 10);
	cairn_put_be64(b + 8, 1);
	MDB_val k = {strlen(CAIRN_META_LOG_PREV), (void *)(uintptr_t)CAIRN_META_LOG_PREV};
	MDB_val v = {sizeof(b), b};
	return mdb_put(txn, dbs->meta, &k, &v, 0);
}

Test(compact, load_refuses_an_applied_index_below_the_dropped_prefix)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	set_applied(s, 3, 1);
	cr_assert_eq(cairn_storage_write_txn(s, put_prev_fn, NULL), 0);
	struct cairn_raft_restore rs;
	struct cairn_storage_entries log = {0};
	cr_assert_eq(cairn_storage_load(s, &rs, &log), CAIRN_ECORRUPT);
	cairn_storage_close(s);
}

Test(compact, follow_keeps_the_entries_after_a_matching_entry)
{
	struct cairn_storage *s = store_with_eight_entries();
	expect_follow(s, 5, 3, 8, 3);
	cairn_storage_close(s);
}

Test(compact, follow_drops_everything_after_a_conflict_or_beyond_the_log)
{
	struct cairn_storage *s = store_with_eight_entries();
	expect_follow(s, 5, 4, 5, 4);
	expect_follow(s, 20, 4, 20, 4);
	/* Never back. */
	struct follow_args a;
	cr_assert_eq(follow(s, 19, 4, &a), CAIRN_EINVAL);
	/* The same position again keeps everything. */
	cr_assert_eq(cairn_storage_append(s, make_entries(21, 22, 4), 2, NULL), 0);
	expect_follow(s, 20, 4, 22, 4);
	cairn_storage_close(s);
}

static int read_applied_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	return cairn_storage_meta_get_u64(txn, dbs, CAIRN_META_APPLIED, arg);
}

Test(compact, long_read_keeps_its_view_across_commits)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	set_applied(s, 1, 1);
	struct cairn_storage_long_read *lr = NULL;
	cr_assert_eq(cairn_storage_long_read_begin(s, &lr), 0);
	set_applied(s, 2, 1);
	uint64_t seen = 0;
	cr_assert_eq(cairn_storage_long_read_step(s, lr, read_applied_fn, &seen), 0);
	cr_assert_eq(seen, 1, "the view of begin");
	cr_assert_eq(cairn_storage_applied(s, &seen), 0);
	cr_assert_eq(seen, 2, "other reads see the commit meanwhile");
	set_applied(s, 3, 1);
	cr_assert_eq(cairn_storage_long_read_step(s, lr, read_applied_fn, &seen), 0);
	cr_assert_eq(seen, 1);
	cairn_storage_long_read_end(s, lr);
	cairn_storage_long_read_end(s, NULL);
	cairn_storage_close(s);
}

/* A dir as the code before snapshots left it: format 1 and the five
 * databases, no snap_* ones, no applied term. */
static void make_old_dir(const char *dir)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi meta, log, dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "log", MDB_CREATE, &log), 0);
	cr_assert_eq(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), 0);
	cr_assert_eq(mdb_dbi_open(txn, "kv", MDB_CREATE, &dbi), 0);
	cr_assert_eq(mdb_dbi_open(txn, "sessions", MDB_CREATE, &dbi), 0);
	cr_assert_eq(mdb_dbi_open(txn, "sessions_lru", MDB_CREATE, &dbi), 0);
	struct cairn_storage_dbs dbs = {.meta = meta, .log = log};
	cr_assert_eq(cairn_storage_meta_put_u64(txn, &dbs, CAIRN_META_FORMAT, 1), 0);
	cr_assert_eq(cairn_storage_meta_put_u64(txn, &dbs, CAIRN_META_CLUSTER_ID, TEST_CLUSTER), 0);
	cr_assert_eq(cairn_storage_meta_put_u64(txn, &dbs, CAIRN_META_MEMBER_ID, 1), 0);
	cr_assert_eq(cairn_storage_meta_put_u64(txn, &dbs, CAIRN_META_APPLIED, 2), 0);
	for (uint64_t i = 1; i <= 3; i++) {
		uint8_t kb[8], vb[9] = {0};
		cairn_put_be64(kb, i);
		cairn_put_be64(vb, 7); /* term 7 */
		vb[8] = CAIRN_RAFT_ENTRY_NOOP;
		MDB_val k = {8, kb}, v = {9, vb};
		cr_assert_eq(mdb_put(txn, log, &k, &v, 0), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

Test(compact, dir_from_before_snapshots_opens_and_takes_its_applied_term_from_the_log)
{
	const char *dir = tmpdir_path();
	make_old_dir(dir);
	struct cairn_storage *s = open_store(dir, 1);
	struct pos p = applied_pos(s);
	cr_assert_eq(p.index, 2);
	cr_assert_eq(p.term, 7);
	/* Compaction works there, and keeps the applied term. */
	cr_assert_eq(cairn_storage_drop_prefix(s, 2), 0);
	p = applied_pos(s);
	cr_assert_eq(p.term, 7);
	expect_loaded(s, 2, 7, 2, 1);
	cairn_storage_close(s);
}
