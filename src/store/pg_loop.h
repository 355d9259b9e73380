/* SPDX-License-Identifier: MIT */
/**
 * @file pg_loop.h
 * A libpq connection on the loop, the parts its users share (the Kea reservation follower,
 * the active-active claims): a uv_poll handle that follows PQsocket (which may change while
 * libpq tries one address after another), starting a connection without a blocking host
 * lookup, sending a query without blocking, and the reconnection backoff.
 */
#pragma once

#include <libpq-fe.h>
#include <stdint.h>
#include <uv.h>

struct prism_pg_poll {
	uv_loop_t *loop;
	uv_poll_cb cb; /**< its handle's data is @c owner */
	void *owner;
	void (*opened)(void *owner); /**< a handle was made: the owner takes a reference */
	void (*closed)(void *owner); /**< a handle is closed: the owner drops it */
	uv_poll_t *poll;	     /**< NULL: none */
	int fd;
};

/**
 * Starting a connection without blocking the loop. libpq looks a host name up itself, with
 * a blocking getaddrinfo(): such a name (the "host" parameter, else the host of a conninfo
 * string or URI given as the first "dbname", else PGHOST) is looked up first with
 * uv_getaddrinfo, and its addresses (up to 4, tried in turn by libpq) are passed as
 * "hostaddr". Addresses, socket directories, host lists and a given hostaddr go to libpq
 * as they are.
 */
struct prism_pg_start {
	uv_getaddrinfo_t gai;
	/** PQconnectStartParams' connection (the caller's), or NULL with a one-line reason */
	void (*done)(void *owner, PGconn *conn, const char *why);
	void *owner;
	const char *const *keys, *const *vals; /**< the owner's, NULL-terminated */
	char host[256];
};

/** Start connecting with @p keys and @p vals (libpq's, expand_dbname on). done() is called
 *  once, at once or after the lookup; the owner stays alive until then (a reference). */
void prism_pg_start(struct prism_pg_start *s, uv_loop_t *loop, const char *const *keys,
		    const char *const *vals, void (*done)(void *, PGconn *, const char *),
		    void *owner);

/** Watch @p c's socket for @p events; a new socket gets a new handle. 0 or PRISM_E* */
int prism_pg_poll_set(struct prism_pg_poll *p, PGconn *c, int events);

/** Stop watching and close the handle (closed() follows from its close callback). */
void prism_pg_poll_drop(struct prism_pg_poll *p);

/** Send @p sql (@p nparams < 0: PQsendQuery, several statements; else PQsendQueryParams)
 *  and flush what fits, watching for writability while some is left. 0 or PRISM_EUPSTREAM */
int prism_pg_send(struct prism_pg_poll *p, PGconn *c, const char *sql, int nparams,
		  const char *const *params);

/** On writability: flush more of a query. 0 or PRISM_EUPSTREAM */
int prism_pg_flush(struct prism_pg_poll *p, PGconn *c);

/** The next reconnection delay: @p first_ms doubled per attempt, capped at @p cap_ms, with
 *  jitter (75 % to 125 %, so many prismd do not reconnect in step); counts *attempt up. */
uint64_t prism_pg_backoff_ms(unsigned *attempt, uint64_t first_ms, uint64_t cap_ms);
