/* SPDX-License-Identifier: MIT */
/*
 * Agent TCP server.
 *
 * Pipelining with ordered answers: every request frame gets a slot in its connection's
 * answer queue, in arrival order. Validation errors fill their slot at once; registrations
 * fill theirs when the store writer has committed them. The queue is flushed from its head
 * only, so answers leave in request order however the work completes. Up to MAX_INFLIGHT
 * registrations per connection are in flight; beyond that frames wait in the buffer.
 *
 * Reads go into the reader's free room only (alloc_cb never offers more than the buffering
 * limit allows: one frame before a valid token, 1 MiB after), which gives TCP backpressure
 * instead of dropped bytes.
 *
 * Output is bounded too: once a connection's unsent answers pass OUTQ_MAX bytes (a client that
 * pipelines and never reads), it is neither read nor processed until its writes drain. Every
 * state has a deadline: reading (idle, frame), waiting for the peer to take its answers (idle
 * from the last write progress), draining after a final answer or a shutdown (idle from the
 * start of the drain). Past it the connection is closed and its memory returned.
 *
 * TLS (agent_tls.c) sits between the socket and the frame reader: ciphertext read is fed to
 * the connection's session, which decrypts into the reader as room allows (ciphertext not yet
 * decrypted counts against the reader's room, so buffering stays bounded); answers are
 * encrypted when they are flushed, and only ciphertext reaches libuv's write queue, so the
 * output bound and the deadlines above apply as they are. A handshake must complete within
 * frame_timeout, and at most TLS_MAX_HANDSHAKES run at once.
 *
 * Lifetime: a connection holds a reference for its TCP handle, one for its timer and one
 * per store job in flight; it is freed when the last is dropped (CONTRIBUTING.md rule 11). The
 * server is freed when its listeners are closed and its last connection is gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "core/agent_msg.h"
#include "core/certname.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/reserved.h"
#include "sources/agent_server.h"
#include "sources/agent_tls.h"
#include "sources/source.h"

#define TAG	      "agent"
#define READ_CHUNK    65536u
#define MAX_INFLIGHT  128u
#define MAX_LISTENERS 16u
/* unsent answer bytes (libuv's write queue) above which a connection is not read */
#define OUTQ_MAX 65536u
/* TLS handshakes in progress at once: a handshake flood costs at most this many sessions */
#define TLS_MAX_HANDSHAKES 256u
#define REFUSED_LOG_BURST  10u /* warnings a second for refused messages; the rest counted */

/* One answer in a connection's ordered queue. */
struct slot {
	struct slot *next;
	uint8_t *frame;
	size_t len;
	bool ready;
	bool close_after;
};

/* The last token a connection sent and its credential hash: a client sends the same token
 * in every frame, and the hash (SHA-256, then HMAC-SHA256) is the costliest step of a
 * pipelined heartbeat. Only the hashing is skipped: every frame's hash is still checked
 * against the tokens (configured ones here, the registry's in its job). */
struct token_memo {
	size_t len;
	char hash[PRISM_TOKEN_HASH_LEN + 1];
	char text[]; /* len bytes, not terminated */
};

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct prism_agent_server *srv;
	struct prism_tls_conn *tls; /* NULL on the plain port */
	bool handshaking;	    /* counted in the server's handshakes */
	bool rx_any;		    /* a byte was received */
	struct prism_frame_reader rd;
	struct conn *prev, *next; /* server's list, for stop */
	struct slot *head, *tail; /* answers not yet written, in request order */
	struct token_memo *memo;  /* NULL until a token was hashed */
	char ip[INET6_ADDRSTRLEN];
	unsigned inflight; /* registrations waiting for their commit */
	unsigned refs;
	bool ipv6;
	bool counted; /* counts against max_connections */
	bool closing;
	bool reading;
	bool drain;	   /* a final answer is queued: read and process nothing more */
	bool eof;	   /* the peer finished sending */
	bool shutting;	   /* uv_shutdown in progress */
	bool authed;	   /* a valid token was seen: full buffering allowed */
	bool flush_queued; /* on the server's flush list */
	bool blocked;	   /* unsent output over OUTQ_MAX: not read until it drains */
	bool hashed;	   /* a token was hashed: the next one is kept in memo */
	bool proven;	   /* a registration succeeded (and no auth failure since): pipelined */
	struct conn *flush_next;
	unsigned writes;      /* uv_write requests not yet completed */
	uint64_t last_rx;     /* loop ms */
	uint64_t frame_start; /* loop ms when the current partial frame began, 0 = none */
	uint64_t tx_progress; /* loop ms of the last write completed (or first queued) */
	uint64_t drain_start; /* loop ms when drain or shutting began */
	uint64_t held_until;  /* loop ms: after an auth failure, not read nor served till then */
};

struct listener {
	uv_tcp_t tcp;
	struct prism_agent_server *srv;
	bool tls;
};

struct prism_agent_server {
	uv_loop_t *loop;
	struct listener *listeners[2 * MAX_LISTENERS];
	size_t nlisteners;
	unsigned handshakes; /* TLS handshakes in progress */
	unsigned refs;	     /* listeners + connections not yet freed */
	struct prism_agent_server_opts opts;
	struct conn *conns;
	/* connections with answers to write, flushed once per loop iteration (before the loop
	 * waits again): the answers of one group commit leave a connection in one write */
	uv_prepare_t flusher;
	struct conn *flush_head;
	uint8_t rxbuf[READ_CHUNK];
	bool rx_busy;
	bool stopping;
	struct prism_agent_server_stats stats;
	struct prism_ratelimit refused_log;
	struct prism_ratelimit tls_log;	  /* TLS failures: the same cap as refused messages */
	struct prism_cred_hasher *hasher; /* tokens under opts.cred_key; made at first use */
};

struct reg_job {
	struct prism_store_job job;
	struct conn *c;
	struct slot *slot;
	struct prism_host_reg reg;
	char hostname[PRISM_HOSTNAME_MAX + 1];
	char ip[INET6_ADDRSTRLEN];
	char owner[PRISM_TOKEN_HASH_LEN + 1];
	struct prism_host_reg_out out;
};

static void conn_process(struct conn *c);
static void conn_arm_timer(struct conn *c);
static bool conn_out_full(struct conn *c);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void flush_cb(uv_prepare_t *h);
static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf);

static int64_t now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void server_unref(struct prism_agent_server *s)
{
	if (--s->refs == 0) {
		prism_cred_hasher_free(s->hasher);
		free(s);
	}
}

static void slot_free(struct slot *sl)
{
	free(sl->frame);
	free(sl);
}

static void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	struct prism_agent_server *s = c->srv;
	while (c->head != NULL) {
		struct slot *sl = c->head;
		c->head = sl->next;
		slot_free(sl);
	}
	prism_frame_reader_deinit(&c->rd);
	prism_tls_conn_free(c->tls);
	if (c->memo != NULL) {
		explicit_bzero(c->memo, sizeof(*c->memo) + c->memo->len);
		free(c->memo);
	}
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
	if (c->handshaking) {
		c->handshaking = false;
		s->handshakes--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed_cb);
}

/* ---- ordered answers ---- */

static struct slot *slot_new(struct conn *c)
{
	struct slot *sl = calloc(1, sizeof(*sl));
	if (sl == NULL)
		return NULL;
	if (c->tail)
		c->tail->next = sl;
	else
		c->head = sl;
	c->tail = sl;
	return sl;
}

/* One write of several ready answers: pipelined clients cost one syscall, not one each. */
#define WRITE_BATCH 64u

struct wbatch {
	uv_write_t req;
	struct conn *c;
	size_t n;
	bool close_after;
	uint8_t *raw; /* TLS: the ciphertext written (the slots are freed once encrypted) */
	struct slot *slots[WRITE_BATCH];
};

static void write_cb(uv_write_t *req, int status)
{
	struct wbatch *b = (struct wbatch *)req;
	struct conn *c = b->c;
	bool close_after = b->close_after;
	for (size_t i = 0; i < b->n; i++)
		slot_free(b->slots[i]);
	free(b->raw);
	free(b);
	c->writes--;
	if (c->closing)
		return;
	if (status < 0 || close_after) {
		conn_close(c);
		return;
	}
	c->tx_progress = uv_now(c->srv->loop);
	if (c->blocked && !conn_out_full(c)) {
		/* the peer reads again: so do we. Its silence meanwhile was ours, not idleness */
		c->blocked = false;
		c->last_rx = c->tx_progress;
		conn_process(c);
	}
}

/* The peer does not take its answers as fast as it sends requests. */
static bool conn_out_full(struct conn *c)
{
	return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > OUTQ_MAX;
}

static void tls_fail(struct conn *c, enum prism_tls_failure reason, const char *why);

/* Queue @p b's buffers (or its ciphertext) on the socket. Takes @p b; false: closed. */
static bool conn_write(struct conn *c, struct wbatch *b, uv_buf_t *bufs, unsigned n)
{
	if (uv_write(&b->req, (uv_stream_t *)&c->tcp, bufs, n, write_cb) != 0) {
		for (size_t i = 0; i < b->n; i++)
			slot_free(b->slots[i]);
		free(b->raw);
		free(b);
		conn_close(c);
		return false;
	}
	if (c->writes++ == 0)
		c->tx_progress = uv_now(c->srv->loop); /* the write deadline starts now */
	return true;
}

/* TLS: send the ciphertext the session has for the peer (handshake records, alerts);
 * @p close_after closes the connection once it is written (or at once if there is none). */
static void conn_send_tls(struct conn *c, bool close_after)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	struct wbatch *b = NULL;
	if (c->closing)
		return;
	if (prism_tls_conn_take_out(c->tls, &raw, &len) != 0 ||
	    (len > 0 && (b = calloc(1, sizeof(*b))) == NULL)) {
		free(raw);
		conn_close(c);
		return;
	}
	if (len == 0) {
		if (close_after)
			conn_close(c);
		return;
	}
	b->c = c;
	b->raw = raw;
	b->close_after = close_after;
	uv_buf_t buf = uv_buf_init((char *)raw, (unsigned)len);
	conn_write(c, b, &buf, 1);
}

/* TLS: encrypt a batch of answers into its ciphertext; the slots are freed. The answers go
 * into one SSL_write, so a pipelined batch costs a few TLS records, not one per answer. */
static bool encrypt_batch(struct conn *c, struct wbatch *b, uv_buf_t *buf)
{
	size_t total = 0, off = 0, len = 0;
	for (size_t i = 0; i < b->n; i++)
		total += b->slots[i]->len;
	uint8_t *plain = malloc(total ? total : 1);
	for (size_t i = 0; i < b->n; i++) {
		if (plain != NULL && b->slots[i]->len > 0)
			memcpy(plain + off, b->slots[i]->frame, b->slots[i]->len);
		off += b->slots[i]->len;
		slot_free(b->slots[i]);
	}
	b->n = 0;
	bool ok = plain != NULL && prism_tls_conn_write(c->tls, plain, total) == 0;
	free(plain);
	if (ok && b->close_after)
		prism_tls_conn_close_notify(c->tls);
	if (ok && prism_tls_conn_take_out(c->tls, &b->raw, &len) != 0)
		ok = false;
	*buf = uv_buf_init((char *)b->raw, (unsigned)len);
	return ok;
}

/* Write every answer that is ready at the head of the queue. */
static void conn_flush(struct conn *c)
{
	if (c->tls != NULL && !prism_tls_conn_established(c->tls))
		return; /* nothing can be answered before the handshake */
	while (!c->closing && c->head != NULL && c->head->ready) {
		struct wbatch *b = calloc(1, sizeof(*b));
		if (b == NULL) {
			conn_close(c);
			return;
		}
		uv_buf_t bufs[WRITE_BATCH];
		b->c = c;
		while (b->n < WRITE_BATCH && c->head != NULL && c->head->ready &&
		       !b->close_after) {
			struct slot *sl = c->head;
			c->head = sl->next;
			if (c->head == NULL)
				c->tail = NULL;
			bufs[b->n] = uv_buf_init((char *)sl->frame, (unsigned)sl->len);
			b->slots[b->n++] = sl;
			b->close_after = sl->close_after;
		}
		unsigned n = (unsigned)b->n;
		if (c->tls != NULL) {
			n = 1;
			if (!encrypt_batch(c, b, &bufs[0])) {
				free(b->raw);
				free(b);
				tls_fail(c, PRISM_TLS_FAIL_ERROR, NULL);
				return;
			}
		}
		bool close_after = b->close_after;
		if (!conn_write(c, b, bufs, n) || close_after)
			return;
	}
}

/* Write @p c's ready answers before the loop next waits for events (see flusher). */
static void conn_flush_soon(struct conn *c)
{
	struct prism_agent_server *s = c->srv;
	if (c->flush_queued || c->closing)
		return;
	if (s->flush_head == NULL && uv_prepare_start(&s->flusher, flush_cb) != 0) {
		conn_flush(c);
		return;
	}
	c->flush_queued = true;
	c->refs++;
	c->flush_next = s->flush_head;
	s->flush_head = c;
}

static void flush_cb(uv_prepare_t *h)
{
	struct prism_agent_server *s = h->data;
	struct conn *c;
	while ((c = s->flush_head) != NULL) {
		s->flush_head = c->flush_next;
		c->flush_queued = false;
		if (!c->closing)
			conn_flush(c);
		conn_unref(c);
	}
	uv_prepare_stop(&s->flusher);
}

/*
 * A refused message is a warning, at most REFUSED_LOG_BURST lines a second (a flood of bad
 * frames must not flood the log; the next line says how many were left out). Not: an idle
 * connection closed (nothing was refused), a registry failure (logged as an error).
 */
static void log_refused(struct conn *c, const struct prism_agent_resp *r)
{
	static const char *const quiet[] = {"idle_timeout", "store_error", "registry_full"};
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++)
		if (r->code != NULL && strcmp(r->code, quiet[i]) == 0)
			return;
	unsigned long long skipped;
	if (!prism_ratelimit_ok(&c->srv->refused_log, uv_now(c->srv->loop), REFUSED_LOG_BURST,
				&skipped))
		return;
	char more[64] = "", text[160];
	if (skipped > 0)
		snprintf(more, sizeof(more), " (%llu more refused, not logged)", skipped);
	/* the message may quote the peer (an unsupported version): one line, printable */
	snprintf(text, sizeof(text), "%s", r->message ? r->message : "");
	for (char *p = text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	prism_log(PRISM_LOG_WARNING, TAG, "message from %s refused (%s): %s%s", c->ip,
		  r->code ? r->code : "error", text, more);
}

/* Encode an answer into its slot. */
static void slot_fill(struct conn *c, struct slot *sl, const struct prism_agent_resp *resp,
		      bool close_after)
{
	struct prism_agent_resp r = *resp;
	if (!resp->success)
		log_refused(c, resp);
	r.now_usec = now_usec();
	if (prism_agent_resp_encode(&r, &sl->frame, &sl->len) != 0) {
		sl->frame = NULL;
		sl->len = 0;
		close_after = true; /* cannot answer: end the connection at this point */
	}
	if (!resp->success)
		c->srv->stats.errors++;
	sl->ready = true;
	sl->close_after = close_after;
}

/* Draining (a final answer queued, or a shutdown): the peer has idle_timeout to take it. */
static void conn_drain_deadline(struct conn *c)
{
	if (c->drain_start == 0) {
		c->drain_start = uv_now(c->srv->loop);
		conn_arm_timer(c);
	}
}

/* Queue an immediate error answer; @p final ends the connection after it. */
static void conn_error(struct conn *c, const char *message, const char *code, bool final)
{
	struct slot *sl = slot_new(c);
	if (sl == NULL) {
		conn_close(c);
		return;
	}
	struct prism_agent_resp r = {.success = false, .message = message, .code = code};
	slot_fill(c, sl, &r, final);
	if (final && !c->drain) {
		c->drain = true;
		conn_drain_deadline(c);
	}
}

/* A TLS connection failed: count, log, send OpenSSL's alert (if any), close. @p why NULL:
 * the session says what happened (and its reason replaces @p reason). */
static void tls_fail(struct conn *c, enum prism_tls_failure reason, const char *why)
{
	struct prism_agent_server *s = c->srv;
	char text[200];
	if (c->closing || c->drain)
		return;
	if (why == NULL) {
		reason = prism_tls_conn_failure(c->tls, text, sizeof(text));
		why = text;
	}
	s->stats.tls_failures[reason]++;
	unsigned long long skipped; /* a flood of failed handshakes must not flood the log */
	if (prism_ratelimit_ok(&s->tls_log, uv_now(s->loop), REFUSED_LOG_BURST, &skipped))
		prism_log(PRISM_LOG_WARNING, TAG, "TLS connection from %s closed: %s (%s)%s",
			  c->ip, prism_tls_failure_name(reason), why,
			  skipped > 0 ? " (more TLS failures, counted in "
					"prism_agent_tls_failures_total, not logged)"
				      : "");
	c->drain = true;
	conn_drain_deadline(c);
	conn_send_tls(c, true);
}

/* ---- registration ---- */

static int reg_run(struct prism_store *s, const struct prism_store_api *api,
		   struct prism_store_job *job)
{
	struct reg_job *j = (struct reg_job *)job;
	return api->host_register(s, &j->reg, &j->out);
}

/* snprintf(out, len, "%s", in) without printf's machinery: once or more per frame */
static void copy_str(char *out, size_t len, const char *in)
{
	size_t n = strnlen(in, len - 1);
	memcpy(out, in, n);
	out[n] = '\0';
}

static const char *const result_names[] = {
	[PRISM_REG_NEW] = "new",
	[PRISM_REG_IP_CHANGED] = "ip_changed",
	[PRISM_REG_HEARTBEAT] = "heartbeat",
	[PRISM_REG_RECONNECTED] = "reconnected",
	[PRISM_REG_RECONNECTED_IP] = "reconnected_ip_changed",
};

static void reg_message(const struct reg_job *j, char *msg, size_t len)
{
	switch (j->out.result) {
	case PRISM_REG_NEW: snprintf(msg, len, "New host registered with IP %s", j->ip); break;
	case PRISM_REG_IP_CHANGED:
		snprintf(msg, len, "IP address changed from %s to %s", j->out.old_ip, j->ip);
		break;
	case PRISM_REG_HEARTBEAT: copy_str(msg, len, "Heartbeat updated"); break;
	case PRISM_REG_RECONNECTED: copy_str(msg, len, "Host reconnected"); break;
	case PRISM_REG_RECONNECTED_IP:
		snprintf(msg, len, "Host reconnected with IP change from %s to %s", j->out.old_ip,
			 j->ip);
		break;
	}
}

static const char *const token_reasons[] = {
	[PRISM_TOKEN_OK] = "ok",
	[PRISM_TOKEN_NOT_FOUND] = "token_not_found",
	[PRISM_TOKEN_EXPIRED] = "token_expired",
	[PRISM_TOKEN_INACTIVE] = "token_inactive",
};

/*
 * An authentication failure (no token, an unknown, expired or revoked one, a certificate
 * naming another host) holds its connection: nothing more is read or served on it for
 * auth.failure_delay_ms. A connection has one registration in flight until one succeeds
 * (its first frame, for a valid agent), and again after a failure, so a pipelined burst
 * cannot pass the hold. A client guessing tokens, or flooding with a bad one, gets one
 * answer per delay and connection instead of as many as prismd can give, and the agents
 * with valid tokens keep the CPU. Without the hold a flood of bad tokens took its share of
 * prismd like as many valid registrations (docs/reliability.md).
 */
static void conn_auth_failed(struct conn *c)
{
	struct prism_agent_server *s = c->srv;
	s->stats.auth_failures++;
	c->proven = false;
	if (s->opts.auth_failure_delay_ms > 0)
		c->held_until = uv_now(s->loop) + s->opts.auth_failure_delay_ms;
}

static bool conn_held(const struct conn *c)
{
	return c->held_until != 0 && uv_now(c->srv->loop) < c->held_until;
}

/* Turn a finished registration into its answer. */
static void reg_answer(struct conn *c, struct reg_job *j, int err)
{
	struct prism_agent_server *s = c->srv;
	char msg[320];
	struct prism_agent_resp r = {.success = false, .message = msg, .hostname = j->hostname};
	if (err != 0) {
		prism_log(PRISM_LOG_ERROR, TAG, "cannot store registration of %s (%s)",
			  j->hostname, prism_strerror(err));
		if (err == PRISM_ESTOREFULL) {
			/* the operator's problem, not the agent's: say which, agents retry */
			snprintf(msg, sizeof(msg),
				 "Server error: registration could not be stored "
				 "(registry full: no space left)");
			r.code = "registry_full";
		} else {
			snprintf(msg, sizeof(msg),
				 "Server error: registration could not be stored");
			r.code = "store_error";
		}
	} else if (j->out.token != PRISM_TOKEN_OK) {
		snprintf(msg, sizeof(msg), "Invalid authentication token: %s",
			 token_reasons[j->out.token]);
		r.code = "invalid_token";
		conn_auth_failed(c);
	} else if (j->out.source_conflict) {
		snprintf(msg, sizeof(msg), "Hostname '%s' is managed by another source (%s)",
			 j->hostname, prism_source_name(j->out.holder));
		r.code = "hostname_conflict";
		s->stats.source_conflicts++;
	} else if (j->out.owned_by_other) {
		snprintf(msg, sizeof(msg), "Hostname '%s' is registered to another client",
			 j->hostname);
		r.code = "hostname_owned";
		s->stats.auth_failures++; /* a valid token: not held (a client of many hosts) */
	} else {
		reg_message(j, msg, sizeof(msg));
		r.success = true;
		r.result = result_names[j->out.result];
		r.ip = j->ip;
		r.fqdn = j->out.fqdn[0] ? j->out.fqdn : NULL;
		s->stats.registrations++;
		s->stats.results[j->out.result]++;
		c->proven = true;
		if (j->reg.owner != NULL && !c->authed) {
			/* a valid token: this client may now pipeline up to the full buffer */
			c->authed = true;
			prism_frame_reader_set_limit(&c->rd, PRISM_FRAME_BUF_MAX);
		}
	}
	slot_fill(c, j->slot, &r, false);
}

static void reg_done(struct prism_store_job *job, int err)
{
	struct reg_job *j = (struct reg_job *)job;
	struct conn *c = j->c;
	struct prism_agent_server *s = c->srv;
	bool ok = err == 0 && j->out.token == PRISM_TOKEN_OK && !j->out.owned_by_other &&
		  !j->out.source_conflict;
	if (ok && j->out.dns_changed && s->opts.changed_cb != NULL && !s->stopping)
		s->opts.changed_cb(s->opts.changed_arg);
	if (ok && j->out.result != PRISM_REG_HEARTBEAT && prism_log_enabled(PRISM_LOG_INFO))
		prism_log(PRISM_LOG_INFO, TAG, "host %s from %s: %s", j->hostname, j->ip,
			  result_names[j->out.result]);
	c->inflight--;
	if (c->closing) {
		/* the slot stays on the queue and is freed with the connection */
		j->slot->ready = true;
	} else {
		reg_answer(c, j, err);
		conn_process(c);
	}
	free(j);
	conn_unref(c);
}

/* The verified client certificate names @p hostname in the agents' zone. */
static bool cert_allows(const struct prism_agent_server *s, const struct conn *c,
			const char *hostname)
{
	return prism_tls_conn_allows(c->tls, hostname, s->opts.dns.zone);
}

/* The credential hash of @p token into @p out, from the connection's memo when it is the token
 * the connection sent last (kept from its second frame on). */
static int token_hash(struct conn *c, const char *token, char out[PRISM_TOKEN_HASH_LEN + 1])
{
	size_t len = strlen(token);
	struct token_memo *m = c->memo;
	if (m != NULL && m->len == len && prism_secret_equal(m->text, token, len)) {
		memcpy(out, m->hash, sizeof(m->hash));
		return 0;
	}
	struct prism_agent_server *s = c->srv;
	if (s->hasher == NULL && s->opts.cred_key != NULL)
		s->hasher = prism_cred_hasher_new(s->opts.cred_key);
	int rc = s->hasher != NULL ? prism_cred_hasher_hash(s->hasher, token, len, out)
				   : prism_cred_hash(s->opts.cred_key, token, len, out);
	if (rc != 0)
		return rc;
	if (!c->hashed) {
		/* a connection per registration (the reference client) never needs a memo */
		c->hashed = true;
		return 0;
	}
	if (m == NULL || m->len != len) {
		if (m != NULL)
			explicit_bzero(m, sizeof(*m) + m->len);
		free(m);
		c->memo = m = malloc(sizeof(*m) + len);
		if (m == NULL)
			return 0; /* no memo: the next frame hashes again */
		m->len = len;
	}
	memcpy(m->text, token, len);
	memcpy(m->hash, out, sizeof(m->hash));
	return 0;
}

/* Authentication before any work: fills @p j's owner or queues the error answer. */
static bool authenticate(struct conn *c, const struct prism_agent_req *req, struct reg_job *j)
{
	struct prism_agent_server *s = c->srv;
	if (!req->has_token && c->tls != NULL && prism_tls_conn_has_identity(c->tls)) {
		/* the certificate stands in for a token: the name is bound to the certificate's
		 * identity, so neither a token nor a plain connection can take it over */
		char id[PRISM_HOSTNAME_MAX + 8];
		snprintf(id, sizeof(id), "x509:%s", req->hostname);
		if (prism_cred_hash(s->opts.cred_key, id, strlen(id), j->owner) != 0) {
			conn_error(c, "Server error: out of memory", "internal", true);
			return false;
		}
		j->reg.owner = j->owner;
		j->reg.check_token = false;
		return true;
	}
	if (!req->has_token) {
		if (!s->opts.auth_required)
			return true;
		conn_error(c, "Authentication required. Please configure auth_token.",
			   "auth_required", false);
		conn_auth_failed(c);
		return false;
	}
	if (req->token_too_long || token_hash(c, req->token, j->owner) != 0) {
		conn_error(c, "Invalid authentication token: token_not_found", "invalid_token",
			   false);
		conn_auth_failed(c);
		return false;
	}
	/* configured tokens are checked here; registry tokens by the store, in the job. A
	 * configured token binds hosts by its name's first secret: during a rotation (the old
	 * and the new secret under one name) both register the same hosts */
	const char *owner = prism_token_set_owner(s->opts.tokens, j->owner);
	j->reg.check_token = owner == NULL;
	if (owner != NULL)
		memcpy(j->owner, owner, PRISM_TOKEN_HASH_LEN + 1);
	j->reg.owner = j->owner;
	return true;
}

static void conn_register(struct conn *c, const struct prism_agent_req *req)
{
	struct prism_agent_server *s = c->srv;
	if (prism_reserved_host(s->opts.reserved, req->hostname, s->opts.dns.zone)) {
		char msg[320];
		snprintf(msg, sizeof(msg), "Hostname '%s' is reserved", req->hostname);
		conn_error(c, msg, "hostname_reserved", false);
		return;
	}
	if (c->tls != NULL && prism_tls_conn_has_identity(c->tls) &&
	    !cert_allows(s, c, req->hostname)) {
		char names[256], msg[600];
		prism_tls_conn_names(c->tls, names, sizeof(names));
		snprintf(msg, sizeof(msg),
			 "Hostname '%s' is not named by the client certificate "
			 "(%s)",
			 req->hostname, names);
		conn_error(c, msg, "certificate_mismatch", false);
		conn_auth_failed(c);
		return;
	}
	struct reg_job *j = calloc(1, sizeof(*j));
	if (j == NULL) {
		conn_error(c, "Server error: out of memory", "internal", true);
		return;
	}
	int64_t now = now_usec() / 1000000;
	copy_str(j->hostname, sizeof(j->hostname), req->hostname);
	copy_str(j->ip, sizeof(j->ip), c->ip);
	j->reg = (struct prism_host_reg){
		.hostname = j->hostname,
		.ip = j->ip,
		.ipv6 = c->ipv6,
		.now = now,
		.expires_at = now + s->opts.offline_after,
		.dns = s->opts.dns,
	};
	if (!authenticate(c, req, j)) {
		free(j);
		return;
	}
	j->slot = slot_new(c);
	if (j->slot == NULL) {
		free(j);
		conn_close(c);
		return;
	}
	j->c = c;
	j->job.run = reg_run;
	j->job.done = reg_done;
	j->job.self_atomic = true; /* host_register: one statement or its own savepoint */
	c->inflight++;
	c->refs++;
	prism_store_writer_submit(s->opts.writer, &j->job);
}

/* ---- frames ---- */

static void conn_frame(struct conn *c, const uint8_t *p, size_t len)
{
	struct prism_agent_req req;
	char msg[PRISM_AGENT_ERRMSG_MAX];
	c->srv->stats.frames++;
	int rc = prism_agent_parse(p, len, &req, msg, sizeof(msg));
	if (rc == PRISM_EPROTO)
		conn_error(c, msg, "protocol_error", true);
	else if (rc != 0)
		conn_error(c, msg, "invalid_message", false);
	else
		conn_register(c, &req);
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
	if (c->counted) {
		/* nothing more will come: the slot is free for the next client */
		c->counted = false;
		c->srv->stats.active--;
	}
	conn_drain_deadline(c);
	if (c->tls != NULL) {
		prism_tls_conn_close_notify(c->tls);
		conn_send_tls(c, false);
	}
	if (uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
		free(req);
		c->refs--;
		conn_close(c);
	}
}

/* TLS: advance the handshake, send what it has to say, decrypt into the reader's free room.
 * @p more: plaintext was added. false: the connection failed (and is being closed). */
static bool conn_tls_pump(struct conn *c, bool *more)
{
	struct prism_agent_server *s = c->srv;
	bool was = prism_tls_conn_established(c->tls), eof = false;
	size_t held = c->rd.len - c->rd.off, got = 0;
	size_t room = c->rd.limit > held ? c->rd.limit - held : 0;
	*more = false;
	if (room > READ_CHUNK)
		room = READ_CHUNK;
	if (prism_tls_conn_read(c->tls, s->rxbuf, room, &got, &eof) != 0) {
		tls_fail(c, PRISM_TLS_FAIL_ERROR, NULL);
		return false;
	}
	if (!was && prism_tls_conn_established(c->tls)) {
		if (c->handshaking) {
			c->handshaking = false;
			s->handshakes--;
		}
		s->stats.tls_handshakes++;
		c->frame_start = 0; /* the handshake's deadline is met */
	}
	conn_send_tls(c, false);
	if (got > 0 && prism_frame_feed(&c->rd, s->rxbuf, got) == 0)
		*more = true;
	if (eof)
		c->eof = true; /* close_notify: like a half-close */
	return !c->closing;
}

static void conn_process(struct conn *c)
{
	bool more = false;
	if (c->tls != NULL && !c->closing && !c->drain && !conn_tls_pump(c, &more))
		return;
	if (c->tls != NULL && c->eof && !prism_tls_conn_established(c->tls)) {
		if (c->rx_any && !c->closing)
			tls_fail(c, PRISM_TLS_FAIL_HANDSHAKE, "closed during the handshake");
		else
			conn_close(c); /* connected and left: a port check, not a failure */
		return;
	}
	if (!c->closing && !c->blocked && conn_out_full(c))
		c->blocked = true;
	while (!c->closing && !c->drain && !c->blocked && !conn_held(c) &&
	       c->inflight < (c->proven ? MAX_INFLIGHT : 1u)) {
		const uint8_t *p;
		size_t len;
		uint32_t declared = 0;
		int rc = prism_frame_next(&c->rd, &p, &len, &declared);
		if (rc == 0 && c->tls != NULL) {
			if (!conn_tls_pump(c, &more))
				return;
			if (more)
				continue;
		}
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
	if (c->eof && c->inflight == 0)
		conn_flush(c); /* conn_finish() below: the answers go before the shutdown */
	else
		conn_flush_soon(c);
	if (c->closing || c->drain || c->shutting)
		return;
	if (c->eof) {
		if (conn_held(c))
			conn_arm_timer(c); /* frames may be left: served when the hold ends */
		else if (c->inflight == 0)
			conn_finish(c);
		return;
	}
	if (c->tls != NULL && !prism_tls_conn_established(c->tls))
		; /* the handshake's deadline runs from the accept */
	else if (!prism_frame_partial(&c->rd))
		c->frame_start = 0;
	else if (c->frame_start == 0)
		c->frame_start = uv_now(c->srv->loop);
	if (!c->blocked && conn_out_full(c))
		c->blocked = true;
	bool held = conn_held(c);
	if ((c->blocked || held) && c->reading) {
		/* answers pile up unread (or the connection is held after an authentication
		 * failure): stop taking requests until the peer reads them */
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	} else if (!c->blocked && !held && !c->reading &&
		   uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0) {
		c->reading = true; /* room freed: resume reading if backpressure had stopped it */
	}
	conn_arm_timer(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;
	struct prism_agent_server *s = c->srv;
	size_t held = c->rd.len - c->rd.off;
	if (c->tls != NULL)
		held += prism_tls_conn_pending_in(c->tls); /* ciphertext not yet decrypted */
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
		/* buffer full while registrations are in flight: wait for them */
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
	c->rx_any = true;
	if (c->tls != NULL) {
		int rc = prism_tls_conn_feed(c->tls, (const uint8_t *)buf->base, (size_t)n);
		if (rc != 0)
			tls_fail(c, PRISM_TLS_FAIL_ERROR, NULL);
		else
			conn_process(c);
		return;
	}
	if (prism_frame_feed(&c->rd, (const uint8_t *)buf->base, (size_t)n) != 0) {
		conn_error(c, "Protocol error: connection buffer limit exceeded", "protocol_error",
			   true);
		conn_flush(c);
		return;
	}
	conn_process(c);
}

/* ---- timers ---- */

static void timer_cb(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->closing)
		return;
	struct prism_agent_server *s = c->srv;
	uint64_t now = uv_now(s->loop);
	uint64_t idle_ms = (uint64_t)s->opts.idle_timeout * 1000;
	uint64_t frame_ms = (uint64_t)s->opts.frame_timeout * 1000;
	if (c->held_until != 0 && now >= c->held_until) {
		/* the hold after an authentication failure is over: read and serve again (the
		 * silence it imposed is not the client's) */
		c->held_until = 0;
		c->last_rx = now;
		if (c->frame_start != 0)
			c->frame_start = now;
		conn_process(c);
		return;
	}
	if ((c->writes > 0 && now - c->tx_progress >= idle_ms) ||
	    (c->drain_start != 0 && now - c->drain_start >= idle_ms)) {
		/* the peer does not take its answers: no answer can reach it, just close */
		s->stats.timeouts++;
		s->stats.write_timeouts++;
		prism_log(PRISM_LOG_INFO, TAG,
			  "closing the connection from %s: its answers "
			  "were not read within %u s",
			  c->ip, s->opts.idle_timeout);
		conn_close(c);
		return;
	}
	if (c->drain || c->shutting || c->blocked) {
		conn_arm_timer(c);
		return;
	}
	if (c->inflight > 0) {
		/* we are the slow party; don't blame the client */
		uv_timer_start(&c->timer, timer_cb, 1000, 0);
		return;
	}
	bool idle = now - c->last_rx >= idle_ms;
	bool slow = c->frame_start != 0 && now - c->frame_start >= frame_ms;
	if ((idle || slow) && c->tls != NULL && !prism_tls_conn_established(c->tls)) {
		char why[64];
		snprintf(why, sizeof(why), "no complete handshake within %u s",
			 s->opts.frame_timeout);
		s->stats.timeouts++;
		tls_fail(c, PRISM_TLS_FAIL_HANDSHAKE_TIMEOUT, why);
		return;
	}
	if (idle || slow) {
		s->stats.timeouts++;
		conn_error(c, "Connection timeout", idle ? "idle_timeout" : "frame_timeout", true);
		conn_flush(c);
		return;
	}
	conn_arm_timer(c);
}

/* The nearest deadline of the connection's state (see the design comment). */
static void conn_arm_timer(struct conn *c)
{
	struct prism_agent_server *s = c->srv;
	uint64_t now = uv_now(s->loop);
	uint64_t idle_ms = (uint64_t)s->opts.idle_timeout * 1000;
	uint64_t due = UINT64_MAX;
	if (c->writes > 0)
		due = c->tx_progress + idle_ms;
	if (c->drain_start != 0 && c->drain_start + idle_ms < due)
		due = c->drain_start + idle_ms;
	if (!c->drain && !c->shutting && !c->blocked) {
		if (c->last_rx + idle_ms < due)
			due = c->last_rx + idle_ms;
		uint64_t f = c->frame_start + (uint64_t)s->opts.frame_timeout * 1000;
		if (c->frame_start != 0 && f < due)
			due = f;
	}
	if (c->held_until != 0 && c->held_until < due)
		due = c->held_until;
	if (due == UINT64_MAX)
		due = now + idle_ms; /* blocked with nothing written yet: check again later */
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

/* A connection on the TLS port: its session, within the limit of handshakes at once. */
static bool conn_start_tls(struct conn *c)
{
	struct prism_agent_server *s = c->srv;
	if (s->handshakes >= TLS_MAX_HANDSHAKES) {
		s->stats.tls_failures[PRISM_TLS_FAIL_HANDSHAKE_LIMIT]++;
		return false; /* no log line: a flood would fill the log */
	}
	c->tls = prism_tls_conn_new(s->opts.tls);
	if (c->tls == NULL)
		return false;
	c->handshaking = true;
	s->handshakes++;
	c->frame_start = uv_now(s->loop); /* the handshake has frame_timeout */
	return true;
}

static void on_connection(uv_stream_t *l, int status)
{
	struct listener *lis = l->data;
	struct prism_agent_server *s = lis->srv;
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
		if (lis->tls) {
			conn_close(c); /* no answer can be sent before a handshake */
			return;
		}
		conn_error(c, "Server at capacity", "capacity", true);
		conn_flush(c);
		return;
	}
	if (lis->tls && !conn_start_tls(c)) {
		conn_close(c);
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
	struct listener *l = h->data;
	struct prism_agent_server *s = l->srv;
	free(l);
	server_unref(s);
}

static int listen_one(struct prism_agent_server *s, const char *host, uint16_t port, bool tls,
		      char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	int v6 = 0;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
		if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
			snprintf(err, errlen, "server.host: '%s' is not an IPv4 or IPv6 address",
				 host);
			return PRISM_ECONFIG;
		}
		v6 = 1;
	}
	struct listener *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return PRISM_ENOMEM;
	uv_tcp_init(s->loop, &l->tcp);
	l->tcp.data = l;
	l->srv = s;
	l->tls = tls;
	s->listeners[s->nlisteners++] = l;
	s->refs++;
	/* "::" alone serves both families; next to an IPv4 listener it must be IPv6-only */
	unsigned flags = v6 && s->opts.nhosts > 1 ? UV_TCP_IPV6ONLY : 0;
	int rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, flags);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 4096, on_connection);
	if (rc != 0)
		snprintf(err, errlen, "cannot listen on %s port %u (%s)", host, port,
			 uv_strerror(rc));
	return rc;
}

int prism_agent_server_start(uv_loop_t *loop, const struct prism_agent_server_opts *opts,
			     struct prism_agent_server **out, char *err, size_t errlen)
{
	if (loop == NULL || opts == NULL || out == NULL || opts->writer == NULL ||
	    opts->nhosts == 0 || opts->nhosts > MAX_LISTENERS ||
	    (opts->port == 0 && opts->tls_port == 0) || (opts->tls_port != 0 && opts->tls == NULL))
		return PRISM_EINVAL;
	struct prism_agent_server *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return PRISM_ENOMEM;
	s->loop = loop;
	s->opts = *opts;
	s->refs = 2; /* the caller's and the flusher's */
	uv_prepare_init(loop, &s->flusher);
	s->flusher.data = s;
	for (size_t i = 0; i < 2 * opts->nhosts; i++) {
		bool tls = i >= opts->nhosts;
		uint16_t port = tls ? opts->tls_port : opts->port;
		if (port == 0)
			continue; /* that port is off */
		int rc = listen_one(s, opts->hosts[i % opts->nhosts], port, tls, err, errlen);
		if (rc != 0) {
			prism_agent_server_stop(s);
			return rc;
		}
	}
	*out = s;
	return 0;
}

void prism_agent_server_reload(struct prism_agent_server *s,
			       const struct prism_agent_server_opts *o)
{
	if (s == NULL || o == NULL)
		return;
	s->opts.max_connections = o->max_connections;
	s->opts.idle_timeout = o->idle_timeout;
	s->opts.frame_timeout = o->frame_timeout;
	s->opts.offline_after = o->offline_after;
	s->opts.auth_required = o->auth_required;
	s->opts.auth_failure_delay_ms = o->auth_failure_delay_ms;
	s->opts.tokens = o->tokens;
	s->opts.reserved = o->reserved;
}

static void flusher_closed_cb(uv_handle_t *h)
{
	server_unref(h->data);
}

void prism_agent_server_stop(struct prism_agent_server *s)
{
	if (s == NULL)
		return;
	s->stopping = true;
	while (s->conns != NULL)
		conn_close(s->conns);
	flush_cb(&s->flusher); /* releases the connections still queued */
	uv_close((uv_handle_t *)&s->flusher, flusher_closed_cb);
	for (size_t i = 0; i < s->nlisteners; i++)
		uv_close((uv_handle_t *)&s->listeners[i]->tcp, listener_closed_cb);
	s->nlisteners = 0;
	server_unref(s);
}

void prism_agent_server_stats(const struct prism_agent_server *s,
			      struct prism_agent_server_stats *out)
{
	*out = s->stats;
}
