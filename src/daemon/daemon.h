/* SPDX-License-Identifier: MIT */
/**
 * @file daemon.h
 * Wires the modules together and runs the loop until SIGINT/SIGTERM.
 */
#pragma once

#include "core/config.h"

/**
 * Run prismd with @p cfg (borrowed for the whole run). @p path is the config file to read
 * again on SIGHUP (NULL: defaults and environment). Returns the process exit status.
 */
int prism_daemon_run(const struct prism_config *cfg, const char *path);
