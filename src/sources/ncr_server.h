/* SPDX-License-Identifier: MIT */
/**
 * @file ncr_server.h
 * The NameChangeRequest listener (kea.ncr): UDP on the loop, Kea's dhcp-ddns wire format
 * (core/ncr.h). Each valid request becomes a change of a kea-ddns host; requests are taken
 * in batches and committed to the registry's intake queue through the store writer (group
 * commit), then applied from it in arrival order. Invalid
 * datagrams are counted and logged (rate-limited); Kea expects no answer.
 */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "sources/source.h"
#include "store/writer.h"

struct prism_ncr_server;

struct prism_ncr_server_opts {
	const char *listen;	   /**< "127.0.0.1:53001" or "[::1]:53001" */
	uint32_t ttl_min, ttl_max; /**< lease-length is clamped into this range */
	struct prism_source_dns dns;
	struct prism_store_writer *writer;
	/** Called on the loop after a committed batch changed desired DNS state. */
	void (*changed_cb)(void *arg);
	void *changed_arg;
};

/** Bind and start receiving. @p err receives a reason on failure. */
int prism_ncr_server_start(uv_loop_t *loop, const struct prism_ncr_server_opts *opts,
			   struct prism_ncr_server **out, char *err, size_t errlen);

/** Stop receiving; requests already taken are still committed; memory is freed once the
 *  last batch is done and the handles are closed. NULL is a no-op. */
void prism_ncr_server_stop(struct prism_ncr_server *s);

struct prism_ncr_server_stats {
	unsigned long long received;  /**< datagrams */
	unsigned long long invalid;   /**< refused by the parser */
	unsigned long long dropped;   /**< valid, but the queue was full */
	unsigned long long committed; /**< requests taken in (committed to the intake queue) */
	unsigned long long applied;   /**< requests applied to the hosts and their records */
	unsigned long long queued;    /**< committed, not applied yet (after the last apply) */
	struct prism_source_stats src;
};
void prism_ncr_server_stats(const struct prism_ncr_server *s, struct prism_ncr_server_stats *out);
