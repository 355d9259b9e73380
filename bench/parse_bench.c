/* SPDX-License-Identifier: MIT */
/*
 * parse-bench: the agent message parser's fast path against its jansson reference, on the
 * message agents send, side by side in one run. Prints ns per message and the ratio.
 *   parse-bench [ITERATIONS]   (default 2000000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/agent_msg.h"

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
	return 0;
}
