# SPDX-License-Identifier: MIT
"""`prism inventory`: the registry's hosts (from Kea and agents) as Ansible YAML inventories,
one file per group taken from a pattern's captures on the hostname."""
import os
import subprocess

import pytest
import yaml

from kealib import metric, ncr, send_udp, wait_sources
from prismlib import PRISM, free_port, wait_for

KEY = "admin-key-0123456789"


@pytest.fixture
def invd(prismd_factory):
    port = free_port(udp_too=True)
    d = prismd_factory(None, extra_yaml=f"""zones:
  - name: managed.prism.local.
  - name: dc.test.
api:
  public_metrics: true
  keys:
    - {{name: admin, key: "{KEY}", role: admin}}
kea:
  ncr:
    enabled: true
    listen: "127.0.0.1:{port}"
""")
    wait_sources(d)
    names = [("us3-cab10-ru20-idrac", "10.0.1.20"), ("us3-cab10-ru21-ilo", "10.0.1.21"),
             ("us3-cab11-ru01-bmc", "10.0.1.30"), ("eu1-cab2-ru5-idrac", "10.0.2.5")]
    send_udp(port, *[ncr(f"{n}.dc.test.", ip) for n, ip in names])
    wait_for(lambda: metric(d, "prism_ncr_applied_total") == 4, 10, what="hosts in")
    assert d.register("web1")["status"] == "success"
    return d


def inventory(d, *args):
    return subprocess.run([PRISM, "inventory", "--server", f"http://127.0.0.1:{d.api_port}",
                           "--api-key", KEY] + list(args), capture_output=True, text=True,
                          timeout=30)


def load(path):
    with open(path) as f:
        return yaml.safe_load(f)


def test_inventory_by_site_and_cabinet(invd, tmp_path):
    out = tmp_path / "inv"
    out.mkdir()
    r = inventory(invd, "--pattern", "^([a-z0-9]+)-(cab[0-9]+)-", "--out-dir", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["eu1_cab2.yml", "ungrouped.yml", "us3_cab10.yml",
                                       "us3_cab11.yml"]
    assert "5 host(s) in 4 group(s)" in r.stdout
    g = load(out / "us3_cab10.yml")
    assert g == {"all": {"children": {"us3_cab10": {"hosts": {
        "us3-cab10-ru20-idrac.dc.test": {"ansible_host": "10.0.1.20",
                                         "prism_source": "kea-ddns"},
        "us3-cab10-ru21-ilo.dc.test": {"ansible_host": "10.0.1.21",
                                       "prism_source": "kea-ddns"}}}}}}
    u = load(out / "ungrouped.yml")
    assert u == {"all": {"hosts": {"web1": {"ansible_host": "127.0.0.1",
                                            "prism_source": "agent"}}}}
    # a template, a source filter; files are replaced, not appended to
    r = inventory(invd, "--pattern", "^([a-z]+)([0-9]+)-", "--group", "site_{1}{2}",
                  "--source", "kea-ddns", "--out-dir", str(out))
    assert r.returncode == 0, r.stderr
    assert set(load(out / "site_us3.yml")["all"]["children"]["site_us3"]["hosts"]) == {
        "us3-cab10-ru20-idrac.dc.test", "us3-cab10-ru21-ilo.dc.test",
        "us3-cab11-ru01-bmc.dc.test"}
    assert "4 host(s) in 2 group(s)" in r.stdout


def test_inventory_errors(invd, tmp_path):
    tmp_path = tmp_path / "inv"
    tmp_path.mkdir()
    r = inventory(invd, "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "--pattern" in r.stderr
    r = inventory(invd, "--pattern", "(", "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "not a regular expression" in r.stderr
    r = inventory(invd, "--pattern", "^(a)", "--group", "{5}", "--out-dir", str(tmp_path))
    assert r.returncode == 2 and "group template" in r.stderr
    r = inventory(invd, "--pattern", "^(a)", "--out-dir", str(tmp_path / "missing"))
    assert r.returncode == 1 and "cannot write" in r.stderr
    assert os.listdir(tmp_path) == []
