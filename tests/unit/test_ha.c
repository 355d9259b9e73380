/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "core/ha.h"

static void test_ids(void **state)
{
	char buf[PRISM_HA_ID_MAX + 1];
	(void)state;
	assert_true(prism_ha_id_ok("host1:8443"));
	assert_true(prism_ha_id_ok("[::1]:8080"));
	assert_false(prism_ha_id_ok(""));
	assert_false(prism_ha_id_ok(NULL));
	assert_false(prism_ha_id_ok("a b"));
	assert_false(prism_ha_id_ok("a'b"));
	memset(buf, 'a', PRISM_HA_ID_MAX);
	buf[PRISM_HA_ID_MAX] = '\0';
	assert_true(prism_ha_id_ok(buf));

	assert_int_equal(prism_ha_default_id("host1", 8443, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "host1:8443");
	assert_int_equal(prism_ha_default_id("we ird/host", 80, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "we-ird-host:80");
	assert_true(prism_ha_id_ok(buf));
	assert_int_equal(prism_ha_default_id("", 80, buf, sizeof(buf)), PRISM_EINVAL);
	assert_int_equal(prism_ha_default_id("host1", 8443, buf, 5), PRISM_EINVAL);
	assert_string_equal(buf, "");
}

static void test_claim_names(void **state)
{
	char buf[PRISM_HA_CLAIM_MAX];
	(void)state;
	assert_int_equal(prism_ha_target_claim("pdns1", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "target:pdns1");
	assert_string_equal(prism_ha_claim_target(buf), "pdns1");
	assert_null(prism_ha_claim_target("target:"));
	assert_null(prism_ha_claim_target(PRISM_HA_CLAIM_RECONCILER));
	assert_int_equal(prism_ha_target_claim("", buf, sizeof(buf)), PRISM_EINVAL);
	assert_int_equal(prism_ha_target_claim("pdns1", buf, 8), PRISM_EINVAL);
}

/* Claims spread over the live instances, and when one goes only its claims move. */
static void test_rendezvous(void **state)
{
	const char *three[] = {"a:1", "b:1", "c:1"};
	const char *two[] = {"a:1", "c:1"};
	size_t count[3] = {0, 0, 0};
	char claim[32];
	(void)state;
	assert_int_equal(prism_ha_owner("x", three, 0), SIZE_MAX);
	assert_int_equal(prism_ha_owner("x", three, 1), 0);
	for (int i = 0; i < 300; i++) {
		snprintf(claim, sizeof(claim), "target:t%d", i);
		size_t o3 = prism_ha_owner(claim, three, 3);
		assert_true(o3 < 3);
		count[o3]++;
		size_t o2 = prism_ha_owner(claim, two, 2);
		if (o3 != 1) /* not b's: stays where it was */
			assert_string_equal(two[o2], three[o3]);
		/* the order of the list does not matter */
		const char *rev[] = {"c:1", "b:1", "a:1"};
		assert_string_equal(rev[prism_ha_owner(claim, rev, 3)], three[o3]);
	}
	for (int i = 0; i < 3; i++) /* roughly even: 100 each, none below 60 */
		assert_true(count[i] > 60);
	/* stable across builds: every instance must compute the same */
	assert_true(prism_ha_weight("reconciler", "a:1") == prism_ha_weight("reconciler", "a:1"));
	assert_true(prism_ha_weight("ab", "c") != prism_ha_weight("a", "bc"));
}

static void test_fencing(void **state)
{
	(void)state;
	assert_int_equal(prism_ha_renew_ms(10), 3333);
	assert_int_equal(prism_ha_skew_ms(10), 500);
	assert_int_equal(prism_ha_skew_ms(1), 100);
	/* renewed at 1000 ms, 10 s lease, pushes of up to 5 s: start none after 5500 */
	assert_int_equal(prism_ha_valid_until(1000, 10, 5000), 1000 + 10000 - 500 - 5000);
	/* and the last push started then is over before the database frees the claim */
	assert_true(prism_ha_valid_until(1000, 10, 5000) + 5000 < 1000 + 10000);
	assert_int_equal(prism_ha_valid_until(1000, 10, 9500), 0);
	assert_int_equal(prism_ha_valid_until(1000, 3, 0), 1000 + 3000 - 150);
}

static void test_next_tick(void **state)
{
	(void)state;
	assert_int_equal(prism_ha_next_tick(1000, 9, 0), 4000);
	assert_int_equal(prism_ha_next_tick(1000, 9, 2000), 2005);
	assert_int_equal(prism_ha_next_tick(1000, 9, 8000), 4000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids),	   cmocka_unit_test(test_claim_names),
		cmocka_unit_test(test_rendezvous), cmocka_unit_test(test_fencing),
		cmocka_unit_test(test_next_tick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
