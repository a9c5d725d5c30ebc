/*
 * storage_bench.c - cairn-storage-bench: how fast the durable log takes
 * appends, and the state machine applies, at batch sizes 1, 16 and 256.
 *
 * Each round appends batches of 256-byte entries (one transaction, one
 * fsync per batch: group commit) to a fresh data dir under /tmp for a fixed
 * time, then applies the same entries as put commands in batches of the same
 * size. A last round submits one-entry append jobs to the storage thread
 * with 256 in flight, as cairnd does with its Readys, to show group commit
 * across jobs. The mixed rounds then keep 1, 16 and 64 entries in flight
 * through the storage thread, each a 1-entry append job followed, once
 * durable, by a 1-entry apply job, and report commits and fdatasyncs per
 * entry. It prints tables and one JSON line. fdatasync calls are counted by
 * wrapping fdatasync() in this binary (LMDB calls it once per commit; the
 * meta page is then written through an O_DSYNC descriptor, a second flush
 * that is counted in commits, not here).
 *
 *   cairn-storage-bench [--seconds S] [--dir PARENT] [--unsafe-no-sync] [--mixed-only]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "kv/kv.h"
#include "kv/worker.h"
#include "storage/storage.h"
#include "util/clock.h"
#include "util/log.h"

#define PAYLOAD_BYTES 256u
#define BATCH_MAX 256u

static atomic_ulong fdatasyncs;

/* Interposes libc's fdatasync for LMDB (a shared library resolves it to the
 * executable's definition first), counting every call. */
int fdatasync(int fd)
{
	atomic_fetch_add(&fdatasyncs, 1);
	return (int)syscall(SYS_fdatasync, fd);
}

struct round {
	unsigned batch;
	double seconds;
	uint64_t appends;
	uint64_t entries;
	uint64_t commits;
	uint64_t syncs;
	double apply_seconds;
	uint64_t applied;
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int open_fresh(const char *parent, bool no_sync, char *dir, size_t dir_bytes,
		      struct cairn_storage **s)
{
	snprintf(dir, dir_bytes, "%s/cairn-bench-XXXXXX", parent);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "cairn-storage-bench: mkdtemp in %s: %s\n", parent,
			strerror(errno));
		return CAIRN_EIO;
	}
	struct cairn_storage_options opt = {.dir = dir,
					    .cluster_id = 1,
					    .member_id = 1,
					    .create = true,
					    .unsafe_no_sync = no_sync};
	char msg[256];
	int rv = cairn_storage_open(s, &opt, msg, sizeof(msg));
	if (rv != 0)
		fprintf(stderr, "cairn-storage-bench: %s\n", msg);
	return rv;
}

/* Entries index lo.. of one batch: put commands, 256-byte payloads. */
static void fill_batch(struct cairn_raft_entry *e, uint8_t (*payloads)[PAYLOAD_BYTES], unsigned n,
		       uint64_t lo)
{
	static uint8_t value[PAYLOAD_BYTES];
	memset(value, 'v', sizeof(value));
	for (unsigned i = 0; i < n; i++) {
		char key[24];
		int kl = snprintf(key, sizeof(key), "key%llu",
				  (unsigned long long)((lo + i) % 10000));
		struct cairn_kv_cmd c = {.op = CAIRN_KV_PUT,
					 .client_id = 1,
					 .seq = lo + i,
					 .key = (const uint8_t *)key,
					 .key_len = (uint32_t)kl,
					 .value = value,
					 .value_len = PAYLOAD_BYTES - CAIRN_KV_CMD_HEADER_BYTES -
						      (uint32_t)kl};
		size_t len = 0;
		int rv = cairn_kv_cmd_encode(&c, payloads[i], PAYLOAD_BYTES, &len);
		if (rv != 0 || len != PAYLOAD_BYTES)
			abort(); /* a bug in this tool, not a runtime condition */
		e[i] = (struct cairn_raft_entry){.term = 1,
						 .index = lo + i,
						 .type = CAIRN_RAFT_ENTRY_NORMAL,
						 .len = PAYLOAD_BYTES,
						 .data = payloads[i]};
	}
}

static int run_round(const char *parent, bool no_sync, double seconds, struct round *r)
{
	static struct cairn_raft_entry e[BATCH_MAX];
	static uint8_t payloads[BATCH_MAX][PAYLOAD_BYTES];
	static struct cairn_kv_result results[BATCH_MAX];
	char dir[512];
	struct cairn_storage *s = NULL;
	struct cairn_kv *kv = NULL;
	int rv = open_fresh(parent, no_sync, dir, sizeof(dir), &s);
	if (rv != 0)
		return rv;
	rv = cairn_kv_open(&kv, s, NULL);
	struct cairn_storage_stats st0, st1;
	cairn_storage_stats(s, &st0);
	unsigned long sync0 = atomic_load(&fdatasyncs);
	uint64_t start = cairn_clock_now_ns(), next = 1, now = start;
	uint64_t budget_ns = (uint64_t)(seconds * 1e9);
	while (rv == 0 && now - start < budget_ns) {
		fill_batch(e, payloads, r->batch, next);
		rv = cairn_storage_append(s, e, r->batch, NULL);
		next += r->batch;
		r->appends++;
		now = cairn_clock_now_ns();
	}
	r->seconds = (double)(now - start) / 1e9;
	r->entries = next - 1;
	cairn_storage_stats(s, &st1);
	r->commits = st1.commits - st0.commits;
	r->syncs = atomic_load(&fdatasyncs) - sync0;
	/* Apply what was appended, in batches of the same size. */
	start = cairn_clock_now_ns();
	for (uint64_t lo = 1; rv == 0 && lo < next; lo += r->batch) {
		fill_batch(e, payloads, r->batch, lo);
		rv = cairn_kv_apply(kv, e, r->batch, results);
	}
	r->apply_seconds = (double)(cairn_clock_now_ns() - start) / 1e9;
	r->applied = cairn_kv_applied(kv);
	if (rv != 0)
		fprintf(stderr, "cairn-storage-bench: %s\n", cairn_strerror(rv));
	cairn_kv_close(kv);
	cairn_storage_close(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rv;
}

struct pipe_state {
	uint64_t done;
	int err;
};

static void pipe_done(void *arg, const struct cairn_kv_done *d)
{
	struct pipe_state *ps = arg;
	ps->done++;
	if (d->err != 0)
		ps->err = d->err;
}

/* One-entry append jobs through the storage thread, up to `depth` in
 * flight (as cairnd submits Readys): group commit merges what queues up. */
static int run_pipelined(const char *parent, bool no_sync, double seconds, unsigned depth,
			 struct round *r)
{
	static struct cairn_raft_entry e[1];
	static uint8_t payloads[1][PAYLOAD_BYTES];
	char dir[512];
	struct cairn_storage *s = NULL;
	struct cairn_kv *kv = NULL;
	struct cairn_kv_worker *w = NULL;
	int rv = open_fresh(parent, no_sync, dir, sizeof(dir), &s);
	if (rv == 0)
		rv = cairn_kv_open(&kv, s, NULL);
	struct cairn_kv_worker_options wopt = {.jobs_max = depth};
	if (rv == 0)
		rv = cairn_kv_worker_start(&w, s, kv, &wopt);
	struct pipe_state ps = {0};
	struct cairn_storage_stats st0, st1;
	if (rv == 0)
		cairn_storage_stats(s, &st0);
	unsigned long sync0 = atomic_load(&fdatasyncs);
	uint64_t start = cairn_clock_now_ns(), next = 1, now = start;
	uint64_t budget_ns = (uint64_t)(seconds * 1e9);
	while (rv == 0 && ps.err == 0 && now - start < budget_ns) {
		fill_batch(e, payloads, 1, next);
		int sr = cairn_kv_worker_append(w, e, 1, NULL, NULL);
		if (sr == 0)
			next++;
		else if (sr != CAIRN_EFULL)
			rv = sr;
		cairn_kv_worker_drain(w, pipe_done, &ps);
		if (sr == CAIRN_EFULL)
			usleep(50);
		now = cairn_clock_now_ns();
	}
	if (w != NULL)
		cairn_kv_worker_stop(w);
	if (w != NULL)
		cairn_kv_worker_drain(w, pipe_done, &ps);
	now = cairn_clock_now_ns();
	if (rv == 0)
		rv = ps.err;
	r->seconds = (double)(now - start) / 1e9;
	r->appends = ps.done;
	r->entries = ps.done;
	if (s != NULL)
		cairn_storage_stats(s, &st1);
	r->commits = rv == 0 ? st1.commits - st0.commits : 0;
	r->syncs = atomic_load(&fdatasyncs) - sync0;
	if (rv != 0)
		fprintf(stderr, "cairn-storage-bench: %s\n", cairn_strerror(rv));
	cairn_kv_worker_destroy(w);
	cairn_kv_close(kv);
	cairn_storage_close(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rv;
}

/* The mixed pipeline: `depth` entries in flight, each one a 1-entry append
 * job and, once that is durable, a 1-entry apply job (as the commit
 * manager hands committed entries over); a new entry starts when one is
 * applied. Append and apply jobs interleave in the worker's queue. */
struct mixed {
	unsigned depth;
	double seconds;
	uint64_t entries; /* applied */
	uint64_t commits;
	uint64_t syncs;
};

struct mixed_state {
	struct cairn_kv_worker *w;
	sem_t wake;
	uint64_t applied; /* through this index */
	int err;
};

static void mixed_notify(void *arg)
{
	sem_post(&((struct mixed_state *)arg)->wake);
}

static void mixed_done(void *arg, const struct cairn_kv_done *d)
{
	static struct cairn_raft_entry e[1];
	static uint8_t payloads[1][PAYLOAD_BYTES];
	struct mixed_state *ms = arg;
	if (d->err != 0) {
		ms->err = d->err;
		return;
	}
	if (d->kind == CAIRN_KV_JOB_APPLY) {
		ms->applied = d->applied;
		return;
	}
	fill_batch(e, payloads, 1, d->last_index); /* durable now: apply it */
	int rv = cairn_kv_worker_apply(ms->w, e, 1, NULL);
	if (rv != 0)
		ms->err = rv;
}

static int run_mixed(const char *parent, bool no_sync, double seconds, struct mixed *m)
{
	static struct cairn_raft_entry e[1];
	static uint8_t payloads[1][PAYLOAD_BYTES];
	char dir[512];
	struct cairn_storage *s = NULL;
	struct cairn_kv *kv = NULL;
	struct mixed_state ms = {0};
	if (sem_init(&ms.wake, 0, 0) != 0)
		return CAIRN_EIO;
	int rv = open_fresh(parent, no_sync, dir, sizeof(dir), &s);
	if (rv == 0)
		rv = cairn_kv_open(&kv, s, NULL);
	/* Room for every entry's append and apply job at once. */
	struct cairn_kv_worker_options wopt = {
		.jobs_max = 2 * m->depth + 2, .notify_cb = mixed_notify, .notify_arg = &ms};
	if (rv == 0)
		rv = cairn_kv_worker_start(&ms.w, s, kv, &wopt);
	struct cairn_storage_stats st0 = {0}, st1 = {0};
	if (rv == 0)
		cairn_storage_stats(s, &st0);
	unsigned long sync0 = atomic_load(&fdatasyncs);
	uint64_t start = cairn_clock_now_ns(), next = 1;
	uint64_t budget_ns = (uint64_t)(seconds * 1e9);
	while (rv == 0 && ms.err == 0) {
		bool more = cairn_clock_now_ns() - start < budget_ns;
		while (more && next - 1 - ms.applied < m->depth && rv == 0) {
			fill_batch(e, payloads, 1, next);
			rv = cairn_kv_worker_append(ms.w, e, 1, NULL, NULL);
			next++;
		}
		if (!more && ms.applied == next - 1)
			break;
		while (sem_wait(&ms.wake) != 0 && errno == EINTR)
			;
		cairn_kv_worker_drain(ms.w, mixed_done, &ms);
	}
	m->seconds = (double)(cairn_clock_now_ns() - start) / 1e9;
	if (rv == 0)
		rv = ms.err;
	m->entries = ms.applied;
	if (s != NULL)
		cairn_storage_stats(s, &st1);
	m->commits = st1.commits - st0.commits;
	m->syncs = atomic_load(&fdatasyncs) - sync0;
	if (rv != 0)
		fprintf(stderr, "cairn-storage-bench: %s\n", cairn_strerror(rv));
	cairn_kv_worker_destroy(ms.w);
	cairn_kv_close(kv);
	cairn_storage_close(s);
	sem_destroy(&ms.wake);
	if (s != NULL)
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rv;
}

static void print_json(const struct round *rounds, int n, const struct round *piped, unsigned depth,
		       const struct mixed *mixed, int n_mixed, bool no_sync)
{
	printf("{\"bench\":\"storage\",\"payload_bytes\":%u,\"sync\":%s,\"results\":[",
	       PAYLOAD_BYTES, no_sync ? "false" : "true");
	for (int i = 0; i < n; i++) {
		const struct round *r = &rounds[i];
		printf("%s{\"batch\":%u,\"appends_per_s\":%.0f,\"entries_per_s\":%.0f,"
		       "\"commits_per_s\":%.0f,\"fdatasyncs_per_s\":%.0f,\"applied_entries_per_s\":"
		       "%.0f}",
		       i > 0 ? "," : "", r->batch, (double)r->appends / r->seconds,
		       (double)r->entries / r->seconds, (double)r->commits / r->seconds,
		       (double)r->syncs / r->seconds, (double)r->applied / r->apply_seconds);
	}
	if (piped->seconds > 0)
		printf("],\"pipelined\":{\"jobs_in_flight\":%u,\"entries_per_s\":%.0f,"
		       "\"commits_per_s\":%.0f,\"fdatasyncs_per_s\":%.0f},\"mixed\":[",
		       depth, (double)piped->entries / piped->seconds,
		       (double)piped->commits / piped->seconds,
		       (double)piped->syncs / piped->seconds);
	else
		printf("],\"pipelined\":null,\"mixed\":[");
	for (int i = 0; i < n_mixed; i++) {
		const struct mixed *m = &mixed[i];
		printf("%s{\"entries_in_flight\":%u,\"entries_per_s\":%.0f,"
		       "\"commits_per_entry\":%.3f,\"fdatasyncs_per_entry\":%.3f}",
		       i > 0 ? "," : "", m->depth, (double)m->entries / m->seconds,
		       (double)m->commits / (double)m->entries,
		       (double)m->syncs / (double)m->entries);
	}
	printf("]}\n");
}

static void usage(void)
{
	fprintf(stderr, "usage: cairn-storage-bench [--seconds S] [--dir PARENT] "
			"[--unsafe-no-sync] [--mixed-only]\n");
}

int main(int argc, char **argv)
{
	double seconds = 3.0;
	const char *parent = "/tmp";
	bool no_sync = false, mixed_only = false;
	static const struct option longopts[] = {{"seconds", required_argument, NULL, 's'},
						 {"dir", required_argument, NULL, 'd'},
						 {"unsafe-no-sync", no_argument, NULL, 'u'},
						 {"mixed-only", no_argument, NULL, 'm'},
						 {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:d:um", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			seconds = atof(optarg);
			break;
		case 'd':
			parent = optarg;
			break;
		case 'u':
			no_sync = true;
			break;
		case 'm':
			mixed_only = true;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (seconds <= 0 || optind != argc) {
		usage();
		return 2;
	}
	cairn_log_set_level(CAIRN_LOG_WARN);
	static const unsigned batches[] = {1, 16, 256};
	struct round rounds[3] = {{0}};
	struct round piped = {.batch = 1};
	const unsigned depth = 256;
	printf("cairn-storage-bench: %u-byte entries, %.1f s per round, %s, dir %s\n",
	       PAYLOAD_BYTES, seconds, no_sync ? "UNSAFE no fsync" : "fsync per commit", parent);
	if (!mixed_only) {
		printf("%6s %10s %12s %10s %12s %14s\n", "batch", "appends/s", "entries/s",
		       "commits/s", "fdatasync/s", "applied/s");
		for (int i = 0; i < 3; i++) {
			struct round *r = &rounds[i];
			r->batch = batches[i];
			if (run_round(parent, no_sync, seconds, r) != 0)
				return 1;
			printf("%6u %10.0f %12.0f %10.0f %12.0f %14.0f\n", r->batch,
			       (double)r->appends / r->seconds, (double)r->entries / r->seconds,
			       (double)r->commits / r->seconds, (double)r->syncs / r->seconds,
			       (double)r->applied / r->apply_seconds);
		}
		if (run_pipelined(parent, no_sync, seconds, depth, &piped) != 0)
			return 1;
		printf("storage thread, 1-entry jobs, %u in flight: %.0f jobs/s, %.0f commits/s "
		       "(group commit), %.0f fdatasync/s\n",
		       depth, (double)piped.appends / piped.seconds,
		       (double)piped.commits / piped.seconds, (double)piped.syncs / piped.seconds);
	}
	static const unsigned depths[] = {1, 16, 64};
	struct mixed mixed[3] = {{0}};
	printf("storage thread, 1-entry append then apply jobs per entry:\n");
	printf("%9s %12s %14s %17s\n", "in flight", "entries/s", "commits/entry",
	       "fdatasyncs/entry");
	for (int i = 0; i < 3; i++) {
		struct mixed *m = &mixed[i];
		m->depth = depths[i];
		if (run_mixed(parent, no_sync, seconds, m) != 0)
			return 1;
		printf("%9u %12.0f %14.3f %17.3f\n", m->depth, (double)m->entries / m->seconds,
		       (double)m->commits / (double)m->entries,
		       (double)m->syncs / (double)m->entries);
	}
	print_json(rounds, mixed_only ? 0 : 3, &piped, depth, mixed, 3, no_sync);
	return 0;
}
