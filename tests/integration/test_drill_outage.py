# SPDX-License-Identifier: MIT
"""Outage drills (docs/reliability.md): PowerDNS stopped under load and started again;
PowerDNS answering slowly (a delaying TCP proxy on loopback in front of the real one); the
registry's disk full (a small tmpfs). Each time registrations go on being answered, nothing
acknowledged is lost, and DNS converges afterwards with no manual step.

(The Kea source's drill, PostgreSQL restarted under load, comes with the Kea source.)"""
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import requests

import drill
from drill import ADMIN_KEY, KEYS_YAML, ZONE, report, scale
from prismlib import PRISM, wait_for

# figures measured and floods: alone on the machine, after the parallel pass (development.md)
pytestmark = pytest.mark.serial

CONNS = 4
DEPTH = 32
CONVERGE_LIMIT = scale(120, 600)


class Load:
    """Phases of registrations: in phase p every host registers from 127.0.0.(20 + p), so
    each phase changes every address (DNS work), and the last acknowledged phase of a host
    is the address it must end with."""

    def __init__(self, d, hosts, prefix):
        self.d, self.prefix = d, prefix
        self.hosts = [f"{prefix}-{i:05d}" for i in range(hosts)]
        self.last = {}        # host -> phase of its last success answer
        self.errors = {}      # error answers by message
        self.phases = []      # (name, seconds, successes, latencies)

    def run(self, name, seconds, action=None):
        """Load for @p seconds; @p action (if any) runs in a thread as the phase starts."""
        phase = len(self.phases)
        src = f"127.0.0.{20 + phase}"
        lat, ok = [], [0]
        sent_at = {}
        pre = {h: drill.registration(h) for h in self.hosts}

        def frames(k):
            mine = self.hosts[k::CONNS]
            for _ in range(10000):  # bounded; the deadline ends it
                for h in mine:
                    sent_at[h] = time.monotonic()
                    yield h, pre[h]

        def on_answer(h, a):
            if a.get("status") == "success":
                self.last[h] = phase
                ok[0] += 1
                lat.append(time.monotonic() - sent_at[h])
            else:
                self.errors[a.get("message")] = self.errors.get(a.get("message"), 0) + 1

        async def go():
            deadline = time.monotonic() + seconds
            await asyncio.wait_for(asyncio.gather(*[
                drill.pipelined(self.d.port, frames(k), DEPTH, on_answer, source=src,
                                deadline=deadline) for k in range(CONNS)]), seconds + 30)
        t = threading.Thread(target=action) if action else None
        t0 = time.monotonic()
        if t:
            t.start()
        asyncio.run(go())
        took = time.monotonic() - t0
        if t:
            t.join(30)
        lat.sort()
        self.phases.append((name, took, ok[0], lat))
        return ok[0]

    def ip(self, h):
        return f"127.0.0.{20 + self.last[h]}"

    def figures(self):
        out = {}
        for name, took, ok, lat in self.phases:
            p50 = lat[len(lat) // 2] * 1000 if lat else None
            p99 = lat[int(len(lat) * 0.99)] * 1000 if lat else None
            out[name] = f"{ok / took:.0f}/s p50 {p50:.1f} ms p99 {p99:.1f} ms" if lat else "0"
        return out

    def verify(self, pdns):
        """Every acknowledged host in the registry and at PowerDNS with its last address."""
        rows = dict(self.d.db_query("SELECT hostname, current_ip FROM hosts WHERE hostname "
                                    "LIKE ?", (self.prefix + "-%",)))
        wrong = [(h, rows.get(h), self.ip(h)) for h in self.last if rows.get(h) != self.ip(h)]
        ans = drill.dns_answers(pdns, [h + "." + ZONE for h in self.last])
        unresolved = [h for h in self.last if ans[h + "." + ZONE] != [self.ip(h)]]
        return wrong, unresolved


def converge(d, since, limit=CONVERGE_LIMIT):
    """Seconds from @p since until the whole ledger is synced; None when not in @p limit."""
    while time.monotonic() - since < limit:
        left = d.db_query("SELECT count(*) FROM ledger WHERE status != 'synced'")[0][0]
        hosts = d.db_query("SELECT count(*) FROM hosts WHERE dns_sync_status != 'synced'")
        if left == 0 and hosts[0][0] == 0:
            return time.monotonic() - since
        time.sleep(0.05)
    return None


def test_powerdns_stopped_under_load(pdns, prismd_factory):
    """PowerDNS goes away in the middle of a load and comes back: registrations never fail,
    the engine backs off, and once PowerDNS is back everything converges by itself."""
    outage = scale(3.0, 30.0)
    d = prismd_factory(pdns)
    load = Load(d, scale(3000, 20000), "pdnsdown")
    load.run("before", 1.0)
    load.run("outage", outage, action=pdns.stop)
    assert pdns.proc is None
    failing = d.db_query("SELECT count(*) FROM ledger WHERE status != 'synced'")[0][0]
    t_back = [0.0]

    def back():
        pdns.start()
        t_back[0] = time.monotonic()
    load.run("recovering", 1.0, action=back)
    conv = converge(d, t_back[0])
    wrong, unresolved = load.verify(pdns)
    report("powerdns-stopped", outage_s=outage, hosts=len(load.last),
           acknowledged=sum(p[2] for p in load.phases), unsynced_at_restart=failing,
           error_answers=sum(load.errors.values()), found=len(load.last) - len(wrong),
           resolving=len(load.last) - len(unresolved),
           converge_after_restart_s=None if conv is None else round(conv, 2),
           **load.figures())
    assert not load.errors, load.errors  # a DNS failure never fails a registration
    assert failing > 0  # the outage really left work behind
    assert conv is not None, "did not converge after PowerDNS came back"
    assert not wrong and not unresolved, (wrong[:5], unresolved[:5])


class DelayProxy:
    """A TCP proxy on loopback in front of PowerDNS's API that holds every answer back for
    .delay seconds before passing it on (fault injection: the real PowerDNS behind it)."""

    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.delay = 0.0
        self.port = None
        self.conns = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._t = threading.Thread(target=self._main, daemon=True)

    def _main(self):
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _pipe(self, r, w, delay):
        first = True
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    break
                if first and delay > 0:
                    await asyncio.sleep(delay)
                first = False
                w.write(data)
                await w.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            try:
                w.close()
            except OSError:
                pass

    async def _handle(self, cr, cw):
        self.conns += 1
        try:
            ur, uw = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.upstream), 5)
        except (OSError, asyncio.TimeoutError):
            cw.close()
            return
        await asyncio.gather(self._pipe(cr, uw, 0), self._pipe(ur, cw, self.delay))

    def __enter__(self):
        self._t.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        async def close():
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._server.wait_closed()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._t.join(10)


def test_powerdns_answering_slowly(pdns, prismd_factory, tmp_path):
    """PowerDNS slow (0.5 s per answer: under powerdns.timeout, 2 s here), then slower than
    the timeout (3 s), then fast again: the agent port keeps answering every registration,
    DNS converges while slow and again after the timeouts."""
    phase_s = scale(2.0, 15.0)
    with DelayProxy(pdns.api_port) as proxy:
        slow = type("Slow", (), {"api_url": f"http://127.0.0.1:{proxy.port}/api/v1",
                                 "key": pdns.key})()
        d = prismd_factory(slow)
        load = Load(d, scale(3000, 20000), "slowdns")
        load.run("fast", phase_s)
        conv_fast = converge(d, time.monotonic())
        proxy.delay = 0.5
        load.run("slow 0.5s", phase_s)
        t_slow = time.monotonic()
        conv_slow = converge(d, t_slow)
        proxy.delay = 3.0
        load.run("slower than timeout", phase_s)
        try:  # a request started in that phase times out 2 s after it started
            wait_for(lambda: "timed out" in d.read_log(), 10, what="a PowerDNS timeout")
        except TimeoutError:
            pass  # asserted below, after the report
        timeouts = d.read_log().count("timed out")
        proxy.delay = 0.0
        t_fast = time.monotonic()
        conv_after = converge(d, t_fast)
        wrong, unresolved = load.verify(pdns)
        report("powerdns-slow", hosts=len(load.last),
               acknowledged=sum(p[2] for p in load.phases),
               error_answers=sum(load.errors.values()),
               converge_fast_s=None if conv_fast is None else round(conv_fast, 2),
               converge_while_slow_s=None if conv_slow is None else round(conv_slow, 2),
               converge_after_timeouts_s=None if conv_after is None else round(conv_after, 2),
               timeouts_logged=timeouts, found=len(load.last) - len(wrong),
               resolving=len(load.last) - len(unresolved), proxied_requests=proxy.conns,
               **load.figures())
    assert not load.errors, load.errors
    assert conv_fast is not None and conv_slow is not None, "did not converge while slow"
    assert timeouts > 0, "the 3 s delay never made a request time out"
    assert conv_after is not None, "did not converge after the timeouts"
    assert not wrong and not unresolved, (wrong[:5], unresolved[:5])


@pytest.fixture
def small_disk():
    """A 16 MiB tmpfs the test mounts and always unmounts (needs root)."""
    if os.getuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tempfile.mkdtemp(prefix="prism-disk-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", d],
                   check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", d], check=False)
        shutil.rmtree(d, ignore_errors=True)


def fill(path, leave):
    """Fill the filesystem of @p path up to @p leave bytes free with a new ballast file."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    ballast = tempfile.mktemp(prefix="ballast-", dir=path)
    try:
        with open(ballast, "wb") as f:
            f.write(b"\0" * max(0, free - leave))
    except OSError:
        pass  # ENOSPC: the filesystem is as full as it gets
    return ballast


def test_registry_disk_full(pdns, prismd_factory, small_disk, tmp_path):
    """The registry's filesystem fills up under load: registrations get a clear error, API
    writes a clear 503, nothing acknowledged is damaged, prismd and `prism agent` keep
    going, and both carry on by themselves once space is back."""
    d = prismd_factory(pdns, start=False, extra_yaml=KEYS_YAML)
    db = os.path.join(small_disk, "prism.db")
    with open(d.config) as f:
        text = f.read().replace(f'path: "{d.db}"', f'path: "{db}"')
    with open(d.config, "w") as f:
        f.write(text)
    d.db = db
    d.start()
    ballast = fill(small_disk, 768 * 1024)
    load = Load(d, scale(3000, 20000), "diskfull")
    deadline = time.monotonic() + scale(30, 90)
    while not load.errors and time.monotonic() < deadline:
        load.run(f"filling {len(load.phases)}", 1.0)
    assert load.errors, "the disk never filled up"
    full_msg = ("Server error: registration could not be stored (registry full: no space "
                "left)")
    assert set(load.errors) == {full_msg}, load.errors
    # What an operator sees. "Full" is not all or nothing: a checkpoint can make room in
    # the WAL for a while, so probe (under more load) until each kind of write has failed.
    api = f"http://127.0.0.1:{d.api_port}/api"
    reg_fail = api_fail = health = None
    while (reg_fail is None or api_fail is None) and time.monotonic() < deadline:
        r = d.register(f"diskfull-probe-{len(load.phases)}")
        if r["status"] == "error":
            reg_fail = r
            health = requests.get(f"{api}/health", timeout=10).json()
        t = requests.post(f"{api}/v1/tokens", json={"name": f"full-{len(load.phases)}"},
                          headers={"X-API-Key": ADMIN_KEY}, timeout=10)
        if t.status_code != 201:
            api_fail = t
        load.run(f"filling {len(load.phases)}", 0.3)
    assert reg_fail is not None and api_fail is not None, "the disk did not stay full"
    assert reg_fail["message"] == full_msg and reg_fail["code"] == "registry_full", reg_fail
    assert api_fail.status_code == 503, api_fail.text
    assert "registry full" in api_fail.json()["error"]["message"], api_fail.text
    assert set(load.errors) == {full_msg}, load.errors
    acked_full = dict(load.last)
    ballast2 = fill(small_disk, 0)  # not a byte left, for the agent below
    # a real agent meanwhile: it must keep retrying, not give up
    agent_log = open(os.path.join(str(tmp_path), "agent.log"), "ab")
    agent = subprocess.Popen([PRISM, "agent", "-s", f"127.0.0.1:{d.port}", "-n",
                              "diskfull-agent", "-i", "1", "-l", "debug"],
                             stdout=agent_log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "registry full" in open(agent_log.name).read(), 15,
                 what="the agent sees the error")
        assert agent.poll() is None, "prism agent gave up on a full registry"
        # nothing acknowledged is damaged, with the disk still full
        con_rows = dict(d.db_query("SELECT hostname, current_ip FROM hosts"))
        lost = [h for h in acked_full if con_rows.get(h) != f"127.0.0.{20 + acked_full[h]}"]
        integrity = d.db_query("PRAGMA integrity_check")
        # space comes back
        os.unlink(ballast)
        os.unlink(ballast2)
        t_space = time.monotonic()
        resumed = wait_for(lambda: d.register("diskfull-after")["status"] == "success"
                           and time.monotonic(), 15, interval=0.1,
                           what="registrations accepted again") - t_space
        wait_for(lambda: "registered 'diskfull-agent'" in open(agent_log.name).read(), 20,
                 what="the agent registered once space was back")
        assert agent.poll() is None
    finally:
        agent.terminate()
        agent.wait(10)
        agent_log.close()
    load.errors.clear()
    load.run("after", 1.0)
    conv = converge(d, t_space)
    wrong, unresolved = load.verify(pdns)
    report("disk-full", hosts_acknowledged_before_full=len(acked_full),
           error_answers=sum(load.errors.values()), lost_when_full=len(lost),
           integrity=integrity[0][0], health_when_full=health.get("status"),
           resumed_after_s=round(resumed, 2),
           converge_after_space_s=None if conv is None else round(conv, 2),
           found=len(load.last) - len(wrong), resolving=len(load.last) - len(unresolved))
    assert not lost, lost[:10]
    assert integrity == [("ok",)]
    assert health.get("status") == "degraded", health
    assert not load.errors, load.errors
    assert conv is not None
    assert not wrong and not unresolved, (wrong[:5], unresolved[:5])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q", "-s"]))
