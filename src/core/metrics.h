/* SPDX-License-Identifier: MIT */
/**
 * @file metrics.h
 * A tiny metrics registry and Prometheus text formatter (exposition format 0.0.4).
 *
 * A registry holds families (counter, gauge, histogram), each with a fixed list of label
 * names and a cap on its number of series, so that a label value coming from outside can
 * never grow memory without bound. Pure: no I/O, no clock, no globals, not thread-safe
 * (the daemon uses it from its loop thread only).
 */
#pragma once

#include <stddef.h>

enum prism_metric_type {
	PRISM_METRIC_COUNTER = 0,
	PRISM_METRIC_GAUGE,
	PRISM_METRIC_HISTOGRAM,
};

struct prism_metrics;	    /**< registry */
struct prism_metric;	    /**< one family: name, help, type, label names */
struct prism_metric_series; /**< one set of label values of a family */

/** New empty registry. NULL on out of memory. */
struct prism_metrics *prism_metrics_new(void);

/** Free the registry with every family and series. NULL is a no-op. */
void prism_metrics_free(struct prism_metrics *m);

/** Description of a family to add. */
struct prism_metric_desc {
	const char *name; /**< [a-zA-Z_:][a-zA-Z0-9_:]* */
	const char *help; /**< one line (escaped on output) */
	enum prism_metric_type type;
	const char *const *labels; /**< NULL-terminated label names, or NULL for none; "le" is
				    *   reserved, names starting with "__" too */
	const double *buckets;	   /**< histograms: finite, strictly increasing upper bounds
				    *   (+Inf is implied); NULL = the default buckets */
	size_t nbuckets;
	size_t max_series; /**< cap on label sets (0 = 1 without labels, 64 with) */
};

/**
 * Add a family (copied). The registry keeps families in the order they are added.
 * @param[out] out the family, owned by the registry; may be NULL
 * @return 0, PRISM_EINVAL (bad name, label or buckets), PRISM_ECONFLICT (name taken),
 *         PRISM_ENOMEM
 */
int prism_metrics_add(struct prism_metrics *m, const struct prism_metric_desc *desc,
		      struct prism_metric **out);

/** The family called @p name, or NULL. */
struct prism_metric *prism_metrics_find(const struct prism_metrics *m, const char *name);

/**
 * The series with these label values, created (at zero) on first use.
 * @param values one value per label name (any bytes but NUL; escaped on output); NULL when
 *               the family has no labels
 * @param[out] out series, owned by the family; valid until the registry is freed or the
 *                 family is cleared
 * @return 0, PRISM_ETOOBIG (the family has max_series series already), PRISM_EINVAL,
 *         PRISM_ENOMEM
 */
int prism_metric_series(struct prism_metric *f, const char *const *values,
			struct prism_metric_series **out);

/** Drop every series of a family (for gauges rebuilt from a snapshot). */
void prism_metric_clear(struct prism_metric *f);

/** Counter or gauge: add @p v (a counter ignores negative or NaN values). */
void prism_metric_add(struct prism_metric_series *s, double v);

/** Counter or gauge: set the value (for counters mirrored from another module's totals). */
void prism_metric_set(struct prism_metric_series *s, double v);

/** Histogram: count one observation. Ignored for other types and for NaN. */
void prism_metric_observe(struct prism_metric_series *s, double v);

/** Current value of a counter or gauge; a histogram's sum. */
double prism_metric_value(const struct prism_metric_series *s);

/** Shortcut: find/create the series and add @p v. Errors as prism_metric_series(). */
int prism_metric_inc(struct prism_metric *f, const char *const *values, double v);

/** Shortcut: find/create the series and set @p v. */
int prism_metric_put(struct prism_metric *f, const char *const *values, double v);

/**
 * Append the whole registry in the Prometheus text format to a growing buffer.
 * @param buf,len,cap buffer (may start NULL/0/0) grown with realloc; the caller frees *buf.
 *                    The text is NUL-terminated; *len excludes the NUL.
 * @return 0 or PRISM_ENOMEM (the buffer then holds a partial text)
 */
int prism_metrics_format(const struct prism_metrics *m, char **buf, size_t *len, size_t *cap);

/** Format a sample value as Prometheus expects ("1", "0.25", "+Inf", "NaN") into @p out
 *  (at least 32 bytes); shortest text that reads back to the same double. */
void prism_metric_value_text(double v, char *out, size_t outlen);
