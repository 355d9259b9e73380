/* SPDX-License-Identifier: MIT */
/**
 * @file dnsupdate.h
 * RFC 2136 dynamic updates signed with TSIG (RFC 8945), and the zone transfers (AXFR) that
 * read a zone back, in wire format through ldns. Pure: buffers in, buffers or structs out;
 * the target (src/targets/rfc2136.c) moves the bytes.
 *
 * Ownership without comments: every RRset Prism writes has a companion TXT record at
 * "_prism-<type>.<name>" (the type in lower case) holding "heritage=prism,prism/owner=<id>",
 * written in the same UPDATE. An update is guarded by prerequisites, so the server itself
 * refuses to touch a name someone else holds: an RRset Prism believes it owns is changed
 * only while its companion is exactly Prism's; one it does not own yet is created only
 * while no RRset of that type (and no CNAME) is at the name.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pdns_json.h"
#include "core/rrset.h"
#include "core/zonefile.h"

/** A TSIG key. Borrowed strings. */
struct prism_tsig {
	const char *name;      /**< key name, "prism-key" */
	const char *algorithm; /**< "hmac-sha1", "hmac-sha224", … "hmac-sha512" */
	const char *secret;    /**< base64, as in BIND's key clause */
};

/** Largest DNS message over TCP. */
#define PRISM_DNS_MSG_MAX 65535u

/**
 * Check a key: a known algorithm, a name, a secret that is base64.
 * @param[out] why the reason on failure
 * @return 0 or PRISM_ECONFIG
 */
int prism_tsig_check(const struct prism_tsig *k, char *why, size_t whylen);

/** One message to send, with what is needed to check its answer. */
struct prism_dns_msg {
	uint8_t *wire; /**< owned */
	size_t len;
	uint16_t id;
	void *mac; /**< the request's TSIG MAC (an ldns_rdf), owned; NULL when unsigned */
};

/** Free the message's buffers (not @p m itself). NULL is a no-op. */
void prism_dns_msg_free(struct prism_dns_msg *m);

/**
 * The companion name of RRset (@p name, @p type): "_prism-a.www.example.com.".
 * @return 0, PRISM_ETOOBIG (the name would be over 255 octets), PRISM_EINVAL
 */
int prism_owner_name(const char *name, const char *type, char *out, size_t outlen);

/**
 * Build one signed UPDATE for @p zone from changes [0, @p n). Deletions go first. Each
 * change is guarded as @p owned says (see the file comment); a deletion of an RRset not
 * owned is left out (nothing of Prism's is there).
 * @param owner_id written into (and required of) the companion records
 * @param k the key, or NULL to send unsigned
 * @param[out] bad on PRISM_EMSG, the index of the change that is not a valid record
 * @return 0, PRISM_EMSG (a bad change: @p why says what), PRISM_ETOOBIG (over 64 KiB),
 *         PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_update_build(const char *zone, const struct prism_rr_change *ch, const bool *owned,
		       size_t n, const char *owner_id, const struct prism_tsig *k, uint16_t id,
		       struct prism_dns_msg *out, size_t *bad, char *why, size_t whylen);

/** What a query asks for. */
enum prism_dns_qkind { PRISM_DNSQ_SOA, PRISM_DNSQ_AXFR, PRISM_DNSQ_IXFR };

/** Build a signed query (SOA of @p zone, or its AXFR; IXFR needs prism_ixfr_query_build).
 *  @return 0, PRISM_EINVAL, PRISM_ENOMEM */
int prism_query_build(const char *zone, enum prism_dns_qkind kind, const struct prism_tsig *k,
		      uint16_t id, struct prism_dns_msg *out);

/** Build a signed IXFR query of @p zone from @p serial (RFC 1995: the SOA in the authority
 *  section). @return 0, PRISM_EINVAL, PRISM_ENOMEM */
int prism_ixfr_query_build(const char *zone, uint32_t serial, const struct prism_tsig *k,
			   uint16_t id, struct prism_dns_msg *out);

/** The verdict on one answer. */
struct prism_dns_answer {
	int rcode;	 /**< the response code (extended by nothing: no EDNS is sent) */
	int tsig_error;	 /**< the answer's TSIG error (16 BADSIG, 17 BADKEY, 18 BADTIME), 0 */
	bool tsig_ok;	 /**< signed and verified with the key (or no key was used) */
	uint32_t serial; /**< SOA queries: the zone's serial, when answered */
	bool has_soa;	 /**< SOA queries: the SOA of the zone was in the answer */
};

/**
 * Read the answer to @p q (an UPDATE or an SOA query): id and TSIG checked, rcode read.
 * @return 0 (see @p out), PRISM_EPROTO (not an answer to @p q), PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_answer_read(const uint8_t *wire, size_t len, const struct prism_dns_msg *q,
		      const char *zone, const struct prism_tsig *k, struct prism_dns_answer *out);

/** Text of a response code ("NOERROR", "NOTAUTH", …; "RCODE42" for others). */
const char *prism_rcode_name(int rcode, char *buf, size_t len);

/** A zone transfer in progress: the messages of an AXFR fed one by one. */
struct prism_axfr;

/** Start reading the answer to @p q (an AXFR of @p zone). @return NULL when out of memory. */
struct prism_axfr *prism_axfr_new(const char *zone, const struct prism_dns_msg *q,
				  const struct prism_tsig *k);

/**
 * Feed one message of the transfer.
 * @param[out] ans the rcode and TSIG verdict of this message
 * @return 1 the transfer is complete (closing SOA seen), 0 more messages wanted,
 *         PRISM_EUPSTREAM (an error rcode or TSIG failure: see @p ans), PRISM_EPROTO
 *         (not a transfer of this zone), PRISM_ETOOBIG (over 2,000,000 records), PRISM_ENOMEM
 */
int prism_axfr_feed(struct prism_axfr *x, const uint8_t *wire, size_t len,
		    struct prism_dns_answer *ans);

/**
 * The zone's RRsets with Prism's ownership read from the companions (the companions
 * themselves are left out), after a complete transfer.
 * @param owner_id the owner whose companions count
 * @param[out] owned_keys if not NULL, receives "name type" strings of every owned RRset or
 *             companion of @p owner_id (NULL-terminated; free each, then the array)
 * @return 0, PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_axfr_zone(const struct prism_axfr *x, const char *owner_id,
		    struct prism_actual_zone *out, char ***owned_keys);

/** Keep only the name and type of each record (a read of what is present, not of the data:
 *  prism_axfr_names). Call before the first message; the transfer then serves
 *  prism_axfr_names and prism_axfr_serial only. */
void prism_axfr_names_only(struct prism_axfr *x);

/**
 * Call @p fn with the name (lower-case FQDN) and type of every record of a complete
 * transfer, the zone's SOA once; a nonzero return from @p fn stops and is returned.
 * @return 0, PRISM_EINVAL (not complete), or what @p fn returned
 */
int prism_axfr_names(const struct prism_axfr *x,
		     int (*fn)(void *arg, const char *name, const char *type), void *arg);

/** Every record of the transfer (SOA once), after a complete transfer (not names only). */
int prism_axfr_records(const struct prism_axfr *x, struct prism_zone_data *out);

/** The zone's SOA serial seen at the start of the transfer. */
uint32_t prism_axfr_serial(const struct prism_axfr *x);

/**
 * Start reading the answer to @p q, an IXFR of @p zone from @p serial (RFC 1995). It is fed
 * with prism_axfr_feed like an AXFR; the answer is one of: the zone's SOA alone (nothing
 * newer), difference sequences (old SOA, deletions, new SOA, additions; repeated), or the
 * whole zone as an AXFR would send it. @return NULL when out of memory.
 */
struct prism_axfr *prism_ixfr_new(const char *zone, const struct prism_dns_msg *q,
				  const struct prism_tsig *k, uint32_t serial);

/** Whether a complete IXFR answer was incremental (differences, or the SOA alone), not the
 *  whole zone. */
bool prism_ixfr_incremental(const struct prism_axfr *x);

/**
 * Bring @p copy (a complete AXFR, or a copy brought up to date by earlier calls) to the
 * version of @p diff (a complete IXFR asked from the copy's serial): its differences are
 * applied, or its whole zone taken. Records move out of @p diff; free it afterwards.
 * @return 0; PRISM_ECONFLICT when the answer does not fit the copy (a deletion of a record
 *         not held, an addition of one held, a serial other than the copy's: read the
 *         zone by AXFR); PRISM_ENOMEM, PRISM_ETOOBIG, PRISM_EINVAL. On any failure @p copy
 *         is no longer a faithful copy: free it.
 */
int prism_ixfr_apply(struct prism_axfr *copy, struct prism_axfr *diff);

/** Free a transfer. NULL is a no-op. */
void prism_axfr_free(struct prism_axfr *x);
