# SPDX-License-Identifier: MIT
"""Several prismd on one PostgreSQL registry (active-active, docs/ha.md), with a real
PostgreSQL and a real PowerDNS started here on loopback: registrations spread over two and
three instances all resolve; `kill -9` of the instance holding the target's claim while
registrations go on → a survivor takes the claim within the lease, every acknowledged
registration resolves, nothing is deleted as an orphan; the killed instance restarted
rejoins; SIGTERM hands the claims over at once; GET /api/v1/cluster/instances, `prism
instances` and the metrics show the instances and claims."""
import os
import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from kealib import Postgres
from prismlib import PRISM, wait_for

ZONE = "managed.prism.local."
LEASE = 3
KEY = "read-key-0123456789"
API_YAML = f"""api:
  public_metrics: true
  keys:
    - {{name: reader, key: "{KEY}", role: read}}
"""

pytestmark = [
    pytest.mark.skipif(not os.path.exists("/usr/lib/postgresql/15/bin/initdb"),
                       reason="needs PostgreSQL 15 (scripts/deps.sh)"),
    pytest.mark.serial,  # handover deadlines are measured
]


@pytest.fixture
def pg():
    p = Postgres().start()
    p.psql("CREATE DATABASE prism_ha")
    yield p
    p.cleanup()


def start_instance(prismd_factory, pdns, pg, i, env=None):
    url = f"postgresql://postgres@127.0.0.1:{pg.port}/prism_ha"
    return prismd_factory(pdns, name=f"inst{i}", extra_yaml=API_YAML, env={
        "PRISM_DATABASE_TYPE": "postgresql", "PRISM_DATABASE_URL": url,
        "PRISM_HA_INSTANCE_ID": f"inst{i}", "PRISM_HA_LEASE_SECONDS": str(LEASE),
        **(env or {})})


def start_instances(prismd_factory, pdns, pg, n, env=None):
    return [start_instance(prismd_factory, pdns, pg, i, env) for i in range(n)]


def instances(d, known=True):
    """d's view of the instances; None before its first tick answered (503) unless
    @p known, where that fails."""
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/cluster/instances", timeout=10,
                     headers={"X-API-Key": KEY})
    if r.status_code == 503 and not known:
        return None
    assert r.status_code == 200, r.text
    return r.json()


def holder(d, claim):
    for c in instances(d)["claims"]:
        if c["name"] == claim and c["expires_in_ms"] > 0:
            return c["holder"]
    return None


# the claim of the one target the tests configure (prismlib names it "default")
CLAIM = "target:default"


def held_by(ds):
    """The instance of ds holding the target's claim, as every instance's view has it (or
    None). An instance that lets a claim go, and the others, see the new holder only at their
    next renewal, a third of a lease later: until all agree, the handover is not over."""
    hs = {holder(d, CLAIM) for d in ds}
    ids = [f"inst{i}" for i in range(len(ds))]
    h = hs.pop() if len(hs) == 1 else None
    return ds[ids.index(h)] if h in ids else None


def all_alive(ds):
    """Every instance alive in ds[0]'s view and the target's claim held."""
    v = instances(ds[0], known=False)
    if v is None:
        return False
    alive = {i["id"] for i in v["instances"] if i["alive"]}
    held = any(c["name"] == CLAIM and c["expires_in_ms"] > 0 for c in v["claims"])
    return alive == {f"inst{i}" for i in range(len(ds))} and held


def owned_a(pdns):
    """Names of the A RRsets in the zone."""
    z = pdns.api("GET", f"/zones/{ZONE}").json()
    return {r["name"] for r in z["rrsets"] if r["type"] == "A"}


@pytest.mark.parametrize("n", [2, 3])
def test_registrations_spread_all_resolve(pdns, prismd_factory, pg, n):
    ds = start_instances(prismd_factory, pdns, pg, n)
    wait_for(lambda: all_alive(ds), 20, what="instances see each other")
    names = [f"spread{n}-{i}" for i in range(30)]
    for i, h in enumerate(names):
        r = ds[i % n].register(h)
        assert r["status"] == "success", r
    for h in names:
        wait_for(lambda h=h: pdns.query(h + "." + ZONE) == ["127.0.0.1"], 15,
                 what=f"{h} resolves")
    v = instances(ds[-1])
    assert v["enabled"] and v["lease_seconds"] == LEASE
    assert sorted(i["id"] for i in v["instances"]) == [f"inst{i}" for i in range(n)]
    # each claim held by exactly one instance
    held = [c for i in v["instances"] for c in i["claims"]]
    assert len(held) == len(set(held)) and "liveness" in held
    assert any(c.startswith("target:") for c in held)
    # the CLI shows the same
    out = subprocess.run([PRISM, "--server", f"http://127.0.0.1:{ds[0].api_port}",
                          "--api-key", KEY, "instances"],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    for i in range(n):
        assert f"inst{i}" in out.stdout
    m = requests.get(f"http://127.0.0.1:{ds[0].api_port}/metrics", timeout=10)
    assert m.status_code == 200
    assert f"prism_ha_instances {n}" in m.text
    assert "prism_ha_db_connected 1" in m.text


class Load:
    """Registrations through the given instances in a thread; remembers what was acked and
    counts the registrations that got no answer (a socket error, or closed unanswered)."""

    def __init__(self, ds, prefix):
        self.ds = list(ds)
        self.prefix = prefix
        self.acked = []
        self.errors = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        i = 0
        while not self.stop.is_set():
            d = self.ds[i % len(self.ds)]
            h = f"{self.prefix}{i}"
            i += 1
            try:
                r = d.register(h)
            except OSError:
                r = None
            if r is None:
                self.errors += 1
                continue
            if r.get("status") == "success":
                self.acked.append(h)
            time.sleep(0.01)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join(30)


RECONCILED = f"target default: reconciled {ZONE}:"


def test_kill9_of_the_holder_under_load(pdns, prismd_factory, pg):
    # a reconcile pass every 2 s: whoever holds the target reconciles soon after a change
    ds = start_instances(prismd_factory, pdns, pg, 3, {"PRISM_SYNC_RECONCILE_INTERVAL": "2"})
    wait_for(lambda: all_alive(ds), 20, what="instances see each other")
    victim = wait_for(lambda: held_by(ds), LEASE + 5, interval=0.05,
                      what="the target's claim held")
    survivors = [d for d in ds if d is not victim]
    with Load(survivors, "k9-") as load:
        wait_for(lambda: len(load.acked) >= 20, 15, what="registrations under load")
        victim.kill()
        t_kill = time.monotonic()
        wait_for(lambda: holder(survivors[0], CLAIM) in ("inst%d" % ds.index(d)
                                                         for d in survivors),
                 LEASE + 5, what="a survivor holds the target's claim")
        took = time.monotonic() - t_kill
        n_at = len(load.acked)
        wait_for(lambda: len(load.acked) >= n_at + 20, 15, what="registrations go on")
    print(f"claim passed {took:.2f} s after kill -9; {len(load.acked)} acknowledged")
    assert took <= LEASE + 2
    assert load.errors == 0, "the survivors left registrations unanswered"
    for h in load.acked:
        wait_for(lambda h=h: pdns.query(h + "." + ZONE) == ["127.0.0.1"], 20,
                 what=f"{h} resolves")
    # nothing deleted as an orphan: every acknowledged name is still there
    a = owned_a(pdns)
    assert {h + "." + ZONE for h in load.acked} <= a
    # the killed instance rejoins
    seen = {id(d): len(d.read_log()) for d in ds}  # the logs so far (appended on restart)
    victim.start()
    wait_for(lambda: all_alive(ds), 20, what="the restarted instance rejoined")
    # whoever holds the target now (the restarted instance, if the claim went back to it)
    # reconciled the zone since, and pushed what that pass found: only then would an
    # orphan deletion have reached the server
    wait_for(lambda: (h := held_by(ds)) is not None and RECONCILED in h.read_log()[seen[id(h)]:],
             20, what="the target's holder reconciled after the rejoin")
    wait_for(lambda: pg.psql("SELECT count(*) FROM ledger WHERE status = 'pending'",
                             db="prism_ha") == "0", 20, what="nothing pending")
    assert {h + "." + ZONE for h in load.acked} <= owned_a(pdns)


class Via:
    """The test's PowerDNS as one prismd sees it: through a proxy that logs its requests."""

    def __init__(self, pdns, proxy):
        self.key = pdns.key
        self.api_url = proxy.api_url


def test_takeover_pushes_before_reading_the_zone(pdns, prismd_factory, pg):
    """The instance that takes the target over after a kill -9 pushes the rows due first
    (each checked by a DNS query) and reads the zone after, so a large zone does not hold
    the failover up: its first PATCH of the zone comes before its first read of it."""
    from test_gateway_limits import Proxy
    proxies = [Proxy(f"http://127.0.0.1:{pdns.api_port}") for _ in range(2)]
    try:
        # a reconcile pass every 2 s: a read is due whenever the survivor takes over
        ds = [start_instance(prismd_factory, Via(pdns, proxies[i]), pg, i,
                             {"PRISM_SYNC_RECONCILE_INTERVAL": "2"}) for i in range(2)]
        wait_for(lambda: all_alive(ds), 20, what="instances see each other")
        zone = f"/api/v1/servers/localhost/zones/{ZONE}"
        for i in range(10):
            assert ds[0].register(f"tk{i}")["status"] == "success"
        wait_for(lambda: pdns.query("tk9." + ZONE) == ["127.0.0.1"], 15, what="tk9 pushed")
        # the holder is the one that pushed last (the claim may have moved once at start),
        # and every instance agrees on it
        last = [max((t for t, m, p, _ in x.entries() if m == "PATCH" and p == zone),
                    default=0) for x in proxies]
        k = last.index(max(last))
        victim, survivor, log = ds[k], ds[1 - k], proxies[1 - k]
        wait_for(lambda: held_by(ds) is victim, LEASE + 5, interval=0.05,
                 what="every instance sees the pusher hold the target")
        victim.kill()
        mark = len(log.entries())
        assert survivor.register("after-kill")["status"] == "success"
        wait_for(lambda: pdns.query("after-kill." + ZONE) == ["127.0.0.1"], LEASE + 15,
                 what="the survivor's first push")
        wait_for(lambda: any(m == "GET" and p == zone for _, m, p, _ in log.entries()[mark:]),
                 20, what="the survivor's read of the zone")
        after = [(m, p) for _, m, p, _ in log.entries()[mark:] if p == zone]
        assert after.index(("PATCH", zone)) < after.index(("GET", zone)), after
    finally:
        for p in proxies:
            p.stop()


def test_sigterm_hands_over_at_once(pdns, prismd_factory, pg):
    ds = start_instances(prismd_factory, pdns, pg, 2)
    wait_for(lambda: all_alive(ds), 20, what="instances see each other")
    leaving = wait_for(lambda: held_by(ds), LEASE + 5, interval=0.05,
                       what="the target's claim held")
    other = next(d for d in ds if d is not leaving)
    other_id = f"inst{ds.index(other)}"
    t0 = time.monotonic()
    assert leaving.stop() == 0
    wait_for(lambda: holder(other, CLAIM) == other_id, LEASE + 2, interval=0.05,
             what="the other instance holds the claim")
    took = time.monotonic() - t0
    print(f"claim handed over {took:.2f} s after SIGTERM")
    # at once: renewals come every third of the lease, so a claim left to run out passes
    # two thirds of a lease (2 s) or more after the SIGTERM
    assert took < LEASE / 2, took
    r = other.register("after-term")
    assert r["status"] == "success"
    wait_for(lambda: pdns.query("after-term." + ZONE) == ["127.0.0.1"], 10,
             what="after-term resolves")


def test_postgres_restart_under_load(pdns, prismd_factory, pg):
    ds = start_instances(prismd_factory, pdns, pg, 2)
    wait_for(lambda: all_alive(ds), 20, what="instances see each other")
    with Load(ds, "pgr-") as load:
        wait_for(lambda: len(load.acked) >= 20, 15, what="registrations under load")
        pg.stop()
        # meanwhile: agents get an error answer (never a success), the API 503
        r = ds[0].register("while-down")
        assert r["status"] == "error", r
        assert requests.get(f"http://127.0.0.1:{ds[1].api_port}/api/v1/hosts", timeout=10,
                            headers={"X-API-Key": KEY}).status_code == 503
        time.sleep(LEASE + 1)
        pg.start()
        n_at = len(load.acked)
        wait_for(lambda: len(load.acked) >= n_at + 20, 30, what="registrations go on")
    # without the registry prismd answers at once, with an error: a registration left
    # unanswered (10 s) would be one caught in the reconnection itself
    print(f"{load.errors} registration(s) unanswered")
    assert load.errors <= 1, load.errors
    names = set(pg.psql("SELECT hostname FROM hosts", db="prism_ha").split())
    assert set(load.acked) <= names, "an acknowledged registration is not in the registry"
    assert "while-down" not in names
    for h in load.acked:
        wait_for(lambda h=h: pdns.query(h + "." + ZONE) == ["127.0.0.1"], 30,
                 what=f"{h} resolves")
    wait_for(lambda: all_alive(ds), 20, what="both instances alive again")


def keepalive_timer(port):
    """What ss -o shows as left on the keepalive timer of the established TCP connection
    from local @p port, in ss's units made one number (compare only with another such
    reading: the units ss prints vary with its version), or None without one."""
    out = subprocess.run(["ss", "-tnoH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=10).stdout
    m = re.search(r"timer:\(keepalive,([^,]*),", out)
    if m is None:
        return None
    scale = {"min": 60000, "sec": 1000, "ms": 1}
    parts = re.findall(r"([\d.]+)(min|sec|ms)", m.group(1))
    return sum(float(v) * scale[u] for v, u in parts) if parts else None


def keepalive_10s():
    """keepalive_timer of a connection with a 10 s keepalive idle, made here."""
    with socket.socket() as lsock, socket.socket() as c:
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 10)
        c.connect(lsock.getsockname())
        a, _ = lsock.accept()
        with a:
            return keepalive_timer(c.getsockname()[1])


def test_ha_connection_locks_no_ledger_and_has_the_backends_settings(pdns, prismd_factory, pg):
    """An instance's HA connection makes only its own tables (the ledger's trigger is a
    migration): it joins while a transaction holds a lock on ledger that a CREATE TRIGGER
    would wait for, and writes through the other instance are not queued behind it. It
    gets the backend's TCP keepalives (10 s idle), not the system's (2 hours)."""
    first = start_instance(prismd_factory, pdns, pg, 0)
    wait_for(lambda: all_alive([first]), 20, what="the first instance")
    triggers = pg.psql("SELECT tgname FROM pg_trigger WHERE tgrelid = 'ledger'::regclass "
                       "AND tgname LIKE 'prism_ha_dirty%' ORDER BY 1", db="prism_ha")
    assert triggers.split() == ["prism_ha_dirty_ins", "prism_ha_dirty_upd"]
    assert pg.psql("SELECT max(version) FROM schema_version", db="prism_ha") == "4"
    # a transaction that wrote to ledger, left open: ROW EXCLUSIVE, which CREATE TRIGGER's
    # SHARE ROW EXCLUSIVE waits for (and every later writer of ledger behind that)
    holder = subprocess.Popen(
        ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d",
         "prism_ha"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, PGAPPNAME="ledger-lock"))
    try:
        holder.stdin.write("BEGIN;\nLOCK TABLE ledger IN ROW EXCLUSIVE MODE;\n")
        holder.stdin.flush()
        wait_for(lambda: pg.psql(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE a.application_name = 'ledger-lock' AND l.granted "
            "AND l.relation = 'ledger'::regclass", db="prism_ha") == "1", 10,
            what="the lock on ledger held")
        second = start_instance(prismd_factory, pdns, pg, 1)
        ds = [first, second]
        wait_for(lambda: all_alive(ds), 20, what="the second instance joined under the lock")
        for i, d in enumerate(ds):
            r = d.register(f"locked{i}")
            assert r["status"] == "success", r
        for i in range(2):
            wait_for(lambda i=i: pdns.query(f"locked{i}.{ZONE}") == ["127.0.0.1"], 15,
                     what=f"locked{i} resolves")
    finally:
        holder.stdin.close()
        holder.wait(10)
    ports = pg.psql("SELECT client_port FROM pg_stat_activity "
                    "WHERE application_name = 'prismd ha'", db="prism_ha").split()
    assert len(ports) == 2, ports
    ten = keepalive_10s()
    assert ten is not None and ten > 0
    for port in ports:  # a sample may come while data is in flight (no keepalive timer)
        wait_for(lambda port=port: (keepalive_timer(port) or 1e18) <= ten * 1.05, 5,
                 what=f"the keepalive timer of port {port} at 10 s or less")
