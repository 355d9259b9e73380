/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/jw.h"

static bool grow(struct jw *w, size_t n)
{
	if (w->oom)
		return false;
	if (w->len + n + 1 <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < w->len + n + 1)
		cap *= 2;
	char *p = w->borrowed ? malloc(cap) : realloc(w->buf, cap);
	if (p == NULL) {
		w->oom = true;
		return false;
	}
	if (w->borrowed && w->len > 0)
		memcpy(p, w->buf, w->len);
	w->borrowed = false;
	w->buf = p;
	w->cap = cap;
	return true;
}

void jw_init_buf(struct jw *w, char *buf, size_t cap)
{
	*w = (struct jw){.buf = buf, .cap = cap, .borrowed = cap > 0};
	if (cap == 0)
		w->buf = NULL;
}

/* The text is NUL-terminated only by jw_text(): appends skip it (hot path). */
static inline void put(struct jw *w, const char *s, size_t n)
{
	if (w->len + n + 1 > w->cap && !grow(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static inline void putc_(struct jw *w, char c)
{
	if (w->len + 2 > w->cap && !grow(w, 1))
		return;
	w->buf[w->len++] = c;
}

const char *jw_text(struct jw *w)
{
	if (!grow(w, 0))
		return NULL;
	w->buf[w->len] = '\0';
	return w->buf;
}

/* Before a value or a key: a comma when something precedes it at this level. */
static void sep(struct jw *w)
{
	if (w->comma)
		putc_(w, ',');
	w->comma = true;
}

void jw_reset(struct jw *w)
{
	w->len = 0;
	w->comma = false;
	w->oom = false;
	if (w->buf != NULL)
		w->buf[0] = '\0';
}

void jw_free(struct jw *w)
{
	if (!w->borrowed)
		free(w->buf);
	*w = (struct jw){0};
}

void jw_obj(struct jw *w)
{
	sep(w);
	putc_(w, '{');
	w->comma = false;
}

void jw_end_obj(struct jw *w)
{
	putc_(w, '}');
	w->comma = true;
}

void jw_arr(struct jw *w)
{
	sep(w);
	putc_(w, '[');
	w->comma = false;
}

void jw_end_arr(struct jw *w)
{
	putc_(w, ']');
	w->comma = true;
}

/* Bytes a JSON string must escape: control characters, '"' and '\\'. */
static const unsigned char must_escape[256] = {
	[0 ... 0x1f] = 1,
	['"'] = 1,
	['\\'] = 1,
};

static void escaped(struct jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* the common case, nothing to escape: one copy with both quotes */
	size_t i = 0;
	while (i < n && !must_escape[(unsigned char)s[i]])
		i++;
	if (i == n && w->len + n + 3 <= w->cap) {
		char *o = w->buf + w->len;
		o[0] = '"';
		memcpy(o + 1, s, n);
		o[n + 1] = '"';
		w->len += n + 2;
		return;
	}
	putc_(w, '"');
	size_t run = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		put(w, s + run, i - run);
		run = i + 1;
		char e[7] = {'\\', (char)c, 0};
		switch (c) {
		case '"':
		case '\\': break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		case '\t': e[1] = 't'; break;
		default:
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			put(w, e, 6);
			continue;
		}
		put(w, e, 2);
	}
	put(w, s + run, n - run);
	putc_(w, '"');
}

void jw_key(struct jw *w, const char *k)
{
	size_t n = strlen(k);
	if (w->len + n + 5 > w->cap && !grow(w, n + 4))
		return;
	char *o = w->buf + w->len;
	if (w->comma)
		*o++ = ',';
	*o++ = '"';
	memcpy(o, k, n); /* keys are the API's own constants: nothing to escape */
	o += n;
	*o++ = '"';
	*o++ = ':';
	w->len = (size_t)(o - w->buf);
	w->comma = false;
}

void jw_key_escaped(struct jw *w, const char *k)
{
	sep(w);
	escaped(w, k, strlen(k));
	putc_(w, ':');
	w->comma = false;
}

void jw_strn(struct jw *w, const char *s, size_t n)
{
	sep(w);
	escaped(w, s, n);
}

void jw_str(struct jw *w, const char *s)
{
	if (s == NULL)
		jw_null(w);
	else
		jw_strn(w, s, strlen(s));
}

/* Digits of @p v ending at @p end; returns the first. */
static char *digits(uint64_t v, char *end)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	return end;
}

void jw_int(struct jw *w, int64_t v)
{
	char b[24], *p = digits(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, b + sizeof(b));
	if (v < 0)
		*--p = '-';
	sep(w);
	put(w, p, (size_t)(b + sizeof(b) - p));
}

void jw_uint(struct jw *w, uint64_t v)
{
	char b[24], *p = digits(v, b + sizeof(b));
	sep(w);
	put(w, p, (size_t)(b + sizeof(b) - p));
}

void jw_double(struct jw *w, double v)
{
	if (!isfinite(v)) {
		jw_null(w);
		return;
	}
	char b[32];
	int n = snprintf(b, sizeof(b), "%.6g", v);
	sep(w);
	put(w, b, (size_t)n);
}

void jw_bool(struct jw *w, bool v)
{
	sep(w);
	put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(struct jw *w)
{
	sep(w);
	put(w, "null", 4);
}

void jw_raw(struct jw *w, const char *json)
{
	if (json == NULL) {
		jw_null(w);
		return;
	}
	sep(w);
	put(w, json, strlen(json));
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm; proleptic Gregorian). */
static void civil(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void two(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* Formatted without strftime (a page of hosts formats hundreds of times). */
void jw_time_text(int64_t t, char *out, size_t outlen)
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400, y;
	unsigned secs = (unsigned)(t - days * 86400), m, d;
	if (outlen < 21) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	civil(days, &y, &m, &d);
	if (y < 0 || y > 9999) {
		memcpy(out, "1970-01-01T00:00:00Z", 21);
		return;
	}
	char b[21] = "0000-00-00T00:00:00Z";
	two(b, (unsigned)(y / 100));
	two(b + 2, (unsigned)(y % 100));
	two(b + 5, m);
	two(b + 8, d);
	two(b + 11, secs / 3600);
	two(b + 14, secs / 60 % 60);
	two(b + 17, secs % 60);
	memcpy(out, b, sizeof(b));
}

void jw_time(struct jw *w, int64_t t)
{
	if (t <= 0) {
		jw_null(w);
		return;
	}
	char b[24];
	int64_t day = t / 86400;
	if (w->day == day + 1) {
		/* same day as the last one: only the time of day to format */
		unsigned secs = (unsigned)(t - day * 86400);
		memcpy(b, w->date, 10);
		memcpy(b + 10, "T00:00:00Z", 11);
		two(b + 11, secs / 3600);
		two(b + 14, secs / 60 % 60);
		two(b + 17, secs % 60);
	} else {
		jw_time_text(t, b, sizeof(b));
		memcpy(w->date, b, 10);
		w->date[10] = '\0';
		w->day = day + 1;
	}
	sep(w);
	putc_(w, '"');
	put(w, b, 20);
	putc_(w, '"');
}

void jw_kstr(struct jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

void jw_kint(struct jw *w, const char *k, int64_t v)
{
	jw_key(w, k);
	jw_int(w, v);
}

void jw_kbool(struct jw *w, const char *k, bool v)
{
	jw_key(w, k);
	jw_bool(w, v);
}

void jw_ktime(struct jw *w, const char *k, int64_t t)
{
	jw_key(w, k);
	jw_time(w, t);
}
