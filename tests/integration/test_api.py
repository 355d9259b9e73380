# SPDX-License-Identifier: MIT
"""The REST API and /metrics against the built prismd (and a real PowerDNS where DNS
matters): every route for success and for each error status, the compatibility routes'
exact shapes, tokens and keys created through the API, pause/resume, the OpenAPI file."""
import os
import re
import socket
import subprocess
import time

import pytest
import requests
import yaml

from prismlib import ROOT, wait_for

ZONE = "managed.prism.local."
KEYS = ("api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"
        "    - {name: ro, key: r3ad, role: read}\n    - {name: rw, key: wr1te, role: write}\n")
ADMIN = {"X-API-Key": "adm1n"}
READ = {"Authorization": "Bearer r3ad"}
WRITE = {"X-API-Key": "wr1te"}
COMPAT_HOST = {"id", "hostname", "current_ip", "status", "first_seen", "last_seen"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class Api:
    """requests against one prismd's API port, one keep-alive session."""

    def __init__(self, d, scheme="http", verify=True):
        self.d = d
        self.base = f"{scheme}://127.0.0.1:{d.api_port}"
        self.s = requests.Session()
        self.verify = verify  # per request: REQUESTS_CA_BUNDLE would override the session's

        def up():
            try:
                socket.create_connection(("127.0.0.1", d.api_port), timeout=0.5).close()
                return True
            except OSError:
                return False
        wait_for(up, 10, what="API port")

    def __call__(self, method, path, headers=None, **kw):
        return self.s.request(method, self.base + path, headers=headers, timeout=10,
                              verify=self.verify, **kw)

    def get(self, path, headers=READ, **kw):
        return self(method="GET", path=path, headers=headers, **kw)


def err(r, status, code=None):
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]["message"]


def metrics(api, headers=READ):
    r = api.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse_metrics(r.text)


def parse_metrics(text):
    """Prometheus text format → {(name, frozenset(labels)): value}; checks the syntax."""
    out, typed = {}, set()
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram")
            typed.add(name)
            continue
        if line.startswith("#") or not line:
            continue
        m = line_re.match(line)
        assert m, f"bad metric line: {line!r}"
        labels = tuple((k, v) for k, v, _ in label_re.findall(m.group(3) or ""))
        base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
        assert m.group(1) in typed or base in typed, line
        out[(m.group(1), frozenset(labels))] = float(m.group(4))
    return out


def metric(ms, name, **labels):
    return ms.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def apid(prismd_factory):
    """prismd without DNS, with keys of every role."""
    d = prismd_factory(None, extra_yaml=KEYS)
    return d, Api(d)


@pytest.fixture
def dnsd(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=KEYS)
    return d, Api(d)


def register_many(d, names, **kw):
    for n in names:
        r = d.register(n, **kw)
        assert r["status"] == "success", r


# ---- health, metrics, authentication ----

def test_health_public_shape(apid):
    d, api = apid
    r = api.get("/api/health", headers=None)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    h = r.json()
    assert h["status"] == "healthy" and h["version"] and h["reasons"] == []
    assert ISO.match(h["timestamp"]) and h["checks"]["registry"] == "ok"
    assert h["checks"]["targets"] == {}


def test_health_and_metrics_access_by_config(prismd_factory):
    d = prismd_factory(None, extra_yaml=KEYS + "  public_health: false\n  public_metrics: true\n")
    api = Api(d)
    err(api.get("/api/health", headers=None), 401, "unauthorized")
    assert api.get("/api/health").status_code == 200
    assert api.get("/metrics", headers=None).status_code == 200


def test_no_api_key_configured(prismd_factory):
    d = prismd_factory(None)
    api = Api(d)
    assert api.get("/api/health", headers=None).status_code == 200
    for path in ("/api/hosts", "/api/v1/hosts", "/metrics", "/api/v1/routes"):
        msg = err(api.get(path, headers=ADMIN), 401, "unauthorized")
        assert "api.keys" in msg
    assert "api.keys is empty" in d.read_log()


def test_authentication_errors(apid):
    d, api = apid
    r = api.get("/api/hosts", headers=None)
    assert "missing API key" in err(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "invalid" in err(api.get("/api/hosts", headers={"X-API-Key": "nope"}), 401)
    err(api.get("/api/hosts", headers={"Authorization": "Bearer nope"}), 401)
    err(api.get("/api/hosts", headers={"Authorization": "Basic YWRtMW4="}), 401)
    assert api.get("/api/hosts", headers={"Authorization": "bearer  r3ad"}).status_code == 200
    assert api.get("/api/hosts", headers={"X-API-Key": "r3ad"}).status_code == 200
    err(api.get("/metrics", headers=None), 401)
    # a read key trying to write, a write key trying admin
    assert "admin role" in err(api("POST", "/api/v1/tokens", READ, json={"name": "x"}), 403,
                               "forbidden")
    err(api("DELETE", "/api/v1/hosts/1", READ), 403, "forbidden")
    err(api("POST", "/api/v1/sync/retry", READ, json={}), 403, "forbidden")
    err(api("POST", "/api/v1/keys", WRITE, json={"name": "x", "role": "read"}), 403)
    # keys never reach the log
    log = d.read_log()
    assert "adm1n" not in log and "r3ad" not in log and "wr1te" not in log


def test_unknown_route_and_wrong_method(apid):
    d, api = apid
    err(api.get("/api/v1/nothing"), 404, "not_found")
    err(api.get("/"), 404, "not_found")
    err(api.get("/api/hosts/1/extra"), 404)
    r = api("PUT", "/api/v1/hosts", READ)
    err(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == "GET"
    r = api("PATCH", "/api/v1/tokens", ADMIN)
    err(r, 405)
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST"}
    err(api("POST", "/api/hosts", READ), 405)


def test_metrics_parse_and_move(dnsd, pdns):
    d, api = dnsd
    before = metrics(api)
    assert metric(before, "prism_build_info", version="0.1.0") == 1
    register_many(d, ["m1", "m2", "m3"])
    d.register("m1")
    wait_for(lambda: pdns.query("m3." + ZONE) == ["127.0.0.1"], what="records")
    api.get("/api/hosts")
    ms = metrics(api)
    reg = "prism_host_registrations_total"
    assert metric(ms, reg, result="new") - metric(before, reg, result="new") == 3
    assert metric(ms, reg, result="heartbeat") >= 1
    # host counts are cached for at most a second
    wait_for(lambda: metric(metrics(api), "prism_online_hosts_total") == 3, what="count")
    assert metric(metrics(api), "prism_offline_hosts_total") == 0
    assert ("prism_tcp_active_connections", frozenset()) in ms
    assert ("prism_heartbeat_timeouts_total", frozenset()) in ms
    assert metric(ms, "prism_api_requests_total", route="/api/hosts", method="GET",
                  status="200") >= 1
    assert metric(ms, "prism_api_request_duration_seconds_count", route="/api/hosts") >= 1
    # the PowerDNS side: bounded labels, record and zone operations, sync status
    pd = [k for k in ms if k[0] == "prism_powerdns_api_requests_total"]
    assert pd and all(dict(k[1])["endpoint"] in ("zone", "zones", "server", "cache") for k in pd)
    assert metric(ms, "prism_powerdns_api_requests_total", method="PATCH", endpoint="zone",
                  status="204") >= 1
    assert metric(ms, "prism_powerdns_api_request_duration_seconds_count", method="PATCH",
                  endpoint="zone") >= 1
    assert metric(ms, "prism_powerdns_record_operations_total", operation="replace",
                  status="success") >= 3
    assert metric(ms, "prism_powerdns_zone_operations_total", operation="check",
                  status="success") >= 1
    # hosts by their sync status (the original's meaning); ledger rows on their own
    wait_for(lambda: metric(metrics(api), "prism_dns_sync_status", status="synced") == 3,
             what="synced hosts")
    ms = metrics(api)
    assert metric(ms, "prism_dns_sync_status", status="pending") == 0
    assert metric(ms, "prism_ledger_rows", status="synced") >= 3
    assert ("prism_dns_sync_status", frozenset({("status", "disabled")})) in ms
    assert metric(ms, "prism_target_state", target="default", state="ok") == 1
    assert metric(ms, "prism_target_rrsets_applied_total", target="default") >= 3
    assert metric(ms, "prism_target_last_success_timestamp_seconds", target="default") > 0
    assert metric(ms, "prism_target_ledger_rows", target="default", status="synced") >= 3


def test_sync_status_counts_hosts(prismd_factory):
    """prism_dns_sync_status counts hosts by dns_sync_status, kept by triggers; a registry
    of the schema before them gets its counts from the hosts when it is migrated."""
    d = prismd_factory(None, extra_yaml=KEYS)
    api = Api(d)
    register_many(d, ["s1", "s2", "s3"])   # no DNS: disabled
    wait_for(lambda: metric(metrics(api), "prism_dns_sync_status", status="disabled") == 3,
             what="3 hosts, DNS disabled")
    d.db_exec("DELETE FROM hosts WHERE hostname = 's3'")
    d.db_exec("UPDATE hosts SET dns_sync_status = 'failed' WHERE hostname = 's2'")
    wait_for(lambda: metric(metrics(api), "prism_dns_sync_status", status="disabled") == 1,
             what="kept by the triggers")
    assert metric(metrics(api), "prism_dns_sync_status", status="failed") == 1
    d.stop()
    # back to schema 7 (host_sync_counts is migration 8): the migration counts the hosts
    for sql in ("DROP TRIGGER IF EXISTS host_sync_counts_insert",
                "DROP TRIGGER host_sync_counts_delete",
                "DROP TRIGGER host_sync_counts_update", "DROP TABLE host_sync_counts",
                "PRAGMA user_version = 7"):
        d.db_exec(sql)
    d.db_exec("UPDATE hosts SET dns_sync_status = 'pending' WHERE hostname = 's1'")
    d.start()
    ms = metrics(Api(d))
    assert [metric(ms, "prism_dns_sync_status", status=s)
            for s in ("pending", "synced", "failed", "disabled")] == [1, 0, 1, 0]
    assert d.db_query("PRAGMA user_version")[0][0] >= 8


# ---- compatibility routes ----

def test_compat_hosts_empty_is_one_page(apid):
    """An empty registry: one empty page, as the original server answers."""
    d, api = apid
    for path in ("/api/hosts", "/api/hosts/status/offline", "/api/hosts?search=x"):
        b = api.get(path).json()
        assert (b["hosts"], b["total"], b["page"], b["pages"]) == ([], 0, 1, 1), path


def test_compat_hosts_shapes_and_pagination(dnsd, pdns):
    d, api = dnsd
    register_many(d, [f"web{i:02d}" for i in range(7)] + ["db1"])
    d.db_exec("UPDATE hosts SET status = 'offline' WHERE hostname = 'db1'")
    r = api.get("/api/hosts", params={"per_page": 3, "page": 2})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"hosts", "total", "page", "per_page", "pages"}
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (8, 2, 3, 3)
    assert [h["hostname"] for h in body["hosts"]] == ["web03", "web04", "web05"]
    for h in body["hosts"]:
        assert set(h) == COMPAT_HOST
        assert h["status"] == "online" and h["current_ip"] == "127.0.0.1"
        assert ISO.match(h["first_seen"]) and ISO.match(h["last_seen"])
    assert api.get("/api/hosts").json()["per_page"] == 50
    b = api.get("/api/hosts", params={"status": "offline"}).json()
    assert [h["hostname"] for h in b["hosts"]] == ["db1"] and b["total"] == 1
    b = api.get("/api/hosts", params={"search": "WEB0", "per_page": 5}).json()
    assert b["total"] == 7 and len(b["hosts"]) == 5 and b["pages"] == 2
    b = api.get("/api/hosts/status/online").json()
    assert b["total"] == 7 and set(b["hosts"][0]) == COMPAT_HOST
    for bad in ({"page": 0}, {"page": "x"}, {"per_page": 0}, {"per_page": 1001},
                {"per_page": "-1"}, {"status": "gone"}, {"search": "x" * 300}):
        err(api.get("/api/hosts", params=bad), 400, "invalid_parameter")
    err(api.get("/api/hosts/status/gone"), 400)
    hid = body["hosts"][0]["id"]
    wait_for(lambda: api.get(f"/api/hosts/{hid}").json()["dns_sync_status"] == "synced",
             what="synced")
    one = api.get(f"/api/hosts/{hid}").json()
    assert set(one) == COMPAT_HOST | {"dns_zone", "dns_sync_status", "source"}
    assert one["source"] == "agent"
    assert one["dns_zone"] == ZONE
    err(api.get("/api/hosts/99999"), 404, "not_found")
    err(api.get("/api/hosts/abc"), 400)
    s = api.get("/api/hosts/stats/summary").json()
    assert set(s) == {"total_hosts", "online_hosts", "offline_hosts", "last_registration"}
    assert (s["total_hosts"], s["online_hosts"], s["offline_hosts"]) == (8, 7, 1)
    assert ISO.match(s["last_registration"])


def test_counts_follow_deletes_and_liveness(apid):
    d, api = apid
    register_many(d, ["a", "b", "c"])
    d.db_exec("UPDATE hosts SET status = 'offline' WHERE hostname = 'b'")
    d.db_exec("DELETE FROM hosts WHERE hostname = 'c'")
    time.sleep(1.1)  # counts are cached for a second
    s = api.get("/api/hosts/stats/summary").json()
    assert (s["total_hosts"], s["online_hosts"], s["offline_hosts"]) == (2, 1, 1)
    assert api.get("/api/hosts/stats/summary").json()["last_registration"] is not None


# ---- v1 hosts ----

def test_v1_hosts_keyset_pagination(apid):
    d, api = apid
    names = [f"n{i:02d}" for i in range(25)]
    register_many(d, names)
    seen, after, pages = [], None, 0
    while True:
        params = {"limit": 10}
        if after:
            params["after"] = after
        b = api.get("/api/v1/hosts", params=params).json()
        assert set(b) == {"hosts", "next"}
        seen += [h["hostname"] for h in b["hosts"]]
        pages += 1
        after = b["next"]
        if after is None:
            break
    assert seen == names and pages == 3
    h = api.get("/api/v1/hosts", params={"limit": 1}).json()["hosts"][0]
    assert {"id", "hostname", "current_ip", "ipv4", "ipv6", "status", "first_seen",
            "last_seen", "dns_zone", "dns_name", "dns_ttl", "dns_sync_status",
            "sync"} <= set(h)
    assert h["ipv4"] == "127.0.0.1" and h["ipv6"] is None and h["source"] == "agent"
    b = api.get("/api/v1/hosts", params={"search": "N1", "limit": 100}).json()
    assert [x["hostname"] for x in b["hosts"]] == [f"n1{i}" for i in range(10)]
    assert b["next"] is None
    assert api.get("/api/v1/hosts", params={"status": "offline"}).json()["hosts"] == []
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"after": "x"},
                {"after": "-5"}, {"status": "up"}, {"search": ""}):
        err(api.get("/api/v1/hosts", params=bad), 400, "invalid_parameter")


def test_v1_host_detail_and_delete(dnsd, pdns):
    d, api = dnsd
    register_many(d, ["gone1", "keep1"])
    wait_for(lambda: pdns.query("gone1." + ZONE) == ["127.0.0.1"], what="record")
    h = wait_for(lambda: (lambda x: x if x["sync"] and x["sync"][0]["status"] == "synced"
                          else None)(api.get("/api/v1/hosts/GONE1").json()), what="synced")
    row = h["sync"][0]
    assert {k: row[k] for k in ("target", "name", "type", "status", "attempts",
                                "last_error")} == {
        "target": "default", "name": "gone1." + ZONE, "type": "A", "status": "synced",
        "attempts": 0, "last_error": None}
    assert api.get(f"/api/v1/hosts/{h['id']}").json()["hostname"] == "gone1"
    # its records as the registry wants them; the list leaves them out
    assert h["records"] == [{"zone": ZONE, "name": "gone1." + ZONE, "type": "A", "ttl": 60,
                             "content": ["127.0.0.1"]}]
    lst = api.get("/api/v1/hosts").json()["hosts"]
    assert "records" not in lst[0]
    assert lst[0]["sync"][0]["target"] == "default"
    err(api.get("/api/v1/hosts/nosuch"), 404, "not_found")
    r = api("DELETE", f"/api/v1/hosts/{h['id']}", WRITE)
    assert r.status_code == 200 and r.json()["deleted"]["hostname"] == "gone1"
    wait_for(lambda: pdns.query("gone1." + ZONE) == [], what="record deleted")
    assert pdns.query("keep1." + ZONE) == ["127.0.0.1"]
    err(api("DELETE", f"/api/v1/hosts/{h['id']}", WRITE), 404, "not_found")
    err(api("DELETE", "/api/v1/hosts/nosuch", WRITE), 404)
    assert d.host("gone1") is None
    r = api("DELETE", "/api/v1/hosts/keep1", ADMIN)  # by name too
    assert r.status_code == 200
    a = api.get("/api/v1/audit").json()["entries"]
    assert [e["action"] for e in a[:2]] == ["host.delete", "host.delete"]
    assert a[1]["actor"] == "rw" and a[0]["actor"] == "admin"
    assert a[1]["before"]["hostname"] == "gone1" and a[1]["after"] is None


@pytest.mark.serial  # waits up to 15 s for failures that take ~8 s alone: timed out in parallel
def test_sync_rows_say_what_failed_and_why(dnsd, pdns):
    d, api = dnsd
    register_many(d, ["ok1"])
    wait_for(lambda: pdns.query("ok1." + ZONE) == ["127.0.0.1"], what="record")
    assert api.get("/api/v1/sync/rows").json() == {"rows": [], "truncated": False}
    pdns.stop()
    register_many(d, ["down1", "down2"])
    rows = wait_for(lambda: (lambda x: x if len(x) == 2 and all(r["last_error"] for r in x)
                             else None)(api.get("/api/v1/sync/rows").json()["rows"]),
                    15, what="two failed rows with their errors")
    assert sorted(r["name"] for r in rows) == ["down1." + ZONE, "down2." + ZONE]
    hosts = {api.get("/api/v1/hosts/" + n).json()["id"] for n in ("down1", "down2")}
    for r in rows:
        assert r["target"] == "default" and r["status"] == "failed" and r["type"] == "A"
        assert r["host_id"] in hosts and r["attempts"] >= 1
        assert ISO.match(r["next_attempt"]) and ISO.match(r["updated_at"])
    one = api.get("/api/v1/sync/rows", params={"limit": 1, "target": "default"}).json()
    assert len(one["rows"]) == 1 and one["truncated"] is True
    assert api.get("/api/v1/sync/rows", params={"status": "conflict"}).json()["rows"] == []
    err(api.get("/api/v1/sync/rows", params={"status": "synced"}), 400, "invalid_parameter")
    err(api.get("/api/v1/sync/rows", params={"limit": 0}), 400, "invalid_parameter")
    err(api.get("/api/v1/sync/rows", params={"target": "nope"}), 404, "not_found")
    err(api.get("/api/v1/sync/rows", headers=None), 401)


def test_whoami_names_the_key_and_its_role(apid):
    d, api = apid
    for headers, name, role in ((ADMIN, "admin", "admin"), (READ, "ro", "read"),
                                (WRITE, "rw", "write")):
        r = api.get("/api/v1/whoami", headers=headers)
        assert r.status_code == 200 and r.json() == {"name": name, "role": role}, r.text
        assert r.headers["Cache-Control"] == "no-store"
    err(api.get("/api/v1/whoami", headers=None), 401, "unauthorized")
    err(api.get("/api/v1/whoami", headers={"X-API-Key": "nope"}), 401, "unauthorized")
    r = api("POST", "/api/v1/keys", ADMIN, json={"name": "made", "role": "write"})
    assert r.status_code == 201, r.text
    assert api.get("/api/v1/whoami", headers={"X-API-Key": r.json()["key"]}).json() == \
        {"name": "made", "role": "write"}
    # a registry key that cannot be looked up is an error answer, not "invalid API key"
    made = {"X-API-Key": r.json()["key"]}
    d.db_exec("ALTER TABLE api_keys RENAME TO api_keys_gone")
    try:
        e = err(api.get("/api/v1/whoami", headers=made), 503, "unavailable")
        assert "could not be read" in e and "api_keys" in e, e
        assert api.get("/api/v1/whoami", headers=ADMIN).status_code == 200  # a config key
    finally:
        d.db_exec("ALTER TABLE api_keys_gone RENAME TO api_keys")
    assert api.get("/api/v1/whoami", headers=made).status_code == 200


def test_release_lets_another_token_claim(prismd_factory):
    d = prismd_factory(None, extra_yaml=KEYS, auth_yaml="auth:\n  required: true\n  tokens:\n"
                       "    - {name: t1, token: tok-1}\n    - {name: t2, token: tok-2}\n")
    api = Api(d)
    assert d.register("bound", token="tok-1")["status"] == "success"
    assert d.register("bound", token="tok-2")["status"] == "error"
    assert api.get("/api/v1/hosts/bound").json()["bound"] is True
    err(api("POST", "/api/v1/hosts/bound/release", WRITE), 403)
    err(api("POST", "/api/v1/hosts/bound/release", ADMIN, json={"x": 1}), 400, "unknown_field")
    r = api("POST", "/api/v1/hosts/bound/release", ADMIN)
    assert r.status_code == 200 and r.json()["released"]["hostname"] == "bound"
    assert api.get("/api/v1/hosts/bound").json()["bound"] is False
    assert d.register("bound", token="tok-2", source="127.0.0.2")["status"] == "success"
    err(api("POST", "/api/v1/hosts/99999/release", ADMIN), 404)
    e = api.get("/api/v1/audit", params={"limit": 1}).json()["entries"][0]
    assert e["action"] == "host.release" and e["before"]["bound"] and not e["after"]["bound"]


# ---- tokens and keys ----

def test_tokens_create_use_revoke(prismd_factory, pdns):
    d = prismd_factory(pdns, extra_yaml=KEYS, auth_yaml="auth:\n  required: true\n")
    api = Api(d)
    r = api("POST", "/api/v1/tokens", ADMIN, json={"name": "rack7"})
    assert r.status_code == 201, r.text
    t = r.json()
    assert set(t) == {"name", "token", "created_at", "expires_at", "active"}
    assert t["expires_at"] is None and len(t["token"]) >= 32
    assert t["token"] not in d.read_log()
    # only the hash is stored
    stored = d.db_query("SELECT hash FROM tokens WHERE name = 'rack7'")
    assert stored and stored[0][0] != t["token"]
    r = d.register("fromapi", token=t["token"])
    assert r["status"] == "success", r
    wait_for(lambda: pdns.query("fromapi." + ZONE) == ["127.0.0.1"], what="record")
    lst = api.get("/api/v1/tokens").json()
    assert set(lst) == {"tokens", "next"}
    assert lst["tokens"] == [{"name": "rack7", "created_at": t["created_at"], "expires_at": None,
                              "active": True, "expired": False}]
    assert t["token"] not in api.get("/api/v1/tokens").text
    err(api("POST", "/api/v1/tokens", ADMIN, json={"name": "rack7"}), 409, "conflict")
    r = api("DELETE", "/api/v1/tokens/rack7", ADMIN)
    assert r.status_code == 200 and r.json() == {"name": "rack7", "revoked": 1}
    r = d.register("fromapi", token=t["token"])
    assert r["message"] == "Invalid authentication token: token_inactive"
    assert api.get("/api/v1/tokens").json()["tokens"][0]["active"] is False
    err(api("DELETE", "/api/v1/tokens/nosuch", ADMIN), 404, "not_found")
    # the name is free again once revoked; an expiry in the future is kept
    r = api("POST", "/api/v1/tokens", ADMIN,
            json={"name": "rack7", "expires_at": "2099-01-02T03:04:05+01:00"})
    assert r.status_code == 201 and r.json()["expires_at"] == "2099-01-02T02:04:05Z"
    actions = [e["action"] for e in api.get("/api/v1/audit").json()["entries"]]
    assert actions[:3] == ["token.create", "token.revoke", "token.create"]


def test_token_body_errors(apid):
    d, api = apid
    post = lambda **kw: api("POST", "/api/v1/tokens", ADMIN, **kw)  # noqa: E731
    err(post(data="{not json"), 400, "invalid_json")
    err(post(data="[1, 2]"), 400, "invalid_json")
    err(post(data='{"name": "a", "name": "b"}'), 400, "invalid_json")
    err(post(json={}), 400, "missing_field")
    err(post(json={"name": 7}), 400, "wrong_type")
    err(post(json={"name": "a", "expires_at": 5}), 400, "wrong_type")
    err(post(json={"name": "a", "colour": "red"}), 400, "unknown_field")
    err(post(json={"name": "bad name!"}), 422, "invalid_value")
    err(post(json={"name": "x" * 65}), 422, "invalid_value")
    err(post(json={"name": "a", "expires_at": "tomorrow"}), 422, "invalid_value")
    err(post(json={"name": "a", "expires_at": "2001-01-01T00:00:00Z"}), 422, "invalid_value")
    for bad in ({"limit": 0}, {"limit": 5000}, {"limit": "x"}):
        err(api.get("/api/v1/tokens", params=bad), 400, "invalid_parameter")
    assert d.db_query("SELECT count(*) FROM tokens")[0][0] == 0


def test_oversize_body(prismd_factory):
    d = prismd_factory(None, extra_yaml=KEYS + "  max_body: 1024\n")
    api = Api(d)
    big = '{"name": "' + "x" * 2000 + '"}'
    err(api("POST", "/api/v1/tokens", ADMIN, data=big), 413, "payload_too_large")
    # the connection stays usable for the client (body read and dropped)
    err(api("POST", "/api/v1/tokens", ADMIN, data="x" * 3_000_000), 413)
    # a client that waits for 100-continue is refused before sending
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                          "X-API-Key: adm1n", "-H", "Expect: 100-continue", "--data-binary",
                          "@-", f"{api.base}/api/v1/tokens"], input=b"y" * 100000,
                         capture_output=True, timeout=20)
    assert out.stdout == b"413"
    # chunked, no Content-Length
    r = api("POST", "/api/v1/tokens", ADMIN, data=iter([b'{"name": "', b"z" * 4000, b'"}']))
    err(r, 413)
    assert api("POST", "/api/v1/tokens", ADMIN, json={"name": "small"}).status_code == 201
    err(api("POST", "/api/v1/sync/retry", ADMIN, data="{}" + " " * 1100), 413)


def test_api_keys_created_through_the_api(apid):
    d, api = apid
    r = api("POST", "/api/v1/keys", ADMIN, json={"name": "ci", "role": "write"})
    assert r.status_code == 201
    k = r.json()
    assert set(k) == {"name", "role", "key", "created_at"} and k["role"] == "write"
    assert d.db_query("SELECT role FROM api_keys WHERE name = 'ci'") == [("write",)]
    new = {"X-API-Key": k["key"]}
    assert api.get("/api/v1/hosts", headers=new).status_code == 200
    assert api("POST", "/api/v1/sync/retry", new).status_code == 200
    err(api("POST", "/api/v1/tokens", new, json={"name": "x"}), 403)
    keys = api.get("/api/v1/keys", headers=ADMIN).json()["keys"]
    assert {x["name"]: x["source"] for x in keys} == {"admin": "config", "ro": "config",
                                                     "rw": "config", "ci": "api"}
    assert k["key"] not in api.get("/api/v1/keys", headers=ADMIN).text
    err(api.get("/api/v1/keys", headers=READ), 403)
    err(api("POST", "/api/v1/keys", ADMIN, json={"name": "ci", "role": "read"}), 409)
    err(api("POST", "/api/v1/keys", ADMIN, json={"name": "admin", "role": "read"}), 409)
    err(api("POST", "/api/v1/keys", ADMIN, json={"name": "z", "role": "root"}), 422)
    err(api("POST", "/api/v1/keys", ADMIN, json={"name": "z", "role": ["read"]}), 400,
        "wrong_type")
    err(api("DELETE", "/api/v1/keys/admin", ADMIN), 409, "conflict")
    assert api("DELETE", "/api/v1/keys/ci", ADMIN).status_code == 200
    err(api.get("/api/v1/hosts", headers=new), 401)
    err(api("DELETE", "/api/v1/keys/nosuch", ADMIN), 404)


# ---- targets, sync, audit ----

def test_pause_register_resume(dnsd, pdns):
    d, api = dnsd
    t = api.get("/api/v1/targets").json()["targets"]
    assert [x["name"] for x in t] == ["default"] and t[0]["state"] == "ok"
    assert {"name", "state", "zone_ready", "failures", "requests", "rrsets_applied",
            "rrsets_failed", "last_success", "ledger"} <= set(t[0])
    err(api("POST", "/api/v1/targets/default/pause", READ), 403)
    err(api("POST", "/api/v1/targets/nosuch/pause", ADMIN), 404, "not_found")
    r = api("POST", "/api/v1/targets/default/pause", ADMIN)
    assert r.status_code == 200 and r.json() == {"name": "default", "state": "paused"}
    assert d.register("paused1")["status"] == "success"
    time.sleep(1.0)
    assert pdns.query("paused1." + ZONE) == []
    s = api.get("/api/v1/sync").json()
    assert s["targets"][0]["name"] == "default" and s["targets"][0]["pending"] >= 1
    assert s["totals"]["pending"] >= 1 and s["targets"][0]["oldest_pending_seconds"] >= 0
    h = api.get("/api/health", headers=None).json()
    assert h["status"] == "degraded" and "target default: paused" in h["reasons"]
    assert metric(metrics(api), "prism_target_state", target="default", state="paused") == 1
    r = api("POST", "/api/v1/targets/default/resume", ADMIN)
    assert r.status_code == 200 and r.json()["state"] != "paused"
    wait_for(lambda: pdns.query("paused1." + ZONE) == ["127.0.0.1"], what="record after resume")
    a = [e["action"] for e in api.get("/api/v1/audit").json()["entries"][:2]]
    assert a == ["target.resume", "target.pause"]


def test_sync_retry(dnsd, pdns):
    d, api = dnsd
    register_many(d, ["r1", "r2"])
    wait_for(lambda: api.get("/api/v1/sync").json()["totals"]["synced"] == 2, what="synced")
    d.db_exec("UPDATE ledger SET status = 'failed', next_attempt = 9999999999999, "
              "last_error = 'test' WHERE name LIKE 'r1.%'")
    time.sleep(1.1)
    assert api.get("/api/v1/sync").json()["totals"]["failed"] == 1
    err(api("POST", "/api/v1/sync/retry", WRITE, json={"target": "nosuch"}), 404)
    err(api("POST", "/api/v1/sync/retry", WRITE, json={"target": 1}), 400, "wrong_type")
    err(api("POST", "/api/v1/sync/retry", WRITE, data="nope"), 400, "invalid_json")
    r = api("POST", "/api/v1/sync/retry", WRITE, json={"target": "default"})
    assert r.status_code == 200 and r.json() == {"retried": 1}
    wait_for(lambda: d.db_query("SELECT status FROM ledger WHERE name LIKE 'r1.%'")
             == [("synced",)], what="retried row synced")
    assert api("POST", "/api/v1/sync/retry", WRITE).json() == {"retried": 0}


def test_audit_keyset(apid):
    d, api = apid
    for i in range(5):
        assert api("POST", "/api/v1/tokens", ADMIN, json={"name": f"t{i}"}).status_code == 201
    b = api.get("/api/v1/audit", params={"limit": 2}).json()
    assert set(b) == {"entries", "next"} and len(b["entries"]) == 2
    objs = [e["object"] for e in b["entries"]]
    b2 = api.get("/api/v1/audit", params={"limit": 2, "after": b["next"]}).json()
    b3 = api.get("/api/v1/audit", params={"limit": 2, "after": b2["next"]}).json()
    objs += [e["object"] for e in b2["entries"] + b3["entries"]]
    assert objs == [f"token:t{i}" for i in range(4, -1, -1)] and b3["next"] is None
    e = b["entries"][0]
    assert set(e) == {"id", "at", "actor", "action", "object", "before", "after"}
    assert ISO.match(e["at"]) and e["actor"] == "admin"
    err(api.get("/api/v1/audit", params={"after": "x"}), 400)
    err(api.get("/api/v1/audit", params={"limit": 0}), 400)


# ---- the server itself ----

def test_keep_alive_and_many_requests(apid):
    d, api = apid
    register_many(d, ["k1"])
    for _ in range(300):
        assert api.get("/api/v1/hosts", params={"limit": 5}).status_code == 200
    ms = metrics(api)
    assert metric(ms, "prism_api_requests_total", route="/api/v1/hosts", method="GET",
                  status="200") == 300


def test_api_port_in_use_fails_startup(prismd_factory):
    d = prismd_factory(None, start=False, extra_yaml=KEYS)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", d.api_port))
    s.listen(1)
    try:
        d.start(wait=False)
        rc = d.proc.wait(20)
        d.proc = None
        d.logf.close()
        assert rc != 0
        log = d.read_log()
        assert f"server.api_port {d.api_port}" in log and "in use" in log, log
    finally:
        s.close()


def test_tls(prismd_factory, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    d = prismd_factory(None, extra_yaml=KEYS + f"  tls_cert: {cert}\n  tls_key: {key}\n")
    api = Api(d, scheme="https", verify=str(cert))
    wait_for(lambda: _tls_ok(api), 10, what="HTTPS")
    assert api.get("/api/v1/hosts").status_code == 200
    # the dashboard too, over the same TLS
    ui = api.get("/ui/", headers=None)
    assert ui.status_code == 200 and ui.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in ui.headers["Content-Security-Policy"]
    assert api.get("/ui/app.js", headers=None).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{d.api_port}/api/health", timeout=2)


def _tls_ok(api):
    try:
        return api.get("/api/health", headers=None).status_code == 200
    except requests.exceptions.SSLError:
        return False


def test_bad_tls_files_fail_startup(prismd_factory, tmp_path):
    d = prismd_factory(None, start=False,
                       extra_yaml=KEYS + f"  tls_cert: {tmp_path}/no.pem\n"
                                         f"  tls_key: {tmp_path}/no.key\n")
    d.start(wait=False)
    assert d.proc.wait(20) != 0
    d.proc = None
    d.logf.close()
    assert "api.tls_cert" in d.read_log()


# ---- documentation ----

def test_openapi_matches_served_routes(apid):
    d, api = apid
    with open(os.path.join(ROOT, "docs", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    assert spec["openapi"].startswith("3.")
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                  if m in ("get", "post", "put", "patch", "delete")}
    served = {(r["method"], r["path"]) for r in api.get("/api/v1/routes").json()["routes"]}
    assert documented == served
    # every documented error response is an Error object
    for p, ops in spec["paths"].items():
        for m, op in ops.items():
            if m == "parameters":
                continue
            for code, resp in op["responses"].items():
                if str(code)[0] in "45":
                    assert resp == {"$ref": "#/components/responses/Error"} or \
                        "Error" in str(resp), (p, m, code)
