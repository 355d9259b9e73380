# SPDX-License-Identifier: MIT
"""Certificates for TLS tests, made with the openssl command line in a directory: a CA, the
server's certificate, agents' client certificates (good, other CA, expired, revoked)."""
import os
import socket
import ssl
import subprocess

from prismlib import frame, recv_frame, registration


def _run(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class PKI:
    """A CA in @p directory; files are paths inside it."""

    def __init__(self, directory, name="ca"):
        self.dir = str(directory)
        self.name = name
        os.makedirs(self.dir, exist_ok=True)
        self.ca_key = self.path(f"{name}.key")
        self.ca = self.path(f"{name}.pem")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "30",
             "-subj", f"/CN=Prism test {name}", cwd=self.dir)
        # an `openssl ca` database, for certificates with chosen dates and for the CRL
        self.db = self.path(f"{name}-index.txt")
        open(self.db, "w").close()
        with open(self.path(f"{name}-serial"), "w") as f:
            f.write("1000\n")
        with open(self.path(f"{name}-crlnumber"), "w") as f:
            f.write("1000\n")
        self.cnf = self.path(f"{name}.cnf")
        with open(self.cnf, "w") as f:
            f.write(f"""[ca]
default_ca = this
[this]
dir = {self.dir}
database = {self.db}
serial = {self.path(name + "-serial")}
crlnumber = {self.path(name + "-crlnumber")}
new_certs_dir = {self.dir}
certificate = {self.ca}
private_key = {self.ca_key}
default_md = sha256
default_days = 30
default_crl_days = 30
policy = anything
unique_subject = no
copy_extensions = copy
[anything]
commonName = supplied
""")

    def path(self, name):
        return os.path.join(self.dir, name)

    def issue(self, name, cn, dns=(), ip=(), start=None, end=None, server=False):
        """A key and certificate signed by this CA; returns (cert, key) paths."""
        key, csr, crt = (self.path(f"{name}.{x}") for x in ("key", "csr", "pem"))
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{a}" for a in ip]
        args = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={cn}"]
        if sans:
            args += ["-addext", "subjectAltName=" + ",".join(sans)]
        args += ["-addext", "extendedKeyUsage=" + ("serverAuth" if server else "clientAuth")]
        _run(*args, cwd=self.dir)
        args = ["ca", "-batch", "-config", self.cnf, "-in", csr, "-out", crt, "-notext"]
        if start:
            args += ["-startdate", start]
        if end:
            args += ["-enddate", end]
        _run(*args, cwd=self.dir)
        return crt, key

    def revoke(self, cert):
        _run("ca", "-config", self.cnf, "-revoke", cert, cwd=self.dir)

    def crl(self, name="crl"):
        out = self.path(f"{name}.pem")
        _run("ca", "-config", self.cnf, "-gencrl", "-out", out, cwd=self.dir)
        return out


def client_context(ca, cert=None, key=None, version=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def tls_connect(port, ctx, server_name="localhost", timeout=10):
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname=server_name)


def tls_register(port, ctx, hostname, token=None, **extra):
    """One registration over a new TLS connection; the answer, or raises ssl.SSLError."""
    with tls_connect(port, ctx) as s:
        s.sendall(frame(registration(hostname, token, **extra)))
        return recv_frame(s)
