/* SPDX-License-Identifier: MIT */
/*
 * The operator dashboard: static files (src/api/ui/) compiled into prismd by
 * src/api/embed_ui.py, served at /ui/ on the API port. The files use the public REST API
 * only; this module just hands them out with strict headers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct api_req;

/** One embedded file. */
struct api_ui_asset {
	const char *name;	   /**< file name: "/ui/<name>" */
	const char *type;	   /**< Content-Type */
	const unsigned char *data; /**< the bytes (static) */
	size_t len;
	const char *etag; /**< quoted hash of the bytes */
};

extern const struct api_ui_asset api_ui_assets[];
extern const size_t api_ui_nassets;

/** The asset at @p url ("/ui/" is index.html); NULL when there is none. */
const struct api_ui_asset *api_ui_find(const char *url);

/**
 * Answer @p r when @p url is the dashboard's ("/ui" or under "/ui/"): the file, a 304, a
 * redirect or a 404. Returns false, answering nothing, for any other URL.
 */
bool api_ui_request(struct api_req *r, const char *url, const char *method);
