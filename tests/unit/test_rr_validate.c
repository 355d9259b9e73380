/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/rr_validate.h"

#define ZONE "example.com."

static char out[PRISM_RR_CONTENT_MAX], why[PRISM_RR_WHY_MAX];

static void good(const char *type, const char *in, const char *want)
{
	why[0] = '\0';
	int rc = prism_rr_content(type, in, ZONE, out, sizeof(out), why, sizeof(why));
	if (rc != 0)
		fail_msg("%s '%s' refused: %s", type, in, why);
	assert_string_equal(out, want);
}

static void bad(const char *type, const char *in, const char *reason_part)
{
	why[0] = '\0';
	assert_int_equal(prism_rr_content(type, in, ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EMSG);
	if (strstr(why, reason_part) == NULL)
		fail_msg("%s '%s': reason '%s' lacks '%s'", type, in, why, reason_part);
}

static void test_null_args(void **state)
{
	(void)state;
	assert_int_equal(prism_rr_content(NULL, "x", ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EINVAL);
	assert_int_equal(prism_rr_content("A", NULL, ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EINVAL);
	assert_int_equal(prism_rr_content("A", "1.2.3.4", "example.com", out, sizeof(out), why,
					  sizeof(why)),
			 PRISM_EINVAL);
	assert_int_equal(prism_rr_owner(NULL, ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EINVAL);
	assert_int_equal(prism_rr_line(NULL, ZONE, 1, NULL, why, sizeof(why)), PRISM_EINVAL);
	assert_false(prism_rr_type_supported(NULL));
	assert_false(prism_rr_type_supported("SOA"));
	assert_true(prism_rr_type_supported("CAA"));
}

static void test_owner(void **state)
{
	(void)state;
	const char *cases[][2] = {
		{"@", "example.com."},
		{"", "example.com."},
		{"www", "www.example.com."},
		{"WWW.Eu", "www.eu.example.com."},
		{"www.example.com", "www.example.com."},
		{"www.example.com.", "www.example.com."},
		{"*.dyn", "*.dyn.example.com."},
		{"_sip._tcp", "_sip._tcp.example.com."},
		{"example.com.", "example.com."},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
			prism_rr_owner(cases[i][0], ZONE, out, sizeof(out), why, sizeof(why)), 0);
		assert_string_equal(out, cases[i][1]);
	}
	assert_int_equal(prism_rr_owner("other.org.", ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EMSG);
	assert_non_null(strstr(why, "not in zone"));
	assert_int_equal(prism_rr_owner("a..b", ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EMSG);
	assert_int_equal(prism_rr_owner("a*b", ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EMSG);
	assert_int_equal(prism_rr_owner("x.*", ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EMSG);
	assert_int_equal(prism_rr_owner(".", ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EMSG);
	char label[80];
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_int_equal(prism_rr_owner(label, ZONE, out, sizeof(out), why, sizeof(why)),
			 PRISM_EMSG);
	assert_non_null(strstr(why, "63"));
}

static void test_addresses(void **state)
{
	(void)state;
	good("A", "192.0.2.1", "192.0.2.1");
	good("A", " 192.0.2.1 ", "192.0.2.1");
	bad("A", "192.0.2.256", "not an IPv4");
	bad("A", "192.0.2", "not an IPv4");
	bad("A", "192.0.2.1 5", "not an IPv4");
	bad("A", "", "not an IPv4");
	good("AAAA", "2001:DB8:0:0:0:0:0:1", "2001:db8::1");
	/* PowerDNS refuses the embedded-IPv4 forms ("Invalid IPv6 address") */
	bad("AAAA", "::ffff:192.0.2.1", "IPv4-mapped");
	bad("AAAA", "::FFFF:c000:201", "IPv4-mapped");
	bad("AAAA", "::192.0.2.1", "IPv4-compatible");
	good("AAAA", "64:ff9b::192.0.2.1", "64:ff9b::c000:201");
	good("AAAA", "::1", "::1");
	bad("AAAA", "192.0.2.1", "not an IPv6");
	bad("AAAA", "2001:db8::g", "not an IPv6");
}

static void test_names(void **state)
{
	(void)state;
	good("CNAME", "@", "example.com.");
	good("CNAME", "web", "web.example.com.");
	good("CNAME", "Web.Example.COM", "web.example.com.");
	good("CNAME", "web.other.org.", "web.other.org.");
	bad("CNAME", "web.other.org", "ambiguous");
	bad("CNAME", "a b", "unexpected text");
	good("NS", "ns1.example.net.", "ns1.example.net.");
	good("PTR", "host.example.net.", "host.example.net.");
	bad("PTR", "bad!.test.", "invalid character");
	bad("PTR", "", "target name missing");
}

static void test_mx_srv(void **state)
{
	(void)state;
	good("MX", "10 mail", "10 mail.example.com.");
	good("MX", "0   .", "0 .");
	bad("MX", "65536 mail", "MX priority");
	bad("MX", "-1 mail", "MX priority");
	bad("MX", "10", "MX exchange missing");
	bad("MX", "ten mail", "MX priority");
	good("SRV", "10 60 5060 sip.example.com.", "10 60 5060 sip.example.com.");
	good("SRV", "0 0 0 .", "0 0 0 .");
	bad("SRV", "10 60 70000 sip", "SRV port");
	bad("SRV", "10 x 1 sip", "SRV weight");
	bad("SRV", "10 60 5060", "SRV target missing");
	bad("SRV", "10 60 5060 a b", "unexpected text");
}

static void test_txt(void **state)
{
	(void)state;
	good("TXT", "v=spf1 -all", "\"v=spf1 -all\"");
	good("TXT", "\"a\" \"b c\"", "\"a\" \"b c\"");
	good("TXT", "\"say \\\"hi\\\"\"", "\"say \\\"hi\\\"\"");
	good("TXT", "\"\\065\\\\\"", "\"A\\\\\"");
	good("TXT", "caf\xc3\xa9", "\"caf\\195\\169\"");
	good("TXT", "\"\"", "\"\"");
	char in[600], want[700];
	memset(in, 'x', 300);
	in[300] = '\0';
	snprintf(want, sizeof(want), "\"%.255s\" \"%.45s\"", in, in);
	good("TXT", in, want);
	in[0] = '"';
	memset(in + 1, 'y', 256);
	in[257] = '"';
	in[258] = '\0';
	bad("TXT", in, "longer than 255");
	bad("TXT", "\"open", "unterminated");
	bad("TXT", "\"a\" b", "quote every part");
	bad("TXT", "\"\\999\"", "over 255");
	bad("TXT", "", "empty");
	bad("TXT", "a\nb", "line break");
}

static void test_caa(void **state)
{
	(void)state;
	good("CAA", "0 issue letsencrypt.org", "0 issue \"letsencrypt.org\"");
	good("CAA", "128 IODEF \"mailto:x@example.com\"", "128 iodef \"mailto:x@example.com\"");
	good("CAA", "0 issue \";\"", "0 issue \";\"");
	bad("CAA", "256 issue x", "CAA flags");
	bad("CAA", "0 is-sue x", "CAA tag");
	bad("CAA", "0 abcdefghijklmnop x", "CAA tag");
	bad("CAA", "0 issue", "CAA value");
	bad("CAA", "0 issue a b", "CAA value");
	bad("CAA", "0 issue \"a\" b", "one quoted string");
}

static void test_other_types(void **state)
{
	(void)state;
	bad("SOA", "x", "not supported");
	char big[PRISM_RR_CONTENT_MAX + 10];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad("TXT", big, "longer than");
	char small[8];
	assert_int_equal(prism_rr_content("TXT", "hello world", ZONE, small, sizeof(small), why,
					  sizeof(why)),
			 PRISM_ETOOBIG);
}

static void test_line(void **state)
{
	(void)state;
	struct prism_rr_line l;
	assert_int_equal(prism_rr_line("www CNAME @", ZONE, 300, &l, why, sizeof(why)), 0);
	assert_string_equal(l.name, "www.example.com.");
	assert_string_equal(l.type, "CNAME");
	assert_int_equal(l.ttl, 300);
	assert_string_equal(l.content, "example.com.");
	assert_int_equal(prism_rr_line("@ 600 mx 10 mail", ZONE, 300, &l, why, sizeof(why)), 0);
	assert_string_equal(l.name, "example.com.");
	assert_int_equal(l.ttl, 600);
	assert_string_equal(l.type, "MX");
	assert_string_equal(l.content, "10 mail.example.com.");
	assert_int_equal(prism_rr_line("@ TXT v=spf1 mx -all", ZONE, 1, &l, why, sizeof(why)), 0);
	assert_string_equal(l.content, "\"v=spf1 mx -all\"");
	assert_int_equal(prism_rr_line("www", ZONE, 1, &l, why, sizeof(why)), PRISM_EMSG);
	assert_non_null(strstr(why, "type"));
	assert_int_equal(prism_rr_line("www HINFO x", ZONE, 1, &l, why, sizeof(why)), PRISM_EMSG);
	assert_int_equal(prism_rr_line("www 99999999999 A 1.2.3.4", ZONE, 1, &l, why, sizeof(why)),
			 PRISM_EMSG);
	assert_non_null(strstr(why, "ttl"));
	assert_int_equal(prism_rr_line("www A 1.2.3", ZONE, 1, &l, why, sizeof(why)), PRISM_EMSG);
	assert_non_null(strstr(why, "content: not an IPv4"));
	assert_int_equal(prism_rr_line("", ZONE, 1, &l, why, sizeof(why)), PRISM_EMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args), cmocka_unit_test(test_owner),
		cmocka_unit_test(test_addresses), cmocka_unit_test(test_names),
		cmocka_unit_test(test_mx_srv),	  cmocka_unit_test(test_txt),
		cmocka_unit_test(test_caa),	  cmocka_unit_test(test_other_types),
		cmocka_unit_test(test_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
