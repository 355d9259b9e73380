/* SPDX-License-Identifier: MIT */
/**
 * @file ha_pg.h
 * Active-active instances on one PostgreSQL registry: heartbeats and claims, on the loop
 * (libpq's asynchronous API, uv_poll on PQsocket, as the Kea reservation follower does).
 *
 * Tables prism_ha_instance (one heartbeat row per instance) and prism_ha_claim (one lease
 * row per claim: holder, expiry in the database's clock) and the function prism_ha_tick()
 * that renews, releases and takes claims in one transaction. Every renew interval (a third
 * of the lease), and at once when another instance joins or lets claims go (NOTIFY
 * prism_ha), this instance sends one tick: it wants the claims that rendezvous hashing
 * gives it among the live instances of the last tick's view, renews those it holds,
 * takes those that are free or expired, and releases the others (unless work runs under
 * them). A claim counts locally only until prism_ha_valid_until() of the tick that renewed
 * it (fencing by the monotonic clock), so when the database is out of reach the instance
 * stops before anyone may take over. Stopping releases every claim at once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct prism_ha;

struct prism_ha_opts {
	const char *const *keys; /**< libpq parameters (copied) */
	const char *const *values;
	const char *instance_id; /**< copied; prism_ha_id_ok() */
	uint32_t lease_seconds;
	uint64_t work_ms;	/**< longest work started under a claim (a push's timeout) */
	uint32_t reconnect_max; /**< seconds: backoff cap */
	/** Called on the loop when claims were gained or lost. */
	void (*changed_cb)(void *arg);
	/** Called on the loop when a commit made rows of @p target pending (NOTIFY prism_dirty)
	 *  and this instance holds that target's claim. */
	void (*dirty_cb)(void *arg, const char *target);
	/** Whether work runs under @p claim now (it is released only once that is over). */
	bool (*busy_cb)(void *arg, const char *claim);
	void *arg;
};

/** Start connecting. Never fails for the database's sake (that is retried). */
int prism_ha_start(uv_loop_t *loop, const struct prism_ha_opts *opts, struct prism_ha **out);

/** The claims to share among the instances (copied): "reconciler", "target:pdns1"... */
int prism_ha_set_claims(struct prism_ha *ha, const char *const *names, size_t n);

/** Whether this instance may start work under @p claim now (held, lease not run out). */
bool prism_ha_holds(const struct prism_ha *ha, const char *claim);

/** Renew now (and take what is free): after a change of the claims, or a notification. */
void prism_ha_tick_now(struct prism_ha *ha);

/**
 * Let every claim go (at once: they count no more locally, and the release is sent) and
 * stop; @p done_cb is called on the loop once the release is committed or given up (at
 * most 2 s), and the memory is freed once handles are closed.
 */
void prism_ha_stop(struct prism_ha *ha, void (*done_cb)(void *arg), void *arg);

struct prism_ha_instance {
	char *id;
	uint64_t heartbeat_age_ms; /**< at the last tick */
	bool alive;		   /**< heartbeat within the lease */
	size_t claims;		   /**< claims it holds (unexpired) */
};

struct prism_ha_claim {
	char *name;
	char *holder;
	int64_t left_ms; /**< until the lease runs out, at the last tick (< 0: expired) */
};

struct prism_ha_stats {
	bool connected;
	unsigned long long connects, disconnects, ticks, tick_failures;
	size_t instances_alive; /**< in the last view */
	size_t held;		/**< claims this instance may work under now */
	uint64_t view_age_ms;	/**< since the last successful tick (UINT64_MAX: none) */
};
void prism_ha_stats(const struct prism_ha *ha, struct prism_ha_stats *out);

/** The last view: instances and claims (borrowed until the next tick on the loop). */
const struct prism_ha_instance *prism_ha_instances(const struct prism_ha *ha, size_t *n);
const struct prism_ha_claim *prism_ha_claims(const struct prism_ha *ha, size_t *n);
const char *prism_ha_id(const struct prism_ha *ha);
