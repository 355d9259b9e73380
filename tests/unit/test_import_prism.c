/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/import_prism.h"

#define ZONE "managed.prism.local."

static struct prism_orig_row good(void)
{
	return (struct prism_orig_row){
		.hostname = "Web1",
		.current_ip = "192.0.2.10",
		.status = "online",
		.first_seen = "2024-02-29 08:00:00",
		.last_seen = "2025-01-01 12:00:00.123456",
		.dns_zone = "managed.prism.local",
		.dns_ttl = "300",
		.dns_sync_status = "synced",
	};
}

static enum prism_orig_verdict check(const struct prism_orig_row *r, struct prism_orig_host *h,
				     char *why)
{
	return prism_orig_row_check(r, ZONE, h, why, 128);
}

static void test_null(void **state)
{
	struct prism_orig_host h;
	struct prism_orig_row r = good();
	int64_t t;
	(void)state;
	assert_int_equal(prism_orig_row_check(NULL, ZONE, &h, NULL, 0), PRISM_ORIG_INVALID);
	assert_int_equal(prism_orig_row_check(&r, NULL, &h, NULL, 0), PRISM_ORIG_INVALID);
	assert_int_equal(prism_orig_row_check(&r, ZONE, NULL, NULL, 0), PRISM_ORIG_INVALID);
	assert_int_equal(prism_orig_time_parse(NULL, &t), PRISM_EINVAL);
	assert_int_equal(prism_orig_time_parse("2025-01-01 00:00:00", NULL), PRISM_EINVAL);
}

static void test_time(void **state)
{
	int64_t t;
	(void)state;
	assert_int_equal(prism_orig_time_parse("1970-01-01 00:00:00", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(prism_orig_time_parse("2025-01-01 12:00:00", &t), 0);
	assert_int_equal(t, 1735732800);
	assert_int_equal(prism_orig_time_parse("2024-02-29T23:59:59.5Z", &t), 0);
	assert_int_equal(t, 1709251199);
	/* malformed, out of range, time zones other than UTC */
	const char *bad[] = {"",
			     "2025-01-01",
			     "2025-01-01 12:00",
			     "2025-13-01 00:00:00",
			     "2023-02-29 00:00:00",
			     "2025-01-01 24:00:00",
			     "2025-01-01 12:00:60",
			     "2025-01-01 12:00:00+02:00",
			     "2025-01-01 12:00:00.",
			     "yesterday",
			     "2025/01/01 12:00:00",
			     "2025-01-01 12:00:00 ",
			     NULL};
	for (const char **b = bad; *b; b++)
		assert_int_equal(prism_orig_time_parse(*b, &t), PRISM_EMSG);
}

static void test_row(void **state)
{
	struct prism_orig_host h;
	char why[128];
	(void)state;
	struct prism_orig_row r = good();
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_OK);
	assert_string_equal(h.hostname, "web1");
	assert_string_equal(h.ip, "192.0.2.10");
	assert_false(h.ipv6);
	assert_true(h.online);
	assert_int_equal(h.first_seen, 1709193600);
	assert_int_equal(h.last_seen, 1735732800);
	/* IPv6 canonical; IPv4-mapped counts as IPv4; status in any case; zone empty or NULL */
	r.current_ip = "2001:DB8:0::1";
	r.status = "OFFLINE";
	r.dns_zone = "";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_OK);
	assert_string_equal(h.ip, "2001:db8::1");
	assert_true(h.ipv6);
	assert_false(h.online);
	r.current_ip = "::ffff:198.51.100.7";
	r.dns_zone = NULL;
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_OK);
	assert_string_equal(h.ip, "198.51.100.7");
	assert_false(h.ipv6);
	r.dns_zone = "MANAGED.prism.local.";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_OK);
}

static void test_row_refused(void **state)
{
	struct prism_orig_host h;
	char why[128];
	(void)state;
	struct prism_orig_row r = good();
	r.hostname = "bad_host";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	assert_string_equal(why, "hostname: invalid character '_'");
	r = good();
	r.hostname = NULL;
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	assert_string_equal(why, "hostname: missing");
	r = good();
	r.current_ip = "999.1.1.1";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	assert_string_equal(why, "current_ip: not an IP address");
	r.current_ip = NULL;
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	r = good();
	r.status = "zombie";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	assert_string_equal(why, "status: not online or offline");
	r.status = NULL;
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	r = good();
	r.last_seen = "last week";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	assert_string_equal(why, "last_seen: not YYYY-MM-DD HH:MM:SS");
	r = good();
	r.first_seen = "2026-01-01 00:00:00";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_INVALID);
	assert_string_equal(why, "first_seen: after last_seen");
	r = good();
	r.dns_zone = "other.example";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_OTHER_ZONE);
	r.dns_zone = "not a zone!";
	assert_int_equal(check(&r, &h, why), PRISM_ORIG_OTHER_ZONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_row),
		cmocka_unit_test(test_row_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
