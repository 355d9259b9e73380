#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""REST API under load with N hosts in the registry (default 1,000,000), side by side:

- wrk (Debian's) against GET /api/v1/hosts?limit=100 (following cursors would need a Lua
  script; the first page is the worst case for nothing and the best case for caches, so
  the bench also spreads requests over 1,000 cursors), GET /api/hosts?per_page=100 and
  GET /api/health;
- the agent port's throughput (agent-load, persistent pipelined) alone and while wrk
  loads the API: the ratio shows what API traffic costs registrations.

The registry is filled before prismd starts, straight into SQLite through prismd's own
schema (a bench shortcut: filling 1M hosts through agents takes minutes and is measured
by agent_bench.py).

usage: bench/api_bench.py [N] [SECONDS]     (defaults 1000000, 10)
"""
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from prismlib import BUILD, Prismd  # noqa: E402

KEY = "bench-admin-key"


def fill(db, n):
    con = sqlite3.connect(db)
    now = int(time.time())
    with con:
        con.executemany(
            "INSERT INTO hosts (hostname, current_ip, ipv4, status, first_seen, last_seen, "
            "expires_at, dns_sync_status) VALUES (?, ?, ?, 'online', ?, ?, ?, 'disabled')",
            ((f"h{i}", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
              f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", now, now, now + 86400)
             for i in range(n)))
    con.execute("ANALYZE")
    con.close()


def filled_prismd(prefix, n):
    """A prismd (not running) with an admin key, warning-level logs and n hosts."""
    d = Prismd(tempfile.mkdtemp(prefix=prefix),
               extra_yaml=f"api:\n  keys:\n    - {{name: bench, key: {KEY}, role: admin}}\n")
    text = open(d.config).read().replace("level: debug", "level: warning")
    open(d.config, "w").write(text)
    d.start()          # creates the schema
    assert d.stop() == 0
    t0 = time.perf_counter()
    fill(d.db, n)
    d.fill_seconds = time.perf_counter() - t0
    return d


def wrk(url, seconds, script=None):
    cmd = ["wrk", "-t1", "-c16", f"-d{seconds}s", "--latency", "-H", f"X-API-Key: {KEY}"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    p99 = re.search(r"99%\s+([\d.]+)(\w+)", out.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    lat = "?"
    if p99:
        v, unit = float(p99.group(1)), p99.group(2)
        lat = f"{v * {'us': 0.001, 'ms': 1, 's': 1000}.get(unit, 1):.2f} ms"
    return float(rps.group(1)) if rps else 0.0, lat, int(non2xx.group(1)) if non2xx else 0


def agent_rate(d, seconds, load):
    r = subprocess.run([load, "--server", f"127.0.0.1:{d.port}", "--mode", "persistent",
                        "--clients", "64", "--pipeline", "16", "--hosts", "20000",
                        "--duration", str(seconds), "--prefix", f"a{time.time_ns()}-"],
                       capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"rate\s+([\d.]+) registrations/s", r.stdout)
    return float(m.group(1)) if m else 0.0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    load = os.environ.get("AGENT_LOAD", os.path.join(BUILD, "bench", "agent-load"))
    d = filled_prismd("prism-apibench-", n)
    print(f"registry filled with {n:,} hosts in {d.fill_seconds:.1f} s "
          f"(nproc {os.cpu_count()}, wrk 1 thread 16 connections, {secs} s each)")
    base = f"http://127.0.0.1:{d.api_port}"
    d.start()
    lua = os.path.join(d.dir, "cursors.lua")
    with open(lua, "w") as f:
        f.write("local i = 0\nrequest = function()\n  i = (i + 997) %% %d\n"
                "  return wrk.format(nil, '/api/v1/hosts?limit=100&after=' .. i)\nend\n"
                % max(n, 1))
    try:
        rows = [("GET /api/health", wrk(base + "/api/health", secs), "30,000/s"),
                ("GET /api/hosts?per_page=100", wrk(base + "/api/hosts?per_page=100", secs),
                 "10,000/s, p99 20 ms"),
                ("GET /api/v1/hosts?limit=100", wrk(base + "/api/v1/hosts?limit=100", secs),
                 "10,000/s, p99 20 ms"),
                ("GET /api/v1/hosts, 1,000 cursors", wrk(base + "/", secs, lua),
                 "10,000/s, p99 20 ms")]
        for name, (rps, p99, bad), goal in rows:
            print(f"  {name:36s} {rps:10,.0f} req/s  p99 {p99:>10s}  non-2xx {bad}"
                  f"   (goal {goal})")
        agent_rate(d, 2, load)  # warm-up: first registrations create hosts
        alone = agent_rate(d, secs, load)
        w = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{secs + 2}s", "-H", f"X-API-Key: {KEY}",
                              base + "/api/v1/hosts?limit=100"], stdout=subprocess.DEVNULL)
        time.sleep(1)
        loaded = agent_rate(d, secs, load)
        w.wait(secs + 30)
        print(f"  agent port alone: {alone:,.0f}/s; with the API under wrk: {loaded:,.0f}/s "
              f"({(1 - loaded / alone) * 100 if alone else 0:.0f}% less; goal at most 10%)")
    finally:
        d.stop()


if __name__ == "__main__":
    main()
