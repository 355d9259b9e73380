/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

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
