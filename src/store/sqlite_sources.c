/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend: hosts of other sources (Kea reservations, leases, DDNS) and
 * the intake queue.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/sqlite_int.h"
#include "store/store.h"

/* ==== hosts of other sources (Kea) ==== */

#define DHCID_MAX 160 /* hex text; RFC 4701 DHCIDs are 70 */

#define SYNC_MARK 32 /* hosts a sync writes between job marks (sq_job_mark) */

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

static const char *const fam_type[2] = {"A", "AAAA"};

static void col_copy(char *dst, size_t len, sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(dst, len, "%s", t ? (const char *)t : "");
}

static int src_by_key(struct prism_store *s, enum prism_source src, const char *key,
		      struct src_row *r)
{
	memset(r, 0, sizeof(*r));
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_BY_KEY);
	sq_bind_text(st, 1, prism_source_name(src));
	sq_bind_text(st, 2, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		r->found = true;
		r->id = sqlite3_column_int64(st, SK_ID);
		col_copy(r->name, sizeof(r->name), st, SK_NAME);
		col_copy(r->ip[0], sizeof(r->ip[0]), st, SK_IPV4);
		col_copy(r->ip[1], sizeof(r->ip[1]), st, SK_IPV6);
		col_copy(r->dhcid[0], sizeof(r->dhcid[0]), st, SK_DHCID4);
		col_copy(r->dhcid[1], sizeof(r->dhcid[1]), st, SK_DHCID6);
		r->ttl = (uint32_t)sqlite3_column_int64(st, SK_TTL);
		col_copy(r->zone, sizeof(r->zone), st, SK_ZONE);
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
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_BY_NAME);
	sq_bind_text(st, 1, fqdn);
	sq_bind_text(st, 2, host);
	int rc = sqlite3_step(st);
	*id = 0;
	if (rc == SQLITE_ROW) {
		*id = sqlite3_column_int64(st, SN_ID);
		*src = sq_source_parse((const char *)sqlite3_column_text(st, SN_SOURCE));
		col_copy(key, keylen, st, SN_KEY);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* target_zones into s->tz (until targets_sync changes it). */
static int tz_load(struct prism_store *s)
{
	if (s->tz_loaded)
		return 0;
	sqlite3_stmt *st = sq_stmt(s, ST_TZ_ALL);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct prism_target_zone *v = realloc(s->tz, (s->ntz + 1) * sizeof(*v));
		if (v == NULL)
			break;
		s->tz = v;
		v[s->ntz].target = sq_col_dup(st, 0);
		v[s->ntz].zone = sq_col_dup(st, 1);
		s->ntz++;
		if (v[s->ntz - 1].target == NULL || v[s->ntz - 1].zone == NULL)
			break;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		sq_tz_forget(s);
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
	if (sq_desired_row(s, rr, zone, host_id, &hash, &differs) != 0)
		return PRISM_ESTORE;
	if (!differs)
		return 0;
	if (tz_load(s) != 0)
		return PRISM_ESTORE;
	sqlite3_stmt *st;
	for (size_t i = 0; i < s->ntz; i++) {
		if (strcmp(s->tz[i].zone, zone) != 0)
			continue;
		st = sq_stmt(s, ST_SRC_LEDGER_UPSERT);
		sq_bind_text(st, 1, s->tz[i].target);
		sq_bind_text(st, 2, zone);
		sq_bind_text(st, 3, rr->name);
		sq_bind_text(st, 4, rr->type);
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
static int drop_owned(struct prism_store *s, const char *zone, const char *name, const char *type,
		      int64_t id, int64_t now, bool *changed)
{
	sqlite3_stmt *st = sq_stmt(s, ST_DESIRED_DROP_OWNED);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, name);
	sq_bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	if (sqlite3_changes(s->db) == 0)
		return 0;
	struct prism_rr_change del = {name, type, 0, NULL, 0};
	st = sq_stmt(s, ST_LEDGER_WANT_DELETE);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, name);
	sq_bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)prism_rrset_hash(&del));
	sqlite3_bind_null(st, 5);
	sqlite3_bind_int64(st, 6, now);
	*changed = true;
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

/* The reverse name of @p ip and the managed zone holding it, or NULL (no PTR then). */
static const char *reverse_zone(const char *ip, const char *const *zones, char *rev, size_t len)
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
			const char *recs[1] = {ip};
			struct prism_rr_change rr = {e->fqdn, fam_type[f], e->ttl, recs, 1};
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
		const char *recs[1] = {e->fqdn};
		struct prism_rr_change rr = {rev, "PTR", e->ttl, recs, 1};
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
	int rc = sq_host_dns_delete(s, id, false, now, changed);
	if (rc != 0)
		return rc;
	sqlite3_stmt *st = sq_stmt(s, ST_HOST_DELETE);
	sqlite3_bind_int64(st, 1, id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static const char *nz(const char *v)
{
	return v != NULL && v[0] != '\0' ? v : NULL;
}

static int src_insert(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, char ip[2][64], char dhcid[2][DHCID_MAX],
		      int64_t *id)
{
	char host[PRISM_DNAME_MAX + 1];
	snprintf(host, sizeof(host), "%s", e->fqdn);
	size_t n = strlen(host);
	if (n > 1 && host[n - 1] == '.')
		host[n - 1] = '\0';
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_INSERT);
	sq_bind_text(st, 1, host);
	sq_bind_text(st, 2, ip[0][0] ? ip[0] : ip[1]);
	sq_bind_text(st, 3, nz(ip[0]));
	sq_bind_text(st, 4, nz(ip[1]));
	sqlite3_bind_int64(st, 5, ctx->now);
	sq_bind_text(st, 6, e->zone);
	sq_bind_text(st, 7, e->fqdn);
	sqlite3_bind_int64(st, 8, e->ttl);
	sq_bind_text(st, 9, ctx->dns_enabled ? "pending" : "disabled");
	sq_bind_text(st, 10, prism_source_name(e->source));
	sq_bind_text(st, 11, e->key);
	sq_bind_text(st, 12, nz(dhcid[0]));
	sq_bind_text(st, 13, nz(dhcid[1]));
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
	sqlite3_stmt *st = sq_stmt(s, ST_SRC_UPDATE);
	sqlite3_bind_int64(st, 1, id);
	sq_bind_text(st, 2, ip[0][0] ? ip[0] : ip[1]);
	sq_bind_text(st, 3, nz(ip[0]));
	sq_bind_text(st, 4, nz(ip[1]));
	sqlite3_bind_int64(st, 5, ctx->now);
	sq_bind_text(st, 6, e->zone);
	sqlite3_bind_int64(st, 7, e->ttl);
	sq_bind_text(st, 8, dns_changed && ctx->dns_enabled ? "pending" : NULL);
	sq_bind_text(st, 9, nz(dhcid[0]));
	sq_bind_text(st, 10, nz(dhcid[1]));
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
	       (e->ipv4 == NULL || strlen(e->ipv4) < 64) &&
	       (e->ipv6 == NULL || strlen(e->ipv6) < 64);
}

int sq_source_put(struct prism_store *s, const struct prism_source_entry *e0,
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
	bool sets =
		((e.families & PRISM_FAM_V4) && e.ipv4) || ((e.families & PRISM_FAM_V6) && e.ipv6);
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
			row = (struct src_row){0};
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
	const char *want[2] = {e.ipv4, e.ipv6};
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
		rc = sq_name_holder(s, e.zone, e.fqdn, fam_type[f], row.found ? row.id : 0,
				    &holder);
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
		if ((e.families & (1u << f)) && (rc = src_family(s, &e, ctx, id, f, row.ip[f],
								 want[f], &out->dns_changed)) != 0)
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

int sq_source_remove(struct prism_store *s, enum prism_source source, const char *key,
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
	if (sq_exec(s, "CREATE TEMP TABLE IF NOT EXISTS sync_in (key TEXT PRIMARY KEY, "
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
		sq_bind_text(st, 1, e->key);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sq_bind_text(st, 3, e->fqdn);
		sq_bind_text(st, 4, (e->families & PRISM_FAM_V4) ? e->ipv4 : NULL);
		sq_bind_text(st, 5, (e->families & PRISM_FAM_V6) ? e->ipv6 : NULL);
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
	sq_bind_text(st, 1, prism_source_name(source));
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

int sq_source_sync(struct prism_store *s, enum prism_source source,
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
		rc = sync_select(s,
				 "SELECT id FROM hosts WHERE source = ?1 AND source_key NOT IN "
				 "(SELECT key FROM sync_in)",
				 source, &v, &k);
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
		rc = sync_select(s,
				 "SELECT i.idx FROM sync_in i LEFT JOIN hosts h ON "
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
	sq_exec(s, "DELETE FROM sync_in");
	return rc;
}

/* ---- the intake queue ---- */

enum { QF_FORWARD = 1, QF_REVERSE = 2, QF_CHECK = 4, QF_TAKEOVER = 8 };

int sq_source_enqueue(struct prism_store *s, const struct prism_source_entry *e)
{
	if (s == NULL || !entry_valid(e))
		return PRISM_EINVAL;
	sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_ADD);
	sq_bind_text(st, 1, prism_source_name(e->source));
	sq_bind_text(st, 2, e->key);
	sq_bind_text(st, 3, e->fqdn);
	sq_bind_text(st, 4, e->zone);
	sqlite3_bind_int(st, 5, (int)e->families);
	sq_bind_text(st, 6, e->ipv4);
	sq_bind_text(st, 7, e->ipv6);
	sqlite3_bind_int64(st, 8, e->ttl);
	sqlite3_bind_int(st, 9,
			 (e->forward ? QF_FORWARD : 0) | (e->reverse ? QF_REVERSE : 0) |
				 (e->check_dhcid ? QF_CHECK : 0) |
				 (e->takeover ? QF_TAKEOVER : 0));
	sq_bind_text(st, 10, e->dhcid);
	sq_bind_text(st, 11, e->only_ip);
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
	return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : sq_col_dup(st, i);
}

static int queue_take(struct prism_store *s, enum prism_source source, size_t max,
		      struct queued **out, size_t *n)
{
	struct queued *q = calloc(max, sizeof(*q));
	*out = q;
	*n = 0;
	if (q == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_TAKE);
	sq_bind_text(st, 1, prism_source_name(source));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct queued *x = &q[(*n)++];
		static const int cols[] = {QT_KEY,  QT_FQDN,  QT_ZONE,	 QT_IPV4,
					   QT_IPV6, QT_DHCID, QT_ONLY_IP};
		x->seq = sqlite3_column_int64(st, QT_SEQ);
		for (int c = 0; c < 7; c++)
			x->col[c] = col_or_null(st, cols[c]);
		int flags = sqlite3_column_int(st, QT_FLAGS);
		x->e = (struct prism_source_entry){
			.source = source,
			.key = x->col[0],
			.fqdn = x->col[1],
			.zone = x->col[2],
			.families = (unsigned)sqlite3_column_int(st, QT_FAMILIES),
			.ipv4 = x->col[3],
			.ipv6 = x->col[4],
			.ttl = (uint32_t)sqlite3_column_int64(st, QT_TTL),
			.forward = flags & QF_FORWARD,
			.reverse = flags & QF_REVERSE,
			.check_dhcid = flags & QF_CHECK,
			.takeover = flags & QF_TAKEOVER,
			.dhcid = x->col[5],
			.only_ip = x->col[6],
		};
		if (x->e.key == NULL || x->e.fqdn == NULL || x->e.zone == NULL) {
			sqlite3_reset(st);
			return PRISM_ENOMEM;
		}
	}
	sqlite3_reset(st);
	return 0;
}

int sq_source_apply(struct prism_store *s, enum prism_source source, size_t max,
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
		sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_DROP);
		sq_bind_text(st, 1, prism_source_name(source));
		sqlite3_bind_int64(st, 2, q[n - 1].seq);
		rc = sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
	}
	if (rc == 0)
		*applied = n;
	queued_free(q, n);
	if (rc == 0 && left != NULL) {
		sqlite3_stmt *st = sq_stmt(s, ST_QUEUE_COUNT);
		sq_bind_text(st, 1, prism_source_name(source));
		rc = sqlite3_step(st) == SQLITE_ROW ? 0 : PRISM_ESTORE;
		*left = rc == 0 ? (size_t)sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
	}
	return rc;
}

int sq_source_unsynced(struct prism_store *s, enum prism_source source, size_t *pending,
		       size_t *conflict)
{
	sqlite3_stmt *st;
	if (s == NULL || pending == NULL || conflict == NULL)
		return PRISM_EINVAL;
	if (sq_prep(s,
		    "SELECT count(*) FILTER (WHERE l.status IN ('pending', 'failed')), "
		    "count(*) FILTER (WHERE l.status = 'conflict') FROM ledger l "
		    "LEFT JOIN hosts h ON h.id = l.host_id WHERE l.status != 'synced' AND "
		    "(l.host_id IS NULL OR h.source = ?1)",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, prism_source_name(source));
	int rc = sqlite3_step(st);
	*pending = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 0) : 0;
	*conflict = rc == SQLITE_ROW ? (size_t)sqlite3_column_int64(st, 1) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : PRISM_ESTORE;
}
