# SPDX-License-Identifier: MIT
"""Secrets rotated the Vault Agent way: a template rendered to the *_file path (written to a
temporary file and renamed over it, as Vault Agent does), then SIGHUP. For every secret
prismd reads from a file — agent tokens, API keys, the PowerDNS API key, the Kea database
password — the new one is in force after the SIGHUP and the old one refused."""
import os
import signal
import subprocess
import time

import pytest
import requests

from kealib import Postgres, have, metric, reservation_sql, wait_sources
from prismlib import PRISM, SANITIZER_MARKS, frame, recv_frame, registration, stop_pid, wait_for

ZONE = "managed.prism.local."


def render(path, secret):
    """What Vault Agent does with a template: write beside it, then rename over it."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(secret + "\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def sighup(d, count):
    """SIGHUP, and wait until the reload number @count is logged (done or refused)."""
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: d.read_log().count("configuration reloaded") +
             d.read_log().count("reload refused") >= count, 10, what="reload")


def test_agent_token_file(prismd_factory, tmp_path):
    tok = tmp_path / "agent-token"
    render(tok, "token-old-0123456789")
    d = prismd_factory(None, auth_yaml=f"auth:\n  tokens:\n    - {{name: rack1, token_file: "
                       f"\"{tok}\"}}\n")
    assert d.register("t1", token="token-old-0123456789")["status"] == "success"
    render(tok, "token-new-0123456789")
    held = d.connect()  # a connection open across the rotation
    sighup(d, 1)
    assert d.register("t1", token="token-new-0123456789")["status"] == "success"
    assert d.register("t2", token="token-old-0123456789")["message"] == \
        "Invalid authentication token: token_not_found"
    held.sendall(frame(registration("t1", token="token-old-0123456789")))
    assert recv_frame(held)["message"] == "Invalid authentication token: token_not_found"
    held.close()
    # a file that cannot be read refuses the reload: the new token stays in force
    os.unlink(tok)
    sighup(d, 2)
    assert "reload refused" in d.read_log()
    assert d.register("t1", token="token-new-0123456789")["status"] == "success"


def test_agent_token_rotation_with_overlap(prismd_factory, tmp_path):
    """A running `prism agent` keeps its host through a token rotation: prismd's token file
    holds the new token and, after it, the old one (both valid, the host now bound to the
    new); the agent reads its new token on SIGHUP; then the old line goes and the old token
    is refused. The agent is never refused."""
    server_tok, agent_tok = tmp_path / "rack1.token", tmp_path / "agent.token"
    render(server_tok, "rotate-old-0123456789")
    render(agent_tok, "rotate-old-0123456789")
    d = prismd_factory(None, auth_yaml="auth:\n  required: true\n  tokens:\n"
                       f"    - {{name: rack1, token_file: \"{server_tok}\"}}\n")
    log = open(tmp_path / "agent.log", "ab")
    env = {k: v for k, v in os.environ.items() if k not in ("PRISM_AUTH_TOKEN",
                                                            "NOTIFY_SOCKET")}
    agent = subprocess.Popen([PRISM, "agent", "--server", f"127.0.0.1:{d.port}", "--hostname",
                              "rot1", "--token-file", str(agent_tok), "--interval", "1"],
                             stdout=log, stderr=subprocess.STDOUT, env=env)

    def agent_log():
        with open(tmp_path / "agent.log", errors="replace") as f:
            return f.read()

    def heartbeats_go_on():
        t = int(time.time())
        wait_for(lambda: (d.host("rot1") or {}).get("last_seen", 0) > t + 1, 10,
                 what="heartbeats go on")
    try:
        wait_for(lambda: d.host("rot1") is not None, 15, what="the agent registered")
        bound = d.host("rot1")["owner_token_hash"]
        assert bound
        # 1. prismd: the new token first, the old one after it (Vault renders both)
        render(server_tok, "rotate-new-0123456789\nrotate-old-0123456789")
        sighup(d, 1)
        wait_for(lambda: "auth.tokens 'rack1': new secret, 1 host(s) bound to it keep their "
                 "names" in d.read_log(), 10, what="the host bound to the new token")
        heartbeats_go_on()  # still with the old token: accepted
        assert d.host("rot1")["owner_token_hash"] != bound
        # 2. the agent gets its new token (Vault Agent renders it, then SIGHUP)
        render(agent_tok, "rotate-new-0123456789")
        agent.send_signal(signal.SIGHUP)
        wait_for(lambda: "a new token from the next registration on" in agent_log(), 10,
                 what="the agent read its token again")
        heartbeats_go_on()
        # 3. the old line goes: the old token is refused, the agent carries on
        render(server_tok, "rotate-new-0123456789")
        sighup(d, 2)
        assert d.register("rot1", token="rotate-old-0123456789")["message"] == \
            "Invalid authentication token: token_not_found"
        heartbeats_go_on()
        assert agent.poll() is None, agent_log()
        assert "refused" not in agent_log()
        refusals = [line for line in d.read_log().splitlines() if "refused (" in line]
        assert len(refusals) == 1 and "invalid_token" in refusals[0], refusals
    finally:
        stop_pid(agent)
        log.close()
    assert not [m for m in SANITIZER_MARKS if m in agent_log()], agent_log()


def test_api_key_file(prismd_factory, tmp_path):
    key = tmp_path / "api-key"
    render(key, "api-old-0123456789")
    d = prismd_factory(None, extra_yaml=f"api:\n  keys:\n    - {{name: ops, key_file: "
                       f"\"{key}\", role: read}}\n")
    url = f"http://127.0.0.1:{d.api_port}/api/v1/hosts"

    def status(k):
        return requests.get(url, headers={"X-API-Key": k}, timeout=5).status_code
    wait_for(lambda: status("api-old-0123456789") == 200, 10, what="API up")
    render(key, "api-new-0123456789")
    assert status("api-old-0123456789") == 200  # until the SIGHUP
    sighup(d, 1)
    assert status("api-new-0123456789") == 200
    assert status("api-old-0123456789") == 401


def test_powerdns_api_key_file(prismd_factory, pdns, tmp_path):
    """PowerDNS's key rotated: PowerDNS restarted with the new key, prismd refused (401)
    until the file has it and a SIGHUP; then it pushes at once, not after its backoff."""
    keyfile = tmp_path / "pdns-key"
    render(keyfile, pdns.key)
    d = prismd_factory(None, extra_yaml=f"""powerdns:
  enabled: true
  api_url: "{pdns.api_url}"
  api_key_file: "{keyfile}"
  default_zone: "{ZONE}"
  retry_delay: 0.2
sync:
  retry_max: 600
""")
    assert d.register("k1")["status"] == "success"
    wait_for(lambda: pdns.query("k1." + ZONE) == ["127.0.0.1"], 15, what="k1 pushed")
    pdns.stop()
    pdns.key = "pdns-key-rotated-0123456789"
    pdns.start()
    assert d.register("k2")["status"] == "success"
    wait_for(lambda: "HTTP 401" in d.read_log(), 15, what="the old key refused")
    assert pdns.query("k2." + ZONE) == []
    render(keyfile, pdns.key)
    sighup(d, 1)
    assert "reload: target default: new API key" in d.read_log()
    # the backoff after a 401 is sync.retry_max (600 s): this is the immediate retry
    wait_for(lambda: pdns.query("k2." + ZONE) == ["127.0.0.1"], 20, what="k2 with the new key")
    assert d.register("k3")["status"] == "success"
    wait_for(lambda: pdns.query("k3." + ZONE) == ["127.0.0.1"], 15, what="k3")
    # the same key again: nothing to change
    sighup(d, 2)
    assert d.read_log().count("new API key") == 1


@pytest.mark.skipif(not (have("kea-admin") and os.path.exists("/usr/lib/postgresql/15/bin")),
                    reason="needs PostgreSQL 15 and kea-admin (scripts/deps.sh)")
def test_kea_password_file(prismd_factory, pdns, tmp_path):
    """Kea's database password rotated: the connection in use stays; the next one (after
    the database dropped it) uses the password the file has at the last SIGHUP."""
    pg = Postgres().start()
    try:
        # passwords checked over TCP for every user but postgres (the test's own)
        with open(os.path.join(pg.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")
        pg.psql("SELECT pg_reload_conf()")
        db = pg.kea_db("kea")
        pwfile = tmp_path / "kea-db-password"
        render(pwfile, "kea")
        d = prismd_factory(pdns, extra_yaml=f"""zones:
  - name: {ZONE}
  - name: dc.test.
api:
  public_metrics: true
kea:
  reservations:
    enabled: true
    conninfo: "{pg.conninfo(db)}"
    password_file: "{pwfile}"
    zone: dc.test.
    reconnect_max: 1
""")
        wait_sources(d)
        wait_for(lambda: metric(d, "prism_kea_db_connected") == 1, 20, what="connected")

        def drop_connection():
            pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                    "application_name = 'prismd'", db=db)
        # the password changes in PostgreSQL first: the connection in use stays up
        pg.psql("ALTER USER kea PASSWORD 'kea-rotated'")
        pg.psql(reservation_sql("pw1", "10.0.7.1", "02:00:00:00:07:01"), db=db)
        # (no trigger installed: the sync after a reconnection is what finds pw1)
        connects = metric(d, "prism_kea_db_connects_total")
        drop_connection()
        wait_for(lambda: "password authentication failed" in d.read_log(), 20,
                 what="the old password refused")
        assert metric(d, "prism_kea_db_connected") == 0
        render(pwfile, "kea-rotated")
        sighup(d, 1)
        wait_for(lambda: metric(d, "prism_kea_db_connects_total") > connects, 20,
                 what="reconnected with the new password")
        wait_for(lambda: pdns.query("pw1.dc.test.") == ["10.0.7.1"], 20, what="pw1")
        # and it is the new one that is used from then on: the old one is refused again
        render(pwfile, "kea")
        sighup(d, 2)
        fails = d.read_log().count("password authentication failed")
        drop_connection()
        wait_for(lambda: d.read_log().count("password authentication failed") > fails, 20,
                 what="the old password refused after rotating back in the file only")
    finally:
        pg.cleanup()

