/* SPDX-License-Identifier: MIT */
/**
 * @file rr_validate.h
 * Zone records from the API, templates and zone files: owner names and record contents
 * checked per type and rewritten in one canonical presentation form — the form PowerDNS
 * answers with, so what the registry holds hashes equal to what the target reads back.
 * Pure: no I/O, no allocation.
 *
 * Names: "@" (or "") is the zone apex; a name ending in a dot is absolute; any other owner
 * name is relative to the zone unless it already ends with the zone's name. In contents
 * (CNAME, NS, PTR, MX and SRV targets) a single label is relative to the zone and a name of
 * several labels must end with a dot or with the zone's name: "mail.other.org" is refused
 * as ambiguous instead of becoming "mail.other.org.<zone>". Names are lower-cased.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRISM_RR_CONTENT_MAX 4096u /**< one record's canonical text, NUL included */
#define PRISM_RRSET_MAX	     64u   /**< records in one RRset */
#define PRISM_RR_WHY_MAX     160u  /**< room for a reason */
#define PRISM_RR_TTL_MAX     2147483647u

/** Whether Prism manages records of @p type: A AAAA CNAME MX TXT NS SRV PTR CAA. */
bool prism_rr_type_supported(const char *type);

/**
 * The owner name of a record in @p zone (normalised, trailing dot), as an FQDN.
 * A leading "*" label (wildcard) and '_' in labels are allowed.
 * @param[out] why a reason when refused ("not in zone example.com.", "label too long", …)
 * @return 0, PRISM_EMSG (refused), PRISM_EINVAL (NULL arguments)
 */
int prism_rr_owner(const char *name, const char *zone, char *out, size_t outlen, char *why,
		   size_t whylen);

/**
 * Check one record's content for @p type (upper-case) and write its canonical form:
 * A and AAAA as inet_ntop prints them; names as FQDNs (see above); MX "PRIO NAME" and SRV
 * "PRIO WEIGHT PORT TARGET" with 16-bit numbers; TXT as quoted strings of at most 255
 * bytes each (unquoted input is one text, split every 255 bytes; '"' and '\\' escaped,
 * other bytes outside 32–126 as \DDD); CAA "FLAGS TAG \"VALUE\"" (flags 0–255, tag of 1–15
 * letters and digits).
 * @param[out] out at least PRISM_RR_CONTENT_MAX bytes is always enough
 * @return 0, PRISM_EMSG (refused, @p why says why), PRISM_ETOOBIG, PRISM_EINVAL
 */
int prism_rr_content(const char *type, const char *in, const char *zone, char *out, size_t outlen,
		     char *why, size_t whylen);

/** One record line parsed by prism_rr_line(); the strings live in the struct. */
struct prism_rr_line {
	char name[256]; /**< FQDN */
	char type[16];
	uint32_t ttl;
	char content[PRISM_RR_CONTENT_MAX]; /**< canonical */
};

/**
 * Parse "NAME [TTL] TYPE CONTENT" (a zone template line): fields separated by blanks,
 * CONTENT the rest of the line; "@" stands for the apex in NAME and CONTENT.
 * @param default_ttl used when the line has no TTL
 * @return 0, PRISM_EMSG (refused, @p why names the field), PRISM_EINVAL
 */
int prism_rr_line(const char *line, const char *zone, uint32_t default_ttl,
		  struct prism_rr_line *out, char *why, size_t whylen);
