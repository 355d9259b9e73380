/* SPDX-License-Identifier: MIT */
/*
 * Private to src/api: the zone, record, import/export and repoint routes (routes_zones.c),
 * listed in the route table of routes.c.
 */
#pragma once

#include "api/api_int.h"

/** "key": [...], the records of a desired row's content (one a line, as stored). */
void api_content_list(struct jw *w, const char *key, const char *content);

void h_v1_zones(struct api_req *r);
void h_v1_zone_create(struct api_req *r);
void h_v1_zone(struct api_req *r);
void h_v1_zone_delete(struct api_req *r);
void h_v1_records(struct api_req *r);
void h_v1_records_put(struct api_req *r);
void h_v1_record_delete(struct api_req *r);
void h_v1_zone_export(struct api_req *r);
void h_v1_zone_import(struct api_req *r);
void h_v1_repoint(struct api_req *r);
void h_v1_cluster(struct api_req *r);
/* routes_ha.c */
void h_v1_cluster_instances(struct api_req *r);
void h_v1_target_resync(struct api_req *r);
void h_v1_zone_resync(struct api_req *r);
/** Queue a resync of @p name (a zone to its targets when @p zone, else a target's zones):
 *  rows made pending and audited, the engine told, answered 200. */
void api_resync_submit(struct api_req *r, const char *name, bool zone);
void h_v1_zone_dnssec(struct api_req *r);
void h_v1_zone_dnssec_set(struct api_req *r);

/**
 * A request waiting for a target's answer (an import, the cluster view). The targets are
 * closed right after the API without calling back, so api_zones_stop() ends every waiting
 * request through @c abort (which completes its job).
 */
struct api_wait {
	struct api_wait *prev, *next;
	void (*abort)(struct api_wait *w);
};

void api_wait_add(struct prism_api *api, struct api_wait *w);
void api_wait_remove(struct prism_api *api, struct api_wait *w);
