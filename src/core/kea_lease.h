/* SPDX-License-Identifier: MIT */
/**
 * @file kea_lease.h
 * Kea's memfile lease file (kea-leases4.csv, kea-leases6.csv): a CSV log Kea appends a line
 * to for every lease change; the last line of an address is its lease. The header names
 * the columns, so both files (and newer Kea versions with more columns) parse alike:
 *
 *     address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context
 *     10.99.0.100,3a:08:d8:de:ad:ab,01:3a:08:d8:de:ad:ab,3600,1795316519,1,1,1,client1.lab.test,0,
 *
 * A lease table keeps the last line per address and says which address gives which name
 * now. Pure: text in, structs out; no I/O, no clock (the caller passes the time).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Where the columns are: filled from the header line. */
struct prism_kea_csv {
	int address, hostname, valid_lifetime, expire, state; /**< column numbers */
	int columns;
	bool v6; /**< kea-leases6.csv (has lease_type, iaid, …) */
};

/** One lease line. */
struct prism_kea_lease {
	char address[46]; /**< canonical text */
	bool ipv6;
	char hostname[256];	 /**< as Kea has it ("" = none) */
	uint64_t valid_lifetime; /**< seconds; 0 = released */
	int64_t expire;		 /**< unix seconds */
	unsigned state;		 /**< 0 default, 1 declined, 2 expired-reclaimed, … */
};

#define PRISM_KEA_LINE_MAX 65536u /**< longest line accepted */

/**
 * Parse the header line (without its line end).
 * @return 0, PRISM_EMSG (not a lease file header: a required column is missing) with
 *         @p reason, PRISM_EINVAL (NULL)
 */
int prism_kea_csv_header(const char *line, size_t len, struct prism_kea_csv *out, char *reason,
			 size_t reason_len);

/**
 * Parse one lease line (without its line end) with the columns of @p h. Columns after the
 * last one needed (user_context may hold Kea's escaped commas) are not looked at.
 * @return 0, PRISM_EMSG (too few columns, a bad address or number) with @p reason,
 *         PRISM_EINVAL
 */
int prism_kea_csv_line(const struct prism_kea_csv *h, const char *line, size_t len,
		       struct prism_kea_lease *out, char *reason, size_t reason_len);

/** Whether the lease gives its address to its hostname at @p now: a hostname, a
 *  lifetime, not expired, state 0 (not declined, not reclaimed). */
bool prism_kea_lease_active(const struct prism_kea_lease *l, int64_t now);

struct prism_kea_leases;

/** An empty table. NULL on out of memory. */
struct prism_kea_leases *prism_kea_leases_new(void);

/** Free a table. NULL is a no-op. */
void prism_kea_leases_free(struct prism_kea_leases *t);

/** Leases held. */
size_t prism_kea_leases_count(const struct prism_kea_leases *t);

/**
 * Record a line: it replaces the address's lease. @p was_active / @p now_active say
 * whether the address gave a name before and after (at @p now), @p renamed whether the
 * name changed while active in both — what a follower needs to decide on a change.
 * @return 0, PRISM_ENOMEM
 */
int prism_kea_leases_put(struct prism_kea_leases *t, const struct prism_kea_lease *l, int64_t now,
			 bool *was_active, bool *now_active, bool *renamed);

/** The lease of @p address into @p out. @return whether there is one. */
bool prism_kea_leases_get(const struct prism_kea_leases *t, const char *address,
			  struct prism_kea_lease *out);

/**
 * Call @p cb for every lease (in no particular order; @p l is valid during the call); stop
 * early when it returns false.
 */
void prism_kea_leases_each(const struct prism_kea_leases *t,
			   bool (*cb)(void *arg, const struct prism_kea_lease *l), void *arg);

/**
 * Leases that were active at @p before and are not at @p now (they expired meanwhile):
 * @p cb is called for each. @return the earliest expiry after @p now of an active lease
 * (0 when none): when to look again.
 */
int64_t prism_kea_leases_expired(const struct prism_kea_leases *t, int64_t before, int64_t now,
				 void (*cb)(void *arg, const struct prism_kea_lease *l),
				 void *arg);
