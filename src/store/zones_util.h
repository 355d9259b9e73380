/* SPDX-License-Identifier: MIT */
/*
 * Private to the store backends: the text helpers of zones and records that SQLite's
 * zones.c and PostgreSQL's pg_zones.c share (no database in them).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** "a\nb" → {"a", "b", NULL} (empty lines left out); NULL when out of memory. */
char **prism_split_lines(const char *text);
/** The records joined by '\n' (as desired.content holds them); NULL when out of memory. */
char *prism_join_records(const char *const *r, size_t n);
/** {"ttl":N,"records":[...]} of an RRset for the audit log; NULL when out of memory. */
char *prism_rrset_json(uint32_t ttl, const char *const *records, size_t n);
/** The records of @p content with @p from replaced by @p to (once: no duplicate), into
 *  @p recs (NULL-terminated, @p n of them; free each, then the array). 0, PRISM_ENOMEM */
int prism_repoint_content(const char *content, const char *from, const char *to, char ***recs,
			  size_t *n);

/* ---- rrsets_put and repoint over a backend's statements (zones_core.c) ---- */

struct prism_store;
struct prism_audit_entry;
struct prism_rrset_put;
struct prism_rrset_err;
struct prism_repoint_result;

/** One call's writes: queued, then applied set-based by flush. */
struct zput {
	const struct zput_ops *ops;
	struct prism_store *s;
	const char *zone; /**< the zone the queued RRsets belong to */
	int64_t now;
	const char *actor; /**< audit entries' actor; NULL: none */
	void *st[4];	   /**< the backend's statements */
};

/** A desired A/AAAA RRset holding the address a repoint moves. */
struct zmatch {
	char *zone, *name, *type, *content;
	uint32_t ttl;
	int64_t host_id;
};

struct zput_ops {
	int (*open)(struct zput *c);
	void (*close)(struct zput *c);
	/* the RRset (c->zone, name, type): *host -1 when absent (0: not a host's), its hash,
	 * TTL and content (a copy to free) */
	int (*current)(struct zput *c, const char *name, const char *type, int64_t *host,
		       int64_t *hash, uint32_t *ttl, char **content);
	/* queue a desired RRset of c->zone (host_id 0: none), or its deletion (@p del) */
	int (*queue)(struct zput *c, const char *name, const char *type, uint32_t ttl,
		     const char *content, int64_t hash, int64_t host_id, bool del);
	int (*audit)(struct zput *c, const struct prism_audit_entry *e);
	int (*flush)(struct zput *c);
	/* the RRsets at @p name in c->zone: all, CNAMEs, hosts', and their types joined */
	int (*name_types)(struct zput *c, const char *name, int64_t *total, int64_t *cnames,
			  int64_t *hosts, char *types, size_t len);
	int (*zone_exists)(struct prism_store *s, const char *zone, bool *exists);
	/* the A/AAAA RRsets holding @p from, in @p zones (NULL: any; zmatch_add filters),
	 * names matching SQLite's GLOB @p pattern (NULL: any), by zone, name and type */
	int (*matches)(struct prism_store *s, const char *from, const char *const *zones,
		       const char *pattern, struct zmatch **out, size_t *n);
	/* host @p host_id's addresses @p from become @p to; pending again */
	int (*readdress)(struct prism_store *s, int64_t host_id, const char *from, const char *to);
	/* host @p host_id's PTR at @p rev: its zone and target (copies; NULL when none) */
	int (*host_ptr)(struct prism_store *s, int64_t host_id, const char *rev, char **zone,
			uint32_t *ttl, char **target);
};

/** store.h rrsets_put over @p ops. */
int zput_rrsets(const struct zput_ops *ops, struct prism_store *s, const char *zone,
		bool config_zone, const struct prism_rrset_put *v, size_t n, int64_t now,
		const char *actor, size_t *changed, struct prism_rrset_err *err);
/** store.h repoint over @p ops. */
int zput_repoint(const struct zput_ops *ops, struct prism_store *s, const char *from,
		 const char *to, const char *const *zones, const char *pattern, bool dry_run,
		 int64_t now, struct prism_repoint_result *out);
/** Add a match unless @p zones (NULL: any) leaves its zone out. 0, PRISM_ENOMEM */
/** Room for element @p n of the array @p v (capacity @p cap, doubled from 16).
 *  @return 0, PRISM_ENOMEM */
int zgrow(void **v, size_t *cap, size_t n, size_t size);
int zmatch_add(struct zmatch **v, size_t *n, size_t *cap, const char *const *zones,
	       const char *zone, const char *name, const char *type, uint32_t ttl,
	       const char *content, int64_t host_id);
void zmatch_free(struct zmatch *m, size_t n);
