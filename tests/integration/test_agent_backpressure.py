# SPDX-License-Identifier: MIT
"""Agents that send and never read: prismd's output per connection stays bounded, and every
connection state (reading, waiting for the peer to read, draining after a final answer) has a
deadline, so non-readers cannot hold memory or max_connections."""
import errno
import json
import os
import socket
import struct
import time

import pytest

from drill import mem_kib
from prismlib import frame, recv_frame, registration, wait_for
from test_protocol import configured

pytestmark = pytest.mark.serial  # memory growth and deadlines are measured


def rss_kib(pid):
    return mem_kib(pid)[0]


def non_reader(d):
    """A client with a 4 KiB receive buffer that will never read."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", d.port))
    s.setblocking(False)
    return s


# ASan's quarantine keeps freed memory for a while: a looser bound, still far below the
# unbounded growth (197 MiB without the fix in a normal build, more under ASan)
SANITIZER = os.environ.get("PRISM_SANITIZER", "") not in ("", "0")
RSS_BOUND_KIB = (96 if SANITIZER else 24) * 1024

# an invalid hostname: a message-level error, answered at once, the connection stays open
BAD = frame(registration("-bad-")) * 600


def pipeline(s, seconds, max_bytes):
    """Send BAD bursts until the server stops taking them (or the bounds); bytes sent."""
    sent, t0, stalled_since, off = 0, time.monotonic(), None, 0
    while time.monotonic() - t0 < seconds and sent < max_bytes:
        try:
            n = s.send(BAD[off:])  # whole frames only: a partial send continues next time
            sent += n
            off = (off + n) % len(BAD)
            stalled_since = None
        except BlockingIOError:
            if stalled_since is None:
                stalled_since = time.monotonic()
            elif time.monotonic() - stalled_since > 1.0:
                break  # the server no longer reads us
            time.sleep(0.003)
        except OSError:
            break  # closed by the server
    t1 = time.monotonic()
    while off and time.monotonic() - t1 < 1.0:  # end on a frame boundary if the server reads
        try:
            off = (off + s.send(BAD[off:])) % len(BAD)
        except BlockingIOError:
            time.sleep(0.01)
        except OSError:
            break
    return sent


def closed_by_server(s, timeout):
    """Read what is buffered (bounded) until EOF or a reset: True if the server closed."""
    s.setblocking(True)
    s.settimeout(timeout)
    got = 0
    try:
        while got < (64 << 20):
            b = s.recv(65536)
            if not b:
                return True
            got += len(b)
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    return False


def test_non_reader_output_bounded_and_closed(prismd_factory):
    d = configured(prismd_factory, "  idle_timeout: 3")
    base = rss_kib(d.proc.pid)
    s = non_reader(d)
    try:
        sent = pipeline(s, seconds=8, max_bytes=80 << 20)
        grown = rss_kib(d.proc.pid) - base
        # unbounded, 80 MB of requests queue ~190 MB of answers; bounded: a few MB at most
        assert grown < RSS_BOUND_KIB, f"prismd RSS grew by {grown} KiB after {sent} bytes sent"
        assert sent < (40 << 20), f"the server kept reading ({sent} bytes) from a non-reader"
        # closed within idle_timeout of no progress, without our reading a byte (reading
        # would let it write again)
        wait_for(lambda: "were not read within 3 s" in d.read_log(), timeout=10,
                 interval=0.1, what="the blocked connection closed")
        assert closed_by_server(s, timeout=10)
    finally:
        s.close()
    assert d.register("after-flood")["status"] == "success"


def test_slow_reader_is_served_in_full(prismd_factory):
    """Backpressure, not loss: a client that reads late still gets every answer in order."""
    d = configured(prismd_factory, "")
    n = 3000
    with d.connect() as s:
        data = b"".join(frame(registration("-bad-")) for _ in range(n)) + \
            frame(registration("slow-reader-done"))
        s.setblocking(False)
        off, buf, answers, t0 = 0, b"", [], time.monotonic()
        while len(answers) < n + 1 and time.monotonic() - t0 < 60:
            if off < len(data):
                try:
                    off += s.send(data[off:off + 65536])
                except BlockingIOError:
                    pass
            if off > len(data) // 2 or off == len(data):  # read late: half sent first
                try:
                    buf += s.recv(65536)
                except BlockingIOError:
                    time.sleep(0.002)
            else:
                time.sleep(0.001)
            while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                k = 4 + struct.unpack(">I", buf[:4])[0]
                answers.append(json.loads(buf[4:k]))
                buf = buf[k:]
        assert len(answers) == n + 1
        assert all(a["code"] == "invalid_message" for a in answers[:n])
        assert answers[n]["status"] == "success"
        assert answers[n]["hostname"] == "slow-reader-done"


def test_draining_non_readers_do_not_hold_capacity(prismd_factory):
    """Connections ending with a final answer (a zero-length frame) that their peer never
    reads are closed within idle_timeout, so other agents get in at max_connections."""
    d = configured(prismd_factory, "  max_connections: 2\n  idle_timeout: 8")
    held = []
    try:
        def take_slot():
            s = non_reader(d)
            pipeline(s, seconds=4, max_bytes=16 << 20)
            try:
                s.send(b"\0\0\0\0")  # an empty frame: a final error answer, then close
            except OSError as e:
                assert e.errno in (errno.EAGAIN, errno.ECONNRESET, errno.EPIPE)
            held.append(s)
        take_slot()
        take_slot()
        with d.connect() as c:
            r = recv_frame(c)
            assert r["message"] == "Server at capacity"
        t0 = time.monotonic()
        wait_for(lambda: d.register("gets-in")["status"] == "success", timeout=20,
                 interval=0.25, what="a slot freed by the drain deadline")
        assert time.monotonic() - t0 < 15
        wait_for(lambda: d.read_log().count("were not read within 8 s") == 2, timeout=15,
                 interval=0.1, what="both non-readers closed")
        for s in held:
            assert closed_by_server(s, timeout=10)
    finally:
        for s in held:
            s.close()
