/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend: hosts of other sources (Kea reservations, leases, DDNS) and
 * the intake queue.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/source_core.h"
#include "store/sqlite_int.h"
#include "store/store.h"

/* ==== hosts of other sources (Kea) ==== */

static void col_copy(char *dst, size_t len, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static int src_by_key(struct prism_store *s, enum prism_source src, const char *key,
		      struct src_row *r)
{
	memset(r, 0, sizeof(*r));
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_BY_KEY);
	sq_bind_text(st, 1, prism_source_name(src));
	sq_bind_text(st, 2, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->found = true;
		r->id = sqlite3_column_int64(st, SK_ID);
		col_copy(r->name, sizeof(r->name), st, SK_NAME);
		col_copy(r->ip[0], sizeof(r->ip[0]), st, SK_IPV4);
		col_copy(r->ip[1], sizeof(r->ip[1]), st, SK_IPV6);
		col_copy(r->dhcid[0], sizeof(r->dhcid[0]), st, SK_DHCID4);
		col_copy(r->dhcid[1], sizeof(r->dhcid[1]), st, SK_DHCID6);
		r->ttl = (uint32_t)sqlite3_column_int64(st, SK_TTL);
		col_copy(r->zone, sizeof(r->zone), st, SK_ZONE);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* Who holds @p fqdn: *id 0 when nobody; else its source. */
static int src_by_name(struct prism_store *s, const char *fqdn, int64_t *id,
		       enum prism_source *src)
{
	char host[PRISM_DNAME_MAX + 1];
	snprintf(host, sizeof(host), "%s", fqdn);
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		host[n - 1] = '\0';
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_BY_NAME);
	sq_bind_text(st, 1, fqdn);
	sq_bind_text(st, 2, host);
	int rc = sqlite3_step(st);
	*id = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, SN_ID);
		*src = sq_source_parse((const char *)sqlite3_column_text(st, SN_SOURCE));
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* target_zones into s->tz (until targets_sync changes it). */
static int tz_load(struct prism_store *s)
{
	if (s->tz_loaded)
		return 0;
	sqlite3_stmt *st = sq_stmt(s, ST_TZ_ALL);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_target_zone *v = realloc(s->tz, (s->ntz + 1) * sizeof(*v));
		if (v == NULL)
			break;
		s->tz = v;
		v[s->ntz].target = sq_col_dup(st, 0);
		v[s->ntz].zone = sq_col_dup(st, 1);
		s->ntz++;
		if (v[s->ntz - 1].target == NULL || v[s->ntz - 1].zone == NULL)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_tz_forget(s);
		return rc == SQLITE_ROW ? PRISM_ENOMEM : PRISM_ESTORE;
	}
	s->tz_loaded = true;
	return 0;
}

/*
 * A desired RRset stored once (the `desired` row) and, when it differed, its ledger row on
 * each target serving the zone marked pending, each by a single-row statement (see
 * ST_SRC_LEDGER_UPSERT) from the target_zones read once (tz_load). Agents' and other
 * sources' hosts both write their records through here.
 */
int sq_desired_set(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		   int64_t host_id, int64_t now, bool *changed)
{
	int64_t hash;
	bool differs;
	if (sq_desired_row(s, rr, zone, host_id, &hash, &differs) != 0)
		return PRISM_ESTORE;
	if (!differs)
		return 0;
	if (tz_load(s) != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *st;
	for (size_t i = 0; i < s->ntz; i++) {
		if (strcmp(s->tz[i].zone, zone) != 0)
			continue;
		st = sq_stmt(s, ST_SRC_LEDGER_UPSERT);
		sq_bind_text(st, 1, s->tz[i].target);
		sq_bind_text(st, 2, zone);
		sq_bind_text(st, 3, rr->name);
		sq_bind_text(st, 4, rr->type);
		sqlite3_bind_int64(st, 5, hash);
		sqlite3_bind_int64(st, 6, host_id);
		sqlite3_bind_int64(st, 7, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			return PRISM_ESTORE;
	}
	*changed = true;
	return 0;
}

/* Withdraw one desired RRset while host @p id owns it, and queue its deletion. */
static int drop_owned(struct prism_store *s, const char *zone, const char *name, const char *type,
		      int64_t id, int64_t now, bool *changed)
{
	sqlite3_stmt *st = sq_stmt(s, ST_DESIRED_DROP_OWNED);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, name);
	sq_bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	struct prism_rr_change del = {name, type, 0, NULL, 0};
	st = sq_stmt(s, ST_LEDGER_WANT_DELETE);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, name);
	sq_bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)prism_rrset_hash(&del));
	sqlite3_bind_null(st, 5);
	sqlite3_bind_int64(st, 6, now);
	*changed = true;
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* Delete a source host and every record it owns. */
static int src_drop_host(struct prism_store *s, int64_t id, int64_t now, bool *changed)
{
	int rc = sq_host_dns_delete(s, id, false, now, changed);
	if (rc != 0)
		return rc;
	sqlite3_stmt *st = sq_stmt(s, ST_HOST_DELETE);
	sqlite3_bind_int64(st, 1, id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static const char *nz(const char *v)
{
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int src_insert(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, char ip[2][64],
		      char dhcid[2][SRC_DHCID_MAX], int64_t *id)
{
	char host[PRISM_DNAME_MAX + 1];
	snprintf(host, sizeof(host), "%s", e->fqdn);
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		host[n - 1] = '\0';
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_INSERT);
	sq_bind_text(st, 1, host);
	sq_bind_text(st, 2, ip[0][0] ? ip[0] : ip[1]);
	sq_bind_text(st, 3, nz(ip[0]));
	sq_bind_text(st, 4, nz(ip[1]));
	sqlite3_bind_int64(st, 5, ctx->now);
	sq_bind_text(st, 6, e->zone);
	sq_bind_text(st, 7, e->fqdn);
	sqlite3_bind_int64(st, 8, e->ttl);
	const char *sync = ctx->dns_enabled ? "pending" : "disabled";
	sq_bind_text(st, 9, sync);
	sq_bind_text(st, 10, prism_source_name(e->source));
	sq_bind_text(st, 11, e->key);
	sq_bind_text(st, 12, nz(dhcid[0]));
	sq_bind_text(st, 13, nz(dhcid[1]));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		return PRISM_ECONFLICT; /* the hostname text is an agent's */
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	*id = sqlite3_last_insert_rowid(s->db);
	return sq_host_counted(s, "online", sync);
}

static int src_update(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, int64_t id, char ip[2][64],
		      char dhcid[2][SRC_DHCID_MAX], bool dns_changed)
{
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_UPDATE);
	sqlite3_bind_int64(st, 1, id);
	sq_bind_text(st, 2, ip[0][0] ? ip[0] : ip[1]);
	sq_bind_text(st, 3, nz(ip[0]));
	sq_bind_text(st, 4, nz(ip[1]));
	sqlite3_bind_int64(st, 5, ctx->now);
	sq_bind_text(st, 6, e->zone);
	sqlite3_bind_int64(st, 7, e->ttl);
	sq_bind_text(st, 8, dns_changed && ctx->dns_enabled ? "pending" : NULL);
	sq_bind_text(st, 9, nz(dhcid[0]));
	sq_bind_text(st, 10, nz(dhcid[1]));
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static const struct src_ops sq_src_ops = {
	.by_key = src_by_key,
	.by_name = src_by_name,
	.name_holder = sq_name_holder,
	.desired_set = sq_desired_set,
	.drop_owned = drop_owned,
	.drop_host = src_drop_host,
	.insert = src_insert,
	.update = src_update,
};

int sq_source_put(struct prism_store *s, const struct prism_source_entry *e,
		  const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	return src_put(&sq_src_ops, s, e, ctx, out);
}

int sq_source_remove(struct prism_store *s, enum prism_source source, const char *key,
		     const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	return src_remove(&sq_src_ops, s, source, key, ctx, out);
}

/* Ids (or indexes) a statement yields in its first column, into a growing array. */
static int collect_ids(sqlite3_stmt *st, int64_t **v, size_t *n)
{
	size_t cap = 0;
	int rc;
	*v = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			int64_t *g = realloc(*v, cap * sizeof(**v));
			if (g == NULL) {
				sqlite3_reset(st);
				return PRISM_ENOMEM;
			}
			*v = g;
		}
		(*v)[(*n)++] = sqlite3_column_int64(st, 0);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* The entries into the in-memory table sync_in (temp_store is MEMORY: not the registry). */
static int sync_load(struct prism_store *s, const struct prism_source_entry *entries, size_t n)
{
	if (sq_exec(s, "CREATE TEMP TABLE IF NOT EXISTS sync_in (key TEXT PRIMARY KEY, "
		       "idx INTEGER, fqdn TEXT, ipv4 TEXT, ipv6 TEXT, ttl INTEGER) WITHOUT ROWID;"
		       "DELETE FROM sync_in;") != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO sync_in VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1,
			       &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct prism_source_entry *e = &entries[i];
		if (!src_entry_valid(e)) {
			rc = PRISM_EINVAL;
			break;
		}
		sqlite3_reset(st);
		sq_bind_text(st, 1, e->key);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sq_bind_text(st, 3, e->fqdn);
		sq_bind_text(st, 4, (e->families & PRISM_FAM_V4) ? e->ipv4 : NULL);
		sq_bind_text(st, 5, (e->families & PRISM_FAM_V6) ? e->ipv6 : NULL);
		sqlite3_bind_int64(st, 6, e->ttl);
		int step = sqlite3_step(st);
		if (step == SQLITE_CONSTRAINT)
			rc = PRISM_EINVAL; /* a key given twice */
		else if (step != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	sqlite3_finalize(st);
	return rc;
}

static int sync_select(struct prism_store *s, const char *sql, enum prism_source source,
		       int64_t **v, size_t *n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, prism_source_name(source));
	int rc = collect_ids(st, v, n);
	sqlite3_finalize(st);
	return rc;
}

int sq_source_sync(struct prism_store *s, enum prism_source source,
		   const struct prism_source_entry *entries, size_t n,
		   const struct prism_source_ctx *ctx, struct prism_source_sync_result *out)
{
	if (s == NULL || (entries == NULL && n > 0) || ctx == NULL || out == NULL ||
	    source == PRISM_SOURCE_AGENT || (unsigned)source >= PRISM_SOURCE_COUNT)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	int64_t *v = NULL;
	size_t k = 0;
	int rc = sync_load(s, entries, n);
	/* hosts whose key is gone first: a name may move from one key to another */
	if (rc == 0)
		rc = sync_select(s,
				 "SELECT id FROM hosts WHERE source = ?1 AND source_key IS NOT "
				 "NULL AND source_key NOT IN (SELECT key FROM sync_in)",
				 source, &v, &k);
	for (size_t i = 0; rc == 0 && i < k; i++) {
		rc = src_drop_host(s, v[i], ctx->now, &out->dns_changed);
		out->removed++;
		if (rc == 0 && i % SQ_MARK_EVERY == SQ_MARK_EVERY - 1)
			rc = sq_job_mark(s);
	}
	free(v);
	v = NULL;
	/* entries that are new or differ from their host, in the caller's order */
	if (rc == 0)
		rc = sync_select(s,
				 "SELECT i.idx FROM sync_in i LEFT JOIN hosts h ON "
				 "h.source = ?1 AND h.source_key = i.key WHERE h.id IS NULL OR "
				 "h.dns_record_id IS NOT i.fqdn OR h.ipv4 IS NOT i.ipv4 OR "
				 "h.ipv6 IS NOT i.ipv6 OR h.dns_ttl IS NOT i.ttl ORDER BY i.idx",
				 source, &v, &k);
	if (rc == 0)
		out->unchanged = n - k;
	for (size_t i = 0; rc == 0 && i < k; i++) {
		struct prism_source_result r;
		const struct prism_source_entry *e = &entries[v[i]];
		rc = sq_source_put(s, e, ctx, &r);
		if (rc == 0)
			src_tally(out, e, &r);
		if (rc == 0 && i % SQ_MARK_EVERY == SQ_MARK_EVERY - 1)
			rc = sq_job_mark(s);
	}
	free(v);
	sq_exec(s, "DELETE FROM sync_in");
	return rc;
}

/* ---- the intake queue ---- */

int sq_source_enqueue(struct prism_store *s, const struct prism_source_entry *e)
{
	if (s == NULL || !src_entry_valid(e))
		return PRISM_EINVAL;
	sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_ADD);
	sq_bind_text(st, 1, prism_source_name(e->source));
	sq_bind_text(st, 2, e->key);
	sq_bind_text(st, 3, e->fqdn);
	sq_bind_text(st, 4, e->zone);
	sqlite3_bind_int(st, 5, (int)e->families);
	sq_bind_text(st, 6, e->ipv4);
	sq_bind_text(st, 7, e->ipv6);
	sqlite3_bind_int64(st, 8, e->ttl);
	sqlite3_bind_int(st, 9, src_queue_flags(e));
	sq_bind_text(st, 10, e->dhcid);
	sq_bind_text(st, 11, e->only_ip);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static char *col_or_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : sq_col_dup(st, i);
}

static int queue_take(struct prism_store *s, enum prism_source source, size_t max,
		      struct src_queued **out, size_t *n)
{
	struct src_queued *q = calloc(max, sizeof(*q));
	*out = q;
	*n = 0;
	if (q == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_TAKE);
	sq_bind_text(st, 1, prism_source_name(source));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct src_queued *x = &q[(*n)++];
		static const int cols[] = {QT_KEY,  QT_FQDN,  QT_ZONE,	 QT_IPV4,
					   QT_IPV6, QT_DHCID, QT_ONLY_IP};
		x->seq = sqlite3_column_int64(st, QT_SEQ);
		for (int c = 0; c < 7; c++)
			x->col[c] = col_or_null(st, cols[c]);
		if (src_queued_entry(x, source, (unsigned)sqlite3_column_int(st, QT_FAMILIES),
				     (uint32_t)sqlite3_column_int64(st, QT_TTL),
				     sqlite3_column_int(st, QT_FLAGS)) != 0) {
			sqlite3_reset(st);
			return PRISM_ENOMEM;
		}
	}
	sqlite3_reset(st);
	return 0;
}

int sq_source_apply(struct prism_store *s, enum prism_source source, size_t max,
		    const struct prism_source_ctx *ctx, struct prism_source_sync_result *out,
		    size_t *applied, size_t *left)
{
	if (s == NULL || ctx == NULL || out == NULL || applied == NULL || max == 0)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	*applied = 0;
	struct src_queued *q;
	size_t n;
	int rc = queue_take(s, source, max, &q, &n);
	if (rc == 0)
		rc = src_apply_queued(&sq_src_ops, s, q, n, ctx, out, sq_job_mark, SQ_MARK_EVERY);
	if (rc == 0 && n > 0) {
		sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_DROP);
		sq_bind_text(st, 1, prism_source_name(source));
		sqlite3_bind_int64(st, 2, q[n - 1].seq);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
	}
	if (rc == 0)
		*applied = n;
	src_queued_free(q, n);
	if (rc == 0 && left != NULL) {
		sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_COUNT);
		sq_bind_text(st, 1, prism_source_name(source));
		rc = sqlite3_step(st) == SQLITE_ROW ? 0 : PRISM_ESTORE;
		*left = rc == 0 ? (size_t)sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
	}
	return rc;
}

int sq_source_unsynced(struct prism_store *s, enum prism_source source, size_t *pending,
		       size_t *conflict)
{
	sqlite3_stmt *st;
	if (s == NULL || pending == NULL || conflict == NULL)
		return PRISM_EINVAL;
	if (sq_prep(s,
		    "SELECT count(*) FILTER (WHERE l.status IN ('pending', 'failed')), "
		    "count(*) FILTER (WHERE l.status = 'conflict') FROM ledger l "
		    "LEFT JOIN hosts h ON h.id = l.host_id WHERE l.status != 'synced' AND "
		    "(l.host_id IS NULL OR h.source = ?1)",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, prism_source_name(source));
	int rc = sqlite3_step(st);
	*pending = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
	*conflict = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 1) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}
