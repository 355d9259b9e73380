/* SPDX-License-Identifier: MIT */
/*
 * Private to src/api: the zone, record, import/export and repoint routes (routes_zones.c),
 * listed in the route table of routes.c.
 */
#pragma once

#include "api/api_int.h"

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
