/* SPDX-License-Identifier: MIT */
/*
 * RFC 2136 UPDATE messages, SOA and AXFR queries, their answers, all signed and checked
 * with TSIG, through ldns (the DNS field's own codec, not ours). See dnsupdate.h for the
 * ownership scheme (companion TXT records and prerequisites).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <ldns/ldns.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dnsupdate.h"
#include "core/error.h"
#include "core/hash.h"

#define FUDGE		 300
#define OWNER_PREFIX	 "_prism-"
#define AXFR_MAX_RECORDS 2000000u

static const char *const algorithms[] = {"hmac-sha1",	"hmac-sha224", "hmac-sha256",
					 "hmac-sha384", "hmac-sha512", NULL};

/* Standard base64 with its padding, at least one block. */
static bool is_base64(const char *s)
{
	size_t n = strlen(s), pad = 0;
	if (n == 0 || n % 4 != 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '=' && i >= n - 2) {
			pad++;
			continue;
		}
		if (pad > 0 || !(isalnum(c) || c == '+' || c == '/'))
			return false;
	}
	return true;
}

int prism_tsig_check(const struct prism_tsig *k, char *why, size_t whylen)
{
	if (k == NULL || k->name == NULL || k->algorithm == NULL || k->secret == NULL) {
		snprintf(why, whylen, "name, algorithm and secret are required");
		return PRISM_ECONFIG;
	}
	bool known = false;
	for (size_t i = 0; algorithms[i] != NULL; i++)
		known |= strcmp(algorithms[i], k->algorithm) == 0;
	if (!known) {
		snprintf(why, whylen,
			 "algorithm must be one of hmac-sha1, hmac-sha224, "
			 "hmac-sha256, hmac-sha384, hmac-sha512");
		return PRISM_ECONFIG;
	}
	ldns_rdf *n = ldns_dname_new_frm_str(k->name);
	if (n == NULL) {
		snprintf(why, whylen, "name is not a DNS name");
		return PRISM_ECONFIG;
	}
	ldns_rdf_deep_free(n);
	if (!is_base64(k->secret)) {
		snprintf(why, whylen, "secret is not base64");
		return PRISM_ECONFIG;
	}
	return 0;
}

void prism_dns_msg_free(struct prism_dns_msg *m)
{
	if (m == NULL)
		return;
	free(m->wire);
	ldns_rdf_deep_free(m->mac);
	m->wire = NULL;
	m->mac = NULL;
	m->len = 0;
}

int prism_owner_name(const char *name, const char *type, char *out, size_t outlen)
{
	if (name == NULL || type == NULL || out == NULL || type[0] == '\0')
		return PRISM_EINVAL;
	size_t tl = strlen(type), nl = strlen(name);
	if (sizeof(OWNER_PREFIX) - 1 + tl > 63)
		return PRISM_ETOOBIG;
	/* the apex "." has no labels of its own */
	bool root = strcmp(name, ".") == 0;
	int n = snprintf(out, outlen, OWNER_PREFIX "%s.%s", type, root ? "" : name);
	if (n < 0 || (size_t)n >= outlen || (size_t)n > 254 || nl > 253)
		return PRISM_ETOOBIG;
	for (char *p = out + sizeof(OWNER_PREFIX) - 1; *p != '.'; p++)
		*p = (char)tolower((unsigned char)*p);
	return 0;
}

static void owner_text(const char *owner_id, char *out, size_t len)
{
	snprintf(out, len, "\"heritage=prism,prism/owner=%s\"", owner_id);
}

/* Room left for the TSIG record: key and algorithm names, a MAC of up to 64 bytes. */
#define TSIG_ROOM 600u

/* ---- UPDATE messages ----
 *
 * Encoded here rather than by ldns: its encoder looks every name up in a tree to compress it,
 * and it encodes a message three times to sign it; 80 % of the time of a 64 KiB UPDATE went
 * there (70 ms for 515 RRsets, against a floor of about 9 ms at BIND). These messages have a
 * known shape, so names are compressed against the zone (the zone section, at offset 12) and
 * against the first copy of the same owner (while it is within the 14-bit pointer range).
 * The TSIG MAC is an HMAC computed with libcrypto (RFC 8945 4.3.3).
 */

#define ZONE_OFFSET 12

struct wbuf {
	uint8_t *p;
	size_t n, cap;
	bool fail;
};

static void wput(struct wbuf *b, const void *d, size_t n)
{
	if (b->fail || n == 0)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 8192;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (p == NULL) {
			b->fail = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void wput16(struct wbuf *b, unsigned v)
{
	uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
	wput(b, x, 2);
}

static void wput32(struct wbuf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
	wput(b, x, 4);
}

/* A name in wire form (lower case, uncompressed); @c prefix bytes come before the zone's
 * labels (its whole length when the name is not in the zone). */
struct wname {
	uint8_t w[256];
	size_t len, prefix;
};

/* Text to wire: plain names here, names with escapes through ldns. */
static bool name_wire(const char *s, struct wname *out)
{
	size_t n = 0;
	if (strchr(s, '\\') != NULL) {
		ldns_rdf *r = ldns_dname_new_frm_str(s);
		if (r == NULL || ldns_rdf_size(r) > 255) {
			ldns_rdf_deep_free(r);
			return false;
		}
		out->len = ldns_rdf_size(r);
		memcpy(out->w, ldns_rdf_data(r), out->len);
		ldns_rdf_deep_free(r);
	} else {
		if (strcmp(s, ".") != 0) {
			for (const char *p = s; *p != '\0';) {
				const char *dot = strchr(p, '.');
				size_t l = dot ? (size_t)(dot - p) : strlen(p);
				if (l == 0 || l > 63 || n + 1 + l > 254)
					return false;
				out->w[n++] = (uint8_t)l;
				memcpy(out->w + n, p, l);
				n += l;
				p += l + (dot != NULL);
			}
		}
		out->w[n++] = 0;
		out->len = n;
	}
	for (size_t i = 0; i < out->len;) { /* lower-case the labels */
		size_t l = out->w[i++];
		for (size_t k = 0; k < l; k++, i++)
			out->w[i] = (uint8_t)tolower(out->w[i]);
	}
	out->prefix = out->len;
	return true;
}

/* Where @p nm's labels reach the zone's, if they do. */
static void name_in_zone(struct wname *nm, const struct wname *zone)
{
	for (size_t i = 0; i < nm->len && nm->w[i] != 0; i += 1u + nm->w[i]) {
		if (nm->len - i == zone->len && memcmp(nm->w + i, zone->w, zone->len) == 0) {
			nm->prefix = i;
			return;
		}
	}
}

/* Write @p nm, compressed; remember where a full copy starts in @p at (0: none yet). */
static void put_name(struct wbuf *b, const struct wname *nm, size_t *at)
{
	if (*at != 0) {
		wput16(b, 0xc000u | (unsigned)*at);
		return;
	}
	size_t off = b->n;
	if (nm->prefix < nm->len) {
		wput(b, nm->w, nm->prefix);
		wput16(b, 0xc000u | ZONE_OFFSET);
	} else {
		wput(b, nm->w, nm->len);
	}
	if (off < 0x4000)
		*at = off;
}

/* One change, parsed once for both sections. */
struct wchange {
	const struct prism_rr_change *c;
	uint16_t type;
	bool owned;
	struct wname name;
	char clabel[64];	 /* "_prism-a" */
	size_t name_at, comp_at; /* offsets of full copies (0: none yet) */
};

static void put_companion(struct wbuf *b, struct wchange *w)
{
	if (w->comp_at != 0) {
		wput16(b, 0xc000u | (unsigned)w->comp_at);
		return;
	}
	size_t off = b->n, l = strlen(w->clabel);
	uint8_t lb = (uint8_t)l;
	wput(b, &lb, 1);
	wput(b, w->clabel, l);
	put_name(b, &w->name, &w->name_at);
	if (off < 0x4000)
		w->comp_at = off;
}

static void put_rr_head(struct wbuf *b, unsigned type, unsigned cls, uint32_t ttl)
{
	wput16(b, type);
	wput16(b, cls);
	wput32(b, ttl);
}

/* The rdata of one record in wire form; A and AAAA directly, others through ldns. */
static bool rdata_wire(uint16_t type, const char *type_name, const char *content, struct wbuf *out)
{
	out->n = 0;
	uint8_t a[16];
	if (type == LDNS_RR_TYPE_A || type == LDNS_RR_TYPE_AAAA) {
		bool v4 = type == LDNS_RR_TYPE_A;
		if (inet_pton(v4 ? AF_INET : AF_INET6, content, a) != 1)
			return false;
		wput(out, a, v4 ? 4 : 16);
		return !out->fail;
	}
	size_t len = strlen(type_name) + strlen(content) + 16;
	char *s = malloc(len);
	if (s == NULL)
		return false;
	snprintf(s, len, ". 0 IN %s %s", type_name, content);
	ldns_rr *rr = NULL;
	ldns_status st = ldns_rr_new_frm_str(&rr, s, 0, NULL, NULL);
	free(s);
	if (st != LDNS_STATUS_OK)
		return false;
	ldns_buffer *lb = ldns_buffer_new(64);
	bool ok = lb != NULL && ldns_rr_rdata2buffer_wire(lb, rr) == LDNS_STATUS_OK;
	if (ok)
		wput(out, ldns_buffer_begin(lb), ldns_buffer_position(lb));
	ldns_buffer_free(lb);
	ldns_rr_free(rr);
	return ok && !out->fail;
}

static void put_rdata(struct wbuf *b, const uint8_t *d, size_t n)
{
	wput16(b, (unsigned)n);
	wput(b, d, n);
}

/* The prerequisites of one change (see dnsupdate.h). */
static void put_prereqs(struct wbuf *b, struct wchange *w, const struct wbuf *txt)
{
	if (w->owned) {
		put_companion(b, w);
		put_rr_head(b, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 0);
		put_rdata(b, txt->p, txt->n);
		return;
	}
	put_name(b, &w->name, &w->name_at);
	put_rr_head(b, w->type, LDNS_RR_CLASS_NONE, 0);
	wput16(b, 0);
	if (w->type != LDNS_RR_TYPE_CNAME) {
		put_name(b, &w->name, &w->name_at);
		put_rr_head(b, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_NONE, 0);
		wput16(b, 0);
	}
}

/* The updates of one change; false when a record is not valid. */
static bool put_updates(struct wbuf *b, struct wchange *w, const struct wbuf *txt, struct wbuf *rd,
			unsigned *count)
{
	const struct prism_rr_change *c = w->c;
	if (w->owned) {
		put_name(b, &w->name, &w->name_at);
		put_rr_head(b, w->type, LDNS_RR_CLASS_ANY, 0);
		wput16(b, 0);
		(*count)++;
	}
	if (c->nrecords == 0) {
		put_companion(b, w);
		put_rr_head(b, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY, 0);
		wput16(b, 0);
		(*count)++;
		return true;
	}
	for (size_t i = 0; i < c->nrecords; i++) {
		if (!rdata_wire(w->type, c->type, c->records[i], rd))
			return false;
		put_name(b, &w->name, &w->name_at);
		put_rr_head(b, w->type, LDNS_RR_CLASS_IN, c->ttl);
		put_rdata(b, rd->p, rd->n);
		(*count)++;
	}
	put_companion(b, w);
	put_rr_head(b, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, c->ttl);
	put_rdata(b, txt->p, txt->n);
	(*count)++;
	return true;
}

static const EVP_MD *tsig_md(const char *alg)
{
	if (strcmp(alg, "hmac-sha1") == 0)
		return EVP_sha1();
	if (strcmp(alg, "hmac-sha224") == 0)
		return EVP_sha224();
	if (strcmp(alg, "hmac-sha256") == 0)
		return EVP_sha256();
	if (strcmp(alg, "hmac-sha384") == 0)
		return EVP_sha384();
	if (strcmp(alg, "hmac-sha512") == 0)
		return EVP_sha512();
	return NULL;
}

/* The secret's bytes (base64 decoded); NULL when it is not base64. */
static unsigned char *key_decode(const char *secret, int *klen)
{
	size_t slen = strlen(secret);
	unsigned char *key = malloc(slen + 4);
	if (key == NULL)
		return NULL;
	*klen = EVP_DecodeBlock(key, (const unsigned char *)secret, (int)slen);
	for (size_t i = slen; *klen > 0 && i > 0 && secret[i - 1] == '='; i--)
		(*klen)--;
	if (*klen <= 0) {
		free(key);
		return NULL;
	}
	return key;
}

static void key_free(unsigned char *key, int klen)
{
	if (key != NULL)
		memset(key, 0, (size_t)klen);
	free(key);
}

/* Sign the message in @p b (RFC 8945 4.3.3) and append its TSIG record. */
static int tsig_append(struct wbuf *b, const struct prism_tsig *k, uint16_t id,
		       struct prism_dns_msg *out)
{
	struct wname kn, an;
	char alg[40];
	snprintf(alg, sizeof(alg), "%s.", k->algorithm);
	const EVP_MD *md = tsig_md(k->algorithm);
	int klen;
	unsigned char *key = key_decode(k->secret, &klen);
	if (md == NULL || key == NULL || !name_wire(k->name, &kn) || !name_wire(alg, &an)) {
		key_free(key, klen);
		return PRISM_EINVAL;
	}
	uint64_t now = (uint64_t)time(NULL);
	size_t msg_len = b->n;
	/* the TSIG variables after the message, for the digest only */
	wput(b, kn.w, kn.len);
	wput16(b, LDNS_RR_CLASS_ANY);
	wput32(b, 0);
	wput(b, an.w, an.len);
	wput16(b, (unsigned)(now >> 32));
	wput32(b, (uint32_t)now);
	wput16(b, FUDGE);
	wput16(b, 0); /* error */
	wput16(b, 0); /* other len */
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	bool ok = !b->fail && HMAC(md, key, klen, b->p, b->n, mac, &maclen) != NULL;
	key_free(key, klen);
	if (!ok)
		return PRISM_ENOMEM;
	b->n = msg_len;
	wput(b, kn.w, kn.len);
	put_rr_head(b, LDNS_RR_TYPE_TSIG, LDNS_RR_CLASS_ANY, 0);
	wput16(b, (unsigned)(an.len + 6 + 2 + 2 + maclen + 2 + 2 + 2));
	wput(b, an.w, an.len);
	wput16(b, (unsigned)(now >> 32));
	wput32(b, (uint32_t)now);
	wput16(b, FUDGE);
	wput16(b, maclen);
	wput(b, mac, maclen);
	wput16(b, id);
	wput16(b, 0);
	wput16(b, 0);
	if (b->fail)
		return PRISM_ENOMEM;
	b->p[10] = 0;
	b->p[11] = 1; /* ARCOUNT: the TSIG */
	uint8_t m[2 + EVP_MAX_MD_SIZE] = {(uint8_t)(maclen >> 8), (uint8_t)maclen};
	memcpy(m + 2, mac, maclen);
	out->mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2 + maclen, m);
	return out->mac != NULL ? 0 : PRISM_ENOMEM;
}

static bool change_parse(const struct prism_rr_change *c, bool owned, const struct wname *zone,
			 struct wchange *w)
{
	w->c = c;
	w->owned = owned;
	w->name_at = w->comp_at = 0;
	w->type = ldns_get_rr_type_by_name(c->type);
	if (w->type == 0 || w->type == LDNS_RR_TYPE_SOA || w->type == LDNS_RR_TYPE_ANY ||
	    w->type == LDNS_RR_TYPE_TSIG || !name_wire(c->name, &w->name))
		return false;
	name_in_zone(&w->name, zone);
	int n = snprintf(w->clabel, sizeof(w->clabel), OWNER_PREFIX "%s", c->type);
	if (n < 0 || (size_t)n > 63 || w->name.prefix == w->name.len ||
	    w->name.len + 1 + (size_t)n > 255)
		return false;
	for (char *p = w->clabel; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return true;
}

/* The changes in the order they are sent: deletions first; deletions of RRsets that are
 * not owned are left out. */
static size_t order(const struct prism_rr_change *ch, const bool *owned, size_t n, size_t *idx)
{
	size_t k = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			bool del = ch[i].nrecords == 0, own = owned != NULL && owned[i];
			if ((pass == 0) == del && !(del && !own))
				idx[k++] = i;
		}
	return k;
}

int prism_update_build(const char *zone, const struct prism_rr_change *ch, const bool *owned,
		       size_t n, const char *owner_id, const struct prism_tsig *k, uint16_t id,
		       struct prism_dns_msg *out, size_t *bad, char *why, size_t whylen)
{
	if (zone == NULL || (ch == NULL && n > 0) || owner_id == NULL || out == NULL ||
	    bad == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_dns_msg){.id = id};
	struct wname zn;
	char text[320];
	owner_text(owner_id, text, sizeof(text));
	size_t tl = strlen(text) - 2; /* the quotes go */
	if (!name_wire(zone, &zn) || tl > 255)
		return PRISM_EINVAL;
	struct wbuf b = {0}, txt = {0}, rd = {0};
	uint8_t tlb = (uint8_t)tl;
	wput(&txt, &tlb, 1);
	wput(&txt, text + 1, tl);
	struct wchange *w = calloc(n ? n : 1, sizeof(*w));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	int rc = PRISM_ENOMEM;
	if (w == NULL || idx == NULL || txt.fail)
		goto done;
	size_t m = order(ch, owned, n, idx);
	for (size_t j = 0; j < m; j++) {
		if (!change_parse(&ch[idx[j]], owned && owned[idx[j]], &zn, &w[j])) {
			*bad = idx[j];
			rc = PRISM_EMSG;
			snprintf(why, whylen, "%s %s: not a valid record for this zone",
				 ch[idx[j]].name, ch[idx[j]].type);
			goto done;
		}
	}
	/* header (UPDATE), zone section */
	uint8_t hdr[12] = {(uint8_t)(id >> 8), (uint8_t)id, LDNS_PACKET_UPDATE << 3, 0, 0, 1};
	wput(&b, hdr, sizeof(hdr));
	wput(&b, zn.w, zn.len);
	put_rr_head(&b, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
	b.n -= 4; /* a question has no TTL */
	for (size_t j = 0; j < m; j++)
		put_prereqs(&b, &w[j], &txt);
	size_t npre = 0;
	for (size_t j = 0; j < m; j++)
		npre += w[j].owned ? 1 : 1 + (w[j].type != LDNS_RR_TYPE_CNAME);
	unsigned nupd = 0;
	for (size_t j = 0; j < m && !b.fail; j++) {
		if (!put_updates(&b, &w[j], &txt, &rd, &nupd)) {
			*bad = idx[j];
			rc = PRISM_EMSG;
			snprintf(why, whylen, "%s %s: not a valid record", w[j].c->name,
				 w[j].c->type);
			goto done;
		}
		if (b.n + TSIG_ROOM > PRISM_DNS_MSG_MAX) {
			rc = PRISM_ETOOBIG;
			goto done;
		}
	}
	if (b.fail || npre > 0xffff || nupd > 0xffff)
		goto done;
	b.p[6] = (uint8_t)(npre >> 8);
	b.p[7] = (uint8_t)npre;
	b.p[8] = (uint8_t)(nupd >> 8);
	b.p[9] = (uint8_t)nupd;
	rc = k != NULL ? tsig_append(&b, k, id, out) : 0;
	if (rc == 0) {
		out->wire = b.p;
		out->len = b.n;
		b.p = NULL;
	}
done:
	if (rc != 0)
		prism_dns_msg_free(out);
	free(b.p);
	free(txt.p);
	free(rd.p);
	free(w);
	free(idx);
	return rc;
}

static int query_build(const char *zone, enum prism_dns_qkind kind, uint32_t serial,
		       const struct prism_tsig *k, uint16_t id, struct prism_dns_msg *out)
{
	if (zone == NULL || out == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_dns_msg){.id = id};
	struct wname zn;
	if (!name_wire(zone, &zn))
		return PRISM_EINVAL;
	struct wbuf b = {0};
	bool ixfr = kind == PRISM_DNSQ_IXFR;
	uint8_t hdr[12] = {(uint8_t)(id >> 8), (uint8_t)id, 0, 0, 0, 1, 0, 0, 0, ixfr};
	wput(&b, hdr, sizeof(hdr));
	wput(&b, zn.w, zn.len);
	wput16(&b, ixfr			     ? LDNS_RR_TYPE_IXFR
		   : kind == PRISM_DNSQ_AXFR ? LDNS_RR_TYPE_AXFR
					     : LDNS_RR_TYPE_SOA);
	wput16(&b, LDNS_RR_CLASS_IN);
	if (ixfr) {
		/* RFC 1995 3: the client's SOA in the authority section; only its serial
		 * counts, so the names are the root and the timers zero */
		wput16(&b, 0xc000 | ZONE_OFFSET);
		put_rr_head(&b, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
		wput16(&b, 22);
		wput16(&b, 0); /* mname ".", rname "." */
		wput32(&b, serial);
		for (int i = 0; i < 4; i++)
			wput32(&b, 0);
	}
	int rc = b.fail ? PRISM_ENOMEM : k != NULL ? tsig_append(&b, k, id, out) : 0;
	if (rc == 0) {
		out->wire = b.p;
		out->len = b.n;
	} else {
		free(b.p);
		prism_dns_msg_free(out);
	}
	return rc;
}

int prism_query_build(const char *zone, enum prism_dns_qkind kind, const struct prism_tsig *k,
		      uint16_t id, struct prism_dns_msg *out)
{
	if (kind == PRISM_DNSQ_IXFR)
		return PRISM_EINVAL; /* it needs a serial: prism_ixfr_query_build */
	return query_build(zone, kind, 0, k, id, out);
}

int prism_ixfr_query_build(const char *zone, uint32_t serial, const struct prism_tsig *k,
			   uint16_t id, struct prism_dns_msg *out)
{
	return query_build(zone, PRISM_DNSQ_IXFR, serial, k, id, out);
}

/* ---- answers ---- */

const char *prism_rcode_name(int rcode, char *buf, size_t len)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					    "NXRRSET", "NOTAUTH", "NOTZONE"};
	if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%d", rcode);
	return buf;
}

/* Skip a (possibly compressed) name at @p *off; false when it runs past the end. */
static bool skip_name(const uint8_t *w, size_t len, size_t *off)
{
	size_t o = *off;
	for (unsigned labels = 0; labels < 128; labels++) {
		if (o >= len)
			return false;
		uint8_t l = w[o];
		if ((l & 0xc0) == 0xc0) {
			*off = o + 2;
			return o + 2 <= len;
		}
		if (l & 0xc0)
			return false;
		o += 1u + l;
		if (l == 0) {
			*off = o;
			return true;
		}
	}
	return false;
}

/* Where a message's TSIG record is. */
struct tsig_loc {
	bool present;
	size_t rr_off, rdata_off, rdlen;
};

/* A TSIG record may only be the very last one (RFC 8945 5.1); ldns 1.8 leaks one that a
 * second record follows, so such messages are refused before ldns reads them. */
static bool tsig_last(const uint8_t *w, size_t len, struct tsig_loc *loc)
{
	size_t qd = (size_t)w[4] << 8 | w[5];
	size_t rrs = ((size_t)w[6] << 8 | w[7]) + ((size_t)w[8] << 8 | w[9]) +
		     ((size_t)w[10] << 8 | w[11]);
	size_t off = 12;
	*loc = (struct tsig_loc){false, 0, 0, 0};
	for (size_t i = 0; i < qd; i++) {
		if (!skip_name(w, len, &off) || off + 4 > len)
			return false;
		off += 4;
	}
	for (size_t i = 0; i < rrs; i++) {
		size_t start = off;
		if (!skip_name(w, len, &off) || off + 10 > len)
			return false;
		unsigned type = (unsigned)w[off] << 8 | w[off + 1];
		size_t rdlen = (size_t)w[off + 8] << 8 | w[off + 9];
		off += 10 + rdlen;
		if (off > len || (type == LDNS_RR_TYPE_TSIG && i + 1 != rrs))
			return false;
		if (type == LDNS_RR_TYPE_TSIG)
			*loc = (struct tsig_loc){true, start, off - rdlen, rdlen};
	}
	return true;
}

/* Read a (possibly compressed) name at @p off into wire form, lower case. */
static bool read_name(const uint8_t *w, size_t len, size_t off, struct wname *out)
{
	size_t n = 0;
	for (unsigned hops = 0; hops < 128; hops++) {
		if (off >= len)
			return false;
		uint8_t l = w[off];
		if ((l & 0xc0) == 0xc0) {
			if (off + 1 >= len)
				return false;
			off = (size_t)(l & 0x3f) << 8 | w[off + 1];
			continue;
		}
		if ((l & 0xc0) != 0 || off + 1 + l > len || n + 1 + l > 255)
			return false;
		out->w[n++] = l;
		for (size_t i = 0; i < l; i++)
			out->w[n++] = (uint8_t)tolower(w[off + 1 + i]);
		if (l == 0) {
			out->len = out->prefix = n;
			return true;
		}
		off += 1u + l;
	}
	return false;
}

/* The fields of a TSIG record (RFC 8945 4.2). */
struct tsig_rec {
	struct wname key, alg;
	const uint8_t *timers; /* time signed (48 bits) and fudge */
	uint16_t maclen, orig_id, error, otherlen;
	const uint8_t *mac, *other;
};

static bool tsig_read(const uint8_t *w, size_t len, const struct tsig_loc *l, struct tsig_rec *t)
{
	if (!read_name(w, len, l->rr_off, &t->key))
		return false;
	/* the algorithm name is never compressed (RFC 8945 4.2) */
	const uint8_t *r = w + l->rdata_off, *end = r + l->rdlen;
	size_t o = 0;
	while (r + o < end && r[o] != 0 && (r[o] & 0xc0) == 0)
		o += 1u + r[o];
	if (r + o >= end || r[o] != 0 || o + 1 > 255)
		return false;
	t->alg.len = t->alg.prefix = o + 1;
	for (size_t i = 0; i < t->alg.len; i++)
		t->alg.w[i] = (uint8_t)tolower(r[i]);
	r += o + 1;
	if (end - r < 10)
		return false;
	t->timers = r;
	t->maclen = (uint16_t)(r[8] << 8 | r[9]);
	r += 10;
	if (end - r < (ptrdiff_t)t->maclen + 6)
		return false;
	t->mac = r;
	r += t->maclen;
	t->orig_id = (uint16_t)(r[0] << 8 | r[1]);
	t->error = (uint16_t)(r[2] << 8 | r[3]);
	t->otherlen = (uint16_t)(r[4] << 8 | r[5]);
	r += 6;
	if (end - r != (ptrdiff_t)t->otherlen)
		return false;
	t->other = r;
	return true;
}

/*
 * Check the TSIG of an answer (RFC 8945 4.3.2, 5.3.1): the digest covers @p prior (the MAC
 * it answers or follows, with its 2-byte size), @p pending (unsigned messages of a transfer
 * since the last signed one), the message without its TSIG (original id, one record less),
 * and the TSIG variables (all of them, or the timers only for a later message of a
 * transfer). @p mac_out (2 + 64 bytes) receives the size and MAC, for the next message.
 */
static void tsig_check(const uint8_t *w, size_t len, const struct tsig_loc *l,
		       const struct prism_tsig *k, const uint8_t *prior, size_t prior_len,
		       const uint8_t *pending, size_t pending_len, bool timers_only,
		       struct prism_dns_answer *out, uint8_t *mac_out, size_t *mac_out_len)
{
	struct tsig_rec t;
	struct wname kn, an;
	char alg[40];
	out->tsig_ok = false;
	out->tsig_error = 0;
	if (!l->present || !tsig_read(w, len, l, &t))
		return;
	out->tsig_error = t.error;
	snprintf(alg, sizeof(alg), "%s.", k->algorithm);
	const EVP_MD *md = tsig_md(k->algorithm);
	if (t.error != 0 || md == NULL || !name_wire(k->name, &kn) || !name_wire(alg, &an) ||
	    kn.len != t.key.len || memcmp(kn.w, t.key.w, kn.len) != 0 || an.len != t.alg.len ||
	    memcmp(an.w, t.alg.w, an.len) != 0 || t.maclen > EVP_MAX_MD_SIZE)
		return;
	struct wbuf b = {0};
	wput(&b, prior, prior_len);
	wput(&b, pending, pending_len);
	size_t at = b.n;
	wput(&b, w, l->rr_off);
	if (!b.fail) {
		unsigned ar = ((unsigned)b.p[at + 10] << 8 | b.p[at + 11]) - 1;
		b.p[at] = (uint8_t)(t.orig_id >> 8);
		b.p[at + 1] = (uint8_t)t.orig_id;
		b.p[at + 10] = (uint8_t)(ar >> 8);
		b.p[at + 11] = (uint8_t)ar;
	}
	if (!timers_only) {
		wput(&b, kn.w, kn.len);
		wput16(&b, LDNS_RR_CLASS_ANY);
		wput32(&b, 0);
		wput(&b, an.w, an.len);
	}
	wput(&b, t.timers, 8);
	if (!timers_only) {
		wput16(&b, t.error);
		wput16(&b, t.otherlen);
		wput(&b, t.other, t.otherlen);
	}
	int klen;
	unsigned char *key = key_decode(k->secret, &klen);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	bool ok = !b.fail && key != NULL && HMAC(md, key, klen, b.p, b.n, mac, &maclen) != NULL &&
		  maclen == t.maclen && CRYPTO_memcmp(mac, t.mac, maclen) == 0;
	key_free(key, klen);
	free(b.p);
	out->tsig_ok = ok;
	if (ok && mac_out != NULL) {
		mac_out[0] = (uint8_t)(maclen >> 8);
		mac_out[1] = (uint8_t)maclen;
		memcpy(mac_out + 2, mac, maclen);
		*mac_out_len = 2 + maclen;
	}
}

/* Parse an answer (refused unless it is one, with any TSIG last). */
static int parse(const uint8_t *wire, size_t len, ldns_pkt **out, struct tsig_loc *loc)
{
	if (wire == NULL || len < 12 || len > PRISM_DNS_MSG_MAX || !tsig_last(wire, len, loc))
		return PRISM_EPROTO;
	if (ldns_wire2pkt(out, wire, len) != LDNS_STATUS_OK)
		return PRISM_EPROTO;
	if (!ldns_pkt_qr(*out)) {
		ldns_pkt_free(*out);
		*out = NULL;
		return PRISM_EPROTO;
	}
	return 0;
}

int prism_answer_read(const uint8_t *wire, size_t len, const struct prism_dns_msg *q,
		      const char *zone, const struct prism_tsig *k, struct prism_dns_answer *out)
{
	if (q == NULL || out == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_dns_answer){0};
	ldns_pkt *p = NULL;
	struct tsig_loc loc;
	int rc = parse(wire, len, &p, &loc);
	if (rc != 0)
		return rc;
	if (ldns_pkt_id(p) != q->id) {
		ldns_pkt_free(p);
		return PRISM_EPROTO;
	}
	out->rcode = ldns_pkt_get_rcode(p);
	out->tsig_ok = q->mac == NULL || k == NULL;
	if (!out->tsig_ok)
		tsig_check(wire, len, &loc, k, ldns_rdf_data(q->mac), ldns_rdf_size(q->mac), NULL,
			   0, false, out, NULL, NULL);
	ldns_rdf *want = zone ? ldns_dname_new_frm_str(zone) : NULL;
	const ldns_rr_list *ans = ldns_pkt_answer(p);
	for (size_t i = 0; want != NULL && i < ldns_rr_list_rr_count(ans); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(ans, i);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 3 ||
		    ldns_dname_compare(ldns_rr_owner(rr), want) != 0 ||
		    ldns_rdf_get_type(ldns_rr_rdf(rr, 2)) != LDNS_RDF_TYPE_INT32)
			continue;
		out->serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
		out->has_soa = true;
	}
	ldns_rdf_deep_free(want);
	ldns_pkt_free(p);
	return 0;
}

/* ---- zone transfers ---- */

struct xrec {
	char *name, *type, *content;
	uint32_t ttl;
	uint32_t serial; /* the zone's SOA: its serial */
	bool del;	 /* IXFR differences: a deletion (else an addition) */
	bool soa;	 /* the zone's SOA */
};

/* What an IXFR answer turned out to be (RFC 1995 4). */
enum xform { X_AXFR, X_UNKNOWN, X_FULL, X_DIFF, X_CURRENT };

struct prism_axfr {
	ldns_rdf *zone;
	const struct prism_tsig *k;
	uint16_t id;
	uint8_t mac[2 + EVP_MAX_MD_SIZE]; /* size and MAC the next signed message follows */
	size_t maclen;
	struct wbuf pending; /* unsigned messages since the last signed one */
	unsigned unsigned_msgs;
	bool first; /* no message read yet */
	bool done;
	uint32_t serial;
	enum xform form; /* X_AXFR for an AXFR; the shape of an IXFR answer */
	uint32_t base;	 /* IXFR: the serial asked from */
	bool adding;	 /* IXFR differences: in an addition sequence */
	bool names_only; /* keep names and types, not the data (prism_axfr_names_only) */
	size_t seen;	 /* records read */
	struct xrec *v;
	size_t n, cap;
};

struct prism_axfr *prism_axfr_new(const char *zone, const struct prism_dns_msg *q,
				  const struct prism_tsig *k)
{
	if (zone == NULL || q == NULL)
		return NULL;
	struct prism_axfr *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return NULL;
	x->zone = ldns_dname_new_frm_str(zone);
	x->k = q->mac && k ? k : NULL;
	if (x->k != NULL) {
		x->maclen = ldns_rdf_size(q->mac);
		if (x->maclen > sizeof(x->mac))
			x->maclen = 0;
		memcpy(x->mac, ldns_rdf_data(q->mac), x->maclen);
	}
	x->id = q->id;
	x->first = true;
	x->form = X_AXFR;
	if (x->zone == NULL) {
		prism_axfr_free(x);
		return NULL;
	}
	return x;
}

static void free_rec(struct xrec *r)
{
	free(r->name);
	free(r->type);
	free(r->content);
	*r = (struct xrec){0};
}

void prism_axfr_free(struct prism_axfr *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++)
		free_rec(&x->v[i]);
	free(x->v);
	ldns_rdf_deep_free(x->zone);
	free(x->pending.p);
	free(x);
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Types shown in their presentation form: the ones Prism writes, and the SOA. ldns 1.8's
 * printers of some others abort on malformed rdata (SVCB's, found by fuzz_dnsupdate), so
 * every other type is shown in the generic form of RFC 3597: "\# <length> <hex>". */
static bool presentable(ldns_rr_type t)
{
	static const ldns_rr_type ok[] = {LDNS_RR_TYPE_A,   LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_CNAME,
					  LDNS_RR_TYPE_MX,  LDNS_RR_TYPE_TXT,  LDNS_RR_TYPE_NS,
					  LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_PTR,  LDNS_RR_TYPE_CAA,
					  LDNS_RR_TYPE_SOA};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (ok[i] == t)
			return true;
	return false;
}

static char *generic_text(const ldns_rr *rr)
{
	ldns_buffer *w = ldns_buffer_new(64), *b = ldns_buffer_new(64);
	char *s = NULL;
	if (w != NULL && b != NULL && ldns_rr_rdata2buffer_wire(w, rr) == LDNS_STATUS_OK) {
		size_t n = ldns_buffer_position(w);
		const uint8_t *d = ldns_buffer_begin(w);
		ldns_buffer_printf(b, "\\# %zu%s", n, n ? " " : "");
		for (size_t i = 0; i < n; i++)
			ldns_buffer_printf(b, "%02x", d[i]);
		s = ldns_buffer_export2str(b);
	}
	ldns_buffer_free(w);
	ldns_buffer_free(b);
	return s;
}

/* The rdata of @p rr in presentation form, fields joined by one space. */
static char *rdata_text(const ldns_rr *rr)
{
	if (!presentable(ldns_rr_get_type(rr)))
		return generic_text(rr);
	ldns_buffer *b = ldns_buffer_new(64);
	if (b == NULL)
		return NULL;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		if (i > 0)
			ldns_buffer_printf(b, " ");
		if (ldns_rdf2buffer_str(b, ldns_rr_rdf(rr, i)) != LDNS_STATUS_OK)
			break;
	}
	char *s = ldns_buffer_export2str(b);
	ldns_buffer_free(b);
	return s;
}

static bool is_zone_soa(const struct prism_axfr *x, const ldns_rr *rr);

static int keep(struct prism_axfr *x, const ldns_rr *rr, bool del)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 256;
		if (cap > AXFR_MAX_RECORDS)
			return PRISM_ETOOBIG;
		struct xrec *v = realloc(x->v, cap * sizeof(*v));
		if (v == NULL)
			return PRISM_ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	struct xrec *r = &x->v[x->n];
	r->name = ldns_rdf2str(ldns_rr_owner(rr));
	r->type = ldns_rr_type2str(ldns_rr_get_type(rr));
	r->content = x->names_only ? NULL : rdata_text(rr);
	r->ttl = ldns_rr_ttl(rr);
	r->del = del;
	r->soa = is_zone_soa(x, rr);
	r->serial = r->soa ? ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) : 0;
	if (r->name == NULL || r->type == NULL || (r->content == NULL && !x->names_only)) {
		free(r->name);
		free(r->type);
		free(r->content);
		return PRISM_ENOMEM;
	}
	lower(r->name);
	x->n++;
	return 0;
}

static bool is_zone_soa(const struct prism_axfr *x, const ldns_rr *rr)
{
	return ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA &&
	       ldns_dname_compare(ldns_rr_owner(rr), x->zone) == 0 && ldns_rr_rd_count(rr) >= 3 &&
	       ldns_rdf_get_type(ldns_rr_rdf(rr, 2)) == LDNS_RDF_TYPE_INT32;
}

/* Check the message's TSIG, and move the chain on to its MAC. RFC 8945 5.3.1: the first
 * and the last message are signed; up to 99 between may come unsigned, and the next signed
 * one covers them. */
static void chain(struct prism_axfr *x, const uint8_t *wire, size_t len,
		  const struct tsig_loc *loc, struct prism_dns_answer *ans)
{
	if (x->k == NULL) {
		ans->tsig_ok = true;
		return;
	}
	if (!loc->present && !x->first) {
		ans->tsig_ok = ++x->unsigned_msgs < 100;
		wput(&x->pending, wire, len);
		ans->tsig_ok &= !x->pending.fail;
		return;
	}
	uint8_t mac[sizeof(x->mac)];
	size_t maclen = 0;
	tsig_check(wire, len, loc, x->k, x->mac, x->maclen, x->pending.p, x->pending.n, !x->first,
		   ans, mac, &maclen);
	x->pending.n = 0;
	x->unsigned_msgs = 0;
	if (ans->tsig_ok) {
		memcpy(x->mac, mac, maclen);
		x->maclen = maclen;
	}
}

int prism_axfr_feed(struct prism_axfr *x, const uint8_t *wire, size_t len,
		    struct prism_dns_answer *ans)
{
	if (x == NULL || ans == NULL)
		return PRISM_EINVAL;
	*ans = (struct prism_dns_answer){0};
	if (x->done)
		return 1;
	ldns_pkt *p = NULL;
	struct tsig_loc loc;
	int rc = parse(wire, len, &p, &loc);
	if (rc != 0)
		return rc;
	if (ldns_pkt_id(p) != x->id) {
		ldns_pkt_free(p);
		return PRISM_EPROTO;
	}
	ans->rcode = ldns_pkt_get_rcode(p);
	chain(x, wire, len, &loc, ans);
	if (ans->rcode != 0 || !ans->tsig_ok)
		rc = PRISM_EUPSTREAM;
	const ldns_rr_list *l = ldns_pkt_answer(p);
	size_t cnt = ldns_rr_list_rr_count(l);
	if (rc == 0 && x->first && (cnt == 0 || !is_zone_soa(x, ldns_rr_list_rr(l, 0))))
		rc = PRISM_EPROTO;
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(l, i);
		bool soa = is_zone_soa(x, rr);
		if (x->form == X_UNKNOWN && x->seen == 1) {
			/* RFC 1995 4: the old serial second means differences follow */
			bool diff = soa && ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) == x->base;
			x->form = diff ? X_DIFF : X_FULL;
			if (diff)
				free_rec(&x->v[--x->n]); /* the new SOA: a header */
		}
		bool closing =
			x->form == X_DIFF
				? soa && x->adding &&
					  ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) == x->serial
				: soa && x->seen > 0;
		x->seen++;
		if (closing && x->form == X_FULL &&
		    ldns_rdf2native_int32(ldns_rr_rdf(rr, 2)) != x->serial) {
			rc = PRISM_EPROTO; /* not the zone's version the answer began with */
			break;
		}
		if (closing) {
			x->done = true; /* the closing SOA: its message must be signed */
			if (x->k != NULL && !loc.present) {
				ans->tsig_ok = false;
				rc = PRISM_EUPSTREAM;
			}
			break;
		}
		if (soa && x->seen == 1) {
			x->serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
			ans->serial = x->serial;
			ans->has_soa = true;
		}
		if (soa && x->form == X_DIFF)
			x->adding = !x->adding && x->seen > 2; /* a sequence starts */
		rc = keep(x, rr, x->form == X_DIFF && !x->adding);
	}
	if (rc == 0 && x->form == X_UNKNOWN && x->first && x->seen == 1) {
		/* one SOA alone: the server has nothing newer (a serial other than the one
		 * asked from is caught when the answer is applied) */
		x->form = X_CURRENT;
		x->done = true;
		if (x->k != NULL && !loc.present) {
			ans->tsig_ok = false;
			rc = PRISM_EUPSTREAM;
		}
	}
	x->first = false;
	ldns_pkt_free(p);
	if (rc != 0)
		return rc;
	return x->done ? 1 : 0;
}

uint32_t prism_axfr_serial(const struct prism_axfr *x)
{
	return x ? x->serial : 0;
}

struct prism_axfr *prism_ixfr_new(const char *zone, const struct prism_dns_msg *q,
				  const struct prism_tsig *k, uint32_t serial)
{
	struct prism_axfr *x = prism_axfr_new(zone, q, k);
	if (x != NULL) {
		x->form = X_UNKNOWN;
		x->base = serial;
	}
	return x;
}

bool prism_ixfr_incremental(const struct prism_axfr *x)
{
	return x != NULL && x->done && (x->form == X_DIFF || x->form == X_CURRENT);
}

/* ---- applying an IXFR's differences to a held copy ---- */

/* An index of a copy's live records by (name, type, content): open addressing over
 * positions in the copy, SIZE_MAX empty; dead records stay as tombstones. */
struct rindex {
	size_t *slot;
	size_t mask;
};

static uint64_t rec_hash(const struct xrec *r)
{
	uint64_t h = prism_fnv1a_str(PRISM_FNV64_OFFSET, r->name);
	h = prism_fnv1a(h, "", 1);
	h = prism_fnv1a_str(h, r->type);
	h = prism_fnv1a(h, "", 1);
	return prism_fnv1a_str(h, r->content);
}

static bool rec_same(const struct xrec *a, const struct xrec *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->type, b->type) == 0 &&
	       strcmp(a->content, b->content) == 0;
}

/* The live record of @p c equal to @p r, or SIZE_MAX. */
static size_t rindex_find(const struct rindex *ix, const struct prism_axfr *c, const uint8_t *dead,
			  const struct xrec *r)
{
	for (size_t i = rec_hash(r) & ix->mask;; i = (i + 1) & ix->mask) {
		size_t at = ix->slot[i];
		if (at == SIZE_MAX)
			return SIZE_MAX;
		if (!dead[at] && rec_same(&c->v[at], r))
			return at;
	}
}

static void rindex_add(struct rindex *ix, const struct prism_axfr *c, size_t at)
{
	size_t i = rec_hash(&c->v[at]) & ix->mask;
	while (ix->slot[i] != SIZE_MAX)
		i = (i + 1) & ix->mask;
	ix->slot[i] = at;
}

/* One record of the differences: a deletion must find what it deletes, an addition must
 * not find what it adds (it moves from @p d into @p c); SOAs carry the serials. */
static int diff_one(struct prism_axfr *c, struct rindex *ix, uint8_t *dead, struct xrec *d,
		    uint32_t *serial)
{
	size_t at = rindex_find(ix, c, dead, d);
	if (d->del) {
		if (at == SIZE_MAX || (d->soa && d->serial != *serial))
			return PRISM_ECONFLICT;
		dead[at] = 1;
		return 0;
	}
	if (at != SIZE_MAX)
		return PRISM_ECONFLICT;
	if (d->soa)
		*serial = d->serial;
	c->v[c->n] = *d;
	c->v[c->n].del = false;
	*d = (struct xrec){0};
	rindex_add(ix, c, c->n++);
	return 0;
}

static int apply_diff(struct prism_axfr *c, struct prism_axfr *d)
{
	size_t total = c->n + d->n;
	if (total > AXFR_MAX_RECORDS)
		return PRISM_ETOOBIG;
	if (total > c->cap) {
		struct xrec *v = realloc(c->v, total * sizeof(*v));
		if (v == NULL)
			return PRISM_ENOMEM;
		c->v = v;
		c->cap = total;
	}
	size_t cap = 16;
	while (cap < 2 * total)
		cap *= 2;
	struct rindex ix = {malloc(cap * sizeof(size_t)), cap - 1};
	uint8_t *dead = calloc(total ? total : 1, 1);
	int rc = ix.slot == NULL || dead == NULL ? PRISM_ENOMEM : 0;
	for (size_t i = 0; rc == 0 && i < cap; i++)
		ix.slot[i] = SIZE_MAX;
	for (size_t i = 0; rc == 0 && i < c->n; i++)
		rindex_add(&ix, c, i);
	uint32_t serial = c->serial;
	for (size_t i = 0; rc == 0 && i < d->n; i++)
		rc = diff_one(c, &ix, dead, &d->v[i], &serial);
	if (rc == 0 && serial != d->serial)
		rc = PRISM_ECONFLICT;
	size_t kept = 0;
	for (size_t i = 0; rc == 0 && i < c->n; i++) {
		if (dead[i])
			free_rec(&c->v[i]);
		else
			c->v[kept++] = c->v[i];
	}
	if (rc == 0) {
		c->n = kept;
		c->serial = serial;
	}
	free(ix.slot);
	free(dead);
	return rc;
}

int prism_ixfr_apply(struct prism_axfr *copy, struct prism_axfr *diff)
{
	if (copy == NULL || diff == NULL || !copy->done || copy->form != X_AXFR || !diff->done ||
	    copy->names_only || diff->names_only)
		return PRISM_EINVAL;
	switch (diff->form) {
	case X_CURRENT: return diff->serial == copy->serial ? 0 : PRISM_ECONFLICT;
	case X_DIFF: return apply_diff(copy, diff);
	case X_FULL:
	case X_AXFR: {
		struct xrec *v = copy->v;
		size_t n = copy->n, cap = copy->cap;
		copy->v = diff->v;
		copy->n = diff->n;
		copy->cap = diff->cap;
		copy->serial = diff->serial;
		diff->v = v;
		diff->n = n;
		diff->cap = cap;
		return 0;
	}
	case X_UNKNOWN: break;
	}
	return PRISM_EINVAL;
}

static int rec_cmp(const void *a, const void *b)
{
	const struct xrec *x = *(const struct xrec *const *)a, *y = *(const struct xrec *const *)b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->type, y->type);
}

/* Whether [lo, hi) (one RRset) is a companion of @p owner: one TXT record, exactly ours. */
static bool ours(struct xrec *const *v, size_t lo, size_t hi, const char *text)
{
	return hi - lo == 1 && strcmp(v[lo]->type, "TXT") == 0 &&
	       strcmp(v[lo]->content, text) == 0;
}

/* "_prism-a.www.example.com." → "www.example.com. A" (malloc'd), or NULL. */
static char *owned_key(const char *cname)
{
	size_t pl = sizeof(OWNER_PREFIX) - 1;
	if (strncmp(cname, OWNER_PREFIX, pl) != 0)
		return NULL;
	const char *dot = strchr(cname + pl, '.');
	if (dot == NULL || dot == cname + pl)
		return NULL;
	const char *name = dot[1] ? dot + 1 : ".";
	size_t tl = (size_t)(dot - cname - pl);
	char *k = malloc(strlen(name) + tl + 2);
	if (k == NULL)
		return NULL;
	sprintf(k, "%s %.*s", name, (int)tl, cname + pl);
	for (char *p = k + strlen(name) + 1; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return k;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* Hash of RRset [lo, hi). */
static uint64_t rrset_hash(struct xrec *const *v, size_t lo, size_t hi)
{
	const char **recs = malloc((hi - lo) * sizeof(*recs));
	if (recs == NULL)
		return 0;
	for (size_t i = lo; i < hi; i++)
		recs[i - lo] = v[i]->content;
	struct prism_rr_change c = {v[lo]->name, v[lo]->type, v[lo]->ttl, recs, hi - lo};
	uint64_t h = prism_rrset_hash(&c);
	free(recs);
	return h;
}

/* The companions of @p owner: sorted "name TYPE" keys. */
static int collect_owned(struct xrec *const *v, size_t n, const char *text, char ***keys,
			 size_t *nkeys)
{
	*keys = NULL;
	*nkeys = 0;
	size_t cap = 0;
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && rec_cmp(&v[lo], &v[hi]) == 0; hi++)
			;
		if (!ours(v, lo, hi, text))
			continue;
		char *k = owned_key(v[lo]->name);
		if (k == NULL)
			continue;
		if (*nkeys + 1 >= cap) {
			cap = cap ? cap * 2 : 64;
			char **nv = realloc(*keys, cap * sizeof(*nv));
			if (nv == NULL) {
				free(k);
				return PRISM_ENOMEM;
			}
			*keys = nv;
		}
		(*keys)[(*nkeys)++] = k;
	}
	if (*nkeys > 0)
		qsort(*keys, *nkeys, sizeof(**keys), key_cmp);
	return 0;
}

static bool has_key(char **keys, size_t n, const char *name, const char *type)
{
	char buf[600];
	snprintf(buf, sizeof(buf), "%s %s", name, type);
	const char *k = buf;
	return n > 0 && bsearch(&k, keys, n, sizeof(*keys), key_cmp) != NULL;
}

static int build_zone(struct xrec *const *v, size_t n, char **keys, size_t nkeys,
		      struct prism_actual_zone *out)
{
	size_t cap = 0;
	for (size_t lo = 0, hi; lo < n; lo = hi) {
		for (hi = lo + 1; hi < n && rec_cmp(&v[lo], &v[hi]) == 0; hi++)
			;
		if (strncmp(v[lo]->name, OWNER_PREFIX, sizeof(OWNER_PREFIX) - 1) == 0 &&
		    strcmp(v[lo]->type, "TXT") == 0)
			continue; /* a companion: bookkeeping, not zone data */
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			struct prism_actual_rrset *nv = realloc(out->v, cap * sizeof(*nv));
			if (nv == NULL)
				return PRISM_ENOMEM;
			out->v = nv;
		}
		struct prism_actual_rrset *a = &out->v[out->n];
		*a = (struct prism_actual_rrset){strdup(v[lo]->name), strdup(v[lo]->type),
						 v[lo]->ttl, rrset_hash(v, lo, hi),
						 has_key(keys, nkeys, v[lo]->name, v[lo]->type)};
		if (a->name == NULL || a->type == NULL) {
			free(a->name);
			free(a->type);
			return PRISM_ENOMEM;
		}
		out->n++;
	}
	return 0;
}

int prism_axfr_zone(const struct prism_axfr *x, const char *owner_id,
		    struct prism_actual_zone *out, char ***owned_keys)
{
	if (x == NULL || owner_id == NULL || out == NULL || x->names_only)
		return PRISM_EINVAL;
	*out = (struct prism_actual_zone){NULL, 0};
	char text[320];
	owner_text(owner_id, text, sizeof(text));
	struct xrec **v = malloc((x->n ? x->n : 1) * sizeof(*v));
	if (v == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < x->n; i++)
		v[i] = &x->v[i];
	qsort(v, x->n, sizeof(*v), rec_cmp);
	char **keys;
	size_t nkeys;
	int rc = collect_owned(v, x->n, text, &keys, &nkeys);
	if (rc == 0)
		rc = build_zone(v, x->n, keys, nkeys, out);
	free(v);
	if (rc != 0) {
		prism_actual_zone_free(out);
		strv_free(keys, nkeys);
		return rc;
	}
	if (owned_keys == NULL) {
		strv_free(keys, nkeys);
		return 0;
	}
	char **nv = realloc(keys, (nkeys + 1) * sizeof(*nv));
	if (nv == NULL) {
		prism_actual_zone_free(out);
		strv_free(keys, nkeys);
		return PRISM_ENOMEM;
	}
	nv[nkeys] = NULL;
	*owned_keys = nv;
	return 0;
}

void prism_axfr_names_only(struct prism_axfr *x)
{
	if (x != NULL)
		x->names_only = true;
}

int prism_axfr_names(const struct prism_axfr *x,
		     int (*fn)(void *arg, const char *name, const char *type), void *arg)
{
	if (x == NULL || fn == NULL || !x->done)
		return PRISM_EINVAL;
	for (size_t i = 0; i < x->n; i++) {
		int rc = fn(arg, x->v[i].name, x->v[i].type);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int prism_axfr_records(const struct prism_axfr *x, struct prism_zone_data *out)
{
	if (x == NULL || out == NULL || x->names_only)
		return PRISM_EINVAL;
	*out = (struct prism_zone_data){NULL, 0};
	out->v = calloc(x->n ? x->n : 1, sizeof(*out->v));
	if (out->v == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < x->n; i++) {
		const struct xrec *r = &x->v[i];
		if (strncmp(r->name, OWNER_PREFIX, sizeof(OWNER_PREFIX) - 1) == 0 &&
		    strcmp(r->type, "TXT") == 0)
			continue;
		struct prism_zone_rr *z = &out->v[out->n];
		*z = (struct prism_zone_rr){strdup(r->name), strdup(r->type), r->ttl,
					    strdup(r->content)};
		out->n++;
		if (z->name == NULL || z->type == NULL || z->content == NULL) {
			prism_zone_data_free(out);
			return PRISM_ENOMEM;
		}
	}
	return 0;
}
