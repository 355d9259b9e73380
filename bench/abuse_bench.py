#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Valid agents' throughput while prismd is abused, side by side with the same agents alone.

Every row runs on a fresh prismd (token auth on, no PowerDNS: the agent path only) the same
valid load: bench/agent-load, 8 persistent connections with 16 frames in flight and the
valid token, once as fast as prismd answers and once at a fixed rate (--valid-rate, like a
fleet heartbeating: 10,000/s is 600,000 hosts every minute). Next to it, at the same time,
a second agent-load does the abuse of the row, as fast as prismd answers it:

  alone                 nothing (the baseline)
  equal valid load      a second, identical valid load (control: what any extra load costs
                        on this machine, where the load generators share the cores)
  bad tokens            the same shape of load with an unknown token (every frame refused)
  invalid messages      the same shape with invalid hostnames (every frame refused)
  10k idle connections  10,000 connections held open, sending nothing

and prints the valid agents' registrations per second, the ratio to the baseline, the
abusers' answered frames per second, and prismd's CPU, memory peak (VmHWM) and its share
of the machine. The goal (issue 8): a bad-token flood must not slow valid agents by more
than 20 %. Nothing is asserted (CONTRIBUTING.md rule 19); tests/integration/test_drill_abuse.py
checks correctness.

usage: bench/abuse_bench.py [--duration S] [--quick] [--json FILE]
Environment: PRISM_BUILD_DIR (prismd, default ./build), AGENT_LOAD.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agent_bench as ab  # noqa: E402
from agent_bench import AGENT_LOAD, TOKEN  # noqa: E402

BAD_TOKEN = "not-a-token-the-server-knows-0123456789"
GOAL_RATIO = 0.80


def hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def valid_args(a, rate):
    """The valid agents (run_load adds the server, the token and --json)."""
    return ["--mode", "persistent", "--clients", "8", "--pipeline", "16", "--duration",
            str(a.duration), "--hosts", "5000", "--prefix", "ok-", "--timeout", "10"] + (
                ["--rate", str(rate)] if rate else [])


def abuse_args(kind, d, a):
    """The second agent-load of a row, or None."""
    base = ["--server", f"127.0.0.1:{d.port}", "--timeout", "10", "--json"]
    shape = ["--mode", "persistent", "--clients", "8", "--pipeline", "16", "--duration",
             str(a.duration + 2), "--hosts", "5000"]
    if kind == "equal valid load":
        return base + shape + ["--prefix", "other-", "--token", TOKEN]
    if kind == "bad tokens":
        return base + shape + ["--prefix", "intruder-", "--token", BAD_TOKEN]
    if kind == "invalid messages":
        return base + shape + ["--prefix", "-", "--token", TOKEN]  # "-load-1": invalid
    if kind == "10k idle connections":
        return base + ["--mode", "idle", "--clients", str(a.idle), "--duration",
                       str(a.duration + 4)]
    return None


def row(kind, a, rate):
    work = tempfile.mkdtemp(prefix="prism-abuse-bench-")
    d = ab.Prismd(work, pdns=None)
    ab.configure(d, auth=True)
    d.start()
    other = None
    try:
        extra = abuse_args(kind, d, a)
        other_out = {}
        if extra:
            other = subprocess.Popen([AGENT_LOAD] + extra, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
            # the abuse is under way before the valid agents start
            if kind == "10k idle connections":
                other.stderr.readline()  # "agent-load: holding N of M connections"
            else:
                time.sleep(1.0)

            def collect():
                out, _ = other.communicate(timeout=a.duration + 120)
                other_out["json"] = out
            t = threading.Thread(target=collect)
            t.start()
        d.token = TOKEN
        d.pdns = None
        res = ab.run_load(d, valid_args(a, rate), a.duration + 120)
        if other:
            t.join(a.duration + 130)
        res["kind"] = kind
        res["valid_rate"] = rate
        res["hwm_kib"] = hwm_kib(d.proc.pid)
        res["abuse"] = json.loads(other_out["json"]) if other_out.get("json") else None
        return res
    finally:
        if other is not None and other.poll() is None:
            other.kill()
            other.wait()
        d.stop()
        shutil.rmtree(work, ignore_errors=True)


def abuse_rate(r):
    x = r["abuse"]
    if not x:
        return "-"
    if x.get("mode") == "idle":
        return f"{x['idle']['held_open']} held"
    answered = sum(v for k, v in x["outcomes"].items() if k in ("ok", "error_answer"))
    return f"{answered / x['window_s']:.0f}/s" if x["window_s"] else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per row")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections held")
    ap.add_argument("--valid-rate", type=int, default=10000,
                    help="registrations per second of the fixed-rate valid agents")
    ap.add_argument("--quick", action="store_true", help="3 s rows")
    ap.add_argument("--json", help="also write every raw result to this file")
    a = ap.parse_args()
    if a.quick:
        a.duration = 3
    a.duration = max(1, min(a.duration, 300))
    for exe in (AGENT_LOAD, ab.prismlib.PRISMD):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} not built (PRISM_BUILD_DIR / AGENT_LOAD)")
    nofile = ab.raise_nofile()
    a.idle = min(a.idle, max(1, nofile // 2 - 200))
    kinds = ["alone", "equal valid load", "bad tokens", "invalid messages",
             "10k idle connections"]
    runs = []
    for rate in (0, a.valid_rate):
        for k in kinds:
            ab.log(f"{k} (valid agents {'at ' + str(rate) + '/s' if rate else 'full speed'}):")
            runs.append(row(k, a, rate))
    nproc = os.cpu_count()
    print()
    print(f"abuse benchmark: nproc {nproc}, {a.duration} s per row, valid agents: 8 "
          f"persistent connections x 16 in flight, token auth, no PowerDNS")
    summary = {}
    for rate in (0, a.valid_rate):
        rows = [r for r in runs if r["valid_rate"] == rate]
        base = rows[0]["registrations_per_s"]
        what = f"at a fixed {rate}/s" if rate else "as fast as answered"
        print(f"\nvalid agents {what}:")
        hdr = (f"{'abuse next to the valid agents':<32} {'valid reg/s':>11} {'ratio':>6} "
               f"{'abusers':>12} {'p99 ms':>7} {'prismd%':>7} {'VmHWM MiB':>9} {'other%':>6}")
        print(hdr)
        print("-" * len(hdr))
        for r in rows:
            ratio = r["registrations_per_s"] / base if base else 0
            print(f"{r['kind']:<32} {r['registrations_per_s']:>11.0f} {ratio:>6.2f} "
                  f"{abuse_rate(r):>12} {r['latency_ms']['p99']:>7.2f} "
                  f"{r['prismd_cpu_pct']:>7.0f} {r['hwm_kib'] / 1024:>9.1f} "
                  f"{r['others_cpu_pct']:>6.0f}")
        by = {r["kind"]: r for r in rows}
        summary[rate] = (by["bad tokens"]["registrations_per_s"] / base if base else 0,
                         by["equal valid load"]["registrations_per_s"] / base if base else 0)
    print()
    for rate, (bad, ctrl) in summary.items():
        what = f"at {rate}/s" if rate else "full speed"
        print(f"ratio valid ({what}) under bad-token flood / alone: {bad:.2f} "
              f"(goal >= {GOAL_RATIO:.2f}); under an equal valid load: {ctrl:.2f}")
    print("ratio: valid reg/s over the 'alone' row; abusers: frames answered per second (or "
          "connections held); p99: the valid agents' send -> answer latency;\nprismd%: "
          "prismd's CPU in % of one core; other%: the rest of the machine's busy CPU, the "
          "load generators included (they share the cores with prismd).")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "nproc": nproc}, f, indent=2)


if __name__ == "__main__":
    main()
