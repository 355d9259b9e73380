/* SPDX-License-Identifier: MIT */
/**
 * @file api.h
 * The REST API and /metrics on server.api_port: libmicrohttpd without threads of its own,
 * driven by the libuv loop (its epoll descriptor on a uv_poll_t, its timeouts on a
 * uv_timer_t). Reads use a store reader of the API's own (store.h); writes are store
 * writer jobs, and a request waiting for its commit is suspended, never blocking the loop.
 * Authentication: API keys (config, hashed by the daemon; or created through the API, kept
 * hashed in the registry) with the roles read < write < admin.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/config.h"
#include "core/token.h"
#include "engine/engine.h"
#include "engine/health.h"
#include "engine/liveness.h"
#include "sources/agent_server.h"
#include "sources/kea_leases.h"
#include "sources/kea_pg.h"
#include "sources/ncr_server.h"
#include "store/ha_pg.h"
#include "store/writer.h"

struct prism_api;

/** Roles of API keys, ordered: a role may do everything a lower one may. */
enum prism_api_role {
	PRISM_API_ROLE_NONE = 0,
	PRISM_API_ROLE_READ,
	PRISM_API_ROLE_WRITE,
	PRISM_API_ROLE_ADMIN,
};

/** "read" | "write" | "admin" → role; PRISM_API_ROLE_NONE for anything else. */
enum prism_api_role prism_api_role_parse(const char *name);

/** An API key from the configuration, already hashed (the clear key is never kept). */
struct prism_api_key {
	const char *name;		     /**< copied */
	char hash[PRISM_TOKEN_HASH_LEN + 1]; /**< prism_cred_hash() of the key */
	enum prism_api_role role;
};

struct prism_api_opts {
	/** server.host, server.api_port, database.path and the api section are read from here
	 *  at start (borrowed for the API's life). */
	const struct prism_config *cfg;
	const struct prism_api_key *keys;      /**< copied */
	const struct prism_cred_key *cred_key; /**< the registry's, keys and tokens are hashed
						*   with it (borrowed for the API's life) */
	size_t nkeys;
	struct prism_store_writer *writer;
	/** The store backend whose reads the API uses (a reader of its own on the loop
	 *  thread); NULL: SQLite. */
	const struct prism_store_api *store;
	/** PostgreSQL: the registry's URL (borrowed for the API's life); NULL for SQLite. */
	const char *store_url;
	struct prism_engine *engine;		       /**< NULL when DNS is disabled */
	struct prism_health *health;		       /**< target health checks; may be NULL */
	struct prism_agent_server *agent;	       /**< for metrics; may be NULL */
	struct prism_liveness *liveness;	       /**< for metrics; may be NULL */
	struct prism_ncr_server *ncr;		       /**< for metrics; may be NULL */
	struct prism_kea_pg *kea_pg;		       /**< for metrics; may be NULL */
	struct prism_kea_leases_src *kea_leases;       /**< for metrics; may be NULL */
	const struct prism_api_target_ops *target_ops; /**< run-time targets; NULL = refused */
	struct prism_ha *ha; /**< active-active instances (PostgreSQL); NULL = one instance */
};

struct prism_runtime_target;

/**
 * Targets added at run time (POST, PATCH and DELETE /api/v1/targets): the API checks the
 * request, keeps the target in the registry (with its audit entry), then the daemon starts
 * or stops it. Every call is on the loop.
 */
struct prism_api_target_ops {
	void *arg;
	/** Whether @p t can be started (URL, key or key file readable, zones configured,
	 *  dns_address). @return 0, or PRISM_EINVAL with @p err (answered 422) */
	int (*check)(void *arg, const struct prism_runtime_target *t, char *err, size_t len);
	/** Start @p t (copied): the engine, health checks and metrics take it, its zones are
	 *  recorded and it catches up. With @p replace the running one of that name is
	 *  removed first (PATCH). @return 0, or an error with @p err */
	int (*start)(void *arg, const struct prism_runtime_target *t, bool replace, char *err,
		     size_t len);
	/** Stop and forget @p name: nothing more is pushed, its ledger rows go, records on
	 *  the server stay. @return 0, PRISM_ENOTFOUND */
	int (*remove)(void *arg, const char *name);
	/** The run-time target @p name (borrowed until the next start or remove), or NULL. */
	const struct prism_runtime_target *(*find)(void *arg, const char *name);
	/** The group of a running target of either origin, NULL when none. */
	const char *(*group)(void *arg, const char *target);
};

/** Observe @p t's HTTP requests for the metrics (@p on) or stop (before it is removed). */
void prism_api_observe_target(struct prism_api *api, const struct prism_engine_target *t, bool on);

/**
 * Listen on every server.host address at server.api_port and serve.
 * @param[out] err one line naming the option at fault, e.g.
 *                 "server.api_port 8081: cannot listen on 127.0.0.1 (address already in use)"
 * @return 0, PRISM_ECONFIG (TLS files), -errno (listen), PRISM_ESTORE (registry), ENOMEM
 */
int prism_api_start(uv_loop_t *loop, const struct prism_api_opts *opts, struct prism_api **out,
		    char *err, size_t errlen);

/**
 * Stop: requests waiting for the store are answered 503, connections are closed, handles
 * closed; memory is freed from close callbacks and the last store job's completion, so the
 * loop must run afterwards. Call before stopping the engine, targets and writer. NULL ok.
 */
void prism_api_stop(struct prism_api *api);

/** The Kea reservation follower for the metrics, started or stopped as this instance
 *  gains or loses its claim (NULL: none). @p api NULL is ignored. */
void prism_api_set_kea_pg(struct prism_api *api, struct prism_kea_pg *k);

/** Replace the configured API keys (a reload). Keys are copied. @return 0 or PRISM_ENOMEM
 *  (the old keys stay). */
int prism_api_set_keys(struct prism_api *api, const struct prism_api_key *keys, size_t n);
