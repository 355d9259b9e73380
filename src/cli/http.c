/* SPDX-License-Identifier: MIT */
/* A blocking libcurl client for `prism`'s admin commands: one easy handle, reused. */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/http.h"
#include "core/error.h"
#include "prism_version.h"

/* the largest answer we keep: a page of 1000 hosts is well under 1 MiB, a plan of a big
 * zone a few MiB */
#define BODY_MAX (64u << 20)

struct cli_http {
	CURL *curl;
	char *base;
	char *cacert;
	struct curl_slist *hdrs;      /* Accept and the key */
	struct curl_slist *hdrs_body; /* the same plus Content-Type */
	long timeout_ms;
	char err[CURL_ERROR_SIZE];
};

struct sink {
	char *buf;
	size_t len, cap;
	bool over;
};

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (n > BODY_MAX - s->len - 1) {
		s->over = true;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *b = realloc(s->buf, cap);
		if (b == NULL)
			return 0;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static bool header_safe(const char *v)
{
	for (const char *p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Append to *l; on failure *l is kept as it was (curl_slist_append would lose it). */
static int append(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);
	if (n == NULL)
		return -ENOMEM;
	*l = n;
	return 0;
}

/* Both header lists; the key's line is built here and wiped once curl has its copy. */
static int make_headers(struct cli_http *h, const char *key)
{
	static const char *const fixed[] = {"Accept: application/json", "Expect:"};
	for (size_t i = 0; i < 2; i++)
		if (append(&h->hdrs, fixed[i]) != 0 || append(&h->hdrs_body, fixed[i]) != 0)
			return -ENOMEM;
	if (append(&h->hdrs_body, "Content-Type: application/json") != 0)
		return -ENOMEM;
	if (key == NULL || key[0] == '\0')
		return 0;
	size_t n = strlen(key) + sizeof("Authorization: Bearer ");
	char *line = malloc(n);
	if (line == NULL)
		return -ENOMEM;
	snprintf(line, n, "Authorization: Bearer %s", key);
	int rc = append(&h->hdrs, line) != 0 || append(&h->hdrs_body, line) != 0 ? -ENOMEM : 0;
	explicit_bzero(line, n);
	free(line);
	return rc;
}

int cli_http_new(const struct cli_http_opts *o, struct cli_http **out)
{
	*out = NULL;
	if (o->api_key != NULL && !header_safe(o->api_key))
		return PRISM_EINVAL;
	struct cli_http *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->curl = curl_easy_init();
	h->base = strdup(o->base);
	h->cacert = o->cacert ? strdup(o->cacert) : NULL;
	h->timeout_ms = (long)(o->timeout * 1000.0);
	if (h->curl == NULL || h->base == NULL || (o->cacert != NULL && h->cacert == NULL) ||
	    make_headers(h, o->api_key) != 0) {
		cli_http_free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

/* The slists hold the key: overwrite it before libcurl frees them. */
static void slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *p = l; p != NULL; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

void cli_http_free(struct cli_http *h)
{
	if (h == NULL)
		return;
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	slist_wipe_free(h->hdrs);
	slist_wipe_free(h->hdrs_body);
	free(h->base);
	free(h->cacert);
	free(h);
}

static void set_common(struct cli_http *h, const char *url, struct sink *s)
{
	CURL *c = h->curl;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "prism/" PRISM_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->err);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	/* never follow a redirect (it would carry the key elsewhere); only http and https */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	if (h->cacert != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
}

static void set_method(struct cli_http *h, const char *method, const char *body)
{
	CURL *c = h->curl;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, body ? h->hdrs_body : h->hdrs);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		if (body != NULL) {
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
		}
	}
}

int cli_http_request(struct cli_http *h, const char *method, const char *path, const char *body,
		     struct cli_http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	size_t n = strlen(h->base) + strlen(path) + 1;
	char *url = malloc(n);
	if (url == NULL)
		return -ENOMEM;
	snprintf(url, n, "%s%s", h->base, path);
	struct sink s = {0};
	/* reset keeps the connection cache: the next request reuses the connection */
	curl_easy_reset(h->curl);
	h->err[0] = '\0';
	set_common(h, url, &s);
	set_method(h, method, body);
	CURLcode rc = curl_easy_perform(h->curl);
	free(url);
	if (rc != CURLE_OK) {
		if (s.over)
			snprintf(h->err, sizeof(h->err), "the answer is larger than %u MiB",
				 BODY_MAX >> 20);
		else if (h->err[0] == '\0')
			snprintf(h->err, sizeof(h->err), "%s", curl_easy_strerror(rc));
		free(s.buf);
		return s.over ? PRISM_ETOOBIG : PRISM_EUPSTREAM;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	resp->body = s.buf ? s.buf : strdup("");
	resp->len = s.len;
	return resp->body ? 0 : -ENOMEM;
}

const char *cli_http_error(const struct cli_http *h)
{
	return h->err;
}

void cli_http_resp_deinit(struct cli_http_resp *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

int cli_http_escape(const char *in, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p != '\0'; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL;
		if (o + (plain ? 1 : 3) >= n)
			return PRISM_ETOOBIG;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	if (n == 0)
		return PRISM_ETOOBIG;
	out[o] = '\0';
	return 0;
}
