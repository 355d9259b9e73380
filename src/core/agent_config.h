/* SPDX-License-Identifier: MIT */
/**
 * @file agent_config.h
 * `prism agent` configuration: the reference client's YAML (server.host, server.port,
 * server.timeout, server.auth_token, heartbeat.interval, logging.level, logging.file) plus
 * server.auth_token_file and the TLS keys (server.tls, server.ca_file, server.cert_file,
 * server.key_file), parsed from a buffer into a new snapshot with errors naming the key
 * and line; and the hostname sanitiser the agent applies to the machine's name. Pure: no file
 * or environment access — the caller passes the text and the environment.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Log levels of the agent, lowest first. */
enum prism_agent_log_level {
	PRISM_AGENT_LOG_DEBUG = 0,
	PRISM_AGENT_LOG_INFO,
	PRISM_AGENT_LOG_WARNING,
	PRISM_AGENT_LOG_ERROR,
	PRISM_AGENT_LOG_CRITICAL,
};

/** One parsed agent configuration. Plain value struct; strings are owned by it. */
struct prism_agent_config {
	/* server: */
	char *server_host;	      /**< NULL when not given (then a --server flag must be) */
	uint16_t server_port;	      /**< 8080, 1–65535 */
	double server_timeout;	      /**< seconds per step (connect, answer), 10, 0.1–3600 */
	char *server_auth_token;      /**< NULL = none; at most PRISM_TOKEN_MAX characters */
	char *server_auth_token_file; /**< file holding the token; excludes server_auth_token */
	bool server_tls;	      /**< connect with TLS (to prismd's server.tls_port) */
	char *server_ca_file;	      /**< CA file for the server's certificate; NULL = system */
	char *server_cert_file;	      /**< client certificate (PEM chain); NULL = none */
	char *server_key_file;	      /**< its private key; with cert_file */
	/* heartbeat: */
	uint32_t heartbeat_interval; /**< seconds between registrations, 60, 1–86400 */
	/* logging: */
	enum prism_agent_log_level logging_level; /**< info */
	char *logging_file;			  /**< NULL = standard error */
};

/**
 * Parse YAML text into a new agent config. Options not given take their defaults. The
 * environment then overrides the file (PRISM_AGENT_SERVER_HOST, PRISM_AGENT_SERVER_PORT, …,
 * PRISM_AGENT_<SECTION>_<KEY> for every option), and last, when neither a token nor a token
 * file was set, PRISM_AUTH_TOKEN supplies the token. Unknown keys, duplicates and values of the
 * wrong type are errors naming the key and line ("unknown key 'server.hots' (line 2)",
 * "server.port: must be an integer between 1 and 65535 (line 3)").
 *
 * server.host is not required here: the caller decides whether a flag supplied it. An IPv6
 * address may be written with or without brackets; it is stored without them.
 *
 * @param yaml  text, need not be NUL-terminated; len 0 = no file = all defaults
 * @param envp  NULL-terminated "KEY=VALUE" array, or NULL for none
 * @param[out] out new config; caller frees with prism_agent_config_free()
 * @param[out] err on failure, one line naming the key and line (or variable); may be NULL
 * @return 0, PRISM_ECONFIG, PRISM_ENOMEM, PRISM_EINVAL (NULL @p out, NULL @p yaml with len > 0)
 */
int prism_agent_config_parse(const char *yaml, size_t len, const char *const *envp,
			     struct prism_agent_config **out, char *err, size_t errlen);

/** Free a config. NULL is a no-op. */
void prism_agent_config_free(struct prism_agent_config *cfg);

/**
 * Parse a log level name: debug, info, warning (or warn), error, critical; any case.
 * @return the level (>= 0), or PRISM_EMSG for an unknown name, PRISM_EINVAL for NULL
 */
int prism_agent_log_level_parse(const char *name);

/** The canonical name of a level ("warning"); "info" for an out-of-range value. */
const char *prism_agent_log_level_name(enum prism_agent_log_level level);

/**
 * Make a registrable hostname out of a machine name, like the reference client: lower-case,
 * '_' becomes '-', every character outside [a-z0-9.-] is dropped (spaces, non-ASCII bytes,
 * punctuation), empty labels are collapsed, '-' is trimmed from the start and end of each
 * label, labels are cut to 63 characters, and labels that would take the name over 253
 * characters are dropped (with all after them). The result passes prism_hostname_check().
 *
 * @param in     NUL-terminated text
 * @param[out] out  the sanitised name, NUL-terminated ("" on error)
 * @param outlen size of @p out; PRISM_HOSTNAME_MAX + 1 always suffices
 * @return 0; PRISM_EMSG nothing valid remains (the caller then uses a fallback name);
 *         PRISM_ETOOBIG the result does not fit @p outlen; PRISM_EINVAL NULL args or outlen 0
 */
int prism_hostname_sanitize(const char *in, char *out, size_t outlen);

/**
 * The agent's stable fallback name when the machine's name has nothing valid in it:
 * "host-" + the first 12 hex digits of the machine id (the text of /etc/machine-id: 32 hex
 * digits, optionally followed by a newline), lower-cased; "prism-agent" when @p machine_id is
 * NULL or not a machine id.
 * @param[out] out at least 18 bytes
 * @return 0, PRISM_ETOOBIG (@p outlen too small), PRISM_EINVAL (NULL @p out)
 */
int prism_agent_fallback_name(const char *machine_id, char *out, size_t outlen);
