#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Kea host reservations (kea.reservations) against a real PostgreSQL with Kea's schema and
a real PowerDNS.

1. Latency: a reservation INSERTed (and committed) in PostgreSQL → its A record answering
   at PowerDNS's DNS port. One INSERT at a time through a long-lived psql session, the
   clock starts when psql reports the commit; the DNS port is polled every millisecond.
   p50/p99/max over SAMPLES inserts (the goal: under 200 ms).
2. Start-up consistency sync of N reservations: prismd started on an empty registry; the
   sync's own time (query to commit, from its log line), the time until prismd is ready
   and until every record is at PowerDNS. Then prismd restarted on the same registry: the
   second sync's time and what it wrote (hosts added/updated/removed, and the registry's
   WAL bytes appended by the restart).

usage: bench/kea_bench.py [N] [SAMPLES]   (defaults 100000 and 200)
"""
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import prismlib  # noqa: E402
from kealib import Postgres, ip_int, reservation_sql  # noqa: E402
from prismlib import PRISM, PowerDNS, Prismd, wait_for  # noqa: E402


def configure(d, pg, db):
    with open(d.config) as f:
        text = f.read()
    text = text.replace("level: debug", "level: info")
    text += f"""zones:
  - name: managed.prism.local.
  - name: dc.test.
kea:
  reservations:
    enabled: true
    conninfo: "{pg.conninfo(db)}"
    zone: dc.test.
"""
    with open(d.config, "w") as f:
        f.write(text)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def latency(pg, samples):
    db = pg.kea_db("kea_latency")
    pdns = PowerDNS().start()
    d = Prismd(tempfile.mkdtemp(prefix="prism-kea-bench-"), pdns=pdns)
    configure(d, pg, db)
    subprocess.run([PRISM, "kea", "install-trigger", "--config", d.config], check=True,
                   capture_output=True)
    d.start()
    wait_for(lambda: "consistency sync of 0 reservation(s)" in d.read_log(), 30,
             what="first sync")
    psql = subprocess.Popen(["psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                             "kea", "-d", db, "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    out = []
    try:
        for i in range(samples):
            name = f"lat{i}"
            ip = f"10.20.{i >> 8}.{i & 255}"
            psql.stdin.write(reservation_sql(name, ip, f"02:00:00:20:{i >> 8:02x}:{i & 255:02x}")
                             + ";\n\\echo committed\n")
            psql.stdin.flush()
            assert psql.stdout.readline().strip() == "committed"
            t0 = time.monotonic()
            while pdns.query(f"{name}.dc.test.") != [ip]:
                if time.monotonic() - t0 > 10:
                    raise TimeoutError(name)
                time.sleep(0.001)
            out.append((time.monotonic() - t0) * 1000)
            time.sleep(0.02)
    finally:
        psql.stdin.close()
        psql.wait(10)
        d.stop()
        pdns.cleanup()
    return out


def wal_bytes(d):
    p = d.db + "-wal"
    return os.path.getsize(p) if os.path.exists(p) else 0


def sync_line(d, nth):
    lines = re.findall(r"consistency sync of (\d+) reservation\(s\) in ([0-9.]+) s: (.*)",
                       d.read_log())
    return lines[nth] if len(lines) > nth else None


def startup(pg, n):
    db = pg.kea_db("kea_startup")
    t = time.monotonic()
    pg.psql("INSERT INTO hosts (dhcp_identifier, dhcp_identifier_type, dhcp4_subnet_id, "
            "ipv4_address, hostname) SELECT decode(lpad(to_hex(i), 12, '0'), 'hex'), 0, 1, "
            f"{ip_int('10.128.0.0')} + i, 'n' || i || '-bmc' FROM generate_series(1, {n}) i",
            db=db, user="kea")
    pg.psql("ANALYZE hosts", db=db)
    load = time.monotonic() - t
    pdns = PowerDNS().start()
    d = Prismd(tempfile.mkdtemp(prefix="prism-kea-bench-"), pdns=pdns)
    configure(d, pg, db)
    res = {"n": n, "load": load}
    try:
        t0 = time.monotonic()
        d.start()
        wait_for(lambda: sync_line(d, 0), 600, interval=0.05, what="first sync")
        res["first_wall"] = time.monotonic() - t0
        res["first"] = sync_line(d, 0)
        wait_for(lambda: d.db_query("SELECT count(*) FROM hosts WHERE source = "
                                    "'kea-reservation' AND dns_sync_status = 'synced'")[0][0]
                 >= n, 900, interval=0.2, what="all at PowerDNS")
        res["first_dns"] = time.monotonic() - t0
        d.stop()
        wal0 = wal_bytes(d)
        size0 = os.path.getsize(d.db)
        t0 = time.monotonic()
        d.start()
        wait_for(lambda: sync_line(d, 1), 600, interval=0.02, what="second sync")
        res["second_wall"] = time.monotonic() - t0
        res["second"] = sync_line(d, 1)
        time.sleep(1)
        res["second_wal"] = wal_bytes(d) - wal0
        res["second_size"] = os.path.getsize(d.db) - size0
    finally:
        d.stop()
        pdns.cleanup()
    return res


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    samples = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    print(f"prismd {prismlib.PRISMD}, nproc {os.cpu_count()}")
    pg = Postgres().start()
    try:
        lat = latency(pg, samples)
        st = startup(pg, n)
    finally:
        pg.cleanup()
    print()
    print(f"INSERT committed → A answering at PowerDNS, {len(lat)} reservations: "
          f"p50 {pct(lat, 50):.1f} ms, p99 {pct(lat, 99):.1f} ms, max {max(lat):.1f} ms")
    print(f"{st['n']:,} reservations loaded into PostgreSQL in {st['load']:.1f} s")
    f = st["first"]
    print(f"first start (empty registry): sync {f[1]} s ({f[2]}); prismd start → sync "
          f"committed {st['first_wall']:.2f} s; → every record at PowerDNS "
          f"{st['first_dns']:.1f} s")
    s = st["second"]
    print(f"second start (same registry): sync {s[1]} s ({s[2]}); prismd start → sync "
          f"committed {st['second_wall']:.2f} s; registry WAL bytes appended "
          f"{st['second_wal']}, main file grew {st['second_size']} bytes")


if __name__ == "__main__":
    main()
