/* SPDX-License-Identifier: MIT */
/*
 * The admin commands of `prism`, clients of prismd's REST API.
 *
 * One table lists every command (group, subcommand, positional arguments, the options it
 * takes, its help); one getopt pass reads every option of every command, and the options
 * given are then checked against the command's row. Each command is one request (or a walk
 * over pages) through http.c, then either the server's JSON, pretty, or a human view built
 * with the one table printer. Everything the server sends is untrusted text: control
 * characters never reach the terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli/admin.h"
#include "cli/http.h"
#include "cli/session.h"
#include "core/error.h"
#include "core/inventory.h"

enum {
	EXIT_OK = PRISM_ADMIN_EXIT_OK,
	EXIT_ERROR = PRISM_ADMIN_EXIT_ERROR,
	EXIT_USAGE = PRISM_ADMIN_EXIT_USAGE,
	EXIT_CHANGES = PRISM_ADMIN_EXIT_CHANGES,
	EXIT_UNREACHABLE = PRISM_ADMIN_EXIT_UNREACHABLE,
	EXIT_AUTH = PRISM_ADMIN_EXIT_AUTH,
};

#define DEFAULT_TIMEOUT 30.0
#define PAGE_MAX	1000 /* the API's largest `limit` */
#define MAX_WORDS	8
#define PATH_MAX_LEN	4096

/* options that only some commands take (the global ones are allowed everywhere) */
enum {
	OPT_STATUS = 1u << 0,
	OPT_SEARCH = 1u << 1,
	OPT_LIMIT = 1u << 2,
	OPT_ALL = 1u << 3,
	OPT_AFTER = 1u << 4,
	OPT_YES = 1u << 5,
	OPT_EXPIRES = 1u << 6,
	OPT_TARGET = 1u << 7,
	OPT_PATTERN = 1u << 8,
	OPT_GROUP = 1u << 9,
	OPT_OUTDIR = 1u << 10,
	OPT_SOURCE = 1u << 11,
	OPT_URL = 1u << 12, /* prism targets add */
	OPT_KEYFILE_T = 1u << 13,
	OPT_KEYSTDIN = 1u << 14,
	OPT_SERVERID = 1u << 15,
	OPT_ZONES = 1u << 16,
	OPT_DNSADDR = 1u << 17,
};

/* getopt codes of the long-only options */
enum {
	O_STATUS = CLI_OPT_OWN,
	O_SEARCH,
	O_LIMIT,
	O_ALL,
	O_AFTER,
	O_EXPIRES,
	O_TARGET,
	O_PATTERN,
	O_GROUP,
	O_OUTDIR,
	O_SOURCE,
	O_URL,
	O_KEYFILE_T,
	O_KEYSTDIN,
	O_SERVERID,
	O_ZONES,
	O_DNSADDR,
};

struct admin_cmd;

struct admin {
	const struct admin_cmd *cmd;
	const char *words[MAX_WORDS]; /* positional words: command, subcommand, arguments */
	size_t nwords;
	const char *const *args; /* the command's own arguments (after its name) */
	size_t nargs;
	struct cli_global g; /* the options every API command takes */
	const char *status, *search, *after, *expires, *target;
	const char *pattern, *group, *out_dir, *source;			     /* prism inventory */
	const char *url, *target_key_file, *server_id, *zones, *dns_address; /* targets add */
	bool key_stdin;
	long limit;
	unsigned given; /* OPT_* seen on the command line */
	bool all, yes;
	struct cli_session s;
};

struct admin_cmd {
	const char *group;
	const char *sub; /* NULL: the group is the command; a group's first row is its default */
	size_t nargs;
	unsigned opts;
	int (*run)(struct admin *a);
	const char *synopsis;
	const char *help;
};

/* ---- output ---- */

/*
 * The table printer. Cells are appended row after row into one buffer (NUL after each),
 * and column widths grow as they come, so a table of a million hosts costs its text only.
 */
enum { TABLE_MAXCOLS = 12 };

struct table {
	size_t ncols, col, nrows;
	size_t width[TABLE_MAXCOLS];
	unsigned right; /* bit i: column i is right-aligned (numbers) */
	const char *indent;
	char *buf;
	size_t len, cap;
	bool oom;
};

/* Width on the terminal: UTF-8 continuation bytes take no column. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s != '\0'; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void table_cell(struct table *t, const char *s)
{
	s = s != NULL && s[0] != '\0' ? s : "-";
	size_t n = strlen(s) + 1;
	if (t->oom)
		return;
	if (t->len + n > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		while (cap < t->len + n)
			cap *= 2;
		char *b = realloc(t->buf, cap);
		if (b == NULL) {
			t->oom = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	char *d = t->buf + t->len;
	for (size_t i = 0; i + 1 < n; i++)
		d[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	d[n - 1] = '\0';
	t->len += n;
	size_t w = text_width(d);
	if (w > t->width[t->col])
		t->width[t->col] = w;
	if (++t->col == t->ncols) {
		t->col = 0;
		t->nrows++;
	}
}

__attribute__((format(printf, 2, 3))) static void table_cellf(struct table *t, const char *fmt,
							      ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	table_cell(t, buf);
}

/* A JSON value as a cell: strings as they are, true/false as yes/no, null as "-". */
static void table_json(struct table *t, const json_t *v)
{
	if (json_is_string(v)) {
		table_cell(t, json_string_value(v));
	} else if (json_is_integer(v)) {
		table_cellf(t, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	} else if (json_is_real(v)) {
		table_cellf(t, "%g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		table_cell(t, json_is_true(v) ? "yes" : "no");
	} else if (v == NULL || json_is_null(v)) {
		table_cell(t, NULL);
	} else {
		char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		table_cell(t, text);
		free(text);
	}
}

/* @p headers: @p ncols names, or NULL for a table without a header line. */
static void table_init(struct table *t, size_t ncols, const char *const *headers, unsigned right)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < TABLE_MAXCOLS ? ncols : TABLE_MAXCOLS;
	t->right = right;
	t->indent = "";
	for (size_t i = 0; headers != NULL && i < t->ncols; i++)
		table_cell(t, headers[i]);
}

static void pad(FILE *out, size_t n)
{
	while (n-- > 0)
		fputc(' ', out);
}

/* Print every row, columns two spaces apart, no trailing blanks; frees the table. */
static int table_print(struct table *t, FILE *out)
{
	const char *p = t->buf;
	for (size_t r = 0; r < t->nrows && !t->oom; r++) {
		fputs(t->indent, out);
		for (size_t c = 0; c < t->ncols; c++) {
			size_t gap = t->width[c] - text_width(p);
			bool last = c + 1 == t->ncols, right = (t->right >> c) & 1u;
			if (right)
				pad(out, gap);
			fputs(p, out);
			if (!last)
				pad(out, (right ? 0 : gap) + 2);
			p += strlen(p) + 1;
		}
		fputc('\n', out);
	}
	int rc = t->oom ? -ENOMEM : 0;
	free(t->buf);
	t->buf = NULL;
	if (rc != 0)
		fprintf(stderr, "prism: out of memory\n");
	return rc;
}

/* ---- requests ---- */

static int bad_answer(const char *what)
{
	fprintf(stderr, "prism: unexpected answer from the server (%s)\n", what);
	return EXIT_UNREACHABLE;
}

/* A request whose answer must be 2xx JSON: 0 and *out (caller decrefs), or an exit status. */
static int call(struct admin *a, const char *method, const char *path, const json_t *body,
		json_t **out)
{
	return cli_session_call(&a->s, method, path, body, out, NULL);
}

/* A call whose answer is shown whole with --json, or summed up in one line otherwise. */
static int call_print(struct admin *a, const char *method, const char *path, const json_t *body,
		      void (*human)(const json_t *j))
{
	json_t *j;
	int rc = call(a, method, path, body, &j);
	if (rc != 0)
		return rc;
	if (a->g.json)
		cli_print_json(j);
	else
		human(j);
	json_decref(j);
	return EXIT_OK;
}

/* "/api/v1/<prefix>/<seg, escaped><suffix>" */
static int seg_path(char *out, size_t n, const char *prefix, const char *seg, const char *suffix)
{
	char esc[PATH_MAX_LEN / 2];
	if (cli_http_escape(seg, esc, sizeof(esc)) != 0 ||
	    (size_t)snprintf(out, n, "/api/v1/%s/%s%s", prefix, esc, suffix) >= n) {
		fprintf(stderr, "prism: the name is too long\n");
		return EXIT_USAGE;
	}
	return 0;
}

struct query {
	char buf[PATH_MAX_LEN];
	size_t len;
	bool failed;
};

static void query_init(struct query *q, const char *path)
{
	q->len = (size_t)snprintf(q->buf, sizeof(q->buf), "%s", path);
	q->failed = false;
}

/* Append "?key=value" or "&key=value", the value escaped; NULL values are left out. */
static void query_add(struct query *q, const char *key, const char *value)
{
	char esc[PATH_MAX_LEN / 2];
	if (value == NULL || q->failed)
		return;
	int n = -1;
	if (cli_http_escape(value, esc, sizeof(esc)) == 0)
		n = snprintf(q->buf + q->len, sizeof(q->buf) - q->len, "%c%s=%s",
			     strchr(q->buf, '?') ? '&' : '?', key, esc);
	if (n < 0 || (size_t)n >= sizeof(q->buf) - q->len) {
		q->failed = true;
		return;
	}
	q->len += (size_t)n;
}

static void query_addl(struct query *q, const char *key, long value)
{
	char v[24];
	snprintf(v, sizeof(v), "%ld", value);
	query_add(q, key, v);
}

/* ---- walking pages ---- */

/*
 * Follow `next` through a keyset-paginated list. With --json the items are streamed as one
 * document of the server's shape ({"<key>": [...], "next": ...}), so memory stays flat
 * however many pages there are; otherwise each item becomes a table row.
 */
struct walk {
	const char *path;  /* the list's path with its filters */
	const char *key;   /* the array of each page: "hosts", "tokens", "entries" */
	const char *what;  /* for the progress line */
	long want;	   /* stop after this many items; 0: follow every page */
	long page;	   /* items per request */
	const char *after; /* start here (a `next` value) */
	void (*row)(struct table *t, const json_t *item);
	struct table *t;
	void (*item)(void *arg, const json_t *item); /* instead of row (never with --json) */
	void *arg;
	size_t got;
	json_t *next; /* `next` of the last page fetched (a string, or NULL at the end) */
	bool progress;
	bool opened; /* --json: the document has begun */
};

static void stream_item(const json_t *item, size_t index)
{
	char *text = json_dumps(item, JSON_INDENT(2));
	if (text == NULL)
		return;
	fputs(index == 0 ? "\n    " : ",\n    ", stdout);
	for (const char *p = text; *p != '\0'; p++) {
		fputc(*p, stdout);
		if (*p == '\n')
			fputs("    ", stdout);
	}
	free(text);
}

static void stream_end(const struct walk *w)
{
	char *next = json_dumps(w->next ? w->next : json_null(), JSON_ENCODE_ANY);
	printf("%s],\n  \"next\": %s\n}\n", w->got ? "\n  " : "", next ? next : "null");
	free(next);
}

static int walk_page(struct admin *a, struct walk *w, const char *cursor)
{
	struct query q;
	long n = w->want ? w->want - (long)w->got : w->page;
	query_init(&q, w->path);
	query_addl(&q, "limit", n < w->page ? n : w->page);
	query_add(&q, "after", cursor);
	if (q.failed)
		return bad_answer("a cursor too long to send back");
	json_t *j, *item;
	int rc = call(a, "GET", q.buf, NULL, &j);
	if (rc != 0)
		return rc;
	json_t *items = json_object_get(j, w->key), *next = json_object_get(j, "next");
	size_t i;
	bool next_ok = next == NULL || json_is_null(next) || json_is_string(next);
	if (!json_is_array(items) || !next_ok) {
		json_decref(j);
		return bad_answer("no list in the page");
	}
	if (a->g.json && !w->opened && w->item == NULL)
		printf("{\n  \"%s\": [", w->key);
	w->opened = a->g.json && w->item == NULL;
	json_array_foreach(items, i, item)
	{
		if (w->item != NULL)
			w->item(w->arg, item);
		else if (a->g.json)
			stream_item(item, w->got);
		else
			w->row(w->t, item);
		w->got++;
	}
	json_decref(w->next);
	w->next = json_is_string(next) ? json_incref(next) : NULL;
	json_decref(j);
	return 0;
}

static int walk(struct admin *a, struct walk *w)
{
	int rc = 0;
	bool shown = false, tty = w->progress && isatty(STDERR_FILENO);
	for (const char *cursor = w->after;;) {
		rc = walk_page(a, w, cursor);
		if (rc != 0 || w->next == NULL || (w->want && (long)w->got >= w->want))
			break;
		cursor = json_string_value(w->next);
		if (tty) {
			fprintf(stderr, "\rprism: %zu %s so far...", w->got, w->what);
			shown = true;
		}
	}
	if (shown)
		fputs("\r\033[K", stderr);
	/* after a failure, the pages so far still make one document; its `next` says where
	 * to go on from */
	if (w->opened)
		stream_end(w);
	return rc;
}

/* ---- hosts ---- */

static void host_row(struct table *t, const json_t *h)
{
	table_json(t, json_object_get(h, "id"));
	table_json(t, json_object_get(h, "hostname"));
	table_json(t, json_object_get(h, "status"));
	table_json(t, json_object_get(h, "source"));
	table_json(t, json_object_get(h, "ipv4"));
	table_json(t, json_object_get(h, "ipv6"));
	table_json(t, json_object_get(h, "dns_sync_status"));
	table_json(t, json_object_get(h, "last_seen"));
}

static int hosts_list(struct admin *a)
{
	static const char *const head[] = {"ID",   "HOSTNAME", "STATUS", "SOURCE",
					   "IPV4", "IPV6",     "DNS",	 "LAST SEEN"};
	struct query q;
	struct table t;
	query_init(&q, "/api/v1/hosts");
	query_add(&q, "status", a->status);
	query_add(&q, "search", a->search);
	if (q.failed) {
		fprintf(stderr, "prism: --search is too long\n");
		return EXIT_USAGE;
	}
	table_init(&t, 8, head, 1u);
	struct walk w = {.path = q.buf,
			 .key = "hosts",
			 .what = "hosts",
			 .row = host_row,
			 .t = &t,
			 .after = a->after,
			 .progress = a->all};
	w.page = a->limit ? a->limit : a->all ? PAGE_MAX : 100;
	w.want = a->all ? 0 : w.page;
	int rc = walk(a, &w);
	if (rc == 0 && !a->g.json) {
		if (w.got > 0)
			rc = table_print(&t, stdout) ? EXIT_ERROR : 0;
		else
			printf(a->status || a->search ? "no hosts match\n" : "no hosts\n");
		if (w.next != NULL) {
			fputs("prism: more hosts follow: --all lists every one, --after ", stderr);
			cli_put_clean(stderr, json_string_value(w.next));
			fputs(" goes on from here\n", stderr);
		}
	}
	free(t.buf);
	json_decref(w.next);
	return rc;
}

static void ledger_table(const json_t *rows)
{
	static const char *const head[] = {"TARGET", "ZONE",	 "NAME",    "TYPE",
					   "STATUS", "ATTEMPTS", "UPDATED", "LAST ERROR"};
	struct table t;
	const json_t *r;
	size_t i;
	if (json_array_size(rows) == 0) {
		printf("\nno DNS records for this host yet\n");
		return;
	}
	table_init(&t, 8, head, 1u << 5);
	json_array_foreach(rows, i, r)
	{
		static const char *const keys[] = {"target",	 "zone",      "name",
						   "type",	 "status",    "attempts",
						   "updated_at", "last_error"};
		for (size_t k = 0; k < 8; k++)
			table_json(&t, json_object_get(r, keys[k]));
	}
	putchar('\n');
	table_print(&t, stdout);
}

static void host_human(const json_t *h)
{
	static const char *const fields[][2] = {
		{"id", "id"},
		{"hostname", "hostname"},
		{"status", "status"},
		{"source", "source"},
		{"current_ip", "address"},
		{"ipv4", "ipv4"},
		{"ipv6", "ipv6"},
		{"first_seen", "first seen"},
		{"last_seen", "last seen"},
		{"bound", "bound to a token"},
		{"dns_zone", "dns zone"},
		{"dns_name", "dns name"},
		{"dns_ttl", "dns ttl"},
		{"dns_sync_status", "dns sync"},
		{"dns_last_sync", "dns last sync"},
	};
	struct table t;
	table_init(&t, 2, NULL, 0);
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		table_cell(&t, fields[i][1]);
		table_json(&t, json_object_get(h, fields[i][0]));
	}
	table_print(&t, stdout);
	ledger_table(json_object_get(h, "sync"));
}

static int hosts_show(struct admin *a)
{
	char path[PATH_MAX_LEN];
	int rc = seg_path(path, sizeof(path), "hosts", a->args[0], "");
	return rc ? rc : call_print(a, "GET", path, NULL, host_human);
}

static void deleted_human(const json_t *j)
{
	const json_t *h = json_object_get(j, "deleted");
	printf("deleted host ");
	cli_put_clean(stdout, cli_jstr(h, "hostname"));
	printf(" (id %lld): its DNS records are being removed from every target\n",
	       cli_jint(h, "id"));
}

static int hosts_delete(struct admin *a)
{
	if (!a->yes) {
		fputs("prism: deleting a host also deletes its DNS records from every target; "
		      "add --yes to do it\n",
		      stderr);
		return EXIT_USAGE;
	}
	char path[PATH_MAX_LEN];
	int rc = seg_path(path, sizeof(path), "hosts", a->args[0], "");
	return rc ? rc : call_print(a, "DELETE", path, NULL, deleted_human);
}

static void released_human(const json_t *j)
{
	const json_t *h = json_object_get(j, "released");
	printf("released host ");
	cli_put_clean(stdout, cli_jstr(h, "hostname"));
	printf(" (id %lld): the next agent token to register it owns it\n", cli_jint(h, "id"));
}

static int hosts_release(struct admin *a)
{
	char path[PATH_MAX_LEN];
	int rc = seg_path(path, sizeof(path), "hosts", a->args[0], "/release");
	return rc ? rc : call_print(a, "POST", path, NULL, released_human);
}

/* ---- agent tokens ---- */

static void token_row(struct table *t, const json_t *tk)
{
	table_json(t, json_object_get(tk, "name"));
	table_cell(t, !json_is_true(json_object_get(tk, "active"))   ? "revoked"
		      : json_is_true(json_object_get(tk, "expired")) ? "expired"
								     : "active");
	table_json(t, json_object_get(tk, "created_at"));
	table_cell(t, cli_jstr(tk, "expires_at") ? cli_jstr(tk, "expires_at") : "never");
}

static int tokens_list(struct admin *a)
{
	static const char *const head[] = {"NAME", "STATUS", "CREATED", "EXPIRES"};
	struct table t;
	table_init(&t, 4, head, 0);
	struct walk w = {.path = "/api/v1/tokens",
			 .key = "tokens",
			 .what = "tokens",
			 .page = PAGE_MAX,
			 .row = token_row,
			 .t = &t};
	int rc = walk(a, &w);
	if (rc == 0 && !a->g.json) {
		if (w.got > 0)
			rc = table_print(&t, stdout) ? EXIT_ERROR : 0;
		else
			printf("no agent tokens in the registry (those of auth.tokens in "
			       "server.yaml are not listed)\n");
	}
	free(t.buf);
	json_decref(w.next);
	return rc;
}

static void token_created_human(const json_t *j)
{
	printf("created agent token '");
	cli_put_clean(stdout, cli_jstr(j, "name"));
	printf("' (expires: ");
	cli_put_clean(stdout, cli_jstr(j, "expires_at") ? cli_jstr(j, "expires_at") : "never");
	printf(")\n\n    ");
	cli_put_clean(stdout, cli_jstr(j, "token"));
	printf("\n\nThis is the only time the token is shown: store it now. Agents send it as "
	       "auth_token\n(prism agent --token, or server.auth_token_file).\n");
}

static int tokens_create(struct admin *a)
{
	json_t *body = json_pack("{s:s}", "name", a->args[0]);
	if (body != NULL && a->expires != NULL)
		json_object_set_new(body, "expires_at", json_string(a->expires));
	if (body == NULL) {
		fprintf(stderr, "prism: the name must be UTF-8 text\n");
		return EXIT_USAGE;
	}
	int rc = call_print(a, "POST", "/api/v1/tokens", body, token_created_human);
	json_decref(body);
	return rc;
}

static void revoked_human(const json_t *j)
{
	printf("revoked agent token '");
	cli_put_clean(stdout, cli_jstr(j, "name"));
	printf("' (%lld active token%s): agents using it are refused from now on\n",
	       cli_jint(j, "revoked"), cli_jint(j, "revoked") == 1 ? "" : "s");
}

static int tokens_revoke(struct admin *a)
{
	char path[PATH_MAX_LEN];
	int rc = seg_path(path, sizeof(path), "tokens", a->args[0], "");
	return rc ? rc : call_print(a, "DELETE", path, NULL, revoked_human);
}

/* ---- targets ---- */

static void targets_human(const json_t *j)
{
	static const char *const head[] = {"NAME",     "STATE",	       "ZONE READY", "FAILURES",
					   "RETRY IN", "PENDING",      "SYNCED",     "FAILED",
					   "CONFLICT", "LAST SUCCESS", "HEALTH"};
	const json_t *targets = json_object_get(j, "targets"), *tg;
	size_t i;
	if (json_array_size(targets) == 0) {
		printf("no targets: DNS sync is disabled\n");
		return;
	}
	struct table t;
	table_init(&t, 11, head, 0x1f8u);
	json_array_foreach(targets, i, tg)
	{
		const json_t *lg = json_object_get(tg, "ledger");
		table_json(&t, json_object_get(tg, "name"));
		table_json(&t, json_object_get(tg, "state"));
		table_json(&t, json_object_get(tg, "zone_ready"));
		table_json(&t, json_object_get(tg, "failures"));
		table_cellf(&t, "%gs", json_number_value(json_object_get(tg, "retry_in")));
		table_json(&t, json_object_get(lg, "pending"));
		table_json(&t, json_object_get(lg, "synced"));
		table_json(&t, json_object_get(lg, "failed"));
		table_json(&t, json_object_get(lg, "conflict"));
		table_json(&t, json_object_get(tg, "last_success"));
		table_json(&t, json_object_get(json_object_get(tg, "health"), "state"));
	}
	table_print(&t, stdout);
	json_array_foreach(targets, i, tg)
	{
		const char *why = cli_jstr(json_object_get(tg, "health"), "reason");
		if (why != NULL && why[0] != '\0') {
			cli_put_clean(stdout, cli_jstr(tg, "name"));
			fputs(": ", stdout);
			cli_put_clean(stdout, why);
			putchar('\n');
		}
	}
}

static int targets_list(struct admin *a)
{
	return call_print(a, "GET", "/api/v1/targets", NULL, targets_human);
}

static void target_state_human(const json_t *j)
{
	printf("target '");
	cli_put_clean(stdout, cli_jstr(j, "name"));
	printf("' is now ");
	cli_put_clean(stdout, cli_jstr(j, "state"));
	putchar('\n');
}

static int target_pause(struct admin *a, const char *verb)
{
	char path[PATH_MAX_LEN];
	int rc = seg_path(path, sizeof(path), "targets", a->args[0], verb);
	return rc ? rc : call_print(a, "POST", path, NULL, target_state_human);
}

static int targets_pause(struct admin *a)
{
	return target_pause(a, "/pause");
}

static int targets_resume(struct admin *a)
{
	return target_pause(a, "/resume");
}

static void target_added_human(const json_t *j)
{
	printf("target '");
	cli_put_clean(stdout, cli_jstr(j, "name"));
	printf("' added: ");
	cli_put_clean(stdout, cli_jstr(j, "api_url"));
	printf("; it catches up now\n");
}

static void target_removed_human(const json_t *j)
{
	printf("target '");
	cli_put_clean(stdout, cli_jstr(json_object_get(j, "deleted"), "name"));
	printf("' removed: nothing more is pushed to it; its records stay on the server\n");
}

/* The key from the first line of standard input (--key-stdin). */
static char *key_from_stdin(void)
{
	char buf[4096];
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		return NULL;
	buf[strcspn(buf, "\r\n")] = '\0';
	char *k = buf[0] ? strdup(buf) : NULL;
	explicit_bzero(buf, sizeof(buf));
	return k;
}

static int targets_add(struct admin *a)
{
	if (a->url == NULL || (a->target_key_file == NULL) == !a->key_stdin) {
		fprintf(stderr,
			"prism: give --url and one of --key-file and --key-stdin; usage: "
			"%s\n",
			a->cmd->synopsis);
		return EXIT_USAGE;
	}
	json_t *body = json_object(), *zones = NULL;
	char *key = a->key_stdin ? key_from_stdin() : NULL;
	if (a->key_stdin && key == NULL) {
		json_decref(body);
		fprintf(stderr, "prism: --key-stdin: no key on standard input\n");
		return EXIT_USAGE;
	}
	if (a->zones != NULL) {
		zones = json_array();
		for (const char *p = a->zones; *p != '\0';) {
			size_t len = strcspn(p, ",");
			if (len > 0)
				json_array_append_new(zones, json_stringn(p, len));
			p += len + (p[len] == ',');
		}
	}
	json_object_set_new(body, "name", json_string(a->args[0]));
	json_object_set_new(body, "api_url", json_string(a->url));
	if (key != NULL)
		json_object_set_new(body, "api_key", json_string(key));
	const char *keys[] = {"api_key_file", "server_id", "group", "dns_address"};
	const char *vals[] = {a->target_key_file, a->server_id, a->group, a->dns_address};
	for (size_t i = 0; i < 4; i++)
		if (vals[i] != NULL)
			json_object_set_new(body, keys[i], json_string(vals[i]));
	if (zones != NULL)
		json_object_set_new(body, "zones", zones);
	int rc = call_print(a, "POST", "/api/v1/targets", body, target_added_human);
	json_decref(body);
	if (key != NULL) {
		explicit_bzero(key, strlen(key));
		free(key);
	}
	return rc;
}

static int targets_remove(struct admin *a)
{
	char path[PATH_MAX_LEN];
	if (!a->yes) {
		fprintf(stderr, "prism: removing a target needs --yes; usage: %s\n",
			a->cmd->synopsis);
		return EXIT_USAGE;
	}
	int rc = seg_path(path, sizeof(path), "targets", a->args[0], "");
	return rc ? rc : call_print(a, "DELETE", path, NULL, target_removed_human);
}

/* ---- sync and plan ---- */

static void sync_row(struct table *t, const char *name, const json_t *c)
{
	static const char *const keys[] = {"pending", "synced", "failed", "conflict"};
	table_cell(t, name);
	for (size_t k = 0; k < 4; k++)
		table_json(t, json_object_get(c, keys[k]));
	const json_t *age = json_object_get(c, "oldest_pending_seconds");
	if (json_is_integer(age))
		table_cellf(t, "%" JSON_INTEGER_FORMAT "s", json_integer_value(age));
	else
		table_cell(t, NULL);
}

static void sync_human(const json_t *j)
{
	static const char *const head[] = {"TARGET", "PENDING",	 "SYNCED",
					   "FAILED", "CONFLICT", "OLDEST PENDING"};
	const json_t *targets = json_object_get(j, "targets"), *tg;
	size_t i;
	if (json_array_size(targets) == 0) {
		printf("no DNS records to sync (no target, or no host yet)\n");
		return;
	}
	struct table t;
	table_init(&t, 6, head, 0x3eu);
	json_array_foreach(targets, i, tg) sync_row(&t, cli_jstr(tg, "name"), tg);
	if (json_array_size(targets) > 1)
		sync_row(&t, "total", json_object_get(j, "totals"));
	table_print(&t, stdout);
}

static int sync_status(struct admin *a)
{
	return call_print(a, "GET", "/api/v1/sync", NULL, sync_human);
}

static void retried_human(const json_t *j)
{
	long long n = cli_jint(j, "retried");
	if (n == 0)
		printf("no failed DNS records to retry\n");
	else
		printf("%lld failed DNS record%s will be pushed again now\n", n,
		       n == 1 ? "" : "s");
}

static int sync_retry(struct admin *a)
{
	json_t *body = a->target ? json_pack("{s:s}", "target", a->target) : NULL;
	if (a->target != NULL && body == NULL) {
		fprintf(stderr, "prism: --target must be UTF-8 text\n");
		return EXIT_USAGE;
	}
	int rc = call_print(a, "POST", "/api/v1/sync/retry", body, retried_human);
	json_decref(body);
	return rc;
}

static void reconcile_human(const json_t *j)
{
	printf("reconcile started on every target: `prism sync` shows the progress, "
	       "`prism plan` what is left\n");
}

static int sync_reconcile(struct admin *a)
{
	return call_print(a, "POST", "/api/v1/sync/reconcile", NULL, reconcile_human);
}

struct plan_sum {
	long long n[5]; /* in_sync, create, update, delete, conflict */
	size_t zones, errors;
};

static const char *const plan_keys[] = {"in_sync", "create", "update", "delete", "conflict"};

static void plan_sum(const json_t *zones, struct plan_sum *s)
{
	const json_t *z;
	size_t i;
	memset(s, 0, sizeof(*s));
	json_array_foreach(zones, i, z)
	{
		s->zones++;
		if (json_object_get(z, "error") != NULL)
			s->errors++;
		for (size_t k = 0; k < 5; k++)
			s->n[k] += cli_jint(z, plan_keys[k]);
	}
}

static void plan_counts(const json_t *zones)
{
	static const char *const head[] = {"TARGET", "ZONE",   "IN SYNC", "CREATE",
					   "UPDATE", "DELETE", "CONFLICT"};
	struct table t;
	const json_t *z;
	size_t i;
	table_init(&t, 7, head, 0x7cu);
	json_array_foreach(zones, i, z)
	{
		table_json(&t, json_object_get(z, "target"));
		table_json(&t, json_object_get(z, "zone"));
		bool err = json_object_get(z, "error") != NULL;
		for (size_t k = 0; k < 5; k++) {
			if (err)
				table_cell(&t, k == 0 ? "unreadable" : NULL);
			else
				table_json(&t, json_object_get(z, plan_keys[k]));
		}
	}
	table_print(&t, stdout);
}

static void plan_changes(const json_t *zones)
{
	static const char *const head[] = {"ACTION", "TARGET", "ZONE", "NAME", "TYPE"};
	struct table t;
	const json_t *z, *c;
	size_t i, k;
	table_init(&t, 5, head, 0);
	json_array_foreach(zones, i, z)
	{
		json_array_foreach(json_object_get(z, "changes"), k, c)
		{
			table_json(&t, json_object_get(c, "action"));
			table_json(&t, json_object_get(z, "target"));
			table_json(&t, json_object_get(z, "zone"));
			table_json(&t, json_object_get(c, "name"));
			table_json(&t, json_object_get(c, "type"));
		}
	}
	putchar('\n');
	table_print(&t, stdout);
}

static void plan_human(const json_t *zones, const struct plan_sum *s)
{
	if (s->zones == 0) {
		printf("No changes: there is no managed zone yet.\n");
		return;
	}
	plan_counts(zones);
	if (s->n[1] + s->n[2] + s->n[3] + s->n[4] == 0) {
		if (s->errors == 0)
			printf("\nNo changes: DNS matches the registry on every target "
			       "(%lld RRsets in sync).\n",
			       s->n[0]);
		return;
	}
	plan_changes(zones);
	printf("\nPlan: %lld to create, %lld to update, %lld to delete, %lld conflict%s.\n",
	       s->n[1], s->n[2], s->n[3], s->n[4], s->n[4] == 1 ? "" : "s");
	printf("`prism sync reconcile` applies it; conflicts (foreign RRsets) are left alone.\n");
}

static void plan_errors(const json_t *zones)
{
	const json_t *z;
	size_t i;
	json_array_foreach(zones, i, z)
	{
		if (cli_jstr(z, "error") == NULL)
			continue;
		fputs("prism: target ", stderr);
		cli_put_clean(stderr, cli_jstr(z, "target"));
		fputs(", zone ", stderr);
		cli_put_clean(stderr, cli_jstr(z, "zone"));
		fputs(": cannot be read (", stderr);
		cli_put_clean(stderr, cli_jstr(z, "error"));
		fputs(")\n", stderr);
	}
}

/* Exit status like `terraform plan -detailed-exitcode`: 0 in sync, 2 changes, 1 error. */
static int plan(struct admin *a)
{
	json_t *j;
	int rc = call(a, "GET", "/api/v1/sync/plan", NULL, &j);
	if (rc != 0)
		return rc;
	const json_t *zones = json_object_get(j, "zones");
	if (!json_is_array(zones)) {
		json_decref(j);
		return bad_answer("no zones in the plan");
	}
	struct plan_sum s;
	plan_sum(zones, &s);
	if (a->g.json)
		cli_print_json(j);
	else
		plan_human(zones, &s);
	plan_errors(zones);
	json_decref(j);
	if (s.errors > 0)
		return EXIT_ERROR;
	return s.n[1] + s.n[2] + s.n[3] + s.n[4] > 0 ? EXIT_CHANGES : EXIT_OK;
}

/* ---- audit and health ---- */

static void audit_row(struct table *t, const json_t *e)
{
	table_json(t, json_object_get(e, "id"));
	table_json(t, json_object_get(e, "at"));
	table_json(t, json_object_get(e, "actor"));
	table_json(t, json_object_get(e, "action"));
	table_json(t, json_object_get(e, "object"));
	char *before = json_dumps(json_object_get(e, "before"), JSON_COMPACT | JSON_ENCODE_ANY);
	char *after = json_dumps(json_object_get(e, "after"), JSON_COMPACT | JSON_ENCODE_ANY);
	table_cellf(t, "%s -> %s", before ? before : "null", after ? after : "null");
	free(before);
	free(after);
}

static int audit(struct admin *a)
{
	static const char *const head[] = {"ID", "AT", "ACTOR", "ACTION", "OBJECT", "CHANGE"};
	struct table t;
	table_init(&t, 6, head, 1u);
	struct walk w = {.path = "/api/v1/audit",
			 .key = "entries",
			 .what = "entries",
			 .page = PAGE_MAX,
			 .row = audit_row,
			 .t = &t};
	w.want = a->limit ? a->limit : 50;
	int rc = walk(a, &w);
	if (rc == 0 && !a->g.json) {
		if (w.got > 0)
			rc = table_print(&t, stdout) ? EXIT_ERROR : 0;
		else
			printf("no audit entries: nothing was changed through the API yet\n");
	}
	free(t.buf);
	json_decref(w.next);
	return rc;
}

static void uptime_cell(struct table *t, long long s)
{
	if (s >= 86400)
		table_cellf(t, "%lldd %lldh (%lld s)", s / 86400, s % 86400 / 3600, s);
	else if (s >= 3600)
		table_cellf(t, "%lldh %lldm (%lld s)", s / 3600, s % 3600 / 60, s);
	else
		table_cellf(t, "%lld s", s);
}

static void health_human(const json_t *j)
{
	struct table t;
	const json_t *checks = json_object_get(j, "checks"), *v;
	const char *name;
	size_t i;
	table_init(&t, 2, NULL, 0);
	table_cell(&t, "status");
	table_json(&t, json_object_get(j, "status"));
	table_cell(&t, "version");
	table_json(&t, json_object_get(j, "version"));
	table_cell(&t, "uptime");
	uptime_cell(&t, cli_jint(j, "uptime_seconds"));
	table_cell(&t, "registry");
	table_json(&t, json_object_get(checks, "registry"));
	json_object_foreach(json_object_get(checks, "targets"), name, v)
	{
		table_cellf(&t, "target %s", name);
		table_json(&t, v);
	}
	json_array_foreach(json_object_get(j, "reasons"), i, v)
	{
		table_cell(&t, "reason");
		table_json(&t, v);
	}
	table_print(&t, stdout);
}

/* 200 (healthy or degraded) exits 0; 503 (unhealthy) prints the same and exits 1. */
static int health(struct admin *a)
{
	long status = 0;
	json_t *j;
	int rc = cli_session_request(&a->s, "GET", "/api/health", NULL, &status, &j);
	if (rc != 0)
		return rc;
	if ((status != 200 && status != 503) || !json_is_string(json_object_get(j, "status"))) {
		rc = status >= 300 ? cli_answer_error(&a->s, status, j) : bad_answer("no status");
		json_decref(j);
		return rc;
	}
	if (a->g.json)
		cli_print_json(j);
	else
		health_human(j);
	json_decref(j);
	if (status == 503)
		fprintf(stderr, "prism: prismd is unhealthy (HTTP 503)\n");
	return status == 200 ? EXIT_OK : EXIT_ERROR;
}

/* ---- inventory ---- */

struct inv_walk {
	struct prism_inventory *inv;
	const char *source;
	size_t hosts, ungrouped;
	int err;
};

static void inv_item(void *arg, const json_t *h)
{
	struct inv_walk *w = arg;
	const char *host = cli_jstr(h, "hostname"), *dns = cli_jstr(h, "dns_name");
	const char *src = cli_jstr(h, "source"), *addr = cli_jstr(h, "ipv4");
	char name[300];
	if (host == NULL || w->err != 0 || (w->source && (!src || strcmp(src, w->source) != 0)))
		return;
	if (addr == NULL)
		addr = cli_jstr(h, "ipv6");
	/* the inventory name: the DNS name without its dot, else the hostname */
	snprintf(name, sizeof(name), "%s", dns ? dns : host);
	size_t n = strlen(name);
	if (n > 1 && name[n - 1] == '.')
		name[n - 1] = '\0';
	int rc = prism_inventory_add(w->inv, host, name, addr, src);
	if (rc == PRISM_ENOTFOUND)
		w->ungrouped++;
	else if (rc != 0)
		w->err = rc;
	w->hosts++;
}

/* DIR/NAME.yml through a temporary file: a reader never sees half a file. */
static int write_group(const char *dir, const char *name, const char *text, size_t len)
{
	char path[PATH_MAX_LEN], tmp[PATH_MAX_LEN + 8];
	snprintf(path, sizeof(path), "%s/%s.yml", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL || fwrite(text, 1, len, f) != len || fclose(f) != 0 ||
	    rename(tmp, path) != 0) {
		fprintf(stderr, "prism: cannot write %s (%s)\n", path, strerror(errno));
		return EXIT_ERROR;
	}
	return 0;
}

static int inventory(struct admin *a)
{
	char err[256] = "";
	struct inv_walk iw = {.source = a->source};
	if (a->pattern == NULL)
		return cli_usage_error("inventory needs --pattern REGEX", NULL);
	if (prism_inventory_new(a->pattern, a->group, &iw.inv, err, sizeof(err)) != 0)
		return cli_usage_error(err, NULL);
	struct query q;
	query_init(&q, "/api/v1/hosts");
	query_add(&q, "status", a->status);
	query_add(&q, "search", a->search);
	struct walk w = {.path = q.buf,
			 .key = "hosts",
			 .what = "hosts",
			 .item = inv_item,
			 .arg = &iw,
			 .page = PAGE_MAX,
			 .progress = true};
	int rc = q.failed ? cli_usage_error("--search is too long", NULL) : walk(a, &w);
	if (rc == 0 && iw.err != 0)
		rc = EXIT_ERROR;
	const char *dir = a->out_dir ? a->out_dir : ".";
	for (size_t g = 0; rc == 0 && g < prism_inventory_ngroups(iw.inv); g++) {
		const char *name;
		char *text;
		size_t n, len;
		if (prism_inventory_render(iw.inv, g, &name, &n, &text, &len) != 0) {
			rc = EXIT_ERROR;
			break;
		}
		rc = write_group(dir, name, text, len);
		if (rc == 0)
			printf("%s/%s.yml: %zu host(s)\n", dir, name, n);
		free(text);
	}
	if (rc == 0)
		printf("%zu host(s) in %zu group(s)%s\n", iw.hosts,
		       prism_inventory_ngroups(iw.inv),
		       iw.ungrouped ? " (the pattern did not match some: ungrouped.yml)" : "");
	json_decref(w.next);
	prism_inventory_free(iw.inv);
	return rc;
}

/* ---- the commands ---- */

static const struct admin_cmd cmds[] = {
	{"hosts", "list", 0, OPT_STATUS | OPT_SEARCH | OPT_LIMIT | OPT_ALL | OPT_AFTER, hosts_list,
	 "prism hosts [list] [--status online|offline] [--search TEXT] [--limit N] [--all]\n"
	 "                   [--after CURSOR]",
	 "List hosts in id order (GET /api/v1/hosts).\n"
	 "  --status S      only online or only offline hosts\n"
	 "  --search TEXT   only hostnames containing TEXT (any case)\n"
	 "  --limit N       at most N hosts (1-1000, default 100); with --all, hosts per\n"
	 "                  request (default 1000)\n"
	 "  --all           follow every page to the last host (progress on stderr when it is\n"
	 "                  a terminal)\n"
	 "  --after CURSOR  start after CURSOR, the `next` of an earlier page\n"},
	{"hosts", "show", 1, 0, hosts_show, "prism hosts show HOST",
	 "Show one host (by hostname or id): both addresses, DNS fields, and its DNS records\n"
	 "per target with their sync status and last error.\n"},
	{"hosts", "delete", 1, OPT_YES, hosts_delete, "prism hosts delete HOST --yes",
	 "Delete a host; its DNS records are deleted from every target. Refuses without\n"
	 "--yes (write role).\n"},
	{"hosts", "release", 1, 0, hosts_release, "prism hosts release HOST",
	 "Unbind the hostname from the agent token that registered it, so that another\n"
	 "token may claim it (admin role).\n"},
	{"tokens", "list", 0, 0, tokens_list, "prism tokens [list]",
	 "List the agent tokens kept in the registry (names and dates, never secrets).\n"},
	{"tokens", "create", 1, OPT_EXPIRES, tokens_create,
	 "prism tokens create NAME [--expires ISO-8601]",
	 "Create an agent token and print it: it is shown this once only (admin role).\n"
	 "  --expires TIME  e.g. 2027-01-01T00:00:00Z; default: never\n"},
	{"tokens", "revoke", 1, 0, tokens_revoke, "prism tokens revoke NAME",
	 "Revoke every active agent token called NAME (admin role).\n"},
	{"targets", "list", 0, 0, targets_list, "prism targets [list]",
	 "List the DNS targets: state (ok, backoff, unauthorised, paused), failures, and\n"
	 "DNS records per sync status.\n"},
	{"targets", "pause", 1, 0, targets_pause, "prism targets pause NAME",
	 "Pause a target: nothing is sent to it until it is resumed (admin role).\n"},
	{"targets", "resume", 1, 0, targets_resume, "prism targets resume NAME",
	 "Resume a paused target; it catches up on its own (admin role).\n"},
	{"targets", "add", 1,
	 OPT_URL | OPT_KEYFILE_T | OPT_KEYSTDIN | OPT_SERVERID | OPT_ZONES | OPT_GROUP |
		 OPT_DNSADDR,
	 targets_add,
	 "prism targets add NAME --url URL (--key-file FILE | --key-stdin)\n"
	 "                  [--server-id ID] [--zones Z1,Z2] [--group G] [--dns-address IP:PORT]",
	 "Add a PowerDNS target while prismd runs (POST /api/v1/targets, admin role): kept\n"
	 "in the registry (it comes back after a restart) and caught up at once.\n"
	 "  --url URL            its API, http(s)://HOST:PORT/api/v1\n"
	 "  --key-file FILE      its API key file, a path on prismd's host (read by prismd\n"
	 "                       now, at each start; the registry keeps the path)\n"
	 "  --key-stdin          read its API key from the first line of standard input\n"
	 "                       (kept in the registry, a file prismd creates 0600)\n"
	 "  --server-id ID       the PowerDNS server id (default localhost)\n"
	 "  --zones Z1,Z2        the configured zones it serves (default: every one)\n"
	 "  --group G            zones created with \"targets\": \"G\" go to it too\n"
	 "  --dns-address A      IP:PORT of its DNS, for the health checks' SOA probe\n"},
	{"targets", "remove", 1, OPT_YES, targets_remove, "prism targets remove NAME --yes",
	 "Remove a target added at run time (DELETE /api/v1/targets/NAME, admin role):\n"
	 "nothing more is pushed to it and its sync rows are forgotten; its records stay on\n"
	 "the server. The configuration file's targets are removed there.\n"},
	{"sync", "status", 0, 0, sync_status, "prism sync [status]",
	 "DNS records per target and sync status, and the age of the oldest pending one.\n"},
	{"sync", "retry", 0, OPT_TARGET, sync_retry, "prism sync retry [--target NAME]",
	 "Push failed DNS records again now (write role).\n"
	 "  --target NAME   only this target's (default: every target's)\n"},
	{"sync", "reconcile", 0, 0, sync_reconcile, "prism sync reconcile",
	 "Reconcile every zone of every target now, in the background (write role).\n"},
	{"plan", NULL, 0, 0, plan, "prism plan",
	 "Compare every managed zone of every target with the registry, changing nothing:\n"
	 "what a reconcile would create, update or delete, and the conflicts with foreign\n"
	 "RRsets it leaves alone. Exit status (like `terraform plan -detailed-exitcode`):\n"
	 "0 DNS is in sync, 2 the plan has changes or conflicts, 1 a zone could not be read\n"
	 "or the server answered with an error.\n"},
	{"audit", NULL, 0, OPT_LIMIT, audit, "prism audit [--limit N]",
	 "Changes made through the API, newest first: who, what, when, before and after.\n"
	 "  --limit N       the N newest entries (1-1000, default 50)\n"},
	{"inventory", NULL, 0,
	 OPT_PATTERN | OPT_GROUP | OPT_OUTDIR | OPT_SOURCE | OPT_STATUS | OPT_SEARCH, inventory,
	 "prism inventory --pattern REGEX [--group TEMPLATE] [--out-dir DIR]\n"
	 "                [--source SOURCE] [--status S] [--search TEXT]",
	 "Write the registry's hosts as Ansible YAML inventories, one file per group\n"
	 "(DIR/GROUP.yml): the group comes from the pattern's captures on the hostname.\n"
	 "Each host is its DNS name, with ansible_host (its address) and prism_source.\n"
	 "  --pattern REGEX   POSIX extended regular expression, any case, e.g.\n"
	 "                    '^([a-z0-9]+)-(cab[0-9]+)-' groups us3-cab10-ru20-idrac\n"
	 "                    into us3_cab10; hosts it does not match: ungrouped.yml\n"
	 "  --group TEMPLATE  the group's name: {1}..{9} the captures, {0} the match\n"
	 "                    (default: the captures joined with _)\n"
	 "  --out-dir DIR     where the files go (default: the current directory)\n"
	 "  --source SOURCE   only hosts of this source (agent, kea-reservation, ...)\n"
	 "  --status, --search as for prism hosts\n"},
	{"health", NULL, 0, 0, health, "prism health",
	 "prismd's health: status, version, uptime, the registry and each target. Exit\n"
	 "status 0 when healthy or degraded (HTTP 200), 1 when unhealthy (HTTP 503).\n"},
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static const char global_help[] =
	"Options of every admin command:\n"
	"  -s, --server URL       prismd's API (default $PRISM_URL, else " CLI_DEFAULT_SERVER ")\n"
	"      --api-key KEY      API key (default $PRISM_API_KEY); other local users can see\n"
	"                         it in the process list: prefer the file or the variable\n"
	"      --api-key-file F   read the API key from the first line of F\n"
	"      --cacert FILE      PEM certificates to verify an https:// server with\n"
	"  -j, --json             print the server's JSON answer (pretty) instead of tables\n"
	"  -w, --timeout SECONDS  give up on a request after this long (default 30)\n"
	"  -h, --help             help for the command\n"
	"\n"
	"Exit status of the admin commands: 0 done, 1 the server answered with an error,\n"
	"2 usage error (and for `prism plan`: changes pending), 3 the server could not be\n"
	"reached (or did not answer with the API's JSON), 4 authentication or permission\n"
	"refused (HTTP 401 or 403).\n";

bool prism_admin_is_command(const char *word)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].group, word) == 0)
			return true;
	return false;
}

void prism_admin_usage(FILE *out)
{
	fprintf(out,
		"Admin commands, over prismd's REST API (`prism COMMAND --help` for each):\n"
		"  hosts [list|show|delete|release]  registered hosts\n"
		"  inventory --pattern REGEX         hosts as Ansible inventories, by group\n"
		"  tokens [list|create|revoke]       agent tokens\n"
		"  targets [list|pause|resume|add|remove]\n"
		"                                    DNS targets\n"
		"  sync [status|retry|reconcile]     DNS sync per target\n"
		"  plan                              what a reconcile would change (exit 2:\n"
		"                                    changes pending)\n"
		"  audit                             changes made through the API\n"
		"  health                            prismd's health\n"
		"\n%s",
		global_help);
}

static void help_one(FILE *out, const struct admin_cmd *c)
{
	fprintf(out, "Usage: %s\n\n%s", c->synopsis, c->help);
}

/* Help for the command named, or for every subcommand of its group. */
static void print_help(const struct admin *a, bool whole_group)
{
	for (size_t i = 0; i < NCMDS; i++) {
		if (whole_group ? strcmp(cmds[i].group, a->cmd->group) == 0 : &cmds[i] == a->cmd) {
			help_one(stdout, &cmds[i]);
			putchar('\n');
		}
	}
	fputs(global_help, stdout);
}

/* ---- the command line ---- */

/* the admin commands' own options; the global ones are session.c's */
static const struct option long_opts[] = {
	{"status", required_argument, NULL, O_STATUS},
	{"search", required_argument, NULL, O_SEARCH},
	{"limit", required_argument, NULL, O_LIMIT},
	{"all", no_argument, NULL, O_ALL},
	{"after", required_argument, NULL, O_AFTER},
	{"yes", no_argument, NULL, 'y'},
	{"expires", required_argument, NULL, O_EXPIRES},
	{"target", required_argument, NULL, O_TARGET},
	{"pattern", required_argument, NULL, O_PATTERN},
	{"group", required_argument, NULL, O_GROUP},
	{"out-dir", required_argument, NULL, O_OUTDIR},
	{"source", required_argument, NULL, O_SOURCE},
	{"url", required_argument, NULL, O_URL},
	{"key-file", required_argument, NULL, O_KEYFILE_T},
	{"key-stdin", no_argument, NULL, O_KEYSTDIN},
	{"server-id", required_argument, NULL, O_SERVERID},
	{"zones", required_argument, NULL, O_ZONES},
	{"dns-address", required_argument, NULL, O_DNSADDR},
	{NULL, 0, NULL, 0},
};

/* the names of the OPT_* bits, in bit order */
static const char *const opt_names[] = {
	"--status",  "--search",   "--limit",	  "--all",	 "--after",   "--yes",
	"--expires", "--target",   "--pattern",	  "--group",	 "--out-dir", "--source",
	"--url",     "--key-file", "--key-stdin", "--server-id", "--zones",   "--dns-address"};

static int parse_limit(struct admin *a, const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > PAGE_MAX)
		return cli_usage_error("--limit must be a number from 1 to 1000, not", s);
	a->limit = v;
	return 0;
}

/* The options that only some commands take: remember the bit, check the value. */
static int set_cmd_option(void *ctx, int c, const char *v)
{
	struct admin *a = ctx;
	static const int codes[] = {O_STATUS,	O_SEARCH,  O_LIMIT,  O_ALL,	  O_AFTER,
				    'y',	O_EXPIRES, O_TARGET, O_PATTERN,	  O_GROUP,
				    O_OUTDIR,	O_SOURCE,  O_URL,    O_KEYFILE_T, O_KEYSTDIN,
				    O_SERVERID, O_ZONES,   O_DNSADDR};
	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i] == c)
			a->given |= 1u << i;
	switch (c) {
	case O_STATUS:
		a->status = v;
		if (strcmp(v, "online") != 0 && strcmp(v, "offline") != 0)
			return cli_usage_error("--status must be online or offline, not", v);
		return 0;
	case O_SEARCH: a->search = v; return v[0] ? 0 : cli_usage_error("--search is empty", NULL);
	case O_LIMIT: return parse_limit(a, v);
	case O_ALL: a->all = true; return 0;
	case O_AFTER: a->after = v; return v[0] ? 0 : cli_usage_error("--after is empty", NULL);
	case 'y': a->yes = true; return 0;
	case O_EXPIRES: a->expires = v; return 0;
	case O_TARGET: a->target = v; return 0;
	case O_PATTERN:
		a->pattern = v;
		return v[0] ? 0 : cli_usage_error("--pattern is empty", NULL);
	case O_GROUP: a->group = v; return 0;
	case O_OUTDIR:
		a->out_dir = v;
		return v[0] ? 0 : cli_usage_error("--out-dir is empty", NULL);
	case O_SOURCE: a->source = v; return 0;
	case O_URL: a->url = v; return 0;
	case O_KEYFILE_T: a->target_key_file = v; return 0;
	case O_KEYSTDIN: a->key_stdin = true; return 0;
	case O_SERVERID: a->server_id = v; return 0;
	case O_ZONES: a->zones = v; return 0;
	case O_DNSADDR: a->dns_address = v; return 0;
	default: return cli_usage_error("unknown option", NULL);
	}
}

static int parse_args(struct admin *a, int argc, char **argv)
{
	const struct cli_own_opts own = {long_opts, "y", set_cmd_option, a};
	return cli_parse(argc, argv, &a->g, &own, a->words, &a->nwords, MAX_WORDS);
}

static const struct admin_cmd *find_cmd(const char *group, const char *sub)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].group, group) == 0 &&
		    (sub == NULL || (cmds[i].sub != NULL && strcmp(cmds[i].sub, sub) == 0)))
			return &cmds[i];
	return NULL;
}

static int unknown_sub(const char *group, const char *word)
{
	fputs("prism: unknown command '", stderr);
	cli_put_clean(stderr, group);
	fputc(' ', stderr);
	cli_put_clean(stderr, word);
	fprintf(stderr, "': %s takes", group);
	for (size_t i = 0; i < NCMDS; i++)
		if (strcmp(cmds[i].group, group) == 0 && cmds[i].sub != NULL)
			fprintf(stderr, " %s", cmds[i].sub);
	fprintf(stderr, " (see prism %s --help)\n", group);
	return EXIT_USAGE;
}

/* The command from the words: its row in cmds[], and its own arguments. */
static int resolve(struct admin *a, bool *whole_group)
{
	if (a->nwords == 0)
		return cli_usage_error("which command?", NULL);
	a->cmd = find_cmd(a->words[0], NULL);
	if (a->cmd == NULL)
		return cli_usage_error("unknown command", a->words[0]);
	size_t used = 1;
	*whole_group = a->cmd->sub != NULL;
	if (a->cmd->sub != NULL && a->nwords > 1) {
		const struct admin_cmd *sub = find_cmd(a->words[0], a->words[1]);
		if (sub == NULL && !a->g.help)
			return unknown_sub(a->words[0], a->words[1]);
		if (sub != NULL) {
			a->cmd = sub;
			used = 2;
			*whole_group = false;
		}
	}
	a->args = a->words + used;
	a->nargs = a->nwords - used;
	return 0;
}

/* Arguments and options against the command's row. */
static int check_command(struct admin *a)
{
	if (a->nargs != a->cmd->nargs) {
		fprintf(stderr, "prism: %s; usage: %s\n",
			a->nargs < a->cmd->nargs ? "missing argument" : "too many arguments",
			a->cmd->synopsis);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < a->nargs; i++) {
		if (a->args[i][0] == '\0') {
			fprintf(stderr, "prism: empty argument; usage: %s\n", a->cmd->synopsis);
			return EXIT_USAGE;
		}
	}
	unsigned extra = a->given & ~a->cmd->opts;
	for (unsigned i = 0; extra != 0; i++) {
		if ((extra >> i) & 1u) {
			fprintf(stderr, "prism: %s does not apply here; usage: %s\n", opt_names[i],
				a->cmd->synopsis);
			return EXIT_USAGE;
		}
	}
	if (a->cmd->run == hosts_list && a->all && a->after != NULL)
		return cli_usage_error("--all lists every host: it does not take --after", NULL);
	return 0;
}

int prism_admin_main(int argc, char **argv)
{
	struct admin a = {.g.so.timeout = DEFAULT_TIMEOUT};
	bool whole_group = false;
	int rc = parse_args(&a, argc, argv);
	if (rc == 0 && a.g.help && a.nwords == 0) {
		prism_admin_usage(stdout);
		return EXIT_OK;
	}
	if (rc == 0)
		rc = resolve(&a, &whole_group);
	if (rc != 0)
		return rc;
	if (a.g.help) {
		print_help(&a, whole_group);
		return EXIT_OK;
	}
	if ((rc = check_command(&a)) != 0)
		return rc;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "prism: cannot initialise libcurl\n");
		return EXIT_ERROR;
	}
	rc = cli_session_open(&a.s, &a.g.so);
	if (rc == 0)
		rc = a.cmd->run(&a);
	cli_session_close(&a.s);
	curl_global_cleanup();
	if (fflush(stdout) != 0 && rc == EXIT_OK) {
		fprintf(stderr, "prism: cannot write the output (%s)\n", strerror(errno));
		rc = EXIT_ERROR;
	}
	return rc;
}
