/* SPDX-License-Identifier: MIT */
/*
 * Private to the PostgreSQL backend: the parts of struct prism_store_api (store.h) kept in
 * pg_read.c (the reads), pg_sources.c (hosts of other sources) and pg_zones.c (registry
 * zones, records, repoint, targets added at run time), for the function table in pg.c.
 */
#pragma once

#include "store/store.h"

/* pg_read.c */
extern const struct prism_store_read_api prism_pg_read;

/* pg_zones.c: registry zones, records, repoint, targets added at run time */
int pg_zone_create(struct prism_store *s, const struct prism_zone_spec *z,
		   const char *const *targets, int64_t now);
int pg_zone_delete(struct prism_store *s, const char *zone, int64_t now, size_t *ntargets);
int pg_zone_set_dnssec(struct prism_store *s, const char *zone, bool on, bool *changed);
int pg_zone_set_adopt(struct prism_store *s, const char *zone);
int pg_rrsets_put(struct prism_store *s, const char *zone, bool config_zone,
		  const struct prism_rrset_put *v, size_t n, int64_t now, const char *actor,
		  size_t *changed, struct prism_rrset_err *err);
int pg_zones_served(struct prism_store *s, const char *target, struct prism_served *out);
int pg_zone_deletion_done(struct prism_store *s, const char *target, const char *zone);
int pg_repoint(struct prism_store *s, const char *from, const char *to, const char *const *zones,
	       const char *pattern, bool dry_run, int64_t now, struct prism_repoint_result *out);
int pg_zone_resync(struct prism_store *s, const char *zone, int64_t now, size_t *n);
int pg_runtime_target_add(struct prism_store *s, const struct prism_runtime_target *t);
int pg_runtime_target_update(struct prism_store *s, const struct prism_runtime_target *t);
int pg_runtime_target_delete(struct prism_store *s, const char *name);
int pg_runtime_targets(struct prism_store *s, struct prism_runtime_target **out, size_t *n);

/* pg_sources.c: hosts of other sources and the intake queue */
int pg_source_put(struct prism_store *s, const struct prism_source_entry *e,
		  const struct prism_source_ctx *ctx, struct prism_source_result *out);
int pg_source_remove(struct prism_store *s, enum prism_source source, const char *key,
		     const struct prism_source_ctx *ctx, struct prism_source_result *out);
int pg_source_sync(struct prism_store *s, enum prism_source source,
		   const struct prism_source_entry *entries, size_t n,
		   const struct prism_source_ctx *ctx, struct prism_source_sync_result *out);
int pg_source_enqueue(struct prism_store *s, const struct prism_source_entry *e);
int pg_source_apply(struct prism_store *s, enum prism_source source, size_t max,
		    const struct prism_source_ctx *ctx, struct prism_source_sync_result *out,
		    size_t *applied, size_t *left);
int pg_source_unsynced(struct prism_store *s, enum prism_source source, size_t *pending,
		       size_t *conflict);

/* pg_copy.c: moving a registry (prism registry copy) */
extern const struct prism_store_copy_api prism_pg_copy;
