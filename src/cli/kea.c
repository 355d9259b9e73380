/* SPDX-License-Identifier: MIT */
/* prism kea install-trigger: the notification trigger on Kea's hosts table (the work is
 * sources/kea_trigger.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/kea.h"
#include "common/conffile.h"
#include "core/config.h"
#include "core/kea.h"
#include "sources/kea_trigger.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prism kea install-trigger [--uninstall] [--config FILE] [--conninfo STR]\n"
		"                                 [--print]\n"
		"\n"
		"Create (or, with --uninstall, remove) the trigger that makes Kea's PostgreSQL\n"
		"host database notify prismd of every INSERT, UPDATE and DELETE of a reservation\n"
		"(kea.reservations in docs/kea.md). Idempotent: running it again changes "
		"nothing.\n"
		"\n"
		"  -c, --config FILE    server.yaml with kea.reservations (connection, password,\n"
		"                       channel); default: defaults and PRISM_KEA_* variables\n"
		"      --conninfo STR   libpq connection string, instead of the file's\n"
		"      --uninstall      remove the trigger and its function\n"
		"      --print          print the SQL and do nothing\n"
		"  -h, --help           show this help\n"
		"\n"
		"The database user must own Kea's hosts and ipv6_reservations tables\n"
		"(kea-admin's user does).\n"
		"Exit status: 0 done, 1 the database refused, 2 usage or configuration error,\n"
		"3 the database could not be reached.\n");
}

struct opts {
	const char *config;
	const char *conninfo;
	bool uninstall;
	bool print;
};

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"conninfo", required_argument, NULL, 'C'},
		{"uninstall", no_argument, NULL, 'u'},
		{"print", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'C': o->conninfo = optarg; break;
		case 'u': o->uninstall = true; break;
		case 'p': o->print = true; break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "prism kea install-trigger: unexpected argument '%s'\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

static int install(const struct prism_config *cfg, const struct opts *o)
{
	char sql[4096];
	if (prism_kea_trigger_sql(cfg->kea_reservations_channel, sql, sizeof(sql)) != 0) {
		fprintf(stderr,
			"prism kea install-trigger: kea.reservations.channel is invalid\n");
		return EXIT_USAGE;
	}
	if (o->print) {
		printf("BEGIN;\n%sCOMMIT;\n", o->uninstall ? prism_kea_uninstall_sql() : sql);
		return EXIT_OK;
	}
	char err[768];
	struct prism_kea_trigger_out out;
	enum prism_kea_trigger_status st =
		prism_kea_trigger_apply(cfg, o->conninfo, o->uninstall, &out, err, sizeof(err));
	if (st != PRISM_KEA_TRIGGER_DONE) {
		fprintf(stderr, "prism kea install-trigger: %s\n", err);
		return st == PRISM_KEA_TRIGGER_BADCONFIG     ? EXIT_USAGE
		       : st == PRISM_KEA_TRIGGER_UNREACHABLE ? EXIT_UNREACHABLE
							     : EXIT_FAILED;
	}
	if (o->uninstall)
		printf("removed: no Prism trigger on %s's hosts and ipv6_reservations tables\n",
		       out.db);
	else
		printf("installed: %s on %s's hosts table notifies channel %s (INSERT, UPDATE, "
		       "DELETE, TRUNCATE), and %s on its ipv6_reservations table\n",
		       PRISM_KEA_TRIGGER, out.db, cfg->kea_reservations_channel,
		       PRISM_KEA_V6_TRIGGER);
	return EXIT_OK;
}

int prism_kea_main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	if (strcmp(argv[1], "install-trigger") != 0) {
		fprintf(stderr, "prism kea: unknown command '%s' (install-trigger)\n", argv[1]);
		return EXIT_USAGE;
	}
	struct opts o = {0};
	int rc = parse(argc - 1, argv + 1, &o);
	if (rc != 0)
		return rc < 0 ? EXIT_OK : rc;
	char err[768];
	struct prism_config *cfg = prism_config_load_file(o.config, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "prism kea install-trigger: %s\n", err);
		return EXIT_USAGE;
	}
	rc = install(cfg, &o);
	prism_config_free(cfg);
	return rc;
}
