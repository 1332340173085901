"""Repurchase: the order funnel, time to the next order, the nudge window, cohort retention.

Orders are counted as the features and labels count them
(:mod:`repurchase_ml.features.orders`); only events before ``as_of`` are read.
Time to the next order is a Kaplan-Meier estimate: a customer who has not
come back by ``as_of`` is censored there (we know only that the gap is at
least that long), not counted as lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from repurchase_ml.analytics._orders import (
    PERIODS,
    Snapshot,
    check_choice,
    period_codes,
    period_ends,
    period_labels,
    snapshot,
)
from repurchase_ml.features.spec import FeatureSpec

__all__ = ["repurchase_funnel", "time_to_next_order", "return_shares", "nudge_window",
           "cohort_retention", "kaplan_meier", "FUNNEL_GROUPS", "DEFAULT_NUDGE_THRESHOLD"]

#: groupings of the repurchase funnel
FUNNEL_GROUPS = (None, "cohort", "segment")
#: average daily chance of the next order (over the next week) below which nudging comes late
DEFAULT_NUDGE_THRESHOLD = 0.005
_ALL = "all"
_KM_COLUMNS = ["days", "at_risk", "events", "censored", "survival", "ci_lower", "ci_upper"]


def _positive_int(value: Any, argument: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{argument}: expected a whole number >= {minimum}, got {value!r}.")
    return int(value)


# ---------------------------------------------------------------- funnel


def repurchase_funnel(events: Any, as_of: Any, *, by: str | None = None,
                      max_order: int = 5, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Customers reaching their 1st, 2nd ... ``max_order``-th order before ``as_of``.

    Parameters
    ----------
    events : DataFrame
        Canonical event log (pandas or polars).
    as_of : date
        Only events before it count.
    by : {None, "cohort", "segment"}
        One funnel for everyone (group ``"all"``), per acquisition cohort
        (month of the first order, e.g. ``"2024-01"``: younger cohorts had
        less time to come back) or per RFM segment at ``as_of``.
    max_order : int, default 5
        The last step: customers with at least this many orders.

    Returns
    -------
    DataFrame
        ``group``, ``order_number``, ``customers`` (with at least that many
        orders), ``step_conversion`` (of the previous step's customers; 1 for
        the first) and ``overall_conversion`` (of the group's buyers).

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2, 3], "timestamp": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-05", "2024-01-09", "2024-01-02", "2024-01-20", "2024-01-03"]),
    ...     "event_type": pd.Categorical(["purchase"] * 6, categories=EVENT_TYPES),
    ...     "amount": [10.0] * 6})
    >>> repurchase_funnel(ev, "2024-02-01", max_order=3)[["order_number", "customers"]].values.tolist()
    [[1, 3], [2, 2], [3, 1]]
    """
    check_choice(by, "by", FUNNEL_GROUPS)
    max_order = _positive_int(max_order, "max_order")
    return funnel_table(snapshot(events, as_of, spec=spec), by=by, max_order=max_order)


def funnel_table(snap: Snapshot, *, by: str | None, max_order: int) -> pd.DataFrame:
    """:func:`repurchase_funnel` of a snapshot."""
    orders = snap.orders_per_customer()
    buyers = np.flatnonzero(orders > 0)
    groups, names = _customer_groups(snap, buyers, by)
    reached = np.minimum(orders[buyers], max_order)
    # customers per (group, orders reached), then "at least k" by a reverse cumulative sum
    counts = np.bincount(groups * max_order + reached - 1, minlength=len(names) * max_order)
    at_least = np.cumsum(counts.reshape(len(names), max_order)[:, ::-1], axis=1)[:, ::-1]
    step = np.ones_like(at_least, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        step[:, 1:] = at_least[:, 1:] / at_least[:, :-1]
        overall = at_least / at_least[:, :1]
    return pd.DataFrame({
        "group": np.repeat(np.asarray(names, dtype=object), max_order),
        "order_number": np.tile(np.arange(1, max_order + 1), len(names)),
        "customers": at_least.ravel().astype(np.int64),
        "step_conversion": step.ravel(),
        "overall_conversion": overall.ravel(),
    })


def _customer_groups(snap: Snapshot, buyers: np.ndarray,
                     by: str | None) -> tuple[np.ndarray, list[str]]:
    """A group code per buyer (a customer code) and the groups' names in reading order."""
    if by is None:
        return np.zeros(len(buyers), dtype=np.int64), [_ALL]
    if by == "cohort":
        first = np.full(snap.n_customers, -1, dtype=np.int64)
        rows = snap.first_order_rows()
        first[snap.order_customer[rows]] = period_codes(snap.order_time[rows], "M")
        codes, group = np.unique(first[buyers], return_inverse=True)
        return group.astype(np.int64), period_labels(codes, "M")
    from repurchase_ml.analytics.migration import segment_codes, segment_order, segments_at

    return segment_codes(segments_at(snap).reindex(snap.ids[buyers]), segment_order("rfm"))


# ---------------------------------------------------------------- time to next order


def kaplan_meier(days: np.ndarray, observed: np.ndarray, *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier survival of whole-day durations, right-censored where ``observed`` is False.

    One row per day on which someone returned or was censored. At a day with
    both, the returns come first (the censored were still at risk that day).
    The interval is the exponential Greenwood ("log-log") interval at level
    ``1 - alpha``, as lifelines computes it.

    Examples
    --------
    >>> t = kaplan_meier(np.array([2, 3, 3, 5, 8]), np.array([True, True, False, True, False]))
    >>> t[["days", "at_risk", "events", "censored"]].values.tolist()
    [[2, 5, 1, 0], [3, 4, 1, 1], [5, 2, 1, 0], [8, 1, 0, 1]]
    >>> t["survival"].round(4).tolist()
    [0.8, 0.6, 0.3, 0.3]
    """
    days = np.asarray(days, dtype=np.int64)
    observed = np.asarray(observed, dtype=np.bool_)
    if not len(days):
        return pd.DataFrame({c: pd.Series(dtype="float64" if c in ("survival", "ci_lower",
                                                                   "ci_upper") else "int64")
                             for c in _KM_COLUMNS})
    span = int(days.max()) + 1
    total = np.bincount(days, minlength=span)
    returned = np.bincount(days[observed], minlength=span)
    at_risk = len(days) - np.r_[0, np.cumsum(total)[:-1]]
    day = np.flatnonzero(total)
    n, d = at_risk[day].astype(np.float64), returned[day].astype(np.float64)
    survival = np.cumprod(1.0 - d / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(np.where(n > d, d / (n * (n - d)), 0.0))
        log_s = np.log(survival)
        spread = norm.ppf(1 - alpha / 2) * np.sqrt(greenwood) / log_s
        centre = np.log(-log_s)
        lower = np.exp(-np.exp(centre - spread))
        upper = np.exp(-np.exp(centre + spread))
    lower = np.where(survival >= 1.0, 1.0, np.where(survival <= 0.0, 0.0, lower))
    upper = np.where(survival >= 1.0, 1.0, np.where(survival <= 0.0, 0.0, upper))
    return pd.DataFrame({"days": day, "at_risk": at_risk[day], "events": returned[day],
                         "censored": (total - returned)[day], "survival": survival,
                         "ci_lower": np.minimum(lower, upper), "ci_upper": np.maximum(lower, upper)})


def time_to_next_order(events: Any, as_of: Any, *, from_order: int = 1,
                       spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Kaplan-Meier curve of the days from order ``from_order`` to the next one.

    Every customer with at least ``from_order`` orders before ``as_of`` is in
    it: those who ordered again return on the day of that order (whole days
    rounded up), the others are censored at ``as_of``.

    Returns
    -------
    DataFrame
        ``days``, ``at_risk`` (not yet returned, followed that long),
        ``events`` (returned that day), ``censored``, ``survival`` (share not
        yet returned after that day) and the 95 % interval ``ci_lower`` and
        ``ci_upper``.

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 3, 3], "timestamp": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-03", "2024-01-20", "2024-01-01", "2024-01-11"]),
    ...     "event_type": pd.Categorical(["purchase"] * 5, categories=EVENT_TYPES),
    ...     "amount": [10.0] * 5})
    >>> t = time_to_next_order(ev, "2024-01-25")
    >>> t[["days", "at_risk", "events", "censored"]].values.tolist()
    [[2, 3, 1, 0], [5, 2, 0, 1], [10, 1, 1, 0]]
    >>> t["survival"].round(3).tolist()
    [0.667, 0.667, 0.0]
    """
    from_order = _positive_int(from_order, "from_order")
    return next_order_curve(snapshot(events, as_of, spec=spec), from_order)


def next_order_curve(snap: Snapshot, from_order: int) -> pd.DataFrame:
    """:func:`time_to_next_order` of a snapshot."""
    _, days, came = snap.next_order_gaps(from_order)
    return kaplan_meier(days, came)


def survival_at(curve: pd.DataFrame, days: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """The step curve read at ``days``: survival and interval after that day, and who is still
    followed (NaN past the longest follow-up)."""
    days = np.asarray(days, dtype=np.int64)
    steps = curve["days"].to_numpy()
    where = np.searchsorted(steps, days, side="right") - 1
    followed = len(steps) > 0 and days <= steps.max()
    out = {}
    for column in ("survival", "ci_lower", "ci_upper"):
        values = np.r_[1.0, curve[column].to_numpy(dtype=np.float64)][where + 1]
        out[column] = np.where(followed, values, np.nan)
    # at risk after day d: followed longer than d without returning
    later = np.searchsorted(steps, days, side="right")
    at_risk = np.r_[curve["at_risk"].to_numpy(), 0]
    out["at_risk"] = np.where(later < len(steps), at_risk[later], 0)
    return pd.DataFrame(out)


def return_shares(events: Any, as_of: Any, *, from_order: int = 1,
                  days: Sequence[int] = (7, 14, 30, 60, 90),
                  spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Share of customers placing order ``from_order + 1`` within each number of ``days``.

    Read off the Kaplan-Meier curve (``1 - survival``), so customers who
    joined too recently to have been followed that long do not pull the share
    down; NaN for a horizon longer than anyone has been followed.

    Returns
    -------
    DataFrame
        ``days``, ``share_returned``, ``ci_lower``, ``ci_upper`` (95 %) and
        ``at_risk`` (still followed after that many days without returning).

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 2], "timestamp": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-05", "2024-01-01", "2024-01-31"]),
    ...     "event_type": pd.Categorical(["purchase"] * 4, categories=EVENT_TYPES),
    ...     "amount": [10.0] * 4})
    >>> return_shares(ev, "2024-03-01", days=(7, 30))["share_returned"].tolist()
    [0.5, 1.0]
    """
    from_order = _positive_int(from_order, "from_order")
    horizons = _horizons(days)
    return shares_table(next_order_curve(snapshot(events, as_of, spec=spec), from_order), horizons)


def _horizons(days: Any) -> np.ndarray:
    values = np.atleast_1d(np.asarray(days))
    if values.dtype.kind not in "iu" or not len(values) or (values < 0).any():
        raise ValueError(f"days: expected whole numbers of days >= 0, got {days!r}. "
                         "Fix: pass e.g. (7, 14, 30, 60, 90).")
    return values.astype(np.int64)


def shares_table(curve: pd.DataFrame, horizons: np.ndarray) -> pd.DataFrame:
    """:func:`return_shares` from a :func:`time_to_next_order` curve."""
    at = survival_at(curve, horizons)
    return pd.DataFrame({"days": horizons, "share_returned": 1.0 - at["survival"],
                         "ci_lower": 1.0 - at["ci_upper"], "ci_upper": 1.0 - at["ci_lower"],
                         "at_risk": at["at_risk"].astype(np.int64)})


def nudge_window(events: Any, as_of: Any, *, threshold: float = DEFAULT_NUDGE_THRESHOLD,
                 from_order: int = 1, window_days: int = 7,
                 min_at_risk: int = 30, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """The day after which a new buyer's chance of the next order falls below ``threshold``.

    Definition: on day ``d`` after order ``from_order``, the *daily hazard*
    is the average daily chance of ordering again over the next
    ``window_days`` days among those who have not yet, from the
    Kaplan-Meier curve: ``1 - (S(d + w) / S(d)) ** (1 / w)``. The nudge day
    is the first day from which that hazard stays below ``threshold`` for
    every later day the curve can tell (``at_risk >= min_at_risk`` at
    ``d + w``). Nudge before it: after it, a buyer who has not come back is
    unlikely to on their own.

    Returns
    -------
    DataFrame
        One row: ``from_order``, ``threshold``, ``nudge_day`` (NaN when the
        curve never tells), ``hazard_at_nudge_day``, ``share_returned_by_nudge_day``
        and ``share_returned_final`` (by the last day followed).

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> first = pd.Timestamp("2024-01-01")
    >>> gaps = [2, 3, 4, 5, 6] * 20  # 100 buyers back within 6 days, 100 never
    >>> ev = pd.DataFrame({"customer_id": list(range(200)) + list(range(100)),
    ...     "timestamp": [first] * 200 + [first + pd.Timedelta(days=g) for g in gaps],
    ...     "event_type": pd.Categorical(["purchase"] * 300, categories=EVENT_TYPES),
    ...     "amount": 10.0})
    >>> int(nudge_window(ev, "2024-03-01", window_days=1, min_at_risk=10)["nudge_day"].iat[0])
    6
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
            or not 0 < threshold < 1:
        raise ValueError(f"threshold: expected a daily probability between 0 and 1, got "
                         f"{threshold!r}. Fix: pass e.g. 0.005 (0.5 % a day).")
    from_order = _positive_int(from_order, "from_order")
    window_days = _positive_int(window_days, "window_days")
    min_at_risk = _positive_int(min_at_risk, "min_at_risk")
    curve = next_order_curve(snapshot(events, as_of, spec=spec), from_order)
    return nudge_table(curve, threshold=threshold, from_order=from_order,
                       window_days=window_days, min_at_risk=min_at_risk)


def nudge_table(curve: pd.DataFrame, *, threshold: float, from_order: int, window_days: int,
                min_at_risk: int) -> pd.DataFrame:
    """:func:`nudge_window` from a :func:`time_to_next_order` curve."""
    hazard = daily_hazard(curve, window_days=window_days, min_at_risk=min_at_risk)
    nudge, at_nudge, by_nudge = np.nan, np.nan, np.nan
    if len(hazard):
        above = np.flatnonzero(hazard["hazard"].to_numpy() >= threshold)
        position = above[-1] + 1 if len(above) else 0
        if position < len(hazard):
            nudge = int(hazard["days"].iat[position])
            at_nudge = float(hazard["hazard"].iat[position])
            by_nudge = 1.0 - float(survival_at(curve, [nudge])["survival"].iat[0])
    final = 1.0 - float(curve["survival"].iat[-1]) if len(curve) else np.nan
    return pd.DataFrame({"from_order": [from_order], "threshold": [threshold],
                         "window_days": [window_days],
                         "nudge_day": pd.array([nudge], dtype="Int64") if nudge == nudge
                         else pd.array([pd.NA], dtype="Int64"),
                         "hazard_at_nudge_day": [at_nudge],
                         "share_returned_by_nudge_day": [by_nudge],
                         "share_returned_final": [final]})


def daily_hazard(curve: pd.DataFrame, *, window_days: int = 7,
                 min_at_risk: int = 30) -> pd.DataFrame:
    """Average daily chance of the next order over the next ``window_days`` per day (see
    :func:`nudge_window`), for the days the curve tells (enough still at risk)."""
    if not len(curve):
        return pd.DataFrame({"days": pd.Series(dtype="int64"), "hazard": pd.Series(dtype=float)})
    days = np.arange(int(curve["days"].max()) + 1)
    now, later = survival_at(curve, days), survival_at(curve, days + window_days)
    tells = (later["at_risk"].to_numpy() >= min_at_risk) & (now["survival"].to_numpy() > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = later["survival"].to_numpy() / now["survival"].to_numpy()
        hazard = 1.0 - np.power(ratio, 1.0 / window_days)
    return pd.DataFrame({"days": days[tells], "hazard": hazard[tells]})


# ---------------------------------------------------------------- cohorts


RETENTION_MEASURES = ("customers", "revenue")


def cohort_retention(events: Any, as_of: Any, *, freq: str = "M",
                     measure: str = "customers", spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Acquisition cohort x periods since the first order: customers buying, revenue retained.

    A cohort is the customers whose first order fell in one period (``freq``
    "W" weeks from Monday, "M" months, "Q" quarters). Period 0 is that
    period; period ``k`` the k-th after it. Money is net of refunds, each row
    at its own time.

    Returns
    -------
    DataFrame
        ``cohort``, ``period``, ``cohort_customers``, ``active_customers``
        (ordered in that period), ``net_revenue``, ``retention`` (with
        ``measure="customers"`` the share of the cohort that ordered; with
        ``"revenue"`` the period's net revenue over period 0's) and
        ``complete`` (False for the period ``as_of`` falls in).

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 3], "timestamp": pd.to_datetime(
    ...     ["2024-01-03", "2024-02-07", "2024-01-20", "2024-02-02"]),
    ...     "event_type": pd.Categorical(["purchase"] * 4, categories=EVENT_TYPES),
    ...     "amount": [10.0, 30.0, 10.0, 5.0]})
    >>> t = cohort_retention(ev, "2024-03-01")
    >>> t[["cohort", "period", "active_customers", "retention"]].values.tolist()
    [['2024-01', 0, 2, 1.0], ['2024-01', 1, 1, 0.5], ['2024-02', 0, 1, 1.0]]
    >>> cohort_retention(ev, "2024-03-01", measure="revenue")["retention"].tolist()
    [1.0, 1.5, 1.0]
    """
    check_choice(freq, "freq", PERIODS)
    check_choice(measure, "measure", RETENTION_MEASURES)
    return cohort_table(snapshot(events, as_of, spec=spec), freq=freq, measure=measure)


def cohort_table(snap: Snapshot, *, freq: str, measure: str) -> pd.DataFrame:
    """:func:`cohort_retention` of a snapshot."""
    first_rows = snap.first_order_rows()
    if not len(first_rows):
        return pd.DataFrame({c: [] for c in ("cohort", "period", "cohort_customers",
                                             "active_customers", "net_revenue", "retention",
                                             "complete")})
    cohort_of = np.full(snap.n_customers, -1, dtype=np.int64)
    cohort_of[snap.order_customer[first_rows]] = period_codes(snap.order_time[first_rows], freq)
    first, last = int(cohort_of[cohort_of >= 0].min()), int(period_codes(
        np.array([snap.as_of_ns - 1]), freq)[0])
    n_periods = last - first + 1
    # active: distinct (customer, period) pairs of orders (sorted by customer and time)
    period = period_codes(snap.order_time, freq)
    new_pair = np.r_[True, (snap.order_customer[1:] != snap.order_customer[:-1])
                     | (period[1:] != period[:-1])]
    cohort = cohort_of[snap.order_customer[new_pair]] - first
    cell = cohort * n_periods + (period[new_pair] - first - cohort)
    active = np.bincount(cell, minlength=n_periods * n_periods).reshape(n_periods, n_periods)
    sizes = np.bincount(cohort_of[cohort_of >= 0] - first, minlength=n_periods)
    money = _net_by_cohort_period(snap, cohort_of, first, n_periods, freq)
    c, k = np.divmod(np.arange(n_periods * n_periods), n_periods)
    valid = c + k <= n_periods - 1
    valid &= sizes[c] > 0
    c, k = c[valid], k[valid]
    active_cells, money_cells = active[c, k], money[c, k]
    if measure == "customers":
        retention = active_cells / sizes[c]
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            retention = money_cells / money[c, 0]
    ends = period_ends(first + c + k, freq)
    return pd.DataFrame({
        "cohort": np.asarray(period_labels(first + np.arange(n_periods), freq),
                             dtype=object)[c],
        "period": k.astype(np.int64), "cohort_customers": sizes[c].astype(np.int64),
        "active_customers": active_cells.astype(np.int64), "net_revenue": money_cells,
        "retention": retention, "complete": np.asarray(ends <= snap.as_of)})


def _net_by_cohort_period(snap: Snapshot, cohort_of: np.ndarray, first: int, n_periods: int,
                          freq: str) -> np.ndarray:
    """Net money (purchases minus refunds, each at its own time) per (cohort, period since)."""
    out = np.zeros(n_periods * n_periods)
    for customer, time, amount, sign in (
            (snap.buy_customer, snap.buy_time, snap.buy_value, 1.0),
            (snap.refund_customer, snap.refund_time, snap.refund_amount, -1.0)):
        cohort = cohort_of[customer]
        keep = cohort >= 0  # refunds of customers without an order (all cancelled) are left out
        since = period_codes(time[keep], freq) - cohort[keep]
        ok = since >= 0
        cell = (cohort[keep][ok] - first) * n_periods + since[ok]
        out += sign * np.bincount(cell, weights=amount[keep][ok], minlength=n_periods * n_periods)
    return out.reshape(n_periods, n_periods)
