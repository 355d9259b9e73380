# SPDX-License-Identifier: MIT
"""Incremental zone reads on RFC 2136 targets, against real BIND and Knot started here: after
the first read (AXFR) the reconciler reads by IXFR from the serial of its copy, a record
deleted with an nsupdate-like UPDATE is still found and repaired, and when the server can no
longer answer from that serial (restarted with its journal gone and the zone file replaced)
the read falls back to a whole-zone transfer and the zone is repaired from it."""
import os
import re

import pytest
import requests

from dnslib import Bind, Knot, _zone_text
from prismlib import wait_for

ZONE = "managed.prism.local."
CONF = (f"powerdns:\n  default_zone: \"{ZONE}\"\n  default_ttl: 60\n  retry_delay: 0.2\n"
        f"zones:\n  - name: {ZONE}\n"
        "sync:\n  reconcile_interval: 1\n  retry_max: 5\n  health_interval: 30\n"
        "api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n")


@pytest.fixture
def bind():
    s = Bind([ZONE]).start()
    yield s
    s.cleanup()


@pytest.fixture
def knot():
    s = Knot([ZONE]).start()
    yield s
    s.cleanup()


def reads(d, target):
    """prism_target_zone_reads_total of @p target by kind."""
    r = requests.get(f"http://127.0.0.1:{d.api_port}/metrics", headers={"X-API-Key": "adm1n"},
                     timeout=5)
    r.raise_for_status()
    out = {"axfr": 0.0, "ixfr": 0.0}
    for m in re.finditer(r'^prism_target_zone_reads_total\{target="([^"]+)",kind="(\w+)"\} '
                         r'(\S+)$', r.text, re.M):
        if m.group(1) == target:
            out[m.group(2)] = float(m.group(3))
    return out


@pytest.mark.parametrize("kind", ["bind", "knot"])
def test_reads_after_changes_are_incremental_and_drift_is_repaired(prismd_factory, kind,
                                                                   request):
    srv = request.getfixturevalue(kind)
    d = prismd_factory(None, extra_yaml=CONF + "targets:\n" + srv.target_yaml(kind))
    # a zone large enough that the differences below stay small beside it (BIND sends the
    # whole zone when they are not: max-ixfr-ratio, 100 % by default)
    for i in range(60):
        d.register(f"h{i}", source=f"127.0.2.{i + 1}")
    wait_for(lambda: srv.query("h59." + ZONE) == ["127.0.2.60"], 20, what="pushed")
    wait_for(lambda: d.host("h59")["dns_sync_status"] == "synced", 20, what="synced")
    # the reconciler reads every second: after the first whole read, differences only
    wait_for(lambda: reads(d, kind)["ixfr"] >= 3, 20, what="incremental reads")
    before = reads(d, kind)
    assert before["axfr"] >= 1
    # more changes, and drift made behind Prism's back
    for i in range(60, 70):
        d.register(f"h{i}", source=f"127.0.2.{i + 1}")
    wait_for(lambda: srv.query("h69." + ZONE) == ["127.0.2.70"], 20, what="second batch")
    assert srv.update(ZONE, lambda u: u.delete("h3", "A")) == "NOERROR"
    assert srv.update(ZONE, lambda u: u.replace("h4", 60, "A", "198.51.100.4")) == "NOERROR"
    wait_for(lambda: srv.query("h3." + ZONE) == ["127.0.2.4"], 20, what="deleted record back")
    wait_for(lambda: srv.query("h4." + ZONE) == ["127.0.2.5"], 20, what="changed record back")
    after = reads(d, kind)
    assert after["ixfr"] > before["ixfr"], (before, after)
    # every read since the first whole one was incremental
    assert after["axfr"] == before["axfr"]
    # reads stay incremental, and the zone holds every record
    wait_for(lambda: reads(d, kind)["ixfr"] >= after["ixfr"] + 2, 20, what="more reads")
    a = {n for n, t, _ in srv.axfr(ZONE) if t == "A"}
    assert all(f"h{i}.{ZONE}" in a for i in range(70))


def test_fallback_to_axfr_when_the_journal_does_not_reach_the_serial(prismd_factory, bind):
    d = prismd_factory(None, extra_yaml=CONF + "targets:\n" + bind.target_yaml("bind"))
    for i in range(5):
        d.register(f"f{i}", source=f"127.0.3.{i + 1}")
    wait_for(lambda: bind.query("f4." + ZONE) == ["127.0.3.5"], 20, what="pushed")
    wait_for(lambda: reads(d, "bind")["ixfr"] >= 2, 20, what="incremental reads")
    serial = bind.soa_serial(ZONE)
    # the server restarted from a zone file without Prism's records, a higher serial and no
    # journal: it cannot answer from Prism's serial incrementally
    bind.stop()
    path = os.path.join(bind.dir, ZONE + "db")
    for f in (path + ".jnl", path):
        if os.path.exists(f):
            os.remove(f)
    with open(path, "w") as f:
        f.write(_zone_text(ZONE).replace(" 1 3600", f" {serial + 100} 3600"))
    before = reads(d, "bind")
    bind.start()  # (Prism may repair the records at once: no check that they are gone)
    assert bind.soa_serial(ZONE) >= serial + 100
    # the read takes the whole zone (an AXFR-style answer, or AXFR after a refused IXFR),
    # and the reconciler puts the records back
    wait_for(lambda: reads(d, "bind")["axfr"] > before["axfr"], 30, what="a whole-zone read")
    wait_for(lambda: all(bind.query(f"f{i}." + ZONE) == [f"127.0.3.{i + 1}"]
                         for i in range(5)), 30, what="records repaired")
    # and reads are incremental again from the new copy
    n = reads(d, "bind")["ixfr"]
    wait_for(lambda: reads(d, "bind")["ixfr"] >= n + 2, 20, what="incremental again")
