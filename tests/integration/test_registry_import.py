# SPDX-License-Identifier: MIT
"""`prism registry import-prism`: the original Prism server's SQLite registry (made here with
Python's sqlite3, in the original's shape) into Prism's registry, then prismd pushing the
hosts' records to a real PowerDNS; re-import idempotent; invalid rows counted; an import
while prismd runs on the same registry."""
import calendar
import re
import sqlite3
import subprocess
import time

import requests

from prismlib import PRISM, SANITIZER_MARKS, wait_for


def utc(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S"))

ZONE = "managed.prism.local."
SUMMARY = re.compile(r"^(\d+) rows: (\d+) imported, (\d+) skipped \((\d+) already in the "
                     r"registry, (\d+) held by another source, (\d+) reserved, (\d+) in "
                     r"another zone\), (\d+) invalid$", re.M)

# the original server's table (SQLAlchemy model): more columns than Prism reads
ORIG_SCHEMA = """CREATE TABLE hosts (
    id INTEGER PRIMARY KEY,
    hostname VARCHAR(255) NOT NULL UNIQUE,
    current_ip VARCHAR(45) NOT NULL,
    status VARCHAR(20),
    first_seen DATETIME,
    last_seen DATETIME,
    dns_zone VARCHAR(255),
    dns_record_id VARCHAR(255),
    dns_ttl INTEGER,
    dns_sync_status VARCHAR(20),
    dns_last_sync DATETIME,
    created_at DATETIME,
    updated_at DATETIME)"""

GOOD = [
    # hostname, ip, status, first_seen, last_seen, zone, ttl, sync
    ("web1", "192.0.2.10", "online", "2024-03-01 08:00:00", "2026-12-06 23:59:00.123456",
     "managed.prism.local", 300, "synced"),
    ("Web6", "2001:db8::6", "online", "2024-03-02 09:30:00", "2026-12-06 23:58:00",
     "managed.prism.local.", 300, "pending"),
    ("old1", "192.0.2.11", "offline", "2023-01-01 00:00:00", "2026-11-30 10:00:00", None,
     None, "failed"),
]
OTHER_ZONE = [("db1", "192.0.2.12", "online", "2024-01-01 00:00:00", "2026-12-06 00:00:00",
               "corp.example", 300, "synced"),
              # the zone's name server: reserved, no agent may claim it
              ("ns1", "192.0.2.13", "online", "2024-01-01 00:00:00", "2026-12-06 00:00:00",
               None, None, None)]
INVALID = [
    ("bad_host", "192.0.2.20", "online", "2024-01-01 00:00:00", "2024-01-02 00:00:00",
     None, None, None),
    ("noip", "999.1.1.1", "online", "2024-01-01 00:00:00", "2024-01-02 00:00:00", None, None,
     None),
    ("zombie", "192.0.2.21", "undead", "2024-01-01 00:00:00", "2024-01-02 00:00:00", None,
     None, None),
    ("badtime", "192.0.2.22", "online", "last tuesday", "2024-01-02 00:00:00", None, None,
     None),
    ("backwards", "192.0.2.23", "online", "2025-01-01 00:00:00", "2024-01-02 00:00:00", None,
     None, None),
]


def make_orig(path, rows):
    con = sqlite3.connect(path)
    with con:
        con.execute(ORIG_SCHEMA)
        con.executemany("INSERT INTO hosts (hostname, current_ip, status, first_seen, "
                        "last_seen, dns_zone, dns_ttl, dns_sync_status) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()


def import_prism(d, path):
    r = subprocess.run([PRISM, "registry", "import-prism", str(path), "--config", d.config],
                       capture_output=True, text=True, timeout=60)
    assert not [m for m in SANITIZER_MARKS if m in r.stderr], r.stderr
    return r


def summary(r):
    m = SUMMARY.search(r.stdout)
    assert m, r.stdout + r.stderr
    keys = ("rows", "imported", "skipped", "exists", "taken", "reserved", "other_zone",
            "invalid")
    return dict(zip(keys, (int(x) for x in m.groups())))


def snapshot(d):
    return (d.db_query("SELECT hostname, current_ip, status, first_seen, last_seen, "
                       "expires_at FROM hosts ORDER BY hostname"),
            d.db_query("SELECT zone, name, type, content FROM desired ORDER BY name, type"))


def test_import_then_push(prismd_factory, pdns, tmp_path):
    orig = tmp_path / "prism-original.db"
    make_orig(orig, GOOD + OTHER_ZONE + INVALID)
    d = prismd_factory(pdns, start=False)

    r = import_prism(d, orig)
    assert r.returncode == 0, r.stderr
    assert summary(r) == {"rows": 10, "imported": 3, "skipped": 2, "exists": 0, "taken": 0,
                          "reserved": 1, "other_zone": 1, "invalid": 5}
    # each refused row is named with its reason
    assert "row 6 (bad_host): hostname: invalid character '_'" in r.stderr
    assert "(ns1): a reserved name" in r.stderr
    assert "(noip): current_ip: not an IP address" in r.stderr
    assert "(zombie): status: not online or offline" in r.stderr
    assert "(badtime): first_seen: not YYYY-MM-DD HH:MM:SS" in r.stderr
    assert "(backwards): first_seen: after last_seen" in r.stderr
    assert "(db1): dns_zone: corp.example is not managed.prism.local." in r.stderr

    # first and last seen and status kept; names lower-case; agent hosts
    web1, web6, old1 = d.host("web1"), d.host("web6"), d.host("old1")
    assert (web1["first_seen"], web1["last_seen"], web1["status"]) == (
        utc("2024-03-01 08:00:00"), utc("2026-12-06 23:59:00"), "online")
    assert (web6["current_ip"], web6["ipv6"], web6["status"]) == ("2001:db8::6",
                                                                   "2001:db8::6", "online")
    assert (old1["status"], old1["last_seen"]) == ("offline", utc("2026-11-30 10:00:00"))
    assert {h["source"] for h in (web1, web6, old1)} == {"agent"}
    assert d.host("db1") is None and d.host("zombie") is None
    before = snapshot(d)

    # prismd pushes them: A or AAAA by family (offline_dns keep: old1 too)
    d.start()
    wait_for(lambda: pdns.query("web1." + ZONE) == ["192.0.2.10"], 20, what="web1 A")
    wait_for(lambda: pdns.query("web6." + ZONE, "AAAA") == ["2001:db8::6"], 20,
             what="web6 AAAA")
    wait_for(lambda: pdns.query("old1." + ZONE) == ["192.0.2.11"], 20, what="old1 A")
    assert pdns.query("web6." + ZONE) == []
    wait_for(lambda: d.host("web1")["dns_sync_status"] == "synced", 20, what="web1 synced")
    d.stop()

    # again: nothing changes, the same rows refused
    r = import_prism(d, orig)
    assert r.returncode == 0, r.stderr
    assert summary(r) == {"rows": 10, "imported": 0, "skipped": 5, "exists": 3, "taken": 0,
                          "reserved": 1, "other_zone": 1, "invalid": 5}
    assert snapshot(d)[1] == before[1]
    assert [h[:5] for h in snapshot(d)[0]] == [h[:5] for h in before[0]]


def test_import_while_running(prismd_factory, pdns, tmp_path):
    """prismd keeps the registry open (WAL) and writing; the import commits between its
    transactions, and the engine pushes the new rows at its next pass."""
    orig = tmp_path / "orig.db"
    make_orig(orig, GOOD)
    d = prismd_factory(pdns, extra_yaml="sync:\n  reconcile_interval: 1\napi:\n  keys:\n"
                       "    - {name: w, key: write-key-0123456789, role: write}\n")
    assert d.register("agent1")["status"] == "success"
    # an agent registered the same name since: the registry's host is kept
    assert d.register("web1")["status"] == "success"
    # an operator made a CNAME at another name through the API: it keeps it
    r = requests.post(f"http://127.0.0.1:{d.api_port}/api/v1/zones/{ZONE}/records",
                      headers={"X-API-Key": "write-key-0123456789"}, timeout=5,
                      json={"records": [{"name": "web6", "type": "CNAME",
                                         "content": "elsewhere.example."}]})
    assert r.status_code in (200, 201), r.text
    r = import_prism(d, orig)
    assert r.returncode == 0, r.stderr
    s = summary(r)
    assert (s["imported"], s["exists"], s["taken"], s["invalid"]) == (1, 1, 1, 0)
    assert "(Web6): the name is held by a host of another source or by records made " \
        "through the API" in r.stderr
    assert d.host("web1")["current_ip"] == "127.0.0.1" and d.host("web6") is None
    wait_for(lambda: pdns.query("old1." + ZONE) == ["192.0.2.11"], 20,
             what="old1 A pushed by the running prismd")
    # the agent of an imported host carries on: its first_seen stays the original's
    r = d.register("old1")
    assert r["message"] == "Host reconnected with IP change from 192.0.2.11 to 127.0.0.1"
    assert d.host("old1")["first_seen"] == utc("2023-01-01 00:00:00")
    wait_for(lambda: pdns.query("old1." + ZONE) == ["127.0.0.1"], 20, what="old1 moved")


def test_import_offline_dns_remove(prismd_factory, pdns, tmp_path):
    """heartbeat.offline_dns: remove — an offline host comes without records."""
    orig = tmp_path / "orig.db"
    make_orig(orig, GOOD)
    d = prismd_factory(pdns, start=False,
                       extra_yaml="heartbeat:\n  offline_dns: remove\n")
    r = import_prism(d, orig)
    assert summary(r)["imported"] == 3
    assert d.host("old1")["status"] == "offline"
    names = [row[1] for row in d.db_query("SELECT zone, name FROM desired")]
    assert "old1." + ZONE not in names and "web1." + ZONE in names


def test_import_refuses_other_files(prismd_factory, tmp_path):
    d = prismd_factory(None, start=False)
    r = import_prism(d, tmp_path / "missing.db")
    assert r.returncode == 3 and "cannot read" in r.stderr
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all\n" * 100)
    r = import_prism(d, junk)
    assert r.returncode == 3 and "is not the original Prism registry" in r.stderr
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE hosts (hostname TEXT, current_ip TEXT)")
    con.close()
    r = import_prism(d, other)
    assert r.returncode == 3 and "no such column" in r.stderr
    # the registry itself is refused
    d2 = prismd_factory(None)
    d2.stop()
    r = import_prism(d2, d2.db)
    assert r.returncode == 2 and "is this registry" in r.stderr
    r = subprocess.run([PRISM, "registry", "import-prism"], capture_output=True, text=True)
    assert r.returncode == 2
