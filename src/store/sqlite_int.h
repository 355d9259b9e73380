/* SPDX-License-Identifier: MIT */
/*
 * Private to the SQLite backend. Its files share one connection (the writer's) and the
 * statement table: sqlite.c (schema and migrations, the connection, transactions, shared
 * helpers, the function table), sqlite_hosts.c (hosts, tokens, keys, audit),
 * sqlite_ledger.c (ledger and reconciler), zones.c (zones and records), sqlite_sources.c
 * (hosts of other sources and the intake queue), import.c; sqlite_read.c has a read-only
 * connection of its own.
 */
#pragma once

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rrset.h"
#include "store/store.h"

enum stmt_id {
	ST_HOST_GET,
	ST_HOST_NAME_SOURCE,
	ST_HOST_INSERT,
	ST_HOST_UPDATE,
	ST_LEDGER_GET,
	ST_NAME_HOLDER,
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
	ST_HOST_BEAT_NAME,
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
	ST_SEEN_STORE,
	ST_COUNT_STATUS,
	ST_COUNT_SYNC,
	ST_HOST_BEAT_QUICK,
	ST_HOST_EXPIRY_CATCHUP,
	ST_QUEUE_ADD,
	ST_QUEUE_TAKE,
	ST_QUEUE_DROP,
	ST_QUEUE_COUNT,
	/* on the connection's temporary tables (temp_tables, sqlite.c): made once, at open */
	ST_MARKED_CLEAR,
	ST_MARKED_ADD,
	ST_MARK_OK,
	ST_MARK_HOSTS,
	ST_ACTUAL_CLEAR,
	ST_ACTUAL_ADD,
	ST_REC_DESIRED,
	ST_REC_ORPHANS,
	ST_REC_GONE,
	ST_COUNT,
};

/* Columns of the table's statements read by more than one or two columns (sqlite.c). */
/* ST_HOST_GET */
enum { HG_ID, HG_IPV4, HG_IPV6, HG_IP, HG_STATUS, HG_OWNER, HG_ZONE, HG_TTL, HG_SOURCE };
/* ST_LEDGER_DUE */
enum { LD_ZONE, LD_NAME, LD_TYPE, LD_TTL, LD_CONTENT, LD_HASH, LD_ATTEMPTS, LD_HOST, LD_SINCE };
/* ST_SRC_BY_KEY */
enum { SK_ID, SK_NAME, SK_IPV4, SK_IPV6, SK_DHCID4, SK_DHCID6, SK_TTL, SK_ZONE };
/* ST_SRC_BY_NAME */
enum { SN_ID, SN_SOURCE, SN_KEY };
/* ST_QUEUE_TAKE */
enum {
	QT_SEQ,
	QT_KEY,
	QT_FQDN,
	QT_ZONE,
	QT_FAMILIES,
	QT_IPV4,
	QT_IPV6,
	QT_TTL,
	QT_FLAGS,
	QT_DHCID,
	QT_ONLY_IP
};

struct prism_store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	unsigned savepoint_depth;
	/* target_zones, read once for source writes (see src_desired_set); NULL = not read */
	struct prism_target_zone *tz;
	size_t ntz;
	bool tz_loaded;
	int64_t beat_id; /* ST_HOST_BEAT_NAME's row, noted by its prism_beat() */
	/* the newest last_seen written (prism_seen, prism_beat), and the newest in meta */
	int64_t seen_max, seen_stored;
	struct sq_ckpt *ckpt; /* WAL checkpoints off the writer's path (sqlite_ckpt.c) */
};

/* The last registration time in meta taken from the hosts (kept by the writer otherwise,
 * sq_commit): a migrated or copied registry. */
#define SQ_LAST_SEEN_FROM_HOSTS                                                                   \
	"INSERT OR REPLACE INTO meta (name, value) SELECT 'last_seen', "                          \
	"coalesce(max(last_seen), 0) FROM hosts"

/* host_counts and host_sync_counts made again from the hosts (after a registry copy) */
#define SQ_RECOUNT_HOSTS                                                                          \
	"UPDATE host_counts SET n = (SELECT count(*) FROM hosts h WHERE h.status = "              \
	"host_counts.status);"                                                                    \
	"UPDATE host_sync_counts SET n = (SELECT count(*) FROM hosts h WHERE "                    \
	"h.dns_sync_status = host_sync_counts.status)"

/* ---- sqlite.c: helpers shared by the backend's files ---- */

/** Statement @p id of the table, reset and its bindings cleared. */
sqlite3_stmt *sq_stmt(struct prism_store *s, enum stmt_id id);
/** Bind @p v (NULL: SQL NULL) without a copy: it must outlive the statement's step. */
void sq_bind_text(sqlite3_stmt *st, int i, const char *v);
/** Bind a copy of @p v (NULL: SQL NULL). */
void sq_bind_copy(sqlite3_stmt *st, int i, const char *v);
/** A copy of a text column ("" for NULL); NULL when out of memory. */
char *sq_col_dup(sqlite3_stmt *st, int i);
/** Prepare @p sql (not kept in the table: rare statements). 0 or PRISM_ESTORE. */
int sq_prep(struct prism_store *s, const char *sql, sqlite3_stmt **st);
/** One statement run to completion and finalized; @p changes (may be NULL) receives the
 *  rows it changed. 0, PRISM_ECONFLICT (a constraint), PRISM_ESTORE */
int sq_step_done(struct prism_store *s, sqlite3_stmt *st, size_t *changes);
/** Run @p sql (no result rows). 0 or PRISM_ESTORE. */
int sq_exec(struct prism_store *s, const char *sql);
/** Forget the target_zones read for source writes (they changed). */
void sq_tz_forget(struct prism_store *s);
/* struct prism_store_api's savepoint, release and job_mark (store.h) */
int sq_savepoint(struct prism_store *s);
int sq_release(struct prism_store *s, bool keep);
int sq_job_mark(struct prism_store *s);
/* entries between job marks (struct prism_store_api's job_mark_every) */
#define SQ_MARK_EVERY 8u

/* sqlite_hosts.c: hosts, tokens, keys, audit (struct prism_store_api, see store.h) */
int sq_host_register(struct prism_store *s, const struct prism_host_reg *reg,
		     struct prism_host_reg_out *out);
int sq_hosts_expire(struct prism_store *s, int64_t now, size_t max, bool remove_dns, size_t *n,
		    bool *dns_changed);
int sq_hosts_cleanup(struct prism_store *s, int64_t before, size_t max, size_t *n,
		     bool *dns_changed);
int sq_token_add(struct prism_store *s, const char *name, const char *hash, int64_t now,
		 int64_t expires_at);
int sq_host_delete(struct prism_store *s, int64_t id, int64_t now, struct prism_host_brief *before,
		   bool *dns_changed);
int sq_host_release(struct prism_store *s, int64_t id, struct prism_host_brief *before);
int sq_token_create(struct prism_store *s, const char *name, const char *hash, int64_t now,
		    int64_t expires_at);
int sq_token_rebind(struct prism_store *s, const char *old_hash, const char *new_hash, size_t *n);
int sq_token_revoke(struct prism_store *s, const char *name, size_t *changed);
int sq_apikey_add(struct prism_store *s, const char *name, const char *hash, const char *role,
		  int64_t now);
int sq_apikey_revoke(struct prism_store *s, const char *name, size_t *changed);
int sq_audit_add(struct prism_store *s, const struct prism_audit_entry *e);
/* Store a desired RRset once; @p hash receives its hash, @p differs whether it changed. */
int sq_desired_row(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		   int64_t host_id, int64_t *hash, bool *differs);
/* sq_desired_row, and when it changed, the RRset pending on every target of @p zone
 * (@p changed set). */
int sq_desired_set(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		   int64_t host_id, int64_t now, bool *changed);
/* Count a host just inserted (host_counts, host_sync_counts): every statement that inserts
 * one calls this, in the same savepoint (there are no insert triggers, migration 13). */
int sq_host_counted(struct prism_store *s, const char *status, const char *sync);
/* Withdraw host @p host_id's records (deletions queued); @p link keeps them tied to it. */
int sq_host_dns_delete(struct prism_store *s, int64_t host_id, bool link, int64_t now,
		       bool *changed);
/* The source of another host holding @p fqdn's @p type in @p zone, if any. */
int sq_name_holder(struct prism_store *s, const char *zone, const char *fqdn, const char *type,
		   int64_t host_id, enum prism_source *holder);
/* A hosts.source value as an enum. */
enum prism_source sq_source_parse(const char *name);

/* sqlite_ledger.c: the ledger and the reconciler (struct prism_store_api) */
int sq_ledger_due(struct prism_store *s, const char *target, int64_t now_ms, size_t max,
		  struct prism_ledger_row **rows, size_t *n, int64_t *next_due);
int sq_ledger_mark(struct prism_store *s, const char *target,
		   const struct prism_ledger_mark *marks, size_t n, int64_t now_ms);
int sq_ledger_retry(struct prism_store *s, const char *target, int64_t now, size_t *n);
int sq_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
		    int64_t now, size_t *caught_up);
int sq_reconcile(struct prism_store *s, const char *target, const char *zone,
		 const struct prism_actual_zone *actual, bool adopt, bool dry_run, int64_t now,
		 struct prism_reconcile_result *out);

/* sqlite_sources.c: hosts of other sources, the intake queue (struct prism_store_api) */
int sq_source_put(struct prism_store *s, const struct prism_source_entry *e0,
		  const struct prism_source_ctx *ctx, struct prism_source_result *out);
int sq_source_remove(struct prism_store *s, enum prism_source source, const char *key,
		     const struct prism_source_ctx *ctx, struct prism_source_result *out);
int sq_source_sync(struct prism_store *s, enum prism_source source,
		   const struct prism_source_entry *entries, size_t n,
		   const struct prism_source_ctx *ctx, struct prism_source_sync_result *out);
int sq_source_enqueue(struct prism_store *s, const struct prism_source_entry *e);
int sq_source_apply(struct prism_store *s, enum prism_source source, size_t max,
		    const struct prism_source_ctx *ctx, struct prism_source_sync_result *out,
		    size_t *applied, size_t *left);
int sq_source_unsynced(struct prism_store *s, enum prism_source source, size_t *pending,
		       size_t *conflict);

/** sqlite_read.c: the reads (struct prism_store_read_api). */
extern const struct prism_store_read_api prism_sqlite_read;
/* sqlite_copy.c: moving a registry (store.h) */
extern const struct prism_store_copy_api prism_sqlite_copy;

/** The backend's connection (writer thread only). */
sqlite3 *prism_sqlite_db(struct prism_store *s);

/* ---- sqlite_ckpt.c: WAL checkpoints off the writer's path ---- */

/** Checkpoints run so far: by the checkpoint thread, by the writer itself (the thread could
 *  not keep up or start), and failed ones (other than busy: another one ran); and the times
 *  the WAL started over from its beginning (all of it copied). */
struct prism_sqlite_ckpt_stats {
	uint64_t background, by_writer, failed, restarts;
};

/** Hand @p s's checkpoints to a thread of their own (started when first needed). 0 or -1. */
int sq_ckpt_start(struct prism_store *s, const char *path, bool full);
/** Stop the thread and close its connection (before the writer's connection closes). */
void sq_ckpt_stop(struct prism_store *s);
/** The counts so far (zeros when checkpoints were never handed over). */
void prism_sqlite_ckpt_stats(struct prism_store *s, struct prism_sqlite_ckpt_stats *out);
/** Tests: the WAL size (pages) past which the writer checkpoints itself (default 8,000).
 *  Called on the writer's thread. */
void prism_sqlite_ckpt_inline_pages(struct prism_store *s, int pages);

/* zones.c: the zone operations of struct prism_store_api, documented in store.h */
int zq_zones_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
			  const struct prism_target_group *groups, size_t ngroups, int64_t now,
			  size_t *caught_up);
int zq_zone_create(struct prism_store *s, const struct prism_zone_spec *z,
		   const char *const *targets, int64_t now);
int zq_zone_delete(struct prism_store *s, const char *zone, int64_t now, size_t *ntargets);
int zq_zone_set_adopt(struct prism_store *s, const char *zone);
int zq_zone_set_dnssec(struct prism_store *s, const char *zone, bool on, bool *changed);
int zq_rrsets_put(struct prism_store *s, const char *zone, bool config_zone,
		  const struct prism_rrset_put *v, size_t n, int64_t now, const char *actor,
		  size_t *changed, struct prism_rrset_err *err);
int zq_zones_served(struct prism_store *s, const char *target, struct prism_served *out);
int zq_zone_deletion_done(struct prism_store *s, const char *target, const char *zone);
int zq_repoint(struct prism_store *s, const char *from, const char *to, const char *const *zones,
	       const char *pattern, bool dry_run, int64_t now, struct prism_repoint_result *out);
int zq_target_resync(struct prism_store *s, const char *target, int64_t now, size_t *n);
int zq_zone_resync(struct prism_store *s, const char *zone, int64_t now, size_t *n);

/* sqlite_hosts.c: a host's A/AAAA record (and PTR) desired and pending, as a registration
 * writes them; @p changed: ledger rows were marked */
int sq_host_records(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		    const char *fqdn, bool *changed);

/* import.c: the operation of struct prism_store_api, documented in store.h */
int iq_host_import(struct prism_store *s, const struct prism_host_import *h,
		   enum prism_import_outcome *out);

/* targets.c: the run-time target operations of struct prism_store_api (store.h) */
int tq_runtime_target_add(struct prism_store *s, const struct prism_runtime_target *t);
int tq_runtime_target_update(struct prism_store *s, const struct prism_runtime_target *t);
int tq_runtime_target_delete(struct prism_store *s, const char *name);
int tq_runtime_targets(struct prism_store *s, struct prism_runtime_target **out, size_t *n);
