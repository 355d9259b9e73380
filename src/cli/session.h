/* SPDX-License-Identifier: MIT */
/**
 * @file session.h
 * What every `prism` command that talks to prismd's REST API shares: where the server is
 * (`--server`, `$PRISM_URL`), the API key (`--api-key-file`, `--api-key`,
 * `$PRISM_API_KEY`), one request with its error reporting, and output helpers that keep
 * the server's (untrusted) text from putting control characters on the terminal.
 * Functions that fail print why on stderr and return an exit status (admin.h).
 */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli/http.h"

/** prismd's API when neither `--server` nor `$PRISM_URL` says otherwise. */
#define CLI_DEFAULT_SERVER "http://127.0.0.1:8081"

/** Options of cli_session_open(); NULL means not given. Strings are borrowed. */
struct cli_session_opts {
	const char *server;   /**< --server */
	const char *api_key;  /**< --api-key */
	const char *key_file; /**< --api-key-file: its first line, blanks around it removed */
	const char *cacert;   /**< --cacert */
	double timeout;	      /**< seconds per request */
};

/** One connection to the API. */
struct cli_session {
	char base[1024];       /**< the server's URL, without trailing '/' */
	struct cli_http *http; /**< NULL until opened */
	bool have_key;	       /**< whether a key is sent (a 401 without one says so) */
};

/** Codes of the global long-only options; a command's own option codes start at CLI_OPT_OWN. */
enum { CLI_O_KEY = 256, CLI_O_KEYFILE, CLI_O_CACERT, CLI_OPT_OWN = 300 };

/** The options every API command takes: -s/--server, --api-key, --api-key-file, --cacert,
 *  -j/--json, -w/--timeout, -h/--help. */
struct cli_global {
	struct cli_session_opts so; /**< timeout: set it to the default before parsing */
	bool json, help;
};

/** A command's own options, parsed along with the global ones. */
struct cli_own_opts {
	const struct option *longopts; /**< NULL-terminated; codes CLI_OPT_OWN and up, or a
					    letter of @c shortopts */
	const char *shortopts;	       /**< its short options, getopt style ("y") */
	int (*set)(void *ctx, int code, const char *value); /**< 0 or an exit status */
	void *ctx;
};

/**
 * The one command-line parser of the API commands. @p argv is the whole command line
 * (argv[0] the program); options and words may come in any order (`prism --json hosts`).
 * Global options go into @p g, the command's own through @p own, the other words in order
 * into @p words (at most @p maxwords; more is a usage error).
 * @return 0, or the usage exit status with the reason printed
 */
int cli_parse(int argc, char **argv, struct cli_global *g, const struct cli_own_opts *own,
	      const char **words, size_t *nwords, size_t maxwords);

/** The first word of @p argv (argv[0] the program) that is neither an option nor the value of
 *  a global option; NULL when there is none. */
const char *cli_command_word(int argc, char **argv);

/** Resolve the server and the key and make the HTTP client (curl_global_init first). */
int cli_session_open(struct cli_session *s, const struct cli_session_opts *o);

/** Free the HTTP client; the session may be zeroed or never opened. */
void cli_session_close(struct cli_session *s);

/**
 * One request, any answer status. 0 with *status and *out (the parsed answer, NULL when
 * it is not JSON; the caller decrefs), or an exit status when there is no answer or a 2xx
 * answer is not JSON.
 */
int cli_session_request(struct cli_session *s, const char *method, const char *path,
			const json_t *body, long *status, json_t **out);

/**
 * A request whose answer must be 2xx: 0 with *out (JSON; the caller decrefs), or the
 * error printed as `prism: message (HTTP status, code)` and an exit status. When @p text
 * is not NULL a non-JSON 2xx answer is handed over there instead (*out NULL; the caller
 * frees it).
 */
int cli_session_call(struct cli_session *s, const char *method, const char *path,
		     const json_t *body, json_t **out, char **text);

/** Print a server's error answer (@p j may be NULL) and return its exit status. */
int cli_answer_error(const struct cli_session *s, long status, const json_t *j);

/** Print `prism: WHAT 'ARG' (see prism --help)` (ARG may be NULL) and return the usage
 * exit status. */
int cli_usage_error(const char *what, const char *arg);

/** Write server text for the terminal: control characters become '?'. */
void cli_put_clean(FILE *out, const char *s);

/** Print @p j indented, with a newline. */
void cli_print_json(const json_t *j);

/** The string member @p key of @p obj, or NULL. */
const char *cli_jstr(const json_t *obj, const char *key);

/** The integer member @p key of @p obj, or 0. */
long long cli_jint(const json_t *obj, const char *key);
