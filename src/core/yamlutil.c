/* SPDX-License-Identifier: MIT */
/*
 * The table-driven YAML configuration engine of config.c and agent_config.c: see yamlutil.h.
 * The document is walked with libyaml's document API (sections of the table, then their keys);
 * values of the four scalar types are set here, everything else through the parser's hooks.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/yamlutil.h"

/* ---- errors and small helpers ---- */

int prism_yaml_fail(struct prism_yaml_ctx *c, int rc, const char *fmt, ...)
{
	va_list ap;

	if (c->err != NULL && c->errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int prism_yaml_nomem(struct prism_yaml_ctx *c)
{
	return prism_yaml_fail(c, PRISM_ENOMEM, "out of memory");
}

int prism_yaml_report(struct prism_yaml_ctx *c, int rc, const struct prism_yaml_opt *o,
		      const char *why, size_t line)
{
	if (rc == PRISM_ENOMEM)
		return prism_yaml_nomem(c);
	if (rc != 0)
		return prism_yaml_fail(c, rc, "%s: %s (line %zu)", o->key, why, line);
	return 0;
}

int prism_yaml_fail_opt(struct prism_yaml_ctx *c, size_t idx, const char *reason)
{
	const struct prism_yaml_opt *o = &c->schema->opts[idx];

	if (c->src[idx] == PRISM_YAML_SRC_ENV)
		return prism_yaml_fail(c, PRISM_ECONFIG, "%s: %s (environment)", o->env, reason);
	if (c->src[idx] == PRISM_YAML_SRC_DEFAULT)
		return prism_yaml_fail(c, PRISM_ECONFIG, "%s: %s", o->key, reason);
	return prism_yaml_fail(c, PRISM_ECONFIG, "%s: %s (line %zu)", o->key, reason, c->src[idx]);
}

void prism_yaml_printable(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t max = dstlen > 4 ? dstlen - 4 : 0, i;

	for (i = 0; i < n && i < max && i < 48; i++)
		dst[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	dst[i] = '\0';
	if (i < n && dstlen >= 4)
		strcat(dst, "...");
}

void *prism_yaml_field(void *cfg, const struct prism_yaml_opt *o)
{
	return (char *)cfg + o->off;
}

bool prism_yaml_eq_nocase(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

int prism_yaml_store_str(char **f, const char *s, size_t n)
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

const char *prism_yaml_env_lookup(const char *const *envp, const char *name)
{
	size_t nl = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, nl) == 0 && (*envp)[nl] == '=')
			return *envp + nl + 1;
	return NULL;
}

/* ---- scalar values ---- */

bool prism_yaml_parse_uint(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
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

bool prism_yaml_parse_bool(const char *s, size_t n, bool env, bool *out)
{
	if (prism_yaml_eq_nocase(s, n, "true") || prism_yaml_eq_nocase(s, n, "yes") ||
	    prism_yaml_eq_nocase(s, n, "on") || (env && prism_yaml_eq_nocase(s, n, "1"))) {
		*out = true;
		return true;
	}
	if (prism_yaml_eq_nocase(s, n, "false") || prism_yaml_eq_nocase(s, n, "no") ||
	    prism_yaml_eq_nocase(s, n, "off") || (env && prism_yaml_eq_nocase(s, n, "0"))) {
		*out = false;
		return true;
	}
	return false;
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

/** The reason given for any value of the wrong shape for @p o. */
static void type_reason(const struct prism_yaml_schema *s, const struct prism_yaml_opt *o,
			char *why, size_t wl)
{
	switch (o->type) {
	case PRISM_YAML_STR: snprintf(why, wl, "must be a string"); break;
	case PRISM_YAML_INT:
		snprintf(why, wl, "must be an integer between %" PRIu64 " and %" PRIu64, o->imin,
			 o->imax);
		break;
	case PRISM_YAML_BOOL: snprintf(why, wl, "must be true or false"); break;
	case PRISM_YAML_FLOAT:
		snprintf(why, wl, "must be a number between %g and %g", o->fmin, o->fmax);
		break;
	default: s->type_reason_cb(o, why, wl); break;
	}
}

/**
 * Set option @p o from text s[0..n) (YAML scalar, environment value or default).
 * @return 0, PRISM_ECONFIG with the reason in @p why, or PRISM_ENOMEM.
 */
static int set_text(const struct prism_yaml_schema *sc, void *cfg, const struct prism_yaml_opt *o,
		    const char *s, size_t n, bool env, char *why, size_t wl)
{
	void *f = prism_yaml_field(cfg, o);
	uint64_t u;
	double d;
	bool b;

	switch (o->type) {
	case PRISM_YAML_STR:
		if (memchr(s, '\0', n) != NULL) {
			snprintf(why, wl, "must not contain NUL characters");
			return PRISM_ECONFIG;
		}
		if (n == 0 && o->def[0] != '\0') {
			snprintf(why, wl, "must not be empty");
			return PRISM_ECONFIG;
		}
		return prism_yaml_store_str(f, n ? s : NULL, n);
	case PRISM_YAML_INT:
		if (!prism_yaml_parse_uint(s, n, o->imin, o->imax, &u))
			break;
		store_uint(f, o->size, u);
		return 0;
	case PRISM_YAML_BOOL:
		if (!prism_yaml_parse_bool(s, n, env, &b))
			break;
		*(bool *)f = b;
		return 0;
	case PRISM_YAML_FLOAT:
		if (!parse_double(s, n, o->fmin, o->fmax, &d))
			break;
		*(double *)f = d;
		return 0;
	default: return sc->set_text_cb(cfg, o, s, n, env, why, wl);
	}
	type_reason(sc, o, why, wl);
	return PRISM_ECONFIG;
}

static int apply_defaults(struct prism_yaml_ctx *c)
{
	const struct prism_yaml_schema *s = c->schema;
	char why[PRISM_YAML_WHY_MAX];

	for (size_t i = 0; i < s->nopts; i++) {
		const struct prism_yaml_opt *o = &s->opts[i];
		if (o->def[0] == '\0')
			continue;
		/* the tables' defaults are valid (see the unit tests): only memory can fail */
		if (set_text(s, c->cfg, o, o->def, strlen(o->def), false, why, sizeof(why)) != 0)
			return prism_yaml_nomem(c);
	}
	return 0;
}

static int apply_env(struct prism_yaml_ctx *c, const char *const *envp)
{
	const struct prism_yaml_schema *s = c->schema;
	char why[PRISM_YAML_WHY_MAX];

	for (size_t i = 0; i < s->nopts; i++) {
		const char *v = prism_yaml_env_lookup(envp, s->opts[i].env);
		int rc;

		if (v == NULL)
			continue;
		rc = set_text(s, c->cfg, &s->opts[i], v, strlen(v), true, why, sizeof(why));
		if (rc == PRISM_ENOMEM)
			return prism_yaml_nomem(c);
		if (rc != 0)
			return prism_yaml_fail(c, rc, "%s: %s (environment)", s->opts[i].env, why);
		c->src[i] = PRISM_YAML_SRC_ENV;
	}
	return 0;
}

/* ---- YAML nodes ---- */

size_t prism_yaml_line(const yaml_node_t *n)
{
	return n->start_mark.line + 1;
}

bool prism_yaml_is_null(const yaml_node_t *n)
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

bool prism_yaml_same_scalar(const yaml_node_t *a, const yaml_node_t *b)
{
	return a->type == YAML_SCALAR_NODE && b->type == YAML_SCALAR_NODE &&
	       a->data.scalar.length == b->data.scalar.length &&
	       memcmp(a->data.scalar.value, b->data.scalar.value, a->data.scalar.length) == 0;
}

/** Does option key @p k ("server.tcp_port") belong to section sec[0..sl)? */
static bool in_section(const char *k, const char *sec, size_t sl)
{
	return strlen(k) > sl && memcmp(k, sec, sl) == 0 && k[sl] == '.';
}

/** Row index of "sec.name", or -1. Names are compared as byte strings (NULs never match). */
static ptrdiff_t find_opt(const struct prism_yaml_schema *s, const char *sec, size_t sl,
			  const char *name, size_t nl)
{
	for (size_t i = 0; i < s->nopts; i++) {
		const char *k = s->opts[i].key;
		if (in_section(k, sec, sl) && strlen(k + sl + 1) == nl &&
		    memcmp(k + sl + 1, name, nl) == 0)
			return (ptrdiff_t)i;
	}
	return -1;
}

static bool is_section(const struct prism_yaml_schema *s, const char *sec, size_t sl)
{
	for (size_t i = 0; i < s->nopts; i++)
		if (in_section(s->opts[i].key, sec, sl))
			return true;
	return false;
}

static int set_node(struct prism_yaml_ctx *c, size_t idx, yaml_document_t *doc, yaml_node_t *v)
{
	const struct prism_yaml_schema *s = c->schema;
	const struct prism_yaml_opt *o = &s->opts[idx];
	char why[PRISM_YAML_WHY_MAX];
	int rc;

	c->src[idx] = prism_yaml_line(v);
	if (prism_yaml_is_null(v))
		return 0; /* "key:" with no value keeps the default */
	if (o->type >= PRISM_YAML_CUSTOM && s->node_cb != NULL) {
		rc = s->node_cb(c, idx, doc, v);
		if (rc != PRISM_YAML_PASS)
			return rc;
	}
	if (v->type != YAML_SCALAR_NODE) {
		type_reason(s, o, why, sizeof(why));
		return prism_yaml_report(c, PRISM_ECONFIG, o, why, prism_yaml_line(v));
	}
	rc = set_text(s, c->cfg, o, (const char *)v->data.scalar.value, v->data.scalar.length,
		      false, why, sizeof(why));
	return prism_yaml_report(c, rc, o, why, prism_yaml_line(v));
}

/*
 * The keys of section sec[0..sl) ("server", or a nested one like "kea.ncr"). A key that is
 * no option but names a deeper section ("kea" → "ncr") is walked the same way, so option
 * keys may have more than two parts ("kea.ncr.enabled").
 */
static int walk_section(struct prism_yaml_ctx *c, yaml_document_t *doc, const char *sec, size_t sl,
			yaml_node_t *v)
{
	char shown[64];

	if (prism_yaml_is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "%.*s: must be a mapping of keys (line %zu)", (int)sl, sec,
				       prism_yaml_line(v));
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *pk = yaml_document_get_node(doc, p->key);
		yaml_node_t *pv = yaml_document_get_node(doc, p->value);
		const char *name;
		ptrdiff_t idx;
		int rc;

		if (pk->type != YAML_SCALAR_NODE)
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "%.*s: keys must be plain names (line %zu)",
					       (int)sl, sec, prism_yaml_line(pk));
		name = (const char *)pk->data.scalar.value;
		idx = find_opt(c->schema, sec, sl, name, pk->data.scalar.length);
		if (idx < 0 && sl + 1 + pk->data.scalar.length < PRISM_YAML_KEY_MAX &&
		    memchr(name, '.', pk->data.scalar.length) == NULL) {
			char sub[PRISM_YAML_KEY_MAX];
			size_t subl = (size_t)snprintf(sub, sizeof(sub), "%.*s.%.*s", (int)sl, sec,
						       (int)pk->data.scalar.length, name);
			if (is_section(c->schema, sub, subl)) {
				for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < p; q++)
					if (prism_yaml_same_scalar(
						    yaml_document_get_node(doc, q->key), pk))
						return prism_yaml_fail(
							c, PRISM_ECONFIG,
							"duplicate key '%s' (line %zu)", sub,
							prism_yaml_line(pk));
				rc = walk_section(c, doc, sub, subl, pv);
				if (rc != 0)
					return rc;
				continue;
			}
		}
		if (idx < 0) {
			prism_yaml_printable(shown, sizeof(shown), name, pk->data.scalar.length);
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "unknown key '%.*s.%s' (line %zu)", (int)sl, sec,
					       shown, prism_yaml_line(pk));
		}
		if (c->src[idx] != PRISM_YAML_SRC_DEFAULT)
			return prism_yaml_fail(c, PRISM_ECONFIG, "duplicate key '%s' (line %zu)",
					       c->schema->opts[idx].key, prism_yaml_line(pk));
		rc = set_node(c, (size_t)idx, doc, pv);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int walk_root(struct prism_yaml_ctx *c, yaml_document_t *doc)
{
	yaml_node_t *root = yaml_document_get_root_node(doc);
	char shown[64];

	if (root == NULL || prism_yaml_is_null(root))
		return 0;
	if (root->type != YAML_MAPPING_NODE)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "configuration must be a mapping of sections (line %zu)",
				       prism_yaml_line(root));
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		const char *name;
		int rc = PRISM_YAML_PASS;

		if (k->type != YAML_SCALAR_NODE)
			return prism_yaml_fail(c, PRISM_ECONFIG,
					       "section names must be plain names (line %zu)",
					       prism_yaml_line(k));
		name = (const char *)k->data.scalar.value;
		/*
		 * Earlier keys are all known (an unknown one ends the walk), so this scan is short
		 * and a repeated key is a known one: it may be looked for before unknown keys.
		 */
		for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < p; q++)
			if (prism_yaml_same_scalar(yaml_document_get_node(doc, q->key), k))
				return prism_yaml_fail(c, PRISM_ECONFIG,
						       "duplicate key '%s' (line %zu)", name,
						       prism_yaml_line(k));
		if (c->schema->root_key_cb != NULL)
			rc = c->schema->root_key_cb(c, doc, k, v);
		if (rc == PRISM_YAML_PASS) {
			if (!is_section(c->schema, name, k->data.scalar.length)) {
				prism_yaml_printable(shown, sizeof(shown), name,
						     k->data.scalar.length);
				return prism_yaml_fail(c, PRISM_ECONFIG,
						       "unknown key '%s' (line %zu)", shown,
						       prism_yaml_line(k));
			}
			rc = walk_section(c, doc, name, k->data.scalar.length, v);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* ---- loading the document ---- */

static int yaml_fail(struct prism_yaml_ctx *c, const yaml_parser_t *p, const char *yaml,
		     size_t len)
{
	size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;
	const char *problem = p->problem != NULL ? p->problem : "syntax error";

	if (p->error == YAML_MEMORY_ERROR)
		return prism_yaml_nomem(c);
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
	return prism_yaml_fail(c, PRISM_ECONFIG, "yaml: %s (line %zu, column %zu)", problem, line,
			       col);
}

/*
 * PRISM_YAML_PREPASS: a first pass over the event stream, before libyaml builds the document,
 * refuses a second document and nesting deeper than any config needs. The depth limit
 * matters because libyaml's scanner does work quadratic in the flow nesting depth ("[[[[...",
 * a minute for a few hundred kilobytes); stopping early bounds it.
 */
#define MAX_DEPTH 16

static int check_stream(struct prism_yaml_ctx *c, const char *yaml, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	int depth = 0, docs = 0, rc = 0;

	if (!yaml_parser_initialize(&p))
		return prism_yaml_nomem(c);
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
			rc = prism_yaml_fail(c, PRISM_ECONFIG,
					     "yaml: only one document is allowed (line %zu)",
					     line);
			break;
		}
		if (type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT) {
			if (++depth > MAX_DEPTH) {
				rc = prism_yaml_fail(c, PRISM_ECONFIG,
						     "yaml: nested more than %d levels deep (line "
						     "%zu, column %zu)",
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

/*
 * Without the pre-pass: yaml_parser_load() reads one document and would silently ignore the
 * rest, so load the next one to refuse it.
 */
static int check_one_document(struct prism_yaml_ctx *c, yaml_parser_t *p, const char *yaml,
			      size_t len)
{
	yaml_document_t next;
	yaml_node_t *root;
	size_t line;

	if (!yaml_parser_load(p, &next))
		return yaml_fail(c, p, yaml, len);
	root = yaml_document_get_root_node(&next);
	line = root != NULL ? prism_yaml_line(root) : 0;
	yaml_document_delete(&next);
	if (root != NULL)
		return prism_yaml_fail(c, PRISM_ECONFIG,
				       "yaml: only one document is allowed (line %zu)", line);
	return 0;
}

static int load(struct prism_yaml_ctx *c, const char *yaml, size_t len)
{
	bool prepass = (c->schema->flags & PRISM_YAML_PREPASS) != 0;
	yaml_parser_t p;
	yaml_document_t doc;
	int rc;

	if (len == 0)
		return 0;
	if (prepass) {
		rc = check_stream(c, yaml, len);
		if (rc != 0)
			return rc;
	}
	if (!yaml_parser_initialize(&p))
		return prism_yaml_nomem(c);
	yaml_parser_set_input_string(&p, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&p, &doc)) {
		rc = yaml_fail(c, &p, yaml, len);
		yaml_parser_delete(&p);
		return rc;
	}
	rc = 0;
	if (!prepass && yaml_document_get_root_node(&doc) != NULL)
		rc = check_one_document(c, &p, yaml, len);
	if (rc == 0)
		rc = walk_root(c, &doc);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	return rc;
}

/* ---- public ---- */

int prism_yaml_parse(const struct prism_yaml_schema *s, const char *yaml, size_t len,
		     const char *const *envp, void **out, char *err, size_t errlen)
{
	struct prism_yaml_ctx c = {.schema = s, .err = err, .errlen = errlen};
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out != NULL)
		*out = NULL;
	if (out == NULL || (yaml == NULL && len > 0))
		return prism_yaml_fail(&c, PRISM_EINVAL, "invalid argument");
	c.cfg = calloc(1, s->size);
	if (c.cfg == NULL)
		return prism_yaml_nomem(&c);
	rc = apply_defaults(&c);
	if (rc == 0)
		rc = load(&c, yaml, len);
	if (rc == 0)
		rc = apply_env(&c, envp);
	if (rc == 0 && s->validate_cb != NULL)
		rc = s->validate_cb(&c, envp);
	if (rc != 0) {
		prism_yaml_free(s, c.cfg);
		return rc;
	}
	*out = c.cfg;
	return 0;
}

void prism_yaml_free(const struct prism_yaml_schema *s, void *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < s->nopts; i++)
		if (s->opts[i].type == PRISM_YAML_STR)
			free(*(char **)prism_yaml_field(cfg, &s->opts[i]));
	if (s->release_cb != NULL)
		s->release_cb(cfg);
	free(cfg);
}
