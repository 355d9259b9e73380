/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/rrset.h"

static uint64_t hash_of(const char *name, const char *type, uint32_t ttl,
			const char *const *records, size_t n)
{
	struct prism_rr_change rr = {
		.name = name,
		.type = type,
		.ttl = ttl,
		.records = records,
		.nrecords = n,
	};

	return prism_rrset_hash(&rr);
}

static void test_null(void **state)
{
	(void)state;
	assert_int_equal(prism_rrset_hash(NULL), 0);
}

/* Pinned values: the hash is stored in the ledger, so it must not change between builds.
 * Computed independently: FNV-1a 64 over "www.example.com.\0" "A\0" be64(2) be64(300)
 * "192.0.2.1\0" "192.0.2.2\0"; the deletion over "www.example.com.\0" "A\0" be64(0). */
static void test_pinned(void **state)
{
	static const char *const rec[] = {"192.0.2.2", "192.0.2.1"};

	(void)state;
	assert_true(hash_of("www.example.com.", "A", 300, rec, 2) == 0xf49726a52698281cULL);
	assert_true(hash_of("www.example.com.", "A", 300, NULL, 0) == 0xa2ee2821f1adeaacULL);
}

static void test_order_independent(void **state)
{
	static const char *const a[] = {"192.0.2.1", "192.0.2.2", "192.0.2.3"};
	static const char *const b[] = {"192.0.2.3", "192.0.2.1", "192.0.2.2"};
	static const char *const c[] = {"192.0.2.2", "192.0.2.3", "192.0.2.1"};

	(void)state;
	uint64_t h = hash_of("www.example.com.", "A", 60, a, 3);

	assert_true(h == hash_of("www.example.com.", "A", 60, b, 3));
	assert_true(h == hash_of("www.example.com.", "A", 60, c, 3));
}

static void test_input_not_modified(void **state)
{
	const char *rec[] = {"c", "a", "b"};

	(void)state;
	hash_of("x.example.", "TXT", 60, rec, 3);
	assert_string_equal(rec[0], "c");
	assert_string_equal(rec[1], "a");
	assert_string_equal(rec[2], "b");
}

/* More records than fit the on-stack sort buffer. */
static void test_many_records(void **state)
{
	char buf[100][16];
	const char *fwd[100], *rev[100];

	(void)state;
	for (int i = 0; i < 100; i++) {
		snprintf(buf[i], sizeof(buf[i]), "10.0.0.%d", i);
		fwd[i] = buf[i];
		rev[99 - i] = buf[i];
	}
	uint64_t h = hash_of("many.example.", "A", 60, fwd, 100);

	assert_true(h == hash_of("many.example.", "A", 60, rev, 100));
	assert_true(h != hash_of("many.example.", "A", 60, fwd, 99));
}

static void test_separators(void **state)
{
	static const char *const ab_c[] = {"ab", "c"};
	static const char *const a_bc[] = {"a", "bc"};
	static const char *const abc[] = {"abc"};

	(void)state;
	assert_true(hash_of("n.example.", "TXT", 60, ab_c, 2) !=
		    hash_of("n.example.", "TXT", 60, a_bc, 2));
	assert_true(hash_of("n.example.", "TXT", 60, ab_c, 2) !=
		    hash_of("n.example.", "TXT", 60, abc, 1));
	/* name/type boundary */
	assert_true(hash_of("x.A", "AAA", 60, abc, 1) != hash_of("x.AA", "AA", 60, abc, 1));
	/* type/record boundary */
	assert_true(hash_of("x.", "TXTa", 60, abc, 1) != hash_of("x.", "TXT", 60, abc, 1));
}

static void test_duplicates_count(void **state)
{
	static const char *const one[] = {"a"};
	static const char *const two[] = {"a", "a"};

	(void)state;
	assert_true(hash_of("d.example.", "TXT", 60, one, 1) !=
		    hash_of("d.example.", "TXT", 60, two, 2));
}

static void test_delete_vs_replace(void **state)
{
	static const char *const empty[] = {""};
	static const char *const rec[] = {"192.0.2.1"};

	(void)state;
	uint64_t del = hash_of("www.example.com.", "A", 300, NULL, 0);

	assert_true(del != hash_of("www.example.com.", "A", 300, rec, 1));
	assert_true(del != hash_of("www.example.com.", "A", 300, empty, 1));
	/* a deletion has no TTL: any TTL hashes the same */
	assert_true(del == hash_of("www.example.com.", "A", 0, NULL, 0));
	assert_true(del == hash_of("www.example.com.", "A", 86400, NULL, 0));
	/* records == NULL with a count is a deletion, never a crash */
	assert_true(del == hash_of("www.example.com.", "A", 300, NULL, 5));
	/* but different names or types differ */
	assert_true(del != hash_of("www.example.com.", "AAAA", 300, NULL, 0));
	assert_true(del != hash_of("web.example.com.", "A", 300, NULL, 0));
}

static void test_ttl_matters(void **state)
{
	static const char *const rec[] = {"192.0.2.1"};

	(void)state;
	assert_true(hash_of("www.example.com.", "A", 300, rec, 1) !=
		    hash_of("www.example.com.", "A", 301, rec, 1));
	assert_true(hash_of("www.example.com.", "A", 0, rec, 1) !=
		    hash_of("www.example.com.", "A", UINT32_MAX, rec, 1));
}

static void test_content_matters(void **state)
{
	static const char *const a[] = {"192.0.2.1"};
	static const char *const b[] = {"192.0.2.10"};

	(void)state;
	assert_true(hash_of("www.example.com.", "A", 300, a, 1) !=
		    hash_of("www.example.com.", "A", 300, b, 1));
}

static void test_null_fields(void **state)
{
	static const char *const with_null[] = {NULL, "b"};
	static const char *const with_empty[] = {"b", ""};

	(void)state;
	/* NULL strings hash as "" rather than crashing */
	assert_true(hash_of(NULL, NULL, 0, NULL, 0) == hash_of("", "", 0, NULL, 0));
	assert_true(hash_of("n.", "TXT", 1, with_null, 2) ==
		    hash_of("n.", "TXT", 1, with_empty, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_input_not_modified),
		cmocka_unit_test(test_many_records),
		cmocka_unit_test(test_separators),
		cmocka_unit_test(test_duplicates_count),
		cmocka_unit_test(test_delete_vs_replace),
		cmocka_unit_test(test_ttl_matters),
		cmocka_unit_test(test_content_matters),
		cmocka_unit_test(test_null_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
