# SPDX-License-Identifier: MIT
"""The agent protocol over real TCP against the built prismd (docs/protocol.md)."""
import json
import re
import socket
import struct
import time

import pytest

from prismlib import frame, recv_frame, registration, wait_for


@pytest.fixture
def agentd(prismd_factory):
    """prismd without DNS: these tests are about the wire protocol."""
    return prismd_factory(None)


def closed_by_peer(sock, timeout=5.0):
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def test_many_frames_one_connection_in_order(agentd):
    with agentd.connect() as s:
        s.sendall(b"".join(frame(registration(f"h{i}")) for i in range(20)))
        for i in range(20):
            r = recv_frame(s)
            assert r["status"] == "success", r
            assert r["hostname"] == f"h{i}"
        # and the connection is still usable
        s.sendall(frame(registration("h0")))
        assert recv_frame(s)["message"] == "Heartbeat updated"


def test_frame_split_byte_by_byte(agentd):
    data = frame(registration("split"))
    with agentd.connect() as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in data:
            s.send(bytes([b]))
        r = recv_frame(s)
        assert r["message"] == "New host registered with IP 127.0.0.1"


def test_message_error_keeps_connection_open(agentd):
    with agentd.connect() as s:
        bad = registration("ok")
        del bad["hostname"]
        s.sendall(frame(bad))
        r = recv_frame(s)
        assert r["status"] == "error"
        assert r["message"] == "Invalid message: Missing required field: hostname"
        s.sendall(frame(registration("bad_name")))
        r = recv_frame(s)
        assert r["message"].startswith("Invalid message: Invalid hostname: ")
        s.sendall(frame(dict(registration("v"), version="2.0")))
        assert recv_frame(s)["message"] == "Invalid message: Unsupported version: 2.0"
        s.sendall(frame(dict(registration("v"), type="ping")))
        assert recv_frame(s)["message"] == "Invalid message: Unsupported message type: ping"
        s.sendall(frame(dict(registration("v"), timestamp="yesterday")))
        assert recv_frame(s)["message"].startswith("Invalid message: Invalid timestamp: ")
        s.sendall(frame(dict(registration("v"), hostname=5)))
        assert recv_frame(s)["message"] == "Invalid message: Field 'hostname' must be a string"
        s.sendall(frame(registration("ok")))
        assert recv_frame(s)["status"] == "success"


def test_refused_messages_logged_at_warning_rate_limited(prismd_factory):
    """Every refused message is a warning line naming the peer, the code and the answer;
    a flood is cut to 10 lines a second, the next line saying how many were left out; a
    message quoting the peer cannot forge log lines."""
    d = prismd_factory(None, auth_yaml="auth:\n  required: true\n  tokens:\n"
                       "    - {name: t, token: good-token-0123456789}\n")
    with d.connect() as s:
        bad = registration("ok", token="good-token-0123456789")
        del bad["hostname"]
        s.sendall(frame(bad))
        assert recv_frame(s)["status"] == "error"
        s.sendall(frame(registration("noauth")))
        assert recv_frame(s)["message"].startswith("Authentication required")
        s.sendall(frame(registration("h", token="wrong-token-0123456789")))
        assert recv_frame(s)["message"] == "Invalid authentication token: token_not_found"
        s.sendall(frame(dict(registration("v", token="good-token-0123456789"),
                             version="2.0\nFAKE error prismd: forged")))
        assert recv_frame(s)["status"] == "error"
    log = wait_for(lambda: (lambda t: t if "forged" in t else None)(d.read_log()), 10,
                   what="the last refusal logged")
    assert ("warning agent: message from 127.0.0.1 refused (invalid_message): Invalid "
            "message: Missing required field: hostname") in log
    assert ("message from 127.0.0.1 refused (auth_required): Authentication required. "
            "Please configure auth_token.") in log
    assert ("message from 127.0.0.1 refused (invalid_token): Invalid authentication token: "
            "token_not_found") in log
    assert "Unsupported version: 2.0?FAKE error prismd: forged" in log
    assert not any(line.startswith("FAKE") for line in log.splitlines())
    # a flood: 200 refusals in well under a second
    start = len(d.read_log())
    with d.connect() as s:
        s.sendall(b"".join(frame(dict(registration("v"), type="ping")) for _ in range(200)))
        for _ in range(200):
            assert recv_frame(s)["status"] == "error"
    time.sleep(1.1)  # the next second's budget
    with d.connect() as s:
        s.sendall(frame(dict(registration("v"), type="ping")))
        recv_frame(s)
    log = wait_for(lambda: (lambda t: t if "more refused, not logged" in t else None)(
        d.read_log()), 10, what="the count of lines left out")
    flood = log[start:]
    lines = flood.count("refused (invalid_message)")
    assert 2 <= lines <= 21, lines   # at most 10 a second (the flood may span two seconds)
    left_out = sum(int(n) for n in re.findall(r"\((\d+) more refused, not logged\)", flood))
    assert left_out + lines == 201


def test_too_large_answers_once_and_closes(agentd):
    with agentd.connect() as s:
        s.sendall(struct.pack(">I", 65537) + b"{" * 100)
        r = recv_frame(s)
        assert r["status"] == "error"
        assert r["message"] == "Protocol error: Message too large: 65537 > 65536"
        assert closed_by_peer(s)


@pytest.mark.parametrize("payload,prefix", [
    (b"not json", "Protocol error: Message decoding failed: "),
    (b"", "Protocol error: Message decoding failed: "),
    (b"\xff\xfe{}", "Protocol error: Message decoding failed: "),
    (b"[1, 2]", "Protocol error: Message must be a JSON object"),
])
def test_undecodable_answers_once_and_closes(agentd, payload, prefix):
    with agentd.connect() as s:
        s.sendall(frame(payload) + frame(registration("after")))
        r = recv_frame(s)
        assert r["status"] == "error"
        assert r["message"].startswith(prefix), r["message"]
        assert closed_by_peer(s)
    # the frame after the bad one was not processed
    assert agentd.host("after") is None


def test_max_size_frame_accepted(agentd):
    msg = registration("big")
    base = len(json.dumps(dict(msg, pad="")).encode())
    msg["pad"] = "x" * (65536 - base)
    data = json.dumps(msg).encode()
    assert len(data) == 65536
    with agentd.connect() as s:
        s.sendall(frame(data))
        assert recv_frame(s)["status"] == "success"


def test_reference_client_sends_and_closes(agentd):
    """One frame, then close without reading: the registration still counts."""
    s = agentd.connect()
    s.sendall(frame(registration("fireandforget")))
    s.close()
    wait_for(lambda: agentd.host("fireandforget"), what="host stored")


def test_half_close_still_answered(agentd):
    with agentd.connect() as s:
        s.sendall(frame(registration("half1")) + frame(registration("half2")))
        s.shutdown(socket.SHUT_WR)
        assert recv_frame(s)["hostname"] == "half1"
        assert recv_frame(s)["hostname"] == "half2"
        assert closed_by_peer(s)


def configured(prismd_factory, server_extra, pdns=None):
    d = prismd_factory(pdns, start=False)
    text = open(d.config).read().replace('host: "127.0.0.1"',
                                         'host: "127.0.0.1"\n' + server_extra)
    open(d.config, "w").write(text)
    return d.start()


def test_idle_timeout(prismd_factory):
    d = configured(prismd_factory, "  idle_timeout: 1\n  frame_timeout: 30")
    with d.connect() as s:
        t0 = time.monotonic()
        r = recv_frame(s, timeout=10)
        assert r["message"] == "Connection timeout"
        assert 0.5 < time.monotonic() - t0 < 5
        assert closed_by_peer(s)


def test_frame_deadline_beats_trickling(prismd_factory):
    """A client trickling one byte at a time never goes idle, but must finish its frame."""
    d = configured(prismd_factory, "  idle_timeout: 30\n  frame_timeout: 1")
    data = frame(registration("slow"))
    with d.connect() as s:
        t0 = time.monotonic()
        got = None
        for b in data[:-1]:
            if time.monotonic() - t0 > 10:
                break
            s.send(bytes([b]))
            s.settimeout(0.2)
            try:
                got = recv_frame(s, timeout=0.2)
                break
            except socket.timeout:
                continue
        assert got is not None and got["message"] == "Connection timeout"
        assert time.monotonic() - t0 < 5
    assert d.host("slow") is None


def test_capacity(prismd_factory):
    d = configured(prismd_factory, "  max_connections: 2")
    held = []

    def take_slot(name):
        # the readiness probe's connection may take a moment to be released
        s = d.connect()
        s.sendall(frame(registration(name)))
        if recv_frame(s)["status"] == "success":
            held.append(s)
            return True
        s.close()
        return False
    try:
        wait_for(lambda: take_slot("cap-a"), what="first slot")
        wait_for(lambda: take_slot("cap-b"), what="second slot")
        a, b = held
        with d.connect() as c:
            r = recv_frame(c)
            assert r["status"] == "error"
            assert r["message"] == "Server at capacity"
            assert closed_by_peer(c)
    finally:
        for s in held:
            s.close()
    # slots free again once they closed
    wait_for(lambda: d.register("cap-c")["status"] == "success", what="slot freed")


def test_ipv6_peer_gets_aaaa(prismd_factory, pdns):
    d = prismd_factory(pdns, start=False)
    text = open(d.config).read().replace('host: "127.0.0.1"', 'host: "::"')
    open(d.config, "w").write(text)
    d.start()
    try:
        s = socket.create_connection(("::1", d.port), timeout=5)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with s:
        s.sendall(frame(registration("six")))
        r = recv_frame(s)
    assert r["message"] == "New host registered with IP ::1"
    wait_for(lambda: pdns.query("six.managed.prism.local.", "AAAA") == ["::1"],
             what="AAAA record")
    # an IPv4 peer on the dual-stack socket counts as IPv4 (IPv4-mapped)
    r = d.register("four")
    assert r["message"] == "New host registered with IP 127.0.0.1"
