/* SPDX-License-Identifier: MIT */
/**
 * @file writer.h
 * The store writer: one thread owns the registry connection. Jobs submitted from the loop
 * are taken in batches; each batch runs in one transaction (group commit: many
 * registrations, one commit, one fsync), each job inside its own savepoint so that one
 * failing job fails alone. A job's done callback runs on the loop only after the batch has
 * committed — the basis of "acknowledge after commit".
 */
#pragma once

#include <stddef.h>
#include <uv.h>

#include "store/store.h"

struct prism_store_writer;
struct prism_store_job;

/** Runs on the writer thread inside the batch transaction; returns 0 or a negative error. */
typedef int (*prism_store_run_cb)(struct prism_store *s, const struct prism_store_api *api,
				  struct prism_store_job *job);
/** Runs on the loop after the batch committed (err 0) or failed (err < 0). */
typedef void (*prism_store_done_cb)(struct prism_store_job *job, int err);

/** Embed this at the start of (or anywhere in) a job struct; fields are the writer's. */
struct prism_store_job {
	prism_store_run_cb run;
	prism_store_done_cb done;
	/** run() leaves nothing half-done when it fails (one statement, or a savepoint of its
	 *  own): the writer then spares it the savepoint it puts around every other job. */
	bool self_atomic;
	int err;
	struct prism_store_job *next;
};

/**
 * Start the writer thread on an opened store (the writer does not take ownership of it:
 * close it after prism_store_writer_stop). @p max_batch caps jobs per transaction.
 */
int prism_store_writer_start(uv_loop_t *loop, const struct prism_store_api *api,
			     struct prism_store *store, size_t max_batch,
			     struct prism_store_writer **out);

/** Queue a job; its done callback will run on the loop. Never blocks on the disk.
 *  After prism_store_writer_stop() has begun, done is called at once with -ECANCELED. */
void prism_store_writer_submit(struct prism_store_writer *w, struct prism_store_job *job);

/**
 * Finish every queued job, join the thread, deliver the last done callbacks, and close
 * the loop handle (memory is freed from its close callback). NULL is a no-op.
 */
void prism_store_writer_stop(struct prism_store_writer *w);

/** Counters for metrics and benchmarks. */
struct prism_store_writer_stats {
	unsigned long long jobs;
	unsigned long long batches;
	unsigned long long failed_batches;
};
void prism_store_writer_stats(struct prism_store_writer *w, struct prism_store_writer_stats *out);
