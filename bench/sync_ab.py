#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Bulk sync of two prismd builds, interleaved, against the direct-PATCH floors, in one run.

On a busy machine two separate runs of sync_bench.py differ by 2-3x for the same build;
interleaving A, B and the floors ROUNDS times and comparing medians shows what a change
does. N hosts are registered (target paused) into a registry; each measurement starts
the build on a copy of its own registry (each build registers them once, so each meets its
own schema) against a fresh PowerDNS with the defaults (1.5 MiB bodies,
5,000 RRsets a request) and times until every RRset is synced. The floors write the same
RRsets directly in 10k-RRset PATCHes, with and without the ownership comment.

usage: bench/sync_ab.py BUILD_A BUILD_B [N] [ROUNDS]   (defaults 100000, 3)
"""
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import prismlib  # noqa
from prismlib import PowerDNS, Prismd, wait_for  # noqa
from sync_bench import floor_bulk, register_many, synced, targets_yaml  # noqa


def prismd_of(build):
    return os.path.join(os.path.abspath(build), "src", "daemon", "prismd")


def one_sync(build, work, saved, n):
    p = PowerDNS().start()
    try:
        d = Prismd(work, extra_yaml=targets_yaml(p, tuned=False))
        shutil.copyfile(saved, d.db)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(d.db + suffix):
                os.unlink(d.db + suffix)
        prismlib.PRISMD = prismd_of(build)
        t0 = time.perf_counter()
        d.start(wait=False)
        wait_for(lambda: synced(d) == n, 900, interval=0.05, what="bulk sync")
        t = time.perf_counter() - t0
        assert d.stop() == 0
        return t
    finally:
        p.cleanup()


def one_floor(names, comments):
    p = PowerDNS().start()
    try:
        floor_bulk(p, names[:10000], zone="warm.prism.local.")
        return floor_bulk(p, names, comments=comments)
    finally:
        p.cleanup()


def main():
    a, b = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    names = [f"bulk{i}" for i in range(n)]
    root = tempfile.mkdtemp(prefix="prism-syncab-")
    # each build registers the hosts into a registry of its own: a build meets its own schema
    # (an older one refuses a newer registry; a newer one would time its migration)
    saved = {}
    for key, build in (("A", a), ("B", b)):
        p = PowerDNS().start()
        try:
            prismlib.PRISMD = prismd_of(build)
            d = Prismd(os.path.join(root, f"reg-{key}"),
                       extra_yaml=targets_yaml(p, paused=True, tuned=False))
            d.start()
            register_many(d, names)
            assert d.stop() == 0
            saved[key] = os.path.join(root, f"registry-{key}.db")
            shutil.copyfile(d.db, saved[key])
        finally:
            p.cleanup()
    t = {"A": [], "B": [], "floor, marked": [], "floor, bare": []}
    for r in range(rounds):
        t["A"].append(one_sync(a, os.path.join(root, f"a{r}"), saved["A"], n))
        t["B"].append(one_sync(b, os.path.join(root, f"b{r}"), saved["B"], n))
        t["floor, marked"].append(one_floor(names, True))
        t["floor, bare"].append(one_floor(names, False))
        print(f"round {r + 1}: " + "  ".join(f"{k} {v[-1]:.2f} s" for k, v in t.items()),
              flush=True)
    med = {k: statistics.median(v) for k, v in t.items()}
    print(f"bulk sync of {n} hosts, defaults, {rounds} interleaved rounds, nproc "
          f"{os.cpu_count()}, load {os.getloadavg()[0]:.1f}")
    print(f"  A = {a}\n  B = {b}")
    for k, v in t.items():
        print(f"  {k:14s} median {med[k]:6.2f} s   runs " + " ".join(f"{x:.2f}" for x in v))
    for k in ("A", "B"):
        print(f"  {k}: {med['floor, marked'] / med[k]:.2f}x the marked floor, "
              f"{med['floor, bare'] / med[k]:.2f}x the bare floor")
    print(f"  B / A time: {med['B'] / med['A']:.2f}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
