/* SPDX-License-Identifier: MIT */
/**
 * @file http.h
 * A small blocking HTTP client for the `prism` admin commands (libcurl easy interface).
 * One handle keeps its connection alive across requests, so following many pages costs one
 * TCP (and TLS) handshake. This is a command-line tool: blocking is fine here, unlike in
 * prismd (CONTRIBUTING.md rule 12).
 */
#pragma once

#include <stddef.h>

struct cli_http;

/** Where and how to talk to the API. Strings are borrowed for the call to cli_http_new(). */
struct cli_http_opts {
	const char *base;    /**< http:// or https:// URL without a trailing path */
	const char *api_key; /**< sent as `Authorization: Bearer`; NULL or "" sends none */
	const char *cacert;  /**< PEM file to verify the server's certificate; NULL: system CAs */
	double timeout;	     /**< seconds for a whole request, connecting included */
};

/** One answer. The body is NUL-terminated; caller frees with cli_http_resp_deinit(). */
struct cli_http_resp {
	long status; /**< HTTP status */
	char *body;
	size_t len;
};

/**
 * Make a client (curl_global_init must have been called).
 * @return 0, -ENOMEM, or PRISM_EINVAL when the key holds a line break
 */
int cli_http_new(const struct cli_http_opts *o, struct cli_http **out);

/** Free the client and wipe its copy of the key; NULL is a no-op. */
void cli_http_free(struct cli_http *h);

/**
 * Send one request and wait for the whole answer.
 * @param method "GET", "POST" or "DELETE"
 * @param path   starts with '/', query included, already escaped (cli_http_escape())
 * @param body   JSON text sent with Content-Type: application/json, or NULL for none
 * @param resp   filled on success; the caller owns it
 * @return 0 when the server answered (any status), PRISM_ETOOBIG when the answer is over
 *         64 MiB, PRISM_EUPSTREAM when there was no answer (cli_http_error() says why)
 */
int cli_http_request(struct cli_http *h, const char *method, const char *path, const char *body,
		     struct cli_http_resp *resp);

/** Why the last request failed: curl's message, never the key. Borrowed until the next. */
const char *cli_http_error(const struct cli_http *h);

/** Free the body of @p resp; the struct may be reused. */
void cli_http_resp_deinit(struct cli_http_resp *resp);

/**
 * Percent-encode @p in for a path segment or a query value (everything but A-Z a-z 0-9 - . _ ~).
 * @return 0, or PRISM_ETOOBIG when @p out (of @p n bytes) is too small
 */
int cli_http_escape(const char *in, char *out, size_t n);
