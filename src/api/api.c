/* SPDX-License-Identifier: MIT */
/*
 * The REST API server: libmicrohttpd on the libuv loop.
 *
 * MHD runs without threads of its own (MHD_USE_EPOLL, external polling): its epoll
 * descriptor is watched by a uv_poll_t and every readiness calls MHD_run(); after each run
 * MHD_get_timeout() re-arms a uv_timer_t (0 ms while MHD still has buffered work). So every
 * callback runs on the loop thread: no locks, module stats are read directly.
 *
 * A request is answered on MHD's first call when it is a read (GET): the request state then
 * lives on the stack. A request with a body, or one that writes, gets a heap context: the
 * body is collected (capped at api.max_body), then the route submits a store writer job and
 * the connection is suspended until the job's done callback has the answer; it is resumed
 * and MHD calls back once more to send it.
 *
 * Lifetimes: the api is reference counted — the owner, each listener's two handles (freed
 * in their close callbacks) and each job in flight (a job outlives its request when the
 * client is gone or the API stops; its done then only drops the reference).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/api_int.h"
#include "api/ui.h"
#include "common/log.h"
#include "core/api_body.h"
#include "core/error.h"

#define TAG		   "api"
#define MAX_LISTENERS	   16
#define CONNECTION_LIMIT   4096u
#define CONNECTION_TIMEOUT 60u /* seconds without activity */
#define LOOPBACK_RESERVE   64u /* connections over CONNECTION_LIMIT only loopback clients get */
#define TLS_FILE_MAX	   (1u << 20)
#define HANDOFF_MIN	   8192u       /* answers this large are handed to MHD, not copied */
#define DISCARD_MAX	   (64u << 20) /* larger bodies over the limit are refused unread */

struct listener {
	struct prism_api *api;
	struct MHD_Daemon *mhd;
	uv_poll_t poll;
	uv_timer_t timer;
	bool started;
	unsigned remote; /* connections from other addresses than loopback */
};

/* MHD's socket context of a connection: the deadline of its request head. */
struct conn_guard {
	uv_timer_t timer;
	struct listener *l;
	struct MHD_Connection *c;
	bool remote;
};

enum prism_api_role prism_api_role_parse(const char *name)
{
	if (name == NULL)
		return PRISM_API_ROLE_NONE;
	if (strcmp(name, "read") == 0)
		return PRISM_API_ROLE_READ;
	if (strcmp(name, "write") == 0)
		return PRISM_API_ROLE_WRITE;
	if (strcmp(name, "admin") == 0)
		return PRISM_API_ROLE_ADMIN;
	return PRISM_API_ROLE_NONE;
}

/* ---- MHD on the loop ---- */

static void arm_timer(struct listener *l);

static void pump(struct listener *l)
{
	if (l->api->stopping)
		return;
	MHD_run(l->mhd);
	arm_timer(l);
}

static void timer_cb(uv_timer_t *h)
{
	pump(h->data);
}

static void arm_timer(struct listener *l)
{
	MHD_UNSIGNED_LONG_LONG ms;
	if (MHD_get_timeout(l->mhd, &ms) == MHD_YES)
		uv_timer_start(&l->timer, timer_cb, (uint64_t)ms, 0);
	else
		uv_timer_stop(&l->timer);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	pump(h->data);
}

/*
 * ---- connection guard ----
 *
 * libmicrohttpd's CONNECTION_TIMEOUT counts inactivity: a client sending one byte of its
 * request head now and then would hold its connection forever, and 4,096 of them the whole
 * API. So each connection gets api.header_timeout seconds, from its accept (or from its last
 * answer, on a kept-alive connection) to a complete request head; late, its socket is shut
 * down and MHD closes it. One address holds at most api.max_connections_per_ip connections
 * (MHD's per-IP limit), and the last LOOPBACK_RESERVE places of the total are kept for
 * loopback clients: the administrator on the host gets in while a flood goes on.
 */
static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24 == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static enum MHD_Result accept_cb(void *cls, const struct sockaddr *addr, socklen_t len)
{
	struct listener *l = cls;
	(void)len;
	if (addr != NULL && is_loopback(addr))
		return MHD_YES;
	return l->remote < CONNECTION_LIMIT ? MHD_YES : MHD_NO;
}

static void guard_closed_cb(uv_handle_t *h)
{
	struct conn_guard *g = h->data;
	struct prism_api *api = g->l->api;
	free(g);
	api_unref(api);
}

/* The head is late: shut the socket down; MHD reads its end and closes the connection. */
static void head_late_cb(uv_timer_t *h)
{
	struct conn_guard *g = h->data;
	if (g->l->api->stopping)
		return;
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(g->c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci != NULL)
		shutdown(ci->connect_fd, SHUT_RDWR);
	g->l->api->heads_late++;
	pump(g->l);
}

/* Start (@p on) or stop the head deadline of connection @p c. */
static void guard_arm(struct MHD_Connection *c, bool on)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_guard *g = ci != NULL ? ci->socket_context : NULL;
	if (g == NULL)
		return;
	if (on)
		uv_timer_start(&g->timer, head_late_cb,
			       (uint64_t)g->l->api->cfg->api_header_timeout * 1000, 0);
	else
		uv_timer_stop(&g->timer);
}

static void notify_cb(void *cls, struct MHD_Connection *c, void **socket_context,
		      enum MHD_ConnectionNotificationCode toe)
{
	struct listener *l = cls;
	struct conn_guard *g = *socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (g == NULL)
			return;
		*socket_context = NULL;
		l->remote -= g->remote;
		uv_close((uv_handle_t *)&g->timer, guard_closed_cb);
		return;
	}
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	g = calloc(1, sizeof(*g));
	if (g == NULL) {
		/* no deadline possible: not served */
		ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL)
			shutdown(ci->connect_fd, SHUT_RDWR);
		return;
	}
	g->l = l;
	g->c = c;
	g->remote = ci == NULL || ci->client_addr == NULL || !is_loopback(ci->client_addr);
	l->remote += g->remote;
	uv_timer_init(l->api->loop, &g->timer);
	g->timer.data = g;
	l->api->refs++;
	*socket_context = g;
	guard_arm(c, true);
}

/* ---- responses ---- */

static const char *status_text(unsigned status, char *buf, size_t len)
{
	snprintf(buf, len, "%u", status);
	return buf;
}

static void count_request(struct api_req *r, unsigned status)
{
	struct prism_api *api = r->api;
	char st[8];
	const char *route = r->route ? r->route->path : "unmatched";
	const char *method = r->route ? r->route->method : "other";
	const char *v[] = {route, method, status_text(status, st, sizeof(st))};
	prism_metric_inc(api->m_api_requests, v, 1);
	const char *d[] = {route};
	prism_metric_inc(api->m_api_duration, d, (double)(uv_hrtime() - r->started) / 1e9);
}

static struct MHD_Response *make_response(const char *type, const char *text, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (resp != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	return resp;
}

/* Headers of every answer: API answers are never cached nor framed; the dashboard's
 * files (ui.c) set their own Cache-Control and Content-Security-Policy first. */
static void safe_headers(struct MHD_Response *resp)
{
	if (MHD_get_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL) == NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (MHD_get_response_header(resp, "Content-Security-Policy") == NULL)
		MHD_add_response_header(resp, "Content-Security-Policy",
					"default-src 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
}

/* Queue now, or keep for after the resume when answering from a job's done. */
static void answer(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
	if (resp == NULL)
		return; /* out of memory: MHD closes the connection when nothing is queued */
	safe_headers(resp);
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	if (r->allow != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (api_on_worker())
		r->uncounted = true; /* metrics are the loop's: counted when back there */
	else
		count_request(r, status);
	if (r->job != NULL || r->suspended) {
		if (r->resp != NULL)
			MHD_destroy_response(r->resp);
		r->resp = resp;
		r->status = status;
		return;
	}
	r->answered = MHD_queue_response(r->conn, status, resp) == MHD_YES;
	MHD_destroy_response(resp);
}

void api_reply_response(struct api_req *r, unsigned status, struct MHD_Response *resp)
{
	answer(r, status, resp);
}

void api_reply_text(struct api_req *r, unsigned status, const char *type, const char *text,
		    size_t len)
{
	answer(r, status, make_response(type, text, len));
}

void api_reply(struct api_req *r, unsigned status)
{
	struct jw *w = api_jw(r->api);
	if (w->oom) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\","
					  "\"message\":\"out of memory\"}}";
		api_reply_text(r, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	if (w->len < HANDOFF_MIN || w->buf == NULL) {
		api_reply_text(r, status, "application/json", w->buf ? w->buf : "", w->len);
		return;
	}
	/* a large answer (a page of hosts): MHD takes the buffer instead of a copy of it, and
	 * the writer gets a new one of the same size */
	char *next = malloc(w->cap);
	if (next == NULL) {
		api_reply_text(r, status, "application/json", w->buf, w->len);
		return;
	}
	struct MHD_Response *resp =
		MHD_create_response_from_buffer_with_free_callback(w->len, w->buf, free);
	if (resp == NULL) {
		free(next);
		return;
	}
	w->buf = next;
	w->len = 0;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	answer(r, status, resp);
}

void api_error(struct api_req *r, unsigned status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	prism_utf8_sanitize(msg); /* it may quote peer input: JSON answers must be UTF-8 */
	struct jw *w = api_jw(r->api);
	jw_reset(w);
	jw_obj(w);
	jw_key(w, "error");
	jw_obj(w);
	jw_kstr(w, "code", code);
	jw_kstr(w, "message", msg);
	jw_end_obj(w);
	jw_end_obj(w);
	api_reply(r, status);
}

const char *api_arg(struct api_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- store jobs ---- */

static int job_run(struct prism_store *s, const struct prism_store_api *st,
		   struct prism_store_job *job)
{
	struct api_job *j = (struct api_job *)job;
	return j->run(s, st, j);
}

static void resume(struct api_req *r)
{
	if (!r->suspended)
		return;
	r->suspended = false;
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		r->api->suspended = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
	MHD_resume_connection(r->conn);
}

static void job_done(struct prism_store_job *job, int err)
{
	struct api_job *j = (struct api_job *)job;
	struct api_req *r = j->req;
	struct prism_api *api = j->api;
	if (r != NULL) {
		if (err == -ECANCELED)
			api_error(r, 503, "unavailable", "the daemon is shutting down");
		else
			j->done(r, j, err);
		r->job = NULL;
		if (r->offload == j)
			return; /* a read thread writes the answer, then ends the job */
		/* a read thread still runs the handler: its done resumes the request */
		if (r->suspended && !r->in_task) {
			resume(r);
			pump(r->l);
		}
	}
	if (j->cleanup != NULL)
		j->cleanup(j);
	free(j);
	api_unref(api);
}

static void offload_work(struct api_task *t)
{
	struct api_req *r = (struct api_req *)((char *)t - offsetof(struct api_req, task));
	r->offload_fn(r, r->offload);
}

static void offload_done(struct api_task *t)
{
	struct api_req *r = (struct api_req *)((char *)t - offsetof(struct api_req, task));
	struct api_job *j = r->offload;
	struct prism_api *api = j->api;
	r->offload = NULL;
	r->in_task = false;
	if (t->cancelled && r->resp == NULL)
		api_error(r, 503, "unavailable", "the daemon is shutting down");
	if (r->resp != NULL && r->uncounted)
		count_request(r, r->status);
	r->uncounted = false;
	if (j->cleanup != NULL)
		j->cleanup(j);
	free(j);
	if (r->suspended) {
		resume(r);
		pump(r->l);
	}
	api_unref(api);
}

void api_answer_off_loop(struct api_req *r, struct api_job *j,
			 void (*fn)(struct api_req *r, struct api_job *j))
{
	if (r->api->pool == NULL) {
		fn(r, j);
		return;
	}
	r->offload = j;
	r->offload_fn = fn;
	r->in_task = true;
	r->task.work = offload_work;
	r->task.done = offload_done;
	api_pool_submit(r->api, &r->task);
}

struct api_job *api_job_new(struct api_req *r)
{
	struct api_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		api_error(r, 500, "internal", "out of memory");
		return NULL;
	}
	j->api = r->api;
	j->now = (int64_t)time(NULL);
	snprintf(j->actor, sizeof(j->actor), "%s", r->actor);
	return j;
}

int api_audit(struct prism_store *s, const struct prism_store_api *st, const struct api_job *j,
	      const char *action, const char *object, const char *before, const char *after)
{
	struct prism_audit_entry e = {j->now, j->actor, action, object, before, after};
	return st->audit_add(s, &e);
}

void api_job_complete(struct api_job *j, int err)
{
	job_done(&j->job, err);
}

void api_job_attach(struct api_req *r, struct api_job *j)
{
	j->req = r;
	r->job = j;
	r->api->refs++;
}

void api_job_resubmit(struct api_job *j)
{
	j->job.run = job_run;
	j->job.done = job_done;
	prism_store_writer_submit(j->api->opts.writer, &j->job);
}

void api_submit(struct api_req *r, struct api_job *j)
{
	if (api_on_worker()) {
		/* the writer and the API's references are the loop's: submitted from there */
		r->deferred = j;
		return;
	}
	j->req = r;
	j->job.run = job_run;
	j->job.done = job_done;
	r->job = j;
	r->api->refs++;
	/* done may run inside submit (writer stopping): the answer is then ready at once */
	prism_store_writer_submit(r->api->opts.writer, &j->job);
}

/* ---- authentication ---- */

bool api_any_key(struct prism_api *api)
{
	if (api->nkeys > 0)
		return true;
	uint64_t now = uv_now(api->loop);
	if (api->db_keys_checked == 0 || now - api->db_keys_checked >= 1000) {
		bool any;
		/* a registry that cannot be read holds no key we could check */
		api->have_db_keys = api->rd->apikeys_any(api_reader(api), &any) == 0 && any;
		api->db_keys_checked = now ? now : 1;
	}
	return api->have_db_keys;
}

static const char *presented_key(struct MHD_Connection *c)
{
	const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
	if (key != NULL && *key != '\0')
		return key;
	const char *auth =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (auth == NULL || strncasecmp(auth, "Bearer", 6) != 0 ||
	    (auth[6] != ' ' && auth[6] != '\t'))
		return NULL;
	auth += 6;
	while (*auth == ' ' || *auth == '\t')
		auth++;
	return *auth ? auth : NULL;
}

/* Whether the route is open to anyone by configuration. */
static bool public_route(const struct api_req *r)
{
	enum api_access need = r->route->access;
	return (need == ACCESS_HEALTH && r->api->cfg->api_public_health) ||
	       (need == ACCESS_METRICS && r->api->cfg->api_public_metrics);
}

/* The configured keys (on the loop: they change there). True when that settles r->role
 * (NONE: no key, or none that can be hashed); false when the registry must be asked
 * about r->hash. */
static bool auth_config(struct api_req *r)
{
	struct prism_api *api = r->api;
	const char *key = presented_key(r->conn);
	r->presented = key != NULL;
	r->role = PRISM_API_ROLE_NONE;
	r->config_keys = api->nkeys > 0;
	if (key == NULL || prism_cred_hash(api->opts.cred_key, key, strlen(key), r->hash) != 0)
		return true;
	/* every configured key is compared, in constant time, whatever matches */
	const struct prism_api_key *found = NULL;
	for (size_t i = 0; i < api->nkeys; i++)
		if (prism_secret_equal(api->keys[i].hash, r->hash, PRISM_TOKEN_HASH_LEN))
			found = &api->keys[i];
	if (found == NULL)
		return false;
	snprintf(r->actor, sizeof(r->actor), "%s", found->name);
	r->role = found->role;
	return true;
}

/* The registry's keys (on the loop or a read thread); r->unreadable when it cannot be
 * read to look the key up. */
static void auth_store(struct api_req *r)
{
	struct prism_api *api = r->api;
	char role[16];
	int rc = api->rd->apikey_by_hash(api_reader(api), r->hash, r->actor, sizeof(r->actor),
					 role, sizeof(role));
	r->unreadable = rc != 0 && rc != PRISM_ENOTFOUND;
	r->role = rc == 0 ? prism_api_role_parse(role) : PRISM_API_ROLE_NONE;
}

static bool any_key(struct api_req *r)
{
	if (!api_on_worker())
		return api_any_key(r->api);
	bool any;
	/* a registry that cannot be read holds no key we could check */
	return r->config_keys || (r->api->rd->apikeys_any(api_reader(r->api), &any) == 0 && any);
}

static const char *const role_names[] = {"none", "read", "write", "admin"};

/* The verdict on r->role: answers 401/403 itself and returns false when the caller may
 * not use the route. */
static bool verdict(struct api_req *r)
{
	enum api_access need = r->route->access;
	enum prism_api_role want =
		need >= ACCESS_HEALTH ? PRISM_API_ROLE_READ : (enum prism_api_role)need;
	if (r->role == PRISM_API_ROLE_NONE) {
		if (r->unreadable)
			api_db_failed(r); /* the key may be valid: not a 401 */
		else if (!any_key(r))
			api_error(r, 401, "unauthorized",
				  "no API key is configured: add an admin "
				  "key to api.keys in the configuration");
		else if (!r->presented)
			api_error(r, 401, "unauthorized",
				  "missing API key (send Authorization: "
				  "Bearer <key> or X-API-Key: <key>)");
		else
			api_error(r, 401, "unauthorized", "invalid API key");
		return false;
	}
	if (r->role < want) {
		api_error(r, 403, "forbidden", "this route needs the %s role; the key has %s",
			  role_names[want], role_names[r->role]);
		return false;
	}
	return true;
}

/* Inline (reads on the loop): answers 401/403 itself and returns false when refused. */
static bool authorise(struct api_req *r)
{
	if (public_route(r))
		return true;
	if (!auth_config(r))
		auth_store(r);
	return verdict(r);
}

/* With a read pool: 1 authorised, 0 refused (answered), -1 the registry decides (on a read
 * thread: r->auth_pending and r->ask_store are set). */
static int authorise_loop(struct api_req *r)
{
	if (public_route(r))
		return 1;
	bool settled = auth_config(r);
	/* a refusal's message asks whether the registry holds any key: a read as well */
	if (settled && (r->role != PRISM_API_ROLE_NONE || r->config_keys))
		return verdict(r) ? 1 : 0;
	r->auth_pending = true;
	r->ask_store = !settled;
	return -1;
}

/* ---- routing ---- */

/* Match @p path against a template; params point into r->pathbuf (terminated on success). */
static bool match(struct api_req *r, const char *tmpl, size_t plen)
{
	const char *p = r->pathbuf, *end = r->pathbuf + plen;
	size_t starts[API_MAX_PARAMS], lens[API_MAX_PARAMS], np = 0;
	while (*tmpl != '\0') {
		if (*tmpl == '{') {
			const char *q = p;
			while (q < end && *q != '/')
				q++;
			if (q == p || np == API_MAX_PARAMS)
				return false;
			starts[np] = (size_t)(p - r->pathbuf);
			lens[np++] = (size_t)(q - p);
			p = q;
			tmpl = strchr(tmpl, '}') + 1;
			continue;
		}
		if (p == end || *p != *tmpl)
			return false;
		p++;
		tmpl++;
	}
	if (p != end)
		return false;
	for (size_t i = 0; i < np; i++) {
		r->pathbuf[starts[i] + lens[i]] = '\0';
		r->params[i] = r->pathbuf + starts[i];
	}
	return true;
}

/* Find the route; answers 404/405 itself when there is none. */
static bool route(struct api_req *r, const char *url, const char *method)
{
	size_t plen = strlen(url);
	if (plen >= sizeof(r->pathbuf)) {
		api_error(r, 404, "not_found", "no such route");
		return false;
	}
	if (plen > 1 && url[plen - 1] == '/')
		plen--; /* "/api/hosts/" is "/api/hosts" */
	char allow[128] = "";
	for (size_t i = 0; i < api_nroutes; i++) {
		const struct api_route *rt = &api_routes[i];
		memcpy(r->pathbuf, url, plen);
		r->pathbuf[plen] = '\0';
		if (!match(r, rt->path, plen))
			continue;
		if (strcmp(rt->method, method) == 0) {
			r->route = rt;
			return true;
		}
		if (strstr(allow, rt->method) == NULL)
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s",
				 allow[0] ? ", " : "", rt->method);
	}
	if (allow[0] == '\0') {
		api_error(r, 404, "not_found", "no such route: %s", url);
		return false;
	}
	r->allow = allow;
	api_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)", method,
		  allow);
	r->allow = NULL;
	return false;
}

/* ---- the access handler ---- */

static bool body_method(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/*
 * A Content-Length over api.max_body. The 413 goes out before the body is read when the
 * client waits for it (Expect: 100-continue) or the body is huge; otherwise the body is
 * read and dropped first, because closing with unread data resets the connection and a
 * client still sending would never see the answer.
 */
enum too_big { FITS, DISCARD, REFUSE_NOW };

static enum too_big body_too_big(struct api_req *r)
{
	const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL)
		return FITS;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(cl, &end, 10);
	uint64_t max = r->api->cfg->api_max_body;
	if (errno == 0 && n <= max)
		return FITS;
	const char *expect =
		MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
	if (errno != 0 || expect != NULL || n > DISCARD_MAX)
		return REFUSE_NOW;
	return DISCARD;
}

static void answer_too_big(struct api_req *r)
{
	api_error(r, 413, "payload_too_large",
		  "the request body is larger than api.max_body "
		  "(%u bytes)",
		  (unsigned)r->api->cfg->api_max_body);
}

/*
 * A read is answered on MHD's second call, when the request is complete: answering on the
 * first one (headers only) makes MHD close the connection instead of keeping it alive.
 * Its state lives on the stack; *con_cls only marks that the first call happened.
 */
static char read_marker;

/* A request state on the heap, for a request that waits (its body, a job, a read thread). */
static struct api_req *req_to_heap(const struct api_req *tmp)
{
	struct api_req *r = malloc(sizeof(*r));
	if (r == NULL)
		return NULL;
	*r = *tmp;
	r->heap = true;
	/* params point into pathbuf: move them along */
	for (size_t i = 0; i < API_MAX_PARAMS; i++)
		if (tmp->params[i] != NULL)
			r->params[i] = r->pathbuf + (tmp->params[i] - tmp->pathbuf);
	return r;
}

static void suspend(struct api_req *r)
{
	r->suspended = true;
	r->next = r->api->suspended;
	if (r->next != NULL)
		r->next->prev = r;
	r->api->suspended = r;
	MHD_suspend_connection(r->conn);
}

/* On a read thread: the role when the registry decides it, then the handler of a route
 * that reads only the store (api_route.worker). */
static void req_work(struct api_task *t)
{
	struct api_req *r = (struct api_req *)((char *)t - offsetof(struct api_req, task));
	if (r->auth_pending) {
		if (r->ask_store)
			auth_store(r);
		r->authorised = verdict(r);
	}
	if (r->authorised && r->run_fn)
		r->route->fn(r);
}

/* Back on the loop: the handler of a route that needs the loop, then the answer. */
static void req_done(struct api_task *t)
{
	struct api_req *r = (struct api_req *)((char *)t - offsetof(struct api_req, task));
	struct api_job *j = r->deferred;
	r->auth_pending = false;
	r->in_task = false;
	r->deferred = NULL;
	if (j != NULL && !r->api->stopping) {
		api_submit(r, j); /* the writer job the handler made on the thread */
	} else if (j != NULL) {
		if (j->cleanup != NULL)
			j->cleanup(j);
		free(j);
	}
	if ((t->cancelled || r->api->stopping) && r->resp == NULL)
		api_error(r, 503, "unavailable", "the daemon is shutting down");
	else if (r->authorised && r->via_read && !r->run_fn && r->resp == NULL) {
		if (r->route->counts && api_counts_stale(r->api)) {
			api_counts_wait(r->api, r); /* it goes on when they are fresh */
			return;
		}
		r->route->fn(r);
	}
	if (r->resp != NULL && r->uncounted)
		count_request(r, r->status);
	r->uncounted = false;
	if (r->job == NULL && r->suspended) {
		resume(r);
		pump(r->l);
	}
}

void api_req_continue(struct api_req *r)
{
	if (r->api->stopping)
		api_error(r, 503, "unavailable", "the daemon is shutting down");
	else
		r->route->fn(r);
	if (r->job == NULL && r->suspended) {
		resume(r);
		pump(r->l);
	}
}

/* Hand @p tmp to a read thread; the connection waits, suspended. */
static enum MHD_Result to_pool(struct api_req *tmp, void **con_cls)
{
	struct api_req *r = req_to_heap(tmp);
	if (r == NULL)
		return MHD_NO;
	r->task.work = req_work;
	r->task.done = req_done;
	r->in_task = true;
	*con_cls = r;
	suspend(r);
	api_pool_submit(r->api, &r->task);
	return MHD_YES;
}

static enum MHD_Result read_call(struct listener *l, struct MHD_Connection *c, const char *url,
				 const char *method, void **con_cls)
{
	struct api_req tmp = {.api = l->api, .l = l, .conn = c, .started = uv_hrtime()};
	if (api_ui_request(&tmp, url, method) || !route(&tmp, url, method))
		return tmp.answered ? MHD_YES : MHD_NO;
	if (l->api->pool == NULL) {
		if (authorise(&tmp))
			tmp.route->fn(&tmp);
		return tmp.answered ? MHD_YES : MHD_NO;
	}
	int a = authorise_loop(&tmp);
	if (a == 1 && !tmp.route->worker && tmp.route->counts && api_counts_stale(l->api)) {
		/* the counts are refreshed on a read thread first */
		struct api_req *r = req_to_heap(&tmp);
		if (r == NULL)
			return MHD_NO;
		r->via_read = true;
		*con_cls = r;
		suspend(r);
		api_counts_wait(l->api, r);
		return MHD_YES;
	}
	if (a == 1 && !tmp.route->worker)
		tmp.route->fn(&tmp);
	if (a == 0 || (a == 1 && !tmp.route->worker))
		return tmp.answered ? MHD_YES : MHD_NO;
	tmp.via_read = true;
	tmp.run_fn = tmp.route->worker;
	tmp.authorised = a == 1;
	return to_pool(&tmp, con_cls);
}

/* Whether @p url (n bytes) has the shape of @p tmpl: a "{param}" is one non-empty segment. */
static bool same_shape(const char *tmpl, const char *url, size_t n)
{
	const char *u = url, *end = url + n;
	while (*tmpl != '\0') {
		if (*tmpl == '{') {
			const char *q = u;
			while (q < end && *q != '/')
				q++;
			if (q == u)
				return false;
			u = q;
			tmpl = strchr(tmpl, '}') + 1;
			continue;
		}
		if (u == end || *u != *tmpl)
			return false;
		u++;
		tmpl++;
	}
	return u == end;
}

/* A read that waits for something (the plan): it needs a heap context like a write. */
static bool async_read(const char *url, const char *method)
{
	size_t n = strlen(url);
	if (n > 1 && url[n - 1] == '/')
		n--;
	for (size_t i = 0; i < api_nroutes; i++)
		if (api_routes[i].async && strcmp(api_routes[i].method, method) == 0 &&
		    same_shape(api_routes[i].path, url, n))
			return true;
	return false;
}

static enum MHD_Result first_call(struct listener *l, struct MHD_Connection *c, const char *url,
				  const char *method, void **con_cls)
{
	if (!body_method(method) && !async_read(url, method)) {
		*con_cls = &read_marker;
		return MHD_YES;
	}
	struct api_req tmp = {.api = l->api, .l = l, .conn = c, .started = uv_hrtime()};
	if (api_ui_request(&tmp, url, method) || !route(&tmp, url, method))
		return MHD_YES;
	int a = l->api->pool == NULL ? authorise(&tmp) : authorise_loop(&tmp);
	if (a == 0)
		return MHD_YES;
	enum too_big big = body_too_big(&tmp);
	if (big == REFUSE_NOW) {
		answer_too_big(&tmp);
		return MHD_YES;
	}
	tmp.too_big = big == DISCARD;
	if (a < 0) /* the registry decides the role first; then the body comes */
		return to_pool(&tmp, con_cls);
	struct api_req *r = req_to_heap(&tmp);
	if (r == NULL)
		return MHD_NO;
	*con_cls = r;
	return MHD_YES;
}

static void take_body(struct api_req *r, const char *data, size_t n)
{
	size_t max = r->api->cfg->api_max_body;
	if (r->too_big || n > max - r->body_len) {
		r->too_big = true;
		return;
	}
	if (r->body_len + n + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 1024;
		while (cap < r->body_len + n + 1)
			cap *= 2;
		char *p = realloc(r->body, cap);
		if (p == NULL) {
			r->too_big = true;
			return;
		}
		r->body = p;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, n);
	r->body_len += n;
	r->body[r->body_len] = '\0';
}

/* Parse the body into r->json (an object); answers 400 itself on failure. */
static bool parse_body(struct api_req *r)
{
	struct prism_api_body_err e;
	int rc = prism_api_body_parse(r->body, r->body_len, r->route->body, &r->json, &e);
	if (rc == PRISM_EMSG)
		api_error(r, e.status, e.code, "%s", e.message);
	return rc == 0;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **con_cls)
{
	struct listener *l = cls;
	struct api_req *r = *con_cls;
	if (r == NULL) {
		guard_arm(c, false); /* the head is in */
		return first_call(l, c, url, method, con_cls);
	}
	if (*con_cls == &read_marker) {
		if (*upload_size > 0) {
			*upload_size = 0; /* a body on a read is ignored */
			return MHD_YES;
		}
		*con_cls = NULL;
		return read_call(l, c, url, method, con_cls);
	}
	if (*upload_size > 0) {
		take_body(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->resp != NULL) {
		/* the answer a job left, after the resume */
		enum MHD_Result rc = MHD_queue_response(c, r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
		return rc;
	}
	if (r->via_read)
		return MHD_NO; /* a read thread left no answer: out of memory */
	if (r->too_big) {
		answer_too_big(r);
		return MHD_YES;
	}
	if (r->job != NULL)
		return MHD_YES; /* cannot happen: suspended while the job runs */
	if (r->run_fn)
		return MHD_NO; /* the thread's handler left no answer: out of memory */
	bool parsed = parse_body(r);
	if (parsed && r->api->pool != NULL && r->route->worker) {
		/* its store reads go to a read thread, then its job to the writer */
		r->authorised = r->run_fn = true;
		r->in_task = true;
		r->task.work = req_work;
		r->task.done = req_done;
		suspend(r);
		api_pool_submit(r->api, &r->task);
		return MHD_YES;
	}
	if (parsed)
		r->route->fn(r);
	if (r->resp != NULL) {
		/* answered synchronously from a job (writer stopping) */
		enum MHD_Result rc = MHD_queue_response(c, r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
		return rc;
	}
	if (r->job != NULL || r->in_task)
		suspend(r);
	return MHD_YES;
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api_req *r = *con_cls;
	guard_arm(c, true); /* the next request's head, on a kept-alive connection */
	if (r == NULL || *con_cls == &read_marker)
		return;
	*con_cls = NULL;
	if (r->job != NULL)
		r->job->req = NULL; /* the job finishes alone */
	if (r->suspended) {
		r->suspended = false;
		if (r->prev != NULL)
			r->prev->next = r->next;
		else
			r->api->suspended = r->next;
		if (r->next != NULL)
			r->next->prev = r->prev;
	}
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	json_decref(r->json);
	free(r->body);
	free(r);
}

/* MHD's format strings are its own, not user input: this is the one non-literal format. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void mhd_log_cb(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	prism_log(PRISM_LOG_DEBUG, TAG, "libmicrohttpd: %s", buf);
}
#pragma GCC diagnostic pop

/* ---- start and stop ---- */

static int listen_socket(const char *host, uint16_t port, bool v6only, int *out, char *err,
			 size_t errlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	bool v6 = false;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
		if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
			snprintf(err, errlen, "server.host: '%s' is not an IP address", host);
			return PRISM_ECONFIG;
		}
		v6 = true;
	}
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	int one = 1, v6o = v6only;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6o, sizeof(v6o)) != 0)
		goto fail;
	socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4096) != 0)
		goto fail;
	*out = fd;
	return 0;
fail:;
	int e = errno;
	if (fd >= 0)
		close(fd);
	snprintf(err, errlen, "server.api_port %u: cannot listen on %s (%s)", port, host,
		 strerror(e));
	return -e;
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct listener *l = h->data;
	api_unref(l->api);
}

static int listener_start(struct prism_api *api, struct listener *l, const char *host,
			  size_t nhosts, const char *cert, const char *key, char *err,
			  size_t errlen)
{
	int fd = -1;
	int rc = listen_socket(host, api->cfg->server_api_port, nhosts > 1, &fd, err, errlen);
	if (rc != 0)
		return rc;
	unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
			 MHD_USE_ERROR_LOG | (cert ? MHD_USE_TLS : 0);
	struct MHD_OptionItem tls[] = {
		{cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key},
		{MHD_OPTION_END, 0, NULL},
	};
	l->api = api;
	l->mhd = MHD_start_daemon(
		flags, 0, accept_cb, l, access_cb, l, MHD_OPTION_EXTERNAL_LOGGER, mhd_log_cb, NULL,
		MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, l,
		MHD_OPTION_NOTIFY_CONNECTION, notify_cb, l, MHD_OPTION_CONNECTION_LIMIT,
		CONNECTION_LIMIT + LOOPBACK_RESERVE, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)api->cfg->api_max_connections_per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
		CONNECTION_TIMEOUT, MHD_OPTION_ARRAY, tls, MHD_OPTION_END);
	if (l->mhd == NULL) {
		close(fd);
		snprintf(err, errlen, "server.api_port %u: cannot start the HTTP server on %s%s",
			 api->cfg->server_api_port, host,
			 cert ? " (check api.tls_cert and api.tls_key)" : "");
		return cert ? PRISM_ECONFIG : PRISM_EINVAL;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || uv_poll_init(api->loop, &l->poll, info->epoll_fd) != 0) {
		MHD_stop_daemon(l->mhd);
		l->mhd = NULL;
		snprintf(err, errlen, "server.api_port: cannot watch the HTTP server");
		return PRISM_EINVAL;
	}
	uv_timer_init(api->loop, &l->timer);
	l->poll.data = l->timer.data = l;
	l->started = true;
	api->refs += 2;
	uv_poll_start(&l->poll, UV_READABLE, poll_cb);
	arm_timer(l);
	return 0;
}

static char *read_file(const char *path, const char *key, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot read %s (%s)", key, path, strerror(errno));
		return NULL;
	}
	char *buf = malloc(TLS_FILE_MAX + 1);
	size_t n = buf ? fread(buf, 1, TLS_FILE_MAX, f) : 0;
	fclose(f);
	if (buf == NULL || n == 0 || n == TLS_FILE_MAX) {
		snprintf(err, errlen, "%s: %s is empty or too large", key, path);
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int api_open_db(struct prism_api *api, char *err, size_t errlen);
void api_close_db(struct prism_api *api);
int api_metrics_init(struct prism_api *api);

static void api_free(struct prism_api *api)
{
	api_close_db(api);
	prism_metrics_free(api->metrics);
	free(api->metrics_buf);
	jw_free(&api->jw);
	pthread_rwlock_destroy(&api->keys_lock);
	for (size_t i = 0; i < api->nkeys; i++)
		free((char *)api->keys[i].name);
	free(api->keys);
	free(api->listeners);
	free(api);
}

void api_unref(struct prism_api *api)
{
	if (--api->refs == 0)
		api_free(api);
}

static int copy_keys(struct prism_api *api, const struct prism_api_key *keys, size_t n)
{
	api->keys = calloc(n ? n : 1, sizeof(*api->keys));
	if (api->keys == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		api->keys[i] = keys[i];
		api->keys[i].name = strdup(keys[i].name ? keys[i].name : "");
		if (api->keys[i].name == NULL)
			return PRISM_ENOMEM;
		api->nkeys = i + 1;
	}
	return 0;
}

static int start_listeners(struct prism_api *api, char *err, size_t errlen)
{
	const struct prism_config *cfg = api->cfg;
	char *cert = NULL, *key = NULL;
	int rc = 0;
	if (cfg->api_tls_cert != NULL) {
		cert = read_file(cfg->api_tls_cert, "api.tls_cert", err, errlen);
		key = cert ? read_file(cfg->api_tls_key ? cfg->api_tls_key : "", "api.tls_key",
				       err, errlen)
			   : NULL;
		if (key == NULL)
			rc = PRISM_ECONFIG;
	}
	size_t n = 0;
	while (cfg->server_host[n] != NULL)
		n++;
	if (rc == 0 && n > MAX_LISTENERS) {
		snprintf(err, errlen, "server.host: at most %d addresses", MAX_LISTENERS);
		rc = PRISM_ECONFIG;
	}
	if (rc == 0 && (api->listeners = calloc(n, sizeof(*api->listeners))) == NULL)
		rc = PRISM_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = listener_start(api, &api->listeners[i], cfg->server_host[i], n, cert, key,
				    err, errlen);
		if (rc == 0)
			api->nlisteners = i + 1;
	}
	/* MHD copied the PEM texts */
	if (key != NULL)
		explicit_bzero(key, strlen(key));
	free(cert);
	free(key);
	return rc;
}

int prism_api_start(uv_loop_t *loop, const struct prism_api_opts *opts, struct prism_api **out,
		    char *err, size_t errlen)
{
	if (loop == NULL || opts == NULL || opts->cfg == NULL || opts->writer == NULL ||
	    out == NULL)
		return PRISM_EINVAL;
	struct prism_api *api = calloc(1, sizeof(*api));
	if (api == NULL)
		return PRISM_ENOMEM;
	api->loop = loop;
	api->opts = *opts;
	api->cfg = opts->cfg;
	api->refs = 1;
	api->started_at = (int64_t)time(NULL);
	pthread_rwlock_init(&api->keys_lock, NULL);
	int rc = copy_keys(api, opts->keys, opts->nkeys);
	if (rc == 0)
		rc = api_open_db(api, err, errlen);
	if (rc == 0 && (rc = api_metrics_init(api)) != 0)
		snprintf(err, errlen, "cannot set up the metrics (%s)", prism_strerror(rc));
	if (rc == 0)
		rc = start_listeners(api, err, errlen);
	if (rc != 0) {
		prism_api_stop(api);
		return rc;
	}
	*out = api;
	return 0;
}

void api_metrics_detach(struct prism_api *api);

void prism_api_stop(struct prism_api *api)
{
	if (api == NULL || api->stopping)
		return;
	api->stopping = true;
	api_metrics_detach(api);
	api_pool_stop(api);  /* its requests answered (or told the daemon stops) first */
	api_zones_stop(api); /* before the suspended requests lose their jobs */
	/* MHD must not be stopped with suspended connections: resume them, their jobs
	 * finish alone (done only drops its reference) */
	while (api->suspended != NULL) {
		struct api_req *r = api->suspended;
		if (r->job != NULL)
			r->job->req = NULL;
		r->job = NULL;
		resume(r);
	}
	for (size_t i = 0; i < api->nlisteners; i++) {
		struct listener *l = &api->listeners[i];
		if (!l->started)
			continue;
		/* close the poll handle while MHD's epoll descriptor is still open */
		uv_close((uv_handle_t *)&l->poll, handle_closed_cb);
		uv_close((uv_handle_t *)&l->timer, handle_closed_cb);
		MHD_stop_daemon(l->mhd);
		l->mhd = NULL;
	}
	api_unref(api);
}

int prism_api_set_keys(struct prism_api *api, const struct prism_api_key *keys, size_t n)
{
	if (api == NULL)
		return PRISM_EINVAL;
	pthread_rwlock_wrlock(&api->keys_lock);
	struct prism_api_key *old = api->keys;
	size_t nold = api->nkeys;
	api->keys = NULL;
	api->nkeys = 0;
	if (copy_keys(api, keys, n) != 0) {
		for (size_t i = 0; i < api->nkeys; i++)
			free((char *)api->keys[i].name);
		free(api->keys);
		api->keys = old;
		api->nkeys = nold;
		pthread_rwlock_unlock(&api->keys_lock);
		return PRISM_ENOMEM;
	}
	pthread_rwlock_unlock(&api->keys_lock);
	for (size_t i = 0; i < nold; i++)
		free((char *)old[i].name);
	free(old);
	return 0;
}
