/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for prism_config_parse(): the input is the YAML text, parsed once without
 * an environment and once with a small fixed one. Checks the contract on every input: success
 * exactly when a config comes back, a one-line NUL-terminated message on failure, normalised
 * values on success.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int rc, const struct prism_config *cfg, const char *err, size_t errlen)
{
	if (memchr(err, '\0', errlen) == NULL || strchr(err, '\n') != NULL)
		abort();
	if (rc == 0) {
		size_t zl = strlen(cfg->powerdns_default_zone);
		if (err[0] != '\0' || zl == 0 || cfg->powerdns_default_zone[zl - 1] != '.')
			abort();
		if (cfg->powerdns_record_types == NULL || cfg->powerdns_record_types[0] == NULL)
			abort();
		if (cfg->server_host == NULL || cfg->powerdns_api_url == NULL ||
		    cfg->logging_level == NULL)
			abort();
		return;
	}
	if (cfg != NULL || err[0] == '\0' || (rc != PRISM_ECONFIG && rc != PRISM_ENOMEM))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const envp[] = {
		"HOME=/root",
		"PRISM_SERVER_TCP_PORT=9000",
		"PRISM_POWERDNS_API_KEY=fuzz",
		"PRISM_POWERDNS_RECORD_TYPES=aaaa, A",
		"PRISM_LOGGING_LEVEL=WARN",
		"PRISM_UNRELATED=1",
		NULL,
	};
	struct prism_config *cfg = NULL;
	char err[256];
	int rc;

	memset(err, 'x', sizeof(err));
	rc = prism_config_parse((const char *)data, size, NULL, &cfg, err, sizeof(err));
	check(rc, cfg, err, sizeof(err));
	prism_config_free(cfg);

	cfg = NULL;
	memset(err, 'x', sizeof(err));
	rc = prism_config_parse((const char *)data, size, envp, &cfg, err, sizeof(err));
	check(rc, cfg, err, sizeof(err));
	if (rc == 0 && (cfg->powerdns_api_key == NULL || strcmp(cfg->logging_level, "warning")))
		abort();
	prism_config_free(cfg);
	return 0;
}
