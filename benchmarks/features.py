"""Benchmark the point-in-time feature engine against a bare group-by floor and plain pandas.

Synthetic Tmall-style logs (``repurchase_ml.datasets.make_event_log``, about 20
events per customer) are written to Parquet once, then every measurement runs
in a fresh subprocess (so peak RSS is its own) and is repeated; the table
reports medians. Measured side by side in the same run:

- ``floor``: polars ``scan_parquet(...).group_by("customer_id")`` count and sum
  of ``amount`` (reading the two columns included);
- ``features``: ``build_features`` with the default spec at one cutoff and at
  12 monthly cutoffs, on the canonical pandas frame (loading it is excluded
  and reported separately; the pandas-to-polars conversion is included);
- ``pandas``: an idiomatic plain-pandas version of a ~40-feature subset (RFM
  windows, gaps, engagement, value, breadth, habits, lifecycle) at one cutoff.

Usage::

    python benchmarks/features.py --quick          # ~100k events, a minute
    python benchmarks/features.py                  # 2M and 20M events

It writes ``benchmarks/results/features.md`` atomically.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from repurchase_ml._io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
START, END = "2022-01-01", "2024-01-01"
CUTOFF = "2023-07-01"
CUTOFFS_12 = [f"{y}-{m:02d}-01" for y, m in [(2022, 8), (2022, 9), (2022, 10), (2022, 11),
                                               (2022, 12)] + [(2023, m) for m in range(1, 8)]]
CHUNK = 100_000  # customers generated per chunk (bounded memory for the 20M log)
TARGETS = {"floor_ratio": 4.0, "pandas_speedup": 5.0, "cutoff_ratio": 6.0, "memory_ratio": 3.0}


# ---------------------------------------------------------------- data


def make_log(n_customers: int, path: Path) -> Path:
    """Write a synthetic log of ``n_customers`` to ``path`` (Parquet), in chunks."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from repurchase_ml._io import atomic_write
    from repurchase_ml.datasets import make_event_log

    def write(tmp: Path) -> None:
        writer = None
        try:
            for i, first in enumerate(range(0, n_customers, CHUNK)):
                n = min(CHUNK, n_customers - first)
                events, _ = make_event_log(n, START, END, random_state=1000 + i)
                events["customer_id"] = events["customer_id"].to_numpy(np.int64) + first
                table = pa.Table.from_pandas(events, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()

    return atomic_write(path, write)


def read_log(path: Path):  # -> pandas.DataFrame (canonical)
    import pandas as pd

    from repurchase_ml.events import EVENT_TYPES

    frame = pd.read_parquet(path)
    frame["event_type"] = frame["event_type"].astype(pd.CategoricalDtype(list(EVENT_TYPES)))
    frame["timestamp"] = frame["timestamp"].astype("datetime64[ns]")
    return frame


# ---------------------------------------------------------------- the measured work


def pandas_reference(events, cutoff):  # -> pandas.DataFrame
    """Plain pandas, written the obvious way: ~40 features at one cutoff."""
    import numpy as np
    import pandas as pd

    t = pd.Timestamp(cutoff)
    ev = events[events["timestamp"] < t].copy()
    ev["age"] = (t - ev["timestamp"]).dt.total_seconds() / 86400
    g = ev.groupby("customer_id")
    out = pd.DataFrame({"last_activity": g["age"].min(), "tenure": g["age"].max()})
    for kind in ("view", "cart", "favorite"):
        for w in (7, 30, 90, 180, 365):
            mask = (ev["event_type"] == kind) & (ev["age"] <= w)
            out[f"{kind}s_{w}d"] = mask.groupby(ev["customer_id"]).sum()
    refunds = ev[ev["event_type"] == "refund"].groupby("customer_id")["amount"].agg(["size", "sum"])
    out["refunds_all"], out["refund_amount_all"] = refunds["size"], refunds["sum"]
    buys = ev[ev["event_type"] == "purchase"]
    orders = buys.groupby(["customer_id", "order_id"]).agg(
        age=("age", "max"), ts=("timestamp", "min"), value=("amount", "sum"),
        items=("quantity", "sum"), discount=("discount", "any")).reset_index()
    og = orders.groupby("customer_id")
    for w in (7, 30, 90, 180, 365):
        recent = orders[orders["age"] <= w].groupby("customer_id")
        out[f"orders_{w}d"] = recent.size()
        out[f"revenue_{w}d"] = recent["value"].sum()
        out[f"items_{w}d"] = recent["items"].sum()
    out["orders_all"], out["revenue_all"] = og.size(), og["value"].sum()
    out["days_since_last_purchase"], out["days_since_first"] = og["age"].min(), og["age"].max()
    orders = orders.sort_values(["customer_id", "age"])
    orders["gap"] = orders.groupby("customer_id")["age"].diff()
    gaps = orders.groupby("customer_id")["gap"]
    out["gap_mean"], out["gap_median"], out["gap_std"] = gaps.mean(), gaps.median(), gaps.std()
    out["overdue_ratio"] = out["days_since_last_purchase"] / out["gap_median"].clip(lower=1)
    out["aov_all"] = out["revenue_all"] / out["orders_all"]
    out["discount_share"] = og["discount"].mean()
    out["night_share"] = orders["ts"].dt.hour.lt(6).groupby(orders["customer_id"]).mean()
    out["weekend_share"] = orders["ts"].dt.weekday.ge(5).groupby(orders["customer_id"]).mean()
    out["first_order_value"] = orders.groupby("customer_id")["value"].last()
    counts = buys.groupby(["customer_id", "category"]).size()
    shares = counts / counts.groupby(level=0).transform("sum")
    out["distinct_categories"] = counts.groupby(level=0).size()
    out["category_entropy"] = (-(shares * np.log(shares))).groupby(level=0).sum()
    out["top_category_share"] = shares.groupby(level=0).max()
    out["distinct_items"] = buys.groupby("customer_id")["item_id"].nunique()
    return out.astype("float64").reset_index()


def worker(task: str, path: Path, n_cutoffs: int) -> dict[str, float]:
    """Run one measurement in this process; return seconds and peak RSS."""
    import polars as pl

    t0 = time.perf_counter()
    if task == "floor":
        load = 0.0
        t0 = time.perf_counter()
        result = (pl.scan_parquet(path).group_by("customer_id")
                  .agg(pl.len(), pl.col("amount").sum()).collect())
        rows = result.height
    else:
        events = read_log(path)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        if task == "features":
            from repurchase_ml.features import build_features

            cutoffs = [CUTOFF] if n_cutoffs == 1 else CUTOFFS_12
            rows = len(build_features(events, cutoffs=cutoffs))
        elif task == "pandas":
            rows = len(pandas_reference(events, CUTOFF))
        else:
            raise ValueError(f"task: unknown {task!r}")
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "load_seconds": load, "peak_mb": peak_kib / 1024, "rows": rows}


def measure(task: str, path: Path, n_cutoffs: int, runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--worker", task, "--path", str(path),
             "--n-cutoffs", str(n_cutoffs)],
            check=True, capture_output=True, text=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "load_seconds": statistics.median(r["load_seconds"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
        "rows": results[0]["rows"],
        "runs": runs,
    }


def arrow_mb(path: Path) -> tuple[int, float]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.num_rows, table.nbytes / 2**20


# ---------------------------------------------------------------- report


def render(rows: list[dict], command: str) -> str:
    lines = [
        "## Point-in-time features",
        "",
        f"Reproduce: `{command}`",
        "",
        "Synthetic Tmall-style logs (`make_event_log`, ~20 events per customer, 2022-2024), "
        f"default `FeatureSpec` (all families). One cutoff is {CUTOFF}; 12 cutoffs are the "
        "monthly ones up to it. Times are medians of fresh subprocess runs; *load* (Parquet to "
        "the canonical pandas frame) is excluded from the feature and pandas times; the floor "
        "is a polars group-by count and sum read straight from the Parquet file. Peak memory "
        "is the largest process RSS (loaded frame included).",
        "",
        "| events | customers | arrow MB | step | seconds | load s | peak RSS MB | rows |",
        "|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        for step in ("floor", "features_1", "features_12", "pandas"):
            m = r[step]
            lines.append(
                f"| {r['events']:,} | {r['customers']:,} | {r['arrow_mb']:.0f} | {step} | "
                f"{m['seconds']:.2f} | {m['load_seconds']:.2f} | {m['peak_mb']:.0f} | "
                f"{m['rows']:,} |")
    lines += [
        "",
        "| events | features ÷ floor (target ≤ 4) | pandas ÷ features (target ≥ 5) | "
        "12 cutoffs ÷ 1 (target ≤ 6) | peak ÷ arrow size (target ≤ 3) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        f1, f12 = r["features_1"]["seconds"], r["features_12"]["seconds"]
        ratios = {
            "floor_ratio": f1 / r["floor"]["seconds"],
            "pandas_speedup": r["pandas"]["seconds"] / f1,
            "cutoff_ratio": f12 / f1,
            "memory_ratio": r["features_1"]["peak_mb"] / r["arrow_mb"],
        }
        cells = []
        for key, value in ratios.items():
            ok = value >= TARGETS[key] if key == "pandas_speedup" else value <= TARGETS[key]
            cells.append(f"{value:.1f} {'✓' if ok else '✗'}")
        lines.append(f"| {r['events']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small log (5k customers)")
    parser.add_argument("--customers", type=int, nargs="+", default=None,
                        help="log sizes in customers (default 100000 1000000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (>= 3)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the Parquet logs are cached (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/features.md")
    parser.add_argument("--worker", choices=["floor", "features", "pandas"], help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n-cutoffs", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.path, args.n_cutoffs)))
        return
    if args.runs < 3:
        parser.error("--runs: use at least 3 runs (the table reports medians)")
    sizes = args.customers or ([5_000] if args.quick else [100_000, 1_000_000])
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / "repurchase_ml_bench"
    command = "python benchmarks/features.py"
    command += " --quick" if args.quick else ""
    command += f" --customers {' '.join(map(str, args.customers))}" if args.customers else ""
    command += f" --runs {args.runs}" if args.runs != 3 else ""
    rows: list[dict] = []
    for n in sizes:
        path = data_dir / f"events_{n}.parquet"
        if not path.exists():
            make_log(n, path)
        events, size_mb = arrow_mb(path)
        row = {"customers": n, "events": events, "arrow_mb": size_mb}
        row["floor"] = measure("floor", path, 1, args.runs)
        row["features_1"] = measure("features", path, 1, args.runs)
        row["features_12"] = measure("features", path, 12, args.runs)
        row["pandas"] = measure("pandas", path, 1, args.runs)
        rows.append(row)
        write_text_atomic(args.out, render(rows, command))  # each size as soon as it is done


if __name__ == "__main__":
    main()
