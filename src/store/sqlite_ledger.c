/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend: the per-target sync ledger (due rows, push results, retries,
 * the served pairs) and the reconciler.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/pdns_json.h"
#include "core/rrset.h"
#include "store/reconcile_core.h"
#include "store/sqlite_int.h"
#include "store/store.h"

void prism_ledger_rows_free(struct prism_ledger_row *rows, size_t n)
{
	if (rows == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(rows[i].zone);
		free(rows[i].name);
		free(rows[i].type);
		free(rows[i].content);
	}
	free(rows);
}

int sq_ledger_due(struct prism_store *s, const char *target, int64_t now_ms, size_t max,
		  struct prism_ledger_row **rows, size_t *n, int64_t *next_due)
{
	if (s == NULL || target == NULL || rows == NULL || n == NULL || max == 0)
		return PRISM_EINVAL;
	*rows = NULL;
	*n = 0;
	/* grown as rows come: most fetches find far fewer rows than @p max (an idle target's
	 * none), and @p max rows zeroed at every fetch were 0.8 MB at a batch_max of 10,000 */
	size_t cap = max < 64 ? max : 64;
	struct prism_ledger_row *r = calloc(cap, sizeof(*r));
	if (r == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = sq_stmt(s, ST_LEDGER_DUE);
	sq_bind_text(st, 1, target);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	size_t k = 0;
	int rc;
	while (k < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (k == cap) {
			size_t ncap = cap * 2 < max ? cap * 2 : max;
			struct prism_ledger_row *nr = realloc(r, ncap * sizeof(*r));
			if (nr == NULL) {
				sqlite3_reset(st);
				prism_ledger_rows_free(r, k);
				return PRISM_ENOMEM;
			}
			memset(nr + cap, 0, (ncap - cap) * sizeof(*r));
			r = nr;
			cap = ncap;
		}
		struct prism_ledger_row *row = &r[k++];
		row->zone = sq_col_dup(st, LD_ZONE);
		row->name = sq_col_dup(st, LD_NAME);
		row->type = sq_col_dup(st, LD_TYPE);
		row->ttl = (uint32_t)sqlite3_column_int64(st, LD_TTL);
		row->content = sq_col_dup(st, LD_CONTENT);
		row->desired_hash = (uint64_t)sqlite3_column_int64(st, LD_HASH);
		row->attempts = (uint32_t)sqlite3_column_int(st, LD_ATTEMPTS);
		row->host_id = sqlite3_column_int64(st, LD_HOST);
		row->since = sqlite3_column_int64(st, LD_SINCE);
		if (!row->zone || !row->name || !row->type || !row->content) {
			prism_ledger_rows_free(r, k);
			return PRISM_ENOMEM;
		}
	}
	sqlite3_reset(st);
	if (next_due != NULL) {
		st = sq_stmt(s, ST_LEDGER_NEXT);
		sq_bind_text(st, 1, target);
		sqlite3_bind_int64(st, 2, now_ms);
		*next_due = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
	}
	*rows = r;
	*n = k;
	return 0;
}

static int host_sync(struct prism_store *s, int64_t host_id, bool ok, int64_t now_ms)
{
	sqlite3_stmt *st = sq_stmt(s, ST_HOST_SYNC);
	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int(st, 2, ok);
	sqlite3_bind_int64(st, 3, now_ms / 1000);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int mark_one(struct prism_store *s, const char *target, const struct prism_ledger_mark *m,
		    int64_t now_ms)
{
	sqlite3_stmt *st = sq_stmt(s, m->ok ? ST_LEDGER_OK : ST_LEDGER_FAIL);
	sq_bind_text(st, 1, target);
	sq_bind_text(st, 2, m->zone);
	sq_bind_text(st, 3, m->name);
	sq_bind_text(st, 4, m->type);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)m->desired_hash);
	if (m->ok) {
		sqlite3_bind_int64(st, 6, now_ms / 1000);
	} else {
		sqlite3_bind_int64(st, 6, m->next_attempt);
		sq_bind_text(st, 7, m->error ? m->error : "unknown error");
		sqlite3_bind_int64(st, 8, now_ms / 1000);
		sqlite3_bind_int(st, 9, m->conflict);
	}
	int rc = sqlite3_step(st);
	int64_t host_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	if (m->ok) {
		/* an applied deletion leaves nothing to track */
		st = sq_stmt(s, ST_LEDGER_OK_DELETE);
		sq_bind_text(st, 1, target);
		sq_bind_text(st, 2, m->zone);
		sq_bind_text(st, 3, m->name);
		sq_bind_text(st, 4, m->type);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)m->desired_hash);
		if (sqlite3_step(st) != SQLITE_DONE)
			return PRISM_ESTORE;
	}
	if (host_id > 0)
		return host_sync(s, host_id, m->ok, now_ms);
	return 0;
}

/*
 * Successful pushes are recorded set-based: the marks go into a temporary in-memory table,
 * then two joined statements update the ledger and the hosts — instead of three statements
 * per RRset (~40 µs each), which bounded bulk sync throughput.
 */
static int run_marks_sql(struct prism_store *s, enum stmt_id id, const char *target, int64_t now_s)
{
	sqlite3_stmt *st = sq_stmt(s, id);
	sq_bind_text(st, 1, target);
	sqlite3_bind_int64(st, 2, now_s);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int load_marks(struct prism_store *s, const struct prism_ledger_mark *marks, size_t n,
		      size_t *loaded)
{
	*loaded = 0;
	if (sqlite3_step(sq_stmt(s, ST_MARKED_CLEAR)) != SQLITE_DONE)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!marks[i].ok)
			continue;
		sqlite3_stmt *st = sq_stmt(s, ST_MARKED_ADD);
		sq_bind_text(st, 1, marks[i].zone);
		sq_bind_text(st, 2, marks[i].name);
		sq_bind_text(st, 3, marks[i].type);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)marks[i].desired_hash);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
		(*loaded)++;
	}
	return rc;
}

static int marks_ok(struct prism_store *s, const char *target,
		    const struct prism_ledger_mark *marks, size_t n, int64_t now_ms)
{
	size_t k;
	int rc = load_marks(s, marks, n, &k);
	if (rc != 0 || k == 0)
		return rc;
	int64_t now_s = now_ms / 1000;
	rc = run_marks_sql(s, ST_MARK_OK, target, now_s);
	if (rc == 0)
		rc = run_marks_sql(s, ST_MARK_HOSTS, target, now_s);
	/* an applied deletion leaves nothing to track */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!marks[i].ok || !marks[i].deletion)
			continue;
		sqlite3_stmt *st = sq_stmt(s, ST_LEDGER_OK_DELETE);
		sq_bind_text(st, 1, target);
		sq_bind_text(st, 2, marks[i].zone);
		sq_bind_text(st, 3, marks[i].name);
		sq_bind_text(st, 4, marks[i].type);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)marks[i].desired_hash);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	return rc;
}

int sq_ledger_mark(struct prism_store *s, const char *target,
		   const struct prism_ledger_mark *marks, size_t n, int64_t now_ms)
{
	if (s == NULL || target == NULL || (marks == NULL && n > 0))
		return PRISM_EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (marks[i].ok)
			continue;
		int rc = mark_one(s, target, &marks[i], now_ms);
		if (rc != 0)
			return rc;
	}
	return marks_ok(s, target, marks, n, now_ms);
}

int sq_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
		    int64_t now, size_t *caught_up)
{
	if (s == NULL || (pairs == NULL && n > 0) || caught_up == NULL)
		return PRISM_EINVAL;
	*caught_up = 0;
	sq_tz_forget(s);
	/* forget pairs no longer served: a temporary table of the wanted ones */
	if (sq_exec(s, "CREATE TEMP TABLE IF NOT EXISTS want_tz (target TEXT, zone TEXT);"
		       "DELETE FROM want_tz;") != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO want_tz VALUES (?1, ?2)", -1, &ins, NULL) !=
	    SQLITE_OK)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_reset(ins);
		sq_bind_text(ins, 1, pairs[i].target);
		sq_bind_text(ins, 2, pairs[i].zone);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	sqlite3_finalize(ins);
	if (rc == 0 && sq_exec(s, "DELETE FROM ledger WHERE (target, zone) NOT IN "
				  "(SELECT target, zone FROM want_tz);"
				  "DELETE FROM target_zones WHERE (target, zone) NOT IN "
				  "(SELECT target, zone FROM want_tz);") != 0)
		rc = PRISM_ESTORE;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_stmt *st = sq_stmt(s, ST_TZ_ADD);
		sq_bind_text(st, 1, pairs[i].target);
		sq_bind_text(st, 2, pairs[i].zone);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = PRISM_ESTORE;
			break;
		}
		if (sqlite3_changes(s->db) == 0)
			continue; /* served before: its rows exist */
		st = sq_stmt(s, ST_TZ_CATCHUP);
		sq_bind_text(st, 1, pairs[i].target);
		sq_bind_text(st, 2, pairs[i].zone);
		sqlite3_bind_int64(st, 3, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
		else
			*caught_up += (size_t)sqlite3_changes(s->db);
	}
	return rc;
}

/* ==== end of REST API writes ==== */

int sq_ledger_retry(struct prism_store *s, const char *target, int64_t now, size_t *n)
{
	sqlite3_stmt *st;
	if (s == NULL || n == NULL)
		return PRISM_EINVAL;
	/* through the (target, status, next_attempt) index: only failed rows are visited */
	const char *sql = target != NULL ? "UPDATE ledger SET status = 'pending', next_attempt = "
					   "0, updated_at = ?2 "
					   "WHERE target = ?1 AND status = 'failed'"
					 : "UPDATE ledger SET status = 'pending', next_attempt = "
					   "0, updated_at = ?2 "
					   "WHERE status = 'failed' AND target IN (SELECT target "
					   "FROM target_zones)";
	if (sq_prep(s, sql, &st) != 0)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, target);
	sqlite3_bind_int64(st, 2, now);
	int rc = sq_step_done(s, st, n);
	if (rc != 0 || *n == 0)
		return rc;
	/* hosts whose only failure was retried are pending again */
	if (sq_prep(s,
		    "UPDATE hosts SET dns_sync_status = 'pending' WHERE dns_sync_status = "
		    "'failed' AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
		    "AND l.status IN ('failed', 'conflict'))",
		    &st) != 0)
		return PRISM_ESTORE;
	return sq_step_done(s, st, NULL);
}

/* ---- reconciler ---- */

static int load_actual(struct prism_store *s, const struct prism_actual_zone *a)
{
	if (sqlite3_step(sq_stmt(s, ST_ACTUAL_CLEAR)) != SQLITE_DONE)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		sqlite3_stmt *st = sq_stmt(s, ST_ACTUAL_ADD);
		sq_bind_text(st, 1, a->v[i].name);
		sq_bind_text(st, 2, a->v[i].type);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)a->v[i].hash);
		sqlite3_bind_int(st, 4, a->v[i].owned);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	return rc;
}

/* Set one ledger row of (target, zone, name, type) to a state; creates it when missing. */
static int ledger_set(struct prism_store *s, const char *target, const char *zone,
		      const char *name, const char *type, int64_t hash, const char *status,
		      const char *error, int64_t host_id, int64_t now)
{
	sqlite3_stmt *st = sq_stmt(s, ST_LEDGER_SET);
	sq_bind_text(st, 1, target);
	sq_bind_text(st, 2, zone);
	sq_bind_text(st, 3, name);
	sq_bind_text(st, 4, type);
	sqlite3_bind_int64(st, 5, hash);
	sq_bind_text(st, 6, status);
	sq_bind_text(st, 7, error);
	if (host_id > 0)
		sqlite3_bind_int64(st, 8, host_id);
	else
		sqlite3_bind_null(st, 8);
	sqlite3_bind_int64(st, 9, now);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
	if (rc == 0 && host_id > 0)
		rc = host_sync(s, host_id, strcmp(status, "synced") == 0, now * 1000);
	return rc;
}

/* the columns of reconcile_desired's select */
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
	sqlite3_stmt *st = sq_stmt(s, ST_REC_DESIRED);
	sq_bind_text(st, 1, target);
	sq_bind_text(st, 2, zone);
	int rc = 0, step;
	/* rows are changed while the select runs; they are ledger rows, not desired ones */
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, RD_NAME);
		const char *type = (const char *)sqlite3_column_text(st, RD_TYPE);
		int64_t want = sqlite3_column_int64(st, RD_WANT);
		bool present = sqlite3_column_type(st, RD_HAVE) != SQLITE_NULL;
		int64_t have = sqlite3_column_int64(st, RD_HAVE);
		bool foreign = (present && !sqlite3_column_int(st, RD_OWNED)) ||
			       sqlite3_column_int(st, RD_FOREIGN_CNAME);
		struct prism_reconcile_row row = {
			.name = name,
			.type = type,
			.want = want,
			.present = present,
			.have = have,
			.foreign = foreign,
			.lstatus = (const char *)sqlite3_column_text(st, RD_STATUS),
			.lhash = sqlite3_column_int64(st, RD_LEDGER_HASH),
		};
		const char *status, *error;
		rc = prism_reconcile_desired(&row, adopt, dry, out, &status, &error);
		if (rc == 0 && status != NULL)
			rc = ledger_set(s, target, zone, name, type, want, status, error,
					sqlite3_column_int64(st, RD_HOST), now);
	}
	sqlite3_reset(st);
	return rc;
}

/* Owned RRsets on the target that nothing wants any more. */
static int reconcile_orphans(struct prism_store *s, const char *target, const char *zone, bool dry,
			     int64_t now, struct prism_reconcile_result *out)
{
	sqlite3_stmt *st = sq_stmt(s, ST_REC_ORPHANS);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, target);
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		const char *lstatus = (const char *)sqlite3_column_text(st, 2);
		struct prism_rr_change del = {name, type, 0, NULL, 0};
		int64_t hash = (int64_t)prism_rrset_hash(&del);
		bool queue;
		rc = prism_reconcile_orphan(name, type, lstatus, sqlite3_column_int64(st, 3), hash,
					    dry, out, &queue);
		if (rc == 0 && queue)
			rc = ledger_set(s, target, zone, name, type, hash, "pending", NULL, 0,
					now);
	}
	sqlite3_reset(st);
	return rc;
}

/*
 * Deletions left in conflict whose RRset is gone from the target: nothing is left to delete.
 * The desired pass never sees them (nothing desires them), so without this they stayed in
 * conflict forever once the foreign RRset went away (or was never there: a read of the zone
 * racing a write shows records whose comments are already gone).
 */
static int reconcile_gone(struct prism_store *s, const char *target, const char *zone,
			  struct prism_reconcile_result *out)
{
	sqlite3_stmt *st = sq_stmt(s, ST_REC_GONE);
	sq_bind_text(st, 1, target);
	sq_bind_text(st, 2, zone);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
	if (rc == 0)
		out->in_sync += (size_t)sqlite3_changes(s->db);
	sqlite3_reset(st);
	return rc;
}

int sq_reconcile(struct prism_store *s, const char *target, const char *zone,
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
