/* SPDX-License-Identifier: MIT */
/**
 * @file conffile.h
 * Load server.yaml from a file plus the process environment: the one place a path becomes a
 * validated config (prismd at start and on SIGHUP, and the `prism` commands that read it);
 * secret files and the Kea database's connection parameters.
 */
#pragma once

#include <stddef.h>

#include "core/config.h"

/**
 * Read @p path (NULL = no file: defaults and environment only) and parse it.
 * @param[out] err on failure: "cannot read config FILE (reason)" or
 *                 "invalid configuration in FILE: key: reason (line N)"
 * @return the new config (free with prism_config_free) or NULL
 */
struct prism_config *prism_config_load_file(const char *path, char *err, size_t errlen);

/**
 * Read a secret from a file: its first line, without the line end.
 * @return the secret (caller wipes and frees it), or NULL with a reason in @p err
 */
char *prism_secret_read(const char *path, char *err, size_t errlen);

#define PRISM_SECRET_LINES_MAX 4 /**< secrets one agent token file may hold */

/**
 * Every non-empty line of a secret file (an agent token file: the current token first and,
 * during a rotation, the previous one after it), without line ends; at most
 * PRISM_SECRET_LINES_MAX. @p n receives their number.
 * @return the lines (free with prism_secret_lines_free), or NULL with a reason in @p err
 *         (unreadable, no line, too many lines)
 */
char **prism_secret_lines(const char *path, size_t *n, char *err, size_t errlen);

/** Wipe and free what prism_secret_lines() returned. NULL is a no-op. */
void prism_secret_lines_free(char **lines, size_t n);

/**
 * The libpq connection parameters of kea.reservations, for PQconnectStartParams with
 * expand_dbname: the connection string first (as "dbname", expanded), then the parts that
 * are set (host, port, dbname, user), then the password from password_file or from the
 * variable named by password_env, and application_name.
 * @param[out] keys,vals NULL-terminated arrays; free with prism_kea_pg_params_free()
 * @return 0, PRISM_ECONFIG (the password cannot be read: reason in @p err), PRISM_ENOMEM
 */
int prism_kea_pg_params(const struct prism_config *cfg, const char *application, char ***keys,
			char ***vals, char *err, size_t errlen);

/** Free what prism_kea_pg_params() returned, wiping the values (the password). */
void prism_kea_pg_params_free(char **keys, char **vals);
