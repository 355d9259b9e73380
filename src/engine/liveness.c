/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "core/error.h"
#include "engine/liveness.h"

#define TAG   "liveness"
#define BATCH 5000u /* hosts per transaction: keeps each commit short */

struct prism_liveness {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct prism_store_writer *writer;
	struct prism_liveness_opts opts;
	struct prism_liveness_stats stats;
	unsigned refs;
	bool busy;
	bool stopping;
};

struct check_job {
	struct prism_store_job job;
	struct prism_liveness *l;
	int64_t now;
	size_t offline, cleaned;
	bool dns_changed;
};

static void unref(struct prism_liveness *l)
{
	if (--l->refs == 0)
		free(l);
}

static int check_run(struct prism_store *s, const struct prism_store_api *api,
		     struct prism_store_job *job)
{
	struct check_job *j = (struct check_job *)job;
	int rc = api->hosts_expire(s, j->now, BATCH, j->l->opts.remove_dns, &j->offline,
				   &j->dns_changed);
	if (rc != 0 || j->l->opts.cleanup_after_days == 0)
		return rc;
	int64_t before = j->now - (int64_t)j->l->opts.cleanup_after_days * 86400;
	return api->hosts_cleanup(s, before, BATCH, &j->cleaned, &j->dns_changed);
}

static void check(struct prism_liveness *l);

static void check_done(struct prism_store_job *job, int err)
{
	struct check_job *j = (struct check_job *)job;
	struct prism_liveness *l = j->l;
	l->busy = false;
	if (err != 0 && err != -ECANCELED) {
		prism_log(PRISM_LOG_ERROR, TAG, "heartbeat check failed (%s)",
			  prism_strerror(err));
	} else if (err == 0) {
		l->stats.went_offline += j->offline;
		l->stats.cleaned_up += j->cleaned;
		if (j->offline > 0)
			prism_log(PRISM_LOG_INFO, TAG, "%zu host(s) went offline%s", j->offline,
				  l->opts.remove_dns ? "; their records are being removed" : "");
		if (j->cleaned > 0)
			prism_log(PRISM_LOG_INFO, TAG, "%zu host(s) deleted after %u days offline",
				  j->cleaned, l->opts.cleanup_after_days);
		if (j->dns_changed && l->opts.changed_cb != NULL && !l->stopping)
			l->opts.changed_cb(l->opts.changed_arg);
		/* a full batch means more are due: go on at once */
		if (!l->stopping && (j->offline == BATCH || j->cleaned == BATCH))
			check(l);
	}
	free(j);
	unref(l);
}

static void check(struct prism_liveness *l)
{
	if (l->busy || l->stopping)
		return;
	if (l->opts.may_run != NULL && !l->opts.may_run(l->opts.changed_arg))
		return; /* another instance runs them */
	struct check_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	j->l = l;
	j->now = (int64_t)time(NULL);
	j->job.run = check_run;
	j->job.done = check_done;
	l->busy = true;
	l->refs++;
	l->stats.checks++;
	prism_store_writer_submit(l->writer, &j->job);
}

static void timer_cb(uv_timer_t *t)
{
	check(t->data);
}

int prism_liveness_start(uv_loop_t *loop, struct prism_store_writer *w,
			 const struct prism_liveness_opts *opts, struct prism_liveness **out)
{
	if (loop == NULL || w == NULL || opts == NULL || out == NULL || opts->check_interval == 0)
		return PRISM_EINVAL;
	struct prism_liveness *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return PRISM_ENOMEM;
	l->loop = loop;
	l->writer = w;
	l->opts = *opts;
	l->refs = 1;
	uv_timer_init(loop, &l->timer);
	l->timer.data = l;
	uint64_t ms = (uint64_t)opts->check_interval * 1000;
	uv_timer_start(&l->timer, timer_cb, ms, ms);
	*out = l;
	return 0;
}

void prism_liveness_reload(struct prism_liveness *l, const struct prism_liveness_opts *opts)
{
	if (l == NULL || opts == NULL || opts->check_interval == 0 || l->stopping)
		return;
	bool restart = opts->check_interval != l->opts.check_interval;
	l->opts.check_interval = opts->check_interval;
	l->opts.remove_dns = opts->remove_dns;
	l->opts.cleanup_after_days = opts->cleanup_after_days;
	if (restart) {
		uint64_t ms = (uint64_t)opts->check_interval * 1000;
		uv_timer_start(&l->timer, timer_cb, ms, ms);
	}
}

static void closed_cb(uv_handle_t *h)
{
	unref(h->data);
}

void prism_liveness_stop(struct prism_liveness *l)
{
	if (l == NULL)
		return;
	l->stopping = true;
	uv_close((uv_handle_t *)&l->timer, closed_cb);
}

void prism_liveness_stats(const struct prism_liveness *l, struct prism_liveness_stats *out)
{
	*out = l->stats;
}
