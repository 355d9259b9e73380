#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Active-active prismd on one PostgreSQL (docs/ha.md), real PostgreSQL and PowerDNS
started here, side by side in one run:

1. Ack -> answer at PowerDNS at a steady registration rate: one prismd on PostgreSQL,
   then two prismd on the same PostgreSQL with the registrations spread over both (the
   target's claim is on one: the other's commits wake it by NOTIFY). p50/p99.
2. Failover: `kill -9` of the instance holding the target's claim (default lease), then a
   registration through the survivor every 20 ms; the time from the kill to the first of
   them answering at PowerDNS (the survivor's first push). TRIES times, p50/max.

usage: bench/ha_prismd_bench.py [RATE] [SECONDS] [TRIES]   (defaults 1000, 10, 10)
"""
import multiprocessing as mp
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kealib import Postgres  # noqa: E402
from prismlib import PowerDNS, Prismd, frame, recv_frame, registration, wait_for  # noqa: E402
from sync_bench import pct, targets_yaml  # noqa: E402

ZONE = "managed.prism.local."


def _poller(dns_port, q, out):
    """sync_bench's poller, which survives a query PowerDNS does not answer in time."""
    import dns.exception
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
            try:
                r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1",
                                  port=dns_port, timeout=2)
                found = any(rr.rdtype == 1 for rr in r.answer)
            except (dns.exception.Timeout, OSError):
                found = False
            if found:
                samples.append((time.perf_counter() - t_ack) * 1000)
                pending.remove((name, t_ack))
            elif time.perf_counter() - t_ack > 10:
                samples.append(float("inf"))
                pending.remove((name, t_ack))
    out.put(samples)


def start(tmp, pdns, pg, db, name, lease=None):
    env = {"PRISM_DATABASE_TYPE": "postgresql",
           "PRISM_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg.port}/{db}",
           "PRISM_HA_INSTANCE_ID": name}
    if lease:
        env["PRISM_HA_LEASE_SECONDS"] = str(lease)
    y = (targets_yaml(pdns, tuned=False) +
         "api:\n  keys:\n    - {name: r, key: \"read-key-0123456789\", role: read}\n")
    d = Prismd(os.path.join(tmp, name), extra_yaml=y, env=env)
    # the powerdns section is left out: targets_yaml names the target and its DNS port
    return d.start()


def steady(ds, pdns, rate, seconds, prefix, conns_each=4):
    """Registrations at a steady rate, pipelined over a few connections per instance (a
    sender and a reader thread each: answers come in order); every 10th name's ack ->
    DNS answer time is sampled in another process."""
    import collections
    import threading
    q, out = mp.Queue(), mp.Queue()
    proc = mp.Process(target=_poller, args=(pdns.dns_port, q, out))
    proc.start()
    socks = [d.connect() for d in ds for _ in range(conns_each)]
    total = int(rate * seconds)
    errors = []
    t_start = time.perf_counter() + 0.1

    def sender(k, s, sent):
        for i in range(k, total, len(socks)):
            due = t_start + i / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            sent.append(i)
            s.sendall(frame(registration(f"{prefix}{i}")))

    def reader(k, s, sent):
        for _ in range(k, total, len(socks)):
            r = recv_frame(s, 60)
            t_ack = time.perf_counter()
            i = sent.popleft()
            if r.get("status") != "success":
                errors.append(r)
            elif i % 10 == 0:
                q.put((f"{prefix}{i}.{ZONE}", t_ack))

    threads = []
    for k, s in enumerate(socks):
        sent = collections.deque()
        threads += [threading.Thread(target=sender, args=(k, s, sent)),
                    threading.Thread(target=reader, args=(k, s, sent))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    achieved = total / (time.perf_counter() - t_start)
    for s in socks:
        s.close()
    q.put(None)
    samples = out.get(timeout=600)
    proc.join(30)
    if errors:
        print(f"  {len(errors)} registrations answered with an error, e.g. {errors[0]}")
    return achieved, samples


def report(what, rate, seconds, achieved, samples):
    finite = [x for x in samples if x != float("inf")]
    print(f"{what}: steady {rate}/s for {seconds} s (achieved {achieved:,.0f}/s), "
          f"{len(samples)} samples: ack -> answer p50 {pct(finite, 0.5):.1f} ms  "
          f"p99 {pct(finite, 0.99):.1f} ms  max {max(finite):.1f} ms; "
          f"not visible within 10 s: {len(samples) - len(finite)}", flush=True)


def holder(d):
    import requests
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/cluster/instances", timeout=5,
                     headers={"X-API-Key": "read-key-0123456789"}).json()
    return next((c["holder"] for c in r.get("claims", []) if c["name"].startswith("target:")
                 and c["expires_in_ms"] > 0), None)


def failover(tmp, pdns, pg, tries):
    pg.psql("CREATE DATABASE ha_failover")
    ds = {n: start(tmp, pdns, pg, "ha_failover", n) for n in ("fa", "fb")}
    took = []
    try:
        for t in range(tries):
            wait_for(lambda: holder(ds["fa"]) in ds and holder(ds["fb"]) == holder(ds["fa"]),
                     60, what="a holder")
            h = holder(ds["fa"])
            other = ds["fb" if h == "fa" else "fa"]
            victim = ds[h]
            t0 = time.perf_counter()
            victim.kill()
            s = other.connect()
            i, seen = 0, None
            while seen is None and time.perf_counter() - t0 < 30:
                name = f"fo{t}-{i}"
                s.sendall(frame(registration(name)))
                assert recv_frame(s, 30)["status"] == "success"
                i += 1
                # the earliest registration that answers marks the first push
                if pdns.query(f"fo{t}-0.{ZONE}"):
                    seen = time.perf_counter() - t0
                time.sleep(0.02)
            s.close()
            took.append(seen if seen is not None else float("inf"))
            victim.start()
        print(f"failover, kill -9 of the target's claim holder -> survivor's first push "
              f"answering, {tries} tries: p50 {statistics.median(took):.2f} s  "
              f"max {max(took):.2f} s (lease 9 s, the default)", flush=True)
    finally:
        for d in ds.values():
            d.stop()


def main():
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    tries = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    import tempfile
    tmp = tempfile.mkdtemp(prefix="prism-ha-bench-")
    pg = Postgres().start()
    pdns = PowerDNS().start()
    try:
        pg.psql("CREATE DATABASE ha_one")
        one = start(tmp, pdns, pg, "ha_one", "one")
        try:
            report("one prismd on PostgreSQL", rate, seconds,
                   *steady([one], pdns, rate, seconds, "one"))
        finally:
            one.stop()
        # each phase on a fresh PowerDNS: the first phase's records carry the same owner
        # id, so a registry that does not want them deletes them as orphans, and those
        # deletions would be pushed during the next phase's measurement
        pdns.cleanup()
        pdns = PowerDNS().start()
        pg.psql("CREATE DATABASE ha_two")
        two = [start(tmp, pdns, pg, "ha_two", n) for n in ("a", "b")]
        try:
            # settled: both alive, both agree on the holder (the claim may move once)
            wait_for(lambda: holder(two[0]) is not None and holder(two[0]) == holder(two[1]),
                     30, what="a holder")
            time.sleep(3)
            report("two prismd on one PostgreSQL, spread", rate, seconds,
                   *steady(two, pdns, rate, seconds, "two"))
        finally:
            for d in two:
                d.stop()
        if tries > 0:
            pdns.cleanup()
            pdns = PowerDNS().start()
            failover(tmp, pdns, pg, tries)
    finally:
        pdns.cleanup()
        pg.cleanup()


if __name__ == "__main__":
    main()
