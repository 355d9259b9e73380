/* SPDX-License-Identifier: MIT */
/*
 * store-bench: what the SQLite store writer spends per host, without the daemon around it
 * (bench/README.md, issue 20's seventh round). On a fresh registry in a temporary file:
 *
 *  - agents: N new hosts registered (host_register), 64 per transaction as the writer
 *    batches them, each atomic by itself as in the writer; then their RRsets recorded as
 *    pushed (ledger_mark), 256 a round, each round in a savepoint as the writer runs it;
 *  - sources: N new Kea DDNS hosts (source_put), 256 per job in a savepoint, with a job mark
 *    every 1, 2, 4, 8, 16 and 32 hosts, each on a registry of its own; the backend's own
 *    interval (job_mark_every) is marked, and every other one printed as its ratio to it.
 *
 * usage: store-bench [N] [DIR]   (default 30000 hosts, in $TMPDIR or /tmp)
 * Figures are microseconds of wall time on one thread; run it on a quiet machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/rrset.h"
#include "store/store.h"

static const struct prism_store_api *api = &prism_store_sqlite;
static const char *const zones[] = {"bench.test.", NULL};
static char db_path[4096];

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void remove_db(void)
{
	static const char *const ext[] = {"", "-wal", "-shm"};
	char p[4200];
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", db_path, ext[i]);
		unlink(p);
	}
}

static struct prism_store *fresh(void)
{
	remove_db();
	struct prism_store_opts o = {.path = db_path};
	struct prism_store *s;
	char err[256];
	if (api->open(&o, &s, err, sizeof(err)) != 0) {
		fprintf(stderr, "store-bench: cannot open %s: %s\n", db_path, err);
		exit(1);
	}
	static const struct prism_target_zone tz[] = {{"t1", "bench.test."}};
	size_t caught;
	if (api->begin(s) != 0 || api->targets_sync(s, tz, 1, 1000, &caught) != 0 ||
	    api->commit(s) != 0) {
		fprintf(stderr, "store-bench: cannot set up the registry\n");
		exit(1);
	}
	return s;
}

/* Host @p x's IPv4 address, 10.0.0.0/8 in order. */
static void addr_of(int x, char *ip, size_t len)
{
	snprintf(ip, len, "10.%d.%d.%d", (x >> 16) & 255, (x >> 8) & 255, x & 255);
}

static void fail(const char *what, int i)
{
	fprintf(stderr, "store-bench: %s failed at host %d\n", what, i);
	exit(1);
}

static void agents(int n)
{
	struct prism_store *s = fresh();
	char host[64], ip[32];
	struct prism_host_reg reg = {.ip = ip,
				     .now = 1000,
				     .expires_at = 2000,
				     .dns = {.enabled = true,
					     .zone = "bench.test.",
					     .ttl = 60,
					     .publish_a = true,
					     .zones = zones}};
	struct prism_host_reg_out out;
	double t0 = now_s();
	for (int i = 0; i < n; i += 64) {
		if (api->begin(s) != 0)
			fail("begin", i);
		for (int k = 0; k < 64 && i + k < n; k++) {
			int x = i + k;
			snprintf(host, sizeof(host), "a%07d", x);
			addr_of(x, ip, sizeof(ip));
			reg.hostname = host;
			if (api->host_register(s, &reg, &out) != 0 || out.result != PRISM_REG_NEW)
				fail("host_register", x);
		}
		if (api->commit(s) != 0)
			fail("commit", i);
	}
	double t_reg = now_s() - t0;
	struct prism_ledger_mark *mk = calloc(256, sizeof(*mk));
	char(*names)[80] = calloc(256, 80);
	if (mk == NULL || names == NULL)
		fail("allocation", 0);
	t0 = now_s();
	for (int i = 0; i < n; i += 256) {
		int k = 0;
		for (; k < 256 && i + k < n; k++) {
			int x = i + k;
			snprintf(names[k], 80, "a%07d.bench.test.", x);
			addr_of(x, ip, sizeof(ip));
			const char *recs[1] = {ip};
			struct prism_rr_change rr = {names[k], "A", 60, recs, 1};
			mk[k] = (struct prism_ledger_mark){.zone = "bench.test.",
							   .name = names[k],
							   .type = "A",
							   .desired_hash = prism_rrset_hash(&rr),
							   .ok = true};
		}
		if (api->begin(s) != 0 || api->savepoint(s) != 0 ||
		    api->ledger_mark(s, "t1", mk, (size_t)k, 1000000) != 0 ||
		    api->release(s, true) != 0 || api->commit(s) != 0)
			fail("ledger_mark", i);
	}
	double t_mark = now_s() - t0;
	free(mk);
	free(names);
	api->close(s);
	printf("agents: %d new hosts registered %.2f us each; recorded as pushed %.2f us each\n",
	       n, t_reg * 1e6 / n, t_mark * 1e6 / n);
}

static double sources(int n, int every)
{
	struct prism_store *s = fresh();
	struct prism_source_ctx ctx = {.dns_enabled = true,
				       .publish_a = true,
				       .publish_aaaa = true,
				       .zones = zones,
				       .now = 1000};
	char fqdn[80], ip[32], dh[40];
	double t0 = now_s();
	for (int i = 0; i < n; i += 256) {
		if (api->begin(s) != 0 || api->savepoint(s) != 0)
			fail("begin", i);
		for (int k = 0; k < 256 && i + k < n; k++) {
			int x = i + k;
			snprintf(fqdn, sizeof(fqdn), "d%07d.bench.test.", x);
			addr_of(x, ip, sizeof(ip));
			snprintf(dh, sizeof(dh), "000200%08X", (unsigned)x);
			struct prism_source_entry e = {.source = PRISM_SOURCE_KEA_DDNS,
						       .key = fqdn,
						       .fqdn = fqdn,
						       .zone = "bench.test.",
						       .families = PRISM_FAM_V4,
						       .ipv4 = ip,
						       .ttl = 60,
						       .forward = true,
						       .dhcid = dh,
						       .check_dhcid = true};
			struct prism_source_result r;
			if (api->source_put(s, &e, &ctx, &r) != 0 ||
			    r.outcome != PRISM_SOURCE_ADDED)
				fail("source_put", x);
			if (k % every == every - 1 && api->job_mark(s) != 0)
				fail("job_mark", x);
		}
		if (api->release(s, true) != 0 || api->commit(s) != 0)
			fail("commit", i);
	}
	double us = (now_s() - t0) * 1e6 / n;
	api->close(s);
	return us;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf("usage: store-bench [N] [DIR]\n"
		       "The SQLite store writer's cost per host: N new agent hosts registered "
		       "and\n"
		       "recorded as pushed; N new Kea DDNS hosts written in jobs of 256 with a "
		       "job\n"
		       "mark every 1 to 32 hosts. A registry file in DIR (default $TMPDIR or "
		       "/tmp),\n"
		       "removed at the end.\n");
		return 0;
	}
	int n = argc > 1 ? atoi(argv[1]) : 30000;
	const char *dir = argc > 2 ? argv[2] : getenv("TMPDIR");
	if (n < 256 || n > 10000000) {
		fprintf(stderr, "store-bench: N must be 256 to 10000000\n");
		return 2;
	}
	snprintf(db_path, sizeof(db_path), "%s/store-bench-%ld.db", dir ? dir : "/tmp",
		 (long)getpid());
	agents(n);
	static const int every[] = {1, 2, 4, 8, 16, 32};
	double us[6], base = 0;
	for (size_t i = 0; i < 6; i++) {
		us[i] = sources(n, every[i]);
		if ((size_t)every[i] == api->job_mark_every)
			base = us[i];
	}
	printf("sources: %d new Kea DDNS hosts, jobs of 256, a job mark every …\n", n);
	for (size_t i = 0; i < 6; i++)
		printf("  %2d hosts: %.2f us each (%.2f x the default)%s\n", every[i], us[i],
		       base > 0 ? us[i] / base : 0,
		       (size_t)every[i] == api->job_mark_every ? "  <- job_mark_every" : "");
	remove_db();
	return 0;
}
