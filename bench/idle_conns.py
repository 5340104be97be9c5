#!/usr/bin/env python3
"""Memory per idle connection of a proxy.

Reads the VmRSS of the given processes, opens N TCP connections to
127.0.0.1:PORT, keeps them idle for HOLD seconds, reads VmRSS again, checks
how many connections the proxy still holds open and how many it opened to
the backends, closes everything and prints one JSON object:

  {"n": 10000, "opened": 10000, "alive": 10000, "backend_conns": 10000,
   "rss_before": bytes, "rss_after": bytes, "per_conn": bytes, "pids": [...]}

rss_* are sums over all pids (for rampart: the supervisor and its worker).
Loopback only: the address is always 127.0.0.1.
"""

import argparse
import errno
import json
import os
import resource
import socket
import subprocess
import sys
import time


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def total_rss(pids):
    return sum(rss_bytes(p) for p in pids)


def established_to(ports):
    """Established TCP connections whose peer port is one of `ports`."""
    flt = " or ".join(f"dport = :{p}" for p in ports)
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( {flt} )"],
        capture_output=True, text=True, check=False,
    ).stdout
    return sum(1 for line in out.splitlines() if line.strip())


def still_open(sock):
    """True if the peer has not closed (nothing to read, no EOF)."""
    try:
        data = sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
        return data != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--pids", required=True, help="comma-separated pids whose RSS is summed")
    ap.add_argument("--backend-ports", default="18081,18082")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.n + 256
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        except (ValueError, OSError):
            pass

    pids = [int(p) for p in a.pids.split(",") if p]
    backend_ports = [int(p) for p in a.backend_ports.split(",") if p]
    base_backend = established_to(backend_ports)
    before = total_rss(pids)

    socks, errors = [], {}
    t0 = time.monotonic()
    for _ in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", a.port))
            s.setblocking(False)  # still_open() must never wait
            socks.append(s)
        except OSError as e:
            name = errno.errorcode.get(e.errno, str(e)) if e.errno else type(e).__name__
            errors[name] = errors.get(name, 0) + 1
            s.close()
            if len(errors) and sum(errors.values()) > 100:
                break
    connect_s = time.monotonic() - t0

    time.sleep(a.hold)
    after = total_rss(pids)
    backend = established_to(backend_ports) - base_backend
    alive = sum(1 for s in socks if still_open(s))
    for s in socks:
        s.close()

    opened = len(socks)
    res = {
        "n": a.n,
        "opened": opened,
        "alive": alive,
        "backend_conns": backend,
        "connect_errors": errors,
        "connect_seconds": round(connect_s, 2),
        "rss_before": before,
        "rss_after": after,
        "per_conn": round((after - before) / opened, 1) if opened else None,
        "pids": pids,
    }
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
