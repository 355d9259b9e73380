/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

/* The library allocates with the C library's malloc; only memory the tests own goes
 * through cmocka's checked allocator (test_malloc/test_free, called explicitly). */
#undef malloc
#undef calloc
#undef realloc
#undef free
#include <stdlib.h>

#include "core/error.h"
#include "core/frame.h"

/* Append a frame (prefix + payload) to @p buf at @p off; returns the new offset. */
static size_t put_frame(uint8_t *buf, size_t off, const char *payload)
{
	size_t n = strlen(payload);
	buf[off] = (uint8_t)(n >> 24);
	buf[off + 1] = (uint8_t)(n >> 16);
	buf[off + 2] = (uint8_t)(n >> 8);
	buf[off + 3] = (uint8_t)n;
	memcpy(buf + off + 4, payload, n);
	return off + 4 + n;
}

static void expect_frame(struct prism_frame_reader *r, const char *want)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	assert_int_equal(prism_frame_next(r, &p, &n, NULL), 1);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(p, want, n);
}

static void expect_none(struct prism_frame_reader *r)
{
	const uint8_t *p = NULL;
	size_t n = 0;
	assert_int_equal(prism_frame_next(r, &p, &n, NULL), 0);
}

static void test_null_args(void **state)
{
	struct prism_frame_reader r;
	const uint8_t *p;
	size_t n;
	uint8_t *out;

	prism_frame_reader_init(NULL, 10);
	prism_frame_reader_deinit(NULL);
	prism_frame_reader_set_limit(NULL, 10);
	assert_false(prism_frame_partial(NULL));

	prism_frame_reader_init(&r, 100);
	assert_int_equal(prism_frame_feed(NULL, (const uint8_t *)"x", 1), PRISM_EINVAL);
	assert_int_equal(prism_frame_feed(&r, NULL, 1), PRISM_EINVAL);
	assert_int_equal(prism_frame_feed(&r, NULL, 0), 0);
	assert_int_equal(prism_frame_next(NULL, &p, &n, NULL), PRISM_EINVAL);
	assert_int_equal(prism_frame_next(&r, NULL, &n, NULL), PRISM_EINVAL);
	assert_int_equal(prism_frame_next(&r, &p, NULL, NULL), PRISM_EINVAL);
	prism_frame_reader_deinit(&r);

	assert_int_equal(prism_frame_encode(NULL, 1, &out, &n), PRISM_EINVAL);
	assert_int_equal(prism_frame_encode("x", 1, NULL, &n), PRISM_EINVAL);
	assert_int_equal(prism_frame_encode("x", 1, &out, NULL), PRISM_EINVAL);
}

static void test_deinit_twice(void **state)
{
	struct prism_frame_reader r;
	memset(&r, 0, sizeof(r));
	prism_frame_reader_deinit(&r); /* zeroed, never initialised */

	prism_frame_reader_init(&r, 100);
	assert_int_equal(prism_frame_feed(&r, (const uint8_t *)"\0\0", 2), 0);
	prism_frame_reader_deinit(&r);
	prism_frame_reader_deinit(&r);
	assert_null(r.buf);
}

static void test_empty_reader(void **state)
{
	struct prism_frame_reader r;
	prism_frame_reader_init(&r, 100);
	assert_null(r.buf); /* no allocation before the first feed */
	assert_false(prism_frame_partial(&r));
	expect_none(&r);
	prism_frame_reader_deinit(&r);
}

static void test_single_frame(void **state)
{
	struct prism_frame_reader r;
	uint8_t buf[64];
	size_t len = put_frame(buf, 0, "hello");

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, buf, len), 0);
	expect_frame(&r, "hello");
	expect_none(&r);
	assert_false(prism_frame_partial(&r));
	prism_frame_reader_deinit(&r);
}

static void test_empty_frame(void **state)
{
	struct prism_frame_reader r;
	const uint8_t zero[4] = {0};

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, zero, sizeof(zero)), 0);
	expect_frame(&r, ""); /* the framer takes it; decoding rejects it */
	expect_none(&r);
	prism_frame_reader_deinit(&r);
}

static void test_split_byte_by_byte(void **state)
{
	struct prism_frame_reader r;
	uint8_t buf[128];
	size_t first = put_frame(buf, 0, "{\"a\":1}");
	size_t len = put_frame(buf, first, "second frame");
	int frames = 0;

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	for (size_t i = 0; i < len; i++) {
		assert_int_equal(prism_frame_feed(&r, buf + i, 1), 0);
		const uint8_t *p;
		size_t n;
		int ret = prism_frame_next(&r, &p, &n, NULL);
		if (i + 1 == first || i + 1 == len) {
			assert_int_equal(ret, 1);
			assert_memory_equal(p, frames == 0 ? "{\"a\":1}" : "second frame", n);
			frames++;
			assert_false(prism_frame_partial(&r));
		} else {
			assert_int_equal(ret, 0);
			assert_true(prism_frame_partial(&r));
		}
	}
	assert_int_equal(frames, 2);
	prism_frame_reader_deinit(&r);
}

static void test_several_frames_one_feed(void **state)
{
	struct prism_frame_reader r;
	uint8_t buf[128];
	size_t len = put_frame(buf, 0, "one");
	len = put_frame(buf, len, "");
	len = put_frame(buf, len, "three");
	len = put_frame(buf, len, "fo"); /* the start of a fourth one */
	len -= 1;

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, buf, len), 0);
	expect_frame(&r, "one");
	expect_frame(&r, "");
	expect_frame(&r, "three");
	expect_none(&r);
	assert_true(prism_frame_partial(&r));
	assert_int_equal(prism_frame_feed(&r, (const uint8_t *)"o", 1), 0);
	expect_frame(&r, "fo");
	assert_false(prism_frame_partial(&r));
	prism_frame_reader_deinit(&r);
}

static void test_payload_valid_until_feed(void **state)
{
	struct prism_frame_reader r;
	uint8_t buf[64];
	size_t len = put_frame(buf, 0, "first");
	len = put_frame(buf, len, "second");
	const uint8_t *p1, *p2;
	size_t n1, n2;

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, buf, len), 0);
	assert_int_equal(prism_frame_next(&r, &p1, &n1, NULL), 1);
	assert_int_equal(prism_frame_next(&r, &p2, &n2, NULL), 1);
	assert_memory_equal(p1, "first", n1);
	assert_memory_equal(p2, "second", n2);
	prism_frame_reader_deinit(&r);
}

static void test_declared_too_big(void **state)
{
	struct prism_frame_reader r;
	const uint8_t over[] = {0x00, 0x01, 0x00, 0x01, '{'};
	const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff};
	const uint8_t *p;
	size_t n;
	uint32_t declared = 0;

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, over, sizeof(over)), 0);
	assert_int_equal(prism_frame_next(&r, &p, &n, &declared), PRISM_ETOOBIG);
	assert_int_equal(declared, 65537);
	/* the stream cannot be resynchronised: the error stays */
	assert_int_equal(prism_frame_next(&r, &p, &n, NULL), PRISM_ETOOBIG);
	assert_true(prism_frame_partial(&r));
	prism_frame_reader_deinit(&r);

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, huge, sizeof(huge)), 0);
	assert_int_equal(prism_frame_next(&r, &p, &n, &declared), PRISM_ETOOBIG);
	assert_int_equal(declared, 0xffffffffu);
	prism_frame_reader_deinit(&r);
}

static void test_max_frame(void **state)
{
	struct prism_frame_reader r;
	size_t len = PRISM_FRAME_HDR + PRISM_FRAME_MAX;
	uint8_t *buf = test_malloc(len);
	const uint8_t *p;
	size_t n;

	memset(buf, 'x', len);
	buf[0] = 0x00;
	buf[1] = 0x01;
	buf[2] = 0x00;
	buf[3] = 0x00; /* exactly 65536: allowed */
	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, buf, len - 1), 0);
	assert_int_equal(prism_frame_next(&r, &p, &n, NULL), 0);
	assert_int_equal(prism_frame_feed(&r, buf + len - 1, 1), 0);
	assert_int_equal(prism_frame_next(&r, &p, &n, NULL), 1);
	assert_int_equal(n, PRISM_FRAME_MAX);
	assert_int_equal(p[0], 'x');
	assert_int_equal(p[n - 1], 'x');
	prism_frame_reader_deinit(&r);
	test_free(buf);
}

static void test_feed_limit(void **state)
{
	struct prism_frame_reader r;
	uint8_t buf[32];
	size_t len = put_frame(buf, 0, "abcdef"); /* 10 bytes */

	prism_frame_reader_init(&r, 10);
	assert_int_equal(prism_frame_feed(&r, buf, 8), 0);
	assert_int_equal(prism_frame_feed(&r, buf + 8, 3), PRISM_ETOOBIG);
	/* nothing was appended: the remaining 2 bytes still fit and complete the frame */
	assert_int_equal(prism_frame_feed(&r, buf + 8, 2), 0);
	expect_frame(&r, "abcdef");
	/* consumed bytes free their room again, many times over */
	for (int i = 0; i < 100; i++) {
		assert_int_equal(prism_frame_feed(&r, buf, 5), 0);
		assert_int_equal(prism_frame_feed(&r, buf + 5, len - 5), 0);
		expect_frame(&r, "abcdef");
	}
	assert_true(r.cap <= 10);
	assert_int_equal(prism_frame_feed(&r, buf, 11), PRISM_ETOOBIG);
	prism_frame_reader_deinit(&r);
}

static void test_set_limit(void **state)
{
	struct prism_frame_reader r;
	size_t len = PRISM_FRAME_BUF_PREAUTH + 1;
	uint8_t *buf = test_calloc(1, len);

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, buf, len), PRISM_ETOOBIG);
	assert_false(prism_frame_partial(&r));
	prism_frame_reader_set_limit(&r, PRISM_FRAME_BUF_MAX);
	assert_int_equal(prism_frame_feed(&r, buf, len), 0);
	/* all zero: many empty frames and one byte of a prefix left over */
	size_t frames = 0;
	const uint8_t *p;
	size_t n;
	while (prism_frame_next(&r, &p, &n, NULL) == 1)
		frames++;
	assert_int_equal(frames, len / 4);
	assert_true(prism_frame_partial(&r));
	prism_frame_reader_deinit(&r);
	test_free(buf);
}

static void test_buffer_max(void **state)
{
	struct prism_frame_reader r;
	uint8_t *buf = test_calloc(1, PRISM_FRAME_BUF_MAX + 1);

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_MAX);
	assert_int_equal(prism_frame_feed(&r, buf, PRISM_FRAME_BUF_MAX), 0);
	assert_int_equal(prism_frame_feed(&r, buf, 1), PRISM_ETOOBIG);
	prism_frame_reader_deinit(&r);

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_MAX);
	assert_int_equal(prism_frame_feed(&r, buf, PRISM_FRAME_BUF_MAX + 1), PRISM_ETOOBIG);
	assert_null(r.buf);
	prism_frame_reader_deinit(&r);
	test_free(buf);
}

static void test_partial(void **state)
{
	struct prism_frame_reader r;
	uint8_t buf[32];
	size_t len = put_frame(buf, 0, "xy");

	prism_frame_reader_init(&r, 100);
	assert_false(prism_frame_partial(&r));
	assert_int_equal(prism_frame_feed(&r, buf, 1), 0);
	assert_true(prism_frame_partial(&r)); /* part of the prefix */
	assert_int_equal(prism_frame_feed(&r, buf + 1, 4), 0);
	assert_true(prism_frame_partial(&r)); /* prefix and part of the payload */
	assert_int_equal(prism_frame_feed(&r, buf + 5, len - 5), 0);
	assert_false(prism_frame_partial(&r)); /* complete, not yet taken */
	expect_frame(&r, "xy");
	assert_false(prism_frame_partial(&r));
	prism_frame_reader_deinit(&r);
}

static void test_encode(void **state)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	struct prism_frame_reader r;

	assert_int_equal(prism_frame_encode("{}", 2, &out, &outlen), 0);
	assert_int_equal(outlen, 6);
	assert_memory_equal(out, "\0\0\0\2{}", 6);
	free(out);

	assert_int_equal(prism_frame_encode(NULL, 0, &out, &outlen), 0);
	assert_int_equal(outlen, 4);
	assert_memory_equal(out, "\0\0\0\0", 4);
	free(out);

	uint8_t *big = test_calloc(1, PRISM_FRAME_MAX + 1);
	out = NULL;
	assert_int_equal(prism_frame_encode(big, PRISM_FRAME_MAX + 1, &out, &outlen),
			 PRISM_ETOOBIG);
	assert_null(out);
	assert_int_equal(prism_frame_encode(big, PRISM_FRAME_MAX, &out, &outlen), 0);
	assert_int_equal(outlen, PRISM_FRAME_MAX + 4);
	assert_memory_equal(out, "\0\1\0\0", 4);

	/* round trip through the reader */
	const uint8_t *p;
	size_t n;
	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	assert_int_equal(prism_frame_feed(&r, out, outlen), 0);
	assert_int_equal(prism_frame_next(&r, &p, &n, NULL), 1);
	assert_int_equal(n, PRISM_FRAME_MAX);
	assert_memory_equal(p, big, n);
	prism_frame_reader_deinit(&r);
	free(out);
	test_free(big);
}

static void test_encode_roundtrip_text(void **state)
{
	const char *msgs[] = {"a", "{\"version\":\"1.0\"}", "", "caf\xc3\xa9"};
	struct prism_frame_reader r;

	prism_frame_reader_init(&r, PRISM_FRAME_BUF_PREAUTH);
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		uint8_t *out;
		size_t outlen;
		assert_int_equal(prism_frame_encode(msgs[i], strlen(msgs[i]), &out, &outlen), 0);
		assert_int_equal(prism_frame_feed(&r, out, outlen), 0);
		free(out);
	}
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		expect_frame(&r, msgs[i]);
	expect_none(&r);
	prism_frame_reader_deinit(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_deinit_twice),
		cmocka_unit_test(test_empty_reader),
		cmocka_unit_test(test_single_frame),
		cmocka_unit_test(test_empty_frame),
		cmocka_unit_test(test_split_byte_by_byte),
		cmocka_unit_test(test_several_frames_one_feed),
		cmocka_unit_test(test_payload_valid_until_feed),
		cmocka_unit_test(test_declared_too_big),
		cmocka_unit_test(test_max_frame),
		cmocka_unit_test(test_feed_limit),
		cmocka_unit_test(test_set_limit),
		cmocka_unit_test(test_buffer_max),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_encode_roundtrip_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
