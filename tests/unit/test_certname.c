/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/certname.h"

static const char *const zones[] = {"managed.prism.local.", "lab.example", NULL};

static void test_null(void **state)
{
	(void)state;
	assert_false(prism_cert_name_allows(NULL, "web1", zones));
	assert_false(prism_cert_name_allows("web1", NULL, zones));
	assert_true(prism_cert_name_allows("web1", "web1", NULL));
}

static void test_exact_any_case(void **state)
{
	(void)state;
	assert_true(prism_cert_name_allows("web1", "web1", zones));
	assert_true(prism_cert_name_allows("WEB1", "web1", zones));
	assert_true(prism_cert_name_allows("db.rack3", "db.rack3", zones));
	assert_false(prism_cert_name_allows("web1", "web2", zones));
	assert_false(prism_cert_name_allows("web1", "web10", zones));
	assert_false(prism_cert_name_allows("web10", "web1", zones));
}

static void test_zone_suffix(void **state)
{
	(void)state;
	assert_true(prism_cert_name_allows("web1.managed.prism.local", "web1", zones));
	assert_true(prism_cert_name_allows("Web1.Managed.Prism.Local.", "web1", zones));
	assert_true(prism_cert_name_allows("web1", "web1.lab.example", zones));
	assert_true(prism_cert_name_allows("web1.lab.example", "web1.managed.prism.local", zones));
	/* not a managed zone: the suffix is part of the name */
	assert_false(prism_cert_name_allows("web1.other.example", "web1", zones));
	/* the zone itself names no host */
	assert_false(prism_cert_name_allows("lab.example", "web1", zones));
	/* a suffix must start at a label */
	assert_false(prism_cert_name_allows("web1xlab.example", "web1", zones));
}

static void test_not_a_host(void **state)
{
	(void)state;
	assert_false(prism_cert_name_allows("*.managed.prism.local", "web1", zones));
	assert_false(prism_cert_name_allows("*", "web1", zones));
	assert_false(prism_cert_name_allows("", "web1", zones));
	assert_false(prism_cert_name_allows(".", "web1", zones));
	assert_false(prism_cert_name_allows("web1\n", "web1", zones));
	assert_false(prism_cert_name_allows("web 1", "web", zones));
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
