/* SPDX-License-Identifier: MIT */
/*
 * Private to the store backends: the text helpers of zones and records that SQLite's
 * zones.c and PostgreSQL's pg_zones.c share (no database in them).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** "a\nb" → {"a", "b", NULL} (empty lines left out); NULL when out of memory. */
char **prism_split_lines(const char *text);
/** The records joined by '\n' (as desired.content holds them); NULL when out of memory. */
char *prism_join_records(const char *const *r, size_t n);
/** {"ttl":N,"records":[...]} of an RRset for the audit log; NULL when out of memory. */
char *prism_rrset_json(uint32_t ttl, const char *const *records, size_t n);
/** The records of @p content with @p from replaced by @p to (once: no duplicate), into
 *  @p recs (NULL-terminated, @p n of them; free each, then the array). 0, PRISM_ENOMEM */
int prism_repoint_content(const char *content, const char *from, const char *to, char ***recs,
			  size_t *n);
