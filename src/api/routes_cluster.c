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
#include "core/error.h"
#include "core/zonefile.h"

struct cluster_ctx;

struct cluster_slot {
	struct cluster_ctx *c;
	const char *target;            /* borrowed from the engine's targets */
	int err;
	char msg[256];
	struct prism_zone_list *list;  /* owned once answered */
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

/* The zones @p target should serve, in name order, into @p w as present/missing arrays. */
static int target_json(struct prism_api *api, struct jw *w, const struct cluster_slot *s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(api->db, "SELECT zone FROM target_zones WHERE target = ?1 "
			       "ORDER BY zone", -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	sqlite3_bind_text(st, 1, s->target, -1, SQLITE_STATIC);
	jw_obj(w);
	jw_kstr(w, "name", s->target);
	jw_kbool(w, "reachable", s->err == 0);
	jw_kstr(w, "error", s->err ? s->msg : NULL);
	jw_key(w, "zones");
	jw_arr(w);
	size_t missing = 0, present = 0, managed = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *zone = (const char *)sqlite3_column_text(st, 0);
		const struct prism_zone_entry *e = listed(s->list, zone);
		managed++;
		jw_obj(w);
		jw_kstr(w, "name", zone);
		jw_kstr(w, "state", s->err ? "unknown" : e ? "present" : "missing");
		jw_key(w, "serial");
		if (e != NULL)
			jw_int(w, e->serial);
		else
			jw_null(w);
		jw_end_obj(w);
		present += e != NULL;
		missing += s->err == 0 && e == NULL;
	}
	jw_end_arr(w);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	/* zones on the server that Prism does not manage there */
	jw_key(w, "extra");
	jw_arr(w);
	size_t extra = 0;
	if (sqlite3_prepare_v2(api->db, "SELECT 1 FROM target_zones WHERE target = ?1 AND "
			       "zone = ?2", -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	for (size_t i = 0; s->list != NULL && i < s->list->n; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, s->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, s->list->v[i].name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_DONE) {
			jw_str(w, s->list->v[i].name);
			extra++;
		}
	}
	sqlite3_finalize(st);
	jw_end_arr(w);
	jw_kint(w, "managed", (int64_t)managed);
	jw_kint(w, "present", (int64_t)present);
	jw_kint(w, "missing", (int64_t)missing);
	jw_kint(w, "extra_count", (int64_t)extra);
	jw_end_obj(w);
	return 0;
}

static void done_cluster(struct api_req *r, struct api_job *j, int err)
{
	struct cluster_ctx *c = (struct cluster_ctx *)j->data;
	if (err == -ECANCELED) {
		api_error(r, 503, "unavailable", "the daemon is shutting down");
		return;
	}
	struct jw *w = &r->api->jw;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "targets");
	jw_arr(w);
	for (size_t i = 0; i < c->n; i++) {
		if (target_json(r->api, w, &c->slots[i]) != 0) {
			api_error(r, 503, "unavailable", "the registry could not be read (%s)",
				  sqlite3_errmsg(r->api->db));
			return;
		}
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void cluster_finish_one(struct cluster_ctx *c)
{
	if (--c->pending > 0)
		return;
	api_wait_remove(c->job->api, &c->wait);
	api_job_complete(c->job, 0);
}

static void list_cb(void *arg, int err, int status, const char *msg,
		    struct prism_zone_list *list)
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
	struct cluster_ctx *c = (struct cluster_ctx *)((char *)wt - offsetof(struct cluster_ctx,
									    wait));
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
	size_t n = api->opts.ntargets;
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
		const struct prism_engine_target *t = &api->opts.targets[i];
		struct cluster_slot *s = &c->slots[i];
		s->c = c;
		s->target = t->name;
		int rc = t->api->list_zones(t->handle, list_cb, s);
		if (rc != 0) {
			s->err = rc;
			snprintf(s->msg, sizeof(s->msg), "%s", prism_strerror(rc));
			c->pending--;
		}
	}
	cluster_finish_one(c);
}

/* ---- POST /api/v1/targets/{name}/resync ---- */

static int run_resync(struct prism_store *s, const struct prism_store_api *st,
		      struct api_job *j)
{
	int rc = st->target_resync(s, j->name, j->now, &j->count);
	if (rc != 0)
		return rc;
	char object[300], after[64];
	snprintf(object, sizeof(object), "target:%s", j->name);
	snprintf(after, sizeof(after), "{\"rrsets\":%zu}", j->count);
	struct prism_audit_entry e = { j->now, j->actor, "target.resync", object, NULL, after };
	return st->audit_add(s, &e);
}

static void done_resync(struct api_req *r, struct api_job *j, int err)
{
	if (err != 0) {
		api_error(r, 503, "unavailable", "the registry could not be written (%s)",
			  prism_strerror(err));
		return;
	}
	prism_engine_resync(r->api->opts.engine, j->name);
	struct jw *w = &r->api->jw;
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "target", j->name);
	jw_kint(w, "rrsets", (int64_t)j->count);
	jw_end_obj(w);
	api_reply(r, 200);
}

void h_v1_target_resync(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (json_object_size(r->json) > 0) {
		api_error(r, 400, "unknown_field", "this route takes no fields");
		return;
	}
	bool known = false;
	for (size_t i = 0; i < api->opts.ntargets; i++)
		known |= strcmp(api->opts.targets[i].name, r->params[0]) == 0;
	if (api->opts.engine == NULL || !known) {
		api_error(r, 404, "not_found", "no target called '%s'", r->params[0]);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", r->params[0]);
	j->run = run_resync;
	j->done = done_resync;
	api_submit(r, j);
}
