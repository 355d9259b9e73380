/* SPDX-License-Identifier: MIT */
/*
 * `prism zones|records|repoint`: zones, their records and failover repoint over prismd's
 * REST API (docs/zones.md). The same global options and exit statuses as the other admin
 * commands (admin.c); one request per command through http.c.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/admin.h"
#include "cli/http.h"
#include "cli/session.h"
#include "cli/zones.h"
#include "core/error.h"

enum {
	EXIT_OK = PRISM_ADMIN_EXIT_OK,
	EXIT_ERROR = PRISM_ADMIN_EXIT_ERROR,
	EXIT_USAGE = PRISM_ADMIN_EXIT_USAGE,
	EXIT_UNREACHABLE = PRISM_ADMIN_EXIT_UNREACHABLE,
	EXIT_AUTH = PRISM_ADMIN_EXIT_AUTH,
};

#define MAX_WORDS 72
#define MAX_LIST  64
#define PATH_LEN  2048
#define FILE_MAX  (64u << 20)

enum {
	O_KIND = CLI_OPT_OWN,
	O_NS,
	O_TTL,
	O_TARGETS,
	O_TEMPLATE,
	O_DNSSEC,
	O_FORMAT,
	O_FROM_TARGET,
	O_FILE,
	O_NAME,
	O_TYPE,
	O_ZONE,
	O_MATCH,
	O_DRY_RUN,
	O_CONFIRM,
};

struct zcli {
	const char *words[MAX_WORDS];
	size_t nwords;
	struct cli_global g; /* the options every API command takes */
	const char *kind, *ttl, *targets, *tmpl, *format, *from_target, *file, *name, *type;
	const char *match;
	const char *ns[MAX_LIST], *zones[MAX_LIST];
	size_t nns, nzones;
	bool dnssec, dry_run, yes;
	struct cli_session s;
};

static const char *const cmd_names[] = {"zones", "records", "repoint", "cluster"};

bool prism_zones_is_command(const char *word)
{
	for (size_t i = 0; i < sizeof(cmd_names) / sizeof(cmd_names[0]); i++)
		if (strcmp(word, cmd_names[i]) == 0)
			return true;
	return false;
}

static const char usage_text[] =
	"Zones, records and repoint (docs/zones.md):\n"
	"  prism zones [list]\n"
	"  prism zones show ZONE\n"
	"  prism zones create ZONE [--kind Native|Master] [--ns HOST]... [--ttl N]\n"
	"                     [--targets all|GROUP] [--template NAME] [--dnssec]\n"
	"  prism zones delete ZONE --yes         delete it, its records, and the zone on\n"
	"                                        every target serving it (admin role)\n"
	"  prism zones dnssec ZONE [on|off]      show the keys and DS records, or sign the\n"
	"                                        zone on every target (admin role)\n"
	"  prism zones resync ZONE               sync ZONE to every target serving it again\n"
	"                                        (admin role)\n"
	"  prism zones export ZONE [--format bind|json]\n"
	"  prism zones import ZONE --from-target TARGET | --file ZONEFILE [--targets GROUP]\n"
	"  prism records [list] ZONE [--name NAME] [--type TYPE]\n"
	"  prism records set ZONE NAME TYPE CONTENT... [--ttl N]   create or replace an RRset\n"
	"  prism records delete ZONE NAME TYPE\n"
	"  prism records apply ZONE FILE         {\"records\": [...]} from a JSON file (- for\n"
	"                                        stdin), in one transaction\n"
	"  prism repoint FROM TO [--zone ZONE]... [--match GLOB] [--dry-run]\n"
	"                                        move every A/AAAA record (and host) with\n"
	"                                        address FROM to TO, in one transaction\n"
	"  prism cluster [show]                  per target: managed zones present or\n"
	"                                        missing (with SOA serials), extra zones\n"
	"  prism cluster resync TARGET           sync every zone to TARGET again (admin role)\n";

void prism_zones_usage(FILE *out)
{
	fputs(usage_text, out);
}

/* ---- requests ---- */

/* One request whose answer must be 2xx: 0 with *out (JSON, or NULL with @p text for a
 * non-JSON answer), or an exit status. */
static int call(struct zcli *c, const char *method, const char *path, const json_t *body,
		json_t **out, char **text)
{
	return cli_session_call(&c->s, method, path, body, out, text);
}

/* "/api/v1/zones/<zone escaped><suffix>" */
static int zone_path(char *out, const char *zone, const char *suffix)
{
	char esc[PATH_LEN / 2];
	if (cli_http_escape(zone, esc, sizeof(esc)) != 0 ||
	    (size_t)snprintf(out, PATH_LEN, "/api/v1/zones/%s%s", esc, suffix) >= PATH_LEN) {
		fprintf(stderr, "prism: the zone name is too long\n");
		return EXIT_USAGE;
	}
	return 0;
}

static void query_add(char *path, const char *key, const char *value)
{
	char esc[PATH_LEN / 2];
	size_t n = strlen(path);
	if (value == NULL || cli_http_escape(value, esc, sizeof(esc)) != 0)
		return;
	snprintf(path + n, PATH_LEN - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', key, esc);
}

/* ---- zones ---- */

static void zone_line(const json_t *z)
{
	const json_t *t;
	size_t i, ready = 0, n = 0;
	json_array_foreach(json_object_get(z, "served_by"), i, t)
	{
		n++;
		ready += json_is_true(json_object_get(t, "ready"));
	}
	printf("%-32s %-7s %-7s %-10s %7lld  %zu/%zu ready\n", cli_jstr(z, "name"),
	       cli_jstr(z, "kind"), cli_jstr(z, "origin"),
	       cli_jstr(z, "targets") ? cli_jstr(z, "targets") : "-", cli_jint(z, "records"),
	       ready, n);
}

static int zones_list(struct zcli *c)
{
	json_t *j;
	int rc = call(c, "GET", "/api/v1/zones", NULL, &j, NULL);
	if (rc != 0)
		return rc;
	if (c->g.json) {
		cli_print_json(j);
	} else {
		const json_t *z;
		size_t i;
		printf("%-32s %-7s %-7s %-10s %7s  %s\n", "ZONE", "KIND", "ORIGIN", "TARGETS",
		       "RRSETS", "SERVED");
		json_array_foreach(json_object_get(j, "zones"), i, z) zone_line(z);
	}
	json_decref(j);
	return EXIT_OK;
}

static void zone_human(const json_t *z)
{
	const json_t *v;
	size_t i;
	printf("zone:        %s\nkind:        %s\norigin:      %s\ntargets:     %s\n",
	       cli_jstr(z, "name"), cli_jstr(z, "kind"), cli_jstr(z, "origin"),
	       cli_jstr(z, "targets") ? cli_jstr(z, "targets") : "(configuration)");
	printf("nameservers:");
	json_array_foreach(json_object_get(z, "nameservers"), i, v)
		printf(" %s", json_string_value(v));
	printf("\nsoa:         %s\nttl:         %lld\ndnssec:      %s\nrrsets:      %lld\n",
	       cli_jstr(z, "soa") ? cli_jstr(z, "soa") : "(server default)", cli_jint(z, "ttl"),
	       json_is_true(json_object_get(z, "dnssec")) ? "yes" : "no", cli_jint(z, "records"));
	json_array_foreach(json_object_get(z, "served_by"), i, v)
		printf("target:      %s (%s)\n", cli_jstr(v, "target"),
		       json_is_true(json_object_get(v, "ready")) ? "ready" : "not ready yet");
}

static int zones_show(struct zcli *c)
{
	char path[PATH_LEN];
	json_t *j;
	int rc = zone_path(path, c->words[2], "");
	if (rc == 0)
		rc = call(c, "GET", path, NULL, &j, NULL);
	if (rc != 0)
		return rc;
	if (c->g.json)
		cli_print_json(j);
	else
		zone_human(j);
	json_decref(j);
	return EXIT_OK;
}

static int zones_create(struct zcli *c)
{
	json_t *b = json_pack("{s:s}", "name", c->words[2]), *j;
	if (b == NULL)
		return EXIT_ERROR;
	if (c->kind)
		json_object_set_new(b, "kind", json_string(c->kind));
	if (c->targets)
		json_object_set_new(b, "targets", json_string(c->targets));
	if (c->tmpl)
		json_object_set_new(b, "template", json_string(c->tmpl));
	if (c->dnssec)
		json_object_set_new(b, "dnssec", json_true());
	if (c->ttl)
		json_object_set_new(b, "ttl", json_integer(strtoll(c->ttl, NULL, 10)));
	if (c->nns > 0) {
		json_t *ns = json_array();
		for (size_t i = 0; ns != NULL && i < c->nns; i++)
			json_array_append_new(ns, json_string(c->ns[i]));
		json_object_set_new(b, "nameservers", ns);
	}
	int rc = call(c, "POST", "/api/v1/zones", b, &j, NULL);
	json_decref(b);
	if (rc != 0)
		return rc;
	if (c->g.json)
		cli_print_json(j);
	else
		printf("zone %s created (%lld RRsets)\n", cli_jstr(j, "name"),
		       cli_jint(j, "records"));
	json_decref(j);
	return EXIT_OK;
}

static int zones_delete(struct zcli *c)
{
	char path[PATH_LEN];
	json_t *j;
	if (!c->yes) {
		fprintf(stderr,
			"prism: deleting zone %s removes its records and deletes it from "
			"every target serving it: add --yes\n",
			c->words[2]);
		return EXIT_USAGE;
	}
	int rc = zone_path(path, c->words[2], "?confirm=true");
	if (rc == 0)
		rc = call(c, "DELETE", path, NULL, &j, NULL);
	if (rc != 0)
		return rc;
	if (c->g.json)
		cli_print_json(j);
	else
		printf("zone %s deleted (from %lld target(s))\n",
		       cli_jstr(json_object_get(j, "deleted"), "name"),
		       cli_jint(json_object_get(j, "deleted"), "targets"));
	json_decref(j);
	return EXIT_OK;
}

static int zones_export(struct zcli *c)
{
	char path[PATH_LEN];
	json_t *j;
	char *text = NULL;
	const char *format = c->format ? c->format : "bind";
	if (strcmp(format, "bind") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "prism: --format is bind or json\n");
		return EXIT_USAGE;
	}
	int rc = zone_path(path, c->words[2], "/export");
	query_add(path, "format", format);
	if (rc == 0)
		rc = call(c, "GET", path, NULL, &j, &text);
	if (rc != 0)
		return rc;
	if (j != NULL)
		cli_print_json(j);
	else
		fputs(text, stdout);
	json_decref(j);
	free(text);
	return EXIT_OK;
}

/* The whole of @p path ("-" = stdin), NUL-terminated; NULL after printing why. */
static char *read_all(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "prism: cannot read %s (%s)\n", path, strerror(errno));
		return NULL;
	}
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
		if (len + 1 == cap) {
			char *p = cap < FILE_MAX ? realloc(buf, cap * 2) : NULL;
			if (p == NULL) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	bool err = ferror(f);
	if (f != stdin)
		fclose(f);
	if (buf == NULL || err) {
		fprintf(stderr, "prism: cannot read %s (%s)\n", path,
			buf == NULL ? "too large or out of memory" : "read error");
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

static int zones_import(struct zcli *c)
{
	char path[PATH_LEN];
	json_t *j, *b;
	if ((c->from_target == NULL) == (c->file == NULL)) {
		fprintf(stderr, "prism: give --from-target TARGET or --file ZONEFILE\n");
		return EXIT_USAGE;
	}
	if (c->file != NULL) {
		char *text = read_all(c->file);
		if (text == NULL)
			return EXIT_USAGE;
		b = json_pack("{s:s}", "zonefile", text);
		free(text);
	} else {
		b = json_pack("{s:s}", "target", c->from_target);
	}
	if (b == NULL) {
		fprintf(stderr, "prism: the zone file is not UTF-8 text\n");
		return EXIT_USAGE;
	}
	if (c->targets)
		json_object_set_new(b, "targets", json_string(c->targets));
	int rc = zone_path(path, c->words[2], "/import");
	if (rc == 0)
		rc = call(c, "POST", path, b, &j, NULL);
	json_decref(b);
	if (rc != 0)
		return rc;
	if (c->g.json)
		cli_print_json(j);
	else
		printf("zone %s %s: %lld RRsets, %lld changed, %zu skipped\n",
		       cli_jstr(json_object_get(j, "zone"), "name"),
		       json_is_true(json_object_get(j, "created")) ? "created" : "updated",
		       cli_jint(j, "rrsets"), cli_jint(j, "changed"),
		       json_array_size(json_object_get(j, "skipped")));
	json_decref(j);
	return EXIT_OK;
}

static int zones_dnssec(struct zcli *c)
{
	char path[PATH_LEN];
	json_t *j, *b = NULL;
	const char *want = c->nwords > 3 ? c->words[3] : NULL;
	if (want != NULL && strcmp(want, "on") != 0 && strcmp(want, "off") != 0) {
		fprintf(stderr, "prism: zones dnssec ZONE takes on or off\n");
		return EXIT_USAGE;
	}
	int rc = zone_path(path, c->words[2], "/dnssec");
	if (rc != 0)
		return rc;
	if (want != NULL) {
		b = json_pack("{s:b}", "enabled", strcmp(want, "on") == 0);
		rc = call(c, "POST", path, b, &j, NULL);
		json_decref(b);
	} else {
		rc = call(c, "GET", path, NULL, &j, NULL);
	}
	if (rc != 0)
		return rc;
	if (c->g.json) {
		cli_print_json(j);
	} else if (want != NULL) {
		printf("zone %s: DNSSEC %s on every target serving it\n", cli_jstr(j, "zone"),
		       json_is_true(json_object_get(j, "dnssec")) ? "being turned on"
								  : "being turned off");
	} else {
		const json_t *t, *k, *ds;
		size_t i, m, n;
		printf("zone %s: DNSSEC %s\n", cli_jstr(j, "zone"),
		       json_is_true(json_object_get(j, "dnssec")) ? "on" : "off");
		json_array_foreach(json_object_get(j, "targets"), i, t)
		{
			if (cli_jstr(t, "error") != NULL) {
				printf("%s: ", cli_jstr(t, "target"));
				cli_put_clean(stdout, cli_jstr(t, "error"));
				putchar('\n');
			}
			json_array_foreach(json_object_get(t, "keys"), m, k)
				json_array_foreach(json_object_get(k, "ds"), n, ds)
			{
				printf("%s: %s %s IN DS ", cli_jstr(t, "target"),
				       cli_jstr(k, "keytype"), cli_jstr(j, "zone"));
				cli_put_clean(stdout, json_string_value(ds));
				putchar('\n');
			}
		}
	}
	json_decref(j);
	return EXIT_OK;
}

/* ---- records ---- */

static int records_list(struct zcli *c)
{
	char path[PATH_LEN];
	json_t *j;
	int rc = zone_path(path, c->words[2], "/records");
	query_add(path, "name", c->name);
	query_add(path, "type", c->type);
	if (rc == 0)
		rc = call(c, "GET", path, NULL, &j, NULL);
	if (rc != 0)
		return rc;
	if (c->g.json) {
		cli_print_json(j);
	} else {
		const json_t *r, *v;
		size_t i, k;
		json_array_foreach(json_object_get(j, "records"), i, r)
		{
			json_array_foreach(json_object_get(r, "content"), k, v)
			{
				printf("%-40s %6lld %-6s ", cli_jstr(r, "name"),
				       cli_jint(r, "ttl"), cli_jstr(r, "type"));
				cli_put_clean(stdout, json_string_value(v));
				if (!json_is_null(json_object_get(r, "host_id")))
					printf("    ; host %lld", cli_jint(r, "host_id"));
				putchar('\n');
			}
		}
		if (cli_jstr(j, "next") != NULL)
			printf("; more: the API's `next` is %s\n", cli_jstr(j, "next"));
	}
	json_decref(j);
	return EXIT_OK;
}

static int records_post(struct zcli *c, json_t *body)
{
	char path[PATH_LEN];
	json_t *j;
	int rc = zone_path(path, c->words[2], "/records");
	if (rc == 0)
		rc = call(c, "POST", path, body, &j, NULL);
	json_decref(body);
	if (rc != 0)
		return rc;
	if (c->g.json)
		cli_print_json(j);
	else
		printf("%lld RRset(s) sent, %lld changed\n", cli_jint(j, "rrsets"),
		       cli_jint(j, "changed"));
	json_decref(j);
	return EXIT_OK;
}

static int records_set(struct zcli *c)
{
	json_t *content = json_array();
	for (size_t i = 5; content != NULL && i < c->nwords; i++)
		json_array_append_new(content, json_string(c->words[i]));
	json_t *rr = json_pack("{s:s, s:s, s:o}", "name", c->words[3], "type", c->words[4],
			       "content", content);
	if (rr != NULL && c->ttl != NULL)
		json_object_set_new(rr, "ttl", json_integer(strtoll(c->ttl, NULL, 10)));
	json_t *body = rr ? json_pack("{s:[o]}", "records", rr) : NULL;
	if (body == NULL) {
		fprintf(stderr, "prism: out of memory (or text that is not UTF-8)\n");
		return EXIT_USAGE;
	}
	return records_post(c, body);
}

static int records_delete(struct zcli *c)
{
	char path[PATH_LEN], name[PATH_LEN / 4], type[64], suffix[PATH_LEN / 2];
	json_t *j;
	if (cli_http_escape(c->words[3], name, sizeof(name)) != 0 ||
	    cli_http_escape(c->words[4], type, sizeof(type)) != 0) {
		fprintf(stderr, "prism: the name is too long\n");
		return EXIT_USAGE;
	}
	snprintf(suffix, sizeof(suffix), "/records/%s/%s", name, type);
	int rc = zone_path(path, c->words[2], suffix);
	if (rc == 0)
		rc = call(c, "DELETE", path, NULL, &j, NULL);
	if (rc != 0)
		return rc;
	if (c->g.json)
		cli_print_json(j);
	else
		printf("deleted %s %s\n", c->words[3], c->words[4]);
	json_decref(j);
	return EXIT_OK;
}

static int records_apply(struct zcli *c)
{
	char *text = read_all(c->words[3]);
	if (text == NULL)
		return EXIT_USAGE;
	json_error_t e;
	json_t *body = json_loads(text, 0, &e);
	free(text);
	if (json_is_array(body)) {
		json_t *wrapped = json_pack("{s:o}", "records", body);
		body = wrapped;
	}
	if (!json_is_object(body)) {
		fprintf(stderr, "prism: %s is not {\"records\": [...]} JSON (%s, line %d)\n",
			c->words[3], body ? "not an object" : e.text, body ? 0 : e.line);
		json_decref(body);
		return EXIT_USAGE;
	}
	return records_post(c, body);
}

/* ---- repoint ---- */

static int repoint(struct zcli *c)
{
	json_t *b = json_pack("{s:s, s:s, s:b}", "from", c->words[1], "to", c->words[2], "dry_run",
			      c->dry_run),
	       *j;
	if (b == NULL)
		return EXIT_ERROR;
	if (c->nzones > 0) {
		json_t *z = json_array();
		for (size_t i = 0; z != NULL && i < c->nzones; i++)
			json_array_append_new(z, json_string(c->zones[i]));
		json_object_set_new(b, "zones", z);
	}
	if (c->match)
		json_object_set_new(b, "name_pattern", json_string(c->match));
	int rc = call(c, "POST", "/api/v1/repoint", b, &j, NULL);
	json_decref(b);
	if (rc != 0)
		return rc;
	if (c->g.json) {
		cli_print_json(j);
	} else {
		const json_t *it;
		size_t i;
		json_array_foreach(json_object_get(j, "changes"), i, it)
		{
			printf("%s %s %s", c->dry_run ? "would change" : "changed",
			       cli_jstr(it, "name"), cli_jstr(it, "type"));
			if (!json_is_null(json_object_get(it, "host_id")))
				printf(" (host %lld)", cli_jint(it, "host_id"));
			putchar('\n');
		}
		printf("%s%lld RRset(s) from %s to %s, %lld host(s)\n",
		       c->dry_run ? "dry run: " : "", cli_jint(j, "count"), cli_jstr(j, "from"),
		       cli_jstr(j, "to"), cli_jint(j, "hosts"));
	}
	json_decref(j);
	return EXIT_OK;
}

/* ---- cluster ---- */

static int cluster_show(struct zcli *c)
{
	json_t *j;
	int rc = call(c, "GET", "/api/v1/cluster", NULL, &j, NULL);
	if (rc != 0)
		return rc;
	if (c->g.json) {
		cli_print_json(j);
		json_decref(j);
		return EXIT_OK;
	}
	const json_t *t, *z, *x;
	size_t i, k;
	bool trouble = false;
	printf("%-16s %-9s %7s %7s %7s %5s\n", "TARGET", "STATE", "MANAGED", "PRESENT", "MISSING",
	       "EXTRA");
	json_array_foreach(json_object_get(j, "targets"), i, t)
	{
		bool up = json_is_true(json_object_get(t, "reachable"));
		printf("%-16s %-9s %7lld %7lld %7lld %5lld\n", cli_jstr(t, "name"),
		       up ? "reachable" : "down", cli_jint(t, "managed"), cli_jint(t, "present"),
		       cli_jint(t, "missing"), cli_jint(t, "extra_count"));
		trouble |= !up || cli_jint(t, "missing") > 0;
	}
	json_array_foreach(json_object_get(j, "targets"), i, t)
	{
		if (!json_is_true(json_object_get(t, "reachable"))) {
			printf("%s: ", cli_jstr(t, "name"));
			cli_put_clean(stdout, cli_jstr(t, "error"));
			putchar('\n');
		}
		json_array_foreach(json_object_get(t, "zones"), k,
				   z) if (strcmp(cli_jstr(z, "state"), "missing") == 0)
			printf("%s: missing %s\n", cli_jstr(t, "name"), cli_jstr(z, "name"));
		json_array_foreach(json_object_get(t, "extra"), k, x)
		{
			printf("%s: extra ", cli_jstr(t, "name"));
			cli_put_clean(stdout, json_string_value(x));
			putchar('\n');
		}
	}
	json_decref(j);
	return trouble ? EXIT_ERROR : EXIT_OK;
}

/* prism cluster resync TARGET, prism zones resync ZONE */
static int resync(struct zcli *c)
{
	char path[PATH_LEN], esc[256];
	bool zone = strcmp(c->words[0], "zones") == 0;
	json_t *j, *b = json_object();
	if (cli_http_escape(c->words[2], esc, sizeof(esc)) != 0 || b == NULL) {
		json_decref(b);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "/api/v1/%s/%s/resync", zone ? "zones" : "targets", esc);
	int rc = call(c, "POST", path, b, &j, NULL);
	json_decref(b);
	if (rc != 0)
		return rc;
	if (c->g.json)
		cli_print_json(j);
	else if (zone)
		printf("zone %s: %lld RRset(s) queued for %lld target(s), checked again\n",
		       cli_jstr(j, "zone"), cli_jint(j, "rrsets"), cli_jint(j, "targets"));
	else
		printf("target %s: %lld RRset(s) queued, every zone checked again\n",
		       cli_jstr(j, "target"), cli_jint(j, "rrsets"));
	json_decref(j);
	return EXIT_OK;
}

/* ---- command line ---- */

struct zcmd {
	const char *group, *sub; /* sub NULL: the group itself (repoint), "" = default */
	size_t min, max;	 /* words after the command (sub included) */
	int (*run)(struct zcli *c);
};

static const struct zcmd zcmds[] = {
	{"zones", "list", 0, 0, zones_list},
	{"zones", "show", 1, 1, zones_show},
	{"zones", "create", 1, 1, zones_create},
	{"zones", "delete", 1, 1, zones_delete},
	{"zones", "export", 1, 1, zones_export},
	{"zones", "dnssec", 1, 2, zones_dnssec},
	{"zones", "import", 1, 1, zones_import},
	{"zones", "resync", 1, 1, resync},
	{"records", "list", 1, 1, records_list},
	{"records", "set", 4, MAX_WORDS, records_set},
	{"records", "delete", 3, 3, records_delete},
	{"records", "apply", 2, 2, records_apply},
	{"cluster", "show", 0, 0, cluster_show},
	{"cluster", "resync", 1, 1, resync},
	{"repoint", NULL, 2, 2, repoint},
};

/* these commands' own options; the global ones are session.c's */
static const struct option long_opts[] = {
	{"yes", no_argument, NULL, 'y'},
	{"kind", required_argument, NULL, O_KIND},
	{"ns", required_argument, NULL, O_NS},
	{"ttl", required_argument, NULL, O_TTL},
	{"targets", required_argument, NULL, O_TARGETS},
	{"template", required_argument, NULL, O_TEMPLATE},
	{"dnssec", no_argument, NULL, O_DNSSEC},
	{"format", required_argument, NULL, O_FORMAT},
	{"from-target", required_argument, NULL, O_FROM_TARGET},
	{"file", required_argument, NULL, O_FILE},
	{"name", required_argument, NULL, O_NAME},
	{"type", required_argument, NULL, O_TYPE},
	{"zone", required_argument, NULL, O_ZONE},
	{"match", required_argument, NULL, O_MATCH},
	{"dry-run", no_argument, NULL, O_DRY_RUN},
	{NULL, 0, NULL, 0},
};

static int add_list(const char **v, size_t *n, const char *s)
{
	if (*n == MAX_LIST) {
		fprintf(stderr, "prism: at most %d of each option\n", MAX_LIST);
		return EXIT_USAGE;
	}
	v[(*n)++] = s;
	return 0;
}

static int set_option(void *ctx, int opt, const char *v)
{
	struct zcli *c = ctx;
	char *end;
	switch (opt) {
	case 'y': c->yes = true; return 0;
	case O_KIND: c->kind = v; return 0;
	case O_NS: return add_list(c->ns, &c->nns, v);
	case O_TTL:
		strtoul(v, &end, 10);
		if (end == v || *end != '\0') {
			fprintf(stderr, "prism: --ttl must be a number of seconds\n");
			return EXIT_USAGE;
		}
		c->ttl = v;
		return 0;
	case O_TARGETS: c->targets = v; return 0;
	case O_TEMPLATE: c->tmpl = v; return 0;
	case O_DNSSEC: c->dnssec = true; return 0;
	case O_FORMAT: c->format = v; return 0;
	case O_FROM_TARGET: c->from_target = v; return 0;
	case O_FILE: c->file = v; return 0;
	case O_NAME: c->name = v; return 0;
	case O_TYPE: c->type = v; return 0;
	case O_ZONE: return add_list(c->zones, &c->nzones, v);
	case O_MATCH: c->match = v; return 0;
	case O_DRY_RUN: c->dry_run = true; return 0;
	default: fprintf(stderr, "prism: unknown option (see prism --help)\n"); return EXIT_USAGE;
	}
}

static int parse(struct zcli *c, int argc, char **argv)
{
	const struct cli_own_opts own = {long_opts, "y", set_option, c};
	return cli_parse(argc, argv, &c->g, &own, c->words, &c->nwords, MAX_WORDS);
}

static const struct zcmd *find_sub(const char *group, const char *sub)
{
	for (size_t i = 0; i < sizeof(zcmds) / sizeof(zcmds[0]); i++)
		if (strcmp(zcmds[i].group, group) == 0 && zcmds[i].sub &&
		    strcmp(zcmds[i].sub, sub) == 0)
			return &zcmds[i];
	return NULL;
}

/* The command's row; `zones` and `records` default to list (records: ZONE only). */
static const struct zcmd *resolve(struct zcli *c)
{
	const char *group = c->words[0];
	if (c->nwords == 1 && strcmp(group, "repoint") != 0) {
		c->words[1] = strcmp(group, "cluster") == 0 ? "show" : "list";
		c->nwords = 2;
	}
	const char *sub = c->words[1];
	if (strcmp(group, "repoint") == 0)
		return &zcmds[sizeof(zcmds) / sizeof(zcmds[0]) - 1];
	for (size_t i = 0; i < sizeof(zcmds) / sizeof(zcmds[0]); i++)
		if (strcmp(zcmds[i].group, group) == 0 && zcmds[i].sub &&
		    strcmp(zcmds[i].sub, sub) == 0)
			return &zcmds[i];
	if (strcmp(group, "records") == 0 && c->nwords == 2) {
		/* `prism records ZONE`: list */
		memmove(c->words + 2, c->words + 1, sizeof(c->words[0]));
		c->words[1] = "list";
		c->nwords = 3;
		return find_sub("records", "list");
	}
	return NULL;
}

int prism_zones_main(int argc, char **argv)
{
	struct zcli c = {.g.so.timeout = 30.0};
	int rc = parse(&c, argc, argv);
	if (rc != 0)
		return rc;
	if (c.g.help || c.nwords == 0) {
		prism_zones_usage(stdout);
		return c.nwords == 0 && !c.g.help ? EXIT_USAGE : EXIT_OK;
	}
	const struct zcmd *cmd = resolve(&c);
	size_t args = c.nwords - (cmd && cmd->sub ? 2 : 1);
	if (cmd == NULL || args < cmd->min || args > cmd->max) {
		fprintf(stderr, "prism: %s; usage:\n",
			cmd ? "wrong number of arguments" : "unknown command");
		prism_zones_usage(stderr);
		return EXIT_USAGE;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_ERROR;
	rc = cli_session_open(&c.s, &c.g.so);
	if (rc == 0)
		rc = cmd->run(&c);
	cli_session_close(&c.s);
	curl_global_cleanup();
	return rc;
}
