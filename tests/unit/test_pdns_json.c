/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bodies come from the library's malloc(); release them with the real free(), defined before
 * cmocka.h turns free into test_free under UNIT_TESTING. */
static void lib_free(void *p)
{
	free(p);
}

/* jansson's allocations counted (json_set_alloc_funcs): a zone the fast path reads allocates
 * nothing through jansson, one it leaves to the reference does. */
static size_t jansson_allocs;

static void *lib_malloc(size_t n)
{
	return malloc(n);
}

static void *counting_malloc(size_t n)
{
	jansson_allocs++;
	return malloc(n);
}

#include <cmocka.h>

#include "core/error.h"
#include "core/pdns_json.h"

#define ACCOUNT "prism"
#define COMMENT "managed by prism instance test"

static const char *const www_rec[] = {"192.0.2.1", "192.0.2.2"};

static json_t *parse(const char *body, size_t len)
{
	json_error_t err;
	json_t *root = json_loadb(body, len, 0, &err);

	if (root == NULL)
		fail_msg("invalid JSON (%s): %s", err.text, body);
	assert_int_equal(strlen(body), len);
	return root;
}

static json_t *patch(const struct prism_rr_change *c, size_t n)
{
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(prism_pdns_patch_body(c, n, ACCOUNT, COMMENT, &body, &len), 0);
	assert_non_null(body);
	json_t *root = parse(body, len);

	lib_free(body);
	return root;
}

static void expect_patch_einval(const struct prism_rr_change *c, size_t n)
{
	char *body = NULL;
	size_t len = 0;

	assert_int_equal(prism_pdns_patch_body(c, n, ACCOUNT, COMMENT, &body, &len), PRISM_EINVAL);
	assert_null(body);
}

/* ---- PATCH body ---- */

static void test_patch_null_args(void **state)
{
	struct prism_rr_change c = {"www.example.com.", "A", 60, www_rec, 2};
	char *body = NULL;
	size_t len;

	(void)state;
	assert_int_equal(prism_pdns_patch_body(NULL, 1, ACCOUNT, COMMENT, &body, &len),
			 PRISM_EINVAL);
	assert_int_equal(prism_pdns_patch_body(&c, 0, ACCOUNT, COMMENT, &body, &len),
			 PRISM_EINVAL);
	assert_int_equal(prism_pdns_patch_body(&c, 1, NULL, COMMENT, &body, &len), PRISM_EINVAL);
	assert_int_equal(prism_pdns_patch_body(&c, 1, ACCOUNT, NULL, &body, &len), PRISM_EINVAL);
	assert_int_equal(prism_pdns_patch_body(&c, 1, ACCOUNT, COMMENT, NULL, &len), PRISM_EINVAL);
	assert_null(body);
	/* len is optional */
	assert_int_equal(prism_pdns_patch_body(&c, 1, ACCOUNT, COMMENT, &body, NULL), 0);
	assert_non_null(body);
	lib_free(body);
}

/* A replacement of an RRset that carries the mark already leaves its comments alone. */
static void test_patch_keep_mark(void **state)
{
	struct prism_rr_change c[2] = {{"www.example.com.", "A", 60, www_rec, 2, true},
				       {"new.example.com.", "A", 60, www_rec, 2, false}};
	char *body = NULL;

	(void)state;
	assert_int_equal(prism_pdns_patch_body(c, 2, ACCOUNT, COMMENT, &body, NULL), 0);
	const char *www = strstr(body, "www.example.com.");
	const char *nw = strstr(body, "new.example.com.");
	assert_non_null(www);
	assert_non_null(nw);
	assert_true(www < nw);
	/* one comments array, after the new RRset's name */
	const char *com = strstr(body, "\"comments\"");
	assert_non_null(com);
	assert_true(com > nw);
	assert_null(strstr(com + 1, "\"comments\""));
	lib_free(body);
}

/* A valid-looking name of exactly @p total characters: labels of up to 63, trailing dot. */
static void make_name(char *out, size_t total)
{
	size_t o = 0;

	while (o < total) {
		size_t label = total - o - 1 > 63 ? 63 : total - o - 1;

		memset(out + o, 'a', label);
		o += label;
		out[o++] = '.';
	}
	out[o] = '\0';
	assert_int_equal(strlen(out), total);
}

static void test_patch_bad_names(void **state)
{
	static const char *const bad[] = {
		"",
		"www.example.com",
		".",
		"a..example.",
		".example.",
		"white space.example.",
		"tab\t.example.",
		"ctl\x01.example.",
		"\xc3\xa9.example.",
		/* 64-character label */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example.",
	};
	struct prism_rr_change c = {NULL, "A", 60, www_rec, 2};
	char longname[300];

	(void)state;
	expect_patch_einval(&c, 1); /* NULL name */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.name = bad[i];
		if (strcmp(bad[i], ".") == 0)
			continue; /* the root is a valid name, checked below */
		expect_patch_einval(&c, 1);
	}
	/* 255 characters: over the 254 limit */
	make_name(longname, 255);
	c.name = longname;
	expect_patch_einval(&c, 1);
	/* 254 characters with the dot: accepted */
	make_name(longname, 254);
	c.name = longname;
	json_decref(patch(&c, 1));

	c.name = ".";
	json_decref(patch(&c, 1));
	c.name = "_srv._tcp.*.example.";
	json_decref(patch(&c, 1));
}

static void test_patch_bad_types_and_records(void **state)
{
	static const char *const null_rec[] = {"192.0.2.1", NULL};
	static const char *const bad_utf8[] = {"\"\xff\xfe\""};
	static const char *const surrogate[] = {"\"\xed\xa0\x80\""};
	static const char *const overlong[] = {"\"\xc0\xaf\""};
	struct prism_rr_change c = {"www.example.com.", NULL, 60, www_rec, 2};

	(void)state;
	expect_patch_einval(&c, 1);
	c.type = "";
	expect_patch_einval(&c, 1);
	c.type = "a";
	expect_patch_einval(&c, 1);
	c.type = "A A";
	expect_patch_einval(&c, 1);
	c.type = "AAAAAAAAAAAAAAAAA"; /* 17 */
	expect_patch_einval(&c, 1);
	c.type = "TYPE65534";
	json_decref(patch(&c, 1));

	c.type = "A";
	c.records = NULL; /* nrecords 2 but no array */
	expect_patch_einval(&c, 1);
	c.records = null_rec;
	expect_patch_einval(&c, 1);
	c.type = "TXT";
	c.nrecords = 1;
	c.records = bad_utf8;
	expect_patch_einval(&c, 1);
	c.records = surrogate;
	expect_patch_einval(&c, 1);
	c.records = overlong;
	expect_patch_einval(&c, 1);

	/* one bad change fails the whole body */
	struct prism_rr_change two[] = {
		{"ok.example.", "A", 60, www_rec, 2},
		{"bad name.example.", "A", 60, www_rec, 2},
	};
	expect_patch_einval(two, 2);

	/* invalid UTF-8 in the comment */
	char *body = NULL;
	size_t len;

	assert_int_equal(prism_pdns_patch_body(two, 1, ACCOUNT, "bad \xff", &body, &len),
			 PRISM_EINVAL);
	assert_null(body);
}

static void test_patch_delete_first(void **state)
{
	static const char *const a[] = {"192.0.2.1"};
	static const char *const cname[] = {"target.example."};
	const struct prism_rr_change c[] = {
		{"r1.example.", "A", 60, a, 1},		 {"d1.example.", "CNAME", 60, NULL, 0},
		{"r2.example.", "CNAME", 120, cname, 1}, {"d2.example.", "AAAA", 0, NULL, 0},
		{"r3.example.", "A", 30, a, 1},
	};
	static const char *const order[] = {
		"d1.example.", "d2.example.", "r1.example.", "r2.example.", "r3.example.",
	};

	(void)state;
	json_t *root = patch(c, 5);
	json_t *rrsets = json_object_get(root, "rrsets");

	assert_int_equal(json_object_size(root), 1);
	assert_true(json_is_array(rrsets));
	assert_int_equal(json_array_size(rrsets), 5);
	for (size_t i = 0; i < 5; i++) {
		json_t *o = json_array_get(rrsets, i);
		const char *ct = json_string_value(json_object_get(o, "changetype"));

		assert_string_equal(json_string_value(json_object_get(o, "name")), order[i]);
		assert_string_equal(ct, i < 2 ? "DELETE" : "REPLACE");
	}
	json_decref(root);
}

static void test_patch_structure(void **state)
{
	static const char *const txt[] = {"\"v=spf1 -all\"", "\"with \\\"quotes\\\" and \\\\\""};
	const struct prism_rr_change c[] = {
		{"www.example.com.", "A", 300, www_rec, 2},
		{"old.example.com.", "AAAA", 300, NULL, 0},
		{"txt.example.com.", "TXT", 4294967295u, txt, 2},
	};

	(void)state;
	json_t *root = patch(c, 3);
	json_t *rrsets = json_object_get(root, "rrsets");

	/* DELETE: exactly name, type, changetype */
	json_t *del = json_array_get(rrsets, 0);

	assert_int_equal(json_object_size(del), 3);
	assert_string_equal(json_string_value(json_object_get(del, "name")), "old.example.com.");
	assert_string_equal(json_string_value(json_object_get(del, "type")), "AAAA");
	assert_string_equal(json_string_value(json_object_get(del, "changetype")), "DELETE");

	/* REPLACE: name, type, ttl, changetype, records, comments */
	json_t *rep = json_array_get(rrsets, 1);

	assert_int_equal(json_object_size(rep), 6);
	assert_string_equal(json_string_value(json_object_get(rep, "name")), "www.example.com.");
	assert_string_equal(json_string_value(json_object_get(rep, "type")), "A");
	assert_true(json_is_integer(json_object_get(rep, "ttl")));
	assert_int_equal(json_integer_value(json_object_get(rep, "ttl")), 300);
	assert_string_equal(json_string_value(json_object_get(rep, "changetype")), "REPLACE");
	json_t *records = json_object_get(rep, "records");

	assert_int_equal(json_array_size(records), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *r = json_array_get(records, i);

		assert_int_equal(json_object_size(r), 2);
		assert_string_equal(json_string_value(json_object_get(r, "content")), www_rec[i]);
		assert_true(json_is_false(json_object_get(r, "disabled")));
	}
	json_t *comments = json_object_get(rep, "comments");

	assert_int_equal(json_array_size(comments), 1);
	json_t *cm = json_array_get(comments, 0);

	assert_int_equal(json_object_size(cm), 2);
	assert_string_equal(json_string_value(json_object_get(cm, "content")), COMMENT);
	assert_string_equal(json_string_value(json_object_get(cm, "account")), ACCOUNT);

	/* escaping round-trips; the TTL keeps its full 32-bit range */
	json_t *t = json_array_get(rrsets, 2);

	assert_int_equal(json_integer_value(json_object_get(t, "ttl")), 4294967295LL);
	records = json_object_get(t, "records");
	json_t *second = json_array_get(records, 1);

	assert_string_equal(json_string_value(json_object_get(second, "content")), txt[1]);
	json_decref(root);
}

static void test_patch_exact_text(void **state)
{
	static const char *const a[] = {"192.0.2.1"};
	const struct prism_rr_change c[] = {
		{"a.example.", "A", 60, a, 1},
		{"b.example.", "A", 60, NULL, 0},
	};
	char *body = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(
		prism_pdns_patch_body(c, 2, "prism", "managed by prism instance x", &body, &len),
		0);
	assert_string_equal(
		body,
		"{\"rrsets\":["
		"{\"name\":\"b.example.\",\"type\":\"A\",\"changetype\":\"DELETE\"},"
		"{\"name\":\"a.example.\",\"type\":\"A\",\"ttl\":60,\"changetype\":\"REPLACE\","
		"\"records\":[{\"content\":\"192.0.2.1\",\"disabled\":false}],"
		"\"comments\":[{\"content\":\"managed by prism instance x\","
		"\"account\":\"prism\"}]}]}");
	assert_int_equal(len, strlen(body));
	lib_free(body);
}

/* ---- zone create body ---- */

static void test_zone_null_args(void **state)
{
	static const char *const ns[] = {"ns1.example.", NULL};
	static const char *const none[] = {NULL};
	static const char *const bad_ns[] = {"ns1.example.", "ns2 .example.", NULL};
	static const char *const rel_ns[] = {"ns1", NULL};
	char *body = NULL;
	size_t len;

	(void)state;
	assert_int_equal(prism_pdns_zone_create_body(NULL, ns, &body, &len), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body("example", ns, &body, &len), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body("", ns, &body, &len), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body("example.", NULL, &body, &len), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body("example.", none, &body, &len), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body("example.", bad_ns, &body, &len),
			 PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body("example.", rel_ns, &body, &len),
			 PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body("example.", ns, NULL, &len), PRISM_EINVAL);
	assert_null(body);
}

static void test_zone_body(void **state)
{
	static const char *const ns[] = {"ns1.example.", "ns2.example.", NULL};
	char *body = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(prism_pdns_zone_create_body("example.", ns, &body, &len), 0);
	assert_string_equal(body, "{\"name\":\"example.\",\"kind\":\"Native\","
				  "\"nameservers\":[\"ns1.example.\",\"ns2.example.\"],"
				  "\"soa_edit_api\":\"DEFAULT\",\"api_rectify\":false}");
	json_t *root = parse(body, len);

	lib_free(body);
	assert_int_equal(json_object_size(root), 5);
	assert_string_equal(json_string_value(json_object_get(root, "kind")), "Native");
	assert_int_equal(json_array_size(json_object_get(root, "nameservers")), 2);
	assert_true(json_is_false(json_object_get(root, "api_rectify")));
	json_decref(root);
}

/* A zone created with its RRsets: the SOA first, then every RRset with the mark (a kept
 * mark is written too: the zone is new), deletions left out. */
static void test_zone_body_rrsets(void **state)
{
	static const char *const ns[] = {"ns1.example.", NULL};
	static const char *const one[] = {"192.0.2.9"};
	const struct prism_rr_change c[] = {
		{"www.example.", "A", 300, www_rec, 2, false},
		{"old.example.", "A", 300, NULL, 0, false},
		{"mail.example.", "A", 60, one, 1, true},
	};
	char *body = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(prism_pdns_zone_create_body_rrsets("example.", ns, "a. b. 1 2 3 4 5", 0,
							    "Master", c, 3, ACCOUNT, COMMENT,
							    &body, &len),
			 0);
	json_t *root = parse(body, len);
	lib_free(body);
	assert_string_equal(json_string_value(json_object_get(root, "kind")), "Master");
	json_t *rr = json_object_get(root, "rrsets");
	assert_int_equal(json_array_size(rr), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rr, 0), "type")),
			    "SOA");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rr, 0), "ttl")), 3600);
	for (size_t i = 1; i < 3; i++) {
		json_t *x = json_array_get(rr, i);
		json_t *cm = json_array_get(json_object_get(x, "comments"), 0);
		assert_string_equal(json_string_value(json_object_get(cm, "account")), ACCOUNT);
		assert_string_equal(json_string_value(json_object_get(cm, "content")), COMMENT);
	}
	assert_string_equal(json_string_value(json_object_get(json_array_get(rr, 1), "name")),
			    "www.example.");
	assert_int_equal(json_array_size(json_object_get(json_array_get(rr, 1), "records")), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rr, 2), "name")),
			    "mail.example.");
	json_decref(root);

	/* only deletions: the zone alone, as prism_pdns_zone_create_body_kind writes it */
	char *alone = NULL, *plain = NULL;
	assert_int_equal(prism_pdns_zone_create_body_rrsets("example.", ns, NULL, 0, NULL, &c[1],
							    1, ACCOUNT, COMMENT, &alone, NULL),
			 0);
	assert_int_equal(
		prism_pdns_zone_create_body_kind("example.", ns, NULL, 0, NULL, &plain, NULL), 0);
	assert_string_equal(alone, plain);
	lib_free(alone);
	lib_free(plain);

	/* bad input: an RRset, the mark, the SOA's text */
	const struct prism_rr_change bad = {"www example.", "A", 300, one, 1, false};
	body = NULL;
	assert_int_equal(prism_pdns_zone_create_body_rrsets("example.", ns, NULL, 0, NULL, &bad, 1,
							    ACCOUNT, COMMENT, &body, NULL),
			 PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body_rrsets("example.", ns, NULL, 0, NULL, c, 1,
							    NULL, COMMENT, &body, NULL),
			 PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body_rrsets("example.", ns, NULL, 0, NULL, NULL, 1,
							    ACCOUNT, COMMENT, &body, NULL),
			 PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_create_body_rrsets("example.", ns, "bad \xff", 0, NULL, c,
							    1, ACCOUNT, COMMENT, &body, NULL),
			 PRISM_EINVAL);
	assert_null(body);
}

/* ---- error messages ---- */

static void test_error_null_args(void **state)
{
	char out[16] = "untouched";

	(void)state;
	prism_pdns_error_message("{\"error\":\"x\"}", 13, NULL, 16); /* no crash */
	prism_pdns_error_message("{\"error\":\"x\"}", 13, out, 0);   /* no write */
	assert_string_equal(out, "untouched");
	prism_pdns_error_message(NULL, 10, out, sizeof(out));
	assert_string_equal(out, "");
	strcpy(out, "untouched");
	prism_pdns_error_message("", 0, out, sizeof(out));
	assert_string_equal(out, "");
	strcpy(out, "untouched");
	prism_pdns_error_message("abc", 0, out, sizeof(out));
	assert_string_equal(out, "");
}

static void test_error_json(void **state)
{
	static const char body[] =
		"{\"error\": \"Record www.example.com./A 'not-an-ip': Parsing record content "
		"(try 'pdnsutil check-zone'): unable to parse IP address\"}";
	char out[512];

	(void)state;
	prism_pdns_error_message(body, strlen(body), out, sizeof(out));
	assert_string_equal(out, "Record www.example.com./A 'not-an-ip': Parsing record content "
				 "(try 'pdnsutil check-zone'): unable to parse IP address");

	/* extra members are ignored; control characters become spaces */
	static const char multi[] = "{\"errors\":[\"a\"],\"error\":\"line1\\nline2\\u0000x\"}";

	prism_pdns_error_message(multi, strlen(multi), out, sizeof(out));
	assert_string_equal(out, "line1 line2 x");
}

static void test_error_fallback(void **state)
{
	char out[512];

	(void)state;
	static const char html[] = "<html><body>Not Found</body></html>\r\n";

	prism_pdns_error_message(html, strlen(html), out, sizeof(out));
	assert_string_equal(out, "<html><body>Not Found</body></html>");

	/* JSON without a string "error" falls back to the raw text */
	static const char noerr[] = "{\"message\":\"x\"}";

	prism_pdns_error_message(noerr, strlen(noerr), out, sizeof(out));
	assert_string_equal(out, noerr);
	static const char num[] = "{\"error\":42}";

	prism_pdns_error_message(num, strlen(num), out, sizeof(out));
	assert_string_equal(out, num);

	/* non-printable and non-ASCII bytes are replaced, embedded NUL included */
	static const char bin[] = {'o', 'k', '\0', '\x01', '\xff', '\t', 'z'};

	prism_pdns_error_message(bin, sizeof(bin), out, sizeof(out));
	assert_string_equal(out, "ok??? z");

	/* only the first 200 bytes */
	char big[1000];

	memset(big, 'x', sizeof(big));
	prism_pdns_error_message(big, sizeof(big), out, sizeof(out));
	assert_int_equal(strlen(out), 200);
}

static void test_error_truncation(void **state)
{
	static const char body[] = "{\"error\":\"0123456789abcdef\"}";
	static const char utf[] = "{\"error\":\"h\xc3\xa9llo\"}";
	char out[8];

	(void)state;
	prism_pdns_error_message(body, strlen(body), out, sizeof(out));
	assert_string_equal(out, "0123456");
	prism_pdns_error_message(body, strlen(body), out, 1);
	assert_string_equal(out, "");
	/* a multi-byte character is never split */
	prism_pdns_error_message(utf, strlen(utf), out, 3);
	assert_string_equal(out, "h");
	prism_pdns_error_message(utf, strlen(utf), out, 4);
	assert_string_equal(out, "h\xc3\xa9");
	/* non-JSON truncation */
	prism_pdns_error_message("plain text body", 15, out, sizeof(out));
	assert_string_equal(out, "plain t");
	/* the body need not be NUL-terminated: only len bytes are read */
	prism_pdns_error_message("abcdef", 3, out, sizeof(out));
	assert_string_equal(out, "abc");
}

static void test_zone_parse(void **state)
{
	static const char body[] =
		"{\"name\": \"z.test.\", \"rrsets\": ["
		"{\"name\": \"WWW.z.test.\", \"type\": \"A\", \"ttl\": 60, \"records\": ["
		"{\"content\": \"192.0.2.2\", \"disabled\": false},"
		"{\"content\": \"192.0.2.1\", \"disabled\": false},"
		"{\"content\": \"192.0.2.9\", \"disabled\": true}],"
		"\"comments\": [{\"content\": \"x\", \"account\": \"prism\"}]},"
		"{\"name\": \"z.test.\", \"type\": \"SOA\", \"ttl\": 3600, \"records\": ["
		"{\"content\": \"a. b. 1 2 3 4 5\", \"disabled\": false}], \"comments\": []}]}";
	struct prism_actual_zone z;
	(void)state;
	assert_int_equal(prism_pdns_zone_parse(body, strlen(body), "prism", &z), 0);
	assert_int_equal(z.n, 2);
	assert_string_equal(z.v[0].name, "www.z.test.");
	assert_true(z.v[0].owned);
	assert_false(z.v[1].owned);
	/* same hash as the desired RRset, whatever the record order; disabled ones ignored */
	const char *recs[] = {"192.0.2.1", "192.0.2.2"};
	struct prism_rr_change rr = {"www.z.test.", "A", 60, recs, 2};
	assert_true(z.v[0].hash == prism_rrset_hash(&rr));
	prism_actual_zone_free(&z);
	assert_int_equal(prism_pdns_zone_parse("[]", 2, "prism", &z), PRISM_EPROTO);
	assert_int_equal(prism_pdns_zone_parse("{\"rrsets\": [{\"name\": 1}]}", 22, "prism", &z),
			 PRISM_EPROTO);
	assert_int_equal(prism_pdns_zone_parse(NULL, 0, "prism", &z), PRISM_EINVAL);
	prism_actual_zone_free(NULL);
}

/* ---- reading a zone: the fast path against the reference ---- */

/* Both parsers on @p body: the same code and the same RRsets. Returns the code; *fast tells
 * whether prism_pdns_zone_parse answered without jansson. The result is left in @p z. */
static int zone_both(const char *body, size_t len, struct prism_actual_zone *z, bool *fast)
{
	struct prism_actual_zone ref;

	json_set_alloc_funcs(counting_malloc, lib_free);
	jansson_allocs = 0;
	int rc = prism_pdns_zone_parse(body, len, ACCOUNT, z);
	*fast = jansson_allocs == 0;
	json_set_alloc_funcs(lib_malloc, lib_free);
	int ref_rc = prism_pdns_zone_parse_reference(body, len, ACCOUNT, &ref);
	assert_int_equal(rc, ref_rc);
	if (rc != 0)
		return rc;
	assert_int_equal(z->n, ref.n);
	for (size_t i = 0; i < z->n; i++) {
		assert_string_equal(z->v[i].name, ref.v[i].name);
		assert_string_equal(z->v[i].type, ref.v[i].type);
		assert_int_equal(z->v[i].ttl, ref.v[i].ttl);
		assert_true(z->v[i].hash == ref.v[i].hash);
		assert_int_equal(z->v[i].owned, ref.v[i].owned);
	}
	prism_actual_zone_free(&ref);
	return rc;
}

/* One RRset as expected: name, type, ttl, owned and the hash of these contents. */
static void expect_rrset(const struct prism_actual_rrset *rr, const char *name, const char *type,
			 uint32_t ttl, bool owned, const char *const *recs, size_t n)
{
	struct prism_rr_change c = {name, type, ttl, recs, n};

	assert_string_equal(rr->name, name);
	assert_string_equal(rr->type, type);
	assert_int_equal(rr->ttl, ttl);
	assert_int_equal(rr->owned, owned);
	assert_true(rr->hash == prism_rrset_hash(&c));
}

/* A one-RRset zone whose RRset is @p rrset; the code, *fast as zone_both. */
static int zone_one(const char *rrset, struct prism_actual_zone *z, bool *fast)
{
	char body[1024];
	int n = snprintf(body, sizeof(body), "{\"rrsets\": [%s]}", rrset);

	assert_true(n > 0 && (size_t)n < sizeof(body));
	return zone_both(body, (size_t)n, z, fast);
}

/* What PowerDNS answers, keys in any order, blanks, values Prism does not read: in place. */
static void test_zone_parse_fast(void **state)
{
	static const char body[] =
		" {\"account\": \"\", \"dnssec\": false, \"masters\": [], \"serial\": 2026112201,"
		" \"nested\": {\"a\": [1, -2, 0, {\"b\": null, \"c\": [true, \"x\\/y\"]}], \"d\": "
		"{}},"
		" \"rrsets\" : [\n"
		"\t{\"comments\": [{\"account\": \"ops\", \"content\": \"x\", \"modified_at\": 1},"
		" {\"content\": \"managed\", \"account\": \"prism\", \"modified_at\": 2}],"
		" \"name\": \"WWW.Z.test.\", \"records\": [{\"content\": \"192.0.2.2\","
		" \"disabled\": false}, {\"disabled\": true, \"content\": \"192.0.2.9\"},"
		" {\"content\": \"192.0.2.1\", \"disabled\": false}], \"ttl\": 60, \"type\": "
		"\"A\"},\n"
		"\t{\"ttl\": 300, \"type\": \"TXT\", \"name\": \"t.z.test.\", \"records\": ["
		"{\"content\": \"\\\"v=spf1 -all\\\" \\\"a\\\\\\\\b\\\\tc\\\"\", \"extra\": [{}]},"
		" {\"content\": \"\\\"caf\xc3\xa9 \xe2\x98\x83\\\"\", \"disabled\": \"true\"},"
		" {\"content\": \"x\", \"disabled\": 1}, {\"content\": \"y\", \"disabled\": "
		"null}],"
		" \"comments\": {\"account\": \"prism\"}, \"changetype\": null},\n"
		"\t{\"name\": \"e.z.test.\", \"type\": \"CNAME\", \"ttl\": 0, \"records\": [],"
		" \"comments\": [1, \"prism\", [], {\"account\": 5}, {\"account\": \"Prism\"}]},\n"
		"\t{\"name\": \"m.z.test.\", \"type\": \"MX\", \"ttl\": 4294967295, \"records\": ["
		"{\"content\": \"10 mx.z.test.\"}], \"comments\": [{\"account\": \"prism\"}]}\n"
		" ], \"url\": \"/api/v1/servers/localhost/zones/z.test.\"}\r\n";
	static const char *const www[] = {"192.0.2.1", "192.0.2.2"};
	/* the escapes decoded; "disabled" other than true is enabled */
	static const char *const txt[] = {"\"v=spf1 -all\" \"a\\\\b\\tc\"",
					  "\"caf\xc3\xa9 \xe2\x98\x83\"", "x", "y"};
	static const char *const mx[] = {"10 mx.z.test."};
	struct prism_actual_zone z;
	bool fast;
	(void)state;

	assert_int_equal(zone_both(body, strlen(body), &z, &fast), 0);
	assert_true(fast);
	assert_int_equal(z.n, 4);
	expect_rrset(&z.v[0], "www.z.test.", "A", 60, true, www, 2);
	expect_rrset(&z.v[1], "t.z.test.", "TXT", 300, false, txt, 4);
	expect_rrset(&z.v[2], "e.z.test.", "CNAME", 0, false, NULL, 0);
	expect_rrset(&z.v[3], "m.z.test.", "MX", UINT32_MAX, true, mx, 1);
	prism_actual_zone_free(&z);

	/* no RRsets at all; a ttl of -0 is jansson's integer 0 */
	assert_int_equal(zone_both("{\"rrsets\":[]}", 13, &z, &fast), 0);
	assert_true(fast);
	assert_int_equal(z.n, 0);
	prism_actual_zone_free(&z);
	assert_int_equal(
		zone_one("{\"name\":\"a.\",\"type\":\"A\",\"ttl\":-0,\"records\":[]}", &z, &fast),
		0);
	assert_true(fast);
	assert_int_equal(z.v[0].ttl, 0);
	prism_actual_zone_free(&z);
}

/* What the fast path leaves to jansson, with jansson's result: a \u escape, a key read twice
 * (the last one counts), a real or a long integer where nothing is read, deep nesting. */
static void test_zone_parse_fallback(void **state)
{
	static const struct {
		const char *rrset;
		const char *name;
		uint32_t ttl;
		bool owned;
		const char *record; /* the one enabled record, or NULL */
	} cases[] = {
		{"{\"name\":\"\\u0041.z.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}", "a.z.", 1,
		 false, NULL},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[{\"content\":"
		 "\"\\u00e9\\ud83d\\ude00\"}]}",
		 "a.", 1, false, "\xc3\xa9\xf0\x9f\x98\x80"},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],"
		 "\"comments\":[{\"account\":\"\\u0070rism\"}]}",
		 "a.", 1, true, NULL},
		{"{\"n\\u0061me\":\"b.\",\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		 "a.", 1, false, NULL},
		{"{\"name\":\"a.\",\"name\":\"B.\",\"type\":\"A\",\"ttl\":1,\"ttl\":2,\"records\":"
		 "[]}",
		 "b.", 2, false, NULL},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[{\"content\":\"x\","
		 "\"disabled\":true,\"disabled\":false,\"content\":\"y\"}]}",
		 "a.", 1, false, "y"},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],"
		 "\"comments\":[{\"account\":\"prism\",\"account\":\"ops\"}]}",
		 "a.", 1, false, NULL},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],"
		 "\"comments\":[],\"comments\":[{\"account\":\"prism\"}]}",
		 "a.", 1, true, NULL},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],\"x\":1.5}", "a.", 1,
		 false, NULL},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],\"x\":-2e-400}", "a.",
		 1, false, NULL},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],"
		 "\"x\":1234567890123456789}",
		 "a.", 1, false, NULL},
		{"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],\"x\":"
		 "[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]}",
		 "a.", 1, false, NULL},
	};
	struct prism_actual_zone z;
	bool fast;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *rec[] = {cases[i].record};

		assert_int_equal(zone_one(cases[i].rrset, &z, &fast), 0);
		assert_false(fast);
		assert_int_equal(z.n, 1);
		expect_rrset(&z.v[0], cases[i].name, "A", cases[i].ttl, cases[i].owned, rec,
			     cases[i].record != NULL);
		prism_actual_zone_free(&z);
	}
	/* "rrsets" twice: the last one */
	static const char twice[] = "{\"rrsets\":[{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,"
				    "\"records\":[]}],\"rrsets\":[]}";
	assert_int_equal(zone_both(twice, strlen(twice), &z, &fast), 0);
	assert_false(fast);
	assert_int_equal(z.n, 0);
	prism_actual_zone_free(&z);
}

/* Refusals: whatever is wrong, the reference words it (PRISM_EPROTO) and both agree. */
static void test_zone_parse_errors(void **state)
{
	static const char *const rrsets[] = {
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":300.0,\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":3e2,\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":-1,\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":4294967296,\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":060,\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":\"60\",\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":{}}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[{\"content\":1}]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[{\"disabled\":true}]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[\"x\"]}",
		"{\"name\":1,\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"a.\",\"type\":null,\"ttl\":1,\"records\":[]}",
		"[\"name\",\"a.\"]",
		/* not JSON as jansson takes it */
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],\"x\":1e999}",
		("{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],"
		 "\"x\":12345678901234567890}"), /* one string: parentheses tell clang so */
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[{\"content\":\"x\"},]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[] \"x\":1}",
		"{\"name\":\"a\\x.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"a\\u0000.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"a\\ud800.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"a\tb.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"\xc3\x28.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"\xed\xa0\x80.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"\xc0\xae.\",\"type\":\"A\",\"ttl\":1,\"records\":[]}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],\"x\":tru}",
		"{\"name\":\"a.\",\"type\":\"A\",\"ttl\":1,\"records\":[],\"x\":truex}",
	};
	static const char *const bodies[] = {
		"",
		" ",
		"[]",
		"{}",
		"{\"rrsets\":{}}",
		"{\"rrsets\":null}",
		"{\"rrsets\":[]} x",
		"{\"rrsets\":[]}}",
		"{\"rrsets\":[]",
		"{\"rrsets\" [] }",
		"\xef\xbb\xbf{\"rrsets\":[]}",
	};
	struct prism_actual_zone z;
	bool fast;
	(void)state;

	for (size_t i = 0; i < sizeof(rrsets) / sizeof(rrsets[0]); i++) {
		assert_int_equal(zone_one(rrsets[i], &z, &fast), PRISM_EPROTO);
		assert_null(z.v);
		assert_int_equal(z.n, 0);
	}
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		assert_int_equal(zone_both(bodies[i], strlen(bodies[i]), &z, &fast), PRISM_EPROTO);
	/* a NUL byte, in a string and after the object */
	static const char nul[] = "{\"rrsets\":[{\"name\":\"a\0.\",\"type\":\"A\",\"ttl\":1,"
				  "\"records\":[]}]}";
	assert_int_equal(zone_both(nul, sizeof(nul) - 1, &z, &fast), PRISM_EPROTO);
	assert_int_equal(zone_both("{\"rrsets\":[]}\0", 14, &z, &fast), PRISM_EPROTO);
	/* only len bytes are read: the same body cut short is refused */
	assert_int_equal(zone_both("{\"rrsets\":[]}", 12, &z, &fast), PRISM_EPROTO);
	assert_int_equal(prism_pdns_zone_parse_reference(NULL, 0, ACCOUNT, &z), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_parse("{}", 2, NULL, &z), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_parse("{}", 2, ACCOUNT, NULL), PRISM_EINVAL);
}

static void test_stats(void **state)
{
	struct prism_pdns_stats st;
	(void)state;
	static const char body[] =
		"[{\"name\": \"latency\", \"type\": \"StatisticItem\", \"value\": \"250\"},"
		" {\"name\": \"packetcache-hit\", \"type\": \"StatisticItem\", \"value\": \"75\"},"
		" {\"name\": \"packetcache-miss\", \"type\": \"StatisticItem\", \"value\": "
		"\"25\"},"
		" {\"name\": \"tcp-queries\", \"type\": \"StatisticItem\", \"value\": \"3\"},"
		" {\"name\": \"udp-queries\", \"type\": \"StatisticItem\", \"value\": \"97\"},"
		" {\"name\": \"udp6-queries\", \"type\": \"StatisticItem\", \"value\": \"40\"},"
		" {\"name\": \"uptime\", \"type\": \"StatisticItem\", \"value\": \"3600\"},"
		" {\"name\": \"response-by-qtype\", \"type\": \"MapStatisticItem\", \"value\": "
		"[]},"
		" {\"name\": \"queries\", \"type\": \"RingStatisticItem\", \"size\": 10000}]";
	assert_int_equal(prism_pdns_stats_parse(body, strlen(body), &st), 0);
	assert_true(st.has_uptime && st.has_queries && st.has_cache && st.has_latency);
	assert_int_equal(st.uptime, 3600);
	assert_int_equal(st.queries, 100);
	assert_int_equal(st.cache_hits, 75);
	assert_int_equal(st.cache_misses, 25);
	assert_int_equal(st.latency_us, 250);
	/* unreadable values leave their fields unset; other shapes are refused */
	static const char odd[] =
		"[{\"name\":\"uptime\",\"value\":\"-1\"},"
		"{\"name\":\"latency\",\"value\":\"12345678901234567890\"},"
		"{\"name\":\"packetcache-hit\",\"value\":7}, 5, {\"value\":\"1\"}]";
	assert_int_equal(prism_pdns_stats_parse(odd, strlen(odd), &st), 0);
	assert_false(st.has_uptime || st.has_latency || st.has_queries);
	assert_true(st.has_cache);
	assert_int_equal(st.cache_hits, 7);
	assert_int_equal(prism_pdns_stats_parse("{}", 2, &st), PRISM_EMSG);
	assert_int_equal(prism_pdns_stats_parse("[", 1, &st), PRISM_EMSG);
	assert_int_equal(prism_pdns_stats_parse(NULL, 0, &st), PRISM_EINVAL);
}

/* The DNS address from GET /servers/localhost/config: local-address and local-port. */
static void test_dns_address(void **state)
{
	(void)state;
	char out[64];
	const char *api = "http://127.0.0.1:8081/api/v1";
#define CFG(la, lp)                                                                               \
	"[{\"name\": \"local-address\", \"type\": \"ConfigSetting\", \"value\": \"" la "\"},"     \
	" {\"name\": \"local-port\", \"type\": \"ConfigSetting\", \"value\": \"" lp "\"}]"
	static const struct {
		const char *body, *api, *want;
		int rc;
	} cases[] = {
		{CFG("127.0.0.1", "5300"), NULL, "127.0.0.1:5300", 0},
		{CFG("127.0.0.2:5301, ::1", "53"), NULL, "127.0.0.2:5301", 0},
		{CFG("::1", "5302"), NULL, "[::1]:5302", 0},
		{CFG("[2001:db8::5]:5303", "53"), NULL, "[2001:db8::5]:5303", 0},
		{CFG("0.0.0.0", "53"), "http://192.0.2.7:8081/api/v1", "192.0.2.7:53", 0},
		{CFG("0.0.0.0, ::", "5304"), "http://localhost:8081", "127.0.0.1:5304", 0},
		{CFG("::", "53"), "https://[2001:db8::9]:8443/api", "[2001:db8::9]:53", 0},
		{CFG("0.0.0.0", "53"), "http://pdns.example:8081", "", PRISM_ENOTFOUND},
		{CFG("127.0.0.1", "0"), NULL, "", PRISM_ENOTFOUND},
		{CFG("127.0.0.1", "x"), NULL, "", PRISM_ENOTFOUND},
		{CFG("not-an-ip", "53"), NULL, "", PRISM_ENOTFOUND},
		{"[{\"name\": \"local-port\", \"value\": \"5305\"}]", NULL, "127.0.0.1:5305", 0},
		{"[]", NULL, "127.0.0.1:53", 0},
		{"{}", NULL, "", PRISM_EMSG},
	};
#undef CFG
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = prism_pdns_dns_address(cases[i].body, strlen(cases[i].body),
						cases[i].api ? cases[i].api : api, out,
						sizeof(out));
		assert_int_equal(rc, cases[i].rc);
		assert_string_equal(out, cases[i].want);
	}
	assert_int_equal(prism_pdns_dns_address(NULL, 0, api, out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_pdns_dns_address("[]", 2, api, out, 8), PRISM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_dns_address),
		cmocka_unit_test(test_patch_null_args),
		cmocka_unit_test(test_patch_keep_mark),
		cmocka_unit_test(test_patch_bad_names),
		cmocka_unit_test(test_patch_bad_types_and_records),
		cmocka_unit_test(test_patch_delete_first),
		cmocka_unit_test(test_patch_structure),
		cmocka_unit_test(test_patch_exact_text),
		cmocka_unit_test(test_zone_null_args),
		cmocka_unit_test(test_zone_body),
		cmocka_unit_test(test_zone_body_rrsets),
		cmocka_unit_test(test_error_null_args),
		cmocka_unit_test(test_error_json),
		cmocka_unit_test(test_error_fallback),
		cmocka_unit_test(test_error_truncation),
		cmocka_unit_test(test_zone_parse),
		cmocka_unit_test(test_zone_parse_fast),
		cmocka_unit_test(test_zone_parse_fallback),
		cmocka_unit_test(test_zone_parse_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
