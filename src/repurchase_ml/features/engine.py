"""Point-in-time behaviour features: one row per (customer, cutoff), one pass for many cutoffs.

The engine is a polars lazy plan. Every event is paired with each cutoff it
precedes (``timestamp < cutoff``, an inequality join), so all cutoffs are
computed in one pass over the log, grouped by ``(customer_id, cutoff)``.
Nothing at or after a cutoff is ever read for that cutoff.
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
    has_behaviour_events,
    normalise_cutoffs,
    to_polars,
)
from repurchase_ml.features.spec import (
    ENGAGEMENT_RECENT_DAYS,
    VALUE_WINDOW_DAYS,
    FeatureSpec,
    feature_names,
)

__all__ = ["build_features", "compute_features", "category_price_levels"]

logger = logging.getLogger(__name__)

KEYS = ["customer_id", "cutoff"]
_DAY_NS = 86_400 * 10**9
_MONTH_DAYS = 30
_PURCHASE, _REFUND = CODE["purchase"], CODE["refund"]
_VIEW, _CART, _FAVORITE = CODE["view"], CODE["cart"], CODE["favorite"]

_age = pl.col("age")  # days between the event and the cutoff, > 0
_value = pl.col("value")
_etype = pl.col("event_type")


def cutoff_frame(cutoffs: Sequence[pd.Timestamp]) -> pl.DataFrame:
    return pl.DataFrame({"cutoff": pl.Series("cutoff", list(cutoffs), dtype=pl.Datetime("ns"))})


def pair_with_cutoffs(events: pl.LazyFrame, cutoffs: Sequence[pd.Timestamp]) -> pl.LazyFrame:
    """Pair each event with every cutoff it precedes; add its age in days."""
    if len(cutoffs) == 1:
        only = pl.lit(cutoffs[0]).cast(pl.Datetime("ns"))
        paired = events.filter(pl.col("timestamp") < only).with_columns(only.alias("cutoff"))
    else:
        paired = events.join_where(cutoff_frame(cutoffs).lazy(),
                                   pl.col("timestamp") < pl.col("cutoff"))
    age = (pl.col("cutoff") - pl.col("timestamp")).dt.total_nanoseconds() / _DAY_NS
    return paired.with_columns(age.alias("age"))


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


def _price_levels(purchases: pl.LazyFrame) -> pl.LazyFrame:
    return (
        purchases.filter(pl.col("category").is_not_null() & pl.col("price").is_not_null())
        .group_by(["cutoff", "category"])
        .agg(pl.col("price").mean().alias("category_price"))
    )


def category_price_levels(events: pd.DataFrame, *, cutoffs: object) -> pd.DataFrame:
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
    frame = to_polars(events)
    if "category" not in frame.columns:
        raise ValueError("events: has no 'category' column, so there are no category prices.")
    purchases = (
        pair_with_cutoffs(frame.lazy().filter(_etype == _PURCHASE), cuts)
        .with_columns(_unit_price(set(frame.columns)).alias("price"))
    )
    out = _price_levels(purchases).sort(["cutoff", "category"]).collect()
    return out.to_pandas()


def _orders(paired: pl.LazyFrame, columns: set[str]) -> pl.LazyFrame:
    """One row per (customer, cutoff, order): age, timestamp, value, items, discount.

    An order is a distinct ``order_id`` among purchase rows; a purchase row
    without an ``order_id`` (or every row, when the column is absent) is an
    order of its own.
    """
    purchases = paired.filter(_etype == _PURCHASE)
    items = pl.col("quantity").fill_null(1.0) if "quantity" in columns else pl.lit(1.0)
    select = [*KEYS, "age", "timestamp", pl.col("amount").alias("value"), items.alias("items")]
    if "discount" in columns:
        select.append(pl.col("discount").fill_null(False))
    if "order_id" not in columns:
        return purchases.select(select)
    aggs = [
        _age.max().alias("age"),
        pl.col("timestamp").min().alias("timestamp"),
        pl.col("amount").sum().alias("value"),
        items.sum().alias("items"),
    ]
    if "discount" in columns:
        aggs.append(pl.col("discount").fill_null(False).any().alias("discount"))
    keyed = (purchases.filter(pl.col("order_id").is_not_null())
             .group_by([*KEYS, "order_id"]).agg(aggs).drop("order_id"))
    single = purchases.filter(pl.col("order_id").is_null()).select(select)
    return pl.concat([keyed, single], how="vertical_relaxed")


def _order_aggregates(orders: pl.LazyFrame, spec: FeatureSpec, columns: set[str]) -> pl.LazyFrame:
    n = pl.len()
    aggs: list[pl.Expr] = [
        n.cast(pl.Float64).alias("orders_all"),
        _value.sum().alias("revenue_all"),
        pl.col("items").sum().alias("items_all"),
        _age.min().alias("_last_age"),
        _age.max().alias("_first_age"),
        pl.when(n >= 2).then(_age.bottom_k(2).max()).alias("_last2_age"),
        pl.when(n >= 2).then(_age.top_k(2).min()).alias("_first2_age"),
    ]
    for w in spec.windows:
        aggs += [
            (_age <= w).sum().cast(pl.Float64).alias(f"orders_{w}d"),
            _value.filter(_age <= w).sum().alias(f"revenue_{w}d"),
            pl.col("items").filter(_age <= w).sum().alias(f"items_{w}d"),
        ]
    if spec.has("rhythm"):
        gaps = _age.sort().diff()
        aggs += [gaps.median().alias("gap_median_days"), gaps.std().alias("gap_std_days")]
    if spec.has("trend"):
        for w in spec.trend_windows:
            recent, before = _age <= w, (_age > w) & (_age <= 2 * w)
            aggs += [
                (recent.sum().cast(pl.Int64) - before.sum().cast(pl.Int64))
                .cast(pl.Float64).alias(f"orders_change_{w}d"),
                (_value.filter(recent).sum() - _value.filter(before).sum()).alias(f"revenue_change_{w}d"),
            ]
        # least-squares slope of monthly order counts, written as a weighted count:
        # month k = 0 (latest) .. m-1 sits at x = -k; slope = sum_k (x_k - mean x) c_k / Sxx
        m = spec.slope_months
        month = (_age / _MONTH_DAYS).ceil() - 1
        sxx = m * (m * m - 1) / 12.0
        weight = ((m - 1) / 2.0 - month) / sxx
        aggs.append(weight.filter(_age <= m * _MONTH_DAYS).sum().alias("monthly_order_slope"))
    if spec.has("value"):
        vw = VALUE_WINDOW_DAYS
        aggs += [
            _value.filter(_age <= vw).mean().alias(f"aov_{vw}d"),
            _value.filter(_age > vw).mean().alias("_aov_before"),
        ]
        if "discount" in columns:
            aggs.append(pl.col("discount").cast(pl.Float64).mean().alias("discount_share"))
    if spec.has("habits"):
        hour = pl.col("timestamp").dt.hour()
        start, end = spec.night_hours
        night = (hour >= start) & (hour < end) if start < end else (hour >= start) | (hour < end)
        month_day = (pl.col("timestamp").dt.month().cast(pl.Int32) * 100
                     + pl.col("timestamp").dt.day().cast(pl.Int32))
        promo = month_day.is_in([mm * 100 + dd for mm, dd in spec.promo_days])
        aggs += [
            night.cast(pl.Float64).mean().alias("night_share"),
            (pl.col("timestamp").dt.weekday() >= 6).cast(pl.Float64).mean().alias("weekend_share"),
            hour.mode().min().cast(pl.Float64).alias("peak_hour"),
            promo.cast(pl.Float64).mean().alias("promo_day_share"),
        ]
    if spec.has("lifecycle"):
        first_value = _value.sort_by([_age, _value], descending=[True, True]).first()
        aggs.append(first_value.alias("first_order_value"))
    return orders.group_by(KEYS).agg(aggs)


def _event_aggregates(paired: pl.LazyFrame, spec: FeatureSpec, columns: set[str],
                      behaviour: bool) -> pl.LazyFrame:
    aggs: list[pl.Expr] = [_age.min().alias("_last_activity_age"), _age.max().alias("tenure_days")]
    if spec.has("value"):
        aggs += [
            (_etype == _REFUND).sum().cast(pl.Float64).alias("refunds_all"),
            pl.col("amount").filter(_etype == _REFUND).sum().alias("refund_amount_all"),
        ]
    if spec.has("engagement") and behaviour:
        names = {_VIEW: "views", _CART: "carts", _FAVORITE: "favorites"}
        for w in spec.windows:
            for code, name in names.items():
                aggs.append(((_etype == code) & (_age <= w)).sum().cast(pl.Float64).alias(f"{name}_{w}d"))
        r = ENGAGEMENT_RECENT_DAYS
        interaction = _etype.is_in([_VIEW, _CART, _FAVORITE])
        last_purchase = _age.filter(_etype == _PURCHASE).min().fill_null(float("inf"))
        aggs += [
            (_etype == _VIEW).sum().cast(pl.Float64).alias("_views_all"),
            ((_etype == _CART) & (_age <= r) & (_age < last_purchase)).sum().cast(pl.Float64)
            .alias(f"carts_without_purchase_{r}d"),
            ((interaction & (_age <= r)).sum().cast(pl.Int64)
             - (interaction & (_age > r) & (_age <= 2 * r)).sum().cast(pl.Int64))
            .cast(pl.Float64).alias(f"interactions_change_{r}d"),
        ]
    if spec.has("breadth") and "item_id" in columns:
        aggs.append(pl.col("item_id").filter(_etype == _PURCHASE).drop_nulls().n_unique()
                    .cast(pl.Float64).alias("distinct_items"))
    return paired.group_by(KEYS).agg(aggs)


def _category_aggregates(purchases: pl.LazyFrame, spec: FeatureSpec,
                         prices: pl.LazyFrame | None) -> pl.LazyFrame | None:
    frames: list[pl.LazyFrame] = []
    with_category = purchases.filter(pl.col("category").is_not_null())
    if spec.has("breadth"):
        counts = with_category.group_by([*KEYS, "category"]).agg(pl.len().alias("_n"))
        share = pl.col("_n") / pl.col("_n").sum()
        frames.append(counts.group_by(KEYS).agg(
            pl.len().cast(pl.Float64).alias("distinct_categories"),
            (-(share * share.log()).sum()).alias("category_entropy"),
            share.max().alias("top_category_share"),
        ))
    if spec.has("value"):
        assert prices is not None
        vw = VALUE_WINDOW_DAYS
        relative = pl.col("price") / pl.col("category_price")
        relative = pl.when(pl.col("category_price") > 0).then(relative)
        tiers = (
            with_category.join(prices, on=["cutoff", "category"], how="left")
            .group_by(KEYS)
            .agg(relative.mean().alias("price_tier_all"),
                 relative.filter(_age <= vw).mean().alias(f"price_tier_{vw}d"))
            .with_columns((pl.col(f"price_tier_{vw}d") - pl.col("price_tier_all"))
                          .alias(f"price_tier_drift_{vw}d"))
        )
        frames.append(tiers)
    if not frames:
        return None
    out = frames[0]
    for other in frames[1:]:
        out = out.join(other, on=KEYS, how="full", coalesce=True)
    return out


def _when_positive(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator)


def _plan(events: pl.LazyFrame, cutoffs: Sequence[pd.Timestamp], spec: FeatureSpec,
          columns: set[str], behaviour: bool,
          category_prices: pl.LazyFrame | None) -> pl.LazyFrame:
    paired = pair_with_cutoffs(events, cutoffs)
    out = _event_aggregates(paired, spec, columns, behaviour)
    out = out.join(_order_aggregates(_orders(paired, columns), spec, columns), on=KEYS,
                   how="left")
    if "category" in columns:
        purchases = paired.filter(_etype == _PURCHASE).with_columns(
            _unit_price(columns).alias("price"))
        prices = category_prices
        if prices is None and spec.has("value"):
            prices = _price_levels(purchases)
        by_category = _category_aggregates(purchases, spec, prices)
        if by_category is not None:
            out = out.join(by_category, on=KEYS, how="left")

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
            "gap_last_days": pl.col("_last2_age") - last,
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
            "first_to_second_gap_days": first - pl.col("_first2_age"),
        }
    out = out.with_columns(**derived)
    names = feature_names(spec, has_behaviour=behaviour, columns=columns)
    return out.select(pl.col(KEYS), pl.col(names).cast(pl.Float64)).sort(["cutoff",
                                                                          "customer_id"])


def _empty(events: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": pd.Series([], dtype=events["customer_id"].dtype),
        "cutoff": pd.Series([], dtype="datetime64[ns]"),
    })
    for name in names:
        frame[name] = pd.Series([], dtype="float64")
    return frame


def compute_features(
    events_partition: pd.DataFrame,
    cutoffs: object,
    spec: FeatureSpec | None = None,
    *,
    category_prices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features of one customer partition at each cutoff.

    _age pure function of one customer partition: the rows of a customer depend
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
    frame = to_polars(events_partition)
    behaviour = spec.behaviour if spec.behaviour is not None \
        else has_behaviour_events(events_partition)
    columns = set(frame.columns)
    names = feature_names(spec, has_behaviour=behaviour, columns=columns)
    if frame.height == 0:
        return _empty(events_partition, names)
    prices = None
    if category_prices is not None:
        prices = pl.from_pandas(category_prices[["cutoff", "category", "category_price"]]).lazy()
        prices = prices.with_columns(pl.col("cutoff").cast(pl.Datetime("ns")),
                                     pl.col("category").cast(pl.String),
                                     pl.col("category_price").cast(pl.Float64))
    result = _plan(frame.lazy(), cuts, spec, columns, behaviour, prices).collect()
    out = result.to_pandas()
    if out.empty:
        return _empty(events_partition, names)
    out["cutoff"] = out["cutoff"].astype("datetime64[ns]")
    out[names] = out[names].astype(np.float64)
    return out


def build_features(
    events: pd.DataFrame,
    *,
    cutoffs: object,
    spec: FeatureSpec | None = None,
) -> pd.DataFrame:
    """Behaviour features per (customer, cutoff), reading only events before each cutoff.

    Parameters
    ----------
    events : pandas.DataFrame
        _age canonical event log (see :func:`repurchase_ml.read_events`).
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
        _age log without views, carts or favourites has no engagement columns;
        features that need ``category``, ``item_id`` or ``discount`` are left
        out when the column is absent. An empty log (or a cutoff before all
        events) gives no rows, with the same columns.

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
    check_canonical(events)
    if spec.behaviour is None:
        spec = dataclasses.replace(spec, behaviour=has_behaviour_events(events))
    out = compute_features(events, cuts, spec)
    logger.debug("built %d feature rows x %d columns for %d cutoffs", len(out), out.shape[1],
                 len(cuts))
    return out
