"""Planted shifts: change a canonical event log the way a real shop's data changes.

For testing drift monitoring where the truth is known: each shift touches
only what it says, from ``start`` on, and returns a new log (the input is not
changed). Applied to :func:`~repurchase_ml.datasets.make_event_log` output,
a drift report at an as-of date after ``start`` should flag the features the
shift moves and nothing else.

- ``"new_source"``: customers from a new acquisition channel (say a
  marketplace) arrive between ``start`` and ``end``: an order log with no
  browsing events (the marketplace keeps those), ``share`` as many as the
  customers already in the log;
- ``"price_change"``: every purchase and refund from ``start`` on costs
  ``factor`` times as much (``amount`` and ``unit_price``);
- ``"tracking_outage"``: the view events between ``start`` and ``end`` are lost.

Examples
--------
>>> import repurchase_ml as rm
>>> events, _ = rm.make_event_log(50, "2023-01-01", "2023-07-01", random_state=0)
>>> lost = plant_shift(events, "tracking_outage", start="2023-06-01", end="2023-07-01")
>>> views = lambda e: int(((e["event_type"] == "view") & (e["timestamp"] >= "2023-06-01")).sum())
>>> views(events) > 0, views(lost), len(events) - len(lost) == views(events)
(True, 0, True)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["SHIFTS", "plant_shift"]

SHIFTS = ("new_source", "price_change", "tracking_outage")


def plant_shift(
    events: pd.DataFrame,
    kind: str,
    *,
    start: Any,
    end: Any = None,
    factor: float = 1.3,
    share: float = 0.5,
    random_state: int = 0,
) -> pd.DataFrame:
    """Return ``events`` with one planted shift (see the module notes).

    Parameters
    ----------
    events : pandas.DataFrame
        A canonical event log (``make_event_log`` output).
    kind : {"new_source", "price_change", "tracking_outage"}
    start, end : date
        When the shift begins and (outage, new source) ends; ``end`` defaults
        to the midnight after the last event.
    factor : float, default 1.3
        Price multiplier of ``price_change``.
    share : float, default 0.5
        ``new_source``: new customers drawn, as a share of the customers in the log.
    random_state : int
        Seed of the new customers.

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> events, _ = rm.make_event_log(50, "2023-01-01", "2023-07-01", random_state=0)
    >>> dearer = plant_shift(events, "price_change", start="2023-06-01", factor=2.0)
    >>> late = events["timestamp"] >= "2023-06-01"
    >>> round(float(dearer.loc[late, "amount"].sum() / events.loc[late, "amount"].sum()), 6)
    2.0
    >>> dearer.loc[~late, "amount"].equals(events.loc[~late, "amount"])
    True
    """
    if kind not in SHIFTS:
        raise ValueError(f"kind: expected one of {', '.join(SHIFTS)}, got {kind!r}")
    start = pd.Timestamp(start)
    end = (pd.Timestamp(end) if end is not None
           else events["timestamp"].max().normalize() + pd.Timedelta(days=1))
    if not end > start:
        raise ValueError(f"end ({end.date()}) must be after start ({start.date()})")
    when = (events["timestamp"] >= start) & (events["timestamp"] < end)
    if kind == "tracking_outage":
        return events[~(when & (events["event_type"] == "view"))].reset_index(drop=True)
    if kind == "price_change":
        out = events.copy()
        money = (events["timestamp"] >= start) & events["event_type"].isin(["purchase", "refund"])
        for column in ("amount", "unit_price"):
            if column in out:
                out.loc[money, column] = out.loc[money, column] * float(factor)
        return out
    from repurchase_ml.datasets import make_event_log

    n_new = max(1, int(round(share * events["customer_id"].nunique())))
    arrivals, _truth = make_event_log(n_new, start, end, random_state=random_state,
                                      behaviour=False, existing_share=0.0)
    arrivals = arrivals.copy()
    arrivals["customer_id"] = arrivals["customer_id"] + int(events["customer_id"].max()) + 1
    if "order_id" in arrivals and "order_id" in events:  # order ids stay unique in the log
        offset = int(pd.to_numeric(events["order_id"], errors="coerce").max()) + 1
        arrivals["order_id"] = (pd.to_numeric(arrivals["order_id"]) + offset).astype(str)
    merged = pd.concat([events, arrivals[[c for c in events.columns if c in arrivals]]],
                       ignore_index=True)
    merged["event_type"] = pd.Categorical(merged["event_type"].astype(str),
                                          categories=events["event_type"].cat.categories)
    return merged.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


