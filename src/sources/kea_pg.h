/* SPDX-License-Identifier: MIT */
/**
 * @file kea_pg.h
 * Kea's host reservations in PostgreSQL (kea.reservations): libpq's asynchronous API on
 * the loop (uv_poll on PQsocket). After connecting it LISTENs on the trigger's channel,
 * then reads every reservation and runs a consistency sync of the kea-reservation hosts;
 * from then on the reservations each notification names (by host_id: Prism's trigger on
 * `hosts` and `ipv6_reservations`; by dhcp_identifier: the Kea service's own trigger) are
 * read back and applied as they are. A lost connection is retried with exponential backoff (with
 * jitter, capped) and followed by a consistency sync, so nothing missed meanwhile is lost.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/srcname.h"
#include "sources/source.h"
#include "store/writer.h"

struct prism_kea_pg;

struct prism_kea_pg_opts {
	const char *const *keys; /**< libpq parameters (copied), see prism_kea_pg_params() */
	const char *const *values;
	const char *channel; /**< NOTIFY channel (copied) */
	const char *zone;    /**< zone of short hostnames (borrowed for the source's life) */
	const struct prism_name_filter *filter; /**< borrowed; NULL = every name */
	uint32_t ttl;
	uint32_t reconnect_max;	  /**< seconds: backoff cap */
	uint32_t resync_interval; /**< seconds between consistency syncs; 0 = none */
	bool once;		  /**< one consistency sync, no LISTEN, no reconnection */
	struct prism_source_dns dns;
	struct prism_store_writer *writer;
	/** Called on the loop after a committed write changed desired DNS state. */
	void (*changed_cb)(void *arg);
	/** Called on the loop after each consistency sync (@p err 0 or why it failed: the
	 *  database, the registry). */
	void (*synced_cb)(void *arg, int err, const struct prism_source_sync_result *r);
	void *arg;
};

/** Start connecting. Never fails for the database's sake (that is retried). */
int prism_kea_pg_start(uv_loop_t *loop, const struct prism_kea_pg_opts *opts,
		       struct prism_kea_pg **out);

/** Run a consistency sync now (also while one runs: then once more after it). */
void prism_kea_pg_resync(struct prism_kea_pg *k);

/**
 * Connect with these libpq parameters from the next connection on (a password file read
 * again on SIGHUP); the connection in use stays. Copied; the old values are wiped.
 * @return 0, PRISM_EINVAL, PRISM_ENOMEM (the old parameters stay)
 */
int prism_kea_pg_set_params(struct prism_kea_pg *k, const char *const *keys,
			    const char *const *values);

/** Disconnect and stop; memory is freed once handles are closed and jobs are done. */
void prism_kea_pg_stop(struct prism_kea_pg *k);

struct prism_kea_pg_stats {
	bool connected;
	unsigned long long connects;	/**< successful connections */
	unsigned long long disconnects; /**< connections lost or refused */
	unsigned long long notifications;
	unsigned long long bad_notifications;
	unsigned long long syncs;
	double last_sync_seconds; /**< the last consistency sync, query to commit */
	struct prism_source_stats src;
};
void prism_kea_pg_stats(const struct prism_kea_pg *k, struct prism_kea_pg_stats *out);
