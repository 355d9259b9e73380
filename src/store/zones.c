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
#include "core/jw.h"
#include "core/rrset.h"
#include "store/sqlite_int.h"
#include "store/store.h"
#include "store/zones_util.h"

#define SERVED_MAX  1000000u /* zones one target may serve; bounds the reading loops */
#define REPOINT_MAX 1000000u

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

char **prism_split_lines(const char *text)
{
	size_t n = 1;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	char **v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	size_t k = 0;
	for (const char *p = text; k < n;) {
		const char *e = strchr(p, '\n');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len > 0 && (v[k++] = strndup(p, len)) == NULL)
			goto fail;
		if (e == NULL)
			break;
		p = e + 1;
	}
	return v;
fail:
	for (size_t i = 0; i < k; i++)
		free(v[i]);
	free(v);
	return NULL;
}

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
		rc = grow((void **)&out->zones, &cap, out->nzones, sizeof(*out->zones));
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
			rc = grow((void **)&out->deletions, &cap, out->ndeletions,
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

/* ---- records ---- */

/*
 * The statements of one rrsets_put or repoint call. Writes are queued in a temporary table
 * and applied set-based at the end (put_flush): desired and ledger have foreign keys, so
 * every statement writing them opens a statement journal whose release costs in proportion
 * to the pages the transaction has dirtied — row by row, 10,000 RRsets took a minute; set-
 * based, a few statements do it.
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

/* Applied in this order by put_flush (?1 = now). */
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

struct put_ctx {
	struct prism_store *s;
	sqlite3_stmt *st[P_COUNT];
	const char *zone;
	int64_t now;
	const char *actor;
};

static void put_close(struct put_ctx *c)
{
	for (int i = 0; i < P_COUNT; i++)
		sqlite3_finalize(c->st[i]);
}

static int put_open(struct put_ctx *c)
{
	if (sqlite3_exec(db_of(c->s),
			 "CREATE TEMP TABLE IF NOT EXISTS zput (zone TEXT, name TEXT, "
			 "type TEXT, ttl INTEGER, content TEXT, hash INTEGER, host_id "
			 "INTEGER, del INTEGER, PRIMARY KEY (zone, name, type)) WITHOUT ROWID;"
			 "DELETE FROM temp.zput;",
			 NULL, NULL, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	for (int i = 0; i < P_COUNT; i++)
		if (sq_prep(c->s, put_sql[i], &c->st[i]) != 0)
			return PRISM_ESTORE;
	return 0;
}

char *prism_rrset_json(uint32_t ttl, const char *const *records, size_t n)
{
	struct jw w = {0};
	jw_obj(&w);
	jw_kint(&w, "ttl", ttl);
	jw_key(&w, "records");
	jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		jw_str(&w, records[i]);
	jw_end_arr(&w);
	jw_end_obj(&w);
	if (jw_text(&w) == NULL) {
		jw_free(&w);
		return NULL;
	}
	return w.buf;
}

static int put_audit(struct put_ctx *c, const char *action, const char *name, const char *type,
		     const char *before, const char *after)
{
	if (c->actor == NULL)
		return 0;
	char object[600];
	snprintf(object, sizeof(object), "record:%s %s", name, type);
	sqlite3_stmt *st = c->st[P_AUDIT];
	sqlite3_bind_int64(st, 1, c->now);
	sq_bind_copy(st, 2, c->actor);
	sq_bind_copy(st, 3, action);
	sq_bind_copy(st, 4, object);
	sq_bind_copy(st, 5, before);
	sq_bind_copy(st, 6, after);
	return run(st);
}

/* The RRset as stored now: host_id (-1 when absent), and its JSON for the audit log. */
static int put_current(struct put_ctx *c, const char *name, const char *type, int64_t *host,
		       int64_t *hash, char **json)
{
	sqlite3_stmt *st = c->st[P_GET];
	sq_bind_copy(st, 1, c->zone);
	sq_bind_copy(st, 2, name);
	sq_bind_copy(st, 3, type);
	int rc = sqlite3_step(st);
	*host = -1;
	*json = NULL;
	if (rc == SQLITE_ROW) {
		*host = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0
								  : sqlite3_column_int64(st, 0);
		*hash = sqlite3_column_int64(st, 3);
		char **recs = prism_split_lines((const char *)sqlite3_column_text(st, 2));
		size_t n = 0;
		while (recs != NULL && recs[n] != NULL)
			n++;
		*json = recs ? prism_rrset_json((uint32_t)sqlite3_column_int64(st, 1),
						(const char *const *)recs, n)
			     : NULL;
		for (size_t i = 0; i < n; i++)
			free(recs[i]);
		free(recs);
		if (*json == NULL)
			rc = SQLITE_NOMEM;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

char *prism_join_records(const char *const *r, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(r[i]) + 1;
	char *out = malloc(len), *p = out;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(r[i]);
		if (i > 0)
			*p++ = '\n';
		memcpy(p, r[i], l);
		p += l;
	}
	*p = '\0';
	return out;
}

/* Queue one desired RRset (host_id 0 = none): written and made pending on every target of
 * its zone by put_flush. */
static int put_desired(struct put_ctx *c, const struct prism_rrset_put *rr, int64_t hash,
		       int64_t host_id)
{
	char *content = prism_join_records(rr->records, rr->nrecords);
	if (content == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = c->st[P_QUEUE];
	sq_bind_copy(st, 1, c->zone);
	sq_bind_copy(st, 2, rr->name);
	sq_bind_copy(st, 3, rr->type);
	sqlite3_bind_int64(st, 4, rr->ttl);
	sq_bind_copy(st, 5, content);
	sqlite3_bind_int64(st, 6, hash);
	if (host_id > 0)
		sqlite3_bind_int64(st, 7, host_id);
	else
		sqlite3_bind_null(st, 7);
	sqlite3_bind_int(st, 8, 0);
	int rc = run(st);
	free(content);
	return rc;
}

/* Queue the withdrawal of one RRset: deleted on every target that has it. */
static int drop_desired(struct put_ctx *c, const char *name, const char *type)
{
	struct prism_rr_change del = {name, type, 0, NULL, 0};
	sqlite3_stmt *st = c->st[P_QUEUE];
	sq_bind_copy(st, 1, c->zone);
	sq_bind_copy(st, 2, name);
	sq_bind_copy(st, 3, type);
	sqlite3_bind_int64(st, 4, 0);
	sq_bind_copy(st, 5, "");
	sqlite3_bind_int64(st, 6, (sqlite3_int64)prism_rrset_hash(&del));
	sqlite3_bind_null(st, 7);
	sqlite3_bind_int(st, 8, 1);
	return run(st);
}

/* Apply every queued change, set-based. */
static int put_flush(struct put_ctx *c)
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
	sqlite3_stmt *st = c->st[P_NAME];
	sq_bind_copy(st, 1, c->zone);
	sq_bind_copy(st, 2, rr->name);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return PRISM_ESTORE;
	}
	int64_t total = sqlite3_column_int64(st, 0), cnames = sqlite3_column_int64(st, 1);
	int64_t hosts = sqlite3_column_int64(st, 2);
	const char *types = (const char *)sqlite3_column_text(st, 3);
	if (cnames > 0 && total > 1) {
		snprintf(err->message, sizeof(err->message),
			 "a CNAME cannot share its name with "
			 "other records: %s has %s%s",
			 rr->name, types ? types : "?", hosts > 0 ? " (a host's records)" : "");
		rc = hosts > 0 ? PRISM_ECONFLICT : PRISM_EMSG;
	} else {
		rc = 0;
	}
	sqlite3_reset(st);
	return rc;
}

int zq_rrsets_put(struct prism_store *s, const char *zone, bool config_zone,
		  const struct prism_rrset_put *v, size_t n, int64_t now, const char *actor,
		  size_t *changed, struct prism_rrset_err *err)
{
	int e;
	if (s == NULL || zone == NULL || (v == NULL && n > 0) || changed == NULL || err == NULL)
		return PRISM_EINVAL;
	*changed = 0;
	memset(err, 0, sizeof(*err));
	if (!config_zone && !exists(s, "SELECT 1 FROM zones WHERE name = ?1", zone, &e)) {
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
	put_close(&c);
	return rc;
}

/* ---- repoint ---- */

void prism_repoint_result_free(struct prism_repoint_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].zone);
		free(r->items[i].name);
		free(r->items[i].type);
	}
	free(r->items);
	r->items = NULL;
	r->n = 0;
}

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

static int repoint_select(struct prism_store *s, const char *from, const char *const *zones,
			  const char *pattern, struct match **out, size_t *n)
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
	int rc = 0, step;
	while (rc == 0 && *n < REPOINT_MAX && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (!zone_listed((const char *)sqlite3_column_text(st, 0), zones))
			continue;
		rc = grow((void **)out, &cap, *n, sizeof(**out));
		if (rc != 0)
			break;
		struct match *m = &(*out)[(*n)++];
		m->zone = sq_col_dup(st, 0);
		m->name = sq_col_dup(st, 1);
		m->type = sq_col_dup(st, 2);
		m->ttl = (uint32_t)sqlite3_column_int64(st, 3);
		m->content = sq_col_dup(st, 4);
		m->host_id = sqlite3_column_int64(st, 5);
		if (!m->zone || !m->name || !m->type || !m->content)
			rc = PRISM_ENOMEM;
	}
	sqlite3_finalize(st);
	return rc;
}

int prism_repoint_content(const char *content, const char *from, const char *to, char ***recs,
			  size_t *n)
{
	char **v = prism_split_lines(content);
	*recs = NULL;
	*n = 0;
	if (v == NULL)
		return PRISM_ENOMEM;
	bool have_to = false;
	for (size_t i = 0; v[i] != NULL; i++)
		have_to |= strcmp(v[i], to) == 0;
	size_t k = 0;
	for (size_t i = 0; v[i] != NULL; i++) {
		if (strcmp(v[i], from) == 0) {
			free(v[i]);
			v[i] = NULL;
			if (have_to)
				continue;
			v[i] = strdup(to);
			if (v[i] == NULL) {
				for (size_t j = i + 1; v[j] != NULL; j++)
					free(v[j]);
				*recs = v;
				*n = k;
				return PRISM_ENOMEM;
			}
			have_to = true;
		}
		v[k++] = v[i];
	}
	v[k] = NULL;
	*recs = v;
	*n = k;
	return 0;
}

/* A host's address moved: its row, and its PTR when it has one for the old address. */
static int repoint_host(struct put_ctx *c, int64_t host_id, const char *from, const char *to)
{
	sqlite3_stmt *st;
	if (sq_prep(c->s,
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
	char old_rev[PRISM_DNAME_MAX + 1], new_rev[PRISM_DNAME_MAX + 1];
	if (rc != 0 || prism_reverse_name(from, old_rev, sizeof(old_rev)) != 0 ||
	    prism_reverse_name(to, new_rev, sizeof(new_rev)) != 0)
		return rc;
	if (sq_prep(c->s,
		    "SELECT zone, ttl, content FROM desired WHERE host_id = ?1 AND "
		    "name = ?2 AND type = 'PTR'",
		    &st) != 0)
		return PRISM_ESTORE;
	sqlite3_bind_int64(st, 1, host_id);
	sq_bind_copy(st, 2, old_rev);
	char *zone = NULL, *target = NULL;
	uint32_t ttl = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		zone = sq_col_dup(st, 0);
		ttl = (uint32_t)sqlite3_column_int64(st, 1);
		target = sq_col_dup(st, 2);
	}
	sqlite3_finalize(st);
	if (zone != NULL && target != NULL) {
		const char *saved = c->zone;
		c->zone = zone;
		rc = drop_desired(c, old_rev, "PTR");
		/* the new PTR goes into the same reverse zone when it belongs there */
		const char *zones[2] = {zone, NULL};
		if (rc == 0 && prism_zone_of(new_rev, zones) != NULL) {
			const char *recs[1] = {target};
			struct prism_rrset_put p = {new_rev, "PTR", ttl, recs, 1};
			struct prism_rr_change ch = {new_rev, "PTR", ttl, recs, 1};
			rc = put_desired(c, &p, (int64_t)prism_rrset_hash(&ch), host_id);
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

int zq_repoint(struct prism_store *s, const char *from, const char *to, const char *const *zones,
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
	put_close(&c);
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
