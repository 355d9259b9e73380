/* SPDX-License-Identifier: MIT */
/**
 * @file pdns_json.h
 * PowerDNS HTTP API JSON mapping: build PATCH and zone-create bodies, read error answers.
 * Pure: no I/O.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rrset.h"

/**
 * Build the body of PATCH /api/v1/servers/{id}/zones/{zone}: {"rrsets":[…]}.
 * All DELETEs (nrecords 0) come before all REPLACEs, whatever the input order (PowerDNS
 * rejects a type change otherwise). Every REPLACE carries an RRset comment
 * {"content": @p comment, "account": @p account} marking it as owned by Prism, except one
 * with keep_mark (the RRset carries that mark already: its comments are left alone).
 * @param[out] body NUL-terminated JSON, caller frees with free()
 * @param[out] len  strlen of @p body; may be NULL
 * @return 0, PRISM_EINVAL (NULL/empty input, bad name, bad type, NULL record, invalid UTF-8),
 *         PRISM_ENOMEM. A name must end in a dot, be at most 254 characters of printable
 *         ASCII without spaces, with labels of 1–63 characters; a type is [A-Z0-9]{1,16}.
 */
int prism_pdns_patch_body(const struct prism_rr_change *changes, size_t n, const char *account,
			  const char *comment, char **body, size_t *len);

/**
 * Build the body of POST /api/v1/servers/{id}/zones creating a Native zone with the given
 * nameservers, "soa_edit_api": "DEFAULT", "api_rectify": false.
 * @param nameservers NULL-terminated list of FQDNs (trailing dot), at least one
 * @param[out] body NUL-terminated JSON, caller frees with free()
 * @param[out] len  strlen of @p body; may be NULL
 * @return 0, PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_pdns_zone_create_body(const char *zone, const char *const *nameservers, char **body,
				size_t *len);

/** Like prism_pdns_zone_create_body, with the zone's SOA content (NULL = the server's
 *  default-soa-content) and its TTL (0 = 3600). */
int prism_pdns_zone_create_body_soa(const char *zone, const char *const *nameservers,
				    const char *soa, uint32_t ttl, char **body, size_t *len);

/** Like prism_pdns_zone_create_body_soa, of @p kind "Native" or "Master" (NULL = Native). */
int prism_pdns_zone_create_body_kind(const char *zone, const char *const *nameservers,
				     const char *soa, uint32_t ttl, const char *kind, char **body,
				     size_t *len);

/**
 * Like prism_pdns_zone_create_body_kind, creating the zone with @p n RRsets in it (one
 * request instead of a POST and a PATCH). Every RRset carries the ownership comment as in
 * prism_pdns_patch_body; deletions (nrecords 0) are left out: the zone is new. @p changes,
 * @p account and @p comment may be NULL when @p n is 0. Validates as both builders do.
 * @return 0, PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_pdns_zone_create_body_rrsets(const char *zone, const char *const *nameservers,
				       const char *soa, uint32_t ttl, const char *kind,
				       const struct prism_rr_change *changes, size_t n,
				       const char *account, const char *comment, char **body,
				       size_t *len);

/**
 * Extract the human message of a PowerDNS error answer ({"error": "..."}); falls back to the
 * first 200 bytes of the body made printable, or "" for an empty body. Always NUL-terminates.
 * Control characters become spaces; truncation to @p outlen never splits a UTF-8 character.
 * @p body need not be NUL-terminated. Does nothing when @p out is NULL or @p outlen is 0.
 */
void prism_pdns_error_message(const char *body, size_t len, char *out, size_t outlen);

/** One RRset as a target holds it. */
struct prism_actual_rrset {
	char *name; /**< lower-case FQDN, trailing dot */
	char *type; /**< "A", … */
	uint32_t ttl;
	uint64_t hash; /**< prism_rrset_hash of name, type, ttl and the records */
	bool owned;    /**< carries a comment with Prism's account */
};

/** A zone's RRsets as read from a target. */
struct prism_actual_zone {
	struct prism_actual_rrset *v;
	size_t n;
};

/**
 * Parse the answer of GET /api/v1/servers/{id}/zones/{zone} (with rrsets). The body is
 * scanned in place; anything unusual in it (a Unicode escape, a key given twice, a real, deep
 * nesting, an error) is left to prism_pdns_zone_parse_reference(), so the result is always
 * exactly the reference's.
 * @param account the ownership comment account ("prism")
 * @param[out] out caller frees with prism_actual_zone_free()
 * @return 0, PRISM_EPROTO (not the expected JSON), PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_pdns_zone_parse(const char *body, size_t len, const char *account,
			  struct prism_actual_zone *out);

/**
 * The reference prism_pdns_zone_parse() must agree with, for every input: the body loaded as
 * a jansson tree (JSON as jansson takes it; a duplicate key keeps its last value), then
 * read. RRsets in the order of "rrsets", each with "name" (lower-cased), "type" (strings),
 * "ttl" (a JSON integer 0…UINT32_MAX) and "records" (an array of objects with a string
 * "content"; those with "disabled": true left out of the hash), owned when an item of an
 * array "comments" has an "account" equal to @p account. A body not so: PRISM_EPROTO.
 * Used by the fast path as its fallback, and by the fuzz target and the benchmark.
 */
int prism_pdns_zone_parse_reference(const char *body, size_t len, const char *account,
				    struct prism_actual_zone *out);

/** Free the RRsets of @p z (not @p z itself). NULL is a no-op. */
void prism_actual_zone_free(struct prism_actual_zone *z);

/** What the health checks read from a PowerDNS server's statistics. */
struct prism_pdns_stats {
	bool has_uptime, has_queries, has_cache, has_latency;
	uint64_t uptime;       /**< seconds ("uptime") */
	uint64_t queries;      /**< "udp-queries" + "tcp-queries" (both families) */
	uint64_t cache_hits;   /**< "packetcache-hit" */
	uint64_t cache_misses; /**< "packetcache-miss" */
	uint64_t latency_us;   /**< "latency": average answer time, microseconds */
};

/**
 * Parse GET /servers/{id}/statistics: an array of {"name", "type", "value"} whose plain
 * items (StatisticItem) carry the value as a decimal string; other items are skipped. A
 * value that is not a non-negative decimal integer leaves its field unset.
 * @return 0, PRISM_EMSG (not such an array), PRISM_EINVAL (NULL)
 */
int prism_pdns_stats_parse(const char *body, size_t len, struct prism_pdns_stats *out);

/**
 * The address a PowerDNS server answers DNS on, from GET /servers/{id}/config (an array of
 * {"name", "type", "value"}): the first address of its "local-address" setting with the
 * port written there or "local-port" (53 when neither says). A wildcard address (0.0.0.0,
 * ::) is replaced by the host of @p api_url when that is an IP address (the server answers
 * DNS where its API is), "localhost" by 127.0.0.1.
 * @param out receives "IP:port" or "[IPv6]:port"
 * @return 0, PRISM_ENOTFOUND (no usable address: a wildcard behind a named API host),
 *         PRISM_EMSG (not such an array), PRISM_EINVAL (NULL or @p outlen too small)
 */
int prism_pdns_dns_address(const char *body, size_t len, const char *api_url, char *out,
			   size_t outlen);
