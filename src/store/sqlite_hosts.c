/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend: hosts (registrations, expiry, cleanup, the API's deletes and
 * releases), tokens, API keys and the audit log.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "core/token.h"
#include "store/sqlite_int.h"
#include "store/store.h"

/*
 * Store a host's desired RRset once (the `desired` row). @p hash receives its hash,
 * @p differs whether it differed from what was stored (and was written): only then do the
 * targets' ledger rows need marking, which the callers do.
 */
int sq_desired_row(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		   int64_t host_id, int64_t *hash, bool *differs)
{
	*hash = (int64_t)prism_rrset_hash(rr);
	*differs = false;
	sqlite3_stmt *st = sq_stmt(s, ST_LEDGER_GET);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, rr->name);
	sq_bind_text(st, 3, rr->type);
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
	st = sq_stmt(s, ST_DESIRED_UPSERT);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, rr->name);
	sq_bind_text(st, 3, rr->type);
	sqlite3_bind_int64(st, 4, rr->ttl);
	sq_bind_text(st, 5, rr->nrecords ? rr->records[0] : "");
	sqlite3_bind_int64(st, 6, *hash);
	sqlite3_bind_int64(st, 7, host_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	*differs = true;
	return 0;
}

/* Withdraw one desired RRset and queue its deletion on every target that has it. */
static int desired_drop(struct prism_store *s, const char *zone, const char *name,
			const char *type, int64_t host_id, int64_t now)
{
	struct prism_rr_change del = {name, type, 0, NULL, 0};
	sqlite3_stmt *st = sq_stmt(s, ST_DESIRED_DELETE);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, name);
	sq_bind_text(st, 3, type);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	st = sq_stmt(s, ST_LEDGER_WANT_DELETE);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, name);
	sq_bind_text(st, 3, type);
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
	sqlite3_stmt *st = sq_stmt(s, ST_HOST_PTRS);
	sqlite3_bind_int64(st, 1, host_id);
	sq_bind_text(st, 2, rev);
	char *old[8][2];
	size_t n = 0;
	while (n < 8 && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		size_t nl = strlen(name), sl = strlen(suffix);
		if (nl > sl && strcmp(name + nl - sl, suffix) == 0) {
			old[n][0] = sq_col_dup(st, 0);
			old[n][1] = sq_col_dup(st, 1);
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
	const char *recs[1] = {fqdn};
	struct prism_rr_change rr = {rev, "PTR", reg->dns.ttl, recs, 1};
	bool ch = false;
	rc = sq_desired_set(s, &rr, rzone, host_id, reg->now, &ch);
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
	const char *recs[1] = {reg->ip};
	struct prism_rr_change rr = {fqdn, reg->ipv6 ? "AAAA" : "A", reg->dns.ttl, recs, 1};
	int rc = sq_desired_set(s, &rr, reg->dns.zone, host_id, reg->now, changed);
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

int sq_host_counted(struct prism_store *s, const char *status, const char *sync)
{
	sqlite3_stmt *st = sq_stmt(s, ST_COUNT_STATUS);
	sq_bind_text(st, 1, status);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	st = sq_stmt(s, ST_COUNT_SYNC);
	sq_bind_text(st, 1, sync);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

static int host_write(struct prism_store *s, const struct prism_host_reg *reg, bool exists,
		      int64_t id, const char *fqdn, const char *sync)
{
	/* both statements share parameters ?2..?9; ?1 is the id or the new hostname */
	sqlite3_stmt *st = sq_stmt(s, exists ? ST_HOST_UPDATE : ST_HOST_INSERT);
	if (exists)
		sqlite3_bind_int64(st, 1, id);
	else
		sq_bind_text(st, 1, reg->hostname);
	sq_bind_text(st, 2, reg->ip);
	sq_bind_text(st, 3, reg->ipv6 ? NULL : reg->ip);
	sq_bind_text(st, 4, reg->ipv6 ? reg->ip : NULL);
	sqlite3_bind_int64(st, 5, reg->now);
	sq_bind_text(st, 6, reg->dns.enabled ? reg->dns.zone : NULL);
	sq_bind_text(st, 7, fqdn[0] ? fqdn : NULL);
	if (reg->dns.enabled)
		sqlite3_bind_int64(st, 8, reg->dns.ttl);
	else
		sqlite3_bind_null(st, 8);
	sq_bind_text(st, 9, sync);
	sqlite3_bind_int64(st, 10, reg->expires_at);
	sq_bind_text(st, 11, reg->owner);
	if (sqlite3_step(st) != SQLITE_DONE)
		return PRISM_ESTORE;
	return exists ? 0 : sq_host_counted(s, "online", sync);
}

static int token_check(struct prism_store *s, const char *hash, int64_t now,
		       enum prism_token_state *state)
{
	sqlite3_stmt *st = sq_stmt(s, ST_TOKEN_GET);
	sq_bind_text(st, 1, hash);
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

/*
 * The heartbeat of a known host in one statement, without reading the row first: 1 when it
 * was one (@p out filled), 0 when the row differs in anything but the times (or there is
 * none: the full path decides), PRISM_ESTORE on failure.
 */
static int beat_by_name(struct prism_store *s, const struct prism_host_reg *reg,
			struct prism_host_reg_out *out)
{
	/* expires_at is left as it is while at least a quarter of the time a host stays
	 * online is still ahead of it (BEAT_QUICK); otherwise it moves (BEAT_NAME) */
	int64_t live_for = reg->expires_at - reg->now;
	int64_t keep = live_for / 4 > 1 ? live_for / 4 : 1;
	for (int quick = 1; quick >= 0; quick--) {
		sqlite3_stmt *st = sq_stmt(s, quick ? ST_HOST_BEAT_QUICK : ST_HOST_BEAT_NAME);
		sq_bind_text(st, 1, reg->hostname);
		sqlite3_bind_int64(st, 2, reg->now);
		sqlite3_bind_int64(st, 3, reg->expires_at);
		sq_bind_text(st, 4, reg->owner);
		sq_bind_text(st, 5, reg->ip);
		sqlite3_bind_int(st, 6, reg->ipv6);
		sq_bind_text(st, 7, reg->dns.enabled ? reg->dns.zone : NULL);
		sqlite3_bind_int64(st, 8, reg->dns.ttl);
		sqlite3_bind_int64(st, 9, live_for);
		if (quick)
			sqlite3_bind_int64(st, 10, reg->now + keep);
		s->beat_id = 0;
		int rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return PRISM_ESTORE;
		if (sqlite3_changes(s->db) == 1) {
			out->host_id = s->beat_id;
			out->result = PRISM_REG_HEARTBEAT;
			return 1;
		}
	}
	return 0;
}

enum prism_source sq_source_parse(const char *name)
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
		*holder = sq_source_parse((const char *)sqlite3_column_text(st, 0));
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
int sq_name_holder(struct prism_store *s, const char *zone, const char *fqdn, const char *type,
		   int64_t host_id, enum prism_source *holder)
{
	sqlite3_stmt *st = sq_stmt(s, ST_NAME_HOLDER);
	sq_bind_text(st, 1, zone);
	sq_bind_text(st, 2, fqdn);
	sq_bind_text(st, 3, type);
	sqlite3_bind_int64(st, 4, host_id);
	return holder_step(st, holder);
}

/* PRISM_ECONFLICT when a host of another source than the agents holds @p fqdn. */
static int name_source(struct prism_store *s, const char *fqdn, enum prism_source *holder)
{
	sqlite3_stmt *st = sq_stmt(s, ST_HOST_NAME_SOURCE);
	sq_bind_text(st, 1, fqdn);
	return holder_step(st, holder);
}

static int register_write(struct prism_store *s, const struct prism_host_reg *reg,
			  struct prism_host_reg_out *out, bool exists, int64_t id, bool ip_changed,
			  bool was_offline);

int sq_host_register(struct prism_store *s, const struct prism_host_reg *reg,
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

	/* the common case first: nothing but the times change */
	int rc = reg->dns.auto_ptr ? 0 : beat_by_name(s, reg, out);
	if (rc != 0)
		return rc < 0 ? rc : 0;

	sqlite3_stmt *st = sq_stmt(s, ST_HOST_GET);
	sq_bind_text(st, 1, reg->hostname);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return PRISM_ESTORE;
	bool exists = rc == SQLITE_ROW;
	int64_t id = 0;
	bool ip_changed = false, was_offline = false, same_dns = false;
	if (exists) {
		id = sqlite3_column_int64(st, HG_ID);
		const unsigned char *zone = sqlite3_column_text(st, HG_ZONE);
		same_dns = reg->dns.enabled
				   ? zone != NULL &&
					     strcmp((const char *)zone, reg->dns.zone) == 0 &&
					     sqlite3_column_int64(st, HG_TTL) == reg->dns.ttl &&
					     !reg->dns.auto_ptr
				   : zone == NULL;
		const unsigned char *fam = sqlite3_column_text(st, reg->ipv6 ? HG_IPV6 : HG_IPV4);
		const unsigned char *cur = sqlite3_column_text(st, HG_IP);
		const unsigned char *status = sqlite3_column_text(st, HG_STATUS);
		const unsigned char *owner = sqlite3_column_text(st, HG_OWNER);
		const unsigned char *src = sqlite3_column_text(st, HG_SOURCE);
		if (src != NULL && strcmp((const char *)src, "agent") != 0) {
			/* one owner per name: a Kea host's name is not an agent's to take */
			out->source_conflict = true;
			out->holder = sq_source_parse((const char *)src);
			sqlite3_reset(st);
			return 0;
		}
		/* no hijacking: a bound name answers only to its token */
		if (owner != NULL &&
		    (reg->owner == NULL || strcmp((const char *)owner, reg->owner) != 0)) {
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

	/* a plain heartbeat was written by beat_by_name: what is left writes more */
	if (reg->dns.enabled && (!exists || !same_dns) &&
	    (rc = name_source(s, out->fqdn, &out->holder)) != 0) {
		if (rc != PRISM_ECONFLICT)
			return rc;
		out->source_conflict = true;
		return 0;
	}
	/* the record it would write: refused when the API or another host has it */
	if (reg->dns.enabled && (reg->ipv6 ? reg->dns.publish_aaaa : reg->dns.publish_a) &&
	    (rc = sq_name_holder(s, reg->dns.zone, out->fqdn, reg->ipv6 ? "AAAA" : "A",
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

/* Mark every record of a host for deletion; @p link keeps the host_id on the rows. */
int sq_host_dns_delete(struct prism_store *s, int64_t host_id, bool link, int64_t now,
		       bool *changed)
{
	enum { MAXR = 16 };
	struct {
		char *f[3];
	} rows[MAXR];
	size_t n = 0;
	sqlite3_stmt *st = sq_stmt(s, ST_LEDGER_OF_HOST);
	sqlite3_bind_int64(st, 1, host_id);
	while (n < MAXR && sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < 3; i++)
			rows[n].f[i] = sq_col_dup(st, i);
		n++;
	}
	sqlite3_reset(st);
	int err = 0;
	for (size_t i = 0; i < n; i++) {
		struct prism_rr_change rr = {rows[i].f[1], rows[i].f[2], 0, NULL, 0};
		st = sq_stmt(s, ST_DESIRED_DELETE);
		for (int k = 0; k < 3; k++)
			sq_bind_text(st, k + 1, rows[i].f[k]);
		if (err == 0 && sqlite3_step(st) != SQLITE_DONE)
			err = PRISM_ESTORE;
		st = sq_stmt(s, ST_LEDGER_WANT_DELETE);
		for (int k = 0; k < 3; k++)
			sq_bind_text(st, k + 1, rows[i].f[k]);
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
static int select_ids(struct prism_store *s, enum stmt_id id, int64_t t, size_t max, int64_t **ids,
		      size_t *n)
{
	*ids = calloc(max, sizeof(**ids));
	*n = 0;
	if (*ids == NULL)
		return PRISM_ENOMEM;
	sqlite3_stmt *st = sq_stmt(s, id);
	sqlite3_bind_int64(st, 1, t);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	int rc;
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return 0;
}

int sq_hosts_expire(struct prism_store *s, int64_t now, size_t max, bool remove_dns, size_t *n,
		    bool *dns_changed)
{
	if (s == NULL || n == NULL || dns_changed == NULL || max == 0)
		return PRISM_EINVAL;
	/* expiry times that lag behind a later heartbeat first (BEAT_QUICK) */
	sqlite3_stmt *cu = sq_stmt(s, ST_HOST_EXPIRY_CATCHUP);
	sqlite3_bind_int64(cu, 1, now);
	sqlite3_bind_int64(cu, 2, (sqlite3_int64)max);
	int step = sqlite3_step(cu);
	sqlite3_reset(cu);
	if (step != SQLITE_DONE)
		return PRISM_ESTORE;
	int64_t *ids;
	int rc = select_ids(s, ST_HOST_EXPIRED, now, max, &ids, n);
	for (size_t i = 0; rc == 0 && i < *n; i++) {
		sqlite3_stmt *st = sq_stmt(s, ST_HOST_OFFLINE);
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
		else if (remove_dns)
			rc = sq_host_dns_delete(s, ids[i], true, now, dns_changed);
	}
	free(ids);
	return rc;
}

int sq_hosts_cleanup(struct prism_store *s, int64_t before, size_t max, size_t *n,
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
		rc = sq_host_dns_delete(s, ids[i], false, now, dns_changed);
		if (rc != 0)
			break;
		sqlite3_stmt *st = sq_stmt(s, ST_HOST_DELETE);
		sqlite3_bind_int64(st, 1, ids[i]);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = PRISM_ESTORE;
	}
	free(ids);
	return rc;
}

int sq_token_add(struct prism_store *s, const char *name, const char *hash, int64_t now,
		 int64_t expires_at)
{
	if (s == NULL || name == NULL || hash == NULL)
		return PRISM_EINVAL;
	sqlite3_stmt *st = sq_stmt(s, ST_TOKEN_ADD);
	sq_bind_text(st, 1, hash);
	sq_bind_text(st, 2, name);
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

/* ==== REST API writes (src/api) ====
 * Admin operations: rare, so their statements are prepared on use and kept out of the
 * registration path's statement table. */

static int host_brief(struct prism_store *s, int64_t id, struct prism_host_brief *b)
{
	sqlite3_stmt *st;
	if (sq_prep(s,
		    "SELECT hostname, current_ip, status, owner_token_hash IS NOT NULL "
		    "FROM hosts WHERE id = ?1",
		    &st) != 0)
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

int sq_host_delete(struct prism_store *s, int64_t id, int64_t now, struct prism_host_brief *before,
		   bool *dns_changed)
{
	if (s == NULL || dns_changed == NULL)
		return PRISM_EINVAL;
	int rc = host_brief(s, id, before);
	if (rc == 0)
		rc = sq_host_dns_delete(s, id, false, now, dns_changed);
	if (rc != 0)
		return rc;
	sqlite3_stmt *st = sq_stmt(s, ST_HOST_DELETE);
	sqlite3_bind_int64(st, 1, id);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

int sq_host_release(struct prism_store *s, int64_t id, struct prism_host_brief *before)
{
	sqlite3_stmt *st;
	int rc = s != NULL ? host_brief(s, id, before) : PRISM_EINVAL;
	if (rc != 0)
		return rc;
	if (sq_prep(s, "UPDATE hosts SET owner_token_hash = NULL WHERE id = ?1", &st) != 0)
		return PRISM_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	return sq_step_done(s, st, NULL);
}

/* Whether an active row called @p name exists in @p sql's table. */
static int name_active(struct prism_store *s, const char *sql, const char *name, bool *found)
{
	sqlite3_stmt *st;
	if (sq_prep(s, sql, &st) != 0)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, name);
	int rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : PRISM_ESTORE;
}

int sq_token_create(struct prism_store *s, const char *name, const char *hash, int64_t now,
		    int64_t expires_at)
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
int sq_token_rebind(struct prism_store *s, const char *old_hash, const char *new_hash, size_t *n)
{
	sqlite3_stmt *st;
	if (s == NULL || old_hash == NULL || new_hash == NULL || n == NULL)
		return PRISM_EINVAL;
	if (sq_prep(s, "UPDATE hosts SET owner_token_hash = ?2 WHERE owner_token_hash = ?1",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, old_hash);
	sq_bind_text(st, 2, new_hash);
	return sq_step_done(s, st, n);
}

static int revoke_named(struct prism_store *s, const char *update, const char *exists,
			const char *name, size_t *changed)
{
	sqlite3_stmt *st;
	bool found;
	size_t n = 0;
	if (s == NULL || name == NULL)
		return PRISM_EINVAL;
	if (sq_prep(s, update, &st) != 0)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, name);
	int rc = sq_step_done(s, st, &n);
	if (rc == 0 && n == 0 && (rc = name_active(s, exists, name, &found)) == 0 && !found)
		rc = PRISM_ENOTFOUND;
	if (changed != NULL)
		*changed = n;
	return rc;
}

int sq_token_revoke(struct prism_store *s, const char *name, size_t *changed)
{
	return revoke_named(s, "UPDATE tokens SET active = 0 WHERE name = ?1 AND active = 1",
			    "SELECT 1 FROM tokens WHERE name = ?1", name, changed);
}

int sq_apikey_add(struct prism_store *s, const char *name, const char *hash, const char *role,
		  int64_t now)
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
	if (sq_prep(s,
		    "INSERT INTO api_keys (hash, name, role, created_at) VALUES (?1, ?2, ?3, ?4)",
		    &st) != 0)
		return PRISM_ESTORE;
	sq_bind_text(st, 1, hash);
	sq_bind_text(st, 2, name);
	sq_bind_text(st, 3, role);
	sqlite3_bind_int64(st, 4, now);
	return sq_step_done(s, st, NULL);
}

int sq_apikey_revoke(struct prism_store *s, const char *name, size_t *changed)
{
	return revoke_named(s, "UPDATE api_keys SET revoked = 1 WHERE name = ?1 AND revoked = 0",
			    "SELECT 1 FROM api_keys WHERE name = ?1", name, changed);
}

int sq_audit_add(struct prism_store *s, const struct prism_audit_entry *e)
{
	sqlite3_stmt *st;
	if (s == NULL || e == NULL || e->actor == NULL || e->action == NULL || e->object == NULL)
		return PRISM_EINVAL;
	if (sq_prep(s,
		    "INSERT INTO audit (at, actor, action, object, before, after) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		    &st) != 0)
		return PRISM_ESTORE;
	sqlite3_bind_int64(st, 1, e->at);
	sq_bind_text(st, 2, e->actor);
	sq_bind_text(st, 3, e->action);
	sq_bind_text(st, 4, e->object);
	sq_bind_text(st, 5, e->before);
	sq_bind_text(st, 6, e->after);
	return sq_step_done(s, st, NULL);
}
