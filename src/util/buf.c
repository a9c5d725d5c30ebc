/*
 * buf.c - growable byte buffers with a cap, and big-endian field helpers.
 */
#include "util/buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "cairn/errors.h"

void cairn_buf_init(struct cairn_buf *b, size_t cap_max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->cap_max = cap_max == 0 ? SIZE_MAX / 2 : cap_max;
}

void cairn_buf_free(struct cairn_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

int cairn_buf_reserve(struct cairn_buf *b, size_t extra)
{
	assert(b->len <= b->cap);
	if (extra > b->cap_max - b->len)
		return CAIRN_ETOOBIG;
	size_t need = b->len + extra;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap = cap > b->cap_max / 2 ? b->cap_max : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (p == NULL)
		return CAIRN_ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int cairn_buf_append(struct cairn_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	int rv = cairn_buf_reserve(b, n);
	if (rv != 0)
		return rv;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int cairn_buf_append_u8(struct cairn_buf *b, uint8_t v)
{
	return cairn_buf_append(b, &v, 1);
}

int cairn_buf_append_be32(struct cairn_buf *b, uint32_t v)
{
	uint8_t p[4];
	cairn_put_be32(p, v);
	return cairn_buf_append(b, p, sizeof p);
}

int cairn_buf_append_be64(struct cairn_buf *b, uint64_t v)
{
	uint8_t p[8];
	cairn_put_be64(p, v);
	return cairn_buf_append(b, p, sizeof p);
}

void cairn_buf_consume(struct cairn_buf *b, size_t n)
{
	assert(n <= b->len);
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void cairn_buf_reset(struct cairn_buf *b)
{
	b->len = 0;
}

void cairn_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void cairn_put_be64(uint8_t *p, uint64_t v)
{
	cairn_put_be32(p, (uint32_t)(v >> 32));
	cairn_put_be32(p + 4, (uint32_t)v);
}

uint32_t cairn_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t cairn_get_be64(const uint8_t *p)
{
	return (uint64_t)cairn_get_be32(p) << 32 | cairn_get_be32(p + 4);
}
