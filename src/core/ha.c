/* SPDX-License-Identifier: MIT */
#include "core/ha.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

#define TARGET_PREFIX "target:"

static bool id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("._-:[]", c) != NULL);
}

bool prism_ha_id_ok(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;
	if (n == 0 || n > PRISM_HA_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!id_char(id[i]))
			return false;
	return true;
}

int prism_ha_default_id(const char *hostname, unsigned port, char *buf, size_t len)
{
	if (hostname == NULL || hostname[0] == '\0' || buf == NULL || len == 0)
		return PRISM_EINVAL;
	int w = snprintf(buf, len, "%s:%u", hostname, port);
	if (w < 0 || (size_t)w >= len || (size_t)w > PRISM_HA_ID_MAX) {
		buf[0] = '\0';
		return PRISM_EINVAL;
	}
	for (char *p = buf; *p != '\0'; p++)
		if (!id_char(*p))
			*p = '-';
	return 0;
}

int prism_ha_target_claim(const char *target, char *buf, size_t len)
{
	if (target == NULL || target[0] == '\0' || buf == NULL)
		return PRISM_EINVAL;
	int w = snprintf(buf, len, TARGET_PREFIX "%s", target);
	if (w < 0 || (size_t)w >= len || (size_t)w >= PRISM_HA_CLAIM_MAX)
		return PRISM_EINVAL;
	return 0;
}

const char *prism_ha_claim_target(const char *claim)
{
	size_t n = strlen(TARGET_PREFIX);
	if (claim == NULL || strncmp(claim, TARGET_PREFIX, n) != 0 || claim[n] == '\0')
		return NULL;
	return claim + n;
}

/* FNV-1a over claim, a separator and instance, then a finalizer (splitmix64): stable across
 * builds and hosts, which every instance's choice depends on. */
uint64_t prism_ha_weight(const char *claim, const char *instance)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (const char *p = claim; p != NULL && *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	h = (h ^ 0xffu) * 0x100000001b3ull;
	for (const char *p = instance; p != NULL && *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

size_t prism_ha_owner(const char *claim, const char *const *ids, size_t n)
{
	size_t best = SIZE_MAX;
	uint64_t bw = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t w = prism_ha_weight(claim, ids[i]);
		/* ties (never seen in practice) go to the smaller id, the same everywhere */
		if (best == SIZE_MAX || w > bw || (w == bw && strcmp(ids[i], ids[best]) < 0)) {
			best = i;
			bw = w;
		}
	}
	return best;
}

uint64_t prism_ha_renew_ms(uint32_t lease_seconds)
{
	return (uint64_t)lease_seconds * 1000 / 3;
}

uint64_t prism_ha_skew_ms(uint32_t lease_seconds)
{
	uint64_t s = (uint64_t)lease_seconds * 1000 / 20;
	return s < 100 ? 100 : s;
}

uint64_t prism_ha_valid_until(uint64_t sent_ms, uint32_t lease_seconds, uint64_t work_ms)
{
	uint64_t lease = (uint64_t)lease_seconds * 1000;
	uint64_t keep = prism_ha_skew_ms(lease_seconds) + work_ms;
	if (keep >= lease)
		return 0;
	return sent_ms + lease - keep;
}

uint64_t prism_ha_next_tick(uint64_t sent_ms, uint32_t lease_seconds, uint64_t foreign_expiry_ms)
{
	uint64_t next = sent_ms + prism_ha_renew_ms(lease_seconds);
	/* just after the expiry: the view was read after the database computed what was left,
	 * so the database has passed it by the time a request sent then starts */
	if (foreign_expiry_ms != 0 && foreign_expiry_ms + 5 < next)
		next = foreign_expiry_ms + 5;
	return next;
}
