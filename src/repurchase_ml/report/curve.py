"""Repurchase curve: the share of first-time buyers who order again within N days."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repurchase_ml.events import check_canonical
from repurchase_ml.report import plots
from repurchase_ml.report._base import (
    ReportContext,
    Section,
    as_timestamp,
    img,
    missing,
    note,
    table,
)

#: days marked in the table under the curve
MARKS = (7, 14, 30, 60, 90, 180, 365)


def repurchase_curve(
    events: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str,
    max_days: int = 180,
) -> pd.DataFrame:
    """Share of first-time buyers who order again within ``N`` days, as of a date.

    Only purchases with ``timestamp < as_of`` are read. For each ``N`` the
    denominator holds the customers whose first order lies at least ``N`` days
    before ``as_of`` (so each of them has been observed for the full ``N``
    days); the numerator counts those whose second order came at most ``N``
    days after the first. Customers first seen too recently are left out of
    that ``N`` instead of being counted as non-repeaters.

    An order is a distinct ``order_id`` among a customer's purchase rows (its
    time is the earliest row); a purchase row without an order id (or a log
    without the column) is an order of its own, as in the feature code.

    Parameters
    ----------
    events : pandas.DataFrame
        Canonical event frame with ``customer_id``, ``timestamp`` and
        ``event_type`` (and optionally ``order_id``).
    as_of : pandas.Timestamp or str
        The "now" of the curve. Required: there is no default, so a future
        event can never slip in.
    max_days : int, default 180
        Largest ``N``; the curve has one row per day ``0..max_days``.

    Returns
    -------
    pandas.DataFrame
        Columns ``days``, ``eligible_buyers``, ``repeat_buyers``, ``share``
        (``NaN`` where no buyer is eligible).

    Examples
    --------
    >>> from repurchase_ml.events import read_events
    >>> ev, _ = read_events(pd.DataFrame({
    ...     "customer_id": [1, 1, 2, 3, 3],
    ...     "timestamp": ["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-03", "2024-03-01"],
    ...     "event_type": ["purchase"] * 5, "amount": [10.0, 5.0, 8.0, 20.0, 7.5]}))
    >>> curve = repurchase_curve(ev, as_of="2024-01-20", max_days=10)
    >>> curve.set_index("days").loc[[3, 4, 10], ["eligible_buyers", "repeat_buyers"]]
          eligible_buyers  repeat_buyers
    days
    3                   3              0
    4                   3              1
    10                  3              1
    """
    check_canonical(events, argument="events")
    if not isinstance(max_days, int | np.integer) or isinstance(max_days, bool) or max_days < 0:
        raise ValueError(f"max_days must be a non-negative integer, got {max_days!r}.")
    cutoff = as_timestamp(as_of, name="as_of")
    # a narrow copy of the purchase rows; order ids as integer codes (-1: none), so that
    # 20M-row logs group on numbers, not strings
    bought = ((events["event_type"] == "purchase").to_numpy()
              & (events["timestamp"] < cutoff).to_numpy())
    purchases = pd.DataFrame({"customer_id": events["customer_id"].to_numpy()[bought],
                              "timestamp": events["timestamp"].to_numpy()[bought]})
    if "order_id" in events.columns:
        purchases["order_id"] = pd.factorize(events["order_id"][bought])[0]
        has_id = purchases["order_id"] >= 0
        by_order = (
            purchases.loc[has_id]
            .groupby(["customer_id", "order_id"], sort=False)["timestamp"]
            .min()
            .reset_index()
        )
        order_times = pd.concat(
            [
                by_order[["customer_id", "timestamp"]],
                purchases.loc[~has_id, ["customer_id", "timestamp"]],
            ],
            ignore_index=True,
        )
    else:
        order_times = purchases[["customer_id", "timestamp"]]
    order_times = order_times.sort_values(["customer_id", "timestamp"], kind="mergesort")
    rank = order_times.groupby("customer_id", sort=False).cumcount()
    first = order_times.loc[rank == 0].set_index("customer_id")["timestamp"]
    second = order_times.loc[rank == 1].set_index("customer_id")["timestamp"]

    observed_days = ((cutoff - first) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    gap = (second.reindex(first.index) - first) / pd.Timedelta(days=1)
    gap_days = gap.to_numpy(dtype=float)  # NaN: no second order yet

    # a buyer counts for every N in [0, floor(observed)] (eligible) and, once the second
    # order is in, for every N in [ceil(gap), floor(observed)] (repeat): count the
    # intervals with a difference array, O(customers + max_days) in time and memory
    days = np.arange(max_days + 1)
    last = np.minimum(np.floor(observed_days), max_days).astype(np.int64)
    eligible = _interval_counts(np.zeros_like(last), last, size=max_days + 1)
    has_gap = ~np.isnan(gap_days)
    start = np.ceil(gap_days[has_gap]).astype(np.int64)
    repeat = _interval_counts(start, last[has_gap], size=max_days + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(eligible > 0, repeat / np.maximum(eligible, 1), np.nan)
    return pd.DataFrame(
        {
            "days": days.astype("int64"),
            "eligible_buyers": eligible.astype("int64"),
            "repeat_buyers": repeat.astype("int64"),
            "share": share.astype("float64"),
        }
    )


def _interval_counts(start: np.ndarray, end: np.ndarray, *, size: int) -> np.ndarray:
    """How many closed intervals ``[start, end]`` cover each of ``0 .. size - 1``."""
    keep = start <= end
    delta = np.bincount(start[keep], minlength=size + 1)[: size + 1]
    delta = delta - np.bincount(end[keep] + 1, minlength=size + 1)[: size + 1]
    return np.cumsum(delta)[:size]


def render(ctx: ReportContext) -> str:
    if ctx.events is None:
        return missing(ctx, "events")
    curve = repurchase_curve(ctx.events, as_of=ctx.cutoff, max_days=ctx.curve_days)
    shown = curve.loc[curve["eligible_buyers"] > 0]
    if shown.empty:
        return note(ctx.t("report.curve.none"))
    f = ctx.fmt
    fig = plots.curve_figure(shown["days"].tolist(), shown["share"].tolist(),
                             title=ctx.pt("report.curve.plot_title"),
                             labels=(ctx.pt("report.curve.x"), ctx.pt("report.curve.y")))
    marks = curve.loc[curve["days"].isin([d for d in MARKS if d <= ctx.curve_days])]
    marks = marks.set_index("days").rename(columns=lambda c: f.text(f"report.col.{c}"))
    return (img(fig, "repurchase-curve-plot", f.text("report.section.repurchase-curve"))
            + note(ctx.t("report.curve.how"))
            + table(marks, f, index_name=f.text("report.curve.within"),
                    cells={f.text("report.col.share"): f.share}))


SECTION = Section("repurchase-curve", render)
