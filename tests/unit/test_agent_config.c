/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for src/core/agent_config.c: the `prism agent` YAML (the reference client's keys),
 * the environment, the hostname sanitiser and the fallback name. The core library is built
 * without UNIT_TESTING, so its allocations are checked by the address-sanitizer build; buffers
 * the tests allocate themselves use test_malloc.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/agent_config.h"
#include "core/agent_msg.h"
#include "core/dname.h"
#include "core/error.h"

/* The reference client's own example file, comments and all. */
static const char reference_yaml[] = "# Prism host client configuration\n"
				     "server:\n"
				     "  host: \"dns.example.net\"   # Prism server\n"
				     "  port: 8080\n"
				     "  timeout: 10\n"
				     "  auth_token: \"tok-0123456789abcdef\"\n"
				     "heartbeat:\n"
				     "  interval: 60  # seconds\n"
				     "logging:\n"
				     "  level: INFO\n"
				     "  file: \"client.log\"\n";

/* ---- helpers ---- */

static struct prism_agent_config *parse_ok(const char *yaml, const char *const *envp)
{
	struct prism_agent_config *cfg = NULL;
	char err[256] = "not cleared";
	int rc = prism_agent_config_parse(yaml, strlen(yaml), envp, &cfg, err, sizeof(err));

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
	struct prism_agent_config sentinel;
	struct prism_agent_config *cfg = &sentinel;
	char err[256];
	int rc;

	memset(err, 'x', sizeof(err));
	rc = prism_agent_config_parse(yaml, strlen(yaml), envp, &cfg, err, sizeof(err));
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
	struct prism_agent_config *cfg = NULL;
	char err[256];
	int rc = prism_agent_config_parse(yaml, strlen(yaml), NULL, &cfg, err, sizeof(err));
	size_t el = strlen(err), sl = strlen(suffix);

	if (rc != PRISM_ECONFIG || strncmp(err, "yaml: ", 6) != 0 || el < sl ||
	    strcmp(err + el - sl, suffix) != 0)
		print_error("yaml:\n%s\nexpected: yaml: ...%s\ngot (%d): %s\n", yaml, suffix, rc,
			    err);
	assert_int_equal(rc, PRISM_ECONFIG);
	assert_null(cfg);
	assert_true(el >= sl && strcmp(err + el - sl, suffix) == 0);
}

static void sanitized(const char *in, const char *want)
{
	char out[PRISM_HOSTNAME_MAX + 1];
	int rc = prism_hostname_sanitize(in, out, sizeof(out));

	if (rc != 0 || strcmp(out, want) != 0)
		print_error("sanitize '%s': expected '%s', got %d '%s'\n", in, want, rc, out);
	assert_int_equal(rc, 0);
	assert_string_equal(out, want);
	assert_int_equal(prism_hostname_check(out, strlen(out), NULL, 0), 0);
}

static void nothing_left(const char *in)
{
	char out[PRISM_HOSTNAME_MAX + 1];

	memset(out, 'x', sizeof(out));
	assert_int_equal(prism_hostname_sanitize(in, out, sizeof(out)), PRISM_EMSG);
	assert_string_equal(out, "");
}

/* ---- arguments ---- */

static void test_null_args(void **state)
{
	struct prism_agent_config *cfg = NULL;
	char err[64], out[32];

	(void)state;
	assert_int_equal(prism_agent_config_parse("", 0, NULL, NULL, err, sizeof(err)),
			 PRISM_EINVAL);
	assert_string_equal(err, "invalid argument");
	assert_int_equal(prism_agent_config_parse(NULL, 3, NULL, &cfg, err, sizeof(err)),
			 PRISM_EINVAL);
	assert_null(cfg);
	/* NULL text with length 0 is "no file"; err may be NULL */
	assert_int_equal(prism_agent_config_parse(NULL, 0, NULL, &cfg, NULL, 0), 0);
	assert_non_null(cfg);
	prism_agent_config_free(cfg);
	cfg = NULL;
	assert_int_equal(prism_agent_config_parse("server: 1", 9, NULL, &cfg, NULL, 0),
			 PRISM_ECONFIG);
	assert_null(cfg);
	prism_agent_config_free(NULL);

	assert_int_equal(prism_hostname_sanitize(NULL, out, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_hostname_sanitize("a", NULL, sizeof(out)), PRISM_EINVAL);
	assert_int_equal(prism_hostname_sanitize("a", out, 0), PRISM_EINVAL);
	assert_int_equal(prism_agent_fallback_name(NULL, NULL, 32), PRISM_EINVAL);
	assert_int_equal(prism_agent_log_level_parse(NULL), PRISM_EINVAL);
}

static void test_small_err_buffer(void **state)
{
	struct prism_agent_config *cfg = NULL;
	char err[8];

	(void)state;
	memset(err, 'x', sizeof(err));
	assert_int_equal(prism_agent_config_parse("server:\n  foo: 1\n", 17, NULL, &cfg, err, 8),
			 PRISM_ECONFIG);
	assert_null(cfg);
	assert_string_equal(err, "unknown");
	memset(err, 'x', sizeof(err));
	assert_int_equal(prism_agent_config_parse("server:\n  foo: 1\n", 17, NULL, &cfg, err, 1),
			 PRISM_ECONFIG);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'x');
}

/* The text need not be NUL-terminated: only @p len bytes are read. */
static void test_not_nul_terminated(void **state)
{
	static const char text[] = "server:\n  port: 9000";
	char *buf = test_malloc(sizeof(text) - 1);
	struct prism_agent_config *cfg = NULL;
	char err[128];

	(void)state;
	memcpy(buf, text, sizeof(text) - 1);
	assert_int_equal(
		prism_agent_config_parse(buf, sizeof(text) - 1, NULL, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->server_port, 9000);
	prism_agent_config_free(cfg);
	assert_int_equal(
		prism_agent_config_parse(buf, sizeof(text) - 3, NULL, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->server_port, 90);
	prism_agent_config_free(cfg);
	test_free(buf);
}

/* ---- values ---- */

static void test_defaults(void **state)
{
	struct prism_agent_config *c;

	(void)state;
	c = parse_ok("", NULL);
	assert_null(c->server_host);
	assert_int_equal(c->server_port, 8080);
	assert_true(c->server_timeout == 10.0);
	assert_null(c->server_auth_token);
	assert_null(c->server_auth_token_file);
	assert_int_equal(c->heartbeat_interval, 60);
	assert_int_equal(c->logging_level, PRISM_AGENT_LOG_INFO);
	assert_null(c->logging_file);
	prism_agent_config_free(c);
	/* empty sections and a null document keep every default */
	c = parse_ok("server:\nheartbeat: ~\nlogging:\n", NULL);
	assert_int_equal(c->server_port, 8080);
	prism_agent_config_free(c);
	c = parse_ok("# only a comment\n", NULL);
	assert_int_equal(c->heartbeat_interval, 60);
	prism_agent_config_free(c);
}

static void test_reference_file(void **state)
{
	struct prism_agent_config *c;

	(void)state;
	c = parse_ok(reference_yaml, NULL);
	assert_string_equal(c->server_host, "dns.example.net");
	assert_int_equal(c->server_port, 8080);
	assert_true(c->server_timeout == 10.0);
	assert_string_equal(c->server_auth_token, "tok-0123456789abcdef");
	assert_null(c->server_auth_token_file);
	assert_int_equal(c->heartbeat_interval, 60);
	assert_int_equal(c->logging_level, PRISM_AGENT_LOG_INFO);
	assert_string_equal(c->logging_file, "client.log");
	prism_agent_config_free(c);
}

static void test_values(void **state)
{
	struct prism_agent_config *c;

	(void)state;
	c = parse_ok("server:\n  host: 192.0.2.1\n  port: \"65535\"\n  timeout: 2.5\n"
		     "  auth_token_file: /etc/prism/token\n"
		     "heartbeat: {interval: 86400}\nlogging: {level: Warn, file: ''}\n",
		     NULL);
	assert_string_equal(c->server_host, "192.0.2.1");
	assert_int_equal(c->server_port, 65535);
	assert_true(c->server_timeout == 2.5);
	assert_null(c->server_auth_token);
	assert_string_equal(c->server_auth_token_file, "/etc/prism/token");
	assert_int_equal(c->heartbeat_interval, 86400);
	assert_int_equal(c->logging_level, PRISM_AGENT_LOG_WARNING);
	assert_null(c->logging_file); /* empty = standard error */
	prism_agent_config_free(c);
	/* IPv6 with and without brackets; an empty token is no token */
	c = parse_ok("server:\n  host: \"[2001:db8::1]\"\n  auth_token: \"\"\n", NULL);
	assert_string_equal(c->server_host, "2001:db8::1");
	assert_null(c->server_auth_token);
	prism_agent_config_free(c);
	c = parse_ok("server:\n  host: \"::1\"\n  timeout: 0.1\nheartbeat:\n  interval: 1\n",
		     NULL);
	assert_string_equal(c->server_host, "::1");
	assert_true(c->server_timeout == 0.1);
	assert_int_equal(c->heartbeat_interval, 1);
	prism_agent_config_free(c);
}

static void test_levels(void **state)
{
	static const struct {
		const char *text;
		int level;
	} cases[] = {
		{"debug", PRISM_AGENT_LOG_DEBUG},
		{"DEBUG", PRISM_AGENT_LOG_DEBUG},
		{"Info", PRISM_AGENT_LOG_INFO},
		{"WARNING", PRISM_AGENT_LOG_WARNING},
		{"warn", PRISM_AGENT_LOG_WARNING},
		{"error", PRISM_AGENT_LOG_ERROR},
		{"CRITICAL", PRISM_AGENT_LOG_CRITICAL},
		{"verbose", PRISM_EMSG},
		{"", PRISM_EMSG},
		{"info ", PRISM_EMSG},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(prism_agent_log_level_parse(cases[i].text), cases[i].level);
	assert_string_equal(prism_agent_log_level_name(PRISM_AGENT_LOG_WARNING), "warning");
	assert_string_equal(prism_agent_log_level_name(PRISM_AGENT_LOG_CRITICAL), "critical");
	assert_string_equal(prism_agent_log_level_name((enum prism_agent_log_level)42), "info");
	parse_err("logging:\n  level: verbose\n", NULL,
		  "logging.level: must be one of debug, info, warning, error, critical (line 2)");
}

/* ---- errors ---- */

static void test_unknown_keys(void **state)
{
	(void)state;
	parse_err("server:\n  hots: a\n", NULL, "unknown key 'server.hots' (line 2)");
	parse_err("server:\n  host: a\nclient:\n  x: 1\n", NULL, "unknown key 'client' (line 3)");
	parse_err("heartbeat:\n  check_interval: 5\n", NULL,
		  "unknown key 'heartbeat.check_interval' (line 2)");
	parse_err("logging:\n  max_size: 5\n", NULL, "unknown key 'logging.max_size' (line 2)");
	parse_err("server:\n  tcp_port: 5\n", NULL, "unknown key 'server.tcp_port' (line 2)");
	/* keys are case-sensitive, like the reference client's */
	parse_err("Server:\n  host: a\n", NULL, "unknown key 'Server' (line 1)");
	parse_err("server:\n  \"ho\\tst\": a\n", NULL, "unknown key 'server.ho?st' (line 2)");
}

static void test_shape_errors(void **state)
{
	(void)state;
	parse_err("- a\n- b\n", NULL, "configuration must be a mapping of sections (line 1)");
	parse_err("server: 1\n", NULL, "server: must be a mapping of keys (line 1)");
	parse_err("server:\n  host: [a, b]\n", NULL, "server.host: must be a string (line 2)");
	parse_err("server:\n  port: {a: 1}\n", NULL,
		  "server.port: must be an integer between 1 and 65535 (line 2)");
	parse_err("? [a]\n: 1\n", NULL, "section names must be plain names (line 1)");
	parse_err("server:\n  ? [a]\n  : 1\n", NULL, "server: keys must be plain names (line 2)");
	parse_err("server:\n  host: a\n  host: b\n", NULL, "duplicate key 'server.host' (line 3)");
	parse_err("server:\n  host: a\nserver:\n  port: 1\n", NULL,
		  "duplicate key 'server' (line 3)");
	parse_err_yaml("server:\n  host: \"a\n", "(line 3, column 1)");
	parse_err_yaml("server:\n  host: a\n---\nserver:\n  port: 1\n",
		       "only one document is allowed (line 4)");
	parse_err_yaml("server:\n  host: \xff\n", "(line 2, column 9)");
}

static void test_value_errors(void **state)
{
	(void)state;
	parse_err("server:\n  port: 0\n", NULL,
		  "server.port: must be an integer between 1 and 65535 (line 2)");
	parse_err("server:\n  port: 65536\n", NULL,
		  "server.port: must be an integer between 1 and 65535 (line 2)");
	parse_err("server:\n  port: -1\n", NULL,
		  "server.port: must be an integer between 1 and 65535 (line 2)");
	parse_err("server:\n  port: 08080\n", NULL,
		  "server.port: must be an integer between 1 and 65535 (line 2)");
	parse_err("server:\n  port: 80.0\n", NULL,
		  "server.port: must be an integer between 1 and 65535 (line 2)");
	parse_err("heartbeat:\n  interval: 0\n", NULL,
		  "heartbeat.interval: must be an integer between 1 and 86400 (line 2)");
	parse_err("heartbeat:\n  interval: 86401\n", NULL,
		  "heartbeat.interval: must be an integer between 1 and 86400 (line 2)");
	parse_err("heartbeat:\n  interval: 99999999999999999999999\n", NULL,
		  "heartbeat.interval: must be an integer between 1 and 86400 (line 2)");
	parse_err("server:\n  timeout: 0\n", NULL,
		  "server.timeout: must be a number between 0.1 and 3600 (line 2)");
	parse_err("server:\n  timeout: nan\n", NULL,
		  "server.timeout: must be a number between 0.1 and 3600 (line 2)");
	parse_err("server:\n  timeout: 0x10\n", NULL,
		  "server.timeout: must be a number between 0.1 and 3600 (line 2)");
	parse_err("server:\n  timeout: 3601\n", NULL,
		  "server.timeout: must be a number between 0.1 and 3600 (line 2)");
	parse_err("server:\n  host: \"a\\0b\"\n", NULL,
		  "server.host: must not contain NUL characters (line 2)");
}

static void test_host_errors(void **state)
{
	(void)state;
	parse_err("server:\n  host: \"prism.example.net:8080\"\n", NULL,
		  "server.host: must be a host name or an address without a port (the port "
		  "goes in server.port) (line 2)");
	parse_err("server:\n  host: \"[prism.example.net]\"\n", NULL,
		  "server.host: brackets are only for IPv6 addresses (line 2)");
	parse_err("server:\n  host: \"a b\"\n", NULL,
		  "server.host: must be a host name or an address (line 2)");
	parse_err("server:\n  host: \"http://x\"\n", NULL,
		  "server.host: must be a host name or an address (line 2)");
}

static void test_token(void **state)
{
	static const char *const env_token[] = {"PRISM_AUTH_TOKEN=from-env", NULL};
	static const char *const env_empty[] = {"PRISM_AUTH_TOKEN=", NULL};
	char yaml[700], big[PRISM_TOKEN_MAX + 2];
	struct prism_agent_config *c;

	(void)state;
	parse_err("server:\n  auth_token: a\n  auth_token_file: /f\n", NULL,
		  "server.auth_token_file: cannot be combined with server.auth_token (line 3)");
	/* PRISM_AUTH_TOKEN is the last fallback: the file's token or token file wins */
	c = parse_ok("", env_token);
	assert_string_equal(c->server_auth_token, "from-env");
	prism_agent_config_free(c);
	c = parse_ok("server:\n  auth_token: from-file\n", env_token);
	assert_string_equal(c->server_auth_token, "from-file");
	prism_agent_config_free(c);
	c = parse_ok("server:\n  auth_token_file: /t\n", env_token);
	assert_null(c->server_auth_token);
	assert_string_equal(c->server_auth_token_file, "/t");
	prism_agent_config_free(c);
	c = parse_ok("", env_empty);
	assert_null(c->server_auth_token);
	prism_agent_config_free(c);
	/* length limit: the server never accepts longer tokens */
	memset(big, 'a', sizeof(big) - 1);
	big[PRISM_TOKEN_MAX] = '\0';
	snprintf(yaml, sizeof(yaml), "server:\n  auth_token: %s\n", big);
	c = parse_ok(yaml, NULL);
	assert_int_equal(strlen(c->server_auth_token), PRISM_TOKEN_MAX);
	prism_agent_config_free(c);
	big[PRISM_TOKEN_MAX] = 'a';
	big[PRISM_TOKEN_MAX + 1] = '\0';
	snprintf(yaml, sizeof(yaml), "server:\n  auth_token: %s\n", big);
	parse_err(yaml, NULL, "server.auth_token: longer than 512 characters (line 2)");
	{
		char env[PRISM_TOKEN_MAX + 40];
		const char *envp[] = {env, NULL};
		snprintf(env, sizeof(env), "PRISM_AUTH_TOKEN=%s", big);
		parse_err("", envp, "PRISM_AUTH_TOKEN: longer than 512 characters (environment)");
	}
}

static void test_tls(void **state)
{
	static const char *const env[] = {"PRISM_AGENT_SERVER_TLS=1",
					  "PRISM_AGENT_SERVER_CA_FILE=/e/ca.pem", NULL};
	struct prism_agent_config *c;

	(void)state;
	c = parse_ok("", NULL);
	assert_false(c->server_tls);
	assert_null(c->server_ca_file);
	assert_null(c->server_cert_file);
	prism_agent_config_free(c);
	c = parse_ok("server:\n  tls: yes\n  ca_file: /etc/prism/ca.pem\n"
		     "  cert_file: /etc/prism/agent.pem\n  key_file: /etc/prism/agent.key\n",
		     NULL);
	assert_true(c->server_tls);
	assert_string_equal(c->server_ca_file, "/etc/prism/ca.pem");
	assert_string_equal(c->server_cert_file, "/etc/prism/agent.pem");
	assert_string_equal(c->server_key_file, "/etc/prism/agent.key");
	prism_agent_config_free(c);
	c = parse_ok("", env);
	assert_true(c->server_tls);
	assert_string_equal(c->server_ca_file, "/e/ca.pem");
	prism_agent_config_free(c);
	parse_err("server:\n  cert_file: /c.pem\n", NULL,
		  "server.key_file: server.cert_file and server.key_file go together");
	parse_err("server:\n  key_file: /k.pem\n", NULL,
		  "server.cert_file: server.cert_file and server.key_file go together");
	parse_err("server:\n  tls: maybe\n", NULL, "server.tls: must be true or false (line 2)");
}

static void test_env_overrides(void **state)
{
	static const char *const envp[] = {
		"PRISM_AGENT_SERVER_HOST=[::1]",
		"PRISM_AGENT_SERVER_PORT=9000",
		"PRISM_AGENT_SERVER_TIMEOUT=3",
		"PRISM_AGENT_HEARTBEAT_INTERVAL=5",
		"PRISM_AGENT_LOGGING_LEVEL=DEBUG",
		"PRISM_AGENT_LOGGING_FILE=/var/log/agent.log",
		"PRISM_AGENT_SERVER_AUTH_TOKEN=env-tok",
		"PRISM_AUTH_TOKEN=ignored",
		"PRISM_SERVER_HOST=prismd-only",
		"NOEQUALS",
		NULL,
	};
	static const char *const bad[] = {"PRISM_AGENT_SERVER_PORT=http", NULL};
	static const char *const bad_host[] = {"PRISM_AGENT_SERVER_HOST=a:1", NULL};
	static const char *const unset_file[] = {"PRISM_AGENT_LOGGING_FILE=", NULL};
	struct prism_agent_config *c;

	(void)state;
	c = parse_ok(reference_yaml, envp);
	assert_string_equal(c->server_host, "::1");
	assert_int_equal(c->server_port, 9000);
	assert_true(c->server_timeout == 3.0);
	assert_int_equal(c->heartbeat_interval, 5);
	assert_int_equal(c->logging_level, PRISM_AGENT_LOG_DEBUG);
	assert_string_equal(c->logging_file, "/var/log/agent.log");
	assert_string_equal(c->server_auth_token, "env-tok");
	prism_agent_config_free(c);
	c = parse_ok(reference_yaml, unset_file);
	assert_null(c->logging_file);
	prism_agent_config_free(c);
	parse_err(reference_yaml, bad,
		  "PRISM_AGENT_SERVER_PORT: must be an integer between 1 and 65535 (environment)");
	parse_err("", bad_host,
		  "PRISM_AGENT_SERVER_HOST: must be a host name or an address without a port "
		  "(the port goes in server.port) (environment)");
}

/* ---- hostname sanitiser ---- */

static void test_sanitize(void **state)
{
	(void)state;
	sanitized("web1", "web1");
	sanitized("My_Host!", "my-host");
	sanitized("WEB-01.Example.COM", "web-01.example.com");
	sanitized("  spaced name  ", "spacedname");
	sanitized("caf\xc3\xa9-bar", "caf-bar");
	sanitized("a..b...c", "a.b.c");
	sanitized(".leading.and.trailing.", "leading.and.trailing");
	sanitized("-dash-.-x-", "dash.x");
	sanitized("_under_score_", "under-score");
	sanitized("a.-.b", "a.b");
	sanitized("host.local\n", "host.local");
	sanitized("123", "123");
	nothing_left("");
	nothing_left("...");
	nothing_left("___");
	nothing_left("!@#$%^&*()");
	nothing_left("\xc3\xa9\xc3\xa8");
	nothing_left("-.-.-");
}

static void test_sanitize_lengths(void **state)
{
	char in[600], want[300], out[PRISM_HOSTNAME_MAX + 1];

	(void)state;
	/* a 70-character label is cut to 63, then a trailing '-' at the cut is trimmed */
	memset(in, 'a', 70);
	in[70] = '\0';
	memset(want, 'a', 63);
	want[63] = '\0';
	sanitized(in, want);
	memset(in, 'b', 62);
	in[62] = '-';
	memset(in + 63, 'c', 5);
	in[68] = '\0';
	memset(want, 'b', 62);
	want[62] = '\0';
	sanitized(in, want);
	/* five 63-character labels: four fit (4 * 64 - 1 = 255 > 253), so three are kept */
	for (int i = 0; i < 5; i++) {
		memset(in + i * 64, (char)('a' + i), 63);
		in[i * 64 + 63] = '.';
	}
	in[5 * 64 - 1] = '\0';
	assert_int_equal(prism_hostname_sanitize(in, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 3 * 64 - 1);
	assert_int_equal(out[0], 'a');
	assert_int_equal(out[strlen(out) - 1], 'c');
	assert_int_equal(prism_hostname_check(out, strlen(out), NULL, 0), 0);
	/* a short label after the one that did not fit is not used either: names stay prefixes */
	memcpy(in + 5 * 64 - 1, ".z", 3);
	assert_int_equal(prism_hostname_sanitize(in, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 3 * 64 - 1);
	/* output buffer too small */
	memset(out, 'x', sizeof(out));
	assert_int_equal(prism_hostname_sanitize("web1", out, 4), PRISM_ETOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(prism_hostname_sanitize("web1", out, 5), 0);
	assert_string_equal(out, "web1");
}

static void test_sanitize_idempotent(void **state)
{
	static const char *const inputs[] = {
		"My_Host!", "a..b", "-x-.y_", "Ünïcödé.host", "x.y.z", "ok",
	};
	char once[PRISM_HOSTNAME_MAX + 1], twice[PRISM_HOSTNAME_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		assert_int_equal(prism_hostname_sanitize(inputs[i], once, sizeof(once)), 0);
		assert_int_equal(prism_hostname_sanitize(once, twice, sizeof(twice)), 0);
		assert_string_equal(once, twice);
	}
}

static void test_fallback_name(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(
		prism_agent_fallback_name("0123456789ABCDEF0123456789abcdef\n", out, sizeof(out)),
		0);
	assert_string_equal(out, "host-0123456789ab");
	assert_int_equal(
		prism_agent_fallback_name("0123456789abcdef0123456789abcdef", out, sizeof(out)),
		0);
	assert_string_equal(out, "host-0123456789ab");
	assert_int_equal(prism_hostname_check(out, strlen(out), NULL, 0), 0);
	/* not a machine id: too short, too long, not hex, uninitialized */
	static const char *const bad[] = {
		NULL,
		"",
		"0123456789abcdef",
		"0123456789abcdef0123456789abcdef0",
		"0123456789abcdef0123456789abcdeg",
		"uninitialized\n",
		"0123456789abcdef0123456789abcdef\n\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(prism_agent_fallback_name(bad[i], out, sizeof(out)), 0);
		assert_string_equal(out, "prism-agent");
	}
	assert_int_equal(prism_agent_fallback_name(NULL, out, 12), 0);
	assert_int_equal(prism_agent_fallback_name(NULL, out, 11), PRISM_ETOOBIG);
	assert_int_equal(prism_agent_fallback_name("0123456789abcdef0123456789abcdef", out, 17),
			 PRISM_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_null_args),
		cmocka_unit_test(test_small_err_buffer),
		cmocka_unit_test(test_not_nul_terminated),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_reference_file),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_shape_errors),
		cmocka_unit_test(test_value_errors),
		cmocka_unit_test(test_host_errors),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_env_overrides),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_sanitize_lengths),
		cmocka_unit_test(test_sanitize_idempotent),
		cmocka_unit_test(test_fallback_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
