"""Which categories bring customers back: first-category repurchase and category paths.

Every function reads only events before ``as_of`` (orders cancelled by a
refund before it netted out, as the features do) and returns a tidy frame.
An order's category is its *primary* category: the one with the most money
in the order (ties by name). Small categories do not top a table by noise:
rows under a minimum support are left out (counted in ``attrs``) and every
rate carries an interval (Wilson for shares, bootstrap for money).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.categories._common import (
    as_of_time,
    bootstrap_mean_interval,
    check_count,
    check_level,
    log_before,
    orders_of,
    purchase_lines,
    wilson_interval,
)
from repurchase_ml.features._arrays import DAY_NS

__all__ = ["category_orders", "category_transitions", "repurchase_by_first_category",
           "plot_category_transitions", "plot_first_category_retention"]

logger = logging.getLogger(__name__)


def category_orders(events: Any, *, as_of: object, order_definition: str = "order_id",
                    cancellation_window_days: float = 1.0) -> pd.DataFrame:
    """One row per order before ``as_of`` with its primary category.

    Parameters
    ----------
    events : pandas or polars DataFrame
        A canonical event log with a ``category`` column.
    as_of : date
        Only events with ``timestamp < as_of`` are read.
    order_definition : {"order_id", "customer_day"}, default "order_id"
        What an order is (see :mod:`repurchase_ml.features.orders`).
    cancellation_window_days : float, default 1.0
        A full refund this soon after an order cancels it (0: never).

    Returns
    -------
    DataFrame
        ``customer_id``, ``order_key``, ``timestamp`` (first line), ``category``
        (primary), ``value`` (gross), ``n_categories``, ``order_index`` (0 = first).

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 1],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-02-01"]),
    ...     "event_type": pd.Categorical(["purchase"] * 3,
    ...         categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [5.0, 20.0, 8.0], "order_id": ["A", "A", "B"],
    ...     "category": ["snacks", "shoes", "snacks"]})
    >>> category_orders(ev, as_of="2024-03-01")[["order_key", "category", "value", "order_index"]]
      order_key category  value  order_index
    0         A    shoes   25.0            0
    1         B   snacks    8.0            1
    """
    t = as_of_time(as_of)
    log = log_before(events, t, cancellation_window_days=cancellation_window_days)
    return orders_of(purchase_lines(log, order_definition=order_definition))


def _transition_pairs(orders: pd.DataFrame) -> pd.DataFrame:
    """(from, to) primary categories of each customer's consecutive orders."""
    same = orders["customer_id"].to_numpy()[1:] == orders["customer_id"].to_numpy()[:-1]
    cats = orders["category"].to_numpy()
    return pd.DataFrame({"from_category": cats[:-1][same], "to_category": cats[1:][same]})


def transition_counts(orders: pd.DataFrame) -> pd.DataFrame:
    """``from_category``, ``to_category``, ``count``, ``from_count``, ``share``,
    ``base_rate`` and ``lift`` of consecutive orders, all pairs (no filter)."""
    pairs = _transition_pairs(orders)
    counts = pairs.value_counts(["from_category", "to_category"], sort=False)
    table = counts.rename("count").reset_index()
    total = len(pairs)
    from_count = pairs["from_category"].value_counts()
    to_share = pairs["to_category"].value_counts() / max(total, 1)
    table["from_count"] = table["from_category"].map(from_count).to_numpy(dtype=np.int64)
    table["share"] = table["count"] / table["from_count"]
    table["base_rate"] = table["to_category"].map(to_share).to_numpy(dtype=float)
    table["lift"] = table["share"] / table["base_rate"]
    return table


def category_transitions(events: Any, *, as_of: object, min_count: int = 5,
                         min_from: int = 20, include_same: bool = True, level: float = 0.95,
                         order_definition: str = "order_id",
                         cancellation_window_days: float = 1.0) -> pd.DataFrame:
    """The category -> next-category table of consecutive orders, with lift.

    Every pair of consecutive orders of a customer (both before ``as_of``)
    counts once, from the first order's primary category to the second's.

    Parameters
    ----------
    events : pandas or polars DataFrame
        A canonical event log with a ``category`` column.
    as_of : date
        Only events before it are read.
    min_count : int, default 5
        Keep pairs seen at least this often.
    min_from : int, default 20
        Keep pairs whose first category is followed by a next order at least this often.
    include_same : bool, default True
        Keep pairs that stay in the same category.
    level : float, default 0.95
        Coverage of the Wilson interval of ``share``.
    order_definition, cancellation_window_days
        As in :func:`category_orders`.

    Returns
    -------
    DataFrame
        ``from_category``, ``to_category``, ``count``, ``from_count``,
        ``share`` = count / from_count (with ``share_low``, ``share_high``),
        ``base_rate`` (the share of all next orders that are in ``to_category``)
        and ``lift`` = share / base_rate; sorted by lift, then count.
        ``attrs["pairs_below_support"]`` counts the pairs left out.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 2, 3, 3],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05"] * 3),
    ...     "event_type": pd.Categorical(["purchase"] * 6,
    ...         categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": 10.0, "category": ["a", "b", "a", "b", "b", "c"]})
    >>> t = category_transitions(ev, as_of="2024-02-01", min_count=1, min_from=1)
    >>> t[["from_category", "to_category", "count", "share", "base_rate", "lift"]]
      from_category to_category  count  share  base_rate  lift
    0             b           c      1    1.0   0.333333   3.0
    1             a           b      2    1.0   0.666667   1.5
    """
    check_count(min_count, "min_count")
    check_count(min_from, "min_from")
    orders = category_orders(events, as_of=as_of, order_definition=order_definition,
                             cancellation_window_days=cancellation_window_days)
    table = transition_counts(orders)
    keep = (table["count"] >= min_count) & (table["from_count"] >= min_from)
    if not include_same:
        keep &= table["from_category"] != table["to_category"]
    dropped = int((~keep).sum())
    table = table.loc[keep].copy()
    table["share_low"], table["share_high"] = wilson_interval(
        table["count"].to_numpy(), table["from_count"].to_numpy(), check_level(level))
    table = table.sort_values(["lift", "count", "from_category", "to_category"],
                              ascending=[False, False, True, True], kind="stable")
    table = table[["from_category", "to_category", "count", "from_count", "share", "share_low",
                   "share_high", "base_rate", "lift"]].reset_index(drop=True)
    table.attrs["pairs_below_support"] = dropped
    return table


def _window_net_revenue(log: pd.DataFrame, first: pd.DataFrame, days: int) -> np.ndarray:
    """Purchases minus refunds of each first-time buyer in ``[first order, + days)``."""
    money = log.loc[log["event_type"].isin(["purchase", "refund"]).to_numpy(),
                    ["customer_id", "timestamp", "event_type", "amount"]]
    money = money.merge(first[["customer_id", "timestamp"]].rename(
        columns={"timestamp": "first_time"}), on="customer_id")
    age = (money["timestamp"] - money["first_time"]).to_numpy().astype(np.int64)
    inside = (age >= 0) & (age < days * DAY_NS)
    sign = np.where(money["event_type"].to_numpy() == "refund", -1.0, 1.0)
    signed = pd.Series(np.where(inside, sign * money["amount"].fillna(0.0).to_numpy(), 0.0))
    total = signed.groupby(money["customer_id"].to_numpy()).sum()
    return total.reindex(first["customer_id"].to_numpy()).fillna(0.0).to_numpy()


def repurchase_by_first_category(events: Any, *, as_of: object,
                                 windows: Sequence[int] = (90, 180), min_customers: int = 30,
                                 level: float = 0.95, n_boot: int = 300, random_state: int = 0,
                                 order_definition: str = "order_id",
                                 cancellation_window_days: float = 1.0) -> pd.DataFrame:
    """Repurchase, retention and net revenue of customers by the category of their first order.

    A customer *comes back* with an order on a later calendar day than the
    first (a same-day second invoice is no return). Retention over ``w`` days
    is judged only on customers whose first order lies at least ``w`` days
    before ``as_of`` (their window is complete); so is net revenue over ``w``
    days (purchases minus refunds from the first order on, first order included).

    Parameters
    ----------
    events : pandas or polars DataFrame
        A canonical event log with a ``category`` column.
    as_of : date
        Only events before it are read.
    windows : sequence of int, default (90, 180)
        Retention and revenue windows in days.
    min_customers : int, default 30
        Leave out categories with fewer first-time buyers whose longest window is complete.
    level : float, default 0.95
        Coverage of the intervals (Wilson for rates, percentile bootstrap for revenue).
    n_boot : int, default 300
        Bootstrap resamples of the revenue means.
    random_state : int, default 0
    order_definition, cancellation_window_days
        As in :func:`category_orders`.

    Returns
    -------
    DataFrame
        One row per first-order ``category``: ``customers``, ``repurchase_rate``
        (came back before ``as_of``, any time), ``days_to_next_order_median``
        (among those who came back), and per window ``w``: ``eligible_{w}d``,
        ``retention_{w}d`` with ``_low`` / ``_high``, ``retention_{w}d_lift``
        (over all eligible first-time buyers), ``net_revenue_{w}d`` (mean) with
        ``_low`` / ``_high``. Sorted by the lower bound of the longest
        window's retention. ``attrs["categories_below_support"]`` lists those left out.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 3],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-02", "2024-01-03"]),
    ...     "event_type": pd.Categorical(["purchase"] * 4,
    ...         categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 5.0, 8.0, 4.0], "category": ["a", "a", "a", "b"]})
    >>> t = repurchase_by_first_category(ev, as_of="2024-08-01", min_customers=1, n_boot=20)
    >>> t[["category", "customers", "retention_90d", "net_revenue_90d"]]
      category  customers  retention_90d  net_revenue_90d
    0        a          2            0.5             11.5
    1        b          1            0.0              4.0
    """
    t = as_of_time(as_of)
    check_count(min_customers, "min_customers")
    check_count(n_boot, "n_boot", minimum=10)
    check_level(level)
    days = sorted({check_count(w, "windows") for w in windows})
    if not days:
        raise ValueError("windows: expected at least one window in days, e.g. (90, 180).")
    log = log_before(events, t, cancellation_window_days=cancellation_window_days)
    orders = orders_of(purchase_lines(log, order_definition=order_definition))
    first = orders.loc[orders["order_index"] == 0].reset_index(drop=True)
    day = orders["timestamp"].dt.normalize()
    first_day = orders["customer_id"].map(first.set_index("customer_id")["timestamp"].dt.normalize())
    later = orders.loc[(day > first_day).to_numpy()].groupby("customer_id")["timestamp"].min()
    back_at = later.reindex(first["customer_id"]).to_numpy()
    gap_days = (back_at - first["timestamp"].to_numpy()) / np.timedelta64(1, "D")
    came_back = ~np.isnan(gap_days)
    age_days = (t - first["timestamp"]).dt.total_seconds().to_numpy() / 86_400
    frame = pd.DataFrame({"category": first["category"].to_numpy(), "came_back": came_back,
                          "gap": gap_days})
    grouped = frame.groupby("category", sort=True)
    table = pd.DataFrame({"customers": grouped.size(),
                          "repurchase_rate": grouped["came_back"].mean(),
                          "days_to_next_order_median": grouped["gap"].median()})
    for w in days:
        eligible = age_days >= w
        kept = frame.loc[eligible].assign(
            retained=(gap_days[eligible] <= w) & came_back[eligible],
            revenue=_window_net_revenue(log, first.loc[eligible], w))
        by = kept.groupby("category", sort=True)
        n = by.size().reindex(table.index).fillna(0).astype(np.int64)
        hits = by["retained"].sum().reindex(table.index).fillna(0)
        table[f"eligible_{w}d"] = n
        table[f"retention_{w}d"] = hits / n.replace(0, np.nan)
        low, high = wilson_interval(hits.to_numpy(), n.to_numpy(), level)
        table[f"retention_{w}d_low"], table[f"retention_{w}d_high"] = low, high
        base = kept["retained"].mean() if len(kept) else np.nan
        table[f"retention_{w}d_lift"] = table[f"retention_{w}d"] / base
        if len(kept):
            money = bootstrap_mean_interval(kept["revenue"].to_numpy(), kept["category"].to_numpy(),
                                            level=level, n_boot=n_boot, random_state=random_state)
            money = money.reindex(table.index)
        else:
            money = pd.DataFrame(np.nan, index=table.index, columns=["mean", "low", "high"])
        table[f"net_revenue_{w}d"] = money["mean"]
        table[f"net_revenue_{w}d_low"] = money["low"]
        table[f"net_revenue_{w}d_high"] = money["high"]
    longest = days[-1]
    small = table[f"eligible_{longest}d"] < min_customers
    table = table.loc[~small].sort_values(
        [f"retention_{longest}d_low", "customers"], ascending=[False, False], kind="stable")
    table = table.rename_axis("category").reset_index()
    table.attrs["categories_below_support"] = sorted(small[small].index.tolist())
    if small.any():
        logger.info("repurchase by first category: %d categor(ies) with fewer than %d eligible "
                    "first-time buyers left out", int(small.sum()), min_customers)
    return table


def plot_category_transitions(table: pd.DataFrame, *, value: str = "lift", top: int = 15,
                              ax: Any = None) -> Any:
    """Heat map of a :func:`category_transitions` table (``value`` per from x to category),
    over the ``top`` categories by next-order count. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    if value not in table.columns:
        raise ValueError(f"value: expected a column of the table {list(table.columns)}, "
                         f"got {value!r}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    busiest = table.groupby("from_category")["count"].sum().nlargest(top).index
    grid = table.loc[table["from_category"].isin(busiest) & table["to_category"].isin(busiest)]
    grid = grid.pivot(index="from_category", columns="to_category", values=value)
    image = ax.imshow(grid.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=60, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    ax.set_xlabel("next order's category")
    ax.set_ylabel("order's category")
    ax.figure.colorbar(image, ax=ax, label=value)
    return ax


def plot_first_category_retention(table: pd.DataFrame, *, window: int = 180, top: int = 15,
                                  ax: Any = None) -> Any:
    """Retention over ``window`` days by first-order category with its interval, from a
    :func:`repurchase_by_first_category` table. Returns the matplotlib Axes."""
    import matplotlib.pyplot as plt

    col = f"retention_{window}d"
    if col not in table.columns:
        raise ValueError(f"window: the table has no {col!r}; compute it with windows "
                         f"including {window}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
    rows = table.head(top).iloc[::-1]
    y = np.arange(len(rows))
    ax.barh(y, rows[col], color="#4c72b0")
    ax.errorbar(rows[col], y, xerr=[rows[col] - rows[f"{col}_low"], rows[f"{col}_high"] - rows[col]],
                fmt="none", ecolor="black", capsize=3)
    ax.set_yticks(y, rows["category"])
    ax.set_xlabel(f"share back within {window} days of the first order")
    ax.set_title("Which first categories bring customers back")
    return ax
