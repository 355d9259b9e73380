# SPDX-License-Identifier: MIT
"""The REST API with its registry reads on threads of their own (what a backend whose reads
block, PostgreSQL, gets), forced on SQLite with PRISM_TEST_API_READ_THREADS=1: the whole
API and zone suites once more on that path, then what is particular to it — API keys of
the registry checked on a thread, many requests at once, a stop while they run."""
import concurrent.futures
import os
import signal

import pytest

import test_api
import test_zones
from prismlib import wait_for
from test_api import *  # noqa: F401,F403 (the API suite, collected again here)
from test_zones import *  # noqa: F401,F403 (the zone suite)
from test_api import ADMIN, KEYS, Api, err, metric, metrics

assert test_api and test_zones


@pytest.fixture(autouse=True)
def read_threads(monkeypatch):
    # Prismd copies os.environ when it is made
    monkeypatch.setenv("PRISM_TEST_API_READ_THREADS", "1")


def test_reads_run_on_threads(prismd_factory):
    d = prismd_factory(extra_yaml=KEYS)
    Api(d)
    assert "registry reads on 4 threads of their own" in d.read_log()


def test_registry_keys_and_many_requests_at_once(prismd_factory):
    d = prismd_factory(extra_yaml=KEYS)
    api = Api(d)
    r = api("POST", "/api/v1/keys", headers=ADMIN, json={"name": "ops", "role": "read"})
    assert r.status_code == 201, r.text
    key = {"X-API-Key": r.json()["key"]}
    for i in range(20):
        assert d.register(f"h{i:02d}")["status"] == "success"
    base = api.base

    def one(i):
        import requests
        path = ("/api/v1/hosts?limit=5", "/api/hosts", "/api/v1/whoami", "/metrics",
                "/api/health")[i % 5]
        return path, requests.get(base + path, headers=key, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        answers = list(ex.map(one, range(400)))
    for path, r in answers:
        assert r.status_code == 200, (path, r.status_code, r.text)
    assert all(r.json()["name"] == "ops" for p, r in answers if p == "/api/v1/whoami")
    assert all(len(r.json()["hosts"]) == 5 for p, r in answers if p.startswith("/api/v1/h"))
    ms = metrics(api, headers=key)
    assert metric(ms, "prism_online_hosts_total") == 20
    # a key the registry does not hold, and a read key on an admin route
    err(api.get("/api/v1/hosts", headers={"X-API-Key": "nope"}), 401, "unauthorized")
    err(api.get("/api/v1/keys", headers=key), 403, "forbidden")


def test_no_key_anywhere_says_so(prismd_factory):
    d = prismd_factory()
    api = Api(d)
    msg = err(api.get("/api/v1/hosts", headers={}), 401, "unauthorized")
    assert "no API key is configured" in msg


def test_stop_while_reads_run(prismd_factory):
    d = prismd_factory(extra_yaml=KEYS)
    api = Api(d)
    for i in range(50):
        d.register(f"s{i:02d}")
    base = api.base
    stop = []

    def hammer(_):
        import requests
        n = 0
        while not stop:
            try:
                requests.get(base + "/api/v1/hosts?limit=50", headers=ADMIN, timeout=5)
                n += 1
            except requests.RequestException:
                break
        return n

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(hammer, i) for i in range(8)]
        wait_for(lambda: os.path.getsize(d.log_path) > 0, 5)
        d.proc.send_signal(signal.SIGTERM)
        rc = d.proc.wait(20)
        stop.append(True)
        [f.result() for f in futs]
    d.proc = None
    d.logf.close()
    assert rc == 0, d.read_log()[-3000:]
