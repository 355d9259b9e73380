/* SPDX-License-Identifier: MIT */
/**
 * @file frame.h
 * Agent protocol framing (docs/protocol.md "Framing"): a 4-byte big-endian length N, then N
 * bytes of JSON. Pure buffer code, no I/O: the daemon feeds bytes as they arrive and takes
 * complete frames out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRISM_FRAME_HDR		4u	   /**< length prefix size */
#define PRISM_FRAME_MAX		65536u	   /**< largest payload N allowed */
#define PRISM_FRAME_BUF_MAX	(1u << 20) /**< bytes buffered per connection after auth */
#define PRISM_FRAME_BUF_PREAUTH (PRISM_FRAME_MAX + PRISM_FRAME_HDR) /**< before a valid token */

/** Incremental frame reader. Plain struct so it can be embedded; use the functions only. */
struct prism_frame_reader {
	uint8_t *buf; /**< heap buffer, owned */
	size_t len;   /**< bytes held in buf */
	size_t off;   /**< start of unconsumed bytes */
	size_t cap;   /**< allocated size of buf */
	size_t limit; /**< most bytes that may be held unconsumed */
};

/** Initialise @p r with a buffering limit (bytes). No allocation until the first feed. */
void prism_frame_reader_init(struct prism_frame_reader *r, size_t limit);

/** Release the buffer. Safe on a zeroed or already deinitialised reader. */
void prism_frame_reader_deinit(struct prism_frame_reader *r);

/** Change the buffering limit (e.g. raise it after the first valid token). */
void prism_frame_reader_set_limit(struct prism_frame_reader *r, size_t limit);

/**
 * Append @p len bytes. Invalidates payload pointers returned earlier.
 * @return 0, PRISM_ETOOBIG if the unconsumed bytes would exceed the limit (nothing is
 *         appended), PRISM_ENOMEM, PRISM_EINVAL (NULL @p r, or NULL @p data with len > 0).
 */
int prism_frame_feed(struct prism_frame_reader *r, const uint8_t *data, size_t len);

/**
 * Take the next complete frame.
 * @param[out] payload  points into the reader's buffer, valid until the next feed/deinit
 * @param[out] plen     payload length (may be 0: an empty frame is a decoding error for the
 *                      caller, not for the framer)
 * @param[out] declared when PRISM_ETOOBIG is returned: the declared length N
 * @return 1 a frame was taken; 0 more bytes are needed; PRISM_ETOOBIG the declared length is
 *         over PRISM_FRAME_MAX (the stream cannot be resynchronised: answer and close);
 *         PRISM_EINVAL NULL @p r, @p payload or @p plen (@p declared may be NULL).
 */
int prism_frame_next(struct prism_frame_reader *r, const uint8_t **payload, size_t *plen,
		     uint32_t *declared);

/** True when some bytes of a not yet complete frame are buffered (for the frame deadline). */
bool prism_frame_partial(const struct prism_frame_reader *r);

/**
 * Encode one frame: prefix + payload into a new heap buffer.
 * @param[out] out caller frees with free()
 * @return 0, PRISM_ETOOBIG (len > PRISM_FRAME_MAX), PRISM_ENOMEM, PRISM_EINVAL (NULL args)
 */
int prism_frame_encode(const void *payload, size_t len, uint8_t **out, size_t *outlen);
