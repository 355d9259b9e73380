# SPDX-License-Identifier: MIT
"""Holes found by probing a running prismd from outside, as an attacker without a token or
key would (docs/reliability.md, "Hostile input"): each test fails on a prismd without the
fix. Real prismd, real PowerDNS, loopback only."""
import hashlib
import hmac
import os
import stat

import requests

from prismlib import wait_for

ZONE = "managed.prism.local."
KEYS = "api:\n  keys:\n    - {name: admin, key: adm1n, role: admin}\n"
ADMIN = {"X-API-Key": "adm1n"}


def api_url(d, path):
    return f"http://127.0.0.1:{d.api_port}{path}"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


# ---- 7: world-readable state, unkeyed credential hashes ----

def test_state_files_private_and_credentials_keyed(prismd_factory, tmp_path):
    auth = ("auth:\n  required: true\n  tokens:\n    - {name: rack1, token: tok-one}\n"
            "    - {name: rack2, token: tok-two}\n")
    log = str(tmp_path / "prismd-file.log")
    old = os.umask(0)  # the worst umask: every file would be created 0666/0644
    try:
        d = prismd_factory(None, auth_yaml=auth, extra_yaml=KEYS,
                           env={"PRISM_LOGGING_FILE": log})
        assert d.register("bound", token="tok-one")["status"] == "success"
        tok = requests.post(api_url(d, "/api/v1/tokens"), headers=ADMIN,
                            json={"name": "made"}, timeout=10).json()["token"]
        key = requests.post(api_url(d, "/api/v1/keys"), headers=ADMIN,
                            json={"name": "ci", "role": "read"}, timeout=10).json()["key"]
        for path in (d.db, d.db + "-wal", d.db + "-shm"):
            assert mode(path) == 0o600, (path, oct(mode(path)))
        assert mode(log) == 0o640, oct(mode(log))
        # stored hashes are keyed with the registry's own key, not plain SHA-256
        ck = d.db_query("SELECT value FROM meta WHERE name = 'cred_key'")[0][0]
        assert len(ck) == 32
        keyed = lambda t: hmac.new(ck, sha(t).encode(), hashlib.sha256).hexdigest()  # noqa
        assert d.db_query("SELECT hash FROM tokens WHERE name = 'made'")[0][0] == keyed(tok)
        assert d.db_query("SELECT hash FROM api_keys WHERE name = 'ci'")[0][0] == keyed(key)
        assert d.host("bound")["owner_token_hash"] == keyed("tok-one")
        d.stop()

        # a registry of the previous schema (6): plain SHA-256 hashes, no key, 0644 files
        d.db_exec("UPDATE tokens SET hash = ? WHERE name = 'made'", (sha(tok),))
        d.db_exec("UPDATE api_keys SET hash = ? WHERE name = 'ci'", (sha(key),))
        d.db_exec("UPDATE hosts SET owner_token_hash = ? WHERE hostname = 'bound'",
                  (sha("tok-one"),))
        d.db_exec("DROP TABLE meta")
        d.db_exec("PRAGMA user_version = 6")
        for path in (d.db, log):
            os.chmod(path, 0o644)
        d.start()
    finally:
        os.umask(old)
    # the migration keyed every stored hash: every credential in use still works
    ck2 = d.db_query("SELECT value FROM meta WHERE name = 'cred_key'")[0][0]
    assert ck2 != ck
    keyed = lambda t: hmac.new(ck2, sha(t).encode(), hashlib.sha256).hexdigest()  # noqa
    assert d.db_query("SELECT hash FROM tokens WHERE name = 'made'")[0][0] == keyed(tok)
    assert d.db_query("PRAGMA user_version")[0][0] >= 7
    assert d.register("new1", token=tok)["status"] == "success"
    r = requests.get(api_url(d, "/api/v1/hosts"), headers={"X-API-Key": key}, timeout=10)
    assert r.status_code == 200, r.text
    assert d.register("bound", token="tok-two")["message"] == \
        "Hostname 'bound' is registered to another client"
    assert d.register("bound", token="tok-one")["status"] == "success"
    # files an older prismd left readable by everyone are not any more
    for path in (d.db, log):
        assert mode(path) & 0o007 == 0, (path, oct(mode(path)))
    wait_for(lambda: "ready" in open(log).read(), what="log file written")
