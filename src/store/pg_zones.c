/* SPDX-License-Identifier: MIT */
/*
 * Zones, records, repoint and targets added at run time in the PostgreSQL registry: the
 * same tables and the same steps as SQLite's zones.c and targets.c (see there). An
 * rrsets_put or a repoint queues its writes in a temporary table of the session and applies
 * them set-based at the end, as on SQLite. A repoint's name pattern is SQLite's GLOB,
 * matched here with fnmatch() (FNM_NOESCAPE: GLOB has no escape character), never turned
 * into SQL.
 */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/pg_int.h"
#include "store/pg_parts.h"
#include "store/zones_util.h"

#define SERVED_MAX 1000000 /* zones one target may serve */

/* Whether @p sql (one parameter: @p a) finds a row; *err set on a failure. */
static bool exists(struct prism_store *s, const char *sql, const char *a, int *err)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, a);
	PGresult *r = pg_exec(s, sql, &p);
	*err = r == NULL ? PRISM_ESTORE : 0;
	bool found = r != NULL && PQntuples(r) > 0;
	PQclear(r);
	return found;
}

static bool zone_exists(struct prism_store *s, const char *zone, int *err)
{
	return exists(s, "SELECT 1 FROM zones WHERE name = $1", zone, err);
}

/* ---- zones ---- */

static int add_pair(struct prism_store *s, const char *target, const char *zone, int64_t now)
{
	struct pg_params p = {0};
	size_t added = 0;
	pg_bind_text(&p, 1, target);
	pg_bind_text(&p, 2, zone);
	int rc = pg_cmd(s,
			"INSERT INTO target_zones (target, zone) VALUES ($1, $2) "
			"ON CONFLICT DO NOTHING",
			&p, &added);
	if (rc != 0 || added == 0)
		return rc;
	pg_bind_int(&p, 3, now);
	return pg_cmd(s,
		      "INSERT INTO ledger (target, zone, name, type, desired_hash, status, "
		      "attempts, next_attempt, host_id, updated_at) SELECT $1, zone, name, type, "
		      "hash, 'pending', 0, 0, host_id, $3 FROM desired WHERE zone = $2 "
		      "ON CONFLICT DO NOTHING",
		      &p, NULL);
}

int pg_zone_create(struct prism_store *s, const struct prism_zone_spec *z,
		   const char *const *targets, int64_t now)
{
	int err;
	if (s == NULL || z == NULL || z->name == NULL || z->kind == NULL || z->targets == NULL ||
	    z->nameservers == NULL || z->soa == NULL)
		return PRISM_EINVAL;
	if (zone_exists(s, z->name, &err))
		return PRISM_ECONFLICT;
	if (err != 0)
		return err;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, z->name);
	pg_bind_text(&p, 2, z->kind);
	pg_bind_text(&p, 3, z->targets);
	pg_bind_text(&p, 4, z->nameservers);
	pg_bind_text(&p, 5, z->soa);
	pg_bind_int(&p, 6, z->ttl);
	pg_bind_int(&p, 7, z->dnssec);
	pg_bind_int(&p, 8, z->adopt);
	pg_bind_text(&p, 9, z->origin ? z->origin : "api");
	pg_bind_int(&p, 10, now);
	int rc = pg_cmd(s,
			"INSERT INTO zones (name, kind, targets, nameservers, soa, ttl, dnssec, "
			"adopt, origin, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
			"$10)",
			&p, NULL);
	/* a deletion still owed for an earlier zone of this name: the new zone replaces it */
	struct pg_params q = {0};
	pg_bind_text(&q, 1, z->name);
	if (rc == 0)
		rc = pg_cmd(s, "DELETE FROM zone_deletions WHERE zone = $1", &q, NULL);
	for (size_t i = 0; rc == 0 && targets != NULL && targets[i] != NULL; i++)
		rc = add_pair(s, targets[i], z->name, now);
	return rc;
}

int pg_zone_delete(struct prism_store *s, const char *zone, int64_t now, size_t *ntargets)
{
	int err;
	if (s == NULL || zone == NULL || ntargets == NULL)
		return PRISM_EINVAL;
	if (!zone_exists(s, zone, &err))
		return err != 0 ? err : PRISM_ENOTFOUND;
	static const char *const steps[] = {
		"DELETE FROM ledger WHERE zone = $1",
		"DELETE FROM desired WHERE zone = $1",
		"DELETE FROM target_zones WHERE zone = $1",
		"DELETE FROM zones WHERE name = $1",
	};
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	pg_bind_int(&p, 2, now);
	int rc = pg_cmd(s,
			"INSERT INTO zone_deletions (target, zone, at) SELECT target, zone, $2 "
			"FROM target_zones WHERE zone = $1 ON CONFLICT (target, zone) DO UPDATE "
			"SET at = excluded.at",
			&p, ntargets);
	p.n = 1;
	for (size_t i = 0; rc == 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
		rc = pg_cmd(s, steps[i], &p, NULL);
	return rc;
}

int pg_zone_set_adopt(struct prism_store *s, const char *zone)
{
	size_t n = 0;
	if (s == NULL || zone == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	int rc = pg_cmd(s, "UPDATE zones SET adopt = 1 WHERE name = $1", &p, &n);
	return rc != 0 ? rc : n == 0 ? PRISM_ENOTFOUND : 0;
}

int pg_zone_set_dnssec(struct prism_store *s, const char *zone, bool on, bool *changed)
{
	int err;
	size_t n = 0;
	if (s == NULL || zone == NULL || changed == NULL)
		return PRISM_EINVAL;
	*changed = false;
	if (!zone_exists(s, zone, &err))
		return err != 0 ? err : PRISM_ENOTFOUND;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	pg_bind_int(&p, 2, on);
	int rc =
		pg_cmd(s, "UPDATE zones SET dnssec = $2 WHERE name = $1 AND dnssec <> $2", &p, &n);
	*changed = n > 0;
	return rc;
}

int pg_zones_served(struct prism_store *s, const char *target, struct prism_served *out)
{
	size_t cap = 0;
	if (s == NULL || target == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	PGresult *r = pg_exec(s,
			      "SELECT z.name, z.kind, z.nameservers, z.soa, z.adopt, z.dnssec "
			      "FROM target_zones t JOIN zones z ON z.name = t.zone "
			      "WHERE t.target = $1 ORDER BY z.name",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(r) && i < SERVED_MAX; i++) {
		rc = zgrow((void **)&out->zones, &cap, out->nzones, sizeof(*out->zones));
		if (rc != 0)
			break;
		struct prism_served_zone *z = &out->zones[out->nzones++];
		memset(z, 0, sizeof(*z));
		z->name = pg_dup(r, i, 0);
		z->kind = pg_dup(r, i, 1);
		z->nameservers = prism_split_lines(PQgetvalue(r, i, 2));
		z->soa = pg_dup(r, i, 3);
		z->adopt = pg_int(r, i, 4) != 0;
		z->dnssec = pg_int(r, i, 5) != 0;
		if (!z->name || !z->kind || !z->nameservers || !z->soa)
			rc = PRISM_ENOMEM;
	}
	PQclear(r);
	cap = 0;
	r = rc == 0 ? pg_exec(s, "SELECT zone FROM zone_deletions WHERE target = $1 ORDER BY zone",
			      &p)
		    : NULL;
	if (rc == 0 && r == NULL)
		rc = PRISM_ESTORE;
	for (int i = 0; rc == 0 && i < PQntuples(r) && i < SERVED_MAX; i++) {
		rc = zgrow((void **)&out->deletions, &cap, out->ndeletions,
			   sizeof(*out->deletions));
		if (rc == 0 && (out->deletions[out->ndeletions++] = pg_dup(r, i, 0)) == NULL)
			rc = PRISM_ENOMEM;
	}
	PQclear(r);
	if (rc != 0)
		prism_served_free(out);
	return rc;
}

int pg_zone_deletion_done(struct prism_store *s, const char *target, const char *zone)
{
	if (s == NULL || target == NULL || zone == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, target);
	pg_bind_text(&p, 2, zone);
	return pg_cmd(s, "DELETE FROM zone_deletions WHERE target = $1 AND zone = $2", &p, NULL);
}

/* ---- records (zones_core.c decides what these statements do) ---- */

/* Applied in this order by pg_zflush ($1 = now). */
static const char *const flush_sql[] = {
	"DELETE FROM desired d USING zput z WHERE z.del AND d.zone = z.zone AND "
	"d.name = z.name AND d.type = z.type",
	"UPDATE ledger SET desired_hash = z.hash, status = 'pending', attempts = 0, "
	"next_attempt = 0, last_error = NULL, host_id = NULL, updated_at = $1 FROM zput z "
	"WHERE z.del AND ledger.zone = z.zone AND ledger.name = z.name AND ledger.type = z.type",
	"INSERT INTO desired (zone, name, type, ttl, content, hash, host_id) "
	"SELECT zone, name, type, ttl, content, hash, host_id FROM zput WHERE NOT del "
	"ON CONFLICT (zone, name, type) DO UPDATE SET "
	"ttl = excluded.ttl, content = excluded.content, hash = excluded.hash, "
	"host_id = excluded.host_id",
	/* fan every change out to every target serving its zone */
	"INSERT INTO ledger (target, zone, name, type, desired_hash, status, attempts, "
	"next_attempt, host_id, updated_at) SELECT t.target, z.zone, z.name, z.type, z.hash, "
	"'pending', 0, 0, z.host_id, $1 FROM zput z JOIN target_zones t ON t.zone = z.zone "
	"WHERE NOT z.del ON CONFLICT (target, zone, name, type) DO UPDATE SET "
	"desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "
	"next_attempt = 0, last_error = NULL, host_id = excluded.host_id, "
	"updated_at = excluded.updated_at",
	"DELETE FROM zput",
};

/* The session's queue of writes (a temporary table), empty. */
static int pg_zopen(struct zput *c)
{
	return pg_exec_simple(c->s, "CREATE TEMP TABLE IF NOT EXISTS zput (zone TEXT COLLATE "
				    "\"C\", name TEXT COLLATE \"C\", type TEXT COLLATE \"C\", "
				    "ttl BIGINT, content TEXT, hash BIGINT, host_id BIGINT, "
				    "del BOOLEAN, PRIMARY KEY (zone, name, type));"
				    "DELETE FROM zput;");
}

static void pg_zclose(struct zput *c)
{
	(void)c;
}

static int pg_zaudit(struct zput *c, const struct prism_audit_entry *e)
{
	return pg_audit_add(c->s, e);
}

static int pg_zcurrent(struct zput *c, const char *name, const char *type, int64_t *host,
		       int64_t *hash, uint32_t *ttl, char **content)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, c->zone);
	pg_bind_text(&p, 2, name);
	pg_bind_text(&p, 3, type);
	*host = -1;
	*content = NULL;
	PGresult *r = pg_exec(c->s,
			      "SELECT host_id, ttl, content, hash FROM desired WHERE zone = $1 "
			      "AND name = $2 AND type = $3",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0;
	if (PQntuples(r) > 0) {
		*host = pg_int(r, 0, 0);
		*ttl = (uint32_t)pg_int(r, 0, 1);
		*hash = pg_int(r, 0, 3);
		if ((*content = pg_dup(r, 0, 2)) == NULL)
			rc = PRISM_ENOMEM;
	}
	PQclear(r);
	return rc;
}

static int pg_zqueue(struct zput *c, const char *name, const char *type, uint32_t ttl,
		     const char *content, int64_t hash, int64_t host_id, bool del)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, c->zone);
	pg_bind_text(&p, 2, name);
	pg_bind_text(&p, 3, type);
	pg_bind_int(&p, 4, ttl);
	pg_bind_text(&p, 5, content);
	pg_bind_int(&p, 6, hash);
	if (host_id > 0)
		pg_bind_int(&p, 7, host_id);
	else
		pg_bind_text(&p, 7, NULL);
	pg_bind_bool(&p, 8, del);
	return pg_cmd(c->s,
		      "INSERT INTO zput (zone, name, type, ttl, content, hash, host_id, del) "
		      "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (zone, name, type) DO "
		      "UPDATE SET ttl = excluded.ttl, content = excluded.content, "
		      "hash = excluded.hash, host_id = excluded.host_id, del = excluded.del",
		      &p, NULL);
}

/* Apply every queued change, set-based. */
static int pg_zflush(struct zput *c)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, c->now);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(flush_sql) / sizeof(flush_sql[0]); i++)
		rc = pg_cmd(c->s, flush_sql[i], strstr(flush_sql[i], "$1") ? &p : NULL, NULL) == 0
			     ? 0
			     : PRISM_ESTORE;
	return rc;
}

static int pg_zname_types(struct zput *c, const char *name, int64_t *total, int64_t *cnames,
			  int64_t *hosts, char *types, size_t len)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, c->zone);
	pg_bind_text(&p, 2, name);
	PGresult *r = pg_exec(c->s,
			      "SELECT count(*), count(*) FILTER (WHERE type = 'CNAME'), "
			      "count(host_id), string_agg(type, ' ') FROM desired "
			      "WHERE zone = $1 AND name = $2",
			      &p);
	if (r == NULL || PQntuples(r) != 1) {
		PQclear(r);
		return PRISM_ESTORE;
	}
	const char *t = pg_text(r, 0, 3);
	*total = pg_int(r, 0, 0);
	*cnames = pg_int(r, 0, 1);
	*hosts = pg_int(r, 0, 2);
	snprintf(types, len, "%s", t ? t : "");
	PQclear(r);
	return 0;
}

static int pg_zone_exists(struct prism_store *s, const char *zone, bool *found)
{
	int err;
	*found = zone_exists(s, zone, &err);
	return err;
}

/* Whether @p name (an FQDN) matches SQLite's GLOB @p pattern without its trailing dot. */
static bool glob_match(const char *pattern, const char *name)
{
	char host[PRISM_DNAME_MAX + 2];
	snprintf(host, sizeof(host), "%s", name);
	size_t n = strlen(host);
	while (n > 0 && host[n - 1] == '.')
		host[--n] = '\0';
	return fnmatch(pattern, host, FNM_NOESCAPE) == 0;
}

static int pg_zmatches(struct prism_store *s, const char *from, const char *const *zones,
		       const char *pattern, struct zmatch **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, from);
	PGresult *r =
		pg_exec(s,
			"SELECT zone, name, type, ttl, content, coalesce(host_id, 0) FROM "
			"desired WHERE type IN ('A', 'AAAA') AND strpos(E'\\n' || content || "
			"E'\\n', E'\\n' || $1::text || E'\\n') > 0 ORDER BY zone, name, type",
			&p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0;
	for (int i = 0; rc == 0 && i < PQntuples(r); i++)
		if (pattern == NULL || glob_match(pattern, PQgetvalue(r, i, 1)))
			rc = zmatch_add(out, n, &cap, zones, PQgetvalue(r, i, 0),
					PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
					(uint32_t)pg_int(r, i, 3), PQgetvalue(r, i, 4),
					pg_int(r, i, 5));
	PQclear(r);
	return rc;
}

static int pg_zreaddress(struct prism_store *s, int64_t host_id, const char *from, const char *to)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, from);
	pg_bind_text(&p, 2, to);
	pg_bind_int(&p, 3, host_id);
	return pg_cmd(s,
		      "UPDATE hosts SET current_ip = CASE WHEN current_ip = $1 THEN $2 ELSE "
		      "current_ip END, ipv4 = CASE WHEN ipv4 = $1 THEN $2 ELSE ipv4 END, "
		      "ipv6 = CASE WHEN ipv6 = $1 THEN $2 ELSE ipv6 END, "
		      "dns_sync_status = 'pending' WHERE id = $3",
		      &p, NULL);
}

static int pg_zhost_ptr(struct prism_store *s, int64_t host_id, const char *rev, char **zone,
			uint32_t *ttl, char **target)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, host_id);
	pg_bind_text(&p, 2, rev);
	*zone = *target = NULL;
	PGresult *r = pg_exec(s,
			      "SELECT zone, ttl, content FROM desired WHERE host_id = $1 AND "
			      "name = $2 AND type = 'PTR'",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	if (PQntuples(r) > 0) {
		*zone = pg_dup(r, 0, 0);
		*ttl = (uint32_t)pg_int(r, 0, 1);
		*target = pg_dup(r, 0, 2);
	}
	PQclear(r);
	return 0;
}

static const struct zput_ops pg_zput = {
	.open = pg_zopen,
	.close = pg_zclose,
	.current = pg_zcurrent,
	.queue = pg_zqueue,
	.audit = pg_zaudit,
	.flush = pg_zflush,
	.name_types = pg_zname_types,
	.zone_exists = pg_zone_exists,
	.matches = pg_zmatches,
	.readdress = pg_zreaddress,
	.host_ptr = pg_zhost_ptr,
};

int pg_rrsets_put(struct prism_store *s, const char *zone, bool config_zone,
		  const struct prism_rrset_put *v, size_t n, int64_t now, const char *actor,
		  size_t *changed, struct prism_rrset_err *err)
{
	return zput_rrsets(&pg_zput, s, zone, config_zone, v, n, now, actor, changed, err);
}

int pg_repoint(struct prism_store *s, const char *from, const char *to, const char *const *zones,
	       const char *pattern, bool dry_run, int64_t now, struct prism_repoint_result *out)
{
	return zput_repoint(&pg_zput, s, from, to, zones, pattern, dry_run, now, out);
}

int pg_zone_resync(struct prism_store *s, const char *zone, int64_t now, size_t *n)
{
	if (s == NULL || zone == NULL || n == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	pg_bind_int(&p, 2, now);
	/* rows queued for deletion stay as they are */
	return pg_cmd(s,
		      "INSERT INTO ledger (target, zone, name, type, desired_hash, status, "
		      "attempts, next_attempt, host_id, updated_at) SELECT t.target, d.zone, "
		      "d.name, d.type, d.hash, 'pending', 0, 0, d.host_id, $2 FROM target_zones t "
		      "JOIN desired d ON d.zone = t.zone WHERE t.zone = $1 "
		      "ON CONFLICT (target, zone, name, type) DO UPDATE SET "
		      "desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "
		      "next_attempt = 0, last_error = NULL, updated_at = excluded.updated_at",
		      &p, n);
}

/* ---- targets added at run time ---- */

/* @p nparams: 9, or 8 for an update (created is kept) */
static int write_target(struct prism_store *s, const char *sql,
			const struct prism_runtime_target *t, int nparams)
{
	if (s == NULL || t == NULL || t->name == NULL || t->api_url == NULL ||
	    t->server_id == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, t->name);
	pg_bind_text(&p, 2, t->api_url);
	pg_bind_text(&p, 3, t->api_key);
	pg_bind_text(&p, 4, t->api_key_file);
	pg_bind_text(&p, 5, t->server_id);
	pg_bind_text(&p, 6, t->zones);
	pg_bind_text(&p, 7, t->group);
	pg_bind_text(&p, 8, t->dns_address);
	pg_bind_int(&p, 9, t->created);
	p.n = nparams;
	size_t n = 0;
	int rc = pg_cmd(s, sql, &p, &n);
	explicit_bzero(&p, sizeof(p));
	return rc != 0 ? rc : n > 0 ? 0 : PRISM_ENOTFOUND;
}

int pg_runtime_target_add(struct prism_store *s, const struct prism_runtime_target *t)
{
	return write_target(s,
			    "INSERT INTO runtime_targets (name, api_url, api_key, api_key_file, "
			    "server_id, zones, grp, dns_address, created) VALUES ($1, $2, $3, $4, "
			    "$5, $6, $7, $8, $9)",
			    t, 9);
}

int pg_runtime_target_update(struct prism_store *s, const struct prism_runtime_target *t)
{
	return write_target(s,
			    "UPDATE runtime_targets SET api_url = $2, api_key = $3, "
			    "api_key_file = $4, server_id = $5, zones = $6, grp = $7, "
			    "dns_address = $8 WHERE name = $1",
			    t, 8);
}

int pg_runtime_target_delete(struct prism_store *s, const char *name)
{
	if (s == NULL || name == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	size_t n = 0;
	pg_bind_text(&p, 1, name);
	int rc = pg_cmd(s, "DELETE FROM runtime_targets WHERE name = $1", &p, &n);
	return rc != 0 ? rc : n > 0 ? 0 : PRISM_ENOTFOUND;
}

/* NULL stays NULL; PRISM_ENOMEM through @p rc. */
static char *col_opt(const PGresult *r, int row, int col, int *rc)
{
	const char *v = pg_text(r, row, col);
	if (v == NULL)
		return NULL;
	char *c = strdup(v);
	if (c == NULL)
		*rc = PRISM_ENOMEM;
	return c;
}

int pg_runtime_targets(struct prism_store *s, struct prism_runtime_target **out, size_t *n)
{
	if (s == NULL || out == NULL || n == NULL)
		return PRISM_EINVAL;
	*out = NULL;
	*n = 0;
	PGresult *r =
		pg_exec(s,
			"SELECT name, api_url, api_key, api_key_file, server_id, zones, grp, "
			"dns_address, created FROM runtime_targets ORDER BY name",
			NULL);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0, rows = PQntuples(r);
	if (rows > 0 && (*out = calloc((size_t)rows, sizeof(**out))) == NULL)
		rc = PRISM_ENOMEM;
	for (int i = 0; rc == 0 && i < rows; i++) {
		struct prism_runtime_target *t = &(*out)[(*n)++];
		t->name = col_opt(r, i, 0, &rc);
		t->api_url = col_opt(r, i, 1, &rc);
		t->api_key = col_opt(r, i, 2, &rc);
		t->api_key_file = col_opt(r, i, 3, &rc);
		t->server_id = col_opt(r, i, 4, &rc);
		t->zones = col_opt(r, i, 5, &rc);
		t->group = col_opt(r, i, 6, &rc);
		t->dns_address = col_opt(r, i, 7, &rc);
		t->created = pg_int(r, i, 8);
	}
	PQclear(r);
	if (rc != 0) {
		prism_runtime_targets_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
