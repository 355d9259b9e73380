/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* The library allocates its own buffers with the C library's malloc (freed below with
 * free()); jansson is routed through cmocka's checked allocator in main(), so a json_t
 * leaked by the code under test fails the test. */
#undef malloc
#undef calloc
#undef realloc
#undef free
#include <stdlib.h>

#include <jansson.h>

#include "core/agent_msg.h"
#include "core/error.h"
#include "core/frame.h"

#define TS "2025-01-01T12:00:00Z"
#define VALID                                                                                     \
	"{\"version\":\"1.0\",\"type\":\"registration\",\"timestamp\":\"" TS "\","                \
	"\"hostname\":\"web1\",\"auth_token\":\"secret\"}"
#define ERR_DECODE "Protocol error: Message decoding failed: "
#define NOT_OBJECT "Protocol error: Message must be a JSON object"

static const char *const fields[] = {"version", "type", "timestamp", "hostname"};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static void *jt_malloc(size_t n)
{
	return test_malloc(n);
}

static void jt_free(void *p)
{
	test_free(p);
}

static int parse_len(const char *json, size_t len, struct prism_agent_req *req, char *err)
{
	return prism_agent_parse((const uint8_t *)json, len, req, err, PRISM_AGENT_ERRMSG_MAX);
}

static int parse(const char *json, struct prism_agent_req *req, char *err)
{
	return parse_len(json, strlen(json), req, err);
}

static void expect_err_len(const char *json, size_t len, int code, const char *want)
{
	struct prism_agent_req req;
	char err[PRISM_AGENT_ERRMSG_MAX];
	memset(&req, 0xa5, sizeof(req));
	assert_int_equal(parse_len(json, len, &req, err), code);
	assert_string_equal(err, want);
	/* nothing half-parsed is left behind */
	assert_string_equal(req.hostname, "");
	assert_false(req.has_token);
}

static void expect_err(const char *json, int code, const char *want)
{
	expect_err_len(json, strlen(json), code, want);
}

/* A registration with the four required fields given as raw JSON values (NULL: left out),
 * followed by @p extra members (may be ""). */
static const char *reg(char *buf, size_t len, const char *vals[NFIELDS], const char *extra)
{
	size_t off = (size_t)snprintf(buf, len, "{");
	for (size_t i = 0; i < NFIELDS; i++)
		if (vals[i] != NULL)
			off += (size_t)snprintf(buf + off, len - off, "%s\"%s\":%s",
						off > 1 ? "," : "", fields[i], vals[i]);
	snprintf(buf + off, len - off, "%s%s}", off > 1 && extra[0] ? "," : "", extra);
	return buf;
}

/* A registration with one required field's raw JSON value replaced. */
static const char *reg_with(char *buf, size_t len, const char *field, const char *raw)
{
	const char *vals[NFIELDS] = {"\"1.0\"", "\"registration\"", "\"" TS "\"", "\"web1\""};
	for (size_t i = 0; i < NFIELDS; i++)
		if (strcmp(fields[i], field) == 0)
			vals[i] = raw;
	return reg(buf, len, vals, "");
}

static const char *reg_token(char *buf, size_t len, const char *raw_token)
{
	const char *vals[NFIELDS] = {"\"1.0\"", "\"registration\"", "\"" TS "\"", "\"web1\""};
	char extra[PRISM_TOKEN_MAX + 64];
	snprintf(extra, sizeof(extra), "\"auth_token\":%s", raw_token);
	return reg(buf, len, vals, extra);
}

static void expect_ok(const char *json, struct prism_agent_req *req)
{
	char err[PRISM_AGENT_ERRMSG_MAX] = "";
	int ret = parse(json, req, err);
	if (ret != 0)
		fail_msg("%s rejected: %s", json, err);
}

static void test_null_args(void **state)
{
	struct prism_agent_req req;
	char err[PRISM_AGENT_ERRMSG_MAX];
	const uint8_t *p = (const uint8_t *)VALID;
	size_t n = strlen(VALID);

	assert_int_equal(prism_agent_parse(NULL, n, &req, err, sizeof(err)), PRISM_EINVAL);
	assert_int_equal(prism_agent_parse(NULL, 0, &req, err, sizeof(err)), PRISM_EINVAL);
	assert_int_equal(prism_agent_parse(p, n, NULL, err, sizeof(err)), PRISM_EINVAL);
	assert_int_equal(prism_agent_parse(p, n, &req, NULL, sizeof(err)), PRISM_EINVAL);
	assert_int_equal(prism_agent_parse(p, n, &req, err, 0), PRISM_EINVAL);
	assert_int_equal(prism_agent_err_too_large(1, NULL, 10), PRISM_EINVAL);
	assert_int_equal(prism_agent_err_too_large(1, err, 0), PRISM_EINVAL);

	struct prism_agent_resp resp = {.message = "x"};
	uint8_t *out;
	size_t outlen;
	assert_int_equal(prism_agent_resp_encode(NULL, &out, &outlen), PRISM_EINVAL);
	assert_int_equal(prism_agent_resp_encode(&resp, NULL, &outlen), PRISM_EINVAL);
	assert_int_equal(prism_agent_resp_encode(&resp, &out, NULL), PRISM_EINVAL);
	resp.message = NULL;
	assert_int_equal(prism_agent_resp_encode(&resp, &out, &outlen), PRISM_EINVAL);
}

static void test_decode_empty(void **state)
{
	expect_err_len("", 0, PRISM_EPROTO, ERR_DECODE "empty message");
	expect_err_len(VALID, 0, PRISM_EPROTO, ERR_DECODE "empty message");
}

static void test_decode_utf8(void **state)
{
	/* byte offsets of the first bad byte */
	expect_err("\xff", PRISM_EPROTO, ERR_DECODE "invalid UTF-8 at byte 0");
	expect_err("{\"a\":\"\xc0\xaf\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* overlong '/' */
	expect_err("{\"a\":\"\xe0\x80\xaf\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* overlong, 3 bytes */
	expect_err("{\"a\":\"\xf0\x80\x80\xaf\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* overlong, 4 bytes */
	expect_err("{\"a\":\"\xed\xa0\x80\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* surrogate U+D800 */
	expect_err("{\"a\":\"\xf4\x90\x80\x80\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* above U+10FFFF */
	expect_err("{\"a\":\"\x80\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* lone continuation */
	expect_err("{\"a\":\"\xe2\x82\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* truncated sequence */
	expect_err("{\"ok\":\"caf\xc3\xa9\",\"b\":\"\xfe\"}", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 19");
	expect_err("{\"a\":\"\xe2\x82", PRISM_EPROTO,
		   ERR_DECODE "invalid UTF-8 at byte 6"); /* cut at the end of the input */
}

static void test_decode_valid_utf8(void **state)
{
	struct prism_agent_req req;
	char buf[512];
	/* 2-, 3- and 4-byte characters, U+FFFF, U+10FFFF and U+E000 in an ignored field */
	snprintf(buf, sizeof(buf),
		 "{\"note\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf "
		 "\xf4\x8f\xbf\xbf \xee\x80\x80\",%s",
		 &VALID[1]);
	expect_ok(buf, &req);
	assert_string_equal(req.hostname, "web1");
}

static void expect_json_err(const char *json)
{
	struct prism_agent_req req;
	char err[PRISM_AGENT_ERRMSG_MAX];
	const char *prefix = ERR_DECODE "invalid JSON: ";
	assert_int_equal(parse(json, &req, err), PRISM_EPROTO);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("%s: unexpected message %s", json, err);
	assert_non_null(strstr(err, " at line "));
	assert_non_null(strstr(err, " column "));
}

static void test_decode_not_json(void **state)
{
	expect_json_err("not json");
	expect_json_err("{");
	expect_json_err("{\"version\":\"1.0\",}");
	expect_json_err("{'version':'1.0'}");
	expect_json_err("   ");
	expect_json_err("\n");
	expect_json_err(VALID "x");
	expect_json_err(VALID VALID); /* two values in one frame */
	expect_json_err("{\"a\":\"\\u0000\"}");
	expect_json_err("{\"a\":\"\\ud800\"}"); /* escaped lone surrogate */
	expect_json_err("{\"a\":1e999}");

	/* a raw NUL byte is valid UTF-8 but not JSON */
	struct prism_agent_req req;
	char err[PRISM_AGENT_ERRMSG_MAX];
	assert_int_equal(parse_len("{\"a\":1}\0", 8, &req, err), PRISM_EPROTO);
	assert_non_null(strstr(err, ERR_DECODE "invalid JSON: "));
}

static void test_decode_error_text_encodes(void **state)
{
	/* jansson quotes some of the input in its message; whatever it quotes, the reply built
	 * from it must still encode (valid UTF-8) */
	const char *cases[] = {
		"[\"\xc3\xa9\\q\"]",
		"[\"a\xc3\xa9\\q\"]",
		"\xe2\x82\xac",
		("{\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
		 "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"),
		"[\xc3\xa9\xc3\xa9\xc3\xa9]",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct prism_agent_req req;
		char err[PRISM_AGENT_ERRMSG_MAX];
		assert_int_equal(parse(cases[i], &req, err), PRISM_EPROTO);
		struct prism_agent_resp resp = {.message = err};
		uint8_t *out;
		size_t outlen;
		assert_int_equal(prism_agent_resp_encode(&resp, &out, &outlen), 0);
		free(out);
	}
}

static void test_not_object(void **state)
{
	const char *cases[] = {"[]",   "[1,2]", "[" VALID "]", "\"string\"", "42",	 "1.0",
			       "-1e3", "null",	"true",	       "false",	     " \"x\" \n"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_err(cases[i], PRISM_EPROTO, NOT_OBJECT);
}

static void test_missing_field(void **state)
{
	char buf[512], want[128];
	const char *vals[NFIELDS] = {"\"1.0\"", "\"registration\"", "\"" TS "\"", "\"web1\""};

	for (size_t i = 0; i < NFIELDS; i++) {
		const char *v[NFIELDS];
		memcpy(v, vals, sizeof(v));
		v[i] = NULL;
		snprintf(want, sizeof(want), "Invalid message: Missing required field: %s",
			 fields[i]);
		expect_err(reg(buf, sizeof(buf), v, "\"auth_token\":\"t\""), PRISM_EMSG, want);
	}
	expect_err("{}", PRISM_EMSG, "Invalid message: Missing required field: version");
	/* presence is checked for all fields before types */
	expect_err("{\"version\":1.0,\"type\":\"registration\",\"timestamp\":\"" TS "\"}",
		   PRISM_EMSG, "Invalid message: Missing required field: hostname");
	/* names are case-sensitive */
	expect_err("{\"Version\":\"1.0\",\"type\":\"registration\",\"timestamp\":\"" TS
		   "\",\"hostname\":\"web1\"}",
		   PRISM_EMSG, "Invalid message: Missing required field: version");
}

static void test_not_string(void **state)
{
	const char *raws[] = {"1", "1.0", "-0.5", "null", "true", "[]", "[\"1.0\"]", "{}"};
	char buf[512], want[128];

	for (size_t i = 0; i < NFIELDS; i++) {
		snprintf(want, sizeof(want), "Invalid message: Field '%s' must be a string",
			 fields[i]);
		for (size_t j = 0; j < sizeof(raws) / sizeof(raws[0]); j++)
			expect_err(reg_with(buf, sizeof(buf), fields[i], raws[j]), PRISM_EMSG,
				   want);
	}
	/* the first field in table order is reported */
	expect_err("{\"version\":\"1.0\",\"type\":2,\"timestamp\":3,\"hostname\":4}", PRISM_EMSG,
		   "Invalid message: Field 'type' must be a string");
}

static void test_unsupported_version(void **state)
{
	char buf[512];
	expect_err(reg_with(buf, sizeof(buf), "version", "\"2.0\""), PRISM_EMSG,
		   "Invalid message: Unsupported version: 2.0");
	expect_err(reg_with(buf, sizeof(buf), "version", "\"1\""), PRISM_EMSG,
		   "Invalid message: Unsupported version: 1");
	expect_err(reg_with(buf, sizeof(buf), "version", "\"1.0 \""), PRISM_EMSG,
		   "Invalid message: Unsupported version: 1.0 ");
	expect_err(reg_with(buf, sizeof(buf), "version", "\"\""), PRISM_EMSG,
		   "Invalid message: Unsupported version: ");
	/* version is checked before type */
	expect_err("{\"version\":\"0.9\",\"type\":\"ping\",\"timestamp\":\"x\","
		   "\"hostname\":\"-\"}",
		   PRISM_EMSG, "Invalid message: Unsupported version: 0.9");
}

static void test_unsupported_type(void **state)
{
	char buf[512];
	expect_err(reg_with(buf, sizeof(buf), "type", "\"ping\""), PRISM_EMSG,
		   "Invalid message: Unsupported message type: ping");
	expect_err(reg_with(buf, sizeof(buf), "type", "\"heartbeat\""), PRISM_EMSG,
		   "Invalid message: Unsupported message type: heartbeat");
	expect_err(reg_with(buf, sizeof(buf), "type", "\"Registration\""), PRISM_EMSG,
		   "Invalid message: Unsupported message type: Registration");
	expect_err(reg_with(buf, sizeof(buf), "type", "\"response\""), PRISM_EMSG,
		   "Invalid message: Unsupported message type: response");
	/* type is checked before timestamp */
	expect_err("{\"version\":\"1.0\",\"type\":\"ping\",\"timestamp\":\"x\","
		   "\"hostname\":\"-\"}",
		   PRISM_EMSG, "Invalid message: Unsupported message type: ping");
}

static void expect_bad_ts(const char *raw, const char *reason)
{
	char buf[512], want[256];
	snprintf(want, sizeof(want), "Invalid message: Invalid timestamp: %s", reason);
	expect_err(reg_with(buf, sizeof(buf), "timestamp", raw), PRISM_EMSG, want);
}

static void test_invalid_timestamp(void **state)
{
	expect_bad_ts("\"2025-01-01\"", "missing time part");
	expect_bad_ts("\"garbage\"", "invalid date (expected YYYY-MM-DD)");
	expect_bad_ts("\"\"", "invalid date (expected YYYY-MM-DD)");
	expect_bad_ts("\"2025-13-01T00:00:00\"", "month out of range");
	expect_bad_ts("\"2025-02-30T00:00:00\"", "day out of range");
	expect_bad_ts("\"2025-02-29T00:00:00\"", "day out of range");
	expect_bad_ts("\"2025-01-01T25:00:00\"", "hour out of range");
	expect_bad_ts("\"2025-01-01T12:00:00 UTC\"", "invalid time zone");
	/* timestamp is checked before hostname */
	expect_err("{\"version\":\"1.0\",\"type\":\"registration\",\"timestamp\":\"x\","
		   "\"hostname\":\"-\"}",
		   PRISM_EMSG,
		   "Invalid message: Invalid timestamp: invalid date (expected YYYY-MM-DD)");
}

static void test_valid_timestamps(void **state)
{
	const char *ok[] = {"\"2025-01-01T12:00:00Z\"", "\"2025-01-01T12:00:00+00:00\"",
			    "\"2025-01-01T12:00:00.123456789\"", "\"2025-01-01 12:00:00\"",
			    "\"2024-02-29T00:00:00.5-08:00\""};
	char buf[512];
	struct prism_agent_req req;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		expect_ok(reg_with(buf, sizeof(buf), "timestamp", ok[i]), &req);
}

static void expect_bad_host(const char *host, const char *reason)
{
	char buf[1024], raw[600], want[256];
	snprintf(raw, sizeof(raw), "\"%s\"", host);
	snprintf(want, sizeof(want), "Invalid message: Invalid hostname: %s", reason);
	expect_err(reg_with(buf, sizeof(buf), "hostname", raw), PRISM_EMSG, want);
}

static void test_invalid_hostname(void **state)
{
	char name[300];

	expect_bad_host("", "empty");
	expect_bad_host("web_1", "invalid character '_'");
	expect_bad_host("web 1", "invalid character 0x20");
	expect_bad_host("caf\xc3\xa9", "invalid character 0xc3");
	expect_bad_host("a..b", "empty label");
	expect_bad_host("web1.", "leading or trailing dot");
	expect_bad_host(".web1", "leading or trailing dot");
	expect_bad_host("-web1", "label starts or ends with '-'");
	expect_bad_host("web1-.example", "label starts or ends with '-'");
	memset(name, 'a', 64);
	name[64] = '\0';
	expect_bad_host(name, "label too long (64 > 63)");
	for (size_t i = 0; i < 254; i++)
		name[i] = (i % 2) ? '.' : 'A';
	name[254] = '\0';
	expect_bad_host(name, "too long (254 > 253)");
	/* length counts bytes: 127 two-byte characters are 254 bytes */
	name[0] = '\0';
	for (int i = 0; i < 127; i++)
		strcat(name, "\xc3\xa9");
	expect_bad_host(name, "too long (254 > 253)");
	/* an escaped character is checked as the character it stands for */
	expect_bad_host("web\\u005f1", "invalid character '_'");
	expect_bad_host("web\\t1", "invalid character 0x09");
}

static void test_valid_hostnames(void **state)
{
	char buf[1024], raw[600], name[300];
	struct prism_agent_req req;

	expect_ok(reg_with(buf, sizeof(buf), "hostname", "\"WEB1.Example\""), &req);
	assert_string_equal(req.hostname, "web1.example");
	expect_ok(reg_with(buf, sizeof(buf), "hostname", "\"web\\u002D1\""), &req);
	assert_string_equal(req.hostname, "web-1");
	for (size_t i = 0; i < 253; i++)
		name[i] = (i % 2) ? '.' : 'Z';
	name[253] = '\0';
	snprintf(raw, sizeof(raw), "\"%s\"", name);
	expect_ok(reg_with(buf, sizeof(buf), "hostname", raw), &req);
	assert_int_equal(strlen(req.hostname), 253);
	assert_int_equal(req.hostname[0], 'z');
}

static void test_message_too_large(void **state)
{
	char err[PRISM_AGENT_ERRMSG_MAX];
	const uint8_t frame[] = {0x00, 0x01, 0x00, 0x01, '{', '}'};
	struct prism_frame_reader r;
	const uint8_t *p;
	size_t n;
	uint32_t declared = 0;

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, frame, sizeof(frame)), 0);
	assert_int_equal(prism_frame_next(&r, &p, &n, &declared), PRISM_ETOOBIG);
	prism_frame_reader_deinit(&r);
	assert_int_equal(prism_agent_err_too_large(declared, err, sizeof(err)), PRISM_EPROTO);
	assert_string_equal(err, "Protocol error: Message too large: 65537 > 65536");

	assert_int_equal(prism_agent_err_too_large(UINT32_MAX, err, sizeof(err)), PRISM_EPROTO);
	assert_string_equal(err, "Protocol error: Message too large: 4294967295 > 65536");
	assert_int_equal(prism_agent_err_too_large(70000, err, 9), PRISM_EPROTO);
	assert_string_equal(err, "Protocol");
}

static void test_success(void **state)
{
	struct prism_agent_req req;

	expect_ok(VALID, &req);
	assert_string_equal(req.hostname, "web1");
	assert_string_equal(req.token, "secret");
	assert_true(req.has_token);
	assert_false(req.token_too_long);

	/* spaced, pretty, any key order, unknown fields and client_ip ignored */
	expect_ok("{\n  \"hostname\" : \"Host-A.Lab\",\n  \"client_ip\" : \"10.0.0.5\",\n"
		  "  \"timestamp\" : \"2025-01-01T12:00:00.123456\",\n  \"auth_token\" : null,\n"
		  "  \"type\" : \"registration\",\n  \"extra\" : {\"x\": [1, 2.5, null]},\n"
		  "  \"version\" : \"1.0\"\n}\n",
		  &req);
	assert_string_equal(req.hostname, "host-a.lab");
	assert_false(req.has_token);
	assert_string_equal(req.token, "");

	/* client_ip of any type is ignored */
	expect_ok("{\"client_ip\":42,\"version\":\"1.0\",\"type\":\"registration\","
		  "\"timestamp\":\"" TS "\",\"hostname\":\"web1\"}",
		  &req);
	/* trailing whitespace is fine */
	expect_ok(VALID " \t\r\n", &req);
	/* a duplicated key: the last one wins */
	expect_ok("{\"hostname\":\"first\",\"version\":\"1.0\",\"type\":\"registration\","
		  "\"timestamp\":\"" TS "\",\"hostname\":\"Second\"}",
		  &req);
	assert_string_equal(req.hostname, "second");
}

static void test_token(void **state)
{
	char buf[2048], raw[PRISM_TOKEN_MAX + 8];
	struct prism_agent_req req;

	const char *vals[NFIELDS] = {"\"1.0\"", "\"registration\"", "\"" TS "\"", "\"web1\""};
	expect_ok(reg(buf, sizeof(buf), vals, ""), &req); /* absent */
	assert_false(req.has_token);
	assert_false(req.token_too_long);
	assert_string_equal(req.token, "");

	expect_ok(reg_token(buf, sizeof(buf), "null"), &req);
	assert_false(req.has_token);
	expect_ok(reg_token(buf, sizeof(buf), "\"\""), &req);
	assert_false(req.has_token);
	assert_string_equal(req.token, "");

	expect_ok(reg_token(buf, sizeof(buf), "\"abc\\\"def\""), &req);
	assert_true(req.has_token);
	assert_string_equal(req.token, "abc\"def");

	/* exactly PRISM_TOKEN_MAX is kept, one more is flagged */
	raw[0] = '"';
	memset(raw + 1, 'k', PRISM_TOKEN_MAX);
	memcpy(raw + 1 + PRISM_TOKEN_MAX, "\"", 2);
	expect_ok(reg_token(buf, sizeof(buf), raw), &req);
	assert_true(req.has_token);
	assert_false(req.token_too_long);
	assert_int_equal(strlen(req.token), PRISM_TOKEN_MAX);

	memset(raw + 1, 'k', PRISM_TOKEN_MAX + 1);
	memcpy(raw + 2 + PRISM_TOKEN_MAX, "\"", 2);
	expect_ok(reg_token(buf, sizeof(buf), raw), &req);
	assert_true(req.has_token);
	assert_true(req.token_too_long);
	assert_string_equal(req.token, "");

	const char *bad[] = {"1", "1.5", "true", "{}", "[\"tok\"]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_err(reg_token(buf, sizeof(buf), bad[i]), PRISM_EMSG,
			   "Invalid message: Field 'auth_token' must be a string");
}

static void test_req_reset(void **state)
{
	struct prism_agent_req req;
	char err[PRISM_AGENT_ERRMSG_MAX];
	char buf[512];

	expect_ok(VALID, &req);
	assert_int_equal(parse(reg_token(buf, sizeof(buf), "7"), &req, err), PRISM_EMSG);
	assert_string_equal(req.hostname, "");
	assert_string_equal(req.token, "");
	assert_false(req.has_token);
	assert_string_equal(err, "Invalid message: Field 'auth_token' must be a string");
	expect_ok(VALID, &req);
	assert_string_equal(req.token, "secret");
	expect_ok(reg_token(buf, sizeof(buf), "null"), &req);
	assert_string_equal(req.token, "");
}

static void test_errmsg_truncation(void **state)
{
	struct prism_agent_req req;
	char buf[2048], raw[1200], err[64];
	const char *p = (const char *)buf;

	/* a long version made of 2-byte characters: every cut must stay valid UTF-8 */
	raw[0] = '"';
	raw[1] = '\0';
	for (int i = 0; i < 500; i++)
		strcat(raw, "\xc3\xa9");
	strcat(raw, "\"");
	reg_with(buf, sizeof(buf), "version", raw);

	char big[PRISM_AGENT_ERRMSG_MAX];
	assert_int_equal(prism_agent_parse((const uint8_t *)p, strlen(p), &req, big, sizeof(big)),
			 PRISM_EMSG);
	assert_true(strlen(big) < sizeof(big));
	assert_int_equal(strncmp(big, "Invalid message: Unsupported version: \xc3\xa9", 40), 0);

	for (size_t len = 1; len < sizeof(err); len++) {
		memset(err, 'z', sizeof(err));
		assert_int_equal(prism_agent_parse((const uint8_t *)p, strlen(p), &req, err, len),
				 PRISM_EMSG);
		assert_true(strlen(err) < len);
		assert_int_equal(strncmp(err, big, strlen(err)), 0);
		struct prism_agent_resp resp = {.message = err};
		uint8_t *out;
		size_t outlen;
		assert_int_equal(prism_agent_resp_encode(&resp, &out, &outlen), 0);
		free(out);
	}
	err[0] = 'z';
	assert_int_equal(prism_agent_parse((const uint8_t *)"", 0, &req, err, 1), PRISM_EPROTO);
	assert_string_equal(err, "");
}

/* Encode, check the frame prefix, and return the JSON text (caller frees). */
static char *encode(const struct prism_agent_resp *resp)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	assert_int_equal(prism_agent_resp_encode(resp, &out, &outlen), 0);
	assert_true(outlen >= 4);
	uint32_t n =
		(uint32_t)out[0] << 24 | (uint32_t)out[1] << 16 | (uint32_t)out[2] << 8 | out[3];
	assert_int_equal(n, outlen - 4);
	char *text = malloc(n + 1);
	assert_non_null(text);
	memcpy(text, out + 4, n);
	text[n] = '\0';
	free(out);
	return text;
}

static void expect_encoded(const struct prism_agent_resp *resp, const char *want)
{
	char *text = encode(resp);
	assert_string_equal(text, want);
	free(text);
}

#define NOW	 1735732800123456LL
#define NOW_TEXT "2025-01-01T12:00:00.123456+00:00"

static void test_resp_key_order(void **state)
{
	struct prism_agent_resp resp = {
		.success = true,
		.message = "New host registered with IP 192.0.2.1",
		.now_usec = NOW,
		.result = "new",
		.code = "ok",
		.hostname = "web1",
		.ip = "192.0.2.1",
		.fqdn = "web1.example.com.",
	};
	expect_encoded(&resp, "{\"version\":\"1.0\",\"type\":\"response\",\"status\":\"success\","
			      "\"message\":\"New host registered with IP 192.0.2.1\","
			      "\"timestamp\":\"" NOW_TEXT "\",\"result\":\"new\","
			      "\"hostname\":\"web1\",\"ip\":\"192.0.2.1\","
			      "\"fqdn\":\"web1.example.com.\",\"code\":\"ok\"}");

	struct prism_agent_resp err = {
		.message = "Invalid message: Missing required field: hostname",
		.now_usec = NOW,
	};
	expect_encoded(&err, "{\"version\":\"1.0\",\"type\":\"response\",\"status\":\"error\","
			     "\"message\":\"Invalid message: Missing required field: hostname\","
			     "\"timestamp\":\"" NOW_TEXT "\"}");

	/* only the extras given appear, still in their fixed order */
	err.code = "invalid_message";
	err.hostname = "web1";
	expect_encoded(&err, "{\"version\":\"1.0\",\"type\":\"response\",\"status\":\"error\","
			     "\"message\":\"Invalid message: Missing required field: hostname\","
			     "\"timestamp\":\"" NOW_TEXT "\",\"hostname\":\"web1\","
			     "\"code\":\"invalid_message\"}");
}

static void test_resp_escaping(void **state)
{
	struct prism_agent_resp resp = {
		.success = false,
		.message = "Unsupported version: \"x\"\n\\ caf\xc3\xa9 \x01",
		.now_usec = 0,
	};
	expect_encoded(&resp, "{\"version\":\"1.0\",\"type\":\"response\",\"status\":\"error\","
			      "\"message\":\"Unsupported version: \\\"x\\\"\\n\\\\ "
			      "caf\xc3\xa9 \\u0001\",\"timestamp\":"
			      "\"1970-01-01T00:00:00.000000+00:00\"}");
}

static void test_resp_invalid(void **state)
{
	uint8_t *out = NULL;
	size_t outlen;
	struct prism_agent_resp resp = {.message = "bad \xc3", .now_usec = NOW};

	assert_int_equal(prism_agent_resp_encode(&resp, &out, &outlen), PRISM_EINVAL);
	resp.message = "ok";
	resp.ip = "\xff";
	assert_int_equal(prism_agent_resp_encode(&resp, &out, &outlen), PRISM_EINVAL);
	resp.ip = NULL;
	resp.now_usec = INT64_MAX;
	assert_int_equal(prism_agent_resp_encode(&resp, &out, &outlen), PRISM_EINVAL);
	assert_null(out);

	/* a response that would not fit in one frame */
	char *big = malloc(PRISM_FRAME_MAX + 1);
	assert_non_null(big);
	memset(big, 'm', PRISM_FRAME_MAX);
	big[PRISM_FRAME_MAX] = '\0';
	resp.now_usec = NOW;
	resp.message = big;
	assert_int_equal(prism_agent_resp_encode(&resp, &out, &outlen), PRISM_EINVAL);
	free(big);
}

static void test_resp_roundtrip(void **state)
{
	struct prism_agent_resp resp = {
		.success = true,
		.message = "IP address changed from 192.0.2.1 to 2001:db8::1",
		.now_usec = NOW,
		.result = "ip_changed",
		.ip = "2001:db8::1",
	};
	char *text = encode(&resp);
	json_error_t e;
	json_t *obj = json_loads(text, 0, &e);
	assert_non_null(obj);
	assert_string_equal(json_string_value(json_object_get(obj, "status")), "success");
	assert_string_equal(json_string_value(json_object_get(obj, "message")), resp.message);
	assert_string_equal(json_string_value(json_object_get(obj, "ip")), resp.ip);
	assert_null(json_object_get(obj, "fqdn"));
	assert_int_equal(json_object_size(obj), 7);
	json_decref(obj);
	free(text);
}

int main(void)
{
	json_set_alloc_funcs(jt_malloc, jt_free);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_decode_empty),
		cmocka_unit_test(test_decode_utf8),
		cmocka_unit_test(test_decode_valid_utf8),
		cmocka_unit_test(test_decode_not_json),
		cmocka_unit_test(test_decode_error_text_encodes),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_missing_field),
		cmocka_unit_test(test_not_string),
		cmocka_unit_test(test_unsupported_version),
		cmocka_unit_test(test_unsupported_type),
		cmocka_unit_test(test_invalid_timestamp),
		cmocka_unit_test(test_valid_timestamps),
		cmocka_unit_test(test_invalid_hostname),
		cmocka_unit_test(test_valid_hostnames),
		cmocka_unit_test(test_message_too_large),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_req_reset),
		cmocka_unit_test(test_errmsg_truncation),
		cmocka_unit_test(test_resp_key_order),
		cmocka_unit_test(test_resp_escaping),
		cmocka_unit_test(test_resp_invalid),
		cmocka_unit_test(test_resp_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
