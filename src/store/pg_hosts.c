/* SPDX-License-Identifier: MIT */
/*
 * The PostgreSQL backend: hosts (registrations, expiry, cleanup, the API's deletes and
 * releases, the import of the original registry), tokens, API keys and the audit log.
 * Same semantics as the SQLite backend (sqlite_hosts.c); fewer round trips: registrations
 * are queued and the writer's batch of them written by one call of a server-side function
 * (migration 2) before the next other statement or the commit; with auto_ptr the checks
 * are one query, a desired RRset and its ledger rows one statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dname.h"
#include "core/error.h"
#include "core/rrset.h"
#include "store/pg_int.h"
#include "store/store.h"

/* Store a desired RRset (unless it is the same, or the API's and @p host_id a host's) and
 * mark it pending on every target of its zone, in one statement. */
static const char desired_set_sql[] =
	"WITH up AS (INSERT INTO desired (zone, name, type, ttl, content, hash, host_id) "
	"VALUES ($1, $2, $3, $4::bigint, $5, $6::bigint, NULLIF($7::bigint, 0)) "
	"ON CONFLICT (zone, name, type) DO UPDATE SET ttl = excluded.ttl, "
	"content = excluded.content, hash = excluded.hash, host_id = excluded.host_id "
	"WHERE desired.hash <> excluded.hash AND NOT (desired.host_id IS NULL AND "
	"$7::bigint > 0) RETURNING 1), "
	"led AS (INSERT INTO ledger (target, zone, name, type, desired_hash, status, attempts, "
	"next_attempt, host_id, updated_at) SELECT target, $1, $2, $3, $6::bigint, 'pending', 0, "
	"0, NULLIF($7::bigint, 0), $8::bigint FROM target_zones WHERE zone = $1 "
	"AND EXISTS (SELECT 1 FROM up) "
	"ON CONFLICT (target, zone, name, type) DO UPDATE SET "
	"desired_hash = excluded.desired_hash, status = 'pending', attempts = 0, "
	"next_attempt = 0, last_error = NULL, host_id = excluded.host_id, "
	"updated_at = excluded.updated_at) "
	"SELECT count(*) FROM up";

int pg_desired_set(struct prism_store *s, const struct prism_rr_change *rr, const char *zone,
		   int64_t host_id, int64_t now, bool *changed)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, zone);
	pg_bind_text(&p, 2, rr->name);
	pg_bind_text(&p, 3, rr->type);
	pg_bind_int(&p, 4, rr->ttl);
	pg_bind_text(&p, 5, rr->nrecords ? rr->records[0] : "");
	pg_bind_int(&p, 6, (int64_t)prism_rrset_hash(rr));
	pg_bind_int(&p, 7, host_id);
	pg_bind_int(&p, 8, now);
	PGresult *r = pg_exec(s, desired_set_sql, &p);
	if (r == NULL)
		return PRISM_ESTORE;
	if (pg_int(r, 0, 0) > 0)
		*changed = true;
	PQclear(r);
	return 0;
}

/*
 * Withdraw desired RRsets (zone, name, type of @p n rows, arrays in PostgreSQL's text
 * form) and queue their deletion on every target that has them; @p host_ids the host to
 * keep on each ledger row (NULL elements: none).
 */
static const char desired_drop_sql[] =
	"WITH v AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], "
	"$5::bigint[]) AS v (zone, name, type, hash, host_id)), "
	"d AS (DELETE FROM desired USING v WHERE desired.zone = v.zone AND "
	"desired.name = v.name AND desired.type = v.type) "
	"UPDATE ledger l SET desired_hash = v.hash, status = 'pending', attempts = 0, "
	"next_attempt = 0, last_error = NULL, host_id = v.host_id, updated_at = $6::bigint "
	"FROM v WHERE l.zone = v.zone AND l.name = v.name AND l.type = v.type AND l.target IN "
	"(SELECT target FROM target_zones tz WHERE tz.zone = v.zone)";

/* Withdraw the RRsets of the rows of @p r (columns zone, name, type, host_id). */
static int drop_rows(struct prism_store *s, const PGresult *r, bool link, int64_t now)
{
	int n = PQntuples(r);
	if (n == 0)
		return 0;
	struct pg_array a[5] = {0};
	for (int i = 0; i < n; i++) {
		struct prism_rr_change del = {pg_text(r, i, 1), pg_text(r, i, 2), 0, NULL, 0};
		for (int c = 0; c < 3; c++)
			pg_array_text(&a[c], pg_text(r, i, c));
		pg_array_int(&a[3], (int64_t)prism_rrset_hash(&del));
		pg_array_text(&a[4], link ? pg_text(r, i, 3) : NULL);
	}
	struct pg_params p = {0};
	int rc = pg_bind_arrays(&p, 1, a, 5);
	pg_bind_int(&p, 6, now);
	if (rc == 0)
		rc = pg_cmd(s, desired_drop_sql, &p, NULL);
	pg_arrays_free(a, 5);
	return rc;
}

int pg_hosts_dns_delete(struct prism_store *s, const char *ids, bool link, int64_t now,
			bool *changed)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, ids);
	PGresult *r =
		pg_exec(s,
			"SELECT zone, name, type, host_id FROM desired "
			"WHERE host_id = ANY ($1::bigint[]) ORDER BY host_id, zone, name, type",
			&p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = drop_rows(s, r, link, now);
	if (rc == 0 && PQntuples(r) > 0)
		*changed = true;
	PQclear(r);
	return rc;
}

/* The host's PTR of one family: the new one, and the old ones withdrawn. */
static int ptr_want(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		    const char *fqdn, bool *changed)
{
	char rev[PRISM_DNAME_MAX + 1];
	if (prism_reverse_name(reg->ip, rev, sizeof(rev)) != 0)
		return 0;
	const char *rzone = prism_zone_of(rev, reg->dns.zones);
	/* an earlier address of the same family leaves a PTR behind: withdraw it */
	struct pg_params p = {0};
	pg_bind_int(&p, 1, host_id);
	pg_bind_text(&p, 2, rev);
	pg_bind_text(&p, 3, reg->ipv6 ? "%.ip6.arpa." : "%.in-addr.arpa.");
	PGresult *r = pg_exec(s,
			      "SELECT zone, name, type, host_id FROM desired WHERE host_id = "
			      "$1::bigint AND type = 'PTR' AND name <> $2 AND name LIKE $3 "
			      "ORDER BY zone, name LIMIT 8",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = drop_rows(s, r, true, reg->now);
	if (rc == 0 && PQntuples(r) > 0)
		*changed = true;
	PQclear(r);
	if (rc != 0 || rzone == NULL)
		return rc; /* no managed reverse zone for this address */
	const char *recs[1] = {fqdn};
	struct prism_rr_change rr = {rev, "PTR", reg->dns.ttl, recs, 1};
	return pg_desired_set(s, &rr, rzone, host_id, reg->now, changed);
}

int pg_host_records(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		    const char *fqdn, bool *changed)
{
	*changed = false;
	if (reg->ipv6 ? !reg->dns.publish_aaaa : !reg->dns.publish_a)
		return 0; /* record_types leaves this family out */
	const char *recs[1] = {reg->ip};
	struct prism_rr_change rr = {fqdn, reg->ipv6 ? "AAAA" : "A", reg->dns.ttl, recs, 1};
	int rc = pg_desired_set(s, &rr, reg->dns.zone, host_id, reg->now, changed);
	if (rc == 0 && reg->dns.auto_ptr)
		rc = ptr_want(s, reg, host_id, fqdn, changed);
	return rc;
}

enum prism_source pg_source_parse(const char *name)
{
	for (int i = 0; name != NULL && i < PRISM_SOURCE_COUNT; i++)
		if (strcmp(name, prism_source_name((enum prism_source)i)) == 0)
			return (enum prism_source)i;
	return PRISM_SOURCE_API; /* the schema's CHECK allows nothing else */
}

/* Everything a registration checks, in one query that always answers one row. */
static const char reg_check_sql[] =
	"SELECT h.id, h.ipv4, h.ipv6, h.current_ip, h.status, h.owner_token_hash, h.dns_zone, "
	"h.dns_ttl, h.source, "
	"(SELECT CASE WHEN t.active = 0 THEN 3 WHEN t.expires_at IS NOT NULL AND "
	"t.expires_at <= $3::bigint THEN 2 ELSE 0 END FROM tokens t WHERE t.hash = $2), "
	"(SELECT o.source FROM hosts o WHERE o.dns_record_id = $4 AND o.source <> 'agent' "
	"LIMIT 1), "
	"(SELECT coalesce(hh.source, 'api') FROM desired d LEFT JOIN hosts hh ON "
	"hh.id = d.host_id WHERE d.zone = $5 AND d.name = $4 AND (d.type = $6 OR "
	"d.type = 'CNAME') AND d.host_id IS DISTINCT FROM coalesce(h.id, 0) LIMIT 1) "
	"FROM (SELECT 1) one LEFT JOIN hosts h ON h.hostname = $1";
enum {
	RC_ID,
	RC_IPV4,
	RC_IPV6,
	RC_IP,
	RC_STATUS,
	RC_OWNER,
	RC_ZONE,
	RC_TTL,
	RC_SOURCE,
	RC_TOKEN,
	RC_NAME_SOURCE,
	RC_NAME_HOLDER
};

static int register_write(struct prism_store *s, const struct prism_host_reg *reg,
			  struct prism_host_reg_out *out, bool exists, int64_t id, bool ip_changed,
			  bool was_offline);

/* The registration's decisions (with auto_ptr: never a plain heartbeat), in the SQLite
 * backend's order. 1: go on and write. */
static int register_check(const struct prism_host_reg *reg, const PGresult *r,
			  struct prism_host_reg_out *out, bool *exists, bool *ip_changed,
			  bool *was_offline)
{
	if (reg->check_token && reg->owner != NULL) {
		out->token = pg_null(r, 0, RC_TOKEN)
				     ? PRISM_TOKEN_NOT_FOUND
				     : (enum prism_token_state)pg_int(r, 0, RC_TOKEN);
		if (out->token != PRISM_TOKEN_OK)
			return 0;
	}
	*exists = !pg_null(r, 0, RC_ID);
	bool same_dns = false;
	if (*exists) {
		const char *zone = pg_text(r, 0, RC_ZONE);
		same_dns = reg->dns.enabled ? zone != NULL && strcmp(zone, reg->dns.zone) == 0 &&
						      pg_int(r, 0, RC_TTL) == reg->dns.ttl &&
						      !reg->dns.auto_ptr
					    : zone == NULL;
		const char *fam = pg_text(r, 0, reg->ipv6 ? RC_IPV6 : RC_IPV4);
		const char *owner = pg_text(r, 0, RC_OWNER);
		const char *src = pg_text(r, 0, RC_SOURCE);
		if (src != NULL && strcmp(src, "agent") != 0) {
			/* one owner per name: a Kea host's name is not an agent's to take */
			out->source_conflict = true;
			out->holder = pg_source_parse(src);
			return 0;
		}
		/* no hijacking: a bound name answers only to its token */
		if (owner != NULL && (reg->owner == NULL || strcmp(owner, reg->owner) != 0)) {
			out->owned_by_other = true;
			return 0;
		}
		/* a change is measured within the family: a dual-stack host keeps both */
		const char *prev = fam ? fam : pg_text(r, 0, RC_IP);
		*ip_changed = prev == NULL || strcmp(prev, reg->ip) != 0;
		if (*ip_changed && prev != NULL)
			snprintf(out->old_ip, sizeof(out->old_ip), "%s", prev);
		const char *status = pg_text(r, 0, RC_STATUS);
		*was_offline = status != NULL && strcmp(status, "offline") == 0;
	}
	if (reg->dns.enabled && (!*exists || !same_dns) && !pg_null(r, 0, RC_NAME_SOURCE)) {
		out->source_conflict = true;
		out->holder = pg_source_parse(pg_text(r, 0, RC_NAME_SOURCE));
		return 0;
	}
	/* the record it would write: refused when the API or another host has it */
	if (reg->dns.enabled && (reg->ipv6 ? reg->dns.publish_aaaa : reg->dns.publish_a) &&
	    !pg_null(r, 0, RC_NAME_HOLDER)) {
		out->source_conflict = true;
		out->holder = pg_source_parse(pg_text(r, 0, RC_NAME_HOLDER));
		return 0;
	}
	return 1;
}

/* One answer row of prism_host_register_many into the caller's out. */
static void register_answer(const PGresult *r, int row, struct prism_host_reg_out *out)
{
	out->token = (enum prism_token_state)pg_int(r, row, 1);
	out->owned_by_other = pg_int(r, row, 2) != 0;
	out->source_conflict = pg_int(r, row, 3) != 0;
	out->holder = pg_source_parse(pg_text(r, row, 4));
	out->result = (enum prism_reg_result)pg_int(r, row, 5);
	out->host_id = pg_int(r, row, 6);
	snprintf(out->old_ip, sizeof(out->old_ip), "%s",
		 pg_text(r, row, 7) ? pg_text(r, row, 7) : "");
	out->dns_changed = pg_int(r, row, 8) != 0;
}

enum {
	RA_HOSTNAME,
	RA_IP,
	RA_IPV6,
	RA_NOW,
	RA_EXPIRES,
	RA_OWNER,
	RA_CHECK,
	RA_ZONE,
	RA_FQDN,
	RA_TTL,
	RA_PUBLISH,
	RA_TYPE,
	RA_HASH,
	RA_COUNT
};

/* One queued registration as the function's arguments (its FQDN is in out already). */
static void register_args(struct pg_array *a, const struct prism_host_reg *reg,
			  const struct prism_host_reg_out *out)
{
	bool dns = reg->dns.enabled;
	bool publish = dns && (reg->ipv6 ? reg->dns.publish_aaaa : reg->dns.publish_a);
	const char *type = reg->ipv6 ? "AAAA" : "A";
	const char *recs[1] = {reg->ip};
	struct prism_rr_change rr = {out->fqdn, type, reg->dns.ttl, recs, 1};
	pg_array_text(&a[RA_HOSTNAME], reg->hostname);
	pg_array_text(&a[RA_IP], reg->ip);
	pg_array_text(&a[RA_IPV6], reg->ipv6 ? "t" : "f");
	pg_array_int(&a[RA_NOW], reg->now);
	pg_array_int(&a[RA_EXPIRES], reg->expires_at);
	pg_array_text(&a[RA_OWNER], reg->owner);
	pg_array_text(&a[RA_CHECK], reg->check_token ? "t" : "f");
	pg_array_text(&a[RA_ZONE], dns ? reg->dns.zone : NULL);
	pg_array_text(&a[RA_FQDN], dns ? out->fqdn : NULL);
	pg_array_int(&a[RA_TTL], reg->dns.ttl);
	pg_array_text(&a[RA_PUBLISH], publish ? "t" : "f");
	pg_array_text(&a[RA_TYPE], type);
	pg_array_int(&a[RA_HASH], publish ? (int64_t)prism_rrset_hash(&rr) : 0);
}

/*
 * The planner's statistics made again (ANALYZE) when this connection added many hosts
 * since: without them it takes a table that grew from nothing for a tiny one and joins a
 * batch against every row of it (a fresh registry taking 20,000 agents slowed down
 * batch by batch until autovacuum came, a minute later).
 */
static int statistics(struct prism_store *s, const struct pg_reg *q, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		s->new_hosts += q[i].out->result == PRISM_REG_NEW;
	if (s->new_hosts < 1000 || s->new_hosts < s->analyzed_hosts / 5)
		return 0;
	s->analyzed_hosts += s->new_hosts;
	s->new_hosts = 0;
	return pg_exec_simple(s, "ANALYZE hosts, desired, ledger");
}

static const char register_many_sql[] =
	"SELECT * FROM prism_host_register_many($1::text[], $2::text[], $3::bool[], "
	"$4::bigint[], $5::bigint[], $6::text[], $7::bool[], $8::text[], $9::text[], "
	"$10::bigint[], $11::bool[], $12::text[], $13::bigint[])";

#define REGS_TRIES 4 /* calls of a batch crossed by other prismd's transactions */

/* 40P01 deadlock_detected, 40001 serialization_failure: another prismd's transaction crossed
 * this one (rows of the same hosts, or the host counts, taken in another order) */
static bool crossed(const struct prism_store *s)
{
	return strcmp(s->sqlstate, "40P01") == 0 || strcmp(s->sqlstate, "40001") == 0;
}

/*
 * prism_host_register_many inside a savepoint of its own when in a transaction: when
 * PostgreSQL ends it for a deadlock with another prismd sharing the registry, only the
 * call is undone and made again, instead of failing every registration of the batch.
 */
static PGresult *register_many(struct prism_store *s, const struct pg_params *p)
{
	bool tx = PQstatus(s->conn) == CONNECTION_OK &&
		  PQtransactionStatus(s->conn) == PQTRANS_INTRANS;
	for (int tries = 1;; tries++) {
		if (tx && pg_exec_simple(s, "SAVEPOINT regs") != 0)
			return NULL;
		PGresult *r = pg_exec(s, register_many_sql, p);
		if (r != NULL) {
			if (tx && pg_exec_simple(s, "RELEASE SAVEPOINT regs") != 0) {
				PQclear(r);
				return NULL;
			}
			return r;
		}
		if (!tx || tries == REGS_TRIES || !crossed(s) ||
		    pg_exec_simple(s, "ROLLBACK TO SAVEPOINT regs") != 0)
			return NULL;
	}
}

/*
 * The queued registrations, in the order they came, in one call of the server-side
 * function (migration 2): a writer's batch costs one round trip. Their answers fill the
 * callers' out before the commit returns.
 */
int pg_regs_flush(struct prism_store *s)
{
	unsigned n = s->nregs;
	if (n == 0)
		return 0;
	/* taken out first: the statement below flushes nothing again */
	memcpy(s->regs_run, s->regs, n * sizeof(s->regs[0]));
	s->nregs = 0;
	struct pg_reg *q = s->regs_run;
	struct pg_array a[RA_COUNT] = {0};
	for (unsigned i = 0; i < n; i++)
		register_args(a, q[i].reg, q[i].out);
	struct pg_params p = {0};
	int rc = pg_bind_arrays(&p, 1, a, RA_COUNT);
	PGresult *r = rc == 0 ? register_many(s, &p) : NULL;
	if (r == NULL || PQntuples(r) != (int)n)
		rc = PRISM_ESTORE;
	for (int row = 0; rc == 0 && row < (int)n; row++) {
		int64_t i = pg_int(r, row, 0); /* 1-based position in the batch */
		if (i < 1 || i > (int64_t)n)
			rc = PRISM_ESTORE;
		else
			register_answer(r, row, q[i - 1].out);
	}
	PQclear(r);
	pg_arrays_free(a, RA_COUNT);
	if (rc != 0)
		s->poisoned = true;
	else
		rc = statistics(s, q, n);
	return rc;
}

int pg_host_register(struct prism_store *s, const struct prism_host_reg *reg,
		     struct prism_host_reg_out *out)
{
	if (s == NULL || reg == NULL || out == NULL || reg->hostname == NULL || reg->ip == NULL)
		return PRISM_EINVAL;
	memset(out, 0, sizeof(*out));
	if (reg->dns.enabled &&
	    prism_fqdn_join(reg->hostname, reg->dns.zone, out->fqdn, sizeof(out->fqdn)) != 0)
		return PRISM_ETOOBIG;
	if (!(reg->dns.enabled && reg->dns.auto_ptr)) {
		if (s->nregs == PG_MAXREGS && pg_regs_flush(s) != 0)
			return PRISM_ESTORE;
		s->regs[s->nregs++] = (struct pg_reg){reg, out};
		return 0;
	}
	/* with auto_ptr (never a plain heartbeat, as in the SQLite backend: the PTR is looked
	 * at each time): the PTR's old names are withdrawn with hashes made here, statement
	 * by statement */
	struct pg_params p = {0};
	pg_bind_text(&p, 1, reg->hostname);
	pg_bind_text(&p, 2, reg->check_token ? reg->owner : NULL);
	pg_bind_int(&p, 3, reg->now);
	pg_bind_text(&p, 4, reg->dns.enabled ? out->fqdn : NULL);
	pg_bind_text(&p, 5, reg->dns.enabled ? reg->dns.zone : NULL);
	pg_bind_text(&p, 6, reg->ipv6 ? "AAAA" : "A");
	PGresult *r = pg_exec(s, reg_check_sql, &p);
	if (r == NULL)
		return PRISM_ESTORE;
	bool exists = false, ip_changed = false, was_offline = false;
	int go = register_check(reg, r, out, &exists, &ip_changed, &was_offline);
	int64_t id = exists ? pg_int(r, 0, RC_ID) : 0;
	PQclear(r);
	if (go == 0)
		return 0;
	/* several statements: all or nothing (the writer puts no savepoint around this job) */
	if (pg_savepoint(s) != 0)
		return PRISM_ESTORE;
	int rc = register_write(s, reg, out, exists, id, ip_changed, was_offline);
	if (pg_release(s, rc == 0) != 0 && rc == 0)
		rc = PRISM_ESTORE;
	return rc;
}

static const char host_insert_sql[] =
	"INSERT INTO hosts (hostname, current_ip, ipv4, ipv6, status, first_seen, "
	"last_seen, dns_zone, dns_record_id, dns_ttl, dns_sync_status, expires_at, "
	"owner_token_hash) "
	"VALUES ($1, $2, $3, $4, 'online', $5::bigint, $5::bigint, $6, $7, $8::bigint, $9, "
	"$10::bigint, $11) RETURNING id";

static const char host_update_sql[] =
	"UPDATE hosts SET current_ip = $2, ipv4 = coalesce($3, ipv4), "
	"ipv6 = coalesce($4, ipv6), status = 'online', last_seen = $5::bigint, "
	"dns_zone = $6, dns_record_id = $7, dns_ttl = $8::bigint, "
	"dns_sync_status = coalesce($9, dns_sync_status), expires_at = $10::bigint, "
	"owner_token_hash = coalesce(owner_token_hash, $11) WHERE id = $1::bigint "
	"RETURNING id";

static int host_write(struct prism_store *s, const struct prism_host_reg *reg, bool exists,
		      int64_t *id, const char *fqdn, const char *sync)
{
	struct pg_params p = {0};
	if (exists)
		pg_bind_int(&p, 1, *id);
	else
		pg_bind_text(&p, 1, reg->hostname);
	pg_bind_text(&p, 2, reg->ip);
	pg_bind_text(&p, 3, reg->ipv6 ? NULL : reg->ip);
	pg_bind_text(&p, 4, reg->ipv6 ? reg->ip : NULL);
	pg_bind_int(&p, 5, reg->now);
	pg_bind_text(&p, 6, reg->dns.enabled ? reg->dns.zone : NULL);
	pg_bind_text(&p, 7, fqdn[0] ? fqdn : NULL);
	if (reg->dns.enabled)
		pg_bind_int(&p, 8, reg->dns.ttl);
	pg_bind_text(&p, 9, sync);
	pg_bind_int(&p, 10, reg->expires_at);
	pg_bind_text(&p, 11, reg->owner);
	p.n = 11;
	PGresult *r = pg_exec(s, exists ? host_update_sql : host_insert_sql, &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(r) == 1 ? 0 : PRISM_ESTORE;
	if (rc == 0)
		*id = pg_int(r, 0, 0);
	PQclear(r);
	return rc;
}

static enum prism_reg_result classify(bool was_offline, bool ip_changed)
{
	if (was_offline)
		return ip_changed ? PRISM_REG_RECONNECTED_IP : PRISM_REG_RECONNECTED;
	return ip_changed ? PRISM_REG_IP_CHANGED : PRISM_REG_HEARTBEAT;
}

/* The writes of a registration that is not a plain heartbeat. */
static int register_write(struct prism_store *s, const struct prism_host_reg *reg,
			  struct prism_host_reg_out *out, bool exists, int64_t id, bool ip_changed,
			  bool was_offline)
{
	const char *sync = reg->dns.enabled ? NULL : "disabled";
	if (!exists && host_write(s, reg, false, &id, out->fqdn, sync ? sync : "pending") != 0)
		return PRISM_ESTORE;
	if (reg->dns.enabled && pg_host_records(s, reg, id, out->fqdn, &out->dns_changed) != 0)
		return PRISM_ESTORE;
	if (exists) {
		if (out->dns_changed)
			sync = "pending";
		if (host_write(s, reg, true, &id, out->fqdn, sync) != 0)
			return PRISM_ESTORE;
	}
	out->host_id = id;
	out->result = exists ? classify(was_offline, ip_changed) : PRISM_REG_NEW;
	return 0;
}

/* The ids of the rows of @p r (column 0) as an array in text form; NULL when none. */
static char *ids_of(const PGresult *r, int *n)
{
	struct pg_array a = {0};
	*n = PQntuples(r);
	for (int i = 0; i < *n; i++)
		pg_array_text(&a, pg_text(r, i, 0));
	if (*n == 0 || pg_array_end(&a) == NULL) {
		pg_array_free(&a);
		return NULL;
	}
	return a.s;
}

/* Run @p sql ($1 a time, $2 a limit; host ids in column 0): @p ids receives them as an
 * array in text form (NULL when none; the caller frees it), @p n their number. */
static int host_ids(struct prism_store *s, const char *sql, int64_t t, size_t max, char **ids,
		    size_t *n)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, t);
	pg_bind_int(&p, 2, (int64_t)max);
	PGresult *r = pg_exec(s, sql, &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int k;
	*ids = ids_of(r, &k);
	PQclear(r);
	*n = (size_t)k;
	return k > 0 && *ids == NULL ? PRISM_ENOMEM : 0;
}

int pg_hosts_expire(struct prism_store *s, int64_t now, size_t max, bool remove_dns, size_t *n,
		    bool *dns_changed)
{
	if (s == NULL || n == NULL || dns_changed == NULL || max == 0)
		return PRISM_EINVAL;
	/* strictly past: seconds are truncated, so a host is never marked offline early */
	static const char sql[] =
		"UPDATE hosts SET status = 'offline' WHERE id IN (SELECT id FROM hosts "
		"WHERE status = 'online' AND expires_at < $1::bigint AND source = 'agent' "
		"ORDER BY expires_at LIMIT $2::bigint) RETURNING id";
	char *ids;
	int rc = host_ids(s, sql, now, max, &ids, n);
	if (rc == 0 && ids != NULL && remove_dns)
		rc = pg_hosts_dns_delete(s, ids, true, now, dns_changed);
	free(ids);
	/* the host counts' rows of changes folded into one per status (migration 3): the
	 * liveness check runs this every heartbeat.check_interval, on one prismd */
	if (rc == 0)
		rc = pg_cmd(s, "SELECT prism_fold_host_counts()", NULL, NULL);
	return rc;
}

int pg_hosts_cleanup(struct prism_store *s, int64_t before, size_t max, size_t *n,
		     bool *dns_changed)
{
	if (s == NULL || n == NULL || dns_changed == NULL || max == 0)
		return PRISM_EINVAL;
	/* the records go before the hosts (their ids must still name them); the deletions
	 * are due now, not at the cutoff (the engine's ownership check, engine.c) */
	static const char sql[] = "SELECT id FROM hosts WHERE status = 'offline' AND "
				  "last_seen < $1::bigint ORDER BY last_seen LIMIT $2::bigint";
	char *ids;
	int rc = host_ids(s, sql, before, max, &ids, n);
	if (rc == 0 && ids != NULL)
		rc = pg_hosts_dns_delete(s, ids, false, (int64_t)time(NULL), dns_changed);
	struct pg_params q = {0};
	pg_bind_text(&q, 1, ids);
	if (rc == 0 && ids != NULL)
		rc = pg_cmd(s, "DELETE FROM hosts WHERE id = ANY ($1::bigint[])", &q, NULL);
	free(ids);
	return rc;
}

/*
 * An insert of a row whose key may exist: PRISM_ECONFLICT when it does. Told by the rows
 * inserted, not by a unique violation, which would abort the caller's transaction (in
 * PostgreSQL a failed statement ends it; SQLite's only undoes itself).
 */
static int insert_new(struct prism_store *s, const char *sql, const struct pg_params *p)
{
	size_t n = 0;
	int rc = pg_cmd(s, sql, p, &n);
	return rc != 0 ? rc : n == 0 ? PRISM_ECONFLICT : 0;
}

int pg_token_add(struct prism_store *s, const char *name, const char *hash, int64_t now,
		 int64_t expires_at)
{
	if (s == NULL || name == NULL || hash == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, hash);
	pg_bind_text(&p, 2, name);
	pg_bind_int(&p, 3, now);
	if (expires_at > 0)
		pg_bind_int(&p, 4, expires_at);
	p.n = 4;
	return insert_new(s,
			  "INSERT INTO tokens (hash, name, created_at, expires_at, active) "
			  "VALUES ($1, $2, $3::bigint, $4::bigint, 1) ON CONFLICT DO NOTHING",
			  &p);
}

/* ==== REST API writes (src/api) ==== */

static int host_brief(struct prism_store *s, int64_t id, struct prism_host_brief *b)
{
	struct pg_params p = {0};
	pg_bind_int(&p, 1, id);
	PGresult *r = pg_exec(s,
			      "SELECT hostname, current_ip, status, owner_token_hash IS NOT NULL "
			      "FROM hosts WHERE id = $1::bigint",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int rc = PQntuples(r) == 1 ? 0 : PRISM_ENOTFOUND;
	if (rc == 0 && b != NULL) {
		memset(b, 0, sizeof(*b));
		b->id = id;
		snprintf(b->hostname, sizeof(b->hostname), "%s", pg_text(r, 0, 0));
		snprintf(b->current_ip, sizeof(b->current_ip), "%s", pg_text(r, 0, 1));
		snprintf(b->status, sizeof(b->status), "%s", pg_text(r, 0, 2));
		b->owned = pg_int(r, 0, 3) != 0;
	}
	PQclear(r);
	return rc;
}

int pg_host_delete(struct prism_store *s, int64_t id, int64_t now, struct prism_host_brief *before,
		   bool *dns_changed)
{
	if (s == NULL || dns_changed == NULL)
		return PRISM_EINVAL;
	char ids[32];
	snprintf(ids, sizeof(ids), "{%lld}", (long long)id);
	int rc = host_brief(s, id, before);
	if (rc == 0)
		rc = pg_hosts_dns_delete(s, ids, false, now, dns_changed);
	if (rc != 0)
		return rc;
	struct pg_params p = {0};
	pg_bind_int(&p, 1, id);
	return pg_cmd(s, "DELETE FROM hosts WHERE id = $1::bigint", &p, NULL);
}

int pg_host_release(struct prism_store *s, int64_t id, struct prism_host_brief *before)
{
	int rc = s != NULL ? host_brief(s, id, before) : PRISM_EINVAL;
	if (rc != 0)
		return rc;
	struct pg_params p = {0};
	pg_bind_int(&p, 1, id);
	return pg_cmd(s, "UPDATE hosts SET owner_token_hash = NULL WHERE id = $1::bigint", &p,
		      NULL);
}

/* Whether @p sql (a SELECT of $1) finds a row. */
static int found_by(struct prism_store *s, const char *sql, const char *arg, bool *found)
{
	struct pg_params p = {0};
	pg_bind_text(&p, 1, arg);
	PGresult *r = pg_exec(s, sql, &p);
	if (r == NULL)
		return PRISM_ESTORE;
	*found = PQntuples(r) > 0;
	PQclear(r);
	return 0;
}

int pg_token_create(struct prism_store *s, const char *name, const char *hash, int64_t now,
		    int64_t expires_at)
{
	bool found;
	if (s == NULL || name == NULL || hash == NULL)
		return PRISM_EINVAL;
	int rc = found_by(s, "SELECT 1 FROM tokens WHERE name = $1 AND active = 1", name, &found);
	if (rc != 0)
		return rc;
	if (found)
		return PRISM_ECONFLICT;
	return pg_token_add(s, name, hash, now, expires_at);
}

/* Rare (a SIGHUP that rotated a token): a scan of the hosts. */
int pg_token_rebind(struct prism_store *s, const char *old_hash, const char *new_hash, size_t *n)
{
	if (s == NULL || old_hash == NULL || new_hash == NULL || n == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, old_hash);
	pg_bind_text(&p, 2, new_hash);
	return pg_cmd(s, "UPDATE hosts SET owner_token_hash = $2 WHERE owner_token_hash = $1", &p,
		      n);
}

/* Deactivate rows by name with @p update; @p exists tells a name never used. */
static int revoke_named(struct prism_store *s, const char *update, const char *exists,
			const char *name, size_t *changed)
{
	bool found;
	size_t n = 0;
	if (s == NULL || name == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, name);
	int rc = pg_cmd(s, update, &p, &n);
	if (rc == 0 && n == 0 && (rc = found_by(s, exists, name, &found)) == 0 && !found)
		rc = PRISM_ENOTFOUND;
	if (changed != NULL)
		*changed = n;
	return rc;
}

int pg_token_revoke(struct prism_store *s, const char *name, size_t *changed)
{
	return revoke_named(s, "UPDATE tokens SET active = 0 WHERE name = $1 AND active = 1",
			    "SELECT 1 FROM tokens WHERE name = $1", name, changed);
}

int pg_apikey_add(struct prism_store *s, const char *name, const char *hash, const char *role,
		  int64_t now)
{
	bool found;
	if (s == NULL || name == NULL || hash == NULL || role == NULL)
		return PRISM_EINVAL;
	int rc = found_by(s, "SELECT 1 FROM api_keys WHERE name = $1 AND revoked = 0", name,
			  &found);
	if (rc != 0)
		return rc;
	if (found)
		return PRISM_ECONFLICT;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, hash);
	pg_bind_text(&p, 2, name);
	pg_bind_text(&p, 3, role);
	pg_bind_int(&p, 4, now);
	return insert_new(s,
			  "INSERT INTO api_keys (hash, name, role, created_at) "
			  "VALUES ($1, $2, $3, $4::bigint) ON CONFLICT DO NOTHING",
			  &p);
}

int pg_apikey_revoke(struct prism_store *s, const char *name, size_t *changed)
{
	return revoke_named(s, "UPDATE api_keys SET revoked = 1 WHERE name = $1 AND revoked = 0",
			    "SELECT 1 FROM api_keys WHERE name = $1", name, changed);
}

int pg_audit_add(struct prism_store *s, const struct prism_audit_entry *e)
{
	if (s == NULL || e == NULL || e->actor == NULL || e->action == NULL || e->object == NULL)
		return PRISM_EINVAL;
	struct pg_params p = {0};
	pg_bind_int(&p, 1, e->at);
	pg_bind_text(&p, 2, e->actor);
	pg_bind_text(&p, 3, e->action);
	pg_bind_text(&p, 4, e->object);
	pg_bind_text(&p, 5, e->before);
	pg_bind_text(&p, 6, e->after);
	p.n = 6;
	return pg_cmd(s,
		      "INSERT INTO audit (at, actor, action, object, before, after) "
		      "VALUES ($1::bigint, $2, $3, $4, $5, $6)",
		      &p, NULL);
}

/* ==== the import of the original registry (see import.c) ==== */

static const char import_insert_sql[] =
	"INSERT INTO hosts (hostname, current_ip, ipv4, ipv6, status, first_seen, "
	"last_seen, dns_zone, dns_record_id, dns_ttl, dns_sync_status, expires_at, source) "
	"VALUES ($1, $2, $3, $4, $5, $6::bigint, $7::bigint, $8, $9, $10::bigint, $11, "
	"$12::bigint, 'agent') RETURNING id";

static int import_write(struct prism_store *s, const struct prism_host_import *h, const char *fqdn)
{
	bool dns = h->dns.enabled;
	struct pg_params p = {0};
	pg_bind_text(&p, 1, h->hostname);
	pg_bind_text(&p, 2, h->ip);
	pg_bind_text(&p, h->ipv6 ? 4 : 3, h->ip);
	pg_bind_text(&p, 5, h->online ? "online" : "offline");
	pg_bind_int(&p, 6, h->first_seen);
	pg_bind_int(&p, 7, h->last_seen);
	if (dns) {
		pg_bind_text(&p, 8, h->dns.zone);
		pg_bind_text(&p, 9, fqdn);
		pg_bind_int(&p, 10, h->dns.ttl);
	}
	/* no records to push (offline, records removed) is in step at once */
	pg_bind_text(&p, 11, !dns ? "disabled" : h->records ? "pending" : "synced");
	pg_bind_int(&p, 12, h->online ? h->expires_at : h->last_seen);
	PGresult *r = pg_exec(s, import_insert_sql, &p);
	if (r == NULL)
		return PRISM_ESTORE;
	int64_t id = pg_int(r, 0, 0);
	PQclear(r);
	if (!dns || !h->records)
		return 0;
	struct prism_host_reg reg = {
		.hostname = h->hostname,
		.ip = h->ip,
		.ipv6 = h->ipv6,
		.now = h->now,
		.dns = h->dns,
	};
	bool changed;
	return pg_host_records(s, &reg, id, fqdn, &changed);
}

int pg_host_import(struct prism_store *s, const struct prism_host_import *h,
		   enum prism_import_outcome *out)
{
	if (s == NULL || h == NULL || out == NULL || h->hostname == NULL || h->ip == NULL ||
	    (h->dns.enabled && h->dns.zone == NULL))
		return PRISM_EINVAL;
	char fqdn[PRISM_DNAME_MAX + 1] = "";
	if (h->dns.enabled && prism_fqdn_join(h->hostname, h->dns.zone, fqdn, sizeof(fqdn)) != 0)
		return PRISM_ETOOBIG;
	/* the host itself; a Kea host (or any other), or an RRset made through the API (of
	 * the record's type, or a CNAME), holding the FQDN keeps it, as against a
	 * registration */
	struct pg_params p = {0};
	pg_bind_text(&p, 1, h->hostname);
	pg_bind_text(&p, 2, fqdn[0] ? fqdn : NULL);
	pg_bind_text(&p, 3, h->dns.zone);
	pg_bind_text(&p, 4, h->ipv6 ? "AAAA" : "A");
	PGresult *r = pg_exec(s,
			      "SELECT EXISTS (SELECT 1 FROM hosts WHERE hostname = $1), "
			      "EXISTS (SELECT 1 FROM hosts WHERE dns_record_id = $2) OR "
			      "EXISTS (SELECT 1 FROM desired WHERE zone = $3 AND name = $2 AND "
			      "(type = $4 OR type = 'CNAME'))",
			      &p);
	if (r == NULL)
		return PRISM_ESTORE;
	bool exists = pg_int(r, 0, 0) != 0, taken = fqdn[0] && pg_int(r, 0, 1) != 0;
	PQclear(r);
	*out = exists ? PRISM_IMPORT_EXISTS : PRISM_IMPORT_NAME_TAKEN;
	if (exists || taken)
		return 0;
	if (pg_savepoint(s) != 0)
		return PRISM_ESTORE;
	int rc = import_write(s, h, fqdn);
	if (pg_release(s, rc == 0) != 0 && rc == 0)
		rc = PRISM_ESTORE;
	if (rc == 0)
		*out = PRISM_IMPORT_ADDED;
	return rc;
}
