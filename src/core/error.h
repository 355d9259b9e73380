/* SPDX-License-Identifier: MIT */
/**
 * @file error.h
 * One error space for all of Prism: 0 is success, negative values are errors.
 * errno values are mirrored as -errno; project codes start at -1000.
 */
#pragma once

enum prism_error {
	PRISM_EOK = 0,
	PRISM_EPROTO = -1000,	  /**< framing or decoding error: answer once, then close */
	PRISM_EMSG = -1001,	  /**< message-level validation error: connection stays open */
	PRISM_EDENIED = -1002,	  /**< authentication or ownership refused */
	PRISM_EUPSTREAM = -1003,  /**< a DNS server answered with an error */
	PRISM_ETOOBIG = -1004,	  /**< a length is over its limit */
	PRISM_ECONFIG = -1005,	  /**< invalid configuration */
	PRISM_ENOTFOUND = -1006,  /**< no such object */
	PRISM_ECONFLICT = -1007,  /**< object owned by someone else */
	PRISM_ESTORE = -1008,	  /**< registry (database) failure */
	PRISM_ETIMEOUT = -1009,	  /**< deadline passed */
	PRISM_EAGAIN = -1010,	  /**< need more input */
	PRISM_EINVAL = -1011,	  /**< invalid argument */
	PRISM_ENOMEM = -1012,	  /**< out of memory */
	PRISM_ESTOREFULL = -1013, /**< registry full: no space left on its disk (or size limit) */
};

/** Human-readable text for any Prism error code (also -errno). Never NULL. */
const char *prism_strerror(int err);
