#!/usr/bin/env python3
"""Turns the raw wrk outputs of bench/ns.sh into the summary table.

Input: a runs.jsonl file, one JSON object per wrk run:
  {"workload": "close", "target": "dnat-conntrack", "variant": "dnat-conntrack",
   "threads": null, "rep": 1, "wrk": "path/to/wrk-output.txt",
   "cpu_busy_s": 7.1, "cpu_irq_s": 1.2, "cpu_own_s": 6.9, "cpu_total_s": 8.0,
   "conntrack_before": 0, "conntrack_after": 21933, "alive": true}
cpu_busy_s is the whole machine's non-idle CPU time over the run (from
/proc/stat: every process and softirq, wrk and nginx included); cpu_own_s
is the bench's own share: the processes in its namespaces, wrk and the
ksoftirqd threads (with tick-based accounting softirq time, where veth,
bridge and netfilter run, is charged to the task it interrupts: mostly
these). On a machine shared with other work, busy - own is that other
work ("others").

Output: a table on stdout, and results.json + results.md next to runs.jsonl.
Every figure is the median over the rounds; for HAProxy and rampart's proxy
mode the thread count with the higher median rate is reported (both are in
"all variants"). Ratios: rate (req/s; MB/s for the 1 MiB workload) and p99
against direct and against HAProxy's best.
"""

import json
import os
import sys

sys.dont_write_bytecode = True  # importing report.py leaves no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from report import fmt_ratio, fmt_time, load_jsonl, median, parse_wrk, ratio  # noqa: E402

WORKLOAD_TITLES = {
    "keepalive": "keep-alive 100 B, 50 conns",
    "close": "Connection: close 100 B, 50 conns",
    "big": "1 MiB bodies, 4 conns",
}
TARGET_ORDER = ["direct", "haproxy", "rampart-proxy", "rampart-nat", "dnat-conntrack", "nat-bare"]


def rate(s, wl):
    """The workload's headline rate: MB/s for bulk, req/s otherwise."""
    return s["mbs"] if wl == "big" else s["rps"]


def summarize(runs):
    """{workload: {variant: summary}}"""
    groups = {}
    for run in runs:
        try:
            with open(run["wrk"]) as f:
                w = parse_wrk(f.read())
        except (OSError, ValueError) as e:
            w = {"rps": None, "mbs": None, "p50": None, "p99": None, "errors": None,
                 "requests": 0, "parse_error": str(e)}
        run = {**run, **w}
        if run.get("cpu_busy_s") is not None and w.get("requests"):
            run["cpu_us_per_req"] = run["cpu_busy_s"] / w["requests"] * 1e6
        if run.get("cpu_own_s") is not None and w.get("requests"):
            run["own_us_per_req"] = run["cpu_own_s"] / w["requests"] * 1e6
        if run.get("cpu_own_s") is not None and run.get("cpu_total_s"):
            run["others_share"] = max(0.0, run["cpu_busy_s"] - run["cpu_own_s"]) / run["cpu_total_s"]
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
                "own_us_per_req": median(r.get("own_us_per_req") for r in rs),
                "others_share": median(r.get("others_share") for r in rs),
                "cpu_busy_share": median(
                    r["cpu_busy_s"] / r["cpu_total_s"] for r in rs if r.get("cpu_total_s")),
                "conntrack_after": median(r.get("conntrack_after") for r in rs),
                "conntrack_growth": median(
                    (r["conntrack_after"] - r["conntrack_before"]) for r in rs
                    if r.get("conntrack_after") is not None and r.get("conntrack_before") is not None),
                "errors": sum((r.get("errors") or 0) for r in rs),
                "died": sum(1 for r in rs if r.get("alive") is False),
                "runs": [{k: r.get(k) for k in ("rep", "rps", "mbs", "p50", "p99", "errors", "cpu_busy_s",
                                                 "cpu_own_s", "cpu_us_per_req", "own_us_per_req",
                                                 "others_share", "conntrack_after")} for r in rs],
            }
    return out


def best_per_target(variants, wl):
    best = {}
    for s in variants.values():
        cur = best.get(s["target"])
        if cur is None or (rate(s, wl) or 0) > (rate(cur, wl) or 0):
            best[s["target"]] = s
    return best


def main():
    runs_path = sys.argv[1]
    outdir = os.path.dirname(os.path.abspath(runs_path))
    meta_path = os.path.join(outdir, "meta.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    summary = summarize(load_jsonl(runs_path))

    hdr = ["workload", "target", "req/s", "MB/s", "p50", "p99", "CPU us/req", "CPU vs direct",
           "own us/req", "own vs direct", "others", "err", "rate vs direct", "rate vs HAProxy", "p99 vs direct", "p99 vs HAProxy", "conntrack"]
    rows, table, notes = [], {}, []
    wl_order = [w for w in WORKLOAD_TITLES if w in summary] + [w for w in summary if w not in WORKLOAD_TITLES]
    for wl in wl_order:
        best = best_per_target(summary[wl], wl)
        direct, hap = best.get("direct"), best.get("haproxy")
        table[wl] = {"best": {t: s["variant"] for t, s in best.items()}, "variants": summary[wl], "ratios": {}}
        for t in TARGET_ORDER + sorted(set(best) - set(TARGET_ORDER)):
            s = best.get(t)
            if s is None:
                continue
            cpu, dcpu = s["cpu_us_per_req"], direct and direct["cpu_us_per_req"]
            own, down = s["own_us_per_req"], direct and direct["own_us_per_req"]
            r = {
                "rate_vs_direct": ratio(rate(s, wl), direct and rate(direct, wl)) if t != "direct" else None,
                "rate_vs_haproxy": ratio(rate(s, wl), hap and rate(hap, wl)) if t not in ("haproxy",) else None,
                "p99_vs_direct": ratio(s["p99"], direct and direct["p99"]) if t != "direct" else None,
                "p99_vs_haproxy": ratio(s["p99"], hap and hap["p99"]) if t != "haproxy" else None,
                "cpu_us_above_direct": (cpu - dcpu) if (cpu is not None and dcpu is not None and t != "direct") else None,
                "own_us_above_direct": (own - down) if (own is not None and down is not None and t != "direct") else None,
            }
            table[wl]["ratios"][t] = r
            ct = "-"
            if t == "dnat-conntrack" and s["conntrack_after"] is not None:
                ct = f"{s['conntrack_after']:.0f}"
            elif s["conntrack_growth"] and s["conntrack_growth"] > 100:
                notes.append(f"{wl} {s['variant']}: lb's conntrack table grew by {s['conntrack_growth']:.0f} "
                             "entries during its runs (conntrack was tracking it)")
            err = str(s["errors"]) + (f" DIED x{s['died']}" if s["died"] else "")
            delta = r["cpu_us_above_direct"]
            rows.append([
                WORKLOAD_TITLES.get(wl, wl), s["variant"],
                "-" if s["rps"] is None else f"{s['rps']:.0f}",
                "-" if s["mbs"] is None else f"{s['mbs']:.1f}",
                fmt_time(s["p50"]), fmt_time(s["p99"]),
                "-" if cpu is None else f"{cpu:.1f}",
                "-" if delta is None else f"{delta:+.1f}",
                "-" if own is None else f"{own:.1f}",
                "-" if r["own_us_above_direct"] is None else f"{r['own_us_above_direct']:+.1f}",
                "-" if s["others_share"] is None else f"{s['others_share'] * 100:.0f}%",
                err,
                fmt_ratio(r["rate_vs_direct"]), fmt_ratio(r["rate_vs_haproxy"]),
                fmt_ratio(r["p99_vs_direct"]), fmt_ratio(r["p99_vs_haproxy"]),
                ct,
            ])

    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)] if rows else [len(h) for h in hdr]

    def line(cells):
        return "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    txt = [line(hdr), "  ".join("-" * w for w in widths)]
    prev = None
    for row in rows:
        if prev is not None and row[0] != prev:
            txt.append("")
        prev = row[0]
        txt.append(line(row))
    md = ["| " + " | ".join(hdr) + " |", "|" + "|".join("---" for _ in hdr) + "|"]
    md += ["| " + " | ".join(row) + " |" for row in rows]

    var_txt = ["all variants (median req/s, MB/s, p99, CPU us/req):"]
    for wl in wl_order:
        parts = []
        for var in sorted(summary[wl]):
            s = summary[wl][var]
            cpu = s["cpu_us_per_req"]
            parts.append(f"{var} {s['rps'] or 0:.0f} {s['mbs'] or 0:.1f}MB/s {fmt_time(s['p99'])} "
                         f"{'-' if cpu is None else f'{cpu:.1f}'}")
        var_txt.append(f"  {wl:<10} " + " | ".join(parts))

    head = []
    if meta:
        head.append(f"rampart ns bench: DUR={meta.get('dur')} R={meta.get('reps')} cpus={meta.get('cpus')} "
                    f"kernel={meta.get('kernel')} date={meta.get('date')} rampart={meta.get('rampart_commit')}")
    head.append("client ns -> lb ns (VIP; ip_forward; the webs' route back) -> web1, web2 ns (nginx, 1 worker each). "
                "direct = routed through lb to the webs' :8080, no balancing")
    head.append("medians over the rounds; haproxy and rampart-proxy: best of threads 1/2 by rate; "
                "rate = req/s (MB/s for 1 MiB); CPU us/req = whole machine's busy CPU time (/proc/stat: "
                "wrk, nginx, the LB, softirq, and anything else running) / requests; CPU vs direct = the "
                "difference in us/req; own = only the bench's processes (its namespaces, wrk, ksoftirqd); "
                "others = the rest of the machine's load, % of all CPUs (noise); "
                "conntrack = lb's table size at the end of the run (dnat-conntrack only)")
    print("\n".join(head + [""] + txt + [""] + var_txt + ([""] + notes if notes else [])))

    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"meta": meta, "workloads": table, "notes": notes}, f, indent=2)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("# rampart namespace bench results\n\n")
        f.write("\n\n".join(head) + "\n\n")
        f.write("\n".join(md) + "\n")
        f.write("\n```\n" + "\n".join(var_txt + ([""] + notes if notes else [])) + "\n```\n")


if __name__ == "__main__":
    main()
