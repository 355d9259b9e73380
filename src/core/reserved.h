/* SPDX-License-Identifier: MIT */
/**
 * @file reserved.h
 * Names no source may claim for a host — agents, Kea reservations, leases and DDNS
 * requests alike: the apex of a managed zone, "ns" and "nsN" directly below it, the
 * operator's auth.reserved_names (relative to every managed zone; one ending in '.' is an
 * FQDN) and every name listed in a zone's nameservers. Pure: no I/O, no logging.
 */
#pragma once

#include <stdbool.h>

struct prism_config_zone;

struct prism_reserved;

/**
 * A reserved set from @p names (auth.reserved_names: lower-case, NULL-terminated, may be
 * NULL) and @p zones (the managed zones with their nameservers, NULL-terminated).
 * @param[out] out  caller frees with prism_reserved_free()
 * @return 0, PRISM_EINVAL (NULL @p out), PRISM_ENOMEM
 */
int prism_reserved_new(const char *const *names, const struct prism_config_zone *const *zones,
		       struct prism_reserved **out);

/** Exchange the contents of two sets (a reload: holders of @p a see the new names). */
void prism_reserved_swap(struct prism_reserved *a, struct prism_reserved *b);

/** Free. NULL is a no-op. */
void prism_reserved_free(struct prism_reserved *r);

/**
 * Is @p fqdn (lower-case, trailing dot) reserved in @p zone (the managed zone holding it,
 * normalised)? A NULL set reserves nothing but the apex and the ns names.
 */
bool prism_reserved_match(const struct prism_reserved *r, const char *fqdn, const char *zone);

/** The same for an agent's @p hostname (lower-case, no trailing dot) in @p zone. */
bool prism_reserved_host(const struct prism_reserved *r, const char *hostname, const char *zone);
