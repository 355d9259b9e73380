/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"

#define LABEL_MAX 63u

__attribute__((format(printf, 3, 4))) static void set_reason(char *reason, size_t reason_len,
							     const char *fmt, ...)
{
	if (reason == NULL || reason_len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, reason_len, fmt, ap);
	va_end(ap);
}

static bool is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-';
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Report a bad byte; non-printable and non-ASCII bytes as hex, so the reason stays valid
 * UTF-8 whatever the input was. */
static int bad_char(unsigned char c, char *reason, size_t reason_len)
{
	if (c > 0x20 && c < 0x7f && c != '\'')
		set_reason(reason, reason_len, "invalid character '%c'", c);
	else
		set_reason(reason, reason_len, "invalid character 0x%02x", c);
	return PRISM_EMSG;
}

/* One label of @p len bytes (len > 0 checked by the caller). */
static int check_label(const char *l, size_t len, bool underscore, char *reason, size_t reason_len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)l[i];
		if (!is_ldh(c) && !(underscore && c == '_'))
			return bad_char(c, reason, reason_len);
	}
	if (len > LABEL_MAX) {
		set_reason(reason, reason_len, "label too long (%zu > %u)", len, LABEL_MAX);
		return PRISM_EMSG;
	}
	if (l[0] == '-' || l[len - 1] == '-') {
		set_reason(reason, reason_len, "label starts or ends with '-'");
		return PRISM_EMSG;
	}
	return 0;
}

/* A name without trailing dot: 1–253 bytes of dot-separated labels. */
static int check_name(const char *name, size_t len, bool underscore, char *reason,
		      size_t reason_len)
{
	if (len == 0) {
		set_reason(reason, reason_len, "empty");
		return PRISM_EMSG;
	}
	if (len > PRISM_HOSTNAME_MAX) {
		set_reason(reason, reason_len, "too long (%zu > %u)", len, PRISM_HOSTNAME_MAX);
		return PRISM_EMSG;
	}
	if (name[0] == '.' || name[len - 1] == '.') {
		set_reason(reason, reason_len, "leading or trailing dot");
		return PRISM_EMSG;
	}
	size_t start = 0;
	while (start <= len) {
		const char *dot = memchr(name + start, '.', len - start);
		size_t end = dot ? (size_t)(dot - name) : len;
		if (end == start) {
			set_reason(reason, reason_len, "empty label");
			return PRISM_EMSG;
		}
		int ret = check_label(name + start, end - start, underscore, reason, reason_len);
		if (ret != 0)
			return ret;
		start = end + 1;
	}
	return 0;
}

int prism_hostname_check(const char *name, size_t len, char *reason, size_t reason_len)
{
	if (name == NULL) {
		set_reason(reason, reason_len, "missing");
		return PRISM_EINVAL;
	}
	return check_name(name, len, false, reason, reason_len);
}

int prism_name_lower(const char *in, size_t len, char *out, size_t outlen)
{
	if (in == NULL || out == NULL)
		return PRISM_EINVAL;
	if (len >= outlen)
		return PRISM_ETOOBIG;
	for (size_t i = 0; i < len; i++)
		out[i] = lower(in[i]);
	out[len] = '\0';
	return 0;
}

int prism_zone_normalize(const char *in, char *out, size_t outlen)
{
	if (in == NULL || out == NULL)
		return PRISM_EINVAL;
	size_t len = strlen(in);
	if (len == 1 && in[0] == '.') {
		if (outlen < 2)
			return PRISM_ETOOBIG;
		memcpy(out, ".", 2);
		return 0;
	}
	if (len > 1 && in[len - 1] == '.')
		len--;
	int ret = check_name(in, len, true, NULL, 0);
	if (ret != 0)
		return ret;
	if (len + 2 > outlen)
		return PRISM_ETOOBIG;
	for (size_t i = 0; i < len; i++)
		out[i] = lower(in[i]);
	out[len] = '.';
	out[len + 1] = '\0';
	return 0;
}

int prism_fqdn_join(const char *host, const char *zone, char *out, size_t outlen)
{
	if (host == NULL || zone == NULL || out == NULL)
		return PRISM_EINVAL;
	size_t zlen = strlen(zone);
	bool root = zlen == 0 || (zlen == 1 && zone[0] == '.');
	bool zdot = zlen > 0 && zone[zlen - 1] == '.';
	/* an empty host is the zone apex; the root zone must not double the dot. Joined by
	 * hand: this runs for every registration, in the store thread */
	size_t hlen = strlen(host);
	size_t sep = hlen > 0 && !root ? 1 : 0;
	size_t zpart = root ? 0 : zlen;
	size_t n = hlen + sep + zpart + (root || !zdot ? 1 : 0);
	if (n >= outlen || n > PRISM_DNAME_MAX - 1) {
		if (outlen > 0)
			out[0] = '\0';
		return PRISM_ETOOBIG;
	}
	memcpy(out, host, hlen);
	if (sep)
		out[hlen] = '.';
	memcpy(out + hlen + sep, zone, zpart);
	out[n - 1] = '.';
	out[n] = '\0';
	return 0;
}

int prism_reverse_name(const char *ip, char *out, size_t outlen)
{
	unsigned char a[16];
	if (ip == NULL || out == NULL)
		return PRISM_EINVAL;
	if (inet_pton(AF_INET, ip, a) == 1) {
		int n = snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa.", a[3], a[2], a[1], a[0]);
		return n > 0 && (size_t)n < outlen ? 0 : PRISM_ETOOBIG;
	}
	if (inet_pton(AF_INET6, ip, a) != 1)
		return PRISM_EINVAL;
	static const char hex[] = "0123456789abcdef";
	if (outlen < 16 * 4 + sizeof("ip6.arpa."))
		return PRISM_ETOOBIG;
	char *p = out;
	for (int i = 15; i >= 0; i--) {
		*p++ = hex[a[i] & 15];
		*p++ = '.';
		*p++ = hex[a[i] >> 4];
		*p++ = '.';
	}
	memcpy(p, "ip6.arpa.", sizeof("ip6.arpa."));
	return 0;
}

const char *prism_zone_of(const char *name, const char *const *zones)
{
	const char *best = NULL;
	size_t nl = name ? strlen(name) : 0, bl = 0;
	for (; zones != NULL && name != NULL && *zones != NULL; zones++) {
		size_t zl = strlen(*zones);
		bool inside = (zl == nl && strcmp(name, *zones) == 0) ||
			      (zl < nl && strcmp(name + nl - zl, *zones) == 0 &&
			       name[nl - zl - 1] == '.');
		if (inside && zl > bl) {
			best = *zones;
			bl = zl;
		}
	}
	return best;
}

int prism_ip_canon(const char *in, char out[PRISM_IP_TEXT_MAX], bool *ipv6, const char **why)
{
	unsigned char a[16];
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (in == NULL || out == NULL || ipv6 == NULL)
		return PRISM_EINVAL;
	*ipv6 = false;
	if (inet_pton(AF_INET, in, a) == 1 && inet_ntop(AF_INET, a, out, PRISM_IP_TEXT_MAX))
		return 0;
	if (inet_pton(AF_INET6, in, a) != 1 || !inet_ntop(AF_INET6, a, out, PRISM_IP_TEXT_MAX)) {
		*why = "not an IPv4 or IPv6 address";
		return PRISM_EMSG;
	}
	*ipv6 = true;
	/* inet_ntop writes exactly the embedded-IPv4 forms with dots */
	if (strchr(out, '.') != NULL) {
		bool mapped = strncmp(out, "::ffff:", 7) == 0;
		*why = mapped ? "an IPv4-mapped IPv6 address (::ffff:a.b.c.d): DNS servers "
				"refuse it in an AAAA record; use an A record"
			      : "an IPv4-compatible IPv6 address (::a.b.c.d): DNS servers "
				"refuse it in an AAAA record";
		out[0] = '\0';
		return PRISM_EMSG;
	}
	return 0;
}
