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

/**
 * `prismd --once`: one consistency sync of Kea's reservations (kea.reservations), push,
 * and wait until every record of a reservation is on every target or @p timeout seconds
 * passed. Agents, the API and the other sources are not started.
 * @return 0 converged, 1 otherwise (the database, the registry, a conflict, the timeout)
 */
int prism_daemon_once(const struct prism_config *cfg, double timeout);
