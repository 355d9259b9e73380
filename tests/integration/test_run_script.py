# SPDX-License-Identifier: MIT
"""The README's run command works, twice in a row on the same state."""
import os
import subprocess

import pytest

from prismlib import ROOT


@pytest.mark.skipif(os.environ.get("PRISM_SANITIZER") == "1",
                    reason="the run script uses the normal build; run once per check")
def test_run_script_twice(tmp_path):
    env = dict(os.environ, PRISM_RUN_DIR=str(tmp_path / "run"), PRISM_RUN_HOSTNAME="demo-host")
    for attempt in (1, 2):
        r = subprocess.run(["bash", os.path.join(ROOT, "scripts", "run.sh"), "--once"],
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, f"attempt {attempt}:\n{r.stdout}\n{r.stderr}"
        assert "demo-host.managed.prism.local resolves through PowerDNS" in r.stdout
        assert "127.0.0.1" in r.stdout
    # the second run reused the registry: the host was already known
    assert "Heartbeat updated" in r.stdout
    # nothing left running
    for pidfile in ("prismd.pid", "pdns/pid"):
        assert not (tmp_path / "run" / pidfile).exists()
