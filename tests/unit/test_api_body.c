/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h> /* before cmocka: with UNIT_TESTING it redefines malloc */

#include <cmocka.h>

#include "core/api_body.h"
#include "core/error.h"

#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

static void test_null_args(void **state)
{
	struct prism_api_body_err e;
	struct prism_api_value v[2];
	json_t *o = NULL;
	assert_int_equal(prism_api_body_parse("{}", 2, true, NULL, &e), PRISM_EINVAL);
	assert_int_equal(prism_api_body_parse("{}", 2, true, &o, NULL), PRISM_EINVAL);
	assert_int_equal(prism_api_body_parse(NULL, 2, true, &o, &e), PRISM_EINVAL);
	assert_int_equal(prism_api_body_fields(NULL, prism_api_body_none, NOW, v, &e),
			 PRISM_EINVAL);
	json_t *arr = json_array();
	assert_int_equal(prism_api_body_fields(arr, prism_api_body_none, NOW, v, &e),
			 PRISM_EINVAL);
	json_decref(arr);
}

/* Parse @p body for a route with a body; expect refusal with this status, code, message. */
static void expect_parse_error(const char *body, bool takes_body, const char *code,
			       const char *msg_prefix)
{
	struct prism_api_body_err e;
	json_t *o = (json_t *)1;
	assert_int_equal(prism_api_body_parse(body, strlen(body), takes_body, &o, &e), PRISM_EMSG);
	assert_null(o);
	assert_int_equal(e.status, 400);
	assert_string_equal(e.code, code);
	assert_memory_equal(e.message, msg_prefix, strlen(msg_prefix));
}

static void test_parse(void **state)
{
	struct prism_api_body_err e;
	json_t *o = NULL;
	/* an empty body is an empty object, with or without a body on the route */
	assert_int_equal(prism_api_body_parse(NULL, 0, true, &o, &e), 0);
	assert_true(json_is_object(o) && json_object_size(o) == 0);
	json_decref(o);
	assert_int_equal(prism_api_body_parse("", 0, false, &o, &e), 0);
	json_decref(o);
	assert_int_equal(prism_api_body_parse(" {\"a\": 1} ", 10, true, &o, &e), 0);
	assert_int_equal(json_object_size(o), 1);
	json_decref(o);

	expect_parse_error("{}", false, "invalid_body", "this route takes no request body");
	expect_parse_error("{\"a\":", true, "invalid_json", "malformed JSON (");
	expect_parse_error("[1]", true, "invalid_json", "the body must be a JSON object");
	expect_parse_error("\"s\"", true, "invalid_json",
			   "malformed JSON ("); /* not a container */
	expect_parse_error("{\"a\":1,\"a\":2}", true, "invalid_json", "malformed JSON (");
	expect_parse_error("{\"a\":\"\\u0000\"}", true, "invalid_json", "malformed JSON (");
	expect_parse_error("{\"a\":\"\xff\"}", true, "invalid_json", "malformed JSON (");
}

/* Check @p body against @p fields; returns the error code ("" when accepted). */
static const char *check(const struct prism_api_field *fields, const char *body,
			 struct prism_api_value *v, struct prism_api_body_err *e)
{
	json_t *o = json_loads(body, 0, NULL);
	assert_non_null(o);
	int rc = prism_api_body_fields(o, fields, NOW, v, e);
	json_decref(o); /* values are borrowed: only compare their presence below */
	if (rc == 0)
		return "";
	assert_int_equal(rc, PRISM_EMSG);
	return e->code;
}

static void test_token_create(void **state)
{
	struct prism_api_value v[2];
	struct prism_api_body_err e;
	const struct prism_api_field *f = prism_api_body_token_create;

	assert_string_equal(check(f, "{\"name\":\"ci\"}", v, &e), "");
	assert_non_null(v[0].str);
	assert_null(v[1].str);
	assert_string_equal(check(f, "{\"name\":\"ci\",\"expires_at\":null}", v, &e), "");
	assert_null(v[1].str);
	assert_string_equal(
		check(f, "{\"expires_at\":\"2030-01-01T00:00:00Z\",\"name\":\"a.b\"}", v, &e), "");
	assert_int_equal(v[1].unix_time, 1893456000);
	assert_string_equal(
		check(f, "{\"name\":\"ci\",\"expires_at\":\"2030-01-01T02:30+02:30\"}", v, &e),
		"");
	assert_int_equal(v[1].unix_time, 1893456000);

	assert_string_equal(check(f, "{\"name\":\"ci\",\"x\":1}", v, &e), "unknown_field");
	assert_int_equal(e.status, 400);
	assert_string_equal(e.message, "unknown field 'x'");
	/* unknown keys are reported before anything else */
	assert_string_equal(check(f, "{\"name\":5,\"x\":1}", v, &e), "unknown_field");
	assert_string_equal(check(f, "{}", v, &e), "missing_field");
	assert_string_equal(e.message, "'name' is required");
	assert_string_equal(check(f, "{\"name\":null}", v, &e), "wrong_type");
	assert_string_equal(e.message, "'name' must be a string");
	assert_string_equal(check(f, "{\"name\":\"a b\"}", v, &e), "invalid_value");
	assert_int_equal(e.status, 422);
	assert_string_equal(e.message, "'name' must be 1 to 64 characters of letters, digits and "
				       ". _ - @ :");
	assert_string_equal(check(f, "{\"name\":\"\"}", v, &e), "invalid_value");
	char body[128];
	snprintf(body, sizeof(body), "{\"name\":\"%065d\"}", 0);
	assert_string_equal(check(f, body, v, &e), "invalid_value");
	snprintf(body, sizeof(body), "{\"name\":\"%064d\"}", 0);
	assert_string_equal(check(f, body, v, &e), "");
	assert_string_equal(check(f, "{\"name\":\"a\",\"expires_at\":5}", v, &e), "wrong_type");
	assert_string_equal(check(f, "{\"name\":\"a\",\"expires_at\":\"tomorrow\"}", v, &e),
			    "invalid_value");
	assert_string_equal(e.message, "'expires_at' must be an ISO 8601 date-time");
	assert_string_equal(
		check(f, "{\"name\":\"a\",\"expires_at\":\"2025-12-31T23:59:59Z\"}", v, &e),
		"invalid_value");
	assert_string_equal(e.message, "'expires_at' is in the past");
	/* exactly now is not in the future */
	assert_string_equal(
		check(f, "{\"name\":\"a\",\"expires_at\":\"2026-01-01T00:00:00Z\"}", v, &e),
		"invalid_value");
}

static void test_other_routes(void **state)
{
	struct prism_api_value v[2];
	struct prism_api_body_err e;
	assert_string_equal(check(prism_api_body_none, "{}", v, &e), "");
	assert_string_equal(check(prism_api_body_none, "{\"force\":true}", v, &e),
			    "unknown_field");
	assert_string_equal(
		check(prism_api_body_key_create, "{\"name\":\"k\",\"role\":\"x\"}", v, &e), "");
	assert_string_equal(check(prism_api_body_key_create, "{\"name\":\"k\"}", v, &e),
			    "missing_field");
	assert_string_equal(e.message, "'role' is required");
	assert_string_equal(check(prism_api_body_sync_retry, "{}", v, &e), "");
	assert_null(v[0].str);
	assert_string_equal(check(prism_api_body_sync_retry, "{\"target\":[]}", v, &e),
			    "wrong_type");
}

static void test_iso_to_unix(void **state)
{
	int64_t t = 0;
	assert_true(prism_api_iso_to_unix("1970-01-01T00:00:00Z", &t));
	assert_int_equal(t, 0);
	assert_true(prism_api_iso_to_unix("1970-01-01 01:00:00.999+01:00", &t));
	assert_int_equal(t, 0);
	assert_true(prism_api_iso_to_unix("1970-01-01T00:00-0030", &t));
	assert_int_equal(t, 1800);
	assert_false(prism_api_iso_to_unix("1970-01-01", &t));
	assert_false(prism_api_iso_to_unix("", &t));
}

static void expect_sanitized(const char *in, const char *out)
{
	char s[32];
	snprintf(s, sizeof(s), "%s", in);
	prism_utf8_sanitize(s);
	assert_string_equal(s, out);
}

static void test_utf8_sanitize(void **state)
{
	expect_sanitized("", "");
	expect_sanitized("plain", "plain");
	expect_sanitized("ab\xc3\xa9", "ab\xc3\xa9");		      /* é */
	expect_sanitized("a\xf0\x9f\x98\x80z", "a\xf0\x9f\x98\x80z"); /* U+1F600 */
	expect_sanitized("ab\xc3", "ab?");			      /* cut short at the end */
	expect_sanitized("a\xe2\x82", "a??");
	expect_sanitized("near '\"*\\u0\xd0'", "near '\"*\\u0?'"); /* jansson's error text */
	expect_sanitized("\xff\xfe", "??");
	expect_sanitized("\xc0\xaf", "??");	      /* overlong '/' */
	expect_sanitized("\xed\xa0\x80", "???");      /* surrogate U+D800 */
	expect_sanitized("\xf4\x90\x80\x80", "????"); /* over U+10FFFF */
	expect_sanitized("\x80x", "?x");	      /* stray continuation byte */
}

/* A malformed body's error quotes jansson's text, which may end inside a character. */
static void test_malformed_message_is_utf8(void **state)
{
	static const char body[] = "{\"name\":\"*\\u0\xd0\x9a\xc6\xa0u00e\"}";
	struct prism_api_body_err e;
	json_t *o = NULL;
	assert_int_equal(prism_api_body_parse(body, sizeof(body) - 1, true, &o, &e), PRISM_EMSG);
	json_t *s = json_string(e.message); /* NULL when not valid UTF-8 */
	assert_non_null(s);
	json_decref(s);
}

/* An error message cut at its size limit stays valid UTF-8 (it goes into a JSON answer). */
static void test_long_key_message_is_utf8(void **state)
{
	char body[2048] = "{\"";
	size_t n = 2;
	for (int i = 0; i < 500; i++) {
		memcpy(body + n, "\xc3\xa9", 2); /* é */
		n += 2;
	}
	/* shift by one byte so that the cut falls inside a character */
	body[n++] = 'x';
	memcpy(body + n, "\":1}", 5);
	struct prism_api_value v[1];
	struct prism_api_body_err e;
	for (int shift = 0; shift < 2; shift++) {
		json_t *o = json_loads(body, 0, NULL);
		assert_non_null(o);
		assert_int_equal(prism_api_body_fields(o, prism_api_body_none, NOW, v, &e),
				 PRISM_EMSG);
		json_t *s = json_string(e.message); /* NULL when not valid UTF-8 */
		assert_non_null(s);
		json_decref(s);
		json_decref(o);
		memmove(body + 3, body + 2, strlen(body + 2) + 1);
		body[2] = 'y';
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_token_create),
		cmocka_unit_test(test_other_routes),
		cmocka_unit_test(test_iso_to_unix),
		cmocka_unit_test(test_utf8_sanitize),
		cmocka_unit_test(test_malformed_message_is_utf8),
		cmocka_unit_test(test_long_key_message_is_utf8),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
