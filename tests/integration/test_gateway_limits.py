# SPDX-License-Identifier: MIT
"""Gateway limits per target against a real PowerDNS behind a small fault-injecting proxy:
the rate limit (requests a second seen by the proxy), the circuit breaker (no request
while open, one probe when half-open, closed again once the target answers) and
powerdns.retry_attempts (quick retries hide short failures; 0 backs off at once)."""
import http.server
import re
import threading
import time

import pytest
import requests

import drill
from prismlib import PowerDNS, wait_for

pytestmark = pytest.mark.serial  # requests per second and breaker gaps are measured

ZONE = "managed.prism.local."
KEYS = "api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"


class Proxy:
    """HTTP proxy to a PowerDNS API that logs every request and can answer 503 instead."""

    def __init__(self, upstream):
        self.upstream = upstream  # http://127.0.0.1:PORT
        self.log = []             # (monotonic time, method, path, status)
        self.fail_all = False
        self.fail_next = 0        # so many requests matching fail_method answer 503
        self.fail_method = None
        self.fail_when = None     # (method, path, body) -> a status to answer instead, or None
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def relay(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                with proxy.lock:
                    fail = proxy.fail_all
                    if not fail and proxy.fail_next > 0 and \
                            proxy.fail_method in (None, self.command):
                        proxy.fail_next -= 1
                        fail = True
                    injected = proxy.fail_when(self.command, self.path, body or b"") \
                        if proxy.fail_when else None
                if injected:
                    status, data, ctype = injected, b'{"error": "injected"}', "application/json"
                elif fail:
                    status, data, ctype = 503, b'{"error": "injected"}', "application/json"
                else:
                    hdrs = {k: v for k, v in self.headers.items()
                            if k.lower() in ("x-api-key", "content-type", "accept")}
                    r = requests.request(self.command, proxy.upstream + self.path,
                                         data=body, headers=hdrs, timeout=10)
                    status, data = r.status_code, r.content
                    ctype = r.headers.get("Content-Type", "application/json")
                with proxy.lock:
                    proxy.log.append((time.monotonic(), self.command, self.path, status))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = relay

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def api_url(self):
        return f"http://127.0.0.1:{self.port}/api/v1"

    def entries(self):
        with self.lock:
            return list(self.log)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pdns_proxy(pdns):
    p = Proxy(f"http://127.0.0.1:{pdns.api_port}")
    yield pdns, p
    p.stop()


def target_yaml(proxy, key, extra=""):
    return (f"targets:\n  - name: gw\n    api_url: \"{proxy.api_url}\"\n    api_key: \"{key}\"\n"
            + extra)


def zone_on(p, zone):
    return p.api("GET", f"/zones/{zone}").status_code == 200


def gateway(d):
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/targets", timeout=5,
                     headers={"X-API-Key": "adm1n"})
    assert r.status_code == 200, r.text
    return r.json()["targets"][0]["gateway"]


def test_rate_limit_caps_requests_a_second(prismd_factory, pdns_proxy):
    pdns, proxy = pdns_proxy
    qps = 5
    names = [f"z{i}.test" for i in range(10)]
    zones = "zones:\n  - name: managed.prism.local\n" + \
        "".join(f"  - name: {z}\n" for z in names)
    prismd_factory(None, extra_yaml=target_yaml(proxy, pdns.key, f"    rate_limit_qps: {qps}\n")
                   + zones)
    wait_for(lambda: all(zone_on(pdns, z + ".") for z in names), 60, interval=0.2,
             what="every zone created through the rate-limited target")
    time.sleep(1)
    times = [e[0] for e in proxy.entries()]
    assert len(times) >= 20, len(times)  # each zone: at least a check, a create, a read
    # a bucket of one second's worth: at most 2 x qps in any second (burst + refill)
    busiest = max(sum(1 for u in times if t <= u < t + 1.0) for t in times)
    assert busiest <= 2 * qps, busiest
    span = times[-1] - times[0]
    assert span >= (len(times) - qps) / qps - 0.5, (span, len(times))


def test_circuit_breaker_opens_probes_and_closes(prismd_factory, pdns_proxy):
    pdns, proxy = pdns_proxy
    d = prismd_factory(None, extra_yaml=target_yaml(
        proxy, pdns.key, "    breaker: {threshold: 3, recovery_seconds: 2}\n") +
        "powerdns:\n  retry_attempts: 0\n  retry_delay: 0.1\n"
        "sync:\n  health_interval: 1\n  retry_max: 1\n" + KEYS)
    wait_for(lambda: zone_on(pdns, ZONE), 15, what="zone")
    proxy.fail_all = True
    assert d.register("web1")["status"] == "success"
    t0 = time.monotonic()

    def failed_since():
        return [e for e in proxy.entries() if e[0] >= t0 and e[3] == 503]
    # three failures in a row, then a probe each time the breaker half-opens (2 s)
    wait_for(lambda: len(failed_since()) >= 5, 20, interval=0.1, what="two probes")
    failed = failed_since()
    assert len(failed) >= 4, failed
    # after the third failure in a row the breaker is open: nothing for 2 s, then one
    # probe; the probe fails, so it opens again for 2 s (health checks every second and
    # engine retries every second would otherwise reach the proxy)
    g = gateway(d)
    assert g["breaker"] in ("open", "half-open") and g["breaker_threshold"] == 3, g
    assert g["failures_in_row"] >= 3 and g["retry_attempts"] == 0, g
    times = [e[0] for e in failed]
    gaps = [b - a for a, b in zip(times[2:], times[3:])]
    assert gaps and all(g >= 1.9 for g in gaps), (times, gaps)
    assert all(g < 3.5 for g in gaps), gaps  # one probe each time the breaker half-opens
    proxy.fail_all = False
    wait_for(lambda: pdns.rrset(ZONE, f"web1.{ZONE}", "A") is not None, 15,
             what="record after the target heals")
    assert "circuit breaker open after 3 failed requests in a row" in d.read_log()
    wait_for(lambda: gateway(d)["breaker"] == "closed", 10, what="breaker closed")
    assert gateway(d)["failures_in_row"] == 0


def register_with_failing_patches(prismd_factory, pdns, proxy, powerdns_yaml, failures):
    """prismd behind the proxy; the next `failures` PATCHes answer 503; web1 registers."""
    d = prismd_factory(None, extra_yaml=target_yaml(proxy, pdns.key) + "powerdns:\n" +
                       powerdns_yaml + "sync:\n  health_interval: 0\n")
    wait_for(lambda: zone_on(pdns, ZONE), 15, what="zone")
    proxy.fail_method, proxy.fail_next = "PATCH", failures
    t0 = time.monotonic()
    assert d.register("web1")["status"] == "success"
    return d, t0


def test_quick_retries_hide_short_failures(prismd_factory, pdns_proxy):
    pdns, proxy = pdns_proxy
    d, t0 = register_with_failing_patches(prismd_factory, pdns, proxy,
                                          "  retry_attempts: 3\n  retry_delay: 5\n", 2)
    wait_for(lambda: pdns.rrset(ZONE, f"web1.{ZONE}", "A") is not None, 4,
             what="record despite two failed PATCHes (the backoff would take 5 s)")
    # the proxy logs a request after relaying its answer: the record can show first
    def patches():
        return [e for e in proxy.entries() if e[0] >= t0 and e[1] == "PATCH"]
    wait_for(lambda: len(patches()) >= 3, 5, what="the third PATCH in the proxy's log")
    patches = patches()
    assert [e[3] for e in patches[:3]] == [503, 503, 204], patches
    assert patches[1][0] - patches[0][0] >= 0.09 and patches[2][0] - patches[1][0] >= 0.19
    assert "push failed" not in d.read_log() and "retry in" not in d.read_log()


def test_no_quick_retry_backs_off(prismd_factory, pdns_proxy):
    pdns, proxy = pdns_proxy
    d, _ = register_with_failing_patches(prismd_factory, pdns, proxy,
                                         "  retry_attempts: 0\n  retry_delay: 0.5\n", 1)
    wait_for(lambda: pdns.rrset(ZONE, f"web1.{ZONE}", "A") is not None, 10, what="record")
    # no quick retry: the engine backs off at once, retry_delay with jitter (half to whole)
    assert re.search(r"push failed \(HTTP 503: injected\), retry in 0\.[2-5] s \(failure 1\)",
                     d.read_log()), d.read_log()


def set_paused(d, paused):
    r = requests.post(f"http://127.0.0.1:{d.api_port}/api/v1/targets/gw/"
                      f"{'pause' if paused else 'resume'}", timeout=5,
                      headers={"X-API-Key": "adm1n"})
    assert r.status_code == 200, r.text


def test_pause_stops_a_round_being_pushed(prismd_factory, pdns_proxy):
    """A pause answered while a round is pushed: the request in flight ends, the rest of
    the round is not sent (and not recorded as failed), the rows stay due for the resume."""
    pdns, proxy = pdns_proxy
    d = prismd_factory(None, extra_yaml=target_yaml(
        proxy, pdns.key, "    rate_limit_qps: 1\n    max_body_bytes: 65536\n") + KEYS)
    wait_for(lambda: zone_on(pdns, ZONE), 15, what="zone")
    set_paused(d, True)
    names = [f"round{i}" for i in range(3000)]
    answers = drill.register_sync(d, names, timeout=30)
    assert sum(1 for a in answers.values() if a["status"] == "success") == len(names)

    def patches():
        return [e for e in proxy.entries() if e[1] == "PATCH"]
    before = len(patches())

    def synced():
        return d.db_query("SELECT count(*) FROM ledger WHERE status = 'synced'")[0][0]
    synced_before = synced()
    set_paused(d, False)  # one round of 3,000 rows: 11 requests of 64 KiB
    wait_for(lambda: len(patches()) > before, 15, interval=0.05, what="the round's first PATCH")
    set_paused(d, True)
    paused_at = len(patches())
    # a round records its rows once, when it is over: the sent ones synced. Over once the
    # request in flight ended, had the pause dropped the rest; else only after the other
    # PATCHes, at one request a second (a PATCH and its cache flush)
    wait_for(lambda: synced() > synced_before, 60, what="the round recorded")
    sent = len(patches()) - paused_at
    assert sent <= 1, f"{sent} PATCH(es) after the pause answered (one may be in flight)"
    failed = d.db_query("SELECT count(*) FROM ledger WHERE status = 'failed'")[0][0]
    pending = d.db_query("SELECT count(*) FROM ledger WHERE status = 'pending'")[0][0]
    assert failed == 0 and pending > 0, (failed, pending)
    set_paused(d, False)
    wait_for(lambda: d.db_query("SELECT count(*) FROM ledger WHERE status = 'synced'")[0][0]
             == len(names), 60, what="every row synced after the resume")
    assert pdns.query(f"round2999.{ZONE}") == ["127.0.0.1"]
