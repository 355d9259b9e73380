# SPDX-License-Identifier: MIT
"""prism agent: the host-side daemon, against the built prismd and against a scripted fake
server (for the answers prismd cannot be made to give on demand)."""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from datetime import datetime

import pytest

from prismlib import PRISM, PRISMD, SANITIZER_MARKS, free_port, stop_pid, wait_for

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z (\w+) agent: (.*)$")


class Agent:
    """One `prism agent` process; its log (standard error) goes to a file."""

    def __init__(self, workdir, args, env=None, name="agent"):
        self.log_path = os.path.join(str(workdir), f"{name}.log")
        self.logf = open(self.log_path, "ab")
        full_env = dict(os.environ)
        full_env.pop("PRISM_AUTH_TOKEN", None)
        full_env.pop("NOTIFY_SOCKET", None)
        full_env.update(env or {})
        self.proc = subprocess.Popen([PRISM, "agent", *args], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=full_env)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def lines(self, level=None, contains=""):
        """[(time, level, text)] of the log lines, optionally filtered."""
        out = []
        for line in self.log().splitlines():
            m = STAMP.match(line)
            if m and (level is None or m.group(2) == level) and contains in m.group(3):
                t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").timestamp()
                out.append((t, m.group(2), m.group(3)))
        return out

    def wait_exit(self, timeout=15):
        return self.proc.wait(timeout)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def agents(tmp_path):
    started = []

    def make(args, env=None, name=None):
        a = Agent(tmp_path, args, env, name or f"agent{len(started)}")
        started.append(a)
        return a
    yield make
    problems = []
    for a in started:
        stop_pid(a.proc)
        a.logf.close()
        found = [m for m in SANITIZER_MARKS if m in a.log()]
        if found:
            problems.append(f"sanitizer report in {a.log_path}: {found}\n{a.log()[-4000:]}")
    if problems:
        pytest.fail("; ".join(problems))


def run_agent(args, env=None, timeout=30):
    full_env = dict(os.environ)
    full_env.pop("PRISM_AUTH_TOKEN", None)
    full_env.update(env or {})
    r = subprocess.run([PRISM, "agent", *args], capture_output=True, text=True,
                       timeout=timeout, env=full_env)
    found = [m for m in SANITIZER_MARKS if m in r.stderr]
    assert not found, f"sanitizer report from prism agent {args}:\n{r.stderr[-4000:]}"
    return r


def sanitize(name):
    """The reference client's rules, as documented in docs/agent.md."""
    labels = []
    for raw in name.lower().replace("_", "-").split("."):
        label = re.sub(r"[^a-z0-9-]", "", raw).strip("-")[:63].rstrip("-")
        if label:
            labels.append(label)
    out = ""
    for label in labels:
        cand = label if not out else out + "." + label
        if len(cand) > 253:
            break
        out = cand
    return out


def ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def prismd_accepts_auth_section():
    if not os.access(PRISMD, os.X_OK):
        return False
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "server.yaml")
        with open(cfg, "w") as f:
            f.write(f'database:\n  path: "{d}/x.db"\nauth:\n  required: true\n')
        r = subprocess.run([PRISMD, "--check-config", "-c", cfg], capture_output=True,
                           timeout=30)
        return r.returncode == 0


AUTH_SUPPORTED = prismd_accepts_auth_section()


def open_prismd(prismd_factory, start=True, auth_required=False):
    """A prismd without PowerDNS. Agents here register without a token unless the test asks
    for auth: when this prismd knows the auth section, it is set explicitly either way (a new
    install requires tokens by default)."""
    d = prismd_factory(None, start=False)
    if AUTH_SUPPORTED:
        with open(d.config) as f:
            text = f.read()
        want = "true" if auth_required else "false"
        text, n = re.subn(r"^(auth:\n(?:[ \t].*\n)*?[ \t]+required:[ \t]*)\S+",
                          r"\g<1>" + want, text, flags=re.M)
        if n == 0 and re.search(r"^auth:[ \t]*$", text, re.M):
            text = re.sub(r"^auth:[ \t]*$", f"auth:\n  required: {want}", text, count=1,
                          flags=re.M)
        elif n == 0:
            text += f"auth:\n  required: {want}\n"
        with open(d.config, "w") as f:
            f.write(text)
    if start:
        d.start()
    return d


class FakeServer:
    """Answers each connection's first frame with answer(request) (bytes: a whole frame, or
    None to stay silent) and records the requests. Listens on one loopback address."""

    def __init__(self, answer, family=socket.AF_INET, port=0):
        self.answer = answer
        self.requests = []
        self.times = []
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    hdr = self._exact(conn, 4)
                    body = self._exact(conn, struct.unpack(">I", hdr)[0])
                except (OSError, ValueError, struct.error):
                    continue
                req = json.loads(body)
                self.requests.append(req)
                self.times.append(time.monotonic())
                reply = self.answer(req)
                if reply is None:
                    self.done.wait(3)  # silent: let the client time out
                    continue
                try:
                    conn.sendall(reply)
                except OSError:
                    pass

    @staticmethod
    def _exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise ValueError("closed")
            buf += chunk
        return buf

    def close(self):
        self.done.set()
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def fake_server():
    servers = []

    def make(answer, **kw):
        s = FakeServer(answer, **kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def response(status, message):
    body = json.dumps({"version": "1.0", "type": "response", "status": status,
                       "message": message, "timestamp": "2025-01-01T00:00:00+00:00"}).encode()
    return struct.pack(">I", len(body)) + body


# ---- against prismd ----


def test_registers_at_start_not_after_an_interval(prismd_factory, agents):
    d = open_prismd(prismd_factory)
    t0 = time.monotonic()
    a = agents(["--server", f"127.0.0.1:{d.port}", "--hostname", "early1",
                "--interval", "3600"])
    host = wait_for(lambda: d.host("early1"), 10, what="registration at start")
    assert time.monotonic() - t0 < 10
    assert host["current_ip"] == "127.0.0.1" and host["status"] == "online"
    wait_for(lambda: a.lines("info", "New host registered with IP 127.0.0.1"), 5,
             what="info line for the new host")
    assert a.lines("info", "starting: registering 'early1' with prismd at 127.0.0.1:")
    assert a.proc.poll() is None
    assert a.stop() == 0
    assert a.lines("info", "stopping (SIGTERM)")


@pytest.mark.serial  # asserts each heartbeat gap within 0.8-1.6 s
def test_heartbeats_every_interval_without_drift(prismd_factory, agents):
    d = open_prismd(prismd_factory)
    a = agents(["-s", f"127.0.0.1:{d.port}", "-n", "beat1", "-i", "1", "-l", "debug"])
    first = wait_for(lambda: d.host("beat1"), 10, what="first registration")
    wait_for(lambda: len(a.lines("debug", "Heartbeat updated")) >= 4, 15,
             what="four heartbeats")
    later = d.host("beat1")
    assert later["last_seen"] > first["last_seen"]
    # one attempt per second, measured from the start of the previous one
    starts = [t for t, _, _ in a.lines("debug", "registering 'beat1' with")]
    gaps = [b - a_ for a_, b in zip(starts, starts[1:])]
    assert len(gaps) >= 4
    assert all(0.8 <= g <= 1.6 for g in gaps), gaps
    span = starts[-1] - starts[0]
    assert abs(span - len(gaps)) < 0.25 * len(gaps) + 0.2, (span, gaps)
    # routine heartbeats stay at debug; the first answer was at info
    assert not a.lines("info", "Heartbeat updated")
    assert a.stop(signal.SIGINT) == 0
    assert a.lines("info", "stopping (SIGINT)")


def test_reference_config_file_and_flag_overrides(prismd_factory, agents, tmp_path):
    d = open_prismd(prismd_factory)
    logfile = tmp_path / "client.log"
    cfg = tmp_path / "client.yaml"
    cfg.write_text(f"""# the reference client's file, unchanged
server:
  host: "127.0.0.1"
  port: {d.port}
  timeout: 10
heartbeat:
  interval: 1
logging:
  level: DEBUG
  file: "{logfile}"
""")
    a = agents(["--config", str(cfg), "--hostname", "cfg1"])
    wait_for(lambda: d.host("cfg1"), 10, what="registration from the config file")
    wait_for(lambda: logfile.exists() and logfile.read_text().count("Heartbeat updated") >= 2,
             10, what="heartbeats at debug in logging.file")
    assert a.stop() == 0
    assert "agent: registered 'cfg1'" in logfile.read_text()

    # flags override the file: the file's server is dead, --server has the address; a
    # --server without a port takes server.port from the file
    dead = free_port()
    cfg.write_text(f'server:\n  host: "127.0.0.9"\n  port: {dead}\n')
    r = run_agent(["-c", str(cfg), "-s", f"127.0.0.1:{d.port}", "-n", "cfg2", "--once"])
    assert r.returncode == 0, r.stderr
    assert d.host("cfg2") is not None
    cfg.write_text(f'server:\n  host: "127.0.0.9"\n  port: {d.port}\n')
    r = run_agent(["-c", str(cfg), "-s", "127.0.0.1", "-n", "cfg3", "--once"])
    assert r.returncode == 0, r.stderr
    assert "registered 'cfg3' with 127.0.0.1:%d" % d.port in r.stderr
    # the environment overrides the file too
    r = run_agent(["-c", str(cfg), "-n", "cfg4", "--once"],
                  env={"PRISM_AGENT_SERVER_HOST": "127.0.0.1"})
    assert r.returncode == 0, r.stderr


def test_config_errors_name_key_and_line(tmp_path):
    cfg = tmp_path / "client.yaml"
    cfg.write_text("server:\n  host: 127.0.0.1\n  hots: typo\n")
    r = run_agent(["-c", str(cfg), "--once"])
    assert r.returncode == 2
    assert "unknown key 'server.hots' (line 3)" in r.stderr
    cfg.write_text("server:\n  port: 99999\n")
    r = run_agent(["-c", str(cfg), "--once"])
    assert r.returncode == 2
    assert "server.port: must be an integer between 1 and 65535 (line 2)" in r.stderr
    cfg.write_text("heartbeat:\n  interval: 30\n")
    r = run_agent(["-c", str(cfg), "--once"])
    assert r.returncode == 2 and "no server" in r.stderr
    r = run_agent(["-c", str(tmp_path / "missing.yaml")])
    assert r.returncode == 2 and "missing.yaml" in r.stderr
    for bad in (["--server", "[::1"], ["--server", "h:0"], ["--interval", "0"],
                ["--timeout", "-1"], ["--log-level", "loud"], ["--bogus"],
                ["-s", "h", "--token", "a", "--token-file", "/x"], ["extra"]):
        r = run_agent(bad)
        assert r.returncode == 2, (bad, r.stderr)
    r = run_agent(["--help"])
    assert r.returncode == 0 and "--token-file" in r.stdout
    r = subprocess.run([PRISM, "--help"], capture_output=True, text=True, timeout=30)
    assert "agent" in r.stdout


def test_hostname_sanitised(prismd_factory):
    d = open_prismd(prismd_factory)
    server = f"127.0.0.1:{d.port}"
    r = run_agent(["-s", server, "--hostname", "My_Host!", "--once"])
    assert r.returncode == 0, r.stderr
    assert "hostname 'My_Host!' sanitised to 'my-host'" in r.stderr
    assert d.host("my-host") is not None
    r = run_agent(["-s", server, "--hostname", "!!!", "--once"])
    assert r.returncode == 2 and "no valid hostname characters" in r.stderr
    # no --hostname: this machine's name, sanitised
    want = sanitize(socket.gethostname())
    r = run_agent(["-s", server, "--once"])
    assert r.returncode == 0, r.stderr
    if want:
        assert d.host(want) is not None, (want, r.stderr)
    else:
        assert "has no valid hostname characters" in r.stderr


def test_once_exit_codes(prismd_factory):
    d = open_prismd(prismd_factory)
    r = run_agent(["-s", f"127.0.0.1:{d.port}", "-n", "once1", "--once"])
    assert r.returncode == 0, r.stderr
    assert "New host registered with IP 127.0.0.1" in r.stderr
    r = run_agent(["-s", f"127.0.0.1:{d.port}", "-n", "once1", "--once"])
    assert r.returncode == 0 and "Heartbeat updated" in r.stderr
    t0 = time.monotonic()
    r = run_agent(["-s", f"127.0.0.1:{free_port()}", "-n", "once2", "--once"])
    assert r.returncode == 5
    assert "cannot reach prismd" in r.stderr and "connection refused" in r.stderr
    assert time.monotonic() - t0 < 5  # --once does not retry
    r = run_agent(["-s", "host.invalid:8080", "-n", "once3", "--once"])
    assert r.returncode == 5 and "cannot resolve host.invalid" in r.stderr


def test_backoff_then_recovery(prismd_factory, agents):
    port = free_port()
    d = open_prismd(prismd_factory, start=False)
    text = open(d.config).read().replace(f"tcp_port: {d.port}", f"tcp_port: {port}")
    open(d.config, "w").write(text)
    d.port = port
    a = agents(["-s", f"127.0.0.1:{port}", "-n", "phoenix", "-i", "4", "-l", "debug"])
    wait_for(lambda: len(a.lines(None, "cannot reach prismd")) >= 3, 15,
             what="three failed attempts")
    assert a.proc.poll() is None, a.log()
    fails = a.lines(None, "cannot reach prismd")
    # the first failure is a warning, repeats are debug
    assert fails[0][1] == "warning" and all(f[1] == "debug" for f in fails[1:])
    assert "connection refused" in fails[0][2]
    delays = [float(re.search(r"retrying in ([\d.]+) s", f[2]).group(1)) for f in fails]
    # 1 s doubling with up to 20 % jitter below, capped at the interval (4 s)
    assert 0.7 <= delays[0] <= 1.0 and 1.5 <= delays[1] <= 2.0, delays
    assert all(d_ <= 4.0 for d_ in delays)
    gaps = [b[0] - a_[0] for a_, b in zip(fails, fails[1:])]
    assert gaps[1] > gaps[0], gaps
    # the server comes up: the next retry registers, and the agent says so
    d.start()
    wait_for(lambda: d.host("phoenix"), 10, what="registration after recovery")
    wait_for(lambda: a.lines("info", "is reachable again"), 5, what="recovery info line")
    assert a.proc.poll() is None
    assert a.stop() == 0


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_server(prismd_factory):
    d = open_prismd(prismd_factory, start=False)
    text = open(d.config).read().replace('host: "127.0.0.1"', 'host: "::"')
    open(d.config, "w").write(text)
    d.start()
    r = run_agent(["-s", f"[::1]:{d.port}", "-n", "six1", "--once"])
    assert r.returncode == 0, r.stderr
    assert "New host registered with IP ::1" in r.stderr
    host = d.host("six1")
    assert host["current_ip"] == "::1"
    # a bare IPv6 address in the config file
    cfg = os.path.join(d.dir, "agent.yaml")
    with open(cfg, "w") as f:
        f.write(f'server:\n  host: "::1"\n  port: {d.port}\n')
    r = run_agent(["-c", cfg, "-n", "six2", "--once"])
    assert r.returncode == 0, r.stderr


def test_tries_each_address(fake_server):
    """A name with an IPv4 and an IPv6 address: the one that refuses is skipped."""
    try:
        infos = socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    except OSError:
        pytest.skip("localhost does not resolve")
    families = [i[0] for i in infos]
    if socket.AF_INET not in families or socket.AF_INET6 not in families or \
            not ipv6_loopback():
        pytest.skip("localhost has not both an IPv4 and an IPv6 address")
    # listen on the family tried last only
    srv = fake_server(lambda req: response("success", "New host registered with IP x"),
                      family=families[-1])
    r = run_agent(["-s", f"localhost:{srv.port}", "-n", "both", "--once", "-l", "debug"])
    assert r.returncode == 0, r.stderr
    assert "connection refused" in r.stderr or "cannot connect" in r.stderr


def test_sd_notify_ready(prismd_factory, agents):
    d = open_prismd(prismd_factory)
    sockdir = tempfile.mkdtemp(prefix="prism-notify-")
    path = os.path.join(sockdir, "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.bind(path)
        s.settimeout(10)
        a = agents(["-s", f"127.0.0.1:{d.port}", "-n", "notified", "-i", "60"],
                   env={"NOTIFY_SOCKET": path})
        msgs = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("STATUS=registered" in m for m in msgs):
            msgs.append(s.recv(4096).decode())
        assert msgs[0].startswith("READY=1"), msgs
        assert any("STATUS=registered 'notified'" in m for m in msgs), msgs
        assert a.stop() == 0
        assert "STOPPING=1" in s.recv(4096).decode()
    finally:
        s.close()
        os.unlink(path)
        os.rmdir(sockdir)


# ---- answers, through a scripted server ----


def test_request_frame_and_token_sources(fake_server, tmp_path):
    srv = fake_server(lambda req: response("success", "New host registered with IP 127.0.0.1"))
    server = f"127.0.0.1:{srv.port}"
    r = run_agent(["-s", server, "-n", "tok1", "--once"])
    assert r.returncode == 0, r.stderr
    req = srv.requests[-1]
    assert req["version"] == "1.0" and req["type"] == "registration"
    assert req["hostname"] == "tok1" and "auth_token" not in req
    datetime.fromisoformat(req["timestamp"])
    assert req["timestamp"].endswith("+00:00")

    secret = "s3cret-token-value"
    tf = tmp_path / "token"
    tf.write_text(secret + "\n")
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f'server:\n  host: 127.0.0.1\n  port: {srv.port}\n'
                   f'  auth_token: "from-config"\n')
    cases = [
        (["-s", server, "--token", secret], {}),
        (["-s", server, "--token-file", str(tf)], {}),
        (["-s", server], {"PRISM_AUTH_TOKEN": secret}),
        (["-c", str(cfg), "--token-file", str(tf)], {}),  # the flag beats the file
    ]
    for args, env in cases:
        r = run_agent(args + ["-n", "tok2", "--once", "-l", "debug"], env=env)
        assert r.returncode == 0, (args, r.stderr)
        assert srv.requests[-1]["auth_token"] == secret, args
        assert secret not in r.stderr and secret not in r.stdout  # never logged
    r = run_agent(["-c", str(cfg), "-n", "tok3", "--once"], env={"PRISM_AUTH_TOKEN": "x"})
    assert r.returncode == 0 and srv.requests[-1]["auth_token"] == "from-config"
    tf.write_text("")
    r = run_agent(["-s", server, "-n", "tok4", "--token-file", str(tf), "--once"])
    assert r.returncode == 2 and "token file" in r.stderr


@pytest.mark.parametrize("message,code", [
    ("Invalid authentication token: token_not_found", 3),
    ("Authentication required. Please configure auth_token.", 3),
    ("Hostname 'fatal1' is registered to another client", 4),
    ("Invalid message: Invalid hostname: empty label", 2),
])
def test_error_answers_are_fatal(fake_server, agents, message, code):
    srv = fake_server(lambda req: response("error", message))
    a = agents(["-s", f"127.0.0.1:{srv.port}", "-n", "fatal1", "-i", "1"])
    assert a.wait_exit(15) == code, a.log()
    errors = a.lines("error")
    assert any(message in e[2] for e in errors), a.log()
    assert len(srv.requests) == 1  # no retry loop on a fatal answer
    if code == 3:
        assert any("token" in e[2] and ("auth_token" in e[2] or "expired" in e[2])
                   for e in errors), a.log()
    if code == 4:
        assert any("--hostname" in e[2] for e in errors), a.log()
    # --once gives the same status
    r = run_agent(["-s", f"127.0.0.1:{srv.port}", "-n", "fatal1", "--once"])
    assert r.returncode == code


def test_busy_and_silent_servers_are_retried(fake_server, agents):
    answers = iter([response("error", "Server at capacity"), b"\x00\x00\x00\x05hello"])

    def answer(req):
        return next(answers, response("success", "Heartbeat updated"))
    srv = fake_server(answer)
    a = agents(["-s", f"127.0.0.1:{srv.port}", "-n", "busy1", "-i", "2", "-l", "debug"])
    wait_for(lambda: a.lines(None, "registered 'busy1'"), 15, what="success after retries")
    log = a.log()
    assert "answered 'Server at capacity'" in log
    assert "is not a Prism response" in log
    assert a.lines("info", "is reachable again (after 2 failed attempts)")
    assert a.proc.poll() is None
    assert a.stop() == 0
    # a server that accepts and never answers: the timeout applies, --once gives 5
    silent = fake_server(lambda req: None)
    t0 = time.monotonic()
    r = run_agent(["-s", f"127.0.0.1:{silent.port}", "-n", "quiet", "--once",
                   "--timeout", "0.5"])
    assert r.returncode == 5
    assert "no answer from 127.0.0.1:%d within 0.5 s" % silent.port in r.stderr
    assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("message", [
    "Server error: registration could not be stored (registry full: no space left)",
    "Server error: registration could not be stored",
])
def test_server_errors_are_retried(fake_server, agents, message):
    """prismd's registry could not take the registration (its disk is full, say): the
    operator's problem, not the agent's, so the agent retries instead of exiting (found by
    the disk-full drill: the agent exited with status 2 and never came back)."""
    answers = iter([response("error", message)])

    def answer(req):
        return next(answers, response("success", "Heartbeat updated"))
    srv = fake_server(answer)
    a = agents(["-s", f"127.0.0.1:{srv.port}", "-n", "full1", "-i", "2", "-l", "debug"])
    wait_for(lambda: a.lines(None, "registered 'full1'"), 15, what="success after a retry")
    assert f"answered '{message}'" in a.log()
    assert a.proc.poll() is None
    assert len(srv.requests) >= 2
    assert a.stop() == 0
    # --once: the server could not take it now, like no answer (status 5), not a refusal
    srv2 = fake_server(lambda req: response("error", message))
    r = run_agent(["-s", f"127.0.0.1:{srv2.port}", "-n", "full2", "--once"])
    assert r.returncode == 5, r.stderr


def test_connect_timeout(agents):
    """A listener whose accept queue is full: the connect hangs until the deadline."""
    with socket.socket() as lsn:
        lsn.bind(("127.0.0.1", 0))
        lsn.listen(0)
        port = lsn.getsockname()[1]
        fill = []
        try:
            for _ in range(4):
                s = socket.socket()
                s.setblocking(False)
                try:
                    s.connect(("127.0.0.1", port))
                except BlockingIOError:
                    pass
                fill.append(s)
            t0 = time.monotonic()
            r = run_agent(["-s", f"127.0.0.1:{port}", "-n", "slow", "--once", "-w", "0.5"])
            assert r.returncode == 5, r.stderr
            # a kernel that still completes the handshake leaves us waiting for the answer
            assert ("timed out connecting to 127.0.0.1:%d after 0.5 s" % port in r.stderr or
                    "no answer from 127.0.0.1:%d within 0.5 s" % port in r.stderr), r.stderr
            assert time.monotonic() - t0 < 5
        finally:
            for s in fill:
                s.close()


@pytest.mark.skipif(not AUTH_SUPPORTED,
                    reason="this prismd has no token support (auth: section) yet")
def test_prismd_requires_a_token(prismd_factory, agents):
    d = open_prismd(prismd_factory, auth_required=True)
    a = agents(["-s", f"127.0.0.1:{d.port}", "-n", "needtok", "-i", "1"])
    assert a.wait_exit(15) == 3, a.log()
    assert a.lines("error", "requires a token"), a.log()
    r = run_agent(["-s", f"127.0.0.1:{d.port}", "-n", "needtok", "--once",
                   "--token", "not-a-real-token"])
    assert r.returncode == 3, r.stderr
    assert "Invalid authentication token" in r.stderr
    assert "not-a-real-token" not in r.stderr
    assert d.host("needtok") is None
