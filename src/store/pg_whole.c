/* SPDX-License-Identifier: MIT */
/*
 * STOPGAP until pg.c's function table names them (pg_parts.h): the PostgreSQL backend's
 * table with the parts kept in pg_read.c, pg_zones.c, pg_sources.c and pg_copy.c filled
 * in where pg.c's table leaves them out, so prismd on PostgreSQL runs whole (the
 * active-active drills need it). Once pg.c names them this changes nothing; then delete
 * this file and use prism_store_postgresql directly.
 */
#include "store/pg_parts.h"
#include "store/pg_whole.h"

#define FILL(f, v)                                                                                \
	do {                                                                                      \
		if (t.f == NULL)                                                                  \
			t.f = (v);                                                                \
	} while (0)

const struct prism_store_api *prism_store_pg_whole(void)
{
	static struct prism_store_api t;
	t = prism_store_postgresql;
	FILL(read, &prism_pg_read);
	FILL(copy, &prism_pg_copy);
	FILL(zone_create, pg_zone_create);
	FILL(zone_delete, pg_zone_delete);
	FILL(zone_set_dnssec, pg_zone_set_dnssec);
	FILL(zone_set_adopt, pg_zone_set_adopt);
	FILL(rrsets_put, pg_rrsets_put);
	FILL(zones_served, pg_zones_served);
	FILL(zone_deletion_done, pg_zone_deletion_done);
	FILL(repoint, pg_repoint);
	FILL(zone_resync, pg_zone_resync);
	FILL(runtime_target_add, pg_runtime_target_add);
	FILL(runtime_target_update, pg_runtime_target_update);
	FILL(runtime_target_delete, pg_runtime_target_delete);
	FILL(runtime_targets, pg_runtime_targets);
	FILL(source_put, pg_source_put);
	FILL(source_remove, pg_source_remove);
	FILL(source_sync, pg_source_sync);
	FILL(source_unsynced, pg_source_unsynced);
	FILL(source_enqueue, pg_source_enqueue);
	FILL(source_apply, pg_source_apply);
	return &t;
}
