/* SPDX-License-Identifier: MIT */
/*
 * agent-load: a load generator for Prism's agent port (docs/protocol.md).
 *
 * One libuv loop drives every client. Three modes:
 *  - oneshot: each client slot repeats connect, send one registration, read its answer,
 *    close; like the reference client, except that the answer is always read and checked.
 *  - persistent: each client keeps one connection and up to --pipeline frames in flight;
 *    answers come back in request order, so a per-connection ring of send times matches
 *    them.
 *  - idle: open --clients connections, send nothing, hold them for --duration seconds and
 *    report how many the server kept open.
 * In persistent mode --rate caps the requests started per second over all connections (a
 * token bucket refilled every PACE_MS), for a load of a fixed size rather than "as fast as
 * the server answers".
 *
 * Every request ends exactly once, in one bucket: success, error answer (counted by
 * message), protocol error, connection error or timeout (--timeout, from the start of the
 * request: the connect in oneshot mode, the write in persistent mode). Only requests
 * started after the warm-up count. The latency histogram is log-bucketed (64 sub-buckets
 * per power of two, under 1.6 % relative error), so memory does not grow with the count.
 *
 * With --tls-ca every connection runs TLS (the session code prismd and prism agent use,
 * sources/agent_tls.c): requests wait for the handshake, then go out encrypted. With
 * --tls-resume each client offers its last session again (TLS 1.3 tickets or 1.2 IDs), so
 * oneshot mode measures resumed handshakes instead of full ones.
 *
 * Benchmark-only shortcuts, never for a real client: --linger0 closes oneshot connections
 * with SO_LINGER {1, 0} after the answer was read, which sends RST and leaves no TIME_WAIT
 * entry behind; --sources spreads connections over 127.0.0.x source addresses (host i
 * always from the same address, so its IP does not flap) to multiply the ephemeral ports.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "core/frame.h"
#include "sources/agent_tls.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_DURATION_S	    600.0
#define MAX_CLIENTS	    100000u
#define MAX_PIPELINE	    4096u
#define MAX_SOURCES	    254u
#define RETRY_MS	    10
#define IDLE_CONNECT_WINDOW 256u /* idle mode: connects in progress at once */
#define MSG_SLOTS	    32u
#define MSG_LEN		    96u
#define REQ_MAX		    1536u
#define PREFIX_MAX	    100u
#define TOKEN_MAX	    128u
#define RX_CHUNK	    65536u
#define READER_LIMIT	    (1u << 20)
#define PACE_MS		    5u
#define MAX_RATE	    10000000u

/* ---- histogram ---- */

#define HIST_SUB_BITS 6
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  (2 * HIST_SUB + (64 - HIST_SUB_BITS - 1) * HIST_SUB)

struct hist {
	uint64_t n[HIST_BUCKETS];
	uint64_t count, max, sum;
};

static unsigned hist_index(uint64_t v)
{
	if (v < 2 * HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	unsigned shift = msb - HIST_SUB_BITS;
	unsigned top = (unsigned)(v >> shift); /* in [HIST_SUB, 2 * HIST_SUB) */
	return 2 * HIST_SUB + (shift - 1) * HIST_SUB + (top - HIST_SUB);
}

/* Highest value that falls into bucket @p i (percentiles err on the high side). */
static uint64_t hist_upper(unsigned i)
{
	if (i < 2 * HIST_SUB)
		return i;
	unsigned shift = (i - 2 * HIST_SUB) / HIST_SUB + 1;
	uint64_t top = (i - 2 * HIST_SUB) % HIST_SUB + HIST_SUB;
	return ((top + 1) << shift) - 1;
}

static void hist_add(struct hist *h, uint64_t v)
{
	h->n[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
	if (h->count == 0)
		return 0;
	uint64_t want = (uint64_t)(p * (double)h->count + 0.999999);
	if (want == 0)
		want = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->n[i];
		if (seen >= want) {
			uint64_t up = hist_upper(i);
			return up < h->max ? up : h->max;
		}
	}
	return h->max;
}

/* ---- counted messages ---- */

struct msg_table {
	char text[MSG_SLOTS][MSG_LEN];
	uint64_t n[MSG_SLOTS];
	unsigned used;
	uint64_t other; /* messages beyond MSG_SLOTS distinct ones */
};

static void msg_count(struct msg_table *t, const char *text, size_t len)
{
	if (len >= MSG_LEN)
		len = MSG_LEN - 1;
	for (unsigned i = 0; i < t->used; i++) {
		if (strncmp(t->text[i], text, len) == 0 && t->text[i][len] == '\0') {
			t->n[i]++;
			return;
		}
	}
	if (t->used == MSG_SLOTS) {
		t->other++;
		return;
	}
	memcpy(t->text[t->used], text, len);
	t->text[t->used][len] = '\0';
	t->n[t->used++] = 1;
}

/* ---- state ---- */

enum mode { MODE_ONESHOT, MODE_PERSISTENT, MODE_IDLE };
enum cstate { C_FREE, C_CONNECTING, C_OPEN, C_CLOSING };
enum outcome { OUT_OK, OUT_ANSWER_ERR, OUT_PROTO, OUT_CONN, OUT_TIMEOUT, OUT_N };

static const char *const outcome_names[OUT_N] = {
	"ok", "error_answer", "protocol_error", "connection_error", "timeout",
};

struct opts {
	struct sockaddr_storage server;
	const char *server_text;
	enum mode mode;
	unsigned clients, pipeline, hosts, sources;
	uint64_t count;
	double duration, warmup, timeout;
	unsigned rate; /* persistent: requests per second over all clients, 0 = no cap */
	const char *prefix, *token;
	const char *tls_ca, *tls_cert, *tls_key; /* TLS when tls_ca is set */
	bool json, linger0, full_parse, tls_resume;
};

struct client {
	uv_tcp_t tcp;
	uv_timer_t retry;
	uv_connect_t creq;
	uv_write_t wreq; /* oneshot: its one write */
	struct bench *b;
	struct prism_frame_reader rd;
	struct prism_tls_conn *tls;
	struct prism_tls_saved *saved; /* --tls-resume: the last session */
	enum cstate state;
	bool tcp_live;	  /* tcp initialised and not yet uv_close()d */
	bool failed;	  /* back off before the next connection */
	uint64_t conn_t0; /* ns, start of the connect */
	uint64_t tsend;	  /* oneshot: ns, when the frame was written */
	uint64_t *sent;	  /* ring of request start times (ns), --pipeline long */
	unsigned head, inflight;
	unsigned host; /* oneshot: host of the request */
	size_t olen;
	uint8_t obuf[REQ_MAX];
};

struct bench {
	struct opts o;
	uv_loop_t *loop;
	struct client *cl;
	uv_timer_t sweep, phase, pace;
	double tokens;	   /* --rate: requests that may start now */
	uint64_t tokens_t; /* ns of the last refill */
	bool starved;	   /* a client wanted to send and had no token */
	uv_signal_t sigint, sigterm;
	bool stopping, finished;
	uint64_t t_start, t_measure, t_end; /* ns; t_measure 0 during the warm-up */
	uint64_t measured_started, active, connects;
	unsigned held; /* idle: connections open at the end */
	uint64_t next_host;
	uint64_t out[OUT_N];
	struct hist lat, conn_lat;
	struct msg_table answers_ok, answers_err, conn_errs;
	struct rusage ru0, ru1;
	char token_json[TOKEN_MAX * 6 + 3]; /* JSON string, worst case all \u escapes */
	size_t req_len_max;
	char ts[32];
	time_t ts_sec;
	unsigned idle_next, idle_pending, idle_open;
	bool holding;
	struct prism_agent_tls *tls;
	uint64_t tls_full, tls_resumed; /* handshakes completed */
	uint8_t rx[RX_CHUNK];
	uint8_t plain[RX_CHUNK];
};

static void client_start(struct client *c);
static void persistent_fill(struct client *c);
static void finish_if_done(struct bench *b);
static void idle_more(struct bench *b);
static void duration_cb(uv_timer_t *t);

static bool is_measured(const struct bench *b, uint64_t t0)
{
	return b->t_measure != 0 && t0 >= b->t_measure;
}

/* ---- request accounting ---- */

/* A request started at @p t0 has ended with @p out. */
static void resolve(struct bench *b, uint64_t t0, enum outcome out)
{
	b->active--;
	if (is_measured(b, t0))
		b->out[out]++;
}

static void count_conn_error(struct bench *b, const char *what)
{
	if (b->t_measure != 0)
		msg_count(&b->conn_errs, what, strlen(what));
}

static void begin_stop(struct bench *b)
{
	if (b->stopping)
		return;
	b->stopping = true;
	finish_if_done(b);
}

/* May a new request start at @p t0? Counts it against --count when it does. */
static bool take_request(struct bench *b, uint64_t t0)
{
	if (b->stopping)
		return false;
	if (b->o.rate != 0) {
		double burst = b->o.rate * (PACE_MS / 1000.0) + 1;
		b->tokens += (double)(t0 - b->tokens_t) / 1e9 * b->o.rate;
		if (b->tokens > burst)
			b->tokens = burst;
		b->tokens_t = t0;
		if (b->tokens < 1) {
			b->starved = true;
			return false;
		}
		b->tokens -= 1;
	}
	if (is_measured(b, t0)) {
		if (b->o.count != 0 && b->measured_started >= b->o.count) {
			begin_stop(b);
			return false;
		}
		b->measured_started++;
	}
	b->active++;
	return true;
}

/* ---- requests and answers ---- */

static void refresh_ts(struct bench *b)
{
	time_t now = time(NULL);
	if (now == b->ts_sec)
		return;
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(b->ts, sizeof(b->ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	b->ts_sec = now;
}

static unsigned pick_host(struct bench *b)
{
	return (unsigned)(b->next_host++ % b->o.hosts);
}

/* Write one framed registration for host @p host at @p dst, which has b->req_len_max bytes
 * of room (computed from the prefix and token at start, so it always fits). Returns its
 * length. */
static size_t build_request(struct bench *b, unsigned host, uint8_t *dst)
{
	refresh_ts(b);
	int n = snprintf((char *)dst + PRISM_FRAME_HDR, b->req_len_max - PRISM_FRAME_HDR,
			 "{\"version\":\"1.0\",\"type\":\"registration\",\"timestamp\":\"%s\","
			 "\"hostname\":\"%sload-%u\"%s%s}",
			 b->ts, b->o.prefix, host, b->token_json[0] ? ",\"auth_token\":" : "",
			 b->token_json);
	uint32_t len = (uint32_t)n;
	dst[0] = (uint8_t)(len >> 24);
	dst[1] = (uint8_t)(len >> 16);
	dst[2] = (uint8_t)(len >> 8);
	dst[3] = (uint8_t)len;
	return PRISM_FRAME_HDR + len;
}

enum answer { ANS_OK, ANS_ERR, ANS_BAD };

/*
 * Fast path for the compact answer Prism sends (five keys first, in order, docs/protocol.md):
 * match the fixed prefix, take the message up to its closing quote (no escapes), require
 * the timestamp key next and a closing brace. Anything else goes to the full parser.
 */
static bool check_fast(const char *p, size_t len, enum answer *res, const char **msg, size_t *mlen)
{
	static const char head[] = "{\"version\":\"1.0\",\"type\":\"response\",\"status\":\"";
	static const char ok[] = "success\",\"message\":\"";
	static const char err[] = "error\",\"message\":\"";
	static const char ts[] = "\",\"timestamp\":\"";
	size_t i = sizeof(head) - 1;
	if (len < i + sizeof(ok) + sizeof(ts) || memcmp(p, head, i) != 0 || p[len - 1] != '}')
		return false;
	if (memcmp(p + i, ok, sizeof(ok) - 1) == 0) {
		*res = ANS_OK;
		i += sizeof(ok) - 1;
	} else if (memcmp(p + i, err, sizeof(err) - 1) == 0) {
		*res = ANS_ERR;
		i += sizeof(err) - 1;
	} else {
		return false;
	}
	size_t start = i;
	while (i < len && p[i] != '"' && p[i] != '\\')
		i++;
	if (len - i < sizeof(ts) || memcmp(p + i, ts, sizeof(ts) - 1) != 0)
		return false;
	*msg = p + start;
	*mlen = i - start;
	return true;
}

static bool str_is(json_t *obj, const char *key, const char *want)
{
	const char *v = json_string_value(json_object_get(obj, key));
	return v != NULL && strcmp(v, want) == 0;
}

/* Success messages carry addresses; count them by kind, not by text. */
static size_t ok_kind_len(const char *msg, size_t len)
{
	static const char *const kinds[] = {
		"New host registered", "IP address changed",
		"Heartbeat updated",   "Host reconnected with IP change",
		"Host reconnected",
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t k = strlen(kinds[i]);
		if (len >= k && memcmp(msg, kinds[i], k) == 0)
			return k;
	}
	return len;
}

static void count_answer(struct bench *b, enum answer res, const char *msg, size_t mlen)
{
	if (res == ANS_OK)
		msg_count(&b->answers_ok, msg, ok_kind_len(msg, mlen));
	else
		msg_count(&b->answers_err, msg, mlen);
}

/* Full parse; counts the message here because its text lives in the JSON tree. */
static enum answer check_full(struct bench *b, const char *p, size_t len, bool measured)
{
	json_t *root = json_loadb(p, len, 0, NULL);
	enum answer res = ANS_BAD;
	const char *msg = json_string_value(json_object_get(root, "message"));
	if (json_is_object(root) && msg != NULL && str_is(root, "version", "1.0") &&
	    str_is(root, "type", "response")) {
		if (str_is(root, "status", "success"))
			res = ANS_OK;
		else if (str_is(root, "status", "error"))
			res = ANS_ERR;
	}
	if (res != ANS_BAD && measured)
		count_answer(b, res, msg, strlen(msg));
	json_decref(root);
	return res;
}

/* Check the answer to a request started at @p t0 (deadline, warm-up) and written at
 * @p tsend (latency), received at @p now; resolves the request. */
static enum answer answer_frame(struct bench *b, const uint8_t *p, size_t len, uint64_t t0,
				uint64_t tsend, uint64_t now)
{
	bool measured = is_measured(b, t0);
	enum answer res;
	const char *msg;
	size_t mlen;
	if (!b->o.full_parse && check_fast((const char *)p, len, &res, &msg, &mlen)) {
		if (measured)
			count_answer(b, res, msg, mlen);
	} else {
		res = check_full(b, (const char *)p, len, measured);
	}
	if (res == ANS_OK && measured)
		hist_add(&b->lat, now - tsend);
	resolve(b, t0, res == ANS_OK ? OUT_OK : res == ANS_ERR ? OUT_ANSWER_ERR : OUT_PROTO);
	return res;
}

/* ---- connections ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *c = h->data;
	/* one shared buffer: libuv calls read_cb, which consumes it, before the next alloc */
	*buf = uv_buf_init((char *)c->b->rx, RX_CHUNK);
}

/* Our own socket, so that the source address can be chosen before the connect. */
static int open_socket(struct client *c, unsigned host)
{
	struct bench *b = c->b;
	int fd = socket(b->o.server.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return uv_translate_sys_error(errno);
	if (b->o.sources > 1) {
		int one = 1;
		/* take the port at connect time, unique per 4-tuple, not per address */
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		struct sockaddr_in sa = {.sin_family = AF_INET};
		sa.sin_addr.s_addr = htonl(0x7f000001u + host % b->o.sources);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			int e = uv_translate_sys_error(errno);
			close(fd);
			return e;
		}
	}
	int rc = uv_tcp_init(b->loop, &c->tcp);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	c->tcp.data = c;
	c->tcp_live = true;
	rc = uv_tcp_open(&c->tcp, fd);
	if (rc != 0) {
		close(fd);
		return rc;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	return 0;
}

static void retry_cb(uv_timer_t *t)
{
	client_start(t->data);
}

/* Oneshot: next connection at once after a success, after a pause after a failure.
 * Persistent: reconnect after a pause. */
static void client_next(struct client *c)
{
	struct bench *b = c->b;
	if (b->stopping || b->o.mode == MODE_IDLE)
		return;
	if (c->failed || b->o.mode == MODE_PERSISTENT)
		uv_timer_start(&c->retry, retry_cb, RETRY_MS, 0);
	else
		client_start(c);
}

static void client_closed_cb(uv_handle_t *h)
{
	struct client *c = h->data;
	c->state = C_FREE;
	prism_frame_reader_deinit(&c->rd);
	prism_tls_conn_free(c->tls);
	c->tls = NULL;
	if (!c->b->finished)
		client_next(c);
}

static void client_close(struct client *c, bool rst)
{
	if (!c->tcp_live) {
		c->state = C_FREE;
		return;
	}
	if (rst) {
		uv_os_fd_t fd;
		struct linger lg = {.l_onoff = 1, .l_linger = 0};
		if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	c->tcp_live = false;
	c->state = C_CLOSING;
	uv_close((uv_handle_t *)&c->tcp, client_closed_cb);
}

/* The connection failed (@p what): every request on it ends with @p out. */
static void client_fail(struct client *c, enum outcome out, const char *what)
{
	struct bench *b = c->b;
	count_conn_error(b, what);
	while (c->inflight > 0) {
		resolve(b, c->sent[c->head], out);
		c->head = (c->head + 1) % b->o.pipeline;
		c->inflight--;
	}
	c->failed = true;
	bool live = c->tcp_live;
	client_close(c, false);
	if (!live)
		client_next(c); /* no close callback will come */
	finish_if_done(b);
}

static void write_cb(uv_write_t *req, int status)
{
	struct client *c = req->data;
	if (req != &c->wreq)
		free(req);
	if (status < 0 && c->state == C_OPEN)
		client_fail(c, OUT_CONN, uv_err_name(status));
}

/* TLS: send the session's ciphertext in one heap write. */
static void tls_flush(struct client *c)
{
	uint8_t *out;
	size_t len;
	if (prism_tls_conn_take_out(c->tls, &out, &len) != 0) {
		client_fail(c, OUT_CONN, "out of memory");
		return;
	}
	if (len == 0)
		return;
	uv_write_t *req = malloc(sizeof(*req) + len);
	if (req == NULL) {
		free(out);
		client_fail(c, OUT_CONN, "out of memory");
		return;
	}
	memcpy(req + 1, out, len);
	free(out);
	uv_buf_t buf = uv_buf_init((char *)(req + 1), (unsigned)len);
	req->data = c;
	int rc = uv_write(req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
	if (rc != 0) {
		free(req);
		client_fail(c, OUT_CONN, uv_err_name(rc));
	}
}

/* Queue @p len bytes; @p req is c->wreq (oneshot, data in the client) or heap (freed here
 * or in write_cb). With TLS the bytes are encrypted into a write of their own. */
static void client_write(struct client *c, uv_write_t *req, const uint8_t *data, size_t len)
{
	if (c->tls != NULL) {
		int rc = prism_tls_conn_write(c->tls, data, len);
		if (req != &c->wreq)
			free(req);
		if (rc != 0)
			client_fail(c, OUT_PROTO, "TLS write failed");
		else
			tls_flush(c);
		return;
	}
	uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
	req->data = c;
	int rc = uv_write(req, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
	if (rc != 0) {
		if (req != &c->wreq)
			free(req);
		client_fail(c, OUT_CONN, uv_err_name(rc));
	}
}

/* Take complete answers out of the reader; false when the connection is done with. */
static bool client_frames(struct client *c, uint64_t now)
{
	struct bench *b = c->b;
	const uint8_t *p;
	size_t len;
	int rc;
	while ((rc = prism_frame_next(&c->rd, &p, &len, NULL)) == 1) {
		if (c->inflight == 0) {
			client_fail(c, OUT_PROTO, "answer without a request");
			return false;
		}
		uint64_t t0 = c->sent[c->head];
		uint64_t tsend = b->o.mode == MODE_ONESHOT ? c->tsend : t0;
		c->head = (c->head + 1) % b->o.pipeline;
		c->inflight--;
		enum answer res = answer_frame(b, p, len, t0, tsend, now);
		if (res == ANS_BAD) {
			client_fail(c, OUT_PROTO, "undecodable answer");
			return false;
		}
		if (b->o.mode == MODE_ONESHOT) {
			if (c->tls != NULL && b->o.tls_resume) {
				struct prism_tls_saved *sv = prism_tls_conn_save(c->tls);
				if (sv != NULL) {
					prism_tls_saved_free(c->saved);
					c->saved = sv;
				}
			}
			client_close(c, b->o.linger0);
			finish_if_done(b);
			return false;
		}
	}
	if (rc < 0) {
		client_fail(c, OUT_PROTO, "answer frame too large");
		return false;
	}
	return true;
}

/* What ended a connection whose read returned @p n (> 0: data that did not fit). */
static const char *read_error(ssize_t n)
{
	if (n > 0)
		return "answers over the buffer limit";
	return n == UV_EOF ? "closed by server" : uv_err_name((int)n);
}

static void client_send_first(struct client *c);

/* TLS: ciphertext in, handshake on, plaintext into the reader. false: the client failed. */
static bool tls_pump(struct client *c, const uint8_t *p, size_t n)
{
	struct bench *b = c->b;
	bool was = prism_tls_conn_established(c->tls), eof = false;
	size_t got = 0;
	int rc = prism_tls_conn_feed(c->tls, p, n);
	do {
		if (rc == 0)
			rc = prism_tls_conn_read(c->tls, b->plain, sizeof(b->plain), &got, &eof);
		if (rc == 0 && got > 0 && prism_frame_feed(&c->rd, b->plain, got) != 0) {
			client_fail(c, OUT_PROTO, "answers over the buffer limit");
			return false;
		}
	} while (rc == 0 && got == sizeof(b->plain));
	if (rc != 0) {
		char why[200];
		prism_tls_conn_failure(c->tls, why, sizeof(why));
		client_fail(c, OUT_CONN, why);
		return false;
	}
	tls_flush(c);
	if (c->state != C_OPEN)
		return false;
	if (!was && prism_tls_conn_established(c->tls)) {
		if (prism_tls_conn_resumed(c->tls))
			b->tls_resumed++;
		else
			b->tls_full++;
		client_send_first(c);
	}
	return c->state == C_OPEN;
}

static void client_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;
	struct bench *b = c->b;
	if (n == 0 || c->state != C_OPEN)
		return;
	if (n < 0) {
		client_fail(c, OUT_CONN, read_error(n));
		return;
	}
	if (c->tls != NULL) {
		if (!tls_pump(c, (const uint8_t *)buf->base, (size_t)n))
			return;
	} else if (prism_frame_feed(&c->rd, (const uint8_t *)buf->base, (size_t)n) != 0) {
		client_fail(c, OUT_PROTO, "answers over the buffer limit");
		return;
	}
	if (!client_frames(c, uv_hrtime()) || b->o.mode != MODE_PERSISTENT)
		return;
	persistent_fill(c);
	if (b->stopping && c->inflight == 0)
		client_close(c, false);
	finish_if_done(b);
}

/* Persistent: top the pipeline up, all new frames in one write. */
static void persistent_fill(struct client *c)
{
	struct bench *b = c->b;
	unsigned room = b->o.pipeline - c->inflight;
	if (c->state != C_OPEN || room == 0 || b->stopping)
		return;
	uv_write_t *req = malloc(sizeof(*req) + (size_t)room * b->req_len_max);
	if (req == NULL) {
		client_fail(c, OUT_CONN, "out of memory");
		return;
	}
	uint8_t *data = (uint8_t *)(req + 1);
	size_t len = 0;
	uint64_t now = uv_hrtime();
	while (c->inflight < b->o.pipeline && take_request(b, now)) {
		len += build_request(b, pick_host(b), data + len);
		c->sent[(c->head + c->inflight) % b->o.pipeline] = now;
		c->inflight++;
	}
	if (len == 0) {
		free(req);
		return;
	}
	client_write(c, req, data, len);
}

static void idle_read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;
	struct bench *b = c->b;
	if (n == 0 || c->state != C_OPEN)
		return;
	if (n > 0 && prism_frame_feed(&c->rd, (const uint8_t *)buf->base, (size_t)n) == 0) {
		const uint8_t *p;
		size_t len;
		/* the server's reason (capacity, timeout) before it closes */
		while (prism_frame_next(&c->rd, &p, &len, NULL) == 1)
			check_full(b, (const char *)p, len, true);
		return;
	}
	count_conn_error(b, read_error(n));
	b->idle_open--;
	client_close(c, false);
}

static void idle_connected(struct client *c, int status)
{
	struct bench *b = c->b;
	b->idle_pending--;
	if (status < 0) {
		count_conn_error(b, uv_err_name(status));
		client_close(c, false);
	} else {
		hist_add(&b->conn_lat, uv_hrtime() - c->conn_t0);
		c->state = C_OPEN;
		b->idle_open++;
		b->connects++;
		prism_frame_reader_init(&c->rd, READER_LIMIT);
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, idle_read_cb);
	}
	idle_more(b);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct client *c = req->data;
	struct bench *b = c->b;
	if (c->state != C_CONNECTING)
		return; /* timed out and closed meanwhile (UV_ECANCELED) */
	if (b->o.mode == MODE_IDLE) {
		idle_connected(c, status);
		return;
	}
	if (status < 0) {
		client_fail(c, OUT_CONN, uv_err_name(status));
		return;
	}
	uint64_t now = uv_hrtime();
	if (is_measured(b, c->conn_t0)) {
		hist_add(&b->conn_lat, now - c->conn_t0);
		b->connects++;
	}
	c->state = C_OPEN;
	prism_frame_reader_init(&c->rd, READER_LIMIT);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, client_read_cb);
	if (b->tls == NULL) {
		client_send_first(c);
		return;
	}
	c->tls = prism_tls_conn_client(b->tls, "localhost");
	if (c->tls == NULL) {
		client_fail(c, OUT_CONN, "out of memory");
		return;
	}
	if (c->saved != NULL)
		prism_tls_conn_resume(c->tls, c->saved);
	tls_pump(c, NULL, 0); /* the ClientHello; requests once the handshake is done */
}

/* The connection is ready (after the TLS handshake): the first requests. */
static void client_send_first(struct client *c)
{
	struct bench *b = c->b;
	if (b->o.mode == MODE_ONESHOT) {
		c->tsend = uv_hrtime();
		client_write(c, &c->wreq, c->obuf, c->olen);
	} else {
		persistent_fill(c);
	}
}

static int client_connect(struct client *c, unsigned host)
{
	c->conn_t0 = uv_hrtime();
	int rc = open_socket(c, host);
	if (rc != 0)
		return rc;
	c->state = C_CONNECTING;
	c->creq.data = c;
	return uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&c->b->o.server, connect_cb);
}

/* Start a connection and, in oneshot mode, its one request. */
static void client_start(struct client *c)
{
	struct bench *b = c->b;
	if (b->stopping || c->state != C_FREE)
		return;
	c->failed = false;
	c->head = 0;
	c->inflight = 0;
	unsigned host = (unsigned)(c - b->cl);
	if (b->o.mode == MODE_ONESHOT) {
		uint64_t t0 = uv_hrtime();
		if (!take_request(b, t0))
			return;
		host = pick_host(b);
		c->olen = build_request(b, host, c->obuf);
		c->sent[0] = t0;
		c->inflight = 1;
	}
	int rc = client_connect(c, host);
	if (rc != 0)
		client_fail(c, OUT_CONN, uv_err_name(rc));
}

/* Idle: keep up to IDLE_CONNECT_WINDOW connects in progress; hold once all are done. */
static void idle_more(struct bench *b)
{
	while (!b->stopping && b->idle_next < b->o.clients &&
	       b->idle_pending < IDLE_CONNECT_WINDOW) {
		struct client *c = &b->cl[b->idle_next++];
		int rc = client_connect(c, b->idle_next - 1);
		if (rc == 0) {
			b->idle_pending++;
			continue;
		}
		count_conn_error(b, uv_err_name(rc));
		client_close(c, false);
	}
	if (b->holding || b->stopping || b->idle_next < b->o.clients || b->idle_pending > 0)
		return;
	b->holding = true;
	fprintf(stderr, "agent-load: holding %u of %u connections\n", b->idle_open, b->o.clients);
	fflush(stderr);
	uv_timer_start(&b->phase, duration_cb, (uint64_t)(b->o.duration * 1000), 0);
}

/* ---- phases ---- */

static void finish_if_done(struct bench *b)
{
	if (!b->stopping || b->finished || b->active > 0)
		return;
	b->finished = true;
	b->t_end = uv_hrtime();
	getrusage(RUSAGE_SELF, &b->ru1);
	b->held = b->idle_open;
	for (unsigned i = 0; i < b->o.clients; i++) {
		struct client *c = &b->cl[i];
		uv_close((uv_handle_t *)&c->retry, NULL);
		client_close(c, false);
	}
	uv_close((uv_handle_t *)&b->sweep, NULL);
	uv_close((uv_handle_t *)&b->phase, NULL);
	uv_close((uv_handle_t *)&b->pace, NULL);
	uv_close((uv_handle_t *)&b->sigint, NULL);
	uv_close((uv_handle_t *)&b->sigterm, NULL);
}

static void duration_cb(uv_timer_t *t)
{
	begin_stop(t->data);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	begin_stop(s->data);
}

static void measure_start(struct bench *b)
{
	b->t_measure = uv_hrtime();
	getrusage(RUSAGE_SELF, &b->ru0);
	/* --count alone is bounded too: connection failures start no requests */
	double limit = b->o.duration > 0 ? b->o.duration : MAX_DURATION_S;
	if (b->o.mode != MODE_IDLE)
		uv_timer_start(&b->phase, duration_cb, (uint64_t)(limit * 1000), 0);
}

static void warmup_cb(uv_timer_t *t)
{
	measure_start(t->data);
}

/* --rate: tokens came back, let the connections that ran out send again. */
static void pace_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	if (!b->starved || b->stopping)
		return;
	b->starved = false;
	/* start at a different connection each time, so none is always served last */
	unsigned first = (unsigned)(b->tokens_t / 1000) % b->o.clients;
	for (unsigned k = 0; k < b->o.clients && !b->starved; k++)
		persistent_fill(&b->cl[(first + k) % b->o.clients]);
}

/* Fail what is past its deadline: connects, and the oldest request of each connection
 * (answers come in order, so it is the first to expire). */
static void sweep_cb(uv_timer_t *t)
{
	struct bench *b = t->data;
	uint64_t now = uv_hrtime();
	uint64_t limit = (uint64_t)(b->o.timeout * 1e9);
	for (unsigned i = 0; i < b->o.clients && !b->finished; i++) {
		struct client *c = &b->cl[i];
		if (c->state == C_CONNECTING && now - c->conn_t0 > limit) {
			if (b->o.mode != MODE_IDLE) {
				client_fail(c, OUT_TIMEOUT, "connect timeout");
				continue;
			}
			b->idle_pending--;
			count_conn_error(b, "connect timeout");
			client_close(c, false);
		} else if (c->state == C_OPEN && c->inflight > 0 &&
			   now - c->sent[c->head] > limit) {
			client_fail(c, OUT_TIMEOUT, "answer timeout");
		}
	}
	if (b->o.mode == MODE_IDLE && !b->finished)
		idle_more(b);
}

/* ---- report ---- */

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double window_s(const struct bench *b)
{
	return b->t_measure != 0 && b->t_end > b->t_measure
		       ? (double)(b->t_end - b->t_measure) / 1e9
		       : 0;
}

static double cpu_user(const struct bench *b)
{
	return tv_s(b->ru1.ru_utime) - tv_s(b->ru0.ru_utime);
}

static double cpu_sys(const struct bench *b)
{
	return tv_s(b->ru1.ru_stime) - tv_s(b->ru0.ru_stime);
}

static const char *const mode_names[] = {"oneshot", "persistent", "idle"};

static void print_hist(const char *name, const struct hist *h)
{
	if (h->count == 0) {
		printf("  %-11s none\n", name);
		return;
	}
	printf("  %-11s p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms  (%" PRIu64
	       " samples)\n",
	       name, ms(hist_pct(h, 0.5)), ms(hist_pct(h, 0.9)), ms(hist_pct(h, 0.99)),
	       ms(hist_pct(h, 0.999)), ms(h->max), h->count);
}

static void print_msgs(const char *name, const struct msg_table *t)
{
	if (t->used == 0)
		return;
	printf("  %-11s", name);
	for (unsigned i = 0; i < t->used; i++)
		printf("%s\"%s\" %" PRIu64, i ? ", " : " ", t->text[i], t->n[i]);
	if (t->other)
		printf(", (other messages) %" PRIu64, t->other);
	printf("\n");
}

static void print_text(const struct bench *b)
{
	double w = window_s(b);
	if (b->o.mode == MODE_IDLE)
		printf("agent-load: idle, %u clients -> %s\n", b->o.clients, b->o.server_text);
	else
		printf("agent-load: %s, %u clients, pipeline %u, hosts %u, sources %u -> %s\n",
		       mode_names[b->o.mode], b->o.clients, b->o.pipeline, b->o.hosts,
		       b->o.sources, b->o.server_text);
	printf("  window      %.3f s (warm-up %.1f s not counted)\n", w, b->o.warmup);
	if (b->o.mode == MODE_IDLE) {
		printf("  idle        %u requested, %" PRIu64 " connected, %u still open after "
		       "holding %.1f s\n",
		       b->o.clients, b->connects, b->held, b->o.duration);
		print_hist("connect", &b->conn_lat);
	} else {
		printf("  requests    %" PRIu64 " started:", b->measured_started);
		for (int i = 0; i < OUT_N; i++)
			printf(" %s %" PRIu64, outcome_names[i], b->out[i]);
		printf("\n  rate        %.1f registrations/s", w > 0 ? b->out[OUT_OK] / w : 0);
		if (b->o.mode == MODE_ONESHOT)
			printf(", %.1f connections/s", w > 0 ? b->connects / w : 0);
		printf("\n");
		print_hist("latency", &b->lat);
		print_hist("connect", &b->conn_lat);
	}
	print_msgs("answers", &b->answers_ok);
	print_msgs("errors", &b->answers_err);
	print_msgs("conn events", &b->conn_errs);
	printf("  client cpu  user %.2f s + sys %.2f s = %.1f%% of one core over the window\n",
	       cpu_user(b), cpu_sys(b), w > 0 ? 100 * (cpu_user(b) + cpu_sys(b)) / w : 0);
}

static json_t *json_hist(const struct hist *h)
{
	return json_pack("{s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "count", (json_int_t)h->count, "p50",
			 ms(hist_pct(h, 0.5)), "p90", ms(hist_pct(h, 0.9)), "p99",
			 ms(hist_pct(h, 0.99)), "p999", ms(hist_pct(h, 0.999)), "max", ms(h->max),
			 "mean", h->count ? ms(h->sum / h->count) : 0.0);
}

static json_t *json_msgs(const struct msg_table *t)
{
	json_t *o = json_object();
	for (unsigned i = 0; i < t->used; i++)
		json_object_set_new(o, t->text[i], json_integer((json_int_t)t->n[i]));
	if (t->other)
		json_object_set_new(o, "(other messages)", json_integer((json_int_t)t->other));
	return o;
}

static void print_json(const struct bench *b)
{
	double w = window_s(b);
	json_t *out = json_object();
	for (int i = 0; i < OUT_N; i++)
		json_object_set_new(out, outcome_names[i], json_integer((json_int_t)b->out[i]));
	json_t *root = json_pack(
		"{s:s,s:s,s:i,s:i,s:i,s:i,s:f,s:f,s:I,s:o,s:f,s:f,s:o,s:o,s:o,s:o,s:o,"
		"s:{s:f,s:f,s:f}}",
		"mode", mode_names[b->o.mode], "server", b->o.server_text, "clients",
		(int)b->o.clients, "pipeline", (int)b->o.pipeline, "hosts", (int)b->o.hosts,
		"sources", (int)b->o.sources, "window_s", w, "warmup_s", b->o.warmup, "started",
		(json_int_t)b->measured_started, "outcomes", out, "registrations_per_s",
		w > 0 ? b->out[OUT_OK] / w : 0.0, "connections_per_s",
		w > 0 ? b->connects / w : 0.0, "latency_ms", json_hist(&b->lat), "connect_ms",
		json_hist(&b->conn_lat), "answers_ok", json_msgs(&b->answers_ok), "answers_error",
		json_msgs(&b->answers_err), "connection_events", json_msgs(&b->conn_errs), "cpu",
		"user_s", cpu_user(b), "sys_s", cpu_sys(b), "pct_one_core",
		w > 0 ? 100 * (cpu_user(b) + cpu_sys(b)) / w : 0.0);
	if (b->tls != NULL)
		json_object_set_new(root, "tls",
				    json_pack("{s:I,s:I}", "full_handshakes",
					      (json_int_t)b->tls_full, "resumed",
					      (json_int_t)b->tls_resumed));
	if (b->o.mode == MODE_IDLE)
		json_object_set_new(root, "idle",
				    json_pack("{s:i,s:I,s:i,s:f}", "requested", (int)b->o.clients,
					      "connected", (json_int_t)b->connects, "held_open",
					      (int)b->held, "hold_s", b->o.duration));
	json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	printf("\n");
	json_decref(root);
}

/* ---- options ---- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agent-load --server HOST:PORT (--count N | --duration S) [options]\n"
		"  --server HOST:PORT   agent port: 127.0.0.1:8080 or [::1]:8080\n"
		"  --mode M             oneshot (default: connection per registration),\n"
		"                       persistent (long-lived connections, see --pipeline),\n"
		"                       idle (connect --clients sockets, hold them --duration s)\n"
		"  --clients N          concurrent clients / connections (default 64)\n"
		"  --pipeline D         persistent: frames in flight per connection (default 1)\n"
		"  --count N            stop after N measured registrations (or after 600 s)\n"
		"  --duration S         stop after S seconds (at most 600); idle: hold time\n"
		"  --warmup S           run S seconds before measuring (default 0)\n"
		"  --timeout S          deadline per request, and per connect (default 5)\n"
		"  --hosts H            hostnames <prefix>load-<i>, cycled (default 1000)\n"
		"  --prefix P           hostname prefix ([A-Za-z0-9.-], default empty)\n"
		"  --token T            auth_token to send (default none)\n"
		"  --rate R             persistent: start at most R requests per second over\n"
		"                       all connections (default: as fast as answered)\n"
		"  --sources N          oneshot/idle, IPv4: bind host i to 127.0.0.(1 + i %% N)\n"
		"                       (default 1: no explicit bind)\n"
		"  --linger0            oneshot: close with RST after the answer (no TIME_WAIT;\n"
		"                       a benchmark shortcut, not client behaviour)\n"
		"  --tls-ca FILE        TLS to the server (its certificate must name localhost)\n"
		"  --tls-cert FILE, --tls-key FILE   client certificate and key\n"
		"  --tls-resume         resume each client's last TLS session (oneshot)\n"
		"  --full-parse         parse every answer with jansson (default: fast path for\n"
		"                       Prism's compact answers, full parse otherwise)\n"
		"  --json               print the summary as JSON\n");
}

static int parse_server(const char *text, struct sockaddr_storage *ss)
{
	char host[64];
	const char *colon;
	if (text[0] == '[') {
		const char *end = strchr(text, ']');
		if (end == NULL || end[1] != ':' || (size_t)(end - text - 1) >= sizeof(host))
			return -1;
		memcpy(host, text + 1, (size_t)(end - text - 1));
		host[end - text - 1] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL || (size_t)(colon - text) >= sizeof(host))
			return -1;
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
	}
	char *end;
	unsigned long port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return -1;
	if (text[0] == '[')
		return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)ss) == 0 ? 0 : -1;
	return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)ss) == 0 ? 0 : -1;
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *v)
{
	char *end;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *v >= 1 && *v <= max;
}

static bool parse_secs(const char *s, double *v)
{
	char *end;
	*v = strtod(s, &end);
	return end != s && *end == '\0' && *v >= 0 && *v <= MAX_DURATION_S;
}

static bool valid_prefix(const char *p)
{
	if (strlen(p) > PREFIX_MAX)
		return false;
	for (; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '.')
			return false;
	return true;
}

enum { OPT_LINGER0 = 256, OPT_FULL_PARSE, OPT_TLS_CA, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_RESUME };

static bool parse_mode(const char *arg, enum mode *m)
{
	for (int i = 0; i < 3; i++) {
		if (strcmp(arg, mode_names[i]) == 0) {
			*m = (enum mode)i;
			return true;
		}
	}
	return false;
}

/* One numeric option into @p dst (unsigned or uint64_t by @p wide). */
static bool parse_num(const char *arg, unsigned long long max, void *dst, bool wide)
{
	unsigned long long v;
	if (!parse_uint(arg, max, &v))
		return false;
	if (wide)
		*(uint64_t *)dst = v;
	else
		*(unsigned *)dst = (unsigned)v;
	return true;
}

/* One option; false when its value is invalid. */
static bool parse_opt(struct opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 's': o->server_text = arg; return parse_server(arg, &o->server) == 0;
	case 'm': return parse_mode(arg, &o->mode);
	case 'c': return parse_num(arg, MAX_CLIENTS, &o->clients, false);
	case 'p': return parse_num(arg, MAX_PIPELINE, &o->pipeline, false);
	case 'n': return parse_num(arg, UINT64_MAX, &o->count, true);
	case 'H': return parse_num(arg, UINT32_MAX, &o->hosts, false);
	case 'S': return parse_num(arg, MAX_SOURCES, &o->sources, false);
	case 'r': return parse_num(arg, MAX_RATE, &o->rate, false);
	case 'd': return parse_secs(arg, &o->duration) && o->duration > 0;
	case 'w': return parse_secs(arg, &o->warmup);
	case 't': return parse_secs(arg, &o->timeout) && o->timeout > 0;
	case 'P': o->prefix = arg; return valid_prefix(arg);
	case 'T': o->token = arg; return strlen(arg) <= TOKEN_MAX;
	case 'j': o->json = true; return true;
	case OPT_LINGER0: o->linger0 = true; return true;
	case OPT_FULL_PARSE: o->full_parse = true; return true;
	case OPT_TLS_CA: o->tls_ca = arg; return true;
	case OPT_TLS_CERT: o->tls_cert = arg; return true;
	case OPT_TLS_KEY: o->tls_key = arg; return true;
	case OPT_TLS_RESUME: o->tls_resume = true; return true;
	}
	return false;
}

/* Checks across options; returns a message or NULL. */
static const char *check_opts(struct opts *o)
{
	if (o->server_text == NULL)
		return "--server is required";
	if (o->mode == MODE_IDLE && o->duration == 0)
		return "--mode idle needs --duration";
	if (o->count == 0 && o->duration == 0)
		return "give --count or --duration (or both), so that the run is bounded";
	if (o->sources > 1 && o->server.ss_family != AF_INET)
		return "--sources needs an IPv4 server";
	if (o->sources > 1 && o->mode == MODE_PERSISTENT)
		return "--sources is for oneshot and idle mode (a connection would carry hosts of "
		       "several addresses)";
	if (o->rate != 0 && o->mode != MODE_PERSISTENT)
		return "--rate is for persistent mode";
	if (o->mode != MODE_PERSISTENT)
		o->pipeline = 1;
	return NULL;
}

/* 0 ok, 1 help shown, -1 error */
static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"server", required_argument, NULL, 's'},
		{"mode", required_argument, NULL, 'm'},
		{"clients", required_argument, NULL, 'c'},
		{"pipeline", required_argument, NULL, 'p'},
		{"count", required_argument, NULL, 'n'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"timeout", required_argument, NULL, 't'},
		{"hosts", required_argument, NULL, 'H'},
		{"prefix", required_argument, NULL, 'P'},
		{"token", required_argument, NULL, 'T'},
		{"sources", required_argument, NULL, 'S'},
		{"rate", required_argument, NULL, 'r'},
		{"linger0", no_argument, NULL, OPT_LINGER0},
		{"full-parse", no_argument, NULL, OPT_FULL_PARSE},
		{"tls-ca", required_argument, NULL, OPT_TLS_CA},
		{"tls-cert", required_argument, NULL, OPT_TLS_CERT},
		{"tls-key", required_argument, NULL, OPT_TLS_KEY},
		{"tls-resume", no_argument, NULL, OPT_TLS_RESUME},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	*o = (struct opts){.mode = MODE_ONESHOT,
			   .clients = 64,
			   .pipeline = 1,
			   .hosts = 1000,
			   .sources = 1,
			   .timeout = 5,
			   .prefix = ""};
	int opt, idx = 0;
	while ((opt = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 1;
		}
		if (opt == '?' || !parse_opt(o, opt, optarg)) {
			if (opt != '?')
				fprintf(stderr, "agent-load: invalid value '%s' for --%s\n",
					optarg, longopts[idx].name);
			usage(stderr);
			return -1;
		}
	}
	const char *err = optind < argc ? "unexpected argument" : check_opts(o);
	if (err != NULL) {
		fprintf(stderr, "agent-load: %s\n", err);
		return -1;
	}
	return 0;
}

/* ---- main ---- */

/* Room for --clients sockets plus a few: raise the soft limit up to the hard one. */
static void raise_nofile(unsigned clients)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)clients + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
	setrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		fprintf(stderr, "agent-load: open files limited to %llu, %u clients need %llu\n",
			(unsigned long long)rl.rlim_cur, clients, (unsigned long long)want);
}

static int bench_init(struct bench *b, uv_loop_t *loop)
{
	b->loop = loop;
	if (b->o.token != NULL) {
		json_t *s = json_string(b->o.token);
		char *text = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
		json_decref(s);
		if (text == NULL || strlen(text) >= sizeof(b->token_json)) {
			free(text);
			return -1;
		}
		strcpy(b->token_json, text);
		free(text);
	}
	if (b->o.tls_ca != NULL) {
		char err[512];
		if (prism_agent_tls_client_new(b->o.tls_ca, b->o.tls_cert, b->o.tls_key, &b->tls,
					       err, sizeof(err)) != 0) {
			fprintf(stderr, "agent-load: %s\n", err);
			return -1;
		}
	}
	/* fixed text ~110 bytes, timestamp 20, host number 10, "auth_token" 15 */
	b->req_len_max = PRISM_FRAME_HDR + 200 + strlen(b->o.prefix) + strlen(b->token_json);
	b->cl = calloc(b->o.clients, sizeof(*b->cl));
	if (b->cl == NULL)
		return -1;
	for (unsigned i = 0; i < b->o.clients; i++) {
		struct client *c = &b->cl[i];
		c->b = b;
		c->sent = calloc(b->o.pipeline, sizeof(*c->sent));
		if (c->sent == NULL)
			return -1;
		uv_timer_init(loop, &c->retry);
		c->retry.data = c;
	}
	uv_timer_init(loop, &b->sweep);
	uv_timer_init(loop, &b->phase);
	uv_timer_init(loop, &b->pace);
	b->pace.data = b;
	uv_signal_init(loop, &b->sigint);
	uv_signal_init(loop, &b->sigterm);
	b->sweep.data = b->phase.data = b->sigint.data = b->sigterm.data = b;
	return 0;
}

static void bench_run(struct bench *b)
{
	/* a tenth of the deadline, between 10 and 100 ms */
	uint64_t tick = (uint64_t)(b->o.timeout * 1000 / 10);
	tick = tick < 10 ? 10 : tick > 100 ? 100 : tick;
	uv_timer_start(&b->sweep, sweep_cb, tick, tick);
	if (b->o.rate != 0) {
		b->tokens_t = uv_hrtime();
		uv_timer_start(&b->pace, pace_cb, PACE_MS, PACE_MS);
	}
	uv_signal_start(&b->sigint, signal_cb, SIGINT);
	uv_signal_start(&b->sigterm, signal_cb, SIGTERM);
	b->t_start = uv_hrtime();
	if (b->o.mode == MODE_IDLE || b->o.warmup == 0)
		measure_start(b);
	else
		uv_timer_start(&b->phase, warmup_cb, (uint64_t)(b->o.warmup * 1000), 0);
	if (b->o.mode == MODE_IDLE)
		idle_more(b);
	else
		for (unsigned i = 0; i < b->o.clients && !b->stopping; i++)
			client_start(&b->cl[i]);
	uv_run(b->loop, UV_RUN_DEFAULT);
}

static void bench_free(struct bench *b)
{
	if (b->cl != NULL)
		for (unsigned i = 0; i < b->o.clients; i++) {
			free(b->cl[i].sent);
			prism_tls_saved_free(b->cl[i].saved);
		}
	free(b->cl);
	prism_agent_tls_free(b->tls);
}

int main(int argc, char **argv)
{
	static struct bench b; /* large (histograms, buffer): not on the stack */
	int rc = parse_args(argc, argv, &b.o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	raise_nofile(b.o.clients);
	uv_loop_t loop;
	uv_loop_init(&loop);
	if (bench_init(&b, &loop) != 0) {
		fprintf(stderr, "agent-load: out of memory\n");
		return 2;
	}
	bench_run(&b);
	uv_loop_close(&loop);
	if (b.o.json)
		print_json(&b);
	else
		print_text(&b);
	bool some = b.o.mode == MODE_IDLE ? b.held > 0 : b.out[OUT_OK] > 0;
	bench_free(&b);
	return some ? 0 : 1;
}
