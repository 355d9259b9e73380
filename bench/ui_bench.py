#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The dashboard's requests with N hosts in the registry (default 1,000,000): each page's
exact sequence of API calls (src/api/ui/app.js), timed end to end over one keep-alive
connection, median of R rounds, side by side with GET /api/health (the floor: routing,
authentication, one tiny answer) and the ratio to it.

Rows: the overview (4 calls), the first page of hosts, a deep page (keyset cursor near the
end), the status filter when only 10 hosts are offline (the last ones), a search that
matches many names (one call fills the page), a search that matches one name (the page
follows `next` through every window: N / 100,000 calls), a host's page.

The registry is filled before prismd starts, straight into SQLite (api_bench.py's fill).

usage: bench/ui_bench.py [N] [ROUNDS]     (defaults 1000000, 7)
"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import requests  # noqa: E402

from api_bench import KEY, filled_prismd  # noqa: E402

WINDOWS = 10  # app.js SEARCH_WINDOWS


def hosts_page(s, base, limit=50, after=None, search=None, status=None):
    """What app.js hostPage() does: a search follows next until the page is full."""
    got, nxt, calls = [], after, 0
    while True:
        p = {"limit": limit - len(got)}
        if nxt:
            p["after"] = nxt
        if search:
            p["search"] = search
        if status:
            p["status"] = status
        r = s.get(base + "/api/v1/hosts", params=p, timeout=60)
        assert r.status_code == 200, r.text
        d = r.json()
        got += d["hosts"]
        nxt = d["next"]
        calls += 1
        if not (search and nxt and len(got) < limit and calls < WINDOWS):
            return got, calls


def timed(fn, rounds):
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    d = filled_prismd("prism-uibench-", n)
    d.db_exec(f"UPDATE hosts SET status = 'offline' WHERE id > {n - 10}")
    print(f"registry: {n:,} hosts filled in {d.fill_seconds:.1f} s (10 offline, the last)")
    d.start()
    base = f"http://127.0.0.1:{d.api_port}"
    s = requests.Session()
    s.headers["X-API-Key"] = KEY
    try:
        rows = []

        def overview():
            for p in ("/api/hosts/stats/summary", "/api/v1/targets", "/api/v1/sync",
                      "/api/v1/audit?limit=10"):
                assert s.get(base + p, timeout=60).status_code == 200

        def check(want, **kw):
            hosts, calls = hosts_page(s, base, **kw)
            assert len(hosts) == want, (kw, len(hosts))
            return calls

        floor = timed(lambda: s.get(base + "/api/health", timeout=60), rounds * 3)
        rows.append(("GET /api/health (floor)", 1, floor))
        rows.append(("overview", 4, timed(overview, rounds)))
        rows.append(("hosts: first page", 1, timed(lambda: check(50), rounds)))
        rows.append(("hosts: deep page (after id N-1000)", 1,
                     timed(lambda: check(50, after=str(n - 1000)), rounds)))
        rows.append(("hosts: status=offline (10 of N)", 1,
                     timed(lambda: check(10, status="offline"), rounds)))
        rows.append(("hosts: search 'h12' (many)", check(50, search="h12"),
                     timed(lambda: check(50, search="h12"), rounds)))
        last = f"h{n - 1}"
        calls = check(1, search=last)
        rows.append((f"hosts: search '{last}' (one, at the end)", calls,
                     timed(lambda: check(1, search=last), rounds)))
        mid = f"h{n // 2}"
        rows.append(("host page", 1, timed(lambda: s.get(base + "/api/v1/hosts/" + mid,
                                                          timeout=60), rounds)))
        print(f"\n{'page':44} {'calls':>5} {'median ms':>10} {'x floor':>8}")
        for name, c, ms in rows:
            print(f"{name:44} {c:5} {ms:10.2f} {ms / floor:8.1f}")
    finally:
        d.stop()


if __name__ == "__main__":
    main()
