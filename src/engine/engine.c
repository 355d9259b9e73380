/* SPDX-License-Identifier: MIT */
/*
 * Sync engine: one worker per target, each a small state machine driven by its timer.
 *
 *   idle ──wake/timer──► (zones not ensured) ensure_zone ──► fetch due rows (store job)
 *        ──► one apply per zone group ──► mark results (store job) ──► idle, or next round
 *
 * At most one round per target is in flight, so at most one write per (target, zone).
 * A 422 on a group of several RRsets splits the group in halves to find the bad one;
 * the rest are pushed. Transport errors and 5xx back the whole target off.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "core/config.h"
#include "core/dname.h"
#include "core/dnsprobe.h"
#include "core/dnsupdate.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/pdns_json.h"
#include "core/strset.h"
#include "core/strv.h"
#include "engine/engine.h"
#include "engine/udp.h"
#include "engine/xfr.h"

#define TAG "engine"
/* A conflict found when pushing: read the zone again this soon, once, so a conflict whose
 * RRset went away meanwhile (or a read torn by a write racing it) does not wait for the
 * next reconcile pass. */
#define CONFLICT_RECHECK_MS 2000u
#define CONFLICT_MSG                                                                              \
	"a foreign RRset (not owned by prism) is at this name; set adopt to take it over"

struct worker;

/* One group of rows of one zone sent in one request. */
struct group {
	size_t lo, hi; /* row range */
	bool create;   /* the zone is created with these rows (send_create) */
	struct group *next;
};

struct round;

/* One request the target still owes an answer for. */
struct apply_ctx {
	struct round *r;
	size_t lo, hi;
	int64_t started; /* unix ms when the request was sent */
	struct apply_ctx *next;
};

struct round {
	struct prism_store_job job;	  /* fetch, then mark */
	struct apply_ctx *inflight;	  /* requests the target still owes an answer */
	struct group *queue, *queue_tail; /* zone groups not yet sent */
	struct worker *w;
	struct prism_ledger_row *rows;
	size_t nrows;
	int64_t next_due;
	struct prism_ledger_mark *marks; /* one per row */
	char **errors;			 /* owned error texts, one per row */
	unsigned outstanding;		 /* apply requests in flight */
	bool transport_failed;		 /* a failure that backs the target off */
	bool unauthorised;
	int64_t fail_at;		   /* next_attempt for failed rows */
	uint64_t t_fetch, t_apply, t_mark; /* uv_hrtime() at each phase's start, for debug */
	uint64_t *exclude;		   /* prefetch: fingerprints of the rows being pushed */
	size_t nexclude;
	size_t nmark;	    /* rows recorded: the rest wait for a check */
	unsigned char *cls; /* row classes while a DNS check runs */
	bool *unsent;	    /* rows of groups dropped by a pause: not recorded (NULL: none) */
	/* a prefetched round checked while the one before it is pushed (check_early): per row,
	 * EARLY_* (NULL: not checked early) */
	unsigned char *early;
	bool checking_early; /* that check runs */
	bool apply_pending;  /* and the round is to be applied when it ends */
};

enum { EARLY_NONE, EARLY_ABSENT, EARLY_PRESENT };

/*
 * W_WAITNEXT: a push ended and the next batch, prefetched while it ran, is still being
 * read from the registry. Recording results never blocks the worker: the writer runs the
 * record job before any later fetch (its queue is FIFO), so a fetch always sees them.
 */
enum wstate {
	W_IDLE,
	W_ENSURING,
	W_READING,
	W_RECONCILING,
	W_FETCHING,
	W_CHECKING,
	W_APPLYING,
	W_WAITNEXT,
	W_ZONES,
	W_DELETING
};

/* The FNV-1a hash of "a b" (rows are fingerprinted by it). */
static uint64_t fnv(const char *a, const char *b)
{
	uint64_t h = prism_fnv1a_str(PRISM_FNV64_OFFSET, a);
	return prism_fnv1a_str(prism_fnv1a(h, " ", 1), b);
}

/* The set of "name type" of the RRsets of @p z that are Prism's (@p owned) or not. */
static int strset_build(struct prism_strset *ss, const struct prism_actual_zone *z, bool owned)
{
	prism_strset_clear(ss);
	for (size_t i = 0; i < z->n; i++) {
		if (z->v[i].owned != owned)
			continue;
		int rc = prism_strset_add_joined(ss, z->v[i].name, ' ', z->v[i].type);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Reconciler state of one zone at one target. */
struct zstate {
	bool read;	     /* read at least once */
	bool force;	     /* reconcile at the next chance */
	uint64_t last_read;  /* loop ms */
	uint64_t recheck_at; /* loop ms: read again then to confirm conflicts; 0 = no need */
	/* The ownership check (see check_row): the zone as its last read saw it, and when that
	 * read started. It stands for a fresh read of every row due a second before it started,
	 * while it is young (fresh_ms); other rows need a check of their own. */
	struct prism_strset foreign, owned; /* "name type" */
	int64_t read_at;		    /* unix ms when the read began; 0 = no usable read */
	uint64_t read_took;		    /* ms the read and its comparison took */
	int64_t read_after; /* forced read wanted, not before this unix ms (rows due within
			     * the second of the last read need a read in the next second) */
	bool check_read;    /* force comes from the check: a failed read drops it, so the
			     * rows waiting are fetched and shown as failed meanwhile */
};

/*
 * A zone a worker serves: from the configuration (t.zones, for the engine's life) or from
 * the registry (zones created through the API, loaded by a store job whenever they change).
 * Reference counted: the worker's list holds one, and so does every job or request that
 * points at it, so a zone dropped from the list meanwhile stays valid for them.
 */
struct wzone {
	char *name;
	char **nameservers; /* NULL-terminated */
	char *soa;
	char *kind;		/* NULL: Native */
	bool adopt;		/* take over foreign RRsets (an imported zone) */
	bool dnssec;		/* to be signed (registry zones) */
	bool dnssec_done;	/* signed or unsigned as wanted, in this session */
	bool master;		/* kind Master: NOTIFY after changes */
	bool kind_done;		/* a config zone of kind Master: made Master if it was not */
	bool config;		/* from the configuration: never dropped */
	bool ok;		/* checked (and created if missing) on the target */
	bool lazy;		/* not checked yet: created by the first push of its rows, with
				 * them in one request (send_create), or alone by a check once a
				 * round shows it has none due (lazy_settle) */
	bool seen;		/* lazy_settle: a row of the round is in it */
	uint64_t missing_until; /* loop ms: the target said it does not have the zone (and
				   cannot create it): the other zones go on until then */
	size_t est;    /* RRsets the target holds, estimated (once zs.read): the last read's
			* count, plus the new RRsets written since, minus the deletions */
	size_t ncheck; /* xfr_choose: rows of the zone in the check being started */
	struct zstate zs;
	unsigned refs;
};

/* The DNS side of the ownership check (check_dns_start). */
struct dnscheck {
	uv_udp_t udp;
	uv_timer_t timer;
	bool open;   /* udp and timer initialised (closed at stop) */
	bool broken; /* the socket could not be opened: zone reads only */
	struct sockaddr_storage addr;
	struct round *r;      /* the round waiting for answers; NULL when idle */
	size_t *rows;	      /* the round's row of each query */
	unsigned char *state; /* DQ_* per query */
	size_t nq, waiting;   /* queries, answers still awaited for those sent */
	size_t next;	      /* the next query to send */
	unsigned retries;     /* times the queries unanswered at a timeout were sent again */
	enum { DISC_NONE, DISC_ASKING, DISC_DONE } disc; /* finding the DNS port by the API */
	uint64_t disc_after;	/* loop ms: not asked again before (the last ask failed) */
	char found[64];		/* "IP:port" found that way, when dns_address is not set */
	uint16_t qbase;		/* message id of query 0 */
	size_t nsend;		/* queries [0, nsend) go out; [nsend, nq) wait for xfr */
	struct prism_xfr *xfr;	/* the presence read of one zone for them, or NULL */
	struct wzone *xfr_zone; /* its zone (a reference) */
	uint64_t xfr_until;	/* loop ms: a transfer failed or was refused; none before */
	uint8_t rbuf[4096];
};

struct worker {
	struct prism_engine *e;
	struct prism_engine_target t;
	uv_timer_t timer;
	enum wstate state;
	bool zone_ready;      /* every zone checked */
	struct wzone **zones; /* the zones this target serves */
	size_t nzones, zcap;
	uint32_t *zidx;		/* zones by name: open addressing, index + 1 (0: free) */
	size_t zmask;		/* zidx has zmask + 1 slots; NULL zidx: linear search */
	struct wzone *reading;	/* being read/reconciled (a reference) */
	struct wzone *ensuring; /* being checked/created (a reference) */
	int64_t op_started;	/* unix ms when the read or zone check in flight began */
	char **dels;		/* registry zones to delete from the target */
	size_t ndels;
	bool zones_dirty;   /* the registry's zones changed: load them again */
	bool wanted;	    /* woken while busy: run again after this round */
	unsigned failures;  /* consecutive target-level failures */
	bool paused;	    /* maintenance: send nothing */
	bool push_first;    /* takes the target over from another instance: the rows due go
			     * out before the zones are read (their checks ask DNS), so a
			     * failover is not held up by reading every zone */
	bool removed;	    /* removed at run time: send nothing, record nothing */
	bool unauthorised;  /* the last failure was 401/403 */
	bool misconfigured; /* the last failure was the server's configuration refusing */
	unsigned long long requests, request_failures, rrsets_applied, rrsets_failed;
	int64_t last_success;	/* unix seconds */
	uint64_t backoff_until; /* loop time, ms */
	struct round *round;	/* being pushed */
	struct round *next;	/* prefetched while round was pushed, ready */
	bool prefetching;	/* a prefetch job is in the writer */
	struct dnscheck dns;
};

struct prism_engine {
	uv_loop_t *loop;
	struct prism_store_writer *writer;
	struct prism_engine_opts opts;
	struct worker **workers; /* each allocated alone: handles and jobs point at them */
	size_t nworkers, wcap;
	struct worker **removed; /* removed at run time: freed at the end (jobs may hold them) */
	size_t nremoved;
	unsigned refs; /* timers not yet closed + store jobs in flight + 1 while running */
	struct plan_step *plan_reads; /* plan steps waiting for a target's answer */
	bool stopping;
};

static void worker_run(struct worker *w);

static bool may_work(const struct worker *w)
{
	const struct prism_engine_opts *o = &w->e->opts;
	return o->may_work == NULL || o->may_work(o->may_work_arg, w->t.name);
}

static struct worker *find_worker(struct prism_engine *e, const char *target);

/* The worker of @p target, NULL when none (or @p e or @p target is NULL). */
static struct worker *worker_named(const struct prism_engine *e, const char *target)
{
	for (size_t i = 0; e != NULL && target != NULL && i < e->nworkers; i++)
		if (strcmp(e->workers[i]->t.name, target) == 0)
			return e->workers[i];
	return NULL;
}

static void wzone_unref(struct wzone *z)
{
	if (z == NULL || --z->refs > 0)
		return;
	free(z->name);
	prism_strv_free(z->nameservers);
	free(z->soa);
	free(z->kind);
	prism_strset_clear(&z->zs.foreign);
	prism_strset_clear(&z->zs.owned);
	free(z);
}

static struct wzone *wzone_ref(struct wzone *z)
{
	z->refs++;
	return z;
}

static struct wzone *wzone_new(const char *name, const char *const *ns, const char *soa,
			       const char *kind, bool adopt, bool config)
{
	struct wzone *z = calloc(1, sizeof(*z));
	if (z == NULL)
		return NULL;
	z->refs = 1;
	z->name = strdup(name);
	z->nameservers = prism_strv_dup(ns);
	z->soa = soa ? strdup(soa) : NULL;
	z->kind = kind ? strdup(kind) : NULL;
	z->adopt = adopt;
	z->config = config;
	z->master = kind != NULL && strcmp(kind, "Master") == 0;
	z->dnssec_done = true;
	z->kind_done = true;
	if (z->name == NULL || z->nameservers == NULL || (soa && !z->soa) || (kind && !z->kind)) {
		wzone_unref(z);
		return NULL;
	}
	return z;
}

static void zindex_put(struct worker *w, size_t z)
{
	size_t i = (size_t)prism_fnv1a_str(PRISM_FNV64_OFFSET, w->zones[z]->name) & w->zmask;
	while (w->zidx[i] != 0)
		i = (i + 1) & w->zmask;
	w->zidx[i] = (uint32_t)(z + 1);
}

/* Index the zones by name (a round looks up each row's zone): at most half full. Without
 * memory for it, lookups go through the list. */
static void zindex_build(struct worker *w)
{
	free(w->zidx);
	w->zidx = NULL;
	size_t cap = 16;
	while (cap < w->nzones * 2)
		cap *= 2;
	if (w->nzones >= UINT32_MAX || (w->zidx = calloc(cap, sizeof(*w->zidx))) == NULL)
		return;
	w->zmask = cap - 1;
	for (size_t z = 0; z < w->nzones; z++)
		zindex_put(w, z);
}

static int worker_add_zone(struct worker *w, struct wzone *z)
{
	if (w->nzones == w->zcap) {
		size_t cap = w->zcap ? w->zcap * 2 : 8;
		struct wzone **v = realloc(w->zones, cap * sizeof(*v));
		if (v == NULL)
			return PRISM_ENOMEM;
		w->zones = v;
		w->zcap = cap;
	}
	w->zones[w->nzones++] = z;
	if (w->zidx != NULL && w->nzones * 2 <= w->zmask + 1)
		zindex_put(w, w->nzones - 1);
	else
		zindex_build(w);
	return 0;
}

static struct wzone *find_zone(const struct worker *w, const char *name)
{
	if (w->zidx != NULL) {
		size_t i = (size_t)prism_fnv1a_str(PRISM_FNV64_OFFSET, name) & w->zmask;
		for (; w->zidx[i] != 0; i = (i + 1) & w->zmask)
			if (strcmp(w->zones[w->zidx[i] - 1]->name, name) == 0)
				return w->zones[w->zidx[i] - 1];
		return NULL;
	}
	for (size_t z = 0; z < w->nzones; z++)
		if (strcmp(w->zones[z]->name, name) == 0)
			return w->zones[z];
	return NULL;
}

static void dels_free(struct worker *w)
{
	for (size_t i = 0; i < w->ndels; i++)
		free(w->dels[i]);
	free(w->dels);
	w->dels = NULL;
	w->ndels = 0;
}

static void worker_zones_free(struct worker *w)
{
	for (size_t z = 0; z < w->nzones; z++)
		wzone_unref(w->zones[z]);
	free(w->zones);
	free(w->zidx);
	w->zones = NULL;
	w->zidx = NULL;
	w->nzones = 0;
	wzone_unref(w->reading);
	wzone_unref(w->ensuring);
	w->reading = w->ensuring = NULL;
	dels_free(w);
}

static void engine_unref(struct prism_engine *e)
{
	if (--e->refs > 0)
		return;
	for (size_t i = 0; i < e->nworkers; i++) {
		worker_zones_free(e->workers[i]);
		free(e->workers[i]);
	}
	for (size_t i = 0; i < e->nremoved; i++) {
		worker_zones_free(e->removed[i]);
		free(e->removed[i]);
	}
	free(e->workers);
	free(e->removed);
	free(e);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void round_free(struct round *r)
{
	if (r == NULL)
		return;
	while (r->inflight != NULL) {
		struct apply_ctx *c = r->inflight;
		r->inflight = c->next;
		free(c);
	}
	while (r->queue != NULL) {
		struct group *g = r->queue;
		r->queue = g->next;
		free(g);
	}
	if (r->errors != NULL)
		for (size_t i = 0; i < r->nrows; i++)
			free(r->errors[i]);
	free(r->errors);
	free(r->marks);
	free(r->exclude);
	free(r->cls);
	free(r->unsent);
	free(r->early);
	prism_ledger_rows_free(r->rows, r->nrows);
	free(r);
}

/* Exponential backoff with equal jitter: half fixed, half random (arc4random: glibc 2.36
 * seeds it itself, so instances started together do not retry in step). */
static uint64_t backoff_ms(const struct prism_engine *e, unsigned failures)
{
	double d = e->opts.retry_delay;
	for (unsigned i = 1; i < failures && d < e->opts.retry_max; i++)
		d *= 2;
	if (d > e->opts.retry_max)
		d = e->opts.retry_max;
	double ms = d * 1000.0;
	return (uint64_t)(ms / 2 + (ms / 2) * ((double)arc4random() / UINT32_MAX));
}

static void timer_cb(uv_timer_t *t)
{
	worker_run(t->data);
}

static void schedule(struct worker *w, uint64_t delay_ms)
{
	if (w->e->stopping)
		return;
	uint64_t due = uv_now(w->e->loop) + delay_ms;
	if (due < w->backoff_until)
		due = w->backoff_until;
	uv_timer_start(&w->timer, timer_cb, due - uv_now(w->e->loop), 0);
}

/* "HTTP 422: <server's message>" or "<error>: <transport message>", for logs and rows. */
static void describe(char *buf, size_t len, int err, int status, const char *msg)
{
	if (status)
		snprintf(buf, len, "HTTP %d: %s", status, msg);
	else
		snprintf(buf, len, "%s%s%s", prism_strerror(err), msg[0] ? ": " : "", msg);
}

/* The server refused the credentials (HTTP 401/403, or a DNS target's NOTAUTH/BADSIG). */
static bool is_unauthorised(int err, int status)
{
	return status == 401 || status == 403 || (status == 0 && err == PRISM_EDENIED);
}

/* The server refuses by its configuration (a DNS target's REFUSED or NOTZONE). */
static bool is_misconfigured(int err, int status)
{
	return status == 0 && err == PRISM_ECONFIG;
}

static void target_failed(struct worker *w, const char *what, int err, int status, const char *msg)
{
	w->failures++;
	uint64_t delay = backoff_ms(w->e, w->failures);
	w->unauthorised = is_unauthorised(err, status);
	w->misconfigured = is_misconfigured(err, status);
	/* retrying sooner would not help: wait the longest step (no retry storm) */
	if (w->unauthorised || w->misconfigured)
		delay = (uint64_t)(w->e->opts.retry_max * 1000);
	w->backoff_until = uv_now(w->e->loop) + delay;
	prism_log(w->failures == 1 ? PRISM_LOG_WARNING : PRISM_LOG_DEBUG, TAG,
		  "target %s: %s failed (%s), retry in %.1f s (failure %u)", w->t.name, what, msg,
		  delay / 1000.0, w->failures);
}

static void target_ok(struct worker *w)
{
	if (w->failures > 0)
		prism_log(PRISM_LOG_INFO, TAG, "target %s: reachable again after %u failure(s)",
			  w->t.name, w->failures);
	w->failures = 0;
	w->unauthorised = false;
	w->misconfigured = false;
	w->backoff_until = 0;
}

/* Milliseconds until a zone of @p w is due for reconciliation; UINT64_MAX when never. */
static uint64_t reconcile_due_in(const struct worker *w)
{
	uint64_t ival = (uint64_t)w->e->opts.reconcile_interval * 1000, best = UINT64_MAX;
	uint64_t now = uv_now(w->e->loop);
	for (size_t z = 0; z < w->nzones; z++) {
		const struct zstate *zs = &w->zones[z]->zs;
		if (!w->zones[z]->ok) {
			/* a zone reported missing: its next check */
			uint64_t at = w->zones[z]->missing_until;
			uint64_t in = at > now ? at - now : 0;
			if (in < best)
				best = in;
			continue;
		}
		if (zs->force && zs->read && zs->read_after > now_ms()) {
			uint64_t in = (uint64_t)(zs->read_after - now_ms());
			if (in < best)
				best = in;
			continue;
		}
		if (!zs->read || zs->force)
			return 0;
		if (zs->recheck_at != 0) {
			uint64_t in = zs->recheck_at > now ? zs->recheck_at - now : 0;
			if (in < best)
				best = in;
		}
		if (ival == 0)
			continue;
		uint64_t due = zs->last_read + ival;
		uint64_t in = due > now ? due - now : 0;
		if (in < best)
			best = in;
	}
	return best;
}

/* Nothing more to push right now: go idle until a wake-up, a retry or a reconcile. */
static void go_idle(struct worker *w, bool more, int64_t next_due)
{
	w->state = W_IDLE;
	if (!more)
		w->push_first = false; /* the backlog is out (or failing): the zones' reads now */
	if (w->e->stopping)
		return;
	if (w->failures > 0 || w->backoff_until > uv_now(w->e->loop)) {
		/* the backoff decides when; a failed ledger read (the registry switching over)
		 * is tried again too: the rows it missed are due, and wakes in the backoff are
		 * not kept */
		schedule(w, 0);
	} else if (more || w->wanted) {
		w->wanted = false;
		schedule(w, 0);
	} else {
		uint64_t delay = UINT64_MAX;
		if (next_due > 0) {
			int64_t d = next_due - now_ms();
			delay = d > 0 ? (uint64_t)d : 0;
		}
		uint64_t rec = reconcile_due_in(w);
		if (rec < delay)
			delay = rec;
		if (delay != UINT64_MAX)
			schedule(w, delay);
	}
}

static void apply_rows(struct worker *w, struct round *r);
static void send_notify(struct worker *w, const char *zone);
static void prefetch(struct worker *w, const struct round *r);

/* A zone is to be read (the ownership check asked for it, or a reconcile pass): rounds
 * prefetched meanwhile would keep the worker from ever getting to it. */
static bool read_wanted(const struct worker *w)
{
	for (size_t z = 0; z < w->nzones; z++)
		if (w->zones[z]->zs.force)
			return true;
	return false;
}

static void dns_abort(struct worker *w);

/* A push ended (results are being recorded): go on with the prefetched batch, if any. */
static void after_push(struct worker *w, bool more, int64_t next_due)
{
	if (w->e->stopping)
		return;
	bool stop = w->failures > 0 || read_wanted(w) || w->paused;
	if (stop && w->next != NULL) {
		/* the target is failing (back off instead), a read comes first, or it was
		 * paused: the prefetched rows stay due */
		if (w->next->checking_early)
			dns_abort(w);
		round_free(w->next);
		w->next = NULL;
	}
	if (w->next != NULL) {
		struct round *n = w->next;
		w->next = NULL;
		w->round = n;
		apply_rows(w, n);
	} else if (w->prefetching && !stop) {
		w->state = W_WAITNEXT;
	} else {
		go_idle(w, more, next_due);
	}
}

/* ---- marking ---- */

static int mark_run(struct prism_store *s, const struct prism_store_api *api,
		    struct prism_store_job *job)
{
	struct round *r = (struct round *)job;
	return api->ledger_mark(s, r->w->t.name, r->marks, r->nmark, now_ms());
}

static void mark_done(struct prism_store_job *job, int err)
{
	struct round *r = (struct round *)job;
	struct worker *w = r->w;
	struct prism_engine *e = w->e;
	if (err != 0 && err != -ECANCELED)
		prism_log(PRISM_LOG_ERROR, TAG, "target %s: cannot record sync results (%s)",
			  w->t.name, prism_strerror(err));
	else if (prism_log_enabled(PRISM_LOG_DEBUG))
		prism_log(PRISM_LOG_DEBUG, TAG,
			  "target %s: round of %zu RRset(s): fetch %.1f ms, push %.1f ms, "
			  "record %.1f ms",
			  w->t.name, r->nrows, (r->t_apply - r->t_fetch) / 1e6,
			  (r->t_mark - r->t_apply) / 1e6, (uv_hrtime() - r->t_mark) / 1e6);
	round_free(r);
	engine_unref(e);
}

/* Leave out the marks of rows a pause kept from being sent (they stay due as they were),
 * or every mark of a removed target's round: what it sent to the server it had is not
 * news for the target that may replace it under the same name. */
static void drop_unrecorded(struct worker *w, struct round *r)
{
	if (w->removed) {
		r->nmark = 0;
		return;
	}
	if (r->unsent == NULL)
		return;
	size_t k = 0;
	for (size_t i = 0; i < r->nmark; i++)
		if (!r->unsent[i])
			r->marks[k++] = r->marks[i];
	r->nmark = k;
}

static void submit_marks(struct worker *w, struct round *r)
{
	drop_unrecorded(w, r);
	if (r->nmark == 0) {
		round_free(r);
		return;
	}
	r->t_mark = uv_hrtime();
	r->job.run = mark_run;
	r->job.done = mark_done;
	w->e->refs++;
	prism_store_writer_submit(w->e->writer, &r->job);
}

/* ---- applying ---- */

static void inflight_remove(struct round *r, struct apply_ctx *c)
{
	for (struct apply_ctx **p = &r->inflight; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

static void send_group(struct worker *w, struct round *r, size_t lo, size_t hi);
static void send_create(struct worker *w, struct round *r, size_t lo, size_t hi);
static struct zstate *zone_state(const struct worker *w, const char *zone);
static void pump(struct worker *w, struct round *r);
static void set_result(struct round *r, size_t lo, size_t hi, bool ok, const char *msg);

/* Queue a group of rows [lo, hi) for sending (@p create: with their zone, send_create). */
static void enqueue(struct round *r, size_t lo, size_t hi, bool create)
{
	struct group *g = malloc(sizeof(*g));
	if (g == NULL) {
		set_result(r, lo, hi, false, "out of memory");
		for (size_t i = lo; i < hi; i++)
			r->marks[i].next_attempt = now_ms() + 1000;
		return;
	}
	*g = (struct group){lo, hi, create, NULL};
	if (r->queue_tail)
		r->queue_tail->next = g;
	else
		r->queue = g;
	r->queue_tail = g;
}

static void set_result(struct round *r, size_t lo, size_t hi, bool ok, const char *msg)
{
	for (size_t i = lo; i < hi; i++) {
		r->marks[i].ok = ok;
		if (!ok) {
			free(r->errors[i]);
			r->errors[i] = strdup(msg && msg[0] ? msg : "unknown error");
			r->marks[i].error = r->errors[i];
		}
	}
}

static int64_t row_retry_at(const struct prism_engine *e, const struct prism_ledger_row *row)
{
	/* a rejected RRset is retried, slowly: nothing is ever dropped */
	return now_ms() + (int64_t)backoff_ms(e, row->attempts + 4);
}

/* An answer refusing what was sent (a 4xx other than the target-level ones): the RRsets or
 * the zone at fault, not the target. */
static bool rrset_refused(int err, int status)
{
	return err == PRISM_EUPSTREAM && status >= 400 && status < 500 && status != 401 &&
	       status != 403 && status != 404 && status != 429;
}

/* Rows [lo, hi) failed with the target (transport, 5xx, unauthorised): the round sends no
 * more, the target backs off and the rows are due again when it may be tried. */
static void push_failed(struct worker *w, struct round *r, size_t lo, size_t hi, const char *what,
			int err, int status, const char *msg)
{
	char buf[512];
	describe(buf, sizeof(buf), err, status, msg);
	set_result(r, lo, hi, false, buf);
	r->transport_failed = true;
	if (!r->unauthorised) {
		r->unauthorised = is_unauthorised(err, status) || is_misconfigured(err, status);
		target_failed(w, what, err, status, buf);
	}
	for (size_t i = lo; i < hi; i++)
		r->marks[i].next_attempt =
			now_ms() + (int64_t)(w->backoff_until - uv_now(w->e->loop));
}

static void apply_cb(void *arg, int err, int status, const char *msg)
{
	struct apply_ctx *c = arg;
	struct round *r = c->r;
	struct worker *w = r->w;
	size_t lo = c->lo, hi = c->hi;
	inflight_remove(r, c);
	free(c);
	r->outstanding--;
	w->requests++;
	if (err != 0)
		w->request_failures++;
	if (err == 0) {
		set_result(r, lo, hi, true, NULL);
		w->rrsets_applied += hi - lo;
		struct wzone *z = find_zone(w, r->rows[lo].zone);
		for (size_t i = lo; z != NULL && i < hi; i++) {
			if (r->rows[i].content[0] == '\0')
				z->est -= z->est > 0;
			else if (!r->rows[i].marked)
				z->est++; /* new (a replacement of ours is marked) */
		}
		w->last_success = now_ms() / 1000;
		send_notify(w, r->rows[lo].zone);
	} else if (((err == PRISM_EUPSTREAM && status == 422) ||
		    (status == 0 && (err == PRISM_EMSG || err == PRISM_ECONFLICT))) &&
		   hi - lo > 1) {
		/* one RRset spoils the request (or holds a foreign name): split to find it */
		size_t mid = lo + (hi - lo) / 2;
		enqueue(r, lo, mid, false);
		enqueue(r, mid, hi, false);
	} else if (status == 0 && err == PRISM_ECONFLICT) {
		/* the server refused to touch a name someone else holds (prerequisites) */
		struct zstate *zs = zone_state(w, r->rows[lo].zone);
		if (zs != NULL && zs->recheck_at == 0)
			zs->recheck_at = uv_now(w->e->loop) + CONFLICT_RECHECK_MS;
		set_result(r, lo, hi, false, CONFLICT_MSG);
		r->marks[lo].conflict = true;
		r->marks[lo].next_attempt = row_retry_at(w->e, &r->rows[lo]);
		prism_log(PRISM_LOG_WARNING, TAG, "target %s: conflict at %s %s: left alone (%s)",
			  w->t.name, r->rows[lo].name, r->rows[lo].type, msg);
	} else if (rrset_refused(err, status) || (status == 0 && err == PRISM_EMSG)) {
		/* this RRset itself was refused: quarantine it, keep the target going */
		set_result(r, lo, hi, false, msg);
		w->rrsets_failed += hi - lo;
		for (size_t i = lo; i < hi; i++)
			r->marks[i].next_attempt = row_retry_at(w->e, &r->rows[i]);
		prism_log(PRISM_LOG_WARNING, TAG, "target %s: %s %s refused: HTTP %d %s",
			  w->t.name, r->rows[lo].name, r->rows[lo].type, status, msg);
	} else {
		if (status == 404 || (status == 0 && err == PRISM_ENOTFOUND)) {
			/* the zone went away: check (and create) it again */
			struct wzone *wz = find_zone(w, r->rows[lo].zone);
			if (wz != NULL)
				wz->ok = false;
			w->zone_ready = false;
		}
		push_failed(w, r, lo, hi, "push", err, status, msg);
	}
	pump(w, r);
}

/* Rows [lo, hi) go unrecorded: they stay due as they were, for a later round to decide.
 * Without memory to note that, they are recorded as failed with @p why, tried in a second. */
static void leave_unsent(struct round *r, size_t lo, size_t hi, const char *why)
{
	if (r->unsent == NULL)
		r->unsent = calloc(r->nrows, sizeof(*r->unsent));
	if (r->unsent == NULL) {
		set_result(r, lo, hi, false, why);
		for (size_t i = lo; i < hi; i++)
			r->marks[i].next_attempt = now_ms() + 1000;
		return;
	}
	for (size_t i = lo; i < hi; i++)
		r->unsent[i] = true;
}

/*
 * Send the next queued group, one request at a time per target: PowerDNS's gsqlite3 backend
 * answers 500 ("database is locked") to concurrent writes, even to different zones. Once the
 * target failed, the rest of the round fails with it instead of hammering it.
 */
static void pump(struct worker *w, struct round *r)
{
	while (r->outstanding == 0 && r->queue != NULL) {
		struct group *g = r->queue;
		r->queue = g->next;
		if (r->queue == NULL)
			r->queue_tail = NULL;
		if (w->paused) {
			/* paused (or removed) since the round began: nothing more goes out */
			leave_unsent(r, g->lo, g->hi, "not sent: the target is paused");
		} else if (r->transport_failed) {
			set_result(r, g->lo, g->hi, false, "not sent: the target is failing");
			for (size_t i = g->lo; i < g->hi; i++)
				r->marks[i].next_attempt =
					now_ms() +
					(int64_t)(w->backoff_until - uv_now(w->e->loop));
		} else if (g->create) {
			send_create(w, r, g->lo, g->hi);
		} else {
			send_group(w, r, g->lo, g->hi);
		}
		free(g);
	}
	if (r->outstanding > 0)
		return;
	if (!r->transport_failed)
		target_ok(w);
	bool more = r->nrows >= w->e->opts.batch_max;
	int64_t next_due = r->next_due;
	w->round = NULL;
	submit_marks(w, r); /* the record job owns r from here */
	after_push(w, more, next_due);
}

/* Split a row's content ("a\nb") into record pointers, in place. */
static size_t split_records(char *content, const char **out, size_t max)
{
	size_t n = 0;
	char *p = content;
	while (*p && n < max) {
		out[n++] = p;
		char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

#define MAX_RECORDS 64

/* The changes of rows [lo, hi) for one request. Each row's content is split on a copy:
 * rows keep theirs for a retry of half the group. */
struct changes {
	struct prism_rr_change *ch;
	const char **recs;
	char **copies;
	size_t n;
};

static void changes_free(struct changes *cs)
{
	for (size_t i = 0; cs->copies != NULL && i < cs->n; i++)
		free(cs->copies[i]);
	free(cs->copies);
	free(cs->ch);
	free(cs->recs);
}

static int changes_build(const struct round *r, size_t lo, size_t hi, struct changes *cs)
{
	size_t n = hi - lo;
	*cs = (struct changes){calloc(n, sizeof(*cs->ch)), calloc(n * MAX_RECORDS, sizeof(char *)),
			       calloc(n, sizeof(char *)), n};
	if (cs->ch == NULL || cs->recs == NULL || cs->copies == NULL) {
		changes_free(cs);
		return PRISM_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct prism_ledger_row *row = &r->rows[lo + i];
		cs->copies[i] = strdup(row->content);
		if (cs->copies[i] == NULL) {
			changes_free(cs);
			return PRISM_ENOMEM;
		}
		const char **rr = cs->recs + i * MAX_RECORDS;
		size_t k = split_records(cs->copies[i], rr, MAX_RECORDS);
		cs->ch[i] = (struct prism_rr_change){row->name, row->type, row->ttl,
						     rr,	k,	   row->marked};
	}
	return 0;
}

/* A request for rows [lo, hi) is out: the round waits for its answer. */
static void inflight_add(struct round *r, struct apply_ctx *c)
{
	c->next = r->inflight;
	r->inflight = c;
	r->outstanding++;
}

/* Rows [lo, hi) could not be sent (@p rc): the target is treated as failing this round. */
static void send_failed(struct round *r, size_t lo, size_t hi, int rc)
{
	set_result(r, lo, hi, false, prism_strerror(rc));
	r->transport_failed = true;
	for (size_t i = lo; i < hi; i++)
		r->marks[i].next_attempt = now_ms() + 1000;
}

static bool claim_lapsed(struct worker *w, struct round *r, size_t lo, size_t hi)
{
	if (may_work(w))
		return false;
	/* the claim lapsed mid-round: the rows stay due for whoever holds it next */
	set_result(r, lo, hi, false, "not sent: this instance's claim on the target lapsed");
	for (size_t i = lo; i < hi; i++)
		r->marks[i].next_attempt = now_ms();
	return true;
}

static void create_cb(void *arg, int err, int status, const char *msg);

/* One request for rows [lo, hi): a PATCH, or with @p create the POST that makes that zone
 * with them. On success the round waits for its answer. */
static int send_rows(struct worker *w, struct round *r, size_t lo, size_t hi,
		     const struct wzone *create)
{
	struct changes cs;
	struct apply_ctx *c = malloc(sizeof(*c));
	int rc = c == NULL ? PRISM_ENOMEM : changes_build(r, lo, hi, &cs);
	if (rc == 0) {
		*c = (struct apply_ctx){r, lo, hi, now_ms(), NULL};
		rc = create == NULL
			     ? w->t.api->apply(w->t.handle, r->rows[lo].zone, cs.ch, cs.n,
					       apply_cb, c)
			     : w->t.api->create_zone_rrsets(
				       w->t.handle, create->name,
				       (const char *const *)create->nameservers, create->soa,
				       create->kind, cs.ch, cs.n, create_cb, c);
		changes_free(&cs);
	}
	if (rc == 0)
		inflight_add(r, c);
	else
		free(c);
	return rc;
}

static void send_group(struct worker *w, struct round *r, size_t lo, size_t hi)
{
	if (claim_lapsed(w, r, lo, hi))
		return;
	int rc = send_rows(w, r, lo, hi, NULL);
	if (rc != 0)
		send_failed(r, lo, hi, rc);
}

/* ---- a zone created with its rows ---- */

enum owner { OWN_UNKNOWN, OWN_ABSENT, OWN_OURS, OWN_FOREIGN };
static enum owner row_owner(const struct wzone *wz, const struct prism_ledger_row *row,
			    int64_t now);
static bool all_zones_ok(const struct worker *w);

/* The zone is there now, made by a request begun at @p started (201): it holds what that
 * request carried and nothing else, which is what a read begun then would show. */
static void zone_made(struct worker *w, struct wzone *z, int64_t started)
{
	z->ok = true;
	z->lazy = false;
	z->missing_until = 0;
	prism_strset_clear(&z->zs.foreign);
	prism_strset_clear(&z->zs.owned);
	z->zs.read_at = started;
	z->zs.read = true;
	z->zs.force = false;
	z->est = 0;
	z->zs.last_read = uv_now(w->e->loop);
	w->zone_ready = all_zones_ok(w);
}

static void create_cb(void *arg, int err, int status, const char *msg)
{
	struct apply_ctx *c = arg;
	struct round *r = c->r;
	struct worker *w = r->w;
	size_t lo = c->lo, hi = c->hi;
	int64_t started = c->started;
	inflight_remove(r, c);
	free(c);
	r->outstanding--;
	w->requests++;
	struct wzone *z = find_zone(w, r->rows[lo].zone);
	if (err == 0 && status == 201) {
		set_result(r, lo, hi, true, NULL); /* deletions too: nothing was there */
		w->rrsets_applied += hi - lo;
		w->last_success = now_ms() / 1000;
		if (z != NULL) {
			zone_made(w, z, started);
			z->est = hi - lo;
			/* its kind or DNSSEC comes next (worker_run): not left for a timer */
			if (!z->kind_done || !z->dnssec_done)
				w->wanted = true;
		}
		prism_log(PRISM_LOG_INFO, TAG, "target %s: zone %s created with %zu RRset(s)",
			  w->t.name, r->rows[lo].zone, hi - lo);
		/* as after a PATCH: a Master zone's secondaries */
		send_notify(w, r->rows[lo].zone);
	} else if (err == 0) {
		/* it was there already (409) and nothing was written: the rows wait for the
		 * ownership check of a zone that existed, as after ensure_zone */
		if (z != NULL) {
			z->ok = true;
			z->lazy = false;
			w->zone_ready = all_zones_ok(w);
		}
		prism_log(PRISM_LOG_INFO, TAG, "target %s: zone %s ready", w->t.name,
			  r->rows[lo].zone);
		leave_unsent(r, lo, hi, "the zone is not ready on this target yet");
	} else {
		w->request_failures++;
		if (z != NULL)
			z->lazy = false; /* created alone next, by the usual check */
		if (rrset_refused(err, status)) {
			/* the zone or a row refused: the zone is created alone, then its rows
			 * are pushed as anywhere else (a bad one found and quarantined) */
			char buf[512];
			describe(buf, sizeof(buf), err, status, msg);
			prism_log(PRISM_LOG_WARNING, TAG,
				  "target %s: zone %s not created with its RRsets (%s); "
				  "created alone next",
				  w->t.name, r->rows[lo].zone, buf);
			leave_unsent(r, lo, hi, "the zone is not ready on this target yet");
		} else {
			push_failed(w, r, lo, hi, "zone creation", err, status, msg);
		}
	}
	pump(w, r);
}

/*
 * Rows of a zone the target has not been checked for (a registry zone new to it: a new
 * target's catch-up, a zone just made through the API). The zone is created with them in
 * one POST: when it is created (201), nothing else can be at their names; when it existed
 * (409), nothing was written and the rows wait for the usual ownership check. A later group
 * of the same zone in the round finds it created and is decided as any other.
 */
static void send_create(struct worker *w, struct round *r, size_t lo, size_t hi)
{
	struct wzone *z = find_zone(w, r->rows[lo].zone);
	if (z != NULL && z->ok) {
		int64_t now = now_ms();
		for (size_t i = lo; i < hi; i++) {
			enum owner own = row_owner(z, &r->rows[i], now);
			if (own != OWN_ABSENT && own != OWN_OURS) {
				leave_unsent(r, lo, hi, "not checked yet");
				return;
			}
		}
		send_group(w, r, lo, hi);
		return;
	}
	if (z == NULL || !z->lazy) {
		/* dropped, or its creation failed earlier this round */
		leave_unsent(r, lo, hi, "the zone is not ready on this target yet");
		return;
	}
	if (claim_lapsed(w, r, lo, hi))
		return;
	int rc = send_rows(w, r, lo, hi, z);
	if (rc != 0) {
		z->lazy = false;
		send_failed(r, lo, hi, rc);
	}
}

/*
 * Ownership check. Prism writes or deletes an RRset only when a read of the target that
 * began after the row became due says it may: nothing is at that name and type (and no
 * foreign CNAME at the name), or what is there carries Prism's mark with this deployment's
 * owner id. A zone read (the reconciler's, or one forced here) is such a read for every row
 * due a second before it began, while it is young; rows it does not cover are checked by
 * a DNS query when the target has a dns_address (nothing there: write; anything there:
 * read the zone), else by reading the zone again. See docs/architecture.md.
 */
/* A zone read covers rows for this long (three times its own duration if that is more):
 * long enough for a bulk sync of 100,000 RRsets after a start to go out on the start-up
 * read, as external-dns's and octoDNS's runs do on the state they read first; a re-read
 * would cost as much as the sync. */
#define FRESH_MS 30000u

static struct zstate *zone_state(const struct worker *w, const char *zone)
{
	struct wzone *wz = find_zone(w, zone);
	return wz != NULL ? &wz->zs : NULL;
}

static bool read_covers(const struct zstate *zs, const struct prism_ledger_row *row, int64_t now)
{
	uint64_t fresh = zs->read_took * 3 > FRESH_MS ? zs->read_took * 3 : FRESH_MS;
	return zs->read && zs->read_at > 0 && (row->since + 1) * 1000 <= zs->read_at &&
	       now - zs->read_at <= (int64_t)fresh;
}

/* Whether the last read showed a foreign RRset at the row's name and type (or a CNAME). */
static bool held_by_foreign(const struct zstate *zs, const struct prism_ledger_row *row)
{
	return prism_strset_has_joined(&zs->foreign, row->name, ' ', row->type) ||
	       (strcmp(row->type, "CNAME") != 0 &&
		prism_strset_has_joined(&zs->foreign, row->name, ' ', "CNAME"));
}

static enum owner row_owner(const struct wzone *wz, const struct prism_ledger_row *row,
			    int64_t now)
{
	const struct zstate *zs = &wz->zs;
	if (!read_covers(zs, row, now))
		return OWN_UNKNOWN;
	if (held_by_foreign(zs, row))
		return OWN_FOREIGN;
	return prism_strset_has_joined(&zs->owned, row->name, ' ', row->type) ? OWN_OURS
									      : OWN_ABSENT;
}

/*
 * PowerDNS refuses bodies over webserver-max-bodysize (2 MB by default): stay at 3/4 of
 * it unless the target says otherwise (targets[].max_body_bytes). A row costs its strings plus the
 * JSON around them, the ownership comment included (measured: 174 bytes besides name, type and
 * content for a one-record REPLACE).
 */
#define BODY_MAX (1536u * 1024u)

static size_t row_bytes(const struct prism_ledger_row *row)
{
	return strlen(row->name) + strlen(row->type) + strlen(row->content) + 180;
}

static int row_zone_cmp(const void *a, const void *b)
{
	return strcmp(((const struct prism_ledger_row *)a)->zone,
		      ((const struct prism_ledger_row *)b)->zone);
}

/* What becomes of a fetched row, in the order the round keeps them: sent with its zone,
 * which is created by the same request (send_create); sent; done without a
 * request (a deletion of what is gone already); held back (its zone is not ready on the
 * target yet: one added moments ago); left alone (a conflict); failed (not checked: the
 * target is failing); not decided this round (not checked yet: left due, not recorded). */
enum row_class {
	ROW_CREATE,
	ROW_SEND,
	ROW_GONE,
	ROW_NOT_READY,
	ROW_CONFLICT,
	ROW_UNCHECKABLE,
	ROW_CHECK,
	ROW_NCLASS
};

static enum row_class classify_row(const struct worker *w, struct prism_ledger_row *row,
				   int64_t now)
{
	const struct wzone *wz = find_zone(w, row->zone);
	if (wz != NULL && !wz->ok && wz->lazy)
		return ROW_CREATE;
	if (wz == NULL || !wz->ok)
		return ROW_NOT_READY;
	bool deletion = row->content[0] == '\0';
	enum owner own = row_owner(wz, row, now);
	if (own == OWN_UNKNOWN && w->t.api->conditional_writes) {
		/* the server checks each write itself: hold back only what the last read
		 * showed as foreign */
		bool foreign = held_by_foreign(&wz->zs, row);
		own = foreign ? OWN_FOREIGN : OWN_ABSENT;
		if (!foreign && deletion)
			return ROW_SEND; /* the server deletes only what carries our mark */
	}
	switch (own) {
	case OWN_UNKNOWN: return ROW_CHECK;
	case OWN_ABSENT: return deletion ? ROW_GONE : ROW_SEND;
	case OWN_OURS:
		row->marked = true; /* a replacement keeps the mark it has: cheaper */
		return ROW_SEND;
	case OWN_FOREIGN:
	default:
		/* adopt takes over what stands at wanted names, never deletes a foreign RRset */
		return !deletion && (w->t.adopt || wz->adopt) ? ROW_SEND : ROW_CONFLICT;
	}
}

/* Order the rows by class (rows to send sorted by zone); @p bound[c] receives where class
 * c ends. @p cls holds each row's class and is reordered along. */
static void partition_rows(struct round *r, unsigned char *cls, size_t bound[ROW_NCLASS])
{
	size_t n = r->nrows, k = 0;
	struct prism_ledger_row *tmp = malloc(n * sizeof(*tmp));
	unsigned char *tcls = malloc(n);
	if (tmp == NULL || tcls == NULL) {
		/* send nothing: every row stays due for the next round */
		free(tmp);
		free(tcls);
		memset(cls, ROW_CHECK, n);
		for (int c = 0; c < ROW_NCLASS; c++)
			bound[c] = c < ROW_CHECK ? 0 : n;
		return;
	}
	for (int c = 0; c < ROW_NCLASS; c++) {
		for (size_t i = 0; i < n; i++)
			if (cls[i] == c) {
				tcls[k] = cls[i];
				tmp[k++] = r->rows[i];
			}
		bound[c] = k;
	}
	memcpy(r->rows, tmp, n * sizeof(*tmp));
	memcpy(cls, tcls, n);
	free(tmp);
	free(tcls);
	qsort(r->rows, bound[ROW_SEND], sizeof(*r->rows), row_zone_cmp); /* CREATE and SEND */
}

/* Rows not covered by a read: their zones are read again (in the next second at the
 * earliest, see zstate.read_after) before they are fetched once more. */
static void want_reads(struct worker *w, const struct round *r, size_t lo, size_t hi)
{
	for (size_t i = lo; i < hi; i++) {
		struct wzone *wz = find_zone(w, r->rows[i].zone);
		if (wz == NULL || wz->zs.force)
			continue;
		wz->zs.force = true;
		wz->zs.check_read = true;
		wz->zs.read_after = (r->rows[i].since + 1) * 1000;
	}
}

static const char taken_msg[] =
	"the RRset does not carry prism's ownership mark (taken over, or never prism's): "
	"not deleted";

static void mark_unsent(struct worker *w, struct round *r, size_t i, enum row_class c)
{
	struct prism_ledger_mark *m = &r->marks[i];
	const struct prism_ledger_row *row = &r->rows[i];
	if (c == ROW_GONE) {
		m->ok = true; /* nothing left to delete: the deletion is done */
	} else if (c == ROW_NOT_READY) {
		m->error = "the zone is not ready on this target yet";
		m->next_attempt = now_ms() + 1000;
	} else if (c == ROW_UNCHECKABLE) {
		m->error = "not checked: the target is failing";
		m->next_attempt =
			now_ms() + (int64_t)(w->backoff_until > uv_now(w->e->loop)
						     ? w->backoff_until - uv_now(w->e->loop)
						     : 1000);
	} else if (c == ROW_CONFLICT) {
		/* read again soon: a conflict resolves by itself once the RRset is gone */
		struct zstate *zs = zone_state(w, row->zone);
		if (zs != NULL && zs->recheck_at == 0)
			zs->recheck_at = uv_now(w->e->loop) + CONFLICT_RECHECK_MS;
		m->conflict = true;
		m->error = m->deletion ? taken_msg : CONFLICT_MSG;
		prism_log(PRISM_LOG_WARNING, TAG, "target %s: conflict at %s %s: %s", w->t.name,
			  row->name, row->type,
			  m->deletion ? "no longer marked as prism's, not deleted" : "left alone");
	}
}

static void apply_send(struct worker *w, struct round *r, unsigned char *cls)
{
	size_t bound[ROW_NCLASS];
	if (w->failures > 0) /* no read to check them with: show them as failed meanwhile */
		for (size_t i = 0; i < r->nrows; i++)
			if (cls[i] == ROW_CHECK)
				cls[i] = ROW_UNCHECKABLE;
	partition_rows(r, cls, bound);
	size_t nsend = bound[ROW_SEND];
	r->nmark = bound[ROW_UNCHECKABLE]; /* unchecked rows stay due, unrecorded */
	for (size_t i = 0; i < r->nrows; i++) {
		r->marks[i] = (struct prism_ledger_mark){r->rows[i].zone, r->rows[i].name,
							 r->rows[i].type, r->rows[i].desired_hash};
		r->marks[i].deletion = r->rows[i].content[0] == '\0';
		if (i >= nsend && i < r->nmark)
			mark_unsent(w, r, i, (enum row_class)cls[i]);
	}
	want_reads(w, r, bound[ROW_CONFLICT], r->nrows);
	w->state = W_APPLYING;
	/* one request per zone, cut where the body would outgrow the server's request limit;
	 * the rows of a zone still to be made go with it (ROW_CREATE: sorted among the rows to
	 * send, by zone, so a group is all of one class) */
	size_t lo = 0, bytes = 0, cap = w->t.max_body ? w->t.max_body : BODY_MAX;
	for (size_t i = 0; i <= nsend; i++) {
		if (i > lo && (i == nsend || strcmp(r->rows[i].zone, r->rows[lo].zone) != 0 ||
			       bytes + row_bytes(&r->rows[i]) > cap)) {
			const struct wzone *z = find_zone(w, r->rows[lo].zone);
			enqueue(r, lo, i, z != NULL && !z->ok && z->lazy);
			lo = i;
			bytes = 0;
		}
		if (i < nsend)
			bytes += row_bytes(&r->rows[i]);
	}
	prefetch(w, r);
	pump(w, r);
}

static bool check_dns_start(struct worker *w, struct round *r, size_t unchecked);

/* A round that holds every row due now (fewer than batch_max) shows which zones still to be
 * made have none: those are checked (and created) alone, by the next worker_run. */
static void lazy_settle(struct worker *w, const struct round *r)
{
	size_t nlazy = 0;
	for (size_t z = 0; z < w->nzones; z++)
		nlazy += w->zones[z]->lazy;
	if (nlazy == 0 || r->nrows >= w->e->opts.batch_max)
		return;
	for (size_t i = 0; i < r->nrows; i++) {
		struct wzone *z = find_zone(w, r->rows[i].zone);
		if (z != NULL)
			z->seen = true;
	}
	for (size_t z = 0; z < w->nzones; z++) {
		struct wzone *wz = w->zones[z];
		if (wz->lazy && !wz->seen)
			wz->lazy = false;
		wz->seen = false;
	}
}

/* Each row's class into @p cls, with what an early check found (r->early); returns the rows
 * still to check (a row checked early with something there goes to a read). */
static size_t classify_rows(struct worker *w, struct round *r, unsigned char *cls)
{
	int64_t now = now_ms();
	size_t unchecked = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		cls[i] = (unsigned char)classify_row(w, &r->rows[i], now);
		if (cls[i] == ROW_CHECK && r->early != NULL && r->early[i] == EARLY_ABSENT)
			cls[i] = r->rows[i].content[0] == '\0' ? ROW_GONE : ROW_SEND;
		else if (cls[i] == ROW_CHECK && (r->early == NULL || r->early[i] == EARLY_NONE))
			unchecked++;
	}
	return unchecked;
}

static void apply_rows(struct worker *w, struct round *r)
{
	if (r->checking_early) {
		/* its check began while the round before was pushed: applied when it ends */
		r->apply_pending = true;
		w->state = W_CHECKING;
		return;
	}
	lazy_settle(w, r);
	r->t_apply = uv_hrtime();
	r->marks = calloc(r->nrows, sizeof(*r->marks));
	r->errors = calloc(r->nrows, sizeof(*r->errors));
	unsigned char *cls = malloc(r->nrows);
	if (r->marks == NULL || r->errors == NULL || cls == NULL) {
		prism_log(PRISM_LOG_ERROR, TAG, "out of memory");
		free(cls);
		w->round = NULL;
		round_free(r);
		w->backoff_until = uv_now(w->e->loop) + 1000;
		go_idle(w, false, 0);
		return;
	}
	size_t unchecked = classify_rows(w, r, cls);
	r->cls = cls;
	if (unchecked > 0 && check_dns_start(w, r, unchecked))
		return; /* check_dns_done goes on */
	r->cls = NULL;
	apply_send(w, r, cls);
	free(cls);
}

/* ---- the ownership check through DNS ---- */

/*
 * Rows no zone read covers are asked of the target's DNS port (targets[].dns_address):
 * one query per row, DNS_CHECK_WINDOW at a time. NXDOMAIN, or NOERROR without an RRset of the type
 * or a CNAME at the name, means nothing is there: the row is written (a deletion is done). Any
 * other answer, or none within DNS_CHECK_MS, leaves the row to a read of the zone. PowerDNS
 * purges its caches on every API write, so a foreign RRset made through the API is seen
 * at once; see docs/architecture.md for what remains.
 */
#define DNS_CHECK_WINDOW                                                                          \
	256		   /* queries in flight at once: a burst would overflow the               \
			    * server's socket buffer and be lost */
#define DNS_CHECK_MS 1000u /* no answer for this long: the rest go to a zone read */
/* No answer for this long: the unanswered queries are sent again, DNS_RETRIES times, each
 * wait twice the one before. A server answering thousands of queries a second drops a few
 * datagrams of a window now and then (PowerDNS on loopback: a few of 5,000 at a window of
 * 256); waiting the whole DNS_CHECK_MS for them made every round of 5,000 checks take 1.1 s
 * instead of 0.3 s. A resend to a slow server only costs a duplicate answer, ignored. */
#define DNS_RETRY_MS 50u
#define DNS_RETRIES  4u

enum { DQ_WAITING, DQ_ABSENT, DQ_PRESENT };

/* The wait before the next resend, or before giving up after the last one. */
static uint64_t dns_wait_ms(const struct dnscheck *dc)
{
	return dc->retries < DNS_RETRIES ? DNS_RETRY_MS << dc->retries : DNS_CHECK_MS;
}

static void dns_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct worker *w = h->data;
	(void)suggested;
	*buf = uv_buf_init((char *)w->dns.rbuf, sizeof(w->dns.rbuf));
}

static void dns_send_more(struct worker *w);
static bool dns_send_one(struct dnscheck *dc, size_t q);
static void dns_timeout_cb(uv_timer_t *t);

static void dns_finish(struct worker *w)
{
	struct dnscheck *dc = &w->dns;
	struct round *r = dc->r;
	uv_timer_stop(&dc->timer);
	dc->r = NULL;
	size_t absent = 0, by_xfr = dc->nq - dc->nsend;
	for (size_t q = 0; q < dc->nq; q++) {
		size_t i = dc->rows[q];
		if (r->checking_early)
			r->early[i] = dc->state[q] == DQ_ABSENT ? EARLY_ABSENT : EARLY_PRESENT;
		if (dc->state[q] != DQ_ABSENT)
			continue;
		r->cls[i] = r->rows[i].content[0] == '\0' ? ROW_GONE : ROW_SEND;
		absent++;
	}
	prism_log(PRISM_LOG_DEBUG, TAG,
		  "target %s: DNS check of %zu RRset(s): %zu free, %zu "
		  "left to a zone read (%zu by a transfer of their zone)",
		  w->t.name, dc->nq, absent, dc->nq - absent, by_xfr);
	free(dc->rows);
	free(dc->state);
	dc->rows = NULL;
	dc->state = NULL;
	unsigned char *cls = r->cls;
	r->cls = NULL;
	if (r->checking_early) {
		/* the results wait in r->early for the round's turn (apply_rows) */
		free(cls);
		r->checking_early = false;
		if (r->apply_pending) {
			r->apply_pending = false;
			apply_rows(w, r);
		}
		return;
	}
	apply_send(w, r, cls);
	free(cls);
}

/* Drop the check in progress (its round is dropped): no callback comes for it. */
static void dns_abort(struct worker *w)
{
	struct dnscheck *dc = &w->dns;
	if (dc->open)
		uv_timer_stop(&dc->timer);
	prism_xfr_cancel(dc->xfr);
	dc->xfr = NULL;
	if (dc->xfr_zone != NULL)
		wzone_unref(dc->xfr_zone);
	dc->xfr_zone = NULL;
	if (dc->r != NULL) {
		free(dc->r->cls);
		dc->r->cls = NULL;
		dc->r->checking_early = false;
	}
	dc->r = NULL;
	free(dc->rows);
	free(dc->state);
	dc->rows = NULL;
	dc->state = NULL;
}

/*
 * The next round, prefetched while this one is pushed, has its ownership check done now:
 * the server answers the queries (or the transfer) while it also takes the PATCH, instead
 * of one after the other. The check began after the rows were due, so it counts for them;
 * a row the round finds covered by a read meanwhile goes by that read instead.
 */
static void check_early(struct worker *w, struct round *n)
{
	struct dnscheck *dc = &w->dns;
	if (dc->r != NULL || dc->broken || w->failures > 0 || w->paused)
		return;
	n->early = calloc(n->nrows, 1);
	n->cls = malloc(n->nrows);
	if (n->early == NULL || n->cls == NULL) {
		free(n->early);
		free(n->cls);
		n->early = NULL;
		n->cls = NULL;
		return;
	}
	size_t unchecked = classify_rows(w, n, n->cls);
	n->checking_early = true;
	if (unchecked == 0 || !check_dns_start(w, n, unchecked)) {
		n->checking_early = false;
		free(n->cls);
		n->cls = NULL;
		return;
	}
	prism_log(PRISM_LOG_DEBUG, TAG,
		  "target %s: checking the next round's %zu RRset(s) while this one is pushed",
		  w->t.name, unchecked);
}

static bool same_peer(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a == NULL || a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return a->sa_family == AF_INET6 && x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

static void dns_recv_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
			unsigned flags)
{
	struct worker *w = u->data;
	struct dnscheck *dc = &w->dns;
	(void)flags;
	if (n < 2 || dc->r == NULL || !same_peer(from, &dc->addr))
		return; /* an answer counts only from the server asked */
	const uint8_t *b = (const uint8_t *)buf->base;
	size_t q = (uint16_t)((uint16_t)(b[0] << 8 | b[1]) - dc->qbase);
	if (q >= dc->nq || dc->state[q] != DQ_WAITING)
		return;
	const struct prism_ledger_row *row = &dc->r->rows[dc->rows[q]];
	uint16_t id;
	int rcode;
	bool present;
	if (prism_rr_answer(b, (size_t)n, row->name, row->type, &id, &rcode, &present) != 0)
		return; /* not the answer to this question */
	/* only NOERROR and NXDOMAIN say what is there */
	dc->state[q] = (rcode == 0 || rcode == 3) && !present ? DQ_ABSENT : DQ_PRESENT;
	dc->waiting--;
	dns_send_more(w);
}

/* Keep DNS_CHECK_WINDOW queries in flight; finish when every query is answered or lost. */
static void dns_send_more(struct worker *w)
{
	struct dnscheck *dc = &w->dns;
	bool sent = false;
	while (dc->waiting < DNS_CHECK_WINDOW && dc->next < dc->nsend) {
		size_t q = dc->next++;
		if (!dns_send_one(dc, q))
			continue; /* stays DQ_PRESENT: a zone read decides */
		dc->state[q] = DQ_WAITING;
		dc->waiting++;
		sent = true;
	}
	if (dc->waiting == 0) {
		if (dc->xfr == NULL) /* else its end goes on */
			dns_finish(w);
		return;
	}
	if (sent) /* the timeout runs from the last progress */
		uv_timer_start(&dc->timer, dns_timeout_cb, dns_wait_ms(dc), 0);
}

/* Send query @p q (again); false when it cannot go out (it then stays unanswered). */
static bool dns_send_one(struct dnscheck *dc, size_t q)
{
	const struct prism_ledger_row *row = &dc->r->rows[dc->rows[q]];
	uint8_t wire[512];
	size_t len;
	return prism_rr_query(row->name, row->type, (uint16_t)(dc->qbase + q), wire, sizeof(wire),
			      &len) == 0 &&
	       prism_udp_send_copy(&dc->udp, (const struct sockaddr *)&dc->addr, wire, len) == 0;
}

/* No progress for a while: the unanswered queries are sent again (a datagram lost under
 * load should not cost a read of the whole zone), DNS_RETRIES times, then given up. */
static void dns_timeout_cb(uv_timer_t *t)
{
	struct worker *w = t->data;
	struct dnscheck *dc = &w->dns;
	if (dc->r == NULL)
		return;
	if (dc->retries < DNS_RETRIES) {
		for (size_t q = 0; q < dc->next; q++)
			if (dc->state[q] == DQ_WAITING)
				(void)dns_send_one(dc, q);
		dc->retries++;
		uv_timer_start(&dc->timer, dns_timeout_cb, dns_wait_ms(dc), 0);
		return;
	}
	/* given up: the unanswered rows go to a zone read (a late answer is ignored) */
	for (size_t q = 0; q < dc->next; q++)
		if (dc->state[q] == DQ_WAITING)
			dc->state[q] = DQ_PRESENT;
	dc->waiting = 0;
	if (dc->xfr == NULL) /* else its end goes on */
		dns_finish(w);
}

static void dns_closed_cb(uv_handle_t *h)
{
	struct worker *w = h->data;
	engine_unref(w->e);
}

#define DISC_RETRY_MS 10000u /* the DNS port could not be asked: ask again after this long */

static void config_cb(void *arg, int err, int status, const char *msg, const char *body,
		      size_t len)
{
	struct worker *w = arg;
	struct dnscheck *dc = &w->dns;
	if (err != 0 && status == 0) {
		/* the server is not up yet (a boot before PowerDNS): asked again later */
		dc->disc = DISC_NONE;
		dc->disc_after = uv_now(w->e->loop) + DISC_RETRY_MS;
		return;
	}
	dc->disc = DISC_DONE;
	if (prism_pdns_dns_address(body, len, w->t.api_url, dc->found, sizeof(dc->found)) == 0)
		prism_log(PRISM_LOG_INFO, TAG,
			  "target %s: ownership checks ask its DNS port %s "
			  "(its local-address; targets[].dns_address sets another)",
			  w->t.name, dc->found);
	else
		prism_log(PRISM_LOG_INFO, TAG,
			  "target %s: its DNS port is not known (set "
			  "targets[].dns_address): ownership checks read zones",
			  w->t.name);
}

/* Without targets[].dns_address, ask the server once where it answers DNS (PowerDNS:
 * GET config, local-address and local-port): a default setup gets the cheap check too.
 * Asked when the target is added; until the answer, rows are checked by zone reads. */
static void dns_discover(struct worker *w)
{
	struct dnscheck *dc = &w->dns;
	if (dc->disc != DISC_NONE || uv_now(w->e->loop) < dc->disc_after)
		return;
	dc->disc = DISC_DONE;
	if (w->t.api->server_get == NULL || w->t.api_url == NULL)
		return;
	if (w->t.api->server_get(w->t.handle, "/config", config_cb, w) == 0)
		dc->disc = DISC_ASKING;
}

/* The socket and timer, made at the first check; false when the target has no DNS port. */
static bool dns_open(struct worker *w)
{
	struct dnscheck *dc = &w->dns;
	if (dc->open)
		return true;
	const char *addr = w->t.dns_address ? w->t.dns_address : dc->found[0] ? dc->found : NULL;
	if (addr == NULL) {
		dns_discover(w);
		return false;
	}
	struct sockaddr_storage any;
	if (prism_udp_addr(addr, &dc->addr, &any) != 0)
		return false;
	if (uv_udp_init(w->e->loop, &dc->udp) != 0)
		return false;
	uv_timer_init(w->e->loop, &dc->timer);
	dc->udp.data = dc->timer.data = w;
	dc->open = true;
	w->e->refs += 2; /* dropped by the handles' close callbacks */
	if (uv_udp_bind(&dc->udp, (const struct sockaddr *)&any, 0) != 0 ||
	    uv_udp_recv_start(&dc->udp, dns_alloc_cb, dns_recv_cb) != 0) {
		prism_log(PRISM_LOG_WARNING, TAG,
			  "target %s: no DNS ownership checks (cannot "
			  "open a UDP socket); zone reads instead",
			  w->t.name);
		dc->broken = true;
	}
	return !dc->broken;
}

/*
 * Many new names in a small zone: one read of the zone by AXFR from the DNS port says which
 * are free, instead of a query each. Measured on PowerDNS 4.7 (gsqlite3, bench/check_cost.py):
 * a query for a name that is not there costs the server 17-20 us; a transfer, 3.7 us per
 * record (reading the transfers took 5 % of prismd's CPU samples in a profiled
 * ncr_floor_bench.py run, where they replaced 26,000 of 30,000 queries). The zone is
 * transferred when it holds fewer than XFR_FACTOR RRsets per row to check (its size
 * estimated from the last read and what was written since), for XFR_MIN_ROWS rows or more:
 * the server's cost decides, as the server is what the writes wait for. A transfer reads the
 * server's database, not its caches, and shows presence only (no marks): a name with anything at
 * it goes to a read of the zone through the API, as after a DNS answer. A server that refuses the
 * transfer (PowerDNS allows it from loopback only, by default: allow-axfr-ips) or fails is
 * asked by queries, and not asked to transfer again for a while.
 */
#define XFR_FACTOR	   5u
#define XFR_MIN_ROWS	   32u
#define XFR_REFUSED_MS	   600000u /* refused: no transfer for ten minutes */
#define XFR_FAILED_MS	   60000u  /* failed otherwise: a minute */
#define XFR_TIMEOUT_MS	   2000u   /* plus a millisecond per 20 RRsets of the zone */
#define XFR_TIMEOUT_PER_MS 20u

static void xfr_done(void *arg, int err, int rcode, struct prism_strset *present)
{
	struct worker *w = arg;
	struct dnscheck *dc = &w->dns;
	struct wzone *z = dc->xfr_zone;
	dc->xfr = NULL;
	dc->xfr_zone = NULL;
	if (err == 0) {
		char lower[PRISM_DNAME_MAX + 1];
		for (size_t q = dc->nsend; q < dc->nq; q++) {
			const struct prism_ledger_row *row = &dc->r->rows[dc->rows[q]];
			if (prism_name_lower(row->name, strlen(row->name), lower, sizeof(lower)) !=
			    0)
				continue; /* stays present: a read decides */
			bool there = prism_strset_has_joined(present, lower, ' ', row->type) ||
				     (strcmp(row->type, "CNAME") != 0 &&
				      prism_strset_has_joined(present, lower, ' ', "CNAME"));
			dc->state[q] = there ? DQ_PRESENT : DQ_ABSENT;
		}
		z->est = present->n;
	} else {
		char rb[16];
		bool refused = err == PRISM_EUPSTREAM;
		dc->xfr_until = uv_now(w->e->loop) + (refused ? XFR_REFUSED_MS : XFR_FAILED_MS);
		prism_log(refused ? PRISM_LOG_INFO : PRISM_LOG_WARNING, TAG,
			  "target %s: no transfer of %s from the DNS port (%s): new names are "
			  "checked by a query each for %u s",
			  w->t.name, z->name,
			  refused ? prism_rcode_name(rcode, rb, sizeof(rb)) : prism_strerror(err),
			  (refused ? XFR_REFUSED_MS : XFR_FAILED_MS) / 1000);
		dc->nsend = dc->nq; /* the rows go by query after all */
	}
	wzone_unref(z);
	dns_send_more(w);
}

/* Read one zone by AXFR for its rows of the check (the zone with the most), when cheaper:
 * those rows go last in dc->rows, past dc->nsend. */
static void xfr_choose(struct worker *w, struct round *r)
{
	struct dnscheck *dc = &w->dns;
	if (dc->nq < XFR_MIN_ROWS || uv_now(w->e->loop) < dc->xfr_until)
		return;
	struct wzone *best = NULL;
	for (size_t q = 0; q < dc->nq; q++) {
		struct wzone *z = find_zone(w, r->rows[dc->rows[q]].zone);
		if (z != NULL && ++z->ncheck > (best != NULL ? best->ncheck : 0))
			best = z;
	}
	size_t c = best != NULL ? best->ncheck : 0;
	for (size_t q = 0; q < dc->nq; q++) {
		struct wzone *z = find_zone(w, r->rows[dc->rows[q]].zone);
		if (z != NULL)
			z->ncheck = 0;
	}
	/* the size is known once the zone was read (or made) */
	if (c < XFR_MIN_ROWS || !best->zs.read || best->est >= (size_t)XFR_FACTOR * c)
		return;
	size_t *order = malloc(dc->nq * sizeof(*order));
	if (order == NULL)
		return;
	uint64_t timeout = XFR_TIMEOUT_MS + best->est / XFR_TIMEOUT_PER_MS;
	if (prism_xfr_start(w->e->loop, (const struct sockaddr *)&dc->addr, best->name, timeout,
			    xfr_done, w, &dc->xfr) != 0) {
		free(order);
		return;
	}
	/* the other zones' rows first (by query), then the transferred zone's */
	size_t k = 0;
	for (int last = 0; last < 2; last++)
		for (size_t q = 0; q < dc->nq; q++) {
			const char *zone = r->rows[dc->rows[q]].zone;
			if ((strcmp(zone, best->name) == 0) == (last == 1))
				order[k++] = dc->rows[q];
		}
	memcpy(dc->rows, order, dc->nq * sizeof(*order));
	free(order);
	dc->nsend = dc->nq - c;
	dc->xfr_zone = best;
	best->refs++;
}

static bool check_dns_start(struct worker *w, struct round *r, size_t unchecked)
{
	struct dnscheck *dc = &w->dns;
	if (dc->broken || !dns_open(w))
		return false;
	dc->rows = malloc(unchecked * sizeof(*dc->rows));
	dc->state = malloc(unchecked);
	if (dc->rows == NULL || dc->state == NULL) {
		free(dc->rows);
		free(dc->state);
		dc->rows = NULL;
		dc->state = NULL;
		return false;
	}
	dc->nq = dc->waiting = dc->next = 0;
	dc->retries = 0;
	dc->qbase = (uint16_t)arc4random(); /* query ids: not guessable */
	for (size_t i = 0; i < r->nrows; i++) {
		if (r->cls[i] != ROW_CHECK || (r->early != NULL && r->early[i] != EARLY_NONE))
			continue;
		dc->rows[dc->nq] = i;
		dc->state[dc->nq++] = DQ_PRESENT; /* unless answered */
	}
	dc->nsend = dc->nq;
	dc->r = r;
	if (!r->checking_early) /* else the round before is still pushed */
		w->state = W_CHECKING;
	xfr_choose(w, r);
	dns_send_more(w);
	return true;
}

/* ---- fetching ---- */

static uint64_t row_print(const char *zone, const char *name, const char *type)
{
	return fnv(name, type) ^ (fnv(zone, "") * 31);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Drop rows being pushed by the previous round (still pending until it is recorded). */
static void drop_excluded(struct round *r, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < r->nrows; i++) {
		struct prism_ledger_row *row = &r->rows[i];
		uint64_t fp = row_print(row->zone, row->name, row->type);
		bool skip = k >= max ||
			    bsearch(&fp, r->exclude, r->nexclude, sizeof(fp), u64_cmp) != NULL;
		if (skip) {
			free(row->zone);
			free(row->name);
			free(row->type);
			free(row->content);
		} else {
			r->rows[k++] = *row;
		}
	}
	r->nrows = k;
}

static int fetch_run(struct prism_store *s, const struct prism_store_api *api,
		     struct prism_store_job *job)
{
	struct round *r = (struct round *)job;
	size_t max = r->w->e->opts.batch_max;
	int rc = api->ledger_due(s, r->w->t.name, now_ms(), max + r->nexclude, &r->rows, &r->nrows,
				 &r->next_due);
	if (rc == 0 && r->exclude != NULL)
		drop_excluded(r, max);
	return rc;
}

static void check_early(struct worker *w, struct round *n);

static void prefetch_done(struct prism_store_job *job, int err)
{
	struct round *n = (struct round *)job;
	struct worker *w = n->w;
	struct prism_engine *e = w->e;
	w->prefetching = false;
	/* kept only for the push it was read beside: once the worker went another way (a
	 * read first, a backoff), its rows are fetched again in their turn */
	bool pushing = w->state == W_APPLYING || w->state == W_CHECKING || w->state == W_WAITNEXT;
	if (err != 0 || e->stopping || n->nrows == 0 || w->failures > 0 || read_wanted(w) ||
	    !pushing || w->paused) {
		bool waiting = w->state == W_WAITNEXT && !e->stopping;
		int64_t next_due = n->next_due;
		round_free(n);
		if (waiting)
			go_idle(w, false, next_due);
	} else {
		free(n->exclude);
		n->exclude = NULL;
		n->nexclude = 0;
		w->next = n;
		if (w->state == W_WAITNEXT)
			after_push(w, true, 0);
		else if (w->state == W_APPLYING)
			check_early(w, n);
	}
	engine_unref(e);
}

/* While @p r is pushed, read the next batch: the writer is idle meanwhile. */
static void prefetch(struct worker *w, const struct round *r)
{
	if (w->prefetching || w->next != NULL || r->nrows < w->e->opts.batch_max ||
	    read_wanted(w) || w->paused)
		return;
	struct round *n = calloc(1, sizeof(*n));
	uint64_t *ex = malloc(r->nrows * sizeof(*ex));
	if (n == NULL || ex == NULL) {
		free(n);
		free(ex);
		return; /* no prefetch: the next round fetches as usual */
	}
	for (size_t i = 0; i < r->nrows; i++)
		ex[i] = row_print(r->rows[i].zone, r->rows[i].name, r->rows[i].type);
	qsort(ex, r->nrows, sizeof(*ex), u64_cmp);
	n->w = w;
	n->exclude = ex;
	n->nexclude = r->nrows;
	n->t_fetch = uv_hrtime();
	n->job.run = fetch_run;
	n->job.done = prefetch_done;
	w->prefetching = true;
	w->e->refs++;
	prism_store_writer_submit(w->e->writer, &n->job);
}

static void fetch_done(struct prism_store_job *job, int err)
{
	struct round *r = (struct round *)job;
	struct worker *w = r->w;
	struct prism_engine *e = w->e;
	if (err != 0 || e->stopping) {
		if (err != 0 && err != -ECANCELED)
			prism_log(PRISM_LOG_ERROR, TAG, "target %s: cannot read the ledger (%s)",
				  w->t.name, prism_strerror(err));
		if (err != 0)
			w->backoff_until = uv_now(e->loop) + 1000;
		w->round = NULL;
		round_free(r);
		go_idle(w, false, 0);
	} else if (r->nrows == 0 || w->paused) {
		/* nothing due, or paused while the rows were read: they stay due */
		int64_t next_due = r->next_due;
		if (!w->paused)
			lazy_settle(w, r);
		w->round = NULL;
		round_free(r);
		go_idle(w, false, next_due);
	} else {
		apply_rows(w, r);
	}
	engine_unref(e);
}

static void fetch(struct worker *w)
{
	struct round *r = calloc(1, sizeof(*r));
	if (r == NULL) {
		w->backoff_until = uv_now(w->e->loop) + 1000;
		schedule(w, 0);
		return;
	}
	r->w = w;
	r->t_fetch = uv_hrtime();
	r->job.run = fetch_run;
	r->job.done = fetch_done;
	w->round = r;
	w->state = W_FETCHING;
	w->e->refs++;
	prism_store_writer_submit(w->e->writer, &r->job);
}

/* ---- zones ---- */

/* Load the registry's zones for this target, and the zone deletions it owes. */
struct zones_job {
	struct prism_store_job job;
	struct worker *w;
	struct prism_served served;
};

static int zones_run(struct prism_store *s, const struct prism_store_api *api,
		     struct prism_store_job *job)
{
	struct zones_job *j = (struct zones_job *)job;
	return api->zones_served(s, j->w->t.name, &j->served);
}

static const struct prism_served_zone *served_find(const struct prism_served *sv, const char *name)
{
	for (size_t i = 0; i < sv->nzones; i++)
		if (strcmp(sv->zones[i].name, name) == 0)
			return &sv->zones[i];
	return NULL;
}

/* The worker's list becomes: its config zones and the registry's zones for it. */
static int zones_merge(struct worker *w, struct prism_served *sv)
{
	size_t k = 0;
	for (size_t z = 0; z < w->nzones; z++) {
		struct wzone *wz = w->zones[z];
		const struct prism_served_zone *sz = served_find(sv, wz->name);
		if (sz != NULL && !wz->config && sz->dnssec != wz->dnssec) {
			wz->dnssec = sz->dnssec;
			wz->dnssec_done = false;
		}
		if (sz != NULL && !wz->config && sz->adopt != wz->adopt) {
			/* an import made the zone adopt foreign RRsets: compare again now */
			wz->adopt = sz->adopt;
			wz->zs.force = true;
		}
		if (wz->config || sz != NULL) {
			w->zones[k++] = wz;
		} else {
			prism_log(PRISM_LOG_INFO, TAG, "target %s: zone %s no longer served",
				  w->t.name, wz->name);
			wzone_unref(wz);
		}
	}
	w->nzones = k;
	zindex_build(w);
	for (size_t i = 0; i < sv->nzones; i++) {
		const struct prism_served_zone *sz = &sv->zones[i];
		if (find_zone(w, sz->name) != NULL)
			continue;
		struct wzone *wz = wzone_new(sz->name, (const char *const *)sz->nameservers,
					     sz->soa, sz->kind, sz->adopt, false);
		if (wz == NULL || worker_add_zone(w, wz) != 0) {
			wzone_unref(wz);
			return PRISM_ENOMEM;
		}
		wz->dnssec = sz->dnssec;
		wz->dnssec_done = !sz->dnssec; /* signed at start; never unsigned unasked */
		wz->lazy = w->t.api->create_zone_rrsets != NULL;
		w->zone_ready = false;
	}
	dels_free(w);
	w->dels = sv->deletions;
	w->ndels = sv->ndeletions;
	sv->deletions = NULL;
	sv->ndeletions = 0;
	return 0;
}

static void zones_done(struct prism_store_job *job, int err)
{
	struct zones_job *j = (struct zones_job *)job;
	struct worker *w = j->w;
	struct prism_engine *e = w->e;
	if (!e->stopping) {
		w->state = W_IDLE;
		if (err == 0)
			err = zones_merge(w, &j->served);
		if (err != 0) {
			if (err != -ECANCELED)
				prism_log(PRISM_LOG_ERROR, TAG,
					  "target %s: cannot load the "
					  "registry's zones (%s)",
					  w->t.name, prism_strerror(err));
			w->zones_dirty = true;
			w->backoff_until = uv_now(e->loop) + 1000;
		}
		schedule(w, 0);
	}
	prism_served_free(&j->served);
	free(j);
	engine_unref(e);
}

static void load_zones(struct worker *w)
{
	struct zones_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		w->backoff_until = uv_now(w->e->loop) + 1000;
		schedule(w, 0);
		return;
	}
	w->zones_dirty = false;
	j->w = w;
	j->job.run = zones_run;
	j->job.done = zones_done;
	w->state = W_ZONES;
	w->e->refs++;
	prism_store_writer_submit(w->e->writer, &j->job);
}

/* A zone deletion carried out: forget it in the registry. */
struct deleted_job {
	struct prism_store_job job;
	struct prism_engine *e;
	char *target, *zone;
};

static int deleted_run(struct prism_store *s, const struct prism_store_api *api,
		       struct prism_store_job *job)
{
	struct deleted_job *j = (struct deleted_job *)job;
	return api->zone_deletion_done(s, j->target, j->zone);
}

static void deleted_done(struct prism_store_job *job, int err)
{
	struct deleted_job *j = (struct deleted_job *)job;
	if (err != 0 && err != -ECANCELED)
		prism_log(PRISM_LOG_ERROR, TAG, "target %s: cannot record the deletion of %s (%s)",
			  j->target, j->zone, prism_strerror(err));
	struct prism_engine *e = j->e;
	free(j->target);
	free(j->zone);
	free(j);
	engine_unref(e);
}

static void delete_cb(void *arg, int err, int status, const char *msg)
{
	struct worker *w = arg;
	w->state = W_IDLE;
	if (err != 0) {
		char buf[512];
		describe(buf, sizeof(buf), err, status, msg);
		target_failed(w, "zone deletion", err, status, buf);
		schedule(w, 0);
		return;
	}
	target_ok(w);
	char *zone = w->dels[0];
	memmove(w->dels, w->dels + 1, (w->ndels - 1) * sizeof(*w->dels));
	w->ndels--;
	prism_log(PRISM_LOG_INFO, TAG, "target %s: zone %s deleted", w->t.name, zone);
	struct deleted_job *j = calloc(1, sizeof(*j));
	if (j != NULL && (j->target = strdup(w->t.name)) != NULL) {
		j->e = w->e;
		j->zone = zone;
		j->job.run = deleted_run;
		j->job.done = deleted_done;
		w->e->refs++;
		prism_store_writer_submit(w->e->writer, &j->job);
	} else {
		/* the row stays: the next load asks for the (harmless) deletion again */
		free(j);
		free(zone);
	}
	schedule(w, 0);
}

static void delete_zone(struct worker *w)
{
	w->state = W_DELETING;
	int rc = w->t.api->delete_zone(w->t.handle, w->dels[0], delete_cb, w);
	if (rc != 0) {
		w->state = W_IDLE;
		target_failed(w, "zone deletion", rc, 0, prism_strerror(rc));
		schedule(w, 0);
	}
}

/* ---- reconciling ---- */

struct rec_job {
	struct prism_store_job job;
	struct worker *w;
	struct wzone *z; /* a reference */
	struct prism_actual_zone *actual;
	struct prism_reconcile_result res;
};

static int rec_run(struct prism_store *s, const struct prism_store_api *api,
		   struct prism_store_job *job)
{
	struct rec_job *j = (struct rec_job *)job;
	struct worker *w = j->w;
	return api->reconcile(s, w->t.name, j->z->name, j->actual, w->t.adopt || j->z->adopt,
			      false, now_ms() / 1000, &j->res);
}

static void rec_done(struct prism_store_job *job, int err)
{
	struct rec_job *j = (struct rec_job *)job;
	struct worker *w = j->w;
	struct prism_engine *e = w->e;
	const char *zone = j->z->name;
	if (err != 0 && err != -ECANCELED) {
		prism_log(PRISM_LOG_ERROR, TAG, "target %s: cannot reconcile %s (%s)", w->t.name,
			  zone, prism_strerror(err));
	} else if (err == 0) {
		const struct prism_reconcile_result *r = &j->res;
		enum prism_log_level lvl = r->create || r->update || r->remove || r->conflict
						   ? PRISM_LOG_INFO
						   : PRISM_LOG_DEBUG;
		prism_log(lvl, TAG,
			  "target %s: reconciled %s: %zu in step, %zu to create, %zu to update, "
			  "%zu to delete, %zu conflict(s)",
			  w->t.name, zone, r->in_sync, r->create, r->update, r->remove,
			  r->conflict);
		j->z->zs.read = true;
		j->z->zs.force = false;
		j->z->zs.check_read = false;
		j->z->zs.recheck_at = 0;
		j->z->zs.last_read = uv_now(e->loop);
		j->z->zs.read_took = (uint64_t)(now_ms() - j->z->zs.read_at);
	}
	prism_reconcile_result_free(&j->res);
	prism_actual_zone_free(j->actual);
	free(j->actual);
	wzone_unref(j->z);
	free(j);
	if (!e->stopping) {
		w->state = W_IDLE;
		if (err != 0)
			w->backoff_until = uv_now(e->loop) + 1000;
		schedule(w, 0);
	}
	engine_unref(e);
}

static void read_cb(void *arg, int err, int status, const char *msg,
		    struct prism_actual_zone *actual)
{
	struct worker *w = arg;
	struct wzone *z = w->reading;
	w->reading = NULL;
	w->state = W_IDLE;
	if (err != 0) {
		char buf[512];
		describe(buf, sizeof(buf), err, status, msg);
		if (status == 404 || (status == 0 && err == PRISM_ENOTFOUND))
			z->ok = false;
		if (z->zs.check_read) /* fetch the rows meanwhile: they show as failed */
			z->zs.force = z->zs.check_read = false;
		/* a failed pass counts as one: with a short reconcile_interval the next turn
		 * would read again and never fetch the rows that should show the failure */
		z->zs.last_read = uv_now(w->e->loop);
		wzone_unref(z);
		target_failed(w, "zone read", err, status, buf);
		schedule(w, 0);
		return;
	}
	struct rec_job *j = calloc(1, sizeof(*j));
	z->zs.read_at = 0;
	if (j == NULL || strset_build(&z->zs.foreign, actual, false) != 0 ||
	    strset_build(&z->zs.owned, actual, true) != 0) {
		free(j);
		wzone_unref(z);
		prism_actual_zone_free(actual);
		free(actual);
		w->backoff_until = uv_now(w->e->loop) + 1000;
		schedule(w, 0);
		return;
	}
	target_ok(w);
	z->zs.read_at = w->op_started;
	z->est = z->zs.foreign.n + z->zs.owned.n;
	j->w = w;
	j->z = z; /* the reference moves to the job */
	j->actual = actual;
	j->job.run = rec_run;
	j->job.done = rec_done;
	w->state = W_RECONCILING;
	w->e->refs++;
	prism_store_writer_submit(w->e->writer, &j->job);
}

static void read_zone(struct worker *w, struct wzone *z)
{
	w->state = W_READING;
	w->reading = wzone_ref(z);
	w->op_started = now_ms();
	int rc = w->t.api->read_zone(w->t.handle, z->name, read_cb, w);
	if (rc != 0) {
		if (z->zs.check_read)
			z->zs.force = z->zs.check_read = false;
		z->zs.last_read = uv_now(w->e->loop); /* as for a failed read: see read_cb */
		w->state = W_IDLE;
		wzone_unref(w->reading);
		w->reading = NULL;
		target_failed(w, "zone read", rc, 0, prism_strerror(rc));
		schedule(w, 0);
	}
}

/* The next zone to check; zones the target reported missing wait their turn. */
static struct wzone *next_zone(const struct worker *w)
{
	uint64_t now = uv_now(w->e->loop);
	for (size_t z = 0; z < w->nzones; z++)
		if (!w->zones[z]->ok && !w->zones[z]->lazy && w->zones[z]->missing_until <= now)
			return w->zones[z];
	return NULL;
}

static bool all_zones_ok(const struct worker *w)
{
	for (size_t z = 0; z < w->nzones; z++)
		if (!w->zones[z]->ok)
			return false;
	return true;
}

/* A target that does not create zones (RFC 2136) reports one missing: set it aside and
 * check it again after sync.retry_max; the target itself is fine. */
static void zone_missing(struct worker *w, struct wzone *z, const char *msg)
{
	z->missing_until = uv_now(w->e->loop) + (uint64_t)(w->e->opts.retry_max * 1000);
	w->zone_ready = false;
	prism_log(PRISM_LOG_WARNING, TAG,
		  "target %s: %s; its records wait, checked again in "
		  "%.0f s",
		  w->t.name, msg, w->e->opts.retry_max);
}

static void ensure_cb(void *arg, int err, int status, const char *msg)
{
	struct worker *w = arg;
	struct wzone *z = w->ensuring;
	w->ensuring = NULL;
	w->state = W_IDLE;
	if (err == PRISM_ENOTFOUND && status == 0) {
		zone_missing(w, z, msg);
		wzone_unref(z);
		schedule(w, 0);
		return;
	}
	if (err != 0) {
		char buf[512];
		describe(buf, sizeof(buf), err, status, msg);
		wzone_unref(z);
		target_failed(w, "zone check", err, status, buf);
		schedule(w, 0);
		return;
	}
	prism_log(PRISM_LOG_INFO, TAG, "target %s: zone %s %s", w->t.name, z->name,
		  status == 201 ? "created" : "ready");
	if (status == 201 && !z->zs.force) {
		zone_made(w, z, w->op_started); /* nothing but its SOA and NS set: no read */
	} else {
		z->ok = true;
		z->missing_until = 0;
	}
	wzone_unref(z);
	target_ok(w);
	w->zone_ready = all_zones_ok(w);
	schedule(w, 0);
}

static void ensure_zone(struct worker *w, struct wzone *z)
{
	w->state = W_ENSURING;
	w->ensuring = wzone_ref(z);
	w->op_started = now_ms();
	/* a registry zone is usually new to the target: create it at once (409: it exists) */
	int rc = z->config ? w->t.api->ensure_zone_kind(w->t.handle, z->name,
							(const char *const *)z->nameservers,
							z->soa, z->kind, ensure_cb, w)
			   : w->t.api->create_zone(w->t.handle, z->name,
						   (const char *const *)z->nameservers, z->soa,
						   z->kind, ensure_cb, w);
	if (rc != 0) {
		w->state = W_IDLE;
		wzone_unref(w->ensuring);
		w->ensuring = NULL;
		target_failed(w, "zone check", rc, 0, prism_strerror(rc));
		schedule(w, 0);
	}
}

/* ---- zone settings: kind (config zones of kind Master), then DNSSEC ---- */

static struct wzone *next_setting(const struct worker *w)
{
	for (size_t z = 0; z < w->nzones; z++)
		if (w->zones[z]->ok && (!w->zones[z]->kind_done || !w->zones[z]->dnssec_done))
			return w->zones[z];
	return NULL;
}

static const char *setting_name(const struct wzone *z)
{
	return z->kind_done ? "DNSSEC change" : "zone kind change";
}

static void setting_cb(void *arg, int err, int status, const char *msg)
{
	struct worker *w = arg;
	struct wzone *z = w->ensuring;
	w->ensuring = NULL;
	w->state = W_IDLE;
	if (err != 0) {
		char buf[512];
		describe(buf, sizeof(buf), err, status, msg);
		target_failed(w, setting_name(z), err, status, buf);
		wzone_unref(z);
		schedule(w, 0);
		return;
	}
	if (!z->kind_done) {
		prism_log(PRISM_LOG_INFO, TAG, "target %s: zone %s is of kind %s", w->t.name,
			  z->name, z->kind);
		z->kind_done = true;
	} else {
		prism_log(PRISM_LOG_INFO, TAG, "target %s: zone %s %s", w->t.name, z->name,
			  z->dnssec ? "signed (DNSSEC on, rectified)" : "unsigned (DNSSEC off)");
		z->dnssec_done = true;
	}
	wzone_unref(z);
	target_ok(w);
	schedule(w, 0);
}

static void set_setting(struct worker *w, struct wzone *z)
{
	w->state = W_ENSURING;
	w->ensuring = wzone_ref(z);
	int rc = !z->kind_done
			 ? w->t.api->set_kind(w->t.handle, z->name, z->kind, setting_cb, w)
			 : w->t.api->set_dnssec(w->t.handle, z->name, z->dnssec, setting_cb, w);
	if (rc != 0) {
		w->state = W_IDLE;
		wzone_unref(w->ensuring);
		w->ensuring = NULL;
		target_failed(w, setting_name(z), rc, 0, prism_strerror(rc));
		schedule(w, 0);
	}
}

static void notify_cb(void *arg, int err, int status, const char *msg)
{
	struct worker *w = arg;
	if (err != 0)
		prism_log(PRISM_LOG_WARNING, TAG, "target %s: NOTIFY not sent (%s%s%s)", w->t.name,
			  prism_strerror(err), msg && msg[0] ? ": " : "", msg ? msg : "");
}

/* A Master zone changed on the target: tell its secondaries. The answer only logs (the
 * target never calls back after it is closed, so no reference is needed). */
static void send_notify(struct worker *w, const char *zone)
{
	const struct wzone *wz = find_zone(w, zone);
	if (wz != NULL && wz->master && w->t.api->notify != NULL)
		(void)w->t.api->notify(w->t.handle, zone, notify_cb, w);
}

static void worker_run(struct worker *w)
{
	if (w->e->stopping)
		return;
	if (w->state != W_IDLE) {
		w->wanted = true;
		return;
	}
	if (w->paused)
		return; /* resumed by prism_engine_pause(…, false) */
	if (!may_work(w)) {
		w->push_first = true; /* when it takes over: the backlog first */
		return; /* another instance holds the target: woken when claims change */
	}
	uint64_t now = uv_now(w->e->loop);
	if (now < w->backoff_until) {
		schedule(w, 0);
		return;
	}
	if (w->zones_dirty) {
		load_zones(w);
		return;
	}
	if (w->ndels > 0) {
		delete_zone(w);
		return;
	}
	struct wzone *ez = next_zone(w);
	if (ez != NULL) {
		ensure_zone(w, ez);
		return;
	}
	ez = next_setting(w);
	if (ez != NULL) {
		set_setting(w, ez);
		return;
	}
	w->zone_ready = all_zones_ok(w);
	int64_t wait = 0, wall = now_ms();
	for (size_t z = 0; z < w->nzones; z++) {
		const struct zstate *zs = &w->zones[z]->zs;
		uint64_t ival = (uint64_t)w->e->opts.reconcile_interval * 1000;
		if (!w->zones[z]->ok)
			continue; /* reported missing: checked again later */
		if (zs->force && zs->read && wall < zs->read_after) {
			/* rows wait for this read: fetching them again now would only spin */
			if (wait == 0 || zs->read_after - wall < wait)
				wait = zs->read_after - wall;
			continue;
		}
		if (w->push_first && !zs->force)
			continue; /* reads after the backlog (go_idle) */
		if (!zs->read || zs->force || (ival > 0 && now >= zs->last_read + ival) ||
		    (zs->recheck_at != 0 && now >= zs->recheck_at)) {
			read_zone(w, w->zones[z]);
			return;
		}
	}
	if (wait > 0) {
		schedule(w, (uint64_t)wait);
		return;
	}
	fetch(w);
}

int prism_engine_new(uv_loop_t *loop, struct prism_store_writer *writer,
		     const struct prism_engine_opts *opts, struct prism_engine **out)
{
	if (loop == NULL || writer == NULL || opts == NULL || out == NULL || opts->batch_max == 0)
		return PRISM_EINVAL;
	struct prism_engine *e = calloc(1, sizeof(*e));
	if (e == NULL)
		return PRISM_ENOMEM;
	e->loop = loop;
	e->writer = writer;
	e->opts = *opts;
	e->opts.targets = NULL; /* each worker keeps its own copy */
	e->refs = 1;
	for (size_t i = 0; i < opts->ntargets; i++) {
		int rc = prism_engine_add_target(e, &opts->targets[i]);
		if (rc != 0) {
			prism_engine_stop(e);
			return rc;
		}
	}
	*out = e;
	return 0;
}

int prism_engine_add_target(struct prism_engine *e, const struct prism_engine_target *t)
{
	if (e == NULL || t == NULL || t->name == NULL || e->stopping)
		return PRISM_EINVAL;
	if (find_worker(e, t->name) != NULL)
		return PRISM_ECONFLICT;
	if (e->nworkers == e->wcap) {
		size_t nc = e->wcap ? e->wcap * 2 : 4;
		struct worker **g = realloc(e->workers, nc * sizeof(*g));
		if (g == NULL)
			return PRISM_ENOMEM;
		e->workers = g;
		e->wcap = nc;
	}
	struct worker *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return PRISM_ENOMEM;
	w->e = e;
	w->t = *t;
	w->paused = w->t.paused;
	w->zones_dirty = true; /* the registry's zones: loaded by the first round */
	int rc = 0;
	for (size_t z = 0; rc == 0 && z < w->t.nzones; z++) {
		const struct prism_engine_zone *cz = &w->t.zones[z];
		struct wzone *wz =
			wzone_new(cz->name, cz->nameservers, cz->soa, cz->kind, false, true);
		if (wz != NULL) {
			wz->dnssec = cz->dnssec;
			wz->dnssec_done = !cz->dnssec; /* never unsigned unasked */
			/* an existing zone becomes Master; never made Native again */
			wz->kind_done = !wz->master || w->t.api->set_kind == NULL;
		}
		rc = wz ? worker_add_zone(w, wz) : PRISM_ENOMEM;
		if (rc != 0)
			wzone_unref(wz);
	}
	if (rc != 0) {
		worker_zones_free(w);
		free(w);
		return PRISM_ENOMEM;
	}
	uv_timer_init(e->loop, &w->timer);
	w->timer.data = w;
	e->refs++;
	e->workers[e->nworkers++] = w;
	/* asked now, not at the first check: that one would wait for a whole zone read */
	if (w->t.dns_address == NULL && !w->t.api->conditional_writes)
		dns_discover(w);
	schedule(w, 0);
	return 0;
}

int prism_engine_remove_target(struct prism_engine *e, const char *name)
{
	size_t i = 0;
	if (e == NULL || name == NULL)
		return PRISM_EINVAL;
	while (i < e->nworkers && strcmp(e->workers[i]->t.name, name) != 0)
		i++;
	if (i == e->nworkers)
		return PRISM_ENOTFOUND;
	struct worker **g = realloc(e->removed, (e->nremoved + 1) * sizeof(*g));
	if (g == NULL)
		return PRISM_ENOMEM;
	e->removed = g;
	struct worker *w = e->workers[i];
	/* like a pause for good: a request in flight ends (its results are not recorded:
	 * a target of the same name may take the rows over), then the worker sends nothing
	 * more; its store jobs and the target's callbacks still point at it, so it is freed
	 * with the engine */
	w->paused = true;
	w->removed = true;
	uv_timer_stop(&w->timer);
	memmove(&e->workers[i], &e->workers[i + 1], (e->nworkers - i - 1) * sizeof(*g));
	e->nworkers--;
	e->removed[e->nremoved++] = w;
	return 0;
}

bool prism_engine_busy(const struct prism_engine *e, const char *target)
{
	const struct worker *w = worker_named(e, target);
	return w != NULL && w->state != W_IDLE;
}

void prism_engine_wake(struct prism_engine *e)
{
	if (e == NULL || e->stopping)
		return;
	for (size_t i = 0; i < e->nworkers; i++) {
		struct worker *w = e->workers[i];
		if (w->state != W_IDLE) {
			w->wanted = true;
			continue;
		}
		/* keep an earlier retry timer; only pull a later one forward */
		uint64_t due = uv_now(e->loop) + e->opts.coalesce_ms;
		if (!uv_is_active((uv_handle_t *)&w->timer) ||
		    uv_timer_get_due_in(&w->timer) > e->opts.coalesce_ms)
			if (due >= w->backoff_until)
				schedule(w, e->opts.coalesce_ms);
	}
}

static void plan_abandon_all(struct prism_engine *e);

static void timer_closed_cb(uv_handle_t *h)
{
	struct worker *w = h->data;
	engine_unref(w->e);
}

/* A round waiting for its target is abandoned: the target closes next and never calls
 * back; rounds waiting for the store are freed by their done. */
static void worker_abandon(struct worker *w)
{
	dns_abort(w); /* a check of this round or of the next, while their rounds are there */
	if (w->state == W_APPLYING || w->state == W_CHECKING) {
		round_free(w->round);
		w->round = NULL;
	}
	round_free(w->next); /* prefetched, not started */
	w->next = NULL;
}

/* The worker's handles: each close callback drops one reference of the engine. */
static void worker_close(struct worker *w)
{
	uv_close((uv_handle_t *)&w->timer, timer_closed_cb);
	if (w->dns.open) {
		uv_close((uv_handle_t *)&w->dns.udp, dns_closed_cb);
		uv_close((uv_handle_t *)&w->dns.timer, dns_closed_cb);
	}
}

void prism_engine_stop(struct prism_engine *e)
{
	if (e == NULL)
		return;
	e->stopping = true;
	for (size_t i = 0; i < e->nworkers; i++)
		worker_abandon(e->workers[i]);
	for (size_t i = 0; i < e->nremoved; i++)
		worker_abandon(e->removed[i]);
	plan_abandon_all(e);
	for (size_t i = 0; i < e->nworkers; i++)
		worker_close(e->workers[i]);
	for (size_t i = 0; i < e->nremoved; i++)
		worker_close(e->removed[i]);
	engine_unref(e);
}

size_t prism_engine_ntargets(const struct prism_engine *e)
{
	return e ? e->nworkers : 0;
}

const struct prism_engine_target *prism_engine_target(const struct prism_engine *e, size_t i)
{
	return e != NULL && i < e->nworkers ? &e->workers[i]->t : NULL;
}

int prism_engine_target_info(const struct prism_engine *e, size_t i,
			     struct prism_engine_target_info *out)
{
	if (e == NULL || out == NULL || i >= e->nworkers)
		return PRISM_ENOTFOUND;
	const struct worker *w = e->workers[i];
	uint64_t now = uv_now(e->loop);
	*out = (struct prism_engine_target_info){
		.name = w->t.name,
		.state = w->paused	    ? "paused"
			 : w->unauthorised  ? "unauthorised"
			 : w->misconfigured ? "misconfigured"
			 : w->failures > 0  ? "backoff"
					    : "ok",
		.zone_ready = w->zone_ready,
		.failures = w->failures,
		.retry_in = w->backoff_until > now ? (w->backoff_until - now) / 1000.0 : 0,
		.requests = w->requests,
		.request_failures = w->request_failures,
		.rrsets_applied = w->rrsets_applied,
		.rrsets_failed = w->rrsets_failed,
		.last_success = w->last_success,
	};
	return 0;
}

int prism_engine_pause(struct prism_engine *e, const char *name, bool paused)
{
	struct worker *w = worker_named(e, name);
	if (w == NULL)
		return PRISM_ENOTFOUND;
	if (w->paused != paused)
		prism_log(PRISM_LOG_INFO, TAG, "target %s: %s", name,
			  paused ? "paused" : "resumed");
	w->paused = paused;
	if (!paused)
		schedule(w, 0);
	return 0;
}

void prism_engine_zones_changed(struct prism_engine *e)
{
	if (e == NULL || e->stopping)
		return;
	for (size_t i = 0; i < e->nworkers; i++) {
		e->workers[i]->zones_dirty = true;
		if (e->workers[i]->state == W_IDLE)
			schedule(e->workers[i], 0);
		else
			e->workers[i]->wanted = true;
	}
}

/* The worker of @p target, NULL when none (or the engine stops). */
static struct worker *find_worker(struct prism_engine *e, const char *target)
{
	return e == NULL || e->stopping ? NULL : worker_named(e, target);
}

/* Run @p w now, or as soon as what it does now is done. */
static void run_soon(struct worker *w)
{
	if (w->state == W_IDLE)
		schedule(w, 0);
	else
		w->wanted = true;
}

int prism_engine_resync(struct prism_engine *e, const char *target)
{
	struct worker *w = find_worker(e, target);
	if (w == NULL)
		return PRISM_ENOTFOUND;
	for (size_t z = 0; z < w->nzones; z++) {
		w->zones[z]->ok = false;
		w->zones[z]->zs.force = true;
	}
	w->zone_ready = false;
	w->zones_dirty = true;
	run_soon(w);
	return 0;
}

size_t prism_engine_resync_zone(struct prism_engine *e, const char *zone)
{
	size_t n = 0;
	if (e == NULL || zone == NULL || e->stopping)
		return 0;
	for (size_t i = 0; i < e->nworkers; i++) {
		struct worker *w = e->workers[i];
		struct wzone *z = find_zone(w, zone);
		if (z == NULL)
			continue;
		z->ok = false;
		z->zs.force = true;
		w->zone_ready = false;
		w->zones_dirty = true;
		run_soon(w);
		n++;
	}
	return n;
}

int prism_engine_credentials_changed(struct prism_engine *e, const char *target)
{
	struct worker *w = find_worker(e, target);
	if (w == NULL)
		return PRISM_ENOTFOUND;
	if (!w->unauthorised)
		return 0; /* the next request carries the new key anyway */
	prism_log(PRISM_LOG_INFO, TAG, "target %s: new credentials, trying again now", w->t.name);
	w->backoff_until = 0;
	for (size_t z = 0; z < w->nzones; z++)
		w->zones[z]->zs.force = true;
	run_soon(w);
	return 0;
}

int prism_engine_zone_names(const struct prism_engine *e, const char *target, char ***names,
			    size_t *n)
{
	const struct worker *w = worker_named(e, target);
	if (w == NULL || names == NULL || n == NULL)
		return PRISM_ENOTFOUND;
	char **v = calloc(w->nzones ? w->nzones : 1, sizeof(*v));
	if (v == NULL)
		return PRISM_ENOMEM;
	for (size_t z = 0; z < w->nzones; z++) {
		if ((v[z] = strdup(w->zones[z]->name)) == NULL) {
			for (size_t k = 0; k < z; k++)
				free(v[k]);
			free(v);
			return PRISM_ENOMEM;
		}
	}
	*names = v;
	*n = w->nzones;
	return 0;
}

int prism_engine_zone_state(const struct prism_engine *e, const char *target, const char *zone,
			    bool *ready)
{
	const struct worker *w = worker_named(e, target);
	const struct wzone *wz = w != NULL && zone != NULL ? find_zone(w, zone) : NULL;
	if (wz == NULL || ready == NULL)
		return PRISM_ENOTFOUND;
	*ready = wz->ok;
	return 0;
}

void prism_engine_reconcile(struct prism_engine *e)
{
	if (e == NULL || e->stopping)
		return;
	for (size_t i = 0; i < e->nworkers; i++) {
		for (size_t z = 0; z < e->workers[i]->nzones; z++)
			e->workers[i]->zones[z]->zs.force = true;
		if (e->workers[i]->state == W_IDLE)
			schedule(e->workers[i], 0);
		else
			e->workers[i]->wanted = true;
	}
}

/* ---- the plan: a dry run over every (target, zone) ---- */

struct plan {
	struct prism_engine *e;
	prism_engine_plan_cb cb;
	void *arg;
	struct prism_plan_zone *zones;
	size_t n, pending;
	struct wzone **zrefs; /* the zones of zones[], held until the callback ran */
};

struct plan_step {
	struct prism_store_job job;
	struct plan *p;
	size_t i;
	struct worker *w;
	struct wzone *z; /* borrowed from the plan's references */
	struct prism_actual_zone *actual;
	struct plan_step *prev, *next; /* engine's list of steps waiting for a target */
};

static void step_unlink(struct plan_step *st)
{
	struct prism_engine *e = st->p->e;
	if (st->prev)
		st->prev->next = st->next;
	else if (e->plan_reads == st)
		e->plan_reads = st->next;
	if (st->next)
		st->next->prev = st->prev;
	st->prev = st->next = NULL;
}

static void plan_finish_one(struct plan *p)
{
	if (--p->pending > 0)
		return;
	if (p->e->stopping) /* the caller must hear back to free what it holds */
		for (size_t i = 0; i < p->n; i++)
			if (p->zones[i].err == 0) {
				p->zones[i].err = -ECANCELED;
				snprintf(p->zones[i].errmsg, sizeof(p->zones[i].errmsg),
					 "prismd is shutting down");
			}
	p->cb(p->arg, p->zones, p->n);
	for (size_t i = 0; i < p->n; i++) {
		prism_reconcile_result_free(&p->zones[i].res);
		wzone_unref(p->zrefs[i]);
	}
	free(p->zrefs);
	free(p->zones);
	struct prism_engine *e = p->e;
	free(p);
	engine_unref(e);
}

static int plan_run(struct prism_store *s, const struct prism_store_api *api,
		    struct prism_store_job *job)
{
	struct plan_step *st = (struct plan_step *)job;
	struct prism_plan_zone *pz = &st->p->zones[st->i];
	return api->reconcile(s, pz->target, pz->zone, st->actual, st->w->t.adopt || st->z->adopt,
			      true, now_ms() / 1000, &pz->res);
}

static void plan_done(struct prism_store_job *job, int err)
{
	struct plan_step *st = (struct plan_step *)job;
	struct prism_plan_zone *pz = &st->p->zones[st->i];
	if (err != 0) {
		pz->err = err;
		snprintf(pz->errmsg, sizeof(pz->errmsg), "cannot compare: %s",
			 prism_strerror(err));
	}
	prism_actual_zone_free(st->actual);
	free(st->actual);
	struct plan *p = st->p;
	free(st);
	plan_finish_one(p);
}

static void plan_read_cb(void *arg, int err, int status, const char *msg,
			 struct prism_actual_zone *actual)
{
	struct plan_step *st = arg;
	struct prism_plan_zone *pz = &st->p->zones[st->i];
	step_unlink(st);
	if (err != 0 || st->p->e->stopping) {
		pz->err = err ? err : -ECANCELED;
		snprintf(pz->errmsg, sizeof(pz->errmsg), "%s%s%s",
			 status ? "cannot read the zone: HTTP error" : prism_strerror(err),
			 msg && msg[0] ? ": " : "", msg ? msg : "");
		prism_actual_zone_free(actual);
		free(actual);
		struct plan *p = st->p;
		free(st);
		plan_finish_one(p);
		return;
	}
	st->actual = actual;
	st->job.run = plan_run;
	st->job.done = plan_done;
	prism_store_writer_submit(st->p->e->writer, &st->job);
}

int prism_engine_plan(struct prism_engine *e, prism_engine_plan_cb cb, void *arg)
{
	if (e == NULL || cb == NULL || e->stopping)
		return PRISM_EINVAL;
	size_t n = 0;
	for (size_t i = 0; i < e->nworkers; i++)
		n += e->workers[i]->nzones;
	struct plan *p = calloc(1, sizeof(*p));
	struct wzone **zrefs = calloc(n ? n : 1, sizeof(*zrefs));
	if (p == NULL || zrefs == NULL ||
	    (p->zones = calloc(n ? n : 1, sizeof(*p->zones))) == NULL) {
		free(p);
		free(zrefs);
		return PRISM_ENOMEM;
	}
	*p = (struct plan){e, cb, arg, p->zones, n, 1, zrefs};
	e->refs++;
	size_t k = 0;
	for (size_t i = 0; i < e->nworkers; i++) {
		struct worker *w = e->workers[i];
		for (size_t z = 0; z < w->nzones; z++, k++) {
			struct wzone *wz = wzone_ref(w->zones[z]);
			p->zrefs[k] = wz;
			p->zones[k].target = w->t.name;
			p->zones[k].zone = wz->name;
			struct plan_step *st = calloc(1, sizeof(*st));
			int rc = st ? w->t.api->read_zone(w->t.handle, wz->name, plan_read_cb, st)
				    : PRISM_ENOMEM;
			if (rc != 0) {
				free(st);
				p->zones[k].err = rc;
				snprintf(p->zones[k].errmsg, sizeof(p->zones[k].errmsg), "%s",
					 prism_strerror(rc));
				continue;
			}
			st->p = p;
			st->i = k;
			st->w = w;
			st->z = wz;
			st->next = e->plan_reads;
			if (e->plan_reads)
				e->plan_reads->prev = st;
			e->plan_reads = st;
			p->pending++;
		}
	}
	plan_finish_one(p); /* drops the initial hold; calls back now if nothing started */
	return 0;
}

/* Plan reads are abandoned with their targets at stop: finish them here. */
static void plan_abandon_all(struct prism_engine *e)
{
	while (e->plan_reads != NULL) {
		struct plan_step *st = e->plan_reads;
		step_unlink(st);
		struct plan *p = st->p;
		free(st);
		plan_finish_one(p);
	}
}

void prism_engine_reload(struct prism_engine *e, const struct prism_engine_opts *opts)
{
	if (e == NULL || opts == NULL || opts->batch_max == 0)
		return;
	e->opts.retry_delay = opts->retry_delay;
	e->opts.retry_max = opts->retry_max;
	e->opts.coalesce_ms = opts->coalesce_ms;
	e->opts.batch_max = opts->batch_max;
	e->opts.reconcile_interval = opts->reconcile_interval;
	prism_engine_wake(e);
}
