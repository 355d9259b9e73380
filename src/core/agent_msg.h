/* SPDX-License-Identifier: MIT */
/**
 * @file agent_msg.h
 * Agent protocol messages (docs/protocol.md "Request" / "Response"): validation of a registration
 * request and encoding of responses. Pure: bytes in, structs and bytes out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dname.h"

#define PRISM_TOKEN_MAX	       512u /**< longer tokens are never valid */
#define PRISM_AGENT_ERRMSG_MAX 512u

/** A validated registration request. */
struct prism_agent_req {
	char hostname[PRISM_HOSTNAME_MAX + 1]; /**< lower-cased */
	char token[PRISM_TOKEN_MAX + 1];       /**< auth_token, "" when absent/null/empty */
	bool has_token;			       /**< a non-empty auth_token was given */
	bool token_too_long;		       /**< auth_token longer than PRISM_TOKEN_MAX */
};

/**
 * Decode and validate one frame payload.
 *
 * Checks, in this order: UTF-8 and JSON decoding (empty payload included), JSON object,
 * required fields present (version, type, timestamp, hostname — in that order), each a string,
 * version "1.0", type "registration", timestamp, hostname, auth_token a string when present
 * and not null. Unknown fields (client_ip, …) are ignored.
 *
 * @param[out] errmsg on error: the exact docs/protocol.md message, e.g.
 *   "Protocol error: Message decoding failed: <reason>",
 *   "Protocol error: Message must be a JSON object",
 *   "Invalid message: Missing required field: hostname",
 *   "Invalid message: Field 'hostname' must be a string",
 *   "Invalid message: Unsupported version: 2.0",
 *   "Invalid message: Unsupported message type: ping",
 *   "Invalid message: Invalid hostname: <reason>",
 *   "Invalid message: Invalid timestamp: <reason>".
 *   Must hold PRISM_AGENT_ERRMSG_MAX bytes.
 * @return 0 ok; PRISM_EPROTO framing-level (answer once, close the connection);
 *         PRISM_EMSG message-level (answer, keep the connection open); PRISM_EINVAL NULL args.
 */
int prism_agent_parse(const uint8_t *payload, size_t len, struct prism_agent_req *req,
		      char *errmsg, size_t errmsg_len);

/** prism_agent_parse() through jansson only, without the in-place fast path for the usual
 *  flat message: the reference the fuzz target compares the fast path with. */
int prism_agent_parse_reference(const uint8_t *payload, size_t len, struct prism_agent_req *req,
				char *errmsg, size_t errmsg_len);

/**
 * Write the framing error for a declared frame length over PRISM_FRAME_MAX (see
 * prism_frame_next()): "Protocol error: Message too large: <n> > 65536". Kept here so that
 * every docs/protocol.md error text of the agent protocol lives in one module.
 * @param[out] errmsg NUL-terminated, truncated to @p errmsg_len
 * @return PRISM_EPROTO (the class of the error: answer once, close the connection);
 *         PRISM_EINVAL NULL args
 */
int prism_agent_err_too_large(uint32_t declared, char *errmsg, size_t errmsg_len);

/** A response to encode. Optional strings may be NULL (then the key is omitted). */
struct prism_agent_resp {
	bool success;	     /**< "status": "success" | "error" */
	const char *message; /**< exact docs/protocol.md text */
	int64_t now_usec;    /**< server UTC time for "timestamp" */
	const char *result; /**< extra key, e.g. "new", "ip_changed", "heartbeat", "reconnected" */
	const char *code;   /**< extra key, machine-readable error code */
	const char *hostname; /**< extra key */
	const char *ip;	      /**< extra key */
	const char *fqdn;     /**< extra key */
};

/**
 * Encode a response as one complete frame (length prefix included). The five standard keys
 * come first in this order: version, type, status, message, timestamp; then the extras present.
 * @param[out] out caller frees with free()
 * @return 0, PRISM_EINVAL (NULL args or message, a string that is not valid UTF-8, a time
 *         that cannot be formatted, a response over PRISM_FRAME_MAX), PRISM_ENOMEM
 */
int prism_agent_resp_encode(const struct prism_agent_resp *resp, uint8_t **out, size_t *outlen);
