/* SPDX-License-Identifier: MIT */
/*
 * The routes: the route table, the reads (through the API's store reader, bounded: keyset
 * pagination, LIMIT <= 1000, host counts kept by triggers) and
 * the write routes as store writer jobs, each writing its audit entry in the same
 * transaction.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "api/api_int.h"
#include "api/routes_targets.h"
#include "api/routes_zones.h"
#include "common/log.h"
#include "core/api_body.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "prism_version.h"

#define PAGE_MAX		1000
#define PAGE_DEFAULT		50
#define SEARCH_MAX		253
#define SEARCH_WINDOW		100000 /* ids a v1 search looks at per page */
#define NAME_MAX_LEN		PRISM_API_NAME_MAX
#define HEALTH_FAILED_WINDOW_MS 60000

const char *const api_sync_states[4] = {"pending", "synced", "failed", "conflict"};
const char *const api_host_sync_states[4] = {"pending", "synced", "failed", "disabled"};

/* ---- the store reader ---- */

int api_open_db(struct prism_api *api, char *err, size_t errlen);
void api_close_db(struct prism_api *api);

int api_open_db(struct prism_api *api, char *err, size_t errlen)
{
	const struct prism_store_api *store =
		api->opts.store ? api->opts.store : &prism_store_sqlite;
	struct prism_store_opts o = {.path = api->cfg->database_path, .url = api->opts.store_url};
	if (store->read == NULL) {
		snprintf(err, errlen, "the %s registry has no reads", store->name);
		return PRISM_ESTORE;
	}
	api->rd = store->read;
	int rc = api->rd->open(&o, &api->reader, err, errlen);
	/* reads go to threads of their own when they block (PostgreSQL), and with SQLite too
	 * when there is a second core for them: the loop then only parses and sends (a page of
	 * 100 hosts: 13,000-15,000 answers/s instead of 9,600-9,700 on 2 cores; see
	 * bench/README.md). PRISM_TEST_API_READ_THREADS=1 or 0 forces one way (tests, benches). */
	const char *force = getenv("PRISM_TEST_API_READ_THREADS");
	bool threads = api->rd->blocking || uv_available_parallelism() >= 2;
	if (force != NULL && (strcmp(force, "1") == 0 || strcmp(force, "0") == 0))
		threads = api->rd->blocking || force[0] == '1';
	if (rc == 0 && threads) {
		api->counts_ok = api->ledger_ok = true; /* the reader just opened */
		rc = api_pool_start(api, API_READ_THREADS, &o, err, errlen);
		if (rc == 0)
			prism_log(PRISM_LOG_INFO, "api",
				  "registry reads on %d threads of their own", API_READ_THREADS);
	}
	return rc;
}

void api_close_db(struct prism_api *api)
{
	if (api->rd != NULL)
		api->rd->close(api->reader);
	api->reader = NULL;
}

/* "key": a row's text (null when none), with its length */
static void ktext(struct jw *w, const char *key, struct prism_text t)
{
	jw_key(w, key);
	if (t.s == NULL)
		jw_null(w);
	else
		jw_strn(w, t.s, t.len);
}

/*
 * With read threads the counts are refreshed there, at most once a second, and the loop
 * answers from the last refresh: the targets' names are taken on the loop for it.
 */
struct refresh_task {
	struct api_task t;
	struct prism_api *api;
	size_t n;
	struct api_ledger_counts ledger[API_MAX_TARGETS];
	struct prism_host_counts c;
	bool counts_ok, ledger_ok;
};

static void refresh_offloop(struct prism_api *api);

static void refresh_work(struct api_task *t)
{
	struct refresh_task *x = (struct refresh_task *)t;
	struct prism_api *api = x->api;
	x->counts_ok = api->rd->host_counts(api_reader(api), &x->c) == 0;
	x->ledger_ok = true;
	for (size_t i = 0; i < x->n && x->ledger_ok; i++)
		x->ledger_ok =
			api->rd->ledger_counts(api_reader(api), x->ledger[i].target,
					       x->ledger[i].n, &x->ledger[i].oldest_pending) == 0;
}

static void refresh_done(struct api_task *t)
{
	struct refresh_task *x = (struct refresh_task *)t;
	struct prism_api *api = x->api;
	uint64_t now = uv_now(api->loop);
	api->refreshing = false;
	if (!t->cancelled) {
		api->counts_ok = x->counts_ok;
		api->ledger_ok = x->ledger_ok;
		if (x->counts_ok) {
			api->online = x->c.online;
			api->offline = x->c.offline;
			api->last_seen = x->c.last_seen;
			memcpy(api->sync_hosts, x->c.sync, sizeof(x->c.sync));
		}
		if (x->ledger_ok) {
			memcpy(api->ledger, x->ledger, x->n * sizeof(x->ledger[0]));
			api->nledger = x->n;
		}
		api->counts_at = api->ledger_at = now ? now : 1;
	}
	free(x);
	struct api_req *w = api->count_waiters;
	api->count_waiters = NULL;
	while (w != NULL) {
		struct api_req *next = w->wait_next;
		api_req_continue(w);
		w = next;
	}
	api_unref(api);
}

void api_counts_wait(struct prism_api *api, struct api_req *r)
{
	if (r != NULL) {
		r->wait_next = api->count_waiters;
		api->count_waiters = r;
	}
	refresh_offloop(api);
}

bool api_counts_stale(struct prism_api *api)
{
	return api->counts_at == 0 || uv_now(api->loop) - api->counts_at >= 1000;
}

static void refresh_offloop(struct prism_api *api)
{
	if (api->refreshing || !api_counts_stale(api))
		return;
	struct refresh_task *x = calloc(1, sizeof(*x));
	if (x == NULL) {
		/* the waiters get the counts as they are */
		while (api->count_waiters != NULL) {
			struct api_req *r = api->count_waiters;
			api->count_waiters = r->wait_next;
			api_req_continue(r);
		}
		return;
	}
	x->api = api;
	x->t.work = refresh_work;
	x->t.done = refresh_done;
	size_t n = prism_engine_ntargets(api->opts.engine);
	for (size_t i = 0; i < n && x->n < API_MAX_TARGETS; i++) {
		struct prism_engine_target_info info;
		if (prism_engine_target_info(api->opts.engine, i, &info) == 0)
			snprintf(x->ledger[x->n++].target, sizeof(x->ledger[0].target), "%s",
				 info.name);
	}
	api->refreshing = true;
	api->refs++;
	api_pool_submit(api, &x->t);
}

int api_refresh_counts(struct prism_api *api)
{
	if (api->pool != NULL) {
		refresh_offloop(api);
		return api->counts_ok ? 0 : PRISM_ESTORE;
	}
	uint64_t now = uv_now(api->loop);
	if (api->counts_at != 0 && now - api->counts_at < 1000)
		return 0;
	struct prism_host_counts c;
	if (api->rd->host_counts(api_reader(api), &c) != 0)
		return PRISM_ESTORE;
	api->online = c.online;
	api->offline = c.offline;
	api->last_seen = c.last_seen;
	memcpy(api->sync_hosts, c.sync, sizeof(c.sync));
	api->counts_at = now ? now : 1;
	return 0;
}

static int ledger_one(struct prism_api *api, const char *target, struct api_ledger_counts *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->target, sizeof(c->target), "%s", target);
	return api->rd->ledger_counts(api_reader(api), target, c->n, &c->oldest_pending);
}

int api_refresh_ledger(struct prism_api *api)
{
	if (api->pool != NULL) {
		refresh_offloop(api);
		return api->ledger_ok ? 0 : PRISM_ESTORE;
	}
	uint64_t now = uv_now(api->loop);
	if (api->ledger_at != 0 && now - api->ledger_at < 1000)
		return 0;
	size_t n = prism_engine_ntargets(api->opts.engine);
	if (n > API_MAX_TARGETS)
		n = API_MAX_TARGETS;
	for (size_t i = 0; i < n; i++) {
		struct prism_engine_target_info info;
		if (prism_engine_target_info(api->opts.engine, i, &info) != 0 ||
		    ledger_one(api, info.name, &api->ledger[i]) != 0)
			return PRISM_ESTORE;
	}
	api->nledger = n;
	api->ledger_at = now ? now : 1;
	return 0;
}

/* ---- argument helpers (each answers 400 itself) ---- */

static bool parse_int(const char *s, int64_t *out)
{
	if (s == NULL || *s == '\0' || strlen(s) > 18)
		return false;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	*out = strtoll(s, NULL, 10);
	return true;
}

static bool arg_range(struct api_req *r, const char *name, int64_t def, int64_t lo, int64_t hi,
		      int64_t *out)
{
	const char *v = api_arg(r, name);
	if (v == NULL) {
		*out = def;
		return true;
	}
	if (!parse_int(v, out) || *out < lo || *out > hi) {
		api_error(r, 400, "invalid_parameter",
			  "%s must be an integer between %" PRId64 " and %" PRId64, name, lo, hi);
		return false;
	}
	return true;
}

static bool arg_status(struct api_req *r, const char *v, const char **out)
{
	*out = NULL;
	if (v == NULL)
		return true;
	if (strcmp(v, "online") == 0 || strcmp(v, "offline") == 0) {
		*out = v;
		return true;
	}
	api_error(r, 400, "invalid_parameter", "status must be online or offline");
	return false;
}

/* search: lower-cased copy into @p buf; NULL when not given */
static bool arg_search(struct api_req *r, char *buf, size_t len, const char **out)
{
	const char *v = api_arg(r, "search");
	*out = NULL;
	if (v == NULL)
		return true;
	size_t n = strlen(v);
	if (n == 0 || n > SEARCH_MAX || n >= len) {
		api_error(r, 400, "invalid_parameter", "search must be 1 to %d characters",
			  SEARCH_MAX);
		return false;
	}
	for (size_t i = 0; i <= n; i++)
		buf[i] = (char)tolower((unsigned char)v[i]);
	*out = buf;
	return true;
}

static void store_failed(struct api_req *r, int err)
{
	if (err == PRISM_ENOMEM)
		api_error(r, 500, "internal", "out of memory");
	else
		api_error(r, 503, "unavailable", "the registry could not be written (%s)",
			  prism_strerror(err));
}

void api_db_failed(struct api_req *r)
{
	api_error(r, 503, "unavailable", "the registry could not be read (%s)",
		  r->api->rd->error(api_reader(r->api)));
}

static int host_id_of(void *ctx, const struct prism_host_view *h)
{
	*(int64_t *)ctx = h->id;
	return 0;
}

/* A host id from the path: digits, or a hostname looked up now. */
static bool path_host_id(struct api_req *r, const char *p, int64_t *id)
{
	if (parse_int(p, id) && *id > 0)
		return true;
	char name[SEARCH_MAX + 2];
	size_t n = strlen(p);
	for (size_t i = 0; i <= n && i < sizeof(name); i++)
		name[i] = (char)tolower((unsigned char)p[i]);
	name[sizeof(name) - 1] = '\0';
	*id = 0;
	int rc = r->api->rd->host_get(api_reader(r->api), 0, name, host_id_of, id);
	if (rc == 0)
		return true;
	if (rc == PRISM_ENOTFOUND)
		api_error(r, 404, "not_found", "no host %s", p);
	else
		api_db_failed(r);
	return false;
}

/* ---- body helpers ---- */

/* Check the parsed body against the route's fields (core/api_body.h); answers when refused. */
static bool body_check(struct api_req *r, const struct prism_api_field *fields,
		       struct prism_api_value *values)
{
	struct prism_api_body_err e = {.status = 500, .code = "internal", .message = "no body"};
	if (prism_api_body_fields(r->json, fields, (int64_t)time(NULL), values, &e) == 0)
		return true;
	api_error(r, e.status, e.code, "%s", e.message);
	return false;
}

/* ---- JSON of hosts ---- */

static void host_compat(struct jw *w, const struct prism_host_view *h, bool detail)
{
	jw_obj(w);
	jw_kint(w, "id", h->id);
	ktext(w, "hostname", h->hostname);
	ktext(w, "current_ip", h->current_ip);
	jw_kstr(w, "status", h->status.s);
	jw_ktime(w, "first_seen", h->first_seen);
	jw_ktime(w, "last_seen", h->last_seen);
	if (detail) {
		ktext(w, "dns_zone", h->dns_zone);
		ktext(w, "dns_sync_status", h->dns_sync_status);
		ktext(w, "source", h->source);
	}
	jw_end_obj(w);
}

/* The fields of a ledger row. */
static void ledger_fields(struct jw *w, const struct prism_ledger_view *l)
{
	ktext(w, "target", l->target);
	ktext(w, "zone", l->zone);
	ktext(w, "name", l->name);
	ktext(w, "type", l->type);
	ktext(w, "status", l->status);
	jw_kint(w, "attempts", l->attempts);
	ktext(w, "last_error", l->last_error);
	jw_ktime(w, "updated_at", l->updated_at);
}

static int ledger_row(void *ctx, const struct prism_ledger_view *l)
{
	struct jw *w = ctx;
	jw_obj(w);
	ledger_fields(w, l);
	jw_end_obj(w);
	return 0;
}

/* A v1 host without its closing brace: the caller adds "sync". */
static void host_v1_open(struct jw *w, const struct prism_host_view *h)
{
	jw_obj(w);
	jw_kint(w, "id", h->id);
	ktext(w, "hostname", h->hostname);
	ktext(w, "current_ip", h->current_ip);
	jw_kstr(w, "ipv4", h->ipv4.s);
	jw_kstr(w, "ipv6", h->ipv6.s);
	ktext(w, "status", h->status);
	ktext(w, "source", h->source);
	jw_ktime(w, "first_seen", h->first_seen);
	jw_ktime(w, "last_seen", h->last_seen);
	jw_kbool(w, "bound", h->bound);
	ktext(w, "dns_zone", h->dns_zone);
	ktext(w, "dns_name", h->dns_name);
	jw_key(w, "dns_ttl");
	if (!h->has_ttl)
		jw_null(w);
	else
		jw_int(w, h->dns_ttl);
	ktext(w, "dns_sync_status", h->dns_sync_status);
	jw_ktime(w, "dns_last_sync", h->dns_last_sync);
}
/* ---- health and metrics ---- */

static bool registry_writable(struct prism_api *api)
{
	struct prism_store_writer_stats ws;
	prism_store_writer_stats(api->opts.writer, &ws);
	uint64_t now = uv_now(api->loop);
	if (ws.failed_batches != api->failed_batches) {
		api->failed_batches = ws.failed_batches;
		api->failed_at = now ? now : 1;
	}
	return api->failed_at == 0 || now - api->failed_at > HEALTH_FAILED_WINDOW_MS;
}

static void h_health(struct api_req *r)
{
	struct prism_api *api = r->api;
	struct jw *w = api_jw(api);
	bool readable = api_refresh_counts(api) == 0;
	bool writable = registry_writable(api);
	size_t nt = prism_engine_ntargets(api->opts.engine), bad = 0;
	char reasons[4][160];
	size_t nr = 0;
	if (!readable)
		snprintf(reasons[nr++], sizeof(reasons[0]), "registry: cannot be read");
	if (!writable)
		snprintf(reasons[nr++], sizeof(reasons[0]),
			 "registry: a write failed in the "
			 "last minute");
	for (size_t i = 0; i < nt; i++) {
		struct prism_engine_target_info ti;
		if (prism_engine_target_info(api->opts.engine, i, &ti) == 0 &&
		    strcmp(ti.state, "ok") != 0 && bad++ == 0 && nr < 4)
			snprintf(reasons[nr++], sizeof(reasons[0]), "target %s: %s", ti.name,
				 ti.state);
	}
	if (bad > 1 && nr < 4)
		snprintf(reasons[nr++], sizeof(reasons[0]), "%zu targets not ok", bad);
	const char *status = !readable ? "unhealthy" : nr > 0 ? "degraded" : "healthy";
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "status", status);
	jw_kstr(w, "version", PRISM_VERSION);
	jw_ktime(w, "timestamp", (int64_t)time(NULL));
	jw_kint(w, "uptime_seconds", (int64_t)time(NULL) - api->started_at);
	jw_key(w, "checks");
	jw_obj(w);
	jw_kstr(w, "registry", !readable ? "unreadable" : writable ? "ok" : "write_failed");
	jw_key(w, "targets");
	jw_obj(w);
	for (size_t i = 0; i < nt; i++) {
		struct prism_engine_target_info ti;
		if (prism_engine_target_info(api->opts.engine, i, &ti) != 0)
			continue;
		jw_key_escaped(w, ti.name);
		jw_str(w, ti.state);
	}
	jw_end_obj(w);
	jw_end_obj(w);
	jw_key(w, "reasons");
	jw_arr(w);
	for (size_t i = 0; i < nr; i++)
		jw_str(w, reasons[i]);
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, readable ? 200 : 503);
}

static void h_metrics(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (api_metrics_collect(api) != 0) {
		api_error(r, 500, "internal", "cannot format the metrics");
		return;
	}
	api_reply_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", api->metrics_buf,
		       api->metrics_len);
}

/* ---- compatibility routes ---- */

/* Hosts matching the filters, counted cheaply when there is no search. */
static int compat_total(struct prism_api *api, const char *status, const char *search,
			int64_t *total)
{
	if (search == NULL && api_on_worker()) {
		struct prism_host_counts c;
		if (api->rd->host_counts(api_reader(api), &c) != 0)
			return PRISM_ESTORE;
		*total = status == NULL			 ? c.online + c.offline
			 : strcmp(status, "online") == 0 ? c.online
							 : c.offline;
		return 0;
	}
	if (search == NULL) {
		if (api_refresh_counts(api) != 0)
			return PRISM_ESTORE;
		*total = status == NULL			 ? api->online + api->offline
			 : strcmp(status, "online") == 0 ? api->online
							 : api->offline;
		return 0;
	}
	return api->rd->hosts_search_count(api_reader(api), status, search, total);
}

static int compat_row(void *ctx, const struct prism_host_view *h)
{
	host_compat(ctx, h, false);
	return 0;
}

static void compat_list(struct api_req *r, const char *status)
{
	struct prism_api *api = r->api;
	int64_t page, per_page, total;
	char sbuf[SEARCH_MAX + 1];
	const char *search;
	if (!arg_range(r, "page", 1, 1, 1000000000, &page) ||
	    !arg_range(r, "per_page", PAGE_DEFAULT, 1, PAGE_MAX, &per_page) ||
	    !arg_search(r, sbuf, sizeof(sbuf), &search))
		return;
	if (compat_total(api, status, search, &total) != 0) {
		api_db_failed(r);
		return;
	}
	struct prism_hosts_query q = {.status = status,
				      .search = search,
				      .compat = true,
				      .limit = per_page,
				      .offset = (page - 1) * per_page};
	struct prism_hosts_visit v = {.host = compat_row};
	struct jw *w = api_jw(api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "hosts");
	jw_arr(w);
	if (api->rd->hosts_list(api_reader(api), &q, &v, w) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_kint(w, "total", total);
	jw_kint(w, "page", page);
	jw_kint(w, "per_page", per_page);
	/* an empty list is one (empty) page, as the original server answers */
	jw_kint(w, "pages", total > 0 ? (total + per_page - 1) / per_page : 1);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void h_compat_hosts(struct api_req *r)
{
	const char *status;
	if (arg_status(r, api_arg(r, "status"), &status))
		compat_list(r, status);
}

static void h_compat_hosts_status(struct api_req *r)
{
	const char *status;
	if (arg_status(r, r->params[0], &status))
		compat_list(r, status);
}

static int compat_detail(void *ctx, const struct prism_host_view *h)
{
	struct jw *w = ctx;
	jw_reset(w);
	host_compat(w, h, true);
	return 0;
}

static void h_compat_host(struct api_req *r)
{
	int64_t id;
	if (!parse_int(r->params[0], &id)) {
		api_error(r, 400, "invalid_parameter", "the host id must be an integer");
		return;
	}
	int rc = r->api->rd->host_get(api_reader(r->api), id, NULL, compat_detail, api_jw(r->api));
	if (rc == 0)
		api_reply(r, 200);
	else if (rc == PRISM_ENOTFOUND)
		api_error(r, 404, "not_found", "no host with id %" PRId64, id);
	else
		api_db_failed(r);
}

static void h_compat_summary(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (api_refresh_counts(api) != 0) {
		api_db_failed(r);
		return;
	}
	struct jw *w = api_jw(api);
	jw_reset(w);
	jw_obj(w);
	jw_kint(w, "total_hosts", api->online + api->offline);
	jw_kint(w, "online_hosts", api->online);
	jw_kint(w, "offline_hosts", api->offline);
	jw_ktime(w, "last_registration", api->last_seen);
	jw_end_obj(w);
	api_reply(r, 200);
}

/* ---- v1 hosts ---- */

/* A page of hosts: each host with its ledger rows (the store merges them in one pass). */
struct v1_page_ctx {
	struct jw *w;
	int64_t n, last;
};

static int v1_host(void *ctx, const struct prism_host_view *h)
{
	struct v1_page_ctx *c = ctx;
	host_v1_open(c->w, h);
	jw_key(c->w, "sync");
	jw_arr(c->w);
	return 0;
}

static int v1_ledger(void *ctx, const struct prism_ledger_view *l)
{
	return ledger_row(((struct v1_page_ctx *)ctx)->w, l);
}

static int v1_host_end(void *ctx, const struct prism_host_view *h)
{
	struct v1_page_ctx *c = ctx;
	jw_end_arr(c->w);
	jw_end_obj(c->w);
	c->last = h->id;
	c->n++;
	return 0;
}

static void v1_page(struct api_req *r, const struct prism_hosts_query *q, int64_t window_end)
{
	struct prism_api *api = r->api;
	struct v1_page_ctx c = {.w = api_jw(api)};
	struct jw *w = c.w;
	static const struct prism_hosts_visit v = {v1_host, v1_ledger, v1_host_end};
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "hosts");
	jw_arr(w);
	if (api->rd->hosts_list(api_reader(api), q, &v, &c) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_key(w, "next");
	char cur[24];
	if (c.n == q->limit) {
		snprintf(cur, sizeof(cur), "%" PRId64, c.last);
		jw_str(w, cur);
	} else if (q->search != NULL && window_end > 0) {
		snprintf(cur, sizeof(cur), "%" PRId64, window_end);
		jw_str(w, cur);
	} else {
		jw_null(w);
	}
	jw_end_obj(w);
	api_reply(r, 200);
}

static void h_v1_hosts(struct api_req *r)
{
	struct prism_api *api = r->api;
	int64_t limit, after = 0;
	char sbuf[SEARCH_MAX + 1];
	const char *status, *search, *a = api_arg(r, "after");
	if (!arg_range(r, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit) ||
	    !arg_status(r, api_arg(r, "status"), &status) ||
	    !arg_search(r, sbuf, sizeof(sbuf), &search))
		return;
	if (a != NULL && !parse_int(a, &after)) {
		api_error(r, 400, "invalid_parameter", "after must be a cursor from 'next'");
		return;
	}
	/* a search looks at SEARCH_WINDOW ids per page, so a page costs a bounded scan;
	 * it may come back short (even empty) with a next cursor to go on from */
	int64_t window_end = 0;
	if (search != NULL) {
		int64_t max_id;
		if (api->rd->hosts_max_id(api_reader(api), &max_id) != 0) {
			api_db_failed(r);
			return;
		}
		window_end = after + SEARCH_WINDOW;
		if (window_end >= max_id)
			window_end = 0; /* the window reaches the end: no cursor after it */
	}
	struct prism_hosts_query q = {.status = status,
				      .search = search,
				      .after = after,
				      .upto = window_end,
				      .limit = limit,
				      .with_ledger = true};
	v1_page(r, &q, window_end);
}

static int v1_detail(void *ctx, const struct prism_host_view *h)
{
	struct v1_page_ctx *c = ctx;
	jw_reset(c->w);
	host_v1_open(c->w, h);
	c->last = h->id;
	return 0;
}

static int record_row(void *ctx, const struct prism_record_view *rec)
{
	struct jw *w = ctx;
	jw_obj(w);
	ktext(w, "zone", rec->zone);
	ktext(w, "name", rec->name);
	ktext(w, "type", rec->type);
	jw_kint(w, "ttl", rec->ttl);
	api_content_list(w, "content", rec->content.s);
	jw_end_obj(w);
	return 0;
}

static void h_v1_host(struct api_req *r)
{
	struct prism_api *api = r->api;
	const char *p = r->params[0];
	int64_t id = 0;
	char name[SEARCH_MAX + 2];
	const char *by_name = NULL;
	if (!parse_int(p, &id)) {
		size_t n = strlen(p);
		if (n > SEARCH_MAX) {
			api_error(r, 404, "not_found", "no such host");
			return;
		}
		for (size_t i = 0; i <= n; i++)
			name[i] = (char)tolower((unsigned char)p[i]);
		by_name = name;
	}
	struct v1_page_ctx c = {.w = api_jw(api)};
	struct jw *w = c.w;
	int rc = api->rd->host_get(api_reader(api), id, by_name, v1_detail, &c);
	if (rc != 0) {
		if (rc == PRISM_ENOTFOUND)
			api_error(r, 404, "not_found", "no host %s", p);
		else
			api_db_failed(r);
		return;
	}
	id = c.last;
	jw_key(w, "sync");
	jw_arr(w);
	if (api->rd->host_ledger(api_reader(api), id, ledger_row, w) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	/* the host's records as the registry wants them (the same on every target) */
	jw_key(w, "records");
	jw_arr(w);
	if (api->rd->host_records(api_reader(api), id, record_row, w) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}
/* ---- write jobs ---- */

static void brief_json(char *out, size_t len, const struct prism_host_brief *b)
{
	struct jw w = {0};
	jw_obj(&w);
	jw_kint(&w, "id", b->id);
	jw_kstr(&w, "hostname", b->hostname);
	jw_kstr(&w, "current_ip", b->current_ip);
	jw_kstr(&w, "status", b->status);
	jw_kbool(&w, "bound", b->owned);
	jw_end_obj(&w);
	const char *text = jw_text(&w);
	snprintf(out, len, "%s", text != NULL ? text : "null");
	jw_free(&w);
}

static int run_host_delete(struct prism_store *s, const struct prism_store_api *st,
			   struct api_job *j)
{
	int rc = st->host_delete(s, j->id, j->now, &j->brief, &j->flag);
	if (rc != 0)
		return rc;
	char before[1024], object[32];
	brief_json(before, sizeof(before), &j->brief);
	snprintf(object, sizeof(object), "host:%" PRId64, j->id);
	return api_audit(s, st, j, "host.delete", object, before, NULL);
}

static void brief_reply(struct api_req *r, const char *key, const struct prism_host_brief *b)
{
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, key);
	jw_obj(w);
	jw_kint(w, "id", b->id);
	jw_kstr(w, "hostname", b->hostname);
	jw_kstr(w, "current_ip", b->current_ip);
	jw_kstr(w, "status", b->status);
	jw_end_obj(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void done_host_delete(struct api_req *r, struct api_job *j, int err)
{
	if (err == PRISM_ENOTFOUND) {
		api_error(r, 404, "not_found", "no host with id %" PRId64, j->id);
		return;
	}
	if (err != 0) {
		store_failed(r, err);
		return;
	}
	if (j->flag)
		prism_engine_wake(r->api->opts.engine);
	brief_reply(r, "deleted", &j->brief);
}

static void h_v1_host_delete(struct api_req *r)
{
	int64_t id;
	if (!path_host_id(r, r->params[0], &id))
		return;
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	j->id = id;
	j->run = run_host_delete;
	j->done = done_host_delete;
	api_submit(r, j);
}

static int run_host_release(struct prism_store *s, const struct prism_store_api *st,
			    struct api_job *j)
{
	int rc = st->host_release(s, j->id, &j->brief);
	if (rc != 0)
		return rc;
	char before[1024], after[1024], object[32];
	brief_json(before, sizeof(before), &j->brief);
	struct prism_host_brief b = j->brief;
	b.owned = false;
	brief_json(after, sizeof(after), &b);
	snprintf(object, sizeof(object), "host:%" PRId64, j->id);
	return api_audit(s, st, j, "host.release", object, before, after);
}

static void done_host_release(struct api_req *r, struct api_job *j, int err)
{
	if (err == PRISM_ENOTFOUND)
		api_error(r, 404, "not_found", "no host with id %" PRId64, j->id);
	else if (err != 0)
		store_failed(r, err);
	else
		brief_reply(r, "released", &j->brief);
}

static void h_v1_host_release(struct api_req *r)
{
	struct prism_api_value v[1];
	int64_t id;
	if (!body_check(r, prism_api_body_none, v) || !path_host_id(r, r->params[0], &id))
		return;
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	j->id = id;
	j->run = run_host_release;
	j->done = done_host_release;
	api_submit(r, j);
}

/* ---- tokens and keys ---- */

/* 32 random bytes as 64 hex characters. */
static int random_secret(char out[65])
{
	unsigned char b[32];
	size_t got = 0;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
	explicit_bzero(b, sizeof(b));
	return 0;
}

static int run_token_create(struct prism_store *s, const struct prism_store_api *st,
			    struct api_job *j)
{
	int rc = st->token_create(s, j->name, j->hash, j->now, j->when);
	if (rc != 0)
		return rc;
	char after[512], object[300], exp[32] = "null";
	if (j->when > 0) {
		exp[0] = '"';
		jw_time_text(j->when, exp + 1, sizeof(exp) - 2);
		strcat(exp, "\"");
	}
	struct jw w = {0};
	jw_obj(&w);
	jw_kstr(&w, "name", j->name);
	jw_key(&w, "expires_at");
	jw_raw(&w, exp);
	jw_end_obj(&w);
	const char *text = jw_text(&w);
	snprintf(after, sizeof(after), "%s", text != NULL ? text : "null");
	jw_free(&w);
	snprintf(object, sizeof(object), "token:%s", j->name);
	return api_audit(s, st, j, "token.create", object, NULL, after);
}

static void done_token_create(struct api_req *r, struct api_job *j, int err)
{
	if (err == PRISM_ECONFLICT) {
		api_error(r, 409, "conflict", "an active token called '%s' exists", j->name);
	} else if (err != 0) {
		store_failed(r, err);
	} else {
		struct jw *w = api_jw(r->api);
		jw_reset(w);
		jw_obj(w);
		jw_kstr(w, "name", j->name);
		jw_kstr(w, "token", j->text);
		jw_ktime(w, "created_at", j->now);
		jw_ktime(w, "expires_at", j->when);
		jw_kbool(w, "active", true);
		jw_end_obj(w);
		api_reply(r, 201);
		explicit_bzero(w->buf, w->len);
	}
	explicit_bzero(j->text, sizeof(j->text));
}

static void h_v1_tokens_create(struct api_req *r)
{
	struct prism_api_value v[2];
	if (!body_check(r, prism_api_body_token_create, v))
		return;
	const char *name = v[0].str;
	int64_t when = v[1].str != NULL ? v[1].unix_time : 0;
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	if (random_secret(j->text) != 0 ||
	    prism_cred_hash(r->api->opts.cred_key, j->text, strlen(j->text), j->hash) != 0) {
		free(j);
		api_error(r, 500, "internal", "cannot generate a token");
		return;
	}
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->when = when;
	j->run = run_token_create;
	j->done = done_token_create;
	api_submit(r, j);
}

static int page_args(struct api_req *r, int64_t *limit, const char **after)
{
	*after = api_arg(r, "after");
	if (!arg_range(r, "limit", 100, 1, PAGE_MAX, limit))
		return -1;
	if (*after != NULL && strlen(*after) > 256) {
		api_error(r, 400, "invalid_parameter", "after must be a cursor from 'next'");
		return -1;
	}
	return 0;
}

/* A page of tokens or keys (the last name is the next cursor) or audit entries. */
struct name_page {
	struct jw *w;
	int64_t n, now;
	int64_t last_id; /* audit: ids are the cursor */
	char last[NAME_MAX_LEN * 4 + 1];
};

static void name_page_last(struct name_page *c, struct prism_text name)
{
	snprintf(c->last, sizeof(c->last), "%.*s", (int)name.len, name.s ? name.s : "");
	c->n++;
}

static int token_row(void *ctx, const struct prism_token_view *t)
{
	struct name_page *c = ctx;
	struct jw *w = c->w;
	jw_obj(w);
	ktext(w, "name", t->name);
	jw_ktime(w, "created_at", t->created_at);
	jw_ktime(w, "expires_at", t->expires_at);
	jw_kbool(w, "active", t->active);
	jw_kbool(w, "expired", t->expires_at > 0 && t->expires_at <= c->now);
	jw_end_obj(w);
	name_page_last(c, t->name);
	return 0;
}

static void h_v1_tokens(struct api_req *r)
{
	struct prism_api *api = r->api;
	int64_t limit;
	const char *after;
	if (page_args(r, &limit, &after) != 0)
		return;
	struct name_page c = {.w = api_jw(api), .now = (int64_t)time(NULL)};
	struct jw *w = c.w;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "tokens");
	jw_arr(w);
	if (api->rd->tokens_list(api_reader(api), after, limit, token_row, &c) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_kstr(w, "next", c.n == limit ? c.last : NULL);
	jw_end_obj(w);
	api_reply(r, 200);
}

static int run_token_revoke(struct prism_store *s, const struct prism_store_api *st,
			    struct api_job *j)
{
	int rc = st->token_revoke(s, j->name, &j->count);
	if (rc != 0 || j->count == 0)
		return rc;
	char object[300];
	snprintf(object, sizeof(object), "token:%s", j->name);
	return api_audit(s, st, j, "token.revoke", object, "{\"active\":true}",
			 "{\"active\":false}");
}

static void done_revoke(struct api_req *r, struct api_job *j, int err)
{
	if (err == PRISM_ENOTFOUND) {
		api_error(r, 404, "not_found", "no %s called '%s'", j->text, j->name);
		return;
	}
	if (err != 0) {
		store_failed(r, err);
		return;
	}
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "name", j->name);
	jw_kint(w, "revoked", (int64_t)j->count);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void h_v1_token_revoke(struct api_req *r)
{
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", r->params[0]);
	snprintf(j->text, sizeof(j->text), "token");
	j->run = run_token_revoke;
	j->done = done_revoke;
	api_submit(r, j);
}

static const char *role_name(enum prism_api_role role)
{
	return role == PRISM_API_ROLE_ADMIN   ? "admin"
	       : role == PRISM_API_ROLE_WRITE ? "write"
					      : "read";
}

/* The caller's key: its name and role (the dashboard draws only what the role may use). */
static void h_v1_whoami(struct api_req *r)
{
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "name", r->actor);
	jw_kstr(w, "role", role_name(r->role));
	jw_end_obj(w);
	api_reply(r, 200);
}

static bool config_key(struct prism_api *api, const char *name)
{
	for (size_t i = 0; i < api->nkeys; i++)
		if (strcmp(api->keys[i].name, name) == 0)
			return true;
	return false;
}

static int run_key_add(struct prism_store *s, const struct prism_store_api *st, struct api_job *j)
{
	/* j->text holds "role\0key" */
	const char *role = j->text;
	int rc = st->apikey_add(s, j->name, j->hash, role, j->now);
	if (rc != 0)
		return rc;
	char after[400], object[300];
	snprintf(after, sizeof(after), "{\"role\":\"%s\"}", role);
	snprintf(object, sizeof(object), "key:%s", j->name);
	return api_audit(s, st, j, "key.create", object, NULL, after);
}

static void done_key_add(struct api_req *r, struct api_job *j, int err)
{
	const char *role = j->text, *key = j->text + strlen(j->text) + 1;
	if (err == PRISM_ECONFLICT) {
		api_error(r, 409, "conflict", "an API key called '%s' exists", j->name);
	} else if (err != 0) {
		store_failed(r, err);
	} else {
		struct jw *w = api_jw(r->api);
		r->api->db_keys_checked = 0;
		jw_reset(w);
		jw_obj(w);
		jw_kstr(w, "name", j->name);
		jw_kstr(w, "role", role);
		jw_kstr(w, "key", key);
		jw_ktime(w, "created_at", j->now);
		jw_end_obj(w);
		api_reply(r, 201);
		explicit_bzero(w->buf, w->len);
	}
	explicit_bzero(j->text, sizeof(j->text));
}

static void h_v1_keys_create(struct api_req *r)
{
	struct prism_api_value v[2];
	if (!body_check(r, prism_api_body_key_create, v))
		return;
	const char *name = v[0].str, *role = v[1].str;
	if (prism_api_role_parse(role) == PRISM_API_ROLE_NONE) {
		api_error(r, 422, "invalid_value", "'role' must be read, write or admin");
		return;
	}
	if (config_key(r->api, name)) {
		api_error(r, 409, "conflict", "an API key called '%s' is in the configuration",
			  name);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	size_t rl = strlen(role);
	memcpy(j->text, role, rl + 1);
	if (random_secret(j->text + rl + 1) != 0 ||
	    prism_cred_hash(r->api->opts.cred_key, j->text + rl + 1, 64, j->hash) != 0) {
		free(j);
		api_error(r, 500, "internal", "cannot generate a key");
		return;
	}
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->run = run_key_add;
	j->done = done_key_add;
	api_submit(r, j);
}

static int key_row(void *ctx, const struct prism_apikey_view *k)
{
	struct name_page *c = ctx;
	struct jw *w = c->w;
	jw_obj(w);
	ktext(w, "name", k->name);
	ktext(w, "role", k->role);
	jw_kstr(w, "source", "api");
	jw_ktime(w, "created_at", k->created_at);
	jw_kbool(w, "active", !k->revoked);
	jw_end_obj(w);
	name_page_last(c, k->name);
	return 0;
}

static void h_v1_keys(struct api_req *r)
{
	struct prism_api *api = r->api;
	int64_t limit;
	const char *after;
	if (page_args(r, &limit, &after) != 0)
		return;
	struct jw *w = api_jw(api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "keys");
	jw_arr(w);
	if (after == NULL) {
		/* a read thread: the keys change on the loop (a reload) */
		pthread_rwlock_rdlock(&api->keys_lock);
		for (size_t i = 0; i < api->nkeys; i++) {
			jw_obj(w);
			jw_kstr(w, "name", api->keys[i].name);
			jw_kstr(w, "role", role_name(api->keys[i].role));
			jw_kstr(w, "source", "config");
			jw_kbool(w, "active", true);
			jw_end_obj(w);
		}
		pthread_rwlock_unlock(&api->keys_lock);
	}
	struct name_page c = {.w = w};
	if (api->rd->apikeys_list(api_reader(api), after, limit, key_row, &c) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_kstr(w, "next", c.n == limit ? c.last : NULL);
	jw_end_obj(w);
	api_reply(r, 200);
}

static int run_key_revoke(struct prism_store *s, const struct prism_store_api *st,
			  struct api_job *j)
{
	int rc = st->apikey_revoke(s, j->name, &j->count);
	if (rc != 0 || j->count == 0)
		return rc;
	char object[300];
	snprintf(object, sizeof(object), "key:%s", j->name);
	return api_audit(s, st, j, "key.revoke", object, "{\"active\":true}",
			 "{\"active\":false}");
}

static void h_v1_key_revoke(struct api_req *r)
{
	if (config_key(r->api, r->params[0])) {
		api_error(r, 409, "conflict",
			  "the API key '%s' is in the configuration: remove "
			  "it there",
			  r->params[0]);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", r->params[0]);
	snprintf(j->text, sizeof(j->text), "API key");
	j->run = run_key_revoke;
	j->done = done_revoke;
	api_submit(r, j);
}

/* ---- targets and sync ---- */

const struct api_ledger_counts *api_ledger_of(struct prism_api *api, const char *target)
{
	for (size_t i = 0; i < api->nledger; i++)
		if (strcmp(api->ledger[i].target, target) == 0)
			return &api->ledger[i];
	return NULL;
}

static void ledger_json(struct jw *w, const struct api_ledger_counts *c, int64_t now)
{
	for (int s = 0; s < 4; s++)
		jw_kint(w, api_sync_states[s], c ? c->n[s] : 0);
	jw_key(w, "oldest_pending_seconds");
	if (c != NULL && c->oldest_pending > 0)
		jw_int(w, now > c->oldest_pending ? now - c->oldest_pending : 0);
	else
		jw_null(w);
}

/* What the last health checks measured: the API's answer time, PowerDNS's statistics. */
static void health_stats_json(struct jw *w, const struct prism_health_info *hi)
{
	jw_kint(w, "response_ms", (int64_t)(hi->response_ms + 0.5));
	jw_key(w, "statistics");
	if (!hi->has_stats) {
		jw_null(w);
		return;
	}
	const struct prism_pdns_stats *st = &hi->stats;
	jw_obj(w);
	if (st->has_uptime)
		jw_kint(w, "uptime_seconds", (int64_t)st->uptime);
	if (st->has_queries)
		jw_kint(w, "queries", (int64_t)st->queries);
	if (st->has_cache) {
		jw_kint(w, "cache_hits", (int64_t)st->cache_hits);
		jw_kint(w, "cache_misses", (int64_t)st->cache_misses);
	}
	if (st->has_latency)
		jw_kint(w, "latency_us", (int64_t)st->latency_us);
	jw_end_obj(w);
}

/* "gateway": the target's limits and the breaker's state, null for a kind without them */
static void gateway_json(struct jw *w, const struct prism_api *api, const char *name)
{
	const struct prism_engine_target *t = NULL;
	for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine); i++)
		if (strcmp(prism_engine_target(api->opts.engine, i)->name, name) == 0)
			t = prism_engine_target(api->opts.engine, i);
	jw_key(w, "gateway");
	if (t == NULL || t->api->gateway == NULL) {
		jw_null(w);
		return;
	}
	struct prism_target_gateway g;
	t->api->gateway(t->handle, &g);
	jw_obj(w);
	jw_key(w, "rate_limit_qps");
	jw_double(w, g.rate_limit_qps);
	jw_kint(w, "retry_attempts", g.retry_attempts);
	jw_kint(w, "breaker_threshold", g.breaker_threshold);
	jw_kstr(w, "breaker", g.breaker);
	jw_kint(w, "failures_in_row", g.failures_in_row);
	jw_key(w, "probe_in");
	jw_double(w, g.probe_in);
	jw_kint(w, "queued", (int64_t)g.queued);
	jw_end_obj(w);
}

static void h_v1_targets(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (api_refresh_ledger(api) != 0) {
		api_db_failed(r);
		return;
	}
	struct jw *w = api_jw(api);
	int64_t now = (int64_t)time(NULL);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "targets");
	jw_arr(w);
	for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine); i++) {
		struct prism_engine_target_info ti;
		if (prism_engine_target_info(api->opts.engine, i, &ti) != 0)
			continue;
		const struct prism_api_target_ops *ops = api->opts.target_ops;
		jw_obj(w);
		jw_kstr(w, "name", ti.name);
		jw_kstr(w, "origin", ops && ops->find(ops->arg, ti.name) ? "api" : "config");
		jw_kstr(w, "state", ti.state);
		jw_kbool(w, "zone_ready", ti.zone_ready);
		jw_kint(w, "failures", ti.failures);
		jw_key(w, "retry_in");
		jw_double(w, ti.retry_in);
		jw_key(w, "requests");
		jw_uint(w, ti.requests);
		jw_key(w, "request_failures");
		jw_uint(w, ti.request_failures);
		jw_key(w, "rrsets_applied");
		jw_uint(w, ti.rrsets_applied);
		jw_key(w, "rrsets_failed");
		jw_uint(w, ti.rrsets_failed);
		jw_ktime(w, "last_success", ti.last_success);
		struct prism_health_info hi;
		jw_key(w, "health");
		if (prism_health_get(api->opts.health, ti.name, &hi) == 0) {
			jw_obj(w);
			jw_kstr(w, "state", hi.state);
			jw_kstr(w, "reason", hi.reason);
			jw_kstr(w, "version", hi.version);
			jw_ktime(w, "since", hi.since);
			jw_ktime(w, "checked", hi.checked);
			jw_kint(w, "zones_missing", (int64_t)hi.zones_missing);
			jw_kint(w, "zones_extra", (int64_t)hi.zones_extra);
			health_stats_json(w, &hi);
			jw_end_obj(w);
		} else {
			jw_null(w);
		}
		gateway_json(w, api, ti.name);
		jw_key(w, "ledger");
		jw_obj(w);
		ledger_json(w, api_ledger_of(api, ti.name), now);
		jw_end_obj(w);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

static int run_audit_only(struct prism_store *s, const struct prism_store_api *st,
			  struct api_job *j)
{
	char object[300], before[64], after[64];
	snprintf(object, sizeof(object), "target:%s", j->name);
	snprintf(before, sizeof(before), "{\"paused\":%s}", j->flag ? "false" : "true");
	snprintf(after, sizeof(after), "{\"paused\":%s}", j->flag ? "true" : "false");
	return api_audit(s, st, j, j->flag ? "target.pause" : "target.resume", object, before,
			 after);
}

/* The state of target @p name into @p buf; false when there is no such target. */
static bool target_state(struct prism_engine *e, const char *name, char *buf, size_t len)
{
	struct prism_engine_target_info ti;
	for (size_t i = 0; i < prism_engine_ntargets(e); i++) {
		if (prism_engine_target_info(e, i, &ti) == 0 && strcmp(ti.name, name) == 0) {
			snprintf(buf, len, "%s", ti.state);
			return true;
		}
	}
	return false;
}

/* The audit entry is committed: now the pause (or resume) takes effect, never before (an
 * error answer means nothing changed). */
static void done_target_state(struct api_req *r, struct api_job *j, int err)
{
	struct prism_engine *e = r->api->opts.engine;
	if (err != 0) {
		store_failed(r, err);
		return;
	}
	if (prism_engine_pause(e, j->name, j->flag) != 0 ||
	    !target_state(e, j->name, j->text, sizeof(j->text))) {
		api_error(r, 404, "not_found", "no target called '%s'", j->name);
		return;
	}
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "name", j->name);
	jw_kstr(w, "state", j->text);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void target_pause(struct api_req *r, bool paused)
{
	struct prism_api_value v[1];
	struct prism_api *api = r->api;
	char state[32];
	if (!body_check(r, prism_api_body_none, v))
		return;
	const char *name = r->params[0];
	if (!target_state(api->opts.engine, name, state, sizeof(state))) {
		api_error(r, 404, "not_found", "no target called '%s'", name);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->flag = paused;
	j->run = run_audit_only;
	j->done = done_target_state;
	api_submit(r, j);
}

static void h_v1_target_pause(struct api_req *r)
{
	target_pause(r, true);
}

static void h_v1_target_resume(struct api_req *r)
{
	target_pause(r, false);
}

static void h_v1_sync(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (api_refresh_ledger(api) != 0) {
		api_db_failed(r);
		return;
	}
	struct jw *w = api_jw(api);
	int64_t now = (int64_t)time(NULL), total[4] = {0};
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "targets");
	jw_arr(w);
	for (size_t i = 0; i < api->nledger; i++) {
		jw_obj(w);
		jw_kstr(w, "name", api->ledger[i].target);
		ledger_json(w, &api->ledger[i], now);
		jw_end_obj(w);
		for (int s = 0; s < 4; s++)
			total[s] += api->ledger[i].n[s];
	}
	jw_end_arr(w);
	jw_key(w, "totals");
	jw_obj(w);
	for (int s = 0; s < 4; s++)
		jw_kint(w, api_sync_states[s], total[s]);
	jw_end_obj(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

struct sync_rows_ctx {
	struct jw *w;
	int64_t max, *n;
	bool *more;
};

static int sync_row(void *ctx, const struct prism_ledger_view *l)
{
	struct sync_rows_ctx *c = ctx;
	struct jw *w = c->w;
	if (*c->n == c->max) {
		*c->more = true;
		return 1;
	}
	jw_obj(w);
	ledger_fields(w, l);
	jw_key(w, "host_id");
	if (!l->has_host)
		jw_null(w);
	else
		jw_int(w, l->host_id);
	jw_ktime(w, "next_attempt", l->next_attempt);
	jw_end_obj(w);
	(*c->n)++;
	return 0;
}

/* The rows of one target in one status, up to @p max; *more when there were more. */
static int sync_rows_of(struct api_req *r, const char *target, const char *status, int64_t max,
			int64_t *n, bool *more)
{
	struct sync_rows_ctx c = {api_jw(r->api), max, n, more};
	return r->api->rd->sync_rows(api_reader(r->api), target, status, max - *n + 1, sync_row,
				     &c);
}

/* Ledger rows in one status (failed by default) with their last errors: what failed and why. */
/* The engine's target names (taken on the loop: api_loop_call). */
struct target_names {
	struct prism_api *api;
	size_t n;
	char v[API_MAX_TARGETS][64];
};

static void target_names_collect(void *arg)
{
	struct target_names *t = arg;
	struct prism_engine *e = t->api->opts.engine;
	for (size_t i = 0; i < prism_engine_ntargets(e) && t->n < API_MAX_TARGETS; i++) {
		struct prism_engine_target_info ti;
		if (prism_engine_target_info(e, i, &ti) == 0)
			snprintf(t->v[t->n++], sizeof(t->v[0]), "%s", ti.name);
	}
}

static void h_v1_sync_rows(struct api_req *r)
{
	const char *status = api_arg(r, "status"), *target = api_arg(r, "target");
	int64_t limit, n = 0;
	bool more = false, found = target == NULL;
	if (!arg_range(r, "limit", 100, 1, PAGE_MAX, &limit))
		return;
	if (status == NULL)
		status = "failed";
	if (strcmp(status, "pending") != 0 && strcmp(status, "failed") != 0 &&
	    strcmp(status, "conflict") != 0) {
		api_error(r, 400, "invalid_parameter",
			  "status must be pending, failed or conflict");
		return;
	}
	struct target_names t = {.api = r->api};
	if (api_loop_call(r->api, target_names_collect, &t) != 0) {
		api_error(r, 503, "unavailable", "the daemon is shutting down");
		return;
	}
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "rows");
	jw_arr(w);
	for (size_t i = 0; i < t.n && !more; i++) {
		if (target != NULL && strcmp(target, t.v[i]) != 0)
			continue;
		found = true;
		if (sync_rows_of(r, t.v[i], status, limit, &n, &more) != 0) {
			api_db_failed(r);
			return;
		}
	}
	if (!found) {
		api_error(r, 404, "not_found", "no target %s", target);
		return;
	}
	jw_end_arr(w);
	jw_kbool(w, "truncated", more);
	jw_end_obj(w);
	api_reply(r, 200);
}

static int run_retry(struct prism_store *s, const struct prism_store_api *st, struct api_job *j)
{
	int rc = st->ledger_retry(s, j->name[0] ? j->name : NULL, j->now, &j->count);
	if (rc != 0 || j->count == 0)
		return rc;
	char object[300], after[64];
	snprintf(object, sizeof(object), "sync:%s", j->name[0] ? j->name : "*");
	snprintf(after, sizeof(after), "{\"retried\":%zu}", j->count);
	return api_audit(s, st, j, "sync.retry", object, NULL, after);
}

static void done_retry(struct api_req *r, struct api_job *j, int err)
{
	if (err != 0) {
		store_failed(r, err);
		return;
	}
	if (j->count > 0) {
		r->api->ledger_at = 0;
		prism_engine_wake(r->api->opts.engine);
	}
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kint(w, "retried", (int64_t)j->count);
	jw_end_obj(w);
	api_reply(r, 200);
}

static void h_v1_sync_retry(struct api_req *r)
{
	struct prism_api_value v[1];
	if (!body_check(r, prism_api_body_sync_retry, v))
		return;
	const char *target = v[0].str;
	if (target != NULL) {
		bool known = false;
		struct prism_engine_target_info ti;
		for (size_t i = 0; i < prism_engine_ntargets(r->api->opts.engine); i++)
			if (prism_engine_target_info(r->api->opts.engine, i, &ti) == 0 &&
			    strcmp(ti.name, target) == 0)
				known = true;
		if (!known) {
			api_error(r, 404, "not_found", "no target called '%s'", target);
			return;
		}
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", target ? target : "");
	j->run = run_retry;
	j->done = done_retry;
	api_submit(r, j);
}

/* ---- plan and reconcile ---- */

static const char *const plan_actions[] = {
	[PRISM_PLAN_CREATE] = "create",
	[PRISM_PLAN_UPDATE] = "update",
	[PRISM_PLAN_DELETE] = "delete",
	[PRISM_PLAN_CONFLICT] = "conflict",
};

static void done_plan(struct api_req *r, struct api_job *j, int err)
{
	const struct prism_plan_zone *zones = j->data;
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "zones");
	jw_arr(w);
	for (size_t i = 0; i < j->count; i++) {
		const struct prism_plan_zone *z = &zones[i];
		jw_obj(w);
		jw_kstr(w, "target", z->target);
		jw_kstr(w, "zone", z->zone);
		if (z->err != 0) {
			jw_kstr(w, "error", z->errmsg);
		} else {
			jw_kint(w, "in_sync", (int64_t)z->res.in_sync);
			jw_kint(w, "create", (int64_t)z->res.create);
			jw_kint(w, "update", (int64_t)z->res.update);
			jw_kint(w, "delete", (int64_t)z->res.remove);
			jw_kint(w, "conflict", (int64_t)z->res.conflict);
			jw_key(w, "changes");
			jw_arr(w);
			for (size_t k = 0; k < z->res.nitems; k++) {
				jw_obj(w);
				jw_kstr(w, "action", plan_actions[z->res.items[k].action]);
				jw_kstr(w, "name", z->res.items[k].name);
				jw_kstr(w, "type", z->res.items[k].type);
				jw_end_obj(w);
			}
			jw_end_arr(w);
		}
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	if (err != 0) {
		api_error(r, 500, "internal", "cannot compute the plan: %s", prism_strerror(err));
		return;
	}
	api_reply(r, 200);
}

static void plan_cb(void *arg, const struct prism_plan_zone *zones, size_t n)
{
	struct api_job *j = arg;
	j->data = zones;
	j->count = n;
	api_job_complete(j, 0);
}

static void h_v1_sync_plan(struct api_req *r)
{
	if (r->api->opts.engine == NULL) {
		api_error(r, 503, "unavailable", "DNS sync is disabled: there is no target");
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	j->done = done_plan;
	api_job_attach(r, j);
	int rc = prism_engine_plan(r->api->opts.engine, plan_cb, j);
	if (rc != 0) {
		j->data = NULL;
		j->count = 0;
		api_job_complete(j, rc);
	}
}

static void h_v1_sync_reconcile(struct api_req *r)
{
	if (r->api->opts.engine == NULL) {
		api_error(r, 503, "unavailable", "DNS sync is disabled: there is no target");
		return;
	}
	prism_engine_reconcile(r->api->opts.engine);
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "status", "reconcile started");
	jw_end_obj(w);
	api_reply(r, 202);
}

/* ---- audit and routes ---- */

/* An audit row. */
static int audit_row(void *ctx, const struct prism_audit_view *a)
{
	struct name_page *c = ctx;
	struct jw *w = c->w;
	jw_obj(w);
	jw_kint(w, "id", a->id);
	jw_ktime(w, "at", a->at);
	ktext(w, "actor", a->actor);
	ktext(w, "action", a->action);
	ktext(w, "object", a->object);
	jw_key(w, "before");
	jw_raw(w, a->before.s); /* JSON written by the API's own jobs */
	jw_key(w, "after");
	jw_raw(w, a->after.s);
	jw_end_obj(w);
	c->last_id = a->id;
	c->n++;
	return 0;
}

static void h_v1_audit(struct api_req *r)
{
	struct prism_api *api = r->api;
	int64_t limit, after = INT64_MAX;
	const char *a = api_arg(r, "after");
	if (!arg_range(r, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit))
		return;
	if (a != NULL && !parse_int(a, &after)) {
		api_error(r, 400, "invalid_parameter", "after must be a cursor from 'next'");
		return;
	}
	struct name_page c = {.w = api_jw(api)};
	struct jw *w = c.w;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "entries");
	jw_arr(w);
	if (api->rd->audit_list(api_reader(api), after, limit, audit_row, &c) != 0) {
		api_db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_key(w, "next");
	if (c.n == limit) {
		char cur[24];
		snprintf(cur, sizeof(cur), "%" PRId64, c.last_id);
		jw_str(w, cur);
	} else {
		jw_null(w);
	}
	jw_end_obj(w);
	api_reply(r, 200);
}

static const char *const access_names[] = {
	[ACCESS_READ] = "read",	    [ACCESS_WRITE] = "write",	  [ACCESS_ADMIN] = "admin",
	[ACCESS_HEALTH] = "health", [ACCESS_METRICS] = "metrics",
};

static void h_v1_routes(struct api_req *r)
{
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "routes");
	jw_arr(w);
	for (size_t i = 0; i < api_nroutes; i++) {
		jw_obj(w);
		jw_kstr(w, "method", api_routes[i].method);
		jw_kstr(w, "path", api_routes[i].path);
		jw_kstr(w, "access", access_names[api_routes[i].access]);
		jw_end_obj(w);
	}
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

/* Literal routes before templated ones of the same shape: the first match wins. */
const struct api_route api_routes[] = {
	{"GET", "/api/health", ACCESS_HEALTH, false, h_health, false, false, true},
	{"GET", "/metrics", ACCESS_METRICS, false, h_metrics, false, false, true},
	{"GET", "/api/hosts", ACCESS_READ, false, h_compat_hosts, false, true},
	{"GET", "/api/hosts/stats/summary", ACCESS_READ, false, h_compat_summary, false, false,
	 true},
	{"GET", "/api/hosts/status/{status}", ACCESS_READ, false, h_compat_hosts_status, false,
	 true},
	{"GET", "/api/hosts/{id}", ACCESS_READ, false, h_compat_host, false, true},
	{"GET", "/api/v1/hosts", ACCESS_READ, false, h_v1_hosts, false, true},
	{"GET", "/api/v1/hosts/{host}", ACCESS_READ, false, h_v1_host, false, true},
	{"DELETE", "/api/v1/hosts/{host}", ACCESS_WRITE, false, h_v1_host_delete, false, true},
	{"POST", "/api/v1/hosts/{host}/release", ACCESS_ADMIN, true, h_v1_host_release, false,
	 true},
	{"GET", "/api/v1/tokens", ACCESS_READ, false, h_v1_tokens, false, true},
	{"POST", "/api/v1/tokens", ACCESS_ADMIN, true, h_v1_tokens_create},
	{"DELETE", "/api/v1/tokens/{name}", ACCESS_ADMIN, false, h_v1_token_revoke},
	{"GET", "/api/v1/keys", ACCESS_ADMIN, false, h_v1_keys, false, true},
	{"POST", "/api/v1/keys", ACCESS_ADMIN, true, h_v1_keys_create},
	{"DELETE", "/api/v1/keys/{name}", ACCESS_ADMIN, false, h_v1_key_revoke},
	{"GET", "/api/v1/targets", ACCESS_READ, false, h_v1_targets, false, false, true},
	{"POST", "/api/v1/targets", ACCESS_ADMIN, true, h_v1_target_create},
	{"PATCH", "/api/v1/targets/{name}", ACCESS_ADMIN, true, h_v1_target_update},
	{"DELETE", "/api/v1/targets/{name}", ACCESS_ADMIN, true, h_v1_target_delete},
	{"POST", "/api/v1/targets/{name}/pause", ACCESS_ADMIN, true, h_v1_target_pause},
	{"POST", "/api/v1/targets/{name}/resume", ACCESS_ADMIN, true, h_v1_target_resume},
	{"POST", "/api/v1/targets/{name}/resync", ACCESS_ADMIN, true, h_v1_target_resync},
	{"GET", "/api/v1/cluster", ACCESS_READ, false, h_v1_cluster, true},
	{"GET", "/api/v1/cluster/instances", ACCESS_READ, false, h_v1_cluster_instances},
	{"GET", "/api/v1/sync", ACCESS_READ, false, h_v1_sync, false, false, true},
	{"POST", "/api/v1/sync/retry", ACCESS_WRITE, true, h_v1_sync_retry},
	{"GET", "/api/v1/sync/plan", ACCESS_READ, false, h_v1_sync_plan, true},
	{"GET", "/api/v1/sync/rows", ACCESS_READ, false, h_v1_sync_rows, false, true},
	{"POST", "/api/v1/sync/reconcile", ACCESS_WRITE, false, h_v1_sync_reconcile},
	{"GET", "/api/v1/zones", ACCESS_READ, false, h_v1_zones, false, true},
	{"POST", "/api/v1/zones", ACCESS_ADMIN, true, h_v1_zone_create},
	{"GET", "/api/v1/zones/{zone}", ACCESS_READ, false, h_v1_zone, false, true},
	{"DELETE", "/api/v1/zones/{zone}", ACCESS_ADMIN, false, h_v1_zone_delete, false, true},
	{"GET", "/api/v1/zones/{zone}/records", ACCESS_READ, false, h_v1_records, false, true},
	{"POST", "/api/v1/zones/{zone}/records", ACCESS_WRITE, true, h_v1_records_put, false,
	 true},
	{"DELETE", "/api/v1/zones/{zone}/records/{name}/{type}", ACCESS_WRITE, false,
	 h_v1_record_delete, false, true},
	{"GET", "/api/v1/zones/{zone}/export", ACCESS_READ, false, h_v1_zone_export, false, true},
	{"POST", "/api/v1/zones/{zone}/import", ACCESS_ADMIN, true, h_v1_zone_import},
	{"GET", "/api/v1/zones/{zone}/dnssec", ACCESS_READ, false, h_v1_zone_dnssec, true, true},
	{"POST", "/api/v1/zones/{zone}/dnssec", ACCESS_ADMIN, true, h_v1_zone_dnssec_set},
	{"POST", "/api/v1/zones/{zone}/resync", ACCESS_ADMIN, true, h_v1_zone_resync, false, true},
	{"POST", "/api/v1/repoint", ACCESS_WRITE, true, h_v1_repoint, false, true},
	{"GET", "/api/v1/audit", ACCESS_READ, false, h_v1_audit, false, true},
	{"GET", "/api/v1/routes", ACCESS_READ, false, h_v1_routes, false, true},
	{"GET", "/api/v1/whoami", ACCESS_READ, false, h_v1_whoami, false, true},
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
