/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/jw.h"

static void test_heap(void **state)
{
	(void)state;
	struct jw w = {0};
	jw_obj(&w);
	jw_kstr(&w, "a", "x\"y\n");
	jw_kint(&w, "n", -12);
	jw_key(&w, "l");
	jw_arr(&w);
	jw_null(&w);
	jw_bool(&w, true);
	jw_end_arr(&w);
	jw_ktime(&w, "t", 1767225600);
	jw_end_obj(&w);
	assert_string_equal(jw_text(&w), "{\"a\":\"x\\\"y\\n\",\"n\":-12,\"l\":[null,true],"
					 "\"t\":\"2026-01-01T00:00:00Z\"}");
	jw_free(&w);
	assert_null(w.buf);
}

static void test_borrowed_fits(void **state)
{
	(void)state;
	char buf[64];
	struct jw w;
	jw_init_buf(&w, buf, sizeof(buf));
	jw_obj(&w);
	jw_kstr(&w, "k", "v");
	jw_end_obj(&w);
	assert_ptr_equal(jw_text(&w), buf); /* written in place */
	assert_string_equal(buf, "{\"k\":\"v\"}");
	jw_free(&w); /* must not free the caller's buffer */
}

static void test_borrowed_grows(void **state)
{
	(void)state;
	char buf[16], big[300];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct jw w;
	jw_init_buf(&w, buf, sizeof(buf));
	jw_arr(&w);
	jw_str(&w, "head");
	jw_str(&w, big); /* does not fit: moves to the heap, keeping what was written */
	jw_end_arr(&w);
	const char *t = jw_text(&w);
	assert_non_null(t);
	assert_ptr_not_equal(t, buf);
	assert_int_equal(strlen(t), strlen("[\"head\",\"\"]") + strlen(big));
	assert_memory_equal(t, "[\"head\",\"zzz", 11);
	jw_free(&w); /* frees the heap copy (ASan/valgrind check the pairing) */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap),
		cmocka_unit_test(test_borrowed_fits),
		cmocka_unit_test(test_borrowed_grows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
