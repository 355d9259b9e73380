/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the rendered text comes from the library's realloc, not cmocka's allocator */
static void lib_free(void *p)
{
	free(p);
}

#include <cmocka.h>

#include "core/error.h"
#include "core/inventory.h"

static void test_new(void **state)
{
	struct prism_inventory *inv = NULL;
	char err[256];
	(void)state;
	assert_int_equal(prism_inventory_new(NULL, NULL, &inv, err, sizeof(err)), PRISM_EINVAL);
	assert_int_equal(prism_inventory_new("(", NULL, &inv, err, sizeof(err)), PRISM_EINVAL);
	assert_non_null(strstr(err, "not a regular expression"));
	assert_int_equal(prism_inventory_new("^(a)-", "{2}", &inv, err, sizeof(err)),
			 PRISM_EINVAL);
	assert_int_equal(prism_inventory_new("^(a)-", "x}", &inv, err, sizeof(err)), PRISM_EINVAL);
	assert_int_equal(prism_inventory_new("^(a)-", "", &inv, err, sizeof(err)), PRISM_EINVAL);
	assert_null(inv);
	prism_inventory_free(NULL);
}

static void test_groups(void **state)
{
	struct prism_inventory *inv;
	char err[256];
	(void)state;
	assert_int_equal(
		prism_inventory_new("^([a-z0-9]+)-(cab[0-9]+)-", NULL, &inv, err, sizeof(err)), 0);
	assert_int_equal(prism_inventory_add(inv, "us3-cab10-ru20-idrac.dc.example",
					     "us3-cab10-ru20-idrac.dc.example", "10.0.1.20",
					     "kea-reservation"),
			 0);
	assert_int_equal(prism_inventory_add(inv, "US3-CAB10-ru21-ilo", "us3-cab10-ru21-ilo.dc",
					     "10.0.1.21", "kea-reservation"),
			 0);
	assert_int_equal(prism_inventory_add(inv, "eu1-cab2-ru1-bmc", "eu1-cab2-ru1-bmc.dc",
					     "2001:db8::1", "kea-lease"),
			 0);
	assert_int_equal(prism_inventory_add(inv, "web1", "web1.example", NULL, "agent"),
			 PRISM_ENOTFOUND);
	assert_int_equal(prism_inventory_ngroups(inv), 3);
	const char *name;
	size_t n, len;
	char *y;
	/* name order: eu1_cab2, ungrouped, us3_cab10 */
	assert_int_equal(prism_inventory_render(inv, 0, &name, &n, &y, &len), 0);
	assert_string_equal(name, "eu1_cab2");
	assert_int_equal(n, 1);
	assert_string_equal(
		y, "all:\n  children:\n    eu1_cab2:\n      hosts:\n"
		   "        eu1-cab2-ru1-bmc.dc:\n          ansible_host: \"2001:db8::1\"\n"
		   "          prism_source: \"kea-lease\"\n");
	assert_int_equal(len, strlen(y));
	lib_free(y);
	assert_int_equal(prism_inventory_render(inv, 1, &name, &n, &y, &len), 0);
	assert_string_equal(name, "ungrouped");
	assert_string_equal(y,
			    "all:\n  hosts:\n    web1.example:\n      prism_source: \"agent\"\n");
	lib_free(y);
	assert_int_equal(prism_inventory_render(inv, 2, &name, &n, &y, &len), 0);
	assert_string_equal(name, "us3_cab10");
	assert_int_equal(n, 2);
	assert_non_null(strstr(y, "    us3_cab10:\n      hosts:\n        "
				  "us3-cab10-ru20-idrac.dc.example:\n"));
	assert_non_null(
		strstr(y, "us3-cab10-ru21-ilo.dc:\n          ansible_host: \"10.0.1.21\""));
	lib_free(y);
	assert_int_equal(prism_inventory_render(inv, 3, &name, &n, &y, &len), PRISM_ENOTFOUND);
	prism_inventory_free(inv);
}

static void test_template(void **state)
{
	struct prism_inventory *inv;
	char err[256];
	const char *name;
	size_t n, len;
	char *y;
	(void)state;
	assert_int_equal(prism_inventory_new("^([a-z]+)([0-9]+)-(cab[0-9]+)", "site-{1}{2}.{3}",
					     &inv, err, sizeof(err)),
			 0);
	assert_int_equal(prism_inventory_add(inv, "us3-cab10-x", "a", NULL, NULL), 0);
	assert_int_equal(prism_inventory_render(inv, 0, &name, &n, &y, &len), 0);
	assert_string_equal(name, "site_us3_cab10"); /* '-' and '.' are not for Ansible */
	lib_free(y);
	prism_inventory_free(inv);
	/* no captures: the whole match */
	assert_int_equal(prism_inventory_new("^[a-z]+[0-9]", NULL, &inv, err, sizeof(err)), 0);
	assert_int_equal(prism_inventory_add(inv, "rack7-x", "rack7-x", NULL, NULL), 0);
	assert_int_equal(prism_inventory_render(inv, 0, &name, &n, &y, &len), 0);
	assert_string_equal(name, "rack7");
	lib_free(y);
	/* YAML-special text is quoted */
	assert_int_equal(prism_inventory_add(inv, "rack8", "rack8", "1:2", "a: b"), 0);
	assert_int_equal(prism_inventory_render(inv, 1, &name, &n, &y, &len), 0);
	assert_non_null(strstr(y, "ansible_host: \"1:2\""));
	assert_non_null(strstr(y, "prism_source: \"a: b\""));
	lib_free(y);
	prism_inventory_free(inv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_template),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
