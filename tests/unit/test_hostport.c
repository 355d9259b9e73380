/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/hostport.h"

static void ok(const char *s, const char *host, uint16_t port)
{
	char h[64];
	uint16_t p = 0;
	if (prism_hostport_split(s, h, sizeof(h), &p, 53) != 0)
		fail_msg("'%s' rejected", s);
	assert_string_equal(h, host);
	assert_int_equal(p, port);
}

static void bad(const char *s)
{
	char h[64];
	uint16_t p = 0;
	if (prism_hostport_split(s, h, sizeof(h), &p, 53) == 0)
		fail_msg("'%s' accepted as host '%s' port %u", s, h, p);
}

static void test_forms(void **state)
{
	(void)state;
	ok("192.0.2.1", "192.0.2.1", 53);
	ok("192.0.2.1:5300", "192.0.2.1", 5300);
	ok("ns.example:1", "ns.example", 1);
	ok("[2001:db8::1]", "2001:db8::1", 53);
	ok("[2001:db8::1]:65535", "2001:db8::1", 65535);
	ok("2001:db8::1", "2001:db8::1", 53); /* a bare IPv6 address has no port */
	ok("::1", "::1", 53);
}

static void test_malformed(void **state)
{
	(void)state;
	bad("");
	bad(":53");
	bad("[]:53");
	bad("[::1");
	bad("[::1]x");
	bad("[::1]:");
	bad("[[::1]]:53");
	bad("192.0.2.1:");
	bad("192.0.2.1:0");
	bad("192.0.2.1:65536");
	bad("192.0.2.1:99999999999999999999");
	bad("192.0.2.1:53x");
	bad("192.0.2.1:-1");
	bad("192.0.2.1: 53");
	/* longer than the buffer */
	bad("a-very-long-host-name-that-does-not-fit-in-sixty-four-bytes-at-all.example:53");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
