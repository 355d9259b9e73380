# SPDX-License-Identifier: MIT
"""The real thing: kea-dhcp4 in a network namespace hands a lease to a real DHCP client
(busybox udhcpc) in another namespace, and prismd turns it into DNS at a real PowerDNS:
through Kea's NameChangeRequests (kea.ncr) and through its memfile lease file
(kea.leases). Needs root (network namespaces, raw sockets)."""
import os

import pytest

from kealib import Kea, Netns, Udhcpc, have, is_root, metric, wait_sources
from prismlib import free_port, wait_for

pytestmark = [
    pytest.mark.skipif(not is_root(), reason="needs root: network namespaces and raw sockets"),
    pytest.mark.skipif(not (have("kea-dhcp4") and have("udhcpc") and have("ip")),
                       reason="needs kea-dhcp4, udhcpc and iproute2 (scripts/deps.sh)"),
    # Netns picks its addresses from the process id: one worker, one namespace at a time
    pytest.mark.xdist_group("netns"),
]

ZONES = """zones:
  - name: managed.prism.local.
  - name: lab.test.
  - name: 10.in-addr.arpa.
api:
  public_metrics: true
"""


def rev(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa."


@pytest.fixture
def netns():
    n = Netns().start()
    yield n
    n.cleanup()


@pytest.fixture
def cleanup():
    items = []
    yield items.append
    for x in reversed(items):
        x.cleanup()


def test_lease_and_release_through_ncr(netns, cleanup, prismd_factory, pdns):
    port = free_port(udp_too=True)
    d = prismd_factory(pdns, extra_yaml=ZONES + f"""kea:
  ncr:
    enabled: true
    listen: "{netns.root_ip}:{port}"
""")
    wait_sources(d)
    kea = Kea(netns, ncr_port=port)
    cleanup(kea)
    kea.start()
    client = Udhcpc(netns, "client1")
    cleanup(client)
    ip = client.start().lease()
    assert ip.startswith("10.99.0.")
    wait_for(lambda: pdns.query("client1.lab.test.") == [ip], 20, what="A from Kea's NCR")
    wait_for(lambda: pdns.query(rev(ip), "PTR") == ["client1.lab.test."], 20, what="PTR")
    h = d.host("client1.lab.test")
    assert h["source"] == "kea-ddns" and h["ipv4"] == ip and h["dhcid4"]
    # Kea's TTL: lease-length (1/3 of valid-lifetime 3600), within kea.ncr.ttl_max 3600
    assert pdns.rrset("lab.test.", "client1.lab.test.", "A")["ttl"] == 1200
    # RELEASE: Kea sends the remove, the records go
    client.release()
    wait_for(lambda: pdns.query("client1.lab.test.") == [], 20, what="A removed on release")
    wait_for(lambda: pdns.query(rev(ip), "PTR") == [], 20, what="PTR removed on release")
    assert d.host("client1.lab.test") is None
    assert metric(d, "prism_ncr_invalid_total") == 0
    assert metric(d, "prism_source_changes_total", source="kea-ddns", result="added") == 1
    assert metric(d, "prism_source_changes_total", source="kea-ddns", result="removed") == 1


def test_memfile_lease_renew_release(netns, cleanup, prismd_factory, pdns):
    # no DDNS: the names come from Kea's lease file alone; LFC runs every 2 s
    kea = Kea(netns, extra={"lease-database": {"type": "memfile", "persist": True,
                                               "lfc-interval": 2}})
    kea.extra["lease-database"]["name"] = kea.lease_file
    cleanup(kea)
    d = prismd_factory(pdns, extra_yaml=ZONES + f"""kea:
  leases:
    file: "{kea.lease_file}"
    zone: lab.test.
    poll_interval: 200
""", env={"PRISM_POWERDNS_AUTO_PTR": "true"})
    kea.start()
    client = Udhcpc(netns, "client2")
    cleanup(client)
    ip = client.start().lease()
    wait_for(lambda: pdns.query("client2.lab.test.") == [ip], 20, what="A from the lease file")
    wait_for(lambda: pdns.query(rev(ip), "PTR") == ["client2.lab.test."], 20, what="PTR")
    assert d.host("client2.lab.test")["source"] == "kea-lease"
    # renewals append lines (and LFC rotates the file meanwhile): the name stays
    lines = metric(d, "prism_kea_lease_lines_total")
    for _ in range(2):
        client.renew()
        wait_for(lambda: metric(d, "prism_kea_lease_lines_total") > lines, 20,
                 what="renewal read")
        lines = metric(d, "prism_kea_lease_lines_total")
    wait_for(lambda: os.path.exists(kea.lease_file + ".2"), 20, what="LFC ran")
    wait_for(lambda: metric(d, "prism_kea_lease_reloads_total") >= 2, 20,
             what="the rotation read whole")
    assert pdns.query("client2.lab.test.") == [ip]
    # RELEASE: Kea writes the lease with lifetime 0
    client.release()
    wait_for(lambda: pdns.query("client2.lab.test.") == [], 20, what="removed on release")
    wait_for(lambda: pdns.query(rev(ip), "PTR") == [], 20, what="PTR removed on release")
    assert metric(d, "prism_kea_lease_bad_lines_total") == 0
