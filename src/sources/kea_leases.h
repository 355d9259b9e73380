/* SPDX-License-Identifier: MIT */
/**
 * @file kea_leases.h
 * Kea's memfile lease file (kea.leases.file) followed as Kea appends to it: every active
 * lease with a hostname is a kea-lease host (keyed by its address); a release (lifetime 0),
 * an expiry, a decline or a reclamation removes it. When Kea's lease file cleanup (LFC)
 * rotates the file, the whole state is read again — FILE.2 (LFC's output), FILE.1 (the file
 * LFC works on), FILE — and a consistency sync follows. Reads use libuv's file requests
 * (the thread pool); the loop never waits on the disk.
 */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "core/srcname.h"
#include "sources/source.h"
#include "store/writer.h"

struct prism_kea_leases_src;

struct prism_kea_leases_opts {
	const char *path;			/**< the lease file (copied) */
	const char *zone;			/**< zone of short hostnames (borrowed) */
	const struct prism_name_filter *filter; /**< borrowed; NULL = every name */
	uint32_t ttl;
	uint32_t poll_interval; /**< ms between checks besides inotify events */
	struct prism_source_dns dns;
	struct prism_store_writer *writer;
	void (*changed_cb)(void *arg);
	void *arg;
};

/** Start following. Only memory errors fail; a missing file is waited for. */
int prism_kea_leases_start(uv_loop_t *loop, const struct prism_kea_leases_opts *opts,
			   struct prism_kea_leases_src **out);

/** Stop; memory is freed once handles are closed and requests and jobs are done. */
void prism_kea_leases_stop(struct prism_kea_leases_src *k);

struct prism_kea_leases_stats {
	unsigned long long lines;     /**< lease lines read */
	unsigned long long bad_lines; /**< lines refused (logged, rate-limited) */
	unsigned long long reloads;   /**< whole reads (start, rotations) */
	unsigned long long leases;    /**< addresses known now */
	struct prism_source_stats src;
};
void prism_kea_leases_stats(const struct prism_kea_leases_src *k,
			    struct prism_kea_leases_stats *out);
