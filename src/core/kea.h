/* SPDX-License-Identifier: MIT */
/**
 * @file kea.h
 * Kea's PostgreSQL host reservations, as text: the SQL of the notification trigger and of
 * the consistency query, the trigger's notification payloads, Kea's IPv4 addresses (a
 * bigint). Pure: the daemon and `prism kea` run the SQL with libpq.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Names of what `prism kea install-trigger` creates on Kea's hosts table. */
#define PRISM_KEA_FUNCTION "prism_kea_hosts_notify"
#define PRISM_KEA_TRIGGER "prism_kea_hosts_trigger"
#define PRISM_KEA_TRUNCATE_TRIGGER "prism_kea_hosts_truncate"

/**
 * SQL that creates (or replaces) the function and the triggers: every INSERT, UPDATE and
 * DELETE of a row of `hosts` sends NOTIFY @p channel with a JSON payload
 * {"op","id","hostname","ipv4"} (the row after the change; before it for a DELETE), a
 * TRUNCATE sends {"op":"TRUNCATE"}. Idempotent; run it in one transaction.
 * @param channel  a validated SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)
 * @return 0, PRISM_ETOOBIG (@p len too small), PRISM_EINVAL (bad channel)
 */
int prism_kea_trigger_sql(const char *channel, char *buf, size_t len);

/** SQL that removes what prism_kea_trigger_sql() creates; idempotent. */
const char *prism_kea_uninstall_sql(void);

/** SQL counting the triggers installed (0, or 2 when installed). */
const char *prism_kea_trigger_count_sql(void);

/** The consistency query: host_id, hostname, ipv4_address of every reservation with an
 *  IPv4 address and a hostname. */
const char *prism_kea_select_sql(void);

/** Kea's ipv4_address (a bigint) as text: 167772161 → "10.0.0.1".
 *  @param out at least 16 bytes  @return 0, PRISM_EINVAL (not 0 … 2^32-1) */
int prism_kea_ipv4(int64_t v, char *out, size_t outlen);

/** A notification of the trigger. */
struct prism_kea_notify {
	enum { PRISM_KEA_INSERT, PRISM_KEA_UPDATE, PRISM_KEA_DELETE, PRISM_KEA_TRUNCATE } op;
	int64_t id;                 /**< host_id (not for TRUNCATE) */
	bool has_hostname;          /**< hostname is not NULL */
	char hostname[256];         /**< as Kea has it (not checked here) */
	bool has_ipv4;
	int64_t ipv4;               /**< ipv4_address */
};

/**
 * Parse a payload of the trigger. Unknown keys are ignored.
 * @param[out] reason on error, a short lower-case reason; may be NULL
 * @return 0, PRISM_EMSG (not such a payload), PRISM_EINVAL (NULL)
 */
int prism_kea_notify_parse(const char *payload, size_t len, struct prism_kea_notify *out,
			   char *reason, size_t reason_len);
