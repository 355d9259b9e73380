/* SPDX-License-Identifier: MIT */
/**
 * @file rrset.h
 * The RRset model shared by the engine, the planner and the targets.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One wanted change of an RRset at a target. Borrowed strings. */
struct prism_rr_change {
	const char *name; /**< FQDN, lower-case, trailing dot */
	const char *type; /**< "A", "AAAA", "PTR", … */
	uint32_t ttl;
	const char *const *records; /**< contents in presentation form */
	size_t nrecords;	    /**< 0 = delete the whole RRset */
	/** A replacement of an RRset the target holds with Prism's mark already: the mark is
	 *  left as it is instead of written again (PowerDNS: no "comments" in the PATCH, which
	 *  keeps the RRset's comments). Ignored by the hash. */
	bool keep_mark;
};

/**
 * Stable 64-bit hash of an RRset (FNV-1a over name, type, ttl and the *sorted* record
 * contents), so the same set in any order hashes equal; nrecords 0 hashes the deletion.
 * Fields are framed (0 byte after each string, integers as fixed-width big-endian), so
 * ("ab","c") and ("a","bc") differ. A deletion hashes name and type only: its TTL is ignored.
 * records == NULL is treated as nrecords 0; NULL strings hash as "". Does not modify @p rr.
 * @return the hash, 0 for a NULL @p rr
 */
uint64_t prism_rrset_hash(const struct prism_rr_change *rr);
