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
 * validation errors can point at the line or the variable.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <yaml.h>

#include "core/config.h"
#include "core/dname.h"
#include "core/error.h"

/*
 * OPT_STRS: a list of strings that also takes one plain string (server.host: "::"), may be
 * empty, comma-separated in the environment. OPT_CREDS: a list of mappings {name, <secret>,
 * <secret>_file[, role]} where <secret> is the option name without its plural 's'
 * (auth.tokens → token); in the environment "name:secret,name:secret".
 */
enum opt_type { OPT_STR, OPT_INT, OPT_BOOL, OPT_FLOAT, OPT_LIST, OPT_ENUM, OPT_STRS, OPT_CREDS };

/** An accepted spelling (matched case-insensitively) and the value stored for it. */
struct choice {
	const char *name;
	const char *value;
};

struct opt {
	const char *key; /* "section.name" */
	const char *env; /* "PRISM_SECTION_NAME" */
	enum opt_type type;
	size_t off;		      /* offsetof(struct prism_config, section_name) */
	size_t size;		      /* sizeof the field (integer width) */
	uint64_t imin, imax;	      /* OPT_INT bounds */
	double fmin, fmax;	      /* OPT_FLOAT bounds */
	const struct choice *choices; /* OPT_ENUM, OPT_LIST (NULL: any string) */
	const char *def;	      /* default as text; "" = unset (NULL) */
	const char *help;
};

/* clang-format off */
static const struct choice level_choices[] = {
	{ "debug", "debug" }, { "info", "info" }, { "warning", "warning" },
	{ "warn", "warning" }, { "error", "error" }, { "critical", "critical" },
	{ NULL, NULL },
};
static const struct choice sync_choices[] = {
	{ "normal", "normal" }, { "full", "full" }, { NULL, NULL },
};
static const struct choice offline_choices[] = {
	{ "keep", "keep" }, { "remove", "remove" }, { NULL, NULL },
};
static const struct choice role_choices[] = {
	{ "read", "read" }, { "write", "write" }, { "admin", "admin" }, { NULL, NULL },
};
static const struct choice rrtype_choices[] = {
	{ "A", "A" }, { "AAAA", "AAAA" }, { NULL, NULL },
};
/* clang-format on */

/*
 * X(section, name, type, min, max, choices, default, env, help)
 * The row order is the struct order and the order of prism_config_options().
 */
#define OPTIONS(X)                                                                                \
	X(server, host, STRS, 0, 0, NULL, "0.0.0.0", "PRISM_SERVER_HOST",                         \
	  "listen addresses (IP literals) of the agent and API ports; one or a list")             \
	X(server, tcp_port, INT, 1, 65535, NULL, "8080", "PRISM_SERVER_TCP_PORT",                 \
	  "agent protocol TCP port")                                                              \
	X(server, api_port, INT, 1, 65535, NULL, "8081", "PRISM_SERVER_API_PORT",                 \
	  "REST API port")                                                                        \
	X(server, max_connections, INT, 1, 1000000, NULL, "1000", "PRISM_SERVER_MAX_CONNECTIONS", \
	  "most agent connections open at once")                                                  \
	X(server, idle_timeout, INT, 1, 86400, NULL, "30", "PRISM_SERVER_IDLE_TIMEOUT",           \
	  "seconds an agent connection may stay silent")                                          \
	X(server, frame_timeout, INT, 1, 3600, NULL, "10", "PRISM_SERVER_FRAME_TIMEOUT",          \
	  "seconds to finish a frame once it has started")                                        \
	X(server, instance, STR, 0, 0, NULL, "prism", "PRISM_SERVER_INSTANCE",                    \
	  "instance name written in ownership comments")                                          \
	X(database, path, STR, 0, 0, NULL, "./prism.db", "PRISM_DATABASE_PATH",                   \
	  "SQLite registry file")                                                                 \
	X(database, connection_pool_size, INT, 1, 1000, NULL, "20",                               \
	  "PRISM_DATABASE_CONNECTION_POOL_SIZE", "accepted for compatibility; unused")            \
	X(database, synchronous, ENUM, 0, 0, sync_choices, "normal",                              \
	  "PRISM_DATABASE_SYNCHRONOUS", "SQLite synchronous mode: normal or full")                \
	X(heartbeat, interval, INT, 1, 86400, NULL, "60", "PRISM_HEARTBEAT_INTERVAL",             \
	  "seconds between heartbeats asked of agents")                                           \
	X(heartbeat, check_interval, INT, 1, 86400, NULL, "30", "PRISM_HEARTBEAT_CHECK_INTERVAL", \
	  "seconds between checks for silent hosts")                                              \
	X(heartbeat, timeout_multiplier, INT, 1, 100, NULL, "2",                                  \
	  "PRISM_HEARTBEAT_TIMEOUT_MULTIPLIER", "missed intervals before a host is offline")      \
	X(heartbeat, grace_period, INT, 0, 86400, NULL, "30", "PRISM_HEARTBEAT_GRACE_PERIOD",     \
	  "extra seconds before a host is marked offline")                                        \
	X(heartbeat, cleanup_after_days, INT, 0, 3650, NULL, "30",                                \
	  "PRISM_HEARTBEAT_CLEANUP_AFTER_DAYS", "days to keep offline hosts (0 = forever)")       \
	X(heartbeat, offline_dns, ENUM, 0, 0, offline_choices, "keep",                            \
	  "PRISM_HEARTBEAT_OFFLINE_DNS", "records of offline hosts: keep or remove")              \
	X(logging, level, ENUM, 0, 0, level_choices, "info", "PRISM_LOGGING_LEVEL",               \
	  "debug, info, warning, error or critical")                                              \
	X(logging, file, STR, 0, 0, NULL, "", "PRISM_LOGGING_FILE",                               \
	  "log file; unset = standard error")                                                     \
	X(logging, max_size, INT, 0, 9223372036854775807u, NULL, "104857600",                     \
	  "PRISM_LOGGING_MAX_SIZE", "accepted for compatibility")                                 \
	X(logging, backup_count, INT, 0, 1000, NULL, "5", "PRISM_LOGGING_BACKUP_COUNT",           \
	  "accepted for compatibility")                                                           \
	X(powerdns, enabled, BOOL, 0, 0, NULL, "false", "PRISM_POWERDNS_ENABLED",                 \
	  "push records to PowerDNS")                                                             \
	X(powerdns, api_url, STR, 0, 0, NULL, "http://127.0.0.1:8053/api/v1",                     \
	  "PRISM_POWERDNS_API_URL", "PowerDNS HTTP API base URL")                                 \
	X(powerdns, api_key, STR, 0, 0, NULL, "", "PRISM_POWERDNS_API_KEY",                       \
	  "PowerDNS API key (X-API-Key)")                                                         \
	X(powerdns, api_key_file, STR, 0, 0, NULL, "", "PRISM_POWERDNS_API_KEY_FILE",             \
	  "file holding the PowerDNS API key, instead of api_key")                                \
	X(powerdns, server_id, STR, 0, 0, NULL, "localhost", "PRISM_POWERDNS_SERVER_ID",          \
	  "PowerDNS server id in API paths")                                                      \
	X(powerdns, default_zone, STR, 0, 0, NULL, "managed.prism.local.",                        \
	  "PRISM_POWERDNS_DEFAULT_ZONE", "zone for hosts registered without one")                 \
	X(powerdns, default_ttl, INT, 1, 2147483647, NULL, "300", "PRISM_POWERDNS_DEFAULT_TTL",   \
	  "TTL of created records, seconds")                                                      \
	X(powerdns, timeout, FLOAT, 0.1, 600, NULL, "5", "PRISM_POWERDNS_TIMEOUT",                \
	  "seconds per PowerDNS API request")                                                     \
	X(powerdns, retry_attempts, INT, 0, 100, NULL, "3", "PRISM_POWERDNS_RETRY_ATTEMPTS",      \
	  "quick retries before backing off longer")                                              \
	X(powerdns, retry_delay, FLOAT, 0.01, 3600, NULL, "1", "PRISM_POWERDNS_RETRY_DELAY",      \
	  "seconds of the first backoff step")                                                    \
	X(powerdns, record_types, LIST, 0, 0, rrtype_choices, "A,AAAA",                           \
	  "PRISM_POWERDNS_RECORD_TYPES", "record types to publish: A, AAAA")                      \
	X(powerdns, auto_ptr, BOOL, 0, 0, NULL, "false", "PRISM_POWERDNS_AUTO_PTR",               \
	  "also manage PTR records")                                                              \
	X(auth, required, BOOL, 0, 0, NULL, "true", "PRISM_AUTH_REQUIRED",                        \
	  "agents must send a valid auth_token")                                                  \
	X(auth, tokens, CREDS, 0, 0, NULL, "", "PRISM_AUTH_TOKENS",                               \
	  "agent tokens: list of {name, token | token_file}")                                     \
	X(auth, reserved_names, STRS, 0, 0, NULL, "", "PRISM_AUTH_RESERVED_NAMES",                \
	  "hostnames agents may not claim (besides the zone's ns names)")                         \
	X(api, keys, CREDS, 0, 0, role_choices, "", "PRISM_API_KEYS",                             \
	  "REST API keys: list of {name, key | key_file, role: read|write|admin}")                \
	X(api, public_health, BOOL, 0, 0, NULL, "true", "PRISM_API_PUBLIC_HEALTH",                \
	  "serve /api/health without a key")                                                      \
	X(api, public_metrics, BOOL, 0, 0, NULL, "false", "PRISM_API_PUBLIC_METRICS",             \
	  "serve /metrics without a key")                                                         \
	X(api, tls_cert, STR, 0, 0, NULL, "", "PRISM_API_TLS_CERT",                               \
	  "PEM certificate file: serve the API over HTTPS")                                       \
	X(api, tls_key, STR, 0, 0, NULL, "", "PRISM_API_TLS_KEY",                                 \
	  "PEM private key file for tls_cert")                                                    \
	X(api, max_body, INT, 1024, 67108864, NULL, "1048576", "PRISM_API_MAX_BODY",              \
	  "largest accepted request body, bytes")                                                 \
	X(sync, reconcile_interval, INT, 0, 604800, NULL, "300", "PRISM_SYNC_RECONCILE_INTERVAL",  \
	  "seconds between reconciler passes over every zone and target (0 = off)")               \
	X(sync, batch_max, INT, 1, 20000, NULL, "5000", "PRISM_SYNC_BATCH_MAX",                   \
	  "most RRsets in one change request")                                                    \
	X(sync, coalesce_ms, INT, 0, 10000, NULL, "2", "PRISM_SYNC_COALESCE_MS",                  \
	  "milliseconds to wait after a change so a burst becomes one request")                   \
	X(sync, retry_max, INT, 1, 86400, NULL, "60", "PRISM_SYNC_RETRY_MAX",                     \
	  "longest backoff between retries of a failing target, seconds")

#define FIELD(sec, name) (((struct prism_config *)0)->sec##_##name)

#define BOUNDS_STR(lo, hi)
#define BOUNDS_ENUM(lo, hi)
#define BOUNDS_BOOL(lo, hi)
#define BOUNDS_LIST(lo, hi)
#define BOUNDS_STRS(lo, hi)
#define BOUNDS_CREDS(lo, hi)
#define BOUNDS_INT(lo, hi)   .imin = (lo), .imax = (hi)
#define BOUNDS_FLOAT(lo, hi) .fmin = (lo), .fmax = (hi)

#define OPT_ROW(sec, name, t, lo, hi, ch, d, e, h)                                                \
	{.key = #sec "." #name,                                                                   \
	 .env = e,                                                                                \
	 .type = OPT_##t,                                                                         \
	 .off = offsetof(struct prism_config, sec##_##name),                                      \
	 .size = sizeof(FIELD(sec, name)),                                                        \
	 .choices = ch,                                                                           \
	 .def = d,                                                                                \
	 .help = h,                                                                               \
	 BOUNDS_##t(lo, hi)},

static const struct opt opts[] = {OPTIONS(OPT_ROW)};

#define IDX_ROW(sec, name, ...) IDX_##sec##_##name,
enum { OPTIONS(IDX_ROW) NOPTS };

#define TYPE_NAME_STR	"string"
#define TYPE_NAME_INT	"int"
#define TYPE_NAME_BOOL	"bool"
#define TYPE_NAME_FLOAT "float"
#define TYPE_NAME_LIST	"list"
#define TYPE_NAME_ENUM	"enum"
#define TYPE_NAME_STRS	"strings"
#define TYPE_NAME_CREDS "credentials"

#define INFO_ROW(sec, name, t, lo, hi, ch, d, e, h)                                               \
	{.key = #sec "." #name, .type = TYPE_NAME_##t, .def = d, .env = e, .help = h},

static const struct prism_config_opt_info infos[] = {OPTIONS(INFO_ROW)};

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

#define SRC_DEFAULT 0
#define SRC_ENV	    SIZE_MAX

struct ctx {
	struct prism_config *cfg;
	size_t src[NOPTS]; /* SRC_DEFAULT, a file line, or SRC_ENV */
	char *err;
	size_t errlen;
};

#define WHY_MAX 160

__attribute__((format(printf, 3, 4))) static int fail(struct ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int nomem(struct ctx *c)
{
	return fail(c, PRISM_ENOMEM, "out of memory");
}

/** Copy user text into @p dst for an error message: printable ASCII only, one line, short. */
static void printable(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t max = dstlen > 4 ? dstlen - 4 : 0, i;

	for (i = 0; i < n && i < max && i < 48; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
	if (i < n && dstlen >= 4)
		strcat(dst, "...");
}

static void *field(struct prism_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->off;
}

static bool eq_nocase(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

static void choices_text(const struct choice *ch, char *buf, size_t len)
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
static void secret_name(const struct opt *o, char *buf, size_t len)
{
	const char *dot = strchr(o->key, '.');
	const char *name = dot ? dot + 1 : o->key;
	size_t n = strlen(name);
	if (n > 1 && name[n - 1] == 's')
		n--;
	snprintf(buf, len, "%.*s", (int)n, name);
}

/** The reason given for any value of the wrong shape for @p o. */
static void type_reason(const struct opt *o, char *why, size_t wl)
{
	char list[80];

	switch (o->type) {
	case OPT_STR: snprintf(why, wl, "must be a string"); break;
	case OPT_INT:
		snprintf(why, wl, "must be an integer between %" PRIu64 " and %" PRIu64, o->imin,
			 o->imax);
		break;
	case OPT_BOOL: snprintf(why, wl, "must be true or false"); break;
	case OPT_FLOAT:
		snprintf(why, wl, "must be a number between %g and %g", o->fmin, o->fmax);
		break;
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

/** Decimal digits only, no sign, no leading zeros, no overflow, within [lo, hi]. */
static bool parse_uint(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/*
 * strtod, but only plain decimal notation ("5", "0.5", "1e-3"): no hex, inf, nan or
 * surrounding space, and the whole text must be consumed. strtod follows LC_NUMERIC; Prism
 * never calls setlocale(), so the decimal point is always '.'.
 */
static bool parse_double(const char *s, size_t n, double lo, double hi, double *out)
{
	char buf[64];
	char *end;
	double v;

	if (n == 0 || n >= sizeof(buf))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]) && strchr(".eE+-", s[i]) == NULL)
			return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (end != buf + n || errno == ERANGE || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/** YAML 1.1 booleans in any case; the environment also takes 1 and 0. */
static bool parse_bool(const char *s, size_t n, bool env, bool *out)
{
	if (eq_nocase(s, n, "true") || eq_nocase(s, n, "yes") || eq_nocase(s, n, "on") ||
	    (env && eq_nocase(s, n, "1"))) {
		*out = true;
		return true;
	}
	if (eq_nocase(s, n, "false") || eq_nocase(s, n, "no") || eq_nocase(s, n, "off") ||
	    (env && eq_nocase(s, n, "0"))) {
		*out = false;
		return true;
	}
	return false;
}

static const char *find_choice(const struct choice *ch, const char *s, size_t n)
{
	for (; ch->name != NULL; ch++)
		if (eq_nocase(s, n, ch->name))
			return ch->value;
	return NULL;
}

static void store_uint(void *f, size_t size, uint64_t v)
{
	if (size == sizeof(uint16_t)) {
		uint16_t x = (uint16_t)v;
		memcpy(f, &x, sizeof(x));
	} else if (size == sizeof(uint32_t)) {
		uint32_t x = (uint32_t)v;
		memcpy(f, &x, sizeof(x));
	} else {
		memcpy(f, &v, sizeof(v));
	}
}

/** Replace a string field with a copy of s[0..n), or NULL when @p s is NULL. */
static int store_str(char **f, const char *s, size_t n)
{
	char *d = NULL;

	if (s != NULL) {
		d = strndup(s, n);
		if (d == NULL)
			return PRISM_ENOMEM;
	}
	free(*f);
	*f = d;
	return 0;
}

/* ---- lists ---- */

struct list {
	char **v; /* NULL-terminated once non-empty */
	size_t n;
};

/** Validate one list entry and append its canonical form. */
static int list_add(struct list *l, const struct opt *o, const char *s, size_t n, char *why,
		    size_t wl)
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
			printable(shown, sizeof(shown), s, n);
			choices_text(o->choices, names, sizeof(names));
			snprintf(why, wl, "'%s' is not one of %s", shown, names);
			return PRISM_ECONFIG;
		}
		s = val;
		n = strlen(val);
	}
	for (size_t i = 0; i < l->n; i++) {
		if (strlen(l->v[i]) == n && memcmp(l->v[i], s, n) == 0) {
			printable(shown, sizeof(shown), s, n);
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
static int list_commit(struct prism_config *cfg, const struct opt *o, struct list *l, char *why,
		       size_t wl)
{
	char ***f = field(cfg, o);

	if (l->n == 0 && o->type != OPT_STRS) {
		free(l->v);
		type_reason(o, why, wl);
		return PRISM_ECONFIG;
	}
	strv_free(*f);
	*f = l->v;
	return 0;
}

/** Comma-separated list ("A, AAAA"): the environment and default form. */
static int list_from_text(struct prism_config *cfg, const struct opt *o, const char *s, size_t n,
			  char *why, size_t wl)
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
				strv_free(l.v);
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
static int creds_add(struct creds *l, const struct opt *o, struct prism_config_cred *c,
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
			printable(shown, sizeof(shown), c->name, strlen(c->name));
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

static void creds_commit(struct prism_config *cfg, const struct opt *o, struct creds *l)
{
	struct prism_config_cred ***f = field(cfg, o);

	creds_free(*f);
	*f = l->v;
}

/** Set one key of an entry; @p key is "name", the secret, "<secret>_file" or "role". */
static int cred_set(const struct opt *o, struct prism_config_cred *c, const char *key,
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
		printable(shown, sizeof(shown), key, kl);
		snprintf(why, wl, "unknown key '%s'", shown);
		return PRISM_ECONFIG;
	}
	if (*slot != NULL) {
		printable(shown, sizeof(shown), key, kl);
		snprintf(why, wl, "duplicate key '%s'", shown);
		return PRISM_ECONFIG;
	}
	if (vl == 0 || memchr(val, '\0', vl) != NULL) {
		printable(shown, sizeof(shown), key, kl);
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
static int creds_from_text(struct prism_config *cfg, const struct opt *o, const char *s,
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
 * Set option @p o from text s[0..n) (YAML scalar, environment value or default).
 * @return 0, PRISM_ECONFIG with the reason in @p why, or PRISM_ENOMEM.
 */
static int set_text(struct prism_config *cfg, const struct opt *o, const char *s, size_t n,
		    bool env, char *why, size_t wl)
{
	void *f = field(cfg, o);
	const char *val;
	uint64_t u;
	double d;
	bool b;

	switch (o->type) {
	case OPT_STR:
		if (memchr(s, '\0', n) != NULL) {
			snprintf(why, wl, "must not contain NUL characters");
			return PRISM_ECONFIG;
		}
		if (n == 0 && o->def[0] != '\0') {
			snprintf(why, wl, "must not be empty");
			return PRISM_ECONFIG;
		}
		return store_str(f, n ? s : NULL, n);
	case OPT_INT:
		if (!parse_uint(s, n, o->imin, o->imax, &u))
			break;
		store_uint(f, o->size, u);
		return 0;
	case OPT_BOOL:
		if (!parse_bool(s, n, env, &b))
			break;
		*(bool *)f = b;
		return 0;
	case OPT_FLOAT:
		if (!parse_double(s, n, o->fmin, o->fmax, &d))
			break;
		*(double *)f = d;
		return 0;
	case OPT_ENUM:
		val = find_choice(o->choices, s, n);
		if (val == NULL)
			break;
		return store_str(f, val, strlen(val));
	case OPT_LIST:
	case OPT_STRS: return list_from_text(cfg, o, s, n, why, wl);
	case OPT_CREDS: return creds_from_text(cfg, o, s, n, why, wl);
	}
	type_reason(o, why, wl);
	return PRISM_ECONFIG;
}

static int apply_defaults(struct ctx *c)
{
	char why[WHY_MAX];

	for (int i = 0; i < NOPTS; i++) {
		const struct opt *o = &opts[i];
		if (o->def[0] == '\0')
			continue;
		if (set_text(c->cfg, o, o->def, strlen(o->def), false, why, sizeof(why)) != 0)
			return nomem(c); /* the table's defaults are valid: see the unit tests */
	}
	return 0;
}

/* ---- YAML ---- */

static size_t node_line(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

static bool is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE)
		return false;
	if (n->tag != NULL && strcmp((const char *)n->tag, YAML_NULL_TAG) == 0)
		return true;
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
	       strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static bool same_scalar(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->data.scalar.length == b->data.scalar.length &&
	       memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) == 0;
}

/** Does option key @p k ("server.tcp_port") belong to section sec[0..sl)? */
static bool in_section(const char *k, const char *sec, size_t sl)
{
	return strlen(k) > sl && memcmp(k, sec, sl) == 0 && k[sl] == '.';
}

/** Row index of "sec.name", or -1. Names are compared as byte strings (NULs never match). */
static int find_opt(const char *sec, size_t sl, const char *name, size_t nl)
{
	for (int i = 0; i < NOPTS; i++) {
		const char *k = opts[i].key;
		if (in_section(k, sec, sl) && strlen(k + sl + 1) == nl &&
		    memcmp(k + sl + 1, name, nl) == 0)
			return i;
	}
	return -1;
}

static bool is_section(const char *sec, size_t sl)
{
	for (int i = 0; i < NOPTS; i++)
		if (in_section(opts[i].key, sec, sl))
			return true;
	return false;
}

static int set_list_node(struct ctx *c, int idx, yaml_document_t *doc, yaml_node_t *seq)
{
	const struct opt *o = &opts[idx];
	struct list l = {0};
	char why[WHY_MAX];
	int rc;

	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++) {
		yaml_node_t *e = yaml_document_get_node(doc, *it);
		if (e->type != YAML_SCALAR_NODE || is_null(e)) {
			type_reason(o, why, sizeof(why));
			rc = PRISM_ECONFIG;
		} else {
			rc = list_add(&l, o, (const char *)e->data.scalar.value,
				      e->data.scalar.length, why, sizeof(why));
		}
		if (rc != 0) {
			strv_free(l.v);
			if (rc == PRISM_ENOMEM)
				return nomem(c);
			return fail(c, rc, "%s: %s (line %zu)", o->key, why, node_line(e));
		}
	}
	rc = list_commit(c->cfg, o, &l, why, sizeof(why));
	if (rc == PRISM_ENOMEM)
		return nomem(c);
	if (rc != 0)
		return fail(c, rc, "%s: %s (line %zu)", o->key, why, node_line(seq));
	return 0;
}

/** One {name, secret | secret_file[, role]} mapping. */
static int cred_node(struct ctx *c, const struct opt *o, yaml_document_t *doc, yaml_node_t *m,
		     struct creds *l)
{
	char why[WHY_MAX];
	int rc = 0;

	if (m->type != YAML_MAPPING_NODE) {
		type_reason(o, why, sizeof(why));
		return fail(c, PRISM_ECONFIG, "%s: %s (line %zu)", o->key, why, node_line(m));
	}
	struct prism_config_cred *cr = calloc(1, sizeof(*cr));
	if (cr == NULL)
		return nomem(c);
	size_t line = node_line(m);
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		line = node_line(k);
		if (k->type != YAML_SCALAR_NODE || v->type != YAML_SCALAR_NODE || is_null(v)) {
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
		line = node_line(m);
		rc = creds_add(l, o, cr, why, sizeof(why));
	}
	if (rc == PRISM_ENOMEM)
		return nomem(c);
	if (rc != 0)
		return fail(c, rc, "%s: %s (line %zu)", o->key, why, line);
	return 0;
}

static int set_creds_node(struct ctx *c, int idx, yaml_document_t *doc, yaml_node_t *seq)
{
	const struct opt *o = &opts[idx];
	struct creds l = {0};
	char why[WHY_MAX];

	if (seq->type != YAML_SEQUENCE_NODE) {
		type_reason(o, why, sizeof(why));
		return fail(c, PRISM_ECONFIG, "%s: %s (line %zu)", o->key, why, node_line(seq));
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

static int set_node(struct ctx *c, int idx, yaml_document_t *doc, yaml_node_t *v)
{
	const struct opt *o = &opts[idx];
	char why[WHY_MAX];
	int rc;

	c->src[idx] = node_line(v);
	if (is_null(v))
		return 0; /* "key:" with no value keeps the default */
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
			strv_free(l.v);
		if (rc == PRISM_ENOMEM)
			return nomem(c);
		if (rc != 0)
			return fail(c, rc, "%s: %s (line %zu)", o->key, why, node_line(v));
		return 0;
	}
	if (o->type == OPT_LIST || v->type != YAML_SCALAR_NODE) {
		type_reason(o, why, sizeof(why));
		return fail(c, PRISM_ECONFIG, "%s: %s (line %zu)", o->key, why, node_line(v));
	}
	rc = set_text(c->cfg, o, (const char *)v->data.scalar.value, v->data.scalar.length, false,
		      why, sizeof(why));
	if (rc == PRISM_ENOMEM)
		return nomem(c);
	if (rc != 0)
		return fail(c, rc, "%s: %s (line %zu)", o->key, why, node_line(v));
	return 0;
}

static int walk_section(struct ctx *c, yaml_document_t *doc, yaml_node_t *k, yaml_node_t *v)
{
	const char *sec = (const char *)k->data.scalar.value;
	size_t sl = k->data.scalar.length;
	char shown[64];

	if (is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return fail(c, PRISM_ECONFIG, "%s: must be a mapping of keys (line %zu)", sec,
			    node_line(v));
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *pk = yaml_document_get_node(doc, p->key);
		yaml_node_t *pv = yaml_document_get_node(doc, p->value);
		int idx, rc;

		if (pk->type != YAML_SCALAR_NODE)
			return fail(c, PRISM_ECONFIG, "%s: keys must be plain names (line %zu)",
				    sec, node_line(pk));
		idx = find_opt(sec, sl, (const char *)pk->data.scalar.value,
			       pk->data.scalar.length);
		if (idx < 0) {
			printable(shown, sizeof(shown), (const char *)pk->data.scalar.value,
				  pk->data.scalar.length);
			return fail(c, PRISM_ECONFIG, "unknown key '%s.%s' (line %zu)", sec, shown,
				    node_line(pk));
		}
		if (c->src[idx] != SRC_DEFAULT)
			return fail(c, PRISM_ECONFIG, "duplicate key '%s' (line %zu)",
				    opts[idx].key, node_line(pk));
		rc = set_node(c, idx, doc, pv);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- top-level lists: targets and zones ---- */

enum fkind { F_STR, F_STRS, F_U32, F_BOOL };

struct field {
	const char *key;
	enum fkind kind;
	size_t off;
	bool required;
	uint32_t min, max; /* F_U32 */
};

#define TF(k, kind, req) {#k, kind, offsetof(struct prism_config_target, k), req, 0, 0}
static const struct field target_fields[] = {
	TF(name, F_STR, true),       TF(api_url, F_STR, true),  TF(api_key, F_STR, false),
	TF(api_key_file, F_STR, false), TF(server_id, F_STR, false),
	TF(dns_address, F_STR, false), TF(zones, F_STRS, false), TF(adopt, F_BOOL, false),
	TF(paused, F_BOOL, false),   {NULL, F_STR, 0, false, 0, 0},
};
#define ZF(k, kind, req) {#k, kind, offsetof(struct prism_config_zone, k), req, 1, 2147483647}
static const struct field zone_fields[] = {
	ZF(name, F_STR, true), ZF(nameservers, F_STRS, false), ZF(ttl, F_U32, false),
	ZF(soa, F_STR, false), {NULL, F_STR, 0, false, 0, 0},
};

struct list_kind {
	const char *key; /* "targets" */
	size_t size;     /* of one entry */
	const struct field *fields;
	size_t off;      /* of the list in struct prism_config */
};

static const struct list_kind list_kinds[] = {
	{"targets", sizeof(struct prism_config_target), target_fields,
	 offsetof(struct prism_config, targets)},
	{"zones", sizeof(struct prism_config_zone), zone_fields,
	 offsetof(struct prism_config, zones)},
};

static const struct list_kind *find_list_kind(const char *k, size_t n)
{
	for (size_t i = 0; i < sizeof(list_kinds) / sizeof(list_kinds[0]); i++)
		if (strlen(list_kinds[i].key) == n && memcmp(list_kinds[i].key, k, n) == 0)
			return &list_kinds[i];
	return NULL;
}

static void entry_free(const struct list_kind *lk, void *e)
{
	if (e == NULL)
		return;
	for (const struct field *f = lk->fields; f->key != NULL; f++) {
		if (f->kind == F_STR)
			free(*(char **)((char *)e + f->off));
		else if (f->kind == F_STRS)
			strv_free(*(char ***)((char *)e + f->off));
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

/* Set one field of an entry from its YAML value. */
static int entry_field(struct ctx *c, const struct list_kind *lk, size_t idx, void *e,
		       const struct field *f, yaml_document_t *doc, yaml_node_t *v)
{
	void *slot = (char *)e + f->off;
	const char *txt = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
	size_t n = v->type == YAML_SCALAR_NODE ? v->data.scalar.length : 0;
	uint64_t u;
	bool b;

	if (f->kind == F_STRS) {
		if (v->type != YAML_SEQUENCE_NODE)
			goto bad;
		size_t cnt = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++)
			cnt++;
		char **list = calloc(cnt + 1, sizeof(*list));
		if (list == NULL)
			return nomem(c);
		size_t i = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *x = yaml_document_get_node(doc, *it);
			if (x->type != YAML_SCALAR_NODE || x->data.scalar.length == 0 ||
			    memchr(x->data.scalar.value, '\0', x->data.scalar.length) != NULL) {
				strv_free(list);
				goto bad;
			}
			list[i] = strndup((const char *)x->data.scalar.value,
					  x->data.scalar.length);
			if (list[i++] == NULL) {
				strv_free(list);
				return nomem(c);
			}
		}
		*(char ***)slot = list;
		return 0;
	}
	if (v->type != YAML_SCALAR_NODE || is_null(v) || n == 0 || memchr(txt, '\0', n) != NULL)
		goto bad;
	switch (f->kind) {
	case F_STR:
		*(char **)slot = strndup(txt, n);
		return *(char **)slot ? 0 : nomem(c);
	case F_U32:
		if (!parse_uint(txt, n, f->min, f->max, &u))
			goto bad;
		*(uint32_t *)slot = (uint32_t)u;
		return 0;
	case F_BOOL:
		if (!parse_bool(txt, n, false, &b))
			goto bad;
		*(bool *)slot = b;
		return 0;
	default: break;
	}
bad:
	return fail(c, PRISM_ECONFIG, "%s[%zu].%s: must be %s (line %zu)", lk->key, idx + 1,
		    f->key,
		    f->kind == F_STRS  ? "a list of strings"
		    : f->kind == F_U32 ? "a positive integer"
		    : f->kind == F_BOOL ? "true or false"
					: "a non-empty string",
		    node_line(v));
}

static int entry_node(struct ctx *c, const struct list_kind *lk, size_t idx,
		      yaml_document_t *doc, yaml_node_t *m, void **out)
{
	char shown[64];

	if (m->type != YAML_MAPPING_NODE)
		return fail(c, PRISM_ECONFIG, "%s[%zu]: must be a mapping (line %zu)", lk->key,
			    idx + 1, node_line(m));
	void *e = calloc(1, lk->size);
	if (e == NULL)
		return nomem(c);
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
			printable(shown, sizeof(shown),
				  k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value
							      : "?",
				  k->type == YAML_SCALAR_NODE ? k->data.scalar.length : 1);
			rc = fail(c, PRISM_ECONFIG, "unknown key '%s[%zu].%s' (line %zu)", lk->key,
				  idx + 1, shown, node_line(k));
			break;
		}
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++)
			if (same_scalar(yaml_document_get_node(doc, q->key), k))
				rc = fail(c, PRISM_ECONFIG, "duplicate key '%s[%zu].%s' (line %zu)",
					  lk->key, idx + 1, f->key, node_line(k));
		if (rc == 0)
			rc = entry_field(c, lk, idx, e, f, doc, v);
	}
	for (const struct field *f = lk->fields; rc == 0 && f->key != NULL; f++)
		if (f->required && *(char **)((char *)e + f->off) == NULL)
			rc = fail(c, PRISM_ECONFIG, "%s[%zu].%s: required (line %zu)", lk->key,
				  idx + 1, f->key, node_line(m));
	if (rc != 0) {
		entry_free(lk, e);
		return rc;
	}
	*out = e;
	return 0;
}

static int walk_list(struct ctx *c, const struct list_kind *lk, yaml_document_t *doc,
		     yaml_node_t *v)
{
	if (is_null(v))
		return 0;
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(c, PRISM_ECONFIG, "%s: must be a list of mappings (line %zu)", lk->key,
			    node_line(v));
	size_t n = 0;
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++)
		n++;
	void **list = calloc(n + 1, sizeof(*list));
	if (list == NULL)
		return nomem(c);
	size_t i = 0;
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++, i++) {
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

static int walk_root(struct ctx *c, yaml_document_t *doc)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	char shown[64];

	if (root == NULL || is_null(root))
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return fail(c, PRISM_ECONFIG,
			    "configuration must be a mapping of sections (line %zu)",
			    node_line(root));
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		int rc;

		if (k->type != YAML_SCALAR_NODE)
			return fail(c, PRISM_ECONFIG,
				    "section names must be plain names (line %zu)", node_line(k));
		const struct list_kind *lk =
			find_list_kind((const char *)k->data.scalar.value, k->data.scalar.length);
		if (lk == NULL &&
		    !is_section((const char *)k->data.scalar.value, k->data.scalar.length)) {
			printable(shown, sizeof(shown), (const char *)k->data.scalar.value,
				  k->data.scalar.length);
			return fail(c, PRISM_ECONFIG, "unknown key '%s' (line %zu)", shown,
				    node_line(k));
		}
		/* earlier pairs are all known sections, so this scan is short */
		for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++)
			if (same_scalar(yaml_document_get_node(doc, q->key), k))
				return fail(c, PRISM_ECONFIG, "duplicate key '%s' (line %zu)",
					    (const char *)k->data.scalar.value, node_line(k));
		rc = lk != NULL ? walk_list(c, lk, doc, v) : walk_section(c, doc, k, v);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int yaml_fail(struct ctx *c, const yaml_parser_t *p, const char *yaml, size_t len)
{
	size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
	const char *problem = p->problem != NULL ? p->problem : "syntax error";

	if (p->error == YAML_MEMORY_ERROR)
		return nomem(c);
	if (p->error == YAML_READER_ERROR) {
		/* reader errors (bad encoding) carry a byte offset, not a mark */
		size_t off = p->problem_offset < len ? p->problem_offset : len;
		line = 1;
		col = 1;
		for (size_t i = 0; i < off; i++, col++) {
			if (yaml[i] == '\n') {
				line++;
				col = 0;
			}
		}
	}
	return fail(c, PRISM_ECONFIG, "yaml: %s (line %zu, column %zu)", problem, line, col);
}

/*
 * First pass over the event stream, before libyaml builds the document: refuses a second
 * document (yaml_parser_load would silently ignore it) and nesting deeper than any config
 * needs. The depth limit matters because libyaml's scanner does work quadratic in the flow
 * nesting depth ("[[[[...", a minute for a few hundred kilobytes); stopping early bounds it.
 */
#define MAX_DEPTH 16

static int check_stream(struct ctx *c, const char *yaml, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, rc = 0;

	if (!yaml_parser_initialize(&p))
		return nomem(c);
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			rc = yaml_fail(c, &p, yaml, len);
			break;
		}
		yaml_event_type_t type = ev.type;
		size_t line = ev.start_mark.line + 1, col = ev.start_mark.column + 1;

		yaml_event_delete(&ev);
		if (type == YAML_STREAM_END_EVENT)
			break;
		if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
			rc = fail(c, PRISM_ECONFIG,
				  "yaml: only one document is allowed (line %zu)", line);
			break;
		}
		if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) {
			if (++depth > MAX_DEPTH) {
				rc = fail(c, PRISM_ECONFIG,
					  "yaml: nested more than %d levels deep (line %zu, "
					  "column %zu)",
					  MAX_DEPTH, line, col);
				break;
			}
		} else if (type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT) {
			depth--;
		}
	}
	yaml_parser_delete(&p);
	return rc;
}

static int load_yaml(struct ctx *c, const char *yaml, size_t len)
{
	yaml_parser_t p;
	yaml_document_t doc;
	int rc;

	if (len == 0)
		return 0;
	rc = check_stream(c, yaml, len);
	if (rc != 0)
		return rc;
	if (!yaml_parser_initialize(&p))
		return nomem(c);
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&p, &doc)) {
		rc = yaml_fail(c, &p, yaml, len);
		yaml_parser_delete(&p);
		return rc;
	}
	rc = walk_root(c, &doc);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

/* ---- environment ---- */

static const char *env_lookup(const char *const *envp, const char *name)
{
	size_t nl = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, nl) == 0 && (*envp)[nl] == '=')
			return *envp + nl + 1;
	return NULL;
}

static int apply_env(struct ctx *c, const char *const *envp)
{
	char why[WHY_MAX];

	for (int i = 0; i < NOPTS; i++) {
		const char *v = env_lookup(envp, opts[i].env);
		int rc;

		if (v == NULL)
			continue;
		rc = set_text(c->cfg, &opts[i], v, strlen(v), true, why, sizeof(why));
		if (rc == PRISM_ENOMEM)
			return nomem(c);
		if (rc != 0)
			return fail(c, rc, "%s: %s (environment)", opts[i].env, why);
		c->src[i] = SRC_ENV;
	}
	return 0;
}

/* ---- validation across options ---- */

/** "key: reason (line N)", "ENV: reason (environment)" or "key: reason" for a default. */
static int fail_opt(struct ctx *c, int idx, const char *reason)
{
	if (c->src[idx] == SRC_ENV)
		return fail(c, PRISM_ECONFIG, "%s: %s (environment)", opts[idx].env, reason);
	if (c->src[idx] == SRC_DEFAULT)
		return fail(c, PRISM_ECONFIG, "%s: %s", opts[idx].key, reason);
	return fail(c, PRISM_ECONFIG, "%s: %s (line %zu)", opts[idx].key, reason, c->src[idx]);
}

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

static int validate_zones(struct ctx *c)
{
	struct prism_config *cfg = c->cfg;
	char shown[64];

	if (cfg->zones == NULL) {
		/* the seed's single zone */
		cfg->zones = calloc(2, sizeof(*cfg->zones));
		if (cfg->zones == NULL || (cfg->zones[0] = calloc(1, sizeof(**cfg->zones))) == NULL)
			return nomem(c);
		cfg->zones[0]->name = strdup(cfg->powerdns_default_zone);
		if (cfg->zones[0]->name == NULL)
			return nomem(c);
	} else if (cfg->zones[0] == NULL) {
		return fail(c, PRISM_ECONFIG, "zones: must list at least one zone");
	}
	for (size_t i = 0; cfg->zones[i] != NULL; i++) {
		struct prism_config_zone *z = cfg->zones[i];
		int rc = normalize_in_place(&z->name);
		if (rc == PRISM_ENOMEM)
			return nomem(c);
		printable(shown, sizeof(shown), z->name, strlen(z->name));
		if (rc != 0)
			return fail(c, PRISM_ECONFIG, "zones[%zu].name: '%s' is not a zone name",
				    i + 1, shown);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->zones[j]->name, z->name) == 0)
				return fail(c, PRISM_ECONFIG, "zones[%zu].name: '%s' is listed twice",
					    i + 1, shown);
		if (z->ttl == 0)
			z->ttl = cfg->powerdns_default_ttl;
		if (z->nameservers == NULL) {
			z->nameservers = calloc(2, sizeof(char *));
			if (z->nameservers == NULL ||
			    (z->nameservers[0] = cat3("ns1.", z->name, "")) == NULL)
				return nomem(c);
		}
		for (char **ns = z->nameservers; *ns != NULL; ns++)
			if ((rc = normalize_in_place(ns)) != 0)
				return rc == PRISM_ENOMEM ? nomem(c)
							  : fail(c, PRISM_ECONFIG,
								 "zones[%zu].nameservers: not a "
								 "host name",
								 i + 1);
	}
	/* agents register into default_zone: it must be managed */
	bool found = false;
	for (size_t i = 0; cfg->zones[i] != NULL; i++)
		found |= strcmp(cfg->zones[i]->name, cfg->powerdns_default_zone) == 0;
	if (!found) {
		if (c->src[IDX_powerdns_default_zone] != SRC_DEFAULT)
			return fail_opt(c, IDX_powerdns_default_zone, "is not one of zones");
		if (store_str(&cfg->powerdns_default_zone, cfg->zones[0]->name,
			      strlen(cfg->zones[0]->name)) != 0)
			return nomem(c);
	}
	return 0;
}

/* The powerdns: section as target "default" serving every zone. */
static int seed_target(struct ctx *c)
{
	struct prism_config *cfg = c->cfg;
	cfg->targets = calloc(2, sizeof(*cfg->targets));
	if (cfg->targets == NULL)
		return nomem(c);
	if (!cfg->powerdns_enabled)
		return 0;
	struct prism_config_target *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return nomem(c);
	cfg->targets[0] = t;
	t->name = strdup("default");
	t->api_url = strdup(cfg->powerdns_api_url);
	t->server_id = strdup(cfg->powerdns_server_id);
	if (cfg->powerdns_api_key)
		t->api_key = strdup(cfg->powerdns_api_key);
	if (cfg->powerdns_api_key_file)
		t->api_key_file = strdup(cfg->powerdns_api_key_file);
	if (!t->name || !t->api_url || !t->server_id ||
	    (cfg->powerdns_api_key && !t->api_key) ||
	    (cfg->powerdns_api_key_file && !t->api_key_file))
		return nomem(c);
	return 0;
}

static int validate_targets(struct ctx *c)
{
	struct prism_config *cfg = c->cfg;
	char shown[64];

	if (cfg->targets == NULL)
		return seed_target(c);
	for (size_t i = 0; cfg->targets[i] != NULL; i++) {
		struct prism_config_target *t = cfg->targets[i];
		printable(shown, sizeof(shown), t->name, strlen(t->name));
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->targets[j]->name, t->name) == 0)
				return fail(c, PRISM_ECONFIG,
					    "targets[%zu].name: '%s' is listed twice", i + 1, shown);
		if (!has_scheme(t->api_url, "http://") && !has_scheme(t->api_url, "https://"))
			return fail(c, PRISM_ECONFIG,
				    "targets[%zu].api_url: must start with http:// or https://",
				    i + 1);
		if ((t->api_key == NULL) == (t->api_key_file == NULL))
			return fail(c, PRISM_ECONFIG,
				    "targets[%zu]: give exactly one of api_key and api_key_file",
				    i + 1);
		if (t->server_id == NULL && (t->server_id = strdup("localhost")) == NULL)
			return nomem(c);
		for (char **z = t->zones; z != NULL && *z != NULL; z++) {
			int rc = normalize_in_place(z);
			if (rc == PRISM_ENOMEM)
				return nomem(c);
			bool known = false;
			for (size_t k = 0; rc == 0 && cfg->zones[k] != NULL; k++)
				known |= strcmp(cfg->zones[k]->name, *z) == 0;
			if (!known) {
				printable(shown, sizeof(shown), *z, strlen(*z));
				return fail(c, PRISM_ECONFIG,
					    "targets[%zu].zones: '%s' is not one of zones", i + 1,
					    shown);
			}
		}
	}
	return 0;
}

static int validate(struct ctx *c)
{
	struct prism_config *cfg = c->cfg;
	char zone[PRISM_DNAME_MAX];
	int rc;

	rc = prism_zone_normalize(cfg->powerdns_default_zone, zone, sizeof(zone));
	if (rc != 0)
		return fail_opt(c, IDX_powerdns_default_zone, "not a valid zone name");
	if (store_str(&cfg->powerdns_default_zone, zone, strlen(zone)) != 0)
		return nomem(c);
	if (!has_scheme(cfg->powerdns_api_url, "http://") &&
	    !has_scheme(cfg->powerdns_api_url, "https://"))
		return fail_opt(c, IDX_powerdns_api_url, "must start with http:// or https://");
	if (cfg->powerdns_api_key != NULL && cfg->powerdns_api_key_file != NULL)
		return fail_opt(c, IDX_powerdns_api_key_file,
				"cannot be combined with powerdns.api_key");
	if (cfg->powerdns_enabled && cfg->powerdns_api_key == NULL &&
	    cfg->powerdns_api_key_file == NULL)
		return fail(c, PRISM_ECONFIG,
			    "powerdns.api_key: required when powerdns.enabled "
			    "is true (or set powerdns.api_key_file)");
	if (cfg->server_host == NULL || cfg->server_host[0] == NULL)
		return fail_opt(c, IDX_server_host, "must name at least one address");
	for (char **h = cfg->server_host; *h != NULL; h++) {
		unsigned char buf[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, *h, buf) != 1 && inet_pton(AF_INET6, *h, buf) != 1) {
			char why[WHY_MAX], shown[64];
			printable(shown, sizeof(shown), *h, strlen(*h));
			snprintf(why, sizeof(why), "'%s' is not an IPv4 or IPv6 address", shown);
			return fail_opt(c, IDX_server_host, why);
		}
	}
	size_t nhosts = 0;
	while (cfg->server_host[nhosts] != NULL)
		nhosts++;
	if (nhosts > 16)
		return fail_opt(c, IDX_server_host, "at most 16 addresses");
	for (char **r = cfg->auth_reserved_names; r != NULL && *r != NULL; r++)
		for (char *p = *r; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	if ((rc = validate_zones(c)) != 0 || (rc = validate_targets(c)) != 0)
		return rc;
	if ((cfg->api_tls_cert == NULL) != (cfg->api_tls_key == NULL))
		return fail_opt(c, cfg->api_tls_cert ? IDX_api_tls_cert : IDX_api_tls_key,
				"api.tls_cert and api.tls_key go together");
	if (cfg->server_tcp_port == cfg->server_api_port) {
		/* blame the one the user set; api_port when both were set */
		if (c->src[IDX_server_api_port] == SRC_DEFAULT)
			return fail_opt(c, IDX_server_tcp_port,
					"must differ from server.api_port");
		return fail_opt(c, IDX_server_api_port, "must differ from server.tcp_port");
	}
	return 0;
}

/* ---- public ---- */

int prism_config_parse(const char *yaml, size_t len, const char *const *envp,
		       struct prism_config **out, char *err, size_t errlen)
{
	struct ctx c = {.err = err, .errlen = errlen};
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out != NULL)
		*out = NULL;
	if (out == NULL || (yaml == NULL && len > 0))
		return fail(&c, PRISM_EINVAL, "invalid argument");
	c.cfg = calloc(1, sizeof(*c.cfg));
	if (c.cfg == NULL)
		return nomem(&c);
	rc = apply_defaults(&c);
	if (rc == 0)
		rc = load_yaml(&c, yaml, len);
	if (rc == 0)
		rc = apply_env(&c, envp);
	if (rc == 0)
		rc = validate(&c);
	if (rc != 0) {
		prism_config_free(c.cfg);
		return rc;
	}
	*out = c.cfg;
	return 0;
}

struct prism_config *prism_config_defaults(void)
{
	struct prism_config *cfg = NULL;

	prism_config_parse(NULL, 0, NULL, &cfg, NULL, 0);
	return cfg;
}

void prism_config_free(struct prism_config *cfg)
{
	if (cfg == NULL)
		return;
	for (int i = 0; i < NOPTS; i++) {
		void *f = field(cfg, &opts[i]);
		if (opts[i].type == OPT_STR || opts[i].type == OPT_ENUM)
			free(*(char **)f);
		else if (opts[i].type == OPT_LIST || opts[i].type == OPT_STRS)
			strv_free(*(char ***)f);
		else if (opts[i].type == OPT_CREDS)
			creds_free(*(struct prism_config_cred ***)f);
	}
	for (size_t i = 0; i < sizeof(list_kinds) / sizeof(list_kinds[0]); i++)
		entries_free(&list_kinds[i], *(void ***)((char *)cfg + list_kinds[i].off));
	free(cfg);
}

const struct prism_config_opt_info *prism_config_options(size_t *n)
{
	if (n != NULL)
		*n = NOPTS;
	return infos;
}

void prism_config_option_bounds(size_t i, char *buf, size_t len)
{
	if (buf == NULL || len == 0)
		return;
	buf[0] = '\0';
	if (i >= NOPTS)
		return;
	const struct opt *o = &opts[i];
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
