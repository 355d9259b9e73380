/* SPDX-License-Identifier: MIT */
#include "store/pg_loop.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

struct handle {
	uv_poll_t h; /* first: the uv handle is the struct */
	void (*closed)(void *owner);
};

static void closed_cb(uv_handle_t *h)
{
	struct handle *ph = (struct handle *)h;
	void *owner = h->data;
	void (*closed)(void *) = ph->closed;
	free(ph);
	if (closed != NULL)
		closed(owner);
}

void prism_pg_poll_drop(struct prism_pg_poll *p)
{
	if (p->poll == NULL)
		return;
	uv_poll_stop(p->poll);
	uv_close((uv_handle_t *)p->poll, closed_cb);
	p->poll = NULL;
}

int prism_pg_poll_set(struct prism_pg_poll *p, PGconn *c, int events)
{
	int fd = PQsocket(c);
	if (fd < 0)
		return PRISM_EINVAL;
	if (p->poll != NULL && p->fd != fd)
		prism_pg_poll_drop(p);
	if (p->poll == NULL) {
		struct handle *ph = malloc(sizeof(*ph));
		if (ph == NULL)
			return PRISM_ENOMEM;
		if (uv_poll_init(p->loop, &ph->h, fd) != 0) {
			free(ph);
			return PRISM_EINVAL;
		}
		ph->h.data = p->owner;
		ph->closed = p->closed;
		p->poll = &ph->h;
		p->fd = fd;
		if (p->opened != NULL)
			p->opened(p->owner);
	}
	return uv_poll_start(p->poll, events, p->cb);
}

int prism_pg_flush(struct prism_pg_poll *p, PGconn *c)
{
	int f = PQflush(c);
	if (f < 0 ||
	    prism_pg_poll_set(p, c, f == 1 ? UV_READABLE | UV_WRITABLE : UV_READABLE) != 0)
		return PRISM_EUPSTREAM;
	return 0;
}

int prism_pg_send(struct prism_pg_poll *p, PGconn *c, const char *sql, int nparams,
		  const char *const *params)
{
	int ok = nparams < 0 ? PQsendQuery(c, sql)
			     : PQsendQueryParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
	if (!ok)
		return PRISM_EUPSTREAM;
	return prism_pg_flush(p, c);
}

uint64_t prism_pg_backoff_ms(unsigned *attempt, uint64_t first_ms, uint64_t cap_ms)
{
	uint64_t d = first_ms << (*attempt < 16 ? *attempt : 16);
	if (d > cap_ms)
		d = cap_ms;
	(*attempt)++;
	return d * 3 / 4 + uv_hrtime() % (d / 2 + 1);
}

/* ---- starting a connection ---- */

/* libpq's parameter @p key (the last given wins), or NULL. */
static const char *param_of(const char *const *keys, const char *const *vals, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; keys[i] != NULL; i++)
		if (strcmp(keys[i], key) == 0)
			v = vals[i];
	return v;
}

/* The host libpq would connect to, into @p buf; "" when none (the local socket). */
static void host_of(const char *const *keys, const char *const *vals, char *buf, size_t len)
{
	const char *h = param_of(keys, vals, "host"), *ci = NULL;
	for (size_t i = 0; h == NULL && ci == NULL && keys[i] != NULL; i++)
		if (strcmp(keys[i], "dbname") == 0)
			ci = vals[i]; /* the first dbname is the conninfo string */
	PQconninfoOption *opts = ci != NULL ? PQconninfoParse(ci, NULL) : NULL;
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL && h == NULL; o++)
		if (strcmp(o->keyword, "host") == 0)
			h = o->val;
	if (h == NULL && param_of(keys, vals, "hostaddr") == NULL)
		h = getenv("PGHOST");
	snprintf(buf, len, "%s", h ? h : "");
	PQconninfoFree(opts);
}

/* A host name (not an address, a socket directory or a list) libpq would look up itself. */
static bool needs_lookup(const char *host)
{
	unsigned char a[16];
	return host[0] != '\0' && host[0] != '/' && strchr(host, ',') == NULL &&
	       inet_pton(AF_INET, host, a) != 1 && inet_pton(AF_INET6, host, a) != 1;
}

/* PQconnectStartParams with @p host and @p hostaddr (NULL: none) after the rest: they
 * override a conninfo string's. */
static void start_with(struct prism_pg_start *s, const char *host, const char *hostaddr)
{
	size_t n = 0;
	while (s->keys[n] != NULL)
		n++;
	const char **keys = calloc(n + 3, sizeof(*keys)), **vals = calloc(n + 3, sizeof(*vals));
	PGconn *conn = NULL;
	if (keys != NULL && vals != NULL) {
		memcpy(keys, s->keys, n * sizeof(*keys));
		memcpy(vals, s->vals, n * sizeof(*vals));
		if (hostaddr != NULL) {
			keys[n] = "host";
			vals[n] = host;
			keys[n + 1] = "hostaddr";
			vals[n + 1] = hostaddr;
		}
		conn = PQconnectStartParams(keys, vals, 1);
	}
	free(keys);
	free(vals);
	s->done(s->owner, conn, conn != NULL ? NULL : "out of memory");
}

static void resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct prism_pg_start *s = req->data;
	char ips[4 * 48] = "", hosts[4 * 256] = "", why[320];
	size_t n = 0;
	for (struct addrinfo *a = status == 0 ? res : NULL; a != NULL && n < 4; a = a->ai_next) {
		char ip[48];
		if (uv_ip_name(a->ai_addr, ip, sizeof(ip)) != 0)
			continue;
		size_t li = strlen(ips), lh = strlen(hosts);
		snprintf(ips + li, sizeof(ips) - li, "%s%s", n ? "," : "", ip);
		snprintf(hosts + lh, sizeof(hosts) - lh, "%s%s", n ? "," : "", s->host);
		n++;
	}
	uv_freeaddrinfo(res);
	if (n > 0) {
		start_with(s, hosts, ips);
		return;
	}
	snprintf(why, sizeof(why), "cannot look up %s: %s", s->host,
		 status != 0 ? uv_strerror(status) : "no address");
	s->done(s->owner, NULL, why);
}

void prism_pg_start(struct prism_pg_start *s, uv_loop_t *loop, const char *const *keys,
		    const char *const *vals, void (*done)(void *, PGconn *, const char *),
		    void *owner)
{
	static const struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	s->keys = keys;
	s->vals = vals;
	s->done = done;
	s->owner = owner;
	host_of(keys, vals, s->host, sizeof(s->host));
	if (!needs_lookup(s->host) || strlen(s->host) >= sizeof(s->host) - 1 ||
	    param_of(keys, vals, "hostaddr") != NULL) {
		start_with(s, NULL, NULL);
		return;
	}
	s->gai.data = s;
	int rc = uv_getaddrinfo(loop, &s->gai, resolved_cb, s->host, NULL, &hints);
	if (rc != 0) {
		char why[320];
		snprintf(why, sizeof(why), "cannot look up %s: %s", s->host, uv_strerror(rc));
		done(owner, NULL, why);
	}
}
