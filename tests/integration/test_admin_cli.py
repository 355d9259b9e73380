# SPDX-License-Identifier: MIT
"""`prism` admin commands (hosts, tokens, targets, sync, plan, audit, health) against the built
prismd over its REST API, and a real PowerDNS where DNS matters: every command, --json, every
exit status, the environment defaults, progress on a terminal, TLS."""
import http.server
import json
import os
import pty
import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from prismlib import PRISM, SANITIZER_MARKS, free_port, wait_for

ZONE = "managed.prism.local."
KEYS = ("api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"
        "    - {name: ro, key: r3ad, role: read}\n    - {name: rw, key: wr1te, role: write}\n")
ADMIN = {"X-API-Key": "adm1n"}
ERR_LINE = re.compile(r"^prism: .+ \(HTTP (\d{3}), ([a-z_]+)\)$", re.M)


def clean_env(**extra):
    """This environment without PRISM_*, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRISM_")}
    env.update(extra)
    return env


def run(args, env=None, timeout=60, **kw):
    r = subprocess.run([PRISM, *args], capture_output=True, text=True, timeout=timeout,
                       env=env if env is not None else clean_env(), **kw)
    found = [m for m in SANITIZER_MARKS if m in r.stderr]
    assert not found, f"sanitizer report from prism {args}: {r.stderr}"
    return r


def url(d):
    return f"http://127.0.0.1:{d.api_port}"


def prism(d, *args, key="adm1n", env=None):
    """prism ARGS against prismd d with an API key (none when key is None)."""
    extra = ["--server", url(d)] if d is not None else []
    if key is not None:
        extra += ["--api-key", key]
    return run([*args, *extra], env=env)


def api_up(d):
    def up():
        try:
            socket.create_connection(("127.0.0.1", d.api_port), timeout=0.5).close()
            return True
        except OSError:
            return False
    wait_for(up, 10, what="API port")
    return d


def api(d, method, path, **kw):
    return requests.request(method, url(d) + path, headers=ADMIN, timeout=10, **kw)


def synced(d, n):
    return api(d, "GET", "/api/v1/sync").json()["totals"]["synced"] == n


def host_requests(d):
    """GET /api/v1/hosts answered 200 so far, from /metrics."""
    total = 0.0
    for line in api(d, "GET", "/metrics").text.splitlines():
        if line.startswith("prism_api_requests_total{") and all(
                f in line for f in ('route="/api/v1/hosts"', 'method="GET"', 'status="200"')):
            total += float(line.rsplit(" ", 1)[1])
    return total


def table(text):
    """Rows of an aligned table as lists of cells (cells are 2+ spaces apart), and the start
    column of every cell: [(cells, starts)]."""
    out = []
    for line in text.splitlines():
        ms = list(re.finditer(r"\S+(?: \S+)*", line))
        out.append(([m.group(0) for m in ms], [m.start() for m in ms]))
    return out


def assert_aligned(rows, right=()):
    """Every left-aligned column starts where its header starts; right-aligned ones end where
    their header ends."""
    (head, hstart) = rows[0]
    for cells, starts in rows[1:]:
        assert len(cells) == len(head), (head, cells)
        for i in range(len(head)):
            if i in right:
                assert starts[i] + len(cells[i]) == hstart[i] + len(head[i]), (head, cells)
            else:
                assert starts[i] == hstart[i], (head[i], cells)


@pytest.fixture
def apid(prismd_factory):
    """prismd without DNS, with keys of every role."""
    return api_up(prismd_factory(None, extra_yaml=KEYS))


@pytest.fixture
def dnsd(prismd_factory, pdns):
    return api_up(prismd_factory(pdns, extra_yaml=KEYS))


# ---- help and usage ----

COMMANDS = [["hosts"], ["hosts", "list"], ["hosts", "show"], ["hosts", "delete"],
            ["hosts", "release"], ["tokens"], ["tokens", "list"], ["tokens", "create"],
            ["tokens", "revoke"], ["targets"], ["targets", "list"], ["targets", "pause"],
            ["targets", "resume"], ["sync"], ["sync", "status"], ["sync", "retry"],
            ["sync", "reconcile"], ["plan"], ["audit"], ["health"]]


def test_help_everywhere():
    r = run(["--help"])
    assert r.returncode == 0
    for word in ("hosts", "tokens", "targets", "sync", "plan", "audit", "health", "--server",
                 "--api-key", "--api-key-file", "--json", "--timeout", "PRISM_URL",
                 "PRISM_API_KEY", "Exit status of the admin commands", "4 authentication"):
        assert word in r.stdout, word
    for cmd in COMMANDS:
        r = run([*cmd, "--help"])
        assert r.returncode == 0 and r.stderr == "", (cmd, r.stderr)
        assert r.stdout.startswith("Usage: prism " + " ".join(cmd[:1])), (cmd, r.stdout)
        assert "--server URL" in r.stdout and "Exit status" in r.stdout
    # a group's help covers all its subcommands, a subcommand's help only itself
    r = run(["hosts", "--help"])
    assert all(f"prism hosts {s}" in r.stdout for s in ("show", "delete", "release"))
    r = run(["hosts", "show", "--help"])
    assert "prism hosts show HOST" in r.stdout and "prism hosts delete" not in r.stdout
    r = run(["plan", "--help"])
    assert "-detailed-exitcode" in r.stdout and "2 the plan has changes" in r.stdout


@pytest.mark.parametrize("args, words", [
    (["--json"], "which command"),
    (["hosts", "--bogus"], "unknown option '--bogus'"),
    (["hosts", "-q"], "unknown option '-q'"),
    (["hosts", "--limit"], "missing value for '--limit'"),
    (["hosts", "--all=1"], "takes no value"),
    (["hosts", "show"], "missing argument; usage: prism hosts show HOST"),
    (["hosts", "show", "a", "b"], "too many arguments"),
    (["hosts", "frob"], "hosts takes list show delete release"),
    (["hosts", "show", "a", "--status", "online"], "--status does not apply"),
    (["tokens", "--expires", "2030-01-01T00:00:00Z"], "--expires does not apply"),
    (["hosts", "--status", "up"], "--status must be online or offline"),
    (["hosts", "--limit", "0"], "--limit must be a number from 1 to 1000"),
    (["hosts", "--limit", "1001"], "--limit must be a number from 1 to 1000"),
    (["audit", "--limit", "x"], "--limit must be a number"),
    (["hosts", "--all", "--after", "5"], "does not take --after"),
    (["health", "--timeout", "0"], "--timeout must be seconds"),
    (["health", "--server", "ftp://127.0.0.1"], "must be a URL like http://"),
    (["health", "--server", "127.0.0.1:8081"], "must be a URL like http://"),
    (["health", "--api-key", "k", "--api-key-file", "/dev/null"], "not both"),
    (["health", "--api-key", "a\nb"], "control characters"),
    (["hosts", "show", ""], "empty argument"),
])
def test_usage_errors_exit_2(args, words):
    r = run(args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert words in r.stderr and r.stderr.startswith("prism: "), (args, r.stderr)
    assert r.stdout == ""


def test_delete_refuses_without_yes(apid):
    apid.register("keepme")
    r = prism(apid, "hosts", "delete", "keepme")
    assert r.returncode == 2 and "--yes" in r.stderr
    assert apid.host("keepme") is not None


# ---- hosts ----

def test_hosts_list_table_filters_and_json(apid):
    d = apid
    r = prism(d, "hosts")
    assert r.returncode == 0 and r.stdout == "no hosts\n"
    for n in ("web1", "web2", "db1"):
        assert d.register(n)["status"] == "success"
    d.db_exec("UPDATE hosts SET status = 'offline' WHERE hostname = 'db1'")
    r = prism(d, "hosts", "list")
    assert r.returncode == 0 and r.stderr == ""
    rows = table(r.stdout)
    assert rows[0][0] == ["ID", "HOSTNAME", "STATUS", "SOURCE", "IPV4", "IPV6", "DNS",
                          "LAST SEEN"]
    assert [c[1] for c, _ in rows[1:]] == ["web1", "web2", "db1"]
    assert rows[1][0][:6] == ["1", "web1", "online", "agent", "127.0.0.1", "-"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", rows[1][0][7])
    assert_aligned(rows, right={0})
    # filters
    r = prism(d, "hosts", "--status", "offline")
    assert [c[1] for c, _ in table(r.stdout)[1:]] == ["db1"]
    r = prism(d, "hosts", "--search", "WEB", "--status", "online")
    assert [c[1] for c, _ in table(r.stdout)[1:]] == ["web1", "web2"]
    r = prism(d, "hosts", "--search", "nomatch")
    assert r.returncode == 0 and r.stdout == "no hosts match\n"
    # --limit: one page, and a hint on stderr that there is more
    r = prism(d, "hosts", "--limit", "2")
    assert [c[1] for c, _ in table(r.stdout)[1:]] == ["web1", "web2"]
    assert "more hosts follow" in r.stderr and "--after 2" in r.stderr
    r = prism(d, "hosts", "--limit", "2", "--after", "2")
    assert [c[1] for c, _ in table(r.stdout)[1:]] == ["db1"] and r.stderr == ""
    # --json: the server's answer
    r = prism(d, "--json", "hosts", "--limit", "2")
    assert r.returncode == 0
    assert json.loads(r.stdout) == api(d, "GET", "/api/v1/hosts?limit=2").json()
    assert r.stdout.startswith('{\n  "hosts": [\n    {\n      "id": 1,')


def test_hosts_all_follows_every_page(apid):
    d = apid
    names = [f"h{i:02d}" for i in range(25)]
    for n in names:
        assert d.register(n)["status"] == "success"
    before = host_requests(d)
    r = prism(d, "hosts", "--all", "--limit", "7")
    assert r.returncode == 0 and r.stderr == ""  # no progress when stderr is not a terminal
    assert host_requests(d) - before == 4  # 7 + 7 + 7 + 4
    assert [c[1] for c, _ in table(r.stdout)[1:]] == names
    assert_aligned(table(r.stdout), right={0})
    r = prism(d, "hosts", "--all", "--limit", "7", "--json")
    doc = json.loads(r.stdout)
    assert doc["next"] is None and [h["hostname"] for h in doc["hosts"]] == names
    assert doc["hosts"] == api(d, "GET", "/api/v1/hosts?limit=1000").json()["hosts"]
    before = host_requests(d)
    assert prism(d, "hosts", "--all").returncode == 0  # pages of 1000 by default
    assert host_requests(d) - before == 1
    r = prism(d, "hosts", "--all", "--search", "H1")
    assert [c[1] for c, _ in table(r.stdout)[1:]] == [n for n in names if "h1" in n]


def test_hosts_all_shows_progress_on_a_terminal(apid):
    d = apid
    for i in range(12):
        d.register(f"p{i}")
    master, slave = pty.openpty()
    p = subprocess.Popen([PRISM, "hosts", "--all", "--limit", "3", "--server", url(d),
                          "--api-key", "adm1n"], stdout=subprocess.PIPE, stderr=slave,
                         env=clean_env())
    os.close(slave)
    out, _ = p.communicate(timeout=30)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        tty += chunk
    os.close(master)
    assert p.returncode == 0
    assert len(table(out.decode())) == 13
    assert b"hosts so far..." in tty and b"\r\x1b[K" in tty


def test_hosts_show_delete_release(dnsd, pdns):
    d = dnsd
    for n in ("gone1", "keep1"):
        assert d.register(n)["status"] == "success"
    wait_for(lambda: pdns.query("gone1." + ZONE) == ["127.0.0.1"], what="record")
    r = prism(d, "hosts", "show", "gone1")
    assert r.returncode == 0, r.stderr
    kv = dict(c for c, _ in table(r.stdout.split("\n\n")[0]))
    assert kv["hostname"] == "gone1" and kv["ipv4"] == "127.0.0.1" and kv["ipv6"] == "-"
    assert kv["dns name"] == "gone1." + ZONE and kv["dns ttl"] == "60"
    ledger = table(r.stdout.split("\n\n")[1])
    assert ledger[0][0][:5] == ["TARGET", "ZONE", "NAME", "TYPE", "STATUS"]
    assert ledger[1][0][:5] == ["default", ZONE, "gone1." + ZONE, "A", "synced"]
    assert_aligned(ledger, right={5})
    # by id, and --json is the server's answer
    hid = d.host("gone1")["id"]
    r = prism(d, "hosts", "show", str(hid), "--json")
    assert json.loads(r.stdout) == api(d, "GET", f"/api/v1/hosts/{hid}").json()
    # release (admin) and delete (write)
    r = prism(d, "hosts", "release", "keep1")
    assert r.returncode == 0 and "released host keep1" in r.stdout
    r = prism(d, "hosts", "delete", "gone1", "--yes", key="wr1te")
    assert r.returncode == 0 and "deleted host gone1" in r.stdout
    assert d.host("gone1") is None
    wait_for(lambda: pdns.query("gone1." + ZONE) == [], what="record deleted")
    assert pdns.query("keep1." + ZONE) == ["127.0.0.1"]
    r = prism(d, "hosts", "delete", "keep1", "--yes", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["deleted"]["hostname"] == "keep1"


def test_unknown_host_exits_1(apid):
    for args in (["hosts", "show", "nosuch"], ["hosts", "delete", "nosuch", "--yes"],
                 ["hosts", "release", "nosuch"], ["hosts", "show", "a/b"]):
        r = prism(apid, *args)
        assert r.returncode == 1, (args, r.stderr)
        m = ERR_LINE.search(r.stderr)
        assert m and m.groups() == ("404", "not_found"), r.stderr
        assert r.stdout == ""
    r = prism(apid, "hosts", "show", "nosuch")
    assert r.stderr == "prism: no host nosuch (HTTP 404, not_found)\n"


# ---- tokens ----

def test_tokens_create_list_revoke(prismd_factory):
    d = api_up(prismd_factory(None, extra_yaml=KEYS, auth_yaml="auth:\n  required: true\n"))
    r = prism(d, "tokens")
    assert r.returncode == 0 and r.stdout.startswith("no agent tokens")
    r = prism(d, "tokens", "create", "rack7")
    assert r.returncode == 0, r.stderr
    tokens = re.findall(r"^    ([0-9a-f]{64})$", r.stdout, re.M)
    assert len(tokens) == 1 and "only time the token is shown" in r.stdout
    assert "expires: never" in r.stdout
    # the printed token works on the agent port
    assert d.register("agent1", token=tokens[0])["status"] == "success"
    # with an expiry, and a name that needs escaping in the path
    r = prism(d, "tokens", "create", "ops@rack:8", "--expires", "2099-01-01T00:00:00Z",
              "--json")
    body = json.loads(r.stdout)
    assert r.returncode == 0 and body["name"] == "ops@rack:8" and len(body["token"]) == 64
    assert body["expires_at"] == "2099-01-01T00:00:00Z"
    r = prism(d, "tokens", "list")
    rows = table(r.stdout)
    assert rows[0][0] == ["NAME", "STATUS", "CREATED", "EXPIRES"]
    assert [c for c, _ in rows[1:]][0][:2] == ["ops@rack:8", "active"]
    assert rows[1][0][3] == "2099-01-01T00:00:00Z" and rows[2][0][3] == "never"
    assert_aligned(rows)
    assert tokens[0] not in r.stdout  # never the secrets
    # revoke, also through an escaped name
    r = prism(d, "tokens", "revoke", "rack7")
    assert r.returncode == 0 and "revoked agent token 'rack7' (1 active token)" in r.stdout
    r = prism(d, "tokens", "revoke", "ops@rack:8", "--json")
    assert json.loads(r.stdout) == {"name": "ops@rack:8", "revoked": 1}
    assert d.register("agent2", token=tokens[0])["status"] == "error"
    r = prism(d, "tokens")
    assert [c[1] for c, _ in table(r.stdout)[1:]] == ["revoked", "revoked"]
    r = prism(d, "tokens", "--json")
    assert json.loads(r.stdout) == api(d, "GET", "/api/v1/tokens").json()


def test_token_errors(apid):
    assert prism(apid, "tokens", "create", "dup").returncode == 0
    r = prism(apid, "tokens", "create", "dup")
    assert r.returncode == 1 and ERR_LINE.search(r.stderr).groups() == ("409", "conflict")
    r = prism(apid, "tokens", "create", "old", "--expires", "2001-01-01T00:00:00Z")
    assert r.returncode == 1 and ERR_LINE.search(r.stderr).groups() == ("422", "invalid_value")
    r = prism(apid, "tokens", "create", "bad name!")
    assert r.returncode == 1 and "(HTTP 422, invalid_value)" in r.stderr
    r = prism(apid, "tokens", "revoke", "nosuch")
    assert r.returncode == 1 and "(HTTP 404, not_found)" in r.stderr


# ---- targets, sync, plan ----

def test_targets_pause_resume(dnsd, pdns):
    d = dnsd
    r = prism(d, "targets")
    assert r.returncode == 0
    rows = table(r.stdout)
    assert rows[0][0][:3] == ["NAME", "STATE", "ZONE READY"]
    assert rows[1][0][:2] == ["default", "ok"]
    assert_aligned(rows, right=set(range(3, 9)))
    r = prism(d, "targets", "pause", "default")
    assert r.returncode == 0 and r.stdout == "target 'default' is now paused\n"
    assert table(prism(d, "targets").stdout)[1][0][1] == "paused"
    d.register("paused1")
    r = prism(d, "targets", "resume", "default", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["name"] == "default"
    assert json.loads(r.stdout)["state"] != "paused"
    wait_for(lambda: pdns.query("paused1." + ZONE) == ["127.0.0.1"], what="after resume")
    r = prism(d, "targets", "pause", "nosuch")
    assert r.returncode == 1 and "(HTTP 404, not_found)" in r.stderr
    r = prism(d, "targets", "--json")
    assert json.loads(r.stdout)["targets"][0]["name"] == "default"


def test_sync_status_retry_reconcile(dnsd, pdns):
    d = dnsd
    for n in ("r1", "r2"):
        d.register(n)
    wait_for(lambda: synced(d, 2), what="synced")
    r = prism(d, "sync")
    assert r.returncode == 0
    rows = table(r.stdout)
    assert rows[0][0] == ["TARGET", "PENDING", "SYNCED", "FAILED", "CONFLICT",
                          "OLDEST PENDING"]
    assert rows[1][0] == ["default", "0", "2", "0", "0", "-"]
    assert_aligned(rows, right={1, 2, 3, 4, 5})
    r = prism(d, "sync", "status", "--json")
    assert json.loads(r.stdout)["totals"]["synced"] == 2
    d.db_exec("UPDATE ledger SET status = 'failed', next_attempt = 9999999999999, "
              "last_error = 'test' WHERE name LIKE 'r1.%'")
    wait_for(lambda: table(prism(d, "sync").stdout)[1][0][3] == "1", what="failed row")
    r = prism(d, "sync", "retry", "--target", "nosuch")
    assert r.returncode == 1 and "(HTTP 404, not_found)" in r.stderr
    r = prism(d, "sync", "retry", "--target", "default", key="wr1te")
    assert r.returncode == 0 and r.stdout == "1 failed DNS record will be pushed again now\n"
    wait_for(lambda: d.db_query("SELECT status FROM ledger WHERE name LIKE 'r1.%'")
             == [("synced",)], what="retried row synced")
    r = prism(d, "sync", "retry", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"retried": 0}
    assert prism(d, "sync", "retry").stdout == "no failed DNS records to retry\n"
    r = prism(d, "sync", "reconcile", key="wr1te")
    assert r.returncode == 0 and "reconcile started" in r.stdout
    r = prism(d, "sync", "reconcile", "--json")
    assert json.loads(r.stdout) == {"status": "reconcile started"}


def test_plan_exit_status_follows_drift(dnsd, pdns):
    d = dnsd
    for n in ("x", "y"):
        assert d.register(n)["status"] == "success"
    wait_for(lambda: synced(d, 2), 15, what="synced")
    r = prism(d, "plan", key="r3ad")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = table(r.stdout.split("\n\n")[0])
    assert rows[0][0] == ["TARGET", "ZONE", "IN SYNC", "CREATE", "UPDATE", "DELETE", "CONFLICT"]
    assert rows[1][0] == ["default", ZONE, "2", "0", "0", "0", "0"]
    assert_aligned(rows, right={2, 3, 4, 5, 6})
    assert "No changes: DNS matches the registry on every target (2 RRsets in sync)." \
        in r.stdout
    r = prism(d, "plan", "--json", key="r3ad")
    assert r.returncode == 0 and json.loads(r.stdout)["zones"][0]["changes"] == []
    # a record deleted behind Prism's back: the plan shows it, exit status 2
    body = {"rrsets": [{"name": "x." + ZONE, "type": "A", "changetype": "DELETE"}]}
    assert pdns.api("PATCH", f"/zones/{ZONE}", json=body).status_code == 204
    r = prism(d, "plan", key="r3ad")
    assert r.returncode == 2, r.stdout + r.stderr
    assert table(r.stdout.split("\n\n")[0])[1][0] == ["default", ZONE, "1", "1", "0", "0", "0"]
    changes = table(r.stdout.split("\n\n")[1])
    assert changes[0][0] == ["ACTION", "TARGET", "ZONE", "NAME", "TYPE"]
    assert changes[1][0] == ["create", "default", ZONE, "x." + ZONE, "A"]
    assert "Plan: 1 to create, 0 to update, 0 to delete, 0 conflicts." in r.stdout
    r = prism(d, "plan", "--json", key="r3ad")
    assert r.returncode == 2
    assert json.loads(r.stdout)["zones"][0]["changes"] == [
        {"action": "create", "name": "x." + ZONE, "type": "A"}]
    assert pdns.query("x." + ZONE) == []  # looking changed nothing
    # a reconcile repairs it, and the plan is empty again
    assert prism(d, "sync", "reconcile").returncode == 0
    wait_for(lambda: prism(d, "plan").returncode == 0, 15, what="plan in sync again")
    assert pdns.query("x." + ZONE) == ["127.0.0.1"]


def test_plan_and_sync_without_targets(apid):
    r = prism(apid, "plan")
    assert r.returncode == 1 and "(HTTP 503, unavailable)" in r.stderr
    r = prism(apid, "targets")
    assert r.returncode == 0 and r.stdout == "no targets: DNS sync is disabled\n"
    r = prism(apid, "sync")
    assert r.returncode == 0 and r.stdout.startswith("no DNS records to sync")


# ---- audit and health ----

def test_audit(apid):
    r = prism(apid, "audit")
    assert r.returncode == 0 and r.stdout.startswith("no audit entries")
    for i in range(3):
        assert prism(apid, "tokens", "create", f"t{i}").returncode == 0
    r = prism(apid, "audit", "--limit", "2")
    assert r.returncode == 0
    rows = table(r.stdout)
    assert rows[0][0] == ["ID", "AT", "ACTOR", "ACTION", "OBJECT", "CHANGE"]
    assert [c[4] for c, _ in rows[1:]] == ["token:t2", "token:t1"]
    assert rows[1][0][2:4] == ["admin", "token.create"]
    assert rows[1][0][5] == 'null -> {"name":"t2","expires_at":null}'
    assert_aligned(rows, right={0})
    r = prism(apid, "audit", "--json", key="r3ad")
    doc = json.loads(r.stdout)
    assert [e["object"] for e in doc["entries"]] == ["token:t2", "token:t1", "token:t0"]
    assert doc["next"] is None


def test_health(dnsd):
    r = prism(dnsd, "health", key=None)  # public by default
    assert r.returncode == 0, r.stderr
    kv = {c[0]: c[1] for c, _ in table(r.stdout)}
    assert kv["status"] == "healthy" and kv["registry"] == "ok"
    assert kv["target default"] == "ok" and re.match(r"^\d+ s$", kv["uptime"])
    r = prism(dnsd, "health", "--json", key=None)
    assert json.loads(r.stdout)["checks"]["targets"] == {"default": "ok"}
    assert prism(dnsd, "targets", "pause", "default").returncode == 0
    r = prism(dnsd, "health")
    kv = {c[0]: c[1] for c, _ in table(r.stdout)}
    assert r.returncode == 0 and kv["status"] == "degraded"
    assert kv["reason"] == "target default: paused"


# ---- exit statuses: authentication, reachability ----

def test_authentication_exits_4(apid):
    d = apid
    r = prism(d, "hosts", key="wrong-key-123")
    assert r.returncode == 4 and ERR_LINE.search(r.stderr).groups() == ("401", "unauthorized")
    assert "wrong-key-123" not in r.stdout + r.stderr
    r = prism(d, "hosts", key=None)
    assert r.returncode == 4 and "no API key was given" in r.stderr
    r = prism(d, "hosts", "--json", key="wrong-key-123")
    assert r.returncode == 4 and r.stdout == ""
    for args in (["hosts", "delete", "x", "--yes"], ["tokens", "create", "t"],
                 ["targets", "pause", "default"], ["sync", "retry"], ["sync", "reconcile"],
                 ["hosts", "release", "x"]):
        r = prism(d, *args, key="r3ad")
        assert r.returncode == 4, (args, r.stderr)
        assert ERR_LINE.search(r.stderr).groups() == ("403", "forbidden"), r.stderr
        assert "r3ad" not in r.stdout + r.stderr
    # the read key reads
    assert prism(d, "hosts", key="r3ad").returncode == 0
    assert prism(d, "audit", key="r3ad").returncode == 0


def test_unreachable_exits_3():
    port = free_port()
    r = run(["hosts", "--server", f"http://127.0.0.1:{port}", "--api-key", "s3cret"])
    assert r.returncode == 3 and r.stdout == ""
    assert r.stderr.startswith(f"prism: cannot reach http://127.0.0.1:{port} (")
    assert "s3cret" not in r.stderr


def test_silent_server_times_out_exit_3():
    with socket.socket() as s:  # accepts connections (backlog), never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        t0 = time.monotonic()
        r = run(["health", "--server", f"http://127.0.0.1:{s.getsockname()[1]}",
                 "--timeout", "0.5"])
        assert r.returncode == 3 and "timed out" in r.stderr
        assert time.monotonic() - t0 < 10


class _NotTheApi(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<html>hello</html>" if self.path != "/api/v1/hosts" else b"oops"
        self.send_response(200 if self.path != "/api/v1/hosts/x" else 502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_answers_that_are_not_the_api():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _NotTheApi)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        r = run(["hosts", "--server", base])
        assert r.returncode == 3 and "not JSON" in r.stderr
        r = run(["hosts", "show", "x", "--server", base])  # an error page from a proxy
        assert r.returncode == 1 and r.stderr.startswith("prism: ") and "(HTTP 502)" in r.stderr
    finally:
        srv.shutdown()
        srv.server_close()


class _FailsOnPage2(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if "after=" not in self.path:
            status, doc = 200, {"hosts": [{"id": 1, "hostname": "a\x1b[2Jb"}], "next": "1"}
        else:
            status, doc = 500, {"error": {"code": "internal", "message": "boom\x1b[2J"}}
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_failure_in_the_middle_of_a_walk():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _FailsOnPage2)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        # the pages so far are one JSON document whose `next` says where to go on from
        r = run(["hosts", "--all", "--json", "--server", base])
        assert r.returncode == 1
        assert json.loads(r.stdout) == {"hosts": [{"id": 1, "hostname": "a\x1b[2Jb"}],
                                        "next": "1"}
        # no control character from the server reaches the terminal
        assert r.stderr == "prism: boom?[2J (HTTP 500, internal)\n"
        r = run(["hosts", "--limit", "1", "--server", base])
        assert r.returncode == 0 and "a?[2Jb" in r.stdout and "\x1b" not in r.stdout
    finally:
        srv.shutdown()
        srv.server_close()


# ---- defaults from the environment, key files, TLS ----

def test_environment_defaults(apid, tmp_path):
    d = apid
    d.register("envhost")
    env = clean_env(PRISM_URL=url(d) + "/", PRISM_API_KEY="adm1n")
    r = run(["hosts"], env=env)
    assert r.returncode == 0 and "envhost" in r.stdout
    # flags win over the environment
    r = run(["hosts", "--api-key", "nope"], env=env)
    assert r.returncode == 4
    r = run(["hosts", "--server", f"http://127.0.0.1:{free_port()}"], env=env)
    assert r.returncode == 3
    # a key file: its first line, blanks around it ignored
    kf = tmp_path / "key"
    kf.write_text("  r3ad \nsecond line\n")
    r = run(["hosts", "--api-key-file", str(kf)], env=clean_env(PRISM_URL=url(d)))
    assert r.returncode == 0 and "envhost" in r.stdout
    kf.write_text("\n")
    r = run(["hosts", "--api-key-file", str(kf)], env=clean_env(PRISM_URL=url(d)))
    assert r.returncode == 2 and "first line is empty" in r.stderr
    r = run(["hosts", "--api-key-file", str(tmp_path / "none")])
    assert r.returncode == 2 and "cannot read --api-key-file" in r.stderr
    # options may come before the command
    r = run(["--json", "--server", url(d), "--api-key", "r3ad", "hosts"])
    assert r.returncode == 0 and json.loads(r.stdout)["hosts"][0]["hostname"] == "envhost"
    # without PRISM_URL: http://127.0.0.1:8081
    r = run(["health", "--timeout", "2"])
    if r.returncode == 3:
        assert "http://127.0.0.1:8081" in r.stderr


def test_tls_with_cacert(prismd_factory, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    d = api_up(prismd_factory(None, extra_yaml=KEYS + f"  tls_cert: {cert}\n  tls_key: {key}\n"))
    base = f"https://127.0.0.1:{d.api_port}"
    wait_for(lambda: run(["health", "--server", base, "--cacert", str(cert)]).returncode == 0,
             10, what="HTTPS")
    r = run(["hosts", "--server", base, "--cacert", str(cert), "--api-key", "r3ad"])
    assert r.returncode == 0 and r.stdout == "no hosts\n"
    r = run(["health", "--server", base])  # not signed by a system CA
    assert r.returncode == 3 and "cannot reach" in r.stderr
