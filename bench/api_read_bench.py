#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The REST API's registry reads, side by side: SQLite read inline on the loop (one core's
default, PRISM_TEST_API_READ_THREADS=0), SQLite read on the API's read threads (the default
with two cores or more, PRISM_TEST_API_READ_THREADS=1), and
PostgreSQL (a private cluster on loopback; always on the read threads).

For each: wrk on GET /api/v1/hosts?limit=100 (a page with each host's ledger rows), then
GET /api/health (loop only, cached counts) alone and while a second wrk loads the host
pages: the health answers' p99 with the pages loading shows whether reads hold the loop.

usage: bench/api_read_bench.py [HOSTS] [SECONDS]     (defaults 2000, 5)
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from kealib import Postgres  # noqa: E402
from prismlib import Prismd  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_bench import KEY, wrk  # noqa: E402


def prismd(name, env):
    d = Prismd(tempfile.mkdtemp(prefix=f"prism-readbench-{name}-"), env=env,
               extra_yaml=f"api:\n  keys:\n    - {{name: bench, key: {KEY}, role: admin}}\n")
    text = open(d.config).read().replace("level: debug", "level: warning")
    open(d.config, "w").write(text)
    return d.start()


def measure(d, n, secs):
    for i in range(n):
        d.register(f"h{i:05d}")
    base = f"http://127.0.0.1:{d.api_port}"
    pages = wrk(base + "/api/v1/hosts?limit=100", secs)
    health = wrk(base + "/api/health", secs)
    load = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{secs + 2}s", "-H", f"X-API-Key: {KEY}",
                             base + "/api/v1/hosts?limit=100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    loaded = wrk(base + "/api/health", secs)
    load.wait()
    return pages, health, loaded


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    pg = Postgres().start()
    pg.psql("CREATE DATABASE prism")
    runs = [("sqlite, inline", {"PRISM_TEST_API_READ_THREADS": "0"}),
            ("sqlite, read threads", {"PRISM_TEST_API_READ_THREADS": "1"}),
            ("postgresql", {"PRISM_DATABASE_TYPE": "postgresql", "PRISM_DATABASE_URL":
                            f"host=127.0.0.1 port={pg.port} dbname=prism user=postgres"})]
    rows = []
    try:
        for name, env in runs:
            d = prismd(name.split(",")[0], env)
            try:
                rows.append((name, measure(d, n, secs)))
            finally:
                d.stop()
    finally:
        pg.cleanup()
    print(f"{n} hosts, nproc {os.cpu_count()}, wrk 1 thread 16 connections, {secs} s each")
    print(f"{'registry':22} {'pages/s':>9} {'p99':>10} {'health/s':>9} {'p99':>10} "
          f"{'health/s loaded':>16} {'p99':>10} {'pages vs inline':>16}")
    base = rows[0][1][0][0] or 1
    for name, (pages, health, loaded) in rows:
        print(f"{name:22} {pages[0]:9.0f} {pages[1]:>10} {health[0]:9.0f} {health[1]:>10} "
              f"{loaded[0]:16.0f} {loaded[1]:>10} {pages[0] / base:16.2f}")
        if pages[2] or health[2] or loaded[2]:
            print(f"  non-2xx answers: {pages[2]} {health[2]} {loaded[2]}")


if __name__ == "__main__":
    main()
