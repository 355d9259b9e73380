/* SPDX-License-Identifier: MIT */
/* prism: the command-line tool. `prism register` sends one registration to prismd; `prism agent`
 * keeps a machine registered (agent.c); the admin commands talk to the REST API (admin.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cli/admin.h"
#include "cli/agent.h"
#include "cli/instances.h"
#include "cli/kea.h"
#include "cli/registry.h"
#include "cli/session.h"
#include "cli/zones.h"
#include "core/agent_msg.h"
#include "core/error.h"
#include "core/frame.h"
#include "core/timefmt.h"
#include "prism_version.h"
#include "sources/agent_tls.h"

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static void usage(FILE *out)
{
	fprintf(out, "Usage: prism <command> [options]\n"
		     "\n"
		     "Agent commands:\n"
		     "  register    send one registration (or heartbeat) to prismd and print its "
		     "answer\n"
		     "  agent       keep this machine registered: at start and every heartbeat\n"
		     "              interval (see `prism agent --help`)\n"
		     "\n"
		     "Kea commands:\n"
		     "  kea install-trigger [--uninstall]\n"
		     "              the notification trigger on Kea's PostgreSQL hosts table\n"
		     "              (see `prism kea --help`)\n"
		     "\n"
		     "Registry commands:\n"
		     "  registry import-prism FILE [--config FILE]\n"
		     "              the hosts of the original Prism server's database\n"
		     "  registry copy --from REGISTRY --to REGISTRY [--force]\n"
		     "              every table of a registry into another: sqlite:PATH or\n"
		     "              postgresql:URL (see `prism registry --help`)\n"
		     "\n");
	prism_admin_usage(out);
	fputc('\n', out);
	prism_zones_usage(out);
	fputc('\n', out);
	prism_instances_usage(out);
	fprintf(out,
		"\n"
		"prism register options:\n"
		"  -s, --server HOST:PORT  prismd agent address (default 127.0.0.1:8080;\n"
		"                          IPv6 as [::1]:8080)\n"
		"  -n, --hostname NAME     name to register (default: this machine's hostname)\n"
		"  -t, --token TOKEN       auth token (default: $PRISM_AUTH_TOKEN if set)\n"
		"  -b, --source ADDR       local address to connect from (e.g. 127.0.0.2)\n"
		"  -w, --timeout SECONDS   give up after this long (default 10)\n"
		"  -j, --json              print the server's whole JSON answer\n"
		"      --tls               connect with TLS (prismd's server.tls_port)\n"
		"      --ca FILE           CA file that signed prismd's certificate (default: "
		"the\n"
		"                          system's CAs); the certificate must name the host\n"
		"      --cert FILE         client certificate (PEM chain) to present\n"
		"      --key FILE          its private key\n"
		"\n"
		"Exit status of prism register: 0 registered, 1 the server answered with an\n"
		"  error, 2 usage error, 3 the server could not be reached or answered badly.\n"
		"\n"
		"  -h, --help              show this help\n"
		"  -V, --version           show the version\n");
}

struct reg_opts {
	char host[256];
	char port[8];
	const char *hostname;
	const char *token;
	const char *source;
	double timeout;
	int json;
	bool tls;
	const char *ca, *cert, *key;
};

static int split_server(const char *s, struct reg_opts *o)
{
	const char *colon;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		snprintf(o->host, sizeof(o->host), "%.*s", (int)(end - s - 1), s + 1);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon)
			return -1;
		snprintf(o->host, sizeof(o->host), "%.*s", (int)(colon - s), s);
	}
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535 || o->host[0] == '\0')
		return -1;
	snprintf(o->port, sizeof(o->port), "%ld", port);
	return 0;
}

static int bind_source(int fd, int family, const char *source)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		if (inet_pton(AF_INET, source, &a->sin_addr) != 1)
			return -1;
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, source, &a->sin6_addr) != 1)
			return -1;
		len = sizeof(*a);
	}
	return bind(fd, (struct sockaddr *)&ss, len);
}

static int connect_server(const struct reg_opts *o)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
	int rc = getaddrinfo(o->host, o->port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "prism: cannot resolve %s (%s)\n", o->host, gai_strerror(rc));
		return -1;
	}
	int fd = -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = {(time_t)o->timeout,
				     (suseconds_t)((o->timeout - (time_t)o->timeout) * 1e6)};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (o->source != NULL && bind_source(fd, ai->ai_family, o->source) != 0) {
			fprintf(stderr, "prism: cannot use source address %s (%s)\n", o->source,
				strerror(errno));
			close(fd);
			fd = -1;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		fprintf(stderr, "prism: cannot connect to %s port %s (%s)\n", o->host, o->port,
			strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static char *build_request(const struct reg_opts *o)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char stamp[40];
	prism_time_format((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, stamp, sizeof(stamp));
	json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "version", "1.0", "type", "registration",
				"timestamp", stamp, "hostname", o->hostname);
	if (req == NULL)
		return NULL;
	if (o->token != NULL && o->token[0] != '\0')
		json_object_set_new(req, "auth_token", json_string(o->token));
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return text;
}

static int send_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read one response frame; returns the parsed JSON or NULL. */
static json_t *read_response(int fd)
{
	struct prism_frame_reader rd;
	prism_frame_reader_init(&rd, PRISM_FRAME_BUF_PREAUTH);
	json_t *resp = NULL;
	for (int i = 0; i < 100000 && resp == NULL; i++) {
		const uint8_t *p;
		size_t len;
		uint32_t declared;
		int rc = prism_frame_next(&rd, &p, &len, &declared);
		if (rc == 1) {
			resp = json_loadb((const char *)p, len, 0, NULL);
			if (resp == NULL)
				fprintf(stderr, "prism: the server's answer is not JSON\n");
			break;
		}
		if (rc < 0) {
			fprintf(stderr, "prism: the server's answer is too large\n");
			break;
		}
		uint8_t buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "prism: no answer from the server (%s)\n",
				n == 0 ? "connection closed" : strerror(errno));
			break;
		}
		if (prism_frame_feed(&rd, buf, (size_t)n) != 0)
			break;
	}
	prism_frame_reader_deinit(&rd);
	return resp;
}

static int print_response(json_t *resp, int as_json)
{
	const char *status = json_string_value(json_object_get(resp, "status"));
	const char *message = json_string_value(json_object_get(resp, "message"));
	if (as_json) {
		char *text = json_dumps(resp, JSON_INDENT(2));
		if (text != NULL)
			printf("%s\n", text);
		free(text);
	} else {
		printf("%s: %s\n", status ? status : "?", message ? message : "(no message)");
	}
	if (status != NULL && strcmp(status, "success") == 0)
		return EXIT_OK;
	return status != NULL && strcmp(status, "error") == 0 ? EXIT_REFUSED : EXIT_UNREACHABLE;
}

/* One request and its answer inside a TLS session over the connected socket @p fd. */
static json_t *tls_exchange(int fd, struct prism_tls_conn *tc, const uint8_t *frame, size_t flen)
{
	struct prism_frame_reader rd;
	json_t *resp = NULL;
	bool sent = false, done = false;
	prism_frame_reader_init(&rd, PRISM_FRAME_BUF_PREAUTH);
	for (int i = 0; i < 100000 && !done; i++) {
		uint8_t plain[4096], *out = NULL, buf[4096];
		size_t got = 0, olen = 0;
		bool eof = false;
		int rc = prism_tls_conn_read(tc, plain, sizeof(plain), &got, &eof);
		if (rc == 0 && !sent && prism_tls_conn_established(tc)) {
			sent = true;
			rc = prism_tls_conn_write(tc, frame, flen);
		}
		if (rc != 0) {
			char why[200];
			prism_tls_conn_failure(tc, why, sizeof(why));
			fprintf(stderr, "prism: TLS with the server failed (%s)\n", why);
			break;
		}
		if (prism_tls_conn_take_out(tc, &out, &olen) != 0 ||
		    (olen > 0 && send_all(fd, out, olen) != 0)) {
			free(out);
			fprintf(stderr, "prism: cannot send to the server (%s)\n",
				strerror(errno));
			break;
		}
		free(out);
		const uint8_t *p;
		size_t len;
		uint32_t declared;
		if (got > 0 && prism_frame_feed(&rd, plain, got) != 0)
			break;
		rc = prism_frame_next(&rd, &p, &len, &declared);
		if (rc != 0) {
			resp = rc == 1 ? json_loadb((const char *)p, len, 0, NULL) : NULL;
			if (resp == NULL)
				fprintf(stderr,
					"prism: the server's answer is not a Prism response\n");
			break;
		}
		if (got == sizeof(plain))
			continue; /* more plaintext may wait in the session */
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || eof) {
			fprintf(stderr, "prism: no answer from the server (%s)\n",
				n == 0 || eof ? "connection closed" : strerror(errno));
			done = true;
		} else if (prism_tls_conn_feed(tc, buf, (size_t)n) != 0) {
			fprintf(stderr, "prism: the server does not speak TLS\n");
			done = true;
		}
	}
	prism_frame_reader_deinit(&rd);
	return resp;
}

/* The request over TLS: the client context and session, then tls_exchange. */
static json_t *tls_request(const struct reg_opts *o, int fd, const uint8_t *frame, size_t flen)
{
	struct prism_agent_tls *t = NULL;
	char err[512];
	if (prism_agent_tls_client_new(o->ca, o->cert, o->key, &t, err, sizeof(err)) != 0) {
		fprintf(stderr, "prism: cannot set up TLS: %s\n", err);
		return NULL;
	}
	json_t *resp = NULL;
	struct prism_tls_conn *tc = prism_tls_conn_client(t, o->host);
	if (tc == NULL)
		fprintf(stderr, "prism: cannot start a TLS session with %s\n", o->host);
	else
		resp = tls_exchange(fd, tc, frame, flen);
	prism_tls_conn_free(tc);
	prism_agent_tls_free(t);
	return resp;
}

static int do_register(const struct reg_opts *o)
{
	/* the server validates the hostname and answers with the protocol's exact message */
	char *req = build_request(o);
	uint8_t *frame = NULL;
	size_t flen = 0;
	if (req == NULL || prism_frame_encode(req, strlen(req), &frame, &flen) != 0) {
		free(req);
		fprintf(stderr, "prism: cannot build the request\n");
		return EXIT_USAGE;
	}
	free(req);
	int fd = connect_server(o);
	if (fd < 0) {
		free(frame);
		return EXIT_UNREACHABLE;
	}
	int rc = EXIT_UNREACHABLE;
	if (o->tls) {
		json_t *resp = tls_request(o, fd, frame, flen);
		if (resp != NULL)
			rc = print_response(resp, o->json);
		json_decref(resp);
	} else if (send_all(fd, frame, flen) != 0) {
		fprintf(stderr, "prism: cannot send to the server (%s)\n", strerror(errno));
	} else {
		json_t *resp = read_response(fd);
		if (resp != NULL)
			rc = print_response(resp, o->json);
		json_decref(resp);
	}
	free(frame);
	close(fd);
	return rc;
}

static int cmd_register(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 's'},
		{"hostname", required_argument, NULL, 'n'},
		{"token", required_argument, NULL, 't'},
		{"source", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 'w'},
		{"json", no_argument, NULL, 'j'},
		{"tls", no_argument, NULL, 1000},
		{"ca", required_argument, NULL, 1001},
		{"cert", required_argument, NULL, 1002},
		{"key", required_argument, NULL, 1003},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct reg_opts o = {.timeout = 10.0, .token = getenv("PRISM_AUTH_TOKEN")};
	const char *server = "127.0.0.1:8080";
	char host[256];
	int c;
	while ((c = getopt_long(argc, argv, "s:n:t:b:w:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': server = optarg; break;
		case 'n': o.hostname = optarg; break;
		case 't': o.token = optarg; break;
		case 'b': o.source = optarg; break;
		case 'w': {
			char *end;
			o.timeout = strtod(optarg, &end);
			if (*end != '\0' || !(o.timeout > 0 && o.timeout <= 3600)) {
				fprintf(stderr, "prism: --timeout must be 0 < seconds <= 3600\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'j': o.json = 1; break;
		case 1000: o.tls = true; break;
		case 1001:
			o.ca = optarg;
			o.tls = true;
			break;
		case 1002:
			o.cert = optarg;
			o.tls = true;
			break;
		case 1003:
			o.key = optarg;
			o.tls = true;
			break;
		case 'h': usage(stdout); return EXIT_OK;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if ((o.cert == NULL) != (o.key == NULL)) {
		fprintf(stderr, "prism: --cert and --key go together\n");
		return EXIT_USAGE;
	}
	if (split_server(server, &o) != 0) {
		fprintf(stderr, "prism: --server must be HOST:PORT (or [IPv6]:PORT), not '%s'\n",
			server);
		return EXIT_USAGE;
	}
	if (o.hostname == NULL) {
		if (gethostname(host, sizeof(host)) != 0) {
			fprintf(stderr,
				"prism: cannot read this machine's hostname; use --hostname\n");
			return EXIT_USAGE;
		}
		host[sizeof(host) - 1] = '\0';
		o.hostname = host;
	}
	return do_register(&o);
}

/*
 * Every `prism` command. The API commands (admin.c, zones.c) take the global options
 * (session.h), which may come before the command (`prism --json hosts`): they get the whole
 * command line. The others get it from their name on.
 */
struct command {
	const char *name; /* NULL: the API command names @c owns accepts */
	bool (*owns)(const char *word);
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{"register", NULL, cmd_register},
	{"agent", NULL, prism_agent_main},
	{"kea", NULL, prism_kea_main},
	{"registry", NULL, prism_registry_main},
	{NULL, prism_instances_is_command, prism_instances_main},
	{NULL, prism_zones_is_command, prism_zones_main},
	{NULL, prism_admin_is_command, prism_admin_main},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		printf("prism %s\n", PRISM_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (commands[i].name != NULL && strcmp(cmd, commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	const char *word = cli_command_word(argc, argv);
	for (size_t i = 0; word != NULL && i < NCOMMANDS; i++)
		if (commands[i].owns != NULL && commands[i].owns(word))
			return commands[i].run(argc, argv);
	/* options and no API command: the admin commands say what is wrong */
	if (cmd[0] == '-')
		return prism_admin_main(argc, argv);
	fprintf(stderr, "prism: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
