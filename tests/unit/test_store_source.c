/* SPDX-License-Identifier: MIT */
/*
 * The registry's hosts of other sources (store.h "hosts of other sources") against a real
 * SQLite file: names, keys, conflicts between sources and between DHCIDs, renames, takeover,
 * PTRs, and the consistency sync (a second identical sync writes nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/error.h"
#include "store/sqlite_int.h"
#include "store/store.h"

static const struct prism_store_api *api = &prism_store_sqlite;

static const char *const zones[] = {"example.test.", "10.in-addr.arpa.", "ip6.arpa.", NULL};

struct fx {
	char path[64];
	struct prism_store *s;
	sqlite3 *peek; /* a second connection: what the registry file holds */
	struct prism_source_ctx ctx;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	snprintf(f->path, sizeof(f->path), "/tmp/prism-test-store-XXXXXX");
	int fd = mkstemp(f->path);
	assert_true(fd >= 0);
	close(fd);
	struct prism_store_opts o = {.path = f->path};
	assert_int_equal(api->open(&o, &f->s, err, sizeof(err)), 0);
	static const struct prism_target_zone tz[] = {
		{"t1", "example.test."},
		{"t1", "10.in-addr.arpa."},
		{"t1", "ip6.arpa."},
	};
	size_t caught;
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->targets_sync(f->s, tz, 3, 1000, &caught), 0);
	assert_int_equal(api->commit(f->s), 0);
	assert_int_equal(sqlite3_open(f->path, &f->peek), SQLITE_OK);
	f->ctx = (struct prism_source_ctx){.dns_enabled = true,
					   .publish_a = true,
					   .publish_aaaa = true,
					   .zones = zones,
					   .now = 1000};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sqlite3_close(f->peek);
	api->close(f->s);
	char p[80];
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	free(f);
	return 0;
}

/* One integer from the registry file, through the second connection. */
static long long q(struct fx *f, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(f->peek, sql, -1, &st, NULL), SQLITE_OK);
	long long v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

static int put(struct fx *f, const struct prism_source_entry *e, struct prism_source_result *r)
{
	assert_int_equal(api->begin(f->s), 0);
	int rc = api->source_put(f->s, e, &f->ctx, r);
	assert_int_equal(api->commit(f->s), 0);
	return rc;
}

/* An agent's registration of @p name from @p ip, its A record in @p zone. */
static struct prism_host_reg agent_reg(const char *name, const char *ip, const char *zone,
				       const char *const *zs)
{
	return (struct prism_host_reg){
		.hostname = name,
		.ip = ip,
		.now = 1000,
		.expires_at = 2000,
		.dns = {.enabled = true, .zone = zone, .ttl = 60, .publish_a = true, .zones = zs},
	};
}

/* @p reg registered in a transaction of its own. */
static void register_one(struct fx *f, const struct prism_host_reg *reg,
			 struct prism_host_reg_out *out)
{
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->host_register(f->s, reg, out), 0);
	assert_int_equal(api->commit(f->s), 0);
}

static struct prism_source_entry ddns(const char *fqdn, unsigned fam, const char *ip,
				      const char *dhcid)
{
	return (struct prism_source_entry){
		.source = PRISM_SOURCE_KEA_DDNS,
		.key = fqdn,
		.fqdn = fqdn,
		.zone = "example.test.",
		.families = fam,
		.ipv4 = fam == PRISM_FAM_V4 ? ip : NULL,
		.ipv6 = fam == PRISM_FAM_V6 ? ip : NULL,
		.ttl = 600,
		.forward = true,
		.reverse = true,
		.dhcid = dhcid,
		.check_dhcid = true,
	};
}

static void test_invalid(void **state)
{
	struct fx *f = *state;
	struct prism_source_result r;
	struct prism_source_entry e = ddns("a.example.test.", PRISM_FAM_V4, "10.0.0.1", NULL);
	assert_int_equal(api->source_put(NULL, &e, &f->ctx, &r), PRISM_EINVAL);
	assert_int_equal(api->source_put(f->s, NULL, &f->ctx, &r), PRISM_EINVAL);
	assert_int_equal(api->source_put(f->s, &e, NULL, &r), PRISM_EINVAL);
	e.families = 0;
	assert_int_equal(api->source_put(f->s, &e, &f->ctx, &r), PRISM_EINVAL);
	e.families = PRISM_FAM_V4;
	e.source = PRISM_SOURCE_AGENT; /* agents register through host_register */
	assert_int_equal(api->source_put(f->s, &e, &f->ctx, &r), PRISM_EINVAL);
	struct prism_source_sync_result sr;
	assert_int_equal(api->source_sync(f->s, PRISM_SOURCE_AGENT, NULL, 0, &f->ctx, &sr),
			 PRISM_EINVAL);
	assert_int_equal(api->source_remove(f->s, PRISM_SOURCE_KEA_DDNS, NULL, &f->ctx, &r),
			 PRISM_EINVAL);
}

static void test_add_records_and_unchanged(void **state)
{
	struct fx *f = *state;
	struct prism_source_result r;
	struct prism_source_entry e = ddns("c1.example.test.", PRISM_FAM_V4, "10.0.0.5", "0a01");
	assert_int_equal(put(f, &e, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	assert_true(r.dns_changed);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE source = 'kea-ddns' AND "
			      "hostname = 'c1.example.test' AND ipv4 = '10.0.0.5' AND "
			      "dhcid4 = '0a01' AND expires_at > 4000000000"),
			 1);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'c1.example.test.' AND "
			      "type = 'A' AND content = '10.0.0.5' AND ttl = 600"),
			 1);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = "
			      "'5.0.0.10.in-addr.arpa.' AND type = 'PTR' AND "
			      "content = 'c1.example.test.'"),
			 1);
	assert_int_equal(q(f, "SELECT count(*) FROM ledger WHERE target = 't1' AND "
			      "status = 'pending'"),
			 2);
	long long v = q(f, "PRAGMA data_version");
	assert_int_equal(put(f, &e, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_UNCHANGED);
	assert_false(r.dns_changed);
	assert_int_equal(q(f, "PRAGMA data_version"), v); /* a renewal writes nothing */
	/* a new address moves the A and the PTR */
	e.ipv4 = "10.0.0.6";
	assert_int_equal(put(f, &e, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_UPDATED);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = "
			      "'5.0.0.10.in-addr.arpa.'"),
			 0);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = "
			      "'6.0.0.10.in-addr.arpa.' AND content = 'c1.example.test.'"),
			 1);
	/* the old PTR is queued for deletion at the target */
	assert_int_equal(q(f, "SELECT count(*) FROM ledger WHERE name = "
			      "'5.0.0.10.in-addr.arpa.' AND status = 'pending'"),
			 1);
	/* the host never goes offline through the heartbeat monitor */
	size_t n = 99;
	bool ch = false;
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->hosts_expire(f->s, 5000000000LL, 100, true, &n, &ch), 0);
	assert_int_equal(api->commit(f->s), 0);
	assert_int_equal(n, 0);
}

static void test_dhcid_and_families(void **state)
{
	struct fx *f = *state;
	struct prism_source_result r;
	struct prism_source_entry a = ddns("d.example.test.", PRISM_FAM_V4, "10.0.1.1", "aa");
	assert_int_equal(put(f, &a, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	/* the same client's AAAA comes with another DHCID (DUID-based): no fight */
	struct prism_source_entry six = ddns("d.example.test.", PRISM_FAM_V6, "2001:db8::1", "bb");
	assert_int_equal(put(f, &six, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_UPDATED);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'd.example.test.'"), 2);
	/* another client (DHCID cc) may not take the A */
	struct prism_source_entry b = ddns("d.example.test.", PRISM_FAM_V4, "10.0.1.2", "cc");
	assert_int_equal(put(f, &b, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_CONFLICT);
	assert_true(r.dhcid_conflict);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'd.example.test.' AND "
			      "content = '10.0.1.1'"),
			 1);
	/* nor remove it */
	struct prism_source_entry rm = ddns("d.example.test.", PRISM_FAM_V4, NULL, "cc");
	assert_int_equal(put(f, &rm, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_CONFLICT);
	/* unless the request turns conflict resolution off */
	b.check_dhcid = false;
	assert_int_equal(put(f, &b, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_UPDATED);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE hostname = 'd.example.test' AND "
			      "ipv4 = '10.0.1.2' AND dhcid4 = 'cc' AND dhcid6 = 'bb'"),
			 1);
	/* a late withdrawal of an address the client no longer has changes nothing */
	rm.dhcid = "cc";
	rm.only_ip = "10.0.1.1";
	assert_int_equal(put(f, &rm, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_UNCHANGED);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'd.example.test.' AND "
			      "content = '10.0.1.2'"),
			 1);
	/* withdrawing the A leaves the AAAA; withdrawing that too removes the host */
	rm.only_ip = "10.0.1.2";
	assert_int_equal(put(f, &rm, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_UPDATED);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'd.example.test.'"), 1);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = "
			      "'2.1.0.10.in-addr.arpa.'"),
			 0);
	struct prism_source_entry rm6 = ddns("d.example.test.", PRISM_FAM_V6, NULL, "bb");
	assert_int_equal(put(f, &rm6, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_REMOVED);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE hostname = 'd.example.test'"), 0);
	assert_int_equal(q(f, "SELECT count(*) FROM desired"), 0);
	/* withdrawing what nobody holds changes nothing */
	assert_int_equal(put(f, &rm6, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_UNCHANGED);
}

static void test_sources_conflict(void **state)
{
	struct fx *f = *state;
	struct prism_source_result r;
	struct prism_host_reg_out out;
	struct prism_host_reg reg = agent_reg("web1", "10.0.2.1", "example.test.", zones);
	register_one(f, &reg, &out);
	assert_false(out.source_conflict);
	/* a reservation for the agent's name is refused and changes nothing */
	struct prism_source_entry e = {
		.source = PRISM_SOURCE_KEA_RESERVATION,
		.key = "7",
		.fqdn = "web1.example.test.",
		.zone = "example.test.",
		.families = PRISM_FAM_V4 | PRISM_FAM_V6,
		.ipv4 = "10.0.2.9",
		.ttl = 600,
		.forward = true,
	};
	long long v = q(f, "PRAGMA data_version");
	assert_int_equal(put(f, &e, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_CONFLICT);
	assert_int_equal(r.holder, PRISM_SOURCE_AGENT);
	assert_int_equal(q(f, "PRAGMA data_version"), v);
	/* and the other way: an agent may not take a reservation's name */
	e.fqdn = "web2.example.test.";
	assert_int_equal(put(f, &e, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	reg.hostname = "web2";
	register_one(f, &reg, &out);
	assert_true(out.source_conflict);
	assert_int_equal(out.holder, PRISM_SOURCE_KEA_RESERVATION);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'web2.example.test.' "
			      "AND content = '10.0.2.9'"),
			 1);
	/* nor may a DDNS request, even with conflict resolution off */
	struct prism_source_entry d = ddns("web2.example.test.", PRISM_FAM_V4, "10.0.2.3", "ee");
	d.check_dhcid = false;
	assert_int_equal(put(f, &d, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_CONFLICT);
	assert_int_equal(r.holder, PRISM_SOURCE_KEA_RESERVATION);
}

static void test_rename_and_takeover(void **state)
{
	struct fx *f = *state;
	struct prism_source_result r;
	struct prism_source_entry e = {
		.source = PRISM_SOURCE_KEA_LEASE,
		.key = "10.0.3.1",
		.fqdn = "old.example.test.",
		.zone = "example.test.",
		.families = PRISM_FAM_V4 | PRISM_FAM_V6,
		.ipv4 = "10.0.3.1",
		.ttl = 300,
		.forward = true,
		.reverse = true,
	};
	assert_int_equal(put(f, &e, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	e.fqdn = "new.example.test."; /* the same lease, another name */
	assert_int_equal(put(f, &e, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'old.example.test.'"), 0);
	assert_int_equal(q(f, "SELECT count(*) FROM ledger WHERE name = 'old.example.test.' AND "
			      "status = 'pending'"),
			 1);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = "
			      "'1.3.0.10.in-addr.arpa.' AND content = 'new.example.test.'"),
			 1);
	/* another lease with that name: a conflict without takeover, the name moves with it */
	struct prism_source_entry g = e;
	g.key = g.ipv4 = "10.0.3.2";
	assert_int_equal(put(f, &g, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_CONFLICT);
	assert_int_equal(r.holder, PRISM_SOURCE_KEA_LEASE);
	g.takeover = true;
	assert_int_equal(put(f, &g, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE source = 'kea-lease'"), 1);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'new.example.test.' AND "
			      "content = '10.0.3.2'"),
			 1);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = "
			      "'1.3.0.10.in-addr.arpa.'"),
			 0);
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->source_remove(f->s, PRISM_SOURCE_KEA_LEASE, "10.0.3.2", &f->ctx, &r),
			 0);
	assert_int_equal(api->commit(f->s), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_REMOVED);
	assert_int_equal(q(f, "SELECT count(*) FROM desired"), 0);
}

#define NSYNC 2000

struct sync_set {
	struct prism_source_entry e[NSYNC];
	char key[NSYNC][24], fqdn[NSYNC][64], ip[NSYNC][48];
};

static void sync_fill(struct sync_set *v, size_t n, unsigned shift)
{
	for (size_t i = 0; i < n; i++) {
		snprintf(v->key[i], sizeof(v->key[i]), "%zu", i + 1);
		snprintf(v->fqdn[i], sizeof(v->fqdn[i]), "h%zu-bmc.example.test.", i);
		snprintf(v->ip[i], sizeof(v->ip[i]), "10.1.%zu.%zu", (i + shift) / 250,
			 (i + shift) % 250 + 1);
		v->e[i] = (struct prism_source_entry){
			.source = PRISM_SOURCE_KEA_RESERVATION,
			.key = v->key[i],
			.fqdn = v->fqdn[i],
			.zone = "example.test.",
			.families = PRISM_FAM_V4 | PRISM_FAM_V6,
			.ipv4 = v->ip[i],
			.ttl = 600,
			.forward = true,
			.reverse = true,
		};
	}
}

static int do_sync(struct fx *f, const struct sync_set *v, size_t n,
		   struct prism_source_sync_result *out)
{
	assert_int_equal(api->begin(f->s), 0);
	int rc = api->source_sync(f->s, PRISM_SOURCE_KEA_RESERVATION, v->e, n, &f->ctx, out);
	assert_int_equal(api->commit(f->s), 0);
	return rc;
}

static void test_sync(void **state)
{
	struct fx *f = *state;
	struct sync_set *v = calloc(1, sizeof(*v));
	struct prism_source_sync_result out;
	sync_fill(v, NSYNC, 0);
	assert_int_equal(do_sync(f, v, NSYNC, &out), 0);
	assert_int_equal(out.added, NSYNC);
	assert_true(out.dns_changed);
	assert_int_equal(q(f, "SELECT count(*) FROM desired"), 2 * NSYNC);
	/* the same again: nothing written to the registry at all */
	long long ver = q(f, "PRAGMA data_version");
	assert_int_equal(do_sync(f, v, NSYNC, &out), 0);
	assert_int_equal(out.unchanged, NSYNC);
	assert_int_equal(out.added + out.updated + out.removed + out.conflicts, 0);
	assert_false(out.dns_changed);
	assert_int_equal(q(f, "PRAGMA data_version"), ver);
	/* the last 10 gone, the first 10 with new addresses */
	sync_fill(v, 10, 5000);
	assert_int_equal(do_sync(f, v, NSYNC - 10, &out), 0);
	assert_int_equal(out.removed, 10);
	assert_int_equal(out.updated, 10);
	assert_int_equal(out.unchanged, NSYNC - 20);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE source = 'kea-reservation'"),
			 NSYNC - 10);
	assert_int_equal(q(f, "SELECT count(*) FROM desired"), 2 * (NSYNC - 10));
	/* a duplicate name within the source: the first key keeps it; the other key's old
	 * name (h2) goes, since its reservation no longer has it */
	struct sync_set *w = calloc(1, sizeof(*w));
	sync_fill(w, 3, 0);
	snprintf(w->fqdn[2], sizeof(w->fqdn[2]), "%s", w->fqdn[0]);
	assert_int_equal(do_sync(f, w, 3, &out), 0);
	assert_int_equal(out.conflicts, 1);
	assert_string_equal(out.shown[0].name, "h0-bmc.example.test.");
	assert_int_equal(out.shown[0].holder, PRISM_SOURCE_KEA_RESERVATION);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE source = 'kea-reservation'"), 2);
	assert_int_equal(q(f, "SELECT count(*) FROM desired WHERE name = 'h2-bmc.example.test.'"),
			 0);
	/* a key given twice is a caller's error, and nothing changes */
	snprintf(w->key[1], sizeof(w->key[1]), "%s", w->key[0]);
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(
		api->source_sync(f->s, PRISM_SOURCE_KEA_RESERVATION, w->e, 3, &f->ctx, &out),
		PRISM_EINVAL);
	assert_int_equal(api->rollback(f->s), 0);
	/* an empty set removes every host of the source, and only of that source */
	assert_int_equal(do_sync(f, v, 0, &out), 0);
	assert_int_equal(out.removed, 2);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts"), 0);
	free(w);
	free(v);
}

/* The statements the store keeps prepared stay prepared: none is compiled again per call (a
 * partial index whose WHERE compares a column with a constant that a statement compares
 * with a bound value makes SQLite prepare that statement again at every bind). */
static void test_statements_stay_prepared(void **state)
{
	struct fx *f = *state;
	struct prism_source_sync_result r;
	size_t applied, left;
	char name[64], ip[32];
	for (int round = 0; round < 2; round++) {
		assert_int_equal(api->begin(f->s), 0);
		for (int i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "p%d-%d.example.test.", round, i);
			snprintf(ip, sizeof(ip), "10.1.%d.%d", round, i + 1);
			struct prism_source_entry e = ddns(name, PRISM_FAM_V4, ip, NULL);
			assert_int_equal(api->source_enqueue(f->s, &e), 0);
		}
		assert_int_equal(api->commit(f->s), 0);
		assert_int_equal(api->begin(f->s), 0);
		assert_int_equal(api->source_apply(f->s, PRISM_SOURCE_KEA_DDNS, 100, &f->ctx, &r,
						   &applied, &left),
				 0);
		assert_int_equal(api->commit(f->s), 0);
		assert_int_equal(applied, 40);
		for (int i = 0; i < 40; i++) {
			snprintf(name, sizeof(name), "agent%d", i);
			struct prism_host_reg g = {.hostname = name,
						   .ip = "10.2.0.1",
						   .now = 1000 + round,
						   .expires_at = 1060 + round};
			struct prism_host_reg_out o;
			assert_int_equal(api->begin(f->s), 0);
			assert_int_equal(api->host_register(f->s, &g, &o), 0);
			assert_int_equal(api->commit(f->s), 0);
		}
	}
	int most = 0;
	for (sqlite3_stmt *st = sqlite3_next_stmt(prism_sqlite_db(f->s), NULL); st != NULL;
	     st = sqlite3_next_stmt(prism_sqlite_db(f->s), st)) {
		int n = sqlite3_stmt_status(st, SQLITE_STMTSTATUS_REPREPARE, 0);
		if (n > most) {
			most = n;
			print_message("prepared again %d times: %s\n", n, sqlite3_sql(st));
		}
	}
	assert_true(most < 5); /* 80 source puts, 80 registrations */
	/* and the writes of every new host and ledger row build no temporary table (an IN
	 * list in a CHECK constraint, an OR of one column in a WHERE did) */
	static const char *const hot[] = {"INSERT INTO hosts", "INSERT INTO ledger",
					  "INSERT INTO desired", "SELECT coalesce(h.source"};
	int checked = 0;
	for (sqlite3_stmt *st = sqlite3_next_stmt(prism_sqlite_db(f->s), NULL); st != NULL;
	     st = sqlite3_next_stmt(prism_sqlite_db(f->s), st)) {
		const char *sql = sqlite3_sql(st);
		bool is_hot = false;
		for (size_t i = 0; i < sizeof(hot) / sizeof(hot[0]); i++)
			is_hot |= strncmp(sql, hot[i], strlen(hot[i])) == 0;
		if (!is_hot || (sql[0] == 'I' && strstr(sql, " SELECT ") != NULL))
			continue; /* INSERT ... SELECT (a catch-up of many rows) may sort */
		char *explain = sqlite3_mprintf("EXPLAIN %s", sql);
		sqlite3_stmt *ex;
		assert_int_equal(sqlite3_prepare_v2(prism_sqlite_db(f->s), explain, -1, &ex, NULL),
				 SQLITE_OK);
		while (sqlite3_step(ex) == SQLITE_ROW) {
			const char *op = (const char *)sqlite3_column_text(ex, 1);
			if (strcmp(op, "OpenEphemeral") == 0)
				fail_msg("a temporary table in: %s", sql);
		}
		sqlite3_finalize(ex);
		sqlite3_free(explain);
		checked++;
	}
	assert_true(checked >= 4);
}

static void test_queue(void **state)
{
	struct fx *f = *state;
	struct prism_source_sync_result r;
	size_t applied, left;
	struct prism_source_entry a = ddns("q1.example.test.", PRISM_FAM_V4, "10.0.9.1", "aa");
	struct prism_source_entry b = ddns("q2.example.test.", PRISM_FAM_V4, "10.0.9.2", "bb");
	struct prism_source_entry rm = ddns("q1.example.test.", PRISM_FAM_V4, NULL, "aa");
	rm.only_ip = "10.0.9.1";
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->source_enqueue(f->s, &a), 0);
	assert_int_equal(api->source_enqueue(f->s, &b), 0);
	assert_int_equal(api->source_enqueue(f->s, &rm), 0);
	assert_int_equal(api->commit(f->s), 0);
	/* taken in, nothing applied yet */
	assert_int_equal(q(f, "SELECT count(*) FROM source_queue"), 3);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts"), 0);
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(
		api->source_apply(f->s, PRISM_SOURCE_KEA_DDNS, 2, &f->ctx, &r, &applied, &left),
		0);
	assert_int_equal(api->commit(f->s), 0);
	assert_int_equal(applied, 2);
	assert_int_equal(left, 1);
	assert_int_equal(r.added, 2);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts"), 2);
	/* in order: the remove comes after the add of the same name */
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(
		api->source_apply(f->s, PRISM_SOURCE_KEA_DDNS, 2, &f->ctx, &r, &applied, &left),
		0);
	assert_int_equal(api->commit(f->s), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(left, 0);
	assert_int_equal(r.removed, 1);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts"), 1);
	assert_int_equal(q(f, "SELECT count(*) FROM source_queue"), 0);
	/* another source's queue is its own */
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(
		api->source_apply(f->s, PRISM_SOURCE_KEA_LEASE, 10, &f->ctx, &r, &applied, &left),
		0);
	assert_int_equal(api->commit(f->s), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(api->source_enqueue(f->s, NULL), PRISM_EINVAL);
}

/* Targets added at run time: kept, listed by name with NULLs kept, changed, forgotten. */
static void test_runtime_targets(void **state)
{
	struct fx *f = *state;
	struct prism_runtime_target a = {"pdns2",     "http://127.0.0.1:1/api/v1",
					 NULL,	      "/etc/prism/k",
					 "localhost", "example.test.",
					 "edge",      NULL,
					 42};
	struct prism_runtime_target b = {"a-first", "https://x/api/v1", "secret",
					 NULL,	    "localhost",	NULL,
					 NULL,	    "127.0.0.1:53",	43};
	struct prism_runtime_target *out;
	size_t n;
	assert_int_equal(api->runtime_target_add(NULL, &a), PRISM_EINVAL);
	assert_int_equal(api->runtime_target_add(f->s, &a), 0);
	assert_int_equal(api->runtime_target_add(f->s, &a), PRISM_ECONFLICT);
	assert_int_equal(api->runtime_target_add(f->s, &b), 0);
	assert_int_equal(api->runtime_targets(f->s, &out, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(out[0].name, "a-first"); /* by name */
	assert_string_equal(out[0].api_key, "secret");
	assert_null(out[0].api_key_file);
	assert_null(out[0].zones);
	assert_string_equal(out[0].dns_address, "127.0.0.1:53");
	assert_string_equal(out[1].api_key_file, "/etc/prism/k");
	assert_string_equal(out[1].zones, "example.test.");
	assert_string_equal(out[1].group, "edge");
	assert_int_equal(out[1].created, 42);
	prism_runtime_targets_free(out, n);
	a.zones = NULL;
	a.group = NULL;
	assert_int_equal(api->runtime_target_update(f->s, &a), 0);
	b.name = "nope";
	assert_int_equal(api->runtime_target_update(f->s, &b), PRISM_ENOTFOUND);
	assert_int_equal(api->runtime_target_delete(f->s, "a-first"), 0);
	assert_int_equal(api->runtime_target_delete(f->s, "a-first"), PRISM_ENOTFOUND);
	assert_int_equal(api->runtime_targets(f->s, &out, &n), 0);
	assert_int_equal(n, 1);
	assert_null(out[0].zones);
	assert_null(out[0].group);
	assert_int_equal(out[0].created, 42); /* kept by an update */
	prism_runtime_targets_free(out, n);
	prism_runtime_targets_free(NULL, 0);
	prism_runtime_target_clear(NULL);
}

/* The one deep copy of a run-time target (the daemon's and the API's): every string its
 * own, NULLs kept. */
static void test_runtime_target_copy(void **state)
{
	struct prism_runtime_target a = {"pdns2", "http://x/api/v1", NULL,
					 "/k",	  "localhost",	     "a.test.\nb.test.",
					 "edge",  "127.0.0.1:53",    42};
	struct prism_runtime_target c;
	(void)state;
	assert_int_equal(prism_runtime_target_copy(NULL, &c), PRISM_EINVAL);
	assert_int_equal(prism_runtime_target_copy(&a, NULL), PRISM_EINVAL);
	memset(&c, 0xff, sizeof(c)); /* whatever was there is not read */
	assert_int_equal(prism_runtime_target_copy(&a, &c), 0);
	const char *const want[] = {a.name,	 a.api_url, a.api_key, a.api_key_file,
				    a.server_id, a.zones,   a.group,   a.dns_address};
	const char *const got[] = {c.name,	c.api_url, c.api_key, c.api_key_file,
				   c.server_id, c.zones,   c.group,   c.dns_address};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (want[i] == NULL) {
			assert_null(got[i]);
			continue;
		}
		assert_string_equal(got[i], want[i]);
		assert_ptr_not_equal(got[i], want[i]);
	}
	assert_int_equal(c.created, 42);
	prism_runtime_target_clear(&c);
	assert_null(c.name);
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void register_many(struct fx *f, int first, int count)
{
	char name[64];
	assert_int_equal(api->begin(f->s), 0);
	for (int i = first; i < first + count; i++) {
		snprintf(name, sizeof(name), "ck%d", i);
		struct prism_host_reg g = {
			.hostname = name, .ip = "10.3.0.1", .now = 1000, .expires_at = 1060};
		struct prism_host_reg_out o;
		assert_int_equal(api->host_register(f->s, &g, &o), 0);
	}
	assert_int_equal(api->commit(f->s), 0);
}

/* The WAL is copied into the database by the checkpoint thread, not by the commits of the
 * writer's connection; and the WAL stays bounded when commits follow each other with no
 * pause for the thread: it never starts over then, until the writer checkpoints itself (past
 * 8,000 pages; 1,500 here, which 8,000 hosts back to back pass: without that, 2,800). */
static void test_checkpoints_off_the_writer(void **state)
{
	struct fx *f = *state;
	struct prism_sqlite_ckpt_stats ck;
	int n = 0;
	const struct timespec pause = {0, 2000000};
	/* paced: 2 ms between batches of 100 new hosts, until a checkpoint ran */
	for (int round = 0; round < 400; round++, n += 100) {
		prism_sqlite_ckpt_stats(f->s, &ck);
		if (ck.background >= 1)
			break;
		register_many(f, n, 100);
		nanosleep(&pause, NULL);
	}
	prism_sqlite_ckpt_stats(f->s, &ck);
	print_message("paced: %d hosts, checkpoints: %llu by the thread, %llu by the writer\n", n,
		      (unsigned long long)ck.background, (unsigned long long)ck.by_writer);
	assert_true(ck.background >= 1);
	assert_int_equal(ck.failed, 0);
	/* back to back: 8,000 more hosts with no pause (the thread copies while the writer
	 * commits: the WAL is never all copied when a transaction starts) */
	prism_sqlite_ckpt_inline_pages(f->s, 1500);
	char wal[80];
	snprintf(wal, sizeof(wal), "%s-wal", f->path);
	long long most = 0;
	for (int round = 0; round < 80; round++, n += 100) {
		register_many(f, n, 100);
		long long size = file_size(wal);
		most = size > most ? size : most;
	}
	prism_sqlite_ckpt_stats(f->s, &ck);
	print_message(
		"back to back: WAL at most %lld bytes; checkpoints: %llu by the thread, %llu "
		"by the writer; the WAL started over %llu times\n",
		most, (unsigned long long)ck.background, (unsigned long long)ck.by_writer,
		(unsigned long long)ck.restarts);
	assert_int_equal(ck.failed, 0);
	/* the writer stepped in and the WAL started over: 1,500 pages, plus a batch or two */
	assert_true(ck.by_writer >= 1);
	assert_true(ck.restarts >= 1);
	assert_true(most < 2000LL * (4096 + 24));
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE hostname LIKE 'ck%'"), n);
}

/* A zone added after the writer read the (target, zone) pairs: records written in it, by an
 * agent or another source, still reach its targets (the pairs are read again), and a zone
 * deleted leaves none behind. */
static void test_zone_added_later_gets_ledger_rows(void **state)
{
	struct fx *f = *state;
	struct prism_source_result r;
	/* the pairs are read by the first write */
	struct prism_source_entry d = ddns("a.example.test.", PRISM_FAM_V4, "10.0.3.1", "aa");
	assert_int_equal(put(f, &d, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	static const char *const later_zones[] = {"example.test.", "later.test.", NULL};
	struct prism_zone_spec z = {.name = "later.test.",
				    .kind = "Native",
				    .targets = "all",
				    .nameservers = "ns1.later.test.",
				    .soa = "ns1.later.test. hostmaster.later.test. 1 3600 600 "
					   "86400 60",
				    .ttl = 60};
	const char *const targets[] = {"t1", NULL};
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->zone_create(f->s, &z, targets, 1000), 0);
	assert_int_equal(api->commit(f->s), 0);
	f->ctx.zones = later_zones;
	d = ddns("b.later.test.", PRISM_FAM_V4, "10.0.3.2", "bb");
	d.zone = "later.test.";
	assert_int_equal(put(f, &d, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	struct prism_host_reg_out out;
	struct prism_host_reg reg = agent_reg("web9", "10.0.3.3", "later.test.", later_zones);
	register_one(f, &reg, &out);
	assert_int_equal(out.result, PRISM_REG_NEW);
	assert_int_equal(q(f, "SELECT count(*) FROM ledger WHERE target = 't1' AND zone = "
			      "'later.test.' AND status = 'pending' AND name IN "
			      "('b.later.test.', 'web9.later.test.')"),
			 2);
	/* deleted: a record written afterwards in it goes nowhere */
	size_t nt;
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->zone_delete(f->s, "later.test.", 1001, &nt), 0);
	assert_int_equal(api->commit(f->s), 0);
	d = ddns("c.later.test.", PRISM_FAM_V4, "10.0.3.4", "cc");
	d.zone = "later.test.";
	assert_int_equal(put(f, &d, &r), 0);
	assert_int_equal(q(f, "SELECT count(*) FROM ledger WHERE zone = 'later.test.'"), 0);
}

/* host_counts and host_sync_counts as the hosts are: a host is counted by the statement
 * that inserts it (no insert triggers), also when its job is rolled back. */
static void expect_counts_match(struct fx *f)
{
	static const char *const sql[][2] = {
		{"SELECT n FROM host_counts WHERE status = 'online'",
		 "SELECT count(*) FROM hosts WHERE status = 'online'"},
		{"SELECT n FROM host_counts WHERE status = 'offline'",
		 "SELECT count(*) FROM hosts WHERE status = 'offline'"},
		{"SELECT n FROM host_sync_counts WHERE status = 'pending'",
		 "SELECT count(*) FROM hosts WHERE dns_sync_status = 'pending'"},
		{"SELECT n FROM host_sync_counts WHERE status = 'synced'",
		 "SELECT count(*) FROM hosts WHERE dns_sync_status = 'synced'"},
		{"SELECT n FROM host_sync_counts WHERE status = 'disabled'",
		 "SELECT count(*) FROM hosts WHERE dns_sync_status = 'disabled'"},
	};
	for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		assert_int_equal(q(f, sql[i][0]), q(f, sql[i][1]));
}

static void test_host_counts_kept(void **state)
{
	struct fx *f = *state;
	struct prism_host_reg_out out;
	struct prism_host_reg reg = agent_reg("c1", "10.0.4.1", "example.test.", zones);
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->host_register(f->s, &reg, &out), 0);
	reg.hostname = "c2";
	reg.ip = "10.0.4.2";
	reg.dns.enabled = false; /* DNS off: counted as disabled */
	assert_int_equal(api->host_register(f->s, &reg, &out), 0);
	/* a job rolled back: its host is neither there nor counted */
	assert_int_equal(api->savepoint(f->s), 0);
	reg.hostname = "c3";
	reg.ip = "10.0.4.3";
	assert_int_equal(api->host_register(f->s, &reg, &out), 0);
	assert_int_equal(api->release(f->s, false), 0);
	assert_int_equal(api->commit(f->s), 0);
	struct prism_source_result r;
	struct prism_source_entry d = ddns("k1.example.test.", PRISM_FAM_V4, "10.0.4.4", "aa");
	assert_int_equal(put(f, &d, &r), 0);
	assert_int_equal(r.outcome, PRISM_SOURCE_ADDED);
	struct prism_host_import h = {.hostname = "old1",
				      .ip = "10.0.4.5",
				      .online = false,
				      .first_seen = 900,
				      .last_seen = 950,
				      .records = false,
				      .now = 1000,
				      .dns = reg.dns};
	h.dns.enabled = true;
	enum prism_import_outcome io;
	assert_int_equal(api->begin(f->s), 0);
	assert_int_equal(api->host_import(f->s, &h, &io), 0);
	assert_int_equal(api->commit(f->s), 0);
	assert_int_equal(io, PRISM_IMPORT_ADDED);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts"), 4);
	assert_int_equal(q(f, "SELECT count(*) FROM hosts WHERE hostname = 'c3'"), 0);
	assert_int_equal(q(f, "SELECT n FROM host_counts WHERE status = 'online'"), 3);
	assert_int_equal(q(f, "SELECT n FROM host_counts WHERE status = 'offline'"), 1);
	assert_int_equal(q(f, "SELECT n FROM host_sync_counts WHERE status = 'synced'"), 1);
	expect_counts_match(f);
	/* and as before for the rest: a deletion and a change of status (triggers) */
	assert_int_equal(sqlite3_exec(f->peek,
				      "DELETE FROM hosts WHERE hostname = 'c1';"
				      "UPDATE hosts SET status = 'offline' WHERE hostname = "
				      "'c2'",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	expect_counts_match(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_records_and_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dhcid_and_families, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sources_conflict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_and_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_statements_stay_prepared, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints_off_the_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_runtime_targets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zone_added_later_gets_ledger_rows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_host_counts_kept, setup, teardown),
		cmocka_unit_test(test_runtime_target_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
