/* SPDX-License-Identifier: MIT */
/*
 * `prism agent` configuration (the reference client's YAML) and the hostname sanitiser.
 *
 * Built like config.c, on the same engine (yamlutil.h): every option is one row of OPTIONS()
 * (section, name, type, bounds, default, environment variable), expanded into the parse table
 * and into compile-time checks that each row's type matches its struct field. Defaults are
 * text and go through the same setter as file and environment values. A parse builds a fresh
 * config — defaults, the YAML document, the environment, cross-field checks — and frees all of
 * it on any error. Error texts are config.c's: "key: reason (line N)", "unknown key 'a.b'
 * (line N)", "VAR: reason (environment)", "yaml: problem (line N, column C)".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/agent_config.h"
#include "core/agent_msg.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/yamlutil.h"

/* the log level is this parser's own type: a C enum, not a string */
enum {
	OPT_STR = PRISM_YAML_STR,
	OPT_INT = PRISM_YAML_INT,
	OPT_FLOAT = PRISM_YAML_FLOAT,
	OPT_BOOL = PRISM_YAML_BOOL,
	OPT_LEVEL = PRISM_YAML_CUSTOM
};

/* X(section, name, type, min, max, default, env) — in struct order */
#define OPTIONS(X)                                                                                \
	X(server, host, STR, 0, 0, "", "PRISM_AGENT_SERVER_HOST")                                 \
	X(server, port, INT, 1, 65535, "8080", "PRISM_AGENT_SERVER_PORT")                         \
	X(server, timeout, FLOAT, 0.1, 3600, "10", "PRISM_AGENT_SERVER_TIMEOUT")                  \
	X(server, auth_token, STR, 0, 0, "", "PRISM_AGENT_SERVER_AUTH_TOKEN")                     \
	X(server, auth_token_file, STR, 0, 0, "", "PRISM_AGENT_SERVER_AUTH_TOKEN_FILE")           \
	X(server, tls, BOOL, 0, 0, "false", "PRISM_AGENT_SERVER_TLS")                             \
	X(server, ca_file, STR, 0, 0, "", "PRISM_AGENT_SERVER_CA_FILE")                           \
	X(server, cert_file, STR, 0, 0, "", "PRISM_AGENT_SERVER_CERT_FILE")                       \
	X(server, key_file, STR, 0, 0, "", "PRISM_AGENT_SERVER_KEY_FILE")                         \
	X(heartbeat, interval, INT, 1, 86400, "60", "PRISM_AGENT_HEARTBEAT_INTERVAL")             \
	X(logging, level, LEVEL, 0, 0, "info", "PRISM_AGENT_LOGGING_LEVEL")                       \
	X(logging, file, STR, 0, 0, "", "PRISM_AGENT_LOGGING_FILE")

#define FIELD(sec, name) (((struct prism_agent_config *)0)->sec##_##name)

#define BOUNDS_STR(lo, hi)
#define BOUNDS_BOOL(lo, hi)
#define BOUNDS_LEVEL(lo, hi)
#define BOUNDS_INT(lo, hi)   .imin = (lo), .imax = (hi),
#define BOUNDS_FLOAT(lo, hi) .fmin = (lo), .fmax = (hi),

#define OPT_ROW(sec, name, t, lo, hi, d, e)                                                       \
	{.key = #sec "." #name,                                                                   \
	 .env = e,                                                                                \
	 .type = OPT_##t,                                                                         \
	 .off = offsetof(struct prism_agent_config, sec##_##name),                                \
	 .size = sizeof(FIELD(sec, name)),                                                        \
	 BOUNDS_##t(lo, hi).def = d},

static const struct prism_yaml_opt opts[] = {OPTIONS(OPT_ROW)};

#define IDX_ROW(sec, name, ...) IDX_##sec##_##name,
enum { OPTIONS(IDX_ROW) NOPTS };
_Static_assert(NOPTS <= PRISM_YAML_MAX_OPTS, "too many options for yamlutil");

/* Compile-time checks: the type column matches the field's C type, int bounds fit it. (The
 * level has a _Generic of its own: an enum is compatible with an integer type.) */
#define TYPE_OK_STR(f)	 _Generic((f), char * : 1, default : 0)
#define TYPE_OK_INT(f)	 _Generic((f), uint16_t : 1, uint32_t : 1, default : 0)
#define TYPE_OK_FLOAT(f) _Generic((f), double : 1, default : 0)
#define TYPE_OK_BOOL(f)	 _Generic((f), bool : 1, default : 0)
#define TYPE_OK_LEVEL(f) _Generic((f), enum prism_agent_log_level : 1, default : 0)
#define WIDTH_MAX(f)	 ((UINT64_C(1) << (8 * sizeof(f))) - 1)
#define FITS_INT(sec, name, hi)                                                                   \
	_Static_assert((uint64_t)(hi) <= WIDTH_MAX(FIELD(sec, name)),                             \
		       #sec "." #name ": bound wider than the field");
#define FITS_STR(sec, name, hi)
#define FITS_FLOAT(sec, name, hi)
#define FITS_BOOL(sec, name, hi)
#define FITS_LEVEL(sec, name, hi)
#define CHECK_ROW(sec, name, t, lo, hi, ...)                                                      \
	_Static_assert(TYPE_OK_##t(FIELD(sec, name)), #sec "." #name ": type");                   \
	FITS_##t(sec, name, hi)
OPTIONS(CHECK_ROW)

static const char *const level_names[] = {"debug", "info", "warning", "error", "critical"};

static int level_from(const char *s, size_t n)
{
	if (prism_yaml_eq_nocase(s, n, "warn"))
		return PRISM_AGENT_LOG_WARNING;
	for (int i = 0; i <= PRISM_AGENT_LOG_CRITICAL; i++)
		if (prism_yaml_eq_nocase(s, n, level_names[i]))
			return i;
	return PRISM_EMSG;
}

/* ---- the schema's hooks ---- */

static void level_reason_cb(const struct prism_yaml_opt *o, char *why, size_t wl)
{
	snprintf(why, wl, "must be one of debug, info, warning, error, critical");
}

static int level_set_cb(void *cfg, const struct prism_yaml_opt *o, const char *s, size_t n,
			bool env, char *why, size_t wl)
{
	int lv = level_from(s, n);

	if (lv < 0) {
		level_reason_cb(o, why, wl);
		return PRISM_ECONFIG;
	}
	*(enum prism_agent_log_level *)prism_yaml_field(cfg, o) = (enum prism_agent_log_level)lv;
	return 0;
}

/** Strip brackets from "[v6]"; refuse a host that carries a port or spaces. */
static int check_host(struct prism_yaml_ctx *c)
{
	struct prism_agent_config *cfg = c->cfg;
	char *h = cfg->server_host;
	size_t n = strlen(h);
	struct in6_addr a6;

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		memmove(h, h + 1, n - 2);
		h[n - 2] = '\0';
		if (inet_pton(AF_INET6, h, &a6) != 1)
			return prism_yaml_fail_opt(c, IDX_server_host,
						   "brackets are only for IPv6 addresses");
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == 0x7f || h[i] == '/' || h[i] == '[' ||
		    h[i] == ']')
			return prism_yaml_fail_opt(c, IDX_server_host,
						   "must be a host name or an address");
	if (strchr(h, ':') != NULL && inet_pton(AF_INET6, h, &a6) != 1)
		return prism_yaml_fail_opt(c, IDX_server_host,
					   "must be a host name or an address without a port "
					   "(the port goes in server.port)");
	return 0;
}

static int validate_cb(struct prism_yaml_ctx *c, const char *const *envp)
{
	struct prism_agent_config *cfg = c->cfg;
	char why[PRISM_YAML_WHY_MAX];
	int rc;

	if (cfg->server_host != NULL) {
		rc = check_host(c);
		if (rc != 0)
			return rc;
	}
	if ((cfg->server_cert_file == NULL) != (cfg->server_key_file == NULL))
		return prism_yaml_fail_opt(
			c, cfg->server_cert_file ? IDX_server_key_file : IDX_server_cert_file,
			"server.cert_file and server.key_file go together");
	if (cfg->server_auth_token != NULL && cfg->server_auth_token_file != NULL)
		return prism_yaml_fail_opt(c, IDX_server_auth_token_file,
					   "cannot be combined with server.auth_token");
	if (cfg->server_auth_token == NULL && cfg->server_auth_token_file == NULL) {
		const char *t = prism_yaml_env_lookup(envp, "PRISM_AUTH_TOKEN");
		if (t != NULL && t[0] != '\0') {
			if (prism_yaml_store_str(&cfg->server_auth_token, t, strlen(t)) != 0)
				return prism_yaml_nomem(c);
			c->src[IDX_server_auth_token] = PRISM_YAML_SRC_ENV;
			if (strlen(t) > PRISM_TOKEN_MAX)
				return prism_yaml_fail(c, PRISM_ECONFIG,
						       "PRISM_AUTH_TOKEN: longer than %u "
						       "characters (environment)",
						       PRISM_TOKEN_MAX);
		}
	}
	if (cfg->server_auth_token != NULL && strlen(cfg->server_auth_token) > PRISM_TOKEN_MAX) {
		snprintf(why, sizeof(why), "longer than %u characters", PRISM_TOKEN_MAX);
		return prism_yaml_fail_opt(c, IDX_server_auth_token, why);
	}
	return 0;
}

static const struct prism_yaml_schema schema = {
	.opts = opts,
	.nopts = NOPTS,
	.size = sizeof(struct prism_agent_config),
	.set_text_cb = level_set_cb,
	.type_reason_cb = level_reason_cb,
	.validate_cb = validate_cb,
};

/* ---- public ---- */

int prism_agent_config_parse(const char *yaml, size_t len, const char *const *envp,
			     struct prism_agent_config **out, char *err, size_t errlen)
{
	void *cfg = NULL;
	int rc;

	rc = prism_yaml_parse(&schema, yaml, len, envp, out != NULL ? &cfg : NULL, err, errlen);
	if (out != NULL)
		*out = cfg; /* NULL on error */
	return rc;
}

void prism_agent_config_free(struct prism_agent_config *cfg)
{
	prism_yaml_free(&schema, cfg);
}

int prism_agent_log_level_parse(const char *name)
{
	if (name == NULL)
		return PRISM_EINVAL;
	return level_from(name, strlen(name));
}

const char *prism_agent_log_level_name(enum prism_agent_log_level level)
{
	if ((int)level < 0 || level > PRISM_AGENT_LOG_CRITICAL)
		return "info";
	return level_names[level];
}

/* ---- hostname sanitiser ---- */

/** Append a finished label to out[*used..] if the whole name stays within 253 characters. */
static bool put_label(char *out, size_t *used, const char *label, size_t ll)
{
	size_t need = ll + (*used ? 1 : 0);

	if (*used + need > PRISM_HOSTNAME_MAX)
		return false;
	if (*used)
		out[(*used)++] = '.';
	memcpy(out + *used, label, ll);
	*used += ll;
	return true;
}

int prism_hostname_sanitize(const char *in, char *out, size_t outlen)
{
	char name[PRISM_HOSTNAME_MAX + 1];
	char label[63];
	size_t used = 0, ll = 0;
	bool full = false;

	if (in == NULL || out == NULL || outlen == 0)
		return PRISM_EINVAL;
	out[0] = '\0';
	for (const char *p = in;; p++) {
		char ch = (char)tolower((unsigned char)*p);
		if (ch == '_')
			ch = '-';
		if (ch == '.' || ch == '\0') {
			while (ll > 0 && label[ll - 1] == '-')
				ll--;
			if (ll > 0 && !full)
				full = !put_label(name, &used, label, ll);
			ll = 0;
			if (ch == '\0')
				break;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			continue; /* includes every byte of a non-ASCII character */
		if ((ll == 0 && ch == '-') || ll == sizeof(label))
			continue; /* leading '-' trimmed; beyond 63 characters cut */
		label[ll++] = ch;
	}
	if (used == 0)
		return PRISM_EMSG;
	if (used >= outlen)
		return PRISM_ETOOBIG;
	memcpy(out, name, used);
	out[used] = '\0';
	return 0;
}

int prism_agent_fallback_name(const char *machine_id, char *out, size_t outlen)
{
	static const char fallback[] = "prism-agent";
	bool ok = machine_id != NULL;
	size_t i;

	if (out == NULL)
		return PRISM_EINVAL;
	for (i = 0; ok && i < 32; i++)
		ok = isxdigit((unsigned char)machine_id[i]);
	if (ok)
		ok = machine_id[32] == '\0' || (machine_id[32] == '\n' && machine_id[33] == '\0');
	if (!ok) {
		if (outlen < sizeof(fallback))
			return PRISM_ETOOBIG;
		memcpy(out, fallback, sizeof(fallback));
		return 0;
	}
	if (outlen < 18)
		return PRISM_ETOOBIG;
	memcpy(out, "host-", 5);
	for (i = 0; i < 12; i++)
		out[5 + i] = (char)tolower((unsigned char)machine_id[i]);
	out[17] = '\0';
	return 0;
}
