#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The agent port against its floor, side by side in one run (issue 20's table).

The floor is bench/floor-server: one thread, one epoll set, a fixed answer to every frame and
nothing else — what the kernel's TCP path and agent-load cost on this machine. Each row runs
the same agent-load command against the floor and against a fresh prismd (defaults, token
auth on, one PowerDNS target), floor first, and prints both and prismd / floor:

  oneshot known   one connection per registration (the reference client's pattern), hosts
                  already registered (heartbeats)              goal >= 0.7 x floor
  oneshot new     the same, every registration a new host      goal >= 0.35 x floor
  pipelined known 64 connections x 32 frames in flight, hosts already registered
                                                               goal >= 0.15 x floor

"Known hosts" are registered first by a persistent run that is not measured. New hosts come
from a host range larger than the run can reach, so every answer is "New host registered"
(the table's `new` column counts them).

usage: bench/floor_bench.py [--duration S] [--hosts H] [--rounds R] [--clients N] [--perf DIR]
                           [--json FILE]
  --perf DIR   also `perf record -g` prismd during each prismd run (DIR/<row>.data)
Environment: PRISM_BUILD_DIR (prismd, default ./build), AGENT_LOAD, FLOOR_SERVER (default
$PRISM_BUILD_DIR/bench/floor-server).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_bench as ab  # noqa: E402
from agent_bench import AGENT_LOAD, TOKEN  # noqa: E402
from prismlib import PowerDNS  # noqa: E402

FLOOR_SERVER = os.environ.get("FLOOR_SERVER",
                              os.path.join(ab.prismlib.BUILD, "bench", "floor-server"))
# name, mode, pipeline depth, known hosts, goal (prismd / floor)
ROWS = [
    ("oneshot known", "oneshot", 1, True, 0.7),
    ("oneshot new", "oneshot", 1, False, 0.35),
    ("pipelined known", "persistent", 32, True, 0.15),
]


class Floor:
    """floor-server on a free loopback port, with the shape run_load expects."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="prism-floor-")
        ready = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen([FLOOR_SERVER, "--listen", "127.0.0.1:0",
                                      "--ready-file", ready], stdout=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(ready) and open(ready).read().endswith("\n"):
                break
            time.sleep(0.01)
        self.port = int(open(ready).read())
        self.tls_port, self.pdns, self.token = None, None, TOKEN

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def load_args(mode, depth, prefix, hosts, duration, clients=64):
    args = ["--mode", mode, "--clients", str(clients), "--duration", str(duration),
            "--hosts", str(hosts), "--prefix", prefix, "--timeout", "10"]
    if mode == "oneshot":
        args += ["--sources", "16"]
    else:
        args += ["--pipeline", str(depth)]
    return args


def perf_start(pid, path):
    return subprocess.Popen(["perf", "record"] + os.environ.get("PRISM_PERF_ARGS", "-g").split() + ["-q", "-o", path, "-p", str(pid)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_stop(p):
    if p is None:
        return
    p.send_signal(2)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def prismd_row(name, mode, depth, known, a, r):
    prefix = f"r{r}{'k' if known else 'n'}-"
    # new hosts: a range the run cannot exhaust, so every registration creates a host
    hosts = a.hosts if known else 10_000_000
    pdns = PowerDNS().start()
    d = None
    try:
        d = ab.start_prismd(pdns, True)
        d.token = TOKEN
        if known:
            # registered from the address the measured run will use (oneshot rows connect
            # from 16 loopback sources): the measured registrations are heartbeats
            pre = (["--mode", "oneshot", "--sources", "16"] if mode == "oneshot" else
                   ["--mode", "persistent", "--pipeline", "16"])
            ab.run_load(d, pre + ["--clients", "64", "--hosts", str(hosts), "--prefix", prefix,
                                  "--count", str(hosts), "--timeout", "30"], 300)
            ab.converge(d, prefix)
        p = None
        if a.perf:
            p = perf_start(d.proc.pid, os.path.join(a.perf, name.replace(" ", "-") + ".data"))
            time.sleep(0.5)
        try:
            res = ab.run_load(d, load_args(mode, depth, prefix, hosts, a.duration, a.clients),
                              a.duration + 120)
        finally:
            perf_stop(p)
        res["converge_s"], res["unsynced"] = ab.converge(d, prefix)
        return res
    finally:
        if d is not None:
            d.stop()
            shutil.rmtree(d.dir, ignore_errors=True)
        pdns.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds per loaded run")
    ap.add_argument("--hosts", type=int, default=20000, help="known hosts per row")
    ap.add_argument("--rounds", type=int, default=1, help="floor+prismd pairs per row")
    ap.add_argument("--rows", default="", help="comma-separated row names (default all)")
    ap.add_argument("--clients", type=int, default=64,
                    help="agent-load clients, floor and prismd alike (issue 20's table: 64; "
                         "more tells whether a row waits on latency or on the cores)")
    ap.add_argument("--perf", help="perf record prismd into this directory")
    ap.add_argument("--json", help="also write every raw result to this file")
    a = ap.parse_args()
    for exe in (AGENT_LOAD, FLOOR_SERVER, ab.prismlib.PRISMD):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} not built (PRISM_BUILD_DIR / AGENT_LOAD / FLOOR_SERVER)")
    if a.perf:
        os.makedirs(a.perf, exist_ok=True)
    ab.raise_nofile()
    want = [w.strip() for w in a.rows.split(",") if w.strip()]
    out = []
    for name, mode, depth, known, goal in ROWS:
        if want and name not in want:
            continue
        for r in range(a.rounds):
            ab.log(f"{name}, round {r + 1}: floor")
            f = Floor()
            try:
                fl = ab.run_load(f, load_args(mode, depth, "fl-", a.hosts if known else
                                              10_000_000, a.duration, a.clients),
                                 a.duration + 120)
            finally:
                f.stop()
            ab.log(f"{name}, round {r + 1}: prismd")
            pr = prismd_row(name, mode, depth, known, a, r)
            out.append({"name": name, "goal": goal, "floor": fl, "prismd": pr})
    print()
    print(f"agent port against the no-op floor: nproc {os.cpu_count()}, {a.duration} s per "
          f"run, {a.clients} clients, token auth on, one PowerDNS target")
    hdr = (f"{'row':<16} {'floor/s':>9} {'prismd/s':>9} {'ratio':>6} {'goal':>5} "
           f"{'p50 ms':>7} {'p99 ms':>7} {'new':>7} {'beats':>7} {'not ok':>6} {'prismd%':>7} "
           f"{'pdns%':>6} {'other%':>6} {'synced':>7} {'us/reg':>7} {'loop':>5} {'store':>5}")
    print(hdr)
    print("-" * len(hdr))
    for o in out:
        fl, pr = o["floor"], o["prismd"]
        ratio = pr["registrations_per_s"] / fl["registrations_per_s"]
        notok = sum(v for k, v in pr["outcomes"].items() if k != "ok")
        new = pr["answers_ok"].get("New host registered", 0)
        beats = pr["answers_ok"].get("Heartbeat updated", 0)
        conv = "-" if pr["converge_s"] is None else f"{pr['converge_s']:.2f}s"
        # prismd's CPU per registration: steadier than the rate on a shared machine
        us = (pr["prismd_cpu_pct"] / 100 * 1e6 / pr["registrations_per_s"]
              if pr["registrations_per_s"] else 0)
        # split by thread: the event loop, and the busiest other (the store writer)
        th = pr.get("prismd_threads_pct", {})
        loop_pct = th.get("loop", 0)
        store_pct = max([v for k, v in th.items() if k != "loop"] or [0])
        per = 1e4 / pr["registrations_per_s"] if pr["registrations_per_s"] else 0
        print(f"{o['name']:<16} {fl['registrations_per_s']:>9.0f} "
              f"{pr['registrations_per_s']:>9.0f} {ratio:>6.3f} {o['goal']:>5} "
              f"{pr['latency_ms']['p50']:>7.2f} {pr['latency_ms']['p99']:>7.2f} {new:>7} "
              f"{beats:>7} "
              f"{notok:>6} {pr['prismd_cpu_pct']:>7.0f} {ab.fmt(pr['pdns_cpu_pct']):>6} "
              f"{pr['others_cpu_pct']:>6.0f} {conv:>7} {us:>7.1f} {loop_pct * per:>5.1f} "
              f"{store_pct * per:>5.1f}")
    print("floor/s, prismd/s: successful answers per second to the same agent-load command, "
          "floor run just before prismd's;\nratio: prismd / floor; new, beats: 'New host "
          "registered', 'Heartbeat updated' answers; prismd%, pdns%: CPU in % of one core; "
          "other%:\nthe rest of the machine; "
          "synced: seconds after the run until every host of it is synced to PowerDNS; "
          "us/reg: prismd CPU per registration\n(loop, store: of it, the event loop's and "
          "the busiest other thread's, the store writer).")
    for o in out:
        print(f"  {o['name']}: {o['prismd']['cmd']}")
    # on a machine whose cores are all taken, a thread that could run waits for one: the
    # event loop's and the writer's share of the run on a core and waiting for one
    print("prismd's threads on a core / waiting for one (runnable, the cores busy), in % of "
          "the run:")
    for o in out:
        th = o["prismd"].get("prismd_threads_pct", {})
        wt = o["prismd"].get("prismd_threads_wait_pct", {})
        busiest = sorted(th, key=lambda k: -th[k])[:3]
        print(f"  {o['name']}: " + ", ".join(
            f"{k.split('/')[0] if k == 'loop' else k} {th[k]:.0f} / {wt.get(k, 0):.0f}"
            for k in busiest))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
