/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "core/hostport.h"

int prism_hostport_split(const char *s, char *host, size_t hl, uint16_t *port,
			 uint16_t default_port)
{
	const char *p = NULL, *colon = strchr(s, ':');
	size_t n;

	if (hl == 0)
		return -1;
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || (rb[1] != '\0' && rb[1] != ':'))
			return -1;
		n = (size_t)(rb - s - 1);
		if (memchr(s + 1, '[', n) != NULL)
			return -1;
		p = rb[1] == ':' ? rb + 2 : NULL;
		s++;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		n = (size_t)(colon - s);
		p = colon + 1;
	} else {
		n = strlen(s); /* no colon, or a bare IPv6 address */
	}
	if (n == 0 || n >= hl)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = default_port;
	if (p == NULL)
		return 0;
	unsigned long v = 0;
	size_t digits = 0;
	for (; p[digits] >= '0' && p[digits] <= '9' && digits < 6; digits++)
		v = v * 10 + (unsigned long)(p[digits] - '0');
	if (digits == 0 || p[digits] != '\0' || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}
