/* SPDX-License-Identifier: MIT */
/**
 * @file config.h
 * server.yaml: one table of options (name, type, bounds, default, environment override),
 * parsed from a buffer into a new config snapshot, validated in full, errors naming the key
 * and line. Pure: no file or environment access — the caller passes the text and the
 * environment (envp-style "KEY=VALUE" strings).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** One parsed configuration. Plain value struct; strings are owned by it. */
struct prism_config {
	/* server: */
	char *server_host;          /**< "0.0.0.0"; listen address of agent and API ports */
	uint16_t server_tcp_port;   /**< 8080, 1–65535 */
	uint16_t server_api_port;   /**< 8081, 1–65535 */
	uint32_t server_max_connections; /**< 1000, 1–1000000 */
	uint32_t server_idle_timeout;    /**< seconds, 30, 1–86400 */
	uint32_t server_frame_timeout;   /**< seconds to finish a started frame, 10, 1–3600 */
	char *server_instance;      /**< instance name in ownership comments; default "prism" */
	/* database: */
	char *database_path;        /**< "./prism.db" */
	uint32_t database_connection_pool_size; /**< accepted for seed compatibility (20), unused */
	char *database_synchronous; /**< "normal" | "full", default "normal" */
	/* heartbeat: */
	uint32_t heartbeat_interval;           /**< 60 s, 1–86400 */
	uint32_t heartbeat_check_interval;     /**< 30 s, 1–86400 */
	uint32_t heartbeat_timeout_multiplier; /**< 2, 1–100 */
	uint32_t heartbeat_grace_period;       /**< 30 s, 0–86400 */
	uint32_t heartbeat_cleanup_after_days; /**< 30, 0–3650 (0 = never) */
	char *heartbeat_offline_dns;           /**< "keep" | "remove", default "keep" */
	/* logging: */
	char *logging_level;        /**< "debug" | "info" | "warning" | "error" (any case), "info" */
	char *logging_file;         /**< NULL = stderr */
	uint64_t logging_max_size;  /**< accepted for seed compatibility */
	uint32_t logging_backup_count; /**< accepted for seed compatibility */
	/* powerdns: */
	bool powerdns_enabled;      /**< false; env PRISM_POWERDNS_ENABLED */
	char *powerdns_api_url;     /**< "http://127.0.0.1:8053/api/v1"; env PRISM_POWERDNS_API_URL */
	char *powerdns_api_key;     /**< env PRISM_POWERDNS_API_KEY */
	char *powerdns_api_key_file;/**< alternative to api_key: read by the daemon */
	char *powerdns_server_id;   /**< "localhost" */
	char *powerdns_default_zone;/**< normalised, trailing dot: "managed.prism.local." */
	uint32_t powerdns_default_ttl; /**< 300, 1–2147483647; env PRISM_POWERDNS_DEFAULT_TTL */
	double powerdns_timeout;    /**< seconds, 5, 0.1–600 */
	uint32_t powerdns_retry_attempts; /**< 3, 0–100 (attempts before backing off longer) */
	double powerdns_retry_delay;/**< seconds, 1, 0.01–3600 (first backoff step) */
	char **powerdns_record_types; /**< NULL-terminated; default {"A","AAAA"} */
	bool powerdns_auto_ptr;     /**< false */
};

/**
 * Parse YAML text into a new config. Every option not given takes its default; environment
 * overrides (PRISM_<SECTION>_<KEY>, e.g. PRISM_POWERDNS_API_URL, PRISM_SERVER_TCP_PORT) are
 * applied after the file and validated like file values. Unknown keys are errors naming the
 * key and line ("unknown key 'powerdns.apiurl' (line 12)").
 *
 * @param yaml   text, need not be NUL-terminated; len 0 = empty file = all defaults
 * @param envp   NULL-terminated "KEY=VALUE" array, or NULL for none
 * @param[out] out  new config; caller frees with prism_config_free()
 * @param[out] err  on failure, one line naming the key and line, e.g.
 *                  "server.tcp_port: must be an integer between 1 and 65535 (line 3)" or
 *                  "PRISM_POWERDNS_DEFAULT_TTL: must be an integer ... (environment)"
 * @return 0, PRISM_ECONFIG, PRISM_ENOMEM, PRISM_EINVAL
 */
int prism_config_parse(const char *yaml, size_t len, const char *const *envp,
		       struct prism_config **out, char *err, size_t errlen);

/** A config with every default (no file, no environment). NULL on out of memory. */
struct prism_config *prism_config_defaults(void);

/** Free a config. NULL is a no-op. */
void prism_config_free(struct prism_config *cfg);

/** Description of one option, for --help style listings and docs. */
struct prism_config_opt_info {
	const char *key;     /**< "powerdns.api_url" */
	const char *type;    /**< "string", "int", "bool", "float", "list" */
	const char *def;     /**< default as text, "" if none */
	const char *env;     /**< environment override name */
	const char *help;    /**< one line */
};

/** The option table: @p n receives the number of rows. */
const struct prism_config_opt_info *prism_config_options(size_t *n);
