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

#define SERVED_MAX  1000000 /* zones one target may serve */
#define REPOINT_MAX 1000000

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 16;
	void *p = realloc(*v, c * size);
	if (p == NULL)
		return PRISM_ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

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
		rc = grow((void **)&out->zones, &cap, out->nzones, sizeof(*out->zones));
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
		rc = grow((void **)&out->deletions, &cap, out->ndeletions,
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

/* ---- records ---- */

/* Applied in this order by put_flush ($1 = now). */
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
};

struct put_ctx {
	struct prism_store *s;
	const char *zone;
	int64_t now;
	const char *actor;
};

/* The session's queue of writes, empty. */
static int put_open(struct put_ctx *c)
{
	return pg_exec_simple(c->s, "CREATE TEMP TABLE IF NOT EXISTS zput (zone TEXT COLLATE "
				    "\"C\", name TEXT COLLATE \"C\", type TEXT COLLATE \"C\", "
				    "ttl BIGINT, content TEXT, hash BIGINT, host_id BIGINT, "
				    "del BOOLEAN, PRIMARY KEY (zone, name, type));"
				    "DELETE FROM zput;");
}

static int put_audit(struct put_ctx *c, const char *action, const char *name, const char *type,
		     const char *before, const char *after)
{
	if (c->actor == NULL)
		return 0;
	char object[600];
	snprintf(object, sizeof(object), "record:%s %s", name, type);
	struct prism_audit_entry e = {c->now, c->actor, action, object, before, after};
	return pg_audit_add(c->s, &e);
}

/* The RRset as stored now: host_id (-1 when absent), and its JSON for the audit log. */
static int put_current(struct put_ctx *c, const char *name, const char *type, int64_t *host,
		       int64_t *hash, char **json)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, c->zone);
	pg_bind_text(&p, 2, name);
	pg_bind_text(&p, 3, type);
	*host = -1;
	*json = NULL;
	PGresult *r = pg_exec(c->s,
			      "SELECT host_id, ttl, content, hash FROM desired WHERE zone = $1 "
			      "AND name = $2 AND type = $3",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = 0;
	if (PQntuples(r) > 0) {
		*host = pg_int(r, 0, 0);
		*hash = pg_int(r, 0, 3);
		char **recs = prism_split_lines(PQgetvalue(r, 0, 2));
		size_t n = 0;
		while (recs != NULL && recs[n] != NULL)
			n++;
		*json = recs ? prism_rrset_json((uint32_t)pg_int(r, 0, 1),
						(const char *const *)recs, n)
			     : NULL;
		for (size_t i = 0; i < n; i++)
			free(recs[i]);
		free(recs);
		if (*json == NULL)
			rc = PRISM_ENOMEM;
	}
	PQclear(r);
	return rc;
}

static const char queue_sql[] =
	"INSERT INTO zput (zone, name, type, ttl, content, hash, host_id, del) VALUES "
	"($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (zone, name, type) DO UPDATE SET "
	"ttl = excluded.ttl, content = excluded.content, hash = excluded.hash, "
	"host_id = excluded.host_id, del = excluded.del";

/* Queue one desired RRset (host_id 0 = none): written and made pending on every target of
 * its zone by put_flush. */
static int put_desired(struct put_ctx *c, const struct prism_rrset_put *rr, int64_t hash,
		       int64_t host_id)
{
	char *content = prism_join_records(rr->records, rr->nrecords);
	if (content == NULL)
		return PRISM_ENOMEM;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, c->zone);
	pg_bind_text(&p, 2, rr->name);
	pg_bind_text(&p, 3, rr->type);
	pg_bind_int(&p, 4, rr->ttl);
	pg_bind_text(&p, 5, content);
	pg_bind_int(&p, 6, hash);
	if (host_id > 0)
		pg_bind_int(&p, 7, host_id);
	else
		pg_bind_text(&p, 7, NULL);
	pg_bind_bool(&p, 8, false);
	int rc = pg_cmd(c->s, queue_sql, &p, NULL);
	free(content);
	return rc;
}

/* Queue the withdrawal of one RRset: deleted on every target that has it. */
static int drop_desired(struct put_ctx *c, const char *name, const char *type)
{
	struct prism_rr_change del = {name, type, 0, NULL, 0};
	struct pg_params p = {0};
	pg_bind_text(&p, 1, c->zone);
	pg_bind_text(&p, 2, name);
	pg_bind_text(&p, 3, type);
	pg_bind_int(&p, 4, 0);
	pg_bind_text(&p, 5, "");
	pg_bind_int(&p, 6, (int64_t)prism_rrset_hash(&del));
	pg_bind_text(&p, 7, NULL);
	pg_bind_bool(&p, 8, true);
	return pg_cmd(c->s, queue_sql, &p, NULL);
}

/* Apply every queued change, set-based. */
static int put_flush(struct put_ctx *c)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, c->now);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(flush_sql) / sizeof(flush_sql[0]); i++)
		rc = pg_cmd(c->s, flush_sql[i], strstr(flush_sql[i], "$1") ? &p : NULL, NULL) == 0
			     ? 0
			     : PRISM_ESTORE;
	if (rc == 0)
		rc = pg_cmd(c->s, "DELETE FROM zput", NULL, NULL);
	return rc;
}

static int put_one(struct put_ctx *c, const struct prism_rrset_put *rr, bool *changed,
		   struct prism_rrset_err *err)
{
	int64_t host, old_hash = 0;
	char *before = NULL, *after = NULL;
	int rc = put_current(c, rr->name, rr->type, &host, &old_hash, &before);
	*changed = false;
	if (rc != 0)
		return rc;
	if (host > 0) {
		snprintf(err->message, sizeof(err->message),
			 "%s %s is a host's record (host %" PRId64 "): change the host instead",
			 rr->name, rr->type, host);
		rc = PRISM_ECONFLICT;
	} else if (rr->nrecords == 0) {
		if (host < 0) {
			snprintf(err->message, sizeof(err->message), "there is no %s record at %s",
				 rr->type, rr->name);
			rc = PRISM_ENOTFOUND;
		} else {
			rc = drop_desired(c, rr->name, rr->type);
			if (rc == 0)
				rc = put_audit(c, "record.delete", rr->name, rr->type, before,
					       NULL);
			*changed = rc == 0;
		}
	} else {
		struct prism_rr_change ch = {rr->name, rr->type, rr->ttl, rr->records,
					     rr->nrecords};
		int64_t hash = (int64_t)prism_rrset_hash(&ch);
		if (host < 0 || hash != old_hash) {
			rc = put_desired(c, rr, hash, 0);
			after = rc == 0 ? prism_rrset_json(rr->ttl, rr->records, rr->nrecords)
					: NULL;
			if (rc == 0 && after == NULL)
				rc = PRISM_ENOMEM;
			if (rc == 0)
				rc = put_audit(c, "record.put", rr->name, rr->type, before, after);
			*changed = rc == 0;
		}
	}
	free(before);
	free(after);
	return rc;
}

/* After every change: a CNAME must be alone at its name. */
static int check_cname(struct put_ctx *c, const struct prism_rrset_put *rr,
		       struct prism_rrset_err *err)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, c->zone);
	pg_bind_text(&p, 2, rr->name);
	PGresult *r = pg_exec(c->s,
			      "SELECT count(*), count(*) FILTER (WHERE type = 'CNAME'), "
			      "count(host_id), string_agg(type, ' ' ORDER BY type) FROM desired "
			      "WHERE zone = $1 AND name = $2",
			      &p);
	if (r == NULL || PQntuples(r) != 1) {
		PQclear(r);
		return PRISM_ESTORE;
	}
	int64_t total = pg_int(r, 0, 0), cnames = pg_int(r, 0, 1), hosts = pg_int(r, 0, 2);
	const char *types = pg_text(r, 0, 3);
	int rc = 0;
	if (cnames > 0 && total > 1) {
		snprintf(err->message, sizeof(err->message),
			 "a CNAME cannot share its name with other records: %s has %s%s", rr->name,
			 types ? types : "?", hosts > 0 ? " (a host's records)" : "");
		rc = hosts > 0 ? PRISM_ECONFLICT : PRISM_EMSG;
	}
	PQclear(r);
	return rc;
}

int pg_rrsets_put(struct prism_store *s, const char *zone, bool config_zone,
		  const struct prism_rrset_put *v, size_t n, int64_t now, const char *actor,
		  size_t *changed, struct prism_rrset_err *err)
{
	int e;
	if (s == NULL || zone == NULL || (v == NULL && n > 0) || changed == NULL || err == NULL)
		return PRISM_EINVAL;
	*changed = 0;
	memset(err, 0, sizeof(*err));
	if (!config_zone && !zone_exists(s, zone, &e)) {
		snprintf(err->message, sizeof(err->message), "no zone %s", zone);
		return e != 0 ? e : PRISM_ENOTFOUND;
	}
	struct put_ctx c = {.s = s, .zone = zone, .now = now, .actor = actor};
	int rc = put_open(&c);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		bool ch;
		err->index = i;
		rc = put_one(&c, &v[i], &ch, err);
		*changed += ch;
	}
	if (rc == 0)
		rc = put_flush(&c);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		err->index = i;
		if (v[i].nrecords > 0)
			rc = check_cname(&c, &v[i], err);
	}
	return rc;
}

/* ---- repoint ---- */

struct match {
	char *zone, *name, *type, *content;
	uint32_t ttl;
	int64_t host_id;
};

static bool zone_listed(const char *zone, const char *const *zones)
{
	if (zones == NULL)
		return true;
	for (size_t i = 0; zones[i] != NULL; i++)
		if (strcmp(zones[i], zone) == 0)
			return true;
	return false;
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

static int repoint_select(struct prism_store *s, const char *from, const char *const *zones,
			  const char *pattern, struct match **out, size_t *n)
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
	for (int i = 0; rc == 0 && i < PQntuples(r) && *n < REPOINT_MAX; i++) {
		if (!zone_listed(PQgetvalue(r, i, 0), zones) ||
		    (pattern != NULL && !glob_match(pattern, PQgetvalue(r, i, 1))))
			continue;
		rc = grow((void **)out, &cap, *n, sizeof(**out));
		if (rc != 0)
			break;
		struct match *m = &(*out)[(*n)++];
		m->zone = pg_dup(r, i, 0);
		m->name = pg_dup(r, i, 1);
		m->type = pg_dup(r, i, 2);
		m->ttl = (uint32_t)pg_int(r, i, 3);
		m->content = pg_dup(r, i, 4);
		m->host_id = pg_int(r, i, 5);
		if (!m->zone || !m->name || !m->type || !m->content)
			rc = PRISM_ENOMEM;
	}
	PQclear(r);
	return rc;
}

/* A host's address moved: its row, and its PTR when it has one for the old address. */
static int repoint_host(struct put_ctx *c, int64_t host_id, const char *from, const char *to)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, from);
	pg_bind_text(&p, 2, to);
	pg_bind_int(&p, 3, host_id);
	int rc = pg_cmd(c->s,
			"UPDATE hosts SET current_ip = CASE WHEN current_ip = $1 THEN $2 ELSE "
			"current_ip END, ipv4 = CASE WHEN ipv4 = $1 THEN $2 ELSE ipv4 END, "
			"ipv6 = CASE WHEN ipv6 = $1 THEN $2 ELSE ipv6 END, "
			"dns_sync_status = 'pending' WHERE id = $3",
			&p, NULL);
	char old_rev[PRISM_DNAME_MAX + 1], new_rev[PRISM_DNAME_MAX + 1];
	if (rc != 0 || prism_reverse_name(from, old_rev, sizeof(old_rev)) != 0 ||
	    prism_reverse_name(to, new_rev, sizeof(new_rev)) != 0)
		return rc;
	struct pg_params q = {0};
	pg_bind_int(&q, 1, host_id);
	pg_bind_text(&q, 2, old_rev);
	PGresult *r = pg_exec(c->s,
			      "SELECT zone, ttl, content FROM desired WHERE host_id = $1 AND "
			      "name = $2 AND type = 'PTR'",
			      &q);
	if (r == NULL)
		return PRISM_ESTORE;
	char *zone = NULL, *target = NULL;
	uint32_t ttl = 0;
	if (PQntuples(r) > 0) {
		zone = pg_dup(r, 0, 0);
		ttl = (uint32_t)pg_int(r, 0, 1);
		target = pg_dup(r, 0, 2);
	}
	PQclear(r);
	if (zone != NULL && target != NULL) {
		const char *saved = c->zone;
		c->zone = zone;
		rc = drop_desired(c, old_rev, "PTR");
		/* the new PTR goes into the same reverse zone when it belongs there */
		const char *zones[2] = {zone, NULL};
		if (rc == 0 && prism_zone_of(new_rev, zones) != NULL) {
			const char *recs[1] = {target};
			struct prism_rrset_put pp = {new_rev, "PTR", ttl, recs, 1};
			struct prism_rr_change ch = {new_rev, "PTR", ttl, recs, 1};
			rc = put_desired(c, &pp, (int64_t)prism_rrset_hash(&ch), host_id);
		}
		c->zone = saved;
	}
	free(zone);
	free(target);
	return rc;
}

static int repoint_apply(struct put_ctx *c, const struct match *m, const char *from,
			 const char *to)
{
	char **recs = NULL;
	size_t n = 0;
	int rc = prism_repoint_content(m->content, from, to, &recs, &n);
	if (rc == 0) {
		struct prism_rrset_put p = {m->name, m->type, m->ttl, (const char *const *)recs,
					    n};
		struct prism_rr_change ch = {m->name, m->type, m->ttl, (const char *const *)recs,
					     n};
		c->zone = m->zone;
		rc = put_desired(c, &p, (int64_t)prism_rrset_hash(&ch), m->host_id);
	}
	for (size_t i = 0; recs != NULL && i < n; i++)
		free(recs[i]);
	free(recs);
	if (rc == 0 && m->host_id > 0)
		rc = repoint_host(c, m->host_id, from, to);
	return rc;
}

int pg_repoint(struct prism_store *s, const char *from, const char *to, const char *const *zones,
	       const char *pattern, bool dry_run, int64_t now, struct prism_repoint_result *out)
{
	if (s == NULL || from == NULL || to == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	struct match *m;
	size_t n;
	int rc = repoint_select(s, from, zones, pattern, &m, &n);
	struct put_ctx c = {.s = s, .now = now};
	if (rc == 0 && !dry_run)
		rc = put_open(&c);
	if (rc == 0 && n > 0 && (out->items = calloc(n, sizeof(*out->items))) == NULL)
		rc = PRISM_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct prism_repoint_item *it = &out->items[out->n++];
		it->zone = strdup(m[i].zone);
		it->name = strdup(m[i].name);
		it->type = strdup(m[i].type);
		it->host_id = m[i].host_id;
		out->hosts += m[i].host_id > 0;
		if (!it->zone || !it->name || !it->type)
			rc = PRISM_ENOMEM;
		else if (!dry_run)
			rc = repoint_apply(&c, &m[i], from, to);
	}
	if (rc == 0 && !dry_run)
		rc = put_flush(&c);
	for (size_t i = 0; i < n; i++) {
		free(m[i].zone);
		free(m[i].name);
		free(m[i].type);
		free(m[i].content);
	}
	free(m);
	if (rc != 0)
		prism_repoint_result_free(out);
	return rc;
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
