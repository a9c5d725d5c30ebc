/* snap_stream.c - see snap_stream.h. */
#include "snap_stream.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"
#include "cairn/limits.h"
#include "kv/snapshot.h"

void snap_stream_export(struct cairn_kv *kv, struct snap_stream *st)
{
	memset(st, 0, sizeof(*st));
	struct cairn_kv_snap_reader *rd = NULL;
	cr_assert_eq(cairn_kv_snap_reader_open(kv, &rd, &st->index, &st->term), 0);
	bool last = false;
	while (!last) {
		uint8_t *buf = malloc(CAIRN_SNAPSHOT_CHUNK_BYTES);
		cr_assert_not_null(buf);
		size_t len = 0;
		cr_assert_eq(
			cairn_kv_snap_reader_next(rd, buf, CAIRN_SNAPSHOT_CHUNK_BYTES, &len, &last),
			0);
		cr_assert_leq(len, CAIRN_SNAPSHOT_CHUNK_BYTES);
		cr_assert_eq(cairn_kv_snap_chunk_check(buf, len), 0, "chunk %zu", st->n);
		st->chunks = realloc(st->chunks, (st->n + 1) * sizeof(*st->chunks));
		st->lens = realloc(st->lens, (st->n + 1) * sizeof(*st->lens));
		cr_assert(st->chunks != NULL && st->lens != NULL);
		st->chunks[st->n] = buf;
		st->lens[st->n] = len;
		st->n++;
	}
	size_t len = 0;
	uint8_t *b = malloc(CAIRN_SNAPSHOT_CHUNK_BYTES);
	cr_assert_not_null(b);
	cr_assert_eq(cairn_kv_snap_reader_next(rd, b, CAIRN_SNAPSHOT_CHUNK_BYTES, &len, &last),
		     CAIRN_EINVAL, "nothing after the final chunk");
	free(b);
	cairn_kv_snap_reader_close(rd);
}

void snap_stream_free(struct snap_stream *st)
{
	for (size_t i = 0; i < st->n; i++)
		free(st->chunks[i]);
	free(st->chunks);
	free(st->lens);
	memset(st, 0, sizeof(*st));
}
