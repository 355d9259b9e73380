# SPDX-License-Identifier: MIT
"""The REST API with its SQLite reads inline on the loop (what a one-core machine gets),
forced with PRISM_TEST_API_READ_THREADS=0: the whole API and zone suites once more on that
path. On two cores or more SQLite reads go to the read threads by default (the default
suites run that way; test_api_offloop.py forces it everywhere)."""
import os

import pytest

import test_api
import test_zones
from test_api import *  # noqa: F401,F403 (the API suite, collected again here)
from test_zones import *  # noqa: F401,F403 (the zone suite)
from test_api import KEYS, Api

assert test_api and test_zones


@pytest.fixture(autouse=True)
def inline_reads(monkeypatch):
    # Prismd copies os.environ when it is made
    monkeypatch.setenv("PRISM_TEST_API_READ_THREADS", "0")


def test_reads_inline_when_forced(prismd_factory):
    d = prismd_factory(extra_yaml=KEYS)
    Api(d)
    assert "threads of their own" not in d.read_log()


def test_reads_on_threads_by_default_with_two_cores(prismd_factory, monkeypatch):
    monkeypatch.delenv("PRISM_TEST_API_READ_THREADS")
    d = prismd_factory(extra_yaml=KEYS)
    Api(d)
    threads = "registry reads on 4 threads of their own" in d.read_log()
    assert threads == (len(os.sched_getaffinity(0)) >= 2)
