#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Agent-port throughput, latency and connection capacity of the built prismd.

Starts a real PowerDNS and prismd (tests/integration/prismlib.py), drives the agent port with
bench/agent-load and prints one table, all figures measured side by side in this run:

  oneshot     one TCP connection per registration, 64 clients          (goal >= 20,000/s)
              (and the same closing with RST: what the FIN/TIME_WAIT path costs)
  persistent  64 long-lived connections, 16 frames in flight each       (goal >= 100,000/s)
              (and with one frame in flight: what pipelining buys)
  ... oneshot and persistent with PowerDNS sync disabled (what the DNS push costs)
  idle        10,000 connections that send nothing, held open; prismd's RSS per connection
  registry    bytes on disk per host after the last loaded run with sync on
  --tls       adds, with sync off, the same loads over the TLS agent port next to plain ones:
              persistent 64 x 16 over TLS (goal >= 0.7 x plain), oneshot with a full TLS
              handshake per registration, and oneshot resuming the TLS session
              (--tls-only: just these rows and their plain counterparts)

Every loaded run gets a fresh prismd (and PowerDNS), so the rows do not depend on their
order. After each loaded run with sync enabled it waits (bounded) until every host of the
run is dns_sync_status 'synced' and prints how long that took. The goals are printed next to
the figures; nothing is asserted (CONTRIBUTING.md rule 19).

usage: bench/agent_bench.py [--duration S] [--hosts H] [--idle N] [--hold S] [--quick]
                            [--tls | --tls-only] [--json FILE]
Environment: PRISM_BUILD_DIR (prismd, default ./build), AGENT_LOAD (default
$PRISM_BUILD_DIR/bench/agent-load).
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import prismlib  # noqa: E402
from prismlib import PowerDNS, Prismd, free_port  # noqa: E402
from tlslib import PKI  # noqa: E402

AGENT_LOAD = os.environ.get("AGENT_LOAD", os.path.join(prismlib.BUILD, "bench", "agent-load"))
TOKEN = "bench-token-7f3a9c1e5b2d4f608a1c3e5f7b9d0e2f"
GOAL_ONESHOT = 20000
GOAL_PERSISTENT = 100000
GOAL_TLS_RATIO = 0.7
# name, mode, hostname prefix, PowerDNS sync, RST close, pipeline depth, TLS (None, "full",
# "resume")
SCENARIOS = [
    ("oneshot, sync on", "oneshot", "os-", True, False, 1, None),
    ("oneshot RST, sync on", "oneshot", "rst-", True, True, 1, None),
    ("persistent, sync on", "persistent", "pp-", True, False, 16, None),
    ("persistent depth 1, sync on", "persistent", "p1-", True, False, 1, None),
    ("oneshot, sync off", "oneshot", "os-", False, False, 1, None),
    ("persistent, sync off", "persistent", "pp-", False, False, 16, None),
]
TLS_SCENARIOS = [
    ("persistent TLS, sync off", "persistent", "tp-", False, False, 16, "full"),
    ("oneshot TLS full, sync off", "oneshot", "tf-", False, False, 1, "full"),
    ("oneshot TLS resumed, sync off", "oneshot", "tr-", False, False, 1, "resume"),
]
CONVERGE_LIMIT = 180.0  # seconds to wait for PowerDNS to catch up after a run
HZ = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def raise_nofile():
    """Soft open-files limit up to the hard one; children (prismd, agent-load) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def supports_auth():
    """Does this prismd know the auth section (token auth)? Older builds reject the key."""
    with open(prismlib.PRISMD, "rb") as f:
        return b"PRISM_AUTH_REQUIRED" in f.read()


def configure(d, auth):
    """Rewrite the config Prismd wrote: info logging (a production level: debug logs a line
    per connection), room for 10,000+ connections, and tokens when prismd has them."""
    with open(d.config) as f:
        text = f.read()
    # drop an auth section a newer prismlib may have added; ours follows
    text = re.sub(r"(?m)^auth:\n(?:[ \t].*\n?)*", "", text)
    text = text.replace("level: debug", "level: info")
    text = text.replace('host: "127.0.0.1"', 'host: "127.0.0.1"\n  idle_timeout: 120\n'
                        '  max_connections: 20000', 1)
    if auth:
        text = text.rstrip("\n") + (f'\nauth:\n  required: true\n  tokens:\n'
                                    f'    - name: bench\n      token: "{TOKEN}"\n')
    with open(d.config, "w") as f:
        f.write(text)


def start_prismd(pdns, auth, pki=None):
    work = tempfile.mkdtemp(prefix="prism-agent-bench-")
    d = Prismd(work, pdns=pdns)
    configure(d, auth)
    d.tls_port = None
    if pki is not None:
        d.tls_port = free_port()
        cert, key = pki.server
        text = open(d.config).read().replace(
            'host: "127.0.0.1"\n', f'host: "127.0.0.1"\n  tls_port: {d.tls_port}\n'
            f'  tls_cert: "{cert}"\n  tls_key: "{key}"\n', 1)
        open(d.config, "w").write(text)
    d.start()
    return d


def stat_ticks(path):
    """utime+stime and the name from a /proc stat file."""
    with open(path) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12]), stat[stat.index("(") + 1:stat.rindex(")")]


def cpu_ticks(pid):
    """CPU ticks of a process (with its exited threads) and of each live thread; the thread
    that is the process's main one is called "loop" (prismd's event loop)."""
    threads = {}
    try:
        total = stat_ticks(f"/proc/{pid}/stat")[0]
        for tid in os.listdir(f"/proc/{pid}/task"):
            ticks, name = stat_ticks(f"/proc/{pid}/task/{tid}/stat")
            threads["loop" if tid == str(pid) else f"{name}/{tid}"] = ticks
    except (FileNotFoundError, ProcessLookupError):
        return 0, threads
    return total, threads


def sched_waits(pid):
    """Nanoseconds each live thread of a process spent waiting on a run queue (runnable but
    not running: the machine's cores were busy), from /proc/PID/task/TID/schedstat; named
    as cpu_ticks names them. Empty where the kernel has no schedstats."""
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                wait = int(f.read().split()[1])
            name = stat_ticks(f"/proc/{pid}/task/{tid}/stat")[1]
            out["loop" if tid == str(pid) else f"{name}/{tid}"] = wait
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        pass
    return out


def machine_busy_ticks():
    """Busy CPU ticks of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4]  # minus idle and iowait


def tcp_sockstat():
    """(sockets in use, pages of kernel memory) for TCP, machine-wide."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                v = line.split()
                return int(v[v.index("inuse") + 1]), int(v[v.index("mem") + 1])
    return 0, 0


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run_load(d, args, limit, tls=None, pki=None):
    """Run agent-load against prismd d; returns its JSON summary plus CPU of the others."""
    port = d.tls_port if tls else d.port
    cmd = [AGENT_LOAD, "--server", f"127.0.0.1:{port}", "--json"] + args
    if tls:
        cmd += ["--tls-ca", pki.ca] + (["--tls-resume"] if tls == "resume" else [])
    if d.token:
        cmd += ["--token", TOKEN]
    log("  $ " + " ".join(cmd))
    p0, t0 = cpu_ticks(d.proc.pid)
    q0 = sched_waits(d.proc.pid)
    n0 = cpu_ticks(d.pdns.proc.pid)[0] if d.pdns else 0
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    m0, w0 = machine_busy_ticks(), time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    m1, wall = machine_busy_ticks(), time.monotonic() - w0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_cpu = c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime
    p1, t1 = cpu_ticks(d.proc.pid)
    q1 = sched_waits(d.proc.pid)
    n1 = cpu_ticks(d.pdns.proc.pid)[0] if d.pdns else 0
    if r.returncode not in (0, 1) or not r.stdout.strip():
        raise RuntimeError(f"agent-load failed ({r.returncode}): {r.stderr}")
    res = json.loads(r.stdout)
    res["cmd"] = " ".join(cmd)
    res["wall_s"] = wall
    res["prismd_cpu_pct"] = 100.0 * (p1 - p0) / HZ / wall
    res["pdns_cpu_pct"] = 100.0 * (n1 - n0) / HZ / wall if d.pdns else None
    # whatever else ran on the machine meanwhile (other jobs skew the figures: say so)
    res["others_cpu_pct"] = (100.0 * (m1 - m0) / HZ / wall - res["prismd_cpu_pct"]
                             - (res["pdns_cpu_pct"] or 0) - 100.0 * load_cpu / wall)
    res["load_cpu_pct"] = 100.0 * load_cpu / wall
    res["prismd_threads_pct"] = {k: 100.0 * (v - t0.get(k, 0)) / HZ / wall
                                 for k, v in t1.items() if v - t0.get(k, 0) > 0}
    # the same threads' time runnable but waiting for a core, in % of the run
    res["prismd_threads_wait_pct"] = {k: 100.0 * (v - q0[k]) / 1e9 / wall
                                      for k, v in q1.items() if k in q0 and v > q0[k]}
    return res


def converge(d, prefix):
    """Seconds until every host of this run is synced to PowerDNS (None: not within limit)."""
    like = prefix + "%"
    t0 = time.monotonic()
    while time.monotonic() - t0 < CONVERGE_LIMIT:
        rows = d.db_query("SELECT COUNT(*) FROM hosts WHERE hostname LIKE ? AND "
                          "dns_sync_status != 'synced'", (like,))
        if rows[0][0] == 0:
            return time.monotonic() - t0, 0
        time.sleep(0.05)
    return None, rows[0][0]


def loaded(d, name, mode, prefix, a, with_sync, rst, depth, tls=None, pki=None):
    args = ["--mode", mode, "--clients", "64", "--duration", str(a.duration),
            "--hosts", str(a.hosts), "--prefix", prefix, "--timeout", "10"]
    if mode == "oneshot":
        args += ["--count", str(GOAL_ONESHOT * 5 * int(a.duration)), "--sources", "16"]
        if rst:
            args += ["--linger0"]
    else:
        args += ["--count", str(GOAL_PERSISTENT * 5 * int(a.duration)), "--pipeline", str(depth)]
    res = run_load(d, args, a.duration + 120, tls, pki)
    res["name"] = name
    res["sync"] = with_sync
    res["goal"] = GOAL_ONESHOT if mode == "oneshot" else GOAL_PERSISTENT if depth == 16 else None
    res["converge_s"] = None
    if with_sync:
        res["converge_s"], res["unsynced"] = converge(d, prefix)
    log(f"  {name}: {res['registrations_per_s']:.0f}/s, converged "
        f"{res['converge_s']}")
    return res


def idle_run(a):
    """Hold a.idle connections on a fresh prismd; RSS before, while holding, after."""
    d = start_prismd(None, supports_auth())
    d.token = None
    try:
        before, sock_before = rss_kib(d.proc.pid), tcp_sockstat()
        cmd = [AGENT_LOAD, "--server", f"127.0.0.1:{d.port}", "--mode", "idle", "--clients",
               str(a.idle), "--duration", str(a.hold), "--timeout", "10", "--json"]
        log("  $ " + " ".join(cmd))
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = ""
        try:
            line = p.stderr.readline()  # "agent-load: holding N of M connections"
            time.sleep(min(1.0, a.hold / 3))  # let prismd settle its accept backlog
            holding = max(rss_kib(d.proc.pid) for _ in range(5))
            sock_holding = tcp_sockstat()
            out, err = p.communicate(timeout=a.hold + 60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise
        time.sleep(0.5)
        after = rss_kib(d.proc.pid)
        res = json.loads(out)
        res.update(cmd=" ".join(cmd), holding_line=line.strip(), rss_before_kib=before,
                   rss_holding_kib=holding, rss_after_kib=after,
                   tcp_sockets=[sock_before[0], sock_holding[0]],
                   tcp_mem_pages=[sock_before[1], sock_holding[1]])
        held = res["idle"]["held_open"]
        res["bytes_per_conn"] = (holding - before) * 1024 / held if held else None
        return res
    finally:
        d.stop()
        shutil.rmtree(d.dir, ignore_errors=True)


def registry_size(d):
    """After prismd stopped: bytes of the registry files per host."""
    files = [d.db + s for s in ("", "-wal", "-shm") if os.path.exists(d.db + s)]
    total = sum(os.path.getsize(f) for f in files[:2])  # -shm is an index, not data
    hosts = d.db_query("SELECT COUNT(*) FROM hosts")[0][0]
    ledger = d.db_query("SELECT COUNT(*) FROM ledger")[0][0]
    return {"db_bytes": os.path.getsize(d.db), "total_bytes": total, "hosts": hosts,
            "ledger_rows": ledger, "bytes_per_host": total / hosts if hosts else None}


def fmt(v, spec=".0f", none="-"):
    return none if v is None else format(v, spec)


def print_table(runs, idle, reg, a, auth):
    print()
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    print(f"agent port benchmark: nproc {nproc}, {a.duration} s per loaded run, "
          f"{a.hosts} hosts per run, "
          f"auth {'token' if auth else 'off (this prismd has no auth)'}")
    print(f"prismd: {prismlib.PRISMD}   agent-load: {AGENT_LOAD}")
    hdr = (f"{'scenario':<30} {'reg/s':>8} {'goal':>8} {'p50 ms':>7} {'p99 ms':>7} "
           f"{'p99.9':>7} {'max ms':>7} {'not ok':>7} {'new':>6} {'load%':>6} "
           f"{'prismd%':>7} {'pdns%':>6} {'other%':>6} {'synced after':>12}")
    print(hdr)
    print("-" * len(hdr))
    for r in runs:
        lat = r["latency_ms"]
        notok = sum(v for k, v in r["outcomes"].items() if k != "ok")
        new = r["answers_ok"].get("New host registered", 0)
        conv = "-" if not r["sync"] else (
            f"{r['converge_s']:.2f} s" if r["converge_s"] is not None
            else f">{CONVERGE_LIMIT:.0f}s ({r['unsynced']})")
        print(f"{r['name']:<30} {r['registrations_per_s']:>8.0f} {fmt(r['goal']):>8} "
              f"{lat['p50']:>7.2f} {lat['p99']:>7.2f} {lat['p999']:>7.2f} {lat['max']:>7.1f} "
              f"{notok:>7} {new:>6} {r['cpu']['pct_one_core']:>6.0f} "
              f"{r['prismd_cpu_pct']:>7.0f} {fmt(r['pdns_cpu_pct']):>6} "
              f"{r['others_cpu_pct']:>6.0f} {conv:>12}")
    print("reg/s: successful answers per second; p50..max: send -> answer latency; not ok: "
          "requests without a success answer;\nnew: 'New host registered' answers (the rest "
          "are heartbeats); load%, prismd%, pdns%: CPU of agent-load, prismd, PowerDNS in % "
          "of one core;\nother%: the rest of the machine's busy CPU meanwhile; synced after: "
          "seconds from the end of the run until\nevery host of the run is synced to PowerDNS."
          " Persistent rows: 64 connections, 16 frames in flight each unless noted.")
    by = {r["name"]: r for r in runs}
    print()
    plain_pp, plain_os = by.get("persistent, sync off"), by.get("oneshot, sync off")
    for name, base, goal in (("persistent TLS, sync off", plain_pp, GOAL_TLS_RATIO),
                             ("oneshot TLS full, sync off", plain_os, None),
                             ("oneshot TLS resumed, sync off", plain_os, None)):
        r = by.get(name)
        if r and base and base["registrations_per_s"] > 0:
            t = r.get("tls", {})
            print(f"ratio {name} / {base['name']}: "
                  f"{r['registrations_per_s'] / base['registrations_per_s']:.2f}x"
                  + (f" (goal >= {goal}x)" if goal else "")
                  + f"; handshakes {t.get('full_handshakes', 0)} full, "
                  f"{t.get('resumed', 0)} resumed")
    for mode in ("oneshot", "persistent"):
        on, off = by.get(f"{mode}, sync on"), by.get(f"{mode}, sync off")
        if on and off and on["registrations_per_s"] > 0:
            print(f"ratio {mode} sync off / sync on: "
                  f"{off['registrations_per_s'] / on['registrations_per_s']:.2f}x")
    on, pp = by.get("oneshot, sync on"), by.get("persistent, sync on")
    if on and pp and on["registrations_per_s"] > 0:
        print(f"ratio persistent / oneshot (sync on): "
              f"{pp['registrations_per_s'] / on['registrations_per_s']:.2f}x")
    for r in runs:
        bad = {k: v for k, v in r["outcomes"].items() if k != "ok" and v}
        if bad or r["answers_error"] or r["connection_events"]:
            print(f"{r['name']}: not ok {bad} answers {r['answers_error']} "
                  f"connections {r['connection_events']}")
    print("busiest prismd threads (% of one core; loop = the event loop, the other is the "
          "store writer):")
    for r in runs:
        top = sorted(r["prismd_threads_pct"].items(), key=lambda kv: -kv[1])[:4]
        print(f"  {r['name']:<28} " + ", ".join(f"{k} {v:.0f}%" for k, v in top))
    if idle:
        i = idle["idle"]
        print()
        print(f"idle: {i['held_open']} of {i['requested']} connections held open for "
              f"{i['hold_s']:.0f} s (goal 10,000); connect p50 {idle['connect_ms']['p50']:.2f}"
              f" ms p99 {idle['connect_ms']['p99']:.2f} ms")
        print(f"      prismd RSS {idle['rss_before_kib']} KiB before, "
              f"{idle['rss_holding_kib']} KiB holding, {idle['rss_after_kib']} KiB after; "
              f"{fmt(idle['bytes_per_conn'])} bytes per held connection")
        sk, pages = idle["tcp_sockets"], idle["tcp_mem_pages"]
        print(f"      kernel, machine-wide: TCP sockets {sk[0]} -> {sk[1]}, TCP buffer memory "
              f"{pages[0]} -> {pages[1]} pages (both ends of loopback connections; idle "
              f"sockets hold no buffers)")
        if idle["connection_events"] or idle["answers_error"]:
            print(f"      closed/failed: {idle['connection_events']} "
                  f"server said: {idle['answers_error']}")
    if reg:
        print(f"registry: {reg['total_bytes']} bytes on disk (db {reg['db_bytes']}) for "
              f"{reg['hosts']} hosts and {reg['ledger_rows']} ledger rows: "
              f"{fmt(reg['bytes_per_host'])} bytes per host")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per loaded run")
    ap.add_argument("--hosts", type=int, default=20000, help="distinct hosts per run")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections to hold")
    ap.add_argument("--hold", type=float, default=5, help="seconds to hold them")
    ap.add_argument("--quick", action="store_true", help="2 s runs, 2,000 idle")
    ap.add_argument("--json", help="also write every raw result to this file")
    ap.add_argument("--tls", action="store_true", help="add the TLS rows (sync off)")
    ap.add_argument("--tls-only", action="store_true",
                    help="only the TLS rows and their plain counterparts, no idle run")
    a = ap.parse_args()
    if a.quick:
        a.duration, a.idle, a.hold = 2, 2000, 2
    a.duration = max(1, min(a.duration, 600))
    a.hold = max(1.0, min(a.hold, 100.0))
    for exe in (AGENT_LOAD, prismlib.PRISMD):
        if not os.access(exe, os.X_OK):
            sys.exit(f"{exe} not built (PRISM_BUILD_DIR / AGENT_LOAD)")
    nofile = raise_nofile()
    if nofile < a.idle + 100:
        log(f"open files limit {nofile}: holding {nofile - 100} idle connections instead")
        a.idle = max(1, nofile - 100)
    auth = supports_auth()
    runs, reg = [], None
    scenarios = SCENARIOS
    pki = None
    if a.tls or a.tls_only:
        pki = PKI(tempfile.mkdtemp(prefix="prism-agent-bench-pki-"))
        pki.server = pki.issue("server", "localhost", dns=["localhost"], server=True)
        scenarios = [s for s in SCENARIOS if not a.tls_only or not s[3]] + TLS_SCENARIOS
    # every run on a fresh registry (and a fresh PowerDNS): rows are comparable, not
    # skewed by what the runs before them left in the registry
    for name, mode, prefix, sync, rst, depth, tls in scenarios:
        log(name + ":")
        pdns = PowerDNS().start() if sync else None
        d = None
        try:
            d = start_prismd(pdns, auth, pki if tls else None)
            d.token = TOKEN if auth else None
            try:
                runs.append(loaded(d, name, mode, prefix, a, sync, rst=rst, depth=depth,
                                   tls=tls, pki=pki))
            finally:
                d.stop()
            if sync:
                reg = registry_size(d)
        finally:
            if d is not None:
                shutil.rmtree(d.dir, ignore_errors=True)
            if pdns is not None:
                pdns.cleanup()

    idle = None
    if not a.tls_only:
        log(f"idle: {a.idle} connections:")
        idle = idle_run(a)
    if pki is not None:
        shutil.rmtree(pki.dir, ignore_errors=True)
    print_table(runs, idle, reg, a, auth)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "idle": idle, "registry": reg,
                       "nproc": os.cpu_count()}, f, indent=2)


if __name__ == "__main__":
    main()
