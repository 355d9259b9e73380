/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
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
		0xc0, 0x0c, 0x00, 0x06, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x18,
		0x02, 'n', 's', 0x00,           /* mname "ns." */
		0x02, 'h', 'm', 0x00,           /* rname "hm." */
		0x78, 0xa3, 0xf1, 0xd7,         /* serial 2024010199 */
		0x00, 0x00, 0x0e, 0x10, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x00, 0x0e, 0x10,
		0x00, 0x00, 0x0e, 0x10,
	};
	memcpy(out, q, n);
	out[2] |= 0x84; /* QR, AA */
	out[7] = 1;     /* ANCOUNT */
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
		cmocka_unit_test(test_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
