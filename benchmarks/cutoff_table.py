"""Benchmark per-customer cutoff tables and a registered custom feature against the calendar.

On a synthetic log (``make_event_log``, about 20 events per customer, 2022-2024) as a polars
frame, ``build_training_set`` for the churn and repurchase tasks is timed three ways, side by
side in each repeat (the table reports medians, and the median of the per-repeat ratios):

- ``calendar``: 12 monthly cutoffs for every customer;
- ``table``: a per-customer cutoff table on the same 12 month starts, each (customer, month)
  pair kept with probability 0.7 (``cutoffs=DataFrame``);
- ``custom``: the calendar plus one registered feature (share of the last 90 days' purchase
  rows bought on a coupon, a plain pandas group-by run once per cutoff).

Usage::

    python benchmarks/cutoff_table.py --quick     # 20k customers, about a minute
    python benchmarks/cutoff_table.py             # 20k and 100k customers

It writes ``benchmarks/results/cutoff_table.md`` atomically.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

import repurchase_ml as rm
from repurchase_ml._io import write_text_atomic

ROOT = Path(__file__).resolve().parents[1]
MONTHS = pd.date_range("2022-08-01", "2023-07-01", freq="MS")
HORIZONS = {"churn": 90, "repurchase": 30}
REPEATS = 3


def coupon_share(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    recent = events[(events["event_type"] == "purchase")
                    & (events["timestamp"] >= cutoff - pd.Timedelta(days=90))]
    return recent["discount"].astype(float).groupby(recent["customer_id"]).mean()


def measure(n_customers: int) -> dict[str, float | int]:
    events, truth = rm.make_event_log(n_customers, "2022-01-01", "2024-01-01", random_state=0)
    log = pl.from_pandas(events)
    rng = np.random.default_rng(0)
    ids = truth["customer_id"].to_numpy()
    keep = (rng.uniform(size=(len(ids), len(MONTHS))) < 0.7).ravel()
    table = pd.DataFrame({"customer_id": np.repeat(ids, len(MONTHS))[keep],
                          "cutoff": np.tile(MONTHS, len(ids))[keep]})
    coupon = rm.register_feature("bench_coupon_share", coupon_share, unit="share",
                                 description="share of purchases with a coupon, 90 days")
    runs = {
        "calendar": lambda: rm.build_training_set(log, cutoffs=list(MONTHS),
                                                  tasks=list(HORIZONS), horizons=HORIZONS),
        "table": lambda: rm.build_training_set(log, cutoffs=table, tasks=list(HORIZONS),
                                               horizons=HORIZONS),
        "custom": lambda: rm.build_training_set(log, cutoffs=list(MONTHS),
                                                tasks=list(HORIZONS), horizons=HORIZONS,
                                                spec=rm.FeatureSpec(custom=(coupon,))),
    }
    rows = {name: len(run()) for name, run in runs.items()}  # warm-up (numba cache, imports)
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(REPEATS):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    out: dict[str, float | int] = {"events": len(events), "customers": n_customers,
                                   "calendar_rows": rows["calendar"], "table_rows": rows["table"]}
    for name in runs:
        out[f"{name}_s"] = statistics.median(seconds[name])
    for name in ("table", "custom"):
        out[f"{name}_ratio"] = statistics.median(
            [a / b for a, b in zip(seconds[name], seconds["calendar"], strict=True)])
    return out


def render(results: list[dict[str, float | int]], command: str) -> str:
    lines = [
        "## Per-customer cutoff tables and custom features",
        "",
        f"Reproduce: `{command}`",
        "",
        "`build_training_set` (churn and repurchase labels, default `FeatureSpec`) on a polars "
        "frame of a synthetic log: *calendar* at 12 month starts for every customer; *table* "
        "a per-customer cutoff table on the same month starts (each pair kept with probability "
        "0.7); *custom* the calendar plus one registered pandas feature (coupon share over 90 "
        "days). Medians of 3 repeats run side by side; ratios are medians of the per-repeat "
        "ratios to the calendar. The table works cutoff by cutoff on the events of the "
        "customers who have it, so it does not share the calendar's batched passes over all "
        "cutoffs.",
        "",
        "| events | customers | calendar rows | table rows | calendar s | table s | custom s "
        "| table ÷ calendar | custom ÷ calendar |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['events']:,} | {r['customers']:,} | {r['calendar_rows']:,} | "
            f"{r['table_rows']:,} | {r['calendar_s']:.2f} | {r['table_s']:.2f} | "
            f"{r['custom_s']:.2f} | {r['table_ratio']:.2f} | {r['custom_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main() -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20k customers only")
    args = parser.parse_args()
    sizes = [20_000] if args.quick else [20_000, 100_000]
    results = [measure(n) for n in sizes]
    command = "python benchmarks/cutoff_table.py" + (" --quick" if args.quick else "")
    return write_text_atomic(ROOT / "benchmarks" / "results" / "cutoff_table.md",
                             render(results, command))


if __name__ == "__main__":
    print(main())
