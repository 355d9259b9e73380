/* SPDX-License-Identifier: MIT */
/*
 * The cluster view and "sync every zone to this target" (docs/zones.md).
 *
 * GET /api/v1/cluster asks every target for its zone list (with SOA serials) at once and
 * answers when the last one did: per target the zones it should serve (target_zones) that
 * are present, missing, and the extra zones it has that Prism does not manage there.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/routes_zones.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/zonefile.h"

struct cluster_ctx;

struct cluster_slot {
	struct cluster_ctx *c;
	char target[128]; /* the engine's target name (copied: read on a read thread) */
	int err;
	char msg[256];
	struct prism_zone_list *list; /* owned once answered */
};

struct cluster_ctx {
	struct api_job *job;
	struct api_wait wait;
	struct cluster_slot *slots;
	size_t n, pending;
};

static void cluster_cleanup(struct api_job *j)
{
	struct cluster_ctx *c = (struct cluster_ctx *)j->data;
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		prism_zone_list_free(c->slots[i].list);
		free(c->slots[i].list);
	}
	free(c->slots);
	free(c);
	j->data = NULL;
}

static const struct prism_zone_entry *listed(const struct prism_zone_list *l, const char *zone)
{
	for (size_t i = 0; l != NULL && i < l->n; i++)
		if (strcmp(l->v[i].name, zone) == 0)
			return &l->v[i];
	return NULL;
}

struct zones_ctx {
	struct jw *w;
	const struct cluster_slot *s;
	size_t missing, present, managed;
};

static int managed_zone(void *ctx, const char *zone)
{
	struct zones_ctx *c = ctx;
	struct jw *w = c->w;
	const struct prism_zone_entry *e = listed(c->s->list, zone);
	c->managed++;
	jw_obj(w);
	jw_kstr(w, "name", zone);
	jw_kstr(w, "state", c->s->err ? "unknown" : e ? "present" : "missing");
	jw_key(w, "serial");
	if (e != NULL)
		jw_int(w, e->serial);
	else
		jw_null(w);
	jw_end_obj(w);
	c->present += e != NULL;
	c->missing += c->s->err == 0 && e == NULL;
	return 0;
}

/* The zones @p target should serve, in name order, into @p w as present/missing arrays. */
static int target_json(struct prism_api *api, struct jw *w, const struct cluster_slot *s)
{
	struct zones_ctx c = {.w = w, .s = s};
	jw_obj(w);
	jw_kstr(w, "name", s->target);
	jw_kbool(w, "reachable", s->err == 0);
	jw_kstr(w, "error", s->err ? s->msg : NULL);
	jw_key(w, "zones");
	jw_arr(w);
	if (api->rd->target_zones(api_reader(api), s->target, managed_zone, &c) != 0)
		return PRISM_ESTORE;
	jw_end_arr(w);
	/* zones on the server that Prism does not manage there */
	jw_key(w, "extra");
	jw_arr(w);
	size_t extra = 0;
	for (size_t i = 0; s->list != NULL && i < s->list->n; i++) {
		bool serves;
		if (api->rd->target_serves(api_reader(api), s->target, s->list->v[i].name,
					   &serves) != 0)
			return PRISM_ESTORE;
		if (!serves) {
			jw_str(w, s->list->v[i].name);
			extra++;
		}
	}
	jw_end_arr(w);
	jw_kint(w, "managed", (int64_t)c.managed);
	jw_kint(w, "present", (int64_t)c.present);
	jw_kint(w, "missing", (int64_t)c.missing);
	jw_kint(w, "extra_count", (int64_t)extra);
	jw_end_obj(w);
	return 0;
}

/* Every target's zones as the registry has them beside the server's list (store reads: on
 * a read thread when they block). */
static void cluster_answer(struct api_req *r, struct api_job *j)
{
	struct cluster_ctx *c = (struct cluster_ctx *)j->data;
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "targets");
	jw_arr(w);
	for (size_t i = 0; i < c->n; i++) {
		if (target_json(r->api, w, &c->slots[i]) != 0) {
			api_db_failed(r);
			return;
		}
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void done_cluster(struct api_req *r, struct api_job *j, int err)
{
	if (err == -ECANCELED) {
		api_error(r, 503, "unavailable", "the daemon is shutting down");
		return;
	}
	api_answer_off_loop(r, j, cluster_answer);
}

static void cluster_finish_one(struct cluster_ctx *c)
{
	if (--c->pending > 0)
		return;
	api_wait_remove(c->job->api, &c->wait);
	api_job_complete(c->job, 0);
}

static void list_cb(void *arg, int err, int status, const char *msg, struct prism_zone_list *list)
{
	struct cluster_slot *s = arg;
	s->err = err;
	s->list = list;
	if (err != 0)
		snprintf(s->msg, sizeof(s->msg), "%s%s%s%s", prism_strerror(err),
			 status ? " (HTTP error)" : "", msg && msg[0] ? ": " : "", msg ? msg : "");
	cluster_finish_one(s->c);
}

static void cluster_abort(struct api_wait *wt)
{
	struct cluster_ctx *c =
		(struct cluster_ctx *)((char *)wt - offsetof(struct cluster_ctx, wait));
	api_job_complete(c->job, -ECANCELED);
}

void h_v1_cluster(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (api->opts.engine == NULL) {
		api_error(r, 503, "unavailable", "DNS sync is disabled: there is no target");
		return;
	}
	struct cluster_ctx *c = calloc(1, sizeof(*c));
	size_t n = prism_engine_ntargets(api->opts.engine);
	if (c == NULL || (c->slots = calloc(n ? n : 1, sizeof(*c->slots))) == NULL) {
		free(c);
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL) {
		free(c->slots);
		free(c);
		return;
	}
	c->job = j;
	c->n = n;
	c->pending = n + 1; /* held until every request is out */
	j->data = c;
	j->cleanup = cluster_cleanup;
	j->done = done_cluster;
	api_job_attach(r, j);
	c->wait.abort = cluster_abort;
	api_wait_add(api, &c->wait);
	for (size_t i = 0; i < n; i++) {
		const struct prism_engine_target *t = prism_engine_target(api->opts.engine, i);
		struct cluster_slot *s = &c->slots[i];
		s->c = c;
		snprintf(s->target, sizeof(s->target), "%s", t->name);
		int rc = t->api->list_zones(t->handle, list_cb, s);
		if (rc != 0) {
			s->err = rc;
			snprintf(s->msg, sizeof(s->msg), "%s", prism_strerror(rc));
			c->pending--;
		}
	}
	cluster_finish_one(c);
}

/* ---- POST /api/v1/targets/{name}/resync and /api/v1/zones/{zone}/resync ---- */

/* j->flag: a zone to its targets, else a target's zones */
static int run_resync(struct prism_store *s, const struct prism_store_api *st, struct api_job *j)
{
	int rc = j->flag ? st->zone_resync(s, j->name, j->now, &j->count)
			 : st->target_resync(s, j->name, j->now, &j->count);
	if (rc != 0)
		return rc;
	char object[300], after[64];
	snprintf(object, sizeof(object), "%s:%s", j->flag ? "zone" : "target", j->name);
	snprintf(after, sizeof(after), "{\"rrsets\":%zu}", j->count);
	return api_audit(s, st, j, j->flag ? "zone.resync" : "target.resync", object, NULL, after);
}

static void done_resync(struct api_req *r, struct api_job *j, int err)
{
	if (err != 0) {
		api_error(r, 503, "unavailable", "the registry could not be written (%s)",
			  prism_strerror(err));
		return;
	}
	size_t targets = 0;
	if (j->flag)
		targets = prism_engine_resync_zone(r->api->opts.engine, j->name);
	else
		prism_engine_resync(r->api->opts.engine, j->name);
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, j->flag ? "zone" : "target", j->name);
	jw_kint(w, "rrsets", (int64_t)j->count);
	if (j->flag)
		jw_kint(w, "targets", (int64_t)targets);
	jw_end_obj(w);
	api_reply(r, 200);
}

void api_resync_submit(struct api_req *r, const char *name, bool zone)
{
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->flag = zone;
	j->run = run_resync;
	j->done = done_resync;
	api_submit(r, j);
}

void h_v1_target_resync(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (json_object_size(r->json) > 0) {
		api_error(r, 400, "unknown_field", "this route takes no fields");
		return;
	}
	bool known = false;
	for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine); i++)
		known |= strcmp(prism_engine_target(api->opts.engine, i)->name, r->params[0]) == 0;
	if (api->opts.engine == NULL || !known) {
		api_error(r, 404, "not_found", "no target called '%s'", r->params[0]);
		return;
	}
	api_resync_submit(r, r->params[0], false);
}

/* ---- DNSSEC: POST and GET /api/v1/zones/{zone}/dnssec ---- */

static int run_dnssec(struct prism_store *s, const struct prism_store_api *st, struct api_job *j)
{
	bool changed;
	int rc = st->zone_set_dnssec(s, j->name, j->flag, &changed);
	if (rc != 0 || !changed)
		return rc;
	char object[300];
	snprintf(object, sizeof(object), "zone:%s", j->name);
	return api_audit(s, st, j, "zone.dnssec", object,
			 j->flag ? "{\"dnssec\":false}" : "{\"dnssec\":true}",
			 j->flag ? "{\"dnssec\":true}" : "{\"dnssec\":false}");
}

static void done_dnssec(struct api_req *r, struct api_job *j, int err)
{
	if (err == PRISM_ENOTFOUND) {
		api_error(r, 404, "not_found", "no zone %s", j->name);
		return;
	}
	if (err != 0) {
		api_error(r, 503, "unavailable", "the registry could not be written (%s)",
			  prism_strerror(err));
		return;
	}
	prism_engine_zones_changed(r->api->opts.engine);
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "zone", j->name);
	jw_kbool(w, "dnssec", j->flag);
	jw_end_obj(w);
	api_reply(r, 200);
}

/* The zone of the path, normalised; a registry zone (DNSSEC is off for config zones). */
static bool dnssec_zone(struct api_req *r, char *name, size_t len)
{
	if (r->api->opts.engine == NULL) {
		api_error(r, 503, "unavailable", "DNS sync is disabled: there is no target");
		return false;
	}
	if (prism_zone_normalize(r->params[0], name, len) != 0) {
		api_error(r, 404, "not_found", "no zone %s", r->params[0]);
		return false;
	}
	for (size_t i = 0; r->api->cfg->zones[i] != NULL; i++)
		if (strcmp(r->api->cfg->zones[i]->name, name) == 0) {
			api_error(r, 409, "conflict",
				  "zone %s is in the configuration: DNSSEC is "
				  "managed for registry zones only",
				  name);
			return false;
		}
	return true;
}

void h_v1_zone_dnssec_set(struct api_req *r)
{
	char name[PRISM_DNAME_MAX + 1];
	json_t *v = json_object_get(r->json, "enabled");
	if (!dnssec_zone(r, name, sizeof(name)))
		return;
	if (json_object_size(r->json) != 1 || !json_is_boolean(v)) {
		api_error(r, 400, "invalid_body", "the body is {\"enabled\": true|false}");
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->flag = json_is_true(v);
	j->run = run_dnssec;
	j->done = done_dnssec;
	api_submit(r, j);
}

struct keys_ctx;

struct keys_slot {
	struct keys_ctx *c;
	char target[128];
	int err;
	char msg[256];
	json_t *keys; /* the target's cryptokeys, owned */
};

struct keys_ctx {
	struct api_job *job;
	struct api_wait wait;
	struct keys_slot *slots;
	size_t n, pending;
	bool enabled;
};

static void keys_cleanup(struct api_job *j)
{
	struct keys_ctx *c = (struct keys_ctx *)j->data;
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		json_decref(c->slots[i].keys);
	free(c->slots);
	free(c);
	j->data = NULL;
}

static void key_json(struct jw *w, const json_t *k)
{
	const json_t *ds;
	size_t i;
	jw_obj(w);
	jw_kint(w, "id", json_integer_value(json_object_get(k, "id")));
	jw_kstr(w, "keytype", json_string_value(json_object_get(k, "keytype")));
	jw_kbool(w, "active", json_is_true(json_object_get(k, "active")));
	jw_kstr(w, "algorithm", json_string_value(json_object_get(k, "algorithm")));
	jw_kstr(w, "dnskey", json_string_value(json_object_get(k, "dnskey")));
	jw_key(w, "ds");
	jw_arr(w);
	json_array_foreach(json_object_get(k, "ds"), i, ds) if (json_is_string(ds))
		jw_str(w, json_string_value(ds));
	jw_end_arr(w);
	jw_end_obj(w);
}

static void done_keys(struct api_req *r, struct api_job *j, int err)
{
	struct keys_ctx *c = (struct keys_ctx *)j->data;
	struct jw *w = api_jw(r->api);
	const json_t *k;
	size_t i;
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "zone", j->name);
	jw_kbool(w, "dnssec", c->enabled);
	jw_key(w, "targets");
	jw_arr(w);
	for (size_t t = 0; t < c->n; t++) {
		jw_obj(w);
		jw_kstr(w, "target", c->slots[t].target);
		jw_kstr(w, "error", c->slots[t].err ? c->slots[t].msg : NULL);
		jw_key(w, "keys");
		jw_arr(w);
		json_array_foreach(c->slots[t].keys, i, k) key_json(w, k);
		jw_end_arr(w);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void keys_finish_one(struct keys_ctx *c)
{
	if (--c->pending > 0)
		return;
	api_wait_remove(c->job->api, &c->wait);
	api_job_complete(c->job, 0);
}

static void keys_cb(void *arg, int err, int status, const char *msg, const char *body, size_t len)
{
	struct keys_slot *s = arg;
	s->err = err;
	if (err == 0) {
		s->keys = json_loadb(body, len, 0, NULL);
		if (!json_is_array(s->keys)) {
			json_decref(s->keys);
			s->keys = NULL;
			s->err = PRISM_EPROTO;
			snprintf(s->msg, sizeof(s->msg), "the server's keys are not a JSON list");
		}
	} else {
		snprintf(s->msg, sizeof(s->msg), "%s%s%s",
			 status == 404 ? "the zone is missing" : prism_strerror(err),
			 msg && msg[0] ? ": " : "", msg ? msg : "");
	}
	keys_finish_one(s->c);
}

static void keys_abort(struct api_wait *wt)
{
	struct keys_ctx *c = (struct keys_ctx *)((char *)wt - offsetof(struct keys_ctx, wait));
	api_job_complete(c->job, -ECANCELED);
}

/* GET .../dnssec: what the store says (on a read thread when reads block), then the keys
 * of each target serving the zone, asked on the loop (api_loop_call). */
struct dnssec_get {
	struct api_req *r;
	const char *name;
	bool on;
	struct keys_ctx *c;
	size_t n;			  /* the engine's targets */
	char names[API_MAX_TARGETS][128]; /* their names */
};

static void dnssec_names(void *arg)
{
	struct dnssec_get *g = arg;
	const struct prism_engine *e = g->r->api->opts.engine;
	for (size_t i = 0; i < prism_engine_ntargets(e) && g->n < API_MAX_TARGETS; i++)
		snprintf(g->names[g->n++], sizeof(g->names[0]), "%s",
			 prism_engine_target(e, i)->name);
}

/* On the loop: the job, and a read of the keys from each target serving the zone. */
static void dnssec_ask(void *arg)
{
	struct dnssec_get *g = arg;
	struct api_req *r = g->r;
	struct prism_api *api = r->api;
	struct keys_ctx *c = g->c;
	struct api_job *j = api_job_new(r);
	if (j == NULL) {
		free(c->slots);
		free(c);
		return;
	}
	snprintf(j->name, sizeof(j->name), "%s", g->name);
	c->job = j;
	c->enabled = g->on;
	j->data = c;
	j->cleanup = keys_cleanup;
	j->done = done_keys;
	api_job_attach(r, j);
	c->wait.abort = keys_abort;
	api_wait_add(api, &c->wait);
	c->pending = 1;
	for (size_t k = 0; k < c->n; k++) {
		struct keys_slot *s = &c->slots[k];
		const struct prism_engine_target *t = NULL;
		for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine) && t == NULL; i++)
			if (strcmp(prism_engine_target(api->opts.engine, i)->name, s->target) == 0)
				t = prism_engine_target(api->opts.engine, i);
		int rc = t != NULL ? (c->pending++,
				      t->api->read_keys(t->handle, g->name, keys_cb, s))
				   : PRISM_ENOTFOUND;
		if (rc != 0) {
			s->err = rc;
			snprintf(s->msg, sizeof(s->msg), "%s",
				 t ? prism_strerror(rc) : "the target was removed");
			c->pending -= t != NULL;
		}
	}
	keys_finish_one(c);
}

void h_v1_zone_dnssec(struct api_req *r)
{
	struct prism_api *api = r->api;
	char name[PRISM_DNAME_MAX + 1];
	struct dnssec_get *g = calloc(1, sizeof(*g));
	if (g == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return;
	}
	g->r = r;
	g->name = name;
	if (!dnssec_zone(r, name, sizeof(name)))
		goto out;
	int rc = api->rd->zone_dnssec(api_reader(api), name, &g->on);
	if (rc != 0) {
		if (rc == PRISM_ENOTFOUND)
			api_error(r, 404, "not_found", "no zone %s", name);
		else
			api_error(r, 503, "unavailable", "the registry could not be read");
		goto out;
	}
	if (api_loop_call(api, dnssec_names, g) != 0) {
		api_error(r, 503, "unavailable", "the daemon is shutting down");
		goto out;
	}
	struct keys_ctx *c = calloc(1, sizeof(*c));
	if (c == NULL || (c->slots = calloc(g->n ? g->n : 1, sizeof(*c->slots))) == NULL) {
		free(c);
		api_error(r, 500, "internal", "out of memory");
		goto out;
	}
	/* the targets serving the zone: those with a (target, zone) pair; a registry that
	 * cannot be read is an error answer, not "no target serves the zone" */
	for (size_t i = 0; i < g->n; i++) {
		bool serves;
		if (api->rd->target_serves(api_reader(api), g->names[i], name, &serves) != 0) {
			free(c->slots);
			free(c);
			api_db_failed(r);
			goto out;
		}
		if (serves) {
			c->slots[c->n].c = c;
			snprintf(c->slots[c->n++].target, sizeof(c->slots[0].target), "%s",
				 g->names[i]);
		}
	}
	g->c = c;
	if (api_loop_call(api, dnssec_ask, g) != 0) {
		free(c->slots);
		free(c);
		api_error(r, 503, "unavailable", "the daemon is shutting down");
	}
out:
	free(g);
}
