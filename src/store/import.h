/* SPDX-License-Identifier: MIT */
/**
 * @file import.h
 * Reading the original Prism server's registry (a SQLite file of its own, table `hosts`)
 * for `prism registry import-prism`. The file is opened read-only and never written; the
 * rows go to this registry through prism_store_api.host_import.
 */
#pragma once

#include <stddef.h>

#include "core/import_prism.h"

struct prism_orig_reader;

/**
 * Open @p path read-only and prepare the read of its `hosts` table (columns hostname,
 * current_ip, status, first_seen, last_seen, dns_zone, dns_ttl, dns_sync_status; others
 * are ignored). @p err receives a one-line reason ("no such column: dns_ttl", …).
 * @return 0, PRISM_ENOTFOUND (no such file), PRISM_ESTORE (not a database of that shape),
 *         PRISM_ENOMEM
 */
int prism_orig_open(const char *path, struct prism_orig_reader **out, char *err, size_t errlen);

/**
 * The next row, in the table's order. Its strings are borrowed until the next call.
 * @return 0 a row, PRISM_ENOTFOUND no more rows, PRISM_ESTORE a read error (@p err)
 */
int prism_orig_next(struct prism_orig_reader *r, struct prism_orig_row *row, char *err,
		    size_t errlen);

/** Close. NULL is a no-op. */
void prism_orig_close(struct prism_orig_reader *r);
