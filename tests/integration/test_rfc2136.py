# SPDX-License-Identifier: MIT
"""RFC 2136 targets against real servers started here: BIND (named) and Knot DNS (knotd),
each with a TSIG key and dynamic zones on a free loopback port. Registrations, ownership by
companion TXT records and prerequisites, drift repair, a wrong key, an outage, and a
deployment of PowerDNS and BIND together."""

import pytest
import requests

from dnslib import Bind, Knot
from prismlib import wait_for

ZONE = "managed.prism.local."
REV = "127.in-addr.arpa."
API_KEYS = ("api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"
            "    - {name: ro, key: r3ad, role: read}\n")


def base_yaml(zones=(ZONE,), reconcile=1, ptr=False, health=30):
    y = f"powerdns:\n  default_zone: \"{ZONE}\"\n  default_ttl: 60\n  retry_delay: 0.2\n"
    if ptr:
        y += "  auto_ptr: true\n"
    y += "zones:\n" + "".join(f"  - name: {z}\n" for z in zones)
    y += (f"sync:\n  reconcile_interval: {reconcile}\n  retry_max: 5\n"
          f"  health_interval: {health}\n")
    return y + API_KEYS


@pytest.fixture
def bind():
    s = Bind([ZONE, REV]).start()
    yield s
    s.cleanup()


@pytest.fixture
def knot():
    s = Knot([ZONE, REV]).start()
    yield s
    s.cleanup()


def targets(d):
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/targets",
                     headers={"X-API-Key": "r3ad"}, timeout=5)
    return {t["name"]: t for t in r.json()["targets"]}


def ledger(d, name, target=None):
    sql = "SELECT status FROM ledger WHERE name = ?"
    args = (name,)
    if target:
        sql += " AND target = ?"
        args += (target,)
    return [r[0] for r in d.db_query(sql, args)]


def test_registrations_reach_bind_and_knot(prismd_factory, bind, knot):
    y = "targets:\n" + bind.target_yaml("bind") + knot.target_yaml("knot")
    d = prismd_factory(None, extra_yaml=base_yaml(zones=(ZONE, REV), ptr=True) + y)
    for i in range(20):
        assert d.register(f"web{i}", source=f"127.0.0.{i + 10}")["status"] == "success"
    for srv in (bind, knot):
        wait_for(lambda: srv.query("web19." + ZONE) == ["127.0.0.29"], 20,
                 what=f"{srv.kind}: last registration")
        assert srv.query("web0." + ZONE) == ["127.0.0.10"]
        wait_for(lambda: srv.query("29.0.0.127.in-addr.arpa.", "PTR") == ["web19." + ZONE],
                 20, what=f"{srv.kind}: PTR")
        # the companion names Prism as the owner
        assert srv.query("_prism-a.web0." + ZONE, "TXT") == [
            '"heritage=prism,prism/owner=prism"']
    wait_for(lambda: d.host("web19")["dns_sync_status"] == "synced", 20, what="synced")
    # an address change replaces the record (the companion guards the write)
    d.register("web0", source="127.0.0.99")
    for srv in (bind, knot):
        wait_for(lambda: srv.query("web0." + ZONE) == ["127.0.0.99"], 20,
                 what=f"{srv.kind}: repointed")
        wait_for(lambda: srv.query("10.0.0.127.in-addr.arpa.", "PTR") == [], 20,
                 what=f"{srv.kind}: old PTR gone")
    t = targets(d)
    assert t["bind"]["state"] == "ok" and t["knot"]["state"] == "ok"


@pytest.mark.parametrize("kind", ["bind", "knot"])
def test_foreign_record_is_left_alone_and_reported(prismd_factory, kind, request):
    srv = request.getfixturevalue(kind)
    d = prismd_factory(None, extra_yaml=base_yaml() + "targets:\n" + srv.target_yaml(kind))
    d.register("anchor")
    wait_for(lambda: srv.query("anchor." + ZONE) == ["127.0.0.1"], 15, what="zone ready")
    # someone else's record at a name Prism will want, written with nsupdate-like UPDATE
    assert srv.update(ZONE, lambda u: u.add("taken", 300, "A", "198.51.100.1")) == "NOERROR"
    assert d.register("taken")["status"] == "success"
    wait_for(lambda: ledger(d, "taken." + ZONE) == ["conflict"], 20, what="conflict recorded")
    assert srv.query("taken." + ZONE) == ["198.51.100.1"]
    assert srv.query("_prism-a.taken." + ZONE, "TXT") == []
    assert d.host("taken")["dns_sync_status"] == "failed"
    assert "conflict at taken." + ZONE in d.read_log()


def test_prerequisites_refuse_a_write_to_a_name_taken_meanwhile(prismd_factory, bind):
    """The foreign record appears after Prism's last read: the server itself refuses the
    update (its prerequisites fail), the RRset becomes a conflict, nothing is overwritten."""
    d = prismd_factory(None, extra_yaml=base_yaml(reconcile=3600) + "targets:\n" +
                       bind.target_yaml("bind"))
    d.register("anchor")
    wait_for(lambda: bind.query("anchor." + ZONE) == ["127.0.0.1"], 15, what="zone ready")
    assert bind.update(ZONE, lambda u: u.add("race", 300, "A", "198.51.100.2")) == "NOERROR"
    d.register("race")
    wait_for(lambda: "prerequisite failed" in d.read_log(), 15, what="prerequisite refusal")
    wait_for(lambda: ledger(d, "race." + ZONE) == ["conflict"], 20, what="conflict")
    assert bind.query("race." + ZONE) == ["198.51.100.2"]
    assert bind.query("anchor." + ZONE) == ["127.0.0.1"]


@pytest.mark.parametrize("kind", ["bind", "knot"])
def test_drift_is_repaired(prismd_factory, kind, request):
    srv = request.getfixturevalue(kind)
    d = prismd_factory(None, extra_yaml=base_yaml() + "targets:\n" + srv.target_yaml(kind))
    d.register("drift")
    d.register("orphan")
    wait_for(lambda: srv.query("orphan." + ZONE) == ["127.0.0.1"], 15, what="pushed")
    # the record deleted behind Prism's back (as with nsupdate "update delete")
    assert srv.update(ZONE, lambda u: u.delete("drift", "A")) == "NOERROR"
    assert srv.query("drift." + ZONE) == []
    wait_for(lambda: srv.query("drift." + ZONE) == ["127.0.0.1"], 20, what="drift repaired")
    # an owned record nobody wants any more is removed with its companion
    r = requests.delete(f"http://127.0.0.1:{d.api_port}/api/v1/hosts/orphan",
                        headers={"X-API-Key": "adm1n"}, timeout=5)
    assert r.status_code in (200, 204)
    wait_for(lambda: srv.query("orphan." + ZONE) == [], 20, what="deleted")
    wait_for(lambda: srv.query("_prism-a.orphan." + ZONE, "TXT") == [], 20,
             what="companion deleted")


def test_wrong_secret_is_unauthorised_without_a_retry_storm(prismd_factory, bind):
    from dnslib import new_secret
    y = base_yaml() + "targets:\n" + bind.target_yaml("bind", secret=new_secret())
    d = prismd_factory(None, extra_yaml=y)
    d.register("nokey")
    wait_for(lambda: targets(d)["bind"]["state"] == "unauthorised", 15,
             what="unauthorised state")
    t0 = targets(d)["bind"]
    assert "TSIG" in d.read_log() or "NOTAUTH" in d.read_log()
    # no retry storm: the next try waits retry_max (5 s), not a backoff step (0.2 s
    # doubling, with jitter: 1.6 s at most in the first four): at most one try in 2 s
    assert t0["retry_in"] > 2, t0
    t1 = wait_for(lambda: (t := targets(d)["bind"])["failures"] > t0["failures"] and t, 15,
                  what="the next try")
    assert t1["state"] == "unauthorised"
    assert t1["failures"] - t0["failures"] == 1 and t1["retry_in"] > 2, (t0, t1)
    assert bind.query("nokey." + ZONE) == []
    log = bind.read_log()
    assert "BADSIG" in log or "bad signature" in log or "tsig verify failure" in log


def test_tsig_secret_file_rotated_with_sighup(prismd_factory, bind, tmp_path):
    """The Vault Agent pattern for TSIG keys: tsig.secret_file rewritten (a temporary file
    renamed over it), then SIGHUP: the next updates are signed with the new secret."""
    import os
    import signal
    from dnslib import new_secret
    key = tmp_path / "bind.key"
    key.write_text(new_secret() + "\n")  # not the key BIND knows
    y = (base_yaml() + "targets:\n" + bind.target_yaml("bind").replace(
        f"secret: \"{bind.secret}\"", f"secret_file: \"{key}\""))
    d = prismd_factory(None, extra_yaml=y)
    d.register("rotated")
    wait_for(lambda: targets(d)["bind"]["state"] == "unauthorised", 15,
             what="unauthorised state")
    tmp = tmp_path / "bind.key.tmp"
    tmp.write_text(bind.secret + "\n")
    os.replace(tmp, key)
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: bind.query("rotated." + ZONE) == ["127.0.0.1"], 15,
             what="record signed with the new secret")
    assert "target bind: new API key" in d.read_log()


def test_server_stopped_during_a_burst_catches_up(prismd_factory, bind):
    d = prismd_factory(None, extra_yaml=base_yaml() + "targets:\n" + bind.target_yaml("bind"))
    for i in range(30):
        d.register(f"b{i}", source=f"127.0.1.{i + 1}")
    wait_for(lambda: bind.query("b29." + ZONE) == ["127.0.1.30"], 15, what="first burst")
    bind.stop()
    for i in range(30, 300):
        d.register(f"b{i}", source=f"127.0.{1 + i // 250}.{i % 250 + 1}")
    wait_for(lambda: targets(d)["bind"]["state"] == "backoff", 15, what="backoff")
    assert d.host("b299")["dns_sync_status"] == "pending"
    bind.start()  # the same directory: the zone and its journal come back
    wait_for(lambda: d.host("b299")["dns_sync_status"] == "synced", 30, what="caught up")
    names = {n for n, t, _ in bind.axfr(ZONE) if t == "A"}
    assert all(f"b{i}.{ZONE}" in names for i in range(300))
    assert targets(d)["bind"]["state"] == "ok"


def test_powerdns_and_bind_converge_together(prismd_factory, pdns, bind):
    y = (base_yaml() + "targets:\n" +
         f"  - name: pdns\n    api_url: \"{pdns.api_url}\"\n    api_key: \"{pdns.key}\"\n" +
         bind.target_yaml("bind"))
    d = prismd_factory(None, extra_yaml=y)
    for i in range(50):
        d.register(f"m{i}", source=f"127.0.2.{i + 1}")
    wait_for(lambda: bind.query("m49." + ZONE) == ["127.0.2.50"] and
             pdns.query("m49." + ZONE) == ["127.0.2.50"], 20, what="both targets")
    d.register("m0", source="127.0.3.1")
    wait_for(lambda: bind.query("m0." + ZONE) == ["127.0.3.1"] and
             pdns.query("m0." + ZONE) == ["127.0.3.1"], 20, what="both repointed")
    # the results are recorded just after the records answer
    wait_for(lambda: sorted(d.db_query("SELECT target, status, count(*) FROM ledger "
                                       "GROUP BY target, status")) ==
             [("bind", "synced", 50), ("pdns", "synced", 50)], 10, what="both ledgers synced")
    # the plan compares both, and both are in step
    plan = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/sync/plan",
                        headers={"X-API-Key": "r3ad"}, timeout=10).json()
    by = {z["target"]: z for z in plan["zones"]}
    assert by["bind"]["changes"] == [] and by["bind"]["in_sync"] == 50
    assert by["pdns"]["changes"] == []


def test_missing_zone_is_reported_not_created(prismd_factory, bind):
    """A zone the server does not have is reported and set aside (never created); the
    target's other zones go on."""
    other = "absent.prism.local."
    y = base_yaml(zones=(other, ZONE), health=1) + "targets:\n" + bind.target_yaml("bind")
    d = prismd_factory(None, extra_yaml=y)
    wait_for(lambda: f"zone {other} is not served by the server" in d.read_log(), 15,
             what="missing zone reported")
    assert "zones are not created on RFC 2136 targets" in d.read_log()
    d.register("present")
    wait_for(lambda: bind.query("present." + ZONE) == ["127.0.0.1"], 15,
             what="the other zone goes on")
    assert bind.query(other, "SOA") == []
    t = targets(d)["bind"]
    assert t["state"] == "ok" and t["zone_ready"] is False
    # the health check (a signed transfer check, SOA queries) sees it missing too
    wait_for(lambda: targets(d)["bind"]["health"]["zones_missing"] == 1, 15,
             what="health: zone missing")
    h = targets(d)["bind"]["health"]
    assert h["state"] == "degraded" and other in h["reason"]


@pytest.mark.parametrize("algorithm", ["hmac-sha1", "hmac-sha224", "hmac-sha256",
                                       "hmac-sha384", "hmac-sha512"])
def test_every_tsig_algorithm(prismd_factory, algorithm, tmp_path):
    """Each algorithm of the configuration signs updates and transfers BIND accepts, and
    Prism checks BIND's signed answers (a transfer is read before anything is pushed)."""
    srv = Bind([ZONE], algorithm=algorithm).start()
    try:
        key_file = tmp_path / "bind.key"
        key_file.write_text(srv.secret + "\n")
        y = srv.target_yaml("bind").replace(f"      secret: \"{srv.secret}\"\n",
                                            f"      secret_file: \"{key_file}\"\n")
        d = prismd_factory(None, extra_yaml=base_yaml() + "targets:\n" + y)
        d.register("alg")
        wait_for(lambda: srv.query("alg." + ZONE) == ["127.0.0.1"], 15, what="pushed")
        wait_for(lambda: d.read_log().count("reconciled " + ZONE) >= 2, 15,
                 what="a transfer after the push")
        assert "reconciled managed.prism.local.: 1 in step" in d.read_log()
        assert targets(d)["bind"]["state"] == "ok"
    finally:
        srv.cleanup()


def test_kea_requests_reach_knot(prismd_factory):
    """Kea's DDNS requests (NameChangeRequests) go through the same engine: the A record and
    its PTR appear on Knot, and the RELEASE removes both with their companions."""
    from kealib import ncr, send_udp, wait_sources
    from prismlib import free_port
    srv = Knot(["lab.test.", "10.in-addr.arpa."]).start()
    try:
        port = free_port(udp_too=True)
        y = (f"powerdns:\n  default_zone: lab.test.\n  retry_delay: 0.2\nzones:\n"
             "  - name: lab.test.\n  - name: 10.in-addr.arpa.\n"
             f"kea:\n  ncr:\n    enabled: true\n    listen: \"127.0.0.1:{port}\"\n"
             + API_KEYS + "  public_metrics: true\n" + "targets:\n" + srv.target_yaml("knot"))
        wait_sources(prismd_factory(None, extra_yaml=y))
        send_udp(port, ncr("client1.lab.test.", "10.99.0.100", length=1200))
        wait_for(lambda: srv.query("client1.lab.test.") == ["10.99.0.100"], 15, what="A")
        wait_for(lambda: srv.query("100.0.99.10.in-addr.arpa.", "PTR") ==
                 ["client1.lab.test."], 15, what="PTR")
        assert srv.query("_prism-ptr.100.0.99.10.in-addr.arpa.", "TXT") == [
            '"heritage=prism,prism/owner=prism"']
        send_udp(port, ncr("client1.lab.test.", "10.99.0.100", change=1))
        wait_for(lambda: srv.query("client1.lab.test.") == [], 15, what="A gone")
        wait_for(lambda: srv.query("100.0.99.10.in-addr.arpa.", "PTR") == [], 15,
                 what="PTR gone")
        assert srv.query("_prism-a.client1.lab.test.", "TXT") == []
    finally:
        srv.cleanup()
