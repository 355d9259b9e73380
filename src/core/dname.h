/* SPDX-License-Identifier: MIT */
/**
 * @file dname.h
 * Host names and DNS zone names in presentation form.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define PRISM_HOSTNAME_MAX 253u /**< longest hostname, without trailing dot */
#define PRISM_DNAME_MAX	   255u /**< longest FQDN text incl. trailing dot and NUL room */

/**
 * Validate an agent hostname (docs/protocol.md): 1–253 characters, dot-separated labels of
 * 1–63 characters from [A-Za-z0-9-], not starting or ending with '-', no leading or trailing
 * dot.
 * @param[out] reason  on error, a short lower-case reason ("empty", "too long (300 > 253)",
 *                     "label too long", "empty label", "invalid character '_'",
 *                     "label starts or ends with '-'", "leading or trailing dot"); may be NULL
 * @return 0 valid, PRISM_EMSG invalid, PRISM_EINVAL NULL name
 */
int prism_hostname_check(const char *name, size_t len, char *reason, size_t reason_len);

/** Lower-case ASCII copy of @p in (len bytes) into @p out (size outlen, NUL-terminated).
 *  @return 0 or PRISM_ETOOBIG; PRISM_EINVAL NULL args. */
int prism_name_lower(const char *in, size_t len, char *out, size_t outlen);

/**
 * Normalise a zone name: lower-case, exactly one trailing dot ("Example.COM" → "example.com.").
 * Validates labels like a hostname but also accepts '_' and a single "." (root).
 * @return 0, PRISM_EMSG invalid, PRISM_ETOOBIG output too small, PRISM_EINVAL NULL args.
 */
int prism_zone_normalize(const char *in, char *out, size_t outlen);

/**
 * Join a relative host name and a normalised zone: ("web1", "example.com.") → "web1.example.com.".
 * @return 0 or PRISM_ETOOBIG (result over 254 characters or @p outlen; @p out is then "");
 *         PRISM_EINVAL NULL args. An empty @p host gives the zone itself.
 */
int prism_fqdn_join(const char *host, const char *zone, char *out, size_t outlen);

/**
 * The reverse-mapping name of an IPv4 or IPv6 address in presentation form:
 * "192.0.2.1" → "1.2.0.192.in-addr.arpa.", "2001:db8::1" → "1.0.0.0…8.b.d.0.1.0.0.2.ip6.arpa.".
 * @param out at least 74 bytes
 * @return 0, PRISM_EINVAL (not an address), PRISM_ETOOBIG
 */
int prism_reverse_name(const char *ip, char *out, size_t outlen);

/**
 * The longest of @p zones (NULL-terminated, normalised) that contains @p name (normalised),
 * or NULL. A zone contains itself and every name ending in "." + zone.
 */
const char *prism_zone_of(const char *name, const char *const *zones);

#define PRISM_IP_TEXT_MAX 46u /**< INET6_ADDRSTRLEN: an address in text, NUL included */

/**
 * An address as DNS servers take it in an A or AAAA record, in canonical form (inet_ntop).
 * IPv6 addresses that embed an IPv4 address (IPv4-mapped ::ffff:0:0/96 and the deprecated
 * IPv4-compatible ::/96) are refused: their canonical text holds dots, and PowerDNS refuses
 * an AAAA written so ("Invalid IPv6 address") — it would fail at the target forever.
 * @param[out] out    PRISM_IP_TEXT_MAX bytes
 * @param[out] ipv6   the family
 * @param[out] why    on PRISM_EMSG, a short lower-case reason (static text); may be NULL
 * @return 0, PRISM_EMSG (not an address, or refused), PRISM_EINVAL (NULL arguments)
 */
int prism_ip_canon(const char *in, char out[PRISM_IP_TEXT_MAX], bool *ipv6, const char **why);
