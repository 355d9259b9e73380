/* SPDX-License-Identifier: MIT */
/*
 * SQLite registry backend. One connection, used only by the store writer thread.
 * The schema is versioned with PRAGMA user_version; each migration runs in its own
 * transaction. Statements are prepared once and reused.
 */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/store.h"

enum stmt_id {
	ST_HOST_GET,
	ST_HOST_INSERT,
	ST_HOST_UPDATE,
	ST_LEDGER_GET,
	ST_LEDGER_UPSERT,
	ST_LEDGER_DUE,
	ST_LEDGER_NEXT,
	ST_LEDGER_OK,
	ST_LEDGER_OK_DELETE,
	ST_LEDGER_FAIL,
	ST_HOST_SYNC,
	ST_TOKEN_GET,
	ST_TOKEN_ADD,
	ST_HOST_EXPIRED,
	ST_HOST_OFFLINE,
	ST_HOST_STALE,
	ST_HOST_DELETE,
	ST_LEDGER_OF_HOST,
	ST_LEDGER_WANT_DELETE,
	ST_DESIRED_UPSERT,
	ST_DESIRED_DELETE,
	ST_TZ_ADD,
	ST_TZ_CATCHUP,
	ST_COUNT,
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_HOST_GET] = "SELECT id, ipv4, ipv6, current_ip, status, owner_token_hash "
			"FROM hosts WHERE hostname = ?1",
	[ST_HOST_INSERT] =
		"INSERT INTO hosts (hostname, current_ip, ipv4, ipv6, status, first_seen, "
		"last_seen, dns_zone, dns_record_id, dns_ttl, dns_sync_status, expires_at, "
		"owner_token_hash) "
		"VALUES (?1, ?2, ?3, ?4, 'online', ?5, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_HOST_UPDATE] =
		"UPDATE hosts SET current_ip = ?2, ipv4 = coalesce(?3, ipv4), "
		"ipv6 = coalesce(?4, ipv6), status = 'online', last_seen = ?5, "
		"dns_zone = ?6, dns_record_id = ?7, dns_ttl = ?8, "
		"dns_sync_status = coalesce(?9, dns_sync_status), expires_at = ?10, "
		"owner_token_hash = coalesce(owner_token_hash, ?11) WHERE id = ?1",
	[ST_LEDGER_GET] = "SELECT hash FROM desired WHERE zone = ?1 AND name = ?2 AND type = ?3",
	/* fan a desired change out to every target serving the zone */
	[ST_LEDGER_UPSERT] =
		"INSERT INTO ledger (target, zone, name, type, desired_hash, status, attempts, "
		"next_attempt, host_id, updated_at) "
		"SELECT target, ?1, ?2, ?3, ?4, 'pending', 0, 0, ?5, ?6 FROM target_zones "
		"WHERE zone = ?1 "
		"ON CONFLICT (target, zone, name, type) DO UPDATE SET "
		"desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "
		"next_attempt = 0, last_error = NULL, host_id = excluded.host_id, "
		"updated_at = excluded.updated_at",
	/* no desired row = the RRset is to be deleted */
	[ST_LEDGER_DUE] =
		"SELECT l.zone, l.name, l.type, coalesce(d.ttl, 0), coalesce(d.content, ''), "
		"l.desired_hash, l.attempts, l.host_id FROM ledger l LEFT JOIN desired d "
		"ON d.zone = l.zone AND d.name = l.name AND d.type = l.type "
		"WHERE l.target = ?1 AND l.status IN ('pending', 'failed') "
		"AND l.next_attempt <= ?2 ORDER BY l.zone, l.next_attempt LIMIT ?3",
	[ST_LEDGER_NEXT] = "SELECT min(next_attempt) FROM ledger WHERE target = ?1 "
			   "AND status IN ('pending', 'failed') AND next_attempt > ?2",
	[ST_LEDGER_OK] =
		"UPDATE ledger SET applied_hash = desired_hash, status = 'synced', attempts = 0, "
		"last_error = NULL, updated_at = ?6 WHERE target = ?1 AND zone = ?2 "
		"AND name = ?3 AND type = ?4 AND desired_hash = ?5 RETURNING host_id",
	[ST_LEDGER_OK_DELETE] =
		"DELETE FROM ledger WHERE target = ?1 AND zone = ?2 AND name = ?3 AND type = ?4 "
		"AND desired_hash = ?5 AND NOT EXISTS (SELECT 1 FROM desired d WHERE "
		"d.zone = ?2 AND d.name = ?3 AND d.type = ?4)",
	[ST_LEDGER_FAIL] =
		"UPDATE ledger SET status = 'failed', attempts = attempts + 1, "
		"next_attempt = ?6, last_error = ?7, updated_at = ?8 WHERE target = ?1 "
		"AND zone = ?2 AND name = ?3 AND type = ?4 AND desired_hash = ?5 RETURNING host_id",
	[ST_HOST_SYNC] =
		"UPDATE hosts SET dns_sync_status = CASE "
		"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
		"AND l.status IN ('failed', 'conflict')) THEN 'failed' "
		"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
		"AND l.status = 'pending') THEN 'pending' ELSE 'synced' END, "
		"dns_last_sync = CASE WHEN ?2 THEN ?3 ELSE dns_last_sync END WHERE id = ?1",
	[ST_TOKEN_GET] = "SELECT active, expires_at FROM tokens WHERE hash = ?1",
	[ST_TOKEN_ADD] = "INSERT INTO tokens (hash, name, created_at, expires_at, active) "
			 "VALUES (?1, ?2, ?3, ?4, 1)",
	/* strictly past: seconds are truncated, so a host is never marked offline early */
	[ST_HOST_EXPIRED] = "SELECT id FROM hosts WHERE status = 'online' AND expires_at < ?1 "
			    "ORDER BY expires_at LIMIT ?2",
	[ST_HOST_OFFLINE] = "UPDATE hosts SET status = 'offline' WHERE id = ?1",
	[ST_HOST_STALE] = "SELECT id FROM hosts WHERE status = 'offline' AND last_seen < ?1 "
			  "ORDER BY last_seen LIMIT ?2",
	[ST_HOST_DELETE] = "DELETE FROM hosts WHERE id = ?1",
	[ST_LEDGER_OF_HOST] = "SELECT zone, name, type FROM desired WHERE host_id = ?1",
	[ST_LEDGER_WANT_DELETE] =
		"UPDATE ledger SET desired_hash = ?4, status = 'pending', attempts = 0, "
		"next_attempt = 0, last_error = NULL, host_id = ?5, updated_at = ?6 "
		"WHERE zone = ?1 AND name = ?2 AND type = ?3",
	[ST_DESIRED_UPSERT] =
		"INSERT INTO desired (zone, name, type, ttl, content, hash, host_id) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (zone, name, type) DO UPDATE SET "
		"ttl = excluded.ttl, content = excluded.content, hash = excluded.hash, "
		"host_id = excluded.host_id",
	[ST_DESIRED_DELETE] = "DELETE FROM desired WHERE zone = ?1 AND name = ?2 AND type = ?3",
	[ST_TZ_ADD] = "INSERT OR IGNORE INTO target_zones (target, zone) VALUES (?1, ?2)",
	[ST_TZ_CATCHUP] =
		"INSERT INTO ledger (target, zone, name, type, desired_hash, status, attempts, "
		"next_attempt, host_id, updated_at) SELECT ?1, zone, name, type, hash, 'pending', "
		"0, 0, host_id, ?3 FROM desired WHERE zone = ?2 ON CONFLICT DO NOTHING",
};

/* Migrations: index i brings the schema from version i to i + 1. */
static const char *const migrations[] = {
	"CREATE TABLE hosts ("
	" id INTEGER PRIMARY KEY,"
	" hostname TEXT NOT NULL UNIQUE,"
	" current_ip TEXT NOT NULL,"
	" ipv4 TEXT,"
	" ipv6 TEXT,"
	" status TEXT NOT NULL DEFAULT 'online' CHECK (status IN ('online', 'offline')),"
	" first_seen INTEGER NOT NULL,"
	" last_seen INTEGER NOT NULL,"
	" owner_token_hash TEXT,"
	" dns_zone TEXT,"
	" dns_record_id TEXT,"
	" dns_ttl INTEGER,"
	" dns_sync_status TEXT NOT NULL DEFAULT 'pending'"
	"  CHECK (dns_sync_status IN ('pending', 'synced', 'failed', 'disabled')),"
	" dns_last_sync INTEGER"
	");"
	"CREATE INDEX hosts_liveness ON hosts (status, last_seen);"
	"CREATE TABLE ledger ("
	" target TEXT NOT NULL,"
	" zone TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" ttl INTEGER NOT NULL,"
	" content TEXT NOT NULL,"
	" desired_hash INTEGER NOT NULL,"
	" applied_hash INTEGER,"
	" status TEXT NOT NULL CHECK (status IN ('pending', 'synced', 'failed', 'conflict')),"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_attempt INTEGER NOT NULL DEFAULT 0,"
	" last_error TEXT,"
	" host_id INTEGER REFERENCES hosts (id) ON DELETE SET NULL,"
	" updated_at INTEGER,"
	" PRIMARY KEY (target, zone, name, type)"
	") WITHOUT ROWID;"
	"CREATE INDEX ledger_due ON ledger (target, status, next_attempt);"
	"CREATE INDEX ledger_host ON ledger (host_id);",
	/* 2: liveness by expiry time, tokens kept as hashes */
	"ALTER TABLE hosts ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX hosts_expiry ON hosts (status, expires_at);"
	"CREATE TABLE tokens ("
	" hash TEXT PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" expires_at INTEGER,"
	" active INTEGER NOT NULL DEFAULT 1"
	") WITHOUT ROWID;",
	/* 3: desired state once, per-target ledger rows only hold sync state */
	"CREATE TABLE desired ("
	" zone TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" type TEXT NOT NULL,"
	" ttl INTEGER NOT NULL,"
	" content TEXT NOT NULL,"
	" hash INTEGER NOT NULL,"
	" host_id INTEGER REFERENCES hosts (id) ON DELETE SET NULL,"
	" PRIMARY KEY (zone, name, type)"
	") WITHOUT ROWID;"
	"CREATE INDEX desired_host ON desired (host_id);"
	"INSERT OR IGNORE INTO desired (zone, name, type, ttl, content, hash, host_id)"
	" SELECT zone, name, type, ttl, content, desired_hash, host_id FROM ledger"
	" WHERE content != '';"
	"CREATE TABLE target_zones ("
	" target TEXT NOT NULL,"
	" zone TEXT NOT NULL,"
	" PRIMARY KEY (target, zone)"
	") WITHOUT ROWID;"
	"INSERT OR IGNORE INTO target_zones SELECT DISTINCT target, zone FROM ledger;"
	"ALTER TABLE ledger DROP COLUMN content;"
	"ALTER TABLE ledger DROP COLUMN ttl;",
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct prism_store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	unsigned savepoint_depth;
};

static void set_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s (%s)", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(struct prism_store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : PRISM_ESTORE;
}

static int migrate(struct prism_store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK) {
		set_err(err, errlen, "cannot read schema version", s->db);
		return PRISM_ESTORE;
	}
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (version < 0 || version > SCHEMA_VERSION) {
		snprintf(err, errlen, "registry schema version %d is newer than this prismd (%d)",
			 version, SCHEMA_VERSION);
		return PRISM_ESTORE;
	}
	for (int v = version; v < SCHEMA_VERSION; v++) {
		char pragma[64];
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		if (exec(s, "BEGIN IMMEDIATE") != 0 || exec(s, migrations[v]) != 0 ||
		    exec(s, pragma) != 0 || exec(s, "COMMIT") != 0) {
			set_err(err, errlen, "schema migration failed", s->db);
			exec(s, "ROLLBACK");
			return PRISM_ESTORE;
		}
	}
	return 0;
}

static void sq_close(struct prism_store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

static int sq_open(const struct prism_store_opts *opts, struct prism_store **out, char *err,
		   size_t errlen)
{
	if (opts == NULL || opts->path == NULL || out == NULL)
		return PRISM_EINVAL;
	struct prism_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PRISM_ENOMEM;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (sqlite3_open_v2(opts->path, &s->db, flags, NULL) != SQLITE_OK) {
		set_err(err, errlen, "cannot open database", s->db);
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	char pragmas[256];
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; "
		 "PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
		 opts->synchronous_full ? "FULL" : "NORMAL");
	if (exec(s, pragmas) != 0) {
		set_err(err, errlen, "cannot set up database", s->db);
		goto fail;
	}
	if (migrate(s, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < ST_COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &s->st[i], NULL) != SQLITE_OK) {
			set_err(err, errlen, "cannot prepare statement", s->db);
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	sq_close(s);
	return PRISM_ESTORE;
}

static int sq_begin(struct prism_store *s)
{
	return exec(s, "BEGIN IMMEDIATE");
}

static int sq_commit(struct prism_store *s)
{
	return exec(s, "COMMIT");
}

static int sq_rollback(struct prism_store *s)
{
	return exec(s, "ROLLBACK");
}

static int sq_savepoint(struct prism_store *s)
{
	return exec(s, "SAVEPOINT job");
}

static int sq_release(struct prism_store *s, bool keep)
{
	if (!keep && exec(s, "ROLLBACK TO job") != 0)
		return PRISM_ESTORE;
	return exec(s, "RELEASE job");
}

static sqlite3_stmt *stmt(struct prism_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->st[id];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/* Desired RRset changed: store it once and mark it pending on every target of its zone. */
static int desired_set(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		       int64_t host_id, int64_t now, bool *changed)
{
	int64_t hash = (int64_t)prism_rrset_hash(rr);
	sqlite3_stmt *st = stmt(s, ST_LEDGER_GET);
	bind_text(st, 1, zone);
	bind_text(st, 2, rr->name);
	bind_text(st, 3, rr->type);
	int rc = sqlite3_step(st);
	bool same = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) == hash;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return PRISM_ESTORE;
	if (same)
		return 0;
	/* one record per RRset for hosts; content is the records joined by '\n' */
	st = stmt(s, ST_DESIRED_UPSERT);
	bind_text(st, 1, zone);
	bind_text(st, 2, rr->name);
	bind_text(st, 3, rr->type);
	sqlite3_bind_int64(st, 4, rr->ttl);
	bind_text(st, 5, rr->nrecords ? rr->records[0] : "");
	sqlite3_bind_int64(st, 6, hash);
	sqlite3_bind_int64(st, 7, host_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	st = stmt(s, ST_LEDGER_UPSERT);
	bind_text(st, 1, zone);
	bind_text(st, 2, rr->name);
	bind_text(st, 3, rr->type);
	sqlite3_bind_int64(st, 4, hash);
	sqlite3_bind_int64(st, 5, host_id);
	sqlite3_bind_int64(st, 6, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	*changed = true;
	return 0;
}

/* Mark the host's record pending when its desired content changed. */
static int ledger_want(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		       const char *fqdn, bool *changed)
{
	*changed = false;
	if (reg->ipv6 ? !reg->dns.publish_aaaa : !reg->dns.publish_a)
		return 0; /* record_types leaves this family out */
	const char *recs[1] = { reg->ip };
	struct prism_rr_change rr = { fqdn, reg->ipv6 ? "AAAA" : "A", reg->dns.ttl, recs, 1 };
	return desired_set(s, &rr, reg->dns.zone, host_id, reg->now, changed);
}

static enum prism_reg_result classify(bool was_offline, bool ip_changed)
{
	if (was_offline)
		return ip_changed ? PRISM_REG_RECONNECTED_IP : PRISM_REG_RECONNECTED;
	return ip_changed ? PRISM_REG_IP_CHANGED : PRISM_REG_HEARTBEAT;
}

static int host_write(struct prism_store *s, const struct prism_host_reg *reg, bool exists,
		      int64_t id, const char *fqdn, const char *sync)
{
	/* both statements share parameters ?2..?9; ?1 is the id or the new hostname */
	sqlite3_stmt *st = stmt(s, exists ? ST_HOST_UPDATE : ST_HOST_INSERT);
	if (exists)
		sqlite3_bind_int64(st, 1, id);
	else
		bind_text(st, 1, reg->hostname);
	bind_text(st, 2, reg->ip);
	bind_text(st, 3, reg->ipv6 ? NULL : reg->ip);
	bind_text(st, 4, reg->ipv6 ? reg->ip : NULL);
	sqlite3_bind_int64(st, 5, reg->now);
	bind_text(st, 6, reg->dns.enabled ? reg->dns.zone : NULL);
	bind_text(st, 7, fqdn[0] ? fqdn : NULL);
	if (reg->dns.enabled)
		sqlite3_bind_int64(st, 8, reg->dns.ttl);
	else
		sqlite3_bind_null(st, 8);
	bind_text(st, 9, sync);
	sqlite3_bind_int64(st, 10, reg->expires_at);
	bind_text(st, 11, reg->owner);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int token_check(struct prism_store *s, const char *hash, int64_t now,
		       enum prism_token_state *state)
{
	sqlite3_stmt *st = stmt(s, ST_TOKEN_GET);
	bind_text(st, 1, hash);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		*state = PRISM_TOKEN_NOT_FOUND;
	else if (rc != SQLITE_ROW)
		return PRISM_ESTORE;
	else if (sqlite3_column_int(st, 0) == 0)
		*state = PRISM_TOKEN_INACTIVE;
	else if (sqlite3_column_type(st, 1) != SQLITE_NULL && sqlite3_column_int64(st, 1) <= now)
		*state = PRISM_TOKEN_EXPIRED;
	else
		*state = PRISM_TOKEN_OK;
	sqlite3_reset(st);
	return 0;
}

static int sq_host_register(struct prism_store *s, const struct prism_host_reg *reg,
			    struct prism_host_reg_out *out)
{
	if (s == NULL || reg == NULL || out == NULL || reg->hostname == NULL || reg->ip == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	if (reg->check_token && reg->owner != NULL) {
		if (token_check(s, reg->owner, reg->now, &out->token) != 0)
			return PRISM_ESTORE;
		if (out->token != PRISM_TOKEN_OK)
			return 0;
	}
	if (reg->dns.enabled &&
	    prism_fqdn_join(reg->hostname, reg->dns.zone, out->fqdn, sizeof(out->fqdn)) != 0)
		return PRISM_ETOOBIG;

	sqlite3_stmt *st = stmt(s, ST_HOST_GET);
	bind_text(st, 1, reg->hostname);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return PRISM_ESTORE;
	bool exists = rc == SQLITE_ROW;
	int64_t id = 0;
	bool ip_changed = false, was_offline = false;
	if (exists) {
		id = sqlite3_column_int64(st, 0);
		const unsigned char *fam = sqlite3_column_text(st, reg->ipv6 ? 2 : 1);
		const unsigned char *cur = sqlite3_column_text(st, 3);
		const unsigned char *status = sqlite3_column_text(st, 4);
		const unsigned char *owner = sqlite3_column_text(st, 5);
		/* no hijacking: a bound name answers only to its token */
		if (owner != NULL && (reg->owner == NULL ||
				      strcmp((const char *)owner, reg->owner) != 0)) {
			out->owned_by_other = true;
			sqlite3_reset(st);
			return 0;
		}
		/* a change is measured within the family: a dual-stack host keeps both */
		const char *prev = (const char *)(fam ? fam : cur);
		ip_changed = prev == NULL || strcmp(prev, reg->ip) != 0;
		if (ip_changed && prev != NULL)
			snprintf(out->old_ip, sizeof(out->old_ip), "%s", prev);
		was_offline = status != NULL && strcmp((const char *)status, "offline") == 0;
	}
	sqlite3_reset(st);

	const char *sync = reg->dns.enabled ? NULL : "disabled";
	if (!exists) {
		if (host_write(s, reg, false, 0, out->fqdn, sync ? sync : "pending") != 0)
			return PRISM_ESTORE;
		id = sqlite3_last_insert_rowid(s->db);
	}
	if (reg->dns.enabled && ledger_want(s, reg, id, out->fqdn, &out->dns_changed) != 0)
		return PRISM_ESTORE;
	if (exists) {
		if (out->dns_changed)
			sync = "pending";
		if (host_write(s, reg, true, id, out->fqdn, sync) != 0)
			return PRISM_ESTORE;
	}
	out->host_id = id;
	out->result = exists ? classify(was_offline, ip_changed) : PRISM_REG_NEW;
	return 0;
}

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

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return strdup(t ? (const char *)t : "");
}

static int sq_ledger_due(struct prism_store *s, const char *target, int64_t now_ms, size_t max,
			 struct prism_ledger_row **rows, size_t *n, int64_t *next_due)
{
	if (s == NULL || target == NULL || rows == NULL || n == NULL || max == 0)
		return PRISM_EINVAL;
	*rows = NULL;
	*n = 0;
	struct prism_ledger_row *r = calloc(max, sizeof(*r));
	if (r == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = stmt(s, ST_LEDGER_DUE);
	bind_text(st, 1, target);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
	size_t k = 0;
	int rc;
	while (k < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_ledger_row *row = &r[k++];
		row->zone = col_dup(st, 0);
		row->name = col_dup(st, 1);
		row->type = col_dup(st, 2);
		row->ttl = (uint32_t)sqlite3_column_int64(st, 3);
		row->content = col_dup(st, 4);
		row->desired_hash = (uint64_t)sqlite3_column_int64(st, 5);
		row->attempts = (uint32_t)sqlite3_column_int(st, 6);
		row->host_id = sqlite3_column_int64(st, 7);
		if (!row->zone || !row->name || !row->type || !row->content) {
			prism_ledger_rows_free(r, k);
			return PRISM_ENOMEM;
		}
	}
	sqlite3_reset(st);
	if (next_due != NULL) {
		st = stmt(s, ST_LEDGER_NEXT);
		bind_text(st, 1, target);
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
	sqlite3_stmt *st = stmt(s, ST_HOST_SYNC);
	sqlite3_bind_int64(st, 1, host_id);
	sqlite3_bind_int(st, 2, ok);
	sqlite3_bind_int64(st, 3, now_ms / 1000);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int mark_one(struct prism_store *s, const char *target, const struct prism_ledger_mark *m,
		    int64_t now_ms)
{
	sqlite3_stmt *st = stmt(s, m->ok ? ST_LEDGER_OK : ST_LEDGER_FAIL);
	bind_text(st, 1, target);
	bind_text(st, 2, m->zone);
	bind_text(st, 3, m->name);
	bind_text(st, 4, m->type);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)m->desired_hash);
	if (m->ok) {
		sqlite3_bind_int64(st, 6, now_ms / 1000);
	} else {
		sqlite3_bind_int64(st, 6, m->next_attempt);
		bind_text(st, 7, m->error ? m->error : "unknown error");
		sqlite3_bind_int64(st, 8, now_ms / 1000);
	}
	int rc = sqlite3_step(st);
	int64_t host_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	if (m->ok) {
		/* an applied deletion leaves nothing to track */
		st = stmt(s, ST_LEDGER_OK_DELETE);
		bind_text(st, 1, target);
		bind_text(st, 2, m->zone);
		bind_text(st, 3, m->name);
		bind_text(st, 4, m->type);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)m->desired_hash);
		if (sqlite3_step(st) != SQLITE_DONE)
			return PRISM_ESTORE;
	}
	if (host_id > 0)
		return host_sync(s, host_id, m->ok, now_ms);
	return 0;
}

static int sq_ledger_mark(struct prism_store *s, const char *target,
			  const struct prism_ledger_mark *marks, size_t n, int64_t now_ms)
{
	if (s == NULL || target == NULL || (marks == NULL && n > 0))
		return PRISM_EINVAL;
	for (size_t i = 0; i < n; i++) {
		int rc = mark_one(s, target, &marks[i], now_ms);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Mark every record of a host for deletion; @p link keeps the host_id on the rows. */
static int host_dns_delete(struct prism_store *s, int64_t host_id, bool link, int64_t now,
			   bool *changed)
{
	enum { MAXR = 16 };
	struct { char *f[3]; } rows[MAXR];
	size_t n = 0;
	sqlite3_stmt *st = stmt(s, ST_LEDGER_OF_HOST);
	sqlite3_bind_int64(st, 1, host_id);
	while (n < MAXR && sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < 3; i++)
			rows[n].f[i] = col_dup(st, i);
		n++;
	}
	sqlite3_reset(st);
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		struct prism_rr_change rr = { rows[i].f[1], rows[i].f[2], 0, NULL, 0 };
		st = stmt(s, ST_DESIRED_DELETE);
		for (int k = 0; k < 3; k++)
			bind_text(st, k + 1, rows[i].f[k]);
		if (err == 0 && sqlite3_step(st) != SQLITE_DONE)
			err = PRISM_ESTORE;
		st = stmt(s, ST_LEDGER_WANT_DELETE);
		for (int k = 0; k < 3; k++)
			bind_text(st, k + 1, rows[i].f[k]);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)prism_rrset_hash(&rr));
		if (link)
			sqlite3_bind_int64(st, 5, host_id);
		else
			sqlite3_bind_null(st, 5);
		sqlite3_bind_int64(st, 6, now);
		if (err == 0 && sqlite3_step(st) != SQLITE_DONE)
			err = PRISM_ESTORE;
		if (err == 0)
			*changed = true;
		for (int k = 0; k < 3; k++)
			free(rows[i].f[k]);
	}
	return err;
}

/* Ids of up to @p max hosts selected by @p id (?1 = time, ?2 = limit). */
static int select_ids(struct prism_store *s, enum stmt_id id, int64_t t, size_t max,
		      int64_t **ids, size_t *n)
{
	*ids = calloc(max, sizeof(**ids));
	*n = 0;
	if (*ids == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = stmt(s, id);
	sqlite3_bind_int64(st, 1, t);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

static int sq_hosts_expire(struct prism_store *s, int64_t now, size_t max, bool remove_dns,
			   size_t *n, bool *dns_changed)
{
	if (s == NULL || n == NULL || dns_changed == NULL || max == 0)
		return PRISM_EINVAL;
	int64_t *ids;
	int rc = select_ids(s, ST_HOST_EXPIRED, now, max, &ids, n);
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		sqlite3_stmt *st = stmt(s, ST_HOST_OFFLINE);
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
		else if (remove_dns)
			rc = host_dns_delete(s, ids[i], true, now, dns_changed);
	}
	free(ids);
	return rc;
}

static int sq_hosts_cleanup(struct prism_store *s, int64_t before, size_t max, size_t *n,
			    bool *dns_changed)
{
	if (s == NULL || n == NULL || dns_changed == NULL || max == 0)
		return PRISM_EINVAL;
	int64_t *ids;
	int rc = select_ids(s, ST_HOST_STALE, before, max, &ids, n);
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		rc = host_dns_delete(s, ids[i], false, before, dns_changed);
		if (rc != 0)
			break;
		sqlite3_stmt *st = stmt(s, ST_HOST_DELETE);
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	free(ids);
	return rc;
}

static int sq_token_add(struct prism_store *s, const char *name, const char *hash, int64_t now,
			int64_t expires_at)
{
	if (s == NULL || name == NULL || hash == NULL)
		return PRISM_EINVAL;
	sqlite3_stmt *st = stmt(s, ST_TOKEN_ADD);
	bind_text(st, 1, hash);
	bind_text(st, 2, name);
	sqlite3_bind_int64(st, 3, now);
	if (expires_at > 0)
		sqlite3_bind_int64(st, 4, expires_at);
	else
		sqlite3_bind_null(st, 4);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		return PRISM_ECONFLICT;
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int sq_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs,
			   size_t n, int64_t now, size_t *caught_up)
{
	if (s == NULL || (pairs == NULL && n > 0) || caught_up == NULL)
		return PRISM_EINVAL;
	*caught_up = 0;
	/* forget pairs no longer served: a temporary table of the wanted ones */
	if (exec(s, "CREATE TEMP TABLE IF NOT EXISTS want_tz (target TEXT, zone TEXT);"
		    "DELETE FROM want_tz;") != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *ins;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO want_tz VALUES (?1, ?2)", -1, &ins, NULL) !=
	    SQLITE_OK)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_reset(ins);
		bind_text(ins, 1, pairs[i].target);
		bind_text(ins, 2, pairs[i].zone);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	sqlite3_finalize(ins);
	if (rc == 0 &&
	    exec(s, "DELETE FROM ledger WHERE (target, zone) NOT IN "
		    "(SELECT target, zone FROM want_tz);"
		    "DELETE FROM target_zones WHERE (target, zone) NOT IN "
		    "(SELECT target, zone FROM want_tz);") != 0)
		rc = PRISM_ESTORE;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		sqlite3_stmt *st = stmt(s, ST_TZ_ADD);
		bind_text(st, 1, pairs[i].target);
		bind_text(st, 2, pairs[i].zone);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = PRISM_ESTORE;
			break;
		}
		if (sqlite3_changes(s->db) == 0)
			continue; /* served before: its rows exist */
		st = stmt(s, ST_TZ_CATCHUP);
		bind_text(st, 1, pairs[i].target);
		bind_text(st, 2, pairs[i].zone);
		sqlite3_bind_int64(st, 3, now);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
		else
			*caught_up += (size_t)sqlite3_changes(s->db);
	}
	return rc;
}

const struct prism_store_api prism_store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.host_register = sq_host_register,
	.ledger_due = sq_ledger_due,
	.ledger_mark = sq_ledger_mark,
	.hosts_expire = sq_hosts_expire,
	.hosts_cleanup = sq_hosts_cleanup,
	.token_add = sq_token_add,
	.targets_sync = sq_targets_sync,
};
