/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/config.c. The core library is built without UNIT_TESTING, so its
 * own allocations cannot go through cmocka's allocators; leaks there are caught by the
 * address-sanitizer build. Buffers the tests allocate themselves use test_malloc.
 */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"
#include "core/error.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char seed_yaml[] = "server:\n"
				"  tcp_port: 8080\n"
				"  api_port: 8081\n"
				"  host: \"0.0.0.0\"\n"
				"  max_connections: 1000\n"
				"database:\n"
				"  path: \"/app/data/prism.db\"\n"
				"  connection_pool_size: 20\n"
				"heartbeat:\n"
				"  check_interval: 30  # seconds\n"
				"  timeout_multiplier: 2\n"
				"  grace_period: 30  # seconds\n"
				"  cleanup_after_days: 30\n"
				"logging:\n"
				"  level: INFO\n"
				"  file: \"/app/data/server.log\"\n"
				"  max_size: 104857600  # 100MB\n"
				"  backup_count: 5\n"
				"powerdns:\n"
				"  enabled: true\n"
				"  api_url: \"http://localhost:8053/api/v1\"\n"
				"  api_key: \"changeme\"\n"
				"  default_zone: \"managed.prism.local.\"\n"
				"  default_ttl: 300\n"
				"  timeout: 5\n"
				"  retry_attempts: 3\n"
				"  retry_delay: 1\n"
				"  record_types: [\"A\", \"AAAA\"]\n"
				"  auto_ptr: false\n";

/* ---- helpers ---- */

static struct prism_config *parse_ok(const char *yaml, const char *const *envp)
{
	struct prism_config *cfg = NULL;
	char err[256] = "not cleared";
	int rc = prism_config_parse(yaml, strlen(yaml), envp, &cfg, err, sizeof(err));

	if (rc != 0)
		print_error("unexpected error %d: %s\nfor:\n%s\n", rc, err, yaml);
	assert_int_equal(rc, 0);
	assert_non_null(cfg);
	assert_string_equal(err, "");
	return cfg;
}

/* Expects PRISM_ECONFIG with exactly @p msg, *out reset to NULL and err NUL-terminated. */
static void parse_err(const char *yaml, const char *const *envp, const char *msg)
{
	struct prism_config sentinel;
	struct prism_config *cfg = &sentinel;
	char err[256];
	int rc;

	memset(err, 'x', sizeof(err));
	rc = prism_config_parse(yaml, strlen(yaml), envp, &cfg, err, sizeof(err));
	if (rc != PRISM_ECONFIG || strcmp(err, msg) != 0)
		print_error("yaml:\n%s\nexpected: %s\ngot (%d):  %.*s\n", yaml, msg, rc,
			    (int)sizeof(err), err);
	assert_int_equal(rc, PRISM_ECONFIG);
	assert_null(cfg);
	assert_non_null(memchr(err, '\0', sizeof(err)));
	assert_string_equal(err, msg);
}

/* Like parse_err, for messages whose middle part is libyaml's wording. */
static void parse_err_yaml(const char *yaml, const char *suffix)
{
	struct prism_config *cfg = NULL;
	char err[256];
	int rc = prism_config_parse(yaml, strlen(yaml), NULL, &cfg, err, sizeof(err));
	size_t el = strlen(err), sl = strlen(suffix);

	if (rc != PRISM_ECONFIG || strncmp(err, "yaml: ", 6) != 0 || el < sl ||
	    strcmp(err + el - sl, suffix) != 0)
		print_error("yaml:\n%s\nexpected: yaml: ...%s\ngot (%d): %s\n", yaml, suffix, rc,
			    err);
	assert_int_equal(rc, PRISM_ECONFIG);
	assert_null(cfg);
	assert_true(strncmp(err, "yaml: ", 6) == 0);
	assert_true(el >= sl && strcmp(err + el - sl, suffix) == 0);
	assert_null(strchr(err, '\n'));
}

/* ---- arguments ---- */

static void test_null_args(void **state)
{
	struct prism_config *cfg = NULL;
	char err[64];

	(void)state;
	assert_int_equal(prism_config_parse("", 0, NULL, NULL, err, sizeof(err)), PRISM_EINVAL);
	assert_string_equal(err, "invalid argument");
	assert_int_equal(prism_config_parse(NULL, 5, NULL, &cfg, err, sizeof(err)), PRISM_EINVAL);
	assert_null(cfg);
	/* NULL text with length 0 is an empty file; err may be NULL */
	assert_int_equal(prism_config_parse(NULL, 0, NULL, &cfg, NULL, 0), 0);
	assert_non_null(cfg);
	prism_config_free(cfg);
	cfg = NULL;
	assert_int_equal(prism_config_parse("server: 1", 9, NULL, &cfg, NULL, 0), PRISM_ECONFIG);
	assert_null(cfg);
	prism_config_free(NULL);
	assert_non_null(prism_config_options(NULL));
}

static void test_small_err_buffer(void **state)
{
	struct prism_config *cfg = NULL;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(prism_config_parse("server:\n  foo: 1\n", 17, NULL, &cfg, err, 8),
			 PRISM_ECONFIG);
	assert_null(cfg);
	assert_string_equal(err, "unknown");
	memset(err, 'x', sizeof(err));
	assert_int_equal(prism_config_parse("server:\n  foo: 1\n", 17, NULL, &cfg, err, 1),
			 PRISM_ECONFIG);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'x');
}

/* The text need not be NUL-terminated: only @p len bytes are read. */
static void test_not_nul_terminated(void **state)
{
	static const char text[] = "server:\n  tcp_port: 9000";
	char *buf = test_malloc(sizeof(text) - 1);
	struct prism_config *cfg = NULL;
	char err[128];

	(void)state;
	memcpy(buf, text, sizeof(text) - 1);
	assert_int_equal(prism_config_parse(buf, sizeof(text) - 1, NULL, &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg->server_tcp_port, 9000);
	prism_config_free(cfg);
	/* a shorter length cuts the value: "tcp_port: 90" */
	assert_int_equal(prism_config_parse(buf, sizeof(text) - 3, NULL, &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg->server_tcp_port, 90);
	prism_config_free(cfg);
	test_free(buf);
}

/* ---- defaults ---- */

static void check_defaults(const struct prism_config *c)
{
	assert_string_equal(c->server_host[0], "0.0.0.0");
	assert_null(c->server_host[1]);
	assert_int_equal(c->server_tcp_port, 8080);
	assert_int_equal(c->server_api_port, 8081);
	assert_int_equal(c->server_max_connections, 1000);
	assert_int_equal(c->server_idle_timeout, 30);
	assert_int_equal(c->server_frame_timeout, 10);
	assert_string_equal(c->server_instance, "prism");
	assert_string_equal(c->database_path, "./prism.db");
	assert_int_equal(c->database_connection_pool_size, 20);
	assert_string_equal(c->database_synchronous, "normal");
	assert_int_equal(c->heartbeat_interval, 60);
	assert_int_equal(c->heartbeat_check_interval, 30);
	assert_int_equal(c->heartbeat_timeout_multiplier, 2);
	assert_int_equal(c->heartbeat_grace_period, 30);
	assert_int_equal(c->heartbeat_cleanup_after_days, 30);
	assert_string_equal(c->heartbeat_offline_dns, "keep");
	assert_string_equal(c->logging_level, "info");
	assert_null(c->logging_file);
	assert_true(c->logging_max_size == 104857600u);
	assert_int_equal(c->logging_backup_count, 5);
	assert_false(c->powerdns_enabled);
	assert_string_equal(c->powerdns_api_url, "http://127.0.0.1:8053/api/v1");
	assert_null(c->powerdns_api_key);
	assert_null(c->powerdns_api_key_file);
	assert_string_equal(c->powerdns_server_id, "localhost");
	assert_string_equal(c->powerdns_default_zone, "managed.prism.local.");
	assert_int_equal(c->powerdns_default_ttl, 300);
	assert_true(c->powerdns_timeout == 5.0);
	assert_int_equal(c->powerdns_retry_attempts, 3);
	assert_true(c->powerdns_retry_delay == 1.0);
	assert_non_null(c->powerdns_record_types);
	assert_string_equal(c->powerdns_record_types[0], "A");
	assert_string_equal(c->powerdns_record_types[1], "AAAA");
	assert_null(c->powerdns_record_types[2]);
	assert_false(c->powerdns_auto_ptr);
}

static void test_defaults(void **state)
{
	static const char *const empty_docs[] = {
		"",
		"\n",
		"# only a comment\n\n   # another\n",
		"---\n",
		"---\n...\n",
		"~\n",
		"null\n",
		"{}\n",
		"server:\nlogging:\npowerdns: ~\n",
		"server: {}\ndatabase: null\n",
		"server:\n  host:\n  tcp_port: ~\n",
		"powerdns:\n  record_types:\n",
	};
	struct prism_config *c = prism_config_defaults();

	(void)state;
	assert_non_null(c);
	check_defaults(c);
	prism_config_free(c);
	for (size_t i = 0; i < ARRAY_SIZE(empty_docs); i++) {
		c = parse_ok(empty_docs[i], NULL);
		check_defaults(c);
		prism_config_free(c);
	}
}

/* ---- the seed file ---- */

static void test_seed(void **state)
{
	struct prism_config *c = parse_ok(seed_yaml, NULL);

	(void)state;
	assert_int_equal(c->server_tcp_port, 8080);
	assert_int_equal(c->server_api_port, 8081);
	assert_string_equal(c->server_host[0], "0.0.0.0");
	assert_null(c->server_host[1]);
	assert_int_equal(c->server_max_connections, 1000);
	assert_string_equal(c->database_path, "/app/data/prism.db");
	assert_int_equal(c->database_connection_pool_size, 20);
	assert_int_equal(c->heartbeat_check_interval, 30);
	assert_int_equal(c->heartbeat_timeout_multiplier, 2);
	assert_int_equal(c->heartbeat_grace_period, 30);
	assert_int_equal(c->heartbeat_cleanup_after_days, 30);
	assert_string_equal(c->logging_level, "info");
	assert_string_equal(c->logging_file, "/app/data/server.log");
	assert_true(c->logging_max_size == 104857600u);
	assert_int_equal(c->logging_backup_count, 5);
	assert_true(c->powerdns_enabled);
	assert_string_equal(c->powerdns_api_url, "http://localhost:8053/api/v1");
	assert_string_equal(c->powerdns_api_key, "changeme");
	assert_string_equal(c->powerdns_default_zone, "managed.prism.local.");
	assert_int_equal(c->powerdns_default_ttl, 300);
	assert_true(c->powerdns_timeout == 5.0);
	assert_int_equal(c->powerdns_retry_attempts, 3);
	assert_true(c->powerdns_retry_delay == 1.0);
	assert_string_equal(c->powerdns_record_types[0], "A");
	assert_string_equal(c->powerdns_record_types[1], "AAAA");
	assert_null(c->powerdns_record_types[2]);
	assert_false(c->powerdns_auto_ptr);
	/* not in the seed: defaults */
	assert_int_equal(c->server_idle_timeout, 30);
	assert_string_equal(c->database_synchronous, "normal");
	assert_string_equal(c->heartbeat_offline_dns, "keep");
	prism_config_free(c);
}

/* Options the seed does not have, and other spellings. */
static void test_extended(void **state)
{
	static const char yaml[] = "server:\n"
				   "  idle_timeout: 120\n"
				   "  frame_timeout: 5\n"
				   "  instance: prism-eu1\n"
				   "database:\n"
				   "  synchronous: FULL\n"
				   "heartbeat:\n"
				   "  interval: 15\n"
				   "  offline_dns: Remove\n"
				   "logging:\n"
				   "  level: warn\n"
				   "powerdns:\n"
				   "  enabled: yes\n"
				   "  api_key_file: /run/secrets/pdns\n"
				   "  server_id: ns1\n"
				   "  default_zone: Example.COM\n"
				   "  timeout: 0.5\n"
				   "  retry_delay: 2.5e-1\n"
				   "  record_types:\n"
				   "    - aaaa\n"
				   "  auto_ptr: On\n";
	struct prism_config *c = parse_ok(yaml, NULL);

	(void)state;
	assert_int_equal(c->server_idle_timeout, 120);
	assert_int_equal(c->server_frame_timeout, 5);
	assert_string_equal(c->server_instance, "prism-eu1");
	assert_string_equal(c->database_synchronous, "full");
	assert_int_equal(c->heartbeat_interval, 15);
	assert_string_equal(c->heartbeat_offline_dns, "remove");
	assert_string_equal(c->logging_level, "warning");
	assert_true(c->powerdns_enabled);
	assert_null(c->powerdns_api_key);
	assert_string_equal(c->powerdns_api_key_file, "/run/secrets/pdns");
	assert_string_equal(c->powerdns_server_id, "ns1");
	assert_string_equal(c->powerdns_default_zone, "example.com.");
	assert_true(c->powerdns_timeout == 0.5);
	assert_true(c->powerdns_retry_delay == 0.25);
	assert_string_equal(c->powerdns_record_types[0], "AAAA");
	assert_null(c->powerdns_record_types[1]);
	assert_true(c->powerdns_auto_ptr);
	prism_config_free(c);
}

/* ---- structure errors ---- */

static void test_unknown_keys(void **state)
{
	(void)state;
	parse_err("server:\n  foo: 1\n", NULL, "unknown key 'server.foo' (line 2)");
	parse_err("\n\nfoo:\n  a: 1\n", NULL, "unknown key 'foo' (line 3)");
	parse_err("server:\n  tcp_port: 1\npowerdns:\n  apiurl: x\n", NULL,
		  "unknown key 'powerdns.apiurl' (line 4)");
	/* a key of another section */
	parse_err("database:\n  tcp_port: 1\n", NULL, "unknown key 'database.tcp_port' (line 2)");
	/* keys are case-sensitive */
	parse_err("Server:\n  tcp_port: 1\n", NULL, "unknown key 'Server' (line 1)");
	/* no dotted shortcut */
	parse_err("server.tcp_port: 1\n", NULL, "unknown key 'server.tcp_port' (line 1)");
	/* control characters are not echoed */
	parse_err("server:\n  \"a\\nb\\0\": 1\n", NULL, "unknown key 'server.a?b?' (line 2)");
	parse_err("server:\n  \"tcp_port\\0\": 1\n", NULL,
		  "unknown key 'server.tcp_port?' (line 2)");
	parse_err("\"server\\0\":\n  tcp_port: 1\n", NULL, "unknown key 'server?' (line 1)");
	/* long names are cut */
	parse_err("server:\n  aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1\n",
		  NULL,
		  "unknown key 'server.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' "
		  "(line 2)");
	/* aliases are followed: the mapping now sits under another section */
	parse_err("server: &s\n  tcp_port: 1\ndatabase: *s\n", NULL,
		  "unknown key 'database.tcp_port' (line 2)");
	/* merge keys are not supported */
	parse_err("server:\n  <<: {tcp_port: 1}\n", NULL, "unknown key 'server.<<' (line 2)");
}

static void test_shape_errors(void **state)
{
	(void)state;
	parse_err("- server\n", NULL, "configuration must be a mapping of sections (line 1)");
	parse_err("# comment\nhello\n", NULL,
		  "configuration must be a mapping of sections (line 2)");
	parse_err("server: 5\n", NULL, "server: must be a mapping of keys (line 1)");
	parse_err("server:\n  - tcp_port: 1\n", NULL,
		  "server: must be a mapping of keys (line 2)");
	parse_err("? [a, b]\n: 1\n", NULL, "section names must be plain names (line 1)");
	parse_err("server:\n  ? {a: 1}\n  : 1\n", NULL,
		  "server: keys must be plain names (line 2)");
	parse_err("server:\n  tcp_port: 1\n---\nserver:\n  tcp_port: 2\n", NULL,
		  "yaml: only one document is allowed (line 3)");
	parse_err("server: {}\n...\n---\nserver: {}\n", NULL,
		  "yaml: only one document is allowed (line 3)");
	parse_err("---\n---\n", NULL, "yaml: only one document is allowed (line 2)");
	/* a second document comes before a syntax error in it */
	parse_err("server: {}\n---\n[\n", NULL, "yaml: only one document is allowed (line 2)");
	/* nesting is limited (libyaml's scanner is quadratic in flow depth) */
	parse_err("server:\n  host: [[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]\n", NULL,
		  "yaml: nested more than 16 levels deep (line 2, column 23)");
}

static void test_duplicates(void **state)
{
	(void)state;
	parse_err("server:\n  tcp_port: 1\n  api_port: 2\n  tcp_port: 3\n", NULL,
		  "duplicate key 'server.tcp_port' (line 4)");
	parse_err("logging:\n  file:\n  file: x\n", NULL, "duplicate key 'logging.file' (line 3)");
	parse_err("server:\n  tcp_port: 1\ndatabase:\n  path: x\nserver:\n  api_port: 2\n", NULL,
		  "duplicate key 'server' (line 5)");
	parse_err("logging:\nlogging:\n", NULL, "duplicate key 'logging' (line 2)");
	parse_err("server: {tcp_port: 1, tcp_port: 1}\n", NULL,
		  "duplicate key 'server.tcp_port' (line 1)");
}

static void test_yaml_syntax(void **state)
{
	(void)state;
	parse_err_yaml("server:\n\ttcp_port: 1\n", "(line 2, column 1)");
	parse_err_yaml("server:\n  tcp_port: [1, 2\n", "(line 3, column 1)");
	parse_err_yaml("server:\n  tcp_port: 1\n   api_port: 2\n", "(line 3, column 12)");
	parse_err_yaml("server: \"abc\n", "(line 2, column 1)");
	parse_err_yaml("server: *nope\n", "(line 1, column 9)");
	/* encoding errors have no mark: the position is computed from the byte offset */
	parse_err_yaml("server:\n  host: ab\xff\n", "(line 2, column 11)");
	/* a syntax error after the first document is still reported */
	parse_err_yaml("server: {}\n...\n]\n", "(line 3, column 1)");
}

/* ---- value errors per type ---- */

struct bad {
	const char *yaml;
	const char *msg;
};

static void run_bad(const struct bad *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		parse_err(b[i].yaml, NULL, b[i].msg);
}

#define PORT_MSG "server.tcp_port: must be an integer between 0 and 65535"

static void test_int_errors(void **state)
{
	static const struct bad bad[] = {
		{"server:\n  tcp_port: -0\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 65536\n", PORT_MSG " (line 2)"},
		{"\n\nserver:\n  tcp_port: -1\n", PORT_MSG " (line 4)"},
		{"server:\n  tcp_port: +80\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 80x\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: \"80 \"\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 080\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 0x50\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 1_000\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 80.0\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 1e3\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: \"\"\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: eighty\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: true\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 18446744073709551616\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: 99999999999999999999999999999\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port: [80]\n", PORT_MSG " (line 2)"},
		{"server:\n  tcp_port:\n    a: 1\n", PORT_MSG " (line 3)"},
		{"powerdns:\n  default_ttl: 2147483648\n",
		 "powerdns.default_ttl: must be an integer between 1 and 2147483647 (line 2)"},
		{"powerdns:\n  default_ttl: 0\n",
		 "powerdns.default_ttl: must be an integer between 1 and 2147483647 (line 2)"},
		{"server:\n  max_connections: 1000001\n",
		 "server.max_connections: must be an integer between 1 and 1000000 (line 2)"},
		{"heartbeat:\n  timeout_multiplier: 101\n",
		 "heartbeat.timeout_multiplier: must be an integer between 1 and 100 (line 2)"},
		{"heartbeat:\n  cleanup_after_days: 3651\n",
		 "heartbeat.cleanup_after_days: must be an integer between 0 and 3650 (line 2)"},
		{"logging:\n  max_size: 9223372036854775808\n",
		 "logging.max_size: must be an integer between 0 and 9223372036854775807 "
		 "(line 2)"},
		{"powerdns:\n  retry_attempts: 101\n",
		 "powerdns.retry_attempts: must be an integer between 0 and 100 (line 2)"},
	};

	(void)state;
	run_bad(bad, ARRAY_SIZE(bad));
}

static void test_int_bounds(void **state)
{
	struct prism_config *c;

	(void)state;
	c = parse_ok("server:\n  tcp_port: 1\n  api_port: 65535\n  max_connections: \"1000000\"\n"
		     "heartbeat:\n  grace_period: 0\n  cleanup_after_days: 0\n"
		     "logging:\n  max_size: 9223372036854775807\n"
		     "powerdns:\n  default_ttl: 2147483647\n  retry_attempts: 0\n",
		     NULL);
	assert_int_equal(c->server_tcp_port, 1);
	assert_int_equal(c->server_api_port, 65535);
	assert_int_equal(c->server_max_connections, 1000000);
	assert_int_equal(c->heartbeat_grace_period, 0);
	assert_int_equal(c->heartbeat_cleanup_after_days, 0);
	assert_true(c->logging_max_size == 9223372036854775807u);
	assert_int_equal(c->powerdns_default_ttl, 2147483647);
	assert_int_equal(c->powerdns_retry_attempts, 0);
	prism_config_free(c);
}

#define ENABLED_MSG  "powerdns.enabled: must be true or false"
#define AUTO_PTR_MSG "powerdns.auto_ptr: must be true or false"

static void test_bool(void **state)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "ON"};
	static const char *const no[] = {"false", "False", "no", "NO", "off", "Off"};
	static const struct bad bad[] = {
		{"powerdns:\n  auto_ptr: 1\n", AUTO_PTR_MSG " (line 2)"},
		{"powerdns:\n  auto_ptr: 0\n", AUTO_PTR_MSG " (line 2)"},
		{"powerdns:\n  enabled: y\n", ENABLED_MSG " (line 2)"},
		{"powerdns:\n  enabled: truee\n", ENABLED_MSG " (line 2)"},
		{"powerdns:\n  enabled: \"\"\n", ENABLED_MSG " (line 2)"},
		{"powerdns:\n  enabled: [true]\n", ENABLED_MSG " (line 2)"},
	};
	char yaml[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		snprintf(yaml, sizeof(yaml), "powerdns:\n  auto_ptr: %s\n", yes[i]);
		struct prism_config *c = parse_ok(yaml, NULL);
		assert_true(c->powerdns_auto_ptr);
		prism_config_free(c);
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		snprintf(yaml, sizeof(yaml), "powerdns:\n  auto_ptr: %s\n", no[i]);
		struct prism_config *c = parse_ok(yaml, NULL);
		assert_false(c->powerdns_auto_ptr);
		prism_config_free(c);
	}
	run_bad(bad, ARRAY_SIZE(bad));
}

#define TIMEOUT_MSG "powerdns.timeout: must be a number between 0.1 and 600"

static void test_float(void **state)
{
	static const struct bad bad[] = {
		{"powerdns:\n  timeout: 0.05\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: 600.5\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: -1\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: inf\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: .inf\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: nan\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: 0x10\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: 5s\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: \" 5\"\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: 1e999\n", TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: 5.\n  retry_delay: 1..0\n",
		 "powerdns.retry_delay: must be a number between 0.01 and 3600 (line 3)"},
		{"powerdns:\n  timeout: \"\"\n", TIMEOUT_MSG " (line 2)"},
		/* longer than any sensible number */
		{"powerdns:\n  timeout: 000000000000000000000000000000"
		 "0000000000000000000000000000000000005\n",
		 TIMEOUT_MSG " (line 2)"},
		{"powerdns:\n  timeout: {a: 1}\n", TIMEOUT_MSG " (line 2)"},
	};
	struct prism_config *c;

	(void)state;
	c = parse_ok("powerdns:\n  timeout: 0.1\n  retry_delay: 3600\n", NULL);
	assert_true(c->powerdns_timeout == 0.1);
	assert_true(c->powerdns_retry_delay == 3600.0);
	prism_config_free(c);
	c = parse_ok("powerdns:\n  timeout: \"600\"\n  retry_delay: 1E-2\n", NULL);
	assert_true(c->powerdns_timeout == 600.0);
	assert_true(c->powerdns_retry_delay == 0.01);
	prism_config_free(c);
	run_bad(bad, ARRAY_SIZE(bad));
}

static void test_string(void **state)
{
	static const struct bad bad[] = {
		{"server:\n  host: [a]\n",
		 "server.host: 'a' is not an IPv4 or IPv6 address (line 2)"},
		{"server:\n  host:\n    a: b\n",
		 "server.host: must be a string or a list of strings (line 3)"},
		{"server:\n  host: \"\"\n",
		 "server.host: must be a string or a list of strings (line 2)"},
		{"database:\n  path: ''\n", "database.path: must not be empty (line 2)"},
		{"database:\n  path: \"a\\0b\"\n",
		 "database.path: must not contain NUL characters (line 2)"},
	};
	struct prism_config *c;

	(void)state;
	/* quoted and unquoted numbers and booleans are strings where a string is wanted */
	c = parse_ok("server:\n  host: 127.0.0.1\n  instance: 42\n"
		     "powerdns:\n  api_key: 12345\n  server_id: \"yes\"\n",
		     NULL);
	assert_string_equal(c->server_host[0], "127.0.0.1");
	assert_string_equal(c->server_instance, "42");
	assert_string_equal(c->powerdns_api_key, "12345");
	assert_string_equal(c->powerdns_server_id, "yes");
	prism_config_free(c);
	/* optional strings: empty means unset */
	c = parse_ok("logging:\n  file: \"\"\npowerdns:\n  api_key: ''\n", NULL);
	assert_null(c->logging_file);
	assert_null(c->powerdns_api_key);
	prism_config_free(c);
	/* block scalars and UTF-8 */
	c = parse_ok("server:\n  instance: |-\n    caf\xc3\xa9\n", NULL);
	assert_string_equal(c->server_instance, "caf\xc3\xa9");
	prism_config_free(c);
	run_bad(bad, ARRAY_SIZE(bad));
}

#define RT_MSG "powerdns.record_types: must be a non-empty list of A, AAAA"

static void test_list(void **state)
{
	static const struct bad bad[] = {
		{"powerdns:\n  record_types: [A, MX]\n",
		 "powerdns.record_types: 'MX' is not one of A, AAAA (line 2)"},
		{"powerdns:\n  record_types:\n    - A\n    - AAAA\n    - CNAME\n",
		 "powerdns.record_types: 'CNAME' is not one of A, AAAA (line 5)"},
		{"powerdns:\n  record_types: [A, a]\n",
		 "powerdns.record_types: 'A' is listed twice (line 2)"},
		{"powerdns:\n  record_types: []\n", RT_MSG " (line 2)"},
		{"powerdns:\n  record_types: A\n", RT_MSG " (line 2)"},
		{"powerdns:\n  record_types: \"A,AAAA\"\n", RT_MSG " (line 2)"},
		{"powerdns:\n  record_types: {A: 1}\n", RT_MSG " (line 2)"},
		{"powerdns:\n  record_types:\n    - A\n    - [AAAA]\n", RT_MSG " (line 4)"},
		{"powerdns:\n  record_types:\n    - A\n    -\n", RT_MSG " (line 4)"},
		{"powerdns:\n  record_types: [\"\"]\n", RT_MSG " (line 2)"},
		{"powerdns:\n  record_types: [\"A\\0\"]\n", RT_MSG " (line 2)"},
	};
	struct prism_config *c;

	(void)state;
	c = parse_ok("powerdns:\n  record_types:\n    - AAAA\n    - a\n", NULL);
	assert_string_equal(c->powerdns_record_types[0], "AAAA");
	assert_string_equal(c->powerdns_record_types[1], "A");
	assert_null(c->powerdns_record_types[2]);
	prism_config_free(c);
	c = parse_ok("powerdns:\n  record_types: ['A']\n", NULL);
	assert_string_equal(c->powerdns_record_types[0], "A");
	assert_null(c->powerdns_record_types[1]);
	prism_config_free(c);
	run_bad(bad, ARRAY_SIZE(bad));
}

#define LEVEL_MSG "logging.level: must be one of debug, info, warning, warn, error, critical"

static void test_enum(void **state)
{
	static const struct {
		const char *in, *out;
	} levels[] = {
		{"debug", "debug"},  {"INFO", "info"},	 {"Warning", "warning"},
		{"WARN", "warning"}, {"error", "error"}, {"CRITICAL", "critical"},
	};
	static const struct bad bad[] = {
		{"logging:\n  level: verbose\n", LEVEL_MSG " (line 2)"},
		{"logging:\n  level: \"info \"\n", LEVEL_MSG " (line 2)"},
		{"logging:\n  level: \"\"\n", LEVEL_MSG " (line 2)"},
		{"logging:\n  level: [info]\n", LEVEL_MSG " (line 2)"},
		{"database:\n  synchronous: off\n",
		 "database.synchronous: must be one of normal, full (line 2)"},
		{"heartbeat:\n  offline_dns: delete\n",
		 "heartbeat.offline_dns: must be one of keep, remove (line 2)"},
	};
	char yaml[128];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
		snprintf(yaml, sizeof(yaml), "logging:\n  level: %s\n", levels[i].in);
		struct prism_config *c = parse_ok(yaml, NULL);
		assert_string_equal(c->logging_level, levels[i].out);
		prism_config_free(c);
	}
	run_bad(bad, ARRAY_SIZE(bad));
}

/* ---- environment ---- */

static void test_env_overrides(void **state)
{
	static const char *const env[] = {
		"PATH=/usr/bin",
		"PRISM_POWERDNS_API_URL=https://pdns.example:8443/api/v1",
		"PRISM_SERVER_TCP_PORT=9090",
		"PRISM_POWERDNS_ENABLED=0",
		"PRISM_POWERDNS_RECORD_TYPES= aaaa ,",
		"PRISM_POWERDNS_DEFAULT_ZONE=Other.Zone",
		"PRISM_LOGGING_LEVEL=Debug",
		"PRISM_POWERDNS_TIMEOUT=2.5",
		"PRISM_POWERDNS_API_KEY=secret=with=equals",
		"PRISM_SERVER_TCP_PORT=1", /* the first occurrence wins, as with getenv */
		"PRISM_UNKNOWN_THING=1",   /* other tools share the prefix */
		"PRISM_SERVER_HOST",	   /* no '=': ignored */
		"PRISM_SERVER=x",
		NULL,
	};
	struct prism_config *c = parse_ok(seed_yaml, env);

	(void)state;
	assert_string_equal(c->powerdns_api_url, "https://pdns.example:8443/api/v1");
	assert_int_equal(c->server_tcp_port, 9090);
	assert_false(c->powerdns_enabled);
	assert_string_equal(c->powerdns_record_types[0], "AAAA");
	assert_null(c->powerdns_record_types[1]);
	assert_string_equal(c->powerdns_default_zone, "other.zone.");
	assert_string_equal(c->logging_level, "debug");
	assert_true(c->powerdns_timeout == 2.5);
	assert_string_equal(c->powerdns_api_key, "secret=with=equals");
	assert_string_equal(c->server_host[0], "0.0.0.0");
	assert_null(c->server_host[1]);
	prism_config_free(c);
}

static void test_env_bool_and_list(void **state)
{
	static const char *const on[] = {"PRISM_POWERDNS_ENABLED=1", "PRISM_POWERDNS_API_KEY=k",
					 "PRISM_POWERDNS_AUTO_PTR=yes",
					 "PRISM_POWERDNS_RECORD_TYPES=A,AAAA", NULL};
	static const char *const off[] = {"PRISM_POWERDNS_ENABLED=False",
					  "PRISM_POWERDNS_RECORD_TYPES=AAAA, a", NULL};
	struct prism_config *c;

	(void)state;
	c = parse_ok("powerdns:\n  record_types: [AAAA]\n", on);
	assert_true(c->powerdns_enabled);
	assert_true(c->powerdns_auto_ptr);
	assert_string_equal(c->powerdns_api_key, "k");
	assert_string_equal(c->powerdns_record_types[0], "A");
	assert_string_equal(c->powerdns_record_types[1], "AAAA");
	assert_null(c->powerdns_record_types[2]);
	prism_config_free(c);
	c = parse_ok("powerdns:\n  enabled: true\n  api_key: k\n", off);
	assert_false(c->powerdns_enabled);
	assert_string_equal(c->powerdns_record_types[0], "AAAA");
	assert_string_equal(c->powerdns_record_types[1], "A");
	prism_config_free(c);
}

static void test_env_errors(void **state)
{
	static const struct {
		const char *var;
		const char *msg;
	} bad[] = {
		{"PRISM_POWERDNS_DEFAULT_TTL=0", "PRISM_POWERDNS_DEFAULT_TTL: must be an integer "
						 "between 1 and 2147483647 (environment)"},
		{"PRISM_POWERDNS_DEFAULT_TTL=", "PRISM_POWERDNS_DEFAULT_TTL: must be an integer "
						"between 1 and 2147483647 (environment)"},
		{"PRISM_SERVER_TCP_PORT=80 ", "PRISM_SERVER_TCP_PORT: must be an integer between "
					      "0 and 65535 (environment)"},
		{"PRISM_POWERDNS_ENABLED=2", "PRISM_POWERDNS_ENABLED: must be true or false "
					     "(environment)"},
		{"PRISM_POWERDNS_TIMEOUT=fast", "PRISM_POWERDNS_TIMEOUT: must be a number "
						"between 0.1 and 600 (environment)"},
		{"PRISM_POWERDNS_RECORD_TYPES=A,MX", "PRISM_POWERDNS_RECORD_TYPES: 'MX' is not "
						     "one of A, AAAA (environment)"},
		{"PRISM_POWERDNS_RECORD_TYPES= , ", "PRISM_POWERDNS_RECORD_TYPES: must be a "
						    "non-empty list of A, AAAA (environment)"},
		{"PRISM_LOGGING_LEVEL=loud", "PRISM_LOGGING_LEVEL: must be one of debug, info, "
					     "warning, warn, error, critical (environment)"},
		{"PRISM_SERVER_HOST=",
		 "PRISM_SERVER_HOST: must name at least one address (environment)"},
		{"PRISM_POWERDNS_API_URL=localhost:8053",
		 "PRISM_POWERDNS_API_URL: must start "
		 "with http:// or https:// (environment)"},
		{"PRISM_POWERDNS_DEFAULT_ZONE=bad zone", "PRISM_POWERDNS_DEFAULT_ZONE: not a "
							 "valid zone name (environment)"},
		{"PRISM_SERVER_API_PORT=8080", "PRISM_SERVER_API_PORT: must differ from "
					       "server.tcp_port (environment)"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *env[] = {"HOME=/root", bad[i].var, NULL};
		parse_err("", env, bad[i].msg);
		parse_err(seed_yaml, env, bad[i].msg);
	}
	/* an empty value unsets an optional string, so the key rule applies again */
	const char *env[] = {"PRISM_POWERDNS_API_KEY=", NULL};
	parse_err(seed_yaml, env,
		  "powerdns.api_key: required when powerdns.enabled is true "
		  "(or set powerdns.api_key_file)");
}

/* ---- validation across options ---- */

/* The registry backend: PostgreSQL needs its URL, once; SQLite none. */
static void test_database(void **state)
{
	struct prism_config *c;
	(void)state;
	c = parse_ok("", NULL);
	assert_string_equal(c->database_type, "sqlite");
	assert_null(c->database_url);
	prism_config_free(c);
	parse_err("database:\n  type: postgresql\n", NULL,
		  "database.url: required when database.type is postgresql (or set "
		  "database.url_file)");
	parse_err("database:\n  type: postgresql\n  url: postgresql://h/db\n  url_file: u\n", NULL,
		  "database.url_file: cannot be combined with database.url (line 4)");
	parse_err("database:\n  url: postgresql://h/db\n", NULL,
		  "database.url: only with database.type postgresql (line 2)");
	parse_err("database:\n  type: mysql\n", NULL,
		  "database.type: must be one of sqlite, postgresql (line 2)");
	c = parse_ok("database:\n  type: postgresql\n  url_file: /etc/prism/db-url\n", NULL);
	assert_string_equal(c->database_url_file, "/etc/prism/db-url");
	prism_config_free(c);
	static const char *const env[] = {"PRISM_DATABASE_TYPE=postgresql",
					  "PRISM_DATABASE_URL=host=db dbname=prism", NULL};
	c = parse_ok("", env);
	assert_string_equal(c->database_type, "postgresql");
	assert_string_equal(c->database_url, "host=db dbname=prism");
	prism_config_free(c);
}

/* The TLS agent port: files that go together, the client certificate mode, ports. */
static void test_tls(void **state)
{
	static const char port[] = "server:\n  tls_port: 8443\n";
	struct prism_config *c;
	(void)state;
	parse_err(port, NULL, "server.tls_cert: required when server.tls_port is set");
	parse_err("server:\n  tls_port: 8443\n  tls_cert: c.pem\n", NULL,
		  "server.tls_key: required when server.tls_port is set");
	parse_err("server:\n  tls_client_cert: required\n", NULL,
		  "server.tls_client_ca: required when server.tls_client_cert is optional or "
		  "required");
	parse_err("server:\n  tls_client_crl: r.pem\n", NULL,
		  "server.tls_client_ca: required with server.tls_client_crl");
	parse_err("server:\n  tls_client_cert: sometimes\n", NULL,
		  "server.tls_client_cert: must be one of none, optional, required (line 2)");
	parse_err("server:\n  tcp_port: 0\n", NULL,
		  "server.tcp_port: 0 turns the plain agent "
		  "port off: set server.tls_port for agents to have one (line 2)");
	parse_err(
		"server:\n  tls_port: 8081\n  tls_cert: c\n  tls_key: k\n", NULL,
		"server.tls_port: must differ from server.tcp_port and server.api_port (line 2)");
	c = parse_ok("server:\n  tcp_port: 0\n  tls_port: 8443\n  tls_cert: c.pem\n"
		     "  tls_key: k.pem\n  tls_client_ca: ca.pem\n  tls_client_cert: Optional\n"
		     "  tls_client_crl: crl.pem\n",
		     NULL);
	assert_int_equal(c->server_tcp_port, 0);
	assert_int_equal(c->server_tls_port, 8443);
	assert_string_equal(c->server_tls_client_cert, "optional");
	assert_string_equal(c->server_tls_client_crl, "crl.pem");
	prism_config_free(c);
	const char *env[] = {"PRISM_SERVER_TLS_PORT=9443", "PRISM_SERVER_TLS_CERT=/e/c.pem",
			     "PRISM_SERVER_TLS_KEY=/e/k.pem", NULL};
	c = parse_ok("", env);
	assert_int_equal(c->server_tls_port, 9443);
	assert_string_equal(c->server_tls_cert, "/e/c.pem");
	assert_string_equal(c->server_tls_client_cert, "none");
	prism_config_free(c);
}

static void test_validation(void **state)
{
	static const struct bad bad[] = {
		{"powerdns:\n  enabled: true\n",
		 "powerdns.api_key: required when "
		 "powerdns.enabled is true (or set powerdns.api_key_file)"},
		{"powerdns:\n  enabled: true\n  api_key: \"\"\n",
		 "powerdns.api_key: required "
		 "when powerdns.enabled is true (or set powerdns.api_key_file)"},
		{"powerdns:\n  api_key: a\n  api_key_file: /k\n",
		 "powerdns.api_key_file: cannot be combined with powerdns.api_key (line 3)"},
		{"powerdns:\n\n  api_url: ftp://pdns/api/v1\n",
		 "powerdns.api_url: must start with http:// or https:// (line 3)"},
		{"powerdns:\n  api_url: http://\n",
		 "powerdns.api_url: must start with http:// or https:// (line 2)"},
		{"powerdns:\n  default_zone: \"bad zone\"\n",
		 "powerdns.default_zone: not a valid zone name (line 2)"},
		{"powerdns:\n  default_zone: a..b\n",
		 "powerdns.default_zone: not a valid zone name (line 2)"},
		{"server:\n  tcp_port: 8081\n",
		 "server.tcp_port: must differ from server.api_port (line 2)"},
		{"server:\n  tcp_port: 9000\n  api_port: 9000\n",
		 "server.api_port: must differ from server.tcp_port (line 3)"},
	};
	static const char *const key_env[] = {"PRISM_POWERDNS_API_KEY=k", NULL};
	struct prism_config *c;

	(void)state;
	run_bad(bad, ARRAY_SIZE(bad));
	c = parse_ok("powerdns:\n  enabled: true\n  api_key_file: /run/k\n", NULL);
	prism_config_free(c);
	c = parse_ok("powerdns:\n  enabled: true\n", key_env);
	assert_string_equal(c->powerdns_api_key, "k");
	prism_config_free(c);
	c = parse_ok("powerdns:\n  api_url: HTTPS://pdns\n  default_zone: Example.Org\n", NULL);
	assert_string_equal(c->powerdns_api_url, "HTTPS://pdns");
	assert_string_equal(c->powerdns_default_zone, "example.org.");
	prism_config_free(c);
}

/* ---- kea: nested sections ---- */

static void test_kea(void **state)
{
	static const struct bad bad[] = {
		{"kea:\n  ncr:\n    listen: 127.0.0.1\n",
		 "kea.ncr.listen: must be IPv4:port or [IPv6]:port, e.g. 127.0.0.1:53001 (line "
		 "3)"},
		{"kea:\n  ncr:\n    listen: \"::1:53001\"\n",
		 "kea.ncr.listen: must be IPv4:port or [IPv6]:port, e.g. 127.0.0.1:53001 (line "
		 "3)"},
		{"kea:\n  ncr:\n    listen: \"localhost:53001\"\n",
		 "kea.ncr.listen: must be IPv4:port or [IPv6]:port, e.g. 127.0.0.1:53001 (line "
		 "3)"},
		{"kea:\n  ncr:\n    listen: \"127.0.0.1:0\"\n",
		 "kea.ncr.listen: must be IPv4:port or [IPv6]:port, e.g. 127.0.0.1:53001 (line "
		 "3)"},
		{"kea:\n  ncr:\n    ttl_min: 700\n    ttl_max: 600\n",
		 "kea.ncr.ttl_min: must not be above kea.ncr.ttl_max (line 3)"},
		{"kea:\n  ncr:\n    enabled: maybe\n",
		 "kea.ncr.enabled: must be true or false (line 3)"},
		{"kea:\n  ncr: 1\n", "kea.ncr: must be a mapping of keys (line 2)"},
		{"kea:\n  ncr:\n    enabled: true\n  ncr:\n    enabled: false\n",
		 "duplicate key 'kea.ncr' (line 4)"},
		{"kea:\n  ncr:\n    enabled: true\n    enabled: false\n",
		 "duplicate key 'kea.ncr.enabled' (line 4)"},
		{"kea:\n  dhcp:\n    x: 1\n", "unknown key 'kea.dhcp' (line 2)"},
		{"kea:\n  reservations:\n    channel: \"Bad-Name\"\n",
		 "kea.reservations.channel: must be a lower-case SQL identifier "
		 "([a-z_][a-z0-9_]*, "
		 "at most 63 characters) (line 3)"},
		{"kea:\n  reservations:\n    zone: other.test\n",
		 "kea.reservations.zone: is not one of zones (line 3)"},
		{"kea:\n  leases:\n    zone: \"bad zone\"\n",
		 "kea.leases.zone: not a valid zone name (line 3)"},
		{"kea:\n  reservations:\n    filter_regex: \"(\"\n",
		 "kea.reservations.filter_regex: not a regular expression (Unmatched ( or \\() "
		 "(line 3)"},
		{"kea:\n  reservations:\n    password_file: /p\n    password_env: PW\n",
		 "kea.reservations.password_env: cannot be combined with "
		 "kea.reservations.password_file (line 4)"},
	};
	static const char *const env[] = {"PRISM_KEA_NCR_ENABLED=1",
					  "PRISM_KEA_RESERVATIONS_FILTER=*-ilo, *-idrac", NULL};
	struct prism_config *c;

	(void)state;
	run_bad(bad, ARRAY_SIZE(bad));
	c = parse_ok("", NULL);
	assert_false(c->kea_ncr_enabled);
	assert_string_equal(c->kea_ncr_listen, "127.0.0.1:53001");
	assert_int_equal(c->kea_reservations_ttl, 600);
	assert_string_equal(c->kea_reservations_channel, "prism_kea_hosts");
	assert_string_equal(c->kea_reservations_zone, "managed.prism.local.");
	assert_null(c->kea_reservations_filter);
	assert_null(c->kea_leases_file);
	prism_config_free(c);
	c = parse_ok("zones:\n  - name: dc.example\n  - name: 10.in-addr.arpa\n"
		     "kea:\n  ncr:\n    enabled: yes\n    listen: \"[::1]:5301\"\n"
		     "  reservations:\n    zone: DC.example.\n    filter: [\"*-bmc\"]\n"
		     "    filter_regex: \"^us[0-9]+-\"\n  leases:\n    file: /var/lib/kea/l.csv\n",
		     NULL);
	assert_true(c->kea_ncr_enabled);
	assert_string_equal(c->kea_ncr_listen, "[::1]:5301");
	assert_string_equal(c->kea_reservations_zone, "dc.example.");
	assert_string_equal(c->kea_reservations_filter[0], "*-bmc");
	assert_null(c->kea_reservations_filter[1]);
	assert_string_equal(c->kea_reservations_filter_regex, "^us[0-9]+-");
	assert_string_equal(c->kea_leases_file, "/var/lib/kea/l.csv");
	assert_string_equal(c->kea_leases_zone, "dc.example.");
	prism_config_free(c);
	c = parse_ok("", env);
	assert_true(c->kea_ncr_enabled);
	assert_string_equal(c->kea_reservations_filter[0], "*-ilo");
	assert_string_equal(c->kea_reservations_filter[1], "*-idrac");
	prism_config_free(c);
}

static void test_owner_id(void **state)
{
	(void)state;
	struct prism_config *cfg = parse_ok("server:\n  tcp_port: 1\n", NULL);
	assert_string_equal(cfg->sync_owner_id, "prism"); /* the marks written so far */
	prism_config_free(cfg);
	cfg = parse_ok("sync:\n  owner_id: dc-1.alpha_2\n", NULL);
	assert_string_equal(cfg->sync_owner_id, "dc-1.alpha_2");
	prism_config_free(cfg);
	static const char *const env[] = {"PRISM_SYNC_OWNER_ID=beta", NULL};
	cfg = parse_ok("server:\n  tcp_port: 1\n", env);
	assert_string_equal(cfg->sync_owner_id, "beta");
	prism_config_free(cfg);
	parse_err("sync:\n  owner_id: \"two words\"\n", NULL,
		  "sync.owner_id: must be 1-64 of the characters a-z A-Z 0-9 . _ - (line 2)");
	parse_err("sync:\n  owner_id: \"\"\n", NULL, "sync.owner_id: must not be empty (line 2)");
}

static void test_hostport(void **state)
{
	char host[64];
	uint16_t port = 0;

	(void)state;
	assert_int_equal(prism_config_hostport("10.0.0.1:67", host, sizeof(host), &port), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 67);
	assert_int_equal(prism_config_hostport("[2001:db8::1]:65535", host, sizeof(host), &port),
			 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 65535);
	assert_int_equal(prism_config_hostport("[::1]:65536", host, sizeof(host), &port),
			 PRISM_ECONFIG);
	assert_int_equal(prism_config_hostport("[::1]53", host, sizeof(host), &port),
			 PRISM_ECONFIG);
	assert_int_equal(prism_config_hostport(":53", host, sizeof(host), &port), PRISM_ECONFIG);
	assert_int_equal(prism_config_hostport("1.2.3.4:053", host, sizeof(host), &port),
			 PRISM_ECONFIG);
	assert_int_equal(prism_config_hostport("1.2.3.4:53", host, 4, &port), PRISM_ECONFIG);
	assert_int_equal(prism_config_hostport(NULL, host, sizeof(host), &port), PRISM_EINVAL);
}

/* ---- the option table ---- */

static void test_options_table(void **state)
{
	static const char *const types[] = {"string", "int",  "bool",	 "float",
					    "list",   "enum", "strings", "credentials"};
	size_t n = 0;
	const struct prism_config_opt_info *o = prism_config_options(&n);

	(void)state;
	assert_non_null(o);
	assert_int_equal(n, 91); /* one row per option field of struct prism_config */
	for (size_t i = 0; i < n; i++) {
		char env[128] = "PRISM_";
		size_t k = strlen(env);
		bool type_ok = false;

		assert_non_null(o[i].key);
		assert_non_null(o[i].def);
		assert_non_null(o[i].help);
		assert_true(o[i].help[0] != '\0');
		for (const char *p = o[i].key; *p != '\0' && k + 1 < sizeof(env); p++)
			env[k++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
		env[k] = '\0';
		assert_string_equal(o[i].env, env);
		for (size_t t = 0; t < ARRAY_SIZE(types); t++)
			type_ok |= strcmp(o[i].type, types[t]) == 0;
		assert_true(type_ok);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(o[i].key, o[j].key);
	}
}

/* prism_config_option_same: a change of one option shows in that row only, for each type. */
static void test_option_same(void **state)
{
	static const char *const changes[][2] = {
		{"server.tcp_port", "PRISM_SERVER_TCP_PORT=9090"},
		{"server.host", "PRISM_SERVER_HOST=::1"},
		{"database.path", "PRISM_DATABASE_PATH=/tmp/other.db"},
		{"logging.level", "PRISM_LOGGING_LEVEL=debug"},
		{"powerdns.timeout", "PRISM_POWERDNS_TIMEOUT=7"},
		{"powerdns.auto_ptr", "PRISM_POWERDNS_AUTO_PTR=true"},
		{"powerdns.record_types", "PRISM_POWERDNS_RECORD_TYPES=A"},
		{"auth.tokens", "PRISM_AUTH_TOKENS=agent:secret"},
		{"kea.ncr.ttl_max", "PRISM_KEA_NCR_TTL_MAX=7200"},
	};
	size_t n = 0;
	const struct prism_config_opt_info *o = prism_config_options(&n);
	struct prism_config *a = parse_ok("", NULL), *b = parse_ok("", NULL);

	(void)state;
	for (size_t i = 0; i < n; i++)
		assert_true(prism_config_option_same(a, b, i));
	assert_false(prism_config_option_same(a, NULL, 0));
	assert_false(prism_config_option_same(NULL, b, 0));
	assert_false(prism_config_option_same(a, b, n));
	for (size_t c = 0; c < ARRAY_SIZE(changes); c++) {
		const char *env[] = {changes[c][1], NULL};
		struct prism_config *x = parse_ok("", env);
		bool seen = false;

		for (size_t i = 0; i < n; i++) {
			bool changed = strcmp(o[i].key, changes[c][0]) == 0;

			seen |= changed;
			if (prism_config_option_same(a, x, i) == changed)
				print_error("%s: row %s\n", changes[c][0], o[i].key);
			assert_true(prism_config_option_same(a, x, i) != changed);
			assert_true(prism_config_option_same(x, x, i));
		}
		assert_true(seen);
		prism_config_free(x);
	}
	prism_config_free(a);
	prism_config_free(b);
}

/* The reload column: what a SIGHUP applies, and what it only reports. */
static void test_options_reload(void **state)
{
	static const char *const live[] = {"logging.level",    "auth.tokens",
					   "api.keys",	       "heartbeat.interval",
					   "sync.batch_max",   "powerdns.retry_delay",
					   "powerdns.api_key", "powerdns.api_key_file"};
	static const char *const restart[] = {
		"server.tcp_port",	  "database.path",  "powerdns.api_url",
		"sync.health_interval",	  "kea.ncr.listen", "kea.reservations.password_file",
		"health.response_time_ms"};
	size_t n = 0, found = 0;
	const struct prism_config_opt_info *o = prism_config_options(&n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < ARRAY_SIZE(live); k++)
			if (strcmp(o[i].key, live[k]) == 0) {
				assert_true(o[i].reload);
				found++;
			}
		for (size_t k = 0; k < ARRAY_SIZE(restart); k++)
			if (strcmp(o[i].key, restart[k]) == 0) {
				assert_false(o[i].reload);
				found++;
			}
	}
	assert_int_equal(found, ARRAY_SIZE(live) + ARRAY_SIZE(restart));
}

/* test_options_roundtrip for a key of a nested section ("kea.ncr.enabled"). */
static void test_nested_roundtrip(const struct prism_config_opt_info *o, const char *val)
{
	char yaml[256], envvar[256], msg[128];
	const char *d1 = strchr(o->key, '.'), *d2 = strrchr(o->key, '.');
	const char *env[] = {envvar, NULL};

	if (strstr(o->key, ".zone") != NULL)
		val = "managed.prism.local."; /* must be a managed zone */
	if (strcmp(o->type, "strings") == 0)
		snprintf(yaml, sizeof(yaml), "%.*s:\n  %.*s:\n    %s: [\"%s\"]\n",
			 (int)(d1 - o->key), o->key, (int)(d2 - d1 - 1), d1 + 1, d2 + 1, val);
	else
		snprintf(yaml, sizeof(yaml), "%.*s:\n  %.*s:\n    %s: \"%s\"\n",
			 (int)(d1 - o->key), o->key, (int)(d2 - d1 - 1), d1 + 1, d2 + 1, val);
	prism_config_free(parse_ok(yaml, NULL));
	snprintf(envvar, sizeof(envvar), "%s=%s", o->env, val);
	prism_config_free(parse_ok("", env));
	snprintf(yaml, sizeof(yaml), "%.*s:\n  %.*s:\n    %s_x: 1\n", (int)(d1 - o->key), o->key,
		 (int)(d2 - d1 - 1), d1 + 1, d2 + 1);
	snprintf(msg, sizeof(msg), "unknown key '%s_x' (line 3)", o->key);
	parse_err(yaml, NULL, msg);
}

/*
 * Every row can be set from the file and from the environment with its documented default,
 * and doing so gives the same config as not setting it.
 */
static void test_options_roundtrip(void **state)
{
	size_t n = 0;
	const struct prism_config_opt_info *o = prism_config_options(&n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		char yaml[256], envvar[256];
		const char *dot = strrchr(o[i].key, '.');
		const char *val = o[i].def[0] != '\0' ? o[i].def : "x";
		const char *env[] = {envvar, NULL};
		struct prism_config *c;

		assert_non_null(dot);
		if (strchr(o[i].key, '.') != dot) {
			/* a nested section: kea.ncr.enabled */
			test_nested_roundtrip(&o[i], val);
			continue;
		}
		if (strcmp(o[i].key, "api.keys") == 0 || strncmp(o[i].key, "api.tls_", 8) == 0 ||
		    strcmp(o[i].key, "server.tls_client_crl") == 0 ||
		    strncmp(o[i].key, "database.url", 12) == 0) {
			/* need a role / each other: covered by test_api_keys, test_database */
			continue;
		} else if (strcmp(o[i].type, "credentials") == 0) {
			val = "agent:secret";
			snprintf(yaml, sizeof(yaml), "%.*s:\n  %s: [{name: agent, token: s}]\n",
				 (int)(dot - o[i].key), o[i].key, dot + 1);
		} else if (strcmp(o[i].type, "list") == 0)
			snprintf(yaml, sizeof(yaml), "%.*s:\n  %s: [%s]\n", (int)(dot - o[i].key),
				 o[i].key, dot + 1, val);
		else
			snprintf(yaml, sizeof(yaml), "%.*s:\n  %s: \"%s\"\n",
				 (int)(dot - o[i].key), o[i].key, dot + 1, val);
		c = parse_ok(yaml, NULL);
		prism_config_free(c);
		snprintf(envvar, sizeof(envvar), "%s=%s", o[i].env, val);
		c = parse_ok("", env);
		prism_config_free(c);
		/* and unknown neighbours are rejected with the full key */
		char msg[128];
		snprintf(yaml, sizeof(yaml), "%.*s:\n  %s_x: 1\n", (int)(dot - o[i].key), o[i].key,
			 dot + 1);
		snprintf(msg, sizeof(msg), "unknown key '%s_x' (line 2)", o[i].key);
		parse_err(yaml, NULL, msg);
	}
}

/* Failure must not touch a previously parsed config: parse into new snapshots only. */
static void test_hosts_list(void **state)
{
	static const struct bad bad[] = {
		{"server:\n  host: [\"::\", \"::\"]\n",
		 "server.host: '::' is listed twice (line 2)"},
		{"server:\n  host: []\n", "server.host: must name at least one address (line 2)"},
		{"server:\n  host: example.com\n",
		 "server.host: 'example.com' is not an IPv4 or IPv6 address (line 2)"},
	};
	const char *env[] = {"PRISM_SERVER_HOST=127.0.0.1, ::1", NULL};
	struct prism_config *c;

	(void)state;
	c = parse_ok("server:\n  host: [\"0.0.0.0\", \"::\"]\n", NULL);
	assert_string_equal(c->server_host[0], "0.0.0.0");
	assert_string_equal(c->server_host[1], "::");
	assert_null(c->server_host[2]);
	prism_config_free(c);
	c = parse_ok("server:\n  host: \"::\"\n", env);
	assert_string_equal(c->server_host[0], "127.0.0.1");
	assert_string_equal(c->server_host[1], "::1");
	assert_null(c->server_host[2]);
	prism_config_free(c);
	run_bad(bad, ARRAY_SIZE(bad));
}

static void test_auth(void **state)
{
	static const struct bad bad[] = {
		{"auth:\n  tokens: x\n",
		 "auth.tokens: must be a list of {name, token | token_file} (line 2)"},
		{"auth:\n  tokens:\n    - name: a\n",
		 "auth.tokens: entry 1: give exactly one of token and token_file (line 3)"},
		{"auth:\n  tokens:\n    - {name: a, token: x, token_file: /f}\n",
		 "auth.tokens: entry 1: give exactly one of token and token_file (line 3)"},
		{"auth:\n  tokens:\n    - {token: x}\n",
		 "auth.tokens: entry 1: name is required (line 3)"},
		{"auth:\n  tokens:\n    - {name: a, token: x}\n    - {name: a, token: y}\n",
		 "auth.tokens: entry 2: name 'a' is used twice (line 4)"},
		{"auth:\n  tokens:\n    - {name: a, tokn: x}\n",
		 "auth.tokens: unknown key 'tokn' (line 3)"},
		{"auth:\n  tokens:\n    - {name: a, token: \"\"}\n",
		 "auth.tokens: 'token' must be a non-empty string (line 3)"},
		{"auth:\n  required: maybe\n", "auth.required: must be true or false (line 2)"},
	};
	const char *env[] = {"PRISM_AUTH_TOKENS=e1:s1,e2:s2", "PRISM_AUTH_REQUIRED=0", NULL};
	const char *bad_env[] = {"PRISM_AUTH_TOKENS=nocolon", NULL};
	struct prism_config *c;

	(void)state;
	c = parse_ok("", NULL);
	assert_true(c->auth_required); /* secure by default */
	assert_null(c->auth_tokens);
	prism_config_free(c);
	c = parse_ok("auth:\n  required: false\n  reserved_names: [Gateway, www]\n"
		     "  tokens:\n    - name: rack1\n      token: s3cret\n"
		     "    - {name: rack2, token_file: /etc/prism/rack2}\n",
		     NULL);
	assert_false(c->auth_required);
	assert_string_equal(c->auth_tokens[0]->name, "rack1");
	assert_string_equal(c->auth_tokens[0]->secret, "s3cret");
	assert_null(c->auth_tokens[0]->secret_file);
	assert_string_equal(c->auth_tokens[1]->secret_file, "/etc/prism/rack2");
	assert_null(c->auth_tokens[2]);
	assert_string_equal(c->auth_reserved_names[0], "gateway");
	assert_string_equal(c->auth_reserved_names[1], "www");
	prism_config_free(c);
	c = parse_ok("auth:\n  tokens: [{name: f, token: t}]\n", env);
	assert_false(c->auth_required);
	assert_string_equal(c->auth_tokens[0]->name, "e1");
	assert_string_equal(c->auth_tokens[1]->secret, "s2");
	assert_null(c->auth_tokens[2]);
	prism_config_free(c);
	parse_err("", bad_env, "PRISM_AUTH_TOKENS: entry 1: must be name:token (environment)");
	run_bad(bad, ARRAY_SIZE(bad));
}

static void test_api_keys(void **state)
{
	static const struct bad bad[] = {
		{"api:\n  keys:\n    - {name: a, key: k}\n",
		 "api.keys: entry 1: role is required (line 3)"},
		{"api:\n  keys:\n    - {name: a, key: k, role: root}\n",
		 "api.keys: role must be one of read, write, admin (line 3)"},
		{"api:\n  tls_cert: /c.pem\n",
		 "api.tls_cert: api.tls_cert and api.tls_key go together (line 2)"},
	};
	struct prism_config *c;

	(void)state;
	c = parse_ok("", NULL);
	assert_true(c->api_public_health);
	assert_false(c->api_public_metrics);
	assert_int_equal(c->api_max_body, 1048576);
	prism_config_free(c);
	c = parse_ok("api:\n  keys:\n    - {name: ops, key: k1, role: ADMIN}\n"
		     "    - {name: dash, key_file: /k, role: read}\n",
		     NULL);
	assert_string_equal(c->api_keys[0]->role, "admin");
	assert_string_equal(c->api_keys[1]->secret_file, "/k");
	assert_null(c->api_keys[2]);
	prism_config_free(c);
	run_bad(bad, ARRAY_SIZE(bad));
}

static void test_targets_and_zones(void **state)
{
	static const struct bad bad[] = {
		{"targets: x\n", "targets: must be a list of mappings (line 1)"},
		{"targets:\n  - {name: a}\n", "targets[1].api_url: required (line 2)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, colour: red}\n",
		 "unknown key 'targets[1].colour' (line 2)"},
		{"targets:\n  - {name: a, api_url: ftp://x, api_key: k}\n",
		 "targets[1].api_url: must start with http:// or https://"},
		{"targets:\n  - {name: a, api_url: http://x}\n",
		 "targets[1]: give exactly one of api_key and api_key_file"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k}\n"
		 "  - {name: a, api_url: http://y, api_key: k}\n",
		 "targets[2].name: 'a' is listed twice"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, zones: [other.test]}\n",
		 "targets[1].zones: 'other.test.' is not one of zones"},
		{"zones:\n  - {name: a.test, ttl: 0}\n",
		 "zones[1].ttl: must be an integer from 1 to 2147483647 (line 2)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, max_body_bytes: 100}\n",
		 "targets[1].max_body_bytes: must be an integer from 65536 to 1073741824 (line "
		 "2)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, dns_address: ns.x:53}\n",
		 "targets[1].dns_address: must be IP:port (192.0.2.1:53, [2001:db8::1]:53)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, dns_address: "
		 "192.0.2.1}\n",
		 "targets[1].dns_address: must be IP:port (192.0.2.1:53, [2001:db8::1]:53)"},
		{"zones:\n  - {name: a.test}\n  - {name: A.TEST.}\n",
		 "zones[2].name: 'a.test.' is listed twice"},
		{"zones: []\n", "zones: must list at least one zone"},
		{"targets:\n  - {name: a, type: bind, api_url: http://x, api_key: k}\n",
		 "targets[1].type: must be powerdns or rfc2136"},
		{"targets:\n  - {name: a, type: rfc2136, tsig: {name: k, secret: AAAA}}\n",
		 "targets[1].server: required, IP:port (192.0.2.53:53, [2001:db8::53]:53)"},
		{"targets:\n  - {name: a, type: rfc2136, server: 127.0.0.1:53}\n",
		 "targets[1].tsig.name: required (updates are signed)"},
		{"targets:\n  - {name: a, type: rfc2136, server: 127.0.0.1:53,\n"
		 "     tsig: {name: k, secret: AAAA, secret_file: /k}}\n",
		 "targets[1].tsig: give exactly one of secret and secret_file"},
		{"targets:\n  - {name: a, type: rfc2136, server: 127.0.0.1:53,\n"
		 "     tsig: {name: k, algorithm: hmac-md5, secret: AAAA}}\n",
		 "targets[1].tsig: algorithm must be one of hmac-sha1, hmac-sha224, hmac-sha256, "
		 "hmac-sha384, hmac-sha512"},
		{"targets:\n  - {name: a, type: rfc2136, server: 127.0.0.1:53,\n"
		 "     tsig: {name: k, secret: 'no base64'}}\n",
		 "targets[1].tsig: secret is not base64"},
		{"targets:\n  - {name: a, type: rfc2136, server: 127.0.0.1:53,\n"
		 "     tsig: {name: k, secret: AAAA, colour: red}}\n",
		 "unknown key 'targets[1].tsig.colour' (line 3)"},
		{"targets:\n  - {name: a, type: rfc2136, server: 127.0.0.1:53, api_key: x,\n"
		 "     tsig: {name: k, secret: AAAA}}\n",
		 "targets[1]: api_url, api_key, api_key_file and server_id are for type: "
		 "powerdns"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, server: 127.0.0.1:53}\n",
		 "targets[1]: server and tsig are for type: rfc2136"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, breaker: 3}\n",
		 "targets[1].breaker: must be a mapping {threshold, recovery_seconds} (line 2)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, breaker: {threshold: "
		 "3}}\n",
		 "targets[1].breaker.recovery_seconds: required (line 2)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k,\n"
		 "     breaker: {threshold: 0, recovery_seconds: 5}}\n",
		 "targets[1].breaker.threshold: must be an integer from 1 to 1000000 (line 3)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k,\n"
		 "     breaker: {threshold: 2, recovery: 5}}\n",
		 "unknown key 'targets[1].breaker.recovery' (line 3)"},
		{"targets:\n  - {name: a, api_url: http://x, api_key: k, rate_limit_qps: 0}\n",
		 "targets[1].rate_limit_qps: must be an integer from 1 to 1000000 (line 2)"},
		{"zones:\n  - {name: a.test, kind: Slave}\n", "zones[1].kind: Native or Master"},
		{"zones:\n  - {name: a.test, dnssec: maybe}\n",
		 "zones[1].dnssec: must be true or false (line 2)"},
		{"zones:\n  - {name: a.test}\npowerdns:\n  default_zone: b.test\n",
		 "powerdns.default_zone: is not one of zones (line 4)"},
	};
	struct prism_config *c;

	(void)state;
	/* seed form: one zone, one target "default" from powerdns: */
	c = parse_ok("powerdns:\n  enabled: true\n  api_key: k\n  default_ttl: 77\n"
		     "  rate_limit_qps: 7\n  breaker_threshold: 2\n",
		     NULL);
	assert_int_equal(c->targets[0]->rate_limit_qps, 7);
	assert_int_equal(c->targets[0]->breaker_threshold, 2);
	assert_int_equal(c->targets[0]->breaker_recovery_seconds, 30);
	assert_string_equal(c->zones[0]->name, "managed.prism.local.");
	assert_string_equal(c->zones[0]->nameservers[0], "ns1.managed.prism.local.");
	assert_int_equal(c->zones[0]->ttl, 77);
	assert_null(c->zones[1]);
	assert_string_equal(c->targets[0]->name, "default");
	assert_string_equal(c->targets[0]->api_key, "k");
	assert_string_equal(c->targets[0]->server_id, "localhost");
	assert_null(c->targets[0]->zones);
	assert_null(c->targets[1]);
	prism_config_free(c);
	/* DNS disabled: no target */
	c = parse_ok("", NULL);
	assert_non_null(c->targets);
	assert_null(c->targets[0]);
	prism_config_free(c);
	c = parse_ok(
		"zones:\n  - name: Example.COM\n    nameservers: [ns1.example.com, "
		"ns2.example.com]\n"
		"    ttl: 120\n    kind: MASTER\n    dnssec: true\n  - {name: 10.in-addr.arpa}\n"
		"targets:\n  - {name: pdns1, api_url: http://a/api/v1, api_key: k1}\n"
		"  - name: pdns2\n    api_url: http://b/api/v1\n    api_key_file: /k\n"
		"    zones: [example.com]\n    adopt: yes\n    dns_address: 127.0.0.1:53\n"
		"    rate_limit_qps: 25\n    breaker: {threshold: 4, recovery_seconds: 9}\n",
		NULL);
	assert_string_equal(c->powerdns_default_zone, "example.com.");
	assert_string_equal(c->zones[0]->nameservers[1], "ns2.example.com.");
	assert_int_equal(c->zones[0]->ttl, 120);
	assert_string_equal(c->zones[0]->kind, "Master");
	assert_true(c->zones[0]->dnssec);
	assert_string_equal(c->zones[1]->kind, "Native");
	assert_false(c->zones[1]->dnssec);
	assert_string_equal(c->zones[1]->name, "10.in-addr.arpa.");
	assert_int_equal(c->zones[1]->ttl, 300);
	assert_string_equal(c->targets[1]->zones[0], "example.com.");
	assert_true(c->targets[1]->adopt);
	assert_false(c->targets[0]->adopt);
	assert_string_equal(c->targets[1]->dns_address, "127.0.0.1:53");
	assert_int_equal(c->targets[0]->rate_limit_qps, 0);
	assert_int_equal(c->targets[0]->breaker_threshold, 0);
	assert_int_equal(c->targets[1]->rate_limit_qps, 25);
	assert_int_equal(c->targets[1]->breaker_threshold, 4);
	assert_int_equal(c->targets[1]->breaker_recovery_seconds, 9);
	assert_null(c->targets[2]);
	prism_config_free(c);
	/* an RFC 2136 target: server, TSIG key (algorithm defaults to hmac-sha256) */
	c = parse_ok("targets:\n  - name: bind\n    type: rfc2136\n    server: \"192.0.2.53:53\"\n"
		     "    tsig:\n      name: prism-key\n      secret_file: /etc/prism/bind.key\n"
		     "  - {name: knot, type: rfc2136, server: \"[2001:db8::53]:53\",\n"
		     "     tsig: {name: k2, algorithm: hmac-sha512, secret: AAAA}}\n",
		     NULL);
	assert_string_equal(c->targets[0]->type, "rfc2136");
	assert_string_equal(c->targets[0]->server, "192.0.2.53:53");
	assert_string_equal(c->targets[0]->tsig.name, "prism-key");
	assert_string_equal(c->targets[0]->tsig.algorithm, "hmac-sha256");
	assert_string_equal(c->targets[0]->tsig.secret_file, "/etc/prism/bind.key");
	assert_null(c->targets[0]->api_url);
	assert_string_equal(c->targets[1]->tsig.algorithm, "hmac-sha512");
	assert_string_equal(c->targets[1]->tsig.secret, "AAAA");
	prism_config_free(c);
	run_bad(bad, ARRAY_SIZE(bad));
}

/* The one check of a target's fields: the targets: list and the API's targets both call it. */
static void expect_target_err(const struct prism_config *c, const struct prism_config_target *t,
			      const char *where, const char *msg)
{
	char why[PRISM_TARGET_WHY_MAX];
	memset(why, 'x', sizeof(why));
	assert_int_equal(prism_config_target_check(c, t, where, why, sizeof(why)), PRISM_ECONFIG);
	assert_string_equal(why, msg);
}

static void test_target_check(void **state)
{
	struct prism_config *c =
		parse_ok("zones:\n  - {name: a.test}\n  - {name: b.test}\n", NULL);
	char *zones[] = {"b.test.", NULL}, *other[] = {"a.test.", "other.test.", NULL};
	struct prism_config_target t = {
		.name = "p", .api_url = "HTTPS://pdns/api/v1", .api_key = "k", .zones = zones};
	char why[PRISM_TARGET_WHY_MAX] = "untouched", tiny[12];

	(void)state;
	assert_int_equal(prism_config_target_check(NULL, &t, NULL, why, sizeof(why)),
			 PRISM_EINVAL);
	assert_int_equal(prism_config_target_check(c, NULL, NULL, why, sizeof(why)), PRISM_EINVAL);
	assert_int_equal(prism_config_target_check(c, &t, NULL, NULL, 0), PRISM_EINVAL);
	/* the scheme in any case, as the configuration file always took it */
	assert_int_equal(prism_config_target_check(c, &t, NULL, why, sizeof(why)), 0);
	assert_string_equal(why, "untouched");
	t.api_url = "http://x";
	t.dns_address = "[2001:db8::1]:53";
	assert_int_equal(prism_config_target_check(c, &t, "targets[1]", why, sizeof(why)), 0);
	/* the same texts, with or without the configuration's prefix */
	t.api_url = NULL;
	expect_target_err(c, &t, NULL, "api_url: required");
	t.api_url = "ftp://x/api/v1";
	expect_target_err(c, &t, NULL, "api_url: must start with http:// or https://");
	expect_target_err(c, &t, "targets[3]",
			  "targets[3].api_url: must start with http:// or https://");
	t.api_url = "https://"; /* nothing after the scheme */
	expect_target_err(c, &t, "", "api_url: must start with http:// or https://");
	t.api_url = "http://x";
	t.api_key_file = "/k";
	expect_target_err(c, &t, NULL, "give exactly one of api_key and api_key_file");
	expect_target_err(c, &t, "targets[2]",
			  "targets[2]: give exactly one of api_key and api_key_file");
	t.api_key = NULL;
	t.api_key_file = NULL;
	expect_target_err(c, &t, NULL, "give exactly one of api_key and api_key_file");
	t.api_key_file = "/k";
	t.dns_address = "ns.x:53";
	expect_target_err(c, &t, NULL,
			  "dns_address: must be IP:port (192.0.2.1:53, [2001:db8::1]:53)");
	t.dns_address = NULL;
	t.zones = other;
	expect_target_err(c, &t, NULL, "zones: 'other.test.' is not one of zones");
	expect_target_err(c, &t, "targets[1]",
			  "targets[1].zones: 'other.test.' is not one of zones");
	/* a message cut to the room given, still terminated */
	assert_int_equal(prism_config_target_check(c, &t, NULL, tiny, sizeof(tiny)),
			 PRISM_ECONFIG);
	assert_string_equal(tiny, "zones: 'oth");
	/* rfc2136 targets have no api_url or key; the rest is checked the same */
	struct prism_config_target r = {.name = "r", .type = "rfc2136", .zones = zones};
	assert_int_equal(prism_config_target_check(c, &r, NULL, why, sizeof(why)), 0);
	r.dns_address = "192.0.2.1";
	expect_target_err(c, &r, NULL,
			  "dns_address: must be IP:port (192.0.2.1:53, [2001:db8::1]:53)");
	prism_config_free(c);
}

static void test_atomic(void **state)
{
	static const char *const file_env[] = {"PRISM_POWERDNS_API_KEY_FILE=/k", NULL};
	struct prism_config *good = parse_ok(seed_yaml, NULL);
	struct prism_config *cfg = good;
	char err[128];

	(void)state;
	assert_int_equal(
		prism_config_parse("server:\n  tcp_port: 0\n", 22, NULL, &cfg, err, sizeof(err)),
		PRISM_ECONFIG);
	assert_null(cfg);
	/* errors late in the pipeline free everything built before them */
	assert_int_equal(
		prism_config_parse(seed_yaml, strlen(seed_yaml), file_env, &cfg, err, sizeof(err)),
		PRISM_ECONFIG);
	assert_null(cfg);
	assert_string_equal(err, "PRISM_POWERDNS_API_KEY_FILE: cannot be combined with "
				 "powerdns.api_key (environment)");
	assert_string_equal(good->powerdns_api_key, "changeme");
	prism_config_free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_extended),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_shape_errors),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_yaml_syntax),
		cmocka_unit_test(test_int_errors),
		cmocka_unit_test(test_int_bounds),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_float),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_env_bool_and_list),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_validation),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_database),
		cmocka_unit_test(test_kea),
		cmocka_unit_test(test_owner_id),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_options_table),
		cmocka_unit_test(test_option_same),
		cmocka_unit_test(test_options_reload),
		cmocka_unit_test(test_options_roundtrip),
		cmocka_unit_test(test_hosts_list),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_api_keys),
		cmocka_unit_test(test_targets_and_zones),
		cmocka_unit_test(test_target_check),
		cmocka_unit_test(test_atomic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
