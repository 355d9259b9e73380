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


def test_expiry_uses_index(prismd_factory):
    """The monitor's query walks the expiry index, not every host."""
    d = prismd_factory(None)
    plan = d.db_query("EXPLAIN QUERY PLAN SELECT id FROM hosts WHERE status = 'online' "
                      "AND expires_at <= 0 ORDER BY expires_at LIMIT 10")
    text = " ".join(str(r[-1]) for r in plan)
    assert "hosts_expiry" in text, text


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
