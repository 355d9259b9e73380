/* SPDX-License-Identifier: MIT */
/**
 * @file ha.h
 * Active-active instances on one PostgreSQL registry: the pure parts. Work that must happen
 * once (pushing to a target, the reconciler, liveness expiry, the Kea reservation follower)
 * is a named claim, a lease row in PostgreSQL. These functions decide which claims an
 * instance wants (rendezvous hashing over the live instances, so claims spread and move
 * as little as possible when one comes or goes) and, by the instance's monotonic clock,
 * whether it may still start work under a claim (fencing): the lease in the database runs
 * from the database's transaction start, which is after the renewal was sent, so a lease
 * counted locally from the send time ends no later than the database's.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PRISM_HA_ID_MAX	   128 /**< longest instance id, bytes */
#define PRISM_HA_CLAIM_MAX 160 /**< longest claim name, bytes (with "target:") */

/* Claims that are not per target. */
#define PRISM_HA_CLAIM_RECONCILER "reconciler"
#define PRISM_HA_CLAIM_LIVENESS	  "liveness"
#define PRISM_HA_CLAIM_KEA	  "kea-reservations"

/** NOTIFY channels: instances joining or releasing claims; targets with pending rows. */
#define PRISM_HA_CHANNEL       "prism_ha"
#define PRISM_HA_CHANNEL_DIRTY "prism_dirty"

/** 1-128 of the characters a-z A-Z 0-9 . _ - : [ ] (a host name and a port). */
bool prism_ha_id_ok(const char *id);

/**
 * The default instance id: @p hostname ":" @p port ("host1:8443"); an IPv6-looking host
 * name is not expected (gethostname). Characters outside prism_ha_id_ok's become '-'.
 * @return 0, or PRISM_EINVAL (no host name, or it does not fit @p len)
 */
int prism_ha_default_id(const char *hostname, unsigned port, char *buf, size_t len);

/** The claim of pushing to target @p target: "target:NAME". @return 0 or PRISM_EINVAL */
int prism_ha_target_claim(const char *target, char *buf, size_t len);

/** The target a claim names, or NULL when it is not a target claim. */
const char *prism_ha_claim_target(const char *claim);

/** Rendezvous weight of (@p claim, @p instance): the live instance of highest weight gets it. */
uint64_t prism_ha_weight(const char *claim, const char *instance);

/** Index in @p ids[0..n) of the instance that should hold @p claim; n == 0: SIZE_MAX. */
size_t prism_ha_owner(const char *claim, const char *const *ids, size_t n);

/**
 * Timing of one lease, all in milliseconds of the instance's monotonic clock.
 * renew: how often the holder renews (a third of the lease, so two renewals may fail);
 * skew: what the local clock may run slow against the database's over one lease (5 %, at
 * least 100 ms).
 */
uint64_t prism_ha_renew_ms(uint32_t lease_seconds);
uint64_t prism_ha_skew_ms(uint32_t lease_seconds);

/**
 * Until when (exclusive) the holder may *start* work that runs at most @p work_ms under a
 * claim renewed (or taken) by a request sent at @p sent_ms: the lease ends in the database
 * no earlier than sent + lease, and the work must be over by then, less the clock skew.
 * 0 when there is no such time (the work cannot fit in one lease).
 */
uint64_t prism_ha_valid_until(uint64_t sent_ms, uint32_t lease_seconds, uint64_t work_ms);

/**
 * When to renew next, given the last renewal was sent at @p sent_ms: the regular interval,
 * or sooner when a claim another instance holds runs out at @p foreign_expiry_ms (0 = none),
 * a little after it, so a dead holder's claim is taken as soon as the database lets it go.
 */
uint64_t prism_ha_next_tick(uint64_t sent_ms, uint32_t lease_seconds, uint64_t foreign_expiry_ms);
