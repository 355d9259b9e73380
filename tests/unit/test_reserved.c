/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/error.h"
#include "core/reserved.h"

static void test_null(void **state)
{
	(void)state;
	assert_int_equal(prism_reserved_new(NULL, NULL, NULL), PRISM_EINVAL);
	prism_reserved_free(NULL);
	/* no set: the apex and the ns names are still reserved */
	assert_true(prism_reserved_match(NULL, "example.com.", "example.com."));
	assert_true(prism_reserved_match(NULL, "ns2.example.com.", "example.com."));
	assert_false(prism_reserved_match(NULL, "web.example.com.", "example.com."));
	assert_false(prism_reserved_match(NULL, NULL, "example.com."));
	assert_false(prism_reserved_host(NULL, NULL, "example.com."));
}

static void test_set(void **state)
{
	(void)state;
	char *ns1[] = {"dns-a.example.com.", "dns-b.other.org.", NULL};
	char *ns2[] = {"ns1.lab.test.", NULL};
	struct prism_config_zone z1 = {.name = "example.com.", .nameservers = ns1};
	struct prism_config_zone z2 = {.name = "lab.test.", .nameservers = ns2};
	const struct prism_config_zone *zones[] = {&z1, &z2, NULL};
	const char *names[] = {"gateway", "www", "mail.internal", "fixed.lab.test.", NULL};
	struct prism_reserved *r;
	assert_int_equal(prism_reserved_new(names, zones, &r), 0);
	const char *yes[][2] = {
		{"example.com.", "example.com."},    /* apex */
		{"ns.example.com.", "example.com."}, /* ns names */
		{"ns12.lab.test.", "lab.test."},
		{"gateway.example.com.", "example.com."}, /* the operator's, in every zone */
		{"www.lab.test.", "lab.test."},
		{"mail.internal.lab.test.", "lab.test."},
		{"fixed.lab.test.", "lab.test."},	/* an FQDN */
		{"dns-a.example.com.", "example.com."}, /* the zones' name servers */
		{"dns-b.other.org.", "other.org."},
		{"example.com.example.com.", "example.com."}, /* spells the zone's name */
	};
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(prism_reserved_match(r, yes[i][0], yes[i][1]));
	const char *no[][2] = {
		{"web.example.com.", "example.com."},	  {"nsx.example.com.", "example.com."},
		{"ns1.web.example.com.", "example.com."}, /* not directly below the apex */
		{"www2.lab.test.", "lab.test."},	  {"dns-a.lab.test.", "lab.test."},
		{"fixed.example.com.", "example.com."},	  {"gateway.lab.test.other.", "other."},
	};
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(prism_reserved_match(r, no[i][0], no[i][1]));
	/* an agent's hostname in its zone */
	assert_true(prism_reserved_host(r, "dns-a", "example.com."));
	assert_true(prism_reserved_host(r, "example.com", "example.com."));
	assert_true(prism_reserved_host(r, "ns", "example.com."));
	assert_false(prism_reserved_host(r, "web1", "example.com."));
	/* a reload swaps the names in place */
	const char *fewer[] = {"printer", NULL};
	struct prism_reserved *n;
	assert_int_equal(prism_reserved_new(fewer, NULL, &n), 0);
	prism_reserved_swap(r, n);
	prism_reserved_free(n);
	assert_true(prism_reserved_host(r, "printer", "example.com."));
	assert_false(prism_reserved_host(r, "gateway", "example.com."));
	assert_false(prism_reserved_host(r, "dns-a", "example.com."));
	prism_reserved_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
