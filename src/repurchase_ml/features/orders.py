"""What an order is, and which orders a refund cancels: one definition for every consumer.

Features, labels and the BG/NBD summary read orders the same way:

* **Order definition** (``FeatureSpec.order_definition``): ``"order_id"``
  (default) makes a distinct ``order_id`` of a customer one order (a purchase
  row without one is an order of its own); ``"customer_day"`` makes all
  purchase rows of a customer on one calendar day one order.
* **An order is one order, at its first line.** Its time is the time of its
  first row. Lines of an order that started before a cutoff never make a
  label order after it, and never reappear as an order of their own; money
  still counts at each line's own time, as refunds do.
* **Cancellations.** A refund that comes at most ``within_days`` after an
  order (same customer; the same ``order_id`` when both rows have one) and
  returns at least the order's value cancels it: from the refund's time on,
  the order and that refund are gone (no order, no money, no gap, no item
  or category bought; only activity and tenure still see the events). Before
  the refund's time nothing is known of it, so features at earlier cutoffs
  still see the order: nothing after a cutoff changes a feature.
  Partial refunds stay refunds. Every consumer takes the matches from
  :func:`find_cancellations`; :func:`net_out_cancellations` applies them to
  a frame (e.g. before a baseline that reads one cutoff).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml.features._inputs import CODE, check_polars, event_type_codes, fixed
from repurchase_ml.features._kernels import (
    NO_STRINGS,
    customer_order,
    group_within,
    match_cancellations,
)

__all__ = ["ORDER_DEFINITIONS", "OrderDefinition", "CancellationReport", "Cancellations",
           "find_cancellations", "net_out_cancellations", "check_order_definition",
           "check_cancellation_window", "id_codes"]

logger = logging.getLogger(__name__)

OrderDefinition = Literal["order_id", "customer_day"]
#: the ways of grouping purchase rows into orders (see the module docstring)
ORDER_DEFINITIONS: tuple[str, ...] = ("order_id", "customer_day")
_DAY_NS = 86_400 * 10**9
_NEVER = np.iinfo(np.int64).max


def check_order_definition(value: object, argument: str = "order_definition") -> str:
    """``value`` if it is one of :data:`ORDER_DEFINITIONS`, else a ValueError that says so."""
    if value not in ORDER_DEFINITIONS:
        raise ValueError(f"{argument}: expected one of {list(ORDER_DEFINITIONS)}, got {value!r}. "
                         "Fix: 'order_id' counts distinct order ids, 'customer_day' counts "
                         "calendar days with a purchase.")
    return str(value)


def check_cancellation_window(value: object, argument: str = "within_days") -> float:
    """``value`` as a float of days >= 0 (0 switches cancellations off), else a ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0 \
            or not np.isfinite(value):
        raise ValueError(f"{argument}: expected a number of days >= 0 (0: no cancellations), "
                         f"got {value!r}. Fix: pass e.g. 1.0.")
    return float(value)


@dataclass(frozen=True)
class CancellationReport:
    """Orders netted out by a refund soon after them: how many, how much, a few examples.

    ``examples`` has ``customer_id``, ``ordered_at``, ``refunded_at`` and
    ``amount`` (the order's value) for up to five cancelled orders.
    """

    within_days: float
    n_orders: int = 0
    n_purchase_rows: int = 0
    n_refunds: int = 0
    amount: float = 0.0
    examples: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["customer_id", "ordered_at", "refunded_at", "amount"]))

    def __str__(self) -> str:
        return (f"{self.n_orders} order(s) ({self.n_purchase_rows} purchase rows, "
                f"{self.amount:,.2f} in value) cancelled by a refund within "
                f"{self.within_days:g} day(s); those orders and their {self.n_refunds} "
                "refund(s) are netted out")


@dataclass
class Cancellations:
    """Matches of :func:`find_cancellations`, aligned with the rows it was given.

    ``void_at`` per purchase row: the time of the refund that cancels its
    order (int64 max: none); ``cancels`` per refund row: whether it cancels an
    order.
    """

    void_at: np.ndarray
    cancels: np.ndarray
    report: CancellationReport

    @property
    def any(self) -> bool:
        return bool(self.cancels.any())


def id_codes(values: pl.Series | np.ndarray) -> np.ndarray:
    """Dense int64 codes of ids (-1 where missing); equal ids get equal codes.

    Integer arrays are codes already (negative: missing)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        return np.where(values < 0, -1, values).astype(np.int64)
    if isinstance(values, pl.Series):  # a categorical's codes: equal strings, equal codes
        codes = values.cast(pl.String).cast(pl.Categorical).to_physical()
        return codes.cast(pl.Int64).fill_null(-1).to_numpy()
    codes, _ = pd.factorize(values)
    return codes.astype(np.int64)


def find_cancellations(customer: np.ndarray, timestamp: np.ndarray, value: np.ndarray,
                       order_id: pl.Series | np.ndarray | None, refund_customer: np.ndarray,
                       refund_timestamp: np.ndarray, refund_amount: np.ndarray,
                       refund_order_id: pl.Series | np.ndarray | None, *,
                       within_days: float, ids: np.ndarray | None = None,
                       before: int | None = None) -> Cancellations:
    """Match full refunds to the orders they cancel (see the module docstring for the rule).

    Purchase rows (``customer`` as integer codes ``0..n-1``, ``timestamp``
    int64 ns, ``value`` fixed point, ``order_id`` ids, integer codes with -1
    for none, or None) and refund rows (same columns) in any order. ``ids``
    turns customer codes into ids for the report's examples. ``before`` (ns)
    keeps only the matches whose refund comes before it.
    """
    within = check_cancellation_window(within_days)
    void_at = np.full(len(customer), _NEVER, dtype=np.int64)
    cancels = np.zeros(len(refund_customer), dtype=np.bool_)
    if within == 0 or len(customer) == 0 or len(refund_customer) == 0:
        return Cancellations(void_at, cancels, CancellationReport(within))
    n = int(max(customer.max(), refund_customer.max())) + 1
    refunding = np.zeros(n, dtype=np.bool_)
    refunding[refund_customer] = True
    # only the purchase rows of customers with a refund, by (customer, time)
    candidates = refunding[customer]
    rows = customer_order(customer, candidates, n)
    rows, _, _ = group_within(rows, customer, timestamp, *NO_STRINGS)
    key = np.full(len(customer), -1, dtype=np.int64)
    refund_key = np.full(len(refund_customer), -1, dtype=np.int64)
    if order_id is not None and refund_order_id is not None:
        if isinstance(order_id, np.ndarray) and order_id.dtype.kind in "iu":  # codes already
            key = order_id.astype(np.int64)
            refund_key = np.asarray(refund_order_id, dtype=np.int64)
        else:
            picked = order_id.gather(rows) if isinstance(order_id, pl.Series) else order_id[rows]
            if isinstance(picked, pl.Series):
                refund_ids = pl.Series(refund_order_id) if not isinstance(
                    refund_order_id, pl.Series) else refund_order_id
                both = id_codes(pl.concat([picked, refund_ids.cast(picked.dtype)]))
            else:
                both = id_codes(np.concatenate([picked, np.asarray(refund_order_id, dtype=object)]))
            key[rows] = both[:len(rows)]
            refund_key = both[len(rows):]
    # each order's rows together (time order kept), and each order's first row
    keyed = rows[key[rows] >= 0]
    by_group, group_starts, _ = group_within(keyed, customer, key, *NO_STRINGS)
    group_of = np.zeros(len(customer), dtype=np.int64)
    group_of[by_group] = np.repeat(np.arange(len(group_starts)),
                                   np.diff(np.r_[group_starts, len(by_group)]))
    is_first = key < 0
    is_first[by_group[group_starts]] = True
    refunds = np.lexsort((refund_timestamp, refund_customer))
    void_at, cancels = match_cancellations(
        rows, customer, timestamp, key, value, is_first, group_of, by_group,
        np.r_[group_starts, len(by_group)], refunds, refund_customer, refund_timestamp,
        refund_key, refund_amount, int(within * _DAY_NS))
    if before is not None:
        void_at[void_at >= before] = _NEVER
        cancels &= refund_timestamp < before
    return Cancellations(void_at, cancels,
                         _report(void_at, customer, timestamp, value, within,
                                 int(cancels.sum()), ids))


def _report(void_at: np.ndarray, customer: np.ndarray, timestamp: np.ndarray,
            value: np.ndarray, within: float, n_refunds: int,
            ids: np.ndarray | None) -> CancellationReport:
    gone = np.flatnonzero(void_at < _NEVER)
    if not len(gone):
        return CancellationReport(within)
    # one refund cancels one order: an order is (customer, time of its refund)
    by_order = gone[np.lexsort((void_at[gone], customer[gone]))]
    who, when = customer[by_order], void_at[by_order]
    starts = np.flatnonzero(np.r_[True, (who[1:] != who[:-1]) | (when[1:] != when[:-1])])
    amount = np.add.reduceat(value[by_order], starts) / 10_000
    top = np.argsort(-amount, kind="stable")[:5]
    examples = pd.DataFrame({
        "customer_id": (ids if ids is not None else np.arange(who.max() + 1))[who[starts][top]],
        "ordered_at": np.minimum.reduceat(timestamp[by_order], starts)[top]
        .astype("datetime64[ns]"),
        "refunded_at": when[starts][top].astype("datetime64[ns]"),
        "amount": amount[top]})
    report = CancellationReport(within, n_orders=n_refunds, n_purchase_rows=len(gone),
                                n_refunds=n_refunds, amount=float(amount.sum()),
                                examples=examples)
    logger.info("%s", report)
    return report


def _money_rows(events: pd.DataFrame | pl.DataFrame) -> tuple[np.ndarray, ...]:
    """Event types (codes), customer codes and ids, timestamps (ns) and amounts (fixed) of a log."""
    if isinstance(events, pl.DataFrame):
        check_polars(events)
        types = event_type_codes(events["event_type"])
        customer, ids = _codes_and_ids(events["customer_id"].to_numpy())
        timestamp = events["timestamp"].cast(pl.Datetime("ns")).to_physical().to_numpy()
        amount = events.select(fixed(pl.col("amount").cast(pl.Float64)).fill_null(0))
        return types, customer, ids, timestamp, amount["amount"].to_numpy()
    from repurchase_ml.events import check_canonical

    check_canonical(events)
    types = events["event_type"].cat.codes.to_numpy().astype(np.int8)
    customer, ids = _codes_and_ids(events["customer_id"].to_numpy())
    amount = np.round(events["amount"].to_numpy(dtype=np.float64) * 10_000)
    return (types, customer, ids, events["timestamp"].to_numpy().view(np.int64),
            np.nan_to_num(amount).astype(np.int64))


def _codes_and_ids(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes, ids = pd.factorize(values)
    return codes.astype(np.int64), np.asarray(ids)


def net_out_cancellations(
    events: pd.DataFrame | pl.DataFrame, *, within_days: float = 1.0, as_of: object = None,
) -> tuple[pd.DataFrame | pl.DataFrame, CancellationReport]:
    """Drop cancelled orders and the refunds that cancel them from an event log.

    The same matches the features and labels use (see :mod:`repurchase_ml.features.orders`):
    a refund at most ``within_days`` after an order of the same customer (the
    same ``order_id`` when both have one) that returns at least the order's
    value. Partial refunds stay.

    Parameters
    ----------
    events : pandas.DataFrame or polars.DataFrame
        A canonical event log.
    within_days : float, default 1.0
        How soon after the order a refund must come to cancel it; 0 drops nothing.
    as_of : timestamp, optional
        Only cancellations known before it (refund ``timestamp < as_of``) are
        applied, as a snapshot at that time sees them. Default: all.

    Returns
    -------
    (events, CancellationReport)
        The log without those rows (same type, same row order), and what was
        dropped (also logged at INFO level).

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 1], "timestamp": pd.to_datetime(
    ...     ["2024-01-01 10:00", "2024-01-01 10:12", "2024-01-05 09:00"]),
    ...     "event_type": pd.Categorical(["purchase", "refund", "purchase"],
    ...         categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [168_000.0, 168_000.0, 20.0]})
    >>> kept, report = net_out_cancellations(ev)
    >>> kept["amount"].tolist(), report.n_orders, report.n_refunds
    ([20.0], 1, 1)
    """
    within = check_cancellation_window(within_days)
    types, customer, ids, timestamp, amount = _money_rows(events)
    bought = np.flatnonzero(types == CODE["purchase"])
    refunds = np.flatnonzero(types == CODE["refund"])
    order_id = None
    refund_order_id = None
    if "order_id" in events.columns:
        if isinstance(events, pl.DataFrame):
            order_id = events["order_id"].gather(bought)
            refund_order_id = events["order_id"].gather(refunds)
        else:
            column = events["order_id"].to_numpy()
            order_id, refund_order_id = column[bought], column[refunds]
    limit = None if as_of is None else pd.Timestamp(as_of).as_unit("ns").value  # type: ignore[arg-type]
    found = find_cancellations(customer[bought], timestamp[bought], amount[bought], order_id,
                               customer[refunds], timestamp[refunds], amount[refunds],
                               refund_order_id, within_days=within, ids=ids, before=limit)
    drop = np.zeros(len(types), dtype=np.bool_)
    drop[bought] = found.void_at < _NEVER
    drop[refunds] = found.cancels
    if not drop.any():
        return events, found.report
    if isinstance(events, pl.DataFrame):
        return events.filter(pl.Series(~drop)), found.report
    return events.loc[~drop].reset_index(drop=True), found.report
