"""Benchmark ``repurchase-ml analyze``: every operations table at one as-of date, and its page.

The synthetic Tmall-style logs of ``benchmarks/features.py`` (about 20 events
per customer, 2022-2024, written to Parquet once and shared with that
benchmark) are analysed at 2023-12-01 in fresh subprocesses, each run
timing the steps of the analyze job on the canonical pandas frame:

- ``load``: ``pd.read_parquet`` to the canonical frame (reported, not in the total, as in
  the features benchmark; the job reads the configured log the same way);
- ``analytics``: :func:`repurchase_ml.analytics.run_analytics` (every table; its
  per-table seconds are reported too);
- ``write``: every table as Parquet and CSV, atomically;
- ``page``: the HTML page with its plots.

The per-action summary needs a radar (a trained model) and is left out.

Usage::

    python benchmarks/analytics.py --customers 100000 --runs 1   # 2M events, a minute
    python benchmarks/analytics.py                              # 20M events (the target)

It writes ``benchmarks/results/analytics.md`` atomically.
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
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repurchase_ml._io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from features import arrow_mb, make_log, read_log  # noqa: E402  (the shared benchmark logs)

AS_OF = "2023-12-01"
TARGET_SECONDS = 30.0
STEPS = ("analytics", "write", "page")


def worker(path: Path) -> dict:
    """One measured run in this (fresh) process."""
    import pandas as pd

    from repurchase_ml._io import write_frame_atomic
    from repurchase_ml.analytics import run_analytics
    from repurchase_ml.analytics.page import build_page

    times: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(step: str, work: Callable[[], Any]) -> Any:
        begun, cpu_begun = time.perf_counter(), time.process_time()
        result = work()
        times[step] = time.perf_counter() - begun
        cpu[step] = time.process_time() - cpu_begun
        return result

    events = timed("load", lambda: read_log(path))
    tables = timed("analytics", lambda: run_analytics(events, AS_OF))

    def write() -> None:
        with tempfile.TemporaryDirectory() as folder:
            for name, table in tables.items():
                flat = table.copy(deep=False)
                flat.attrs = {}
                for suffix in (".parquet", ".csv"):
                    write_frame_atomic(flat, Path(folder) / f"{name}{suffix}")

    timed("write", write)
    page = timed("page", lambda: build_page(tables, as_of=pd.Timestamp(AS_OF)))
    return {"times": times, "cpu": cpu, "tables": dict(tables["notes"].attrs["cpu_seconds"]),
            "load_average": os.getloadavg()[0],
            "n_tables": len(tables), "page_mb": len(page) / 1e6,
            "notes": tables["notes"].to_dict("records"),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_worker(path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", "--path", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def render(rows: list[dict], command: str, warm: float) -> str:
    lines = ["## Operations analytics (`analyze`)", "",
             f"Reproduce: `{command}` (Python {platform.python_version()}, 2 shared cores).", "",
             "Every table of `run_analytics` at 2023-12-01 (funnels, Kaplan-Meier time to the "
             "second order, cohorts, RFM and lifecycle migration over the last month, behaviour "
             "funnels, activity, promotion days, BG/NBD diagnostics) on the synthetic logs of "
             "the features benchmark, each run in a fresh process; medians of the runs. *total* "
             "is analytics + write (Parquet and CSV of every table) + page (the HTML page with "
             "its plots); loading the Parquet log into the canonical pandas frame is reported "
             "beside it and not counted, as in the features benchmark. Before measuring, one "
             f"process analysed a tiny log so that the feature kernels are compiled and cached: "
             f"{warm:.1f} s. The per-action summary needs a radar and is not in these runs.", "",
             "The machine is shared (its 1-minute load average during the runs is in the "
             "table): wall-clock seconds depend on the other load, CPU seconds (user + system "
             "of the process, all threads) do not; on an idle machine the wall-clock time is "
             "about the CPU time (the work is mostly one thread).", "",
             "| events | customers | runs | load s | analytics s | write s | page s | total s "
             f"(target < {TARGET_SECONDS:.0f}) | range s | total CPU s | load average | "
             "peak RSS MB |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        totals = row["totals"]
        lines.append(
            f"| {row['events']:,} | {row['customers']:,} | {len(totals)} | {row['load']:.2f} | "
            f"{row['analytics']:.2f} | {row['write']:.2f} | {row['page']:.2f} | "
            f"{statistics.median(totals):.2f} {'✓' if statistics.median(totals) < TARGET_SECONDS else '✗'} | "
            f"{min(totals):.2f}–{max(totals):.2f} | {row['cpu_total']:.2f} | "
            f"{row['load_average']:.1f} | {row['peak_mb']:,.0f} |")
    last = rows[-1]
    lines += ["", f"Where the time goes at {last['events']:,} events (median CPU seconds per "
              "step of `run_analytics`, then the write and the page; *snapshot* reads the log "
              "once: the rows before as-of, orders with the library's order definition and "
              "cancellations; *segment_features* builds the features of both migration dates "
              "in one pass):",
              "", "| step | CPU seconds | share |", "|---|---:|---:|"]
    steps = {**last["steps"], "write": last["cpu_write"], "page": last["cpu_page"]}
    total = sum(steps.values())
    for name, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.01 * total:
            lines.append(f"| {name} | {seconds:.2f} | {seconds / total:.0%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--data-dir", type=Path,
                        default=Path(tempfile.gettempdir()) / "repurchase_ml_bench",
                        help="where the Parquet logs are cached (shared with features.py)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/analytics.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.path)))
        return
    command = "python benchmarks/analytics.py"
    if args.customers != [1_000_000]:
        command += f" --customers {' '.join(map(str, args.customers))}"
    command += f" --runs {args.runs}" if args.runs != 3 else ""
    tiny = args.data_dir / "events_2000.parquet"
    if not tiny.exists():
        make_log(2_000, tiny)
    begun = time.perf_counter()
    run_worker(tiny)
    warm = time.perf_counter() - begun
    rows = []
    for n in args.customers:
        path = args.data_dir / f"events_{n}.parquet"
        if not path.exists():
            make_log(n, path)
        events, _ = arrow_mb(path)
        runs = [run_worker(path) for _ in range(args.runs)]
        for run in runs:
            print(json.dumps(run["times"]), flush=True)
        row = {"customers": n, "events": events,
               "totals": [sum(r["times"][s] for s in STEPS) for r in runs],
               "peak_mb": max(r["peak_mb"] for r in runs),
               "steps": {k: statistics.median(r["tables"][k] for r in runs)
                         for k in runs[0]["tables"]}}
        for step in ("load", *STEPS):
            row[step] = statistics.median(r["times"][step] for r in runs)
            row[f"cpu_{step}"] = statistics.median(r["cpu"][step] for r in runs)
        row["cpu_total"] = statistics.median(sum(r["cpu"][s] for s in STEPS) for r in runs)
        row["load_average"] = statistics.median(r["load_average"] for r in runs)
        rows.append(row)
        write_text_atomic(args.out, render(rows, command, warm))
    print(args.out)


if __name__ == "__main__":
    main()
