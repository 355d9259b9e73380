# SPDX-License-Identifier: MIT
"""Kea's host reservations in a real PostgreSQL (Kea's own schema, made by kea-admin), the
notification trigger installed by `prism kea install-trigger`, and prismd following them
into a real PowerDNS: the start-up consistency sync, inserts, changes, deletions, the hostname
filter, losing the database and catching up, and `prismd --once`."""
import os
import re
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
        assert pg.psql(count, db=keadb) == "4"
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


# The trigger sites already run for the Kea service (not Prism's): on hosts only, after
# INSERT or UPDATE of a row with a hostname, no host_id in the payload
KEA_SERVICE_TRIGGER = """
CREATE OR REPLACE FUNCTION notify_kea_lease_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kea_lease_events', json_build_object(
    'operation', TG_OP, 'hostname', NEW.hostname, 'ipv4_address', NEW.ipv4_address,
    'dhcp_identifier', encode(NEW.dhcp_identifier, 'hex'))::text);
  RETURN NEW;
END $$;
CREATE TRIGGER kea_lease_events_trigger AFTER INSERT OR UPDATE ON hosts FOR EACH ROW
  WHEN (NEW.hostname IS NOT NULL) EXECUTE FUNCTION notify_kea_lease_events();
"""


def v6_sql(hostname, address, kind=0):
    return ("INSERT INTO ipv6_reservations (address, prefix_len, type, host_id) VALUES "
            f"('{address}', {128 if kind == 0 else 56}, {kind}, "
            f"(SELECT host_id FROM hosts WHERE hostname = '{hostname}'))")


def v6_host_sql(hostname, mac, ipv4="NULL"):
    """A DHCPv6 reservation's host row (ipv4_address NULL, or 0 as Kea writes it)."""
    return ("INSERT INTO hosts (dhcp_identifier, dhcp_identifier_type, dhcp6_subnet_id, "
            f"ipv4_address, hostname) VALUES (decode('{mac.replace(':', '')}', 'hex'), 0, 1, "
            f"{ipv4}, '{hostname}')")


def test_kea_service_trigger(prismd_factory, pdns, pg, keadb):
    """kea.reservations.channel: kea_lease_events follows the Kea service's own trigger as it
    is: changes by their dhcp_identifier, deletions by the consistency syncs."""
    sql(pg, keadb, KEA_SERVICE_TRIGGER,
        reservation_sql("svc0", "10.0.5.10", "02:00:00:00:05:10"))
    d = start(prismd_factory, pdns, pg, keadb, trigger=False,
              extra="    channel: kea_lease_events\n    resync_interval: 2\n")
    wait_for(lambda: pdns.query("svc0.dc.test.") == ["10.0.5.10"], 20, what="start-up sync")
    # insert, new address, rename: each one notification, applied as it comes (the log
    # names each reservation applied from a notification; a sync only counts them)
    sql(pg, keadb, reservation_sql("svc1", "10.0.5.11", "02:00:00:00:05:11"))
    wait_for(lambda: pdns.query("svc1.dc.test.") == ["10.0.5.11"], 10, what="insert")
    sql(pg, keadb, f"UPDATE hosts SET ipv4_address = {ip_int('10.0.5.12')} "
        "WHERE hostname = 'svc1'")
    wait_for(lambda: pdns.query("svc1.dc.test.") == ["10.0.5.12"], 10, what="new address")
    sql(pg, keadb, "UPDATE hosts SET hostname = 'svc2' WHERE hostname = 'svc1'")
    wait_for(lambda: pdns.query("svc2.dc.test.") == ["10.0.5.12"], 10, what="renamed")
    wait_for(lambda: pdns.query("svc1.dc.test.") == [], 10, what="old name gone")
    assert metric(d, "prism_kea_db_notifications_total") >= 3
    assert metric(d, "prism_kea_db_bad_notifications_total") == 0
    log = d.read_log()
    for change in (r"svc1\.dc\.test\. added", r"svc1\.dc\.test\. updated",
                   r"svc2\.dc\.test\. (added|updated)"):
        assert re.search(r"reservation \d+: " + change, log), change
    assert "notifications of the Kea service's trigger on channel kea_lease_events" in log
    assert "notification ignored" not in log
    # a new identifier on the same reservation: found by the new one
    sql(pg, keadb, "UPDATE hosts SET dhcp_identifier = decode('020000000599', 'hex'), "
        f"ipv4_address = {ip_int('10.0.5.13')} WHERE hostname = 'svc2'")
    wait_for(lambda: pdns.query("svc2.dc.test.") == ["10.0.5.13"], 10, what="new identifier")
    # not notified by that trigger: a deletion, a hostname cleared; the syncs catch them
    sql(pg, keadb, "DELETE FROM hosts WHERE hostname = 'svc2'",
        "UPDATE hosts SET hostname = NULL WHERE hostname = 'svc0'")
    wait_for(lambda: pdns.query("svc2.dc.test.") == [], 15, what="deletion at a resync")
    wait_for(lambda: pdns.query("svc0.dc.test.") == [], 15, what="cleared at a resync")
    # IPv6: the host row and its IPv6 reservation in one transaction, as Kea writes them
    pg.psql("BEGIN; " + v6_host_sql("svc6", "02:00:00:00:05:66", ipv4="0") + "; " +
            v6_sql("svc6", "2001:db8:5::66") + "; COMMIT", db=keadb, user="kea")
    wait_for(lambda: pdns.query("svc6.dc.test.", "AAAA") == ["2001:db8:5::66"], 10,
             what="AAAA of the Kea service's notification")
    assert pdns.query("svc6.dc.test.") == []


def test_ipv6_reservations(prismd_factory, pdns, pg, keadb):
    """Kea's ipv6_reservations become AAAA records: at the start-up sync and as they change
    (Prism's trigger is on that table too)."""
    sql(pg, keadb,
        reservation_sql("dual1", "10.0.6.1", "02:00:00:00:06:01"),
        v6_sql("dual1", "2001:DB8:6:0::1"),
        v6_sql("dual1", "2001:db8:6:100::", kind=2),   # a prefix: no record
        v6_host_sql("only6", "02:00:00:00:06:02"),
        v6_sql("only6", "2001:db8:6::2"),
        v6_host_sql("zero4", "02:00:00:00:06:03", ipv4="0"),
        v6_sql("zero4", "2001:db8:6::3"),
        v6_host_sql("noaddr", "02:00:00:00:06:04"))
    d = start(prismd_factory, pdns, pg, keadb)
    wait_for(lambda: pdns.query("dual1.dc.test.", "AAAA") == ["2001:db8:6::1"], 20,
             what="AAAA at the start-up sync (canonical text)")
    assert pdns.query("dual1.dc.test.") == ["10.0.6.1"]
    wait_for(lambda: pdns.query("only6.dc.test.", "AAAA") == ["2001:db8:6::2"], 20,
             what="IPv6-only reservation")
    wait_for(lambda: pdns.query("zero4.dc.test.", "AAAA") == ["2001:db8:6::3"], 20,
             what="ipv4_address 0 is no address")
    assert pdns.query("only6.dc.test.") == [] and pdns.query("zero4.dc.test.") == []
    assert pdns.query("noaddr.dc.test.", "AAAA") == []
    assert "consistency sync of 3 reservation(s)" in d.read_log()
    # live, through the trigger on ipv6_reservations
    sql(pg, keadb, v6_sql("noaddr", "2001:db8:6::4"))
    wait_for(lambda: pdns.query("noaddr.dc.test.", "AAAA") == ["2001:db8:6::4"], 10,
             what="an IPv6 reservation added to a host")
    sql(pg, keadb, "UPDATE ipv6_reservations SET address = '2001:db8:6::14' "
        "WHERE address = '2001:db8:6::4'")
    wait_for(lambda: pdns.query("noaddr.dc.test.", "AAAA") == ["2001:db8:6::14"], 10,
             what="an IPv6 reservation changed")
    sql(pg, keadb, "DELETE FROM ipv6_reservations WHERE address = '2001:DB8:6:0::1'")
    wait_for(lambda: pdns.query("dual1.dc.test.", "AAAA") == [], 10, what="AAAA withdrawn")
    assert pdns.query("dual1.dc.test.") == ["10.0.6.1"]
    sql(pg, keadb, "DELETE FROM ipv6_reservations WHERE address = '2001:db8:6::14'")
    wait_for(lambda: pdns.query("noaddr.dc.test.", "AAAA") == [], 10,
             what="the host's only address gone")
    # a host row changed: its IPv6 reservation stays (read back with it)
    sql(pg, keadb, "UPDATE hosts SET hostname = 'only6b' WHERE hostname = 'only6'")
    wait_for(lambda: pdns.query("only6b.dc.test.", "AAAA") == ["2001:db8:6::2"], 10,
             what="renamed IPv6-only host")
    wait_for(lambda: pdns.query("only6.dc.test.", "AAAA") == [], 10, what="old name gone")
    sql(pg, keadb, "DELETE FROM hosts WHERE hostname = 'only6b'")
    wait_for(lambda: pdns.query("only6b.dc.test.", "AAAA") == [], 10, what="host deleted")
    # a second start changes nothing
    d.stop()
    d.start()
    wait_for(lambda: "0 added, 0 updated, 0 removed, 2 unchanged" in d.read_log(), 20,
             what="second sync unchanged")


def test_host_name_looked_up_off_the_loop(prismd_factory, pdns, pg, keadb):
    """A host name in the conninfo is looked up by prismd (off the loop) and handed to libpq
    with its addresses, every one tried: "localhost" reaches the server on 127.0.0.1."""
    sql(pg, keadb, reservation_sql("byname", "10.0.3.1", "02:00:00:00:03:01"))
    d = prismd_factory(pdns, start=False,
                       extra_yaml=kea_yaml(pg, keadb).replace("host=127.0.0.1",
                                                             "host=localhost"),
                       env={"KEA_DB_PASSWORD": "kea"})
    assert "host=localhost" in open(d.config).read()
    d.start()
    wait_for(lambda: pdns.query("byname.dc.test.") == ["10.0.3.1"], 20,
             what="a reservation read through a host name")
    assert "cannot look up" not in d.read_log()
