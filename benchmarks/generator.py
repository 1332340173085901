"""Speed and memory of the synthetic event-log generator.

Each run happens in a fresh Python process (so peak memory is that run's own),
after a tiny warm-up call; the table reports the median of the repeats.

    python benchmarks/generator.py                       # 100k and 1M customers, 3 runs each
    python benchmarks/generator.py --sizes 20000 --repeats 3   # quick check
    python benchmarks/generator.py --sizes 100000 --profiles basic,retail   # both profiles

Writes benchmarks/results/generator.md (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "2023-01-01", "2025-01-01"


def _child(n_customers: int, seed: int, profile: str) -> None:
    """Generate once and print timing, size and peak memory as JSON."""
    from repurchase_ml.datasets import make_event_log

    make_event_log(100, START, END, random_state=seed, profile=profile)  # warm-up
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tic, cpu = time.perf_counter(), time.process_time()
    events, truth = make_event_log(n_customers, START, END, random_state=seed, profile=profile)
    seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    result = {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "load": os.getloadavg()[0],
        "events": len(events),
        "purchases": int((events["event_type"] == "purchase").sum()),
        "peak_rss_gib": peak_rss / 2**20,
        "base_rss_gib": base_rss / 2**20,
        "frame_gib": events.memory_usage(deep=False).sum() / 2**30,
    }
    print(json.dumps(result))


def _run(n_customers: int, seed: int, profile: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(n_customers), str(seed), "--profile", profile],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(rows: list[dict[str, float]], repeats: int, command: str) -> str:
    lines = [
        "## Synthetic event log generator",
        "",
        f"`make_event_log(n, '{START}', '{END}', random_state=seed, profile=profile)` with "
        "default settings otherwise (behaviour on; `basic`: about 20 events per customer; "
        f"`retail`: the realistic shop log of `RetailProfile()`). Median of {repeats} "
        f"run{'s' if repeats != 1 else ''}, each in a fresh process after a warm-up call; peak memory is the process's maximum resident "
        "set, baseline the same before the timed call (Python, numpy, pandas, the warm-up). "
        "The machine is shared: CPU seconds (user + system of the process) do not depend on "
        "the other load, wall-clock seconds do; the load column is the 1-minute load average "
        "at the end of the runs.",
        "",
        "| profile | customers | events | events / customer | seconds (median) | seconds (range) "
        "| CPU seconds | events / s | events / CPU s | load | peak memory (GiB) | baseline (GiB) "
        "| frame (GiB, without strings) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['profile']} | {row['customers']:,} | {row['events']:,.0f} | {row['events'] / row['customers']:.1f} "
            f"| {row['seconds']:.2f} | {row['seconds_min']:.2f}–{row['seconds_max']:.2f} "
            f"| {row['cpu_seconds']:.2f} | {row['events'] / row['seconds']:,.0f} "
            f"| {row['events'] / row['cpu_seconds']:,.0f} "
            f"| {row['load']:.1f} | {row['peak_rss_gib']:.2f} "
            f"| {row['base_rss_gib']:.2f} "
            f"| {row['frame_gib']:.2f} |"
        )
    lines += [
        "",
        f"Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"measured {time.strftime('%Y-%m-%d')}. Reproduce with `{command}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> Path | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated numbers of customers (default: 100000,1000000)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per size (default 3)")
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "generator.md",
        help="where to write the markdown table",
    )
    parser.add_argument(
        "--profiles",
        default="basic",
        help="comma-separated generator profiles, basic and/or retail (default: basic)",
    )
    parser.add_argument("--profile", default="basic", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child, args.profile)
        return None
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    rows = []
    for profile, n in ((p, n) for p in profiles for n in sizes):
        runs = [_run(n, seed, profile) for seed in range(args.repeats)]
        seconds = [r["seconds"] for r in runs]
        rows.append(
            {
                "profile": profile,
                "customers": n,
                "events": statistics.median(r["events"] for r in runs),
                "seconds": statistics.median(seconds),
                "seconds_min": min(seconds),
                "seconds_max": max(seconds),
                "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
                "load": statistics.median(r["load"] for r in runs),
                "peak_rss_gib": statistics.median(r["peak_rss_gib"] for r in runs),
                "base_rss_gib": statistics.median(r["base_rss_gib"] for r in runs),
                "frame_gib": statistics.median(r["frame_gib"] for r in runs),
            }
        )
        print(
            f"{profile:>6} {n:>10,} customers: {rows[-1]['seconds']:.2f} s, "
            f"{rows[-1]['events']:,.0f} events"
        )
    command = (
        f"python benchmarks/generator.py --sizes {','.join(map(str, sizes))} "
        f"--repeats {args.repeats} --profiles {','.join(profiles)}"
    )
    from repurchase_ml._io import write_text_atomic

    return write_text_atomic(args.output, _table(rows, args.repeats, command))


if __name__ == "__main__":
    path = main()
    if path is not None:
        print(path)
