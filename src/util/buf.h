/*
 * buf.h - a growable byte buffer with a hard cap.
 *
 * The caller owns the struct; the buffer owns data. Growth doubles capacity
 * and refuses to pass cap_max (CAIRN_ETOOBIG), so no buffer grows without
 * bound. Reset keeps the allocation for reuse on hot paths.
 */
#ifndef CAIRN_UTIL_BUF_H
#define CAIRN_UTIL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cairn_buf {
	uint8_t *data;
	size_t len; /* Invariant: len <= cap <= cap_max */
	size_t cap;
	size_t cap_max; /* 0 means SIZE_MAX / 2 */
};

void cairn_buf_init(struct cairn_buf *b, size_t cap_max);
void cairn_buf_free(struct cairn_buf *b);
/* Make room for at least extra more bytes. 0, CAIRN_ENOMEM or CAIRN_ETOOBIG. */
int cairn_buf_reserve(struct cairn_buf *b, size_t extra);
int cairn_buf_append(struct cairn_buf *b, const void *p, size_t n);
int cairn_buf_append_u8(struct cairn_buf *b, uint8_t v);
int cairn_buf_append_be32(struct cairn_buf *b, uint32_t v);
int cairn_buf_append_be64(struct cairn_buf *b, uint64_t v);
/* Drop the first n bytes (n <= len), moving the rest to the front. */
void cairn_buf_consume(struct cairn_buf *b, size_t n);
void cairn_buf_reset(struct cairn_buf *b);

/* Big-endian helpers for fixed-width fields. */
void cairn_put_be32(uint8_t *p, uint32_t v);
void cairn_put_be64(uint8_t *p, uint64_t v);
uint32_t cairn_get_be32(const uint8_t *p);
uint64_t cairn_get_be64(const uint8_t *p);

#endif
