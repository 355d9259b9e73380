# SPDX-License-Identifier: MIT
"""Targets added at run time (POST, PATCH and DELETE /api/v1/targets, prism targets
add|remove) against two real PowerDNS servers: the second one is added while prismd runs
and catches up at once, a PATCH of its zones takes effect, a DELETE stops the pushes and
forgets its ledger rows (its records stay on the server), it survives a restart, the
refusals say why, every change is audited and a read key cannot change targets."""
import json
import os
import signal

import pytest

from prismlib import wait_for
from test_api import metric, parse_metrics
from test_zones import Api, answers, cli, err, zone_on  # the same keys and helpers

ZONE = "managed.prism.local."
SECOND = "second.test."
ADMIN = {"X-API-Key": "adm1n"}
READ = {"X-API-Key": "r3ad"}
KEYS = ("api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"
        "    - {name: ro, key: r3ad, role: read}\n")


def config(p1, key_dir=None):
    return (f"targets:\n  - name: pdns1\n    api_url: \"{p1.api_url}\"\n"
            f"    api_key: \"{p1.key}\"\n"
            f"zones:\n  - name: {ZONE}\n  - name: {SECOND}\n" + KEYS +
            (f"  target_key_dir: \"{key_dir}\"\n" if key_dir else "") +
            "sync:\n  reconcile_interval: 2\n")


def register(d, host):
    reply = d.register(host)
    assert reply.get("status") == "success", reply


def targets(api):
    r = api("GET", "/api/v1/targets")
    assert r.status_code == 200, r.text
    return {t["name"]: t for t in r.json()["targets"]}


def audit(api, action):
    r = api("GET", "/api/v1/audit")
    assert r.status_code == 200, r.text
    return [e for e in r.json()["entries"] if e["action"] == action]


@pytest.fixture
def keyfile(tmp_path, pdns2):
    path = tmp_path / "pdns2.key"
    path.write_text(pdns2.key + "\n")
    return str(path)


def test_add_patch_delete_and_restart(prismd_factory, pdns, pdns2, keyfile):
    d = prismd_factory(None, extra_yaml=config(pdns, os.path.dirname(keyfile)))
    api = Api(d)
    register(d, "web1")
    wait_for(lambda: answers(pdns, "web1." + ZONE, "A") is not None and
             len(answers(pdns, "web1." + ZONE, "A")) == 1, 15, what="web1 on pdns1")
    assert not zone_on(pdns2, ZONE)

    # added with only the second zone: that zone is made there, the agents' zone is not
    r = api("POST", "/api/v1/targets", json={
        "name": "pdns2", "api_url": pdns2.api_url, "api_key_file": keyfile,
        "zones": ["Second.Test"], "group": "edge",
        "dns_address": f"127.0.0.1:{pdns2.dns_port}"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert t["name"] == "pdns2" and t["origin"] == "api" and t["zones"] == [SECOND]
    assert t["api_key_set"] is False and t["api_key_file"] == keyfile
    assert t["server_id"] == "localhost" and t["group"] == "edge"
    wait_for(lambda: zone_on(pdns2, SECOND), 15, what="second.test on pdns2")
    assert not zone_on(pdns2, ZONE)
    z = api("GET", f"/api/v1/zones/{SECOND}").json()
    assert [s["target"] for s in z["served_by"]] == ["pdns1", "pdns2"]
    z = api("GET", f"/api/v1/zones/{ZONE}").json()
    assert [s["target"] for s in z["served_by"]] == ["pdns1"]
    listed = targets(api)
    assert listed["pdns1"]["origin"] == "config" and listed["pdns2"]["origin"] == "api"
    wait_for(lambda: (targets(api)["pdns2"]["health"] or {}).get("state") == "healthy", 20,
             what="pdns2 health-checked")
    entry = audit(api, "target.create")[0]
    assert entry["object"] == "target:pdns2" and entry["actor"] == "admin"
    assert pdns2.key not in str(entry)

    # PATCH: every zone; the agents' zone is made there and web1 catches up
    r = api("PATCH", "/api/v1/targets/pdns2", json={"zones": None})
    assert r.status_code == 200, r.text
    assert r.json()["zones"] is None and r.json()["group"] == "edge"
    wait_for(lambda: answers(pdns2, "web1." + ZONE, "A") ==
             answers(pdns, "web1." + ZONE, "A"), 20, what="web1 caught up on pdns2")
    assert audit(api, "target.update")[0]["object"] == "target:pdns2"
    # a zone made through the API for the group goes to the run-time target
    r = api("POST", "/api/v1/zones", json={"name": "edge.test", "targets": "edge"})
    assert r.status_code == 201, r.text
    assert [s["target"] for s in r.json()["served_by"]] == ["pdns2"]
    wait_for(lambda: zone_on(pdns2, "edge.test."), 15, what="edge.test on pdns2")
    assert not zone_on(pdns, "edge.test.")

    # restart: the target comes back from the registry and keeps pushing
    d.stop()
    d.start()
    api = Api(d)
    wait_for(lambda: "pdns2" in targets(api), 10, what="pdns2 after restart")
    assert targets(api)["pdns2"]["origin"] == "api"
    register(d, "web2")
    wait_for(lambda: answers(pdns2, "web2." + ZONE, "A") not in (None, []), 20,
             what="web2 on pdns2 after restart")

    # DELETE: no more pushes, the ledger forgets it, its records stay on the server
    r = api("DELETE", "/api/v1/targets/pdns2")
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": {"name": "pdns2"}}
    assert "pdns2" not in targets(api)
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE target = 'pdns2'")[0][0]
             == 0, 10, what="pdns2's ledger rows forgotten")
    register(d, "web3")
    wait_for(lambda: answers(pdns, "web3." + ZONE, "A") not in (None, []), 15, what="web3 on pdns1")
    wait_for(lambda: targets(api)["pdns1"]["state"] == "ok", 5, what="pdns1 idle")
    assert answers(pdns2, "web3." + ZONE, "A") == []
    assert d.db_query("SELECT count(*) FROM ledger WHERE target = 'pdns2'")[0][0] == 0
    assert answers(pdns2, "web1." + ZONE, "A") not in (None, [])  # left alone
    assert audit(api, "target.delete")[0]["object"] == "target:pdns2"
    err(api("DELETE", "/api/v1/targets/pdns2"), 404, "not_found")
    d.stop()
    d.start()
    api = Api(d)
    assert "pdns2" not in targets(api)
    assert d.db_query("SELECT count(*) FROM runtime_targets")[0][0] == 0


def test_refusals(prismd_factory, pdns, pdns2, keyfile, tmp_path):
    d = prismd_factory(None, extra_yaml=config(pdns, os.path.dirname(keyfile)))
    api = Api(d)
    good = {"name": "pdns2", "api_url": pdns2.api_url, "api_key": pdns2.key}
    msg = err(api("POST", "/api/v1/targets", json=dict(good, name="pdns1")), 409, "conflict")
    assert "configuration file" in msg
    # the texts of the configuration file's check (one check for both, without targets[N])
    msg = err(api("POST", "/api/v1/targets", json=dict(good, api_url="ftp://x/api/v1")), 422,
              "invalid_value")
    assert msg == "api_url: must start with http:// or https://"
    msg = err(api("POST", "/api/v1/targets", json=dict(good, api_key_file=keyfile)), 422)
    assert msg == "give exactly one of api_key and api_key_file"
    missing = str(tmp_path / "nope.key")
    g2 = {k: v for k, v in good.items() if k != "api_key"}
    msg = err(api("POST", "/api/v1/targets", json=dict(g2, api_key_file=missing)), 422)
    assert msg.startswith("api_key_file:") and "nope.key is not a readable key file" in msg
    # only files of api.target_key_dir: another readable file (a secret of something else,
    # sent to an api_url of the caller's choice) gets the same answer as a missing one
    other = tmp_path.parent / "elsewhere.key"
    other.write_text("secret\n")
    link = tmp_path / "link.key"
    link.symlink_to(other)
    for path in (other, link):
        msg = err(api("POST", "/api/v1/targets", json=dict(g2, api_key_file=str(path))), 422)
        assert "is not a readable key file in" in msg, msg
    msg = err(api("POST", "/api/v1/targets", json=dict(good, api_key="a\nX-Other: 1")), 422)
    assert "api_key: must not be empty or hold a line break" in msg
    assert "pdns2" not in targets(api)
    msg = err(api("POST", "/api/v1/targets", json=dict(good, zones=["other.test"])), 422)
    assert msg == "zones: 'other.test.' is not one of zones"
    msg = err(api("POST", "/api/v1/targets", json=dict(good, dns_address="localhost")), 422)
    assert msg == "dns_address: must be IP:port (192.0.2.1:53, [2001:db8::1]:53)"
    err(api("POST", "/api/v1/targets", json=dict(good, name="a b")), 422, "invalid_value")
    err(api("POST", "/api/v1/targets", json=dict(good, colour="red")), 400, "unknown_field")
    err(api("POST", "/api/v1/targets", json={"name": "x"}), 400, "missing_field")
    # a read key changes nothing
    assert api("POST", "/api/v1/targets", headers=READ, json=good).status_code == 403
    assert api("PATCH", "/api/v1/targets/pdns1", headers=READ, json={}).status_code == 403
    assert api("DELETE", "/api/v1/targets/pdns1", headers=READ).status_code == 403
    # the configuration's targets are left as they are
    msg = err(api("PATCH", "/api/v1/targets/pdns1", json={"group": "x"}), 409, "conflict")
    assert "configuration file" in msg
    err(api("DELETE", "/api/v1/targets/pdns1"), 409, "conflict")
    err(api("DELETE", "/api/v1/targets/nope"), 404, "not_found")
    err(api("PATCH", "/api/v1/targets/nope", json={}), 404, "not_found")
    # added once; the same name again is refused
    assert api("POST", "/api/v1/targets", json=good).status_code == 201
    msg = err(api("POST", "/api/v1/targets", json=good), 409, "conflict")
    assert "exists" in msg
    err(api("PATCH", "/api/v1/targets/pdns2", json={"name": "x"}), 400, "unknown_field")
    err(api("PATCH", "/api/v1/targets/pdns2", json={"api_url": "nope"}), 422)
    # the scheme in any case, as in the configuration file (the API took only lower case)
    upper = "HTTP://" + pdns2.api_url[len("http://"):]
    r = api("PATCH", "/api/v1/targets/pdns2", json={"api_url": upper})
    assert r.status_code == 200, r.text
    # nothing refused was kept or audited
    assert d.db_query("SELECT name FROM runtime_targets") == [("pdns2",)]
    assert len(audit(api, "target.create")) == 1
    assert len(audit(api, "target.update")) == 1
    # the clear key is kept in the registry, which prismd made 0600
    assert d.db_query("SELECT api_key FROM runtime_targets")[0][0] == pdns2.key
    assert os.stat(d.db).st_mode & 0o077 == 0


def test_cli_targets_add_and_remove(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=config(pdns))
    api = Api(d)
    register(d, "web1")
    # the key on standard input: never on the command line
    r = cli(d, "targets", "add", "pdns2", "--url", pdns2.api_url, "--key-stdin",
            "--zones", f"{ZONE},{SECOND}", "--dns-address", f"127.0.0.1:{pdns2.dns_port}",
            stdin=pdns2.key + "\n")
    assert "target 'pdns2' added" in r.stdout
    wait_for(lambda: answers(pdns2, "web1." + ZONE, "A") not in (None, []), 20,
             what="web1 caught up on pdns2")
    t = targets(api)["pdns2"]
    assert t["origin"] == "api"
    r = cli(d, "targets", "list")
    assert "pdns2" in r.stdout
    r = cli(d, "--json", "targets", "list")
    assert '"origin": "api"' in r.stdout
    # refusals come back with the server's reason
    r = cli(d, "targets", "add", "pdns1", "--url", pdns.api_url, "--key-stdin",
            stdin="k\n", check=False)
    assert r.returncode != 0 and "configuration file" in r.stderr
    r = cli(d, "targets", "add", "x", "--url", pdns.api_url, check=False)
    assert r.returncode == 2 and "--key-file" in r.stderr
    r = cli(d, "targets", "remove", "pdns2", check=False)
    assert r.returncode == 2 and "--yes" in r.stderr
    r = cli(d, "targets", "remove", "pdns2", "--yes")
    assert "target 'pdns2' removed" in r.stdout
    assert "pdns2" not in targets(api)
    r = cli(d, "targets", "remove", "pdns2", "--yes", check=False)
    assert r.returncode != 0 and "no target called 'pdns2'" in r.stderr


def test_key_file_read_again_on_sighup(prismd_factory, pdns, pdns2, tmp_path):
    """A Vault Agent renders the key to the file and sends SIGHUP: a run-time target with
    api_key_file takes the new key, like the configuration's targets."""
    d = prismd_factory(None, extra_yaml=config(pdns, str(tmp_path)))
    api = Api(d)
    register(d, "web1")
    key = tmp_path / "rotated.key"
    key.write_text("not-the-key\n")
    r = api("POST", "/api/v1/targets", json={"name": "pdns2", "api_url": pdns2.api_url,
                                             "api_key_file": str(key)})
    assert r.status_code == 201, r.text
    wait_for(lambda: targets(api)["pdns2"]["state"] == "unauthorised", 15,
             what="pdns2 refuses the wrong key")
    key.write_text(pdns2.key + "\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: answers(pdns2, "web1." + ZONE, "A") not in (None, []), 20,
             what="web1 on pdns2 with the new key")
    assert "reload: target pdns2: new API key" in d.read_log()


def test_key_file_refused_without_key_dir(prismd_factory, pdns, pdns2, keyfile):
    """Without api.target_key_dir, api_key_file is not taken through the API at all."""
    d = prismd_factory(None, extra_yaml=config(pdns))
    api = Api(d)
    msg = err(api("POST", "/api/v1/targets", json={
        "name": "pdns2", "api_url": pdns2.api_url, "api_key_file": keyfile}), 422)
    assert "unless api.target_key_dir names the directory of target keys" in msg
    assert "pdns2" not in targets(api)


def test_target_limit_holds_under_concurrent_posts(prismd_factory, pdns):
    """64 targets in all, also when the POSTs come at once (creations still being committed
    count): the rest get 409."""
    import concurrent.futures
    d = prismd_factory(None, extra_yaml=config(pdns))
    api = Api(d)

    def post(i):
        return api("POST", "/api/v1/targets", json={
            "name": f"t{i}", "api_url": "http://127.0.0.1:9/api/v1", "api_key": "k",
            "zones": [SECOND]}).status_code
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(post, range(80)))
    assert codes.count(201) == 63 and codes.count(409) == 17, sorted(set(codes))
    assert len(targets(api)) == 64


def pdns_requests(api):
    r = api("GET", "/metrics")
    assert r.status_code == 200, r.text
    ms = parse_metrics(r.text)
    return lambda method, endpoint, status: metric(
        ms, "prism_powerdns_api_requests_total", method=method, endpoint=endpoint,
        status=status)


def test_new_target_gets_each_zone_with_its_records_in_one_request(prismd_factory, pdns,
                                                                    pdns2, keyfile):
    """A new target's catch-up creates each registry zone with its records in one POST (no
    PATCH); a zone that was there already (409) is checked first: the foreign RRset at a
    wanted name is left alone and reported, the rest pushed."""
    d = prismd_factory(None, extra_yaml=config(pdns, os.path.dirname(keyfile)))
    api = Api(d)
    zones = ["cu0.test.", "cu1.test.", "cu2.test.", "taken.test."]
    for z in zones:
        r = api("POST", "/api/v1/zones", json={"name": z, "records": [
            {"name": f"h{k}", "type": "A", "content": f"192.0.2.{k + 1}"} for k in range(5)]})
        assert r.status_code == 201, r.text
    synced = "SELECT count(*) FROM ledger WHERE status != 'synced'"
    wait_for(lambda: d.db_query(synced)[0][0] == 0, 15, what="all on pdns1")
    # taken.test is on pdns2 already, with someone else's h0
    assert pdns2.api("POST", "/zones", json={"name": "taken.test.", "kind": "Native",
                                             "nameservers": ["ns1.taken.test."]}).status_code == 201
    assert pdns2.api("PATCH", "/zones/taken.test.", json={"rrsets": [{
        "name": "h0.taken.test.", "type": "A", "ttl": 60, "changetype": "REPLACE",
        "records": [{"content": "203.0.113.9", "disabled": False}]}]}).status_code == 204
    before = pdns_requests(api)

    r = api("POST", "/api/v1/targets", json={"name": "pdns2", "api_url": pdns2.api_url,
                                             "api_key_file": keyfile})
    assert r.status_code == 201, r.text
    for z in zones[:3]:
        wait_for(lambda: answers(pdns2, "h4." + z, "A") == ["192.0.2.5"], 15,
                 what=f"{z} on pdns2")
        rr = pdns2.rrset(z, "h2." + z, "A")
        assert [c["account"] for c in rr["comments"]] == ["prism"], rr
    wait_for(lambda: answers(pdns2, "h4.taken.test.", "A") == ["192.0.2.5"], 15,
             what="taken.test's free names on pdns2")
    assert answers(pdns2, "h0.taken.test.", "A") == ["203.0.113.9"]
    wait_for(lambda: d.db_query("SELECT status FROM ledger WHERE target = 'pdns2' AND "
                                "name = 'h0.taken.test.'") == [("conflict",)], 15,
             what="the foreign h0 reported")
    after = pdns_requests(api)
    grew = {k: after(*k) - before(*k) for k in (("POST", "zones", "201"),
                                                ("POST", "zones", "409"),
                                                ("PATCH", "zone", "204"))}
    # three API zones with their records and the two configured zones (created alone, then
    # checked as before) are new; taken.test was there; only its free names need a PATCH
    assert grew == {("POST", "zones", "201"): 5, ("POST", "zones", "409"): 1,
                    ("PATCH", "zone", "204"): 1}, grew


def test_zone_refused_with_its_records_is_created_alone(prismd_factory, pdns, pdns2, keyfile):
    """A server that refuses the POST creating a zone with its records (a 422, injected by a
    proxy) gets the zone created alone and the records by PATCH; one that answers 503
    backs prismd off, and the zone still arrives with every record."""
    from test_gateway_limits import Proxy
    proxy = Proxy(f"http://127.0.0.1:{pdns2.api_port}")
    tried = []

    def fail_when(method, path, body):
        # a zone's own creation may carry its SOA; the records make it the one-request kind
        if method != "POST" or not path.endswith("/zones") or b'"type":"A"' not in body:
            return None
        name = json.loads(body)["name"]
        tried.append(name)
        if name == "refused.test.":
            return 422
        return 503 if tried.count(name) <= 5 else None

    proxy.fail_when = fail_when
    try:
        d = prismd_factory(None, extra_yaml=config(pdns, os.path.dirname(keyfile)))
        api = Api(d)
        for z in ("refused.test.", "busy.test."):
            r = api("POST", "/api/v1/zones", json={"name": z, "records": [
                {"name": f"h{k}", "type": "A", "content": f"192.0.2.{k + 1}"}
                for k in range(3)]})
            assert r.status_code == 201, r.text
        r = api("POST", "/api/v1/targets", json={"name": "pdns2", "api_url": proxy.api_url,
                                                 "api_key_file": keyfile})
        assert r.status_code == 201, r.text
        for z in ("refused.test.", "busy.test."):
            wait_for(lambda: all(answers(pdns2, f"h{k}." + z, "A") == [f"192.0.2.{k + 1}"]
                                 for k in range(3)), 40, what=f"{z} on pdns2")
        assert "refused.test." in tried and tried.count("busy.test.") >= 1, tried
        log = d.read_log()
        assert "zone refused.test. not created with its RRsets" in log, log[-2000:]
        wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE target = 'pdns2' AND "
                                    "status != 'synced'")[0][0] == 0, 20, what="all synced")
    finally:
        proxy.stop()
