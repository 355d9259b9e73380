/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend's reads (store.h, struct prism_store_read_api): a connection of
 * the reader's own (the REST API opens one per read thread; never shared), its statements
 * prepared once per connection, bounded like SQLite's (keyset pagination, LIMITs, host
 * counts kept by triggers). Rows go to the caller's callbacks as views borrowing libpq's
 * result texts. A read is a network round trip: blocking is set, so the API never reads
 * on its loop thread.
 *
 * A lost connection fails the read (an error answer, never an empty one); the next read
 * makes it again, not more often than every 250 ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "store/pg_int.h"
#include "store/pg_parts.h"

#include "store/read_cols.h"

/* The host lists by filter: compat pages by LIMIT $1 OFFSET $2, v1 by id > $1 LIMIT $2;
 * the status and the search follow as $3 (and $4), v1's search bound last. */
static const char *const list_compat[4] = {
	"SELECT " COMPAT_COLS " FROM hosts ORDER BY id LIMIT $1 OFFSET $2",
	"SELECT " COMPAT_COLS " FROM hosts WHERE status = $3 ORDER BY id LIMIT $1 OFFSET $2",
	"SELECT " COMPAT_COLS " FROM hosts WHERE strpos(hostname, $3) > 0 "
	"ORDER BY id LIMIT $1 OFFSET $2",
	"SELECT " COMPAT_COLS " FROM hosts WHERE status = $3 AND strpos(hostname, $4) > 0 "
	"ORDER BY id LIMIT $1 OFFSET $2",
};
static const char *const list_v1[4] = {
	"SELECT " HOST_COLS " FROM hosts WHERE id > $1 ORDER BY id LIMIT $2",
	"SELECT " HOST_COLS " FROM hosts WHERE id > $1 AND status = $3 ORDER BY id LIMIT $2",
	"SELECT " HOST_COLS " FROM hosts WHERE id > $1 AND strpos(hostname, $3) > 0 "
	"AND id <= $4 ORDER BY id LIMIT $2",
	"SELECT " HOST_COLS " FROM hosts WHERE id > $1 AND status = $3 AND "
	"strpos(hostname, $4) > 0 AND id <= $5 ORDER BY id LIMIT $2",
};

struct prism_store_reader {
	struct prism_store st; /* the backend's helpers work on it (pg_int.h) */
	int64_t next_try;      /* reconnection: not before (ms, CLOCK_MONOTONIC) */
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rd_close(struct prism_store_reader *r)
{
	if (r == NULL)
		return;
	if (r->st.conn != NULL)
		PQfinish(r->st.conn);
	if (r->st.conninfo != NULL) {
		explicit_bzero(r->st.conninfo, strlen(r->st.conninfo));
		free(r->st.conninfo);
	}
	free(r);
}

static int rd_open(const struct prism_store_opts *opts, struct prism_store_reader **out, char *err,
		   size_t errlen)
{
	*out = NULL;
	if (opts == NULL || opts->url == NULL) {
		snprintf(err, errlen, "database.url: not set");
		return PRISM_ESTORE;
	}
	struct prism_store_reader *r = calloc(1, sizeof(*r));
	if (r == NULL || (r->st.conninfo = strdup(opts->url)) == NULL) {
		free(r);
		snprintf(err, errlen, "out of memory");
		return PRISM_ENOMEM;
	}
	r->st.conn = pg_connect(r->st.conninfo);
	if (r->st.conn == NULL || PQstatus(r->st.conn) != CONNECTION_OK) {
		char where[256];
		prism_store_pg_describe(r->st.conninfo, where, sizeof(where));
		snprintf(err, errlen, "the API cannot connect to PostgreSQL at %s (%s)", where,
			 r->st.conn ? PQerrorMessage(r->st.conn) : "out of memory");
		size_t n = strlen(err);
		while (n > 0 && err[n - 1] == '\n')
			err[--n] = '\0';
		rd_close(r);
		return PRISM_ESTORE;
	}
	*out = r;
	return 0;
}

static const char *rd_error(struct prism_store_reader *r)
{
	return r->st.errmsg[0] ? r->st.errmsg : "unknown error";
}

/* Make a lost connection again (a new session: nothing prepared), at most every 250 ms. */
static bool reconnect(struct prism_store_reader *r)
{
	if (PQstatus(r->st.conn) == CONNECTION_OK)
		return true;
	int64_t now = mono_ms();
	if (now < r->next_try)
		return false;
	r->next_try = now + 250;
	PQreset(r->st.conn);
	r->st.nprep = 0;
	if (PQstatus(r->st.conn) == CONNECTION_OK)
		return true;
	snprintf(r->st.errmsg, sizeof(r->st.errmsg), "no connection to PostgreSQL");
	return false;
}

/* Run a read (@p sql a string constant); once more on a connection made again when the
 * first try found it lost. NULL: failed (rd_error says why). */
static PGresult *q(struct prism_store_reader *r, const char *sql, const struct pg_params *p)
{
	if (!reconnect(r))
		return NULL;
	PGresult *res = pg_exec(&r->st, sql, p);
	if (res == NULL && PQstatus(r->st.conn) != CONNECTION_OK && reconnect(r))
		res = pg_exec(&r->st, sql, p);
	return res;
}

static struct prism_text text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return (struct prism_text){NULL, 0};
	return (struct prism_text){PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col)};
}

/* One row that must come (an aggregate): its first column. */
static int one_int(struct prism_store_reader *r, const char *sql, const struct pg_params *p,
		   int64_t *v)
{
	*v = 0;
	PGresult *res = q(r, sql, p);
	if (res == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(res) == 1 ? 0 : PRISM_ESTORE;
	if (rc == 0)
		*v = pg_int(res, 0, 0);
	PQclear(res);
	return rc;
}

static const char *const host_sync_states[4] = {"pending", "synced", "failed", "disabled"};

static int status_counts(struct prism_store_reader *r, const char *sql, const char *const *names,
			 size_t k, int64_t *n)
{
	memset(n, 0, k * sizeof(*n));
	PGresult *res = q(r, sql, NULL);
	if (res == NULL)
		return PRISM_ESTORE;
	for (int i = 0; i < PQntuples(res); i++)
		for (size_t j = 0; j < k; j++)
			if (strcmp(PQgetvalue(res, i, 0), names[j]) == 0)
				n[j] = pg_int(res, i, 1);
	PQclear(res);
	return 0;
}

static int rd_host_counts(struct prism_store_reader *r, struct prism_host_counts *out)
{
	static const char *const host_states[2] = {"online", "offline"};
	int64_t n[2];
	memset(out, 0, sizeof(*out));
	/* rows of changes, summed (migration 3) */
	if (status_counts(r, "SELECT status, sum(n) FROM host_counts GROUP BY status", host_states,
			  2, n) != 0 ||
	    status_counts(r, "SELECT status, sum(n) FROM host_sync_counts GROUP BY status",
			  host_sync_states, 4, out->sync) != 0)
		return PRISM_ESTORE;
	out->online = n[0];
	out->offline = n[1];
	return one_int(r,
		       "SELECT greatest(coalesce((SELECT max(last_seen) FROM hosts WHERE status = "
		       "'online'), 0), coalesce((SELECT max(last_seen) FROM hosts WHERE "
		       "status = 'offline'), 0))",
		       NULL, &out->last_seen);
}

static int rd_ledger_counts(struct prism_store_reader *r, const char *target, int64_t n[4],
			    int64_t *oldest_pending)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	/* one statement: the four counts and the oldest pending row */
	PGresult *res = q(r,
			  "SELECT count(*) FILTER (WHERE status = 'pending'), "
			  "count(*) FILTER (WHERE status = 'synced'), "
			  "count(*) FILTER (WHERE status = 'failed'), "
			  "count(*) FILTER (WHERE status = 'conflict'), "
			  "min(updated_at) FILTER (WHERE status = 'pending') "
			  "FROM ledger WHERE target = $1",
			  &p);
	if (res == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(res) == 1 ? 0 : PRISM_ESTORE;
	for (int s = 0; s < 4; s++)
		n[s] = rc == 0 ? pg_int(res, 0, s) : 0;
	*oldest_pending = rc == 0 ? pg_int(res, 0, 4) : 0;
	PQclear(res);
	return rc;
}

static void host_view(const PGresult *res, int i, struct prism_host_view *h)
{
	h->id = pg_int(res, i, HC_ID);
	h->hostname = text(res, i, HC_NAME);
	h->current_ip = text(res, i, HC_IP);
	h->ipv4 = text(res, i, HC_V4);
	h->ipv6 = text(res, i, HC_V6);
	h->status = text(res, i, HC_STATUS);
	h->source = text(res, i, HC_SOURCE);
	h->first_seen = pg_int(res, i, HC_FIRST);
	h->last_seen = pg_int(res, i, HC_LAST);
	h->bound = pg_int(res, i, HC_OWNED) != 0;
	h->dns_zone = text(res, i, HC_ZONE);
	h->dns_name = text(res, i, HC_RECORD);
	h->has_ttl = !pg_null(res, i, HC_TTL);
	h->dns_ttl = pg_int(res, i, HC_TTL);
	h->dns_sync_status = text(res, i, HC_SYNC);
	h->dns_last_sync = pg_int(res, i, HC_LAST_SYNC);
}

static void compat_view(const PGresult *res, int i, struct prism_host_view *h)
{
	memset(h, 0, sizeof(*h));
	h->id = pg_int(res, i, CC_ID);
	h->hostname = text(res, i, CC_NAME);
	h->current_ip = text(res, i, CC_IP);
	h->status = text(res, i, CC_STATUS);
	h->first_seen = pg_int(res, i, CC_FIRST);
	h->last_seen = pg_int(res, i, CC_LAST);
}

static void ledger_view(const PGresult *res, int i, struct prism_ledger_view *l)
{
	l->has_host = !pg_null(res, i, LC_HOST);
	l->host_id = pg_int(res, i, LC_HOST);
	l->target = text(res, i, LC_TARGET);
	l->zone = text(res, i, LC_ZONE);
	l->name = text(res, i, LC_NAME);
	l->type = text(res, i, LC_TYPE);
	l->status = text(res, i, LC_STATUS);
	l->attempts = pg_int(res, i, LC_ATTEMPTS);
	l->last_error = text(res, i, LC_ERROR);
	l->updated_at = pg_int(res, i, LC_UPDATED);
	l->next_attempt = pg_int(res, i, LC_NEXT);
}

static int rd_host_get(struct prism_store_reader *r, int64_t id, const char *name,
		       int (*cb)(void *ctx, const struct prism_host_view *h), void *ctx)
{
	struct pg_params p = {0};
	PGresult *res;
	if (name != NULL) {
		pg_bind_text(&p, 1, name);
		res = q(r, "SELECT " HOST_COLS " FROM hosts WHERE hostname = $1", &p);
	} else {
		pg_bind_int(&p, 1, id);
		res = q(r, "SELECT " HOST_COLS " FROM hosts WHERE id = $1", &p);
	}
	if (res == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(res) > 0 ? 0 : PRISM_ENOTFOUND;
	if (rc == 0) {
		struct prism_host_view h;
		host_view(res, 0, &h);
		cb(ctx, &h);
	}
	PQclear(res);
	return rc;
}

/* The ledger rows of the hosts of a page (@p hosts, v1 columns), in host order. */
static PGresult *page_ledger(struct prism_store_reader *r, const PGresult *hosts)
{
	struct pg_array ids = {0};
	for (int i = 0; i < PQntuples(hosts); i++)
		pg_array_int(&ids, pg_int(hosts, i, HC_ID));
	const char *v = pg_array_end(&ids);
	PGresult *res = NULL;
	if (v != NULL) {
		struct pg_params p = {0};
		pg_bind_text(&p, 1, v);
		res = q(r,
			"SELECT " LEDGER_COLS " FROM ledger WHERE host_id = ANY ($1::bigint[]) "
			"ORDER BY host_id, target, zone, name, type",
			&p);
	}
	pg_array_free(&ids);
	return res;
}

/*
 * A page of hosts, then the ledger rows of those hosts in one more query, merged in host
 * order: each host gets its rows without a query of its own.
 */
static int rd_hosts_list(struct prism_store_reader *r, const struct prism_hosts_query *q_,
			 const struct prism_hosts_visit *v, void *ctx)
{
	unsigned variant = (q_->status ? 1u : 0u) | (q_->search ? 2u : 0u);
	struct pg_params p = {0};
	int i = 3;
	if (q_->compat) {
		pg_bind_int(&p, 1, q_->limit);
		pg_bind_int(&p, 2, q_->offset);
	} else {
		pg_bind_int(&p, 1, q_->after);
		pg_bind_int(&p, 2, q_->limit);
	}
	if (q_->status != NULL)
		pg_bind_text(&p, i++, q_->status);
	if (q_->search != NULL) {
		pg_bind_text(&p, i++, q_->search);
		if (!q_->compat)
			pg_bind_int(&p, i++, q_->upto ? q_->upto : INT64_MAX);
	}
	PGresult *res = q(r, q_->compat ? list_compat[variant] : list_v1[variant], &p);
	if (res == NULL)
		return PRISM_ESTORE;
	PGresult *lg = NULL;
	if (!q_->compat && q_->with_ledger && PQntuples(res) > 0 &&
	    (lg = page_ledger(r, res)) == NULL) {
		PQclear(res);
		return PRISM_ESTORE;
	}
	int li = 0, nl = lg ? PQntuples(lg) : 0;
	for (int h = 0; h < PQntuples(res) && h < q_->limit; h++) {
		struct prism_host_view hv;
		if (q_->compat)
			compat_view(res, h, &hv);
		else
			host_view(res, h, &hv);
		if (v->host(ctx, &hv) != 0)
			break;
		bool stop = false;
		while (lg != NULL && li < nl && pg_int(lg, li, LC_HOST) < hv.id)
			li++;
		while (lg != NULL && li < nl && pg_int(lg, li, LC_HOST) == hv.id && !stop) {
			struct prism_ledger_view l;
			ledger_view(lg, li++, &l);
			stop = v->ledger(ctx, &l) != 0;
		}
		if (stop || (v->host_end != NULL && v->host_end(ctx, &hv) != 0))
			break;
	}
	PQclear(lg);
	PQclear(res);
	return 0;
}

static int rd_hosts_search_count(struct prism_store_reader *r, const char *status,
				 const char *search, int64_t *n)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, status);
	pg_bind_text(&p, 2, search);
	return one_int(r,
		       "SELECT count(*) FROM hosts WHERE strpos(hostname, $2::text) > 0 "
		       "AND ($1::text IS NULL OR status = $1::text)",
		       &p, n);
}

static int rd_hosts_max_id(struct prism_store_reader *r, int64_t *id)
{
	return one_int(r, "SELECT max(id) FROM hosts", NULL, id);
}

static int ledger_rows(PGresult *res, int (*cb)(void *ctx, const struct prism_ledger_view *l),
		       void *ctx)
{
	if (res == NULL)
		return PRISM_ESTORE;
	for (int i = 0; i < PQntuples(res); i++) {
		struct prism_ledger_view l;
		ledger_view(res, i, &l);
		if (cb(ctx, &l) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

static int rd_host_ledger(struct prism_store_reader *r, int64_t id,
			  int (*cb)(void *ctx, const struct prism_ledger_view *l), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, id);
	return ledger_rows(q(r,
			     "SELECT " LEDGER_COLS " FROM ledger WHERE host_id = $1 "
			     "ORDER BY target, zone, name, type LIMIT 256",
			     &p),
			   cb, ctx);
}

static int rd_sync_rows(struct prism_store_reader *r, const char *target, const char *status,
			int64_t limit, int (*cb)(void *ctx, const struct prism_ledger_view *l),
			void *ctx)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_text(&p, 2, status);
	pg_bind_int(&p, 3, limit);
	/* through ledger_due (target, status, next_attempt): the soonest due first */
	return ledger_rows(q(r,
			     "SELECT " LEDGER_COLS " FROM ledger WHERE target = $1 AND "
			     "status = $2 ORDER BY next_attempt, zone, name, type LIMIT $3",
			     &p),
			   cb, ctx);
}

static int record_rows(PGresult *res, int (*cb)(void *ctx, const struct prism_record_view *rec),
		       void *ctx)
{
	if (res == NULL)
		return PRISM_ESTORE;
	for (int i = 0; i < PQntuples(res); i++) {
		struct prism_record_view v = {
			.zone = text(res, i, RC_ZONE),
			.name = text(res, i, RC_NAME),
			.type = text(res, i, RC_TYPE),
			.ttl = pg_int(res, i, RC_TTL),
			.content = text(res, i, RC_CONTENT),
			.has_host = !pg_null(res, i, RC_HOST),
			.host_id = pg_int(res, i, RC_HOST),
		};
		if (cb(ctx, &v) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

static int rd_host_records(struct prism_store_reader *r, int64_t id,
			   int (*cb)(void *ctx, const struct prism_record_view *rec), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, id);
	return record_rows(q(r,
			     "SELECT zone, name, type, ttl, content, host_id FROM desired "
			     "WHERE host_id = $1 ORDER BY zone, name, type LIMIT 256",
			     &p),
			   cb, ctx);
}

static int rd_apikey_by_hash(struct prism_store_reader *r, const char *hash, char *name,
			     size_t namelen, char *role, size_t rolelen)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, hash);
	PGresult *res =
		q(r, "SELECT name, role FROM api_keys WHERE hash = $1 AND revoked = 0", &p);
	if (res == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(res) > 0 ? 0 : PRISM_ENOTFOUND;
	if (rc == 0) {
		snprintf(name, namelen, "%s", PQgetvalue(res, 0, 0));
		snprintf(role, rolelen, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return rc;
}

static int rd_apikeys_any(struct prism_store_reader *r, bool *any)
{
	PGresult *res = q(r, "SELECT 1 FROM api_keys WHERE revoked = 0 LIMIT 1", NULL);
	*any = res != NULL && PQntuples(res) > 0;
	PQclear(res);
	return res != NULL ? 0 : PRISM_ESTORE;
}

static int rd_tokens_list(struct prism_store_reader *r, const char *after, int64_t limit,
			  int (*cb)(void *ctx, const struct prism_token_view *t), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, after ? after : "");
	pg_bind_int(&p, 2, limit);
	PGresult *res = q(r,
			  "SELECT name, created_at, expires_at, active FROM tokens WHERE "
			  "name > $1 ORDER BY name, created_at LIMIT $2",
			  &p);
	if (res == NULL)
		return PRISM_ESTORE;
	for (int i = 0; i < PQntuples(res); i++) {
		struct prism_token_view t = {
			.name = text(res, i, 0),
			.created_at = pg_int(res, i, 1),
			.expires_at = pg_int(res, i, 2),
			.active = pg_int(res, i, 3) != 0,
		};
		if (cb(ctx, &t) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

static int rd_apikeys_list(struct prism_store_reader *r, const char *after, int64_t limit,
			   int (*cb)(void *ctx, const struct prism_apikey_view *k), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, after ? after : "");
	pg_bind_int(&p, 2, limit);
	PGresult *res = q(r,
			  "SELECT name, role, created_at, revoked FROM api_keys WHERE "
			  "name > $1 ORDER BY name, created_at LIMIT $2",
			  &p);
	if (res == NULL)
		return PRISM_ESTORE;
	for (int i = 0; i < PQntuples(res); i++) {
		struct prism_apikey_view k = {
			.name = text(res, i, 0),
			.role = text(res, i, 1),
			.created_at = pg_int(res, i, 2),
			.revoked = pg_int(res, i, 3) != 0,
		};
		if (cb(ctx, &k) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

static int rd_audit_list(struct prism_store_reader *r, int64_t before, int64_t limit,
			 int (*cb)(void *ctx, const struct prism_audit_view *a), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, before);
	pg_bind_int(&p, 2, limit);
	PGresult *res = q(r,
			  "SELECT id, at, actor, action, object, before, after FROM audit "
			  "WHERE id < $1 ORDER BY id DESC LIMIT $2",
			  &p);
	if (res == NULL)
		return PRISM_ESTORE;
	for (int i = 0; i < PQntuples(res); i++) {
		struct prism_audit_view a = {
			.id = pg_int(res, i, 0),
			.at = pg_int(res, i, 1),
			.actor = text(res, i, 2),
			.action = text(res, i, 3),
			.object = text(res, i, 4),
			.before = text(res, i, 5),
			.after = text(res, i, 6),
		};
		if (cb(ctx, &a) != 0)
			break;
	}
	PQclear(res);
	return 0;
}

static int rd_target_zones(struct prism_store_reader *r, const char *target,
			   int (*cb)(void *ctx, const char *zone), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	PGresult *res = q(r, "SELECT zone FROM target_zones WHERE target = $1 ORDER BY zone", &p);
	if (res == NULL)
		return PRISM_ESTORE;
	for (int i = 0; i < PQntuples(res); i++)
		if (cb(ctx, PQgetvalue(res, i, 0)) != 0)
			break;
	PQclear(res);
	return 0;
}

static int rd_target_serves(struct prism_store_reader *r, const char *target, const char *zone,
			    bool *serves)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_text(&p, 2, zone);
	PGresult *res = q(r, "SELECT 1 FROM target_zones WHERE target = $1 AND zone = $2", &p);
	*serves = res != NULL && PQntuples(res) > 0;
	PQclear(res);
	return res != NULL ? 0 : PRISM_ESTORE;
}

static int rd_zone_dnssec(struct prism_store_reader *r, const char *zone, bool *on)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	PGresult *res = q(r, "SELECT dnssec FROM zones WHERE name = $1", &p);
	if (res == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(res) > 0 ? 0 : PRISM_ENOTFOUND;
	*on = rc == 0 && pg_int(res, 0, 0) != 0;
	PQclear(res);
	return rc;
}

static int zone_rows(PGresult *res, bool one,
		     int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx)
{
	if (res == NULL)
		return PRISM_ESTORE;
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		struct prism_zone_view z = {
			.name = text(res, i, ZC_NAME),
			.kind = text(res, i, ZC_KIND),
			.targets = text(res, i, ZC_TARGETS),
			.nameservers = text(res, i, ZC_NS),
			.soa = text(res, i, ZC_SOA),
			.ttl = pg_int(res, i, ZC_TTL),
			.dnssec = pg_int(res, i, ZC_DNSSEC) != 0,
			.adopt = pg_int(res, i, ZC_ADOPT) != 0,
			.origin = text(res, i, ZC_ORIGIN),
			.created_at = pg_int(res, i, ZC_CREATED),
			.records = pg_int(res, i, ZC_RECORDS),
		};
		if (cb(ctx, &z) != 0)
			break;
	}
	PQclear(res);
	return one && n == 0 ? PRISM_ENOTFOUND : 0;
}

static int rd_zone_get(struct prism_store_reader *r, const char *zone,
		       int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	return zone_rows(q(r, "SELECT " ZONE_COLS ", -1 FROM zones WHERE name = $1", &p), true, cb,
			 ctx);
}

static int rd_zones_list(struct prism_store_reader *r,
			 int (*cb)(void *ctx, const struct prism_zone_view *z), void *ctx)
{
	return zone_rows(q(r,
			   "SELECT " ZONE_COLS ", (SELECT count(*) FROM desired d WHERE "
			   "d.zone = zones.name) FROM zones ORDER BY name",
			   NULL),
			 false, cb, ctx);
}

static int rd_zone_record_count(struct prism_store_reader *r, const char *zone, int64_t *n)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	return one_int(r, "SELECT count(*) FROM desired WHERE zone = $1", &p, n);
}

static int rd_records_list(struct prism_store_reader *r, const struct prism_records_query *q_,
			   int (*cb)(void *ctx, const struct prism_record_view *rec), void *ctx)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, q_->zone);
	pg_bind_text(&p, 2, q_->name);
	pg_bind_text(&p, 3, q_->type);
	pg_bind_text(&p, 4, q_->after_name ? q_->after_name : "");
	pg_bind_text(&p, 5, q_->after_type ? q_->after_type : "");
	if (q_->limit > 0)
		pg_bind_int(&p, 6, q_->limit);
	else
		pg_bind_text(&p, 6, NULL); /* LIMIT NULL: all */
	p.n = 6;
	return record_rows(q(r,
			     "SELECT zone, name, type, ttl, content, host_id FROM desired "
			     "WHERE zone = $1 AND ($2::text IS NULL OR name = $2::text) AND "
			     "($3::text IS NULL OR type = $3::text) AND (name, type) > "
			     "($4::text, $5::text) ORDER BY name, type LIMIT $6::bigint",
			     &p),
			   cb, ctx);
}

const struct prism_store_read_api prism_pg_read = {
	.blocking = true,
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
