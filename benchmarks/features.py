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
- ``polars``: the same on a polars frame read with ``pl.read_parquet`` (the
  low-memory input path: no Python string objects);
- ``shuffled``: the polars frame with its rows in random order (shuffled before
  the clock starts): the log is written sorted by customer and time, and the
  engine skips sorts on sorted input, so this is the cost on an unsorted log;
- ``training``: ``build_training_set`` on the polars frame at one cutoff, all
  five tasks (features and labels; LTV over 180 days so the horizon fits);
- ``pandas``: an idiomatic plain-pandas implementation of the same 80
  features at one cutoff (``--quick`` first checks that it agrees with
  ``build_features`` on every column).

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
STEPS = ("floor", "features_1", "features_12", "polars_1", "polars_12", "shuffled_1",
         "training_1", "pandas")
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
    """Plain idiomatic pandas: the same 82 features as ``build_features`` at one cutoff.

    Same definitions as the engine (see ``build_features``); ``--quick`` checks
    that both agree before timing anything.
    """
    import numpy as np
    import pandas as pd

    t = pd.Timestamp(cutoff)
    windows, trend, months, vw, r = (7, 30, 90, 180, 365), (30, 90), 6, 90, 30
    ev = events[events["timestamp"] < t].copy()
    ev["age"] = (t - ev["timestamp"]).dt.total_seconds() / 86400
    kind = ev["event_type"].astype(str)
    g = ev.groupby("customer_id")
    out = pd.DataFrame(index=pd.Index(sorted(ev["customer_id"].unique()), name="customer_id"))

    # orders: purchase rows grouped by order_id (a row without one is an order of its own)
    # cancelled orders and the refunds that cancel them are gone, but for activity and tenure
    kept = ~ev.index.isin(_cancelled(ev))
    buys = ev[(kind == "purchase") & kept].copy()
    buys["order"] = buys["order_id"].where(buys["order_id"].notna(),
                                           "_row" + buys.index.astype(str))
    buys["items"] = buys["quantity"].fillna(1.0)
    orders = buys.groupby(["customer_id", "order"]).agg(
        ts=("timestamp", "min"), age=("age", "max"), value=("amount", "sum"),
        items=("items", "sum"), discount=("discount", "any")).reset_index()
    orders = orders.sort_values(["customer_id", "ts", "value"], ascending=[True, True, False])
    og = orders.groupby("customer_id")
    for w in windows:
        recent = orders[orders["age"] <= w].groupby("customer_id")
        out[f"orders_{w}d"] = recent.size()
        out[f"revenue_{w}d"] = recent["value"].sum()
        out[f"items_{w}d"] = recent["items"].sum()
    out["orders_all"], out["revenue_all"], out["items_all"] = (
        og.size(), og["value"].sum(), og["items"].sum())
    zero = [c for c in out.columns]
    last, first = og["age"].min(), og["age"].max()
    out["days_since_last_purchase"] = last
    refunds = ev[(kind == "refund") & kept]
    for w in windows:
        refunded = refunds[refunds["age"] <= w].groupby("customer_id")["amount"].sum()
        out[f"net_revenue_{w}d"] = out[f"revenue_{w}d"].fillna(0) - refunded.reindex(
            out.index, fill_value=0)
    out["net_revenue_all"] = out["revenue_all"].fillna(0) - refunds.groupby(
        "customer_id")["amount"].sum().reindex(out.index, fill_value=0)
    # rhythm: gaps in calendar days between distinct purchase days
    days = orders.assign(day=orders["ts"].dt.floor("D")).drop_duplicates(["customer_id", "day"])
    days["gap"] = days.groupby("customer_id")["day"].diff().dt.days
    gaps = days.groupby("customer_id")["gap"]
    n_days = days.groupby("customer_id").size()
    out["purchase_days_all"] = n_days
    span = (days.groupby("customer_id")["day"].max() - days.groupby("customer_id")["day"].min())
    out["gap_mean_days"] = (span.dt.days / (n_days - 1)).where(n_days >= 2)
    out["gap_median_days"], out["gap_std_days"] = gaps.median(), gaps.std()
    out["gap_last_days"] = gaps.last()
    out["overdue_ratio"] = last / out["gap_median_days"].clip(lower=1)
    out["days_until_expected_purchase"] = out["gap_median_days"] - last
    for w in trend:
        now = orders[orders["age"] <= w].groupby("customer_id")["value"].agg(["size", "sum"])
        before = orders[(orders["age"] > w) & (orders["age"] <= 2 * w)].groupby(
            "customer_id")["value"].agg(["size", "sum"])
        both = now.reindex(out.index, fill_value=0) - before.reindex(out.index, fill_value=0)
        out[f"orders_change_{w}d"], out[f"revenue_change_{w}d"] = both["size"], both["sum"]
    # the same period last year: 90 days from 365 days before, where the history started by then
    last_year = orders[(orders["age"] <= 365) & (orders["age"] > 275)].groupby("customer_id")
    known = g["age"].max() >= 365
    refunded = refunds[(refunds["age"] <= 365) & (refunds["age"] > 275)].groupby(
        "customer_id")["amount"].sum()
    out["orders_same_period_last_year"] = last_year.size().reindex(
        out.index, fill_value=0).where(known)
    out["net_revenue_same_period_last_year"] = (
        last_year["value"].sum().reindex(out.index, fill_value=0)
        - refunded.reindex(out.index, fill_value=0)).where(known)
    recent = orders[orders["age"] <= months * 30]
    month = np.ceil(recent["age"] / 30) - 1
    out["monthly_order_slope"] = (((months - 1) / 2 - month) / (months * (months**2 - 1) / 12)
                                  ).groupby(recent["customer_id"]).sum()
    zero += [f"orders_change_{w}d" for w in trend] + [f"revenue_change_{w}d" for w in trend]
    zero.append("monthly_order_slope")

    # engagement, from every event
    for name, label in (("view", "views"), ("cart", "carts"), ("favorite", "favorites")):
        for w in windows:
            out[f"{label}_{w}d"] = ((kind == name) & (ev["age"] <= w)).groupby(
                ev["customer_id"]).sum()
    last_buy = buys.groupby("customer_id")["age"].min()
    carts = ev[(kind == "cart") & (ev["age"] <= r)]
    after = carts["age"] < carts["customer_id"].map(last_buy).fillna(np.inf)
    out[f"carts_without_purchase_{r}d"] = after.groupby(carts["customer_id"]).sum()
    out[f"carts_without_purchase_{r}d"] = out[f"carts_without_purchase_{r}d"].fillna(0)
    views = (kind == "view").groupby(ev["customer_id"]).sum()
    out["view_to_purchase_rate"] = (out["orders_all"].fillna(0) / views).where(views > 0)
    out["days_since_last_activity"] = g["age"].min()
    active = kind.isin(["view", "cart", "favorite"])
    out[f"interactions_change_{r}d"] = (
        (active & (ev["age"] <= r)).groupby(ev["customer_id"]).sum()
        - (active & (ev["age"] > r) & (ev["age"] <= 2 * r)).groupby(ev["customer_id"]).sum())

    # value
    out["aov_all"] = (out["revenue_all"] / out["orders_all"]).where(out["orders_all"] > 0)
    out[f"aov_{vw}d"] = orders[orders["age"] <= vw].groupby("customer_id")["value"].mean()
    before = orders[orders["age"] > vw].groupby("customer_id")["value"].mean()
    out[f"aov_ratio_{vw}d"] = (out[f"aov_{vw}d"] / before).where(before > 0)
    refunds = refunds.groupby("customer_id")["amount"].agg(["size", "sum"])
    out["refunds_all"] = refunds["size"].reindex(out.index, fill_value=0)
    out["refund_amount_all"] = refunds["sum"].reindex(out.index, fill_value=0)
    out["refund_rate"] = (out["refund_amount_all"] / out["revenue_all"]).where(
        out["revenue_all"] > 0)
    price = buys["unit_price"].fillna(buys["amount"] / buys["quantity"].where(
        buys["quantity"] > 0))
    priced = buys.assign(price=price)[price.notna() & buys["category"].notna()]
    level = priced.groupby("category")["price"].transform("mean")
    priced = priced.assign(tier=priced["price"] / level)[level > 0]
    out["price_tier_all"] = priced.groupby("customer_id")["tier"].mean()
    out[f"price_tier_{vw}d"] = priced[priced["age"] <= vw].groupby("customer_id")["tier"].mean()
    out[f"price_tier_drift_{vw}d"] = out[f"price_tier_{vw}d"] - out["price_tier_all"]
    out["discount_share"] = og["discount"].mean()

    # breadth, from purchase rows
    counts = buys.groupby(["customer_id", "category"]).size()
    shares = counts / counts.groupby(level=0).transform("sum")
    out["distinct_categories"] = counts.groupby(level=0).size()
    out["distinct_items"] = buys.groupby("customer_id")["item_id"].nunique()
    out["category_entropy"] = (-(shares * np.log(shares))).groupby(level=0).sum()
    out["top_category_share"] = shares.groupby(level=0).max()
    zero += ["distinct_categories", "distinct_items"]

    # habits, over orders
    hour = orders["ts"].dt.hour
    by = orders["customer_id"]
    out["night_share"] = ((hour >= 22) | (hour < 6)).groupby(by).mean()
    out["weekend_share"] = (orders["ts"].dt.weekday >= 5).groupby(by).mean()
    hours = hour.groupby([by, hour]).size().rename("n").reset_index()
    out["peak_hour"] = hours.sort_values(["customer_id", "n", "ts"], ascending=[True, False, True]
                                         ).groupby("customer_id")["ts"].first()
    day = orders["ts"].dt.month * 100 + orders["ts"].dt.day
    out["promo_day_share"] = day.isin([1111, 618]).groupby(by).mean()

    # lifecycle
    out["days_since_first_purchase"] = first
    out["tenure_days"] = g["age"].max()
    out["first_order_value"] = og["value"].first()
    out["first_to_second_gap_days"] = gaps.nth(1).set_axis(
        days.loc[days.groupby("customer_id").cumcount() == 1, "customer_id"])
    zero += [f"net_revenue_{w}d" for w in windows] + ["net_revenue_all", "purchase_days_all"]
    out[zero] = out[zero].fillna(0)
    out["recency_share_of_tenure"] = (out["days_since_last_purchase"] / first).where(
        first > 0, 0.0).where(first.notna())
    out["orders_per_week"] = (out["orders_all"] * 7 / first.clip(lower=7)).where(first.notna())
    return out.astype("float64").reset_index()


def _cancelled(ev):  # -> pandas.Index of the rows to drop
    """Rows of orders cancelled by a refund in ``ev``, and those refunds.

    A refund returning at least an order's value at most one day after it
    (same customer; same order id when both have one) cancels it; refunds in
    time order, each takes an order with its id first, then the latest.
    """
    import pandas as pd

    kind = ev["event_type"].astype(str)
    buys = ev[kind == "purchase"]
    key = buys["order_id"].where(buys["order_id"].notna(), "_row" + buys.index.astype(str))
    orders = buys.assign(key=key, row=buys.index).groupby(["customer_id", "key"]).agg(
        ts=("timestamp", "min"), value=("amount", "sum"), order_id=("order_id", "first"),
        rows=("row", list)).reset_index()
    refunds = ev[kind == "refund"].reset_index(names="refund")
    pairs = refunds.merge(orders, on="customer_id", suffixes=("_r", ""))
    delay = pairs["timestamp"] - pairs["ts"]
    by_id = pairs["order_id_r"].notna() & pairs["order_id"].notna()
    pairs = pairs.assign(by_id=by_id)[
        (delay >= pd.Timedelta(0)) & (delay <= pd.Timedelta(days=1))
        & (pairs["value"] <= pairs["amount"] + 1e-9)
        & (~by_id | (pairs["order_id_r"] == pairs["order_id"]))]
    pairs = pairs.sort_values(["customer_id", "timestamp", "refund", "by_id", "ts"],
                              ascending=[True, True, True, False, False], kind="stable")
    used_refunds, used_orders, drop = set(), set(), []
    for refund, customer, order, rows in zip(pairs["refund"], pairs["customer_id"],
                                             pairs["key"], pairs["rows"], strict=True):
        if refund not in used_refunds and (customer, order) not in used_orders:
            used_refunds.add(refund)
            used_orders.add((customer, order))
            drop += [refund, *rows]
    return pd.Index(drop)


def check_reference(path: Path) -> None:
    """Fail unless the pandas reference gives the features of ``build_features``."""
    import numpy as np

    from repurchase_ml.features import build_features

    events = read_log(path)
    got = build_features(events, cutoffs=[CUTOFF]).drop(columns="cutoff")
    ref = pandas_reference(events, CUTOFF)
    if list(ref["customer_id"]) != list(got["customer_id"]) or set(ref) != set(got):
        raise AssertionError("pandas reference: rows or columns differ from build_features")
    for column in got.columns:
        if not np.allclose(got[column], ref[column], rtol=1e-9, atol=1e-6, equal_nan=True):
            raise AssertionError(f"pandas reference: {column} differs from build_features")


def worker(task: str, path: Path, n_cutoffs: int) -> dict[str, float]:
    """Run one measurement in this process; return seconds and peak RSS."""
    import polars as pl

    t0 = time.perf_counter()
    if task != "floor":  # the library's import is timed apart, as polars' is for the floor
        import repurchase_ml.features  # noqa: F401
    imported = time.perf_counter() - t0
    t0 = time.perf_counter()
    if task == "warm":  # compiles the kernels (first run after an install) or loads them
        from repurchase_ml.datasets import make_event_log
        from repurchase_ml.features import build_features, build_training_set

        events, _ = make_event_log(200, START, END, random_state=0)
        for frame in (events, pl.from_pandas(events)):
            build_features(frame, cutoffs=[CUTOFF])
            build_training_set(frame, cutoffs=[CUTOFF], horizons={"ltv": 180})
        load, rows = 0.0, len(events)
    elif task == "floor":
        load = 0.0
        t0 = time.perf_counter()
        result = (pl.scan_parquet(path).group_by("customer_id")
                  .agg(pl.len(), pl.col("amount").sum()).collect())
        rows = result.height
    else:
        events = pl.read_parquet(path) if task in ("polars", "shuffled", "training") \
            else read_log(path)
        if task == "shuffled":
            events = events.sample(fraction=1.0, shuffle=True, seed=0)
        load = time.perf_counter() - t0
        t0 = time.perf_counter()
        if task in ("features", "polars", "shuffled"):
            from repurchase_ml.features import build_features

            cutoffs = [CUTOFF] if n_cutoffs == 1 else CUTOFFS_12
            rows = len(build_features(events, cutoffs=cutoffs))
        elif task == "training":
            from repurchase_ml.features import build_training_set

            rows = len(build_training_set(events, cutoffs=[CUTOFF], horizons={"ltv": 180}))
        elif task == "pandas":
            rows = len(pandas_reference(events, CUTOFF))
        else:
            raise ValueError(f"task: unknown {task!r}")
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "load_seconds": load, "import_seconds": imported,
            "peak_mb": peak_kib / 1024, "rows": rows}


def run_worker(task: str, path: Path, n_cutoffs: int) -> dict[str, float]:
    """One measurement in a fresh subprocess."""
    out = subprocess.run(
        [sys.executable, __file__, "--worker", task, "--path", str(path),
         "--n-cutoffs", str(n_cutoffs)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(task: str, path: Path, n_cutoffs: int, runs: int, *,
            floors: list[dict] | None = None) -> dict[str, float]:
    """Medians of ``runs`` fresh runs of ``task``.

    With ``floors``, a floor run precedes each run (appended to ``floors``)
    and ``floor_ratio`` is the median of the ratios of each pair: the machine
    is shared, and a pair run back to back sees the same load.
    """
    results: list[dict] = []
    ratios: list[float] = []
    for _ in range(runs):
        if floors is not None:
            floors.append(run_worker("floor", path, 1))
        results.append(run_worker(task, path, n_cutoffs))
        if floors is not None:
            ratios.append(results[-1]["seconds"] / floors[-1]["seconds"])
    out = summary(results)
    if ratios:
        out["floor_ratio"] = statistics.median(ratios)
    return out


def summary(results: list[dict]) -> dict[str, float]:
    """Medians of repeated runs (peak memory: the largest)."""
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "load_seconds": statistics.median(r["load_seconds"] for r in results),
        "import_seconds": statistics.median(r["import_seconds"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
        "rows": results[0]["rows"],
        "runs": len(results),
    }


def arrow_mb(path: Path) -> tuple[int, float]:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.num_rows, table.nbytes / 2**20


# ---------------------------------------------------------------- report


def render(rows: list[dict], command: str, warm: float, note: str = "") -> str:
    lines = [
        "## Point-in-time features",
        "",
        f"Reproduce: `{command}`",
        "",
        "Synthetic Tmall-style logs (`make_event_log`, ~20 events per customer, 2022-2024), "
        f"default `FeatureSpec` (all families). One cutoff is {CUTOFF}; 12 cutoffs are the "
        "monthly ones up to it. Times are medians of fresh subprocess runs; *load* (Parquet to "
        "the canonical pandas frame) is excluded from the feature and pandas times; the floor "
        "is a polars group-by count and sum read straight from the Parquet file, run just "
        "before each one-cutoff run: a ratio to the floor is the median of the ratios of those "
        "pairs (the machine is shared; a pair sees the same load). Peak memory "
        "is the largest process RSS (loaded frame included). *features* reads the canonical "
        "pandas frame (object strings), *polars* a polars frame from `pl.read_parquet`, "
        "*shuffled* that frame with its rows shuffled (the log is written sorted by customer "
        "and time; sorted input skips sorts), *training* `build_training_set` on the polars "
        "frame (features plus the labels of all five tasks, LTV over 180 days); "
        "*pandas* is plain pandas computing the same 82 features (checked equal to "
        "`build_features` by `--quick`). *import* is `import repurchase_ml.features` in the "
        "fresh process (numba, pandas and polars included), not in the times, as polars' "
        "import is not in the floor's; loading the compiled kernels from numba's disk cache "
        "on the first call is in the times. Before measuring, one process built features "
        f"on a tiny log, so that the kernels are compiled and cached: {warm:.1f} s.",
        "",
        "| events | customers | arrow MB | step | seconds | load s | import s | peak RSS MB | rows |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for step in STEPS:
            m = r[step]
            lines.append(
                f"| {r['events']:,} | {r['customers']:,} | {r['arrow_mb']:.0f} | {step} | "
                f"{m['seconds']:.2f} | {m['load_seconds']:.2f} | {m['import_seconds']:.2f} | "
                f"{m['peak_mb']:.0f} | "
                f"{m['rows']:,} |")
    lines += [
        "",
        "| events | input | features ÷ floor (target ≤ 4) | pandas ÷ features (target ≥ 5) | "
        "12 cutoffs ÷ 1 (target ≤ 6) | peak ÷ arrow size (target ≤ 3) |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        for source in ("features", "polars", "shuffled"):
            f1 = r[f"{source}_1"]["seconds"]
            ratios = {
                "floor_ratio": r[f"{source}_1"]["floor_ratio"],
                "pandas_speedup": r["pandas"]["seconds"] / f1,
                "cutoff_ratio": r[f"{source}_12"]["seconds"] / f1 if f"{source}_12" in r
                else None,
                "memory_ratio": r[f"{source}_1"]["peak_mb"] / r["arrow_mb"],
            }
            cells = []
            for key, value in ratios.items():
                if value is None:
                    cells.append("—")
                    continue
                ok = value >= TARGETS[key] if key == "pandas_speedup" else value <= TARGETS[key]
                cells.append(f"{value:.1f} {'✓' if ok else '✗'}")
            label = {"features": "pandas frame", "polars": "polars frame",
                     "shuffled": "polars frame, rows shuffled"}[source]
            lines.append(f"| {r['events']:,} | {label} | " + " | ".join(cells) + " |")
    if note:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small log (5k customers)")
    parser.add_argument("--customers", type=int, nargs="+", default=None,
                        help="log sizes in customers (default 100000 1000000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (>= 3)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the Parquet logs are cached (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/features.md")
    parser.add_argument("--note", default="", help="a line appended under the tables")
    parser.add_argument("--worker", choices=["warm", "floor", "features", "polars", "shuffled",
                                             "training", "pandas"],
                        help=argparse.SUPPRESS)
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
    command += f" --runs {args.runs}" if args.runs != 5 else ""
    rows: list[dict] = []
    warm = measure("warm", data_dir, 1, 1)["seconds"]
    if args.quick:
        path = data_dir / f"events_{sizes[0]}.parquet"
        if not path.exists():
            make_log(sizes[0], path)
        check_reference(path)
    for n in sizes:
        path = data_dir / f"events_{n}.parquet"
        if not path.exists():
            make_log(n, path)
        events, size_mb = arrow_mb(path)
        row = {"customers": n, "events": events, "arrow_mb": size_mb}
        floors: list[dict] = []  # every floor run, each beside a one-cutoff run
        row["features_1"] = measure("features", path, 1, args.runs, floors=floors)
        row["features_12"] = measure("features", path, 12, args.runs)
        row["polars_1"] = measure("polars", path, 1, args.runs, floors=floors)
        row["polars_12"] = measure("polars", path, 12, args.runs)
        row["shuffled_1"] = measure("shuffled", path, 1, args.runs, floors=floors)
        row["floor"] = summary(floors)
        row["training_1"] = measure("training", path, 1, args.runs)
        row["pandas"] = measure("pandas", path, 1, args.runs)
        rows.append(row)
        write_text_atomic(args.out, render(rows, command, warm, args.note))  # each size when done


if __name__ == "__main__":
    main()
