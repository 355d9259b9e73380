/* SPDX-License-Identifier: MIT */
#include "store/pg_loop.h"

#include <stdlib.h>

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
