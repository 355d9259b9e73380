/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "sources/source.h"

void prism_source_stats_add(struct prism_source_stats *st, const struct prism_source_result *r)
{
	switch (r->outcome) {
	case PRISM_SOURCE_ADDED: st->added++; break;
	case PRISM_SOURCE_UPDATED: st->updated++; break;
	case PRISM_SOURCE_REMOVED: st->removed++; break;
	case PRISM_SOURCE_UNCHANGED: st->unchanged++; break;
	case PRISM_SOURCE_CONFLICT: st->conflicts++; break;
	}
}

void prism_source_stats_sync(struct prism_source_stats *st,
			     const struct prism_source_sync_result *r)
{
	st->added += r->added;
	st->updated += r->updated;
	st->removed += r->removed;
	st->unchanged += r->unchanged;
	st->conflicts += r->conflicts;
}

struct prism_source_ctx prism_source_ctx(const struct prism_source_dns *dns, int64_t now)
{
	return (struct prism_source_ctx){
		.dns_enabled = dns->enabled,
		.publish_a = dns->publish_a,
		.publish_aaaa = dns->publish_aaaa,
		.zones = dns->zones,
		.now = now,
	};
}

bool prism_ratelimit_ok(struct prism_ratelimit *r, uint64_t now_ms, unsigned burst,
			unsigned long long *suppressed)
{
	uint64_t sec = now_ms / 1000;
	*suppressed = 0;
	if (sec != r->second) {
		r->second = sec;
		r->used = 0;
	}
	if (r->used >= burst) {
		r->suppressed++;
		return false;
	}
	r->used++;
	*suppressed = r->suppressed;
	r->suppressed = 0;
	return true;
}

const char *prism_source_conflict_text(const struct prism_source_result *r, char *buf, size_t len)
{
	if (r->dhcid_conflict)
		snprintf(buf, len, "held by another client (another DHCID)");
	else
		snprintf(buf, len, "held by a host of source %s", prism_source_name(r->holder));
	return buf;
}
