/* SPDX-License-Identifier: MIT */
/*
 * NameChangeRequest listener.
 *
 * Datagrams are read with recvmmsg (UV_UDP_RECVMMSG: up to RECV_MSGS per system call) into
 * one buffer. Each valid request is appended to the pending batch; a check handle (run once
 * per loop iteration, after I/O) hands the batch to the store writer as one intake job when
 * fewer than MAX_INFLIGHT are in flight. An intake job only appends the requests to the
 * registry's intake queue (one cheap insert each), so a burst is committed as fast as it
 * comes; apply jobs then apply the queue in order (APPLY_MAX at a time, one job in flight)
 * — the writer runs jobs in order, so an add and a later remove of the same name apply in
 * the order Kea sent them, also across a restart (leftovers are applied at start). Beyond
 * QUEUE_MAX requests waiting for intake new ones are dropped and counted (the kernel would
 * drop them otherwise, uncounted).
 *
 * Lifetime: the server holds a reference for its UDP handle, one for its check handle and
 * one per job in flight; it is freed when the last is dropped.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "common/log.h"
#include "core/config.h"
#include "core/error.h"
#include "core/ncr.h"
#include "core/reserved.h"
#include "sources/ncr_server.h"

#define TAG	     "kea-ddns"
#define RECV_MSGS    32u    /* datagrams per recvmmsg */
#define DGRAM_MAX    65536u /* libuv's slot size per datagram */
#define BATCH_MAX    512u   /* requests per intake job */
#define APPLY_MAX    256u   /* queued requests applied per job */
#define QUEUE_MAX    65536u /* requests waiting while jobs are in flight */
#define MAX_INFLIGHT 16u
#define RCVBUF	     (8u << 20) /* socket receive buffer asked for: bursts wait here */
#define LOG_BURST    5u		/* log lines per second for bad input and conflicts */

struct item {
	struct prism_source_entry e;
	struct prism_source_result res;
	char fqdn[PRISM_DNAME_MAX + 1];
	char ip[46];
	char dhcid[PRISM_NCR_DHCID_MAX + 1];
	bool remove;
};

struct job {
	struct prism_store_job job;
	struct prism_ncr_server *s;
	struct prism_source_ctx ctx;
	size_t n, cap;
	struct item *items;
};

struct prism_ncr_server {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_check_t check;
	struct prism_ncr_server_opts opts;
	char listen[80];
	unsigned refs;
	unsigned inflight;
	size_t queued;		  /* requests in the pending and waiting jobs */
	struct job *pending;	  /* being filled */
	struct job *waiting_head; /* full jobs not yet submitted, in order */
	struct job *waiting_tail;
	bool stopping;
	char *rxbuf;
	bool applying;	  /* an apply job is in flight */
	bool apply_again; /* more came in meanwhile */
	struct prism_ratelimit bad_log, conflict_log, drop_log;
	struct prism_ncr_server_stats stats;
};

static void server_unref(struct prism_ncr_server *s)
{
	if (--s->refs > 0)
		return;
	free(s->rxbuf);
	free(s);
}

static void job_free(struct job *j)
{
	free(j->items);
	free(j);
}

static struct job *job_new(struct prism_ncr_server *s)
{
	struct job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return NULL;
	j->cap = 256;
	j->items = malloc(j->cap * sizeof(*j->items));
	if (j->items == NULL) {
		free(j);
		return NULL;
	}
	j->s = s;
	return j;
}

/* ---- the store job ---- */

static int job_run(struct prism_store *st, const struct prism_store_api *api,
		   struct prism_store_job *job)
{
	struct job *j = (struct job *)job;
	for (size_t i = 0; i < j->n; i++) {
		struct item *it = &j->items[i];
		/* the strings live in the item, which moved when the batch grew */
		it->e.key = it->e.fqdn = it->fqdn;
		it->e.dhcid = it->dhcid;
		if (it->remove)
			it->e.only_ip = it->ip;
		else if (it->e.families == PRISM_FAM_V4)
			it->e.ipv4 = it->ip;
		else
			it->e.ipv6 = it->ip;
		int rc = api->source_enqueue(st, &it->e);
		if (rc != 0)
			return rc; /* the job's savepoint undoes it: the batch is lost, counted */
	}
	return 0;
}

/* ---- applying what was taken in ---- */

struct apply_job {
	struct prism_store_job job;
	struct prism_ncr_server *s;
	struct prism_source_ctx ctx;
	struct prism_source_sync_result res;
	size_t applied, left;
};

static void apply_start(struct prism_ncr_server *s);

static int apply_run(struct prism_store *st, const struct prism_store_api *api,
		     struct prism_store_job *job)
{
	struct apply_job *j = (struct apply_job *)job;
	return api->source_apply(st, PRISM_SOURCE_KEA_DDNS, APPLY_MAX, &j->ctx, &j->res,
				 &j->applied, &j->left);
}

static void apply_log(struct prism_ncr_server *s, const struct prism_source_sync_result *r)
{
	unsigned long long skipped;
	for (size_t i = 0; i < r->conflicts && i < PRISM_SOURCE_SYNC_SHOWN; i++)
		if (prism_ratelimit_ok(&s->conflict_log, uv_now(s->loop), LOG_BURST, &skipped))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "%s refused: the name is %s%s (%llu more "
				  "conflicts not logged)",
				  r->shown[i].name,
				  r->shown[i].holder == PRISM_SOURCE_KEA_DDNS
					  ? "held by another client (another DHCID)"
					  : "held by a host of source ",
				  r->shown[i].holder == PRISM_SOURCE_KEA_DDNS
					  ? ""
					  : prism_source_name(r->shown[i].holder),
				  skipped);
	if (prism_log_enabled(PRISM_LOG_DEBUG))
		prism_log(PRISM_LOG_DEBUG, TAG,
			  "applied: %zu added, %zu updated, %zu removed, "
			  "%zu unchanged, %zu conflict(s)",
			  r->added, r->updated, r->removed, r->unchanged, r->conflicts);
}

static void apply_done(struct prism_store_job *job, int err)
{
	struct apply_job *j = (struct apply_job *)job;
	struct prism_ncr_server *s = j->s;
	s->applying = false;
	if (err == 0) {
		s->stats.applied += j->applied;
		s->stats.queued = j->left;
		prism_source_stats_sync(&s->stats.src, &j->res);
		apply_log(s, &j->res);
		if (j->res.dns_changed && s->opts.changed_cb != NULL && !s->stopping)
			s->opts.changed_cb(s->opts.changed_arg);
	} else if (err != -ECANCELED) {
		prism_log(PRISM_LOG_ERROR, TAG,
			  "cannot apply queued requests (%s); they stay "
			  "queued for the next try",
			  prism_strerror(err));
	}
	bool again = s->apply_again || (err == 0 && j->left > 0);
	free(j);
	s->apply_again = false;
	if (again && !s->stopping)
		apply_start(s);
	server_unref(s);
}

static void apply_start(struct prism_ncr_server *s)
{
	if (s->applying) {
		s->apply_again = true;
		return;
	}
	struct apply_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	j->s = s;
	j->ctx = prism_source_ctx(&s->opts.dns, (int64_t)time(NULL));
	j->job.run = apply_run;
	j->job.done = apply_done;
	s->applying = true;
	s->refs++;
	prism_store_writer_submit(s->opts.writer, &j->job);
}

static void submit_next(struct prism_ncr_server *s);

static void job_done(struct prism_store_job *job, int err)
{
	struct job *j = (struct job *)job;
	struct prism_ncr_server *s = j->s;
	s->inflight--;
	s->queued -= j->n;
	if (err != 0) {
		s->stats.src.failed += j->n;
		if (err != -ECANCELED)
			prism_log(PRISM_LOG_ERROR, TAG, "cannot store %zu request(s) (%s)", j->n,
				  prism_strerror(err));
	} else {
		s->stats.committed += j->n;
		if (!s->stopping)
			apply_start(s);
	}
	job_free(j);
	submit_next(s);
	server_unref(s);
}

/* Hand full jobs, then the pending one, to the writer while there is room. */
static void submit_next(struct prism_ncr_server *s)
{
	while (s->inflight < MAX_INFLIGHT || s->stopping) {
		struct job *j = s->waiting_head;
		if (j != NULL) {
			s->waiting_head = (struct job *)j->job.next;
			if (s->waiting_head == NULL)
				s->waiting_tail = NULL;
		} else if (s->pending != NULL && s->pending->n > 0) {
			j = s->pending;
			s->pending = NULL;
		} else {
			return;
		}
		j->ctx = prism_source_ctx(&s->opts.dns, (int64_t)time(NULL));
		j->job.run = job_run;
		j->job.done = job_done;
		s->inflight++;
		s->refs++;
		prism_store_writer_submit(s->opts.writer, &j->job);
	}
}

static void check_cb(uv_check_t *h)
{
	submit_next(h->data);
}

/* ---- datagrams ---- */

static void bad(struct prism_ncr_server *s, const struct sockaddr *peer, const char *why)
{
	char ip[64] = "?";
	unsigned long long skipped;
	if (!prism_ratelimit_ok(&s->bad_log, uv_now(s->loop), LOG_BURST, &skipped))
		return;
	if (peer != NULL && peer->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)peer, ip, sizeof(ip));
	else if (peer != NULL && peer->sa_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)peer, ip, sizeof(ip));
	prism_log(PRISM_LOG_WARNING, TAG, "request from %s refused: %s (%llu more not logged)", ip,
		  why, skipped);
}

/* A slot for one more request, or NULL when the queue is full. */
static struct item *slot(struct prism_ncr_server *s)
{
	if (s->queued >= QUEUE_MAX)
		return NULL;
	struct job *j = s->pending;
	if (j != NULL && j->n == BATCH_MAX) {
		/* full: it waits its turn, a new one fills */
		j->job.next = NULL;
		if (s->waiting_tail != NULL)
			s->waiting_tail->job.next = &j->job;
		else
			s->waiting_head = j;
		s->waiting_tail = j;
		j = s->pending = NULL;
	}
	if (j == NULL && (j = s->pending = job_new(s)) == NULL)
		return NULL;
	if (j->n == j->cap) {
		size_t cap = j->cap * 2 > BATCH_MAX ? BATCH_MAX : j->cap * 2;
		struct item *v = realloc(j->items, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		j->items = v;
		j->cap = cap;
	}
	return &j->items[j->n];
}

static uint32_t clamp(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static void handle(struct prism_ncr_server *s, const uint8_t *p, size_t len,
		   const struct sockaddr *peer)
{
	struct prism_ncr n;
	char why[320];
	s->stats.received++;
	if (prism_ncr_parse(p, len, &n, why, sizeof(why)) != 0) {
		s->stats.invalid++;
		bad(s, peer, why);
		return;
	}
	const char *zone = prism_zone_of(n.fqdn, s->opts.dns.zones);
	if (zone == NULL || strcmp(zone, n.fqdn) == 0) {
		s->stats.src.rejected++;
		snprintf(why, sizeof(why), "%s is not inside a managed zone", n.fqdn);
		bad(s, peer, why);
		return;
	}
	if (prism_reserved_match(s->opts.dns.reserved, n.fqdn, zone)) {
		s->stats.src.rejected++;
		snprintf(why, sizeof(why), "%.200s is a reserved name", n.fqdn);
		bad(s, peer, why);
		return;
	}
	struct item *it = slot(s);
	if (it == NULL) {
		unsigned long long skipped;
		s->stats.dropped++;
		if (prism_ratelimit_ok(&s->drop_log, uv_now(s->loop), 1, &skipped))
			prism_log(PRISM_LOG_WARNING, TAG,
				  "queue full (%u requests): request "
				  "dropped (%llu more not logged)",
				  QUEUE_MAX, skipped);
		return;
	}
	memcpy(it->fqdn, n.fqdn, sizeof(it->fqdn));
	memcpy(it->ip, n.ip, sizeof(it->ip));
	memcpy(it->dhcid, n.dhcid, sizeof(it->dhcid));
	it->remove = n.remove;
	/* the string pointers are set when the job runs (job_run) */
	it->e = (struct prism_source_entry){
		.source = PRISM_SOURCE_KEA_DDNS,
		.zone = zone,
		.families = n.ipv6 ? PRISM_FAM_V6 : PRISM_FAM_V4,
		.ttl = clamp(n.lease_length, s->opts.ttl_min, s->opts.ttl_max),
		.forward = n.forward,
		.reverse = n.reverse,
		.check_dhcid = n.conflict_resolution,
	};
	s->pending->n++;
	s->queued++;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct prism_ncr_server *s = h->data;
	*buf = uv_buf_init(s->rxbuf, RECV_MSGS * DGRAM_MAX);
}

static void recv_cb(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
		    unsigned flags)
{
	struct prism_ncr_server *s = h->data;
	if (nread < 0) {
		prism_log(PRISM_LOG_WARNING, TAG, "receive failed (%s)", uv_strerror((int)nread));
		return;
	}
	if (addr == NULL || s->stopping)
		return; /* nothing more now, or the end of a recvmmsg batch */
	if (flags & UV_UDP_PARTIAL) {
		s->stats.received++;
		s->stats.invalid++;
		bad(s, addr, "truncated datagram");
		return;
	}
	handle(s, (const uint8_t *)buf->base, (size_t)nread, addr);
}

/* ---- start and stop ---- */

static void closed_cb(uv_handle_t *h)
{
	server_unref(h->data);
}

static int bind_udp(struct prism_ncr_server *s, char *err, size_t errlen)
{
	char host[64];
	uint16_t port;
	struct sockaddr_storage ss;
	if (prism_config_hostport(s->opts.listen, host, sizeof(host), &port) != 0) {
		snprintf(err, errlen, "kea.ncr.listen: '%s' is not address:port", s->opts.listen);
		return PRISM_ECONFIG;
	}
	bool v6 = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0;
	if (v6 && uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
		return PRISM_ECONFIG;
	int rc = uv_udp_init_ex(s->loop, &s->udp, (v6 ? AF_INET6 : AF_INET) | UV_UDP_RECVMMSG);
	if (rc != 0) {
		snprintf(err, errlen, "kea.ncr: cannot create a UDP socket (%s)", uv_strerror(rc));
		return rc;
	}
	s->udp.data = s;
	s->refs++;
	rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&ss, 0);
	if (rc != 0) {
		snprintf(err, errlen, "kea.ncr.listen: cannot bind %s (%s)", s->opts.listen,
			 uv_strerror(rc));
		return rc;
	}
	/* room for bursts while the loop is busy: beyond net.core.rmem_max when allowed */
	uv_os_fd_t fd;
	int size = RCVBUF;
	if (uv_fileno((uv_handle_t *)&s->udp, &fd) == 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
		uv_recv_buffer_size((uv_handle_t *)&s->udp, &size);
	return uv_udp_recv_start(&s->udp, alloc_cb, recv_cb);
}

int prism_ncr_server_start(uv_loop_t *loop, const struct prism_ncr_server_opts *opts,
			   struct prism_ncr_server **out, char *err, size_t errlen)
{
	if (loop == NULL || opts == NULL || opts->listen == NULL || opts->writer == NULL ||
	    out == NULL)
		return PRISM_EINVAL;
	struct prism_ncr_server *s = calloc(1, sizeof(*s));
	if (s == NULL || (s->rxbuf = malloc(RECV_MSGS * DGRAM_MAX)) == NULL) {
		free(s);
		return PRISM_ENOMEM;
	}
	s->loop = loop;
	s->opts = *opts;
	snprintf(s->listen, sizeof(s->listen), "%s", opts->listen);
	s->opts.listen = s->listen;
	s->refs = 1;
	uv_check_init(loop, &s->check);
	s->check.data = s;
	s->refs++;
	uv_check_start(&s->check, check_cb);
	int rc = bind_udp(s, err, errlen);
	if (rc != 0) {
		prism_ncr_server_stop(s);
		return rc;
	}
	apply_start(s); /* what a previous run took in but did not apply */
	*out = s;
	return 0;
}

void prism_ncr_server_stop(struct prism_ncr_server *s)
{
	if (s == NULL)
		return;
	s->stopping = true;
	/* what was taken is still committed (the writer drains before it stops) */
	submit_next(s);
	if (s->udp.data == s) { /* initialised */
		uv_udp_recv_stop(&s->udp);
		uv_close((uv_handle_t *)&s->udp, closed_cb);
	}
	uv_close((uv_handle_t *)&s->check, closed_cb);
	server_unref(s);
}

void prism_ncr_server_stats(const struct prism_ncr_server *s, struct prism_ncr_server_stats *out)
{
	*out = s->stats;
}
