# SPDX-License-Identifier: MIT
"""Crash drill (docs/reliability.md): registrations on pipelined agent connections and REST
API writes at full speed while prismd is killed with SIGKILL at random moments, 20 times,
restarting it each time. Nothing acknowledged may be lost: after every kill the registry
(read while prismd is dead) holds every acknowledged registration, and at the end every
host resolves at PowerDNS to its registered address."""
import asyncio
import os
import random
import sqlite3
import threading
import time

import pytest
import requests

import drill
from drill import ADMIN_KEY, KEYS_YAML, ZONE, report, scale

# figures measured and floods: alone on the machine, after the parallel pass (development.md)
pytestmark = pytest.mark.serial

CYCLES = 20
HOSTS = scale(1500, 20000)   # distinct hosts, re-registered over and over
CONNS = 8                    # pipelined agent connections
DEPTH = 32                   # frames in flight on each
SOURCES = 4                  # 127.0.0.10-13: a host's address changes from cycle to cycle
KILL_AFTER = (0.0, scale(1.2, 3.0))   # seconds after the agent port answers
CONVERGE_LIMIT = scale(120, 600)


def host_name(h):
    return f"crash-{h:05d}"


def ip_of(h, cycle):
    """The address host h registers from in a cycle: its connection's source address."""
    return f"127.0.0.{10 + (h % CONNS + cycle) % SOURCES}"


class Ledger:
    """What the drill sent and what prismd acknowledged."""

    def __init__(self):
        self.acked = {}      # host -> last cycle with a success answer
        self.sent = {}       # host -> last cycle a registration was sent in
        self.answers = 0     # success answers, all cycles
        self.errors = {}     # error answers by message
        self.tokens = set()  # token names whose creation was acknowledged
        self.revoked = set()
        self.deleted = set()  # victim hosts whose deletion was acknowledged
        self.api_writes = 0
        self.lock = threading.Lock()


def registry_rows(db):
    """{hostname: current_ip} read-only: no checkpoint on close, the WAL stays for prismd."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(con.execute("SELECT hostname, current_ip FROM hosts"))
    finally:
        con.close()


def check_acked(db, led):
    """Every acknowledged registration is in the registry, with its address or the one of
    a registration sent later (sent but killed before its answer: may or may not be in)."""
    rows = registry_rows(db)
    missing, wrong = [], []
    for h, c in led.acked.items():
        ip = rows.get(host_name(h))
        if ip is None:
            missing.append(host_name(h))
        elif ip not in {ip_of(h, x) for x in range(c, led.sent[h] + 1)}:
            wrong.append((host_name(h), ip, ip_of(h, c)))
    return rows, missing, wrong


async def agent_load(d, cycle, led, kill_after):
    """Every connection loops over its hosts until prismd is killed under it."""
    def frames(k):
        mine = [h for h in range(HOSTS) if h % CONNS == k]
        pre = {h: drill.registration(host_name(h)) for h in mine}
        for _ in range(1000):  # bounded; the kill ends it long before
            for h in mine:
                led.sent[h] = cycle
                yield h, pre[h]

    def on_answer(h, a):
        if a.get("status") == "success":
            assert a["ip"] == ip_of(h, cycle), a
            led.acked[h] = cycle
            led.answers += 1
        else:
            led.errors[a.get("message")] = led.errors.get(a.get("message"), 0) + 1

    async def killer():
        await asyncio.sleep(kill_after)
        d.proc.kill()  # SIGKILL

    conns = [drill.pipelined(d.port, frames(k), DEPTH, on_answer,
                             source=ip_of(k, cycle), timeout=10)
             for k in range(CONNS)]
    await asyncio.wait_for(asyncio.gather(killer(), *conns), kill_after + 30)


def api_writes(d, cycle, led, stop):
    """Token create/revoke and host delete through the REST API until @p stop; records the
    acknowledged ones (2xx answers)."""
    s = requests.Session()
    s.headers["X-API-Key"] = ADMIN_KEY
    base = f"http://127.0.0.1:{d.api_port}/api/v1"
    n = 0
    while not stop.is_set() and n < 100000:
        n += 1
        name = f"tok-{cycle}-{n}"
        victim = f"victim-{cycle}-{n}"
        try:
            if s.post(f"{base}/tokens", json={"name": name}, timeout=3).status_code == 201:
                with led.lock:
                    led.tokens.add(name)
                    led.api_writes += 1
            if n % 2 == 0:
                prev = f"tok-{cycle}-{n - 1}"
                if s.delete(f"{base}/tokens/{prev}", timeout=3).status_code == 200:
                    with led.lock:
                        led.revoked.add(prev)
                        led.api_writes += 1
            if d.register(victim, source="127.0.0.99")["status"] == "success":
                if s.delete(f"{base}/hosts/{victim}", timeout=3).status_code == 200:
                    with led.lock:
                        led.deleted.add(victim)
                        led.api_writes += 1
        except (requests.RequestException, OSError, TypeError, ValueError):
            stop.wait(0.02)  # prismd is down: try again until the cycle ends


def test_sigkill_20_times_nothing_acknowledged_lost(pdns, prismd_factory):
    seed = int(os.environ.get("PRISM_DRILL_SEED", time.time_ns() % 1000000))
    rnd = random.Random(seed)
    print(f"crash drill seed {seed} (PRISM_DRILL_SEED to repeat)")
    d = prismd_factory(pdns, start=False, extra_yaml=KEYS_YAML)
    led = Ledger()
    t_start = time.monotonic()
    for cycle in range(CYCLES):
        d.start()
        stop = threading.Event()
        writer = threading.Thread(target=api_writes, args=(d, cycle, led, stop), daemon=True)
        writer.start()
        before = led.answers
        try:
            asyncio.run(agent_load(d, cycle, led, rnd.uniform(*KILL_AFTER)))
        finally:
            if d.proc.poll() is None:
                d.proc.kill()
            stop.set()
            writer.join(10)
            d.proc.wait()
            d.proc = None
            d.logf.close()
        assert not writer.is_alive(), "API writer did not stop"
        rows, missing, wrong = check_acked(d.db, led)
        assert not missing, f"cycle {cycle}: acknowledged but not in the registry: {missing[:10]}"
        assert not wrong, f"cycle {cycle}: wrong address after the kill: {wrong[:10]}"
        for v in led.deleted:
            assert v not in rows, f"cycle {cycle}: deleted host {v} is back"
        print(f"cycle {cycle}: {led.answers - before} registrations acknowledged, "
              f"{len(led.acked)} hosts so far, all in the registry")
    load_s = time.monotonic() - t_start

    # a last start: the engine must converge on its own, from whatever the kills left
    t0 = time.monotonic()
    d.start()
    con = sqlite3.connect(d.db, timeout=10)
    try:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        tokens = dict(con.execute("SELECT name, active FROM tokens"))
    finally:
        con.close()
    converge = None
    while time.monotonic() - t0 < CONVERGE_LIMIT:
        pend = d.db_query("SELECT count(*) FROM ledger WHERE status != 'synced'")[0][0]
        unsynced = d.db_query("SELECT count(*) FROM hosts WHERE dns_sync_status != 'synced'")
        if pend == 0 and unsynced[0][0] == 0:
            converge = time.monotonic() - t0
            break
        time.sleep(0.05)
    if converge is None:
        stuck = d.db_query("SELECT * FROM ledger WHERE status != 'synced' LIMIT 5")
        at_pdns = [pdns.rrset(ZONE, r[2], r[3]) for r in stuck]
        raise AssertionError(f"not converged within {CONVERGE_LIMIT} s: {stuck} "
                             f"PowerDNS has {at_pdns}\n{d.read_log()[-3000:]}")

    rows, missing, wrong = check_acked(d.db, led)
    names = [host_name(h) for h in led.acked]
    answers = drill.dns_answers(pdns, [n + "." + ZONE for n in names])
    resolving = sum(1 for n in names if answers[n + "." + ZONE] == [rows.get(n)])
    gone = drill.dns_answers(pdns, [v + "." + ZONE for v in led.deleted])
    still_there = [v for v, a in gone.items() if a]
    lost_tokens = [t for t in led.tokens if t not in tokens]
    bad_revokes = [t for t in led.revoked if tokens.get(t) != 0]
    report("crash", kills=CYCLES, seed=seed, load_s=round(load_s, 1),
           acknowledged=led.answers, hosts_acknowledged=len(led.acked),
           found=len(led.acked) - len(missing), right_address=len(led.acked) - len(missing)
           - len(wrong), resolving=resolving, converge_s=round(converge, 2),
           api_writes_acknowledged=led.api_writes, tokens=len(led.tokens),
           revokes=len(led.revoked), host_deletes=len(led.deleted),
           error_answers=sum(led.errors.values()))
    assert led.answers > 0 and len(led.acked) > 0
    assert not missing and not wrong
    assert resolving == len(names), [n for n in names if answers[n + "." + ZONE]
                                     != [rows.get(n)]][:10]
    assert not still_there, still_there[:10]
    assert not lost_tokens and not bad_revokes, (lost_tokens[:5], bad_revokes[:5])
    assert not led.errors, led.errors
