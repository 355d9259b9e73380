/* SPDX-License-Identifier: MIT */
/*
 * Record validation and canonical form. Every check writes a short lower-case reason; the
 * API puts it after the field's path ("records[3].content: ..."). The canonical forms are
 * PowerDNS's own zone representation, so a record read back from a target hashes equal to
 * the registry's copy and the reconciler finds nothing to repair.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rr_validate.h"

#define LABEL_MAX      63u
#define NAME_MAX_TEXT  253u /* without the trailing dot */
#define TXT_STRING_MAX 255u

static const char *const supported[] = {"A",  "AAAA", "CNAME", "MX", "TXT",
					"NS", "SRV",  "PTR",   "CAA"};

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t whylen, const char *fmt,
							...)
{
	if (why != NULL && whylen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return PRISM_EMSG;
}

bool prism_rr_type_supported(const char *type)
{
	for (size_t i = 0; type != NULL && i < sizeof(supported) / sizeof(supported[0]); i++)
		if (strcmp(type, supported[i]) == 0)
			return true;
	return false;
}

/* Labels of a dotted name without its trailing dot: 1–63 characters of [a-z0-9_-],
 * "*" alone as the first label when @p wildcard. */
static int check_labels(const char *s, size_t n, bool wildcard, char *why, size_t whylen)
{
	size_t label = 0, start = 0;
	if (n > NAME_MAX_TEXT)
		return refuse(why, whylen, "name too long (%zu > %u characters)", n,
			      NAME_MAX_TEXT);
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : '.';
		if (c != '.') {
			if (++label > LABEL_MAX)
				return refuse(why, whylen, "label longer than 63 characters");
			if (!isalnum((unsigned char)c) && c != '-' && c != '_' &&
			    !(c == '*' && wildcard && start == 0 && i == 0))
				return refuse(why, whylen, "invalid character '%c' in a name",
					      isprint((unsigned char)c) ? c : '?');
			continue;
		}
		if (label == 0)
			return refuse(why, whylen, "empty label in a name");
		if (s[start] == '*' && label != 1)
			return refuse(why, whylen, "'*' must be a whole label");
		label = 0;
		start = i + 1;
	}
	return 0;
}

/* Whether @p s (n chars, no trailing dot) is @p zone (with its dot) or ends in ".zone". */
static bool ends_with_zone(const char *s, size_t n, const char *zone)
{
	size_t zl = strlen(zone) - 1; /* without the dot */
	if (zl == 0)
		return true; /* the root */
	if (n < zl || strncasecmp(s + n - zl, zone, zl) != 0)
		return false;
	return n == zl || s[n - zl - 1] == '.';
}

static int lower_copy(const char *s, size_t n, const char *suffix, char *out, size_t outlen)
{
	size_t sl = strlen(suffix);
	if (n + sl + 1 > outlen)
		return PRISM_ETOOBIG;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	memcpy(out + n, suffix, sl + 1);
	return 0;
}

/* A name in @p zone's context: @p owner picks the owner rules (relative by default,
 * wildcards) or the content rules (several labels need a dot or the zone's name). */
static int resolve_name(const char *in, size_t n, const char *zone, bool owner, char *out,
			size_t outlen, char *why, size_t whylen)
{
	if (n == 0 || (n == 1 && in[0] == '@'))
		return lower_copy(zone, strlen(zone), "", out, outlen) == 0
			       ? 0
			       : refuse(why, whylen, "name too long");
	if (n == 1 && in[0] == '.') {
		if (owner)
			return refuse(why, whylen, "the root is not in zone %s", zone);
		return lower_copy(".", 1, "", out, outlen);
	}
	bool absolute = in[n - 1] == '.';
	size_t len = absolute ? n - 1 : n;
	int rc = check_labels(in, len, owner, why, whylen);
	if (rc != 0)
		return rc;
	char buf[PRISM_DNAME_MAX + 1];
	if (absolute || ends_with_zone(in, len, zone)) {
		if (lower_copy(in, len, ".", buf, sizeof(buf)) != 0)
			return refuse(why, whylen, "name too long");
	} else {
		if (!owner && memchr(in, '.', len) != NULL)
			return refuse(why, whylen,
				      "ambiguous name '%.*s': end it with a dot for "
				      "an absolute name",
				      (int)(len > 60 ? 60 : len), in);
		if (lower_copy(in, len, strcmp(zone, ".") == 0 ? "." : "", buf, sizeof(buf)) != 0)
			return refuse(why, whylen, "name too long");
		if (strcmp(zone, ".") != 0) {
			size_t bl = strlen(buf);
			if (bl + 1 + strlen(zone) > NAME_MAX_TEXT + 1)
				return refuse(why, whylen, "name too long with the zone appended");
			buf[bl] = '.';
			lower_copy(zone, strlen(zone), "", buf + bl + 1, sizeof(buf) - bl - 1);
		}
	}
	size_t bl = strlen(buf);
	if (bl - 1 > NAME_MAX_TEXT)
		return refuse(why, whylen, "name too long");
	if (owner && !ends_with_zone(buf, bl - 1, zone))
		return refuse(why, whylen, "'%s' is not in zone %s", buf, zone);
	if (bl + 1 > outlen)
		return PRISM_ETOOBIG;
	memcpy(out, buf, bl + 1);
	return 0;
}

int prism_rr_owner(const char *name, const char *zone, char *out, size_t outlen, char *why,
		   size_t whylen)
{
	if (name == NULL || zone == NULL || out == NULL || zone[0] == '\0' ||
	    zone[strlen(zone) - 1] != '.')
		return PRISM_EINVAL;
	return resolve_name(name, strlen(name), zone, true, out, outlen, why, whylen);
}

/* ---- tokens ---- */

struct cursor {
	const char *p;
};

static void skip_blanks(struct cursor *c)
{
	while (*c->p == ' ' || *c->p == '\t')
		c->p++;
}

/* The next blank-separated word; its length, 0 at the end. */
static size_t word(struct cursor *c, const char **start)
{
	skip_blanks(c);
	*start = c->p;
	while (*c->p != '\0' && *c->p != ' ' && *c->p != '\t')
		c->p++;
	return (size_t)(c->p - *start);
}

static bool number(const char *s, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;
	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = v;
	return true;
}

/* Append to out with bounds: the canonical text is built piece by piece. */
struct outbuf {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct outbuf *o, const char *s, size_t n)
{
	if (o->full || o->len + n + 1 > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void puts_(struct outbuf *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putu(struct outbuf *o, unsigned long v)
{
	char b[24];
	int n = snprintf(b, sizeof(b), "%lu", v);
	put(o, b, (size_t)n);
}

/* One character string of TXT/CAA, escaped the way PowerDNS writes it. */
static void put_string(struct outbuf *o, const unsigned char *s, size_t n)
{
	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		char e[8];
		if (s[i] < 32 || s[i] >= 127) {
			snprintf(e, sizeof(e), "\\%03u", s[i]);
			put(o, e, 4);
		} else if (s[i] == '"' || s[i] == '\\') {
			e[0] = '\\';
			e[1] = (char)s[i];
			put(o, e, 2);
		} else {
			put(o, (const char *)&s[i], 1);
		}
	}
	put(o, "\"", 1);
}

/* A quoted string at c->p (which is '"'): unescaped into buf (at most 255 bytes). */
static int quoted(struct cursor *c, unsigned char *buf, size_t *n, char *why, size_t whylen)
{
	const char *p = c->p + 1;
	*n = 0;
	for (;;) {
		unsigned char ch = (unsigned char)*p;
		if (ch == '\0')
			return refuse(why, whylen, "unterminated quoted string");
		if (ch == '"')
			break;
		if (ch == '\\') {
			p++;
			if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
			    isdigit((unsigned char)p[2])) {
				unsigned v = (unsigned)(p[0] - '0') * 100 +
					     (unsigned)(p[1] - '0') * 10 + (unsigned)(p[2] - '0');
				if (v > 255)
					return refuse(why, whylen, "escape \\%.3s is over 255", p);
				ch = (unsigned char)v;
				p += 2;
			} else if (*p == '\0') {
				return refuse(why, whylen, "unterminated quoted string");
			} else {
				ch = (unsigned char)*p;
			}
		} else if (ch < 32 && ch != '\t') {
			return refuse(why, whylen, "control character in a string (use \\DDD)");
		}
		if (*n == TXT_STRING_MAX)
			return refuse(why, whylen,
				      "a string is longer than 255 bytes (split it "
				      "into several quoted strings)");
		buf[(*n)++] = ch;
		p++;
	}
	c->p = p + 1;
	return 0;
}

static int content_txt(const char *in, struct outbuf *o, char *why, size_t whylen)
{
	struct cursor c = {in};
	skip_blanks(&c);
	if (*c.p != '"') {
		/* one unquoted text: split every 255 bytes */
		size_t n = strlen(c.p);
		while (n > 0 && (c.p[n - 1] == ' ' || c.p[n - 1] == '\t'))
			n--;
		if (n == 0)
			return refuse(why, whylen, "empty TXT content");
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c.p[i] < 32 && c.p[i] != '\t')
				return refuse(why, whylen, "control character in the text");
		for (size_t off = 0; off < n; off += TXT_STRING_MAX) {
			size_t k = n - off < TXT_STRING_MAX ? n - off : TXT_STRING_MAX;
			if (off > 0)
				put(o, " ", 1);
			put_string(o, (const unsigned char *)c.p + off, k);
		}
		return 0;
	}
	bool first = true;
	while (*c.p != '\0') {
		unsigned char buf[TXT_STRING_MAX];
		size_t n;
		if (*c.p != '"')
			return refuse(why, whylen,
				      "text between quoted strings: quote every part");
		int rc = quoted(&c, buf, &n, why, whylen);
		if (rc != 0)
			return rc;
		if (!first)
			put(o, " ", 1);
		put_string(o, buf, n);
		first = false;
		skip_blanks(&c);
	}
	return 0;
}

static int content_caa(const char *in, struct outbuf *o, char *why, size_t whylen)
{
	struct cursor c = {in};
	const char *s;
	size_t n = word(&c, &s);
	unsigned long flags;
	if (!number(s, n, 255, &flags))
		return refuse(why, whylen, "CAA flags must be a number from 0 to 255");
	n = word(&c, &s);
	if (n == 0 || n > 15)
		return refuse(why, whylen, "CAA tag must be 1 to 15 letters and digits");
	char tag[16];
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]))
			return refuse(why, whylen, "CAA tag must be 1 to 15 letters and digits");
		tag[i] = (char)tolower((unsigned char)s[i]);
	}
	tag[n] = '\0';
	skip_blanks(&c);
	unsigned char val[TXT_STRING_MAX];
	size_t vn = 0;
	if (*c.p == '"') {
		int rc = quoted(&c, val, &vn, why, whylen);
		if (rc != 0)
			return rc;
		skip_blanks(&c);
		if (*c.p != '\0')
			return refuse(why, whylen, "CAA value must be one quoted string");
	} else {
		const char *v;
		vn = word(&c, &v);
		skip_blanks(&c);
		if (vn == 0 || *c.p != '\0')
			return refuse(why, whylen,
				      "CAA value missing (or quote a value with "
				      "spaces)");
		if (vn > TXT_STRING_MAX)
			return refuse(why, whylen, "CAA value longer than 255 bytes");
		memcpy(val, v, vn);
	}
	putu(o, flags);
	put(o, " ", 1);
	puts_(o, tag);
	put(o, " ", 1);
	put_string(o, val, vn);
	return 0;
}

static int put_name(struct outbuf *o, const char *s, size_t n, const char *zone, char *why,
		    size_t whylen)
{
	char name[PRISM_DNAME_MAX + 1];
	int rc = resolve_name(s, n, zone, false, name, sizeof(name), why, whylen);
	if (rc == 0)
		puts_(o, name);
	return rc;
}

/* "N1 N2 … NAME" with @p nnum 16-bit numbers first (MX: 1, SRV: 3). */
static int content_nums_name(const char *in, unsigned nnum, const char *const *what,
			     const char *zone, struct outbuf *o, char *why, size_t whylen)
{
	struct cursor c = {in};
	const char *s;
	size_t n;
	for (unsigned i = 0; i < nnum; i++) {
		unsigned long v;
		n = word(&c, &s);
		if (!number(s, n, 65535, &v))
			return refuse(why, whylen, "%s must be a number from 0 to 65535", what[i]);
		putu(o, v);
		put(o, " ", 1);
	}
	n = word(&c, &s);
	if (n == 0)
		return refuse(why, whylen, "%s missing", what[nnum]);
	const char *rest;
	if (word(&c, &rest) != 0)
		return refuse(why, whylen, "unexpected text after the %s", what[nnum]);
	return put_name(o, s, n, zone, why, whylen);
}

static int content_addr(int af, const char *in, struct outbuf *o, char *why, size_t whylen)
{
	char text[PRISM_IP_TEXT_MAX], canon[PRISM_IP_TEXT_MAX];
	const char *fam = af == AF_INET ? "IPv4" : "IPv6", *reason = NULL;
	struct cursor c = {in};
	const char *s, *rest;
	bool v6;
	size_t n = word(&c, &s);
	if (n == 0 || n >= sizeof(text) || word(&c, &rest) != 0)
		return refuse(why, whylen, "not an %s address", fam);
	memcpy(text, s, n);
	text[n] = '\0';
	int rc = prism_ip_canon(text, canon, &v6, &reason);
	if (rc == PRISM_EMSG && v6 && af == AF_INET6)
		return refuse(why, whylen, "%s", reason); /* IPv6, but refused by DNS servers */
	if (rc != 0 || v6 != (af == AF_INET6))
		return refuse(why, whylen, "not an %s address", fam);
	puts_(o, canon);
	return 0;
}

int prism_rr_content(const char *type, const char *in, const char *zone, char *out, size_t outlen,
		     char *why, size_t whylen)
{
	static const char *const mx[] = {"MX priority", "MX exchange"};
	static const char *const srv[] = {"SRV priority", "SRV weight", "SRV port", "SRV target"};
	static const char *const one[] = {"target name"};
	if (type == NULL || in == NULL || zone == NULL || out == NULL || outlen == 0 ||
	    zone[0] == '\0' || zone[strlen(zone) - 1] != '.')
		return PRISM_EINVAL;
	if (strlen(in) >= PRISM_RR_CONTENT_MAX)
		return refuse(why, whylen, "content longer than %u bytes",
			      PRISM_RR_CONTENT_MAX - 1);
	if (strchr(in, '\n') != NULL || strchr(in, '\r') != NULL)
		return refuse(why, whylen, "line break in the content");
	struct outbuf o = {out, 0, outlen, false};
	out[0] = '\0';
	int rc;
	if (strcmp(type, "A") == 0)
		rc = content_addr(AF_INET, in, &o, why, whylen);
	else if (strcmp(type, "AAAA") == 0)
		rc = content_addr(AF_INET6, in, &o, why, whylen);
	else if (strcmp(type, "CNAME") == 0 || strcmp(type, "NS") == 0 || strcmp(type, "PTR") == 0)
		rc = content_nums_name(in, 0, one, zone, &o, why, whylen);
	else if (strcmp(type, "MX") == 0)
		rc = content_nums_name(in, 1, mx, zone, &o, why, whylen);
	else if (strcmp(type, "SRV") == 0)
		rc = content_nums_name(in, 3, srv, zone, &o, why, whylen);
	else if (strcmp(type, "TXT") == 0)
		rc = content_txt(in, &o, why, whylen);
	else if (strcmp(type, "CAA") == 0)
		rc = content_caa(in, &o, why, whylen);
	else
		return refuse(why, whylen, "type %s is not supported", type);
	if (rc == 0 && o.full)
		return PRISM_ETOOBIG;
	return rc;
}

int prism_rr_line(const char *line, const char *zone, uint32_t default_ttl,
		  struct prism_rr_line *out, char *why, size_t whylen)
{
	if (line == NULL || zone == NULL || out == NULL)
		return PRISM_EINVAL;
	struct cursor c = {line};
	const char *s;
	size_t n = word(&c, &s);
	char name[PRISM_DNAME_MAX + 1];
	if (n == 0 || n > PRISM_DNAME_MAX)
		return refuse(why, whylen, "name: missing");
	memcpy(name, s, n);
	name[n] = '\0';
	int rc = prism_rr_owner(name, zone, out->name, sizeof(out->name), why, whylen);
	if (rc != 0)
		return rc;
	n = word(&c, &s);
	unsigned long ttl = default_ttl;
	if (n > 0 && isdigit((unsigned char)s[0])) {
		if (!number(s, n, PRISM_RR_TTL_MAX, &ttl))
			return refuse(why, whylen, "ttl: must be a number up to %u",
				      PRISM_RR_TTL_MAX);
		n = word(&c, &s);
	}
	if (n == 0 || n >= sizeof(out->type))
		return refuse(why, whylen, "type: missing");
	for (size_t i = 0; i < n; i++)
		out->type[i] = (char)toupper((unsigned char)s[i]);
	out->type[n] = '\0';
	if (!prism_rr_type_supported(out->type))
		return refuse(why, whylen, "type: %s is not supported", out->type);
	out->ttl = (uint32_t)ttl;
	skip_blanks(&c);
	char tmp[PRISM_RR_WHY_MAX];
	rc = prism_rr_content(out->type, c.p, zone, out->content, sizeof(out->content), tmp,
			      sizeof(tmp));
	if (rc == PRISM_EMSG)
		return refuse(why, whylen, "content: %s", tmp);
	return rc;
}
