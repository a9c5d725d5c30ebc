/*
 * kv.c - the key-value state machine: applying committed entries, client
 * sessions for exactly-once writes, and reads.
 *
 * A batch is applied inside one write transaction together with the
 * applied index (its own, cairn_kv_apply, or the storage thread's shared
 * one, kv/apply.h); the function may be run again from scratch when the map
 * grows, so it reads every input from the transaction and only overwrites
 * its outputs. The in-memory applied index moves only after the commit.
 *
 * Keys: LMDB keys are at most 511 bytes, user keys up to 1024. A key of at
 * most 510 bytes is stored as 0x00 + key. A longer key is stored as
 * 0x01 + its first 400 bytes + FNV-1a-64 of the whole key + a u16 slot, and
 * its value record starts with the full key (u16 length, bytes); lookups
 * scan the few records sharing the stem and compare full keys, so hash
 * collisions are harmless.
 *
 * Sessions: `sessions` maps client id (u64 BE) to seq u64, last-use index
 * u64, status u8; `sessions_lru` maps last-use index (u64 BE) to client id,
 * so the least recently used and the idle sessions are found at its front.
 */
#include "kv/kv.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "kv/apply.h"
#include "storage/txn.h"
#include "util/buf.h"

#define SHORT_KEY_MAX 510u
#define LONG_PREFIX 400u
#define LONG_STEM (1u + LONG_PREFIX + 8u)
#define LKEY_MAX (LONG_STEM + 2u)
#define SESSION_BYTES 17u

_Static_assert(CAIRN_KEY_BYTES_MAX <= 0xffffu, "long keys store their length in 16 bits");
_Static_assert(SHORT_KEY_MAX + 1 <= 511, "short keys fit LMDB's key limit");

struct cairn_kv {
	struct cairn_storage *storage;
	uint32_t sessions_max;
	uint64_t session_idle_entries;
	_Atomic uint64_t applied;
};

/* Where a user key lives in the kv database. */
struct lkey {
	uint8_t b[LKEY_MAX];
	size_t len;
};

static uint64_t fnv64(const uint8_t *p, size_t n)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

/* Scan the records sharing a long key's stem. On 0 the key was found at
 * *lk and *val is its user value; on MDB_NOTFOUND *lk is a free slot. */
static int find_long(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t len, struct lkey *lk,
		     MDB_val *val)
{
	lk->b[0] = 1;
	memcpy(lk->b + 1, key, LONG_PREFIX);
	cairn_put_be64(lk->b + 1 + LONG_PREFIX, fnv64(key, len));
	lk->len = LKEY_MAX;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	MDB_val k = {LONG_STEM, lk->b}, v;
	uint32_t next_slot = 0;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == LKEY_MAX && memcmp(k.mv_data, lk->b, LONG_STEM) == 0) {
		const uint8_t *kp = k.mv_data, *vp = v.mv_data;
		uint32_t slot = ((uint32_t)kp[LONG_STEM] << 8) | kp[LONG_STEM + 1];
		next_slot = slot + 1;
		if (v.mv_size >= 2 + len && (((size_t)vp[0] << 8) | vp[1]) == len &&
		    memcmp(vp + 2, key, len) == 0) {
			lk->b[LONG_STEM] = kp[LONG_STEM];
			lk->b[LONG_STEM + 1] = kp[LONG_STEM + 1];
			val->mv_size = v.mv_size - 2 - len;
			val->mv_data = (uint8_t *)v.mv_data + 2 + len;
			mdb_cursor_close(c);
			return 0;
		}
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	if (next_slot > 0xffff)
		return CAIRN_EFULL; /* 65536 full-hash collisions: not in this universe */
	lk->b[LONG_STEM] = (uint8_t)(next_slot >> 8);
	lk->b[LONG_STEM + 1] = (uint8_t)next_slot;
	return MDB_NOTFOUND;
}

static int kv_find(MDB_txn *txn, MDB_dbi dbi, const uint8_t *key, size_t len, struct lkey *lk,
		   MDB_val *val)
{
	assert(len >= 1 && len <= CAIRN_KEY_BYTES_MAX);
	if (len > SHORT_KEY_MAX)
		return find_long(txn, dbi, key, len, lk, val);
	lk->b[0] = 0;
	memcpy(lk->b + 1, key, len);
	lk->len = len + 1;
	MDB_val k = {lk->len, lk->b};
	return mdb_get(txn, dbi, &k, val);
}

/* Store value under *lk as kv_find left it. */
static int kv_store(MDB_txn *txn, MDB_dbi dbi, const struct lkey *lk, const uint8_t *key,
		    size_t len, const uint8_t *value, size_t value_len)
{
	MDB_val k = {lk->len, (void *)(uintptr_t)lk->b};
	if (lk->b[0] == 0) {
		MDB_val v = {value_len, (void *)(uintptr_t)value};
		return mdb_put(txn, dbi, &k, &v, 0);
	}
	MDB_val v = {2 + len + value_len, NULL};
	int rc = mdb_put(txn, dbi, &k, &v, MDB_RESERVE);
	if (rc != 0)
		return rc;
	uint8_t *p = v.mv_data;
	p[0] = (uint8_t)(len >> 8);
	p[1] = (uint8_t)len;
	memcpy(p + 2, key, len);
	if (value_len > 0)
		memcpy(p + 2 + len, value, value_len);
	return 0;
}

/* Run one decoded command against the kv database; *status its outcome. */
static int exec_cmd(MDB_txn *txn, MDB_dbi dbi, const struct cairn_kv_cmd *cmd, uint8_t *status)
{
	struct lkey lk;
	MDB_val cur;
	int rc = kv_find(txn, dbi, cmd->key, cmd->key_len, &lk, &cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	bool found = rc == 0;
	*status = CAIRN_KV_OK;
	switch (cmd->op) {
	case CAIRN_KV_PUT:
		return kv_store(txn, dbi, &lk, cmd->key, cmd->key_len, cmd->value, cmd->value_len);
	case CAIRN_KV_DEL:
		if (!found) {
			*status = CAIRN_KV_NOTFOUND;
			return 0;
		}
		MDB_val k = {lk.len, lk.b};
		return mdb_del(txn, dbi, &k, NULL);
	case CAIRN_KV_CAS:
		if (!found) {
			*status = CAIRN_KV_NOTFOUND;
			return 0;
		}
		if (cur.mv_size != cmd->expected_len ||
		    (cmd->expected_len > 0 &&
		     memcmp(cur.mv_data, cmd->expected, cur.mv_size) != 0)) {
			*status = CAIRN_KV_MISMATCH;
			return 0;
		}
		return kv_store(txn, dbi, &lk, cmd->key, cmd->key_len, cmd->value, cmd->value_len);
	default:
		assert(!"decode admits only known ops");
		return CAIRN_EINVAL;
	}
}

struct session {
	uint64_t seq;
	uint64_t last_index; /* index of the entry that last used it */
	uint8_t status;
};

static int session_get(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t client,
		       struct session *s, bool *found)
{
	uint8_t kb[8];
	cairn_put_be64(kb, client);
	MDB_val k = {8, kb}, v;
	int rc = mdb_get(txn, dbs->sessions, &k, &v);
	*found = rc == 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (v.mv_size != SESSION_BYTES)
		return CAIRN_ECORRUPT;
	const uint8_t *p = v.mv_data;
	s->seq = cairn_get_be64(p);
	s->last_index = cairn_get_be64(p + 8);
	s->status = p[16];
	return 0;
}

/* Write s for client, moving its lru record from old_index (0: none). */
static int session_put(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t client,
		       const struct session *s, uint64_t old_index)
{
	uint8_t kb[8], ib[8], vb[SESSION_BYTES];
	cairn_put_be64(kb, client);
	int rc = 0;
	if (old_index != 0) {
		cairn_put_be64(ib, old_index);
		MDB_val ok = {8, ib};
		rc = mdb_del(txn, dbs->sessions_lru, &ok, NULL);
		if (rc != 0)
			return rc == MDB_NOTFOUND ? CAIRN_ECORRUPT : rc;
	}
	cairn_put_be64(ib, s->last_index);
	MDB_val lk = {8, ib}, lv = {8, kb};
	rc = mdb_put(txn, dbs->sessions_lru, &lk, &lv, MDB_NOOVERWRITE);
	if (rc != 0)
		return rc == MDB_KEYEXIST ? CAIRN_ECORRUPT : rc;
	cairn_put_be64(vb, s->seq);
	cairn_put_be64(vb + 8, s->last_index);
	vb[16] = s->status;
	MDB_val k = {8, kb}, v = {sizeof(vb), vb};
	return mdb_put(txn, dbs->sessions, &k, &v, 0);
}

/* Remove the least recently used session if its last use is below
 * `below`; *removed tells whether one was. */
static int expire_front(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t below,
			bool *removed)
{
	*removed = false;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbs->sessions_lru, &c);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (rc == 0 && (k.mv_size != 8 || v.mv_size != 8))
		rc = CAIRN_ECORRUPT;
	if (rc == 0 && cairn_get_be64(k.mv_data) < below) {
		uint8_t cb[8];
		memcpy(cb, v.mv_data, 8);
		rc = mdb_cursor_del(c, 0);
		MDB_val ck = {8, cb};
		if (rc == 0)
			rc = mdb_del(txn, dbs->sessions, &ck, NULL);
		if (rc == MDB_NOTFOUND)
			rc = CAIRN_ECORRUPT;
		*removed = rc == 0;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Before applying index: drop sessions idle for more than the limit. */
static int expire_idle(const struct cairn_kv *kv, MDB_txn *txn, const struct cairn_storage_dbs *dbs,
		       uint64_t index)
{
	if (index <= kv->session_idle_entries)
		return 0;
	/* Expire when index - last > idle, i.e. last < index - idle. */
	uint64_t below = index - kv->session_idle_entries;
	bool removed = true;
	int rc = 0;
	while (rc == 0 && removed)
		rc = expire_front(txn, dbs, below, &removed);
	return rc;
}

/* After a new session: drop least recently used ones above the cap. */
static int expire_over_cap(const struct cairn_kv *kv, MDB_txn *txn,
			   const struct cairn_storage_dbs *dbs)
{
	for (;;) {
		MDB_stat st;
		int rc = mdb_stat(txn, dbs->sessions, &st);
		if (rc != 0 || st.ms_entries <= kv->sessions_max)
			return rc;
		bool removed = false;
		rc = expire_front(txn, dbs, UINT64_MAX, &removed);
		if (rc != 0)
			return rc;
		if (!removed)
			return CAIRN_ECORRUPT; /* sessions without lru records */
	}
}

/* Apply one command with its session bookkeeping. */
static int apply_cmd(const struct cairn_kv *kv, MDB_txn *txn, const struct cairn_storage_dbs *dbs,
		     const struct cairn_kv_cmd *cmd, uint64_t index, struct cairn_kv_result *r)
{
	if (cmd->client_id == 0)
		return exec_cmd(txn, dbs->kv, cmd, &r->status);
	struct session s;
	bool found = false;
	int rc = session_get(txn, dbs, cmd->client_id, &s, &found);
	if (rc != 0)
		return rc;
	if (found && cmd->seq < s.seq) {
		r->status = CAIRN_KV_STALE;
		return 0;
	}
	uint64_t old_index = found ? s.last_index : 0;
	if (found && s.last_index >= index)
		return CAIRN_ECORRUPT; /* sessions only move forward */
	if (found && cmd->seq == s.seq) {
		r->status = s.status;
		r->duplicate = true;
	} else {
		rc = exec_cmd(txn, dbs->kv, cmd, &r->status);
		if (rc != 0)
			return rc;
		s.seq = cmd->seq;
		s.status = r->status;
	}
	s.last_index = index;
	rc = session_put(txn, dbs, cmd->client_id, &s, old_index);
	if (rc == 0 && !found)
		rc = expire_over_cap(kv, txn, dbs);
	return rc;
}

static int apply_entry(const struct cairn_kv *kv, MDB_txn *txn, const struct cairn_storage_dbs *dbs,
		       const struct cairn_raft_entry *e, struct cairn_kv_result *r)
{
	assert(e->index > 0);
	memset(r, 0, sizeof(*r));
	r->index = e->index;
	r->status = CAIRN_KV_OK;
	int rc = expire_idle(kv, txn, dbs, e->index);
	if (rc != 0 || e->type == CAIRN_RAFT_ENTRY_NOOP)
		return rc;
	struct cairn_kv_cmd cmd;
	if (e->type != CAIRN_RAFT_ENTRY_NORMAL || cairn_kv_cmd_decode(e->data, e->len, &cmd) != 0) {
		r->status = CAIRN_KV_BADCMD;
		return 0;
	}
	r->client_id = cmd.client_id;
	r->seq = cmd.seq;
	return apply_cmd(kv, txn, dbs, &cmd, e->index, r);
}

int cairn_kv_apply_in_txn(const struct cairn_kv *kv, MDB_txn *txn,
			  const struct cairn_storage_dbs *dbs,
			  const struct cairn_raft_entry *entries, size_t n,
			  struct cairn_kv_result *results)
{
	assert(n > 0 && entries != NULL && results != NULL);
	for (size_t i = 1; i < n; i++)
		if (entries[i].index != entries[i - 1].index + 1)
			return CAIRN_EINVAL;
	uint64_t applied = 0;
	int rc = cairn_storage_meta_get_u64(txn, dbs, CAIRN_META_APPLIED, &applied);
	if (rc != 0)
		return rc;
	if (entries[0].index != applied + 1)
		return CAIRN_EINVAL;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = apply_entry(kv, txn, dbs, &entries[i], &results[i]);
	if (rc == 0)
		rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_APPLIED_TERM,
						entries[n - 1].term);
	if (rc != 0)
		return rc;
	return cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_APPLIED, entries[n - 1].index);
}

void cairn_kv_publish_applied(struct cairn_kv *kv, uint64_t applied)
{
	uint64_t was = atomic_load(&kv->applied);
	assert(applied >= was); /* one writer: the storage thread */
	(void)was;
	atomic_store(&kv->applied, applied);
}

struct apply_args {
	const struct cairn_kv *kv;
	const struct cairn_raft_entry *entries;
	size_t n;
	struct cairn_kv_result *results;
};

static int apply_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct apply_args *a = arg;
	return cairn_kv_apply_in_txn(a->kv, txn, dbs, a->entries, a->n, a->results);
}

int cairn_kv_apply(struct cairn_kv *kv, const struct cairn_raft_entry *entries, size_t n,
		   struct cairn_kv_result *results)
{
	if (n == 0)
		return 0;
	struct apply_args a = {kv, entries, n, results};
	int rv = cairn_storage_write_txn(kv->storage, apply_fn, &a);
	if (rv == 0)
		cairn_kv_publish_applied(kv, entries[n - 1].index);
	return rv;
}

uint64_t cairn_kv_applied(const struct cairn_kv *kv)
{
	return atomic_load(&kv->applied);
}

struct pos_args {
	uint64_t index;
	uint64_t term;
};

static int pos_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct pos_args *a = arg;
	return cairn_storage_applied_pos_in_txn(txn, dbs, &a->index, &a->term);
}

int cairn_kv_applied_pos(struct cairn_kv *kv, uint64_t *index, uint64_t *term)
{
	struct pos_args a = {0, 0};
	int rv = cairn_storage_read_txn(kv->storage, pos_fn, &a);
	if (rv == 0) {
		*index = a.index;
		*term = a.term;
	}
	return rv;
}

struct cairn_storage *cairn_kv_storage(const struct cairn_kv *kv)
{
	return kv->storage;
}

int cairn_kv_record_check(int db, const uint8_t *key, size_t key_len, const uint8_t *val,
			  size_t val_len)
{
	switch (db) {
	case CAIRN_KV_DB_KV:
		if (key_len >= 2 && key_len <= 1 + SHORT_KEY_MAX && key[0] == 0)
			return val_len <= CAIRN_VALUE_BYTES_MAX ? 0 : CAIRN_EPROTO;
		if (key_len != LKEY_MAX || key[0] != 1 || val_len < 2)
			return CAIRN_EPROTO;
		size_t len = ((size_t)val[0] << 8) | val[1];
		if (len <= SHORT_KEY_MAX || len > CAIRN_KEY_BYTES_MAX || val_len < 2 + len ||
		    val_len - 2 - len > CAIRN_VALUE_BYTES_MAX)
			return CAIRN_EPROTO;
		/* The stem must be the one the full key maps to. */
		if (memcmp(key + 1, val + 2, LONG_PREFIX) != 0 ||
		    cairn_get_be64(key + 1 + LONG_PREFIX) != fnv64(val + 2, len))
			return CAIRN_EPROTO;
		return 0;
	case CAIRN_KV_DB_SESSIONS:
		if (key_len != 8 || val_len != SESSION_BYTES || cairn_get_be64(key) == 0 ||
		    cairn_get_be64(val + 8) == 0 || val[16] > CAIRN_KV_BADCMD)
			return CAIRN_EPROTO;
		return 0;
	case CAIRN_KV_DB_SESSIONS_LRU:
		if (key_len != 8 || val_len != 8 || cairn_get_be64(key) == 0 ||
		    cairn_get_be64(val) == 0)
			return CAIRN_EPROTO;
		return 0;
	default:
		return CAIRN_EPROTO;
	}
}

int cairn_kv_sessions_check_in_txn(MDB_txn *txn, MDB_dbi sessions, MDB_dbi lru, uint64_t index_max)
{
	MDB_stat ss, ls;
	int rc = mdb_stat(txn, sessions, &ss);
	if (rc == 0)
		rc = mdb_stat(txn, lru, &ls);
	if (rc != 0)
		return rc;
	if (ss.ms_entries != ls.ms_entries)
		return CAIRN_EPROTO;
	MDB_cursor *c;
	rc = mdb_cursor_open(txn, lru, &c);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size != 8 || v.mv_size != 8 || cairn_get_be64(k.mv_data) > index_max) {
			rc = CAIRN_EPROTO; /* a last use after the state's own index */
			break;
		}
		MDB_val sk = v, sv;
		rc = mdb_get(txn, sessions, &sk, &sv);
		if (rc == MDB_NOTFOUND ||
		    (rc == 0 && (sv.mv_size != SESSION_BYTES ||
				 memcmp((const uint8_t *)sv.mv_data + 8, k.mv_data, 8) != 0)))
			rc = CAIRN_EPROTO; /* each lru record names its session's last use */
		if (rc == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Full keys of the current run of long records sharing a stem, copied
 * out (pages read in a write transaction may move as it writes). */
struct key_run {
	uint8_t stem[LONG_STEM];
	bool open;
	size_t n, cap;
	uint8_t (*keys)[CAIRN_KEY_BYTES_MAX];
	uint16_t *lens;
};

static int run_add(struct key_run *r, const uint8_t *key, size_t len)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->lens[i] == len && memcmp(r->keys[i], key, len) == 0)
			return CAIRN_EPROTO; /* one key stored twice */
	if (r->n == r->cap) {
		size_t cap = r->cap == 0 ? 4 : r->cap * 2;
		void *keys = realloc(r->keys, cap * sizeof(*r->keys));
		if (keys == NULL)
			return CAIRN_ENOMEM;
		r->keys = keys;
		void *lens = realloc(r->lens, cap * sizeof(*r->lens));
		if (lens == NULL)
			return CAIRN_ENOMEM;
		r->lens = lens;
		r->cap = cap;
	}
	memcpy(r->keys[r->n], key, len);
	r->lens[r->n] = (uint16_t)len;
	r->n++;
	return 0;
}

int cairn_kv_long_keys_check_in_txn(MDB_txn *txn, MDB_dbi dbi)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	struct key_run run = {.open = false};
	MDB_val k = {1, (void *)(uintptr_t) "\x01"}, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); /* long keys sort last */
	while (rc == 0) {
		const uint8_t *kp = k.mv_data, *vp = v.mv_data;
		if (k.mv_size != LKEY_MAX || kp[0] != 1 || v.mv_size < 2) {
			rc = CAIRN_EPROTO;
			break;
		}
		size_t len = ((size_t)vp[0] << 8) | vp[1];
		if (len > CAIRN_KEY_BYTES_MAX || v.mv_size < 2 + len) {
			rc = CAIRN_EPROTO;
			break;
		}
		if (!run.open || memcmp(run.stem, kp, LONG_STEM) != 0) {
			memcpy(run.stem, kp, LONG_STEM);
			run.open = true;
			run.n = 0;
		}
		rc = run_add(&run, vp + 2, len);
		if (rc == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	free(run.keys);
	free(run.lens);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

struct get_args {
	const uint8_t *key;
	size_t key_len;
	struct cairn_buf *value;
	uint64_t applied;
};

static int get_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct get_args *a = arg;
	int rc = cairn_storage_meta_get_u64(txn, dbs, CAIRN_META_APPLIED, &a->applied);
	if (rc != 0)
		return rc;
	struct lkey lk;
	MDB_val v;
	rc = kv_find(txn, dbs->kv, a->key, a->key_len, &lk, &v);
	if (rc != 0)
		return rc == MDB_NOTFOUND ? CAIRN_ENOTFOUND : rc;
	/* v points into the map, valid only in this transaction: copy. */
	return cairn_buf_append(a->value, v.mv_data, v.mv_size);
}

int cairn_kv_get(struct cairn_kv *kv, const void *key, size_t key_len, struct cairn_buf *value,
		 uint64_t *applied_out)
{
	if (key == NULL || key_len < 1 || key_len > CAIRN_KEY_BYTES_MAX)
		return CAIRN_EINVAL;
	cairn_buf_reset(value);
	struct get_args a = {key, key_len, value, 0};
	int rv = cairn_storage_read_txn(kv->storage, get_fn, &a);
	if ((rv == 0 || rv == CAIRN_ENOTFOUND) && applied_out != NULL)
		*applied_out = a.applied;
	return rv;
}

static int count_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	MDB_stat st;
	int rc = mdb_stat(txn, dbs->sessions, &st);
	if (rc == 0)
		*(uint64_t *)arg = st.ms_entries;
	return rc;
}

int cairn_kv_sessions(struct cairn_kv *kv, uint64_t *count)
{
	return cairn_storage_read_txn(kv->storage, count_fn, count);
}

int cairn_kv_open(struct cairn_kv **out, struct cairn_storage *s,
		  const struct cairn_kv_options *opt)
{
	uint64_t applied = 0;
	int rv = cairn_storage_applied(s, &applied);
	if (rv != 0)
		return rv;
	struct cairn_kv *kv = calloc(1, sizeof(*kv));
	if (kv == NULL)
		return CAIRN_ENOMEM;
	kv->storage = s;
	kv->sessions_max =
		opt != NULL && opt->sessions_max != 0 ? opt->sessions_max : CAIRN_SESSIONS_MAX;
	kv->session_idle_entries = opt != NULL && opt->session_idle_entries != 0
					   ? opt->session_idle_entries
					   : CAIRN_SESSION_IDLE_ENTRIES;
	atomic_store(&kv->applied, applied);
	*out = kv;
	return 0;
}

void cairn_kv_close(struct cairn_kv *kv)
{
	free(kv);
}
