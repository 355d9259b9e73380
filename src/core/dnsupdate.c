/* SPDX-License-Identifier: MIT */
/*
 * RFC 2136 UPDATE messages, SOA and AXFR queries, their answers, all signed and checked
 * with TSIG, through ldns (the DNS field's own codec, not ours). See dnsupdate.h for the
 * ownership scheme (companion TXT records and prerequisites).
 */
#include <ctype.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnsupdate.h"
#include "core/error.h"

#define FUDGE 300
#define OWNER_PREFIX "_prism-"
#define AXFR_MAX_RECORDS 2000000u

static const char *const algorithms[] = { "hmac-sha1", "hmac-sha224", "hmac-sha256",
					  "hmac-sha384", "hmac-sha512", NULL };

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
		snprintf(why, whylen, "algorithm must be one of hmac-sha1, hmac-sha224, "
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

/* ---- building ---- */

static ldns_rr *rr_empty(const char *name, ldns_rr_type type, ldns_rr_class cls)
{
	ldns_rdf *owner = ldns_dname_new_frm_str(name);
	if (owner == NULL)
		return NULL;
	ldns_rr *rr = ldns_rr_new();
	if (rr == NULL) {
		ldns_rdf_deep_free(owner);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, type);
	ldns_rr_set_class(rr, cls);
	ldns_rr_set_ttl(rr, 0);
	ldns_rr_set_question(rr, false);
	return rr;
}

static ldns_rr *rr_text(const char *name, uint32_t ttl, const char *type, const char *content)
{
	size_t len = strlen(name) + strlen(type) + strlen(content) + 32;
	char *s = malloc(len);
	if (s == NULL)
		return NULL;
	snprintf(s, len, "%s %u IN %s %s", name, ttl, type, content);
	ldns_rr *rr = NULL;
	ldns_status st = ldns_rr_new_frm_str(&rr, s, 0, NULL, NULL);
	free(s);
	return st == LDNS_STATUS_OK ? rr : NULL;
}

static bool push(ldns_rr_list *l, ldns_rr *rr)
{
	if (rr == NULL)
		return false;
	if (!ldns_rr_list_push_rr(l, rr)) {
		ldns_rr_free(rr);
		return false;
	}
	return true;
}

/* The prerequisites and updates of one change; false when it is not a valid record. */
static bool add_change(const struct prism_rr_change *c, bool owned, const char *text,
		       ldns_rr_list *pre, ldns_rr_list *upd)
{
	char cname[300];
	if (prism_owner_name(c->name, c->type, cname, sizeof(cname)) != 0)
		return false;
	ldns_rr_type t = ldns_get_rr_type_by_name(c->type);
	if (t == 0 || t == LDNS_RR_TYPE_SOA || t == LDNS_RR_TYPE_ANY)
		return false;
	if (owned) {
		/* change it only while the companion is exactly ours */
		if (!push(pre, rr_text(cname, 0, "TXT", text)))
			return false;
		ldns_rr *p = ldns_rr_list_rr(pre, ldns_rr_list_rr_count(pre) - 1);
		ldns_rr_set_ttl(p, 0);
		if (!push(upd, rr_empty(c->name, t, LDNS_RR_CLASS_ANY)))
			return false;
	} else {
		/* create it only while nothing of its type (and no CNAME) is at the name */
		if (!push(pre, rr_empty(c->name, t, LDNS_RR_CLASS_NONE)))
			return false;
		if (t != LDNS_RR_TYPE_CNAME &&
		    !push(pre, rr_empty(c->name, LDNS_RR_TYPE_CNAME, LDNS_RR_CLASS_NONE)))
			return false;
	}
	if (c->nrecords == 0)
		return push(upd, rr_empty(cname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_ANY));
	for (size_t i = 0; i < c->nrecords; i++)
		if (!push(upd, rr_text(c->name, c->ttl, c->type, c->records[i])))
			return false;
	return push(upd, rr_text(cname, c->ttl, "TXT", text));
}

/* Room left for the TSIG record: key and algorithm names, a MAC of up to 64 bytes. */
#define TSIG_ROOM 600u

static int sign_and_wire(ldns_pkt *p, const struct prism_tsig *k, struct prism_dns_msg *out)
{
	/* measure first in a buffer that may grow: ldns's TSIG code asserts (aborts) on a
	 * message over 64 KiB */
	ldns_buffer *b = ldns_buffer_new(PRISM_DNS_MSG_MAX);
	if (b == NULL)
		return PRISM_ENOMEM;
	ldns_status st = ldns_pkt2buffer_wire(b, p);
	size_t unsigned_len = ldns_buffer_position(b);
	ldns_buffer_free(b);
	if (st != LDNS_STATUS_OK)
		return PRISM_ENOMEM;
	if (unsigned_len + TSIG_ROOM > PRISM_DNS_MSG_MAX)
		return PRISM_ETOOBIG;
	if (k != NULL) {
		char alg[32];
		snprintf(alg, sizeof(alg), "%s.", k->algorithm);
		if (ldns_pkt_tsig_sign(p, k->name, k->secret, FUDGE, alg, NULL) != LDNS_STATUS_OK)
			return PRISM_EINVAL;
		const ldns_rr *tsig = ldns_pkt_tsig(p);
		if (tsig == NULL || ldns_rr_rd_count(tsig) < 4 ||
		    (out->mac = ldns_rdf_clone(ldns_rr_rdf(tsig, 3))) == NULL)
			return PRISM_ENOMEM;
	}
	if (ldns_pkt2wire(&out->wire, p, &out->len) != LDNS_STATUS_OK)
		return PRISM_ENOMEM;
	return out->len > PRISM_DNS_MSG_MAX ? PRISM_ETOOBIG : 0;
}

int prism_update_build(const char *zone, const struct prism_rr_change *ch, const bool *owned,
		       size_t n, const char *owner_id, const struct prism_tsig *k, uint16_t id,
		       struct prism_dns_msg *out, size_t *bad, char *why, size_t whylen)
{
	if (zone == NULL || (ch == NULL && n > 0) || owner_id == NULL || out == NULL ||
	    bad == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_dns_msg){ .id = id };
	char text[320];
	owner_text(owner_id, text, sizeof(text));
	ldns_rr_list *pre = ldns_rr_list_new(), *upd = ldns_rr_list_new();
	ldns_rdf *zname = ldns_dname_new_frm_str(zone);
	ldns_pkt *p = NULL;
	int rc = PRISM_ENOMEM;
	if (pre == NULL || upd == NULL || zname == NULL)
		goto done;
	/* deletions first, then the rest: a type change deletes before it adds */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			bool del = ch[i].nrecords == 0;
			bool own = owned != NULL && owned[i];
			if ((pass == 0) != del || (del && !own))
				continue;
			if (!add_change(&ch[i], own, text, pre, upd)) {
				*bad = i;
				snprintf(why, whylen, "%s %s: not a valid record for this zone",
					 ch[i].name, ch[i].type);
				rc = PRISM_EMSG;
				goto done;
			}
		}
	}
	ldns_rr_list *none = ldns_rr_list_new();
	if (none == NULL)
		goto done;
	/* (NULL lists make it fail) */
	p = ldns_update_pkt_new(zname, LDNS_RR_CLASS_IN, none, none, NULL);
	ldns_rr_list_free(none);
	if (p == NULL)
		goto done;
	zname = NULL; /* the packet holds the name */
	/* the sections are handed over as they are (ldns_update_pkt_new would copy them) */
	ldns_rr_list_deep_free(ldns_pkt_answer(p));
	ldns_rr_list_deep_free(ldns_pkt_authority(p));
	ldns_pkt_set_answer(p, pre);
	ldns_pkt_set_authority(p, upd);
	ldns_update_set_prcount(p, (uint16_t)ldns_rr_list_rr_count(pre));
	ldns_update_set_upcount(p, (uint16_t)ldns_rr_list_rr_count(upd));
	pre = upd = NULL;
	ldns_pkt_set_id(p, id);
	rc = sign_and_wire(p, k, out);
done:
	if (rc != 0)
		prism_dns_msg_free(out);
	ldns_pkt_free(p);
	ldns_rdf_deep_free(zname);
	ldns_rr_list_deep_free(pre);
	ldns_rr_list_deep_free(upd);
	return rc;
}

int prism_query_build(const char *zone, enum prism_dns_qkind kind, const struct prism_tsig *k,
		      uint16_t id, struct prism_dns_msg *out)
{
	if (zone == NULL || out == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_dns_msg){ .id = id };
	ldns_rdf *name = ldns_dname_new_frm_str(zone);
	if (name == NULL)
		return PRISM_EINVAL;
	ldns_pkt *q = ldns_pkt_query_new(name, kind == PRISM_DNSQ_AXFR ? LDNS_RR_TYPE_AXFR
								      : LDNS_RR_TYPE_SOA,
					 LDNS_RR_CLASS_IN, 0);
	if (q == NULL) {
		ldns_rdf_deep_free(name);
		return PRISM_ENOMEM;
	}
	ldns_pkt_set_id(q, id);
	ldns_pkt_set_rd(q, false);
	int rc = sign_and_wire(q, k, out);
	ldns_pkt_free(q);
	if (rc != 0)
		prism_dns_msg_free(out);
	return rc;
}

/* ---- answers ---- */

const char *prism_rcode_name(int rcode, char *buf, size_t len)
{
	static const char *const names[] = { "NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN",
					     "NOTIMP",  "REFUSED",  "YXDOMAIN", "YXRRSET",
					     "NXRRSET", "NOTAUTH",  "NOTZONE" };
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

/* A TSIG record may only be the very last one (RFC 8945 5.1); ldns 1.8 leaks one that a
 * second record follows, so such messages are refused before ldns reads them. */
static bool tsig_last(const uint8_t *w, size_t len)
{
	size_t qd = (size_t)w[4] << 8 | w[5];
	size_t rrs = ((size_t)w[6] << 8 | w[7]) + ((size_t)w[8] << 8 | w[9]) +
		     ((size_t)w[10] << 8 | w[11]);
	size_t off = 12;
	for (size_t i = 0; i < qd; i++) {
		if (!skip_name(w, len, &off) || off + 4 > len)
			return false;
		off += 4;
	}
	for (size_t i = 0; i < rrs; i++) {
		if (!skip_name(w, len, &off) || off + 10 > len)
			return false;
		unsigned type = (unsigned)w[off] << 8 | w[off + 1];
		size_t rdlen = (size_t)w[off + 8] << 8 | w[off + 9];
		off += 10 + rdlen;
		if (off > len || (type == LDNS_RR_TYPE_TSIG && i + 1 != rrs))
			return false;
	}
	return true;
}

/* Parse an answer (refused unless it is one, with any TSIG last). */
static int parse(const uint8_t *wire, size_t len, ldns_pkt **out)
{
	if (wire == NULL || len < 12 || len > PRISM_DNS_MSG_MAX || !tsig_last(wire, len))
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

/* The answer's TSIG: its error, and whether it verifies against @p mac. */
static void tsig_verdict(ldns_pkt *p, const uint8_t *wire, size_t len,
			 const struct prism_tsig *k, const ldns_rdf *mac, bool next,
			 struct prism_dns_answer *out)
{
	out->tsig_error = 0;
	out->tsig_ok = k == NULL;
	const ldns_rr *t = ldns_pkt_tsig(p);
	if (k == NULL || t == NULL)
		return;
	if (ldns_rr_rd_count(t) >= 6 && ldns_rdf_size(ldns_rr_rdf(t, 5)) == 2)
		out->tsig_error = ldns_rdf2native_int16(ldns_rr_rdf(t, 5));
	if (out->tsig_error != 0)
		return;
	out->tsig_ok = next ? ldns_pkt_tsig_verify_next(p, wire, len, k->name, k->secret, mac, 1)
			    : ldns_pkt_tsig_verify(p, wire, len, k->name, k->secret, mac);
	/* ldns 1.8 takes the TSIG off the packet while it computes, and does not put it back
	 * when that fails (an unknown algorithm): put it back, so the packet frees it */
	if (ldns_pkt_tsig(p) == NULL)
		ldns_pkt_set_tsig(p, (ldns_rr *)t);
}

int prism_answer_read(const uint8_t *wire, size_t len, const struct prism_dns_msg *q,
		      const char *zone, const struct prism_tsig *k, struct prism_dns_answer *out)
{
	if (q == NULL || out == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_dns_answer){ 0 };
	ldns_pkt *p = NULL;
	int rc = parse(wire, len, &p);
	if (rc != 0)
		return rc;
	if (ldns_pkt_id(p) != q->id) {
		ldns_pkt_free(p);
		return PRISM_EPROTO;
	}
	out->rcode = ldns_pkt_get_rcode(p);
	tsig_verdict(p, wire, len, q->mac ? k : NULL, q->mac, false, out);
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
};

struct prism_axfr {
	ldns_rdf *zone;
	const struct prism_tsig *k;
	uint16_t id;
	ldns_rdf *mac;   /* the MAC the next signed message chains from */
	bool first;      /* no message read yet */
	bool done;
	bool chain_broken; /* an unsigned message came: later MACs cannot be checked by ldns */
	uint32_t serial;
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
	x->mac = q->mac ? ldns_rdf_clone(q->mac) : NULL;
	x->k = q->mac ? k : NULL;
	x->id = q->id;
	x->first = true;
	if (x->zone == NULL || (q->mac != NULL && x->mac == NULL)) {
		prism_axfr_free(x);
		return NULL;
	}
	return x;
}

void prism_axfr_free(struct prism_axfr *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->n; i++) {
		free(x->v[i].name);
		free(x->v[i].type);
		free(x->v[i].content);
	}
	free(x->v);
	ldns_rdf_deep_free(x->zone);
	ldns_rdf_deep_free(x->mac);
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
	static const ldns_rr_type ok[] = { LDNS_RR_TYPE_A,   LDNS_RR_TYPE_AAAA, LDNS_RR_TYPE_CNAME,
					   LDNS_RR_TYPE_MX,  LDNS_RR_TYPE_TXT,  LDNS_RR_TYPE_NS,
					   LDNS_RR_TYPE_SRV, LDNS_RR_TYPE_PTR,  LDNS_RR_TYPE_CAA,
					   LDNS_RR_TYPE_SOA };
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

static int keep(struct prism_axfr *x, const ldns_rr *rr)
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
	r->content = rdata_text(rr);
	r->ttl = ldns_rr_ttl(rr);
	if (r->name == NULL || r->type == NULL || r->content == NULL) {
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

/* Check the message's TSIG, and move the chain on to its MAC. */
static int chain(struct prism_axfr *x, ldns_pkt *p, const uint8_t *wire, size_t len,
		 struct prism_dns_answer *ans)
{
	if (x->k == NULL) {
		ans->tsig_ok = true;
		return 0;
	}
	const ldns_rr *t = ldns_pkt_tsig(p);
	if (t == NULL && !x->first) {
		/* RFC 8945 5.3.1: up to 99 messages may come unsigned; ldns cannot check the
		 * digest over several messages, so later MACs are only read for errors */
		x->chain_broken = true;
		ans->tsig_ok = true;
		return 0;
	}
	if (x->chain_broken) {
		tsig_verdict(p, wire, len, x->k, x->mac, true, ans);
		ans->tsig_ok = ans->tsig_error == 0;
		return 0;
	}
	tsig_verdict(p, wire, len, x->k, x->mac, !x->first, ans);
	if (!ans->tsig_ok)
		return 0;
	ldns_rdf *mac = ldns_rdf_clone(ldns_rr_rdf(ldns_pkt_tsig(p), 3));
	if (mac == NULL)
		return PRISM_ENOMEM;
	ldns_rdf_deep_free(x->mac);
	x->mac = mac;
	return 0;
}

int prism_axfr_feed(struct prism_axfr *x, const uint8_t *wire, size_t len,
		    struct prism_dns_answer *ans)
{
	if (x == NULL || ans == NULL)
		return PRISM_EINVAL;
	*ans = (struct prism_dns_answer){ 0 };
	if (x->done)
		return 1;
	ldns_pkt *p = NULL;
	int rc = parse(wire, len, &p);
	if (rc != 0)
		return rc;
	if (ldns_pkt_id(p) != x->id) {
		ldns_pkt_free(p);
		return PRISM_EPROTO;
	}
	ans->rcode = ldns_pkt_get_rcode(p);
	rc = chain(x, p, wire, len, ans);
	if (rc == 0 && (ans->rcode != 0 || !ans->tsig_ok))
		rc = PRISM_EUPSTREAM;
	const ldns_rr_list *l = ldns_pkt_answer(p);
	size_t cnt = ldns_rr_list_rr_count(l);
	if (rc == 0 && x->first && (cnt == 0 || !is_zone_soa(x, ldns_rr_list_rr(l, 0))))
		rc = PRISM_EPROTO;
	for (size_t i = 0; rc == 0 && i < cnt; i++) {
		const ldns_rr *rr = ldns_rr_list_rr(l, i);
		bool soa = is_zone_soa(x, rr);
		if (soa && x->n > 0) {
			x->done = true; /* the closing SOA */
			break;
		}
		if (soa) {
			x->serial = ldns_rdf2native_int32(ldns_rr_rdf(rr, 2));
			ans->serial = x->serial;
			ans->has_soa = true;
		}
		rc = keep(x, rr);
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
	struct prism_rr_change c = { v[lo]->name, v[lo]->type, v[lo]->ttl, recs, hi - lo };
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
		*a = (struct prism_actual_rrset){ strdup(v[lo]->name), strdup(v[lo]->type),
						  v[lo]->ttl, rrset_hash(v, lo, hi),
						  has_key(keys, nkeys, v[lo]->name, v[lo]->type) };
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
	if (x == NULL || owner_id == NULL || out == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_actual_zone){ NULL, 0 };
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

int prism_axfr_records(const struct prism_axfr *x, struct prism_zone_data *out)
{
	if (x == NULL || out == NULL)
		return PRISM_EINVAL;
	*out = (struct prism_zone_data){ NULL, 0 };
	out->v = calloc(x->n ? x->n : 1, sizeof(*out->v));
	if (out->v == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < x->n; i++) {
		const struct xrec *r = &x->v[i];
		if (strncmp(r->name, OWNER_PREFIX, sizeof(OWNER_PREFIX) - 1) == 0 &&
		    strcmp(r->type, "TXT") == 0)
			continue;
		struct prism_zone_rr *z = &out->v[out->n];
		*z = (struct prism_zone_rr){ strdup(r->name), strdup(r->type), r->ttl,
					     strdup(r->content) };
		out->n++;
		if (z->name == NULL || z->type == NULL || z->content == NULL) {
			prism_zone_data_free(out);
			return PRISM_ENOMEM;
		}
	}
	return 0;
}
