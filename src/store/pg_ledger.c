/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend: the per-target sync ledger (due rows, push results, retries, the
 * served pairs, a target's resync) and the reconciler. Same semantics as the SQLite backend
 * (sqlite_ledger.c); many rows go to the server as array parameters, one statement for all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/pdns_json.h"
#include "core/rrset.h"
#include "store/pg_int.h"
#include "store/reconcile_core.h"
#include "store/store.h"

/*
 * Due rows in the SQLite backend's order (its index: failed before pending, then by
 * next_attempt and key), each status through the index; the earliest later row's time in
 * the same answer (one row with only it when nothing is due).
 */
#define DUE_PART(st)                                                                              \
	"(SELECT l.zone, l.name, l.type, coalesce(d.ttl, 0) AS ttl, "                             \
	"coalesce(d.content, '') AS content, l.desired_hash, l.attempts, l.host_id, "             \
	"coalesce(l.updated_at, 0) AS since, l.status, l.next_attempt FROM ledger l "             \
	"LEFT JOIN desired d ON d.zone = l.zone AND d.name = l.name AND d.type = l.type "         \
	"WHERE l.target = $1 AND l.status = '" st "' AND l.next_attempt <= $2::bigint "           \
	"ORDER BY l.next_attempt, l.zone, l.name, l.type LIMIT $3::bigint)"
#define DUE_FAILED  DUE_PART("failed")
#define DUE_PENDING DUE_PART("pending")
static const char due_sql[] =
	"SELECT q.zone, q.name, q.type, q.ttl, q.content, q.desired_hash, q.attempts, "
	"q.host_id, q.since, n.next FROM (SELECT min(next_attempt) AS next FROM ledger "
	"WHERE target = $1 AND status IN ('pending', 'failed') AND next_attempt > $2::bigint) n "
	"LEFT JOIN LATERAL (SELECT * FROM (" DUE_FAILED " UNION ALL " DUE_PENDING ") u "
	"ORDER BY u.status, u.next_attempt, u.zone, u.name, u.type LIMIT $3::bigint) q ON true";
enum {
	LD_ZONE,
	LD_NAME,
	LD_TYPE,
	LD_TTL,
	LD_CONTENT,
	LD_HASH,
	LD_ATTEMPTS,
	LD_HOST,
	LD_SINCE,
	LD_NEXT
};

int pg_ledger_due(struct prism_store *s, const char *target, int64_t now_ms, size_t max,
		  struct prism_ledger_row **rows, size_t *n, int64_t *next_due)
{
	if (s == NULL || target == NULL || rows == NULL || n == NULL || max == 0)
		return PRISM_EINVAL;
	*rows = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_int(&p, 2, now_ms);
	pg_bind_int(&p, 3, (int64_t)max);
	PGresult *r = pg_exec(s, due_sql, &p);
	if (r == NULL)
		return PRISM_ESTORE;
	/* as many rows as came, not max: most fetches find far fewer (an idle target's none) */
	size_t nt = (size_t)PQntuples(r) < max ? (size_t)PQntuples(r) : max;
	struct prism_ledger_row *v = calloc(nt ? nt : 1, sizeof(*v));
	if (v == NULL) {
		PQclear(r);
		return PRISM_ENOMEM;
	}
	size_t k = 0;
	for (int i = 0; i < PQntuples(r) && k < max; i++) {
		if (pg_null(r, i, LD_ZONE))
			continue; /* nothing due: only the next time */
		struct prism_ledger_row *row = &v[k++];
		row->zone = pg_dup(r, i, LD_ZONE);
		row->name = pg_dup(r, i, LD_NAME);
		row->type = pg_dup(r, i, LD_TYPE);
		row->ttl = (uint32_t)pg_int(r, i, LD_TTL);
		row->content = pg_dup(r, i, LD_CONTENT);
		row->desired_hash = (uint64_t)pg_int(r, i, LD_HASH);
		row->attempts = (uint32_t)pg_int(r, i, LD_ATTEMPTS);
		row->host_id = pg_int(r, i, LD_HOST);
		row->since = pg_int(r, i, LD_SINCE);
		if (!row->zone || !row->name || !row->type || !row->content) {
			prism_ledger_rows_free(v, k);
			PQclear(r);
			return PRISM_ENOMEM;
		}
	}
	if (next_due != NULL)
		*next_due = PQntuples(r) > 0 ? pg_int(r, 0, LD_NEXT) : 0;
	PQclear(r);
	*rows = v;
	*n = k;
	return 0;
}

/* ---- push results ---- */

/* the marks as a table (the arrays of mark_params) */
#define MARKS                                                                                     \
	"m AS (SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], "           \
	"$6::bigint[], $7::text[], $8::bool[], $9::bool[], $10::bool[]) AS m (zone, name, "       \
	"type, hash, next_attempt, error, ok, conflict, deletion))"

/* failures first, as the SQLite backend marks them; then the applied ones */
static const char marks_fail_sql[] =
	"WITH " MARKS " UPDATE ledger l SET status = CASE WHEN m.conflict THEN 'conflict' "
	"ELSE 'failed' END, attempts = l.attempts + 1, next_attempt = m.next_attempt, "
	"last_error = m.error, updated_at = $11::bigint FROM m WHERE NOT m.ok AND "
	"l.target = $1 AND l.zone = m.zone AND l.name = m.name AND l.type = m.type AND "
	"l.desired_hash = m.hash";

static const char marks_ok_sql[] =
	"WITH " MARKS " UPDATE ledger l SET applied_hash = l.desired_hash, status = 'synced', "
	"attempts = 0, last_error = NULL, updated_at = $11::bigint FROM m WHERE m.ok AND "
	"l.target = $1 AND l.zone = m.zone AND l.name = m.name AND l.type = m.type AND "
	"l.desired_hash = m.hash";

/* the hosts of the marked rows: their dns_sync_status again (dns_last_sync when one of
 * their rows was applied); an applied deletion leaves nothing to track */
static const char marks_hosts_sql[] =
	"WITH " MARKS ", "
	"x AS (SELECT l.host_id AS id, bool_or(m.ok) AS ok FROM m JOIN ledger l ON "
	"l.target = $1 AND l.zone = m.zone AND l.name = m.name AND l.type = m.type "
	"WHERE l.host_id IS NOT NULL GROUP BY l.host_id), "
	"del AS (DELETE FROM ledger l USING m WHERE m.ok AND m.deletion AND l.target = $1 AND "
	"l.zone = m.zone AND l.name = m.name AND l.type = m.type AND l.desired_hash = m.hash "
	"AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.zone = m.zone AND d.name = m.name "
	"AND d.type = m.type)) "
	"UPDATE hosts SET dns_sync_status = CASE "
	"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
	"AND l.status IN ('failed', 'conflict')) THEN 'failed' "
	"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
	"AND l.status = 'pending') THEN 'pending' ELSE 'synced' END, "
	"dns_last_sync = CASE WHEN x.ok THEN $11::bigint ELSE hosts.dns_last_sync END "
	"FROM x WHERE hosts.id = x.id";

int pg_ledger_mark(struct prism_store *s, const char *target,
		   const struct prism_ledger_mark *marks, size_t n, int64_t now_ms)
{
	if (s == NULL || target == NULL || (marks == NULL && n > 0))
		return PRISM_EINVAL;
	if (n == 0)
		return 0;
	struct pg_array a[9] = {0};
	bool any_ok = false, any_fail = false;
	for (size_t i = 0; i < n; i++) {
		const struct prism_ledger_mark *m = &marks[i];
		pg_array_text(&a[0], m->zone);
		pg_array_text(&a[1], m->name);
		pg_array_text(&a[2], m->type);
		pg_array_int(&a[3], (int64_t)m->desired_hash);
		pg_array_int(&a[4], m->ok ? 0 : m->next_attempt);
		pg_array_text(&a[5], m->ok ? NULL : m->error ? m->error : "unknown error");
		pg_array_text(&a[6], m->ok ? "t" : "f");
		pg_array_text(&a[7], m->conflict ? "t" : "f");
		pg_array_text(&a[8], m->deletion ? "t" : "f");
		any_ok |= m->ok;
		any_fail |= !m->ok;
	}
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	int rc = pg_bind_arrays(&p, 2, a, 9);
	pg_bind_int(&p, 11, now_ms / 1000);
	if (rc == 0 && any_fail)
		rc = pg_cmd(s, marks_fail_sql, &p, NULL);
	if (rc == 0 && any_ok)
		rc = pg_cmd(s, marks_ok_sql, &p, NULL);
	if (rc == 0)
		rc = pg_cmd(s, marks_hosts_sql, &p, NULL);
	pg_arrays_free(a, 9);
	return rc;
}

/* ---- served pairs ---- */

/*
 * Make the served pairs exactly the wanted ones: the pairs given ($1, $2) and the registry
 * zones served by the targets of groups ($3 targets, $4 their groups). Rows of pairs no
 * longer served go; a new pair gets a pending row per desired RRset of its zone.
 */
static const char tz_sync_sql[] =
	"WITH want AS (SELECT * FROM unnest($1::text[], $2::text[]) AS w (target, zone) "
	"UNION SELECT g.target, z.name FROM zones z JOIN unnest($3::text[], $4::text[]) AS "
	"g (target, grp) ON z.targets = 'all' OR z.targets = g.grp), "
	"gone AS (DELETE FROM ledger l WHERE NOT EXISTS (SELECT 1 FROM want w WHERE "
	"w.target = l.target AND w.zone = l.zone)), "
	"untz AS (DELETE FROM target_zones t WHERE NOT EXISTS (SELECT 1 FROM want w WHERE "
	"w.target = t.target AND w.zone = t.zone)), "
	"added AS (INSERT INTO target_zones (target, zone) SELECT target, zone FROM want "
	"ON CONFLICT DO NOTHING RETURNING target, zone), "
	"caught AS (INSERT INTO ledger (target, zone, name, type, desired_hash, status, "
	"attempts, next_attempt, host_id, updated_at) SELECT a.target, d.zone, d.name, d.type, "
	"d.hash, 'pending', 0, 0, d.host_id, $5::bigint FROM added a JOIN desired d ON "
	"d.zone = a.zone ON CONFLICT DO NOTHING RETURNING 1) "
	"SELECT count(*) FROM caught";

static int tz_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
		   const struct prism_target_group *groups, size_t ngroups, int64_t now,
		   size_t *caught_up)
{
	struct pg_array a[4] = {0};
	for (size_t i = 0; i < n; i++) {
		pg_array_text(&a[0], pairs[i].target);
		pg_array_text(&a[1], pairs[i].zone);
	}
	for (size_t i = 0; i < ngroups; i++) {
		pg_array_text(&a[2], groups[i].target);
		pg_array_text(&a[3], groups[i].group);
	}
	struct pg_params p = {0};
	int rc = pg_bind_arrays(&p, 1, a, 4);
	pg_bind_int(&p, 5, now);
	PGresult *r = rc == 0 ? pg_exec(s, tz_sync_sql, &p) : NULL;
	if (r != NULL)
		*caught_up = (size_t)pg_int(r, 0, 0);
	else if (rc == 0)
		rc = PRISM_ESTORE;
	PQclear(r);
	pg_arrays_free(a, 4);
	return rc;
}

int pg_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
		    int64_t now, size_t *caught_up)
{
	if (s == NULL || (pairs == NULL && n > 0) || caught_up == NULL)
		return PRISM_EINVAL;
	*caught_up = 0;
	pg_tz_forget(s);
	/* registry zones are not added: an empty groups list serves none */
	return tz_sync(s, pairs, n, NULL, 0, now, caught_up);
}

int pg_zones_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
			  const struct prism_target_group *groups, size_t ngroups, int64_t now,
			  size_t *caught_up)
{
	size_t ignored;
	if (s == NULL || (pairs == NULL && n > 0) || (groups == NULL && ngroups > 0))
		return PRISM_EINVAL;
	if (caught_up == NULL)
		caught_up = &ignored;
	*caught_up = 0;
	pg_tz_forget(s);
	return tz_sync(s, pairs, n, groups, ngroups, now, caught_up);
}

int pg_target_resync(struct prism_store *s, const char *target, int64_t now, size_t *n)
{
	if (s == NULL || target == NULL || n == NULL)
		return PRISM_EINVAL;
	/* rows queued for deletion stay as they are */
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_int(&p, 2, now);
	return pg_cmd(s,
		      "INSERT INTO ledger (target, zone, name, type, desired_hash, status, "
		      "attempts, next_attempt, host_id, updated_at) SELECT t.target, d.zone, "
		      "d.name, d.type, d.hash, 'pending', 0, 0, d.host_id, $2::bigint FROM "
		      "target_zones t JOIN desired d ON d.zone = t.zone WHERE t.target = $1 "
		      "ON CONFLICT (target, zone, name, type) DO UPDATE SET "
		      "desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "
		      "next_attempt = 0, last_error = NULL, updated_at = excluded.updated_at",
		      &p, n);
}

int pg_ledger_retry(struct prism_store *s, const char *target, int64_t now, size_t *n)
{
	if (s == NULL || n == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_int(&p, 2, now);
	int rc = pg_cmd(
		s,
		target != NULL
			? "UPDATE ledger SET status = 'pending', next_attempt = 0, "
			  "updated_at = $2::bigint WHERE target = $1 AND status = 'failed'"
			: "UPDATE ledger SET status = 'pending', next_attempt = 0, "
			  "updated_at = $2::bigint WHERE status = 'failed' AND "
			  "($1::text IS NULL) AND target IN (SELECT target FROM target_zones)",
		&p, n);
	if (rc != 0 || *n == 0)
		return rc;
	/* hosts whose only failure was retried are pending again */
	return pg_cmd(s,
		      "UPDATE hosts SET dns_sync_status = 'pending' WHERE dns_sync_status = "
		      "'failed' AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
		      "AND l.status IN ('failed', 'conflict'))",
		      NULL, NULL);
}

/* ---- reconciler ---- */

/* What the target holds, in a temporary table of the session (emptied at commit). */
static int load_actual(struct prism_store *s, const struct prism_actual_zone *a)
{
	if (pg_exec_simple(s, "CREATE TEMP TABLE IF NOT EXISTS actual (name TEXT COLLATE \"C\", "
			      "type TEXT COLLATE \"C\", hash BIGINT, owned INTEGER, "
			      "PRIMARY KEY (name, type)) ON COMMIT DELETE ROWS;"
			      "DELETE FROM actual;") != 0)
		return PRISM_ESTORE;
	struct pg_array v[4] = {0};
	for (size_t i = 0; i < a->n; i++) {
		pg_array_text(&v[0], a->v[i].name);
		pg_array_text(&v[1], a->v[i].type);
		pg_array_int(&v[2], (int64_t)a->v[i].hash);
		pg_array_int(&v[3], a->v[i].owned);
	}
	struct pg_params p = {0};
	int rc = pg_bind_arrays(&p, 1, v, 4);
	/* a name and type read twice: the last one, as SQLite's INSERT OR REPLACE */
	if (rc == 0)
		rc = pg_cmd(s,
			    "INSERT INTO actual SELECT DISTINCT ON (name, type) name, type, hash, "
			    "owned FROM unnest($1::text[], $2::text[], $3::bigint[], $4::int[]) "
			    "WITH ORDINALITY AS u (name, type, hash, owned, i) "
			    "ORDER BY name, type, i DESC",
			    &p, NULL);
	pg_arrays_free(v, 4);
	return rc;
}

static const char host_sync_sql[] =
	"UPDATE hosts SET dns_sync_status = CASE "
	"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
	"AND l.status IN ('failed', 'conflict')) THEN 'failed' "
	"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
	"AND l.status = 'pending') THEN 'pending' ELSE 'synced' END, "
	"dns_last_sync = CASE WHEN $2::bool THEN $3::bigint ELSE dns_last_sync END "
	"WHERE id = $1::bigint";

static const char ledger_set_sql[] =
	"INSERT INTO ledger (target, zone, name, type, desired_hash, applied_hash, status, "
	"attempts, next_attempt, last_error, host_id, updated_at) VALUES ($1, $2, $3, $4, "
	"$5::bigint, CASE WHEN $6 = 'synced' THEN $5::bigint END, $6, 0, 0, $7, $8::bigint, "
	"$9::bigint) ON CONFLICT (target, zone, name, type) DO UPDATE SET "
	"desired_hash = $5::bigint, applied_hash = CASE WHEN $6 = 'synced' THEN $5::bigint "
	"ELSE ledger.applied_hash END, status = $6, next_attempt = CASE WHEN $6 = 'pending' "
	"THEN 0 ELSE ledger.next_attempt END, last_error = $7, updated_at = $9::bigint";

/* Set one ledger row of (target, zone, name, type) to a state; creates it when missing. */
static int ledger_set(struct prism_store *s, const char *target, const char *zone,
		      const char *name, const char *type, int64_t hash, const char *status,
		      const char *error, int64_t host_id, int64_t now)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_text(&p, 2, zone);
	pg_bind_text(&p, 3, name);
	pg_bind_text(&p, 4, type);
	pg_bind_int(&p, 5, hash);
	pg_bind_text(&p, 6, status);
	pg_bind_text(&p, 7, error);
	if (host_id > 0)
		pg_bind_int(&p, 8, host_id);
	pg_bind_int(&p, 9, now);
	int rc = pg_cmd(s, ledger_set_sql, &p, NULL);
	if (rc != 0 || host_id <= 0)
		return rc;
	struct pg_params q = {0};
	pg_bind_int(&q, 1, host_id);
	pg_bind_bool(&q, 2, strcmp(status, "synced") == 0);
	pg_bind_int(&q, 3, now);
	return pg_cmd(s, host_sync_sql, &q, NULL);
}

enum {
	RD_NAME,
	RD_TYPE,
	RD_WANT,
	RD_HAVE,
	RD_OWNED,
	RD_STATUS,
	RD_LEDGER_HASH,
	RD_HOST,
	RD_FOREIGN_CNAME
};

/* Desired RRsets of the zone against the target's. */
static int reconcile_desired(struct prism_store *s, const char *target, const char *zone,
			     bool adopt, bool dry, int64_t now, struct prism_reconcile_result *out)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_text(&p, 2, zone);
	PGresult *r = pg_exec(
		s,
		"SELECT d.name, d.type, d.hash, a.hash, a.owned, l.status, l.desired_hash, "
		"d.host_id, EXISTS (SELECT 1 FROM actual c WHERE c.name = d.name AND "
		"c.type = 'CNAME' AND c.owned = 0 AND d.type <> 'CNAME') "
		"FROM desired d LEFT JOIN actual a ON a.name = d.name AND a.type = d.type "
		"LEFT JOIN ledger l ON l.target = $1 AND l.zone = d.zone AND l.name = d.name "
		"AND l.type = d.type WHERE d.zone = $2 ORDER BY d.name, d.type",
		&p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		bool present = !pg_null(r, i, RD_HAVE);
		struct prism_reconcile_row row = {
			.name = pg_text(r, i, RD_NAME),
			.type = pg_text(r, i, RD_TYPE),
			.want = pg_int(r, i, RD_WANT),
			.present = present,
			.have = pg_int(r, i, RD_HAVE),
			.foreign = (present && !pg_int(r, i, RD_OWNED)) ||
				   pg_int(r, i, RD_FOREIGN_CNAME),
			.lstatus = pg_text(r, i, RD_STATUS),
			.lhash = pg_int(r, i, RD_LEDGER_HASH),
		};
		const char *status, *error;
		rc = prism_reconcile_desired(&row, adopt, dry, out, &status, &error);
		if (rc == 0 && status != NULL)
			rc = ledger_set(s, target, zone, row.name, row.type, row.want, status,
					error, pg_int(r, i, RD_HOST), now);
	}
	PQclear(r);
	return rc;
}

/* Owned RRsets on the target that nothing wants any more. */
static int reconcile_orphans(struct prism_store *s, const char *target, const char *zone, bool dry,
			     int64_t now, struct prism_reconcile_result *out)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	pg_bind_text(&p, 2, target);
	PGresult *r = pg_exec(s,
			      "SELECT a.name, a.type, l.status, l.desired_hash FROM actual a "
			      "LEFT JOIN ledger l ON l.target = $2 AND l.zone = $1 AND "
			      "l.name = a.name AND l.type = a.type WHERE a.owned = 1 AND NOT "
			      "EXISTS (SELECT 1 FROM desired d WHERE d.zone = $1 AND "
			      "d.name = a.name AND d.type = a.type) ORDER BY a.name, a.type",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
		const char *name = pg_text(r, i, 0), *type = pg_text(r, i, 1);
		const char *lstatus = pg_text(r, i, 2);
		struct prism_rr_change del = {name, type, 0, NULL, 0};
		int64_t hash = (int64_t)prism_rrset_hash(&del);
		bool queue;
		rc = prism_reconcile_orphan(name, type, lstatus, pg_int(r, i, 3), hash, dry, out,
					    &queue);
		if (rc == 0 && queue)
			rc = ledger_set(s, target, zone, name, type, hash, "pending", NULL, 0,
					now);
	}
	PQclear(r);
	return rc;
}

/* Deletions left in conflict whose RRset is gone from the target (sqlite_ledger.c). */
static int reconcile_gone(struct prism_store *s, const char *target, const char *zone,
			  struct prism_reconcile_result *out)
{
	struct pg_params p = {0};
	size_t n = 0;
	pg_bind_text(&p, 1, target);
	pg_bind_text(&p, 2, zone);
	int rc = pg_cmd(s,
			"DELETE FROM ledger WHERE target = $1 AND zone = $2 AND status = "
			"'conflict' AND NOT EXISTS (SELECT 1 FROM desired d WHERE "
			"d.zone = ledger.zone AND d.name = ledger.name AND d.type = ledger.type) "
			"AND NOT EXISTS (SELECT 1 FROM actual a WHERE a.name = ledger.name "
			"AND a.type = ledger.type)",
			&p, &n);
	out->in_sync += n;
	return rc;
}

int pg_reconcile(struct prism_store *s, const char *target, const char *zone,
		 const struct prism_actual_zone *actual, bool adopt, bool dry_run, int64_t now,
		 struct prism_reconcile_result *out)
{
	if (s == NULL || target == NULL || zone == NULL || actual == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	int rc = load_actual(s, actual);
	if (rc == 0)
		rc = reconcile_desired(s, target, zone, adopt, dry_run, now, out);
	if (rc == 0)
		rc = reconcile_orphans(s, target, zone, dry_run, now, out);
	if (rc == 0 && !dry_run)
		rc = reconcile_gone(s, target, zone, out);
	if (rc != 0)
		prism_reconcile_result_free(out);
	return rc;
}
