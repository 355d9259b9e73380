#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Registry size and daemon memory at N hosts (default 1,000,000).

Registers N distinct hosts through the agent port with agent-load (64 persistent pipelined
connections) into a prismd whose PowerDNS target is paused — the registry then holds
exactly what production holds per host (host row, desired RRset, ledger row per target) —
then reports the registry's bytes on disk per host (database + WAL after a checkpoint) and
prismd's resident memory (VmRSS, VmHWM).

usage: bench/registry_size.py [N]
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from prismlib import BUILD, PowerDNS, Prismd, wait_for  # noqa: E402


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    load = os.environ.get("AGENT_LOAD", os.path.join(BUILD, "bench", "agent-load"))
    pdns = PowerDNS().start()
    work = tempfile.mkdtemp(prefix="prism-regsize-")
    yaml = (f"targets:\n  - name: pdns1\n    api_url: \"{pdns.api_url}\"\n"
            f"    api_key: \"{pdns.key}\"\n    paused: true\n")
    d = Prismd(work, extra_yaml=yaml)
    d.config_text = open(d.config).read().replace("level: debug", "level: info")
    open(d.config, "w").write(d.config_text)
    try:
        d.start()
        rss0 = vm(d.proc.pid, "VmRSS")
        t0 = time.perf_counter()
        r = subprocess.run([load, "--server", f"127.0.0.1:{d.port}", "--mode", "persistent",
                            "--clients", "64", "--pipeline", "16", "--hosts", str(n),
                            "--count", str(n), "--prefix", "size-"],
                           capture_output=True, text=True, timeout=1800)
        dt = time.perf_counter() - t0
        hosts = d.db_query("SELECT count(*) FROM hosts")[0][0]
        rss, hwm = vm(d.proc.pid, "VmRSS"), vm(d.proc.pid, "VmHWM")
        assert d.stop() == 0
        # after a clean stop SQLite has checkpointed: the WAL is small or gone
        size = sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work)
                   if f.startswith("prism.db"))
        print(f"registry at {hosts:,} hosts (asked {n:,}; {hosts / dt:,.0f} registrations/s "
              f"while filling)")
        print(f"  on disk: {size / 1e6:,.1f} MB = {size / max(hosts, 1):,.0f} bytes per host "
              "(host row, desired RRset, one ledger row, their indexes)")
        print(f"  prismd memory: VmRSS {rss0 / 1e6:.1f} MB empty, {rss / 1e6:.1f} MB at "
              f"{hosts:,} hosts, peak {hwm / 1e6:.1f} MB "
              f"({(rss - rss0) / max(hosts, 1):,.1f} bytes per host above empty)")
        if r.returncode != 0:
            print("agent-load:", r.stdout[-500:], r.stderr[-500:])
    finally:
        d.stop()
        pdns.cleanup()


if __name__ == "__main__":
    main()
