/* SPDX-License-Identifier: MIT */
/**
 * @file source.h
 * What the host sources other than agents (Kea NCR listener, reservations, lease file)
 * share: their counters, the DNS context they write with, rate-limited logging of bad input
 * and conflicts.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct prism_reserved;

/** Counters of one source (metrics: prism_source_changes_total{source,result}). */
struct prism_source_stats {
	unsigned long long added, updated, removed, unchanged;
	unsigned long long conflicts; /**< names held by another source, key or DHCID */
	unsigned long long rejected;  /**< entries refused before the registry: bad names,
				       *   outside every managed zone, filtered out */
	unsigned long long failed;    /**< entries lost to a registry error */
};

/** Count one applied entry. */
void prism_source_stats_add(struct prism_source_stats *st, const struct prism_source_result *r);

/** Count a sync's outcome. */
void prism_source_stats_sync(struct prism_source_stats *st,
			     const struct prism_source_sync_result *r);

/** Where a source's hosts go (borrowed from the daemon for the source's life). */
struct prism_source_dns {
	bool enabled;		      /**< any target: records are kept, else hosts only */
	bool publish_a, publish_aaaa; /**< powerdns.record_types */
	bool auto_ptr;		      /**< powerdns.auto_ptr: reservations and leases get PTRs */
	const char *const *zones;     /**< managed zones, NULL-terminated */
	const struct prism_reserved *reserved; /**< names no source may claim (core/reserved.h);
						*   may be NULL */
};

/** The store's context for a write now. */
struct prism_source_ctx prism_source_ctx(const struct prism_source_dns *dns, int64_t now);

/**
 * A log line budget: at most @p burst lines per second; the lines refused are counted and
 * reported by the next line allowed.
 */
struct prism_ratelimit {
	uint64_t second; /**< the second (loop ms / 1000) being counted */
	unsigned used;
	unsigned long long suppressed;
};

/** May a line be logged now (@p now_ms: loop time)? @p suppressed receives the number of
 *  lines refused since the last one allowed (to mention in this line), 0 otherwise. */
bool prism_ratelimit_ok(struct prism_ratelimit *r, uint64_t now_ms, unsigned burst,
			unsigned long long *suppressed);

/** Why a conflict refused an entry, as a short phrase ("held by kea-reservation", "held by
 *  another client (DHCID)"). */
const char *prism_source_conflict_text(const struct prism_source_result *r, char *buf, size_t len);
