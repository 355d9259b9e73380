/* SPDX-License-Identifier: MIT */
/**
 * @file conffile.h
 * Load server.yaml from a file plus the process environment: the one place the daemon
 * turns a path into a validated config (at start and on SIGHUP).
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
