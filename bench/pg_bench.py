#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Pipelined agent registrations per second with the registry on SQLite and on PostgreSQL,
side by side in one run, and the ratio (goal: PostgreSQL >= 0.5 x SQLite).

For each backend a fresh prismd (and PowerDNS when sync is on) takes bench/agent-load's
persistent load: 64 connections, 16 frames in flight each, H distinct hosts (first a new
host each, then heartbeats), token auth as in bench/agent_bench.py. PostgreSQL 15 is a
private cluster started here on loopback (fsync off, as tests/integration/kealib.py starts
it: the figures compare the registry code paths, not the disks). Nothing is asserted.

usage: bench/pg_bench.py [--duration S] [--hosts H] [--sync]
Environment: PRISM_BUILD_DIR (prismd, default ./build), AGENT_LOAD.
"""
import argparse
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agent_bench  # noqa: E402
from agent_bench import TOKEN, configure, log, run_load, supports_auth  # noqa: E402
from kealib import Postgres  # noqa: E402
from prismlib import PowerDNS, Prismd  # noqa: E402

GOAL_RATIO = 0.5


def start(backend, pg, with_sync, auth):
    pdns = PowerDNS().start() if with_sync else None
    work = tempfile.mkdtemp(prefix=f"prism-pg-bench-{backend}-")
    env = {}
    if backend == "postgresql":
        db = "prism_bench_" + os.path.basename(work).replace("-", "_").lower()
        pg.psql(f"CREATE DATABASE {db}")
        env = {"PRISM_DATABASE_TYPE": "postgresql",
               "PRISM_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg.port}/{db}"}
    d = Prismd(work, pdns=pdns, env=env)
    configure(d, auth)
    d.tls_port = None
    d.token = TOKEN if auth else None
    d.start()
    return d, pdns, work


def one(backend, pg, a, auth):
    d, pdns, work = start(backend, pg, a.sync, auth)
    try:
        args = ["--mode", "persistent", "--clients", "64", "--pipeline", "16",
                "--duration", str(a.duration), "--hosts", str(a.hosts), "--prefix", "pb-",
                "--timeout", "10", "--count", str(500000 * int(a.duration))]
        res = run_load(d, args, a.duration + 120)
        log(f"  {backend}: {res['registrations_per_s']:.0f}/s")
        return res
    finally:
        d.stop()
        if pdns:
            pdns.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--hosts", type=int, default=20000)
    ap.add_argument("--sync", action="store_true", help="PowerDNS sync on (default off)")
    a = ap.parse_args()
    agent_bench.raise_nofile()
    auth = supports_auth()
    pg = Postgres().start()
    try:
        res = {b: one(b, pg, a, auth) for b in ("sqlite", "postgresql")}
    finally:
        pg.cleanup()
    print(f"\npipelined registrations (persistent 64 x 16, {a.hosts} hosts, {a.duration:g} s, "
          f"sync {'on' if a.sync else 'off'})")
    print(f"{'backend':<12} {'regs/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
          f"{'prismd cpu%':>12} {'others cpu%':>12}")
    for b, r in res.items():
        lat = r["latency_ms"]
        errors = sum(r["answers_error"].values())
        print(f"{b:<12} {r['registrations_per_s']:>10.0f} {lat['p50']:>8.2f} "
              f"{lat['p99']:>8.2f} {errors:>7} "
              f"{r['prismd_cpu_pct']:>12.0f} {r['others_cpu_pct']:>12.0f}")
    ratio = res["postgresql"]["registrations_per_s"] / max(res["sqlite"]["registrations_per_s"], 1)
    print(f"ratio postgresql / sqlite: {ratio:.2f} (goal >= {GOAL_RATIO})")


if __name__ == "__main__":
    main()
