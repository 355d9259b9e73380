/* SPDX-License-Identifier: MIT */
/* prism registry import-prism: the original Prism server's hosts into this registry. The
 * command opens the registry itself (SQLite, WAL: prismd may be running on it) and writes
 * through the store's operations; every SQL statement is the store's.
 * prism registry copy: every table of one registry into another (SQLite ⇄ PostgreSQL),
 * through the store's copy functions (store.h, prism_store_copy). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/registry.h"
#include "common/conffile.h"
#include "core/config.h"
#include "core/error.h"
#include "core/import_prism.h"
#include "core/reserved.h"
#include "store/dns_dest.h"
#include "store/import.h"
#include "store/store.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREADABLE = 3, EXIT_NOT_EMPTY = 4 };

#define CHUNK 500 /* hosts per transaction: prismd's writer gets its turn in between */
#define SHOWN 20  /* rows named on stderr; the rest are counted */

static const char *const cmd = "prism registry import-prism";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prism registry import-prism FILE [--config FILE]\n"
		"\n"
		"Add the hosts of the original Prism server's registry (its SQLite database,\n"
		"table hosts) to this registry as agent hosts, keeping their first and last seen\n"
		"times and status; their A or AAAA records are pushed by prismd. Hosts already "
		"in\n"
		"the registry are skipped, so running it again changes nothing.\n"
		"\n"
		"  -c, --config FILE    server.yaml naming the registry to fill (database.path)\n"
		"                       and the agents' zone; default: defaults and PRISM_*\n"
		"  -h, --help           show this help\n"
		"\n"
		"Exit status: 0 done (invalid rows are reported, not fatal), 1 the registry\n"
		"refused a write, 2 usage or configuration error, 3 FILE cannot be read.\n");
}

struct tally {
	size_t rows, imported, exists, taken, reserved, other_zone, invalid, shown;
};

struct import_ctx {
	const struct prism_config *cfg;
	struct prism_store *store;
	const char **zones;		 /* every managed zone, NULL-terminated, for PTRs */
	struct prism_reserved *reserved; /* names no agent may claim (apex, ns, the list) */
	int64_t now;
	struct tally t;
};

static void note(struct tally *t, const char *hostname, const char *reason)
{
	if (t->shown++ < SHOWN)
		fprintf(stderr, "%s: row %zu (%.100s): %s\n", cmd, t->rows,
			hostname ? hostname : "no hostname", reason);
}

static struct prism_host_import import_of(const struct import_ctx *c,
					  const struct prism_orig_host *h)
{
	const struct prism_config *cfg = c->cfg;
	bool remove_offline = strcmp(cfg->heartbeat_offline_dns, "remove") == 0;
	return (struct prism_host_import){
		.hostname = h->hostname,
		.ip = h->ip,
		.ipv6 = h->ipv6,
		.online = h->online,
		.first_seen = h->first_seen,
		.last_seen = h->last_seen,
		/* agents get their usual time to come back to the new server */
		.expires_at = c->now + prism_config_offline_after(cfg),
		.records = h->online || !remove_offline,
		.now = c->now,
		.dns = prism_agent_dns_dest(cfg, c->zones),
	};
}

/* One row: checked, then added. Only a registry failure is an error. */
static int import_row(struct import_ctx *c, const struct prism_orig_row *row)
{
	struct prism_orig_host h;
	char reason[320];
	c->t.rows++;
	switch (prism_orig_row_check(row, c->cfg->powerdns_default_zone, &h, reason,
				     sizeof(reason))) {
	case PRISM_ORIG_OK: break;
	case PRISM_ORIG_OTHER_ZONE:
		c->t.other_zone++;
		note(&c->t, row->hostname, reason);
		return 0;
	default:
		c->t.invalid++;
		note(&c->t, row->hostname, reason);
		return 0;
	}
	if (prism_reserved_host(c->reserved, h.hostname, c->cfg->powerdns_default_zone)) {
		c->t.reserved++;
		note(&c->t, row->hostname, "a reserved name (no agent may claim it)");
		return 0;
	}
	struct prism_host_import in = import_of(c, &h);
	enum prism_import_outcome out;
	int rc = prism_store_sqlite.host_import(c->store, &in, &out);
	if (rc == PRISM_ETOOBIG) {
		c->t.invalid++;
		note(&c->t, row->hostname, "hostname: too long for the zone");
		return 0;
	}
	if (rc != 0)
		return rc;
	if (out == PRISM_IMPORT_ADDED)
		c->t.imported++;
	else if (out == PRISM_IMPORT_EXISTS)
		c->t.exists++;
	else {
		c->t.taken++;
		note(&c->t, row->hostname,
		     "the name is held by a host of another source or by "
		     "records made through the API");
	}
	return 0;
}

/* Rows in transactions of CHUNK hosts; @p done when the table is read to its end. */
static int import_chunk(struct import_ctx *c, struct prism_orig_reader *r, bool *done, char *err,
			size_t errlen)
{
	const struct prism_store_api *api = &prism_store_sqlite;
	if (api->begin(c->store) != 0) {
		snprintf(err, errlen, "cannot start a transaction on the registry");
		return PRISM_ESTORE;
	}
	int rc = 0;
	for (size_t i = 0; i < CHUNK && rc == 0; i++) {
		struct prism_orig_row row;
		rc = prism_orig_next(r, &row, err, errlen);
		if (rc == PRISM_ENOTFOUND) {
			*done = true;
			rc = 0;
			break;
		}
		if (rc == 0 && (rc = import_row(c, &row)) != 0)
			snprintf(err, errlen, "writing host %zu to the registry failed (%s)",
				 c->t.rows, prism_strerror(rc));
	}
	if (rc == 0 && api->commit(c->store) != 0) {
		snprintf(err, errlen, "committing to the registry failed");
		rc = PRISM_ESTORE;
	}
	if (rc != 0)
		api->rollback(c->store);
	return rc;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int run_import(const struct prism_config *cfg, const char *file)
{
	char err[768];
	if (same_file(file, cfg->database_path)) {
		fprintf(stderr, "%s: %s is this registry (database.path)\n", cmd, file);
		return EXIT_USAGE;
	}
	struct prism_orig_reader *r;
	if (prism_orig_open(file, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return EXIT_UNREADABLE;
	}
	size_t nz = 0;
	while (cfg->zones[nz] != NULL)
		nz++;
	struct import_ctx c = {.cfg = cfg, .now = (int64_t)time(NULL)};
	c.zones = calloc(nz + 1, sizeof(*c.zones));
	struct prism_store_opts so = {
		.path = cfg->database_path,
		.synchronous_full = strcmp(cfg->database_synchronous, "full") == 0,
	};
	int rc = c.zones ? prism_reserved_new((const char *const *)cfg->auth_reserved_names,
					      (const struct prism_config_zone *const *)cfg->zones,
					      &c.reserved)
			 : PRISM_ENOMEM;
	if (rc == 0)
		rc = prism_store_sqlite.open(&so, &c.store, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "%s", prism_strerror(rc));
	if (rc != 0) {
		fprintf(stderr, "%s: registry %s: %s\n", cmd, cfg->database_path,
			c.zones ? err : prism_strerror(rc));
		goto out;
	}
	for (size_t i = 0; i < nz; i++)
		c.zones[i] = cfg->zones[i]->name;
	bool done = false;
	while (!done && (rc = import_chunk(&c, r, &done, err, sizeof(err))) == 0)
		;
	if (c.t.shown > SHOWN)
		fprintf(stderr, "%s: %zu more rows not named\n", cmd, c.t.shown - SHOWN);
	if (rc != 0)
		fprintf(stderr,
			"%s: %s; the hosts committed before stay, running it again "
			"finishes the work\n",
			cmd, err);
	printf("%zu rows: %zu imported, %zu skipped (%zu already in the registry, %zu held by "
	       "another source, %zu reserved, %zu in another zone), %zu invalid\n",
	       c.t.rows, c.t.imported, c.t.exists + c.t.taken + c.t.reserved + c.t.other_zone,
	       c.t.exists, c.t.taken, c.t.reserved, c.t.other_zone, c.t.invalid);
out:
	prism_store_sqlite.close(c.store);
	prism_reserved_free(c.reserved);
	prism_orig_close(r);
	free(c.zones);
	return rc == 0 ? EXIT_OK : EXIT_FAILED;
}

/* ---- prism registry copy ---- */

static void copy_usage(FILE *out)
{
	fprintf(out,
		"Usage: prism registry copy --from REGISTRY --to REGISTRY [--force]\n"
		"\n"
		"Copy every table of a registry into another: hosts, tokens, API keys, zones,\n"
		"records, the sync ledger, the audit log, targets added at run time, the intake\n"
		"queue and the credential key (so that stored token and key hashes keep "
		"working).\n"
		"REGISTRY is sqlite:PATH or postgresql:URL (a libpq URI or key=value string);\n"
		"the destination is made when it has no schema yet. One transaction on each "
		"side:\n"
		"the copy is committed only when every table's row count in the destination\n"
		"equals the source's; the counts are printed. Stop prismd before copying.\n"
		"\n"
		"  -f, --from REGISTRY  the registry to read\n"
		"  -t, --to REGISTRY    the registry to fill\n"
		"      --force          replace the destination's contents (by default a\n"
		"                       destination holding any row is refused)\n"
		"  -h, --help           show this help\n"
		"\n"
		"Exit status: 0 copied, 1 a registry refused (or the counts differ: nothing was\n"
		"committed), 2 usage error, 4 the destination is not empty (see --force).\n");
}

struct registry_ref {
	const struct prism_store_api *api;
	struct prism_store_opts opts;
};

/* "sqlite:PATH" or "postgresql:URL" (postgres: too); false when it is neither. */
static bool registry_ref(const char *spec, struct registry_ref *r)
{
	memset(r, 0, sizeof(*r));
	if (strncmp(spec, "sqlite:", 7) == 0 && spec[7] != '\0') {
		r->api = &prism_store_sqlite;
		r->opts.path = spec + 7;
		r->opts.synchronous_full = true;
		return true;
	}
	const char *url = strncmp(spec, "postgresql:", 11) == 0 ? spec + 11
			  : strncmp(spec, "postgres:", 9) == 0	? spec + 9
								: NULL;
	if (url == NULL || *url == '\0')
		return false;
	/* "postgresql://..." is itself a URI: keep the scheme for libpq */
	r->api = &prism_store_postgresql;
	r->opts.url = strncmp(url, "//", 2) == 0 ? spec : url;
	return true;
}

static void print_count(void *ctx, const struct prism_copy_report *r)
{
	(void)ctx;
	printf("%-16s %10lld rows (source %lld)\n", r->table, (long long)r->dest,
	       (long long)r->source);
}

static const char *ref_kind(const struct registry_ref *r)
{
	return r->api == &prism_store_sqlite ? "sqlite" : "postgresql";
}

static int run_copy(const char *from, const char *to, bool force)
{
	static const char *const c = "prism registry copy";
	struct registry_ref src, dst;
	if (!registry_ref(from, &src) || !registry_ref(to, &dst)) {
		fprintf(stderr, "%s: a registry is sqlite:PATH or postgresql:URL\n", c);
		return EXIT_USAGE;
	}
	if (src.api == &prism_store_sqlite && dst.api == &prism_store_sqlite &&
	    same_file(src.opts.path, dst.opts.path)) {
		fprintf(stderr, "%s: --from and --to are the same file\n", c);
		return EXIT_USAGE;
	}
	if (src.api == &prism_store_sqlite) {
		struct stat st;
		if (stat(src.opts.path, &st) != 0) {
			fprintf(stderr, "%s: %s: no such registry\n", c, src.opts.path);
			return EXIT_FAILED;
		}
	}
	char err[768];
	struct prism_store *s = NULL, *d = NULL;
	if (src.api->open(&src.opts, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: the source (%s): %s\n", c, ref_kind(&src), err);
		return EXIT_FAILED;
	}
	if (dst.api->open(&dst.opts, &d, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: the destination (%s): %s\n", c, ref_kind(&dst), err);
		src.api->close(s);
		return EXIT_FAILED;
	}
	err[0] = '\0';
	int rc = prism_store_copy(src.api, s, dst.api, d, force, print_count, NULL, err,
				  sizeof(err));
	dst.api->close(d);
	src.api->close(s);
	if (rc == PRISM_ECONFLICT) {
		fprintf(stderr, "%s: %s\n", c, err);
		return EXIT_NOT_EMPTY;
	}
	if (rc != 0) {
		fprintf(stderr, "%s: %s; nothing was committed\n", c, err[0] ? err : "failed");
		return EXIT_FAILED;
	}
	printf("copied %s registry into %s registry: every table's counts agree\n", ref_kind(&src),
	       ref_kind(&dst));
	return EXIT_OK;
}

static int copy_main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},
		{"force", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *from = NULL, *to = NULL;
	bool force = false;
	int o;
	optind = 1;
	while ((o = getopt_long(argc, argv, "f:t:h", lopts, NULL)) != -1) {
		if (o == 'f')
			from = optarg;
		else if (o == 't')
			to = optarg;
		else if (o == 'F')
			force = true;
		else {
			copy_usage(o == 'h' ? stdout : stderr);
			return o == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (from == NULL || to == NULL || optind != argc) {
		fprintf(stderr, "prism registry copy: --from and --to are needed (see --help)\n");
		return EXIT_USAGE;
	}
	return run_copy(from, to, force);
}

int prism_registry_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		copy_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "copy") == 0)
		return copy_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "import-prism") != 0) {
		fprintf(stderr, "prism registry: unknown command '%s' (import-prism, copy)\n",
			argv[1]);
		return EXIT_USAGE;
	}
	static const struct option lopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	int o;
	optind = 1;
	argc--;
	argv++;
	while ((o = getopt_long(argc, argv, "c:h", lopts, NULL)) != -1) {
		if (o == 'c')
			config = optarg;
		else {
			usage(o == 'h' ? stdout : stderr);
			return o == 'h' ? EXIT_OK : EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "%s: one FILE expected (the original server's database)\n", cmd);
		return EXIT_USAGE;
	}
	char err[768];
	struct prism_config *cfg = prism_config_load_file(config, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "%s: %s\n", cmd, err);
		return EXIT_USAGE;
	}
	int rc = run_import(cfg, argv[optind]);
	prism_config_free(cfg);
	return rc;
}
