/*
 * log.c - the Raft log store and the hard state, on the storage's LMDB
 * environment.
 *
 * Log records: key = index as u64 big-endian (so LMDB's byte order is index
 * order and appends go to the end of the B-tree), value = u64 BE term, u8
 * type, payload. The position just before the first entry (after a prefix
 * was dropped) is kept in meta as log_prev. Every mutation is one write
 * transaction through cairn_storage_write_txn(): checked, applied and
 * fsync'd together with the hard state of the same batch, or not at all.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "storage/internal.h"
#include "storage/storage.h"
#include "storage/txn.h"
#include "util/buf.h"

#define ENTRY_HEADER_BYTES 9u /* term u64, type u8 */

/* The log's extent as seen inside one transaction. */
struct extent {
	uint64_t prev_index;
	uint64_t prev_term;
	uint64_t first_index; /* prev_index + 1 when empty */
	uint64_t first_term;
	uint64_t last_index; /* prev_index when empty */
	uint64_t last_term;
	uint64_t applied;
};

static int decode_record(const MDB_val *k, const MDB_val *v, struct cairn_raft_entry *e)
{
	if (k->mv_size != 8 || v->mv_size < ENTRY_HEADER_BYTES)
		return CAIRN_ECORRUPT;
	const uint8_t *p = v->mv_data;
	e->index = cairn_get_be64(k->mv_data);
	e->term = cairn_get_be64(p);
	e->type = p[8];
	if (e->type != CAIRN_RAFT_ENTRY_NOOP && e->type != CAIRN_RAFT_ENTRY_NORMAL)
		return CAIRN_ECORRUPT;
	size_t len = v->mv_size - ENTRY_HEADER_BYTES;
	if (len > CAIRN_ENTRY_BYTES_MAX)
		return CAIRN_ECORRUPT;
	e->len = (uint32_t)len;
	e->data = len > 0 ? p + ENTRY_HEADER_BYTES : NULL;
	return 0;
}

static int read_prev(MDB_txn *txn, const struct cairn_storage_dbs *dbs, struct extent *x)
{
	MDB_val k = {strlen(CAIRN_META_LOG_PREV), (void *)(uintptr_t)CAIRN_META_LOG_PREV};
	MDB_val v;
	int rc = mdb_get(txn, dbs->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		x->prev_index = 0;
		x->prev_term = 0;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (v.mv_size != 16)
		return CAIRN_ECORRUPT;
	x->prev_index = cairn_get_be64(v.mv_data);
	x->prev_term = cairn_get_be64((const uint8_t *)v.mv_data + 8);
	return 0;
}

/* One end (MDB_FIRST / MDB_LAST) of the log; *found false when empty. */
static int log_end(MDB_txn *txn, MDB_dbi dbi, MDB_cursor_op op, struct cairn_raft_entry *e,
		   bool *found)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	MDB_val k, v;
	rc = mdb_cursor_get(c, &k, &v, op);
	*found = rc == 0;
	if (rc == 0)
		rc = decode_record(&k, &v, e);
	else if (rc == MDB_NOTFOUND)
		rc = 0;
	mdb_cursor_close(c);
	return rc;
}

static int read_extent(MDB_txn *txn, const struct cairn_storage_dbs *dbs, struct extent *x)
{
	int rc = read_prev(txn, dbs, x);
	if (rc == 0)
		rc = cairn_storage_meta_get_u64(txn, dbs, CAIRN_META_APPLIED, &x->applied);
	struct cairn_raft_entry first, last;
	bool found = false;
	if (rc == 0)
		rc = log_end(txn, dbs->log, MDB_FIRST, &first, &found);
	if (rc == 0 && found)
		rc = log_end(txn, dbs->log, MDB_LAST, &last, &found);
	if (rc != 0)
		return rc;
	if (!found) {
		x->first_index = x->prev_index + 1;
		x->first_term = 0;
		x->last_index = x->prev_index;
		x->last_term = x->prev_term;
		return 0;
	}
	if (first.index != x->prev_index + 1 || last.index < first.index)
		return CAIRN_ECORRUPT;
	x->first_index = first.index;
	x->first_term = first.term;
	x->last_index = last.index;
	x->last_term = last.term;
	return 0;
}

/* Term of the entry at index, which must be within prev..last. */
static int term_at(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const struct extent *x,
		   uint64_t index, uint64_t *term)
{
	if (index == x->prev_index) {
		*term = x->prev_term;
		return 0;
	}
	uint8_t kb[8];
	cairn_put_be64(kb, index);
	MDB_val k = {8, kb}, v;
	int rc = mdb_get(txn, dbs->log, &k, &v);
	if (rc == MDB_NOTFOUND)
		return CAIRN_ECORRUPT; /* a hole inside the extent */
	struct cairn_raft_entry e;
	if (rc == 0)
		rc = decode_record(&k, &v, &e);
	if (rc == 0)
		*term = e.term;
	return rc;
}

/* Delete entries with index >= from. */
static int delete_from(MDB_txn *txn, MDB_dbi dbi, uint64_t from)
{
	assert(from > 0); /* index 0 is never an entry */
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	uint8_t kb[8];
	cairn_put_be64(kb, from);
	for (;;) {
		/* Seek afresh each time: simple, and a suffix is short. */
		MDB_val k = {8, kb}, v;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0)
			rc = mdb_cursor_del(c, 0);
		if (rc != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int put_hard_state(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
			  const struct cairn_raft_hard_state *hs)
{
	uint8_t b[24];
	cairn_put_be64(b, hs->term);
	cairn_put_be64(b + 8, hs->vote);
	cairn_put_be64(b + 16, hs->commit);
	MDB_val k = {strlen(CAIRN_META_HARD_STATE), (void *)(uintptr_t)CAIRN_META_HARD_STATE};
	MDB_val v = {sizeof(b), b};
	return mdb_put(txn, dbs->meta, &k, &v, 0);
}

static int get_hard_state(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
			  struct cairn_raft_hard_state *hs)
{
	MDB_val k = {strlen(CAIRN_META_HARD_STATE), (void *)(uintptr_t)CAIRN_META_HARD_STATE};
	MDB_val v;
	int rc = mdb_get(txn, dbs->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		memset(hs, 0, sizeof(*hs));
		return 0;
	}
	if (rc != 0)
		return rc;
	if (v.mv_size != 24)
		return CAIRN_ECORRUPT;
	const uint8_t *p = v.mv_data;
	hs->term = cairn_get_be64(p);
	hs->vote = cairn_get_be64(p + 8);
	hs->commit = cairn_get_be64(p + 16);
	return 0;
}

/* The batch may go where it says: consecutive, no gap, terms not going
 * down, no applied entry replaced. */
static int check_batch(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const struct extent *x,
		       const struct cairn_storage_append_batch *a)
{
	const struct cairn_raft_entry *e = a->entries;
	assert(a->n > 0);
	assert(x->last_index >= x->prev_index);
	for (size_t i = 0; i < a->n; i++) {
		if (e[i].len > CAIRN_ENTRY_BYTES_MAX)
			return CAIRN_ETOOBIG;
		if (e[i].len > 0 && e[i].data == NULL)
			return CAIRN_EINVAL;
		if (e[i].type != CAIRN_RAFT_ENTRY_NOOP && e[i].type != CAIRN_RAFT_ENTRY_NORMAL)
			return CAIRN_EINVAL;
		if (i > 0 && (e[i].index != e[i - 1].index + 1 || e[i].term < e[i - 1].term))
			return CAIRN_EINVAL;
	}
	if (e[0].index <= x->prev_index || e[0].index > x->last_index + 1)
		return CAIRN_EINVAL;
	if (e[0].index <= x->applied)
		return CAIRN_EINVAL;
	uint64_t before = 0;
	int rc = term_at(txn, dbs, x, e[0].index - 1, &before);
	if (rc != 0)
		return rc;
	return e[0].term < before ? CAIRN_EINVAL : 0;
}

static int put_entry(MDB_txn *txn, MDB_dbi dbi, const struct cairn_raft_entry *e)
{
	uint8_t kb[8];
	cairn_put_be64(kb, e->index);
	MDB_val k = {8, kb};
	MDB_val v = {ENTRY_HEADER_BYTES + (size_t)e->len, NULL};
	int rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND | MDB_RESERVE);
	if (rc != 0)
		return rc;
	uint8_t *p = v.mv_data;
	cairn_put_be64(p, e->term);
	p[8] = e->type;
	if (e->len > 0)
		memcpy(p + ENTRY_HEADER_BYTES, e->data, e->len);
	return 0;
}

int cairn_storage_append_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				struct cairn_storage_append_batch *a)
{
	assert(a->n == 0 || a->entries != NULL);
	struct extent x;
	int rc = read_extent(txn, dbs, &x);
	if (rc == 0 && a->n > 0)
		rc = check_batch(txn, dbs, &x, a);
	if (rc == 0 && a->n > 0 && a->entries[0].index <= x.last_index)
		rc = delete_from(txn, dbs->log, a->entries[0].index);
	for (size_t i = 0; rc == 0 && i < a->n; i++)
		rc = put_entry(txn, dbs->log, &a->entries[i]);
	if (rc == 0 && a->hs != NULL)
		rc = put_hard_state(txn, dbs, a->hs);
	if (rc != 0)
		return rc;
	a->last_index = a->n > 0 ? a->entries[a->n - 1].index : x.last_index;
	a->last_term = a->n > 0 ? a->entries[a->n - 1].term : x.last_term;
	return 0;
}

struct batches_args {
	struct cairn_storage_append_batch *b;
	size_t n;
};

static int append_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct batches_args *a = arg;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < a->n; i++)
		rc = cairn_storage_append_in_txn(txn, dbs, &a->b[i]);
	return rc;
}

int cairn_storage_append_batches(struct cairn_storage *s, struct cairn_storage_append_batch *b,
				 size_t n)
{
	for (size_t i = 0; i < n; i++)
		assert(b[i].n == 0 || b[i].entries != NULL);
	if (n == 0)
		return 0;
	struct batches_args a = {b, n};
	return cairn_storage_write_txn(s, append_fn, &a);
}

int cairn_storage_append(struct cairn_storage *s, const struct cairn_raft_entry *entries, size_t n,
			 const struct cairn_raft_hard_state *hs)
{
	if (n == 0 && hs == NULL)
		return 0;
	struct cairn_storage_append_batch b = {.entries = entries, .n = n, .hs = hs};
	return cairn_storage_append_batches(s, &b, 1);
}

int cairn_storage_set_hard_state(struct cairn_storage *s, const struct cairn_raft_hard_state *hs)
{
	assert(hs != NULL);
	return cairn_storage_append(s, NULL, 0, hs);
}

static int hard_state_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	return get_hard_state(txn, dbs, arg);
}

int cairn_storage_hard_state(struct cairn_storage *s, struct cairn_raft_hard_state *hs)
{
	return cairn_storage_read_txn(s, hard_state_fn, hs);
}

static int truncate_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	uint64_t from = *(const uint64_t *)arg;
	struct extent x;
	int rc = read_extent(txn, dbs, &x);
	if (rc != 0)
		return rc;
	if (from <= x.applied || from <= x.prev_index)
		return CAIRN_EINVAL;
	return from > x.last_index ? 0 : delete_from(txn, dbs->log, from);
}

int cairn_storage_truncate_suffix(struct cairn_storage *s, uint64_t from_index)
{
	return cairn_storage_write_txn(s, truncate_fn, &from_index);
}

int cairn_storage_applied_pos_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				     uint64_t *index, uint64_t *term)
{
	*index = 0;
	*term = 0;
	uint64_t applied = 0;
	int rc = cairn_storage_meta_get_u64(txn, dbs, CAIRN_META_APPLIED, &applied);
	if (rc != 0 || applied == 0)
		return rc;
	MDB_val k = {strlen(CAIRN_META_APPLIED_TERM), (void *)(uintptr_t)CAIRN_META_APPLIED_TERM};
	MDB_val v;
	rc = mdb_get(txn, dbs->meta, &k, &v);
	if (rc == 0) {
		if (v.mv_size != 8)
			return CAIRN_ECORRUPT;
		*index = applied;
		*term = cairn_get_be64(v.mv_data);
		return 0;
	}
	if (rc != MDB_NOTFOUND)
		return rc;
	/* A data dir from before the applied term was recorded. */
	struct extent x;
	rc = read_extent(txn, dbs, &x);
	if (rc != 0)
		return rc;
	*index = applied;
	if (applied >= x.prev_index && applied <= x.last_index)
		return term_at(txn, dbs, &x, applied, term);
	return 0;
}

/* Store the applied term if the dir does not have it yet (before the
 * entry it comes from may be dropped). */
static int ensure_applied_term(MDB_txn *txn, const struct cairn_storage_dbs *dbs)
{
	MDB_val k = {strlen(CAIRN_META_APPLIED_TERM), (void *)(uintptr_t)CAIRN_META_APPLIED_TERM};
	MDB_val v;
	int rc = mdb_get(txn, dbs->meta, &k, &v);
	if (rc != MDB_NOTFOUND)
		return rc;
	uint64_t index = 0, term = 0;
	rc = cairn_storage_applied_pos_in_txn(txn, dbs, &index, &term);
	if (rc != 0 || index == 0)
		return rc;
	return cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_APPLIED_TERM, term);
}

static int put_prev(MDB_txn *txn, const struct cairn_storage_dbs *dbs, uint64_t index,
		    uint64_t term)
{
	uint8_t b[16];
	cairn_put_be64(b, index);
	cairn_put_be64(b + 8, term);
	MDB_val k = {strlen(CAIRN_META_LOG_PREV), (void *)(uintptr_t)CAIRN_META_LOG_PREV};
	MDB_val v = {sizeof(b), b};
	return mdb_put(txn, dbs->meta, &k, &v, 0);
}

/* Delete the entries first..through (all inside the extent). */
static int delete_through(MDB_txn *txn, MDB_dbi dbi, uint64_t first, uint64_t through)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	for (uint64_t i = first; rc == 0 && i <= through; i++) {
		MDB_val k, v;
		rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		if (rc == MDB_NOTFOUND)
			rc = CAIRN_ECORRUPT; /* a hole inside the extent */
		if (rc == 0 && (k.mv_size != 8 || cairn_get_be64(k.mv_data) != i))
			rc = CAIRN_ECORRUPT;
		if (rc == 0)
			rc = mdb_cursor_del(c, 0);
	}
	mdb_cursor_close(c);
	return rc;
}

int cairn_storage_drop_prefix_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				     uint64_t through, uint64_t *prev_index, uint64_t *prev_term)
{
	struct extent x;
	int rc = read_extent(txn, dbs, &x);
	if (rc != 0)
		return rc;
	if (through > x.applied || through > x.last_index)
		return CAIRN_EINVAL;
	if (prev_index != NULL)
		*prev_index = x.prev_index;
	if (prev_term != NULL)
		*prev_term = x.prev_term;
	if (through <= x.prev_index)
		return 0; /* already dropped */
	uint64_t term = 0;
	rc = ensure_applied_term(txn, dbs);
	if (rc == 0)
		rc = term_at(txn, dbs, &x, through, &term);
	if (rc == 0)
		rc = delete_through(txn, dbs->log, x.first_index, through);
	if (rc != 0)
		return rc;
	if (prev_index != NULL)
		*prev_index = through;
	if (prev_term != NULL)
		*prev_term = term;
	return put_prev(txn, dbs, through, term);
}

int cairn_storage_follow_snapshot_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
					 uint64_t index, uint64_t term, uint64_t *last_index,
					 uint64_t *last_term)
{
	struct extent x;
	int rc = read_extent(txn, dbs, &x);
	if (rc != 0)
		return rc;
	if (index < x.prev_index)
		return CAIRN_EINVAL; /* the prev position never goes back */
	uint64_t held = 0;
	bool holds = false;
	if (index >= x.prev_index && index <= x.last_index) {
		rc = term_at(txn, dbs, &x, index, &held);
		if (rc != 0)
			return rc;
		holds = held == term;
	}
	if (holds) {
		if (index > x.prev_index)
			rc = delete_through(txn, dbs->log, x.first_index, index);
		*last_index = x.last_index;
		*last_term = x.last_term;
	} else {
		rc = mdb_drop(txn, dbs->log, 0); /* empty it, keep the database */
		*last_index = index;
		*last_term = term;
	}
	if (rc != 0)
		return rc;
	return put_prev(txn, dbs, index, term);
}

int cairn_storage_raise_commit_in_txn(MDB_txn *txn, const struct cairn_storage_dbs *dbs,
				      uint64_t commit)
{
	struct cairn_raft_hard_state hs;
	int rc = get_hard_state(txn, dbs, &hs);
	if (rc != 0 || hs.commit >= commit)
		return rc;
	hs.commit = commit;
	return put_hard_state(txn, dbs, &hs);
}

static int drop_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	return cairn_storage_drop_prefix_in_txn(txn, dbs, *(const uint64_t *)arg, NULL, NULL);
}

int cairn_storage_drop_prefix(struct cairn_storage *s, uint64_t through_index)
{
	return cairn_storage_write_txn(s, drop_fn, &through_index);
}

static int bounds_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct cairn_storage_bounds *b = arg;
	struct extent x;
	int rc = read_extent(txn, dbs, &x);
	if (rc != 0)
		return rc;
	b->prev_index = x.prev_index;
	b->prev_term = x.prev_term;
	b->first_index = x.first_index;
	b->first_term = x.first_term;
	b->last_index = x.last_index;
	b->last_term = x.last_term;
	return 0;
}

int cairn_storage_bounds(struct cairn_storage *s, struct cairn_storage_bounds *b)
{
	return cairn_storage_read_txn(s, bounds_fn, b);
}

void cairn_storage_entries_free(struct cairn_storage_entries *e)
{
	free(e->entries);
	free(e->payloads);
	e->entries = NULL;
	e->payloads = NULL;
	e->n = 0;
}

/* Copy lo..hi (within the extent) out of the transaction: a first pass
 * sizes the payload arena, a second copies. */
static int copy_range(MDB_txn *txn, MDB_dbi dbi, uint64_t lo, uint64_t hi,
		      struct cairn_storage_entries *out)
{
	MDB_cursor *c;
	int rc = mdb_cursor_open(txn, dbi, &c);
	if (rc != 0)
		return rc;
	size_t n = (size_t)(hi - lo + 1), bytes = 0;
	uint8_t kb[8];
	cairn_put_be64(kb, lo);
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		MDB_val k = {8, kb}, v;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			struct cairn_raft_entry e;
			rc = decode_record(&k, &v, &e);
			if (rc == 0 && e.index != lo + i)
				rc = CAIRN_ECORRUPT;
			if (rc != 0)
				break;
			if (pass == 0) {
				bytes += e.len;
			} else {
				out->entries[i] = e;
				out->entries[i].data = e.len > 0 ? out->payloads + bytes : NULL;
				if (e.len > 0)
					memcpy(out->payloads + bytes, e.data, e.len);
				bytes += e.len;
			}
			if (i + 1 < n)
				rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		}
		if (rc == MDB_NOTFOUND)
			rc = CAIRN_ECORRUPT; /* a hole inside the extent */
		if (rc == 0 && pass == 0) {
			out->entries = calloc(n, sizeof(*out->entries));
			out->payloads = malloc(bytes > 0 ? bytes : 1);
			if (out->entries == NULL || out->payloads == NULL)
				rc = CAIRN_ENOMEM;
			out->n = n;
			bytes = 0;
		}
	}
	mdb_cursor_close(c);
	if (rc != 0)
		cairn_storage_entries_free(out);
	return rc;
}

struct read_args {
	uint64_t lo;
	uint64_t hi;
	struct cairn_storage_entries *out;
	struct cairn_raft_restore *rs; /* load only */
};

static int read_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	struct read_args *a = arg;
	struct extent x;
	int rc = read_extent(txn, dbs, &x);
	if (rc != 0)
		return rc;
	if (a->rs != NULL) {
		a->lo = x.first_index;
		a->hi = x.last_index;
		a->rs->first_prev_index = x.prev_index;
		a->rs->first_prev_term = x.prev_term;
		a->rs->applied = x.applied;
		if (x.applied < x.prev_index)
			return CAIRN_ECORRUPT; /* the state machine lacks the dropped prefix */
		rc = get_hard_state(txn, dbs, &a->rs->hard_state);
		if (rc != 0)
			return rc;
	} else if (a->lo < x.first_index || a->hi > x.last_index) {
		return CAIRN_ENOTFOUND;
	}
	if (a->lo > a->hi)
		return 0; /* empty range */
	return copy_range(txn, dbs->log, a->lo, a->hi, a->out);
}

int cairn_storage_read(struct cairn_storage *s, uint64_t lo, uint64_t hi,
		       struct cairn_storage_entries *out)
{
	cairn_storage_entries_free(out);
	if (lo > hi)
		return lo == hi + 1 ? 0 : CAIRN_EINVAL;
	struct read_args a = {lo, hi, out, NULL};
	return cairn_storage_read_txn(s, read_fn, &a);
}

int cairn_storage_load(struct cairn_storage *s, struct cairn_raft_restore *rs,
		       struct cairn_storage_entries *log)
{
	cairn_storage_entries_free(log);
	memset(rs, 0, sizeof(*rs));
	struct read_args a = {0, 0, log, rs};
	int rv = cairn_storage_read_txn(s, read_fn, &a);
	if (rv != 0)
		return rv;
	rs->log = log->entries;
	rs->n_log = log->n;
	return 0;
}

static int applied_fn(MDB_txn *txn, const struct cairn_storage_dbs *dbs, void *arg)
{
	return cairn_storage_meta_get_u64(txn, dbs, CAIRN_META_APPLIED, arg);
}

int cairn_storage_applied(struct cairn_storage *s, uint64_t *applied)
{
	return cairn_storage_read_txn(s, applied_fn, applied);
}
