/* SPDX-License-Identifier: MIT */
/*
 * Zones and records, the logic both backends share (zones_util.h): the text helpers, an
 * rrsets_put (what changes, the audit, the CNAME rule) and a repoint, over the statements
 * each backend provides (struct zput_ops: SQLite's zones.c, PostgreSQL's pg_zones.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/jw.h"
#include "core/rrset.h"
#include "core/strv.h"
#include "store/store.h"
#include "store/zones_util.h"

#define REPOINT_MAX 1000000u

char **prism_split_lines(const char *text)
{
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	char **v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	size_t k = 0;
	for (const char *p = text; k < n;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len > 0 && (v[k++] = strndup(p, len)) == NULL)
			goto fail;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return v;
fail:
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return NULL;
}

char *prism_rrset_json(uint32_t ttl, const char *const *records, size_t n)
{
	struct jw w = {0};
	jw_obj(&w);
	jw_kint(&w, "ttl", ttl);
	jw_key(&w, "records");
	jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		jw_str(&w, records[i]);
	jw_end_arr(&w);
	jw_end_obj(&w);
	if (jw_text(&w) == NULL) {
		jw_free(&w);
		return NULL;
	}
	return w.buf;
}

char *prism_join_records(const char *const *r, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(r[i]) + 1;
	char *out = malloc(len), *p = out;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(r[i]);
		if (i > 0)
			*p++ = '\n';
		memcpy(p, r[i], l);
		p += l;
	}
	*p = '\0';
	return out;
}

/* ---- records ---- */

static int put_audit(struct zput *c, const char *action, const char *name, const char *type,
		     const char *before, const char *after)
{
	if (c->actor == NULL)
		return 0;
	char object[600];
	snprintf(object, sizeof(object), "record:%s %s", name, type);
	struct prism_audit_entry e = {c->now, c->actor, action, object, before, after};
	return c->ops->audit(c, &e);
}

/* The RRset as stored now: host_id (-1 when absent), and its JSON for the audit log. */
static int put_current(struct zput *c, const char *name, const char *type, int64_t *host,
		       int64_t *hash, char **json)
{
	uint32_t ttl = 0;
	char *content = NULL;
	*json = NULL;
	int rc = c->ops->current(c, name, type, host, hash, &ttl, &content);
	if (rc != 0 || *host < 0)
		return rc;
	char **recs = prism_split_lines(content);
	size_t n = 0;
	while (recs != NULL && recs[n] != NULL)
		n++;
	*json = recs ? prism_rrset_json(ttl, (const char *const *)recs, n) : NULL;
	prism_strv_free(recs);
	free(content);
	return *json == NULL ? PRISM_ENOMEM : 0;
}

/* Queue one desired RRset (host_id 0 = none): written and made pending on every target of
 * its zone by the flush. */
static int put_desired(struct zput *c, const struct prism_rrset_put *rr, int64_t hash,
		       int64_t host_id)
{
	char *content = prism_join_records(rr->records, rr->nrecords);
	if (content == NULL)
		return PRISM_ENOMEM;
	int rc = c->ops->queue(c, rr->name, rr->type, rr->ttl, content, hash, host_id, false);
	free(content);
	return rc;
}

/* Queue the withdrawal of one RRset: deleted on every target that has it. */
static int drop_desired(struct zput *c, const char *name, const char *type)
{
	struct prism_rr_change del = {name, type, 0, NULL, 0};
	return c->ops->queue(c, name, type, 0, "", (int64_t)prism_rrset_hash(&del), 0, true);
}

static int put_one(struct zput *c, const struct prism_rrset_put *rr, bool *changed,
		   struct prism_rrset_err *err)
{
	int64_t host, old_hash = 0;
	char *before = NULL, *after = NULL;
	int rc = put_current(c, rr->name, rr->type, &host, &old_hash, &before);
	*changed = false;
	if (rc != 0)
		return rc;
	if (host > 0) {
		snprintf(err->message, sizeof(err->message),
			 "%s %s is a host's record (host %" PRId64 "): change the host instead",
			 rr->name, rr->type, host);
		rc = PRISM_ECONFLICT;
	} else if (rr->nrecords == 0) {
		if (host < 0) {
			snprintf(err->message, sizeof(err->message), "there is no %s record at %s",
				 rr->type, rr->name);
			rc = PRISM_ENOTFOUND;
		} else {
			rc = drop_desired(c, rr->name, rr->type);
			if (rc == 0)
				rc = put_audit(c, "record.delete", rr->name, rr->type, before,
					       NULL);
			*changed = rc == 0;
		}
	} else {
		struct prism_rr_change ch = {rr->name, rr->type, rr->ttl, rr->records,
					     rr->nrecords};
		int64_t hash = (int64_t)prism_rrset_hash(&ch);
		if (host < 0 || hash != old_hash) {
			rc = put_desired(c, rr, hash, 0);
			after = rc == 0 ? prism_rrset_json(rr->ttl, rr->records, rr->nrecords)
					: NULL;
			if (rc == 0 && after == NULL)
				rc = PRISM_ENOMEM;
			if (rc == 0)
				rc = put_audit(c, "record.put", rr->name, rr->type, before, after);
			*changed = rc == 0;
		}
	}
	free(before);
	free(after);
	return rc;
}

/* After every change: a CNAME must be alone at its name. */
static int check_cname(struct zput *c, const struct prism_rrset_put *rr,
		       struct prism_rrset_err *err)
{
	int64_t total, cnames, hosts;
	char types[64];
	if (c->ops->name_types(c, rr->name, &total, &cnames, &hosts, types, sizeof(types)) != 0)
		return PRISM_ESTORE;
	if (cnames == 0 || total <= 1)
		return 0;
	snprintf(err->message, sizeof(err->message),
		 "a CNAME cannot share its name with other records: %s has %s%s", rr->name,
		 types[0] ? types : "?", hosts > 0 ? " (a host's records)" : "");
	return hosts > 0 ? PRISM_ECONFLICT : PRISM_EMSG;
}

int zput_rrsets(const struct zput_ops *ops, struct prism_store *s, const char *zone,
		bool config_zone, const struct prism_rrset_put *v, size_t n, int64_t now,
		const char *actor, size_t *changed, struct prism_rrset_err *err)
{
	if (s == NULL || zone == NULL || (v == NULL && n > 0) || changed == NULL || err == NULL)
		return PRISM_EINVAL;
	*changed = 0;
	memset(err, 0, sizeof(*err));
	if (!config_zone) {
		bool exists;
		int e = ops->zone_exists(s, zone, &exists);
		if (e != 0 || !exists) {
			snprintf(err->message, sizeof(err->message), "no zone %s", zone);
			return e != 0 ? e : PRISM_ENOTFOUND;
		}
	}
	struct zput c = {.ops = ops, .s = s, .zone = zone, .now = now, .actor = actor};
	int rc = ops->open(&c);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool ch;
		err->index = i;
		rc = put_one(&c, &v[i], &ch, err);
		*changed += ch;
	}
	if (rc == 0)
		rc = ops->flush(&c);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		err->index = i;
		if (v[i].nrecords > 0)
			rc = check_cname(&c, &v[i], err);
	}
	ops->close(&c);
	return rc;
}

/* ---- repoint ---- */

void prism_repoint_result_free(struct prism_repoint_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].zone);
		free(r->items[i].name);
		free(r->items[i].type);
	}
	free(r->items);
	r->items = NULL;
	r->n = 0;
}

void zmatch_free(struct zmatch *m, size_t n)
{
	for (size_t i = 0; m != NULL && i < n; i++) {
		free(m[i].zone);
		free(m[i].name);
		free(m[i].type);
		free(m[i].content);
	}
	free(m);
}

int zgrow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, c * size);
	if (p == NULL)
		return PRISM_ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

int zmatch_add(struct zmatch **v, size_t *n, size_t *cap, const char *const *zones,
	       const char *zone, const char *name, const char *type, uint32_t ttl,
	       const char *content, int64_t host_id)
{
	if (zones != NULL) {
		bool listed = false;
		for (size_t i = 0; zones[i] != NULL && !listed; i++)
			listed = strcmp(zones[i], zone) == 0;
		if (!listed)
			return 0;
	}
	if (*n >= REPOINT_MAX)
		return 0;
	if (zgrow((void **)v, cap, *n, sizeof(**v)) != 0)
		return PRISM_ENOMEM;
	struct zmatch *m = &(*v)[(*n)++];
	*m = (struct zmatch){strdup(zone),    strdup(name), strdup(type),
			     strdup(content), ttl,	    host_id};
	return m->zone && m->name && m->type && m->content ? 0 : PRISM_ENOMEM;
}

int prism_repoint_content(const char *content, const char *from, const char *to, char ***recs,
			  size_t *n)
{
	char **v = prism_split_lines(content);
	*recs = NULL;
	*n = 0;
	if (v == NULL)
		return PRISM_ENOMEM;
	bool have_to = false;
	for (size_t i = 0; v[i] != NULL; i++)
		have_to |= strcmp(v[i], to) == 0;
	size_t k = 0;
	for (size_t i = 0; v[i] != NULL; i++) {
		if (strcmp(v[i], from) == 0) {
			free(v[i]);
			v[i] = NULL;
			if (have_to)
				continue;
			v[i] = strdup(to);
			if (v[i] == NULL) {
				for (size_t j = i + 1; v[j] != NULL; j++)
					free(v[j]);
				*recs = v;
				*n = k;
				return PRISM_ENOMEM;
			}
			have_to = true;
		}
		v[k++] = v[i];
	}
	v[k] = NULL;
	*recs = v;
	*n = k;
	return 0;
}

/* A host's address moved: its row, and its PTR when it has one for the old address. */
static int repoint_host(struct zput *c, int64_t host_id, const char *from, const char *to)
{
	int rc = c->ops->readdress(c->s, host_id, from, to);
	char old_rev[PRISM_DNAME_MAX + 1], new_rev[PRISM_DNAME_MAX + 1];
	if (rc != 0 || prism_reverse_name(from, old_rev, sizeof(old_rev)) != 0 ||
	    prism_reverse_name(to, new_rev, sizeof(new_rev)) != 0)
		return rc;
	char *zone = NULL, *target = NULL;
	uint32_t ttl = 0;
	rc = c->ops->host_ptr(c->s, host_id, old_rev, &zone, &ttl, &target);
	if (rc == 0 && zone != NULL && target != NULL) {
		const char *saved = c->zone;
		c->zone = zone;
		rc = drop_desired(c, old_rev, "PTR");
		/* the new PTR goes into the same reverse zone when it belongs there */
		const char *zones[2] = {zone, NULL};
		if (rc == 0 && prism_zone_of(new_rev, zones) != NULL) {
			const char *recs[1] = {target};
			struct prism_rrset_put p = {new_rev, "PTR", ttl, recs, 1};
			struct prism_rr_change ch = {new_rev, "PTR", ttl, recs, 1};
			rc = put_desired(c, &p, (int64_t)prism_rrset_hash(&ch), host_id);
		}
		c->zone = saved;
	}
	free(zone);
	free(target);
	return rc;
}

static int repoint_apply(struct zput *c, const struct zmatch *m, const char *from, const char *to)
{
	char **recs = NULL;
	size_t n = 0;
	int rc = prism_repoint_content(m->content, from, to, &recs, &n);
	if (rc == 0) {
		struct prism_rrset_put p = {m->name, m->type, m->ttl, (const char *const *)recs,
					    n};
		struct prism_rr_change ch = {m->name, m->type, m->ttl, (const char *const *)recs,
					     n};
		c->zone = m->zone;
		rc = put_desired(c, &p, (int64_t)prism_rrset_hash(&ch), m->host_id);
	}
	for (size_t i = 0; recs != NULL && i < n; i++)
		free(recs[i]);
	free(recs);
	if (rc == 0 && m->host_id > 0)
		rc = repoint_host(c, m->host_id, from, to);
	return rc;
}

int zput_repoint(const struct zput_ops *ops, struct prism_store *s, const char *from,
		 const char *to, const char *const *zones, const char *pattern, bool dry_run,
		 int64_t now, struct prism_repoint_result *out)
{
	if (s == NULL || from == NULL || to == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct zmatch *m;
	size_t n;
	int rc = ops->matches(s, from, zones, pattern, &m, &n);
	struct zput c = {.ops = ops, .s = s, .now = now};
	bool opened = rc == 0 && !dry_run;
	if (opened)
		rc = ops->open(&c);
	if (rc == 0 && n > 0 && (out->items = calloc(n, sizeof(*out->items))) == NULL)
		rc = PRISM_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct prism_repoint_item *it = &out->items[out->n++];
		it->zone = strdup(m[i].zone);
		it->name = strdup(m[i].name);
		it->type = strdup(m[i].type);
		it->host_id = m[i].host_id;
		out->hosts += m[i].host_id > 0;
		if (!it->zone || !it->name || !it->type)
			rc = PRISM_ENOMEM;
		else if (!dry_run)
			rc = repoint_apply(&c, &m[i], from, to);
	}
	if (rc == 0 && !dry_run)
		rc = ops->flush(&c);
	if (opened)
		ops->close(&c);
	zmatch_free(m, n);
	if (rc != 0)
		prism_repoint_result_free(out);
	return rc;
}
