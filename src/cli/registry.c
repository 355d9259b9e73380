/* SPDX-License-Identifier: MIT */
/* prism registry import-prism: the original Prism server's hosts into this registry. The
 * command opens the registry itself (SQLite, WAL: prismd may be running on it) and writes
 * through the store's operations; every SQL statement is the store's. */
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

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREADABLE = 3 };

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

int prism_registry_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "import-prism") != 0) {
		fprintf(stderr, "prism registry: unknown command '%s' (import-prism)\n", argv[1]);
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
