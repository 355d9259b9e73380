/* SPDX-License-Identifier: MIT */
/**
 * @file dns_dest.h
 * Where agents' records go, from the configuration (header only: a value built from config).
 */
#pragma once

#include "core/config.h"
#include "store/store.h"

/** Where agents' records go: powerdns.default_zone with its TTL, the record types, auto_ptr;
 *  DNS is off without targets. @p zones (every managed zone, NULL-terminated) is borrowed. */
static inline struct prism_dns_dest prism_agent_dns_dest(const struct prism_config *cfg,
							 const char *const *zones)
{
	return (struct prism_dns_dest){
		.enabled = cfg->targets[0] != NULL,
		.zone = cfg->powerdns_default_zone,
		.ttl = prism_config_agent_ttl(cfg),
		.publish_a = prism_config_has_record_type(cfg, "A"),
		.publish_aaaa = prism_config_has_record_type(cfg, "AAAA"),
		.auto_ptr = cfg->powerdns_auto_ptr,
		.zones = zones,
	};
}
