/* SPDX-License-Identifier: MIT */
#include <ldns/ldns.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/dnsprobe.h"
#include "core/error.h"

/* A response to @p q (len n) with one SOA answer for example.com., serial 2024010199. */
static size_t make_answer(uint8_t *q, size_t n, uint8_t *out)
{
	static const uint8_t soa[] = {
		0xc0, 0x0c, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00,
		0x0e, 0x10, 0x00, 0x18, 0x02, 'n',  's',  0x00, /* mname "ns." */
		0x02, 'h',  'm',  0x00,				/* rname "hm." */
		0x78, 0xa3, 0xf1, 0xd7,				/* serial 2024010199 */
		0x00, 0x00, 0x0e, 0x10, 0x00, 0x00, 0x0e, 0x10,
		0x00, 0x00, 0x0e, 0x10, 0x00, 0x00, 0x0e, 0x10,
	};
	memcpy(out, q, n);
	out[2] |= 0x84; /* QR, AA */
	out[7] = 1;	/* ANCOUNT */
	memcpy(out + n, soa, sizeof(soa));
	return n + sizeof(soa);
}

static void test_query_and_answer(void **state)
{
	(void)state;
	uint8_t q[512], a[600];
	size_t n;
	assert_int_equal(prism_soa_query("example.com.", 0x1234, q, sizeof(q), &n), 0);
	assert_true(n > 12);
	assert_int_equal(q[0], 0x12);
	assert_int_equal(q[1], 0x34);
	size_t an = make_answer(q, n, a);
	uint16_t id;
	int rcode;
	uint32_t serial = 0;
	assert_int_equal(prism_soa_answer(a, an, "example.com.", &id, &rcode, &serial), 0);
	assert_int_equal(id, 0x1234);
	assert_int_equal(rcode, 0);
	assert_int_equal(serial, 2024010199u);
	/* another zone's SOA is not this one's */
	assert_int_equal(prism_soa_answer(a, an, "example.net.", &id, &rcode, &serial),
			 PRISM_ENOTFOUND);
	/* the query itself is not an answer */
	assert_int_equal(prism_soa_answer(q, n, "example.com.", &id, &rcode, &serial),
			 PRISM_EPROTO);
	assert_int_equal(prism_soa_answer(a, 5, "example.com.", &id, &rcode, &serial),
			 PRISM_EPROTO);
}

/* An answer to @p q with one RR of @p type at the question's name (compressed pointer). */
static size_t answer_with(const uint8_t *q, size_t n, uint8_t *out, uint16_t type,
			  const uint8_t *rdata, size_t rdlen, uint8_t rcode)
{
	memcpy(out, q, n);
	out[2] |= 0x84; /* QR, AA */
	out[3] = (uint8_t)((out[3] & 0xf0) | rcode);
	if (type == 0)
		return n;
	out[7] = 1;
	uint8_t rr[] = {
		0xc0, 0x0c, (uint8_t)(type >> 8), (uint8_t)type, 0x00, 0x01, 0x00, 0x00, 0x00,
		0x3c, 0x00, (uint8_t)rdlen};
	memcpy(out + n, rr, sizeof(rr));
	memcpy(out + n + sizeof(rr), rdata, rdlen);
	return n + sizeof(rr) + rdlen;
}

static void test_rr_presence(void **state)
{
	(void)state;
	static const uint8_t ip[] = {192, 0, 2, 1};
	static const uint8_t target[] = {1, 'x', 0};
	uint8_t q[512], a[600];
	size_t n, an;
	uint16_t id;
	int rcode;
	bool present;
	assert_int_equal(prism_rr_query("h.example.com.", "A", 0x4242, q, sizeof(q), &n), 0);
	/* an A at the name */
	an = answer_with(q, n, a, 1, ip, sizeof(ip), 0);
	assert_int_equal(prism_rr_answer(a, an, "h.example.com.", "A", &id, &rcode, &present), 0);
	assert_int_equal(id, 0x4242);
	assert_true(present);
	/* a CNAME at the name counts too */
	an = answer_with(q, n, a, 5, target, sizeof(target), 0);
	assert_int_equal(prism_rr_answer(a, an, "h.example.com.", "A", &id, &rcode, &present), 0);
	assert_true(present);
	/* NXDOMAIN, and NOERROR without an answer: nothing there */
	an = answer_with(q, n, a, 0, NULL, 0, 3);
	assert_int_equal(prism_rr_answer(a, an, "h.example.com.", "A", &id, &rcode, &present), 0);
	assert_int_equal(rcode, 3);
	assert_false(present);
	an = answer_with(q, n, a, 0, NULL, 0, 0);
	assert_int_equal(prism_rr_answer(a, an, "h.example.com.", "A", &id, &rcode, &present), 0);
	assert_false(present);
	/* truncated: may hide one */
	a[2] |= 0x02;
	assert_int_equal(prism_rr_answer(a, an, "h.example.com.", "A", &id, &rcode, &present), 0);
	assert_true(present);
	/* an answer to another question is refused */
	assert_int_equal(prism_rr_answer(a, an, "g.example.com.", "A", &id, &rcode, &present),
			 PRISM_EPROTO);
	assert_int_equal(prism_rr_answer(a, an, "h.example.com.", "AAAA", &id, &rcode, &present),
			 PRISM_EPROTO);
	assert_int_equal(prism_rr_answer(q, n, "h.example.com.", "A", &id, &rcode, &present),
			 PRISM_EPROTO);
	assert_int_equal(prism_rr_query("h.example.com.", "NOTATYPE", 1, q, sizeof(q), &n),
			 PRISM_EINVAL);
	assert_int_equal(prism_rr_answer(NULL, 0, "x.", "A", &id, &rcode, &present), PRISM_EINVAL);
}

/* The hand-made question is byte for byte what a whole ldns packet gives. */
static void test_query_bytes(void **state)
{
	(void)state;
	static const char *const names[] = {"h.example.com.", "example.com.", "a\\.b.example.",
					    "x-1.sub.zone.test", "."};
	static const char *const types[] = {"A", "AAAA", "SOA", "CNAME", "TXT"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint8_t q[512];
		size_t n;
		assert_int_equal(prism_rr_query(names[i], types[i], 0xbeef, q, sizeof(q), &n), 0);
		ldns_pkt *p = ldns_pkt_query_new(ldns_dname_new_frm_str(names[i]),
						 ldns_get_rr_type_by_name(types[i]),
						 LDNS_RR_CLASS_IN, 0);
		assert_non_null(p);
		ldns_pkt_set_id(p, 0xbeef);
		ldns_pkt_set_rd(p, false);
		/* ldns's own buffer: its memory is not cmocka's to check */
		ldns_buffer *wire = ldns_buffer_new(512);
		assert_non_null(wire);
		assert_int_equal(ldns_pkt2buffer_wire(wire, p), LDNS_STATUS_OK);
		assert_int_equal(n, ldns_buffer_position(wire));
		assert_memory_equal(q, ldns_buffer_begin(wire), n);
		ldns_buffer_free(wire);
		ldns_pkt_free(p);
		/* one byte short of room */
		assert_int_equal(prism_rr_query(names[i], types[i], 1, q, n - 1, &n),
				 PRISM_ETOOBIG);
	}
}

static void test_bad_args(void **state)
{
	(void)state;
	uint8_t q[16];
	size_t n;
	assert_int_equal(prism_soa_query(NULL, 1, q, sizeof(q), &n), PRISM_EINVAL);
	assert_int_equal(prism_soa_query("example.com.", 1, q, 8, &n), PRISM_ETOOBIG);
	uint16_t id;
	int rc;
	uint32_t s;
	assert_int_equal(prism_soa_answer(NULL, 0, "x.", &id, &rc, &s), PRISM_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_and_answer),
		cmocka_unit_test(test_rr_presence),
		cmocka_unit_test(test_query_bytes),
		cmocka_unit_test(test_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
