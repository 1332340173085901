"""The log at an as-of date as the analytics read it: orders, money and events before ``as_of``.

One :class:`Snapshot` per (log, as-of date) holds what every table needs, built
once: the orders in time order per customer (the library's order definition and
cancellations, through the same order book the labels count with), the
purchase and refund rows that make net money, and the raw event codes for the
behaviour funnel. Only events with ``timestamp < as_of`` are read, so nothing
at or after the as-of date can change a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._frames import as_pandas
from repurchase_ml.events import EVENT_TYPES, FIXED_SCALE, check_canonical
from repurchase_ml.features._arrays import DAY_NS, LogArrays
from repurchase_ml.features.engine import spec_log
from repurchase_ml.features.labels import _OrderBook  # the one order book labels count with
from repurchase_ml.features.spec import FeatureSpec

__all__ = ["Snapshot", "snapshot", "check_date", "PERIODS", "period_codes", "period_labels",
           "period_starts", "DAY_NS"]

#: period frequencies of the over-time tables: week (Monday), month, quarter
PERIODS = ("W", "M", "Q")
_EPOCH_MONDAY_OFFSET = 3  # 1970-01-01 was a Thursday: shift day numbers so weeks start Monday


def check_date(value: Any, argument: str) -> pd.Timestamp:
    """``value`` as a naive timestamp, or a ValueError naming ``argument``.

    Examples
    --------
    >>> check_date("2024-06-01", "as_of")
    Timestamp('2024-06-01 00:00:00')
    >>> check_date("soon", "to_as_of")
    Traceback (most recent call last):
    ValueError: to_as_of: expected a date such as '2024-06-01', got 'soon'. Fix: pass an ISO date.
    """
    try:
        moment = pd.Timestamp(value) if value is not None else pd.NaT
    except (TypeError, ValueError):  # pandas' DateParseError is a ValueError
        moment = pd.NaT
    if moment is pd.NaT:
        raise ValueError(f"{argument}: expected a date such as '2024-06-01', got {value!r}. "
                         "Fix: pass an ISO date.")
    if moment.tzinfo is not None:
        raise ValueError(f"{argument}: expected a naive date (the wall clock of the log), got "
                         f"{value!r}. Fix: drop the time zone, e.g. '2024-06-01'.")
    return moment.as_unit("ns")


def check_choice(value: Any, argument: str, allowed: tuple[Any, ...]) -> Any:
    """``value`` if it is one of ``allowed``, else a ValueError naming ``argument``."""
    if value not in allowed:
        raise ValueError(f"{argument}: expected one of {list(allowed)}, got {value!r}.")
    return value


def _canonical(events: Any) -> pd.DataFrame:
    """The event log as a canonical pandas frame (a polars log converted at the boundary)."""
    frame = as_pandas(events, argument="events")
    kind = frame["event_type"].dtype if "event_type" in frame.columns else None
    if isinstance(kind, pd.CategoricalDtype) and tuple(kind.categories) != EVENT_TYPES \
            and set(kind.categories) <= set(EVENT_TYPES):
        # polars keeps the categories it saw, in its own order: put them in the canonical order
        frame = frame.assign(event_type=frame["event_type"].cat.set_categories(EVENT_TYPES))
    check_canonical(frame)
    return frame


@dataclass
class Snapshot:
    """Everything before ``as_of`` that the analytics tables read (see the module docstring).

    Customers are dense codes ``0..n-1`` (``ids`` maps them back); orders are
    sorted by customer, then time, with ``order_number`` counting from 1;
    money is in currency units (purchases of orders not cancelled by
    ``as_of``, refunds that cancel nothing).
    """

    as_of: pd.Timestamp
    spec: FeatureSpec
    source: pd.DataFrame  # the canonical log as given (all rows, all columns)
    kept: np.ndarray | None  # its rows before as_of, in order (None: all of them)
    log: LogArrays
    order_customer: np.ndarray
    order_time: np.ndarray
    order_number: np.ndarray
    buy_customer: np.ndarray
    buy_time: np.ndarray
    buy_value: np.ndarray
    refund_customer: np.ndarray
    refund_time: np.ndarray
    refund_amount: np.ndarray
    _features: dict[pd.Timestamp, pd.DataFrame] = field(default_factory=dict, repr=False)
    #: segments per (cutoff, kind), see :func:`.migration.segments_at`
    segments: dict[tuple[pd.Timestamp, str], pd.Series] = field(default_factory=dict,
                                                                 repr=False)

    def has_column(self, name: str) -> bool:
        return name in self.source.columns

    def column(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Values of the log's column ``name`` at ``rows`` (positions among the rows before
        ``as_of``, as in :attr:`log`)."""
        return self.source[name].to_numpy()[rows if self.kept is None else self.kept[rows]]

    @property
    def ids(self) -> np.ndarray:
        return self.log.ids

    @property
    def n_customers(self) -> int:
        return self.log.n_customers

    @property
    def as_of_ns(self) -> int:
        return int(self.as_of.value)

    def orders_per_customer(self) -> np.ndarray:
        """Orders before ``as_of`` per customer code (0 for browsers who never bought)."""
        return np.bincount(self.order_customer, minlength=self.n_customers)

    def first_order_rows(self) -> np.ndarray:
        """Index (into the order arrays) of each buyer's first order."""
        return np.flatnonzero(self.order_number == 1)

    def next_order_gaps(self, from_order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For buyers with at least ``from_order`` orders: the order's row, the days from it to
        the next order (or to ``as_of`` when there is none yet) and whether the next came.

        Days are whole days rounded up (a return 3 hours later is on day 1; an
        order at the same moment on day 0).
        """
        rows = np.flatnonzero(self.order_number == from_order)
        following = rows + 1
        came = np.zeros(len(rows), dtype=np.bool_)
        inside = following < len(self.order_customer)
        came[inside] = self.order_customer[following[inside]] == self.order_customer[rows[inside]]
        until = np.full(len(rows), self.as_of_ns, dtype=np.int64)
        until[came] = self.order_time[following[came]]
        days = np.ceil((until - self.order_time[rows]) / DAY_NS).astype(np.int64)
        return rows, days, came

    def features(self, cutoff: pd.Timestamp | None = None) -> pd.DataFrame:
        """Features at ``cutoff`` (default ``as_of``, never later) of the families segments read."""
        cutoff = self.as_of if cutoff is None else cutoff
        if cutoff not in self._features:
            self.build_features([cutoff])
        return self._features[cutoff]

    def build_features(self, cutoffs: list[pd.Timestamp]) -> None:
        """Build the features of several cutoffs in one pass (cheaper than one by one)."""
        from repurchase_ml.features.engine import features_of_log
        from repurchase_ml.radar import RADAR_FAMILIES

        late = [c for c in cutoffs if c > self.as_of]
        if late:
            raise ValueError(f"cutoff: {late[0].date()} is after the as-of date "
                             f"{self.as_of.date()}; a snapshot never looks past it.")
        spec = FeatureSpec(families=RADAR_FAMILIES, windows=(30, 90, 365),
                           order_definition=self.spec.order_definition,
                           cancellation_window_days=self.spec.cancellation_window_days,
                           behaviour=False)
        cutoffs = sorted(set(cutoffs))
        table = features_of_log(self.log, cutoffs, spec)
        first_seen = pd.Series(_first_event(self.log), index=self.ids)
        seen = first_seen.reindex(table["customer_id"].to_numpy()).to_numpy()
        for cutoff in cutoffs:
            # customers whose first event comes later are not yet customers at the cutoff
            rows = (table["cutoff"].to_numpy() == cutoff.to_datetime64()) & (seen < cutoff.value)
            self._features[cutoff] = table.loc[rows].reset_index(drop=True)


def _first_event(log: LogArrays) -> np.ndarray:
    """Time of each customer's first event (int64 ns), by customer code."""
    first = np.full(log.n_customers, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, log.customer, log.timestamp)
    return first


def snapshot(events: Any, as_of: Any, *, spec: FeatureSpec | None = None,
             argument: str = "as_of") -> Snapshot:
    """The :class:`Snapshot` of ``events`` (pandas or polars, canonical) before ``as_of``.

    ``spec`` gives the order definition and cancellation window (default
    :class:`~repurchase_ml.features.FeatureSpec`'s, as in training).

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 1], "timestamp": pd.to_datetime(
    ...     ["2024-01-01", "2024-01-03", "2024-01-02", "2024-02-01"]),
    ...     "event_type": pd.Categorical(["purchase"] * 4, categories=EVENT_TYPES),
    ...     "amount": [10.0, 20.0, 5.0, 7.0]})
    >>> snap = snapshot(ev, "2024-01-31")
    >>> snap.order_number.tolist(), snap.orders_per_customer().tolist()
    ([1, 2, 1], [2, 1])
    """
    moment = check_date(as_of, argument)
    if spec is None:
        spec = FeatureSpec()
    elif not isinstance(spec, FeatureSpec):
        raise TypeError(f"spec: expected a FeatureSpec, got {type(spec).__name__}.")
    source = _canonical(events)
    frame, kept = _before(source, moment)
    log = spec_log(frame, spec)
    book = _OrderBook(log)
    customer, time = book.order_customer, book.order_time
    if book.order_void is not None:  # cancelled by a refund before as_of: no order
        standing = book.order_void >= moment.value
        customer, time = customer[standing], time[standing]
    if len(customer) > 1 and not _sorted(customer, time):
        order = np.lexsort((time, customer))
        customer, time = customer[order], time[order]
    number = _numbers_within(customer)
    visible = log.visible(moment.value)
    buy_customer, buy_time, buy_value = book.buy_customer, book.buy_time, book.buy_value
    if visible is not None:
        buy_customer, buy_time, buy_value = buy_customer[visible], buy_time[visible], \
            buy_value[visible]
    return Snapshot(
        as_of=moment, spec=spec, source=source, kept=kept, log=log, order_customer=customer,
        order_time=time, order_number=number, buy_customer=buy_customer, buy_time=buy_time,
        buy_value=buy_value / FIXED_SCALE, refund_customer=log.refund_customer,
        refund_time=log.refund_timestamp,
        refund_amount=log.refund_amount.astype(np.float64) / FIXED_SCALE)


#: the columns the order book reads (order ids only at purchases and refunds)
_ORDER_COLUMNS = ("customer_id", "timestamp", "event_type", "amount")


def _before(frame: pd.DataFrame, moment: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The rows before ``moment`` with the columns the order book reads, and their positions
    in ``frame`` (None: every row).

    Column by column with numpy, and order ids only where they are read (purchases and
    refunds): a pandas row filter of a 20M-row log copies every string column twice.
    """
    before = frame["timestamp"].to_numpy() < moment.to_datetime64()
    everything = bool(before.all())
    picked: dict[str, Any] = {}
    for name in _ORDER_COLUMNS:  # boolean masks: cheaper than gathering by position
        column = frame[name]
        if everything:
            picked[name] = column
        elif isinstance(column.dtype, pd.CategoricalDtype):
            picked[name] = pd.Categorical.from_codes(column.cat.codes.to_numpy()[before],
                                                     dtype=column.dtype)
        else:
            picked[name] = column.to_numpy()[before]
    if "order_id" in frame.columns:
        codes = frame["event_type"].cat.codes.to_numpy()
        used = (codes == EVENT_TYPES.index("purchase")) | (codes == EVENT_TYPES.index("refund"))
        read = np.flatnonzero(used & before)
        # None where nothing reads it; placed at each read row's position among the kept rows
        position = read if everything else (np.cumsum(before) - 1)[read]
        order_id = np.empty(len(codes) if everything else int(before.sum()), dtype=object)
        order_id[position] = frame["order_id"].to_numpy()[read]
        picked["order_id"] = order_id
    # no consolidation: the arrays are ours already (a copy of 20M rows otherwise)
    return pd.DataFrame(picked, copy=False), None if everything else np.flatnonzero(before)


def _sorted(customer: np.ndarray, time: np.ndarray) -> bool:
    step = np.diff(customer)
    return bool((step >= 0).all() and (np.diff(time)[step == 0] >= 0).all())


def _numbers_within(customer: np.ndarray) -> np.ndarray:
    """1, 2, 3 ... within each run of equal (sorted) customer codes."""
    if not len(customer):
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, customer[1:] != customer[:-1]])
    sizes = np.diff(np.r_[starts, len(customer)])
    return np.arange(len(customer)) - np.repeat(starts, sizes) + 1


# ---------------------------------------------------------------- periods


def period_codes(times_ns: np.ndarray, freq: str) -> np.ndarray:
    """Integer period of each time: weeks (from Monday), months or quarters since 1970.

    Examples
    --------
    >>> t = pd.to_datetime(["2024-01-31", "2024-02-01"]).to_numpy().view(np.int64)
    >>> period_codes(t, "M").tolist(), period_labels(period_codes(t, "M"), "M")
    ([648, 649], ['2024-01', '2024-02'])
    """
    days = np.floor_divide(np.asarray(times_ns, dtype=np.int64), DAY_NS)
    if freq == "W":
        return np.floor_divide(days + _EPOCH_MONDAY_OFFSET, 7)
    if not len(days):
        return days
    # the month of each day of the log's span, then a lookup (a few hundred days, not 20M dates)
    first = int(days.min())
    span = np.arange(first, int(days.max()) + 1).astype("datetime64[D]")
    months = span.astype("datetime64[M]").astype(np.int64)[days - first]
    return months if freq == "M" else np.floor_divide(months, 3)


def period_starts(codes: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """First moment of each period code of :func:`period_codes`."""
    codes = np.asarray(codes, dtype=np.int64)
    if freq == "W":
        days = codes * 7 - _EPOCH_MONDAY_OFFSET
        return pd.DatetimeIndex(days.astype("datetime64[D]").astype("datetime64[ns]"))
    months = codes if freq == "M" else codes * 3
    return pd.DatetimeIndex(months.astype("datetime64[M]").astype("datetime64[ns]"))


def period_labels(codes: np.ndarray, freq: str) -> list[str]:
    """Readable names of period codes: ``2024-01-01`` (week of), ``2024-01``, ``2024Q1``."""
    starts = period_starts(codes, freq)
    if freq == "W":
        return [s.strftime("%Y-%m-%d") for s in starts]
    if freq == "M":
        return [s.strftime("%Y-%m") for s in starts]
    return [f"{s.year}Q{(s.month - 1) // 3 + 1}" for s in starts]


def period_ends(codes: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """First moment after each period (the start of the next one)."""
    return period_starts(np.asarray(codes, dtype=np.int64) + 1, freq)
