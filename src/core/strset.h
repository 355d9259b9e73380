/* SPDX-License-Identifier: MIT */
/**
 * @file strset.h
 * A set of strings (chained hash table on FNV-1a, power-of-two buckets, grows at load 1).
 * The set owns copies of its keys. A zero-initialised struct is an empty set.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct prism_strset_node;

/** The set. Read @c n for the number of keys; the rest is private. */
struct prism_strset {
	struct prism_strset_node **b;
	size_t nb, n;
};

/** Free every key and the table; the set is empty and reusable afterwards. */
void prism_strset_clear(struct prism_strset *s);

/** Whether @p key is in the set. */
bool prism_strset_has(const struct prism_strset *s, const char *key);

/**
 * Whether the key @p a, @p sep, @p b (joined, as if by "%s%c%s") is in the set, without
 * building the joined string.
 */
bool prism_strset_has_joined(const struct prism_strset *s, const char *a, char sep, const char *b);

/**
 * Add a copy of @p key (adding a key already there does nothing).
 * @return 0, or PRISM_ENOMEM (the set is unchanged)
 */
int prism_strset_add(struct prism_strset *s, const char *key);

/** Add the key @p a, @p sep, @p b (joined, as if by "%s%c%s"). @return as prism_strset_add() */
int prism_strset_add_joined(struct prism_strset *s, const char *a, char sep, const char *b);

/** Remove @p key if present. */
void prism_strset_del(struct prism_strset *s, const char *key);
