/* SPDX-License-Identifier: MIT */
/*
 * A presence read of a zone by AXFR: connect, send the query (two-byte length first, RFC
 * 1035 4.2.2), cut the stream into messages and feed them to core/dnsupdate.c's transfer
 * reader, which keeps names and types only. The read holds two handles (the connection and
 * its deadline) and frees itself once both are closed.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/dnsupdate.h"
#include "core/error.h"
#include "engine/xfr.h"

#define XFR_READ_MAX (64u * 1024u) /* a read into the buffer's free room, at most */

struct prism_xfr {
	uv_tcp_t tcp;
	uv_connect_t conn;
	uv_write_t wr;
	uv_timer_t timer;
	unsigned open; /* handles not yet closed */
	bool ended;    /* the callback ran, or the read was cancelled */
	prism_xfr_cb cb;
	void *arg;
	struct prism_dns_msg q;
	uint8_t lenpfx[2];
	struct prism_axfr *x;
	uint8_t *buf; /* bytes read, not yet a whole message */
	size_t len, cap;
};

static void closed_cb(uv_handle_t *h)
{
	struct prism_xfr *x = h->data;
	if (--x->open > 0)
		return;
	prism_axfr_free(x->x);
	prism_dns_msg_free(&x->q);
	free(x->buf);
	free(x);
}

static void close_all(struct prism_xfr *x)
{
	uv_close((uv_handle_t *)&x->tcp, closed_cb);
	uv_close((uv_handle_t *)&x->timer, closed_cb);
}

static int add_name(void *arg, const char *name, const char *type)
{
	return prism_strset_add_joined(arg, name, ' ', type) != 0 ? PRISM_ENOMEM : 0;
}

static void finish(struct prism_xfr *x, int err, int rcode)
{
	if (x->ended)
		return;
	x->ended = true;
	struct prism_strset present = {0};
	if (err == 0)
		err = prism_axfr_names(x->x, add_name, &present);
	if (err != 0)
		prism_strset_clear(&present);
	x->cb(x->arg, err, rcode, err == 0 ? &present : NULL);
	prism_strset_clear(&present);
	close_all(x);
}

static void timeout_cb(uv_timer_t *t)
{
	finish(t->data, PRISM_ETIMEOUT, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct prism_xfr *x = h->data;
	(void)suggested;
	if (x->cap - x->len < XFR_READ_MAX) {
		uint8_t *b = realloc(x->buf, x->len + XFR_READ_MAX);
		if (b == NULL) {
			*buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
			return;
		}
		x->buf = b;
		x->cap = x->len + XFR_READ_MAX;
	}
	*buf = uv_buf_init((char *)x->buf + x->len, (unsigned)(x->cap - x->len));
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct prism_xfr *x = s->data;
	(void)buf;
	if (x->ended)
		return;
	if (n < 0) {
		/* the server closed (or failed) before the transfer's closing SOA */
		finish(x, n == UV_EOF ? PRISM_EPROTO : (int)n, 0);
		return;
	}
	x->len += (size_t)n;
	size_t at = 0;
	while (x->len - at >= 2) {
		size_t mlen = (size_t)x->buf[at] << 8 | x->buf[at + 1];
		if (x->len - at - 2 < mlen)
			break;
		struct prism_dns_answer ans;
		int rc = prism_axfr_feed(x->x, x->buf + at + 2, mlen, &ans);
		at += 2 + mlen;
		if (rc != 0) {
			finish(x, rc == 1 ? 0 : rc, ans.rcode);
			return;
		}
	}
	memmove(x->buf, x->buf + at, x->len - at);
	x->len -= at;
}

static void write_cb(uv_write_t *w, int status)
{
	struct prism_xfr *x = w->data;
	if (status != 0)
		finish(x, status, 0);
}

static void connect_cb(uv_connect_t *c, int status)
{
	struct prism_xfr *x = c->data;
	if (x->ended)
		return;
	if (status != 0) {
		finish(x, status, 0);
		return;
	}
	x->lenpfx[0] = (uint8_t)(x->q.len >> 8);
	x->lenpfx[1] = (uint8_t)x->q.len;
	uv_buf_t bufs[2] = {uv_buf_init((char *)x->lenpfx, 2),
			    uv_buf_init((char *)x->q.wire, (unsigned)x->q.len)};
	x->wr.data = x;
	int rc = uv_write(&x->wr, (uv_stream_t *)&x->tcp, bufs, 2, write_cb);
	if (rc == 0)
		rc = uv_read_start((uv_stream_t *)&x->tcp, alloc_cb, read_cb);
	if (rc != 0)
		finish(x, rc, 0);
}

int prism_xfr_start(uv_loop_t *loop, const struct sockaddr *addr, const char *zone,
		    uint64_t timeout_ms, prism_xfr_cb cb, void *arg, struct prism_xfr **out)
{
	if (loop == NULL || addr == NULL || zone == NULL || cb == NULL || out == NULL)
		return PRISM_EINVAL;
	struct prism_xfr *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return PRISM_ENOMEM;
	x->cb = cb;
	x->arg = arg;
	int rc = prism_query_build(zone, PRISM_DNSQ_AXFR, NULL, (uint16_t)arc4random(), &x->q);
	if (rc == 0 && (x->x = prism_axfr_new(zone, &x->q, NULL)) == NULL)
		rc = PRISM_ENOMEM;
	if (rc == 0 && (rc = uv_tcp_init(loop, &x->tcp)) == 0) {
		x->open = 2;
		uv_timer_init(loop, &x->timer);
		x->tcp.data = x->timer.data = x->conn.data = x;
		prism_axfr_names_only(x->x);
		rc = uv_tcp_connect(&x->conn, &x->tcp, addr, connect_cb);
		if (rc == 0)
			rc = uv_timer_start(&x->timer, timeout_cb, timeout_ms, 0);
		if (rc != 0) {
			x->ended = true; /* no callback: the caller hears the error */
			close_all(x);
			return rc;
		}
		*out = x;
		return 0;
	}
	prism_axfr_free(x->x);
	prism_dns_msg_free(&x->q);
	free(x);
	return rc;
}

void prism_xfr_cancel(struct prism_xfr *x)
{
	if (x == NULL || x->ended)
		return;
	x->ended = true;
	close_all(x);
}
