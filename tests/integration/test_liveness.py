# SPDX-License-Identifier: MIT
"""Heartbeat liveness with short configured intervals, and dual-stack hosts."""
import socket
import time

import pytest

from prismlib import frame, recv_frame, registration, wait_for

ZONE = "managed.prism.local."


def fast_heartbeat(offline_dns="keep", cleanup_days=30):
    return (f"heartbeat:\n  interval: 1\n  timeout_multiplier: 1\n  grace_period: 0\n"
            f"  check_interval: 1\n  offline_dns: {offline_dns}\n"
            f"  cleanup_after_days: {cleanup_days}\n")


def status(d, name):
    h = d.host(name)
    return h and h["status"]


def test_offline_then_reconnected_keep(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=fast_heartbeat("keep"))
    assert d.register("sleepy")["status"] == "success"
    wait_for(lambda: pdns.query("sleepy." + ZONE) == ["127.0.0.1"], what="record")
    wait_for(lambda: status(d, "sleepy") == "offline", 10, what="host offline")
    # keep: the record stays
    assert pdns.query("sleepy." + ZONE) == ["127.0.0.1"]
    r = d.register("sleepy")
    assert r["message"] == "Host reconnected"
    assert status(d, "sleepy") == "online"


def test_offline_remove_and_reconnect_with_new_ip(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=fast_heartbeat("remove"))
    assert d.register("roamer")["status"] == "success"
    wait_for(lambda: pdns.query("roamer." + ZONE) == ["127.0.0.1"], what="record")
    wait_for(lambda: status(d, "roamer") == "offline", 10, what="host offline")
    # remove: the record goes away
    wait_for(lambda: pdns.query("roamer." + ZONE) == [], 10, what="record removed")
    r = d.register("roamer", source="127.0.0.5")
    assert r["message"] == "Host reconnected with IP change from 127.0.0.1 to 127.0.0.5"
    wait_for(lambda: pdns.query("roamer." + ZONE) == ["127.0.0.5"], what="record back")


def test_reconnect_with_ip_change_updates_dns_keep(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=fast_heartbeat("keep"))
    d.register("mover")
    wait_for(lambda: status(d, "mover") == "offline", 10, what="host offline")
    r = d.register("mover", source="127.0.0.6")
    assert r["message"] == "Host reconnected with IP change from 127.0.0.1 to 127.0.0.6"
    wait_for(lambda: pdns.query("mover." + ZONE) == ["127.0.0.6"], what="record updated")


@pytest.mark.serial  # heartbeats every 0.3 s against a 1 s offline timeout
def test_heartbeats_keep_host_online(prismd_factory):
    d = prismd_factory(None, extra_yaml=fast_heartbeat())
    d.register("steady")
    end = time.monotonic() + 3
    while time.monotonic() < end:
        r = d.register("steady")
        assert r["message"] == "Heartbeat updated", r
        assert status(d, "steady") == "online"
        time.sleep(0.3)


def test_offline_counts_from_the_last_heartbeat(prismd_factory):
    """A host that beat often (most beats leave its stored expiry as it is) goes offline
    one offline period after its last heartbeat: not at an expiry stored earlier."""
    d = prismd_factory(None, extra_yaml=(
        "heartbeat:\n  interval: 2\n  timeout_multiplier: 2\n  grace_period: 0\n"
        "  check_interval: 1\n"))
    d.register("often")
    stored = set()
    for _ in range(8):
        time.sleep(0.5)
        assert d.register("often")["message"] == "Heartbeat updated"
        stored.add(d.db_query("SELECT expires_at - last_seen FROM hosts WHERE "
                              "hostname = 'often'")[0][0])
    last = d.db_query("SELECT last_seen FROM hosts WHERE hostname = 'often'")[0][0]
    assert min(stored) < 4, stored  # beats that left the stored expiry behind
    # online until last + 4 s (seconds are truncated: a second's margin), offline after
    while time.time() < last + 3:
        assert status(d, "often") == "online"
        time.sleep(0.2)
    wait_for(lambda: status(d, "often") == "offline", 10, what="host offline")
    assert time.time() >= last + 4


def test_cleanup_deletes_host_and_records(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=fast_heartbeat("keep", cleanup_days=1))
    d.register("old")
    d.register("young")
    wait_for(lambda: pdns.query("old." + ZONE) == ["127.0.0.1"], what="record")
    wait_for(lambda: status(d, "old") == "offline", 10, what="host offline")
    # pretend it has been silent for two days
    d.db_exec("UPDATE hosts SET last_seen = last_seen - 2 * 86400 WHERE hostname = 'old'")
    wait_for(lambda: d.host("old") is None, 10, what="host deleted")
    wait_for(lambda: pdns.query("old." + ZONE) == [], 10, what="record deleted")
    assert d.host("young") is not None
    assert pdns.query("young." + ZONE) == ["127.0.0.1"]


def plan(d, sql):
    return " ".join(str(r[-1]) for r in d.db_query("EXPLAIN QUERY PLAN " + sql))


def test_expiry_and_cleanup_use_their_indexes(prismd_factory):
    """The monitor's queries (as prismd runs them) walk their partial indexes, not every
    host: online agent hosts by expiry, offline hosts by last_seen."""
    d = prismd_factory(None)
    text = plan(d, "SELECT id FROM hosts WHERE status = 'online' AND expires_at < 0 "
                   "AND expires_at < 9223372036854775807 AND source = 'agent' "
                   "ORDER BY expires_at LIMIT 10")
    assert "hosts_expiry" in text and "TEMP B-TREE" not in text, text
    text = plan(d, "SELECT id FROM hosts WHERE status < 'online' AND last_seen < 0 "
                   "ORDER BY last_seen LIMIT 10")
    assert "hosts_stale" in text and "TEMP B-TREE" not in text, text
    # a heartbeat writes no index entry for last_seen (it had one per beat)
    idx = {r[0]: r[1] for r in d.db_query("SELECT name, sql FROM sqlite_master WHERE "
                                          "type = 'index' AND tbl_name = 'hosts'")}
    assert "hosts_liveness" not in idx, idx
    assert all("last_seen" not in (sql or "") or "status < 'online'" in sql
               for sql in idx.values()), idx


def summary_time(d):
    """The compatibility summary's last_registration, in unix seconds."""
    import calendar
    import json
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{d.api_port}/api/hosts/stats/summary",
                                 headers={"X-API-Key": "r3ad"})
    with urllib.request.urlopen(req, timeout=10) as r:
        t = json.load(r)["last_registration"]
    return calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) if t else None


def test_last_registration_follows_heartbeats(prismd_factory):
    """The summary's last registration is the newest heartbeat's time (kept by the writer,
    not read off an index), and a registry of the schema before it gets it from its hosts."""
    d = prismd_factory(None, extra_yaml="api:\n  keys:\n    - {name: ro, key: r3ad, role: read}\n")
    assert d.register("lr-a")["status"] == "success"
    first = d.db_query("SELECT last_seen FROM hosts WHERE hostname = 'lr-a'")[0][0]
    wait_for(lambda: summary_time(d) == first, 5, what="the first registration's time")
    time.sleep(1.1)
    assert d.register("lr-a")["message"] == "Heartbeat updated"
    beat = d.db_query("SELECT last_seen FROM hosts WHERE hostname = 'lr-a'")[0][0]
    assert beat > first
    wait_for(lambda: summary_time(d) == beat, 5, what="the heartbeat's time")
    d.stop()
    # schema 9: no meta row; the migration takes the newest last_seen of the hosts
    d.db_exec("DELETE FROM meta WHERE name = 'last_seen'")
    d.db_exec("UPDATE hosts SET last_seen = last_seen + 100")
    d.db_exec("PRAGMA user_version = 9")
    d.start()
    wait_for(lambda: summary_time(d) == beat + 100, 5, what="the migrated time")


def ipv6_available():
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_available(), reason="no IPv6 loopback")
def test_dual_stack_keeps_both_addresses(prismd_factory, pdns):
    d = prismd_factory(pdns, start=False)
    text = open(d.config).read().replace('host: "127.0.0.1"', 'host: ["127.0.0.1", "::1"]')
    open(d.config, "w").write(text)
    d.start()
    assert d.register("dual")["message"] == "New host registered with IP 127.0.0.1"
    with socket.create_connection(("::1", d.port), timeout=5) as s:
        s.sendall(frame(registration("dual")))
        r = recv_frame(s)
    assert r["status"] == "success"
    wait_for(lambda: pdns.query("dual." + ZONE, "AAAA") == ["::1"], what="AAAA")
    assert pdns.query("dual." + ZONE, "A") == ["127.0.0.1"]
    h = d.host("dual")
    assert h["ipv4"] == "127.0.0.1" and h["ipv6"] == "::1"
    # a heartbeat over IPv4 again keeps both
    assert d.register("dual")["message"] == "Heartbeat updated"
    assert pdns.query("dual." + ZONE, "AAAA") == ["::1"]
