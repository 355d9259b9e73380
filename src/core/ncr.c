/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/ncr.h"

__attribute__((format(printf, 4, 5))) static int fail(int rc, char *reason, size_t len,
						      const char *fmt, ...)
{
	if (reason != NULL && len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYYMMDDHHMMSS" (UTC) → unix seconds. */
static bool parse_stamp(const char *s, size_t n, int64_t *out)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	unsigned v[6] = {0};
	static const unsigned width[6] = {4, 2, 2, 2, 2, 2};
	if (n != 14)
		return false;
	for (size_t i = 0, k = 0; k < 6; k++)
		for (unsigned w = 0; w < width[k]; w++, i++) {
			if (!isdigit((unsigned char)s[i]))
				return false;
			v[k] = v[k] * 10 + (unsigned)(s[i] - '0');
		}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return false;
	unsigned dim = mdays[v[1] - 1] + (v[1] == 2 && leap(v[0]));
	if (v[2] > dim)
		return false;
	*out = days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
	return true;
}

static json_t *need(json_t *root, const char *key, json_type type, char *reason, size_t rl,
		    int *rc)
{
	json_t *v = json_object_get(root, key);
	if (v == NULL) {
		*rc = fail(PRISM_EMSG, reason, rl, "missing %s", key);
		return NULL;
	}
	bool ok = type == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == type;
	if (!ok) {
		*rc = fail(PRISM_EMSG, reason, rl, "%s has the wrong type", key);
		return NULL;
	}
	return v;
}

static int take_name(json_t *v, struct prism_ncr *n, char *reason, size_t rl)
{
	char why[96];
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len > 1 && s[len - 1] == '.')
		len--;
	if (prism_hostname_check(s, len, why, sizeof(why)) != 0)
		return fail(PRISM_EMSG, reason, rl, "fqdn: %s", why);
	if (prism_name_lower(s, len, n->fqdn, sizeof(n->fqdn) - 1) != 0)
		return fail(PRISM_EMSG, reason, rl, "fqdn: too long");
	n->fqdn[len] = '.';
	n->fqdn[len + 1] = '\0';
	return 0;
}

static int take_ip(json_t *v, struct prism_ncr *n, char *reason, size_t rl)
{
	const char *s = json_string_value(v), *why = NULL;
	if (json_string_length(v) >= sizeof(n->ip) || strlen(s) != json_string_length(v))
		return fail(PRISM_EMSG, reason, rl, "ip-address: not an address");
	if (prism_ip_canon(s, n->ip, &n->ipv6, &why) != 0)
		return fail(PRISM_EMSG, reason, rl, "ip-address: %s",
			    strncmp(why, "not ", 4) == 0 ? "not an address" : why);
	return 0;
}

static int take_dhcid(json_t *v, struct prism_ncr *n, char *reason, size_t rl)
{
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0 || len % 2 != 0 || len > PRISM_NCR_DHCID_MAX)
		return fail(PRISM_EMSG, reason, rl, "dhcid: must be 2 to %u hex digits",
			    PRISM_NCR_DHCID_MAX);
	for (size_t i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return fail(PRISM_EMSG, reason, rl, "dhcid: not hex");
		n->dhcid[i] = (char)toupper((unsigned char)s[i]);
	}
	n->dhcid[len] = '\0';
	return 0;
}

/* use-conflict-resolution (Kea 2.2), or conflict-resolution-mode (Kea 2.4 and later). */
static int take_conflict(json_t *root, struct prism_ncr *n, char *reason, size_t rl)
{
	json_t *v = json_object_get(root, "use-conflict-resolution");
	n->conflict_resolution = true;
	if (v != NULL) {
		if (!json_is_boolean(v))
			return fail(PRISM_EMSG, reason, rl,
				    "use-conflict-resolution has the wrong type");
		n->conflict_resolution = json_is_true(v);
	}
	v = json_object_get(root, "conflict-resolution-mode");
	if (v == NULL)
		return 0;
	const char *m = json_string_value(v);
	if (m == NULL)
		return fail(PRISM_EMSG, reason, rl, "conflict-resolution-mode has the wrong type");
	if (strcmp(m, "check-with-dhcid") == 0 || strcmp(m, "check-exists-with-dhcid") == 0)
		n->conflict_resolution = true;
	else if (strcmp(m, "no-check-with-dhcid") == 0 || strcmp(m, "no-check-without-dhcid") == 0)
		n->conflict_resolution = false;
	else
		return fail(PRISM_EMSG, reason, rl, "conflict-resolution-mode: unknown mode");
	return 0;
}

static int take_fields(json_t *root, struct prism_ncr *n, char *reason, size_t rl)
{
	int rc = 0;
	json_t *ct = need(root, "change-type", JSON_INTEGER, reason, rl, &rc);
	json_t *fw = ct ? need(root, "forward-change", JSON_TRUE, reason, rl, &rc) : NULL;
	json_t *rv = fw ? need(root, "reverse-change", JSON_TRUE, reason, rl, &rc) : NULL;
	json_t *fq = rv ? need(root, "fqdn", JSON_STRING, reason, rl, &rc) : NULL;
	json_t *ip = fq ? need(root, "ip-address", JSON_STRING, reason, rl, &rc) : NULL;
	json_t *dh = ip ? need(root, "dhcid", JSON_STRING, reason, rl, &rc) : NULL;
	json_t *ex = dh ? need(root, "lease-expires-on", JSON_STRING, reason, rl, &rc) : NULL;
	json_t *ll = ex ? need(root, "lease-length", JSON_INTEGER, reason, rl, &rc) : NULL;
	if (ll == NULL)
		return rc;
	json_int_t type = json_integer_value(ct), length = json_integer_value(ll);
	if (type != 0 && type != 1)
		return fail(PRISM_EMSG, reason, rl, "change-type: must be 0 (add) or 1 (remove)");
	n->remove = type == 1;
	n->forward = json_is_true(fw);
	n->reverse = json_is_true(rv);
	if (!n->forward && !n->reverse)
		return fail(PRISM_EMSG, reason, rl, "neither forward-change nor reverse-change");
	if (length < 0 || length > (json_int_t)UINT32_MAX)
		return fail(PRISM_EMSG, reason, rl, "lease-length: out of range");
	n->lease_length = (uint32_t)length;
	if (!parse_stamp(json_string_value(ex), json_string_length(ex), &n->lease_expires_on))
		return fail(PRISM_EMSG, reason, rl, "lease-expires-on: not YYYYMMDDHHMMSS");
	if ((rc = take_name(fq, n, reason, rl)) != 0 || (rc = take_ip(ip, n, reason, rl)) != 0 ||
	    (rc = take_dhcid(dh, n, reason, rl)) != 0)
		return rc;
	return take_conflict(root, n, reason, rl);
}

int prism_ncr_parse(const uint8_t *buf, size_t len, struct prism_ncr *out, char *reason,
		    size_t reason_len)
{
	if (buf == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	if (len < 2)
		return fail(PRISM_EPROTO, reason, reason_len, "shorter than its length prefix");
	size_t n = (size_t)buf[0] << 8 | buf[1];
	if (n != len - 2)
		return fail(PRISM_EPROTO, reason, reason_len,
			    "length prefix %zu but %zu bytes follow", n, len - 2);
	json_error_t e;
	json_t *root = json_loadb((const char *)buf + 2, n, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL)
		return fail(PRISM_EPROTO, reason, reason_len, "invalid JSON (%s)",
			    json_error_code(&e) == json_error_duplicate_key ? "duplicate key"
									    : "syntax");
	int rc = json_is_object(root) ? take_fields(root, out, reason, reason_len)
				      : fail(PRISM_EPROTO, reason, reason_len, "not an object");
	json_decref(root);
	return rc;
}

static void fmt_stamp(int64_t t, char *out, size_t len)
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400, sec = t - days * 86400;
	/* civil_from_days (Howard Hinnant) */
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(out, len, "%04" PRId64 "%02u%02u%02u%02u%02u", y, m, d, (unsigned)(sec / 3600),
		 (unsigned)(sec / 60 % 60), (unsigned)(sec % 60));
}

int prism_ncr_encode(const struct prism_ncr *n, uint8_t *buf, size_t cap, size_t *len)
{
	if (n == NULL || buf == NULL || len == NULL)
		return PRISM_EINVAL;
	char stamp[32];
	fmt_stamp(n->lease_expires_on, stamp, sizeof(stamp));
	if (cap < 2)
		return PRISM_ETOOBIG;
	int w = snprintf((char *)buf + 2, cap - 2,
			 "{\"change-type\":%d,\"forward-change\":%s,\"reverse-change\":%s,"
			 "\"fqdn\":\"%s\",\"ip-address\":\"%s\",\"dhcid\":\"%s\","
			 "\"lease-expires-on\":\"%s\",\"lease-length\":%" PRIu32 ","
			 "\"use-conflict-resolution\":%s}",
			 n->remove ? 1 : 0, n->forward ? "true" : "false",
			 n->reverse ? "true" : "false", n->fqdn, n->ip, n->dhcid, stamp,
			 n->lease_length, n->conflict_resolution ? "true" : "false");
	if (w < 0 || (size_t)w >= cap - 2 || w > (int)PRISM_NCR_MAX - 2)
		return PRISM_ETOOBIG;
	buf[0] = (uint8_t)(w >> 8);
	buf[1] = (uint8_t)w;
	*len = (size_t)w + 2;
	return 0;
}
