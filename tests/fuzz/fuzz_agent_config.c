/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for src/core/agent_config.c. The input is parsed as agent YAML, once
 * without an environment and once with a small fixed one, and also fed (up to its first NUL)
 * to the hostname sanitiser and the fallback-name builder. Checked on every input: success
 * exactly when a config comes back, a one-line NUL-terminated message on failure, values within
 * their bounds; a sanitised name passes prism_hostname_check() and sanitising it again changes
 * nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent_config.h"
#include "core/agent_msg.h"
#include "core/dname.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, const struct prism_agent_config *cfg, const char *err, size_t errlen)
{
	if (memchr(err, '\0', errlen) == NULL || strchr(err, '\n') != NULL)
		abort();
	if (rc != 0) {
		if (cfg != NULL || err[0] == '\0' || (rc != PRISM_ECONFIG && rc != PRISM_ENOMEM))
			abort();
		return;
	}
	if (err[0] != '\0' || cfg->server_port == 0)
		abort();
	if (!(cfg->server_timeout >= 0.1 && cfg->server_timeout <= 3600))
		abort();
	if (cfg->heartbeat_interval < 1 || cfg->heartbeat_interval > 86400)
		abort();
	if ((int)cfg->logging_level < 0 || cfg->logging_level > PRISM_AGENT_LOG_CRITICAL)
		abort();
	if (cfg->server_auth_token != NULL &&
	    (cfg->server_auth_token_file != NULL || cfg->server_auth_token[0] == '\0' ||
	     strlen(cfg->server_auth_token) > PRISM_TOKEN_MAX))
		abort();
	if (cfg->server_host != NULL &&
	    (cfg->server_host[0] == '[' || strchr(cfg->server_host, ' ') != NULL))
		abort();
}

static void check_names(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1);
	char out[PRISM_HOSTNAME_MAX + 1], again[PRISM_HOSTNAME_MAX + 1], fb[32];
	int rc;

	if (in == NULL)
		return;
	memcpy(in, data, size);
	in[size] = '\0';
	rc = prism_hostname_sanitize(in, out, sizeof(out));
	if (rc == 0) {
		if (prism_hostname_check(out, strlen(out), NULL, 0) != 0)
			abort();
		if (prism_hostname_sanitize(out, again, sizeof(again)) != 0 ||
		    strcmp(out, again) != 0)
			abort();
	} else if (rc != PRISM_EMSG || out[0] != '\0') {
		abort();
	}
	if (prism_agent_fallback_name(in, fb, sizeof(fb)) != 0 ||
	    prism_hostname_check(fb, strlen(fb), NULL, 0) != 0)
		abort();
	free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const envp[] = {
		"HOME=/root",
		"PRISM_AGENT_SERVER_PORT=9000",
		"PRISM_AGENT_LOGGING_LEVEL=WARN",
		"PRISM_AUTH_TOKEN=fuzz-token",
		"PRISM_UNRELATED=1",
		NULL,
	};
	struct prism_agent_config *cfg = NULL;
	char err[256];
	int rc;

	memset(err, 'x', sizeof(err));
	rc = prism_agent_config_parse((const char *)data, size, NULL, &cfg, err, sizeof(err));
	check(rc, cfg, err, sizeof(err));
	prism_agent_config_free(cfg);

	cfg = NULL;
	memset(err, 'x', sizeof(err));
	rc = prism_agent_config_parse((const char *)data, size, envp, &cfg, err, sizeof(err));
	check(rc, cfg, err, sizeof(err));
	if (rc == 0 &&
	    (cfg->server_port != 9000 || cfg->logging_level != PRISM_AGENT_LOG_WARNING ||
	     (cfg->server_auth_token == NULL && cfg->server_auth_token_file == NULL)))
		abort();
	prism_agent_config_free(cfg);

	check_names(data, size);
	return 0;
}
