/* SPDX-License-Identifier: MIT */
/*
 * PowerDNS HTTP API JSON mapping. Bodies are written directly (core/jw.h) into a buffer
 * from malloc(), so callers always release them with free(); answers are read with jansson,
 * a zone's RRsets first by an in-place scanner that leaves anything unusual to jansson.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/jw.h"
#include "core/pdns_json.h"

#define NAME_MAX_LEN  254u /* presentation form with trailing dot */
#define LABEL_MAX_LEN 63u
#define TYPE_MAX_LEN  16u
#define FALLBACK_MAX  200u /* bytes of a non-JSON error body kept */

/*
 * A name we are willing to send: 1–254 printable ASCII characters without spaces, ending in a
 * dot, no empty label (except the root "."), labels of at most 63 characters. PowerDNS does
 * the full validation; this only keeps obvious garbage out of the request.
 */
static bool name_ok(const char *name)
{
	size_t len, label = 0;

	if (name == NULL)
		return false;
	len = strlen(name);
	if (len == 0 || len > NAME_MAX_LEN || name[len - 1] != '.')
		return false;
	if (len == 1)
		return true;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f)
			return false;
		if (c != '.') {
			if (++label > LABEL_MAX_LEN)
				return false;
			continue;
		}
		if (label == 0)
			return false;
		label = 0;
	}
	return true;
}

/* "A", "AAAA", "TYPE65534": upper-case letters and digits. */
static bool type_ok(const char *type)
{
	size_t len;

	if (type == NULL)
		return false;
	len = strlen(type);
	if (len == 0 || len > TYPE_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = type[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* Length of the UTF-8 sequence starting at s (at most len bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
	size_t n;
	unsigned int cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

static bool change_ok(const struct prism_rr_change *c)
{
	if (!name_ok(c->name) || !type_ok(c->type))
		return false;
	if (c->nrecords == 0)
		return true;
	if (c->records == NULL)
		return false;
	for (size_t i = 0; i < c->nrecords; i++)
		if (c->records[i] == NULL || !utf8_ok(c->records[i]))
			return false;
	return true;
}

/* Not built as a jansson tree: a bulk sync sends thousands of RRsets per request and the
 * tree cost a tenth of the push time. */
static void write_rrset(struct jw *w, const struct prism_rr_change *c, const char *account,
			const char *comment)
{
	jw_obj(w);
	jw_kstr(w, "name", c->name);
	jw_kstr(w, "type", c->type);
	if (c->nrecords == 0) {
		jw_kstr(w, "changetype", "DELETE");
		jw_end_obj(w);
		return;
	}
	jw_kint(w, "ttl", c->ttl);
	jw_kstr(w, "changetype", "REPLACE");
	jw_key(w, "records");
	jw_arr(w);
	for (size_t r = 0; r < c->nrecords; r++) {
		jw_obj(w);
		jw_kstr(w, "content", c->records[r]);
		jw_kbool(w, "disabled", false);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	if (c->keep_mark) {
		jw_end_obj(w); /* without "comments", PowerDNS keeps the mark the RRset has */
		return;
	}
	jw_key(w, "comments");
	jw_arr(w);
	jw_obj(w);
	jw_kstr(w, "content", comment);
	jw_kstr(w, "account", account);
	jw_end_obj(w);
	jw_end_arr(w);
	jw_end_obj(w);
}

int prism_pdns_patch_body(const struct prism_rr_change *changes, size_t n, const char *account,
			  const char *comment, char **body, size_t *len)
{
	if (changes == NULL || n == 0 || account == NULL || comment == NULL || body == NULL)
		return PRISM_EINVAL;
	if (!utf8_ok(account) || !utf8_ok(comment))
		return PRISM_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!change_ok(&changes[i]))
			return PRISM_EINVAL;
	struct jw w = {0};
	jw_obj(&w);
	jw_key(&w, "rrsets");
	jw_arr(&w);
	/* every DELETE before every REPLACE: PowerDNS rejects a type change otherwise */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++)
			if ((changes[i].nrecords == 0) == (pass == 0))
				write_rrset(&w, &changes[i], account, comment);
	jw_end_arr(&w);
	jw_end_obj(&w);
	const char *text = jw_text(&w);
	if (text == NULL) {
		jw_free(&w);
		return PRISM_ENOMEM;
	}
	/* the buffer becomes the body: it is NUL-terminated and owned by the caller now */
	*body = w.buf;
	if (len != NULL)
		*len = w.len;
	return 0;
}

int prism_pdns_zone_create_body(const char *zone, const char *const *nameservers, char **body,
				size_t *len)
{
	return prism_pdns_zone_create_body_soa(zone, nameservers, NULL, 0, body, len);
}

int prism_pdns_zone_create_body_soa(const char *zone, const char *const *nameservers,
				    const char *soa, uint32_t ttl, char **body, size_t *len)
{
	return prism_pdns_zone_create_body_kind(zone, nameservers, soa, ttl, NULL, body, len);
}

int prism_pdns_zone_create_body_kind(const char *zone, const char *const *nameservers,
				     const char *soa, uint32_t ttl, const char *kind, char **body,
				     size_t *len)
{
	return prism_pdns_zone_create_body_rrsets(zone, nameservers, soa, ttl, kind, NULL, 0, NULL,
						  NULL, body, len);
}

/* A zone created with its RRsets (a new target's catch-up) carries as many as a PATCH. */
int prism_pdns_zone_create_body_rrsets(const char *zone, const char *const *nameservers,
				       const char *soa, uint32_t ttl, const char *kind,
				       const struct prism_rr_change *changes, size_t n,
				       const char *account, const char *comment, char **body,
				       size_t *len)
{
	if (kind == NULL)
		kind = "Native";
	if (!name_ok(zone) || nameservers == NULL || nameservers[0] == NULL || body == NULL ||
	    (strcmp(kind, "Native") != 0 && strcmp(kind, "Master") != 0) ||
	    (soa != NULL && !utf8_ok(soa)) || (n > 0 && changes == NULL))
		return PRISM_EINVAL;
	for (size_t i = 0; nameservers[i] != NULL; i++)
		if (!name_ok(nameservers[i]))
			return PRISM_EINVAL;
	if (n > 0 &&
	    (account == NULL || comment == NULL || !utf8_ok(account) || !utf8_ok(comment)))
		return PRISM_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!change_ok(&changes[i]))
			return PRISM_EINVAL;
	bool has_soa = soa != NULL && soa[0] != '\0';
	size_t nrr = 0;
	for (size_t i = 0; i < n; i++)
		nrr += changes[i].nrecords > 0;

	struct jw w = {0};
	jw_obj(&w);
	jw_kstr(&w, "name", zone);
	jw_kstr(&w, "kind", kind);
	jw_key(&w, "nameservers");
	jw_arr(&w);
	for (size_t i = 0; nameservers[i] != NULL; i++)
		jw_str(&w, nameservers[i]);
	jw_end_arr(&w);
	jw_kstr(&w, "soa_edit_api", "DEFAULT");
	jw_kbool(&w, "api_rectify", false);
	if (has_soa || nrr > 0) {
		jw_key(&w, "rrsets");
		jw_arr(&w);
		if (has_soa) {
			/* the operator's SOA instead of the server's default-soa-content */
			jw_obj(&w);
			jw_kstr(&w, "name", zone);
			jw_kstr(&w, "type", "SOA");
			jw_kint(&w, "ttl", ttl ? ttl : 3600);
			jw_key(&w, "records");
			jw_arr(&w);
			jw_obj(&w);
			jw_kstr(&w, "content", soa);
			jw_kbool(&w, "disabled", false);
			jw_end_obj(&w);
			jw_end_arr(&w);
			jw_end_obj(&w);
		}
		/* a deletion has nothing to delete in a zone not yet there */
		for (size_t i = 0; i < n; i++)
			if (changes[i].nrecords > 0) {
				struct prism_rr_change c = changes[i];
				c.keep_mark = false; /* a new RRset: it gets the mark */
				write_rrset(&w, &c, account, comment);
			}
		jw_end_arr(&w);
	}
	jw_end_obj(&w);
	if (jw_text(&w) == NULL) {
		jw_free(&w);
		return PRISM_ENOMEM;
	}
	*body = w.buf;
	if (len != NULL)
		*len = w.len;
	return 0;
}

/*
 * Copy a message that is valid UTF-8 (from jansson): control characters become spaces, and
 * truncation never splits a multi-byte sequence.
 */
static void copy_utf8(const char *s, size_t len, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq(p + i, len - i);

		if (n > 1) {
			if (o + n > outlen - 1)
				break;
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
			continue;
		}
		if (o + 1 > outlen - 1)
			break;
		/* n == 0 cannot happen with jansson's strings; degrade to '?' anyway */
		if (n == 0 || p[i] >= 0x7f)
			out[o++] = '?';
		else
			out[o++] = p[i] < 0x20 ? ' ' : (char)p[i];
		i++;
	}
	out[o] = '\0';
}

/* First FALLBACK_MAX bytes of an arbitrary body, printable ASCII only, trailing blanks cut. */
static void copy_printable(const char *s, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	if (len > FALLBACK_MAX)
		len = FALLBACK_MAX;
	for (size_t i = 0; i < len && o < outlen - 1; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n' || c == '\r' || c == '\t')
			out[o++] = ' ';
		else
			out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

void prism_pdns_error_message(const char *body, size_t len, char *out, size_t outlen)
{
	json_t *root, *msg;

	if (out == NULL || outlen == 0)
		return;
	out[0] = '\0';
	if (body == NULL || len == 0)
		return;

	root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	msg = json_is_object(root) ? json_object_get(root, "error") : NULL;
	if (json_is_string(msg))
		copy_utf8(json_string_value(msg), json_string_length(msg), out, outlen);
	else
		copy_printable(body, len, out, outlen);
	json_decref(root);
}

/* ---- reading a zone ---- */

void prism_actual_zone_free(struct prism_actual_zone *z)
{
	if (z == NULL)
		return;
	for (size_t i = 0; i < z->n; i++) {
		free(z->v[i].name);
		free(z->v[i].type);
	}
	free(z->v);
	z->v = NULL;
	z->n = 0;
}

static bool owned_by(json_t *comments, const char *account)
{
	size_t i;
	json_t *c;
	json_array_foreach(comments, i, c)
	{
		const char *a = json_string_value(json_object_get(c, "account"));
		if (a != NULL && strcmp(a, account) == 0)
			return true;
	}
	return false;
}

/* @p out from an RRset's parts (both readers of a zone end here): its name lower-cased, its
 * hash over the @p n enabled @p contents. PRISM_ENOMEM leaves what was copied to the free. */
static int rrset_fill(struct prism_actual_rrset *out, const char *name, const char *type,
		      uint32_t ttl, const char **contents, size_t n, bool owned)
{
	out->name = strdup(name);
	out->type = strdup(type);
	if (out->name == NULL || out->type == NULL)
		return PRISM_ENOMEM;
	for (char *p = out->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	out->ttl = ttl;
	struct prism_rr_change rc = {out->name, out->type, ttl, contents, n};
	out->hash = prism_rrset_hash(&rc);
	out->owned = owned;
	return 0;
}

/* One rrset object into @p out; records that are disabled count as absent. */
static int parse_rrset(json_t *rr, const char *account, struct prism_actual_rrset *out)
{
	const char *name = json_string_value(json_object_get(rr, "name"));
	const char *type = json_string_value(json_object_get(rr, "type"));
	json_t *ttl = json_object_get(rr, "ttl");
	json_t *records = json_object_get(rr, "records");
	if (name == NULL || type == NULL || !json_is_integer(ttl) || !json_is_array(records) ||
	    json_integer_value(ttl) < 0 || json_integer_value(ttl) > UINT32_MAX)
		return PRISM_EPROTO;
	size_t n = json_array_size(records), k = 0;
	const char **contents = calloc(n ? n : 1, sizeof(*contents));
	if (contents == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(records, i);
		const char *content = json_string_value(json_object_get(r, "content"));
		if (content == NULL) {
			free(contents);
			return PRISM_EPROTO;
		}
		if (!json_is_true(json_object_get(r, "disabled")))
			contents[k++] = content;
	}
	int rc = rrset_fill(out, name, type, (uint32_t)json_integer_value(ttl), contents, k,
			    owned_by(json_object_get(rr, "comments"), account));
	free(contents);
	return rc;
}

int prism_pdns_zone_parse_reference(const char *body, size_t len, const char *account,
				    struct prism_actual_zone *out)
{
	if (body == NULL || account == NULL || out == NULL)
		return PRISM_EINVAL;
	out->v = NULL;
	out->n = 0;
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *rrsets = json_object_get(root, "rrsets");
	if (!json_is_array(rrsets)) {
		json_decref(root);
		return PRISM_EPROTO;
	}
	size_t n = json_array_size(rrsets);
	out->v = calloc(n ? n : 1, sizeof(*out->v));
	int rc = out->v ? 0 : PRISM_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = parse_rrset(json_array_get(rrsets, i), account, &out->v[out->n]);
		out->n++; /* a half-filled entry is freed below like the others */
	}
	json_decref(root);
	if (rc != 0)
		prism_actual_zone_free(out);
	return rc;
}

/*
 * The fast path of prism_pdns_zone_parse(). Building jansson's tree of a zone answer (a
 * hash table per object, an allocation per value) was most of reading a zone, so the body
 * is scanned in place instead: every byte is checked as jansson checks it, the values Prism
 * needs are copied out and everything else is stepped over. Whatever this scanner is not
 * sure of jansson's verdict on (a \u escape, a real or long number, a key read twice, deep
 * nesting, a value of an unexpected type, trailing data, any error) makes it give up; the
 * reference then parses the whole body and decides, errors included. Both give the same
 * result for every input: the pdns_json fuzz target compares them.
 */

#define SKIP_DEPTH  16 /* nesting stepped over in place; jansson takes the deeper (to 2048) */
#define SKIP_DIGITS 18 /* an integer this long fits json_int_t: jansson cannot overflow */

struct zscan {
	const unsigned char *p, *end; /* the cursor in the body */
	char *buf;		      /* the current RRset's strings, decoded, NUL-terminated */
	size_t blen, bcap;
	const char **rec; /* its enabled contents, pointing into buf */
	size_t nrec, rcap;
	const char *account;
};

static void zs_ws(struct zscan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static bool zs_at(const struct zscan *s, unsigned char c)
{
	return s->p < s->end && *s->p == c;
}

static bool zs_word(struct zscan *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	s->p += n;
	return true;
}

/* The character an escape stands for, 0 for \u (left to jansson) and invalid ones. */
static char unescape(unsigned char c)
{
	switch (c) {
	case '"':
	case '\\':
	case '/': return (char)c;
	case 'b': return '\b';
	case 'f': return '\f';
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	}
	return 0;
}

/* A string at the cursor, as jansson takes it: well-formed UTF-8, no control character, no
 * escape but the simple ones. Its raw bytes are [*raw, *raw + *n); *esc: it has escapes. */
static bool zs_string(struct zscan *s, const unsigned char **raw, size_t *n, bool *esc)
{
	if (!zs_at(s, '"'))
		return false;
	const unsigned char *p = ++s->p;
	*esc = false;
	for (;;) {
		while (p < s->end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p == s->end || *p < 0x20)
			return false;
		if (*p == '"')
			break;
		if (*p == '\\') {
			if (s->end - p < 2 || unescape(p[1]) == 0)
				return false;
			*esc = true;
			p += 2;
			continue;
		}
		size_t k = utf8_seq(p, (size_t)(s->end - p));
		if (k == 0)
			return false;
		p += k;
	}
	*raw = s->p;
	*n = (size_t)(p - s->p);
	s->p = p + 1;
	return true;
}

/* The string at the cursor decoded into buf; NULL when it is not a string (or, which cannot
 * happen, buf is full: a decoded string is no longer than its raw bytes and their quote,
 * and the strings of an RRset are distinct parts of the body, which buf is as large as). */
static const char *zs_take(struct zscan *s)
{
	const unsigned char *raw;
	size_t n;
	bool esc;

	if (!zs_string(s, &raw, &n, &esc) || n + 1 > s->bcap - s->blen)
		return NULL;
	char *d = s->buf + s->blen, *o = d;
	if (!esc) {
		memcpy(o, raw, n);
		o += n;
	} else {
		for (size_t i = 0; i < n; i++)
			*o++ = raw[i] == '\\' ? unescape(raw[++i]) : (char)raw[i];
	}
	*o++ = '\0';
	s->blen = (size_t)(o - s->buf);
	return d;
}

/* A JSON integer jansson surely reads as one: -?(0|[1-9][0-9]*), at most SKIP_DIGITS digits.
 * A real gives up: jansson may refuse it (overflow), and it is never a valid TTL. */
static bool zs_number(struct zscan *s, int64_t *v)
{
	const unsigned char *p = s->p, *d;
	bool minus = zs_at(s, '-');
	int64_t x = 0;

	p += minus;
	d = p;
	while (p < s->end && *p >= '0' && *p <= '9') {
		if (p - d == SKIP_DIGITS)
			return false;
		x = x * 10 + (*p++ - '0');
	}
	if (p == d || (*d == '0' && p - d > 1) ||
	    (p < s->end && (*p == '.' || *p == 'e' || *p == 'E')))
		return false;
	s->p = p;
	if (v != NULL)
		*v = minus ? -x : x;
	return true;
}

/*
 * Before the next item of an object or array whose opening was taken (@p close: '}' or
 * ']'; *first true before the first item): 1 when there is one, the cursor on it, 0 after
 * the closing, -1 to give up (a missing comma, a comma before the closing).
 */
static int zs_next(struct zscan *s, unsigned char close, bool *first)
{
	zs_ws(s);
	if (zs_at(s, close)) {
		s->p++;
		return 0;
	}
	if (!*first) {
		if (!zs_at(s, ','))
			return -1;
		s->p++;
		zs_ws(s);
	}
	*first = false;
	return 1;
}

/*
 * The next member of an object, as zs_next(), with the cursor on its value and in *k the
 * index of its key in the NULL-terminated @p keys (-1: none of them). A key of @p keys seen
 * before (@p seen) gives up: jansson keeps the last value, this scanner would have used the
 * first. An escaped key is never one of them: only a \u could spell a letter.
 */
static int zs_member(struct zscan *s, bool *first, const char *const *keys, unsigned *seen, int *k)
{
	const unsigned char *key;
	size_t n;
	bool esc;
	int r = zs_next(s, '}', first);

	if (r != 1)
		return r;
	if (!zs_string(s, &key, &n, &esc))
		return -1;
	zs_ws(s);
	if (!zs_at(s, ':'))
		return -1;
	s->p++;
	zs_ws(s);
	*k = -1;
	for (int i = 0; keys != NULL && keys[i] != NULL; i++) {
		size_t j = 0; /* no strlen per key: a raw key holds no NUL */
		while (j < n && keys[i][j] == (char)key[j])
			j++;
		if (j < n || keys[i][j] != '\0')
			continue;
		if (*seen & (1u << i))
			return -1;
		*seen |= 1u << i;
		*k = i;
		break;
	}
	return 1;
}

/* Step over the value at the cursor, checked as jansson would check it. */
static bool zs_skip(struct zscan *s, int depth)
{
	const unsigned char *raw;
	size_t n;
	bool esc, first = true;
	unsigned seen = 0;
	int r, k;

	if (s->p == s->end)
		return false;
	switch (*s->p) {
	case '"': return zs_string(s, &raw, &n, &esc);
	case 't': return zs_word(s, "true");
	case 'f': return zs_word(s, "false");
	case 'n': return zs_word(s, "null");
	case '{':
		if (depth == 0)
			return false;
		s->p++;
		while ((r = zs_member(s, &first, NULL, &seen, &k)) == 1)
			if (!zs_skip(s, depth - 1))
				return false;
		return r == 0;
	case '[':
		if (depth == 0)
			return false;
		s->p++;
		while ((r = zs_next(s, ']', &first)) == 1)
			if (!zs_skip(s, depth - 1))
				return false;
		return r == 0;
	}
	return zs_number(s, NULL);
}

static const char *const record_keys[] = {"content", "disabled", NULL};

/* One record: an object with a string "content", which joins the RRset's contents unless
 * "disabled" is true (any other value of it, as json_is_true, means enabled). */
static bool zs_record(struct zscan *s)
{
	const char *content = NULL;
	bool first = true, disabled = false;
	unsigned seen = 0;
	int r, k;

	if (!zs_at(s, '{'))
		return false;
	s->p++;
	while ((r = zs_member(s, &first, record_keys, &seen, &k)) == 1) {
		if (k == 0) {
			if ((content = zs_take(s)) == NULL)
				return false;
		} else if (k == 1 && zs_at(s, 't')) {
			if (!zs_word(s, "true"))
				return false;
			disabled = true;
		} else if (!zs_skip(s, SKIP_DEPTH)) {
			return false;
		}
	}
	if (r != 0 || content == NULL)
		return false;
	if (disabled)
		return true;
	if (s->nrec == s->rcap) {
		size_t cap = s->rcap ? s->rcap * 2 : 16;
		const char **rec = realloc(s->rec, cap * sizeof(*rec));
		if (rec == NULL)
			return false;
		s->rec = rec;
		s->rcap = cap;
	}
	s->rec[s->nrec++] = content;
	return true;
}

static bool zs_records(struct zscan *s)
{
	bool first = true;
	int r;

	if (!zs_at(s, '['))
		return false;
	s->p++;
	while ((r = zs_next(s, ']', &first)) == 1)
		if (!zs_record(s))
			return false;
	return r == 0;
}

static const char *const comment_keys[] = {"account", NULL};

/* Owned when a comment is an object whose "account" is the string @p s->account. Anything
 * else is no mark, as in owned_by(): a "comments" that is no array, an item that is no
 * object, an account that is no string. */
static bool zs_comments(struct zscan *s, bool *owned)
{
	bool first = true;
	int r;

	if (!zs_at(s, '['))
		return zs_skip(s, SKIP_DEPTH);
	s->p++;
	while ((r = zs_next(s, ']', &first)) == 1) {
		bool cfirst = true;
		unsigned seen = 0;
		int cr, k;

		if (!zs_at(s, '{')) {
			if (!zs_skip(s, SKIP_DEPTH))
				return false;
			continue;
		}
		s->p++;
		while ((cr = zs_member(s, &cfirst, comment_keys, &seen, &k)) == 1) {
			if (k == 0 && zs_at(s, '"')) {
				size_t mark = s->blen; /* compared, then forgotten */
				const char *a = zs_take(s);
				if (a == NULL)
					return false;
				*owned |= strcmp(a, s->account) == 0;
				s->blen = mark;
			} else if (!zs_skip(s, SKIP_DEPTH)) {
				return false;
			}
		}
		if (cr != 0)
			return false;
	}
	return r == 0;
}

enum { RR_NAME, RR_TYPE, RR_TTL, RR_RECORDS, RR_COMMENTS };
static const char *const rrset_keys[] = {"name", "type", "ttl", "records", "comments", NULL};
#define RR_NEEDED ((1u << RR_NAME) | (1u << RR_TYPE) | (1u << RR_TTL) | (1u << RR_RECORDS))

/* One RRset object appended to @p out (*cap entries allocated), as parse_rrset() does. */
static bool zs_rrset(struct zscan *s, struct prism_actual_zone *out, size_t *cap)
{
	const char *name = NULL, *type = NULL;
	int64_t ttl = -1;
	bool first = true, owned = false, ok;
	unsigned seen = 0;
	int r, k;

	if (!zs_at(s, '{'))
		return false;
	s->p++;
	s->blen = 0; /* the previous RRset's strings are done with */
	s->nrec = 0;
	while ((r = zs_member(s, &first, rrset_keys, &seen, &k)) == 1) {
		switch (k) {
		case RR_NAME: ok = (name = zs_take(s)) != NULL; break;
		case RR_TYPE: ok = (type = zs_take(s)) != NULL; break;
		case RR_TTL: ok = zs_number(s, &ttl) && ttl >= 0 && ttl <= UINT32_MAX; break;
		case RR_RECORDS: ok = zs_records(s); break;
		case RR_COMMENTS: ok = zs_comments(s, &owned); break;
		default: ok = zs_skip(s, SKIP_DEPTH);
		}
		if (!ok)
			return false;
	}
	if (r != 0 || (seen & RR_NEEDED) != RR_NEEDED)
		return false;
	if (out->n == *cap) {
		size_t c = *cap * 2;
		struct prism_actual_rrset *v = realloc(out->v, c * sizeof(*v));
		if (v == NULL)
			return false;
		out->v = v;
		*cap = c;
	}
	struct prism_actual_rrset *rr = &out->v[out->n++]; /* freed like the others on failure */
	*rr = (struct prism_actual_rrset){0};
	return rrset_fill(rr, name, type, (uint32_t)ttl, s->rec, s->nrec, owned) == 0;
}

static bool zs_rrsets(struct zscan *s, struct prism_actual_zone *out)
{
	size_t cap = 16;
	bool first = true;
	int r;

	if (!zs_at(s, '['))
		return false;
	s->p++;
	if ((out->v = malloc(cap * sizeof(*out->v))) == NULL)
		return false;
	while ((r = zs_next(s, ']', &first)) == 1)
		if (!zs_rrset(s, out, &cap))
			return false;
	return r == 0;
}

static const char *const zone_keys[] = {"rrsets", NULL};

/* The whole body: one object with an "rrsets" array, nothing after it but blanks. */
static bool zs_zone(struct zscan *s, struct prism_actual_zone *out)
{
	bool first = true;
	unsigned seen = 0;
	int r, k;

	zs_ws(s);
	if (!zs_at(s, '{'))
		return false;
	s->p++;
	while ((r = zs_member(s, &first, zone_keys, &seen, &k)) == 1)
		if (k == 0 ? !zs_rrsets(s, out) : !zs_skip(s, SKIP_DEPTH))
			return false;
	if (r != 0 || seen == 0)
		return false;
	zs_ws(s);
	return s->p == s->end;
}

int prism_pdns_zone_parse(const char *body, size_t len, const char *account,
			  struct prism_actual_zone *out)
{
	if (body == NULL || account == NULL || out == NULL)
		return PRISM_EINVAL;
	out->v = NULL;
	out->n = 0;
	/* one buffer for the strings of any RRset: they cannot outgrow the body */
	struct zscan s = {
		.p = (const unsigned char *)body,
		.end = (const unsigned char *)body + len,
		.buf = malloc(len + 1),
		.bcap = len + 1,
		.account = account,
	};
	bool ok = s.buf != NULL && zs_zone(&s, out);
	free(s.buf);
	free(s.rec);
	if (ok)
		return 0;
	prism_actual_zone_free(out);
	return prism_pdns_zone_parse_reference(body, len, account, out);
}

/* A decimal string (or a JSON integer) that fits 64 bits. */
static bool stat_value(json_t *v, uint64_t *out)
{
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		*out = (uint64_t)json_integer_value(v);
		return true;
	}
	const char *s = json_string_value(v);
	if (s == NULL || *s == '\0' || strlen(s) > 19)
		return false;
	uint64_t n = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return true;
}

int prism_pdns_stats_parse(const char *body, size_t len, struct prism_pdns_stats *out)
{
	if (body == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	json_t *root = json_loadb(body, len, 0, NULL);
	if (!json_is_array(root)) {
		json_decref(root);
		return PRISM_EMSG;
	}
	size_t i;
	json_t *item;
	json_array_foreach(root, i, item)
	{
		const char *name = json_string_value(json_object_get(item, "name"));
		uint64_t v;
		if (name == NULL || !stat_value(json_object_get(item, "value"), &v))
			continue;
		if (strcmp(name, "uptime") == 0) {
			out->uptime = v;
			out->has_uptime = true;
		} else if (strcmp(name, "udp-queries") == 0 || strcmp(name, "tcp-queries") == 0) {
			/* both families each (udp4-/udp6-queries are parts of them) */
			out->queries += v;
			out->has_queries = true;
		} else if (strcmp(name, "packetcache-hit") == 0) {
			out->cache_hits = v;
			out->has_cache = true;
		} else if (strcmp(name, "packetcache-miss") == 0) {
			out->cache_misses = v;
			out->has_cache = true;
		} else if (strcmp(name, "latency") == 0) {
			out->latency_us = v;
			out->has_latency = true;
		}
	}
	json_decref(root);
	return 0;
}

/* The setting @p name of a config answer, or NULL. */
static const char *config_value(json_t *root, const char *name)
{
	size_t i;
	json_t *item;
	json_array_foreach(root, i, item)
	{
		const char *n = json_string_value(json_object_get(item, "name"));
		if (n != NULL && strcmp(n, name) == 0)
			return json_string_value(json_object_get(item, "value"));
	}
	return NULL;
}

/* The host of an http(s) URL, brackets of an IPv6 literal removed; false when none fits. */
static bool url_host(const char *url, char *host, size_t len)
{
	const char *p = url ? strstr(url, "://") : NULL;
	if (p == NULL)
		return false;
	p += 3;
	size_t n;
	if (*p == '[') {
		const char *e = strchr(++p, ']');
		if (e == NULL)
			return false;
		n = (size_t)(e - p);
	} else {
		n = strcspn(p, ":/?#");
	}
	if (n == 0 || n >= len)
		return false;
	memcpy(host, p, n);
	host[n] = '\0';
	return true;
}

static int addr_family(const char *ip)
{
	unsigned char buf[16];
	if (inet_pton(AF_INET, ip, buf) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, ip, buf) == 1)
		return AF_INET6;
	return 0;
}

/* Split the first entry of local-address ("127.0.0.1", "127.0.0.1:5300", "[::1]:5300",
 * "::1", entries separated by commas or spaces) into @p ip and a port (0: none given). */
static bool first_address(const char *v, char ip[64], unsigned *port)
{
	v += strspn(v, ", \t");
	size_t n = strcspn(v, ", \t");
	char e[64];
	if (n == 0 || n >= sizeof(e))
		return false;
	memcpy(e, v, n);
	e[n] = '\0';
	*port = 0;
	char *colon = strrchr(e, ':');
	if (e[0] == '[') {
		char *close = strchr(e, ']');
		if (close == NULL)
			return false;
		*close = '\0';
		if (close[1] == ':')
			*port = (unsigned)strtoul(close + 2, NULL, 10);
		snprintf(ip, 64, "%s", e + 1);
	} else if (colon != NULL && strchr(e, ':') == colon) {
		*colon = '\0'; /* one colon: IPv4 with a port */
		*port = (unsigned)strtoul(colon + 1, NULL, 10);
		snprintf(ip, 64, "%s", e);
	} else {
		snprintf(ip, 64, "%s", e);
	}
	return addr_family(ip) != 0 && *port < 65536;
}

int prism_pdns_dns_address(const char *body, size_t len, const char *api_url, char *out,
			   size_t outlen)
{
	if (body == NULL || out == NULL || outlen < 48)
		return PRISM_EINVAL;
	out[0] = '\0';
	json_t *root = json_loadb(body, len, 0, NULL);
	if (!json_is_array(root)) {
		json_decref(root);
		return PRISM_EMSG;
	}
	const char *la = config_value(root, "local-address");
	const char *lp = config_value(root, "local-port");
	char ip[64];
	unsigned port = 0;
	int rc = 0;
	if (!first_address(la ? la : "0.0.0.0", ip, &port))
		rc = PRISM_ENOTFOUND;
	if (rc == 0 && port == 0) {
		char *end = NULL;
		unsigned long p = lp ? strtoul(lp, &end, 10) : 53;
		port = lp && (end == lp || *end != '\0' || p == 0 || p > 65535) ? 0 : (unsigned)p;
		if (port == 0)
			rc = PRISM_ENOTFOUND;
	}
	if (rc == 0 && (strcmp(ip, "0.0.0.0") == 0 || strcmp(ip, "::") == 0)) {
		char host[64];
		if (!url_host(api_url, host, sizeof(host)))
			rc = PRISM_ENOTFOUND;
		else if (strcmp(host, "localhost") == 0)
			snprintf(ip, sizeof(ip), "127.0.0.1");
		else if (addr_family(host) != 0)
			snprintf(ip, sizeof(ip), "%s", host);
		else
			rc = PRISM_ENOTFOUND;
	}
	json_decref(root);
	if (rc != 0)
		return rc;
	snprintf(out, outlen, addr_family(ip) == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
	return 0;
}
