/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/dname.h"
#include "core/error.h"

static int check(const char *name, char *reason, size_t reason_len)
{
	return prism_hostname_check(name, strlen(name), reason, reason_len);
}

static void expect_bad(const char *name, const char *want_reason)
{
	char reason[128] = "";
	assert_int_equal(check(name, reason, sizeof(reason)), PRISM_EMSG);
	assert_string_equal(reason, want_reason);
}

/* A string of @p n copies of @p c in @p buf. */
static char *fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return buf;
}

/* "aaa…a.aaa…a…" of total length @p len with 63-byte labels. */
static char *long_name(char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (i % 64 == 63) ? '.' : 'a';
	buf[len] = '\0';
	return buf;
}

static void test_null_args(void **state)
{
	char out[16];
	char reason[32] = "";

	assert_int_equal(prism_hostname_check(NULL, 0, NULL, 0), PRISM_EINVAL);
	assert_int_equal(prism_hostname_check(NULL, 3, reason, sizeof(reason)), PRISM_EINVAL);
	assert_int_equal(prism_name_lower(NULL, 0, out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_name_lower("a", 1, NULL, 0), PRISM_EINVAL);
	assert_int_equal(prism_zone_normalize(NULL, out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_zone_normalize("a", NULL, 0), PRISM_EINVAL);
	assert_int_equal(prism_fqdn_join(NULL, "a.", out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_fqdn_join("a", NULL, out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_fqdn_join("a", "b.", NULL, 0), PRISM_EINVAL);
}

static void test_hostname_valid(void **state)
{
	char buf[301];
	const char *good[] = {
		"a",	     "web1", "WEB-1",	     "web1.example.com",
		"0",	     "123",  "a-b-c.d--e.f", "xn--caf-dma.example",
		"A.B.C.D.E",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(check(good[i], NULL, 0), 0);
	assert_int_equal(check(fill(buf, 'a', 63), NULL, 0), 0);
	assert_int_equal(check(long_name(buf, 253), NULL, 0), 0);
	/* the reason buffer is left alone on success */
	char reason[8] = "x";
	assert_int_equal(check("ok", reason, sizeof(reason)), 0);
	assert_string_equal(reason, "x");
}

static void test_hostname_invalid(void **state)
{
	char buf[301];

	expect_bad("", "empty");
	expect_bad(long_name(buf, 254), "too long (254 > 253)");
	expect_bad(fill(buf, 'a', 300), "too long (300 > 253)");
	expect_bad(fill(buf, 'a', 64), "label too long (64 > 63)");
	expect_bad("web_1", "invalid character '_'");
	expect_bad("web 1", "invalid character 0x20");
	expect_bad("caf\xc3\xa9", "invalid character 0xc3");
	expect_bad("a'b", "invalid character 0x27");
	expect_bad("a/b", "invalid character '/'");
	expect_bad("a..b", "empty label");
	expect_bad(".a", "leading or trailing dot");
	expect_bad("a.", "leading or trailing dot");
	expect_bad(".", "leading or trailing dot");
	expect_bad("-a", "label starts or ends with '-'");
	expect_bad("a-", "label starts or ends with '-'");
	expect_bad("ok.-a.ok", "label starts or ends with '-'");
	expect_bad("-", "label starts or ends with '-'");
}

static void test_hostname_len_in_bytes(void **state)
{
	/* an embedded NUL is a character like any other: the length decides */
	assert_int_equal(prism_hostname_check("ab\0c", 4, NULL, 0), PRISM_EMSG);
	assert_int_equal(prism_hostname_check("abc", 2, NULL, 0), 0);
	assert_int_equal(prism_hostname_check("abc", 0, NULL, 0), PRISM_EMSG);
}

static void test_hostname_reason_truncated(void **state)
{
	char reason[6];
	memset(reason, 'z', sizeof(reason));
	assert_int_equal(check("a..b", reason, sizeof(reason)), PRISM_EMSG);
	assert_string_equal(reason, "empty");
	assert_int_equal(check("a..b", reason, 0), PRISM_EMSG); /* nothing written */
	assert_string_equal(reason, "empty");
}

static void test_name_lower(void **state)
{
	char out[16];

	assert_int_equal(prism_name_lower("Web1.EXAMPLE", 12, out, sizeof(out)), 0);
	assert_string_equal(out, "web1.example");
	assert_int_equal(prism_name_lower("AbC", 2, out, sizeof(out)), 0);
	assert_string_equal(out, "ab");
	assert_int_equal(prism_name_lower("", 0, out, 1), 0);
	assert_string_equal(out, "");
	/* only ASCII is folded */
	assert_int_equal(prism_name_lower("\xc3\x89Z", 3, out, sizeof(out)), 0);
	assert_string_equal(out, "\xc3\x89z");
	assert_int_equal(prism_name_lower("abcd", 4, out, 4), PRISM_ETOOBIG);
	assert_int_equal(prism_name_lower("abcd", 4, out, 5), 0);
	assert_int_equal(prism_name_lower("", 0, out, 0), PRISM_ETOOBIG);
}

static void test_zone_normalize(void **state)
{
	char out[PRISM_DNAME_MAX];
	char in[300];

	assert_int_equal(prism_zone_normalize("Example.COM", out, sizeof(out)), 0);
	assert_string_equal(out, "example.com.");
	assert_int_equal(prism_zone_normalize("example.com.", out, sizeof(out)), 0);
	assert_string_equal(out, "example.com.");
	assert_int_equal(prism_zone_normalize(".", out, sizeof(out)), 0);
	assert_string_equal(out, ".");
	assert_int_equal(prism_zone_normalize("_tcp.Example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "_tcp.example.org.");
	assert_int_equal(prism_zone_normalize("10.in-addr.arpa", out, sizeof(out)), 0);
	assert_string_equal(out, "10.in-addr.arpa.");

	assert_int_equal(prism_zone_normalize(long_name(in, 253), out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 254);
	assert_int_equal(prism_zone_normalize(long_name(in, 254), out, sizeof(out)), PRISM_EMSG);

	const char *bad[] = {"",     "..",     "example.com..", ".example.com",
			     "a..b", "-a.com", "a b.com",	"a-.com"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(prism_zone_normalize(bad[i], out, sizeof(out)), PRISM_EMSG);

	assert_int_equal(prism_zone_normalize("example.com", out, 12), PRISM_ETOOBIG);
	assert_int_equal(prism_zone_normalize("example.com", out, 13), 0);
	assert_string_equal(out, "example.com.");
	assert_int_equal(prism_zone_normalize(".", out, 1), PRISM_ETOOBIG);
}

static void test_fqdn_join(void **state)
{
	char out[PRISM_DNAME_MAX];
	char host[300];

	assert_int_equal(prism_fqdn_join("web1", "example.com.", out, sizeof(out)), 0);
	assert_string_equal(out, "web1.example.com.");
	assert_int_equal(prism_fqdn_join("a.b", "example.com", out, sizeof(out)), 0);
	assert_string_equal(out, "a.b.example.com.");
	assert_int_equal(prism_fqdn_join("", "example.com.", out, sizeof(out)), 0);
	assert_string_equal(out, "example.com.");
	assert_int_equal(prism_fqdn_join("web1", ".", out, sizeof(out)), 0);
	assert_string_equal(out, "web1.");
	assert_int_equal(prism_fqdn_join("web1", "", out, sizeof(out)), 0);
	assert_string_equal(out, "web1.");
	assert_int_equal(prism_fqdn_join("", ".", out, sizeof(out)), 0);
	assert_string_equal(out, ".");

	/* 249 + "." + "com." = 254 characters: the longest allowed */
	assert_int_equal(prism_fqdn_join(long_name(host, 249), "com.", out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 254);
	assert_int_equal(prism_fqdn_join(long_name(host, 250), "com.", out, sizeof(out)),
			 PRISM_ETOOBIG);
	assert_string_equal(out, "");

	assert_int_equal(prism_fqdn_join("web1", "example.com.", out, 17), PRISM_ETOOBIG);
	assert_int_equal(prism_fqdn_join("web1", "example.com.", out, 18), 0);
	assert_int_equal(prism_fqdn_join("web1", "example.com.", out, 0), PRISM_ETOOBIG);
}

static void test_reverse_name(void **state)
{
	char out[80];
	(void)state;
	assert_int_equal(prism_reverse_name("192.0.2.1", out, sizeof(out)), 0);
	assert_string_equal(out, "1.2.0.192.in-addr.arpa.");
	assert_int_equal(prism_reverse_name("2001:db8::1", out, sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
				 "ip6.arpa.");
	assert_int_equal(prism_reverse_name("host", out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_reverse_name(NULL, out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_reverse_name("2001:db8::1", out, 20), PRISM_ETOOBIG);
	assert_int_equal(prism_reverse_name("10.0.0.1", out, 5), PRISM_ETOOBIG);
}

static void test_zone_of(void **state)
{
	const char *zones[] = {"example.com.", "in-addr.arpa.", "2.0.192.in-addr.arpa.", "le.com.",
			       NULL};
	(void)state;
	assert_string_equal(prism_zone_of("a.example.com.", zones), "example.com.");
	assert_string_equal(prism_zone_of("example.com.", zones), "example.com.");
	/* label boundaries: "exampLE.COM" must not match "le.com." */
	assert_string_equal(prism_zone_of("x.example.com.", zones), "example.com.");
	assert_null(prism_zone_of("sample.com.", zones));
	assert_string_equal(prism_zone_of("1.2.0.192.in-addr.arpa.", zones),
			    "2.0.192.in-addr.arpa.");
	assert_string_equal(prism_zone_of("1.2.0.10.in-addr.arpa.", zones), "in-addr.arpa.");
	assert_null(prism_zone_of(NULL, zones));
	assert_null(prism_zone_of("a.b.", NULL));
}

static void test_ip_canon(void **state)
{
	(void)state;
	char out[PRISM_IP_TEXT_MAX];
	bool v6 = true;
	const char *why = NULL;
	assert_int_equal(prism_ip_canon(NULL, out, &v6, &why), PRISM_EINVAL);
	assert_int_equal(prism_ip_canon("192.0.2.1", out, &v6, &why), 0);
	assert_false(v6);
	assert_string_equal(out, "192.0.2.1");
	assert_int_equal(prism_ip_canon("2001:DB8::0:1", out, &v6, NULL), 0);
	assert_true(v6);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(prism_ip_canon("::ffff:1.2.3.4", out, &v6, &why), PRISM_EMSG);
	assert_non_null(strstr(why, "IPv4-mapped"));
	assert_int_equal(prism_ip_canon("::ffff:102:304", out, &v6, &why), PRISM_EMSG);
	assert_int_equal(prism_ip_canon("::1.2.3.4", out, &v6, &why), PRISM_EMSG);
	assert_non_null(strstr(why, "IPv4-compatible"));
	assert_int_equal(prism_ip_canon("::", out, &v6, &why), 0);
	assert_int_equal(prism_ip_canon("1.2.3", out, &v6, &why), PRISM_EMSG);
	assert_non_null(strstr(why, "not an"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_hostname_valid),
		cmocka_unit_test(test_hostname_invalid),
		cmocka_unit_test(test_hostname_len_in_bytes),
		cmocka_unit_test(test_hostname_reason_truncated),
		cmocka_unit_test(test_name_lower),
		cmocka_unit_test(test_zone_normalize),
		cmocka_unit_test(test_fqdn_join),
		cmocka_unit_test(test_reverse_name),
		cmocka_unit_test(test_zone_of),
		cmocka_unit_test(test_ip_canon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
