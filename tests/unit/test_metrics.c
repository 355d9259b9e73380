/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the formatter's buffer comes from the library's realloc, not cmocka's allocator */
static void lib_free(void *p)
{
	free(p);
}

#include <cmocka.h>

#include "core/error.h"
#include "core/metrics.h"

static char *format(const struct prism_metrics *m)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	assert_int_equal(prism_metrics_format(m, &buf, &len, &cap), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	return buf;
}

static void test_invalid_arguments(void **state)
{
	struct prism_metrics *m = prism_metrics_new();
	assert_non_null(m);
	struct prism_metric_desc d = {.name = "ok_total", .help = "h"};
	assert_int_equal(prism_metrics_add(NULL, &d, NULL), PRISM_EINVAL);
	assert_int_equal(prism_metrics_add(m, NULL, NULL), PRISM_EINVAL);
	d.name = "1bad";
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_EINVAL);
	d.name = "bad-name";
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_EINVAL);
	d.name = "ok:name_total";
	d.help = "two\nlines";
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_EINVAL);
	d.help = "h";
	const char *dup[] = {"a", "a", NULL};
	d.labels = dup;
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_EINVAL);
	const char *reserved[] = {"__x", NULL};
	d.labels = reserved;
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_EINVAL);
	const char *le[] = {"le", NULL};
	d.labels = le;
	d.type = PRISM_METRIC_HISTOGRAM;
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_EINVAL);
	const double bad[] = {1, 1};
	d.labels = NULL;
	d.buckets = bad;
	d.nbuckets = 2;
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_EINVAL);
	d.type = PRISM_METRIC_COUNTER;
	d.buckets = NULL;
	assert_int_equal(prism_metrics_add(m, &d, NULL), 0);
	assert_int_equal(prism_metrics_add(m, &d, NULL), PRISM_ECONFLICT);
	assert_non_null(prism_metrics_find(m, "ok:name_total"));
	assert_null(prism_metrics_find(m, "nope"));
	assert_int_equal(prism_metric_series(NULL, NULL, NULL), PRISM_EINVAL);
	prism_metric_add(NULL, 1);
	prism_metric_observe(NULL, 1);
	prism_metrics_free(m);
	prism_metrics_free(NULL);
}

static void test_counter_and_gauge(void **state)
{
	struct prism_metrics *m = prism_metrics_new();
	struct prism_metric *c, *g;
	const char *labels[] = {"result", NULL};
	struct prism_metric_desc cd = {.name = "reg_total",
				       .help = "Registrations.",
				       .type = PRISM_METRIC_COUNTER,
				       .labels = labels};
	struct prism_metric_desc gd = {
		.name = "online", .help = "Online \\ hosts.", .type = PRISM_METRIC_GAUGE};
	assert_int_equal(prism_metrics_add(m, &cd, &c), 0);
	assert_int_equal(prism_metrics_add(m, &gd, &g), 0);
	const char *v1[] = {"new"}, *v2[] = {"a\"b\\c\nd"};
	assert_int_equal(prism_metric_inc(c, v1, 1), 0);
	assert_int_equal(prism_metric_inc(c, v1, 2), 0);
	assert_int_equal(prism_metric_inc(c, v2, 1), 0);
	struct prism_metric_series *s;
	assert_int_equal(prism_metric_series(c, v1, &s), 0);
	prism_metric_add(s, -5); /* counters never go down */
	assert_true(prism_metric_value(s) == 3);
	assert_int_equal(prism_metric_put(g, NULL, -2.5), 0);
	char *text = format(m);
	assert_string_equal(text, "# HELP reg_total Registrations.\n"
				  "# TYPE reg_total counter\n"
				  "reg_total{result=\"new\"} 3\n"
				  "reg_total{result=\"a\\\"b\\\\c\\nd\"} 1\n"
				  "# HELP online Online \\\\ hosts.\n"
				  "# TYPE online gauge\n"
				  "online -2.5\n");
	lib_free(text);
	prism_metric_clear(c);
	text = format(m);
	assert_null(strstr(text, "reg_total{"));
	lib_free(text);
	prism_metrics_free(m);
}

static void test_series_cap(void **state)
{
	struct prism_metrics *m = prism_metrics_new();
	struct prism_metric *c;
	const char *labels[] = {"route", NULL};
	struct prism_metric_desc d = {
		.name = "x_total", .help = "x", .labels = labels, .max_series = 3};
	assert_int_equal(prism_metrics_add(m, &d, &c), 0);
	char buf[16];
	const char *v[] = {buf};
	for (int i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf), "r%d", i);
		assert_int_equal(prism_metric_inc(c, v, 1), 0);
	}
	snprintf(buf, sizeof(buf), "r9");
	assert_int_equal(prism_metric_inc(c, v, 1), PRISM_ETOOBIG);
	snprintf(buf, sizeof(buf), "r1");
	assert_int_equal(prism_metric_inc(c, v, 1), 0); /* existing series still count */
	const char *missing[] = {NULL};
	assert_int_equal(prism_metric_inc(c, missing, 1), PRISM_EINVAL);
	prism_metrics_free(m);
}

static void test_histogram(void **state)
{
	struct prism_metrics *m = prism_metrics_new();
	struct prism_metric *h;
	const char *labels[] = {"route", NULL};
	const double b[] = {0.1, 0.5, 1};
	struct prism_metric_desc d = {.name = "dur_seconds",
				      .help = "Durations.",
				      .type = PRISM_METRIC_HISTOGRAM,
				      .labels = labels,
				      .buckets = b,
				      .nbuckets = 3};
	assert_int_equal(prism_metrics_add(m, &d, &h), 0);
	const char *v[] = {"/api/v1/hosts"};
	assert_int_equal(prism_metric_inc(h, v, 0.05), 0);
	assert_int_equal(prism_metric_inc(h, v, 0.1), 0); /* le is inclusive */
	assert_int_equal(prism_metric_inc(h, v, 0.75), 0);
	assert_int_equal(prism_metric_inc(h, v, 3), 0);
	assert_int_equal(prism_metric_inc(h, v, NAN), 0); /* ignored */
	char *text = format(m);
	assert_string_equal(text, "# HELP dur_seconds Durations.\n"
				  "# TYPE dur_seconds histogram\n"
				  "dur_seconds_bucket{route=\"/api/v1/hosts\",le=\"0.1\"} 2\n"
				  "dur_seconds_bucket{route=\"/api/v1/hosts\",le=\"0.5\"} 2\n"
				  "dur_seconds_bucket{route=\"/api/v1/hosts\",le=\"1\"} 3\n"
				  "dur_seconds_bucket{route=\"/api/v1/hosts\",le=\"+Inf\"} 4\n"
				  "dur_seconds_sum{route=\"/api/v1/hosts\"} 3.9\n"
				  "dur_seconds_count{route=\"/api/v1/hosts\"} 4\n");
	lib_free(text);
	/* default buckets, no labels */
	struct prism_metric_desc d2 = {
		.name = "plain_seconds", .help = "p", .type = PRISM_METRIC_HISTOGRAM};
	assert_int_equal(prism_metrics_add(m, &d2, &h), 0);
	assert_int_equal(prism_metric_inc(h, NULL, 0.002), 0);
	text = format(m);
	assert_non_null(strstr(text, "plain_seconds_bucket{le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(text, "plain_seconds_bucket{le=\"0.001\"} 0\n"));
	assert_non_null(strstr(text, "plain_seconds_count 1\n"));
	lib_free(text);
	prism_metrics_free(m);
}

static void test_value_text(void **state)
{
	char b[40];
	prism_metric_value_text(0, b, sizeof(b));
	assert_string_equal(b, "0");
	prism_metric_value_text(123456789012.0, b, sizeof(b));
	assert_string_equal(b, "123456789012");
	prism_metric_value_text(0.005, b, sizeof(b));
	assert_string_equal(b, "0.005");
	prism_metric_value_text(1.0 / 3, b, sizeof(b));
	assert_true(strtod(b, NULL) == 1.0 / 3);
	prism_metric_value_text(INFINITY, b, sizeof(b));
	assert_string_equal(b, "+Inf");
	prism_metric_value_text(-INFINITY, b, sizeof(b));
	assert_string_equal(b, "-Inf");
	prism_metric_value_text(NAN, b, sizeof(b));
	assert_string_equal(b, "NaN");
	prism_metric_value_text(1e300, b, sizeof(b));
	assert_true(strtod(b, NULL) == 1e300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_invalid_arguments), cmocka_unit_test(test_counter_and_gauge),
		cmocka_unit_test(test_series_cap),	  cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_value_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
