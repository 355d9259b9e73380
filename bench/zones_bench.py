#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Zones on a cluster of PowerDNS targets (issue 6's figures), side by side in one run.

1. Catch-up: Z zones of R records created through the API on a cluster of two targets;
   then a third, empty target is added (prismd restarted with it): time until every RRset
   is synced there. Floor, measured in the same run on a fresh PowerDNS: the same zones
   pushed directly in the fewest requests Prism's model allows (per zone one POST creating
   it and one PATCH with all its RRsets, one request at a time like Prism's worker).
   The restart also reads every zone of the two other targets (prismd reconciles each zone
   at start): their PowerDNS's CPU meanwhile is printed, since on one machine it competes
   with the catch-up. Then a fourth target is added while prismd runs (POST
   /api/v1/targets, no restart, nothing else read) and timed the same way, against a floor
   on another fresh PowerDNS.
2. Repoint: N records (10 per zone) moved from one address to another in one request;
   time from the request to the new address answering at each target's DNS port, for a
   sample of the records, p50/p99 per target.

usage: bench/zones_bench.py [ZONES] [RECORDS] [SAMPLE]   (defaults 1000, 100, 300)
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

import dns.message
import dns.query
import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from prismlib import PowerDNS, Prismd, wait_for  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_bench  # noqa: E402

KEY = {"X-API-Key": "bench-admin"}
OLD, NEW = "198.51.100.1", "198.51.100.2"
MOVED_PER_ZONE = 10


def config(servers):
    y = "api:\n  keys:\n    - {name: bench, key: bench-admin, role: admin}\n"
    y += "sync:\n  reconcile_interval: 0\n  batch_max: 10000\ntargets:\n"
    for i, p in enumerate(servers):
        y += (f"  - name: pdns{i + 1}\n    api_url: \"{p.api_url}\"\n"
              f"    api_key: \"{p.key}\"\n    max_body_bytes: 8388608\n")
    return y


def zone_name(i):
    return f"z{i:05d}.bench."


def records(i, nrec):
    out = []
    for k in range(nrec):
        ip = OLD if k < MOVED_PER_ZONE else f"10.{i // 250}.{i % 250}.{k}"
        out.append({"name": f"r{k}", "type": "A", "ttl": 300, "content": ip})
    return out


def pending(d, target=None):
    q = "SELECT count(*) FROM ledger WHERE status != 'synced'"
    if target:
        return d.db_query(q + " AND target = ?", (target,))[0][0]
    return d.db_query(q)[0][0]


def rows(d, target):
    return d.db_query("SELECT count(*) FROM ledger WHERE target = ?", (target,))[0][0]


def floor(p, nzones, nrec):
    """The same zones pushed straight to a fresh server: POST + one PATCH per zone."""
    s = requests.Session()
    h = {"X-API-Key": p.key}
    base = f"{p.api_url}/servers/localhost/zones"
    t0 = time.monotonic()
    for i in range(nzones):
        z = zone_name(i)
        r = s.post(base, headers=h, json={"name": z, "kind": "Native",
                                          "nameservers": [f"ns1.{z}"],
                                          "soa_edit_api": "DEFAULT", "api_rectify": False})
        assert r.status_code == 201, r.text
        rrsets = [{"name": f"{rec['name']}.{z}", "type": "A", "ttl": 300,
                   "changetype": "REPLACE",
                   "records": [{"content": rec["content"], "disabled": False}],
                   "comments": [{"content": "managed by prism instance prism",
                                 "account": "prism"}]}
                  for rec in records(i, nrec)]
        r = s.patch(f"{base}/{z}", headers=h, json={"rrsets": rrsets})
        assert r.status_code == 204, r.text
    return time.monotonic() - t0


def cpu_s(pid):
    """User + system CPU seconds of a process so far."""
    return agent_bench.cpu_ticks(pid)[0] / agent_bench.HZ


def settle(procs, limit=60):
    """Wait (bounded) until @procs use under 2 % of a core: earlier work is done."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        c0 = sum(cpu_s(p) for p in procs)
        time.sleep(0.5)
        if sum(cpu_s(p) for p in procs) - c0 < 0.01:
            return


def answer(p, name):
    q = dns.message.make_query(name, "A")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=p.dns_port, timeout=1)
    except Exception:  # noqa: BLE001 (a lost datagram: ask again)
        return None
    return sorted(rd.to_text() for rr in r.answer for rd in rr)


def repoint_latency(api, servers, nzones, sample):
    names = [f"r{k % MOVED_PER_ZONE}.{zone_name(i)}"
             for k, i in enumerate(range(0, nzones, max(1, nzones // sample)))][:sample]
    todo = {(t, n) for t in range(len(servers)) for n in names}
    got = {t: [] for t in range(len(servers))}
    t0 = time.monotonic()
    r = api.post("/api/v1/repoint", json={"from": OLD, "to": NEW})
    acked = time.monotonic() - t0
    assert r.status_code == 200, r.text
    count = r.json()["count"]
    deadline = t0 + 300
    while todo and time.monotonic() < deadline:
        for t, n in list(todo):
            if answer(servers[t], n) == [NEW]:
                got[t].append(time.monotonic() - t0)
                todo.discard((t, n))
    return count, acked, got, len(todo)


class Api:
    def __init__(self, d):
        self.base = f"http://127.0.0.1:{d.api_port}"
        self.s = requests.Session()
        wait_for(lambda: self._up(), 20, what="API")

    def _up(self):
        try:
            return self.s.get(self.base + "/api/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def post(self, path, **kw):
        return self.s.post(self.base + path, headers=KEY, timeout=600, **kw)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))] if xs else float("nan")


def main():
    nzones = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    nrec = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    sample = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    work = tempfile.mkdtemp(prefix="prism-zones-bench-")
    servers = [PowerDNS().start() for _ in range(6)]
    d = None
    try:
        cluster, fresh, added, fresh2 = servers[:3], servers[3], servers[4], servers[5]
        d = Prismd(os.path.join(work, "prismd"), extra_yaml=config(cluster[:2]),
                   env={"PRISM_LOGGING_LEVEL": "info"}).start()
        api = Api(d)
        t0 = time.monotonic()
        for i in range(nzones):
            r = api.post("/api/v1/zones", json={"name": zone_name(i),
                                                "records": records(i, nrec)})
            assert r.status_code == 201, r.text
        t_api = time.monotonic() - t0
        wait_for(lambda: pending(d) == 0, 3600, interval=0.5, what="cluster synced")
        t_two = time.monotonic() - t0
        print(f"{nzones} zones x {nrec} records: created through the API in {t_api:.1f} s, "
              f"on 2 targets in {t_two:.1f} s")

        # catch-up of a third, empty target
        d.stop()
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace(config(cluster[:2]), config(cluster)))
        others = [p.proc.pid for p in cluster[:2]]
        c0 = sum(cpu_s(p) for p in others)
        t0 = time.monotonic()
        d.start()
        want = nzones * nrec
        wait_for(lambda: rows(d, "pdns3") >= want and pending(d, "pdns3") == 0, 3600,
                 interval=0.2, what="pdns3 caught up")
        t_catch = time.monotonic() - t0
        c_others = sum(cpu_s(p) for p in others) - c0
        assert answer(cluster[2], f"r{nrec - 1}.{zone_name(nzones - 1)}") != []
        t_floor = floor(fresh, nzones, nrec)
        print(f"catch-up of a new target (prismd restarted with it): {t_catch:.1f} s "
              f"({want / t_catch:.0f} RRsets/s); floor (POST + one PATCH per zone, direct): "
              f"{t_floor:.1f} s; ratio floor/prism {t_floor / t_catch:.2f} (goal >= 0.8); "
              f"the two other targets' PowerDNS meanwhile: {c_others:.1f} s of CPU "
              f"(prismd's start-up read of their zones)")

        api = Api(d)
        # the start-up reads done, a target added while prismd runs
        settle(others + [cluster[2].proc.pid, d.proc.pid])
        t0 = time.monotonic()
        r = api.post("/api/v1/targets", json={"name": "pdns4", "api_url": added.api_url,
                                              "api_key": added.key})
        assert r.status_code == 201, r.text
        wait_for(lambda: rows(d, "pdns4") >= want and pending(d, "pdns4") == 0, 3600,
                 interval=0.2, what="pdns4 caught up")
        t_add = time.monotonic() - t0
        assert answer(added, f"r{nrec - 1}.{zone_name(nzones - 1)}") != []
        t_floor2 = floor(fresh2, nzones, nrec)
        print(f"catch-up of a target added at run time (POST /api/v1/targets): "
              f"{t_add:.1f} s ({want / t_add:.0f} RRsets/s); floor: {t_floor2:.1f} s; "
              f"ratio floor/prism {t_floor2 / t_add:.2f} (goal >= 0.8)")
        # the repoint below runs on the cluster alone, as in earlier rounds
        r = api.s.delete(api.base + "/api/v1/targets/pdns4", headers=KEY, timeout=60)
        assert r.status_code in (200, 204), r.text
        settle(others + [cluster[2].proc.pid, d.proc.pid])  # its rows forgotten

        count, acked, got, missing = repoint_latency(api, cluster, nzones, sample)
        print(f"repoint of {count} records: answered in {acked * 1000:.0f} ms; "
              f"request to new answer, {sample} sampled names per target:")
        for t, xs in got.items():
            print(f"  pdns{t + 1}: p50 {statistics.median(xs) * 1000:.0f} ms, "
                  f"p99 {pct(xs, 99) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms")
        if missing:
            print(f"  {missing} samples never answered the new address")
    finally:
        if d is not None:
            d.stop()
        for p in servers:
            p.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
