/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Texts come from the library's malloc(): released with the real free(), defined before
 * cmocka.h turns free into test_free under UNIT_TESTING. */
static void lib_free(void *p)
{
	free(p);
}

#include <cmocka.h>

#include "core/error.h"
#include "core/zonefile.h"

static void test_null_args(void **state)
{
	(void)state;
	struct prism_zone_data d;
	char err[128], *text;
	const char *ns[] = {NULL};
	assert_int_equal(prism_zonefile_parse(NULL, 0, "x.", &d, err, sizeof(err)), PRISM_EINVAL);
	assert_int_equal(prism_pdns_zone_records(NULL, 0, &d), PRISM_EINVAL);
	assert_int_equal(prism_zonefile_write(NULL, 1, "soa", ns, NULL, 0, &text), PRISM_EINVAL);
	prism_zone_data_free(NULL);
}

static const struct prism_zone_rr *find(const struct prism_zone_data *d, const char *name,
					const char *type)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->v[i].name, name) == 0 && strcmp(d->v[i].type, type) == 0)
			return &d->v[i];
	return NULL;
}

static void test_write_then_parse(void **state)
{
	(void)state;
	const char *ns[] = {"ns1.example.com.", "ns2.example.net.", NULL};
	struct prism_export_rrset v[] = {
		{"www.example.com.", "A", 60, "192.0.2.1\n192.0.2.2"},
		{"example.com.", "TXT", 300, "\"a b\" \"c\""},
		{"example.com.", "MX", 300, "10 mail.example.com."},
	};
	char *text = NULL, err[128];
	assert_int_equal(prism_zonefile_write("example.com.", 300,
					      "ns1.example.com. hostmaster.example.com. 1 2 3 4 5",
					      ns, v, 3, &text),
			 0);
	assert_non_null(strstr(text, "www.example.com. 60 IN A 192.0.2.2\n"));
	struct prism_zone_data d;
	assert_int_equal(
		prism_zonefile_parse(text, strlen(text), "example.com.", &d, err, sizeof(err)), 0);
	lib_free(text);
	assert_int_equal(d.n, 7);
	assert_string_equal(find(&d, "example.com.", "SOA")->content,
			    "ns1.example.com. hostmaster.example.com. 1 2 3 4 5");
	assert_string_equal(find(&d, "example.com.", "TXT")->content, "\"a b\" \"c\"");
	assert_int_equal(find(&d, "www.example.com.", "A")->ttl, 60);
	prism_zone_data_free(&d);
}

static void test_parse_errors(void **state)
{
	(void)state;
	struct prism_zone_data d;
	char err[128];
	const char *inc = "  $include /etc/passwd\n";
	assert_int_equal(prism_zonefile_parse(inc, strlen(inc), "x.", &d, err, sizeof(err)),
			 PRISM_EMSG);
	assert_non_null(strstr(err, "$INCLUDE"));
	const char *bad = "@ IN SOA a b 1 1 1 1 1\nwww IN A 1.2.3\n";
	assert_int_equal(prism_zonefile_parse(bad, strlen(bad), "x.", &d, err, sizeof(err)),
			 PRISM_EMSG);
	assert_non_null(strstr(err, "line 2"));
	assert_int_equal(prism_zonefile_parse("", 0, "x.", &d, err, sizeof(err)), PRISM_EMSG);
	const char nul[] = "@ IN A 1.2.3.4\0";
	assert_int_equal(
		prism_zonefile_parse(nul, sizeof(nul) - 1 + 1, "x.", &d, err, sizeof(err)),
		PRISM_EMSG);
}

static void test_pdns_records(void **state)
{
	(void)state;
	const char *body = "{\"rrsets\":[{\"name\":\"WWW.x.\",\"type\":\"A\",\"ttl\":5,"
			   "\"records\":[{\"content\":\"192.0.2.1\",\"disabled\":false},"
			   "{\"content\":\"192.0.2.2\",\"disabled\":true}]}]}";
	struct prism_zone_data d;
	assert_int_equal(prism_pdns_zone_records(body, strlen(body), &d), 0);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].name, "www.x.");
	assert_string_equal(d.v[0].content, "192.0.2.1");
	prism_zone_data_free(&d);
	assert_int_equal(prism_pdns_zone_records("{}", 2, &d), PRISM_EPROTO);
	const char *nottl = "{\"rrsets\":[{\"name\":\"x.\",\"type\":\"A\",\"records\":[]}]}";
	assert_int_equal(prism_pdns_zone_records(nottl, strlen(nottl), &d), PRISM_EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_write_then_parse),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_pdns_records),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
