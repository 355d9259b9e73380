/* SPDX-License-Identifier: MIT */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/timefmt.h"

#define USEC_PER_SEC	1000000
#define SEC_PER_DAY	86400
#define TIME_FORMAT_LEN 32 /* "2025-01-01T12:00:00.123456+00:00" */

/* A cursor over the text being validated. */
struct cur {
	const char *s;
	size_t len;
	size_t pos;
	const char *reason; /* first error found */
};

static bool at_end(const struct cur *c)
{
	return c->pos >= c->len;
}

static bool peek(const struct cur *c, char ch)
{
	return !at_end(c) && c->s[c->pos] == ch;
}

static bool is_digit(const struct cur *c)
{
	return !at_end(c) && c->s[c->pos] >= '0' && c->s[c->pos] <= '9';
}

/* Exactly @p n digits into @p val. */
static bool digits(struct cur *c, int n, int *val)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(c))
			return false;
		v = v * 10 + (c->s[c->pos++] - '0');
	}
	*val = v;
	return true;
}

static bool lit(struct cur *c, char ch)
{
	if (!peek(c, ch))
		return false;
	c->pos++;
	return true;
}

static bool fail(struct cur *c, const char *reason)
{
	c->reason = reason;
	return false;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* YYYY-MM-DD */
static bool parse_date(struct cur *c)
{
	int y, m, d;
	if (!digits(c, 4, &y) || !lit(c, '-') || !digits(c, 2, &m) || !lit(c, '-') ||
	    !digits(c, 2, &d) || is_digit(c))
		return fail(c, "invalid date (expected YYYY-MM-DD)");
	if (y < 1)
		return fail(c, "year out of range");
	if (m < 1 || m > 12)
		return fail(c, "month out of range");
	if (d < 1 || d > days_in_month(y, m))
		return fail(c, "day out of range");
	return true;
}

/* hh:mm[:ss][(.|,)fraction] */
static bool parse_time(struct cur *c)
{
	int h, m, s = 0;
	if (!digits(c, 2, &h) || !lit(c, ':') || !digits(c, 2, &m))
		return fail(c, "invalid time (expected hh:mm[:ss])");
	if (lit(c, ':') && !digits(c, 2, &s))
		return fail(c, "invalid seconds");
	if (h > 23)
		return fail(c, "hour out of range");
	if (m > 59)
		return fail(c, "minute out of range");
	if (s > 60)
		return fail(c, "second out of range");
	if (lit(c, '.') || lit(c, ',')) {
		if (!is_digit(c))
			return fail(c, "invalid fraction");
		while (is_digit(c))
			c->pos++;
	}
	return true;
}

/* Z, ±hh:mm, ±hhmm, ±hh, or nothing (local time) */
static bool parse_zone(struct cur *c)
{
	int h, m = 0;
	if (lit(c, 'Z') || lit(c, 'z') || at_end(c))
		return true;
	if (!lit(c, '+') && !lit(c, '-'))
		return fail(c, "invalid time zone");
	if (!digits(c, 2, &h))
		return fail(c, "invalid time zone");
	if (lit(c, ':')) {
		if (!digits(c, 2, &m))
			return fail(c, "invalid time zone");
	} else if (is_digit(c) && !digits(c, 2, &m)) {
		return fail(c, "invalid time zone");
	}
	if (h > 23 || m > 59)
		return fail(c, "time zone offset out of range");
	return true;
}

static void copy_reason(const char *text, char *reason, size_t reason_len)
{
	if (reason != NULL && reason_len > 0)
		snprintf(reason, reason_len, "%s", text);
}

int prism_iso8601_check(const char *s, size_t len, char *reason, size_t reason_len)
{
	if (s == NULL) {
		copy_reason("missing", reason, reason_len);
		return PRISM_EINVAL;
	}
	struct cur c = {.s = s, .len = len};
	if (!parse_date(&c))
		goto fail;
	if (at_end(&c)) {
		c.reason = "missing time part";
		goto fail;
	}
	if (!lit(&c, 'T') && !lit(&c, 't') && !lit(&c, ' ')) {
		c.reason = "invalid date-time separator";
		goto fail;
	}
	if (!parse_time(&c) || !parse_zone(&c))
		goto fail;
	if (!at_end(&c)) {
		c.reason = "trailing characters";
		goto fail;
	}
	return 0;
fail:
	copy_reason(c.reason, reason, reason_len);
	return PRISM_EMSG;
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Floor division, so times before the epoch format correctly. */
static int64_t floor_div(int64_t a, int64_t b, int64_t *rem)
{
	int64_t q = a / b, r = a % b;
	if (r < 0) {
		r += b;
		q--;
	}
	*rem = r;
	return q;
}

int prism_time_format(int64_t usec, char *out, size_t outlen)
{
	if (out == NULL)
		return PRISM_EINVAL;
	if (outlen < TIME_FORMAT_LEN + 1)
		return PRISM_ETOOBIG;
	int64_t frac, sod, y;
	int64_t days = floor_div(floor_div(usec, USEC_PER_SEC, &frac), SEC_PER_DAY, &sod);
	int m, d;
	civil_from_days(days, &y, &m, &d);
	if (y < 1 || y > 9999) {
		out[0] = '\0';
		return PRISM_ETOOBIG;
	}
	/* "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" digit by digit: every agent answer carries one */
	static const char tmpl[] = "0000-00-00T00:00:00.000000+00:00";
	unsigned v[] = {(unsigned)y,
			(unsigned)m,
			(unsigned)d,
			(unsigned)(sod / 3600),
			(unsigned)(sod / 60 % 60),
			(unsigned)(sod % 60),
			(unsigned)frac};
	static const unsigned char at[] = {0, 5, 8, 11, 14, 17, 20};
	static const unsigned char width[] = {4, 2, 2, 2, 2, 2, 6};
	memcpy(out, tmpl, sizeof(tmpl));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		for (unsigned k = width[i], x = v[i]; k > 0; k--, x /= 10)
			out[at[i] + k - 1] = (char)('0' + x % 10);
	return 0;
}
