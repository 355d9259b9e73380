/* SPDX-License-Identifier: MIT */
/*
 * Zone files through ldns (the parser the DNS field trusts, not one of our own): the text is
 * handed to ldns_zone_new_frm_fp_l through fmemopen(), every record printed back with
 * ldns's presentation form, to be checked per type by core/rr_validate like any input.
 */
#include <ctype.h>
#include <jansson.h>
#include <ldns/ldns.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/zonefile.h"

#define RECORDS_MAX 1000000u

void prism_zone_data_free(struct prism_zone_data *z)
{
	if (z == NULL)
		return;
	for (size_t i = 0; i < z->n; i++) {
		free(z->v[i].name);
		free(z->v[i].type);
		free(z->v[i].content);
	}
	free(z->v);
	z->v = NULL;
	z->n = 0;
}

static void lower(char *s)
{
	for (; s != NULL && *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Append one record (takes ownership of the strings, also on failure). */
static int data_add(struct prism_zone_data *z, size_t *cap, char *name, char *type, uint32_t ttl,
		    char *content)
{
	if (name == NULL || type == NULL || content == NULL || z->n >= RECORDS_MAX) {
		int rc = z->n >= RECORDS_MAX ? PRISM_ETOOBIG : PRISM_ENOMEM;
		free(name);
		free(type);
		free(content);
		return rc;
	}
	if (z->n == *cap) {
		size_t c = *cap ? *cap * 2 : 64;
		struct prism_zone_rr *v = realloc(z->v, c * sizeof(*v));
		if (v == NULL) {
			free(name);
			free(type);
			free(content);
			return PRISM_ENOMEM;
		}
		z->v = v;
		*cap = c;
	}
	lower(name);
	z->v[z->n++] = (struct prism_zone_rr){name, type, ttl, content};
	return 0;
}

/* The rdata of @p rr as text: its fields separated by spaces. */
static char *rdata_text(const ldns_rr *rr)
{
	size_t len = 0, cap = 64;
	char *out = malloc(cap);
	if (out == NULL)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		char *f = ldns_rdf2str(ldns_rr_rdf(rr, i));
		if (f == NULL) {
			free(out);
			return NULL;
		}
		size_t fl = strlen(f);
		if (len + fl + 2 > cap) {
			while (len + fl + 2 > cap)
				cap *= 2;
			char *p = realloc(out, cap);
			if (p == NULL) {
				free(f);
				free(out);
				return NULL;
			}
			out = p;
		}
		if (len > 0)
			out[len++] = ' ';
		memcpy(out + len, f, fl + 1);
		len += fl;
		free(f);
	}
	return out;
}

static int add_ldns_rr(struct prism_zone_data *z, size_t *cap, const ldns_rr *rr)
{
	return data_add(z, cap, ldns_rdf2str(ldns_rr_owner(rr)),
			ldns_rr_type2str(ldns_rr_get_type(rr)), ldns_rr_ttl(rr), rdata_text(rr));
}

/* "$INCLUDE" at the start of a line (after blanks), in any case. */
static bool has_include(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (i > 0 && text[i - 1] != '\n')
			continue;
		size_t k = i;
		while (k < len && (text[k] == ' ' || text[k] == '\t'))
			k++;
		if (len - k >= 8 && strncasecmp(text + k, "$include", 8) == 0)
			return true;
	}
	return false;
}

int prism_zonefile_parse(const char *text, size_t len, const char *zone,
			 struct prism_zone_data *out, char *err, size_t errlen)
{
	if (text == NULL || zone == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errlen, "a NUL byte in the zone file");
		return PRISM_EMSG;
	}
	if (has_include(text, len)) {
		snprintf(err, errlen, "$INCLUDE is not allowed");
		return PRISM_EMSG;
	}
	ldns_rdf *origin = ldns_dname_new_frm_str(zone), *prev = NULL;
	FILE *fp = len > 0 ? fmemopen((void *)text, len, "r") : NULL;
	if (origin == NULL || fp == NULL) {
		ldns_rdf_deep_free(origin);
		if (fp != NULL)
			fclose(fp);
		if (len == 0) {
			snprintf(err, errlen, "the zone file is empty");
			return PRISM_EMSG;
		}
		return PRISM_ENOMEM;
	}
	/* record by record rather than ldns_zone_new_frm_fp_l, which leaks the records read
	 * so far when a later one is wrong (ldns 1.8.3); each record is freed at once */
	uint32_t ttl = 3600;
	int line = 0, rc = 0;
	size_t cap = 0;
	while (rc == 0 && !feof(fp)) {
		ldns_rr *rr = NULL;
		ldns_status st = ldns_rr_new_frm_fp_l(&rr, fp, &ttl, &origin, &prev, &line);
		if (st == LDNS_STATUS_OK) {
			rc = add_ldns_rr(out, &cap, rr);
			if (rc != 0)
				snprintf(err, errlen, "%s",
					 rc == PRISM_ETOOBIG ? "more than 1000000 records"
							     : "out of memory");
		} else if (st != LDNS_STATUS_SYNTAX_EMPTY && st != LDNS_STATUS_SYNTAX_TTL &&
			   st != LDNS_STATUS_SYNTAX_ORIGIN) {
			snprintf(err, errlen, "line %d: %s", line,
				 st == LDNS_STATUS_SYNTAX_INCLUDE ? "$INCLUDE is not allowed"
								  : ldns_get_errorstr_by_id(st));
			rc = PRISM_EMSG;
		}
		ldns_rr_free(rr);
	}
	fclose(fp);
	ldns_rdf_deep_free(origin);
	ldns_rdf_deep_free(prev);
	if (rc == 0 && out->n == 0) {
		snprintf(err, errlen, "no record in the zone file");
		rc = PRISM_EMSG;
	}
	if (rc != 0)
		prism_zone_data_free(out);
	return rc;
}

int prism_pdns_zone_records(const char *body, size_t len, struct prism_zone_data *out)
{
	if (body == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *rrsets = json_object_get(root, "rrsets"), *rs, *rec;
	size_t i, k, cap = 0;
	int rc = json_is_array(rrsets) ? 0 : PRISM_EPROTO;
	json_array_foreach(rrsets, i, rs)
	{
		const char *name = json_string_value(json_object_get(rs, "name"));
		const char *type = json_string_value(json_object_get(rs, "type"));
		json_t *ttl = json_object_get(rs, "ttl");
		if (rc != 0)
			break;
		if (name == NULL || type == NULL || !json_is_integer(ttl) ||
		    json_integer_value(ttl) < 0 || json_integer_value(ttl) > UINT32_MAX) {
			rc = PRISM_EPROTO;
			break;
		}
		json_array_foreach(json_object_get(rs, "records"), k, rec)
		{
			const char *content = json_string_value(json_object_get(rec, "content"));
			if (content == NULL) {
				rc = PRISM_EPROTO;
				break;
			}
			if (json_is_true(json_object_get(rec, "disabled")))
				continue;
			rc = data_add(out, &cap, strdup(name), strdup(type),
				      (uint32_t)json_integer_value(ttl), strdup(content));
			if (rc != 0)
				break;
		}
	}
	json_decref(root);
	if (rc != 0)
		prism_zone_data_free(out);
	return rc;
}

void prism_zone_list_free(struct prism_zone_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].kind);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int prism_pdns_zone_list(const char *body, size_t len, struct prism_zone_list *out)
{
	if (body == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	json_t *root = json_loadb(body, len, 0, NULL), *z;
	size_t i;
	if (!json_is_array(root)) {
		json_decref(root);
		return PRISM_EPROTO;
	}
	int rc = 0;
	out->v = calloc(json_array_size(root) ? json_array_size(root) : 1, sizeof(*out->v));
	if (out->v == NULL)
		rc = PRISM_ENOMEM;
	json_array_foreach(root, i, z)
	{
		const char *name = json_string_value(json_object_get(z, "name"));
		const char *kind = json_string_value(json_object_get(z, "kind"));
		json_t *serial = json_object_get(z, "serial");
		if (rc != 0)
			break;
		if (name == NULL) {
			rc = PRISM_EPROTO;
			break;
		}
		struct prism_zone_entry *e = &out->v[out->n++];
		e->name = strdup(name);
		e->kind = strdup(kind ? kind : "");
		lower(e->name);
		if (json_is_integer(serial) && json_integer_value(serial) >= 0 &&
		    json_integer_value(serial) <= UINT32_MAX)
			e->serial = (uint32_t)json_integer_value(serial);
		if (e->name == NULL || e->kind == NULL)
			rc = PRISM_ENOMEM;
	}
	json_decref(root);
	if (rc != 0)
		prism_zone_list_free(out);
	return rc;
}

/* A growing text buffer. */
struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void puts_(struct sbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

int prism_zonefile_write(const char *zone, uint32_t ttl, const char *soa,
			 const char *const *nameservers, const struct prism_export_rrset *v,
			 size_t n, char **text)
{
	if (zone == NULL || soa == NULL || nameservers == NULL || (v == NULL && n > 0) ||
	    text == NULL)
		return PRISM_EINVAL;
	struct sbuf b = {0};
	char line[1024];
	snprintf(line, sizeof(line), "$ORIGIN %s\n$TTL %u\n", zone, ttl);
	puts_(&b, line);
	snprintf(line, sizeof(line), "%s %u IN SOA ", zone, ttl);
	puts_(&b, line);
	puts_(&b, soa);
	puts_(&b, "\n");
	for (size_t i = 0; nameservers[i] != NULL; i++) {
		snprintf(line, sizeof(line), "%s %u IN NS ", zone, ttl);
		puts_(&b, line);
		puts_(&b, nameservers[i]);
		puts_(&b, "\n");
	}
	for (size_t i = 0; i < n; i++) {
		for (const char *p = v[i].content; p != NULL && *p != '\0';) {
			const char *e = strchr(p, '\n');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			puts_(&b, v[i].name);
			snprintf(line, sizeof(line), " %u IN %s ", v[i].ttl, v[i].type);
			puts_(&b, line);
			put(&b, p, len);
			puts_(&b, "\n");
			p = e ? e + 1 : NULL;
		}
	}
	if (b.oom || b.p == NULL) {
		free(b.p);
		return PRISM_ENOMEM;
	}
	*text = b.p;
	return 0;
}
