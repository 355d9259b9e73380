# SPDX-License-Identifier: MIT
"""Helpers for the Kea integration tests: NameChangeRequest datagrams, /metrics, a private
PostgreSQL cluster with Kea's schema, network namespaces with kea-dhcp4 and a real DHCP
client (udhcpc). Every server is started here on loopback or inside namespaces the test
creates, and stopped by its PID."""
import json
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

import requests

from prismlib import free_port, wait_for

PGBIN = "/usr/lib/postgresql/15/bin"
KEA_SCHEMA = "/usr/share/kea/scripts/pgsql/dhcpdb_create.pgsql"


def is_root():
    return os.geteuid() == 0


def have(cmd):
    return shutil.which(cmd) is not None


# ---- NameChangeRequests ----

def ncr(fqdn, ip, change=0, forward=True, reverse=True, dhcid="000101AABBCCDD",
        length=1200, conflict=True, expires="20300101000000", **extra):
    """One NameChangeRequest datagram as kea-dhcp4 sends it: 2-byte length + compact JSON."""
    msg = {"change-type": change, "forward-change": forward, "reverse-change": reverse,
           "fqdn": fqdn, "ip-address": ip, "dhcid": dhcid, "lease-expires-on": expires,
           "lease-length": length, "use-conflict-resolution": conflict}
    msg.update(extra)
    body = json.dumps(msg, separators=(",", ":")).encode()
    return struct.pack(">H", len(body)) + body


def send_udp(port, *datagrams, host="127.0.0.1"):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for d in datagrams:
            s.sendto(d, (host, port))
    finally:
        s.close()


# ---- /metrics ----

_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metrics(d):
    """prismd's /metrics (api.public_metrics must be on) as {(name, labels): value}; empty
    while the API port is not listening yet (prismd opens it after the agent port)."""
    try:
        r = requests.get(f"http://127.0.0.1:{d.api_port}/metrics", timeout=5)
    except requests.ConnectionError:
        return {}
    r.raise_for_status()
    out = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def wait_sources(d):
    """Wait until prismd serves /metrics: its API starts after the Kea sources, so their
    sockets are bound by then (prismlib's start only waits for the agent port)."""
    wait_for(lambda: metrics(d), 20, what="prismd's API (after the Kea sources)")
    return d


def metric(d, name, **labels):
    return metrics(d).get((name, frozenset(labels.items())), 0.0)


# ---- PostgreSQL ----

def _as_postgres():
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--"] \
        if is_root() else []


class Postgres:
    """A private PostgreSQL 15 cluster: data and socket in a temp dir, TCP on 127.0.0.1."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="prism-pg-")
        os.chmod(self.dir, 0o755)
        if is_root():
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.port = free_port()
        self.data = os.path.join(self.dir, "data")
        self.running = False

    def start(self):
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            subprocess.run(_as_postgres() + [f"{PGBIN}/initdb", "-D", self.data, "-U",
                                             "postgres", "-A", "trust", "-E", "UTF8",
                                             "--locale=C", "--no-sync"],
                           check=True, capture_output=True)
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                f"-c unix_socket_directories={self.dir} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50")
        subprocess.run(_as_postgres() + [f"{PGBIN}/pg_ctl", "-D", self.data, "-l",
                                         os.path.join(self.dir, "pg.log"), "-w", "-t", "30",
                                         "start", "-o", opts], check=True, capture_output=True)
        self.running = True
        wait_for(lambda: subprocess.run([f"{PGBIN}/pg_isready", "-h", "127.0.0.1", "-p",
                                         str(self.port), "-t", "1"],
                                        capture_output=True).returncode == 0,
                 20, what="PostgreSQL ready")
        return self

    @property
    def pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def stop(self, mode="fast"):
        if self.running:
            subprocess.run(_as_postgres() + [f"{PGBIN}/pg_ctl", "-D", self.data, "-m", mode,
                                             "-w", "-t", "30", "stop"], capture_output=True)
            self.running = False

    def cleanup(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, db="postgres", user="postgres", check=True):
        r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.port), "-U", user, "-d", db, "-c",
                            sql], capture_output=True, text=True, env=dict(os.environ,
                                                                           PGPASSWORD="kea"))
        if check and r.returncode != 0:
            raise RuntimeError(f"psql failed: {r.stderr}")
        return r.stdout.strip()

    def kea_db(self, name="kea"):
        """A database with Kea's own schema, created by kea-admin, owned by user kea."""
        self.psql("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'kea') "
                  "THEN CREATE USER kea PASSWORD 'kea'; END IF; END$$")
        self.psql(f"CREATE DATABASE {name} OWNER kea")
        subprocess.run(["kea-admin", "db-init", "pgsql", "-h", "127.0.0.1", "-P",
                        str(self.port), "-u", "kea", "-p", "kea", "-n", name],
                       check=True, capture_output=True)
        return name

    def conninfo(self, db="kea"):
        return f"host=127.0.0.1 port={self.port} dbname={db} user=kea"


def reservation_sql(hostname, ip, mac, subnet=1):
    """An INSERT of a Kea DHCPv4 host reservation (hw-address identifier)."""
    a = [int(x) for x in ip.split(".")]
    n = (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]
    return ("INSERT INTO hosts (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, "
            f"ipv4_address, hostname) VALUES (decode('{mac.replace(':', '')}', 'hex'), 0, "
            f"{subnet}, {n}, {sql_text(hostname)})")


def sql_text(v):
    return "NULL" if v is None else "'" + v.replace("'", "''") + "'"


def ip_int(ip):
    a = [int(x) for x in ip.split(".")]
    return (a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]


# ---- network namespaces, kea-dhcp4, udhcpc ----

class Netns:
    """Two namespaces joined by a veth pair (server 10.99.0.1/24, client side unaddressed),
    and a second veth pair from the server namespace to the root namespace
    (10.98.N.1 root side, 10.98.N.2 in the namespace) so that Kea reaches prismd."""

    def __init__(self):
        tag = f"{os.getpid() % 10000}{int(time.time() * 1000) % 100000}"
        self.srv, self.cli = f"pks{tag}", f"pkc{tag}"
        self.up_root, self.up_ns = f"pkr{tag}"[:15], f"pkn{tag}"[:15]
        n = os.getpid() % 250 + 1
        self.root_ip, self.ns_ip = f"10.98.{n}.1", f"10.98.{n}.2"
        self.created = []

    def ip(self, *args):
        subprocess.run(["ip"] + list(args), check=True, capture_output=True)

    def start(self):
        for ns in (self.srv, self.cli):
            self.ip("netns", "add", ns)
            self.created.append(ns)
        self.ip("link", "add", "vsrv", "netns", self.srv, "type", "veth", "peer", "name",
                "vcli", "netns", self.cli)
        self.ip("-n", self.srv, "link", "set", "lo", "up")
        self.ip("-n", self.srv, "addr", "add", "10.99.0.1/24", "dev", "vsrv")
        self.ip("-n", self.srv, "link", "set", "vsrv", "up")
        self.ip("-n", self.cli, "link", "set", "lo", "up")
        self.ip("-n", self.cli, "link", "set", "vcli", "up")
        self.ip("link", "add", self.up_root, "type", "veth", "peer", "name", "vup", "netns",
                self.srv)
        self.created.append("link")
        self.ip("addr", "add", f"{self.root_ip}/30", "dev", self.up_root)
        self.ip("link", "set", self.up_root, "up")
        self.ip("-n", self.srv, "addr", "add", f"{self.ns_ip}/30", "dev", "vup")
        self.ip("-n", self.srv, "link", "set", "vup", "up")
        return self

    def cleanup(self):
        if "link" in self.created:
            subprocess.run(["ip", "link", "del", self.up_root], capture_output=True)
        for ns in (self.cli, self.srv):
            if ns in self.created:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.created = []


def stop_proc(proc, timeout=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Kea:
    """kea-dhcp4 in the server namespace, its leases in a memfile, DDNS to prismd."""

    def __init__(self, netns, ncr_port=None, lease_file=None, valid_lifetime=3600,
                 extra=None):
        self.netns = netns
        self.dir = tempfile.mkdtemp(prefix="prism-kea-")
        os.chmod(self.dir, 0o755)
        self.lease_file = lease_file or os.path.join(self.dir, "kea-leases4.csv")
        self.ncr_port = ncr_port
        self.valid_lifetime = valid_lifetime
        self.extra = extra or {}
        self.proc = None

    def config(self):
        ddns = {"enable-updates": False}
        if self.ncr_port:
            ddns = {"enable-updates": True, "server-ip": self.netns.root_ip,
                    "server-port": self.ncr_port, "sender-ip": self.netns.ns_ip,
                    "sender-port": 0, "max-queue-size": 1024, "ncr-protocol": "UDP",
                    "ncr-format": "JSON"}
        d4 = {
            "interfaces-config": {"interfaces": ["vsrv"], "dhcp-socket-type": "raw"},
            "lease-database": {"type": "memfile", "persist": True, "name": self.lease_file,
                               "lfc-interval": 0},
            "control-socket": {"socket-type": "unix",
                               "socket-name": os.path.join(self.dir, "kea4-ctrl.sock")},
            "valid-lifetime": self.valid_lifetime, "renew-timer": 900, "rebind-timer": 1800,
            "dhcp-ddns": ddns,
            "ddns-send-updates": True, "ddns-qualifying-suffix": "lab.test.",
            "ddns-override-client-update": True, "ddns-replace-client-name": "when-not-present",
            "ddns-generated-prefix": "dyn",
            "subnet4": [{"id": 1, "subnet": "10.99.0.0/24",
                         "pools": [{"pool": "10.99.0.100 - 10.99.0.150"}],
                         "option-data": [{"name": "routers", "data": "10.99.0.1"}]}],
            "loggers": [{"name": "kea-dhcp4", "output_options": [{"output": "stdout"}],
                         "severity": "INFO"}],
        }
        d4.update(self.extra)
        return {"Dhcp4": d4}

    def start(self):
        conf = os.path.join(self.dir, "kea-dhcp4.conf")
        with open(conf, "w") as f:
            json.dump(self.config(), f, indent=1)
        env = dict(os.environ, KEA_PIDFILE_DIR=self.dir, KEA_LOCKFILE_DIR=self.dir)
        pw = pwd.getpwnam("_kea")
        for dirpath, _, files in os.walk(self.dir):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            for fn in files:
                os.chown(os.path.join(dirpath, fn), pw.pw_uid, pw.pw_gid)
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns.srv, "setpriv", "--reuid=_kea", "--regid=_kea",
             "--clear-groups", "--inh-caps=+net_raw,+net_bind_service",
             "--ambient-caps=+net_raw,+net_bind_service", "kea-dhcp4", "-c", conf],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: self._ready(), 20, what="kea-dhcp4 ready")
        return self

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("kea-dhcp4 exited: " + self.read_log())
        return "DHCP4_STARTED" in self.read_log()

    def read_log(self):
        with open(os.path.join(self.dir, "log"), errors="replace") as f:
            return f.read()

    def stop(self):
        stop_proc(self.proc)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc event script: configure the client interface, record the lease
case "$1" in
  deconfig) ip addr flush dev "$interface" ;;
  bound|renew) ip addr flush dev "$interface"; ip addr add "$ip/${mask:-24}" dev "$interface"
               echo "$1 $ip" >> "$(dirname "$0")/events" ;;
esac
exit 0
"""


class Udhcpc:
    """A real DHCP client (busybox udhcpc) in the client namespace, in the background."""

    def __init__(self, netns, hostname):
        self.netns = netns
        self.hostname = hostname
        self.dir = tempfile.mkdtemp(prefix="prism-udhcpc-")
        self.script = os.path.join(self.dir, "event.sh")
        with open(self.script, "w") as f:
            f.write(UDHCPC_SCRIPT)
        os.chmod(self.script, 0o755)
        self.proc = None

    def events(self):
        try:
            with open(os.path.join(self.dir, "events")) as f:
                return f.read().split("\n")
        except FileNotFoundError:
            return []

    def start(self):
        # -f foreground, -t/-T bounded discovery; no `timeout` wrapper: it would get the
        # signals and orphan udhcpc. Its lifetime is bounded by stop().
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.netns.cli, "udhcpc", "-i", "vcli", "-f", "-t", "5",
             "-T", "2", "-s", self.script, "-x", f"hostname:{self.hostname}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return self

    def lease(self, timeout=20):
        ev = wait_for(lambda: [e for e in self.events() if e.startswith("bound ")], timeout,
                      what="udhcpc lease")
        return ev[-1].split()[1]

    def release(self):
        """SIGUSR2: udhcpc sends a DHCPRELEASE."""
        self.proc.send_signal(signal.SIGUSR2)

    def renew(self):
        """SIGUSR1: udhcpc renews its lease."""
        self.proc.send_signal(signal.SIGUSR1)

    def cleanup(self):
        stop_proc(self.proc, 5)
        shutil.rmtree(self.dir, ignore_errors=True)
