/* SPDX-License-Identifier: MIT */
/**
 * @file yamlutil.h
 * The engine shared by Prism's two table-driven YAML configuration parsers: prismd's
 * server.yaml (config.c) and the `prism agent` client's file (agent_config.c). Internal to
 * src/core.
 *
 * Design: a parser describes its options as a const table of struct prism_yaml_opt rows (key
 * "section.name", environment variable, type, struct offset, bounds, default as text) and one
 * struct prism_yaml_schema whose hooks cover what is its own: types beyond the four scalar
 * ones, top-level keys that are not sections, cross-field validation. prism_yaml_parse() then
 * builds a fresh struct — defaults (through the same setter as any value), the YAML document,
 * the environment, the validate hook — remembering where each option's value came from so that
 * errors can point at the line or the variable, and frees all of it on any error. Both parsers
 * thereby share one set of error texts: "key: reason (line N)", "unknown key 'a.b' (line N)",
 * "duplicate key 'a.b' (line N)", "VAR: reason (environment)", "yaml: problem (line N, column
 * C)". Text in, struct or one line of error out: no I/O, no logging.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

/** Option types the engine sets itself; a parser numbers its own from PRISM_YAML_CUSTOM. */
enum prism_yaml_type {
	PRISM_YAML_STR,	   /**< char *; "" unsets it (NULL), refused when the default is not "" */
	PRISM_YAML_INT,	   /**< uint16_t, uint32_t or uint64_t within [imin, imax] */
	PRISM_YAML_BOOL,   /**< bool: true/yes/on, false/no/off in any case; 1/0 in the env */
	PRISM_YAML_FLOAT,  /**< double within [fmin, fmax], plain decimal notation */
	PRISM_YAML_CUSTOM, /**< first of a parser's own types, set through its schema hooks */
};

/** An accepted spelling (matched case-insensitively) and the value stored for it. */
struct prism_yaml_choice {
	const char *name;
	const char *value;
};

/** One option: a row of a parser's table. */
struct prism_yaml_opt {
	const char *key; /**< "section.name", or "section.sub.name" in a nested section */
	const char *env; /**< "PRISM_SECTION_NAME" */
	int type;	 /**< enum prism_yaml_type, or the parser's own (>= PRISM_YAML_CUSTOM) */
	size_t off;	 /**< offsetof the field in the parser's struct */
	size_t size;	 /**< sizeof the field (the integer width) */
	uint64_t imin;	 /**< PRISM_YAML_INT bounds */
	uint64_t imax;
	double fmin; /**< PRISM_YAML_FLOAT bounds */
	double fmax;
	const struct prism_yaml_choice *choices; /**< for the parser's own types; {NULL}-ended */
	const char *def;			 /**< default as text; "" = none */
};

/** Most options one table may have (struct prism_yaml_ctx holds one slot per option). */
#define PRISM_YAML_MAX_OPTS 128

/** Longest option key ("kea.reservations.password_file"); keys may nest sections. */
#define PRISM_YAML_KEY_MAX 64

/** prism_yaml_ctx.src[]: the value is the default, or came from the environment. */
#define PRISM_YAML_SRC_DEFAULT 0
#define PRISM_YAML_SRC_ENV     SIZE_MAX

/** Size of the buffers that hold one reason ("must be an integer between 1 and 65535"). */
#define PRISM_YAML_WHY_MAX 160

/** Returned by a node or root-key hook: not mine, carry on as if there were no hook. */
#define PRISM_YAML_PASS 1

/** prism_yaml_schema.flags: see prism_yaml_parse(). */
#define PRISM_YAML_PREPASS 0x1u

struct prism_yaml_schema;

/** One parse in progress; the hooks receive it. */
struct prism_yaml_ctx {
	const struct prism_yaml_schema *schema;
	void *cfg;			 /**< the parser's struct being built */
	size_t src[PRISM_YAML_MAX_OPTS]; /**< per option: SRC_DEFAULT, a file line or SRC_ENV */
	char *err;			 /**< the caller's error buffer; may be NULL */
	size_t errlen;
};

/**
 * A parser: its option table and hooks. The hooks that take a ctx report errors themselves
 * (prism_yaml_fail() and friends); the text setter reports them in @p why.
 */
struct prism_yaml_schema {
	const struct prism_yaml_opt *opts;
	size_t nopts; /**< at most PRISM_YAML_MAX_OPTS */
	size_t size;  /**< sizeof the parser's struct; allocated zeroed */
	unsigned flags;
	/**
	 * Set an option of the parser's own type from text s[0..n): a YAML scalar, an
	 * environment value (@p env true) or the default.
	 * @return 0, PRISM_ECONFIG with the reason in @p why, or PRISM_ENOMEM
	 */
	int (*set_text_cb)(void *cfg, const struct prism_yaml_opt *o, const char *s, size_t n,
			   bool env, char *why, size_t wl);
	/** Write the reason any value of the wrong shape for @p o (its own type) gets. */
	void (*type_reason_cb)(const struct prism_yaml_opt *o, char *why, size_t wl);
	/**
	 * Optional: set option @p idx of the parser's own type from a non-null YAML node.
	 * @return 0, an error (reported), or PRISM_YAML_PASS to have a scalar go through
	 *         set_text_cb and any other node refused with type_reason_cb's reason
	 */
	int (*node_cb)(struct prism_yaml_ctx *c, size_t idx, yaml_document_t *doc, yaml_node_t *v);
	/**
	 * Optional: a top-level key @p k (a scalar, not a repeat) with value @p v.
	 * @return 0, an error (reported), or PRISM_YAML_PASS when @p k is not one of the
	 *         parser's own, which makes it a section of the table or an unknown key
	 */
	int (*root_key_cb)(struct prism_yaml_ctx *c, yaml_document_t *doc, yaml_node_t *k,
			   yaml_node_t *v);
	/** Optional: cross-field checks once the file and environment are in. 0 or an error. */
	int (*validate_cb)(struct prism_yaml_ctx *c, const char *const *envp);
	/** Optional: free what the parser's own types and keys hold (not STR fields, not cfg). */
	void (*release_cb)(void *cfg);
};

/**
 * Parse YAML text into a new struct of @p s: defaults, then the document, then the
 * environment ("VAR=value" entries named by the rows), then the validate hook.
 *
 * With PRISM_YAML_PREPASS in @p s->flags a first pass over the event stream, before libyaml
 * builds the document, refuses nesting deeper than 16 levels ("yaml: nested more than 16
 * levels deep (line N, column C)") and a second document, naming the line where it starts.
 * The depth limit bounds libyaml's scanner, whose work is quadratic in the flow nesting depth.
 * Without the flag a second document is refused after the first is loaded, naming the line of
 * its root node.
 *
 * @param yaml  text, need not be NUL-terminated; @p len 0 = no file = all defaults
 * @param envp  NULL-terminated "KEY=VALUE" array, or NULL
 * @param[out] out the new struct (NULL on error); caller frees with prism_yaml_free()
 * @param[out] err on failure one line of text, truncated to @p errlen; may be NULL
 * @return 0, PRISM_ECONFIG, PRISM_ENOMEM, or PRISM_EINVAL ("invalid argument": NULL @p out,
 *         NULL @p yaml with @p len > 0)
 */
int prism_yaml_parse(const struct prism_yaml_schema *s, const char *yaml, size_t len,
		     const char *const *envp, void **out, char *err, size_t errlen);

/** Free a struct of @p s: its STR fields, what release_cb frees, itself. NULL is a no-op. */
void prism_yaml_free(const struct prism_yaml_schema *s, void *cfg);

/** Address of option @p o's field in @p cfg. */
void *prism_yaml_field(void *cfg, const struct prism_yaml_opt *o);

/**
 * Write the error message (printf format) into the caller's buffer, if any.
 * @return @p rc
 */
__attribute__((format(printf, 3, 4))) int prism_yaml_fail(struct prism_yaml_ctx *c, int rc,
							  const char *fmt, ...);

/** prism_yaml_fail() with "out of memory". @return PRISM_ENOMEM */
int prism_yaml_nomem(struct prism_yaml_ctx *c);

/**
 * Report how setting option @p o from a file line went: 0 stays 0, PRISM_ENOMEM becomes
 * "out of memory", any other error "key: why (line N)".
 * @return @p rc
 */
int prism_yaml_report(struct prism_yaml_ctx *c, int rc, const struct prism_yaml_opt *o,
		      const char *why, size_t line);

/**
 * Fail about option @p idx wherever its value came from: "key: reason (line N)",
 * "VAR: reason (environment)", or "key: reason" for a default.
 * @return PRISM_ECONFIG
 */
int prism_yaml_fail_opt(struct prism_yaml_ctx *c, size_t idx, const char *reason);

/**
 * Copy user text s[0..n) into @p dst for an error message: printable ASCII only ('?' for
 * the rest), at most 48 characters, "..." when cut.
 */
void prism_yaml_printable(char *dst, size_t dstlen, const char *s, size_t n);

/** Is s[0..n) @p word, ignoring ASCII case? */
bool prism_yaml_eq_nocase(const char *s, size_t n, const char *word);

/**
 * Parse s[0..n) as decimal digits: no sign, no leading zeros, no overflow, within [lo, hi].
 * @return true with the value in @p out, false (and @p out untouched) otherwise
 */
bool prism_yaml_parse_uint(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out);

/**
 * Parse s[0..n) as a YAML 1.1 boolean in any case (true/yes/on, false/no/off); @p env also
 * takes 1 and 0.
 * @return true with the value in @p out, false otherwise
 */
bool prism_yaml_parse_bool(const char *s, size_t n, bool env, bool *out);

/**
 * Replace the string in @p f with a copy of s[0..n), or with NULL when @p s is NULL; the old
 * one is freed.
 * @return 0 or PRISM_ENOMEM (@p f unchanged)
 */
int prism_yaml_store_str(char **f, const char *s, size_t n);

/** 1-based line where node @p n starts. */
size_t prism_yaml_line(const yaml_node_t *n);

/** Is @p n a null scalar: !!null, or plain "", "~", "null", "Null" or "NULL"? */
bool prism_yaml_is_null(const yaml_node_t *n);

/** Are @p a and @p b scalars with the same bytes? */
bool prism_yaml_same_scalar(const yaml_node_t *a, const yaml_node_t *b);

/** Value of "@p name=value" in @p envp (NULL-terminated, may be NULL), or NULL. */
const char *prism_yaml_env_lookup(const char *const *envp, const char *name);
