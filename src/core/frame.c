/* SPDX-License-Identifier: MIT */
/*
 * Frame reader design: one heap buffer holds the unconsumed bytes [off, len). Taking a frame
 * only advances off, so the returned payload stays valid until the next feed; the feed
 * compacts the buffer (moves the unconsumed tail to the front) before appending. The limit
 * bounds the unconsumed bytes, which is what a slow or hostile peer can make us hold.
 */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/frame.h"

#define FRAME_BUF_MIN 4096u

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void prism_frame_reader_init(struct prism_frame_reader *r, size_t limit)
{
	if (r == NULL)
		return;
	memset(r, 0, sizeof(*r));
	r->limit = limit;
}

void prism_frame_reader_deinit(struct prism_frame_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	r->buf = NULL;
	r->len = 0;
	r->off = 0;
	r->cap = 0;
}

void prism_frame_reader_set_limit(struct prism_frame_reader *r, size_t limit)
{
	if (r != NULL)
		r->limit = limit;
}

/* Make room for @p need bytes in total (feed has checked need <= limit): grow
 * geometrically, but do not allocate past the limit. */
static int reserve(struct prism_frame_reader *r, size_t need)
{
	if (need <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : FRAME_BUF_MIN;
	while (cap < need && cap <= SIZE_MAX / 2)
		cap *= 2;
	if (cap > r->limit)
		cap = r->limit;
	if (cap < need)
		cap = need;
	uint8_t *buf = realloc(r->buf, cap);
	if (buf == NULL)
		return PRISM_ENOMEM;
	r->buf = buf;
	r->cap = cap;
	return 0;
}

int prism_frame_feed(struct prism_frame_reader *r, const uint8_t *data, size_t len)
{
	if (r == NULL || (data == NULL && len > 0))
		return PRISM_EINVAL;
	size_t held = r->len - r->off;
	if (held > r->limit || len > r->limit - held)
		return PRISM_ETOOBIG;
	if (len == 0)
		return 0;
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, held);
		r->off = 0;
		r->len = held;
	}
	int ret = reserve(r, held + len);
	if (ret != 0)
		return ret;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return 0;
}

int prism_frame_next(struct prism_frame_reader *r, const uint8_t **payload, size_t *plen,
		     uint32_t *declared)
{
	if (r == NULL || payload == NULL || plen == NULL)
		return PRISM_EINVAL;
	size_t held = r->len - r->off;
	if (held < PRISM_FRAME_HDR)
		return 0;
	const uint8_t *p = r->buf + r->off;
	uint32_t n = get_be32(p);
	if (n > PRISM_FRAME_MAX) {
		if (declared != NULL)
			*declared = n;
		return PRISM_ETOOBIG;
	}
	if (held - PRISM_FRAME_HDR < n)
		return 0;
	*payload = p + PRISM_FRAME_HDR;
	*plen = n;
	r->off += PRISM_FRAME_HDR + n;
	return 1;
}

bool prism_frame_partial(const struct prism_frame_reader *r)
{
	if (r == NULL || r->len == r->off)
		return false;
	size_t held = r->len - r->off;
	/* an over-long declared length never completes: it counts as partial */
	return held < PRISM_FRAME_HDR || held - PRISM_FRAME_HDR < get_be32(r->buf + r->off);
}

int prism_frame_encode(const void *payload, size_t len, uint8_t **out, size_t *outlen)
{
	if ((payload == NULL && len > 0) || out == NULL || outlen == NULL)
		return PRISM_EINVAL;
	if (len > PRISM_FRAME_MAX)
		return PRISM_ETOOBIG;
	uint8_t *buf = malloc(PRISM_FRAME_HDR + len);
	if (buf == NULL)
		return PRISM_ENOMEM;
	put_be32(buf, (uint32_t)len);
	if (len > 0)
		memcpy(buf + PRISM_FRAME_HDR, payload, len);
	*out = buf;
	*outlen = PRISM_FRAME_HDR + len;
	return 0;
}
