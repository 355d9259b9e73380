/* SPDX-License-Identifier: MIT */
/*
 * Fuzz REST API request bodies (core/api_body.h): the input is a body, parsed as every route
 * with a body would (and as a route without one), then checked against each route's field
 * table. Invariants: a refused body has a 400/422 answer whose message is valid UTF-8 and
 * whose error document, written as the API writes it (core/jw), parses back as JSON with the
 * same message; an accepted body has every required field, valid names and future times.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/api_body.h"
#include "core/error.h"
#include "core/jw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1767225600 /* 2026-01-01T00:00:00Z: fixed, so runs are reproducible */

static const struct prism_api_field *const tables[] = {
	prism_api_body_none,
	prism_api_body_token_create,
	prism_api_body_key_create,
	prism_api_body_sync_retry,
};

/* The error answer as api_error() writes it must be JSON carrying the same message. */
static void check_err(const struct prism_api_body_err *e)
{
	if ((e->status != 400 && e->status != 422) || e->code == NULL ||
	    memchr(e->message, '\0', sizeof(e->message)) == NULL)
		abort();
	struct jw w = {0};
	jw_obj(&w);
	jw_key(&w, "error");
	jw_obj(&w);
	jw_kstr(&w, "code", e->code);
	jw_kstr(&w, "message", e->message);
	jw_end_obj(&w);
	jw_end_obj(&w);
	const char *text = jw_text(&w);
	if (text == NULL) {
		jw_free(&w);
		return; /* out of memory */
	}
	json_t *doc = json_loads(text, 0, NULL);
	const char *msg =
		json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
	if (doc == NULL || msg == NULL || strcmp(msg, e->message) != 0)
		abort();
	json_decref(doc);
	jw_free(&w);
}

static void check_fields(const json_t *obj, const struct prism_api_field *fields)
{
	struct prism_api_value v[4];
	struct prism_api_body_err e;
	if (prism_api_body_fields(obj, fields, NOW, v, &e) != 0) {
		check_err(&e);
		return;
	}
	for (size_t i = 0; fields[i].key != NULL; i++) {
		if (v[i].str == NULL) {
			if (fields[i].required)
				abort();
			continue;
		}
		if (fields[i].kind == PRISM_API_FIELD_NAME && !prism_api_name_ok(v[i].str))
			abort();
		if (fields[i].kind == PRISM_API_FIELD_FUTURE_TIME && v[i].unix_time <= NOW)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prism_api_body_err e;
	json_t *obj = NULL;
	int rc = prism_api_body_parse((const char *)data, size, false, &obj, &e);
	if (rc == PRISM_EMSG)
		check_err(&e);
	else if (rc == 0 && (size != 0 || json_object_size(obj) != 0))
		abort();
	json_decref(obj);

	rc = prism_api_body_parse((const char *)data, size, true, &obj, &e);
	if (rc == PRISM_EMSG) {
		check_err(&e);
		return 0;
	}
	if (rc != 0)
		return 0;
	if (!json_is_object(obj))
		abort();
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		check_fields(obj, tables[i]);
	json_decref(obj);

	/* the date parser alone, on the raw text */
	char *text = malloc(size + 1);
	if (text != NULL) {
		int64_t t;
		memcpy(text, data, size);
		text[size] = '\0';
		(void)prism_api_iso_to_unix(text, &t);
		free(text);
	}
	return 0;
}
