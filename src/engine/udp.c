/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"
#include "engine/udp.h"

static void sent_cb(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req);
}

int prism_udp_send_copy(uv_udp_t *u, const struct sockaddr *to, const void *buf, size_t len)
{
	/* the request and its buffer in one block */
	uv_udp_send_t *req = malloc(sizeof(*req) + len);
	if (req == NULL)
		return PRISM_ENOMEM;
	memcpy(req + 1, buf, len);
	uv_buf_t b = uv_buf_init((char *)(req + 1), (unsigned)len);
	int rc = uv_udp_send(req, u, &b, 1, to, sent_cb);
	if (rc != 0)
		free(req);
	return rc;
}

int prism_udp_addr(const char *hostport, struct sockaddr_storage *addr,
		   struct sockaddr_storage *any)
{
	char host[64];
	uint16_t port;
	if (prism_config_hostport(hostport, host, sizeof(host), &port) != 0)
		return PRISM_EINVAL;
	memset(addr, 0, sizeof(*addr));
	if (any != NULL)
		memset(any, 0, sizeof(*any));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)addr) == 0) {
		if (any != NULL)
			uv_ip4_addr("0.0.0.0", 0, (struct sockaddr_in *)any);
		return 0;
	}
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)addr) == 0) {
		if (any != NULL)
			uv_ip6_addr("::", 0, (struct sockaddr_in6 *)any);
		return 0;
	}
	return PRISM_EINVAL;
}
