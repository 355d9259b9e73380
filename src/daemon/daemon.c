/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "common/conffile.h"
#include "common/log.h"
#include "core/error.h"
#include "core/ha.h"
#include "core/reserved.h"
#include "core/strv.h"
#include "core/token.h"
#include "daemon/daemon.h"
#include "engine/engine.h"
#include "engine/health.h"
#include "engine/liveness.h"
#include "prism_version.h"
#include "sources/agent_server.h"
#include "sources/kea_leases.h"
#include "sources/kea_pg.h"
#include "sources/ncr_server.h"
#include "store/dns_dest.h"
#include "store/ha_pg.h"
#include "store/store.h"
#include "store/writer.h"
#include "targets/target.h"

#define TAG "prismd"

/* One run-time target. Never freed before exit: the engine, the health checks and the
 * target's callbacks may point into it after it is removed (rt_close_all frees it). */
struct rt_target {
	struct prism_runtime_target spec; /* owned */
	char **zones;			  /* spec.zones split, NULL = every config zone */
	struct prism_config_target ct;	  /* a view of spec, as open_target wants it */
	struct prism_engine_target et;
	struct prism_engine_zone *ezones; /* et.zones, owned */
	struct prism_target *handle;
	bool running; /* in the engine (not removed, started) */
	bool removed; /* deleted or replaced: only memory now */
};

struct daemon {
	const struct prism_config *cfg;	    /* the one in force */
	const struct prism_config *started; /* the one prismd started with (restart-only) */
	const char *config_path;	    /* read again on SIGHUP */
	struct prism_config **retired;	    /* configs replaced by reloads: modules may still
					     * point into them, so they live until exit */
	size_t nretired;
	uv_loop_t loop;
	uv_signal_t sigint, sigterm, sighup;
	struct prism_store *store;
	char *db_url;	    /* PostgreSQL: database.url, or read from url_file (wiped) */
	char db_where[256]; /* the registry for logs: a file, or PostgreSQL's host/dbname */
	struct prism_store_writer *writer;
	struct prism_target **targets; /* one per cfg->targets entry */
	struct prism_engine_target *etargets;
	struct prism_engine_zone *ezones; /* every zone, in cfg->zones order */
	const char **zone_names;	  /* the same names, NULL-terminated */
	size_t ntargets, nzones;
	struct prism_engine *engine;
	struct prism_health *health; /* target health checks (docs/zones.md) */
	const char **dns_addresses;  /* per target, for the health checks' DNS probe */
	struct rt_target **rt;	     /* targets added at run time (API), never freed
				      * before exit: the engine may still point at them */
	size_t nrt;
	struct prism_api_target_ops rt_ops; /* for the API: rt_check, rt_start, … */
	struct prism_agent_server *agent;
	struct prism_agent_tls *agent_tls; /* the TLS agent port's context, NULL when off */
	struct prism_ncr_server *ncr;
	struct prism_kea_pg *kea_pg;
	struct prism_name_filter *kea_pg_filter;
	struct prism_kea_leases_src *kea_leases;
	struct prism_name_filter *kea_leases_filter;
	struct prism_liveness *liveness;
	struct prism_ha *ha; /* PostgreSQL: heartbeats and claims of active-active instances */
	bool ha_on;	     /* PostgreSQL (not --once): work waits for its claim */
	struct prism_api *api;
	struct prism_token_set *tokens;	 /* agent tokens from the config, by hash */
	struct prism_cred_key cred_key;	 /* the registry's: credentials are hashed with it */
	struct prism_reserved *reserved; /* names no source may claim; updated in place */
	int exit_code;
	bool shut; /* shutdown_daemon ran */
	/* prismd --once: one consistency sync of the reservations, then wait for the DNS */
	bool once;
	double once_timeout;	/* seconds */
	uint64_t once_deadline; /* loop ms */
	uv_timer_t once_timer;
	bool once_checking;
	size_t once_conflicts; /* reservations refused by the sync */
};

/* the registry backend, chosen by database.type at start */
static const struct prism_store_api *store_api = &prism_store_sqlite;

static void changed_cb(void *arg)
{
	struct daemon *d = arg;
	prism_engine_wake(d->engine);
}

static void rt_close_all(struct daemon *d);
static void ha_claims_update(struct daemon *d);
static void stop_sync(struct daemon *d);

/* Shutting down: the claims are released (ha_pg.c waited for the work in flight). */
static void ha_left_cb(void *arg)
{
	stop_sync(arg);
}

static bool ha_may_target(void *arg, const char *target);
static bool ha_may_liveness(void *arg);

static void shutdown_daemon(struct daemon *d)
{
	if (d->shut)
		return; /* --once finished, then a signal came: already done */
	d->shut = true;
	prism_log(PRISM_LOG_INFO, TAG, "shutting down");
	prism_api_stop(d->api); /* first: it reads every other module */
	d->api = NULL;
	uv_signal_stop(&d->sigint);
	uv_signal_stop(&d->sigterm);
	uv_signal_stop(&d->sighup);
	uv_close((uv_handle_t *)&d->sighup, NULL);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	/* reverse order of start: sources, engine, targets, then the writer drains */
	prism_agent_server_stop(d->agent);
	d->agent = NULL;
	prism_agent_tls_free(d->agent_tls); /* open sessions keep what they need */
	d->agent_tls = NULL;
	prism_ncr_server_stop(d->ncr);
	d->ncr = NULL;
	prism_kea_pg_stop(d->kea_pg);
	d->kea_pg = NULL;
	prism_kea_leases_stop(d->kea_leases);
	d->kea_leases = NULL;
	if (d->once)
		uv_close((uv_handle_t *)&d->once_timer, NULL);
	prism_liveness_stop(d->liveness);
	d->liveness = NULL;
	prism_health_stop(d->health);
	d->health = NULL;
	if (d->ha != NULL) {
		/* no new work under any claim from now on; the requests in flight end, then the
		 * claims are released so other instances take over at once, then the rest */
		struct prism_ha *ha = d->ha;
		d->ha = NULL;
		prism_ha_stop(ha, ha_left_cb, d);
		return;
	}
	stop_sync(d);
}

/* The engine, the targets, then the writer drains. */
static void stop_sync(struct daemon *d)
{
	prism_engine_stop(d->engine);
	d->engine = NULL;
	for (size_t i = 0; i < d->ntargets; i++) {
		d->etargets[i].api->close(d->targets[i]);
		d->targets[i] = NULL;
	}
	rt_close_all(d);
	prism_store_writer_stop(d->writer);
	d->writer = NULL;
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	prism_log(PRISM_LOG_INFO, TAG, "received %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
	shutdown_daemon(d);
}

static int open_target(struct daemon *d, const struct prism_config_target *ct,
		       const struct prism_target_api *api, struct prism_target **out)
{
	char err[512];
	char *key = NULL;
	const char *file = ct->api_key_file ? ct->api_key_file : ct->tsig.secret_file;
	if (file != NULL) {
		key = prism_secret_read(file, err, sizeof(err));
		if (key == NULL) {
			prism_log(PRISM_LOG_CRITICAL, TAG, "target %s: %s: %s", ct->name,
				  ct->api_key_file ? "api_key_file" : "tsig.secret_file", err);
			return PRISM_ECONFIG;
		}
	}
	struct prism_target_opts topts = {
		.name = ct->name,
		.api_url = ct->api_url,
		.api_key = key ? key : ct->api_key,
		.server_id = ct->server_id,
		.timeout = d->cfg->powerdns_timeout,
		.instance = d->cfg->server_instance,
		.owner_id = d->cfg->sync_owner_id,
		.server = ct->server,
		.tsig_name = ct->tsig.name,
		.tsig_algorithm = ct->tsig.algorithm,
		.tsig_secret = ct->tsig.secret_file ? key : ct->tsig.secret,
		.retry_attempts = d->cfg->powerdns_retry_attempts,
		.rate_limit_qps = ct->rate_limit_qps,
		.breaker_threshold = ct->breaker_threshold,
		.breaker_recovery = ct->breaker_recovery_seconds,
	};
	if (ct->tsig.secret_file != NULL)
		topts.api_key = NULL;
	int rc = api->open(&d->loop, &topts, out);
	if (key != NULL) /* the target keeps its own copy */
		explicit_bzero(key, strlen(key));
	free(key);
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, TAG, "target %s: cannot set it up (%s)", ct->name,
			  prism_strerror(rc));
	return rc;
}

/* The zones a target serves: its list, or every zone. Points into d->ezones. */
static int target_zones(struct daemon *d, const struct prism_config_target *ct,
			struct prism_engine_zone **zones, size_t *n)
{
	*zones = calloc(d->nzones, sizeof(**zones));
	if (*zones == NULL)
		return PRISM_ENOMEM;
	*n = 0;
	for (size_t z = 0; z < d->nzones; z++) {
		bool served = ct->zones == NULL;
		for (char **name = ct->zones; !served && *name != NULL; name++)
			served = strcmp(*name, d->ezones[z].name) == 0;
		if (served)
			(*zones)[(*n)++] = d->ezones[z];
	}
	return 0;
}

/* Tell the registry which (target, zone) pairs exist; a new pair catches up by itself. */
struct tz_job {
	struct prism_store_job job;
	struct daemon *d;
	struct prism_target_zone *pairs;
	size_t n, caught_up;
	struct prism_target_group *groups; /* for the registry's zones (API, imports) */
	size_t ngroups;
};

static int tz_run(struct prism_store *s, const struct prism_store_api *api,
		  struct prism_store_job *job)
{
	struct tz_job *j = (struct tz_job *)job;
	return api->zones_targets_sync(s, j->pairs, j->n, j->groups, j->ngroups,
				       (int64_t)time(NULL), &j->caught_up);
}

static void tz_done(struct prism_store_job *job, int err)
{
	struct tz_job *j = (struct tz_job *)job;
	if (err != 0 && err != -ECANCELED)
		prism_log(PRISM_LOG_ERROR, "store", "cannot record the targets' zones (%s)",
			  prism_strerror(err));
	else if (err == 0 && j->caught_up > 0)
		prism_log(PRISM_LOG_INFO, TAG, "%zu record set(s) queued for new targets or zones",
			  j->caught_up);
	if (err == 0)
		prism_engine_wake(j->d->engine);
	free(j->pairs);
	free(j->groups);
	free(j);
}

static int sync_target_zones(struct daemon *d)
{
	struct tz_job *j = calloc(1, sizeof(*j));
	size_t max = 0, nt = d->ntargets + d->nrt;
	for (size_t t = 0; t < d->ntargets; t++)
		max += d->etargets[t].nzones;
	for (size_t t = 0; t < d->nrt; t++)
		max += d->rt[t]->et.nzones;
	if (j == NULL || (j->pairs = calloc(max ? max : 1, sizeof(*j->pairs))) == NULL ||
	    (j->groups = calloc(nt ? nt : 1, sizeof(*j->groups))) == NULL) {
		if (j != NULL)
			free(j->pairs);
		free(j);
		return PRISM_ENOMEM;
	}
	for (size_t t = 0; t < d->ntargets; t++)
		j->groups[j->ngroups++] = (struct prism_target_group){d->cfg->targets[t]->name,
								      d->cfg->targets[t]->group};
	for (size_t t = 0; t < d->ntargets; t++)
		for (size_t z = 0; z < d->etargets[t].nzones; z++)
			j->pairs[j->n++] = (struct prism_target_zone){
				d->etargets[t].name, d->etargets[t].zones[z].name};
	for (size_t t = 0; t < d->nrt; t++) {
		const struct rt_target *r = d->rt[t];
		if (!r->running)
			continue; /* removed, or could not start: its rows go */
		j->groups[j->ngroups++] = (struct prism_target_group){r->et.name, r->ct.group};
		for (size_t z = 0; z < r->et.nzones; z++)
			j->pairs[j->n++] =
				(struct prism_target_zone){r->et.name, r->et.zones[z].name};
	}
	j->d = d;
	j->job.run = tz_run;
	j->job.done = tz_done;
	prism_store_writer_submit(d->writer, &j->job);
	return 0;
}

/* ---- targets added at run time (POST /api/v1/targets, docs/api.md) ---- */

/* "a\nb" into {"a", "b", NULL}; NULL stays NULL. */
static int split_zones(const char *text, char ***out)
{
	size_t n = 1;
	*out = NULL;
	if (text == NULL)
		return 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	char **v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return PRISM_ENOMEM;
	const char *p = text;
	for (size_t i = 0; i < n; i++) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if ((v[i] = strndup(p, len)) == NULL) {
			prism_strv_free(v);
			return PRISM_ENOMEM;
		}
		p += len + (nl != NULL);
	}
	*out = v;
	return 0;
}

static void rt_free(struct rt_target *r)
{
	if (r == NULL)
		return;
	prism_strv_free(r->zones);
	free(r->ezones);
	prism_runtime_target_clear(&r->spec);
	free(r);
}

static struct rt_target *rt_new(const struct prism_runtime_target *t)
{
	struct rt_target *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (prism_runtime_target_copy(t, &r->spec) != 0 ||
	    split_zones(r->spec.zones, &r->zones) != 0) {
		rt_free(r);
		return NULL;
	}
	r->ct = (struct prism_config_target){
		.name = r->spec.name,
		.type = "powerdns",
		.api_url = r->spec.api_url,
		.api_key = r->spec.api_key,
		.api_key_file = r->spec.api_key_file,
		.server_id = r->spec.server_id,
		.dns_address = r->spec.dns_address,
		.zones = r->zones,
		.group = r->spec.group,
	};
	return r;
}

/* Whether @p path names a file inside api.target_key_dir (symbolic links resolved). */
static bool in_key_dir(const char *dir, const char *path)
{
	char *d = realpath(dir, NULL), *p = realpath(path, NULL);
	size_t n = d ? strlen(d) : 0;
	bool in = d && p && strncmp(p, d, n) == 0 && (p[n] == '/' || (n == 1 && d[0] == '/'));
	free(d);
	free(p);
	return in;
}

/*
 * A run-time target's api_key_file: its key is sent to the api_url the caller chose, so
 * only files of api.target_key_dir may be named (not the TSIG secret, the Kea password, …),
 * and the refusal does not tell whether a file exists elsewhere.
 */
static int key_file_check(const struct daemon *d, const char *path, char *err, size_t len)
{
	const char *dir = d->cfg->api_target_key_dir;
	if (dir == NULL) {
		snprintf(err, len,
			 "api_key_file: not taken through the API unless api.target_key_dir "
			 "names the directory of target keys (or give api_key)");
		return PRISM_EINVAL;
	}
	char why[400];
	char *key = in_key_dir(dir, path) ? prism_secret_read(path, why, sizeof(why)) : NULL;
	if (key == NULL) {
		snprintf(err, len, "api_key_file: %s is not a readable key file in %s", path, dir);
		return PRISM_EINVAL;
	}
	explicit_bzero(key, strlen(key));
	free(key);
	return 0;
}

/*
 * Whether @p t can be started: the checks of the configuration's targets (against the zones
 * prismd started with: zones are restart-only), then what only the API's targets get: a key
 * without line breaks (it goes into a header) and a key file of api.target_key_dir.
 */
static int rt_check(void *arg, const struct prism_runtime_target *t, char *err, size_t len)
{
	struct daemon *d = arg;
	char **zones;
	if (split_zones(t->zones, &zones) != 0)
		return PRISM_ENOMEM;
	struct prism_config_target ct = {
		.name = t->name,
		.type = "powerdns",
		.api_url = t->api_url,
		.api_key = t->api_key,
		.api_key_file = t->api_key_file,
		.dns_address = t->dns_address,
		.zones = zones,
	};
	int rc = prism_config_target_check(d->started, &ct, NULL, err, len);
	prism_strv_free(zones);
	if (rc != 0)
		return PRISM_EINVAL;
	if (t->api_key != NULL && (t->api_key[0] == '\0' || strpbrk(t->api_key, "\r\n"))) {
		snprintf(err, len, "api_key: must not be empty or hold a line break");
		return PRISM_EINVAL;
	}
	if (t->api_key_file != NULL && key_file_check(d, t->api_key_file, err, len) != 0)
		return PRISM_EINVAL;
	return 0;
}

/* Open @p r's target and hand it to the engine, the health checks and the metrics. */
static int rt_run(struct daemon *d, struct rt_target *r)
{
	r->et.api = prism_target_find("powerdns");
	int rc = open_target(d, &r->ct, r->et.api, &r->handle);
	if (rc != 0)
		return rc;
	if ((rc = target_zones(d, &r->ct, &r->ezones, &r->et.nzones)) != 0)
		return rc;
	r->et.zones = r->ezones;
	r->et.name = r->spec.name;
	r->et.handle = r->handle;
	r->et.dns_address = r->spec.dns_address;
	r->et.api_url = r->spec.api_url;
	if ((rc = prism_engine_add_target(d->engine, &r->et)) != 0)
		return rc;
	r->running = true;
	if (prism_health_add(d->health, &r->et, r->spec.dns_address) != 0)
		prism_log(PRISM_LOG_WARNING, TAG, "target %s: no health checks (out of memory)",
			  r->spec.name);
	prism_api_observe_target(d->api, &r->et, true);
	return 0;
}

static struct rt_target *rt_find(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nrt; i++)
		if (d->rt[i]->running && strcmp(d->rt[i]->spec.name, name) == 0)
			return d->rt[i];
	return NULL;
}

/* Kept in the registry (running, or not started for a fault), not removed. */
static struct rt_target *rt_kept(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nrt; i++)
		if (!d->rt[i]->removed && strcmp(d->rt[i]->spec.name, name) == 0)
			return d->rt[i];
	return NULL;
}

static const struct prism_runtime_target *rt_find_spec(void *arg, const char *name)
{
	struct rt_target *r = rt_kept(arg, name);
	return r ? &r->spec : NULL;
}

static const char *rt_group(void *arg, const char *target)
{
	struct daemon *d = arg;
	for (size_t t = 0; t < d->ntargets; t++)
		if (strcmp(d->cfg->targets[t]->name, target) == 0)
			return d->cfg->targets[t]->group;
	struct rt_target *r = rt_find(d, target);
	return r ? r->spec.group : NULL;
}

/* Stop @p r for good: the engine and health checks keep its memory until exit. */
static void rt_stop(struct daemon *d, struct rt_target *r)
{
	r->removed = true;
	if (!r->running)
		return;
	prism_api_observe_target(d->api, &r->et, false);
	prism_health_remove(d->health, r->spec.name);
	prism_engine_remove_target(d->engine, r->spec.name);
	r->running = false;
}

static int rt_remove(void *arg, const char *name)
{
	struct daemon *d = arg;
	struct rt_target *r = rt_kept(d, name);
	if (r == NULL)
		return PRISM_ENOTFOUND;
	rt_stop(d, r);
	prism_log(PRISM_LOG_INFO, TAG,
		  "target %s removed (its ledger rows go; records on the "
		  "server stay)",
		  name);
	ha_claims_update(d);
	return sync_target_zones(d);
}

static int rt_keep(struct daemon *d, struct rt_target *r)
{
	struct rt_target **g = realloc(d->rt, (d->nrt + 1) * sizeof(*g));
	if (g == NULL)
		return PRISM_ENOMEM;
	d->rt = g;
	d->rt[d->nrt++] = r;
	return 0;
}

static int rt_start(void *arg, const struct prism_runtime_target *t, bool replace, char *err,
		    size_t len)
{
	struct daemon *d = arg;
	struct rt_target *r = rt_new(t);
	if (r == NULL || rt_keep(d, r) != 0) {
		rt_free(r);
		snprintf(err, len, "out of memory");
		return PRISM_ENOMEM;
	}
	struct rt_target *old = replace ? rt_kept(d, t->name) : NULL;
	if (old != NULL)
		rt_stop(d, old);
	int rc = rt_run(d, r);
	if (rc != 0) {
		snprintf(err, len, "cannot start the target (%s)", prism_strerror(rc));
		return rc;
	}
	prism_log(PRISM_LOG_INFO, TAG, "target %s %s at run time: %s, %zu zone(s)", t->name,
		  old ? "changed" : "added", t->api_url, r->et.nzones);
	ha_claims_update(d);
	return sync_target_zones(d);
}

static const struct prism_api_target_ops rt_ops_template = {
	.check = rt_check,
	.start = rt_start,
	.remove = rt_remove,
	.find = rt_find_spec,
	.group = rt_group,
};

/* At start: the run-time targets read from the registry, beside the configuration's. */
static void rt_start_all(struct daemon *d)
{
	for (size_t i = 0; i < d->nrt; i++) {
		struct rt_target *r = d->rt[i];
		char err[512];
		bool clash = false;
		for (size_t t = 0; t < d->ntargets; t++)
			clash |= strcmp(d->cfg->targets[t]->name, r->spec.name) == 0;
		if (clash) {
			prism_log(PRISM_LOG_WARNING, TAG,
				  "target %s (added at run time) is also "
				  "in the configuration: the configuration's is used",
				  r->spec.name);
			r->removed = true; /* its registry row stays; DELETE answers 409 */
			continue;
		}
		int rc = rt_check(d, &r->spec, err, sizeof(err));
		if (rc == 0)
			rc = rt_run(d, r);
		else
			prism_log(PRISM_LOG_ERROR, TAG, "target %s (added at run time): %s",
				  r->spec.name, err);
		if (rc != 0)
			prism_log(PRISM_LOG_ERROR, TAG,
				  "target %s (added at run time) is not "
				  "started; DELETE /api/v1/targets/%s forgets it",
				  r->spec.name, r->spec.name);
	}
}

/* Before the writer starts: the registry's run-time targets into d->rt. */
static int rt_load(struct daemon *d)
{
	struct prism_runtime_target *t;
	size_t n;
	if (store_api->runtime_targets == NULL)
		return 0; /* a backend without run-time targets (yet) */
	int rc = store_api->runtime_targets(d->store, &t, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct rt_target *r = rt_new(&t[i]);
		rc = r ? rt_keep(d, r) : PRISM_ENOMEM;
		if (rc != 0)
			rt_free(r);
	}
	prism_runtime_targets_free(t, n);
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, "store",
			  "cannot read the targets added at run "
			  "time (%s)",
			  prism_strerror(rc));
	return rc;
}

/* At exit, after the engine stopped: close every run-time target's handle. */
static void rt_close_all(struct daemon *d)
{
	for (size_t i = 0; i < d->nrt; i++) {
		struct rt_target *r = d->rt[i];
		if (r->handle != NULL)
			r->et.api->close(r->handle);
		r->handle = NULL;
	}
}

/* After the loop ended: the memory. */
static void rt_free_all(struct daemon *d)
{
	for (size_t i = 0; i < d->nrt; i++)
		rt_free(d->rt[i]);
	free(d->rt);
	d->rt = NULL;
	d->nrt = 0;
}

static int start_dns(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	size_t n = 0;
	while (cfg->targets[n] != NULL)
		n++;
	d->ezones = calloc(d->nzones, sizeof(*d->ezones));
	d->targets = calloc(n ? n : 1, sizeof(*d->targets));
	d->etargets = calloc(n ? n : 1, sizeof(*d->etargets));
	if (d->ezones == NULL || d->targets == NULL || d->etargets == NULL)
		return PRISM_ENOMEM;
	for (size_t z = 0; z < d->nzones; z++)
		d->ezones[z] = (struct prism_engine_zone){
			cfg->zones[z]->name, (const char *const *)cfg->zones[z]->nameservers,
			cfg->zones[z]->soa, cfg->zones[z]->kind, cfg->zones[z]->dnssec};
	for (size_t t = 0; t < n; t++) {
		const struct prism_config_target *ct = cfg->targets[t];
		struct prism_engine_target *et = &d->etargets[t];
		et->api = prism_target_find(ct->type);
		if (et->api == NULL)
			return PRISM_ECONFIG; /* the configuration's check refuses other types */
		int rc = open_target(d, ct, et->api, &d->targets[t]);
		if (rc != 0)
			return rc;
		d->ntargets++;
		struct prism_engine_zone *zones;
		if ((rc = target_zones(d, ct, &zones, &et->nzones)) != 0)
			return rc;
		et->zones = zones;
		et->name = ct->name;
		et->handle = d->targets[t];
		et->paused = ct->paused;
		et->adopt = ct->adopt;
		et->max_body = ct->max_body_bytes;
		et->dns_address = ct->dns_address;
		et->api_url = ct->api_url;
	}
	struct prism_engine_opts eopts = {
		.targets = d->etargets,
		.ntargets = n,
		.retry_delay = cfg->powerdns_retry_delay,
		.retry_max = cfg->sync_retry_max,
		.coalesce_ms = cfg->sync_coalesce_ms,
		.batch_max = cfg->sync_batch_max,
		.reconcile_interval = cfg->sync_reconcile_interval,
		.may_work = d->ha_on ? ha_may_target : NULL,
		.may_work_arg = d,
	};
	int rc = prism_engine_new(&d->loop, d->writer, &eopts, &d->engine);
	if (rc != 0) {
		prism_log(PRISM_LOG_CRITICAL, TAG, "cannot start the sync engine (%s)",
			  prism_strerror(rc));
		return rc;
	}
	if ((d->dns_addresses = calloc(n ? n : 1, sizeof(*d->dns_addresses))) == NULL)
		return PRISM_ENOMEM;
	for (size_t t = 0; t < n; t++)
		d->dns_addresses[t] = cfg->targets[t]->dns_address;
	struct prism_health_opts hopts = {
		.targets = d->etargets,
		.ntargets = n,
		.dns_addresses = d->dns_addresses,
		.engine = d->engine,
		.interval = cfg->sync_health_interval,
		.response_time_ms = cfg->health_response_time_ms,
	};
	if ((rc = prism_health_start(&d->loop, &hopts, &d->health)) != 0)
		return rc;
	rt_start_all(d);
	return sync_target_zones(d);
}

/* Agent tokens from the config: hashed at once, clear text never kept. */
/* The SHA-256 of a credential's secret, given inline or in a file; the clear text read
 * from a file is wiped. @p what names the list in the log ("auth.tokens"). */
static int hash_cred(const struct prism_cred_key *key, const struct prism_config_cred *c,
		     const char *what, char hash[PRISM_TOKEN_HASH_LEN + 1])
{
	char err[512];
	char *secret = c->secret;
	if (c->secret_file != NULL) {
		secret = prism_secret_read(c->secret_file, err, sizeof(err));
		if (secret == NULL) {
			prism_log(PRISM_LOG_CRITICAL, TAG, "%s '%s': %s", what, c->name, err);
			return PRISM_ECONFIG;
		}
	}
	int rc = prism_cred_hash(key, secret, strlen(secret), hash);
	if (secret != c->secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	return rc;
}

/* One configured token's secrets into the set: its inline token, or every line of its
 * token file (the current token first: it owns the name's hosts; a previous one after it
 * stays valid during a rotation). */
static int add_token(const struct prism_cred_key *key, const struct prism_config_cred *c,
		     struct prism_token_set *set)
{
	char err[512], hash[PRISM_TOKEN_HASH_LEN + 1];
	size_t n = 1;
	char *inline_secret[1] = {c->secret};
	char **lines = c->secret_file ? prism_secret_lines(c->secret_file, &n, err, sizeof(err))
				      : inline_secret;
	if (lines == NULL) {
		prism_log(PRISM_LOG_CRITICAL, TAG, "auth.tokens '%s': %s", c->name, err);
		return PRISM_ECONFIG;
	}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = prism_cred_hash(key, lines[i], strlen(lines[i]), hash);
		if (rc == 0)
			rc = prism_token_set_add(set, hash, c->name);
		/* a line repeated (a first rotation renders the same secret twice) */
		if (rc == PRISM_ECONFLICT && i > 0 &&
		    strcmp(prism_token_set_find(set, hash), c->name) == 0)
			rc = 0;
	}
	if (lines != inline_secret)
		prism_secret_lines_free(lines, n);
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, TAG, "auth.tokens '%s': %s", c->name,
			  rc == PRISM_ECONFLICT ? "the same token is listed twice"
						: prism_strerror(rc));
	return rc == 0 ? 0 : PRISM_ECONFIG;
}

static int build_tokens(const struct prism_cred_key *key, const struct prism_config *cfg,
			struct prism_token_set **out)
{
	struct prism_token_set *set = prism_token_set_new();
	*out = set;
	if (set == NULL)
		return PRISM_ENOMEM;
	for (struct prism_config_cred **c = cfg->auth_tokens; c && *c; c++)
		if (add_token(key, *c, set) != 0)
			return PRISM_ECONFIG;
	return 0;
}

/* Names no source may claim: the apex, ns/nsN, the operator's list, the zones' name
 * servers (core/reserved.h). */
static int build_reserved(const struct prism_config *cfg, struct prism_reserved **out)
{
	return prism_reserved_new((const char *const *)cfg->auth_reserved_names,
				  (const struct prism_config_zone *const *)cfg->zones, out);
}

static struct prism_liveness_opts liveness_opts(struct daemon *d, const struct prism_config *cfg)
{
	return (struct prism_liveness_opts){
		.check_interval = cfg->heartbeat_check_interval,
		.remove_dns = strcmp(cfg->heartbeat_offline_dns, "remove") == 0,
		.cleanup_after_days = cfg->heartbeat_cleanup_after_days,
		.changed_cb = changed_cb,
		.changed_arg = d,
		.may_run = d->ha_on ? ha_may_liveness : NULL,
	};
}

static int start_liveness(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	struct prism_liveness_opts lopts = {
		.check_interval = cfg->heartbeat_check_interval,
		.remove_dns = strcmp(cfg->heartbeat_offline_dns, "remove") == 0,
		.cleanup_after_days = cfg->heartbeat_cleanup_after_days,
		.changed_cb = changed_cb,
		.changed_arg = d,
		.may_run = d->ha_on ? ha_may_liveness : NULL,
	};
	int rc = prism_liveness_start(&d->loop, d->writer, &lopts, &d->liveness);
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, TAG, "cannot start the heartbeat monitor (%s)",
			  prism_strerror(rc));
	return rc;
}

/* The TLS agent port's files and client certificate mode from a config. */
static struct prism_agent_tls_opts agent_tls_opts(const struct prism_config *cfg)
{
	const char *m = cfg->server_tls_client_cert;
	return (struct prism_agent_tls_opts){
		.cert = cfg->server_tls_cert,
		.key = cfg->server_tls_key,
		.client_ca = cfg->server_tls_client_ca,
		.crl = cfg->server_tls_client_crl,
		.client_cert = strcmp(m, "required") == 0   ? PRISM_TLS_CLIENT_REQUIRED
			       : strcmp(m, "optional") == 0 ? PRISM_TLS_CLIENT_OPTIONAL
							    : PRISM_TLS_CLIENT_NONE,
	};
}

/* SIGHUP: read the TLS files again; a bad one is refused and the context in use kept. */
static void reload_agent_tls(struct daemon *d, const struct prism_config *n)
{
	char err[512] = "";
	if (d->agent_tls == NULL)
		return; /* tls_port is restart-only: its warning is logged with the others */
	if (n->server_tls_cert == NULL || n->server_tls_key == NULL) {
		prism_log(PRISM_LOG_ERROR, TAG,
			  "reload: TLS agent port: no server.tls_cert or "
			  "server.tls_key; the certificate in use is kept");
		return;
	}
	struct prism_agent_tls_opts to = agent_tls_opts(n);
	if (prism_agent_tls_reload(d->agent_tls, &to, err, sizeof(err)) != 0)
		prism_log(PRISM_LOG_ERROR, TAG,
			  "reload: TLS agent port: %s; the certificate, key "
			  "and CRL in use are kept",
			  err);
	else
		prism_log(PRISM_LOG_INFO, TAG,
			  "reload: TLS agent port: certificate %s, key %s%s%s "
			  "loaded; open connections keep theirs",
			  n->server_tls_cert, n->server_tls_key,
			  n->server_tls_client_crl ? ", CRL " : "",
			  n->server_tls_client_crl ? n->server_tls_client_crl : "");
}

static int start_agent(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	int rc = build_tokens(&d->cred_key, cfg, &d->tokens);
	if (rc != 0)
		return rc;
	size_t nhosts = 0;
	while (cfg->server_host[nhosts] != NULL)
		nhosts++;
	char err[512] = "";
	if (cfg->server_tls_port != 0) {
		struct prism_agent_tls_opts to = agent_tls_opts(cfg);
		rc = prism_agent_tls_new(&to, &d->agent_tls, err, sizeof(err));
		if (rc != 0) {
			prism_log(PRISM_LOG_CRITICAL, TAG, "TLS agent port: %s", err);
			return rc;
		}
	}
	struct prism_agent_server_opts aopts = {
		.hosts = (const char *const *)cfg->server_host,
		.nhosts = nhosts,
		.port = cfg->server_tcp_port,
		.tls_port = cfg->server_tls_port,
		.tls = d->agent_tls,
		.max_connections = cfg->server_max_connections,
		.idle_timeout = cfg->server_idle_timeout,
		.frame_timeout = cfg->server_frame_timeout,
		.offline_after = prism_config_offline_after(cfg),
		.auth_required = cfg->auth_required,
		.auth_failure_delay_ms = cfg->auth_failure_delay_ms,
		.tokens = d->tokens,
		.cred_key = &d->cred_key,
		.reserved = d->reserved,
		.writer = d->writer,
		.dns = prism_agent_dns_dest(cfg, d->zone_names),
		.changed_cb = changed_cb,
		.changed_arg = d,
	};
	rc = prism_agent_server_start(&d->loop, &aopts, &d->agent, err, sizeof(err));
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, TAG, "%s", err);
	else if (!cfg->auth_required)
		prism_log(PRISM_LOG_WARNING, TAG,
			  "auth.required is false: agents without a "
			  "token are accepted");
	return rc;
}

/* API keys from the config: hashed at once like the agent tokens, clear text never kept. */
static int hash_api_keys(const struct prism_cred_key *key, const struct prism_config *cfg,
			 struct prism_api_key *keys, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct prism_config_cred *c = cfg->api_keys[i];
		keys[i].name = c->name;
		keys[i].role = prism_api_role_parse(c->role);
		int rc = hash_cred(key, c, "api.keys", keys[i].hash);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int start_api(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	size_t n = 0;
	while (cfg->api_keys != NULL && cfg->api_keys[n] != NULL)
		n++;
	struct prism_api_key *keys = calloc(n ? n : 1, sizeof(*keys));
	if (keys == NULL)
		return PRISM_ENOMEM;
	int rc = hash_api_keys(&d->cred_key, cfg, keys, n);
	if (rc == 0) {
		struct prism_api_opts aopts = {
			.cfg = cfg,
			.store = store_api,
			.store_url = d->db_url,
			.keys = keys,
			.cred_key = &d->cred_key,
			.nkeys = n,
			.writer = d->writer,
			.engine = d->engine,
			.health = d->health,
			.agent = d->agent,
			.liveness = d->liveness,
			.ncr = d->ncr,
			.kea_pg = d->kea_pg,
			.ha = d->ha,
			.kea_leases = d->kea_leases,
			.target_ops = d->engine ? &d->rt_ops : NULL,
		};
		d->rt_ops = rt_ops_template;
		d->rt_ops.arg = d;
		char err[512] = "";
		rc = prism_api_start(&d->loop, &aopts, &d->api, err, sizeof(err));
		if (rc != 0)
			prism_log(PRISM_LOG_CRITICAL, "api", "%s", err);
		else
			prism_log(PRISM_LOG_INFO, "api", "REST API on port %u (%s)",
				  cfg->server_api_port, cfg->api_tls_cert ? "HTTPS" : "HTTP");
		if (rc == 0 && n == 0)
			prism_log(
				PRISM_LOG_WARNING, "api",
				"api.keys is empty: only the public "
				"routes answer, every other one is 401 until an admin key is set");
	}
	explicit_bzero(keys, n * sizeof(*keys));
	free(keys);
	return rc;
}

/* ---- SIGHUP: reload what can change without a restart ---- */

/* Log every changed option that only a restart applies (the table's reload column). */
static void warn_restart_needed(const struct prism_config *o, const struct prism_config *n)
{
	size_t count = 0;
	const struct prism_config_opt_info *info = prism_config_options(&count);
	for (size_t i = 0; i < count; i++)
		if (!info[i].reload && !prism_config_option_same(o, n, i))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "reload: %s changed: it takes effect "
				  "at the next restart",
				  info[i].key);
	size_t nt = 0, ot = 0, nz = 0, oz = 0;
	while (n->targets[nt] != NULL)
		nt++;
	while (o->targets[ot] != NULL)
		ot++;
	while (n->zones[nz] != NULL)
		nz++;
	while (o->zones[oz] != NULL)
		oz++;
	bool same = nt == ot && nz == oz;
	for (size_t i = 0; same && i < nt; i++)
		same = strcmp(n->targets[i]->name, o->targets[i]->name) == 0 &&
		       strcmp(n->targets[i]->api_url ? n->targets[i]->api_url : "",
			      o->targets[i]->api_url ? o->targets[i]->api_url : "") == 0 &&
		       strcmp(n->targets[i]->server ? n->targets[i]->server : "",
			      o->targets[i]->server ? o->targets[i]->server : "") == 0 &&
		       n->targets[i]->rate_limit_qps == o->targets[i]->rate_limit_qps &&
		       n->targets[i]->breaker_threshold == o->targets[i]->breaker_threshold &&
		       n->targets[i]->breaker_recovery_seconds ==
			       o->targets[i]->breaker_recovery_seconds;
	for (size_t i = 0; same && i < nz; i++)
		same = strcmp(n->zones[i]->name, o->zones[i]->name) == 0 &&
		       strcmp(n->zones[i]->kind, o->zones[i]->kind) == 0 &&
		       n->zones[i]->dnssec == o->zones[i]->dnssec;
	if (!same)
		prism_log(PRISM_LOG_WARNING, TAG,
			  "reload: targets or zones changed: they take "
			  "effect at the next restart");
}

static int hash_api_keys(const struct prism_cred_key *key, const struct prism_config *cfg,
			 struct prism_api_key *keys, size_t n);

/*
 * Secrets read again on SIGHUP besides tokens and API keys (a Vault Agent renders them to
 * their files): each running target's PowerDNS API key from the new config (api_key or
 * api_key_file, for the target of the same name), and the Kea database password from the
 * password_file named at start (the connection options are restart-only).
 */
struct secrets {
	char **target_keys; /* per running target; NULL: no longer configured */
	char **kea_keys, **kea_vals;
};

static void secrets_free(struct daemon *d, struct secrets *s)
{
	for (size_t i = 0; s->target_keys != NULL && i < d->ntargets; i++)
		if (s->target_keys[i] != NULL) {
			explicit_bzero(s->target_keys[i], strlen(s->target_keys[i]));
			free(s->target_keys[i]);
		}
	free(s->target_keys);
	if (s->kea_keys != NULL)
		prism_kea_pg_params_free(s->kea_keys, s->kea_vals);
}

static int target_key(const struct prism_config_target *ct, char **out)
{
	char err[512];
	/* PowerDNS: the API key; RFC 2136: the TSIG secret (NULL for an unsigned target) */
	const char *file = ct->api_key_file ? ct->api_key_file : ct->tsig.secret_file;
	const char *inline_ = ct->api_key ? ct->api_key : ct->tsig.secret;
	*out = NULL;
	if (file == NULL && inline_ == NULL)
		return 0;
	*out = file ? prism_secret_read(file, err, sizeof(err)) : strdup(inline_);
	if (*out != NULL)
		return 0;
	if (file != NULL)
		prism_log(PRISM_LOG_ERROR, TAG, "target %s: %s: %s", ct->name,
			  ct->api_key_file ? "api_key_file" : "tsig.secret_file", err);
	return PRISM_ECONFIG;
}

static int secrets_read(struct daemon *d, const struct prism_config *n, struct secrets *s)
{
	*s = (struct secrets){0};
	s->target_keys = calloc(d->ntargets ? d->ntargets : 1, sizeof(*s->target_keys));
	if (s->target_keys == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < d->ntargets; i++)
		for (size_t t = 0; n->targets[t] != NULL; t++)
			if (strcmp(n->targets[t]->name, d->etargets[i].name) == 0 &&
			    target_key(n->targets[t], &s->target_keys[i]) != 0)
				return PRISM_ECONFIG;
	if (d->kea_pg == NULL || d->started->kea_reservations_password_file == NULL)
		return 0;
	char err[512];
	int rc = prism_kea_pg_params(d->started, "prismd", &s->kea_keys, &s->kea_vals, err,
				     sizeof(err));
	if (rc != 0)
		prism_log(PRISM_LOG_ERROR, "kea-reservations", "%s", err);
	return rc;
}

/* A target with a new API key: its failed rows due now (they may have failed for the old
 * key, with the long backoff of a 401), then the engine tries again at once. */
struct retry_job {
	struct prism_store_job job;
	struct daemon *d;
	const char *target; /* the engine target's name: lives as long as prismd */
	size_t n;
};

static int retry_run(struct prism_store *s, const struct prism_store_api *api,
		     struct prism_store_job *job)
{
	struct retry_job *j = (struct retry_job *)job;
	return api->ledger_retry(s, j->target, (int64_t)time(NULL), &j->n);
}

static void retry_done(struct prism_store_job *job, int err)
{
	struct retry_job *j = (struct retry_job *)job;
	if (err != -ECANCELED) {
		prism_engine_credentials_changed(j->d->engine, j->target);
		prism_engine_wake(j->d->engine);
	}
	free(j);
}

static void retry_target(struct daemon *d, const char *target)
{
	struct retry_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		prism_engine_credentials_changed(d->engine, target);
		return;
	}
	j->d = d;
	j->target = target;
	j->job.run = retry_run;
	j->job.done = retry_done;
	prism_store_writer_submit(d->writer, &j->job);
}

/* SIGHUP: the run-time targets' api_key_file read again (a key kept in the registry is
 * changed with PATCH). A file that cannot be read keeps the key in use. */
static void rt_reload_keys(struct daemon *d)
{
	char err[512];
	for (size_t i = 0; i < d->nrt; i++) {
		struct rt_target *r = d->rt[i];
		bool changed = false;
		if (!r->running || r->spec.api_key_file == NULL || r->et.api->set_api_key == NULL)
			continue;
		char *key = prism_secret_read(r->spec.api_key_file, err, sizeof(err));
		int rc = key ? r->et.api->set_api_key(r->handle, key, &changed) : PRISM_ECONFIG;
		if (key == NULL)
			prism_log(PRISM_LOG_ERROR, TAG,
				  "reload: target %s keeps its API key "
				  "(api_key_file: %s)",
				  r->spec.name, err);
		else if (rc != 0)
			prism_log(PRISM_LOG_ERROR, TAG, "reload: target %s keeps its API key (%s)",
				  r->spec.name, prism_strerror(rc));
		else if (changed) {
			prism_log(PRISM_LOG_INFO, TAG, "reload: target %s: new API key",
				  r->spec.name);
			retry_target(d, r->spec.name);
		}
		if (key != NULL) {
			explicit_bzero(key, strlen(key));
			free(key);
		}
	}
}

static void secrets_apply(struct daemon *d, const struct secrets *s)
{
	for (size_t i = 0; i < d->ntargets; i++) {
		bool changed = false;
		const struct prism_target_api *api = d->etargets[i].api;
		if (s->target_keys[i] == NULL || api->set_api_key == NULL)
			continue;
		int rc = api->set_api_key(d->targets[i], s->target_keys[i], &changed);
		if (rc != 0)
			prism_log(PRISM_LOG_ERROR, TAG, "reload: target %s keeps its API key (%s)",
				  d->etargets[i].name, prism_strerror(rc));
		else if (changed) {
			prism_log(PRISM_LOG_INFO, TAG, "reload: target %s: new API key",
				  d->etargets[i].name);
			retry_target(d, d->etargets[i].name);
		}
	}
	rt_reload_keys(d);
	if (s->kea_keys != NULL &&
	    prism_kea_pg_set_params(d->kea_pg, (const char *const *)s->kea_keys,
				    (const char *const *)s->kea_vals) != 0)
		prism_log(PRISM_LOG_ERROR, "kea-reservations",
			  "reload: the database password "
			  "was not replaced (out of memory)");
}

/* Configured tokens rotated by a reload keep the hosts bound to them (store token_rebind):
 * the job runs before any registration submitted after the reload (the writer is FIFO). */
struct rebind_job {
	struct prism_store_job job;
	struct prism_token_rotation *rot;
	size_t n;
	size_t *hosts;
};

static int rebind_run(struct prism_store *s, const struct prism_store_api *api,
		      struct prism_store_job *job)
{
	struct rebind_job *j = (struct rebind_job *)job;
	for (size_t i = 0; i < j->n; i++) {
		int rc =
			api->token_rebind(s, j->rot[i].old_hash, j->rot[i].new_hash, &j->hosts[i]);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void rebind_done(struct prism_store_job *job, int err)
{
	struct rebind_job *j = (struct rebind_job *)job;
	for (size_t i = 0; i < j->n; i++)
		if (err == 0)
			prism_log(PRISM_LOG_INFO, TAG,
				  "auth.tokens '%s': new secret, %zu host(s) "
				  "bound to it keep their names",
				  j->rot[i].name, j->hosts[i]);
	if (err != 0 && err != -ECANCELED)
		prism_log(PRISM_LOG_ERROR, TAG,
			  "the hosts of rotated tokens could not be moved "
			  "to the new ones (%s): release them (prism hosts release)",
			  prism_strerror(err));
	explicit_bzero(j->rot, j->n * sizeof(*j->rot));
	free(j->rot);
	free(j->hosts);
	free(j);
}

static void rebind_tokens(struct daemon *d, const struct prism_token_set *before,
			  const struct prism_token_set *after)
{
	struct rebind_job *j = calloc(1, sizeof(*j));
	if (j == NULL || prism_token_set_rotations(before, after, &j->rot, &j->n) != 0 ||
	    j->n == 0 || (j->hosts = calloc(j->n, sizeof(*j->hosts))) == NULL) {
		if (j != NULL && j->n > 0)
			prism_log(PRISM_LOG_ERROR, TAG, "rotated tokens: out of memory");
		if (j != NULL)
			free(j->rot);
		free(j);
		return;
	}
	j->job.run = rebind_run;
	j->job.done = rebind_done;
	prism_store_writer_submit(d->writer, &j->job);
}

/* Everything that can fail first (files, hashes), then apply: all or nothing. */
static void reload(struct daemon *d)
{
	char err[768];
	struct prism_config *n = prism_config_load_file(d->config_path, err, sizeof(err));
	if (n == NULL) {
		prism_log(PRISM_LOG_ERROR, TAG,
			  "reload refused, the running configuration "
			  "stays: %s",
			  err);
		return;
	}
	struct prism_token_set *tokens = NULL;
	struct prism_reserved *reserved = NULL;
	size_t nkeys = 0;
	while (n->api_keys != NULL && n->api_keys[nkeys] != NULL)
		nkeys++;
	struct prism_api_key *keys = calloc(nkeys ? nkeys : 1, sizeof(*keys));
	struct prism_config **retired = realloc(d->retired, (d->nretired + 1) * sizeof(*retired));
	struct secrets sec = {0};
	if (retired != NULL)
		d->retired = retired;
	if (retired == NULL || keys == NULL || build_tokens(&d->cred_key, n, &tokens) != 0 ||
	    build_reserved(n, &reserved) != 0 ||
	    hash_api_keys(&d->cred_key, n, keys, nkeys) != 0 || secrets_read(d, n, &sec) != 0 ||
	    prism_log_init(prism_log_level_parse(n->logging_level), n->logging_file) != 0) {
		prism_log(PRISM_LOG_ERROR, TAG,
			  "reload refused (see above), the running "
			  "configuration stays");
		prism_token_set_free(tokens);
		prism_reserved_free(reserved);
		free(keys);
		secrets_free(d, &sec);
		prism_config_free(n);
		return;
	}
	secrets_apply(d, &sec);
	secrets_free(d, &sec);
	warn_restart_needed(d->cfg, n);
	struct prism_agent_server_opts ao = {
		.max_connections = n->server_max_connections,
		.idle_timeout = n->server_idle_timeout,
		.frame_timeout = n->server_frame_timeout,
		.offline_after = prism_config_offline_after(n),
		.auth_required = n->auth_required,
		.auth_failure_delay_ms = n->auth_failure_delay_ms,
		.tokens = tokens,
		.reserved = d->reserved,
	};
	rebind_tokens(d, d->tokens, tokens);
	/* the agent server and the Kea sources hold d->reserved: it takes the new names */
	prism_reserved_swap(d->reserved, reserved);
	prism_reserved_free(reserved);
	prism_agent_server_reload(d->agent, &ao);
	reload_agent_tls(d, n);
	prism_token_set_free(d->tokens);
	d->tokens = tokens;
	struct prism_liveness_opts lo = liveness_opts(d, n);
	prism_liveness_reload(d->liveness, &lo);
	struct prism_engine_opts eo = {
		.retry_delay = n->powerdns_retry_delay,
		.retry_max = n->sync_retry_max,
		.coalesce_ms = n->sync_coalesce_ms,
		.batch_max = n->sync_batch_max,
		.reconcile_interval = n->sync_reconcile_interval,
	};
	prism_engine_reload(d->engine, &eo);
	if (d->api != NULL && prism_api_set_keys(d->api, keys, nkeys) != 0)
		prism_log(PRISM_LOG_ERROR, TAG, "reload: api.keys kept (out of memory)");
	explicit_bzero(keys, nkeys * sizeof(*keys));
	free(keys);
	/* modules may still point into the old config (names, zones): it lives until exit */
	d->retired[d->nretired++] = n;
	d->cfg = n;
	prism_log(PRISM_LOG_INFO, TAG,
		  "configuration reloaded from %s: %zu agent token(s), "
		  "%zu API key(s)",
		  d->config_path ? d->config_path : "the environment",
		  prism_token_set_count(tokens), nkeys);
}

static void sighup_cb(uv_signal_t *h, int signum)
{
	reload(h->data);
}

/* Every managed zone's name, NULL-terminated (d->zone_names), for PTRs and Kea names. */
static int build_zone_names(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	for (d->nzones = 0; cfg->zones[d->nzones] != NULL; d->nzones++)
		;
	d->zone_names = calloc(d->nzones + 1, sizeof(*d->zone_names));
	if (d->zone_names == NULL)
		return PRISM_ENOMEM;
	for (size_t z = 0; z < d->nzones; z++)
		d->zone_names[z] = cfg->zones[z]->name;
	return 0;
}

static struct prism_source_dns source_dns(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	return (struct prism_source_dns){
		.enabled = cfg->targets[0] != NULL,
		.publish_a = prism_config_has_record_type(cfg, "A"),
		.publish_aaaa = prism_config_has_record_type(cfg, "AAAA"),
		.auto_ptr = cfg->powerdns_auto_ptr,
		.zones = d->zone_names,
		.reserved = d->reserved,
	};
}

static void once_synced_cb(void *arg, int err, const struct prism_source_sync_result *r);

static int start_kea_pg(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	char err[512] = "";
	char **keys, **vals;
	int rc = prism_kea_pg_params(cfg, d->once ? "prismd --once" : "prismd", &keys, &vals, err,
				     sizeof(err));
	if (rc != 0) {
		prism_log(PRISM_LOG_CRITICAL, "kea-reservations", "%s", err);
		return rc;
	}
	rc = prism_name_filter_new((const char *const *)cfg->kea_reservations_filter,
				   cfg->kea_reservations_filter_regex, &d->kea_pg_filter);
	if (rc == 0) {
		struct prism_kea_pg_opts o = {
			.keys = (const char *const *)keys,
			.values = (const char *const *)vals,
			.channel = cfg->kea_reservations_channel,
			.zone = cfg->kea_reservations_zone,
			.filter = d->kea_pg_filter,
			.ttl = cfg->kea_reservations_ttl,
			.reconnect_max = cfg->kea_reservations_reconnect_max,
			.resync_interval = cfg->kea_reservations_resync_interval,
			.once = d->once,
			.dns = source_dns(d),
			.writer = d->writer,
			.changed_cb = changed_cb,
			.synced_cb = d->once ? once_synced_cb : NULL,
			.arg = d,
		};
		rc = prism_kea_pg_start(&d->loop, &o, &d->kea_pg);
	}
	prism_kea_pg_params_free(keys, vals);
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, "kea-reservations", "cannot start (%s)",
			  prism_strerror(rc));
	return rc;
}

static int start_kea_leases(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	int rc = prism_name_filter_new((const char *const *)cfg->kea_leases_filter,
				       cfg->kea_leases_filter_regex, &d->kea_leases_filter);
	if (rc == 0) {
		struct prism_kea_leases_opts o = {
			.path = cfg->kea_leases_file,
			.zone = cfg->kea_leases_zone,
			.filter = d->kea_leases_filter,
			.ttl = cfg->kea_leases_ttl,
			.poll_interval = cfg->kea_leases_poll_interval,
			.dns = source_dns(d),
			.writer = d->writer,
			.changed_cb = changed_cb,
			.arg = d,
		};
		rc = prism_kea_leases_start(&d->loop, &o, &d->kea_leases);
	}
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, "kea-leases", "cannot start (%s)",
			  prism_strerror(rc));
	else
		prism_log(PRISM_LOG_INFO, "kea-leases", "following %s", cfg->kea_leases_file);
	return rc;
}

/* The Kea sources that are configured. */
static int start_kea(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	char err[512] = "";
	/* active-active: the follower starts when this instance gets its claim */
	if (cfg->kea_reservations_enabled && !d->ha_on && start_kea_pg(d) != 0)
		return PRISM_ECONFIG;
	if (cfg->kea_leases_file != NULL && start_kea_leases(d) != 0)
		return PRISM_ECONFIG;
	if (cfg->kea_ncr_enabled) {
		struct prism_ncr_server_opts o = {
			.listen = cfg->kea_ncr_listen,
			.ttl_min = cfg->kea_ncr_ttl_min,
			.ttl_max = cfg->kea_ncr_ttl_max,
			.dns = source_dns(d),
			.writer = d->writer,
			.changed_cb = changed_cb,
			.changed_arg = d,
		};
		int rc = prism_ncr_server_start(&d->loop, &o, &d->ncr, err, sizeof(err));
		if (rc != 0) {
			prism_log(PRISM_LOG_CRITICAL, "kea-ddns", "%s", err);
			return rc;
		}
		prism_log(PRISM_LOG_INFO, "kea-ddns", "NameChangeRequests on UDP %s",
			  cfg->kea_ncr_listen);
	}
	return 0;
}

/* ---- prismd --once ---- */

struct once_job {
	struct prism_store_job job;
	struct daemon *d;
	size_t pending, conflict;
};

static void once_finish(struct daemon *d, int code)
{
	d->exit_code = code;
	shutdown_daemon(d);
}

static int once_run(struct prism_store *s, const struct prism_store_api *api,
		    struct prism_store_job *job)
{
	struct once_job *j = (struct once_job *)job;
	return api->source_unsynced(s, PRISM_SOURCE_KEA_RESERVATION, &j->pending, &j->conflict);
}

static void once_timer_cb(uv_timer_t *t);

static void once_done(struct prism_store_job *job, int err)
{
	struct once_job *j = (struct once_job *)job;
	struct daemon *d = j->d;
	size_t pending = j->pending, conflict = j->conflict;
	free(j);
	d->once_checking = false;
	if (err == -ECANCELED || d->writer == NULL)
		return;
	if (err != 0) {
		prism_log(PRISM_LOG_ERROR, TAG, "--once: cannot read the ledger (%s)",
			  prism_strerror(err));
		once_finish(d, 1);
	} else if (pending == 0 && conflict == 0) {
		printf("prismd --once: converged: every reservation's records are on every "
		       "target%s\n",
		       d->once_conflicts ? ", but some names were refused (see the "
					   "log)"
					 : "");
		once_finish(d, d->once_conflicts ? 1 : 0);
	} else if (uv_now(&d->loop) >= d->once_deadline) {
		printf("prismd --once: not converged after %.0f s: %zu record set(s) pending or "
		       "failed, %zu in conflict\n",
		       d->once_timeout, pending, conflict);
		once_finish(d, 1);
	} else {
		uv_timer_start(&d->once_timer, once_timer_cb, 200, 0);
	}
}

static void once_timer_cb(uv_timer_t *t)
{
	struct daemon *d = t->data;
	struct once_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		once_finish(d, 1);
		return;
	}
	j->d = d;
	j->job.run = once_run;
	j->job.done = once_done;
	d->once_checking = true;
	prism_engine_wake(d->engine);
	prism_store_writer_submit(d->writer, &j->job);
}

static void once_synced_cb(void *arg, int err, const struct prism_source_sync_result *r)
{
	struct daemon *d = arg;
	if (err != 0 || r == NULL) {
		printf("prismd --once: the consistency sync failed (%s)\n", prism_strerror(err));
		once_finish(d, 1);
		return;
	}
	printf("prismd --once: %zu added, %zu updated, %zu removed, %zu unchanged, %zu "
	       "conflict(s)\n",
	       r->added, r->updated, r->removed, r->unchanged, r->conflicts);
	d->once_conflicts = r->conflicts;
	if (d->ntargets == 0) {
		once_finish(d, r->conflicts ? 1 : 0);
		return;
	}
	d->once_deadline = uv_now(&d->loop) + (uint64_t)(d->once_timeout * 1000);
	once_timer_cb(&d->once_timer);
}

static int start_once(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	if (!cfg->kea_reservations_enabled) {
		prism_log(PRISM_LOG_CRITICAL, TAG,
			  "--once: kea.reservations.enabled is false: "
			  "nothing to do");
		return PRISM_ECONFIG;
	}
	return start_kea_pg(d);
}

/* The registry: SQLite's file, or PostgreSQL at database.url (or the URL in url_file). Its
 * URL may hold a password: logs name the host and database only. */
static int open_store(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	char err[512] = "";
	bool pg = strcmp(cfg->database_type, "postgresql") == 0;
	store_api = pg ? &prism_store_postgresql : &prism_store_sqlite;
	if (pg && cfg->database_url_file != NULL &&
	    (d->db_url = prism_secret_read(cfg->database_url_file, err, sizeof(err))) == NULL) {
		prism_log(PRISM_LOG_CRITICAL, "store", "database.url_file %s: %s",
			  cfg->database_url_file, err);
		return PRISM_ECONFIG;
	}
	if (pg && d->db_url == NULL && (d->db_url = strdup(cfg->database_url)) == NULL)
		return PRISM_ENOMEM;
	if (pg) {
		char where[200];
		prism_store_pg_describe(d->db_url, where, sizeof(where));
		snprintf(d->db_where, sizeof(d->db_where), "postgresql %s", where);
	} else {
		snprintf(d->db_where, sizeof(d->db_where), "database.path %s", cfg->database_path);
	}
	struct prism_store_opts sopts = {
		.path = cfg->database_path,
		.synchronous_full = strcmp(cfg->database_synchronous, "full") == 0,
		.url = d->db_url,
	};
	int rc = store_api->open(&sopts, &d->store, err, sizeof(err));
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, "store", "%s: %s", d->db_where, err);
	return rc;
}

/* ---- active-active: instances on one PostgreSQL registry (docs/ha.md) ---- */

static bool ha_may_target(void *arg, const char *target)
{
	struct daemon *d = arg;
	char claim[PRISM_HA_CLAIM_MAX];
	if (d->ha == NULL)
		return false; /* not started yet, or stopped at shutdown: nothing is pushed */
	return prism_ha_target_claim(target, claim, sizeof(claim)) == 0 &&
	       prism_ha_holds(d->ha, claim);
}

static bool ha_may_liveness(void *arg)
{
	struct daemon *d = arg;
	return d->ha != NULL && prism_ha_holds(d->ha, PRISM_HA_CLAIM_LIVENESS);
}

static bool ha_busy(void *arg, const char *claim)
{
	struct daemon *d = arg;
	const char *target = prism_ha_claim_target(claim);
	return target != NULL && d->engine != NULL && prism_engine_busy(d->engine, target);
}

static void ha_dirty(void *arg, const char *target)
{
	struct daemon *d = arg;
	(void)target;
	prism_engine_wake(d->engine);
}

/* The Kea reservation follower runs on the instance holding its claim only. */
static void ha_changed(void *arg)
{
	struct daemon *d = arg;
	prism_engine_wake(d->engine);
	if (!d->cfg->kea_reservations_enabled || d->ha == NULL || d->shut)
		return;
	bool mine = prism_ha_holds(d->ha, PRISM_HA_CLAIM_KEA);
	if (mine && d->kea_pg == NULL) {
		if (start_kea_pg(d) == 0)
			prism_api_set_kea_pg(d->api, d->kea_pg);
	} else if (!mine && d->kea_pg != NULL) {
		prism_api_set_kea_pg(d->api, NULL);
		prism_kea_pg_stop(d->kea_pg);
		d->kea_pg = NULL;
		prism_name_filter_free(d->kea_pg_filter);
		d->kea_pg_filter = NULL;
	}
}

/* The claims to share: liveness, the Kea follower, and each target the engine pushes to
 * (its reconciler runs in the target's worker, under the same claim). */
static void ha_claims_update(struct daemon *d)
{
	if (d->ha == NULL)
		return;
	size_t nt = d->engine != NULL ? prism_engine_ntargets(d->engine) : 0, n = 0;
	char(*names)[PRISM_HA_CLAIM_MAX] = calloc(nt + 2, sizeof(*names));
	const char **v = calloc(nt + 2, sizeof(*v));
	if (names != NULL && v != NULL) {
		v[n++] = PRISM_HA_CLAIM_LIVENESS;
		if (d->cfg->kea_reservations_enabled)
			v[n++] = PRISM_HA_CLAIM_KEA;
		for (size_t i = 0; i < nt; i++) {
			const struct prism_engine_target *t = prism_engine_target(d->engine, i);
			if (prism_ha_target_claim(t->name, names[i], sizeof(names[i])) == 0)
				v[n++] = names[i];
		}
		if (prism_ha_set_claims(d->ha, v, n) != 0)
			prism_log(PRISM_LOG_ERROR, "ha", "cannot set the claims: out of memory");
	}
	free(names);
	free(v);
}

static int start_ha(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	char id[PRISM_HA_ID_MAX + 1], host[256] = "";
	if (cfg->ha_instance_id != NULL) {
		snprintf(id, sizeof(id), "%s", cfg->ha_instance_id);
	} else if (gethostname(host, sizeof(host) - 1) != 0 ||
		   prism_ha_default_id(host,
				       cfg->server_tcp_port ? cfg->server_tcp_port
							    : cfg->server_tls_port,
				       id, sizeof(id)) != 0) {
		prism_log(PRISM_LOG_CRITICAL, "ha",
			  "no host name for the instance id: set "
			  "ha.instance_id");
		return PRISM_ECONFIG;
	}
	/* the backend's keepalives and timeouts: a lost server ends the connection */
	const char *keys[PRISM_STORE_PG_PARAMS], *vals[PRISM_STORE_PG_PARAMS];
	prism_store_pg_params(d->db_url, "prismd ha", keys, vals);
	/* work started under a claim: one request to a target, at most powerdns.timeout (a
	 * timeout above half the lease is fenced at half the lease only: docs/ha.md) */
	uint64_t work_ms = (uint64_t)(cfg->powerdns_timeout * 1000);
	if (work_ms > (uint64_t)cfg->ha_lease_seconds * 500)
		work_ms = (uint64_t)cfg->ha_lease_seconds * 500;
	struct prism_ha_opts o = {
		.keys = keys,
		.values = vals,
		.instance_id = id,
		.lease_seconds = cfg->ha_lease_seconds,
		.work_ms = work_ms,
		.reconnect_max = 10,
		.changed_cb = ha_changed,
		.dirty_cb = ha_dirty,
		.busy_cb = ha_busy,
		.arg = d,
	};
	int rc = prism_ha_start(&d->loop, &o, &d->ha);
	if (rc != 0) {
		prism_log(PRISM_LOG_CRITICAL, "ha", "cannot start (%s)", prism_strerror(rc));
		return rc;
	}
	prism_log(PRISM_LOG_INFO, "ha", "instance %s, leases of %u s", id, cfg->ha_lease_seconds);
	ha_claims_update(d);
	return 0;
}

static int start(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	if (build_zone_names(d) != 0 || build_reserved(cfg, &d->reserved) != 0)
		return PRISM_ENOMEM;
	int rc = open_store(d);
	if (rc != 0)
		return rc;
	d->ha_on = strcmp(cfg->database_type, "postgresql") == 0 && !d->once;
	if ((rc = store_api->cred_key(d->store, &d->cred_key)) != 0) {
		prism_log(PRISM_LOG_CRITICAL, "store",
			  "%s: no credential key in the registry (%s)", d->db_where,
			  prism_strerror(rc));
		return rc;
	}
	if ((rc = rt_load(d)) != 0)
		return rc;
	if (d->nrt > 0 && cfg->targets[0] == NULL)
		prism_log(PRISM_LOG_WARNING, TAG,
			  "%zu target(s) added at run time are not started: "
			  "DNS sync is disabled (no target in the configuration)",
			  d->nrt);
	rc = prism_store_writer_start(&d->loop, store_api, d->store, 512, &d->writer);
	if (rc != 0) {
		prism_log(PRISM_LOG_CRITICAL, "store", "cannot start the writer (%s)",
			  prism_strerror(rc));
		return rc;
	}
	if (cfg->targets[0] != NULL && (rc = start_dns(d)) != 0)
		return rc;
	if (d->once)
		return start_once(d);
	if ((rc = start_agent(d)) != 0 || (rc = start_kea(d)) != 0 ||
	    (rc = start_liveness(d)) != 0 || (d->ha_on && (rc = start_ha(d)) != 0) ||
	    (rc = start_api(d)) != 0)
		return rc;

	prism_log(PRISM_LOG_INFO, TAG,
		  "prismd %s ready: agents on %s%s port %u, TLS port %u, registry %s, DNS: %zu "
		  "target(s), agents' zone %s",
		  PRISM_VERSION, cfg->server_host[0], cfg->server_host[1] ? " (and more)" : "",
		  cfg->server_tcp_port, cfg->server_tls_port, d->db_where, d->ntargets,
		  d->ntargets ? cfg->powerdns_default_zone : "- (DNS disabled)");
	return 0;
}

static int run(struct daemon *d);

int prism_daemon_run(const struct prism_config *cfg, const char *path)
{
	struct daemon d = {.cfg = cfg, .started = cfg, .config_path = path, .exit_code = 0};
	return run(&d);
}

int prism_daemon_once(const struct prism_config *cfg, double timeout)
{
	struct daemon d = {
		.cfg = cfg, .started = cfg, .exit_code = 0, .once = true, .once_timeout = timeout};
	return run(&d);
}

static int run(struct daemon *dp)
{
	struct daemon d = *dp;
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		prism_log(PRISM_LOG_CRITICAL, TAG, "cannot initialise libcurl");
		return 1;
	}
	uv_loop_init(&d.loop);
	uv_signal_init(&d.loop, &d.sigint);
	uv_signal_init(&d.loop, &d.sigterm);
	uv_signal_init(&d.loop, &d.sighup);
	d.sigint.data = d.sigterm.data = d.sighup.data = &d;
	/* before any port is open: a SIGTERM during start must stop prismd cleanly, not kill
	 * it (the handler runs once the loop does, after start) */
	uv_signal_start(&d.sigint, signal_cb, SIGINT);
	uv_signal_start(&d.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&d.sighup, sighup_cb, SIGHUP);
	if (d.once) {
		uv_timer_init(&d.loop, &d.once_timer);
		d.once_timer.data = &d;
	}
	int rc = start(&d);
	if (rc == 0) {
		uv_run(&d.loop, UV_RUN_DEFAULT);
	} else {
		d.exit_code = 1;
		shutdown_daemon(&d);
	}
	/* let every close callback run */
	uv_run(&d.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&d.loop) != 0)
		prism_log(PRISM_LOG_WARNING, TAG, "loop closed with handles still open");
	store_api->close(d.store);
	if (d.db_url != NULL) {
		explicit_bzero(d.db_url, strlen(d.db_url));
		free(d.db_url);
	}
	prism_token_set_free(d.tokens);
	explicit_bzero(&d.cred_key, sizeof(d.cred_key));
	for (size_t t = 0; d.etargets != NULL && t < d.ntargets; t++)
		free((void *)d.etargets[t].zones);
	free(d.etargets);
	free(d.targets);
	free(d.ezones);
	free(d.zone_names);
	free(d.dns_addresses);
	rt_free_all(&d);
	for (size_t i = 0; i < d.nretired; i++)
		prism_config_free(d.retired[i]);
	free(d.retired);
	prism_reserved_free(d.reserved);
	prism_name_filter_free(d.kea_pg_filter);
	prism_name_filter_free(d.kea_leases_filter);
	curl_global_cleanup();
	return d.exit_code;
}
