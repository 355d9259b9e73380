# SPDX-License-Identifier: MIT
"""Helpers for Prism's integration tests and benchmarks: start a real PowerDNS and the built
prismd on free loopback ports, speak the agent protocol, query DNS."""
import atexit
import json
import os
import pwd
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time
from datetime import datetime, timezone

import dns.message
import dns.query
import dns.rdatatype
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PRISM_BUILD_DIR", os.path.join(ROOT, "build"))
PRISMD = os.path.join(BUILD, "src", "daemon", "prismd")
PRISM = os.path.join(BUILD, "src", "cli", "prism")
PDNS_SCHEMA = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value; raise after timeout (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def _bindable(family, kind, addr, port, v6only=True):
    s = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_handed_out = set()  # every port free_port() gave in this process: never the same one twice


def _port_slice():
    """This process's share of the test port range: [first, last].

    Below the kernel's ephemeral range (an outgoing connection of any other process can take
    an ephemeral port between a check and the bind of the server that gets it) and from 20000
    up (scripts/run.sh, run by a test, scans up from 15353 and 18080). Under pytest-xdist each
    worker (PYTEST_XDIST_WORKER gwN of PYTEST_XDIST_WORKER_COUNT) gets a disjoint slice, so
    two workers never pick the same port between check and bind."""
    lo, _ = _ephemeral_range()
    first, last = (20000, lo - 1) if lo > 22000 else (lo // 2, lo - 1)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if worker.startswith("gw") and worker[2:].isdigit() and count > 1:
        n = int(worker[2:]) % count
        size = (last - first + 1) // count
        first, last = first + n * size, first + (n + 1) * size - 1
    return first, last


def free_port(udp_too=False):
    """A port free for TCP on every address, IPv4 and IPv6 (tests may listen on "::"), and for
    UDP on 127.0.0.1 when asked, from this process's slice of the test range (_port_slice)."""
    first, last = _port_slice()
    for _ in range(200):
        port = random.randint(first, last)
        if port in _handed_out:
            continue  # e.g. a tcp_port and an api_port picked before either server binds
        if socket.has_ipv6:
            if not _bindable(socket.AF_INET6, socket.SOCK_STREAM, "::", port, v6only=False):
                continue
        elif not _bindable(socket.AF_INET, socket.SOCK_STREAM, "0.0.0.0", port):
            continue
        if udp_too and not _bindable(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1", port):
            continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port")


def stop_pid(proc, timeout=10.0):
    """SIGTERM, wait, then SIGKILL. Returns the exit code."""
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(5)


def dns_answers(port, name, rdtype="A", tcp=False):
    """Contents (sorted) answering name/rdtype at 127.0.0.1:port; [] when none."""
    q = dns.message.make_query(name, rdtype)
    if tcp:
        r = dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
    else:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    out = []
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            out += [rd.to_text() for rd in rrset]
    return sorted(out)


_template_db = None  # this process's empty PowerDNS database, made once


def _pdns_template_db():
    """An empty gsqlite3 database with PowerDNS's schema, made once per process and copied for
    each server: making it costs 0.2-0.4 s (sqlite3 syncs each statement), a copy ~1 ms."""
    global _template_db
    if _template_db is None or not os.path.exists(_template_db):
        d = tempfile.mkdtemp(prefix="prism-pdns-schema-")
        path = os.path.join(d, "pdns.sqlite3")
        with open(PDNS_SCHEMA) as schema:
            subprocess.run(["sqlite3", path], stdin=schema, check=True)
        atexit.register(shutil.rmtree, d, True)
        _template_db = path
    return _template_db


class PowerDNS:
    """A private pdns_server (gsqlite3) with its API and DNS on loopback high ports."""

    def __init__(self, key="prism-test-key", extra_conf=""):
        # pdns runs as its own user: the directory must be reachable (mkdtemp gives 0700)
        self.dir = tempfile.mkdtemp(prefix="prism-pdns-")
        os.chmod(self.dir, 0o755)
        self.key = key
        self.extra_conf = extra_conf  # more pdns.conf lines (e.g. DNSSEC, primary)
        self.dns_port = free_port(udp_too=True)
        self.api_port = free_port()
        self.proc = None
        self.db = os.path.join(self.dir, "pdns.sqlite3")
        shutil.copyfile(_pdns_template_db(), self.db)

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.api_port}/api/v1"

    def start(self):
        conf = f"""launch=gsqlite3
gsqlite3-database={self.db}
gsqlite3-pragma-synchronous=0
local-address=127.0.0.1
local-port={self.dns_port}
daemon=no
guardian=no
write-pid=no
socket-dir={self.dir}
disable-syslog=yes
security-poll-suffix=
default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 3600
default-api-rectify=no
webserver=yes
api=yes
api-key={self.key}
webserver-address=127.0.0.1
webserver-port={self.api_port}
webserver-allow-from=127.0.0.0/8,::1
webserver-max-bodysize=64
{self.extra_conf}"""
        with open(os.path.join(self.dir, "pdns.conf"), "w") as f:
            f.write(conf)
        cmd = ["pdns_server", f"--config-dir={self.dir}"]
        if os.getuid() == 0:
            pw = pwd.getpwnam("pdns")
            for dirpath, _, files in os.walk(self.dir):
                os.chown(dirpath, pw.pw_uid, pw.pw_gid)
                for fn in files:
                    os.chown(os.path.join(dirpath, fn), pw.pw_uid, pw.pw_gid)
            cmd = ["setpriv", "--reuid=pdns", "--regid=pdns", "--clear-groups"] + cmd
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("pdns_server exited: " + self.read_log())
            try:
                r = requests.get(f"{self.api_url}/servers/localhost",
                                 headers={"X-API-Key": self.key}, timeout=1)
                return r.status_code == 200
            except requests.RequestException:
                return False
        wait_for(ready, 15, what="PowerDNS API")
        return self

    def read_log(self):
        with open(os.path.join(self.dir, "log"), errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc)
            self.proc = None
            self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, method, path, **kw):
        # gsqlite3 answers a write racing prismd's own with a 500 ("database is locked",
        # and others seen under the sanitizer build): a test's own write is tried again for
        # up to 5 s, as prismd itself does (every write here is one that may be repeated)
        for _ in range(50):
            r = requests.request(method, f"{self.api_url}/servers/localhost{path}",
                                 headers={"X-API-Key": self.key}, timeout=5, **kw)
            if method == "GET" or r.status_code != 500:
                return r
            time.sleep(0.1)
        return r

    def query(self, name, rdtype="A"):
        """Addresses (sorted) answering name/rdtype at the DNS port; [] when none."""
        return dns_answers(self.dns_port, name, rdtype)

    def rrset(self, zone, name, rdtype):
        """The RRset as the API shows it (with comments), or None."""
        r = self.api("GET", f"/zones/{zone}")
        if r.status_code != 200:
            return None
        for rr in r.json().get("rrsets", []):
            if rr["name"] == name and rr["type"] == rdtype:
                return rr
        return None


def frame(obj):
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack(">I", len(data)) + data


def registration(hostname, token=None, **extra):
    msg = {"version": "1.0", "type": "registration",
           "timestamp": datetime.now(timezone.utc).isoformat(), "hostname": hostname}
    if token is not None:
        msg["auth_token"] = token
    msg.update(extra)
    return msg


def recv_frame(sock, timeout=10.0):
    """Read one response frame; None when the peer closed first."""
    sock.settimeout(timeout)
    hdr = _recv_exact(sock, 4)
    if hdr is None:
        return None
    (n,) = struct.unpack(">I", hdr)
    body = _recv_exact(sock, n)
    return json.loads(body)


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class Prismd:
    """The built prismd with a config of its own in a test directory."""

    running = []  # every started instance not yet stopped: conftest shows their logs on a failure

    def __init__(self, workdir, pdns=None, extra_yaml="", env=None, synchronous="normal",
                 auth_yaml="auth:\n  required: false\n"):
        self.dir = str(workdir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.api_port = free_port()
        self.db = os.path.join(self.dir, "prism.db")
        self.log_path = os.path.join(self.dir, "prismd.log")
        self.config = os.path.join(self.dir, "server.yaml")
        self.pdns = pdns
        self.env = dict(os.environ)
        self.env.update(env or {})
        pd = ""
        if pdns is not None:
            pd = f"""powerdns:
  enabled: true
  api_url: "{pdns.api_url}"
  api_key: "{pdns.key}"
  default_zone: "managed.prism.local."
  default_ttl: 60
  timeout: 2
  retry_delay: 0.2
"""
        with open(self.config, "w") as f:
            f.write(f"""server:
  host: "127.0.0.1"
  tcp_port: {self.port}
  api_port: {self.api_port}
database:
  path: "{self.db}"
  synchronous: {synchronous}
logging:
  level: debug
{pd}{auth_yaml}{extra_yaml}""")
        self.proc = None
        self.expect_dead = False

    def start(self, wait=True):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([PRISMD, "--config", self.config], stdout=self.logf,
                                     stderr=subprocess.STDOUT, env=self.env)
        if self not in Prismd.running:
            Prismd.running.append(self)
        if wait:
            def ready():
                if self.proc.poll() is not None:
                    raise RuntimeError("prismd exited during start:\n" + self.read_log())
                # the API port opens last, after the agent port and the Kea sources
                try:
                    # the agent port opens first, the API port last: wait for both
                    for port in (self.port, self.api_port):
                        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    return True
                except OSError:
                    return False
            wait_for(ready, 20, what="prismd agent and API ports")
        return self

    def read_log(self):
        if not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        """Stop with SIGTERM; returns the exit code."""
        if self.proc is None:
            return 0
        rc = stop_pid(self.proc, 20)
        self.proc = None
        self.logf.close()
        if self in Prismd.running:
            Prismd.running.remove(self)
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        if self in Prismd.running:
            Prismd.running.remove(self)
        self.logf.close()

    def connect(self, source=None):
        s = socket.socket()
        if source:
            s.bind((source, 0))
        s.connect(("127.0.0.1", self.port))
        return s

    def register(self, hostname, source=None, token=None, **extra):
        with self.connect(source) as s:
            s.sendall(frame(registration(hostname, token, **extra)))
            return recv_frame(s)

    def db_query(self, sql, args=()):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def db_exec(self, sql, args=()):
        """Write to the registry behind prismd's back (tests only), committed."""
        con = sqlite3.connect(self.db, timeout=10)
        try:
            with con:
                con.execute(sql, args)
        finally:
            con.close()

    def host(self, hostname):
        con = sqlite3.connect(self.db, timeout=10)
        con.row_factory = sqlite3.Row
        try:
            row = con.execute("SELECT * FROM hosts WHERE hostname = ?", (hostname,)).fetchone()
            return dict(row) if row else None
        finally:
            con.close()

    def sanitizer_report(self):
        log = self.read_log()
        return [m for m in SANITIZER_MARKS if m in log]
