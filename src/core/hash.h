/* SPDX-License-Identifier: MIT */
/**
 * @file hash.h
 * The one 64-bit string hash: FNV-1a. Pure, no allocation. Not a keyed hash: use it for
 * tables and fingerprints of data Prism controls, never against hostile collisions where
 * that would matter.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/** FNV-1a 64-bit offset basis (the hash of no bytes). */
#define PRISM_FNV64_OFFSET 14695981039346656037ull
/** FNV-1a 64-bit prime. */
#define PRISM_FNV64_PRIME 1099511628211ull

/** Continue the hash @p h over @p len bytes at @p data. */
uint64_t prism_fnv1a(uint64_t h, const void *data, size_t len);

/** Continue the hash @p h over the bytes of @p s, without its terminator (NULL adds none). */
uint64_t prism_fnv1a_str(uint64_t h, const char *s);
