/* SPDX-License-Identifier: MIT */
/**
 * @file ncr.h
 * Kea's DHCP-DDNS NameChangeRequest (NCR), the message kea-dhcp4/kea-dhcp6 send to their
 * `dhcp-ddns` server: one UDP datagram holding a 2-byte big-endian length and that many
 * bytes of JSON (measured from Kea 2.2, see docs/kea.md):
 *
 *     {"change-type":0,"forward-change":true,"reverse-change":true,
 *      "fqdn":"client1.lab.test.","ip-address":"10.99.0.100",
 *      "dhcid":"00010143180E...","lease-expires-on":"20261122022159",
 *      "lease-length":1200,"use-conflict-resolution":true}
 *
 * Pure: bytes in, struct out; no I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dname.h"

#define PRISM_NCR_MAX	    65535u /**< largest datagram */
#define PRISM_NCR_DHCID_MAX 128u   /**< hex digits of a DHCID (RFC 4701 ones have 70) */

/** One request. */
struct prism_ncr {
	bool remove;			/**< change-type 1 (remove); 0 is add */
	bool forward;			/**< forward-change: the A/AAAA record */
	bool reverse;			/**< reverse-change: the PTR record */
	char fqdn[PRISM_DNAME_MAX + 1]; /**< lower-case, trailing dot */
	char ip[46];			/**< ip-address, canonical text */
	bool ipv6;
	char dhcid[PRISM_NCR_DHCID_MAX + 1]; /**< upper-case hex */
	int64_t lease_expires_on;	     /**< unix seconds (UTC) */
	uint32_t lease_length;		     /**< seconds: the TTL Kea wants */
	/** use-conflict-resolution (absent: true), or Kea 2.4's conflict-resolution-mode: off
	 *  for "no-check-with-dhcid" and "no-check-without-dhcid" */
	bool conflict_resolution;
};

/**
 * Parse one datagram. Unknown keys are ignored (newer Kea versions add some); duplicate
 * keys, a length prefix that is not the datagram's length, missing or mistyped fields,
 * a request with neither forward- nor reverse-change, a bad name, address, DHCID or date
 * are refused.
 * @param[out] reason on error, a short lower-case reason naming the field; may be NULL
 * @return 0, PRISM_EPROTO (framing or JSON), PRISM_EMSG (a field), PRISM_EINVAL (NULL)
 */
int prism_ncr_parse(const uint8_t *buf, size_t len, struct prism_ncr *out, char *reason,
		    size_t reason_len);

/**
 * Encode @p n as Kea does (compact JSON after the length prefix): for tests, benchmarks
 * and the fuzz target's round trip.
 * @param[out] len bytes written
 * @return 0, PRISM_ETOOBIG (@p cap too small), PRISM_EINVAL
 */
int prism_ncr_encode(const struct prism_ncr *n, uint8_t *buf, size_t cap, size_t *len);
