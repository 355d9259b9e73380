# SPDX-License-Identifier: MIT
"""A PostgreSQL primary switchover under prismd (docs/ha.md, "What fails over"): a real
primary and a streaming standby started here on loopback, synchronous replication on, so
every COMMIT prismd acknowledges is on the standby too; two prismd with both hosts in the
URL and target_session_attrs=read-write, registrations going on. The primary is stopped and
the standby promoted: registrations meanwhile get an error answer (never a success that was
not committed), then succeed again on the new primary, which prismd finds by itself; no
acknowledged registration is lost and every one resolves at a real PowerDNS."""
import os
import socket
import subprocess
import time

import pytest

from kealib import PGBIN, Postgres, _as_postgres
from prismlib import wait_for
from test_ha_prismd import Load

ZONE = "managed.prism.local."
DB = "prism_sw"

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/usr/lib/postgresql/15/bin/initdb"),
                       reason="needs PostgreSQL 15 (scripts/deps.sh)"),
    pytest.mark.serial,  # the time from promotion to the first registration is measured
]


class Standby(Postgres):
    """A hot standby of `primary`, streaming from it (pg_basebackup -R -X stream -c fast)."""

    def __init__(self, primary):
        super().__init__()
        subprocess.run(_as_postgres() + [f"{PGBIN}/pg_basebackup", "-D", self.data, "-h",
                                         "127.0.0.1", "-p", str(primary.port), "-U",
                                         "postgres", "-R", "-X", "stream", "-c", "fast",
                                         "--no-sync"],
                       check=True, capture_output=True, timeout=60)

    def promote(self):
        subprocess.run(_as_postgres() + [f"{PGBIN}/pg_ctl", "-D", self.data, "-w", "-t", "30",
                                         "promote"], check=True, capture_output=True)


@pytest.fixture
def pair():
    primary = Postgres().start()
    standby = None
    try:
        primary.psql(f"CREATE DATABASE {DB}")
        # the cluster runs with synchronous_commit=off on its command line; the role's own
        # setting outranks it, so prismd's commits wait for the standby
        primary.psql("ALTER ROLE postgres SET synchronous_commit = on")
        standby = Standby(primary).start()
        wait_for(lambda: primary.psql("SELECT state FROM pg_stat_replication") == "streaming",
                 30, what="the standby streams")
        # only now: with '*' set before a standby exists, every COMMIT would wait
        primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        primary.psql("SELECT pg_reload_conf()")
        wait_for(lambda: primary.psql("SELECT sync_state FROM pg_stat_replication") == "sync",
                 30, what="the standby is synchronous")
        yield primary, standby
    finally:
        if standby is not None:
            standby.cleanup()
        primary.cleanup()


def test_primary_switchover_under_load(pdns, prismd_factory, pair):
    primary, standby = pair
    url = (f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/{DB}"
           "?target_session_attrs=read-write&connect_timeout=2")
    ds = [prismd_factory(pdns, name=f"sw{i}", env={
        "PRISM_DATABASE_TYPE": "postgresql", "PRISM_DATABASE_URL": url,
        "PRISM_HA_INSTANCE_ID": f"sw{i}", "PRISM_HA_LEASE_SECONDS": "3"}) for i in range(2)]
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # a registration left unanswered fails the test
    try:
        with Load(ds, "sw-") as load:
            wait_for(lambda: len(load.acked) >= 30, 20, what="registrations under load")
            primary.stop("fast")
            n_down = len(load.acked)
            refused = []
            for i in range(5):  # nothing can commit now: every answer is an error
                h = f"down-{i}"
                r = ds[i % 2].register(h)
                assert r["status"] == "error", r
                refused.append(h)
            print(f"while down: {r}")
            assert len(load.acked) == n_down, "a success while no primary was up"
            standby.promote()
            t0 = time.monotonic()
            i = 0
            while True:
                h = f"after-{i}"
                r = ds[i % 2].register(h)
                if r["status"] == "success":
                    break
                refused.append(h)
                i += 1
                assert time.monotonic() - t0 < 60, f"no registration 60 s after promotion: {r}"
                time.sleep(0.05)
            took = time.monotonic() - t0
            first_ok = h
            n_at = len(load.acked)
            wait_for(lambda: len(load.acked) >= n_at + 30, 30, what="registrations go on")
    finally:
        socket.setdefaulttimeout(old)
    print(f"first registration {took:.2f} s after promotion; {len(load.acked)} acknowledged "
          f"({n_down} before the primary stopped), {len(refused)} refused, "
          f"{load.errors} connection errors")
    assert took < 60
    names = set(standby.psql("SELECT hostname FROM hosts", db=DB).split())
    lost = set(load.acked) - names
    assert not lost, f"acknowledged registrations lost in the switchover: {sorted(lost)}"
    assert first_ok in names
    assert not set(refused) & names, "a registration answered with an error was stored"
    for h in load.acked + [first_ok]:
        wait_for(lambda h=h: pdns.query(h + "." + ZONE) == ["127.0.0.1"], 30,
                 what=f"{h} resolves")
