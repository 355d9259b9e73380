/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the agent protocol path as the daemon runs it: bytes arrive in chunks, frames are
 * taken out, each payload is validated and answered. The first input byte picks the chunk
 * sizes and the initial buffer limit; the whole input (that byte included) is the stream,
 * so a seed file is simply what a client would send. Invariants checked on the way:
 *  - every error text the parser produces can be encoded as a response;
 *  - an accepted hostname passes the hostname check again and is lower-case;
 *  - the same frames come out whatever the chunking (counted);
 *  - the fast path of prism_agent_parse() gives exactly what the jansson reference gives.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent_msg.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_req(const struct prism_agent_req *req)
{
	size_t len = strlen(req->hostname);
	if (prism_hostname_check(req->hostname, len, NULL, 0) != 0)
		abort();
	for (size_t i = 0; i < len; i++)
		if (req->hostname[i] >= 'A' && req->hostname[i] <= 'Z')
			abort();
	if (req->token_too_long && (!req->has_token || req->token[0] != '\0'))
		abort();
	if (req->has_token != (req->token[0] != '\0' || req->token_too_long))
		abort();
}

static void respond(const char *message, const struct prism_agent_req *req, bool ok)
{
	struct prism_agent_resp resp = {
		.success = ok,
		.message = message,
		.now_usec = 1735732800123456LL,
		.result = ok ? "heartbeat" : NULL,
		.hostname = ok ? req->hostname : NULL,
		.code = ok ? NULL : "invalid_message",
	};
	uint8_t *out = NULL;
	size_t outlen = 0;
	int ret = prism_agent_resp_encode(&resp, &out, &outlen);
	if (ret != 0 && ret != PRISM_ENOMEM)
		abort(); /* our own texts must always encode */
	free(out);
}

/* Validate and answer one payload; returns the parse result. */
static int handle(const uint8_t *payload, size_t len)
{
	struct prism_agent_req req;
	char err[PRISM_AGENT_ERRMSG_MAX];
	int ret = prism_agent_parse(payload, len, &req, err, sizeof(err));
	/* the in-place fast path must agree with the jansson reference in every respect */
	struct prism_agent_req ref;
	char ref_err[PRISM_AGENT_ERRMSG_MAX];
	int ref_ret = prism_agent_parse_reference(payload, len, &ref, ref_err, sizeof(ref_err));
	if (ref_ret != ret || strcmp(ref_err, err) != 0 ||
	    strcmp(ref.hostname, req.hostname) != 0 || strcmp(ref.token, req.token) != 0 ||
	    ref.has_token != req.has_token || ref.token_too_long != req.token_too_long)
		abort();
	if (ret == 0) {
		check_req(&req);
		respond("Heartbeat updated", &req, true);
	} else if (ret == PRISM_EPROTO || ret == PRISM_EMSG) {
		if (err[0] == '\0')
			abort();
		respond(err, &req, false);
	} else {
		abort();
	}
	return ret;
}

/* Drain complete frames; returns false when the stream must be closed. */
static bool drain(struct prism_frame_reader *r, size_t *frames)
{
	const uint8_t *p;
	size_t n;
	uint32_t declared = 0;
	int ret;
	while ((ret = prism_frame_next(r, &p, &n, &declared)) == 1) {
		(*frames)++;
		if (handle(p, n) == 0)
			prism_frame_reader_set_limit(r, PRISM_FRAME_BUF_MAX);
	}
	if (ret == PRISM_ETOOBIG) {
		char err[PRISM_AGENT_ERRMSG_MAX];
		if (declared <= PRISM_FRAME_MAX ||
		    prism_agent_err_too_large(declared, err, sizeof(err)) != PRISM_EPROTO)
			abort();
		respond(err, NULL, false);
		return false;
	}
	return ret == 0;
}

/* Feed the stream in chunks of @p chunk bytes; returns the number of frames taken. */
static size_t run_stream(const uint8_t *data, size_t size, size_t chunk, size_t limit)
{
	struct prism_frame_reader r;
	size_t frames = 0;
	prism_frame_reader_init(&r, limit);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		if (prism_frame_feed(&r, data + off, n) != 0 || !drain(&r, &frames))
			break;
	}
	prism_frame_reader_deinit(&r);
	return frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	size_t chunks[] = {1, 2 + data[0] % 13, 64 + (size_t)data[0] * 7, size};
	size_t limit = (data[0] & 0x80) ? PRISM_FRAME_BUF_PREAUTH : PRISM_FRAME_BUF_MAX;
	size_t first = run_stream(data, size, chunks[0], limit);
	for (size_t i = 1; i < sizeof(chunks) / sizeof(chunks[0]); i++)
		/* a single feed larger than the limit is refused where small ones are not */
		if (run_stream(data, size, chunks[i], limit) != first && size <= limit)
			abort();
	handle(data, size); /* the input as one payload */
	return 0;
}
