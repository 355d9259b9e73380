/* SPDX-License-Identifier: MIT */
/*
 * prism-ha-drill: one instance of the claim protocol (store/ha_pg.c) and nothing else, for
 * the failover drills. Every 20 ms it "starts work" under each claim it holds and prints
 *   W <claim> <monotonic ms>
 * (CLOCK_MONOTONIC is one clock for every process on the host, so the test can check that
 * no two instances ever work under one claim within work_ms of each other), and
 *   C <monotonic ms> <claims held, comma-separated>
 * when its claims change. Work "runs" RUN_MS (at most WORK_MS, the budget the fence counts
 * with): a claim is busy (not let go) until its last start's run is over.
 * SIGTERM: release the claims (graceful handover), print L, exit.
 *
 *   prism-ha-drill CONNINFO ID LEASE_SECONDS WORK_MS RUN_MS CLAIM...
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/log.h"
#include "core/ha.h"
#include "store/ha_pg.h"

static struct prism_ha *ha;
static const char *const *claims;
static size_t nclaims;
static uv_timer_t work;
static unsigned long long *last_work; /* per claim: monotonic ms of the last start */
static unsigned long long run_ms;
static uv_signal_t term;

static unsigned long long mono_ms(void)
{
	return (unsigned long long)(uv_hrtime() / 1000000u);
}

static void changed(void *arg)
{
	(void)arg;
	printf("C %llu ", mono_ms());
	const char *sep = "";
	for (size_t i = 0; i < nclaims; i++)
		if (prism_ha_holds(ha, claims[i])) {
			printf("%s%s", sep, claims[i]);
			sep = ",";
		}
	printf("\n");
	fflush(stdout);
}

static void work_cb(uv_timer_t *t)
{
	(void)t;
	for (size_t i = 0; i < nclaims; i++)
		if (prism_ha_holds(ha, claims[i])) {
			last_work[i] = mono_ms();
			printf("W %s %llu\n", claims[i], last_work[i]);
		}
	fflush(stdout);
}

/* Work started under a claim runs run_ms: until then the claim is busy (not let go). */
static bool busy(void *arg, const char *claim)
{
	(void)arg;
	for (size_t i = 0; i < nclaims; i++)
		if (strcmp(claims[i], claim) == 0)
			return last_work[i] != 0 && mono_ms() < last_work[i] + run_ms;
	return false;
}

static void left(void *arg)
{
	(void)arg;
	printf("L %llu\n", mono_ms());
	fflush(stdout);
}

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void term_cb(uv_signal_t *s, int sig)
{
	(void)sig;
	uv_timer_stop(&work);
	uv_close((uv_handle_t *)&work, close_cb);
	uv_close((uv_handle_t *)s, close_cb);
	prism_ha_stop(ha, left, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 7) {
		fprintf(stderr, "usage: prism-ha-drill CONNINFO ID LEASE WORK_MS RUN_MS CLAIM...\n");
		return 2;
	}
	prism_log_init(PRISM_LOG_INFO, NULL);
	const char *keys[] = {"dbname", NULL};
	const char *vals[] = {argv[1], NULL};
	struct prism_ha_opts o = {
		.keys = keys,
		.values = vals,
		.instance_id = argv[2],
		.lease_seconds = (uint32_t)strtoul(argv[3], NULL, 10),
		.work_ms = strtoull(argv[4], NULL, 10),
		.reconnect_max = 2,
		.changed_cb = changed,
		.busy_cb = busy,
	};
	run_ms = strtoull(argv[5], NULL, 10);
	claims = (const char *const *)argv + 6;
	nclaims = (size_t)argc - 6;
	last_work = calloc(nclaims, sizeof(*last_work));
	uv_loop_t *loop = uv_default_loop();
	if (prism_ha_start(loop, &o, &ha) != 0) {
		fprintf(stderr, "prism-ha-drill: bad arguments\n");
		return 2;
	}
	prism_ha_set_claims(ha, claims, nclaims);
	uv_timer_init(loop, &work);
	uv_timer_start(&work, work_cb, 20, 20);
	uv_signal_init(loop, &term);
	uv_signal_start(&term, term_cb, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	return 0;
}
