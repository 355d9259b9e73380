/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/error.h"
#include "core/inventory.h"

#define GROUP_MAX 128

struct host {
	char *name, *address, *source;
};

struct group {
	char *name;
	struct host *hosts;
	size_t n, cap;
};

struct prism_inventory {
	regex_t rx;
	char *tmpl; /* NULL: captures joined */
	struct group *groups;
	size_t n, cap;
};

void prism_inventory_free(struct prism_inventory *inv)
{
	if (inv == NULL)
		return;
	for (size_t g = 0; g < inv->n; g++) {
		for (size_t i = 0; i < inv->groups[g].n; i++) {
			free(inv->groups[g].hosts[i].name);
			free(inv->groups[g].hosts[i].address);
			free(inv->groups[g].hosts[i].source);
		}
		free(inv->groups[g].hosts);
		free(inv->groups[g].name);
	}
	free(inv->groups);
	free(inv->tmpl);
	regfree(&inv->rx);
	free(inv);
}

/* A template refers to {0}…{9} only, and braces only that way. */
static bool template_ok(const char *t, size_t nsub)
{
	for (; *t; t++) {
		if (*t == '}')
			return false;
		if (*t != '{')
			continue;
		if (!isdigit((unsigned char)t[1]) || t[2] != '}' || (size_t)(t[1] - '0') > nsub)
			return false;
		t += 2;
	}
	return true;
}

int prism_inventory_new(const char *pattern, const char *group, struct prism_inventory **out,
			char *err, size_t errlen)
{
	if (pattern == NULL || out == NULL)
		return PRISM_EINVAL;
	struct prism_inventory *inv = calloc(1, sizeof(*inv));
	if (inv == NULL)
		return PRISM_ENOMEM;
	int rc = regcomp(&inv->rx, pattern, REG_EXTENDED | REG_ICASE);
	if (rc != 0) {
		char msg[128];
		regerror(rc, &inv->rx, msg, sizeof(msg));
		snprintf(err, errlen, "the pattern is not a regular expression (%s)", msg);
		free(inv);
		return PRISM_EINVAL;
	}
	if (group != NULL && (!template_ok(group, inv->rx.re_nsub) || group[0] == '\0')) {
		snprintf(err, errlen,
			 "the group template may use {0} to {%zu} (the pattern's "
			 "captures) and no other braces",
			 inv->rx.re_nsub < 9 ? inv->rx.re_nsub : 9);
		prism_inventory_free(inv);
		return PRISM_EINVAL;
	}
	if (group != NULL && (inv->tmpl = strdup(group)) == NULL) {
		prism_inventory_free(inv);
		return PRISM_ENOMEM;
	}
	*out = inv;
	return 0;
}

/* Append s[0..n) to the group name, Ansible-safe: [A-Za-z0-9_], other bytes as '_'. */
static void put(char *name, size_t *len, const char *s, size_t n)
{
	for (size_t i = 0; i < n && *len + 1 < GROUP_MAX; i++) {
		char c = s[i];
		name[(*len)++] = isalnum((unsigned char)c) ? (char)tolower((unsigned char)c) : '_';
	}
	name[*len] = '\0';
}

static void group_name(const struct prism_inventory *inv, const char *s, const regmatch_t *m,
		       char *name)
{
	size_t len = 0;
	name[0] = '\0';
	if (inv->tmpl == NULL) {
		size_t nsub = inv->rx.re_nsub < 9 ? inv->rx.re_nsub : 9;
		for (size_t k = 1; k <= nsub; k++) {
			if (m[k].rm_so < 0)
				continue;
			if (len > 0)
				put(name, &len, "_", 1);
			put(name, &len, s + m[k].rm_so, (size_t)(m[k].rm_eo - m[k].rm_so));
		}
		if (nsub == 0)
			put(name, &len, s + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so));
		return;
	}
	for (const char *t = inv->tmpl; *t; t++) {
		if (*t == '{') {
			int k = t[1] - '0';
			if (m[k].rm_so >= 0)
				put(name, &len, s + m[k].rm_so, (size_t)(m[k].rm_eo - m[k].rm_so));
			t += 2;
		} else {
			put(name, &len, t, 1);
		}
	}
}

static struct group *find_group(struct prism_inventory *inv, const char *name)
{
	size_t lo = 0, hi = inv->n;
	while (lo < hi) { /* sorted by name */
		size_t mid = (lo + hi) / 2;
		int c = strcmp(inv->groups[mid].name, name);
		if (c == 0)
			return &inv->groups[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (inv->n == inv->cap) {
		size_t cap = inv->cap ? inv->cap * 2 : 16;
		struct group *v = realloc(inv->groups, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		inv->groups = v;
		inv->cap = cap;
	}
	char *copy = strdup(name);
	if (copy == NULL)
		return NULL;
	memmove(&inv->groups[lo + 1], &inv->groups[lo], (inv->n - lo) * sizeof(*inv->groups));
	inv->groups[lo] = (struct group){.name = copy};
	inv->n++;
	return &inv->groups[lo];
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

int prism_inventory_add(struct prism_inventory *inv, const char *match, const char *name,
			const char *address, const char *source)
{
	if (inv == NULL || match == NULL || name == NULL)
		return PRISM_EINVAL;
	regmatch_t m[10];
	char gname[GROUP_MAX];
	bool matched = regexec(&inv->rx, match, 10, m, 0) == 0;
	if (matched)
		group_name(inv, match, m, gname);
	if (!matched || gname[0] == '\0')
		snprintf(gname, sizeof(gname), "%s", PRISM_INVENTORY_UNGROUPED);
	struct group *g = find_group(inv, gname);
	if (g == NULL)
		return PRISM_ENOMEM;
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct host *v = realloc(g->hosts, cap * sizeof(*v));
		if (v == NULL)
			return PRISM_ENOMEM;
		g->hosts = v;
		g->cap = cap;
	}
	struct host *h = &g->hosts[g->n];
	h->name = strdup(name);
	h->address = dup_or_null(address);
	h->source = dup_or_null(source);
	if (h->name == NULL || (address && !h->address) || (source && !h->source)) {
		free(h->name);
		free(h->address);
		free(h->source);
		return PRISM_ENOMEM;
	}
	g->n++;
	return strcmp(gname, PRISM_INVENTORY_UNGROUPED) == 0 ? PRISM_ENOTFOUND : 0;
}

size_t prism_inventory_ngroups(const struct prism_inventory *inv)
{
	return inv ? inv->n : 0;
}

/* ---- YAML through libyaml's emitter, into a growing buffer ---- */

struct out {
	char *buf;
	size_t len, cap;
	bool failed;
};

static int write_cb(void *data, unsigned char *p, size_t n)
{
	struct out *o = data;
	if (o->len + n + 1 > o->cap) {
		size_t cap = (o->len + n + 1) * 2;
		char *b = realloc(o->buf, cap);
		if (b == NULL) {
			o->failed = true;
			return 0;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return 1;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
	return yaml_emitter_emit(e, ev) ? 0 : PRISM_ENOMEM;
}

static int scalar(yaml_emitter_t *e, const char *s, bool quoted)
{
	yaml_event_t ev;
	yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
				     quoted ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
					    : YAML_ANY_SCALAR_STYLE);
	return emit(e, &ev);
}

static int map_start(yaml_emitter_t *e)
{
	yaml_event_t ev;
	yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
	return emit(e, &ev);
}

static int map_end(yaml_emitter_t *e)
{
	yaml_event_t ev;
	yaml_mapping_end_event_initialize(&ev);
	return emit(e, &ev);
}

static int hosts(yaml_emitter_t *e, const struct group *g)
{
	int rc = scalar(e, "hosts", false);
	if (rc == 0)
		rc = map_start(e);
	for (size_t i = 0; rc == 0 && i < g->n; i++) {
		const struct host *h = &g->hosts[i];
		rc = scalar(e, h->name, false);
		if (rc == 0)
			rc = map_start(e);
		if (rc == 0 && h->address != NULL && (rc = scalar(e, "ansible_host", false)) == 0)
			rc = scalar(e, h->address, true);
		if (rc == 0 && h->source != NULL && (rc = scalar(e, "prism_source", false)) == 0)
			rc = scalar(e, h->source, true);
		if (rc == 0)
			rc = map_end(e);
	}
	return rc == 0 ? map_end(e) : rc;
}

/* all: {children: {NAME: {hosts: …}}}, or all: {hosts: …} for the ungrouped */
static int document(yaml_emitter_t *e, const struct group *g)
{
	yaml_event_t ev;
	bool ungrouped = strcmp(g->name, PRISM_INVENTORY_UNGROUPED) == 0;
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	int rc = emit(e, &ev);
	if (rc == 0) {
		yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
		rc = emit(e, &ev);
	}
	if (rc == 0 && (rc = map_start(e)) == 0 && (rc = scalar(e, "all", false)) == 0)
		rc = map_start(e);
	if (rc == 0 && !ungrouped) {
		if ((rc = scalar(e, "children", false)) == 0 && (rc = map_start(e)) == 0 &&
		    (rc = scalar(e, g->name, false)) == 0 && (rc = map_start(e)) == 0 &&
		    (rc = hosts(e, g)) == 0 && (rc = map_end(e)) == 0)
			rc = map_end(e);
	} else if (rc == 0) {
		rc = hosts(e, g);
	}
	if (rc == 0 && (rc = map_end(e)) == 0 && (rc = map_end(e)) == 0) {
		yaml_document_end_event_initialize(&ev, 1);
		rc = emit(e, &ev);
	}
	if (rc == 0) {
		yaml_stream_end_event_initialize(&ev);
		rc = emit(e, &ev);
	}
	return rc;
}

int prism_inventory_render(const struct prism_inventory *inv, size_t i, const char **name,
			   size_t *nhosts, char **yaml, size_t *len)
{
	if (inv == NULL || yaml == NULL || i >= inv->n)
		return inv == NULL || yaml == NULL ? PRISM_EINVAL : PRISM_ENOTFOUND;
	const struct group *g = &inv->groups[i];
	struct out o = {0};
	yaml_emitter_t e;
	if (!yaml_emitter_initialize(&e))
		return PRISM_ENOMEM;
	yaml_emitter_set_output(&e, write_cb, &o);
	yaml_emitter_set_width(&e, -1);
	yaml_emitter_set_unicode(&e, 1);
	int rc = document(&e, g);
	yaml_emitter_delete(&e);
	if (rc != 0 || o.failed || o.buf == NULL) {
		free(o.buf);
		return PRISM_ENOMEM;
	}
	if (name != NULL)
		*name = g->name;
	if (nhosts != NULL)
		*nhosts = g->n;
	*yaml = o.buf;
	if (len != NULL)
		*len = o.len;
	return 0;
}
