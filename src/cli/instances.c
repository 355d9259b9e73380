/* SPDX-License-Identifier: MIT */
/*
 * prism instances: GET /api/v1/cluster/instances as a table (docs/ha.md), or its JSON.
 * Exit 1 when an instance in the list is not alive, so a script can alert on it.
 */
#include "cli/instances.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/session.h"

enum {
	EXIT_OK = PRISM_ADMIN_EXIT_OK,
	EXIT_ERROR = PRISM_ADMIN_EXIT_ERROR,
	EXIT_USAGE = PRISM_ADMIN_EXIT_USAGE,
};

void prism_instances_usage(FILE *out)
{
	fputs("Active-active instances (docs/ha.md):\n"
	      "  prism instances                      the instances on this PostgreSQL registry:\n"
	      "                                       last heartbeat, alive, the claims each "
	      "holds\n",
	      out);
}

static int show(const json_t *j)
{
	if (!json_is_true(json_object_get(j, "enabled"))) {
		printf("one instance: the registry is SQLite (database.type), nothing is "
		       "shared\n");
		return EXIT_OK;
	}
	const json_t *in, *c;
	size_t i, k;
	bool down = false;
	printf("%-24s %-20s %-5s %s\n", "INSTANCE", "LAST HEARTBEAT", "ALIVE", "CLAIMS");
	json_array_foreach(json_object_get(j, "instances"), i, in)
	{
		bool alive = json_is_true(json_object_get(in, "alive"));
		down |= !alive;
		char id[40];
		snprintf(id, sizeof(id), "%s%s", cli_jstr(in, "id"),
			 json_is_true(json_object_get(in, "self")) ? " (this)" : "");
		printf("%-24s %-20s %-5s ", id, cli_jstr(in, "last_heartbeat"),
		       alive ? "yes" : "no");
		const char *sep = "";
		json_array_foreach(json_object_get(in, "claims"), k, c)
		{
			printf("%s", sep);
			cli_put_clean(stdout, json_string_value(c));
			sep = ",";
		}
		printf("%s\n", sep[0] ? "" : "-");
	}
	return down ? EXIT_ERROR : EXIT_OK;
}

static int no_option(void *ctx, int code, const char *value)
{
	(void)ctx;
	(void)code;
	(void)value;
	fprintf(stderr, "prism: unknown option (see prism --help)\n");
	return EXIT_USAGE;
}

int prism_instances_main(int argc, char **argv)
{
	struct cli_global g = {.so.timeout = 30.0};
	const char *words[2];
	size_t nwords = 0;
	static const struct option none[] = {{NULL, 0, NULL, 0}};
	const struct cli_own_opts own = {none, "", no_option, NULL};
	int rc = cli_parse(argc, argv, &g, &own, words, &nwords, 2);
	if (rc != 0)
		return rc;
	if (g.help) {
		prism_instances_usage(stdout);
		return EXIT_OK;
	}
	if (nwords != 1) {
		fprintf(stderr, "prism: instances takes no arguments; usage:\n");
		prism_instances_usage(stderr);
		return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_ERROR;
	struct cli_session s = {0};
	json_t *j = NULL;
	rc = cli_session_open(&s, &g.so);
	if (rc == 0)
		rc = cli_session_call(&s, "GET", "/api/v1/cluster/instances", NULL, &j, NULL);
	if (rc == 0) {
		if (g.json)
			cli_print_json(j);
		else
			rc = show(j);
	}
	json_decref(j);
	cli_session_close(&s);
	curl_global_cleanup();
	return rc;
}

bool prism_instances_is_command(const char *word)
{
	return strcmp(word, "instances") == 0;
}
