# SPDX-License-Identifier: MIT
"""Ownership against a real PowerDNS: Prism changes or deletes only RRsets that carry its
mark with its owner id (sync.owner_id), checked by a read that began after the change was
due; foreign RRsets are conflicts, reported and left alone; two deployments share a zone."""
import socket
import threading

import requests

from prismlib import wait_for

ZONE = "managed.prism.local."
API_KEYS = ("api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n")
SLOW = "sync:\n  reconcile_interval: 300\n"   # no reconcile pass during the test
H = {"X-API-Key": "adm1n"}


def rrset(p, name, rdtype="A"):
    z = p.api("GET", f"/zones/{ZONE}").json()
    for rr in z.get("rrsets", []):
        if rr["name"] == name + "." + ZONE and rr["type"] == rdtype:
            return rr
    return None


def put_foreign(p, name, ip="192.0.2.1", comments=None):
    rr = {"name": name + "." + ZONE, "type": "A", "ttl": 300, "changetype": "REPLACE",
          "records": [{"content": ip, "disabled": False}]}
    if comments is not None:
        rr["comments"] = comments
    assert p.api("PATCH", f"/zones/{ZONE}", json={"rrsets": [rr]}).status_code == 204


def delete_rrset(p, name):
    body = {"rrsets": [{"name": name + "." + ZONE, "type": "A", "changetype": "DELETE"}]}
    assert p.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204


def ledger(d, name):
    return d.db_query("SELECT status FROM ledger WHERE name = ?", (name + "." + ZONE,))


def conflict(d, name):
    wait_for(lambda: ledger(d, name) == [("conflict",)], 15, what=f"conflict at {name}")


def anchor(d, p):
    d.register("anchor")
    wait_for(lambda: p.query("anchor." + ZONE) == ["127.0.0.1"], 15, what="zone ready")


def reconcile(d):
    n = d.read_log().count("reconciled " + ZONE)
    r = requests.post(f"http://127.0.0.1:{d.api_port}/api/v1/sync/reconcile", headers=H,
                      timeout=10)
    assert r.status_code == 202
    wait_for(lambda: d.read_log().count("reconciled " + ZONE) > n, 15, what="a reconcile pass")


def test_foreign_rrset_made_before_start_is_never_overwritten(prismd_factory, pdns):
    z = {"name": ZONE, "kind": "Native", "nameservers": ["ns1." + ZONE]}
    assert pdns.api("POST", "/zones", json=z).status_code == 201
    put_foreign(pdns, "early")
    d = prismd_factory(pdns, extra_yaml=SLOW)
    anchor(d, pdns)
    assert d.register("early")["status"] == "success"
    conflict(d, "early")
    assert pdns.query("early." + ZONE) == ["192.0.2.1"]
    assert d.host("early")["dns_sync_status"] == "failed"


def test_foreign_rrset_between_passes_and_just_before_registration(prismd_factory, pdns):
    """The last reconcile pass did not see these RRsets (the next is 300 s away): each is
    made right before the registration of its name, and each is still the operator's."""
    d = prismd_factory(pdns, extra_yaml=SLOW)
    anchor(d, pdns)
    names = [f"late{i}" for i in range(8)]
    for i, n in enumerate(names):
        put_foreign(pdns, n, f"192.0.2.{10 + i}")
        assert d.register(n)["status"] == "success"
    for i, n in enumerate(names):
        conflict(d, n)
        assert pdns.query(n + "." + ZONE) == [f"192.0.2.{10 + i}"]
    assert "conflict" in d.read_log()
    # a name nobody else holds, registered meanwhile, goes through
    d.register("free")
    wait_for(lambda: pdns.query("free." + ZONE) == ["127.0.0.1"], 15, what="free name")


def test_conflict_is_reported_then_resolves_when_the_foreign_rrset_goes(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=SLOW + API_KEYS)
    anchor(d, pdns)
    put_foreign(pdns, "clash")
    d.register("clash")
    conflict(d, "clash")
    api = f"http://127.0.0.1:{d.api_port}"
    host = requests.get(f"{api}/api/v1/hosts/clash", headers=H, timeout=10).json()
    assert host["dns_sync_status"] == "failed", host
    text = str(host)  # the host's ledger rows: status and why
    assert "'status': 'conflict'" in text and "foreign RRset" in text, host
    metrics = requests.get(f"{api}/metrics", headers=H, timeout=10).text
    rows = [ln for ln in metrics.splitlines()
            if ln.startswith("prism_target_ledger_rows{") and 'status="conflict"' in ln]
    assert rows and rows[0].endswith(" 1"), rows
    assert pdns.query("clash." + ZONE) == ["192.0.2.1"]
    delete_rrset(pdns, "clash")
    reconcile(d)
    wait_for(lambda: pdns.query("clash." + ZONE) == ["127.0.0.1"], 15, what="resolved")
    wait_for(lambda: ledger(d, "clash") == [("synced",)], 15, what="synced")
    wait_for(lambda: d.host("clash")["dns_sync_status"] == "synced", 15, what="host synced")


def test_rrset_whose_mark_was_removed_is_neither_changed_nor_deleted(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=SLOW + API_KEYS)
    anchor(d, pdns)
    d.register("kept", source="127.0.0.1")
    wait_for(lambda: pdns.query("kept." + ZONE) == ["127.0.0.1"], 15, what="kept synced")
    d.register("gone", source="127.0.0.2")
    wait_for(lambda: pdns.query("gone." + ZONE) == ["127.0.0.2"], 15, what="gone synced")
    # an operator takes both over: the records stay, the mark goes
    put_foreign(pdns, "kept", "127.0.0.1", comments=[])
    put_foreign(pdns, "gone", "127.0.0.2", comments=[])
    assert rrset(pdns, "kept")["comments"] == []
    # a change of address is not written ...
    d.register("kept", source="127.0.0.9")
    conflict(d, "kept")
    assert pdns.query("kept." + ZONE) == ["127.0.0.1"]
    # ... and a deletion does not delete
    api = f"http://127.0.0.1:{d.api_port}"
    r = requests.delete(f"{api}/api/v1/hosts/gone", headers=H, timeout=10)
    assert r.status_code in (200, 204), r.text
    conflict(d, "gone")
    assert pdns.query("gone." + ZONE) == ["127.0.0.2"]
    assert "not deleted" in d.read_log()
    reconcile(d)
    assert pdns.query("kept." + ZONE) == ["127.0.0.1"]
    assert pdns.query("gone." + ZONE) == ["127.0.0.2"]


def owners_yaml(owner):
    return f"sync:\n  reconcile_interval: 1\n  owner_id: {owner}\n"


def test_two_deployments_share_a_zone(prismd_factory, pdns):
    """alpha and beta (separate registries) write to one zone; through many reconcile
    passes and deletions on each side neither changes nor deletes the other's records."""
    a = prismd_factory(pdns, name="alpha", extra_yaml=owners_yaml("alpha") + API_KEYS)
    b = prismd_factory(pdns, name="beta", extra_yaml=owners_yaml("beta") + API_KEYS)
    an = [f"a{i}" for i in range(12)]
    bn = [f"b{i}" for i in range(12)]
    for n in an:
        a.register(n, source="127.1.0.1")
    for n in bn:
        b.register(n, source="127.2.0.1")
    for n in an:
        wait_for(lambda: pdns.query(n + "." + ZONE) == ["127.1.0.1"], 15, what=n)
    for n in bn:
        wait_for(lambda: pdns.query(n + "." + ZONE) == ["127.2.0.1"], 15, what=n)
    assert rrset(pdns, "a0")["comments"][0]["account"] == "alpha"
    assert rrset(pdns, "b0")["comments"][0]["account"] == "beta"
    # one name wanted by both: the first one's, a conflict for the other
    a.register("both", source="127.1.0.7")
    wait_for(lambda: pdns.query("both." + ZONE) == ["127.1.0.7"], 15, what="both by alpha")
    b.register("both", source="127.2.0.7")
    conflict(b, "both")
    # deletions on each side, with reconcile passes (every second) in between
    for i in range(6):
        for d, name in ((a, an[i]), (b, bn[i])):
            r = requests.delete(f"http://127.0.0.1:{d.api_port}/api/v1/hosts/{name}",
                                headers=H, timeout=10)
            assert r.status_code in (200, 204), r.text
        wait_for(lambda: pdns.query(an[i] + "." + ZONE) == [], 15, what="a deleted")
        wait_for(lambda: pdns.query(bn[i] + "." + ZONE) == [], 15, what="b deleted")
    for d in (a, b):
        n = d.read_log().count("reconciled " + ZONE)
        wait_for(lambda: d.read_log().count("reconciled " + ZONE) >= n + 3, 20,
                 what="three more reconcile passes")
    for n in an[6:]:
        assert pdns.query(n + "." + ZONE) == ["127.1.0.1"], n
    for n in bn[6:]:
        assert pdns.query(n + "." + ZONE) == ["127.2.0.1"], n
    assert pdns.query("both." + ZONE) == ["127.1.0.7"]
    assert ledger(b, "both") == [("conflict",)]
    for d in (a, b):
        st = d.db_query("SELECT status, count(*) FROM ledger GROUP BY status")
        assert dict(st).get("failed", 0) == 0, st


def dns_target_yaml(p):
    return (f"targets:\n  - name: pdns1\n    api_url: \"{p.api_url}\"\n"
            f"    api_key: \"{p.key}\"\n    dns_address: \"127.0.0.1:{p.dns_port}\"\n")


def test_dns_check_writes_free_names_and_leaves_foreign_ones(prismd_factory, pdns):
    """With targets[].dns_address the check asks the DNS port first: a free name is written
    at once, a name with anything at it goes through a read of the zone."""
    d = prismd_factory(pdns, extra_yaml=SLOW + dns_target_yaml(pdns))
    anchor(d, pdns)
    for i in range(5):
        put_foreign(pdns, f"dnsf{i}", f"192.0.2.{40 + i}")
        assert d.register(f"dnsf{i}")["status"] == "success"
        assert d.register(f"dnsok{i}")["status"] == "success"
    for i in range(5):
        wait_for(lambda: pdns.query(f"dnsok{i}." + ZONE) == ["127.0.0.1"], 15, what="free")
        conflict(d, f"dnsf{i}")
        assert pdns.query(f"dnsf{i}." + ZONE) == [f"192.0.2.{40 + i}"]
    log = d.read_log()
    assert "DNS check of" in log and "free" in log
    # the mark removed from a record of ours: the DNS answer shows it, the read decides
    put_foreign(pdns, "dnsok0", "127.0.0.1", comments=[])
    d.register("dnsok0", source="127.0.0.5")
    conflict(d, "dnsok0")
    assert pdns.query("dnsok0." + ZONE) == ["127.0.0.1"]


def test_dns_port_found_without_dns_address(prismd_factory, pdns):
    """Defaults (no dns_address): prismd asks PowerDNS once where it answers DNS (its
    local-address and local-port), so new names are checked by a DNS query, not a zone
    read, and a foreign name is still left alone."""
    d = prismd_factory(pdns, extra_yaml=SLOW)
    anchor(d, pdns)
    put_foreign(pdns, "dflt-foreign", "192.0.2.60")
    assert d.register("dflt-foreign")["status"] == "success"
    for i in range(5):
        assert d.register(f"dflt{i}")["status"] == "success"
    for i in range(5):
        wait_for(lambda: pdns.query(f"dflt{i}." + ZONE) == ["127.0.0.1"], 15, what="free")
    conflict(d, "dflt-foreign")
    assert pdns.query("dflt-foreign." + ZONE) == ["192.0.2.60"]
    log = d.read_log()
    assert f"ownership checks ask its DNS port 127.0.0.1:{pdns.dns_port}" in log
    assert "DNS check of" in log


def test_address_change_keeps_the_mark(prismd_factory, pdns):
    """A replacement of an RRset that carries the mark leaves the mark as it is (not written
    again: cheaper), and it is still there afterwards."""
    d = prismd_factory(pdns, extra_yaml=SLOW + dns_target_yaml(pdns))
    d.register("mv", source="127.0.0.1")
    wait_for(lambda: pdns.query("mv." + ZONE) == ["127.0.0.1"], 15, what="created")
    assert [c["account"] for c in rrset(pdns, "mv")["comments"]] == ["prism"]
    # the operator annotates the mark (same account): a rewrite would replace the text
    note = [{"account": "prism", "content": "ops: moved to rack 7"}]
    put_foreign(pdns, "mv", "127.0.0.1", comments=note)
    d.register("mv", source="127.0.0.2")
    wait_for(lambda: pdns.query("mv." + ZONE) == ["127.0.0.2"], 15, what="moved")
    assert [(c["account"], c["content"]) for c in rrset(pdns, "mv")["comments"]] == \
        [("prism", "ops: moved to rack 7")]


def test_zones_api_records_follow_the_same_rules(prismd_factory, pdns):
    """A record written through the zones API at a name a foreign RRset holds is a conflict
    too, and a record of the API whose RRset was taken over is not deleted."""
    d = prismd_factory(pdns, extra_yaml=SLOW + API_KEYS)
    anchor(d, pdns)
    body = {"rrsets": [{"name": "ops." + ZONE, "type": "TXT", "ttl": 300,
                        "changetype": "REPLACE",
                        "records": [{"content": '"hand-made"', "disabled": False}]}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    api = f"http://127.0.0.1:{d.api_port}/api/v1/zones/{ZONE}/records"
    r = requests.post(api, headers=H, timeout=10, json={"records": [
        {"name": "ops", "type": "TXT", "content": "from-prism"}]})
    assert r.status_code == 200, r.text
    wait_for(lambda: d.db_query("SELECT status FROM ledger WHERE name = ? AND type = 'TXT'",
                                ("ops." + ZONE,)) == [("conflict",)], 15, what="conflict")
    assert pdns.query("ops." + ZONE, "TXT") == ['"hand-made"']


def test_repoint_leaves_a_taken_over_rrset_alone(prismd_factory, pdns):
    """A failover repoint moves Prism's RRsets; one an operator took over (mark removed)
    keeps its address."""
    d = prismd_factory(pdns, extra_yaml=SLOW + API_KEYS)
    anchor(d, pdns)
    api = f"http://127.0.0.1:{d.api_port}/api/v1"
    r = requests.post(f"{api}/zones/{ZONE}/records", headers=H, timeout=10, json={"records": [
        {"name": "svc1", "type": "A", "content": "192.0.2.1"},
        {"name": "svc2", "type": "A", "content": "192.0.2.1"}]})
    assert r.status_code == 200, r.text
    for n in ("svc1", "svc2"):
        wait_for(lambda: pdns.query(n + "." + ZONE) == ["192.0.2.1"], 15, what=n)
    put_foreign(pdns, "svc2", "192.0.2.1", comments=[])
    r = requests.post(f"{api}/repoint", headers=H, timeout=10,
                      json={"from": "192.0.2.1", "to": "192.0.2.2"})
    assert r.status_code == 200 and r.json()["count"] == 2, r.text
    wait_for(lambda: pdns.query("svc1." + ZONE) == ["192.0.2.2"], 15, what="svc1 moved")
    conflict(d, "svc2")
    assert pdns.query("svc2." + ZONE) == ["192.0.2.1"]


def test_unchecked_rows_in_full_batches_wait_for_a_read_not_forever(prismd_factory, pdns):
    """Found by the bulk benchmark: rows no read covers, in batches as large as
    sync.batch_max, kept the worker pushing prefetched batches (sending nothing) instead of
    reading the zone they waited for."""
    d = prismd_factory(pdns, extra_yaml="sync:\n  reconcile_interval: 300\n  batch_max: 10\n" +
                       API_KEYS)
    anchor(d, pdns)
    api = f"http://127.0.0.1:{d.api_port}/api/v1/targets/default"
    assert requests.post(f"{api}/pause", headers=H, timeout=10).status_code in (200, 202)
    names = [f"batch{i}" for i in range(35)]
    for n in names:
        assert d.register(n)["status"] == "success"
    put_foreign(pdns, "batch7")
    assert requests.post(f"{api}/resume", headers=H, timeout=10).status_code in (200, 202)
    for n in names:
        if n != "batch7":
            wait_for(lambda: pdns.query(n + "." + ZONE) == ["127.0.0.1"], 15, what=n)
    conflict(d, "batch7")
    assert pdns.query("batch7." + ZONE) == ["192.0.2.1"]


def test_next_round_checked_while_this_one_is_pushed(prismd_factory, pdns):
    """Full rounds (sync.batch_max): the next round's DNS check runs while the round before
    it is pushed. Its free names are written, and foreign RRsets made before the resume, in
    later rounds, are still found and left alone."""
    d = prismd_factory(pdns, extra_yaml="sync:\n  reconcile_interval: 300\n  batch_max: 40\n" +
                       API_KEYS + dns_target_yaml(pdns))
    anchor(d, pdns)
    names = [f"early{i}" for i in range(400)]
    foreign = ["early275", "early399"]  # none in the first rounds: they would bring a read
    for n in foreign:
        put_foreign(pdns, n, "192.0.2.99")
    burst(d, names)
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status = 'synced'")
             == [(399,)], 60, what="the free names synced")
    for n in foreign:
        conflict(d, n)
        assert pdns.query(n + "." + ZONE) == ["192.0.2.99"]
    assert pdns.query("early398." + ZONE) == ["127.0.0.1"]
    assert "checking the next round's" in d.read_log()


def make_zone(p, filler=0):
    """The zone made before prismd starts, with @p filler foreign RRsets in it."""
    z = {"name": ZONE, "kind": "Native", "nameservers": ["ns1." + ZONE]}
    assert p.api("POST", "/zones", json=z).status_code == 201
    rrs = [{"name": f"filler{i}.{ZONE}", "type": "A", "ttl": 300, "changetype": "REPLACE",
            "records": [{"content": "192.0.2.200", "disabled": False}]} for i in range(filler)]
    if rrs:
        assert p.api("PATCH", f"/zones/{ZONE}", json={"rrsets": rrs}).status_code == 204


def udp_queries(p):
    """DNS queries the PowerDNS has answered over UDP so far."""
    return int(next(st["value"] for st in p.api("GET", "/statistics").json()
                    if st["name"] == "udp-queries"))


def burst(d, names):
    """Register @p names while the target is paused (one round checks them all), resume."""
    api = f"http://127.0.0.1:{d.api_port}/api/v1/targets/pdns1"
    assert requests.post(f"{api}/pause", headers=H, timeout=10).status_code in (200, 202)
    s = d.connect()
    try:
        from prismlib import frame, recv_frame, registration
        s.sendall(b"".join(frame(registration(n)) for n in names))
        for _ in names:
            assert recv_frame(s)["status"] == "success"
    finally:
        s.close()
    assert requests.post(f"{api}/resume", headers=H, timeout=10).status_code in (200, 202)


def test_dns_check_of_a_large_batch(prismd_factory, pdns):
    """More names than the DNS check keeps in flight (256) go through it in one round. The
    zone holds 4,000 RRsets: more than a transfer is worth for 700 names (5 per name)."""
    make_zone(pdns, filler=4000)
    d = prismd_factory(pdns, extra_yaml=SLOW + API_KEYS + dns_target_yaml(pdns))
    d.register("anchor")
    wait_for(lambda: pdns.query("anchor." + ZONE) == ["127.0.0.1"], 15, what="zone ready")
    burst(d, [f"many{i}" for i in range(700)])
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status = 'synced'")
             == [(701,)], 30, what="all synced")
    assert pdns.query("many699." + ZONE) == ["127.0.0.1"]
    assert ("DNS check of 700 RRset(s): 700 free, 0 left to a zone read (0 by a transfer"
            in d.read_log())


def test_transfer_checks_a_burst_in_a_small_zone(prismd_factory, pdns):
    """Many new names in a small zone: one AXFR from the DNS port says which are free
    instead of a query each. Free names are written; names with a foreign RRset (or a
    foreign CNAME) at them go to a read of the zone and are left alone."""
    make_zone(pdns)
    d = prismd_factory(pdns, extra_yaml=SLOW + API_KEYS + dns_target_yaml(pdns))
    anchor(d, pdns)
    for i in range(4):
        put_foreign(pdns, f"xf{i}", f"192.0.2.{70 + i}")
    cname = {"name": "xfc." + ZONE, "type": "CNAME", "ttl": 300, "changetype": "REPLACE",
             "records": [{"content": "elsewhere.example.", "disabled": False}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json={"rrsets": [cname]}).status_code == 204
    names = [f"xn{i}" for i in range(195)] + [f"xf{i}" for i in range(4)] + ["xfc"]
    q0 = udp_queries(pdns)
    burst(d, names)
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status = 'synced'")
             == [(196,)], 30, what="the free names synced")
    for i in range(4):
        conflict(d, f"xf{i}")
        assert pdns.query(f"xf{i}." + ZONE) == [f"192.0.2.{70 + i}"]
    conflict(d, "xfc")
    assert pdns.query("xn194." + ZONE) == ["127.0.0.1"]
    log = d.read_log()
    assert ("DNS check of 200 RRset(s): 195 free, 5 left to a zone read (200 by a transfer"
            in log), log
    # the queries the test itself made, not one per name
    assert udp_queries(pdns) - q0 < 30


def test_refused_transfer_falls_back_to_queries(prismd_factory):
    """A DNS port that refuses transfers (allow-axfr-ips without prismd's address): the
    names are checked by a query each, in the same round, and written."""
    from prismlib import PowerDNS
    p = PowerDNS(extra_conf="allow-axfr-ips=192.0.2.1/32\n").start()
    try:
        make_zone(p)
        d = prismd_factory(p, extra_yaml=SLOW + API_KEYS + dns_target_yaml(p))
        anchor(d, p)
        burst(d, [f"rf{i}" for i in range(100)])
        wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status = 'synced'")
                 == [(101,)], 30, what="all synced")
        assert p.query("rf99." + ZONE) == ["127.0.0.1"]
        log = d.read_log()
        assert f"no transfer of {ZONE} from the DNS port (" in log, log
        assert ("DNS check of 100 RRset(s): 100 free, 0 left to a zone read (0 by a transfer"
                in log), log
        d.stop()
    finally:
        p.cleanup()


class LossyDNS:
    """A UDP relay to PowerDNS's DNS port that drops the first @p drop copies of every query
    (a busy server's lost datagrams), then relays the query and its answer."""

    def __init__(self, p, drop):
        self.dns = ("127.0.0.1", p.dns_port)
        self.drop, self.seen, self.clients = drop, {}, {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            if addr == self.dns:
                client = self.clients.get(data[:2])
                if client is not None:
                    self.sock.sendto(data, client)
                continue
            self.seen[data] = self.seen.get(data, 0) + 1
            if self.seen[data] <= self.drop:
                continue
            self.clients[data[:2]] = addr
            self.sock.sendto(data, self.dns)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


def test_dns_check_resends_lost_queries(prismd_factory, pdns):
    """Queries the DNS port does not answer are sent again (four times, after 50 to 400 ms
    without an answer) before their rows are left to a zone read: here every query's first
    three copies are lost and each name is still decided by its DNS answer."""
    relay = LossyDNS(pdns, drop=3)
    try:
        target = (f"targets:\n  - name: pdns1\n    api_url: \"{pdns.api_url}\"\n"
                  f"    api_key: \"{pdns.key}\"\n    dns_address: \"127.0.0.1:{relay.port}\"\n")
        d = prismd_factory(pdns, extra_yaml=SLOW + target)
        anchor(d, pdns)
        for i in range(3):
            assert d.register(f"lossy{i}")["status"] == "success"
        for i in range(3):
            wait_for(lambda: pdns.query(f"lossy{i}." + ZONE) == ["127.0.0.1"], 15,
                     what="written")
        log = d.read_log()
        checks = [ln for ln in log.splitlines() if "DNS check of" in ln]
        assert checks, log
        assert all("0 left to a zone read" in ln for ln in checks), checks
        assert any(n >= 4 for n in relay.seen.values())  # the copies did get resent
    finally:
        relay.close()
