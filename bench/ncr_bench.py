#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kea NameChangeRequests into prismd's UDP listener (kea.ncr): how many per second are
accepted and committed to the registry, and how many are lost.

Each run starts a fresh prismd (and, with sync on, a fresh PowerDNS) and sends N distinct
add requests (forward and reverse: an A and a PTR each, like kea-dhcp4 sends for a new lease)
at a target rate from one UDP socket. It then reads prismd's /metrics until every request
received is accounted for:

  sent       datagrams the sender sent
  received   datagrams prismd read (sent - received = lost in the kernel: the socket buffer
             overflowed; /proc/net/snmp RcvbufErrors is shown beside it)
  dropped    valid requests prismd dropped because its queue was full
  committed  requests committed to the registry's intake queue (the store writer's commit)
  committed/s  committed / (time of the last commit - time of the first send)
  applied/s  requests applied to their hosts and records (behind the intake, in order) /
             (time of the last apply - time of the first send)

With sync on it also times how long after the last send every name is synced to PowerDNS.
Kea's own published peak is about 19,000 leases/s; the goal is 20,000 requests/s with none
lost.

usage: bench/ncr_bench.py [N] [RATE ...]   (defaults: 100000 and the rates 20000 40000 max;
       "max" sends as fast as the sender can)
"""
import os
import re
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import prismlib  # noqa: E402
from kealib import metrics, ncr  # noqa: E402
from prismlib import PowerDNS, Prismd, free_port, wait_for  # noqa: E402


COALESCE_MS = int(os.environ.get("NCR_BENCH_COALESCE_MS", "0"))


def configure(d, port):
    """info logging (debug logs a line per change), the reverse zone, the listener."""
    with open(d.config) as f:
        text = f.read()
    text = text.replace("level: debug", "level: info")
    if COALESCE_MS:
        text += f"sync:\n  coalesce_ms: {COALESCE_MS}\n"
    text += f"""zones:
  - name: managed.prism.local.
  - name: lab.test.
  - name: 10.in-addr.arpa.
api:
  public_metrics: true
kea:
  ncr:
    enabled: true
    listen: "127.0.0.1:{port}"
"""
    with open(d.config, "w") as f:
        f.write(text)


def datagrams(n, run):
    out = []
    for i in range(n):
        ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        out.append(ncr(f"r{run}-h{i}.lab.test.", ip, dhcid=f"0001{run:02X}{i:08X}",
                       length=1200))
    return out


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        lines = [l.split() for l in f if l.startswith("Udp:")]
    return int(lines[1][lines[0].index("RcvbufErrors")])


def send(port, dgrams, rate):
    """Send at @rate per second (0: flat out); returns (first send time, last send time)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    addr = ("127.0.0.1", port)
    n = len(dgrams)
    t0 = time.monotonic()
    i = 0
    while i < n:
        if rate:
            due = min(n, int((time.monotonic() - t0) * rate) + 1)
            if due <= i:
                time.sleep(0.0002)
                continue
        else:
            due = n
        while i < due:
            try:
                s.sendto(dgrams[i], addr)
                i += 1
            except BlockingIOError:
                time.sleep(0.0001)
    t1 = time.monotonic()
    s.close()
    return t0, t1


def proc_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        st = f.read()
    v = st[st.rindex(")") + 2:].split()
    return int(v[11]) + int(v[12])


def run_one(n, rate, sync, run):
    pdns = PowerDNS().start() if sync else None
    work = tempfile.mkdtemp(prefix="prism-ncr-bench-")
    d = Prismd(work, pdns=pdns)
    port = free_port(udp_too=True)
    configure(d, port)
    d.start()
    try:
        dg = datagrams(n, run)
        kernel0 = rcvbuf_errors()
        cpu0 = proc_ticks(d.proc.pid)
        t0, t1 = send(port, dg, rate)
        last, t_commit, t_apply = None, None, None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            m = metrics(d)
            g = lambda k: int(m.get((k, frozenset()), 0))  # noqa: E731
            cur = (g("prism_ncr_received_total"), g("prism_ncr_committed_total"),
                   g("prism_ncr_dropped_total"), g("prism_ncr_invalid_total"),
                   g("prism_ncr_applied_total"))
            now = time.monotonic()
            if last is None or cur[1] != last[1]:
                t_commit = now
            if last is None or cur[4] != last[4]:
                t_apply = now
            done = cur[1] + cur[2] + cur[3] >= cur[0] and cur[4] >= cur[1]
            if done and last == cur and now - t1 > 0.3:
                break
            last = cur
            time.sleep(0.02)
        cpu = (proc_ticks(d.proc.pid) - cpu0) / os.sysconf("SC_CLK_TCK")
        received, committed, dropped, invalid, applied = last
        kernel = rcvbuf_errors() - kernel0
        synced_after = None
        if sync:
            def all_synced():
                return d.db_query("SELECT count(*) FROM hosts WHERE source = 'kea-ddns' AND "
                                  "dns_sync_status = 'synced'")[0][0] >= committed
            wait_for(all_synced, 300, interval=0.05, what="every name synced")
            synced_after = time.monotonic() - t1
        span = max(t_commit - t0, 1e-9)
        aspan = max(t_apply - t0, 1e-9)
        return {
            "rate": rate or "max", "sync": sync, "sent": n, "send_rate": n / max(t1 - t0, 1e-9),
            "received": received, "lost_kernel": n - received, "rcvbuf_errors": kernel,
            "dropped": dropped, "invalid": invalid, "committed": committed,
            "commit_rate": committed / span, "applied": applied, "apply_rate": applied / aspan,
            "prismd_cpu": cpu / aspan, "synced_after": synced_after,
        }
    finally:
        d.stop()
        if pdns:
            pdns.cleanup()


def main():
    args = sys.argv[1:]
    n = int(args[0]) if args else 100000
    rates = [0 if r == "max" else int(r) for r in args[1:]] or [20000, 40000, 0]
    print(f"prismd {prismlib.PRISMD}, {n} requests a run, nproc {os.cpu_count()}")
    rows = []
    run = 0
    for sync in (True, False):
        for rate in rates if sync else [0]:
            run += 1
            r = run_one(n, rate, sync, run)
            rows.append(r)
            print(f"  run {run}: rate {r['rate']} sync {'on' if sync else 'off'} done",
                  flush=True)
    print()
    print("| target rate | sync | sent/s | received | lost (kernel) | dropped | committed | "
          "committed/s | applied/s | prismd CPU | all synced after |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['rate']} | {'on' if r['sync'] else 'off'} | {r['send_rate']:,.0f} | "
              f"{r['received']:,} | {r['lost_kernel']:,} (RcvbufErrors {r['rcvbuf_errors']}) | "
              f"{r['dropped']:,} | {r['committed']:,} | **{r['commit_rate']:,.0f}** | "
              f"{r['apply_rate']:,.0f} | {r['prismd_cpu'] * 100:.0f} % | "
              f"{'%.2f s' % r['synced_after'] if r['synced_after'] is not None else '-'} |")


if __name__ == "__main__":
    main()
