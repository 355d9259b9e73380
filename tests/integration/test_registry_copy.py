# SPDX-License-Identifier: MIT
"""prism registry copy: a SQLite registry made by prismd (agents with a registry token,
an API key, a zone with records, the audit log) copied into a real PostgreSQL and back;
the counts printed per table agree, a non-empty destination is refused without --force,
and a prismd started on each copy serves the same hosts and zones and still accepts the
agent's token and the API key (the credential key came along)."""
import os
import re
import shutil
import sqlite3
import subprocess

import pytest

from kealib import PGBIN, Postgres
from prismlib import PRISM, wait_for
from test_api import ADMIN, KEYS, Api

pytestmark = pytest.mark.skipif(shutil.which("psql") is None or
                                not os.path.exists(PGBIN + "/initdb"),
                                reason="PostgreSQL is not installed")

ZONE = "managed.prism.local."
AUTH = "auth:\n  required: true\n"


@pytest.fixture
def pg():
    p = Postgres().start()
    yield p
    p.cleanup()


def copy(src, dst, *extra):
    r = subprocess.run([PRISM, "registry", "copy", "--from", src, "--to", dst, *extra],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout, r.stderr


def counts(out):
    """{table: (rows, source rows)} from the command's table."""
    return {m.group(1): (int(m.group(2)), int(m.group(3)))
            for m in re.finditer(r"^(\w+)\s+(\d+) rows \(source (\d+)\)$", out, re.M)}


def state(api):
    hosts = sorted((h["hostname"], h["current_ip"], h["status"])
                   for h in api.get("/api/v1/hosts?limit=1000", headers=ADMIN).json()["hosts"])
    zones = [z["name"] for z in api.get("/api/v1/zones", headers=ADMIN).json()["zones"]]
    recs = api.get("/api/v1/zones/copy.test/records", headers=ADMIN).json()["records"]
    tokens = [t["name"] for t in api.get("/api/v1/tokens", headers=ADMIN).json()["tokens"]]
    return hosts, zones, sorted((r["name"], r["type"]) for r in recs), tokens


def test_copy_sqlite_to_postgresql_and_back(prismd_factory, pdns, pg, tmp_path):
    d = prismd_factory(pdns, extra_yaml=KEYS, auth_yaml=AUTH)
    api = Api(d)
    r = api("POST", "/api/v1/tokens", ADMIN, json={"name": "rack1"})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    r = api("POST", "/api/v1/keys", ADMIN, json={"name": "ops", "role": "read"})
    assert r.status_code == 201, r.text
    key = {"X-API-Key": r.json()["key"]}
    for i in range(25):
        assert d.register(f"cp{i:02d}", token=token)["status"] == "success"
    assert api("POST", "/api/v1/zones", ADMIN, json={"name": "copy.test"}).status_code == 201
    recs = [{"name": "www.copy.test.", "type": "A", "ttl": 300, "content": ["192.0.2.7"]},
            {"name": "copy.test.", "type": "TXT", "ttl": 300, "content": ['"moved"']}]
    r = api("POST", "/api/v1/zones/copy.test/records", ADMIN, json={"records": recs})
    assert r.status_code == 200, r.text
    wait_for(lambda: pdns.query("cp24." + ZONE) == ["127.0.0.1"], 15, what="cp24 resolves")
    before = state(api)
    assert len(before[0]) == 25 and "copy.test." in before[1]
    assert d.stop() == 0

    pg.psql("CREATE DATABASE prism")
    pg_url = f"postgresql://postgres@127.0.0.1:{pg.port}/prism"
    rc, out, errs = copy(f"sqlite:{d.db}", f"postgresql:{pg_url}")
    assert rc == 0, out + errs
    n = counts(out)
    assert n["hosts"] == (25, 25) and n["tokens"] == (1, 1) and n["api_keys"] == (1, 1)
    assert n["zones"] == (1, 1) and n["meta"][0] >= 1
    assert all(a == b for a, b in n.values()), out
    assert n["desired"][0] >= 27 and n["audit"][0] >= 4 and n["ledger"][0] >= 25
    assert pg.psql("SELECT count(*) FROM hosts", db="prism") == "25"
    # the destination holds rows now: refused without --force, nothing changed
    rc, out, errs = copy(f"sqlite:{d.db}", f"postgresql:{pg_url}")
    assert rc == 4 and "not empty" in errs and "--force" in errs, out + errs
    rc, out, errs = copy(f"sqlite:{d.db}", f"postgresql:{pg_url}", "--force")
    assert rc == 0 and counts(out)["hosts"] == (25, 25), out + errs

    # prismd on the copy: the same hosts and zones; the agent's token and the API key work
    env = {"PRISM_DATABASE_TYPE": "postgresql", "PRISM_DATABASE_URL": pg_url}
    p = prismd_factory(pdns, extra_yaml=KEYS, auth_yaml=AUTH, env=env)
    papi = Api(p)
    assert state(papi) == before
    assert papi.get("/api/v1/whoami", headers=key).json() == {"name": "ops", "role": "read"}
    assert p.register("cp03", token=token)["message"] == "Heartbeat updated"
    r = p.register("newhost", token=token)
    assert r["status"] == "success", r
    assert p.register("intruder", token="not-the-token")["status"] == "error"
    after_pg = state(papi)
    assert p.stop() == 0

    # and back into a new SQLite file
    back = os.path.join(str(tmp_path), "back.db")
    rc, out, errs = copy(f"postgresql:{pg_url}", f"sqlite:{back}")
    assert rc == 0, out + errs
    n = counts(out)
    assert n["hosts"] == (26, 26) and all(a == b for a, b in n.values()), out
    # the hosts counted by status and DNS status as they are (the copy counts them)
    con = sqlite3.connect(back)
    for table, col in (("host_counts", "status"), ("host_sync_counts", "dns_sync_status")):
        kept = dict(con.execute(f"SELECT status, n FROM {table}").fetchall())
        real = dict(con.execute(f"SELECT {col}, count(*) FROM hosts GROUP BY {col}").fetchall())
        assert {k: v for k, v in kept.items() if v} == real, (table, kept, real)
    con.close()
    s = prismd_factory(pdns, extra_yaml=KEYS, auth_yaml=AUTH, start=False)
    shutil.copy(back, s.db)
    s.start()
    sapi = Api(s)
    assert state(sapi) == after_pg
    assert s.register("cp07", token=token)["message"] == "Heartbeat updated"
    # a new host gets the next id, not one of the copied ones
    assert s.register("newer", token=token)["status"] == "success"
    ids = [h["id"] for h in sapi.get("/api/v1/hosts?limit=1000", headers=ADMIN).json()["hosts"]]
    assert len(ids) == len(set(ids)) == 27


def test_copy_usage_errors(tmp_path):
    rc, _, errs = copy("mysql:x", "sqlite:/tmp/x.db")
    assert rc == 2 and "sqlite:PATH or postgresql:URL" in errs
    rc, _, errs = copy(f"sqlite:{tmp_path}/none.db", f"sqlite:{tmp_path}/b.db")
    assert rc == 1 and "no such registry" in errs
    r = subprocess.run([PRISM, "registry", "copy", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--force" in r.stdout
