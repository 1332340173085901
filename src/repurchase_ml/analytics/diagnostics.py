"""BG/NBD diagnostics as tables: the plots users know from lifetimes and PyMC-Marketing.

The model is the library's own BG/NBD (:mod:`repurchase_ml.models.btyd`),
fitted on per-customer summaries of the orders before ``as_of`` (orders as
the features count them): ``frequency`` (repeat orders), ``recency`` (first
to last order) and ``T`` (first order to ``as_of``), in periods of
``period_days`` days. Holdout diagnostics split the history at
``as_of - holdout_days``: the model sees the calibration part, the table
compares its forecast with what happened in the holdout. A calibration order
that a refund inside the holdout cancelled is left out of both parts (the
as-of snapshot no longer has it); that touches at most the orders of the
cancellation window before the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaln
from scipy.stats import nbinom

from repurchase_ml.analytics._orders import DAY_NS, Snapshot, snapshot
from repurchase_ml.features.spec import FeatureSpec
from repurchase_ml.models.btyd import (
    bgnbd_expected_orders,
    bgnbd_probability_alive,
    fit_bgnbd,
)

__all__ = ["frequency_recency_matrix", "probability_alive_matrix", "period_transactions",
           "calibration_vs_holdout", "cumulative_transactions", "bgnbd_orders_pmf",
           "Summary", "summarise"]


@dataclass
class Summary:
    """BG/NBD summaries of the buyers of a snapshot (arrays aligned by buyer)."""

    customer: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    T: np.ndarray
    period_days: float

    def fit(self) -> dict[str, float]:
        return fit_bgnbd(self.frequency, self.recency, self.T).params


def _check_period(period_days: Any) -> float:
    if isinstance(period_days, bool) or not isinstance(period_days, int | float) \
            or not np.isfinite(period_days) or period_days <= 0:
        raise ValueError(f"period_days: expected a positive number of days, got "
                         f"{period_days!r}. Fix: pass e.g. 7 (weeks).")
    return float(period_days)


def _check_days(value: Any, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{argument}: expected a whole number of days >= 1, got {value!r}.")
    return int(value)


def summarise(snap: Snapshot, *, end: int | None = None, period_days: float = 7.0) -> Summary:
    """Summaries of the orders before ``end`` (ns; default the as-of date) of ``snap``."""
    end = snap.as_of_ns if end is None else end
    keep = snap.order_time < end
    customer, time = snap.order_customer[keep], snap.order_time[keep]
    if not len(customer):
        empty = np.zeros(0)
        return Summary(customer.astype(np.int64), empty, empty, empty, period_days)
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    ends = np.r_[starts[1:], len(customer)] - 1
    unit = DAY_NS * period_days
    return Summary(customer[starts].astype(np.int64),
                   (ends - starts).astype(np.float64),
                   (time[ends] - time[starts]) / unit, (end - time[starts]) / unit, period_days)


def bgnbd_orders_pmf(params: dict[str, float], t: np.ndarray, max_orders: int) -> np.ndarray:
    """P(X(t) = x) for x = 0..``max_orders`` - 1 under BG/NBD (Fader, Hardie & Lee 2005, eq. 8).

    ``t`` per row (in the model's unit); one column per x.

    Examples
    --------
    >>> p = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    >>> pmf = bgnbd_orders_pmf(p, np.array([39.0]), 60)
    >>> round(float(pmf.sum()), 4), round(float(pmf[0, 0]), 4)
    (1.0, 0.5738)
    """
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    t = np.asarray(t, dtype=np.float64)[:, None]
    x = np.arange(max_orders, dtype=np.float64)[None, :]
    p = alpha / (alpha + t)
    alive = np.exp(betaln(a, b + x) - betaln(a, b)) * nbinom.pmf(x, r, p)
    with np.errstate(invalid="ignore"):
        dropped = np.exp(betaln(a + 1, b + x - 1) - betaln(a, b)) * nbinom.sf(x - 1, r, p)
    return alive + np.where(x > 0, np.nan_to_num(dropped), 0.0)


def _grid(summary: Summary, max_frequency: int | None,
          max_recency: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    top_f = int(np.quantile(summary.frequency, 0.99)) if max_frequency is None else max_frequency
    top_t = float(summary.T.max())
    top_r = top_t if max_recency is None else min(float(max_recency), top_t)
    frequency = np.arange(max(top_f, 1) + 1, dtype=np.float64)
    recency = np.arange(int(np.floor(top_r)) + 1, dtype=np.float64)
    return frequency, recency, top_t


def _matrix(events: Any, as_of: Any, *, period_days: Any, max_frequency: int | None,
            which: str, spec: FeatureSpec | None = None) -> pd.DataFrame:
    period = _check_period(period_days)
    summary = summarise(snapshot(events, as_of, spec=spec), period_days=period)
    return matrix_table(summary, summary.fit(), which=which, max_frequency=max_frequency)


def matrix_table(summary: Summary, params: dict[str, float], *, which: str,
                 max_frequency: int | None = None) -> pd.DataFrame:
    """The frequency x recency grid of expected orders or P(alive), for customers at the
    longest ``T`` of the summary."""
    frequency, recency, top_t = _grid(summary, max_frequency, None)
    f, r = (a.ravel() for a in np.meshgrid(frequency, recency, indexing="ij"))
    keep = (f > 0) | (r == 0)  # without a repeat order, recency is 0 by definition
    f, r = f[keep], r[keep]
    T = np.full(len(f), top_t)
    if which == "expected_orders":
        value = bgnbd_expected_orders(params, f, r, T, t=1.0)
    else:
        value = bgnbd_probability_alive(params, f, r, T)
    table = pd.DataFrame({"frequency": f.astype(np.int64), "recency": r, which: value})
    table.attrs.update(params=dict(params), T=top_t, period_days=summary.period_days)
    return table


def frequency_recency_matrix(events: Any, as_of: Any, *, period_days: float = 7.0,
                             max_frequency: int | None = None,
                             spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Expected orders in the next period for each (frequency, recency) at the longest T.

    The BG/NBD picture of who will buy next: the top right (many orders,
    recent) buys most; a customer with many orders long ago is probably gone.

    Returns
    -------
    DataFrame
        ``frequency`` (repeat orders, 0 up to the 99th percentile or
        ``max_frequency``), ``recency`` (periods from first to last order)
        and ``expected_orders``; ``attrs`` hold the fitted ``params``, ``T``
        and ``period_days``.

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> events, _ = rm.make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> m = frequency_recency_matrix(events, "2024-01-01", max_frequency=3)
    >>> sorted(m["frequency"].unique().tolist()), bool((m["expected_orders"] >= 0).all())
    ([0, 1, 2, 3], True)
    """
    return _matrix(events, as_of, period_days=period_days, max_frequency=max_frequency,
                   which="expected_orders", spec=spec)


def probability_alive_matrix(events: Any, as_of: Any, *, period_days: float = 7.0,
                             max_frequency: int | None = None,
                             spec: FeatureSpec | None = None) -> pd.DataFrame:
    """P(alive) for each (frequency, recency) at the longest T (see
    :func:`frequency_recency_matrix`); column ``p_alive``.

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> events, _ = rm.make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> m = probability_alive_matrix(events, "2024-01-01", max_frequency=3)
    >>> bool(m["p_alive"].between(0, 1).all()), float(m.loc[m["frequency"] == 0, "p_alive"].iat[0])
    (True, 1.0)
    """
    return _matrix(events, as_of, period_days=period_days, max_frequency=max_frequency,
                   which="p_alive", spec=spec)


def period_transactions(events: Any, as_of: Any, *, period_days: float = 7.0,
                        max_frequency: int = 7, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Customers with 0, 1, 2 ... repeat orders: observed against the fitted BG/NBD.

    The expected count is the sum over customers of the model's
    P(frequency = x) over each customer's own ``T`` (no simulation).

    Returns
    -------
    DataFrame
        ``frequency`` (the last row is "``max_frequency`` or more", flagged
        by ``or_more``), ``actual`` and ``expected`` customers.

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> events, _ = rm.make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> t = period_transactions(events, "2024-01-01", max_frequency=4)
    >>> t["frequency"].tolist(), bool(np.isclose(t["actual"].sum(), t["expected"].sum()))
    ([0, 1, 2, 3, 4], True)
    """
    period = _check_period(period_days)
    if isinstance(max_frequency, bool) or not isinstance(max_frequency, int) or max_frequency < 1:
        raise ValueError(f"max_frequency: expected a whole number >= 1, got {max_frequency!r}.")
    summary = summarise(snapshot(events, as_of, spec=spec), period_days=period)
    return transactions_table(summary, summary.fit(), max_frequency=max_frequency)


def transactions_table(summary: Summary, params: dict[str, float], *,
                       max_frequency: int) -> pd.DataFrame:
    """:func:`period_transactions` of a summary and fitted parameters."""
    actual = np.bincount(np.minimum(summary.frequency, max_frequency).astype(np.int64),
                         minlength=max_frequency + 1)
    # customers share T values (whole days): one pmf per distinct T
    T_days = np.round(summary.T * summary.period_days)
    distinct, weight = np.unique(T_days, return_counts=True)
    pmf = bgnbd_orders_pmf(params, distinct / summary.period_days, max_frequency)
    expected = weight @ pmf
    expected = np.r_[expected, len(summary.T) - expected.sum()]
    table = pd.DataFrame({"frequency": np.arange(max_frequency + 1),
                          "or_more": np.arange(max_frequency + 1) == max_frequency,
                          "actual": actual.astype(np.int64), "expected": expected})
    table.attrs["params"] = dict(params)
    return table


def calibration_vs_holdout(events: Any, as_of: Any, *, holdout_days: int = 90,
                           period_days: float = 7.0, max_frequency: int = 7,
                           spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Orders in the holdout per calibration frequency: the BG/NBD forecast against the actual.

    The model is fitted on orders before ``as_of - holdout_days``; customers
    whose first order came before then are grouped by their calibration
    frequency (the last group is "``max_frequency`` or more").

    Returns
    -------
    DataFrame
        ``frequency``, ``or_more``, ``customers``, ``actual`` and
        ``predicted`` (mean orders per customer in the holdout).

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> events, _ = rm.make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> t = calibration_vs_holdout(events, "2024-01-01", max_frequency=3)
    >>> t.columns.tolist(), bool((t["predicted"] > 0).all())
    (['frequency', 'or_more', 'customers', 'actual', 'predicted'], True)
    """
    period = _check_period(period_days)
    holdout = _check_days(holdout_days, "holdout_days")
    return holdout_table(snapshot(events, as_of, spec=spec), holdout_days=holdout, period_days=period,
                         max_frequency=max_frequency)


def _split(snap: Snapshot, holdout_days: int) -> int:
    split = snap.as_of_ns - holdout_days * DAY_NS
    if not len(snap.order_time) or snap.order_time.min() >= split:
        raise ValueError(f"holdout_days: no order before the calibration end "
                         f"{pd.Timestamp(split).date()} ({holdout_days} days before as_of). "
                         "Fix: pass a shorter holdout or a later as_of.")
    return split


def holdout_table(snap: Snapshot, *, holdout_days: int, period_days: float,
                  max_frequency: int) -> pd.DataFrame:
    """:func:`calibration_vs_holdout` of a snapshot."""
    split = _split(snap, holdout_days)
    calibration = summarise(snap, end=split, period_days=period_days)
    params = calibration.fit()
    later = snap.order_time >= split
    actual = np.bincount(snap.order_customer[later], minlength=snap.n_customers)
    predicted = bgnbd_expected_orders(params, calibration.frequency, calibration.recency,
                                      calibration.T, t=holdout_days / period_days)
    group = np.minimum(calibration.frequency, max_frequency).astype(np.int64)
    size = np.bincount(group, minlength=max_frequency + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_actual = np.bincount(group, weights=actual[calibration.customer],
                                  minlength=max_frequency + 1) / size
        mean_predicted = np.bincount(group, weights=predicted,
                                     minlength=max_frequency + 1) / size
    table = pd.DataFrame({"frequency": np.arange(max_frequency + 1),
                          "or_more": np.arange(max_frequency + 1) == max_frequency,
                          "customers": size.astype(np.int64), "actual": mean_actual,
                          "predicted": mean_predicted})
    table = table.loc[table["customers"] > 0].reset_index(drop=True)
    table.attrs.update(params=dict(params), holdout_days=holdout_days)
    return table


def cumulative_transactions(events: Any, as_of: Any, *, holdout_days: int = 90,
                            period_days: float = 7.0,
                            spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Repeat orders accumulated day by day: actual against the BG/NBD fitted before the holdout.

    The expected curve sums, over the buyers acquired each day (all of
    them, also in the holdout), the model's expected repeat orders of a new
    customer by each later day, with the model fitted on orders before
    ``as_of - holdout_days``.

    Returns
    -------
    DataFrame
        ``date``, ``actual`` and ``expected`` (cumulative repeat orders by
        the end of that day) and ``holdout`` (the day is after the split).

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> events, _ = rm.make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> t = cumulative_transactions(events, "2024-01-01")
    >>> bool(t["actual"].is_monotonic_increasing), bool(t["expected"].is_monotonic_increasing)
    (True, True)
    """
    period = _check_period(period_days)
    holdout = _check_days(holdout_days, "holdout_days")
    return cumulative_table(snapshot(events, as_of, spec=spec), holdout_days=holdout, period_days=period)


def cumulative_table(snap: Snapshot, *, holdout_days: int, period_days: float) -> pd.DataFrame:
    """:func:`cumulative_transactions` of a snapshot."""
    split = _split(snap, holdout_days)
    params = summarise(snap, end=split, period_days=period_days).fit()
    day = np.floor_divide(snap.order_time, DAY_NS)
    first_day = int(day.min())
    n_days = int(np.ceil(snap.as_of_ns / DAY_NS)) - first_day
    index = day - first_day
    repeats = np.cumsum(np.bincount(index[snap.order_number > 1], minlength=n_days))
    births = np.bincount(index[snap.order_number == 1], minlength=n_days).astype(np.float64)
    # a buyer acquired during day b has, by the end of day i, about i - b + 1/2 days of life
    age = (np.arange(n_days) + 0.5) / period_days
    zeros = np.zeros(n_days)
    per_customer = bgnbd_expected_orders(params, zeros, zeros, zeros, t=age)
    expected = np.convolve(births, per_customer)[:n_days]
    dates = pd.date_range(pd.Timestamp(first_day, unit="D"), periods=n_days, freq="D")
    table = pd.DataFrame({"date": dates, "actual": repeats.astype(np.int64),
                          "expected": expected,
                          "holdout": np.asarray(dates >= pd.Timestamp(split).normalize())})
    table.attrs.update(params=dict(params), holdout_days=holdout_days,
                       split=pd.Timestamp(split))
    return table
