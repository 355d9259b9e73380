/* SPDX-License-Identifier: MIT */
/*
 * RRset hashing. The hash identifies the *content* of an RRset so the ledger can tell whether
 * what was applied equals what is desired. Every field is framed (strings end in a 0 byte,
 * which a C string cannot contain; integers have a fixed width), so no two different RRsets
 * hash the same input bytes: ("ab","c") and ("a","bc") differ.
 *
 * A deletion (nrecords 0) hashes name, type and a record count of 0 only: its TTL means
 * nothing, so two deletions of the same RRset hash equal whatever TTL the caller passed.
 */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/rrset.h"

/* Records sorted on the stack up to this count; beyond it a heap copy. */
#define SORT_STACK_MAX 32

/* A string and its terminating 0 byte (NULL hashes as ""). */
static uint64_t fnv_str(uint64_t h, const char *s)
{
	return prism_fnv1a(prism_fnv1a_str(h, s), "", 1);
}

/* Fixed-width big-endian, so the hash does not depend on the host's byte order. */
static uint64_t fnv_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (56 - 8 * i));
	return prism_fnv1a(h, b, sizeof(b));
}

static int str_cmp(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "");
}

static int ptr_cmp(const void *a, const void *b)
{
	return str_cmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Fallback when no memory is available for the sorted copy: visit the records in sorted order
 * by repeatedly picking the smallest one greater than the previous, hashing it once per
 * duplicate. O(n²) but allocation-free; gives exactly the same hash as the sorted walk.
 */
static uint64_t hash_sorted_noalloc(uint64_t h, const char *const *rec, size_t n)
{
	const char *prev = NULL;
	size_t done = 0;

	while (done < n) {
		const char *best = NULL;
		size_t count = 0;

		for (size_t i = 0; i < n; i++) {
			if (prev != NULL && str_cmp(rec[i], prev) <= 0)
				continue;
			int c = best == NULL ? -1 : str_cmp(rec[i], best);
			if (c < 0) {
				best = rec[i] != NULL ? rec[i] : "";
				count = 1;
			} else if (c == 0) {
				count++;
			}
		}
		for (size_t k = 0; k < count; k++)
			h = fnv_str(h, best);
		done += count;
		prev = best;
	}
	return h;
}

static uint64_t hash_records(uint64_t h, const char *const *rec, size_t n)
{
	const char *stack[SORT_STACK_MAX];
	const char **sorted = stack;

	if (n > SORT_STACK_MAX) {
		sorted = malloc(n * sizeof(*sorted));
		if (sorted == NULL)
			return hash_sorted_noalloc(h, rec, n);
	}
	memcpy(sorted, rec, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), ptr_cmp);
	for (size_t i = 0; i < n; i++)
		h = fnv_str(h, sorted[i]);
	if (sorted != stack)
		free(sorted);
	return h;
}

uint64_t prism_rrset_hash(const struct prism_rr_change *rr)
{
	uint64_t h = PRISM_FNV64_OFFSET;

	if (rr == NULL)
		return 0;
	size_t n = rr->records != NULL ? rr->nrecords : 0;

	h = fnv_str(h, rr->name);
	h = fnv_str(h, rr->type);
	h = fnv_u64(h, n);
	if (n == 0)
		return h;
	h = fnv_u64(h, rr->ttl);
	return hash_records(h, rr->records, n);
}
