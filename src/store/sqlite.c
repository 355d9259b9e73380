/* SPDX-License-Identifier: MIT */
/*
 * SQLite registry backend. One connection, used only by the store writer thread.
 * The schema is versioned with PRAGMA user_version; each migration runs in its own
 * transaction. Statements are prepared once and reused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/pdns_json.h"
#include "core/rrset.h"
#include "core/token.h"
#include "store/sqlite_int.h"
#include "store/store.h"

enum stmt_id {
	ST_HOST_GET,
	ST_HOST_NAME_SOURCE,
	ST_HOST_INSERT,
	ST_HOST_UPDATE,
	ST_LEDGER_GET,
	ST_NAME_HOLDER,
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
	ST_SAVEPOINT,
	ST_HOST_BEAT,
	ST_HOST_PTRS,
	ST_LEDGER_SET,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_SRC_BY_KEY,
	ST_SRC_BY_NAME,
	ST_SRC_INSERT,
	ST_SRC_UPDATE,
	ST_DESIRED_DROP_OWNED,
	ST_SRC_LEDGER_UPSERT,
	ST_TZ_ALL,
	ST_QUEUE_ADD,
	ST_QUEUE_TAKE,
	ST_QUEUE_DROP,
	ST_QUEUE_COUNT,
	ST_COUNT,
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_HOST_GET] = "SELECT id, ipv4, ipv6, current_ip, status, owner_token_hash, dns_zone, "
			"dns_ttl, source FROM hosts WHERE hostname = ?1",
	/* a new agent name: is its FQDN held by a host of another source? */
	[ST_HOST_NAME_SOURCE] = "SELECT source FROM hosts WHERE dns_record_id = ?1 "
				"AND source != 'agent' LIMIT 1",
	/* a heartbeat that changes nothing but the time */
	[ST_HOST_PTRS] = "SELECT zone, name FROM desired WHERE host_id = ?1 AND type = 'PTR' "
			 "AND name != ?2",
	/* reconciler: one row to a state, created when missing */
	[ST_LEDGER_SET] =
		"INSERT INTO ledger (target, zone, name, type, desired_hash, applied_hash, status, "
		"attempts, next_attempt, last_error, host_id, updated_at) VALUES (?1, ?2, ?3, ?4, "
		"?5, CASE WHEN ?6 = 'synced' THEN ?5 END, ?6, 0, 0, ?7, ?8, ?9) "
		"ON CONFLICT (target, zone, name, type) DO UPDATE SET desired_hash = ?5, "
		"applied_hash = CASE WHEN ?6 = 'synced' THEN ?5 ELSE applied_hash END, status = ?6, "
		"next_attempt = CASE WHEN ?6 = 'pending' THEN 0 ELSE next_attempt END, "
		"last_error = ?7, updated_at = ?9",
	[ST_HOST_BEAT] = "UPDATE hosts SET last_seen = ?2, expires_at = ?3, "
			 "owner_token_hash = coalesce(owner_token_hash, ?4) WHERE id = ?1",
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
	[ST_LEDGER_GET] = "SELECT hash, host_id IS NULL FROM desired WHERE zone = ?1 AND "
			  "name = ?2 AND type = ?3",
	/* who else holds an RRset of this type, or a CNAME, at a name: the API (no host) or
	 * another host (?4: the asking host, 0 for a new one) */
	[ST_NAME_HOLDER] = "SELECT coalesce(h.source, 'api') FROM desired d LEFT JOIN hosts h "
			   "ON h.id = d.host_id WHERE d.zone = ?1 AND d.name = ?2 AND "
			   "(d.type = ?3 OR d.type = 'CNAME') AND d.host_id IS NOT ?4 LIMIT 1",
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
	/* no desired row = the RRset is to be deleted. INDEXED BY: without statistics SQLite
	 * picks the primary key and walks every row of the target (16-21 ms at 120,000 rows
	 * against 0.02-0.06 ms through ledger_due), on the writer thread */
	[ST_LEDGER_DUE] =
		"SELECT l.zone, l.name, l.type, coalesce(d.ttl, 0), coalesce(d.content, ''), "
		"l.desired_hash, l.attempts, l.host_id, coalesce(l.updated_at, 0) "
		"FROM ledger l INDEXED BY ledger_due "
		"LEFT JOIN desired d "
		"ON d.zone = l.zone AND d.name = l.name AND d.type = l.type "
		"WHERE l.target = ?1 AND l.status IN ('pending', 'failed') "
		"AND l.next_attempt <= ?2 LIMIT ?3",
	[ST_LEDGER_NEXT] = "SELECT min(next_attempt) FROM ledger INDEXED BY ledger_due "
			   "WHERE target = ?1 "
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
		"UPDATE ledger SET status = CASE WHEN ?9 THEN 'conflict' ELSE 'failed' END, "
		"attempts = attempts + 1, "
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
			    "AND source = 'agent' "
			    "ORDER BY expires_at LIMIT ?2",
	[ST_HOST_OFFLINE] = "UPDATE hosts SET status = 'offline' WHERE id = ?1",
	[ST_HOST_STALE] = "SELECT id FROM hosts WHERE status = 'offline' AND last_seen < ?1 "
			  "ORDER BY last_seen LIMIT ?2",
	[ST_HOST_DELETE] = "DELETE FROM hosts WHERE id = ?1",
	[ST_LEDGER_OF_HOST] = "SELECT zone, name, type FROM desired WHERE host_id = ?1",
	/* through the primary key: without the target SQLite walks every ledger row */
	[ST_LEDGER_WANT_DELETE] =
		"UPDATE ledger SET desired_hash = ?4, status = 'pending', attempts = 0, "
		"next_attempt = 0, last_error = NULL, host_id = ?5, updated_at = ?6 "
		"WHERE target IN (SELECT target FROM target_zones WHERE zone = ?1) "
		"AND zone = ?1 AND name = ?2 AND type = ?3",
	[ST_DESIRED_UPSERT] =
		"INSERT INTO desired (zone, name, type, ttl, content, hash, host_id) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (zone, name, type) DO UPDATE SET "
		"ttl = excluded.ttl, content = excluded.content, hash = excluded.hash, "
		"host_id = excluded.host_id",
	[ST_DESIRED_DELETE] = "DELETE FROM desired WHERE zone = ?1 AND name = ?2 AND type = ?3",
	[ST_TZ_ADD] = "INSERT OR IGNORE INTO target_zones (target, zone) VALUES (?1, ?2)",
	/* one per job of a group commit: prepared once, not parsed every time */
	[ST_SAVEPOINT] = "SAVEPOINT job",
	[ST_RELEASE] = "RELEASE job",
	[ST_ROLLBACK_TO] = "ROLLBACK TO job",
	/* hosts of other sources: by their key, by their name (FQDN, or the same text as an
	 * agent's hostname), written with a far expiry (never offline) */
	[ST_SRC_BY_KEY] = "SELECT id, dns_record_id, ipv4, ipv6, dhcid4, dhcid6, dns_ttl, "
			  "dns_zone FROM hosts WHERE source = ?1 AND source_key = ?2",
	[ST_SRC_BY_NAME] = "SELECT id, source, source_key FROM hosts WHERE dns_record_id = ?1 "
			   "UNION ALL SELECT id, source, source_key FROM hosts "
			   "WHERE hostname = ?2 LIMIT 1",
	[ST_SRC_INSERT] =
		"INSERT INTO hosts (hostname, current_ip, ipv4, ipv6, status, first_seen, "
		"last_seen, dns_zone, dns_record_id, dns_ttl, dns_sync_status, expires_at, source, "
		"source_key, dhcid4, dhcid6) VALUES (?1, ?2, ?3, ?4, 'online', ?5, ?5, ?6, ?7, ?8, "
		"?9, 9223372036854775807, ?10, ?11, ?12, ?13)",
	[ST_SRC_UPDATE] =
		"UPDATE hosts SET current_ip = ?2, ipv4 = ?3, ipv6 = ?4, last_seen = ?5, "
		"dns_zone = ?6, dns_ttl = ?7, dns_sync_status = coalesce(?8, dns_sync_status), "
		"dhcid4 = ?9, dhcid6 = ?10 WHERE id = ?1",
	/* withdraw a record only while this host owns it: a PTR may have moved on */
	[ST_DESIRED_DROP_OWNED] = "DELETE FROM desired WHERE zone = ?1 AND name = ?2 AND "
				  "type = ?3 AND host_id = ?4",
	/* one target's row: a single-row insert needs no statement journal, whose truncation
	 * inside a job's savepoint costs O(pages the job touched) per statement */
	[ST_SRC_LEDGER_UPSERT] =
		"INSERT INTO ledger (target, zone, name, type, desired_hash, status, attempts, "
		"next_attempt, host_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, 0, "
		"?6, ?7) ON CONFLICT (target, zone, name, type) DO UPDATE SET "
		"desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "
		"next_attempt = 0, last_error = NULL, host_id = excluded.host_id, "
		"updated_at = excluded.updated_at",
	[ST_TZ_ALL] = "SELECT target, zone FROM target_zones",
	[ST_QUEUE_ADD] = "INSERT INTO source_queue (source, key, fqdn, zone, families, ipv4, "
			 "ipv6, ttl, flags, dhcid, only_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			 "?8, ?9, ?10, ?11)",
	[ST_QUEUE_TAKE] = "SELECT seq, key, fqdn, zone, families, ipv4, ipv6, ttl, flags, dhcid, "
			  "only_ip FROM source_queue WHERE source = ?1 ORDER BY seq LIMIT ?2",
	[ST_QUEUE_DROP] = "DELETE FROM source_queue WHERE source = ?1 AND seq <= ?2",
	[ST_QUEUE_COUNT] = "SELECT count(*) FROM source_queue WHERE source = ?1",
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
	/* 4 (REST API): API keys and the audit log as tables; host counts by status kept by
	 * triggers so the API never counts a million rows; hosts by status in id order */
	"CREATE TABLE api_keys ("
	" hash TEXT PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" role TEXT NOT NULL CHECK (role IN ('read', 'write', 'admin')),"
	" created_at INTEGER NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX api_keys_name ON api_keys (name);"
	"CREATE INDEX tokens_name ON tokens (name);"
	"CREATE TABLE audit ("
	" id INTEGER PRIMARY KEY,"
	" at INTEGER NOT NULL,"
	" actor TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" object TEXT NOT NULL,"
	" before TEXT,"
	" after TEXT"
	");"
	"CREATE INDEX hosts_status ON hosts (status);"
	"CREATE TABLE host_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO host_counts (status, n) SELECT 'online', count(*) FROM hosts"
	" WHERE status = 'online';"
	"INSERT INTO host_counts (status, n) SELECT 'offline', count(*) FROM hosts"
	" WHERE status = 'offline';"
	"CREATE TRIGGER host_counts_insert AFTER INSERT ON hosts BEGIN"
	" UPDATE host_counts SET n = n + 1 WHERE status = new.status; END;"
	"CREATE TRIGGER host_counts_delete AFTER DELETE ON hosts BEGIN"
	" UPDATE host_counts SET n = n - 1 WHERE status = old.status; END;"
	"CREATE TRIGGER host_counts_update AFTER UPDATE OF status ON hosts"
	" WHEN old.status <> new.status BEGIN"
	" UPDATE host_counts SET n = n - 1 WHERE status = old.status;"
	" UPDATE host_counts SET n = n + 1 WHERE status = new.status; END;",
	/* 5 (zones): zones created through the API or imported (config zones stay in the
	 * config), and the zone deletions each target still owes */
	"CREATE TABLE zones ("
	" name TEXT PRIMARY KEY,"
	" kind TEXT NOT NULL CHECK (kind IN ('Native', 'Master')),"
	" targets TEXT NOT NULL,"
	" nameservers TEXT NOT NULL,"
	" soa TEXT NOT NULL,"
	" ttl INTEGER NOT NULL,"
	" dnssec INTEGER NOT NULL DEFAULT 0,"
	" adopt INTEGER NOT NULL DEFAULT 0,"
	" origin TEXT NOT NULL DEFAULT 'api',"
	" created_at INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE zone_deletions ("
	" target TEXT NOT NULL,"
	" zone TEXT NOT NULL,"
	" at INTEGER NOT NULL,"
	" PRIMARY KEY (target, zone)"
	") WITHOUT ROWID;"
	/* a desired change fans out to the targets of its zone: found by zone, not by a
	 * scan of every (target, zone) pair (1,000 zones on 3 targets: 5.7 ms a record) */
	"CREATE INDEX target_zones_zone ON target_zones (zone);",
	/* 6 (Kea sources): where each host comes from and its key there (a reservation id, a
	 * lease address, a name); DDNS clients' DHCIDs per family; hosts by DNS name for the
	 * one-owner-per-name check */
	"ALTER TABLE hosts ADD COLUMN source TEXT NOT NULL DEFAULT 'agent'"
	" CHECK (source IN ('agent', 'kea-reservation', 'kea-lease', 'kea-ddns', 'api'));"
	"ALTER TABLE hosts ADD COLUMN source_key TEXT;"
	"ALTER TABLE hosts ADD COLUMN dhcid4 TEXT;"
	"ALTER TABLE hosts ADD COLUMN dhcid6 TEXT;"
	"CREATE UNIQUE INDEX hosts_source_key ON hosts (source, source_key);"
	"CREATE INDEX hosts_dns_name ON hosts (dns_record_id);"
	/* changes taken in but not applied yet (source_enqueue): a burst is committed at
	 * the cost of one append each and applied in order behind it */
	"CREATE TABLE source_queue ("
	" seq INTEGER PRIMARY KEY,"
	" source TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" fqdn TEXT NOT NULL,"
	" zone TEXT NOT NULL,"
	" families INTEGER NOT NULL,"
	" ipv4 TEXT,"
	" ipv6 TEXT,"
	" ttl INTEGER NOT NULL,"
	" flags INTEGER NOT NULL,"
	" dhcid TEXT,"
	" only_ip TEXT"
	");",
	/* 7: the registry's own values: its credential key (cred_key_create), with which the
	 * plain SHA-256 hashes of tokens and API keys are re-keyed in the same transaction */
	"CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
	/* 8 (metrics): hosts by dns_sync_status kept by triggers, like host_counts: the
	 * metrics never count a million rows. Counted afresh if it runs again (a registry whose
	 * user_version was set back) */
	"CREATE TABLE IF NOT EXISTS host_sync_counts (status TEXT PRIMARY KEY,"
	" n INTEGER NOT NULL) WITHOUT ROWID;"
	"DELETE FROM host_sync_counts;"
	"DROP TRIGGER IF EXISTS host_sync_counts_insert;"
	"DROP TRIGGER IF EXISTS host_sync_counts_delete;"
	"DROP TRIGGER IF EXISTS host_sync_counts_update;"
	"INSERT INTO host_sync_counts (status, n) SELECT column1, (SELECT count(*) FROM hosts"
	" WHERE dns_sync_status = column1) FROM (VALUES ('pending'), ('synced'), ('failed'),"
	" ('disabled'));"
	"CREATE TRIGGER host_sync_counts_insert AFTER INSERT ON hosts BEGIN"
	" UPDATE host_sync_counts SET n = n + 1 WHERE status = new.dns_sync_status; END;"
	"CREATE TRIGGER host_sync_counts_delete AFTER DELETE ON hosts BEGIN"
	" UPDATE host_sync_counts SET n = n - 1 WHERE status = old.dns_sync_status; END;"
	"CREATE TRIGGER host_sync_counts_update AFTER UPDATE OF dns_sync_status ON hosts"
	" WHEN old.dns_sync_status <> new.dns_sync_status BEGIN"
	" UPDATE host_sync_counts SET n = n - 1 WHERE status = old.dns_sync_status;"
	" UPDATE host_sync_counts SET n = n + 1 WHERE status = new.dns_sync_status; END;",
	/* 9: targets added at run time (POST /api/v1/targets), beside the config's (IF NOT
	 * EXISTS: a registry whose user_version was set back runs it again) */
	"CREATE TABLE IF NOT EXISTS runtime_targets ("
	" name TEXT PRIMARY KEY,"
	" api_url TEXT NOT NULL,"
	" api_key TEXT,"
	" api_key_file TEXT,"
	" server_id TEXT NOT NULL,"
	" zones TEXT,"
	" grp TEXT,"
	" dns_address TEXT,"
	" created INTEGER NOT NULL"
	") WITHOUT ROWID;",
};

#define CRED_KEY_VERSION 7 /* the migration after which cred_key_create runs */

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct prism_store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	unsigned savepoint_depth;
	/* target_zones, read once for source writes (see src_desired_set); NULL = not read */
	struct prism_target_zone *tz;
	size_t ntz;
	bool tz_loaded;
};

sqlite3 *prism_sqlite_db(struct prism_store *s)
{
	return s->db;
}

static void set_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s (%s)", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec(struct prism_store *s, const char *sql)
{
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : PRISM_ESTORE;
}

/* prism_rekey(hash): a stored plain SHA-256 hash, keyed (the key is the user data). */
static void rekey_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	char out[PRISM_TOKEN_HASH_LEN + 1];
	const char *in = (const char *)sqlite3_value_text(argv[0]);
	(void)argc;
	if (in == NULL) {
		sqlite3_result_null(ctx);
		return;
	}
	if (prism_cred_rekey(sqlite3_user_data(ctx), in, strlen(in), out) != 0) {
		sqlite3_result_error_nomem(ctx);
		return;
	}
	sqlite3_result_text(ctx, out, PRISM_TOKEN_HASH_LEN, SQLITE_TRANSIENT);
}

/*
 * The credential key, made once with the registry (or by the migration of one that had
 * none), and every hash stored before it re-keyed: the tokens and API keys in use keep
 * working, and the hashes can no longer be attacked offline without the key.
 */
static int cred_key_create(struct prism_store *s)
{
	struct prism_cred_key key;
	size_t got = 0;
	while (got < sizeof(key.k)) {
		ssize_t n = getrandom(key.k + got, sizeof(key.k) - got, 0);
		if (n < 0 && errno != EINTR)
			return PRISM_ESTORE;
		got += n > 0 ? (size_t)n : 0;
	}
	sqlite3_stmt *st;
	int rc = PRISM_ESTORE;
	if (sqlite3_prepare_v2(s->db, "INSERT INTO meta (name, value) VALUES ('cred_key', ?1)",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, key.k, sizeof(key.k), SQLITE_STATIC);
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok || sqlite3_create_function(s->db, "prism_rekey", 1, SQLITE_UTF8, &key, rekey_fn,
					   NULL, NULL) != SQLITE_OK)
		goto out;
	if (exec(s, "UPDATE tokens SET hash = prism_rekey(hash);"
		    "UPDATE api_keys SET hash = prism_rekey(hash);"
		    "UPDATE hosts SET owner_token_hash = prism_rekey(owner_token_hash) "
		    "WHERE owner_token_hash IS NOT NULL;") == 0)
		rc = 0;
	sqlite3_create_function(s->db, "prism_rekey", 1, SQLITE_UTF8, NULL, NULL, NULL, NULL);
out:
	explicit_bzero(&key, sizeof(key));
	return rc;
}

static int sq_cred_key(struct prism_store *s, struct prism_cred_key *out)
{
	sqlite3_stmt *st;
	if (s == NULL || out == NULL ||
	    sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = 'cred_key'", -1, &st,
			       NULL) != SQLITE_OK)
		return PRISM_EINVAL;
	int rc = PRISM_ESTORE;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 0) == (int)sizeof(out->k)) {
		memcpy(out->k, sqlite3_column_blob(st, 0), sizeof(out->k));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
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
		    (v + 1 == CRED_KEY_VERSION && cred_key_create(s) != 0) ||
		    exec(s, pragma) != 0 || exec(s, "COMMIT") != 0) {
			set_err(err, errlen, "schema migration failed", s->db);
			exec(s, "ROLLBACK");
			return PRISM_ESTORE;
		}
	}
	return 0;
}

static void tz_forget(struct prism_store *s)
{
	for (size_t i = 0; i < s->ntz; i++) {
		free((char *)s->tz[i].target);
		free((char *)s->tz[i].zone);
	}
	free(s->tz);
	s->tz = NULL;
	s->ntz = 0;
	s->tz_loaded = false;
}

static void sq_close(struct prism_store *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	tz_forget(s);
	free(s);
}

/* Drop the bits for others from an existing file; 0 when absent or done. */
static int restrict_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	return (st.st_mode & 0007) == 0 ? 0 : chmod(path, st.st_mode & 07770);
}

/*
 * The registry holds the credentials' hashes: created 0600 whatever the umask, before SQLite
 * opens it — SQLite gives its -wal and -shm files the database file's mode. Files left
 * readable by everyone by an older prismd lose the bits for others.
 */
static int private_files(const char *path)
{
	if (path[0] == '\0' || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0)
		return 0;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int rc = fchmod(fd, 0600);
		close(fd);
		if (rc != 0)
			return -1;
	} else if (errno != EEXIST) {
		return -1;
	}
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char side[PATH_MAX];
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		int n = snprintf(side, sizeof(side), "%s%s", path, suffix[i]);
		if (n < 0 || (size_t)n >= sizeof(side)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (restrict_file(side) != 0)
			return -1;
	}
	return 0;
}

static int sq_open(const struct prism_store_opts *opts, struct prism_store **out, char *err,
		   size_t errlen)
{
	if (opts == NULL || opts->path == NULL || out == NULL)
		return PRISM_EINVAL;
	/* no global allocation statistics: they take a mutex on every malloc. Only possible
	 * before SQLite initialises; later calls answer SQLITE_MISUSE and change nothing. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	struct prism_store *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PRISM_ENOMEM;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	if (private_files(opts->path) != 0) {
		snprintf(err, errlen, "cannot create or restrict %s (%s)", opts->path,
			 strerror(errno));
		goto fail;
	}
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

static int step_once(struct prism_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->st[id];
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int sq_savepoint(struct prism_store *s)
{
	int rc = step_once(s, ST_SAVEPOINT);
	if (rc == 0)
		s->savepoint_depth++;
	return rc;
}

static int sq_release(struct prism_store *s, bool keep)
{
	if (!keep && step_once(s, ST_ROLLBACK_TO) != 0)
		return PRISM_ESTORE;
	if (s->savepoint_depth > 0)
		s->savepoint_depth--;
	return step_once(s, ST_RELEASE);
}

/*
 * Inside a job: keep what the job wrote so far and open a fresh savepoint for the rest.
 * SQLite keeps every page a savepoint changed in an in-memory sub-journal, and each
 * statement that needs a statement journal (inserts with triggers, upserts) truncates it
 * by walking it from the start: a job writing thousands of hosts became quadratic (a 4,096
 * request job: 2 s). Outside a job (no savepoint open) this does nothing.
 */
static int sq_job_mark(struct prism_store *s)
{
	if (s == NULL || s->savepoint_depth == 0)
		return 0;
	if (step_once(s, ST_RELEASE) != 0 || step_once(s, ST_SAVEPOINT) != 0)
		return PRISM_ESTORE;
	return 0;
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

/*
 * Store a host's desired RRset once (the `desired` row). @p hash receives its hash,
 * @p differs whether it differed from what was stored (and was written): only then do the
 * targets' ledger rows need marking, which the callers do.
 */
static int desired_row(struct prism_store *s, const struct prism_rr_change *rr,
		       const char *zone, int64_t host_id, int64_t *hash, bool *differs)
{
	*hash = (int64_t)prism_rrset_hash(rr);
	*differs = false;
	sqlite3_stmt *st = stmt(s, ST_LEDGER_GET);
	bind_text(st, 1, zone);
	bind_text(st, 2, rr->name);
	bind_text(st, 3, rr->type);
	int rc = sqlite3_step(st);
	bool same = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) == *hash;
	/* an RRset made through the API is never a host's to take (a PTR at an address the
	 * operator mapped by hand stays his; forward names are refused before, name_holder) */
	bool api = rc == SQLITE_ROW && sqlite3_column_int(st, 1) != 0 && host_id > 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return PRISM_ESTORE;
	if (same || api)
		return 0;
	/* one record per RRset for hosts; content is the records joined by '\n' */
	st = stmt(s, ST_DESIRED_UPSERT);
	bind_text(st, 1, zone);
	bind_text(st, 2, rr->name);
	bind_text(st, 3, rr->type);
	sqlite3_bind_int64(st, 4, rr->ttl);
	bind_text(st, 5, rr->nrecords ? rr->records[0] : "");
	sqlite3_bind_int64(st, 6, *hash);
	sqlite3_bind_int64(st, 7, host_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	*differs = true;
	return 0;
}

/* Desired RRset changed: store it once and mark it pending on every target of its zone. */
static int desired_set(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		       int64_t host_id, int64_t now, bool *changed)
{
	int64_t hash;
	bool differs;
	if (desired_row(s, rr, zone, host_id, &hash, &differs) != 0)
		return PRISM_ESTORE;
	if (!differs)
		return 0;
	sqlite3_stmt *st = stmt(s, ST_LEDGER_UPSERT);
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

static char *col_dup(sqlite3_stmt *st, int i);

/* Withdraw one desired RRset and queue its deletion on every target that has it. */
static int desired_drop(struct prism_store *s, const char *zone, const char *name,
			const char *type, int64_t host_id, int64_t now)
{
	struct prism_rr_change del = { name, type, 0, NULL, 0 };
	sqlite3_stmt *st = stmt(s, ST_DESIRED_DELETE);
	bind_text(st, 1, zone);
	bind_text(st, 2, name);
	bind_text(st, 3, type);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	st = stmt(s, ST_LEDGER_WANT_DELETE);
	bind_text(st, 1, zone);
	bind_text(st, 2, name);
	bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)prism_rrset_hash(&del));
	sqlite3_bind_int64(st, 5, host_id);
	sqlite3_bind_int64(st, 6, now);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* The host's PTR of one family: the new one, and the old one withdrawn. */
static int ptr_want(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		    const char *fqdn, bool *changed)
{
	char rev[PRISM_DNAME_MAX + 1];
	if (prism_reverse_name(reg->ip, rev, sizeof(rev)) != 0)
		return 0;
	const char *rzone = prism_zone_of(rev, reg->dns.zones);
	const char *suffix = reg->ipv6 ? ".ip6.arpa." : ".in-addr.arpa.";
	/* an earlier address of the same family leaves a PTR behind: withdraw it */
	sqlite3_stmt *st = stmt(s, ST_HOST_PTRS);
	sqlite3_bind_int64(st, 1, host_id);
	bind_text(st, 2, rev);
	char *old[8][2];
	size_t n = 0;
	while (n < 8 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		size_t nl = strlen(name), sl = strlen(suffix);
		if (nl > sl && strcmp(name + nl - sl, suffix) == 0) {
			old[n][0] = col_dup(st, 0);
			old[n][1] = col_dup(st, 1);
			n++;
		}
	}
	sqlite3_reset(st);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (rc == 0 && old[i][0] && old[i][1])
			rc = desired_drop(s, old[i][0], old[i][1], "PTR", host_id, reg->now);
		if (rc == 0)
			*changed = true;
		free(old[i][0]);
		free(old[i][1]);
	}
	if (rc != 0 || rzone == NULL)
		return rc; /* no managed reverse zone for this address */
	const char *recs[1] = { fqdn };
	struct prism_rr_change rr = { rev, "PTR", reg->dns.ttl, recs, 1 };
	bool ch = false;
	rc = desired_set(s, &rr, rzone, host_id, reg->now, &ch);
	*changed |= ch;
	return rc;
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
	int rc = desired_set(s, &rr, reg->dns.zone, host_id, reg->now, changed);
	if (rc == 0 && reg->dns.auto_ptr)
		rc = ptr_want(s, reg, host_id, fqdn, changed);
	return rc;
}

int sq_host_records(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		    const char *fqdn, bool *changed)
{
	return ledger_want(s, reg, host_id, fqdn, changed);
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

/* The common case, every interval from every agent: only the times change. */
static int heartbeat(struct prism_store *s, const struct prism_host_reg *reg, int64_t id,
		     struct prism_host_reg_out *out)
{
	sqlite3_stmt *st = stmt(s, ST_HOST_BEAT);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, reg->now);
	sqlite3_bind_int64(st, 3, reg->expires_at);
	bind_text(st, 4, reg->owner);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	out->host_id = id;
	out->result = PRISM_REG_HEARTBEAT;
	return 0;
}

static enum prism_source source_parse(const char *name)
{
	for (int i = 0; i < PRISM_SOURCE_COUNT; i++)
		if (strcmp(name, prism_source_name((enum prism_source)i)) == 0)
			return (enum prism_source)i;
	return PRISM_SOURCE_API; /* the schema's CHECK allows nothing else */
}

/* Run a bound holder query: PRISM_ECONFLICT with @p holder when it finds one. */
static int holder_step(sqlite3_stmt *st, enum prism_source *holder)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*holder = source_parse((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return PRISM_ECONFLICT;
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/*
 * PRISM_ECONFLICT when the API or another host than @p host_id (0: a new host) holds an
 * RRset of @p type, or a CNAME, at @p fqdn in @p zone; @p holder then says which source.
 * Precedence between sources (docs/architecture.md): the first holder keeps the name.
 */
static int name_holder(struct prism_store *s, const char *zone, const char *fqdn,
		       const char *type, int64_t host_id, enum prism_source *holder)
{
	sqlite3_stmt *st = stmt(s, ST_NAME_HOLDER);
	bind_text(st, 1, zone);
	bind_text(st, 2, fqdn);
	bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, host_id);
	return holder_step(st, holder);
}

/* PRISM_ECONFLICT when a host of another source than the agents holds @p fqdn. */
static int name_source(struct prism_store *s, const char *fqdn, enum prism_source *holder)
{
	sqlite3_stmt *st = stmt(s, ST_HOST_NAME_SOURCE);
	bind_text(st, 1, fqdn);
	return holder_step(st, holder);
}

static int register_write(struct prism_store *s, const struct prism_host_reg *reg,
			  struct prism_host_reg_out *out, bool exists, int64_t id, bool ip_changed,
			  bool was_offline);

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
	bool ip_changed = false, was_offline = false, same_dns = false, fam_known = false;
	if (exists) {
		id = sqlite3_column_int64(st, 0);
		const unsigned char *zone = sqlite3_column_text(st, 6);
		same_dns = reg->dns.enabled
				   ? zone != NULL && strcmp((const char *)zone, reg->dns.zone) == 0 &&
					     sqlite3_column_int64(st, 7) == reg->dns.ttl &&
					     !reg->dns.auto_ptr
				   : zone == NULL;
		const unsigned char *fam = sqlite3_column_text(st, reg->ipv6 ? 2 : 1);
		fam_known = fam != NULL;
		const unsigned char *cur = sqlite3_column_text(st, 3);
		const unsigned char *status = sqlite3_column_text(st, 4);
		const unsigned char *owner = sqlite3_column_text(st, 5);
		const unsigned char *src = sqlite3_column_text(st, 8);
		if (src != NULL && strcmp((const char *)src, "agent") != 0) {
			/* one owner per name: a Kea host's name is not an agent's to take */
			out->source_conflict = true;
			out->holder = source_parse((const char *)src);
			sqlite3_reset(st);
			return 0;
		}
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

	if (exists && !ip_changed && !was_offline && same_dns && fam_known)
		return heartbeat(s, reg, id, out); /* one statement: atomic by itself */
	if (reg->dns.enabled && (!exists || !same_dns) &&
	    (rc = name_source(s, out->fqdn, &out->holder)) != 0) {
		if (rc != PRISM_ECONFLICT)
			return rc;
		out->source_conflict = true;
		return 0;
	}
	/* the record it would write: refused when the API or another host has it */
	if (reg->dns.enabled && (reg->ipv6 ? reg->dns.publish_aaaa : reg->dns.publish_a) &&
	    (rc = name_holder(s, reg->dns.zone, out->fqdn, reg->ipv6 ? "AAAA" : "A",
			      exists ? id : 0, &out->holder)) != 0) {
		if (rc != PRISM_ECONFLICT)
			return rc;
		out->source_conflict = true;
		return 0;
	}
	/* several statements: all or nothing (the writer puts no savepoint around this job) */
	if (sq_savepoint(s) != 0)
		return PRISM_ESTORE;
	rc = register_write(s, reg, out, exists, id, ip_changed, was_offline);
	if (sq_release(s, rc == 0) != 0 && rc == 0)
		rc = PRISM_ESTORE;
	return rc;
}

/* The writes of a registration that is not a plain heartbeat. */
static int register_write(struct prism_store *s, const struct prism_host_reg *reg,
			  struct prism_host_reg_out *out, bool exists, int64_t id, bool ip_changed,
			  bool was_offline)
{
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
		row->since = sqlite3_column_int64(st, 8);
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

/*
 * Successful pushes are recorded set-based: the marks go into a temporary in-memory table,
 * then two joined statements update the ledger and the hosts — instead of three statements
 * per RRset (~40 µs each), which bounded bulk sync throughput.
 */
/* row-value IN drives the update from the (small) marked table through the primary key;
 * a join lets the planner scan every ledger row of the target instead */
static const char mark_ok_sql[] =
	"UPDATE ledger SET applied_hash = desired_hash, status = 'synced', attempts = 0, "
	"last_error = NULL, updated_at = ?2 WHERE target = ?1 AND (zone, name, type, "
	"desired_hash) IN (SELECT zone, name, type, hash FROM marked)";
static const char mark_hosts_sql[] =
	"UPDATE hosts SET dns_sync_status = CASE "
	"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
	"AND l.status IN ('failed', 'conflict')) THEN 'failed' "
	"WHEN EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
	"AND l.status = 'pending') THEN 'pending' ELSE 'synced' END, dns_last_sync = ?2 "
	"FROM (SELECT DISTINCT l.host_id AS id FROM marked m CROSS JOIN ledger l ON l.target = ?1 "
	"AND l.zone = m.zone AND l.name = m.name AND l.type = m.type) AS x "
	"WHERE hosts.id = x.id";

static int run_marks_sql(struct prism_store *s, const char *sql, const char *target,
			 int64_t now_s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	bind_text(st, 1, target);
	sqlite3_bind_int64(st, 2, now_s);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
	sqlite3_finalize(st);
	return rc;
}

static int load_marks(struct prism_store *s, const struct prism_ledger_mark *marks, size_t n,
		      size_t *loaded)
{
	*loaded = 0;
	if (exec(s, "CREATE TEMP TABLE IF NOT EXISTS marked (zone TEXT, name TEXT, type TEXT, "
		    "hash INTEGER, PRIMARY KEY (zone, name, type)) WITHOUT ROWID;"
		    "DELETE FROM marked;") != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO marked VALUES (?1, ?2, ?3, ?4)", -1,
			       &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!marks[i].ok)
			continue;
		sqlite3_reset(st);
		bind_text(st, 1, marks[i].zone);
		bind_text(st, 2, marks[i].name);
		bind_text(st, 3, marks[i].type);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)marks[i].desired_hash);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
		(*loaded)++;
	}
	sqlite3_finalize(st);
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
	rc = run_marks_sql(s, mark_ok_sql, target, now_s);
	if (rc == 0)
		rc = run_marks_sql(s, mark_hosts_sql, target, now_s);
	/* an applied deletion leaves nothing to track */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!marks[i].ok || !marks[i].deletion)
			continue;
		sqlite3_stmt *st = stmt(s, ST_LEDGER_OK_DELETE);
		bind_text(st, 1, target);
		bind_text(st, 2, marks[i].zone);
		bind_text(st, 3, marks[i].name);
		bind_text(st, 4, marks[i].type);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)marks[i].desired_hash);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	return rc;
}

static int sq_ledger_mark(struct prism_store *s, const char *target,
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
	/* the deletions are due now, not at the cutoff: the engine's ownership check needs a
	 * read of the target that began after them (engine.c, read_covers) */
	int64_t now = (int64_t)time(NULL);
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		rc = host_dns_delete(s, ids[i], false, now, dns_changed);
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
	tz_forget(s);
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

/* ==== REST API writes (src/api) ====
 * Admin operations: rare, so their statements are prepared on use and kept out of the
 * registration path's statement table. */

static int prep(struct prism_store *s, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : PRISM_ESTORE;
}

/* One statement run to completion; @p changes receives the rows it changed. */
static int step_done(struct prism_store *s, sqlite3_stmt *st, size_t *changes)
{
	int rc = sqlite3_step(st);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (changes != NULL)
		*changes = (size_t)sqlite3_changes(s->db);
	if (rc == SQLITE_CONSTRAINT)
		return PRISM_ECONFLICT;
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int host_brief(struct prism_store *s, int64_t id, struct prism_host_brief *b)
{
	sqlite3_stmt *st;
	if (prep(s, "SELECT hostname, current_ip, status, owner_token_hash IS NOT NULL "
		    "FROM hosts WHERE id = ?1", &st) != 0)
		return PRISM_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && b != NULL) {
		memset(b, 0, sizeof(*b));
		b->id = id;
		snprintf(b->hostname, sizeof(b->hostname), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		snprintf(b->current_ip, sizeof(b->current_ip), "%s",
			 (const char *)sqlite3_column_text(st, 1));
		snprintf(b->status, sizeof(b->status), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		b->owned = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return PRISM_ENOTFOUND;
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}

static int sq_host_delete(struct prism_store *s, int64_t id, int64_t now,
			  struct prism_host_brief *before, bool *dns_changed)
{
	if (s == NULL || dns_changed == NULL)
		return PRISM_EINVAL;
	int rc = host_brief(s, id, before);
	if (rc == 0)
		rc = host_dns_delete(s, id, false, now, dns_changed);
	if (rc != 0)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_HOST_DELETE);
	sqlite3_bind_int64(st, 1, id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int sq_host_release(struct prism_store *s, int64_t id, struct prism_host_brief *before)
{
	sqlite3_stmt *st;
	int rc = s != NULL ? host_brief(s, id, before) : PRISM_EINVAL;
	if (rc != 0)
		return rc;
	if (prep(s, "UPDATE hosts SET owner_token_hash = NULL WHERE id = ?1", &st) != 0)
		return PRISM_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	return step_done(s, st, NULL);
}

/* Whether an active row called @p name exists in @p sql's table. */
static int name_active(struct prism_store *s, const char *sql, const char *name, bool *found)
{
	sqlite3_stmt *st;
	if (prep(s, sql, &st) != 0)
		return PRISM_ESTORE;
	bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int sq_token_create(struct prism_store *s, const char *name, const char *hash,
			   int64_t now, int64_t expires_at)
{
	bool found;
	if (s == NULL || name == NULL || hash == NULL)
		return PRISM_EINVAL;
	int rc = name_active(s, "SELECT 1 FROM tokens WHERE name = ?1 AND active = 1", name,
			     &found);
	if (rc != 0)
		return rc;
	if (found)
		return PRISM_ECONFLICT;
	return sq_token_add(s, name, hash, now, expires_at);
}

/* Deactivate rows by name with @p update; @p exists tells a name never used. */
/* Rare (a SIGHUP that rotated a token): prepared per call; a scan of the hosts. */
static int sq_token_rebind(struct prism_store *s, const char *old_hash, const char *new_hash,
			   size_t *n)
{
	sqlite3_stmt *st;
	if (s == NULL || old_hash == NULL || new_hash == NULL || n == NULL)
		return PRISM_EINVAL;
	if (prep(s, "UPDATE hosts SET owner_token_hash = ?2 WHERE owner_token_hash = ?1",
		 &st) != 0)
		return PRISM_ESTORE;
	bind_text(st, 1, old_hash);
	bind_text(st, 2, new_hash);
	return step_done(s, st, n);
}

static int revoke_named(struct prism_store *s, const char *update, const char *exists,
			const char *name, size_t *changed)
{
	sqlite3_stmt *st;
	bool found;
	size_t n = 0;
	if (s == NULL || name == NULL)
		return PRISM_EINVAL;
	if (prep(s, update, &st) != 0)
		return PRISM_ESTORE;
	bind_text(st, 1, name);
	int rc = step_done(s, st, &n);
	if (rc == 0 && n == 0 && (rc = name_active(s, exists, name, &found)) == 0 && !found)
		rc = PRISM_ENOTFOUND;
	if (changed != NULL)
		*changed = n;
	return rc;
}

static int sq_token_revoke(struct prism_store *s, const char *name, size_t *changed)
{
	return revoke_named(s, "UPDATE tokens SET active = 0 WHERE name = ?1 AND active = 1",
			    "SELECT 1 FROM tokens WHERE name = ?1", name, changed);
}

static int sq_apikey_add(struct prism_store *s, const char *name, const char *hash,
			 const char *role, int64_t now)
{
	sqlite3_stmt *st;
	bool found;
	if (s == NULL || name == NULL || hash == NULL || role == NULL)
		return PRISM_EINVAL;
	int rc = name_active(s, "SELECT 1 FROM api_keys WHERE name = ?1 AND revoked = 0", name,
			     &found);
	if (rc != 0)
		return rc;
	if (found)
		return PRISM_ECONFLICT;
	if (prep(s, "INSERT INTO api_keys (hash, name, role, created_at) VALUES (?1, ?2, ?3, ?4)",
		 &st) != 0)
		return PRISM_ESTORE;
	bind_text(st, 1, hash);
	bind_text(st, 2, name);
	bind_text(st, 3, role);
	sqlite3_bind_int64(st, 4, now);
	return step_done(s, st, NULL);
}

static int sq_apikey_revoke(struct prism_store *s, const char *name, size_t *changed)
{
	return revoke_named(s, "UPDATE api_keys SET revoked = 1 WHERE name = ?1 AND revoked = 0",
			    "SELECT 1 FROM api_keys WHERE name = ?1", name, changed);
}

static int sq_ledger_retry(struct prism_store *s, const char *target, int64_t now, size_t *n)
{
	sqlite3_stmt *st;
	if (s == NULL || n == NULL)
		return PRISM_EINVAL;
	/* through the (target, status, next_attempt) index: only failed rows are visited */
	const char *sql = target != NULL
		? "UPDATE ledger SET status = 'pending', next_attempt = 0, updated_at = ?2 "
		  "WHERE target = ?1 AND status = 'failed'"
		: "UPDATE ledger SET status = 'pending', next_attempt = 0, updated_at = ?2 "
		  "WHERE status = 'failed' AND target IN (SELECT target FROM target_zones)";
	if (prep(s, sql, &st) != 0)
		return PRISM_ESTORE;
	bind_text(st, 1, target);
	sqlite3_bind_int64(st, 2, now);
	int rc = step_done(s, st, n);
	if (rc != 0 || *n == 0)
		return rc;
	/* hosts whose only failure was retried are pending again */
	if (prep(s, "UPDATE hosts SET dns_sync_status = 'pending' WHERE dns_sync_status = "
		    "'failed' AND NOT EXISTS (SELECT 1 FROM ledger l WHERE l.host_id = hosts.id "
		    "AND l.status IN ('failed', 'conflict'))", &st) != 0)
		return PRISM_ESTORE;
	return step_done(s, st, NULL);
}

static int sq_audit_add(struct prism_store *s, const struct prism_audit_entry *e)
{
	sqlite3_stmt *st;
	if (s == NULL || e == NULL || e->actor == NULL || e->action == NULL || e->object == NULL)
		return PRISM_EINVAL;
	if (prep(s, "INSERT INTO audit (at, actor, action, object, before, after) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &st) != 0)
		return PRISM_ESTORE;
	sqlite3_bind_int64(st, 1, e->at);
	bind_text(st, 2, e->actor);
	bind_text(st, 3, e->action);
	bind_text(st, 4, e->object);
	bind_text(st, 5, e->before);
	bind_text(st, 6, e->after);
	return step_done(s, st, NULL);
}

/* ==== end of REST API writes ==== */

/* ---- reconciler ---- */

void prism_reconcile_result_free(struct prism_reconcile_result *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nitems; i++) {
		free(r->items[i].name);
		free(r->items[i].type);
	}
	free(r->items);
	r->items = NULL;
	r->nitems = 0;
}

static int plan_add(struct prism_reconcile_result *r, enum prism_plan_action a,
		    const char *name, const char *type)
{
	if ((r->nitems & (r->nitems + 1)) == 0 || r->items == NULL) {
		/* grow at powers of two */
		size_t cap = r->nitems ? (r->nitems + 1) * 2 : 16;
		struct prism_plan_item *v = realloc(r->items, cap * sizeof(*v));
		if (v == NULL)
			return PRISM_ENOMEM;
		r->items = v;
	}
	struct prism_plan_item *it = &r->items[r->nitems];
	it->action = a;
	it->name = strdup(name);
	it->type = strdup(type);
	if (it->name == NULL || it->type == NULL) {
		free(it->name);
		free(it->type);
		return PRISM_ENOMEM;
	}
	r->nitems++;
	return 0;
}

static int load_actual(struct prism_store *s, const struct prism_actual_zone *a)
{
	if (exec(s, "CREATE TEMP TABLE IF NOT EXISTS actual (name TEXT, type TEXT, "
		    "hash INTEGER, owned INTEGER, PRIMARY KEY (name, type)) WITHOUT ROWID;"
		    "DELETE FROM actual;") != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO actual VALUES (?1, ?2, ?3, ?4)", -1,
			       &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < a->n; i++) {
		sqlite3_reset(st);
		bind_text(st, 1, a->v[i].name);
		bind_text(st, 2, a->v[i].type);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)a->v[i].hash);
		sqlite3_bind_int(st, 4, a->v[i].owned);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Set one ledger row of (target, zone, name, type) to a state; creates it when missing. */
static int ledger_set(struct prism_store *s, const char *target, const char *zone,
		      const char *name, const char *type, int64_t hash, const char *status,
		      const char *error, int64_t host_id, int64_t now)
{
	sqlite3_stmt *st = stmt(s, ST_LEDGER_SET);
	bind_text(st, 1, target);
	bind_text(st, 2, zone);
	bind_text(st, 3, name);
	bind_text(st, 4, type);
	sqlite3_bind_int64(st, 5, hash);
	bind_text(st, 6, status);
	bind_text(st, 7, error);
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

/* Desired RRsets of the zone against the target's. */
static int reconcile_desired(struct prism_store *s, const char *target, const char *zone,
			     bool adopt, bool dry, int64_t now, struct prism_reconcile_result *out)
{
	static const char sql[] =
		"SELECT d.name, d.type, d.hash, a.hash, a.owned, l.status, l.desired_hash, "
		"d.host_id, EXISTS (SELECT 1 FROM actual c WHERE c.name = d.name AND "
		"c.type = 'CNAME' AND c.owned = 0 AND d.type != 'CNAME') "
		"FROM desired d LEFT JOIN actual a ON a.name = d.name AND a.type = d.type "
		"LEFT JOIN ledger l ON l.target = ?1 AND l.zone = d.zone AND l.name = d.name "
		"AND l.type = d.type WHERE d.zone = ?2";
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	bind_text(st, 1, target);
	bind_text(st, 2, zone);
	int rc = 0, step;
	/* rows are changed while the select runs; they are ledger rows, not desired ones */
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		int64_t want = sqlite3_column_int64(st, 2);
		bool present = sqlite3_column_type(st, 3) != SQLITE_NULL;
		int64_t have = sqlite3_column_int64(st, 3);
		bool foreign = (present && !sqlite3_column_int(st, 4)) || sqlite3_column_int(st, 8);
		const unsigned char *lstatus = sqlite3_column_text(st, 5);
		int64_t lhash = sqlite3_column_int64(st, 6);
		int64_t host_id = sqlite3_column_int64(st, 7);
		if (foreign && !adopt) {
			out->conflict++;
			if (dry)
				rc = plan_add(out, PRISM_PLAN_CONFLICT, name, type);
			else if (lstatus == NULL || strcmp((const char *)lstatus, "conflict") != 0)
				rc = ledger_set(s, target, zone, name, type, want, "conflict",
						"a foreign RRset (not owned by prism) is at this "
						"name; set adopt to take it over",
						host_id, now);
		} else if (present && !foreign && have == want) {
			out->in_sync++;
			if (!dry && (lstatus == NULL || lhash != want ||
				     strcmp((const char *)lstatus, "synced") != 0))
				rc = ledger_set(s, target, zone, name, type, want, "synced", NULL,
						host_id, now);
		} else {
			enum prism_plan_action a = present ? PRISM_PLAN_UPDATE : PRISM_PLAN_CREATE;
			if (present)
				out->update++;
			else
				out->create++;
			if (dry)
				rc = plan_add(out, a, name, type);
			else if (lstatus == NULL || lhash != want ||
				 strcmp((const char *)lstatus, "synced") == 0 ||
				 strcmp((const char *)lstatus, "conflict") == 0)
				rc = ledger_set(s, target, zone, name, type, want, "pending", NULL,
						host_id, now);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* Owned RRsets on the target that nothing wants any more. */
static int reconcile_orphans(struct prism_store *s, const char *target, const char *zone,
			     bool dry, int64_t now, struct prism_reconcile_result *out)
{
	static const char sql[] =
		"SELECT a.name, a.type, l.status, l.desired_hash FROM actual a "
		"LEFT JOIN ledger l ON l.target = ?2 AND l.zone = ?1 AND l.name = a.name "
		"AND l.type = a.type WHERE a.owned = 1 AND NOT EXISTS "
		"(SELECT 1 FROM desired d WHERE d.zone = ?1 AND d.name = a.name "
		"AND d.type = a.type)";
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	bind_text(st, 1, zone);
	bind_text(st, 2, target);
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *type = (const char *)sqlite3_column_text(st, 1);
		const char *lstatus = (const char *)sqlite3_column_text(st, 2);
		struct prism_rr_change del = { name, type, 0, NULL, 0 };
		int64_t hash = (int64_t)prism_rrset_hash(&del);
		out->remove++;
		if (dry)
			rc = plan_add(out, PRISM_PLAN_DELETE, name, type);
		else if (lstatus == NULL || strcmp(lstatus, "synced") == 0 ||
			 sqlite3_column_int64(st, 3) != hash)
			/* a deletion already queued keeps its time: the engine's ownership
			 * check needs a read that began after it (engine.c, read_covers) */
			rc = ledger_set(s, target, zone, name, type, hash, "pending", NULL, 0,
					now);
	}
	sqlite3_finalize(st);
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
	static const char sql[] =
		"DELETE FROM ledger WHERE target = ?1 AND zone = ?2 AND status = 'conflict' "
		"AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.zone = ledger.zone "
		"AND d.name = ledger.name AND d.type = ledger.type) "
		"AND NOT EXISTS (SELECT 1 FROM actual a WHERE a.name = ledger.name "
		"AND a.type = ledger.type)";
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	bind_text(st, 1, target);
	bind_text(st, 2, zone);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
	if (rc == 0)
		out->in_sync += (size_t)sqlite3_changes(s->db);
	sqlite3_finalize(st);
	return rc;
}

static int sq_reconcile(struct prism_store *s, const char *target, const char *zone,
			const struct prism_actual_zone *actual, bool adopt, bool dry_run,
			int64_t now, struct prism_reconcile_result *out)
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

static int sq_last_error(struct prism_store *s)
{
	return sqlite3_errcode(s->db) == SQLITE_FULL ? PRISM_ESTOREFULL : PRISM_ESTORE;
}

/* ==== hosts of other sources (Kea) ==== */

#define DHCID_MAX 160 /* hex text; RFC 4701 DHCIDs are 70 */
#define SYNC_MARK 32  /* hosts a sync writes between job marks (sq_job_mark) */

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

static const char *const fam_type[2] = { "A", "AAAA" };

static void col_copy(char *dst, size_t len, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static int src_by_key(struct prism_store *s, enum prism_source src, const char *key,
		      struct src_row *r)
{
	memset(r, 0, sizeof(*r));
	sqlite3_stmt *st = stmt(s, ST_SRC_BY_KEY);
	bind_text(st, 1, prism_source_name(src));
	bind_text(st, 2, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->found = true;
		r->id = sqlite3_column_int64(st, 0);
		col_copy(r->name, sizeof(r->name), st, 1);
		col_copy(r->ip[0], sizeof(r->ip[0]), st, 2);
		col_copy(r->ip[1], sizeof(r->ip[1]), st, 3);
		col_copy(r->dhcid[0], sizeof(r->dhcid[0]), st, 4);
		col_copy(r->dhcid[1], sizeof(r->dhcid[1]), st, 5);
		r->ttl = (uint32_t)sqlite3_column_int64(st, 6);
		col_copy(r->zone, sizeof(r->zone), st, 7);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* Who holds @p fqdn: *id 0 when nobody; else its source and key (copied). */
static int src_by_name(struct prism_store *s, const char *fqdn, int64_t *id,
		       enum prism_source *src, char *key, size_t keylen)
{
	char host[PRISM_DNAME_MAX + 1];
	snprintf(host, sizeof(host), "%s", fqdn);
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		host[n - 1] = '\0';
	sqlite3_stmt *st = stmt(s, ST_SRC_BY_NAME);
	bind_text(st, 1, fqdn);
	bind_text(st, 2, host);
	int rc = sqlite3_step(st);
	*id = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, 0);
		*src = source_parse((const char *)sqlite3_column_text(st, 1));
		col_copy(key, keylen, st, 2);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* target_zones into s->tz (until targets_sync changes it). */
static int tz_load(struct prism_store *s)
{
	if (s->tz_loaded)
		return 0;
	sqlite3_stmt *st = stmt(s, ST_TZ_ALL);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_target_zone *v = realloc(s->tz, (s->ntz + 1) * sizeof(*v));
		if (v == NULL)
			break;
		s->tz = v;
		v[s->ntz].target = col_dup(st, 0);
		v[s->ntz].zone = col_dup(st, 1);
		s->ntz++;
		if (v[s->ntz - 1].target == NULL || v[s->ntz - 1].zone == NULL)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		tz_forget(s);
		return rc == SQLITE_ROW ? PRISM_ENOMEM : PRISM_ESTORE;
	}
	s->tz_loaded = true;
	return 0;
}

/* desired_set for source hosts: the ledger row of each target serving the zone is written
 * by a single-row statement (see ST_SRC_LEDGER_UPSERT). */
static int src_desired_set(struct prism_store *s, const struct prism_rr_change *rr,
			   const char *zone, int64_t host_id, int64_t now, bool *changed)
{
	int64_t hash;
	bool differs;
	if (desired_row(s, rr, zone, host_id, &hash, &differs) != 0)
		return PRISM_ESTORE;
	if (!differs)
		return 0;
	if (tz_load(s) != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *st;
	for (size_t i = 0; i < s->ntz; i++) {
		if (strcmp(s->tz[i].zone, zone) != 0)
			continue;
		st = stmt(s, ST_SRC_LEDGER_UPSERT);
		bind_text(st, 1, s->tz[i].target);
		bind_text(st, 2, zone);
		bind_text(st, 3, rr->name);
		bind_text(st, 4, rr->type);
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
static int drop_owned(struct prism_store *s, const char *zone, const char *name,
		      const char *type, int64_t id, int64_t now, bool *changed)
{
	sqlite3_stmt *st = stmt(s, ST_DESIRED_DROP_OWNED);
	bind_text(st, 1, zone);
	bind_text(st, 2, name);
	bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	struct prism_rr_change del = { name, type, 0, NULL, 0 };
	st = stmt(s, ST_LEDGER_WANT_DELETE);
	bind_text(st, 1, zone);
	bind_text(st, 2, name);
	bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)prism_rrset_hash(&del));
	sqlite3_bind_null(st, 5);
	sqlite3_bind_int64(st, 6, now);
	*changed = true;
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* The reverse name of @p ip and the managed zone holding it, or NULL (no PTR then). */
static const char *reverse_zone(const char *ip, const char *const *zones, char *rev,
				size_t len)
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
			const char *recs[1] = { ip };
			struct prism_rr_change rr = { e->fqdn, fam_type[f], e->ttl, recs, 1 };
			rc = src_desired_set(s, &rr, e->zone, id, ctx->now, &ch);
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
		const char *recs[1] = { e->fqdn };
		struct prism_rr_change rr = { rev, "PTR", e->ttl, recs, 1 };
		bool set = false;
		rc = src_desired_set(s, &rr, rzone, id, ctx->now, &set);
		ch |= set;
	}
out:
	*changed |= ch;
	return rc;
}

/* Delete a source host and every record it owns. */
static int src_drop_host(struct prism_store *s, int64_t id, int64_t now, bool *changed)
{
	int rc = host_dns_delete(s, id, false, now, changed);
	if (rc != 0)
		return rc;
	sqlite3_stmt *st = stmt(s, ST_HOST_DELETE);
	sqlite3_bind_int64(st, 1, id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static const char *nz(const char *v)
{
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int src_insert(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, char ip[2][64],
		      char dhcid[2][DHCID_MAX], int64_t *id)
{
	char host[PRISM_DNAME_MAX + 1];
	snprintf(host, sizeof(host), "%s", e->fqdn);
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		host[n - 1] = '\0';
	sqlite3_stmt *st = stmt(s, ST_SRC_INSERT);
	bind_text(st, 1, host);
	bind_text(st, 2, ip[0][0] ? ip[0] : ip[1]);
	bind_text(st, 3, nz(ip[0]));
	bind_text(st, 4, nz(ip[1]));
	sqlite3_bind_int64(st, 5, ctx->now);
	bind_text(st, 6, e->zone);
	bind_text(st, 7, e->fqdn);
	sqlite3_bind_int64(st, 8, e->ttl);
	bind_text(st, 9, ctx->dns_enabled ? "pending" : "disabled");
	bind_text(st, 10, prism_source_name(e->source));
	bind_text(st, 11, e->key);
	bind_text(st, 12, nz(dhcid[0]));
	bind_text(st, 13, nz(dhcid[1]));
	int rc = sqlite3_step(st);
	if (rc == SQLITE_CONSTRAINT)
		return PRISM_ECONFLICT; /* the hostname text is an agent's */
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	*id = sqlite3_last_insert_rowid(s->db);
	return 0;
}

static int src_update(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, int64_t id, char ip[2][64],
		      char dhcid[2][DHCID_MAX], bool dns_changed)
{
	sqlite3_stmt *st = stmt(s, ST_SRC_UPDATE);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, ip[0][0] ? ip[0] : ip[1]);
	bind_text(st, 3, nz(ip[0]));
	bind_text(st, 4, nz(ip[1]));
	sqlite3_bind_int64(st, 5, ctx->now);
	bind_text(st, 6, e->zone);
	sqlite3_bind_int64(st, 7, e->ttl);
	bind_text(st, 8, dns_changed && ctx->dns_enabled ? "pending" : NULL);
	bind_text(st, 9, nz(dhcid[0]));
	bind_text(st, 10, nz(dhcid[1]));
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
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
	char key[256];
	int rc = src_by_name(s, e->fqdn, &id, &holder, key, sizeof(key));
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
	       (e->ipv4 == NULL || strlen(e->ipv4) < 64) && (e->ipv6 == NULL || strlen(e->ipv6) < 64);
}

static int sq_source_put(struct prism_store *s, const struct prism_source_entry *e0,
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
	bool sets = ((e.families & PRISM_FAM_V4) && e.ipv4) ||
		    ((e.families & PRISM_FAM_V6) && e.ipv6);
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
			row = (struct src_row){ 0 };
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
	const char *want[2] = { e.ipv4, e.ipv6 };
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
		if ((e.families & (1u << f)) &&
		    (rc = src_family(s, &e, ctx, id, f, row.ip[f], want[f],
				     &out->dns_changed)) != 0)
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

static int sq_source_remove(struct prism_store *s, enum prism_source source, const char *key,
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
	if (exec(s, "CREATE TEMP TABLE IF NOT EXISTS sync_in (key TEXT PRIMARY KEY, "
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
		if (!entry_valid(e)) {
			rc = PRISM_EINVAL;
			break;
		}
		sqlite3_reset(st);
		bind_text(st, 1, e->key);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_text(st, 3, e->fqdn);
		bind_text(st, 4, (e->families & PRISM_FAM_V4) ? e->ipv4 : NULL);
		bind_text(st, 5, (e->families & PRISM_FAM_V6) ? e->ipv6 : NULL);
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
	bind_text(st, 1, prism_source_name(source));
	int rc = collect_ids(st, v, n);
	sqlite3_finalize(st);
	return rc;
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

static int sq_source_sync(struct prism_store *s, enum prism_source source,
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
		rc = sync_select(s, "SELECT id FROM hosts WHERE source = ?1 AND source_key NOT IN "
				    "(SELECT key FROM sync_in)", source, &v, &k);
	for (size_t i = 0; rc == 0 && i < k; i++) {
		rc = src_drop_host(s, v[i], ctx->now, &out->dns_changed);
		out->removed++;
		if (rc == 0 && i % SYNC_MARK == SYNC_MARK - 1)
			rc = sq_job_mark(s);
	}
	free(v);
	v = NULL;
	/* entries that are new or differ from their host, in the caller's order */
	if (rc == 0)
		rc = sync_select(s, "SELECT i.idx FROM sync_in i LEFT JOIN hosts h ON "
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
			sync_tally(out, e, &r);
		if (rc == 0 && i % SYNC_MARK == SYNC_MARK - 1)
			rc = sq_job_mark(s);
	}
	free(v);
	exec(s, "DELETE FROM sync_in");
	return rc;
}

/* ---- the intake queue ---- */

enum { QF_FORWARD = 1, QF_REVERSE = 2, QF_CHECK = 4, QF_TAKEOVER = 8 };

static int sq_source_enqueue(struct prism_store *s, const struct prism_source_entry *e)
{
	if (s == NULL || !entry_valid(e))
		return PRISM_EINVAL;
	sqlite3_stmt *st = stmt(s, ST_QUEUE_ADD);
	bind_text(st, 1, prism_source_name(e->source));
	bind_text(st, 2, e->key);
	bind_text(st, 3, e->fqdn);
	bind_text(st, 4, e->zone);
	sqlite3_bind_int(st, 5, (int)e->families);
	bind_text(st, 6, e->ipv4);
	bind_text(st, 7, e->ipv6);
	sqlite3_bind_int64(st, 8, e->ttl);
	sqlite3_bind_int(st, 9, (e->forward ? QF_FORWARD : 0) | (e->reverse ? QF_REVERSE : 0) |
				(e->check_dhcid ? QF_CHECK : 0) | (e->takeover ? QF_TAKEOVER : 0));
	bind_text(st, 10, e->dhcid);
	bind_text(st, 11, e->only_ip);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* One queued row as an entry; the strings are the caller's copies (cols). */
struct queued {
	int64_t seq;
	char *col[8]; /* key fqdn zone ipv4 ipv6 dhcid only_ip (7 used) */
	struct prism_source_entry e;
};

static void queued_free(struct queued *q, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < 8; c++)
			free(q[i].col[c]);
	free(q);
}

static char *col_or_null(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : col_dup(st, i);
}

static int queue_take(struct prism_store *s, enum prism_source source, size_t max,
		      struct queued **out, size_t *n)
{
	struct queued *q = calloc(max, sizeof(*q));
	*out = q;
	*n = 0;
	if (q == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = stmt(s, ST_QUEUE_TAKE);
	bind_text(st, 1, prism_source_name(source));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queued *x = &q[(*n)++];
		static const int cols[] = { 1, 2, 3, 5, 6, 9, 10 };
		x->seq = sqlite3_column_int64(st, 0);
		for (int c = 0; c < 7; c++)
			x->col[c] = col_or_null(st, cols[c]);
		int flags = sqlite3_column_int(st, 8);
		x->e = (struct prism_source_entry){
			.source = source, .key = x->col[0], .fqdn = x->col[1], .zone = x->col[2],
			.families = (unsigned)sqlite3_column_int(st, 4), .ipv4 = x->col[3],
			.ipv6 = x->col[4], .ttl = (uint32_t)sqlite3_column_int64(st, 7),
			.forward = flags & QF_FORWARD, .reverse = flags & QF_REVERSE,
			.check_dhcid = flags & QF_CHECK, .takeover = flags & QF_TAKEOVER,
			.dhcid = x->col[5], .only_ip = x->col[6],
		};
		if (x->e.key == NULL || x->e.fqdn == NULL || x->e.zone == NULL) {
			sqlite3_reset(st);
			return PRISM_ENOMEM;
		}
	}
	sqlite3_reset(st);
	return 0;
}

static int sq_source_apply(struct prism_store *s, enum prism_source source, size_t max,
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
		rc = sq_source_put(s, &q[i].e, ctx, &r);
		if (rc == PRISM_EINVAL) {
			rc = 0; /* cannot be applied: dropped, not retried forever */
			continue;
		}
		if (rc == 0)
			sync_tally(out, &q[i].e, &r);
		if (rc == 0 && i % SYNC_MARK == SYNC_MARK - 1)
			rc = sq_job_mark(s);
	}
	if (rc == 0 && n > 0) {
		sqlite3_stmt *st = stmt(s, ST_QUEUE_DROP);
		bind_text(st, 1, prism_source_name(source));
		sqlite3_bind_int64(st, 2, q[n - 1].seq);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
	}
	if (rc == 0)
		*applied = n;
	queued_free(q, n);
	if (rc == 0 && left != NULL) {
		sqlite3_stmt *st = stmt(s, ST_QUEUE_COUNT);
		bind_text(st, 1, prism_source_name(source));
		rc = sqlite3_step(st) == SQLITE_ROW ? 0 : PRISM_ESTORE;
		*left = rc == 0 ? (size_t)sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
	}
	return rc;
}

static int sq_source_unsynced(struct prism_store *s, enum prism_source source,
			      size_t *pending, size_t *conflict)
{
	sqlite3_stmt *st;
	if (s == NULL || pending == NULL || conflict == NULL)
		return PRISM_EINVAL;
	if (prep(s, "SELECT count(*) FILTER (WHERE l.status IN ('pending', 'failed')), "
		    "count(*) FILTER (WHERE l.status = 'conflict') FROM ledger l "
		    "LEFT JOIN hosts h ON h.id = l.host_id WHERE l.status != 'synced' AND "
		    "(l.host_id IS NULL OR h.source = ?1)", &st) != 0)
		return PRISM_ESTORE;
	bind_text(st, 1, prism_source_name(source));
	int rc = sqlite3_step(st);
	*pending = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
	*conflict = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 1) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}

const struct prism_store_api prism_store_sqlite = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.cred_key = sq_cred_key,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.savepoint = sq_savepoint,
	.release = sq_release,
	.last_error = sq_last_error,
	.host_register = sq_host_register,
	.host_import = iq_host_import,
	.ledger_due = sq_ledger_due,
	.ledger_mark = sq_ledger_mark,
	.hosts_expire = sq_hosts_expire,
	.hosts_cleanup = sq_hosts_cleanup,
	.token_add = sq_token_add,
	.targets_sync = sq_targets_sync,
	.reconcile = sq_reconcile,
	/* REST API writes */
	.host_delete = sq_host_delete,
	.host_release = sq_host_release,
	.token_create = sq_token_create,
	.token_revoke = sq_token_revoke,
	.token_rebind = sq_token_rebind,
	.apikey_add = sq_apikey_add,
	.apikey_revoke = sq_apikey_revoke,
	.ledger_retry = sq_ledger_retry,
	.audit_add = sq_audit_add,
	/* zones and records (zones.c) */
	.zones_targets_sync = zq_zones_targets_sync,
	.zone_create = zq_zone_create,
	.zone_delete = zq_zone_delete,
	.zone_set_adopt = zq_zone_set_adopt,
	.zone_set_dnssec = zq_zone_set_dnssec,
	.rrsets_put = zq_rrsets_put,
	.zones_served = zq_zones_served,
	.zone_deletion_done = zq_zone_deletion_done,
	.repoint = zq_repoint,
	.target_resync = zq_target_resync,
	.zone_resync = zq_zone_resync,
	/* hosts of other sources */
	.source_put = sq_source_put,
	.source_remove = sq_source_remove,
	.source_sync = sq_source_sync,
	.job_mark = sq_job_mark,
	.source_unsynced = sq_source_unsynced,
	.source_enqueue = sq_source_enqueue,
	.source_apply = sq_source_apply,
	/* targets added at run time (targets.c) */
	.runtime_target_add = tq_runtime_target_add,
	.runtime_target_update = tq_runtime_target_update,
	.runtime_target_delete = tq_runtime_target_delete,
	.runtime_targets = tq_runtime_targets,
};
