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

/**
 * A named credential from a list like auth.tokens: [{name, token | token_file}]. Exactly one
 * of @c secret (given inline) and @c secret_file is set; the daemon reads the file.
 */
struct prism_config_cred {
	char *name;
	char *secret;
	char *secret_file;
	char *role; /**< for lists with roles; NULL otherwise */
};

/** A TSIG key of an rfc2136 target (targets[].tsig). */
struct prism_config_tsig {
	char *name;	 /**< key name, as the server knows it */
	char *algorithm; /**< hmac-sha1/224/256/384/512; default hmac-sha256 */
	char *secret;	 /**< base64; exactly one of secret and secret_file */
	char *secret_file;
};

/** A DNS server Prism keeps in step (targets: [...]). */
struct prism_config_target {
	char *name;    /**< unique; ledger key ("default" for the powerdns: section) */
	char *type;    /**< "powerdns" (the default) or "rfc2136" */
	char *api_url; /**< PowerDNS API base URL, http(s)://…/api/v1 */
	char *api_key; /**< exactly one of api_key and api_key_file */
	char *api_key_file;
	char *server_id;	 /**< "localhost" */
	char *dns_address;	 /**< "127.0.0.1:53" for DNS probes; NULL = unknown */
	char **zones;		 /**< normalised names of the zones it serves; NULL = all zones */
	bool adopt;		 /**< take over foreign RRsets at names Prism wants */
	bool paused;		 /**< start paused (maintenance) */
	uint32_t max_body_bytes; /**< largest PATCH body; 0 = default (1.5 MiB, under PowerDNS's 2
				    MB) */
	char *group;  /**< cluster group name for API zones (`targets: GROUP`); NULL = none */
	char *server; /**< rfc2136: "192.0.2.53:53" (IP:port) */
	struct prism_config_tsig
		tsig;		 /**< rfc2136: the key updates and transfers are signed with */
	uint32_t rate_limit_qps; /**< most API requests a second (token bucket); 0 = no limit */
	uint32_t
		breaker_threshold; /**< breaker: open after this many failures in a row; 0 = off */
	uint32_t breaker_recovery_seconds; /**< breaker: seconds open before one probe */
};

/** A zone Prism manages on its targets (zones: [...]). */
struct prism_config_zone {
	char *name;	    /**< normalised, trailing dot */
	char **nameservers; /**< normalised FQDNs; default {"ns1.<zone>"} */
	uint32_t ttl;	    /**< default TTL of its records; default powerdns.default_ttl */
	char *soa;	    /**< SOA content when the zone is created; NULL = server default */
	char *kind;	    /**< "Native" (default) or "Master" (NOTIFY after changes) */
	bool dnssec;	    /**< signed on its targets (keys made by the server) */
};

/** Records added to a zone created through the API with `"template": NAME` (zone_templates:). */
struct prism_config_template {
	char *name;	/**< unique */
	char **records; /**< "NAME [TTL] TYPE CONTENT" lines, names relative to the zone,
			 *   '@' = the apex (also in CONTENT); checked at load */
};

/** One parsed configuration. Plain value struct; strings are owned by it. */
struct prism_config {
	/* server: */
	char **server_host;		 /**< NULL-terminated IP literals, default {"0.0.0.0"}; a
					  *   single string or a list ("::" serves IPv4 and IPv6) */
	uint16_t server_tcp_port;	 /**< 8080, 0–65535 (0 = plain agent port off) */
	uint16_t server_api_port;	 /**< 8081, 1–65535 */
	uint32_t server_max_connections; /**< 1000, 1–1000000 */
	uint32_t server_idle_timeout;	 /**< seconds, 30, 1–86400 */
	uint32_t server_frame_timeout;	 /**< seconds to finish a started frame, 10, 1–3600 */
	uint16_t server_tls_port;	 /**< TLS agent port, 0 = off */
	char *server_tls_cert;		 /**< PEM chain for tls_port; NULL = unset */
	char *server_tls_key;		 /**< PEM private key for tls_cert */
	char *server_tls_client_ca;	 /**< PEM CA file for client certificates; NULL = unset */
	char *server_tls_client_cert;	 /**< "none", "optional" or "required" */
	char *server_tls_client_crl;	 /**< PEM CRL file; NULL = unset */
	char *server_instance; /**< instance name in ownership comments; default "prism" */
	/* database: */
	char *database_type;			/**< "sqlite" | "postgresql", default "sqlite" */
	char *database_path;			/**< "./prism.db" */
	char *database_url;			/**< PostgreSQL: libpq URI or key=value, or NULL */
	char *database_url_file;		/**< PostgreSQL: file holding the URL, or NULL */
	uint32_t database_connection_pool_size; /**< seed compatibility (20, 1–1000), unused */
	char *database_synchronous;		/**< "normal" | "full", default "normal" */
	/* heartbeat: */
	uint32_t heartbeat_interval;	       /**< 60 s, 1–86400 */
	uint32_t heartbeat_check_interval;     /**< 30 s, 1–86400 */
	uint32_t heartbeat_timeout_multiplier; /**< 2, 1–100 */
	uint32_t heartbeat_grace_period;       /**< 30 s, 0–86400 */
	uint32_t heartbeat_cleanup_after_days; /**< 30, 0–3650 (0 = never) */
	char *heartbeat_offline_dns;	       /**< "keep" | "remove", default "keep" */
	/* logging: */
	char *logging_level;	       /**< "debug" | "info" | "warning" | "error" | "critical",
					*   default "info"; input in any case, "warn" = "warning";
					*   stored lower-case */
	char *logging_file;	       /**< NULL = stderr */
	uint64_t logging_max_size;     /**< seed compatibility (104857600, 0–2^63-1), unused */
	uint32_t logging_backup_count; /**< seed compatibility (5, 0–1000), unused */
	/* powerdns: */
	bool powerdns_enabled;	/**< false; env PRISM_POWERDNS_ENABLED */
	char *powerdns_api_url; /**< "http://127.0.0.1:8053/api/v1"; env PRISM_POWERDNS_API_URL */
	char *powerdns_api_key; /**< NULL = unset; env PRISM_POWERDNS_API_KEY */
	char *powerdns_api_key_file; /**< alternative to api_key (not both): read by the daemon */
	char *powerdns_server_id;    /**< "localhost" */
	char *powerdns_default_zone; /**< normalised, trailing dot: "managed.prism.local." */
	uint32_t powerdns_default_ttl; /**< 300, 1–2147483647; env PRISM_POWERDNS_DEFAULT_TTL */
	double powerdns_timeout;       /**< seconds, 5, 0.1–600 */
	uint32_t powerdns_retry_attempts; /**< 3, 0–100 (attempts before backing off longer) */
	double powerdns_retry_delay;	  /**< seconds, 1, 0.01–3600 (first backoff step) */
	uint32_t powerdns_rate_limit_qps; /**< 0 = none; default of targets[].rate_limit_qps */
	uint32_t powerdns_breaker_threshold;	    /**< 0 = off; default of targets[].breaker */
	uint32_t powerdns_breaker_recovery_seconds; /**< 30 */
	char **powerdns_record_types; /**< NULL-terminated, non-empty, each "A" or "AAAA"
				       *   (input in any case); default {"A","AAAA"} */
	bool powerdns_auto_ptr;	      /**< false */
	/* auth: */
	bool auth_required;		/**< true: registrations need a valid token */
	uint32_t auth_failure_delay_ms; /**< ms an agent connection waits after an auth failure */
	struct prism_config_cred **auth_tokens; /**< NULL-terminated, or NULL for none */
	char **auth_reserved_names; /**< lower-cased names no source may claim; may be NULL */
	/* api: */
	struct prism_config_cred **api_keys; /**< {name, key | key_file, role}; NULL = none */
	bool api_public_health;		     /**< true: /api/health needs no key */
	bool api_public_metrics;	     /**< false: /metrics needs a key */
	char *api_tls_cert;		     /**< PEM certificate file; NULL = plain HTTP */
	char *api_target_key_dir; /**< run-time targets' api_key_file lives here; NULL: refused */
	char *api_tls_key;	  /**< PEM private key file, with tls_cert */
	uint32_t api_max_body;	  /**< largest request body, bytes (1048576) */
	uint32_t api_header_timeout;	     /**< seconds to receive a whole request head (10) */
	uint32_t api_max_connections_per_ip; /**< API connections per client address (64) */
	/* sync: */
	uint32_t sync_reconcile_interval; /**< seconds between reconciler passes (300; 0 = off) */
	uint32_t sync_batch_max;	  /**< most RRsets per change request (1000) */
	uint32_t sync_coalesce_ms;     /**< wait after a wake so a burst becomes one batch (2) */
	uint32_t sync_retry_max;       /**< backoff cap, seconds (60) */
	uint32_t sync_health_interval; /**< seconds between target health checks (30; 0 = off) */
	char *sync_owner_id;	       /**< names this deployment in ownership marks ("prism") */
	/* health: */
	uint32_t health_response_time_ms; /**< slower API answers: degraded (0 = off) */
	/* ha: several instances on one PostgreSQL registry */
	char *ha_instance_id;	   /**< NULL = hostname:agent port (prism_ha_default_id) */
	uint32_t ha_lease_seconds; /**< 9: a dead holder's claims pass to a survivor then */
	/* kea.ncr: Kea's NameChangeRequests (UDP) */
	bool kea_ncr_enabled;	  /**< false */
	char *kea_ncr_listen;	  /**< "127.0.0.1:53001"; validated address:port */
	uint32_t kea_ncr_ttl_min; /**< 60: lease-length below this is raised to it */
	uint32_t kea_ncr_ttl_max; /**< 3600: and above this lowered to it */
	/* kea.reservations: Kea's host reservations in PostgreSQL */
	bool kea_reservations_enabled;
	char *kea_reservations_conninfo; /**< libpq connection string; NULL = none */
	char *kea_reservations_host;	 /**< parts: NULL = not given */
	uint32_t kea_reservations_port;	 /**< 0 = not given */
	char *kea_reservations_dbname;
	char *kea_reservations_user;
	char *kea_reservations_password_file; /**< not with password_env */
	char *kea_reservations_password_env;
	char *kea_reservations_channel;		 /**< SQL identifier, "prism_kea_hosts" */
	char *kea_reservations_zone;		 /**< normalised; default powerdns.default_zone */
	char **kea_reservations_filter;		 /**< globs, NULL-terminated; empty/NULL = any */
	char *kea_reservations_filter_regex;	 /**< compiles as a POSIX ERE; NULL = none */
	uint32_t kea_reservations_ttl;		 /**< 600 */
	uint32_t kea_reservations_reconnect_max; /**< seconds, 30 */
	uint32_t kea_reservations_resync_interval; /**< seconds, 0 = none */
	/* kea.leases: Kea's memfile lease file */
	char *kea_leases_file; /**< NULL = off */
	char *kea_leases_zone; /**< normalised; default powerdns.default_zone */
	char **kea_leases_filter;
	char *kea_leases_filter_regex;
	uint32_t kea_leases_ttl;	   /**< 300 */
	uint32_t kea_leases_poll_interval; /**< ms, 1000 */
	/*
	 * Top-level lists, not in the option table (no environment overrides). After a
	 * successful parse both are non-NULL: without `zones:` there is one zone, default_zone;
	 * without `targets:` and with powerdns.enabled there is one target "default" built from
	 * the powerdns: section (an empty list when DNS is disabled).
	 */
	struct prism_config_target **targets;	       /**< NULL-terminated */
	struct prism_config_zone **zones;	       /**< NULL-terminated, at least one */
	struct prism_config_template **zone_templates; /**< NULL-terminated, or NULL for none */
};

/**
 * Parse YAML text into a new config. Every option not given takes its default; environment
 * overrides (PRISM_<SECTION>_<KEY>, e.g. PRISM_POWERDNS_API_URL, PRISM_SERVER_TCP_PORT) are
 * applied after the file and validated like file values. Unknown keys are errors naming the
 * key and line ("unknown key 'powerdns.apiurl' (line 12)").
 *
 * Values: a key with no value (null) or a section with no keys keeps the defaults; an empty
 * string unsets an option without a default (api_key, api_key_file, logging.file) and is an
 * error for the others. Integers are decimal digits only; booleans are true/false/yes/no/
 * on/off in any case (the environment also takes 1/0); lists are YAML sequences, or
 * comma-separated in the environment ("A,AAAA"). Unknown PRISM_* variables are ignored.
 * After file and environment: default_zone is normalised, api_url must be http(s)://,
 * enabled needs api_key or api_key_file (not both), tcp_port and api_port must differ.
 * Only one YAML document, nested at most 16 levels deep, is accepted.
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

/** The TTL of agents' records: the default zone's own TTL, else powerdns.default_ttl. */
uint32_t prism_config_agent_ttl(const struct prism_config *cfg);

/** powerdns.record_types lists @p type ("A", "AAAA"). */
bool prism_config_has_record_type(const struct prism_config *cfg, const char *type);

/** Seconds without a heartbeat after which an agent's host goes offline:
 *  interval × timeout_multiplier + grace_period. */
uint32_t prism_config_offline_after(const struct prism_config *cfg);

/** Description of one option, for --help style listings and docs. */
struct prism_config_opt_info {
	const char *key;  /**< "powerdns.api_url" */
	const char *type; /**< "string", "int", "bool", "float", "list", "enum", "strings",
			   *   "credentials" */
	const char *def;  /**< default as text, "" if none */
	const char *env;  /**< environment override name: "PRISM_" + upper(key), '.' → '_' */
	const char *help; /**< one line */
	bool reload;	  /**< true: SIGHUP applies a change; false: only a restart does */
};

/** The option table: @p n receives the number of rows. */
const struct prism_config_opt_info *prism_config_options(size_t *n);

/**
 * Split "192.0.2.1:53001" or "[2001:db8::1]:53001" into an address literal and a port
 * (kea.ncr.listen). @return 0, PRISM_ECONFIG (not that form, port 0 or over 65535, not an
 * address), PRISM_EINVAL
 */
int prism_config_hostport(const char *s, char *host, size_t hostlen, uint16_t *port);

/** Room for prism_config_target_check's message. */
#define PRISM_TARGET_WHY_MAX 256

/**
 * The checks every PowerDNS or rfc2136 target's fields pass, whoever gives them (the
 * targets: list, POST or PATCH /api/v1/targets): a PowerDNS target's api_url (http:// or
 * https://, any case, and more after it) and exactly one of api_key and api_key_file; a
 * dns_address of IP:port; zones (normalised names) among @p cfg's zones. What only one
 * source checks (type-specific fields of the file, key files of the API) is not here.
 * @param where the message's prefix ("targets[2]" gives "targets[2].api_url: ..."), or
 *        NULL/"" for none ("api_url: ...")
 * @return 0, PRISM_ECONFIG (@p why says what is wrong; PRISM_TARGET_WHY_MAX is room for
 *         it), PRISM_EINVAL (a NULL argument)
 */
int prism_config_target_check(const struct prism_config *cfg, const struct prism_config_target *t,
			      const char *where, char *why, size_t len);

/**
 * Whether option row @p i has the same value in @p a and @p b (strings, lists and
 * credentials compared by content). @return false also for NULL configs or a bad @p i
 */
bool prism_config_option_same(const struct prism_config *a, const struct prism_config *b,
			      size_t i);

/** Bounds or choices of option row @p i as text ("1–65535", "keep, remove"), "" if none. */
void prism_config_option_bounds(size_t i, char *buf, size_t len);
