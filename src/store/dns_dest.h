/* SPDX-License-Identifier: MIT */
/**
 * @file dns_dest.h
 * Where agents' records go, from the configuration.
 */
#pragma once

#include "core/config.h"
#include "store/store.h"

/** Where agents' records go: powerdns.default_zone with its TTL, the record types, auto_ptr;
 *  DNS is off without targets. @p zones (every managed zone, NULL-terminated) is borrowed. */
struct prism_dns_dest prism_agent_dns_dest(const struct prism_config *cfg,
					   const char *const *zones);
