# SPDX-License-Identifier: MIT
"""Target health checks against real PowerDNS servers: API, statistics, zone consistency
and the ldns DNS probe; a zone deleted behind Prism's back is detected and restored; a
stopped server is unavailable and comes back; a paused target is in maintenance."""
import subprocess

import requests

from prismlib import PRISMD, free_port, wait_for

ZONE = "managed.prism.local."
KEY = "h3alth-admin"


def config(*servers, interval=1, paused=()):
    y = "targets:\n"
    for i, p in enumerate(servers):
        name = f"pdns{i + 1}"
        y += (f"  - name: {name}\n    api_url: \"{p.api_url}\"\n    api_key: \"{p.key}\"\n"
              f"    dns_address: \"127.0.0.1:{p.dns_port}\"\n"
              f"    paused: {'true' if name in paused else 'false'}\n")
    y += f"sync:\n  health_interval: {interval}\n  probe_timeout: 0.5\n"
    y += f"api:\n  keys:\n    - {{name: admin, key: {KEY}, role: admin}}\n"
    return y


def targets(d):
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/targets",
                     headers={"X-API-Key": KEY}, timeout=5)
    assert r.status_code == 200, r.text
    return {t["name"]: t for t in r.json()["targets"]}


def health(d, name):
    return targets(d)[name]["health"]


def state_is(d, name, state):
    h = health(d, name)
    return h is not None and h["state"] == state


def test_healthy_targets_report_version_dns_and_metrics(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=config(pdns, pdns2))
    assert d.register("web1")["status"] == "success"
    for p in (pdns, pdns2):
        wait_for(lambda: p.query("web1." + ZONE) == ["127.0.0.1"], 15, what="web1")
    for name in ("pdns1", "pdns2"):
        wait_for(lambda: state_is(d, name, "healthy") and health(d, name)["dns"] is True,
                 15, what=f"{name} healthy with a DNS probe")
        h = health(d, name)
        assert h["api"] is True and h["statistics"] is True
        assert h["version"].startswith("4."), h
        assert h["zones_missing"] == 0 and h["serial_mismatches"] == 0
        assert h["reason"] == ""
    m = requests.get(f"http://127.0.0.1:{d.api_port}/metrics", headers={"X-API-Key": KEY},
                     timeout=5).text
    assert 'prism_target_health{target="pdns1",state="healthy"} 1' in m
    assert 'prism_target_health{target="pdns2",state="degraded"} 0' in m
    assert 'prism_target_health_transitions_total{target="pdns1",state="healthy"} 1' in m
    assert 'prism_powerdns_api_requests_total{method="GET",endpoint="statistics",status="200"}' \
        in m


def test_zone_deleted_behind_prisms_back_is_restored(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=config(pdns, pdns2))
    for n in ("keep1", "keep2"):
        assert d.register(n)["status"] == "success"
    wait_for(lambda: pdns2.query("keep2." + ZONE) == ["127.0.0.1"], 15, what="keep2 at pdns2")
    wait_for(lambda: state_is(d, "pdns2", "healthy"), 15, what="pdns2 healthy")
    r = pdns2.api("DELETE", f"/zones/{ZONE}")
    assert r.status_code == 204, r.text
    assert pdns2.query("keep1." + ZONE) != ["127.0.0.1"]
    # the next check finds the zone missing; the engine creates it and re-sends its records
    wait_for(lambda: "managed zone(s) missing" in d.read_log(), 15, what="missing zone logged")
    for n in ("keep1", "keep2"):
        wait_for(lambda: pdns2.query(n + "." + ZONE) == ["127.0.0.1"], 20,
                 what=f"{n} restored at pdns2")
    wait_for(lambda: state_is(d, "pdns2", "healthy"), 15, what="pdns2 healthy again")
    assert targets(d)["pdns2"]["health"]["zones_missing"] == 0
    assert pdns.query("keep1." + ZONE) == ["127.0.0.1"]  # the other target never noticed
    assert "target pdns2: degraded -> healthy" in d.read_log()


def test_extra_zone_is_counted_not_a_fault(prismd_factory, pdns):
    d = prismd_factory(None, extra_yaml=config(pdns))
    r = pdns.api("POST", "/zones", json={"name": "other.example.", "kind": "Native",
                                         "nameservers": ["ns1.other.example."]})
    assert r.status_code == 201, r.text
    wait_for(lambda: state_is(d, "pdns1", "healthy") and health(d, "pdns1")["zones_extra"] == 1,
             15, what="extra zone counted")


def test_stopped_server_is_unavailable_then_recovers(prismd_factory, pdns, pdns2):
    d = prismd_factory(None, extra_yaml=config(pdns, pdns2))
    wait_for(lambda: state_is(d, "pdns2", "healthy"), 15, what="pdns2 healthy")
    pdns2.stop()
    wait_for(lambda: state_is(d, "pdns2", "unavailable"), 15, what="pdns2 unavailable")
    h = health(d, "pdns2")
    assert "API unreachable" in h["reason"], h
    assert h["api"] is False
    assert state_is(d, "pdns1", "healthy")
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/health", timeout=5).json()
    assert r["status"] == "degraded"
    assert any("pdns2" in x for x in r["reasons"]), r
    assert d.register("during")["status"] == "success"
    pdns2.start()
    wait_for(lambda: state_is(d, "pdns2", "healthy"), 20, what="pdns2 healthy again")
    wait_for(lambda: pdns2.query("during." + ZONE) == ["127.0.0.1"], 20, what="caught up")
    log = d.read_log()
    assert "target pdns2: healthy -> unavailable" in log
    assert "target pdns2: unavailable -> healthy" in log


def test_dns_probe_failure_degrades(prismd_factory, pdns):
    # the API answers but nothing listens at the DNS address given
    y = config(pdns).replace(f"127.0.0.1:{pdns.dns_port}", f"127.0.0.1:{free_port(udp_too=True)}")
    d = prismd_factory(None, extra_yaml=y)
    wait_for(lambda: state_is(d, "pdns1", "degraded"), 20, what="degraded by the DNS probe")
    h = health(d, "pdns1")
    assert h["dns"] is False and h["api"] is True, h
    assert "no DNS answer for managed.prism.local. SOA" in h["reason"], h


def test_paused_target_is_in_maintenance(prismd_factory, pdns):
    d = prismd_factory(None, extra_yaml=config(pdns, paused=("pdns1",)))
    wait_for(lambda: state_is(d, "pdns1", "maintenance"), 15, what="maintenance")
    assert health(d, "pdns1")["reason"] == "paused for maintenance"
    r = requests.post(f"http://127.0.0.1:{d.api_port}/api/v1/targets/pdns1/resume",
                      headers={"X-API-Key": KEY}, timeout=5)
    assert r.status_code == 200, r.text
    wait_for(lambda: state_is(d, "pdns1", "healthy"), 15, what="healthy after resume")


def test_health_checks_off(prismd_factory, pdns):
    d = prismd_factory(None, extra_yaml=config(pdns, interval=0))
    assert d.register("quiet")["status"] == "success"
    wait_for(lambda: pdns.query("quiet." + ZONE) == ["127.0.0.1"], 15, what="quiet")
    assert health(d, "pdns1")["checked_at"] is None or health(d, "pdns1")["state"] == "unknown"


def test_bad_dns_address_is_a_config_error(prismd_factory, pdns):
    y = config(pdns).replace(f"127.0.0.1:{pdns.dns_port}", "dns.example:53")
    d = prismd_factory(None, extra_yaml=y, start=False)
    r = subprocess.run([PRISMD, "--check-config", "--config", d.config], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0
    assert "targets[1].dns_address: must be an IP address" in r.stdout + r.stderr
