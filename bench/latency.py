#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Registration-to-resolution latency.

For N hosts, one at a time: send a registration, take the time when prismd's success answer
arrives (the acknowledgement, sent after the registry commit), then query PowerDNS's DNS port
in a tight loop until the A record answers. Baseline, side by side in the same run: the same
kind of record written straight to the PowerDNS API with one PATCH, timed from the API's 204
to the answer, and the full PATCH round trip. Prints medians, p90 and the ratios.

usage: bench/latency.py [N]     (default 100; needs a built ./build)
"""
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from prismlib import PowerDNS, Prismd  # noqa: E402

ZONE = "managed.prism.local."


def until_answers(pdns, name, want, limit=10.0):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        if pdns.query(name) == [want]:
            return time.perf_counter()
        # no sleep: the point is to see the record the moment it is there
    raise TimeoutError(name)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    pdns = PowerDNS().start()
    work = tempfile.mkdtemp(prefix="prism-bench-")
    d = Prismd(work, pdns=pdns)
    d.start()
    try:
        d.register("warmup")
        until_answers(pdns, "warmup." + ZONE, "127.0.0.1")
        prism_ms, ack_ms = [], []
        for i in range(n):
            name = f"lat{i}"
            t0 = time.perf_counter()
            r = d.register(name)
            t_ack = time.perf_counter()
            assert r["status"] == "success", r
            t_dns = until_answers(pdns, name + "." + ZONE, "127.0.0.1")
            ack_ms.append((t_ack - t0) * 1000)
            prism_ms.append((t_dns - t_ack) * 1000)
        direct_ms, patch_ms = [], []
        for i in range(n):
            name = f"direct{i}.{ZONE}"
            body = {"rrsets": [{"name": name, "type": "A", "ttl": 60, "changetype": "REPLACE",
                                "records": [{"content": "127.0.0.9", "disabled": False}]}]}
            t0 = time.perf_counter()
            resp = pdns.api("PATCH", f"/zones/{ZONE}", json=body)
            t_204 = time.perf_counter()
            assert resp.status_code == 204, resp.text
            t_dns = until_answers(pdns, name, "127.0.0.9")
            patch_ms.append((t_204 - t0) * 1000)
            direct_ms.append((t_dns - t0) * 1000)
    finally:
        d.stop()
        pdns.cleanup()
    med = statistics.median
    print(f"registration -> record answering at PowerDNS, {n} hosts, sequential")
    print(f"  registration round trip (send -> ack)        median {med(ack_ms):7.2f} ms"
          f"  p90 {pct(ack_ms, 0.9):7.2f} ms")
    print(f"  Prism: ack -> record answers                  median {med(prism_ms):7.2f} ms"
          f"  p90 {pct(prism_ms, 0.9):7.2f} ms")
    print(f"  baseline: direct API PATCH round trip         median {med(patch_ms):7.2f} ms"
          f"  p90 {pct(patch_ms, 0.9):7.2f} ms")
    print(f"  baseline: direct PATCH send -> record answers median {med(direct_ms):7.2f} ms"
          f"  p90 {pct(direct_ms, 0.9):7.2f} ms")
    print(f"  ratio Prism ack->answer / direct PATCH->answer: "
          f"{med(prism_ms) / med(direct_ms):.2f}x")


if __name__ == "__main__":
    main()
