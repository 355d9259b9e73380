/* SPDX-License-Identifier: MIT */
/*
 * Heartbeats and claims of active-active instances, on the loop (see ha_pg.h).
 *
 * States: DOWN (reconnect timer) → CONNECTING (PQconnectPoll on uv_poll) → SETUP (schema,
 * function and LISTEN in flight) → IDLE ⇄ TICK (prism_ha_tick in flight); LEAVE (the
 * release in flight, then closed). One query at a time on the connection.
 *
 * Lifetime: a reference for each timer, one per poll handle not yet closed, one until stop.
 */
#include "store/ha_pg.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/error.h"
#include "core/ha.h"
#include "core/strv.h"
#include "store/pg_loop.h"

#define TAG		 "ha"
#define BACKOFF_FIRST_MS 500u
#define LEAVE_MAX_MS	 2000u
#define AGAIN_MS	 20u /* a second tick when the first changed the view */
#define LETGO_MS	 50u /* while a claim to hand over is busy */

/* Schema and function, created under an advisory lock (concurrent CREATE OR REPLACE of one
 * function fails), then LISTEN on both channels. The tick: heartbeat; release the claims
 * this instance holds but does not want; renew those it wants and holds; take those it
 * wants that are free or expired (the row lock of ON CONFLICT makes two takers wait for
 * each other; the second then sees an unexpired row and takes nothing); NOTIFY when it
 * joined or let claims go, so others tick at once. now() is the transaction's start,
 * after the request was sent: a lease counted locally from the send ends no later. */
static const char SETUP_SQL[] =
	"SET client_min_messages = warning;"
	"BEGIN;"
	"SELECT pg_advisory_xact_lock(7365431906);"
	"CREATE TABLE IF NOT EXISTS prism_ha_instance (id text PRIMARY KEY,"
	" started timestamptz NOT NULL DEFAULT now(), heartbeat timestamptz NOT NULL);"
	"CREATE TABLE IF NOT EXISTS prism_ha_claim (name text PRIMARY KEY, holder text NOT NULL,"
	" expires timestamptz NOT NULL, since timestamptz NOT NULL);"
	"CREATE OR REPLACE FUNCTION prism_ha_tick(me text, lease_ms int, wanted text[])"
	" RETURNS TABLE(kind text, name text, holder text, ms bigint) LANGUAGE plpgsql AS $f$"
	" DECLARE lease interval := lease_ms * interval '1 millisecond'; joined boolean;"
	" released int;"
	" BEGIN"
	"  INSERT INTO prism_ha_instance AS i (id, heartbeat) VALUES (me, now())"
	"   ON CONFLICT (id) DO UPDATE SET heartbeat = now() RETURNING (i.xmax = 0) INTO joined;"
	"  DELETE FROM prism_ha_claim c WHERE c.holder = me AND NOT (c.name = ANY (wanted));"
	"  GET DIAGNOSTICS released = ROW_COUNT;"
	"  INSERT INTO prism_ha_claim AS c (name, holder, expires, since)"
	"   SELECT w, me, now() + lease, now() FROM unnest(wanted) AS w"
	"   ON CONFLICT ON CONSTRAINT prism_ha_claim_pkey DO UPDATE"
	"   SET holder = me, expires = now() + lease,"
	"    since = CASE WHEN c.holder = me THEN c.since ELSE now() END"
	"   WHERE c.holder = me OR c.expires < now();"
	"  DELETE FROM prism_ha_instance i WHERE i.heartbeat < now() - interval '1 hour';"
	"  IF joined OR released > 0 THEN PERFORM pg_notify('" PRISM_HA_CHANNEL "', me); END IF;"
	"  RETURN QUERY SELECT 'i'::text, i.id, NULL::text,"
	"   (extract(epoch FROM now() - i.heartbeat) * 1000)::bigint FROM prism_ha_instance i"
	"   UNION ALL SELECT 'c'::text, c.name, c.holder,"
	"   (extract(epoch FROM c.expires - now()) * 1000)::bigint FROM prism_ha_claim c;"
	" END $f$;"
	"CREATE OR REPLACE FUNCTION prism_ha_leave(me text) RETURNS void LANGUAGE plpgsql AS $f$"
	" BEGIN"
	"  DELETE FROM prism_ha_claim WHERE holder = me;"
	"  DELETE FROM prism_ha_instance WHERE id = me;"
	"  PERFORM pg_notify('" PRISM_HA_CHANNEL "', me);"
	" END $f$;"
	/* the ledger's trigger that NOTIFYs prism_dirty is the registry's (migration 4 of
	 * pg.c): made here, it took a lock on ledger at every connect */
	"COMMIT;"
	"LISTEN " PRISM_HA_CHANNEL ";"
	"LISTEN " PRISM_HA_CHANNEL_DIRTY ";";

/* S_RESOLVING: the host name looked up off the loop (prism_pg_start) */
enum state { S_DOWN, S_RESOLVING, S_CONNECTING, S_SETUP, S_IDLE, S_TICK, S_LEAVE, S_GONE };

struct claim {
	char *name;
	uint64_t valid_until; /* loop ms; 0: not held */
	bool held_db;	      /* held in the database at the last tick */
};

struct prism_ha {
	uv_loop_t *loop;
	struct prism_ha_opts opts;
	char **keys, **vals;
	char id[PRISM_HA_ID_MAX + 1];
	PGconn *conn;
	struct prism_pg_poll pp;
	struct prism_pg_start start;
	uv_timer_t timer; /* reconnect, or the next tick */
	uv_timer_t leave_timer;
	uv_timer_t lapse_timer; /* at the earliest valid_until: claims lapse (changed_cb) */
	enum state state;
	unsigned attempt;
	bool query_inflight;
	bool tick_wanted; /* a tick was asked for while a query ran */
	bool again_done;  /* the quick second tick was used */
	bool stopping;
	bool setup_failed;
	bool reconnected; /* the first tick on a new connection wakes the work (changed_cb) */
	bool released;	  /* claims let go while building a tick: changed_cb after sending */
	bool leave_ready; /* stopping, and no work runs under the claims any more */
	uint64_t drain_until;
	unsigned refs;
	uint64_t sent_ms, last_ok_ms;
	bool have_view;
	struct claim *claims;
	size_t nclaims;
	struct prism_ha_instance *inst;
	size_t ninst;
	struct prism_ha_claim *view;
	size_t nview;
	void (*done_cb)(void *arg);
	void *done_arg;
	struct prism_ha_stats stats;
};

static void fail(struct prism_ha *ha, const char *what);
static void send_tick(struct prism_ha *ha);

static void view_free(struct prism_ha *ha)
{
	for (size_t i = 0; i < ha->ninst; i++)
		free(ha->inst[i].id);
	for (size_t i = 0; i < ha->nview; i++) {
		free(ha->view[i].name);
		free(ha->view[i].holder);
	}
	free(ha->inst);
	free(ha->view);
	ha->inst = NULL;
	ha->view = NULL;
	ha->ninst = ha->nview = 0;
}

static void claims_free(struct claim *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

static void unref(struct prism_ha *ha)
{
	if (--ha->refs > 0)
		return;
	prism_strv_free(ha->keys);
	prism_strv_free(ha->vals);
	claims_free(ha->claims, ha->nclaims);
	view_free(ha);
	free(ha);
}

/* ---- poll handle ---- */

static void poll_opened(void *owner)
{
	((struct prism_ha *)owner)->refs++;
}

static void poll_closed(void *owner)
{
	unref(owner);
}

static void poll_cb(uv_poll_t *h, int status, int events);

static int poll_set(struct prism_ha *ha, int events)
{
	return prism_pg_poll_set(&ha->pp, ha->conn, events);
}

/* ---- claims held locally ---- */

static struct claim *claim_find(const struct prism_ha *ha, const char *name)
{
	for (size_t i = 0; i < ha->nclaims; i++)
		if (strcmp(ha->claims[i].name, name) == 0)
			return &ha->claims[i];
	return NULL;
}

bool prism_ha_holds(const struct prism_ha *ha, const char *claim)
{
	if (ha == NULL || claim == NULL)
		return false;
	const struct claim *c = claim_find(ha, claim);
	return c != NULL && c->valid_until > uv_now(ha->loop);
}

static size_t held_now(const struct prism_ha *ha)
{
	size_t n = 0;
	for (size_t i = 0; i < ha->nclaims; i++)
		n += ha->claims[i].valid_until > uv_now(ha->loop);
	return n;
}

/* Whether this instance wants @p name: rendezvous among the live instances of the view and
 * itself; before any view, none (the first tick only says hello and reads the view). */
static bool wanted(const struct prism_ha *ha, const struct claim *c)
{
	if (ha->stopping || !ha->have_view)
		return false;
	const char *ids[ha->ninst + 1];
	size_t n = 0;
	bool me_in = false;
	for (size_t i = 0; i < ha->ninst; i++) {
		if (!ha->inst[i].alive)
			continue;
		me_in |= strcmp(ha->inst[i].id, ha->id) == 0;
		ids[n++] = ha->inst[i].id;
	}
	if (!me_in)
		ids[n++] = ha->id;
	size_t o = prism_ha_owner(c->name, ids, n);
	return o != SIZE_MAX && strcmp(ids[o], ha->id) == 0;
}

/* ---- connection ---- */

static uint64_t backoff_ms(struct prism_ha *ha)
{
	uint64_t cap = (uint64_t)(ha->opts.reconnect_max ? ha->opts.reconnect_max : 30) * 1000;
	return prism_pg_backoff_ms(&ha->attempt, BACKOFF_FIRST_MS, cap);
}

static void timer_cb(uv_timer_t *t);

static void disconnect(struct prism_ha *ha)
{
	prism_pg_poll_drop(&ha->pp);
	if (ha->conn != NULL)
		PQfinish(ha->conn);
	ha->conn = NULL;
	ha->query_inflight = false;
	ha->state = S_DOWN;
	ha->stats.connected = false;
}

static void timer_closed_cb(uv_handle_t *h);

static void finish_stop(struct prism_ha *ha)
{
	if (ha->state == S_GONE)
		return;
	disconnect(ha);
	ha->state = S_GONE;
	uv_timer_stop(&ha->leave_timer);
	uv_close((uv_handle_t *)&ha->leave_timer, timer_closed_cb);
	if (ha->done_cb != NULL)
		ha->done_cb(ha->done_arg);
	ha->done_cb = NULL;
}

static void fail_why(struct prism_ha *ha, const char *what, const char *why);

static void fail(struct prism_ha *ha, const char *what)
{
	fail_why(ha, what, ha->conn ? PQerrorMessage(ha->conn) : "");
}

/* fail() with the reason given (or libpq's). */
static void fail_why(struct prism_ha *ha, const char *what, const char *why)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s", why);
	msg[strcspn(msg, "\n")] = '\0';
	bool was_up = ha->stats.connected;
	disconnect(ha);
	ha->stats.disconnects++;
	if (ha->stopping) {
		finish_stop(ha);
		return;
	}
	uint64_t delay = backoff_ms(ha);
	/* the claims still count until their leases run out by our clock, then not */
	prism_log(was_up ? PRISM_LOG_WARNING : PRISM_LOG_ERROR, TAG,
		  "%s (%s); claims lapse when their leases run out; trying again in %.1f s", what,
		  msg[0] ? msg : "no reason given", (double)delay / 1000);
	uv_timer_start(&ha->timer, timer_cb, delay, 0);
}

static int send_query(struct prism_ha *ha, const char *sql, int nparams, const char *const *params)
{
	ha->query_inflight = true;
	return prism_pg_send(&ha->pp, ha->conn, sql, nparams, params);
}

static void connected(struct prism_ha *ha)
{
	PQsetnonblocking(ha->conn, 1);
	ha->stats.connects++;
	ha->stats.connected = true;
	ha->attempt = 0;
	prism_log(PRISM_LOG_INFO, TAG, "instance %s connected to PostgreSQL %s:%s", ha->id,
		  PQhost(ha->conn) ? PQhost(ha->conn) : "?",
		  PQport(ha->conn) ? PQport(ha->conn) : "?");
	ha->state = S_SETUP;
	ha->setup_failed = false;
	ha->reconnected = true;
	if (send_query(ha, SETUP_SQL, -1, NULL) != 0)
		fail(ha, "cannot set up the instance tables");
}

static void connect_poll(struct prism_ha *ha)
{
	switch (PQconnectPoll(ha->conn)) {
	case PGRES_POLLING_READING:
		if (poll_set(ha, UV_READABLE) != 0)
			fail(ha, "cannot connect to PostgreSQL");
		break;
	case PGRES_POLLING_WRITING:
		if (poll_set(ha, UV_WRITABLE) != 0)
			fail(ha, "cannot connect to PostgreSQL");
		break;
	case PGRES_POLLING_OK: connected(ha); break;
	default: fail(ha, "cannot connect to PostgreSQL"); break;
	}
}

/* The connection is started (or could not be): go on connecting on the loop. */
static void started(void *owner, PGconn *conn, const char *why)
{
	struct prism_ha *ha = owner;
	if (ha->stopping) {
		if (conn != NULL)
			PQfinish(conn);
	} else if (conn == NULL) {
		ha->state = S_DOWN;
		fail_why(ha, "cannot connect to PostgreSQL", why);
	} else {
		ha->conn = conn;
		ha->state = S_CONNECTING;
		if (PQstatus(conn) == CONNECTION_BAD || poll_set(ha, UV_WRITABLE) != 0)
			fail(ha, "cannot connect to PostgreSQL");
	}
	unref(ha);
}

static void connect_start(struct prism_ha *ha)
{
	ha->state = S_RESOLVING;
	ha->refs++; /* until started() */
	prism_pg_start(&ha->start, ha->loop, (const char *const *)ha->keys,
		       (const char *const *)ha->vals, started, ha);
}

static void timer_cb(uv_timer_t *t)
{
	struct prism_ha *ha = t->data;
	if (ha->stopping)
		return;
	if (ha->state == S_DOWN)
		connect_start(ha);
	else
		prism_ha_tick_now(ha);
}

/* A claim ran out by our clock (no renewal came in time): tell, and watch the next one. */
static void lapse_arm(struct prism_ha *ha);

static void lapse_cb(uv_timer_t *t)
{
	struct prism_ha *ha = t->data;
	if (ha->stopping)
		return;
	prism_log(PRISM_LOG_WARNING, TAG, "claims lapsed: not renewed within their leases");
	if (ha->opts.changed_cb != NULL)
		ha->opts.changed_cb(ha->opts.arg);
	lapse_arm(ha);
}

static void lapse_arm(struct prism_ha *ha)
{
	uint64_t now = uv_now(ha->loop), first = 0;
	for (size_t i = 0; i < ha->nclaims; i++) {
		uint64_t v = ha->claims[i].valid_until;
		if (v > now && (first == 0 || v < first))
			first = v;
	}
	if (first == 0)
		uv_timer_stop(&ha->lapse_timer);
	else
		uv_timer_start(&ha->lapse_timer, lapse_cb, first - now, 0);
}

/* ---- the tick ---- */

/* The wanted claims as a text[] literal: {"a","b"} with " and \ escaped. */
static char *wanted_array(struct prism_ha *ha)
{
	size_t cap = 3;
	for (size_t i = 0; i < ha->nclaims; i++)
		cap += 2 * strlen(ha->claims[i].name) + 3;
	char *s = malloc(cap), *p = s;
	if (s == NULL)
		return NULL;
	*p++ = '{';
	bool first = true;
	for (size_t i = 0; i < ha->nclaims; i++) {
		struct claim *c = &ha->claims[i];
		bool want = wanted(ha, c);
		/* work under a claim not wanted any more is let finish: keep it this tick */
		bool busy = c->held_db && ha->opts.busy_cb != NULL &&
			    ha->opts.busy_cb(ha->opts.arg, c->name);
		if (!want && c->valid_until > uv_now(ha->loop))
			ha->released = true;
		if (!want)
			c->valid_until = 0; /* no new work under it from now on */
		if (!want && !busy)
			continue;
		if (!first)
			*p++ = ',';
		first = false;
		*p++ = '"';
		for (const char *q = c->name; *q != '\0'; q++) {
			if (*q == '"' || *q == '\\')
				*p++ = '\\';
			*p++ = *q;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static void send_tick(struct prism_ha *ha)
{
	char lease[16];
	snprintf(lease, sizeof(lease), "%u", ha->opts.lease_seconds * 1000);
	char *arr = wanted_array(ha);
	if (arr == NULL) {
		fail(ha, "out of memory");
		return;
	}
	const char *params[3] = {ha->id, lease, arr};
	ha->state = S_TICK;
	ha->sent_ms = uv_now(ha->loop);
	int rc = send_query(ha, "SELECT kind, name, holder, ms FROM prism_ha_tick($1, $2, $3)", 3,
			    params);
	free(arr);
	if (rc != 0) {
		fail(ha, "cannot renew the claims");
	} else if (ha->released) {
		ha->released = false;
		if (ha->opts.changed_cb != NULL)
			ha->opts.changed_cb(ha->opts.arg);
	}
}

void prism_ha_tick_now(struct prism_ha *ha)
{
	if (ha == NULL || ha->stopping)
		return;
	if (ha->state == S_IDLE)
		send_tick(ha);
	else if (ha->state == S_TICK || ha->state == S_SETUP)
		ha->tick_wanted = true;
}

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Read the view and what this instance now holds; schedule the next tick. */
static void tick_rows(struct prism_ha *ha, PGresult *res)
{
	int rows = PQntuples(res);
	view_free(ha);
	ha->inst = calloc((size_t)rows + 1, sizeof(*ha->inst));
	ha->view = calloc((size_t)rows + 1, sizeof(*ha->view));
	if (ha->inst == NULL || ha->view == NULL) {
		view_free(ha);
		return;
	}
	uint64_t lease_ms = (uint64_t)ha->opts.lease_seconds * 1000;
	for (int r = 0; r < rows; r++) {
		const char *kind = PQgetvalue(res, r, 0);
		long long ms = strtoll(PQgetvalue(res, r, 3), NULL, 10);
		if (kind[0] == 'i') {
			struct prism_ha_instance *in = &ha->inst[ha->ninst];
			in->id = strdup(PQgetvalue(res, r, 1));
			if (in->id == NULL)
				continue;
			in->heartbeat_age_ms = ms < 0 ? 0 : (uint64_t)ms;
			in->alive = in->heartbeat_age_ms < lease_ms;
			ha->ninst++;
		} else {
			struct prism_ha_claim *c = &ha->view[ha->nview];
			c->name = strdup(PQgetvalue(res, r, 1));
			c->holder = dup_or_null(PQgetvalue(res, r, 2));
			if (c->name == NULL || c->holder == NULL) {
				free(c->name);
				free(c->holder);
				continue;
			}
			c->left_ms = ms;
			ha->nview++;
		}
	}
	for (size_t i = 0; i < ha->ninst; i++)
		for (size_t j = 0; j < ha->nview; j++)
			ha->inst[i].claims += ha->view[j].left_ms > 0 &&
					      strcmp(ha->view[j].holder, ha->inst[i].id) == 0;
	/* NOTIFYs sent while no connection listened are lost: the work they asked for is
	 * looked for once on every new connection */
	bool changed = ha->reconnected, again = false, letting_go = false;
	ha->reconnected = false;
	uint64_t until =
		prism_ha_valid_until(ha->sent_ms, ha->opts.lease_seconds, ha->opts.work_ms);
	uint64_t now = uv_now(ha->loop), foreign = 0;
	bool first_view = !ha->have_view;
	ha->have_view = true;
	for (size_t i = 0; i < ha->nclaims; i++) {
		struct claim *c = &ha->claims[i];
		const struct prism_ha_claim *v = NULL;
		for (size_t j = 0; j < ha->nview && v == NULL; j++)
			if (strcmp(ha->view[j].name, c->name) == 0)
				v = &ha->view[j];
		bool mine = v != NULL && strcmp(v->holder, ha->id) == 0 && v->left_ms > 0;
		bool was = c->valid_until > now;
		/* a claim let go this tick stays let go, even if a busy one was renewed */
		c->held_db = mine;
		bool want = wanted(ha, c);
		c->valid_until = mine && want ? until : 0;
		if (was != (c->valid_until > now))
			changed = true;
		if (want != mine)
			again = true;
		letting_go |= mine && !want; /* busy: released once its work is over */
		/* at another's expiry: it renewed by then, or it is dead and the claim is
		 * free (its heartbeat is as old as the lease: the view drops it) */
		if (!mine && v != NULL && v->left_ms > 0) {
			uint64_t e = now + (uint64_t)v->left_ms;
			if (foreign == 0 || e < foreign)
				foreign = e;
		}
	}
	ha->last_ok_ms = now;
	ha->stats.ticks++;
	lapse_arm(ha);
	if (changed && ha->opts.changed_cb != NULL)
		ha->opts.changed_cb(ha->opts.arg);
	uint64_t next = prism_ha_next_tick(ha->sent_ms, ha->opts.lease_seconds, foreign);
	/* the view changed what this instance wants: tick again soon (once), to take what
	 * is free and let go what another should have; the first view always does */
	if ((again && !ha->again_done) || first_view) {
		ha->again_done = true;
		if (now + AGAIN_MS < next)
			next = now + AGAIN_MS;
	} else {
		ha->again_done = false;
	}
	/* a claim to hand over waits for its work in flight: look again soon, not at the
	 * next renewal, so the other instance does not wait a third of the lease */
	if (letting_go && now + LETGO_MS < next)
		next = now + LETGO_MS;
	uv_timer_start(&ha->timer, timer_cb, next > now ? next - now : 0, 0);
}

static void send_leave(struct prism_ha *ha);

static void query_done(struct prism_ha *ha)
{
	ha->query_inflight = false;
	if (ha->state == S_LEAVE) {
		finish_stop(ha);
		return;
	}
	if (ha->state == S_SETUP && ha->setup_failed) {
		fail(ha, "cannot set up the instance tables");
		return;
	}
	bool setup = ha->state == S_SETUP;
	ha->state = S_IDLE;
	if (ha->stopping) {
		if (ha->leave_ready)
			send_leave(ha);
		return;
	}
	if (ha->tick_wanted || setup) {
		ha->tick_wanted = false;
		send_tick(ha);
	}
}

static void take_result(struct prism_ha *ha, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (ha->state == S_TICK && st == PGRES_TUPLES_OK && !ha->stopping)
			tick_rows(ha, res);
		return;
	}
	char msg[256];
	snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(res));
	msg[strcspn(msg, "\n")] = '\0';
	if (ha->state == S_SETUP) {
		ha->setup_failed = true;
		prism_log(PRISM_LOG_ERROR, TAG, "setting up the instance tables failed (%s)", msg);
	} else if (ha->state == S_TICK) {
		ha->stats.tick_failures++;
		prism_log(PRISM_LOG_ERROR, TAG, "renewing the claims failed (%s)", msg);
		if (ha->stopping)
			return;
		uint64_t r = prism_ha_renew_ms(ha->opts.lease_seconds);
		uv_timer_start(&ha->timer, timer_cb, r, 0);
	} else if (ha->state == S_LEAVE) {
		prism_log(PRISM_LOG_WARNING, TAG, "releasing the claims failed (%s)", msg);
	}
}

static void handle_notify(struct prism_ha *ha, const PGnotify *n)
{
	if (strcmp(n->relname, PRISM_HA_CHANNEL) == 0) {
		if (strcmp(n->extra, ha->id) != 0)
			prism_ha_tick_now(ha);
		return;
	}
	if (strcmp(n->relname, PRISM_HA_CHANNEL_DIRTY) == 0 && ha->opts.dirty_cb != NULL) {
		char claim[PRISM_HA_CLAIM_MAX];
		if (prism_ha_target_claim(n->extra, claim, sizeof(claim)) == 0 &&
		    prism_ha_holds(ha, claim))
			ha->opts.dirty_cb(ha->opts.arg, n->extra);
	}
}

static void io(struct prism_ha *ha, int events)
{
	if ((events & UV_WRITABLE) && ha->query_inflight &&
	    prism_pg_flush(&ha->pp, ha->conn) != 0) {
		fail(ha, "connection to PostgreSQL lost");
		return;
	}
	if (!(events & UV_READABLE))
		return;
	if (!PQconsumeInput(ha->conn) || PQstatus(ha->conn) == CONNECTION_BAD) {
		fail(ha, "connection to PostgreSQL lost");
		return;
	}
	while (ha->conn != NULL && ha->query_inflight && !PQisBusy(ha->conn)) {
		PGresult *res = PQgetResult(ha->conn);
		if (res == NULL) {
			query_done(ha);
			break;
		}
		take_result(ha, res);
		PQclear(res);
	}
	PGnotify *n;
	while (ha->conn != NULL && (n = PQnotifies(ha->conn)) != NULL) {
		handle_notify(ha, n);
		PQfreemem(n);
	}
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct prism_ha *ha = h->data;
	if (h != ha->pp.poll || ha->state == S_GONE)
		return;
	/* While connecting, an error on the socket (a refused connect is POLLERR, which libuv
	 * reports as a status) is PQconnectPoll's to read: it goes on to the next host of the
	 * URL, so a primary switchover finds the new primary. */
	if (ha->state == S_CONNECTING) {
		connect_poll(ha);
		return;
	}
	if (status < 0) {
		fail(ha, "connection to PostgreSQL lost");
		return;
	}
	io(ha, events);
}

/* ---- start and stop ---- */

int prism_ha_start(uv_loop_t *loop, const struct prism_ha_opts *opts, struct prism_ha **out)
{
	if (loop == NULL || opts == NULL || out == NULL || opts->keys == NULL ||
	    opts->values == NULL || !prism_ha_id_ok(opts->instance_id) ||
	    opts->lease_seconds == 0 ||
	    prism_ha_valid_until(0, opts->lease_seconds, opts->work_ms) == 0)
		return PRISM_EINVAL;
	struct prism_ha *ha = calloc(1, sizeof(*ha));
	if (ha == NULL)
		return PRISM_ENOMEM;
	ha->loop = loop;
	ha->opts = *opts;
	ha->refs = 4; /* until stop, and the three timers */
	snprintf(ha->id, sizeof(ha->id), "%s", opts->instance_id);
	ha->keys = prism_strv_dup(opts->keys);
	ha->vals = prism_strv_dup(opts->values);
	uv_timer_init(loop, &ha->timer);
	uv_timer_init(loop, &ha->leave_timer);
	uv_timer_init(loop, &ha->lapse_timer);
	ha->timer.data = ha->leave_timer.data = ha->lapse_timer.data = ha;
	ha->pp = (struct prism_pg_poll){.loop = loop,
					.cb = poll_cb,
					.owner = ha,
					.opened = poll_opened,
					.closed = poll_closed};
	if (ha->keys == NULL || ha->vals == NULL) {
		prism_ha_stop(ha, NULL, NULL);
		return PRISM_ENOMEM;
	}
	connect_start(ha);
	*out = ha;
	return 0;
}

int prism_ha_set_claims(struct prism_ha *ha, const char *const *names, size_t n)
{
	if (ha == NULL || (names == NULL && n > 0))
		return PRISM_EINVAL;
	struct claim *v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct claim *old = claim_find(ha, names[i]);
		v[i].name = strdup(names[i]);
		if (v[i].name == NULL) {
			claims_free(v, i);
			return PRISM_ENOMEM;
		}
		if (old != NULL) {
			v[i].valid_until = old->valid_until;
			v[i].held_db = old->held_db;
		}
	}
	claims_free(ha->claims, ha->nclaims);
	ha->claims = v;
	ha->nclaims = n;
	prism_ha_tick_now(ha);
	return 0;
}

static void leave_timer_cb(uv_timer_t *t)
{
	struct prism_ha *ha = t->data;
	prism_log(PRISM_LOG_WARNING, TAG,
		  "releasing the claims took too long; they lapse "
		  "when their leases run out");
	finish_stop(ha);
}

static void timer_closed_cb(uv_handle_t *h)
{
	unref(h->data);
}

static void send_leave(struct prism_ha *ha)
{
	const char *params[1] = {ha->id};
	ha->state = S_LEAVE;
	if (send_query(ha, "SELECT prism_ha_leave($1)", 1, params) != 0)
		finish_stop(ha);
}

static bool any_busy(struct prism_ha *ha)
{
	for (size_t i = 0; i < ha->nclaims; i++)
		if (ha->claims[i].held_db && ha->opts.busy_cb != NULL &&
		    ha->opts.busy_cb(ha->opts.arg, ha->claims[i].name))
			return true;
	return false;
}

/* Draining: work started under the claims runs out (at most work_ms, within the leases),
 * then the release is sent; it gets LEAVE_MAX_MS. */
static void drain_cb(uv_timer_t *t)
{
	struct prism_ha *ha = t->data;
	if (any_busy(ha) && uv_now(ha->loop) < ha->drain_until) {
		uv_timer_start(&ha->leave_timer, drain_cb, AGAIN_MS, 0);
		return;
	}
	ha->leave_ready = true;
	uv_timer_start(&ha->leave_timer, leave_timer_cb, LEAVE_MAX_MS, 0);
	if (ha->conn != NULL && ha->state == S_IDLE)
		send_leave(ha);
	else if (ha->conn == NULL || (ha->state != S_TICK && ha->state != S_SETUP))
		finish_stop(ha); /* else the release follows the query in flight */
}

void prism_ha_stop(struct prism_ha *ha, void (*done_cb)(void *arg), void *arg)
{
	if (ha == NULL)
		return;
	ha->stopping = true;
	ha->done_cb = done_cb;
	ha->done_arg = arg;
	for (size_t i = 0; i < ha->nclaims; i++)
		ha->claims[i].valid_until = 0; /* no new work from now on */
	ha->drain_until = uv_now(ha->loop) + ha->opts.work_ms;
	uv_timer_stop(&ha->timer);
	uv_close((uv_handle_t *)&ha->timer, timer_closed_cb);
	uv_close((uv_handle_t *)&ha->lapse_timer, timer_closed_cb);
	drain_cb(&ha->leave_timer);
	unref(ha);
}

void prism_ha_stats(const struct prism_ha *ha, struct prism_ha_stats *out)
{
	*out = ha->stats;
	out->held = held_now(ha);
	out->instances_alive = 0;
	for (size_t i = 0; i < ha->ninst; i++)
		out->instances_alive += ha->inst[i].alive;
	out->view_age_ms = ha->have_view ? uv_now(ha->loop) - ha->last_ok_ms : UINT64_MAX;
}

const struct prism_ha_instance *prism_ha_instances(const struct prism_ha *ha, size_t *n)
{
	*n = ha->ninst;
	return ha->inst;
}

const struct prism_ha_claim *prism_ha_claims(const struct prism_ha *ha, size_t *n)
{
	*n = ha->nview;
	return ha->view;
}

const char *prism_ha_id(const struct prism_ha *ha)
{
	return ha->id;
}
