/* SPDX-License-Identifier: MIT */
/*
 * Agent TCP server.
 *
 * Each connection owns a frame reader, one timer (idle timeout and started-frame deadline)
 * and processes its frames strictly in order: while a registration waits for its commit
 * the following frames stay buffered, so responses go out in request order. Reads go into
 * the reader's free room only (alloc_cb never offers more than the buffering limit allows),
 * which gives natural backpressure instead of dropping bytes.
 *
 * Lifetime: a connection holds a reference for its TCP handle, one for its timer and one
 * per store job in flight; it is freed when the last is dropped (STYLE.md rule 11).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/agent_msg.h"
#include "core/error.h"
#include "core/frame.h"
#include "daemon/log.h"
#include "sources/agent_server.h"

#define TAG "agent"
#define READ_CHUNK 65536u

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct prism_agent_server *srv;
	struct prism_frame_reader rd;
	struct conn *prev, *next; /* server's list, for stop */
	char ip[INET6_ADDRSTRLEN];
	bool ipv6;
	bool counted;    /* counts against max_connections */
	bool busy;       /* a registration is waiting for its commit */
	bool closing;
	bool reading;
	bool drain;      /* answer what is queued, then close */
	bool eof;        /* the peer finished sending */
	bool shutting;   /* uv_shutdown in progress */
	uint64_t last_rx;      /* loop ms */
	uint64_t frame_start;  /* loop ms when the current partial frame began, 0 = none */
	unsigned refs;
};

struct prism_agent_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	unsigned refs; /* the listener + one per connection not yet freed */
	struct prism_agent_server_opts opts;
	struct conn *conns;
	uint8_t rxbuf[READ_CHUNK];
	bool rx_busy;
	struct prism_agent_server_stats stats;
	bool stopping;
};

struct reg_job {
	struct prism_store_job job;
	struct conn *c;
	struct prism_host_reg reg;
	char hostname[PRISM_HOSTNAME_MAX + 1];
	char ip[INET6_ADDRSTRLEN];
	struct prism_host_reg_out out;
};

struct write_req {
	uv_write_t req;
	struct conn *c;
	bool close_after;
	size_t len;
	uint8_t data[];
};

static void conn_process(struct conn *c);
static void conn_arm_timer(struct conn *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);

static void server_unref(struct prism_agent_server *s)
{
	if (--s->refs == 0)
		free(s);
}

static int64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	struct prism_agent_server *s = c->srv;
	prism_frame_reader_deinit(&c->rd);
	free(c);
	server_unref(s);
}

static void conn_handle_closed_cb(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	struct prism_agent_server *s = c->srv;
	if (c->counted)
		s->stats.active--;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed_cb);
}

static void write_cb(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->c;
	bool close_after = w->close_after;
	free(w);
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (close_after)
		conn_close(c);
}

/* Queue one already framed response. Takes ownership of @p frame. */
static void conn_send(struct conn *c, uint8_t *frame, size_t len, bool close_after)
{
	struct write_req *w = malloc(sizeof(*w) + len);
	if (w == NULL) {
		free(frame);
		conn_close(c);
		return;
	}
	memcpy(w->data, frame, len);
	free(frame);
	w->c = c;
	w->close_after = close_after;
	w->len = len;
	uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb) != 0) {
		free(w);
		conn_close(c);
	}
}

static void conn_respond(struct conn *c, const struct prism_agent_resp *resp, bool close_after)
{
	uint8_t *frame;
	size_t len;
	struct prism_agent_resp r = *resp;
	r.now_usec = now_usec();
	if (prism_agent_resp_encode(&r, &frame, &len) != 0) {
		conn_close(c);
		return;
	}
	if (!resp->success)
		c->srv->stats.errors++;
	conn_send(c, frame, len, close_after);
}

static void conn_error(struct conn *c, const char *message, const char *code, bool close_after)
{
	struct prism_agent_resp r = { .success = false, .message = message, .code = code };
	conn_respond(c, &r, close_after);
	if (close_after)
		c->drain = true;
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	conn_close(c);
	conn_unref(c);
}

/* The peer sent everything and all of it was answered: flush the answers, then close. */
static void conn_finish(struct conn *c)
{
	if (c->shutting || c->closing)
		return;
	uv_shutdown_t *req = malloc(sizeof(*req));
	if (req == NULL) {
		conn_close(c);
		return;
	}
	req->data = c;
	c->shutting = true;
	c->refs++;
	uv_timer_stop(&c->timer);
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
		free(req);
		c->refs--;
		conn_close(c);
	}
}

/* ---- registration ---- */

static int reg_run(struct prism_store *s, const struct prism_store_api *api,
		   struct prism_store_job *job)
{
	struct reg_job *j = (struct reg_job *)job;
	return api->host_register(s, &j->reg, &j->out);
}

static void reg_respond(struct conn *c, struct reg_job *j)
{
	char msg[256];
	const char *result = NULL;
	switch (j->out.result) {
	case PRISM_REG_NEW:
		snprintf(msg, sizeof(msg), "New host registered with IP %s", j->ip);
		result = "new";
		break;
	case PRISM_REG_IP_CHANGED:
		snprintf(msg, sizeof(msg), "IP address changed from %s to %s", j->out.old_ip, j->ip);
		result = "ip_changed";
		break;
	case PRISM_REG_HEARTBEAT:
		snprintf(msg, sizeof(msg), "Heartbeat updated");
		result = "heartbeat";
		break;
	case PRISM_REG_RECONNECTED:
		snprintf(msg, sizeof(msg), "Host reconnected");
		result = "reconnected";
		break;
	case PRISM_REG_RECONNECTED_IP:
		snprintf(msg, sizeof(msg), "Host reconnected with IP change from %s to %s",
			 j->out.old_ip, j->ip);
		result = "reconnected_ip_changed";
		break;
	}
	struct prism_agent_resp r = {
		.success = true,
		.message = msg,
		.result = result,
		.hostname = j->hostname,
		.ip = j->ip,
		.fqdn = j->out.fqdn[0] ? j->out.fqdn : NULL,
	};
	conn_respond(c, &r, false);
}

static void reg_done(struct prism_store_job *job, int err)
{
	struct reg_job *j = (struct reg_job *)job;
	struct conn *c = j->c;
	struct prism_agent_server *s = c->srv;
	if (err == 0 && j->out.dns_changed && s->opts.changed_cb != NULL && !s->stopping)
		s->opts.changed_cb(s->opts.changed_arg);
	if (err == 0 && j->out.result != PRISM_REG_HEARTBEAT)
		prism_log(PRISM_LOG_INFO, TAG, "host %s registered from %s (%s)", j->hostname,
			  j->ip, j->out.result == PRISM_REG_NEW ? "new" : "changed");
	if (!c->closing) {
		if (err == 0) {
			s->stats.registrations++;
			reg_respond(c, j);
		} else {
			prism_log(PRISM_LOG_ERROR, TAG, "cannot store registration of %s (%s)",
				  j->hostname, prism_strerror(err));
			conn_error(c, "Server error: registration could not be stored",
				   "store_error", false);
		}
		c->busy = false;
		conn_process(c);
	}
	free(j);
	conn_unref(c);
}

static void conn_register(struct conn *c, const struct prism_agent_req *req)
{
	struct reg_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		conn_error(c, "Server error: out of memory", "internal", true);
		return;
	}
	snprintf(j->hostname, sizeof(j->hostname), "%s", req->hostname);
	snprintf(j->ip, sizeof(j->ip), "%s", c->ip);
	j->c = c;
	j->job.run = reg_run;
	j->job.done = reg_done;
	j->reg = (struct prism_host_reg){
		.hostname = j->hostname,
		.ip = j->ip,
		.ipv6 = c->ipv6,
		.now = now_usec() / 1000000,
		.dns = c->srv->opts.dns,
	};
	c->busy = true;
	c->refs++;
	prism_store_writer_submit(c->srv->opts.writer, &j->job);
}

/* ---- frames ---- */

static void conn_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct prism_agent_req req;
	char msg[PRISM_AGENT_ERRMSG_MAX];
	c->srv->stats.frames++;
	int rc = prism_agent_parse(p, len, &req, msg, sizeof(msg));
	if (rc == PRISM_EPROTO) {
		conn_error(c, msg, "protocol_error", true);
		return;
	}
	if (rc != 0) {
		conn_error(c, msg, "invalid_message", false);
		return;
	}
	conn_register(c, &req);
}

static void conn_process(struct conn *c)
{
	while (!c->busy && !c->closing && !c->drain) {
		const uint8_t *p;
		size_t len;
		uint32_t declared = 0;
		int rc = prism_frame_next(&c->rd, &p, &len, &declared);
		if (rc == 0)
			break;
		if (rc == PRISM_ETOOBIG) {
			char msg[96];
			prism_agent_err_too_large(declared, msg, sizeof(msg));
			conn_error(c, msg, "protocol_error", true);
			break;
		}
		conn_frame(c, p, len);
	}
	if (c->closing || c->drain || c->busy)
		return;
	if (c->eof) {
		conn_finish(c);
		return;
	}
	if (!prism_frame_partial(&c->rd))
		c->frame_start = 0;
	else if (c->frame_start == 0)
		c->frame_start = uv_now(c->srv->loop);
	/* room freed: resume reading if backpressure had stopped it */
	if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
		c->reading = true;
	conn_arm_timer(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	struct prism_agent_server *s = c->srv;
	size_t held = c->rd.len - c->rd.off;
	size_t room = c->rd.limit > held ? c->rd.limit - held : 0;
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	if (s->rx_busy || room == 0) {
		*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
		return;
	}
	s->rx_busy = true;
	*buf = uv_buf_init((char *)s->rxbuf, (unsigned)room);
}

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	struct prism_agent_server *s = c->srv;
	if (buf->base == (char *)s->rxbuf)
		s->rx_busy = false;
	if (n == UV_ENOBUFS) {
		/* buffer full while a registration is in flight: wait for it */
		uv_read_stop(stream);
		c->reading = false;
		return;
	}
	if (n == UV_EOF) {
		/* the reference client sends one frame and closes: still answer what it sent */
		uv_read_stop(stream);
		c->reading = false;
		c->eof = true;
		conn_process(c);
		return;
	}
	if (n < 0) {
		conn_close(c);
		return;
	}
	if (n == 0 || c->drain)
		return;
	c->last_rx = uv_now(s->loop);
	if (prism_frame_feed(&c->rd, (const uint8_t *)buf->base, (size_t)n) != 0) {
		conn_error(c, "Protocol error: connection buffer limit exceeded", "protocol_error",
			   true);
		return;
	}
	conn_process(c);
}

/* ---- timers ---- */

static void timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->closing || c->drain)
		return;
	if (c->busy) {
		conn_arm_timer(c); /* we are the slow party; don't blame the client */
		return;
	}
	uint64_t now = uv_now(c->srv->loop);
	uint64_t idle_ms = (uint64_t)c->srv->opts.idle_timeout * 1000;
	uint64_t frame_ms = (uint64_t)c->srv->opts.frame_timeout * 1000;
	bool idle = now - c->last_rx >= idle_ms;
	bool slow = c->frame_start != 0 && now - c->frame_start >= frame_ms;
	if (idle || slow) {
		c->srv->stats.timeouts++;
		conn_error(c, "Connection timeout", idle ? "idle_timeout" : "frame_timeout", true);
		return;
	}
	conn_arm_timer(c);
}

static void conn_arm_timer(struct conn *c)
{
	uint64_t now = uv_now(c->srv->loop);
	uint64_t due = c->last_rx + (uint64_t)c->srv->opts.idle_timeout * 1000;
	if (c->frame_start != 0) {
		uint64_t f = c->frame_start + (uint64_t)c->srv->opts.frame_timeout * 1000;
		if (f < due)
			due = f;
	}
	uv_timer_start(&c->timer, timer_cb, due > now ? due - now : 0, 0);
}

/* ---- accepting ---- */

static void peer_address(struct conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	c->ip[0] = '\0';
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		uv_ip4_name((struct sockaddr_in *)&ss, c->ip, sizeof(c->ip));
		return;
	}
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
		/* an IPv4-mapped peer counts as IPv4 */
		inet_ntop(AF_INET, &a6->sin6_addr.s6_addr[12], c->ip, sizeof(c->ip));
		return;
	}
	uv_ip6_name(a6, c->ip, sizeof(c->ip));
	c->ipv6 = true;
}

static void on_connection(uv_stream_t *l, int status)
{
	struct prism_agent_server *s = l->data;
	if (status < 0) {
		prism_log(PRISM_LOG_WARNING, TAG, "accept failed (%s)", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->srv = s;
	c->refs = 2;
	s->refs++;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	prism_frame_reader_init(&c->rd, PRISM_FRAME_BUF_PREAUTH);
	if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	peer_address(c);
	c->last_rx = uv_now(s->loop);
	if (s->stats.active >= s->opts.max_connections) {
		s->stats.rejected_capacity++;
		conn_error(c, "Server at capacity", "capacity", true);
		return;
	}
	s->stats.accepted++;
	s->stats.active++;
	c->counted = true;
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
		conn_close(c);
		return;
	}
	c->reading = true;
	conn_arm_timer(c);
}

static void listener_closed_cb(uv_handle_t *h)
{
	server_unref(h->data);
}

static int parse_listen(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0)
		return 0;
	if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)ss) == 0)
		return 0;
	return PRISM_EINVAL;
}

int prism_agent_server_start(uv_loop_t *loop, const struct prism_agent_server_opts *opts,
			     struct prism_agent_server **out, char *err, size_t errlen)
{
	if (loop == NULL || opts == NULL || out == NULL || opts->writer == NULL)
		return PRISM_EINVAL;
	struct sockaddr_storage ss;
	const char *host = opts->host ? opts->host : "0.0.0.0";
	if (parse_listen(host, opts->port, &ss) != 0) {
		snprintf(err, errlen, "server.host: '%s' is not an IPv4 or IPv6 address", host);
		return PRISM_ECONFIG;
	}
	struct prism_agent_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PRISM_ENOMEM;
	s->loop = loop;
	s->opts = *opts;
	s->refs = 1;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 4096, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "cannot listen on %s port %u (%s)", host, opts->port,
			 uv_strerror(rc));
		uv_close((uv_handle_t *)&s->listener, listener_closed_cb);
		return rc;
	}
	*out = s;
	return 0;
}

void prism_agent_server_stop(struct prism_agent_server *s)
{
	if (s == NULL)
		return;
	s->stopping = true;
	while (s->conns != NULL)
		conn_close(s->conns);
	uv_close((uv_handle_t *)&s->listener, listener_closed_cb);
}

void prism_agent_server_stats(const struct prism_agent_server *s,
			      struct prism_agent_server_stats *out)
{
	*out = s->stats;
}
