/* SPDX-License-Identifier: MIT */
/**
 * @file health.h
 * Health checks per target, every sync.health_interval seconds: the API answers (and its
 * version), the statistics are readable, every zone the target should serve is there and
 * none is missing, and — when targets[].dns_address is set — each zone's SOA answers at the
 * DNS port with the serial the API shows; zones it has beyond those are counted (no fault:
 * a server may hold zones of its own); with response_time_ms, the API answers in time. The
 * statistics are kept (uptime, queries, packet cache, latency). The state is `healthy`, `degraded`
 * (with the reasons), `unavailable` (the API does not answer) or `maintenance` (paused);
 * transitions are logged and counted.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/pdns_json.h"
#include "engine/engine.h"

struct prism_health;

struct prism_health_opts {
	const struct prism_engine_target *targets; /**< borrowed for the checker's life */
	size_t ntargets;
	const char *const *dns_addresses; /**< per target "host:port" or NULL; borrowed */
	struct prism_engine *engine;	  /**< the zones each target serves, paused state */
	unsigned interval;		  /**< seconds between checks; 0 = never */
	unsigned response_time_ms;	  /**< slower first API answer: degraded; 0 = off */
};

/** A target's health, a snapshot. */
struct prism_health_info {
	const char *state;   /**< "unknown" before the first check, "healthy", … */
	const char *reason;  /**< "" when healthy */
	const char *version; /**< the server's version, "" when unknown */
	int64_t since;	     /**< unix seconds of the last transition */
	int64_t checked;     /**< unix seconds of the last finished check */
	unsigned long long transitions;
	size_t zones_missing; /**< zones it should serve and has not (last zone list read) */
	size_t zones_extra;   /**< zones it has that Prism does not manage there */
	double response_ms;   /**< the API's answer time in the last check it answered */
	bool has_stats;	      /**< @c stats: from the last check that read them */
	struct prism_pdns_stats stats;
};

int prism_health_start(uv_loop_t *loop, const struct prism_health_opts *opts,
		       struct prism_health **out);

/** Check @p t too from now on (a target added at run time); @p t is copied, what it points
 *  to borrowed for the checker's life. @return 0, PRISM_ENOMEM, PRISM_EINVAL */
int prism_health_add(struct prism_health *h, const struct prism_engine_target *t,
		     const char *dns_address);

/** Stop checking @p target (removed at run time). @return 0, PRISM_ENOTFOUND */
int prism_health_remove(struct prism_health *h, const char *target);

/** Check every target now (a check in progress finishes first). */
void prism_health_check_now(struct prism_health *h);

/** @return 0 or PRISM_ENOTFOUND */
int prism_health_get(const struct prism_health *h, const char *target,
		     struct prism_health_info *out);

/** Stop before the targets close; memory is freed from close callbacks. NULL is a no-op. */
void prism_health_stop(struct prism_health *h);
