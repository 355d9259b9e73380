/* SPDX-License-Identifier: MIT */
/*
 * The routes: the route table, the read queries (prepared once on the API's read-only
 * connection, bounded: keyset pagination, LIMIT <= 1000, host counts kept by triggers) and
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
#include "core/api_body.h"
#include "core/error.h"
#include "core/timefmt.h"
#include "prism_version.h"

#define PAGE_MAX 1000
#define PAGE_DEFAULT 50
#define SEARCH_MAX 253
#define SEARCH_WINDOW 100000   /* ids a v1 search looks at per page */
#define NAME_MAX_LEN PRISM_API_NAME_MAX
#define HEALTH_FAILED_WINDOW_MS 60000

const char *const api_sync_states[4] = { "pending", "synced", "failed", "conflict" };
const char *const api_host_sync_states[4] = { "pending", "synced", "failed", "disabled" };

#define HOST_COLS                                                                          \
	"id, hostname, current_ip, ipv4, ipv6, status, first_seen, last_seen, dns_zone, "  \
	"dns_record_id, dns_ttl, dns_sync_status, dns_last_sync, "                          \
	"owner_token_hash IS NOT NULL, source"
enum { HC_ID, HC_NAME, HC_IP, HC_V4, HC_V6, HC_STATUS, HC_FIRST, HC_LAST, HC_ZONE, HC_RECORD,
       HC_TTL, HC_SYNC, HC_LAST_SYNC, HC_OWNED, HC_SOURCE };

static const char *const query_sql[Q_COUNT] = {
	[Q_COUNTS] = "SELECT status, n FROM host_counts",
	[Q_SYNC_COUNTS] = "SELECT status, n FROM host_sync_counts",
	[Q_LAST_SEEN] = "SELECT max(coalesce((SELECT max(last_seen) FROM hosts WHERE status = "
			"'online'), 0), coalesce((SELECT max(last_seen) FROM hosts WHERE "
			"status = 'offline'), 0))",
	[Q_HOST_BY_ID] = "SELECT " HOST_COLS " FROM hosts WHERE id = ?1",
	[Q_HOST_BY_NAME] = "SELECT " HOST_COLS " FROM hosts WHERE hostname = ?1",
	[Q_HOST_LEDGER] = "SELECT host_id, target, zone, name, type, status, attempts, "
			  "last_error, updated_at FROM ledger WHERE host_id = ?1 "
			  "ORDER BY target, zone, name, type LIMIT 256",
	/* stepped alongside a page of hosts, only as far as its last host */
	[Q_PAGE_LEDGER] = "SELECT host_id, target, zone, name, type, status, attempts, "
			  "last_error, updated_at FROM ledger WHERE host_id > ?1 "
			  "ORDER BY host_id",
	[Q_KEY_BY_HASH] = "SELECT name, role FROM api_keys WHERE hash = ?1 AND revoked = 0",
	[Q_TOKENS] = "SELECT name, created_at, expires_at, active FROM tokens WHERE name > ?1 "
		     "ORDER BY name, created_at LIMIT ?2",
	[Q_KEYS] = "SELECT name, role, created_at, revoked FROM api_keys WHERE name > ?1 "
		   "ORDER BY name, created_at LIMIT ?2",
	[Q_AUDIT] = "SELECT id, at, actor, action, object, before, after FROM audit "
		    "WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
	[Q_LEDGER_COUNT] = "SELECT count(*) FROM ledger WHERE target = ?1 AND status = ?2",
	[Q_LEDGER_OLDEST] = "SELECT min(updated_at) FROM ledger WHERE target = ?1 "
			    "AND status = 'pending'",
	[Q_SEARCH_COUNT] = "SELECT count(*) FROM hosts WHERE instr(hostname, ?2) > 0 "
			   "AND (?1 IS NULL OR status = ?1)",
	[Q_MAX_ID] = "SELECT max(id) FROM hosts",
	[Q_HOST_RECORDS] = "SELECT zone, name, type, ttl, content FROM desired WHERE host_id = ?1 "
			   "ORDER BY zone, name, type LIMIT 256",
	/* through ledger_due (target, status, next_attempt): the soonest due first */
	[Q_SYNC_ROWS] = "SELECT host_id, target, zone, name, type, status, attempts, last_error, "
			"updated_at, next_attempt FROM ledger WHERE target = ?1 AND status = ?2 "
			"ORDER BY next_attempt LIMIT ?3",
};

/* ---- the read-only connection ---- */

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) == SQLITE_OK)
		return 0;
	snprintf(err, errlen, "database.path: cannot prepare the API's queries (%s)",
		 sqlite3_errmsg(db));
	return PRISM_ESTORE;
}

/* Host list statements: bit 0 = status filter (?1), bit 1 = search (?2). */
static void list_sql(char *buf, size_t len, unsigned variant, bool v1)
{
	/* with a status, the status index in id order: the planner, knowing only two
	 * statuses, would scan the table in id order for the few offline hosts of a million
	 * (measured: 190 ms a page at 1,000,000 hosts, 10 offline; bench/ui_bench.py) */
	int n = snprintf(buf, len, "SELECT %s FROM hosts%s WHERE %s",
			 v1 ? HOST_COLS : "id, hostname, current_ip, status, first_seen, last_seen",
			 variant & 1 ? " INDEXED BY hosts_status" : "", v1 ? "id > ?3" : "1");
	if (variant & 1)
		n += snprintf(buf + n, len - (size_t)n, " AND status = ?1");
	if (variant & 2)
		n += snprintf(buf + n, len - (size_t)n, " AND instr(hostname, ?2) > 0%s",
			      v1 ? " AND id <= ?5" : "");
	snprintf(buf + n, len - (size_t)n, v1 ? " ORDER BY id LIMIT ?4"
					      : " ORDER BY id LIMIT ?3 OFFSET ?4");
}

int api_open_db(struct prism_api *api, char *err, size_t errlen);
void api_close_db(struct prism_api *api);

int api_open_db(struct prism_api *api, char *err, size_t errlen)
{
	const char *path = api->cfg->database_path;
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(path, &api->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "database.path %s: the API cannot open it (%s)", path,
			 api->db ? sqlite3_errmsg(api->db) : "out of memory");
		return PRISM_ESTORE;
	}
	sqlite3_busy_timeout(api->db, 1000);
	for (int i = 0; i < Q_COUNT; i++)
		if (prepare(api->db, query_sql[i], &api->q[i], err, errlen) != 0)
			return PRISM_ESTORE;
	char sql[1024];
	for (unsigned v = 0; v < API_LIST_VARIANTS; v++) {
		list_sql(sql, sizeof(sql), v, false);
		if (prepare(api->db, sql, &api->list_compat[v], err, errlen) != 0)
			return PRISM_ESTORE;
		list_sql(sql, sizeof(sql), v, true);
		if (prepare(api->db, sql, &api->list_v1[v], err, errlen) != 0)
			return PRISM_ESTORE;
	}
	return 0;
}

void api_close_db(struct prism_api *api)
{
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(api->q[i]);
	for (unsigned v = 0; v < API_LIST_VARIANTS; v++) {
		sqlite3_finalize(api->list_compat[v]);
		sqlite3_finalize(api->list_v1[v]);
	}
	sqlite3_close(api->db);
}

static sqlite3_stmt *query(struct prism_api *api, enum api_query q)
{
	sqlite3_stmt *st = api->q[q];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* "key": text column (null when NULL), its length from SQLite rather than strlen */
static void kcol(struct jw *w, const char *key, sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	jw_key(w, key);
	if (t == NULL)
		jw_null(w);
	else
		jw_strn(w, t, (size_t)sqlite3_column_bytes(st, i));
}

int api_refresh_counts(struct prism_api *api)
{
	uint64_t now = uv_now(api->loop);
	if (api->counts_at != 0 && now - api->counts_at < 1000)
		return 0;
	sqlite3_stmt *st = query(api, Q_COUNTS);
	int rc;
	int64_t online = 0, offline = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = col(st, 0);
		if (status != NULL && strcmp(status, "online") == 0)
			online = sqlite3_column_int64(st, 1);
		else if (status != NULL && strcmp(status, "offline") == 0)
			offline = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	int64_t sync[4] = { 0 };
	st = query(api, Q_SYNC_COUNTS);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		for (size_t i = 0; i < 4; i++)
			if (col(st, 0) != NULL && strcmp(col(st, 0), api_host_sync_states[i]) == 0)
				sync[i] = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	memcpy(api->sync_hosts, sync, sizeof(sync));
	st = query(api, Q_LAST_SEEN);
	rc = sqlite3_step(st);
	int64_t last = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return PRISM_ESTORE;
	api->online = online;
	api->offline = offline;
	api->last_seen = last;
	api->counts_at = now ? now : 1;
	return 0;
}

static int ledger_one(struct prism_api *api, const char *target, struct api_ledger_counts *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->target, sizeof(c->target), "%s", target);
	for (int s = 0; s < 4; s++) {
		sqlite3_stmt *st = query(api, Q_LEDGER_COUNT);
		sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, api_sync_states[s], -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		c->n[s] = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			return PRISM_ESTORE;
	}
	sqlite3_stmt *st = query(api, Q_LEDGER_OLDEST);
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		c->oldest_pending = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int api_refresh_ledger(struct prism_api *api)
{
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
		api_error(r, 400, "invalid_parameter", "%s must be an integer between %" PRId64
			  " and %" PRId64, name, lo, hi);
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

/* A host id from the path: digits, or a hostname looked up now. */
static bool path_host_id(struct api_req *r, const char *p, int64_t *id)
{
	if (parse_int(p, id) && *id > 0)
		return true;
	sqlite3_stmt *st = query(r->api, Q_HOST_BY_NAME);
	char name[SEARCH_MAX + 2];
	size_t n = strlen(p);
	for (size_t i = 0; i <= n && i < sizeof(name); i++)
		name[i] = (char)tolower((unsigned char)p[i]);
	name[sizeof(name) - 1] = '\0';
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, HC_ID) : 0;
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return true;
	api_error(r, 404, "not_found", "no host %s", p);
	return false;
}

static void store_failed(struct api_req *r, int err)
{
	if (err == PRISM_ENOMEM)
		api_error(r, 500, "internal", "out of memory");
	else
		api_error(r, 503, "unavailable", "the registry could not be written (%s)",
			  prism_strerror(err));
}

static void db_failed(struct api_req *r)
{
	api_error(r, 503, "unavailable", "the registry could not be read (%s)",
		  sqlite3_errmsg(r->api->db));
}

/* ---- body helpers ---- */

/* Check the parsed body against the route's fields (core/api_body.h); answers when refused. */
static bool body_check(struct api_req *r, const struct prism_api_field *fields,
		       struct prism_api_value *values)
{
	struct prism_api_body_err e = { .status = 500, .code = "internal", .message = "no body" };
	if (prism_api_body_fields(r->json, fields, (int64_t)time(NULL), values, &e) == 0)
		return true;
	api_error(r, e.status, e.code, "%s", e.message);
	return false;
}

/* ---- JSON of hosts ---- */

static void host_compat(struct jw *w, sqlite3_stmt *st, bool detail)
{
	jw_obj(w);
	jw_kint(w, "id", sqlite3_column_int64(st, HC_ID));
	kcol(w, "hostname", st, HC_NAME);
	kcol(w, "current_ip", st, HC_IP);
	/* the compat list statement has fewer columns: status, first, last at 3, 4, 5 */
	int s = detail ? HC_STATUS : 3, f = detail ? HC_FIRST : 4, l = detail ? HC_LAST : 5;
	jw_kstr(w, "status", col(st, s));
	jw_ktime(w, "first_seen", sqlite3_column_int64(st, f));
	jw_ktime(w, "last_seen", sqlite3_column_int64(st, l));
	if (detail) {
		kcol(w, "dns_zone", st, HC_ZONE);
		kcol(w, "dns_sync_status", st, HC_SYNC);
		kcol(w, "source", st, HC_SOURCE);
	}
	jw_end_obj(w);
}

/* The fields of a ledger row (columns of Q_HOST_LEDGER / Q_PAGE_LEDGER / Q_SYNC_ROWS from 1). */
static void ledger_fields(struct jw *w, sqlite3_stmt *st)
{
	kcol(w, "target", st, 1);
	kcol(w, "zone", st, 2);
	kcol(w, "name", st, 3);
	kcol(w, "type", st, 4);
	kcol(w, "status", st, 5);
	jw_kint(w, "attempts", sqlite3_column_int64(st, 6));
	kcol(w, "last_error", st, 7);
	jw_ktime(w, "updated_at", sqlite3_column_int64(st, 8));
}

static void ledger_row(struct jw *w, sqlite3_stmt *st)
{
	jw_obj(w);
	ledger_fields(w, st);
	jw_end_obj(w);
}

/* A v1 host without its closing brace: the caller adds "sync". */
static void host_v1_open(struct jw *w, sqlite3_stmt *st)
{
	jw_obj(w);
	jw_kint(w, "id", sqlite3_column_int64(st, HC_ID));
	kcol(w, "hostname", st, HC_NAME);
	kcol(w, "current_ip", st, HC_IP);
	jw_kstr(w, "ipv4", col(st, HC_V4));
	jw_kstr(w, "ipv6", col(st, HC_V6));
	kcol(w, "status", st, HC_STATUS);
	kcol(w, "source", st, HC_SOURCE);
	jw_ktime(w, "first_seen", sqlite3_column_int64(st, HC_FIRST));
	jw_ktime(w, "last_seen", sqlite3_column_int64(st, HC_LAST));
	jw_kbool(w, "bound", sqlite3_column_int(st, HC_OWNED) != 0);
	kcol(w, "dns_zone", st, HC_ZONE);
	kcol(w, "dns_name", st, HC_RECORD);
	jw_key(w, "dns_ttl");
	if (sqlite3_column_type(st, HC_TTL) == SQLITE_NULL)
		jw_null(w);
	else
		jw_int(w, sqlite3_column_int64(st, HC_TTL));
	kcol(w, "dns_sync_status", st, HC_SYNC);
	jw_ktime(w, "dns_last_sync", sqlite3_column_int64(st, HC_LAST_SYNC));
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
	struct jw *w = &api->jw;
	bool readable = api_refresh_counts(api) == 0;
	bool writable = registry_writable(api);
	size_t nt = prism_engine_ntargets(api->opts.engine), bad = 0;
	char reasons[4][160];
	size_t nr = 0;
	if (!readable)
		snprintf(reasons[nr++], sizeof(reasons[0]), "registry: cannot be read");
	if (!writable)
		snprintf(reasons[nr++], sizeof(reasons[0]), "registry: a write failed in the "
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
	if (search == NULL) {
		if (api_refresh_counts(api) != 0)
			return PRISM_ESTORE;
		*total = status == NULL ? api->online + api->offline
			 : strcmp(status, "online") == 0 ? api->online : api->offline;
		return 0;
	}
	sqlite3_stmt *st = query(api, Q_SEARCH_COUNT);
	if (status != NULL)
		sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, search, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*total = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
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
		db_failed(r);
		return;
	}
	unsigned variant = (status ? 1u : 0u) | (search ? 2u : 0u);
	sqlite3_stmt *st = api->list_compat[variant];
	sqlite3_reset(st);
	if (status != NULL)
		sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	if (search != NULL)
		sqlite3_bind_text(st, 2, search, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, per_page);
	sqlite3_bind_int64(st, 4, (page - 1) * per_page);
	struct jw *w = &api->jw;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "hosts");
	jw_arr(w);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		host_compat(w, st, false);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_failed(r);
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

static void h_compat_host(struct api_req *r)
{
	int64_t id;
	if (!parse_int(r->params[0], &id)) {
		api_error(r, 400, "invalid_parameter", "the host id must be an integer");
		return;
	}
	sqlite3_stmt *st = query(r->api, Q_HOST_BY_ID);
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		jw_reset(&r->api->jw);
		host_compat(&r->api->jw, st, true);
	}
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		api_reply(r, 200);
	else if (rc == SQLITE_DONE)
		api_error(r, 404, "not_found", "no host with id %" PRId64, id);
	else
		db_failed(r);
}

static void h_compat_summary(struct api_req *r)
{
	struct prism_api *api = r->api;
	if (api_refresh_counts(api) != 0) {
		db_failed(r);
		return;
	}
	struct jw *w = &api->jw;
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

/*
 * One pass over a page of hosts, merged with one pass over the ledger rows of the hosts
 * after the cursor (in host_id order through the ledger_host index): each host gets its
 * rows without a query of its own.
 */
static void v1_page(struct api_req *r, sqlite3_stmt *st, int64_t limit, int64_t after,
		    int64_t window_end, bool search)
{
	struct prism_api *api = r->api;
	struct jw *w = &api->jw;
	sqlite3_stmt *lg = query(api, Q_PAGE_LEDGER);
	sqlite3_bind_int64(lg, 1, after);
	int rc = SQLITE_DONE, lrc = SQLITE_DONE;
	bool lg_started = false;
	int64_t n = 0, last = 0;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "hosts");
	jw_arr(w);
	while (n < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, HC_ID);
		host_v1_open(w, st);
		jw_key(w, "sync");
		jw_arr(w);
		if (!lg_started) {
			lrc = sqlite3_step(lg);
			lg_started = true;
		}
		while (lrc == SQLITE_ROW && sqlite3_column_int64(lg, 0) < id)
			lrc = sqlite3_step(lg);
		while (lrc == SQLITE_ROW && sqlite3_column_int64(lg, 0) == id) {
			ledger_row(w, lg);
			lrc = sqlite3_step(lg);
		}
		jw_end_arr(w);
		jw_end_obj(w);
		last = id;
		n++;
	}
	sqlite3_reset(st);
	sqlite3_reset(lg);
	if ((rc != SQLITE_ROW && rc != SQLITE_DONE) || (lrc != SQLITE_ROW && lrc != SQLITE_DONE)) {
		db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_key(w, "next");
	char cur[24];
	if (n == limit) {
		snprintf(cur, sizeof(cur), "%" PRId64, last);
		jw_str(w, cur);
	} else if (search && window_end > 0) {
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
		sqlite3_stmt *mx = query(api, Q_MAX_ID);
		int64_t max_id = sqlite3_step(mx) == SQLITE_ROW ? sqlite3_column_int64(mx, 0) : 0;
		sqlite3_reset(mx);
		window_end = after + SEARCH_WINDOW;
		if (window_end >= max_id)
			window_end = 0; /* the window reaches the end: no cursor after it */
	}
	unsigned variant = (status ? 1u : 0u) | (search ? 2u : 0u);
	sqlite3_stmt *st = api->list_v1[variant];
	sqlite3_reset(st);
	if (status != NULL)
		sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	if (search != NULL) {
		sqlite3_bind_text(st, 2, search, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, window_end ? window_end : INT64_MAX);
	}
	sqlite3_bind_int64(st, 3, after);
	sqlite3_bind_int64(st, 4, limit);
	v1_page(r, st, limit, after, window_end, search != NULL);
}

static void h_v1_host(struct api_req *r)
{
	struct prism_api *api = r->api;
	const char *p = r->params[0];
	int64_t id;
	sqlite3_stmt *st;
	char name[SEARCH_MAX + 2];
	if (parse_int(p, &id)) {
		st = query(api, Q_HOST_BY_ID);
		sqlite3_bind_int64(st, 1, id);
	} else {
		size_t n = strlen(p);
		if (n > SEARCH_MAX) {
			api_error(r, 404, "not_found", "no such host");
			return;
		}
		for (size_t i = 0; i <= n; i++)
			name[i] = (char)tolower((unsigned char)p[i]);
		st = query(api, Q_HOST_BY_NAME);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			api_error(r, 404, "not_found", "no host %s", p);
		else
			db_failed(r);
		return;
	}
	struct jw *w = &api->jw;
	jw_reset(w);
	id = sqlite3_column_int64(st, HC_ID);
	host_v1_open(w, st);
	sqlite3_reset(st);
	jw_key(w, "sync");
	jw_arr(w);
	sqlite3_stmt *lg = query(api, Q_HOST_LEDGER);
	sqlite3_bind_int64(lg, 1, id);
	while (sqlite3_step(lg) == SQLITE_ROW)
		ledger_row(w, lg);
	sqlite3_reset(lg);
	jw_end_arr(w);
	/* the host's records as the registry wants them (the same on every target) */
	jw_key(w, "records");
	jw_arr(w);
	sqlite3_stmt *rs = query(api, Q_HOST_RECORDS);
	sqlite3_bind_int64(rs, 1, id);
	while (sqlite3_step(rs) == SQLITE_ROW) {
		jw_obj(w);
		kcol(w, "zone", rs, 0);
		kcol(w, "name", rs, 1);
		kcol(w, "type", rs, 2);
		jw_kint(w, "ttl", sqlite3_column_int64(rs, 3));
		api_content_list(w, "content", col(rs, 4));
		jw_end_obj(w);
	}
	sqlite3_reset(rs);
	jw_end_arr(w);
	jw_end_obj(w);
	api_reply(r, 200);
}

/* ---- write jobs ---- */

static void brief_json(char *out, size_t len, const struct prism_host_brief *b)
{
	struct jw w = { 0 };
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

static int audit(struct prism_store *s, const struct prism_store_api *st, struct api_job *j,
		 const char *action, const char *object, const char *before, const char *after)
{
	struct prism_audit_entry e = { j->now, j->actor, action, object, before, after };
	return st->audit_add(s, &e);
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
	return audit(s, st, j, "host.delete", object, before, NULL);
}

static void brief_reply(struct api_req *r, const char *key, const struct prism_host_brief *b)
{
	struct jw *w = &r->api->jw;
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
	return audit(s, st, j, "host.release", object, before, after);
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
	struct jw w = { 0 };
	jw_obj(&w);
	jw_kstr(&w, "name", j->name);
	jw_key(&w, "expires_at");
	jw_raw(&w, exp);
	jw_end_obj(&w);
	const char *text = jw_text(&w);
	snprintf(after, sizeof(after), "%s", text != NULL ? text : "null");
	jw_free(&w);
	snprintf(object, sizeof(object), "token:%s", j->name);
	return audit(s, st, j, "token.create", object, NULL, after);
}

static void done_token_create(struct api_req *r, struct api_job *j, int err)
{
	if (err == PRISM_ECONFLICT) {
		api_error(r, 409, "conflict", "an active token called '%s' exists", j->name);
	} else if (err != 0) {
		store_failed(r, err);
	} else {
		struct jw *w = &r->api->jw;
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

static void h_v1_tokens(struct api_req *r)
{
	struct prism_api *api = r->api;
	int64_t limit, n = 0;
	const char *after;
	if (page_args(r, &limit, &after) != 0)
		return;
	sqlite3_stmt *st = query(api, Q_TOKENS);
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	struct jw *w = &api->jw;
	char last[NAME_MAX_LEN * 4 + 1] = "";
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "tokens");
	jw_arr(w);
	int rc;
	int64_t now = (int64_t)time(NULL);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t exp = sqlite3_column_int64(st, 2);
		bool active = sqlite3_column_int(st, 3) != 0;
		jw_obj(w);
		kcol(w, "name", st, 0);
		jw_ktime(w, "created_at", sqlite3_column_int64(st, 1));
		jw_ktime(w, "expires_at", exp);
		jw_kbool(w, "active", active);
		jw_kbool(w, "expired", exp > 0 && exp <= now);
		jw_end_obj(w);
		snprintf(last, sizeof(last), "%s", col(st, 0));
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_kstr(w, "next", n == limit ? last : NULL);
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
	return audit(s, st, j, "token.revoke", object, "{\"active\":true}", "{\"active\":false}");
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
	struct jw *w = &r->api->jw;
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
	return role == PRISM_API_ROLE_ADMIN ? "admin"
	       : role == PRISM_API_ROLE_WRITE ? "write" : "read";
}

/* The caller's key: its name and role (the dashboard draws only what the role may use). */
static void h_v1_whoami(struct api_req *r)
{
	struct jw *w = &r->api->jw;
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

static int run_key_add(struct prism_store *s, const struct prism_store_api *st,
		       struct api_job *j)
{
	/* j->text holds "role\0key" */
	const char *role = j->text;
	int rc = st->apikey_add(s, j->name, j->hash, role, j->now);
	if (rc != 0)
		return rc;
	char after[400], object[300];
	snprintf(after, sizeof(after), "{\"role\":\"%s\"}", role);
	snprintf(object, sizeof(object), "key:%s", j->name);
	return audit(s, st, j, "key.create", object, NULL, after);
}

static void done_key_add(struct api_req *r, struct api_job *j, int err)
{
	const char *role = j->text, *key = j->text + strlen(j->text) + 1;
	if (err == PRISM_ECONFLICT) {
		api_error(r, 409, "conflict", "an API key called '%s' exists", j->name);
	} else if (err != 0) {
		store_failed(r, err);
	} else {
		struct jw *w = &r->api->jw;
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

static void h_v1_keys(struct api_req *r)
{
	struct prism_api *api = r->api;
	int64_t limit, n = 0;
	const char *after;
	if (page_args(r, &limit, &after) != 0)
		return;
	struct jw *w = &api->jw;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "keys");
	jw_arr(w);
	if (after == NULL) {
		for (size_t i = 0; i < api->nkeys; i++) {
			jw_obj(w);
			jw_kstr(w, "name", api->keys[i].name);
			jw_kstr(w, "role", role_name(api->keys[i].role));
			jw_kstr(w, "source", "config");
			jw_kbool(w, "active", true);
			jw_end_obj(w);
		}
	}
	sqlite3_stmt *st = query(api, Q_KEYS);
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	char last[NAME_MAX_LEN * 4 + 1] = "";
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		jw_obj(w);
		kcol(w, "name", st, 0);
		kcol(w, "role", st, 1);
		jw_kstr(w, "source", "api");
		jw_ktime(w, "created_at", sqlite3_column_int64(st, 2));
		jw_kbool(w, "active", sqlite3_column_int(st, 3) == 0);
		jw_end_obj(w);
		snprintf(last, sizeof(last), "%s", col(st, 0));
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_kstr(w, "next", n == limit ? last : NULL);
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
	return audit(s, st, j, "key.revoke", object, "{\"active\":true}", "{\"active\":false}");
}

static void h_v1_key_revoke(struct api_req *r)
{
	if (config_key(r->api, r->params[0])) {
		api_error(r, 409, "conflict", "the API key '%s' is in the configuration: remove "
			  "it there", r->params[0]);
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

static const struct api_ledger_counts *ledger_of(struct prism_api *api, const char *target)
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
		db_failed(r);
		return;
	}
	struct jw *w = &api->jw;
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
		ledger_json(w, ledger_of(api, ti.name), now);
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
	return audit(s, st, j, j->flag ? "target.pause" : "target.resume", object, before, after);
}

static void done_target_state(struct api_req *r, struct api_job *j, int err)
{
	if (err != 0) {
		store_failed(r, err);
		return;
	}
	struct jw *w = &r->api->jw;
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
	if (!body_check(r, prism_api_body_none, v))
		return;
	const char *name = r->params[0];
	struct prism_engine_target_info ti;
	if (prism_engine_pause(api->opts.engine, name, paused) != 0) {
		api_error(r, 404, "not_found", "no target called '%s'", name);
		return;
	}
	struct api_job *j = api_job_new(r);
	if (j == NULL)
		return;
	snprintf(j->name, sizeof(j->name), "%s", name);
	for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine); i++)
		if (prism_engine_target_info(api->opts.engine, i, &ti) == 0 &&
		    strcmp(ti.name, name) == 0)
			snprintf(j->text, sizeof(j->text), "%s", ti.state);
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
		db_failed(r);
		return;
	}
	struct jw *w = &api->jw;
	int64_t now = (int64_t)time(NULL), total[4] = { 0 };
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

/* The rows of one target in one status, up to @p max; *more when there were more. */
static int sync_rows_of(struct api_req *r, const char *target, const char *status,
			int64_t max, int64_t *n, bool *more)
{
	struct jw *w = &r->api->jw;
	sqlite3_stmt *st = query(r->api, Q_SYNC_ROWS);
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, max - *n + 1);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == max) {
			*more = true;
			break;
		}
		jw_obj(w);
		ledger_fields(w, st);
		jw_key(w, "host_id");
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			jw_null(w);
		else
			jw_int(w, sqlite3_column_int64(st, 0));
		jw_ktime(w, "next_attempt", sqlite3_column_int64(st, 9));
		jw_end_obj(w);
		(*n)++;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* Ledger rows in one status (failed by default) with their last errors: what failed and why. */
static void h_v1_sync_rows(struct api_req *r)
{
	struct prism_engine *e = r->api->opts.engine;
	const char *status = api_arg(r, "status"), *target = api_arg(r, "target");
	int64_t limit, n = 0;
	bool more = false, found = target == NULL;
	if (!arg_range(r, "limit", 100, 1, PAGE_MAX, &limit))
		return;
	if (status == NULL)
		status = "failed";
	if (strcmp(status, "pending") != 0 && strcmp(status, "failed") != 0 &&
	    strcmp(status, "conflict") != 0) {
		api_error(r, 400, "invalid_parameter", "status must be pending, failed or conflict");
		return;
	}
	struct jw *w = &r->api->jw;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "rows");
	jw_arr(w);
	for (size_t i = 0; i < prism_engine_ntargets(e) && !more; i++) {
		struct prism_engine_target_info ti;
		if (prism_engine_target_info(e, i, &ti) != 0 ||
		    (target != NULL && strcmp(target, ti.name) != 0))
			continue;
		found = true;
		if (sync_rows_of(r, ti.name, status, limit, &n, &more) != 0) {
			db_failed(r);
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

static int run_retry(struct prism_store *s, const struct prism_store_api *st,
		     struct api_job *j)
{
	int rc = st->ledger_retry(s, j->name[0] ? j->name : NULL, j->now, &j->count);
	if (rc != 0 || j->count == 0)
		return rc;
	char object[300], after[64];
	snprintf(object, sizeof(object), "sync:%s", j->name[0] ? j->name : "*");
	snprintf(after, sizeof(after), "{\"retried\":%zu}", j->count);
	return audit(s, st, j, "sync.retry", object, NULL, after);
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
	struct jw *w = &r->api->jw;
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
	struct jw *w = &r->api->jw;
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
	struct jw *w = &r->api->jw;
	jw_reset(w);
	jw_obj(w);
	jw_kstr(w, "status", "reconcile started");
	jw_end_obj(w);
	api_reply(r, 202);
}

/* ---- audit and routes ---- */

static void h_v1_audit(struct api_req *r)
{
	struct prism_api *api = r->api;
	int64_t limit, after = INT64_MAX, n = 0, last = 0;
	const char *a = api_arg(r, "after");
	if (!arg_range(r, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit))
		return;
	if (a != NULL && !parse_int(a, &after)) {
		api_error(r, 400, "invalid_parameter", "after must be a cursor from 'next'");
		return;
	}
	sqlite3_stmt *st = query(api, Q_AUDIT);
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, limit);
	struct jw *w = &api->jw;
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "entries");
	jw_arr(w);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		jw_obj(w);
		jw_kint(w, "id", last);
		jw_ktime(w, "at", sqlite3_column_int64(st, 1));
		kcol(w, "actor", st, 2);
		kcol(w, "action", st, 3);
		kcol(w, "object", st, 4);
		jw_key(w, "before");
		jw_raw(w, col(st, 5)); /* JSON written by the API's own jobs */
		jw_key(w, "after");
		jw_raw(w, col(st, 6));
		jw_end_obj(w);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		db_failed(r);
		return;
	}
	jw_end_arr(w);
	jw_key(w, "next");
	if (n == limit) {
		char cur[24];
		snprintf(cur, sizeof(cur), "%" PRId64, last);
		jw_str(w, cur);
	} else {
		jw_null(w);
	}
	jw_end_obj(w);
	api_reply(r, 200);
}

static const char *const access_names[] = {
	[ACCESS_READ] = "read", [ACCESS_WRITE] = "write", [ACCESS_ADMIN] = "admin",
	[ACCESS_HEALTH] = "health", [ACCESS_METRICS] = "metrics",
};

static void h_v1_routes(struct api_req *r)
{
	struct jw *w = &r->api->jw;
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
	{ "GET", "/api/health", ACCESS_HEALTH, false, h_health },
	{ "GET", "/metrics", ACCESS_METRICS, false, h_metrics },
	{ "GET", "/api/hosts", ACCESS_READ, false, h_compat_hosts },
	{ "GET", "/api/hosts/stats/summary", ACCESS_READ, false, h_compat_summary },
	{ "GET", "/api/hosts/status/{status}", ACCESS_READ, false, h_compat_hosts_status },
	{ "GET", "/api/hosts/{id}", ACCESS_READ, false, h_compat_host },
	{ "GET", "/api/v1/hosts", ACCESS_READ, false, h_v1_hosts },
	{ "GET", "/api/v1/hosts/{host}", ACCESS_READ, false, h_v1_host },
	{ "DELETE", "/api/v1/hosts/{host}", ACCESS_WRITE, false, h_v1_host_delete },
	{ "POST", "/api/v1/hosts/{host}/release", ACCESS_ADMIN, true, h_v1_host_release },
	{ "GET", "/api/v1/tokens", ACCESS_READ, false, h_v1_tokens },
	{ "POST", "/api/v1/tokens", ACCESS_ADMIN, true, h_v1_tokens_create },
	{ "DELETE", "/api/v1/tokens/{name}", ACCESS_ADMIN, false, h_v1_token_revoke },
	{ "GET", "/api/v1/keys", ACCESS_ADMIN, false, h_v1_keys },
	{ "POST", "/api/v1/keys", ACCESS_ADMIN, true, h_v1_keys_create },
	{ "DELETE", "/api/v1/keys/{name}", ACCESS_ADMIN, false, h_v1_key_revoke },
	{ "GET", "/api/v1/targets", ACCESS_READ, false, h_v1_targets },
	{ "POST", "/api/v1/targets", ACCESS_ADMIN, true, h_v1_target_create },
	{ "PATCH", "/api/v1/targets/{name}", ACCESS_ADMIN, true, h_v1_target_update },
	{ "DELETE", "/api/v1/targets/{name}", ACCESS_ADMIN, true, h_v1_target_delete },
	{ "POST", "/api/v1/targets/{name}/pause", ACCESS_ADMIN, true, h_v1_target_pause },
	{ "POST", "/api/v1/targets/{name}/resume", ACCESS_ADMIN, true, h_v1_target_resume },
	{ "POST", "/api/v1/targets/{name}/resync", ACCESS_ADMIN, true, h_v1_target_resync },
	{ "GET", "/api/v1/cluster", ACCESS_READ, false, h_v1_cluster, true },
	{ "GET", "/api/v1/sync", ACCESS_READ, false, h_v1_sync },
	{ "POST", "/api/v1/sync/retry", ACCESS_WRITE, true, h_v1_sync_retry },
	{ "GET", "/api/v1/sync/plan", ACCESS_READ, false, h_v1_sync_plan, true },
	{ "GET", "/api/v1/sync/rows", ACCESS_READ, false, h_v1_sync_rows },
	{ "POST", "/api/v1/sync/reconcile", ACCESS_WRITE, false, h_v1_sync_reconcile },
	{ "GET", "/api/v1/zones", ACCESS_READ, false, h_v1_zones },
	{ "POST", "/api/v1/zones", ACCESS_ADMIN, true, h_v1_zone_create },
	{ "GET", "/api/v1/zones/{zone}", ACCESS_READ, false, h_v1_zone },
	{ "DELETE", "/api/v1/zones/{zone}", ACCESS_ADMIN, false, h_v1_zone_delete },
	{ "GET", "/api/v1/zones/{zone}/records", ACCESS_READ, false, h_v1_records },
	{ "POST", "/api/v1/zones/{zone}/records", ACCESS_WRITE, true, h_v1_records_put },
	{ "DELETE", "/api/v1/zones/{zone}/records/{name}/{type}", ACCESS_WRITE, false,
	  h_v1_record_delete },
	{ "GET", "/api/v1/zones/{zone}/export", ACCESS_READ, false, h_v1_zone_export },
	{ "POST", "/api/v1/zones/{zone}/import", ACCESS_ADMIN, true, h_v1_zone_import },
	{ "GET", "/api/v1/zones/{zone}/dnssec", ACCESS_READ, false, h_v1_zone_dnssec, true },
	{ "POST", "/api/v1/zones/{zone}/dnssec", ACCESS_ADMIN, true, h_v1_zone_dnssec_set },
	{ "POST", "/api/v1/zones/{zone}/resync", ACCESS_ADMIN, true, h_v1_zone_resync },
	{ "POST", "/api/v1/repoint", ACCESS_WRITE, true, h_v1_repoint },
	{ "GET", "/api/v1/audit", ACCESS_READ, false, h_v1_audit },
	{ "GET", "/api/v1/routes", ACCESS_READ, false, h_v1_routes },
	{ "GET", "/api/v1/whoami", ACCESS_READ, false, h_v1_whoami },
};

const size_t api_nroutes = sizeof(api_routes) / sizeof(api_routes[0]);
