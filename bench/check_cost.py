#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What each way of reading a zone costs PowerDNS, per RRset, beside what a write costs.

Prism's ownership check reads the target before it writes a new name: a DNS query per
name, one AXFR of the zone for many names in a small zone, or a read of the zone through
the API. This measures each on a fresh PowerDNS (gsqlite3, the test suite's setup) holding
N RRsets with Prism's ownership comment, as PowerDNS's own CPU time (utime + stime from
/proc) divided by the RRsets read or written:

  PATCH        N RRsets written, 1,500 per request, with the ownership comment
  query, absent   N A queries for names that are not there (NXDOMAIN: a new name's check)
  query, present  N A queries for names that are there (first time: nothing cached)
  AXFR            the whole zone transferred (dnspython), per record
  API read        GET /zones/<zone> (records and comments), per RRset

usage: bench/check_cost.py [N] [ROUNDS]   (defaults 30000, 2)
"""
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import dns.query  # noqa: E402
import dns.zone  # noqa: E402
from prismlib import PowerDNS  # noqa: E402

ZONE = "cost.prism.test."
HZ = os.sysconf("SC_CLK_TCK")
WINDOW = 128


def cpu(p):
    with open(f"/proc/{p.proc.pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / HZ


def question(name, qid):
    wire = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split("."))
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + wire + b"\0" + struct.pack(">HH", 1, 1)


def queries(p, names):
    """Ask every name (A), WINDOW at a time; returns the answers received."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    got = sent = 0
    try:
        while sent < len(names):
            batch = names[sent:sent + WINDOW]
            for i, n in enumerate(batch):
                s.sendto(question(n, (sent + i) & 0xffff), ("127.0.0.1", p.dns_port))
            sent += len(batch)
            for _ in batch:
                try:
                    s.recv(4096)
                    got += 1
                except socket.timeout:
                    break
    finally:
        s.close()
    return got


def measure(n, run):
    p = PowerDNS().start()
    out = {}
    try:
        z = {"name": ZONE, "kind": "Native", "nameservers": ["ns1." + ZONE]}
        assert p.api("POST", "/zones", json=z).status_code == 201
        c0 = cpu(p)
        for lo in range(0, n, 1500):
            rrs = [{"name": f"h{run}-{i}.{ZONE}", "type": "A", "ttl": 60,
                    "changetype": "REPLACE",
                    "records": [{"content": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                                 "disabled": False}],
                    "comments": [{"content": "prism", "account": "prism"}]}
                   for i in range(lo, min(n, lo + 1500))]
            assert p.api("PATCH", f"/zones/{ZONE}", json={"rrsets": rrs}).status_code == 204
        out["PATCH"] = (cpu(p) - c0) / n
        for label, names in (("query, absent", [f"x{run}-{i}.{ZONE}" for i in range(n)]),
                             ("query, present", [f"h{run}-{i}.{ZONE}" for i in range(n)])):
            c0 = cpu(p)
            got = queries(p, names)
            out[label] = (cpu(p) - c0) / max(got, 1)
        c0 = cpu(p)
        zone = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=p.dns_port, timeout=30))
        records = sum(len(rds) for _, node in zone.nodes.items() for rds in node.rdatasets)
        out["AXFR"] = (cpu(p) - c0) / records
        c0 = cpu(p)
        rrsets = p.api("GET", f"/zones/{ZONE}").json()["rrsets"]
        out["API read"] = (cpu(p) - c0) / len(rrsets)
    finally:
        p.cleanup()
    return out


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    runs = [measure(n, r) for r in range(rounds)]
    print(f"PowerDNS's CPU per RRset, a zone of {n} RRsets with Prism's comment, "
          f"{rounds} round(s), nproc {os.cpu_count()}")
    for k in runs[0]:
        print(f"  {k:<15} " + "  ".join(f"{r[k] * 1e6:6.1f} us" for r in runs))
    q = [r["query, absent"] / r["AXFR"] for r in runs]
    print("  a query for a new name costs PowerDNS as much as transferring "
          + ", ".join(f"{x:.1f}" for x in q) + " records")


if __name__ == "__main__":
    main()
