/*
 * store.c - the node's bridge to src/storage and src/kv (see store.h).
 *
 * The storage worker (kv/worker.h) runs append and apply jobs in FIFO order
 * on its own thread and calls notify_cb from there; notify_cb only wakes the
 * loop (uv_async_send). On the loop, async_cb drains the completions in job
 * order: an append's attached frames (the Ready's msgs_after_persist) are
 * sent and the durable position is reported to the core; an apply's results
 * go to the commit manager. A failed job means the disk is full or broken:
 * the node stops taking writes and says why once.
 */
#include "server/store.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "kv/kv.h"
#include "kv/snapshot.h"
#include "kv/worker.h"
#include "server/node.h"
#include "storage/storage.h"
#include "util/log.h"

/* Persist jobs in flight at most: past this the node stops taking Readys
 * (the core keeps batching) until the disk catches up. */
#define STORE_PERSIST_JOBS_MAX 256u

struct cairn_store {
	struct cairn_node *node;
	struct cairn_storage *storage;
	struct cairn_kv *kv;
	struct cairn_kv_worker *worker;
	uv_async_t async;
	bool async_open;
	struct cairn_storage_entries log; /* recovered log, until freed */
	size_t jobs_inflight;
	uint64_t entries_appended; /* made durable in the log */
	uint64_t entries_applied;  /* applied to the state machine */
	int results[CAIRN_COMMIT_BATCH_ENTRIES_MAX];
};

/* Attached to an append job: frames to send once it is durable, as records
 * of u64 BE destination, u32 BE length, frame bytes. */
struct persist_job {
	struct cairn_buf frames;
	size_t n_entries;
};

static void notify_cb(void *arg)
{
	struct cairn_store *s = arg;
	uv_async_send(&s->async);
}

static void send_frames(struct cairn_node *n, const struct cairn_buf *frames)
{
	size_t off = 0;
	while (off + 12 <= frames->len) {
		uint64_t to = cairn_get_be64(frames->data + off);
		uint32_t len = cairn_get_be32(frames->data + off + 8);
		off += 12;
		assert(off + len <= frames->len);
		(void)cairn_peer_send_frame(n, to, frames->data + off, len);
		off += len;
	}
}

static void storage_failed(struct cairn_node *n, int err)
{
	if (n->write_error != 0)
		return;
	n->write_error = err;
	CAIRN_ERROR("storage failed: %s; this member takes no more writes", cairn_strerror(err));
	cairn_node_storage_failed(n);
}

/* The snapshot and compaction jobs refuse bad input without harm
 * (CAIRN_EPROTO, CAIRN_EINVAL: not sticky); anything else is the disk. */
static bool is_refusal(int err)
{
	return err == CAIRN_EPROTO || err == CAIRN_EINVAL;
}

static void snap_job_done(struct cairn_store *s, const struct cairn_kv_done *d)
{
	struct cairn_node *n = s->node;
	if (d->err != 0 && !is_refusal(d->err))
		storage_failed(n, d->err);
	switch (d->kind) {
	case CAIRN_KV_JOB_SNAP_CHUNK:
		cairn_snap_chunk_done(n, d->data, d->err);
		break;
	case CAIRN_KV_JOB_SNAP_INSTALL:
		cairn_snap_installed(n, d->err, d->applied, d->last_index, d->last_term);
		break;
	default:
		assert(d->kind == CAIRN_KV_JOB_COMPACT);
		if (is_refusal(d->err))
			CAIRN_WARN("log compaction refused by storage: %s", cairn_strerror(d->err));
		break;
	}
}

static void done_cb(void *arg, const struct cairn_kv_done *d)
{
	struct cairn_store *s = arg;
	struct cairn_node *n = s->node;
	assert(s->jobs_inflight > 0);
	s->jobs_inflight--;
	if (d->kind != CAIRN_KV_JOB_APPEND && d->kind != CAIRN_KV_JOB_APPLY) {
		snap_job_done(s, d);
		return;
	}
	if (d->kind == CAIRN_KV_JOB_APPEND) {
		struct persist_job *job = d->data;
		assert(n->persist_jobs_inflight > 0);
		n->persist_jobs_inflight--;
		/* After a refused install the core believes in a state the
		 * disk does not hold: say nothing more (write_error is set). */
		if (d->err == 0 && n->snap_in.install_failed) {
			cairn_buf_free(&job->frames);
			free(job);
			return;
		}
		if (d->err == 0) {
			s->entries_appended += job->n_entries;
			send_frames(n, &job->frames);
			n->durable_index = d->last_index;
			n->durable_term = d->last_term;
			cairn_raft_persisted(n->raft, d->last_index, d->last_term);
		} else {
			storage_failed(n, d->err);
		}
		cairn_buf_free(&job->frames);
		free(job);
		return;
	}
	assert(d->kind == CAIRN_KV_JOB_APPLY);
	if (d->err != 0) {
		storage_failed(n, d->err);
		cairn_commit_applied(&n->commit, d->err, NULL, 0);
		return;
	}
	assert(d->n_results <= CAIRN_COMMIT_BATCH_ENTRIES_MAX);
	s->entries_applied += d->n_results;
	for (size_t i = 0; i < d->n_results; i++)
		s->results[i] = d->results[i].status;
	int rv = cairn_commit_applied(&n->commit, 0, s->results, d->n_results);
	if (rv != 0)
		storage_failed(n, rv);
	cairn_snap_compact(n, d->applied);
}

static void async_cb(uv_async_t *a)
{
	struct cairn_store *s = a->data;
	cairn_kv_worker_drain(s->worker, done_cb, s);
}

int cairn_store_open(struct cairn_node *n, struct cairn_store **out, char *err, size_t err_size)
{
	struct cairn_store *s = calloc(1, sizeof *s);
	if (s == NULL) {
		snprintf(err, err_size, "out of memory");
		return CAIRN_ENOMEM;
	}
	s->node = n;
	struct cairn_storage_options opt = {
		.dir = n->data_dir,
		.cluster_id = n->cluster_id,
		.member_id = n->id,
		.create = true,
	};
	int rv = cairn_storage_open(&s->storage, &opt, err, err_size);
	if (rv != 0)
		goto fail;
	rv = cairn_kv_open(&s->kv, s->storage, NULL);
	if (rv != 0) {
		snprintf(err, err_size, "%s: cannot open the state machine: %s", n->data_dir,
			 cairn_strerror(rv));
		goto fail;
	}
	rv = uv_async_init(n->loop, &s->async, async_cb);
	if (rv != 0) {
		snprintf(err, err_size, "uv_async_init: %s", uv_strerror(rv));
		goto fail;
	}
	s->async.data = s;
	s->async_open = true;
	struct cairn_kv_worker_options wopt = {.notify_cb = notify_cb, .notify_arg = s};
	rv = cairn_kv_worker_start(&s->worker, s->storage, s->kv, &wopt);
	if (rv != 0) {
		snprintf(err, err_size, "cannot start the storage thread: %s", cairn_strerror(rv));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	cairn_store_close(s);
	return rv;
}

int cairn_store_recover(struct cairn_store *s, struct cairn_raft_restore *out)
{
	memset(out, 0, sizeof *out);
	return cairn_storage_load(s->storage, out, &s->log);
}

void cairn_store_recovered_free(struct cairn_store *s)
{
	cairn_storage_entries_free(&s->log);
}

int cairn_store_persist(struct cairn_store *s, const struct cairn_raft_ready *rd,
			struct cairn_buf *frames)
{
	struct persist_job *job = malloc(sizeof *job);
	if (job == NULL)
		return CAIRN_ENOMEM;
	job->frames = *frames;
	job->n_entries = rd->n_entries;
	cairn_buf_init(frames, frames->cap_max);
	int rv = cairn_kv_worker_append(s->worker, rd->entries, rd->n_entries,
					rd->has_hard_state ? &rd->hard_state : NULL, job);
	if (rv != 0) {
		cairn_buf_free(&job->frames);
		free(job);
		return rv;
	}
	s->jobs_inflight++;
	s->node->persist_jobs_inflight++;
	return 0;
}

int cairn_store_snap_open(struct cairn_store *s, struct cairn_kv_snap_reader **out, uint64_t *index,
			  uint64_t *term)
{
	return cairn_kv_snap_reader_open(s->kv, out, index, term);
}

int cairn_store_snap_chunk(struct cairn_store *s, uint64_t index, uint64_t term, uint64_t offset,
			   const uint8_t *data, size_t len, void *ctx)
{
	int rv = cairn_kv_worker_snap_chunk(s->worker, index, term, offset, data, len, ctx);
	if (rv == 0)
		s->jobs_inflight++;
	return rv;
}

int cairn_store_snap_install(struct cairn_store *s, uint64_t index, uint64_t term)
{
	int rv = cairn_kv_worker_snap_install(s->worker, index, term, NULL);
	if (rv == 0)
		s->jobs_inflight++;
	return rv;
}

int cairn_store_compact(struct cairn_store *s, uint64_t index)
{
	int rv = cairn_kv_worker_compact(s->worker, index, NULL);
	if (rv == 0)
		s->jobs_inflight++;
	return rv;
}

bool cairn_store_can_persist(const struct cairn_store *s)
{
	return s->node->persist_jobs_inflight < STORE_PERSIST_JOBS_MAX;
}

int cairn_store_apply(void *ctx, const struct cairn_raft_entry *entries, size_t n)
{
	struct cairn_store *s = ctx;
	int rv = cairn_kv_worker_apply(s->worker, entries, n, NULL);
	if (rv == 0)
		s->jobs_inflight++;
	return rv;
}

void cairn_store_apply_urgent(void *ctx)
{
	struct cairn_store *s = ctx;
	cairn_kv_worker_kick(s->worker);
}

/* The kv command of a client write; false for another request type. */
static bool write_cmd(const struct cairn_proto_request *req, struct cairn_kv_cmd *cmd)
{
	memset(cmd, 0, sizeof *cmd);
	cmd->client_id = req->client_id;
	cmd->seq = req->seq;
	cmd->key = req->key.data;
	cmd->key_len = req->key.len;
	if (req->type == CAIRN_PROTO_PUT) {
		cmd->op = CAIRN_KV_PUT;
		cmd->value = req->value.data;
		cmd->value_len = req->value.len;
	} else if (req->type == CAIRN_PROTO_DEL) {
		cmd->op = CAIRN_KV_DEL;
	} else if (req->type == CAIRN_PROTO_CAS) {
		cmd->op = CAIRN_KV_CAS;
		cmd->value = req->value.data;
		cmd->value_len = req->value.len;
		cmd->expected = req->expected.data;
		cmd->expected_len = req->expected.len;
	} else {
		return false;
	}
	return true;
}

void cairn_store_write_bytes(const struct cairn_proto_request *req, size_t *bytes)
{
	struct cairn_kv_cmd cmd;
	*bytes = write_cmd(req, &cmd) ? cairn_kv_cmd_bytes(&cmd) : 0;
}

int cairn_store_encode_write(const struct cairn_proto_request *req, uint8_t *out, size_t size)
{
	struct cairn_kv_cmd cmd;
	if (!write_cmd(req, &cmd))
		return CAIRN_EINVAL;
	size_t len = 0;
	int rv = cairn_kv_cmd_encode(&cmd, out, size, &len);
	if (rv != 0)
		return CAIRN_EINVAL;
	assert(len == size);
	return 0;
}

int cairn_store_get(struct cairn_store *s, const uint8_t *key, uint32_t key_len,
		    struct cairn_buf *value)
{
	return cairn_kv_get(s->kv, key, key_len, value, NULL);
}

int cairn_store_result_code(uint8_t type, int result)
{
	switch (result) {
	case CAIRN_KV_OK:
		return CAIRN_PROTO_OK;
	case CAIRN_KV_NOTFOUND:
		/* Contract: deleting an absent key succeeds. */
		return type == CAIRN_PROTO_DEL ? CAIRN_PROTO_OK : CAIRN_PROTO_NOT_FOUND;
	case CAIRN_KV_MISMATCH:
		return CAIRN_PROTO_CAS_MISMATCH;
	default:
		return CAIRN_PROTO_BAD_REQUEST;
	}
}

void cairn_store_log_stats(const struct cairn_store *s)
{
	struct cairn_storage_stats st;
	struct cairn_raft_status rs;
	const struct cairn_node *n = s->node;
	cairn_storage_stats(s->storage, &st);
	cairn_raft_status(n->raft, &rs);
	CAIRN_INFO("stats commits=%llu entries_appended=%llu entries_applied=%llu "
		   "first_index=%llu log_bytes=%llu snapshots_sent=%llu snapshots_installed=%llu",
		   (unsigned long long)st.commits, (unsigned long long)s->entries_appended,
		   (unsigned long long)s->entries_applied, (unsigned long long)rs.first_index,
		   (unsigned long long)rs.log_bytes, (unsigned long long)n->snap_in.sent,
		   (unsigned long long)n->snap_in.installed);
}

size_t cairn_store_jobs_inflight(const struct cairn_store *s)
{
	return s->jobs_inflight;
}

/* Drain what the worker finished (shutdown: the loop no longer runs). */
void cairn_store_drain(struct cairn_store *s)
{
	if (s->worker != NULL)
		cairn_kv_worker_drain(s->worker, done_cb, s);
}

static void async_closed(uv_handle_t *h)
{
	struct cairn_store *s = h->data;
	free(s);
}

void cairn_store_close(struct cairn_store *s)
{
	if (s == NULL)
		return;
	if (s->worker != NULL)
		cairn_kv_worker_stop(s->worker);
	cairn_kv_worker_destroy(s->worker);
	s->worker = NULL;
	cairn_storage_entries_free(&s->log);
	if (s->kv != NULL)
		cairn_kv_close(s->kv);
	s->kv = NULL;
	cairn_storage_close(s->storage);
	s->storage = NULL;
	if (s->async_open)
		uv_close((uv_handle_t *)&s->async, async_closed);
	else
		free(s);
}
