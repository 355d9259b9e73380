# SPDX-License-Identifier: MIT
"""End to end: agents register, records appear at a real PowerDNS."""
from prismlib import wait_for

ZONE = "managed.prism.local."


def resolves(pdns, name, want, rdtype="A"):
    return wait_for(lambda: pdns.query(name, rdtype) == want, 10,
                    what=f"{name} {rdtype} -> {want}")


def test_new_host_resolves(pdns, prismd):
    r = prismd.register("web1")
    assert r["status"] == "success"
    assert r["message"] == "New host registered with IP 127.0.0.1"
    assert list(r)[:5] == ["version", "type", "status", "message", "timestamp"]
    resolves(pdns, "web1." + ZONE, ["127.0.0.1"])
    host = wait_for(lambda: (h := prismd.host("web1")) and h["dns_sync_status"] == "synced"
                    and h, what="dns_sync_status synced")
    assert host["dns_zone"] == ZONE
    assert host["dns_record_id"] == "web1." + ZONE
    assert host["dns_ttl"] == 60
    assert host["status"] == "online"
    assert host["dns_last_sync"] is not None
    # the record is marked as Prism's own
    rr = pdns.rrset(ZONE, "web1." + ZONE, "A")
    assert rr["ttl"] == 60
    assert any(c["account"] == "prism" for c in rr["comments"])


def test_zone_created_when_missing(pdns, prismd):
    prismd.register("first")
    resolves(pdns, "first." + ZONE, ["127.0.0.1"])
    z = pdns.api("GET", f"/zones/{ZONE}").json()
    assert z["kind"] == "Native"
    assert any(rr["type"] == "NS" for rr in z["rrsets"])


def test_heartbeat_same_address(pdns, prismd):
    assert prismd.register("hb")["message"].startswith("New host registered")
    resolves(pdns, "hb." + ZONE, ["127.0.0.1"])
    r = prismd.register("hb")
    assert r["status"] == "success"
    assert r["message"] == "Heartbeat updated"
    assert pdns.query("hb." + ZONE) == ["127.0.0.1"]


def test_address_change_replaces_record(pdns, prismd):
    prismd.register("mover")
    resolves(pdns, "mover." + ZONE, ["127.0.0.1"])
    r = prismd.register("mover", source="127.0.0.2")
    assert r["message"] == "IP address changed from 127.0.0.1 to 127.0.0.2"
    resolves(pdns, "mover." + ZONE, ["127.0.0.2"])
    h = prismd.host("mover")
    assert h["current_ip"] == "127.0.0.2"


def test_hostname_case_insensitive(pdns, prismd):
    prismd.register("MixedCase")
    r = prismd.register("mixedcase")
    assert r["message"] == "Heartbeat updated"
    resolves(pdns, "mixedcase." + ZONE, ["127.0.0.1"])
    assert prismd.db_query("SELECT count(*) FROM hosts")[0][0] == 1


def test_powerdns_down_registration_still_succeeds(pdns, prismd):
    prismd.register("before")
    resolves(pdns, "before." + ZONE, ["127.0.0.1"])
    pdns.stop()
    r = prismd.register("during")
    assert r["status"] == "success"
    assert r["message"] == "New host registered with IP 127.0.0.1"
    # the failed push shows on the host, not on the registration
    wait_for(lambda: prismd.host("during")["dns_sync_status"] in ("failed", "pending"),
             what="sync status failed/pending")
    wait_for(lambda: prismd.host("during")["dns_sync_status"] == "failed", 10,
             what="sync status failed after a push attempt")
    # PowerDNS back: the engine converges by itself
    pdns.start()
    resolves(pdns, "during." + ZONE, ["127.0.0.1"])
    wait_for(lambda: prismd.host("during")["dns_sync_status"] == "synced", 10,
             what="sync status synced after recovery")


def test_pending_rows_pushed_after_restart(pdns, prismd_factory):
    """Level-triggered: what was committed while PowerDNS was down goes out after restart."""
    pdns.stop()
    d = prismd_factory(pdns)
    assert d.register("queued")["status"] == "success"
    assert d.stop() == 0
    pdns.start()
    d.start()
    resolves(pdns, "queued." + ZONE, ["127.0.0.1"])


def test_dns_disabled(prismd_factory):
    d = prismd_factory(None)
    r = d.register("nodns")
    assert r["status"] == "success"
    assert d.host("nodns")["dns_sync_status"] == "disabled"
    assert d.db_query("SELECT count(*) FROM ledger")[0][0] == 0


def test_many_hosts_converge(pdns, prismd):
    names = [f"bulk{i}" for i in range(200)]
    for n in names:
        assert prismd.register(n)["status"] == "success"
    wait_for(lambda: prismd.db_query(
        "SELECT count(*) FROM hosts WHERE dns_sync_status = 'synced'")[0][0] == len(names),
        20, what="all hosts synced")
    for n in names[::37]:
        assert pdns.query(n + "." + ZONE) == ["127.0.0.1"]



def test_zone_deleted_behind_our_back_is_recreated(pdns, prismd):
    prismd.register("early")
    resolves(pdns, "early." + ZONE, ["127.0.0.1"])
    assert pdns.api("DELETE", f"/zones/{ZONE}").status_code == 204
    prismd.register("late")
    resolves(pdns, "late." + ZONE, ["127.0.0.1"])


def test_wrong_api_key_reported_on_host(pdns, prismd_factory):
    real = pdns.key
    pdns.key = "not-the-key"
    try:
        d = prismd_factory(pdns)
    finally:
        pdns.key = real
    assert d.register("unauth")["status"] == "success"
    wait_for(lambda: "401" in (d.db_query(
        "SELECT coalesce(last_error, '') FROM ledger WHERE name = ?",
        ("unauth." + ZONE,)) or [("",)])[0][0] or "401" in d.read_log(), 10,
        what="401 reported")
    assert "401" in d.read_log()
