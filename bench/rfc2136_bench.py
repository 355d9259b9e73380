#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""RFC 2136 target benchmark against a real BIND (named), side by side in one run.

N new hosts are registered while the BIND target is paused; the clock starts at the resume
(POST /api/v1/targets/bind/resume) and stops when the last record is in the zone (every
ledger row synced; UPDATEs are visible at once, and the last name is checked at the DNS
port). The floor, on fresh BINDs in the same run: the same records sent directly as
maximal UPDATE messages over one TCP connection, one message in flight, signed with the same
key, built before the clock starts:
  - "same records": each A record with its ownership companion TXT record and the same
    prerequisites Prism sends (what Prism's updates carry); measured once just before
    Prism's run and once just after it (the machine is shared: the mean of the two is the
    floor, both are printed);
  - "bare": the A records only (what ownership costs).

usage: bench/rfc2136_bench.py [N]   (default 100000)
"""
import os
import re
import socket
import struct
import sys
import tempfile
import time

import dns.exception
import dns.message
import dns.rcode
import dns.update

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from dnslib import ALGORITHM, KEY_NAME, Bind  # noqa: E402
from prismlib import Prismd, wait_for  # noqa: E402
from sync_bench import register_many, synced  # noqa: E402

ZONE = "managed.prism.local."
MSG_MAX = 65535 - 600  # room for the TSIG record


def build_updates(b, names, owned=True):
    """Maximal signed UPDATE messages (wire) carrying the names' records."""
    msgs = []

    def make(chunk):
        u = dns.update.UpdateMessage(ZONE, keyring=b.keyring(), keyname=KEY_NAME,
                                     keyalgorithm=ALGORITHM)
        for n in chunk:
            if owned:
                u.absent(n, "A")
                u.absent(n, "CNAME")
            u.add(n, 60, "A", "127.0.0.1")
            if owned:
                u.add(f"_prism-a.{n}", 60, "TXT", '"heritage=prism,prism/owner=prism"')
        return u
    # the largest count that fits, found once with the longest names, then used throughout
    lo, hi = 1, 4000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            fits = len(make(names[-mid:]).to_wire(max_size=65535)) <= MSG_MAX
        except dns.exception.TooBig:
            fits = False
        if fits:
            lo = mid
        else:
            hi = mid - 1
    per = lo
    for i in range(0, len(names), per):
        msgs.append(make(names[i:i + per]))
    return msgs, per


def send_all(b, msgs):
    """One TCP connection, one message in flight; returns seconds."""
    s = socket.create_connection(("127.0.0.1", b.port))
    wires = [m.to_wire(max_size=65535) for m in msgs]  # signed now: TSIG time is checked within 300 s
    t0 = time.perf_counter()
    for w, m in zip(wires, msgs):
        s.sendall(struct.pack("!H", len(w)) + w)
        hdr = s.recv(2, socket.MSG_WAITALL)
        (ln,) = struct.unpack("!H", hdr)
        data = s.recv(ln, socket.MSG_WAITALL)
        r = dns.message.from_wire(data, keyring=b.keyring(), request_mac=m.mac)
        assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
    dt = time.perf_counter() - t0
    s.close()
    return dt


def cpu(proc):
    """CPU seconds (user + system) a process has used so far."""
    with open(f"/proc/{proc.pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_flight(d):
    """Seconds spent in the target's requests, from prismd's /metrics: UPDATE (an apply's
    messages, one after the other), zone reads (AXFR and IXFR), and the reads by kind."""
    import requests
    text = requests.get(f"http://127.0.0.1:{d.api_port}/metrics",
                        headers={"X-API-Key": "adm1n"}, timeout=10).text
    out = {"UPDATE": 0.0, "UPDATE_n": 0.0, "reads": 0.0, "ixfr": 0.0, "axfr": 0.0}
    for line in text.splitlines():
        m = re.match(r'prism_powerdns_api_request_duration_seconds_(sum|count)'
                     r'\{method="(\w+)",endpoint="zone"\} (\S+)', line)
        if m and m.group(2) == "UPDATE":
            out["UPDATE" if m.group(1) == "sum" else "UPDATE_n"] += float(m.group(3))
        elif m and m.group(2) in ("AXFR", "IXFR") and m.group(1) == "sum":
            out["reads"] += float(m.group(3))
        m = re.match(r'prism_target_zone_reads_total\{target="bind",kind="(\w+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    names = [f"bulk{i}.{ZONE}" for i in range(n)]
    bind, floor_a, floor_b, bare = (Bind([ZONE]).start() for _ in range(4))
    work = tempfile.mkdtemp(prefix="prism-rfc2136bench-")
    y = (f"powerdns:\n  default_zone: \"{ZONE}\"\n  default_ttl: 60\nzones:\n  - name: {ZONE}\n"
         "targets:\n" + bind.target_yaml("bind", extra="    paused: true\n") +
         "sync:\n  reconcile_interval: 0\n"
         "api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n")
    d = Prismd(work, extra_yaml=y)
    import requests
    try:
        d.start()
        t0 = time.perf_counter()
        register_many(d, [x[:-len(ZONE) - 1] for x in names])
        t_reg = time.perf_counter() - t0
        # prismd restarted (as after a long maintenance), the target still paused
        assert d.stop() == 0
        cfg = open(d.config).read()
        if not os.environ.get("RFC2136_BENCH_DEBUG"):
            open(d.config, "w").write(cfg.replace("level: debug", "level: info"))
        d.start()
        msgs_a, per = build_updates(floor_a, names)
        c0 = cpu(floor_a.proc)
        t_floor_a = send_all(floor_a, msgs_a)
        c_floor = cpu(floor_a.proc) - c0
        # a BIND that took 100k updates keeps working on its journal for a while: stopped,
        # so that it does not take the CPU from the next run (2 cores here)
        assert floor_a.query(names[-1]) == ["127.0.0.1"]
        floor_a.stop()
        c0, p0 = cpu(bind.proc), cpu(d.proc)
        t0 = time.perf_counter()
        r = requests.post(f"http://127.0.0.1:{d.api_port}/api/v1/targets/bind/resume",
                          headers={"X-API-Key": "adm1n"}, timeout=10)
        assert r.status_code == 200, r.text
        # the last name registered is pushed last: poll it at the DNS port (cheap), then
        # check the ledger (a count over 100k rows every 20 ms would take a core from the
        # run it measures)
        wait_for(lambda: bind.query(names[-1]) == ["127.0.0.1"], 900, interval=0.01,
                 what="last record answering")
        wait_for(lambda: synced(d) == n, 900, interval=0.05, what="bulk sync")
        t_prism = time.perf_counter() - t0
        c_bind, c_prismd = cpu(bind.proc) - c0, cpu(d.proc) - p0
        busy = in_flight(d)
        got = sum(1 for _, t, _ in bind.axfr(ZONE) if t == "A")
        d.stop()
        bind.stop()
        msgs_b, _ = build_updates(floor_b, names)
        t_floor_b = send_all(floor_b, msgs_b)
        t_floor = (t_floor_a + t_floor_b) / 2
        assert floor_b.query(names[-1]) == ["127.0.0.1"]
        floor_b.stop()
        bmsgs, bper = build_updates(bare, names, owned=False)
        t_bare = send_all(bare, bmsgs)
        print(f"{n:,} new hosts into BIND 9 over RFC 2136 (TSIG hmac-sha256, TCP), "
              f"nproc {os.cpu_count()}")
        print(f"  registrations (8 pipelined connections): {n / t_reg:,.0f}/s")
        print(f"  Prism, resume -> last record answering: {t_prism:7.2f} s "
              f"{n / t_prism:9,.0f} RRsets/s  ({got:,} A records in the zone)")
        print(f"  Prism's time with an UPDATE in flight (BIND working): {busy['UPDATE']:.2f} s in "
              f"{busy['UPDATE_n']:.0f} applies; zone reads {busy['reads']:.2f} s "
              f"(ixfr {busy['ixfr']:.0f}, axfr {busy['axfr']:.0f}); the rest is prismd's "
              f"own (registry, engine)")
        print(f"  CPU used in Prism's run: BIND {c_bind:.2f} s, prismd {c_prismd:.2f} s; "
              f"BIND in the floor's first run: {c_floor:.2f} s")
        print(f"  floor, same records, {len(msgs_a)} UPDATEs of {per}: {t_floor:7.2f} s "
              f"{n / t_floor:9,.0f} RRsets/s  (before {t_floor_a:.2f} s, after "
              f"{t_floor_b:.2f} s)")
        print(f"  floor, bare A records, {len(bmsgs)} UPDATEs of {bper}: {t_bare:7.2f} s "
              f"{n / t_bare:9,.0f} RRsets/s")
        print(f"  ratio Prism / floor (same records): {t_floor / t_prism:.2f}x  (goal >= 0.8)")
        print(f"  ratio Prism / floor (bare records): {t_bare / t_prism:.2f}x")
    finally:
        d.stop()
        for s in (bind, floor_a, floor_b, bare):
            s.cleanup()


if __name__ == "__main__":
    main()
