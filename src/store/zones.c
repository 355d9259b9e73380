/* SPDX-License-Identifier: MIT */
/*
 * Zones and records in the SQLite registry. Zone records live in the same `desired` table
 * as host records (host_id NULL), so the engine pushes both the same way; a zone's
 * (target, zone) pairs in `target_zones` decide which targets get them. Deleting a zone
 * leaves one `zone_deletions` row per target that served it, until the engine has deleted
 * the zone there: a restart in between loses nothing.
 *
 * Admin operations: statements are prepared per call (once per call for the bulk ones).
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/sqlite_int.h"
#include "store/store.h"
#include "store/zones_util.h"

#define SERVED_MAX 1000000u /* zones one target may serve; bounds the reading loops */

static sqlite3 *db_of(struct prism_store *s)
{
	return prism_sqlite_db(s);
}

/* Run a prepared statement to its end (reset afterwards, not finalised). */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : rc == SQLITE_CONSTRAINT ? PRISM_ECONFLICT : PRISM_ESTORE;
}

/* One statement, prepared, bound with up to three texts and an integer, run, finalised. */
static int exec4(struct prism_store *s, const char *sql, const char *a, const char *b,
		 const char *c, int64_t d, size_t *changes)
{
	sqlite3_stmt *st;
	if (sq_prep(s, sql, &st) != 0)
		return PRISM_ESTORE;
	int np = sqlite3_bind_parameter_count(st);
	if (np >= 1)
		sq_bind_copy(st, 1, a);
	if (np >= 2)
		sq_bind_copy(st, 2, b);
	if (np >= 3)
		sq_bind_copy(st, 3, c);
	if (np >= 4)
		sqlite3_bind_int64(st, 4, d);
	int rc = run(st);
	sqlite3_finalize(st);
	if (changes != NULL)
		*changes = (size_t)sqlite3_changes(db_of(s));
	return rc;
}

static bool exists(struct prism_store *s, const char *sql, const char *a, int *err)
{
	sqlite3_stmt *st;
	*err = sq_prep(s, sql, &st);
	if (*err != 0)
		return false;
	sq_bind_copy(st, 1, a);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		*err = PRISM_ESTORE;
	return rc == SQLITE_ROW;
}

/* ---- zones ---- */

static int add_pair(struct prism_store *s, const char *target, const char *zone, int64_t now)
{
	size_t added = 0;
	int rc = exec4(s, "INSERT OR IGNORE INTO target_zones (target, zone) VALUES (?1, ?2)",
		       target, zone, NULL, 0, &added);
	if (rc != 0 || added == 0)
		return rc;
	sq_tz_forget(s); /* records written from now on fan out to this pair too */
	return exec4(s,
		     "INSERT INTO ledger (target, zone, name, type, desired_hash, status, "
		     "attempts, next_attempt, host_id, updated_at) SELECT ?1, zone, name, type, "
		     "hash, 'pending', 0, 0, host_id, ?4 FROM desired WHERE zone = ?2 "
		     "ON CONFLICT DO NOTHING",
		     target, zone, NULL, now, NULL);
}

int zq_zone_create(struct prism_store *s, const struct prism_zone_spec *z,
		   const char *const *targets, int64_t now)
{
	sqlite3_stmt *st;
	int err;
	if (s == NULL || z == NULL || z->name == NULL || z->kind == NULL || z->targets == NULL ||
	    z->nameservers == NULL || z->soa == NULL)
		return PRISM_EINVAL;
	if (exists(s, "SELECT 1 FROM zones WHERE name = ?1", z->name, &err))
		return PRISM_ECONFLICT;
	if (err != 0 ||
	    sq_prep(s,
		    "INSERT INTO zones (name, kind, targets, nameservers, soa, ttl, "
		    "dnssec, adopt, origin, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
		    "?7, ?8, ?9, ?10)",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_copy(st, 1, z->name);
	sq_bind_copy(st, 2, z->kind);
	sq_bind_copy(st, 3, z->targets);
	sq_bind_copy(st, 4, z->nameservers);
	sq_bind_copy(st, 5, z->soa);
	sqlite3_bind_int64(st, 6, z->ttl);
	sqlite3_bind_int(st, 7, z->dnssec);
	sqlite3_bind_int(st, 8, z->adopt);
	sq_bind_copy(st, 9, z->origin ? z->origin : "api");
	sqlite3_bind_int64(st, 10, now);
	int rc = run(st);
	sqlite3_finalize(st);
	/* a deletion still owed for an earlier zone of this name: the new zone replaces it */
	if (rc == 0)
		rc = exec4(s, "DELETE FROM zone_deletions WHERE zone = ?1", z->name, NULL, NULL, 0,
			   NULL);
	for (size_t i = 0; rc == 0 && targets != NULL && targets[i] != NULL; i++)
		rc = add_pair(s, targets[i], z->name, now);
	return rc;
}

int zq_zone_delete(struct prism_store *s, const char *zone, int64_t now, size_t *ntargets)
{
	int err;
	if (s == NULL || zone == NULL || ntargets == NULL)
		return PRISM_EINVAL;
	if (!exists(s, "SELECT 1 FROM zones WHERE name = ?1", zone, &err))
		return err != 0 ? err : PRISM_ENOTFOUND;
	static const char *const steps[] = {
		"DELETE FROM ledger WHERE zone = ?1",
		"DELETE FROM desired WHERE zone = ?1",
		"DELETE FROM target_zones WHERE zone = ?1",
		"DELETE FROM zones WHERE name = ?1",
	};
	int rc = exec4(s,
		       "INSERT OR REPLACE INTO zone_deletions (target, zone, at) "
		       "SELECT target, zone, ?4 FROM target_zones WHERE zone = ?1",
		       zone, NULL, NULL, now, ntargets);
	for (size_t i = 0; rc == 0 && i < sizeof(steps) / sizeof(steps[0]); i++)
		rc = exec4(s, steps[i], zone, NULL, NULL, 0, NULL);
	sq_tz_forget(s);
	return rc;
}

int zq_zone_set_adopt(struct prism_store *s, const char *zone)
{
	size_t n = 0;
	if (s == NULL || zone == NULL)
		return PRISM_EINVAL;
	int rc = exec4(s, "UPDATE zones SET adopt = 1 WHERE name = ?1", zone, NULL, NULL, 0, &n);
	return rc != 0 ? rc : n == 0 ? PRISM_ENOTFOUND : 0;
}

int zq_zone_set_dnssec(struct prism_store *s, const char *zone, bool on, bool *changed)
{
	int err;
	size_t n = 0;
	if (s == NULL || zone == NULL || changed == NULL)
		return PRISM_EINVAL;
	*changed = false;
	if (!exists(s, "SELECT 1 FROM zones WHERE name = ?1", zone, &err))
		return err != 0 ? err : PRISM_ENOTFOUND;
	int rc = exec4(s, "UPDATE zones SET dnssec = ?4 WHERE name = ?1 AND dnssec != ?4", zone,
		       NULL, NULL, on, &n);
	*changed = n > 0;
	return rc;
}

int zq_zones_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
			  const struct prism_target_group *groups, size_t ngroups, int64_t now,
			  size_t *caught_up)
{
	sqlite3_stmt *st;
	if (s == NULL || (pairs == NULL && n > 0) || (groups == NULL && ngroups > 0))
		return PRISM_EINVAL;
	if (sq_prep(s, "SELECT name, targets FROM zones ORDER BY name", &st) != 0)
		return PRISM_ESTORE;
	size_t cap = n + 16, k = 0;
	struct prism_target_zone *all = malloc(cap * sizeof(*all));
	char **names = NULL;
	size_t nnames = 0, namecap = 0;
	int rc = all ? 0 : PRISM_ENOMEM;
	if (rc == 0 && n > 0)
		memcpy(all, pairs, n * sizeof(*all));
	k = n;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW && nnames < SERVED_MAX) {
		if (nnames == namecap) {
			namecap = namecap ? namecap * 2 : 64;
			char **v = realloc(names, namecap * sizeof(*v));
			if (v == NULL) {
				rc = PRISM_ENOMEM;
				break;
			}
			names = v;
		}
		const char *assign = (const char *)sqlite3_column_text(st, 1);
		char *name = sq_col_dup(st, 0);
		if (name == NULL || assign == NULL) {
			free(name);
			rc = PRISM_ENOMEM;
			break;
		}
		names[nnames++] = name;
		for (size_t g = 0; g < ngroups; g++) {
			bool served = strcmp(assign, "all") == 0 ||
				      (groups[g].group && strcmp(assign, groups[g].group) == 0);
			if (!served)
				continue;
			if (k == cap) {
				cap *= 2;
				struct prism_target_zone *v = realloc(all, cap * sizeof(*v));
				if (v == NULL) {
					rc = PRISM_ENOMEM;
					break;
				}
				all = v;
			}
			all[k++] = (struct prism_target_zone){groups[g].target, name};
		}
	}
	sqlite3_finalize(st);
	if (rc == 0)
		rc = prism_store_sqlite.targets_sync(s, all, k, now, caught_up);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(all);
	return rc;
}

void prism_served_free(struct prism_served *sv)
{
	if (sv == NULL)
		return;
	for (size_t i = 0; i < sv->nzones; i++) {
		struct prism_served_zone *z = &sv->zones[i];
		free(z->name);
		free(z->kind);
		free(z->soa);
		for (char **p = z->nameservers; p != NULL && *p != NULL; p++)
			free(*p);
		free(z->nameservers);
	}
	free(sv->zones);
	for (size_t i = 0; i < sv->ndeletions; i++)
		free(sv->deletions[i]);
	free(sv->deletions);
	memset(sv, 0, sizeof(*sv));
}

static int served_zone_row(sqlite3_stmt *st, struct prism_served_zone *z)
{
	memset(z, 0, sizeof(*z));
	z->name = sq_col_dup(st, 0);
	z->kind = sq_col_dup(st, 1);
	z->nameservers = prism_split_lines((const char *)sqlite3_column_text(st, 2));
	z->soa = sq_col_dup(st, 3);
	z->adopt = sqlite3_column_int(st, 4) != 0;
	z->dnssec = sqlite3_column_int(st, 5) != 0;
	return z->name && z->kind && z->nameservers && z->soa ? 0 : PRISM_ENOMEM;
}

int zq_zones_served(struct prism_store *s, const char *target, struct prism_served *out)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	if (s == NULL || target == NULL || out == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	if (sq_prep(s,
		    "SELECT z.name, z.kind, z.nameservers, z.soa, z.adopt, z.dnssec FROM "
		    "target_zones t "
		    "JOIN zones z ON z.name = t.zone WHERE t.target = ?1 ORDER BY z.name",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_copy(st, 1, target);
	int rc = 0, step;
	while (rc == 0 && out->nzones < SERVED_MAX && (step = sqlite3_step(st)) == SQLITE_ROW) {
		rc = zgrow((void **)&out->zones, &cap, out->nzones, sizeof(*out->zones));
		if (rc == 0) {
			rc = served_zone_row(st, &out->zones[out->nzones]);
			out->nzones++; /* a half-filled row is freed like the others */
		}
	}
	sqlite3_finalize(st);
	cap = 0;
	if (rc == 0 &&
	    sq_prep(s, "SELECT zone FROM zone_deletions WHERE target = ?1 ORDER BY zone", &st) ==
		    0) {
		sq_bind_copy(st, 1, target);
		while (rc == 0 && out->ndeletions < SERVED_MAX && sqlite3_step(st) == SQLITE_ROW) {
			rc = zgrow((void **)&out->deletions, &cap, out->ndeletions,
				   sizeof(*out->deletions));
			if (rc == 0 &&
			    (out->deletions[out->ndeletions++] = sq_col_dup(st, 0)) == NULL)
				rc = PRISM_ENOMEM;
		}
		sqlite3_finalize(st);
	} else if (rc == 0) {
		rc = PRISM_ESTORE;
	}
	if (rc != 0)
		prism_served_free(out);
	return rc;
}

int zq_zone_deletion_done(struct prism_store *s, const char *target, const char *zone)
{
	if (s == NULL || target == NULL || zone == NULL)
		return PRISM_EINVAL;
	return exec4(s, "DELETE FROM zone_deletions WHERE target = ?1 AND zone = ?2", target, zone,
		     NULL, 0, NULL);
}

/* ---- records ----
 *
 * The statements of one rrsets_put or repoint call (zones_core.c decides what they do).
 * Writes are queued in a temporary table and applied set-based at the end (sq_zflush):
 * desired and ledger have foreign keys, so every statement writing them opens a statement
 * journal whose release costs in proportion to the pages the transaction has dirtied — row
 * by row, 10,000 RRsets took a minute; set-based, a few statements do it.
 */
enum { P_GET, P_QUEUE, P_NAME, P_AUDIT, P_COUNT };

static const char *const put_sql[P_COUNT] = {
	[P_GET] = "SELECT host_id, ttl, content, hash FROM desired WHERE zone = ?1 AND name = ?2 "
		  "AND type = ?3",
	/* del = 1: the RRset is withdrawn and hash is that of its deletion */
	[P_QUEUE] = "INSERT OR REPLACE INTO temp.zput (zone, name, type, ttl, content, hash, "
		    "host_id, del) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[P_NAME] = "SELECT count(*), sum(type = 'CNAME'), sum(host_id IS NOT NULL), "
		   "group_concat(type, ' ') FROM desired WHERE zone = ?1 AND name = ?2",
	[P_AUDIT] = "INSERT INTO audit (at, actor, action, object, before, after) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};

/* Applied in this order by sq_zflush (?1 = now). */
static const char *const flush_sql[] = {
	"DELETE FROM desired WHERE (zone, name, type) IN "
	"(SELECT zone, name, type FROM temp.zput WHERE del)",
	"UPDATE ledger SET desired_hash = z.hash, status = 'pending', attempts = 0, "
	"next_attempt = 0, last_error = NULL, host_id = NULL, updated_at = ?1 FROM temp.zput z "
	"WHERE z.del AND ledger.zone = z.zone AND ledger.name = z.name AND ledger.type = z.type",
	"INSERT INTO desired (zone, name, type, ttl, content, hash, host_id) "
	"SELECT zone, name, type, ttl, content, hash, host_id FROM temp.zput WHERE NOT del "
	"ON CONFLICT (zone, name, type) DO UPDATE SET ttl = excluded.ttl, "
	"content = excluded.content, hash = excluded.hash, host_id = excluded.host_id",
	/* fan every change out to every target serving its zone */
	"INSERT INTO ledger (target, zone, name, type, desired_hash, status, attempts, "
	"next_attempt, host_id, updated_at) SELECT t.target, z.zone, z.name, z.type, z.hash, "
	"'pending', 0, 0, z.host_id, ?1 FROM temp.zput z JOIN target_zones t ON t.zone = z.zone "
	"WHERE NOT z.del ON CONFLICT (target, zone, name, type) DO UPDATE SET "
	"desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "
	"next_attempt = 0, last_error = NULL, host_id = excluded.host_id, "
	"updated_at = excluded.updated_at",
	"DELETE FROM temp.zput",
};

static sqlite3_stmt *stmt(struct zput *c, int i)
{
	return c->st[i];
}

static void sq_zclose(struct zput *c)
{
	for (int i = 0; i < P_COUNT; i++)
		sqlite3_finalize(stmt(c, i));
}

static int sq_zopen(struct zput *c)
{
	if (sqlite3_exec(db_of(c->s),
			 "CREATE TEMP TABLE IF NOT EXISTS zput (zone TEXT, name TEXT, "
			 "type TEXT, ttl INTEGER, content TEXT, hash INTEGER, host_id "
			 "INTEGER, del INTEGER, PRIMARY KEY (zone, name, type)) WITHOUT ROWID;"
			 "DELETE FROM temp.zput;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	for (int i = 0; i < P_COUNT; i++) {
		sqlite3_stmt *st;
		if (sq_prep(c->s, put_sql[i], &st) != 0)
			return PRISM_ESTORE;
		c->st[i] = st;
	}
	return 0;
}

static int sq_zaudit(struct zput *c, const struct prism_audit_entry *e)
{
	sqlite3_stmt *st = stmt(c, P_AUDIT);
	sqlite3_bind_int64(st, 1, e->at);
	sq_bind_copy(st, 2, e->actor);
	sq_bind_copy(st, 3, e->action);
	sq_bind_copy(st, 4, e->object);
	sq_bind_copy(st, 5, e->before);
	sq_bind_copy(st, 6, e->after);
	return run(st);
}

static int sq_zcurrent(struct zput *c, const char *name, const char *type, int64_t *host,
		       int64_t *hash, uint32_t *ttl, char **content)
{
	sqlite3_stmt *st = stmt(c, P_GET);
	sq_bind_copy(st, 1, c->zone);
	sq_bind_copy(st, 2, name);
	sq_bind_copy(st, 3, type);
	int rc = sqlite3_step(st);
	*host = -1;
	*content = NULL;
	if (rc == SQLITE_ROW) {
		*host = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0
								  : sqlite3_column_int64(st, 0);
		*ttl = (uint32_t)sqlite3_column_int64(st, 1);
		*hash = sqlite3_column_int64(st, 3);
		if ((*content = sq_col_dup(st, 2)) == NULL)
			rc = SQLITE_NOMEM;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int sq_zqueue(struct zput *c, const char *name, const char *type, uint32_t ttl,
		     const char *content, int64_t hash, int64_t host_id, bool del)
{
	sqlite3_stmt *st = stmt(c, P_QUEUE);
	sq_bind_copy(st, 1, c->zone);
	sq_bind_copy(st, 2, name);
	sq_bind_copy(st, 3, type);
	sqlite3_bind_int64(st, 4, ttl);
	sq_bind_copy(st, 5, content);
	sqlite3_bind_int64(st, 6, hash);
	if (host_id > 0)
		sqlite3_bind_int64(st, 7, host_id);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int(st, 8, del);
	return run(st);
}

/* Apply every queued change, set-based. */
static int sq_zflush(struct zput *c)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < sizeof(flush_sql) / sizeof(flush_sql[0]); i++) {
		sqlite3_stmt *st;
		if (sq_prep(c->s, flush_sql[i], &st) != 0)
			return PRISM_ESTORE;
		if (sqlite3_bind_parameter_count(st) > 0)
			sqlite3_bind_int64(st, 1, c->now);
		rc = run(st) == 0 ? 0 : PRISM_ESTORE;
		sqlite3_finalize(st);
	}
	return rc;
}

static int sq_zname_types(struct zput *c, const char *name, int64_t *total, int64_t *cnames,
			  int64_t *hosts, char *types, size_t len)
{
	sqlite3_stmt *st = stmt(c, P_NAME);
	sq_bind_copy(st, 1, c->zone);
	sq_bind_copy(st, 2, name);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(st, 3);
		*total = sqlite3_column_int64(st, 0);
		*cnames = sqlite3_column_int64(st, 1);
		*hosts = sqlite3_column_int64(st, 2);
		snprintf(types, len, "%s", t ? t : "");
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}

static int sq_zone_exists(struct prism_store *s, const char *zone, bool *found)
{
	int err;
	*found = exists(s, "SELECT 1 FROM zones WHERE name = ?1", zone, &err);
	return err;
}

static int sq_zmatches(struct prism_store *s, const char *from, const char *const *zones,
		       const char *pattern, struct zmatch **out, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	if (sq_prep(s,
		    "SELECT zone, name, type, ttl, content, coalesce(host_id, 0) FROM desired "
		    "WHERE type IN ('A', 'AAAA') AND instr(char(10) || content || char(10), "
		    "char(10) || ?1 || char(10)) > 0 AND (?2 IS NULL OR "
		    "rtrim(name, '.') GLOB ?2) ORDER BY zone, name, type",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_copy(st, 1, from);
	sq_bind_copy(st, 2, pattern);
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW)
		rc = zmatch_add(out, n, &cap, zones, (const char *)sqlite3_column_text(st, 0),
				(const char *)sqlite3_column_text(st, 1),
				(const char *)sqlite3_column_text(st, 2),
				(uint32_t)sqlite3_column_int64(st, 3),
				(const char *)sqlite3_column_text(st, 4),
				sqlite3_column_int64(st, 5));
	sqlite3_finalize(st);
	return rc;
}

static int sq_zreaddress(struct prism_store *s, int64_t host_id, const char *from, const char *to)
{
	sqlite3_stmt *st;
	if (sq_prep(s,
		    "UPDATE hosts SET current_ip = CASE WHEN current_ip = ?1 THEN ?2 ELSE "
		    "current_ip END, ipv4 = CASE WHEN ipv4 = ?1 THEN ?2 ELSE ipv4 END, "
		    "ipv6 = CASE WHEN ipv6 = ?1 THEN ?2 ELSE ipv6 END, "
		    "dns_sync_status = 'pending' WHERE id = ?3",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_copy(st, 1, from);
	sq_bind_copy(st, 2, to);
	sqlite3_bind_int64(st, 3, host_id);
	int rc = run(st);
	sqlite3_finalize(st);
	return rc;
}

static int sq_zhost_ptr(struct prism_store *s, int64_t host_id, const char *rev, char **zone,
			uint32_t *ttl, char **target)
{
	sqlite3_stmt *st;
	*zone = *target = NULL;
	if (sq_prep(s,
		    "SELECT zone, ttl, content FROM desired WHERE host_id = ?1 AND "
		    "name = ?2 AND type = 'PTR'",
		    &st) != 0)
		return PRISM_ESTORE;
	sqlite3_bind_int64(st, 1, host_id);
	sq_bind_copy(st, 2, rev);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*zone = sq_col_dup(st, 0);
		*ttl = (uint32_t)sqlite3_column_int64(st, 1);
		*target = sq_col_dup(st, 2);
	}
	sqlite3_finalize(st);
	return 0;
}

static const struct zput_ops sq_zput = {
	.open = sq_zopen,
	.close = sq_zclose,
	.current = sq_zcurrent,
	.queue = sq_zqueue,
	.audit = sq_zaudit,
	.flush = sq_zflush,
	.name_types = sq_zname_types,
	.zone_exists = sq_zone_exists,
	.matches = sq_zmatches,
	.readdress = sq_zreaddress,
	.host_ptr = sq_zhost_ptr,
};

int zq_rrsets_put(struct prism_store *s, const char *zone, bool config_zone,
		  const struct prism_rrset_put *v, size_t n, int64_t now, const char *actor,
		  size_t *changed, struct prism_rrset_err *err)
{
	return zput_rrsets(&sq_zput, s, zone, config_zone, v, n, now, actor, changed, err);
}

int zq_repoint(struct prism_store *s, const char *from, const char *to, const char *const *zones,
	       const char *pattern, bool dry_run, int64_t now, struct prism_repoint_result *out)
{
	return zput_repoint(&sq_zput, s, from, to, zones, pattern, dry_run, now, out);
}

/* Every desired RRset of the (target, zone) pairs WHERE picks becomes pending (?1: its key);
 * rows queued for deletion stay as they are. */
#define RESYNC_SQL(where)                                                                         \
	"INSERT INTO ledger (target, zone, name, type, desired_hash, status, "                    \
	"attempts, next_attempt, host_id, updated_at) SELECT t.target, d.zone, "                  \
	"d.name, d.type, d.hash, 'pending', 0, 0, d.host_id, ?4 FROM target_zones t "             \
	"JOIN desired d ON d.zone = t.zone WHERE " where " "                                      \
	"ON CONFLICT (target, zone, name, type) DO UPDATE SET "                                   \
	"desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "                \
	"next_attempt = 0, last_error = NULL, updated_at = excluded.updated_at"

int zq_target_resync(struct prism_store *s, const char *target, int64_t now, size_t *n)
{
	if (s == NULL || target == NULL || n == NULL)
		return PRISM_EINVAL;
	return exec4(s, RESYNC_SQL("t.target = ?1"), target, NULL, NULL, now, n);
}

int zq_zone_resync(struct prism_store *s, const char *zone, int64_t now, size_t *n)
{
	if (s == NULL || zone == NULL || n == NULL)
		return PRISM_EINVAL;
	return exec4(s, RESYNC_SQL("t.zone = ?1"), zone, NULL, NULL, now, n);
}
