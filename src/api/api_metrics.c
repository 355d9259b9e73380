/* SPDX-License-Identifier: MIT */
/*
 * /metrics: counters driven as things happen (API requests, PowerDNS requests through the
 * targets' observer hook) and values collected from the modules' stats at scrape time
 * (agent server, liveness, engine, store writer, host and ledger counts). Every label has
 * a bounded set of values: route templates, HTTP methods and statuses, target names from
 * the configuration, fixed states.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "core/error.h"
#include "prism_version.h"

int api_metrics_init(struct prism_api *api);
void api_metrics_detach(struct prism_api *api);

static const double api_buckets[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
};
static const double pdns_buckets[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

static const char *const l_none[] = {NULL};
static const char *const l_result[] = {"result", NULL};
static const char *const l_status[] = {"status", NULL};
static const char *const l_target[] = {"target", NULL};
static const char *const l_target_state[] = {"target", "state", NULL};
static const char *const l_target_status[] = {"target", "status", NULL};
static const char *const l_target_kind[] = {"target", "kind", NULL};
static const char *const l_api[] = {"route", "method", "status", NULL};
static const char *const l_route[] = {"route", NULL};
static const char *const l_pdns[] = {"method", "endpoint", "status", NULL};
static const char *const l_pdns_dur[] = {"method", "endpoint", NULL};
static const char *const l_op_status[] = {"operation", "status", NULL};
static const char *const l_version[] = {"version", NULL};
static const char *const l_source_result[] = {"source", "result", NULL};
static const char *const l_reason[] = {"reason", NULL};

struct family {
	const char *name, *help;
	enum prism_metric_type type;
	const char *const *labels;
	const double *buckets;
	size_t nbuckets;
	size_t max_series;
};

#define TARGETS_SERIES (API_MAX_TARGETS * 4)

static const struct family families[] = {
	{"prism_build_info", "Version of this prismd (always 1).", PRISM_METRIC_GAUGE, l_version,
	 NULL, 0, 1},
	{"prism_tcp_active_connections", "Agent connections open now.", PRISM_METRIC_GAUGE, l_none,
	 NULL, 0, 1},
	{"prism_tcp_connections_total", "Agent connections accepted.", PRISM_METRIC_COUNTER,
	 l_none, NULL, 0, 1},
	{"prism_host_registrations_total", "Registrations committed, by outcome.",
	 PRISM_METRIC_COUNTER, l_result, NULL, 0, 8},
	{"prism_agent_auth_failures_total", "Registrations refused for their token.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_agent_errors_total", "Error answers sent to agents.", PRISM_METRIC_COUNTER, l_none,
	 NULL, 0, 1},
	{"prism_agent_tls_failures_total",
	 "TLS agent connections closed for a TLS failure, "
	 "by reason.",
	 PRISM_METRIC_COUNTER, l_reason, NULL, 0, PRISM_TLS_FAIL_COUNT},
	{"prism_agent_tls_handshakes_total", "TLS handshakes completed on the agent port.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_agent_write_timeouts_total",
	 "Agent connections closed because their answers "
	 "were not read within idle_timeout.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_online_hosts_total", "Hosts online now.", PRISM_METRIC_GAUGE, l_none, NULL, 0, 1},
	{"prism_offline_hosts_total", "Hosts offline now.", PRISM_METRIC_GAUGE, l_none, NULL, 0,
	 1},
	{"prism_heartbeat_timeouts_total", "Hosts marked offline for missing heartbeats.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_hosts_cleaned_up_total", "Offline hosts deleted after cleanup_after_days.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_dns_sync_status", "Hosts by DNS sync status (their records on every target).",
	 PRISM_METRIC_GAUGE, l_status, NULL, 0, 4},
	{"prism_ledger_rows", "Ledger rows (record sets on targets) by sync status.",
	 PRISM_METRIC_GAUGE, l_status, NULL, 0, 4},
	{"prism_target_state", "1 for the state each target is in.", PRISM_METRIC_GAUGE,
	 l_target_state, NULL, 0, TARGETS_SERIES},
	{"prism_target_consecutive_failures", "Target-level failures in a row (backoff).",
	 PRISM_METRIC_GAUGE, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_requests_total", "Change requests sent to each target.",
	 PRISM_METRIC_COUNTER, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_request_failures_total", "Change requests that failed.",
	 PRISM_METRIC_COUNTER, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_rrsets_applied_total", "Record sets a target accepted.",
	 PRISM_METRIC_COUNTER, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_rrsets_failed_total", "Record sets a target refused.", PRISM_METRIC_COUNTER,
	 l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_last_success_timestamp_seconds", "Unix time of the last successful push.",
	 PRISM_METRIC_GAUGE, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_oldest_pending_seconds", "Age of the oldest pending ledger row.",
	 PRISM_METRIC_GAUGE, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_ledger_rows", "Ledger rows of each target by status.", PRISM_METRIC_GAUGE,
	 l_target_status, NULL, 0, TARGETS_SERIES},
	{"prism_target_health", "1 for the health state each target is in.", PRISM_METRIC_GAUGE,
	 l_target_state, NULL, 0, API_MAX_TARGETS * 5},
	{"prism_target_health_transitions_total", "Changes of each target's health state.",
	 PRISM_METRIC_COUNTER, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_target_zone_reads_total",
	 "Zone reads of RFC 2136 targets by how the server answered: axfr (the whole zone), "
	 "ixfr (differences applied to the copy of the last read).",
	 PRISM_METRIC_COUNTER, l_target_kind, NULL, 0, API_MAX_TARGETS * 2},
	{"prism_target_response_seconds",
	 "Time the target's API took to answer the last health check.", PRISM_METRIC_GAUGE,
	 l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_powerdns_uptime_seconds", "PowerDNS's uptime (statistics, last health check).",
	 PRISM_METRIC_GAUGE, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_powerdns_queries_total",
	 "Queries PowerDNS answered (UDP and TCP, since its "
	 "start).",
	 PRISM_METRIC_COUNTER, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_powerdns_cache_hit_ratio", "PowerDNS's packet cache hits / (hits + misses).",
	 PRISM_METRIC_GAUGE, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_powerdns_latency_seconds", "PowerDNS's average answer time (its own figure).",
	 PRISM_METRIC_GAUGE, l_target, NULL, 0, API_MAX_TARGETS},
	{"prism_powerdns_api_requests_total", "HTTP requests to PowerDNS APIs.",
	 PRISM_METRIC_COUNTER, l_pdns, NULL, 0, 128},
	{"prism_powerdns_api_request_duration_seconds", "Duration of PowerDNS API requests.",
	 PRISM_METRIC_HISTOGRAM, l_pdns_dur, pdns_buckets,
	 sizeof(pdns_buckets) / sizeof(pdns_buckets[0]), 16},
	{"prism_powerdns_record_operations_total", "Record set changes sent to PowerDNS.",
	 PRISM_METRIC_COUNTER, l_op_status, NULL, 0, 8},
	{"prism_powerdns_zone_operations_total", "Zone checks and creations on PowerDNS.",
	 PRISM_METRIC_COUNTER, l_op_status, NULL, 0, 8},
	{"prism_store_jobs_total", "Registry write jobs committed or failed.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_store_batches_total", "Registry transactions (group commits).",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_store_failed_batches_total", "Registry transactions that failed.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_source_changes_total",
	 "Host changes from each source by result (added, updated, removed, unchanged, "
	 "conflict: the name is another source's, key's or client's; rejected: bad or "
	 "filtered name; failed: registry error).",
	 PRISM_METRIC_COUNTER, l_source_result, NULL, 0, 64},
	{"prism_ncr_received_total", "NameChangeRequest datagrams received.", PRISM_METRIC_COUNTER,
	 l_none, NULL, 0, 1},
	{"prism_ncr_invalid_total", "NameChangeRequest datagrams refused as malformed.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_ncr_dropped_total", "Valid NameChangeRequests dropped: the queue was full.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_ncr_committed_total",
	 "NameChangeRequests committed to the registry (its intake queue).", PRISM_METRIC_COUNTER,
	 l_none, NULL, 0, 1},
	{"prism_ncr_applied_total",
	 "NameChangeRequests applied to their hosts and records (in order, behind intake).",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_ncr_queued", "NameChangeRequests committed but not applied yet.",
	 PRISM_METRIC_GAUGE, l_none, NULL, 0, 1},
	{"prism_ha_instances",
	 "Live instances on this PostgreSQL registry, as this instance's last renewal saw them.",
	 PRISM_METRIC_GAUGE, l_none, NULL, 0, 1},
	{"prism_ha_claims", "Claims (targets, liveness, Kea follower) this instance works under.",
	 PRISM_METRIC_GAUGE, l_none, NULL, 0, 1},
	{"prism_ha_db_connected", "1 while this instance's claim connection to PostgreSQL is up.",
	 PRISM_METRIC_GAUGE, l_none, NULL, 0, 1},
	{"prism_kea_db_connected", "1 while the connection to Kea's PostgreSQL is up.",
	 PRISM_METRIC_GAUGE, l_none, NULL, 0, 1},
	{"prism_kea_db_connects_total", "Connections made to Kea's PostgreSQL.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_kea_db_disconnects_total",
	 "Connections to Kea's PostgreSQL lost or refused (each followed by a retry).",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_kea_db_notifications_total", "Notifications of the reservation trigger.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_kea_db_syncs_total", "Consistency syncs of the reservations.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_kea_db_last_sync_seconds", "Duration of the last consistency sync.",
	 PRISM_METRIC_GAUGE, l_none, NULL, 0, 1},
	{"prism_kea_lease_lines_total", "Lines read from Kea's lease file.", PRISM_METRIC_COUNTER,
	 l_none, NULL, 0, 1},
	{"prism_kea_lease_bad_lines_total", "Lines of Kea's lease file refused.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_kea_lease_reloads_total",
	 "Whole reads of Kea's lease file (at start and after each rotation by LFC).",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
	{"prism_kea_leases", "Addresses known from Kea's lease file.", PRISM_METRIC_GAUGE, l_none,
	 NULL, 0, 1},
	{"prism_api_requests_total", "REST API requests by route template, method and status.",
	 PRISM_METRIC_COUNTER, l_api, NULL, 0, 512},
	{"prism_api_request_duration_seconds", "REST API request handling time by route.",
	 PRISM_METRIC_HISTOGRAM, l_route, api_buckets,
	 sizeof(api_buckets) / sizeof(api_buckets[0]), 64},
	{"prism_api_header_timeouts_total",
	 "REST API connections closed for not sending a whole request head within "
	 "api.header_timeout.",
	 PRISM_METRIC_COUNTER, l_none, NULL, 0, 1},
};

static struct prism_metric *fam(struct prism_api *api, const char *name)
{
	return prism_metrics_find(api->metrics, name);
}

/* ---- PowerDNS requests, told by the targets ---- */

static void pdns_observer(void *arg, const struct prism_target_event *ev)
{
	struct prism_api *api = arg;
	char st[16];
	bool ok = ev->http_status >= 200 && ev->http_status < 300;
	if (ev->http_status > 0)
		snprintf(st, sizeof(st), "%d", ev->http_status);
	else
		snprintf(st, sizeof(st), "error");
	const char *l[] = {ev->method, ev->endpoint, st};
	prism_metric_inc(api->m_pdns_requests, l, 1);
	prism_metric_inc(api->m_pdns_duration, l, ev->seconds);
	const char *status = ok ? "success" : "failed";
	if (ev->replaced > 0) {
		const char *v[] = {"replace", status};
		prism_metric_inc(api->m_pdns_records, v, ev->replaced);
	}
	if (ev->deleted > 0) {
		const char *v[] = {"delete", status};
		prism_metric_inc(api->m_pdns_records, v, ev->deleted);
	}
	if (ev->zone_read != NULL) {
		const char *v[] = {ev->target, ev->zone_read};
		prism_metric_inc(api->m_zone_reads, v, 1);
	}
	if (ev->zone_op != NULL) {
		/* a check answered 404 found a missing zone: that is a successful check */
		bool zok = ok ||
			   (strcmp(ev->zone_op, "check") == 0 &&
			    (ev->http_status == 404 || ev->http_status == 422)) ||
			   (strcmp(ev->zone_op, "create") == 0 && ev->http_status == 409);
		const char *v[] = {ev->zone_op, zok ? "success" : "failed"};
		prism_metric_inc(api->m_pdns_zones, v, 1);
	}
}

int api_metrics_init(struct prism_api *api)
{
	api->metrics = prism_metrics_new();
	if (api->metrics == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		const struct family *f = &families[i];
		struct prism_metric_desc d = {
			.name = f->name,
			.help = f->help,
			.type = f->type,
			.labels = f->labels[0] ? f->labels : NULL,
			.buckets = f->buckets,
			.nbuckets = f->nbuckets,
			.max_series = f->max_series,
		};
		int rc = prism_metrics_add(api->metrics, &d, NULL);
		if (rc != 0)
			return rc;
	}
	const char *v[] = {PRISM_VERSION};
	prism_metric_put(fam(api, "prism_build_info"), v, 1);
	api->m_api_requests = fam(api, "prism_api_requests_total");
	api->m_api_duration = fam(api, "prism_api_request_duration_seconds");
	api->m_pdns_requests = fam(api, "prism_powerdns_api_requests_total");
	api->m_pdns_duration = fam(api, "prism_powerdns_api_request_duration_seconds");
	api->m_pdns_records = fam(api, "prism_powerdns_record_operations_total");
	api->m_pdns_zones = fam(api, "prism_powerdns_zone_operations_total");
	api->m_zone_reads = fam(api, "prism_target_zone_reads_total");
	/* the usual outcomes exist from the start, at zero */
	static const char *const results[] = {"new", "ip_changed", "heartbeat", "reconnected",
					      "reconnected_ip_changed"};
	for (size_t i = 0; i < 5; i++) {
		const char *l[] = {results[i]};
		prism_metric_inc(fam(api, "prism_host_registrations_total"), l, 0);
	}
	for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine); i++) {
		const struct prism_engine_target *t = prism_engine_target(api->opts.engine, i);
		if (t->api != NULL && t->api->observe != NULL)
			t->api->observe(t->handle, pdns_observer, api);
	}
	return 0;
}

void prism_api_observe_target(struct prism_api *api, const struct prism_engine_target *t, bool on)
{
	if (api != NULL && t != NULL && t->api->observe != NULL && t->handle != NULL)
		t->api->observe(t->handle, on ? pdns_observer : NULL, on ? api : NULL);
}

void api_metrics_detach(struct prism_api *api)
{
	for (size_t i = 0; i < prism_engine_ntargets(api->opts.engine); i++) {
		const struct prism_engine_target *t = prism_engine_target(api->opts.engine, i);
		if (t->api != NULL && t->api->observe != NULL && t->handle != NULL)
			t->api->observe(t->handle, NULL, NULL);
	}
}

/* ---- collected at scrape time ---- */

static void put0(struct prism_api *api, const char *name, double v)
{
	prism_metric_put(fam(api, name), NULL, v);
}

static void put1(struct prism_api *api, const char *name, const char *label, double v)
{
	const char *l[] = {label};
	prism_metric_put(fam(api, name), l, v);
}

static void put2(struct prism_api *api, const char *name, const char *a, const char *b, double v)
{
	const char *l[] = {a, b};
	prism_metric_put(fam(api, name), l, v);
}

static void collect_agent(struct prism_api *api)
{
	static const char *const results[] = {"new", "ip_changed", "heartbeat", "reconnected",
					      "reconnected_ip_changed"};
	struct prism_agent_server_stats as;
	if (api->opts.agent != NULL) {
		prism_agent_server_stats(api->opts.agent, &as);
		put0(api, "prism_tcp_active_connections", as.active);
		put0(api, "prism_tcp_connections_total", (double)as.accepted);
		for (size_t i = 0; i < 5; i++)
			put1(api, "prism_host_registrations_total", results[i],
			     (double)as.results[i]);
		put0(api, "prism_agent_auth_failures_total", (double)as.auth_failures);
		put0(api, "prism_agent_errors_total", (double)as.errors);
		for (int r = 0; r < PRISM_TLS_FAIL_COUNT; r++)
			put1(api, "prism_agent_tls_failures_total", prism_tls_failure_name(r),
			     (double)as.tls_failures[r]);
		put0(api, "prism_agent_tls_handshakes_total", (double)as.tls_handshakes);
		put0(api, "prism_agent_write_timeouts_total", (double)as.write_timeouts);
	}
	struct prism_liveness_stats ls;
	if (api->opts.liveness != NULL) {
		prism_liveness_stats(api->opts.liveness, &ls);
		put0(api, "prism_heartbeat_timeouts_total", (double)ls.went_offline);
		put0(api, "prism_hosts_cleaned_up_total", (double)ls.cleaned_up);
	}
	struct prism_store_writer_stats ws;
	prism_store_writer_stats(api->opts.writer, &ws);
	put0(api, "prism_store_jobs_total", (double)ws.jobs);
	put0(api, "prism_store_batches_total", (double)ws.batches);
	put0(api, "prism_store_failed_batches_total", (double)ws.failed_batches);
	if (api_refresh_counts(api) == 0) {
		put0(api, "prism_online_hosts_total", (double)api->online);
		put0(api, "prism_offline_hosts_total", (double)api->offline);
	}
}

static void put_source(struct prism_api *api, enum prism_source src,
		       const struct prism_source_stats *st)
{
	const char *name = prism_source_name(src);
	put2(api, "prism_source_changes_total", name, "added", (double)st->added);
	put2(api, "prism_source_changes_total", name, "updated", (double)st->updated);
	put2(api, "prism_source_changes_total", name, "removed", (double)st->removed);
	put2(api, "prism_source_changes_total", name, "unchanged", (double)st->unchanged);
	put2(api, "prism_source_changes_total", name, "conflict", (double)st->conflicts);
	put2(api, "prism_source_changes_total", name, "rejected", (double)st->rejected);
	put2(api, "prism_source_changes_total", name, "failed", (double)st->failed);
}

static void collect_sources(struct prism_api *api)
{
	if (api->opts.agent != NULL) {
		struct prism_agent_server_stats as;
		prism_agent_server_stats(api->opts.agent, &as);
		put2(api, "prism_source_changes_total", "agent", "conflict",
		     (double)as.source_conflicts);
	}
	if (api->opts.ncr != NULL) {
		struct prism_ncr_server_stats ns;
		prism_ncr_server_stats(api->opts.ncr, &ns);
		put0(api, "prism_ncr_received_total", (double)ns.received);
		put0(api, "prism_ncr_invalid_total", (double)ns.invalid);
		put0(api, "prism_ncr_dropped_total", (double)ns.dropped);
		put0(api, "prism_ncr_committed_total", (double)ns.committed);
		put0(api, "prism_ncr_applied_total", (double)ns.applied);
		put0(api, "prism_ncr_queued",
		     (double)(ns.committed > ns.applied ? ns.committed - ns.applied : 0));
		put_source(api, PRISM_SOURCE_KEA_DDNS, &ns.src);
	}
	if (api->opts.ha != NULL) {
		struct prism_ha_stats hs;
		prism_ha_stats(api->opts.ha, &hs);
		put0(api, "prism_ha_instances", (double)hs.instances_alive);
		put0(api, "prism_ha_claims", (double)hs.held);
		put0(api, "prism_ha_db_connected", hs.connected);
	}
	if (api->opts.kea_pg != NULL) {
		struct prism_kea_pg_stats ks;
		prism_kea_pg_stats(api->opts.kea_pg, &ks);
		put0(api, "prism_kea_db_connected", ks.connected);
		put0(api, "prism_kea_db_connects_total", (double)ks.connects);
		put0(api, "prism_kea_db_disconnects_total", (double)ks.disconnects);
		put0(api, "prism_kea_db_notifications_total", (double)ks.notifications);
		put0(api, "prism_kea_db_syncs_total", (double)ks.syncs);
		put0(api, "prism_kea_db_last_sync_seconds", ks.last_sync_seconds);
		ks.src.rejected += ks.bad_notifications;
		put_source(api, PRISM_SOURCE_KEA_RESERVATION, &ks.src);
	}
	if (api->opts.kea_leases != NULL) {
		struct prism_kea_leases_stats ls;
		prism_kea_leases_stats(api->opts.kea_leases, &ls);
		put0(api, "prism_kea_lease_lines_total", (double)ls.lines);
		put0(api, "prism_kea_lease_bad_lines_total", (double)ls.bad_lines);
		put0(api, "prism_kea_lease_reloads_total", (double)ls.reloads);
		put0(api, "prism_kea_leases", (double)ls.leases);
		put_source(api, PRISM_SOURCE_KEA_LEASE, &ls.src);
	}
}

/* What the last health checks read from the target (nothing before the first one). */
static void put_health_stats(struct prism_api *api, const char *target,
			     const struct prism_health_info *hi)
{
	if (hi->checked > 0)
		put1(api, "prism_target_response_seconds", target, hi->response_ms / 1000);
	if (!hi->has_stats)
		return;
	const struct prism_pdns_stats *st = &hi->stats;
	if (st->has_uptime)
		put1(api, "prism_powerdns_uptime_seconds", target, (double)st->uptime);
	if (st->has_queries)
		put1(api, "prism_powerdns_queries_total", target, (double)st->queries);
	if (st->has_cache) {
		uint64_t all = st->cache_hits + st->cache_misses;
		put1(api, "prism_powerdns_cache_hit_ratio", target,
		     all ? (double)st->cache_hits / (double)all : 0);
	}
	if (st->has_latency)
		put1(api, "prism_powerdns_latency_seconds", target, (double)st->latency_us / 1e6);
}

static void collect_targets(struct prism_api *api)
{
	static const char *const states[] = {"ok", "backoff", "unauthorised", "paused",
					     "misconfigured"};
	struct prism_engine *e = api->opts.engine;
	bool ledger = api_refresh_ledger(api) == 0;
	int64_t now = (int64_t)time(NULL);
	double total[4] = {0};
	for (size_t i = 0; i < prism_engine_ntargets(e) && i < API_MAX_TARGETS; i++) {
		struct prism_engine_target_info ti;
		if (prism_engine_target_info(e, i, &ti) != 0)
			continue;
		for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++)
			put2(api, "prism_target_state", ti.name, states[s],
			     strcmp(ti.state, states[s]) == 0);
		put1(api, "prism_target_consecutive_failures", ti.name, ti.failures);
		put1(api, "prism_target_requests_total", ti.name, (double)ti.requests);
		put1(api, "prism_target_request_failures_total", ti.name,
		     (double)ti.request_failures);
		put1(api, "prism_target_rrsets_applied_total", ti.name, (double)ti.rrsets_applied);
		put1(api, "prism_target_rrsets_failed_total", ti.name, (double)ti.rrsets_failed);
		put1(api, "prism_target_last_success_timestamp_seconds", ti.name,
		     (double)ti.last_success);
		static const char *const health[] = {"healthy", "degraded", "unavailable",
						     "maintenance", "unknown"};
		struct prism_health_info hi;
		if (prism_health_get(api->opts.health, ti.name, &hi) == 0) {
			for (size_t s = 0; s < 5; s++)
				put2(api, "prism_target_health", ti.name, health[s],
				     strcmp(hi.state, health[s]) == 0);
			put1(api, "prism_target_health_transitions_total", ti.name,
			     (double)hi.transitions);
			put_health_stats(api, ti.name, &hi);
		}
		const struct api_ledger_counts *c = ledger ? api_ledger_of(api, ti.name) : NULL;
		if (c == NULL)
			continue;
		for (size_t s = 0; s < 4; s++) {
			put2(api, "prism_target_ledger_rows", ti.name, api_sync_states[s],
			     (double)c->n[s]);
			total[s] += (double)c->n[s];
		}
		put1(api, "prism_target_oldest_pending_seconds", ti.name,
		     c->oldest_pending > 0 && now > c->oldest_pending
			     ? (double)(now - c->oldest_pending)
			     : 0);
	}
	for (size_t s = 0; s < 4 && ledger; s++)
		put1(api, "prism_ledger_rows", api_sync_states[s], total[s]);
	for (size_t s = 0; s < 4 && api_refresh_counts(api) == 0; s++)
		put1(api, "prism_dns_sync_status", api_host_sync_states[s],
		     (double)api->sync_hosts[s]);
}

int api_metrics_collect(struct prism_api *api)
{
	collect_agent(api);
	collect_sources(api);
	collect_targets(api);
	put0(api, "prism_api_header_timeouts_total", (double)api->heads_late);
	api->metrics_len = 0;
	return prism_metrics_format(api->metrics, &api->metrics_buf, &api->metrics_len,
				    &api->metrics_cap);
}
