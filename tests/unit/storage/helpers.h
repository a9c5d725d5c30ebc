/*
 * helpers.h - temp data dirs and small builders shared by the storage and
 * kv tests. Every temp dir lives under /tmp and is removed by the fixture's
 * fini, which Criterion runs even when the test failed.
 */
#ifndef CAIRN_TEST_STORAGE_HELPERS_H
#define CAIRN_TEST_STORAGE_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cairn/raft.h"
#include "storage/storage.h"

#define TEST_CLUSTER 0xc0ffee0000000001ull

/* mkdtemp under /tmp; the path is valid until tmpdir_remove. */
const char *tmpdir_make(void);
/* rm -rf the dir made by tmpdir_make (idempotent). */
void tmpdir_remove(void);
/* The current temp dir, or NULL. */
const char *tmpdir_path(void);

/* Open (creating) a store in dir as member of TEST_CLUSTER. Asserts. */
struct cairn_storage *open_store(const char *dir, uint64_t member);
/* The same with a map size (0: the default) and, if no_sync, no fsync. */
struct cairn_storage *open_store_opt(const char *dir, uint64_t member, uint64_t map_bytes,
				     bool no_sync);

/* Assert s's log bounds after a compaction or a snapshot: the position
 * (prev_index, prev_term) just before the log, the first index right after
 * it, and the last entry (last_index, last_term). */
void expect_compacted_bounds(struct cairn_storage *s, uint64_t prev_index, uint64_t prev_term,
			     uint64_t last_index, uint64_t last_term);

/* Load s and assert what a restart finds: the compacted prefix (prev_index,
 * prev_term), the applied index and n_log entries from prev_index + 1 on,
 * contiguous. */
void expect_loaded(struct cairn_storage *s, uint64_t prev_index, uint64_t prev_term,
		   uint64_t applied, size_t n_log);

/* Entries index lo..hi in term, payload "e<index>t<term>" (static storage
 * owned by the helper, valid until the next call). */
const struct cairn_raft_entry *make_entries(uint64_t lo, uint64_t hi, uint64_t term);

/* FNV-1a of every file under dir (names and contents), to prove a dir was
 * left untouched. */
uint64_t dir_fingerprint(const char *dir);

#endif
