"""Activity and value over time, and what promotion days do to orders and to the buyers they win.

The promotion calendar is the feature spec's (``FeatureSpec.promo_days``, the
(month, day) pairs of the shop's yearly promotion days, 11.11 and 6.18 by
default): the features' ``promo_day_share`` and these tables read the same days.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.analytics._orders import (
    DAY_NS,
    PERIODS,
    Snapshot,
    check_choice,
    period_codes,
    period_ends,
    period_labels,
    period_starts,
    snapshot,
)
from repurchase_ml.analytics.repurchase import kaplan_meier, survival_at
from repurchase_ml.features.spec import FeatureSpec

__all__ = ["activity_over_time", "promotion_effects", "promotion_calendar"]


def activity_over_time(events: Any, as_of: Any, *, freq: str = "M",
                       spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Active customers, new and returning buyers, orders and net revenue per week or month.

    Returns
    -------
    DataFrame
        ``period`` (label), ``start``, ``active_customers`` (any event in
        the period), ``buyers`` (placed an order), ``new_buyers`` (their first
        order), ``returning_buyers`` (ordered before), ``orders``,
        ``net_revenue`` (purchases minus refunds) and ``complete`` (False for
        the period ``as_of`` falls in).

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 2, 1], "timestamp": pd.to_datetime(
    ...     ["2024-01-03", "2024-01-04", "2024-01-20", "2024-02-02", "2024-02-07"]),
    ...     "event_type": pd.Categorical(["view", "purchase", "purchase", "purchase", "refund"],
    ...                                  categories=EVENT_TYPES),
    ...     "amount": [0.0, 10.0, 20.0, 5.0, 4.0]})
    >>> t = activity_over_time(ev, "2024-03-01")
    >>> t[["period", "active_customers", "new_buyers", "returning_buyers", "orders"]].values.tolist()
    [['2024-01', 2, 2, 0, 2], ['2024-02', 2, 0, 1, 1]]
    >>> t["net_revenue"].tolist()
    [30.0, 1.0]
    """
    check_choice(freq, "freq", PERIODS)
    return activity_table(snapshot(events, as_of, spec=spec), freq=freq)


def activity_table(snap: Snapshot, *, freq: str) -> pd.DataFrame:
    """:func:`activity_over_time` of a snapshot."""
    log = snap.log
    if not len(log.timestamp):
        return pd.DataFrame({c: [] for c in ("period", "start", "active_customers", "buyers",
                                             "new_buyers", "returning_buyers", "orders",
                                             "net_revenue", "complete")})
    event_period = period_codes(log.timestamp, freq)
    first = int(event_period.min())
    last = int(period_codes(np.array([snap.as_of_ns - 1]), freq)[0])
    n = last - first + 1
    active = _distinct_pairs(log.customer, event_period - first, snap.n_customers, n)
    order_period = period_codes(snap.order_time, freq) - first
    orders = np.bincount(order_period, minlength=n)
    buyers = _distinct_pairs(snap.order_customer, order_period, snap.n_customers, n)
    new = np.bincount(order_period[snap.order_number == 1], minlength=n)
    net = np.bincount(period_codes(snap.buy_time, freq) - first, weights=snap.buy_value,
                      minlength=n)
    if len(snap.refund_time):
        net -= np.bincount(period_codes(snap.refund_time, freq) - first,
                           weights=snap.refund_amount, minlength=n)
    codes = first + np.arange(n)
    return pd.DataFrame({
        "period": period_labels(codes, freq), "start": period_starts(codes, freq),
        "active_customers": active, "buyers": buyers, "new_buyers": new,
        "returning_buyers": buyers - new, "orders": orders, "net_revenue": net,
        "complete": np.asarray(period_ends(codes, freq) <= snap.as_of)})


def _distinct_pairs(customer: np.ndarray, period: np.ndarray, n_customers: int,
                    n_periods: int) -> np.ndarray:
    """Distinct customers per period, from (customer, period) rows in any order."""
    seen = np.zeros(n_customers * n_periods, dtype=np.bool_)
    seen[customer.astype(np.int64) * n_periods + period] = True
    return seen.reshape(n_customers, n_periods).sum(axis=0).astype(np.int64)


# ---------------------------------------------------------------- promotions


def promotion_calendar(promotion_days: Iterable[Any] | None = None) -> tuple[tuple[int, int], ...]:
    """(month, day) pairs of the promotion days: given ones checked, else the feature spec's.

    Examples
    --------
    >>> promotion_calendar()
    ((11, 11), (6, 18))
    >>> promotion_calendar(["12-12", (11, 11)])
    ((12, 12), (11, 11))
    """
    if promotion_days is None:
        return FeatureSpec().promo_days
    days = []
    for value in promotion_days:
        try:
            month, day = (int(p) for p in value.split("-")) if isinstance(value, str) \
                else (int(value[0]), int(value[1]))
            pd.Timestamp(year=2024, month=month, day=day)  # a leap year: 02-29 is a day
        except (TypeError, ValueError, IndexError):
            raise ValueError(f"promotion_days: expected (month, day) pairs or 'MM-DD' strings "
                             f"such as '11-11', got {value!r}.") from None
        days.append((month, day))
    return tuple(days)


def promotion_effects(events: Any, as_of: Any, *,
                      promotion_days: Iterable[Any] | None = None, window_days: int = 14,
                      repurchase_days: int = 90, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Each promotion day against the surrounding weeks, and how the buyers it won come back.

    ``promotion_days`` ((month, day) pairs or "MM-DD" strings) defaults to the
    calendar of ``spec`` (:attr:`FeatureSpec.promo_days`: 11.11 and 6.18).

    For every promotion day of the calendar inside the log (before
    ``as_of``): orders, new and returning buyers that day against the daily
    mean of the ``window_days`` days on either side (other promotion days
    left out), and the share of the buyers acquired that day who placed a
    second order within ``repurchase_days`` (Kaplan-Meier, customers followed
    less long are censored) against buyers acquired on the surrounding days.

    Returns
    -------
    DataFrame
        ``date``, ``promotion`` ("MM-DD"), ``orders``, ``baseline_orders``,
        ``order_lift`` (orders / baseline), ``new_buyers``,
        ``baseline_new_buyers``, ``returning_buyers``,
        ``baseline_returning_buyers``, ``acquired_customers``,
        ``acquired_repurchase``, ``baseline_acquired_repurchase`` (NaN when
        nobody was followed ``repurchase_days`` days).

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> days = pd.to_datetime(["2024-11-04", "2024-11-11", "2024-11-11", "2024-11-18"])
    >>> ev = pd.DataFrame({"customer_id": [1, 2, 3, 1], "timestamp": days,
    ...     "event_type": pd.Categorical(["purchase"] * 4, categories=EVENT_TYPES),
    ...     "amount": 10.0})
    >>> t = promotion_effects(ev, "2024-12-01", promotion_days=["11-11"], window_days=7)
    >>> t[["promotion", "orders", "new_buyers", "returning_buyers"]].values.tolist()
    [['11-11', 2, 2, 0]]
    >>> round(t["baseline_orders"].item() * 14)  # 2 orders on the 14 days around it
    2
    """
    if promotion_days is None and spec is not None:
        promotion_days = spec.promo_days
    calendar = promotion_calendar(promotion_days)
    for value, name in ((window_days, "window_days"), (repurchase_days, "repurchase_days")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected a whole number of days >= 1, got {value!r}.")
    return promotion_table(snapshot(events, as_of, spec=spec), calendar, window_days=window_days,
                           repurchase_days=repurchase_days)


_PROMO_COLUMNS = ("date", "promotion", "orders", "baseline_orders", "order_lift", "new_buyers",
                  "baseline_new_buyers", "returning_buyers", "baseline_returning_buyers",
                  "acquired_customers", "acquired_repurchase", "baseline_acquired_repurchase")


def promotion_table(snap: Snapshot, calendar: tuple[tuple[int, int], ...], *, window_days: int,
                    repurchase_days: int) -> pd.DataFrame:
    """:func:`promotion_effects` of a snapshot."""
    if not len(snap.order_time) or not calendar:
        return pd.DataFrame({c: [] for c in _PROMO_COLUMNS})
    day = np.floor_divide(snap.order_time, DAY_NS)
    first_day, end_day = int(day.min()), snap.as_of_ns // DAY_NS  # end_day: as_of's own day
    n_days = int(np.ceil(snap.as_of_ns / DAY_NS)) - first_day
    index = day - first_day
    orders = np.bincount(index, minlength=n_days)
    new = np.bincount(index[snap.order_number == 1], minlength=n_days)
    pair = np.r_[True, (snap.order_customer[1:] != snap.order_customer[:-1])
                 | (day[1:] != day[:-1])]
    buyers = np.bincount(index[pair], minlength=n_days)
    returning = buyers - new
    dates = pd.date_range(pd.Timestamp(first_day, unit="D"), periods=n_days, freq="D")
    promo = np.isin(dates.month * 100 + dates.day, [m * 100 + d for m, d in calendar])
    complete = np.arange(n_days) < end_day - first_day  # days wholly before as_of
    # repurchase of each buyer from their first order: days to the second, censored at as_of
    rows, gaps, came = snap.next_order_gaps(1)
    acquired_day = index[rows]
    records = []
    for position in np.flatnonzero(promo & complete):
        around = np.zeros(n_days, dtype=np.bool_)
        around[max(0, position - window_days):position + window_days + 1] = True
        around &= ~promo & complete
        base_days = np.flatnonzero(around)
        def mean(values, days=base_days):
            return (float(values[days].mean()) if len(days)
                        else np.nan)
        on_day = acquired_day == position
        near = around[acquired_day]
        records.append({
            "date": dates[position], "promotion": dates[position].strftime("%m-%d"),
            "orders": int(orders[position]), "baseline_orders": mean(orders),
            "order_lift": orders[position] / mean(orders) if mean(orders) else np.nan,
            "new_buyers": int(new[position]), "baseline_new_buyers": mean(new),
            "returning_buyers": int(returning[position]),
            "baseline_returning_buyers": mean(returning),
            "acquired_customers": int(on_day.sum()),
            "acquired_repurchase": _returned_within(gaps[on_day], came[on_day], repurchase_days),
            "baseline_acquired_repurchase": _returned_within(gaps[near], came[near],
                                                             repurchase_days),
        })
    if not records:
        return pd.DataFrame({c: [] for c in _PROMO_COLUMNS})
    return pd.DataFrame.from_records(records, columns=list(_PROMO_COLUMNS))


def _returned_within(days: np.ndarray, came: np.ndarray, horizon: int) -> float:
    """Kaplan-Meier share returned within ``horizon`` days (NaN if nobody followed that long)."""
    if not len(days):
        return np.nan
    return 1.0 - float(survival_at(kaplan_meier(days, came), [horizon])["survival"].iat[0])
