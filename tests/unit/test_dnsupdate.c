/* SPDX-License-Identifier: MIT */
/* RFC 2136 messages: what an UPDATE carries (prerequisites, deletions first, companions),
 * answers and transfers checked with TSIG. The server side is played with ldns itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "core/dnsupdate.h"
#include "core/error.h"

/* ldns allocates what these tests free: the real allocator, not cmocka's */
#undef malloc
#undef calloc
#undef realloc
#undef free

#define SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
#define OTHER  "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItb3Q="

static const struct prism_tsig key = {"prism-key", "hmac-sha256", SECRET};
static const struct prism_tsig wrong = {"prism-key", "hmac-sha256", OTHER};

/* The server's answer to @p q: its header with @p rcode, signed with @p k. */
static uint8_t *answer(const struct prism_dns_msg *q, int rcode, const struct prism_tsig *k,
		       ldns_rr_list *records, size_t *len)
{
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, q->wire, q->len), LDNS_STATUS_OK);
	ldns_rr_list_deep_free(ldns_pkt_answer(p));
	ldns_rr_list_deep_free(ldns_pkt_authority(p));
	ldns_pkt_set_answer(p, records ? records : ldns_rr_list_new());
	ldns_pkt_set_authority(p, ldns_rr_list_new());
	ldns_pkt_set_ancount(p, (uint16_t)ldns_rr_list_rr_count(ldns_pkt_answer(p)));
	ldns_pkt_set_nscount(p, 0);
	ldns_rr_free(ldns_pkt_tsig(p));
	ldns_pkt_set_tsig(p, NULL);
	ldns_pkt_set_qr(p, true);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	if (k != NULL)
		assert_int_equal(
			ldns_pkt_tsig_sign(p, k->name, k->secret, 300, "hmac-sha256.", q->mac),
			LDNS_STATUS_OK);
	uint8_t *w = NULL;
	assert_int_equal(ldns_pkt2wire(&w, p, len), LDNS_STATUS_OK);
	ldns_pkt_free(p);
	return w;
}

static ldns_pkt *parse_request(const struct prism_dns_msg *m)
{
	ldns_pkt *p = NULL;
	assert_int_equal(ldns_wire2pkt(&p, m->wire, m->len), LDNS_STATUS_OK);
	return p;
}

static void test_owner_name(void **state)
{
	(void)state;
	char buf[300];
	assert_int_equal(prism_owner_name("www.example.com.", "AAAA", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "_prism-aaaa.www.example.com.");
	assert_int_equal(prism_owner_name(".", "A", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "_prism-a.");
	char longname[256];
	memset(longname, 'a', sizeof(longname));
	for (size_t i = 63; i < 250; i += 64)
		longname[i] = '.';
	longname[250] = '.';
	longname[251] = '\0';
	assert_int_equal(prism_owner_name(longname, "A", buf, sizeof(buf)), PRISM_ETOOBIG);
	assert_int_equal(prism_owner_name(NULL, "A", buf, sizeof(buf)), PRISM_EINVAL);
}

static void test_tsig_check(void **state)
{
	(void)state;
	char why[160];
	assert_int_equal(prism_tsig_check(&key, why, sizeof(why)), 0);
	struct prism_tsig k = key;
	k.algorithm = "hmac-md5";
	assert_int_equal(prism_tsig_check(&k, why, sizeof(why)), PRISM_ECONFIG);
	k = key;
	k.secret = "not base64!";
	assert_int_equal(prism_tsig_check(&k, why, sizeof(why)), PRISM_ECONFIG);
	assert_int_equal(prism_tsig_check(NULL, why, sizeof(why)), PRISM_ECONFIG);
}

static void test_update_content(void **state)
{
	(void)state;
	const char *a[] = {"192.0.2.1", "192.0.2.2"};
	const char *c[] = {"target.example.com."};
	struct prism_rr_change ch[] = {
		{"new.example.com.", "A", 60, a, 2},	   /* create: must not exist */
		{"gone.example.com.", "A", 0, NULL, 0},	   /* owned deletion */
		{"mine.example.com.", "CNAME", 60, c, 1},  /* owned change */
		{"never.example.com.", "TXT", 0, NULL, 0}, /* deletion of a foreign one */
	};
	bool owned[] = {false, true, true, false};
	struct prism_dns_msg m;
	size_t bad;
	char why[200];
	assert_int_equal(prism_update_build("example.com.", ch, owned, 4, "prism", &key, 77, &m,
					    &bad, why, sizeof(why)),
			 0);
	assert_non_null(m.mac);
	ldns_pkt *p = parse_request(&m);
	assert_int_equal(ldns_pkt_get_opcode(p), LDNS_PACKET_UPDATE);
	assert_int_equal(ldns_pkt_id(p), 77);
	assert_non_null(ldns_pkt_tsig(p));
	/* ldns checks the MAC computed here, and refuses it with another secret */
	assert_true(ldns_pkt_tsig_verify(p, m.wire, m.len, key.name, key.secret, NULL));
	assert_false(ldns_pkt_tsig_verify(p, m.wire, m.len, wrong.name, wrong.secret, NULL));
	/* prerequisites: 2 "does not exist" (A, CNAME) for new, the companions of gone/mine */
	const ldns_rr_list *pre = ldns_pkt_answer(p), *upd = ldns_pkt_authority(p);
	assert_int_equal(ldns_rr_list_rr_count(pre), 4);
	assert_int_equal(ldns_rr_get_class(ldns_rr_list_rr(pre, 0)), LDNS_RR_CLASS_IN);
	char *s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(pre, 0)));
	assert_string_equal(s, "_prism-a.gone.example.com.");
	free(s);
	assert_int_equal(ldns_rr_get_class(ldns_rr_list_rr(pre, 2)), LDNS_RR_CLASS_NONE);
	/* the deletion comes first: the RRset, then its companion */
	assert_int_equal(ldns_rr_get_class(ldns_rr_list_rr(upd, 0)), LDNS_RR_CLASS_ANY);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(upd, 0)), LDNS_RR_TYPE_A);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(upd, 1)), LDNS_RR_TYPE_TXT);
	/* new: two A records and a companion; mine: delete CNAME, add it, companion */
	assert_int_equal(ldns_rr_list_rr_count(upd), 2 + 3 + 3);
	s = ldns_rr2str(ldns_rr_list_rr(upd, 4));
	assert_non_null(strstr(s, "\"heritage=prism,prism/owner=prism\""));
	free(s);
	ldns_pkt_free(p);
	prism_dns_msg_free(&m);
	/* a record that is not one */
	const char *bogus[] = {"not-an-address"};
	struct prism_rr_change b[] = {ch[0], {"x.example.com.", "A", 60, bogus, 1}};
	assert_int_equal(prism_update_build("example.com.", b, NULL, 2, "prism", &key, 1, &m, &bad,
					    why, sizeof(why)),
			 PRISM_EMSG);
	assert_int_equal(bad, 1);
	assert_null(m.wire);
}

static void test_algorithms(void **state)
{
	(void)state;
	static const char *const algs[] = {"hmac-sha1", "hmac-sha224", "hmac-sha256",
					   "hmac-sha384", "hmac-sha512"};
	const char *a[] = {"2001:db8::1"};
	struct prism_rr_change ch[] = {{"v6.example.com.", "AAAA", 60, a, 1}};
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		struct prism_tsig k = {"k.", algs[i], SECRET};
		struct prism_dns_msg m;
		size_t bad;
		char why[100];
		assert_int_equal(prism_update_build("example.com.", ch, NULL, 1, "prism", &k, 3,
						    &m, &bad, why, sizeof(why)),
				 0);
		ldns_pkt *p = parse_request(&m);
		/* ldns 1.8 knows hmac-sha1, -sha256 and -sha512 (BIND checks all five in
		 * test_rfc2136.py) */
		if (strcmp(algs[i], "hmac-sha224") != 0 && strcmp(algs[i], "hmac-sha384") != 0 &&
		    !ldns_pkt_tsig_verify(p, m.wire, m.len, k.name, k.secret, NULL))
			fail_msg("%s: the MAC does not verify", algs[i]);
		ldns_pkt_free(p);
		prism_dns_msg_free(&m);
	}
}

static void test_update_too_big(void **state)
{
	(void)state;
	enum { N = 3000 };
	struct prism_rr_change *ch = calloc(N, sizeof(*ch));
	char(*names)[64] = calloc(N, 64);
	const char *a[] = {"192.0.2.1"};
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], 64, "host-%zu.example.com.", i);
		ch[i] = (struct prism_rr_change){names[i], "A", 60, a, 1};
	}
	struct prism_dns_msg m;
	size_t bad;
	char why[200];
	assert_int_equal(prism_update_build("example.com.", ch, NULL, N, "prism", &key, 1, &m,
					    &bad, why, sizeof(why)),
			 PRISM_ETOOBIG);
	assert_int_equal(prism_update_build("example.com.", ch, NULL, 500, "prism", &key, 1, &m,
					    &bad, why, sizeof(why)),
			 0);
	assert_true(m.len <= PRISM_DNS_MSG_MAX);
	prism_dns_msg_free(&m);
	free(ch);
	free(names);
}

static void test_answers(void **state)
{
	(void)state;
	const char *a[] = {"192.0.2.1"};
	struct prism_rr_change ch[] = {{"h.example.com.", "A", 60, a, 1}};
	struct prism_dns_msg m;
	size_t bad, len;
	char why[200];
	assert_int_equal(prism_update_build("example.com.", ch, NULL, 1, "prism", &key, 9, &m,
					    &bad, why, sizeof(why)),
			 0);
	struct prism_dns_answer ans;
	/* signed with the key: verified */
	uint8_t *w = answer(&m, LDNS_RCODE_NOERROR, &key, NULL, &len);
	assert_int_equal(prism_answer_read(w, len, &m, NULL, &key, &ans), 0);
	assert_true(ans.tsig_ok);
	assert_int_equal(ans.rcode, 0);
	/* the same bytes checked against another secret: not verified */
	assert_int_equal(prism_answer_read(w, len, &m, NULL, &wrong, &ans), 0);
	assert_false(ans.tsig_ok);
	/* a request is not an answer; nor are truncated bytes */
	assert_int_equal(prism_answer_read(m.wire, m.len, &m, NULL, &key, &ans), PRISM_EPROTO);
	assert_int_equal(prism_answer_read(w, 11, &m, NULL, &key, &ans), PRISM_EPROTO);
	free(w);
	/* a prerequisite failure, unsigned (a server that did not know the key) */
	w = answer(&m, LDNS_RCODE_YXRRSET, NULL, NULL, &len);
	assert_int_equal(prism_answer_read(w, len, &m, NULL, &key, &ans), 0);
	assert_int_equal(ans.rcode, LDNS_RCODE_YXRRSET);
	assert_false(ans.tsig_ok);
	free(w);
	char rb[16];
	assert_string_equal(prism_rcode_name(9, rb, sizeof(rb)), "NOTAUTH");
	assert_string_equal(prism_rcode_name(42, rb, sizeof(rb)), "RCODE42");
	prism_dns_msg_free(&m);
}

static ldns_rr *rr(const char *s)
{
	ldns_rr *r = NULL;
	assert_int_equal(ldns_rr_new_frm_str(&r, s, 0, NULL, NULL), LDNS_STATUS_OK);
	return r;
}

static void test_axfr(void **state)
{
	(void)state;
	struct prism_dns_msg q;
	assert_int_equal(prism_query_build("example.com.", PRISM_DNSQ_AXFR, &key, 5, &q), 0);
	ldns_rr_list *l = ldns_rr_list_new();
	const char *recs[] = {
		"example.com. 300 IN SOA ns1.example.com. hm.example.com. 42 3600 600 86400 300",
		"example.com. 300 IN NS ns1.example.com.",
		"Mine.example.com. 60 IN A 192.0.2.1",
		"mine.example.com. 60 IN A 192.0.2.2",
		"_prism-a.mine.example.com. 60 IN TXT \"heritage=prism,prism/owner=prism\"",
		"theirs.example.com. 60 IN A 192.0.2.3",
		"_prism-a.theirs.example.com. 60 IN TXT \"heritage=prism,prism/owner=other\"",
		"_prism-aaaa.stale.example.com. 60 IN TXT \"heritage=prism,prism/owner=prism\"",
		"example.com. 300 IN SOA ns1.example.com. hm.example.com. 42 3600 600 86400 300",
	};
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		ldns_rr_list_push_rr(l, rr(recs[i]));
	size_t len;
	uint8_t *w = answer(&q, 0, &key, l, &len);
	struct prism_axfr *x = prism_axfr_new("example.com.", &q, &key);
	struct prism_dns_answer ans;
	assert_int_equal(prism_axfr_feed(x, w, len, &ans), 1);
	assert_true(ans.tsig_ok);
	assert_int_equal(prism_axfr_serial(x), 42);
	struct prism_actual_zone z;
	char **keys = NULL;
	assert_int_equal(prism_axfr_zone(x, "prism", &z, &keys), 0);
	/* SOA, NS, mine A (two records), theirs A; companions left out */
	assert_int_equal(z.n, 4);
	size_t owned = 0;
	for (size_t i = 0; i < z.n; i++) {
		if (strcmp(z.v[i].name, "mine.example.com.") == 0) {
			assert_true(z.v[i].owned);
			const char *want[] = {"192.0.2.2", "192.0.2.1"};
			struct prism_rr_change c = {"mine.example.com.", "A", 60, want, 2};
			assert_true(z.v[i].hash == prism_rrset_hash(&c));
		}
		owned += z.v[i].owned;
	}
	assert_int_equal(owned, 1);
	/* the stale companion still counts as Prism's (a write there is guarded as owned) */
	assert_string_equal(keys[0], "mine.example.com. A");
	assert_string_equal(keys[1], "stale.example.com. AAAA");
	assert_null(keys[2]);
	for (char **k = keys; *k; k++)
		free(*k);
	free(keys);
	prism_actual_zone_free(&z);
	struct prism_zone_data data;
	assert_int_equal(prism_axfr_records(x, &data), 0);
	assert_int_equal(data.n, 5);
	prism_zone_data_free(&data);
	prism_axfr_free(x);
	free(w);
	/* refused, and signed with the wrong key */
	x = prism_axfr_new("example.com.", &q, &key);
	w = answer(&q, LDNS_RCODE_REFUSED, &key, NULL, &len);
	assert_int_equal(prism_axfr_feed(x, w, len, &ans), PRISM_EUPSTREAM);
	assert_int_equal(ans.rcode, LDNS_RCODE_REFUSED);
	free(w);
	prism_axfr_free(x);
	x = prism_axfr_new("example.com.", &q, &key);
	l = ldns_rr_list_new();
	ldns_rr_list_push_rr(l, rr(recs[0]));
	w = answer(&q, 0, &wrong, l, &len);
	assert_int_equal(prism_axfr_feed(x, w, len, &ans), PRISM_EUPSTREAM);
	assert_false(ans.tsig_ok);
	free(w);
	prism_axfr_free(x);
	prism_dns_msg_free(&q);
}

#define SOA(n) "example.com. 300 IN SOA ns1.example.com. hm.example.com. " #n " 3600 600 86400 300"

/* A complete transfer of @p recs answering @p q (unsigned when @p q is), split into
 * messages after every @p per records. */
static struct prism_axfr *transfer(const struct prism_dns_msg *q, struct prism_axfr *x,
				   const char *const *recs, size_t n, size_t per, int want_rc)
{
	int rc = 0;
	for (size_t at = 0; at < n; at += per) {
		ldns_rr_list *l = ldns_rr_list_new();
		for (size_t i = at; i < n && i < at + per; i++)
			ldns_rr_list_push_rr(l, rr(recs[i]));
		size_t len;
		uint8_t *w = answer(q, 0, q->mac ? &key : NULL, l, &len);
		struct prism_dns_answer ans;
		rc = prism_axfr_feed(x, w, len, &ans);
		free(w);
		if (rc != 0)
			break;
	}
	assert_int_equal(rc, want_rc);
	return x;
}

static struct prism_axfr *held_copy(void)
{
	static const char *const recs[] = {
		SOA(42),
		"example.com. 300 IN NS ns1.example.com.",
		"a.example.com. 60 IN A 192.0.2.1",
		"b.example.com. 60 IN A 192.0.2.2",
		"b.example.com. 60 IN A 192.0.2.3",
		SOA(42),
	};
	struct prism_dns_msg q;
	assert_int_equal(prism_query_build("example.com.", PRISM_DNSQ_AXFR, &key, 7, &q), 0);
	struct prism_axfr *x = transfer(&q, prism_axfr_new("example.com.", &q, &key), recs,
					sizeof(recs) / sizeof(recs[0]), 100, 1);
	prism_dns_msg_free(&q);
	return x;
}

/* The records of @p x as sorted "name type content" lines joined by '|'. */
static char *listing(const struct prism_axfr *x)
{
	struct prism_zone_data d;
	assert_int_equal(prism_axfr_records(x, &d), 0);
	char **v = calloc(d.n + 1, sizeof(*v));
	size_t total = 1;
	for (size_t i = 0; i < d.n; i++) {
		size_t l = strlen(d.v[i].name) + strlen(d.v[i].type) + strlen(d.v[i].content) + 3;
		v[i] = malloc(l);
		snprintf(v[i], l, "%s %s %s", d.v[i].name, d.v[i].type, d.v[i].content);
		total += l;
	}
	for (size_t i = 0; i < d.n; i++)
		for (size_t j = i + 1; j < d.n; j++)
			if (strcmp(v[i], v[j]) > 0) {
				char *t = v[i];
				v[i] = v[j];
				v[j] = t;
			}
	char *out = calloc(1, total);
	for (size_t i = 0; i < d.n; i++) {
		if (i > 0)
			strcat(out, "|");
		strcat(out, v[i]);
		free(v[i]);
	}
	free(v);
	prism_zone_data_free(&d);
	return out;
}

/* An IXFR answer of @p recs to a query from serial 42, applied to a fresh copy. */
static int ixfr_apply(const char *const *recs, size_t n, size_t per, bool signed_,
		      bool *incremental, char **after)
{
	struct prism_dns_msg q;
	assert_int_equal(prism_ixfr_query_build("example.com.", 42, signed_ ? &key : NULL, 9, &q),
			 0);
	struct prism_axfr *d = prism_ixfr_new("example.com.", &q, signed_ ? &key : NULL, 42);
	transfer(&q, d, recs, n, per, 1);
	*incremental = prism_ixfr_incremental(d);
	struct prism_axfr *c = held_copy();
	int rc = prism_ixfr_apply(c, d);
	*after = rc == 0 ? listing(c) : NULL;
	if (rc == 0)
		assert_int_equal(prism_axfr_serial(c), prism_axfr_serial(d));
	prism_axfr_free(d);
	prism_axfr_free(c);
	prism_dns_msg_free(&q);
	return rc;
}

static void test_ixfr_query(void **state)
{
	(void)state;
	struct prism_dns_msg q;
	assert_int_equal(prism_ixfr_query_build("example.com.", 4242, &key, 3, &q), 0);
	ldns_pkt *p = parse_request(&q);
	const ldns_rr *qr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	assert_int_equal(ldns_rr_get_type(qr), LDNS_RR_TYPE_IXFR);
	assert_int_equal(ldns_rr_list_rr_count(ldns_pkt_authority(p)), 1);
	const ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
	assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	char *owner = ldns_rdf2str(ldns_rr_owner(soa));
	assert_string_equal(owner, "example.com.");
	free(owner);
	assert_int_equal(ldns_rdf2native_int32(ldns_rr_rdf(soa, 2)), 4242);
	assert_non_null(ldns_pkt_tsig(p));
	ldns_pkt_free(p);
	prism_dns_msg_free(&q);
	assert_int_equal(prism_query_build("example.com.", PRISM_DNSQ_IXFR, &key, 3, &q),
			 PRISM_EINVAL);
}

static void test_ixfr_differences(void **state)
{
	(void)state;
	/* two sequences, 42 -> 43 -> 44; split over messages of 3 records */
	const char *recs[] = {
		SOA(44),
		SOA(42),
		"b.example.com. 60 IN A 192.0.2.2",
		SOA(43),
		"c.example.com. 60 IN A 192.0.2.9",
		SOA(43),
		"a.example.com. 60 IN A 192.0.2.1",
		"b.example.com. 60 IN A 192.0.2.3",
		SOA(44),
		"a.example.com. 60 IN A 192.0.2.7",
		"B.example.com. 60 IN AAAA 2001:db8::1",
		SOA(44),
	};
	size_t n = sizeof(recs) / sizeof(recs[0]);
	const char *want = "a.example.com. A 192.0.2.7|b.example.com. AAAA 2001:db8::1|"
			   "c.example.com. A 192.0.2.9|example.com. NS ns1.example.com.|"
			   "example.com. SOA ns1.example.com. hm.example.com. 44 3600 600 "
			   "86400 300";
	bool inc;
	char *after;
	/* a first message holding the new SOA alone reads as "nothing newer", whose serial
	 * is not the copy's: the caller reads the zone by AXFR (servers fill messages) */
	assert_int_equal(ixfr_apply(recs, n, 1, false, &inc, &after), PRISM_ECONFLICT);
	for (size_t per = 2; per <= n; per += 3) {
		assert_int_equal(ixfr_apply(recs, n, per, false, &inc, &after), 0);
		assert_true(inc);
		assert_string_equal(after, want);
		free(after);
	}
	assert_int_equal(ixfr_apply(recs, n, n, true, &inc, &after), 0); /* signed */
	assert_string_equal(after, want);
	free(after);
}

static void test_ixfr_current_and_full(void **state)
{
	(void)state;
	bool inc;
	char *after;
	/* nothing newer: the SOA alone */
	const char *same[] = {SOA(42)};
	assert_int_equal(ixfr_apply(same, 1, 1, true, &inc, &after), 0);
	assert_true(inc);
	assert_non_null(strstr(after, "b.example.com. A 192.0.2.3"));
	free(after);
	/* the SOA alone, but an older serial (the zone went back): not a copy any more */
	const char *older[] = {SOA(40)};
	assert_int_equal(ixfr_apply(older, 1, 1, true, &inc, &after), PRISM_ECONFLICT);
	/* the whole zone (AXFR-style): taken as it is */
	const char *full[] = {SOA(50), "example.com. 300 IN NS ns1.example.com.",
			      "z.example.com. 60 IN A 192.0.2.50", SOA(50)};
	assert_int_equal(ixfr_apply(full, 4, 2, false, &inc, &after), 0);
	assert_false(inc);
	assert_string_equal(after, "example.com. NS ns1.example.com.|"
				   "example.com. SOA ns1.example.com. hm.example.com. 50 3600 "
				   "600 86400 300|z.example.com. A 192.0.2.50");
	free(after);
}

static void test_ixfr_inconsistent(void **state)
{
	(void)state;
	bool inc;
	char *after;
	/* a deletion of a record the copy does not hold */
	const char *notheld[] = {SOA(43), SOA(42), "x.example.com. 60 IN A 192.0.2.99", SOA(43),
				 SOA(43)};
	assert_int_equal(ixfr_apply(notheld, 5, 5, false, &inc, &after), PRISM_ECONFLICT);
	/* an addition of one it holds */
	const char *held[] = {SOA(43), SOA(42), SOA(43), "a.example.com. 60 IN A 192.0.2.1",
			      SOA(43)};
	assert_int_equal(ixfr_apply(held, 5, 5, false, &inc, &after), PRISM_ECONFLICT);
	/* a sequence that does not start where the last one ended (43, then from 45) */
	const char *gap[] = {SOA(46), SOA(42), SOA(43), SOA(45), SOA(46), SOA(46)};
	assert_int_equal(ixfr_apply(gap, 6, 6, false, &inc, &after), PRISM_ECONFLICT);
	/* a whole zone whose closing SOA is another version: not a transfer */
	struct prism_dns_msg q;
	assert_int_equal(prism_ixfr_query_build("example.com.", 42, NULL, 9, &q), 0);
	struct prism_axfr *d = prism_ixfr_new("example.com.", &q, NULL, 42);
	const char *mixed[] = {SOA(50), "example.com. 300 IN NS ns1.example.com.", SOA(51)};
	transfer(&q, d, mixed, 3, 3, PRISM_EPROTO);
	prism_axfr_free(d);
	/* applying to something that is not a complete copy */
	d = prism_ixfr_new("example.com.", &q, NULL, 42);
	struct prism_axfr *c = held_copy();
	assert_int_equal(prism_ixfr_apply(c, d), PRISM_EINVAL);
	assert_int_equal(prism_ixfr_apply(d, c), PRISM_EINVAL);
	prism_axfr_free(c);
	prism_axfr_free(d);
	prism_dns_msg_free(&q);
}

static int count_name(void *arg, const char *name, const char *type)
{
	size_t *n = arg;
	n[0]++;
	if (strcmp(name, "mine.example.com.") == 0 && strcmp(type, "A") == 0)
		n[1]++;
	return 0;
}

/* A presence read: names and types of every record, unsigned, no data kept. */
static void test_axfr_names_only(void **state)
{
	(void)state;
	struct prism_dns_msg q;
	assert_int_equal(prism_query_build("example.com.", PRISM_DNSQ_AXFR, NULL, 7, &q), 0);
	ldns_rr_list *l = ldns_rr_list_new();
	const char *recs[] = {
		"example.com. 300 IN SOA ns1.example.com. hm.example.com. 9 3600 600 86400 300",
		"Mine.example.com. 60 IN A 192.0.2.1",
		"mine.example.com. 60 IN A 192.0.2.2",
		"alias.example.com. 60 IN CNAME mine.example.com.",
		"example.com. 300 IN SOA ns1.example.com. hm.example.com. 9 3600 600 86400 300",
	};
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		ldns_rr_list_push_rr(l, rr(recs[i]));
	size_t len;
	uint8_t *w = answer(&q, 0, NULL, l, &len);
	struct prism_axfr *x = prism_axfr_new("example.com.", &q, NULL);
	prism_axfr_names_only(x);
	size_t n[2] = {0, 0};
	assert_int_equal(prism_axfr_names(x, count_name, n), PRISM_EINVAL); /* not complete */
	struct prism_dns_answer ans;
	assert_int_equal(prism_axfr_feed(x, w, len, &ans), 1);
	assert_int_equal(prism_axfr_names(x, count_name, n), 0);
	assert_int_equal(n[0], 4); /* SOA once, two A (one name, lower-cased), the CNAME */
	assert_int_equal(n[1], 2);
	/* without the data, nothing that needs it */
	struct prism_zone_data data;
	assert_int_equal(prism_axfr_records(x, &data), PRISM_EINVAL);
	struct prism_actual_zone z;
	assert_int_equal(prism_axfr_zone(x, "prism", &z, NULL), PRISM_EINVAL);
	prism_axfr_free(x);
	free(w);
	prism_dns_msg_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_owner_name),
		cmocka_unit_test(test_tsig_check),
		cmocka_unit_test(test_update_content),
		cmocka_unit_test(test_update_too_big),
		cmocka_unit_test(test_algorithms),
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_axfr),
		cmocka_unit_test(test_axfr_names_only),
		cmocka_unit_test(test_ixfr_query),
		cmocka_unit_test(test_ixfr_differences),
		cmocka_unit_test(test_ixfr_current_and_full),
		cmocka_unit_test(test_ixfr_inconsistent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
