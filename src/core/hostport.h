/* SPDX-License-Identifier: MIT */
/**
 * @file hostport.h
 * "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address, split into its parts.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/**
 * Split @p s into @p host (brackets removed) and @p port (@p default_port when absent).
 * @return 0, or -1 when the text is malformed, the host is empty or too long for @p hl, or
 *         the port is not 1–65535
 */
int prism_hostport_split(const char *s, char *host, size_t hl, uint16_t *port,
			 uint16_t default_port);
