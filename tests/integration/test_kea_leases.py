# SPDX-License-Identifier: MIT
"""prismd following a Kea memfile lease file (kea.leases.file) written here line by line
the way kea-dhcp4 writes it, with a real PowerDNS: the last line per address wins; releases,
declines and expiries remove; a half-written line waits; LFC's rotation (FILE.1, FILE.2) is
read whole; a second start writes nothing. (kea-dhcp4 itself: test_kea_dhcp.py.)"""
import os
import time

import pytest

from kealib import metric
from prismlib import wait_for

HEADER = ("address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,"
          "hostname,state,user_context\n")


def line(ip, host, lifetime=3600, expire=None, state=0, mac="02:00:00:00:00:01"):
    expire = int(time.time()) + 3600 if expire is None else expire
    return f"{ip},{mac},,{lifetime},{expire},1,1,1,{host},{state},\n"


def leases_yaml(path, extra=""):
    return f"""zones:
  - name: managed.prism.local.
  - name: lab.test.
  - name: 10.in-addr.arpa.
api:
  public_metrics: true
kea:
  leases:
    file: "{path}"
    zone: lab.test.
    poll_interval: 200
{extra}"""


def append(path, text):
    with open(path, "a") as f:
        f.write(text)


@pytest.fixture
def leased(prismd_factory, pdns, tmp_path):
    path = str(tmp_path / "kea-leases4.csv")
    d = prismd_factory(pdns, extra_yaml=leases_yaml(path),
                       env={"PRISM_POWERDNS_AUTO_PTR": "true"})
    d.lease_file = path
    return d


def test_follow_appends(leased, pdns):
    d, path = leased, leased.lease_file
    wait_for(lambda: "waiting for it" in d.read_log(), 10, what="missing file noticed")
    with open(path, "w") as f:
        f.write(HEADER + line("10.0.5.1", "client1.lab.test") + line("10.0.5.2", "short2"))
    wait_for(lambda: pdns.query("client1.lab.test.") == ["10.0.5.1"], 15, what="first read")
    wait_for(lambda: pdns.query("short2.lab.test.") == ["10.0.5.2"], 15, what="short name")
    wait_for(lambda: pdns.query("1.5.0.10.in-addr.arpa.", "PTR") == ["client1.lab.test."], 15,
             what="PTR")
    assert d.host("client1.lab.test")["source"] == "kea-lease"
    assert pdns.rrset("lab.test.", "client1.lab.test.", "A")["ttl"] == 300
    # a renewal: a new line, nothing to change
    append(path, line("10.0.5.1", "client1.lab.test"))
    wait_for(lambda: metric(d, "prism_kea_lease_lines_total") == 3, 10, what="renewal read")
    # the RELEASE (lifetime 0), a decline, a new lease, a name outside the zones
    append(path, line("10.0.5.1", "client1.lab.test", lifetime=0, expire=int(time.time())) +
           line("10.0.5.2", "short2", state=1) + line("10.0.5.3", "new3.lab.test") +
           line("10.0.5.4", "x.elsewhere.org"))
    wait_for(lambda: pdns.query("client1.lab.test.") == [], 15, what="released")
    wait_for(lambda: pdns.query("short2.lab.test.") == [], 15, what="declined")
    wait_for(lambda: pdns.query("new3.lab.test.") == ["10.0.5.3"], 15, what="new lease")
    assert "hostname 'x.elsewhere.org' ignored: outside every managed zone" in d.read_log()
    # half a line waits for the rest
    append(path, "10.0.5.5,02:00:00:00:00:05,,3600,")
    time.sleep(0.6)
    append(path, f"{int(time.time()) + 3600},1,1,1,half5,0,\n")
    wait_for(lambda: pdns.query("half5.lab.test.") == ["10.0.5.5"], 15, what="completed line")
    # garbage is counted and skipped
    append(path, "not,a,lease\n10.0.5.300,,,1,1,1,1,1,x,0,\n")
    wait_for(lambda: metric(d, "prism_kea_lease_bad_lines_total") == 2, 10, what="bad lines")
    # a client moving to a new address takes its name along (the newest lease wins)
    append(path, line("10.0.5.6", "new3.lab.test"))
    wait_for(lambda: pdns.query("new3.lab.test.") == ["10.0.5.6"], 15, what="name moved")
    wait_for(lambda: pdns.query("3.5.0.10.in-addr.arpa.", "PTR") == [], 15, what="old PTR")
    assert metric(d, "prism_kea_lease_reloads_total") == 1


def test_expiry_without_a_line(leased, pdns):
    d, path = leased, leased.lease_file
    with open(path, "w") as f:
        f.write(HEADER + line("10.0.6.1", "brief", expire=int(time.time()) + 3) +
                line("10.0.6.2", "stays"))
    wait_for(lambda: pdns.query("brief.lab.test.") == ["10.0.6.1"], 15, what="brief lease")
    wait_for(lambda: pdns.query("brief.lab.test.") == [], 15, what="expired by time")
    assert pdns.query("stays.lab.test.") == ["10.0.6.2"]


def test_lfc_rotation_and_restart(leased, pdns):
    d, path = leased, leased.lease_file
    with open(path, "w") as f:
        f.write(HEADER + line("10.0.7.1", "a1") + line("10.0.7.2", "a2") +
                line("10.0.7.3", "a3"))
    wait_for(lambda: pdns.query("a3.lab.test.") == ["10.0.7.3"], 15, what="first read")
    # what Kea does when LFC starts: FILE becomes FILE.1, a new FILE is appended to
    os.rename(path, path + ".1")
    with open(path, "w") as f:
        f.write(HEADER + line("10.0.7.2", "a2", lifetime=0, expire=0) + line("10.0.7.4", "a4"))
    wait_for(lambda: pdns.query("a4.lab.test.") == ["10.0.7.4"], 15, what="after rotation")
    wait_for(lambda: pdns.query("a2.lab.test.") == [], 15, what="released after rotation")
    # kea-lfc: FILE.1 compacted into FILE.2, FILE.1 removed
    with open(path + ".2", "w") as f:
        f.write(HEADER + line("10.0.7.1", "a1") + line("10.0.7.2", "a2") +
                line("10.0.7.3", "a3"))
    os.unlink(path + ".1")
    append(path, line("10.0.7.5", "a5"))
    wait_for(lambda: pdns.query("a5.lab.test.") == ["10.0.7.5"], 15, what="appended")
    for n, ip in (("a1", "10.0.7.1"), ("a3", "10.0.7.3"), ("a4", "10.0.7.4")):
        assert pdns.query(f"{n}.lab.test.") == [ip], n
    assert pdns.query("a2.lab.test.") == []
    assert metric(d, "prism_kea_lease_reloads_total") >= 2
    # a second start on the same file writes nothing
    d.stop()
    d.start()
    wait_for(lambda: "consistency sync of 4 lease(s): 0 added, 0 updated, 0 removed, "
             "4 unchanged" in d.read_log(), 15, what="idempotent restart")
