/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/hash.h"
#include "core/strset.h"
#include "core/strv.h"

/* Published FNV-1a 64 test vectors (the FNV reference test suite). */
static void test_fnv_vectors(void **state)
{
	(void)state;
	assert_true(PRISM_FNV64_OFFSET == 0xcbf29ce484222325ull);
	assert_true(PRISM_FNV64_PRIME == 0x100000001b3ull);
	assert_true(prism_fnv1a_str(PRISM_FNV64_OFFSET, "") == 0xcbf29ce484222325ull);
	assert_true(prism_fnv1a_str(PRISM_FNV64_OFFSET, "a") == 0xaf63dc4c8601ec8cull);
	assert_true(prism_fnv1a_str(PRISM_FNV64_OFFSET, "foobar") == 0x85944171f73967e8ull);
	assert_true(prism_fnv1a_str(PRISM_FNV64_OFFSET, NULL) == PRISM_FNV64_OFFSET);
	/* streaming: hashing in pieces equals hashing the whole */
	uint64_t h = prism_fnv1a_str(PRISM_FNV64_OFFSET, "foo");
	assert_true(prism_fnv1a(h, "bar", 3) == 0x85944171f73967e8ull);
}

static void test_strset_basic(void **state)
{
	(void)state;
	struct prism_strset s = {0};
	assert_false(prism_strset_has(&s, "a"));
	prism_strset_del(&s, "a"); /* on an empty set */
	assert_int_equal(prism_strset_add(&s, "www.example. A"), 0);
	assert_int_equal(prism_strset_add(&s, "www.example. A"), 0);
	assert_int_equal(s.n, 1);
	assert_true(prism_strset_has(&s, "www.example. A"));
	assert_false(prism_strset_has(&s, "www.example. AAAA"));
	assert_false(prism_strset_has(&s, "www.example."));
	assert_true(prism_strset_has_joined(&s, "www.example.", ' ', "A"));
	assert_false(prism_strset_has_joined(&s, "www.example.", '/', "A"));
	assert_false(prism_strset_has_joined(&s, "www.example", ' ', "A"));
	assert_false(prism_strset_has_joined(&s, "www.example.", ' ', "AA"));
	assert_int_equal(prism_strset_add_joined(&s, "www.example.", ' ', "A"), 0); /* there */
	assert_int_equal(s.n, 1);
	assert_int_equal(prism_strset_add_joined(&s, "mail.example.", ' ', "MX"), 0);
	assert_true(prism_strset_has(&s, "mail.example. MX"));
	prism_strset_del(&s, "mail.example. MX");
	assert_int_equal(s.n, 1);
	assert_int_equal(prism_strset_add(&s, ""), 0);
	assert_true(prism_strset_has(&s, ""));
	prism_strset_del(&s, "www.example. A");
	assert_false(prism_strset_has(&s, "www.example. A"));
	prism_strset_del(&s, "www.example. A"); /* twice */
	assert_int_equal(s.n, 1);
	prism_strset_clear(&s);
	assert_int_equal(s.n, 0);
	assert_false(prism_strset_has(&s, ""));
	prism_strset_clear(&s); /* twice */
}

/* Many keys: growth keeps every key findable; deleting half leaves exactly the other half. */
static void test_strset_grow(void **state)
{
	(void)state;
	struct prism_strset s = {0};
	char key[32];
	enum { N = 5000 };
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "h%d.example. A", i);
		assert_int_equal(prism_strset_add(&s, key), 0);
	}
	assert_int_equal(s.n, N);
	for (int i = 0; i < N; i += 2) {
		snprintf(key, sizeof(key), "h%d.example. A", i);
		prism_strset_del(&s, key);
	}
	assert_int_equal(s.n, N / 2);
	for (int i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "h%d.example.", i);
		assert_int_equal(prism_strset_has_joined(&s, key, ' ', "A"), i % 2 == 1);
	}
	prism_strset_clear(&s);
}

static void test_strv(void **state)
{
	(void)state;
	assert_int_equal(prism_strv_len(NULL), 0);
	char **e = prism_strv_dup(NULL);
	assert_non_null(e);
	assert_null(e[0]);
	prism_strv_free(e);
	prism_strv_free(NULL);

	const char *v[] = {"ns1.example.", "", "ns2.example.", NULL};
	assert_int_equal(prism_strv_len(v), 3);
	char **d = prism_strv_dup(v);
	assert_non_null(d);
	assert_int_equal(prism_strv_len((const char *const *)d), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(d[i], v[i]);
		assert_ptr_not_equal(d[i], v[i]);
	}
	assert_null(d[3]);
	prism_strv_free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fnv_vectors),
		cmocka_unit_test(test_strset_basic),
		cmocka_unit_test(test_strset_grow),
		cmocka_unit_test(test_strv),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
