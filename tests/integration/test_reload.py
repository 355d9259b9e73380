# SPDX-License-Identifier: MIT
"""SIGHUP reloads what is reloadable, keeps serving, and refuses a bad file."""
import os
import signal

from prismlib import wait_for


def sighup(d):
    os.kill(d.proc.pid, signal.SIGHUP)


def test_reload_tokens_and_keep_serving(prismd_factory):
    d = prismd_factory(None, auth_yaml="auth:\n  tokens:\n    - {name: a, token: tok-a}\n")
    assert d.register("r1", token="tok-a")["status"] == "success"
    assert d.register("r2", token="tok-b")["message"] == \
        "Invalid authentication token: token_not_found"
    text = open(d.config).read().replace("{name: a, token: tok-a}",
                                         "{name: a, token: tok-a}\n    - {name: b, token: tok-b}")
    open(d.config, "w").write(text)
    held = d.connect()  # an open agent connection survives the reload
    sighup(d)
    wait_for(lambda: "configuration reloaded" in d.read_log(), what="reload logged")
    assert d.register("r2", token="tok-b")["status"] == "success"
    from prismlib import frame, recv_frame, registration
    held.sendall(frame(registration("r1", token="tok-a")))
    assert recv_frame(held)["message"] == "Heartbeat updated"
    held.close()


def test_reload_refuses_bad_file_and_keeps_running(prismd_factory):
    d = prismd_factory(None, auth_yaml="auth:\n  tokens:\n    - {name: a, token: tok-a}\n")
    good = open(d.config).read()
    open(d.config, "w").write(good + "server:\n  bogus_key: 1\n")
    sighup(d)
    wait_for(lambda: "reload refused" in d.read_log(), what="refusal logged")
    assert "bogus_key" in d.read_log() or "duplicate key 'server'" in d.read_log()
    assert d.register("still", token="tok-a")["status"] == "success"
    open(d.config, "w").write(good)


def test_reload_reports_restart_only_changes(prismd_factory):
    d = prismd_factory(None, auth_yaml="auth:\n  required: false\n")
    text = open(d.config).read().replace(f"tcp_port: {d.port}", f"tcp_port: {d.port + 1}")
    open(d.config, "w").write(text)
    sighup(d)
    wait_for(lambda: "server.tcp_port changed: it takes effect at the next restart"
             in d.read_log(), what="warning")
    assert d.register("same-port")["status"] == "success"  # still on the old port


def test_reload_auth_required(prismd_factory):
    d = prismd_factory(None, auth_yaml="auth:\n  required: false\n")
    assert d.register("open")["status"] == "success"
    text = open(d.config).read().replace("required: false", "required: true")
    open(d.config, "w").write(text)
    sighup(d)
    wait_for(lambda: "configuration reloaded" in d.read_log(), what="reload")
    assert "next restart" not in d.read_log()
    assert d.register("closed")["message"] == \
        "Authentication required. Please configure auth_token."


def test_reload_api_keys(prismd_factory):
    import requests
    d = prismd_factory(None, extra_yaml="api:\n  keys:\n    - {name: one, key: k-one, "
                                        "role: read}\n")
    url = f"http://127.0.0.1:{d.api_port}/api/v1/hosts"
    assert requests.get(url, headers={"X-API-Key": "k-one"}, timeout=5).status_code == 200
    assert requests.get(url, headers={"X-API-Key": "k-two"}, timeout=5).status_code == 401
    text = open(d.config).read().replace("{name: one, key: k-one, role: read}",
                                         "{name: two, key: k-two, role: read}")
    open(d.config, "w").write(text)
    sighup(d)
    wait_for(lambda: "configuration reloaded" in d.read_log(), what="reload")
    assert requests.get(url, headers={"X-API-Key": "k-two"}, timeout=5).status_code == 200
    assert requests.get(url, headers={"X-API-Key": "k-one"}, timeout=5).status_code == 401
