/* SPDX-License-Identifier: MIT */
/*
 * Serving the dashboard's embedded files. No authentication here: the files hold no data;
 * the page asks for an API key and sends it with each API request. The page's
 * Content-Security-Policy allows scripts and styles from prismd itself only (no inline
 * code), and API calls to the same origin.
 */
#include <string.h>

#include "api/api_int.h"
#include "api/ui.h"

#define UI_PREFIX "/ui/"
#define UI_CSP                                                                                    \
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "               \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* the metric label of every dashboard request */
static const struct api_route ui_route = {"GET", "/ui/", ACCESS_HEALTH, false, NULL};

const struct api_ui_asset *api_ui_find(const char *url)
{
	size_t n = strlen(UI_PREFIX);
	if (strncmp(url, UI_PREFIX, n) != 0)
		return NULL;
	const char *name = url[n] == '\0' ? "index.html" : url + n;
	for (size_t i = 0; i < api_ui_nassets; i++)
		if (strcmp(api_ui_assets[i].name, name) == 0)
			return &api_ui_assets[i];
	return NULL;
}

static void reply_asset(struct api_req *r, const struct api_ui_asset *a)
{
	const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_IF_NONE_MATCH);
	bool fresh = inm != NULL && strcmp(inm, a->etag) == 0;
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		fresh ? 0 : a->len, fresh ? NULL : (void *)a->data, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, a->etag);
	/* kept, but checked with the ETag on every use: a new prismd serves new files */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy", UI_CSP);
	api_reply_response(r, fresh ? 304 : 200, resp);
}

bool api_ui_request(struct api_req *r, const char *url, const char *method)
{
	if (strcmp(url, "/ui") != 0 && strncmp(url, UI_PREFIX, strlen(UI_PREFIX)) != 0)
		return false;
	r->route = &ui_route;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		r->allow = "GET, HEAD";
		api_error(r, 405, "method_not_allowed",
			  "%s is not allowed here (allowed: GET, HEAD)", method);
		r->allow = NULL;
		return true;
	}
	if (strcmp(url, "/ui") == 0) {
		struct MHD_Response *resp =
			MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (resp != NULL)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, UI_PREFIX);
		api_reply_response(r, 308, resp);
		return true;
	}
	const struct api_ui_asset *a = api_ui_find(url);
	if (a == NULL)
		api_error(r, 404, "not_found", "no such file in the dashboard");
	else
		reply_asset(r, a);
	return true;
}
