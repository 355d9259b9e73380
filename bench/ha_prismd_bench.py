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
from sync_bench import _poller, pct, targets_yaml  # noqa: E402

ZONE = "managed.prism.local."


def start(tmp, pdns, pg, db, name, lease=None):
    env = {"PRISM_DATABASE_TYPE": "postgresql",
           "PRISM_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{pg.port}/{db}",
           "PRISM_HA_INSTANCE_ID": name}
    if lease:
        env["PRISM_HA_LEASE_SECONDS"] = str(lease)
    y = (targets_yaml(pdns, tuned=False) +
         "api:\n  keys:\n    - {name: r, key: \"read-key-0123456789\", role: read}\n"
         "logging:\n  level: info\n")
    d = Prismd(os.path.join(tmp, name), extra_yaml=y, env=env)
    # the powerdns section is left out: targets_yaml names the target and its DNS port
    return d.start()


def steady(ds, pdns, rate, seconds, prefix):
    q, out = mp.Queue(), mp.Queue()
    proc = mp.Process(target=_poller, args=(pdns.dns_port, q, out))
    proc.start()
    socks = [d.connect() for d in ds for _ in range(2)]
    total = int(rate * seconds)
    t_start = time.perf_counter()
    for i in range(total):
        due = t_start + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        s = socks[i % len(socks)]
        name = f"{prefix}{i}"
        s.sendall(frame(registration(name)))
        r = recv_frame(s, 30)
        t_ack = time.perf_counter()
        assert r["status"] == "success", r
        if i % 10 == 0:
            q.put((f"{name}.{ZONE}", t_ack))
    achieved = total / (time.perf_counter() - t_start)
    for s in socks:
        s.close()
    q.put(None)
    samples = out.get(timeout=120)
    proc.join(30)
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
        pg.psql("CREATE DATABASE ha_two")
        two = [start(tmp, pdns, pg, "ha_two", n) for n in ("a", "b")]
        try:
            wait_for(lambda: holder(two[0]) is not None, 30, what="a holder")
            report("two prismd on one PostgreSQL, spread", rate, seconds,
                   *steady(two, pdns, rate, seconds, "two"))
        finally:
            for d in two:
                d.stop()
        if tries > 0:
            failover(tmp, pdns, pg, tries)
    finally:
        pdns.cleanup()
        pg.cleanup()


if __name__ == "__main__":
    main()
