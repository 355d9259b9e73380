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

#define DHCID_MAX 160 /* hex text; RFC 4701 DHCIDs are 70 */
#define SYNC_MARK 32  /* hosts a sync writes between job marks */

/* A source host as stored. Family 0 is IPv4, 1 IPv6; "" is none. */
struct src_row {
	bool found;
	int64_t id;
	char name[PRISM_DNAME_MAX + 1];
	char zone[PRISM_DNAME_MAX + 1];
	char ip[2][64];
	char dhcid[2][DHCID_MAX];
	uint32_t ttl;
};

static const char *const fam_type[2] = {"A", "AAAA"};

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
static int name_holder(struct prism_store *s, const char *zone, const char *fqdn, const char *type,
		       int64_t host_id, enum prism_source *holder)
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
static int drop_owned(struct prism_store *s, const char *zone, const char *name, const char *type,
		      int64_t id, int64_t now, bool *changed)
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

/* The reverse name of @p ip and the managed zone holding it, or NULL (no PTR then). */
static const char *reverse_zone(const char *ip, const char *const *zones, char *rev, size_t len)
{
	if (prism_reverse_name(ip, rev, len) != 0)
		return NULL;
	return prism_zone_of(rev, zones);
}

/* Family @p f of host @p id goes from @p old ("" = none) to @p ip (NULL = none). */
static int src_family(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, int64_t id, int f, const char *old,
		      const char *ip, bool *changed)
{
	bool publish = f == 0 ? ctx->publish_a : ctx->publish_aaaa;
	bool ch = false;
	int rc = 0;
	if (e->forward && publish) {
		if (ip != NULL) {
			const char *recs[1] = {ip};
			struct prism_rr_change rr = {e->fqdn, fam_type[f], e->ttl, recs, 1};
			rc = pg_desired_set(s, &rr, e->zone, id, ctx->now, &ch);
		} else {
			rc = drop_owned(s, e->zone, e->fqdn, fam_type[f], id, ctx->now, &ch);
		}
	}
	if (rc != 0 || !e->reverse)
		goto out;
	char rev[PRISM_DNAME_MAX + 1];
	const char *rzone;
	if (old[0] != '\0' && (ip == NULL || strcmp(old, ip) != 0) &&
	    (rzone = reverse_zone(old, ctx->zones, rev, sizeof(rev))) != NULL)
		rc = drop_owned(s, rzone, rev, "PTR", id, ctx->now, &ch);
	if (rc == 0 && ip != NULL && (rzone = reverse_zone(ip, ctx->zones, rev, sizeof(rev)))) {
		const char *recs[1] = {e->fqdn};
		struct prism_rr_change rr = {rev, "PTR", e->ttl, recs, 1};
		bool set = false;
		rc = pg_desired_set(s, &rr, rzone, id, ctx->now, &set);
		ch |= set;
	}
out:
	*changed |= ch;
	return rc;
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
		      const struct prism_source_ctx *ctx, char ip[2][64], char dhcid[2][DHCID_MAX],
		      int64_t *id)
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
		      char dhcid[2][DHCID_MAX], bool dns_changed)
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

static void conflict(struct prism_source_result *out, enum prism_source holder, bool dhcid)
{
	out->outcome = PRISM_SOURCE_CONFLICT;
	out->holder = holder;
	out->dhcid_conflict = dhcid;
}

/* May the entry take its name? Frees it from a yielding key of its own source. */
static int src_claim(struct prism_store *s, const struct prism_source_entry *e,
		     const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	int64_t id;
	enum prism_source holder = PRISM_SOURCE_AGENT;
	int rc = src_by_name(s, e->fqdn, &id, &holder);
	if (rc != 0 || id == 0)
		return rc;
	if (holder != e->source || !e->takeover) {
		conflict(out, holder, false);
		return 0;
	}
	return src_drop_host(s, id, ctx->now, &out->dns_changed);
}

/* Another DHCID holds a family the entry touches (Kea's check-with-dhcid). */
static bool dhcid_refused(const struct prism_source_entry *e, const struct src_row *r)
{
	if (e->dhcid == NULL || !e->check_dhcid || !r->found)
		return false;
	for (int f = 0; f < 2; f++)
		if ((e->families & (1u << f)) && r->ip[f][0] && r->dhcid[f][0] &&
		    strcasecmp(r->dhcid[f], e->dhcid) != 0)
			return true;
	return false;
}

static bool entry_valid(const struct prism_source_entry *e)
{
	return e != NULL && e->key != NULL && strlen(e->key) < 256 && e->fqdn != NULL &&
	       e->zone != NULL && e->families != 0 && (e->families & ~3u) == 0 &&
	       (unsigned)e->source < PRISM_SOURCE_COUNT && e->source != PRISM_SOURCE_AGENT &&
	       (e->dhcid == NULL || strlen(e->dhcid) < DHCID_MAX) &&
	       (e->ipv4 == NULL || strlen(e->ipv4) < 64) &&
	       (e->ipv6 == NULL || strlen(e->ipv6) < 64);
}

int pg_source_put(struct prism_store *s, const struct prism_source_entry *e0,
		  const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	if (s == NULL || !entry_valid(e0) || ctx == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct prism_source_entry e = *e0;
	struct src_row row;
	int rc = src_by_key(s, e.source, e.key, &row);
	if (rc != 0)
		return rc;
	bool sets =
		((e.families & PRISM_FAM_V4) && e.ipv4) || ((e.families & PRISM_FAM_V6) && e.ipv6);
	if (!sets && row.found) {
		/* a withdrawal concerns the key's host, whatever name it came with */
		e.fqdn = row.name;
		e.zone = row.zone;
	} else if (sets && (!row.found || strcmp(row.name, e.fqdn) != 0)) {
		if ((rc = src_claim(s, &e, ctx, out)) != 0)
			return rc;
		if (row.found) {
			/* renamed: the old name's records go with the old host, also when the
			 * new name turns out to be someone else's */
			if ((rc = src_drop_host(s, row.id, ctx->now, &out->dns_changed)) != 0)
				return rc;
			row = (struct src_row){0};
		}
		if (out->outcome == PRISM_SOURCE_CONFLICT)
			return 0;
	}
	if (!row.found && !sets)
		return 0; /* nothing held, nothing to withdraw */
	if (dhcid_refused(&e, &row)) {
		conflict(out, e.source, true);
		return 0;
	}
	char ip[2][64], dhcid[2][DHCID_MAX];
	memcpy(ip, row.ip, sizeof(ip));
	memcpy(dhcid, row.dhcid, sizeof(dhcid));
	const char *want[2] = {e.ipv4, e.ipv6};
	for (int f = 0; f < 2; f++) {
		if (want[f] == NULL && e.only_ip != NULL && strcmp(row.ip[f], e.only_ip) != 0)
			e.families &= ~(1u << f); /* it holds another address now: keep it */
		if (!(e.families & (1u << f)))
			continue;
		if (want[f] != NULL) {
			snprintf(ip[f], sizeof(ip[f]), "%s", want[f]);
			if (e.dhcid != NULL)
				snprintf(dhcid[f], sizeof(dhcid[f]), "%s", e.dhcid);
		} else if (e.forward) {
			ip[f][0] = dhcid[f][0] = '\0';
		}
	}
	for (int f = 0; ctx->dns_enabled && e.forward && f < 2; f++) {
		enum prism_source holder;
		if (!(e.families & (1u << f)) || want[f] == NULL ||
		    !(f == 0 ? ctx->publish_a : ctx->publish_aaaa))
			continue;
		rc = name_holder(s, e.zone, e.fqdn, fam_type[f], row.found ? row.id : 0, &holder);
		if (rc == PRISM_ECONFLICT) {
			conflict(out, holder, false);
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	int64_t id = row.id;
	if (!row.found) {
		rc = src_insert(s, &e, ctx, ip, dhcid, &id);
		if (rc == PRISM_ECONFLICT) {
			conflict(out, PRISM_SOURCE_AGENT, false);
			return 0;
		}
		if (rc != 0)
			return rc;
	}
	out->host_id = id;
	for (int f = 0; ctx->dns_enabled && f < 2; f++)
		if ((e.families & (1u << f)) && (rc = src_family(s, &e, ctx, id, f, row.ip[f],
								 want[f], &out->dns_changed)) != 0)
			return rc;
	if (ip[0][0] == '\0' && ip[1][0] == '\0') {
		out->outcome = PRISM_SOURCE_REMOVED;
		return src_drop_host(s, id, ctx->now, &out->dns_changed);
	}
	if (!row.found) {
		out->outcome = PRISM_SOURCE_ADDED;
		return 0;
	}
	bool same = memcmp(ip, row.ip, sizeof(ip)) == 0 &&
		    memcmp(dhcid, row.dhcid, sizeof(dhcid)) == 0 && row.ttl == e.ttl &&
		    strcmp(row.zone, e.zone) == 0;
	if (same && !out->dns_changed)
		return 0;
	out->outcome = PRISM_SOURCE_UPDATED;
	return src_update(s, &e, ctx, id, ip, dhcid, out->dns_changed);
}

int pg_source_remove(struct prism_store *s, enum prism_source source, const char *key,
		     const struct prism_source_ctx *ctx, struct prism_source_result *out)
{
	if (s == NULL || key == NULL || ctx == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct src_row row;
	int rc = src_by_key(s, source, key, &row);
	if (rc != 0 || !row.found)
		return rc;
	out->host_id = row.id;
	out->outcome = PRISM_SOURCE_REMOVED;
	return src_drop_host(s, row.id, ctx->now, &out->dns_changed);
}

static void sync_tally(struct prism_source_sync_result *out, const struct prism_source_entry *e,
		       const struct prism_source_result *r)
{
	out->dns_changed |= r->dns_changed;
	switch (r->outcome) {
	case PRISM_SOURCE_ADDED: out->added++; break;
	case PRISM_SOURCE_UPDATED: out->updated++; break;
	case PRISM_SOURCE_REMOVED: out->removed++; break;
	case PRISM_SOURCE_UNCHANGED: out->unchanged++; break;
	case PRISM_SOURCE_CONFLICT:
		if (out->conflicts < PRISM_SOURCE_SYNC_SHOWN) {
			struct prism_source_conflict *c = &out->shown[out->conflicts];
			snprintf(c->name, sizeof(c->name), "%s", e->fqdn);
			c->holder = r->holder;
		}
		out->conflicts++;
		break;
	}
}

/* The entries as arrays (key, fqdn, ipv4, ipv6, ttl), for unnest. */
struct sync_arrays {
	struct pg_array a[5];
};

static void sync_arrays_free(struct sync_arrays *x)
{
	for (int i = 0; i < 5; i++)
		pg_array_free(&x->a[i]);
}

static int sync_arrays(struct sync_arrays *x, const struct prism_source_entry *entries, size_t n,
		       struct pg_params *p)
{
	memset(x, 0, sizeof(*x));
	for (size_t i = 0; i < n; i++) {
		const struct prism_source_entry *e = &entries[i];
		if (!entry_valid(e))
			return PRISM_EINVAL;
		pg_array_text(&x->a[0], e->key);
		pg_array_text(&x->a[1], e->fqdn);
		pg_array_text(&x->a[2], (e->families & PRISM_FAM_V4) ? e->ipv4 : NULL);
		pg_array_text(&x->a[3], (e->families & PRISM_FAM_V6) ? e->ipv6 : NULL);
		pg_array_int(&x->a[4], e->ttl);
	}
	for (int i = 0; i < 5; i++) {
		const char *v = pg_array_end(&x->a[i]);
		if (v == NULL)
			return PRISM_ENOMEM;
		pg_bind_text(p, i + 2, v);
	}
	return 0;
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
	struct sync_arrays x;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(source));
	int64_t *v = NULL;
	size_t k = 0;
	int rc = sync_arrays(&x, entries, n, &p);
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
		if (rc == 0 && i % SYNC_MARK == SYNC_MARK - 1)
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
			sync_tally(out, e, &res);
		if (rc == 0 && i % SYNC_MARK == SYNC_MARK - 1)
			rc = pg_job_mark(s);
	}
	free(v);
	sync_arrays_free(&x);
	return rc;
}

/* ---- the intake queue ---- */

enum { QF_FORWARD = 1, QF_REVERSE = 2, QF_CHECK = 4, QF_TAKEOVER = 8 };

int pg_source_enqueue(struct prism_store *s, const struct prism_source_entry *e)
{
	if (s == NULL || !entry_valid(e))
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
	pg_bind_int(&p, 9,
		    (e->forward ? QF_FORWARD : 0) | (e->reverse ? QF_REVERSE : 0) |
			    (e->check_dhcid ? QF_CHECK : 0) | (e->takeover ? QF_TAKEOVER : 0));
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

/* One queued row as an entry; the strings are copies (col). */
struct queued {
	int64_t seq;
	char *col[7]; /* key fqdn zone ipv4 ipv6 dhcid only_ip */
	struct prism_source_entry e;
};

static void queued_free(struct queued *q, size_t n)
{
	for (size_t i = 0; q != NULL && i < n; i++)
		for (int c = 0; c < 7; c++)
			free(q[i].col[c]);
	free(q);
}

static int queue_take(struct prism_store *s, enum prism_source source, size_t max,
		      struct queued **out, size_t *n)
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
	struct queued *q = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*q));
	*out = q;
	if (q == NULL)
		rc = PRISM_ENOMEM;
	static const int cols[7] = {1, 2, 3, 5, 6, 9, 10};
	for (int i = 0; rc == 0 && i < rows; i++) {
		struct queued *x = &q[(*n)++];
		x->seq = pg_int(r, i, 0);
		for (int c = 0; c < 7; c++)
			if (!pg_null(r, i, cols[c]) && (x->col[c] = pg_dup(r, i, cols[c])) == NULL)
				rc = PRISM_ENOMEM;
		int flags = (int)pg_int(r, i, 8);
		x->e = (struct prism_source_entry){
			.source = source,
			.key = x->col[0],
			.fqdn = x->col[1],
			.zone = x->col[2],
			.families = (unsigned)pg_int(r, i, 4),
			.ipv4 = x->col[3],
			.ipv6 = x->col[4],
			.ttl = (uint32_t)pg_int(r, i, 7),
			.forward = flags & QF_FORWARD,
			.reverse = flags & QF_REVERSE,
			.check_dhcid = flags & QF_CHECK,
			.takeover = flags & QF_TAKEOVER,
			.dhcid = x->col[5],
			.only_ip = x->col[6],
		};
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
	struct queued *q;
	size_t n;
	int rc = queue_take(s, source, max, &q, &n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct prism_source_result r;
		rc = pg_source_put(s, &q[i].e, ctx, &r);
		if (rc == PRISM_EINVAL) {
			rc = 0; /* cannot be applied: dropped, not retried forever */
			continue;
		}
		if (rc == 0)
			sync_tally(out, &q[i].e, &r);
		if (rc == 0 && i % SYNC_MARK == SYNC_MARK - 1)
			rc = pg_job_mark(s);
	}
	struct pg_params p = {0};
	pg_bind_text(&p, 1, prism_source_name(source));
	if (rc == 0 && n > 0) {
		pg_bind_int(&p, 2, q[n - 1].seq);
		rc = pg_cmd(s, "DELETE FROM source_queue WHERE source = $1 AND seq <= $2", &p,
			    NULL);
	}
	if (rc == 0)
		*applied = n;
	queued_free(q, n);
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
