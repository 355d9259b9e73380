# SPDX-License-Identifier: MIT
"""The registry on PostgreSQL (database.type: postgresql), against a real PostgreSQL 15
started here on loopback: the store conformance suite on it, and prismd with real PowerDNS
registering agents through it, PostgreSQL stopped (clear errors, 503) and started again
(registrations go on, nothing acknowledged is lost)."""
import os
import re
import subprocess

import pytest
import requests

from kealib import Postgres
from prismlib import BUILD, wait_for
from test_api import ADMIN, KEYS

ZONE = "managed.prism.local."
CONFORMANCE = os.path.join(BUILD, "tests", "unit", "test_store_conformance")
STORE_ERROR = "Server error: registration could not be stored"


@pytest.fixture
def pg():
    p = Postgres().start()
    yield p
    p.cleanup()


def url(pg, db="postgres"):
    return f"postgresql://postgres@127.0.0.1:{pg.port}/{db}"


def test_conformance_on_postgresql(pg):
    """Every test of the store conformance suite on PostgreSQL (a database per test)."""
    r = subprocess.run([CONFORMANCE], env=dict(os.environ, PRISM_TEST_PG_URL=url(pg)),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=300)
    out = r.stdout
    assert r.returncode == 0, out
    assert "[ BACKEND  ] postgresql" in out, out
    pg_part = out[out.index("[ BACKEND  ] postgresql"):]
    passed = re.search(r"\[  PASSED  \] (\d+) test", pg_part)
    sqlite_passed = re.search(r"\[  PASSED  \] (\d+) test", out[:out.index(pg_part)])
    # every test the SQLite backend passes passes here too: none skipped for a function
    # the backend lacks (such a skip names the function)
    assert passed and sqlite_passed and passed.group(1) == sqlite_passed.group(1), out
    assert not re.findall(r"\[  SKIP    \] postgresql: .*", pg_part), out
    # every database the suite made was dropped
    left = pg.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'prism_conformance%'")
    assert left == "0"


def start_prismd(prismd_factory, pdns, pg, db):
    pg.psql(f"CREATE DATABASE {db}")
    d = prismd_factory(pdns, start=False, extra_yaml=KEYS,
                       env={"PRISM_DATABASE_TYPE": "postgresql",
                            "PRISM_DATABASE_URL": url(pg, db)})
    d.start()
    return d


def api_status(d, path="/api/v1/hosts"):
    return requests.get(f"http://127.0.0.1:{d.api_port}{path}", headers=ADMIN,
                        timeout=10).status_code


def test_agents_on_postgresql_survive_a_restart(pdns, prismd_factory, pg):
    d = start_prismd(prismd_factory, pdns, pg, "prism_e2e")
    log = d.read_log()
    assert "postgresql 127.0.0.1:" in log and "/prism_e2e" in log
    assert "postgres@" not in log  # the URL itself is never logged
    acked = []
    for i in range(20):
        r = d.register(f"pg{i}")
        assert r["status"] == "success", r
        acked.append(f"pg{i}")
    for h in acked:
        wait_for(lambda h=h: pdns.query(h + "." + ZONE) == ["127.0.0.1"], 15,
                 what=f"{h} resolves")
    assert pg.psql("SELECT count(*) FROM hosts", db="prism_e2e") == "20"
    assert api_status(d) == 200

    # PostgreSQL goes away: a registration gets the store error, the API 503
    pg.stop()
    r = d.register("while-down")
    assert r["status"] == "error", r
    assert r["message"] == STORE_ERROR
    assert api_status(d) == 503
    assert d.register("pg0")["status"] == "error"  # a heartbeat too: never a false success

    # back: registrations go on (the backend reconnects), nothing acknowledged is lost
    pg.start()
    r = wait_for(lambda: (a := d.register("after")) and a["status"] == "success" and a, 30,
                 what="registration after PostgreSQL restarted")
    assert r["message"].startswith("New host registered")
    assert d.register("pg1")["message"] == "Heartbeat updated"
    wait_for(lambda: pdns.query("after." + ZONE) == ["127.0.0.1"], 15, what="after resolves")
    names = set(pg.psql("SELECT hostname FROM hosts", db="prism_e2e").split())
    assert set(acked) | {"after"} <= names
    assert "while-down" not in names
    for h in acked:
        assert pdns.query(h + "." + ZONE) == ["127.0.0.1"]
    wait_for(lambda: api_status(d) == 200, 15, what="API answers again")


def test_url_from_a_file_never_logged(prismd_factory, pg, tmp_path):
    """database.url_file: the URL (a password in it) read from a file; logs name the server
    and database only."""
    pg.psql("CREATE DATABASE prism_file")
    f = tmp_path / "db-url"
    f.write_text(f"host=127.0.0.1 port={pg.port} dbname=prism_file user=postgres "
                 "password=s3cret-pw application_name=prism-test\n")
    f.chmod(0o600)
    d = prismd_factory(start=False, extra_yaml=KEYS,
                       env={"PRISM_DATABASE_TYPE": "postgresql",
                            "PRISM_DATABASE_URL_FILE": str(f)})
    d.start()
    assert d.register("fromfile")["status"] == "success"
    assert pg.psql("SELECT hostname FROM hosts", db="prism_file") == "fromfile"
    log = d.read_log()
    assert "postgresql 127.0.0.1:" in log and "/prism_file" in log
    assert "s3cret-pw" not in log


def test_unreachable_at_start_is_a_clear_error(prismd_factory, pg):
    """A server that is not there: prismd refuses to start, saying where it tried."""
    port = pg.port
    pg.stop()
    d = prismd_factory(start=False, env={"PRISM_DATABASE_TYPE": "postgresql",
                                         "PRISM_DATABASE_URL":
                                         f"postgresql://u:pw9@127.0.0.1:{port}/prism"})
    d.expect_dead = True
    with pytest.raises(RuntimeError):
        d.start()
    log = d.read_log()
    assert f"cannot connect to PostgreSQL at 127.0.0.1:{port}/prism" in log
    assert "pw9" not in log


DIRTY_TRIGGERS = ("SELECT string_agg(tgname, ' ' ORDER BY tgname) FROM pg_trigger "
                  "WHERE tgrelid = 'ledger'::regclass AND tgname LIKE 'prism_ha_dirty%'")


def test_migration_4_makes_the_ledger_trigger(pdns, prismd_factory, pg):
    """The trigger that wakes the holder of a target's claim (NOTIFY prism_dirty) is made by
    migration 4: on a registry of schema 3 that has it (an earlier prismd's active-active
    connection made it at every connect) and on one that does not."""
    d = start_prismd(prismd_factory, pdns, pg, "prism_mig")
    assert pg.psql("SELECT max(version) FROM schema_version", db="prism_mig") == "4"
    assert pg.psql(DIRTY_TRIGGERS, db="prism_mig") == "prism_ha_dirty_ins prism_ha_dirty_upd"
    assert d.register("before")["status"] == "success"
    for drop in (False, True):
        assert d.stop() == 0
        pg.psql("DELETE FROM schema_version WHERE version = 4", db="prism_mig")
        if drop:
            pg.psql("DROP FUNCTION prism_ha_dirty() CASCADE", db="prism_mig")
            assert pg.psql(DIRTY_TRIGGERS, db="prism_mig") == ""
        d.start()
        assert pg.psql("SELECT max(version) FROM schema_version", db="prism_mig") == "4"
        assert pg.psql(DIRTY_TRIGGERS, db="prism_mig") == \
            "prism_ha_dirty_ins prism_ha_dirty_upd"
    # it fires: rows made pending in a transaction notify their target at the commit
    out = subprocess.run(
        ["psql", "-X", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "-d",
         "prism_mig"], input="LISTEN prism_dirty;\nUPDATE ledger SET status = 'pending';\n"
        "SELECT 1;\n", capture_output=True, text=True, timeout=30)
    assert 'notification "prism_dirty" with payload "default"' in out.stdout, out
    assert d.register("after")["status"] == "success"
    wait_for(lambda: pdns.query("after." + ZONE) == ["127.0.0.1"], 15, what="after resolves")
