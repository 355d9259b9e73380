/* SPDX-License-Identifier: MIT */
/**
 * @file kea_trigger.h
 * Installing (or removing) Prism's notification trigger on Kea's PostgreSQL host database:
 * the work behind `prism kea install-trigger`. Blocking libpq, for a command — never the
 * daemon's loop (the daemon's own reader of that database is kea_pg.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct prism_config;

enum prism_kea_trigger_status {
	PRISM_KEA_TRIGGER_DONE = 0,    /**< applied and checked */
	PRISM_KEA_TRIGGER_UNREACHABLE, /**< the database could not be reached */
	PRISM_KEA_TRIGGER_REFUSED,     /**< the database refused the SQL (rolled back) */
	PRISM_KEA_TRIGGER_UNEXPECTED,  /**< applied, but the triggers found are not as meant */
	PRISM_KEA_TRIGGER_BADCONFIG,   /**< the configuration or connection string is unusable */
};

struct prism_kea_trigger_out {
	char db[256]; /**< the database's name, for the report */
	long found;   /**< triggers found after the change (-1: not counted) */
};

/**
 * Connect with @p conninfo (a libpq connection string; its password or PGPASSWORD) or,
 * when NULL, with kea.reservations of @p cfg; then create the trigger (or remove it, with
 * @p uninstall) in one transaction and count the triggers. @p err receives a one-line
 * reason when the status is not DONE.
 */
enum prism_kea_trigger_status prism_kea_trigger_apply(const struct prism_config *cfg,
						      const char *conninfo, bool uninstall,
						      struct prism_kea_trigger_out *out, char *err,
						      size_t errlen);
