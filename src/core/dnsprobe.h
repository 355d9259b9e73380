/* SPDX-License-Identifier: MIT */
/**
 * @file dnsprobe.h
 * The DNS side of a target's health check: an SOA query in wire format, and its answer
 * read back (ldns); and the engine's ownership check: is anything at a name and type?
 * Pure: buffers in, values out.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Build a query for the SOA of @p zone with message id @p id (no recursion wanted).
 * @param[out] buf at least 512 bytes; @p len receives the length
 * @return 0, PRISM_EINVAL (not a name), PRISM_ETOOBIG, PRISM_ENOMEM
 */
int prism_soa_query(const char *zone, uint16_t id, uint8_t *buf, size_t cap, size_t *len);

/**
 * Read an answer: its id, and the serial of the SOA of @p zone in its answer section.
 * @param[out] id the message id (also when the rest is refused)
 * @param[out] rcode the response code
 * @return 0 (serial set), PRISM_ENOTFOUND (an answer without that SOA: @p rcode says why),
 *         PRISM_EPROTO (not a DNS response), PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_soa_answer(const uint8_t *buf, size_t len, const char *zone, uint16_t *id, int *rcode,
		     uint32_t *serial);

/**
 * Build a query for @p name and @p type ("A", "AAAA", "PTR", …) with message id @p id, no
 * recursion wanted.
 * @param[out] buf at least 512 bytes; @p len receives the length
 * @return 0, PRISM_EINVAL (not a name or not a type), PRISM_ETOOBIG, PRISM_ENOMEM
 */
int prism_rr_query(const char *name, const char *type, uint16_t id, uint8_t *buf, size_t cap,
		   size_t *len);

/**
 * Read the answer to prism_rr_query(@p name, @p type): is an RRset of that type, or a
 * CNAME, at @p name? A truncated answer counts as present (it may hide one).
 * @param[out] id the message id
 * @param[out] rcode the response code (NOERROR and NXDOMAIN are the only conclusive ones)
 * @return 0 (@p present set), PRISM_EPROTO (not a DNS response, or not to this question),
 *         PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_rr_answer(const uint8_t *buf, size_t len, const char *name, const char *type,
		    uint16_t *id, int *rcode, bool *present);
