#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Sync engine benchmarks against a real PowerDNS (gsqlite3), side by side in one run.

1. Bulk sync: N hosts registered while the target is paused, then prismd restarted with the
   target live; time until every host is synced. Floors measured in the same run on a
   second, fresh PowerDNS: the same RRsets uploaded directly in the fewest PATCHes
   (batches of 10,000, under PowerDNS's request limit), and one PATCH per record
   (sampled over 2,000 records, extrapolated).
2. Reconcile: prismd restarted with N owned records and no drift: time of the reconcile
   pass, bytes read, and writes (the zone's SOA serial must not move).
3. Convergence latency at a steady registration rate: acknowledgement to the record
   answering at PowerDNS's DNS port, sampled, p50/p99.

usage: bench/sync_bench.py [N] [RATE] [SECONDS]   (defaults 100000, 1000, 10)
"""
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from prismlib import PowerDNS, Prismd, frame, recv_frame, registration, wait_for  # noqa

ZONE = "managed.prism.local."
DNS_CHECK = os.environ.get("SYNC_BENCH_DNS_CHECK", "1") != "0"
FLOOR_BATCH = 10000          # RRsets per PATCH of the floor, and Prism's sync.batch_max
BODY_BYTES = 8 * 1024 * 1024  # Prism's targets[].max_body_bytes: room for FLOOR_BATCH RRsets


def targets_yaml(p, paused=False, tuned=True):
    y = (f"targets:\n  - name: pdns1\n    api_url: \"{p.api_url}\"\n"
         f"    api_key: \"{p.key}\"\n    paused: {'true' if paused else 'false'}\n")
    if DNS_CHECK:
        # the ownership check asks the DNS port before reading the zone
        y += f"    dns_address: \"127.0.0.1:{p.dns_port}\"\n"
    if tuned:
        # the bench's PowerDNS takes 64 MB bodies (webserver-max-bodysize=64): Prism is told,
        # and sends requests as large as the floor's
        y += f"    max_body_bytes: {BODY_BYTES}\n"
    y += "sync:\n  reconcile_interval: 0\n"
    if tuned:
        y += f"  batch_max: {FLOOR_BATCH}\n"
    return y


def register_many(d, names, conns=8, depth=256):
    """Pipelined registrations over a few connections; returns when all are answered."""
    chunks = [names[i::conns] for i in range(conns)]
    errors = []

    def worker(chunk):
        s = d.connect()
        try:
            for i in range(0, len(chunk), depth):
                part = chunk[i:i + depth]
                s.sendall(b"".join(frame(registration(n)) for n in part))
                for _ in part:
                    r = recv_frame(s, 60)
                    if r["status"] != "success":
                        errors.append(r)
        finally:
            s.close()
    ts = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} registrations failed: {errors[:2]}")


def big(p, method, path, **kw):
    """A request on a whole zone of N records: slower than prismlib's 5 s limit on a
    busy machine."""
    import requests
    return requests.request(method, f"{p.api_url}/servers/localhost{path}",
                            headers={"X-API-Key": p.key}, timeout=300, **kw)


def synced(d):
    return d.db_query("SELECT count(*) FROM ledger WHERE status = 'synced'")[0][0]


def soa_serial(p):
    z = big(p, "GET", f"/zones/{ZONE}").json()
    return z.get("serial")


def floor_bulk(p, names, batch=FLOOR_BATCH, zone=ZONE, comments=True):
    z = {"name": zone, "kind": "Native", "nameservers": ["ns1." + zone]}
    p.api("POST", "/zones", json=z)
    t0 = time.perf_counter()
    for i in range(0, len(names), batch):
        # the same RRsets Prism writes: with the ownership comment (or without: what the
        # records alone cost)
        rrsets = [{"name": f"{n}.{zone}", "type": "A", "ttl": 60, "changetype": "REPLACE",
                   "records": [{"content": "127.0.0.1", "disabled": False}]}
                  for n in names[i:i + batch]]
        if comments:
            for rr in rrsets:
                rr["comments"] = [{"content": "managed by prism instance prism",
                                   "account": "prism"}]
        r = big(p, "PATCH", f"/zones/{zone}", json={"rrsets": rrsets})
        assert r.status_code == 204, r.text
    return time.perf_counter() - t0


def floor_one_by_one(p, count=2000):
    t0 = time.perf_counter()
    for i in range(count):
        rr = [{"name": f"single{i}.{ZONE}", "type": "A", "ttl": 60, "changetype": "REPLACE",
               "records": [{"content": "127.0.0.1", "disabled": False}]}]
        assert p.api("PATCH", f"/zones/{ZONE}", json={"rrsets": rr}).status_code == 204
    return (time.perf_counter() - t0) / count


def _poller(dns_port, q, out):
    """Separate process (no GIL contention with the sender): poll each sampled name until
    it answers; report ack -> answer in ms (perf_counter is CLOCK_MONOTONIC, system-wide)."""
    import dns.message
    import dns.query
    pending, samples, done = [], [], False
    while not done or pending:
        while True:
            try:
                item = q.get(timeout=0.001 if pending else 0.05)
            except Exception:
                break
            if item is None:
                done = True
                break
            pending.append(item)
        for name, t_ack in list(pending):
            r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=dns_port,
                              timeout=2)
            if any(rr.rdtype == 1 for rr in r.answer):
                samples.append((time.perf_counter() - t_ack) * 1000)
                pending.remove((name, t_ack))
            elif time.perf_counter() - t_ack > 10:
                samples.append(float("inf"))
                pending.remove((name, t_ack))
    out.put(samples)


def latency_run(d, p, rate, seconds):
    """Register at a steady rate over 4 connections; sample every 10th name's ack -> DNS
    answer time in another process."""
    import multiprocessing as mp
    q, out = mp.Queue(), mp.Queue()
    proc = mp.Process(target=_poller, args=(p.dns_port, q, out))
    proc.start()
    socks = [d.connect() for _ in range(4)]
    total = int(rate * seconds)
    t_start = time.perf_counter()
    for i in range(total):
        due = t_start + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        s = socks[i % 4]
        name = f"steady{i}"
        s.sendall(frame(registration(name)))
        r = recv_frame(s, 30)
        t_ack = time.perf_counter()
        assert r["status"] == "success"
        if i % 10 == 0:
            q.put((f"{name}.{ZONE}", t_ack))
    achieved = total / (time.perf_counter() - t_start)
    for s in socks:
        s.close()
    q.put(None)
    samples = out.get(timeout=120)
    proc.join(30)
    return achieved, samples


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    seconds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    names = [f"bulk{i}" for i in range(n)]
    pdns, floor, pdns_default = PowerDNS().start(), PowerDNS().start(), PowerDNS().start()
    work = tempfile.mkdtemp(prefix="prism-syncbench-")
    d = Prismd(work, extra_yaml=targets_yaml(pdns, paused=True))
    try:
        d.start()
        t0 = time.perf_counter()
        register_many(d, names)
        t_reg = time.perf_counter() - t0
        assert d.stop() == 0
        tuned_cfg = open(d.config).read()
        # first with the defaults (1.5 MiB bodies, 5,000 RRsets per request) on a third
        # PowerDNS, from a copy of the registry; then tuned to the server's limit
        saved = d.db + ".bench-copy"
        shutil.copyfile(d.db, saved)
        open(d.config, "w").write(tuned_cfg.replace(
            targets_yaml(pdns, paused=True), targets_yaml(pdns_default, tuned=False)))
        t0 = time.perf_counter()
        d.start(wait=False)
        wait_for(lambda: synced(d) == n, 600, interval=0.05, what="bulk sync (defaults)")
        t_default = time.perf_counter() - t0
        assert d.stop() == 0
        shutil.copyfile(saved, d.db)
        os.unlink(saved)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(d.db + suffix):
                os.unlink(d.db + suffix)
        open(d.config, "w").write(tuned_cfg.replace("paused: true", "paused: false"))
        t0 = time.perf_counter()
        d.start(wait=False)
        wait_for(lambda: synced(d) == n, 600, interval=0.05, what="bulk sync")
        t_sync = time.perf_counter() - t0
        pdns_default.stop()
        # a fresh PowerDNS process's first large PATCH is slower (LAB): warm the floor's
        # process up on another zone first, so both floors see a warm process
        floor_bulk(floor, names[:FLOOR_BATCH], zone="warm.prism.local.")
        t_bare = floor_bulk(floor, names, zone="bare.prism.local.", comments=False)
        t_floor = floor_bulk(floor, names)
        per_patch = floor_one_by_one(floor)
        print(f"bulk sync of {n} hosts into an empty zone (PowerDNS gsqlite3, nproc "
              f"{os.cpu_count()})")
        print(f"  registrations (8 pipelined connections): {n / t_reg:,.0f}/s")
        print(f"  Prism, defaults (1.5 MiB, 5k RRsets):  {t_default:7.2f} s  "
              f"{n / t_default:9,.0f} RRsets/s   {t_floor / t_default:.2f}x floor")
        print(f"  Prism, max_body_bytes {BODY_BYTES >> 20} MiB, batch_max {FLOOR_BATCH}:\n"
              f"                                     {t_sync:7.2f} s  {n / t_sync:9,.0f} RRsets/s")
        print(f"  floor, direct 10k-RRset PATCHes (same RRsets, with the ownership comment):\n                                     {t_floor:7.2f} s  {n / t_floor:9,.0f} RRsets/s")
        print(f"  floor without the comment (the records alone):\n"
              f"                                     {t_bare:7.2f} s  {n / t_bare:9,.0f} RRsets/s"
              f"   the mark costs {t_floor / t_bare - 1:+.0%}")
        print(f"  one PATCH per record (sampled):   {per_patch * n:7.2f} s  "
              f"{1 / per_patch:9,.0f} RRsets/s (extrapolated)")
        print(f"  ratio Prism / floor throughput:   {t_floor / t_sync:.2f}x  (goal >= 0.8; "
              "same request size as the floor)")
        print(f"  ratio Prism / floor without marks: {t_bare / t_sync:.2f}x tuned, "
              f"{t_bare / t_default:.2f}x defaults")
        print(f"  ratio Prism / one-by-one:         {per_patch * n / t_sync:.1f}x  (goal >= 40)")

        # reconcile with no drift
        serial = soa_serial(pdns)
        zone_bytes = len(big(pdns, "GET", f"/zones/{ZONE}").content)
        assert d.stop() == 0
        log_before = len(d.read_log())
        d.start()
        m = wait_for(lambda: re.search(r"reconciled managed\.prism\.local\.: (\d+) in step",
                                       d.read_log()[log_before:]), 300, what="reconcile")
        lines = d.read_log()[log_before:].splitlines()
        t_start = next(ln for ln in lines if "ready:" in ln)[:23]
        t_done = next(ln for ln in lines if "reconciled managed" in ln)[:23]
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
        from datetime import datetime
        dt = (datetime.strptime(t_done, fmt) - datetime.strptime(t_start, fmt)).total_seconds()
        print(f"reconcile of {n} owned records, no drift")
        print(f"  time from ready to reconciled:    {dt:7.2f} s   in step: {m.group(1)}")
        print(f"  bytes read (zone JSON):           {zone_bytes:,}")
        print(f"  writes: SOA serial {serial} -> {soa_serial(pdns)} "
              f"({'none' if soa_serial(pdns) == serial else 'CHANGED'})")

        achieved, samples = latency_run(d, pdns, rate, seconds)
        finite = [x for x in samples if x != float("inf")]
        print(f"convergence latency at a steady {rate}/s for {seconds} s "
              f"(achieved {achieved:,.0f}/s), {len(samples)} samples")
        if finite:
            print(f"  ack -> answer: p50 {pct(finite, 0.5):.1f} ms  p90 {pct(finite, 0.9):.1f} ms"
                  f"  p99 {pct(finite, 0.99):.1f} ms  max {max(finite):.1f} ms (goal p99 <= 250)")
        print(f"  not visible within 10 s: {len(samples) - len(finite)}")
    finally:
        d.stop()
        pdns.cleanup()
        floor.cleanup()
        pdns_default.cleanup()


if __name__ == "__main__":
    main()
