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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/writer.h"
#include "targets/target.h"

struct prism_engine;

/** A zone a target serves: checked (and created if missing) before anything is pushed. */
struct prism_engine_zone {
	const char *name;		/**< trailing dot */
	const char *const *nameservers; /**< NS set used if the zone must be created */
	const char *soa;		/**< SOA content for a new zone; NULL = default */
	const char *kind;		/**< NULL/"Native", "Master" (NOTIFY after changes) */
	bool dnssec;			/**< signed on the target */
};

/** One DNS server the engine keeps in step (copied; what it points to is borrowed for the
 *  engine's life). */
struct prism_engine_target {
	const char *name; /**< ledger key, e.g. "default" */
	const struct prism_target_api *api;
	struct prism_target *handle;
	const struct prism_engine_zone *zones;
	size_t nzones;
	bool paused;	 /**< start paused */
	bool adopt;	 /**< take over foreign RRsets at wanted names */
	size_t max_body; /**< largest PATCH body in bytes; 0 = 1.5 MiB */
	/** The target's DNS port ("IP:port", validated), NULL = none: the ownership check then
	 *  asks it whether anything is at a name before reading the whole zone. */
	const char *dns_address;
	/** The target's API (PowerDNS), NULL = none: without a dns_address the DNS port is
	 *  asked of the server once, and a wildcard local-address taken to be this host. */
	const char *api_url;
};

struct prism_engine_opts {
	const struct prism_engine_target *targets;
	size_t ntargets;
	double retry_delay;   /**< first backoff step, seconds */
	double retry_max;     /**< backoff cap, seconds */
	unsigned coalesce_ms; /**< wait this long after a wake so a burst becomes one batch */
	size_t batch_max;     /**< most RRsets per round (and per PATCH) */
	unsigned reconcile_interval; /**< seconds between reconciler passes; 0 = at start only */
	/** Active-active: whether this instance may start work at @p target now (it holds
	 *  the target's claim); NULL = always. Asked before each step of a target's worker
	 *  and each request; a target refused stays idle until the next prism_engine_wake(). */
	bool (*may_work)(void *arg, const char *target);
	void *may_work_arg;
};

/** Create the engine; it starts a first round at once (catching up after a restart). */
int prism_engine_new(uv_loop_t *loop, struct prism_store_writer *w,
		     const struct prism_engine_opts *opts, struct prism_engine **out);

/** Something changed in the registry: look at the ledger soon. Cheap; call freely. */
void prism_engine_wake(struct prism_engine *e);

/** What a target's worker is doing, for the API, metrics and logs. Plain snapshot. */
struct prism_engine_target_info {
	const char *name;
	const char *state;	     /**< "ok", "backoff", "unauthorised", "paused" */
	bool zone_ready;	     /**< managed zone checked/created on the target */
	unsigned failures;	     /**< consecutive target-level failures */
	double retry_in;	     /**< seconds until the next try while backing off */
	unsigned long long requests; /**< change requests sent */
	unsigned long long request_failures;
	unsigned long long rrsets_applied;
	unsigned long long rrsets_failed;
	int64_t last_success; /**< unix seconds of the last successful push, 0 = never */
};

/**
 * Add a target at run time; it starts at once (zones checked, its rows pushed). @p t is
 * copied; what it points to is borrowed for the engine's life.
 * @return 0, PRISM_ECONFLICT (a target of that name), PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_engine_add_target(struct prism_engine *e, const struct prism_engine_target *t);

/**
 * Remove a target at run time: nothing more is sent to it (a request in flight ends and is
 * recorded); it no longer counts among the targets. Its memory lives until the engine is
 * freed (store jobs and the target's callbacks may still point at it), so the target's
 * handle must stay open until prism_engine_stop, like the others.
 * @return 0, PRISM_ENOTFOUND, PRISM_ENOMEM
 */
int prism_engine_remove_target(struct prism_engine *e, const char *name);

/** Whether @p target's worker has work in flight (a read, a request, a record job). */
bool prism_engine_busy(const struct prism_engine *e, const char *target);

/** Number of targets. */
size_t prism_engine_ntargets(const struct prism_engine *e);

/** Target @p i as it was given (the worker's copy: valid until the engine is freed, also
 *  after the target is removed), or NULL. Indexes move when a target is removed. */
const struct prism_engine_target *prism_engine_target(const struct prism_engine *e, size_t i);

/** Snapshot of target @p i. @return 0 or PRISM_ENOTFOUND. */
int prism_engine_target_info(const struct prism_engine *e, size_t i,
			     struct prism_engine_target_info *out);

/** Pause a target for maintenance (nothing is sent until resumed) or resume it.
 *  @return 0 or PRISM_ENOTFOUND. Rows keep accumulating in the ledger while paused. */
int prism_engine_pause(struct prism_engine *e, const char *name, bool paused);

/** The plan for one zone at one target: what a reconcile would do now. */
struct prism_plan_zone {
	const char *target;
	const char *zone;
	int err; /**< 0, or why the zone could not be read */
	char errmsg[256];
	struct prism_reconcile_result res; /**< counts and items (create/update/delete/conflict) */
};

/** Called once with every (target, zone) of the plan; the engine frees them after it. */
typedef void (*prism_engine_plan_cb)(void *arg, const struct prism_plan_zone *zones, size_t n);

/**
 * Compute the plan (a dry run of the reconciler): read every managed zone from every target
 * and compare it with the desired state, changing nothing. @p cb runs on the loop once
 * everything answered (before this returns when there is nothing to read), also when the
 * engine stops first (then with errors).
 * @return 0, PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_engine_plan(struct prism_engine *e, prism_engine_plan_cb cb, void *arg);

/** Apply reloaded tuning: backoff, coalescing, batch size, reconcile interval. Targets
 *  change through prism_engine_add_target and prism_engine_remove_target. */
void prism_engine_reload(struct prism_engine *e, const struct prism_engine_opts *opts);

/** @p target's credentials changed (SIGHUP): a target refusing the old ones (401/403) is
 *  tried again now instead of after its backoff, every zone reconciled (so the rows that
 *  failed meanwhile are pushed). @return 0 or PRISM_ENOTFOUND */
int prism_engine_credentials_changed(struct prism_engine *e, const char *target);

/** The registry's zones changed (created, deleted, imported): every target loads its list
 *  again, creates the new zones, deletes the deleted ones, then pushes as usual. */
void prism_engine_zones_changed(struct prism_engine *e);

/** "Sync every zone to this target": check (and create) every zone it serves again and
 *  reconcile them now; with the registry's rows made pending (store target_resync), the
 *  target gets everything again. @return 0 or PRISM_ENOTFOUND */
int prism_engine_resync(struct prism_engine *e, const char *target);

/** "Sync this zone to its targets": every target serving @p zone checks (creates) it again
 *  and reconciles it now. @return the number of targets serving it */
size_t prism_engine_resync_zone(struct prism_engine *e, const char *zone);

/** Copies of the names of the zones @p target serves (free each, then the array).
 *  @return 0, PRISM_ENOTFOUND, PRISM_ENOMEM */
int prism_engine_zone_names(const struct prism_engine *e, const char *target, char ***names,
			    size_t *n);

/** Whether @p target serves @p zone and has it checked/created (@p ready).
 *  @return 0, PRISM_ENOTFOUND (no such target, or the target does not list the zone yet) */
int prism_engine_zone_state(const struct prism_engine *e, const char *target, const char *zone,
			    bool *ready);

/** Reconcile every zone of every target now (read it, compare, repair). */
void prism_engine_reconcile(struct prism_engine *e);

/** Stop: no new rounds or store jobs; handles close and memory is freed from close callbacks.
 *  Close the targets first so no completion arrives afterwards. NULL is a no-op. */
void prism_engine_stop(struct prism_engine *e);
