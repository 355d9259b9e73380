/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/reserved.h"
#include "core/srcname.h"

static const char *const zones[] = {"dc.example.", "lab.dc.example.", "other.test.",
				    "10.in-addr.arpa.", NULL};

static int fqdn(const char *name, char *out, const char **zone, char *why)
{
	return prism_srcname_fqdn(name, strlen(name), "dc.example.", zones, NULL, out,
				  PRISM_DNAME_MAX + 1, zone, why, 96);
}

/* Kea's names meet the same reserved set as the agents' */
static void test_fqdn_reserved(void **state)
{
	(void)state;
	char out[PRISM_DNAME_MAX + 1], why[96];
	const char *z = NULL, *names[] = {"www", NULL};
	struct prism_reserved *r;
	assert_int_equal(prism_reserved_new(names, NULL, &r), 0);
	static const char *const refused[] = {"www", "WWW.lab.dc.example.", "ns1",
					      "ns.other.test"};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		assert_int_equal(prism_srcname_fqdn(refused[i], strlen(refused[i]), "dc.example.",
						    zones, r, out, sizeof(out), &z, why,
						    sizeof(why)),
				 PRISM_EMSG);
		assert_non_null(strstr(why, "reserved"));
		assert_string_equal(out, "");
	}
	assert_int_equal(prism_srcname_fqdn("www2", 4, "dc.example.", zones, r, out, sizeof(out),
					    &z, why, sizeof(why)),
			 0);
	assert_string_equal(out, "www2.dc.example.");
	prism_reserved_free(r);
}

static void test_fqdn_null(void **state)
{
	char out[PRISM_DNAME_MAX + 1];
	const char *z;
	(void)state;
	assert_int_equal(prism_srcname_fqdn(NULL, 0, "dc.example.", zones, NULL, out, sizeof(out),
					    &z, NULL, 0),
			 PRISM_EINVAL);
	assert_int_equal(
		prism_srcname_fqdn("a", 1, NULL, zones, NULL, out, sizeof(out), &z, NULL, 0),
		PRISM_EINVAL);
	assert_int_equal(
		prism_srcname_fqdn("a", 1, "dc.example.", zones, NULL, NULL, 0, &z, NULL, 0),
		PRISM_EINVAL);
	/* no zones at all: nothing is inside one */
	assert_int_equal(prism_srcname_fqdn("a", 1, "dc.example.", NULL, NULL, out, sizeof(out),
					    &z, NULL, 0),
			 PRISM_EMSG);
}

static void test_fqdn(void **state)
{
	char out[PRISM_DNAME_MAX + 1], why[96];
	const char *z = NULL;
	(void)state;
	/* short: qualified with the zone, lower-cased */
	assert_int_equal(fqdn("US3-Cab10-RU20-iDRAC", out, &z, why), 0);
	assert_string_equal(out, "us3-cab10-ru20-idrac.dc.example.");
	assert_string_equal(z, "dc.example.");
	/* FQDNs inside a managed zone are kept, in the longest zone */
	assert_int_equal(fqdn("web1.lab.dc.example", out, &z, why), 0);
	assert_string_equal(out, "web1.lab.dc.example.");
	assert_string_equal(z, "lab.dc.example.");
	assert_int_equal(fqdn("db.other.test.", out, &z, why), 0);
	assert_string_equal(out, "db.other.test.");
	assert_string_equal(z, "other.test.");
	/* outside: refused, not qualified */
	assert_int_equal(fqdn("web1.elsewhere.org", out, &z, why), PRISM_EMSG);
	assert_string_equal(why, "outside every managed zone");
	assert_string_equal(out, "");
	assert_int_equal(fqdn("web1.", out, &z, why), PRISM_EMSG); /* absolute, one label */
	assert_int_equal(fqdn("dc.example.", out, &z, why), PRISM_EMSG);
	assert_string_equal(why, "the zone apex is not a host name");
	/* labels like agent hostnames */
	assert_int_equal(fqdn("", out, &z, why), PRISM_EMSG);
	assert_string_equal(why, "empty");
	assert_int_equal(fqdn("bad_name", out, &z, why), PRISM_EMSG);
	assert_string_equal(why, "invalid character '_'");
	assert_int_equal(fqdn("-x", out, &z, why), PRISM_EMSG);
	assert_int_equal(fqdn("a..dc.example", out, &z, why), PRISM_EMSG);
	assert_int_equal(fqdn("..", out, &z, why), PRISM_EMSG);
	assert_int_equal(fqdn("host\xc3\xa9", out, &z, why), PRISM_EMSG);
	assert_int_equal(prism_srcname_fqdn("a\0b", 3, "dc.example.", zones, NULL, out,
					    sizeof(out), &z, why, sizeof(why)),
			 PRISM_EMSG);
	/* a label over 63 characters */
	char longlabel[80];
	memset(longlabel, 'a', 64);
	longlabel[64] = '\0';
	assert_int_equal(fqdn(longlabel, out, &z, why), PRISM_EMSG);
	assert_string_equal(why, "label too long (64 > 63)");
	longlabel[63] = '\0';
	assert_int_equal(fqdn(longlabel, out, &z, why), 0);
}

static void test_filter(void **state)
{
	static const char *const bmc[] = {"*-ilo", "*-idrac", "*-bmc", NULL};
	struct prism_name_filter *f = NULL;
	(void)state;
	assert_true(prism_name_filter_match(NULL, "anything"));
	assert_int_equal(prism_name_filter_new(NULL, NULL, NULL), PRISM_EINVAL);
	assert_int_equal(prism_name_filter_new(NULL, "(", &f), PRISM_EINVAL);
	assert_null(f);
	/* empty filter: everything */
	assert_int_equal(prism_name_filter_new(NULL, NULL, &f), 0);
	assert_true(prism_name_filter_match(f, "web1"));
	assert_false(prism_name_filter_match(f, NULL));
	prism_name_filter_free(f);
	/* BMC names, short or FQDN, any case */
	assert_int_equal(prism_name_filter_new(bmc, NULL, &f), 0);
	assert_true(prism_name_filter_match(f, "us3-cab10-ru20-idrac"));
	assert_true(prism_name_filter_match(f, "us3-cab10-ru20-iDRAC.dc.example"));
	assert_true(prism_name_filter_match(f, "srv-ILO"));
	assert_false(prism_name_filter_match(f, "us3-cab10-ru20"));
	assert_false(prism_name_filter_match(f, "idrac-us3"));
	prism_name_filter_free(f);
	/* a regular expression, together with globs: both must pass */
	assert_int_equal(prism_name_filter_new(bmc, "^us[0-9]+-cab[0-9]+-", &f), 0);
	assert_true(prism_name_filter_match(f, "us3-cab10-ru20-idrac"));
	assert_false(prism_name_filter_match(f, "eu3-cab10-ru20-idrac"));
	assert_false(prism_name_filter_match(f, "us3-cab10-ru20-web"));
	prism_name_filter_free(f);
	assert_int_equal(prism_name_filter_new(NULL, "^DB", &f), 0);
	assert_true(prism_name_filter_match(f, "db7.dc.example"));
	assert_false(prism_name_filter_match(f, "web-db7"));
	prism_name_filter_free(f);
	prism_name_filter_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fqdn_null),
		cmocka_unit_test(test_fqdn_reserved),
		cmocka_unit_test(test_fqdn),
		cmocka_unit_test(test_filter),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
