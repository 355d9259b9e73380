/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "core/error.h"

const char *prism_strerror(int err)
{
	switch (err) {
	case PRISM_EOK: return "success";
	case PRISM_EPROTO: return "protocol error";
	case PRISM_EMSG: return "invalid message";
	case PRISM_EDENIED: return "access denied";
	case PRISM_EUPSTREAM: return "upstream DNS server error";
	case PRISM_ETOOBIG: return "too large";
	case PRISM_ECONFIG: return "invalid configuration";
	case PRISM_ENOTFOUND: return "not found";
	case PRISM_ECONFLICT: return "conflict";
	case PRISM_ESTORE: return "registry error";
	case PRISM_ETIMEOUT: return "timed out";
	case PRISM_EAGAIN: return "need more data";
	case PRISM_EINVAL: return "invalid argument";
	case PRISM_ENOMEM: return "out of memory";
	case PRISM_ESTOREFULL: return "registry full: no space left";
	default: break;
	}
	if (err < 0 && err > -1000)
		return strerror(-err);
	return "unknown error";
}
