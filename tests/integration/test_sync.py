# SPDX-License-Identifier: MIT
"""The sync engine against real PowerDNS servers: several targets, outages, restarts,
drift repair, ownership conflicts, quarantine, new targets catching up."""
import os
import signal


from prismlib import wait_for

ZONE = "managed.prism.local."


def targets_yaml(*servers, adopt=False, paused=()):
    y = "targets:\n"
    for i, p in enumerate(servers):
        name = f"pdns{i + 1}"
        y += (f"  - name: {name}\n    api_url: \"{p.api_url}\"\n    api_key: \"{p.key}\"\n"
              f"    adopt: {'true' if adopt else 'false'}\n"
              f"    paused: {'true' if name in paused else 'false'}\n")
    return y


SYNC_FAST = "sync:\n  reconcile_interval: 1\n"


def converged(d, n):
    return d.db_query("SELECT count(*) FROM hosts WHERE dns_sync_status = 'synced'")[0][0] == n


def test_two_targets_converge(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns, pdns2))
    names = [f"dual{i}" for i in range(50)]
    for n in names:
        assert d.register(n)["status"] == "success"
    for p in (pdns, pdns2):
        for n in names[::7]:
            wait_for(lambda: p.query(n + "." + ZONE) == ["127.0.0.1"], 15,
                     what=f"{n} at {p.api_url}")
    wait_for(lambda: converged(d, len(names)), 15, what="all synced")
    rows = d.db_query("SELECT target, count(*) FROM ledger WHERE status = 'synced' "
                      "GROUP BY target ORDER BY target")
    assert rows == [("pdns1", 50), ("pdns2", 50)]


def test_one_target_down_during_burst(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns, pdns2))
    d.register("warm")
    wait_for(lambda: converged(d, 1), 15, what="warm synced")
    pdns2.stop()
    names = [f"burst{i}" for i in range(100)]
    for n in names:
        assert d.register(n)["status"] == "success"
    # the live target gets everything; the dead one keeps them pending/failed
    wait_for(lambda: pdns.query(names[-1] + "." + ZONE) == ["127.0.0.1"], 15,
             what="live target has the burst")
    states = {s for (s,) in d.db_query(
        "SELECT DISTINCT dns_sync_status FROM hosts WHERE hostname LIKE 'burst%'")}
    assert states <= {"pending", "failed"}, states
    pdns2.start()
    wait_for(lambda: converged(d, 101), 40, what="everything synced after the restart")
    for n in names[::9]:
        assert pdns2.query(n + "." + ZONE) == ["127.0.0.1"]


def test_kill9_during_sync_then_converges(prismd_factory, pdns):
    d = prismd_factory(pdns)
    acked = []
    for i in range(300):
        r = d.register(f"k{i}")
        assert r["status"] == "success"
        acked.append(f"k{i}")
        if i == 150:
            os.kill(d.proc.pid, signal.SIGKILL)
            d.proc.wait()
            d.proc = None
            d.logf.close()
            d.start()
    wait_for(lambda: converged(d, len(acked)), 40, what="all acknowledged hosts synced")
    for n in acked[::25]:
        assert pdns.query(n + "." + ZONE) == ["127.0.0.1"]


def test_drift_repaired(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=SYNC_FAST)
    d.register("drifty")
    d.register("gone")
    wait_for(lambda: pdns.query("gone." + ZONE) == ["127.0.0.1"], what="records")
    wait_for(lambda: converged(d, 2), what="synced")
    comment = [{"content": "managed by prism instance prism", "account": "prism"}]
    body = {"rrsets": [
        {"name": "drifty." + ZONE, "type": "A", "ttl": 60, "changetype": "REPLACE",
         "records": [{"content": "192.0.2.66", "disabled": False}], "comments": comment},
        {"name": "gone." + ZONE, "type": "A", "changetype": "DELETE"}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    wait_for(lambda: pdns.query("drifty." + ZONE) == ["127.0.0.1"], 15, what="drift repaired")
    wait_for(lambda: pdns.query("gone." + ZONE) == ["127.0.0.1"], 15, what="deletion repaired")


def test_orphan_owned_record_deleted(prismd_factory, pdns):
    """An RRset marked as Prism's that nothing wants any more is removed."""
    d = prismd_factory(pdns, extra_yaml=SYNC_FAST)
    d.register("anchor")
    wait_for(lambda: pdns.query("anchor." + ZONE) == ["127.0.0.1"], what="zone ready")
    comment = [{"content": "managed by prism instance prism", "account": "prism"}]
    body = {"rrsets": [{"name": "orphan." + ZONE, "type": "A", "ttl": 60,
                        "changetype": "REPLACE", "comments": comment,
                        "records": [{"content": "192.0.2.7", "disabled": False}]}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    wait_for(lambda: pdns.query("orphan." + ZONE) == [], 15, what="orphan deleted")


def test_foreign_rrset_is_a_conflict_and_left_alone(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=SYNC_FAST)
    d.register("anchor")
    wait_for(lambda: pdns.query("anchor." + ZONE) == ["127.0.0.1"], what="zone ready")
    body = {"rrsets": [{"name": "taken." + ZONE, "type": "A", "ttl": 300,
                        "changetype": "REPLACE",
                        "records": [{"content": "198.51.100.1", "disabled": False}]}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    # let the reconciler see the foreign RRset
    wait_for(lambda: d.read_log().count("reconciled managed.prism.local.") >= 2, 15,
             what="a reconcile pass after the foreign write")
    assert d.register("taken")["status"] == "success"
    wait_for(lambda: d.db_query("SELECT status FROM ledger WHERE name = ?",
                                ("taken." + ZONE,)) == [("conflict",)], 15,
             what="conflict recorded")
    assert pdns.query("taken." + ZONE) == ["198.51.100.1"]
    assert d.host("taken")["dns_sync_status"] == "failed"
    assert "conflict" in d.read_log()


def test_adopt_takes_over_and_422_is_quarantined(prismd_factory, pdns):
    """With adopt, a foreign A RRset is taken over; a name held by a foreign CNAME makes
    PowerDNS answer 422, which quarantines that RRset only while the rest lands."""
    body = {"rrsets": [
        {"name": "adoptme." + ZONE, "type": "A", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "198.51.100.2", "disabled": False}]},
        {"name": "aliased." + ZONE, "type": "CNAME", "ttl": 300, "changetype": "REPLACE",
         "records": [{"content": "elsewhere.example.", "disabled": False}]}]}
    zone = {"name": ZONE, "kind": "Native", "nameservers": ["ns1." + ZONE]}
    assert pdns.api("POST", "/zones", json=zone).status_code == 201
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns, adopt=True))
    for n in ("adoptme", "aliased", "fine1", "fine2"):
        assert d.register(n)["status"] == "success"
    wait_for(lambda: pdns.query("adoptme." + ZONE) == ["127.0.0.1"], 15, what="adopted")
    wait_for(lambda: pdns.query("fine2." + ZONE) == ["127.0.0.1"], 15, what="rest landed")
    row = wait_for(lambda: (r := d.db_query(
        "SELECT status, last_error FROM ledger WHERE name = ?", ("aliased." + ZONE,)))
        and r[0][0] == "failed" and r[0], 15, what="quarantined")
    assert "aliased" in row[1] or "CNAME" in row[1] or "onflict" in row[1], row
    rr = pdns.rrset(ZONE, "adoptme." + ZONE, "A")
    assert rr["comments"][0]["account"] == "prism"


def test_new_target_catches_up(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns))
    for i in range(40):
        d.register(f"early{i}")
    wait_for(lambda: converged(d, 40), 15, what="first target synced")
    assert d.stop() == 0
    text = open(d.config).read()
    i = text.index("targets:\n")
    open(d.config, "w").write(text[:i] + targets_yaml(pdns, pdns2))
    d.start()
    wait_for(lambda: pdns2.query("early39." + ZONE) == ["127.0.0.1"], 15,
             what="new target caught up")
    assert pdns2.query("early0." + ZONE) == ["127.0.0.1"]
    assert "queued for new targets" in d.read_log()


def test_paused_target_gets_nothing(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns, pdns2, paused=("pdns2",)))
    d.register("p1")
    wait_for(lambda: pdns.query("p1." + ZONE) == ["127.0.0.1"], what="live target")
    assert pdns2.api("GET", f"/zones/{ZONE}").status_code in (404, 422)
    assert d.db_query("SELECT status FROM ledger WHERE target = 'pdns2'") == [("pending",)]


def test_ptr_records_follow_addresses(prismd_factory, pdns):
    rev = "127.in-addr.arpa."
    d = prismd_factory(None, extra_yaml=(
        targets_yaml(pdns) +
        f"zones:\n  - name: {ZONE}\n  - name: {rev}\n"
        f"    soa: \"ns9.example. admin.example. 7 3600 600 86400 60\"\n"
        "powerdns:\n  auto_ptr: true\n  default_zone: managed.prism.local.\n"))
    assert d.register("ptrhost")["status"] == "success"
    wait_for(lambda: pdns.query("1.0.0.127.in-addr.arpa.", "PTR") ==
             ["ptrhost." + ZONE], 15, what="PTR for 127.0.0.1")
    r = d.register("ptrhost", source="127.0.0.8")
    assert r["message"] == "IP address changed from 127.0.0.1 to 127.0.0.8"
    wait_for(lambda: pdns.query("8.0.0.127.in-addr.arpa.", "PTR") ==
             ["ptrhost." + ZONE], 15, what="PTR for the new address")
    wait_for(lambda: pdns.query("1.0.0.127.in-addr.arpa.", "PTR") == [], 15,
             what="old PTR removed")
    # a change of an RRset of Prism's waits for a read of its zone (the ownership check):
    # the forward zone's may come after the reverse zone's
    wait_for(lambda: pdns.query("ptrhost." + ZONE) == ["127.0.0.8"], 15, what="A moved")
    # the reverse zone was created like the forward one
    z = pdns.api("GET", f"/zones/{rev}").json()
    assert z["kind"] == "Native"
    soa = [rr for rr in z["rrsets"] if rr["type"] == "SOA"][0]
    assert soa["records"][0]["content"].startswith("ns9.example. admin.example. ")


API_KEYS = ("api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"
            "    - {name: ro, key: r3ad, role: read}\n")


def test_plan_and_reconcile_through_the_api(prismd_factory, pdns):
    import requests
    d = prismd_factory(pdns, extra_yaml=API_KEYS)
    for n in ("one", "two"):
        d.register(n)
    wait_for(lambda: converged(d, 2), 15, what="synced")
    url = f"http://127.0.0.1:{d.api_port}/api/v1/sync"
    ro = {"X-API-Key": "r3ad"}
    adm = {"Authorization": "Bearer adm1n"}
    plan = requests.get(url + "/plan", headers=ro, timeout=10).json()
    z = plan["zones"][0]
    assert (z["target"], z["zone"], z["in_sync"], z["changes"]) == ("default", ZONE, 2, [])
    # drift behind Prism's back shows in the plan, and nothing is changed by looking
    body = {"rrsets": [{"name": "two." + ZONE, "type": "A", "changetype": "DELETE"},
                       {"name": "foreign." + ZONE, "type": "TXT", "ttl": 60,
                        "changetype": "REPLACE",
                        "records": [{"content": "\"x\"", "disabled": False}]}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    plan = requests.get(url + "/plan", headers=ro, timeout=10).json()
    changes = plan["zones"][0]["changes"]
    assert {"action": "create", "name": "two." + ZONE, "type": "A"} in changes
    assert pdns.query("two." + ZONE) == []
    # a read key may not trigger a reconcile; a write one may, and it repairs
    assert requests.post(url + "/reconcile", headers=ro, timeout=10).status_code == 403
    assert requests.post(url + "/reconcile", headers=adm, timeout=10).status_code == 202
    wait_for(lambda: pdns.query("two." + ZONE) == ["127.0.0.1"], 15, what="repaired")
    # the foreign TXT record is not Prism's: never touched
    assert pdns.rrset(ZONE, "foreign." + ZONE, "TXT") is not None


def _reconcile(d):
    import requests
    n = d.read_log().count("reconciled " + ZONE)
    r = requests.post(f"http://127.0.0.1:{d.api_port}/api/v1/sync/reconcile",
                      headers={"X-API-Key": "adm1n"}, timeout=10)
    assert r.status_code == 202
    wait_for(lambda: d.read_log().count("reconciled " + ZONE) > n, 15, what="a reconcile pass")


def _ledger(d, name):
    return d.db_query("SELECT status FROM ledger WHERE name = ?", (name + "." + ZONE,))


def test_a_stale_read_decides_nothing(prismd_factory, pdns):
    """Found by the crash drill: a conflict decided from the zone as last read may be stale.
    The push is decided by a read that began after the registration (the ownership check),
    so a foreign RRset removed since the last reconcile pass is no conflict at all."""
    d = prismd_factory(pdns, extra_yaml=API_KEYS)
    d.register("anchor")
    wait_for(lambda: pdns.query("anchor." + ZONE) == ["127.0.0.1"], what="zone ready")
    body = {"rrsets": [{"name": "stale." + ZONE, "type": "A", "ttl": 60,
                        "changetype": "REPLACE",
                        "records": [{"content": "198.51.100.9", "disabled": False}]}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    _reconcile(d)  # prismd now knows a foreign RRset at stale
    body = {"rrsets": [{"name": "stale." + ZONE, "type": "A", "changetype": "DELETE"}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    assert d.register("stale")["status"] == "success"
    wait_for(lambda: pdns.query("stale." + ZONE) == ["127.0.0.1"], 15,
             what="the record pushed after a fresh check")
    wait_for(lambda: _ledger(d, "stale") == [("synced",)], 15, what="synced")
    assert "conflict at stale." + ZONE not in d.read_log()


def test_deletion_in_conflict_ends_when_the_foreign_rrset_goes(prismd_factory, pdns):
    """Found by the crash drill: a host deleted while a foreign RRset holds its name leaves a
    deletion in conflict (the foreign RRset is left alone). Once that RRset is gone there is
    nothing left to delete: the next reconcile pass ends the row. Before, nothing ever
    looked at it again and the ledger never converged."""
    import requests
    d = prismd_factory(pdns, extra_yaml=API_KEYS)
    d.register("doomed")
    wait_for(lambda: pdns.query("doomed." + ZONE) == ["127.0.0.1"], what="record")
    # someone else takes the name over at PowerDNS (no ownership comment any more)
    body = {"rrsets": [{"name": "doomed." + ZONE, "type": "A", "ttl": 60,
                        "changetype": "REPLACE", "comments": [],
                        "records": [{"content": "198.51.100.7", "disabled": False}]}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    _reconcile(d)
    assert _ledger(d, "doomed") == [("conflict",)]
    r = requests.delete(f"http://127.0.0.1:{d.api_port}/api/v1/hosts/doomed",
                        headers={"X-API-Key": "adm1n"}, timeout=10)
    assert r.status_code == 200
    wait_for(lambda: "conflict at doomed." + ZONE in d.read_log(), 15,
             what="the deletion meets the foreign RRset")
    wait_for(lambda: _ledger(d, "doomed") == [("conflict",)], 15, what="deletion in conflict")
    assert pdns.query("doomed." + ZONE) == ["198.51.100.7"]  # left alone
    body = {"rrsets": [{"name": "doomed." + ZONE, "type": "A", "changetype": "DELETE"}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    _reconcile(d)
    wait_for(lambda: _ledger(d, "doomed") == [], 15, what="the deletion row ends")
    assert d.db_query("SELECT count(*) FROM ledger WHERE status != 'synced'") == [(0,)]
