/* SPDX-License-Identifier: MIT */
/*
 * Private to the SQLite backend: sqlite.c (hosts, ledger, tokens, keys, audit) and zones.c
 * (zones and their records) share one connection; the function table in sqlite.c points at
 * both.
 */
#pragma once

#include <sqlite3.h>

#include "store/store.h"

/** The backend's connection (writer thread only). */
sqlite3 *prism_sqlite_db(struct prism_store *s);

/* zones.c: the zone operations of struct prism_store_api, documented in store.h */
int zq_zones_targets_sync(struct prism_store *s, const struct prism_target_zone *pairs,
			  size_t n, const struct prism_target_group *groups, size_t ngroups,
			  int64_t now, size_t *caught_up);
int zq_zone_create(struct prism_store *s, const struct prism_zone_spec *z,
		   const char *const *targets, int64_t now);
int zq_zone_delete(struct prism_store *s, const char *zone, int64_t now, size_t *ntargets);
int zq_zone_set_adopt(struct prism_store *s, const char *zone);
int zq_zone_set_dnssec(struct prism_store *s, const char *zone, bool on, bool *changed);
int zq_rrsets_put(struct prism_store *s, const char *zone, bool config_zone,
		  const struct prism_rrset_put *v, size_t n, int64_t now, const char *actor,
		  size_t *changed, struct prism_rrset_err *err);
int zq_zones_served(struct prism_store *s, const char *target, struct prism_served *out);
int zq_zone_deletion_done(struct prism_store *s, const char *target, const char *zone);
int zq_repoint(struct prism_store *s, const char *from, const char *to,
	       const char *const *zones, const char *pattern, bool dry_run, int64_t now,
	       struct prism_repoint_result *out);
int zq_target_resync(struct prism_store *s, const char *target, int64_t now, size_t *n);
int zq_zone_resync(struct prism_store *s, const char *zone, int64_t now, size_t *n);

/* sqlite.c: a host's A/AAAA record (and PTR) desired and pending, as a registration writes
 * them; @p changed: ledger rows were marked */
int sq_host_records(struct prism_store *s, const struct prism_host_reg *reg, int64_t host_id,
		    const char *fqdn, bool *changed);

/* import.c: the operation of struct prism_store_api, documented in store.h */
int iq_host_import(struct prism_store *s, const struct prism_host_import *h,
		   enum prism_import_outcome *out);

/* targets.c: the run-time target operations of struct prism_store_api (store.h) */
int tq_runtime_target_add(struct prism_store *s, const struct prism_runtime_target *t);
int tq_runtime_target_update(struct prism_store *s, const struct prism_runtime_target *t);
int tq_runtime_target_delete(struct prism_store *s, const char *name);
int tq_runtime_targets(struct prism_store *s, struct prism_runtime_target **out, size_t *n);
