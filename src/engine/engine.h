/* SPDX-License-Identifier: MIT */
/**
 * @file engine.h
 * The sync engine. Level-triggered: the registry's ledger holds what each target should
 * have; a wake-up only makes the engine look. Per target it ensures the managed zones
 * exist, takes due ledger rows in batches, sends one change request per zone (DELETEs
 * before REPLACEs), writes the results back, and backs the whole target off (exponential,
 * with jitter, capped) when the server fails. A failing target never stalls another.
 */
#pragma once

#include <stddef.h>
#include <uv.h>

#include "store/writer.h"
#include "targets/target.h"

struct prism_engine;

/** One DNS server the engine keeps in step. The handle is borrowed for the engine's life. */
struct prism_engine_target {
	const char *name;                    /**< ledger key, e.g. "default" */
	const struct prism_target_api *api;
	struct prism_target *handle;
	const char *zone;                    /**< managed zone (trailing dot) */
	const char *const *nameservers;      /**< NS set used if the zone must be created */
};

struct prism_engine_opts {
	const struct prism_engine_target *targets;
	size_t ntargets;
	double retry_delay;       /**< first backoff step, seconds */
	double retry_max;         /**< backoff cap, seconds */
	unsigned coalesce_ms;     /**< wait this long after a wake so a burst becomes one batch */
	size_t batch_max;         /**< most RRsets per round (and per PATCH) */
};

/** Create the engine; it starts a first round at once (catching up after a restart). */
int prism_engine_new(uv_loop_t *loop, struct prism_store_writer *w,
		     const struct prism_engine_opts *opts, struct prism_engine **out);

/** Something changed in the registry: look at the ledger soon. Cheap; call freely. */
void prism_engine_wake(struct prism_engine *e);

/** Stop: no new rounds or store jobs; handles close and memory is freed from close callbacks.
 *  Close the targets first so no completion arrives afterwards. NULL is a no-op. */
void prism_engine_stop(struct prism_engine *e);
