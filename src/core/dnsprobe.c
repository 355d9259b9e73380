/* SPDX-License-Identifier: MIT */
/* SOA probes in wire format through ldns (the DNS field's own codec, not ours). */
#include <ldns/ldns.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnsprobe.h"
#include "core/error.h"

/* The question's name from ldns, the 12-byte header and the type by hand: a whole ldns packet
 * (its object, lists and wire buffer) cost each of the engine's ownership checks 1.5 us more
 * on the event loop. The bytes are the same (test_dnsprobe.c compares them). */
int prism_rr_query(const char *name, const char *type, uint16_t id, uint8_t *buf, size_t cap,
		   size_t *len)
{
	if (name == NULL || type == NULL || buf == NULL || len == NULL)
		return PRISM_EINVAL;
	ldns_rr_type t = ldns_get_rr_type_by_name(type);
	if (t == 0)
		return PRISM_EINVAL;
	ldns_rdf *owner = ldns_dname_new_frm_str(name);
	if (owner == NULL)
		return PRISM_EINVAL;
	size_t nl = ldns_rdf_size(owner), n = 12 + nl + 4;
	if (n > cap) {
		ldns_rdf_deep_free(owner);
		return PRISM_ETOOBIG;
	}
	memset(buf, 0, 12); /* QUERY, no recursion desired */
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = (uint8_t)id;
	buf[5] = 1; /* one question */
	memcpy(buf + 12, ldns_rdf_data(owner), nl);
	uint8_t *tail = buf + 12 + nl;
	tail[0] = (uint8_t)((unsigned)t >> 8);
	tail[1] = (uint8_t)t;
	tail[2] = 0;
	tail[3] = LDNS_RR_CLASS_IN;
	ldns_rdf_deep_free(owner);
	*len = n;
	return 0;
}

int prism_soa_query(const char *zone, uint16_t id, uint8_t *buf, size_t cap, size_t *len)
{
	return prism_rr_query(zone, "SOA", id, buf, cap, len);
}

/*
 * Only the question and answer sections matter here. ldns 1.8 leaks a TSIG record of the
 * additional section when a second one follows it, so the authority and additional counts
 * are zeroed in a copy and ldns never reads those sections.
 */
static int parse_answer(const uint8_t *buf, size_t len, ldns_pkt **out)
{
	if (len < 12 || len > 65535)
		return PRISM_EPROTO;
	uint8_t *wire = malloc(len);
	if (wire == NULL)
		return PRISM_ENOMEM;
	memcpy(wire, buf, len);
	memset(wire + 8, 0, 4);
	ldns_status st = ldns_wire2pkt(out, wire, len);
	free(wire);
	return st == LDNS_STATUS_OK ? 0 : PRISM_EPROTO;
}

int prism_soa_answer(const uint8_t *buf, size_t len, const char *zone, uint16_t *id, int *rcode,
		     uint32_t *serial)
{
	if (buf == NULL || zone == NULL || id == NULL || rcode == NULL || serial == NULL)
		return PRISM_EINVAL;
	ldns_pkt *p = NULL;
	int prc = parse_answer(buf, len, &p);
	if (prc != 0)
		return prc;
	*id = ldns_pkt_id(p);
	*rcode = ldns_pkt_get_rcode(p);
	int rc = PRISM_ENOTFOUND;
	ldns_rdf *want = ldns_dname_new_frm_str(zone);
	const ldns_rr_list *ans = ldns_pkt_answer(p);
	if (!ldns_pkt_qr(p)) {
		rc = PRISM_EPROTO;
	} else if (want != NULL) {
		for (size_t i = 0; i < ldns_rr_list_rr_count(ans); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(ans, i);
			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 3 ||
			    ldns_dname_compare(ldns_rr_owner(rr), want) != 0)
				continue;
			const ldns_rdf *s = ldns_rr_rdf(rr, 2);
			if (ldns_rdf_get_type(s) != LDNS_RDF_TYPE_INT32)
				continue;
			*serial = ldns_rdf2native_int32(s);
			rc = 0;
			break;
		}
	}
	ldns_rdf_deep_free(want);
	ldns_pkt_free(p);
	return rc;
}

int prism_rr_answer(const uint8_t *buf, size_t len, const char *name, const char *type,
		    uint16_t *id, int *rcode, bool *present)
{
	if (buf == NULL || name == NULL || type == NULL || id == NULL || rcode == NULL ||
	    present == NULL)
		return PRISM_EINVAL;
	ldns_rr_type t = ldns_get_rr_type_by_name(type);
	if (t == 0)
		return PRISM_EINVAL;
	ldns_pkt *p = NULL;
	int rc = parse_answer(buf, len, &p);
	if (rc != 0)
		return rc;
	*id = ldns_pkt_id(p);
	*rcode = ldns_pkt_get_rcode(p);
	ldns_rdf *want = ldns_dname_new_frm_str(name);
	const ldns_rr_list *qs = ldns_pkt_question(p);
	const ldns_rr *q = ldns_rr_list_rr_count(qs) == 1 ? ldns_rr_list_rr(qs, 0) : NULL;
	if (want == NULL) {
		rc = PRISM_ENOMEM;
	} else if (!ldns_pkt_qr(p) || q == NULL || ldns_rr_get_type(q) != t ||
		   ldns_dname_compare(ldns_rr_owner(q), want) != 0) {
		rc = PRISM_EPROTO; /* not the answer to this question */
	} else {
		/* a truncated answer may hide what is there: count it as something */
		*present = ldns_pkt_tc(p);
		const ldns_rr_list *ans = ldns_pkt_answer(p);
		for (size_t i = 0; i < ldns_rr_list_rr_count(ans) && !*present; i++) {
			const ldns_rr *rr = ldns_rr_list_rr(ans, i);
			ldns_rr_type rt = ldns_rr_get_type(rr);
			*present = (rt == t || rt == LDNS_RR_TYPE_CNAME) &&
				   ldns_dname_compare(ldns_rr_owner(rr), want) == 0;
		}
	}
	ldns_rdf_deep_free(want);
	ldns_pkt_free(p);
	return rc;
}
