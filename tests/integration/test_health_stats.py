# SPDX-License-Identifier: MIT
"""The health checks' PowerDNS statistics per target in /metrics (uptime, queries, packet
cache hit ratio, latency, the API's answer time), and health.response_time_ms making a slow
target degraded — against a real PowerDNS, slowed by a delaying TCP proxy on loopback."""
import socket
import threading
import time

import pytest
import requests

from prismlib import free_port, wait_for

pytestmark = pytest.mark.serial  # a target's answer time is measured

KEYS = "api:\n  keys:\n    - {name: r, key: read-key-0123456789, role: read}\n"


class SlowProxy:
    """Forwards 127.0.0.1:port to PowerDNS's API, each connection held `delay` seconds
    before it is passed on."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.delay = 0.0
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(c,), daemon=True).start()

    def one(self, c):
        time.sleep(self.delay)
        try:
            u = socket.create_connection(("127.0.0.1", self.upstream), timeout=10)
        except OSError:
            c.close()
            return

        def pipe(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            finally:
                for s in (a, b):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
        t = threading.Thread(target=pipe, args=(u, c), daemon=True)
        t.start()
        pipe(c, u)
        t.join(15)
        c.close()
        u.close()

    def close(self):
        self.stopping = True
        self.sock.close()


def metrics(d):
    r = requests.get(f"http://127.0.0.1:{d.api_port}/metrics", timeout=5,
                     headers={"X-API-Key": "read-key-0123456789"})
    out = {}
    for line in r.text.splitlines():
        if line.startswith("prism_") and 'target="pdns1"' in line:
            name = line.split("{", 1)[0]
            if "state=" not in line:
                out[name] = float(line.rsplit(" ", 1)[1])
    return out


def health(d):
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/targets", timeout=5,
                     headers={"X-API-Key": "read-key-0123456789"})
    return {t["name"]: t["health"] for t in r.json()["targets"]}["pdns1"]


def target_yaml(api_url, key, extra=""):
    return (f"targets:\n  - name: pdns1\n    api_url: \"{api_url}\"\n    api_key: \"{key}\"\n"
            f"sync:\n  health_interval: 1\n{extra}")


def test_statistics_exported_per_target(prismd_factory, pdns):
    d = prismd_factory(None, extra_yaml=target_yaml(pdns.api_url, pdns.key) + KEYS)
    assert d.register("st1")["status"] == "success"
    wait_for(lambda: pdns.query("st1.managed.prism.local.") == ["127.0.0.1"], 15,
             what="record pushed")
    for _ in range(20):   # the same question: the packet cache answers most of them
        pdns.query("st1.managed.prism.local.")
    wait_for(lambda: metrics(d).get("prism_powerdns_queries_total", 0) >= 21, 15,
             what="queries counted by the next health check")
    m = metrics(d)
    assert m["prism_powerdns_uptime_seconds"] >= 0
    assert 0.5 < m["prism_powerdns_cache_hit_ratio"] <= 1.0, m
    assert m["prism_powerdns_latency_seconds"] >= 0
    assert 0 < m["prism_target_response_seconds"] < 5
    h = health(d)
    assert h["state"] == "healthy" and h["response_ms"] >= 0
    st = h["statistics"]
    assert st["queries"] >= 21 and st["uptime_seconds"] >= 0 and st["latency_us"] >= 0
    assert st["cache_hits"] > st["cache_misses"] > 0


def test_slow_target_is_degraded(prismd_factory, pdns):
    proxy = SlowProxy(pdns.api_port)
    try:
        url = f"http://127.0.0.1:{proxy.port}/api/v1"
        d = prismd_factory(None, extra_yaml=target_yaml(
            url, pdns.key, "health:\n  response_time_ms: 250\n") + KEYS)
        wait_for(lambda: health(d)["state"] == "healthy", 20, what="healthy through the proxy")
        proxy.delay = 0.6
        wait_for(lambda: health(d)["state"] == "degraded", 20, what="degraded when slow")
        reason = health(d)["reason"]
        assert "API: answered in" in reason and "(health.response_time_ms 250)" in reason, \
            reason
        assert metrics(d)["prism_target_response_seconds"] >= 0.6
        proxy.delay = 0.0
        wait_for(lambda: health(d)["state"] == "healthy", 20, what="healthy again")
        assert "target pdns1: healthy -> degraded (API: answered in" in d.read_log()
    finally:
        proxy.close()
