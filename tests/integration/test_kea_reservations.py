# SPDX-License-Identifier: MIT
"""Kea's host reservations in a real PostgreSQL (Kea's own schema, made by kea-admin), the
notification trigger installed by `prism kea install-trigger`, and prismd following them
into a real PowerDNS: the start-up consistency sync, inserts, changes, deletions, the hostname
filter, losing the database and catching up, and `prismd --once`."""
import os
import shutil
import subprocess

import pytest
import requests

from kealib import Postgres, have, ip_int, metric, reservation_sql
from prismlib import PRISM, PRISMD, wait_for

pytestmark = pytest.mark.skipif(
    not (have("kea-admin") and os.path.exists("/usr/lib/postgresql/15/bin/initdb")),
    reason="needs PostgreSQL 15 and kea-admin (scripts/deps.sh)")

ZONES = """zones:
  - name: managed.prism.local.
  - name: dc.test.
  - name: 10.in-addr.arpa.
api:
  public_metrics: true
  keys:
    - {name: reader, key: "read-key-0123456789", role: read}
"""


@pytest.fixture(scope="module")
def pg():
    p = Postgres().start()
    yield p
    p.cleanup()


@pytest.fixture
def keadb(pg, request):
    name = "kea_" + request.node.name.replace("test_", "")[:40].lower()
    pg.kea_db(name)
    yield name
    pg.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def kea_yaml(pg, db, extra=""):
    return ZONES + f"""kea:
  reservations:
    enabled: true
    conninfo: "{pg.conninfo(db)}"
    password_env: KEA_DB_PASSWORD
    zone: dc.test.
    reconnect_max: 2
{extra}"""


def install(d, *args):
    return subprocess.run([PRISM, "kea", "install-trigger", "--config", d.config] + list(args),
                          capture_output=True, text=True, env=d.env, timeout=30)


def start(prismd_factory, pdns, pg, db, extra="", trigger=True):
    d = prismd_factory(pdns, start=False, extra_yaml=kea_yaml(pg, db, extra),
                       env={"KEA_DB_PASSWORD": "kea", "PRISM_POWERDNS_AUTO_PTR": "true"})
    if trigger:
        r = install(d)
        assert r.returncode == 0, r.stderr
    d.start()
    return d


def sql(pg, db, *stmts):
    pg.psql("; ".join(stmts), db=db, user="kea")


def api_host(d, name):
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/hosts/{name}", timeout=5,
                     headers={"X-API-Key": "read-key-0123456789"})
    return r.json() if r.status_code == 200 else None


def test_install_trigger(prismd_factory, pg, keadb):
    d = prismd_factory(None, start=False, extra_yaml=kea_yaml(pg, keadb),
                       env={"KEA_DB_PASSWORD": "kea"})
    count = ("SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'prism_kea_%'")
    for _ in range(2):  # idempotent
        r = install(d)
        assert r.returncode == 0, r.stderr
        assert "installed: prism_kea_hosts_trigger" in r.stdout
        assert pg.psql(count, db=keadb) == "2"
    # it notifies: a LISTENing session sees an INSERT (the same session, so no race)
    out = subprocess.run(["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(pg.port), "-U",
                          "kea", "-d", keadb, "-c", "LISTEN prism_kea_hosts",
                          "-c", reservation_sql("n1", "10.0.0.9", "02:00:00:00:00:09"),
                          "-c", "SELECT 1"], capture_output=True, text=True)
    assert 'Asynchronous notification "prism_kea_hosts" with payload' in out.stdout, out
    assert '"op" : "INSERT"' in out.stdout and '"hostname" : "n1"' in out.stdout
    assert f'"ipv4" : {ip_int("10.0.0.9")}' in out.stdout
    for _ in range(2):
        r = install(d, "--uninstall")
        assert r.returncode == 0, r.stderr
        assert pg.psql(count, db=keadb) == "0"
    assert pg.psql("SELECT count(*) FROM pg_proc WHERE proname = 'prism_kea_hosts_notify'",
                   db=keadb) == "0"
    # --print changes nothing; an unreachable database is exit status 3
    r = install(d, "--print")
    assert r.returncode == 0 and "CREATE TRIGGER prism_kea_hosts_trigger" in r.stdout
    assert pg.psql(count, db=keadb) == "0"
    r = subprocess.run([PRISM, "kea", "install-trigger", "--conninfo",
                        "host=127.0.0.1 port=1 dbname=x connect_timeout=2"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 3 and "cannot connect" in r.stderr


def test_sync_then_follow_changes(prismd_factory, pdns, pg, keadb):
    sql(pg, keadb,
        reservation_sql("us3-cab10-ru20-idrac", "10.0.1.20", "02:00:00:00:01:20"),
        reservation_sql("web1.dc.test", "10.0.1.21", "02:00:00:00:01:21"),
        reservation_sql("far.example.org", "10.0.1.22", "02:00:00:00:01:22"),
        reservation_sql("bad_name", "10.0.1.23", "02:00:00:00:01:23"),
        reservation_sql(None, "10.0.1.24", "02:00:00:00:01:24"))
    d = start(prismd_factory, pdns, pg, keadb)
    wait_for(lambda: pdns.query("us3-cab10-ru20-idrac.dc.test.") == ["10.0.1.20"], 20,
             what="short name qualified with the zone")
    wait_for(lambda: pdns.query("web1.dc.test.") == ["10.0.1.21"], 20, what="FQDN kept")
    wait_for(lambda: pdns.query("20.1.0.10.in-addr.arpa.", "PTR") ==
             ["us3-cab10-ru20-idrac.dc.test."], 20, what="PTR (auto_ptr)")
    assert pdns.rrset("dc.test.", "web1.dc.test.", "A")["ttl"] == 600
    assert api_host(d, "web1.dc.test")["source"] == "kea-reservation"
    log = d.read_log()
    assert "hostname 'far.example.org' ignored: outside every managed zone" in log
    assert "hostname 'bad_name' ignored: invalid character '_'" in log
    assert "consistency sync of 2 reservation(s)" in log
    # live: insert, new address, rename, delete
    sql(pg, keadb, reservation_sql("db1", "10.0.1.30", "02:00:00:00:01:30"))
    wait_for(lambda: pdns.query("db1.dc.test.") == ["10.0.1.30"], 10, what="insert")
    sql(pg, keadb, f"UPDATE hosts SET ipv4_address = {ip_int('10.0.1.31')} "
        "WHERE hostname = 'db1'")
    wait_for(lambda: pdns.query("db1.dc.test.") == ["10.0.1.31"], 10, what="new address")
    wait_for(lambda: pdns.query("30.1.0.10.in-addr.arpa.", "PTR") == [], 10, what="old PTR")
    sql(pg, keadb, "UPDATE hosts SET hostname = 'db2' WHERE hostname = 'db1'")
    wait_for(lambda: pdns.query("db2.dc.test.") == ["10.0.1.31"], 10, what="renamed")
    wait_for(lambda: pdns.query("db1.dc.test.") == [], 10, what="old name gone")
    sql(pg, keadb, "DELETE FROM hosts WHERE hostname = 'db2'")
    wait_for(lambda: pdns.query("db2.dc.test.") == [], 10, what="deleted")
    wait_for(lambda: pdns.query("31.1.0.10.in-addr.arpa.", "PTR") == [], 10, what="PTR gone")
    # a reservation losing its hostname goes too
    sql(pg, keadb, "UPDATE hosts SET hostname = NULL WHERE hostname = 'web1.dc.test'")
    wait_for(lambda: pdns.query("web1.dc.test.") == [], 10, what="hostname cleared")
    assert metric(d, "prism_kea_db_connected") == 1
    assert metric(d, "prism_kea_db_notifications_total") >= 5
    # a second start changes nothing
    d.stop()
    d.start()
    wait_for(lambda: "0 added, 0 updated, 0 removed, 1 unchanged" in d.read_log(), 20,
             what="second sync unchanged")


def test_filter_and_conflict(prismd_factory, pdns, pg, keadb):
    sql(pg, keadb,
        reservation_sql("r1-ilo", "10.0.2.1", "02:00:00:00:02:01"),
        reservation_sql("r2-idrac", "10.0.2.2", "02:00:00:00:02:02"),
        reservation_sql("r3-web", "10.0.2.3", "02:00:00:00:02:03"),
        reservation_sql("r4-bmc", "10.0.2.4", "02:00:00:00:02:04"),
        reservation_sql("r4-bmc", "10.0.2.5", "02:00:00:00:02:05", subnet=2))
    d = start(prismd_factory, pdns, pg, keadb, extra='    filter: ["*-ilo", "*-idrac", '
                                                       '"*-bmc"]\n')
    wait_for(lambda: pdns.query("r1-ilo.dc.test.") == ["10.0.2.1"], 20, what="ilo")
    wait_for(lambda: pdns.query("r2-idrac.dc.test.") == ["10.0.2.2"], 20, what="idrac")
    # the first reservation (lowest host_id) keeps a name; the second is reported
    wait_for(lambda: pdns.query("r4-bmc.dc.test.") == ["10.0.2.4"], 20, what="bmc")
    assert pdns.query("r3-web.dc.test.") == []
    assert "r4-bmc.dc.test. refused: the name is held by a host of source kea-reservation" \
        in d.read_log()
    assert metric(d, "prism_source_changes_total", source="kea-reservation",
                  result="conflict") == 1
    # a name an agent holds is refused, as the change comes in
    assert d.register("r5-bmc")["status"] == "success"
    sql(pg, keadb, reservation_sql("r5-bmc.managed.prism.local", "10.0.2.6",
                                   "02:00:00:00:02:06"))
    wait_for(lambda: metric(d, "prism_source_changes_total", source="kea-reservation",
                            result="conflict") == 2, 10, what="conflict with the agent")
    # the agent's record goes out once its ownership check (a read of the zone) is done
    wait_for(lambda: pdns.query("r5-bmc.managed.prism.local.") == ["127.0.0.1"], 15,
             what="the agent's record")
    assert "r5-bmc.managed.prism.local. refused: the name is held by a host of source " \
        "agent" in d.read_log()


def test_reconnect_and_catch_up(prismd_factory, pdns, pg, keadb):
    d = start(prismd_factory, pdns, pg, keadb)
    wait_for(lambda: metric(d, "prism_kea_db_syncs_total") == 1, 20, what="first sync")
    # cut prismd's connection and change the table before it can reconnect: the
    # notifications are lost, the consistency sync after reconnecting finds the changes
    pg.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "application_name = 'prismd'; " +
            reservation_sql("missed1", "10.0.3.1", "02:00:00:00:03:01"), db=keadb)
    wait_for(lambda: pdns.query("missed1.dc.test.") == ["10.0.3.1"], 20,
             what="caught up after reconnecting")
    assert metric(d, "prism_kea_db_disconnects_total") >= 1
    assert metric(d, "prism_kea_db_syncs_total") >= 2
    # the whole server restarts: prismd retries with backoff and catches up again
    pg.stop()
    wait_for(lambda: metric(d, "prism_kea_db_connected") == 0, 20, what="noticed the loss")
    pg.start()
    sql(pg, keadb, reservation_sql("after1", "10.0.3.2", "02:00:00:00:03:02"))
    wait_for(lambda: pdns.query("after1.dc.test.") == ["10.0.3.2"], 30,
             what="back after the database restart")
    assert metric(d, "prism_kea_db_connected") == 1
    assert "connection to PostgreSQL lost" in d.read_log()


def test_once(prismd_factory, pdns, pg, keadb):
    sql(pg, keadb, reservation_sql("once1", "10.0.4.1", "02:00:00:00:04:01"),
        reservation_sql("once2", "10.0.4.2", "02:00:00:00:04:02"))
    d = prismd_factory(pdns, start=False, extra_yaml=kea_yaml(pg, keadb),
                       env={"KEA_DB_PASSWORD": "kea"})

    def once(*extra):
        return subprocess.run([PRISMD, "--config", d.config, "--once"] + list(extra),
                              capture_output=True, text=True, env=d.env, timeout=120)
    r = once()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 added" in r.stdout and "converged" in r.stdout
    assert pdns.query("once1.dc.test.") == ["10.0.4.1"]
    assert pdns.query("once2.dc.test.") == ["10.0.4.2"]
    # again: nothing to do, still converged
    r = once()
    assert r.returncode == 0 and "0 added, 0 updated, 0 removed, 2 unchanged" in r.stdout
    sql(pg, keadb, "DELETE FROM hosts WHERE hostname = 'once2'")
    r = once()
    assert r.returncode == 0 and "1 removed" in r.stdout
    assert pdns.query("once2.dc.test.") == []
    # a name an agent holds: the rest is published, the exit status says it was refused
    d.start()
    assert d.register("web7")["status"] == "success"
    d.stop()
    sql(pg, keadb, reservation_sql("web7.managed.prism.local", "10.0.4.7",
                                   "02:00:00:00:04:07"))
    r = once()
    assert r.returncode == 1 and "some names were refused" in r.stdout, r.stdout
    sql(pg, keadb, "DELETE FROM hosts WHERE hostname = 'web7.managed.prism.local'")
    # a target that refuses the records: not converged within the timeout
    pdns.stop()
    sql(pg, keadb, reservation_sql("once3", "10.0.4.3", "02:00:00:00:04:03"))
    r = once("--once-timeout", "2")
    assert r.returncode == 1 and "not converged after 2 s" in r.stdout
    pdns.start()
    # the database is gone: exit status 1 at once
    pg.stop()
    try:
        r = once()
        assert r.returncode == 1 and "consistency sync failed" in r.stdout
    finally:
        pg.start()
