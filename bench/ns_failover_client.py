#!/usr/bin/env python3
"""Long-lived keep-alive connections across a load-balancer failover.

Opens N connections to HOST:PORT, and on each sends `GET /id.txt` every
INTERVAL seconds (one request in flight per connection at most), recording
which backend answered (nginx's `X-Web` header). It writes READY_FILE once
every connection has had its first answer; the caller then cuts the master's
links and writes the time of the cut (seconds since the epoch, as
`date +%s.%N` prints) to CUT_FILE. AFTER seconds after the cut (or after
DURATION seconds in all, whichever comes first) each connection is
classified against the cut:

  same       a request sent after the cut was answered, every such answer
             from the backend the connection had before
  other      a request sent after the cut was answered by another backend
  reset      the connection was reset or closed (no request sent after the
             cut was answered)
  stalled    still open, but no request sent after the cut was answered

(A request is "after the cut" if it was sent after the links went down:
answers already on their way when the cut happened do not count.)

Prints one JSON object: the counts, the stall (the longest gap between two
answers, around the cut) per class, and the per-connection records with
--verbose. Talks only to HOST, which the caller puts inside its namespaces.
"""

import argparse
import json
import selectors
import socket
import statistics
import sys
import time


class Conn:
    def __init__(self, i, host, port):
        self.i = i
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.sock.connect_ex((host, port))
        self.local = None
        self.buf = b""
        self.inflight = None   # send time of the request in flight
        self.next_send = 0.0
        self.answers = []      # (sent, received, backend)
        self.closed_at = None
        self.error = None

    def request(self, now, host):
        try:
            self.sock.send(f"GET /id.txt HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        except OSError as e:
            self.close(now, e)
            return
        self.inflight = now

    def close(self, now, err):
        if self.closed_at is None:
            self.closed_at = now
            self.error = err if isinstance(err, str) else type(err).__name__
            try:
                self.sock.close()
            except OSError:
                pass

    def on_readable(self, now):
        """Reads what arrived; returns True if a whole response was parsed."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return False
        except OSError as e:
            self.close(now, e)
            return False
        if not data:
            self.close(now, "eof")
            return False
        self.buf += data
        got = False
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                break
            head = self.buf[:head_end].decode("latin-1").split("\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
            length = int(fields.get("content-length", "0"))
            if len(self.buf) < head_end + 4 + length:
                break
            self.buf = self.buf[head_end + 4 + length:]
            self.answers.append((self.inflight, now, fields.get("x-web", "?")))
            self.inflight = None
            got = True
        return got


def classify(c, cut):
    before = [b for sent, _, b in c.answers if sent < cut]
    after = [b for sent, _, b in c.answers if sent >= cut]
    first = before[-1] if before else None
    if after:
        cls = "same" if all(b == first for b in after) else "other"
    elif c.closed_at is not None:
        cls = "reset"
    else:
        cls = "stalled"
    # The stall: from the last answer to a request sent before the cut to
    # the first answer to one sent after it.
    gap = None
    if after:
        gap = (min(rcv for sent, rcv, _ in c.answers if sent >= cut)
               - max((rcv for sent, rcv, _ in c.answers if sent < cut), default=cut))
    return {"conn": c.i, "local": c.local, "backend": first, "after": sorted(set(after)), "class": cls,
            "answers_before": len(before), "answers_after": len(after), "stall_s": gap, "error": c.error,
            "closed_after_cut_s": None if c.closed_at is None else round(c.closed_at - cut, 3)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--after", type=float, default=8.0)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--cut-file", required=True)
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    sel = selectors.DefaultSelector()
    start = time.time()
    conns = []
    for i in range(a.conns):
        c = Conn(i, a.host, a.port)
        # first request as soon as connected; later ones spread over the interval
        c.next_send = start + (i % 20) * a.interval / 20
        conns.append(c)
        sel.register(c.sock, selectors.EVENT_READ, c)
    ready = False
    cut = None
    deadline = start + a.duration
    next_look = 0.0
    while True:
        now = time.time()
        if now >= deadline:
            break
        if ready and cut is None and now >= next_look:
            next_look = now + 0.1
            try:
                with open(a.cut_file) as f:
                    cut = float(f.read().strip())
                deadline = min(deadline, cut + a.after)
            except (OSError, ValueError):
                pass
        for c in conns:
            if c.closed_at is None and c.inflight is None and now >= c.next_send:
                if c.local is None:
                    try:
                        c.local = "%s:%d" % c.sock.getsockname()
                        c.sock.getpeername()
                    except OSError:
                        continue  # not connected yet
                c.request(now, a.host)
                c.next_send = max(c.next_send + a.interval, now)
        timeout = max(0.0, min(0.005, deadline - now))
        for key, _ in sel.select(timeout):
            c = key.data
            if c.closed_at is not None:
                continue
            c.on_readable(time.time())
            if c.closed_at is not None:
                try:
                    sel.unregister(key.fileobj)
                except (KeyError, ValueError):
                    pass
        if not ready and all(c.answers for c in conns):
            ready = True
            with open(a.ready_file, "w") as f:
                f.write(f"{time.time():.6f}\n")
        if not ready and now - start > 10:
            print(json.dumps({"error": "not every connection got a first answer in 10 s",
                              "answered": sum(1 for c in conns if c.answers)}))
            return 1

    if cut is None:
        print(json.dumps({"error": f"no cut time in {a.cut_file} within {a.duration} s"}))
        return 1
    recs = [classify(c, cut) for c in conns]
    counts = {k: sum(1 for r in recs if r["class"] == k) for k in ("same", "other", "reset", "stalled")}
    backends = {}
    for r in recs:
        backends[r["backend"]] = backends.get(r["backend"], 0) + 1
    stalls = [r["stall_s"] for r in recs if r["class"] in ("same", "other") and r["stall_s"] is not None]
    out = {
        "conns": a.conns, **counts, "backends_before": backends,
        "stall_median_s": round(statistics.median(stalls), 3) if stalls else None,
        "stall_max_s": round(max(stalls), 3) if stalls else None,
        "errors": sorted({r["error"] for r in recs if r["error"]}),
    }
    if a.verbose:
        out["records"] = recs
    print(json.dumps(out))
    for c in conns:
        if c.closed_at is None:
            c.sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
