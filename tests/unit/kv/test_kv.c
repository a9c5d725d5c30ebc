/* The key-value state machine: put, del, cas, exactly-once sessions with
 * deterministic expiry, the applied index committed with the data, reads,
 * and map growth under it. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../storage/helpers.h"
#include "cairn/errors.h"
#include "cairn/limits.h"
#include "cmds.h"
#include "kv/kv.h"
#include "storage/storage.h"
#include "util/buf.h"

static struct cairn_storage *store;
static struct cairn_kv *kv;
static struct cairn_buf value;

static void open_kv(const struct cairn_kv_options *opt)
{
	store = open_store(tmpdir_path(), 1);
	cr_assert_eq(cairn_kv_open(&kv, store, opt), 0);
}

static void close_kv(void)
{
	cairn_kv_close(kv);
	cairn_storage_close(store);
	kv = NULL;
	store = NULL;
}

static void setup(void)
{
	tmpdir_make();
	cairn_buf_init(&value, 0);
	open_kv(NULL);
}

static void teardown(void)
{
	if (kv != NULL)
		close_kv();
	cairn_buf_free(&value);
	cmds_reset();
	tmpdir_remove();
}

TestSuite(kv, .init = setup, .fini = teardown, .timeout = 60);

/* Apply one entry at the next index; returns its result. */
static struct cairn_kv_result apply1(struct cairn_raft_entry e)
{
	struct cairn_kv_result r;
	int rv = cairn_kv_apply(kv, &e, 1, &r);
	cr_assert_eq(rv, 0, "apply %llu: %s", (unsigned long long)e.index, cairn_strerror(rv));
	return r;
}

static uint64_t next_index(void)
{
	return cairn_kv_applied(kv) + 1;
}

static struct cairn_kv_result put(uint64_t client, uint64_t seq, const char *k, const char *v)
{
	return apply1(cmd_entry(next_index(), CAIRN_KV_PUT, client, seq, k, v, NULL));
}

static struct cairn_kv_result del(uint64_t client, uint64_t seq, const char *k)
{
	return apply1(cmd_entry(next_index(), CAIRN_KV_DEL, client, seq, k, NULL, NULL));
}

static struct cairn_kv_result cas(uint64_t client, uint64_t seq, const char *k, const char *exp,
				  const char *v)
{
	return apply1(cmd_entry(next_index(), CAIRN_KV_CAS, client, seq, k, v, exp));
}

static void expect_value(const char *k, const char *want)
{
	int rv = cairn_kv_get(kv, k, strlen(k), &value, NULL);
	if (want == NULL) {
		cr_assert_eq(rv, CAIRN_ENOTFOUND, "%s should be absent", k);
		return;
	}
	cr_assert_eq(rv, 0, "get %s: %s", k, cairn_strerror(rv));
	cr_assert_eq(value.len, strlen(want));
	cr_assert_eq(memcmp(value.data, want, value.len), 0, "%s", k);
}

Test(kv, put_then_get)
{
	struct cairn_kv_result r = put(0, 0, "a", "1");
	cr_assert_eq(r.status, CAIRN_KV_OK);
	cr_assert_eq(r.index, 1);
	expect_value("a", "1");
	put(0, 0, "a", "");
	expect_value("a", "");
	expect_value("b", NULL);
}

Test(kv, del_removes_and_reports_missing_keys)
{
	put(0, 0, "a", "1");
	cr_assert_eq(del(0, 0, "a").status, CAIRN_KV_OK);
	expect_value("a", NULL);
	cr_assert_eq(del(0, 0, "a").status, CAIRN_KV_NOTFOUND);
}

Test(kv, cas_swaps_only_on_equal_value)
{
	put(0, 0, "a", "old");
	cr_assert_eq(cas(0, 0, "a", "other", "new").status, CAIRN_KV_MISMATCH);
	expect_value("a", "old");
	cr_assert_eq(cas(0, 0, "a", "ol", "new").status, CAIRN_KV_MISMATCH, "prefix is not equal");
	cr_assert_eq(cas(0, 0, "a", "old", "new").status, CAIRN_KV_OK);
	expect_value("a", "new");
	cr_assert_eq(cas(0, 0, "zz", "", "x").status, CAIRN_KV_NOTFOUND);
	expect_value("zz", NULL);
	put(0, 0, "e", "");
	cr_assert_eq(cas(0, 0, "e", "", "filled").status, CAIRN_KV_OK, "empty equals empty");
	expect_value("e", "filled");
}

Test(kv, long_keys_sharing_a_prefix_are_distinct)
{
	static uint8_t k1[CAIRN_KEY_BYTES_MAX], k2[CAIRN_KEY_BYTES_MAX];
	memset(k1, 'p', sizeof(k1));
	memcpy(k2, k1, sizeof(k2));
	k2[sizeof(k2) - 1] = 'q';
	apply1(cmd_entry_bytes(next_index(), CAIRN_KV_PUT, 0, 0, k1, sizeof(k1), "one", 3));
	apply1(cmd_entry_bytes(next_index(), CAIRN_KV_PUT, 0, 0, k2, sizeof(k2), "two", 3));
	apply1(cmd_entry_bytes(next_index(), CAIRN_KV_PUT, 0, 0, k1, 600, "six", 3));
	cr_assert_eq(cairn_kv_get(kv, k1, sizeof(k1), &value, NULL), 0);
	cr_assert_eq(memcmp(value.data, "one", 3), 0);
	cr_assert_eq(cairn_kv_get(kv, k2, sizeof(k2), &value, NULL), 0);
	cr_assert_eq(memcmp(value.data, "two", 3), 0);
	cr_assert_eq(cairn_kv_get(kv, k1, 600, &value, NULL), 0);
	cr_assert_eq(memcmp(value.data, "six", 3), 0);
	struct cairn_raft_entry d =
		cmd_entry_bytes(next_index(), CAIRN_KV_DEL, 0, 0, k1, sizeof(k1), NULL, 0);
	cr_assert_eq(apply1(d).status, CAIRN_KV_OK);
	cr_assert_eq(cairn_kv_get(kv, k1, sizeof(k1), &value, NULL), CAIRN_ENOTFOUND);
	cr_assert_eq(cairn_kv_get(kv, k2, sizeof(k2), &value, NULL), 0);
	cr_assert_eq(cairn_kv_get(kv, k1, 511, &value, NULL), CAIRN_ENOTFOUND);
}

Test(kv, largest_value_round_trips)
{
	uint8_t *big = malloc(CAIRN_VALUE_BYTES_MAX);
	cr_assert_not_null(big);
	for (size_t i = 0; i < CAIRN_VALUE_BYTES_MAX; i++)
		big[i] = (uint8_t)(i * 7);
	apply1(cmd_entry_bytes(next_index(), CAIRN_KV_PUT, 0, 0, "big", 3, big,
			       CAIRN_VALUE_BYTES_MAX));
	cr_assert_eq(cairn_kv_get(kv, "big", 3, &value, NULL), 0);
	cr_assert_eq(value.len, CAIRN_VALUE_BYTES_MAX);
	cr_assert_eq(memcmp(value.data, big, CAIRN_VALUE_BYTES_MAX), 0);
	free(big);
}

Test(kv, get_refuses_bad_key_lengths)
{
	cr_assert_eq(cairn_kv_get(kv, "", 0, &value, NULL), CAIRN_EINVAL);
	cr_assert_eq(cairn_kv_get(kv, "x", CAIRN_KEY_BYTES_MAX + 1, &value, NULL), CAIRN_EINVAL);
}

Test(kv, noop_and_bad_payload_only_advance_applied)
{
	cr_assert_eq(apply1(noop_entry(1)).status, CAIRN_KV_OK);
	struct cairn_raft_entry bad = {.term = 1,
				       .index = 2,
				       .type = CAIRN_RAFT_ENTRY_NORMAL,
				       .len = 3,
				       .data = (const uint8_t *)"xyz"};
	cr_assert_eq(apply1(bad).status, CAIRN_KV_BADCMD);
	cr_assert_eq(cairn_kv_applied(kv), 2);
	uint64_t sessions = 9;
	cr_assert_eq(cairn_kv_sessions(kv, &sessions), 0);
	cr_assert_eq(sessions, 0);
}

Test(kv, retried_request_is_answered_with_its_first_result)
{
	put(0, 0, "a", "old");
	struct cairn_kv_result first = cas(7, 1, "a", "old", "mine");
	cr_assert_eq(first.status, CAIRN_KV_OK);
	cr_assert_not(first.duplicate);
	put(8, 1, "a", "theirs");
	struct cairn_kv_result retry = cas(7, 1, "a", "old", "mine");
	cr_assert_eq(retry.status, CAIRN_KV_OK, "the first result, not a mismatch");
	cr_assert(retry.duplicate);
	cr_assert_eq(retry.client_id, 7);
	cr_assert_eq(retry.seq, 1);
	expect_value("a", "theirs");
}

Test(kv, retried_put_does_not_apply_twice)
{
	put(1, 1, "a", "first");
	put(2, 1, "a", "second");
	struct cairn_kv_result r = put(1, 1, "a", "first");
	cr_assert(r.duplicate);
	expect_value("a", "second");
	struct cairn_kv_result miss = cas(1, 2, "a", "nope", "x");
	cr_assert_eq(miss.status, CAIRN_KV_MISMATCH);
	cr_assert_eq(cas(1, 2, "a", "second", "x").status, CAIRN_KV_MISMATCH,
		     "retry returns the stored mismatch");
	expect_value("a", "second");
}

Test(kv, lower_seq_is_stale_and_has_no_effect)
{
	put(3, 5, "a", "five");
	struct cairn_kv_result r = put(3, 4, "a", "four");
	cr_assert_eq(r.status, CAIRN_KV_STALE);
	cr_assert_not(r.duplicate);
	expect_value("a", "five");
	cr_assert_eq(put(3, 6, "a", "six").status, CAIRN_KV_OK);
	expect_value("a", "six");
}

Test(kv, sessionless_commands_are_not_deduplicated)
{
	put(0, 1, "a", "x");
	struct cairn_kv_result r = del(0, 1, "a");
	cr_assert_eq(r.status, CAIRN_KV_OK);
	cr_assert_not(r.duplicate);
	expect_value("a", NULL);
}

Test(kv, applied_index_and_data_commit_together_and_reopen_resumes)
{
	struct cairn_raft_entry batch[3] = {
		cmd_entry(1, CAIRN_KV_PUT, 1, 1, "a", "1", NULL),
		noop_entry(2),
		cmd_entry(3, CAIRN_KV_PUT, 1, 2, "b", "2", NULL),
	};
	struct cairn_kv_result res[3];
	cr_assert_eq(cairn_kv_apply(kv, batch, 3, res), 0);
	cr_assert_eq(res[2].index, 3);
	close_kv();
	open_kv(NULL);
	cr_assert_eq(cairn_kv_applied(kv), 3);
	expect_value("a", "1");
	expect_value("b", "2");
	struct cairn_raft_entry again = cmd_entry(3, CAIRN_KV_PUT, 1, 3, "c", "3", NULL);
	cr_assert_eq(cairn_kv_apply(kv, &again, 1, res), CAIRN_EINVAL, "already applied");
	struct cairn_raft_entry gap = cmd_entry(5, CAIRN_KV_PUT, 1, 3, "c", "3", NULL);
	cr_assert_eq(cairn_kv_apply(kv, &gap, 1, res), CAIRN_EINVAL, "gap");
	expect_value("c", NULL);
	cr_assert_eq(cairn_kv_applied(kv), 3);
	cr_assert_eq(put(1, 3, "c", "3").index, 4);
}

Test(kv, failed_batch_applies_nothing)
{
	struct cairn_raft_entry batch[2] = {
		cmd_entry(1, CAIRN_KV_PUT, 1, 1, "a", "1", NULL),
		cmd_entry(3, CAIRN_KV_PUT, 1, 2, "b", "2", NULL),
	};
	struct cairn_kv_result res[2];
	cr_assert_eq(cairn_kv_apply(kv, batch, 2, res), CAIRN_EINVAL);
	expect_value("a", NULL);
	cr_assert_eq(cairn_kv_applied(kv), 0);
}

Test(kv, get_reports_the_applied_index_it_saw)
{
	put(0, 0, "a", "1");
	put(0, 0, "b", "2");
	uint64_t applied = 0;
	cr_assert_eq(cairn_kv_get(kv, "a", 1, &value, &applied), 0);
	cr_assert_eq(applied, 2);
}

Test(kv, idle_sessions_expire_after_the_window)
{
	close_kv();
	struct cairn_kv_options opt = {.session_idle_entries = 3};
	open_kv(&opt);
	put(9, 1, "a", "x");                            /* index 1: session last used at 1 */
	apply1(noop_entry(2));                          /* idle 1 */
	apply1(noop_entry(3));                          /* idle 2 */
	struct cairn_kv_result r = put(9, 1, "a", "x"); /* index 4: 4 - 1 = 3, kept */
	cr_assert(r.duplicate, "within the window the retry is answered from the session");
	for (uint64_t i = 5; i <= 8; i++)
		apply1(noop_entry(i)); /* index 8: 8 - 4 = 4 > 3, expired */
	uint64_t n = 1;
	cr_assert_eq(cairn_kv_sessions(kv, &n), 0);
	cr_assert_eq(n, 0);
	r = put(9, 1, "a", "y");
	cr_assert_not(r.duplicate, "expired: a new session");
	expect_value("a", "y");
}

Test(kv, least_recently_used_session_is_evicted_above_the_cap)
{
	close_kv();
	struct cairn_kv_options opt = {.sessions_max = 2};
	open_kv(&opt);
	put(1, 1, "a", "1"); /* index 1 */
	put(2, 1, "b", "1"); /* index 2 */
	put(1, 1, "a", "1"); /* duplicate refreshes client 1 (index 3) */
	put(3, 1, "c", "1"); /* index 4: client 2 is least recently used */
	uint64_t n = 0;
	cr_assert_eq(cairn_kv_sessions(kv, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(put(1, 1, "a", "1").duplicate, "client 1 kept");
	cr_assert(put(3, 1, "c", "1").duplicate, "client 3 kept");
	cr_assert_not(put(2, 1, "b", "1").duplicate, "client 2 was evicted");
}

/* The same entries applied in different batch splits leave identical
 * sessions and results: expiry depends on the applied sequence only. */
Test(kv, expiry_does_not_depend_on_batching)
{
	close_kv();
	struct cairn_kv_options opt = {.sessions_max = 3, .session_idle_entries = 5};
	enum { N = 60 };
	static struct cairn_raft_entry entries[N];
	for (uint64_t i = 1; i <= N; i++) {
		uint64_t client = 1 + (i * 7) % 5;
		uint64_t seq = i % 4 == 0 ? i - 1 : i; /* some retries, some stale */
		char key[8];
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)(i % 6));
		entries[i - 1] = i % 9 == 0
					 ? noop_entry(i)
					 : cmd_entry(i, CAIRN_KV_PUT, client, seq, key, key, NULL);
	}
	static struct cairn_kv_result one[N], split[N];
	open_kv(&opt);
	cr_assert_eq(cairn_kv_apply(kv, entries, N, one), 0);
	uint64_t sessions_one = 0;
	cr_assert_eq(cairn_kv_sessions(kv, &sessions_one), 0);
	close_kv();
	tmpdir_remove();
	tmpdir_make();
	open_kv(&opt);
	size_t at = 0, step = 1;
	while (at < N) {
		size_t n = at + step > N ? N - at : step;
		cr_assert_eq(cairn_kv_apply(kv, entries + at, n, split + at), 0);
		at += n;
		step = step % 7 + 1;
	}
	uint64_t sessions_split = 0;
	cr_assert_eq(cairn_kv_sessions(kv, &sessions_split), 0);
	cr_assert_eq(sessions_one, sessions_split);
	for (size_t i = 0; i < N; i++) {
		cr_assert_eq(one[i].status, split[i].status, "entry %zu", i + 1);
		cr_assert_eq(one[i].duplicate, split[i].duplicate, "entry %zu", i + 1);
	}
}

Test(kv, applied_entries_cannot_be_truncated_or_overwritten)
{
	cr_assert_eq(cairn_storage_append(store, make_entries(1, 5, 1), 5, NULL), 0);
	apply1(noop_entry(1));
	apply1(noop_entry(2));
	apply1(noop_entry(3));
	cr_assert_eq(cairn_storage_truncate_suffix(store, 3), CAIRN_EINVAL);
	cr_assert_eq(cairn_storage_append(store, make_entries(3, 3, 2), 1, NULL), CAIRN_EINVAL);
	cr_assert_eq(cairn_storage_truncate_suffix(store, 4), 0);
	cr_assert_eq(cairn_storage_append(store, make_entries(4, 4, 2), 1, NULL), 0);
}

Test(kv, drop_prefix_through_applied_keeps_the_log_usable)
{
	cr_assert_eq(cairn_storage_append(store, make_entries(1, 6, 1), 6, NULL), 0);
	for (uint64_t i = 1; i <= 4; i++)
		apply1(noop_entry(i));
	cr_assert_eq(cairn_storage_drop_prefix(store, 5), CAIRN_EINVAL, "not applied");
	cr_assert_eq(cairn_storage_drop_prefix(store, 3), 0);
	struct cairn_storage_bounds b;
	cr_assert_eq(cairn_storage_bounds(store, &b), 0);
	cr_assert_eq(b.prev_index, 3);
	cr_assert_eq(b.prev_term, 1);
	cr_assert_eq(b.first_index, 4);
	cr_assert_eq(b.last_index, 6);
	struct cairn_storage_entries e = {0};
	cr_assert_eq(cairn_storage_read(store, 3, 4, &e), CAIRN_ENOTFOUND);
	cr_assert_eq(cairn_storage_drop_prefix(store, 2), 0, "already dropped: nothing to do");
	cr_assert_eq(cairn_storage_append(store, make_entries(7, 7, 2), 1, NULL), 0);
	struct cairn_raft_restore rs;
	cr_assert_eq(cairn_storage_load(store, &rs, &e), 0);
	cr_assert_eq(rs.first_prev_index, 3);
	cr_assert_eq(rs.first_prev_term, 1);
	cr_assert_eq(rs.n_log, 4);
	cr_assert_eq(rs.log[0].index, 4);
	cr_assert_eq(rs.applied, 4);
	cairn_storage_entries_free(&e);
}

Test(kv, map_grows_past_a_tiny_start)
{
	close_kv();
	struct cairn_storage_options o = {.dir = tmpdir_path(),
					  .cluster_id = TEST_CLUSTER,
					  .member_id = 1,
					  .create = true,
					  .map_bytes = 256 * 1024};
	char msg[256];
	cr_assert_eq(cairn_storage_open(&store, &o, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(cairn_kv_open(&kv, store, NULL), 0);
	static uint8_t v[16 * 1024];
	for (uint32_t i = 0; i < 128; i++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "key%u", i);
		memset(v, (int)i, sizeof(v));
		apply1(cmd_entry_bytes(next_index(), CAIRN_KV_PUT, 0, 0, key, (uint32_t)kl, v,
				       sizeof(v)));
	}
	struct cairn_storage_stats st;
	cairn_storage_stats(store, &st);
	cr_assert_gt(st.map_grows, 0);
	cr_assert_gt(st.map_bytes, 2 * 1024 * 1024);
	close_kv();
	open_kv(NULL);
	for (uint32_t i = 0; i < 128; i++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "key%u", i);
		cr_assert_eq(cairn_kv_get(kv, key, (size_t)kl, &value, NULL), 0);
		cr_assert_eq(value.len, sizeof(v));
		cr_assert_eq(value.data[100], (uint8_t)i);
	}
}

Test(kv, full_map_at_its_ceiling_fails_writes_and_keeps_committed_data)
{
	close_kv();
	struct cairn_storage_options o = {.dir = tmpdir_path(),
					  .cluster_id = TEST_CLUSTER,
					  .member_id = 1,
					  .create = true,
					  .map_bytes = 256 * 1024,
					  .map_bytes_max = 1024 * 1024};
	char msg[256];
	cr_assert_eq(cairn_storage_open(&store, &o, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(cairn_kv_open(&kv, store, NULL), 0);
	static uint8_t v[64 * 1024];
	memset(v, 'v', sizeof(v));
	int rv = 0;
	uint64_t i = 0;
	while (rv == 0 && i < 64) {
		struct cairn_raft_entry e = cmd_entry_bytes(next_index(), CAIRN_KV_PUT, 0, 0, &i,
							    sizeof(i), v, sizeof(v));
		struct cairn_kv_result r;
		rv = cairn_kv_apply(kv, &e, 1, &r);
		i++;
	}
	cr_assert_eq(rv, CAIRN_ENOSPACE);
	cr_assert_eq(cairn_storage_failed(store), CAIRN_ENOSPACE);
	uint64_t applied = cairn_kv_applied(kv);
	cr_assert_gt(applied, 0);
	struct cairn_raft_hard_state hs = {.term = 1};
	cr_assert_eq(cairn_storage_set_hard_state(store, &hs), CAIRN_ENOSPACE, "sticky");
	close_kv();
	open_kv(NULL);
	cr_assert_eq(cairn_kv_applied(kv), applied);
	for (uint64_t k = 0; k < applied; k++)
		cr_assert_eq(cairn_kv_get(kv, &k, sizeof(k), &value, NULL), 0);
}

struct reader_state {
	atomic_bool stop;
	atomic_ulong reads;
	atomic_int bad;
	struct cairn_kv *kv;
};

/* Reads "hot" in a loop: every value seen must be one a put wrote whole. */
static void *reader_main(void *arg)
{
	struct reader_state *rs = arg;
	struct cairn_buf v;
	cairn_buf_init(&v, 0);
	while (!atomic_load(&rs->stop)) {
		int rv = cairn_kv_get(rs->kv, "hot", 3, &v, NULL);
		if (rv == CAIRN_ENOTFOUND)
			continue;
		if (rv != 0 || v.len != 4096)
			atomic_fetch_add(&rs->bad, 1);
		for (size_t i = 1; rv == 0 && i < v.len; i++)
			if (v.data[i] != v.data[0]) {
				atomic_fetch_add(&rs->bad, 1);
				break;
			}
		atomic_fetch_add(&rs->reads, 1);
	}
	cairn_buf_free(&v);
	return NULL;
}

Test(kv, reads_on_another_thread_run_through_writes_and_map_growth)
{
	close_kv();
	struct cairn_storage_options o = {.dir = tmpdir_path(),
					  .cluster_id = TEST_CLUSTER,
					  .member_id = 1,
					  .create = true,
					  .map_bytes = 128 * 1024};
	char msg[256];
	cr_assert_eq(cairn_storage_open(&store, &o, msg, sizeof(msg)), 0, "%s", msg);
	cr_assert_eq(cairn_kv_open(&kv, store, NULL), 0);
	struct reader_state rs = {.kv = kv};
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, reader_main, &rs), 0);
	static uint8_t v[4096];
	for (uint32_t i = 0; i < 150; i++) {
		char key[16];
		int kl = snprintf(key, sizeof(key), "fill%u", i);
		memset(v, 'a' + (int)(i % 26), sizeof(v));
		struct cairn_raft_entry batch[2] = {
			cmd_entry_bytes(next_index(), CAIRN_KV_PUT, 0, 0, "hot", 3, v, sizeof(v)),
			cmd_entry_bytes(next_index() + 1, CAIRN_KV_PUT, 0, 0, key, (uint32_t)kl, v,
					sizeof(v)),
		};
		struct cairn_kv_result res[2];
		cr_assert_eq(cairn_kv_apply(kv, batch, 2, res), 0);
	}
	atomic_store(&rs.stop, true);
	pthread_join(t, NULL);
	struct cairn_storage_stats st;
	cairn_storage_stats(store, &st);
	cr_assert_gt(st.map_grows, 0);
	cr_assert_gt(atomic_load(&rs.reads), 0);
	cr_assert_eq(atomic_load(&rs.bad), 0);
}
