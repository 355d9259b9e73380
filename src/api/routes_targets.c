/* SPDX-License-Identifier: MIT */
/*
 * Targets at run time: POST /api/v1/targets, PATCH and DELETE /api/v1/targets/{name}. The
 * request is checked here and by the daemon (target_ops->check: the key file readable, the
 * zones configured), the registry keeps the target with its audit entry in one store job,
 * and only after the commit does the daemon start, restart or stop it (target_ops): a
 * target is answered 201 once it is kept and pushing. The configuration's targets are
 * never changed here.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api.h"
#include "api/routes_targets.h"
#include "core/api_body.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/jw.h"
#include "store/store.h"

#define ZONES_MAX 256

enum tmode { T_CREATE, T_PATCH, T_DELETE };

struct tctx {
	enum tmode mode;
	struct prism_runtime_target t; /* owned: the new state (the name only for DELETE) */
	char *before;		       /* PATCH, DELETE: the old state as JSON, owned */
	struct prism_api *api;	       /* CREATE: counted in api->targets_creating */
};

static void tctx_cleanup(struct api_job *j)
{
	struct tctx *c = (struct tctx *)j->data;
	if (c == NULL)
		return;
	if (c->api != NULL)
		c->api->targets_creating--;
	prism_runtime_target_clear(&c->t);
	free(c->before);
	free(c);
	j->data = NULL;
}

static const struct prism_config_target *config_target(const struct prism_api *api,
						       const char *name)
{
	for (size_t i = 0; api->cfg->targets != NULL && api->cfg->targets[i] != NULL; i++)
		if (strcmp(api->cfg->targets[i]->name, name) == 0)
			return api->cfg->targets[i];
	return NULL;
}

/* The target as JSON (never its key): the response and the audit entries. */
static void target_json(struct jw *w, const struct prism_runtime_target *t)
{
	jw_obj(w);
	jw_kstr(w, "name", t->name);
	jw_kstr(w, "origin", "api");
	jw_kstr(w, "api_url", t->api_url);
	jw_kbool(w, "api_key_set", t->api_key != NULL);
	jw_kstr(w, "api_key_file", t->api_key_file);
	jw_kstr(w, "server_id", t->server_id);
	jw_key(w, "zones");
	if (t->zones == NULL) {
		jw_null(w);
	} else {
		jw_arr(w);
		for (const char *p = t->zones; *p != '\0';) {
			size_t len = strcspn(p, "\n");
			jw_strn(w, p, len);
			p += len + (p[len] == '\n');
		}
		jw_end_arr(w);
	}
	jw_kstr(w, "group", t->group);
	jw_kstr(w, "dns_address", t->dns_address);
	jw_ktime(w, "created", t->created);
	jw_end_obj(w);
}

static char *target_text(const struct prism_runtime_target *t)
{
	struct jw w = {0};
	target_json(&w, t);
	if (jw_text(&w) == NULL) {
		jw_free(&w);
		return NULL;
	}
	return w.buf;
}

/* ---- the body ---- */

static const char *const fields[] = {"name",	     "api_url",	    "api_key",
				     "api_key_file", "server_id",   "zones",
				     "group",	     "dns_address", NULL};

/* Replace *@p dst by a copy of @p v (a string or null); false after answering. */
static bool take_string(struct api_req *r, const json_t *v, const char *key, char **dst)
{
	if (!json_is_null(v) && !json_is_string(v)) {
		api_error(r, 400, "wrong_type", "'%s' must be a string", key);
		return false;
	}
	char *c = NULL;
	if (json_is_string(v)) {
		if (json_string_length(v) == 0 || json_string_length(v) > 1024 ||
		    strlen(json_string_value(v)) != json_string_length(v)) {
			api_error(r, 422, "invalid_value", "%s: 1 to 1024 characters", key);
			return false;
		}
		if ((c = strdup(json_string_value(v))) == NULL) {
			api_error(r, 500, "internal", "out of memory");
			return false;
		}
	}
	free(*dst);
	*dst = c;
	return true;
}

/* "zones": a list of zone names, normalised one a line; null = every configured zone. */
static bool take_zones(struct api_req *r, const json_t *v, char **dst)
{
	char name[PRISM_DNAME_MAX + 1];
	if (json_is_null(v)) {
		free(*dst);
		*dst = NULL;
		return true;
	}
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > ZONES_MAX) {
		api_error(r, 422, "invalid_value",
			  "zones: a list of 1 to %d zone names, or null "
			  "(every zone of the configuration)",
			  ZONES_MAX);
		return false;
	}
	size_t cap = json_array_size(v) * (PRISM_DNAME_MAX + 2) + 1, off = 0;
	char *text = malloc(cap);
	if (text == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return false;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		const char *s = json_string_value(json_array_get(v, i));
		if (s == NULL || prism_zone_normalize(s, name, sizeof(name)) != 0) {
			api_error(r, 422, "invalid_value", "zones[%zu]: not a zone name", i);
			free(text);
			return false;
		}
		off += (size_t)snprintf(text + off, cap - off, "%s%s", i ? "\n" : "", name);
	}
	free(*dst);
	*dst = text;
	return true;
}

/* Apply the body's fields to @p t (PATCH: only those given); false after answering. */
static bool apply_fields(struct api_req *r, struct prism_runtime_target *t, bool patch)
{
	const char *key;
	json_t *v;
	json_object_foreach(r->json, key, v)
	{
		const char *const *f = fields;
		while (*f != NULL && strcmp(*f, key) != 0)
			f++;
		if (*f == NULL || (patch && strcmp(key, "name") == 0)) {
			api_error(r, 400, "unknown_field", "unknown field '%s'%s", key,
				  *f ? " (a target is renamed by deleting and adding it)" : "");
			return false;
		}
	}
	char **str[] = {&t->name,      &t->api_url, &t->api_key, &t->api_key_file,
			&t->server_id, NULL,	    &t->group,	 &t->dns_address};
	for (size_t i = 0; fields[i] != NULL; i++) {
		v = json_object_get(r->json, fields[i]);
		if (v == NULL)
			continue;
		bool ok = str[i] ? take_string(r, v, fields[i], str[i])
				 : take_zones(r, v, &t->zones);
		if (!ok)
			return false;
	}
	/* PATCH: a new key replaces the other way of giving it */
	if (patch && json_object_get(r->json, "api_key") != NULL && t->api_key != NULL) {
		free(t->api_key_file);
		t->api_key_file = NULL;
	}
	if (patch && json_object_get(r->json, "api_key_file") != NULL && t->api_key_file) {
		if (t->api_key != NULL)
			explicit_bzero(t->api_key, strlen(t->api_key));
		free(t->api_key);
		t->api_key = NULL;
	}
	if (t->server_id == NULL && (t->server_id = strdup("localhost")) == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return false;
	}
	return true;
}

/* ---- the jobs ---- */

static int run_target(struct prism_store *s, const struct prism_store_api *st, struct api_job *j)
{
	static const char *const actions[] = {"target.create", "target.update", "target.delete"};
	struct tctx *c = (struct tctx *)j->data;
	int rc = c->mode == T_CREATE  ? st->runtime_target_add(s, &c->t)
		 : c->mode == T_PATCH ? st->runtime_target_update(s, &c->t)
				      : st->runtime_target_delete(s, c->t.name);
	if (rc != 0)
		return rc;
	char object[300];
	snprintf(object, sizeof(object), "target:%s", c->t.name);
	char *after = c->mode == T_DELETE ? NULL : target_text(&c->t);
	if (c->mode != T_DELETE && after == NULL)
		return PRISM_ENOMEM;
	rc = api_audit(s, st, j, actions[c->mode], object, c->before, after);
	free(after);
	return rc;
}

static void done_target(struct api_req *r, struct api_job *j, int err)
{
	struct tctx *c = (struct tctx *)j->data;
	const struct prism_api_target_ops *ops = r->api->opts.target_ops;
	char why[512] = "";
	if (err == PRISM_ECONFLICT) {
		api_error(r, 409, "conflict", "a target called '%s' exists", c->t.name);
		return;
	}
	if (err == PRISM_ENOTFOUND) {
		api_error(r, 404, "not_found", "no target called '%s' added at run time",
			  c->t.name);
		return;
	}
	if (err != 0) {
		api_error(r, err == PRISM_ENOMEM ? 500 : 503,
			  err == PRISM_ENOMEM ? "internal" : "unavailable",
			  "the registry could not be written (%s)", prism_strerror(err));
		return;
	}
	int rc = c->mode == T_DELETE
			 ? ops->remove(ops->arg, c->t.name)
			 : ops->start(ops->arg, &c->t, c->mode == T_PATCH, why, sizeof(why));
	if (rc != 0 && rc != PRISM_ENOTFOUND) {
		api_error(r, 500, "internal", "kept in the registry, but %s", why);
		return;
	}
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	if (c->mode == T_DELETE) {
		jw_obj(w);
		jw_key(w, "deleted");
		jw_obj(w);
		jw_kstr(w, "name", c->t.name);
		jw_end_obj(w);
		jw_end_obj(w);
	} else {
		target_json(w, &c->t);
	}
	api_reply(r, c->mode == T_CREATE ? 201 : 200);
}

/* A context and its job for @p mode; NULL after answering. */
static struct api_job *target_job(struct api_req *r, enum tmode mode, struct tctx **out)
{
	const struct prism_api_target_ops *ops = r->api->opts.target_ops;
	if (ops == NULL || r->api->opts.engine == NULL) {
		api_error(r, 503, "unavailable",
			  "DNS sync is disabled: there is no target in "
			  "the configuration");
		return NULL;
	}
	struct tctx *c = calloc(1, sizeof(*c));
	struct api_job *j = c ? api_job_new(r) : NULL;
	if (j == NULL) {
		if (c == NULL)
			api_error(r, 500, "internal", "out of memory");
		free(c);
		return NULL;
	}
	c->mode = mode;
	j->data = c;
	j->cleanup = tctx_cleanup;
	j->run = run_target;
	j->done = done_target;
	*out = c;
	return j;
}

/* Refused when the configuration has @p name; false after answering. */
static bool not_config(struct api_req *r, const char *name, const char *what)
{
	if (config_target(r->api, name) == NULL)
		return true;
	api_error(r, 409, "conflict", "target '%s' is in the configuration file: %s", name, what);
	return false;
}

/* The daemon's check of the whole target; false after answering. */
static bool target_ok(struct api_req *r, const struct prism_runtime_target *t)
{
	const struct prism_api_target_ops *ops = r->api->opts.target_ops;
	char why[512] = "";
	int rc = ops->check(ops->arg, t, why, sizeof(why));
	if (rc == 0)
		return true;
	if (rc == PRISM_ENOMEM)
		api_error(r, 500, "internal", "out of memory");
	else
		api_error(r, 422, "invalid_value", "%s", why);
	return false;
}

/* Drop a job that was never submitted (the request is answered already). */
static void discard(struct api_req *r, struct api_job *j)
{
	(void)r;
	tctx_cleanup(j);
	free(j);
}

static bool engine_has(const struct prism_engine *e, const char *name)
{
	struct prism_engine_target_info ti;
	for (size_t i = 0; i < prism_engine_ntargets(e); i++)
		if (prism_engine_target_info(e, i, &ti) == 0 && strcmp(ti.name, name) == 0)
			return true;
	return false;
}

void h_v1_target_create(struct api_req *r)
{
	struct tctx *c;
	struct api_job *j = target_job(r, T_CREATE, &c);
	if (j == NULL)
		return;
	c->t.created = (int64_t)time(NULL);
	if (!apply_fields(r, &c->t, false)) {
		discard(r, j);
		return;
	}
	const char *name = c->t.name;
	if (name == NULL || c->t.api_url == NULL) {
		api_error(r, 400, "missing_field", "'%s' is required", name ? "api_url" : "name");
	} else if (!prism_api_name_ok(name)) {
		api_error(r, 422, "invalid_value",
			  "name: 1 to %d of letters, digits and ._-@:", PRISM_API_NAME_MAX);
	} else if (not_config(r, name, "choose another name")) {
		if (engine_has(r->api->opts.engine, name))
			api_error(r, 409, "conflict", "a target called '%s' exists", name);
		else if (prism_engine_ntargets(r->api->opts.engine) + r->api->targets_creating >=
			 API_MAX_TARGETS) /* creations in flight count: they all start */
			api_error(r, 409, "conflict",
				  "there are %d targets already, the most "
				  "prismd takes",
				  API_MAX_TARGETS);
		else if (target_ok(r, &c->t)) {
			c->api = r->api;
			r->api->targets_creating++;
			api_submit(r, j);
			return;
		}
	}
	discard(r, j);
}

void h_v1_target_update(struct api_req *r)
{
	const struct prism_api_target_ops *ops = r->api->opts.target_ops;
	const char *name = r->params[0];
	struct tctx *c;
	if (!not_config(r, name, "change it there"))
		return;
	struct api_job *j = target_job(r, T_PATCH, &c);
	if (j == NULL)
		return;
	const struct prism_runtime_target *old = ops->find(ops->arg, name);
	if (old == NULL) {
		api_error(r, 404, "not_found", "no target called '%s'", name);
	} else if ((c->before = target_text(old)) == NULL) {
		api_error(r, 500, "internal", "out of memory");
	} else if (prism_runtime_target_copy(old, &c->t) != 0) {
		api_error(r, 500, "internal", "out of memory");
	} else if (apply_fields(r, &c->t, true) && target_ok(r, &c->t)) {
		api_submit(r, j);
		return;
	}
	discard(r, j);
}

void h_v1_target_delete(struct api_req *r)
{
	const struct prism_api_target_ops *ops = r->api->opts.target_ops;
	const char *name = r->params[0];
	struct tctx *c;
	if (json_object_size(r->json) > 0) {
		api_error(r, 400, "unknown_field", "this route takes no fields");
		return;
	}
	if (!not_config(r, name, "remove it there (and restart prismd)"))
		return;
	struct api_job *j = target_job(r, T_DELETE, &c);
	if (j == NULL)
		return;
	const struct prism_runtime_target *old = ops->find(ops->arg, name);
	if (old == NULL) {
		api_error(r, 404, "not_found", "no target called '%s'", name);
	} else if ((c->before = target_text(old)) == NULL || (c->t.name = strdup(name)) == NULL) {
		api_error(r, 500, "internal", "out of memory");
	} else {
		api_submit(r, j);
		return;
	}
	discard(r, j);
}
