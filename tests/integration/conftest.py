# SPDX-License-Identifier: MIT
"""pytest fixtures: a real PowerDNS and the built prismd per test, on free loopback ports.
Teardown fails the test if prismd died on its own, exited uncleanly, or its log shows a
sanitizer report."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from prismlib import PRISMD, PowerDNS, Prismd  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report carries the tail of every prismd log still running (a shared
    fixture's too): what the engine did is then in the CI log, not in a rotated temp dir."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" and rep.failed:
        for d in list(Prismd.running):
            try:
                rep.sections.append((f"prismd log {d.log_path} (tail)", d.read_log()[-6000:]))
            except OSError:
                pass


def pytest_configure(config):
    # scripts/check.sh runs the suite in two passes (docs/development.md): everything not
    # marked serial in parallel under pytest-xdist (-n N --dist loadgroup -m "not serial"),
    # then the serial tests alone (-m serial).
    config.addinivalue_line(
        "markers", "serial: needs the machine to itself (measures figures, floods, tight "
                   "timing bounds); run after the parallel pass, one test at a time")
    config.addinivalue_line(
        "markers", "xdist_group(name): tests of one group run on one xdist worker, one at a "
                   "time (for shared system state, e.g. network namespace addresses)")
    if not os.access(PRISMD, os.X_OK):
        raise pytest.UsageError(f"{PRISMD} is not built; run scripts/check.sh or set "
                                "PRISM_BUILD_DIR")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Tests that share a module- or class-scoped fixture, e.g. one browser for a module, run
    on one xdist worker (an xdist_group named after the module), so it is set up once."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info and any(fd.scope in ("module", "class")
                        for fds in info.name2fixturedefs.values() for fd in fds):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))


@pytest.fixture
def pdns():
    p = PowerDNS().start()
    yield p
    p.cleanup()


@pytest.fixture
def pdns2():
    """A second PowerDNS, for tests with several targets."""
    p = PowerDNS().start()
    yield p
    p.cleanup()


@pytest.fixture
def prismd_factory(tmp_path):
    started = []

    def make(pdns=None, name="prismd", start=True, **kw):
        d = Prismd(tmp_path / f"{name}{len(started)}", pdns=pdns, **kw)
        started.append(d)
        if start:
            d.start()
        return d
    yield make
    problems = []
    for d in started:
        if d.proc is not None:
            if d.proc.poll() is not None and not d.expect_dead:
                problems.append(f"prismd died during the test (exit {d.proc.returncode})")
            rc = d.stop()
            if rc != 0 and not d.expect_dead:
                problems.append(f"prismd exited with status {rc} on SIGTERM")
        found = d.sanitizer_report()
        if found:
            problems.append(f"sanitizer report in prismd log: {found}\n{d.read_log()[-4000:]}")
    if problems:
        tails = "\n".join(f"--- {d.log_path}:\n{d.read_log()[-3000:]}" for d in started)
        pytest.fail("; ".join(problems) + "\n" + tails)


@pytest.fixture
def prismd(pdns, prismd_factory):
    return prismd_factory(pdns)
