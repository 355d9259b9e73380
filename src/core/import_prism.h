/* SPDX-License-Identifier: MIT */
/**
 * @file import_prism.h
 * Rows of the original Prism server's registry (its SQLite table `hosts`), checked and
 * turned into hosts of this registry: `prism registry import-prism`. Text in, values out;
 * the reading of the foreign database is the store's (store/import.h).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dname.h"

/** One row of the original's `hosts` table, as text. Borrowed; NULL = SQL NULL. */
struct prism_orig_row {
	const char *hostname;
	const char *current_ip; /**< IPv4 or IPv6 text */
	const char *status;	/**< "online" | "offline" (any case) */
	const char *first_seen; /**< "YYYY-MM-DD HH:MM:SS", UTC */
	const char *last_seen;
	const char *dns_zone;	     /**< NULL or "": the default zone */
	const char *dns_ttl;	     /**< read, not used: records take the agents' TTL */
	const char *dns_sync_status; /**< read, not used: Prism pushes the records again */
};

/** A row that passed the checks. */
struct prism_orig_host {
	char hostname[PRISM_HOSTNAME_MAX + 1]; /**< lower-case */
	char ip[64];			       /**< canonical text; IPv4-mapped IPv6 → IPv4 */
	bool ipv6;
	bool online;
	int64_t first_seen, last_seen; /**< unix seconds */
};

/** What to do with a row. */
enum prism_orig_verdict {
	PRISM_ORIG_OK = 0,     /**< import it */
	PRISM_ORIG_INVALID,    /**< a field is malformed (see the reason) */
	PRISM_ORIG_OTHER_ZONE, /**< valid, but its zone is not the agents' zone here */
};

/**
 * Check one row. @p zone is the agents' zone here (powerdns.default_zone, normalised, with
 * its trailing dot); a row's `dns_zone` must name it (with or without the trailing dot, any
 * case) or be empty.
 * @param[out] reason on a verdict other than OK: "current_ip: not an IP address", …
 * @return the verdict; PRISM_ORIG_INVALID also for NULL arguments
 */
enum prism_orig_verdict prism_orig_row_check(const struct prism_orig_row *row, const char *zone,
					     struct prism_orig_host *out, char *reason,
					     size_t reason_len);

/**
 * Parse "YYYY-MM-DD HH:MM:SS" (or 'T' for the space, an optional fraction and an optional
 * 'Z'), a UTC time, to unix seconds (the fraction is dropped).
 * @return 0, PRISM_EMSG malformed or out of range, PRISM_EINVAL NULL arguments
 */
int prism_orig_time_parse(const char *s, int64_t *out);
