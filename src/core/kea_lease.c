/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/kea_lease.h"

__attribute__((format(printf, 3, 4))) static int bad(char *reason, size_t len, const char *fmt,
						     ...)
{
	if (reason != NULL && len > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return PRISM_EMSG;
}

/* The @p i-th comma-separated field of line[0..len): start and length. */
static bool field(const char *line, size_t len, int i, const char **f, size_t *fl)
{
	size_t start = 0;
	for (int k = 0; k < i; k++) {
		const char *c = memchr(line + start, ',', len - start);
		if (c == NULL)
			return false;
		start = (size_t)(c - line) + 1;
	}
	const char *c = memchr(line + start, ',', len - start);
	*f = line + start;
	*fl = (c ? (size_t)(c - line) : len) - start;
	return true;
}

static bool is(const char *f, size_t fl, const char *name)
{
	return fl == strlen(name) && memcmp(f, name, fl) == 0;
}

int prism_kea_csv_header(const char *line, size_t len, struct prism_kea_csv *out, char *reason,
			 size_t reason_len)
{
	if (line == NULL || out == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_kea_csv){-1, -1, -1, -1, -1, 0, false};
	const char *f;
	size_t fl;
	for (int i = 0; i < 64 && field(line, len, i, &f, &fl); i++) {
		if (is(f, fl, "address"))
			out->address = i;
		else if (is(f, fl, "hostname"))
			out->hostname = i;
		else if (is(f, fl, "valid_lifetime"))
			out->valid_lifetime = i;
		else if (is(f, fl, "expire"))
			out->expire = i;
		else if (is(f, fl, "state"))
			out->state = i;
		else if (is(f, fl, "duid") || is(f, fl, "lease_type"))
			out->v6 = true;
		out->columns = i + 1;
	}
	if (out->address != 0 || out->hostname < 0 || out->valid_lifetime < 0 || out->expire < 0)
		return bad(reason, reason_len,
			   "not a Kea lease file header (address, "
			   "valid_lifetime, expire and hostname are needed)");
	return 0;
}

static bool number(const char *f, size_t fl, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (fl == 0 || fl > 20)
		return false;
	for (size_t i = 0; i < fl; i++) {
		if (!isdigit((unsigned char)f[i]))
			return false;
		unsigned d = (unsigned)(f[i] - '0');
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static int take_address(const char *f, size_t fl, struct prism_kea_lease *out, char *reason,
			size_t rl)
{
	char text[64];
	const char *why = "bad address";
	if (fl == 0 || fl >= sizeof(text))
		return bad(reason, rl, "bad address");
	memcpy(text, f, fl);
	text[fl] = '\0';
	if (prism_ip_canon(text, out->address, &out->ipv6, &why) != 0)
		return bad(reason, rl, "%s", strncmp(why, "not ", 4) == 0 ? "bad address" : why);
	return 0;
}

int prism_kea_csv_line(const struct prism_kea_csv *h, const char *line, size_t len,
		       struct prism_kea_lease *out, char *reason, size_t reason_len)
{
	if (h == NULL || line == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	const char *f;
	size_t fl;
	uint64_t v;
	if (!field(line, len, h->address, &f, &fl) ||
	    take_address(f, fl, out, reason, reason_len) != 0)
		return bad(reason, reason_len, "bad address");
	if (!field(line, len, h->valid_lifetime, &f, &fl) || !number(f, fl, UINT32_MAX, &v))
		return bad(reason, reason_len, "bad valid_lifetime");
	out->valid_lifetime = v;
	if (!field(line, len, h->expire, &f, &fl) || !number(f, fl, INT64_MAX, &v))
		return bad(reason, reason_len, "bad expire");
	out->expire = (int64_t)v;
	if (!field(line, len, h->hostname, &f, &fl) || fl >= sizeof(out->hostname) ||
	    memchr(f, '\0', fl) != NULL)
		return bad(reason, reason_len, "bad hostname");
	memcpy(out->hostname, f, fl);
	out->hostname[fl] = '\0';
	if (h->state >= 0) {
		/* older files have no state column: every lease is in the default state */
		if (!field(line, len, h->state, &f, &fl) || !number(f, fl, 255, &v))
			return bad(reason, reason_len, "bad state");
		out->state = (unsigned)v;
	}
	return 0;
}

bool prism_kea_lease_active(const struct prism_kea_lease *l, int64_t now)
{
	return l != NULL && l->hostname[0] != '\0' && l->valid_lifetime > 0 && l->expire > now &&
	       l->state == 0;
}

/* ---- the table: open addressing over the address text ---- */

struct rec {
	char *address; /* NULL: free slot */
	char *hostname;
	uint64_t valid_lifetime;
	int64_t expire;
	unsigned state;
	bool ipv6;
};

struct prism_kea_leases {
	struct rec *v;
	size_t cap; /* power of two */
	size_t n;
};

struct prism_kea_leases *prism_kea_leases_new(void)
{
	struct prism_kea_leases *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->cap = 64;
	t->v = calloc(t->cap, sizeof(*t->v));
	if (t->v == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void prism_kea_leases_free(struct prism_kea_leases *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->cap; i++) {
		free(t->v[i].address);
		free(t->v[i].hostname);
	}
	free(t->v);
	free(t);
}

size_t prism_kea_leases_count(const struct prism_kea_leases *t)
{
	return t ? t->n : 0;
}

static struct rec *slot(const struct prism_kea_leases *t, const char *address)
{
	size_t i = prism_fnv1a_str(PRISM_FNV64_OFFSET, address) & (t->cap - 1);
	while (t->v[i].address != NULL && strcmp(t->v[i].address, address) != 0)
		i = (i + 1) & (t->cap - 1);
	return &t->v[i];
}

static int grow(struct prism_kea_leases *t)
{
	struct prism_kea_leases g = {calloc(t->cap * 2, sizeof(struct rec)), t->cap * 2, t->n};
	if (g.v == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < t->cap; i++)
		if (t->v[i].address != NULL)
			*slot(&g, t->v[i].address) = t->v[i];
	free(t->v);
	*t = g;
	return 0;
}

static void to_lease(const struct rec *r, struct prism_kea_lease *l)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->address, sizeof(l->address), "%s", r->address);
	snprintf(l->hostname, sizeof(l->hostname), "%s", r->hostname ? r->hostname : "");
	l->valid_lifetime = r->valid_lifetime;
	l->expire = r->expire;
	l->state = r->state;
	l->ipv6 = r->ipv6;
}

static bool rec_active(const struct rec *r, int64_t now)
{
	return r->address != NULL && r->hostname != NULL && r->valid_lifetime > 0 &&
	       r->expire > now && r->state == 0;
}

int prism_kea_leases_put(struct prism_kea_leases *t, const struct prism_kea_lease *l, int64_t now,
			 bool *was_active, bool *now_active, bool *renamed)
{
	if (t == NULL || l == NULL)
		return PRISM_EINVAL;
	if ((t->n + 1) * 2 > t->cap && grow(t) != 0)
		return PRISM_ENOMEM;
	struct rec *r = slot(t, l->address);
	char *host = l->hostname[0] ? strdup(l->hostname) : NULL;
	if (l->hostname[0] && host == NULL)
		return PRISM_ENOMEM;
	bool was = rec_active(r, now);
	bool same_name = (r->hostname == NULL && host == NULL) ||
			 (r->hostname != NULL && host != NULL && strcmp(r->hostname, host) == 0);
	if (r->address == NULL) {
		if ((r->address = strdup(l->address)) == NULL) {
			free(host);
			return PRISM_ENOMEM;
		}
		t->n++;
	}
	free(r->hostname);
	r->hostname = host;
	r->valid_lifetime = l->valid_lifetime;
	r->expire = l->expire;
	r->state = l->state;
	r->ipv6 = l->ipv6;
	bool is = rec_active(r, now);
	if (was_active)
		*was_active = was;
	if (now_active)
		*now_active = is;
	if (renamed)
		*renamed = was && is && !same_name;
	return 0;
}

bool prism_kea_leases_get(const struct prism_kea_leases *t, const char *address,
			  struct prism_kea_lease *out)
{
	if (t == NULL || address == NULL)
		return false;
	const struct rec *r = slot(t, address);
	if (r->address == NULL)
		return false;
	if (out != NULL)
		to_lease(r, out);
	return true;
}

void prism_kea_leases_each(const struct prism_kea_leases *t,
			   bool (*cb)(void *arg, const struct prism_kea_lease *l), void *arg)
{
	struct prism_kea_lease l;
	for (size_t i = 0; t != NULL && i < t->cap; i++) {
		if (t->v[i].address == NULL)
			continue;
		to_lease(&t->v[i], &l);
		if (!cb(arg, &l))
			return;
	}
}

int64_t prism_kea_leases_expired(const struct prism_kea_leases *t, int64_t before, int64_t now,
				 void (*cb)(void *arg, const struct prism_kea_lease *l), void *arg)
{
	struct prism_kea_lease l;
	int64_t next = 0;
	for (size_t i = 0; t != NULL && i < t->cap; i++) {
		const struct rec *r = &t->v[i];
		if (rec_active(r, before) && !rec_active(r, now)) {
			to_lease(r, &l);
			cb(arg, &l);
		} else if (rec_active(r, now) && (next == 0 || r->expire < next)) {
			next = r->expire;
		}
	}
	return next;
}
