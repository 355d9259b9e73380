/* SPDX-License-Identifier: MIT */
/**
 * @file xfr.h
 * Which names a zone holds, read by AXFR from a DNS server over TCP on the loop: the
 * ownership check of many new names in one read (engine.c).
 */
#pragma once

#include <stdint.h>
#include <uv.h>

#include "core/strset.h"

struct prism_xfr;

/**
 * The end of a read. @p err 0: @p present holds "name type" of every record (names
 * lower-case FQDN), and is the callee's to keep (move it) or leave (freed after the call).
 * Otherwise PRISM_EUPSTREAM (the server answered @p rcode: REFUSED, NOTAUTH, …),
 * PRISM_ETIMEOUT, PRISM_EPROTO (not a transfer of the zone), PRISM_ETOOBIG, PRISM_ENOMEM or a
 * libuv error (negative errno: the connection).
 */
typedef void (*prism_xfr_cb)(void *arg, int err, int rcode, struct prism_strset *present);

/**
 * Start reading @p zone from @p addr (unsigned AXFR). @p cb is called once, unless the read
 * is cancelled first; the read frees itself afterwards.
 * @param timeout_ms the whole read's deadline
 * @return 0, PRISM_ENOMEM, PRISM_EINVAL, or a libuv error
 */
int prism_xfr_start(uv_loop_t *loop, const struct sockaddr *addr, const char *zone,
		    uint64_t timeout_ms, prism_xfr_cb cb, void *arg, struct prism_xfr **out);

/** Stop a read whose callback has not run: it never runs, the read frees itself. */
void prism_xfr_cancel(struct prism_xfr *x);
