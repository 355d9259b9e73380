/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/error.h"
#include "core/hostport.h"
#include "daemon/log.h"
#include "engine/health.h"

#define TAG "health"
#define ZONES_SHOWN 3 /* missing zones named in a reason before "and N more" */

/* One target's checker. A check is a chain of callbacks: server → statistics → zones →
 * (probe on the thread pool) → finish; `busy` while it runs. */
struct hcheck {
	struct prism_health *h;
	struct prism_health_target t;
	bool busy;
	/* the check under way */
	bool api_ok, stats_ok;
	char version[64];
	char problem[256];     /* the first fault found, "" when none */
	size_t nproblems;
	size_t missing, extra;
	int64_t *api_serial;   /* per zone: serial the API gives, -1 = missing */
	bool *mismatch_prev;   /* per zone: the last check saw the serials differ */
	/* the last finished check */
	struct prism_health_info info;
};

struct prism_health {
	uv_loop_t *loop;
	uv_timer_t timer;
	struct prism_health_opts opts;
	struct hcheck *checks;
	size_t nchecks;
	unsigned refs;         /* 1 for the timer + 1 per probe on the thread pool */
	bool stopping;
};

/* A DNS probe of one target's zones, run on the thread pool. */
struct probe {
	uv_work_t req;
	struct hcheck *c;
	char host[64];
	uint16_t port;
	double timeout;
	size_t n;
	const char **zones;    /* borrowed from the target (lives as long as the health) */
	int64_t *serial;       /* per zone: -1 no answer, -2 not asked (missing at the API) */
	char error[160];       /* the first failure */
};

static const char *const state_names[PRISM_HEALTH_NSTATES] = {
	"unknown", "healthy", "degraded", "unavailable", "maintenance",
};

const char *prism_health_state_name(enum prism_health_state s)
{
	return (unsigned)s < PRISM_HEALTH_NSTATES ? state_names[s] : "unknown";
}

static void health_unref(struct prism_health *h)
{
	if (--h->refs > 0)
		return;
	for (size_t i = 0; i < h->nchecks; i++) {
		free(h->checks[i].api_serial);
		free(h->checks[i].mismatch_prev);
	}
	free(h->checks);
	free(h);
}

/* Note a fault; the first one becomes the reason. */
static void problem(struct hcheck *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct hcheck *c, const char *fmt, ...)
{
	if (c->nproblems++ > 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->problem, sizeof(c->problem), fmt, ap);
	va_end(ap);
}

/* The engine's view of the target: paused? every zone ensured? */
static bool engine_info(const struct prism_health *h, const char *name,
			struct prism_engine_target_info *out)
{
	size_t n = prism_engine_ntargets(h->opts.engine);
	for (size_t i = 0; i < n; i++)
		if (prism_engine_target_info(h->opts.engine, i, out) == 0 &&
		    strcmp(out->name, name) == 0)
			return true;
	return false;
}

static void finish(struct hcheck *c, enum prism_health_state st, int dns, size_t mismatches)
{
	struct prism_health_info *in = &c->info;
	int64_t now = (int64_t)time(NULL);
	c->busy = false;
	if (st != in->state) {
		enum prism_log_level lvl = st == PRISM_HEALTH_HEALTHY ? PRISM_LOG_INFO
					   : st == PRISM_HEALTH_MAINTENANCE ? PRISM_LOG_INFO
									   : PRISM_LOG_WARNING;
		if (c->problem[0] != '\0' && c->nproblems > 1)
			prism_log(lvl, TAG, "target %s: %s -> %s: %s (and %zu more)", c->t.name,
				  state_names[in->state], state_names[st], c->problem,
				  c->nproblems - 1);
		else
			prism_log(lvl, TAG, "target %s: %s -> %s%s%s", c->t.name,
				  state_names[in->state], state_names[st], c->problem[0] ? ": " : "",
				  c->problem);
		in->state = st;
		in->since = now;
		in->transitions[st]++;
	}
	if (c->nproblems > 1)
		snprintf(in->reason, sizeof(in->reason), "%.200s (and %zu more)", c->problem,
			 c->nproblems - 1);
	else
		snprintf(in->reason, sizeof(in->reason), "%s", c->problem);
	snprintf(in->version, sizeof(in->version), "%s", c->version);
	in->api_ok = c->api_ok;
	in->stats_ok = c->stats_ok;
	in->dns = dns;
	in->zones_missing = c->missing;
	in->zones_extra = c->extra;
	in->serial_mismatches = mismatches;
	in->checked_at = now;
	in->checks++;
}

/* The check is complete but for the verdict: degraded when anything after the API failed. */
static void conclude(struct hcheck *c, int dns, size_t mismatches)
{
	finish(c, c->nproblems > 0 ? PRISM_HEALTH_DEGRADED : PRISM_HEALTH_HEALTHY, dns,
	       mismatches);
}

/* ---- 4. the DNS probe (thread pool) ---- */

static int64_t soa_serial(ldns_resolver *res, const char *zone, char *err, size_t errlen)
{
	ldns_rdf *name = ldns_dname_new_frm_str(zone);
	if (name == NULL) {
		snprintf(err, errlen, "%s: not a domain name", zone);
		return -1;
	}
	ldns_pkt *pkt = NULL;
	ldns_status s = ldns_resolver_query_status(&pkt, res, name, LDNS_RR_TYPE_SOA,
						   LDNS_RR_CLASS_IN, 0);
	ldns_rdf_deep_free(name);
	int64_t serial = -1;
	if (s != LDNS_STATUS_OK || pkt == NULL) {
		snprintf(err, errlen, "no DNS answer for %s SOA (%s)", zone,
			 ldns_get_errorstr_by_id(s));
	} else if (ldns_pkt_get_rcode(pkt) != LDNS_RCODE_NOERROR || !ldns_pkt_aa(pkt)) {
		ldns_lookup_table *rc = ldns_lookup_by_id(ldns_rcodes, ldns_pkt_get_rcode(pkt));
		snprintf(err, errlen, "%s SOA: %s%s", zone, rc ? rc->name : "error",
			 ldns_pkt_aa(pkt) ? "" : ", not authoritative");
	} else {
		ldns_rr_list *soa = ldns_pkt_rr_list_by_type(pkt, LDNS_RR_TYPE_SOA,
							    LDNS_SECTION_ANSWER);
		if (soa != NULL && ldns_rr_list_rr_count(soa) > 0 &&
		    ldns_rr_rd_count(ldns_rr_list_rr(soa, 0)) >= 3)
			serial = ldns_rdf2native_int32(ldns_rr_rdf(ldns_rr_list_rr(soa, 0), 2));
		else
			snprintf(err, errlen, "%s SOA: empty answer", zone);
		ldns_rr_list_deep_free(soa);
	}
	ldns_pkt_free(pkt);
	return serial;
}

static void probe_work(uv_work_t *req)
{
	struct probe *p = req->data;
	char err[160] = "";
	ldns_resolver *res = ldns_resolver_new();
	unsigned char a[16];
	bool v6 = inet_pton(AF_INET6, p->host, a) == 1;
	ldns_rdf *ns = ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, p->host);
	if (res == NULL || ns == NULL || ldns_resolver_push_nameserver(res, ns) != LDNS_STATUS_OK) {
		snprintf(p->error, sizeof(p->error), "DNS probe: cannot set up a resolver for %s",
			 p->host);
		for (size_t z = 0; z < p->n; z++)
			if (p->serial[z] != -2)
				p->serial[z] = -1;
		goto out;
	}
	ldns_resolver_set_port(res, p->port);
	ldns_resolver_set_recursive(res, false);
	ldns_resolver_set_dnssec(res, false);
	ldns_resolver_set_retry(res, 1);
	ldns_resolver_set_timeout(res, (struct timeval){ (time_t)p->timeout,
							 (suseconds_t)((p->timeout - (double)(time_t)p->timeout) * 1e6) });
	for (size_t z = 0; z < p->n; z++) {
		if (p->serial[z] == -2)
			continue;
		p->serial[z] = soa_serial(res, p->zones[z], err, sizeof(err));
		if (p->serial[z] < 0 && p->error[0] == '\0')
			snprintf(p->error, sizeof(p->error), "%s", err);
	}
out:
	ldns_rdf_deep_free(ns);
	if (res != NULL)
		ldns_resolver_deep_free(res); /* frees the pushed copy of ns */
}

static void probe_done(uv_work_t *req, int status)
{
	struct probe *p = req->data;
	struct hcheck *c = p->c;
	struct prism_health *h = c->h;
	if (!h->stopping) {
		int dns = 1;
		size_t mismatches = 0;
		if (status != 0) {
			dns = 0;
			problem(c, "DNS probe: not run (%s)", uv_strerror(status));
		} else {
			for (size_t z = 0; z < p->n; z++) {
				if (p->serial[z] == -2)
					continue;
				if (p->serial[z] < 0) {
					dns = 0;
					continue;
				}
				bool differ = p->serial[z] != c->api_serial[z];
				if (differ && c->mismatch_prev[z]) {
					mismatches++;
					problem(c, "zone %s: serial %lld over DNS, %lld through the API",
						p->zones[z], (long long)p->serial[z],
						(long long)c->api_serial[z]);
				}
				c->mismatch_prev[z] = differ;
			}
			if (dns == 0)
				problem(c, "%s", p->error);
		}
		conclude(c, dns, mismatches);
	}
	free(p->serial);
	free(p);
	health_unref(h);
}

static void start_probe(struct hcheck *c)
{
	struct prism_health *h = c->h;
	struct probe *p = calloc(1, sizeof(*p));
	int64_t *serial = calloc(c->t.nzones ? c->t.nzones : 1, sizeof(*serial));
	if (p == NULL || serial == NULL ||
	    prism_hostport_split(c->t.dns_address, p->host, sizeof(p->host), &p->port, 53) != 0) {
		free(p);
		free(serial);
		problem(c, "DNS probe: cannot start (dns_address %s)", c->t.dns_address);
		conclude(c, 0, 0);
		return;
	}
	p->req.data = p;
	p->c = c;
	p->timeout = h->opts.probe_timeout > 0 ? h->opts.probe_timeout : 2.0;
	p->n = c->t.nzones;
	p->zones = (const char **)c->t.zones;
	p->serial = serial;
	for (size_t z = 0; z < p->n; z++)
		serial[z] = c->api_serial[z] < 0 ? -2 : -1;
	h->refs++;
	int rc = uv_queue_work(h->loop, &p->req, probe_work, probe_done);
	if (rc != 0) {
		h->refs--;
		free(serial);
		free(p);
		problem(c, "DNS probe: cannot start (%s)", uv_strerror(rc));
		conclude(c, 0, 0);
	}
}

/* ---- 3. zone consistency ---- */

static void zones_cb(void *arg, int err, int status, const char *msg, const char *body,
		     size_t len)
{
	struct hcheck *c = arg;
	if (c->h->stopping)
		return;
	for (size_t z = 0; z < c->t.nzones; z++)
		c->api_serial[z] = -1;
	json_t *root = err == 0 ? json_loadb(body, len, 0, NULL) : NULL;
	if (!json_is_array(root)) {
		if (err != 0)
			problem(c, "zone list: %s (HTTP %d)", msg, status);
		else
			problem(c, "zone list: not a JSON array");
		json_decref(root);
		conclude(c, -1, 0);
		return;
	}
	size_t i;
	json_t *zv;
	json_array_foreach(root, i, zv) {
		const char *name = json_string_value(json_object_get(zv, "name"));
		if (name == NULL)
			continue;
		bool managed = false;
		for (size_t z = 0; z < c->t.nzones; z++) {
			if (strcasecmp(c->t.zones[z], name) != 0)
				continue;
			json_t *sv = json_object_get(zv, "serial");
			c->api_serial[z] = json_is_integer(sv) ? json_integer_value(sv) : 0;
			managed = true;
		}
		c->extra += !managed;
	}
	json_decref(root);
	/* until the engine has ensured every zone once, a missing one is being created */
	struct prism_engine_target_info ti;
	bool ensured = engine_info(c->h, c->t.name, &ti) && ti.zone_ready;
	char names[160] = "";
	size_t shown = 0;
	for (size_t z = 0; z < c->t.nzones; z++) {
		if (c->api_serial[z] >= 0 || !ensured)
			continue;
		c->missing++;
		if (shown++ < ZONES_SHOWN) {
			size_t n = strlen(names);
			snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", c->t.zones[z]);
		}
		prism_engine_zone_lost(c->h->opts.engine, c->t.name, c->t.zones[z]);
	}
	if (c->missing > 0)
		problem(c, "%zu managed zone(s) missing: %s%s (being restored)", c->missing, names,
			shown > ZONES_SHOWN ? ", …" : "");
	if (c->t.dns_address != NULL && c->t.nzones > 0)
		start_probe(c);
	else
		conclude(c, -1, 0);
}

/* ---- 2. statistics ---- */

static void stats_cb(void *arg, int err, int status, const char *msg, const char *body,
		     size_t len)
{
	struct hcheck *c = arg;
	if (c->h->stopping)
		return;
	json_t *root = err == 0 ? json_loadb(body, len, 0, NULL) : NULL;
	c->stats_ok = json_is_array(root);
	json_decref(root);
	if (!c->stats_ok) {
		if (err != 0)
			problem(c, "statistics: %s (HTTP %d)", msg, status);
		else
			problem(c, "statistics: not a JSON array");
	}
	int rc = c->t.api->get(c->t.handle, "/zones", "zones", zones_cb, c);
	if (rc != 0) {
		problem(c, "zone list: %s", prism_strerror(rc));
		conclude(c, -1, 0);
	}
}

/* ---- 1. the API ---- */

static void server_cb(void *arg, int err, int status, const char *msg, const char *body,
		      size_t len)
{
	struct hcheck *c = arg;
	if (c->h->stopping)
		return;
	if (err != 0) {
		if (status == 401 || status == 403)
			problem(c, "API refuses the key (HTTP %d)", status);
		else if (status != 0)
			problem(c, "API: %s (HTTP %d)", msg, status);
		else
			problem(c, "API unreachable: %s", msg);
		finish(c, PRISM_HEALTH_UNAVAILABLE, -1, 0);
		return;
	}
	c->api_ok = true;
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *v = json_string_value(json_object_get(root, "version"));
	snprintf(c->version, sizeof(c->version), "%s", v ? v : "");
	json_decref(root);
	int rc = c->t.api->get(c->t.handle, "/statistics", "statistics", stats_cb, c);
	if (rc != 0) {
		problem(c, "statistics: %s", prism_strerror(rc));
		conclude(c, -1, 0);
	}
}

static void check_one(struct hcheck *c)
{
	if (c->busy || c->h->stopping)
		return;
	c->api_ok = c->stats_ok = false;
	c->version[0] = c->problem[0] = '\0';
	c->nproblems = c->missing = c->extra = 0;
	struct prism_engine_target_info ti;
	if (engine_info(c->h, c->t.name, &ti) && strcmp(ti.state, "paused") == 0) {
		problem(c, "paused for maintenance");
		c->busy = true;
		finish(c, PRISM_HEALTH_MAINTENANCE, -1, 0);
		return;
	}
	c->busy = true;
	int rc = c->t.api->get(c->t.handle, "", "server", server_cb, c);
	if (rc != 0) {
		problem(c, "API: %s", prism_strerror(rc));
		finish(c, PRISM_HEALTH_UNAVAILABLE, -1, 0);
	}
}

void prism_health_check_now(struct prism_health *h)
{
	if (h == NULL || h->stopping)
		return;
	for (size_t i = 0; i < h->nchecks; i++)
		check_one(&h->checks[i]);
}

static void timer_cb(uv_timer_t *t)
{
	prism_health_check_now(t->data);
}

int prism_health_start(uv_loop_t *loop, const struct prism_health_opts *opts,
		       struct prism_health **out)
{
	if (loop == NULL || opts == NULL || out == NULL || opts->engine == NULL)
		return PRISM_EINVAL;
	struct prism_health *h = calloc(1, sizeof(*h));
	if (h == NULL)
		return PRISM_ENOMEM;
	h->loop = loop;
	h->opts = *opts;
	h->checks = calloc(opts->ntargets ? opts->ntargets : 1, sizeof(*h->checks));
	if (h->checks == NULL) {
		free(h);
		return PRISM_ENOMEM;
	}
	h->nchecks = opts->ntargets;
	h->refs = 1;
	for (size_t i = 0; i < h->nchecks; i++) {
		struct hcheck *c = &h->checks[i];
		c->h = h;
		c->t = opts->targets[i];
		c->info.name = c->t.name;
		c->info.dns = -1;
		size_t n = c->t.nzones ? c->t.nzones : 1;
		c->api_serial = calloc(n, sizeof(*c->api_serial));
		c->mismatch_prev = calloc(n, sizeof(*c->mismatch_prev));
		if (c->api_serial == NULL || c->mismatch_prev == NULL || c->t.api->get == NULL) {
			health_unref(h);
			return c->t.api->get == NULL ? PRISM_EINVAL : PRISM_ENOMEM;
		}
	}
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	*out = h;
	prism_health_reload(h, opts->interval, opts->probe_timeout);
	return 0;
}

void prism_health_reload(struct prism_health *h, unsigned interval, double probe_timeout)
{
	if (h == NULL || h->stopping)
		return;
	bool was_on = h->opts.interval > 0 && uv_is_active((uv_handle_t *)&h->timer);
	h->opts.interval = interval;
	h->opts.probe_timeout = probe_timeout;
	uint64_t ival = (uint64_t)interval * 1000;
	uv_timer_stop(&h->timer);
	if (ival == 0)
		return;
	uv_timer_start(&h->timer, timer_cb, ival, ival);
	if (!was_on)
		prism_health_check_now(h); /* a first check at once */
}

static void timer_close_cb(uv_handle_t *t)
{
	health_unref(t->data);
}

void prism_health_stop(struct prism_health *h)
{
	if (h == NULL || h->stopping)
		return;
	h->stopping = true;
	uv_close((uv_handle_t *)&h->timer, timer_close_cb);
}

size_t prism_health_ntargets(const struct prism_health *h)
{
	return h != NULL ? h->nchecks : 0;
}

int prism_health_info(const struct prism_health *h, size_t i, struct prism_health_info *out)
{
	if (h == NULL || i >= h->nchecks)
		return PRISM_ENOTFOUND;
	*out = h->checks[i].info;
	return 0;
}
