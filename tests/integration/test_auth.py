# SPDX-License-Identifier: MIT
"""Tokens, hostname ownership and reserved names against the built prismd."""
import hashlib
import hmac
import os
import signal
import socket
import time

import pytest

from prismlib import frame, recv_frame, registration, wait_for

ZONE = "managed.prism.local."


def auth_yaml(required=True, tokens=(), reserved=()):
    y = f"auth:\n  required: {'true' if required else 'false'}\n"
    if tokens:
        y += "  tokens:\n" + "".join(f"    - {{name: {n}, token: {t}}}\n" for n, t in tokens)
    if reserved:
        y += "  reserved_names: [" + ", ".join(reserved) + "]\n"
    return y


@pytest.fixture
def authd(prismd_factory, pdns):
    return prismd_factory(pdns, auth_yaml=auth_yaml(tokens=[("rack1", "tok-one"),
                                                             ("rack2", "tok-two")],
                                                     reserved=["gateway", "WWW"]))


def test_token_required(authd):
    r = authd.register("notoken")
    assert r["status"] == "error"
    assert r["message"] == "Authentication required. Please configure auth_token."
    r = authd.register("emptytoken", token="")
    assert r["message"] == "Authentication required. Please configure auth_token."
    assert authd.host("notoken") is None


def test_unknown_token(authd):
    r = authd.register("badtoken", token="nope")
    assert r["message"] == "Invalid authentication token: token_not_found"
    r = authd.register("longtoken", token="x" * 5000)
    assert r["message"] == "Invalid authentication token: token_not_found"
    assert authd.host("badtoken") is None


def test_valid_token_and_no_hijack(authd, pdns):
    r = authd.register("web1", token="tok-one")
    assert r["message"] == "New host registered with IP 127.0.0.1"
    wait_for(lambda: pdns.query("web1." + ZONE) == ["127.0.0.1"], what="record")
    # another client's token may not take the name, and nothing changes
    r = authd.register("WEB1", token="tok-two", source="127.0.0.9")
    assert r["status"] == "error"
    assert r["message"] == "Hostname 'web1' is registered to another client"
    h = authd.host("web1")
    assert h["current_ip"] == "127.0.0.1"
    # the owner keeps going
    r = authd.register("web1", token="tok-one", source="127.0.0.2")
    assert r["message"] == "IP address changed from 127.0.0.1 to 127.0.0.2"
    wait_for(lambda: pdns.query("web1." + ZONE) == ["127.0.0.2"], what="record moved")
    assert pdns.query("web1." + ZONE) == ["127.0.0.2"]


def test_tokenless_cannot_take_a_bound_name(prismd_factory):
    d = prismd_factory(None, auth_yaml=auth_yaml(required=False, tokens=[("a", "tok-a")]))
    assert d.register("bound", token="tok-a")["status"] == "success"
    r = d.register("bound")
    assert r["message"] == "Hostname 'bound' is registered to another client"
    # an unbound name registered without token is free for anyone without token
    assert d.register("open")["status"] == "success"
    assert d.register("open")["message"] == "Heartbeat updated"


@pytest.mark.parametrize("name", ["ns", "ns1", "NS2", "gateway", "www",
                                  "managed.prism.local"])
def test_reserved_names(authd, name):
    r = authd.register(name, token="tok-one")
    assert r["status"] == "error"
    assert r["message"] == f"Hostname '{name.lower()}' is reserved"
    assert authd.host(name.lower()) is None


def test_registry_tokens_expired_and_inactive(prismd_factory):
    d = prismd_factory(None, auth_yaml=auth_yaml())
    now = int(time.time())

    key = d.db_query("SELECT value FROM meta WHERE name = 'cred_key'")[0][0]

    def add(token, active=1, expires=None):
        # the registry keeps HMAC-SHA256 (its own key) of the token's hex SHA-256
        sha = hashlib.sha256(token.encode()).hexdigest()
        h = hmac.new(key, sha.encode(), hashlib.sha256).hexdigest()
        d.db_exec("INSERT INTO tokens (hash, name, created_at, expires_at, active) "
                   "VALUES (?, ?, ?, ?, ?)", (h, token, now, expires, active))
    add("reg-good")
    add("reg-old", expires=now - 10)
    add("reg-off", active=0)
    add("reg-future", expires=now + 3600)
    assert d.db_query("SELECT count(*) FROM tokens")[0][0] == 4
    assert d.register("r1", token="reg-good")["status"] == "success"
    assert d.register("r2", token="reg-future")["status"] == "success"
    assert d.register("r3", token="reg-old")["message"] == \
        "Invalid authentication token: token_expired"
    assert d.register("r4", token="reg-off")["message"] == \
        "Invalid authentication token: token_inactive"


def test_tokens_change_within_one_connection(prismd_factory):
    """A connection remembers the hash of the last token it sent (a speed-up): every frame
    is still checked, so a token deactivated meanwhile, another token or a wrong one on the
    same connection gets its own answer."""
    d = prismd_factory(None, auth_yaml=auth_yaml(tokens=[("conf", "tok-conf")]))
    key = d.db_query("SELECT value FROM meta WHERE name = 'cred_key'")[0][0]
    sha = hashlib.sha256(b"reg-tok").hexdigest()
    h = hmac.new(key, sha.encode(), hashlib.sha256).hexdigest()
    d.db_exec("INSERT INTO tokens (hash, name, created_at, expires_at, active) "
              "VALUES (?, 'reg', ?, NULL, 1)", (h, int(time.time())))

    with d.connect() as s:
        def ask(host, token):
            s.sendall(frame(registration(host, token)))
            return recv_frame(s)["message"]
        assert ask("m1", "reg-tok").startswith("New host registered")
        assert ask("m1", "reg-tok") == "Heartbeat updated"
        assert ask("m1", "reg-tox") == "Invalid authentication token: token_not_found"
        assert ask("m2", "tok-conf").startswith("New host registered")
        assert ask("m1", "tok-conf") == "Hostname 'm1' is registered to another client"
        assert ask("m1", "reg-tok") == "Heartbeat updated"
        d.db_exec("UPDATE tokens SET active = 0 WHERE hash = ?", (h,))
        assert ask("m1", "reg-tok") == "Invalid authentication token: token_inactive"
        assert ask("m2", "tok-conf") == "Heartbeat updated"


def test_auth_failure_holds_the_connection(prismd_factory):
    """After an authentication failure the connection is neither read nor served for
    auth.failure_delay_ms, then one frame at a time: a pipelined flood of bad tokens gets
    one answer per delay; every frame is still answered, in order; a connection with a
    valid token beside it is not held."""
    d = prismd_factory(None, auth_yaml=auth_yaml(tokens=[("conf", "tok-conf")]) +
                       "  failure_delay_ms: 300\n")
    with d.connect() as bad, d.connect() as good:
        bad.sendall(b"".join(frame(registration(f"bad{i}", "wrong")) for i in range(4)))
        t0 = time.monotonic()
        at = []
        for i in range(4):
            r = recv_frame(bad)
            assert r["message"] == "Invalid authentication token: token_not_found", r
            assert r["hostname"] == f"bad{i}"
            at.append(time.monotonic() - t0)
            # the valid connection answers at once meanwhile
            g0 = time.monotonic()
            good.sendall(frame(registration(f"good{i}", "tok-conf")))
            assert recv_frame(good)["status"] == "success"
            assert time.monotonic() - g0 < 0.25
        # the first answer at once, each next one a delay after the one before
        assert at[0] < 0.25, at
        for a, b in zip(at, at[1:]):
            assert b - a >= 0.28, at
        # the held connection is served again: a valid token on it succeeds
        bad.sendall(frame(registration("late", "tok-conf")))
        assert recv_frame(bad)["status"] == "success"
    assert d.host("bad0") is None and d.host("late") is not None

    # 0 turns the hold off (live, on SIGHUP): the same frames answered at once
    text = open(d.config).read()
    open(d.config, "w").write(text.replace("failure_delay_ms: 300", "failure_delay_ms: 0"))
    reloads = d.read_log().count("configuration reloaded")
    os.kill(d.proc.pid, signal.SIGHUP)
    wait_for(lambda: d.read_log().count("configuration reloaded") > reloads,
             what="reload logged")
    with d.connect() as bad:
        t0 = time.monotonic()
        bad.sendall(b"".join(frame(registration(f"quick{i}", "wrong")) for i in range(4)))
        for i in range(4):
            assert recv_frame(bad)["hostname"] == f"quick{i}"
        assert time.monotonic() - t0 < 0.5


def test_token_file(prismd_factory, tmp_path):
    tf = tmp_path / "agent.token"
    tf.write_text("from-a-file\n")
    d = prismd_factory(None, auth_yaml=f"auth:\n  tokens:\n    - name: f\n"
                                       f"      token_file: \"{tf}\"\n")
    assert d.register("filetok", token="from-a-file")["status"] == "success"
    assert "from-a-file" not in d.read_log()


def test_pipelining_before_auth_is_backpressured_not_dropped(prismd_factory):
    """Before a valid token only one frame is buffered; a client that pipelines many frames
    at once still gets every answer, in order (TCP backpressure, no error)."""
    d = prismd_factory(None)
    big = "x" * 30000
    frames = [frame(registration(f"pipe{i}", pad=big)) for i in range(20)]
    with d.connect() as s:
        s.sendall(b"".join(frames))
        for i in range(20):
            r = recv_frame(s)
            assert r["status"] == "success", r
            assert r["hostname"] == f"pipe{i}"


def test_messages_for_every_field(prismd_factory):
    d = prismd_factory(None)
    cases = [
        ({"type": "registration", "timestamp": "2025-01-01T00:00:00Z", "hostname": "a"},
         "Invalid message: Missing required field: version"),
        ({"version": "1.0", "timestamp": "2025-01-01T00:00:00Z", "hostname": "a"},
         "Invalid message: Missing required field: type"),
        ({"version": "1.0", "type": "registration", "hostname": "a"},
         "Invalid message: Missing required field: timestamp"),
        (dict(registration("a"), version=1.0),
         "Invalid message: Field 'version' must be a string"),
        (dict(registration("a"), type=None),
         "Invalid message: Field 'type' must be a string"),
        (dict(registration("a"), timestamp=123),
         "Invalid message: Field 'timestamp' must be a string"),
        (dict(registration("a"), auth_token=42),
         "Invalid message: Field 'auth_token' must be a string"),
    ]
    with d.connect() as s:
        for msg, want in cases:
            s.sendall(frame(msg))
            r = recv_frame(s)
            assert list(r)[:5] == ["version", "type", "status", "message", "timestamp"]
            assert r["status"] == "error"
            assert r["message"] == want
        s.sendall(frame(dict(registration("fine"), client_ip="10.9.9.9", extra={"x": 1})))
        r = recv_frame(s)
        assert r["message"] == "New host registered with IP 127.0.0.1"


def test_two_thousand_connections_at_once(prismd_factory):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 4500:
        pytest.skip(f"file descriptor limit {hard} too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4500), hard))
    d = prismd_factory(None, start=False)
    text = open(d.config).read().replace('host: "127.0.0.1"',
                                         'host: "127.0.0.1"\n  max_connections: 2500')
    open(d.config, "w").write(text)
    d.start()
    socks = []
    try:
        for i in range(2000):
            s = socket.socket()
            s.settimeout(20)
            s.connect(("127.0.0.1", d.port))
            socks.append(s)
        for i, s in enumerate(socks):
            s.sendall(frame(registration(f"many{i}")))
        ok = sum(1 for s in socks if recv_frame(s, 30)["status"] == "success")
    finally:
        for s in socks:
            s.close()
    assert ok == 2000
    assert d.db_query("SELECT count(*) FROM hosts")[0][0] == 2000
