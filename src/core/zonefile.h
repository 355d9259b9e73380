/* SPDX-License-Identifier: MIT */
/**
 * @file zonefile.h
 * Zone data in and out: a BIND zone file parsed with ldns (import), a PowerDNS zone answer
 * with its records (import from a target), and a zone written as a BIND zone file
 * (export). Pure: buffers in, structs or text out.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** One resource record in presentation form. */
struct prism_zone_rr {
	char *name; /**< lower-case FQDN */
	char *type; /**< "A", "TYPE65534", … */
	uint32_t ttl;
	char *content; /**< rdata text as the source wrote it (not yet canonical) */
};

/** A zone's records (SOA included, as one of them). */
struct prism_zone_data {
	struct prism_zone_rr *v;
	size_t n;
};

/** Free the records of @p z (not @p z itself). NULL is a no-op. */
void prism_zone_data_free(struct prism_zone_data *z);

/**
 * Parse a BIND zone file for @p zone (normalised, trailing dot: the default $ORIGIN).
 * $INCLUDE is refused (it would read local files). At most 1,000,000 records.
 * @param[out] err one line on failure ("line 12: syntax error (bad rdata)")
 * @return 0, PRISM_EMSG (not a zone file), PRISM_ETOOBIG, PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_zonefile_parse(const char *text, size_t len, const char *zone,
			 struct prism_zone_data *out, char *err, size_t errlen);

/**
 * Parse a PowerDNS answer of GET zones/{zone} (with its RRsets) into records; disabled
 * records are left out. @return 0, PRISM_EPROTO, PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_pdns_zone_records(const char *body, size_t len, struct prism_zone_data *out);

/** One zone of a server's zone list. */
struct prism_zone_entry {
	char *name; /**< lower-case FQDN */
	char *kind; /**< "Native", "Master", "Slave", … */
	uint32_t serial;
};

struct prism_zone_list {
	struct prism_zone_entry *v;
	size_t n;
};

/** Free the entries of @p l (not @p l itself). NULL is a no-op. */
void prism_zone_list_free(struct prism_zone_list *l);

/**
 * Parse a PowerDNS answer of GET zones (every zone of the server, without RRsets).
 * @return 0, PRISM_EPROTO, PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_pdns_zone_list(const char *body, size_t len, struct prism_zone_list *out);

/** One RRset to export. Borrowed. */
struct prism_export_rrset {
	const char *name, *type;
	uint32_t ttl;
	const char *content; /**< records separated by '\n' */
};

/**
 * A BIND zone file: $ORIGIN and $TTL, the SOA, the NS set, then every RRset, one record
 * per line, names absolute.
 * @param nameservers NULL-terminated
 * @param[out] text NUL-terminated, caller frees with free()
 * @return 0, PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_zonefile_write(const char *zone, uint32_t ttl, const char *soa,
			 const char *const *nameservers, const struct prism_export_rrset *v,
			 size_t n, char **text);
