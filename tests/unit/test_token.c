/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* what the library allocates is freed with the C library's free, not cmocka's test_free */
static void lib_free(void *p)
{
	free(p);
}

#include <cmocka.h>

#include "core/error.h"
#include "core/token.h"

static void test_hash_known_vector(void **state)
{
	char out[PRISM_TOKEN_HASH_LEN + 1];
	assert_int_equal(prism_token_hash("abc", 3, out), 0);
	/* FIPS 180-2 test vector */
	assert_string_equal(out,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(prism_token_hash("", 0, out), 0);
	assert_string_equal(out,
			    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(prism_token_hash(NULL, 0, out), PRISM_EINVAL);
}

static void test_cred_hash(void **state)
{
	struct prism_cred_key key;
	char out[PRISM_TOKEN_HASH_LEN + 1], sha[PRISM_TOKEN_HASH_LEN + 1], again[sizeof(out)];
	for (unsigned i = 0; i < sizeof(key.k); i++)
		key.k[i] = (unsigned char)i;
	assert_int_equal(prism_cred_hash(NULL, "abc", 3, out), PRISM_EINVAL);
	assert_int_equal(prism_cred_hash(&key, NULL, 0, out), PRISM_EINVAL);
	/* HMAC-SHA256(key 00..1f, hex SHA-256 of "abc"): Python's hmac gives the same */
	assert_int_equal(prism_cred_hash(&key, "abc", 3, out), 0);
	assert_string_equal(out,
			    "4632ec1a59eabb3ab887302285075d12cd1cc5addf71cd432adcfde274b74f3b");
	/* a plain hash stored before the key, re-keyed, is what the token now hashes to */
	assert_int_equal(prism_token_hash("abc", 3, sha), 0);
	assert_int_equal(prism_cred_rekey(&key, sha, strlen(sha), again), 0);
	assert_string_equal(out, again);
	key.k[0] ^= 1; /* another registry: another hash */
	assert_int_equal(prism_cred_hash(&key, "abc", 3, again), 0);
	assert_string_not_equal(out, again);
	key.k[0] ^= 1; /* and back */
	assert_int_equal(prism_cred_hash(&key, "abc", 3, again), 0);
	assert_string_equal(out, again);
	/* a hasher gives the same values, call after call, under its own key */
	struct prism_cred_hasher *h = prism_cred_hasher_new(&key);
	assert_non_null(h);
	key.k[1] ^= 1; /* the hasher copied the key it was made with */
	static const char *const tokens[] = {"abc", "", "another-token-0123456789", "abc"};
	for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++) {
		key.k[1] ^= 1;
		assert_int_equal(prism_cred_hash(&key, tokens[i], strlen(tokens[i]), out), 0);
		key.k[1] ^= 1;
		assert_int_equal(prism_cred_hasher_hash(h, tokens[i], strlen(tokens[i]), again),
				 0);
		assert_string_equal(out, again);
	}
	assert_int_equal(prism_cred_hasher_hash(h, NULL, 0, again), PRISM_EINVAL);
	prism_cred_hasher_free(h);
	assert_null(prism_cred_hasher_new(NULL));
}

static void test_secret_equal(void **state)
{
	assert_true(prism_secret_equal("abcd", "abcd", 4));
	assert_false(prism_secret_equal("abcd", "abce", 4));
	assert_false(prism_secret_equal(NULL, "abce", 4));
}

static void test_set_add_find(void **state)
{
	struct prism_token_set *set = prism_token_set_new();
	assert_non_null(set);
	assert_null(prism_token_set_find(set, "nope"));
	char h[PRISM_TOKEN_HASH_LEN + 1], name[32];
	/* enough to force several grows */
	for (int i = 0; i < 1000; i++) {
		char tok[32];
		snprintf(tok, sizeof(tok), "token-%d", i);
		snprintf(name, sizeof(name), "agent-%d", i);
		assert_int_equal(prism_token_hash(tok, strlen(tok), h), 0);
		assert_int_equal(prism_token_set_add(set, h, name), 0);
	}
	assert_int_equal(prism_token_set_count(set), 1000);
	for (int i = 0; i < 1000; i += 7) {
		char tok[32];
		snprintf(tok, sizeof(tok), "token-%d", i);
		snprintf(name, sizeof(name), "agent-%d", i);
		prism_token_hash(tok, strlen(tok), h);
		assert_string_equal(prism_token_set_find(set, h), name);
	}
	prism_token_hash("token-5", 7, h);
	assert_int_equal(prism_token_set_add(set, h, "dup"), PRISM_ECONFLICT);
	prism_token_hash("unknown", 7, h);
	assert_null(prism_token_set_find(set, h));
	assert_int_equal(prism_token_set_add(set, "short", "x"), PRISM_EINVAL);
	assert_int_equal(prism_token_set_add(NULL, h, "x"), PRISM_EINVAL);
	prism_token_set_free(set);
	prism_token_set_free(NULL);
}

static void hash_of(const char *secret, char out[PRISM_TOKEN_HASH_LEN + 1])
{
	assert_int_equal(prism_token_hash(secret, strlen(secret), out), 0);
}

static void test_rotations(void **state)
{
	(void)state;
	char a1[65], a2[65], b[65], c1[65], c2[65], d[65];
	hash_of("a-old", a1);
	hash_of("a-new", a2);
	hash_of("b-same", b);
	hash_of("c-one", c1);
	hash_of("c-two", c2);
	hash_of("d-gone", d);
	struct prism_token_set *before = prism_token_set_new(), *after = prism_token_set_new();
	assert_int_equal(prism_token_set_add(before, a1, "rack-a"), 0);
	assert_int_equal(prism_token_set_add(before, b, "rack-b"), 0);
	assert_int_equal(prism_token_set_add(before, c1, "rack-c"), 0);
	assert_int_equal(prism_token_set_add(before, d, "rack-d"), 0);
	assert_int_equal(prism_token_set_add(after, a2, "rack-a"), 0); /* rotated */
	assert_int_equal(prism_token_set_add(after, b, "rack-b"), 0);  /* unchanged */
	assert_int_equal(prism_token_set_add(after, c1, "rack-c"), 0); /* c2 added beside: */
	assert_int_equal(prism_token_set_add(after, c2, "rack-c"), 0); /* c1 still owns */
	/* both secrets of rack-c bind hosts by the first one */
	assert_string_equal(prism_token_set_owner(after, c2), c1);
	assert_string_equal(prism_token_set_owner(after, c1), c1);
	assert_string_equal(prism_token_set_owner(after, a2), a2);
	assert_null(prism_token_set_owner(after, d));
	struct prism_token_rotation *r;
	size_t n;
	assert_int_equal(prism_token_set_rotations(before, after, &r, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].name, "rack-a");
	assert_string_equal(r[0].old_hash, a1);
	assert_string_equal(r[0].new_hash, a2);
	lib_free(r);
	assert_int_equal(prism_token_set_rotations(after, after, &r, &n), 0);
	assert_int_equal(n, 0);
	assert_null(r);
	/* the rotation ends: the old secret goes, the new one owns rack-c's hosts */
	struct prism_token_set *last = prism_token_set_new();
	assert_int_equal(prism_token_set_add(last, c2, "rack-c"), 0);
	assert_int_equal(prism_token_set_rotations(after, last, &r, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(r[0].old_hash, c1);
	assert_string_equal(r[0].new_hash, c2);
	lib_free(r);
	prism_token_set_free(last);
	assert_int_equal(prism_token_set_rotations(NULL, after, &r, &n), PRISM_EINVAL);
	prism_token_set_free(before);
	prism_token_set_free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_known_vector), cmocka_unit_test(test_cred_hash),
		cmocka_unit_test(test_secret_equal),	  cmocka_unit_test(test_set_add_find),
		cmocka_unit_test(test_rotations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
