# SPDX-License-Identifier: MIT
"""The command-line surfaces: prismd options and config errors, prism register."""
import subprocess

from prismlib import PRISM, PRISMD, wait_for


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, **kw)


def test_prismd_help_and_version():
    r = run([PRISMD, "--help"])
    assert r.returncode == 0
    assert "--config" in r.stdout and "--check-config" in r.stdout
    r = run([PRISMD, "--version"])
    assert r.returncode == 0 and r.stdout.startswith("prismd ")
    r = run([PRISMD, "--bogus"])
    assert r.returncode == 2


def test_prismd_bad_config_names_key(tmp_path):
    cfg = tmp_path / "server.yaml"
    cfg.write_text("server:\n  tcp_port: 99999\n")
    r = run([PRISMD, "--config", str(cfg)])
    assert r.returncode == 1
    assert "server.tcp_port" in r.stderr
    assert "line 2" in r.stderr
    cfg.write_text("server:\n  tcp_prot: 8080\n")
    r = run([PRISMD, "-c", str(cfg)])
    assert r.returncode == 1 and "server.tcp_prot" in r.stderr
    r = run([PRISMD, "-c", str(tmp_path / "missing.yaml")])
    assert r.returncode == 1 and "missing.yaml" in r.stderr


def test_prismd_check_config_and_env_override(tmp_path):
    cfg = tmp_path / "server.yaml"
    cfg.write_text("powerdns:\n  enabled: false\n")
    r = run([PRISMD, "--check-config", "-c", str(cfg)])
    assert r.returncode == 0, r.stderr
    env = {"PATH": "/usr/bin:/bin", "PRISM_POWERDNS_DEFAULT_TTL": "zero"}
    r = run([PRISMD, "--check-config", "-c", str(cfg)], env=env)
    assert r.returncode == 1 and "PRISM_POWERDNS_DEFAULT_TTL" in r.stderr
    env = {"PATH": "/usr/bin:/bin", "PRISM_POWERDNS_ENABLED": "true"}
    r = run([PRISMD, "--check-config", "-c", str(cfg)], env=env)
    assert r.returncode == 1 and "powerdns.api_key" in r.stderr


def test_prismd_port_in_use_fails_clearly(prismd_factory):
    a = prismd_factory(None)
    b = prismd_factory(None, start=False)
    text = open(b.config).read().replace(f"tcp_port: {b.port}", f"tcp_port: {a.port}")
    open(b.config, "w").write(text)
    r = run([PRISMD, "-c", b.config])
    assert r.returncode == 1
    assert "cannot listen" in r.stderr and str(a.port) in r.stderr


def test_env_overrides_reach_the_daemon(pdns, prismd_factory):
    """PRISM_POWERDNS_* from the environment configure a daemon whose file has no powerdns."""
    d = prismd_factory(None, start=False, env={
        "PRISM_POWERDNS_ENABLED": "yes",
        "PRISM_POWERDNS_API_URL": pdns.api_url,
        "PRISM_POWERDNS_API_KEY": pdns.key,
        "PRISM_POWERDNS_DEFAULT_ZONE": "env.prism.test",
        "PRISM_POWERDNS_DEFAULT_TTL": "123",
    })
    d.start()
    assert d.register("envhost")["status"] == "success"
    wait_for(lambda: pdns.query("envhost.env.prism.test.") == ["127.0.0.1"],
             what="record in the zone named by the environment")
    assert pdns.rrset("env.prism.test.", "envhost.env.prism.test.", "A")["ttl"] == 123


def test_prism_register_cli(pdns, prismd):
    server = f"127.0.0.1:{prismd.port}"
    r = run([PRISM, "register", "--server", server, "--hostname", "cli1"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "success: New host registered with IP 127.0.0.1"
    r = run([PRISM, "register", "-s", server, "-n", "cli1", "--source", "127.0.0.3"])
    assert r.returncode == 0
    assert "IP address changed from 127.0.0.1 to 127.0.0.3" in r.stdout
    wait_for(lambda: pdns.query("cli1.managed.prism.local.") == ["127.0.0.3"],
             what="record moved")
    # an error answer from the server: exit status 1, message printed
    r = run([PRISM, "register", "-s", server, "-n", "bad_name"])
    assert r.returncode == 1
    assert "Invalid message: Invalid hostname" in r.stdout
    r = run([PRISM, "register", "-s", server, "-n", "cli2", "--json"])
    assert r.returncode == 0 and '"status": "success"' in r.stdout


def test_prism_register_unreachable_and_usage():
    r = run([PRISM, "register", "--server", "127.0.0.1:1", "-n", "x", "--timeout", "2"])
    assert r.returncode == 3
    assert "cannot connect" in r.stderr
    r = run([PRISM, "register", "--server", "nonsense", "-n", "x"])
    assert r.returncode == 2
    r = run([PRISM, "--help"])
    assert r.returncode == 0 and "register" in r.stdout
    r = run([PRISM, "frobnicate"])
    assert r.returncode == 2


def test_configuration_reference_is_current():
    """docs/configuration.md embeds `prismd --config-reference`: it cannot drift."""
    import os
    from prismlib import ROOT
    doc = open(os.path.join(ROOT, "docs", "configuration.md")).read()
    begin = doc.index("<!-- BEGIN GENERATED")
    begin = doc.index("\n", begin) + 1
    end = doc.index("<!-- END GENERATED -->")
    r = run([PRISMD, "--config-reference"])
    assert r.returncode == 0
    assert doc[begin:end] == r.stdout, "regenerate the block with prismd --config-reference"
