/* SPDX-License-Identifier: MIT */
/*
 * Health checks per target. One check is a short chain on the loop:
 *
 *   GET server (version) ──► GET statistics ──► GET zones (names, serials)
 *        ──► SOA query per zone at the DNS address (UDP, all at once, 2 s) ──► verdict
 *
 * The verdict compares the zone list with the zones the engine serves there (missing ones
 * make the target degraded; extra ones, which Prism does not manage there, are counted and
 * shown but are no fault: a server may hold zones of its own) and each SOA serial at the
 * DNS port with the API's (a difference makes it degraded when it is still there at the
 * next check: a change can be between the two for a moment). With health.response_time_ms,
 * an API slower than that to answer the first request is degraded too. The statistics read
 * (uptime, queries, packet cache, latency) are kept for /metrics. Targets answer on the loop;
 * after prism_health_stop() the targets are closed before the loop runs again, so no answer
 * arrives afterwards.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "core/dnsprobe.h"
#include "core/error.h"
#include "core/pdns_json.h"
#include "core/zonefile.h"
#include "engine/health.h"
#include "engine/udp.h"

#define TAG		 "health"
#define PROBE_TIMEOUT_MS 2000
#define PROBES_MAX	 4096 /* zones probed per check; more are left out */
#define REASONS_MAX	 3

enum hstate { H_UNKNOWN, H_HEALTHY, H_DEGRADED, H_UNAVAILABLE, H_MAINTENANCE };
static const char *const hnames[] = {"unknown", "healthy", "degraded", "unavailable",
				     "maintenance"};

struct probe {
	char *zone;
	uint32_t api_serial;
	uint32_t dns_serial;
	bool answered;
};

struct ptarget {
	struct prism_health *h;
	const struct prism_engine_target *t; /* &tc */
	struct prism_engine_target tc;
	bool gone; /* removed at run time: no more checks */
	bool has_dns;
	struct sockaddr_storage addr;
	uv_udp_t udp;
	uv_timer_t timer;
	bool busy;
	/* the check in progress */
	bool api_ok, stats_ok, list_ok;
	uint64_t t0;	    /* uv_hrtime() when the check asked the API */
	double response_ms; /* the API's first answer */
	struct prism_pdns_stats cur;
	char err[256];
	struct probe *probes;
	size_t nprobes, waiting;
	uint16_t qbase;
	char missing[256];
	size_t nmissing, nextra;
	unsigned mismatch_streak;
	unsigned char rbuf[4096];
	/* published */
	enum hstate state;
	char reason[512];
	char version[64];
	int64_t since, checked;
	unsigned long long transitions;
	size_t zones_missing, zones_extra; /* of the last check that read the zone list */
	double last_response_ms;	   /* of the last check the API answered */
	bool has_stats;			   /* stats: of the last check that read them */
	struct prism_pdns_stats stats;
};

struct prism_health {
	uv_loop_t *loop;
	struct prism_health_opts opts;
	uv_timer_t tick;
	struct ptarget **pt; /* each alone: callbacks point at them */
	size_t n, cap;
	struct ptarget **gone; /* removed at run time, freed at the end */
	size_t ngone;
	unsigned refs;
	bool stopping;
};

static void health_unref(struct prism_health *h)
{
	if (--h->refs > 0)
		return;
	for (size_t i = 0; i < h->n; i++)
		free(h->pt[i]);
	for (size_t i = 0; i < h->ngone; i++)
		free(h->gone[i]);
	free(h->pt);
	free(h->gone);
	free(h);
}

static void closed_cb(uv_handle_t *hd)
{
	health_unref(hd->data);
}

static void probes_free(struct ptarget *p)
{
	for (size_t i = 0; i < p->nprobes; i++)
		free(p->probes[i].zone);
	free(p->probes);
	p->probes = NULL;
	p->nprobes = p->waiting = 0;
}

/* ---- the verdict ---- */

__attribute__((format(printf, 3, 4))) static void add_reason(char *buf, size_t len,
							     const char *fmt, ...)
{
	size_t n = strlen(buf);
	if (n > 0 && n + 2 < len) {
		memcpy(buf + n, "; ", 3);
		n += 2;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
}

static bool paused(const struct ptarget *p)
{
	struct prism_engine_target_info ti;
	struct prism_engine *e = p->h->opts.engine;
	for (size_t i = 0; i < prism_engine_ntargets(e); i++) /* by name: indexes move */
		if (prism_engine_target_info(e, i, &ti) == 0 && strcmp(ti.name, p->t->name) == 0)
			return strcmp(ti.state, "paused") == 0;
	return false;
}

/* The DNS probe's findings; whether a serial differs from the API's. */
static bool dns_reasons(struct ptarget *p, char *reason, size_t len, unsigned *shown)
{
	bool mismatch = false;
	size_t silent = 0;
	const char *first_silent = NULL;
	for (size_t i = 0; i < p->nprobes; i++) {
		const struct probe *q = &p->probes[i];
		if (!q->answered) {
			if (silent++ == 0)
				first_silent = q->zone;
		} else if (q->dns_serial != q->api_serial) {
			mismatch = true;
			if (p->mismatch_streak >= 1 && (*shown)++ < REASONS_MAX)
				add_reason(reason, len,
					   "DNS: %s serial %" PRIu32 " (API %" PRIu32 ")", q->zone,
					   q->dns_serial, q->api_serial);
		}
	}
	if (silent > 0 && (*shown)++ < REASONS_MAX)
		add_reason(reason, len, "DNS: no SOA answer for %s%s", first_silent,
			   silent > 1 ? " and others" : "");
	if (silent > 0)
		p->mismatch_streak = 0;
	return mismatch;
}

static enum hstate verdict(struct ptarget *p, char *reason, size_t len)
{
	unsigned shown = 0;
	reason[0] = '\0';
	if (paused(p)) {
		snprintf(reason, len, "paused");
		return H_MAINTENANCE;
	}
	if (!p->api_ok) {
		snprintf(reason, len, "API: %s", p->err);
		return H_UNAVAILABLE;
	}
	unsigned limit = p->h->opts.response_time_ms;
	if (limit > 0 && p->response_ms > limit && shown++ < REASONS_MAX)
		add_reason(reason, len, "API: answered in %.0f ms (health.response_time_ms %u)",
			   p->response_ms, limit);
	if (!p->stats_ok && shown++ < REASONS_MAX)
		add_reason(reason, len, "statistics unreadable");
	if (!p->list_ok && shown++ < REASONS_MAX)
		add_reason(reason, len, "zone list unreadable: %s", p->err);
	if (p->nmissing > 0 && shown++ < REASONS_MAX)
		add_reason(reason, len, "%zu zone(s) missing: %s", p->nmissing, p->missing);
	bool mismatch = dns_reasons(p, reason, len, &shown);
	bool streak = mismatch && p->mismatch_streak >= 1;
	p->mismatch_streak = mismatch ? p->mismatch_streak + 1 : 0;
	if (streak && shown == 0)
		snprintf(reason, len, "DNS: SOA serial differs from the API's");
	return reason[0] != '\0' ? H_DEGRADED : H_HEALTHY;
}

static void finish(struct ptarget *p)
{
	char reason[sizeof(p->reason)];
	enum hstate s = verdict(p, reason, sizeof(reason));
	int64_t now = (int64_t)time(NULL);
	if (s != p->state) {
		prism_log(s == H_HEALTHY ? PRISM_LOG_INFO : PRISM_LOG_WARNING, TAG,
			  "target %s: %s -> %s%s%s%s", p->t->name, hnames[p->state], hnames[s],
			  reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
		p->transitions += p->state != H_UNKNOWN;
		p->since = now;
		p->state = s;
	}
	snprintf(p->reason, sizeof(p->reason), "%s", reason);
	if (p->list_ok) {
		p->zones_missing = p->nmissing;
		p->zones_extra = p->nextra;
	}
	if (p->api_ok)
		p->last_response_ms = p->response_ms;
	if (p->stats_ok) {
		p->stats = p->cur;
		p->has_stats = true;
	}
	p->checked = now;
	probes_free(p);
	p->busy = false;
}

/* ---- DNS probes ---- */

static void probe_alloc_cb(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct ptarget *p = (struct ptarget *)((char *)hd - offsetof(struct ptarget, udp));
	*buf = uv_buf_init((char *)p->rbuf, sizeof(p->rbuf));
}

static void probes_done(struct ptarget *p)
{
	uv_timer_stop(&p->timer);
	finish(p);
}

static void probe_recv_cb(uv_udp_t *u, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
			  unsigned flags)
{
	struct ptarget *p = (struct ptarget *)((char *)u - offsetof(struct ptarget, udp));
	if (n <= 0 || !p->busy || p->waiting == 0)
		return;
	uint16_t id;
	int rcode;
	uint32_t serial;
	/* which zone: the id says; the zone in the answer must match it */
	unsigned char *b = (unsigned char *)buf->base;
	if (n < 2)
		return;
	id = (uint16_t)(b[0] << 8 | b[1]);
	size_t i = (uint16_t)(id - p->qbase);
	if (i >= p->nprobes || p->probes[i].answered)
		return;
	if (prism_soa_answer(b, (size_t)n, p->probes[i].zone, &id, &rcode, &serial) != 0)
		return;
	p->probes[i].answered = true;
	p->probes[i].dns_serial = serial;
	if (--p->waiting == 0)
		probes_done(p);
}

static void probe_timeout_cb(uv_timer_t *t)
{
	struct ptarget *p = t->data;
	if (p->busy)
		probes_done(p);
}

static void probe_send(struct ptarget *p)
{
	uint8_t wire[512];
	p->qbase = (uint16_t)arc4random(); /* query ids: not guessable */
	p->waiting = 0;
	for (size_t i = 0; i < p->nprobes; i++) {
		size_t len;
		if (prism_soa_query(p->probes[i].zone, (uint16_t)(p->qbase + i), wire,
				    sizeof(wire), &len) != 0)
			continue;
		if (prism_udp_send_copy(&p->udp, (const struct sockaddr *)&p->addr, wire, len) ==
		    0)
			p->waiting++;
	}
	if (p->waiting == 0) {
		finish(p);
		return;
	}
	uv_timer_start(&p->timer, probe_timeout_cb, PROBE_TIMEOUT_MS, 0);
}

/* ---- the API side ---- */

static void list_cb(void *arg, int err, int status, const char *msg, struct prism_zone_list *list)
{
	struct ptarget *p = arg;
	p->list_ok = err == 0;
	if (err != 0)
		snprintf(p->err, sizeof(p->err), "%s%s%s", prism_strerror(err),
			 msg && msg[0] ? ": " : "", msg ? msg : "");
	char **zones = NULL;
	size_t nz = 0;
	if (err == 0 && prism_engine_zone_names(p->h->opts.engine, p->t->name, &zones, &nz) == 0) {
		p->probes = calloc(nz ? nz : 1, sizeof(*p->probes));
		for (size_t z = 0; z < nz; z++) {
			const struct prism_zone_entry *e = NULL;
			for (size_t k = 0; k < list->n && e == NULL; k++)
				if (strcmp(list->v[k].name, zones[z]) == 0)
					e = &list->v[k];
			if (e == NULL) {
				if (p->nmissing++ < 4)
					add_reason(p->missing, sizeof(p->missing), "%s", zones[z]);
				free(zones[z]);
			} else if (p->probes != NULL && p->has_dns && p->nprobes < PROBES_MAX) {
				p->probes[p->nprobes++] =
					(struct probe){zones[z], e->serial, 0, false};
			} else {
				free(zones[z]);
			}
		}
		free(zones);
		/* both lists hold each name once: what the target has beyond the found ones */
		size_t found = nz - p->nmissing;
		p->nextra = list->n > found ? list->n - found : 0;
	}
	prism_zone_list_free(list);
	free(list);
	if (p->h->stopping || p->nprobes == 0)
		finish(p);
	else
		probe_send(p);
}

static void ask_list(struct ptarget *p)
{
	int rc = p->h->stopping ? PRISM_EINVAL : p->t->api->list_zones(p->t->handle, list_cb, p);
	if (rc != 0) {
		snprintf(p->err, sizeof(p->err), "%s", prism_strerror(rc));
		finish(p);
	}
}

static void stats_cb(void *arg, int err, int status, const char *msg, const char *body, size_t len)
{
	struct ptarget *p = arg;
	p->stats_ok = err == 0 && len > 0 && prism_pdns_stats_parse(body, len, &p->cur) == 0;
	ask_list(p);
}

static void server_cb(void *arg, int err, int status, const char *msg, const char *body,
		      size_t len)
{
	struct ptarget *p = arg;
	p->api_ok = err == 0;
	p->response_ms = (double)(uv_hrtime() - p->t0) / 1e6;
	if (err != 0) {
		snprintf(p->err, sizeof(p->err), "%s%s%s%s", prism_strerror(err),
			 status ? " (HTTP error)" : "", msg && msg[0] ? ": " : "", msg ? msg : "");
		finish(p);
		return;
	}
	json_t *j = json_loadb(body, len, 0, NULL);
	const char *v = json_string_value(json_object_get(j, "version"));
	snprintf(p->version, sizeof(p->version), "%s", v ? v : "");
	json_decref(j);
	int rc = p->h->stopping ? PRISM_EINVAL
				: p->t->api->server_get(p->t->handle, "/statistics", stats_cb, p);
	if (rc == -ENOTSUP) {
		/* a server without statistics (a DNS target): not asked, no fault */
		p->stats_ok = true;
		ask_list(p);
	} else if (rc != 0) {
		p->stats_ok = false;
		finish(p);
	}
}

static void check(struct ptarget *p)
{
	if (p->busy || p->h->stopping || p->gone)
		return;
	p->busy = true;
	p->api_ok = p->stats_ok = p->list_ok = false;
	p->err[0] = p->missing[0] = '\0';
	p->nmissing = p->nextra = 0;
	if (paused(p)) {
		p->api_ok = true; /* not asked: maintenance */
		finish(p);
		return;
	}
	p->t0 = uv_hrtime();
	int rc = p->t->api->server_get(p->t->handle, "", server_cb, p);
	if (rc != 0) {
		snprintf(p->err, sizeof(p->err), "%s", prism_strerror(rc));
		finish(p);
	}
}

static void tick_cb(uv_timer_t *t)
{
	struct prism_health *h = t->data;
	for (size_t i = 0; i < h->n; i++)
		check(h->pt[i]);
}

/* "host:port", "[v6]:port" or a bare address (port 53). */
static int open_udp(struct prism_health *h, struct ptarget *p)
{
	struct sockaddr_storage any;
	memset(&any, 0, sizeof(any));
	if (p->addr.ss_family == AF_INET6)
		uv_ip6_addr("::", 0, (struct sockaddr_in6 *)&any);
	else
		uv_ip4_addr("0.0.0.0", 0, (struct sockaddr_in *)&any);
	if (uv_udp_init(h->loop, &p->udp) != 0)
		return PRISM_ENOMEM;
	p->udp.data = h;
	h->refs++;
	if (uv_udp_bind(&p->udp, (const struct sockaddr *)&any, 0) != 0 ||
	    uv_udp_recv_start(&p->udp, probe_alloc_cb, probe_recv_cb) != 0)
		return PRISM_EINVAL;
	return 0;
}

int prism_health_start(uv_loop_t *loop, const struct prism_health_opts *opts,
		       struct prism_health **out)
{
	if (loop == NULL || opts == NULL || out == NULL)
		return PRISM_EINVAL;
	struct prism_health *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return PRISM_ENOMEM;
	h->loop = loop;
	h->opts = *opts;
	h->opts.targets = NULL; /* each ptarget keeps its own copy */
	h->opts.dns_addresses = NULL;
	h->refs = 2; /* owner + tick */
	uv_timer_init(loop, &h->tick);
	h->tick.data = h;
	for (size_t i = 0; i < opts->ntargets; i++) {
		int rc = prism_health_add(h, &opts->targets[i],
					  opts->dns_addresses ? opts->dns_addresses[i] : NULL);
		if (rc != 0) {
			*out = h;
			return rc; /* the caller stops it */
		}
	}
	if (opts->interval > 0)
		uv_timer_start(&h->tick, tick_cb, 1000, (uint64_t)opts->interval * 1000);
	*out = h;
	return 0;
}

int prism_health_add(struct prism_health *h, const struct prism_engine_target *t,
		     const char *dns_address)
{
	if (h == NULL || t == NULL || h->stopping)
		return PRISM_EINVAL;
	if (h->n == h->cap) {
		size_t nc = h->cap ? h->cap * 2 : 4;
		struct ptarget **g = realloc(h->pt, nc * sizeof(*g));
		if (g == NULL)
			return PRISM_ENOMEM;
		h->pt = g;
		h->cap = nc;
	}
	struct ptarget *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return PRISM_ENOMEM;
	h->pt[h->n++] = p;
	p->h = h;
	p->tc = *t;
	p->t = &p->tc;
	p->since = (int64_t)time(NULL);
	uv_timer_init(h->loop, &p->timer);
	p->timer.data = p;
	h->refs++;
	if (dns_address == NULL)
		return 0;
	if (prism_udp_addr(dns_address, &p->addr, NULL) != 0) {
		prism_log(PRISM_LOG_WARNING, TAG,
			  "target %s: dns_address '%s' is not "
			  "IP:port: no DNS probe",
			  p->t->name, dns_address);
		return 0;
	}
	int rc = open_udp(h, p);
	p->has_dns = rc == 0;
	if (rc != 0)
		prism_log(PRISM_LOG_WARNING, TAG,
			  "target %s: cannot open a socket for DNS "
			  "probes (%s)",
			  p->t->name, prism_strerror(rc));
	return 0;
}

int prism_health_remove(struct prism_health *h, const char *target)
{
	size_t i = 0;
	if (h == NULL || target == NULL)
		return PRISM_EINVAL;
	while (i < h->n && strcmp(h->pt[i]->t->name, target) != 0)
		i++;
	if (i == h->n)
		return PRISM_ENOTFOUND;
	struct ptarget **g = realloc(h->gone, (h->ngone + 1) * sizeof(*g));
	if (g == NULL)
		return PRISM_ENOMEM;
	h->gone = g;
	struct ptarget *p = h->pt[i];
	p->gone = true; /* a check in progress ends; its handles close at stop */
	memmove(&h->pt[i], &h->pt[i + 1], (h->n - i - 1) * sizeof(*g));
	h->n--;
	h->gone[h->ngone++] = p;
	return 0;
}

void prism_health_check_now(struct prism_health *h)
{
	if (h != NULL && !h->stopping)
		tick_cb(&h->tick);
}

int prism_health_get(const struct prism_health *h, const char *target,
		     struct prism_health_info *out)
{
	for (size_t i = 0; h != NULL && target != NULL && i < h->n; i++) {
		const struct ptarget *p = h->pt[i];
		if (strcmp(p->t->name, target) != 0)
			continue;
		*out = (struct prism_health_info){
			.state = hnames[p->state],
			.reason = p->reason,
			.version = p->version,
			.since = p->since,
			.checked = p->checked,
			.transitions = p->transitions,
			.zones_missing = p->zones_missing,
			.zones_extra = p->zones_extra,
			.response_ms = p->last_response_ms,
			.has_stats = p->has_stats,
			.stats = p->stats,
		};
		return 0;
	}
	return PRISM_ENOTFOUND;
}

static void ptarget_close(struct ptarget *p)
{
	struct prism_health *h = p->h;
	probes_free(p);
	p->timer.data = h;
	uv_close((uv_handle_t *)&p->timer, closed_cb);
	if (uv_is_active((uv_handle_t *)&p->udp) || p->udp.data == h)
		uv_close((uv_handle_t *)&p->udp, closed_cb);
}

void prism_health_stop(struct prism_health *h)
{
	if (h == NULL || h->stopping)
		return;
	h->stopping = true;
	uv_close((uv_handle_t *)&h->tick, closed_cb);
	for (size_t i = 0; i < h->n; i++)
		ptarget_close(h->pt[i]);
	for (size_t i = 0; i < h->ngone; i++)
		ptarget_close(h->gone[i]);
	health_unref(h);
}
