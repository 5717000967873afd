#!/usr/bin/env python3
"""Turns the runs scripts/bench.sh recorded into the comparison table, the JSON
summary (bench/results/latest.json) and a PNG bar chart.

    report.py RUNS.jsonl OUT.json OUT.png [--machine TEXT] [--extra EXTRA.json]

RUNS.jsonl holds one client result per line (apps/perf's JSON, plus "rep" and "row",
the row it measures: "TCP_RR 1 conn" is a TCP_RR run with one connection); EXTRA.json
(optional) holds rows measured otherwise (instructions per segment, wrk, the preload
rows of bench/preload.sh), each
{"name", "unit", "shardtcp", "kernel" (or null), ...}.
"""
import argparse
import datetime
import json
import statistics
import sys

ORDER = ["TCP_STREAM", "TCP_STREAM virtio", "TCP_RR 1 conn", "TCP_RR", "TCP_RR 256 conns", "TCP_RR ordinary thread",
         "TCP_CRR", "CONNS", "CONNS 10k", "CONNS 100k", "CONNS 1M"]


def bytes_per_conn(run):
    """What one held connection costs the client's process: RSS growth plus the packet
    buffers (hugepage memory, not in RSS) it holds."""
    n = max(run["conns_held"], 1)
    mbufs = 0
    if run.get("mbufs_in_use_before", -1) >= 0 and run.get("mbuf_bytes", -1) > 0:
        mbufs = (run["mbufs_in_use_after"] - run["mbufs_in_use_before"]) * run["mbuf_bytes"]
    return (run["rss_after_kib"] - run["rss_before_kib"]) * 1024.0 / n + mbufs / n


def row_of(run):
    return run.get("row", run["workload"])


def load_runs(path):
    runs = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                runs.append(json.loads(line))
    return runs


def summarise(values):
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def build(runs, extra):
    rows = []
    seen = {row_of(r) for r in runs}
    names = [n for n in ORDER if n in seen] + sorted(seen - set(ORDER))
    for name in names:
        row = {"name": name}
        for side in ("shardtcp", "kernel"):
            mine = [r for r in runs if row_of(r) == name and r["side"] == side]
            ok = [r for r in mine if r.get("errors", 0) == 0 and r.get("verify_errors", 0) == 0]
            vals = [r["value"] for r in ok]
            med, lo, hi = summarise(vals)
            row[side] = med
            row[side + "_min"] = lo
            row[side + "_max"] = hi
            row[side + "_runs"] = vals
            row[side + "_failed_runs"] = len(mine) - len(ok)
            if mine:
                row["unit"] = mine[0]["unit"]
            if mine and mine[0]["workload"] in ("TCP_RR", "TCP_CRR") and ok:
                row[side + "_p50_us"] = statistics.median(r["p50_us"] for r in ok)
                row[side + "_p99_us"] = statistics.median(r["p99_us"] for r in ok)
                row["concurrency"] = ok[0]["concurrency"]
            if mine and mine[0]["workload"] == "CONNS" and ok:
                row[side + "_rss_bytes_per_conn"] = statistics.median(
                    r["rss_bytes_per_conn"] for r in ok)
                if side == "shardtcp":
                    row["shardtcp_mbufs_per_conn"] = statistics.median(
                        (r["mbufs_in_use_after"] - r["mbufs_in_use_before"]) / max(r["conns_held"], 1)
                        for r in ok)
                    row["shardtcp_bytes_per_conn"] = statistics.median(bytes_per_conn(r) for r in ok)
                    if "idle_iterations_per_s" in ok[0]:
                        row["shardtcp_idle_iterations_per_s"] = statistics.median(
                            r["idle_iterations_per_s"] for r in ok)
                if "establish_per_s" in ok[0]:
                    row[side + "_establish_per_s"] = statistics.median(r["establish_per_s"] for r in ok)
                    row[side + "_idle_cpu_per_s"] = statistics.median(r["idle_cpu_per_s"] for r in ok)
            if side == "shardtcp" and ok and "port_offloads" in ok[0]:
                # TCP_STREAM on the stack: what the client's port negotiated, and the
                # share of the bytes it handed to the device as TSO frames.
                row["shardtcp_client_offloads"] = ok[0]["port_offloads"]
                row["shardtcp_client_tso_share"] = statistics.median(
                    r["tcp_layer"]["tx_tso_bytes"] / max(r["bytes"], 1) for r in ok)
            if mine and mine[0]["workload"] == "CONNS":
                # Every connection opened, held and echoing: a run with an error is not.
                row[side + "_echo_ok"] = bool(mine) and len(ok) == len(mine)
        row.setdefault("unit", "")
        if row.get("shardtcp") and row.get("kernel"):
            row["ratio"] = row["shardtcp"] / row["kernel"]
        else:
            row["ratio"] = None
        rows.append(row)
    for e in extra:
        e = dict(e)
        if e.get("shardtcp") is not None and e.get("kernel"):
            e.setdefault("ratio", e["shardtcp"] / e["kernel"])
        else:
            e.setdefault("ratio", None)
        rows.append(e)
    return rows


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def table(rows):
    head = ["workload", "unit", "shardtcp median", "min", "max", "kernel median", "min", "max",
            "ratio"]
    lines = []
    body = []
    for r in rows:
        body.append([
            r["name"], r.get("unit", ""),
            fmt(r.get("shardtcp")), fmt(r.get("shardtcp_min")), fmt(r.get("shardtcp_max")),
            fmt(r.get("kernel")), fmt(r.get("kernel_min")), fmt(r.get("kernel_max")),
            "-" if r.get("ratio") is None else f"{r['ratio']:.2f}x",
        ])
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        lines.append("| " + " | ".join(x.ljust(w) for x, w in zip(b, widths)) + " |")
    notes = []
    for r in rows:
        if "shardtcp_p50_us" in r or "kernel_p50_us" in r:
            notes.append(f"{r['name']} (concurrency {r.get('concurrency')}): latency p50/p99 "
                         f"shardtcp {fmt(r.get('shardtcp_p50_us'))}/{fmt(r.get('shardtcp_p99_us'))} us, "
                         f"kernel {fmt(r.get('kernel_p50_us'))}/{fmt(r.get('kernel_p99_us'))} us")
        if r["name"].startswith("CONNS"):
            notes.append(f"{r['name']}: memory per held connection shardtcp "
                         f"{fmt(r.get('shardtcp_bytes_per_conn'))} B (RSS growth "
                         f"{fmt(r.get('shardtcp_rss_bytes_per_conn'))} B, mbufs held per idle connection "
                         f"{fmt(r.get('shardtcp_mbufs_per_conn'))}), kernel-perf process "
                         f"{fmt(r.get('kernel_rss_bytes_per_conn'))} B (the kernel's sockets live in "
                         "kernel memory, not in that RSS); established/s shardtcp "
                         f"{fmt(r.get('shardtcp_establish_per_s'))}, kernel {fmt(r.get('kernel_establish_per_s'))}; "
                         f"echo check shardtcp {'passed' if r.get('shardtcp_echo_ok') else 'FAILED'}, "
                         f"kernel {'passed' if r.get('kernel_echo_ok') else 'FAILED'}; idle: engine "
                         f"iterations/s {fmt(r.get('shardtcp_idle_iterations_per_s'))} (flat in the "
                         "connection count when nothing scans idle connections), CPU s per idle s "
                         f"shardtcp {fmt(r.get('shardtcp_idle_cpu_per_s'))} (a polling engine), "
                         f"kernel process {fmt(r.get('kernel_idle_cpu_per_s'))}")
        if "shardtcp_client_offloads" in r:
            on = [k for k, v in r["shardtcp_client_offloads"].items() if v == 1]
            notes.append(f"{r['name']}: the stack client's port offloads: "
                         f"{', '.join(on) if on else 'none'}; bytes sent as TSO frames: "
                         f"{100 * r['shardtcp_client_tso_share']:.0f}%")
        failed = (r.get("shardtcp_failed_runs") or 0) + (r.get("kernel_failed_runs") or 0)
        if failed:
            notes.append(f"{r['name']}: {r.get('shardtcp_failed_runs')} shardtcp and "
                         f"{r.get('kernel_failed_runs')} kernel runs failed and are not counted")
    return "\n".join(lines + [""] + notes)


def chart(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: python3-matplotlib missing, no chart", file=sys.stderr)
        return
    pairs = [r for r in rows if r.get("shardtcp") is not None and r.get("kernel")]
    if not pairs:
        return
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.2 * len(pairs), 3.6), squeeze=False)
    for ax, r in zip(axes[0], pairs):
        vals = [r["kernel"], r["shardtcp"]]
        errs_lo = [r["kernel"] - (r.get("kernel_min") or r["kernel"]),
                   r["shardtcp"] - (r.get("shardtcp_min") or r["shardtcp"])]
        errs_hi = [(r.get("kernel_max") or r["kernel"]) - r["kernel"],
                   (r.get("shardtcp_max") or r["shardtcp"]) - r["shardtcp"]]
        ax.bar(["kernel", "shardtcp"], vals, color=["#888888", "#2a7ab9"],
               yerr=[errs_lo, errs_hi], capsize=4)
        ratio = r.get("ratio")
        ax.set_title(f"{r['name']}\n{'' if ratio is None else f'{ratio:.2f}x'}", fontsize=10)
        ax.set_ylabel(r.get("unit", ""))
    fig.suptitle("shardtcp vs Linux kernel TCP (median, min-max)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("out_json")
    ap.add_argument("out_png")
    ap.add_argument("--machine", default="")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--repetitions", type=int, default=None)
    ap.add_argument("--extra", default=None)
    a = ap.parse_args()
    runs = load_runs(a.runs)
    extra = []
    if a.extra:
        with open(a.extra) as f:
            extra = json.load(f)
    rows = build(runs, extra)
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": a.machine,
        "seconds": a.seconds,
        "repetitions": a.repetitions,
        "workloads": rows,
    }
    with open(a.out_json, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    chart(rows, a.out_png)
    print(f"{doc['date']}, {a.machine}")
    print(table(rows))


if __name__ == "__main__":
    main()
