/* SPDX-License-Identifier: MIT */
/*
 * Migration from the original Prism server: its registry is read (a foreign SQLite file,
 * read-only) and each host added to this one as an agent host. Rare and offline-ish work
 * (a CLI command): statements are prepared per call.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dname.h"
#include "core/error.h"
#include "store/import.h"
#include "store/sqlite_int.h"

/* ---- this registry ---- */

static int lookup(sqlite3 *db, const char *sql, const char *arg, bool *found)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	*found = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int name_used(sqlite3 *db, const struct prism_host_import *h, const char *fqdn, bool *found)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT 1 FROM desired WHERE zone = ?1 AND name = ?2 AND "
			       "(type = ?3 OR type = 'CNAME') LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	sqlite3_bind_text(st, 1, h->dns.zone, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, fqdn, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, h->ipv6 ? "AAAA" : "A", -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	*found = rc == SQLITE_ROW;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int host_insert(struct prism_store *s, const struct prism_host_import *h, const char *fqdn,
		       int64_t *id)
{
	sqlite3 *db = prism_sqlite_db(s);
	static const char sql[] =
		"INSERT INTO hosts (hostname, current_ip, ipv4, ipv6, status, first_seen, "
		"last_seen, dns_zone, dns_record_id, dns_ttl, dns_sync_status, expires_at, "
		"source) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, prism_seen(?7), ?8, ?9, ?10, ?11, ?12, 'agent')";
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return PRISM_ESTORE;
	bool dns = h->dns.enabled;
	sqlite3_bind_text(st, 1, h->hostname, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, h->ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, h->ipv6 ? 4 : 3, h->ip, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, h->online ? "online" : "offline", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, h->first_seen);
	sqlite3_bind_int64(st, 7, h->last_seen);
	if (dns) {
		sqlite3_bind_text(st, 8, h->dns.zone, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, fqdn, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, h->dns.ttl);
	}
	/* no records to push (offline, records removed) is in step at once */
	const char *sync = !dns ? "disabled" : h->records ? "pending" : "synced";
	sqlite3_bind_text(st, 11, sync, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 12, h->online ? h->expires_at : h->last_seen);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	*id = sqlite3_last_insert_rowid(db);
	if (rc != SQLITE_DONE)
		return PRISM_ESTORE;
	return sq_host_counted(s, h->online ? "online" : "offline", sync);
}

static int import_write(struct prism_store *s, const struct prism_host_import *h, const char *fqdn)
{
	int64_t id;
	if (host_insert(s, h, fqdn, &id) != 0)
		return PRISM_ESTORE;
	if (!h->dns.enabled || !h->records)
		return 0;
	struct prism_host_reg reg = {
		.hostname = h->hostname,
		.ip = h->ip,
		.ipv6 = h->ipv6,
		.now = h->now,
		.dns = h->dns,
	};
	bool changed;
	return sq_host_records(s, &reg, id, fqdn, &changed);
}

int iq_host_import(struct prism_store *s, const struct prism_host_import *h,
		   enum prism_import_outcome *out)
{
	if (s == NULL || h == NULL || out == NULL || h->hostname == NULL || h->ip == NULL ||
	    (h->dns.enabled && h->dns.zone == NULL))
		return PRISM_EINVAL;
	char fqdn[PRISM_DNAME_MAX + 1] = "";
	if (h->dns.enabled && prism_fqdn_join(h->hostname, h->dns.zone, fqdn, sizeof(fqdn)) != 0)
		return PRISM_ETOOBIG;
	sqlite3 *db = prism_sqlite_db(s);
	bool found;
	if (lookup(db, "SELECT 1 FROM hosts WHERE hostname = ?1", h->hostname, &found) != 0)
		return PRISM_ESTORE;
	*out = PRISM_IMPORT_EXISTS;
	if (found)
		return 0;
	/* a Kea host (or any other), or an RRset made through the API (of the record's type,
	 * or a CNAME), holding the FQDN keeps it, as against a registration */
	if (fqdn[0] != '\0' &&
	    (lookup(db, "SELECT 1 FROM hosts WHERE dns_record_id = ?1", fqdn, &found) != 0 ||
	     (!found && name_used(db, h, fqdn, &found) != 0)))
		return PRISM_ESTORE;
	*out = PRISM_IMPORT_NAME_TAKEN;
	if (found)
		return 0;
	if (prism_store_sqlite.savepoint(s) != 0)
		return PRISM_ESTORE;
	int rc = import_write(s, h, fqdn);
	if (prism_store_sqlite.release(s, rc == 0) != 0 && rc == 0)
		rc = PRISM_ESTORE;
	if (rc == 0)
		*out = PRISM_IMPORT_ADDED;
	return rc;
}

/* ---- the original's registry ---- */

struct prism_orig_reader {
	sqlite3 *db;
	sqlite3_stmt *st;
};

void prism_orig_close(struct prism_orig_reader *r)
{
	if (r == NULL)
		return;
	sqlite3_finalize(r->st);
	sqlite3_close(r->db);
	free(r);
}

int prism_orig_open(const char *path, struct prism_orig_reader **out, char *err, size_t errlen)
{
	static const char sql[] = "SELECT hostname, current_ip, status, first_seen, last_seen, "
				  "dns_zone, dns_ttl, dns_sync_status FROM hosts";
	if (path == NULL || out == NULL)
		return PRISM_EINVAL;
	/* read-only does not create a missing file, but say so plainly */
	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "cannot read %s (%s)", path, strerror(errno));
		return PRISM_ENOTFOUND;
	}
	struct prism_orig_reader *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return PRISM_ENOMEM;
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(r->db, 5000) != SQLITE_OK ||
	    sqlite3_prepare_v2(r->db, sql, -1, &r->st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s is not the original Prism registry (%s)", path,
			 r->db ? sqlite3_errmsg(r->db) : "out of memory");
		prism_orig_close(r);
		return PRISM_ESTORE;
	}
	*out = r;
	return 0;
}

static const char *col(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int prism_orig_next(struct prism_orig_reader *r, struct prism_orig_row *row, char *err,
		    size_t errlen)
{
	if (r == NULL || row == NULL)
		return PRISM_EINVAL;
	int rc = sqlite3_step(r->st);
	if (rc == SQLITE_DONE)
		return PRISM_ENOTFOUND;
	if (rc != SQLITE_ROW) {
		snprintf(err, errlen, "reading the hosts table failed (%s)",
			 sqlite3_errmsg(r->db));
		return PRISM_ESTORE;
	}
	*row = (struct prism_orig_row){
		.hostname = col(r->st, 0),
		.current_ip = col(r->st, 1),
		.status = col(r->st, 2),
		.first_seen = col(r->st, 3),
		.last_seen = col(r->st, 4),
		.dns_zone = col(r->st, 5),
		.dns_ttl = col(r->st, 6),
		.dns_sync_status = col(r->st, 7),
	};
	return 0;
}
