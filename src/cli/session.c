/* SPDX-License-Identifier: MIT */
/*
 * The API session every REST-client command of `prism` shares (session.h): the server's
 * URL and the key resolved once, one request with its error reporting, and the output
 * helpers for untrusted server text.
 */
#include <errno.h>
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
