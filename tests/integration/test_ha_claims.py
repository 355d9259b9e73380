# SPDX-License-Identifier: MIT
"""The claim protocol of active-active instances (src/store/ha_pg.c) against a real
PostgreSQL, with prism-ha-drill processes as instances: claims spread over two and three
instances; `kill -9` of a holder passes its claims to the survivors within the lease; a
restarted instance rejoins; SIGTERM hands claims over at once; PostgreSQL stopped → the
instances stop working under their claims before the leases run out, and carry on once it
is back. Throughout, no claim is ever worked under by two instances within WORK_MS of each
other (each drill prints a line per start of work, stamped with CLOCK_MONOTONIC, one clock
for every process of the host)."""
import collections
import os
import signal
import subprocess
import time

import pytest

from kealib import Postgres
from prismlib import BUILD, SANITIZER_MARKS, stop_pid, wait_for

DRILL = os.path.join(BUILD, "tests", "integration", "prism-ha-drill")
LEASE = 3  # seconds (ha.lease_seconds' lowest value: short drills)
WORK_MS = 200
CLAIMS = ["reconciler", "liveness", "kea-reservations"] + [f"target:pdns{i}" for i in range(9)]

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/usr/lib/postgresql/15/bin/initdb"),
                       reason="needs PostgreSQL 15 (scripts/deps.sh)"),
    pytest.mark.serial,  # handover deadlines are measured
]


def mono_ms():
    return time.clock_gettime(time.CLOCK_MONOTONIC) * 1000


class Drill:
    def __init__(self, tmp, conninfo, name):
        self.name = name
        self.out = os.path.join(tmp, f"{name}.out")
        self.err = os.path.join(tmp, f"{name}.err")
        self.conninfo = conninfo
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [DRILL, self.conninfo, self.name, str(LEASE), str(WORK_MS), str(WORK_MS)] + CLAIMS,
            stdout=open(self.out, "a"), stderr=open(self.err, "a"))
        return self

    def works(self):
        """[(claim, monotonic ms)] of every start of work so far."""
        with open(self.out) as f:
            return [(p[1], int(p[2])) for p in (ln.split() for ln in f)
                    if len(p) == 3 and p[0] == "W"]

    def lines(self, kind):
        with open(self.out) as f:
            return [ln.split() for ln in f if ln.startswith(kind + " ")]

    def changes(self):
        """[(monotonic ms, set of claims held)] of every change of its claims."""
        return [(int(p[1]), set(p[2].split(",")) if len(p) > 2 else set())
                for p in self.lines("C")]


@pytest.fixture
def pg():
    p = Postgres().start()
    p.psql("CREATE DATABASE prism")
    yield p
    p.cleanup()


@pytest.fixture
def drills(pg, tmp_path):
    conninfo = f"host=127.0.0.1 port={pg.port} dbname=prism user=postgres connect_timeout=2"
    made = []

    def make(name):
        d = Drill(str(tmp_path), conninfo, name)
        made.append(d)
        return d.start()
    yield make
    for d in made:
        if d.proc is not None:
            stop_pid(d.proc)
    assert_exclusive(made)
    for d in made:
        with open(d.err, errors="replace") as f:
            err = f.read()
        found = [m for m in SANITIZER_MARKS if m in err]
        assert not found, f"sanitizer report from {d.name}:\n{err[-3000:]}"


def assert_exclusive(drills):
    """No claim worked under by two instances within WORK_MS of each other."""
    ev = collections.defaultdict(list)
    for d in drills:
        for claim, t in d.works():
            ev[claim].append((t, d.name))
    for claim, v in ev.items():
        v.sort()
        for (t0, a), (t1, b) in zip(v, v[1:]):
            assert a == b or t1 - t0 >= WORK_MS, \
                f"{claim}: {a} at {t0} and {b} at {t1} ms"


def holders(drills, since):
    """claim -> set of instances that worked under it since monotonic ms @p since."""
    h = collections.defaultdict(set)
    for d in drills:
        for claim, t in d.works():
            if t >= since:
                h[claim].add(d.name)
    return h


def all_held(drills, alive, after=0):
    """Every claim worked under lately (and after monotonic ms @p after), each by one live
    instance, all of them having some."""
    since = max(mono_ms() - 300, after)
    h = holders(drills, since)
    return (set(h) == set(CLAIMS) and all(len(v) == 1 for v in h.values())
            and set().union(*h.values()) == {d.name for d in alive})


def first_work_after(drills, claims, t):
    """claim -> the first monotonic ms at or after @p t anyone worked under it."""
    first = {}
    for d in drills:
        for claim, w in d.works():
            if claim in claims and w >= t and (claim not in first or w < first[claim]):
                first[claim] = w
    return first


@pytest.mark.parametrize("n", [2, 3])
def test_claims_spread(drills, n):
    ds = [drills(f"host{i}:8080") for i in range(n)]
    wait_for(lambda: all_held(ds, ds), 15, what=f"every claim held, spread over {n}")


def test_kill9_passes_claims_within_the_lease(drills):
    ds = [drills(f"host{i}:8080") for i in range(3)]
    wait_for(lambda: all_held(ds, ds), 15, what="claims spread")
    victim = next(d for d in ds if "reconciler" in holders(ds, mono_ms() - 300)
                  and d.name in holders(ds, mono_ms() - 300)["reconciler"])
    theirs = {c for c, v in holders([victim], mono_ms() - 300).items() if v}
    t_kill = mono_ms()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(5)
    survivors = [d for d in ds if d is not victim]
    wait_for(lambda: set(first_work_after(survivors, theirs, t_kill)) == theirs,
             LEASE + 3, what="the victim's claims taken over")
    first = first_work_after(survivors, theirs, t_kill)
    worst = max(first.values()) - t_kill
    # the database frees them at most a lease after the victim's last renewal (before the
    # kill); the survivor asks just after, and works at its next 20 ms step
    assert worst <= LEASE * 1000 + 500, f"claims passed after {worst:.0f} ms"
    wait_for(lambda: all_held(ds, survivors), 5, what="all claims on the survivors")
    # the victim rejoins and gets its share back
    victim.start()
    wait_for(lambda: all_held(ds, ds), 15, what="the restarted instance rejoined")


def test_sigterm_hands_over_at_once(drills):
    ds = [drills(f"host{i}:8080") for i in range(2)]
    wait_for(lambda: all_held(ds, ds), 15, what="claims spread")
    leaving = ds[0]
    theirs = {c for c, v in holders([leaving], mono_ms() - 300).items() if v}
    assert theirs
    t_term = mono_ms()
    leaving.proc.send_signal(signal.SIGTERM)
    assert leaving.proc.wait(5) == 0
    assert leaving.lines("L"), "the release was not confirmed"
    wait_for(lambda: set(first_work_after(ds[1:], theirs, t_term)) == theirs, LEASE,
             what="claims handed over")
    worst = max(first_work_after(ds[1:], theirs, t_term).values()) - t_term
    # at once: a notification, not a lease running out
    assert worst < LEASE * 1000 / 2, f"handover took {worst:.0f} ms"


def test_postgres_down_fences_then_recovers(pg, drills):
    ds = [drills(f"host{i}:8080") for i in range(2)]
    wait_for(lambda: all_held(ds, ds), 15, what="claims spread")
    pg.stop("immediate")
    t_down = mono_ms()

    def fenced(d):
        """When d, without the database, let its claims go by its own clock (or None)."""
        return next((t for t, held in d.changes() if t >= t_down and not held), None)
    wait_for(lambda: all(fenced(d) for d in ds), LEASE + 5, what="every instance fenced")
    # every instance stopped working under its claims before its lease could run out
    for d in ds:
        assert fenced(d) < t_down + LEASE * 1000, (d.name, fenced(d) - t_down)
    t_up = mono_ms()
    pg.start()

    def back(d):
        """When d held claims again after its fence (or None)."""
        return next((t for t, held in d.changes() if t > fenced(d) and held), None)
    # work under stale claims would count as held: only what came after the restart does
    wait_for(lambda: all_held(ds, ds, after=t_up) and all(back(d) for d in ds), 20,
             what="claims taken again after the restart")
    for d in ds:
        assert d.proc.poll() is None
        # and worked under none until it held claims again, once the database was back
        t_fence = fenced(d)
        assert back(d) >= t_up, (d.name, back(d) - t_up)
        late = [(c, t) for c, t in d.works() if t_fence < t < back(d)]
        assert not late, f"{d.name} worked while fenced: {late[:3]}"
