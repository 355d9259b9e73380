#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The REST API's cost per request, two builds side by side (a refactor's before and after):
the same registry of N hosts served by each build's prismd in turn.

- default: instructions per request under callgrind (valgrind; K requests minus none, one
  request at a time), deterministic, so a shared or loaded machine still compares;
- --wrk S R: prismd's CPU time (user + sys, every thread) per answered request under wrk
  (1 thread, 16 connections, S seconds), R rounds in ABBA order, medians; and req/s, which
  on a loaded machine says more about the neighbours than about prismd.

usage: bench/api_ab.py BEFORE_BUILD_DIR AFTER_BUILD_DIR [N] [K] [--wrk S R]
       (defaults N 100000, K 200; e.g. a build of main in /tmp/main/build against ./build)
"""
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import requests  # noqa: E402
import prismlib  # noqa: E402
import api_bench  # noqa: E402

KEY = api_bench.KEY
PATHS = ["/api/health", "/api/hosts/stats/summary", "/api/hosts?per_page=100",
         "/api/hosts/123", "/api/v1/hosts?limit=100", "/api/v1/hosts?limit=100&after=5000",
         "/api/v1/hosts?limit=100&search=h12", "/api/v1/hosts/h123", "/api/v1/audit",
         "/api/v1/tokens", "/api/v1/keys"]


def use(build, wrap=None):
    """prismd of @p build, under callgrind writing @p wrap's output when given."""
    prismd = os.path.join(build, "src", "daemon", "prismd")
    if wrap is None:
        prismlib.PRISMD = prismd
        return
    script = wrap + ".sh"
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={wrap} "
                f"{prismd} \"$@\"\n")
    os.chmod(script, 0o755)
    prismlib.PRISMD = script


def instructions(d, build, path, k, tmp):
    out = os.path.join(tmp, f"cg-{abs(hash((build, path, k)))}.out")
    use(build, out)
    d.start(wait=False)
    s = requests.Session()
    base = f"http://127.0.0.1:{d.api_port}"
    for _ in range(600):
        try:
            if s.get(base + "/api/health", headers={"X-API-Key": KEY}, timeout=5).ok:
                break
        except requests.RequestException:
            time.sleep(0.2)
    for _ in range(k):
        r = s.get(base + path, headers={"X-API-Key": KEY}, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text)
    d.stop()
    return int(re.search(r"^(?:summary|totals): (\d+)", open(out).read(), re.M).group(1))


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def wrk_cost(d, path, secs):
    pid = d.proc.pid
    c0 = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t1", "-c16", f"-d{secs}s", "-H", f"X-API-Key: {KEY}",
                          f"http://127.0.0.1:{d.api_port}{path}"], capture_output=True,
                         text=True, timeout=secs + 60).stdout
    c1 = cpu_seconds(pid)
    assert "Non-2xx" not in out, out
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    return (c1 - c0) / reqs * 1e6, reqs / secs


def main():
    args = sys.argv[1:]
    wrk = None
    if "--wrk" in args:
        i = args.index("--wrk")
        wrk = (int(args[i + 1]), int(args[i + 2]))
        del args[i:i + 3]
    builds = {"before": args[0], "after": args[1]}
    n = int(args[2]) if len(args) > 2 else 100000
    k = int(args[3]) if len(args) > 3 else 200
    d = api_bench.filled_prismd("prism-apiab-", n)
    if wrk is None:
        print(f"{n:,} hosts; callgrind instructions per request ({k} requests minus none)")
        for path in PATHS:
            v = {b: (instructions(d, p, path, k, d.dir) - instructions(d, p, path, 0, d.dir)) / k
                 for b, p in builds.items()}
            print(f"  GET {path:40s} before {v['before']:11,.0f}  after {v['after']:11,.0f}"
                  f"  after/before {v['after'] / v['before']:.3f}", flush=True)
        return
    secs, rounds = wrk
    res = {(b, p): [] for b in builds for p in PATHS}
    for r in range(rounds):
        order = list(builds.items()) if r % 2 == 0 else list(reversed(builds.items()))
        for b, build in order:
            use(build)
            d.start()
            for path in PATHS:
                res[(b, path)].append(wrk_cost(d, path, secs))
            d.stop()
    print(f"{n:,} hosts; wrk 1 thread 16 connections, {secs} s a run, {rounds} rounds (ABBA), "
          f"medians; CPU us per request, then req/s")
    for path in PATHS:
        m = {b: (statistics.median(x[0] for x in res[(b, path)]),
                 statistics.median(x[1] for x in res[(b, path)])) for b in builds}
        print(f"  GET {path:40s} {m['before'][0]:8.1f} {m['after'][0]:8.1f} "
              f"after/before {m['after'][0] / m['before'][0]:.3f}   "
              f"{m['before'][1]:9,.0f} {m['after'][1]:9,.0f} req/s")


if __name__ == "__main__":
    main()
