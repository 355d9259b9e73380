/* SPDX-License-Identifier: MIT */
/*
 * Private to the store backends' reads (sqlite_read.c, pg_read.c): the columns the views
 * are made of, in the order the statements select them.
 */
#pragma once

#define HOST_COLS                                                                                 \
	"id, hostname, current_ip, ipv4, ipv6, status, first_seen, last_seen, dns_zone, "         \
	"dns_record_id, dns_ttl, dns_sync_status, dns_last_sync, "                                \
	"owner_token_hash IS NOT NULL, source"
enum {
	HC_ID,
	HC_NAME,
	HC_IP,
	HC_V4,
	HC_V6,
	HC_STATUS,
	HC_FIRST,
	HC_LAST,
	HC_ZONE,
	HC_RECORD,
	HC_TTL,
	HC_SYNC,
	HC_LAST_SYNC,
	HC_OWNED,
	HC_SOURCE
};
/* the compatibility list's columns */
#define COMPAT_COLS "id, hostname, current_ip, status, first_seen, last_seen"
enum { CC_ID, CC_NAME, CC_IP, CC_STATUS, CC_FIRST, CC_LAST };

#define LEDGER_COLS                                                                               \
	"host_id, target, zone, name, type, status, attempts, last_error, updated_at, "           \
	"next_attempt"
enum {
	LC_HOST,
	LC_TARGET,
	LC_ZONE,
	LC_NAME,
	LC_TYPE,
	LC_STATUS,
	LC_ATTEMPTS,
	LC_ERROR,
	LC_UPDATED,
	LC_NEXT
};

#define ZONE_COLS "name, kind, targets, nameservers, soa, ttl, dnssec, adopt, origin, created_at"
enum {
	ZC_NAME,
	ZC_KIND,
	ZC_TARGETS,
	ZC_NS,
	ZC_SOA,
	ZC_TTL,
	ZC_DNSSEC,
	ZC_ADOPT,
	ZC_ORIGIN,
	ZC_CREATED,
	ZC_RECORDS
};
enum { RC_ZONE, RC_NAME, RC_TYPE, RC_TTL, RC_CONTENT, RC_HOST };
