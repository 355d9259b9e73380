# SPDX-License-Identifier: MIT
"""RFC 2136 servers for the tests and benchmarks: a private BIND (named) or Knot DNS (knotd)
on a free loopback port in a temporary directory, with a TSIG key that may update and
transfer its zones. Started in the foreground as their package users, stopped by PID."""
import base64
import os
import pwd
import shutil
import subprocess
import tempfile

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update

from prismlib import dns_answers, free_port, stop_pid, wait_for

KEY_NAME = "prism-key"
ALGORITHM = "hmac-sha256"


def new_secret():
    return base64.b64encode(os.urandom(32)).decode()


def _chown_tree(path, user):
    pw = pwd.getpwnam(user)
    for dirpath, _, files in os.walk(path):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for fn in files:
            os.chown(os.path.join(dirpath, fn), pw.pw_uid, pw.pw_gid)


def _zone_text(zone):
    return (f"$TTL 300\n@ IN SOA ns1.{zone} hostmaster.{zone} 1 3600 600 86400 300\n"
            f"@ IN NS ns1.{zone}\nns1.{zone} IN A 127.0.0.1\n")


class DnsServer:
    """Common part: port, key, zones, queries and updates with dnspython."""

    kind = "?"

    def __init__(self, zones, secret=None, algorithm=ALGORITHM):
        # the server runs as its own user: the directory must be reachable (0700 from mkdtemp)
        self.dir = tempfile.mkdtemp(prefix=f"prism-{self.kind}-")
        os.chmod(self.dir, 0o755)
        self.zones = [z.rstrip(".") + "." for z in zones]
        self.secret = secret or new_secret()
        self.algorithm = algorithm
        self.port = free_port(udp_too=True)
        self.proc = None
        self.log = None

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def target_yaml(self, name, zones=None, secret=None, extra=""):
        """A targets: entry for prismd."""
        y = (f"  - name: {name}\n    type: rfc2136\n    server: \"{self.server}\"\n"
             f"    tsig:\n      name: {KEY_NAME}\n      algorithm: {self.algorithm}\n"
             f"      secret: \"{secret or self.secret}\"\n")
        if zones is not None:
            y += "    zones: [" + ", ".join(zones) + "]\n"
        return y + extra

    def keyring(self):
        return dns.tsigkeyring.from_text({KEY_NAME: (self.algorithm, self.secret)})

    def ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.kind} exited: " + self.read_log())
        try:
            return all(self.soa_serial(z) is not None for z in self.zones)
        except Exception:  # noqa: BLE001 - not listening yet
            return False

    def soa_serial(self, zone):
        q = dns.message.make_query(zone, "SOA")
        r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=1)
        for rrset in r.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                return rrset[0].serial
        return None

    def query(self, name, rdtype="A"):
        """Contents (sorted) answering name/rdtype (over TCP); [] when none."""
        return dns_answers(self.port, name, rdtype, tcp=True)

    def update(self, zone, fn):
        """Send a signed update built by fn(dns.update.UpdateMessage); returns the rcode."""
        u = dns.update.UpdateMessage(zone, keyring=self.keyring(), keyname=KEY_NAME,
                                     keyalgorithm=self.algorithm)
        fn(u)
        r = dns.query.tcp(u, "127.0.0.1", port=self.port, timeout=5)
        return dns.rcode.to_text(r.rcode())

    def axfr(self, zone):
        """Every record of the zone: [(name, type, text)]."""
        out = []
        for m in dns.query.xfr("127.0.0.1", zone, port=self.port, keyring=self.keyring(),
                               keyname=KEY_NAME, keyalgorithm=self.algorithm, timeout=10, relativize=False,
                               lifetime=60):
            for rrset in m.answer:
                for rd in rrset:
                    out.append((rrset.name.to_text().lower(),
                                dns.rdatatype.to_text(rrset.rdtype), rd.to_text()))
        return out

    def read_log(self):
        p = os.path.join(self.dir, "log")
        if not os.path.exists(p):
            return ""
        with open(p, errors="replace") as f:
            return f.read()

    def _run(self, cmd, user):
        if os.getuid() == 0:
            _chown_tree(self.dir, user)
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(self.ready, 15, what=f"{self.kind} answering")
        return self

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc, 15)
            self.proc = None
            self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Bind(DnsServer):
    """named -g (foreground, logs to stderr) -u bind; dynamic zones updatable with the key."""

    kind = "bind"

    def start(self):
        d = self.dir
        zones = ""
        for z in self.zones:
            path = os.path.join(d, z + "db")
            if not os.path.exists(path):
                with open(path, "w") as f:
                    f.write(_zone_text(z))
            zones += (f'zone "{z}" {{ type primary; file "{path}"; '
                      f'update-policy {{ grant {KEY_NAME} zonesub ANY; }}; }};\n')
        conf = f"""options {{ directory "{d}"; pid-file "{d}/named.pid";
  session-keyfile "{d}/session.key"; managed-keys-directory "{d}";
  listen-on port {self.port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
  recursion no; dnssec-validation no; notify no;
  allow-transfer {{ key "{KEY_NAME}"; }}; }};
controls {{ }};
key "{KEY_NAME}" {{ algorithm {self.algorithm}; secret "{self.secret}"; }};
{zones}"""
        with open(os.path.join(d, "named.conf"), "w") as f:
            f.write(conf)
        subprocess.run(["named-checkconf", os.path.join(d, "named.conf")], check=True)
        cmd = ["named", "-g", "-c", os.path.join(d, "named.conf")]
        if os.getuid() == 0:
            cmd += ["-u", "bind"]
        return self._run(cmd, "bind")


class Knot(DnsServer):
    """knotd in the foreground, dropping to knot:knot; the key may update and transfer."""

    kind = "knot"

    def start(self):
        d = self.dir
        os.makedirs(os.path.join(d, "db"), exist_ok=True)
        for z in self.zones:
            path = os.path.join(d, z + "zone")
            if not os.path.exists(path):
                with open(path, "w") as f:
                    f.write(_zone_text(z))
        user = "    user: knot:knot\n" if os.getuid() == 0 else ""
        conf = f"""server:
    rundir: "{d}"
{user}    listen: 127.0.0.1@{self.port}
log:
  - target: stderr
    any: info
database:
    storage: "{d}/db"
    journal-db-mode: asynchronous
key:
  - id: {KEY_NAME}
    algorithm: {self.algorithm}
    secret: {self.secret}
acl:
  - id: prism
    key: {KEY_NAME}
    action: [update, transfer]
template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
    acl: prism
    zonefile-sync: -1
    zonefile-load: difference-no-serial
    journal-content: all
zone:
""" + "".join(f"  - domain: {z}\n" for z in self.zones)
        conf_path = os.path.join(d, "knot.conf")
        with open(conf_path, "w") as f:
            f.write(conf)
        subprocess.run(["knotc", "-c", conf_path, "conf-check"], check=True,
                       stdout=subprocess.DEVNULL)
        return self._run(["knotd", "-c", conf_path], "knot")
