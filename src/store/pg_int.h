/* SPDX-License-Identifier: MIT */
/*
 * Private to the PostgreSQL backend. Its files share one connection (the writer's):
 * pg.c (schema and migrations, the connection and its reconnection, transactions, the
 * helpers below, the function table), pg_hosts.c (hosts, tokens, keys, audit, import),
 * pg_ledger.c (ledger, reconciler, target pairs), pg_sources.c, pg_zones.c, pg_read.c.
 *
 * Statements are sent with their parameters as text and prepared once per connection,
 * keyed by the address of their SQL text: pass a string constant (static storage), never
 * a buffer. The same SQL as SQLite's where it ports: $n for ?n, IS DISTINCT FROM for IS
 * NOT, casts where PostgreSQL cannot infer a parameter's type.
 */
#pragma once

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rrset.h"
#include "store/store.h"

#define PG_MAXPARAMS 16	 /* parameters of one statement */
#define PG_MAXPREP   192 /* statements prepared per connection */
#define PG_MAXREGS   512 /* registrations queued before they are written (pg_hosts.c) */

/** Parameters of one statement, 1-based like SQLite's ?n. Unset ones are SQL NULL. */
struct pg_params {
	const char *v[PG_MAXPARAMS];
	char num[PG_MAXPARAMS][24];
	int n; /**< the highest index set */
};

struct prism_store {
	PGconn *conn;
	char *conninfo;
	/* statements prepared on this connection (reset when it is made again) */
	const char *prep[PG_MAXPREP];
	unsigned nprep;
	unsigned savepoint_depth;
	/* the last failure: its SQLSTATE ("" for a lost connection) and message */
	char sqlstate[6];
	char errmsg[256];
	bool poisoned; /* queued registrations failed: the transaction must not commit */
	/* registrations taken but not written yet (pg_regs_flush): the caller's until commit */
	struct pg_reg {
		const struct prism_host_reg *reg;
		struct prism_host_reg_out *out;
	} regs[PG_MAXREGS], regs_run[PG_MAXREGS];
	unsigned nregs;
	/* hosts this connection added since the planner's statistics were last made, and
	 * how many hosts there were then (pg_regs_flush: a registry filling up fast is
	 * analyzed as it grows, not a minute later by autovacuum) */
	int64_t new_hosts, analyzed_hosts;
	/* reconnection with backoff: not before next_try (ms, CLOCK_MONOTONIC) */
	int64_t next_try;
	int64_t backoff;
	/* target_zones, read once for source writes; NULL = not read (pg_sources.c) */
	struct prism_target_zone *tz;
	size_t ntz;
	bool tz_loaded;
};

/* ---- pg.c: helpers shared by the backend's files ---- */

/** Set parameter @p i (1-based) to @p v, borrowed until the statement ran; NULL: SQL NULL. */
void pg_bind_text(struct pg_params *p, int i, const char *v);
/** Set parameter @p i (1-based) to the integer @p v. */
void pg_bind_int(struct pg_params *p, int i, int64_t v);
/** Set parameter @p i (1-based) to a boolean. */
void pg_bind_bool(struct pg_params *p, int i, bool v);
/**
 * Run @p sql (a string constant: prepared once per connection, keyed by its address) with
 * @p p (NULL: none). @return the result of a statement that succeeded (free with PQclear),
 * or NULL (the failure is kept for pg_last_error and s->errmsg).
 */
PGresult *pg_exec(struct prism_store *s, const char *sql, const struct pg_params *p);
/** Write the queued registrations (pg_exec does it first; commit too). 0, or PRISM_ESTORE
 *  when they failed (the transaction then cannot commit). */
int pg_flush(struct prism_store *s);
/**
 * Run @p sql for its effect. @p changes (may be NULL) receives the rows it changed.
 * @return 0, PRISM_ECONFLICT (a unique or check constraint), PRISM_ESTORE
 */
int pg_cmd(struct prism_store *s, const char *sql, const struct pg_params *p, size_t *changes);
/** Run @p sql (one or more statements, no parameters, not prepared). 0 or PRISM_ESTORE. */
int pg_exec_simple(struct prism_store *s, const char *sql);
/** An integer column (0 when NULL). */
int64_t pg_int(const PGresult *r, int row, int col);
/** A text column, NULL when NULL; borrowed until PQclear. */
const char *pg_text(const PGresult *r, int row, int col);
/** Whether a column is NULL. */
bool pg_null(const PGresult *r, int row, int col);
/** A copy of a text column ("" for NULL); NULL when out of memory. */
char *pg_dup(const PGresult *r, int row, int col);
/** Rows changed by the statement of @p r. */
size_t pg_changes(const PGresult *r);
/**
 * An array parameter in PostgreSQL's text form ("{a,NULL,\"b c\"}"), for set-based
 * statements over many rows (unnest($1::text[], ...)). Zero-initialise; on out of memory
 * the array remembers it and pg_array_end answers NULL.
 */
struct pg_array {
	char *s;
	size_t len, cap;
	bool oom;
};
/** Append a text element (NULL: a NULL element). */
void pg_array_text(struct pg_array *a, const char *v);
/** Append an integer element. */
void pg_array_int(struct pg_array *a, int64_t v);
/** Close the array: its text, owned by @p a; NULL when out of memory. */
const char *pg_array_end(struct pg_array *a);
/** Free the text. */
void pg_array_free(struct pg_array *a);
/** Close @p n arrays and set them as parameters @p first, @p first + 1, … of @p p.
 *  0, or PRISM_ENOMEM when one ran out of memory. */
int pg_bind_arrays(struct pg_params *p, int first, struct pg_array *a, int n);
/** Free @p n arrays. */
void pg_arrays_free(struct pg_array *a, int n);

/** Forget the target_zones read for source writes (they changed). */
void pg_tz_forget(struct prism_store *s);
/* struct prism_store_api's savepoint, release and job_mark (store.h) */
int pg_savepoint(struct prism_store *s);
int pg_release(struct prism_store *s, bool keep);
int pg_job_mark(struct prism_store *s);
/* entries between job marks (struct prism_store_api's job_mark_every) */
#define PG_MARK_EVERY 32u

/** Connect with prism_store_pg_params (application "prismd") to @p url (a libpq URI or
 *  key=value string). Blocking. */
PGconn *pg_connect(const char *url);

/* pg_hosts.c: hosts, tokens, keys, audit, import (struct prism_store_api, see store.h) */
/** Write the queued registrations (before any other statement, and at commit). 0 or
 *  PRISM_ESTORE (the transaction is then poisoned). */
int pg_regs_flush(struct prism_store *s);
int pg_host_register(struct prism_store *s, const struct prism_host_reg *reg,
		     struct prism_host_reg_out *out);
int pg_hosts_expire(struct prism_store *s, int64_t now, size_t max, bool remove_dns, size_t *n,
		    bool *dns_changed);
int pg_hosts_cleanup(struct prism_store *s, int64_t before, size_t max, size_t *n,
		     bool *dns_changed);
int pg_token_add(struct prism_store *s, const char *name, const char *hash, int64_t now,
		 int64_t expires_at);
int pg_host_delete(struct prism_store *s, int64_t id, int64_t now, struct prism_host_brief *before,
		   bool *dns_changed);
int pg_host_release(struct prism_store *s, int64_t id, struct prism_host_brief *before);
int pg_token_create(struct prism_store *s, const char *name, const char *hash, int64_t now,
		    int64_t expires_at);
int pg_token_rebind(struct prism_store *s, const char *old_hash, const char *new_hash, size_t *n);
int pg_token_revoke(struct prism_store *s, const char *name, size_t *changed);
int pg_apikey_add(struct prism_store *s, const char *name, const char *hash, const char *role,
		  int64_t now);
int pg_apikey_revoke(struct prism_store *s, const char *name, size_t *changed);
int pg_audit_add(struct prism_store *s, const struct prism_audit_entry *e);
int pg_host_import(struct prism_store *s, const struct prism_host_import *h,
		   enum prism_import_outcome *out);
/** Store a desired RRset (one per host record) and mark it pending on every target of its
 *  zone; @p changed set when it differed. Unchanged, or the API's for a host: nothing. */
int pg_desired_set(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		   int64_t host_id, int64_t now, bool *changed);
/** A host's A/AAAA record (and PTR) desired and pending, as a registration writes them. */
int pg_host_records(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		    const char *fqdn, bool *changed);
/** Withdraw the records of the hosts @p ids (an array in text form, "{1,2}"), their
 *  deletions queued; @p link keeps the host ids on the ledger rows. */
int pg_hosts_dns_delete(struct prism_store *s, const char *ids, bool link, int64_t now,
			bool *changed);
/** A hosts.source value as an enum. */
enum prism_source pg_source_parse(const char *name);

/* pg_ledger.c: the ledger, the reconciler, the served pairs (struct prism_store_api) */
int pg_ledger_due(struct prism_store *s, const char *target, int64_t now_ms, size_t max,
		  struct prism_ledger_row **rows, size_t *n, int64_t *next_due);
int pg_ledger_mark(struct prism_store *s, const char *target,
		   const struct prism_ledger_mark *marks, size_t n, int64_t now_ms);
int pg_ledger_retry(struct prism_store *s, const char *target, int64_t now, size_t *n);
int pg_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
		    int64_t now, size_t *caught_up);
int pg_zones_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs, size_t n,
			  const struct prism_target_group *groups, size_t ngroups, int64_t now,
			  size_t *caught_up);
int pg_target_resync(struct prism_store *s, const char *target, int64_t now, size_t *n);
int pg_reconcile(struct prism_store *s, const char *target, const char *zone,
		 const struct prism_actual_zone *actual, bool adopt, bool dry_run, int64_t now,
		 struct prism_reconcile_result *out);
