/* SPDX-License-Identifier: MIT */
/**
 * @file liveness.h
 * The heartbeat monitor (docs/protocol.md "Heartbeats and liveness"). Every check_interval it
 * marks online hosts whose expiry time has passed as offline — found through the index on
 * (status, expires_at), in batches, so the cost follows the hosts that expire, not the
 * hosts that exist — applies the offline DNS policy, and deletes hosts offline for longer
 * than cleanup_after_days with their records.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "store/writer.h"

struct prism_liveness;

struct prism_liveness_opts {
	uint32_t check_interval;     /**< seconds between checks */
	bool remove_dns;	     /**< offline_dns: remove */
	uint32_t cleanup_after_days; /**< 0 = never delete */
	/** Called on the loop when DNS desired state changed (wake the engine). */
	void (*changed_cb)(void *arg);
	void *changed_arg;
	/** Active-active: whether this instance runs the checks now (it holds the liveness
	 *  claim); called with changed_arg; NULL = always. */
	bool (*may_run)(void *arg);
};

struct prism_liveness_stats {
	unsigned long long checks;
	unsigned long long went_offline;
	unsigned long long cleaned_up;
};

int prism_liveness_start(uv_loop_t *loop, struct prism_store_writer *w,
			 const struct prism_liveness_opts *opts, struct prism_liveness **out);

/** Apply reloaded settings (interval, offline policy, cleanup age). */
void prism_liveness_reload(struct prism_liveness *l, const struct prism_liveness_opts *opts);

/** Stop; memory is freed once the timer is closed and no check is in flight. NULL ok. */
void prism_liveness_stop(struct prism_liveness *l);

void prism_liveness_stats(const struct prism_liveness *l, struct prism_liveness_stats *out);
