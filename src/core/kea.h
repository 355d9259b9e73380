/* SPDX-License-Identifier: MIT */
/**
 * @file kea.h
 * Kea's PostgreSQL host reservations, as text: the SQL of the notification trigger, of the
 * consistency query and of the lookup of changed reservations, the notification payloads
 * (Prism's trigger, and the Kea service's own `kea_lease_events` trigger), Kea's IPv4
 * addresses (a bigint) and IPv6 reservations. Pure: the daemon and `prism kea` run the SQL
 * with libpq.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Names of what `prism kea install-trigger` creates on Kea's hosts table. */
#define PRISM_KEA_FUNCTION	      "prism_kea_hosts_notify"
#define PRISM_KEA_TRIGGER	      "prism_kea_hosts_trigger"
#define PRISM_KEA_TRUNCATE_TRIGGER    "prism_kea_hosts_truncate"
#define PRISM_KEA_V6_TRIGGER	      "prism_kea_ipv6_trigger"
#define PRISM_KEA_V6_TRUNCATE_TRIGGER "prism_kea_ipv6_truncate"
#define PRISM_KEA_TRIGGERS	      4	  /**< triggers the SQL creates */
#define PRISM_KEA_IDENT_MAX	      510 /**< hex digits of a dhcp_identifier (255 bytes) */

/**
 * SQL that creates (or replaces) the function and the triggers: every INSERT, UPDATE and
 * DELETE of a row of `hosts` sends NOTIFY @p channel with a JSON payload
 * {"op","id","hostname","ipv4"} (the row after the change; before it for a DELETE), one of
 * `ipv6_reservations` {"op","id","table":"ipv6_reservations"} (id: the host's), a TRUNCATE
 * of either {"op":"TRUNCATE"}. Idempotent; run it in one transaction.
 * @param channel  a validated SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)
 * @return 0, PRISM_ETOOBIG (@p len too small), PRISM_EINVAL (bad channel)
 */
int prism_kea_trigger_sql(const char *channel, char *buf, size_t len);

/** SQL that removes what prism_kea_trigger_sql() creates; idempotent. */
const char *prism_kea_uninstall_sql(void);

/** SQL counting the triggers installed (0, or PRISM_KEA_TRIGGERS when installed). */
const char *prism_kea_trigger_count_sql(void);

/** The consistency query: host_id, hostname, ipv4_address, IPv6 address (the first of
 *  its ipv6_reservations of type address, as text) of every reservation with a hostname
 *  and an address (an ipv4_address of 0 is none, as Kea has it). */
const char *prism_kea_select_sql(void);

/**
 * The lookup of changed reservations, the same columns as the consistency query for every
 * row (with or without a name or an address) whose host_id is in $1 (a bigint[] literal) or
 * whose dhcp_identifier is in $2 (a text[] literal of hex strings).
 */
const char *prism_kea_lookup_sql(void);

/**
 * A PostgreSQL array literal of @p n integers ("{1,2,3}"); a text[] literal of @p n hex
 * strings with @p hex ("{0a1b,ffee}"). @return a string the caller frees, NULL on out of
 * memory (or a non-hex string).
 */
char *prism_kea_array_literal(const int64_t *ints, const char *const *hex, size_t n);

/** An IPv6 reservation's address in canonical text ("2001:DB8:0::1" → "2001:db8::1").
 *  @param out at least 46 bytes  @return 0, PRISM_EINVAL (not an IPv6 address) */
int prism_kea_ipv6(const char *in, char *out, size_t outlen);

/** Kea's ipv4_address (a bigint) as text: 167772161 → "10.0.0.1".
 *  @param out at least 16 bytes  @return 0, PRISM_EINVAL (not 0 … 2^32-1) */
int prism_kea_ipv4(int64_t v, char *out, size_t outlen);

/** A notification: of Prism's trigger, or of the Kea service's (@c kea_service). */
struct prism_kea_notify {
	enum { PRISM_KEA_INSERT, PRISM_KEA_UPDATE, PRISM_KEA_DELETE, PRISM_KEA_TRUNCATE } op;
	/** The Kea service's payload {"operation","hostname","ipv4_address","dhcp_identifier"}:
	 *  no host_id, the reservation is found by its identifier. */
	bool kea_service;
	int64_t id;				  /**< host_id (Prism's; not for TRUNCATE) */
	char identifier[PRISM_KEA_IDENT_MAX + 1]; /**< kea_service: dhcp_identifier, lower hex */
	bool has_hostname;			  /**< hostname is not NULL */
	char hostname[256];			  /**< as Kea has it (not checked here) */
	bool has_ipv4;
	int64_t ipv4; /**< ipv4_address */
};

/**
 * Parse a payload of either trigger. Unknown keys are ignored.
 * @param[out] reason on error, a short lower-case reason; may be NULL
 * @return 0, PRISM_EMSG (not such a payload), PRISM_EINVAL (NULL)
 */
int prism_kea_notify_parse(const char *payload, size_t len, struct prism_kea_notify *out,
			   char *reason, size_t reason_len);
