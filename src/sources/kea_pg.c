/* SPDX-License-Identifier: MIT */
/*
 * Kea host reservations from PostgreSQL, on the loop.
 *
 * States: DOWN (waiting for the reconnect timer) → RESOLVING (the host name looked up with
 * uv_getaddrinfo, as libpq would block the loop doing it) → CONNECTING (PQconnectPoll steered by
 * uv_poll on PQsocket, which may change while libpq tries addresses) → LISTEN (the LISTEN
 * command in flight) → SELECT (the consistency query in flight) → READY (notifications)
 * ⇄ LOOKUP (a lookup of changed reservations in flight). LISTEN is sent before the query,
 * so a change made while the query runs arrives as a notification after it: nothing falls
 * between the snapshot and the stream.
 *
 * The snapshot becomes one store job (source_sync). A notification only names what changed
 * — a host_id (Prism's trigger, on hosts and on ipv6_reservations) or a dhcp_identifier
 * (the Kea service's own trigger, which has no host_id) — and the reservations named are
 * read back, up to LOOKUP_BATCH in one query, whenever the connection is idle: what is
 * applied is the rows as they are then, with their IPv6 reservation (which lives in another
 * table, written after the hosts row). A host_id that no longer exists is a deletion. The
 * rows are queued and applied in order as jobs of up to NOTIFY_BATCH, one at a time, never
 * while a sync job runs (they follow it). A reservation is keyed by its host_id.
 *
 * Lifetime: a reference for the timer, one per poll handle not yet closed, one per store job
 * in flight, and one until stop; freed when the last goes.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/conffile.h"
#include "common/log.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/kea.h"
#include "core/strv.h"
#include "sources/kea_pg.h"
#include "store/pg_loop.h"

#define TAG		 "kea-reservations"
#define NOTIFY_BATCH	 512u
#define NOTIFY_QUEUE_MAX 1000000u /* beyond: drop the queue and resync instead */
#define LOG_BURST	 5u
#define BACKOFF_FIRST_MS 500u
#define SYNC_RETRY_MS	 5000u
#define LOOKUP_BATCH	 512u
#define WANT_MAX	 100000u /* reservations named and not yet read back; beyond: resync */

enum state { S_DOWN, S_RESOLVING, S_CONNECTING, S_LISTEN, S_SELECT, S_READY, S_LOOKUP };

/* One reservation to apply: a put (fqdn set) or a removal of its key. */
struct item {
	char key[24];
	char ip[16];
	char ip6[46];
	bool has4, has6;
	char *fqdn; /* NULL: remove the key */
	const char *zone;
	struct prism_source_result res;
};

struct notify_job {
	struct prism_store_job job;
	struct prism_kea_pg *k;
	struct prism_source_ctx ctx;
	struct item *items;
	size_t n;
};

struct sync_job {
	struct prism_store_job job;
	struct prism_kea_pg *k;
	struct prism_source_ctx ctx;
	struct item *items;
	struct prism_source_entry *entries;
	size_t n;
	uint64_t t0; /* loop ms when the query was sent */
	struct prism_source_sync_result res;
};

struct prism_kea_pg {
	uv_loop_t *loop;
	struct prism_kea_pg_opts opts;
	char **keys, **vals;
	char channel[64];
	PGconn *conn;
	struct prism_pg_poll pp;
	uv_timer_t timer;
	struct prism_pg_start start; /* S_RESOLVING: its host looked up off the loop */
	enum state state;
	unsigned attempt;
	bool query_inflight;
	bool syncing;	 /* a sync job is in flight */
	bool sync_again; /* another sync was asked for meanwhile */
	bool notify_inflight;
	bool stopping;
	bool once_done;
	uint64_t sync_t0;
	struct item *queue; /* notifications waiting, in order */
	size_t nqueue, capqueue;
	unsigned refs;
	struct prism_ratelimit bad_log, name_log;
	struct prism_kea_pg_stats stats;
	/* reservations to read back: a host_id, or (ident set) a dhcp_identifier */
	struct want {
		int64_t id;
		char *ident;
	} * want, *inflight;
	size_t nwant, capwant, ninflight;
	bool service_seen; /* a payload of the Kea service's trigger came */
};

static void fail(struct prism_kea_pg *k, const char *what);
static void flush_notifies(struct prism_kea_pg *k);
static void start_sync(struct prism_kea_pg *k);

static void wants_free(struct want *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].ident);
	free(v);
}

/* Forget what was to be read back (a consistency sync reads everything instead). */
static void wants_drop(struct prism_kea_pg *k)
{
	wants_free(k->want, k->nwant);
	wants_free(k->inflight, k->ninflight);
	k->want = k->inflight = NULL;
	k->nwant = k->capwant = k->ninflight = 0;
}

static void unref(struct prism_kea_pg *k)
{
	if (--k->refs > 0)
		return;
	prism_kea_pg_params_free(k->keys, k->vals);
	for (size_t i = 0; i < k->nqueue; i++)
		free(k->queue[i].fqdn);
	free(k->queue);
	wants_drop(k);
	free(k);
}

static void items_free(struct item *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].fqdn);
	free(v);
}

/* ---- poll handles ---- */

static void poll_opened(void *owner)
{
	((struct prism_kea_pg *)owner)->refs++;
}

static void poll_closed(void *owner)
{
	unref(owner);
}

static void poll_cb(uv_poll_t *h, int status, int events);

/* Watch PQsocket for @p events; a new socket gets a new handle. */
static int poll_set(struct prism_kea_pg *k, int events)
{
	return prism_pg_poll_set(&k->pp, k->conn, events);
}

/* ---- connection ---- */

static uint64_t backoff_ms(struct prism_kea_pg *k)
{
	return prism_pg_backoff_ms(&k->attempt, BACKOFF_FIRST_MS,
				   (uint64_t)k->opts.reconnect_max * 1000);
}

static void timer_cb(uv_timer_t *t);

static void disconnect(struct prism_kea_pg *k)
{
	prism_pg_poll_drop(&k->pp);
	if (k->conn != NULL)
		PQfinish(k->conn);
	k->conn = NULL;
	k->query_inflight = false;
	k->state = S_DOWN;
	if (k->stats.connected)
		k->stats.connected = false;
}

static void fail_why(struct prism_kea_pg *k, const char *what, const char *why);

static void fail(struct prism_kea_pg *k, const char *what)
{
	fail_why(k, what, k->conn ? PQerrorMessage(k->conn) : "");
}

/* fail() with the reason given (or libpq's). */
static void fail_why(struct prism_kea_pg *k, const char *what, const char *why)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", why);
	msg[strcspn(msg, "\n")] = '\0';
	bool was_up = k->stats.connected;
	disconnect(k);
	k->stats.disconnects++;
	if (k->stopping)
		return;
	if (k->opts.once) {
		prism_log(PRISM_LOG_ERROR, TAG, "%s (%s)", what, msg[0] ? msg : "no reason given");
		k->once_done = true;
		if (k->opts.synced_cb != NULL)
			k->opts.synced_cb(k->opts.arg, PRISM_EUPSTREAM, NULL);
		return;
	}
	uint64_t delay = backoff_ms(k);
	prism_log(was_up ? PRISM_LOG_WARNING : PRISM_LOG_ERROR, TAG,
		  "%s (%s); trying again in %.1f s", what, msg[0] ? msg : "no reason given",
		  (double)delay / 1000);
	uv_timer_start(&k->timer, timer_cb, delay, 0);
}

static int send_query(struct prism_kea_pg *k, const char *sql, int nparams,
		      const char *const *params)
{
	k->query_inflight = true;
	return prism_pg_send(&k->pp, k->conn, sql, nparams, params);
}

static void connected(struct prism_kea_pg *k)
{
	char sql[96];
	PQsetnonblocking(k->conn, 1);
	k->stats.connects++;
	k->stats.connected = true;
	k->attempt = 0;
	prism_log(PRISM_LOG_INFO, TAG, "connected to PostgreSQL %s:%s, database %s",
		  PQhost(k->conn) ? PQhost(k->conn) : "?", PQport(k->conn) ? PQport(k->conn) : "?",
		  PQdb(k->conn) ? PQdb(k->conn) : "?");
	if (k->opts.once) {
		k->state = S_SELECT;
		k->sync_t0 = uv_now(k->loop);
		if (send_query(k, prism_kea_select_sql(), 0, NULL) != 0)
			fail(k, "cannot query the reservations");
		return;
	}
	wants_drop(k); /* the consistency sync that follows LISTEN reads them all */
	k->state = S_LISTEN;
	snprintf(sql, sizeof(sql), "LISTEN \"%s\"", k->channel);
	if (send_query(k, sql, 0, NULL) != 0)
		fail(k, "cannot LISTEN");
}

static void connect_poll(struct prism_kea_pg *k)
{
	switch (PQconnectPoll(k->conn)) {
	case PGRES_POLLING_READING:
		if (poll_set(k, UV_READABLE) != 0)
			fail(k, "cannot connect to PostgreSQL");
		break;
	case PGRES_POLLING_WRITING:
		if (poll_set(k, UV_WRITABLE) != 0)
			fail(k, "cannot connect to PostgreSQL");
		break;
	case PGRES_POLLING_OK: connected(k); break;
	default: fail(k, "cannot connect to PostgreSQL"); break;
	}
}

/* The connection is started (or could not be): go on connecting on the loop. */
static void started(void *owner, PGconn *conn, const char *why)
{
	struct prism_kea_pg *k = owner;
	k->state = S_DOWN;
	if (k->stopping) {
		if (conn != NULL)
			PQfinish(conn);
	} else if (conn == NULL) {
		fail_why(k, "cannot connect to PostgreSQL", why);
	} else {
		k->conn = conn;
		if (PQstatus(conn) == CONNECTION_BAD) {
			fail(k, "cannot connect to PostgreSQL");
		} else {
			k->state = S_CONNECTING;
			/* libpq: start as if PQconnectPoll had answered PGRES_POLLING_WRITING */
			if (poll_set(k, UV_WRITABLE) != 0)
				fail(k, "cannot connect to PostgreSQL");
		}
	}
	unref(k);
}

static void connect_start(struct prism_kea_pg *k)
{
	k->state = S_RESOLVING;
	k->refs++; /* until started() */
	prism_pg_start(&k->start, k->loop, (const char *const *)k->keys,
		       (const char *const *)k->vals, started, k);
}

static void timer_cb(uv_timer_t *t)
{
	struct prism_kea_pg *k = t->data;
	if (k->stopping)
		return;
	if (k->state == S_DOWN && !k->once_done)
		connect_start(k);
	else if (k->state == S_READY || k->state == S_LOOKUP)
		prism_kea_pg_resync(k);
}

/* ---- turning rows into items ---- */

/* A reservation's name as an item: the FQDN, or a removal when it does not count. Its
 * addresses: @p ip (Kea's bigint; 0 is none) when @p has_ip, @p ip6 (text) when not NULL. */
static void item_fill(struct prism_kea_pg *k, struct item *it, int64_t id, const char *host,
		      bool has_ip, int64_t ip, const char *ip6)
{
	char fqdn[PRISM_DNAME_MAX + 1], why[96];
	const char *zone = NULL;
	unsigned long long skipped;
	snprintf(it->key, sizeof(it->key), "%" PRId64, id);
	it->fqdn = NULL;
	it->has4 = has_ip && ip != 0 && prism_kea_ipv4(ip, it->ip, sizeof(it->ip)) == 0;
	it->has6 = ip6 != NULL && prism_kea_ipv6(ip6, it->ip6, sizeof(it->ip6)) == 0;
	if (host == NULL || host[0] == '\0' || !(it->has4 || it->has6))
		return;
	size_t hl = strlen(host);
	if (hl > 1 && host[hl - 1] == '.')
		hl--;
	char name[PRISM_DNAME_MAX + 1];
	snprintf(name, sizeof(name), "%.*s", (int)hl, host);
	if (!prism_name_filter_match(k->opts.filter, name))
		return;
	if (prism_srcname_fqdn(host, strlen(host), k->opts.zone, k->opts.dns.zones,
			       k->opts.dns.reserved, fqdn, sizeof(fqdn), &zone, why,
			       sizeof(why)) != 0) {
		k->stats.src.rejected++;
		if (prism_ratelimit_ok(&k->name_log, uv_now(k->loop), LOG_BURST, &skipped))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "reservation %" PRId64 ": hostname '%.64s' "
				  "ignored: %s (%llu more not logged)",
				  id, host, why, skipped);
		return;
	}
	it->fqdn = strdup(fqdn);
	it->zone = zone;
}

static struct prism_source_entry entry_of(const struct prism_kea_pg *k, const struct item *it)
{
	return (struct prism_source_entry){
		.source = PRISM_SOURCE_KEA_RESERVATION,
		.key = it->key,
		.fqdn = it->fqdn,
		.zone = it->zone,
		.families = PRISM_FAM_V4 | PRISM_FAM_V6,
		.ipv4 = it->has4 ? it->ip : NULL,
		.ipv6 = it->has6 ? it->ip6 : NULL,
		.ttl = k->opts.ttl,
		.forward = true,
		.reverse = k->opts.dns.auto_ptr,
	};
}

/* ---- the consistency sync ---- */

static int sync_run(struct prism_store *s, const struct prism_store_api *api,
		    struct prism_store_job *job)
{
	struct sync_job *j = (struct sync_job *)job;
	return api->source_sync(s, PRISM_SOURCE_KEA_RESERVATION, j->entries, j->n, &j->ctx,
				&j->res);
}

static void log_conflicts(struct prism_kea_pg *k, const struct prism_source_sync_result *r)
{
	for (size_t i = 0; i < r->conflicts && i < PRISM_SOURCE_SYNC_SHOWN; i++)
		prism_log(PRISM_LOG_WARNING, TAG,
			  "%s refused: the name is held by a host of "
			  "source %s",
			  r->shown[i].name, prism_source_name(r->shown[i].holder));
	if (r->conflicts > PRISM_SOURCE_SYNC_SHOWN)
		prism_log(PRISM_LOG_WARNING, TAG, "%zu more names refused for conflicts",
			  r->conflicts - PRISM_SOURCE_SYNC_SHOWN);
}

static void sync_done(struct prism_store_job *job, int err)
{
	struct sync_job *j = (struct sync_job *)job;
	struct prism_kea_pg *k = j->k;
	k->syncing = false;
	double secs = (double)(uv_now(k->loop) - j->t0) / 1000;
	if (err == 0) {
		k->stats.syncs++;
		k->stats.last_sync_seconds = secs;
		prism_source_stats_sync(&k->stats.src, &j->res);
		prism_log(PRISM_LOG_INFO, TAG,
			  "consistency sync of %zu reservation(s) in %.3f s: "
			  "%zu added, %zu updated, %zu removed, %zu unchanged, %zu conflict(s)",
			  j->n, secs, j->res.added, j->res.updated, j->res.removed,
			  j->res.unchanged, j->res.conflicts);
		log_conflicts(k, &j->res);
		if (j->res.dns_changed && k->opts.changed_cb != NULL && !k->stopping)
			k->opts.changed_cb(k->opts.arg);
	} else if (err != -ECANCELED) {
		prism_log(PRISM_LOG_ERROR, TAG, "consistency sync failed (%s)",
			  prism_strerror(err));
	}
	if (k->opts.synced_cb != NULL && !k->stopping)
		k->opts.synced_cb(k->opts.arg, err, err == 0 ? &j->res : NULL);
	items_free(j->items, j->n);
	free(j->entries);
	free(j);
	if (!k->stopping && !k->opts.once) {
		if (k->sync_again || (err != 0 && err != -ECANCELED)) {
			k->sync_again = false;
			uv_timer_start(&k->timer, timer_cb, err ? SYNC_RETRY_MS : 0, 0);
		} else if (k->opts.resync_interval > 0 &&
			   (k->state == S_READY || k->state == S_LOOKUP)) {
			uv_timer_start(&k->timer, timer_cb,
				       (uint64_t)k->opts.resync_interval * 1000, 0);
		}
		flush_notifies(k);
	}
	unref(k);
}

/* The snapshot's rows into a sync job. */
static void snapshot(struct prism_kea_pg *k, PGresult *res)
{
	size_t n = (size_t)PQntuples(res);
	struct sync_job *j = calloc(1, sizeof(*j));
	if (j != NULL) {
		j->items = calloc(n ? n : 1, sizeof(*j->items));
		j->entries = calloc(n ? n : 1, sizeof(*j->entries));
	}
	if (j == NULL || j->items == NULL || j->entries == NULL) {
		if (j != NULL) {
			free(j->items);
			free(j->entries);
		}
		free(j);
		prism_log(PRISM_LOG_ERROR, TAG, "consistency sync: out of memory");
		return;
	}
	for (size_t r = 0; r < n; r++) {
		const char *ip = PQgetvalue(res, (int)r, 2);
		struct item it;
		item_fill(k, &it, strtoll(PQgetvalue(res, (int)r, 0), NULL, 10),
			  PQgetvalue(res, (int)r, 1), !PQgetisnull(res, (int)r, 2),
			  strtoll(ip, NULL, 10),
			  PQgetisnull(res, (int)r, 3) ? NULL : PQgetvalue(res, (int)r, 3));
		if (it.fqdn == NULL)
			continue; /* filtered out or not a name: its host, if any, goes */
		j->items[j->n] = it;
		j->entries[j->n] = entry_of(k, &j->items[j->n]);
		j->n++;
	}
	j->k = k;
	j->t0 = k->sync_t0;
	j->ctx = prism_source_ctx(&k->opts.dns, (int64_t)time(NULL));
	j->job.run = sync_run;
	j->job.done = sync_done;
	k->syncing = true;
	k->refs++;
	prism_store_writer_submit(k->opts.writer, &j->job);
}

static void start_sync(struct prism_kea_pg *k)
{
	if (k->state != S_READY || k->syncing || k->query_inflight) {
		k->sync_again = true;
		return;
	}
	k->state = S_SELECT;
	k->sync_t0 = uv_now(k->loop);
	if (send_query(k, prism_kea_select_sql(), 0, NULL) != 0)
		fail(k, "cannot query the reservations");
}

void prism_kea_pg_resync(struct prism_kea_pg *k)
{
	if (k != NULL && !k->stopping)
		start_sync(k);
}

/* ---- notifications ---- */

static int notify_run(struct prism_store *s, const struct prism_store_api *api,
		      struct prism_store_job *job)
{
	struct notify_job *j = (struct notify_job *)job;
	for (size_t i = 0; i < j->n; i++) {
		struct item *it = &j->items[i];
		int rc;
		if (it->fqdn == NULL) {
			rc = api->source_remove(s, PRISM_SOURCE_KEA_RESERVATION, it->key, &j->ctx,
						&it->res);
		} else {
			struct prism_source_entry e = entry_of(j->k, it);
			rc = api->source_put(s, &e, &j->ctx, &it->res);
		}
		if (rc == 0 && api->job_mark_every > 0 &&
		    i % api->job_mark_every == api->job_mark_every - 1)
			rc = api->job_mark(s);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void notify_done(struct prism_store_job *job, int err)
{
	struct notify_job *j = (struct notify_job *)job;
	struct prism_kea_pg *k = j->k;
	bool changed = false;
	k->notify_inflight = false;
	if (err != 0) {
		k->stats.src.failed += j->n;
		if (err != -ECANCELED) {
			prism_log(PRISM_LOG_ERROR, TAG,
				  "cannot apply %zu change(s) (%s); a "
				  "consistency sync follows",
				  j->n, prism_strerror(err));
			k->sync_again = true;
		}
	} else {
		for (size_t i = 0; i < j->n; i++) {
			struct item *it = &j->items[i];
			char why[96];
			unsigned long long skipped;
			prism_source_stats_add(&k->stats.src, &it->res);
			changed |= it->res.dns_changed;
			if (it->res.outcome == PRISM_SOURCE_CONFLICT &&
			    prism_ratelimit_ok(&k->name_log, uv_now(k->loop), LOG_BURST, &skipped))
				prism_log(PRISM_LOG_WARNING, TAG,
					  "reservation %s: %s refused: the "
					  "name is %s (%llu more not logged)",
					  it->key, it->fqdn,
					  prism_source_conflict_text(&it->res, why, sizeof(why)),
					  skipped);
			else if (it->res.outcome != PRISM_SOURCE_UNCHANGED)
				prism_log(PRISM_LOG_INFO, TAG, "reservation %s: %s %s", it->key,
					  it->fqdn ? it->fqdn : "(removed)",
					  it->res.outcome == PRISM_SOURCE_ADDED	    ? "added"
					  : it->res.outcome == PRISM_SOURCE_UPDATED ? "updated"
										    : "removed");
		}
	}
	if (changed && k->opts.changed_cb != NULL && !k->stopping)
		k->opts.changed_cb(k->opts.arg);
	items_free(j->items, j->n);
	free(j);
	if (!k->stopping) {
		if (k->sync_again && !k->syncing)
			start_sync(k);
		flush_notifies(k);
	}
	unref(k);
}

/* Hand the queued notifications to the writer, one job at a time, never during a sync. */
static void flush_notifies(struct prism_kea_pg *k)
{
	if (k->nqueue == 0 || k->notify_inflight || k->syncing || k->stopping)
		return;
	size_t n = k->nqueue < NOTIFY_BATCH ? k->nqueue : NOTIFY_BATCH;
	struct notify_job *j = calloc(1, sizeof(*j));
	struct item *v = j ? malloc(n * sizeof(*v)) : NULL;
	if (v == NULL) {
		free(j);
		return; /* tried again at the next notification or job */
	}
	memcpy(v, k->queue, n * sizeof(*v));
	memmove(k->queue, k->queue + n, (k->nqueue - n) * sizeof(*v));
	k->nqueue -= n;
	j->items = v;
	j->n = n;
	j->k = k;
	j->ctx = prism_source_ctx(&k->opts.dns, (int64_t)time(NULL));
	j->job.run = notify_run;
	j->job.done = notify_done;
	k->notify_inflight = true;
	k->refs++;
	prism_store_writer_submit(k->opts.writer, &j->job);
}

/* Queue one item (taking its fqdn); on overflow the queue gives way to a resync. */
static void queue_push(struct prism_kea_pg *k, struct item *it)
{
	if (k->nqueue >= NOTIFY_QUEUE_MAX) {
		/* far behind: forget the queue, the sync reads the state instead */
		for (size_t i = 0; i < k->nqueue; i++)
			free(k->queue[i].fqdn);
		k->nqueue = 0;
		k->sync_again = true;
	}
	if (k->nqueue == k->capqueue) {
		size_t cap = k->capqueue ? k->capqueue * 2 : 64;
		struct item *v = realloc(k->queue, cap * sizeof(*v));
		if (v == NULL) {
			free(it->fqdn);
			k->sync_again = true;
			return;
		}
		k->queue = v;
		k->capqueue = cap;
	}
	k->queue[k->nqueue++] = *it;
}

/* ---- reading changed reservations back ---- */

static void want_add(struct prism_kea_pg *k, const struct prism_kea_notify *n)
{
	if (k->nwant >= WANT_MAX) {
		wants_drop(k); /* far behind: one consistency sync instead */
		start_sync(k);
		return;
	}
	if (k->nwant == k->capwant) {
		size_t cap = k->capwant ? k->capwant * 2 : 64;
		struct want *v = realloc(k->want, cap * sizeof(*v));
		if (v == NULL) {
			start_sync(k);
			return;
		}
		k->want = v;
		k->capwant = cap;
	}
	struct want *w = &k->want[k->nwant];
	w->id = n->id;
	w->ident = NULL;
	if (n->kea_service && (w->ident = strdup(n->identifier)) == NULL) {
		start_sync(k);
		return;
	}
	k->nwant++;
}

/* Send the next lookup when the connection is idle. */
static void lookup_next(struct prism_kea_pg *k)
{
	if (k->state != S_READY || k->query_inflight || k->nwant == 0 || k->stopping)
		return;
	size_t n = k->nwant < LOOKUP_BATCH ? k->nwant : LOOKUP_BATCH, ni = 0, nh = 0;
	int64_t ids[LOOKUP_BATCH];
	const char *idents[LOOKUP_BATCH];
	for (size_t i = 0; i < n; i++) {
		if (k->want[i].ident != NULL)
			idents[nh++] = k->want[i].ident;
		else
			ids[ni++] = k->want[i].id;
	}
	char *p1 = prism_kea_array_literal(ids, NULL, ni);
	char *p2 = prism_kea_array_literal(NULL, idents, nh);
	const char *params[2] = {p1, p2};
	k->inflight = k->want;
	k->ninflight = n;
	k->want = NULL;
	k->nwant -= n;
	k->capwant = 0;
	if (k->nwant > 0 && (k->want = malloc(k->nwant * sizeof(*k->want))) != NULL) {
		memcpy(k->want, k->inflight + n, k->nwant * sizeof(*k->want));
		k->capwant = k->nwant;
	} else if (k->nwant > 0) {
		for (size_t i = n; i < n + k->nwant; i++)
			free(k->inflight[i].ident);
		k->nwant = 0;
		k->sync_again = true;
	}
	k->state = S_LOOKUP;
	if (p1 == NULL || p2 == NULL || send_query(k, prism_kea_lookup_sql(), 2, params) != 0)
		fail(k, "cannot read the changed reservations");
	free(p1);
	free(p2);
}

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The rows read back become items; a host_id asked for and not found is a deletion. */
static void lookup_rows(struct prism_kea_pg *k, PGresult *res)
{
	size_t n = (size_t)PQntuples(res);
	int64_t *found = malloc((n ? n : 1) * sizeof(*found));
	if (found == NULL) {
		k->sync_again = true;
		return;
	}
	for (size_t r = 0; r < n; r++) {
		struct item it = {0};
		found[r] = strtoll(PQgetvalue(res, (int)r, 0), NULL, 10);
		item_fill(k, &it, found[r],
			  PQgetisnull(res, (int)r, 1) ? NULL : PQgetvalue(res, (int)r, 1),
			  !PQgetisnull(res, (int)r, 2),
			  strtoll(PQgetvalue(res, (int)r, 2), NULL, 10),
			  PQgetisnull(res, (int)r, 3) ? NULL : PQgetvalue(res, (int)r, 3));
		queue_push(k, &it);
	}
	qsort(found, n, sizeof(*found), id_cmp);
	for (size_t i = 0; i < k->ninflight; i++) {
		const struct want *w = &k->inflight[i];
		if (w->ident != NULL || bsearch(&w->id, found, n, sizeof(*found), id_cmp))
			continue;
		struct item it = {0};
		snprintf(it.key, sizeof(it.key), "%" PRId64, w->id);
		queue_push(k, &it);
	}
	free(found);
}

static void handle_notify(struct prism_kea_pg *k, const char *payload)
{
	struct prism_kea_notify n;
	char why[96];
	unsigned long long skipped;
	k->stats.notifications++;
	if (prism_kea_notify_parse(payload, strlen(payload), &n, why, sizeof(why)) != 0) {
		k->stats.bad_notifications++;
		if (prism_ratelimit_ok(&k->bad_log, uv_now(k->loop), LOG_BURST, &skipped))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "notification ignored: %s (%llu more not "
				  "logged)",
				  why, skipped);
		return;
	}
	if (n.kea_service && !k->service_seen) {
		k->service_seen = true;
		prism_log(k->opts.resync_interval ? PRISM_LOG_INFO : PRISM_LOG_WARNING, TAG,
			  "notifications of the Kea service's trigger on channel %s: reservations "
			  "are read back by dhcp_identifier; deletions are not notified and come "
			  "with the consistency syncs (kea.reservations.resync_interval: %u%s)",
			  k->channel, k->opts.resync_interval,
			  k->opts.resync_interval ? " s" : ", none: set one");
	}
	if (n.op == PRISM_KEA_TRUNCATE) {
		prism_log(PRISM_LOG_INFO, TAG, "a table was truncated: consistency sync");
		start_sync(k);
		return;
	}
	want_add(k, &n);
}

/* ---- I/O ---- */

static void query_done(struct prism_kea_pg *k)
{
	k->query_inflight = false;
	if (k->state == S_LISTEN) {
		k->state = S_READY;
		start_sync(k);
	} else if (k->state == S_SELECT) {
		k->state = S_READY;
		if (k->opts.once)
			disconnect(k); /* the snapshot is taken: nothing more to read */
	} else if (k->state == S_LOOKUP) {
		k->state = S_READY;
		wants_free(k->inflight, k->ninflight);
		k->inflight = NULL;
		k->ninflight = 0;
		if (k->sync_again && !k->syncing) {
			k->sync_again = false;
			start_sync(k);
		}
	}
	lookup_next(k);
}

static void take_result(struct prism_kea_pg *k, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	if (k->state == S_LISTEN && st != PGRES_COMMAND_OK) {
		prism_log(PRISM_LOG_ERROR, TAG, "LISTEN %s failed (%s)", k->channel,
			  PQresultErrorMessage(res));
	} else if (k->state == S_SELECT) {
		if (st == PGRES_TUPLES_OK) {
			snapshot(k, res);
		} else {
			char msg[256];
			snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
			msg[strcspn(msg, "\n")] = '\0';
			prism_log(PRISM_LOG_ERROR, TAG, "reading the reservations failed (%s)",
				  msg);
			if (k->opts.once && k->opts.synced_cb != NULL) {
				k->once_done = true;
				k->opts.synced_cb(k->opts.arg, PRISM_EUPSTREAM, NULL);
			}
		}
	} else if (k->state == S_LOOKUP) {
		if (st == PGRES_TUPLES_OK) {
			lookup_rows(k, res);
		} else {
			/* what was asked for is lost: a consistency sync reads it all */
			prism_log(PRISM_LOG_ERROR, TAG,
				  "reading changed reservations failed (%s); a "
				  "consistency sync follows",
				  PQresultErrorMessage(res));
			k->sync_again = true;
		}
	}
}

static void io(struct prism_kea_pg *k, int events)
{
	if ((events & UV_WRITABLE) && k->query_inflight && prism_pg_flush(&k->pp, k->conn) != 0) {
		fail(k, "connection to PostgreSQL lost");
		return;
	}
	if (!(events & UV_READABLE))
		return;
	if (!PQconsumeInput(k->conn) || PQstatus(k->conn) == CONNECTION_BAD) {
		fail(k, "connection to PostgreSQL lost");
		return;
	}
	while (k->conn != NULL && k->query_inflight && !PQisBusy(k->conn)) {
		PGresult *res = PQgetResult(k->conn);
		if (res == NULL) {
			query_done(k);
			break;
		}
		take_result(k, res);
		PQclear(res);
	}
	PGnotify *n;
	while (k->conn != NULL && (n = PQnotifies(k->conn)) != NULL) {
		if (strcmp(n->relname, k->channel) == 0)
			handle_notify(k, n->extra);
		PQfreemem(n);
	}
	lookup_next(k);
	flush_notifies(k);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct prism_kea_pg *k = h->data;
	if (k->stopping || h != k->pp.poll)
		return;
	/* a socket error while connecting (libuv's status for POLLERR) is PQconnectPoll's
	 * to read: it tries the next address or host, as in ha_pg.c */
	if (k->state == S_CONNECTING) {
		connect_poll(k);
		return;
	}
	if (status < 0) {
		fail(k, "connection to PostgreSQL lost");
		return;
	}
	io(k, events);
}

/* ---- start and stop ---- */

int prism_kea_pg_start(uv_loop_t *loop, const struct prism_kea_pg_opts *opts,
		       struct prism_kea_pg **out)
{
	if (loop == NULL || opts == NULL || out == NULL || opts->writer == NULL ||
	    opts->keys == NULL || opts->values == NULL || opts->channel == NULL ||
	    opts->zone == NULL)
		return PRISM_EINVAL;
	struct prism_kea_pg *k = calloc(1, sizeof(*k));
	if (k == NULL)
		return PRISM_ENOMEM;
	k->loop = loop;
	k->opts = *opts;
	k->refs = 2; /* until stop, and the timer */
	k->keys = prism_strv_dup(opts->keys);
	k->vals = prism_strv_dup(opts->values);
	snprintf(k->channel, sizeof(k->channel), "%s", opts->channel);
	uv_timer_init(loop, &k->timer);
	k->timer.data = k;
	k->pp = (struct prism_pg_poll){.loop = loop,
				       .cb = poll_cb,
				       .owner = k,
				       .opened = poll_opened,
				       .closed = poll_closed};
	if (k->keys == NULL || k->vals == NULL) {
		prism_kea_pg_stop(k);
		return PRISM_ENOMEM;
	}
	connect_start(k);
	*out = k;
	return 0;
}

int prism_kea_pg_set_params(struct prism_kea_pg *k, const char *const *keys,
			    const char *const *values)
{
	if (k == NULL || keys == NULL || values == NULL)
		return PRISM_EINVAL;
	char **nk = prism_strv_dup(keys), **nv = prism_strv_dup(values);
	if (nk == NULL || nv == NULL || prism_strv_len(values) != prism_strv_len(keys)) {
		prism_kea_pg_params_free(nk, nv);
		return PRISM_ENOMEM;
	}
	prism_kea_pg_params_free(k->keys, k->vals);
	k->keys = nk;
	k->vals = nv;
	return 0;
}

static void timer_closed_cb(uv_handle_t *h)
{
	unref(h->data);
}

void prism_kea_pg_stop(struct prism_kea_pg *k)
{
	if (k == NULL)
		return;
	k->stopping = true;
	disconnect(k);
	uv_close((uv_handle_t *)&k->timer, timer_closed_cb);
	unref(k);
}

void prism_kea_pg_stats(const struct prism_kea_pg *k, struct prism_kea_pg_stats *out)
{
	*out = k->stats;
}
