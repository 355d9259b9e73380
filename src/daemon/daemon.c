/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/error.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "core/token.h"
#include "engine/engine.h"
#include "engine/liveness.h"
#include "prism_version.h"
#include "sources/agent_server.h"
#include "store/store.h"
#include "store/writer.h"
#include "targets/target.h"

#define TAG "prismd"
#define TARGET_NAME "default"

struct daemon {
	const struct prism_config *cfg;
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	struct prism_store *store;
	struct prism_store_writer *writer;
	struct prism_target *target;
	struct prism_engine *engine;
	struct prism_agent_server *agent;
	struct prism_liveness *liveness;
	struct prism_token_set *tokens; /* agent tokens from the config, by hash */
	const char **reserved;          /* hostnames agents may not claim */
	size_t nreserved;
	char apex[PRISM_DNAME_MAX + 1];
	char *api_key;     /* from api_key or api_key_file */
	char ns1[PRISM_DNAME_MAX + 8];
	const char *nameservers[2];
	int exit_code;
};

static const struct prism_store_api *const store_api = &prism_store_sqlite;
static const struct prism_target_api *const target_api = &prism_target_powerdns;

/* Read a secret from a file: the first line, without the newline. */
static char *read_secret(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "cannot read %s (%s)", path, strerror(errno));
		return NULL;
	}
	char buf[1024];
	char *line = fgets(buf, sizeof(buf), f);
	fclose(f);
	if (line == NULL) {
		snprintf(err, errlen, "%s is empty", path);
		return NULL;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	return strdup(buf);
}

static void changed_cb(void *arg)
{
	struct daemon *d = arg;
	prism_engine_wake(d->engine);
}

static void shutdown_daemon(struct daemon *d)
{
	prism_log(PRISM_LOG_INFO, TAG, "shutting down");
	uv_signal_stop(&d->sigint);
	uv_signal_stop(&d->sigterm);
	uv_close((uv_handle_t *)&d->sigint, NULL);
	uv_close((uv_handle_t *)&d->sigterm, NULL);
	/* reverse order of start: sources, engine, targets, then the writer drains */
	prism_agent_server_stop(d->agent);
	d->agent = NULL;
	prism_liveness_stop(d->liveness);
	d->liveness = NULL;
	prism_engine_stop(d->engine);
	d->engine = NULL;
	if (d->target != NULL)
		target_api->close(d->target);
	d->target = NULL;
	prism_store_writer_stop(d->writer);
	d->writer = NULL;
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	prism_log(PRISM_LOG_INFO, TAG, "received %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
	shutdown_daemon(d);
}

static int start_dns(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	char err[512];
	if (cfg->powerdns_api_key_file != NULL) {
		d->api_key = read_secret(cfg->powerdns_api_key_file, err, sizeof(err));
		if (d->api_key == NULL) {
			prism_log(PRISM_LOG_CRITICAL, TAG, "powerdns.api_key_file: %s", err);
			return PRISM_ECONFIG;
		}
	}
	struct prism_target_opts topts = {
		.name = TARGET_NAME,
		.api_url = cfg->powerdns_api_url,
		.api_key = d->api_key ? d->api_key : cfg->powerdns_api_key,
		.server_id = cfg->powerdns_server_id,
		.timeout = cfg->powerdns_timeout,
		.instance = cfg->server_instance,
	};
	int rc = target_api->open(&d->loop, &topts, &d->target);
	if (rc != 0) {
		prism_log(PRISM_LOG_CRITICAL, TAG, "cannot set up the PowerDNS target (%s)",
			  prism_strerror(rc));
		return rc;
	}
	snprintf(d->ns1, sizeof(d->ns1), "ns1.%s", cfg->powerdns_default_zone);
	d->nameservers[0] = d->ns1;
	d->nameservers[1] = NULL;
	struct prism_engine_target t = {
		.name = TARGET_NAME,
		.api = target_api,
		.handle = d->target,
		.zone = cfg->powerdns_default_zone,
		.nameservers = d->nameservers,
	};
	struct prism_engine_opts eopts = {
		.targets = &t,
		.ntargets = 1,
		.retry_delay = cfg->powerdns_retry_delay,
		.retry_max = 60.0,
		.coalesce_ms = 2,
		.batch_max = 1000,
	};
	rc = prism_engine_new(&d->loop, d->writer, &eopts, &d->engine);
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, TAG, "cannot start the sync engine (%s)",
			  prism_strerror(rc));
	return rc;
}

/* Agent tokens from the config: hashed at once, clear text never kept. */
static int load_tokens(struct daemon *d)
{
	d->tokens = prism_token_set_new();
	if (d->tokens == NULL)
		return PRISM_ENOMEM;
	for (struct prism_config_cred **c = d->cfg->auth_tokens; c && *c; c++) {
		char err[512], hash[PRISM_TOKEN_HASH_LEN + 1];
		char *secret = (*c)->secret;
		if ((*c)->secret_file != NULL) {
			secret = read_secret((*c)->secret_file, err, sizeof(err));
			if (secret == NULL) {
				prism_log(PRISM_LOG_CRITICAL, TAG, "auth.tokens '%s': %s",
					  (*c)->name, err);
				return PRISM_ECONFIG;
			}
		}
		int rc = prism_token_hash(secret, strlen(secret), hash);
		if (secret != (*c)->secret)
			free(secret);
		if (rc == 0)
			rc = prism_token_set_add(d->tokens, hash, (*c)->name);
		if (rc != 0) {
			prism_log(PRISM_LOG_CRITICAL, TAG, "auth.tokens '%s': %s", (*c)->name,
				  rc == PRISM_ECONFLICT ? "the same token is listed twice"
							: prism_strerror(rc));
			return PRISM_ECONFIG;
		}
	}
	return 0;
}

/* Names agents may not claim: the operator's list and the zone apex itself. */
static int load_reserved(struct daemon *d)
{
	size_t n = 0;
	for (char **r = d->cfg->auth_reserved_names; r && *r; r++)
		n++;
	d->reserved = calloc(n + 1, sizeof(*d->reserved));
	if (d->reserved == NULL)
		return PRISM_ENOMEM;
	for (size_t i = 0; i < n; i++)
		d->reserved[i] = d->cfg->auth_reserved_names[i];
	snprintf(d->apex, sizeof(d->apex), "%s", d->cfg->powerdns_default_zone);
	size_t len = strlen(d->apex);
	if (len > 1 && d->apex[len - 1] == '.')
		d->apex[len - 1] = '\0';
	d->reserved[n++] = d->apex;
	d->nreserved = n;
	return 0;
}

static int start_liveness(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	struct prism_liveness_opts lopts = {
		.check_interval = cfg->heartbeat_check_interval,
		.remove_dns = strcmp(cfg->heartbeat_offline_dns, "remove") == 0,
		.cleanup_after_days = cfg->heartbeat_cleanup_after_days,
		.changed_cb = changed_cb,
		.changed_arg = d,
	};
	int rc = prism_liveness_start(&d->loop, d->writer, &lopts, &d->liveness);
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, TAG, "cannot start the heartbeat monitor (%s)",
			  prism_strerror(rc));
	return rc;
}

static int start_agent(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	int rc = load_tokens(d);
	if (rc == 0)
		rc = load_reserved(d);
	if (rc != 0)
		return rc;
	size_t nhosts = 0;
	while (cfg->server_host[nhosts] != NULL)
		nhosts++;
	struct prism_agent_server_opts aopts = {
		.hosts = (const char *const *)cfg->server_host,
		.nhosts = nhosts,
		.port = cfg->server_tcp_port,
		.max_connections = cfg->server_max_connections,
		.idle_timeout = cfg->server_idle_timeout,
		.frame_timeout = cfg->server_frame_timeout,
		.offline_after = cfg->heartbeat_interval * cfg->heartbeat_timeout_multiplier +
				 cfg->heartbeat_grace_period,
		.auth_required = cfg->auth_required,
		.tokens = d->tokens,
		.reserved = d->reserved,
		.nreserved = d->nreserved,
		.writer = d->writer,
		.dns = {
			.target = cfg->powerdns_enabled ? TARGET_NAME : NULL,
			.zone = cfg->powerdns_default_zone,
			.ttl = cfg->powerdns_default_ttl,
		},
		.changed_cb = changed_cb,
		.changed_arg = d,
	};
	char err[512] = "";
	rc = prism_agent_server_start(&d->loop, &aopts, &d->agent, err, sizeof(err));
	if (rc != 0)
		prism_log(PRISM_LOG_CRITICAL, TAG, "%s", err);
	else if (!cfg->auth_required)
		prism_log(PRISM_LOG_WARNING, TAG, "auth.required is false: agents without a "
			  "token are accepted");
	return rc;
}

static int start(struct daemon *d)
{
	const struct prism_config *cfg = d->cfg;
	char err[512] = "";
	struct prism_store_opts sopts = {
		.path = cfg->database_path,
		.synchronous_full = strcmp(cfg->database_synchronous, "full") == 0,
	};
	int rc = store_api->open(&sopts, &d->store, err, sizeof(err));
	if (rc != 0) {
		prism_log(PRISM_LOG_CRITICAL, "store", "database.path %s: %s", cfg->database_path,
			  err);
		return rc;
	}
	rc = prism_store_writer_start(&d->loop, store_api, d->store, 512, &d->writer);
	if (rc != 0) {
		prism_log(PRISM_LOG_CRITICAL, "store", "cannot start the writer (%s)",
			  prism_strerror(rc));
		return rc;
	}
	if (cfg->powerdns_enabled && (rc = start_dns(d)) != 0)
		return rc;
	if ((rc = start_agent(d)) != 0 || (rc = start_liveness(d)) != 0)
		return rc;
	uv_signal_start(&d->sigint, signal_cb, SIGINT);
	uv_signal_start(&d->sigterm, signal_cb, SIGTERM);
	prism_log(PRISM_LOG_INFO, TAG,
		  "prismd %s ready: agents on %s%s port %u, registry %s, DNS %s%s%s",
		  PRISM_VERSION, cfg->server_host[0], cfg->server_host[1] ? " (and more)" : "",
		  cfg->server_tcp_port, cfg->database_path,
		  cfg->powerdns_enabled ? "PowerDNS " : "disabled",
		  cfg->powerdns_enabled ? cfg->powerdns_api_url : "",
		  cfg->powerdns_enabled ? "" : " (powerdns.enabled is false)");
	return 0;
}

int prism_daemon_run(const struct prism_config *cfg)
{
	struct daemon d = { .cfg = cfg, .exit_code = 0 };
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		prism_log(PRISM_LOG_CRITICAL, TAG, "cannot initialise libcurl");
		return 1;
	}
	uv_loop_init(&d.loop);
	uv_signal_init(&d.loop, &d.sigint);
	uv_signal_init(&d.loop, &d.sigterm);
	d.sigint.data = d.sigterm.data = &d;
	int rc = start(&d);
	if (rc == 0) {
		uv_run(&d.loop, UV_RUN_DEFAULT);
	} else {
		d.exit_code = 1;
		shutdown_daemon(&d);
	}
	/* let every close callback run */
	uv_run(&d.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&d.loop) != 0)
		prism_log(PRISM_LOG_WARNING, TAG, "loop closed with handles still open");
	store_api->close(d.store);
	prism_token_set_free(d.tokens);
	free(d.reserved);
	free(d.api_key);
	curl_global_cleanup();
	return d.exit_code;
}
