/* SPDX-License-Identifier: MIT */
/*
 * Private to the store backends: how a source entry is applied to the registry (store.h
 * "hosts of other sources"), written once over the few row operations each backend
 * provides (SQLite's sqlite_sources.c, PostgreSQL's pg_sources.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/dname.h"
#include "core/rrset.h"
#include "store/store.h"

#define SRC_DHCID_MAX 160 /* hex text; RFC 4701 DHCIDs are 70 */

/* A source host as stored. Family 0 is IPv4, 1 IPv6; "" is none. */
struct src_row {
	bool found;
	int64_t id;
	char name[PRISM_DNAME_MAX + 1];
	char zone[PRISM_DNAME_MAX + 1];
	char ip[2][64];
	char dhcid[2][SRC_DHCID_MAX];
	uint32_t ttl;
};

/* A backend's row operations (0 or a PRISM_E* code each). */
struct src_ops {
	/* the host keyed (@p src, @p key): row->found false when none */
	int (*by_key)(struct prism_store *s, enum prism_source src, const char *key,
		      struct src_row *row);
	/* who holds @p fqdn (its FQDN, or the same text as a hostname): *id 0 when nobody */
	int (*by_name)(struct prism_store *s, const char *fqdn, int64_t *id,
		       enum prism_source *src);
	/* PRISM_ECONFLICT when a record of another host (or the API's) holds @p type or a
	 * CNAME at @p fqdn; @p holder says whose */
	int (*name_holder)(struct prism_store *s, const char *zone, const char *fqdn,
			   const char *type, int64_t host_id, enum prism_source *holder);
	/* a desired RRset of host @p host_id, pending on every target of @p zone */
	int (*desired_set)(struct prism_store *s, const struct prism_rr_change *rr,
			   const char *zone, int64_t host_id, int64_t now, bool *changed);
	/* withdraw an RRset while host @p id owns it, its deletion queued */
	int (*drop_owned)(struct prism_store *s, const char *zone, const char *name,
			  const char *type, int64_t id, int64_t now, bool *changed);
	/* delete host @p id and every record it owns */
	int (*drop_host)(struct prism_store *s, int64_t id, int64_t now, bool *changed);
	/* a new host: PRISM_ECONFLICT when its hostname text is taken */
	int (*insert)(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, char ip[2][64],
		      char dhcid[2][SRC_DHCID_MAX], int64_t *id);
	/* host @p id's addresses, DHCIDs, zone and TTL; pending again when @p dns_changed */
	int (*update)(struct prism_store *s, const struct prism_source_entry *e,
		      const struct prism_source_ctx *ctx, int64_t id, char ip[2][64],
		      char dhcid[2][SRC_DHCID_MAX], bool dns_changed);
};

/** Whether @p e can be applied (lengths, families, source). */
bool src_entry_valid(const struct prism_source_entry *e);
/** store.h source_put over @p ops. */
int src_put(const struct src_ops *ops, struct prism_store *s, const struct prism_source_entry *e0,
	    const struct prism_source_ctx *ctx, struct prism_source_result *out);
/** store.h source_remove over @p ops. */
int src_remove(const struct src_ops *ops, struct prism_store *s, enum prism_source source,
	       const char *key, const struct prism_source_ctx *ctx,
	       struct prism_source_result *out);
/** Count one outcome into a sync's or an apply's result. */
void src_tally(struct prism_source_sync_result *out, const struct prism_source_entry *e,
	       const struct prism_source_result *r);

/* ---- the intake queue ---- */

/** A queued entry's flags as stored (source_queue.flags). */
int src_queue_flags(const struct prism_source_entry *e);

/** One queued row taken back: its strings are copies (col: key fqdn zone ipv4 ipv6 dhcid
 *  only_ip, NULL for SQL NULL). */
struct src_queued {
	int64_t seq;
	char *col[7];
	struct prism_source_entry e;
};

/** Make x->e from its columns and the row's numbers. PRISM_ENOMEM when a column that must
 *  be there is missing (its copy failed). */
int src_queued_entry(struct src_queued *x, enum prism_source source, unsigned families,
		     uint32_t ttl, int flags);
void src_queued_free(struct src_queued *q, size_t n);
/** Apply @p n queued entries in order (an entry that cannot be applied is dropped), with a
 *  job mark (@p mark) every @p every entries. */
int src_apply_queued(const struct src_ops *ops, struct prism_store *s, struct src_queued *q,
		     size_t n, const struct prism_source_ctx *ctx,
		     struct prism_source_sync_result *out, int (*mark)(struct prism_store *s),
		     size_t every);
