# SPDX-License-Identifier: MIT
"""Zones, records, import/export and repoint through the REST API and the CLI, against two
real PowerDNS servers: zones created and deleted on every target, every record type and
its validation errors, answers at each server's DNS port, host-name collisions, bulk
writes in one transaction, import and export, failover repoint."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import dns.exception
import dns.message
import dns.opcode
import dns.query
import dns.rdatatype
import pytest
import requests

from prismlib import PRISM, PRISMD, PowerDNS, wait_for

ZONE = "managed.prism.local."
ADMIN = {"X-API-Key": "adm1n"}
WRITE = {"X-API-Key": "wr1te"}
KEYS = ("api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"
        "    - {name: rw, key: wr1te, role: write}\n")
TEMPLATES = ("zone_templates:\n  - name: web\n    records:\n"
             "      - \"www CNAME @\"\n      - \"@ 600 MX 10 mail\"\n"
             "      - \"mail A 192.0.2.25\"\n      - \"@ TXT v=spf1 mx -all\"\n")


def targets_yaml(*servers, groups=None):
    y = "targets:\n"
    for i, p in enumerate(servers):
        y += (f"  - name: pdns{i + 1}\n    api_url: \"{p.api_url}\"\n"
              f"    api_key: \"{p.key}\"\n")
        if groups and groups[i]:
            y += f"    group: {groups[i]}\n"
    return y


@pytest.fixture
def pdns2():
    p = PowerDNS().start()
    yield p
    p.cleanup()


class Api:
    def __init__(self, d):
        self.base = f"http://127.0.0.1:{d.api_port}"
        self.s = requests.Session()
        wait_for(lambda: self._up(), 10, what="API port")

    def _up(self):
        try:
            return self.s.get(self.base + "/api/health", timeout=1).status_code in (200, 401)
        except requests.RequestException:
            return False

    def __call__(self, method, path, headers=ADMIN, **kw):
        return self.s.request(method, self.base + path, headers=headers, timeout=15, **kw)


@pytest.fixture
def cluster(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns, pdns2, groups=["edge", None]) +
                       KEYS + TEMPLATES + "sync:\n  reconcile_interval: 2\n")
    return d, Api(d), (pdns, pdns2)


def err(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.text)
    e = r.json()["error"]
    if code:
        assert e["code"] == code, e
    return e["message"]


def zone_on(p, zone):
    return p.api("GET", f"/zones/{zone}").status_code == 200


def answers(p, name, rdtype):
    try:
        return p.query(name, rdtype)
    except Exception:  # noqa: BLE001 (a timeout while the server reloads)
        return None


def test_zone_lifecycle_on_all_targets(cluster):
    d, api, servers = cluster
    r = api("POST", "/api/v1/zones", json={"name": "Example.TEST", "nameservers":
                                          ["ns1.example.test.", "ns2.example.net."],
                                          "ttl": 120, "kind": "Master", "dnssec": True})
    assert r.status_code == 201, r.text
    z = r.json()
    assert z["name"] == "example.test." and z["kind"] == "Master" and z["origin"] == "api"
    assert z["nameservers"] == ["ns1.example.test.", "ns2.example.net."]
    assert z["dnssec"] is True and z["targets"] == "all"
    for p in servers:
        wait_for(lambda: zone_on(p, "example.test."), 15, what=f"zone on {p.api_url}")
        info = p.api("GET", "/zones/example.test.").json()
        assert info["kind"] == "Master"
        ns = sorted(rr["content"] for s in info["rrsets"] if s["type"] == "NS"
                    for rr in s["records"])
        assert ns == ["ns1.example.test.", "ns2.example.net."]
    wait_for(lambda: all(t["ready"] for t in
                         api("GET", "/api/v1/zones/example.test").json()["served_by"]), 15,
             what="ready on both")
    names = [z["name"] for z in api("GET", "/api/v1/zones").json()["zones"]]
    assert names == [ZONE, "example.test."]
    origins = {z["name"]: z["origin"] for z in api("GET", "/api/v1/zones").json()["zones"]}
    assert origins[ZONE] == "config"
    # errors: twice, config zone, bad kind, bad group, unknown field, bad name
    err(api("POST", "/api/v1/zones", json={"name": "example.test"}), 409, "conflict")
    err(api("POST", "/api/v1/zones", json={"name": ZONE}), 409, "conflict")
    assert "kind" in err(api("POST", "/api/v1/zones", json={"name": "a.test", "kind": "Slave"}),
                         422)
    assert "group" in err(api("POST", "/api/v1/zones", json={"name": "a.test",
                                                             "targets": "nowhere"}), 422)
    err(api("POST", "/api/v1/zones", json={"name": "a.test", "colour": 1}), 400,
        "unknown_field")
    err(api("POST", "/api/v1/zones", json={"name": "bad..name"}), 422)
    err(api("POST", "/api/v1/zones", json={"name": "a.test"}, headers=WRITE), 403)
    # delete: confirmation, config zone, then gone from both
    err(api("DELETE", "/api/v1/zones/example.test"), 400, "confirmation_required")
    err(api("DELETE", f"/api/v1/zones/{ZONE}?confirm=true"), 409)
    err(api("DELETE", "/api/v1/zones/nothere.test?confirm=true"), 404)
    r = api("DELETE", "/api/v1/zones/example.test?confirm=true")
    assert r.status_code == 200 and r.json()["deleted"]["targets"] == 2, r.text
    for p in servers:
        wait_for(lambda: not zone_on(p, "example.test."), 15, what="zone deleted")
    err(api("GET", "/api/v1/zones/example.test"), 404)
    wait_for(lambda: d.db_query("SELECT count(*) FROM zone_deletions")[0][0] == 0, 10,
             what="deletions recorded")
    actions = [e["action"] for e in api("GET", "/api/v1/audit").json()["entries"]]
    assert "zone.create" in actions and "zone.delete" in actions


def test_zone_for_a_group_and_restart(cluster):
    d, api, (p1, p2) = cluster
    r = api("POST", "/api/v1/zones", json={"name": "edge.test", "targets": "edge",
                                          "template": "web"})
    assert r.status_code == 201, r.text
    assert [t["target"] for t in r.json()["served_by"]] == ["pdns1"]
    wait_for(lambda: answers(p1, "www.edge.test.", "CNAME") == ["edge.test."], 15,
             what="template CNAME on pdns1")
    assert p1.query("edge.test.", "MX") == ["10 mail.edge.test."]
    assert p1.query("edge.test.", "TXT") == ['"v=spf1 mx -all"']
    assert not zone_on(p2, "edge.test.")
    # a restart keeps the zone, its records and its assignment; nothing is pushed again
    d.stop()
    d.start()
    api2 = Api(d)
    z = api2("GET", "/api/v1/zones/edge.test").json()
    assert z["records"] == 4 and z["targets"] == "edge"
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status != 'synced'")[0][0]
             == 0, 15, what="all synced")
    assert d.db_query("SELECT count(*) FROM ledger WHERE target = 'pdns2' AND "
                      "zone = 'edge.test.'")[0][0] == 0


def test_zone_added_while_a_target_is_down_catches_up(cluster):
    d, api, (p1, p2) = cluster
    p2.stop()
    r = api("POST", "/api/v1/zones", json={"name": "late.test", "records": [
        {"name": "a", "type": "A", "content": "192.0.2.1"}]})
    assert r.status_code == 201, r.text
    wait_for(lambda: answers(p1, "a.late.test.", "A") == ["192.0.2.1"], 15, what="on pdns1")
    p2.start()
    wait_for(lambda: answers(p2, "a.late.test.", "A") == ["192.0.2.1"], 40, what="on pdns2")


EVERY_TYPE = [
    {"name": "@", "type": "MX", "content": ["10 mail", "20 mx2.example.net."]},
    {"name": "mail", "type": "A", "content": ["192.0.2.10", "192.0.2.11"]},
    {"name": "mail", "type": "AAAA", "content": "2001:DB8:0:0::10"},
    {"name": "www", "type": "CNAME", "content": "@"},
    {"name": "@", "type": "TXT", "content": ["v=spf1 mx -all", '"quoted \\"part\\"" "two"']},
    {"name": "long", "type": "TXT", "content": "x" * 300},
    {"name": "sub", "type": "NS", "content": ["ns1.sub.rec.test", "ns2.example.net."]},
    {"name": "_sip._tcp", "type": "SRV", "content": "10 60 5060 sip.rec.test."},
    {"name": "4.2.0.192.in-addr.arpa.", "type": "PTR", "content": "host.example.net."},
    {"name": "@", "type": "CAA", "content": ["0 issue letsencrypt.org",
                                           '128 iodef "mailto:sec@rec.test"']},
]


def plan_for(api, zone):
    r = api("GET", "/api/v1/sync/plan")
    assert r.status_code == 200, r.text
    return [z for z in r.json()["zones"] if z["zone"] == zone]


def test_every_record_type_answers_at_both_servers(cluster):
    d, api, servers = cluster
    assert api("POST", "/api/v1/zones", json={"name": "rec.test"}).status_code == 201
    assert api("POST", "/api/v1/zones", json={"name": "2.0.192.in-addr.arpa"}).status_code \
        == 201
    recs = [r for r in EVERY_TYPE if r["type"] != "PTR"]
    r = api("POST", "/api/v1/zones/rec.test/records", json={"records": recs}, headers=WRITE)
    assert r.status_code == 200 and r.json()["changed"] == len(recs), r.text
    ptr = [r for r in EVERY_TYPE if r["type"] == "PTR"]
    r = api("POST", "/api/v1/zones/2.0.192.in-addr.arpa/records", json={"records": ptr})
    assert r.status_code == 200, r.text
    want = {
        ("rec.test.", "MX"): ["10 mail.rec.test.", "20 mx2.example.net."],
        ("mail.rec.test.", "A"): ["192.0.2.10", "192.0.2.11"],
        ("mail.rec.test.", "AAAA"): ["2001:db8::10"],
        ("www.rec.test.", "CNAME"): ["rec.test."],
        ("rec.test.", "TXT"): ['"quoted \\"part\\"" "two"', '"v=spf1 mx -all"'],
        ("long.rec.test.", "TXT"): ['"' + "x" * 255 + '" "' + "x" * 45 + '"'],
        ("_sip._tcp.rec.test.", "SRV"): ["10 60 5060 sip.rec.test."],
        ("4.2.0.192.in-addr.arpa.", "PTR"): ["host.example.net."],
        ("rec.test.", "CAA"): ['0 issue "letsencrypt.org"', '128 iodef "mailto:sec@rec.test"'],
    }
    for p in servers:
        for (name, t), v in want.items():
            wait_for(lambda: answers(p, name, t) == v, 15,
                     what=f"{name} {t} at {p.api_url}: {answers(p, name, t)}")
    # a delegation: PowerDNS answers with a referral, the NS RRset is in the zone
    for p in servers:
        ns = p.rrset("rec.test.", "sub.rec.test.", "NS")
        assert sorted(r["content"] for r in ns["records"]) == ["ns1.sub.rec.test.",
                                                               "ns2.example.net."]
        assert ns["comments"][0]["account"] == "prism"
    # what the registry holds is what the servers hold: the plan has nothing to do
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status != 'synced'")[0][0]
             == 0, 15, what="synced")
    for z in plan_for(api, "rec.test.") + plan_for(api, "2.0.192.in-addr.arpa."):
        assert (z["create"], z["update"], z["delete"], z["conflict"]) == (0, 0, 0, 0), z
    got = api("GET", "/api/v1/zones/rec.test/records?type=mx").json()["records"]
    assert got == [{"name": "rec.test.", "type": "MX", "ttl": 300, "host_id": None,
                    "content": ["10 mail.rec.test.", "20 mx2.example.net."]}]
    # delete one RRset, by path
    r = api("DELETE", "/api/v1/zones/rec.test/records/www/CNAME", headers=WRITE)
    assert r.status_code == 200 and r.json()["changed"] == 1, r.text
    for p in servers:
        wait_for(lambda: answers(p, "www.rec.test.", "CNAME") == [], 15, what="CNAME gone")
    err(api("DELETE", "/api/v1/zones/rec.test/records/www/CNAME"), 404)


BAD = [
    ({"name": "a", "type": "A", "content": "192.0.2.300"}, "records[0].content: not an IPv4"),
    ({"name": "a", "type": "A", "content": ["192.0.2.1", "::1"]},
     "records[0].content[1]: not an IPv4"),
    ({"name": "a", "type": "AAAA", "content": "192.0.2.1"}, "records[0].content: not an IPv6"),
    # PowerDNS refuses it ("Invalid IPv6 address"): it would fail at every target forever
    ({"name": "a", "type": "AAAA", "content": "::ffff:1.2.3.4"},
     "records[0].content: an IPv4-mapped IPv6 address"),
    ({"name": "a", "type": "AAAA", "content": ["2001:db8::1", "::1.2.3.4"]},
     "records[0].content[1]: an IPv4-compatible"),
    ({"name": "a", "type": "CNAME", "content": ["x.test.", "y.test."]},
     "records[0].content: a CNAME has exactly one"),
    ({"name": "a", "type": "CNAME", "content": "web.other.org"}, "ambiguous name"),
    ({"name": "a", "type": "MX", "content": "70000 mail"}, "MX priority"),
    ({"name": "a", "type": "MX", "content": "10"}, "MX exchange missing"),
    ({"name": "a", "type": "SRV", "content": "1 2 99999 x.test."}, "SRV port"),
    ({"name": "a", "type": "SRV", "content": "1 x 3 x.test."}, "SRV weight"),
    ({"name": "a", "type": "TXT", "content": '"' + "y" * 256 + '"'}, "longer than 255"),
    ({"name": "a", "type": "TXT", "content": '"open'}, "unterminated"),
    ({"name": "a", "type": "TXT", "content": '"a" b'}, "quote every part"),
    ({"name": "a", "type": "CAA", "content": "256 issue x"}, "CAA flags"),
    ({"name": "a", "type": "CAA", "content": "0 is-sue x"}, "CAA tag"),
    ({"name": "a", "type": "CAA", "content": "0 issue"}, "CAA value"),
    ({"name": "a", "type": "PTR", "content": "bad_char!.test."}, "invalid character"),
    ({"name": "a", "type": "SOA", "content": "x"}, "records[0].type: SOA is not supported"),
    ({"name": "@", "type": "NS", "content": "ns9.test."}, "records[0].name: the NS set at the apex"),
    ({"name": "other.org.", "type": "A", "content": "192.0.2.1"}, "records[0].name"),
    ({"name": "a", "type": "A", "content": "192.0.2.1", "ttl": -1}, "records[0].ttl"),
    ({"name": "a", "type": "A"}, "records[0].content: required"),
    ({"name": "a", "type": "A", "content": ["192.0.2.1", "192.0.2.1"]}, "listed twice"),
]


def test_validation_errors_name_the_field(cluster):
    d, api, _ = cluster
    assert api("POST", "/api/v1/zones", json={"name": "val.test"}).status_code == 201
    for rec, msg in BAD:
        m = err(api("POST", "/api/v1/zones/val.test/records", json={"records": [rec]}), 422)
        assert msg in m, (rec, m)
    # the third RRset of a bulk request is named
    recs = [{"name": f"h{i}", "type": "A", "content": "192.0.2.1"} for i in range(3)]
    recs.append({"name": "h3", "type": "A", "content": "nope"})
    assert "records[3].content" in err(api("POST", "/api/v1/zones/val.test/records",
                                           json={"records": recs}), 422)
    # CNAME next to other data, in the same request or against the registry
    both = [{"name": "c", "type": "A", "content": "192.0.2.1"},
            {"name": "c", "type": "CNAME", "content": "@"}]
    assert "CNAME" in err(api("POST", "/api/v1/zones/val.test/records",
                              json={"records": both}), 422)
    assert api("POST", "/api/v1/zones/val.test/records",
               json={"records": both[:1]}).status_code == 200
    m = err(api("POST", "/api/v1/zones/val.test/records", json={"records": both[1:]}), 422)
    assert "records[0]" in m and "CNAME" in m
    # … but replacing the A by the CNAME in one request is fine
    swap = [{"name": "c", "type": "A", "changetype": "DELETE"}, both[1]]
    assert api("POST", "/api/v1/zones/val.test/records",
               json={"records": swap}).status_code == 200
    # nothing of a refused request was written (one transaction)
    assert d.db_query("SELECT count(*) FROM desired WHERE zone = 'val.test.' AND "
                      "name LIKE 'h%'")[0][0] == 0
    err(api("POST", "/api/v1/zones/nothere.test/records", json={"records": recs[:1]}), 404)
    err(api("POST", "/api/v1/zones/val.test/records", json={"records": [
        {"name": "x", "type": "A", "content": "192.0.2.1", "colour": 1}]}), 400)
    err(api("POST", "/api/v1/zones/val.test/records", json={}), 400)
    err(api("POST", "/api/v1/zones/val.test/records", json={"records": recs[:1]},
            headers={"X-API-Key": "nope"}), 401)


def test_bulk_is_one_transaction_and_audited(cluster):
    d, api, (p1, p2) = cluster
    assert api("POST", "/api/v1/zones", json={"name": "bulk.test"}).status_code == 201
    recs = [{"name": f"n{i}", "type": "A", "content": f"198.51.100.{i % 250 + 1}"}
            for i in range(2000)]
    r = api("POST", "/api/v1/zones/bulk.test/records", json={"records": recs}, headers=WRITE)
    assert r.status_code == 200 and r.json()["changed"] == 2000, r.text
    for p in (p1, p2):
        wait_for(lambda: answers(p, "n1999.bulk.test.", "A") == ["198.51.100.0"[:-1] + "250"],
                 30, what="last record")
    assert d.db_query("SELECT count(*) FROM audit WHERE action = 'record.put' AND "
                      "actor = 'rw'")[0][0] == 2000
    # the same request again changes nothing
    r = api("POST", "/api/v1/zones/bulk.test/records", json={"records": recs})
    assert r.json()["changed"] == 0


def test_host_records_cannot_be_overwritten(cluster):
    d, api, (p1, _) = cluster
    assert d.register("web1")["status"] == "success"
    wait_for(lambda: answers(p1, "web1." + ZONE, "A") == ["127.0.0.1"], 15, what="host")
    m = err(api("POST", f"/api/v1/zones/{ZONE}/records", json={"records": [
        {"name": "web1", "type": "A", "content": "192.0.2.9"}]}), 409, "conflict")
    assert "host" in m
    err(api("POST", f"/api/v1/zones/{ZONE}/records", json={"records": [
        {"name": "web1", "type": "CNAME", "content": "other.test."}]}), 409)
    err(api("DELETE", f"/api/v1/zones/{ZONE}/records/web1/A"), 409)
    # other types at the host's name are fine, and records in a config zone work
    r = api("POST", f"/api/v1/zones/{ZONE}/records", json={"records": [
        {"name": "web1", "type": "TXT", "content": "owner=ops"}]})
    assert r.status_code == 200, r.text
    wait_for(lambda: answers(p1, "web1." + ZONE, "TXT") == ['"owner=ops"'], 15, what="TXT")
    hosts = api("GET", f"/api/v1/zones/{ZONE}/records?name=web1").json()["records"]
    assert [(h["type"], h["host_id"] is not None) for h in hosts] == [("A", True),
                                                                       ("TXT", False)]


def cli(d, *args, check=True, stdin=None):
    env = dict(os.environ, PRISM_API_KEY="adm1n")
    r = subprocess.run([PRISM, "-s", f"http://127.0.0.1:{d.api_port}", *args],
                       capture_output=True, text=True, env=env, input=stdin, timeout=30)
    if check:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def test_cli_zones_and_records(cluster, tmp_path):
    d, api, (p1, p2) = cluster
    out = cli(d, "zones", "create", "cli.test", "--ns", "ns1.cli.test.", "--ttl", "90",
              "--template", "web").stdout
    assert "zone cli.test. created (4 RRsets)" in out
    assert "cli.test." in cli(d, "zones").stdout
    show = json.loads(cli(d, "--json", "zones", "show", "cli.test").stdout)
    assert show["ttl"] == 90 and show["records"] == 4
    cli(d, "records", "set", "cli.test", "api", "A", "192.0.2.7", "192.0.2.8", "--ttl", "30")
    wait_for(lambda: answers(p2, "api.cli.test.", "A") == ["192.0.2.7", "192.0.2.8"], 15,
             what="CLI record")
    listing = cli(d, "records", "cli.test", "--type", "A").stdout
    assert "api.cli.test." in listing and "192.0.2.8" in listing
    bulk = tmp_path / "bulk.json"
    bulk.write_text(json.dumps({"records": [{"name": "b1", "type": "TXT", "content": "one"},
                                            {"name": "b2", "type": "TXT", "content": "two"}]}))
    assert "2 RRset(s) sent, 2 changed" in cli(d, "records", "apply", "cli.test",
                                               str(bulk)).stdout
    bad = cli(d, "records", "set", "cli.test", "x", "MX", "nope", check=False)
    assert bad.returncode == 1 and "records[0].content" in bad.stderr
    cli(d, "records", "delete", "cli.test", "api", "A")
    wait_for(lambda: answers(p1, "api.cli.test.", "A") == [], 15, what="deleted")
    refused = cli(d, "zones", "delete", "cli.test", check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "deleted (from 2 target(s))" in cli(d, "zones", "delete", "cli.test",
                                               "--yes").stdout
    for p in (p1, p2):
        wait_for(lambda: not zone_on(p, "cli.test."), 15, what="zone deleted")
    assert cli(d, "zones", "show", "cli.test", check=False).returncode == 1


def legacy_zone(p, zone="legacy.test."):
    """A zone made on a server behind Prism's back, as an existing installation has."""
    body = {"name": zone, "kind": "Native", "nameservers": [f"ns1.{zone}", "ns2.example.net."],
            "rrsets": [
                {"name": f"www.{zone}", "type": "A", "ttl": 120, "changetype": "REPLACE",
                 "records": [{"content": "192.0.2.80", "disabled": False},
                             {"content": "192.0.2.81", "disabled": False}]},
                {"name": zone, "type": "MX", "ttl": 3600, "changetype": "REPLACE",
                 "records": [{"content": f"10 mail.{zone}", "disabled": False}]},
                {"name": zone, "type": "TXT", "ttl": 3600, "changetype": "REPLACE",
                 "records": [{"content": '"v=spf1 -all"', "disabled": False}]},
                {"name": f"ssh.{zone}", "type": "SSHFP", "ttl": 3600, "changetype": "REPLACE",
                 "records": [{"content": "1 1 0123456789abcdef0123456789abcdef01234567",
                              "disabled": False}]},
            ]}
    r = p.api("POST", "/zones", json=body)
    assert r.status_code == 201, r.text


def test_import_from_a_target_then_changes_are_pushed(cluster):
    d, api, (p1, p2) = cluster
    legacy_zone(p1)
    err(api("POST", "/api/v1/zones/legacy.test/import", json={"target": "nope"}), 404)
    err(api("POST", "/api/v1/zones/legacy.test/import", json={"target": "pdns2"}), 404)
    err(api("POST", "/api/v1/zones/legacy.test/import", json={}), 400)
    err(api("POST", f"/api/v1/zones/{ZONE}/import", json={"target": "pdns1"}), 409)
    r = api("POST", "/api/v1/zones/legacy.test/import", json={"target": "pdns1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["created"] is True and body["rrsets"] == 3, body
    assert body["skipped"] == ["ssh.legacy.test. SSHFP"]
    z = body["zone"]
    assert z["origin"] == "import" and z["adopt"] is True
    assert z["nameservers"] == ["ns1.legacy.test.", "ns2.example.net."]
    # pdns2 gets the zone; pdns1's RRsets are taken over (Prism's comment), not conflicts
    wait_for(lambda: answers(p2, "www.legacy.test.", "A") == ["192.0.2.80", "192.0.2.81"], 20,
             what="imported zone on pdns2")

    def owned():
        rr = p1.rrset("legacy.test.", "www.legacy.test.", "A")
        return rr and rr["comments"] and rr["comments"][0]["account"] == "prism"
    wait_for(owned, 20, what="adopted on pdns1")
    assert d.db_query("SELECT count(*) FROM ledger WHERE status = 'conflict'")[0][0] == 0
    # the foreign SSHFP stays as it was
    assert p1.rrset("legacy.test.", "ssh.legacy.test.", "SSHFP")["comments"] == []
    # a change made in Prism goes to both
    r = api("POST", "/api/v1/zones/legacy.test/records", json={"records": [
        {"name": "www", "type": "A", "ttl": 120, "content": "192.0.2.99"}]})
    assert r.status_code == 200, r.text
    for p in (p1, p2):
        wait_for(lambda: answers(p, "www.legacy.test.", "A") == ["192.0.2.99"], 15,
                 what=f"change at {p.api_url}")
    # importing again (an existing registry zone) is an update
    r = api("POST", "/api/v1/zones/legacy.test/import", json={"target": "pdns2"})
    assert r.status_code == 200 and r.json()["created"] is False, r.text


def test_export_and_import_round_trip(cluster):
    d, api, (p1, p2) = cluster
    assert api("POST", "/api/v1/zones", json={
        "name": "trip.test", "nameservers": ["ns1.trip.test.", "ns2.trip.test."],
        "soa": {"rname": "dns.trip.test.", "refresh": 7200},
        "records": [r for r in json.loads(json.dumps(EVERY_TYPE).replace("rec.test", "trip.test"))
                    if r["type"] != "PTR"] +
        [{"name": "ns1", "type": "A", "content": "192.0.2.53"},
         {"name": "*.dyn", "type": "A", "content": "192.0.2.77"}]}).status_code == 201
    before = api("GET", "/api/v1/zones/trip.test/export?format=json").json()
    assert len(before["records"]) == 11
    text = api("GET", "/api/v1/zones/trip.test/export").text
    assert text.startswith("$ORIGIN trip.test.\n")
    assert "trip.test. 300 IN SOA ns1.trip.test. dns.trip.test. 1 7200 3600 604800 3600" in text
    assert "www.trip.test. 300 IN CNAME trip.test." in text
    cli_text = cli(d, "zones", "export", "trip.test").stdout
    assert cli_text == text
    err(api("GET", "/api/v1/zones/trip.test/export?format=xml"), 400)
    # delete the zone everywhere, then import the file: the same zone comes back
    assert api("DELETE", "/api/v1/zones/trip.test?confirm=true").status_code == 200
    for p in (p1, p2):
        wait_for(lambda: not zone_on(p, "trip.test."), 15, what="deleted")
    r = api("POST", "/api/v1/zones/trip.test/import", json={"zonefile": text})
    assert r.status_code == 200, r.text
    assert r.json()["created"] is True and r.json()["skipped"] == []
    after = api("GET", "/api/v1/zones/trip.test/export?format=json").json()
    assert after["records"] == before["records"]
    assert after["zone"]["soa"] == before["zone"]["soa"]
    assert after["zone"]["nameservers"] == before["zone"]["nameservers"]
    for p in (p1, p2):
        wait_for(lambda: answers(p, "x.dyn.trip.test.", "A") == ["192.0.2.77"], 15,
                 what="wildcard back")
        wait_for(lambda: answers(p, "trip.test.", "CAA") ==
                 ['0 issue "letsencrypt.org"', '128 iodef "mailto:sec@trip.test"'], 15,
                 what="CAA back")
    # the CLI imports a file too
    f = d.dir + "/cli.zone"
    with open(f, "w") as fh:
        fh.write("$ORIGIN file.test.\n$TTL 600\n@ IN SOA ns1 hostmaster 5 1 1 1 1\n"
                 "@ IN NS ns1\nns1 IN A 192.0.2.1\nweb IN AAAA 2001:db8::1\n"
                 "txt IN TXT \"a b\" c\n")
    out = cli(d, "zones", "import", "file.test", "--file", f).stdout
    assert "zone file.test. created: 3 RRsets" in out
    recs = api("GET", "/api/v1/zones/file.test/records?name=txt").json()["records"]
    assert recs[0]["content"] == ['"a b" "c"'] and recs[0]["ttl"] == 600


def test_zonefile_errors(cluster):
    d, api, _ = cluster
    imp = "/api/v1/zones/bad.test/import"
    m = err(api("POST", imp, json={"zonefile": "$INCLUDE /etc/passwd\n"}), 422)
    assert "$INCLUDE" in m
    m = err(api("POST", imp, json={"zonefile": "@ IN SOA a b 1 1 1 1 1\n@ IN A nope\n"}), 422)
    assert m.startswith("zonefile: line 2")
    m = err(api("POST", imp, json={"zonefile": "@ IN NS ns1.bad.test.\n"}), 422)
    assert "no SOA" in m
    m = err(api("POST", imp, json={"zonefile": "@ IN SOA a b 1 1 1 1 1\n"}), 422)
    assert "no NS" in m
    m = err(api("POST", imp, json={"zonefile": "@ IN SOA a b 1 1 1 1 1\n@ IN NS ns1\n"
                                   "x IN CNAME a.test.\nx IN TXT hi\n"}), 422)
    assert "CNAME" in m
    assert api("GET", "/api/v1/zones/bad.test").status_code == 404


def test_repoint_dry_run_and_apply(cluster):
    d, api, servers = cluster
    assert d.register("db1", source="127.0.0.2")["status"] == "success"
    assert api("POST", "/api/v1/zones", json={"name": "rp.test", "records": [
        {"name": "www", "type": "A", "content": ["192.0.2.1", "192.0.2.5"]},
        {"name": "web2", "type": "A", "content": "192.0.2.1"},
        {"name": "db", "type": "A", "content": "127.0.0.2"},
        {"name": "other", "type": "A", "content": "192.0.2.9"}]}).status_code == 201
    assert api("POST", f"/api/v1/zones/{ZONE}/records", json={"records": [
        {"name": "api", "type": "A", "content": "192.0.2.1"}]}).status_code == 200
    for p in servers:
        wait_for(lambda: answers(p, "web2.rp.test.", "A") == ["192.0.2.1"], 15, what="ready")
        wait_for(lambda: answers(p, "db1." + ZONE, "A") == ["127.0.0.2"], 15, what="host")
    # bad input
    assert "from" in err(api("POST", "/api/v1/repoint", json={"from": "x", "to": "192.0.2.2"}),
                         422)
    assert "family" in err(api("POST", "/api/v1/repoint", json={"from": "192.0.2.1",
                                                                "to": "::1"}), 422)
    assert "zones[0]" in err(api("POST", "/api/v1/repoint", json={
        "from": "192.0.2.1", "to": "192.0.2.2", "zones": ["nothere.test"]}), 422)
    err(api("POST", "/api/v1/repoint", json={"from": "192.0.2.1"}), 422)
    # a dry run lists and changes nothing
    r = api("POST", "/api/v1/repoint", json={"from": "192.0.2.1", "to": "192.0.2.2",
                                             "dry_run": True}, headers=WRITE)
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["dry_run"] is True and dry["count"] == 3 and dry["hosts"] == 0
    assert sorted(c["name"] for c in dry["changes"]) == ["api." + ZONE, "web2.rp.test.",
                                                         "www.rp.test."]
    assert "would change www.rp.test. A" in cli(d, "repoint", "192.0.2.1", "192.0.2.2",
                                                 "--dry-run").stdout
    assert answers(servers[0], "www.rp.test.", "A") == ["192.0.2.1", "192.0.2.5"]
    # only one zone, only names matching the pattern
    r = api("POST", "/api/v1/repoint", json={"from": "192.0.2.1", "to": "192.0.2.2",
                                             "zones": ["rp.test"], "name_pattern": "WWW.*."})
    assert r.json()["count"] == 1, r.text
    for p in servers:
        wait_for(lambda: answers(p, "www.rp.test.", "A") == ["192.0.2.2", "192.0.2.5"], 15,
                 what="www moved")
    assert answers(servers[1], "web2.rp.test.", "A") == ["192.0.2.1"]
    # the rest, through the CLI
    out = cli(d, "repoint", "192.0.2.1", "192.0.2.2").stdout
    assert "2 RRset(s) from 192.0.2.1 to 192.0.2.2" in out
    for p in servers:
        wait_for(lambda: answers(p, "web2.rp.test.", "A") == ["192.0.2.2"], 15, what="web2")
        wait_for(lambda: answers(p, "api." + ZONE, "A") == ["192.0.2.2"], 15, what="api")
    assert answers(servers[0], "other.rp.test.", "A") == ["192.0.2.9"]
    # a host's record: the host's address changes with it, in the same transaction
    r = api("POST", "/api/v1/repoint", json={"from": "127.0.0.2", "to": "127.0.0.3"})
    body = r.json()
    assert body["count"] == 2 and body["hosts"] == 1, body
    assert d.host("db1")["current_ip"] == "127.0.0.3"
    for p in servers:
        wait_for(lambda: answers(p, "db1." + ZONE, "A") == ["127.0.0.3"], 15, what="host moved")
        wait_for(lambda: answers(p, "db.rp.test.", "A") == ["127.0.0.3"], 15, what="db moved")
    wait_for(lambda: d.host("db1")["dns_sync_status"] == "synced", 15, what="host synced")
    audit = [e for e in api("GET", "/api/v1/audit").json()["entries"] if e["action"] == "repoint"]
    assert len(audit) == 3 and audit[0]["object"] == "address:127.0.0.2"
    # nothing left to move
    assert api("POST", "/api/v1/repoint", json={"from": "192.0.2.1",
                                                "to": "192.0.2.2"}).json()["count"] == 0


def test_repoint_moves_a_hosts_ptr(prismd_factory, pdns):
    zones = ("zones:\n  - name: managed.prism.local\n  - name: 0.0.127.in-addr.arpa\n"
             "powerdns:\n  auto_ptr: true\n")
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns) + KEYS + zones)
    api = Api(d)
    assert d.register("db2", source="127.0.0.2")["status"] == "success"
    wait_for(lambda: answers(pdns, "2.0.0.127.in-addr.arpa.", "PTR") == ["db2." + ZONE], 15,
             what="PTR")
    r = api("POST", "/api/v1/repoint", json={"from": "127.0.0.2", "to": "127.0.0.4"})
    assert r.json()["hosts"] == 1, r.text
    wait_for(lambda: answers(pdns, "4.0.0.127.in-addr.arpa.", "PTR") == ["db2." + ZONE], 15,
             what="PTR moved")
    wait_for(lambda: answers(pdns, "2.0.0.127.in-addr.arpa.", "PTR") == [], 15,
             what="old PTR gone")
    # a change of Prism's own RRset waits for a read of its zone (the ownership check)
    wait_for(lambda: answers(pdns, "db2." + ZONE, "A") == ["127.0.0.4"], 15, what="A moved")


def test_stop_during_an_import_from_a_silent_target(cluster):
    d, api, (p1, _) = cluster
    legacy_zone(p1, "slow.test.")
    os.kill(p1.proc.pid, signal.SIGSTOP)
    try:
        got = {}

        def call():
            try:
                got["r"] = api("POST", "/api/v1/zones/slow.test/import", json={"target": "pdns1"})
            except requests.RequestException as e:
                got["e"] = e
        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)  # let the request reach prismd; either way the stop must be clean
        assert d.stop() == 0
        t.join(15)
        assert "e" in got or got["r"].status_code == 503, got
    finally:
        os.kill(p1.proc.pid, signal.SIGCONT)


def cluster_view(api):
    r = api("GET", "/api/v1/cluster")
    assert r.status_code == 200, r.text
    return {t["name"]: t for t in r.json()["targets"]}


def test_cluster_view_and_resync(cluster):
    d, api, (p1, p2) = cluster
    assert api("POST", "/api/v1/zones", json={"name": "cl.test", "records": [
        {"name": "a", "type": "A", "content": "192.0.2.1"}]}).status_code == 201
    for p in (p1, p2):
        wait_for(lambda: answers(p, "a.cl.test.", "A") == ["192.0.2.1"], 15, what="zone")
    # a zone Prism does not manage, made on pdns2 behind its back
    assert p2.api("POST", "/zones", json={"name": "foreign.test.", "kind": "Native",
                                          "nameservers": ["ns1.foreign.test."]}).status_code \
        == 201
    v = cluster_view(api)
    assert v["pdns1"]["reachable"] and v["pdns1"]["missing"] == 0
    assert v["pdns1"]["managed"] == 2 and v["pdns1"]["present"] == 2
    zones = {z["name"]: z for z in v["pdns1"]["zones"]}
    assert zones["cl.test."]["state"] == "present" and zones["cl.test."]["serial"] > 0
    assert v["pdns2"]["extra"] == ["foreign.test."]
    # pdns2 loses the zone: the view shows it missing, the reconciler recreates it
    assert p2.api("DELETE", "/zones/cl.test.").status_code == 204
    v = cluster_view(api)
    assert [z["name"] for z in v["pdns2"]["zones"] if z["state"] == "missing"] == ["cl.test."]
    out = cli(d, "cluster", check=False)
    assert out.returncode == 1 and "pdns2: missing cl.test." in out.stdout
    wait_for(lambda: answers(p2, "a.cl.test.", "A") == ["192.0.2.1"], 20,
             what="repaired by the reconciler")
    wait_for(lambda: cluster_view(api)["pdns2"]["missing"] == 0, 10, what="view in step")
    # "sync every zone to pdns1": its records are pushed again
    p1.api("PATCH", "/zones/cl.test.", json={"rrsets": [
        {"name": "a.cl.test.", "type": "A", "changetype": "DELETE"}]})
    assert answers(p1, "a.cl.test.", "A") == []
    out = cli(d, "cluster", "resync", "pdns1").stdout
    assert "target pdns1:" in out and "queued" in out
    wait_for(lambda: answers(p1, "a.cl.test.", "A") == ["192.0.2.1"], 15, what="resynced")
    err(api("POST", "/api/v1/targets/nope/resync"), 404)
    err(api("POST", "/api/v1/targets/pdns1/resync", headers=WRITE), 403)
    entries = api("GET", "/api/v1/audit").json()["entries"]
    resyncs = [e for e in entries if e["action"] == "target.resync"]
    assert [e["object"] for e in resyncs] == ["target:pdns1"], entries
    assert resyncs[0]["before"] is None and resyncs[0]["after"]["rrsets"] >= 1, resyncs
    # a target that is down is shown as such
    p1.stop()
    v = cluster_view(api)
    assert v["pdns1"]["reachable"] is False and v["pdns1"]["error"]
    p1.start()


def test_zone_resync_repairs_one_zone_on_its_targets(prismd_factory, pdns, pdns2):
    # no reconciler: only the resync can repair what was removed behind Prism's back
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns, pdns2) + KEYS +
                       "sync:\n  reconcile_interval: 0\n")
    api = Api(d)
    for z in ("rs.test", "other.test"):
        assert api("POST", "/api/v1/zones", json={"name": z, "records": [
            {"name": "a", "type": "A", "content": "192.0.2.7"}]}).status_code == 201
    for p in (pdns, pdns2):
        for z in ("rs.test.", "other.test."):
            wait_for(lambda: answers(p, f"a.{z}", "A") == ["192.0.2.7"], 15, what=z)
    for p in (pdns, pdns2):
        for z in ("rs.test.", "other.test."):
            assert p.api("PATCH", f"/zones/{z}", json={"rrsets": [
                {"name": f"a.{z}", "type": "A", "changetype": "DELETE"}]}).status_code == 204
    r = api("POST", "/api/v1/zones/rs.test/resync")
    assert r.status_code == 200, r.text
    assert r.json() == {"zone": "rs.test.", "rrsets": r.json()["rrsets"], "targets": 2}
    assert r.json()["rrsets"] >= 2  # at least a.rs.test. A on each target
    for p in (pdns, pdns2):
        wait_for(lambda: answers(p, "a.rs.test.", "A") == ["192.0.2.7"], 15, what="resynced")
    # the resync's marks were committed before its answer: once no row is pending, the
    # engine pushed all it was asked to (other.test. too, had it been marked)
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status = 'pending'")[0][0]
             == 0, 15, what="every marked row pushed")
    for p in (pdns, pdns2):
        assert answers(p, "a.other.test.", "A") == [], "only the zone asked for is synced"
    out = cli(d, "zones", "resync", "other.test").stdout
    assert "zone other.test.:" in out and "2 target(s)" in out, out
    for p in (pdns, pdns2):
        wait_for(lambda: answers(p, "a.other.test.", "A") == ["192.0.2.7"], 15, what="cli")
    err(api("POST", "/api/v1/zones/nothere.test/resync"), 404)
    err(api("POST", "/api/v1/zones/rs.test/resync", headers=WRITE), 403)
    err(api("POST", "/api/v1/zones/rs.test/resync", json={"x": 1}), 400)
    entries = api("GET", "/api/v1/audit").json()["entries"]
    assert [e["object"] for e in entries if e["action"] == "zone.resync"] == \
        ["zone:other.test.", "zone:rs.test."], entries


# PowerDNS keeps DNSSEC keys (30 s) and zone metadata (60 s) in caches of its own, which the
# cache flush after each change does not empty. Twice in CI, under load, its DNS answers
# lagged what prismd had done by more than the tests wait (DNSKEY still answered 20 s after
# prismd turned DNSSEC off; a record added to a signed zone unsigned after 15 s); those
# caches are the likely cause, not confirmed. Without them the answers show what PowerDNS
# holds, which is what these tests check.
DNSSEC_CONF = ("gsqlite3-dnssec=yes\nprimary=yes\ndnssec-key-cache-ttl=0\n"
               "zone-metadata-cache-ttl=0\n")


@pytest.fixture
def signed_cluster(prismd_factory):
    servers = [PowerDNS(extra_conf=DNSSEC_CONF).start() for _ in range(2)]
    d = prismd_factory(None, extra_yaml=targets_yaml(*servers) + KEYS)
    yield d, Api(d), servers
    for p in servers:
        p.cleanup()


def dnskeys(p, zone):
    q = dns.message.make_query(zone, "DNSKEY", want_dnssec=True)
    r = dns.query.udp(q, "127.0.0.1", port=p.dns_port, timeout=2)
    return [rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.DNSKEY
            for rd in rrset]


def test_dnssec_on_and_off(signed_cluster):
    d, api, servers = signed_cluster
    r = api("POST", "/api/v1/zones", json={"name": "sec.test", "dnssec": True, "records": [
        {"name": "www", "type": "A", "content": "192.0.2.1"}]})
    assert r.status_code == 201, r.text
    for p in servers:
        wait_for(lambda: dnskeys(p, "sec.test.") != [], 20, what=f"DNSKEY at {p.api_url}")
        wait_for(lambda: answers(p, "www.sec.test.", "A") == ["192.0.2.1"], 15, what="www")
    keys = api("GET", "/api/v1/zones/sec.test/dnssec").json()
    assert keys["dnssec"] is True and len(keys["targets"]) == 2
    for t in keys["targets"]:
        assert t["error"] is None and t["keys"] and t["keys"][0]["ds"], t
    out = cli(d, "zones", "dnssec", "sec.test").stdout
    assert "DNSSEC on" in out and "IN DS" in out
    # a record added later is signed too (api_rectify)
    api("POST", "/api/v1/zones/sec.test/records", json={"records": [
        {"name": "new", "type": "TXT", "content": "signed"}]})
    q = dns.message.make_query("new.sec.test.", "TXT", want_dnssec=True)
    wait_for(lambda: any(rr.rdtype == dns.rdatatype.RRSIG for rr in dns.query.udp(
        q, "127.0.0.1", port=servers[1].dns_port, timeout=2).answer), 15, what="RRSIG")
    # off: the keys go, DNSKEY no longer answers
    assert "being turned off" in cli(d, "zones", "dnssec", "sec.test", "off").stdout
    for p in servers:
        wait_for(lambda: dnskeys(p, "sec.test.") == [], 20, what="DNSKEY gone")
    assert api("GET", "/api/v1/zones/sec.test/dnssec").json()["targets"][0]["keys"] == []
    err(api("POST", f"/api/v1/zones/{ZONE}/dnssec", json={"enabled": True}), 409)
    err(api("POST", "/api/v1/zones/nothere.test/dnssec", json={"enabled": True}), 404)
    err(api("POST", "/api/v1/zones/sec.test/dnssec", json={"enabled": "yes"}), 400)
    actions = [e["action"] for e in api("GET", "/api/v1/audit").json()["entries"]]
    assert actions.count("zone.dnssec") == 1


def test_notify_after_changes_of_a_master_zone(signed_cluster):
    d, api, (p1, _) = signed_cluster
    assert api("POST", "/api/v1/zones", json={"name": "prim.test", "kind": "Master"}
               ).status_code == 201
    wait_for(lambda: zone_on(p1, "prim.test."), 15, what="zone")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    port = sock.getsockname()[1]
    try:
        r = p1.api("PUT", "/zones/prim.test./metadata/ALSO-NOTIFY",
                   json={"metadata": [f"127.0.0.1:{port}"]})
        assert r.status_code == 200, r.text

        def notified():
            try:
                while True:
                    m = dns.message.from_wire(sock.recv(4096))
                    if m.opcode() == dns.opcode.NOTIFY and \
                            m.question[0].name.to_text() == "prim.test.":
                        return True
            except (socket.timeout, dns.exception.DNSException):
                return False
        notified()  # nothing is expected yet; drain whatever came
        api("POST", "/api/v1/zones/prim.test/records", json={"records": [
            {"name": "www", "type": "A", "content": "192.0.2.1"}]})
        wait_for(notified, 15, interval=0, what="NOTIFY from pdns1")
    finally:
        sock.close()


def notifies(sock, zone):
    """True when a NOTIFY for zone is waiting on sock (the others are read and dropped)."""
    try:
        while True:
            m = dns.message.from_wire(sock.recv(4096))
            if m.opcode() == dns.opcode.NOTIFY and m.question[0].name.to_text() == zone:
                return True
    except (socket.timeout, dns.exception.DNSException):
        return False


def test_configured_zone_kinds_dnssec_and_notify_for_agents(prismd_factory):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    port = sock.getsockname()[1]
    servers = [PowerDNS(extra_conf=DNSSEC_CONF + f"also-notify=127.0.0.1:{port}\n").start()
               for _ in range(2)]
    try:
        # the agents' zone exists already, Native, on the first server: it becomes Master
        assert servers[0].api("POST", "/zones", json={
            "name": ZONE, "kind": "Native", "nameservers": [f"ns1.{ZONE}"]}).status_code == 201
        zones = (f"zones:\n  - name: {ZONE}\n    kind: master\n    dnssec: true\n"
                 "  - name: plain.test\n")
        d = prismd_factory(None, extra_yaml=targets_yaml(*servers) + KEYS + zones)
        api = Api(d)
        for p in servers:
            wait_for(lambda: zone_on(p, ZONE) and zone_on(p, "plain.test."), 15, what="zones")
            wait_for(lambda: dnskeys(p, ZONE) != [], 20, what=f"DNSKEY at {p.api_url}")
            z = p.api("GET", f"/zones/{ZONE}?rrsets=false").json()
            assert z["kind"] == "Master" and z["dnssec"] is True, z
            z = p.api("GET", "/zones/plain.test.?rrsets=false").json()
            assert z["kind"] == "Native" and z["dnssec"] is False, z
        z = api("GET", f"/api/v1/zones/{ZONE}").json()
        assert z["kind"] == "Master" and z["dnssec"] is True and z["origin"] == "config", z
        assert f"zone {ZONE} is of kind Master" in d.read_log()
        assert api("GET", "/api/v1/zones/plain.test").json()["kind"] == "Native"
        notifies(sock, ZONE)  # drain: only what follows a change counts
        notifies(sock, "plain.test.")
        # the agents' zone: a registration is a change of a Master zone, NOTIFY follows
        assert d.register("web1")["status"] == "success"
        wait_for(lambda: notifies(sock, ZONE), 15, interval=0, what="NOTIFY for agents' zone")
        for p in servers:
            wait_for(lambda: answers(p, f"web1.{ZONE}", "A") == ["127.0.0.1"], 15, what="A")
        # a Native zone changes without NOTIFY
        r = api("POST", "/api/v1/zones/plain.test/records", json={"records": [
            {"name": "www", "type": "A", "content": "192.0.2.1"}]})
        assert r.status_code in (200, 201), r.text
        for p in servers:
            wait_for(lambda: answers(p, "www.plain.test.", "A") == ["192.0.2.1"], 15, what="www")
        assert not notifies(sock, "plain.test.")
    finally:
        sock.close()
        for p in servers:
            p.cleanup()


def test_configured_zone_kind_is_checked(tmp_path):
    conf = tmp_path / "bad.yaml"
    conf.write_text("zones:\n  - name: a.test\n    kind: Slave\n")
    r = subprocess.run([PRISMD, "--config", str(conf), "--check-config"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "zones[1].kind: Native or Master" in r.stderr + r.stdout, r


def health(api):
    r = api("GET", "/api/v1/targets")
    assert r.status_code == 200, r.text
    return {t["name"]: t["health"] for t in r.json()["targets"]}


def test_health_checks_per_target(prismd_factory, pdns, pdns2):
    y = targets_yaml(pdns, pdns2)
    y = y.replace(f"    api_key: \"{pdns.key}\"\n",
                  f"    api_key: \"{pdns.key}\"\n    dns_address: \"127.0.0.1:{pdns.dns_port}\"\n",
                  1)
    y = y.replace(f"api_url: \"{pdns2.api_url}\"\n",
                  f"api_url: \"{pdns2.api_url}\"\n    dns_address: 127.0.0.1:{pdns2.dns_port}\n")
    d = prismd_factory(None, extra_yaml=y + KEYS +
                       "sync:\n  health_interval: 1\n  reconcile_interval: 0\n")
    api = Api(d)
    assert api("POST", "/api/v1/zones", json={"name": "hc.test", "records": [
        {"name": "a", "type": "A", "content": "192.0.2.1"}]}).status_code == 201
    wait_for(lambda: all(h["state"] == "healthy" for h in health(api).values()), 20,
             what=f"both healthy: {health(api)}")
    h = health(api)["pdns1"]
    assert h["version"].startswith("4.") and h["reason"] == ""
    assert h["zones_missing"] == 0 and h["zones_extra"] == 0
    # a zone of the server's own, which Prism does not manage: counted, no fault
    assert pdns2.api("POST", "/zones", json={
        "name": "own.test.", "kind": "Native", "nameservers": ["ns1.own.test."]}
    ).status_code == 201
    wait_for(lambda: health(api)["pdns2"]["zones_extra"] == 1, 10, what="extra zone counted")
    assert health(api)["pdns2"]["state"] == "healthy"
    assert health(api)["pdns1"]["zones_extra"] == 0
    # the record's PATCH follows the zone's creation: wait for it, or the PATCH answered 404
    # after the DELETE below re-creates the zone (rightly) before health can see it missing
    for srv in (pdns, pdns2):
        wait_for(lambda: answers(srv, "a.hc.test.", "A") == ["192.0.2.1"], 15,
                 what=f"record pushed to {srv.api_url}")
    # a zone lost behind Prism's back: degraded, naming it; repaired, healthy again
    assert pdns2.api("DELETE", "/zones/hc.test.").status_code == 204
    wait_for(lambda: health(api)["pdns2"]["state"] == "degraded", 10, what="degraded")
    assert "1 zone(s) missing: hc.test." in health(api)["pdns2"]["reason"]
    assert health(api)["pdns2"]["zones_missing"] == 1
    assert health(api)["pdns1"]["state"] == "healthy"
    assert api("POST", "/api/v1/sync/reconcile", headers=WRITE).status_code == 202
    wait_for(lambda: answers(pdns2, "a.hc.test.", "A") == ["192.0.2.1"], 15, what="repaired")
    wait_for(lambda: health(api)["pdns2"]["state"] == "healthy", 10, what="healthy again")
    # the server stops answering: unavailable
    os.kill(pdns2.proc.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: health(api)["pdns2"]["state"] == "unavailable", 15,
                 what="unavailable while stopped")
    finally:
        os.kill(pdns2.proc.pid, signal.SIGCONT)
    wait_for(lambda: health(api)["pdns2"]["state"] == "healthy", 15, what="back")
    # paused: maintenance
    assert api("POST", "/api/v1/targets/pdns1/pause").status_code == 200
    wait_for(lambda: health(api)["pdns1"]["state"] == "maintenance", 10, what="maintenance")
    out = cli(d, "targets").stdout
    assert "maintenance" in out and "pdns1: paused" in out
    r = api("GET", "/metrics")
    assert 'prism_target_health{target="pdns1",state="maintenance"} 1' in r.text
    assert 'prism_target_health_transitions_total{target="pdns2"}' in r.text
    assert "target pdns2: healthy -> degraded (1 zone(s) missing: hc.test.)" in d.read_log()


def test_health_dns_probe_without_answer_is_degraded(prismd_factory, pdns):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))  # takes the datagrams, never answers
    try:
        y = targets_yaml(pdns).replace(
            f"    api_key: \"{pdns.key}\"\n",
            f"    api_key: \"{pdns.key}\"\n    dns_address: \"127.0.0.1:{silent.getsockname()[1]}\"\n")
        d = prismd_factory(None, extra_yaml=y + KEYS + "sync:\n  health_interval: 1\n")
        api = Api(d)
        wait_for(lambda: health(api)["pdns1"]["state"] == "degraded", 15, what="degraded")
        assert "DNS: no SOA answer for managed.prism.local." in health(api)["pdns1"]["reason"]
    finally:
        silent.close()


def test_dnssec_keys_when_the_registry_cannot_be_read(prismd_factory, pdns):
    """A registry read that fails is an error answer, not "no target serves the zone"."""
    d = prismd_factory(None, extra_yaml=targets_yaml(pdns) + KEYS)
    api = Api(d)
    r = api("POST", "/api/v1/zones", json={"name": "keys.test"})
    assert r.status_code == 201, r.text
    wait_for(lambda: zone_on(pdns, "keys.test."), 15, what="zone")
    keys = api("GET", "/api/v1/zones/keys.test/dnssec").json()
    assert [t["target"] for t in keys["targets"]] == ["pdns1"], keys
    # the zone is still there; which targets serve it can no longer be read
    d.db_exec("ALTER TABLE target_zones RENAME TO target_zones_gone")
    e = err(api("GET", "/api/v1/zones/keys.test/dnssec"), 503, "unavailable")
    assert "could not be read" in e and "target_zones" in e, e
    e = err(api("GET", "/api/v1/cluster"), 503, "unavailable")
    assert "could not be read" in e, e
    d.db_exec("ALTER TABLE target_zones_gone RENAME TO target_zones")
    assert api("GET", "/api/v1/zones/keys.test/dnssec").status_code == 200
