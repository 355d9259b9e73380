/* SPDX-License-Identifier: MIT */
/* prismd: parse arguments, load the configuration, run the daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conffile.h"
#include "common/log.h"
#include "core/config.h"
#include "core/error.h"
#include "daemon/daemon.h"
#include "prism_version.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prismd [--config FILE] [--check-config | --once [--once-timeout S]]\n"
		"\n"
		"Prism keeps authoritative DNS in step with the hosts that announce themselves.\n"
		"prismd runs in the foreground and logs to stderr (or logging.file).\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE   server.yaml to load (default: built-in defaults and\n"
		"                      PRISM_* environment overrides only)\n"
		"      --check-config  validate the configuration, print the result, and exit\n"
		"      --once          one consistency sync of Kea's reservations\n"
		"                      (kea.reservations), push, wait until the targets have "
		"every\n"
		"                      record, exit 0 (converged) or 1 (not converged, a name\n"
		"                      refused, the database unreachable); nothing else starts\n"
		"      --once-timeout SECONDS\n"
		"                      how long --once waits for the targets (default 60)\n"
		"      --config-reference\n"
		"                      print every option as a Markdown table and exit\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n"
		"\n"
		"SIGHUP reloads the file (see docs/configuration.md for what applies at once);\n"
		"SIGTERM and SIGINT stop prismd cleanly.\n"
		"\n"
		"Environment overrides take precedence over the file, e.g.\n"
		"  PRISM_POWERDNS_ENABLED, PRISM_POWERDNS_API_URL, PRISM_POWERDNS_API_KEY,\n"
		"  PRISM_POWERDNS_DEFAULT_ZONE, PRISM_POWERDNS_DEFAULT_TTL, "
		"PRISM_SERVER_TCP_PORT.\n"
		"See docs/configuration.md for every option.\n");
}

static struct prism_config *load_config(const char *path)
{
	char err[768];
	struct prism_config *cfg = prism_config_load_file(path, err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "prismd: %s\n", err);
	return cfg;
}

/* The option table as Markdown, one table per section: docs/configuration.md embeds it. */
static void config_reference(void)
{
	size_t n = 0;
	const struct prism_config_opt_info *o = prism_config_options(&n);
	char section[32] = "";
	for (size_t i = 0; i < n; i++) {
		const char *dot = strchr(o[i].key, '.');
		size_t sl = dot ? (size_t)(dot - o[i].key) : strlen(o[i].key);
		if (strlen(section) != sl || strncmp(section, o[i].key, sl) != 0) {
			snprintf(section, sizeof(section), "%.*s", (int)sl, o[i].key);
			printf("%s### %s\n\n| Key | Type | Default | Bounds | Environment | "
			       "Reload "
			       "| Meaning |\n|---|---|---|---|---|---|---|\n",
			       i ? "\n" : "", section);
		}
		char bounds[160];
		prism_config_option_bounds(i, bounds, sizeof(bounds));
		printf("| `%s` | %s | %s%s%s | %s | `%s` | %s | %s |\n", o[i].key, o[i].type,
		       o[i].def[0] ? "`" : "", o[i].def[0] ? o[i].def : "*(unset)*",
		       o[i].def[0] ? "`" : "", bounds, o[i].env, o[i].reload ? "live" : "restart",
		       o[i].help);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'C'},
		{"once", no_argument, NULL, 'O'},
		{"once-timeout", required_argument, NULL, 'T'},
		{"config-reference", no_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	int check = 0, once = 0, c;
	double once_timeout = 60;
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'C': check = 1; break;
		case 'O': once = 1; break;
		case 'T': {
			char *end;
			once_timeout = strtod(optarg, &end);
			if (*end != '\0' || !(once_timeout > 0 && once_timeout <= 86400)) {
				fprintf(stderr, "prismd: --once-timeout must be seconds, 0 < s <= "
						"86400\n");
				return 2;
			}
			break;
		}
		case 'R': config_reference(); return 0;
		case 'h': usage(stdout); return 0;
		case 'V': printf("prismd %s\n", PRISM_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "prismd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	struct prism_config *cfg = load_config(path);
	if (cfg == NULL)
		return 1;
	if (check) {
		printf("prismd: configuration %s is valid\n", path ? path : "(defaults)");
		prism_config_free(cfg);
		return 0;
	}
	if (prism_log_init(prism_log_level_parse(cfg->logging_level), cfg->logging_file) != 0) {
		fprintf(stderr, "prismd: logging.file: cannot open %s (%s)\n", cfg->logging_file,
			strerror(errno));
		prism_config_free(cfg);
		return 1;
	}
	int rc = once ? prism_daemon_once(cfg, once_timeout) : prism_daemon_run(cfg, path);
	prism_config_free(cfg);
	prism_log_deinit();
	return rc;
}
