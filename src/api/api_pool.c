/* SPDX-License-Identifier: MIT */
/*
 * Reads off the loop: when the store's reads block (PostgreSQL: every read is a network
 * round trip), the REST API reads on a few threads of its own instead of the loop thread.
 *
 * Each thread owns a reader (opened at start, never shared) and a JSON writer; a task runs
 * its work on one of them and its done on the loop (a uv_async_t wakes the loop). Work
 * never touches what the loop owns (the engine, the targets, metrics): a route that needs
 * those runs on the loop after its store step, or is given a copy taken on the loop.
 * A thread-local pointer tells the code shared by both sides which reader and JSON writer
 * are its own (api_reader, api_jw).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "common/log.h"
#include "core/error.h"

#define TAG "api"

struct api_worker {
	struct api_pool *pool;
	pthread_t th;
	bool started;
	struct prism_store_reader *reader;
	struct jw jw;
};

/* A function a read thread has run on the loop (api_loop_call). */
struct loop_call {
	void (*fn)(void *arg);
	void *arg;
	bool done;
	struct loop_call *next;
};

struct api_pool {
	struct prism_api *api;
	pthread_mutex_t mu;
	pthread_cond_t cv, call_cv;
	struct loop_call *calls;	     /* for the loop */
	struct api_task *queue, *queue_tail; /* to run */
	struct api_task *done;		     /* ran, for the loop */
	bool stopping;
	uv_async_t async;
	struct api_worker *w;
	size_t nw;
};

static __thread struct api_worker *tls_worker;

bool api_on_worker(void)
{
	return tls_worker != NULL;
}

struct jw *api_jw(struct prism_api *api)
{
	return tls_worker != NULL ? &tls_worker->jw : &api->jw;
}

struct prism_store_reader *api_reader(struct prism_api *api)
{
	return tls_worker != NULL ? tls_worker->reader : api->reader;
}

static void *worker_main(void *arg)
{
	struct api_worker *w = arg;
	struct api_pool *p = w->pool;
	tls_worker = w;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (p->queue == NULL && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping)
			break;
		struct api_task *t = p->queue;
		p->queue = t->next;
		if (p->queue == NULL)
			p->queue_tail = NULL;
		pthread_mutex_unlock(&p->mu);
		t->work(t);
		pthread_mutex_lock(&p->mu);
		t->next = p->done;
		p->done = t;
		uv_async_send(&p->async);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Deliver the finished tasks' done, in the order they finished. */
static void deliver(struct api_pool *p, struct api_task *list, bool cancelled)
{
	struct api_task *rev = NULL;
	while (list != NULL) {
		struct api_task *n = list->next;
		list->next = rev;
		rev = list;
		list = n;
	}
	while (rev != NULL) {
		struct api_task *n = rev->next;
		rev->cancelled = cancelled;
		rev->done(rev);
		rev = n;
	}
	(void)p;
}

static void async_cb(uv_async_t *h)
{
	struct api_pool *p = h->data;
	pthread_mutex_lock(&p->mu);
	struct api_task *list = p->done;
	struct loop_call *calls = p->calls;
	p->done = NULL;
	p->calls = NULL;
	pthread_mutex_unlock(&p->mu);
	for (struct loop_call *c = calls, *next; c != NULL; c = next) {
		next = c->next; /* c is gone once done is seen */
		c->fn(c->arg);
		pthread_mutex_lock(&p->mu);
		c->done = true;
		pthread_cond_broadcast(&p->call_cv);
		pthread_mutex_unlock(&p->mu);
	}
	deliver(p, list, false);
}

int api_loop_call(struct prism_api *api, void (*fn)(void *arg), void *arg)
{
	if (!api_on_worker()) {
		fn(arg);
		return 0;
	}
	struct api_pool *p = tls_worker->pool;
	struct loop_call c = {fn, arg, false, NULL};
	pthread_mutex_lock(&p->mu);
	if (!p->stopping) {
		c.next = p->calls;
		p->calls = &c;
		uv_async_send(&p->async);
	}
	while (!c.done && !p->stopping)
		pthread_cond_wait(&p->call_cv, &p->mu);
	bool done = c.done;
	if (!done) { /* the loop stops: take the call back */
		for (struct loop_call **q = &p->calls; *q != NULL; q = &(*q)->next)
			if (*q == &c) {
				*q = c.next;
				break;
			}
	}
	pthread_mutex_unlock(&p->mu);
	return done ? 0 : -ECANCELED;
}

void api_pool_submit(struct prism_api *api, struct api_task *t)
{
	struct api_pool *p = api->pool;
	t->next = NULL;
	t->cancelled = false;
	pthread_mutex_lock(&p->mu);
	if (p->stopping) {
		pthread_mutex_unlock(&p->mu);
		t->cancelled = true;
		t->done(t);
		return;
	}
	if (p->queue_tail != NULL)
		p->queue_tail->next = t;
	else
		p->queue = t;
	p->queue_tail = t;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

static void pool_closed_cb(uv_handle_t *h)
{
	struct api_pool *p = h->data;
	struct prism_api *api = p->api;
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	pthread_cond_destroy(&p->call_cv);
	free(p);
	api_unref(api);
}

int api_pool_start(struct prism_api *api, size_t nthreads, const struct prism_store_opts *o,
		   char *err, size_t errlen)
{
	struct api_pool *p = calloc(1, sizeof(*p));
	if (p == NULL || (p->w = calloc(nthreads, sizeof(*p->w))) == NULL) {
		free(p);
		return PRISM_ENOMEM;
	}
	p->api = api;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	pthread_cond_init(&p->call_cv, NULL);
	uv_async_init(api->loop, &p->async, async_cb);
	p->async.data = p;
	api->refs++; /* the async handle, dropped in its close callback */
	api->pool = p;
	for (size_t i = 0; i < nthreads; i++) {
		struct api_worker *w = &p->w[i];
		w->pool = p;
		/* opened here, at start, then owned by its thread alone */
		int rc = api->rd->open(o, &w->reader, err, errlen);
		if (rc != 0)
			return rc;
		p->nw = i + 1;
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			snprintf(err, errlen, "cannot start the API's read threads");
			return PRISM_ENOMEM;
		}
		w->started = true;
	}
	return 0;
}

void api_pool_stop(struct prism_api *api)
{
	struct api_pool *p = api->pool;
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = true;
	pthread_cond_broadcast(&p->cv);
	pthread_cond_broadcast(&p->call_cv);
	pthread_mutex_unlock(&p->mu);
	/* a task in progress ends with its read (bounded by the store's own timeouts) */
	for (size_t i = 0; i < p->nw; i++)
		if (p->w[i].started)
			pthread_join(p->w[i].th, NULL);
	for (size_t i = 0; i < p->nw; i++) {
		api->rd->close(p->w[i].reader);
		jw_free(&p->w[i].jw);
	}
	free(p->w);
	struct api_task *ran = p->done, *queued = p->queue;
	p->done = p->queue = p->queue_tail = NULL;
	deliver(p, ran, false);
	deliver(p, queued, true);
	api->pool = NULL;
	uv_close((uv_handle_t *)&p->async, pool_closed_cb);
}
