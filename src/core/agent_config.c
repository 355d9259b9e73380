/* SPDX-License-Identifier: MIT */
/*
 * `prism agent` configuration (the reference client's YAML) and the hostname sanitiser.
 *
 * Built like config.c: every option is one row of OPTIONS() (section, name, type, bounds,
 * default, environment variable), expanded into the parse table and into compile-time checks
 * that each row's type matches its struct field. Defaults are text and go through the same
 * setter as file and environment values. A parse builds a fresh config — defaults, the YAML
 * document, the environment, cross-field checks — and frees all of it on any error. Error
 * texts follow config.c's: "key: reason (line N)", "unknown key 'a.b' (line N)",
 * "VAR: reason (environment)", "yaml: problem (line N, column C)".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "core/agent_config.h"
#include "core/agent_msg.h"
#include "core/dname.h"
#include "core/error.h"

enum opt_type { OPT_STR, OPT_INT, OPT_FLOAT, OPT_LEVEL };

struct opt {
	const char *key;     /* "section.name" */
	const char *env;     /* "PRISM_AGENT_SECTION_NAME" */
	enum opt_type type;
	size_t off;          /* offsetof(struct prism_agent_config, section_name) */
	size_t size;         /* sizeof the field (integer width) */
	uint64_t imin, imax; /* OPT_INT bounds */
	double fmin, fmax;   /* OPT_FLOAT bounds */
	const char *def;     /* default as text; "" = unset (NULL) */
};

/* X(section, name, type, min, max, default, env) — in struct order */
#define OPTIONS(X) \
	X(server, host, STR, 0, 0, "", "PRISM_AGENT_SERVER_HOST") \
	X(server, port, INT, 1, 65535, "8080", "PRISM_AGENT_SERVER_PORT") \
	X(server, timeout, FLOAT, 0.1, 3600, "10", "PRISM_AGENT_SERVER_TIMEOUT") \
	X(server, auth_token, STR, 0, 0, "", "PRISM_AGENT_SERVER_AUTH_TOKEN") \
	X(server, auth_token_file, STR, 0, 0, "", "PRISM_AGENT_SERVER_AUTH_TOKEN_FILE") \
	X(heartbeat, interval, INT, 1, 86400, "60", "PRISM_AGENT_HEARTBEAT_INTERVAL") \
	X(logging, level, LEVEL, 0, 0, "info", "PRISM_AGENT_LOGGING_LEVEL") \
	X(logging, file, STR, 0, 0, "", "PRISM_AGENT_LOGGING_FILE")

#define FIELD(sec, name) (((struct prism_agent_config *)0)->sec##_##name)

#define BOUNDS_STR(lo, hi)
#define BOUNDS_LEVEL(lo, hi)
#define BOUNDS_INT(lo, hi) .imin = (lo), .imax = (hi),
#define BOUNDS_FLOAT(lo, hi) .fmin = (lo), .fmax = (hi),

#define OPT_ROW(sec, name, t, lo, hi, d, e) { \
	.key = #sec "." #name, .env = e, .type = OPT_##t, \
	.off = offsetof(struct prism_agent_config, sec##_##name), \
	.size = sizeof(FIELD(sec, name)), BOUNDS_##t(lo, hi) .def = d },

static const struct opt opts[] = { OPTIONS(OPT_ROW) };

#define IDX_ROW(sec, name, ...) IDX_##sec##_##name,
enum { OPTIONS(IDX_ROW) NOPTS };

/* Compile-time checks: the type column matches the field's C type, int bounds fit it. (The
 * level has a _Generic of its own: an enum is compatible with an integer type.) */
#define TYPE_OK_STR(f) _Generic((f), char *: 1, default: 0)
#define TYPE_OK_INT(f) _Generic((f), uint16_t: 1, uint32_t: 1, default: 0)
#define TYPE_OK_FLOAT(f) _Generic((f), double: 1, default: 0)
#define TYPE_OK_LEVEL(f) _Generic((f), enum prism_agent_log_level: 1, default: 0)
#define WIDTH_MAX(f) ((UINT64_C(1) << (8 * sizeof(f))) - 1)
#define FITS_INT(sec, name, hi) \
	_Static_assert((uint64_t)(hi) <= WIDTH_MAX(FIELD(sec, name)), \
		       #sec "." #name ": bound wider than the field");
#define FITS_STR(sec, name, hi)
#define FITS_FLOAT(sec, name, hi)
#define FITS_LEVEL(sec, name, hi)
#define CHECK_ROW(sec, name, t, lo, hi, ...) \
	_Static_assert(TYPE_OK_##t(FIELD(sec, name)), #sec "." #name ": type"); \
	FITS_##t(sec, name, hi)
OPTIONS(CHECK_ROW)

static const char *const level_names[] = { "debug", "info", "warning", "error", "critical" };

#define SRC_DEFAULT 0
#define SRC_ENV SIZE_MAX
#define WHY_MAX 160

struct ctx {
	struct prism_agent_config *cfg;
	size_t src[NOPTS]; /* SRC_DEFAULT, a file line, or SRC_ENV */
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, int rc, const char *fmt, ...)
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
	if (i < n)
		strcat(dst, "...");
}

static void *field(struct prism_agent_config *cfg, const struct opt *o)
{
	return (char *)cfg + o->off;
}

static void type_reason(const struct opt *o, char *why, size_t wl)
{
	switch (o->type) {
	case OPT_STR:
		snprintf(why, wl, "must be a string");
		break;
	case OPT_INT:
		snprintf(why, wl, "must be an integer between %" PRIu64 " and %" PRIu64,
			 o->imin, o->imax);
		break;
	case OPT_FLOAT:
		snprintf(why, wl, "must be a number between %g and %g", o->fmin, o->fmax);
		break;
	case OPT_LEVEL:
		snprintf(why, wl, "must be one of debug, info, warning, error, critical");
		break;
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

/** Plain decimal notation only ("10", "2.5", "1e1"): no hex, inf, nan or spaces. */
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

static int level_from(const char *s, size_t n)
{
	if (n == 4 && strncasecmp(s, "warn", 4) == 0)
		return PRISM_AGENT_LOG_WARNING;
	for (int i = 0; i <= PRISM_AGENT_LOG_CRITICAL; i++)
		if (strlen(level_names[i]) == n && strncasecmp(s, level_names[i], n) == 0)
			return i;
	return PRISM_EMSG;
}

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

/**
 * Set option @p o from text s[0..n) (YAML scalar, environment value or default). An empty
 * string unsets a string option.
 * @return 0, PRISM_ECONFIG with the reason in @p why, or PRISM_ENOMEM.
 */
static int set_text(struct prism_agent_config *cfg, const struct opt *o, const char *s,
		    size_t n, char *why, size_t wl)
{
	void *f = field(cfg, o);
	uint64_t u;
	double d;
	int lv;

	switch (o->type) {
	case OPT_STR:
		if (memchr(s, '\0', n) != NULL) {
			snprintf(why, wl, "must not contain NUL characters");
			return PRISM_ECONFIG;
		}
		return store_str(f, n ? s : NULL, n);
	case OPT_INT:
		if (!parse_uint(s, n, o->imin, o->imax, &u))
			break;
		if (o->size == sizeof(uint16_t)) {
			uint16_t x = (uint16_t)u;
			memcpy(f, &x, sizeof(x));
		} else {
			uint32_t x = (uint32_t)u;
			memcpy(f, &x, sizeof(x));
		}
		return 0;
	case OPT_FLOAT:
		if (!parse_double(s, n, o->fmin, o->fmax, &d))
			break;
		*(double *)f = d;
		return 0;
	case OPT_LEVEL:
		lv = level_from(s, n);
		if (lv < 0)
			break;
		*(enum prism_agent_log_level *)f = (enum prism_agent_log_level)lv;
		return 0;
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
		if (set_text(c->cfg, o, o->def, strlen(o->def), why, sizeof(why)) != 0)
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
	return a->type == YAML_SCALAR_NODE && b->type == YAML_SCALAR_NODE &&
	       a->data.scalar.length == b->data.scalar.length &&
	       memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) == 0;
}

/** Does option key @p k ("server.port") belong to section sec[0..sl)? */
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

static int set_node(struct ctx *c, int idx, yaml_node_t *v)
{
	const struct opt *o = &opts[idx];
	char why[WHY_MAX];
	int rc;

	c->src[idx] = node_line(v);
	if (is_null(v))
		return 0; /* "key:" with no value keeps the default */
	if (v->type != YAML_SCALAR_NODE) {
		type_reason(o, why, sizeof(why));
		return fail(c, PRISM_ECONFIG, "%s: %s (line %zu)", o->key, why, node_line(v));
	}
	rc = set_text(c->cfg, o, (const char *)v->data.scalar.value, v->data.scalar.length, why,
		      sizeof(why));
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
		rc = set_node(c, idx, pv);
		if (rc != 0)
			return rc;
	}
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
		if (!is_section((const char *)k->data.scalar.value, k->data.scalar.length)) {
			printable(shown, sizeof(shown), (const char *)k->data.scalar.value,
				  k->data.scalar.length);
			return fail(c, PRISM_ECONFIG, "unknown key '%s' (line %zu)", shown,
				    node_line(k));
		}
		/* earlier pairs are all known sections (three at most), so this scan is short */
		for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++)
			if (same_scalar(yaml_document_get_node(doc, q->key), k))
				return fail(c, PRISM_ECONFIG, "duplicate key '%s' (line %zu)",
					    (const char *)k->data.scalar.value, node_line(k));
		rc = walk_section(c, doc, k, v);
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

/** A second document in the stream would be silently ignored: refuse it. */
static int check_one_document(struct ctx *c, yaml_parser_t *p, const char *yaml, size_t len)
{
	yaml_document_t next;
	yaml_node_t *root;
	size_t line;

	if (!yaml_parser_load(p, &next))
		return yaml_fail(c, p, yaml, len);
	root = yaml_document_get_root_node(&next);
	line = root != NULL ? node_line(root) : 0;
	yaml_document_delete(&next);
	if (root != NULL)
		return fail(c, PRISM_ECONFIG, "yaml: only one document is allowed (line %zu)",
			    line);
	return 0;
}

static int load_yaml(struct ctx *c, const char *yaml, size_t len)
{
	yaml_parser_t p;
	yaml_document_t doc;
	int rc;

	if (len == 0)
		return 0;
	if (!yaml_parser_initialize(&p))
		return nomem(c);
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&p, &doc)) {
		rc = yaml_fail(c, &p, yaml, len);
		yaml_parser_delete(&p);
		return rc;
	}
	rc = 0;
	if (yaml_document_get_root_node(&doc) != NULL)
		rc = check_one_document(c, &p, yaml, len);
	if (rc == 0)
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
		rc = set_text(c->cfg, &opts[i], v, strlen(v), why, sizeof(why));
		if (rc == PRISM_ENOMEM)
			return nomem(c);
		if (rc != 0)
			return fail(c, rc, "%s: %s (environment)", opts[i].env, why);
		c->src[i] = SRC_ENV;
	}
	return 0;
}

/* ---- validation across options ---- */

static int fail_opt(struct ctx *c, int idx, const char *reason)
{
	if (c->src[idx] == SRC_ENV)
		return fail(c, PRISM_ECONFIG, "%s: %s (environment)", opts[idx].env, reason);
	if (c->src[idx] == SRC_DEFAULT)
		return fail(c, PRISM_ECONFIG, "%s: %s", opts[idx].key, reason);
	return fail(c, PRISM_ECONFIG, "%s: %s (line %zu)", opts[idx].key, reason, c->src[idx]);
}

/** Strip brackets from "[v6]"; refuse a host that carries a port or spaces. */
static int check_host(struct ctx *c)
{
	char *h = c->cfg->server_host;
	size_t n = strlen(h);
	struct in6_addr a6;

	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		memmove(h, h + 1, n - 2);
		h[n - 2] = '\0';
		if (inet_pton(AF_INET6, h, &a6) != 1)
			return fail_opt(c, IDX_server_host,
					"brackets are only for IPv6 addresses");
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == 0x7f || h[i] == '/' || h[i] == '[' ||
		    h[i] == ']')
			return fail_opt(c, IDX_server_host, "must be a host name or an address");
	if (strchr(h, ':') != NULL && inet_pton(AF_INET6, h, &a6) != 1)
		return fail_opt(c, IDX_server_host,
				"must be a host name or an address without a port "
				"(the port goes in server.port)");
	return 0;
}

static int validate(struct ctx *c, const char *const *envp)
{
	struct prism_agent_config *cfg = c->cfg;
	char why[WHY_MAX];
	int rc;

	if (cfg->server_host != NULL) {
		rc = check_host(c);
		if (rc != 0)
			return rc;
	}
	if (cfg->server_auth_token != NULL && cfg->server_auth_token_file != NULL)
		return fail_opt(c, IDX_server_auth_token_file,
				"cannot be combined with server.auth_token");
	if (cfg->server_auth_token == NULL && cfg->server_auth_token_file == NULL) {
		const char *t = env_lookup(envp, "PRISM_AUTH_TOKEN");
		if (t != NULL && t[0] != '\0') {
			if (store_str(&cfg->server_auth_token, t, strlen(t)) != 0)
				return nomem(c);
			c->src[IDX_server_auth_token] = SRC_ENV;
			if (strlen(t) > PRISM_TOKEN_MAX)
				return fail(c, PRISM_ECONFIG, "PRISM_AUTH_TOKEN: longer than %u "
					    "characters (environment)", PRISM_TOKEN_MAX);
		}
	}
	if (cfg->server_auth_token != NULL && strlen(cfg->server_auth_token) > PRISM_TOKEN_MAX) {
		snprintf(why, sizeof(why), "longer than %u characters", PRISM_TOKEN_MAX);
		return fail_opt(c, IDX_server_auth_token, why);
	}
	return 0;
}

/* ---- public ---- */

int prism_agent_config_parse(const char *yaml, size_t len, const char *const *envp,
			     struct prism_agent_config **out, char *err, size_t errlen)
{
	struct ctx c = { .err = err, .errlen = errlen };
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
		rc = validate(&c, envp);
	if (rc != 0) {
		prism_agent_config_free(c.cfg);
		return rc;
	}
	*out = c.cfg;
	return 0;
}

void prism_agent_config_free(struct prism_agent_config *cfg)
{
	if (cfg == NULL)
		return;
	for (int i = 0; i < NOPTS; i++)
		if (opts[i].type == OPT_STR)
			free(*(char **)field(cfg, &opts[i]));
	free(cfg);
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
