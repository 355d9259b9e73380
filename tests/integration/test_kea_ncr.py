# SPDX-License-Identifier: MIT
"""Kea NameChangeRequests sent to prismd's UDP listener on loopback, with a real PowerDNS:
adds and removes, PTRs, TTL bounds, DHCID conflicts, A and AAAA of one client, names held
by another source, hostile datagrams. (The real kea-dhcp4 and a real client: test_kea_dhcp.py.)"""
import os
import random
import socket
import struct

import pytest
import requests

from kealib import metric, ncr, send_udp, wait_sources
from prismlib import free_port, wait_for

V6REV = "8.b.d.0.1.0.0.2.ip6.arpa."


def kea_yaml(port, extra=""):
    return f"""zones:
  - name: managed.prism.local.
  - name: lab.test.
  - name: 10.in-addr.arpa.
  - name: {V6REV}
api:
  public_metrics: true
  keys:
    - {{name: reader, key: "read-key-0123456789", role: read}}
kea:
  ncr:
    enabled: true
    listen: "127.0.0.1:{port}"
    ttl_min: 30
    ttl_max: 900
{extra}"""


@pytest.fixture
def ncrd(prismd_factory, pdns):
    port = free_port(udp_too=True)
    d = prismd_factory(pdns, extra_yaml=kea_yaml(port))
    d.ncr_port = port
    return wait_sources(d)


def ttl_of(pdns, zone, name, rtype):
    rr = pdns.rrset(zone, name, rtype)
    return rr and rr["ttl"]


def api_host(d, name):
    r = requests.get(f"http://127.0.0.1:{d.api_port}/api/v1/hosts/{name}", timeout=5,
                     headers={"X-API-Key": "read-key-0123456789"})
    return r.json() if r.status_code == 200 else None


def test_add_then_remove(ncrd, pdns):
    d = ncrd
    send_udp(d.ncr_port, ncr("client1.lab.test.", "10.99.0.100", length=1200))
    wait_for(lambda: pdns.query("client1.lab.test.") == ["10.99.0.100"], 15, what="A")
    wait_for(lambda: pdns.query("100.0.99.10.in-addr.arpa.", "PTR") == ["client1.lab.test."],
             15, what="PTR")
    # lease-length 1200 is over kea.ncr.ttl_max
    assert ttl_of(pdns, "lab.test.", "client1.lab.test.", "A") == 900
    h = api_host(d, "client1.lab.test")
    assert h["source"] == "kea-ddns" and h["ipv4"] == "10.99.0.100"
    assert h["dns_name"] == "client1.lab.test."
    # a renewal (the same request again) changes nothing
    send_udp(d.ncr_port, ncr("client1.lab.test.", "10.99.0.100", length=1200))
    wait_for(lambda: metric(d, "prism_ncr_applied_total") == 2, 10, what="renewal")
    assert metric(d, "prism_source_changes_total", source="kea-ddns", result="unchanged") == 1
    # the RELEASE
    send_udp(d.ncr_port, ncr("client1.lab.test.", "10.99.0.100", change=1))
    wait_for(lambda: pdns.query("client1.lab.test.") == [], 15, what="A gone")
    wait_for(lambda: pdns.query("100.0.99.10.in-addr.arpa.", "PTR") == [], 15, what="PTR gone")
    assert api_host(d, "client1.lab.test") is None
    assert metric(d, "prism_source_changes_total", source="kea-ddns", result="added") == 1
    assert metric(d, "prism_source_changes_total", source="kea-ddns", result="removed") == 1


def test_forward_and_reverse_flags_and_ttl_floor(ncrd, pdns):
    d = ncrd
    send_udp(d.ncr_port, ncr("fwd.lab.test.", "10.99.0.21", reverse=False, length=5))
    send_udp(d.ncr_port, ncr("rev.lab.test.", "10.99.0.22", forward=False))
    wait_for(lambda: pdns.query("fwd.lab.test.") == ["10.99.0.21"], 15, what="forward only")
    wait_for(lambda: pdns.query("22.0.99.10.in-addr.arpa.", "PTR") == ["rev.lab.test."], 15,
             what="reverse only")
    assert pdns.query("21.0.99.10.in-addr.arpa.", "PTR") == []
    assert pdns.query("rev.lab.test.") == []
    assert ttl_of(pdns, "lab.test.", "fwd.lab.test.", "A") == 30  # raised to ttl_min


def test_dhcid_conflict(ncrd, pdns):
    d = ncrd
    send_udp(d.ncr_port, ncr("shared.lab.test.", "10.99.0.30", dhcid="0001AA"))
    wait_for(lambda: pdns.query("shared.lab.test.") == ["10.99.0.30"], 15, what="first client")
    # another client (another DHCID) asks for the same name: Kea's check-with-dhcid refuses
    send_udp(d.ncr_port, ncr("shared.lab.test.", "10.99.0.31", dhcid="0001BB"))
    wait_for(lambda: metric(d, "prism_source_changes_total", source="kea-ddns",
                            result="conflict") == 1, 10, what="conflict counted")
    assert pdns.query("shared.lab.test.") == ["10.99.0.30"]
    # nor may it remove the first client's records
    send_udp(d.ncr_port, ncr("shared.lab.test.", "10.99.0.30", change=1, dhcid="0001BB"))
    wait_for(lambda: metric(d, "prism_source_changes_total", source="kea-ddns",
                            result="conflict") == 2, 10, what="second conflict")
    assert pdns.query("shared.lab.test.") == ["10.99.0.30"]
    assert "shared.lab.test. refused: the name is held by another client (another DHCID)" \
        in d.read_log()
    # with conflict resolution off in the request, the name moves
    send_udp(d.ncr_port, ncr("shared.lab.test.", "10.99.0.31", dhcid="0001BB", conflict=False))
    wait_for(lambda: pdns.query("shared.lab.test.") == ["10.99.0.31"], 15, what="taken over")
    wait_for(lambda: pdns.query("31.0.99.10.in-addr.arpa.", "PTR") == ["shared.lab.test."], 15,
             what="new PTR")
    wait_for(lambda: pdns.query("30.0.99.10.in-addr.arpa.", "PTR") == [], 15, what="old PTR")
    # Kea 2.4's conflict-resolution-mode is understood too
    send_udp(d.ncr_port, ncr("shared.lab.test.", "10.99.0.32", dhcid="0001CC",
                             **{"conflict-resolution-mode": "check-with-dhcid"}))
    wait_for(lambda: metric(d, "prism_source_changes_total", source="kea-ddns",
                            result="conflict") == 3, 10, what="third conflict")
    assert pdns.query("shared.lab.test.") == ["10.99.0.31"]


def test_a_and_aaaa_of_one_client_do_not_fight(ncrd, pdns):
    d = ncrd
    # a dual-stack client: kea-dhcp4 and kea-dhcp6 compute different DHCIDs for it
    send_udp(d.ncr_port, ncr("dual.lab.test.", "10.99.0.40", dhcid="000101AA"),
             ncr("dual.lab.test.", "2001:db8::40", dhcid="000201BB"))
    wait_for(lambda: pdns.query("dual.lab.test.") == ["10.99.0.40"], 15, what="A")
    wait_for(lambda: pdns.query("dual.lab.test.", "AAAA") == ["2001:db8::40"], 15, what="AAAA")
    wait_for(lambda: pdns.query(
        "0.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0." + V6REV, "PTR") ==
        ["dual.lab.test."], 15, what="v6 PTR")
    assert metric(d, "prism_source_changes_total", source="kea-ddns", result="conflict") == 0
    # the v4 lease ends: the AAAA stays
    send_udp(d.ncr_port, ncr("dual.lab.test.", "10.99.0.40", change=1, dhcid="000101AA"))
    wait_for(lambda: pdns.query("dual.lab.test.") == [], 15, what="A gone")
    assert pdns.query("dual.lab.test.", "AAAA") == ["2001:db8::40"]
    h = api_host(d, "dual.lab.test")
    assert h["ipv4"] is None and h["ipv6"] == "2001:db8::40"
    # a late remove for an address the client no longer has changes nothing
    send_udp(d.ncr_port, ncr("dual.lab.test.", "2001:db8::99", change=1, dhcid="000201BB"))
    wait_for(lambda: metric(d, "prism_ncr_applied_total") == 4, 10, what="late remove")
    assert pdns.query("dual.lab.test.", "AAAA") == ["2001:db8::40"]


def test_names_of_other_sources_and_zones(ncrd, pdns):
    d = ncrd
    assert d.register("web1")["status"] == "success"
    wait_for(lambda: pdns.query("web1.managed.prism.local.") == ["127.0.0.1"], 15, what="agent")
    send_udp(d.ncr_port, ncr("web1.managed.prism.local.", "10.99.0.50"),
             ncr("far.example.org.", "10.99.0.51"), ncr("lab.test.", "10.99.0.52"))
    wait_for(lambda: metric(d, "prism_source_changes_total", source="kea-ddns",
                            result="conflict") == 1, 10, what="conflict with the agent")
    wait_for(lambda: metric(d, "prism_source_changes_total", source="kea-ddns",
                            result="rejected") == 2, 10, what="outside / apex rejected")
    assert pdns.query("web1.managed.prism.local.") == ["127.0.0.1"]
    log = d.read_log()
    assert "the name is held by a host of source agent" in log
    assert "far.example.org. is not inside a managed zone" in log
    # and the other way round: an agent may not take a DDNS client's name
    send_udp(d.ncr_port, ncr("ddns1.managed.prism.local.", "10.99.0.53"))
    wait_for(lambda: pdns.query("ddns1.managed.prism.local.") == ["10.99.0.53"], 15,
             what="ddns host")
    r = d.register("ddns1")
    assert r["status"] == "error" and r.get("code") == "hostname_conflict", r
    assert "managed by another source (kea-ddns)" in r["message"]
    assert metric(d, "prism_source_changes_total", source="agent", result="conflict") == 1


def hostile():
    """Datagrams that are not NameChangeRequests, each refused for its own reason."""
    good = ncr("x.lab.test.", "10.99.0.60")
    body = good[2:]
    rng = random.Random(7)
    return [
        b"",                                        # empty
        b"\x00",                                    # shorter than the prefix
        b"\xff\xff" + body,                         # prefix says more than follows
        struct.pack(">H", len(body) - 1) + body,    # prefix says less
        struct.pack(">H", 2) + b"{}",               # missing every field
        struct.pack(">H", 5) + b"nope!",            # not JSON
        struct.pack(">H", 400) + b"[" * 200 + b"]" * 200,  # deep nesting
        struct.pack(">H", 7) + b"\xc3\x28\"\xff{}}",       # bad UTF-8
        good.replace(b"10.99.0.60", b"10.99.0.600"),       # bad address (length unchanged?)
        ncr("x.lab.test.", "10.99.0.60", change=7),
        ncr("x_y.lab.test.", "10.99.0.60"),
        ncr("x.lab.test.", "10.99.0.60", dhcid="XYZ1"),
        ncr("x.lab.test.", "10.99.0.60", forward=False, reverse=False),
        ncr("x.lab.test.", "10.99.0.60", length=-5),
        ncr("x.lab.test.", "10.99.0.60", expires="2030-01-01"),
        bytes(rng.getrandbits(8) for _ in range(1400)),
        b"\x00\x10" + bytes(60000),                 # large and wrong
    ]


def test_hostile_datagrams(ncrd, pdns):
    d = ncrd
    bad = hostile()
    # the address case changes the length: fix its prefix so it is a field error
    body = bad[8][2:]
    bad[8] = struct.pack(">H", len(body)) + body
    send_udp(d.ncr_port, *bad)
    wait_for(lambda: metric(d, "prism_ncr_invalid_total") == len(bad), 10,
             what="every hostile datagram counted")
    assert metric(d, "prism_ncr_received_total") == len(bad)
    assert metric(d, "prism_ncr_committed_total") == 0
    # a flood of them is counted in full but logged at most a few lines a second
    flood = [bad[i % len(bad)] for i in range(2000)]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for x in flood:
        s.sendto(x, ("127.0.0.1", d.ncr_port))
    s.close()
    wait_for(lambda: metric(d, "prism_ncr_invalid_total") == len(bad) + 2000, 15,
             what="flood counted")
    refused = d.read_log().count("refused: ")
    assert refused <= 60, refused
    # and prismd still takes a real request
    send_udp(d.ncr_port, ncr("after.lab.test.", "10.99.0.61"))
    wait_for(lambda: pdns.query("after.lab.test.") == ["10.99.0.61"], 15, what="still serving")
    assert d.proc.poll() is None


def test_ncr_listen_refused_when_taken(prismd_factory, pdns):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    port = u.getsockname()[1]
    try:
        d = prismd_factory(pdns, start=False, extra_yaml=kea_yaml(port))
        d.start(wait=False)
        assert d.proc.wait(20) == 1
        d.expect_dead = True
        assert f"kea.ncr.listen: cannot bind 127.0.0.1:{port}" in d.read_log()
    finally:
        u.close()


def test_ncr_never_overwrites_a_foreign_rrset(ncrd, pdns):
    """A Kea name a foreign RRset holds is a conflict like an agent's: checked at the target
    right before the write, left alone, and a removal does not delete it."""
    d = ncrd
    send_udp(d.ncr_port, ncr("seed.lab.test.", "10.99.0.1"))
    wait_for(lambda: pdns.query("seed.lab.test.") == ["10.99.0.1"], 15, what="zone ready")
    body = {"rrsets": [{"name": "printer.lab.test.", "type": "A", "ttl": 300,
                        "changetype": "REPLACE",
                        "records": [{"content": "192.0.2.50", "disabled": False}]}]}
    assert pdns.api("PATCH", "/zones/lab.test.", json=body).status_code == 204
    send_udp(d.ncr_port, ncr("printer.lab.test.", "10.99.0.50"))
    wait_for(lambda: d.db_query("SELECT status FROM ledger WHERE name = ? AND type = 'A'",
                                ("printer.lab.test.",)) == [("conflict",)], 15,
             what="conflict")
    assert pdns.query("printer.lab.test.") == ["192.0.2.50"]
    send_udp(d.ncr_port, ncr("printer.lab.test.", "10.99.0.50", change=1))
    wait_for(lambda: d.db_query("SELECT count(*) FROM desired WHERE name = ?",
                                ("printer.lab.test.",)) == [(0,)], 15, what="name withdrawn")
    wait_for(lambda: d.db_query("SELECT status, last_error LIKE '%not deleted%' FROM ledger "
                                "WHERE name = ? AND type = 'A'", ("printer.lab.test.",))
             == [("conflict", 1)], 15, what="the deletion left alone")
    assert pdns.query("printer.lab.test.") == ["192.0.2.50"]
