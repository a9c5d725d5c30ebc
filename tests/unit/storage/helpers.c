/* helpers.c - see helpers.h. */
#define _GNU_SOURCE
#include "helpers.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/errors.h"

static char tmp_path[64];

const char *tmpdir_make(void)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/cairn-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp_path));
	return tmp_path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);
	remove(path);
	return 0;
}

void tmpdir_remove(void)
{
	if (tmp_path[0] == '\0')
		return;
	chmod(tmp_path, 0700);
	nftw(tmp_path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmp_path[0] = '\0';
}

const char *tmpdir_path(void)
{
	return tmp_path[0] != '\0' ? tmp_path : NULL;
}

struct cairn_storage *open_store(const char *dir, uint64_t member)
{
	return open_store_opt(dir, member, 0, false);
}

struct cairn_storage *open_store_opt(const char *dir, uint64_t member, uint64_t map_bytes,
				     bool no_sync)
{
	struct cairn_storage_options opt = {
		.dir = dir,
		.cluster_id = TEST_CLUSTER,
		.member_id = member,
		.create = true,
		.map_bytes = map_bytes,
		.unsafe_no_sync = no_sync,
	};
	struct cairn_storage *s = NULL;
	char msg[256];
	int rv = cairn_storage_open(&s, &opt, msg, sizeof(msg));
	cr_assert_eq(rv, 0, "open %s: %s (%s)", dir, cairn_strerror(rv), msg);
	return s;
}

void expect_compacted_bounds(struct cairn_storage *s, uint64_t prev_index, uint64_t prev_term,
			     uint64_t last_index, uint64_t last_term)
{
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(s, &b), 0);
	cr_assert_eq(b.prev_index, prev_index);
	cr_assert_eq(b.prev_term, prev_term);
	cr_assert_eq(b.first_index, prev_index + 1);
	cr_assert_eq(b.last_index, last_index);
	cr_assert_eq(b.last_term, last_term);
}

void expect_loaded(struct cairn_storage *s, uint64_t prev_index, uint64_t prev_term,
		   uint64_t applied, size_t n_log)
{
	struct cairn_raft_restore rs;
	struct cairn_storage_entries log = {0};
	cr_assert_eq(cairn_storage_load(s, &rs, &log), 0);
	cr_assert_eq(rs.first_prev_index, prev_index);
	cr_assert_eq(rs.first_prev_term, prev_term);
	cr_assert_eq(rs.applied, applied);
	cr_assert_eq(rs.n_log, n_log);
	for (size_t i = 0; i < rs.n_log; i++)
		cr_assert_eq(rs.log[i].index, prev_index + 1 + i);
	cairn_storage_entries_free(&log);
}

#define MAKE_MAX 4096
static struct cairn_raft_entry made[MAKE_MAX];
static char made_data[MAKE_MAX][48];

const struct cairn_raft_entry *make_entries(uint64_t lo, uint64_t hi, uint64_t term)
{
	cr_assert(hi >= lo && hi - lo < MAKE_MAX);
	for (uint64_t i = lo; i <= hi; i++) {
		struct cairn_raft_entry *e = &made[i - lo];
		int n = snprintf(made_data[i - lo], sizeof(made_data[0]), "e%llut%llu",
				 (unsigned long long)i, (unsigned long long)term);
		e->index = i;
		e->term = term;
		e->type = CAIRN_RAFT_ENTRY_NORMAL;
		e->len = (uint32_t)n;
		e->data = (const uint8_t *)made_data[i - lo];
	}
	return made;
}

static uint64_t fp_hash;

static void fp_mix(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++) {
		fp_hash ^= b[i];
		fp_hash *= 1099511628211ull;
	}
}

static int fp_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	fp_mix(path, strlen(path) + 1);
	if (flag != FTW_F)
		return 0;
	fp_mix(&st->st_size, sizeof(st->st_size));
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	uint8_t buf[65536];
	ssize_t r;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		fp_mix(buf, (size_t)r);
	close(fd);
	return 0;
}

uint64_t dir_fingerprint(const char *dir)
{
	fp_hash = 14695981039346656037ull;
	/* nftw's order is the directory's order, stable for an unchanged dir. */
	nftw(dir, fp_one, 16, FTW_PHYS);
	return fp_hash;
}
