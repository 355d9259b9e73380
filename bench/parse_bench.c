/* SPDX-License-Identifier: MIT */
/*
 * parse-bench: the agent message parser's fast path against its jansson reference, on the
 * message agents send, side by side in one run. Prints ns per message and the ratio. Then
 * the same for reading a zone (prism_pdns_zone_parse), on generated PowerDNS answers of 100
 * and 10,000 RRsets: ns per RRset, each body parsed until ITERATIONS / 10 RRsets are read.
 *   parse-bench [ITERATIONS]   (default 2000000)
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/agent_msg.h"
#include "core/pdns_json.h"

typedef int (*parse_fn)(const uint8_t *, size_t, struct prism_agent_req *, char *, size_t);

static double run(parse_fn fn, const char *msg, long iters)
{
	struct prism_agent_req req;
	char err[PRISM_AGENT_ERRMSG_MAX];
	size_t len = strlen(msg);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < iters; i++)
		if (fn((const uint8_t *)msg, len, &req, err, sizeof(err)) != 0) {
			fprintf(stderr, "parse-bench: refused: %s\n", err);
			exit(1);
		}
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	       (double)iters;
}

typedef int (*zone_fn)(const char *, size_t, const char *, struct prism_actual_zone *);

/* ns per RRset of reading @p body (@p n RRsets) @p iters times. */
static double run_zone(zone_fn fn, const char *body, size_t n, long iters)
{
	struct prism_actual_zone z;
	size_t len = strlen(body);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < iters; i++) {
		if (fn(body, len, "prism", &z) != 0 || z.n != n) {
			fprintf(stderr, "parse-bench: zone refused\n");
			exit(1);
		}
		prism_actual_zone_free(&z);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	       ((double)iters * (double)n);
}

/* A PowerDNS zone answer as GET /servers/{id}/zones/{zone} gives it: the SOA, then hosts'
 * A records (every other one Prism's, with its comment; one in eight with a second record,
 * disabled) and every tenth a TXT with escaped quotes. */
static char *zone_body(size_t n)
{
	static const char head[] =
		"{\"account\":\"\",\"dnssec\":false,\"id\":\"bench.test.\",\"kind\":\"Native\","
		"\"name\":\"bench.test.\",\"rrsets\":[{\"comments\":[],\"name\":\"bench.test.\","
		"\"records\":[{\"content\":\"ns1.bench.test. hostmaster.bench.test. 1 10800 "
		"3600 604800 3600\",\"disabled\":false}],\"ttl\":3600,\"type\":\"SOA\"}";
	static const char tail[] = "],\"serial\":1,\"soa_edit_api\":\"DEFAULT\","
				   "\"url\":\"/api/v1/servers/localhost/zones/bench.test.\"}";
	static const char mark[] = "{\"account\":\"prism\",\"content\":\"managed by prism "
				   "instance prism\",\"modified_at\":1795316621}";
	static const char off[] = ",{\"content\":\"10.255.0.1\",\"disabled\":true}";
	size_t cap = 400 * n + sizeof(head) + sizeof(tail), len = 0;
	char *b = malloc(cap), rec[128];
	if (b == NULL)
		exit(1);
	len += (size_t)snprintf(b, cap, "%s", head);
	for (size_t i = 1; i < n; i++) {
		bool txt = i % 10 == 0;
		if (txt)
			snprintf(rec, sizeof(rec),
				 "{\"content\":\"\\\"v=spf1 ip4:10.%zu.0.0/16 -all\\\"\","
				 "\"disabled\":false}",
				 i % 256);
		else
			snprintf(rec, sizeof(rec),
				 "{\"content\":\"10.%zu.%zu.%zu\",\"disabled\":false}%s",
				 i >> 16 & 255, i >> 8 & 255, i & 255, i % 8 == 0 ? off : "");
		len += (size_t)snprintf(b + len, cap - len,
					",{\"comments\":[%s],\"name\":\"host-%06zu.bench.test.\","
					"\"records\":[%s],\"ttl\":%d,\"type\":\"%s\"}",
					i % 2 ? mark : "", i, rec, txt ? 300 : 60,
					txt ? "TXT" : "A");
	}
	snprintf(b + len, cap - len, "%s", tail);
	return b;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 2000000;
	static const char *const msgs[][2] = {
		{"agent with token",
		 "{\"version\": \"1.0\", \"type\": \"registration\", \"timestamp\": "
		 "\"2026-11-22T10:00:00.123456Z\", \"hostname\": \"web-042.rack7\", "
		 "\"client_ip\": \"10.1.2.3\", \"auth_token\": "
		 "\"f3a9c0d1e2b4a5968778695a4b3c2d1e\"}"},
		{"reference client, no token",
		 "{\"version\":\"1.0\",\"type\":\"registration\",\"timestamp\":"
		 "\"2026-11-22T10:00:00\",\"hostname\":\"db1\"}"},
	};
	if (iters < 1)
		iters = 1;
	printf("%-28s %12s %12s %7s\n", "message", "fast ns", "jansson ns", "ratio");
	for (size_t m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
		run(prism_agent_parse, msgs[m][1], iters / 10); /* warm up */
		double fast = run(prism_agent_parse, msgs[m][1], iters);
		double ref = run(prism_agent_parse_reference, msgs[m][1], iters);
		printf("%-28s %12.0f %12.0f %6.1fx\n", msgs[m][0], fast, ref, ref / fast);
	}
	static const size_t sizes[] = {100, 10000};
	printf("\n%-28s %12s %12s %7s\n", "zone read, per RRset", "fast ns", "jansson ns",
	       "ratio");
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char *body = zone_body(sizes[k]), label[40];
		long zi = iters / 10 / (long)sizes[k];
		if (zi < 1)
			zi = 1;
		run_zone(prism_pdns_zone_parse, body, sizes[k], zi / 10 + 1); /* warm up */
		double fast = run_zone(prism_pdns_zone_parse, body, sizes[k], zi);
		double ref = run_zone(prism_pdns_zone_parse_reference, body, sizes[k], zi);
		snprintf(label, sizeof(label), "%zu RRsets, %zu KB", sizes[k],
			 strlen(body) / 1024);
		printf("%-28s %12.0f %12.0f %6.1fx\n", label, fast, ref, ref / fast);
		free(body);
	}
	return 0;
}
