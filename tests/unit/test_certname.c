/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/certname.h"

static const char zone[] = "managed.prism.local."; /* the agents' zone */

static void test_null(void **state)
{
	(void)state;
	assert_false(prism_cert_name_allows(NULL, "web1", zone));
	assert_false(prism_cert_name_allows("web1", NULL, zone));
	assert_true(prism_cert_name_allows("web1", "web1", NULL));
}

static void test_exact_any_case(void **state)
{
	(void)state;
	assert_true(prism_cert_name_allows("web1", "web1", zone));
	assert_true(prism_cert_name_allows("WEB1", "web1", zone));
	assert_true(prism_cert_name_allows("db.rack3", "db.rack3", zone));
	assert_false(prism_cert_name_allows("web1", "web2", zone));
	assert_false(prism_cert_name_allows("web1", "web10", zone));
	assert_false(prism_cert_name_allows("web10", "web1", zone));
}

static void test_zone_suffix(void **state)
{
	(void)state;
	assert_true(prism_cert_name_allows("web1.managed.prism.local", "web1", zone));
	assert_true(prism_cert_name_allows("Web1.Managed.Prism.Local.", "web1", zone));
	assert_true(prism_cert_name_allows("web1", "web1", "managed.prism.local"));
	assert_true(prism_cert_name_allows("web1", "WEB1.managed.prism.local", zone));
	assert_true(prism_cert_name_allows("web1.managed.prism.local.", "web1.managed.prism.local",
					   zone));
	/* a name below the zone: the registration must name the same host */
	assert_true(prism_cert_name_allows("db.dev.managed.prism.local", "db.dev", zone));
	assert_false(prism_cert_name_allows("db.dev.managed.prism.local", "db", zone));
	/* another zone, even one Prism manages, grants nothing in the agents' zone */
	assert_false(prism_cert_name_allows("web1.lab.example", "web1", zone));
	assert_false(prism_cert_name_allows("web1.other.example", "web1", zone));
	/* the zone itself names no host of it */
	assert_false(prism_cert_name_allows("managed.prism.local", "web1", zone));
	/* a suffix must start at a label */
	assert_false(prism_cert_name_allows("web1xmanaged.prism.local", "web1", zone));
	/* without a zone (DNS off) the names are compared as they are */
	assert_false(prism_cert_name_allows("web1.managed.prism.local", "web1", NULL));
}

static void test_not_a_host(void **state)
{
	(void)state;
	assert_false(prism_cert_name_allows("*.managed.prism.local", "web1", zone));
	assert_false(prism_cert_name_allows("*", "web1", zone));
	assert_false(prism_cert_name_allows("", "web1", zone));
	assert_false(prism_cert_name_allows(".", "web1", zone));
	assert_false(prism_cert_name_allows("web1\n", "web1", zone));
	assert_false(prism_cert_name_allows("web 1", "web", zone));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_exact_any_case),
		cmocka_unit_test(test_zone_suffix),
		cmocka_unit_test(test_not_a_host),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
