/* SPDX-License-Identifier: MIT */
/*
 * Group commit. The loop collects the jobs submitted during one loop iteration and, from a
 * uv_prepare handle (run before the loop next waits for events), moves them to `in` under
 * the mutex and signals the thread once: a burst becomes one batch and one wake-up instead
 * of one each.
 * The thread swaps the whole list out, runs up to max_batch jobs in one transaction, commits,
 * appends them to `out` and wakes the loop with uv_async_send. If COMMIT fails every job of
 * the batch fails: nothing is acknowledged that was not durably written.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/error.h"
#include "store/writer.h"

struct prism_store_writer {
	uv_loop_t *loop;
	uv_async_t async;
	uv_prepare_t kick; /* hands the iteration's jobs to the thread */
	struct prism_store_job *pend_head, *pend_tail; /* loop only: submitted, not yet handed */
	const struct prism_store_api *api;
	struct prism_store *store;
	size_t max_batch;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct prism_store_job *in_head, *in_tail;   /* queued, not yet run */
	struct prism_store_job *out_head, *out_tail; /* finished, done not yet called */
	bool stopping;
	bool started;
	unsigned open_handles; /* async and kick: w is freed when both are closed */
	struct prism_store_writer_stats stats;
};

static void list_push(struct prism_store_job **head, struct prism_store_job **tail,
		      struct prism_store_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

/* Take at most max jobs from the input queue; the caller holds the lock. */
static struct prism_store_job *take_batch(struct prism_store_writer *w, size_t *count)
{
	struct prism_store_job *head = w->in_head, *last = NULL, *j = head;
	size_t n = 0;
	while (j != NULL && n < w->max_batch) {
		last = j;
		j = j->next;
		n++;
	}
	if (last == NULL)
		return NULL;
	w->in_head = j;
	if (j == NULL)
		w->in_tail = NULL;
	last->next = NULL;
	*count = n;
	return head;
}

/* A registry failure, told apart (disk full) while the store still knows why. */
static int why(struct prism_store_writer *w, int err)
{
	if (err != PRISM_ESTORE || w->api->last_error == NULL)
		return err;
	return w->api->last_error(w->store);
}

static void run_batch(struct prism_store_writer *w, struct prism_store_job *batch)
{
	int rc = why(w, w->api->begin(w->store));
	for (struct prism_store_job *j = batch; j != NULL; j = j->next) {
		if (rc != 0) {
			j->err = rc;
			continue;
		}
		if (j->self_atomic) {
			j->err = why(w, j->run(w->store, w->api, j));
			continue;
		}
		if (w->api->savepoint(w->store) != 0) {
			j->err = why(w, PRISM_ESTORE);
			continue;
		}
		j->err = why(w, j->run(w->store, w->api, j));
		if (w->api->release(w->store, j->err == 0) != 0 && j->err == 0)
			j->err = why(w, PRISM_ESTORE);
	}
	if (rc == 0 && w->api->commit(w->store) != 0) {
		rc = why(w, PRISM_ESTORE);
		w->api->rollback(w->store);
		for (struct prism_store_job *j = batch; j != NULL; j = j->next)
			j->err = rc;
	}
	pthread_mutex_lock(&w->lock);
	w->stats.batches++;
	if (rc != 0)
		w->stats.failed_batches++;
	for (struct prism_store_job *j = batch, *next; j != NULL; j = next) {
		next = j->next;
		w->stats.jobs++;
		list_push(&w->out_head, &w->out_tail, j);
	}
	pthread_mutex_unlock(&w->lock);
	uv_async_send(&w->async);
}

static void *writer_main(void *arg)
{
	struct prism_store_writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->in_head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->in_head == NULL && w->stopping)
			break;
		size_t n = 0;
		struct prism_store_job *batch = take_batch(w, &n);
		pthread_mutex_unlock(&w->lock);
		run_batch(w, batch);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void deliver(struct prism_store_writer *w)
{
	pthread_mutex_lock(&w->lock);
	struct prism_store_job *j = w->out_head;
	w->out_head = w->out_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	while (j != NULL) {
		struct prism_store_job *next = j->next;
		j->done(j, j->err); /* may free j */
		j = next;
	}
}

static void writer_closed_cb(uv_handle_t *h);

static void async_cb(uv_async_t *h)
{
	deliver(h->data);
}

/* Hand the jobs submitted so far to the thread (loop thread). */
static void hand_over(struct prism_store_writer *w)
{
	if (w->pend_head == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	if (w->in_tail != NULL)
		w->in_tail->next = w->pend_head;
	else
		w->in_head = w->pend_head;
	w->in_tail = w->pend_tail;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	w->pend_head = w->pend_tail = NULL;
}

static void kick_cb(uv_prepare_t *h)
{
	struct prism_store_writer *w = h->data;
	hand_over(w);
	uv_prepare_stop(&w->kick);
}

int prism_store_writer_start(uv_loop_t *loop, const struct prism_store_api *api,
			     struct prism_store *store, size_t max_batch,
			     struct prism_store_writer **out)
{
	if (loop == NULL || api == NULL || store == NULL || out == NULL || max_batch == 0)
		return PRISM_EINVAL;
	struct prism_store_writer *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return PRISM_ENOMEM;
	w->loop = loop;
	w->api = api;
	w->store = store;
	w->max_batch = max_batch;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	int rc = uv_async_init(loop, &w->async, async_cb);
	if (rc != 0) {
		free(w);
		return rc;
	}
	w->async.data = w;
	uv_prepare_init(loop, &w->kick);
	w->kick.data = w;
	w->open_handles = 2;
	rc = pthread_create(&w->thread, NULL, writer_main, w);
	if (rc != 0) {
		uv_close((uv_handle_t *)&w->kick, writer_closed_cb);
		uv_close((uv_handle_t *)&w->async, writer_closed_cb);
		return -rc;
	}
	w->started = true;
	*out = w;
	return 0;
}

void prism_store_writer_submit(struct prism_store_writer *w, struct prism_store_job *job)
{
	if (w->stopping) { /* only the loop thread sets it */
		/* the thread is gone or going: refuse now rather than lose the job silently */
		job->err = -ECANCELED;
		job->done(job, job->err);
		return;
	}
	list_push(&w->pend_head, &w->pend_tail, job);
	if (!uv_is_active((uv_handle_t *)&w->kick) && uv_prepare_start(&w->kick, kick_cb) != 0)
		hand_over(w); /* cannot defer: hand it over now */
}

static void writer_closed_cb(uv_handle_t *h)
{
	struct prism_store_writer *w = h->data;
	if (--w->open_handles > 0)
		return;
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

void prism_store_writer_stop(struct prism_store_writer *w)
{
	if (w == NULL)
		return;
	hand_over(w); /* what was submitted is run before the thread ends */
	uv_close((uv_handle_t *)&w->kick, writer_closed_cb);
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	if (w->started)
		pthread_join(w->thread, NULL);
	deliver(w);
	uv_close((uv_handle_t *)&w->async, writer_closed_cb);
}

void prism_store_writer_stats(struct prism_store_writer *w, struct prism_store_writer_stats *out)
{
	pthread_mutex_lock(&w->lock);
	*out = w->stats;
	pthread_mutex_unlock(&w->lock);
}
