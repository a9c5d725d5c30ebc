/*
 * snapshot.c - exporting the state machine's state as chunks (snapshot.h)
 * and importing them on the storage thread (snap_txn.h).
 *
 * The reader walks kv, sessions and sessions_lru in order inside one long
 * read transaction (storage txn.h). Each call opens a fresh cursor and
 * seeks just past the last key it handed out, so nothing of LMDB's survives
 * between calls but the transaction itself.
 *
 * The importer appends staged records with MDB_APPEND, which refuses a key
 * not above the database's last one (MDB_KEYEXIST): the order across chunks
 * is checked for free, and a chunk is checked whole before anything of it
 * is written.
 */
#include "kv/snapshot.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "kv/apply.h"
#include "kv/snap_txn.h"
#include "storage/txn.h"
#include "util/buf.h"

#define KEY_MAX 511u /* LMDB's key limit, and the largest key kv.c writes */
#define DB_FIRST CAIRN_KV_DB_KV
#define DB_LAST CAIRN_KV_DB_SESSIONS_LRU
#define STAGE_BYTES 25u

/* The largest record: a long key's stem, its full key and a largest value. */
_Static_assert(CAIRN_KV_SNAP_HEADER_BYTES + CAIRN_KV_SNAP_RECORD_HEADER_BYTES + KEY_MAX + 2u +
			       CAIRN_KEY_BYTES_MAX + CAIRN_VALUE_BYTES_MAX <=
		       CAIRN_SNAPSHOT_CHUNK_BYTES,
	       "a chunk holds the largest record");

struct cairn_kv_snap_reader {
	struct cairn_storage *storage;
	struct cairn_storage_long_read *lr;
	int db;      /* the database being read; DB_LAST + 1 once all are */
	bool resume; /* last_key is the last key handed out of db */
	bool done;   /* the final chunk was handed out */
	int err;     /* sticky error */
	size_t last_key_len;
	uint8_t last_key[KEY_MAX];
};

static MDB_dbi live_dbi(const struct cairn_storage_dbs *dbs, int db)
{
	return db == CAIRN_KV_DB_KV         ? dbs->kv
	       : db == CAIRN_KV_DB_SESSIONS ? dbs->sessions
					    : dbs->sessions_lru;
}

static MDB_dbi staged_dbi(const struct cairn_storage_dbs *dbs, int db)
{
	return db == CAIRN_KV_DB_KV         ? dbs->snap_kv
	       : db == CAIRN_KV_DB_SESSIONS ? dbs->snap_sessions
					    : dbs->snap_sessions_lru;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* LMDB's default key order: bytes, then the shorter first. */
static int key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);
	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* ---- the format ---- */

struct record {
	int db;
	const uint8_t *key;
	size_t key_len;
	const uint8_t *val;
	size_t val_len;
};

typedef int (*record_fn)(void *arg, const struct record *r);

/* Check p[0..len) whole; with fn, then call it for every record in order
 * (stopping at its first non-zero return, which is returned). */
static int parse_chunk(const uint8_t *p, size_t len, bool *last, record_fn fn, void *arg)
{
	if (p == NULL || len < CAIRN_KV_SNAP_HEADER_BYTES || len > CAIRN_SNAPSHOT_CHUNK_BYTES)
		return CAIRN_EPROTO;
	if (cairn_get_be32(p) != CAIRN_KV_SNAP_MAGIC || p[4] != CAIRN_KV_SNAP_VERSION ||
	    (p[5] & ~CAIRN_KV_SNAP_FLAG_LAST) != 0 || p[6] != 0 || p[7] != 0)
		return CAIRN_EPROTO;
	if (last != NULL)
		*last = (p[5] & CAIRN_KV_SNAP_FLAG_LAST) != 0;
	for (int pass = 0; pass < (fn != NULL ? 2 : 1); pass++) {
		struct record prev = {0};
		size_t off = CAIRN_KV_SNAP_HEADER_BYTES;
		while (off < len) {
			if (len - off < CAIRN_KV_SNAP_RECORD_HEADER_BYTES)
				return CAIRN_EPROTO;
			struct record r;
			r.db = p[off];
			r.key_len = get_be16(p + off + 1);
			r.val_len = cairn_get_be32(p + off + 3);
			off += CAIRN_KV_SNAP_RECORD_HEADER_BYTES;
			if (r.db < DB_FIRST || r.db > DB_LAST || r.key_len < 1 ||
			    r.key_len > KEY_MAX || len - off < r.key_len ||
			    len - off - r.key_len < r.val_len)
				return CAIRN_EPROTO;
			r.key = p + off;
			r.val = p + off + r.key_len;
			off += r.key_len + r.val_len;
			if (pass == 1) {
				int rc = fn(arg, &r);
				if (rc != 0)
					return rc;
				continue;
			}
			if (cairn_kv_record_check(r.db, r.key, r.key_len, r.val, r.val_len) != 0)
				return CAIRN_EPROTO;
			if (prev.key != NULL &&
			    (r.db < prev.db || (r.db == prev.db && key_cmp(prev.key, prev.key_len,
									   r.key, r.key_len) >= 0)))
				return CAIRN_EPROTO;
			prev = r;
		}
	}
	return 0;
}

int cairn_kv_snap_chunk_check(const uint8_t *p, size_t len)
{
	return parse_chunk(p, len, NULL, NULL, NULL);
}

/* ---- export ---- */

struct open_args {
	uint64_t index;
	uint64_t term;
};

static int open_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct open_args *a = arg;
	return cairn_storage_applied_pos_in_txn(txn, dbs, &a->index, &a->term);
}

int cairn_kv_snap_reader_open(struct cairn_kv *kv, struct cairn_kv_snap_reader **out,
			      uint64_t *index, uint64_t *term)
{
	struct cairn_kv_snap_reader *rd = calloc(1, sizeof(*rd));
	if (rd == NULL)
		return CAIRN_ENOMEM;
	rd->storage = cairn_kv_storage(kv);
	rd->db = DB_FIRST;
	int rv = cairn_storage_long_read_begin(rd->storage, &rd->lr);
	if (rv != 0) {
		free(rd);
		return rv;
	}
	struct open_args a = {0, 0};
	rv = cairn_storage_long_read_step(rd->storage, rd->lr, open_fn, &a);
	if (rv != 0) {
		cairn_kv_snap_reader_close(rd);
		return rv;
	}
	*index = a.index;
	*term = a.term;
	*out = rd;
	return 0;
}

struct fill_args {
	struct cairn_kv_snap_reader *rd;
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool last;
};

/* Append records of rd->db from where the reader stands while they fit.
 * *full: one did not fit. */
static int fill_db(MDB_txn *txn, const struct cairn_storage_dbs *dbs, struct fill_args *a,
		   bool *full)
{
	struct cairn_kv_snap_reader *rd = a->rd;
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, live_dbi(dbs, rd->db), &c);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	if (rd->resume) {
		k.mv_size = rd->last_key_len;
		k.mv_data = rd->last_key;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && key_cmp(k.mv_data, k.mv_size, rd->last_key, rd->last_key_len) == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	} else {
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	}
	*full = false;
	while (rc == 0) {
		if (k.mv_size < 1 || k.mv_size > KEY_MAX || v.mv_size > UINT32_MAX) {
			rc = CAIRN_ECORRUPT;
			break;
		}
		size_t bytes = CAIRN_KV_SNAP_RECORD_HEADER_BYTES + k.mv_size + v.mv_size;
		if (bytes > a->cap - a->len) {
			*full = true;
			break;
		}
		uint8_t *p = a->buf + a->len;
		p[0] = (uint8_t)rd->db;
		put_be16(p + 1, (uint16_t)k.mv_size);
		cairn_put_be32(p + 3, (uint32_t)v.mv_size);
		memcpy(p + CAIRN_KV_SNAP_RECORD_HEADER_BYTES, k.mv_data, k.mv_size);
		if (v.mv_size > 0)
			memcpy(p + CAIRN_KV_SNAP_RECORD_HEADER_BYTES + k.mv_size, v.mv_data,
			       v.mv_size);
		a->len += bytes;
		memcpy(rd->last_key, k.mv_data, k.mv_size);
		rd->last_key_len = k.mv_size;
		rd->resume = true;
		rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int fill_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct fill_args *a = arg;
	struct cairn_kv_snap_reader *rd = a->rd;
	while (rd->db <= DB_LAST) {
		bool full = false;
		int rc = fill_db(txn, dbs, a, &full);
		if (rc != 0)
			return rc;
		if (full)
			break;
		rd->db++;
		rd->resume = false;
	}
	a->last = rd->db > DB_LAST;
	return 0;
}

int cairn_kv_snap_reader_next(struct cairn_kv_snap_reader *rd, uint8_t *buf, size_t cap,
			      size_t *len, bool *last)
{
	if (rd->err != 0)
		return rd->err;
	if (rd->done || buf == NULL || cap < CAIRN_SNAPSHOT_CHUNK_BYTES)
		return CAIRN_EINVAL;
	struct fill_args a = {
		.rd = rd, .buf = buf, .cap = CAIRN_SNAPSHOT_CHUNK_BYTES, .len = 0, .last = false};
	a.len = CAIRN_KV_SNAP_HEADER_BYTES;
	int rv = cairn_storage_long_read_step(rd->storage, rd->lr, fill_fn, &a);
	if (rv != 0) {
		rd->err = rv; /* the reader may have moved: no way back */
		return rv;
	}
	cairn_put_be32(buf, CAIRN_KV_SNAP_MAGIC);
	buf[4] = CAIRN_KV_SNAP_VERSION;
	buf[5] = a.last ? CAIRN_KV_SNAP_FLAG_LAST : 0;
	buf[6] = 0;
	buf[7] = 0;
	*len = a.len;
	*last = a.last;
	rd->done = a.last;
	return 0;
}

void cairn_kv_snap_reader_close(struct cairn_kv_snap_reader *rd)
{
	if (rd == NULL)
		return;
	cairn_storage_long_read_end(rd->storage, rd->lr);
	free(rd);
}

/* ---- import ---- */

struct stage {
	uint64_t index;
	uint64_t term;
	uint64_t end; /* bytes of the stream staged */
	bool done;    /* the final chunk is staged */
};

static MDB_val stage_key(void)
{
	return (MDB_val){strlen(CAIRN_META_SNAP_STAGE), (void *)(uintptr_t)CAIRN_META_SNAP_STAGE};
}

static int stage_get(MDB_txn *txn, const struct cairn_storage_dbs *dbs, struct stage *st,
		     bool *present)
{
	MDB_val k = stage_key(), v;
	int rc = mdb_get(txn, dbs->meta, &k, &v);
	*present = rc == 0;
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	const uint8_t *p = v.mv_data;
	if (v.mv_size != STAGE_BYTES || p[24] > 1)
		return CAIRN_ECORRUPT;
	st->index = cairn_get_be64(p);
	st->term = cairn_get_be64(p + 8);
	st->end = cairn_get_be64(p + 16);
	st->done = p[24] != 0;
	return 0;
}

static int stage_put(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const struct stage *st)
{
	uint8_t b[STAGE_BYTES];
	cairn_put_be64(b, st->index);
	cairn_put_be64(b + 8, st->term);
	cairn_put_be64(b + 16, st->end);
	b[24] = st->done ? 1 : 0;
	MDB_val k = stage_key(), v = {sizeof(b), b};
	return mdb_put(txn, dbs->meta, &k, &v, 0);
}

/* Empty the staging databases and forget the staging. */
static int stage_clear(MDB_txn *txn, const struct cairn_storage_dbs *dbs)
{
	int rc = 0;
	for (int db = DB_FIRST; rc == 0 && db <= DB_LAST; db++)
		rc = mdb_drop(txn, staged_dbi(dbs, db), 0);
	if (rc != 0)
		return rc;
	MDB_val k = stage_key();
	rc = mdb_del(txn, dbs->meta, &k, NULL);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

struct put_args {
	MDB_txn *txn;
	const struct cairn_storage_dbs *dbs;
};

static int put_record(void *arg, const struct record *r)
{
	struct put_args *a = arg;
	MDB_val k = {r->key_len, (void *)(uintptr_t)r->key};
	MDB_val v = {r->val_len, (void *)(uintptr_t)r->val};
	int rc = mdb_put(a->txn, staged_dbi(a->dbs, r->db), &k, &v, MDB_APPEND);
	return rc == MDB_KEYEXIST ? CAIRN_EPROTO : rc; /* out of order */
}

/* Refuse the job with err and discard the staging (committed). */
static int refuse(MDB_txn *txn, const struct cairn_storage_dbs *dbs, int *refused, int err)
{
	*refused = err;
	return stage_clear(txn, dbs);
}

/* The staged state holds together (snap_txn.h): 0, CAIRN_EPROTO or an
 * LMDB / CAIRN_E* error. */
static int staged_check(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t index)
{
	int rc = cairn_kv_sessions_check_in_txn(txn, dbs->snap_sessions, dbs->snap_sessions_lru,
						index);
	if (rc == 0)
		rc = cairn_kv_long_keys_check_in_txn(txn, dbs->snap_kv);
	return rc;
}

int cairn_kv_snap_stage_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t index,
			       uint64_t term, uint64_t offset, const uint8_t *chunk, size_t len,
			       int *refused)
{
	*refused = 0;
	bool last = false;
	if (parse_chunk(chunk, len, &last, NULL, NULL) != 0)
		return refuse(txn, dbs, refused, CAIRN_EPROTO);
	struct stage st;
	bool present = false;
	int rc = stage_get(txn, dbs, &st, &present);
	if (rc != 0)
		return rc;
	if (offset == 0) {
		rc = stage_clear(txn, dbs);
		if (rc != 0)
			return rc;
		st = (struct stage){.index = index, .term = term, .end = 0, .done = false};
	} else if (!present || st.index != index || st.term != term || st.end != offset ||
		   st.done) {
		return refuse(txn, dbs, refused, CAIRN_EINVAL);
	}
	struct put_args pa = {txn, dbs};
	rc = parse_chunk(chunk, len, NULL, put_record, &pa);
	if (rc == CAIRN_EPROTO)
		return refuse(txn, dbs, refused, CAIRN_EPROTO);
	if (rc != 0)
		return rc;
	st.end += len;
	st.done = last;
	if (last) {
		/* The staging is complete: refuse it now if it does not hold
		 * together, before the caller tells Raft it holds the state
		 * (the install checks it again). */
		rc = staged_check(txn, dbs, index);
		if (rc == CAIRN_EPROTO)
			return refuse(txn, dbs, refused, CAIRN_EPROTO);
		if (rc != 0)
			return rc;
	}
	return stage_put(txn, dbs, &st);
}

/* Replace the live database db with its staged copy. */
static int copy_staged(MDB_txn *txn, const struct cairn_storage_dbs *dbs, int db)
{
	MDB_dbi to = live_dbi(dbs, db);
	int rc = mdb_drop(txn, to, 0);
	if (rc != 0)
		return rc;
	MDB_cursor *c;
	rc = mdb_cursor_open(txn, staged_dbi(dbs, db), &c);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (rc == 0) {
		rc = mdb_put(txn, to, &k, &v, MDB_APPEND);
		if (rc == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

int cairn_kv_snap_install_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t index,
				 uint64_t term, int *refused, uint64_t *last_index,
				 uint64_t *last_term)
{
	*refused = 0;
	*last_index = 0;
	*last_term = 0;
	struct stage st;
	bool present = false;
	int rc = stage_get(txn, dbs, &st, &present);
	if (rc != 0)
		return rc;
	uint64_t applied = 0, applied_term = 0;
	rc = cairn_storage_applied_pos_in_txn(txn, dbs, &applied, &applied_term);
	if (rc != 0)
		return rc;
	if (!present || st.index != index || st.term != term || !st.done || index < applied ||
	    index == 0) {
		*refused = CAIRN_EINVAL;
		return 0;
	}
	rc = staged_check(txn, dbs, index);
	if (rc == CAIRN_EPROTO)
		return refuse(txn, dbs, refused, CAIRN_EPROTO);
	for (int db = DB_FIRST; rc == 0 && db <= DB_LAST; db++)
		rc = copy_staged(txn, dbs, db);
	if (rc == 0)
		rc = stage_clear(txn, dbs);
	if (rc == 0)
		rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_APPLIED, index);
	if (rc == 0)
		rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_APPLIED_TERM, term);
	if (rc == 0)
		rc = cairn_storage_follow_snapshot_in_txn(txn, dbs, index, term, last_index,
							  last_term);
	if (rc == 0)
		rc = cairn_storage_raise_commit_in_txn(txn, dbs, index);
	return rc;
}
