/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/timefmt.h"

static int check(const char *s, char *reason, size_t reason_len)
{
	return prism_iso8601_check(s, strlen(s), reason, reason_len);
}

static void expect_ok(const char *s)
{
	char reason[64] = "";
	int ret = check(s, reason, sizeof(reason));
	if (ret != 0)
		fail_msg("'%s' rejected: %s", s, reason);
}

static void expect_bad(const char *s, const char *want_reason)
{
	char reason[64] = "";
	assert_int_equal(check(s, reason, sizeof(reason)), PRISM_EMSG);
	assert_string_equal(reason, want_reason);
}

static void expect_format(int64_t usec, const char *want)
{
	char out[33];
	assert_int_equal(prism_time_format(usec, out, sizeof(out)), 0);
	assert_string_equal(out, want);
	/* what we send must pass our own check */
	assert_int_equal(check(out, NULL, 0), 0);
}

static void test_null_args(void **state)
{
	char reason[16];
	assert_int_equal(prism_iso8601_check(NULL, 0, NULL, 0), PRISM_EINVAL);
	assert_int_equal(prism_iso8601_check(NULL, 5, reason, sizeof(reason)), PRISM_EINVAL);
	assert_int_equal(prism_time_format(0, NULL, 33), PRISM_EINVAL);
}

static void test_valid(void **state)
{
	expect_ok("2025-01-01T12:00:00Z");
	expect_ok("2025-01-01T12:00:00+00:00");
	expect_ok("2025-01-01T12:00:00.123456789");
	expect_ok("2025-01-01 12:00:00");
	expect_ok("2025-01-01T12:00:00.123456");       /* Python isoformat(), naive */
	expect_ok("2025-01-01T12:00:00.123456+00:00"); /* Python isoformat(), aware */
	expect_ok("2025-01-01T12:00:00.1Z");
	expect_ok("2025-01-01T12:00:00,5Z");
	expect_ok("2025-01-01T12:00");
	expect_ok("2025-01-01T12:00Z");
	expect_ok("2025-01-01t12:00:00z");
	expect_ok("2025-01-01T12:00:00-05:30");
	expect_ok("2025-01-01T12:00:00+0530");
	expect_ok("2025-01-01T12:00:00+05");
	expect_ok("2025-01-01T23:59:59Z");
	expect_ok("2016-12-31T23:59:60Z"); /* leap second */
	expect_ok("2025-01-31T00:00:00");
	expect_ok("2025-04-30T00:00:00");
	expect_ok("0001-01-01T00:00:00");
	expect_ok("9999-12-31T23:59:59.999999");
}

static void test_leap_years(void **state)
{
	expect_ok("2024-02-29T00:00:00Z");
	expect_ok("2000-02-29T00:00:00Z");
	expect_ok("2025-02-28T00:00:00Z");
	expect_bad("2025-02-29T00:00:00Z", "day out of range");
	expect_bad("1900-02-29T00:00:00Z", "day out of range");
	expect_bad("2024-02-30T00:00:00Z", "day out of range");
}

static void test_invalid(void **state)
{
	expect_bad("", "invalid date (expected YYYY-MM-DD)");
	expect_bad("garbage", "invalid date (expected YYYY-MM-DD)");
	expect_bad("2025-01-01", "missing time part");
	expect_bad("2025-1-01T00:00:00", "invalid date (expected YYYY-MM-DD)");
	expect_bad("2025-01-011T00:00:00", "invalid date (expected YYYY-MM-DD)");
	expect_bad("20250101T000000", "invalid date (expected YYYY-MM-DD)");
	expect_bad("0000-01-01T00:00:00", "year out of range");
	expect_bad("2025-13-01T00:00:00", "month out of range");
	expect_bad("2025-00-01T00:00:00", "month out of range");
	expect_bad("2025-02-30T00:00:00", "day out of range");
	expect_bad("2025-04-31T00:00:00", "day out of range");
	expect_bad("2025-01-00T00:00:00", "day out of range");
	expect_bad("2025-01-01X00:00:00", "invalid date-time separator");
	expect_bad("2025-01-01T", "invalid time (expected hh:mm[:ss])");
	expect_bad("2025-01-01T12", "invalid time (expected hh:mm[:ss])");
	expect_bad("2025-01-01T1:00:00", "invalid time (expected hh:mm[:ss])");
	expect_bad("2025-01-01T12:00:", "invalid seconds");
	expect_bad("2025-01-01T24:00:00", "hour out of range");
	expect_bad("2025-01-01T12:60:00", "minute out of range");
	expect_bad("2025-01-01T12:00:61", "second out of range");
	expect_bad("2025-01-01T12:00:00.", "invalid fraction");
	expect_bad("2025-01-01T12:00:00.Z", "invalid fraction");
	expect_bad("2025-01-01T12:00:00+", "invalid time zone");
	expect_bad("2025-01-01T12:00:00+1", "invalid time zone");
	expect_bad("2025-01-01T12:00:00+01:", "invalid time zone");
	expect_bad("2025-01-01T12:00:00+015", "invalid time zone");
	expect_bad("2025-01-01T12:00:00UTC", "invalid time zone");
	expect_bad("2025-01-01T12:00:00+24:00", "time zone offset out of range");
	expect_bad("2025-01-01T12:00:00+01:60", "time zone offset out of range");
	expect_bad("2025-01-01T12:00:00Z ", "trailing characters");
	expect_bad("2025-01-01T12:00:00+00:00:00", "trailing characters");
	expect_bad("2025-01-01T12:00:00ZZ", "trailing characters");
}

static void test_length_bounds(void **state)
{
	const char *s = "2025-01-01T12:00:00Zjunk";
	char reason[64];
	/* only len bytes are looked at */
	assert_int_equal(prism_iso8601_check(s, 20, NULL, 0), 0);
	assert_int_equal(prism_iso8601_check(s, 10, reason, sizeof(reason)), PRISM_EMSG);
	assert_string_equal(reason, "missing time part");
	assert_int_equal(prism_iso8601_check("2025-01-01T12:00:00\0Z", 21, NULL, 0), PRISM_EMSG);
	/* reason truncated, still terminated */
	char small[8];
	assert_int_equal(check("garbage", small, sizeof(small)), PRISM_EMSG);
	assert_string_equal(small, "invalid");
}

static void test_format(void **state)
{
	expect_format(0, "1970-01-01T00:00:00.000000+00:00");
	expect_format(1735732800000000LL, "2025-01-01T12:00:00.000000+00:00");
	expect_format(1735732800123456LL, "2025-01-01T12:00:00.123456+00:00");
	expect_format(1709164800000000LL, "2024-02-29T00:00:00.000000+00:00");
	expect_format(951782400000000LL, "2000-02-29T00:00:00.000000+00:00");
	expect_format(253402300799999999LL, "9999-12-31T23:59:59.999999+00:00");
	expect_format(-1, "1969-12-31T23:59:59.999999+00:00");
	expect_format(-62135596800000000LL, "0001-01-01T00:00:00.000000+00:00");
}

static void test_format_limits(void **state)
{
	char out[64];
	assert_int_equal(prism_time_format(0, out, 32), PRISM_ETOOBIG);
	assert_int_equal(prism_time_format(0, out, 33), 0);
	assert_int_equal(prism_time_format(253402300800000000LL, out, sizeof(out)),
			 PRISM_ETOOBIG); /* year 10000 */
	assert_int_equal(prism_time_format(-62135596800000001LL, out, sizeof(out)),
			 PRISM_ETOOBIG); /* year 0 */
	assert_int_equal(prism_time_format(INT64_MAX, out, sizeof(out)), PRISM_ETOOBIG);
	assert_int_equal(prism_time_format(INT64_MIN, out, sizeof(out)), PRISM_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),     cmocka_unit_test(test_valid),
		cmocka_unit_test(test_leap_years),    cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_length_bounds), cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
