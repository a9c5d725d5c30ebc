/*
 * internal.h - the storage handle, shared by the files of src/storage only.
 */
#ifndef CAIRN_STORAGE_INTERNAL_H
#define CAIRN_STORAGE_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "storage/txn.h"

struct cairn_storage_long_read {
	MDB_txn *txn; /* NULL once a map resize closed it */
	struct cairn_storage_long_read *prev, *next;
};

struct cairn_storage {
	MDB_env *env;
	struct cairn_storage_dbs dbs; /* valid once open returned */
	char *dir;
	int dir_fd; /* holds the exclusive flock on dir; -1 before */
	uint64_t cluster_id;
	uint64_t member_id;
	bool fresh; /* during open: the dir is to be stamped */

	/* Read-held by every transaction, write-held by a map resize. */
	pthread_rwlock_t map_lock;
	/* Invariant: map_bytes <= map_bytes_max once open. */
	_Atomic uint64_t map_bytes;
	uint64_t map_bytes_max;

	/* Open long reads (txn.h), closed by a map resize. Guarded by
	 * long_mu; a resize also holds map_lock for writing. */
	pthread_mutex_t long_mu;
	struct cairn_storage_long_read *long_reads;

	_Atomic int failed; /* 0, or the error every write returns */
	_Atomic uint64_t commits;
	_Atomic uint64_t map_grows;
};

#endif
