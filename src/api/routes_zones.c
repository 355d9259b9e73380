/* SPDX-License-Identifier: MIT */
/*
 * Zones, records and repoint over the REST API (docs/zones.md).
 *
 * Zones come from two places: the configuration (`zones:`, origin "config", read-only here)
 * and the registry (created through the API or imported). Records of either kind are
 * validated per type (core/rr_validate.h) before any write, then written by one store job:
 * a request is one transaction, its changes in the audit log. A job that touches zones
 * tells the engine afterwards; the engine loads the targets' zone lists again and creates
 * or deletes zones on the servers.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/routes_zones.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/rr_validate.h"
#include "core/zonefile.h"
#include "store/store.h"

#define RRSETS_MAX	     10000 /* RRsets in one request */
#define RECORDS_PAGE_MAX     5000
#define RECORDS_PAGE_DEFAULT 1000
#define NS_MAX		     16
#define GROUP_MAX	     64

/* ---- small helpers (the same shapes as routes.c) ---- */

static void store_failed(struct api_req *r, int err)
{
	if (err == PRISM_ENOMEM)
		api_error(r, 500, "internal", "out of memory");
	else
		api_error(r, 503, "unavailable", "the registry could not be written (%s)",
			  prism_strerror(err));
}

static bool body_fields(struct api_req *r, const json_t *obj, const char *path,
			const char *const *allowed)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		const char *const *a = allowed;
		while (*a != NULL && strcmp(*a, key) != 0)
			a++;
		if (*a == NULL) {
			api_error(r, 400, "unknown_field", "unknown field '%s%s%s'", path,
				  path[0] ? "." : "", key);
			return false;
		}
	}
	return true;
}

/* An optional string member; false after answering 400. */
static bool opt_string(struct api_req *r, const json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v)) {
		api_error(r, 400, "wrong_type", "'%s' must be a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

static bool opt_bool(struct api_req *r, const json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		api_error(r, 400, "wrong_type", "'%s' must be true or false", key);
		return false;
	}
	*out = json_is_true(v);
	return true;
}

/* An optional integer in [lo, hi]; 422 names @p path. */
static bool opt_uint(struct api_req *r, const json_t *obj, const char *key, const char *path,
		     uint32_t lo, uint32_t hi, uint32_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		api_error(r, 422, "invalid_value",
			  "%s: must be an integer from %" PRIu32 " to %" PRIu32, path, lo, hi);
		return false;
	}
	*out = (uint32_t)json_integer_value(v);
	return true;
}

/* A zone name from the path or a body: normalised, or 404/422 answered. */
static bool zone_name(struct api_req *r, const char *in, char *out, size_t outlen, bool from_path)
{
	if (in != NULL && prism_zone_normalize(in, out, outlen) == 0 && strcmp(out, ".") != 0)
		return true;
	if (from_path)
		api_error(r, 404, "not_found", "no zone %s", in ? in : "");
	else
		api_error(r, 422, "invalid_value", "name: not a zone name");
	return false;
}

/* ---- what the API knows about a zone ---- */

struct zone_info {
	bool config; /* from the configuration */
	const struct prism_config_zone *cz;
	char kind[16];
	char targets[GROUP_MAX + 1];
	char nameservers[NS_MAX * (PRISM_DNAME_MAX + 1)];
	char soa[PRISM_DNAME_MAX * 2 + 64];
	uint32_t ttl;
	bool dnssec, adopt;
	char origin[16];
	int64_t created_at;
};

static const struct prism_config_zone *config_zone(const struct prism_config *cfg,
						   const char *name)
{
	for (size_t i = 0; cfg->zones[i] != NULL; i++)
		if (strcmp(cfg->zones[i]->name, name) == 0)
			return cfg->zones[i];
	return NULL;
}

static void copy_text(char *out, size_t len, struct prism_text t)
{
	snprintf(out, len, "%.*s", (int)t.len, t.s ? t.s : "");
}

static int zone_copy(void *ctx, const struct prism_zone_view *v)
{
	struct zone_info *z = ctx;
	copy_text(z->kind, sizeof(z->kind), v->kind);
	copy_text(z->targets, sizeof(z->targets), v->targets);
	copy_text(z->nameservers, sizeof(z->nameservers), v->nameservers);
	copy_text(z->soa, sizeof(z->soa), v->soa);
	z->ttl = (uint32_t)v->ttl;
	z->dnssec = v->dnssec;
	z->adopt = v->adopt;
	copy_text(z->origin, sizeof(z->origin), v->origin);
	z->created_at = v->created_at;
	return 0;
}

/* 0 found, PRISM_ENOTFOUND, PRISM_ESTORE */
static int zone_lookup(struct prism_api *api, const char *name, struct zone_info *z)
{
	memset(z, 0, sizeof(*z));
	z->cz = config_zone(api->cfg, name);
	if (z->cz != NULL) {
		z->config = true;
		snprintf(z->kind, sizeof(z->kind), "%s", z->cz->kind ? z->cz->kind : "Native");
		z->dnssec = z->cz->dnssec;
		snprintf(z->origin, sizeof(z->origin), "config");
		z->ttl = z->cz->ttl;
		size_t off = 0;
		for (char **ns = z->cz->nameservers; ns && *ns && off < sizeof(z->nameservers);
		     ns++)
			off += (size_t)snprintf(z->nameservers + off, sizeof(z->nameservers) - off,
						"%s%s", off ? "\n" : "", *ns);
		snprintf(z->soa, sizeof(z->soa), "%s", z->cz->soa ? z->cz->soa : "");
		return 0;
	}
	return api->rd->zone_get(api_reader(api), name, zone_copy, z);
}

/* Find the zone of the path; answers 404/503 itself. */
static bool path_zone(struct api_req *r, char *name, size_t len, struct zone_info *z)
{
	if (!zone_name(r, r->params[0], name, len, true))
		return false;
	int rc = zone_lookup(r->api, name, z);
	if (rc == PRISM_ENOTFOUND)
		api_error(r, 404, "not_found", "no zone %s", name);
	else if (rc != 0)
		api_db_failed(r);
	return rc == 0;
}

static bool dns_enabled(struct api_req *r)
{
	if (r->api->opts.engine != NULL)
		return true;
	api_error(r, 503, "unavailable", "DNS sync is disabled: there is no target");
	return false;
}

/* ---- POST /api/v1/zones/{zone}/resync ---- */

void h_v1_zone_resync(struct api_req *r)
{
	char name[PRISM_DNAME_MAX + 1];
	struct zone_info z;
	if (json_object_size(r->json) > 0) {
		api_error(r, 400, "unknown_field", "this route takes no fields");
		return;
	}
	if (!dns_enabled(r) || !path_zone(r, name, sizeof(name), &z))
		return;
	api_resync_submit(r, name, true);
}

/* Whether config target @p t serves @p z. */
static bool serves(const struct prism_config_target *t, const struct zone_info *z,
		   const char *zone)
{
	if (z->config) {
		if (t->zones == NULL)
			return true;
		for (char **n = t->zones; *n != NULL; n++)
			if (strcmp(*n, zone) == 0)
				return true;
		return false;
	}
	return strcmp(z->targets, "all") == 0 || (t->group && strcmp(t->group, z->targets) == 0);
}

/* Whether the run-time target @p t (store.h, zones one a line) serves @p z. */
static bool serves_rt(const struct prism_runtime_target *t, const struct zone_info *z,
		      const char *zone)
{
	if (!z->config)
		return strcmp(z->targets, "all") == 0 ||
		       (t->group && strcmp(t->group, z->targets) == 0);
	size_t len = strlen(zone);
	for (const char *p = t->zones; p != NULL; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, zone, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
			return true;
	return t->zones == NULL;
}

/* The targets serving a zone and whether each has it ready: the engine's, so taken on
 * the loop (api_loop_call) when the answer is written on a read thread. */
struct served_by {
	struct prism_api *api;
	const char *name;
	const struct zone_info *z;
	size_t n;
	struct {
		char target[64];
		bool ready;
	} v[API_MAX_TARGETS];
};

static void served_by_add(struct served_by *s, const char *target)
{
	if (s->n == API_MAX_TARGETS)
		return;
	snprintf(s->v[s->n].target, sizeof(s->v[0].target), "%s", target);
	s->v[s->n].ready = false;
	prism_engine_zone_state(s->api->opts.engine, target, s->name, &s->v[s->n].ready);
	s->n++;
}

static void served_by_collect(void *arg)
{
	struct served_by *s = arg;
	struct prism_api *api = s->api;
	for (size_t i = 0; api->cfg->targets[i] != NULL; i++)
		if (serves(api->cfg->targets[i], s->z, s->name))
			served_by_add(s, api->cfg->targets[i]->name);
	const struct prism_api_target_ops *ops = api->opts.target_ops;
	for (size_t i = 0; ops != NULL && i < prism_engine_ntargets(api->opts.engine); i++) {
		const char *t = prism_engine_target(api->opts.engine, i)->name;
		const struct prism_runtime_target *rt = ops->find(ops->arg, t);
		if (rt != NULL && serves_rt(rt, s->z, s->name))
			served_by_add(s, t);
	}
}

static void zone_json(struct prism_api *api, struct jw *w, const char *name,
		      const struct zone_info *z, int64_t nrecords)
{
	jw_obj(w);
	jw_kstr(w, "name", name);
	jw_kstr(w, "kind", z->kind);
	jw_kstr(w, "origin", z->origin);
	jw_kstr(w, "targets", z->config ? NULL : z->targets);
	jw_key(w, "nameservers");
	jw_arr(w);
	for (const char *p = z->nameservers; *p;) {
		const char *e = strchr(p, '\n');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		jw_strn(w, p, n);
		p += n + (e != NULL);
	}
	jw_end_arr(w);
	jw_kstr(w, "soa", z->soa[0] ? z->soa : NULL);
	jw_kint(w, "ttl", z->ttl);
	jw_kbool(w, "dnssec", z->dnssec);
	jw_kbool(w, "adopt", z->adopt);
	jw_kint(w, "records", nrecords);
	jw_ktime(w, "created_at", z->created_at);
	jw_key(w, "served_by");
	jw_arr(w);
	struct served_by *s = malloc(sizeof(*s));
	if (s != NULL) {
		s->api = api;
		s->name = name;
		s->z = z;
		s->n = 0;
		api_loop_call(api, served_by_collect, s); /* the API stops: none listed */
		for (size_t i = 0; i < s->n; i++) {
			jw_obj(w);
			jw_kstr(w, "target", s->v[i].target);
			jw_kbool(w, "ready", s->v[i].ready);
			jw_end_obj(w);
		}
		free(s);
	} else {
		w->oom = true;
	}
	jw_end_arr(w);
	jw_end_obj(w);
}

static int64_t count_records(struct prism_api *api, const char *zone)
{
	int64_t n;
	return api->rd->zone_record_count(api_reader(api), zone, &n) == 0 ? n : -1;
}

/* ---- GET /api/v1/zones, GET /api/v1/zones/{zone} ---- */

struct zones_ctx {
	struct prism_api *api;
	struct jw *w;
};

/* a registry zone of the list (a configured zone of the same name was listed already) */
static int zones_row(void *ctx, const struct prism_zone_view *v)
{
	struct zones_ctx *c = ctx;
	char name[PRISM_DNAME_MAX + 1];
	struct zone_info z;
	copy_text(name, sizeof(name), v->name);
	if (config_zone(c->api->cfg, name) != NULL)
		return 0;
	memset(&z, 0, sizeof(z));
	zone_copy(&z, v);
	zone_json(c->api, c->w, name, &z, v->records);
	return 0;
}

void h_v1_zones(struct api_req *r)
{
	struct prism_api *api = r->api;
	struct jw *w = api_jw(api);
	struct zone_info z;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "zones");
	jw_arr(w);
	for (size_t i = 0; api->cfg->zones[i] != NULL; i++) {
		const char *name = api->cfg->zones[i]->name;
		if (zone_lookup(api, name, &z) != 0) {
			api_db_failed(r);
			return;
		}
		zone_json(api, w, name, &z, count_records(api, name));
	}
	struct zones_ctx c = {api, w};
	if (api->rd->zones_list(api_reader(api), zones_row, &c) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

void h_v1_zone(struct api_req *r)
{
	char name[PRISM_DNAME_MAX + 1];
	struct zone_info z;
	if (!path_zone(r, name, sizeof(name), &z))
		return;
	jw_reset(api_jw(r->api));
	zone_json(r->api, api_jw(r->api), name, &z, count_records(r->api, name));
	api_reply(r, 200);
}

/* ---- records from a request body ---- */

/* One RRset of a request, checked and in canonical form. */
struct rrset_in {
	char name[PRISM_DNAME_MAX + 1];
	char type[16];
	uint32_t ttl;
	char **records; /* canonical; owned */
	size_t n;	/* 0: delete */
};

struct rrsets {
	struct rrset_in *v;
	size_t n, cap;
};

static void rrsets_free(struct rrsets *s)
{
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; k < s->v[i].n; k++)
			free(s->v[i].records[k]);
		free(s->v[i].records);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static struct rrset_in *rrsets_add(struct rrsets *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct rrset_in *v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		s->v = v;
		s->cap = cap;
	}
	struct rrset_in *e = &s->v[s->n++];
	memset(e, 0, sizeof(*e));
	return e;
}

/* Add one canonical record to @p e (refusing duplicates). 0, PRISM_EMSG, PRISM_ENOMEM */
static int rrset_push(struct rrset_in *e, const char *content)
{
	for (size_t k = 0; k < e->n; k++)
		if (strcmp(e->records[k], content) == 0)
			return PRISM_EMSG;
	if (e->n == PRISM_RRSET_MAX)
		return PRISM_ETOOBIG;
	char **v = realloc(e->records, (e->n + 1) * sizeof(*v));
	if (v == NULL)
		return PRISM_ENOMEM;
	e->records = v;
	if ((v[e->n] = strdup(content)) == NULL)
		return PRISM_ENOMEM;
	e->n++;
	return 0;
}

/* The type of @p v in upper case into @p out; false after answering 422. */
static bool rr_type(struct api_req *r, const json_t *v, const char *path, char *out, size_t n)
{
	const char *t = json_string_value(v);
	size_t len = t ? strlen(t) : 0;
	if (len == 0 || len >= n) {
		api_error(r, 422, "invalid_value",
			  "%s.type: required, one of A AAAA CNAME MX TXT "
			  "NS SRV PTR CAA",
			  path);
		return false;
	}
	for (size_t i = 0; i <= len; i++)
		out[i] = (char)toupper((unsigned char)t[i]);
	if (!prism_rr_type_supported(out)) {
		api_error(r, 422, "invalid_value",
			  "%s.type: %s is not supported (A AAAA CNAME "
			  "MX TXT NS SRV PTR CAA)",
			  path, out);
		return false;
	}
	return true;
}

/* "content": a string or a list of strings, each checked for the type. */
static bool rr_contents(struct api_req *r, const json_t *v, const char *path, const char *zone,
			struct rrset_in *e, char *buf)
{
	char why[PRISM_RR_WHY_MAX];
	size_t n = json_is_array(v) ? json_array_size(v) : 1;
	if (!json_is_string(v) && !(json_is_array(v) && n > 0)) {
		api_error(r, 422, "invalid_value",
			  "%s.content: required, a string or a non-empty "
			  "list of strings",
			  path);
		return false;
	}
	if (n > PRISM_RRSET_MAX) {
		api_error(r, 422, "invalid_value", "%s.content: at most %u records in one RRset",
			  path, PRISM_RRSET_MAX);
		return false;
	}
	for (size_t k = 0; k < n; k++) {
		const json_t *c = json_is_array(v) ? json_array_get(v, k) : v;
		char at[24] = "";
		if (json_is_array(v))
			snprintf(at, sizeof(at), "[%zu]", k);
		if (!json_is_string(c)) {
			api_error(r, 422, "invalid_value", "%s.content%s: must be a string", path,
				  at);
			return false;
		}
		int rc = prism_rr_content(e->type, json_string_value(c), zone, buf,
					  PRISM_RR_CONTENT_MAX, why, sizeof(why));
		if (rc == PRISM_ETOOBIG)
			snprintf(why, sizeof(why), "too long");
		if (rc == 0 && (rc = rrset_push(e, buf)) == PRISM_EMSG)
			snprintf(why, sizeof(why), "the same record is listed twice");
		if (rc == PRISM_ENOMEM) {
			api_error(r, 500, "internal", "out of memory");
			return false;
		}
		if (rc != 0) {
			api_error(r, 422, "invalid_value", "%s.content%s: %s", path, at, why);
			return false;
		}
	}
	if (strcmp(e->type, "CNAME") == 0 && e->n > 1) {
		api_error(r, 422, "invalid_value", "%s.content: a CNAME has exactly one target",
			  path);
		return false;
	}
	return true;
}

/* One RRset object of a request into @p out. @p path names it in errors ("records[3]"). */
static bool rrset_parse(struct api_req *r, const json_t *o, const char *path, const char *zone,
			uint32_t default_ttl, struct rrsets *out, char *buf)
{
	static const char *const fields[] = {"name", "type", "ttl", "content", "changetype", NULL};
	char why[PRISM_RR_WHY_MAX];
	if (!json_is_object(o)) {
		api_error(r, 422, "invalid_value", "%s: must be an object", path);
		return false;
	}
	if (!body_fields(r, o, path, fields))
		return false;
	struct rrset_in *e = rrsets_add(out);
	if (e == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return false;
	}
	const char *name = json_string_value(json_object_get(o, "name"));
	if (name == NULL) {
		api_error(r, 422, "invalid_value", "%s.name: required (\"@\" for the apex)", path);
		return false;
	}
	if (prism_rr_owner(name, zone, e->name, sizeof(e->name), why, sizeof(why)) != 0) {
		api_error(r, 422, "invalid_value", "%s.name: %s", path, why);
		return false;
	}
	if (!rr_type(r, json_object_get(o, "type"), path, e->type, sizeof(e->type)))
		return false;
	if (strcmp(e->type, "NS") == 0 && strcmp(e->name, zone) == 0) {
		api_error(r, 422, "invalid_value",
			  "%s.name: the NS set at the apex is the zone's "
			  "nameservers (set when the zone is created); NS records here delegate "
			  "subdomains",
			  path);
		return false;
	}
	char tp[64];
	snprintf(tp, sizeof(tp), "%s.ttl", path);
	e->ttl = default_ttl;
	if (!opt_uint(r, o, "ttl", tp, 0, PRISM_RR_TTL_MAX, &e->ttl))
		return false;
	const char *ct = json_string_value(json_object_get(o, "changetype"));
	json_t *cv = json_object_get(o, "changetype");
	if (cv != NULL &&
	    (ct == NULL || (strcmp(ct, "REPLACE") != 0 && strcmp(ct, "DELETE") != 0))) {
		api_error(r, 422, "invalid_value", "%s.changetype: REPLACE or DELETE", path);
		return false;
	}
	if (ct != NULL && strcmp(ct, "DELETE") == 0) {
		if (json_object_get(o, "content") != NULL) {
			api_error(r, 422, "invalid_value", "%s.content: a DELETE takes no content",
				  path);
			return false;
		}
		return true;
	}
	return rr_contents(r, json_object_get(o, "content"), path, zone, e, buf);
}

/* Every (name, type) once per request. */
static bool rrsets_unique(struct api_req *r, const struct rrsets *s, const char *prefix)
{
	for (size_t i = 1; i < s->n; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(s->v[i].name, s->v[k].name) == 0 &&
			    strcmp(s->v[i].type, s->v[k].type) == 0) {
				api_error(r, 422, "invalid_value",
					  "%s[%zu]: %s %s is already in "
					  "%s[%zu]",
					  prefix, i, s->v[i].name, s->v[i].type, prefix, k);
				return false;
			}
	return true;
}

/* A "records" list of a body into @p out (appended). */
static bool records_parse(struct api_req *r, const json_t *list, const char *zone,
			  uint32_t default_ttl, struct rrsets *out)
{
	if (!json_is_array(list)) {
		api_error(r, 422, "invalid_value", "records: must be a list of RRsets");
		return false;
	}
	if (json_array_size(list) > RRSETS_MAX) {
		api_error(r, 422, "invalid_value", "records: at most %d RRsets in one request",
			  RRSETS_MAX);
		return false;
	}
	char *buf = malloc(PRISM_RR_CONTENT_MAX);
	if (buf == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return false;
	}
	bool ok = true;
	for (size_t i = 0; ok && i < json_array_size(list); i++) {
		char path[32];
		snprintf(path, sizeof(path), "records[%zu]", i);
		ok = rrset_parse(r, json_array_get(list, i), path, zone, default_ttl, out, buf);
	}
	free(buf);
	return ok && rrsets_unique(r, out, "records");
}

/* The store's view of the RRsets (borrowed from @p s until it is freed). */
static struct prism_rrset_put *rrsets_view(const struct rrsets *s)
{
	struct prism_rrset_put *v = calloc(s->n ? s->n : 1, sizeof(*v));
	for (size_t i = 0; v != NULL && i < s->n; i++)
		v[i] = (struct prism_rrset_put){s->v[i].name, s->v[i].type, s->v[i].ttl,
						(const char *const *)s->v[i].records, s->v[i].n};
	return v;
}

/* A store refusal of an RRset, as the answer. */
static void put_refused(struct api_req *r, int err, const struct prism_rrset_err *e,
			const char *prefix)
{
	char where[48] = "";
	if (prefix != NULL)
		snprintf(where, sizeof(where), "%s[%zu]: ", prefix, e->index);
	if (err == PRISM_ECONFLICT)
		api_error(r, 409, "conflict", "%s%s", where, e->message);
	else if (err == PRISM_EMSG)
		api_error(r, 422, "invalid_value", "%s%s", where, e->message);
	else if (err == PRISM_ENOTFOUND)
		api_error(r, 404, "not_found", "%s%s", where, e->message);
	else
		store_failed(r, err);
}

/* ---- record templates (config zone_templates) ---- */

static bool template_rrsets(struct api_req *r, const char *tname, const char *zone, uint32_t ttl,
			    struct rrsets *out)
{
	const struct prism_config_template *t = NULL;
	for (size_t i = 0; r->api->cfg->zone_templates && r->api->cfg->zone_templates[i]; i++)
		if (strcmp(r->api->cfg->zone_templates[i]->name, tname) == 0)
			t = r->api->cfg->zone_templates[i];
	if (t == NULL) {
		api_error(r, 422, "invalid_value",
			  "template: no zone template '%s' in the "
			  "configuration",
			  tname);
		return false;
	}
	struct prism_rr_line *line = malloc(sizeof(*line));
	char why[PRISM_RR_WHY_MAX];
	if (line == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return false;
	}
	for (size_t i = 0; t->records[i] != NULL; i++) {
		if (prism_rr_line(t->records[i], zone, ttl, line, why, sizeof(why)) != 0) {
			api_error(r, 422, "invalid_value", "template '%s' record %zu: %s", tname,
				  i + 1, why);
			free(line);
			return false;
		}
		struct rrset_in *e = NULL;
		for (size_t k = 0; k < out->n; k++)
			if (strcmp(out->v[k].name, line->name) == 0 &&
			    strcmp(out->v[k].type, line->type) == 0)
				e = &out->v[k];
		if (e == NULL && (e = rrsets_add(out)) != NULL) {
			snprintf(e->name, sizeof(e->name), "%s", line->name);
			snprintf(e->type, sizeof(e->type), "%s", line->type);
			e->ttl = line->ttl;
		}
		if (e == NULL || rrset_push(e, line->content) == PRISM_ENOMEM) {
			api_error(r, 500, "internal", "out of memory");
			free(line);
			return false;
		}
	}
	free(line);
	return true;
}

/* ---- POST /api/v1/zones ---- */

struct zone_ctx {
	struct prism_zone_spec spec;
	char name[PRISM_DNAME_MAX + 1];
	char kind[16];
	char targets[GROUP_MAX + 1];
	char nameservers[NS_MAX * (PRISM_DNAME_MAX + 1)];
	char soa[PRISM_DNAME_MAX * 2 + 64];
	const char *target_names[API_MAX_TARGETS + 1];
	struct rrsets rrsets;
	struct prism_rrset_put *view;
	struct prism_rrset_err err;
	bool imported; /* import: the zone may exist (then it adopts) */
	bool existed;
	unsigned fail_status; /* import: refused before the store job (0 = no) */
	char fail_code[32];
	char fail_msg[300];
	size_t ntargets;
	char *summary;	      /* import: what was skipped (JSON), owned */
	struct api_job *job;  /* import: while the target is read */
	struct api_wait wait; /* import: in api->imports while the target is read */
};

static void zone_ctx_cleanup(struct api_job *j)
{
	struct zone_ctx *c = (struct zone_ctx *)j->data;
	if (c == NULL)
		return;
	rrsets_free(&c->rrsets);
	free(c->view);
	free(c->summary);
	free(c);
	j->data = NULL;
}

static char *spec_json(const struct prism_zone_spec *z)
{
	struct jw w = {0};
	jw_obj(&w);
	jw_kstr(&w, "kind", z->kind);
	jw_kstr(&w, "targets", z->targets);
	jw_kstr(&w, "nameservers", z->nameservers);
	jw_kstr(&w, "soa", z->soa);
	jw_kint(&w, "ttl", z->ttl);
	jw_kbool(&w, "dnssec", z->dnssec);
	jw_kbool(&w, "adopt", z->adopt);
	jw_end_obj(&w);
	if (jw_text(&w) == NULL) {
		jw_free(&w);
		return NULL;
	}
	return w.buf;
}

static int run_zone_create(struct prism_store *s, const struct prism_store_api *st,
			   struct api_job *j)
{
	struct zone_ctx *c = (struct zone_ctx *)j->data;
	char object[PRISM_DNAME_MAX + 8];
	snprintf(object, sizeof(object), "zone:%s", c->name);
	int rc = st->zone_create(s, &c->spec, c->target_names, j->now);
	if (rc == PRISM_ECONFLICT && c->imported) {
		c->existed = true;
		rc = st->zone_set_adopt(s, c->name);
	} else if (rc == 0) {
		char *after = spec_json(&c->spec);
		rc = after ? api_audit(s, st, j, "zone.create", object, NULL, after)
			   : PRISM_ENOMEM;
		free(after);
	}
	if (rc == 0 && c->rrsets.n > 0)
		rc = st->rrsets_put(s, c->name, false, c->view, c->rrsets.n, j->now,
				    c->imported ? NULL : j->actor, &j->count, &c->err);
	if (rc == 0 && c->imported) {
		char after[64];
		snprintf(after, sizeof(after), "{\"rrsets\":%zu}", c->rrsets.n);
		rc = api_audit(s, st, j, "zone.import", object, NULL, after);
	}
	return rc;
}

static void zone_created_answer(struct api_req *r, struct api_job *j);

static void done_zone_create(struct api_req *r, struct api_job *j, int err)
{
	struct zone_ctx *c = (struct zone_ctx *)j->data;
	if (c->fail_status != 0) {
		api_error(r, c->fail_status, c->fail_code, "%s", c->fail_msg);
		return;
	}
	if (err == PRISM_ECONFLICT && c->err.message[0] == '\0') {
		api_error(r, 409, "conflict", "zone %s exists", c->name);
		return;
	}
	if (err != 0) {
		put_refused(r, err, &c->err, "records");
		return;
	}
	prism_engine_zones_changed(r->api->opts.engine);
	prism_engine_wake(r->api->opts.engine);
	api_answer_off_loop(r, j, zone_created_answer);
}

/* The zone as it is now (read back), and for an import what was done. */
static void zone_created_answer(struct api_req *r, struct api_job *j)
{
	struct zone_ctx *c = (struct zone_ctx *)j->data;
	struct zone_info z;
	if (zone_lookup(r->api, c->name, &z) != 0) {
		api_db_failed(r);
		return;
	}
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	if (!c->imported) {
		zone_json(r->api, w, c->name, &z, count_records(r->api, c->name));
		api_reply(r, 201);
		return;
	}
	jw_obj(w);
	jw_key(w, "zone");
	zone_json(r->api, w, c->name, &z, count_records(r->api, c->name));
	jw_kbool(w, "created", !c->existed);
	jw_kint(w, "rrsets", (int64_t)c->rrsets.n);
	jw_kint(w, "changed", (int64_t)j->count);
	jw_key(w, "skipped");
	jw_raw(w, c->summary ? c->summary : "[]");
	jw_end_obj(w);
	api_reply(r, 200);
}

/* The target names serving a new zone assigned to @p targets ("all" or a group). */
static bool assign_targets(struct api_req *r, struct zone_ctx *c)
{
	/* the engine's targets: the configuration's and those added at run time */
	const struct prism_engine *e = r->api->opts.engine;
	const struct prism_api_target_ops *ops = r->api->opts.target_ops;
	for (size_t i = 0; i < prism_engine_ntargets(e) && c->ntargets < API_MAX_TARGETS; i++) {
		const char *name = prism_engine_target(e, i)->name;
		const char *group = ops ? ops->group(ops->arg, name) : NULL;
		if (strcmp(c->targets, "all") == 0 || (group && strcmp(group, c->targets) == 0))
			c->target_names[c->ntargets++] = name;
	}
	c->target_names[c->ntargets] = NULL;
	if (c->ntargets > 0)
		return true;
	api_error(r, 422, "invalid_value",
		  "targets: no target is in group '%s' (set "
		  "targets[].group in the configuration, or use \"all\")",
		  c->targets);
	return false;
}

/* "nameservers": a list of host names (default ns1.<zone>). */
static bool zone_nameservers(struct api_req *r, const json_t *v, struct zone_ctx *c)
{
	char why[PRISM_RR_WHY_MAX], ns[PRISM_DNAME_MAX + 1];
	size_t off = 0;
	if (v == NULL || json_is_null(v)) {
		snprintf(c->nameservers, sizeof(c->nameservers), "ns1.%s", c->name);
		return true;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > NS_MAX) {
		api_error(r, 422, "invalid_value", "nameservers: a list of 1 to %d host names",
			  NS_MAX);
		return false;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		const char *s = json_string_value(json_array_get(v, i));
		if (s == NULL ||
		    prism_rr_content("NS", s, c->name, ns, sizeof(ns), why, sizeof(why)) != 0) {
			api_error(r, 422, "invalid_value", "nameservers[%zu]: %s", i,
				  s ? why : "must be a string");
			return false;
		}
		off += (size_t)snprintf(c->nameservers + off, sizeof(c->nameservers) - off, "%s%s",
					i ? "\n" : "", ns);
	}
	return true;
}

/* "soa": {mname, rname, serial, refresh, retry, expire, minimum}, every field optional. */
static bool zone_soa(struct api_req *r, const json_t *v, struct zone_ctx *c)
{
	static const char *const fields[] = {"mname", "rname",	"serial",  "refresh",
					     "retry", "expire", "minimum", NULL};
	static const char *const nums[] = {"serial", "refresh", "retry", "expire", "minimum"};
	uint32_t val[5] = {1, 10800, 3600, 604800, 3600};
	char mname[PRISM_DNAME_MAX + 1], rname[PRISM_DNAME_MAX + 1], why[PRISM_RR_WHY_MAX];
	const char *ns1 = c->nameservers, *nl = strchr(ns1, '\n');
	snprintf(mname, sizeof(mname), "%.*s", (int)(nl ? (size_t)(nl - ns1) : strlen(ns1)), ns1);
	if (strlen(c->name) + 11 < sizeof(rname))
		snprintf(rname, sizeof(rname), "hostmaster.%.*s", (int)(sizeof(rname) - 12),
			 c->name);
	else
		snprintf(rname, sizeof(rname), "%s", c->name);
	if (v != NULL && !json_is_null(v)) {
		if (!json_is_object(v)) {
			api_error(r, 422, "invalid_value", "soa: must be an object");
			return false;
		}
		if (!body_fields(r, v, "soa", fields))
			return false;
		const char *keys[2] = {"mname", "rname"};
		char *outs[2] = {mname, rname};
		for (int i = 0; i < 2; i++) {
			json_t *s = json_object_get(v, keys[i]);
			if (s == NULL)
				continue;
			if (!json_is_string(s) ||
			    prism_rr_content("NS", json_string_value(s), c->name, outs[i],
					     PRISM_DNAME_MAX + 1, why, sizeof(why)) != 0) {
				api_error(r, 422, "invalid_value", "soa.%s: %s", keys[i],
					  json_is_string(s) ? why : "must be a string");
				return false;
			}
		}
		for (int i = 0; i < 5; i++) {
			char path[32];
			snprintf(path, sizeof(path), "soa.%s", nums[i]);
			if (!opt_uint(r, v, nums[i], path, i == 0 ? 0 : 1, UINT32_MAX, &val[i]))
				return false;
		}
	}
	snprintf(c->soa, sizeof(c->soa),
		 "%s %s %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32, mname, rname,
		 val[0], val[1], val[2], val[3], val[4]);
	return true;
}

/* The fields of a new zone shared by create and import; false after answering. */
static bool zone_fields(struct api_req *r, const json_t *b, struct zone_ctx *c)
{
	const char *kind, *targets;
	bool dnssec = false;
	if (!opt_string(r, b, "kind", &kind) || !opt_string(r, b, "targets", &targets) ||
	    !opt_bool(r, b, "dnssec", &dnssec))
		return false;
	kind = kind ? kind : "Native";
	if (strcmp(kind, "Native") != 0 && strcmp(kind, "Master") != 0) {
		api_error(r, 422, "invalid_value", "kind: Native or Master");
		return false;
	}
	snprintf(c->kind, sizeof(c->kind), "%s", kind);
	targets = targets ? targets : "all";
	if (strlen(targets) == 0 || strlen(targets) > GROUP_MAX) {
		api_error(r, 422, "invalid_value", "targets: \"all\" or a group name");
		return false;
	}
	snprintf(c->targets, sizeof(c->targets), "%s", targets);
	c->spec.ttl = r->api->cfg->powerdns_default_ttl;
	if (!opt_uint(r, b, "ttl", "ttl", 1, PRISM_RR_TTL_MAX, &c->spec.ttl) ||
	    !zone_nameservers(r, json_object_get(b, "nameservers"), c) ||
	    !zone_soa(r, json_object_get(b, "soa"), c) || !assign_targets(r, c))
		return false;
	c->spec =
		(struct prism_zone_spec){c->name,     c->kind, c->targets, c->nameservers, c->soa,
					 c->spec.ttl, dnssec,  false,	   "api"};
	return true;
}

/* A new zone context for @p name; NULL after answering. */
static struct zone_ctx *zone_ctx_new(struct api_req *r, const char *name)
{
	struct zone_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return NULL;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

/* Submit the zone job of @p c; the job owns @p c from here. */
static void zone_submit(struct api_req *r, struct zone_ctx *c)
{
	c->view = rrsets_view(&c->rrsets);
	struct api_job *j = c->view ? api_job_new(r) : NULL;
	if (j == NULL) {
		if (c->view == NULL)
			api_error(r, 500, "internal", "out of memory");
		struct api_job tmp = {.data = c};
		zone_ctx_cleanup(&tmp);
		return;
	}
	j->data = c;
	j->cleanup = zone_ctx_cleanup;
	j->run = run_zone_create;
	j->done = done_zone_create;
	api_submit(r, j);
}

void h_v1_zone_create(struct api_req *r)
{
	static const char *const fields[] = {"name",	"kind",	  "nameservers", "ttl",	    "soa",
					     "targets", "dnssec", "template",	 "records", NULL};
	char name[PRISM_DNAME_MAX + 1];
	const char *in, *tmpl;
	if (!dns_enabled(r) || !body_fields(r, r->json, "", fields) ||
	    !opt_string(r, r->json, "name", &in) || !opt_string(r, r->json, "template", &tmpl))
		return;
	if (in == NULL) {
		api_error(r, 400, "missing_field", "'name' is required");
		return;
	}
	if (!zone_name(r, in, name, sizeof(name), false))
		return;
	if (config_zone(r->api->cfg, name) != NULL) {
		api_error(r, 409, "conflict", "zone %s is in the configuration", name);
		return;
	}
	struct zone_ctx *c = zone_ctx_new(r, name);
	if (c == NULL)
		return;
	bool ok = zone_fields(r, r->json, c);
	if (ok && tmpl != NULL)
		ok = template_rrsets(r, tmpl, name, c->spec.ttl, &c->rrsets);
	json_t *recs = json_object_get(r->json, "records");
	if (ok && recs != NULL) {
		/* inline records replace the template's RRsets of the same name and type */
		struct rrsets inl = {0};
		ok = records_parse(r, recs, name, c->spec.ttl, &inl);
		for (size_t i = 0; ok && i < inl.n; i++) {
			struct rrset_in *e = NULL;
			for (size_t k = 0; k < c->rrsets.n; k++)
				if (strcmp(c->rrsets.v[k].name, inl.v[i].name) == 0 &&
				    strcmp(c->rrsets.v[k].type, inl.v[i].type) == 0)
					e = &c->rrsets.v[k];
			if (e == NULL && (e = rrsets_add(&c->rrsets)) == NULL) {
				api_error(r, 500, "internal", "out of memory");
				ok = false;
				break;
			}
			for (size_t k = 0; k < e->n; k++)
				free(e->records[k]);
			free(e->records);
			*e = inl.v[i];
			inl.v[i].records = NULL;
			inl.v[i].n = 0;
		}
		rrsets_free(&inl);
	}
	if (!ok) {
		struct api_job tmp = {.data = c};
		zone_ctx_cleanup(&tmp);
		return;
	}
	zone_submit(r, c);
}

/* ---- DELETE /api/v1/zones/{zone}?confirm=true ---- */

static int run_zone_delete(struct prism_store *s, const struct prism_store_api *st,
			   struct api_job *j)
{
	int rc = st->zone_delete(s, j->name, j->now, &j->count);
	if (rc != 0)
		return rc;
	char object[PRISM_DNAME_MAX + 8], after[64];
	snprintf(object, sizeof(object), "zone:%s", j->name);
	snprintf(after, sizeof(after), "{\"targets\":%zu}", j->count);
	return api_audit(s, st, j, "zone.delete", object, j->text, after);
}

static void done_zone_delete(struct api_req *r, struct api_job *j, int err)
{
	if (err == PRISM_ENOTFOUND) {
		api_error(r, 404, "not_found", "no zone %s", j->name);
		return;
	}
	if (err != 0) {
		store_failed(r, err);
		return;
	}
	prism_engine_zones_changed(r->api->opts.engine);
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "deleted");
	jw_obj(w);
	jw_kstr(w, "name", j->name);
	jw_kint(w, "targets", (int64_t)j->count);
	jw_end_obj(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

void h_v1_zone_delete(struct api_req *r)
{
	char name[PRISM_DNAME_MAX + 1];
	struct zone_info z;
	if (!dns_enabled(r) || !path_zone(r, name, sizeof(name), &z))
		return;
	if (z.config) {
		api_error(r, 409, "conflict", "zone %s is in the configuration: remove it there",
			  name);
		return;
	}
	const char *confirm = api_arg(r, "confirm");
	if (confirm == NULL || strcmp(confirm, "true") != 0) {
		api_error(r, 400, "confirmation_required",
			  "deleting zone %s removes its records "
			  "and deletes it from every target serving it: add ?confirm=true",
			  name);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->text, sizeof(j->text), "{\"kind\":\"%s\",\"targets\":\"%s\"}", z.kind,
		 z.targets);
	j->run = run_zone_delete;
	j->done = done_zone_delete;
	api_submit(r, j);
}

/* ---- records ---- */

void api_content_list(struct jw *w, const char *key, const char *content)
{
	jw_key(w, key);
	jw_arr(w);
	for (const char *p = content ? content : ""; *p;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		jw_strn(w, p, len);
		p += len + (e != NULL);
	}
	jw_end_arr(w);
}

struct records_page {
	struct jw *w;
	long n;
	char last[PRISM_DNAME_MAX + 20];
};

static int records_row(void *ctx, const struct prism_record_view *rec)
{
	struct records_page *c = ctx;
	struct jw *w = c->w;
	jw_obj(w);
	jw_kstr(w, "name", rec->name.s);
	jw_kstr(w, "type", rec->type.s);
	jw_kint(w, "ttl", rec->ttl);
	api_content_list(w, "content", rec->content.s);
	jw_key(w, "host_id");
	if (!rec->has_host)
		jw_null(w);
	else
		jw_int(w, rec->host_id);
	jw_end_obj(w);
	snprintf(c->last, sizeof(c->last), "%s %s", rec->name.s ? rec->name.s : "",
		 rec->type.s ? rec->type.s : "");
	c->n++;
	return 0;
}

void h_v1_records(struct api_req *r)
{
	char name[PRISM_DNAME_MAX + 1], want[PRISM_DNAME_MAX + 1], why[PRISM_RR_WHY_MAX];
	char type[16] = "";
	struct zone_info z;
	if (!path_zone(r, name, sizeof(name), &z))
		return;
	const char *qn = api_arg(r, "name"), *qt = api_arg(r, "type"),
		   *after = api_arg(r, "after");
	const char *limit_s = api_arg(r, "limit");
	long limit = RECORDS_PAGE_DEFAULT;
	if (limit_s != NULL) {
		char *end;
		limit = strtol(limit_s, &end, 10);
		if (*limit_s == '\0' || *end != '\0' || limit < 1 || limit > RECORDS_PAGE_MAX) {
			api_error(r, 400, "invalid_parameter",
				  "limit must be an integer between 1 "
				  "and %d",
				  RECORDS_PAGE_MAX);
			return;
		}
	}
	if (qn != NULL && prism_rr_owner(qn, name, want, sizeof(want), why, sizeof(why)) != 0) {
		api_error(r, 400, "invalid_parameter", "name: %s", why);
		return;
	}
	if (qt != NULL) {
		for (size_t i = 0; i < sizeof(type) - 1 && qt[i]; i++)
			type[i] = (char)toupper((unsigned char)qt[i]);
	}
	/* the cursor is "NAME TYPE" of the last record of the page before */
	char an[PRISM_DNAME_MAX + 1] = "", at[16] = "";
	if (after != NULL && sscanf(after, "%255s %15s", an, at) != 2) {
		api_error(r, 400, "invalid_parameter", "after must be a cursor from 'next'");
		return;
	}
	struct prism_records_query q = {.zone = name,
					.name = qn ? want : NULL,
					.type = qt ? type : NULL,
					.after_name = an,
					.after_type = at,
					.limit = limit};
	struct records_page c = {.w = api_jw(r->api)};
	struct jw *w = c.w;
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "zone", name);
	jw_key(w, "records");
	jw_arr(w);
	if (r->api->rd->records_list(api_reader(r->api), &q, records_row, &c) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_kstr(w, "next", c.n == limit ? c.last : NULL);
	jw_end_obj(w);
	api_reply(r, 200);
}

struct put_ctx {
	char zone[PRISM_DNAME_MAX + 1];
	bool config;
	struct rrsets rrsets;
	struct prism_rrset_put *view;
	struct prism_rrset_err err;
	bool single; /* one RRset from the path: no "records[i]" in errors */
};

static void put_ctx_cleanup(struct api_job *j)
{
	struct put_ctx *c = (struct put_ctx *)j->data;
	if (c == NULL)
		return;
	rrsets_free(&c->rrsets);
	free(c->view);
	free(c);
	j->data = NULL;
}

static int run_records_put(struct prism_store *s, const struct prism_store_api *st,
			   struct api_job *j)
{
	struct put_ctx *c = (struct put_ctx *)j->data;
	return st->rrsets_put(s, c->zone, c->config, c->view, c->rrsets.n, j->now, j->actor,
			      &j->count, &c->err);
}

static void done_records_put(struct api_req *r, struct api_job *j, int err)
{
	struct put_ctx *c = (struct put_ctx *)j->data;
	if (err != 0) {
		put_refused(r, err, &c->err, c->single ? NULL : "records");
		return;
	}
	if (j->count > 0)
		prism_engine_wake(r->api->opts.engine);
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "zone", c->zone);
	jw_kint(w, "rrsets", (int64_t)c->rrsets.n);
	jw_kint(w, "changed", (int64_t)j->count);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void records_submit(struct api_req *r, struct put_ctx *c)
{
	struct api_job *j = NULL;
	c->view = rrsets_view(&c->rrsets);
	if (c->view == NULL)
		api_error(r, 500, "internal", "out of memory");
	else
		j = api_job_new(r);
	if (j == NULL) {
		struct api_job tmp = {.data = c};
		put_ctx_cleanup(&tmp);
		return;
	}
	j->data = c;
	j->cleanup = put_ctx_cleanup;
	j->run = run_records_put;
	j->done = done_records_put;
	api_submit(r, j);
}

static struct put_ctx *put_ctx_new(struct api_req *r, struct zone_info *z)
{
	struct put_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return NULL;
	}
	if (!dns_enabled(r) || !path_zone(r, c->zone, sizeof(c->zone), z)) {
		free(c);
		return NULL;
	}
	c->config = z->config;
	return c;
}

void h_v1_records_put(struct api_req *r)
{
	static const char *const fields[] = {"records", NULL};
	struct zone_info z;
	struct put_ctx *c = put_ctx_new(r, &z);
	if (c == NULL)
		return;
	json_t *list = json_object_get(r->json, "records");
	bool ok = body_fields(r, r->json, "", fields);
	if (ok && list == NULL) {
		api_error(r, 400, "missing_field", "'records' is required");
		ok = false;
	}
	if (ok)
		ok = records_parse(r, list, c->zone, z.ttl, &c->rrsets);
	if (!ok) {
		struct api_job tmp = {.data = c};
		put_ctx_cleanup(&tmp);
		return;
	}
	records_submit(r, c);
}

void h_v1_record_delete(struct api_req *r)
{
	char why[PRISM_RR_WHY_MAX];
	struct zone_info z;
	struct put_ctx *c = put_ctx_new(r, &z);
	if (c == NULL)
		return;
	c->single = true;
	struct rrset_in *e = rrsets_add(&c->rrsets);
	json_t *type = json_string(r->params[2]);
	bool ok = e != NULL && type != NULL;
	if (!ok)
		api_error(r, 500, "internal", "out of memory");
	if (ok && prism_rr_owner(r->params[1], c->zone, e->name, sizeof(e->name), why,
				 sizeof(why)) != 0) {
		api_error(r, 404, "not_found", "no record %s in %s (%s)", r->params[1], c->zone,
			  why);
		ok = false;
	}
	if (ok)
		ok = rr_type(r, type, "type", e->type, sizeof(e->type));
	json_decref(type);
	if (!ok) {
		struct api_job tmp = {.data = c};
		put_ctx_cleanup(&tmp);
		return;
	}
	records_submit(r, c);
}

/* ---- POST /api/v1/repoint ---- */

struct repoint_ctx {
	char from[INET6_ADDRSTRLEN], to[INET6_ADDRSTRLEN];
	char *zones[API_MAX_TARGETS + 1];
	char pattern[PRISM_DNAME_MAX + 1];
	bool has_pattern, dry_run;
	struct prism_repoint_result res;
};

static void repoint_cleanup(struct api_job *j)
{
	struct repoint_ctx *c = (struct repoint_ctx *)j->data;
	if (c == NULL)
		return;
	for (size_t i = 0; c->zones[i] != NULL; i++)
		free(c->zones[i]);
	prism_repoint_result_free(&c->res);
	free(c);
	j->data = NULL;
}

static int run_repoint(struct prism_store *s, const struct prism_store_api *st, struct api_job *j)
{
	struct repoint_ctx *c = (struct repoint_ctx *)j->data;
	int rc = st->repoint(s, c->from, c->to, c->zones[0] ? (const char *const *)c->zones : NULL,
			     c->has_pattern ? c->pattern : NULL, c->dry_run, j->now, &c->res);
	if (rc != 0 || c->dry_run || c->res.n == 0)
		return rc;
	char after[256];
	snprintf(after, sizeof(after), "{\"to\":\"%s\",\"rrsets\":%zu,\"hosts\":%zu}", c->to,
		 c->res.n, c->res.hosts);
	char object[80];
	snprintf(object, sizeof(object), "address:%s", c->from);
	return api_audit(s, st, j, "repoint", object, NULL, after);
}

static void done_repoint(struct api_req *r, struct api_job *j, int err)
{
	struct repoint_ctx *c = (struct repoint_ctx *)j->data;
	if (err != 0) {
		store_failed(r, err);
		return;
	}
	if (!c->dry_run && c->res.n > 0)
		prism_engine_wake(r->api->opts.engine);
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kbool(w, "dry_run", c->dry_run);
	jw_kstr(w, "from", c->from);
	jw_kstr(w, "to", c->to);
	jw_kint(w, "count", (int64_t)c->res.n);
	jw_kint(w, "hosts", (int64_t)c->res.hosts);
	jw_key(w, "changes");
	jw_arr(w);
	for (size_t i = 0; i < c->res.n; i++) {
		const struct prism_repoint_item *it = &c->res.items[i];
		jw_obj(w);
		jw_kstr(w, "zone", it->zone);
		jw_kstr(w, "name", it->name);
		jw_kstr(w, "type", it->type);
		jw_key(w, "host_id");
		if (it->host_id > 0)
			jw_int(w, it->host_id);
		else
			jw_null(w);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

/* An address in canonical form; its family (AF_INET, AF_INET6), 0 when invalid or one DNS
 * servers refuse (an IPv4-mapped IPv6 address: @p why says so). */
static int canonical_ip(const char *in, char *out, const char **why)
{
	bool v6;
	*why = "must be an IPv4 or IPv6 address";
	if (in == NULL || prism_ip_canon(in, out, &v6, why) != 0)
		return 0;
	return v6 ? AF_INET6 : AF_INET;
}

static bool repoint_zones(struct api_req *r, const json_t *v, struct repoint_ctx *c)
{
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_array(v) || json_array_size(v) > API_MAX_TARGETS) {
		api_error(r, 422, "invalid_value", "zones: a list of at most %d zone names",
			  API_MAX_TARGETS);
		return false;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		char name[PRISM_DNAME_MAX + 1];
		struct zone_info z;
		const char *s = json_string_value(json_array_get(v, i));
		if (s == NULL || prism_zone_normalize(s, name, sizeof(name)) != 0 ||
		    zone_lookup(r->api, name, &z) != 0) {
			api_error(r, 422, "invalid_value", "zones[%zu]: not a managed zone", i);
			return false;
		}
		if ((c->zones[i] = strdup(name)) == NULL) {
			api_error(r, 500, "internal", "out of memory");
			return false;
		}
	}
	return true;
}

void h_v1_repoint(struct api_req *r)
{
	static const char *const fields[] = {"from",	     "to",	"zones",
					     "name_pattern", "dry_run", NULL};
	const char *from, *to, *pattern;
	bool dry = false;
	if (!dns_enabled(r) || !body_fields(r, r->json, "", fields) ||
	    !opt_string(r, r->json, "from", &from) || !opt_string(r, r->json, "to", &to) ||
	    !opt_string(r, r->json, "name_pattern", &pattern) ||
	    !opt_bool(r, r->json, "dry_run", &dry))
		return;
	struct repoint_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	struct api_job tmp = {.data = c};
	const char *wf, *wt;
	int ff = canonical_ip(from, c->from, &wf), ft = canonical_ip(to, c->to, &wt);
	if (ff == 0 || ft == 0) {
		api_error(r, 422, "invalid_value", "%s: %s", ff == 0 ? "from" : "to",
			  ff == 0 ? wf : wt);
	} else if (ff != ft) {
		api_error(r, 422, "invalid_value", "to: must be of the same family as from");
	} else if (strcmp(c->from, c->to) == 0) {
		api_error(r, 422, "invalid_value", "to: the same address as from");
	} else if (pattern != NULL &&
		   (strlen(pattern) == 0 || strlen(pattern) > PRISM_DNAME_MAX)) {
		api_error(r, 422, "invalid_value", "name_pattern: 1 to 255 characters");
	} else if (repoint_zones(r, json_object_get(r->json, "zones"), c)) {
		if (pattern != NULL) {
			/* names are lower-case; the glob is matched without the trailing dot */
			size_t n = strlen(pattern);
			for (size_t i = 0; i < n; i++)
				c->pattern[i] = (char)tolower((unsigned char)pattern[i]);
			if (n > 1 && c->pattern[n - 1] == '.')
				c->pattern[n - 1] = '\0';
			c->has_pattern = true;
		}
		c->dry_run = dry;
		struct api_job *j = api_job_new(r);
		if (j != NULL) {
			j->data = c;
			j->cleanup = repoint_cleanup;
			j->run = run_repoint;
			j->done = done_repoint;
			api_submit(r, j);
			return;
		}
	}
	repoint_cleanup(&tmp);
}

/* ---- GET /api/v1/zones/{zone}/export ---- */

struct export_rows {
	struct prism_export_rrset *v;
	char **strings; /* every string the rows point at */
	size_t n, cap, nstr;
};

static void export_rows_free(struct export_rows *x)
{
	for (size_t i = 0; i < x->nstr; i++)
		free(x->strings[i]);
	free(x->strings);
	free(x->v);
}

struct export_load_ctx {
	struct export_rows *x;
	int err;
};

static int export_row(void *ctx, const struct prism_record_view *rec)
{
	struct export_load_ctx *c = ctx;
	struct export_rows *x = c->x;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct prism_export_rrset *v = realloc(x->v, cap * sizeof(*v));
		char **s = realloc(x->strings, cap * 3 * sizeof(*s));
		if (v != NULL)
			x->v = v;
		if (s != NULL)
			x->strings = s;
		if (v == NULL || s == NULL) {
			c->err = PRISM_ENOMEM;
			return 1;
		}
		x->cap = cap;
	}
	const struct prism_text t[3] = {rec->name, rec->type, rec->content};
	char *f[3];
	for (int i = 0; i < 3; i++) {
		f[i] = strndup(t[i].s ? t[i].s : "", t[i].len);
		x->strings[x->nstr++] = f[i];
		if (f[i] == NULL)
			c->err = PRISM_ENOMEM;
	}
	x->v[x->n++] = (struct prism_export_rrset){f[0], f[1], (uint32_t)rec->ttl, f[2]};
	return c->err != 0;
}

/* Every RRset of @p zone, in name and type order. 0, PRISM_ESTORE, PRISM_ENOMEM */
static int export_load(struct prism_api *api, const char *zone, struct export_rows *x)
{
	memset(x, 0, sizeof(*x));
	struct prism_records_query q = {.zone = zone};
	struct export_load_ctx c = {x, 0};
	int rc = api->rd->records_list(api_reader(api), &q, export_row, &c);
	return c.err != 0 ? c.err : rc;
}

/* The zone's SOA content; the server's default shape for a config zone without one. */
static void export_soa(const struct zone_info *z, const char *zone, char *out, size_t len)
{
	if (z->soa[0] != '\0') {
		snprintf(out, len, "%s", z->soa);
		return;
	}
	const char *nl = strchr(z->nameservers, '\n');
	int n = (int)(nl ? (size_t)(nl - z->nameservers) : strlen(z->nameservers));
	snprintf(out, len, "%.*s hostmaster.%s 1 10800 3600 604800 3600", n, z->nameservers, zone);
}

static void export_json(struct api_req *r, const char *zone, const struct zone_info *z,
			const struct export_rows *x)
{
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "zone");
	zone_json(r->api, w, zone, z, (int64_t)x->n);
	jw_key(w, "records");
	jw_arr(w);
	for (size_t i = 0; i < x->n; i++) {
		jw_obj(w);
		jw_kstr(w, "name", x->v[i].name);
		jw_kstr(w, "type", x->v[i].type);
		jw_kint(w, "ttl", x->v[i].ttl);
		api_content_list(w, "content", x->v[i].content);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

void h_v1_zone_export(struct api_req *r)
{
	char name[PRISM_DNAME_MAX + 1], soa[sizeof(((struct zone_info *)0)->soa) + 300];
	struct zone_info z;
	struct export_rows x;
	const char *format = api_arg(r, "format");
	format = format ? format : "bind";
	if (strcmp(format, "bind") != 0 && strcmp(format, "json") != 0) {
		api_error(r, 400, "invalid_parameter", "format must be bind or json");
		return;
	}
	if (!path_zone(r, name, sizeof(name), &z))
		return;
	int rc = export_load(r->api, name, &x);
	if (rc != 0) {
		export_rows_free(&x);
		if (rc == PRISM_ENOMEM)
			api_error(r, 500, "internal", "out of memory");
		else
			api_db_failed(r);
		return;
	}
	if (strcmp(format, "json") == 0) {
		export_json(r, name, &z, &x);
		export_rows_free(&x);
		return;
	}
	const char *ns[NS_MAX + 1] = {NULL};
	char nsbuf[sizeof(z.nameservers)];
	snprintf(nsbuf, sizeof(nsbuf), "%s", z.nameservers);
	size_t k = 0;
	for (char *p = nsbuf; *p && k < NS_MAX;) {
		ns[k++] = p;
		char *e = strchr(p, '\n');
		if (e == NULL)
			break;
		*e = '\0';
		p = e + 1;
	}
	export_soa(&z, name, soa, sizeof(soa));
	char *text = NULL;
	rc = prism_zonefile_write(name, z.ttl, soa, ns, x.v, x.n, &text);
	export_rows_free(&x);
	if (rc != 0) {
		api_error(r, 500, "internal", "cannot write the zone file (%s)",
			  prism_strerror(rc));
		return;
	}
	api_reply_text(r, 200, "text/dns; charset=utf-8", text, strlen(text));
	free(text);
}

/* ---- POST /api/v1/zones/{zone}/import ---- */

#define IMPORT_RRSETS_MAX 500000
#define SKIPPED_SHOWN	  100

__attribute__((format(printf, 4, 5))) static bool
import_fail(struct zone_ctx *c, unsigned status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->fail_msg, sizeof(c->fail_msg), fmt, ap);
	va_end(ap);
	c->fail_status = status;
	snprintf(c->fail_code, sizeof(c->fail_code), "%s", code);
	return false;
}

static int rr_cmp(const void *a, const void *b)
{
	const struct prism_zone_rr *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->type, y->type);
}

/* SOA and apex NS set of imported data become the new zone's. */
static bool import_apex(struct zone_ctx *c, const struct prism_zone_data *d, const char *src)
{
	char why[PRISM_RR_WHY_MAX], ns[PRISM_DNAME_MAX + 1];
	size_t off = 0, nns = 0;
	bool soa = false;
	for (size_t i = 0; i < d->n; i++) {
		const struct prism_zone_rr *rr = &d->v[i];
		if (strcmp(rr->name, c->name) != 0)
			continue;
		if (strcmp(rr->type, "SOA") == 0 && !soa) {
			snprintf(c->soa, sizeof(c->soa), "%s", rr->content);
			soa = true;
		} else if (strcmp(rr->type, "NS") == 0 && nns < NS_MAX) {
			if (prism_rr_content("NS", rr->content, c->name, ns, sizeof(ns), why,
					     sizeof(why)) != 0)
				return import_fail(c, 422, "invalid_value", "%s: %s NS %s: %s",
						   src, rr->name, rr->content, why);
			off += (size_t)snprintf(c->nameservers + off, sizeof(c->nameservers) - off,
						"%s%s", off ? "\n" : "", ns);
			nns++;
		}
	}
	if (!soa)
		return import_fail(c, 422, "invalid_value", "%s: no SOA record at %s", src,
				   c->name);
	if (nns == 0)
		return import_fail(c, 422, "invalid_value", "%s: no NS record at %s", src,
				   c->name);
	return true;
}

/* The records of @p d as the zone's RRsets (canonical), unsupported types skipped. */
static bool import_records(struct zone_ctx *c, struct prism_zone_data *d, const char *src)
{
	char why[PRISM_RR_WHY_MAX], owner[PRISM_DNAME_MAX + 1];
	char *buf = malloc(PRISM_RR_CONTENT_MAX);
	json_t *skipped = json_array();
	size_t nskipped = 0;
	bool ok = buf != NULL && skipped != NULL;
	if (!ok)
		import_fail(c, 500, "internal", "out of memory");
	qsort(d->v, d->n, sizeof(*d->v), rr_cmp);
	struct rrset_in *e = NULL;
	for (size_t i = 0; ok && i < d->n; i++) {
		struct prism_zone_rr *rr = &d->v[i];
		bool apex = strcmp(rr->name, c->name) == 0;
		if (strcmp(rr->type, "SOA") == 0 || (apex && strcmp(rr->type, "NS") == 0))
			continue; /* the zone's own */
		bool in_zone = prism_rr_owner(rr->name, c->name, owner, sizeof(owner), why,
					      sizeof(why)) == 0;
		if (!in_zone || !prism_rr_type_supported(rr->type)) {
			char item[PRISM_DNAME_MAX + 40];
			snprintf(item, sizeof(item), "%s %s", rr->name, rr->type);
			if (nskipped++ < SKIPPED_SHOWN &&
			    json_array_append_new(skipped, json_string(item)) != 0)
				ok = import_fail(c, 500, "internal", "out of memory");
			continue;
		}
		int rc = prism_rr_content(rr->type, rr->content, c->name, buf,
					  PRISM_RR_CONTENT_MAX, why, sizeof(why));
		if (rc != 0) {
			ok = import_fail(c, 422, "invalid_value", "%s: %s %s %s: %s", src,
					 rr->name, rr->type, rr->content,
					 rc == PRISM_EMSG ? why : "too long");
			break;
		}
		if (e == NULL || strcmp(e->name, owner) != 0 || strcmp(e->type, rr->type) != 0) {
			if (c->rrsets.n == IMPORT_RRSETS_MAX) {
				ok = import_fail(c, 422, "invalid_value",
						 "%s: more than %d RRsets", src,
						 IMPORT_RRSETS_MAX);
				break;
			}
			if ((e = rrsets_add(&c->rrsets)) == NULL) {
				ok = import_fail(c, 500, "internal", "out of memory");
				break;
			}
			snprintf(e->name, sizeof(e->name), "%s", owner);
			snprintf(e->type, sizeof(e->type), "%s", rr->type);
			e->ttl = rr->ttl;
		}
		rc = rrset_push(e, buf);
		if (rc == PRISM_ENOMEM || rc == PRISM_ETOOBIG)
			ok = import_fail(c, rc == PRISM_ENOMEM ? 500 : 422,
					 rc == PRISM_ENOMEM ? "internal" : "invalid_value",
					 "%s: %s %s: %s", src, owner, rr->type,
					 rc == PRISM_ENOMEM ? "out of memory"
							    : "more than 64 records in one RRset");
	}
	if (ok) {
		if (nskipped > SKIPPED_SHOWN) {
			char more[64];
			snprintf(more, sizeof(more), "... and %zu more", nskipped - SKIPPED_SHOWN);
			json_array_append_new(skipped, json_string(more));
		}
		c->summary = json_dumps(skipped, JSON_COMPACT);
		if (c->summary == NULL)
			ok = import_fail(c, 500, "internal", "out of memory");
	}
	json_decref(skipped);
	free(buf);
	return ok;
}

/* Imported data into @p c (the zone and its RRsets); false with c->fail_* set. */
static bool import_build(struct zone_ctx *c, struct prism_zone_data *d, const char *src)
{
	if (!import_apex(c, d, src) || !import_records(c, d, src))
		return false;
	c->spec =
		(struct prism_zone_spec){c->name,     c->kind, c->targets, c->nameservers, c->soa,
					 c->spec.ttl, false,   true,	   "import"};
	c->view = rrsets_view(&c->rrsets);
	return c->view != NULL || import_fail(c, 500, "internal", "out of memory");
}

void api_wait_add(struct prism_api *api, struct api_wait *w)
{
	w->prev = NULL;
	w->next = api->imports;
	if (w->next != NULL)
		w->next->prev = w;
	api->imports = w;
}

void api_wait_remove(struct prism_api *api, struct api_wait *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else if (api->imports == w)
		api->imports = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->prev = w->next = NULL;
}

/* The targets close right after the API without calling back: end the reads here. */
void api_zones_stop(struct prism_api *api)
{
	for (unsigned n = 0; api->imports != NULL && n < 100000; n++) {
		struct api_wait *w = api->imports;
		api_wait_remove(api, w);
		w->abort(w);
	}
}

static void import_abort(struct api_wait *w)
{
	struct zone_ctx *c = (struct zone_ctx *)((char *)w - offsetof(struct zone_ctx, wait));
	struct api_job *j = c->job;
	c->job = NULL;
	import_fail(c, 503, "unavailable", "the daemon is shutting down");
	api_job_complete(j, -ECANCELED);
}

static void import_read_cb(void *arg, int err, int status, const char *msg,
			   struct prism_zone_data *d)
{
	struct api_job *j = arg;
	struct zone_ctx *c = (struct zone_ctx *)j->data;
	api_wait_remove(j->api, &c->wait);
	c->job = NULL;
	char src[sizeof(j->name) + 8];
	snprintf(src, sizeof(src), "target %s", j->name);
	if (err != 0) {
		if (status == 404 || status == 422)
			import_fail(c, 404, "not_found", "target %s does not have zone %s",
				    j->name, c->name);
		else
			import_fail(c, 502, "upstream", "cannot read %s from target %s (%s%s%s)",
				    c->name, j->name, prism_strerror(err),
				    msg && msg[0] ? ": " : "", msg ? msg : "");
		api_job_complete(j, err);
		return;
	}
	bool ok = import_build(c, d, src);
	prism_zone_data_free(d);
	free(d);
	if (!ok) {
		api_job_complete(j, PRISM_EMSG);
		return;
	}
	api_job_resubmit(j);
}

static const struct prism_engine_target *engine_target(struct prism_api *api, const char *name)
{
	for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine); i++)
		if (strcmp(prism_engine_target(api->opts.engine, i)->name, name) == 0)
			return prism_engine_target(api->opts.engine, i);
	return NULL;
}

static void import_from_target(struct api_req *r, struct zone_ctx *c, const char *target)
{
	const struct prism_engine_target *t = engine_target(r->api, target);
	if (t == NULL) {
		api_error(r, 404, "not_found", "no target called '%s'", target);
		struct api_job tmp = {.data = c};
		zone_ctx_cleanup(&tmp);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL) {
		struct api_job tmp = {.data = c};
		zone_ctx_cleanup(&tmp);
		return;
	}
	snprintf(j->name, sizeof(j->name), "%s", target);
	j->data = c;
	j->cleanup = zone_ctx_cleanup;
	j->run = run_zone_create;
	j->done = done_zone_create;
	api_job_attach(r, j);
	int rc = t->api->read_zone_records(t->handle, c->name, import_read_cb, j);
	if (rc == 0) {
		c->job = j;
		c->wait.abort = import_abort;
		api_wait_add(r->api, &c->wait);
	} else {
		import_fail(c, 502, "upstream", "cannot read from target %s (%s)", target,
			    prism_strerror(rc));
		api_job_complete(j, rc);
	}
}

void h_v1_zone_import(struct api_req *r)
{
	static const char *const fields[] = {"target", "zonefile", "targets", "ttl", NULL};
	char name[PRISM_DNAME_MAX + 1], err[256];
	const char *target, *text, *targets;
	if (!dns_enabled(r) || !body_fields(r, r->json, "", fields) ||
	    !opt_string(r, r->json, "target", &target) ||
	    !opt_string(r, r->json, "zonefile", &text) ||
	    !opt_string(r, r->json, "targets", &targets) ||
	    !zone_name(r, r->params[0], name, sizeof(name), true))
		return;
	if (config_zone(r->api->cfg, name) != NULL) {
		api_error(r, 409, "conflict",
			  "zone %s is in the configuration: set "
			  "targets[].adopt there instead of importing",
			  name);
		return;
	}
	if ((target == NULL) == (text == NULL)) {
		api_error(r, 400, "missing_field",
			  "give 'target' (a target's name) or "
			  "'zonefile' (a BIND zone file), not both");
		return;
	}
	struct zone_ctx *c = zone_ctx_new(r, name);
	if (c == NULL)
		return;
	c->imported = true;
	snprintf(c->kind, sizeof(c->kind), "Native");
	snprintf(c->targets, sizeof(c->targets), "%s", targets ? targets : "all");
	c->spec.ttl = r->api->cfg->powerdns_default_ttl;
	struct api_job tmp = {.data = c};
	if (!opt_uint(r, r->json, "ttl", "ttl", 1, PRISM_RR_TTL_MAX, &c->spec.ttl) ||
	    !assign_targets(r, c)) {
		zone_ctx_cleanup(&tmp);
		return;
	}
	if (target != NULL) {
		import_from_target(r, c, target);
		return;
	}
	struct prism_zone_data d;
	int rc = prism_zonefile_parse(text, strlen(text), name, &d, err, sizeof(err));
	if (rc != 0) {
		if (rc == PRISM_ENOMEM)
			api_error(r, 500, "internal", "out of memory");
		else
			api_error(r, 422, "invalid_value", "zonefile: %s", err);
		zone_ctx_cleanup(&tmp);
		return;
	}
	bool ok = import_build(c, &d, "zonefile");
	prism_zone_data_free(&d);
	if (!ok) {
		api_error(r, c->fail_status, c->fail_code, "%s", c->fail_msg);
		zone_ctx_cleanup(&tmp);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL) {
		zone_ctx_cleanup(&tmp);
		return;
	}
	j->data = c;
	j->cleanup = zone_ctx_cleanup;
	j->run = run_zone_create;
	j->done = done_zone_create;
	api_submit(r, j);
}
