#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Failover of active-active instances (docs/ha.md), on a real PostgreSQL started here.

The claim protocol alone (store/ha_pg.c, three prism-ha-drill instances, the default lease
of 10 s, work fenced as for powerdns.timeout 5 s): N times, `kill -9` of the instance
holding a target's claim, and the time until a survivor starts its next push under it
(the drills print each start of work, stamped with CLOCK_MONOTONIC); then the same for
SIGTERM (a graceful handover). Prints p50 and max.

    /usr/bin/python3 bench/ha_bench.py [TRIES]      # default 10; about 2.5 minutes
"""
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from kealib import Postgres  # noqa: E402
from prismlib import BUILD, wait_for  # noqa: E402

DRILL = os.path.join(BUILD, "tests", "integration", "prism-ha-drill")
LEASE = 9  # the default ha.lease_seconds
WORK_MS = 5000  # the fence's budget: powerdns.timeout
RUN_MS = 50  # what a push takes (tens of ms at PowerDNS): SIGTERM waits for it, then hands over
CLAIMS = ["liveness", "kea-reservations"] + [f"target:pdns{i}" for i in range(6)]
CLAIM = "target:pdns0"


def mono_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000


class Drill:
    def __init__(self, tmp, conninfo, name):
        self.name, self.conninfo = name, conninfo
        self.out = os.path.join(tmp, name + ".out")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [DRILL, self.conninfo, self.name, str(LEASE), str(WORK_MS), str(RUN_MS)] + CLAIMS,
            stdout=open(self.out, "a"), stderr=subprocess.DEVNULL)

    def first_work(self, claim, after):
        with open(self.out) as f:
            for ln in f:
                p = ln.split()
                if len(p) == 3 and p[0] == "W" and p[1] == claim and int(p[2]) >= after:
                    return int(p[2])
        return None

    def working(self, claim):
        return self.first_work(claim, mono_ms() - 200) is not None


def holder(ds):
    for d in ds:
        if d.proc is not None and d.working(CLAIM):
            return d
    return None


def spread(ds):
    return all(any(d.first_work(c, mono_ms() - 200) for c in CLAIMS) for d in ds)


def run(tries):
    pg = Postgres().start()
    tmp = tempfile.mkdtemp(prefix="prism-ha-bench-")
    ds = []
    try:
        pg.psql("CREATE DATABASE prism")
        ci = f"host=127.0.0.1 port={pg.port} dbname=prism user=postgres connect_timeout=2"
        ds = [Drill(tmp, ci, f"bench{i}:8080") for i in range(3)]
        for d in ds:
            d.start()
        results = {}
        for how, sig in (("kill -9", signal.SIGKILL), ("SIGTERM", signal.SIGTERM)):
            took = []
            for _ in range(tries):
                wait_for(lambda: spread(ds) and holder(ds), 60, what="claims spread")
                victim = holder(ds)
                t0 = mono_ms()
                victim.proc.send_signal(sig)
                victim.proc.wait(30)
                victim.proc = None
                others = [d for d in ds if d is not victim]
                wait_for(lambda: any(d.first_work(CLAIM, t0) for d in others), LEASE + 10,
                         what="a survivor pushes")
                took.append(min(w for d in others if (w := d.first_work(CLAIM, t0))) - t0)
                victim.start()
            results[how] = took
            print(f"{how:8} of the claim holder -> survivor's next push, {tries} tries: "
                  f"p50 {statistics.median(took) / 1000:.2f} s, "
                  f"max {max(took) / 1000:.2f} s (lease {LEASE} s)", flush=True)
        return results
    finally:
        for d in ds:
            if d.proc is not None:
                d.proc.kill()
                d.proc.wait()
        pg.cleanup()


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
