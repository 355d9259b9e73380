/* SPDX-License-Identifier: MIT */
/*
 * server.yaml parsing.
 *
 * Every option is one row of OPTIONS() below: section, name, type, bounds, choices, default,
 * environment variable and help text. The list is expanded three times: into the parse table
 * (offset and size of the struct field are derived from "section_name"), into the public
 * prism_config_options() table, and into compile-time checks that each row's type matches its
 * field and that integer bounds fit the field. Defaults are stored as text and go through the
 * same setter as environment values, so a default can never disagree with the parser.
 *
 * A parse builds a fresh config: defaults, then the YAML document (libyaml's document API),
 * then the environment, then cross-field validation. Any error frees the whole snapshot.
 * Each option remembers where its value came from (default, file line, environment) so that
 * validation errors can point at the line or the variable. The pipeline, the scalar types and
 * the walk over sections are the engine shared with agent_config.c (yamlutil.h); this file
 * adds its own types (lists, enums, credentials), the targets: and zones: lists, validation.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <regex.h>

#include "core/config.h"
#include "core/dname.h"
#include "core/dnsupdate.h"
#include "core/error.h"
#include "core/ha.h"
#include "core/rr_validate.h"
#include "core/strv.h"
#include "core/yamlutil.h"

/*
 * OPT_STRS: a list of strings that also takes one plain string (server.host: "::"), may be
 * empty, comma-separated in the environment. OPT_CREDS: a list of mappings {name, <secret>,
 * <secret>_file[, role]} where <secret> is the option name without its plural 's'
 * (auth.tokens → token); in the environment "name:secret,name:secret".
 */
enum {
	OPT_STR = PRISM_YAML_STR,
	OPT_INT = PRISM_YAML_INT,
	OPT_BOOL = PRISM_YAML_BOOL,
	OPT_FLOAT = PRISM_YAML_FLOAT,
	OPT_LIST = PRISM_YAML_CUSTOM,
	OPT_ENUM,
	OPT_STRS,
	OPT_CREDS,
};

/* clang-format off */
static const struct prism_yaml_choice level_choices[] = {
	{ "debug", "debug" }, { "info", "info" }, { "warning", "warning" },
	{ "warn", "warning" }, { "error", "error" }, { "critical", "critical" },
	{ NULL, NULL },
};
static const struct prism_yaml_choice db_type_choices[] = {
	{ "sqlite", "sqlite" }, { "postgresql", "postgresql" }, { NULL, NULL },
};
static const struct prism_yaml_choice sync_choices[] = {
	{ "normal", "normal" }, { "full", "full" }, { NULL, NULL },
};
static const struct prism_yaml_choice offline_choices[] = {
	{ "keep", "keep" }, { "remove", "remove" }, { NULL, NULL },
};
static const struct prism_yaml_choice role_choices[] = {
	{ "read", "read" }, { "write", "write" }, { "admin", "admin" }, { NULL, NULL },
};
static const struct prism_yaml_choice client_cert_choices[] = {
	{ "none", "none" }, { "optional", "optional" }, { "required", "required" },
	{ NULL, NULL },
};
static const struct prism_yaml_choice rrtype_choices[] = {
	{ "A", "A" }, { "AAAA", "AAAA" }, { NULL, NULL },
};
/* clang-format on */

/*
 * X(section, name, type, min, max, choices, default, env, help, reload)
 * reload: LIVE (a SIGHUP applies it) or RESTART (a SIGHUP that changes it logs the key).
 * The row order is the struct order and the order of prism_config_options().
 */
#define OPTIONS(X)                                                                                \
	X(server, host, STRS, 0, 0, NULL, "0.0.0.0", "PRISM_SERVER_HOST",                         \
	  "listen addresses (IP literals) of the agent and API ports; one or a list", RESTART)    \
	X(server, tcp_port, INT, 0, 65535, NULL, "8080", "PRISM_SERVER_TCP_PORT",                 \
	  "agent protocol TCP port (plain); 0 = off", RESTART)                                    \
	X(server, api_port, INT, 1, 65535, NULL, "8081", "PRISM_SERVER_API_PORT",                 \
	  "REST API port", RESTART)                                                               \
	X(server, max_connections, INT, 1, 1000000, NULL, "1000", "PRISM_SERVER_MAX_CONNECTIONS", \
	  "most agent connections open at once", LIVE)                                            \
	X(server, idle_timeout, INT, 1, 86400, NULL, "30", "PRISM_SERVER_IDLE_TIMEOUT",           \
	  "seconds an agent connection may stay silent", LIVE)                                    \
	X(server, frame_timeout, INT, 1, 3600, NULL, "10", "PRISM_SERVER_FRAME_TIMEOUT",          \
	  "seconds to finish a frame once it has started", LIVE)                                  \
	X(server, tls_port, INT, 0, 65535, NULL, "0", "PRISM_SERVER_TLS_PORT",                    \
	  "agent protocol TLS port; 0 = off", RESTART)                                            \
	X(server, tls_cert, STR, 0, 0, NULL, "", "PRISM_SERVER_TLS_CERT",                         \
	  "PEM certificate chain of the TLS agent port (re-read on SIGHUP)", LIVE)                \
	X(server, tls_key, STR, 0, 0, NULL, "", "PRISM_SERVER_TLS_KEY",                           \
	  "PEM private key of tls_cert (re-read on SIGHUP)", LIVE)                                \
	X(server, tls_client_ca, STR, 0, 0, NULL, "", "PRISM_SERVER_TLS_CLIENT_CA",               \
	  "PEM CA certificates that sign agents' client certificates", LIVE)                      \
	X(server, tls_client_cert, ENUM, 0, 0, client_cert_choices, "none",                       \
	  "PRISM_SERVER_TLS_CLIENT_CERT", "client certificates: none, optional or required",      \
	  LIVE)                                                                                   \
	X(server, tls_client_crl, STR, 0, 0, NULL, "", "PRISM_SERVER_TLS_CLIENT_CRL",             \
	  "PEM CRL file checked against client certificates (re-read on SIGHUP)", LIVE)           \
	X(server, instance, STR, 0, 0, NULL, "prism", "PRISM_SERVER_INSTANCE",                    \
	  "instance name written in ownership comments", RESTART)                                 \
	X(database, type, ENUM, 0, 0, db_type_choices, "sqlite", "PRISM_DATABASE_TYPE",           \
	  "registry backend: sqlite or postgresql", RESTART)                                      \
	X(database, path, STR, 0, 0, NULL, "./prism.db", "PRISM_DATABASE_PATH",                   \
	  "SQLite registry file", RESTART)                                                        \
	X(database, url, STR, 0, 0, NULL, "", "PRISM_DATABASE_URL",                               \
	  "PostgreSQL registry: libpq URI or key=value string (may hold the password)", RESTART)  \
	X(database, url_file, STR, 0, 0, NULL, "", "PRISM_DATABASE_URL_FILE",                     \
	  "file holding database.url (keeps the password out of the config)", RESTART)            \
	X(database, connection_pool_size, INT, 1, 1000, NULL, "20",                               \
	  "PRISM_DATABASE_CONNECTION_POOL_SIZE", "accepted for compatibility; unused", RESTART)   \
	X(database, synchronous, ENUM, 0, 0, sync_choices, "normal",                              \
	  "PRISM_DATABASE_SYNCHRONOUS", "SQLite synchronous mode: normal or full", RESTART)       \
	X(heartbeat, interval, INT, 1, 86400, NULL, "60", "PRISM_HEARTBEAT_INTERVAL",             \
	  "seconds between heartbeats asked of agents", LIVE)                                     \
	X(heartbeat, check_interval, INT, 1, 86400, NULL, "30", "PRISM_HEARTBEAT_CHECK_INTERVAL", \
	  "seconds between checks for silent hosts", LIVE)                                        \
	X(heartbeat, timeout_multiplier, INT, 1, 100, NULL, "2",                                  \
	  "PRISM_HEARTBEAT_TIMEOUT_MULTIPLIER", "missed intervals before a host is offline",      \
	  LIVE)                                                                                   \
	X(heartbeat, grace_period, INT, 0, 86400, NULL, "30", "PRISM_HEARTBEAT_GRACE_PERIOD",     \
	  "extra seconds before a host is marked offline", LIVE)                                  \
	X(heartbeat, cleanup_after_days, INT, 0, 3650, NULL, "30",                                \
	  "PRISM_HEARTBEAT_CLEANUP_AFTER_DAYS", "days to keep offline hosts (0 = forever)", LIVE) \
	X(heartbeat, offline_dns, ENUM, 0, 0, offline_choices, "keep",                            \
	  "PRISM_HEARTBEAT_OFFLINE_DNS", "records of offline hosts: keep or remove", LIVE)        \
	X(logging, level, ENUM, 0, 0, level_choices, "info", "PRISM_LOGGING_LEVEL",               \
	  "debug, info, warning, error or critical", LIVE)                                        \
	X(logging, file, STR, 0, 0, NULL, "", "PRISM_LOGGING_FILE",                               \
	  "log file; unset = standard error", LIVE)                                               \
	X(logging, max_size, INT, 0, 9223372036854775807u, NULL, "104857600",                     \
	  "PRISM_LOGGING_MAX_SIZE", "accepted for compatibility", LIVE)                           \
	X(logging, backup_count, INT, 0, 1000, NULL, "5", "PRISM_LOGGING_BACKUP_COUNT",           \
	  "accepted for compatibility", LIVE)                                                     \
	X(powerdns, enabled, BOOL, 0, 0, NULL, "false", "PRISM_POWERDNS_ENABLED",                 \
	  "push records to PowerDNS", RESTART)                                                    \
	X(powerdns, api_url, STR, 0, 0, NULL, "http://127.0.0.1:8053/api/v1",                     \
	  "PRISM_POWERDNS_API_URL", "PowerDNS HTTP API base URL", RESTART)                        \
	X(powerdns, api_key, STR, 0, 0, NULL, "", "PRISM_POWERDNS_API_KEY",                       \
	  "PowerDNS API key (X-API-Key)", LIVE)                                                   \
	X(powerdns, api_key_file, STR, 0, 0, NULL, "", "PRISM_POWERDNS_API_KEY_FILE",             \
	  "file holding the PowerDNS API key, instead of api_key (read again on SIGHUP)", LIVE)   \
	X(powerdns, server_id, STR, 0, 0, NULL, "localhost", "PRISM_POWERDNS_SERVER_ID",          \
	  "PowerDNS server id in API paths", RESTART)                                             \
	X(powerdns, default_zone, STR, 0, 0, NULL, "managed.prism.local.",                        \
	  "PRISM_POWERDNS_DEFAULT_ZONE", "zone for hosts registered without one", RESTART)        \
	X(powerdns, default_ttl, INT, 1, 2147483647, NULL, "300", "PRISM_POWERDNS_DEFAULT_TTL",   \
	  "TTL of created records, seconds", RESTART)                                             \
	X(powerdns, timeout, FLOAT, 0.1, 600, NULL, "5", "PRISM_POWERDNS_TIMEOUT",                \
	  "seconds per PowerDNS API request", RESTART)                                            \
	X(powerdns, retry_attempts, INT, 0, 100, NULL, "3", "PRISM_POWERDNS_RETRY_ATTEMPTS",      \
	  "quick retries of a failed request (after 0.1 s, 0.2 s, ...) before backing off",       \
	  RESTART)                                                                                \
	X(powerdns, retry_delay, FLOAT, 0.01, 3600, NULL, "1", "PRISM_POWERDNS_RETRY_DELAY",      \
	  "seconds of the first backoff step", LIVE)                                              \
	X(powerdns, rate_limit_qps, INT, 0, 1000000, NULL, "0", "PRISM_POWERDNS_RATE_LIMIT_QPS",  \
	  "most API requests a second to each target without its own (0 = no limit)", RESTART)    \
	X(powerdns, breaker_threshold, INT, 0, 1000000, NULL, "0",                                \
	  "PRISM_POWERDNS_BREAKER_THRESHOLD",                                                     \
	  "failed requests in a row that open a target's circuit breaker (0 = off)", RESTART)     \
	X(powerdns, breaker_recovery_seconds, INT, 1, 86400, NULL, "30",                          \
	  "PRISM_POWERDNS_BREAKER_RECOVERY_SECONDS",                                              \
	  "seconds a circuit breaker stays open before one probe request", RESTART)               \
	X(powerdns, record_types, LIST, 0, 0, rrtype_choices, "A,AAAA",                           \
	  "PRISM_POWERDNS_RECORD_TYPES", "record types to publish: A, AAAA", RESTART)             \
	X(powerdns, auto_ptr, BOOL, 0, 0, NULL, "false", "PRISM_POWERDNS_AUTO_PTR",               \
	  "also manage PTR records", RESTART)                                                     \
	X(auth, required, BOOL, 0, 0, NULL, "true", "PRISM_AUTH_REQUIRED",                        \
	  "agents must send a valid auth_token", LIVE)                                            \
	X(auth, failure_delay_ms, INT, 0, 60000, NULL, "250", "PRISM_AUTH_FAILURE_DELAY_MS",      \
	  "after an authentication failure an agent connection is not read for this long", LIVE)  \
	X(auth, tokens, CREDS, 0, 0, NULL, "", "PRISM_AUTH_TOKENS",                               \
	  "agent tokens: list of {name, token | token_file}", LIVE)                               \
	X(auth, reserved_names, STRS, 0, 0, NULL, "", "PRISM_AUTH_RESERVED_NAMES",                \
	  "names no source may claim (besides apex, ns/nsN, nameservers)", LIVE)                  \
	X(api, keys, CREDS, 0, 0, role_choices, "", "PRISM_API_KEYS",                             \
	  "REST API keys: list of {name, key | key_file, role: read|write|admin}", LIVE)          \
	X(api, public_health, BOOL, 0, 0, NULL, "true", "PRISM_API_PUBLIC_HEALTH",                \
	  "serve /api/health without a key", RESTART)                                             \
	X(api, public_metrics, BOOL, 0, 0, NULL, "false", "PRISM_API_PUBLIC_METRICS",             \
	  "serve /metrics without a key", RESTART)                                                \
	X(api, tls_cert, STR, 0, 0, NULL, "", "PRISM_API_TLS_CERT",                               \
	  "PEM certificate file: serve the API over HTTPS", RESTART)                              \
	X(api, tls_key, STR, 0, 0, NULL, "", "PRISM_API_TLS_KEY",                                 \
	  "PEM private key file for tls_cert", RESTART)                                           \
	X(api, target_key_dir, STR, 0, 0, NULL, "", "PRISM_API_TARGET_KEY_DIR",                   \
	  "directory whose files targets added through the API may name in api_key_file "         \
	  "(empty: api_key_file is refused there)",                                               \
	  RESTART)                                                                                \
	X(api, max_body, INT, 1024, 67108864, NULL, "1048576", "PRISM_API_MAX_BODY",              \
	  "largest accepted request body, bytes", RESTART)                                        \
	X(api, header_timeout, INT, 1, 3600, NULL, "10", "PRISM_API_HEADER_TIMEOUT",              \
	  "seconds a client has to send a whole request head (from connect or its last answer)",  \
	  RESTART)                                                                                \
	X(api, max_connections_per_ip, INT, 1, 4096, NULL, "64",                                  \
	  "PRISM_API_MAX_CONNECTIONS_PER_IP",                                                     \
	  "most API connections from one client address (the total stays 4096)", RESTART)         \
	X(sync, reconcile_interval, INT, 0, 604800, NULL, "300", "PRISM_SYNC_RECONCILE_INTERVAL", \
	  "seconds between reconciler passes over every zone and target (0 = off)", LIVE)         \
	X(sync, batch_max, INT, 1, 20000, NULL, "5000", "PRISM_SYNC_BATCH_MAX",                   \
	  "most RRsets in one change request", LIVE)                                              \
	X(sync, coalesce_ms, INT, 0, 10000, NULL, "2", "PRISM_SYNC_COALESCE_MS",                  \
	  "milliseconds to wait after a change so a burst becomes one request", LIVE)             \
	X(sync, retry_max, INT, 1, 86400, NULL, "60", "PRISM_SYNC_RETRY_MAX",                     \
	  "longest backoff between retries of a failing target, seconds", LIVE)                   \
	X(sync, health_interval, INT, 0, 86400, NULL, "30", "PRISM_SYNC_HEALTH_INTERVAL",         \
	  "seconds between health checks of every target (0 = off)", RESTART)                     \
	X(sync, owner_id, STR, 0, 0, NULL, "prism", "PRISM_SYNC_OWNER_ID",                        \
	  "names this deployment in every ownership mark; deployments sharing a zone need "       \
	  "different ids",                                                                        \
	  RESTART)                                                                                \
	X(health, response_time_ms, INT, 0, 600000, NULL, "0", "PRISM_HEALTH_RESPONSE_TIME_MS",   \
	  "a target whose API answers a health check slower than this is degraded (0 = off)",     \
	  RESTART)                                                                                \
	X(ha, instance_id, STR, 0, 0, NULL, "", "PRISM_HA_INSTANCE_ID",                           \
	  "this instance among several on one PostgreSQL registry (unset = hostname:agent port)", \
	  RESTART)                                                                                \
	X(ha, lease_seconds, INT, 3, 10, NULL, "9", "PRISM_HA_LEASE_SECONDS",                     \
	  "seconds a claim outlives its holder's last renewal; a survivor takes it then",         \
	  RESTART)

/*
 * Y(section, subsection, name, type, min, max, choices, default, env, help, reload): options
 * of a nested section (kea.ncr.enabled); the field is section_subsection_name.
 */
#define OPTIONS_NESTED(Y)                                                                         \
	Y(kea, ncr, enabled, BOOL, 0, 0, NULL, "false", "PRISM_KEA_NCR_ENABLED",                  \
	  "listen for Kea's NameChangeRequests (kea-dhcp4/6 dhcp-ddns)", RESTART)                 \
	Y(kea, ncr, listen, STR, 0, 0, NULL, "127.0.0.1:53001", "PRISM_KEA_NCR_LISTEN",           \
	  "UDP address:port of the NameChangeRequest listener ([::1]:53001 for IPv6)", RESTART)   \
	Y(kea, ncr, ttl_min, INT, 1, 2147483647, NULL, "60", "PRISM_KEA_NCR_TTL_MIN",             \
	  "lowest TTL taken from a request's lease-length, seconds", RESTART)                     \
	Y(kea, ncr, ttl_max, INT, 1, 2147483647, NULL, "3600", "PRISM_KEA_NCR_TTL_MAX",           \
	  "highest TTL taken from a request's lease-length, seconds", RESTART)                    \
	Y(kea, reservations, enabled, BOOL, 0, 0, NULL, "false",                                  \
	  "PRISM_KEA_RESERVATIONS_ENABLED",                                                       \
	  "follow Kea's host reservations in PostgreSQL (LISTEN/NOTIFY)", RESTART)                \
	Y(kea, reservations, conninfo, STR, 0, 0, NULL, "", "PRISM_KEA_RESERVATIONS_CONNINFO",    \
	  "libpq connection string (postgresql://... or key=value); the parts below override it", \
	  RESTART)                                                                                \
	Y(kea, reservations, host, STR, 0, 0, NULL, "", "PRISM_KEA_RESERVATIONS_HOST",            \
	  "PostgreSQL host, or the directory of its Unix socket", RESTART)                        \
	Y(kea, reservations, port, INT, 0, 65535, NULL, "0", "PRISM_KEA_RESERVATIONS_PORT",       \
	  "PostgreSQL port (0 = libpq's default)", RESTART)                                       \
	Y(kea, reservations, dbname, STR, 0, 0, NULL, "", "PRISM_KEA_RESERVATIONS_DBNAME",        \
	  "Kea's database", RESTART)                                                              \
	Y(kea, reservations, user, STR, 0, 0, NULL, "", "PRISM_KEA_RESERVATIONS_USER",            \
	  "database user", RESTART)                                                               \
	Y(kea, reservations, password_file, STR, 0, 0, NULL, "",                                  \
	  "PRISM_KEA_RESERVATIONS_PASSWORD_FILE",                                                 \
	  "file holding the database password (read again on SIGHUP for the next connection)",    \
	  RESTART)                                                                                \
	Y(kea, reservations, password_env, STR, 0, 0, NULL, "",                                   \
	  "PRISM_KEA_RESERVATIONS_PASSWORD_ENV",                                                  \
	  "name of an environment variable holding the database password", RESTART)               \
	Y(kea, reservations, channel, STR, 0, 0, NULL, "prism_kea_hosts",                         \
	  "PRISM_KEA_RESERVATIONS_CHANNEL",                                                       \
	  "NOTIFY channel of the trigger, Prism's or the Kea service's (kea_lease_events)",       \
	  RESTART)                                                                                \
	Y(kea, reservations, zone, STR, 0, 0, NULL, "", "PRISM_KEA_RESERVATIONS_ZONE",            \
	  "zone of short hostnames (unset = powerdns.default_zone)", RESTART)                     \
	Y(kea, reservations, filter, STRS, 0, 0, NULL, "", "PRISM_KEA_RESERVATIONS_FILTER",       \
	  "globs (e.g. *-idrac); a reservation counts when its hostname matches one", RESTART)    \
	Y(kea, reservations, filter_regex, STR, 0, 0, NULL, "",                                   \
	  "PRISM_KEA_RESERVATIONS_FILTER_REGEX",                                                  \
	  "POSIX extended regular expression a hostname must match (any case)", RESTART)          \
	Y(kea, reservations, ttl, INT, 1, 2147483647, NULL, "600", "PRISM_KEA_RESERVATIONS_TTL",  \
	  "TTL of reservation records, seconds", RESTART)                                         \
	Y(kea, reservations, reconnect_max, INT, 1, 3600, NULL, "30",                             \
	  "PRISM_KEA_RESERVATIONS_RECONNECT_MAX", "longest wait between reconnections, seconds",  \
	  RESTART)                                                                                \
	Y(kea, reservations, resync_interval, INT, 0, 604800, NULL, "0",                          \
	  "PRISM_KEA_RESERVATIONS_RESYNC_INTERVAL",                                               \
	  "seconds between full consistency syncs (0 = at start and after reconnecting only)",    \
	  RESTART)                                                                                \
	Y(kea, leases, file, STR, 0, 0, NULL, "", "PRISM_KEA_LEASES_FILE",                        \
	  "Kea's memfile lease file to follow (kea-leases4.csv); unset = off", RESTART)           \
	Y(kea, leases, zone, STR, 0, 0, NULL, "", "PRISM_KEA_LEASES_ZONE",                        \
	  "zone of short hostnames (unset = powerdns.default_zone)", RESTART)                     \
	Y(kea, leases, filter, STRS, 0, 0, NULL, "", "PRISM_KEA_LEASES_FILTER",                   \
	  "globs a lease's hostname must match (one of them); empty = any", RESTART)              \
	Y(kea, leases, filter_regex, STR, 0, 0, NULL, "", "PRISM_KEA_LEASES_FILTER_REGEX",        \
	  "POSIX extended regular expression a lease's hostname must match (any case)", RESTART)  \
	Y(kea, leases, ttl, INT, 1, 2147483647, NULL, "300", "PRISM_KEA_LEASES_TTL",              \
	  "TTL of lease records, seconds", RESTART)                                               \
	Y(kea, leases, poll_interval, INT, 100, 60000, NULL, "1000",                              \
	  "PRISM_KEA_LEASES_POLL_INTERVAL",                                                       \
	  "milliseconds between checks of the file besides change notifications", RESTART)

#define FIELD(sec, name) (((struct prism_config *)0)->sec##_##name)

#define BOUNDS_STR(lo, hi)
#define BOUNDS_ENUM(lo, hi)
#define BOUNDS_BOOL(lo, hi)
#define BOUNDS_LIST(lo, hi)
#define BOUNDS_STRS(lo, hi)
#define BOUNDS_CREDS(lo, hi)
#define BOUNDS_INT(lo, hi)   .imin = (lo), .imax = (hi)
#define BOUNDS_FLOAT(lo, hi) .fmin = (lo), .fmax = (hi)

#define OPT_ROW(sec, name, t, lo, hi, ch, d, e, h, r)                                             \
	{.key = #sec "." #name,                                                                   \
	 .env = e,                                                                                \
	 .type = OPT_##t,                                                                         \
	 .off = offsetof(struct prism_config, sec##_##name),                                      \
	 .size = sizeof(FIELD(sec, name)),                                                        \
	 .choices = ch,                                                                           \
	 .def = d,                                                                                \
	 BOUNDS_##t(lo, hi)},

#define OPT_ROW3(sec, sub, name, t, lo, hi, ch, d, e, h, r)                                       \
	{.key = #sec "." #sub "." #name,                                                          \
	 .env = e,                                                                                \
	 .type = OPT_##t,                                                                         \
	 .off = offsetof(struct prism_config, sec##_##sub##_##name),                              \
	 .size = sizeof(FIELD(sec, sub##_##name)),                                                \
	 .choices = ch,                                                                           \
	 .def = d,                                                                                \
	 BOUNDS_##t(lo, hi)},

static const struct prism_yaml_opt opts[] = {OPTIONS(OPT_ROW) OPTIONS_NESTED(OPT_ROW3)};

#define IDX_ROW(sec, name, ...)	      IDX_##sec##_##name,
#define IDX_ROW3(sec, sub, name, ...) IDX_##sec##_##sub##_##name,
enum { OPTIONS(IDX_ROW) OPTIONS_NESTED(IDX_ROW3) NOPTS };
_Static_assert(NOPTS <= PRISM_YAML_MAX_OPTS, "too many options for yamlutil");

#define TYPE_NAME_STR	"string"
#define TYPE_NAME_INT	"int"
#define TYPE_NAME_BOOL	"bool"
#define TYPE_NAME_FLOAT "float"
#define TYPE_NAME_LIST	"list"
#define TYPE_NAME_ENUM	"enum"
#define TYPE_NAME_STRS	"strings"
#define TYPE_NAME_CREDS "credentials"

#define RELOAD_LIVE    true
#define RELOAD_RESTART false

#define INFO_ROW(sec, name, t, lo, hi, ch, d, e, h, r)                                            \
	{.key = #sec "." #name,                                                                   \
	 .type = TYPE_NAME_##t,                                                                   \
	 .def = d,                                                                                \
	 .env = e,                                                                                \
	 .help = h,                                                                               \
	 .reload = RELOAD_##r},

#define INFO_ROW3(sec, sub, name, t, lo, hi, ch, d, e, h, r)                                      \
	{.key = #sec "." #sub "." #name,                                                          \
	 .type = TYPE_NAME_##t,                                                                   \
	 .def = d,                                                                                \
	 .env = e,                                                                                \
	 .help = h,                                                                               \
	 .reload = RELOAD_##r},

static const struct prism_config_opt_info infos[] = {OPTIONS(INFO_ROW) OPTIONS_NESTED(INFO_ROW3)};

/* Compile-time checks: the type column matches the field's C type, int bounds fit it. */
#define KIND_OF(f)                                                                                \
	_Generic((f), char * : 1, uint16_t : 2, uint32_t : 2, uint64_t : 2, bool : 3, double : 4, \
		 char ** : 5, struct prism_config_cred ** : 6, default : 0)
#define KIND_STR     1
#define KIND_ENUM    1
#define KIND_INT     2
#define KIND_BOOL    3
#define KIND_FLOAT   4
#define KIND_LIST    5
#define KIND_STRS    5
#define KIND_CREDS   6
#define WIDTH_MAX(f) (sizeof(f) >= 8 ? UINT64_MAX : (UINT64_C(1) << (8 * sizeof(f) % 64)) - 1)
#define FITS_INT(sec, name, hi)                                                                   \
	_Static_assert((uint64_t)(hi) <= WIDTH_MAX(FIELD(sec, name)),                             \
		       #sec "." #name ": bound wider than the field");
#define FITS_STR(sec, name, hi)
#define FITS_ENUM(sec, name, hi)
#define FITS_BOOL(sec, name, hi)
#define FITS_FLOAT(sec, name, hi)
#define FITS_LIST(sec, name, hi)
#define FITS_STRS(sec, name, hi)
#define FITS_CREDS(sec, name, hi)
#define CHECK_ROW(sec, name, t, lo, hi, ...)                                                      \
	_Static_assert(KIND_OF(FIELD(sec, name)) == KIND_##t, #sec "." #name ": type");           \
	FITS_##t(sec, name, hi)
OPTIONS(CHECK_ROW)
#define CHECK_ROW3(sec, sub, name, t, lo, hi, ...) CHECK_ROW(sec, sub##_##name, t, lo, hi)
OPTIONS_NESTED(CHECK_ROW3)

static void choices_text(const struct prism_yaml_choice *ch, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; ch->name != NULL && used < len; ch++) {
		int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", ch->name);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/** "auth.tokens" → "token": the key that holds a credential's secret. */
static void secret_name(const struct prism_yaml_opt *o, char *buf, size_t len)
{
	const char *dot = strchr(o->key, '.');
	const char *name = dot ? dot + 1 : o->key;
	size_t n = strlen(name);
	if (n > 1 && name[n - 1] == 's')
		n--;
	snprintf(buf, len, "%.*s", (int)n, name);
}

/** The reason given for any value of the wrong shape for @p o (one of this file's types). */
static void type_reason(const struct prism_yaml_opt *o, char *why, size_t wl)
{
	char list[80];

	switch (o->type) {
	case OPT_ENUM:
		choices_text(o->choices, list, sizeof(list));
		snprintf(why, wl, "must be one of %s", list);
		break;
	case OPT_LIST:
		if (o->choices == NULL) {
			snprintf(why, wl, "must be a non-empty list of strings");
			break;
		}
		choices_text(o->choices, list, sizeof(list));
		snprintf(why, wl, "must be a non-empty list of %s", list);
		break;
	case OPT_STRS: snprintf(why, wl, "must be a string or a list of strings"); break;
	case OPT_CREDS: {
		char sec[32];
		secret_name(o, sec, sizeof(sec));
		snprintf(why, wl, "must be a list of {name, %s | %s_file%s}", sec, sec,
			 o->choices ? ", role" : "");
		break;
	}
	}
}

static const char *find_choice(const struct prism_yaml_choice *ch, const char *s, size_t n)
{
	for (; ch->name != NULL; ch++)
		if (prism_yaml_eq_nocase(s, n, ch->name))
			return ch->value;
	return NULL;
}

/* ---- lists ---- */

struct list {
	char **v; /* NULL-terminated once non-empty */
	size_t n;
};

/** Validate one list entry and append its canonical form. */
static int list_add(struct list *l, const struct prism_yaml_opt *o, const char *s, size_t n,
		    char *why, size_t wl)
{
	char shown[64], names[80];
	const char *val = NULL;
	char **v;

	if (n == 0 || memchr(s, '\0', n) != NULL) {
		type_reason(o, why, wl);
		return PRISM_ECONFIG;
	}
	if (o->choices != NULL) {
		val = find_choice(o->choices, s, n);
		if (val == NULL) {
			prism_yaml_printable(shown, sizeof(shown), s, n);
			choices_text(o->choices, names, sizeof(names));
			snprintf(why, wl, "'%s' is not one of %s", shown, names);
			return PRISM_ECONFIG;
		}
		s = val;
		n = strlen(val);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0) {
			prism_yaml_printable(shown, sizeof(shown), s, n);
			snprintf(why, wl, "'%s' is listed twice", shown);
			return PRISM_ECONFIG;
		}
	}
	v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (v == NULL)
		return PRISM_ENOMEM;
	l->v = v;
	v[l->n] = strndup(s, n);
	if (v[l->n] == NULL) {
		v[l->n] = NULL;
		return PRISM_ENOMEM;
	}
	v[++l->n] = NULL;
	return 0;
}

/** Move a finished list into its field; an empty list is an error. Frees @p l on error. */
static int list_commit(struct prism_config *cfg, const struct prism_yaml_opt *o, struct list *l,
		       char *why, size_t wl)
{
	char ***f = prism_yaml_field(cfg, o);

	if (l->n == 0 && o->type != OPT_STRS) {
		free(l->v);
		type_reason(o, why, wl);
		return PRISM_ECONFIG;
	}
	prism_strv_free(*f);
	*f = l->v;
	return 0;
}

/** Comma-separated list ("A, AAAA"): the environment and default form. */
static int list_from_text(struct prism_config *cfg, const struct prism_yaml_opt *o, const char *s,
			  size_t n, char *why, size_t wl)
{
	struct list l = {0};
	size_t i = 0;
	int rc;

	while (i <= n) {
		size_t j = i, a, b;
		while (j < n && s[j] != ',')
			j++;
		for (a = i; a < j && isspace((unsigned char)s[a]); a++)
			;
		for (b = j; b > a && isspace((unsigned char)s[b - 1]); b--)
			;
		if (b > a) {
			rc = list_add(&l, o, s + a, b - a, why, wl);
			if (rc != 0) {
				prism_strv_free(l.v);
				return rc;
			}
		}
		i = j + 1;
	}
	return list_commit(cfg, o, &l, why, wl);
}

/* ---- credentials ---- */

static void cred_free(struct prism_config_cred *c)
{
	if (c == NULL)
		return;
	free(c->name);
	free(c->secret);
	free(c->secret_file);
	free(c->role);
	free(c);
}

static void creds_free(struct prism_config_cred **v)
{
	if (v == NULL)
		return;
	for (struct prism_config_cred **p = v; *p != NULL; p++)
		cred_free(*p);
	free(v);
}

struct creds {
	struct prism_config_cred **v; /* NULL-terminated once non-empty */
	size_t n;
};

/** Check one finished entry (index @p i, 1-based in messages) and append it. */
static int creds_add(struct creds *l, const struct prism_yaml_opt *o, struct prism_config_cred *c,
		     char *why, size_t wl)
{
	char sec[32], shown[64];

	secret_name(o, sec, sizeof(sec));
	if (c->name == NULL || c->name[0] == '\0') {
		snprintf(why, wl, "entry %zu: name is required", l->n + 1);
		goto fail;
	}
	if ((c->secret == NULL) == (c->secret_file == NULL)) {
		snprintf(why, wl, "entry %zu: give exactly one of %s and %s_file", l->n + 1, sec,
			 sec);
		goto fail;
	}
	if (o->choices != NULL && c->role == NULL) {
		snprintf(why, wl, "entry %zu: role is required", l->n + 1);
		goto fail;
	}
	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i]->name, c->name) == 0) {
			prism_yaml_printable(shown, sizeof(shown), c->name, strlen(c->name));
			snprintf(why, wl, "entry %zu: name '%s' is used twice", l->n + 1, shown);
			goto fail;
		}
	}
	struct prism_config_cred **v = realloc(l->v, (l->n + 2) * sizeof(*v));
	if (v == NULL) {
		cred_free(c);
		return PRISM_ENOMEM;
	}
	l->v = v;
	v[l->n++] = c;
	v[l->n] = NULL;
	return 0;
fail:
	cred_free(c);
	return PRISM_ECONFIG;
}

static void creds_commit(struct prism_config *cfg, const struct prism_yaml_opt *o, struct creds *l)
{
	struct prism_config_cred ***f = prism_yaml_field(cfg, o);

	creds_free(*f);
	*f = l->v;
}

/** Set one key of an entry; @p key is "name", the secret, "<secret>_file" or "role". */
static int cred_set(const struct prism_yaml_opt *o, struct prism_config_cred *c, const char *key,
		    size_t kl, const char *val, size_t vl, char *why, size_t wl)
{
	char sec[32], file[40], shown[64];
	char **slot = NULL;

	secret_name(o, sec, sizeof(sec));
	snprintf(file, sizeof(file), "%s_file", sec);
	if (kl == 4 && memcmp(key, "name", 4) == 0)
		slot = &c->name;
	else if (kl == strlen(sec) && memcmp(key, sec, kl) == 0)
		slot = &c->secret;
	else if (kl == strlen(file) && memcmp(key, file, kl) == 0)
		slot = &c->secret_file;
	else if (o->choices != NULL && kl == 4 && memcmp(key, "role", 4) == 0)
		slot = &c->role;
	if (slot == NULL) {
		prism_yaml_printable(shown, sizeof(shown), key, kl);
		snprintf(why, wl, "unknown key '%s'", shown);
		return PRISM_ECONFIG;
	}
	if (*slot != NULL) {
		prism_yaml_printable(shown, sizeof(shown), key, kl);
		snprintf(why, wl, "duplicate key '%s'", shown);
		return PRISM_ECONFIG;
	}
	if (vl == 0 || memchr(val, '\0', vl) != NULL) {
		prism_yaml_printable(shown, sizeof(shown), key, kl);
		snprintf(why, wl, "'%s' must be a non-empty string", shown);
		return PRISM_ECONFIG;
	}
	if (slot == &c->role) {
		const char *r = find_choice(o->choices, val, vl);
		if (r == NULL) {
			choices_text(o->choices, shown, sizeof(shown));
			snprintf(why, wl, "role must be one of %s", shown);
			return PRISM_ECONFIG;
		}
		val = r;
		vl = strlen(r);
	}
	*slot = strndup(val, vl);
	return *slot ? 0 : PRISM_ENOMEM;
}

/** Environment form: "name:secret,name:secret" (secrets from files need the YAML form). */
static int creds_from_text(struct prism_config *cfg, const struct prism_yaml_opt *o, const char *s,
			   size_t n, char *why, size_t wl)
{
	struct creds l = {0};
	char sec[32];
	size_t i = 0;
	int rc = 0;

	secret_name(o, sec, sizeof(sec));
	while (i < n && rc == 0) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		const char *colon = memchr(s + i, ':', j - i);
		struct prism_config_cred *c = calloc(1, sizeof(*c));
		if (c == NULL) {
			rc = PRISM_ENOMEM;
			break;
		}
		if (colon == NULL) {
			cred_free(c);
			snprintf(why, wl, "entry %zu: must be name:%s", l.n + 1, sec);
			rc = PRISM_ECONFIG;
			break;
		}
		rc = cred_set(o, c, "name", 4, s + i, (size_t)(colon - (s + i)), why, wl);
		if (rc == 0)
			rc = cred_set(o, c, sec, strlen(sec), colon + 1,
				      (size_t)(s + j - colon - 1), why, wl);
		if (rc != 0)
			cred_free(c);
		else
			rc = creds_add(&l, o, c, why, wl);
		i = j + 1;
	}
	if (rc != 0) {
		creds_free(l.v);
		return rc;
	}
	creds_commit(cfg, o, &l);
	return 0;
}

/* ---- setting one option from text ---- */

/**
 * Set option @p o of one of this file's types from text s[0..n) (YAML scalar, environment
 * value or default).
 * @return 0, PRISM_ECONFIG with the reason in @p why, or PRISM_ENOMEM.
 */
static int set_text(void *cfg, const struct prism_yaml_opt *o, const char *s, size_t n, bool env,
		    char *why, size_t wl)
{
	const char *val;

	switch (o->type) {
	case OPT_ENUM:
		val = find_choice(o->choices, s, n);
		if (val == NULL)
			break;
		return prism_yaml_store_str(prism_yaml_field(cfg, o), val, strlen(val));
	case OPT_LIST:
	case OPT_STRS: return list_from_text(cfg, o, s, n, why, wl);
	case OPT_CREDS: return creds_from_text(cfg, o, s, n, why, wl);
	}
	type_reason(o, why, wl);
	return PRISM_ECONFIG;
}

/* ---- YAML ---- */

static int set_list_node(struct prism_yaml_ctx *c, size_t idx, yaml_document_t *doc,
			 yaml_node_t *seq)
{
	const struct prism_yaml_opt *o = &opts[idx];
	struct list l = {0};
	char why[PRISM_YAML_WHY_MAX];
	int rc;

	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(doc, *it);
		if (e->type != YAML_SCALAR_NODE || prism_yaml_is_null(e)) {
			type_reason(o, why, sizeof(why));
			rc = PRISM_ECONFIG;
		} else {
			rc = list_add(&l, o, (const char *)e->data.scalar.value,
				      e->data.scalar.length, why, sizeof(why));
		}
		if (rc != 0) {
			prism_strv_free(l.v);
			return prism_yaml_report(c, rc, o, why, prism_yaml_line(e));
		}
	}
	rc = list_commit(c->cfg, o, &l, why, sizeof(why));
	return prism_yaml_report(c, rc, o, why, prism_yaml_line(seq));
}

/** One {name, secret | secret_file[, role]} mapping. */
static int cred_node(struct prism_yaml_ctx *c, const struct prism_yaml_opt *o,
		     yaml_document_t *doc, yaml_node_t *m, struct creds *l)
{
	char why[PRISM_YAML_WHY_MAX];
	int rc = 0;

	if (m->type != YAML_MAPPING_NODE) {
		type_reason(o, why, sizeof(why));
		return prism_yaml_report(c, PRISM_ECONFIG, o, why, prism_yaml_line(m));
	}
	struct prism_config_cred *cr = calloc(1, sizeof(*cr));
	if (cr == NULL)
		return prism_yaml_nomem(c);
	size_t line = prism_yaml_line(m);
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		line = prism_yaml_line(k);
		if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE ||
		    prism_yaml_is_null(v)) {
			snprintf(why, sizeof(why), "entry %zu: keys and values must be strings",
				 l->n + 1);
			rc = PRISM_ECONFIG;
			break;
		}
		rc = cred_set(o, cr, (const char *)k->data.scalar.value, k->data.scalar.length,
			      (const char *)v->data.scalar.value, v->data.scalar.length, why,
			      sizeof(why));
		if (rc != 0)
			break;
	}
	if (rc != 0) {
		cred_free(cr);
	} else {
		line = prism_yaml_line(m);
		rc = creds_add(l, o, cr, why, sizeof(why));
	}
	return prism_yaml_report(c, rc, o, why, line);
}

static int set_creds_node(struct prism_yaml_ctx *c, size_t idx, yaml_document_t *doc,
			  yaml_node_t *seq)
{
	const struct prism_yaml_opt *o = &opts[idx];
	struct creds l = {0};
	char why[PRISM_YAML_WHY_MAX];

	if (seq->type != YAML_SEQUENCE_NODE) {
		type_reason(o, why, sizeof(why));
		return prism_yaml_report(c, PRISM_ECONFIG, o, why, prism_yaml_line(seq));
	}
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		int rc = cred_node(c, o, doc, yaml_document_get_node(doc, *it), &l);
		if (rc != 0) {
			creds_free(l.v);
			return rc;
		}
	}
	creds_commit(c->cfg, o, &l);
	return 0;
}

/** The YAML forms of this file's types: lists, one string as a list of one, credentials. */
static int node_cb(struct prism_yaml_ctx *c, size_t idx, yaml_document_t *doc, yaml_node_t *v)
{
	const struct prism_yaml_opt *o = &opts[idx];
	char why[PRISM_YAML_WHY_MAX];
	int rc;

	if ((o->type == OPT_LIST || o->type == OPT_STRS) && v->type == YAML_SEQUENCE_NODE)
		return set_list_node(c, idx, doc, v);
	if (o->type == OPT_CREDS)
		return set_creds_node(c, idx, doc, v);
	if (o->type == OPT_STRS && v->type == YAML_SCALAR_NODE) {
		/* one string is a list of one (no comma splitting in YAML) */
		struct list l = {0};
		rc = list_add(&l, o, (const char *)v->data.scalar.value, v->data.scalar.length,
			      why, sizeof(why));
		if (rc == 0)
			rc = list_commit(c->cfg, o, &l, why, sizeof(why));
		else
			prism_strv_free(l.v);
		return prism_yaml_report(c, rc, o, why, prism_yaml_line(v));
	}
	if (o->type == OPT_LIST) {
		/* a list is never written as one comma-separated string in YAML */
		type_reason(o, why, sizeof(why));
		return prism_yaml_report(c, PRISM_ECONFIG, o, why, prism_yaml_line(v));
	}
	return PRISM_YAML_PASS;
}

/* ---- top-level lists: targets and zones ---- */

enum fkind { F_STR, F_STRS, F_U32, F_BOOL, F_TSIG, F_BREAKER };

struct field {
	const char *key;
	enum fkind kind;
	size_t off;
	bool required;
	uint32_t min, max; /* F_U32 */
};

#define TF(k, kind, req)                                                                          \
	{                                                                                         \
#k, kind, offsetof(struct prism_config_target, k), req, 0, 0                      \
	}
#define TFU(k, lo, hi)                                                                            \
	{                                                                                         \
#k, F_U32, offsetof(struct prism_config_target, k), false, lo, hi                 \
	}
static const struct field target_fields[] = {
	TF(name, F_STR, true),
	TF(api_url, F_STR, false),
	TF(api_key, F_STR, false),
	TF(api_key_file, F_STR, false),
	TF(server_id, F_STR, false),
	TF(dns_address, F_STR, false),
	TF(zones, F_STRS, false),
	TF(adopt, F_BOOL, false),
	TF(paused, F_BOOL, false),
	TFU(max_body_bytes, 65536, 1073741824),
	TF(group, F_STR, false),
	TF(type, F_STR, false),
	TF(server, F_STR, false),
	TF(tsig, F_TSIG, false),
	TFU(rate_limit_qps, 1, 1000000),
	{"breaker", F_BREAKER, offsetof(struct prism_config_target, breaker_threshold), false, 0,
	 0},
	{NULL, F_STR, 0, false, 0, 0},
};
#define ZF(k, kind, req)                                                                          \
	{                                                                                         \
#k, kind, offsetof(struct prism_config_zone, k), req, 1, 2147483647               \
	}
static const struct field zone_fields[] = {
	ZF(name, F_STR, true),	       ZF(nameservers, F_STRS, false), ZF(ttl, F_U32, false),
	ZF(soa, F_STR, false),	       ZF(kind, F_STR, false),	       ZF(dnssec, F_BOOL, false),
	{NULL, F_STR, 0, false, 0, 0},
};

#define XF(k, kind, req)                                                                          \
	{                                                                                         \
#k, kind, offsetof(struct prism_config_template, k), req, 0, 0                    \
	}
static const struct field template_fields[] = {
	XF(name, F_STR, true),
	XF(records, F_STRS, true),
	{NULL, F_STR, 0, false, 0, 0},
};

struct list_kind {
	const char *key; /* "targets" */
	size_t size;	 /* of one entry */
	const struct field *fields;
	size_t off; /* of the list in struct prism_config */
};

static const struct list_kind list_kinds[] = {
	{"targets", sizeof(struct prism_config_target), target_fields,
	 offsetof(struct prism_config, targets)},
	{"zones", sizeof(struct prism_config_zone), zone_fields,
	 offsetof(struct prism_config, zones)},
	{"zone_templates", sizeof(struct prism_config_template), template_fields,
	 offsetof(struct prism_config, zone_templates)},
};

static const struct list_kind *find_list_kind(const char *k, size_t n)
{
	for (size_t i = 0; i < sizeof(list_kinds) / sizeof(list_kinds[0]); i++)
		if (strlen(list_kinds[i].key) == n && memcmp(list_kinds[i].key, k, n) == 0)
			return &list_kinds[i];
	return NULL;
}

static void tsig_free(struct prism_config_tsig *k)
{
	free(k->name);
	free(k->algorithm);
	if (k->secret != NULL)
		memset(k->secret, 0, strlen(k->secret));
	free(k->secret);
	free(k->secret_file);
}

/* targets[].tsig: a mapping of name, algorithm, secret, secret_file (strings). */
static int tsig_node(struct prism_yaml_ctx *c, const struct list_kind *lk, size_t idx,
		     struct prism_config_tsig *k, yaml_document_t *doc, yaml_node_t *m)
{
	static const char *const keys[] = {"name", "algorithm", "secret", "secret_file"};
	char **slots[] = {&k->name, &k->algorithm, &k->secret, &k->secret_file};
	char shown[64];
	if (m->type != YAML_MAPPING_NODE)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "%s[%zu].tsig: must be a mapping of "
				       "name, algorithm and secret or secret_file (line %zu)",
				       lk->key, idx + 1, prism_yaml_line(m));
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *kn = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		size_t i = 0;
		while (kn->type == YAML_SCALAR_NODE && i < 4 &&
		       !(strlen(keys[i]) == kn->data.scalar.length &&
			 memcmp(keys[i], kn->data.scalar.value, kn->data.scalar.length) == 0))
			i++;
		if (kn->type != YAML_SCALAR_NODE || i == 4) {
			prism_yaml_printable(
				shown, sizeof(shown),
				kn->type == YAML_SCALAR_NODE ? (const char *)kn->data.scalar.value
							     : "?",
				kn->type == YAML_SCALAR_NODE ? kn->data.scalar.length : 1);
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "unknown key '%s[%zu].tsig.%s' (line %zu)", lk->key,
					       idx + 1, shown, prism_yaml_line(kn));
		}
		if (v->type != YAML_SCALAR_NODE || prism_yaml_is_null(v) ||
		    v->data.scalar.length == 0 ||
		    memchr(v->data.scalar.value, '\0', v->data.scalar.length) != NULL)
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "%s[%zu].tsig.%s: must be a non-empty string "
					       "(line %zu)",
					       lk->key, idx + 1, keys[i], prism_yaml_line(v));
		if (*slots[i] != NULL)
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "duplicate key '%s[%zu].tsig.%s' (line %zu)",
					       lk->key, idx + 1, keys[i], prism_yaml_line(kn));
		*slots[i] = strndup((const char *)v->data.scalar.value, v->data.scalar.length);
		if (*slots[i] == NULL)
			return prism_yaml_nomem(c);
	}
	return 0;
}

static void entry_free(const struct list_kind *lk, void *e)
{
	if (e == NULL)
		return;
	for (const struct field *f = lk->fields; f->key != NULL; f++) {
		if (f->kind == F_STR)
			free(*(char **)((char *)e + f->off));
		else if (f->kind == F_TSIG)
			tsig_free((struct prism_config_tsig *)((char *)e + f->off));
		else if (f->kind == F_STRS)
			prism_strv_free(*(char ***)((char *)e + f->off));
	}
	free(e);
}

static void entries_free(const struct list_kind *lk, void **v)
{
	if (v == NULL)
		return;
	for (void **p = v; *p != NULL; p++)
		entry_free(lk, *p);
	free(v);
}

/* targets[].breaker: {threshold: N, recovery_seconds: S}, both required. */
static int entry_breaker(struct prism_yaml_ctx *c, const struct list_kind *lk, size_t idx, void *e,
			 yaml_document_t *doc, yaml_node_t *v)
{
	struct prism_config_target *t = e;
	uint32_t *slot[2] = {&t->breaker_threshold, &t->breaker_recovery_seconds};
	static const char *const keys[2] = {"threshold", "recovery_seconds"};
	static const uint32_t max[2] = {1000000, 86400};
	bool seen[2] = {false, false};

	if (v->type != YAML_MAPPING_NODE)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "%s[%zu].breaker: must be a mapping {threshold, "
				       "recovery_seconds} (line %zu)",
				       lk->key, idx + 1, prism_yaml_line(v));
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *x = yaml_document_get_node(doc, p->value);
		size_t i = 0;
		while (i < 2 &&
		       !(k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(keys[i]) &&
			 memcmp(k->data.scalar.value, keys[i], strlen(keys[i])) == 0))
			i++;
		char shown[64];
		if (i == 2) {
			bool s = k->type == YAML_SCALAR_NODE;
			prism_yaml_printable(shown, sizeof(shown),
					     s ? (const char *)k->data.scalar.value : "",
					     s ? k->data.scalar.length : 0);
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "unknown key '%s[%zu].breaker.%s' (line %zu)",
					       lk->key, idx + 1, shown, prism_yaml_line(k));
		}
		uint64_t u;
		if (x->type != YAML_SCALAR_NODE ||
		    !prism_yaml_parse_uint((const char *)x->data.scalar.value,
					   x->data.scalar.length, 1, max[i], &u))
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "%s[%zu].breaker.%s: must be an integer from 1 to "
					       "%" PRIu32 " (line %zu)",
					       lk->key, idx + 1, keys[i], max[i],
					       prism_yaml_line(x));
		*slot[i] = (uint32_t)u;
		seen[i] = true;
	}
	for (size_t i = 0; i < 2; i++)
		if (!seen[i])
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "%s[%zu].breaker.%s: required (line %zu)", lk->key,
					       idx + 1, keys[i], prism_yaml_line(v));
	return 0;
}

/* Set one field of an entry from its YAML value. */
static int entry_field(struct prism_yaml_ctx *c, const struct list_kind *lk, size_t idx, void *e,
		       const struct field *f, yaml_document_t *doc, yaml_node_t *v)
{
	void *slot = (char *)e + f->off;
	const char *txt = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
	size_t n = v->type == YAML_SCALAR_NODE ? v->data.scalar.length : 0;
	uint64_t u;
	bool b;

	if (f->kind == F_TSIG)
		return tsig_node(c, lk, idx, slot, doc, v);
	if (f->kind == F_BREAKER)
		return entry_breaker(c, lk, idx, e, doc, v);
	if (f->kind == F_STRS) {
		if (v->type != YAML_SEQUENCE_NODE)
			goto bad;
		size_t cnt = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++)
			cnt++;
		char **list = calloc(cnt + 1, sizeof(*list));
		if (list == NULL)
			return prism_yaml_nomem(c);
		size_t i = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *x = yaml_document_get_node(doc, *it);
			if (x->type != YAML_SCALAR_NODE || x->data.scalar.length == 0 ||
			    memchr(x->data.scalar.value, '\0', x->data.scalar.length) != NULL) {
				prism_strv_free(list);
				goto bad;
			}
			list[i] =
				strndup((const char *)x->data.scalar.value, x->data.scalar.length);
			if (list[i++] == NULL) {
				prism_strv_free(list);
				return prism_yaml_nomem(c);
			}
		}
		*(char ***)slot = list;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE || prism_yaml_is_null(v) || n == 0 ||
	    memchr(txt, '\0', n) != NULL)
		goto bad;
	switch (f->kind) {
	case F_STR:
		*(char **)slot = strndup(txt, n);
		return *(char **)slot ? 0 : prism_yaml_nomem(c);
	case F_U32:
		if (!prism_yaml_parse_uint(txt, n, f->min, f->max, &u))
			goto bad;
		*(uint32_t *)slot = (uint32_t)u;
		return 0;
	case F_BOOL:
		if (!prism_yaml_parse_bool(txt, n, false, &b))
			goto bad;
		*(bool *)slot = b;
		return 0;
	default: break;
	}
bad:
	if (f->kind == F_U32)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "%s[%zu].%s: must be an integer from %" PRIu32
				       " to %" PRIu32 " (line %zu)",
				       lk->key, idx + 1, f->key, f->min, f->max,
				       prism_yaml_line(v));
	return prism_yaml_fail(c, PRISM_ECONFIG, "%s[%zu].%s: must be %s (line %zu)", lk->key,
			       idx + 1, f->key,
			       f->kind == F_STRS   ? "a list of strings"
			       : f->kind == F_U32  ? "a positive integer"
			       : f->kind == F_BOOL ? "true or false"
						   : "a non-empty string",
			       prism_yaml_line(v));
}

static int entry_node(struct prism_yaml_ctx *c, const struct list_kind *lk, size_t idx,
		      yaml_document_t *doc, yaml_node_t *m, void **out)
{
	char shown[64];

	if (m->type != YAML_MAPPING_NODE)
		return prism_yaml_fail(c, PRISM_ECONFIG, "%s[%zu]: must be a mapping (line %zu)",
				       lk->key, idx + 1, prism_yaml_line(m));
	void *e = calloc(1, lk->size);
	if (e == NULL)
		return prism_yaml_nomem(c);
	int rc = 0;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start;
	     rc == 0 && p < m->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		const struct field *f = lk->fields;
		while (k->type == YAML_SCALAR_NODE && f->key != NULL &&
		       !(strlen(f->key) == k->data.scalar.length &&
			 memcmp(f->key, k->data.scalar.value, k->data.scalar.length) == 0))
			f++;
		if (k->type != YAML_SCALAR_NODE || f->key == NULL) {
			prism_yaml_printable(
				shown, sizeof(shown),
				k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value
							    : "?",
				k->type == YAML_SCALAR_NODE ? k->data.scalar.length : 1);
			rc = prism_yaml_fail(c, PRISM_ECONFIG,
					     "unknown key '%s[%zu].%s' (line %zu)", lk->key,
					     idx + 1, shown, prism_yaml_line(k));
			break;
		}
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++)
			if (prism_yaml_same_scalar(yaml_document_get_node(doc, q->key), k))
				rc = prism_yaml_fail(c, PRISM_ECONFIG,
						     "duplicate key '%s[%zu].%s' (line %zu)",
						     lk->key, idx + 1, f->key, prism_yaml_line(k));
		if (rc == 0)
			rc = entry_field(c, lk, idx, e, f, doc, v);
	}
	if (rc == 0 && lk->fields == target_fields) {
		/* api_url is required of PowerDNS targets (the default type) only */
		const struct prism_config_target *t = e;
		if (t->api_url == NULL && (t->type == NULL || strcmp(t->type, "rfc2136") != 0))
			rc = prism_yaml_fail(c, PRISM_ECONFIG,
					     "%s[%zu].api_url: required (line %zu)", lk->key,
					     idx + 1, prism_yaml_line(m));
	}
	for (const struct field *f = lk->fields; rc == 0 && f->key != NULL; f++)
		if (f->required && *(char **)((char *)e + f->off) == NULL)
			rc = prism_yaml_fail(c, PRISM_ECONFIG, "%s[%zu].%s: required (line %zu)",
					     lk->key, idx + 1, f->key, prism_yaml_line(m));
	if (rc != 0) {
		entry_free(lk, e);
		return rc;
	}
	*out = e;
	return 0;
}

static int walk_list(struct prism_yaml_ctx *c, const struct list_kind *lk, yaml_document_t *doc,
		     yaml_node_t *v)
{
	if (prism_yaml_is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "%s: must be a list of mappings (line %zu)", lk->key,
				       prism_yaml_line(v));
	size_t n = 0;
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++)
		n++;
	void **list = calloc(n + 1, sizeof(*list));
	if (list == NULL)
		return prism_yaml_nomem(c);
	size_t i = 0;
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
	     it++, i++) {
		int rc = entry_node(c, lk, i, doc, yaml_document_get_node(doc, *it), &list[i]);
		if (rc != 0) {
			entries_free(lk, list);
			return rc;
		}
	}
	void ***slot = (void ***)((char *)c->cfg + lk->off);
	entries_free(lk, *slot);
	*slot = list;
	return 0;
}

/** The top-level lists: targets: and zones:. */
static int root_key_cb(struct prism_yaml_ctx *c, yaml_document_t *doc, yaml_node_t *k,
		       yaml_node_t *v)
{
	const struct list_kind *lk =
		find_list_kind((const char *)k->data.scalar.value, k->data.scalar.length);

	return lk != NULL ? walk_list(c, lk, doc, v) : PRISM_YAML_PASS;
}

/* ---- validation across options ---- */

static bool has_scheme(const char *url, const char *scheme)
{
	size_t n = strlen(scheme);

	return strncasecmp(url, scheme, n) == 0 && url[n] != '\0';
}

static char *cat3(const char *a, const char *b, const char *c3)
{
	size_t n = strlen(a) + strlen(b) + strlen(c3) + 1;
	char *out = malloc(n);
	if (out != NULL)
		snprintf(out, n, "%s%s%s", a, b, c3);
	return out;
}

/* Normalise a zone-like name in place (lower-case, one trailing dot). */
static int normalize_in_place(char **name)
{
	char buf[PRISM_DNAME_MAX];
	if (prism_zone_normalize(*name, buf, sizeof(buf)) != 0)
		return PRISM_ECONFIG;
	char *d = strdup(buf);
	if (d == NULL)
		return PRISM_ENOMEM;
	free(*name);
	*name = d;
	return 0;
}

static int validate_zones(struct prism_yaml_ctx *c)
{
	struct prism_config *cfg = c->cfg;
	char shown[64];

	if (cfg->zones == NULL) {
		/* the seed's single zone */
		cfg->zones = calloc(2, sizeof(*cfg->zones));
		if (cfg->zones == NULL ||
		    (cfg->zones[0] = calloc(1, sizeof(**cfg->zones))) == NULL)
			return prism_yaml_nomem(c);
		cfg->zones[0]->name = strdup(cfg->powerdns_default_zone);
		if (cfg->zones[0]->name == NULL)
			return prism_yaml_nomem(c);
	} else if (cfg->zones[0] == NULL) {
		return prism_yaml_fail(c, PRISM_ECONFIG, "zones: must list at least one zone");
	}
	for (size_t i = 0; cfg->zones[i] != NULL; i++) {
		struct prism_config_zone *z = cfg->zones[i];
		int rc = normalize_in_place(&z->name);
		if (rc == PRISM_ENOMEM)
			return prism_yaml_nomem(c);
		prism_yaml_printable(shown, sizeof(shown), z->name, strlen(z->name));
		if (rc != 0)
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "zones[%zu].name: '%s' is not a zone name", i + 1,
					       shown);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->zones[j]->name, z->name) == 0)
				return prism_yaml_fail(c, PRISM_ECONFIG,
						       "zones[%zu].name: '%s' is listed twice",
						       i + 1, shown);
		if (z->ttl == 0)
			z->ttl = cfg->powerdns_default_ttl;
		const char *kind = z->kind ? z->kind : "Native";
		if (strcasecmp(kind, "Native") != 0 && strcasecmp(kind, "Master") != 0)
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "zones[%zu].kind: Native or Master", i + 1);
		if (prism_yaml_store_str(&z->kind,
					 strcasecmp(kind, "Master") == 0 ? "Master" : "Native",
					 6) != 0)
			return prism_yaml_nomem(c);
		if (z->nameservers == NULL) {
			z->nameservers = calloc(2, sizeof(char *));
			if (z->nameservers == NULL ||
			    (z->nameservers[0] = cat3("ns1.", z->name, "")) == NULL)
				return prism_yaml_nomem(c);
		}
		for (char **ns = z->nameservers; *ns != NULL; ns++)
			if ((rc = normalize_in_place(ns)) != 0)
				return rc == PRISM_ENOMEM
					       ? prism_yaml_nomem(c)
					       : prism_yaml_fail(c, PRISM_ECONFIG,
								 "zones[%zu].nameservers: not a "
								 "host name",
								 i + 1);
	}
	/* agents register into default_zone: it must be managed */
	bool found = false;
	for (size_t i = 0; cfg->zones[i] != NULL; i++)
		found |= strcmp(cfg->zones[i]->name, cfg->powerdns_default_zone) == 0;
	if (!found) {
		if (c->src[IDX_powerdns_default_zone] != PRISM_YAML_SRC_DEFAULT)
			return prism_yaml_fail_opt(c, IDX_powerdns_default_zone,
						   "is not one of zones");
		if (prism_yaml_store_str(&cfg->powerdns_default_zone, cfg->zones[0]->name,
					 strlen(cfg->zones[0]->name)) != 0)
			return prism_yaml_nomem(c);
	}
	return 0;
}

/* The powerdns: section as target "default" serving every zone. */
static int seed_target(struct prism_yaml_ctx *c)
{
	struct prism_config *cfg = c->cfg;
	cfg->targets = calloc(2, sizeof(*cfg->targets));
	if (cfg->targets == NULL)
		return prism_yaml_nomem(c);
	if (!cfg->powerdns_enabled)
		return 0;
	struct prism_config_target *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return prism_yaml_nomem(c);
	cfg->targets[0] = t;
	t->name = strdup("default");
	t->api_url = strdup(cfg->powerdns_api_url);
	t->server_id = strdup(cfg->powerdns_server_id);
	if (cfg->powerdns_api_key)
		t->api_key = strdup(cfg->powerdns_api_key);
	if (cfg->powerdns_api_key_file)
		t->api_key_file = strdup(cfg->powerdns_api_key_file);
	t->rate_limit_qps = cfg->powerdns_rate_limit_qps;
	t->breaker_threshold = cfg->powerdns_breaker_threshold;
	t->breaker_recovery_seconds = cfg->powerdns_breaker_recovery_seconds;
	if (!t->name || !t->api_url || !t->server_id || (cfg->powerdns_api_key && !t->api_key) ||
	    (cfg->powerdns_api_key_file && !t->api_key_file))
		return prism_yaml_nomem(c);
	return 0;
}

/* "WHERE.FIELD: what" ("FIELD: what" without @p where; "WHERE: what" without a field). */
__attribute__((format(printf, 5, 6))) static int
target_fail(char *why, size_t len, const char *where, const char *field, const char *fmt, ...)
{
	char what[PRISM_TARGET_WHY_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (field == NULL)
		snprintf(why, len, "%s%s%s", where, where[0] ? ": " : "", what);
	else
		snprintf(why, len, "%s%s%s: %s", where, where[0] ? "." : "", field, what);
	return PRISM_ECONFIG;
}

int prism_config_target_check(const struct prism_config *cfg, const struct prism_config_target *t,
			      const char *where, char *why, size_t len)
{
	char host[64], shown[64];
	uint16_t port;
	if (cfg == NULL || t == NULL || why == NULL || len == 0)
		return PRISM_EINVAL;
	where = where ? where : "";
	if (t->type == NULL || strcmp(t->type, "rfc2136") != 0) {
		if (t->api_url == NULL)
			return target_fail(why, len, where, "api_url", "required");
		if (!has_scheme(t->api_url, "http://") && !has_scheme(t->api_url, "https://"))
			return target_fail(why, len, where, "api_url",
					   "must start with http:// or https://");
		if ((t->api_key == NULL) == (t->api_key_file == NULL))
			return target_fail(why, len, where, NULL,
					   "give exactly one of api_key and api_key_file");
	}
	if (t->dns_address != NULL &&
	    prism_config_hostport(t->dns_address, host, sizeof(host), &port) != 0)
		return target_fail(why, len, where, "dns_address",
				   "must be IP:port (192.0.2.1:53, [2001:db8::1]:53)");
	for (char **z = t->zones; z != NULL && *z != NULL; z++) {
		bool known = false;
		for (size_t k = 0; cfg->zones != NULL && cfg->zones[k] != NULL && !known; k++)
			known = strcmp(cfg->zones[k]->name, *z) == 0;
		if (!known) {
			prism_yaml_printable(shown, sizeof(shown), *z, strlen(*z));
			return target_fail(why, len, where, "zones", "'%s' is not one of zones",
					   shown);
		}
	}
	return 0;
}

static int validate_powerdns(struct prism_yaml_ctx *c, struct prism_config_target *t, size_t i)
{
	if (t->type != NULL && strcmp(t->type, "powerdns") != 0)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "targets[%zu].type: must be powerdns or rfc2136", i + 1);
	if (t->server != NULL || t->tsig.name != NULL || t->tsig.algorithm != NULL ||
	    t->tsig.secret != NULL || t->tsig.secret_file != NULL)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "targets[%zu]: server and tsig are for type: rfc2136",
				       i + 1);
	if (t->server_id == NULL && (t->server_id = strdup("localhost")) == NULL)
		return prism_yaml_nomem(c);
	return 0;
}

/* type: rfc2136: server IP:port and a TSIG key; nothing of the PowerDNS API. */
static int validate_rfc2136(struct prism_yaml_ctx *c, struct prism_config_target *t, size_t i)
{
	char host[64], why[160];
	uint16_t port;
	if (t->api_url != NULL || t->api_key != NULL || t->api_key_file != NULL ||
	    t->server_id != NULL)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "targets[%zu]: api_url, api_key, api_key_file and "
				       "server_id are for type: powerdns",
				       i + 1);
	if (t->server == NULL || prism_config_hostport(t->server, host, sizeof(host), &port) != 0)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "targets[%zu].server: required, IP:port (192.0.2.53:53, "
				       "[2001:db8::53]:53)",
				       i + 1);
	struct prism_config_tsig *k = &t->tsig;
	if (k->name == NULL)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "targets[%zu].tsig.name: required (updates are signed)",
				       i + 1);
	if ((k->secret == NULL) == (k->secret_file == NULL))
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "targets[%zu].tsig: give exactly one of secret and "
				       "secret_file",
				       i + 1);
	if (k->algorithm == NULL && (k->algorithm = strdup("hmac-sha256")) == NULL)
		return prism_yaml_nomem(c);
	struct prism_tsig key = {k->name, k->algorithm, k->secret ? k->secret : "AA=="};
	if (prism_tsig_check(&key, why, sizeof(why)) != 0)
		return prism_yaml_fail(c, PRISM_ECONFIG, "targets[%zu].tsig: %s", i + 1, why);
	return 0;
}

static int validate_targets(struct prism_yaml_ctx *c)
{
	struct prism_config *cfg = c->cfg;
	char shown[64];

	if (cfg->targets == NULL)
		return seed_target(c);
	for (size_t i = 0; cfg->targets[i] != NULL; i++) {
		struct prism_config_target *t = cfg->targets[i];
		prism_yaml_printable(shown, sizeof(shown), t->name, strlen(t->name));
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->targets[j]->name, t->name) == 0)
				return prism_yaml_fail(c, PRISM_ECONFIG,
						       "targets[%zu].name: '%s' is listed twice",
						       i + 1, shown);
		int vrc = t->type != NULL && strcmp(t->type, "rfc2136") == 0
				  ? validate_rfc2136(c, t, i)
				  : validate_powerdns(c, t, i);
		if (vrc != 0)
			return vrc;
		if (t->rate_limit_qps == 0)
			t->rate_limit_qps = cfg->powerdns_rate_limit_qps;
		if (t->breaker_threshold == 0) {
			t->breaker_threshold = cfg->powerdns_breaker_threshold;
			t->breaker_recovery_seconds = cfg->powerdns_breaker_recovery_seconds;
		}
		for (char **z = t->zones; z != NULL && *z != NULL; z++)
			if (normalize_in_place(z) == PRISM_ENOMEM)
				return prism_yaml_nomem(c);
		char where[32], why[PRISM_TARGET_WHY_MAX];
		snprintf(where, sizeof(where), "targets[%zu]", i + 1);
		if (prism_config_target_check(cfg, t, where, why, sizeof(why)) != 0)
			return prism_yaml_fail(c, PRISM_ECONFIG, "%s", why);
	}
	return 0;
}

/* zone_templates: unique names, every record line valid (checked against a stand-in zone:
 * names in templates are relative to the zone they are applied to). */
static int validate_templates(struct prism_yaml_ctx *c)
{
	struct prism_config *cfg = c->cfg;
	struct prism_config_template **t = cfg->zone_templates;
	char shown[64], why[PRISM_RR_WHY_MAX];
	if (t == NULL || t[0] == NULL)
		return 0;
	struct prism_rr_line *rr = malloc(sizeof(*rr)); /* 4 KiB: not on the stack */
	if (rr == NULL)
		return prism_yaml_nomem(c);
	int rc = 0;
	for (size_t i = 0; rc == 0 && t[i] != NULL; i++) {
		prism_yaml_printable(shown, sizeof(shown), t[i]->name, strlen(t[i]->name));
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(t[j]->name, t[i]->name) == 0)
				rc = prism_yaml_fail(
					c, PRISM_ECONFIG,
					"zone_templates[%zu].name: '%s' is listed twice", i + 1,
					shown);
		for (size_t k = 0; rc == 0 && t[i]->records[k] != NULL; k++)
			if (prism_rr_line(t[i]->records[k], "template.invalid.", 3600, rr, why,
					  sizeof(why)) != 0)
				rc = prism_yaml_fail(c, PRISM_ECONFIG,
						     "zone_templates[%zu].records[%zu]: %s", i + 1,
						     k + 1, why);
	}
	free(rr);
	return rc;
}

int prism_config_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	if (s == NULL || host == NULL || port == NULL)
		return PRISM_EINVAL;
	const char *colon;
	size_t hl;
	const char *h = s;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return PRISM_ECONFIG;
		h = s + 1;
		hl = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return PRISM_ECONFIG;
		hl = (size_t)(colon - s);
	}
	uint64_t p;
	if (hl == 0 || hl >= hostlen ||
	    !prism_yaml_parse_uint(colon + 1, strlen(colon + 1), 1, 65535, &p))
		return PRISM_ECONFIG;
	memcpy(host, h, hl);
	host[hl] = '\0';
	unsigned char buf[sizeof(struct in6_addr)];
	bool v6 = s[0] == '[';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, host, buf) != 1)
		return PRISM_ECONFIG;
	*port = (uint16_t)p;
	return 0;
}

/* A kea.* zone: normalised, one of zones; unset = powerdns.default_zone. */
static int kea_zone(struct prism_yaml_ctx *c, size_t idx, char **zone)
{
	struct prism_config *cfg = c->cfg;
	char buf[PRISM_DNAME_MAX];
	if (*zone == NULL)
		return prism_yaml_store_str(zone, cfg->powerdns_default_zone,
					    strlen(cfg->powerdns_default_zone)) == 0
			       ? 0
			       : prism_yaml_nomem(c);
	if (prism_zone_normalize(*zone, buf, sizeof(buf)) != 0)
		return prism_yaml_fail_opt(c, idx, "not a valid zone name");
	bool known = false;
	for (size_t i = 0; cfg->zones[i] != NULL; i++)
		known |= strcmp(cfg->zones[i]->name, buf) == 0;
	if (!known)
		return prism_yaml_fail_opt(c, idx, "is not one of zones");
	return prism_yaml_store_str(zone, buf, strlen(buf)) == 0 ? 0 : prism_yaml_nomem(c);
}

static int kea_regex(struct prism_yaml_ctx *c, size_t idx, const char *re)
{
	regex_t rx;
	if (re == NULL)
		return 0;
	int rc = regcomp(&rx, re, REG_EXTENDED | REG_ICASE | REG_NOSUB);
	if (rc != 0) {
		char why[PRISM_YAML_WHY_MAX], msg[96];
		regerror(rc, &rx, msg, sizeof(msg));
		snprintf(why, sizeof(why), "not a regular expression (%s)", msg);
		return prism_yaml_fail_opt(c, idx, why);
	}
	regfree(&rx);
	return 0;
}

static bool sql_identifier(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 63 || !(islower((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

static int validate_kea(struct prism_yaml_ctx *c)
{
	struct prism_config *cfg = c->cfg;
	char host[64];
	uint16_t port;
	int rc;
	if (prism_config_hostport(cfg->kea_ncr_listen, host, sizeof(host), &port) != 0)
		return prism_yaml_fail_opt(
			c, IDX_kea_ncr_listen,
			"must be IPv4:port or [IPv6]:port, e.g. 127.0.0.1:53001");
	if (cfg->kea_ncr_ttl_min > cfg->kea_ncr_ttl_max)
		return prism_yaml_fail_opt(c, IDX_kea_ncr_ttl_min,
					   "must not be above kea.ncr.ttl_max");
	if (cfg->kea_reservations_password_file != NULL &&
	    cfg->kea_reservations_password_env != NULL)
		return prism_yaml_fail_opt(
			c, IDX_kea_reservations_password_env,
			"cannot be combined with kea.reservations.password_file");
	if (!sql_identifier(cfg->kea_reservations_channel))
		return prism_yaml_fail_opt(
			c, IDX_kea_reservations_channel,
			"must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, "
			"at most 63 characters)");
	if ((rc = kea_zone(c, IDX_kea_reservations_zone, &cfg->kea_reservations_zone)) != 0 ||
	    (rc = kea_zone(c, IDX_kea_leases_zone, &cfg->kea_leases_zone)) != 0 ||
	    (rc = kea_regex(c, IDX_kea_reservations_filter_regex,
			    cfg->kea_reservations_filter_regex)) != 0 ||
	    (rc = kea_regex(c, IDX_kea_leases_filter_regex, cfg->kea_leases_filter_regex)) != 0)
		return rc;
	return 0;
}

/* An owner id goes into every ownership mark (PowerDNS: the comment's account): short,
 * printable, no spaces, so a mark never needs quoting anywhere. */
static bool owner_id_ok(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)id[i]) && strchr("._-", id[i]) == NULL)
			return false;
	return true;
}

/* The TLS agent port: its files, the client certificate mode, distinct ports. */
static int validate_tls(struct prism_yaml_ctx *c)
{
	struct prism_config *cfg = c->cfg;
	if (cfg->server_tcp_port == 0 && cfg->server_tls_port == 0)
		return prism_yaml_fail_opt(c, IDX_server_tcp_port,
					   "0 turns the plain agent port off: set server.tls_port "
					   "for agents to have one");
	if (cfg->server_tls_port != 0 &&
	    (cfg->server_tls_cert == NULL || cfg->server_tls_key == NULL))
		return prism_yaml_fail_opt(
			c, cfg->server_tls_cert ? IDX_server_tls_key : IDX_server_tls_cert,
			"required when server.tls_port is set");
	if (strcmp(cfg->server_tls_client_cert, "none") != 0 && cfg->server_tls_client_ca == NULL)
		return prism_yaml_fail_opt(c, IDX_server_tls_client_ca,
					   "required when server.tls_client_cert is optional or "
					   "required");
	if (cfg->server_tls_client_crl != NULL && cfg->server_tls_client_ca == NULL)
		return prism_yaml_fail_opt(c, IDX_server_tls_client_ca,
					   "required with server.tls_client_crl");
	if (cfg->server_tls_port != 0 && (cfg->server_tls_port == cfg->server_tcp_port ||
					  cfg->server_tls_port == cfg->server_api_port))
		return prism_yaml_fail_opt(c, IDX_server_tls_port,
					   "must differ from server.tcp_port and server.api_port");
	return 0;
}

/* The registry backend: a PostgreSQL one needs its URL, once; a SQLite one none. */
static int validate_database(struct prism_yaml_ctx *c)
{
	struct prism_config *cfg = c->cfg;
	if (cfg->database_url != NULL && cfg->database_url_file != NULL)
		return prism_yaml_fail_opt(c, IDX_database_url_file,
					   "cannot be combined with database.url");
	bool pg = strcmp(cfg->database_type, "postgresql") == 0;
	if (pg && cfg->database_url == NULL && cfg->database_url_file == NULL)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "database.url: required when database.type is postgresql "
				       "(or set database.url_file)");
	if (!pg && (cfg->database_url != NULL || cfg->database_url_file != NULL))
		return prism_yaml_fail_opt(
			c, cfg->database_url ? IDX_database_url : IDX_database_url_file,
			"only with database.type postgresql");
	return 0;
}

static int validate(struct prism_yaml_ctx *c, const char *const *envp)
{
	struct prism_config *cfg = c->cfg;
	char zone[PRISM_DNAME_MAX];
	int rc;

	rc = prism_zone_normalize(cfg->powerdns_default_zone, zone, sizeof(zone));
	if (rc != 0)
		return prism_yaml_fail_opt(c, IDX_powerdns_default_zone, "not a valid zone name");
	if (prism_yaml_store_str(&cfg->powerdns_default_zone, zone, strlen(zone)) != 0)
		return prism_yaml_nomem(c);
	if (!has_scheme(cfg->powerdns_api_url, "http://") &&
	    !has_scheme(cfg->powerdns_api_url, "https://"))
		return prism_yaml_fail_opt(c, IDX_powerdns_api_url,
					   "must start with http:// or https://");
	if (cfg->powerdns_api_key != NULL && cfg->powerdns_api_key_file != NULL)
		return prism_yaml_fail_opt(c, IDX_powerdns_api_key_file,
					   "cannot be combined with powerdns.api_key");
	if (cfg->powerdns_enabled && cfg->powerdns_api_key == NULL &&
	    cfg->powerdns_api_key_file == NULL)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "powerdns.api_key: required when powerdns.enabled "
				       "is true (or set powerdns.api_key_file)");
	if (cfg->server_host == NULL || cfg->server_host[0] == NULL)
		return prism_yaml_fail_opt(c, IDX_server_host, "must name at least one address");
	for (char **h = cfg->server_host; *h != NULL; h++) {
		unsigned char buf[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, *h, buf) != 1 && inet_pton(AF_INET6, *h, buf) != 1) {
			char why[PRISM_YAML_WHY_MAX], shown[64];
			prism_yaml_printable(shown, sizeof(shown), *h, strlen(*h));
			snprintf(why, sizeof(why), "'%s' is not an IPv4 or IPv6 address", shown);
			return prism_yaml_fail_opt(c, IDX_server_host, why);
		}
	}
	size_t nhosts = 0;
	while (cfg->server_host[nhosts] != NULL)
		nhosts++;
	if (nhosts > 16)
		return prism_yaml_fail_opt(c, IDX_server_host, "at most 16 addresses");
	if (!owner_id_ok(cfg->sync_owner_id))
		return prism_yaml_fail_opt(c, IDX_sync_owner_id,
					   "must be 1-64 of the characters a-z A-Z 0-9 . _ -");
	if (cfg->ha_instance_id != NULL && !prism_ha_id_ok(cfg->ha_instance_id))
		return prism_yaml_fail_opt(
			c, IDX_ha_instance_id,
			"must be 1-128 of the characters a-z A-Z 0-9 . _ - : [ ]");
	for (char **r = cfg->auth_reserved_names; r != NULL && *r != NULL; r++)
		for (char *p = *r; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	if ((rc = validate_zones(c)) != 0 || (rc = validate_targets(c)) != 0 ||
	    (rc = validate_templates(c)) != 0 || (rc = validate_kea(c)) != 0)
		return rc;
	if ((cfg->api_tls_cert == NULL) != (cfg->api_tls_key == NULL))
		return prism_yaml_fail_opt(c,
					   cfg->api_tls_cert ? IDX_api_tls_cert : IDX_api_tls_key,
					   "api.tls_cert and api.tls_key go together");
	if ((rc = validate_tls(c)) != 0 || (rc = validate_database(c)) != 0)
		return rc;
	if (cfg->server_tcp_port == cfg->server_api_port) {
		/* blame the one the user set; api_port when both were set */
		if (c->src[IDX_server_api_port] == PRISM_YAML_SRC_DEFAULT)
			return prism_yaml_fail_opt(c, IDX_server_tcp_port,
						   "must differ from server.api_port");
		return prism_yaml_fail_opt(c, IDX_server_api_port,
					   "must differ from server.tcp_port");
	}
	return 0;
}

/** Free what this file's types and the top-level lists hold; yamlutil frees the rest. */
static void release_cb(void *cfg)
{
	for (int i = 0; i < NOPTS; i++) {
		void *f = prism_yaml_field(cfg, &opts[i]);
		if (opts[i].type == OPT_ENUM)
			free(*(char **)f);
		else if (opts[i].type == OPT_LIST || opts[i].type == OPT_STRS)
			prism_strv_free(*(char ***)f);
		else if (opts[i].type == OPT_CREDS)
			creds_free(*(struct prism_config_cred ***)f);
	}
	for (size_t i = 0; i < sizeof(list_kinds) / sizeof(list_kinds[0]); i++)
		entries_free(&list_kinds[i], *(void ***)((char *)cfg + list_kinds[i].off));
}

static const struct prism_yaml_schema schema = {
	.opts = opts,
	.nopts = NOPTS,
	.size = sizeof(struct prism_config),
	.flags = PRISM_YAML_PREPASS,
	.set_text_cb = set_text,
	.type_reason_cb = type_reason,
	.node_cb = node_cb,
	.root_key_cb = root_key_cb,
	.validate_cb = validate,
	.release_cb = release_cb,
};

/* ---- public ---- */

int prism_config_parse(const char *yaml, size_t len, const char *const *envp,
		       struct prism_config **out, char *err, size_t errlen)
{
	void *cfg = NULL;
	int rc;

	rc = prism_yaml_parse(&schema, yaml, len, envp, out != NULL ? &cfg : NULL, err, errlen);
	if (out != NULL)
		*out = cfg; /* NULL on error */
	return rc;
}

struct prism_config *prism_config_defaults(void)
{
	struct prism_config *cfg = NULL;

	prism_config_parse(NULL, 0, NULL, &cfg, NULL, 0);
	return cfg;
}

void prism_config_free(struct prism_config *cfg)
{
	prism_yaml_free(&schema, cfg);
}

const struct prism_config_opt_info *prism_config_options(size_t *n)
{
	if (n != NULL)
		*n = NOPTS;
	return infos;
}

static bool text_same(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool strv_same(char **a, char **b)
{
	for (; a && b && *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return (a == NULL || *a == NULL) && (b == NULL || *b == NULL);
}

static bool creds_same(struct prism_config_cred **a, struct prism_config_cred **b)
{
	for (; a && b && *a && *b; a++, b++)
		if (!text_same((*a)->name, (*b)->name) || !text_same((*a)->secret, (*b)->secret) ||
		    !text_same((*a)->secret_file, (*b)->secret_file) ||
		    !text_same((*a)->role, (*b)->role))
			return false;
	return (a == NULL || *a == NULL) && (b == NULL || *b == NULL);
}

bool prism_config_option_same(const struct prism_config *a, const struct prism_config *b, size_t i)
{
	if (a == NULL || b == NULL || i >= NOPTS)
		return false;
	const struct prism_yaml_opt *o = &opts[i];
	const char *pa = (const char *)a + o->off, *pb = (const char *)b + o->off;
	switch (o->type) {
	case OPT_STR:
	case OPT_ENUM: return text_same(*(char *const *)pa, *(char *const *)pb);
	case OPT_FLOAT: return *(const double *)pa == *(const double *)pb;
	case OPT_LIST:
	case OPT_STRS: return strv_same(*(char **const *)pa, *(char **const *)pb);
	case OPT_CREDS:
		return creds_same(*(struct prism_config_cred * *const *)pa,
				  *(struct prism_config_cred * *const *)pb);
	default: return memcmp(pa, pb, o->size) == 0; /* integers, bool */
	}
}

void prism_config_option_bounds(size_t i, char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	if (i >= NOPTS)
		return;
	const struct prism_yaml_opt *o = &opts[i];
	switch (o->type) {
	case OPT_INT: snprintf(buf, len, "%" PRIu64 "–%" PRIu64, o->imin, o->imax); break;
	case OPT_FLOAT: snprintf(buf, len, "%g–%g", o->fmin, o->fmax); break;
	case OPT_ENUM:
	case OPT_LIST:
		if (o->choices != NULL)
			choices_text(o->choices, buf, len);
		break;
	case OPT_CREDS:
		if (o->choices != NULL) {
			char roles[64];
			choices_text(o->choices, roles, sizeof(roles));
			snprintf(buf, len, "role: %s", roles);
		}
		break;
	default: break;
	}
}

uint32_t prism_config_agent_ttl(const struct prism_config *cfg)
{
	for (size_t z = 0; cfg->zones[z] != NULL; z++)
		if (strcmp(cfg->zones[z]->name, cfg->powerdns_default_zone) == 0)
			return cfg->zones[z]->ttl;
	return cfg->powerdns_default_ttl;
}

bool prism_config_has_record_type(const struct prism_config *cfg, const char *type)
{
	for (char **t = cfg->powerdns_record_types; t != NULL && *t != NULL; t++)
		if (strcmp(*t, type) == 0)
			return true;
	return false;
}

uint32_t prism_config_offline_after(const struct prism_config *cfg)
{
	return cfg->heartbeat_interval * cfg->heartbeat_timeout_multiplier +
	       cfg->heartbeat_grace_period;
}
