/* SPDX-License-Identifier: MIT */
/* Checks for the rows of the original Prism server's registry (see import_prism.h). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/import_prism.h"
#include "core/timefmt.h"

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int prism_orig_time_parse(const char *s, int64_t *out)
{
	if (s == NULL || out == NULL)
		return PRISM_EINVAL;
	size_t len = strlen(s);
	int y, mo, d, h, mi, se;
	if (len < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
	    s[13] != ':' || s[16] != ':' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
	    !digits(s + 17, 2, &se))
		return PRISM_EMSG;
	size_t i = 19;
	if (i < len && s[i] == '.') {
		size_t f = ++i;
		while (i < len && isdigit((unsigned char)s[i]))
			i++;
		if (i == f)
			return PRISM_EMSG;
	}
	if (i < len && s[i] == 'Z')
		i++;
	if (i != len)
		return PRISM_EMSG;
	/* the field ranges (days per month, leap years) as the agent timestamps are checked */
	if (prism_iso8601_check(s, 19, NULL, 0) != 0 || se == 60)
		return PRISM_EMSG;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
	return 0;
}

static int ip_canon(const char *in, char *out, size_t outlen, bool *ipv6)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, in, a) == 1) {
		*ipv6 = false;
		return inet_ntop(AF_INET, a, out, (socklen_t)outlen) ? 0 : PRISM_ETOOBIG;
	}
	if (inet_pton(AF_INET6, in, a) != 1)
		return PRISM_EMSG;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	*ipv6 = memcmp(a, mapped, 12) != 0; /* an IPv4-mapped address counts as IPv4 */
	if (*ipv6)
		return inet_ntop(AF_INET6, a, out, (socklen_t)outlen) ? 0 : PRISM_ETOOBIG;
	return inet_ntop(AF_INET, a + 12, out, (socklen_t)outlen) ? 0 : PRISM_ETOOBIG;
}

/* dns_zone names @p zone: empty, or the same name with or without its trailing dot. */
static bool same_zone(const char *dns_zone, const char *zone)
{
	if (dns_zone == NULL || dns_zone[0] == '\0')
		return true;
	char norm[PRISM_DNAME_MAX + 1];
	return prism_zone_normalize(dns_zone, norm, sizeof(norm)) == 0 && strcmp(norm, zone) == 0;
}

static enum prism_orig_verdict bad(char *reason, size_t len, const char *field, const char *why)
{
	if (reason != NULL && len > 0)
		snprintf(reason, len, "%s: %s", field, why);
	return PRISM_ORIG_INVALID;
}

enum prism_orig_verdict prism_orig_row_check(const struct prism_orig_row *row, const char *zone,
					     struct prism_orig_host *out, char *reason,
					     size_t reason_len)
{
	if (row == NULL || zone == NULL || out == NULL)
		return bad(reason, reason_len, "row", "missing");
	memset(out, 0, sizeof(*out));
	char why[96];
	const char *h = row->hostname;
	if (h == NULL)
		return bad(reason, reason_len, "hostname", "missing");
	if (prism_hostname_check(h, strlen(h), why, sizeof(why)) != 0)
		return bad(reason, reason_len, "hostname", why);
	prism_name_lower(h, strlen(h), out->hostname, sizeof(out->hostname));
	if (row->current_ip == NULL)
		return bad(reason, reason_len, "current_ip", "missing");
	if (ip_canon(row->current_ip, out->ip, sizeof(out->ip), &out->ipv6) != 0)
		return bad(reason, reason_len, "current_ip", "not an IP address");
	if (row->status != NULL && strcasecmp(row->status, "online") == 0)
		out->online = true;
	else if (row->status == NULL || strcasecmp(row->status, "offline") != 0)
		return bad(reason, reason_len, "status", "not online or offline");
	if (prism_orig_time_parse(row->first_seen, &out->first_seen) != 0)
		return bad(reason, reason_len, "first_seen", "not YYYY-MM-DD HH:MM:SS");
	if (prism_orig_time_parse(row->last_seen, &out->last_seen) != 0)
		return bad(reason, reason_len, "last_seen", "not YYYY-MM-DD HH:MM:SS");
	if (out->first_seen > out->last_seen)
		return bad(reason, reason_len, "first_seen", "after last_seen");
	if (!same_zone(row->dns_zone, zone)) {
		if (reason != NULL && reason_len > 0)
			snprintf(reason, reason_len,
				 "dns_zone: %.200s is not %s (the agents' zone)", row->dns_zone,
				 zone);
		return PRISM_ORIG_OTHER_ZONE;
	}
	return PRISM_ORIG_OK;
}
