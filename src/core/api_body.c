/* SPDX-License-Identifier: MIT */
/*
 * REST API request bodies. Checks run in a fixed order (unknown keys, then each field of the
 * route's table in order), so the first problem found is the one answered whatever the key
 * order of the body.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/api_body.h"
#include "core/error.h"
#include "core/timefmt.h"

const struct prism_api_field prism_api_body_none[] = {{NULL}};
const struct prism_api_field prism_api_body_token_create[] = {
	{"name", PRISM_API_FIELD_NAME, true},
	{"expires_at", PRISM_API_FIELD_FUTURE_TIME, false},
	{NULL},
};
const struct prism_api_field prism_api_body_key_create[] = {
	{"name", PRISM_API_FIELD_NAME, true},
	{"role", PRISM_API_FIELD_STRING, true},
	{NULL},
};
const struct prism_api_field prism_api_body_sync_retry[] = {
	{"target", PRISM_API_FIELD_STRING, false},
	{NULL},
};

/* Length of the valid UTF-8 sequence at @p p (RFC 3629: no overlong forms, no surrogates,
 * nothing over U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p)
{
	unsigned char c = p[0];
	size_t n;
	unsigned min;
	unsigned cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		n = 2, min = 0x80, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, min = 0x800, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

void prism_utf8_sanitize(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p != '\0') {
		size_t n = utf8_seq(p);
		if (n == 0)
			*p++ = '?';
		else
			p += n;
	}
}

__attribute__((format(printf, 4, 5))) static int
refuse(struct prism_api_body_err *err, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	err->status = status;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	prism_utf8_sanitize(err->message);
	return PRISM_EMSG;
}

int prism_api_body_parse(const char *body, size_t len, bool takes_body, json_t **out,
			 struct prism_api_body_err *err)
{
	if (out == NULL || err == NULL || (body == NULL && len > 0))
		return PRISM_EINVAL;
	*out = NULL;
	if (len == 0 || !takes_body) {
		if (len > 0)
			return refuse(err, 400, "invalid_body",
				      "this route takes no request body");
		*out = json_object();
		return *out != NULL ? 0 : PRISM_ENOMEM;
	}
	json_error_t e;
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL)
		return refuse(err, 400, "invalid_json", "malformed JSON (%s, at character %d)",
			      e.text, e.position);
	if (!json_is_object(j)) {
		json_decref(j);
		return refuse(err, 400, "invalid_json", "the body must be a JSON object");
	}
	*out = j;
	return 0;
}

bool prism_api_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > PRISM_API_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-@:", s[i]))
			return false;
	return true;
}

bool prism_api_iso_to_unix(const char *s, int64_t *out)
{
	if (prism_iso8601_check(s, strlen(s), NULL, 0) != 0)
		return false;
	struct tm tm = {0};
	int sec = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%*1[T ]%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &n) != 5)
		return false;
	const char *p = s + n;
	if (*p == ':' && sscanf(p + 1, "%2d", &sec) == 1)
		p += 3;
	if (*p == '.' || *p == ',')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_sec = sec > 59 ? 59 : sec;
	int64_t t = (int64_t)timegm(&tm), off = 0;
	if (*p == '+' || *p == '-') {
		int hh = 0, mm = 0;
		sscanf(p + 1, "%2d", &hh);
		const char *q = p + 3;
		if (*q == ':')
			q++;
		if (isdigit((unsigned char)*q))
			sscanf(q, "%2d", &mm);
		off = (hh * 3600 + mm * 60) * (*p == '-' ? -1 : 1);
	}
	*out = t - off;
	return true;
}

/* Every key of the body must be in the table. */
static int known_keys(const json_t *obj, const struct prism_api_field *fields,
		      struct prism_api_body_err *err)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		const struct prism_api_field *f = fields;
		while (f->key != NULL && strcmp(f->key, key) != 0)
			f++;
		if (f->key == NULL)
			return refuse(err, 400, "unknown_field", "unknown field '%s'", key);
	}
	return 0;
}

static int check_value(const struct prism_api_field *f, int64_t now, struct prism_api_value *val,
		       struct prism_api_body_err *err)
{
	switch (f->kind) {
	case PRISM_API_FIELD_STRING: return 0;
	case PRISM_API_FIELD_NAME:
		if (prism_api_name_ok(val->str))
			return 0;
		return refuse(err, 422, "invalid_value",
			      "'%s' must be 1 to %d characters of "
			      "letters, digits and . _ - @ :",
			      f->key, PRISM_API_NAME_MAX);
	case PRISM_API_FIELD_FUTURE_TIME:
		if (!prism_api_iso_to_unix(val->str, &val->unix_time))
			return refuse(err, 422, "invalid_value",
				      "'%s' must be an ISO 8601 date-time", f->key);
		if (val->unix_time <= now)
			return refuse(err, 422, "invalid_value", "'%s' is in the past", f->key);
		return 0;
	}
	return PRISM_EINVAL;
}

int prism_api_body_fields(const json_t *obj, const struct prism_api_field *fields, int64_t now,
			  struct prism_api_value *values, struct prism_api_body_err *err)
{
	if (obj == NULL || fields == NULL || values == NULL || err == NULL || !json_is_object(obj))
		return PRISM_EINVAL;
	int rc = known_keys(obj, fields, err);
	if (rc != 0)
		return rc;
	for (size_t i = 0; fields[i].key != NULL; i++) {
		const struct prism_api_field *f = &fields[i];
		json_t *v = json_object_get(obj, f->key);
		values[i] = (struct prism_api_value){0};
		if (v == NULL || (json_is_null(v) && !f->required)) {
			if (!f->required)
				continue;
			return refuse(err, 400, "missing_field", "'%s' is required", f->key);
		}
		if (!json_is_string(v))
			return refuse(err, 400, "wrong_type", "'%s' must be a string", f->key);
		values[i].str = json_string_value(v);
		rc = check_value(f, now, &values[i], err);
		if (rc != 0)
			return rc;
	}
	return 0;
}
