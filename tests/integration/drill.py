# SPDX-License-Identifier: MIT
"""Shared pieces of the reliability drills (docs/reliability.md): pipelined agent clients on
asyncio, prismd's memory from /proc, DNS checks of many names, and the drill report.

Every loop here is bounded in count and in time. Figures are printed and appended to the
report file; tests assert correctness only, never timings (CONTRIBUTING.md rule 19)."""
import asyncio
import fcntl
import json
import os
import resource
import socket
import struct
import threading
import time
from datetime import datetime, timezone

import dns.message
import dns.rdatatype

import prismlib

LONG = os.environ.get("PRISM_DRILL_LONG", "") not in ("", "0")
SANITIZER = os.environ.get("PRISM_SANITIZER", "") not in ("", "0")
# A bound on prismd's memory, a correctness check not a timing: generous, and more so under
# AddressSanitizer, whose shadow memory and quarantine (256 MB by default) count in the RSS.
MEM_CEILING_KIB = (1536 if SANITIZER else 512) * 1024
REPORT = os.environ.get("PRISM_DRILL_REPORT", os.path.join(prismlib.BUILD, "drill-report.txt"))
ZONE = "managed.prism.local."
ADMIN_KEY = "drill-admin-key"
KEYS_YAML = f"api:\n  keys:\n    - {{name: drill, key: {ADMIN_KEY}, role: admin}}\n"


def scale(short, long):
    """A drill's size: the short one in scripts/check.sh, the long one with PRISM_DRILL_LONG."""
    return long if LONG else short


def report(drill, **figures):
    """Print a drill's figures and append them to the report file (one line each)."""
    text = f"DRILL {drill}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
    print(text, flush=True)
    line = json.dumps({"drill": drill, "at": datetime.now(timezone.utc).isoformat(
        timespec="seconds"), "sanitizer": SANITIZER, "long": LONG, **figures}) + "\n"
    append_line(REPORT, line)


def append_line(path, line):
    """Append one line whole, safe with several test processes (pytest-xdist) appending to the
    same file: one write(2) with O_APPEND, under an exclusive flock."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = line.encode()
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass
    finally:
        os.close(fd)  # releases the lock


def raise_nofile(need):
    """Soft open-files limit up to what the drill needs (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))  # root may raise hard
        except (ValueError, OSError):
            pass
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def mem_kib(pid):
    """(VmRSS, VmHWM) of a process in KiB: now and its peak since it started."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def registration(hostname, token=None):
    msg = {"version": "1.0", "type": "registration",
           "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "hostname": hostname}
    if token is not None:
        msg["auth_token"] = token
    return prismlib.frame(msg)


async def read_frame(reader):
    hdr = await reader.readexactly(4)
    (n,) = struct.unpack(">I", hdr)
    return json.loads(await reader.readexactly(n))


async def open_agent(port, source=None, timeout=10.0):
    """An agent connection from @p source (127.0.0.x) to prismd's agent port."""
    local = (source, 0) if source else None
    return await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=local), timeout)


async def pipelined(port, frames, depth, on_answer, source=None, timeout=10.0,
                    deadline=None):
    """Send @p frames (an iterator of (key, frame bytes)) on one connection with up to
    @p depth in flight; on_answer(key, answer) for each answer, in order. Ends when the
    frames run out (after their answers), at @p deadline (monotonic), on a connection error
    or when an answer is missing for @p timeout s. Returns the number answered."""
    try:
        reader, writer = await open_agent(port, source, timeout)
    except (OSError, asyncio.TimeoutError):
        return 0
    sent, answered, done = [], 0, False
    frames = iter(frames)
    try:
        while True:
            while not done and len(sent) - answered < depth:
                if deadline is not None and time.monotonic() >= deadline:
                    done = True
                    break
                item = next(frames, None)
                if item is None:
                    done = True
                    break
                sent.append(item[0])
                writer.write(item[1])
            if answered == len(sent):
                break
            await writer.drain()
            ans = await asyncio.wait_for(read_frame(reader), timeout)
            on_answer(sent[answered], ans)
            answered += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
        pass
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2)
        except (OSError, asyncio.TimeoutError):
            pass
    return answered


def register_sync(d, names, source=None, token=None, depth=64, timeout=10.0):
    """Register @p names on one pipelined connection; returns {name: answer}."""
    out = {}

    async def run():
        await pipelined(d.port, ((n, registration(n, token)) for n in names), depth,
                        lambda k, a: out.__setitem__(k, a), source, timeout)
    asyncio.run(run())
    return out


def dns_answers(pdns, names, rdtype="A", timeout=2.0, window=256):
    """{name: sorted addresses} for every name, queried at PowerDNS's DNS port over UDP with
    up to @p window queries in flight (a lost datagram is asked again, at most 3 times)."""
    want = dns.rdatatype.from_text(rdtype)
    result = {}
    pending = list(names)
    for _attempt in range(3):
        if not pending:
            break
        lost = []
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            for i in range(0, len(pending), window):
                chunk = pending[i:i + window]
                by_id = {}
                for j, n in enumerate(chunk):
                    q = dns.message.make_query(n, rdtype)
                    q.id = j  # unique within the window
                    by_id[q.id] = n
                    s.sendto(q.to_wire(), ("127.0.0.1", pdns.dns_port))
                while by_id:
                    try:
                        data = s.recv(65535)
                    except socket.timeout:
                        lost += list(by_id.values())
                        break
                    r = dns.message.from_wire(data)
                    n = by_id.pop(r.id, None)
                    if n is None:
                        continue
                    result[n] = sorted(rd.to_text() for rr in r.answer if rr.rdtype == want
                                       for rd in rr)
        finally:
            s.close()
        pending = lost
    for n in pending:
        result[n] = None  # no answer at all
    return result


def wait_synced(d, expected, limit):
    """Seconds until every host is synced (and there are @p expected hosts); None if not
    within @p limit s. Polls the registry (read-only, WAL: no interference)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        rows = d.db_query("SELECT count(*), coalesce(sum(dns_sync_status = 'synced'), 0) "
                          "FROM hosts")
        if rows[0][0] == expected and rows[0][1] == expected:
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


class MemWatch:
    """Samples a process's VmRSS every @p every s in a thread; .peak is the highest seen."""

    def __init__(self, pid, every=0.05):
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, mem_kib(self.pid)[0])
            except (OSError, ValueError):
                return
            self._stop.wait(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)
