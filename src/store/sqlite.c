/* SPDX-License-Identifier: MIT */
/*
 * SQLite registry backend. One connection, used only by the store writer thread.
 * The schema is versioned with PRAGMA user_version; each migration runs in its own
 * transaction. Statements are prepared once and reused. This file holds the schema, the
 * migrations, the connection, transactions, the statement table and the helpers the
 * backend's other files share (sqlite_int.h), and the function table.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/token.h"
#include "store/sqlite_int.h"
#include "store/store.h"

/*
 * A known agent host beating again from the same address with the same DNS settings, in one
 * statement: the hostname index is read once and the row written in place. Every condition
 * sq_host_register checks for a heartbeat is in the WHERE clause (no row: the full path
 * decides). ?5: the address, ?6: 1 for IPv6, ?7: the zone (NULL: DNS off), ?8: the TTL, ?9:
 * the seconds it stays online (live_for). prism_beat(id, t) notes the row's id and gives t:
 * cheaper than RETURNING, which SQLite runs through a temporary table (5.3 µs of the store
 * thread per heartbeat instead of 3.1 at 64 x 32 pipelined). BEAT_QUICK leaves expires_at,
 * and so its index entry, as it is while it is at least ?10 away (the host's true expiry is
 * last_seen + live_for: the liveness sweep catches expires_at up before it takes a host
 * offline); BEAT_NAME moves it.
 */
#define BEAT_WHERE                                                                                \
	" WHERE hostname = ?1 AND (owner_token_hash IS NULL OR owner_token_hash = ?4) "           \
	"AND coalesce(source, 'agent') = 'agent' AND status != 'offline' "                        \
	"AND CASE WHEN ?6 THEN ipv6 ELSE ipv4 END = ?5 AND dns_zone IS ?7 "                       \
	"AND (?7 IS NULL OR dns_ttl = ?8)"

/* The expiry of hosts that never expire (other sources'); hosts_expiry leaves them out. */
#define FAR_EXPIRY "9223372036854775807"

/* Offline, as hosts_stale says it (the CHECK allows nothing else below 'online'): a partial
 * index compared with status = ?1 would have statements prepared again at each bind */
#define OFFLINE "status < 'online'"

/* Online agent hosts whose stored expiry is past ?1, in hosts_expiry's terms: its predicate
 * repeated word for word, so that SQLite sees the partial index applies (migration 10) */
#define EXPIRY_DUE                                                                                \
	"status = 'online' AND expires_at < ?1 AND expires_at < " FAR_EXPIRY " AND "              \
	"source = 'agent'"

/*
 * Who else holds an RRset of this type, or a CNAME, at a name: the API (no host) or another
 * host (?4: the asking host, 0 for a new one). Two lookups of the primary key: type = ?3 OR
 * type = 'CNAME' is an IN list to SQLite, a temporary table each run.
 */
#define HOLDER_ARM(type)                                                                          \
	"SELECT coalesce(h.source, 'api') FROM desired d LEFT JOIN hosts h ON h.id = d.host_id "  \
	"WHERE d.zone = ?1 AND d.name = ?2 AND d.type = " type " AND d.host_id IS NOT ?4"

/* Set-based statements' working tables, on the writer's connection only (temp_store is
 * MEMORY): marks of successful pushes, and a zone as a target holds it for the reconciler. */
static const char temp_tables[] =
	"CREATE TEMP TABLE IF NOT EXISTS marked (zone TEXT, name TEXT, type TEXT, hash INTEGER, "
	"PRIMARY KEY (zone, name, type)) WITHOUT ROWID;"
	"CREATE TEMP TABLE IF NOT EXISTS actual (name TEXT, type TEXT, hash INTEGER, "
	"owned INTEGER, PRIMARY KEY (name, type)) WITHOUT ROWID;";

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
		"INSERT INTO ledger (target, zone, name, type, desired_hash, applied_hash, "
		"status, "
		"attempts, next_attempt, last_error, host_id, updated_at) VALUES (?1, ?2, ?3, ?4, "
		"?5, CASE WHEN ?6 = 'synced' THEN ?5 END, ?6, 0, 0, ?7, ?8, ?9) "
		"ON CONFLICT (target, zone, name, type) DO UPDATE SET desired_hash = ?5, "
		"applied_hash = CASE WHEN ?6 = 'synced' THEN ?5 ELSE applied_hash END, status = "
		"?6, "
		"next_attempt = CASE WHEN ?6 = 'pending' THEN 0 ELSE next_attempt END, "
		"last_error = ?7, updated_at = ?9",
	/* a known agent host's heartbeat (BEAT_WHERE) */
	[ST_HOST_BEAT_QUICK] = "UPDATE hosts SET last_seen = prism_beat(id, ?2), "
			       "owner_token_hash = coalesce(owner_token_hash, ?4)" BEAT_WHERE
			       " AND live_for = ?9 AND expires_at >= ?10",
	[ST_HOST_BEAT_NAME] =
		"UPDATE hosts SET last_seen = prism_beat(id, ?2), expires_at = ?3, "
		"live_for = ?9, owner_token_hash = coalesce(owner_token_hash, ?4)" BEAT_WHERE,
	[ST_HOST_INSERT] =
		"INSERT INTO hosts (hostname, current_ip, ipv4, ipv6, status, first_seen, "
		"last_seen, dns_zone, dns_record_id, dns_ttl, dns_sync_status, expires_at, "
		"owner_token_hash, live_for) "
		"VALUES (?1, ?2, ?3, ?4, 'online', ?5, prism_seen(?5), ?6, ?7, ?8, ?9, ?10, ?11, "
		"?10 - ?5)",
	[ST_HOST_UPDATE] =
		"UPDATE hosts SET current_ip = ?2, ipv4 = coalesce(?3, ipv4), "
		"ipv6 = coalesce(?4, ipv6), status = 'online', last_seen = prism_seen(?5), "
		"dns_zone = ?6, dns_record_id = ?7, dns_ttl = ?8, "
		"dns_sync_status = coalesce(?9, dns_sync_status), expires_at = ?10, "
		"live_for = ?10 - ?5, owner_token_hash = coalesce(owner_token_hash, ?11) "
		"WHERE id = ?1",
	[ST_LEDGER_GET] = "SELECT hash, host_id IS NULL FROM desired WHERE zone = ?1 AND "
			  "name = ?2 AND type = ?3",
	/* who else holds an RRset of this type, or a CNAME, at a name (HOLDER_ARM) */
	[ST_NAME_HOLDER] = HOLDER_ARM("?3") " UNION ALL " HOLDER_ARM("'CNAME'") " LIMIT 1",
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
		"AND zone = ?2 AND name = ?3 AND type = ?4 AND desired_hash = ?5 RETURNING "
		"host_id",
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
	/* strictly past: seconds are truncated, so a host is never marked offline early. A
	 * host's expiry is last_seen + live_for when it has one (expires_at may lag behind it:
	 * BEAT_QUICK); EXPIRY_CATCHUP first moves the lagging ones due by expires_at */
	[ST_HOST_EXPIRY_CATCHUP] =
		"UPDATE hosts SET expires_at = last_seen + live_for WHERE id IN (SELECT id FROM "
		"hosts WHERE " EXPIRY_DUE " AND live_for IS NOT NULL AND last_seen + live_for > "
		"expires_at ORDER BY expires_at LIMIT ?2)",
	[ST_HOST_EXPIRED] = "SELECT id FROM hosts WHERE " EXPIRY_DUE " AND (live_for IS NULL OR "
			    "last_seen + live_for < ?1) ORDER BY expires_at LIMIT ?2",
	[ST_HOST_OFFLINE] = "UPDATE hosts SET status = 'offline' WHERE id = ?1",
	[ST_HOST_STALE] = "SELECT id FROM hosts WHERE " OFFLINE " AND last_seen < ?1 "
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
		"last_seen, dns_zone, dns_record_id, dns_ttl, dns_sync_status, expires_at, "
		"source, "
		"source_key, dhcid4, dhcid6) VALUES (?1, ?2, ?3, ?4, 'online', ?5, "
		"prism_seen(?5), ?6, ?7, "
		"?8, "
		"?9, " FAR_EXPIRY ", ?10, ?11, ?12, ?13)",
	[ST_SRC_UPDATE] =
		"UPDATE hosts SET current_ip = ?2, ipv4 = ?3, ipv6 = ?4, last_seen = "
		"prism_seen(?5), "
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
	/* a host inserted, counted by its status and its DNS status (sq_host_counted) */
	[ST_COUNT_STATUS] = "UPDATE host_counts SET n = n + 1 WHERE status = ?1",
	[ST_COUNT_SYNC] = "UPDATE host_sync_counts SET n = n + 1 WHERE status = ?1",
	[ST_SEEN_STORE] = "INSERT INTO meta (name, value) VALUES ('last_seen', ?1) ON CONFLICT "
			  "(name) DO UPDATE SET value = max(value, excluded.value)",
	[ST_QUEUE_ADD] = "INSERT INTO source_queue (source, key, fqdn, zone, families, ipv4, "
			 "ipv6, ttl, flags, dhcid, only_ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
			 "?8, ?9, ?10, ?11)",
	[ST_QUEUE_TAKE] = "SELECT seq, key, fqdn, zone, families, ipv4, ipv6, ttl, flags, dhcid, "
			  "only_ip FROM source_queue WHERE source = ?1 ORDER BY seq LIMIT ?2",
	[ST_QUEUE_DROP] = "DELETE FROM source_queue WHERE source = ?1 AND seq <= ?2",
	[ST_QUEUE_COUNT] = "SELECT count(*) FROM source_queue WHERE source = ?1",
	/* successful pushes, recorded set-based (sqlite_ledger.c): row-value IN drives the
	 * update from the (small) marked table through the primary key; a join lets the
	 * planner scan every ledger row of the target instead */
	[ST_MARKED_CLEAR] = "DELETE FROM temp.marked",
	[ST_MARKED_ADD] = "INSERT OR REPLACE INTO temp.marked VALUES (?1, ?2, ?3, ?4)",
	[ST_MARK_OK] = "UPDATE ledger SET applied_hash = desired_hash, status = 'synced', "
		       "attempts = 0, last_error = NULL, updated_at = ?2 WHERE target = ?1 AND "
		       "(zone, name, type, desired_hash) IN (SELECT zone, name, type, hash "
		       "FROM temp.marked)",
	/* each marked host's status from its ledger rows in one aggregate over ledger_host,
	 * instead of two EXISTS probes per host (18 against 22 ms per 5,000 marks on a
	 * 100,000-row ledger) */
	[ST_MARK_HOSTS] =
		"UPDATE hosts SET dns_sync_status = x.st, dns_last_sync = ?2 "
		"FROM (SELECT l.host_id AS id, CASE WHEN max(l.status IN ('failed', 'conflict')) "
		"THEN 'failed' WHEN max(l.status = 'pending') THEN 'pending' ELSE 'synced' "
		"END AS st FROM ledger l WHERE l.host_id IN (SELECT m2.host_id FROM temp.marked m "
		"CROSS JOIN ledger m2 ON m2.target = ?1 AND m2.zone = m.zone AND m2.name = m.name "
		"AND m2.type = m.type) GROUP BY l.host_id) AS x WHERE hosts.id = x.id",
	/* the reconciler (sqlite_ledger.c): a zone as the target holds it, against the
	 * desired RRsets and the ledger */
	[ST_ACTUAL_CLEAR] = "DELETE FROM temp.actual",
	[ST_ACTUAL_ADD] = "INSERT OR REPLACE INTO temp.actual VALUES (?1, ?2, ?3, ?4)",
	[ST_REC_DESIRED] =
		"SELECT d.name, d.type, d.hash, a.hash, a.owned, l.status, l.desired_hash, "
		"d.host_id, EXISTS (SELECT 1 FROM temp.actual c WHERE c.name = d.name AND "
		"c.type = 'CNAME' AND c.owned = 0 AND d.type != 'CNAME') "
		"FROM desired d LEFT JOIN temp.actual a ON a.name = d.name AND a.type = d.type "
		"LEFT JOIN ledger l ON l.target = ?1 AND l.zone = d.zone AND l.name = d.name "
		"AND l.type = d.type WHERE d.zone = ?2",
	/* owned RRsets on the target that nothing wants any more */
	[ST_REC_ORPHANS] =
		"SELECT a.name, a.type, l.status, l.desired_hash FROM temp.actual a "
		"LEFT JOIN ledger l ON l.target = ?2 AND l.zone = ?1 AND l.name = a.name "
		"AND l.type = a.type WHERE a.owned = 1 AND NOT EXISTS "
		"(SELECT 1 FROM desired d WHERE d.zone = ?1 AND d.name = a.name "
		"AND d.type = a.type)",
	/* deletions left in conflict whose RRset is gone from the target */
	[ST_REC_GONE] =
		"DELETE FROM ledger WHERE target = ?1 AND zone = ?2 AND status = 'conflict' "
		"AND NOT EXISTS (SELECT 1 FROM desired d WHERE d.zone = ledger.zone "
		"AND d.name = ledger.name AND d.type = ledger.type) "
		"AND NOT EXISTS (SELECT 1 FROM temp.actual a WHERE a.name = ledger.name "
		"AND a.type = ledger.type)",
	[ST_TZ_CATCHUP] =
		"INSERT INTO ledger (target, zone, name, type, desired_hash, status, attempts, "
		"next_attempt, host_id, updated_at) SELECT ?1, zone, name, type, hash, 'pending', "
		"0, 0, host_id, ?3 FROM desired WHERE zone = ?2 ON CONFLICT DO NOTHING",
};
#undef BEAT_WHERE
#undef EXPIRY_DUE
#undef HOLDER_ARM

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
	/* 10 (write paths): fewer index entries per heartbeat and per new host. A heartbeat
	 * wrote two (status, time) entries; it now writes one: hosts by last_seen (the stale
	 * sweep) are only offline hosts, hosts by expiry only hosts that expire (agents; other
	 * sources' are written with the largest time), and a source key only hosts that have
	 * one (not agents). No partial index compares a column with a constant that queries
	 * compare with a bound value (status = ?1, source = ?1): SQLite would prepare such a
	 * statement again at every bind. So offline is "status < 'online'" (the CHECK allows
	 * nothing else below it) and the sweeps repeat the predicates word for word. The last
	 * registration time, which read the old last_seen index, is kept in meta by the
	 * writer (sq_commit). Each statement can run again (user_version set back) */
	"DROP INDEX IF EXISTS hosts_liveness;"
	"DROP INDEX IF EXISTS hosts_stale;"
	"CREATE INDEX hosts_stale ON hosts (last_seen) WHERE " OFFLINE ";"
	"DROP INDEX IF EXISTS hosts_expiry;"
	"CREATE INDEX hosts_expiry ON hosts (status, expires_at) WHERE expires_at < " FAR_EXPIRY
	";"
	"DROP INDEX IF EXISTS hosts_source_key;"
	"CREATE UNIQUE INDEX hosts_source_key ON hosts (source, source_key) WHERE "
	"source_key IS NOT NULL;" SQ_LAST_SEEN_FROM_HOSTS ";",
	/* 11: how long an agent host stays online after its last heartbeat (NULL: expires_at
	 * is exact). A heartbeat then leaves expires_at as it is while it is far enough away
	 * (BEAT_QUICK): one index entry less per heartbeat. Skipped when the column is there
	 * (user_version set back: live_for_there) */
	"ALTER TABLE hosts ADD COLUMN live_for INTEGER;",
	/* 12: the CHECK constraints of columns written with every host and ledger row as
	 * comparisons joined by OR: an IN list of more than two values builds a temporary
	 * table each time the row is checked (checks_inline, migration_steps; no SQL) */
	"",
	/* 13: a new host is counted by the statements that insert it (sq_host_counted), not
	 * by triggers: an insert with a trigger needs a statement journal, which every such
	 * statement walks from the start of its job's savepoint (2 us of a Kea host's 19) */
	("DROP TRIGGER IF EXISTS host_counts_insert;"
	 "DROP TRIGGER IF EXISTS host_sync_counts_insert;"),
};

#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The latest last_seen the writer wrote, kept for the meta row at commit (sq_commit). */
static void note_seen(struct prism_store *s, int64_t t)
{
	if (t > s->seen_max)
		s->seen_max = t;
}

/* prism_beat(id, t): note @c id for the heartbeat statement's caller; the value is @c t, a
 * last_seen (noted for the meta row). */
static void beat_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct prism_store *s = sqlite3_user_data(ctx);
	(void)argc;
	s->beat_id = sqlite3_value_int64(argv[0]);
	note_seen(s, sqlite3_value_int64(argv[1]));
	sqlite3_result_value(ctx, argv[1]);
}

/* prism_seen(t): @c t, a last_seen written (noted for the meta row). */
static void seen_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	note_seen(sqlite3_user_data(ctx), sqlite3_value_int64(argv[0]));
	sqlite3_result_value(ctx, argv[0]);
}

sqlite3 *prism_sqlite_db(struct prism_store *s)
{
	return s->db;
}

static void set_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "%s (%s)", what, db ? sqlite3_errmsg(db) : "out of memory");
}

int sq_exec(struct prism_store *s, const char *sql)
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
	if (sqlite3_prepare_v2(s->db, "INSERT INTO meta (name, value) VALUES ('cred_key', ?1)", -1,
			       &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_blob(st, 1, key.k, sizeof(key.k), SQLITE_STATIC);
	bool ok = sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	if (!ok || sqlite3_create_function(s->db, "prism_rekey", 1, SQLITE_UTF8, &key, rekey_fn,
					   NULL, NULL) != SQLITE_OK)
		goto out;
	if (sq_exec(s, "UPDATE tokens SET hash = prism_rekey(hash);"
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
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == (int)sizeof(out->k)) {
		memcpy(out->k, sqlite3_column_blob(st, 0), sizeof(out->k));
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Whether @p table has a column @p col (both constants of this file). */
static bool has_column(struct prism_store *s, const char *table, const char *col)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1,
			       &st, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
	bool found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

/* The CHECK constraints that SQLite checks with a temporary table (an IN list of more than
 * two values) and their equivalents as comparisons. */
static const char *const check_texts[][2] = {
	{"CHECK (dns_sync_status IN ('pending', 'synced', 'failed', 'disabled'))",
	 "CHECK (dns_sync_status = 'pending' OR dns_sync_status = 'synced' OR "
	 "dns_sync_status = 'failed' OR dns_sync_status = 'disabled')"},
	{"CHECK (source IN ('agent', 'kea-reservation', 'kea-lease', 'kea-ddns', 'api'))",
	 "CHECK (source = 'agent' OR source = 'kea-reservation' OR source = 'kea-lease' OR "
	 "source = 'kea-ddns' OR source = 'api')"},
	{"CHECK (status IN ('pending', 'synced', 'failed', 'conflict'))",
	 "CHECK (status = 'pending' OR status = 'synced' OR status = 'failed' OR "
	 "status = 'conflict')"},
};

/*
 * Migration 12: rewrite the CHECK constraints of hosts and ledger in place, as SQLite's
 * documentation describes for changes that leave the stored rows as they are (writable_schema,
 * then a new schema version so that every connection reads the schema again). The
 * constraints are equivalent; a registry whose text differs keeps its own. Skipped when the
 * connection is defensive (writable_schema refused): the checks are then only slower.
 */
static int checks_inline(struct prism_store *s)
{
	int defensive = 0;
	sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, -1, &defensive);
	if (defensive)
		return 0;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "PRAGMA schema_version", -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (version < 0 || sq_exec(s, "PRAGMA writable_schema = ON") != 0)
		return PRISM_ESTORE;
	int rc = sqlite3_prepare_v2(s->db,
				    "UPDATE sqlite_schema SET sql = replace(sql, ?1, ?2) WHERE "
				    "type = 'table' AND name IN ('hosts', 'ledger')",
				    -1, &st, NULL) == SQLITE_OK
			 ? 0
			 : PRISM_ESTORE;
	for (size_t i = 0; rc == 0 && i < sizeof(check_texts) / sizeof(check_texts[0]); i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, check_texts[i][0], -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, check_texts[i][1], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	sqlite3_finalize(st);
	char pragma[64];
	snprintf(pragma, sizeof(pragma), "PRAGMA schema_version = %d", version + 1);
	if (rc == 0)
		rc = sq_exec(s, pragma);
	if (sq_exec(s, "PRAGMA writable_schema = OFF") != 0 && rc == 0)
		rc = PRISM_ESTORE;
	return rc;
}

/* ALTER TABLE ADD COLUMN cannot run twice: migration 11 has nothing to do when the column is
 * there (a registry whose user_version was set back). */
static bool live_for_there(struct prism_store *s)
{
	return has_column(s, "hosts", "live_for");
}

/* What a migration does besides its SQL, in the same transaction: @c done, when it says so,
 * skips the SQL; @c then runs after it. */
static const struct migration_step {
	int version; /* the schema version the migration brings */
	bool (*done)(struct prism_store *s);
	int (*then)(struct prism_store *s);
} migration_steps[] = {
	{7, NULL, cred_key_create},
	{11, live_for_there, NULL},
	{12, NULL, checks_inline},
};

static const struct migration_step *migration_step(int version)
{
	for (size_t i = 0; i < sizeof(migration_steps) / sizeof(migration_steps[0]); i++)
		if (migration_steps[i].version == version)
			return &migration_steps[i];
	return NULL;
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
		const struct migration_step *step = migration_step(v + 1);
		if (sq_exec(s, "BEGIN IMMEDIATE") != 0 ||
		    (!(step != NULL && step->done != NULL && step->done(s)) &&
		     sq_exec(s, migrations[v]) != 0) ||
		    (step != NULL && step->then != NULL && step->then(s) != 0) ||
		    sq_exec(s, pragma) != 0 || sq_exec(s, "COMMIT") != 0) {
			set_err(err, errlen, "schema migration failed", s->db);
			sq_exec(s, "ROLLBACK");
			return PRISM_ESTORE;
		}
	}
	return 0;
}

void sq_tz_forget(struct prism_store *s)
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
	sq_ckpt_stop(s);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	sq_tz_forget(s);
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
	static const char *const suffix[] = {"", "-wal", "-shm"};
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
	if (sq_exec(s, pragmas) != 0) {
		set_err(err, errlen, "cannot set up database", s->db);
		goto fail;
	}
	if (sq_ckpt_start(s, opts->path, opts->synchronous_full) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (migrate(s, err, errlen) != 0)
		goto fail;
	if (sqlite3_create_function(s->db, "prism_beat", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, s,
				    beat_fn, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(s->db, "prism_seen", 1, SQLITE_UTF8 | SQLITE_DIRECTONLY, s,
				    seen_fn, NULL, NULL) != SQLITE_OK) {
		set_err(err, errlen, "cannot set up database", s->db);
		goto fail;
	}
	/* the connection's temporary tables, made here outside any transaction (a rollback
	 * would take them away from under the statements prepared on them) */
	if (sq_exec(s, temp_tables) != 0) {
		set_err(err, errlen, "cannot set up database", s->db);
		goto fail;
	}
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
	return sq_exec(s, "BEGIN IMMEDIATE");
}

/* The last registration time (the newest last_seen written) in meta, once per transaction:
 * an index on last_seen cost every heartbeat an entry */
static int seen_flush(struct prism_store *s)
{
	if (s->seen_max <= s->seen_stored)
		return 0;
	sqlite3_stmt *st = sq_stmt(s, ST_SEEN_STORE);
	sqlite3_bind_int64(st, 1, s->seen_max);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	return 0;
}

static int sq_commit(struct prism_store *s)
{
	if (seen_flush(s) != 0 || sq_exec(s, "COMMIT") != 0)
		return PRISM_ESTORE;
	s->seen_stored = s->seen_max;
	return 0;
}

static int sq_rollback(struct prism_store *s)
{
	s->seen_max = s->seen_stored;
	sq_tz_forget(s); /* it may hold pairs the transaction added */
	return sq_exec(s, "ROLLBACK");
}

static int step_once(struct prism_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->st[id];
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

int sq_savepoint(struct prism_store *s)
{
	int rc = step_once(s, ST_SAVEPOINT);
	if (rc == 0)
		s->savepoint_depth++;
	return rc;
}

int sq_release(struct prism_store *s, bool keep)
{
	if (!keep)
		sq_tz_forget(s); /* the job may have added target_zones pairs */
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
int sq_job_mark(struct prism_store *s)
{
	if (s == NULL || s->savepoint_depth == 0)
		return 0;
	if (step_once(s, ST_RELEASE) != 0 || step_once(s, ST_SAVEPOINT) != 0)
		return PRISM_ESTORE;
	return 0;
}

sqlite3_stmt *sq_stmt(struct prism_store *s, enum stmt_id id)
{
	sqlite3_stmt *st = s->st[id];
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return st;
}

void sq_bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

void sq_bind_copy(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

char *sq_col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return strdup(t ? (const char *)t : "");
}

int sq_prep(struct prism_store *s, const char *sql, sqlite3_stmt **st)
{
	*st = NULL;
	return sqlite3_prepare_v2(s->db, sql, -1, st, NULL) == SQLITE_OK ? 0 : PRISM_ESTORE;
}

/* One statement run to completion; @p changes receives the rows it changed. */
int sq_step_done(struct prism_store *s, sqlite3_stmt *st, size_t *changes)
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

static int sq_last_error(struct prism_store *s)
{
	return sqlite3_errcode(s->db) == SQLITE_FULL ? PRISM_ESTOREFULL : PRISM_ESTORE;
}

const struct prism_store_api prism_store_sqlite = {
	.name = "sqlite",
	.read = &prism_sqlite_read,
	.copy = &prism_sqlite_copy,
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
	.job_mark_every = SQ_MARK_EVERY,
	.source_unsynced = sq_source_unsynced,
	.source_enqueue = sq_source_enqueue,
	.source_apply = sq_source_apply,
	/* targets added at run time (targets.c) */
	.runtime_target_add = tq_runtime_target_add,
	.runtime_target_update = tq_runtime_target_update,
	.runtime_target_delete = tq_runtime_target_delete,
	.runtime_targets = tq_runtime_targets,
};
