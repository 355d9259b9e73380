/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend's reads (store.h, struct prism_store_read_api): a read-only
 * connection of the reader's own, its statements prepared once, bounded (keyset
 * pagination, LIMITs, host counts kept by triggers). Rows go to the caller's callbacks as
 * views borrowing SQLite's column texts.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "store/sqlite_int.h"

#include "store/read_cols.h"

enum rd_query {
	Q_COUNTS,
	Q_SYNC_COUNTS,
	Q_LAST_SEEN,
	Q_HOST_BY_ID,
	Q_HOST_BY_NAME,
	Q_HOST_LEDGER,
	Q_PAGE_LEDGER,
	Q_KEY_BY_HASH,
	Q_KEYS_ANY,
	Q_TOKENS,
	Q_KEYS,
	Q_AUDIT,
	Q_LEDGER_COUNT,
	Q_LEDGER_OLDEST,
	Q_SEARCH_COUNT,
	Q_MAX_ID,
	Q_HOST_RECORDS,
	Q_SYNC_ROWS,
	Q_TARGET_ZONES,
	Q_TARGET_SERVES,
	Q_ZONE_DNSSEC,
	Q_ZONE_GET,
	Q_ZONES,
	Q_ZONE_COUNT,
	Q_RECORDS,
	Q_COUNT,
};

static const char *const query_sql[Q_COUNT] = {
	[Q_COUNTS] = "SELECT status, n FROM host_counts",
	[Q_SYNC_COUNTS] = "SELECT status, n FROM host_sync_counts",
	/* kept by the writer (sq_commit): an index on last_seen cost every heartbeat */
	[Q_LAST_SEEN] = "SELECT coalesce((SELECT value FROM meta WHERE name = 'last_seen'), 0)",
	[Q_HOST_BY_ID] = "SELECT " HOST_COLS " FROM hosts WHERE id = ?1",
	[Q_HOST_BY_NAME] = "SELECT " HOST_COLS " FROM hosts WHERE hostname = ?1",
	[Q_HOST_LEDGER] = "SELECT " LEDGER_COLS " FROM ledger WHERE host_id = ?1 "
			  "ORDER BY target, zone, name, type LIMIT 256",
	/* stepped alongside a page of hosts, only as far as its last host */
	[Q_PAGE_LEDGER] = "SELECT " LEDGER_COLS " FROM ledger WHERE host_id > ?1 "
			  "ORDER BY host_id",
	[Q_KEY_BY_HASH] = "SELECT name, role FROM api_keys WHERE hash = ?1 AND revoked = 0",
	[Q_KEYS_ANY] = "SELECT 1 FROM api_keys WHERE revoked = 0 LIMIT 1",
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
	[Q_HOST_RECORDS] = "SELECT zone, name, type, ttl, content, host_id FROM desired "
			   "WHERE host_id = ?1 ORDER BY zone, name, type LIMIT 256",
	/* through ledger_due (target, status, next_attempt): the soonest due first */
	[Q_SYNC_ROWS] = "SELECT " LEDGER_COLS " FROM ledger WHERE target = ?1 AND status = ?2 "
			"ORDER BY next_attempt LIMIT ?3",
	[Q_TARGET_ZONES] = "SELECT zone FROM target_zones WHERE target = ?1 ORDER BY zone",
	[Q_TARGET_SERVES] = "SELECT 1 FROM target_zones WHERE target = ?1 AND zone = ?2",
	[Q_ZONE_DNSSEC] = "SELECT dnssec FROM zones WHERE name = ?1",
	[Q_ZONE_GET] = "SELECT " ZONE_COLS ", -1 FROM zones WHERE name = ?1",
	[Q_ZONES] = "SELECT " ZONE_COLS ", (SELECT count(*) FROM desired d WHERE "
		    "d.zone = zones.name) FROM zones ORDER BY name",
	[Q_ZONE_COUNT] = "SELECT count(*) FROM desired WHERE zone = ?1",
	[Q_RECORDS] = "SELECT zone, name, type, ttl, content, host_id FROM desired "
		      "WHERE zone = ?1 AND (?2 IS NULL OR name = ?2) AND (?3 IS NULL OR "
		      "type = ?3) AND (name, type) > (?4, ?5) ORDER BY name, type LIMIT ?6",
};
enum { TK_NAME, TK_CREATED, TK_EXPIRES, TK_ACTIVE };
enum { KY_NAME, KY_ROLE, KY_CREATED, KY_REVOKED };
enum { AU_ID, AU_AT, AU_ACTOR, AU_ACTION, AU_OBJECT, AU_BEFORE, AU_AFTER };

/* host list statements: variants by filter (bit 0 status, bit 1 search) */
#define LIST_VARIANTS 4

struct prism_store_reader {
	sqlite3 *db;
	sqlite3_stmt *q[Q_COUNT];
	sqlite3_stmt *list_compat[LIST_VARIANTS];
	sqlite3_stmt *list_v1[LIST_VARIANTS];
};

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
	int n = snprintf(buf, len, "SELECT %s FROM hosts%s WHERE %s", v1 ? HOST_COLS : COMPAT_COLS,
			 variant & 1 ? " INDEXED BY hosts_status" : "", v1 ? "id > ?3" : "1");
	if (variant & 1)
		n += snprintf(buf + n, len - (size_t)n, " AND status = ?1");
	if (variant & 2)
		n += snprintf(buf + n, len - (size_t)n, " AND instr(hostname, ?2) > 0%s",
			      v1 ? " AND id <= ?5" : "");
	snprintf(buf + n, len - (size_t)n,
		 v1 ? " ORDER BY id LIMIT ?4" : " ORDER BY id LIMIT ?3 OFFSET ?4");
}

static void rd_close(struct prism_store_reader *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(r->q[i]);
	for (unsigned v = 0; v < LIST_VARIANTS; v++) {
		sqlite3_finalize(r->list_compat[v]);
		sqlite3_finalize(r->list_v1[v]);
	}
	sqlite3_close(r->db);
	free(r);
}

static int rd_prepare_all(struct prism_store_reader *r, char *err, size_t errlen)
{
	for (int i = 0; i < Q_COUNT; i++)
		if (prepare(r->db, query_sql[i], &r->q[i], err, errlen) != 0)
			return PRISM_ESTORE;
	char sql[1024];
	for (unsigned v = 0; v < LIST_VARIANTS; v++) {
		list_sql(sql, sizeof(sql), v, false);
		if (prepare(r->db, sql, &r->list_compat[v], err, errlen) != 0)
			return PRISM_ESTORE;
		list_sql(sql, sizeof(sql), v, true);
		if (prepare(r->db, sql, &r->list_v1[v], err, errlen) != 0)
			return PRISM_ESTORE;
	}
	return 0;
}

static int rd_open(const struct prism_store_opts *opts, struct prism_store_reader **out, char *err,
		   size_t errlen)
{
	struct prism_store_reader *r = calloc(1, sizeof(*r));
	*out = NULL;
	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return PRISM_ENOMEM;
	}
	int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(opts->path, &r->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "database.path %s: the API cannot open it (%s)", opts->path,
			 r->db ? sqlite3_errmsg(r->db) : "out of memory");
		rd_close(r);
		return PRISM_ESTORE;
	}
	sqlite3_busy_timeout(r->db, 1000);
	if (rd_prepare_all(r, err, errlen) != 0) {
		rd_close(r);
		return PRISM_ESTORE;
	}
	*out = r;
	return 0;
}

static const char *rd_error(struct prism_store_reader *r)
{
	return sqlite3_errmsg(r->db);
}

static sqlite3_stmt *query(struct prism_store_reader *r, enum rd_query q)
{
	sqlite3_stmt *st = r->q[q];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

/* a text column, its length from SQLite rather than strlen */
static struct prism_text text(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return (struct prism_text){t, t != NULL ? (size_t)sqlite3_column_bytes(st, i) : 0};
}

/* SQLITE_DONE (or a stop by the callback, SQLITE_ROW) is 0, anything else an error */
static int done_rc(int rc)
{
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}

/* One row that must come (an aggregate): its first column. */
static int one_int(sqlite3_stmt *st, int64_t *v)
{
	int rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}

static const char *const host_sync_states[4] = {"pending", "synced", "failed", "disabled"};

/* (status, n) rows into @p n by @p names */
static int status_counts(sqlite3_stmt *st, const char *const *names, size_t k, int64_t *n)
{
	int rc;
	memset(n, 0, k * sizeof(*n));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 0);
		for (size_t i = 0; status != NULL && i < k; i++)
			if (strcmp(status, names[i]) == 0)
				n[i] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int rd_host_counts(struct prism_store_reader *r, struct prism_host_counts *out)
{
	static const char *const host_states[2] = {"online", "offline"};
	int64_t n[2];
	memset(out, 0, sizeof(*out));
	if (status_counts(query(r, Q_COUNTS), host_states, 2, n) != 0 ||
	    status_counts(query(r, Q_SYNC_COUNTS), host_sync_states, 4, out->sync) != 0)
		return PRISM_ESTORE;
	out->online = n[0];
	out->offline = n[1];
	return one_int(query(r, Q_LAST_SEEN), &out->last_seen);
}

static const char *const ledger_states[4] = {"pending", "synced", "failed", "conflict"};

static int rd_ledger_counts(struct prism_store_reader *r, const char *target, int64_t n[4],
			    int64_t *oldest_pending)
{
	for (int s = 0; s < 4; s++) {
		sqlite3_stmt *st = query(r, Q_LEDGER_COUNT);
		sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, ledger_states[s], -1, SQLITE_STATIC);
		if (one_int(st, &n[s]) != 0)
			return PRISM_ESTORE;
	}
	sqlite3_stmt *st = query(r, Q_LEDGER_OLDEST);
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	*oldest_pending = 0;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*oldest_pending = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return done_rc(rc);
}

static void host_view(sqlite3_stmt *st, struct prism_host_view *h)
{
	h->id = sqlite3_column_int64(st, HC_ID);
	h->hostname = text(st, HC_NAME);
	h->current_ip = text(st, HC_IP);
	h->ipv4 = text(st, HC_V4);
	h->ipv6 = text(st, HC_V6);
	h->status = text(st, HC_STATUS);
	h->source = text(st, HC_SOURCE);
	h->first_seen = sqlite3_column_int64(st, HC_FIRST);
	h->last_seen = sqlite3_column_int64(st, HC_LAST);
	h->bound = sqlite3_column_int(st, HC_OWNED) != 0;
	h->dns_zone = text(st, HC_ZONE);
	h->dns_name = text(st, HC_RECORD);
	h->has_ttl = sqlite3_column_type(st, HC_TTL) != SQLITE_NULL;
	h->dns_ttl = sqlite3_column_int64(st, HC_TTL);
	h->dns_sync_status = text(st, HC_SYNC);
	h->dns_last_sync = sqlite3_column_int64(st, HC_LAST_SYNC);
}

static void compat_view(sqlite3_stmt *st, struct prism_host_view *h)
{
	memset(h, 0, sizeof(*h));
	h->id = sqlite3_column_int64(st, CC_ID);
	h->hostname = text(st, CC_NAME);
	h->current_ip = text(st, CC_IP);
	h->status = text(st, CC_STATUS);
	h->first_seen = sqlite3_column_int64(st, CC_FIRST);
	h->last_seen = sqlite3_column_int64(st, CC_LAST);
}

static void ledger_view(sqlite3_stmt *st, struct prism_ledger_view *l)
{
	l->has_host = sqlite3_column_type(st, LC_HOST) != SQLITE_NULL;
	l->host_id = sqlite3_column_int64(st, LC_HOST);
	l->target = text(st, LC_TARGET);
	l->zone = text(st, LC_ZONE);
	l->name = text(st, LC_NAME);
	l->type = text(st, LC_TYPE);
	l->status = text(st, LC_STATUS);
	l->attempts = sqlite3_column_int64(st, LC_ATTEMPTS);
	l->last_error = text(st, LC_ERROR);
	l->updated_at = sqlite3_column_int64(st, LC_UPDATED);
	l->next_attempt = sqlite3_column_int64(st, LC_NEXT);
}

static int rd_host_get(struct prism_store_reader *r, int64_t id, const char *name,
		       int (*cb)(void *ctx, const struct prism_host_view *h), void *ctx)
{
	sqlite3_stmt *st;
	if (name != NULL) {
		st = query(r, Q_HOST_BY_NAME);
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	} else {
		st = query(r, Q_HOST_BY_ID);
		sqlite3_bind_int64(st, 1, id);
	}
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		struct prism_host_view h;
		host_view(st, &h);
		cb(ctx, &h);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PRISM_ENOTFOUND : PRISM_ESTORE;
}

/* The ledger rows of host @p id from @p lg (host_id order), stepped as far as past it. */
static int merge_ledger(sqlite3_stmt *lg, int *lrc, int64_t id, const struct prism_hosts_visit *v,
			void *ctx)
{
	while (*lrc == SQLITE_ROW && sqlite3_column_int64(lg, LC_HOST) < id)
		*lrc = sqlite3_step(lg);
	while (*lrc == SQLITE_ROW && sqlite3_column_int64(lg, LC_HOST) == id) {
		struct prism_ledger_view l;
		ledger_view(lg, &l);
		if (v->ledger(ctx, &l) != 0)
			return 1;
		*lrc = sqlite3_step(lg);
	}
	return 0;
}

/*
 * One pass over a page of hosts, merged with one pass over the ledger rows of the hosts
 * after the cursor (in host_id order through the ledger_host index): each host gets its
 * rows without a query of its own.
 */
static int rd_hosts_list(struct prism_store_reader *r, const struct prism_hosts_query *q,
			 const struct prism_hosts_visit *v, void *ctx)
{
	unsigned variant = (q->status ? 1u : 0u) | (q->search ? 2u : 0u);
	sqlite3_stmt *st = q->compat ? r->list_compat[variant] : r->list_v1[variant];
	sqlite3_reset(st);
	if (q->status != NULL)
		sqlite3_bind_text(st, 1, q->status, -1, SQLITE_STATIC);
	if (q->search != NULL)
		sqlite3_bind_text(st, 2, q->search, -1, SQLITE_STATIC);
	if (q->compat) {
		sqlite3_bind_int64(st, 3, q->limit);
		sqlite3_bind_int64(st, 4, q->offset);
	} else {
		if (q->search != NULL)
			sqlite3_bind_int64(st, 5, q->upto ? q->upto : INT64_MAX);
		sqlite3_bind_int64(st, 3, q->after);
		sqlite3_bind_int64(st, 4, q->limit);
	}
	sqlite3_stmt *lg = NULL;
	if (!q->compat && q->with_ledger) {
		lg = query(r, Q_PAGE_LEDGER);
		sqlite3_bind_int64(lg, 1, q->after);
	}
	int rc = SQLITE_DONE, lrc = SQLITE_DONE;
	bool lg_started = false;
	int64_t n = 0;
	while (n < q->limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_host_view h;
		if (q->compat)
			compat_view(st, &h);
		else
			host_view(st, &h);
		if (v->host(ctx, &h) != 0)
			break;
		if (lg != NULL) {
			if (!lg_started) {
				lrc = sqlite3_step(lg);
				lg_started = true;
			}
			if (merge_ledger(lg, &lrc, h.id, v, ctx) != 0)
				break;
		}
		if (v->host_end != NULL && v->host_end(ctx, &h) != 0)
			break;
		n++;
	}
	if (n == q->limit)
		rc = SQLITE_DONE;
	sqlite3_reset(st);
	if (lg != NULL)
		sqlite3_reset(lg);
	return done_rc(rc) != 0 || done_rc(lrc) != 0 ? PRISM_ESTORE : 0;
}

static int rd_hosts_search_count(struct prism_store_reader *r, const char *status,
				 const char *search, int64_t *n)
{
	sqlite3_stmt *st = query(r, Q_SEARCH_COUNT);
	if (status != NULL)
		sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, search, -1, SQLITE_STATIC);
	return one_int(st, n);
}

static int rd_hosts_max_id(struct prism_store_reader *r, int64_t *id)
{
	return one_int(query(r, Q_MAX_ID), id);
}

static int ledger_rows(sqlite3_stmt *st, int (*cb)(void *ctx, const struct prism_ledger_view *l),
		       void *ctx)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_ledger_view l;
		ledger_view(st, &l);
		if (cb(ctx, &l) != 0)
			break;
	}
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_host_ledger(struct prism_store_reader *r, int64_t id,
			  int (*cb)(void *ctx, const struct prism_ledger_view *l), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_HOST_LEDGER);
	sqlite3_bind_int64(st, 1, id);
	return ledger_rows(st, cb, ctx);
}

static int rd_sync_rows(struct prism_store_reader *r, const char *target, const char *status,
			int64_t limit, int (*cb)(void *ctx, const struct prism_ledger_view *l),
			void *ctx)
{
	sqlite3_stmt *st = query(r, Q_SYNC_ROWS);
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, limit);
	return ledger_rows(st, cb, ctx);
}

static int record_rows(sqlite3_stmt *st, int (*cb)(void *ctx, const struct prism_record_view *rec),
		       void *ctx);

static int rd_host_records(struct prism_store_reader *r, int64_t id,
			   int (*cb)(void *ctx, const struct prism_record_view *rec), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_HOST_RECORDS);
	sqlite3_bind_int64(st, 1, id);
	return record_rows(st, cb, ctx);
}

static int rd_apikey_by_hash(struct prism_store_reader *r, const char *hash, char *name,
			     size_t namelen, char *role, size_t rolelen)
{
	sqlite3_stmt *st = query(r, Q_KEY_BY_HASH);
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *n = (const char *)sqlite3_column_text(st, 0);
		const char *ro = (const char *)sqlite3_column_text(st, 1);
		snprintf(name, namelen, "%s", n != NULL ? n : "");
		snprintf(role, rolelen, "%s", ro != NULL ? ro : "");
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PRISM_ENOTFOUND : PRISM_ESTORE;
}

static int rd_apikeys_any(struct prism_store_reader *r, bool *any)
{
	sqlite3_stmt *st = query(r, Q_KEYS_ANY);
	int rc = sqlite3_step(st);
	*any = rc == SQLITE_ROW;
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_tokens_list(struct prism_store_reader *r, const char *after, int64_t limit,
			  int (*cb)(void *ctx, const struct prism_token_view *t), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_TOKENS);
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_token_view t = {
			.name = text(st, TK_NAME),
			.created_at = sqlite3_column_int64(st, TK_CREATED),
			.expires_at = sqlite3_column_int64(st, TK_EXPIRES),
			.active = sqlite3_column_int(st, TK_ACTIVE) != 0,
		};
		if (cb(ctx, &t) != 0)
			break;
	}
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_apikeys_list(struct prism_store_reader *r, const char *after, int64_t limit,
			   int (*cb)(void *ctx, const struct prism_apikey_view *k), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_KEYS);
	sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, limit);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_apikey_view k = {
			.name = text(st, KY_NAME),
			.role = text(st, KY_ROLE),
			.created_at = sqlite3_column_int64(st, KY_CREATED),
			.revoked = sqlite3_column_int(st, KY_REVOKED) != 0,
		};
		if (cb(ctx, &k) != 0)
			break;
	}
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_audit_list(struct prism_store_reader *r, int64_t before, int64_t limit,
			 int (*cb)(void *ctx, const struct prism_audit_view *a), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_AUDIT);
	sqlite3_bind_int64(st, 1, before);
	sqlite3_bind_int64(st, 2, limit);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_audit_view a = {
			.id = sqlite3_column_int64(st, AU_ID),
			.at = sqlite3_column_int64(st, AU_AT),
			.actor = text(st, AU_ACTOR),
			.action = text(st, AU_ACTION),
			.object = text(st, AU_OBJECT),
			.before = text(st, AU_BEFORE),
			.after = text(st, AU_AFTER),
		};
		if (cb(ctx, &a) != 0)
			break;
	}
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_target_zones(struct prism_store_reader *r, const char *target,
			   int (*cb)(void *ctx, const char *zone), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_TARGET_ZONES);
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (cb(ctx, (const char *)sqlite3_column_text(st, 0)) != 0)
			break;
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_target_serves(struct prism_store_reader *r, const char *target, const char *zone,
			    bool *serves)
{
	sqlite3_stmt *st = query(r, Q_TARGET_SERVES);
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, zone, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*serves = rc == SQLITE_ROW;
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_zone_dnssec(struct prism_store_reader *r, const char *zone, bool *on)
{
	sqlite3_stmt *st = query(r, Q_ZONE_DNSSEC);
	sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*on = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? PRISM_ENOTFOUND : PRISM_ESTORE;
}

static int zone_rows(sqlite3_stmt *st, bool one,
		     int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx)
{
	int rc;
	bool found = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_zone_view z = {
			.name = text(st, ZC_NAME),
			.kind = text(st, ZC_KIND),
			.targets = text(st, ZC_TARGETS),
			.nameservers = text(st, ZC_NS),
			.soa = text(st, ZC_SOA),
			.ttl = sqlite3_column_int64(st, ZC_TTL),
			.dnssec = sqlite3_column_int(st, ZC_DNSSEC) != 0,
			.adopt = sqlite3_column_int(st, ZC_ADOPT) != 0,
			.origin = text(st, ZC_ORIGIN),
			.created_at = sqlite3_column_int64(st, ZC_CREATED),
			.records = sqlite3_column_int64(st, ZC_RECORDS),
		};
		found = true;
		if (cb(ctx, &z) != 0)
			break;
	}
	sqlite3_reset(st);
	if (done_rc(rc) != 0)
		return PRISM_ESTORE;
	return one && !found ? PRISM_ENOTFOUND : 0;
}

static int rd_zone_get(struct prism_store_reader *r, const char *zone,
		       int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_ZONE_GET);
	sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
	return zone_rows(st, true, cb, ctx);
}

static int rd_zones_list(struct prism_store_reader *r,
			 int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx)
{
	return zone_rows(query(r, Q_ZONES), false, cb, ctx);
}

static int rd_zone_record_count(struct prism_store_reader *r, const char *zone, int64_t *n)
{
	sqlite3_stmt *st = query(r, Q_ZONE_COUNT);
	sqlite3_bind_text(st, 1, zone, -1, SQLITE_STATIC);
	return one_int(st, n);
}

static int record_rows(sqlite3_stmt *st, int (*cb)(void *ctx, const struct prism_record_view *rec),
		       void *ctx)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_record_view v = {
			.zone = text(st, RC_ZONE),
			.name = text(st, RC_NAME),
			.type = text(st, RC_TYPE),
			.ttl = sqlite3_column_int64(st, RC_TTL),
			.content = text(st, RC_CONTENT),
			.has_host = sqlite3_column_type(st, RC_HOST) != SQLITE_NULL,
			.host_id = sqlite3_column_int64(st, RC_HOST),
		};
		if (cb(ctx, &v) != 0)
			break;
	}
	sqlite3_reset(st);
	return done_rc(rc);
}

static int rd_records_list(struct prism_store_reader *r, const struct prism_records_query *q,
			   int (*cb)(void *ctx, const struct prism_record_view *rec), void *ctx)
{
	sqlite3_stmt *st = query(r, Q_RECORDS);
	sqlite3_bind_text(st, 1, q->zone, -1, SQLITE_STATIC);
	if (q->name != NULL)
		sqlite3_bind_text(st, 2, q->name, -1, SQLITE_STATIC);
	if (q->type != NULL)
		sqlite3_bind_text(st, 3, q->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, q->after_name ? q->after_name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, q->after_type ? q->after_type : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, q->limit > 0 ? q->limit : -1);
	return record_rows(st, cb, ctx);
}

const struct prism_store_read_api prism_sqlite_read = {
	.open = rd_open,
	.close = rd_close,
	.error = rd_error,
	.host_counts = rd_host_counts,
	.ledger_counts = rd_ledger_counts,
	.host_get = rd_host_get,
	.hosts_list = rd_hosts_list,
	.hosts_search_count = rd_hosts_search_count,
	.hosts_max_id = rd_hosts_max_id,
	.host_ledger = rd_host_ledger,
	.host_records = rd_host_records,
	.sync_rows = rd_sync_rows,
	.apikey_by_hash = rd_apikey_by_hash,
	.apikeys_any = rd_apikeys_any,
	.tokens_list = rd_tokens_list,
	.apikeys_list = rd_apikeys_list,
	.audit_list = rd_audit_list,
	.target_zones = rd_target_zones,
	.target_serves = rd_target_serves,
	.zone_dnssec = rd_zone_dnssec,
	.zone_get = rd_zone_get,
	.zones_list = rd_zones_list,
	.zone_record_count = rd_zone_record_count,
	.records_list = rd_records_list,
};
