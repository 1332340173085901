"""Speed and memory of reading and validating a large event log (`read_events` on Parquet).

The log is the synthetic one of ``make_event_log(n, START, END, random_state=seed)``, cached
as Parquet under ``benchmarks/.cache/``. Each run is a fresh Python process (peak memory is
that run's own) that reads and validates the file once:

* *columnar* is ``read_events(path)`` as shipped: the file is read with polars and the typed
  columns are validated with polars;
* *pandas* is the same call with the columnar path switched off, so every rule runs on the
  pandas frame of ``pandas.read_parquet`` (the path CSV files and text columns take).

* *before* (with ``--before-src DIR``): ``read_events(path)`` of another checkout's
  ``src`` folder, e.g. a ``git worktree`` of the commit before the columnar path.

*columnar* and *pandas* must give equal frames and reports (checked once per size with
``--check``).

    python benchmarks/read.py                          # 300k customers, 3 runs of each
    python benchmarks/read.py --sizes 1000000          # about 20M events
    python benchmarks/read.py --sizes 20000 --repeats 1 --check   # quick check
    git worktree add /tmp/before <commit> && python benchmarks/read.py --before-src /tmp/before/src

Writes benchmarks/results/read.md (atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from job import END, START, _generate, _log_path  # noqa: E402  (the same cached logs)

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("columnar", "pandas")


def _read(path: Path, how: str):  # -> (pandas.DataFrame, ValidationReport)
    from repurchase_ml import events

    if how == "pandas":  # the columnar path refuses every table: the pandas path runs
        events._columnar_ok = lambda table, mapping: False  # type: ignore[assignment]
    return events.read_events(path)


def _peak_rss_gib() -> float:
    """The process's peak resident memory (VmHWM: unlike ``ru_maxrss``, not carried over
    from the parent across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _child(path: Path, how: str) -> None:
    """Read and validate once; print wall seconds, peak memory and sizes as JSON."""
    import repurchase_ml.events  # noqa: F401 - imports (pandas, polars) are not timed

    tic, cpu = time.perf_counter(), time.process_time()
    frame, report = _read(path, how)
    seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
    print(json.dumps({
        "seconds": seconds, "cpu_seconds": cpu, "load": os.getloadavg()[0],
        "events": report.n_rows, "customers": report.n_customers,
        "peak_rss_gib": _peak_rss_gib(),
        "frame_gib": frame.memory_usage(deep=True).sum() / 2**30,
    }))


def _check(path: Path) -> None:
    """Both paths give the same frame (values; text columns compared as text) and report."""
    import pandas as pd

    new, new_report = _read(path, "columnar")
    old, old_report = _read(path, "pandas")
    pd.testing.assert_frame_equal(new, old)
    assert new_report == old_report, (new_report, old_report)
    print(f"same frame and report: {len(new)} rows", flush=True)


def _run(path: Path, how: str, before_src: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if how == "before":
        env["PYTHONPATH"] = before_src or ""
    elif "PYTHONPATH" not in env:
        env["PYTHONPATH"] = str(ROOT / "src")
    out = subprocess.run([sys.executable, __file__, "--child", str(path), how], check=True,
                         capture_output=True, text=True, cwd=ROOT, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _table(rows: list[dict[str, object]], repeats: int, command: str) -> str:
    lines = [
        "## Reading and validating an event log",
        "",
        f"`read_events(path)` on the cached Parquet log of `make_event_log(n, '{START}', "
        f"'{END}', random_state=0)`: *columnar* as shipped (polars reads and validates the typed "
        "columns), *pandas* with that path switched off (every rule on the pandas frame), "
        "*before* the code of the checkout named in the command (`--before-src`). "
        f"Median of {repeats} run{'s' if repeats != 1 else ''}, each in a fresh process; "
        "seconds are wall clock for the call (imports excluded), peak memory the process's "
        "maximum resident set (imports included), frame the returned pandas frame with its "
        "strings. The machine is shared (2 cores); the load column is the 1-minute load "
        "average at the end of the runs.",
        "",
        "| customers | events | path | seconds (median) | seconds (range) | CPU seconds "
        "| peak memory (GiB) | frame (GiB) | load |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['customers']:,} | {r['events']:,} | {r['path']} | {r['seconds']:.2f} "
            f"| {r['low']:.2f}-{r['high']:.2f} | {r['cpu_seconds']:.2f} "
            f"| {r['peak_rss_gib']:.2f} | {r['frame_gib']:.2f} | {r['load']:.1f} |")
    lines += ["", f"Command: `{command}`", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="300000", help="customers, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true",
                        help="first check that both paths give the same frame and report")
    parser.add_argument("--before-src", help="a src folder of another checkout, timed as 'before'")
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / ".cache"))
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "read.md"))
    parser.add_argument("--child", nargs=2, metavar=("PATH", "HOW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(Path(args.child[0]), args.child[1])
        return
    from repurchase_ml._io import write_text_atomic

    rows: list[dict[str, object]] = []
    for n in (int(s) for s in args.sizes.split(",")):
        log = _log_path(Path(args.cache), n, args.seed)
        if not log.exists():
            print(f"generating {log.name} ...", flush=True)
            _generate(log, n, args.seed)
        if args.check:
            _check(log)
        paths = PATHS + (("before",) if args.before_src else ())
        runs: dict[str, list[dict[str, float]]] = {how: [] for how in paths}
        for _ in range(args.repeats):  # alternate, so every path sees the same load
            for how in paths:
                runs[how].append(_run(log, how, args.before_src))
                print(n, how, json.dumps(runs[how][-1]), flush=True)
        for how in paths:
            seconds = [r["seconds"] for r in runs[how]]
            median = {k: statistics.median(r[k] for r in runs[how]) for k in runs[how][0]}
            rows.append({**median, "path": how, "customers": n,
                         "events": int(runs[how][0]["events"]),
                         "low": min(seconds), "high": max(seconds)})
    command = "nice -n 19 python benchmarks/read.py " + " ".join(sys.argv[1:])
    write_text_atomic(args.out, _table(rows, args.repeats, command.strip()))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
