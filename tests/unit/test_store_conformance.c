/* SPDX-License-Identifier: MIT */
/*
 * The store interface's conformance suite (store.h): what every backend must do, written
 * against the function tables only (writes through struct prism_store_api, reads through
 * its reader), never the backend's own database API. Each backend of `backends` runs every
 * test on a fresh registry: SQLite on a temporary file; PostgreSQL, when PRISM_TEST_PG_URL
 * names a server (libpq URI or key=value; a user that may create databases), on a database
 * of its own made for each test and dropped after it. A test that needs a function the
 * backend does not have (NULL in its table) is skipped, and says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <inttypes.h>
#include <libpq-fe.h>

#include "core/error.h"
#include "core/pdns_json.h"
#include "core/rrset.h"
#include "store/store.h"

/* ---- backends ---- */

struct backend {
	const char *name;
	const struct prism_store_api *api;
	/* a fresh, empty registry: fills opts (and what its path points at) */
	int (*make)(char *path, size_t len, struct prism_store_opts *o);
	void (*drop)(const char *path);
};

static int sqlite_make(char *path, size_t len, struct prism_store_opts *o)
{
	snprintf(path, len, "/tmp/prism-test-conformance-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	*o = (struct prism_store_opts){.path = path};
	return 0;
}

static void sqlite_drop(const char *path)
{
	char p[128];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* A connection string: @p url with its dbname set to @p db (key=value form). */
static int pg_url_with_db(const char *url, const char *db, char *out, size_t len)
{
	PQconninfoOption *opts = PQconninfoParse(url, NULL);
	size_t off = 0;
	if (opts == NULL)
		return -1;
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? db : o->val;
		if (v == NULL || v[0] == '\0')
			continue;
		off += (size_t)snprintf(out + off, off < len ? len - off : 0, "%s%s='",
					off ? " " : "", o->keyword);
		for (; *v; v++) /* quote ' and \ */
			off += (size_t)snprintf(out + off, off < len ? len - off : 0, "%s%c",
						*v == '\'' || *v == '\\' ? "\\" : "", *v);
		off += (size_t)snprintf(out + off, off < len ? len - off : 0, "'");
	}
	PQconninfoFree(opts);
	return off < len ? 0 : -1;
}

/* Run @p sql on the server's maintenance database (CREATE/DROP DATABASE). */
static int pg_admin(const char *sql)
{
	char url[1024];
	if (pg_url_with_db(getenv("PRISM_TEST_PG_URL"), "postgres", url, sizeof(url)) != 0)
		return -1;
	PGconn *c = PQconnectdb(url);
	PGresult *r = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
	int rc = r && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc != 0)
		print_error("postgresql: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	PQfinish(c);
	return rc;
}

static char pg_url[1024];

/* @p path receives the database's name. */
static int pg_make(char *path, size_t len, struct prism_store_opts *o)
{
	static unsigned seq;
	char sql[160];
	snprintf(path, len, "prism_conformance_%ld_%u", (long)getpid(), seq++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", path);
	if (pg_admin(sql) != 0 ||
	    pg_url_with_db(getenv("PRISM_TEST_PG_URL"), path, pg_url, sizeof(pg_url)) != 0)
		return -1;
	*o = (struct prism_store_opts){.url = pg_url};
	return 0;
}

static void pg_drop(const char *path)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", path);
	pg_admin(sql);
}

static const struct backend backends[] = {
	{"sqlite", &prism_store_sqlite, sqlite_make, sqlite_drop},
	{"postgresql", &prism_store_postgresql, pg_make, pg_drop},
};

/* Whether backend @p b runs here: PostgreSQL only with PRISM_TEST_PG_URL. */
static bool backend_runs(const struct backend *b)
{
	return b->api != &prism_store_postgresql || getenv("PRISM_TEST_PG_URL") != NULL;
}

/* Skip the test when the backend lacks @p fn (a member of the write or the read table). */
#define NEED(f, table, fn)                                                                        \
	do {                                                                                      \
		if ((f)->table == NULL || (f)->table->fn == NULL) {                               \
			print_message("[  SKIP    ] %s: " #fn " is not implemented\n",            \
				      (f)->b->name);                                              \
			skip();                                                                   \
		}                                                                                 \
	} while (0)

/* ---- fixture ---- */

#define ZONE "example.test."

static const char *const zones[] = {ZONE, "10.in-addr.arpa.", NULL};

struct fx {
	const struct backend *b;
	const struct prism_store_api *api;
	const struct prism_store_read_api *rd;
	char path[128];
	struct prism_store *s;
	struct prism_store_reader *r;
};

static const struct backend *current;

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	struct prism_store_opts o;
	assert_non_null(f);
	f->b = current;
	f->api = current->api;
	f->rd = current->api->read;
	assert_int_equal(f->b->make(f->path, sizeof(f->path), &o), 0);
	if (f->api->open(&o, &f->s, err, sizeof(err)) != 0)
		fail_msg("%s: open: %s", f->b->name, err);
	if (f->rd != NULL && f->rd->open(&o, &f->r, err, sizeof(err)) != 0)
		fail_msg("%s: reader open: %s", f->b->name, err);
	*state = f;
	if (f->api->targets_sync == NULL)
		return 0; /* every test needs it: each skips */
	static const struct prism_target_zone tz[] = {
		{"t1", ZONE},
		{"t1", "10.in-addr.arpa."},
		{"t2", ZONE},
	};
	size_t caught;
	assert_int_equal(f->api->begin(f->s), 0);
	assert_int_equal(f->api->targets_sync(f->s, tz, 3, 1000, &caught), 0);
	assert_int_equal(f->api->commit(f->s), 0);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->rd != NULL)
		f->rd->close(f->r);
	f->api->close(f->s);
	f->b->drop(f->path);
	free(f);
	return 0;
}

/* ---- helpers: one job, one transaction ---- */

static void begin(struct fx *f)
{
	assert_int_equal(f->api->begin(f->s), 0);
}

static void commit(struct fx *f)
{
	assert_int_equal(f->api->commit(f->s), 0);
}

/* One registration in its own transaction: @p owner the token hash or NULL, @p ttl the DNS
 * TTL, @p ptr reverse records on. */
static struct prism_host_reg_out reg_as(struct fx *f, const char *host, const char *ip,
					int64_t now, const char *owner, uint32_t ttl, bool ptr)
{
	struct prism_host_reg g = {
		.hostname = host,
		.ip = ip,
		.now = now,
		.expires_at = now + 60,
		.owner = owner,
		.dns = {.enabled = true,
			.zone = ZONE,
			.ttl = ttl,
			.publish_a = true,
			.publish_aaaa = true,
			.auto_ptr = ptr,
			.zones = zones},
	};
	struct prism_host_reg_out out;
	begin(f);
	assert_int_equal(f->api->host_register(f->s, &g, &out), 0);
	commit(f);
	return out;
}

static struct prism_host_reg_out reg(struct fx *f, const char *host, const char *ip, int64_t now)
{
	return reg_as(f, host, ip, now, NULL, 300, true);
}

struct host_seen {
	char sync[16];
	int64_t id;
	char ip[64], status[16];
	bool bound;
};

static int host_copy(void *ctx, const struct prism_host_view *h)
{
	struct host_seen *s = ctx;
	s->id = h->id;
	snprintf(s->ip, sizeof(s->ip), "%.*s", (int)h->current_ip.len, h->current_ip.s);
	snprintf(s->status, sizeof(s->status), "%.*s", (int)h->status.len, h->status.s);
	s->bound = h->bound;
	snprintf(s->sync, sizeof(s->sync), "%.*s", (int)h->dns_sync_status.len,
		 h->dns_sync_status.s);
	return 0;
}

/* The host's dns_sync_status, as ledger_mark left it. */
static void assert_host_sync(struct fx *f, const char *host, const char *want)
{
	struct host_seen h = {0};
	assert_int_equal(f->rd->host_get(f->r, 0, host, host_copy, &h), 0);
	assert_string_equal(h.sync, want);
}

struct ledger_seen {
	size_t n;
	char status[8][16];
	char target[8][16];
};

static int ledger_copy(void *ctx, const struct prism_ledger_view *l)
{
	struct ledger_seen *s = ctx;
	if (s->n < 8) {
		snprintf(s->status[s->n], 16, "%.*s", (int)l->status.len, l->status.s);
		snprintf(s->target[s->n], 16, "%.*s", (int)l->target.len, l->target.s);
	}
	s->n++;
	return 0;
}

static int64_t count_of(struct fx *f, const char *target, int status)
{
	int64_t n[4], oldest;
	assert_int_equal(f->rd->ledger_counts(f->r, target, n, &oldest), 0);
	return n[status];
}

enum { PENDING, SYNCED, FAILED, CONFLICT };

/* ---- hosts ---- */

static void test_hosts(void **state)
{
	struct fx *f = *state;
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, host_delete);
	NEED(f, api, host_register);
	NEED(f, api, hosts_cleanup);
	NEED(f, api, hosts_expire);
	NEED(f, api, targets_sync);
	NEED(f, rd, host_counts);
	NEED(f, rd, host_get);
	NEED(f, rd, host_ledger);
	NEED(f, rd, hosts_max_id);
	NEED(f, rd, hosts_search_count);
	struct prism_host_reg_out o = reg(f, "web1", "10.0.0.1", 1000);
	assert_int_equal(o.result, PRISM_REG_NEW);
	assert_string_equal(o.fqdn, "web1." ZONE);
	assert_true(o.dns_changed);
	struct host_seen h = {0};
	assert_int_equal(f->rd->host_get(f->r, 0, "web1", host_copy, &h), 0);
	assert_int_equal(h.id, o.host_id);
	assert_string_equal(h.ip, "10.0.0.1");
	assert_string_equal(h.status, "online");
	assert_int_equal(f->rd->host_get(f->r, o.host_id + 100, NULL, host_copy, &h),
			 PRISM_ENOTFOUND);
	/* the same address is a heartbeat, another one a change */
	assert_int_equal(reg(f, "web1", "10.0.0.1", 1010).result, PRISM_REG_HEARTBEAT);
	o = reg(f, "web1", "10.0.0.2", 1020);
	assert_int_equal(o.result, PRISM_REG_IP_CHANGED);
	assert_string_equal(o.old_ip, "10.0.0.1");
	reg(f, "web2", "10.0.0.3", 1020);
	struct prism_host_counts hc;
	assert_int_equal(f->rd->host_counts(f->r, &hc), 0);
	assert_int_equal(hc.online, 2);
	assert_int_equal(hc.offline, 0);
	assert_int_equal(hc.last_seen, 1020);
	assert_int_equal(hc.sync[0], 2); /* both pending */
	int64_t n, max;
	assert_int_equal(f->rd->hosts_search_count(f->r, NULL, "web", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(f->rd->hosts_search_count(f->r, "offline", "web", &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(f->rd->hosts_max_id(f->r, &max), 0);
	assert_true(max >= o.host_id);
	/* the host's rows: its A and its PTR where they are served */
	struct ledger_seen lg = {0};
	assert_int_equal(f->rd->host_ledger(f->r, o.host_id, ledger_copy, &lg), 0);
	/* A on t1 and t2, the PTR on t1, and on t1 the deletion of the old address's PTR */
	assert_int_equal(lg.n, 4);
	/* expiry: offline, then cleanup deletes */
	size_t changed;
	bool dns;
	begin(f);
	assert_int_equal(f->api->hosts_expire(f->s, 1100, 10, true, &changed, &dns), 0);
	commit(f);
	assert_int_equal(changed, 2);
	assert_true(dns);
	assert_int_equal(f->rd->host_get(f->r, 0, "web1", host_copy, &h), 0);
	assert_string_equal(h.status, "offline");
	assert_int_equal(reg(f, "web1", "10.0.0.2", 1110).result, PRISM_REG_RECONNECTED);
	begin(f);
	assert_int_equal(f->api->hosts_cleanup(f->s, 2000, 10, &changed, &dns), 0);
	commit(f);
	assert_int_equal(changed, 1); /* web2, offline since 1100 */
	assert_int_equal(f->rd->host_get(f->r, 0, "web2", host_copy, &h), PRISM_ENOTFOUND);
	/* the API's delete */
	struct prism_host_brief b;
	begin(f);
	assert_int_equal(f->api->host_delete(f->s, o.host_id, 1200, &b, &dns), 0);
	assert_int_equal(f->api->host_delete(f->s, o.host_id, 1200, &b, &dns), PRISM_ENOTFOUND);
	commit(f);
	assert_string_equal(b.hostname, "web1");
	assert_int_equal(f->rd->host_get(f->r, o.host_id, NULL, host_copy, &h), PRISM_ENOTFOUND);
}

struct list_seen {
	size_t hosts, rows;
	int64_t ids[8];
};

static int list_host(void *ctx, const struct prism_host_view *h)
{
	struct list_seen *s = ctx;
	if (s->hosts < 8)
		s->ids[s->hosts] = h->id;
	s->hosts++;
	return 0;
}

static int list_row(void *ctx, const struct prism_ledger_view *l)
{
	((struct list_seen *)ctx)->rows++;
	return 0;
}

/* Reverse records off: a plain heartbeat can then be a single write. */
static struct prism_host_reg_out beat(struct fx *f, const char *host, const char *ip, int64_t now,
				      const char *owner, uint32_t ttl)
{
	return reg_as(f, host, ip, now, owner, ttl, false);
}

/* A host goes offline when its last heartbeat's time to live has passed, not before, however
 * the backend keeps that time (SQLite moves expires_at only now and then), also when the
 * sweep takes fewer hosts at a time than are due. */
static void test_heartbeat_expiry(void **state)
{
	struct fx *f = *state;
	NEED(f, api, host_register);
	NEED(f, api, hosts_expire);
	NEED(f, rd, host_get);
	static const char *const names[3] = {"ttl1", "ttl2", "ttl3"};
	for (int i = 0; i < 3; i++) {
		char ip[16];
		snprintf(ip, sizeof(ip), "10.0.8.%d", i + 1);
		assert_int_equal(beat(f, names[i], ip, 1000, NULL, 300).result, PRISM_REG_NEW);
		for (int64_t t = 1010; t <= 1040; t += 10) /* each lives 60 s: until 1100 */
			assert_int_equal(beat(f, names[i], ip, t, NULL, 300).result,
					 PRISM_REG_HEARTBEAT);
	}
	size_t changed;
	bool dns;
	/* past the first registration's expiry, one host at a time: none is due */
	for (int64_t now = 1061; now <= 1100; now += 13) {
		for (int k = 0; k < 4; k++) {
			begin(f);
			assert_int_equal(f->api->hosts_expire(f->s, now, 1, false, &changed, &dns),
					 0);
			commit(f);
			assert_int_equal(changed, 0);
		}
	}
	struct host_seen h = {0};
	assert_int_equal(f->rd->host_get(f->r, 0, "ttl2", host_copy, &h), 0);
	assert_string_equal(h.status, "online");
	size_t total = 0;
	for (int k = 0; k < 6; k++) {
		begin(f);
		assert_int_equal(f->api->hosts_expire(f->s, 1101, 1, false, &changed, &dns), 0);
		commit(f);
		total += changed;
	}
	assert_int_equal(total, 3);
	assert_int_equal(f->rd->host_get(f->r, 0, "ttl2", host_copy, &h), 0);
	assert_string_equal(h.status, "offline");
}

/* Only the times change in a heartbeat; anything else goes the full way. */
static void test_heartbeats(void **state)
{
	struct fx *f = *state;
	NEED(f, api, host_register);
	NEED(f, api, hosts_expire);
	NEED(f, rd, host_get);
	const char *tok = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct prism_host_reg_out o = beat(f, "hb1", "10.0.9.1", 1000, tok, 300);
	assert_int_equal(o.result, PRISM_REG_NEW);
	int64_t id = o.host_id;
	o = beat(f, "hb1", "10.0.9.1", 1010, tok, 300);
	assert_int_equal(o.result, PRISM_REG_HEARTBEAT);
	assert_int_equal(o.host_id, id);
	assert_string_equal(o.fqdn, "hb1." ZONE);
	assert_false(o.dns_changed);
	/* another token: refused, nothing written */
	o = beat(f, "hb1", "10.0.9.1", 1020, "ff", 300);
	assert_true(o.owned_by_other);
	o = beat(f, "hb1", "10.0.9.1", 1020, NULL, 300);
	assert_true(o.owned_by_other);
	/* another TTL: the record is rewritten */
	o = beat(f, "hb1", "10.0.9.1", 1030, tok, 600);
	assert_int_equal(o.result, PRISM_REG_HEARTBEAT);
	assert_true(o.dns_changed);
	assert_int_equal(beat(f, "hb1", "10.0.9.1", 1040, tok, 600).dns_changed, false);
	/* another address of the family */
	o = beat(f, "hb1", "10.0.9.2", 1050, tok, 600);
	assert_int_equal(o.result, PRISM_REG_IP_CHANGED);
	assert_string_equal(o.old_ip, "10.0.9.1");
	/* offline: back as a reconnection, then heartbeats again */
	size_t changed;
	bool dns;
	begin(f);
	assert_int_equal(f->api->hosts_expire(f->s, 1200, 10, false, &changed, &dns), 0);
	commit(f);
	assert_int_equal(changed, 1);
	assert_int_equal(beat(f, "hb1", "10.0.9.2", 1210, tok, 600).result, PRISM_REG_RECONNECTED);
	o = beat(f, "hb1", "10.0.9.2", 1220, tok, 600);
	assert_int_equal(o.result, PRISM_REG_HEARTBEAT);
	assert_int_equal(o.host_id, id);
	struct host_seen h = {0};
	assert_int_equal(f->rd->host_get(f->r, id, NULL, host_copy, &h), 0);
	assert_string_equal(h.status, "online");
	assert_true(h.bound);
}

static void test_host_list(void **state)
{
	struct fx *f = *state;
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, host_register);
	NEED(f, api, targets_sync);
	NEED(f, rd, hosts_list);
	int64_t a = reg(f, "a1", "10.0.1.1", 1000).host_id;
	int64_t b = reg(f, "b1", "10.0.1.2", 1000).host_id;
	int64_t c = reg(f, "a2", "10.0.1.3", 1000).host_id;
	struct prism_hosts_visit v = {list_host, list_row, NULL};
	struct list_seen s = {0};
	struct prism_hosts_query q = {.limit = 2, .with_ledger = true};
	assert_int_equal(f->rd->hosts_list(f->r, &q, &v, &s), 0);
	assert_int_equal(s.hosts, 2);
	assert_int_equal(s.ids[0], a);
	assert_int_equal(s.ids[1], b);
	assert_true(s.rows >= 4); /* each host's rows follow it */
	/* keyset: after the second */
	memset(&s, 0, sizeof(s));
	q.after = b;
	assert_int_equal(f->rd->hosts_list(f->r, &q, &v, &s), 0);
	assert_int_equal(s.hosts, 1);
	assert_int_equal(s.ids[0], c);
	/* a search, and the compatibility list's offsets */
	memset(&s, 0, sizeof(s));
	q = (struct prism_hosts_query){.search = "a", .limit = 10};
	assert_int_equal(f->rd->hosts_list(f->r, &q, &v, &s), 0);
	assert_int_equal(s.hosts, 2);
	assert_int_equal(s.rows, 0);
	memset(&s, 0, sizeof(s));
	q = (struct prism_hosts_query){
		.compat = true, .offset = 1, .limit = 10, .status = "online"};
	assert_int_equal(f->rd->hosts_list(f->r, &q, &v, &s), 0);
	assert_int_equal(s.hosts, 2);
	assert_int_equal(s.ids[0], b);
}

/* ---- tokens and keys ---- */

struct names_seen {
	size_t n;
	char names[8][32];
	bool flag[8];
};

static int token_copy(void *ctx, const struct prism_token_view *t)
{
	struct names_seen *s = ctx;
	snprintf(s->names[s->n], 32, "%.*s", (int)t->name.len, t->name.s);
	s->flag[s->n++] = t->active;
	return 0;
}

static int key_copy(void *ctx, const struct prism_apikey_view *k)
{
	struct names_seen *s = ctx;
	snprintf(s->names[s->n], 32, "%.*s", (int)k->name.len, k->name.s);
	s->flag[s->n++] = !k->revoked;
	return 0;
}

static void test_tokens(void **state)
{
	struct fx *f = *state;
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, host_register);
	NEED(f, api, host_release);
	NEED(f, api, targets_sync);
	NEED(f, api, token_create);
	NEED(f, api, token_revoke);
	NEED(f, rd, host_get);
	NEED(f, rd, tokens_list);
	begin(f);
	assert_int_equal(f->api->token_create(f->s, "rack1", "h1", 1000, 0), 0);
	assert_int_equal(f->api->token_create(f->s, "rack1", "h2", 1000, 0), PRISM_ECONFLICT);
	assert_int_equal(f->api->token_create(f->s, "rack2", "h1", 1000, 0), PRISM_ECONFLICT);
	assert_int_equal(f->api->token_create(f->s, "rack2", "h3", 1000, 5000), 0);
	commit(f);
	struct names_seen s = {0};
	assert_int_equal(f->rd->tokens_list(f->r, NULL, 10, token_copy, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "rack1");
	assert_true(s.flag[0]);
	memset(&s, 0, sizeof(s));
	assert_int_equal(f->rd->tokens_list(f->r, "rack1", 10, token_copy, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.names[0], "rack2");
	size_t changed;
	begin(f);
	assert_int_equal(f->api->token_revoke(f->s, "rack1", &changed), 0);
	assert_int_equal(changed, 1);
	assert_int_equal(f->api->token_revoke(f->s, "nope", &changed), PRISM_ENOTFOUND);
	commit(f);
	memset(&s, 0, sizeof(s));
	assert_int_equal(f->rd->tokens_list(f->r, NULL, 1, token_copy, &s), 0);
	assert_int_equal(s.n, 1);
	assert_false(s.flag[0]);
	/* a registration with a revoked token is refused, with a known one it binds the name */
	struct prism_host_reg g = {.hostname = "bound",
				   .ip = "10.0.2.1",
				   .now = 1000,
				   .expires_at = 1060,
				   .owner = "h3",
				   .check_token = true};
	/* the registrations and their answers stay the caller's until the commit returns
	 * (a backend may pipeline them): one each, read after it */
	struct prism_host_reg g2 = g, g3 = g;
	struct prism_host_reg_out out[3];
	g2.owner = "h1";
	g3.owner = "h9";
	begin(f);
	assert_int_equal(f->api->host_register(f->s, &g, &out[0]), 0);
	assert_int_equal(f->api->host_register(f->s, &g2, &out[1]), 0);
	assert_int_equal(f->api->host_register(f->s, &g3, &out[2]), 0);
	commit(f);
	assert_int_equal(out[0].token, PRISM_TOKEN_OK);
	assert_int_equal(out[1].token, PRISM_TOKEN_INACTIVE);
	assert_int_equal(out[2].token, PRISM_TOKEN_NOT_FOUND);
	struct host_seen h;
	assert_int_equal(f->rd->host_get(f->r, 0, "bound", host_copy, &h), 0);
	assert_true(h.bound);
	struct prism_host_brief b;
	begin(f);
	assert_int_equal(f->api->host_release(f->s, h.id, &b), 0);
	commit(f);
	assert_true(b.owned);
	assert_int_equal(f->rd->host_get(f->r, 0, "bound", host_copy, &h), 0);
	assert_false(h.bound);
}

static void test_keys(void **state)
{
	struct fx *f = *state;
	NEED(f, api, apikey_add);
	NEED(f, api, apikey_revoke);
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, targets_sync);
	NEED(f, rd, apikey_by_hash);
	NEED(f, rd, apikeys_any);
	NEED(f, rd, apikeys_list);
	bool any;
	assert_int_equal(f->rd->apikeys_any(f->r, &any), 0);
	assert_false(any);
	begin(f);
	assert_int_equal(f->api->apikey_add(f->s, "ops", "kh1", "admin", 1000), 0);
	assert_int_equal(f->api->apikey_add(f->s, "ops", "kh2", "read", 1000), PRISM_ECONFLICT);
	assert_int_equal(f->api->apikey_add(f->s, "ro", "kh3", "read", 1000), 0);
	commit(f);
	assert_int_equal(f->rd->apikeys_any(f->r, &any), 0);
	assert_true(any);
	char name[64], role[16];
	assert_int_equal(
		f->rd->apikey_by_hash(f->r, "kh1", name, sizeof(name), role, sizeof(role)), 0);
	assert_string_equal(name, "ops");
	assert_string_equal(role, "admin");
	assert_int_equal(
		f->rd->apikey_by_hash(f->r, "kh9", name, sizeof(name), role, sizeof(role)),
		PRISM_ENOTFOUND);
	size_t changed;
	begin(f);
	assert_int_equal(f->api->apikey_revoke(f->s, "ops", &changed), 0);
	assert_int_equal(f->api->apikey_revoke(f->s, "nope", &changed), PRISM_ENOTFOUND);
	commit(f);
	assert_int_equal(
		f->rd->apikey_by_hash(f->r, "kh1", name, sizeof(name), role, sizeof(role)),
		PRISM_ENOTFOUND);
	struct names_seen s = {0};
	assert_int_equal(f->rd->apikeys_list(f->r, NULL, 10, key_copy, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "ops");
	assert_false(s.flag[0]);
	assert_true(s.flag[1]);
}

/* ---- the ledger ---- */

/* The one due row of @p target is pushed: marked synced. */
static void sync_one_due(struct fx *f, const char *target)
{
	struct prism_ledger_row *rows;
	size_t n;
	int64_t next;
	assert_int_equal(f->api->ledger_due(f->s, target, 1600000, 10, &rows, &n, &next), 0);
	assert_int_equal(n, 1);
	struct prism_ledger_mark m = {rows[0].zone, rows[0].name, rows[0].type,
				      rows[0].desired_hash, .ok = true};
	begin(f);
	assert_int_equal(f->api->ledger_mark(f->s, target, &m, 1, 1600000), 0);
	commit(f);
	prism_ledger_rows_free(rows, n);
}

static void test_ledger_transitions(void **state)
{
	struct fx *f = *state;
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, host_register);
	NEED(f, api, ledger_due);
	NEED(f, api, ledger_mark);
	NEED(f, api, ledger_retry);
	NEED(f, api, targets_sync);
	NEED(f, rd, ledger_counts);
	NEED(f, rd, sync_rows);
	NEED(f, rd, host_get);
	reg(f, "db1", "10.0.3.1", 1000);
	/* A on t1 and t2, the PTR on t1 only (t2 does not serve the reverse zone) */
	assert_int_equal(count_of(f, "t1", PENDING), 2);
	assert_int_equal(count_of(f, "t2", PENDING), 1);
	struct prism_ledger_row *rows;
	size_t n;
	int64_t next;
	assert_int_equal(f->api->ledger_due(f->s, "t1", 1000000, 10, &rows, &n, &next), 0);
	assert_int_equal(n, 2);
	struct prism_ledger_mark m[2];
	for (size_t i = 0; i < n; i++)
		m[i] = (struct prism_ledger_mark){rows[i].zone,		  rows[i].name,
						  rows[i].type,		  rows[i].desired_hash,
						  .ok = i == 0,		  .error = "refused",
						  .next_attempt = 2000000};
	begin(f);
	assert_int_equal(f->api->ledger_mark(f->s, "t1", m, n, 1000000), 0);
	commit(f);
	prism_ledger_rows_free(rows, n);
	assert_int_equal(count_of(f, "t1", SYNCED), 1);
	assert_int_equal(count_of(f, "t1", FAILED), 1);
	assert_host_sync(f, "db1", "failed"); /* any failed row of the host, on any target */
	/* a failed row is not due before its next attempt */
	assert_int_equal(f->api->ledger_due(f->s, "t1", 1500000, 10, &rows, &n, &next), 0);
	assert_int_equal(n, 0);
	assert_int_equal(next, 2000000);
	prism_ledger_rows_free(rows, n);
	struct ledger_seen s = {0};
	assert_int_equal(f->rd->sync_rows(f->r, "t1", "failed", 10, ledger_copy, &s), 0);
	assert_int_equal(s.n, 1);
	/* retry: pending, due now */
	size_t retried;
	begin(f);
	assert_int_equal(f->api->ledger_retry(f->s, "t1", 1600, &retried), 0);
	commit(f);
	assert_int_equal(retried, 1);
	assert_int_equal(count_of(f, "t1", FAILED), 0);
	assert_int_equal(count_of(f, "t1", PENDING), 1);
	assert_host_sync(f, "db1", "pending");
	/* the retried row synced: t2's row is still pending, so is the host */
	sync_one_due(f, "t1");
	assert_host_sync(f, "db1", "pending");
	/* and t2's: every row synced */
	sync_one_due(f, "t2");
	assert_host_sync(f, "db1", "synced");
	reg(f, "db1", "10.0.3.3", 1650); /* pending again everywhere */
	/* a mark for an older desired state leaves the newer one pending */
	assert_int_equal(f->api->ledger_due(f->s, "t2", 1600000, 10, &rows, &n, &next), 0);
	assert_int_equal(n, 1);
	reg(f, "db1", "10.0.3.2", 1700); /* the address changes while the push is on its way */
	struct prism_ledger_mark late = {rows[0].zone, rows[0].name, rows[0].type,
					 rows[0].desired_hash, .ok = true};
	begin(f);
	assert_int_equal(f->api->ledger_mark(f->s, "t2", &late, 1, 1700000), 0);
	commit(f);
	prism_ledger_rows_free(rows, n);
	assert_int_equal(count_of(f, "t2", PENDING), 1);
	assert_int_equal(count_of(f, "t2", SYNCED), 0);
	/* conflict */
	assert_int_equal(f->api->ledger_due(f->s, "t2", 1800000, 10, &rows, &n, &next), 0);
	assert_int_equal(n, 1);
	struct prism_ledger_mark c = {rows[0].zone, rows[0].name, rows[0].type,
				      rows[0].desired_hash, .conflict = true};
	begin(f);
	assert_int_equal(f->api->ledger_mark(f->s, "t2", &c, 1, 1800000), 0);
	commit(f);
	prism_ledger_rows_free(rows, n);
	assert_int_equal(count_of(f, "t2", CONFLICT), 1);
	assert_host_sync(f, "db1", "failed");
}

static void test_reconcile_marks(void **state)
{
	struct fx *f = *state;
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, host_register);
	NEED(f, api, reconcile);
	NEED(f, api, targets_sync);
	NEED(f, rd, ledger_counts);
	reg(f, "app", "10.0.4.1", 1000);
	reg(f, "api", "10.0.4.2", 1000);
	/* t2 holds app's A as wanted (synced), a foreign RRset at api, an owned leftover */
	const char *app_rec[] = {"10.0.4.1"}, *api_rec[] = {"192.0.2.9"},
		   *old_rec[] = {"10.9.9.9"};
	struct prism_rr_change app = {"app." ZONE, "A", 300, app_rec, 1};
	struct prism_rr_change apia = {"api." ZONE, "A", 300, api_rec, 1};
	struct prism_rr_change old = {"old." ZONE, "A", 300, old_rec, 1};
	struct prism_actual_rrset v[] = {
		{(char *)"app." ZONE, (char *)"A", 300, prism_rrset_hash(&app), true},
		{(char *)"api." ZONE, (char *)"A", 300, prism_rrset_hash(&apia), false},
		{(char *)"old." ZONE, (char *)"A", 300, prism_rrset_hash(&old), true},
	};
	struct prism_actual_zone actual = {v, 3};
	struct prism_reconcile_result res = {0};
	/* a dry run plans and changes nothing */
	begin(f);
	assert_int_equal(f->api->reconcile(f->s, "t2", ZONE, &actual, false, true, 1100, &res), 0);
	commit(f);
	assert_int_equal(res.in_sync, 1);
	assert_int_equal(res.conflict, 1);
	assert_int_equal(res.remove, 1);
	assert_int_equal(res.nitems, 2);
	prism_reconcile_result_free(&res);
	assert_int_equal(count_of(f, "t2", PENDING), 2);
	memset(&res, 0, sizeof(res));
	begin(f);
	assert_int_equal(f->api->reconcile(f->s, "t2", ZONE, &actual, false, false, 1100, &res),
			 0);
	commit(f);
	prism_reconcile_result_free(&res);
	assert_int_equal(count_of(f, "t2", SYNCED), 1);
	assert_int_equal(count_of(f, "t2", CONFLICT), 1);
	assert_int_equal(count_of(f, "t2", PENDING), 1); /* old's deletion */
	/* adopting takes the foreign RRset over: pending again */
	memset(&res, 0, sizeof(res));
	begin(f);
	assert_int_equal(f->api->reconcile(f->s, "t2", ZONE, &actual, true, false, 1200, &res), 0);
	commit(f);
	prism_reconcile_result_free(&res);
	assert_int_equal(count_of(f, "t2", CONFLICT), 0);
	assert_int_equal(count_of(f, "t2", PENDING), 2);
}

/* ---- zones and records ---- */

struct rec_seen {
	size_t n;
	char last[128];
	bool host;
};

static int rec_copy(void *ctx, const struct prism_record_view *rec)
{
	struct rec_seen *s = ctx;
	snprintf(s->last, sizeof(s->last), "%.*s %.*s %.*s", (int)rec->name.len, rec->name.s,
		 (int)rec->type.len, rec->type.s, (int)rec->content.len, rec->content.s);
	s->host = rec->has_host;
	s->n++;
	return 0;
}

static int zone_seen(void *ctx, const struct prism_zone_view *z)
{
	struct rec_seen *s = ctx;
	snprintf(s->last, sizeof(s->last), "%.*s %" PRId64, (int)z->name.len, z->name.s,
		 z->records);
	s->n++;
	return 0;
}

static void test_zones_records(void **state)
{
	struct fx *f = *state;
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, rollback);
	NEED(f, api, rrsets_put);
	NEED(f, api, targets_sync);
	NEED(f, api, zone_create);
	NEED(f, api, zone_delete);
	NEED(f, api, zone_set_dnssec);
	NEED(f, api, zones_served);
	NEED(f, rd, ledger_counts);
	NEED(f, rd, records_list);
	NEED(f, rd, target_serves);
	NEED(f, rd, zone_dnssec);
	NEED(f, rd, zone_get);
	NEED(f, rd, zone_record_count);
	NEED(f, rd, zones_list);
	struct prism_zone_spec z = {
		.name = "z.test.",
		.kind = "Native",
		.targets = "all",
		.nameservers = "ns1.z.test.",
		.ttl = 3600,
		.soa = "ns1.z.test. hostmaster.z.test. 1 10800 3600 604800 3600",
		.origin = "api"};
	const char *const tgt[] = {"t1", NULL};
	begin(f);
	assert_int_equal(f->api->zone_create(f->s, &z, tgt, 1000), 0);
	assert_int_equal(f->api->zone_create(f->s, &z, tgt, 1000), PRISM_ECONFLICT);
	commit(f);
	const char *www[] = {"192.0.2.1", "192.0.2.2"}, *txt[] = {"\"hello\""};
	struct prism_rrset_put puts[] = {
		{"www.z.test.", "A", 300, www, 2},
		{"z.test.", "TXT", 300, txt, 1},
	};
	size_t changed;
	struct prism_rrset_err e;
	begin(f);
	assert_int_equal(
		f->api->rrsets_put(f->s, "z.test.", false, puts, 2, 1000, "tester", &changed, &e),
		0);
	commit(f);
	assert_int_equal(changed, 2);
	struct rec_seen s = {0};
	struct prism_records_query q = {.zone = "z.test."};
	assert_int_equal(f->rd->records_list(f->r, &q, rec_copy, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.last, "z.test. TXT \"hello\"");
	memset(&s, 0, sizeof(s));
	q = (struct prism_records_query){
		.zone = "z.test.", .after_name = "www.z.test.", .after_type = "A"};
	assert_int_equal(f->rd->records_list(f->r, &q, rec_copy, &s), 0);
	assert_int_equal(s.n, 1);
	memset(&s, 0, sizeof(s));
	q = (struct prism_records_query){.zone = "z.test.", .type = "A", .limit = 1};
	assert_int_equal(f->rd->records_list(f->r, &q, rec_copy, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.last, "www.z.test. A 192.0.2.1\n192.0.2.2");
	assert_false(s.host);
	int64_t n;
	assert_int_equal(f->rd->zone_record_count(f->r, "z.test.", &n), 0);
	assert_int_equal(n, 2);
	/* t1 serves it, t2 does not; the rows wait on t1 */
	bool serves, on;
	assert_int_equal(f->rd->target_serves(f->r, "t1", "z.test.", &serves), 0);
	assert_true(serves);
	assert_int_equal(f->rd->target_serves(f->r, "t2", "z.test.", &serves), 0);
	assert_false(serves);
	assert_int_equal(count_of(f, "t1", PENDING), 2);
	memset(&s, 0, sizeof(s));
	assert_int_equal(f->rd->zones_list(f->r, zone_seen, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.last, "z.test. 2");
	/* dnssec */
	bool flip;
	assert_int_equal(f->rd->zone_dnssec(f->r, "z.test.", &on), 0);
	assert_false(on);
	begin(f);
	assert_int_equal(f->api->zone_set_dnssec(f->s, "z.test.", true, &flip), 0);
	commit(f);
	assert_true(flip);
	assert_int_equal(f->rd->zone_dnssec(f->r, "z.test.", &on), 0);
	assert_true(on);
	assert_int_equal(f->rd->zone_dnssec(f->r, "nope.test.", &on), PRISM_ENOTFOUND);
	/* deleting an RRset that is not there is refused, all or nothing */
	struct prism_rrset_put del[] = {{"www.z.test.", "A", 0, NULL, 0},
					{"none.z.test.", "A", 0, NULL, 0}};
	begin(f);
	assert_int_equal(
		f->api->rrsets_put(f->s, "z.test.", false, del, 2, 1100, NULL, &changed, &e),
		PRISM_ENOTFOUND);
	assert_int_equal(e.index, 1);
	assert_int_equal(f->api->rollback(f->s), 0);
	assert_int_equal(f->rd->zone_record_count(f->r, "z.test.", &n), 0);
	assert_int_equal(n, 2);
	/* the zone's deletion: gone, and t1 owes a deletion */
	size_t ntargets;
	begin(f);
	assert_int_equal(f->api->zone_delete(f->s, "z.test.", 1200, &ntargets), 0);
	commit(f);
	assert_int_equal(ntargets, 1);
	assert_int_equal(f->rd->zone_get(f->r, "z.test.", zone_seen, &s), PRISM_ENOTFOUND);
	struct prism_served sv;
	begin(f);
	assert_int_equal(f->api->zones_served(f->s, "t1", &sv), 0);
	commit(f);
	assert_int_equal(sv.nzones, 0);
	assert_int_equal(sv.ndeletions, 1);
	assert_string_equal(sv.deletions[0], "z.test.");
	prism_served_free(&sv);
}

/* ---- audit ---- */

struct audit_seen {
	size_t n;
	int64_t first_id;
	char first[64];
};

static int audit_copy(void *ctx, const struct prism_audit_view *a)
{
	struct audit_seen *s = ctx;
	if (s->n++ == 0) {
		s->first_id = a->id;
		snprintf(s->first, sizeof(s->first), "%.*s %.*s %.*s", (int)a->actor.len,
			 a->actor.s, (int)a->action.len, a->action.s, (int)a->after.len,
			 a->after.s ? a->after.s : "");
	}
	return 0;
}

static void test_audit(void **state)
{
	struct fx *f = *state;
	NEED(f, api, audit_add);
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, targets_sync);
	NEED(f, rd, audit_list);
	struct prism_audit_entry e1 = {1000, "ops", "token.create", "token:a", NULL, "{}"};
	struct prism_audit_entry e2 = {1001, "ops", "host.delete", "host:1", "{}", NULL};
	begin(f);
	assert_int_equal(f->api->audit_add(f->s, &e1), 0);
	assert_int_equal(f->api->audit_add(f->s, &e2), 0);
	commit(f);
	struct audit_seen s = {0};
	assert_int_equal(f->rd->audit_list(f->r, INT64_MAX, 10, audit_copy, &s), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.first, "ops host.delete "); /* newest first */
	memset(&s, 0, sizeof(s));
	int64_t newest;
	assert_int_equal(f->rd->audit_list(f->r, INT64_MAX, 1, audit_copy, &s), 0);
	newest = s.first_id;
	memset(&s, 0, sizeof(s));
	assert_int_equal(f->rd->audit_list(f->r, newest, 10, audit_copy, &s), 0);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.first, "ops token.create {}");
}

/* ---- the intake queue ---- */

static void test_intake_queue(void **state)
{
	struct fx *f = *state;
	NEED(f, api, begin);
	NEED(f, api, commit);
	NEED(f, api, source_apply);
	NEED(f, api, source_enqueue);
	NEED(f, api, source_unsynced);
	NEED(f, api, targets_sync);
	NEED(f, rd, host_get);
	struct prism_source_ctx ctx = {.dns_enabled = true,
				       .publish_a = true,
				       .publish_aaaa = true,
				       .zones = zones,
				       .now = 1000};
	struct prism_source_entry a = {
		.source = PRISM_SOURCE_KEA_DDNS,
		.key = "q1." ZONE,
		.fqdn = "q1." ZONE,
		.zone = ZONE,
		.families = PRISM_FAM_V4,
		.ipv4 = "10.0.9.1",
		.ttl = 600,
		.forward = true,
		.reverse = true,
	};
	struct prism_source_entry b = a;
	b.key = b.fqdn = "q2." ZONE;
	b.ipv4 = "10.0.9.2";
	struct prism_source_entry rm = a;
	rm.ipv4 = NULL;
	begin(f);
	assert_int_equal(f->api->source_enqueue(f->s, &a), 0);
	assert_int_equal(f->api->source_enqueue(f->s, &b), 0);
	assert_int_equal(f->api->source_enqueue(f->s, &rm), 0);
	commit(f);
	struct host_seen h;
	assert_int_equal(f->rd->host_get(f->r, 0, "q1.example.test", host_copy, &h),
			 PRISM_ENOTFOUND);
	struct prism_source_sync_result r;
	size_t applied, left;
	begin(f);
	assert_int_equal(
		f->api->source_apply(f->s, PRISM_SOURCE_KEA_DDNS, 2, &ctx, &r, &applied, &left),
		0);
	commit(f);
	assert_int_equal(applied, 2);
	assert_int_equal(left, 1);
	assert_int_equal(r.added, 2);
	assert_int_equal(f->rd->host_get(f->r, 0, "q1.example.test", host_copy, &h), 0);
	/* in order: the remove comes after the add */
	begin(f);
	assert_int_equal(
		f->api->source_apply(f->s, PRISM_SOURCE_KEA_DDNS, 10, &ctx, &r, &applied, &left),
		0);
	commit(f);
	assert_int_equal(applied, 1);
	assert_int_equal(left, 0);
	assert_int_equal(r.removed, 1);
	assert_int_equal(f->rd->host_get(f->r, 0, "q1.example.test", host_copy, &h),
			 PRISM_ENOTFOUND);
	size_t pending, conflict;
	assert_int_equal(f->api->source_unsynced(f->s, PRISM_SOURCE_KEA_DDNS, &pending, &conflict),
			 0);
	assert_true(pending > 0);
	assert_int_equal(conflict, 0);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hosts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ledger_transitions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconcile_marks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zones_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intake_queue, setup, teardown),
	};
	int failed = 0;
	setvbuf(stdout, NULL, _IOLBF, 0); /* cmocka's results go to stderr: keep the order */
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		current = &backends[i];
		if (!backend_runs(current)) {
			print_message("[  SKIP    ] %s: PRISM_TEST_PG_URL is not set\n",
				      current->name);
			continue;
		}
		print_message("[ BACKEND  ] %s\n", current->name);
		failed += _cmocka_run_group_tests(backends[i].name, tests,
						  sizeof(tests) / sizeof(tests[0]), NULL, NULL);
	}
	return failed;
}
