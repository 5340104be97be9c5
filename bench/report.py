#!/usr/bin/env python3
"""Turns the raw wrk outputs of bench/run.sh into the summary table.

Input: a runs.jsonl file, one JSON object per wrk run:
  {"workload": "keepalive", "target": "haproxy", "variant": "haproxy-t2",
   "threads": 2, "rep": 1, "wrk": "path/to/wrk-output.txt",
   "cpu_s": 3.2, "alive": true}
and optionally a memory.jsonl file (one object per proxy variant, from
idle_conns.py plus "target"/"variant"/"threads").

Output: a table on stdout, and results.json + results.md next to runs.jsonl.

Per (workload, variant) every metric is the median over the repetitions.
For each proxy the variant (thread count) with the higher median req/s is
reported, like "best of nbthread 1 and 2".
"""

import json
import os
import re
import statistics
import sys

TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# wrk prints binary units (1KB = 1024 B); we report MiB/s as "MB/s" like wrk.
SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}

WORKLOAD_TITLES = {
    "keepalive": "keep-alive 100 B, 50 conns",
    "close": "Connection: close 100 B, 50 conns",
    "big": "1 MiB bodies, 4 conns",
}
TARGET_ORDER = ["direct", "haproxy", "rampart", "rampart_base", "rampart_scraped"]


def parse_time(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", s.strip())
    if not m:
        raise ValueError(f"bad wrk time {s!r}")
    return float(m.group(1)) * TIME_UNITS[m.group(2)]


def parse_size(s):
    m = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", s.strip())
    if not m:
        raise ValueError(f"bad wrk size {s!r}")
    return float(m.group(1)) * SIZE_UNITS[m.group(2)]


def parse_wrk(text):
    """req/s, MiB/s, p50/p99 (seconds), requests, errors from `wrk --latency`."""
    r = {}
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    r["rps"] = float(m.group(1)) if m else None
    m = re.search(r"^Transfer/sec:\s+(\S+)", text, re.M)
    r["mbs"] = parse_size(m.group(1)) / 1024**2 if m else None
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        r[f"p{pct}"] = parse_time(m.group(1)) if m else None
    m = re.search(r"^\s+(\d+) requests in ([\d.]+\w+), (\S+) read", text, re.M)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["sock_errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    r["errors"] = sum(r["sock_errors"].values()) + r["non2xx"]
    return r


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_time(s):
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.0f}us"
    if s < 1:
        return f"{s * 1e3:.2f}ms"
    return f"{s:.2f}s"


def fmt_ratio(x):
    return "-" if x is None else f"{x:.2f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def load_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize(runs):
    """{workload: {variant: summary}}"""
    groups = {}
    for run in runs:
        try:
            with open(run["wrk"]) as f:
                w = parse_wrk(f.read())
        except (OSError, ValueError) as e:
            w = {"rps": None, "mbs": None, "p50": None, "p99": None, "errors": None, "parse_error": str(e)}
        run = {**run, **w}
        if run.get("cpu_s") is not None and w.get("requests"):
            run["cpu_us_per_req"] = run["cpu_s"] / w["requests"] * 1e6
        if run.get("segs") is not None and w.get("requests"):
            run["segs_per_req"] = run["segs"] / w["requests"]
        groups.setdefault(run["workload"], {}).setdefault(run["variant"], []).append(run)
    out = {}
    for wl, variants in groups.items():
        out[wl] = {}
        for var, rs in variants.items():
            out[wl][var] = {
                "target": rs[0]["target"],
                "variant": var,
                "threads": rs[0].get("threads"),
                "reps": len(rs),
                "rps": median(r["rps"] for r in rs),
                "mbs": median(r["mbs"] for r in rs),
                "p50": median(r["p50"] for r in rs),
                "p99": median(r["p99"] for r in rs),
                "cpu_us_per_req": median(r.get("cpu_us_per_req") for r in rs),
                "segs_per_req": median(r.get("segs_per_req") for r in rs),
                "errors": sum((r.get("errors") or 0) for r in rs),
                "died": sum(1 for r in rs if r.get("alive") is False),
                "runs": [{k: r.get(k) for k in ("rep", "rps", "mbs", "p50", "p99", "errors", "cpu_s")} for r in rs],
            }
    return out


def best_per_target(variants):
    """{target: summary of its variant with the highest median req/s}"""
    best = {}
    for s in variants.values():
        cur = best.get(s["target"])
        if cur is None or (s["rps"] or 0) > (cur["rps"] or 0):
            best[s["target"]] = s
    return best


def main():
    runs_path = sys.argv[1]
    outdir = os.path.dirname(os.path.abspath(runs_path))
    mem_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(outdir, "memory.jsonl")
    meta_path = os.path.join(outdir, "meta.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}

    summary = summarize(load_jsonl(runs_path))
    memory = load_jsonl(mem_path)

    lines_txt, lines_md = [], []
    hdr = ["workload", "target", "req/s", "MB/s", "p50", "p99", "cpu us/req", "segs/req", "err",
           "req/s vs HAProxy", "p99 vs HAProxy", "req/s vs direct", "p99 vs direct"]
    rows = []
    table = {}
    wl_order = [w for w in WORKLOAD_TITLES if w in summary] + [w for w in summary if w not in WORKLOAD_TITLES]
    for wl in wl_order:
        best = best_per_target(summary[wl])
        table[wl] = {"best": {t: s["variant"] for t, s in best.items()}, "variants": summary[wl]}
        hap, direct = best.get("haproxy"), best.get("direct")
        for t in TARGET_ORDER + sorted(set(best) - set(TARGET_ORDER)):
            s = best.get(t)
            if s is None:
                continue
            name = s["variant"] if t != "direct" else "direct"
            r = {"rps_vs_haproxy": None, "p99_vs_haproxy": None, "rps_vs_direct": None, "p99_vs_direct": None}
            if t.startswith("rampart"):
                r = {
                    "rps_vs_haproxy": ratio(s["rps"], hap and hap["rps"]),
                    "p99_vs_haproxy": ratio(s["p99"], hap and hap["p99"]),
                    "rps_vs_direct": ratio(s["rps"], direct and direct["rps"]),
                    "p99_vs_direct": ratio(s["p99"], direct and direct["p99"]),
                }
                if t == "rampart":
                    table[wl]["ratios"] = r
            err = str(s["errors"]) + (f" DIED x{s['died']}" if s["died"] else "")
            rows.append([
                WORKLOAD_TITLES.get(wl, wl), name,
                "-" if s["rps"] is None else f"{s['rps']:.0f}",
                "-" if s["mbs"] is None else f"{s['mbs']:.1f}",
                fmt_time(s["p50"]), fmt_time(s["p99"]),
                "-" if s["cpu_us_per_req"] is None else f"{s['cpu_us_per_req']:.1f}",
                "-" if s.get("segs_per_req") is None else f"{s['segs_per_req']:.1f}",
                err,
                fmt_ratio(r["rps_vs_haproxy"]), fmt_ratio(r["p99_vs_haproxy"]),
                fmt_ratio(r["rps_vs_direct"]), fmt_ratio(r["p99_vs_direct"]),
            ])

    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)] if rows else [len(h) for h in hdr]
    def line(cells):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    lines_txt.append(line(hdr))
    lines_txt.append("  ".join("-" * w for w in widths))
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            lines_txt.append("")
        prev = row[0]
        lines_txt.append(line(row))
    lines_md.append("| " + " | ".join(hdr) + " |")
    lines_md.append("|" + "|".join("---" for _ in hdr) + "|")
    for row in rows:
        lines_md.append("| " + " | ".join(row) + " |")

    # All variants (both thread counts), for reference.
    var_txt = []
    var_txt.append("all variants (median req/s, p99):")
    for wl in wl_order:
        parts = []
        for var in sorted(summary[wl]):
            s = summary[wl][var]
            parts.append(f"{var} {s['rps'] or 0:.0f} {fmt_time(s['p99'])}")
        var_txt.append(f"  {wl:<10} " + " | ".join(parts))

    mem_txt, mem_md, mem_json = [], [], {}
    if memory:
        mem_txt.append("idle connections: RSS growth per connection (VmRSS after - before) / connections opened")
        mem_md += ["", "| proxy | conns opened | still open | backend conns | RSS before | RSS after | bytes/conn |",
                   "|---|---|---|---|---|---|---|"]
        for m in memory:
            mem_json[m["variant"]] = m
            pc = m.get("per_conn")
            mem_txt.append(
                f"  {m['variant']:<12} opened {m.get('opened')}/{m.get('n')}  still open {m.get('alive')}  "
                f"backend conns {m.get('backend_conns')}  RSS {m.get('rss_before', 0) / 2**20:.1f} -> "
                f"{m.get('rss_after', 0) / 2**20:.1f} MiB  = {pc if pc is not None else '-'} B/conn"
                + (f"  connect errors {m['connect_errors']}" if m.get("connect_errors") else "")
                + (f"  ERROR {m['error']}" if m.get("error") else "")
            )
            mem_md.append(
                f"| {m['variant']} | {m.get('opened')}/{m.get('n')} | {m.get('alive')} | {m.get('backend_conns')} | "
                f"{m.get('rss_before', 0) / 2**20:.1f} MiB | {m.get('rss_after', 0) / 2**20:.1f} MiB | {pc} |"
            )
        ratios = []
        for th in sorted({m.get("threads") for m in memory}, key=lambda x: (x is None, x)):
            h = next((m for m in memory if m["target"] == "haproxy" and m.get("threads") == th), None)
            r = next((m for m in memory if m["target"] == "rampart" and m.get("threads") == th), None)
            if h and r and h.get("per_conn") and r.get("per_conn") is not None:
                q = r["per_conn"] / h["per_conn"]
                mem_json[f"ratio_t{th}"] = q
                ratios.append(f"threads={th}: rampart/HAProxy = {q:.2f}")
        if ratios:
            mem_txt.append("  bytes/conn ratio " + "; ".join(ratios))
            mem_md += ["", "bytes/conn ratio " + "; ".join(ratios)]

    head = []
    if meta:
        head.append(
            f"rampart bench: DUR={meta.get('dur')} R={meta.get('reps')} targets={meta.get('targets')} "
            f"cpus={meta.get('cpus')} date={meta.get('date')}"
        )
        head.append("direct = wrk thread 1 -> nginx :18081, thread 2 -> nginx :18082 (no proxy); "
                    "proxies: best of threads 1/2 by median req/s; ratios are rampart/HAProxy and rampart/direct")
        head.append("p99 ratio > 1 means rampart's p99 is higher (worse); cpu us/req = proxy CPU time "
                    "(user+sys, all its processes) / requests; segs/req = TCP segments sent on the host "
                    "(every side) / requests")
    print("\n".join(head + [""] + lines_txt + [""] + var_txt + ([""] + mem_txt if mem_txt else [])))

    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"meta": meta, "workloads": table, "memory": mem_json}, f, indent=2)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("# rampart bench results\n\n")
        if head:
            f.write("\n\n".join(head) + "\n\n")
        f.write("\n".join(lines_md) + "\n")
        if mem_md:
            f.write("\n## Idle connections\n" + "\n".join(mem_md) + "\n")
        f.write("\n```\n" + "\n".join(var_txt) + "\n```\n")


if __name__ == "__main__":
    main()
