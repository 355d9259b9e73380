/* SPDX-License-Identifier: MIT */
/*
 * RFC 2136 target: dynamic updates signed with TSIG, zone reads by AXFR or IXFR, over TCP on
 * the loop (uv_tcp; TCP only: UPDATE messages up to 64 KiB, and transfers need it anyway).
 *
 * Incremental reads. The target keeps the last transferred copy of each zone with its SOA
 * serial; the next read (reconciler, plan, catch-up) asks IXFR from that serial and applies
 * the differences to the copy. The whole zone is read by AXFR instead when there is no
 * copy yet, and on a new connection when the IXFR answer does not fit the copy (see
 * prism_ixfr_apply), is refused or answered with an error, or is not a transfer at all. An
 * answer that is the whole zone (AXFR-style) is taken as it is.
 *
 * One request is one TCP connection: connect, write one or more length-prefixed messages,
 * read their answers, close. apply() sends its changes as few messages as fit in 64 KiB,
 * one after the other on its connection, and reports once: the first failure ends it.
 *
 * Ownership. Each RRset Prism writes has a companion TXT record (see core/dnsupdate.h), and
 * each update carries prerequisites that make the server refuse a write to a name held by
 * someone else. Which guard an RRset gets depends on whether Prism owns it: the target keeps
 * per zone the set of owned RRsets, from the last transfer (the engine reads every zone
 * before it pushes) and from its own successful updates.
 *
 * Lifetimes. The target is reference counted: one reference for the owner, one per request;
 * a request holds its timer and (when connected) its TCP handle, and is freed from the close
 * callback of the last one. close() abandons requests without callbacks.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/config.h"
#include "core/dnsupdate.h"
#include "core/error.h"
#include "core/pdns_json.h"
#include "core/strset.h"
#include "core/zonefile.h"
#include "targets/target.h"

#define DEFAULT_TIMEOUT_MS 10000u
#define XFR_TIMEOUT_MIN_MS 60000u /* a transfer of a large zone takes longer than a write */
#define ERRMSG_MAX	   512u
/* Bytes of changes (their uncompressed wire size) put into one UPDATE before it is built;
 * names compress well, so start above 64 KiB and shrink when a message comes out too big. */
#define BUDGET_START 160000u
#define BUDGET_MIN   8000u
#define BUDGET_MAX   (16u * 65536u)

/* ---- the target ---- */

/* What Prism owns in one zone, and whether that is known (read at least once). */
struct zown {
	struct zown *next;
	char *zone;
	bool known;
	bool served; /* the server answered its SOA (the health check's transfer uses it) */
	struct prism_strset owned; /* "name TYPE" of the RRsets Prism owns */
	struct prism_axfr *copy;   /* the zone as last read (and its serial), or NULL */
};

enum rkind { R_UPDATE, R_SOA, R_AXFR, R_NOOP };
enum rpurpose { P_APPLY, P_ENSURE, P_READ, P_RECORDS, P_LIST, P_PING, P_NOOP };

struct rreq {
	struct prism_target *t;
	struct rreq *prev, *next;
	enum rkind kind;
	enum rpurpose purpose;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t conn;
	uv_write_t wr;
	unsigned handles; /* open handles; freed when the last one closes */
	bool tcp_open, done;
	char *zone;
	/* apply */
	struct prism_rr_change *ch;
	bool *owned;
	size_t n, lo, hi; /* changes; [lo, hi) is in the message being answered */
	unsigned sent_msgs;
	struct prism_dns_msg msg; /* the message in flight */
	/* the next message, built while the server works on the one in flight */
	struct prism_dns_msg pre;
	size_t pre_hi;
	int pre_rc;
	bool has_pre;
	char pre_why[ERRMSG_MAX];
	uint8_t hdr[2];
	/* reading */
	uint8_t *rbuf;
	size_t rlen, rcap;
	struct prism_axfr *axfr;
	bool ixfr;			 /* axfr reads an IXFR answer from the zone's copy */
	bool incremental;		 /* the read was answered incrementally */
	const struct prism_axfr *result; /* the zone read: the copy, or axfr */
	/* list_zones: the zones to ask, one after the other */
	struct prism_zone_list *list;
	struct zown *lz;
	/* completion */
	prism_target_done_cb cb;
	prism_target_zone_cb zone_cb;
	prism_target_data_cb data_cb;
	prism_target_list_cb list_cb;
	prism_target_body_cb body_cb;
	void *arg;
	int noop_status;
	uint64_t started;
};

struct prism_target {
	uv_loop_t *loop;
	char *name;
	char *owner_id;
	struct sockaddr_storage addr;
	char *kname, *kalg, *ksecret;
	struct prism_tsig key;
	bool signed_;
	uint64_t timeout_ms;
	size_t budget;
	unsigned refs;
	bool closing;
	uint16_t next_id;
	struct rreq *reqs;
	struct zown *zones;
	prism_target_observer_cb observer;
	void *observer_arg;
};

static void target_unref(struct prism_target *t)
{
	if (--t->refs > 0)
		return;
	while (t->zones != NULL) {
		struct zown *z = t->zones;
		t->zones = z->next;
		prism_strset_clear(&z->owned);
		prism_axfr_free(z->copy);
		free(z->zone);
		free(z);
	}
	free(t->name);
	free(t->owner_id);
	free(t->kname);
	free(t->kalg);
	if (t->ksecret != NULL)
		memset(t->ksecret, 0, strlen(t->ksecret));
	free(t->ksecret);
	free(t);
}

static struct zown *zown_get(struct prism_target *t, const char *zone, bool create)
{
	for (struct zown *z = t->zones; z != NULL; z = z->next)
		if (strcmp(z->zone, zone) == 0)
			return z;
	if (!create)
		return NULL;
	struct zown *z = calloc(1, sizeof(*z));
	if (z == NULL || (z->zone = strdup(zone)) == NULL) {
		free(z);
		return NULL;
	}
	z->next = t->zones;
	t->zones = z;
	return z;
}

static void owned_key(char *buf, size_t len, const char *name, const char *type)
{
	snprintf(buf, len, "%s %s", name, type);
}

/* ---- requests ---- */

static void req_free(struct rreq *r)
{
	struct prism_target *t = r->t;
	for (size_t i = 0; r->ch != NULL && i < r->n; i++) {
		free((char *)r->ch[i].name);
		free((char *)r->ch[i].type);
		for (size_t k = 0; k < r->ch[i].nrecords; k++)
			free((char *)r->ch[i].records[k]);
		free((char **)r->ch[i].records);
	}
	free(r->ch);
	free(r->owned);
	prism_dns_msg_free(&r->msg);
	prism_dns_msg_free(&r->pre);
	free(r->rbuf);
	prism_axfr_free(r->axfr);
	if (r->list != NULL) {
		prism_zone_list_free(r->list);
		free(r->list);
	}
	free(r->zone);
	free(r);
	target_unref(t);
}

static void handle_closed(uv_handle_t *h)
{
	struct rreq *r = h->data;
	if (--r->handles == 0)
		req_free(r);
}

static void req_unlink(struct rreq *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (r->t->reqs == r)
		r->t->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* Close the request's handles; it is freed once they are closed. */
static void req_close(struct rreq *r)
{
	r->done = true;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, handle_closed);
	if (r->tcp_open) {
		r->tcp_open = false;
		uv_close((uv_handle_t *)&r->tcp, handle_closed);
	}
}

static struct rreq *req_new(struct prism_target *t, enum rkind kind, enum rpurpose purpose,
			    const char *zone)
{
	struct rreq *r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	if (zone != NULL && (r->zone = strdup(zone)) == NULL) {
		free(r);
		return NULL;
	}
	r->t = t;
	r->kind = kind;
	r->purpose = purpose;
	uv_timer_init(t->loop, &r->timer);
	r->timer.data = r;
	r->handles = 1;
	r->started = uv_hrtime();
	t->refs++;
	r->next = t->reqs;
	if (t->reqs != NULL)
		t->reqs->prev = r;
	t->reqs = r;
	return r;
}

static void observe(struct rreq *r, int status)
{
	struct prism_target *t = r->t;
	if (t->observer == NULL || r->kind == R_NOOP)
		return;
	unsigned repl = 0, del = 0;
	for (size_t i = 0; r->kind == R_UPDATE && i < r->n; i++) {
		if (r->ch[i].nrecords == 0)
			del++;
		else
			repl++;
	}
	struct prism_target_event ev = {
		.target = t->name,
		.method = r->kind == R_UPDATE ? "UPDATE"
			  : r->ixfr	      ? "IXFR"
			  : r->kind == R_AXFR ? "AXFR"
					      : "QUERY",
		.endpoint = r->purpose == P_LIST ? "zones" : "zone",
		.http_status = status,
		.seconds = (double)(uv_hrtime() - r->started) / 1e9,
		.zone_op = r->purpose == P_ENSURE ? "check" : NULL,
		.replaced = repl,
		.deleted = del,
	};
	if (status != 0 && (r->purpose == P_READ || r->purpose == P_RECORDS))
		ev.zone_read = r->incremental ? "ixfr" : "axfr";
	t->observer(t->observer_arg, &ev);
}

/* The one completion of a request; @p status is reported as http_status (200 or 0). */
static void req_finish(struct rreq *r, int err, const char *msg)
{
	if (r->done)
		return;
	req_unlink(r);
	req_close(r);
	observe(r, err == 0 ? 200 : 0);
	msg = msg ? msg : "";
	int status = err == 0 ? (r->purpose == P_NOOP ? r->noop_status : 200) : 0;
	switch (r->purpose) {
	case P_APPLY:
	case P_ENSURE:
	case P_NOOP: r->cb(r->arg, err, status, msg); break;
	case P_READ: {
		struct prism_actual_zone *z = NULL;
		char **keys = NULL;
		if (err == 0 && (z = calloc(1, sizeof(*z))) == NULL)
			err = PRISM_ENOMEM;
		if (err == 0 &&
		    (err = prism_axfr_zone(r->result, r->t->owner_id, z, &keys)) == 0) {
			struct zown *zo = zown_get(r->t, r->zone, true);
			if (zo != NULL) {
				prism_strset_clear(&zo->owned);
				zo->known = true;
				for (char **k = keys; *k != NULL; k++)
					if (prism_strset_add(&zo->owned, *k) != 0)
						zo->known = false;
			}
		}
		for (char **k = keys; k != NULL && *k != NULL; k++)
			free(*k);
		free(keys);
		if (err != 0) {
			free(z);
			z = NULL;
		}
		r->zone_cb(r->arg, err, 0, err && !msg[0] ? prism_strerror(err) : msg, z);
		break;
	}
	case P_RECORDS: {
		struct prism_zone_data *d = NULL;
		if (err == 0 && (d = calloc(1, sizeof(*d))) == NULL)
			err = PRISM_ENOMEM;
		if (err == 0 && (err = prism_axfr_records(r->result, d)) != 0) {
			free(d);
			d = NULL;
		}
		r->data_cb(r->arg, err, 0, err && !msg[0] ? prism_strerror(err) : msg, d);
		break;
	}
	case P_LIST: {
		struct prism_zone_list *l = err == 0 ? r->list : NULL;
		if (err == 0)
			r->list = NULL;
		r->list_cb(r->arg, err, 0, msg, l);
		break;
	}
	case P_PING: {
		const char *body = "{\"version\":\"\"}";
		r->body_cb(r->arg, err, 0, msg, err == 0 ? body : "", err == 0 ? strlen(body) : 0);
		break;
	}
	}
}

static void timeout_cb(uv_timer_t *h)
{
	struct rreq *r = h->data;
	if (r->kind == R_NOOP) {
		req_finish(r, 0, "");
		return;
	}
	req_finish(r, PRISM_ETIMEOUT, "no answer from the DNS server in time");
}

static void write_cb(uv_write_t *w, int status)
{
	struct rreq *r = w->data;
	if (status != 0 && status != UV_ECANCELED && !r->done)
		req_finish(r, status, uv_strerror(status));
}

static int send_msg(struct rreq *r)
{
	r->hdr[0] = (uint8_t)(r->msg.len >> 8);
	r->hdr[1] = (uint8_t)r->msg.len;
	uv_buf_t b[2] = {uv_buf_init((char *)r->hdr, 2),
			 uv_buf_init((char *)r->msg.wire, (unsigned)r->msg.len)};
	r->wr.data = r;
	r->sent_msgs++;
	return uv_write(&r->wr, (uv_stream_t *)&r->tcp, b, 2, write_cb);
}

/* ---- apply: UPDATE messages ---- */

static size_t change_bytes(const struct prism_rr_change *c)
{
	size_t b = 2 * strlen(c->name) + 2 * strlen(c->type) + 120;
	for (size_t i = 0; i < c->nrecords; i++)
		b += strlen(c->name) + strlen(c->records[i]) + 12;
	return b;
}

/* Build the next message from r->lo on: as many changes as fit. */
static int build_next(struct rreq *r, char *why, size_t whylen)
{
	struct prism_target *t = r->t;
	for (;;) {
		size_t hi = r->lo, bytes = 0;
		while (hi < r->n && (hi == r->lo || bytes + change_bytes(&r->ch[hi]) <= t->budget))
			bytes += change_bytes(&r->ch[hi++]);
		prism_dns_msg_free(&r->msg);
		size_t bad = 0;
		int rc = prism_update_build(r->zone, r->ch + r->lo, r->owned + r->lo, hi - r->lo,
					    t->owner_id, t->signed_ ? &t->key : NULL, t->next_id++,
					    &r->msg, &bad, why, whylen);
		if (rc == PRISM_ETOOBIG && hi - r->lo > 1) {
			/* just over: a little less (the estimate is aimed at the limit) */
			t->budget = t->budget * 15 / 16 > BUDGET_MIN ? t->budget * 15 / 16
								     : BUDGET_MIN;
			continue;
		}
		if (rc == PRISM_ETOOBIG)
			snprintf(why, whylen, "%s %s: too large for one DNS message",
				 r->ch[r->lo].name, r->ch[r->lo].type);
		if (rc != 0)
			return rc == PRISM_ETOOBIG ? PRISM_EMSG : rc;
		r->hi = hi;
		if (hi < r->n && r->msg.len > 0) {
			/* aim the next message at 99 % of the largest one, from this one's ratio
			 * of wire bytes to estimated bytes (names compress well): every message
			 * costs the server a commit, so fewer and fuller is faster; one that
			 * comes out too big is built again a little smaller */
			double want = 0.99 * (PRISM_DNS_MSG_MAX - 600) * (double)bytes /
				      (double)r->msg.len;
			t->budget = want < BUDGET_MIN	? BUDGET_MIN
				    : want > BUDGET_MAX ? BUDGET_MAX
							: (size_t)want;
		}
		return 0;
	}
}

/* With [lo, hi) sent (uv_write has handed it to the kernel), build the message after it
 * while the server works: the answer then only has to be read before the next one goes. A
 * failure is kept for when the next message is wanted (none is if this one fails). */
static void prebuild(struct rreq *r)
{
	if (r->hi >= r->n)
		return;
	size_t lo = r->lo, hi = r->hi;
	struct prism_dns_msg cur = r->msg;
	r->msg = (struct prism_dns_msg){0};
	r->lo = hi;
	r->pre_why[0] = '\0';
	r->pre_rc = build_next(r, r->pre_why, sizeof(r->pre_why));
	r->pre = r->msg;
	r->pre_hi = r->hi;
	r->has_pre = true;
	r->msg = cur;
	r->lo = lo;
	r->hi = hi;
}

/* The message [lo, hi) was applied: remember what Prism owns now. */
static void record_owned(struct rreq *r)
{
	struct zown *z = zown_get(r->t, r->zone, true);
	if (z == NULL)
		return;
	char key[600];
	for (size_t i = r->lo; i < r->hi; i++) {
		owned_key(key, sizeof(key), r->ch[i].name, r->ch[i].type);
		if (r->ch[i].nrecords == 0)
			prism_strset_del(&z->owned, key);
		else if (prism_strset_add(&z->owned, key) != 0)
			z->known = false;
	}
}

/* What an UPDATE's answer means for the engine (see target.h). */
static int update_verdict(struct rreq *r, const struct prism_dns_answer *a, char *msg, size_t len)
{
	char rb[16];
	const char *rc = prism_rcode_name(a->rcode, rb, sizeof(rb));
	if (a->tsig_error != 0) {
		snprintf(msg, len, "TSIG %s: the server refused the key %s",
			 a->tsig_error == 16   ? "BADSIG"
			 : a->tsig_error == 17 ? "BADKEY"
			 : a->tsig_error == 18 ? "BADTIME"
					       : "error",
			 r->t->key.name);
		return PRISM_EDENIED;
	}
	if (!a->tsig_ok) {
		snprintf(msg, len, "%s, and the answer's TSIG does not verify (wrong secret?)",
			 rc);
		return PRISM_EDENIED;
	}
	switch (a->rcode) {
	case 0: return 0;
	case 1: /* FORMERR */
		snprintf(msg, len, "FORMERR: the server refused a record of the update");
		return PRISM_EMSG;
	case 9: /* NOTAUTH */
		snprintf(msg, len, "NOTAUTH: not authorised to update zone %s", r->zone);
		return PRISM_EDENIED;
	case 5:	 /* REFUSED */
	case 10: /* NOTZONE */
	case 4:	 /* NOTIMP */
		snprintf(msg, len,
			 "%s: the server's configuration refuses updates of %s with "
			 "key %s (update-policy or ACL)",
			 rc, r->zone, r->t->key.name ? r->t->key.name : "(none)");
		return PRISM_ECONFIG;
	case 6: /* YXDOMAIN */
	case 7: /* YXRRSET */
	case 8: /* NXRRSET */
	case 3: /* NXDOMAIN */
		snprintf(msg, len, "%s: a name is held by someone else (prerequisite failed)", rc);
		return PRISM_ECONFLICT;
	default: snprintf(msg, len, "%s", rc); return PRISM_EUPSTREAM;
	}
}

static void on_update_answer(struct rreq *r, const uint8_t *m, size_t len)
{
	char msg[ERRMSG_MAX];
	struct prism_dns_answer a;
	int rc = prism_answer_read(m, len, &r->msg, NULL, r->t->signed_ ? &r->t->key : NULL, &a);
	if (rc != 0) {
		req_finish(r, PRISM_EPROTO, "not a DNS answer to the update");
		return;
	}
	rc = update_verdict(r, &a, msg, sizeof(msg));
	if (rc != 0) {
		req_finish(r, rc, msg);
		return;
	}
	record_owned(r);
	r->lo = r->hi;
	if (r->lo >= r->n) {
		req_finish(r, 0, "");
		return;
	}
	if (r->has_pre) {
		prism_dns_msg_free(&r->msg);
		r->msg = r->pre;
		r->pre = (struct prism_dns_msg){0};
		r->hi = r->pre_hi;
		r->has_pre = false;
		rc = r->pre_rc;
		snprintf(msg, sizeof(msg), "%s", r->pre_why);
	} else {
		rc = build_next(r, msg, sizeof(msg));
	}
	if (rc == 0 && (rc = send_msg(r)) == 0)
		prebuild(r);
	if (rc != 0)
		req_finish(r, rc, rc < 0 && rc > -1000 ? uv_strerror(rc) : msg);
}

/* ---- SOA and AXFR answers ---- */

static void list_next(struct rreq *r);

static void on_soa_answer(struct rreq *r, const uint8_t *m, size_t len)
{
	struct prism_dns_answer a;
	char msg[ERRMSG_MAX], rb[16];
	const char *zone = r->purpose == P_LIST ? r->lz->zone : r->zone;
	int rc = prism_answer_read(m, len, &r->msg, zone, r->t->signed_ ? &r->t->key : NULL, &a);
	if (rc != 0) {
		req_finish(r, PRISM_EPROTO, "not a DNS answer to the SOA query");
		return;
	}
	bool ok = a.rcode == 0 && a.has_soa && a.tsig_ok;
	if (r->purpose == P_LIST) {
		if (ok && r->list != NULL) {
			struct prism_zone_entry *e = &r->list->v[r->list->n];
			*e = (struct prism_zone_entry){strdup(zone), strdup("Native"), a.serial};
			r->list->n++;
			if (e->name == NULL || e->kind == NULL) {
				req_finish(r, PRISM_ENOMEM, "");
				return;
			}
		}
		r->lz = r->lz->next;
		list_next(r);
		return;
	}
	if (a.tsig_error != 0 || !a.tsig_ok) {
		req_finish(r, PRISM_EDENIED, "the SOA answer's TSIG does not verify (wrong key?)");
		return;
	}
	struct zown *zo = r->purpose == P_ENSURE ? zown_get(r->t, r->zone, false) : NULL;
	if (zo != NULL)
		zo->served = ok;
	if (!ok && r->purpose != P_PING) {
		snprintf(msg, sizeof(msg),
			 "zone %s is not served by the server (%s); zones are "
			 "not created on RFC 2136 targets: add it to the "
			 "server's configuration",
			 r->zone,
			 a.rcode ? prism_rcode_name(a.rcode, rb, sizeof(rb))
				 : "no SOA in the answer");
		req_finish(r, PRISM_ENOTFOUND, msg);
		return;
	}
	req_finish(r, 0, "");
}

static int query_req(struct prism_target *t, enum rkind kind, enum rpurpose purpose,
		     const char *zone, struct rreq **out);
static int req_submit(struct rreq *r);

/* The IXFR answer does not do: forget the copy and read the whole zone by AXFR, on a new
 * request that takes over the callback (this one ends without one). */
static void ixfr_fallback(struct rreq *r)
{
	struct zown *zo = zown_get(r->t, r->zone, false);
	if (zo != NULL) {
		prism_axfr_free(zo->copy);
		zo->copy = NULL;
	}
	struct rreq *n;
	int rc = query_req(r->t, R_AXFR, r->purpose, r->zone, &n);
	if (rc == 0) {
		n->zone_cb = r->zone_cb;
		n->data_cb = r->data_cb;
		n->arg = r->arg;
		n->started = r->started;
		rc = req_submit(n);
	}
	if (rc != 0) {
		req_finish(r, rc, prism_strerror(rc));
		return;
	}
	req_unlink(r);
	req_close(r);
}

/* A complete transfer: the zone's copy becomes (or is brought up to) what it read. */
static void xfr_complete(struct rreq *r)
{
	struct zown *zo = zown_get(r->t, r->zone, true);
	r->result = r->axfr;
	if (zo == NULL) {
		/* no memory for a copy: a whole zone is still an answer, differences not */
		req_finish(r, r->ixfr ? PRISM_ENOMEM : 0, "");
		return;
	}
	if (r->ixfr) {
		if (zo->copy == NULL || prism_ixfr_apply(zo->copy, r->axfr) != 0) {
			ixfr_fallback(r);
			return;
		}
		r->incremental = prism_ixfr_incremental(r->axfr);
	} else {
		prism_axfr_free(zo->copy);
		zo->copy = r->axfr;
		r->axfr = NULL;
	}
	r->result = zo->copy;
	req_finish(r, 0, "");
}

static void on_axfr_message(struct rreq *r, const uint8_t *m, size_t len)
{
	struct prism_dns_answer a;
	char msg[ERRMSG_MAX], rb[16];
	int rc = prism_axfr_feed(r->axfr, m, len, &a);
	if (r->ixfr && rc < 0 && rc != PRISM_ENOMEM && a.tsig_error == 0 &&
	    (rc != PRISM_EUPSTREAM || a.tsig_ok)) {
		ixfr_fallback(r); /* refused, not offered, or not a transfer: AXFR decides */
		return;
	}
	if (rc == PRISM_EUPSTREAM) {
		if (a.tsig_error != 0 || !a.tsig_ok || a.rcode == 9) {
			snprintf(msg, sizeof(msg), "transfer of %s: %s%s", r->zone,
				 prism_rcode_name(a.rcode, rb, sizeof(rb)),
				 a.tsig_ok ? "" : ", TSIG does not verify");
			req_finish(r, PRISM_EDENIED, msg);
		} else if (a.rcode == 5) {
			snprintf(msg, sizeof(msg),
				 "transfer of %s: REFUSED (allow the key to "
				 "transfer the zone: allow-transfer / acl)",
				 r->zone);
			req_finish(r, PRISM_ECONFIG, msg);
		} else {
			snprintf(msg, sizeof(msg), "transfer of %s: %s", r->zone,
				 prism_rcode_name(a.rcode, rb, sizeof(rb)));
			req_finish(r, PRISM_EUPSTREAM, msg);
		}
		return;
	}
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "transfer of %s: %s", r->zone, prism_strerror(rc));
		req_finish(r, rc, msg);
	} else if (r->purpose == P_PING) {
		req_finish(r, 0, ""); /* the health check wants the first message only */
	} else if (rc == 1) {
		xfr_complete(r);
	}
}

static void on_message(struct rreq *r, const uint8_t *m, size_t len)
{
	switch (r->kind) {
	case R_UPDATE: on_update_answer(r, m, len); break;
	case R_SOA: on_soa_answer(r, m, len); break;
	case R_AXFR: on_axfr_message(r, m, len); break;
	case R_NOOP: break;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct rreq *r = h->data;
	size_t want = r->rlen + 65536;
	if (r->rcap < want) {
		uint8_t *b = realloc(r->rbuf, want);
		if (b == NULL) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		r->rbuf = b;
		r->rcap = want;
	}
	*buf = uv_buf_init((char *)r->rbuf + r->rlen, (unsigned)(r->rcap - r->rlen));
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct rreq *r = s->data;
	if (r->done)
		return;
	if (nread == UV_ENOBUFS) {
		req_finish(r, PRISM_ENOMEM, "");
		return;
	}
	if (nread < 0) {
		req_finish(r, nread == UV_EOF ? -ECONNRESET : (int)nread,
			   nread == UV_EOF ? "the server closed the connection"
					   : uv_strerror((int)nread));
		return;
	}
	r->rlen += (size_t)nread;
	size_t off = 0;
	while (!r->done && r->rlen - off >= 2) {
		size_t ml = (size_t)r->rbuf[off] << 8 | r->rbuf[off + 1];
		if (r->rlen - off - 2 < ml)
			break;
		on_message(r, r->rbuf + off + 2, ml);
		off += 2 + ml;
	}
	if (r->done)
		return;
	memmove(r->rbuf, r->rbuf + off, r->rlen - off);
	r->rlen -= off;
}

static void connect_cb(uv_connect_t *c, int status)
{
	struct rreq *r = c->data;
	if (r->done)
		return;
	if (status != 0) {
		req_finish(r, status, uv_strerror(status));
		return;
	}
	char why[ERRMSG_MAX] = "";
	int rc = 0;
	if (r->kind == R_UPDATE)
		rc = build_next(r, why, sizeof(why));
	if (rc == 0 && (rc = uv_read_start((uv_stream_t *)&r->tcp, alloc_cb, read_cb)) == 0 &&
	    (rc = send_msg(r)) == 0 && r->kind == R_UPDATE)
		prebuild(r);
	if (rc != 0)
		req_finish(r, rc, why[0] ? why : rc > -1000 ? uv_strerror(rc) : "");
}

static int req_start(struct rreq *r)
{
	struct prism_target *t = r->t;
	uint64_t to = t->timeout_ms;
	if (r->kind == R_AXFR && r->purpose != P_PING && to < XFR_TIMEOUT_MIN_MS)
		to = XFR_TIMEOUT_MIN_MS;
	if (r->kind == R_NOOP) {
		uv_timer_start(&r->timer, timeout_cb, 0, 0);
		return 0;
	}
	int rc = uv_tcp_init(t->loop, &r->tcp);
	if (rc != 0)
		return rc;
	r->tcp.data = r;
	r->tcp_open = true;
	r->handles++;
	uv_tcp_nodelay(&r->tcp, 1);
	r->conn.data = r;
	rc = uv_tcp_connect(&r->conn, &r->tcp, (const struct sockaddr *)&t->addr, connect_cb);
	if (rc != 0)
		return rc;
	uv_timer_start(&r->timer, timeout_cb, to, 0);
	return 0;
}

/* Start @p r; on failure it is closed (no callback) and the error returned. */
static int req_submit(struct rreq *r)
{
	int rc = req_start(r);
	if (rc != 0) {
		req_unlink(r);
		req_close(r);
	}
	return rc;
}

static int query_req(struct prism_target *t, enum rkind kind, enum rpurpose purpose,
		     const char *zone, struct rreq **out)
{
	struct rreq *r = req_new(t, kind, purpose, zone);
	if (r == NULL)
		return PRISM_ENOMEM;
	const struct prism_tsig *k = t->signed_ ? &t->key : NULL;
	struct zown *zo = kind == R_AXFR && (purpose == P_READ || purpose == P_RECORDS)
				  ? zown_get(t, zone, false)
				  : NULL;
	r->ixfr = zo != NULL && zo->copy != NULL;
	uint32_t serial = r->ixfr ? prism_axfr_serial(zo->copy) : 0;
	int rc = r->ixfr ? prism_ixfr_query_build(zone, serial, k, t->next_id++, &r->msg)
			 : prism_query_build(zone,
					     kind == R_AXFR ? PRISM_DNSQ_AXFR : PRISM_DNSQ_SOA, k,
					     t->next_id++, &r->msg);
	if (rc == 0 && r->ixfr && (r->axfr = prism_ixfr_new(zone, &r->msg, k, serial)) == NULL)
		rc = PRISM_ENOMEM;
	if (rc == 0 && !r->ixfr && kind == R_AXFR &&
	    (r->axfr = prism_axfr_new(zone, &r->msg, k)) == NULL)
		rc = PRISM_ENOMEM;
	if (rc != 0) {
		req_unlink(r);
		req_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* list_zones: one SOA query per known zone, on one connection each, one after the other. */
static void list_next(struct rreq *r)
{
	if (r->lz == NULL) {
		req_finish(r, 0, "");
		return;
	}
	prism_dns_msg_free(&r->msg);
	int rc = prism_query_build(r->lz->zone, PRISM_DNSQ_SOA, r->t->signed_ ? &r->t->key : NULL,
				   r->t->next_id++, &r->msg);
	if (rc == 0)
		rc = send_msg(r);
	if (rc != 0)
		req_finish(r, rc, rc > -1000 ? uv_strerror(rc) : prism_strerror(rc));
}

/* ---- the API ---- */

static bool zone_ok(const char *zone)
{
	size_t n = zone ? strlen(zone) : 0;
	return n > 1 && zone[n - 1] == '.';
}

/* The owner id goes into TXT records and is compared with what transfers show: letters,
 * digits, '.', '_' and '-' only (nothing a TXT string would escape), at most 200. */
static bool owner_ok(const char *id)
{
	size_t n = strlen(id);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && strchr("._-", id[i]) == NULL)
			return false;
	return n > 0 && n <= 200;
}

static int r_open(uv_loop_t *loop, const struct prism_target_opts *opts, struct prism_target **out)
{
	if (loop == NULL || opts == NULL || out == NULL || opts->server == NULL ||
	    (opts->owner_id != NULL && !owner_ok(opts->owner_id)))
		return PRISM_EINVAL;
	struct prism_target *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return PRISM_ENOMEM;
	t->refs = 1;
	t->loop = loop;
	t->name = strdup(opts->name ? opts->name : "default");
	t->owner_id = strdup(opts->owner_id ? opts->owner_id : "prism");
	t->timeout_ms = opts->timeout > 0 ? (uint64_t)(opts->timeout * 1000) : DEFAULT_TIMEOUT_MS;
	t->budget = BUDGET_START;
	t->next_id = (uint16_t)(uv_hrtime() & 0xffff);
	char host[64];
	uint16_t port;
	int rc = t->name && t->owner_id ? 0 : PRISM_ENOMEM;
	if (rc == 0 && prism_config_hostport(opts->server, host, sizeof(host), &port) != 0)
		rc = PRISM_EINVAL;
	if (rc == 0 && uv_ip4_addr(host, port, (struct sockaddr_in *)&t->addr) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&t->addr) != 0)
		rc = PRISM_EINVAL;
	if (rc == 0 && opts->tsig_name != NULL) {
		t->kname = strdup(opts->tsig_name);
		t->kalg = strdup(opts->tsig_algorithm ? opts->tsig_algorithm : "hmac-sha256");
		t->ksecret = opts->tsig_secret ? strdup(opts->tsig_secret) : NULL;
		t->key = (struct prism_tsig){t->kname, t->kalg, t->ksecret};
		t->signed_ = true;
		char why[128];
		if (t->kname == NULL || t->kalg == NULL || t->ksecret == NULL)
			rc = PRISM_ENOMEM;
		else if (prism_tsig_check(&t->key, why, sizeof(why)) != 0)
			rc = PRISM_EINVAL;
	}
	if (rc != 0) {
		target_unref(t);
		return rc;
	}
	*out = t;
	return 0;
}

/* SIGHUP with a new TSIG secret (targets[].tsig.secret_file rewritten): later messages are
 * signed with it. Everything runs on the loop, and requests in flight read the key through
 * t->key at each use, so the old secret can go at once (an answer signed with it then fails
 * its check and the request is tried again, like any other failure). */
static int r_set_api_key(struct prism_target *t, const char *secret, bool *changed)
{
	*changed = false;
	if (!t->signed_ || secret == NULL)
		return PRISM_EINVAL;
	if (strcmp(secret, t->ksecret) == 0)
		return 0;
	char why[128];
	struct prism_tsig k = {t->kname, t->kalg, secret};
	if (prism_tsig_check(&k, why, sizeof(why)) != 0)
		return PRISM_EINVAL;
	char *copy = strdup(secret);
	if (copy == NULL)
		return PRISM_ENOMEM;
	memset(t->ksecret, 0, strlen(t->ksecret));
	free(t->ksecret);
	t->ksecret = copy;
	t->key.secret = copy;
	*changed = true;
	return 0;
}

static void r_close(struct prism_target *t)
{
	if (t == NULL || t->closing)
		return;
	t->closing = true;
	while (t->reqs != NULL) {
		struct rreq *r = t->reqs;
		req_unlink(r);
		req_close(r);
	}
	target_unref(t);
}

/* Answer @p cb on the loop (never from inside the call) with success and @p status. */
static int noop(struct prism_target *t, const char *zone, int status, prism_target_done_cb cb,
		void *arg)
{
	if (t == NULL || t->closing || cb == NULL)
		return PRISM_EINVAL;
	struct rreq *r = req_new(t, R_NOOP, P_NOOP, zone);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->cb = cb;
	r->arg = arg;
	r->noop_status = status;
	return req_submit(r);
}

/* Zones are the server's configuration: a check is an SOA query (signed) that must find the
 * zone; nothing is ever created. */
static int r_ensure_zone_kind(struct prism_target *t, const char *zone,
			      const char *const *nameservers, const char *soa, const char *kind,
			      prism_target_done_cb cb, void *arg)
{
	(void)nameservers;
	(void)soa;
	(void)kind;
	if (t == NULL || t->closing || !zone_ok(zone) || cb == NULL)
		return PRISM_EINVAL;
	if (zown_get(t, zone, true) == NULL)
		return PRISM_ENOMEM;
	struct rreq *r;
	int rc = query_req(t, R_SOA, P_ENSURE, zone, &r);
	if (rc != 0)
		return rc;
	r->cb = cb;
	r->arg = arg;
	return req_submit(r);
}

static int r_ensure_zone(struct prism_target *t, const char *zone, const char *const *ns,
			 const char *soa, prism_target_done_cb cb, void *arg)
{
	return r_ensure_zone_kind(t, zone, ns, soa, NULL, cb, arg);
}

static int r_create_zone(struct prism_target *t, const char *zone, const char *const *ns,
			 const char *soa, const char *kind, prism_target_done_cb cb, void *arg)
{
	return r_ensure_zone_kind(t, zone, ns, soa, kind, cb, arg);
}

/* A zone is the server's: Prism stops managing it and leaves it there. */
static int r_delete_zone(struct prism_target *t, const char *zone, prism_target_done_cb cb,
			 void *arg)
{
	return noop(t, zone, 204, cb, arg);
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d = strdup(s ? s : "");
	*fail |= d == NULL;
	return d;
}

static int copy_changes(struct rreq *r, const struct prism_rr_change *c, size_t n)
{
	struct zown *z = zown_get(r->t, r->zone, true);
	r->ch = calloc(n, sizeof(*r->ch));
	r->owned = calloc(n, sizeof(*r->owned));
	if (z == NULL || r->ch == NULL || r->owned == NULL)
		return PRISM_ENOMEM;
	r->n = n;
	bool fail = false;
	char key[600];
	for (size_t i = 0; i < n; i++) {
		struct prism_rr_change *d = &r->ch[i];
		d->name = dup_or_null(c[i].name, &fail);
		d->type = dup_or_null(c[i].type, &fail);
		d->ttl = c[i].ttl;
		char **recs = calloc(c[i].nrecords ? c[i].nrecords : 1, sizeof(*recs));
		d->records = (const char *const *)recs;
		fail |= recs == NULL;
		for (size_t k = 0; recs != NULL && k < c[i].nrecords; k++, d->nrecords++)
			recs[k] = dup_or_null(c[i].records[k], &fail);
		if (fail)
			return PRISM_ENOMEM;
		owned_key(key, sizeof(key), d->name, d->type);
		r->owned[i] = prism_strset_has(&z->owned, key);
	}
	return 0;
}

static int r_apply(struct prism_target *t, const char *zone, const struct prism_rr_change *c,
		   size_t n, prism_target_done_cb cb, void *arg)
{
	if (t == NULL || t->closing || !zone_ok(zone) || c == NULL || n == 0 || cb == NULL)
		return PRISM_EINVAL;
	struct rreq *r = req_new(t, R_UPDATE, P_APPLY, zone);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->cb = cb;
	r->arg = arg;
	int rc = copy_changes(r, c, n);
	if (rc != 0) {
		req_unlink(r);
		req_close(r);
		return rc;
	}
	return req_submit(r);
}

static int xfr(struct prism_target *t, const char *zone, enum rpurpose purpose, struct rreq **out)
{
	if (t == NULL || t->closing || !zone_ok(zone))
		return PRISM_EINVAL;
	return query_req(t, R_AXFR, purpose, zone, out);
}

static int r_read_zone(struct prism_target *t, const char *zone, prism_target_zone_cb cb,
		       void *arg)
{
	struct rreq *r;
	int rc = cb ? xfr(t, zone, P_READ, &r) : PRISM_EINVAL;
	if (rc != 0)
		return rc;
	r->zone_cb = cb;
	r->arg = arg;
	return req_submit(r);
}

static int r_read_zone_records(struct prism_target *t, const char *zone, prism_target_data_cb cb,
			       void *arg)
{
	struct rreq *r;
	int rc = cb ? xfr(t, zone, P_RECORDS, &r) : PRISM_EINVAL;
	if (rc != 0)
		return rc;
	r->data_cb = cb;
	r->arg = arg;
	return req_submit(r);
}

/* DNSSEC is the server's configuration on these targets (BIND's dnssec-policy, Knot's
 * dnssec-signing): nothing to do here. */
static int r_set_dnssec(struct prism_target *t, const char *zone, bool on, prism_target_done_cb cb,
			void *arg)
{
	(void)on;
	return noop(t, zone, 204, cb, arg);
}

static int r_read_keys(struct prism_target *t, const char *zone, prism_target_body_cb cb,
		       void *arg)
{
	(void)t;
	(void)zone;
	(void)cb;
	(void)arg;
	return -ENOTSUP;
}

/*
 * Health: server_get("") is a signed transfer check (the first message of an AXFR of a
 * zone the server answered for, its TSIG verified), or a signed SOA query of the root when
 * there is none yet; "/statistics" has no DNS equivalent (-ENOTSUP: not asked).
 */
static int r_server_get(struct prism_target *t, const char *suffix, prism_target_body_cb cb,
			void *arg)
{
	if (t == NULL || t->closing || suffix == NULL || cb == NULL)
		return PRISM_EINVAL;
	if (suffix[0] != '\0')
		return -ENOTSUP;
	struct zown *z = t->zones;
	while (z != NULL && !z->served)
		z = z->next; /* a zone the server answered for */
	struct rreq *r;
	int rc = z != NULL ? query_req(t, R_AXFR, P_PING, z->zone, &r)
			   : query_req(t, R_SOA, P_PING, ".", &r);
	if (rc != 0)
		return rc;
	r->body_cb = cb;
	r->arg = arg;
	return req_submit(r);
}

static int r_notify(struct prism_target *t, const char *zone, prism_target_done_cb cb, void *arg)
{
	return noop(t, zone, 204, cb, arg); /* the server notifies its secondaries itself */
}

static int r_list_zones(struct prism_target *t, prism_target_list_cb cb, void *arg)
{
	if (t == NULL || t->closing || cb == NULL)
		return PRISM_EINVAL;
	size_t n = 0;
	for (struct zown *z = t->zones; z != NULL; z = z->next)
		n++;
	struct rreq *r = req_new(t, R_SOA, P_LIST, NULL);
	if (r == NULL)
		return PRISM_ENOMEM;
	r->list_cb = cb;
	r->arg = arg;
	r->lz = t->zones;
	if ((r->list = calloc(1, sizeof(*r->list))) == NULL ||
	    (r->list->v = calloc(n ? n : 1, sizeof(*r->list->v))) == NULL) {
		req_unlink(r);
		req_close(r);
		return PRISM_ENOMEM;
	}
	if (r->lz == NULL) {
		r->kind = R_NOOP; /* nothing to ask: answer an empty list */
		r->purpose = P_LIST;
		return req_submit(r);
	}
	int rc = prism_query_build(r->lz->zone, PRISM_DNSQ_SOA, t->signed_ ? &t->key : NULL,
				   t->next_id++, &r->msg);
	if (rc != 0) {
		req_unlink(r);
		req_close(r);
		return rc;
	}
	return req_submit(r);
}

static void r_observe(struct prism_target *t, prism_target_observer_cb cb, void *arg)
{
	if (t == NULL)
		return;
	t->observer = cb;
	t->observer_arg = cb ? arg : NULL;
}

const struct prism_target_api prism_target_rfc2136 = {
	.kind = "rfc2136",
	.conditional_writes = true,
	.open = r_open,
	.close = r_close,
	.ensure_zone = r_ensure_zone,
	.ensure_zone_kind = r_ensure_zone_kind,
	.create_zone = r_create_zone,
	.delete_zone = r_delete_zone,
	.apply = r_apply,
	.read_zone = r_read_zone,
	.read_zone_records = r_read_zone_records,
	.set_dnssec = r_set_dnssec,
	.read_keys = r_read_keys,
	.server_get = r_server_get,
	.notify = r_notify,
	.list_zones = r_list_zones,
	.observe = r_observe,
	.set_api_key = r_set_api_key,
};

const struct prism_target_api *prism_target_find(const char *kind)
{
	if (kind == NULL || strcmp(kind, "powerdns") == 0)
		return &prism_target_powerdns;
	if (strcmp(kind, "rfc2136") == 0)
		return &prism_target_rfc2136;
	return NULL;
}
