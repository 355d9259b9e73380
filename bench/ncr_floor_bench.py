#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kea NameChangeRequests until every record answers at PowerDNS, against the direct floor.

N forward-add NameChangeRequests (an A record each, no reverse change: `forward-change` only)
are sent at RATE per second (default 40,000: the intake loses none at that rate, see
ncr_bench.py) to a fresh prismd (defaults, kea.ncr on, one PowerDNS target). The clock runs
from the first datagram until every host is synced in the registry; a sample of names is then
asked at PowerDNS's DNS port. The floor, measured in the same run just before and just after
on a fresh PowerDNS: the same A records PATCHed directly, 10,000 RRsets per request, with
the ownership comment Prism writes ("marked") and without it ("bare"). The ratio is
floor / Prism (1.0 = as fast as the direct upload). Also printed: prismd's CPU per request
(its event loop and its store writer), and PowerDNS's CPU and the DNS queries it answered
during the run (Prism's ownership checks: one per new name, unless a zone transfer covers
them).

usage: bench/ncr_floor_bench.py [N] [ROUNDS] [RATE]   (defaults 30000, 1, 40000)
Environment: PRISM_BUILD_DIR (prismd, default ./build); PRISM_PERF_DIR: `perf record` prismd
into DIR/ncr-<round>.data (PRISM_PERF_ARGS: perf's options, default -g).
"""
import os
import shutil
import signal
import subprocess
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import agent_bench  # noqa: E402
import ncr_bench  # noqa: E402
import prismlib  # noqa: E402
import sync_bench  # noqa: E402
from kealib import metrics, ncr  # noqa: E402
from prismlib import PowerDNS, Prismd, free_port, wait_for  # noqa: E402

ZONE = "lab.test."


def floor(names, comments):
    p = PowerDNS().start()
    try:
        return sync_bench.floor_bulk(p, names, zone=ZONE, comments=comments)
    finally:
        p.cleanup()


def pdns_queries(pdns):
    """DNS queries PowerDNS has answered over UDP so far (its statistics)."""
    for st in pdns.api("GET", "/statistics").json():
        if st.get("name") == "udp-queries":
            return int(st["value"])
    return 0


def prism(n, rate, run):
    pdns = PowerDNS().start()
    d = Prismd(tempfile.mkdtemp(prefix="prism-ncr-floor-"), pdns=pdns)
    port = free_port(udp_too=True)
    ncr_bench.configure(d, port)
    d.start()
    try:
        dg = [ncr(f"f{run}-h{i}.{ZONE}", f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
                  reverse=False, dhcid=f"0002{run:02X}{i:08X}") for i in range(n)]
        # the zone exists at PowerDNS before the clock starts (prismd creates it at start)
        wait_for(lambda: pdns.api("GET", f"/zones/{ZONE}").status_code == 200, 60,
                 what="zone created")
        perf = None
        if os.environ.get("PRISM_PERF_DIR"):
            # perf record prismd from the first datagram until every name is synced
            perf = subprocess.Popen(
                ["perf", "record"] + os.environ.get("PRISM_PERF_ARGS", "-g").split() +
                ["-q", "-o", os.path.join(os.environ["PRISM_PERF_DIR"], f"ncr-{run}.data"),
                 "-p", str(d.proc.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        c0, th0 = agent_bench.cpu_ticks(d.proc.pid)
        p0, q0 = agent_bench.cpu_ticks(pdns.proc.pid)[0], pdns_queries(pdns)
        t0, t1 = ncr_bench.send(port, dg, rate)

        def settled():
            # every datagram prismd received is applied (a busy machine may lose some in
            # the kernel: those are counted, not waited for)
            m = metrics(d)
            g = lambda k: int(m.get((k, frozenset()), 0))  # noqa: E731
            return (time.monotonic() - t1 > 0.3 and g("prism_ncr_received_total") > 0 and
                    g("prism_ncr_applied_total") >= g("prism_ncr_received_total") -
                    g("prism_ncr_dropped_total") - g("prism_ncr_invalid_total"))
        wait_for(settled, 600, interval=0.05, what="every request applied")
        t_applied = time.monotonic()
        applied = int(metrics(d).get(("prism_ncr_applied_total", frozenset()), 0))

        def synced():
            return d.db_query("SELECT count(*) FROM hosts WHERE source = 'kea-ddns' AND "
                              "dns_sync_status = 'synced'")[0][0] >= applied
        wait_for(synced, 600, interval=0.02, what="every name synced")
        took = time.monotonic() - t0
        c1, th1 = agent_bench.cpu_ticks(d.proc.pid)
        p1, q1 = agent_bench.cpu_ticks(pdns.proc.pid)[0], pdns_queries(pdns)
        hz = os.sysconf("SC_CLK_TCK")
        busiest = max((v - th0.get(k, 0) for k, v in th1.items() if k != "loop"), default=0)
        cpu_us = (1e6 * (c1 - c0) / hz / n, 1e6 * (th1.get("loop", 0) - th0.get("loop", 0)) /
                  hz / n, 1e6 * busiest / hz / n)
        if perf is not None:
            perf.send_signal(signal.SIGINT)
            perf.wait(timeout=60)
        if applied < n:
            print(f"  {n - applied} of {n} requests lost before prismd (kernel socket buffer)",
                  flush=True)
        ok = 0
        for i in range(0, n, max(1, n // 20)):
            name = f"f{run}-h{i}.{ZONE}"
            ok += pdns.query(name) == [f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"]
        print(f"  sample of {len(range(0, n, max(1, n // 20)))} names: {ok} answer at PowerDNS;"
              f" sent in {t1 - t0:.2f} s, all applied (in the registry) after "
              f"{t_applied - t0:.2f} s; prismd CPU per request {cpu_us[0]:.1f} us (loop "
              f"{cpu_us[1]:.1f}, store writer {cpu_us[2]:.1f}); PowerDNS CPU {(p1 - p0) / hz:.2f} s,"
              f" {q1 - q0} DNS queries (ownership checks)", flush=True)
        return took
    finally:
        d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)
        pdns.cleanup()


def main():
    a = sys.argv[1:]
    if a and a[0] in ("-h", "--help"):
        print(__doc__)
        return
    n = int(a[0]) if a else 30000
    rounds = int(a[1]) if len(a) > 1 else 1
    rate = int(a[2]) if len(a) > 2 else 40000
    names = [f"fl-h{i}" for i in range(n)]
    print(f"prismd {prismlib.PRISMD}: {n} forward-add NameChangeRequests at {rate}/s, "
          f"nproc {os.cpu_count()}")
    rows = []
    for r in range(rounds):
        fm0, fb0 = floor(names, True), floor(names, False)
        t = prism(n, rate, r)
        fm1, fb1 = floor(names, True), floor(names, False)
        fm, fb = (fm0 + fm1) / 2, (fb0 + fb1) / 2
        rows.append((t, fm, fb))
        print(f"round {r + 1}: prism {t:.2f} s; floor marked {fm:.2f} s ({fm0:.2f} / {fm1:.2f}),"
              f" bare {fb:.2f} s ({fb0:.2f} / {fb1:.2f}); floor/prism marked {fm / t:.2f}, "
              f"bare {fb / t:.2f}", flush=True)
    if rounds > 1:
        t = statistics.median(r[0] for r in rows)
        print(f"median prism {t:.2f} s, ratio marked "
              f"{statistics.median(r[1] / r[0] for r in rows):.2f}, bare "
              f"{statistics.median(r[2] / r[0] for r in rows):.2f}")


if __name__ == "__main__":
    main()
