/* SPDX-License-Identifier: MIT */
/*
 * Metrics registry. Series are found by a 64-bit hash of their label values, compared
 * before the strings, in a small array per family: families are capped (max_series), so a
 * linear pass over hashes is cheaper than a hash table and keeps output in creation order.
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/metrics.h"

#define MAX_LABELS  8
#define MAX_BUCKETS 32

static const double default_buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

struct prism_metric_series {
	const struct prism_metric *family;
	uint64_t hash;
	char **values;
	double value;	   /* counter/gauge value, histogram sum */
	uint64_t count;	   /* histogram */
	uint64_t *buckets; /* histogram: per bucket (not cumulative) */
};

struct prism_metric {
	char *name;
	char *help;
	enum prism_metric_type type;
	char *labels[MAX_LABELS];
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	size_t max_series;
	struct prism_metric_series **series;
	size_t nseries;
	struct prism_metric *next;
};

struct prism_metrics {
	struct prism_metric *head, *tail;
};

struct prism_metrics *prism_metrics_new(void)
{
	return calloc(1, sizeof(struct prism_metrics));
}

static void series_free(struct prism_metric_series *s, size_t nlabels)
{
	if (s == NULL)
		return;
	for (size_t i = 0; s->values != NULL && i < nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(s);
}

void prism_metric_clear(struct prism_metric *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nseries; i++)
		series_free(f->series[i], f->nlabels);
	f->nseries = 0;
}

static void family_free(struct prism_metric *f)
{
	prism_metric_clear(f);
	free(f->series);
	for (size_t i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->bounds);
	free(f->name);
	free(f->help);
	free(f);
}

void prism_metrics_free(struct prism_metrics *m)
{
	if (m == NULL)
		return;
	for (struct prism_metric *f = m->head, *n; f != NULL; f = n) {
		n = f->next;
		family_free(f);
	}
	free(m);
}

static bool name_ok(const char *s, bool colon)
{
	if (s == NULL || *s == '\0')
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			     (colon && c == ':');
		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static bool labels_ok(const struct prism_metric_desc *d, size_t *n)
{
	*n = 0;
	for (const char *const *l = d->labels; l != NULL && *l != NULL; l++) {
		if (!name_ok(*l, false) || strncmp(*l, "__", 2) == 0 ||
		    (d->type == PRISM_METRIC_HISTOGRAM && strcmp(*l, "le") == 0))
			return false;
		for (size_t i = 0; i < *n; i++)
			if (strcmp(d->labels[i], *l) == 0)
				return false;
		if (++*n > MAX_LABELS)
			return false;
	}
	return true;
}

static bool buckets_ok(const double *b, size_t n)
{
	if (n == 0 || n > MAX_BUCKETS)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(b[i]) || (i > 0 && b[i] <= b[i - 1]))
			return false;
	return true;
}

struct prism_metric *prism_metrics_find(const struct prism_metrics *m, const char *name)
{
	if (m == NULL || name == NULL)
		return NULL;
	for (struct prism_metric *f = m->head; f != NULL; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

static int family_init(struct prism_metric *f, const struct prism_metric_desc *d, size_t nl)
{
	f->name = strdup(d->name);
	f->help = strdup(d->help != NULL ? d->help : "");
	if (f->name == NULL || f->help == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < nl; i++) {
		f->labels[i] = strdup(d->labels[i]);
		if (f->labels[i] == NULL)
			return PRISM_ENOMEM;
		f->nlabels = i + 1;
	}
	if (d->type == PRISM_METRIC_HISTOGRAM) {
		const double *b = d->buckets ? d->buckets : default_buckets;
		size_t nb = d->buckets ? d->nbuckets
				       : sizeof(default_buckets) / sizeof(default_buckets[0]);
		f->bounds = malloc(nb * sizeof(*b));
		if (f->bounds == NULL)
			return PRISM_ENOMEM;
		memcpy(f->bounds, b, nb * sizeof(*b));
		f->nbounds = nb;
	}
	f->max_series = d->max_series ? d->max_series : (nl ? 64 : 1);
	return 0;
}

int prism_metrics_add(struct prism_metrics *m, const struct prism_metric_desc *d,
		      struct prism_metric **out)
{
	size_t nl;
	if (m == NULL || d == NULL || !name_ok(d->name, true) || !labels_ok(d, &nl) ||
	    (unsigned)d->type > PRISM_METRIC_HISTOGRAM ||
	    (d->type == PRISM_METRIC_HISTOGRAM && d->buckets &&
	     !buckets_ok(d->buckets, d->nbuckets)) ||
	    (d->help != NULL && strchr(d->help, '\n') != NULL))
		return PRISM_EINVAL;
	if (prism_metrics_find(m, d->name) != NULL)
		return PRISM_ECONFLICT;
	struct prism_metric *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return PRISM_ENOMEM;
	f->type = d->type;
	int rc = family_init(f, d, nl);
	if (rc != 0) {
		family_free(f);
		return rc;
	}
	if (m->tail != NULL)
		m->tail->next = f;
	else
		m->head = f;
	m->tail = f;
	if (out != NULL)
		*out = f;
	return 0;
}

static uint64_t values_hash(const char *const *values, size_t n)
{
	uint64_t h = PRISM_FNV64_OFFSET;
	for (size_t i = 0; i < n; i++) /* 0xff: a separator no value contains */
		h = prism_fnv1a(prism_fnv1a_str(h, values[i]), "\xff", 1);
	return h;
}

static struct prism_metric_series *series_new(const struct prism_metric *f,
					      const char *const *values, uint64_t hash)
{
	struct prism_metric_series *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	s->family = f;
	s->hash = hash;
	if (f->nlabels > 0) {
		s->values = calloc(f->nlabels, sizeof(*s->values));
		if (s->values == NULL)
			goto fail;
		for (size_t i = 0; i < f->nlabels; i++)
			if ((s->values[i] = strdup(values[i])) == NULL)
				goto fail;
	}
	if (f->type == PRISM_METRIC_HISTOGRAM) {
		s->buckets = calloc(f->nbounds, sizeof(*s->buckets));
		if (s->buckets == NULL)
			goto fail;
	}
	return s;
fail:
	series_free(s, f->nlabels);
	return NULL;
}

int prism_metric_series(struct prism_metric *f, const char *const *values,
			struct prism_metric_series **out)
{
	if (f == NULL || out == NULL || (f->nlabels > 0 && values == NULL))
		return PRISM_EINVAL;
	for (size_t i = 0; i < f->nlabels; i++)
		if (values[i] == NULL)
			return PRISM_EINVAL;
	uint64_t h = values_hash(values, f->nlabels);
	for (size_t i = 0; i < f->nseries; i++) {
		struct prism_metric_series *s = f->series[i];
		if (s->hash != h)
			continue;
		size_t k = 0;
		while (k < f->nlabels && strcmp(s->values[k], values[k]) == 0)
			k++;
		if (k == f->nlabels) {
			*out = s;
			return 0;
		}
	}
	if (f->nseries >= f->max_series)
		return PRISM_ETOOBIG;
	if (f->series == NULL) {
		f->series = calloc(f->max_series, sizeof(*f->series));
		if (f->series == NULL)
			return PRISM_ENOMEM;
	}
	struct prism_metric_series *s = series_new(f, values, h);
	if (s == NULL)
		return PRISM_ENOMEM;
	f->series[f->nseries++] = s;
	*out = s;
	return 0;
}

void prism_metric_add(struct prism_metric_series *s, double v)
{
	if (s == NULL || isnan(v) || s->family->type == PRISM_METRIC_HISTOGRAM)
		return;
	if (s->family->type == PRISM_METRIC_COUNTER && v < 0)
		return;
	s->value += v;
}

void prism_metric_set(struct prism_metric_series *s, double v)
{
	if (s != NULL && s->family->type != PRISM_METRIC_HISTOGRAM)
		s->value = v;
}

void prism_metric_observe(struct prism_metric_series *s, double v)
{
	if (s == NULL || isnan(v) || s->family->type != PRISM_METRIC_HISTOGRAM)
		return;
	const struct prism_metric *f = s->family;
	size_t i = 0;
	while (i < f->nbounds && v > f->bounds[i])
		i++;
	if (i < f->nbounds)
		s->buckets[i]++;
	s->count++;
	s->value += v;
}

double prism_metric_value(const struct prism_metric_series *s)
{
	return s != NULL ? s->value : 0;
}

int prism_metric_inc(struct prism_metric *f, const char *const *values, double v)
{
	struct prism_metric_series *s;
	int rc = prism_metric_series(f, values, &s);
	if (rc != 0)
		return rc;
	if (f->type == PRISM_METRIC_HISTOGRAM)
		prism_metric_observe(s, v);
	else
		prism_metric_add(s, v);
	return 0;
}

int prism_metric_put(struct prism_metric *f, const char *const *values, double v)
{
	struct prism_metric_series *s;
	int rc = prism_metric_series(f, values, &s);
	if (rc == 0)
		prism_metric_set(s, v);
	return rc;
}

/* ---- text format ---- */

struct out {
	char **buf;
	size_t *len, *cap;
	bool oom;
};

static bool reserve(struct out *o, size_t n)
{
	if (o->oom)
		return false;
	if (*o->len + n + 1 <= *o->cap)
		return true;
	size_t cap = *o->cap ? *o->cap : 4096;
	while (cap < *o->len + n + 1)
		cap *= 2;
	char *p = realloc(*o->buf, cap);
	if (p == NULL) {
		o->oom = true;
		return false;
	}
	*o->buf = p;
	*o->cap = cap;
	return true;
}

static void put(struct out *o, const char *s, size_t n)
{
	if (!reserve(o, n))
		return;
	memcpy(*o->buf + *o->len, s, n);
	*o->len += n;
	(*o->buf)[*o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void put_escaped(struct out *o, const char *s, bool quote)
{
	const char *run = s;
	for (; *s; s++) {
		const char *esc = *s == '\\'		 ? "\\\\"
				  : *s == '\n'		 ? "\\n"
				  : (quote && *s == '"') ? "\\\""
							 : NULL;
		if (esc == NULL)
			continue;
		put(o, run, (size_t)(s - run));
		puts_(o, esc);
		run = s + 1;
	}
	put(o, run, (size_t)(s - run));
}

void prism_metric_value_text(double v, char *out, size_t outlen)
{
	if (isnan(v)) {
		snprintf(out, outlen, "NaN");
	} else if (isinf(v)) {
		snprintf(out, outlen, v > 0 ? "+Inf" : "-Inf");
	} else if (v == floor(v) && fabs(v) < 1e15) {
		snprintf(out, outlen, "%.0f", v);
	} else {
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(out, outlen, "%.*g", prec, v);
			if (strtod(out, NULL) == v)
				break;
		}
	}
}

static void put_value(struct out *o, double v)
{
	char buf[40];
	prism_metric_value_text(v, buf, sizeof(buf));
	puts_(o, buf);
}

/* name{l1="v1",…[,le="x"]} */
static void put_series_name(struct out *o, const struct prism_metric *f,
			    const struct prism_metric_series *s, const char *suffix,
			    const char *le)
{
	puts_(o, f->name);
	puts_(o, suffix);
	if (f->nlabels == 0 && le == NULL)
		return;
	puts_(o, "{");
	for (size_t i = 0; i < f->nlabels; i++) {
		if (i > 0)
			puts_(o, ",");
		puts_(o, f->labels[i]);
		puts_(o, "=\"");
		put_escaped(o, s->values[i], true);
		puts_(o, "\"");
	}
	if (le != NULL) {
		puts_(o, f->nlabels ? ",le=\"" : "le=\"");
		puts_(o, le);
		puts_(o, "\"");
	}
	puts_(o, "}");
}

static void put_histogram(struct out *o, const struct prism_metric *f,
			  const struct prism_metric_series *s)
{
	uint64_t cum = 0;
	char le[40];
	for (size_t b = 0; b <= f->nbounds; b++) {
		if (b < f->nbounds) {
			cum += s->buckets[b];
			prism_metric_value_text(f->bounds[b], le, sizeof(le));
		} else {
			cum = s->count;
			snprintf(le, sizeof(le), "+Inf");
		}
		put_series_name(o, f, s, "_bucket", le);
		puts_(o, " ");
		put_value(o, (double)cum);
		puts_(o, "\n");
	}
	put_series_name(o, f, s, "_sum", NULL);
	puts_(o, " ");
	put_value(o, s->value);
	puts_(o, "\n");
	put_series_name(o, f, s, "_count", NULL);
	puts_(o, " ");
	put_value(o, (double)s->count);
	puts_(o, "\n");
}

static const char *const type_names[] = {"counter", "gauge", "histogram"};

int prism_metrics_format(const struct prism_metrics *m, char **buf, size_t *len, size_t *cap)
{
	if (m == NULL || buf == NULL || len == NULL || cap == NULL)
		return PRISM_EINVAL;
	struct out o = {buf, len, cap, false};
	reserve(&o, 0);
	for (const struct prism_metric *f = m->head; f != NULL; f = f->next) {
		puts_(&o, "# HELP ");
		puts_(&o, f->name);
		puts_(&o, " ");
		put_escaped(&o, f->help, false);
		puts_(&o, "\n# TYPE ");
		puts_(&o, f->name);
		puts_(&o, " ");
		puts_(&o, type_names[f->type]);
		puts_(&o, "\n");
		for (size_t i = 0; i < f->nseries; i++) {
			const struct prism_metric_series *s = f->series[i];
			if (f->type == PRISM_METRIC_HISTOGRAM) {
				put_histogram(&o, f, s);
				continue;
			}
			put_series_name(&o, f, s, "", NULL);
			puts_(&o, " ");
			put_value(&o, s->value);
			puts_(&o, "\n");
		}
	}
	return o.oom ? PRISM_ENOMEM : 0;
}
