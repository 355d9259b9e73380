/* SPDX-License-Identifier: MIT */
/*
 * PowerDNS HTTP API target: libcurl's multi-socket API driven by the libuv loop.
 *
 * Wiring (as in curl's docs/examples/multi-uv.c): curl tells us which sockets to watch
 * (socket_cb) and when to wake it up (timer_fn); one uv_poll_t per socket and one uv_timer_t
 * per target feed readiness back through curl_multi_socket_action(), after which finished
 * transfers are collected with curl_multi_info_read() and their callbacks run.
 *
 * Lifetimes. The target is reference counted: one reference for the owner (dropped by
 * close()), one for the timer and one per poll context, each dropped in its uv_close callback;
 * the struct is freed when the last one goes. Poll contexts are only ever freed from their
 * close callback, because libuv may still hold the handle after curl has forgotten the socket.
 * Requests live on a list so close() can abandon them (without callbacks). A request is taken
 * off the list before its callback runs, so a callback may call apply(), ensure_zone() or
 * close() on the same target.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/error.h"
#include "core/pdns_json.h"
#include "core/zonefile.h"
#include "targets/target.h"

#define RESP_MAX	       (4u << 20)    /* cap on a response body */
#define ZONE_RESP_MAX	       (1024u << 20) /* a whole zone: ~150 bytes per RRset, 1M RRsets fit */
#define CONNECT_TIMEOUT_MAX_MS 5000L
#define DEFAULT_TIMEOUT_MS     10000L /* when opts->timeout is not positive */
#define TIMEOUT_MAX_S	       86400.0
#define ERRMSG_MAX	       512u
/* Connections open at once per target; curl queues further requests. PowerDNS 4.7's
 * webserver listens with a backlog of 10: a burst of 50 connects overflowed it and cost
 * 1 s SYN retransmits, so stay below that. */
#define MAX_CONNECTIONS 8L
#define OWNER_DEFAULT	"prism" /* the marks written before owner ids existed */

enum req_step {
	STEP_PATCH,	  /* apply(): PATCH zones/<zone> */
	STEP_ZONE_GET,	  /* ensure_zone(): GET zones/<zone>?rrsets=false */
	STEP_ZONE_POST,	  /* ensure_zone(): POST zones, only after a 404/422 */
	STEP_FLUSH,	  /* apply(): PUT cache/flush?domain=<zone>, after a successful PATCH */
	STEP_ZONE_READ,	  /* read_zone(): GET zones/<zone> with its RRsets */
	STEP_ZONE_DELETE, /* delete_zone(): DELETE zones/<zone> */
	STEP_ZONE_LIST,	  /* list_zones(): GET zones */
	STEP_DNSSEC,	  /* set_dnssec(): PUT zones/<zone> {"dnssec": …}, then rectify, flush */
	STEP_RECTIFY,	  /* set_dnssec(): PUT zones/<zone>/rectify */
	STEP_KEYS,	  /* read_keys(): GET zones/<zone>/cryptokeys */
	STEP_NOTIFY,	  /* notify(): PUT zones/<zone>/notify */
	STEP_GET,	  /* server_get(): GET servers/<id><suffix> */
	STEP_KIND,	  /* set_kind(): PUT zones/<zone> {"kind": …} */
};

struct pdns_req {
	struct prism_target *t;
	struct pdns_req *prev, *next;
	CURL *easy;
	enum req_step step;
	char *url;  /* URL of the current step */
	char *body; /* body of the current step, NULL for GET; owned */
	size_t body_len;
	char *post_url; /* the follow-up step (ensure_zone's POST, apply's cache flush),
			 * prepared up front; owned */
	char *post_body;
	size_t post_len;
	char *resp; /* response body of the current step; owned */
	size_t resp_len, resp_cap;
	bool resp_too_big;
	prism_target_done_cb cb;
	prism_target_zone_cb zone_cb; /* read_zone() instead of cb */
	prism_target_data_cb data_cb; /* read_zone_records() instead of cb */
	prism_target_list_cb list_cb; /* list_zones() instead of cb */
	prism_target_body_cb body_cb; /* read_keys() instead of cb */
	char *rectify_url;	      /* set_dnssec(): the rectify step, when signing; owned */
	void *arg;
	uint64_t started; /* uv_hrtime() when the current step started, for the observer */
	unsigned replaced, deleted; /* PATCH (and a POST with RRsets): RRsets by changetype,
				     * for the observer */
	int written;		    /* the status of the write a cache flush follows */
	struct pdns_req *wait_next; /* on the target's gate queue */
	uint64_t not_before;	    /* gate: a quick retry waits until then (uv_now) */
	unsigned attempts;	    /* quick retries made */
	char errbuf[CURL_ERROR_SIZE];
};

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };

struct poll_ctx {
	uv_poll_t poll;
	curl_socket_t fd;
	struct prism_target *t;
	struct poll_ctx *prev, *next;
};

struct prism_target {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct curl_slist *headers;
	/* headers of earlier API keys: requests in flight still point at them (libcurl does
	 * not copy the list); freed with the target. One per key change, so few. */
	struct retired_headers {
		struct curl_slist *list;
		struct retired_headers *next;
	} * retired;
	char *name;
	char *base_url; /* <api_url>/servers/<server_id> */
	char *comment;	/* "managed by prism instance <instance>" */
	char *owner;	/* the mark's account: sync.owner_id */
	long timeout_ms;
	long connect_timeout_ms;
	unsigned refs;
	bool closing;
	struct pdns_req *reqs;
	struct poll_ctx *polls;
	/* counters for metrics; read with a debugger or a future accessor */
	uint64_t requests;		   /* HTTP requests started (an ensure_zone may be two) */
	uint64_t failures;		   /* operations completed with an error */
	prism_target_observer_cb observer; /* metrics: told about every finished request */
	void *observer_arg;
	/* Gateway limits. Every HTTP request passes the gate: a quick retry waits its delay,
	 * a request waits for a token of the bucket, and fails at once (asynchronously) while
	 * the breaker is open or its one probe is out. Held requests queue in order. */
	uv_timer_t gate;
	struct pdns_req *waiting; /* FIFO through wait_next */
	unsigned retry_attempts;
	double qps;		    /* 0: no rate limit */
	double tokens;		    /* at most max(1, qps) */
	uint64_t tokens_at;	    /* uv_now of the last refill */
	unsigned breaker_threshold; /* 0: no breaker */
	uint64_t breaker_recovery_ms;
	unsigned failures_in_row;
	enum breaker_state breaker;
	uint64_t breaker_until; /* open: when the probe may go */
	struct pdns_req *probe; /* half-open: the request in flight */
};

/* ---- helpers ---- */

static void target_unref(struct prism_target *t)
{
	if (--t->refs > 0)
		return;
	curl_slist_free_all(t->headers);
	while (t->retired != NULL) {
		struct retired_headers *r = t->retired;
		t->retired = r->next;
		curl_slist_free_all(r->list);
		free(r);
	}
	free(t->name);
	free(t->base_url);
	free(t->comment);
	free(t->owner);
	free(t);
	curl_global_cleanup();
}

/* Percent-encode one URL path segment (RFC 3986 unreserved characters kept). */
static char *path_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = strlen(s);
	char *out = malloc(3 * len + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

/* <base>/zones/<zone><suffix> */
static char *zone_url(const struct prism_target *t, const char *zone, const char *suffix)
{
	char *z = path_escape(zone), *url = NULL;

	if (z == NULL)
		return NULL;
	if (asprintf(&url, "%s/zones/%s%s", t->base_url, z, suffix) < 0)
		url = NULL;
	free(z);
	return url;
}

static bool zone_ok(const char *zone)
{
	size_t len = zone != NULL ? strlen(zone) : 0;

	return len > 0 && len <= 254 && zone[len - 1] == '.';
}

/* ---- sockets and timer (curl ↔ libuv) ---- */

static void check_done(struct prism_target *t);

static void poll_close_cb(uv_handle_t *h)
{
	struct poll_ctx *ctx = h->data;
	struct prism_target *t = ctx->t;

	free(ctx);
	target_unref(t);
}

/* Stop watching: unlink now, free in the close callback (never directly). */
static void poll_ctx_close(struct poll_ctx *ctx)
{
	struct prism_target *t = ctx->t;

	if (ctx->prev != NULL)
		ctx->prev->next = ctx->next;
	else
		t->polls = ctx->next;
	if (ctx->next != NULL)
		ctx->next->prev = ctx->prev;
	ctx->prev = ctx->next = NULL;
	uv_close((uv_handle_t *)&ctx->poll, poll_close_cb);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct poll_ctx *ctx = h->data;
	struct prism_target *t = ctx->t;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* ctx may be closed (not freed) by socket_cb inside this call: only t is used after */
	curl_multi_socket_action(t->multi, ctx->fd, flags, &running);
	check_done(t);
}

static struct poll_ctx *poll_ctx_new(struct prism_target *t, curl_socket_t fd)
{
	struct poll_ctx *ctx;

	/* A context still registered for this fd number belongs to a socket curl closed without
	 * telling us; release it before libuv sees the new socket. */
	for (ctx = t->polls; ctx != NULL; ctx = ctx->next) {
		if (ctx->fd == fd) {
			poll_ctx_close(ctx);
			break;
		}
	}
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL)
		return NULL;
	if (uv_poll_init_socket(t->loop, &ctx->poll, fd) != 0) {
		free(ctx);
		return NULL;
	}
	ctx->fd = fd;
	ctx->t = t;
	ctx->poll.data = ctx;
	ctx->next = t->polls;
	if (t->polls != NULL)
		t->polls->prev = ctx;
	t->polls = ctx;
	t->refs++;
	return ctx;
}

/* CURLMOPT_SOCKETFUNCTION. Also called with CURL_POLL_REMOVE during close(). */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct prism_target *t = userp;
	struct poll_ctx *ctx = socketp;
	int events = 0;

	if (what == CURL_POLL_REMOVE) {
		/* curl drops its socketp for fd after this returns */
		if (ctx != NULL)
			poll_ctx_close(ctx);
		return 0;
	}
	if (t->closing)
		return 0;
	if (ctx == NULL) {
		ctx = poll_ctx_new(t, fd);
		if (ctx == NULL)
			return -1; /* curl fails the transfers on this socket */
		curl_multi_assign(t->multi, fd, ctx);
	}
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		events |= UV_READABLE;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		events |= UV_WRITABLE;
	if (uv_poll_start(&ctx->poll, events, poll_cb) != 0)
		return -1;
	return 0;
}

static void timer_cb(uv_timer_t *h)
{
	struct prism_target *t = h->data;
	int running;

	curl_multi_socket_action(t->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(t);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 fires on the next loop iteration, never
 * synchronously, so no transfer completes inside apply()/ensure_zone(). */
static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
	struct prism_target *t = userp;

	if (timeout_ms < 0 || t->closing)
		uv_timer_stop(&t->timer);
	else
		uv_timer_start(&t->timer, timer_cb, (uint64_t)timeout_ms, 0);
	return 0;
}

static void timer_close_cb(uv_handle_t *h)
{
	target_unref(h->data);
}

/* ---- requests ---- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct pdns_req *r = userdata;
	size_t n = size * nmemb;

	size_t limit =
		r->step == STEP_ZONE_READ || r->step == STEP_ZONE_LIST ? ZONE_RESP_MAX : RESP_MAX;
	if (n > limit - r->resp_len) {
		r->resp_too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (r->resp_len + n + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 1024;
		char *p;

		while (cap < r->resp_len + n + 1)
			cap *= 2;
		p = realloc(r->resp, cap);
		if (p == NULL)
			return 0;
		r->resp = p;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, ptr, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return n;
}

static void req_free(struct pdns_req *r)
{
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	free(r->url);
	free(r->body);
	free(r->post_url);
	free(r->post_body);
	free(r->rectify_url);
	free(r->resp);
	free(r);
}

static void req_unlink(struct pdns_req *r)
{
	struct prism_target *t = r->t;

	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		t->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static struct pdns_req *req_new(struct prism_target *t, prism_target_done_cb cb, void *arg)
{
	struct pdns_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->easy = curl_easy_init();
	if (r->easy == NULL) {
		free(r);
		return NULL;
	}
	r->t = t;
	r->cb = cb;
	r->arg = arg;
	return r;
}

static int set_common(struct pdns_req *r)
{
	struct prism_target *t = r->t;
	CURL *e = r->easy;
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                                             \
	do {                                                                                      \
		if (rc == CURLE_OK)                                                               \
			rc = curl_easy_setopt(e, opt, val);                                       \
	} while (0)
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_HTTPHEADER, t->headers);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, t->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	switch (r->step) {
	case STEP_ZONE_GET:
	case STEP_ZONE_READ:
	case STEP_ZONE_LIST:
	case STEP_KEYS:
	case STEP_GET: SET(CURLOPT_HTTPGET, 1L); break;
	case STEP_DNSSEC:
	case STEP_KIND:
		SET(CURLOPT_CUSTOMREQUEST, "PUT");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SET(CURLOPT_POSTFIELDS, r->body);
		break;
	case STEP_RECTIFY:
	case STEP_NOTIFY:
		SET(CURLOPT_CUSTOMREQUEST, "PUT");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		SET(CURLOPT_POSTFIELDS, "");
		break;
	case STEP_ZONE_DELETE: SET(CURLOPT_CUSTOMREQUEST, "DELETE"); break;
	case STEP_FLUSH:
		SET(CURLOPT_CUSTOMREQUEST, "PUT");
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		SET(CURLOPT_POSTFIELDS, "");
		break;
	case STEP_PATCH:
		SET(CURLOPT_CUSTOMREQUEST, "PATCH");
		/* fall through */
	case STEP_ZONE_POST:
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		SET(CURLOPT_POSTFIELDS, r->body); /* owned by r until it is freed */
		break;
	}
#undef SET
	return rc == CURLE_OK ? 0 : PRISM_EINVAL;
}

/* Configure the easy handle for r->step and hand it to the multi handle. */
static int req_launch(struct pdns_req *r)
{
	struct prism_target *t = r->t;
	int rc;

	r->errbuf[0] = '\0';
	r->resp_len = 0;
	r->resp_too_big = false;
	rc = set_common(r);
	if (rc != 0)
		return rc;
	if (curl_multi_add_handle(t->multi, r->easy) != CURLM_OK)
		return PRISM_ENOMEM;
	t->requests++;
	r->started = uv_hrtime();
	return 0;
}

static void req_complete(struct pdns_req *r, int err, int status, const char *msg);

/* ---- the gate: rate limit, circuit breaker, quick retries ---- */

static void gate_refill(struct prism_target *t, uint64_t now)
{
	double cap = t->qps > 1 ? t->qps : 1;
	t->tokens += (double)(now - t->tokens_at) * t->qps / 1000.0;
	if (t->tokens > cap)
		t->tokens = cap;
	t->tokens_at = now;
}

/* Whether r may go now; if not, *wait is the milliseconds to wait (0: fail it now). */
static bool gate_open_for(struct prism_target *t, const struct pdns_req *r, uint64_t now,
			  uint64_t *wait)
{
	if (r->not_before > now) {
		*wait = r->not_before - now;
		return false;
	}
	if (t->breaker == BREAKER_OPEN && now >= t->breaker_until)
		t->breaker = BREAKER_HALF_OPEN;
	if (t->breaker == BREAKER_OPEN || (t->breaker == BREAKER_HALF_OPEN && t->probe != NULL)) {
		*wait = 0;
		return false;
	}
	if (t->qps > 0) {
		gate_refill(t, now);
		if (t->tokens < 1) {
			*wait = (uint64_t)((1 - t->tokens) * 1000.0 / t->qps) + 1;
			return false;
		}
	}
	return true;
}

/* r passed the gate: take its token, make it the probe when half-open, start it. */
static int gate_pass(struct prism_target *t, struct pdns_req *r)
{
	if (t->qps > 0)
		t->tokens -= 1;
	if (t->breaker == BREAKER_HALF_OPEN)
		t->probe = r;
	int rc = req_launch(r);
	if (rc != 0 && t->probe == r)
		t->probe = NULL;
	return rc;
}

static void gate_cb(uv_timer_t *h);

/* Go through the held requests in order: start, fail or keep each; arm the timer. */
static void gate_run(struct prism_target *t)
{
	uint64_t now = uv_now(t->loop), next = UINT64_MAX;
	struct pdns_req **pp = &t->waiting;

	t->refs++; /* a callback may close the target */
	while (!t->closing && *pp != NULL) {
		struct pdns_req *r = *pp;
		uint64_t wait = 0;
		bool go = gate_open_for(t, r, now, &wait);
		if (!go && wait > 0) {
			if (wait < next)
				next = wait;
			if (r->not_before > now) {
				pp = &r->wait_next; /* a retry waiting its delay: look further */
				continue;
			}
			break; /* out of tokens: the rest waits its turn */
		}
		*pp = r->wait_next;
		r->wait_next = NULL;
		char msg[ERRMSG_MAX];
		if (!go) { /* the breaker is open, or its probe is out */
			snprintf(msg, sizeof(msg),
				 "circuit breaker open after %u failed requests in a row",
				 t->failures_in_row);
			req_complete(r, PRISM_EUPSTREAM, 0, msg);
			continue;
		}
		int rc = gate_pass(t, r);
		if (rc != 0) {
			snprintf(msg, sizeof(msg), "cannot start the request (%s)",
				 prism_strerror(rc));
			req_complete(r, rc, 0, msg);
		}
	}
	if (!t->closing && t->waiting != NULL && next != UINT64_MAX)
		uv_timer_start(&t->gate, gate_cb, next, 0);
	target_unref(t);
}

static void gate_cb(uv_timer_t *h)
{
	gate_run(h->data);
}

/* Start r now when the gate lets it through and nothing waits before it; else hold it
 * (a refusal is delivered from the gate's timer, never from inside this call). */
static int req_start(struct pdns_req *r)
{
	struct prism_target *t = r->t;
	uint64_t now = uv_now(t->loop), wait = 0;

	if (t->waiting == NULL && gate_open_for(t, r, now, &wait))
		return gate_pass(t, r);
	struct pdns_req **pp = &t->waiting;
	while (*pp != NULL)
		pp = &(*pp)->wait_next;
	*pp = r;
	r->wait_next = NULL;
	uv_timer_start(&t->gate, gate_cb, t->waiting == r ? wait : 0, 0);
	return 0;
}

/* An HTTP attempt of r ended; failed: no answer, or a 5xx. Moves the breaker. */
static void breaker_note(struct prism_target *t, const struct pdns_req *r, bool failed)
{
	bool probe = t->probe == r;

	if (probe)
		t->probe = NULL;
	if (!failed) {
		t->breaker = BREAKER_CLOSED;
		t->failures_in_row = 0;
		return;
	}
	t->failures_in_row++;
	if (t->breaker_threshold == 0)
		return;
	if ((t->breaker == BREAKER_CLOSED && t->failures_in_row >= t->breaker_threshold) ||
	    (t->breaker == BREAKER_HALF_OPEN && probe)) {
		t->breaker = BREAKER_OPEN;
		t->breaker_until = uv_now(t->loop) + t->breaker_recovery_ms;
	}
}

/* Link a new request and start it; on failure r is freed and no callback runs. */
static int req_submit(struct prism_target *t, struct pdns_req *r)
{
	int rc = req_start(r);

	if (rc != 0) {
		req_free(r);
		return rc;
	}
	r->next = t->reqs;
	if (t->reqs != NULL)
		t->reqs->prev = r;
	t->reqs = r;
	return 0;
}

static void req_complete(struct pdns_req *r, int err, int status, const char *msg)
{
	struct prism_target *t = r->t;

	if (err != 0)
		t->failures++;
	req_unlink(r);
	if (r->zone_cb != NULL) {
		struct prism_actual_zone *z = NULL;
		if (err == 0) {
			z = calloc(1, sizeof(*z));
			int rc = z ? prism_pdns_zone_parse(r->resp ? r->resp : "", r->resp_len,
							   t->owner, z)
				   : PRISM_ENOMEM;
			if (rc != 0) {
				free(z);
				z = NULL;
				err = rc;
				msg = "cannot parse the zone PowerDNS returned";
				t->failures++;
			}
		}
		r->zone_cb(r->arg, err, status, msg, z);
	} else if (r->data_cb != NULL) {
		struct prism_zone_data *d = NULL;
		if (err == 0) {
			d = calloc(1, sizeof(*d));
			int rc =
				d ? prism_pdns_zone_records(r->resp ? r->resp : "", r->resp_len, d)
				  : PRISM_ENOMEM;
			if (rc != 0) {
				free(d);
				d = NULL;
				err = rc;
				msg = "cannot parse the zone PowerDNS returned";
				t->failures++;
			}
		}
		r->data_cb(r->arg, err, status, msg, d);
	} else if (r->list_cb != NULL) {
		struct prism_zone_list *l = NULL;
		if (err == 0) {
			l = calloc(1, sizeof(*l));
			int rc = l ? prism_pdns_zone_list(r->resp ? r->resp : "", r->resp_len, l)
				   : PRISM_ENOMEM;
			if (rc != 0) {
				free(l);
				l = NULL;
				err = rc;
				msg = "cannot parse the zone list PowerDNS returned";
				t->failures++;
			}
		}
		r->list_cb(r->arg, err, status, msg, l);
	} else if (r->body_cb != NULL) {
		r->body_cb(r->arg, err, status, msg, err == 0 && r->resp ? r->resp : "",
			   err == 0 ? r->resp_len : 0);
	} else if (r->cb != NULL) {
		r->cb(r->arg, err, status, msg);
	}
	req_free(r);
}

/* Map a transport failure to the error space; the message is curl's error buffer. */
static int transport_error(const struct pdns_req *r, CURLcode cc, char *msg, size_t msglen)
{
	if (r->resp_too_big) {
		snprintf(msg, msglen, "response larger than %u bytes",
			 r->step == STEP_ZONE_READ ? ZONE_RESP_MAX : RESP_MAX);
		return PRISM_EUPSTREAM;
	}
	snprintf(msg, msglen, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
	switch (cc) {
	case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return PRISM_ETIMEOUT;
	default: return PRISM_EUPSTREAM;
	}
}

/* ensure_zone(): the zone is missing, go on with the POST on the same easy handle. */
static int req_next_post(struct pdns_req *r)
{
	free(r->url);
	free(r->body);
	r->url = r->post_url;
	r->body = r->post_body;
	r->body_len = r->post_len;
	r->post_url = NULL;
	r->post_body = NULL;
	r->step = STEP_ZONE_POST;
	curl_easy_reset(r->easy);
	return req_start(r);
}

/*
 * apply(): after the PATCH, flush the zone from PowerDNS's caches. The API purges them
 * itself, but a query that read the backend before the commit can store its (negative)
 * answer after that purge, and then the new record stays invisible for up to
 * negquery-cache-ttl (60 s): measured as about 1 in 100 changes under concurrent queries.
 */
static int req_next_flush(struct pdns_req *r)
{
	free(r->url);
	free(r->body);
	r->url = r->post_url;
	r->body = NULL;
	r->body_len = 0;
	r->post_url = NULL;
	r->step = STEP_FLUSH;
	curl_easy_reset(r->easy);
	return req_start(r);
}

/* Tell the observer about the step of r that just ended (status 0: no HTTP answer). */
static void observe_step(const struct pdns_req *r, long status)
{
	static const char *const method[] = {"PATCH", "GET", "POST", "PUT", "GET", "DELETE", "GET",
					     "PUT",   "PUT", "GET",  "PUT", "GET", "PUT"};
	static const char *const endpoint[] = {
		"zone", "zone",	   "zones",	 "cache",  "zone",   "zone", "zones",
		"zone", "rectify", "cryptokeys", "notify", "server", "zone"};
	static const char *const zone_op[] = {NULL,	"check", "create", NULL,      "read",
					      "delete", "list",	 "dnssec", "rectify", "keys",
					      "notify", NULL,	 "kind"};
	const struct prism_target *t = r->t;

	if (t->observer == NULL)
		return;
	struct prism_target_event ev = {
		.target = t->name,
		.method = method[r->step],
		.endpoint = endpoint[r->step],
		.http_status = (int)status,
		.seconds = (double)(uv_hrtime() - r->started) / 1e9,
		.zone_op = zone_op[r->step],
		.replaced = r->step == STEP_PATCH || r->step == STEP_ZONE_POST ? r->replaced : 0,
		.deleted = r->step == STEP_PATCH ? r->deleted : 0,
	};
	t->observer(t->observer_arg, &ev);
}

/* A transfer of r ended (its easy handle is already out of the multi handle). */
static void req_done(struct pdns_req *r, CURLcode cc)
{
	char msg[ERRMSG_MAX] = "";
	long status = 0;
	int err;

	if (cc == CURLE_OK)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	observe_step(r, cc == CURLE_OK ? status : 0);
	bool failed = cc != CURLE_OK || status >= 500;
	breaker_note(r->t, r, failed);
	if (failed && !r->resp_too_big && cc != CURLE_OPERATION_TIMEDOUT &&
	    r->attempts < r->t->retry_attempts && !r->t->closing) {
		/* a quick retry of the same step, after 0.1 s, 0.2 s, ... (the gate holds it);
		 * not after a timeout, which has waited long enough */
		r->attempts++;
		r->not_before = uv_now(r->t->loop) + 100u * r->attempts;
		err = req_start(r);
		if (err == 0)
			return;
	}
	if (cc != CURLE_OK) {
		err = transport_error(r, cc, msg, sizeof(msg));
		req_complete(r, err, 0, msg);
		return;
	}
	if (r->step == STEP_ZONE_GET && (status == 404 || status == 422)) {
		/* missing zone; some PowerDNS versions answer 422 "Could not find domain" */
		err = req_next_post(r);
		if (err == 0)
			return;
		snprintf(msg, sizeof(msg), "cannot start zone creation (%s)", prism_strerror(err));
		req_complete(r, err, 0, msg);
		return;
	}
	if ((r->step == STEP_DNSSEC || r->step == STEP_RECTIFY) && status >= 200 && status < 300) {
		/* signing: rectify next; then (or when unsigning) flush the caches */
		bool rectify = r->step == STEP_DNSSEC && r->rectify_url != NULL;
		if (rectify) {
			free(r->url);
			r->url = r->rectify_url;
			r->rectify_url = NULL;
			free(r->body);
			r->body = NULL;
			r->body_len = 0;
			r->step = STEP_RECTIFY;
			curl_easy_reset(r->easy);
			err = req_start(r);
		} else {
			err = req_next_flush(r);
		}
		if (err == 0)
			return;
		req_complete(r, 0, (int)status, "");
		return;
	}
	if (r->step == STEP_FLUSH) {
		/* the write itself succeeded; a failed flush only delays visibility */
		req_complete(r, 0, r->written ? r->written : 204, "");
		return;
	}
	if ((r->step == STEP_PATCH || (r->step == STEP_ZONE_POST && status == 201)) &&
	    status >= 200 && status < 300 && r->post_url != NULL) {
		r->written = (int)status; /* 201 tells a zone created from one that existed */
		err = req_next_flush(r);
		if (err == 0)
			return;
		req_complete(r, 0, (int)status, "");
		return;
	}
	if ((status >= 200 && status < 300) || (r->step == STEP_ZONE_POST && status == 409) ||
	    (r->step == STEP_ZONE_DELETE && (status == 404 || status == 422))) {
		req_complete(r, 0, (int)status, "");
		return;
	}
	prism_pdns_error_message(r->resp, r->resp_len, msg, sizeof(msg));
	req_complete(r, PRISM_EUPSTREAM, (int)status, msg);
}

/* Collect finished transfers. A callback may close the target: stop reading then. */
static void check_done(struct prism_target *t)
{
	CURLMsg *m;
	int pending;

	t->refs++;
	while (!t->closing && (m = curl_multi_info_read(t->multi, &pending)) != NULL) {
		CURL *easy = m->easy_handle;
		CURLcode cc = m->data.result;
		char *priv = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_multi_remove_handle(t->multi, easy); /* invalidates m */
		if (priv != NULL)
			req_done((struct pdns_req *)(void *)priv, cc);
	}
	target_unref(t);
}

/* ---- the API table ---- */

static int target_open_fail(struct prism_target *t, int rc)
{
	curl_slist_free_all(t->headers);
	free(t->name);
	free(t->base_url);
	free(t->comment);
	free(t->owner);
	free(t);
	curl_global_cleanup();
	return rc;
}

static bool api_key_ok(const char *api_key)
{
	return api_key != NULL && strchr(api_key, '\r') == NULL && strchr(api_key, '\n') == NULL;
}

static int build_headers(struct prism_target *t, const char *api_key)
{
	static const char *const fixed[] = {
		"Content-Type: application/json", "Accept: application/json",
		"Expect:", /* no 100-continue round trip for large bodies */
	};
	char *key = NULL;
	struct curl_slist *l;

	if (asprintf(&key, "X-API-Key: %s", api_key) < 0)
		return PRISM_ENOMEM;
	l = curl_slist_append(NULL, key);
	free(key);
	for (size_t i = 0; l != NULL && i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		struct curl_slist *n = curl_slist_append(l, fixed[i]);

		if (n == NULL) {
			curl_slist_free_all(l);
			l = NULL;
		} else {
			l = n;
		}
	}
	if (l == NULL)
		return PRISM_ENOMEM;
	t->headers = l;
	return 0;
}

/* Seconds → milliseconds, 1 ms to 1 day; not positive (or NaN) means the default. */
static long timeout_ms(double seconds)
{
	if (!(seconds > 0))
		return DEFAULT_TIMEOUT_MS;
	if (seconds > TIMEOUT_MAX_S)
		seconds = TIMEOUT_MAX_S;
	long ms = (long)(seconds * 1000.0 + 0.5);

	return ms < 1 ? 1 : ms;
}

static int pdns_open(uv_loop_t *loop, const struct prism_target_opts *opts,
		     struct prism_target **out)
{
	struct prism_target *t;
	size_t ulen;
	char *sid;
	int rc;

	if (loop == NULL || opts == NULL || out == NULL || opts->api_url == NULL ||
	    !api_key_ok(opts->api_key) || opts->server_id == NULL || opts->server_id[0] == '\0')
		return PRISM_EINVAL;
	ulen = strlen(opts->api_url);
	while (ulen > 0 && opts->api_url[ulen - 1] == '/')
		ulen--;
	if (ulen == 0)
		return PRISM_EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return PRISM_ENOMEM;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		curl_global_cleanup();
		return PRISM_ENOMEM;
	}
	t->loop = loop;
	t->name = strdup(opts->name != NULL ? opts->name : "default");
	sid = path_escape(opts->server_id);
	if (sid == NULL ||
	    asprintf(&t->base_url, "%.*s/servers/%s", (int)ulen, opts->api_url, sid) < 0)
		t->base_url = NULL;
	free(sid);
	if (asprintf(&t->comment, "managed by prism instance %s",
		     opts->instance != NULL ? opts->instance : "default") < 0)
		t->comment = NULL;
	t->owner = strdup(opts->owner_id != NULL && opts->owner_id[0] ? opts->owner_id
								      : OWNER_DEFAULT);
	if (t->name == NULL || t->base_url == NULL || t->comment == NULL || t->owner == NULL)
		return target_open_fail(t, PRISM_ENOMEM);
	rc = build_headers(t, opts->api_key);
	if (rc != 0)
		return target_open_fail(t, rc);

	t->timeout_ms = timeout_ms(opts->timeout);
	t->connect_timeout_ms =
		t->timeout_ms < CONNECT_TIMEOUT_MAX_MS ? t->timeout_ms : CONNECT_TIMEOUT_MAX_MS;

	t->multi = curl_multi_init();
	if (t->multi == NULL)
		return target_open_fail(t, PRISM_ENOMEM);
	curl_multi_setopt(t->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(t->multi, CURLMOPT_SOCKETDATA, t);
	curl_multi_setopt(t->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(t->multi, CURLMOPT_TIMERDATA, t);
	curl_multi_setopt(t->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, MAX_CONNECTIONS);

	t->retry_attempts = opts->retry_attempts;
	t->qps = opts->rate_limit_qps > 0 ? opts->rate_limit_qps : 0;
	t->tokens = t->qps > 1 ? t->qps : 1;
	t->tokens_at = uv_now(loop);
	t->breaker_threshold = opts->breaker_threshold;
	t->breaker_recovery_ms =
		opts->breaker_recovery > 0 ? (uint64_t)(opts->breaker_recovery * 1000.0) : 30000;
	uv_timer_init(loop, &t->timer); /* cannot fail */
	t->timer.data = t;
	uv_timer_init(loop, &t->gate);
	t->gate.data = t;
	t->refs = 3; /* owner + timer + gate */
	*out = t;
	return 0;
}

/* The requests started from now on send @p api_key; those in flight finish with theirs. */
static int pdns_set_api_key(struct prism_target *t, const char *api_key, bool *changed)
{
	*changed = false;
	if (t == NULL || !api_key_ok(api_key))
		return PRISM_EINVAL;
	char *line = NULL;
	if (asprintf(&line, "X-API-Key: %s", api_key) < 0)
		return PRISM_ENOMEM;
	bool same = strcmp(line, t->headers->data) == 0;
	explicit_bzero(line, strlen(line));
	free(line);
	if (same)
		return 0;
	struct retired_headers *r = malloc(sizeof(*r));
	if (r == NULL)
		return PRISM_ENOMEM;
	r->list = t->headers;
	int rc = build_headers(t, api_key);
	if (rc != 0) {
		t->headers = r->list;
		free(r);
		return rc;
	}
	r->next = t->retired;
	t->retired = r;
	*changed = true;
	return 0;
}

static void pdns_gateway(const struct prism_target *t, struct prism_target_gateway *out)
{
	static const char *const names[] = {"closed", "open", "half-open"};
	uint64_t now = uv_now(t->loop);
	size_t queued = 0;
	for (const struct pdns_req *r = t->waiting; r != NULL; r = r->wait_next)
		queued++;
	bool open = t->breaker == BREAKER_OPEN && now < t->breaker_until;
	*out = (struct prism_target_gateway){
		.rate_limit_qps = t->qps,
		.retry_attempts = t->retry_attempts,
		.breaker_threshold = t->breaker_threshold,
		.breaker = open				  ? names[BREAKER_OPEN]
			   : t->breaker == BREAKER_CLOSED ? names[BREAKER_CLOSED]
							  : names[BREAKER_HALF_OPEN],
		.failures_in_row = t->failures_in_row,
		.probe_in = open ? (double)(t->breaker_until - now) / 1000.0 : 0,
		.queued = queued,
	};
}

static void pdns_close(struct prism_target *t)
{
	if (t == NULL || t->closing)
		return;
	t->closing = true;
	/* Abandon requests without callbacks. curl may call socket_cb (CURL_POLL_REMOVE) and
	 * timer_fn from these calls; both cope with closing. */
	while (t->reqs != NULL) {
		struct pdns_req *r = t->reqs;

		req_unlink(r);
		curl_multi_remove_handle(t->multi, r->easy);
		req_free(r);
	}
	curl_multi_cleanup(t->multi); /* closes cached connections, may call socket_cb */
	t->multi = NULL;
	while (t->polls != NULL)
		poll_ctx_close(t->polls);
	t->waiting = NULL; /* freed with the list above */
	t->probe = NULL;
	uv_timer_stop(&t->timer);
	uv_close((uv_handle_t *)&t->timer, timer_close_cb);
	uv_timer_stop(&t->gate);
	uv_close((uv_handle_t *)&t->gate, timer_close_cb);
	target_unref(t); /* the owner's reference */
}

/* The request that flushes @p zone from PowerDNS's caches (NULL when out of memory). */
static char *cache_flush_url(const struct prism_target *t, const char *zone)
{
	char *z = path_escape(zone), *url;
	if (z == NULL || asprintf(&url, "%s/cache/flush?domain=%s", t->base_url, z) < 0)
		url = NULL;
	free(z);
	return url;
}

/* Submit a write @p r (its URL set: NULL fails) that a flush of @p zone from PowerDNS's
 * caches follows once it succeeded (req_next_flush); @p r is freed on failure. */
static int req_submit_flushed(struct prism_target *t, struct pdns_req *r, const char *zone)
{
	r->post_url = cache_flush_url(t, zone);
	if (r->url == NULL || r->post_url == NULL) {
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

static int pdns_apply(struct prism_target *t, const char *zone,
		      const struct prism_rr_change *changes, size_t n, prism_target_done_cb cb,
		      void *arg)
{
	struct pdns_req *r;
	int rc;

	if (t == NULL || t->closing || !zone_ok(zone) || changes == NULL || n == 0)
		return PRISM_EINVAL;
	r = req_new(t, cb, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->step = STEP_PATCH;
	for (size_t i = 0; i < n; i++) {
		if (changes[i].nrecords == 0)
			r->deleted++;
		else
			r->replaced++;
	}
	rc = prism_pdns_patch_body(changes, n, t->owner, t->comment, &r->body, &r->body_len);
	if (rc != 0) {
		req_free(r);
		return rc;
	}
	r->url = zone_url(t, zone, "");
	return req_submit_flushed(t, r, zone);
}

static int pdns_ensure_zone_kind(struct prism_target *t, const char *zone,
				 const char *const *nameservers, const char *soa, const char *kind,
				 prism_target_done_cb cb, void *arg);

static int pdns_ensure_zone(struct prism_target *t, const char *zone,
			    const char *const *nameservers, const char *soa,
			    prism_target_done_cb cb, void *arg)
{
	return pdns_ensure_zone_kind(t, zone, nameservers, soa, NULL, cb, arg);
}

static int pdns_create_zone_rrsets(struct prism_target *t, const char *zone,
				   const char *const *nameservers, const char *soa,
				   const char *kind, const struct prism_rr_change *changes,
				   size_t n, prism_target_done_cb cb, void *arg)
{
	if (t == NULL || t->closing || !zone_ok(zone) || (n > 0 && changes == NULL))
		return PRISM_EINVAL;
	struct pdns_req *r = req_new(t, cb, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->step = STEP_ZONE_POST;
	for (size_t i = 0; i < n; i++)
		r->replaced += changes[i].nrecords > 0;
	int rc = prism_pdns_zone_create_body_rrsets(zone, nameservers, soa, 0, kind, changes, n,
						    t->owner, t->comment, &r->body, &r->body_len);
	if (rc != 0) {
		req_free(r);
		return rc;
	}
	if (asprintf(&r->url, "%s/zones", t->base_url) < 0) {
		r->url = NULL; /* undefined after a failure */
		req_free(r);
		return PRISM_ENOMEM;
	}
	/* with RRsets, flushed after a 201 as after a PATCH (req_next_flush): the new names
	 * answer at once */
	return n > 0 ? req_submit_flushed(t, r, zone) : req_submit(t, r);
}

static int pdns_create_zone(struct prism_target *t, const char *zone,
			    const char *const *nameservers, const char *soa, const char *kind,
			    prism_target_done_cb cb, void *arg)
{
	return pdns_create_zone_rrsets(t, zone, nameservers, soa, kind, NULL, 0, cb, arg);
}

static int pdns_delete_zone(struct prism_target *t, const char *zone, prism_target_done_cb cb,
			    void *arg)
{
	if (t == NULL || t->closing || !zone_ok(zone))
		return PRISM_EINVAL;
	struct pdns_req *r = req_new(t, cb, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->step = STEP_ZONE_DELETE;
	r->url = zone_url(t, zone, "");
	if (r->url == NULL) {
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

static int pdns_ensure_zone_kind(struct prism_target *t, const char *zone,
				 const char *const *nameservers, const char *soa, const char *kind,
				 prism_target_done_cb cb, void *arg)
{
	struct pdns_req *r;
	int rc;

	if (t == NULL || t->closing || !zone_ok(zone))
		return PRISM_EINVAL;
	r = req_new(t, cb, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->step = STEP_ZONE_GET;
	/* the POST body is built now so bad input fails here, not in a callback */
	rc = prism_pdns_zone_create_body_kind(zone, nameservers, soa, 0, kind, &r->post_body,
					      &r->post_len);
	if (rc != 0) {
		req_free(r);
		return rc;
	}
	r->url = zone_url(t, zone, "?rrsets=false");
	if (r->url == NULL || asprintf(&r->post_url, "%s/zones", t->base_url) < 0) {
		r->post_url = NULL;
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

static void pdns_observe(struct prism_target *t, prism_target_observer_cb cb, void *arg)
{
	if (t == NULL)
		return;
	t->observer = cb;
	t->observer_arg = cb != NULL ? arg : NULL;
}

static int pdns_read_zone(struct prism_target *t, const char *zone, prism_target_zone_cb cb,
			  void *arg)
{
	if (t == NULL || t->closing || !zone_ok(zone) || cb == NULL)
		return PRISM_EINVAL;
	struct pdns_req *r = req_new(t, NULL, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->zone_cb = cb;
	r->step = STEP_ZONE_READ;
	r->url = zone_url(t, zone, "");
	if (r->url == NULL) {
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

static int pdns_read_zone_records(struct prism_target *t, const char *zone,
				  prism_target_data_cb cb, void *arg)
{
	if (t == NULL || t->closing || !zone_ok(zone) || cb == NULL)
		return PRISM_EINVAL;
	struct pdns_req *r = req_new(t, NULL, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->data_cb = cb;
	r->step = STEP_ZONE_READ;
	r->url = zone_url(t, zone, "");
	if (r->url == NULL) {
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

static int pdns_list_zones(struct prism_target *t, prism_target_list_cb cb, void *arg)
{
	if (t == NULL || t->closing || cb == NULL)
		return PRISM_EINVAL;
	struct pdns_req *r = req_new(t, NULL, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->list_cb = cb;
	r->step = STEP_ZONE_LIST;
	if (asprintf(&r->url, "%s/zones", t->base_url) < 0) {
		r->url = NULL;
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

/* A request of one step on <base>/zones/<zone><suffix>. */
static struct pdns_req *zone_req(struct prism_target *t, const char *zone, const char *suffix,
				 enum req_step step, prism_target_done_cb cb, void *arg)
{
	if (t == NULL || t->closing || !zone_ok(zone))
		return NULL;
	struct pdns_req *r = req_new(t, cb, arg);
	if (r == NULL)
		return NULL;
	r->step = step;
	r->url = zone_url(t, zone, suffix);
	if (r->url == NULL) {
		req_free(r);
		return NULL;
	}
	return r;
}

static int pdns_set_dnssec(struct prism_target *t, const char *zone, bool on,
			   prism_target_done_cb cb, void *arg)
{
	struct pdns_req *r = zone_req(t, zone, "", STEP_DNSSEC, cb, arg);
	if (r == NULL)
		return t == NULL || t->closing || !zone_ok(zone) ? PRISM_EINVAL : PRISM_ENOMEM;
	/* api_rectify with signing: later changes through the API are rectified too */
	r->body = strdup(on ? "{\"dnssec\":true,\"api_rectify\":true}"
			    : "{\"dnssec\":false,\"api_rectify\":false}");
	r->body_len = r->body ? strlen(r->body) : 0;
	r->post_url = cache_flush_url(t, zone);
	if (on)
		r->rectify_url = zone_url(t, zone, "/rectify");
	if (r->body == NULL || r->post_url == NULL || (on && r->rectify_url == NULL)) {
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

static int pdns_set_kind(struct prism_target *t, const char *zone, const char *kind,
			 prism_target_done_cb cb, void *arg)
{
	if (kind == NULL || (strcmp(kind, "Native") != 0 && strcmp(kind, "Master") != 0))
		return PRISM_EINVAL;
	struct pdns_req *r = zone_req(t, zone, "", STEP_KIND, cb, arg);
	if (r == NULL)
		return t == NULL || t->closing || !zone_ok(zone) ? PRISM_EINVAL : PRISM_ENOMEM;
	if (asprintf(&r->body, "{\"kind\":\"%s\"}", kind) < 0) {
		r->body = NULL;
		req_free(r);
		return PRISM_ENOMEM;
	}
	r->body_len = strlen(r->body);
	return req_submit(t, r);
}

static int pdns_read_keys(struct prism_target *t, const char *zone, prism_target_body_cb cb,
			  void *arg)
{
	if (cb == NULL)
		return PRISM_EINVAL;
	struct pdns_req *r = zone_req(t, zone, "/cryptokeys", STEP_KEYS, NULL, arg);
	if (r == NULL)
		return t == NULL || t->closing || !zone_ok(zone) ? PRISM_EINVAL : PRISM_ENOMEM;
	r->body_cb = cb;
	return req_submit(t, r);
}

static int pdns_server_get(struct prism_target *t, const char *suffix, prism_target_body_cb cb,
			   void *arg)
{
	if (t == NULL || t->closing || suffix == NULL || cb == NULL)
		return PRISM_EINVAL;
	struct pdns_req *r = req_new(t, NULL, arg);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->body_cb = cb;
	r->step = STEP_GET;
	if (asprintf(&r->url, "%s%s", t->base_url, suffix) < 0) {
		r->url = NULL;
		req_free(r);
		return PRISM_ENOMEM;
	}
	return req_submit(t, r);
}

static int pdns_notify(struct prism_target *t, const char *zone, prism_target_done_cb cb,
		       void *arg)
{
	struct pdns_req *r = zone_req(t, zone, "/notify", STEP_NOTIFY, cb, arg);
	if (r == NULL)
		return t == NULL || t->closing || !zone_ok(zone) ? PRISM_EINVAL : PRISM_ENOMEM;
	return req_submit(t, r);
}

const struct prism_target_api prism_target_powerdns = {
	.kind = "powerdns",
	.open = pdns_open,
	.close = pdns_close,
	.ensure_zone = pdns_ensure_zone,
	.ensure_zone_kind = pdns_ensure_zone_kind,
	.create_zone = pdns_create_zone,
	.create_zone_rrsets = pdns_create_zone_rrsets,
	.delete_zone = pdns_delete_zone,
	.apply = pdns_apply,
	.read_zone = pdns_read_zone,
	.read_zone_records = pdns_read_zone_records,
	.list_zones = pdns_list_zones,
	.set_dnssec = pdns_set_dnssec,
	.read_keys = pdns_read_keys,
	.set_kind = pdns_set_kind,
	.notify = pdns_notify,
	.server_get = pdns_server_get,
	.observe = pdns_observe,
	.set_api_key = pdns_set_api_key,
	.gateway = pdns_gateway,
};
