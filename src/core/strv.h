/* SPDX-License-Identifier: MIT */
/**
 * @file strv.h
 * NULL-terminated vectors of heap strings ("strv").
 */
#pragma once

#include <stddef.h>

/** Entries before the terminating NULL; 0 for a NULL @p v. */
size_t prism_strv_len(const char *const *v);

/**
 * A deep copy of @p v (NULL copies as an empty vector). All or nothing: on allocation
 * failure nothing is left allocated.
 * @return the copy, or NULL when out of memory
 */
char **prism_strv_dup(const char *const *v);

/** Free @p v and its strings; NULL is a no-op. */
void prism_strv_free(char **v);
