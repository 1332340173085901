"""Point-in-time behaviour features: one row per (customer, cutoff), one pass for many cutoffs.

The engine is a polars lazy plan over integer-coded columns. Each event is
paired with every cutoff it precedes (``timestamp < cutoff``; one filtered copy
per cutoff, no cross product), and all cutoffs are aggregated together in one
group-by per feature family, keyed by a single integer per (customer, cutoff).
Work that does not depend on the cutoff (grouping purchase rows into orders,
each item's first purchase) is done once, before pairing. Nothing at or after a
cutoff is ever read for that cutoff.

Results repeat bit for bit, whatever the row order of the log or the thread
scheduling: money and quantities are summed as int64 fixed-point (1e-4 units),
float sums over categories run in sorted category order, and everything else
is a count, a min/max, or a statistic over rows in one fixed sort order. The
log may be a pandas frame or a polars frame (no Python string objects: the
fast, low-memory path for large logs).

Measured alternatives (see ``benchmarks/features.py``): an inequality
``join_where`` built the full cross product before filtering (several times
slower at 12 cutoffs); ``filter`` inside aggregations and per-group sorts fall
off polars' fast group-by path, so windows are written as element-wise masks
followed by plain sums, gaps come from one global sort, and no aggregation
compares a row with a group total.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml.events import check_canonical
from repurchase_ml.features._inputs import (
    CODE,
    fixed,
    has_behaviour_events,
    normalise_cutoffs,
    to_polars,
    unfixed,
)
from repurchase_ml.features.spec import (
    ENGAGEMENT_RECENT_DAYS,
    VALUE_WINDOW_DAYS,
    FeatureSpec,
    feature_names,
)

__all__ = ["build_features", "compute_features", "category_price_levels"]

logger = logging.getLogger(__name__)

#: group key of one (customer, cutoff) pair: cutoff index << 32 | customer code, so that
#: sorting by it sorts by (cutoff, customer_id)
KEYS = ["_key"]
_ID_BITS = 32
_DAY_NS = 86_400 * 10**9
_MONTH_DAYS = 30
_PURCHASE, _REFUND = CODE["purchase"], CODE["refund"]
_VIEW, _CART, _FAVORITE = CODE["view"], CODE["cart"], CODE["favorite"]

_age = pl.col("age")  # days between the event and the cutoff, > 0
_value = pl.col("value")
_etype = pl.col("event_type")


def pair_with_cutoffs(events: pl.LazyFrame, cutoffs: Sequence[pd.Timestamp], *,
                      horizon_days: int | None = None, start: int = 0) -> pl.LazyFrame:
    """Pair each event with every cutoff it precedes; add ``_key``, ``_cut`` and ``age``.

    Without ``horizon_days`` an event is paired with cutoff ``t`` when
    ``timestamp < t`` (features); with it, when ``t <= timestamp < t + horizon``
    (labels). One filtered copy per cutoff, run in parallel: only pairs that
    exist are built (no cross product). ``customer_id`` must be the integer
    code of :func:`~repurchase_ml.features._inputs.to_polars`. ``age`` is in
    days before the cutoff. ``start`` is the index of the first cutoff in the
    full list (cutoffs may be processed in chunks).
    """
    parts = []
    for index, cutoff in enumerate(cutoffs, start=start):
        at = pl.lit(cutoff).cast(pl.Datetime("ns"))
        ts = pl.col("timestamp")
        if horizon_days is None:
            keep = ts < at
        else:
            keep = (ts >= at) & (ts < pl.lit(cutoff + pd.Timedelta(days=horizon_days))
                                 .cast(pl.Datetime("ns")))
        parts.append(events.filter(keep).with_columns(
            (pl.col("customer_id") + (index << _ID_BITS)).alias("_key"),
            pl.lit(index, dtype=pl.Int32).alias("_cut"),
            ((at - ts).dt.total_nanoseconds() / _DAY_NS).alias("age"),
        ))
    return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical")


def split_keys(frame: pl.DataFrame, cutoffs: Sequence[pd.Timestamp],
               customer_ids: np.ndarray) -> pd.DataFrame:
    """Turn ``_key`` back into ``customer_id`` and ``cutoff`` columns of a pandas frame."""
    key = frame["_key"].to_numpy()
    out = frame.drop("_key").to_pandas()
    out.insert(0, "cutoff", np.asarray(cutoffs, dtype="datetime64[ns]")[key >> _ID_BITS])
    ids = customer_ids[key & ((1 << _ID_BITS) - 1)]
    out.insert(0, "customer_id", pd.Series(ids, dtype=customer_ids.dtype))
    return out


def _unit_price(columns: set[str]) -> pl.Expr:
    if "unit_price" in columns:
        price = pl.col("unit_price")
        if "quantity" in columns:
            fallback = pl.when(pl.col("quantity") > 0).then(pl.col("amount") / pl.col("quantity"))
            price = price.fill_null(fallback)
        return price
    if "quantity" in columns:
        return pl.when(pl.col("quantity") > 0).then(pl.col("amount") / pl.col("quantity"))
    return pl.col("amount")


def _category_sums(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Per (customer, cutoff, category): purchase rows, and sum and count of known unit prices.

    Price sums are in fixed-point units (see :func:`~repurchase_ml.features._inputs.fixed`).
    """
    price = fixed(pl.col("price"))
    recent = _age <= VALUE_WINDOW_DAYS
    return (
        rows.filter(pl.col("category").is_not_null())
        .group_by([*KEYS, "_cut", "category"])
        .agg(
            pl.len().alias("_n"),
            price.sum().alias("_price_sum"),
            price.count().alias("_price_n"),
            pl.when(recent).then(price).sum().alias("_recent_sum"),
            (recent & price.is_not_null()).sum().alias("_recent_n"),
        )
    )


def _price_levels(sums: pl.LazyFrame) -> pl.LazyFrame:
    """Average unit price per (cutoff, category) over every customer's purchases before it."""
    return (
        sums.group_by(["_cut", "category"])
        .agg((unfixed(pl.col("_price_sum").sum()) / pl.col("_price_n").sum())
             .alias("category_price"))
        .filter(pl.col("category_price").is_not_nan())
    )


def category_price_levels(events: pd.DataFrame | pl.DataFrame, *, cutoffs: object) -> pd.DataFrame:
    """Average unit price of each category from purchases before each cutoff.

    The only cross-customer input of the features (for ``price_tier_*``). To
    compute features partition by partition, compute this once on the whole
    log and pass it to :func:`compute_features` as ``category_prices``.
    Unit price is ``unit_price``, else ``amount / quantity``, else ``amount``.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 2], "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02"]),
    ...     "event_type": pd.Categorical(["purchase"] * 2, categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 30.0], "category": ["a", "a"]})
    >>> category_price_levels(ev, cutoffs="2024-02-01")
          cutoff category  category_price
    0 2024-02-01        a            20.0
    """
    cuts = normalise_cutoffs(cutoffs)
    frame, uniques = to_polars(events)
    if "category" not in frame.columns:
        raise ValueError("events: has no 'category' column, so there are no category prices. "
                         "Fix: map a category column when reading the log.")
    purchases = pair_with_cutoffs(_purchase_rows(frame.lazy(), set(frame.columns)), cuts)
    levels = _price_levels(_category_sums(purchases)).sort(["_cut", "category"]).collect()
    out = pd.DataFrame({
        "cutoff": np.asarray(cuts, dtype="datetime64[ns]")[levels["_cut"].to_numpy()],
        "category": uniques["category"][levels["category"].to_numpy()],
        "category_price": levels["category_price"].to_numpy(),
    })
    return out.sort_values(["cutoff", "category"], ignore_index=True)


def _purchase_rows(events: pl.LazyFrame, columns: set[str]) -> pl.LazyFrame:
    """Purchase rows with what the breadth and price-tier features read."""
    keep = ["customer_id", "timestamp"] + [c for c in ("category", "item_id") if c in columns]
    return events.filter(_etype == _PURCHASE).select(*keep, _unit_price(columns).alias("price"))


def _order_flags(orders: pl.LazyFrame, spec: FeatureSpec) -> pl.LazyFrame:
    """Hour-of-day, weekend, night and promotion-day flags of each order."""
    if not spec.has("habits"):
        return orders
    ts = pl.col("timestamp")
    hour = ts.dt.hour().cast(pl.Int32)
    start, end = spec.night_hours
    night = (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)
    month_day = ts.dt.month().cast(pl.Int32) * 100 + ts.dt.day().cast(pl.Int32)
    return orders.with_columns(
        hour.alias("_hour"),
        night.cast(pl.Float64).alias("_night"),
        (ts.dt.weekday() >= 6).cast(pl.Float64).alias("_weekend"),
        month_day.is_in([m * 100 + d for m, d in spec.promo_days]).cast(pl.Float64)
        .alias("_promo"),
    )


def _order_sums(columns: set[str]) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Per-row columns of a one-row order, and the aggregations of a many-row order."""
    items = fixed(pl.col("quantity").fill_null(1.0)) if "quantity" in columns \
        else fixed(pl.lit(1.0))
    value = fixed(pl.col("amount"))
    select = [value.alias("value"), items.alias("items")]
    aggs = [value.sum().alias("value"), items.sum().alias("items")]
    if "discount" in columns:
        select.append(pl.col("discount").fill_null(False))
        aggs.append(pl.col("discount").fill_null(False).any().alias("discount"))
    return select, aggs


def _prepare(events: pl.LazyFrame, spec: FeatureSpec, columns: set[str]) -> dict[str, pl.LazyFrame]:
    """Tables that do not depend on the cutoff, computed once for every cutoff.

    ``orders``: purchase rows grouped into orders. An order is a distinct
    ``order_id`` among purchase rows; a purchase row without an ``order_id``
    (or every row, when the column is absent) is an order of its own. Orders
    whose rows share one timestamp (almost all) are complete here; the rows of
    an order spread over several timestamps go to ``spanning`` and are grouped
    per cutoff from the rows before it. ``first_items``: when each customer
    first bought each item.
    """
    purchases = events.filter(_etype == _PURCHASE)
    select, aggs = _order_sums(columns)
    frames: dict[str, pl.LazyFrame] = {}
    if "order_id" not in columns:
        frames["orders"] = _order_flags(purchases.select("customer_id", "timestamp", *select),
                                        spec)
    else:
        keyed = purchases.filter(pl.col("order_id").is_not_null())
        order = ["customer_id", "order_id"]
        bounds = keyed.group_by(order).agg(pl.col("timestamp").min(),
                                           pl.col("timestamp").max().alias("_until"), *aggs)
        whole = bounds.filter(pl.col("timestamp") == pl.col("_until")).drop("order_id", "_until")
        single = purchases.filter(pl.col("order_id").is_null()).select(
            "customer_id", "timestamp", *select)
        frames["orders"] = _order_flags(pl.concat([whole, single], how="vertical_relaxed"), spec)
        frames["spanning"] = keyed.join(
            bounds.filter(pl.col("timestamp") != pl.col("_until")), on=order, how="semi")
    if spec.has("breadth") and "item_id" in columns:
        frames["first_items"] = _first_purchases(events, "item_id")
    names = list(frames)
    return {name: frame.lazy() for name, frame in zip(names, pl.collect_all(list(frames.values())),
                                                        strict=True)}


def _paired_orders(prepared: dict[str, pl.LazyFrame], cutoffs: Sequence[pd.Timestamp],
                   start: int, spec: FeatureSpec, columns: set[str]) -> pl.LazyFrame:
    """One row per (customer, cutoff, order) before the cutoff: age, timestamp, value, items."""
    paired = pair_with_cutoffs(prepared["orders"], cutoffs, start=start)
    if "spanning" not in prepared:
        return paired
    _, aggs = _order_sums(columns)
    per_cutoff = (
        pair_with_cutoffs(prepared["spanning"], cutoffs, start=start)
        .group_by([*KEYS, "customer_id", "_cut", "order_id"])
        .agg(pl.col("timestamp").min(), _age.max(), *aggs)
        .drop("order_id")
    )
    return pl.concat([paired, _order_flags(per_cutoff, spec)], how="diagonal_relaxed")


def _within(days: float, value: pl.Expr | None = None) -> pl.Expr:
    """Group sum of ``value`` (or count of rows) in the last ``days`` days.

    Written as element-wise work followed by a plain sum, which keeps polars on
    its fast group-by path (a ``filter`` inside an aggregation does not).
    """
    if value is None:
        return (_age <= days).sum()
    return pl.when(_age <= days).then(value).sum()


def _unfixed_money(aggs: list[pl.Expr]) -> pl.Expr:
    """Money and item sums of ``aggs`` (fixed-point, see ``fixed``) back to floats."""
    prefixes = ("revenue", "items", "aov_", "_aov", "first_order_value", "refund_amount")
    names = [e.meta.output_name() for e in aggs]
    return unfixed(pl.col([n for n in names if n.startswith(prefixes)]))


def _order_aggregates(orders: pl.LazyFrame, spec: FeatureSpec, columns: set[str]) -> pl.LazyFrame:
    """Order-level features per (customer, cutoff).

    Every aggregation is a plain column aggregation (sum, mean, min, max,
    median, std, first/last) over columns prepared element-wise beforehand,
    which keeps polars on its fast group-by path.
    """
    # each (customer, cutoff) group contiguous and in time order; ties: larger value first
    ordered = orders.sort(["_key", "timestamp", "value"], descending=[False, False, True])
    first = (pl.col("_key") != pl.col("_key").shift(1)).fill_null(True)
    ordered = ordered.with_columns(first.alias("_is_first"))
    ordered = ordered.with_columns(
        (pl.col("_is_first").shift(1).fill_null(False) & ~pl.col("_is_first")).alias("_is_second"),
        pl.when(~pl.col("_is_first")).then(_age.shift(1) - _age).alias("_gap"),
    )
    n = pl.len()
    aggs: list[pl.Expr] = [
        n.cast(pl.Float64).alias("orders_all"),
        _value.sum().alias("revenue_all"),
        pl.col("items").sum().alias("items_all"),
        _age.min().alias("_last_age"),
        _age.max().alias("_first_age"),
    ]
    for w in spec.windows:
        aggs += [
            _within(w).alias(f"orders_{w}d"),
            _within(w, _value).alias(f"revenue_{w}d"),
            _within(w, pl.col("items")).alias(f"items_{w}d"),
        ]
    if spec.has("rhythm"):
        gap = pl.col("_gap")
        aggs += [gap.median().alias("gap_median_days"), gap.std().alias("gap_std_days"),
                 gap.last().alias("gap_last_days")]
    if spec.has("trend"):
        for w in spec.trend_windows:
            before = (_age > w) & (_age <= 2 * w)
            aggs += [
                (_within(w).cast(pl.Int64) - before.sum().cast(pl.Int64))
                .alias(f"orders_change_{w}d"),
                (_within(w, _value) - pl.when(before).then(_value).sum())
                .alias(f"revenue_change_{w}d"),
            ]
        # least-squares slope of monthly order counts, written as a weighted count:
        # month k = 0 (latest) .. m-1 sits at x = -k; slope = sum_k (x_k - mean x) c_k / Sxx
        m = spec.slope_months
        # summed as the integers 2 * (x_k - mean x), divided once: exact and order-free
        month = ((_age / _MONTH_DAYS).ceil() - 1).cast(pl.Int64)
        twice = (m - 1) - 2 * month
        aggs.append((_within(m * _MONTH_DAYS, twice).cast(pl.Float64)
                     / (m * (m * m - 1) / 6.0)).alias("monthly_order_slope"))
    if spec.has("value"):
        vw = VALUE_WINDOW_DAYS
        aggs += [
            pl.when(_age <= vw).then(_value).mean().alias(f"aov_{vw}d"),
            pl.when(_age > vw).then(_value).mean().alias("_aov_before"),
        ]
        if "discount" in columns:
            aggs.append(pl.col("discount").cast(pl.Float64).mean().alias("discount_share"))
    if spec.has("habits"):
        aggs += [
            pl.col("_night").mean().alias("night_share"),
            pl.col("_weekend").mean().alias("weekend_share"),
            pl.col("_promo").mean().alias("promo_day_share"),
        ]
    if spec.has("lifecycle"):
        aggs += [
            pl.when(pl.col("_is_first")).then(_value).max().alias("first_order_value"),
            pl.when(pl.col("_is_second")).then(pl.col("_gap")).max()
            .alias("first_to_second_gap_days"),
        ]
    ordered = ordered.collect().lazy()  # sorted once, read by two group-bys
    out = ordered.group_by(KEYS).agg(aggs).with_columns(_unfixed_money(aggs))
    if not spec.has("habits"):
        return out
    # most frequent hour of day; ties go to the earliest hour
    peak = (
        ordered.group_by([*KEYS, "_hour"]).agg(pl.len().alias("_n"))
        .sort([*KEYS, "_n", "_hour"], descending=[False, True, False])
        .group_by(KEYS).agg(pl.col("_hour").first().cast(pl.Float64).alias("peak_hour"))
    )
    return out.join(peak, on=KEYS, how="left")


def _event_aggregates(events: pl.LazyFrame, cutoffs: Sequence[pd.Timestamp], start: int,
                      spec: FeatureSpec, behaviour: bool) -> pl.LazyFrame:
    """Activity, refund and engagement features per (customer, cutoff)."""
    def count(mask: pl.Expr) -> pl.Expr:
        return mask.sum().cast(pl.Int64)

    activity = events.select("customer_id", "timestamp", "event_type", "amount")
    aggs: list[pl.Expr] = [_age.min().alias("_last_activity_age"), _age.max().alias("tenure_days")]
    if spec.has("value"):
        aggs += [
            count(_etype == _REFUND).alias("refunds_all"),
            pl.when(_etype == _REFUND).then(fixed(pl.col("amount"))).sum()
            .alias("refund_amount_all"),
        ]
    if not (spec.has("engagement") and behaviour):
        return (pair_with_cutoffs(activity, cutoffs, start=start).group_by(KEYS).agg(aggs)
                .with_columns(_unfixed_money(aggs)))
    names = {_VIEW: "views", _CART: "carts", _FAVORITE: "favorites"}
    for w in spec.windows:
        for code, name in names.items():
            aggs.append(count((_etype == code) & (_age <= w)).alias(f"{name}_{w}d"))
    r = ENGAGEMENT_RECENT_DAYS
    interaction = _etype.is_in([_VIEW, _CART, _FAVORITE])
    aggs += [
        count(_etype == _VIEW).alias("_views_all"),
        pl.when(_etype == _PURCHASE).then(_age).min().alias("_last_buy_age"),
        (count(interaction & (_age <= r)) - count(interaction & (_age > r) & (_age <= 2 * r)))
        .alias(f"interactions_change_{r}d"),
    ]
    out = (pair_with_cutoffs(activity, cutoffs, start=start).group_by(KEYS).agg(aggs)
           .with_columns(_unfixed_money(aggs)))
    # carts in the recent window placed after the customer's last purchase: the few recent
    # carts meet their customer's last purchase age in a join (comparing each row with a
    # group aggregate inside the group-by would leave polars' fast path)
    out = out.collect().lazy()  # read twice: joined with the carts, and returned
    carts = pair_with_cutoffs(events.filter(_etype == _CART).select("customer_id", "timestamp"),
                              cutoffs, start=start).filter(_age <= r)
    abandoned = (
        carts.join(out.select(*KEYS, "_last_buy_age"), on=KEYS, how="inner")
        .filter(_age < pl.col("_last_buy_age").fill_null(float("inf")))
        .group_by(KEYS).agg(pl.len().cast(pl.Float64).alias(f"carts_without_purchase_{r}d"))
    )
    return (out.join(abandoned, on=KEYS, how="left")
            .with_columns(pl.col(f"carts_without_purchase_{r}d").fill_null(0.0)))


def _first_purchases(events: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Time each customer first bought each value of ``column`` (an item, say)."""
    return (events.filter((_etype == _PURCHASE) & pl.col(column).is_not_null())
            .group_by(["customer_id", column]).agg(pl.col("timestamp").min()))


def _purchase_row_aggregates(events: pl.LazyFrame, prepared: dict[str, pl.LazyFrame],
                             cutoffs: Sequence[pd.Timestamp], start: int, spec: FeatureSpec,
                             columns: set[str],
                             prices: pl.LazyFrame | None) -> list[pl.LazyFrame]:
    """Breadth and price-tier features from purchase rows.

    Distinct items are counted from each item's first purchase; categories and
    price tiers from one table of per (customer, cutoff, category) sums, which
    also yields the category price levels when none are given.
    """
    frames: list[pl.LazyFrame] = []
    if "first_items" in prepared:
        firsts = pair_with_cutoffs(prepared["first_items"], cutoffs, start=start)
        frames.append(firsts.group_by(KEYS).agg(
            pl.len().cast(pl.Float64).alias("distinct_items")))
    if "category" not in columns:
        return frames
    # sorted by (customer, cutoff, category): the float sums over categories below then
    # add up in one fixed order (category codes follow the sorted category names)
    sums = _category_sums(pair_with_cutoffs(_purchase_rows(events, columns), cutoffs,
                                            start=start)).sort([*KEYS, "category"])
    if spec.has("value") and prices is None:
        sums = sums.collect().lazy()  # read twice: for the price levels and per customer
    if spec.has("breadth"):
        # entropy of the shares n_c / N as log N - sum(n_c log n_c) / N: plain sums only
        # (a group total inside an aggregation would leave polars' fast group-by path)
        n = pl.col("_n").cast(pl.Float64)
        total = pl.col("_total")
        frames.append(
            sums.group_by(KEYS).agg(
                pl.len().cast(pl.Float64).alias("distinct_categories"),
                n.sum().alias("_total"),
                (n * n.log()).sum().alias("_n_log_n"),
                n.max().alias("_top"),
            ).select(
                *KEYS, "distinct_categories",
                (total.log() - pl.col("_n_log_n") / total).clip(lower_bound=0.0)
                .alias("category_entropy"),
                (pl.col("_top") / total).alias("top_category_share"),
            ))
    if spec.has("value"):
        vw = VALUE_WINDOW_DAYS
        levels = prices if prices is not None else _price_levels(sums)
        level = pl.col("category_price")
        known = level > 0
        tier_all = (pl.when(known).then(unfixed(pl.col("_price_sum")) / level).sum()
                    / pl.when(known).then(pl.col("_price_n")).sum())
        tier_recent = (pl.when(known).then(unfixed(pl.col("_recent_sum")) / level).sum()
                       / pl.when(known).then(pl.col("_recent_n")).sum())
        frames.append(
            sums.join(levels, on=["_cut", "category"], how="left", maintain_order="left")
            .group_by(KEYS)
            .agg(tier_all.alias("price_tier_all"), tier_recent.alias(f"price_tier_{vw}d"))
            .with_columns(
                pl.col("price_tier_all", f"price_tier_{vw}d").fill_nan(None),
            )
            .with_columns((pl.col(f"price_tier_{vw}d") - pl.col("price_tier_all"))
                          .alias(f"price_tier_drift_{vw}d"))
        )
    return frames


def _when_positive(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator)


def _plan(events: pl.LazyFrame, prepared: dict[str, pl.LazyFrame],
          cutoffs: Sequence[pd.Timestamp], start: int, spec: FeatureSpec, columns: set[str],
          behaviour: bool, category_prices: pl.LazyFrame | None) -> pl.LazyFrame:
    out = _event_aggregates(events, cutoffs, start, spec, behaviour)
    orders = _paired_orders(prepared, cutoffs, start, spec, columns)
    out = out.join(_order_aggregates(orders, spec, columns), on=KEYS, how="left")
    if spec.has("breadth") or spec.has("value"):
        for frame in _purchase_row_aggregates(events, prepared, cutoffs, start, spec, columns,
                                              category_prices):
            out = out.join(frame, on=KEYS, how="left")

    n, last, first = pl.col("orders_all"), pl.col("_last_age"), pl.col("_first_age")
    zero_fill = [f"{k}_{w}d" for k in ("orders", "revenue", "items") for w in spec.windows]
    zero_fill += ["orders_all", "revenue_all", "items_all"]
    if spec.has("trend"):
        zero_fill += [f"{k}_change_{w}d" for k in ("orders", "revenue")
                      for w in spec.trend_windows] + ["monthly_order_slope"]
    if "category" in columns and spec.has("breadth"):
        zero_fill.append("distinct_categories")
    if "item_id" in columns and spec.has("breadth"):
        zero_fill.append("distinct_items")
    out = out.with_columns(pl.col(zero_fill).fill_null(0.0))
    derived: dict[str, pl.Expr] = {"days_since_last_purchase": last}
    if spec.has("rhythm"):
        median = pl.col("gap_median_days")
        derived |= {
            "gap_mean_days": pl.when(n >= 2).then((first - last) / (n - 1)),
            "overdue_ratio": pl.when(median.is_not_null())
            .then(last / pl.max_horizontal(median, pl.lit(1.0))),
            "days_until_expected_purchase": median - last,
        }
    if spec.has("engagement") and behaviour:
        derived |= {
            "view_to_purchase_rate": _when_positive(n, pl.col("_views_all")),
            "days_since_last_activity": pl.col("_last_activity_age"),
        }
    if spec.has("value"):
        derived |= {
            "aov_all": _when_positive(pl.col("revenue_all"), n),
            f"aov_ratio_{VALUE_WINDOW_DAYS}d": _when_positive(pl.col(f"aov_{VALUE_WINDOW_DAYS}d"),
                                                              pl.col("_aov_before")),
            "refund_rate": _when_positive(pl.col("refund_amount_all"), pl.col("revenue_all")),
        }
    if spec.has("lifecycle"):
        derived |= {
            "days_since_first_purchase": first,
        }
    out = out.with_columns(**derived)
    names = feature_names(spec, has_behaviour=behaviour, columns=columns)
    return out.select(pl.col(KEYS), pl.col(names).cast(pl.Float64)).sort(KEYS)


def _chunks(frame: pl.DataFrame, cutoffs: Sequence[pd.Timestamp]) -> list[tuple[int, int]]:
    """Consecutive runs of cutoffs whose paired events add up to about one log each.

    Pairing is linear in the number of (event, cutoff) pairs whatever the
    chunking, so chunks cost no extra time but keep the paired rows held at
    once to about one log (the result, one row per customer and cutoff, still
    grows with the number of cutoffs).
    """
    counts = frame.select(
        [(pl.col("timestamp") < pl.lit(c).cast(pl.Datetime("ns"))).sum().alias(str(i))
         for i, c in enumerate(cutoffs)]).row(0)
    budget = max(frame.height, 1)
    spans, first, load = [], 0, 0
    for i, n in enumerate(counts):
        if i > first and load + n > budget:
            spans.append((first, i))
            first, load = i, 0
        load += n
    spans.append((first, len(cutoffs)))
    return spans


def _empty(ids: np.ndarray, names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": pd.Series([], dtype=ids.dtype),
        "cutoff": pd.Series([], dtype="datetime64[ns]"),
    })
    for name in names:
        frame[name] = pd.Series([], dtype="float64")
    return frame


def compute_features(
    events_partition: pd.DataFrame | pl.DataFrame,
    cutoffs: object,
    spec: FeatureSpec | None = None,
    *,
    category_prices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features of one customer partition at each cutoff.

    A pure function of one customer partition: the rows of a customer depend
    only on that customer's events (all of them must be in the partition),
    the cutoffs, the spec, and the broadcast ``category_prices`` table. So
    the same function runs per partition on a distributed engine (partition
    by a hash of ``customer_id``) and the concatenated results equal
    :func:`build_features` on the whole log, provided that

    - ``spec.behaviour`` is set explicitly (otherwise each partition decides
      from its own events whether the engagement family exists), and
    - ``category_prices`` comes from :func:`category_price_levels` on the whole
      log (otherwise category price levels come from the partition itself).

    Parameters and result are those of :func:`build_features`.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [7, 7], "timestamp": pd.to_datetime(["2024-01-01", "2024-01-11"]),
    ...     "event_type": pd.Categorical(["purchase"] * 2, categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 30.0]})
    >>> out = compute_features(ev, ["2024-01-21"], FeatureSpec(families=("rfm", "rhythm")))
    >>> out[["orders_all", "revenue_all", "days_since_last_purchase", "gap_median_days"]].to_dict("records")
    [{'orders_all': 2.0, 'revenue_all': 40.0, 'days_since_last_purchase': 10.0, 'gap_median_days': 10.0}]
    """
    spec = FeatureSpec() if spec is None else spec
    if not isinstance(spec, FeatureSpec):
        raise TypeError(f"spec: expected a FeatureSpec or None, got {type(spec).__name__}.")
    cuts = normalise_cutoffs(cutoffs)
    frame, uniques = to_polars(events_partition)
    behaviour = spec.behaviour if spec.behaviour is not None \
        else has_behaviour_events(events_partition)
    columns = set(frame.columns)
    names = feature_names(spec, has_behaviour=behaviour, columns=columns)
    if frame.height == 0:
        return _empty(uniques["customer_id"], names)
    prices = None
    if category_prices is not None and "category" in uniques:
        codes = pd.Index(uniques["category"]).get_indexer(category_prices["category"])
        cut = pd.Index(cuts).get_indexer(pd.to_datetime(category_prices["cutoff"]))
        known = (codes >= 0) & (cut >= 0)
        prices = pl.DataFrame({
            "_cut": pl.Series(cut[known], dtype=pl.Int32),
            "category": pl.Series(codes[known], dtype=pl.Int64),
            "category_price": pl.Series(category_prices["category_price"].to_numpy()[known],
                                        dtype=pl.Float64),
        }).lazy()
    events = frame.lazy()
    prepared = _prepare(events, spec, columns)
    results = [
        _plan(events, prepared, cuts[first:last], first, spec, columns, behaviour,
              prices).collect()
        for first, last in _chunks(frame, cuts)
    ]
    result = pl.concat(results) if len(results) > 1 else results[0]
    if result.height == 0:
        return _empty(uniques["customer_id"], names)
    return split_keys(result, cuts, uniques["customer_id"])


def build_features(
    events: pd.DataFrame | pl.DataFrame,
    *,
    cutoffs: object,
    spec: FeatureSpec | None = None,
) -> pd.DataFrame:
    """Behaviour features per (customer, cutoff), reading only events before each cutoff.

    Parameters
    ----------
    events : pandas.DataFrame or polars.DataFrame
        A canonical event log (see :func:`repurchase_ml.read_events`), or a
        polars frame with the same columns (strings as ``String`` or
        ``Categorical``), e.g. ``pl.read_parquet`` of a saved canonical log:
        the fast, low-memory path for large logs (no Python string objects).
    cutoffs : timestamp or sequence of timestamps
        Naive timestamps; required, never defaulted. Features at cutoff ``t``
        read only events with ``timestamp < t``.
    spec : FeatureSpec, optional
        Windows and families; default ``FeatureSpec()``.

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``cutoff`` (datetime64[ns]), then the columns of
        :func:`feature_names` (all float64, NaN where undefined, e.g. gaps of
        a one-order customer). One row per customer with at least one event
        of any type before the cutoff, sorted by (``cutoff``, ``customer_id``).
        A log without any view, cart or favourite event has no engagement
        columns (pin ``FeatureSpec(behaviour=True)`` or ``False`` to fix the
        column set whatever the log holds, e.g. to score with the columns a
        model was trained on); features that need ``category``, ``item_id`` or
        ``discount`` are left out when the column is absent. An empty log (or
        a cutoff before all events) gives no rows, with the same columns.

    Notes
    -----
    Windows cover ``cutoff - w days <= timestamp < cutoff``. Gaps are between
    consecutive orders (sample standard deviation). ``overdue_ratio`` divides
    by the usual gap floored at one day. Shares and habits are over orders;
    breadth and price tiers over purchase rows; a category's price level is
    the mean unit price of every customer's purchases in it before the cutoff.
    Every value depends only on events before its cutoff (tested with
    property-based tests), and on nothing else but the cutoffs and the spec.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2], "timestamp": pd.to_datetime(["2024-01-01", "2024-01-21", "2024-01-25"]),
    ...     "event_type": pd.Categorical(["purchase", "purchase", "view"], categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 30.0, float("nan")]})
    >>> feats = build_features(ev, cutoffs=["2024-01-22", "2024-02-01"])
    >>> feats[["customer_id", "cutoff", "orders_30d", "views_30d"]]
       customer_id     cutoff  orders_30d  views_30d
    0            1 2024-01-22         2.0        0.0
    1            1 2024-02-01         1.0        0.0
    2            2 2024-02-01         0.0        1.0
    """
    spec = FeatureSpec() if spec is None else spec
    if not isinstance(spec, FeatureSpec):
        raise TypeError(f"spec: expected a FeatureSpec or None, got {type(spec).__name__}.")
    cuts = normalise_cutoffs(cutoffs)
    if not isinstance(events, pl.DataFrame):
        check_canonical(events)
    if spec.behaviour is None:
        spec = dataclasses.replace(spec, behaviour=has_behaviour_events(events))
    out = compute_features(events, cuts, spec)
    logger.debug("built %d feature rows x %d columns for %d cutoffs", len(out), out.shape[1],
                 len(cuts))
    return out
