"""The report of benches/compare.sh: Markdown tables of one run's JSON lines
(written by benches/loadgen), with the ratios blobgate/peer and
blobgate/limit and the issue's targets, measured.

  python3 benches/compare_report.py target/bench/compare-DATE.jsonl

Units: large-object phases in MiB/s and server CPU seconds per GiB moved;
small-object and listing phases in operations (pages, for listing) per
second and server CPU milliseconds per operation. "server" is the gateway
(or Azurite for the direct row, nginx for the static server); Azurite's own
CPU under each Azure target is shown apart. Standard library only.
"""

import json
import sys

FS = ("blobgate-fs", "rclone-fs", "nginx")
AZ = ("blobgate-az", "rclone-az", "azurite")
GIB = 1 << 30


def load(path):
    meta, rows = {}, {}
    for line in open(path):
        d = json.loads(line)
        if "meta" in d:
            meta.update(d["meta"])
        elif "meta_end" in d:
            meta.update(d["meta_end"])
        else:
            rows[d["target"], d["phase"]] = d
    return meta, rows


def large(row):
    return row["object_bytes"] >= 1 << 20


def rate(row):
    """Throughput in the phase's unit, or None when nothing succeeded."""
    if row is None or row["ops"] == 0:
        return None
    return row["mib_per_s"] if large(row) else row["ops_per_s"]


def cpu(row, who="server"):
    """CPU per GiB (large) or ms per op (small) of process group `who`."""
    if row is None or row["ops"] == 0 or who not in row["cpu_s"]:
        return None
    c = row["cpu_s"][who]
    if large(row):
        return c / (row["bytes"] / GIB) if row["bytes"] else None
    return c / row["ops"] * 1000


def fmt(x, digits=None):
    if x is None:
        return "-"
    if digits is None:
        digits = 0 if abs(x) >= 100 else 1 if abs(x) >= 10 else 2
    return f"{x:.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


def cell(row):
    """Throughput, or why there is none."""
    if row is None:
        return "-"
    if row["ops"] == 0:
        return f"failed: {row['first_error'] or row['status']}"
    text = fmt(rate(row))
    if row["errors"]:
        text += f" ({row['errors']} errors)"
    return text


def listed(rows, target, phase):
    """For a listing phase: how many keys its target's fill phase wrote
    (Azure targets may not write all 10,000 within the fill's time bound,
    and Azurite's listing cost grows with the container)."""
    if not phase.startswith("list-") or phase.startswith("list-fill"):
        return ""
    fill = next((r for (t, p), r in rows.items() if t == target and p.startswith("list-fill")), None)
    return f" ({fill['ops']} keys)" if fill else ""


def latency(row):
    if row is None or row["ops"] == 0 or large(row):
        return "-"
    return f"{fmt(row['p50_ms'])} / {fmt(row['p99_ms'])}"


def rss(row):
    if row is None or "server" not in row["peak_rss_mib"]:
        return "-"
    return fmt(row["peak_rss_mib"]["server"], 0)


def phases(rows, targets):
    seen = []
    for (t, p) in rows:
        if t in targets and p not in seen:
            seen.append(p)
    return seen


def unit(rows, phase):
    any_row = next(r for (t, p), r in rows.items() if p == phase)
    return ("MiB/s", "CPU s/GiB") if large(any_row) else ("ops/s", "CPU ms/op")


def table(header, lines):
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(str(c) for c in line) + " |" for line in lines]
    return "\n".join(out)


def fs_tables(rows):
    bg, rc, ng = FS
    if not any(t in (bg, rc) for t, _ in rows):
        return ""
    speed, cost = [], []
    for p in phases(rows, FS):
        g, r, n = rows.get((bg, p)), rows.get((rc, p)), rows.get((ng, p))
        u, cu = unit(rows, p)
        speed.append([p, u, cell(g) + listed(rows, bg, p), cell(r) + listed(rows, rc, p),
                      cell(n), fmt(ratio(rate(g), rate(r))),
                      fmt(ratio(rate(g), rate(n))), latency(g), latency(r), latency(n)])
        cost.append([p, cu, fmt(cpu(g)), fmt(cpu(r)), fmt(cpu(n)), fmt(ratio(cpu(g), cpu(r))),
                     rss(g), rss(r), rss(n)])
    return "\n\n".join([
        "### fs path: throughput",
        table(["phase", "unit", "blobgate", "rclone", "nginx", "blobgate / rclone", "blobgate / nginx",
               "blobgate p50 / p99 ms", "rclone p50 / p99 ms", "nginx p50 / p99 ms"], speed),
        "### fs path: server CPU and peak RSS",
        table(["phase", "unit", "blobgate", "rclone", "nginx", "blobgate / rclone",
               "blobgate RSS MiB", "rclone RSS MiB", "nginx RSS MiB"], cost),
    ])


def az_tables(rows):
    bg, rc, az = AZ
    if not any(t in AZ for t, _ in rows):
        return ""
    speed, cost = [], []
    for p in phases(rows, AZ):
        g, r, d = rows.get((bg, p)), rows.get((rc, p)), rows.get((az, p))
        u, cu = unit(rows, p)
        speed.append([p, u, cell(g) + listed(rows, bg, p), cell(r) + listed(rows, rc, p),
                      cell(d) + listed(rows, az, p), fmt(ratio(rate(g), rate(r))),
                      fmt(ratio(rate(g), rate(d))), latency(g), latency(r), latency(d)])
        cost.append([p, cu, fmt(cpu(g)), fmt(cpu(r)), fmt(ratio(cpu(g), cpu(r))),
                     fmt(cpu(g, "azurite")), fmt(cpu(r, "azurite")), fmt(cpu(d, "azurite")),
                     rss(g), rss(r)])
    return "\n\n".join([
        "### Azure path: throughput",
        table(["phase", "unit", "blobgate", "rclone", "Azurite direct", "blobgate / rclone",
               "blobgate / direct", "blobgate p50 / p99 ms", "rclone p50 / p99 ms",
               "direct p50 / p99 ms"], speed),
        "### Azure path: gateway CPU, Azurite CPU and gateway peak RSS",
        table(["phase", "unit", "blobgate", "rclone", "blobgate / rclone", "Azurite under blobgate",
               "Azurite under rclone", "Azurite direct", "blobgate RSS MiB", "rclone RSS MiB"], cost),
    ])


def check(label, value, goal, better):
    if value is None:
        return f"- {label}: not measured"
    met = value >= goal if better == "higher" else value <= goal
    goal_text = "1/3" if abs(goal - 1 / 3) < 1e-9 else f"{goal:g}"
    sign = ">=" if better == "higher" else "<="
    return f"- {label}: {value:.2f} (target {sign} {goal_text}) **{'met' if met else 'missed'}**"


def targets(rows):
    out = ["### The issue's targets, measured"]
    bg, rc, az = AZ
    for p in phases(rows, AZ):
        g, d, r = rows.get((bg, p)), rows.get((az, p)), rows.get((rc, p))
        if p.startswith("list-fill"):
            continue
        out.append(check(f"Azure {p}: blobgate / direct throughput", ratio(rate(g), rate(d)), 0.95, "higher"))
        out.append(check(f"Azure {p}: blobgate / rclone gateway CPU per {'GiB' if g and large(g) else 'op'}",
                         ratio(cpu(g), cpu(r)), 1 / 3, "lower"))
    bgf, rcf, _ = FS
    for p in phases(rows, FS):
        g, r = rows.get((bgf, p)), rows.get((rcf, p))
        if g is None or r is None or p.startswith("list"):
            continue
        goal = 2 if large(g) else 3
        out.append(check(f"fs {p}: blobgate / rclone throughput", ratio(rate(g), rate(r)), goal, "higher"))
    for t in (bgf, bg):
        big = [v["peak_rss_mib"].get("server") for (tt, p), v in rows.items() if tt == t and large(v) and v["ops"]]
        small = [v["peak_rss_mib"].get("server") for (tt, p), v in rows.items()
                 if tt == t and not large(v) and v["ops"] and not p.startswith("list")]
        if big and small:
            out.append(f"- {t} peak RSS: {max(big):.0f} MiB in the 64 MiB phases, {max(small):.0f} MiB in the "
                       f"4 KiB phases (peak within each phase, concurrency up to 4 and 64)")
    return "\n".join(out)


def main(path):
    meta, rows = load(path)
    head = [
        f"## Comparison run {meta.get('date', '?')} at commit {meta.get('commit', '?')}",
        "",
        f"Machine: {meta.get('cores')} cores ({meta.get('cpu')}), {meta.get('mem_gib')} GiB, Linux "
        f"{meta.get('kernel')}; load average {meta.get('loadavg_start')} at the start, "
        f"{meta.get('loadavg_end', '?')} at the end; the phases took {meta.get('bench_s', '?')} s "
        f"({meta.get('wall_s', '?')} s with building and installing). "
        f"{meta.get('rclone', '')}; Azurite {meta.get('azurite')}; nginx {meta.get('nginx')}."
        + (f" loadgen extra arguments: `{meta['loadgen_args']}`." if meta.get("loadgen_args") else ""),
    ]
    parts = [p for p in ("\n".join(head), fs_tables(rows), az_tables(rows), targets(rows)) if p]
    print("\n\n".join(parts))


if __name__ == "__main__":
    main(sys.argv[1])
