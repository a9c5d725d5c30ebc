/* Opening a data dir: creation only when asked, refusal of a dir of another
 * member or cluster (left byte-for-byte untouched), unusable dirs, reopen. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "helpers.h"
#include "storage/storage.h"

static void setup(void)
{
	tmpdir_make();
}

static void teardown(void)
{
	tmpdir_remove();
}

TestSuite(open, .init = setup, .fini = teardown, .timeout = 30);

static int try_open(const char *dir, uint64_t cluster, uint64_t member, bool create, char *msg,
		    size_t msg_bytes)
{
	struct cairn_storage_options opt = {
		.dir = dir, .cluster_id = cluster, .member_id = member, .create = create};
	struct cairn_storage *s = NULL;
	int rv = cairn_storage_open(&s, &opt, msg, msg_bytes);
	if (rv == 0)
		cairn_storage_close(s);
	else
		cr_assert_null(s, "no handle on failure");
	return rv;
}

static void populate(const char *dir, uint64_t member)
{
	struct cairn_storage *s = open_store(dir, member);
	struct cairn_raft_hard_state hs = {.term = 5, .vote = member, .commit = 0};
	cr_assert_eq(cairn_storage_append(s, make_entries(1, 20, 5), 20, &hs), 0);
	cairn_storage_close(s);
}

Test(open, creates_missing_dir_and_parents_when_asked)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/a/b/node1", tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(dir, TEST_CLUSTER, 1, true, msg, sizeof(msg)), 0, "%s", msg);
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
}

Test(open, missing_dir_without_create_is_not_found_and_not_created)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/node1", tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(dir, TEST_CLUSTER, 1, false, msg, sizeof(msg)), CAIRN_ENOTFOUND);
	cr_assert_neq(strstr(msg, "does not exist"), NULL, "%s", msg);
	struct stat st;
	cr_assert_neq(stat(dir, &st), 0);
}

Test(open, empty_dir_without_create_is_not_found_and_left_empty)
{
	uint64_t before = dir_fingerprint(tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, false, msg, sizeof(msg)),
		     CAIRN_ENOTFOUND);
	cr_assert_eq(dir_fingerprint(tmpdir_path()), before);
}

Test(open, reopen_after_clean_close_keeps_everything)
{
	populate(tmpdir_path(), 2);
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 2, false, msg, sizeof(msg)), 0, "%s",
		     msg);
	struct cairn_storage *s = open_store(tmpdir_path(), 2);
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(s, &b), 0);
	cr_assert_eq(b.last_index, 20);
	cr_assert_eq(b.last_term, 5);
	struct cairn_raft_hard_state hs;
	cr_assert_eq(cairn_storage_hard_state(s, &hs), 0);
	cr_assert_eq(hs.term, 5);
	cr_assert_eq(hs.vote, 2);
	cairn_storage_close(s);
}

Test(open, dir_of_another_member_is_refused_untouched)
{
	populate(tmpdir_path(), 1);
	uint64_t before = dir_fingerprint(tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 2, true, msg, sizeof(msg)),
		     CAIRN_EFOREIGN);
	cr_assert_neq(strstr(msg, "member 1, not 2"), NULL, "%s", msg);
	cr_assert_eq(dir_fingerprint(tmpdir_path()), before, "byte-for-byte untouched");
}

Test(open, dir_of_another_cluster_is_refused_untouched)
{
	populate(tmpdir_path(), 1);
	uint64_t before = dir_fingerprint(tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER + 1, 1, true, msg, sizeof(msg)),
		     CAIRN_EFOREIGN);
	cr_assert_neq(strstr(msg, "belongs to cluster"), NULL, "%s", msg);
	cr_assert_eq(dir_fingerprint(tmpdir_path()), before, "byte-for-byte untouched");
}

Test(open, path_that_is_a_file_is_refused)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/file", tmpdir_path());
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "x", 1), 1);
	close(fd);
	uint64_t before = dir_fingerprint(tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(path, TEST_CLUSTER, 1, true, msg, sizeof(msg)), CAIRN_EIO);
	cr_assert_neq(strstr(msg, "not a directory"), NULL, "%s", msg);
	char below[300];
	snprintf(below, sizeof(below), "%s/node1", path);
	cr_assert_eq(try_open(below, TEST_CLUSTER, 1, true, msg, sizeof(msg)), CAIRN_EIO);
	cr_assert_eq(dir_fingerprint(tmpdir_path()), before);
}

Test(open, data_file_that_is_not_lmdb_is_refused_untouched)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/data.mdb", tmpdir_path());
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert_geq(fd, 0);
	char junk[8192];
	memset(junk, 'j', sizeof(junk));
	cr_assert_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	uint64_t before = dir_fingerprint(tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, true, msg, sizeof(msg)),
		     CAIRN_ECORRUPT, "%s", msg);
	cr_assert_eq(dir_fingerprint(tmpdir_path()), before);
}

Test(open, dir_without_permission_is_refused_untouched)
{
	if (geteuid() == 0) {
		tmpdir_remove(); /* a skipped test gets no .fini */
		cr_skip_test("root ignores permissions");
	}
	populate(tmpdir_path(), 1);
	cr_assert_eq(chmod(tmpdir_path(), 0500), 0);
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, true, msg, sizeof(msg)), CAIRN_EIO);
	cr_assert_neq(strstr(msg, "not usable"), NULL, "%s", msg);
	chmod(tmpdir_path(), 0700);
}

Test(open, zero_ids_are_invalid)
{
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), 0, 1, true, msg, sizeof(msg)), CAIRN_EINVAL);
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 0, true, msg, sizeof(msg)),
		     CAIRN_EINVAL);
}

Test(open, dir_already_open_is_busy)
{
	struct cairn_storage *s = open_store(tmpdir_path(), 1);
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, true, msg, sizeof(msg)), CAIRN_EBUSY);
	cr_assert_neq(strstr(msg, "in use"), NULL, "%s", msg);
	cairn_storage_close(s);
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, true, msg, sizeof(msg)), 0,
		     "released at close");
}

/* An LMDB environment in dir holding `key` in its main database (NULL:
 * nothing, as after a crash between creating the files and stamping). */
static void raw_lmdb(const char *dir, const char *key)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_open(env, dir, 0, 0600), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	if (key != NULL) {
		MDB_val k = {strlen(key), (void *)(uintptr_t)key}, v = {1, (void *)(uintptr_t) "x"};
		cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	}
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

Test(open, environment_never_stamped_is_initialised_only_when_asked)
{
	raw_lmdb(tmpdir_path(), NULL);
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, false, msg, sizeof(msg)),
		     CAIRN_ENOTFOUND);
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, true, msg, sizeof(msg)), 0, "%s",
		     msg);
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 2, true, msg, sizeof(msg)),
		     CAIRN_EFOREIGN, "stamped now");
}

Test(open, lmdb_data_of_another_program_is_refused_untouched)
{
	raw_lmdb(tmpdir_path(), "someone-else");
	uint64_t before = dir_fingerprint(tmpdir_path());
	char msg[256];
	cr_assert_eq(try_open(tmpdir_path(), TEST_CLUSTER, 1, true, msg, sizeof(msg)),
		     CAIRN_ECORRUPT);
	cr_assert_neq(strstr(msg, "without cairn metadata"), NULL, "%s", msg);
	cr_assert_eq(dir_fingerprint(tmpdir_path()), before);
}
