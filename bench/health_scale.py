#!/usr/bin/env python3
"""Supervisor descriptors and memory with tens of thousands of health-checked
servers (issue 9, section 5).

Starts `rampart run` on a config with N servers on loopback, samples the
supervisor's open descriptors (/proc/PID/fd) and memory (VmRSS, VmHWM) every
SAMPLE seconds for DURATION seconds, times `rampart status` meanwhile, and
prints one summary line per run. The servers are a mix, so that checks
succeed, fail at once and time out:
  - OK%   listeners that accept and close (connect succeeds),
  - HANG% a listener that never accepts (its queue fills, connects time out),
  - the rest: closed ports on 127.0.0.2-127.0.0.201 (refused at once).

Usage: bench/health_scale.py [--servers 50000] [--nofile 4096] [--duration 30]
Needs `cargo build -p rampart` first (uses target/debug/rampart, which the
workspace profile builds optimised). Traffic stays on loopback.
"""

import argparse
import os
import resource
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "debug", "rampart")
BACKENDS = 10
ACCEPTORS = 8


def acceptors(n):
    """n listeners that accept and close every connection, on one thread."""
    sel = selectors.DefaultSelector()
    ports = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        ports.append(s.getsockname()[1])

    def run():
        while True:
            for key, _ in sel.select():
                try:
                    while True:
                        c, _ = key.fileobj.accept()
                        c.close()
                except (BlockingIOError, OSError):
                    pass

    threading.Thread(target=run, daemon=True).start()
    return ports


def hanging():
    """A listener that never accepts: once its small queue is full, the
    kernel drops SYNs and connects hang until the check times out."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s, s.getsockname()[1]


def config(n, ok_ports, hang_port, ok_pct, hang_pct, front):
    per = (n + BACKENDS - 1) // BACKENDS
    out = [f'[[frontend]]\nname = "f"\nbind = ["127.0.0.1:{front}"]\nbackend = "b0"\n']
    i = 0
    for b in range(BACKENDS):
        out.append(f'[[backend]]\nname = "b{b}"\nservers = [\n')
        for _ in range(min(per, n - i)):
            kind = (i * 7919) % 100  # deterministic mix, interleaved
            if kind < ok_pct:
                addr = f"127.0.0.1:{ok_ports[i % len(ok_ports)]}"
            elif kind < ok_pct + hang_pct:
                addr = f"127.0.0.1:{hang_port}"
            else:
                addr = f"127.0.0.{2 + i % 200}:9"
            out.append(f'  {{ name = "s{i}", addr = "{addr}" }},\n')
            i += 1
        out.append("]\n")
    return "".join(out)


def status_kb(pid):
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0])
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=50000)
    ap.add_argument("--nofile", type=int, default=0, help="0: inherit")
    ap.add_argument("--duration", type=float, default=30)
    ap.add_argument("--ok", type=int, default=40, help="percent accepting")
    ap.add_argument("--hang", type=int, default=10, help="percent timing out")
    ap.add_argument("--sample", type=float, default=0.2)
    a = ap.parse_args()

    ok_ports = acceptors(ACCEPTORS)
    _hang_sock, hang_port = hanging()
    f = socket.socket()
    f.bind(("127.0.0.1", 0))
    front = f.getsockname()[1]
    f.close()
    tmp = tempfile.mkdtemp(prefix="rampart-health-scale-")
    cfg = os.path.join(tmp, "n.toml")
    sock = os.path.join(tmp, "ctl.sock")
    with open(cfg, "w") as fh:
        fh.write(config(a.servers, ok_ports, hang_port, a.ok, a.hang, front))

    def limit():
        if a.nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, a.nofile))

    env = dict(os.environ, RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    p = subprocess.Popen([BIN, "run", "-c", cfg, "--control", sock],
                         preexec_fn=limit, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors = []
    threading.Thread(target=lambda: errors.extend(p.stderr), daemon=True).start()
    peak_fds, rss, hwm, lat = 0, 0, 0, []
    start = time.monotonic()
    next_status = start + 2
    try:
        while time.monotonic() - start < a.duration:
            if p.poll() is not None:
                sys.exit(f"rampart exited with {p.returncode}: {b''.join(errors[-5:]).decode()}")
            try:
                peak_fds = max(peak_fds, len(os.listdir(f"/proc/{p.pid}/fd")))
                m = status_kb(p.pid)
                rss, hwm = m["VmRSS"], m["VmHWM"]
            except FileNotFoundError:
                pass
            if time.monotonic() >= next_status and os.path.exists(sock):
                t = time.monotonic()
                r = subprocess.run([BIN, "status", "--control", sock],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                lat.append((time.monotonic() - t, r.returncode))
                next_status = time.monotonic() + 2
            time.sleep(a.sample)
    finally:
        p.terminate()
        p.wait(timeout=30)
    emfile = sum(b"Too many open files" in e for e in errors)
    times = sorted(t for t, _ in lat)
    failed = sum(1 for _, rc in lat if rc != 0)
    print(f"servers={a.servers} nofile={a.nofile or resource.getrlimit(resource.RLIMIT_NOFILE)[0]} "
          f"(raised to the hard limit by rampart) peak_fds={peak_fds} "
          f"VmRSS={rss // 1024}MiB VmHWM={hwm // 1024}MiB "
          f"status: n={len(lat)} failed={failed} "
          f"median={times[len(times) // 2] * 1000:.0f}ms max={times[-1] * 1000:.0f}ms "
          f"EMFILE_log_lines={emfile}" if times else "no status answered")


if __name__ == "__main__":
    main()
