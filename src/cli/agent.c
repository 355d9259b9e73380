/* SPDX-License-Identifier: MIT */
/*
 * prism agent: keeps this machine registered with prismd.
 *
 * One libuv loop and one timer. An attempt resolves the server (uv_getaddrinfo: IPv4 and
 * IPv6), tries each address in turn with a connect deadline, sends one registration frame,
 * reads exactly one response frame within the timeout and closes: one connection per
 * heartbeat, like the reference client, so there is no connection state to get wrong. The
 * first attempt runs at start; the next one is due `interval` after the start of the previous
 * one, so heartbeats do not drift. An unreachable server is retried with exponential backoff
 * and jitter (1 s doubling, capped at min(interval, 60 s)). Answers that retrying cannot fix
 * (token refused, hostname owned by another client, message refused) end the process with a
 * status of their own, which the systemd unit does not restart for.
 *
 * With TLS (--tls, server.tls) the same exchange runs inside a TLS session over memory BIOs
 * (sources/agent_tls.c, shared with prismd): the server's certificate is verified against
 * --ca (or the system's CAs) and must name the server host; --cert/--key present a client
 * certificate. A TLS failure counts as no answer (retried), with OpenSSL's reason logged.
 *
 * Lifetimes: the agent and its timers, signals and getaddrinfo request live in prism_agent_main's
 * frame until uv_run returns. Each TCP connection is a heap `struct conn` that libuv owns until
 * its close callback frees it; when the agent lets go of one (deadline, error, stop) it clears
 * conn->a first, so callbacks still delivered for it (UV_ECANCELED) do nothing.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "cli/agent.h"
#include "common/log.h"
#include "core/agent_config.h"
#include "core/agent_msg.h"
#include "core/dname.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/timefmt.h"
#include "sources/agent_tls.h"

extern char **environ;

#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS	 60000u
#define CONFIG_MAX	 (1u << 20)

/* ---- logging: "2026-01-01T12:00:00.123Z level agent: text" (common/log.h, as prismd's) ---- */

_Static_assert((int)PRISM_AGENT_LOG_DEBUG == (int)PRISM_LOG_DEBUG &&
		       (int)PRISM_AGENT_LOG_CRITICAL == (int)PRISM_LOG_CRITICAL,
	       "the agent's log levels are the log's");

#define alog(level, ...) prism_log((enum prism_log_level)(level), "agent", __VA_ARGS__)

/* ---- sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET ---- */

__attribute__((format(printf, 1, 2))) static void notify(const char *fmt, ...)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char msg[512];
	va_list ap;
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* best effort: systemd then just sees no status */
	(void)sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}

/* ---- settings: config file, then flags ---- */

struct settings {
	char host[256]; /* no brackets */
	char port[8];
	char server[272]; /* "host:port" / "[v6]:port" for messages */
	char hostname[PRISM_HOSTNAME_MAX + 1];
	char token[PRISM_TOKEN_MAX + 1]; /* "" = none */
	char token_file[4096];		 /* read again on SIGHUP; "" = none */
	uint64_t interval_ms;
	uint64_t timeout_ms;
	bool once;
	bool tls;
	char ca[1024], cert[1024], key[1024]; /* "" = none */
};

struct flags {
	const char *config, *server, *hostname, *token, *token_file, *log_level, *log_file;
	const char *ca, *cert, *key;
	bool tls;
	long interval;	/* 0 = not given */
	double timeout; /* 0 = not given */
	bool once;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: prism agent [options]\n"
		"\n"
		"Registers this machine with prismd at start and every heartbeat interval.\n"
		"\n"
		"  -c, --config FILE       agent YAML (the reference client's keys: server.host,\n"
		"                          server.port, server.timeout, server.auth_token,\n"
		"                          heartbeat.interval, logging.level, logging.file;\n"
		"                          server.tls, server.ca_file, server.cert_file,\n"
		"                          server.key_file)\n"
		"  -s, --server HOST[:PORT] prismd agent address (IPv6 as [::1]:8080)\n"
		"  -n, --hostname NAME     name to register (default: this machine's hostname);\n"
		"                          sanitised like the machine's name\n"
		"  -t, --token TOKEN       auth token (prefer --token-file or $PRISM_AUTH_TOKEN)\n"
		"  -T, --token-file FILE   read the auth token from FILE\n"
		"  -i, --interval SECONDS  heartbeat interval, 1-86400 (default 60)\n"
		"  -w, --timeout SECONDS   deadline to connect and to get an answer (default 10)\n"
		"      --tls               connect with TLS (prismd's server.tls_port)\n"
		"      --ca FILE           CA file that signed prismd's certificate (default:\n"
		"                          the system's CAs); the certificate must name the host\n"
		"      --cert FILE         client certificate (PEM chain) to present\n"
		"      --key FILE          its private key\n"
		"  -1, --once              register once and exit\n"
		"  -l, --log-level LEVEL   debug, info, warning, error or critical\n"
		"                          (default info)\n"
		"  -L, --log-file FILE     append the log to FILE instead of standard error\n"
		"  -h, --help              show this help\n"
		"\n"
		"Flags override the file. Exit status: 0 stopped by a signal (or --once\n"
		"registered), 1 internal error, 2 bad configuration or message refused,\n"
		"3 token missing or refused, 4 hostname owned by another client,\n"
		"5 (--once) server unreachable.\n");
}

/** "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 address. */
static int split_server(const char *s, char *host, size_t hl, char *port, size_t pl)
{
	const char *p = NULL, *colon = strchr(s, ':');
	char *end;
	long v;

	port[0] = '\0';
	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || (rb[1] != '\0' && rb[1] != ':'))
			return -1;
		snprintf(host, hl, "%.*s", (int)(rb - s - 1), s + 1);
		p = rb[1] == ':' ? rb + 2 : NULL;
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		snprintf(host, hl, "%.*s", (int)(colon - s), s);
		p = colon + 1;
	} else {
		snprintf(host, hl, "%s", s); /* no colon, or a bare IPv6 address */
	}
	if (host[0] == '\0' || strlen(s) >= hl)
		return -1;
	if (p == NULL)
		return 0;
	v = strtol(p, &end, 10);
	if (*p < '0' || *p > '9' || *end != '\0' || v < 1 || v > 65535)
		return -1;
	snprintf(port, pl, "%ld", v);
	return 0;
}

static int parse_flags(int argc, char **argv, struct flags *f)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"server", required_argument, NULL, 's'},
		{"hostname", required_argument, NULL, 'n'},
		{"token", required_argument, NULL, 't'},
		{"token-file", required_argument, NULL, 'T'},
		{"interval", required_argument, NULL, 'i'},
		{"timeout", required_argument, NULL, 'w'},
		{"once", no_argument, NULL, '1'},
		{"log-level", required_argument, NULL, 'l'},
		{"log-file", required_argument, NULL, 'L'},
		{"tls", no_argument, NULL, 1000},
		{"ca", required_argument, NULL, 1001},
		{"cert", required_argument, NULL, 1002},
		{"key", required_argument, NULL, 1003},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "c:s:n:t:T:i:w:1l:L:h", opts, NULL)) != -1) {
		switch (c) {
		case 1000: f->tls = true; break;
		case 1001: f->ca = optarg; break;
		case 1002: f->cert = optarg; break;
		case 1003: f->key = optarg; break;
		case 'c': f->config = optarg; break;
		case 's': f->server = optarg; break;
		case 'n': f->hostname = optarg; break;
		case 't': f->token = optarg; break;
		case 'T': f->token_file = optarg; break;
		case '1': f->once = true; break;
		case 'l': f->log_level = optarg; break;
		case 'L': f->log_file = optarg; break;
		case 'i':
			f->interval = strtol(optarg, &end, 10);
			if (*end != '\0' || f->interval < 1 || f->interval > 86400) {
				fprintf(stderr,
					"prism agent: --interval must be 1-86400 seconds\n");
				return -1;
			}
			break;
		case 'w':
			f->timeout = strtod(optarg, &end);
			if (*end != '\0' || !(f->timeout >= 0.1 && f->timeout <= 3600)) {
				fprintf(stderr,
					"prism agent: --timeout must be 0.1-3600 seconds\n");
				return -1;
			}
			break;
		case 'h': usage(stdout); return 1;
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "prism agent: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (f->token != NULL && f->token_file != NULL) {
		fprintf(stderr, "prism agent: use --token or --token-file, not both\n");
		return -1;
	}
	if (f->log_level != NULL && prism_agent_log_level_parse(f->log_level) < 0) {
		fprintf(stderr, "prism agent: --log-level must be debug, info, warning, error or "
				"critical\n");
		return -1;
	}
	return 0;
}

/** Read a whole small file into a new NUL-terminated buffer. 0 or -errno (-EFBIG). */
static int read_file(const char *path, size_t max, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t n;
	int err;

	if (f == NULL)
		return -errno;
	buf = malloc(max + 2);
	if (buf == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, max + 1, f);
	err = ferror(f) ? -EIO : 0;
	fclose(f);
	if (err == 0 && n > max)
		err = -EFBIG;
	if (err != 0) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/** The token from a file: one line, surrounding white space removed. */
static int load_token_file(const char *path, char *token, size_t tl)
{
	char *buf;
	size_t n, a = 0;
	int rc = read_file(path, 4096, &buf, &n);

	if (rc != 0) {
		fprintf(stderr, "prism agent: cannot read the token file %s (%s)\n", path,
			rc == -EFBIG ? "too large" : strerror(-rc));
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
			 buf[n - 1] == '\t'))
		n--;
	while (a < n && (buf[a] == ' ' || buf[a] == '\t'))
		a++;
	rc = 0;
	if (n == a || n - a > PRISM_TOKEN_MAX || memchr(buf + a, '\0', n - a) != NULL ||
	    memchr(buf + a, '\n', n - a) != NULL) {
		fprintf(stderr,
			"prism agent: the token file %s must hold one token of 1-%u "
			"characters\n",
			path, PRISM_TOKEN_MAX);
		rc = -1;
	} else {
		snprintf(token, tl, "%.*s", (int)(n - a), buf + a);
	}
	free(buf);
	return rc;
}

static void open_log(enum prism_agent_log_level level, const char *path)
{
	int rc = prism_log_init((enum prism_log_level)level, NULL);

	if (rc == 0 && path != NULL && path[0] != '\0')
		rc = prism_log_init((enum prism_log_level)level, path);
	if (rc != 0) {
		/* keep running: under systemd standard error still reaches the journal */
		alog(PRISM_AGENT_LOG_WARNING,
		     "cannot open log file %s (%s); logging to standard "
		     "error",
		     path, strerror(-rc));
	}
}

/** The name to register: --hostname or this machine's name, sanitised; else the fallback. */
static int pick_hostname(const char *flag, char *out, size_t outlen)
{
	char raw[256], mid[64];
	FILE *f;

	if (flag != NULL) {
		if (prism_hostname_sanitize(flag, out, outlen) != 0) {
			fprintf(stderr,
				"prism agent: --hostname '%s' has no valid hostname "
				"characters\n",
				flag);
			return -1;
		}
		if (strcmp(flag, out) != 0)
			alog(PRISM_AGENT_LOG_INFO, "hostname '%s' sanitised to '%s'", flag, out);
		return 0;
	}
	if (gethostname(raw, sizeof(raw)) == 0) {
		raw[sizeof(raw) - 1] = '\0';
		if (prism_hostname_sanitize(raw, out, outlen) == 0) {
			if (strcmp(raw, out) != 0)
				alog(PRISM_AGENT_LOG_INFO, "machine name '%s' sanitised to '%s'",
				     raw, out);
			return 0;
		}
	} else {
		snprintf(raw, sizeof(raw), "(unreadable: %s)", strerror(errno));
	}
	mid[0] = '\0';
	f = fopen("/etc/machine-id", "r");
	if (f != NULL) {
		if (fgets(mid, sizeof(mid), f) == NULL)
			mid[0] = '\0';
		fclose(f);
	}
	prism_agent_fallback_name(mid, out, outlen);
	alog(PRISM_AGENT_LOG_WARNING,
	     "machine name '%s' has no valid hostname characters; "
	     "registering as '%s' (use --hostname to choose)",
	     raw, out);
	return 0;
}

/** Merge the config and the flags into @p s. 0, or an exit status. */
static int build_settings(const struct prism_agent_config *cfg, const struct flags *f,
			  struct settings *s)
{
	const char *host = cfg->server_host;
	char fhost[256], fport[8] = "";

	if (f->server != NULL) {
		if (split_server(f->server, fhost, sizeof(fhost), fport, sizeof(fport)) != 0) {
			fprintf(stderr,
				"prism agent: --server must be HOST, HOST:PORT or "
				"[IPv6]:PORT, not '%s'\n",
				f->server);
			return PRISM_AGENT_EXIT_CONFIG;
		}
		host = fhost;
	}
	if (host == NULL) {
		fprintf(stderr, "prism agent: no server: set server.host in the config file or "
				"use --server HOST:PORT\n");
		return PRISM_AGENT_EXIT_CONFIG;
	}
	snprintf(s->host, sizeof(s->host), "%s", host);
	if (fport[0] != '\0')
		snprintf(s->port, sizeof(s->port), "%s", fport);
	else
		snprintf(s->port, sizeof(s->port), "%u", (unsigned)cfg->server_port);
	snprintf(s->server, sizeof(s->server), strchr(s->host, ':') ? "[%s]:%s" : "%s:%s", s->host,
		 s->port);
	s->interval_ms = 1000u * (uint64_t)(f->interval ? (unsigned long)f->interval
							: cfg->heartbeat_interval);
	s->timeout_ms = (uint64_t)(1000.0 * (f->timeout > 0 ? f->timeout : cfg->server_timeout));
	s->once = f->once;
	s->token[0] = '\0';
	if (f->token != NULL) {
		if (strlen(f->token) > PRISM_TOKEN_MAX) {
			fprintf(stderr, "prism agent: --token is longer than %u characters\n",
				PRISM_TOKEN_MAX);
			return PRISM_AGENT_EXIT_CONFIG;
		}
		snprintf(s->token, sizeof(s->token), "%s", f->token);
	} else if (f->token_file != NULL || cfg->server_auth_token_file != NULL) {
		const char *path = f->token_file ? f->token_file : cfg->server_auth_token_file;
		if (load_token_file(path, s->token, sizeof(s->token)) != 0)
			return PRISM_AGENT_EXIT_CONFIG;
		snprintf(s->token_file, sizeof(s->token_file), "%s", path);
	} else if (cfg->server_auth_token != NULL) {
		snprintf(s->token, sizeof(s->token), "%s", cfg->server_auth_token);
	}
	if (s->token[0] != '\0') {
		json_t *t = json_string(s->token);
		if (t == NULL) {
			fprintf(stderr, "prism agent: the auth token is not valid UTF-8\n");
			return PRISM_AGENT_EXIT_CONFIG;
		}
		json_decref(t);
	}
	const char *ca = f->ca ? f->ca : cfg->server_ca_file;
	const char *cert = f->cert ? f->cert : cfg->server_cert_file;
	const char *key = f->key ? f->key : cfg->server_key_file;
	s->tls = f->tls || cfg->server_tls || f->ca || f->cert;
	snprintf(s->ca, sizeof(s->ca), "%s", ca ? ca : "");
	snprintf(s->cert, sizeof(s->cert), "%s", cert ? cert : "");
	snprintf(s->key, sizeof(s->key), "%s", key ? key : "");
	if ((cert == NULL) != (key == NULL)) {
		fprintf(stderr, "prism agent: --cert and --key go together\n");
		return PRISM_AGENT_EXIT_CONFIG;
	}
	if (pick_hostname(f->hostname, s->hostname, sizeof(s->hostname)) != 0)
		return PRISM_AGENT_EXIT_CONFIG;
	return 0;
}

/* ---- the agent ---- */

enum phase { IDLE, RESOLVING, CONNECTING, EXCHANGING };

enum result {
	RES_OK,		 /* registered */
	RES_UNREACHABLE, /* no answer: retry with backoff */
	RES_AUTH,	 /* fatal: token */
	RES_OWNED,	 /* fatal: name owned by another client */
	RES_REFUSED,	 /* fatal: message refused */
};

struct agent;

/** One TCP connection to one address of the server. */
struct conn {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t write;
	struct prism_frame_reader rd;
	struct prism_tls_conn *tls; /* with --tls */
	bool sent;		    /* the request went into the TLS session */
	struct agent *a;	    /* NULL once the agent has let go of it */
	uint8_t *frame;		    /* the request, owned */
	size_t frame_len;
	char rbuf[4096];
	char addr[64]; /* "[2001:db8::1]:8080" for messages */
};

struct agent {
	uv_loop_t *loop;
	uv_timer_t next;     /* the next attempt */
	uv_timer_t deadline; /* the current step: connect, or send and answer */
	uv_signal_t sigint, sigterm, sighup;
	uv_getaddrinfo_t gai;
	struct settings *s;	     /* the token changes on SIGHUP */
	struct prism_agent_tls *tls; /* client context, with --tls */
	enum phase phase;
	struct addrinfo *ai_list, *ai_next;
	struct conn *conn;
	uint64_t attempt_t0; /* loop time the current attempt started */
	uint64_t backoff_ms; /* the next retry step */
	uint64_t rng;
	unsigned failures; /* consecutive attempts without an answer */
	bool answered;	   /* the server has answered at least once */
	bool stopping;
	int exit_code;
	char why[720];			  /* the last failure, for the log */
	char msg[PRISM_AGENT_ERRMSG_MAX]; /* the server's message */
};

static void attempt_done(struct agent *a, enum result res);
static void try_next(struct agent *a);

static uint64_t rnd(struct agent *a)
{
	/* splitmix64: only for jitter */
	uint64_t z = (a->rng += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *c = h->data;

	prism_frame_reader_deinit(&c->rd);
	prism_tls_conn_free(c->tls);
	free(c->frame);
	free(c);
}

/** Let go of the current connection (if any): close it; its late callbacks do nothing. */
static void drop_conn(struct agent *a)
{
	struct conn *c = a->conn;

	uv_timer_stop(&a->deadline);
	if (c == NULL)
		return;
	a->conn = NULL;
	c->a = NULL;
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

static int build_frame(const struct settings *s, uint8_t **frame, size_t *len)
{
	struct timespec ts;
	char stamp[40];
	json_t *req;
	char *text;
	int rc;

	clock_gettime(CLOCK_REALTIME, &ts);
	rc = prism_time_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, stamp,
			       sizeof(stamp));
	if (rc != 0)
		return rc;
	req = json_pack("{s:s, s:s, s:s, s:s}", "version", "1.0", "type", "registration",
			"timestamp", stamp, "hostname", s->hostname);
	if (req == NULL)
		return PRISM_ENOMEM;
	if (s->token[0] != '\0' &&
	    json_object_set_new(req, "auth_token", json_string(s->token)) != 0) {
		json_decref(req);
		return PRISM_EINVAL; /* not UTF-8 */
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL)
		return PRISM_ENOMEM;
	rc = prism_frame_encode(text, strlen(text), frame, len);
	free(text);
	return rc;
}

static void addr_text(const struct sockaddr *sa, const char *port, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof(ip));
		snprintf(out, outlen, "[%s]:%s", ip, port);
	} else {
		uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof(ip));
		snprintf(out, outlen, "%s:%s", ip, port);
	}
}

/* ---- the answer ---- */

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/** Classify an error answer by its docs/protocol.md message. */
static enum result classify_error(const char *msg)
{
	if (starts_with(msg, "Invalid authentication token") ||
	    starts_with(msg, "Authentication required"))
		return RES_AUTH;
	if (starts_with(msg, "Hostname '") && strstr(msg, "' is registered to another client"))
		return RES_OWNED;
	/* the server is there but cannot take us now (busy, or its registry failed, e.g. its
	 * disk is full): like no answer, retry later */
	if (strcmp(msg, "Server at capacity") == 0 || strcmp(msg, "Connection timeout") == 0 ||
	    starts_with(msg, "Server error"))
		return RES_UNREACHABLE;
	return RES_REFUSED;
}

static enum result handle_answer(struct agent *a, const uint8_t *p, size_t len, const char *from)
{
	json_t *resp = json_loadb((const char *)p, len, 0, NULL);
	const char *status = json_string_value(json_object_get(resp, "status"));
	const char *message = json_string_value(json_object_get(resp, "message"));
	enum result res;

	if (status == NULL || (strcmp(status, "success") != 0 && strcmp(status, "error") != 0)) {
		snprintf(a->why, sizeof(a->why), "the answer from %s is not a Prism response",
			 from);
		json_decref(resp);
		return RES_UNREACHABLE;
	}
	snprintf(a->msg, sizeof(a->msg), "%s", message ? message : "(no message)");
	if (strcmp(status, "success") == 0)
		res = RES_OK;
	else
		res = classify_error(a->msg);
	if (res == RES_UNREACHABLE)
		snprintf(a->why, sizeof(a->why), "%s answered '%s'", from, a->msg);
	json_decref(resp);
	return res;
}

/* ---- one attempt: resolve, connect, send, read one frame ---- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void fail_conn(struct agent *a, int err, const char *what)
{
	snprintf(a->why, sizeof(a->why), "%s %s (%s)", what, a->conn->addr, uv_strerror(err));
	drop_conn(a);
	attempt_done(a, RES_UNREACHABLE);
}

static void tls_write_cb(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	free(((uv_buf_t *)(req + 1))->base);
	free(req);
	if (c->a == NULL || status == 0)
		return;
	fail_conn(c->a, status, "cannot send to");
}

/* Send the ciphertext the session has for the server. 0 or a libuv error. */
static int tls_flush(struct conn *c)
{
	uint8_t *out;
	size_t len;

	if (prism_tls_conn_take_out(c->tls, &out, &len) != 0)
		return UV_ENOMEM;
	if (len == 0)
		return 0;
	/* the request and its buffer in one block, freed by tls_write_cb */
	uv_write_t *req = malloc(sizeof(*req) + sizeof(uv_buf_t));
	if (req == NULL) {
		free(out);
		return UV_ENOMEM;
	}
	uv_buf_t *b = (uv_buf_t *)(req + 1);
	*b = uv_buf_init((char *)out, (unsigned)len);
	req->data = c;
	int rc = uv_write(req, (uv_stream_t *)&c->tcp, b, 1, tls_write_cb);
	if (rc != 0) {
		free(out);
		free(req);
	}
	return rc;
}

/* Feed ciphertext (none at the start), advance the handshake, send the request once it is
 * done, and put the plaintext answer into the frame reader. PRISM_EPROTO: the attempt
 * ended (logged in a->why). */
static int tls_step(struct conn *c, const uint8_t *p, size_t len)
{
	struct agent *a = c->a;
	uint8_t plain[4096];
	size_t got = 0;
	bool eof = false; /* close_notify: the TCP end follows, read_cb reports it */
	int rc = prism_tls_conn_feed(c->tls, p, len);

	if (rc == 0)
		rc = prism_tls_conn_read(c->tls, plain, sizeof(plain), &got, &eof);
	if (rc == 0 && !c->sent && prism_tls_conn_established(c->tls)) {
		c->sent = true;
		rc = prism_tls_conn_write(c->tls, c->frame, c->frame_len);
	}
	if (rc != 0) {
		char why[200];
		prism_tls_conn_failure(c->tls, why, sizeof(why));
		snprintf(a->why, sizeof(a->why), "TLS with %s failed (%s)", c->addr, why);
		drop_conn(a);
		attempt_done(a, RES_UNREACHABLE);
		return PRISM_EPROTO;
	}
	rc = tls_flush(c);
	if (rc != 0) {
		fail_conn(a, rc, "cannot send to");
		return PRISM_EPROTO;
	}
	rc = got > 0 ? prism_frame_feed(&c->rd, plain, got) : 0;
	if (rc == 0 && got == sizeof(plain))
		return tls_step(c, NULL, 0); /* more may be waiting in the session */
	return rc;
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = st->data;
	struct agent *a = c->a;
	const uint8_t *p;
	size_t len;
	uint32_t declared = 0;
	int rc;

	if (a == NULL || nread == 0)
		return;
	if (nread == UV_EOF) {
		snprintf(a->why, sizeof(a->why), "%s closed the connection without an answer",
			 c->addr);
		drop_conn(a);
		attempt_done(a, RES_UNREACHABLE);
		return;
	}
	if (nread < 0) {
		fail_conn(a, (int)nread, "reading from");
		return;
	}
	if (c->tls != NULL)
		rc = tls_step(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		rc = prism_frame_feed(&c->rd, (const uint8_t *)buf->base, (size_t)nread);
	if (rc == PRISM_EPROTO)
		return; /* tls_step ended the attempt */
	if (rc == 0)
		rc = prism_frame_next(&c->rd, &p, &len, &declared);
	if (rc == 0)
		return; /* more to come */
	if (rc == 1) {
		enum result res = handle_answer(a, p, len, c->addr);
		drop_conn(a);
		attempt_done(a, res);
		return;
	}
	snprintf(a->why, sizeof(a->why),
		 "the answer from %s is not a Prism response (declared "
		 "length %lu > %u)",
		 c->addr, (unsigned long)declared, PRISM_FRAME_MAX);
	drop_conn(a);
	attempt_done(a, RES_UNREACHABLE);
}

static void write_cb(uv_write_t *req, int status)
{
	struct conn *c = req->data;

	if (c->a == NULL || status == 0)
		return;
	fail_conn(c->a, status, "cannot send to");
}

static void deadline_cb(uv_timer_t *t)
{
	struct agent *a = t->data;
	double secs = (double)a->s->timeout_ms / 1000.0;

	if (a->conn == NULL)
		return;
	if (a->phase == CONNECTING) {
		snprintf(a->why, sizeof(a->why), "timed out connecting to %s after %g s",
			 a->conn->addr, secs);
		drop_conn(a);
		try_next(a);
		return;
	}
	snprintf(a->why, sizeof(a->why), "no answer from %s within %g s", a->conn->addr, secs);
	drop_conn(a);
	attempt_done(a, RES_UNREACHABLE);
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct conn *c = req->data;
	struct agent *a = c->a;
	uv_buf_t buf;
	int rc;

	if (a == NULL)
		return; /* abandoned: status is UV_ECANCELED */
	if (status < 0) {
		snprintf(a->why, sizeof(a->why), "cannot connect to %s (%s)", c->addr,
			 uv_strerror(status));
		drop_conn(a);
		try_next(a);
		return;
	}
	a->phase = EXCHANGING;
	uv_timer_start(&a->deadline, deadline_cb, a->s->timeout_ms, 0);
	rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
	if (rc == 0 && a->tls != NULL) {
		c->tls = prism_tls_conn_client(a->tls, a->s->host);
		if (c->tls == NULL)
			rc = UV_ENOMEM;
		else
			(void)tls_step(c, NULL, 0); /* the ClientHello */
		if (rc == 0)
			return;
	}
	buf = uv_buf_init((char *)c->frame, (unsigned)c->frame_len);
	if (rc == 0)
		rc = uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, write_cb);
	if (rc != 0)
		fail_conn(a, rc, "cannot send to");
}

static struct conn *conn_new(struct agent *a, const struct addrinfo *ai)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	if (build_frame(a->s, &c->frame, &c->frame_len) != 0) {
		free(c);
		return NULL;
	}
	c->a = a;
	c->tcp.data = c;
	c->connect.data = c;
	c->write.data = c;
	prism_frame_reader_init(&c->rd, PRISM_FRAME_BUF_PREAUTH);
	addr_text(ai->ai_addr, a->s->port, c->addr, sizeof(c->addr));
	return c;
}

/** Connect to the next address of the server; when none is left, the attempt failed. */
static void try_next(struct agent *a)
{
	while (a->ai_next != NULL) {
		struct addrinfo *ai = a->ai_next;
		struct conn *c;
		int rc;

		a->ai_next = ai->ai_next;
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		c = conn_new(a, ai);
		if (c == NULL) {
			snprintf(a->why, sizeof(a->why),
				 "cannot build the request (out of memory)");
			break;
		}
		rc = uv_tcp_init(a->loop, &c->tcp);
		if (rc != 0) {
			snprintf(a->why, sizeof(a->why), "cannot open a socket (%s)",
				 uv_strerror(rc));
			conn_close_cb((uv_handle_t *)&c->tcp);
			continue;
		}
		a->conn = c;
		a->phase = CONNECTING;
		alog(PRISM_AGENT_LOG_DEBUG, "connecting to %s", c->addr);
		rc = uv_tcp_connect(&c->connect, &c->tcp, ai->ai_addr, connect_cb);
		if (rc != 0) {
			snprintf(a->why, sizeof(a->why), "cannot connect to %s (%s)", c->addr,
				 uv_strerror(rc));
			drop_conn(a);
			continue;
		}
		uv_timer_start(&a->deadline, deadline_cb, a->s->timeout_ms, 0);
		return;
	}
	attempt_done(a, RES_UNREACHABLE);
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct agent *a = req->data;

	if (a->stopping) {
		uv_freeaddrinfo(res);
		return;
	}
	if (status < 0) {
		snprintf(a->why, sizeof(a->why), "cannot resolve %s (%s)", a->s->host,
			 uv_strerror(status));
		attempt_done(a, RES_UNREACHABLE);
		return;
	}
	a->ai_list = res;
	a->ai_next = res;
	snprintf(a->why, sizeof(a->why), "%s has no IPv4 or IPv6 address", a->s->host);
	try_next(a);
}

static void attempt_start(struct agent *a)
{
	const struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_protocol = IPPROTO_TCP,
		.ai_flags = AI_NUMERICSERV,
	};
	int rc;

	a->attempt_t0 = uv_now(a->loop);
	a->phase = RESOLVING;
	a->why[0] = '\0';
	a->gai.data = a;
	alog(PRISM_AGENT_LOG_DEBUG, "registering '%s' with %s", a->s->hostname, a->s->server);
	rc = uv_getaddrinfo(a->loop, &a->gai, gai_cb, a->s->host, a->s->port, &hints);
	if (rc != 0) {
		snprintf(a->why, sizeof(a->why), "cannot resolve %s (%s)", a->s->host,
			 uv_strerror(rc));
		attempt_done(a, RES_UNREACHABLE);
	}
}

static void next_cb(uv_timer_t *t)
{
	attempt_start(t->data);
}

/* ---- outcomes ---- */

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/** Stop everything; uv_run returns once the handles are closed. */
static void agent_stop(struct agent *a, int code)
{
	if (a->stopping)
		return;
	a->stopping = true;
	a->exit_code = code;
	notify("STOPPING=1");
	drop_conn(a);
	if (a->phase == RESOLVING)
		uv_cancel((uv_req_t *)&a->gai); /* if it already runs, gai_cb frees the result */
	if (a->ai_list != NULL)
		uv_freeaddrinfo(a->ai_list);
	a->ai_list = a->ai_next = NULL;
	close_handle((uv_handle_t *)&a->next);
	close_handle((uv_handle_t *)&a->deadline);
	close_handle((uv_handle_t *)&a->sigint);
	close_handle((uv_handle_t *)&a->sigterm);
	close_handle((uv_handle_t *)&a->sighup);
}

static void on_success(struct agent *a)
{
	uint64_t now = uv_now(a->loop), due = a->attempt_t0 + a->s->interval_ms;
	bool routine = a->answered && strcmp(a->msg, "Heartbeat updated") == 0;

	if (a->failures > 0)
		alog(PRISM_AGENT_LOG_INFO,
		     "prismd at %s is reachable again (after %u failed "
		     "attempt%s)",
		     a->s->server, a->failures, a->failures == 1 ? "" : "s");
	alog(routine ? PRISM_AGENT_LOG_DEBUG : PRISM_AGENT_LOG_INFO, "registered '%s' with %s: %s",
	     a->s->hostname, a->s->server, a->msg);
	notify("STATUS=registered '%s' with %s: %s", a->s->hostname, a->s->server, a->msg);
	a->failures = 0;
	a->backoff_ms = BACKOFF_FIRST_MS;
	a->answered = true;
	if (a->s->once) {
		agent_stop(a, PRISM_AGENT_EXIT_OK);
		return;
	}
	uv_timer_start(&a->next, next_cb, due > now ? due - now : 0, 0);
}

static void on_unreachable(struct agent *a)
{
	uint64_t cap = a->s->interval_ms < BACKOFF_MAX_MS ? a->s->interval_ms : BACKOFF_MAX_MS;
	uint64_t step = a->backoff_ms < cap ? a->backoff_ms : cap;
	/* jitter: up to a fifth below the step, so that many agents spread out */
	uint64_t delay = step - rnd(a) % (step / 5 + 1);

	if (a->s->once) {
		alog(PRISM_AGENT_LOG_ERROR, "cannot reach prismd: %s", a->why);
		agent_stop(a, PRISM_AGENT_EXIT_UNREACHABLE);
		return;
	}
	a->failures++;
	a->backoff_ms = step * 2 < cap ? step * 2 : cap;
	if (a->failures == 1)
		alog(PRISM_AGENT_LOG_WARNING, "cannot reach prismd: %s; retrying in %.1f s",
		     a->why, (double)delay / 1000.0);
	else
		alog(PRISM_AGENT_LOG_DEBUG,
		     "still cannot reach prismd: %s; attempt %u failed, "
		     "retrying in %.1f s",
		     a->why, a->failures, (double)delay / 1000.0);
	notify("STATUS=cannot reach prismd at %s (%u attempts); retrying", a->s->server,
	       a->failures);
	uv_timer_start(&a->next, next_cb, delay, 0);
}

static void on_fatal(struct agent *a, enum result res)
{
	int code = PRISM_AGENT_EXIT_CONFIG;

	switch (res) {
	case RES_AUTH:
		code = PRISM_AGENT_EXIT_AUTH;
		if (starts_with(a->msg, "Authentication required"))
			alog(PRISM_AGENT_LOG_ERROR,
			     "prismd at %s requires a token: '%s'. Set "
			     "server.auth_token or server.auth_token_file (or --token-file, "
			     "PRISM_AUTH_TOKEN)",
			     a->s->server, a->msg);
		else
			alog(PRISM_AGENT_LOG_ERROR,
			     "prismd at %s refused the token: '%s'. Check "
			     "that the configured token is one the server knows and that it has "
			     "not expired or been revoked",
			     a->s->server, a->msg);
		break;
	case RES_OWNED:
		code = PRISM_AGENT_EXIT_OWNED;
		alog(PRISM_AGENT_LOG_ERROR,
		     "prismd at %s: '%s'. Another machine registered this "
		     "name with a different token: choose another --hostname, or ask the operator "
		     "to release or move the name",
		     a->s->server, a->msg);
		break;
	default:
		alog(PRISM_AGENT_LOG_ERROR, "prismd at %s refused the registration of '%s': '%s'",
		     a->s->server, a->s->hostname, a->msg);
		break;
	}
	notify("STATUS=stopped: %s", a->msg);
	alog(PRISM_AGENT_LOG_ERROR, "exiting with status %d", code);
	agent_stop(a, code);
}

static void attempt_done(struct agent *a, enum result res)
{
	drop_conn(a);
	if (a->ai_list != NULL)
		uv_freeaddrinfo(a->ai_list);
	a->ai_list = a->ai_next = NULL;
	a->phase = IDLE;
	if (a->stopping)
		return;
	switch (res) {
	case RES_OK: on_success(a); break;
	case RES_UNREACHABLE: on_unreachable(a); break;
	default: on_fatal(a, res); break;
	}
}

static void signal_cb(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	alog(PRISM_AGENT_LOG_INFO, "stopping (%s)", signum == SIGINT ? "SIGINT" : "SIGTERM");
	agent_stop(a, PRISM_AGENT_EXIT_OK);
}

/* SIGHUP: the token file again (a secret rotated by Vault Agent, say); the next
 * registration carries what it holds now. A file that cannot be read keeps the token. */
static void sighup_cb(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;
	char token[PRISM_TOKEN_MAX + 1];
	(void)signum;
	if (a->s->token_file[0] == '\0') {
		alog(PRISM_AGENT_LOG_INFO, "SIGHUP: no token file to read again");
		return;
	}
	if (load_token_file(a->s->token_file, token, sizeof(token)) != 0) {
		alog(PRISM_AGENT_LOG_ERROR,
		     "SIGHUP: the token file %s cannot be read: the token "
		     "stays",
		     a->s->token_file);
		return;
	}
	bool changed = strcmp(token, a->s->token) != 0;
	memcpy(a->s->token, token, sizeof(token));
	explicit_bzero(token, sizeof(token));
	alog(PRISM_AGENT_LOG_INFO, "SIGHUP: token file %s read again (%s)", a->s->token_file,
	     changed ? "a new token from the next registration on" : "the same token");
}

static int agent_run(struct settings *s)
{
	uv_loop_t loop;
	char every[32];
	struct agent a = {
		.loop = &loop,
		.s = s,
		.backoff_ms = BACKOFF_FIRST_MS,
		.rng = uv_hrtime() ^ ((uint64_t)getpid() << 32),
	};
	char err[512];
	int rc;

	if (s->tls &&
	    prism_agent_tls_client_new(s->ca[0] ? s->ca : NULL, s->cert[0] ? s->cert : NULL,
				       s->key[0] ? s->key : NULL, &a.tls, err, sizeof(err)) != 0) {
		alog(PRISM_AGENT_LOG_CRITICAL, "cannot set up TLS: %s", err);
		return PRISM_AGENT_EXIT_CONFIG;
	}
	rc = uv_loop_init(&loop);
	if (rc != 0) {
		alog(PRISM_AGENT_LOG_CRITICAL, "cannot start the event loop (%s)",
		     uv_strerror(rc));
		prism_agent_tls_free(a.tls);
		return PRISM_AGENT_EXIT_INTERNAL;
	}
	uv_timer_init(&loop, &a.next);
	uv_timer_init(&loop, &a.deadline);
	uv_signal_init(&loop, &a.sigint);
	uv_signal_init(&loop, &a.sigterm);
	uv_signal_init(&loop, &a.sighup);
	a.next.data = a.deadline.data = a.sigint.data = a.sigterm.data = a.gai.data = &a;
	a.sighup.data = &a;
	uv_signal_start(&a.sigint, signal_cb, SIGINT);
	uv_signal_start(&a.sigterm, signal_cb, SIGTERM);
	uv_signal_start(&a.sighup, sighup_cb, SIGHUP);

	if (s->once)
		snprintf(every, sizeof(every), "once");
	else
		snprintf(every, sizeof(every), "every %llu s",
			 (unsigned long long)(s->interval_ms / 1000));
	alog(PRISM_AGENT_LOG_INFO,
	     "starting: registering '%s' with prismd at %s %s (timeout "
	     "%g s, %s%s%s)",
	     s->hostname, s->server, every, (double)s->timeout_ms / 1000.0,
	     s->token[0] ? "with a token" : "without a token", s->tls ? ", TLS" : "",
	     s->cert[0] ? " with a client certificate" : "");
	notify("READY=1\nSTATUS=registering '%s' with %s", s->hostname, s->server);
	attempt_start(&a);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		alog(PRISM_AGENT_LOG_ERROR, "event loop not empty at exit (%s)", uv_strerror(rc));
	prism_agent_tls_free(a.tls);
	return a.exit_code;
}

int prism_agent_main(int argc, char **argv)
{
	struct flags f = {0};
	struct prism_agent_config *cfg = NULL;
	struct settings s = {0};
	char *text = NULL, err[320];
	size_t len = 0;
	int rc;

	rc = parse_flags(argc, argv, &f);
	if (rc != 0)
		return rc > 0 ? PRISM_AGENT_EXIT_OK : PRISM_AGENT_EXIT_CONFIG;
	if (f.config != NULL) {
		rc = read_file(f.config, CONFIG_MAX, &text, &len);
		if (rc != 0) {
			fprintf(stderr, "prism agent: cannot read %s (%s)\n", f.config,
				rc == -EFBIG ? "larger than 1 MiB" : strerror(-rc));
			return PRISM_AGENT_EXIT_CONFIG;
		}
	}
	rc = prism_agent_config_parse(text, len, (const char *const *)environ, &cfg, err,
				      sizeof(err));
	free(text);
	if (rc != 0) {
		fprintf(stderr, "prism agent: %s%s%s\n", f.config ? f.config : "",
			f.config ? ": " : "", err);
		return rc == PRISM_ENOMEM ? PRISM_AGENT_EXIT_INTERNAL : PRISM_AGENT_EXIT_CONFIG;
	}
	open_log(f.log_level ? (enum prism_agent_log_level)prism_agent_log_level_parse(f.log_level)
			     : cfg->logging_level,
		 f.log_file ? f.log_file : cfg->logging_file);
	rc = build_settings(cfg, &f, &s);
	prism_agent_config_free(cfg);
	if (rc == 0) {
		signal(SIGPIPE, SIG_IGN);
		rc = agent_run(&s);
	}
	memset(s.token, 0, sizeof(s.token));
	prism_log_deinit();
	return rc;
}
