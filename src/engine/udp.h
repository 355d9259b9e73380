/* SPDX-License-Identifier: MIT */
/**
 * @file udp.h
 * One datagram sent from the loop without keeping its buffer, and the address it goes to:
 * the health checks' SOA probes and the ownership check's queries.
 */
#pragma once

#include <stddef.h>
#include <uv.h>

/**
 * Send a copy of @p len bytes at @p buf to @p to on @p u; the copy is freed once sent.
 * @return 0, PRISM_ENOMEM, or a libuv error (negative errno)
 */
int prism_udp_send_copy(uv_udp_t *u, const struct sockaddr *to, const void *buf, size_t len);

/**
 * The socket address of "IP:port" or "[IPv6]:port" (targets[].dns_address), and the
 * wildcard address of its family to bind to (@p any may be NULL).
 * @return 0, PRISM_EINVAL
 */
int prism_udp_addr(const char *hostport, struct sockaddr_storage *addr,
		   struct sockaddr_storage *any);
