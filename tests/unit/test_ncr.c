/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/ncr.h"

/* The datagram kea-dhcp4 2.2 sent for a real udhcpc client (docs/kea.md). */
static const char real[] =
	"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,"
	"\"fqdn\":\"client1.lab.test.\",\"ip-address\":\"10.99.0.100\","
	"\"dhcid\":\"00010143180E843B22E2113E40D446FA8ECA5CD4F60F7C37ADE960C9F3885D9CF5EDC5\","
	"\"lease-expires-on\":\"20261122022159\",\"lease-length\":1200,"
	"\"use-conflict-resolution\":true}";

static size_t frame(const char *json, uint8_t *buf, size_t cap)
{
	size_t n = strlen(json);
	assert_true(n + 2 <= cap);
	buf[0] = (uint8_t)(n >> 8);
	buf[1] = (uint8_t)n;
	memcpy(buf + 2, json, n);
	return n + 2;
}

static int parse(const char *json, struct prism_ncr *n, char *why)
{
	static uint8_t buf[70000];
	size_t len = frame(json, buf, sizeof(buf));
	return prism_ncr_parse(buf, len, n, why, 128);
}

static void test_null(void **state)
{
	struct prism_ncr n;
	uint8_t b[4] = {0};
	size_t len;
	(void)state;
	assert_int_equal(prism_ncr_parse(NULL, 2, &n, NULL, 0), PRISM_EINVAL);
	assert_int_equal(prism_ncr_parse(b, 2, NULL, NULL, 0), PRISM_EINVAL);
	assert_int_equal(prism_ncr_encode(NULL, b, 4, &len), PRISM_EINVAL);
	assert_int_equal(prism_ncr_encode(&n, NULL, 4, &len), PRISM_EINVAL);
}

static void test_real_datagram(void **state)
{
	struct prism_ncr n;
	char why[128] = "";
	(void)state;
	assert_int_equal(parse(real, &n, why), 0);
	assert_false(n.remove);
	assert_true(n.forward);
	assert_true(n.reverse);
	assert_string_equal(n.fqdn, "client1.lab.test.");
	assert_string_equal(n.ip, "10.99.0.100");
	assert_false(n.ipv6);
	assert_string_equal(
		n.dhcid, "00010143180E843B22E2113E40D446FA8ECA5CD4F60F7C37ADE960C9F3885D9CF5EDC5");
	assert_int_equal(n.lease_expires_on, 1795314119); /* 2026-11-22 02:21:59 UTC */
	assert_int_equal(n.lease_length, 1200);
	assert_true(n.conflict_resolution);
}

static void test_round_trip(void **state)
{
	struct prism_ncr n, m;
	uint8_t buf[1024];
	size_t len;
	(void)state;
	assert_int_equal(parse(real, &n, NULL), 0);
	assert_int_equal(prism_ncr_encode(&n, buf, sizeof(buf), &len), 0);
	/* Kea's own text, byte for byte */
	assert_int_equal(len, strlen(real) + 2);
	assert_memory_equal(buf + 2, real, strlen(real));
	assert_int_equal(prism_ncr_parse(buf, len, &m, NULL, 0), 0);
	assert_memory_equal(&n, &m, sizeof(n));
	assert_int_equal(prism_ncr_encode(&n, buf, 100, &len), PRISM_ETOOBIG);
	/* a leap day and the last second of a century year */
	n.lease_expires_on = 951868799; /* 2000-02-29 23:59:59 */
	assert_int_equal(prism_ncr_encode(&n, buf, sizeof(buf), &len), 0);
	assert_non_null(memmem(buf, len, "\"20000229235959\"", 16));
	assert_int_equal(prism_ncr_parse(buf, len, &m, NULL, 0), 0);
	assert_int_equal(m.lease_expires_on, 951868799);
}

static void test_fields(void **state)
{
	struct prism_ncr n;
	char why[128];
	(void)state;
	/* a remove, IPv6, mixed case, no conflict resolution, unknown keys ignored */
	assert_int_equal(
		parse("{\"change-type\":1,\"forward-change\":false,\"reverse-change\":true,"
		      "\"fqdn\":\"Host-A.Lab.Test\",\"ip-address\":\"2001:DB8:0::1\","
		      "\"dhcid\":\"0a0B\",\"lease-expires-on\":\"20240101000000\","
		      "\"lease-length\":0,\"use-conflict-resolution\":false,"
		      "\"future-key\":[1,2]}",
		      &n, why),
		0);
	assert_true(n.remove);
	assert_false(n.forward);
	assert_string_equal(n.fqdn, "host-a.lab.test.");
	assert_string_equal(n.ip, "2001:db8::1");
	assert_true(n.ipv6);
	assert_string_equal(n.dhcid, "0A0B");
	assert_int_equal(n.lease_length, 0);
	assert_false(n.conflict_resolution);
	/* an AAAA PowerDNS would refuse forever: refused here */
	assert_int_equal(parse("{\"change-type\":0,\"forward-change\":true,\"reverse-change\":"
			       "false,\"fqdn\":\"a.lab.test\",\"ip-address\":\"::ffff:1.2.3.4\","
			       "\"dhcid\":\"01\",\"lease-expires-on\":\"20240101000000\","
			       "\"lease-length\":0}",
			       &n, why),
			 PRISM_EMSG);
	assert_non_null(strstr(why, "ip-address: an IPv4-mapped"));
	/* Kea 2.4's conflict-resolution-mode; absent: on */
	static const char base[] =
		"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":false,"
		"\"fqdn\":\"a.b.\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\","
		"\"lease-expires-on\":\"20240101000000\",\"lease-length\":60%s}";
	static const struct {
		const char *extra;
		bool on;
	} modes[] = {
		{"", true},
		{",\"conflict-resolution-mode\":\"check-with-dhcid\"", true},
		{",\"conflict-resolution-mode\":\"check-exists-with-dhcid\"", true},
		{",\"conflict-resolution-mode\":\"no-check-with-dhcid\"", false},
		{",\"conflict-resolution-mode\":\"no-check-without-dhcid\"", false},
	};
	char json[600];
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		snprintf(json, sizeof(json), base, modes[i].extra);
		assert_int_equal(parse(json, &n, why), 0);
		assert_int_equal(n.conflict_resolution, modes[i].on);
	}
	snprintf(json, sizeof(json), base, ",\"conflict-resolution-mode\":\"maybe\"");
	assert_int_equal(parse(json, &n, why), PRISM_EMSG);
	assert_string_equal(why, "conflict-resolution-mode: unknown mode");
}

static void test_bad(void **state)
{
	static const struct {
		const char *json;
		int rc;
		const char *why;
	} bad[] = {
		{"[]", PRISM_EPROTO, "not an object"},
		{"{", PRISM_EPROTO, "invalid JSON (syntax)"},
		{"{\"a\":1,\"a\":2}", PRISM_EPROTO, "invalid JSON (duplicate key)"},
		{"{}", PRISM_EMSG, "missing change-type"},
		{"{\"change-type\":\"0\"}", PRISM_EMSG, "change-type has the wrong type"},
		{"{\"change-type\":2,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":\"a."
		 "b\","
		 "\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":1}",
		 PRISM_EMSG, "change-type: must be 0 (add) or 1 (remove)"},
		{"{\"change-type\":0,\"forward-change\":false,\"reverse-change\":false,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":1}",
		 PRISM_EMSG, "neither forward-change nor reverse-change"},
		{"{\"change-type\":0,\"forward-change\":1,\"reverse-change\":false}", PRISM_EMSG,
		 "forward-change has the wrong type"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a_b.c\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":1}",
		 PRISM_EMSG, "fqdn: invalid character '_'"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.256\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":1}",
		 PRISM_EMSG, "ip-address: not an address"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"0G\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":1}",
		 PRISM_EMSG, "dhcid: not hex"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"012\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":1}",
		 PRISM_EMSG, "dhcid: must be 2 to 128 hex digits"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20230229000000\",\"lease-length\":1}",
		 PRISM_EMSG, "lease-expires-on: not YYYYMMDDHHMMSS"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":-1}",
		 PRISM_EMSG, "lease-length: out of range"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20240101000000\",\"lease-length\":4294967296}",
		 PRISM_EMSG, "lease-length: out of range"},
		{"{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,\"fqdn\":"
		 "\"a.b\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\",\"lease-expires-on\":"
		 "\"20240101000000\"}",
		 PRISM_EMSG, "missing lease-length"},
	};
	struct prism_ncr n;
	char why[128];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		int rc = parse(bad[i].json, &n, why);
		if (rc != bad[i].rc || strcmp(why, bad[i].why) != 0)
			print_error("case %zu: %d '%s'\n", i, rc, why);
		assert_int_equal(rc, bad[i].rc);
		assert_string_equal(why, bad[i].why);
	}
}

static void test_framing(void **state)
{
	struct prism_ncr n;
	char why[128];
	uint8_t buf[600];
	(void)state;
	size_t len = frame(real, buf, sizeof(buf));
	assert_int_equal(prism_ncr_parse(buf, 1, &n, why, sizeof(why)), PRISM_EPROTO);
	assert_string_equal(why, "shorter than its length prefix");
	assert_int_equal(prism_ncr_parse(buf, len - 1, &n, why, sizeof(why)), PRISM_EPROTO);
	assert_string_equal(why, "length prefix 283 but 282 bytes follow");
	buf[len] = ' ';
	assert_int_equal(prism_ncr_parse(buf, len + 1, &n, why, sizeof(why)), PRISM_EPROTO);
	/* a NUL inside a string never reaches the name: jansson refuses it */
	char nul[] = "{\"change-type\":0,\"forward-change\":true,\"reverse-change\":true,"
		     "\"fqdn\":\"a\\u0000b.c\",\"ip-address\":\"10.0.0.1\",\"dhcid\":\"01\","
		     "\"lease-expires-on\":\"20240101000000\",\"lease-length\":1}";
	assert_int_equal(parse(nul, &n, why), PRISM_EPROTO);
	assert_string_equal(why, "invalid JSON (syntax)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),	   cmocka_unit_test(test_real_datagram),
		cmocka_unit_test(test_round_trip), cmocka_unit_test(test_fields),
		cmocka_unit_test(test_bad),	   cmocka_unit_test(test_framing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
