# SPDX-License-Identifier: MIT
"""Abuse drills (docs/reliability.md): 10,000 slow clients trickling bytes; 10,000
connections at once over server.max_connections; a flood of invalid frames; a flood of
registrations with bad tokens while valid agents register; oversized and malformed REST API
requests. Each checks that every abusive client gets the answer docs/protocol.md promises, that
valid agents keep being served, that prismd survives, and that its memory stays under a
ceiling (VmRSS sampled, VmHWM from /proc: reported). Throughput under abuse is measured by
bench/abuse_bench.py, not asserted here."""
import asyncio
import json
import random
import socket
import struct
import time

import pytest
import requests

import drill
from drill import ADMIN_KEY, KEYS_YAML, MEM_CEILING_KIB, mem_kib, report, scale

# figures measured and floods: alone on the machine, after the parallel pass (development.md)
pytestmark = pytest.mark.serial

WANT_CLIENTS = scale(10000, 30000)
CLIENTS = WANT_CLIENTS  # the long version takes what the open-files limit allows
TOKEN = "abuse-drill-valid-token-4b1d"


@pytest.fixture(autouse=True)
def nofile():
    """The test and prismd (which inherits the limit) each hold every connection."""
    global CLIENTS
    have = drill.raise_nofile(WANT_CLIENTS + 2048)
    if have < 10000 + 1024:
        pytest.skip(f"open files limit {have} is too low for 10,000 clients")
    CLIENTS = min(WANT_CLIENTS, have - 2048)


def server_opts(d, **opts):
    """Add options to the server section of the config prismd was given."""
    with open(d.config) as f:
        text = f.read()
    extra = "".join(f"  {k}: {v}\n" for k, v in opts.items())
    text = text.replace(f"  api_port: {d.api_port}\n", f"  api_port: {d.api_port}\n{extra}", 1)
    text = text.replace("level: debug", "level: info")  # debug logs every connection
    with open(d.config, "w") as f:
        f.write(text)


def start(prismd_factory, pdns=None, auth_yaml=None, extra_yaml="", **opts):
    kw = {} if auth_yaml is None else {"auth_yaml": auth_yaml}
    d = prismd_factory(pdns, start=False, extra_yaml=extra_yaml, **kw)
    server_opts(d, **opts)
    d.start()
    return d


def memory(d, watch, drill_name, **figures):
    rss, hwm = mem_kib(d.proc.pid)
    report(drill_name, rss_after_kib=rss, rss_peak_sampled_kib=watch.peak, vmhwm_kib=hwm,
           ceiling_kib=MEM_CEILING_KIB, **figures)
    assert hwm < MEM_CEILING_KIB, f"prismd peaked at {hwm} KiB"


async def connect_all(port, n, window=512, timeout=20.0):
    """Open @p n connections to the agent port, at most @p window connects in flight."""
    sem = asyncio.Semaphore(window)

    async def one():
        async with sem:
            try:
                return await drill.open_agent(port, timeout=timeout)
            except (OSError, asyncio.TimeoutError):
                return None
    return await asyncio.gather(*[one() for _ in range(n)])


async def answer_or_none(reader, timeout):
    """The next frame, or None when the peer closed / nothing came within @p timeout."""
    try:
        return await asyncio.wait_for(drill.read_frame(reader), timeout)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError, ValueError):
        return None


async def valid_agents(port, names, token=None):
    """Register @p names on two pipelined connections; {name: answer}."""
    out = {}
    await asyncio.gather(*[
        drill.pipelined(port, ((n, drill.registration(n, token)) for n in names[k::2]), 16,
                        lambda k_, a: out.__setitem__(k_, a), timeout=20) for k in range(2)])
    return out


def close_all(conns):
    for c in conns:
        if c is not None:
            c[1].close()


class SlowClient(asyncio.Protocol):
    """A slow client's connection that keeps every byte received. asyncio's streams drop
    what they buffered once a write fails (the server closed, then a trickled byte met its
    RST): on a loaded machine the answer often arrived before the client read it."""

    def __init__(self):
        self.buf = bytearray()
        self.transport = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)

    def answer(self):
        """The first frame received, or None."""
        if len(self.buf) < 4:
            return None
        (n,) = struct.unpack(">I", self.buf[:4])
        if len(self.buf) < 4 + n:
            return None
        try:
            return json.loads(self.buf[4:4 + n])
        except ValueError:
            return None


async def slow_clients(port, n, window=512, timeout=20.0):
    """@p n SlowClient connections to the agent port (None for those that failed)."""
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(window)

    async def one():
        async with sem:
            try:
                _, p = await asyncio.wait_for(
                    loop.create_connection(SlowClient, "127.0.0.1", port), timeout)
                return p
            except (OSError, asyncio.TimeoutError):
                return None
    return await asyncio.gather(*[one() for _ in range(n)])


def test_slow_clients_trickling(prismd_factory):
    """Every slow client gets `Connection timeout` (frame_timeout) and is closed; valid
    agents registering meanwhile are all served."""
    d = start(prismd_factory, max_connections=CLIENTS + 1000, frame_timeout=4,
              idle_timeout=60)
    with drill.MemWatch(d.proc.pid) as watch:
        async def run():
            t0 = time.monotonic()
            conns = await slow_clients(d.port, CLIENTS)
            connected = [c for c in conns if c is not None]
            t_conn = time.monotonic() - t0
            # each declares a 200-byte frame and then trickles it, a byte a second, until
            # the server answers or closes
            for c in connected:
                c.transport.write(struct.pack(">I", 200) + b"{")

            async def trickle(c):
                for _ in range(35):  # bounded: the server ends it long before
                    try:
                        await asyncio.wait_for(asyncio.shield(c.lost), 1.0)
                        return True
                    except asyncio.TimeoutError:
                        pass
                    if not c.buf and not c.transport.is_closing():
                        c.transport.write(b" ")
                return False
            trickles = [asyncio.ensure_future(trickle(c)) for c in connected]
            good = await valid_agents(d.port, [f"slowdrill-ok-{i}" for i in range(200)])
            # closed by the server: FIN, or RST when it closed with trickled bytes unread
            closed = sum(await asyncio.gather(*trickles))
            answers = [c.answer() for c in connected]
            for c in connected:
                c.transport.abort()
            return len(connected), t_conn, answers, good, closed
        n, t_conn, answers, good, closed = asyncio.run(run())
    timeouts = sum(1 for a in answers if a and a.get("message") == "Connection timeout"
                   and a.get("code") == "frame_timeout")
    ok = sum(1 for a in good.values() if a.get("status") == "success")
    memory(d, watch, "abuse-slow-clients", clients=CLIENTS, connected=n,
           connect_s=round(t_conn, 1), frame_timeouts=timeouts, closed_by_server=closed,
           valid_registered=f"{ok}/{len(good)}")
    assert n == CLIENTS
    assert timeouts == CLIENTS, [a for a in answers
                                 if not a or a.get("code") != "frame_timeout"][:3]
    assert closed == CLIENTS
    assert ok == len(good) == 200
    assert d.register("slowdrill-after")["status"] == "success"


def test_connections_over_the_limit(prismd_factory):
    """10,000 connections at once against max_connections 1000: 1000 are held, every other
    one is answered `Server at capacity` and closed; once they go, agents are served."""
    limit = 1000
    d = start(prismd_factory, max_connections=limit, idle_timeout=120)
    with drill.MemWatch(d.proc.pid) as watch:
        async def run():
            conns = await connect_all(d.port, CLIENTS)
            connected = [c for c in conns if c is not None]
            answers = await asyncio.gather(*[answer_or_none(r, 5) for r, _ in connected])
            fds = drill.open_fds(d.proc.pid)
            close_all(connected)
            return len(connected), answers, fds
        n, answers, fds = asyncio.run(run())
    capacity = sum(1 for a in answers if a and a.get("message") == "Server at capacity")
    held = sum(1 for a in answers if a is None)
    # the slots are free again once the held connections are gone
    r = wait_for_success(d, "limit-after")
    memory(d, watch, "abuse-over-limit", clients=CLIENTS, max_connections=limit,
           connected=n, held=held, at_capacity=capacity, prismd_fds_while_held=fds)
    assert n == CLIENTS
    assert held == limit and capacity == CLIENTS - limit, (held, capacity)
    assert r["status"] == "success"


def wait_for_success(d, name, tries=100):
    """Register until it succeeds (the server may still be closing the last connections)."""
    for _ in range(tries):
        r = d.register(name)
        if r and r["status"] == "success":
            return r
        time.sleep(0.05)
    return r


INVALID = [
    struct.pack(">I", 70000) + b"x" * 16,                       # over 65536
    struct.pack(">I", 0xFFFFFFFF),                                # huge length
    struct.pack(">I", 9) + b"not json!",
    struct.pack(">I", 4) + b"\xff\xfe\xfd\xfc",                   # not UTF-8
    struct.pack(">I", 2) + b"[]",                                 # not an object
    struct.pack(">I", 0),                                         # empty
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",                         # wrong protocol
]
BAD_MESSAGES = [  # message-level: answered, the connection stays open
    {"version": "1.0", "type": "registration", "timestamp": "2026-01-01T00:00:00Z"},
    {"version": "2.0", "type": "registration", "timestamp": "2026-01-01T00:00:00Z",
     "hostname": "a"},
    {"version": "1.0", "type": "registration", "timestamp": "yesterday", "hostname": "b"},
    {"version": "1.0", "type": "registration", "timestamp": "2026-01-01T00:00:00Z",
     "hostname": "-bad-"},
    {"version": "1.0", "type": "registration", "timestamp": "2026-01-01T00:00:00Z",
     "hostname": 5},
]


def test_invalid_frame_flood(prismd_factory):
    """Framing errors get one `Protocol error: …` answer and the connection is closed;
    message errors get `Invalid message: …` and the connection stays open for more. Valid
    agents registering meanwhile are all served."""
    n_conn = scale(3000, 20000)
    n_msgs = scale(20000, 200000)
    d = start(prismd_factory, max_connections=2 * n_conn)
    rnd = random.Random(8)
    with drill.MemWatch(d.proc.pid) as watch:
        async def framing(sem, i):
            async with sem:
                try:
                    r, w = await drill.open_agent(d.port)
                except (OSError, asyncio.TimeoutError):
                    return "connect failed"
                w.write(INVALID[i % len(INVALID)])
                a = await answer_or_none(r, 10)
                eof = False
                try:
                    eof = await asyncio.wait_for(r.read(1), 10) == b""
                except (OSError, asyncio.TimeoutError):
                    pass
                w.close()
                if a is None:
                    return "no answer"
                if not a["message"].startswith("Protocol error: "):
                    return a["message"]
                return "ok" if eof else "left open"

        async def run():
            sem = asyncio.Semaphore(256)
            msgs = []
            kinds = [drill.prismlib.frame(m) for m in BAD_MESSAGES]
            bad = [(i, rnd.choice(kinds)) for i in range(n_msgs)]
            per = asyncio.gather(*[drill.pipelined(
                d.port, iter(bad[k::4]), 64,
                lambda k_, a: msgs.append(a), timeout=20) for k in range(4)])
            res = asyncio.gather(*[framing(sem, i) for i in range(n_conn)])
            good = valid_agents(d.port, [f"flood-ok-{i}" for i in range(500)])
            persistent, results, good = await asyncio.gather(per, res, good)
            return msgs, results, good
        msgs, results, good = asyncio.run(run())
    outcome = {}
    for r in results:
        outcome[r] = outcome.get(r, 0) + 1
    invalid_ok = sum(1 for a in msgs if a["status"] == "error"
                     and a["message"].startswith("Invalid message: "))
    ok = sum(1 for a in good.values() if a.get("status") == "success")
    memory(d, watch, "abuse-invalid-frames", framing_connections=n_conn,
           framing_outcomes=outcome, message_errors=f"{invalid_ok}/{n_msgs}",
           valid_registered=f"{ok}/{len(good)}")
    assert outcome == {"ok": n_conn}, outcome
    assert len(msgs) == n_msgs and invalid_ok == n_msgs
    assert ok == len(good) == 500


def test_bad_token_flood(prismd_factory):
    """Six connections flood registrations with unknown tokens while two valid agents
    register: every bad one is refused with `Invalid authentication token: token_not_found`,
    every valid one succeeds. The hold after a failure (auth.failure_delay_ms) is off here,
    so the whole flood is refused as fast as prismd can (test_auth.py checks the hold).
    (bench/abuse_bench.py measures the valid agents' throughput with and without the
    flood, with the default hold.)"""
    d = start(prismd_factory, auth_yaml=f"auth:\n  required: true\n  failure_delay_ms: 0\n"
              f"  tokens:\n    - {{name: good, token: {TOKEN}}}\n")
    n_bad = scale(30000, 300000)
    n_good = scale(5000, 50000)
    with drill.MemWatch(d.proc.pid) as watch:
        async def run():
            bad_answers = []

            def bad_frames(k):
                for i in range(k, n_bad, 6):
                    yield i, drill.registration(f"intruder-{i % 500}", f"guess-{i}")
            flood = asyncio.gather(*[drill.pipelined(
                d.port, bad_frames(k), 32, lambda k_, a: bad_answers.append(a), timeout=20)
                for k in range(6)])
            t0 = time.monotonic()
            good = await valid_agents(d.port, [f"tok-ok-{i}" for i in range(n_good)], TOKEN)
            t_good = time.monotonic() - t0
            await flood
            return bad_answers, good, t_good
        bad, good, t_good = asyncio.run(run())
    refused = sum(1 for a in bad if a["message"] ==
                  "Invalid authentication token: token_not_found")
    ok = sum(1 for a in good.values() if a.get("status") == "success")
    memory(d, watch, "abuse-bad-tokens", bad_tokens=f"{refused}/{n_bad}",
           valid_registered=f"{ok}/{n_good}", valid_per_s_under_flood=round(ok / t_good))
    assert len(bad) == n_bad and refused == n_bad
    assert ok == n_good
    hosts = dict(d.db_query("SELECT hostname, 1 FROM hosts"))
    assert not any(h.startswith("intruder-") for h in hosts)


def raw_http(port, data, read_timeout=10.0):
    """Send raw bytes to the API port; returns (status line, headers+body bytes) or None."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close before taking everything: read its answer
        s.settimeout(read_timeout)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def json_error(resp_bytes):
    """The JSON error document of a raw HTTP answer (must be valid UTF-8 JSON)."""
    head, _, body = resp_bytes.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body.decode("utf-8"))


def test_oversized_and_malformed_api_requests(prismd_factory):
    """The REST API answers every oversized or malformed request with a 4xx and a valid
    JSON error (or closes the connection), and goes on serving normal requests."""
    d = start(prismd_factory, extra_yaml=KEYS_YAML)
    url = f"http://127.0.0.1:{d.api_port}/api/v1/tokens"
    hdr = {"X-API-Key": ADMIN_KEY}
    results = {}
    with drill.MemWatch(d.proc.pid) as watch:
        def post(name, expect, **kw):
            r = requests.post(url, headers={**hdr, **kw.pop("headers", {})}, timeout=30, **kw)
            results[name] = r.status_code
            assert r.status_code in expect, (name, r.status_code, r.text[:200])
            r.json()  # always a JSON error document
        big = 8 * 1024 * 1024
        post("body 8 MiB", {413}, data=b"{" + b" " * big + b"}")
        post("chunked 8 MiB", {413}, data=(b" " * 65536 for _ in range(128)))
        post("malformed", {400}, data=b'{"name": ')
        post("deep nesting", {400}, data=b"[" * 100000 + b"]" * 100000)
        post("not UTF-8", {400}, data=b'{"name":"\xff"}')
        # regression (found by fuzz_api_body): jansson's error text cut inside a character
        post("error text cut in UTF-8", {400},
             data=b'{"name":"*\\u0\xd0\x9a\xc6\xa0u00e{"name":"x"}')
        post("long unknown key", {400}, data=json.dumps({"x" + "\u00e9" * 5000: 1}).encode())
        post("huge string", {422}, data=json.dumps({"name": "n" * 500000}).encode())
        post("many keys", {400}, data=json.dumps({f"k{i}": i for i in range(20000)}).encode())
        # a Content-Length far over the limit is refused before the body is read
        a = raw_http(d.api_port, b"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nX-API-Key: "
                     + ADMIN_KEY.encode() + b"\r\nContent-Length: 100000000000\r\n\r\n{")
        results["Content-Length 100 GB"] = json_error(a)[0]
        assert json_error(a)[0] == 413
        # broken HTTP: the server answers 4xx or closes; it must not crash
        for name, data in [
            ("garbage request line", b"\x00\x01\x02 NOT HTTP\r\n\r\n"),
            ("URL 64 KiB", b"GET /" + b"a" * 65536 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
            ("header 256 KiB", b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: "
             + b"b" * 262144 + b"\r\n\r\n"),
            ("bad Content-Length", b"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\n"
             b"Content-Length: -5\r\n\r\n"),
            ("bad chunk size", b"POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nX-API-Key: "
             + ADMIN_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nxx\r\n"),
        ]:
            a = raw_http(d.api_port, data, read_timeout=5)
            code = int(a.split(b" ")[1]) if a.startswith(b"HTTP/1.") else "closed"
            results[name] = code
            assert code == "closed" or 400 <= code < 500, (name, a[:200])
        # after all that, normal service
        r = requests.post(url, headers=hdr, json={"name": "still-fine"}, timeout=10)
        assert r.status_code == 201
        assert requests.get(f"http://127.0.0.1:{d.api_port}/api/health",
                            timeout=10).status_code == 200
    memory(d, watch, "abuse-api-requests", answers=results)
