/* SPDX-License-Identifier: MIT */
/**
 * @file target.h
 * DNS targets: one const function table per kind of DNS server (PowerDNS HTTP API first).
 * Every operation runs on the libuv loop and never blocks; its result arrives through a
 * callback on the loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "core/rrset.h"

struct prism_target;

struct prism_target_opts {
	const char *name;      /**< target name for logs and metrics, e.g. "default" */
	const char *api_url;   /**< "http://127.0.0.1:8053/api/v1" (with or without trailing /) */
	const char *api_key;   /**< sent as X-API-Key */
	const char *server_id; /**< "localhost" */
	double timeout;	       /**< seconds for a whole request (0 or less: 10 s); the
				    connect phase gets at most min(timeout, 5 s) */
	const char *instance;  /**< names this Prism instance in ownership comments */
	/** Names the deployment (sync.owner_id) in every ownership mark (PowerDNS: the RRset
	 *  comment's account; rfc2136: the companion TXT records): an RRset is Prism's only
	 *  when its mark carries exactly this id. NULL = "prism" (the marks written before
	 *  owner ids existed). Instances of one deployment share it. */
	const char *owner_id;
	/* rfc2136 targets */
	const char *server;	    /**< "192.0.2.53:53" (IP:port; TCP) */
	const char *tsig_name;	    /**< TSIG key name; NULL = unsigned */
	const char *tsig_algorithm; /**< "hmac-sha256", … */
	const char *tsig_secret;    /**< base64 */
	/* gateway limits (0 = off) */
	unsigned retry_attempts;    /**< quick retries of a failed request (transport error
				     *   or HTTP 5xx), after 0.1 s, 0.2 s, ... */
	double rate_limit_qps;	    /**< most requests a second: a token bucket holding one
				     *   second's worth */
	unsigned breaker_threshold; /**< failures in a row that open the circuit breaker:
				     *   requests then fail at once until a probe succeeds */
	double breaker_recovery;    /**< seconds open before one probe request (half-open) */
};

/** A target's gateway limits (prism_target_opts) and their state now. */
struct prism_target_gateway {
	double rate_limit_qps; /**< 0: no limit */
	unsigned retry_attempts;
	unsigned breaker_threshold; /**< 0: no breaker */
	const char *breaker;	    /**< "closed", "open", "half-open" (static) */
	unsigned failures_in_row;   /**< requests failed in a row (no answer or 5xx) */
	double probe_in;	    /**< open: seconds until one probe may go; else 0 */
	size_t queued;		    /**< requests held by the gate (tokens, retry delays) */
};

/**
 * Completion of a target operation, called on the loop exactly once per accepted request,
 * never from inside the call that started it, never after close.
 * @param err 0; PRISM_EUPSTREAM (HTTP status not 2xx, see @p http_status and @p errmsg);
 *            PRISM_ETIMEOUT; -ECONNREFUSED or another -errno for transport failures.
 *            Targets that do not speak HTTP (@p http_status 0) tell the engine what an
 *            answer means with a project code instead: PRISM_EDENIED (not authorised, like
 *            401/403), PRISM_ECONFIG (the server refuses by its configuration: no retry
 *            storm), PRISM_EMSG (a bad RRset in the request, like 422: split and
 *            quarantine), PRISM_ECONFLICT (someone else holds a name: the RRset is a
 *            conflict), PRISM_ENOTFOUND (the zone is missing, like 404), PRISM_EUPSTREAM
 *            (a server failure: back off).
 * @param errmsg server's message or transport error text, "" on success; borrowed for the call
 */
typedef void (*prism_target_done_cb)(void *arg, int err, int http_status, const char *errmsg);

struct prism_actual_zone;

/** Completion of read_zone: on success @p zone holds the RRsets and the callee takes it
 *  (free with prism_actual_zone_free, then free()); NULL on error. */
typedef void (*prism_target_zone_cb)(void *arg, int err, int http_status, const char *errmsg,
				     struct prism_actual_zone *zone);

struct prism_zone_data;

/** Completion of read_zone_records: on success @p data holds every record and the callee
 *  takes it (free with prism_zone_data_free, then free()); NULL on error. */
typedef void (*prism_target_data_cb)(void *arg, int err, int http_status, const char *errmsg,
				     struct prism_zone_data *data);

struct prism_zone_list;

/** Completion of list_zones: on success @p list holds the server's zones and the callee
 *  takes it (free with prism_zone_list_free, then free()); NULL on error. */
typedef void (*prism_target_list_cb)(void *arg, int err, int http_status, const char *errmsg,
				     struct prism_zone_list *list);

/** Completion of a read whose answer is handed over as it came (borrowed for the call). */
typedef void (*prism_target_body_cb)(void *arg, int err, int http_status, const char *errmsg,
				     const char *body, size_t len);

/** One finished HTTP request of a target, for metrics. Every string is a bounded constant
 *  (never a URL or a zone name) except @c target, the configured target name. */
struct prism_target_event {
	const char *target;    /**< target name */
	const char *method;    /**< "GET", "POST", "PATCH" */
	const char *endpoint;  /**< "zone" (one zone), "zones" (the zone list) */
	int http_status;       /**< 0 when no HTTP answer arrived (refused, timeout, …) */
	double seconds;	       /**< from start to end of the request */
	const char *zone_op;   /**< "check" or "create" for zone operations, else NULL */
	unsigned replaced;     /**< PATCH: RRsets replaced */
	unsigned deleted;      /**< PATCH: RRsets deleted */
	const char *zone_read; /**< a successful zone read: "axfr" (the whole zone), "ixfr"
				*   (differences applied to the copy); else NULL */
};

/** Called on the loop after each HTTP request of a target; @p ev is borrowed for the call. */
typedef void (*prism_target_observer_cb)(void *arg, const struct prism_target_event *ev);

struct prism_target_api {
	const char *kind; /**< "powerdns", "rfc2136" */
	/** The target's writes are conditional on ownership by themselves (RFC 2136
	 *  prerequisites: the server refuses a write to a name it does not hold as Prism's,
	 *  answered PRISM_ECONFLICT), so the engine sends without a check of its own and
	 *  only holds back names its last read showed as foreign. false: the engine checks
	 *  with a fresh read before every write and deletion (PowerDNS's API has no
	 *  conditional writes). */
	bool conditional_writes;
	/** Create a target on @p loop. Options are copied. */
	int (*open)(uv_loop_t *loop, const struct prism_target_opts *opts,
		    struct prism_target **out);
	/** Start closing: pending requests are abandoned without callbacks, handles are closed
	 *  and memory freed from close callbacks, so the loop must run afterwards. NULL ok.
	 *  May be called from inside a completion callback of the same target. */
	void (*close)(struct prism_target *t);
	/** Ensure @p zone (trailing dot) exists; create it as Native with @p nameservers
	 *  (NULL-terminated) when missing. PowerDNS: GET (200 done; 404 or 422 missing), then
	 *  POST (201 created; 409 someone else created it: also success).
	 *  @return 0 accepted (@p cb will run), or a negative error and @p cb never runs */
	int (*ensure_zone)(struct prism_target *t, const char *zone,
			   const char *const *nameservers, const char *soa,
			   prism_target_done_cb cb, void *arg);
	/** Like ensure_zone, creating the zone of @p kind ("Native", "Master"; NULL = Native). */
	int (*ensure_zone_kind)(struct prism_target *t, const char *zone,
				const char *const *nameservers, const char *soa, const char *kind,
				prism_target_done_cb cb, void *arg);
	/** Create @p zone at once (one POST; no check first): the callback's status is 201
	 *  when it was created, 409 when it existed (both successes). For zones that are
	 *  usually missing (new zones, new targets): one request instead of two. */
	int (*create_zone)(struct prism_target *t, const char *zone,
			   const char *const *nameservers, const char *soa, const char *kind,
			   prism_target_done_cb cb, void *arg);
	/** Like create_zone, with @p n RRsets written into the new zone by the same request
	 *  (deletions have nothing to do there and are left out): 201 created with them, 409
	 *  it existed and nothing was written. A zone made this way needs no read before its
	 *  first write. NULL: the kind cannot (RFC 2136 servers do not create zones). */
	int (*create_zone_rrsets)(struct prism_target *t, const char *zone,
				  const char *const *nameservers, const char *soa,
				  const char *kind, const struct prism_rr_change *changes,
				  size_t n, prism_target_done_cb cb, void *arg);
	/** Delete @p zone and all its data from the server. A zone already missing is a
	 *  success (PowerDNS: 204, or 404/422 for a missing zone).
	 *  @return 0 accepted (@p cb will run), or a negative error and @p cb never runs */
	int (*delete_zone)(struct prism_target *t, const char *zone, prism_target_done_cb cb,
			   void *arg);
	/** Apply changes to one zone in one request (one PATCH). The changes are copied.
	 *  Keep one write in flight per target for PowerDNS with gsqlite3: concurrent PATCHes
	 *  (even to different zones) can fail with 500 "database is locked".
	 *  @return 0 accepted (@p cb will run), or a negative error and @p cb never runs */
	int (*apply)(struct prism_target *t, const char *zone,
		     const struct prism_rr_change *changes, size_t n, prism_target_done_cb cb,
		     void *arg);
	/** Read every RRset of @p zone with its ownership (reconciler, conflict checks). */
	int (*read_zone)(struct prism_target *t, const char *zone, prism_target_zone_cb cb,
			 void *arg);
	/** Read every record of @p zone with its content (an import). */
	int (*read_zone_records)(struct prism_target *t, const char *zone, prism_target_data_cb cb,
				 void *arg);
	/** Sign @p zone (DNSSEC on: keys created by the server, rectified) or remove its keys
	 *  (off), then flush it from the server's caches. */
	int (*set_dnssec)(struct prism_target *t, const char *zone, bool on,
			  prism_target_done_cb cb, void *arg);
	/** The zone's DNSSEC keys as the server's JSON (PowerDNS: its cryptokeys, with DS). */
	int (*read_keys)(struct prism_target *t, const char *zone, prism_target_body_cb cb,
			 void *arg);
	/** GET <server URL><@p suffix> ("" = the server itself, "/statistics"), the answer
	 *  handed over as it came (health checks). */
	int (*server_get)(struct prism_target *t, const char *suffix, prism_target_body_cb cb,
			  void *arg);
	/** Make an existing @p zone of @p kind ("Native", "Master"). NULL: not supported. */
	int (*set_kind)(struct prism_target *t, const char *zone, const char *kind,
			prism_target_done_cb cb, void *arg);
	/** Send NOTIFY for @p zone to its secondaries (a Master zone changed). */
	int (*notify)(struct prism_target *t, const char *zone, prism_target_done_cb cb,
		      void *arg);
	/** List every zone of the server with its SOA serial (the cluster view). */
	int (*list_zones)(struct prism_target *t, prism_target_list_cb cb, void *arg);
	/** Set the observer told about every finished HTTP request (metrics), or clear it with
	 *  a NULL @p cb. One observer per target; @p arg is borrowed until cleared. */
	void (*observe)(struct prism_target *t, prism_target_observer_cb cb, void *arg);
	/** Use @p api_key from the next request on (a key rotated by SIGHUP); requests in flight
	 *  finish with the old one. @p changed: it differs from the key in use. May be NULL
	 *  for a kind whose credentials are not reloadable. @return 0, PRISM_EINVAL (a line
	 *  break in the key), PRISM_ENOMEM */
	int (*set_api_key)(struct prism_target *t, const char *api_key, bool *changed);
	/** The gateway limits and their state now (GET /api/v1/targets). NULL: none. */
	void (*gateway)(const struct prism_target *t, struct prism_target_gateway *out);
};

/** The PowerDNS HTTP API backend (libcurl multi-socket on the loop). */
extern const struct prism_target_api prism_target_powerdns;

/** RFC 2136 dynamic updates signed with TSIG, AXFR reads (BIND, Knot DNS, …; uv_tcp). */
extern const struct prism_target_api prism_target_rfc2136;

/** The backend of @p kind ("powerdns", "rfc2136"); NULL when unknown. */
const struct prism_target_api *prism_target_find(const char *kind);
