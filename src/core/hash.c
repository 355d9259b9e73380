/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "core/hash.h"

uint64_t prism_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * PRISM_FNV64_PRIME;
	return h;
}

uint64_t prism_fnv1a_str(uint64_t h, const char *s)
{
	return s != NULL ? prism_fnv1a(h, s, strlen(s)) : h;
}
