/* SPDX-License-Identifier: MIT */
/**
 * @file srcname.h
 * Names of hosts that come from Kea (reservations, leases, DDNS requests): which FQDN a
 * hostname stands for, and the operator's hostname filter (globs and a regular expression).
 * Pure: no I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct prism_reserved;

/**
 * The FQDN a hostname from Kea stands for.
 *
 * - A name without any dot ("us3-cab10-ru20-idrac") is short: it is qualified with @p zone.
 * - A name with a dot ("web1.dc.example.com", with or without the trailing dot) is an FQDN:
 *   kept when it lies inside one of @p zones (below its apex), refused otherwise.
 *
 * Labels are checked like agent hostnames (docs/protocol.md: [A-Za-z0-9-], 1–63 characters, not
 * starting or ending with '-'); the result is lower-case with a trailing dot.
 *
 * @param name,len  the hostname as Kea has it (need not be NUL-terminated)
 * @param zone      normalised zone of short names (trailing dot); must be one of @p zones
 * @param zones     every managed zone, normalised, NULL-terminated
 * @param reserved  names no source may claim (reserved.h): refused; may be NULL
 * @param[out] out      the FQDN; at least PRISM_DNAME_MAX + 1 bytes
 * @param[out] out_zone the managed zone holding it (one of @p zones)
 * @param[out] reason   on error, a short lower-case reason; may be NULL
 * @return 0, PRISM_EMSG (invalid, or outside every managed zone), PRISM_ETOOBIG (the FQDN
 *         is over 253 characters), PRISM_EINVAL (NULL arguments)
 */
int prism_srcname_fqdn(const char *name, size_t len, const char *zone, const char *const *zones,
		       const struct prism_reserved *reserved, char *out, size_t outlen,
		       const char **out_zone, char *reason, size_t reason_len);

struct prism_name_filter;

/**
 * A hostname filter: the name passes when it matches one of @p globs (fnmatch, any case; no
 * globs = any name) and @p regex (POSIX extended, any case; NULL = any name). Each is tried
 * on the whole name and on its first label, so "*-idrac" selects "us3-cab10-idrac" and
 * "us3-cab10-idrac.dc.example.com" alike.
 * @param globs  NULL-terminated, or NULL
 * @param[out] out  caller frees with prism_name_filter_free()
 * @return 0, PRISM_EINVAL (the regular expression does not compile, NULL @p out),
 *         PRISM_ENOMEM
 */
int prism_name_filter_new(const char *const *globs, const char *regex,
			  struct prism_name_filter **out);

/** Does @p name (without trailing dot) pass? A NULL filter passes every name. */
bool prism_name_filter_match(const struct prism_name_filter *f, const char *name);

/** Free a filter. NULL is a no-op. */
void prism_name_filter_free(struct prism_name_filter *f);
