/*
 * storage.c - opening a member's LMDB environment, and the transaction
 * runners every write and read goes through.
 *
 * Opening checks the data dir before writing anything: the identity in meta
 * is read with the environment opened read-only and without its lock file
 * (MDB_RDONLY | MDB_NOLOCK), so a foreign or broken dir is refused untouched.
 * Only then is the environment opened for writing.
 *
 * Map growth: LMDB may only resize the map while no transaction of this
 * process is open, so every transaction holds map_lock for reading and a
 * resize takes it for writing (writer-preferring, so a stream of reads cannot
 * starve it). The writer aborts its transaction, doubles the map, and runs
 * the transaction function again.
 */
#include "storage/storage.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn/errors.h"
#include "storage/internal.h"
#include "storage/txn.h"
#include "util/buf.h"
#include "util/log.h"

#define MAX_DBS 16
#define DATA_FILE "data.mdb"

static void set_msg(char *msg, size_t msg_bytes, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msg_bytes, const char *fmt, ...)
{
	if (msg == NULL || msg_bytes == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msg_bytes, fmt, ap);
	va_end(ap);
}

static bool is_cairn_code(int rc)
{
	return rc > CAIRN__EMIN && rc < CAIRN__EMAX;
}

int cairn_storage_mdb_err(int rc)
{
	if (is_cairn_code(rc))
		return rc;
	switch (rc) {
	case 0:
		return 0;
	case ENOMEM:
		return CAIRN_ENOMEM;
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
	case MDB_MAP_FULL:
		return CAIRN_ENOSPACE;
	case MDB_NOTFOUND:
	case ENOENT:
		return CAIRN_ENOTFOUND;
	case MDB_KEYEXIST:
		return CAIRN_EEXISTS;
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE:
		return CAIRN_ETOOBIG;
	case MDB_READERS_FULL:
	case EAGAIN:
	case EBUSY:
		return CAIRN_EBUSY;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_INCOMPATIBLE:
		return CAIRN_ECORRUPT;
	case EINVAL:
	case MDB_BAD_DBI:
		return CAIRN_EINVAL;
	default:
		return CAIRN_EIO;
	}
}

/* True for errors after which the environment may not be trusted to write
 * again: the disk is full or failing. */
static bool is_fatal(int rc)
{
	switch (rc) {
	case ENOSPC:
	case EDQUOT:
	case EFBIG:
	case EIO:
	case EROFS:
	case MDB_PANIC:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		return true;
	default:
		return false;
	}
}

/* Enter the failed state (once) with err; returns the error writes now get. */
static int enter_failed(struct cairn_storage *s, int err, const char *why)
{
	int expected = 0;
	if (atomic_compare_exchange_strong(&s->failed, &expected, err)) {
		CAIRN_ERROR("storage: %s in %s (%s); refusing every further write", why, s->dir,
			    cairn_strerror(err));
		return err;
	}
	return expected;
}

int cairn_storage_long_read_begin(struct cairn_storage *s, struct cairn_storage_long_read **out)
{
	assert(s != NULL && s->env != NULL);
	struct cairn_storage_long_read *lr = calloc(1, sizeof(*lr));
	if (lr == NULL)
		return CAIRN_ENOMEM;
	pthread_rwlock_rdlock(&s->map_lock);
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &lr->txn);
	if (rc == 0) {
		pthread_mutex_lock(&s->long_mu);
		lr->next = s->long_reads;
		if (lr->next != NULL)
			lr->next->prev = lr;
		s->long_reads = lr;
		pthread_mutex_unlock(&s->long_mu);
	}
	pthread_rwlock_unlock(&s->map_lock);
	if (rc != 0) {
		free(lr);
		return cairn_storage_mdb_err(rc);
	}
	*out = lr;
	return 0;
}

int cairn_storage_long_read_step(struct cairn_storage *s, struct cairn_storage_long_read *lr,
				 cairn_storage_txn_fn fn, void *arg)
{
	assert(s != NULL && lr != NULL && fn != NULL);
	pthread_rwlock_rdlock(&s->map_lock);
	/* Only a resize (map_lock held for writing) clears txn. */
	int rc = lr->txn != NULL ? fn(lr->txn, &s->dbs, arg) : CAIRN_EBUSY;
	pthread_rwlock_unlock(&s->map_lock);
	return is_cairn_code(rc) ? rc : cairn_storage_mdb_err(rc);
}

void cairn_storage_long_read_end(struct cairn_storage *s, struct cairn_storage_long_read *lr)
{
	if (lr == NULL)
		return;
	pthread_rwlock_rdlock(&s->map_lock);
	pthread_mutex_lock(&s->long_mu);
	if (lr->prev != NULL)
		lr->prev->next = lr->next;
	else
		s->long_reads = lr->next;
	if (lr->next != NULL)
		lr->next->prev = lr->prev;
	pthread_mutex_unlock(&s->long_mu);
	if (lr->txn != NULL)
		mdb_txn_abort(lr->txn);
	pthread_rwlock_unlock(&s->map_lock);
	free(lr);
}

/* Close every open long read (map_lock held for writing). */
static void close_long_reads(struct cairn_storage *s)
{
	pthread_mutex_lock(&s->long_mu);
	for (struct cairn_storage_long_read *lr = s->long_reads; lr != NULL; lr = lr->next) {
		if (lr->txn != NULL) {
			mdb_txn_abort(lr->txn);
			lr->txn = NULL;
			CAIRN_INFO("storage: map resize closes an open snapshot read");
		}
	}
	pthread_mutex_unlock(&s->long_mu);
}

/* Double the map (bounded by map_bytes_max). Called with no transaction
 * open by this thread. */
static int grow_map(struct cairn_storage *s)
{
	int rv = 0;
	pthread_rwlock_wrlock(&s->map_lock);
	uint64_t cur = atomic_load(&s->map_bytes);
	if (cur >= s->map_bytes_max) {
		rv = CAIRN_ENOSPACE;
		goto out;
	}
	uint64_t next = cur > s->map_bytes_max / 2 ? s->map_bytes_max : cur * 2;
	assert(next > cur);
	close_long_reads(s);
	int rc = mdb_env_set_mapsize(s->env, (size_t)next);
	if (rc != 0) {
		rv = rc == ENOMEM ? CAIRN_ENOSPACE : cairn_storage_mdb_err(rc);
		goto out;
	}
	atomic_store(&s->map_bytes, next);
	atomic_fetch_add(&s->map_grows, 1);
	CAIRN_INFO("storage: map grown to %" PRIu64 " bytes", next);
out:
	pthread_rwlock_unlock(&s->map_lock);
	return rv;
}

int cairn_storage_write_txn(struct cairn_storage *s, cairn_storage_txn_fn fn, void *arg)
{
	assert(s != NULL && s->env != NULL);
	assert(fn != NULL);
	for (;;) {
		int failed = atomic_load(&s->failed);
		if (failed != 0)
			return failed;
		pthread_rwlock_rdlock(&s->map_lock);
		MDB_txn *txn = NULL;
		int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc == 0) {
			rc = fn(txn, &s->dbs, arg);
			if (rc == 0)
				rc = mdb_txn_commit(txn); /* frees txn either way */
			else
				mdb_txn_abort(txn);
		}
		pthread_rwlock_unlock(&s->map_lock);
		if (rc == 0) {
			atomic_fetch_add(&s->commits, 1);
			return 0;
		}
		if (rc == MDB_MAP_FULL) {
			int gr = grow_map(s);
			if (gr != 0)
				return enter_failed(s, gr, "map full at its ceiling");
			continue;
		}
		if (is_cairn_code(rc))
			return rc;
		if (is_fatal(rc))
			return enter_failed(s, cairn_storage_mdb_err(rc), mdb_strerror(rc));
		return cairn_storage_mdb_err(rc);
	}
}

int cairn_storage_read_txn(struct cairn_storage *s, cairn_storage_txn_fn fn, void *arg)
{
	assert(s != NULL && s->env != NULL);
	assert(fn != NULL);
	pthread_rwlock_rdlock(&s->map_lock);
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc == 0) {
		rc = fn(txn, &s->dbs, arg);
		mdb_txn_abort(txn);
	}
	pthread_rwlock_unlock(&s->map_lock);
	return is_cairn_code(rc) ? rc : cairn_storage_mdb_err(rc);
}

int cairn_storage_meta_get_u64(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const char *name,
			       uint64_t *v)
{
	MDB_val k = {strlen(name), (void *)(uintptr_t)name};
	MDB_val d;
	int rc = mdb_get(txn, dbs->meta, &k, &d);
	if (rc == MDB_NOTFOUND) {
		*v = 0;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (d.mv_size != 8)
		return CAIRN_ECORRUPT;
	*v = cairn_get_be64(d.mv_data);
	return 0;
}

int cairn_storage_meta_put_u64(MDB_txn *txn, const struct cairn_storage_dbs *dbs, const char *name,
			       uint64_t v)
{
	uint8_t b[8];
	cairn_put_be64(b, v);
	MDB_val k = {strlen(name), (void *)(uintptr_t)name};
	MDB_val d = {sizeof(b), b};
	return mdb_put(txn, dbs->meta, &k, &d, 0);
}

/* Make the directory entry of path durable: fsync its parent. */
static int sync_parent(const char *path)
{
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", path);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		parent[1] = '\0'; /* "/x": the parent is "/" */
	else if (slash != NULL)
		*slash = '\0';
	else
		snprintf(parent, sizeof(parent), ".");
	int fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int rv = fsync(fd) == 0 ? 0 : errno;
	close(fd);
	return rv;
}

/* mkdir -p: create dir and any missing parent, each made durable. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);
	if (len == 0 || len >= sizeof(path))
		return ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char c = path[i];
		path[i] = '\0';
		if (mkdir(path, 0700) == 0) {
			int err = sync_parent(path);
			if (err != 0)
				return err;
		} else if (errno != EEXIST) {
			return errno;
		}
		path[i] = c;
	}
	return 0;
}

/* The data dir exists (or is created), is a directory and is usable. */
static int check_dir(const struct cairn_storage_options *opt, char *msg, size_t msg_bytes)
{
	struct stat st;
	if (stat(opt->dir, &st) != 0) {
		if (errno != ENOENT) {
			set_msg(msg, msg_bytes, "data dir %s: %s", opt->dir, strerror(errno));
			return CAIRN_EIO;
		}
		if (!opt->create) {
			set_msg(msg, msg_bytes, "data dir %s does not exist", opt->dir);
			return CAIRN_ENOTFOUND;
		}
		int err = make_dirs(opt->dir);
		if (err != 0) {
			set_msg(msg, msg_bytes, "cannot create data dir %s: %s", opt->dir,
				strerror(err));
			return CAIRN_EIO;
		}
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		set_msg(msg, msg_bytes, "data dir %s is not a directory", opt->dir);
		return CAIRN_EIO;
	}
	if (access(opt->dir, R_OK | W_OK | X_OK) != 0) {
		set_msg(msg, msg_bytes, "data dir %s is not usable: %s", opt->dir, strerror(errno));
		return CAIRN_EIO;
	}
	return 0;
}

/* Take an exclusive flock on the data dir itself (no file is added), held
 * until close: a second cairnd on the same dir, or a second open in this
 * process (which LMDB forbids), is refused instead of sharing the log. */
static int lock_dir(const struct cairn_storage_options *opt, int *fd_out, char *msg,
		    size_t msg_bytes)
{
	int fd = open(opt->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		set_msg(msg, msg_bytes, "data dir %s is not usable: %s", opt->dir, strerror(errno));
		return CAIRN_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		close(fd);
		if (err == EWOULDBLOCK) {
			set_msg(msg, msg_bytes, "data dir %s is in use by another process",
				opt->dir);
			return CAIRN_EBUSY;
		}
		set_msg(msg, msg_bytes, "data dir %s: cannot lock: %s", opt->dir, strerror(err));
		return CAIRN_EIO;
	}
	*fd_out = fd;
	return 0;
}

/* Compare the identity stamped in meta with opt. *fresh: nothing there. */
static int check_meta(MDB_txn *txn, const struct cairn_storage_options *opt, bool *fresh, char *msg,
		      size_t msg_bytes)
{
	struct cairn_storage_dbs dbs = {0};
	int rc = mdb_dbi_open(txn, "meta", 0, &dbs.meta);
	if (rc == MDB_NOTFOUND) {
		MDB_dbi main_dbi;
		MDB_stat st;
		rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
		if (rc == 0)
			rc = mdb_stat(txn, main_dbi, &st);
		if (rc == 0 && st.ms_entries == 0) {
			*fresh = true; /* created but never initialised */
			return 0;
		}
		set_msg(msg, msg_bytes, "data dir %s: LMDB data without cairn metadata", opt->dir);
		return CAIRN_ECORRUPT;
	}
	uint64_t format = 0, cluster = 0, member = 0;
	if (rc == 0)
		rc = cairn_storage_meta_get_u64(txn, &dbs, CAIRN_META_CLUSTER_ID, &cluster);
	if (rc == 0)
		rc = cairn_storage_meta_get_u64(txn, &dbs, CAIRN_META_MEMBER_ID, &member);
	if (rc == 0)
		rc = cairn_storage_meta_get_u64(txn, &dbs, CAIRN_META_FORMAT, &format);
	if (rc != 0 || cluster == 0 || member == 0) {
		set_msg(msg, msg_bytes, "data dir %s: metadata unreadable or incomplete (%s)",
			opt->dir, rc != 0 ? mdb_strerror(rc) : "no identity");
		return rc != 0 && !is_cairn_code(rc) ? cairn_storage_mdb_err(rc) : CAIRN_ECORRUPT;
	}
	if (cluster != opt->cluster_id) {
		set_msg(msg, msg_bytes,
			"data dir %s belongs to cluster %016" PRIx64 ", not %016" PRIx64
			"; refusing to touch it",
			opt->dir, cluster, opt->cluster_id);
		return CAIRN_EFOREIGN;
	}
	if (member != opt->member_id) {
		set_msg(msg, msg_bytes,
			"data dir %s belongs to member %" PRIu64 ", not %" PRIu64
			"; refusing to touch it",
			opt->dir, member, opt->member_id);
		return CAIRN_EFOREIGN;
	}
	if (format != CAIRN_STORAGE_FORMAT) {
		set_msg(msg, msg_bytes, "data dir %s has storage format %" PRIu64 ", expected %u",
			opt->dir, format, CAIRN_STORAGE_FORMAT);
		return CAIRN_ECORRUPT;
	}
	*fresh = false;
	return 0;
}

/* Read-only look at an existing data file, touching nothing on disk. */
static int check_identity(const struct cairn_storage_options *opt, bool *fresh, char *msg,
			  size_t msg_bytes)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", opt->dir, DATA_FILE) >= (int)sizeof(path)) {
		set_msg(msg, msg_bytes, "data dir %s: path too long", opt->dir);
		return CAIRN_EINVAL;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT) {
			*fresh = true;
			return 0;
		}
		set_msg(msg, msg_bytes, "%s: %s", path, strerror(errno));
		return CAIRN_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		set_msg(msg, msg_bytes, "%s is not a regular file", path);
		return CAIRN_ECORRUPT;
	}
	if (st.st_size == 0) {
		*fresh = true;
		return 0;
	}
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	int rv = 0;
	int rc = mdb_env_create(&env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(env, MAX_DBS);
	if (rc == 0)
		rc = mdb_env_open(env, opt->dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc != 0) {
		set_msg(msg, msg_bytes, "data dir %s: cannot read %s: %s", opt->dir, DATA_FILE,
			mdb_strerror(rc));
		rv = cairn_storage_mdb_err(rc);
		goto out;
	}
	rv = check_meta(txn, opt, fresh, msg, msg_bytes);
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	if (env != NULL)
		mdb_env_close(env);
	return rv;
}

/* Open the named databases (creating them) and stamp a fresh dir. */
static int init_fn(MDB_txn *txn, const struct cairn_storage_dbs *unused, void *arg)
{
	(void)unused;
	struct cairn_storage *s = arg;
	struct cairn_storage_dbs *dbs = &s->dbs;
	int rc = mdb_dbi_open(txn, "log", MDB_CREATE, &dbs->log);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &dbs->meta);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "kv", MDB_CREATE, &dbs->kv);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "sessions", MDB_CREATE, &dbs->sessions);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "sessions_lru", MDB_CREATE, &dbs->sessions_lru);
	/* Added with snapshots; created in older dirs too (no format change:
	 * older code never looks at them). */
	if (rc == 0)
		rc = mdb_dbi_open(txn, "snap_kv", MDB_CREATE, &dbs->snap_kv);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "snap_sessions", MDB_CREATE, &dbs->snap_sessions);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "snap_sessions_lru", MDB_CREATE, &dbs->snap_sessions_lru);
	if (rc != 0 || !s->fresh)
		return rc;
	rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_FORMAT, CAIRN_STORAGE_FORMAT);
	if (rc == 0)
		rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_CLUSTER_ID, s->cluster_id);
	if (rc == 0)
		rc = cairn_storage_meta_put_u64(txn, dbs, CAIRN_META_MEMBER_ID, s->member_id);
	return rc;
}

static int open_env(struct cairn_storage *s, const struct cairn_storage_options *opt, char *msg,
		    size_t msg_bytes)
{
	unsigned flags = MDB_NOTLS;
	if (opt->unsafe_no_sync)
		flags |= MDB_NOSYNC;
	int rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, MAX_DBS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, (size_t)s->map_bytes);
	if (rc == 0)
		rc = mdb_env_open(s->env, opt->dir, flags, 0600);
	MDB_envinfo info;
	if (rc == 0)
		rc = mdb_env_info(s->env, &info);
	if (rc != 0) {
		set_msg(msg, msg_bytes, "data dir %s: cannot open LMDB environment: %s", opt->dir,
			mdb_strerror(rc));
		return cairn_storage_mdb_err(rc);
	}
	/* An existing file may hold more than the configured first size. */
	atomic_store(&s->map_bytes, (uint64_t)info.me_mapsize);
	if (s->map_bytes_max < info.me_mapsize)
		s->map_bytes_max = info.me_mapsize;
	rc = cairn_storage_write_txn(s, init_fn, s);
	if (rc != 0) {
		set_msg(msg, msg_bytes, "data dir %s: cannot initialise: %s", opt->dir,
			cairn_strerror(rc));
		return rc;
	}
	/* The new files' directory entries must survive a power loss too. */
	if (s->fresh && fsync(s->dir_fd) != 0) {
		set_msg(msg, msg_bytes, "data dir %s: fsync: %s", opt->dir, strerror(errno));
		return CAIRN_EIO;
	}
	/* Reader slots of a killed predecessor would pin old pages. */
	int dead = 0;
	mdb_reader_check(s->env, &dead);
	return 0;
}

static int check_options(const struct cairn_storage_options *opt, char *msg, size_t msg_bytes)
{
	if (opt->dir == NULL || opt->dir[0] == '\0') {
		set_msg(msg, msg_bytes, "no data dir given");
		return CAIRN_EINVAL;
	}
	if (opt->cluster_id == 0 || opt->member_id == 0) {
		set_msg(msg, msg_bytes, "cluster id and member id must not be 0");
		return CAIRN_EINVAL;
	}
	if (opt->map_bytes_max != 0 && opt->map_bytes > opt->map_bytes_max) {
		set_msg(msg, msg_bytes, "first map size above the map size ceiling");
		return CAIRN_EINVAL;
	}
	return 0;
}

static void storage_free(struct cairn_storage *s)
{
	if (s->env != NULL)
		mdb_env_close(s->env);
	if (s->dir_fd >= 0)
		close(s->dir_fd);      /* releases the flock */
	assert(s->long_reads == NULL); /* every long read ended before close */
	pthread_rwlock_destroy(&s->map_lock);
	pthread_mutex_destroy(&s->long_mu);
	free(s->dir);
	free(s);
}

static struct cairn_storage *storage_alloc(const struct cairn_storage_options *opt)
{
	struct cairn_storage *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->dir = strdup(opt->dir);
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	int rc = pthread_rwlock_init(&s->map_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc == 0 && pthread_mutex_init(&s->long_mu, NULL) != 0) {
		pthread_rwlock_destroy(&s->map_lock);
		rc = -1;
	}
	if (s->dir == NULL || rc != 0) {
		if (rc == 0) {
			pthread_rwlock_destroy(&s->map_lock);
			pthread_mutex_destroy(&s->long_mu);
		}
		free(s->dir);
		free(s);
		return NULL;
	}
	s->dir_fd = -1;
	s->cluster_id = opt->cluster_id;
	s->member_id = opt->member_id;
	s->map_bytes = opt->map_bytes != 0 ? opt->map_bytes : CAIRN_STORAGE_MAP_BYTES_DEFAULT;
	s->map_bytes_max =
		opt->map_bytes_max != 0 ? opt->map_bytes_max : CAIRN_STORAGE_MAP_BYTES_MAX_DEFAULT;
	return s;
}

int cairn_storage_open(struct cairn_storage **out, const struct cairn_storage_options *opt,
		       char *msg, size_t msg_bytes)
{
	set_msg(msg, msg_bytes, "ok");
	int rv = check_options(opt, msg, msg_bytes);
	if (rv != 0)
		return rv;
	rv = check_dir(opt, msg, msg_bytes);
	if (rv != 0)
		return rv;
	struct cairn_storage *s = storage_alloc(opt);
	if (s == NULL) {
		set_msg(msg, msg_bytes, "out of memory");
		return CAIRN_ENOMEM;
	}
	bool fresh = false;
	rv = lock_dir(opt, &s->dir_fd, msg, msg_bytes);
	if (rv == 0)
		rv = check_identity(opt, &fresh, msg, msg_bytes);
	if (rv == 0 && fresh && !opt->create) {
		set_msg(msg, msg_bytes, "data dir %s holds no cairn data", opt->dir);
		rv = CAIRN_ENOTFOUND;
	}
	if (rv != 0) {
		storage_free(s);
		return rv;
	}
	s->fresh = fresh;
	rv = open_env(s, opt, msg, msg_bytes);
	if (rv != 0) {
		storage_free(s);
		return rv;
	}
	s->fresh = false;
	if (fresh)
		CAIRN_INFO("storage: initialised data dir %s (cluster %016" PRIx64
			   ", member %" PRIu64 ")",
			   opt->dir, opt->cluster_id, opt->member_id);
	*out = s;
	return 0;
}

void cairn_storage_close(struct cairn_storage *s)
{
	if (s == NULL)
		return;
	storage_free(s);
}

int cairn_storage_failed(const struct cairn_storage *s)
{
	return atomic_load(&s->failed);
}

void cairn_storage_stats(const struct cairn_storage *s, struct cairn_storage_stats *st)
{
	st->commits = atomic_load(&s->commits);
	st->map_grows = atomic_load(&s->map_grows);
	st->map_bytes = atomic_load(&s->map_bytes);
}
