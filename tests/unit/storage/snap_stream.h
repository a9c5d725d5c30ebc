/*
 * snap_stream.h - a key-value state exported as the chunks of a snapshot
 * stream, kept in memory, for the tests that import it elsewhere or compare
 * it (the kv snapshot tests and the snapshot crash test).
 */
#ifndef CAIRN_TEST_STORAGE_SNAP_STREAM_H
#define CAIRN_TEST_STORAGE_SNAP_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

struct snap_stream {
	uint8_t **chunks; /* each malloc'd, lens[i] bytes */
	size_t *lens;
	size_t n;
	uint64_t index, term; /* the state's applied position */
};

/* Export kv's whole state through a snapshot reader into st (whose old
 * contents are not freed). Asserts that every chunk fits
 * CAIRN_SNAPSHOT_CHUNK_BYTES and passes cairn_kv_snap_chunk_check, and that
 * the reader gives nothing after the final one. */
void snap_stream_export(struct cairn_kv *kv, struct snap_stream *st);

/* Free st's chunks and zero it. */
void snap_stream_free(struct snap_stream *st);

#endif
