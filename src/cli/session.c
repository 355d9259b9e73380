/* SPDX-License-Identifier: MIT */
/*
 * The API session every REST-client command of `prism` shares (session.h): the server's
 * URL and the key resolved once, one request with its error reporting, and the output
 * helpers for untrusted server text.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/admin.h"
#include "cli/session.h"
#include "core/error.h"

int cli_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "prism: %s", what);
	if (arg != NULL) {
		fputs(" '", stderr);
		cli_put_clean(stderr, arg);
		fputc('\'', stderr);
	}
	fputs(" (see prism --help)\n", stderr);
	return PRISM_ADMIN_EXIT_USAGE;
}

void cli_put_clean(FILE *out, const char *s)
{
	for (; s != NULL && *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

void cli_print_json(const json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2));
	if (text != NULL)
		printf("%s\n", text);
	free(text);
}

const char *cli_jstr(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

long long cli_jint(const json_t *obj, const char *key)
{
	return json_integer_value(json_object_get(obj, key));
}

/* The first line of the key file, blanks around it removed; the caller wipes *cap bytes. */
static int read_key_file(const char *path, char **key, size_t *cap)
{
	FILE *f = fopen(path, "r");
	*key = NULL;
	*cap = 0;
	if (f == NULL || getline(key, cap, f) < 0) {
		int err = f != NULL && !ferror(f) ? 0 : errno;
		fprintf(stderr, "prism: cannot read --api-key-file %s (%s)\n", path,
			err ? strerror(err) : "empty file");
		if (f != NULL)
			fclose(f);
		return PRISM_ADMIN_EXIT_USAGE;
	}
	fclose(f);
	char *s = *key, *e = s + strlen(s);
	while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	size_t lead = strspn(s, " \t");
	memmove(s, s + lead, (size_t)(e - s) - lead + 1);
	if (s[0] == '\0') {
		fprintf(stderr, "prism: --api-key-file %s: the first line is empty\n", path);
		return PRISM_ADMIN_EXIT_USAGE;
	}
	return 0;
}

static int set_base(struct cli_session *s, const char *server)
{
	const char *env = getenv("PRISM_URL");
	const char *url = server ? server : env && env[0] ? env : CLI_DEFAULT_SERVER;
	size_t n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
	    n >= sizeof(s->base) || n <= 8)
		return cli_usage_error("the server must be a URL like http://127.0.0.1:8081, not",
				       url);
	memcpy(s->base, url, n);
	s->base[n] = '\0';
	return 0;
}

int cli_session_open(struct cli_session *s, const struct cli_session_opts *o)
{
	char *file_key = NULL;
	size_t cap = 0;
	s->http = NULL;
	s->have_key = false;
	int rc = set_base(s, o->server);
	if (rc != 0)
		return rc;
	if (o->api_key != NULL && o->key_file != NULL)
		return cli_usage_error("give --api-key or --api-key-file, not both", NULL);
	if (o->key_file != NULL && (rc = read_key_file(o->key_file, &file_key, &cap)) != 0) {
		if (file_key != NULL)
			explicit_bzero(file_key, cap);
		free(file_key);
		return rc;
	}
	const char *key = file_key ? file_key : o->api_key ? o->api_key : getenv("PRISM_API_KEY");
	s->have_key = key != NULL && key[0] != '\0';
	struct cli_http_opts ho = {
		.base = s->base, .api_key = key, .cacert = o->cacert, .timeout = o->timeout};
	rc = cli_http_new(&ho, &s->http);
	if (file_key != NULL) {
		explicit_bzero(file_key, cap);
		free(file_key);
	}
	if (rc == PRISM_EINVAL)
		return cli_usage_error("the API key holds control characters", NULL);
	if (rc != 0)
		fprintf(stderr, "prism: cannot set up HTTP (%s)\n", prism_strerror(rc));
	return rc ? PRISM_ADMIN_EXIT_ERROR : 0;
}

void cli_session_close(struct cli_session *s)
{
	cli_http_free(s->http);
	s->http = NULL;
}

/* The request itself: 0 with @p resp filled, or the exit status (printed). */
static int send_request(struct cli_session *s, const char *method, const char *path,
			const json_t *body, struct cli_http_resp *resp)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (body != NULL && text == NULL) {
		fprintf(stderr, "prism: out of memory\n");
		return PRISM_ADMIN_EXIT_ERROR;
	}
	int rc = cli_http_request(s->http, method, path, text, resp);
	free(text);
	if (rc != 0) {
		fprintf(stderr, "prism: cannot reach %s (%s)\n", s->base,
			rc == -ENOMEM ? "out of memory" : cli_http_error(s->http));
		return PRISM_ADMIN_EXIT_UNREACHABLE;
	}
	return 0;
}

static int not_json(void)
{
	fprintf(stderr, "prism: unexpected answer from the server (not JSON)\n");
	return PRISM_ADMIN_EXIT_UNREACHABLE;
}

int cli_session_request(struct cli_session *s, const char *method, const char *path,
			const json_t *body, long *status, json_t **out)
{
	struct cli_http_resp resp;
	*out = NULL;
	int rc = send_request(s, method, path, body, &resp);
	if (rc != 0)
		return rc;
	*status = resp.status;
	*out = json_loadb(resp.body, resp.len, 0, NULL);
	cli_http_resp_deinit(&resp);
	return *out == NULL && *status < 300 ? not_json() : 0;
}

int cli_answer_error(const struct cli_session *s, long status, const json_t *j)
{
	const json_t *e = json_object_get(j, "error");
	const char *msg = cli_jstr(e, "message"), *code = cli_jstr(e, "code");
	fputs("prism: ", stderr);
	cli_put_clean(stderr, msg ? msg : "the server answered without details");
	fprintf(stderr, " (HTTP %ld", status);
	if (code != NULL) {
		fputs(", ", stderr);
		cli_put_clean(stderr, code);
	}
	fputs(")\n", stderr);
	if (status == 401 && !s->have_key)
		fprintf(stderr, "prism: no API key was given: use --api-key-file, --api-key or "
				"$PRISM_API_KEY\n");
	return status == 401 || status == 403 ? PRISM_ADMIN_EXIT_AUTH : PRISM_ADMIN_EXIT_ERROR;
}

int cli_session_call(struct cli_session *s, const char *method, const char *path,
		     const json_t *body, json_t **out, char **text)
{
	struct cli_http_resp resp;
	*out = NULL;
	int rc = send_request(s, method, path, body, &resp);
	if (rc != 0)
		return rc;
	*out = json_loadb(resp.body, resp.len, 0, NULL);
	if (resp.status < 200 || resp.status >= 300) {
		rc = cli_answer_error(s, resp.status, *out);
		json_decref(*out);
		*out = NULL;
	} else if (*out == NULL && text != NULL) {
		*text = resp.body;
		resp.body = NULL;
	} else if (*out == NULL) {
		rc = not_json();
	}
	cli_http_resp_deinit(&resp);
	return rc;
}

/* ---- the command line ---- */

static const struct option global_opts[] = {
	{"server", required_argument, NULL, 's'},
	{"api-key", required_argument, NULL, CLI_O_KEY},
	{"api-key-file", required_argument, NULL, CLI_O_KEYFILE},
	{"cacert", required_argument, NULL, CLI_O_CACERT},
	{"json", no_argument, NULL, 'j'},
	{"timeout", required_argument, NULL, 'w'},
	{"help", no_argument, NULL, 'h'},
};

#define NGLOBAL	     (sizeof(global_opts) / sizeof(global_opts[0]))
#define GLOBAL_SHORT "s:jw:h"

static int parse_timeout(struct cli_global *g, const char *s)
{
	char *end;
	g->so.timeout = strtod(s, &end);
	if (end == s || *end != '\0' || !(g->so.timeout > 0 && g->so.timeout <= 3600))
		return cli_usage_error("--timeout must be seconds, 0 < seconds <= 3600, not", s);
	return 0;
}

/* 0 when @p c is a global option (applied), 1 when it is not, or a usage exit status. */
static int global_option(struct cli_global *g, int c, const char *v)
{
	switch (c) {
	case 's': g->so.server = v; return 0;
	case CLI_O_KEY: g->so.api_key = v; return 0;
	case CLI_O_KEYFILE: g->so.key_file = v; return 0;
	case CLI_O_CACERT: g->so.cacert = v; return 0;
	case 'j': g->json = true; return 0;
	case 'w': return parse_timeout(g, v);
	case 'h': g->help = true; return 0;
	default: return 1;
	}
}

/*
 * getopt's complaint, in our words. A long option is the word just read (optopt is 0 when
 * unknown, its code when it was given a value it does not take); a short one is optopt.
 */
static int bad_option(int c, const char *last, const char *shortopts)
{
	char shortopt[3] = {'-', (char)optopt, '\0'};
	if (c == ':')
		return cli_usage_error("missing value for",
				       strncmp(last, "--", 2) == 0 ? last : shortopt);
	if (optopt == 0)
		return cli_usage_error("unknown option", last);
	if (optopt >= 256 || (optopt != ':' && strchr(shortopts, optopt) != NULL))
		return cli_usage_error("this option takes no value:", last);
	return cli_usage_error("unknown option", shortopt);
}

static int add_word(const char **words, size_t *nwords, size_t maxwords, const char *w)
{
	if (*nwords == maxwords)
		return cli_usage_error("too many arguments, from", w);
	words[(*nwords)++] = w;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_global *g, const struct cli_own_opts *own,
	      const char **words, size_t *nwords, size_t maxwords)
{
	struct option opts[64];
	char shortopts[64];
	size_t n = 0;
	for (size_t i = 0; i < NGLOBAL; i++)
		opts[n++] = global_opts[i];
	for (const struct option *o = own->longopts; o->name != NULL && n + 1 < 64; o++)
		opts[n++] = *o;
	opts[n] = (struct option){NULL, 0, NULL, 0};
	/* '-': words are returned in place (whatever POSIXLY_CORRECT says); ':': we report */
	snprintf(shortopts, sizeof(shortopts), "-:" GLOBAL_SHORT "%s", own->shortopts);
	int c, rc = 0;
	optind = 1;
	opterr = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (c == 1)
			rc = add_word(words, nwords, maxwords, optarg);
		else if (c == '?' || c == ':')
			rc = bad_option(c, argv[optind - 1], shortopts + 2);
		else if ((rc = global_option(g, c, optarg)) == 1)
			rc = own->set(own->ctx, c, optarg);
	}
	for (; rc == 0 && optind < argc; optind++)
		rc = add_word(words, nwords, maxwords, argv[optind]);
	return rc;
}

const char *cli_command_word(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (argv[i][0] != '-')
			return argv[i];
		for (size_t k = 0; k < NGLOBAL; k++) {
			const struct option *o = &global_opts[k];
			if (o->has_arg == required_argument &&
			    ((argv[i][1] == '-' && strcmp(argv[i] + 2, o->name) == 0) ||
			     (o->val < 256 && argv[i][1] == o->val && argv[i][2] == '\0')))
				i++;
		}
	}
	return NULL;
}
