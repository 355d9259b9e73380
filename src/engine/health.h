/* SPDX-License-Identifier: MIT */
/**
 * @file health.h
 * Health checks of every target, every sync.health_interval seconds, on the libuv loop:
 *
 * 1. the API answers (GET the server: its version) — otherwise `unavailable`;
 * 2. its statistics are readable (GET …/statistics);
 * 3. zone consistency (GET …/zones): every managed zone the target serves is there (a missing
 *    one is reported and handed to the engine, which creates it again and re-sends its
 *    records); zones Prism does not manage are counted as extra (reported, not a fault:
 *    a server may hold other zones);
 * 4. a DNS probe with ldns, when the target has a dns_address: an SOA query for each managed
 *    zone, its serial compared with the API's (a mismatch seen twice in a row is a fault:
 *    one check may race a change).
 *
 * The state is `healthy`, `degraded` (2–4 failed), `unavailable` (1 failed) or `maintenance`
 * (the target is paused), with the reason. Transitions are logged and counted.
 * The blocking DNS queries run on libuv's thread pool.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "engine/engine.h"
#include "targets/target.h"

enum prism_health_state {
	PRISM_HEALTH_UNKNOWN = 0, /**< not checked yet */
	PRISM_HEALTH_HEALTHY,
	PRISM_HEALTH_DEGRADED,
	PRISM_HEALTH_UNAVAILABLE,
	PRISM_HEALTH_MAINTENANCE,
	PRISM_HEALTH_NSTATES,
};

/** "unknown", "healthy", "degraded", "unavailable", "maintenance". */
const char *prism_health_state_name(enum prism_health_state s);

/** One target to check. Everything is borrowed for the checker's life. */
struct prism_health_target {
	const char *name;
	const struct prism_target_api *api;
	struct prism_target *handle;
	const char *dns_address;      /**< "192.0.2.1:53", "[2001:db8::1]:53"; NULL = no probe */
	const char *const *zones;     /**< managed zones it serves (trailing dot) */
	size_t nzones;
};

struct prism_health_opts {
	const struct prism_health_target *targets;
	size_t ntargets;
	unsigned interval;            /**< seconds between checks; 0 = none (paused checking) */
	double probe_timeout;         /**< seconds for one DNS answer */
	struct prism_engine *engine;  /**< paused state, and repairs of missing zones */
};

/** What the last check of one target found. Plain snapshot. */
struct prism_health_info {
	const char *name;
	enum prism_health_state state;
	char reason[256];             /**< "" when healthy */
	char version[64];             /**< the server's version, "" when unknown */
	bool api_ok, stats_ok;
	int dns;                      /**< 1 every probe answered, 0 some did not, -1 no probe */
	size_t zones_missing, zones_extra, serial_mismatches;
	int64_t checked_at;           /**< unix seconds of the last finished check, 0 = never */
	int64_t since;                /**< unix seconds the state began */
	uint64_t checks;              /**< finished checks */
	uint64_t transitions[PRISM_HEALTH_NSTATES]; /**< entries into each state */
};

struct prism_health;

/** Start checking (a first check at once). @return 0, PRISM_EINVAL, PRISM_ENOMEM */
int prism_health_start(uv_loop_t *loop, const struct prism_health_opts *opts,
		       struct prism_health **out);

/** Stop. Call before the targets are closed, in the same loop iteration: answers still on
 *  their way are then abandoned by the targets. Memory is freed from close callbacks (and a
 *  probe still running on the thread pool), so the loop must run afterwards. NULL ok. */
void prism_health_stop(struct prism_health *h);

/** Apply reloaded settings (sync.health_interval, sync.probe_timeout). NULL ok. */
void prism_health_reload(struct prism_health *h, unsigned interval, double probe_timeout);

/** Check every target now (a target whose check is under way is left to finish it). */
void prism_health_check_now(struct prism_health *h);

/** Number of targets. */
size_t prism_health_ntargets(const struct prism_health *h);

/** Snapshot of target @p i. @return 0 or PRISM_ENOTFOUND. */
int prism_health_info(const struct prism_health *h, size_t i, struct prism_health_info *out);
