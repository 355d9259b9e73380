/* SPDX-License-Identifier: MIT */
/**
 * @file api_body.h
 * REST API request bodies: parse the JSON text and check its fields against a route's table,
 * with the answer (HTTP status, error code, message) to give when they are refused. Pure: no
 * I/O, no clock (the caller passes the time), so the REST server and the fuzzer share it.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Longest name of a token or API key, in bytes. */
#define PRISM_API_NAME_MAX 64
/** Room for an error message, NUL included. */
#define PRISM_API_ERRMSG_MAX 512

/** Why a body was refused: what to answer. */
struct prism_api_body_err {
	unsigned status;  /**< 400 or 422 */
	const char *code; /**< static text: "invalid_json", "unknown_field", … */
	char message[PRISM_API_ERRMSG_MAX]; /**< valid UTF-8, even when cut short */
};

enum prism_api_field_kind {
	PRISM_API_FIELD_STRING,	     /**< any string */
	PRISM_API_FIELD_NAME,	     /**< 1–64 of [A-Za-z0-9._-@:] (token and key names) */
	PRISM_API_FIELD_FUTURE_TIME, /**< ISO 8601 date-time after `now` */
};

/** One field a route's body may carry. A table of them ends with a NULL key. */
struct prism_api_field {
	const char *key;
	enum prism_api_field_kind kind;
	bool required; /**< absent (or, when optional, null) is refused */
};

/** The field tables of the routes that take a body (src/api/routes.c), shared with the
 *  fuzzer so that it checks what the server checks. */
extern const struct prism_api_field prism_api_body_none[];	   /**< release, pause, resume */
extern const struct prism_api_field prism_api_body_token_create[]; /**< name, expires_at */
extern const struct prism_api_field prism_api_body_key_create[];   /**< name, role */
extern const struct prism_api_field prism_api_body_sync_retry[];   /**< target */

/** A checked field: str NULL when an optional field is absent or null. */
struct prism_api_value {
	const char *str;   /**< borrowed from the parsed object */
	int64_t unix_time; /**< PRISM_API_FIELD_FUTURE_TIME: the time in unix seconds */
};

/**
 * Parse a request body into a JSON object.
 * @param takes_body whether the route takes a body; if not, any body is refused
 * @param[out] out the object (caller frees with json_decref); an empty body gives {}
 * @return 0; PRISM_EMSG with @p err filled (400); PRISM_ENOMEM (nothing to answer but 500)
 */
int prism_api_body_parse(const char *body, size_t len, bool takes_body, json_t **out,
			 struct prism_api_body_err *err);

/**
 * Check @p obj against @p fields: every key must be listed (400 unknown_field), then each
 * field in table order: present when required (400 missing_field), a string (400 wrong_type),
 * and valid for its kind (422 invalid_value).
 * @param now unix seconds, for PRISM_API_FIELD_FUTURE_TIME
 * @param[out] values one per field of the table, borrowed from @p obj
 * @return 0, or PRISM_EMSG with @p err filled; PRISM_EINVAL on NULL arguments
 */
int prism_api_body_fields(const json_t *obj, const struct prism_api_field *fields, int64_t now,
			  struct prism_api_value *values, struct prism_api_body_err *err);

/** Whether @p s is a valid token or API key name. */
bool prism_api_name_ok(const char *s);

/**
 * An ISO 8601 date-time (as prism_iso8601_check accepts it) to unix seconds, honouring its
 * zone offset. Returns false when @p s is not one.
 */
bool prism_api_iso_to_unix(const char *s, int64_t *out);

/**
 * Make @p s (NUL-terminated) valid UTF-8 in place: every byte that does not start a valid
 * sequence (a stray byte, a sequence cut short by snprintf, an overlong form, a surrogate)
 * becomes '?'. For messages that quote peer input and go into JSON answers.
 */
void prism_utf8_sanitize(char *s);
