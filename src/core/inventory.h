/* SPDX-License-Identifier: MIT */
/**
 * @file inventory.h
 * `prism inventory`: the registry's hosts as Ansible YAML inventories, one per group, the
 * group taken from a pattern with captures on the hostname — BMC names such as
 * "us3-cab10-ru20-idrac" grouped by site and cabinet with `^([a-z0-9]+)-(cab[0-9]+)-` give
 * group "us3_cab10". Pure: hosts in, YAML text out.
 *
 * Each group's text:
 *
 *     all:
 *       children:
 *         us3_cab10:
 *           hosts:
 *             us3-cab10-ru20-idrac.dc.example:
 *               ansible_host: "10.0.1.20"
 *               prism_source: "kea-reservation"
 *
 * Hosts the pattern does not match go to the group "ungrouped" (Ansible's own), as
 * all: hosts: … without children.
 */
#pragma once

#include <stddef.h>

struct prism_inventory;

#define PRISM_INVENTORY_UNGROUPED "ungrouped"

/**
 * @param pattern  POSIX extended regular expression, matched on the hostname (any case)
 * @param group    template of the group name: {0} the whole match, {1}…{9} the captures;
 *                 NULL = the captures joined with '_' (the whole match without captures).
 *                 Characters Ansible does not take in group names become '_'.
 * @param[out] err on PRISM_EINVAL, why (the regex does not compile, a bad template)
 * @return 0, PRISM_EINVAL, PRISM_ENOMEM
 */
int prism_inventory_new(const char *pattern, const char *group, struct prism_inventory **out,
			char *err, size_t errlen);

void prism_inventory_free(struct prism_inventory *inv);

/**
 * Add a host. @p name is the inventory hostname (the host's DNS name without its trailing
 * dot, or its registry hostname); @p address goes to ansible_host (NULL: none), @p source
 * to prism_source. Matching is done on @p match (the registry hostname).
 * @return 0 (grouped), PRISM_ENOTFOUND (the pattern did not match: "ungrouped"),
 *         PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_inventory_add(struct prism_inventory *inv, const char *match, const char *name,
			const char *address, const char *source);

/** Number of groups so far ("ungrouped" included once it has a host), in name order. */
size_t prism_inventory_ngroups(const struct prism_inventory *inv);

/**
 * The YAML of group @p i (0 … ngroups-1, in name order).
 * @param[out] name  the group's name (valid until the inventory changes)
 * @param[out] nhosts its number of hosts
 * @param[out] yaml  NUL-terminated text, caller frees
 * @return 0, PRISM_ENOTFOUND (no such group), PRISM_ENOMEM
 */
int prism_inventory_render(const struct prism_inventory *inv, size_t i, const char **name,
			   size_t *nhosts, char **yaml, size_t *len);
