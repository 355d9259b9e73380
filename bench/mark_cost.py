#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What Prism's ownership mark costs PowerDNS (gsqlite3), side by side in one run.

On one PowerDNS (its first large PATCH warmed up on a zone of its own), N RRsets are
written in PATCHes of 10,000 into fresh zones, each way in turn and the whole series
ROUNDS times (the machine's noise shows in the spread):

  bare      the records alone
  mark      with the comment Prism writes (account = owner id, content naming the instance)
  short     with a comment of empty content (does the comment's size matter?)

and then the same N RRsets changed once more (new address), in the zone written with marks:

  rewrite   with the comment sent again (what every change cost before)
  keep      without "comments" (PowerDNS keeps the mark: what a change of an RRset the
            check found marked costs now)

usage: bench/mark_cost.py [N] [ROUNDS]   (defaults 100000, 2)
"""
import os
import statistics
import sys
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from prismlib import PowerDNS  # noqa

BATCH = 10000
COMMENT = "managed by prism instance prism"


def call(p, method, path, **kw):
    return requests.request(method, f"{p.api_url}/servers/localhost{path}",
                            headers={"X-API-Key": p.key}, timeout=300, **kw)


def write(p, zone, n, comment, ip="127.0.0.1"):
    """Seconds to write n A RRsets into zone; comment None = no "comments" key."""
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        rrsets = []
        for k in range(i, min(n, i + BATCH)):
            rr = {"name": f"h{k}.{zone}", "type": "A", "ttl": 60, "changetype": "REPLACE",
                  "records": [{"content": ip, "disabled": False}]}
            if comment is not None:
                rr["comments"] = [{"content": comment, "account": "prism"}]
            rrsets.append(rr)
        r = call(p, "PATCH", f"/zones/{zone}", json={"rrsets": rrsets})
        assert r.status_code == 204, r.text
    return time.perf_counter() - t0


def zone(p, name):
    r = call(p, "POST", "/zones", json={"name": name, "kind": "Native",
                                        "nameservers": ["ns1." + name]})
    assert r.status_code == 201, r.text
    return name


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    p = PowerDNS().start()  # webserver-max-bodysize=64: 10k-RRset PATCHes fit
    try:
        write(p, zone(p, "warm.test."), BATCH, None)
        t = {k: [] for k in ("bare", "mark", "short", "rewrite", "keep")}
        for r in range(rounds):
            t["bare"].append(write(p, zone(p, f"bare{r}.test."), n, None))
            marked = zone(p, f"mark{r}.test.")
            t["mark"].append(write(p, marked, n, COMMENT))
            t["short"].append(write(p, zone(p, f"short{r}.test."), n, ""))
            t["rewrite"].append(write(p, marked, n, COMMENT, ip="127.0.0.2"))
            t["keep"].append(write(p, marked, n, None, ip="127.0.0.3"))
        z = call(p, "GET", f"/zones/mark0.test.").json()
        kept = sum(1 for rr in z["rrsets"] if rr["type"] == "A" and rr["comments"])
        assert kept == n, f"only {kept} of {n} RRsets kept their mark"
        med = {k: statistics.median(v) for k, v in t.items()}
        print(f"PowerDNS gsqlite3, {n} A RRsets in PATCHes of {BATCH}, {rounds} round(s), "
              f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
        for k, v in t.items():
            print(f"  {k:8s} median {med[k]:6.2f} s   runs " +
                  " ".join(f"{x:.2f}" for x in v))
        print(f"  creation: the mark costs {med['mark'] / med['bare'] - 1:+.0%} over the "
              f"records alone; an empty comment {med['short'] / med['bare'] - 1:+.0%}")
        print(f"  change: rewriting the mark {med['rewrite'] / med['keep'] - 1:+.0%} over "
              f"keeping it (every one of the {n} marks still there afterwards)")
    finally:
        p.cleanup()


if __name__ == "__main__":
    main()
