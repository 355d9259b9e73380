/* SPDX-License-Identifier: MIT */
/*
 * Private to src/api: the run-time target routes (routes_targets.c), listed in the route
 * table of routes.c.
 */
#pragma once

#include "api/api_int.h"

/** POST /api/v1/targets: add a target (kept in the registry, started after the commit). */
void h_v1_target_create(struct api_req *r);
/** PATCH /api/v1/targets/{name}: change a target added at run time (it restarts). */
void h_v1_target_update(struct api_req *r);
/** DELETE /api/v1/targets/{name}: stop and forget a target added at run time. */
void h_v1_target_delete(struct api_req *r);
