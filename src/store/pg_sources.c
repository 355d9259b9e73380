/* SPDX-License-Identifier: MIT */
/*
 * Hosts of other sources (Kea reservations, leases, DDNS) and the intake queue in the
 * PostgreSQL registry: the same steps as SQLite's sqlite_sources.c (see there and
 * store.h). A consistency sync compares the entries with the hosts in one statement over
 * array parameters (unnest), so a second identical sync writes nothing; inside a writer
 * job it marks its progress (pg_job_mark) as it goes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/pg_int.h"
#include "store/pg_parts.h"
#include "store/source_core.h"

static void col_copy(char *dst, size_t len, const PGresult *r, int row, int col)
{
	const char *t = pg_text(r, row, col);
	snprintf(dst, len, "%s", t ? t : "");
}

static int src_by_key(struct prism_store *s, enum prism_source src, const char *key,
		      struct src_row *row)
{
	memset(row, 0, sizeof(*row));
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(src));
	pg_bind_text(&p, 2, key);
	PGresult *r = pg_exec(s,
			      "SELECT id, dns_record_id, ipv4, ipv6, dhcid4, dhcid6, dns_ttl, "
			      "dns_zone FROM hosts WHERE source = $1 AND source_key = $2",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	if (PQntuples(r) > 0) {
		row->found = true;
		row->id = pg_int(r, 0, 0);
		col_copy(row->name, sizeof(row->name), r, 0, 1);
		col_copy(row->ip[0], sizeof(row->ip[0]), r, 0, 2);
		col_copy(row->ip[1], sizeof(row->ip[1]), r, 0, 3);
		col_copy(row->dhcid[0], sizeof(row->dhcid[0]), r, 0, 4);
		col_copy(row->dhcid[1], sizeof(row->dhcid[1]), r, 0, 5);
		row->ttl = (uint32_t)pg_int(r, 0, 6);
		col_copy(row->zone, sizeof(row->zone), r, 0, 7);
	}
	PQclear(r);
	return 0;
}

/* Who holds @p fqdn (its FQDN, or the same text as an agent's hostname): *id 0 when
 * nobody; else its source. */
static int src_by_name(struct prism_store *s, const char *fqdn, int64_t *id,
		       enum prism_source *src)
{
	char host[PRISM_DNAME_MAX + 1];
	snprintf(host, sizeof(host), "%s", fqdn);
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		host[n - 1] = '\0';
	struct pg_params p = {0};
	pg_bind_text(&p, 1, fqdn);
	pg_bind_text(&p, 2, host);
	PGresult *r = pg_exec(s,
			      "SELECT id, source FROM hosts WHERE dns_record_id = $1 UNION ALL "
			      "SELECT id, source FROM hosts WHERE hostname = $2 LIMIT 1",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	*id = 0;
	if (PQntuples(r) > 0) {
		*id = pg_int(r, 0, 0);
		*src = pg_source_parse(pg_text(r, 0, 1));
	}
	PQclear(r);
	return 0;
}

/* PRISM_ECONFLICT when another host (or the API) holds @p type (or a CNAME) at @p fqdn. */
static int pg_name_holder(struct prism_store *s, const char *zone, const char *fqdn,
			  const char *type, int64_t host_id, enum prism_source *holder)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	pg_bind_text(&p, 2, fqdn);
	pg_bind_text(&p, 3, type);
	pg_bind_int(&p, 4, host_id);
	PGresult *r = pg_exec(s,
			      "SELECT coalesce(h.source, 'api') FROM desired d LEFT JOIN hosts h "
			      "ON h.id = d.host_id WHERE d.zone = $1 AND d.name = $2 AND "
			      "(d.type = $3 OR d.type = 'CNAME') AND d.host_id IS DISTINCT FROM "
			      "$4::bigint LIMIT 1",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0;
	if (PQntuples(r) > 0) {
		*holder = pg_source_parse(pg_text(r, 0, 0));
		rc = PRISM_ECONFLICT;
	}
	PQclear(r);
	return rc;
}

/* Withdraw one desired RRset while host @p id owns it, and queue its deletion. */
static int pg_drop_owned(struct prism_store *s, const char *zone, const char *name,
			 const char *type, int64_t id, int64_t now, bool *changed)
{
	struct prism_rr_change del = {name, type, 0, NULL, 0};
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	pg_bind_text(&p, 2, name);
	pg_bind_text(&p, 3, type);
	pg_bind_int(&p, 4, id);
	pg_bind_int(&p, 5, (int64_t)prism_rrset_hash(&del));
	pg_bind_int(&p, 6, now);
	/* only while this host owns it: a PTR may have moved on */
	PGresult *r = pg_exec(
		s,
		"WITH d AS (DELETE FROM desired WHERE zone = $1 AND name = $2 AND type = $3 AND "
		"host_id = $4 RETURNING 1), "
		"l AS (UPDATE ledger SET desired_hash = $5, status = 'pending', attempts = 0, "
		"next_attempt = 0, last_error = NULL, host_id = NULL, updated_at = $6 "
		"WHERE EXISTS (SELECT 1 FROM d) AND target IN (SELECT target FROM target_zones "
		"WHERE zone = $1) AND zone = $1 AND name = $2 AND type = $3) "
		"SELECT count(*) FROM d",
		&p);
	if (r == NULL)
		return PRISM_ESTORE;
	if (pg_int(r, 0, 0) > 0)
		*changed = true;
	PQclear(r);
	return 0;
}

/* Delete a source host and every record it owns. */
static int src_drop_host(struct prism_store *s, int64_t id, int64_t now, bool *changed)
{
	char ids[32];
	snprintf(ids, sizeof(ids), "{%lld}", (long long)id);
	int rc = pg_hosts_dns_delete(s, ids, false, now, changed);
	if (rc != 0)
		return rc;
	struct pg_params p = {0};
	pg_bind_int(&p, 1, id);
	return pg_cmd(s, "DELETE FROM hosts WHERE id = $1", &p, NULL);
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
	struct pg_params p = {0};
	pg_bind_text(&p, 1, host);
	pg_bind_text(&p, 2, ip[0][0] ? ip[0] : ip[1]);
	pg_bind_text(&p, 3, nz(ip[0]));
	pg_bind_text(&p, 4, nz(ip[1]));
	pg_bind_int(&p, 5, ctx->now);
	pg_bind_text(&p, 6, e->zone);
	pg_bind_text(&p, 7, e->fqdn);
	pg_bind_int(&p, 8, e->ttl);
	pg_bind_text(&p, 9, ctx->dns_enabled ? "pending" : "disabled");
	pg_bind_text(&p, 10, prism_source_name(e->source));
	pg_bind_text(&p, 11, e->key);
	pg_bind_text(&p, 12, nz(dhcid[0]));
	pg_bind_text(&p, 13, nz(dhcid[1]));
	/* the hostname text may be an agent's: no row then, a conflict */
	PGresult *r = pg_exec(s,
			      "INSERT INTO hosts (hostname, current_ip, ipv4, ipv6, status, "
			      "first_seen, last_seen, dns_zone, dns_record_id, dns_ttl, "
			      "dns_sync_status, expires_at, source, source_key, dhcid4, dhcid6) "
			      "VALUES ($1, $2, $3, $4, 'online', $5, $5, $6, $7, $8, $9, "
			      "9223372036854775807, $10, $11, $12, $13) ON CONFLICT DO NOTHING "
			      "RETURNING id",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(r) > 0 ? 0 : PRISM_ECONFLICT;
	if (rc == 0)
		*id = pg_int(r, 0, 0);
	PQclear(r);
	return rc;
}

static int src_update(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, int64_t id, char ip[2][64],
		      char dhcid[2][SRC_DHCID_MAX], bool dns_changed)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, id);
	pg_bind_text(&p, 2, ip[0][0] ? ip[0] : ip[1]);
	pg_bind_text(&p, 3, nz(ip[0]));
	pg_bind_text(&p, 4, nz(ip[1]));
	pg_bind_int(&p, 5, ctx->now);
	pg_bind_text(&p, 6, e->zone);
	pg_bind_int(&p, 7, e->ttl);
	pg_bind_text(&p, 8, dns_changed && ctx->dns_enabled ? "pending" : NULL);
	pg_bind_text(&p, 9, nz(dhcid[0]));
	pg_bind_text(&p, 10, nz(dhcid[1]));
	return pg_cmd(s,
		      "UPDATE hosts SET current_ip = $2, ipv4 = $3, ipv6 = $4, last_seen = $5, "
		      "dns_zone = $6, dns_ttl = $7, dns_sync_status = coalesce($8::text, "
		      "dns_sync_status), dhcid4 = $9, dhcid6 = $10 WHERE id = $1",
		      &p, NULL);
}

static const struct src_ops pg_src_ops = {
	.by_key = src_by_key,
	.by_name = src_by_name,
	.name_holder = pg_name_holder,
	.desired_set = pg_desired_set,
	.drop_owned = pg_drop_owned,
	.drop_host = src_drop_host,
	.insert = src_insert,
	.update = src_update,
};

int pg_source_put(struct prism_store *s, const struct prism_source_entry *e,
		  const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	return src_put(&pg_src_ops, s, e, ctx, out);
}

int pg_source_remove(struct prism_store *s, enum prism_source source, const char *key,
		     const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	return src_remove(&pg_src_ops, s, source, key, ctx, out);
}

/* The entries as arrays (key, fqdn, ipv4, ipv6, ttl), for unnest: parameters 2 to 6. */
#define SYNC_COLS 5

static int sync_arrays(struct pg_array *a, const struct prism_source_entry *entries, size_t n,
		       struct pg_params *p)
{
	for (size_t i = 0; i < n; i++) {
		const struct prism_source_entry *e = &entries[i];
		if (!src_entry_valid(e))
			return PRISM_EINVAL;
		pg_array_text(&a[0], e->key);
		pg_array_text(&a[1], e->fqdn);
		pg_array_text(&a[2], (e->families & PRISM_FAM_V4) ? e->ipv4 : NULL);
		pg_array_text(&a[3], (e->families & PRISM_FAM_V6) ? e->ipv6 : NULL);
		pg_array_int(&a[4], e->ttl);
	}
	return pg_bind_arrays(p, 2, a, SYNC_COLS);
}

/* Ids (or indexes) of the first column of @p r, into a new array. */
static int collect_ids(PGresult *r, int64_t **v, size_t *n)
{
	*n = 0;
	*v = NULL;
	if (r == NULL)
		return PRISM_ESTORE;
	int rows = PQntuples(r);
	if (rows > 0 && (*v = malloc((size_t)rows * sizeof(**v))) == NULL) {
		PQclear(r);
		return PRISM_ENOMEM;
	}
	for (int i = 0; i < rows; i++)
		(*v)[(*n)++] = pg_int(r, i, 0);
	PQclear(r);
	return 0;
}

int pg_source_sync(struct prism_store *s, enum prism_source source,
		   const struct prism_source_entry *entries, size_t n,
		   const struct prism_source_ctx *ctx, struct prism_source_sync_result *out)
{
	if (s == NULL || (entries == NULL && n > 0) || ctx == NULL || out == NULL ||
	    source == PRISM_SOURCE_AGENT || (unsigned)source >= PRISM_SOURCE_COUNT)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct pg_array x[SYNC_COLS] = {0};
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(source));
	int64_t *v = NULL;
	size_t k = 0;
	int rc = sync_arrays(x, entries, n, &p);
	/* keys are unique (a key given twice is the caller's mistake, as on SQLite) */
	struct pg_params keys = {.v = {p.v[1]}, .n = 1};
	PGresult *r = rc == 0 ? pg_exec(s,
					"SELECT count(*) <> count(DISTINCT k) FROM "
					"unnest($1::text[]) k",
					&keys)
			      : NULL;
	if (rc == 0 && r == NULL)
		rc = PRISM_ESTORE;
	if (rc == 0 && pg_int(r, 0, 0) != 0)
		rc = PRISM_EINVAL;
	PQclear(r);
	/* hosts whose key is gone first: a name may move from one key to another */
	if (rc == 0)
		rc = collect_ids(pg_exec(s,
					 "SELECT id FROM hosts WHERE source = $1 AND NOT "
					 "(source_key = ANY ($2::text[])) ORDER BY id",
					 &(struct pg_params){.v = {p.v[0], p.v[1]}, .n = 2}),
				 &v, &k);
	for (size_t i = 0; rc == 0 && i < k; i++) {
		rc = src_drop_host(s, v[i], ctx->now, &out->dns_changed);
		out->removed++;
		if (rc == 0 && i % PG_MARK_EVERY == PG_MARK_EVERY - 1)
			rc = pg_job_mark(s);
	}
	free(v);
	v = NULL;
	/* entries that are new or differ from their host, in the caller's order: one
	 * statement, so an identical sync finds nothing and writes nothing */
	if (rc == 0)
		rc = collect_ids(
			pg_exec(s,
				"SELECT i.idx - 1 FROM unnest($2::text[], $3::text[], "
				"$4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY AS "
				"i (key, fqdn, ipv4, ipv6, ttl, idx) LEFT JOIN hosts h ON "
				"h.source = $1 AND h.source_key = i.key WHERE h.id IS NULL OR "
				"h.dns_record_id IS DISTINCT FROM i.fqdn OR h.ipv4 IS "
				"DISTINCT FROM i.ipv4 OR h.ipv6 IS DISTINCT FROM i.ipv6 OR "
				"h.dns_ttl IS DISTINCT FROM i.ttl ORDER BY i.idx",
				&p),
			&v, &k);
	if (rc == 0)
		out->unchanged = n - k;
	for (size_t i = 0; rc == 0 && i < k; i++) {
		struct prism_source_result res;
		const struct prism_source_entry *e = &entries[v[i]];
		rc = pg_source_put(s, e, ctx, &res);
		if (rc == 0)
			src_tally(out, e, &res);
		if (rc == 0 && i % PG_MARK_EVERY == PG_MARK_EVERY - 1)
			rc = pg_job_mark(s);
	}
	free(v);
	pg_arrays_free(x, SYNC_COLS);
	return rc;
}

/* ---- the intake queue ---- */

int pg_source_enqueue(struct prism_store *s, const struct prism_source_entry *e)
{
	if (s == NULL || !src_entry_valid(e))
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(e->source));
	pg_bind_text(&p, 2, e->key);
	pg_bind_text(&p, 3, e->fqdn);
	pg_bind_text(&p, 4, e->zone);
	pg_bind_int(&p, 5, (int64_t)e->families);
	pg_bind_text(&p, 6, e->ipv4);
	pg_bind_text(&p, 7, e->ipv6);
	pg_bind_int(&p, 8, e->ttl);
	pg_bind_int(&p, 9, src_queue_flags(e));
	pg_bind_text(&p, 10, e->dhcid);
	pg_bind_text(&p, 11, e->only_ip);
	return pg_cmd(s,
		      "INSERT INTO source_queue (source, key, fqdn, zone, families, ipv4, ipv6, "
		      "ttl, flags, dhcid, only_ip) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
		      "$10, $11)",
		      &p, NULL) == 0
		       ? 0
		       : PRISM_ESTORE;
}

static int queue_take(struct prism_store *s, enum prism_source source, size_t max,
		      struct src_queued **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(source));
	pg_bind_int(&p, 2, (int64_t)max);
	PGresult *r = pg_exec(s,
			      "SELECT seq, key, fqdn, zone, families, ipv4, ipv6, ttl, flags, "
			      "dhcid, only_ip FROM source_queue WHERE source = $1 ORDER BY seq "
			      "LIMIT $2",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rows = PQntuples(r), rc = 0;
	struct src_queued *q = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*q));
	*out = q;
	if (q == NULL)
		rc = PRISM_ENOMEM;
	static const int cols[7] = {1, 2, 3, 5, 6, 9, 10};
	for (int i = 0; rc == 0 && i < rows; i++) {
		struct src_queued *x = &q[(*n)++];
		x->seq = pg_int(r, i, 0);
		for (int c = 0; c < 7; c++)
			if (!pg_null(r, i, cols[c]) && (x->col[c] = pg_dup(r, i, cols[c])) == NULL)
				rc = PRISM_ENOMEM;
		if (rc == 0 &&
		    src_queued_entry(x, source, (unsigned)pg_int(r, i, 4),
				     (uint32_t)pg_int(r, i, 7), (int)pg_int(r, i, 8)) != 0)
			rc = PRISM_ENOMEM;
	}
	PQclear(r);
	return rc;
}

int pg_source_apply(struct prism_store *s, enum prism_source source, size_t max,
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
		rc = src_apply_queued(&pg_src_ops, s, q, n, ctx, out, pg_job_mark, PG_MARK_EVERY);
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(source));
	if (rc == 0 && n > 0) {
		pg_bind_int(&p, 2, q[n - 1].seq);
		rc = pg_cmd(s, "DELETE FROM source_queue WHERE source = $1 AND seq <= $2", &p,
			    NULL);
	}
	if (rc == 0)
		*applied = n;
	src_queued_free(q, n);
	if (rc == 0 && left != NULL) {
		p.n = 1;
		PGresult *r =
			pg_exec(s, "SELECT count(*) FROM source_queue WHERE source = $1", &p);
		rc = r != NULL ? 0 : PRISM_ESTORE;
		*left = r != NULL ? (size_t)pg_int(r, 0, 0) : 0;
		PQclear(r);
	}
	return rc;
}

int pg_source_unsynced(struct prism_store *s, enum prism_source source, size_t *pending,
		       size_t *conflicts)
{
	if (s == NULL || pending == NULL || conflicts == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(source));
	PGresult *r =
		pg_exec(s,
			"SELECT count(*) FILTER (WHERE l.status IN ('pending', 'failed')), "
			"count(*) FILTER (WHERE l.status = 'conflict') FROM ledger l "
			"LEFT JOIN hosts h ON h.id = l.host_id WHERE l.status <> 'synced' AND "
			"(l.host_id IS NULL OR h.source = $1)",
			&p);
	*pending = r != NULL ? (size_t)pg_int(r, 0, 0) : 0;
	*conflicts = r != NULL ? (size_t)pg_int(r, 0, 1) : 0;
	PQclear(r);
	return r != NULL ? 0 : PRISM_ESTORE;
}
