/* SPDX-License-Identifier: MIT */
/*
 * Private to src/api: the server (api.c) and the routes (routes.c) share these types.
 */
#pragma once

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/api.h"
#include "core/jw.h"
#include "core/metrics.h"
#include "store/store.h"

#define API_MAX_PARAMS	 3
#define API_ACTOR_MAX	 128
#define API_READ_THREADS 4 /* with blocking reads: threads, each with a reader */

struct api_req;

/** Who may call a route. HEALTH and METRICS are public or READ by configuration. */
enum api_access {
	ACCESS_READ = PRISM_API_ROLE_READ,
	ACCESS_WRITE = PRISM_API_ROLE_WRITE,
	ACCESS_ADMIN = PRISM_API_ROLE_ADMIN,
	ACCESS_HEALTH,
	ACCESS_METRICS,
};

struct api_route {
	const char *method;
	const char *path; /**< template: "/api/v1/hosts/{id}"; also the metric label */
	enum api_access access;
	bool body; /**< takes a JSON body (POST) */
	void (*fn)(struct api_req *r);
	bool async; /**< a read answered later (waits for the engine or a
		     *   target): heap context like a write */
	/** Reads only the store and the request (no engine, target or metric): when the
	 *  store's reads block, the whole handler runs on a read thread (api_pool.c). */
	bool worker;
	/** Answers from the cached counts (api_refresh_counts, api_refresh_ledger): with
	 *  read threads it waits for a refresh when they are older than a second. */
	bool counts;
};

extern const struct api_route api_routes[];
extern const size_t api_nroutes;

struct listener;

/** Work for a read thread (api_pool.c): @c work there, then @c done on the loop
 *  (@c cancelled: the API stopped before it ran; work did not run). */
struct api_task {
	void (*work)(struct api_task *t);
	void (*done)(struct api_task *t);
	struct api_task *next;
	bool cancelled;
};

/** A store job started by a request. Outlives the request if the client goes away. */
struct api_job {
	struct prism_store_job job; /* first: the writer hands this pointer back */
	struct prism_api *api;
	struct api_req *req; /* NULL once the request is gone */
	/* set up by the route before submit, read by run on the writer thread */
	int (*run)(struct prism_store *s, const struct prism_store_api *st, struct api_job *j);
	/* on the loop after commit; writes the response (req is attached) */
	void (*done)(struct api_req *r, struct api_job *j, int err);
	int64_t now;
	int64_t id;
	char actor[API_ACTOR_MAX];
	char name[256];
	char text[256]; /* route specific (role, target, …) */
	char hash[PRISM_TOKEN_HASH_LEN + 1];
	int64_t when; /* route specific (expires_at) */
	size_t count;
	bool flag;
	struct prism_host_brief brief;
	const void *data; /* route specific, valid during done (the plan) */
	/* frees what the route hung on the job (data), whether or not done ran: NULL = none */
	void (*cleanup)(struct api_job *j);
};

struct api_req {
	struct prism_api *api;
	struct listener *l;
	struct MHD_Connection *conn;
	const struct api_route *route;
	const char *params[API_MAX_PARAMS];
	char pathbuf[512]; /* the URL's segments, NUL-separated, for params */
	enum prism_api_role role;
	char actor[API_ACTOR_MAX]; /* the key's name, for the audit log */
	uint64_t started;	   /* uv_hrtime() */
	bool heap;		   /* allocated: has a body or waits for the store */
	char *body;
	size_t body_len, body_cap;
	bool too_big;
	json_t *json;	     /* parsed body (object) */
	struct api_job *job; /* in flight */
	bool suspended;
	const char *allow;	   /* 405: the Allow header */
	bool answered;		   /* a response was queued */
	struct MHD_Response *resp; /* ready after the job */
	unsigned status;
	struct api_req *prev, *next; /* suspended requests, for stop */
	/* on a read thread (api_pool.c) */
	struct api_task task;
	bool via_read;		  /* a read from read_call: answered once back on the loop */
	bool run_fn;		  /* the thread runs the handler (api_route.worker) */
	struct api_job *deferred; /* made on the thread: submitted on the loop */
	bool in_task;		  /* a read thread has it: nothing else resumes it */
	struct api_job *offload;  /* api_answer_off_loop: the job whose answer is written */
	void (*offload_fn)(struct api_req *r, struct api_job *j);
	bool auth_pending; /* the thread decides the role */
	bool ask_store;	   /* ... looking the key up in the registry */
	bool authorised;
	bool presented, unreadable, config_keys;
	bool uncounted;		   /* answered on a thread: counted on the loop */
	struct api_req *wait_next; /* api->count_waiters */
	char hash[PRISM_TOKEN_HASH_LEN + 1];
};

struct api_ledger_counts {
	char target[64];
	int64_t n[4];		/* pending, synced, failed, conflict */
	int64_t oldest_pending; /* unix seconds, 0 = none */
};

#define API_MAX_TARGETS 64
extern const char *const api_sync_states[4];
/** A host's dns_sync_status values: "pending", "synced", "failed", "disabled". */
extern const char *const api_host_sync_states[4];

struct prism_api {
	uv_loop_t *loop;
	struct prism_api_opts opts;
	const struct prism_config *cfg;
	struct listener *listeners;
	size_t nlisteners;
	struct prism_api_key *keys;
	size_t nkeys;
	pthread_rwlock_t keys_lock; /* taken on the loop to change them, on a thread to read */
	bool have_db_keys;	    /* the registry held API keys at the last check */
	uint64_t db_keys_checked;   /* uv_now() of that check */
	const struct prism_store_read_api *rd; /* the store's reads, on this loop thread */
	struct prism_store_reader *reader;
	struct api_pool *pool; /* reads off the loop (blocking reads), NULL: inline */
	struct jw jw;	       /* response text, reused */
	unsigned refs;
	bool stopping;
	unsigned long long heads_late; /* connections closed for a late request head */
	unsigned targets_creating;     /* POST /api/v1/targets jobs in flight (the 64 limit) */
	struct api_req *suspended;
	void *imports;	    /* routes_zones.c: imports waiting for a target's answer */
	int64_t started_at; /* unix seconds */
	/* cached counts, refreshed at most once a second */
	uint64_t counts_at;
	int64_t online, offline, last_seen;
	int64_t sync_hosts[4]; /* hosts by dns_sync_status, api_host_sync_states order */
	uint64_t ledger_at;
	struct api_ledger_counts ledger[API_MAX_TARGETS];
	size_t nledger;
	bool counts_ok, ledger_ok;     /* with a pool: the last refresh (off the loop) read */
	bool refreshing;	       /* with a pool: a refresh is on a read thread */
	struct api_req *count_waiters; /* requests waiting for that refresh */
	/* registry health: the writer's failed batches as last seen and when they grew */
	unsigned long long failed_batches;
	uint64_t failed_at;
	/* metrics */
	struct prism_metrics *metrics;
	struct prism_metric *m_api_requests, *m_api_duration;
	struct prism_metric *m_pdns_requests, *m_pdns_duration, *m_pdns_records, *m_pdns_zones;
	struct prism_metric *m_zone_reads;
	char *metrics_buf;
	size_t metrics_len, metrics_cap;
};

/* ---- api_pool.c: reads off the loop ---- */

/** Start @p n read threads, each with a reader of its own opened with @p o. */
int api_pool_start(struct prism_api *api, size_t n, const struct prism_store_opts *o, char *err,
		   size_t errlen);
/** Stop them (a read in progress ends first); tasks not run get done with cancelled. */
void api_pool_stop(struct prism_api *api);
/** Run @p t on a read thread, then its done on the loop. */
void api_pool_submit(struct prism_api *api, struct api_task *t);
/** Run @p fn on the loop: at once on the loop; from a read thread, it waits for the loop
 *  to have run it (for what the loop owns: the engine, the targets). @return 0,
 *  -ECANCELED (the API stops: @p fn did not run) */
int api_loop_call(struct prism_api *api, void (*fn)(void *arg), void *arg);
/** Whether the caller is a read thread. */
bool api_on_worker(void);
/** The caller's JSON writer and reader: the read thread's own, or the loop's. */
struct jw *api_jw(struct prism_api *api);
struct prism_store_reader *api_reader(struct prism_api *api);
/** With read threads: whether the cached counts are older than a second. */
bool api_counts_stale(struct prism_api *api);
/** Refresh them on a read thread; @p r (NULL: none) waits for it, suspended, then its
 *  handler runs on the loop. */
void api_counts_wait(struct prism_api *api, struct api_req *r);
/** Run the handler of a request that waited on the loop, and send its answer (api.c). */
void api_req_continue(struct api_req *r);
/** Drop a reference to the API (api.c). */
void api_unref(struct prism_api *api);
/** The cached ledger counts of @p target, NULL when none. */
const struct api_ledger_counts *api_ledger_of(struct prism_api *api, const char *target);

/* ---- api.c: responses and jobs ---- */

/** Answer with the JSON text in api->jw. */
void api_reply(struct api_req *r, unsigned status);
/** Answer {"error": {"code", "message"}}. */
void api_error(struct api_req *r, unsigned status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/** Answer with @p resp (takes it; NULL: out of memory, nothing is answered). */
void api_reply_response(struct api_req *r, unsigned status, struct MHD_Response *resp);
/** Answer with a text body of @p type (copied). */
void api_reply_text(struct api_req *r, unsigned status, const char *type, const char *text,
		    size_t len);
/**
 * From a job's run (the writer thread): the audit entry of @p j's change, by @p j's actor at
 * @p j's time, in the job's transaction. @p before and @p after are JSON or NULL.
 * @return what audit_add returns (0, PRISM_ESTORE)
 */
int api_audit(struct prism_store *s, const struct prism_store_api *st, const struct api_job *j,
	      const char *action, const char *object, const char *before, const char *after);
/** New job for @p r; route fills it then calls api_submit. NULL on out of memory (answered). */
struct api_job *api_job_new(struct api_req *r);
/** Hand the job to the writer; the request waits (suspended) for its done. */
void api_submit(struct api_req *r, struct api_job *j);

/** Finish a job that waited for something other than the store writer (the engine):
 *  answers through j->done when the request is still there, frees @p j. */
void api_job_complete(struct api_job *j, int err);

/** Attach @p j to @p r as if submitted, without the store writer: the caller completes
 *  it later with api_job_complete. */
void api_job_attach(struct api_req *r, struct api_job *j);
/** Hand an attached job (api_job_attach) to the store writer after all: its run and done
 *  follow as for api_submit, without another reference. */
void api_job_resubmit(struct api_job *j);
/** From a job's done: write the answer with @p fn, which reads the store — on a read
 *  thread when the reads block (the job ends there), else at once. */
void api_answer_off_loop(struct api_req *r, struct api_job *j,
			 void (*fn)(struct api_req *r, struct api_job *j));
/** A query argument, or NULL. */
const char *api_arg(struct api_req *r, const char *name);

/** Answer 503: the registry could not be read (the reader's reason). */
void api_db_failed(struct api_req *r);
/** Refresh the cached host counts when older than a second. 0 or PRISM_ESTORE. */
int api_refresh_counts(struct prism_api *api);
/** Refresh the cached ledger counts per target. */
int api_refresh_ledger(struct prism_api *api);
/** Collect every metric and format them into api->metrics_buf. */
int api_metrics_collect(struct prism_api *api);
/** routes_zones.c: end the imports still waiting for a target (the API stops). */
void api_zones_stop(struct prism_api *api);
/** Whether any API key exists (config or registry). */
bool api_any_key(struct prism_api *api);
