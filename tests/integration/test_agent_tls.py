# SPDX-License-Identifier: MIT
"""The TLS agent port with real OpenSSL on both sides: certificates made with the openssl
command line, Python's ssl module, `openssl s_client` and the built `prism` as clients."""
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest
import requests

from prismlib import PRISM, ROOT, frame, free_port, recv_frame, registration, stop_pid, wait_for
from test_docs import documented_answers
from tlslib import PKI, client_context, tls_connect, tls_register

ZONE = "managed.prism.local"


@pytest.fixture
def pki(tmp_path):
    p = PKI(tmp_path / "pki")
    p.server = p.issue("server", "localhost", dns=["localhost"], server=True)
    p.web1 = p.issue("web1", "web1", dns=[f"web1.{ZONE}"])
    p.cn_only = p.issue("cn-only", "Web2")
    return p


def tls_prismd(prismd_factory, pki, mode="required", pdns=None, server_extra="",
               auth="auth:\n  required: true\n", start=True):
    d = prismd_factory(pdns, start=False, auth_yaml=auth)
    d.tls_port = free_port()
    cert, key = pki.server
    tls = (f'  tls_port: {d.tls_port}\n  tls_cert: "{cert}"\n  tls_key: "{key}"\n'
           f'  tls_client_ca: "{pki.ca}"\n  tls_client_cert: {mode}\n{server_extra}')
    text = open(d.config).read().replace('host: "127.0.0.1"\n', 'host: "127.0.0.1"\n' + tls)
    text += "api:\n  public_metrics: true\n"
    open(d.config, "w").write(text)
    if start:
        d.start()
    return d


def tls_failures(d):
    """prism_agent_tls_failures_total by reason."""
    r = requests.get(f"http://127.0.0.1:{d.api_port}/metrics", timeout=5)
    out = {}
    for m in re.finditer(r'^prism_agent_tls_failures_total\{reason="(\w+)"\} (\S+)$', r.text,
                         re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def wait_failure(d, reason, at_least=1):
    wait_for(lambda: tls_failures(d).get(reason, 0) >= at_least, 10,
             what=f"prism_agent_tls_failures_total{{reason={reason}}}")
    assert re.search(rf"TLS connection from 127\.0\.0\.1 closed: {reason} ", d.read_log())


def refused(port, ctx, hostname="web1"):
    """The handshake or the first read fails (TLS 1.3 reports a client certificate refused
    by the server only when the client reads)."""
    try:
        r = tls_register(port, ctx, hostname)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True
    return r is None


def still_serving(d, pki):
    ctx = client_context(pki.ca, *pki.web1)
    assert tls_register(d.tls_port, ctx, "web1")["status"] == "success"
    assert d.register("plain-still-ok", token=None)["code"] == "auth_required"


def test_good_certificate_registers_its_name_and_resolves(prismd_factory, pdns, pki):
    d = tls_prismd(prismd_factory, pki, pdns=pdns)
    ctx = client_context(pki.ca, *pki.web1)
    r = tls_register(d.tls_port, ctx, "web1")  # the SAN carries the zone: allowed
    assert r["status"] == "success", r
    assert r["message"] == "New host registered with IP 127.0.0.1"
    wait_for(lambda: pdns.query(f"web1.{ZONE}.") == ["127.0.0.1"], 20,
             what="web1 in PowerDNS")
    # no SAN: the CN names the host, in any case; the hostname carries the zone this time
    r = tls_register(d.tls_port, client_context(pki.ca, *pki.cn_only), f"WEB2.{ZONE}")
    assert r["status"] == "success", r
    # TLS 1.2 works too
    ctx12 = client_context(pki.ca, *pki.web1, version=ssl.TLSVersion.TLSv1_2)
    assert tls_register(d.tls_port, ctx12, "web1")["message"] == "Heartbeat updated"


def test_other_name_refused(prismd_factory, pki):
    d = tls_prismd(prismd_factory, pki)
    with tls_connect(d.tls_port, client_context(pki.ca, *pki.web1)) as s:
        for name in ("web9", "db1", f"web1.other.example"):
            s.sendall(frame(registration(name)))
            r = recv_frame(s)
            assert r["status"] == "error" and r["code"] == "certificate_mismatch", r
            assert r["message"] == (f"Hostname '{name}' is not named by the client "
                                    f"certificate (web1.{ZONE})")
            # the answer is a row of docs/protocol.md, word for word
            doc = open(os.path.join(ROOT, "docs", "protocol.md"), encoding="utf-8").read()
            assert any(p.match(r["message"]) and code == r["code"]
                       for p, code in documented_answers(doc)), r
        # a message-level refusal: the connection stays open for the right name
        s.sendall(frame(registration("web1")))
        assert recv_frame(s)["status"] == "success"
    assert d.host("web9") is None and d.host("db1") is None


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TLS 1.1 is offered on purpose
def test_refused_peers_and_the_daemon_keeps_serving(prismd_factory, pki, tmp_path):
    d = tls_prismd(prismd_factory, pki)
    other = PKI(tmp_path / "other", name="other")
    stranger = other.issue("web1", "web1", dns=["web1"])
    expired = pki.issue("old", "web1", dns=["web1"], start="20200101000000Z",
                        end="20200201000000Z")
    # no certificate where one is required
    assert refused(d.tls_port, client_context(pki.ca))
    wait_failure(d, "no_client_cert")
    # a certificate from a CA prismd does not trust
    assert refused(d.tls_port, client_context(pki.ca, *stranger))
    wait_failure(d, "unknown_ca")
    # an expired certificate
    assert refused(d.tls_port, client_context(pki.ca, *expired))
    wait_failure(d, "expired")
    # plaintext: an agent frame straight to the TLS port is closed without an answer
    with socket.create_connection(("127.0.0.1", d.tls_port), timeout=10) as s:
        s.sendall(frame(registration("web1")))
        assert s.recv(100) == b""
    wait_failure(d, "not_tls")
    # TLS 1.1 is refused
    ctx11 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx11.check_hostname = False
    ctx11.verify_mode = ssl.CERT_NONE
    try:
        ctx11.minimum_version = ctx11.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx11.set_ciphers("ALL:@SECLEVEL=0")
        assert refused(d.tls_port, ctx11)
    except (ValueError, ssl.SSLError):
        pass  # this OpenSSL cannot even offer TLS 1.1
    still_serving(d, pki)
    assert d.host("web1")["status"] == "online"


@pytest.mark.serial  # a handshake flood, with deadlines measured
def test_stalled_handshake_and_handshake_flood(prismd_factory, pki):
    d = tls_prismd(prismd_factory, pki, server_extra="  frame_timeout: 1\n  idle_timeout: 30\n")
    # a ClientHello cut short: the handshake has frame_timeout to finish
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", d.tls_port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        assert s.recv(100) == b""
    assert time.monotonic() - t0 < 5
    wait_failure(d, "handshake_timeout")
    # a flood of silent connections: at most 256 handshakes wait at once, the rest are
    # closed at once; all of them are gone after frame_timeout
    socks = []
    try:
        for _ in range(320):
            socks.append(socket.create_connection(("127.0.0.1", d.tls_port), timeout=10))
            socks[-1].sendall(b"\x16")
        wait_for(lambda: tls_failures(d).get("handshake_limit", 0) >= 320 - 256, 10,
                 what="handshakes over the limit closed")
        wait_for(lambda: tls_failures(d).get("handshake_timeout", 0) >= 257, 15,
                 what="the waiting handshakes timed out")
    finally:
        for s in socks:
            s.close()
    still_serving(d, pki)


def test_renegotiation_refused(prismd_factory, pki):
    d = tls_prismd(prismd_factory, pki)
    cert, key = pki.web1
    p = subprocess.Popen(["openssl", "s_client", "-connect", f"127.0.0.1:{d.tls_port}",
                          "-tls1_2", "-CAfile", pki.ca, "-cert", cert, "-key", key,
                          "-servername", "localhost"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: tls_failures(d) is not None and
                 "handshakes_total 1" in requests.get(
                     f"http://127.0.0.1:{d.api_port}/metrics", timeout=5).text.replace(
                     "prism_agent_tls_", ""), 10, what="s_client connected")
        p.stdin.write(b"R\n")  # s_client: renegotiate
        p.stdin.flush()
        wait_failure(d, "renegotiation")
        p.wait(10)  # prismd closed the connection: s_client ends
    finally:
        if p.poll() is None:
            stop_pid(p)
    still_serving(d, pki)


def test_certificate_rotated_with_sighup_while_connected(prismd_factory, pki):
    d = tls_prismd(prismd_factory, pki, server_extra='  tls_client_crl: "CRL"\n', start=False)
    crl = pki.crl()
    text = open(d.config).read().replace('"CRL"', f'"{crl}"')
    open(d.config, "w").write(text)
    d.start()
    ctx = client_context(pki.ca, *pki.web1)

    def served_serial():
        with tls_connect(d.tls_port, ctx) as s:
            der = s.getpeercert(binary_form=True)
        out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"],
                             input=der, capture_output=True, check=True).stdout
        return out.decode().strip()

    before = served_serial()
    held = tls_connect(d.tls_port, ctx)
    held.sendall(frame(registration("web1")))
    assert recv_frame(held)["status"] == "success"
    try:
        # a new server certificate (same file names, as a renewal tool writes them)
        cert, key = pki.server
        new_cert, new_key = pki.issue("server-2", "localhost", dns=["localhost"], server=True)
        good = open(new_cert).read()
        os.replace(new_cert, cert)
        os.replace(new_key, key)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: served_serial() != before, 10, what="the new certificate served")
        # the connection opened before the reload goes on
        held.sendall(frame(registration("web1")))
        assert recv_frame(held)["message"] == "Heartbeat updated"
        # a bad certificate file is refused and the one in use kept
        rotated = served_serial()
        open(cert, "w").write("-----BEGIN CERTIFICATE-----\nnot base64\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "the certificate, key and CRL in use are kept" in d.read_log(), 10,
                 what="the bad file refused")
        assert served_serial() == rotated
        held.sendall(frame(registration("web1")))
        assert recv_frame(held)["message"] == "Heartbeat updated"
        # revocation: the CRL is re-read on SIGHUP too
        open(cert, "w").write(good)
        pki.revoke(pki.path("web1.pem"))
        pki.crl()
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: refused(d.tls_port, ctx), 10, what="the revoked certificate refused")
        wait_failure(d, "revoked")
    finally:
        held.close()


def test_certificate_and_token_combinations(prismd_factory, pki):
    """Optional client certificates with auth.required and a configured token."""
    auth = "auth:\n  required: true\n  tokens:\n    - name: fleet\n      token: tok-fleet-1\n"
    d = tls_prismd(prismd_factory, pki, mode="optional", auth=auth)
    with_cert = client_context(pki.ca, *pki.web1)
    no_cert = client_context(pki.ca)
    # certificate alone: stands in for the token
    assert tls_register(d.tls_port, with_cert, "web1")["status"] == "success"
    # certificate + token: both must hold
    r = tls_register(d.tls_port, with_cert, "web1", token="wrong")
    assert r["code"] == "invalid_token"
    # (web1 is bound to its certificate: the token cannot take it over)
    r = tls_register(d.tls_port, with_cert, "web1", token="tok-fleet-1")
    assert r["code"] == "hostname_owned"
    r = tls_register(d.tls_port, with_cert, "web7", token="tok-fleet-1")
    assert r["code"] == "certificate_mismatch"
    # no certificate (optional): a token as on the plain port
    assert tls_register(d.tls_port, no_cert, "db1", token="tok-fleet-1")["status"] == "success"
    assert tls_register(d.tls_port, no_cert, "db2")["code"] == "auth_required"
    # nor can a plain-port token take a certificate's name
    assert d.register("web1", token="tok-fleet-1")["code"] == "hostname_owned"


def test_plain_port_off(prismd_factory, pki):
    d = tls_prismd(prismd_factory, pki, start=False)
    text = open(d.config).read().replace(f"tcp_port: {d.port}", "tcp_port: 0")
    open(d.config, "w").write(text)
    d.start(wait=False)
    ctx = client_context(pki.ca, *pki.web1)
    wait_for(lambda: _try(lambda: tls_register(d.tls_port, ctx, "web1")), 20,
             what="the TLS port")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.port), timeout=2).close()


def _try(f):
    try:
        return f()
    except OSError:
        return None


def test_config_errors_and_env_overrides(prismd_factory, pki, tmp_path):
    d = tls_prismd(prismd_factory, pki, start=False)
    base = open(d.config).read()
    cases = [
        (base.replace("  tls_key:", "  #tls_key:"),
         "server.tls_key: required when server.tls_port is set"),
        (base.replace("  tls_client_ca:", "  #tls_client_ca:"),
         "server.tls_client_ca: required when server.tls_client_cert is optional or required"),
        (base.replace("tls_client_cert: required", "tls_client_cert: maybe"),
         "server.tls_client_cert: must be one of none, optional, required"),
        (base.replace(f"tcp_port: {d.port}", "tcp_port: 0").replace(
            f"tls_port: {d.tls_port}", "tls_port: 0"), "server.tcp_port: 0 turns"),
    ]
    from prismlib import PRISMD
    for text, msg in cases:
        open(d.config, "w").write(text)
        r = subprocess.run([PRISMD, "--config", d.config, "--check-config"], capture_output=True,
                           text=True, timeout=20)
        assert r.returncode != 0 and msg in r.stderr + r.stdout, (msg, r.stderr)
    # every key has its environment variable: a bad key file named there is refused at start
    open(d.config, "w").write(base)
    env = dict(os.environ, PRISM_SERVER_TLS_KEY=str(tmp_path / "missing.key"))
    r = subprocess.run([PRISMD, "--config", d.config], capture_output=True, text=True,
                       timeout=20, env=env)
    assert r.returncode != 0
    assert "server.tls_key: cannot load" in r.stderr + r.stdout


def run_prism(*args, timeout=30):
    return subprocess.run([PRISM, *args], capture_output=True, text=True, timeout=timeout)


def test_prism_register_over_tls(prismd_factory, pki, tmp_path):
    d = tls_prismd(prismd_factory, pki)
    cert, key = pki.web1
    server = f"localhost:{d.tls_port}"
    r = run_prism("register", "--server", server, "--ca", pki.ca, "--cert", cert, "--key",
                  key, "--hostname", "web1")
    assert r.returncode == 0 and r.stdout.startswith("success: New host registered"), r
    # the server's certificate is checked: by CA, and by name (it names localhost only)
    r = run_prism("register", "--server", server, "--tls", "--hostname", "web1")
    assert r.returncode == 3 and "certificate" in r.stderr, r
    r = run_prism("register", "--server", f"127.0.0.1:{d.tls_port}", "--ca", pki.ca,
                  "--cert", cert, "--key", key, "--hostname", "web1")
    assert r.returncode == 3 and "IP address mismatch" in r.stderr, r
    # TLS to the plain port fails cleanly
    r = run_prism("register", "--server", f"localhost:{d.port}", "--ca", pki.ca,
                  "--hostname", "web1")
    assert r.returncode == 3, r


def test_prism_agent_over_tls_heartbeats_and_reconnects(prismd_factory, pki, tmp_path):
    d = tls_prismd(prismd_factory, pki)
    cert, key = pki.web1
    conf = tmp_path / "agent.yaml"
    conf.write_text(f'server:\n  host: localhost\n  port: {d.tls_port}\n  tls: true\n'
                    f'  ca_file: "{pki.ca}"\n  cert_file: "{cert}"\n  key_file: "{key}"\n'
                    f'heartbeat:\n  interval: 1\nlogging:\n  level: debug\n')
    log = tmp_path / "agent.log"
    a = subprocess.Popen([PRISM, "agent", "--config", str(conf), "--hostname", "web1",
                          "--log-file", str(log)])
    try:
        def heartbeats():
            return open(log).read().count("Heartbeat updated") if log.exists() else 0
        wait_for(lambda: d.host("web1"), 10, what="the agent's registration")
        wait_for(lambda: heartbeats() >= 2, 10, what="heartbeats over TLS")
        # prismd restarts: the agent retries and comes back over TLS
        d.stop()
        time.sleep(1.5)
        d.start()
        n = heartbeats()
        wait_for(lambda: heartbeats() > n, 30, what="heartbeats after the restart")
        text = open(log).read()
        assert "cannot reach prismd" in text and "reachable again" in text
        assert "TLS with a client certificate" in text
        assert a.poll() is None
    finally:
        assert stop_pid(a) == 0


@pytest.mark.serial  # memory growth and a write deadline are measured
def test_tls_non_reader_is_bounded_and_closed(prismd_factory, pki):
    """The output bound and the write deadline hold for ciphertext too."""
    from drill import mem_kib
    d = tls_prismd(prismd_factory, pki, mode="none", auth="auth:\n  required: false\n",
                   server_extra="  idle_timeout: 3\n")
    base = mem_kib(d.proc.pid)[0]
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", d.tls_port))
    s = client_context(pki.ca).wrap_socket(raw, server_hostname="localhost")
    burst = frame(registration("-bad-")) * 600  # message errors: answered, kept open
    sent, t0 = 0, time.monotonic()
    s.settimeout(2)
    try:
        while time.monotonic() - t0 < 10 and sent < (60 << 20):
            s.sendall(burst)  # blocks, then times out once prismd stops reading
            sent += len(burst)
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    try:
        assert sent < (30 << 20), f"prismd kept reading ({sent} bytes) from a non-reader"
        assert mem_kib(d.proc.pid)[0] - base < 96 * 1024
        wait_for(lambda: "were not read within 3 s" in d.read_log(), 10, interval=0.1,
                 what="the blocked TLS connection closed")
    finally:
        raw.close()
    still = tls_register(d.tls_port, client_context(pki.ca), "after")
    assert still["status"] == "success"
