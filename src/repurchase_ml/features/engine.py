"""Point-in-time behaviour features: one row per (customer, cutoff), from a few passes per cutoff.

The log is split once into flat arrays (see :mod:`._arrays`): customers are
dense integer codes, so every per-customer result is an array indexed by code.
The passes over rows are compiled loops (:mod:`._kernels`, numba): one read of
the rows each, no per-row temporaries. Work that does not depend on the
cutoff is done once: grouping purchase rows into orders (sorted by customer,
then time), each customer's first event and first purchase of each item, the
(customer, category) pairs.

Events: each row is put in the bucket between consecutive *edges* (the
cutoffs, and each cutoff minus every window length); counts per (slot,
bucket, customer) are turned into running sums, so the count over any window
is one subtraction. Several cutoffs share one pass over the events when their
buckets fit the memory budget. Orders: one loop over each customer's orders
before the cutoff (a prefix of its sorted orders) computes every order
feature and writes it straight into the result block.

Two lanes share the work: a worker thread builds the orders, the first
purchases of items and the order features, while the caller runs the events
passes and the category features (the kernels, numpy and polars release the
GIL, so each lane keeps a core busy). Each feature goes straight into its
column of one result block.

Nothing at or after a cutoff is ever read for that cutoff: every row enters a
sum only through its bucket or a ``timestamp < cutoff`` test. Results repeat
bit for bit, whatever the row order of the log: money and quantities are
summed as int64 fixed-point (1e-4 units), float sums run in a fixed order
(customer, then time or category), and everything else is a count, a min/max
or a lookup.

Measured alternatives (see ``benchmarks/features.py`` and
``docs/benchmarks.md``): a polars lazy plan with one group-by per family (and
before it an inequality join) spent most of its time in group-bys with
millions of tiny groups and was about 2.5x slower at one cutoff; the same
engine written in numpy alone (bincounts, sorts of packed keys) took 2.2x as
long per call as the compiled loops (1.7x counting numba's longer import);
the plain-pandas reference in the benchmark is slower still.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml._progress import advance
from repurchase_ml.events import check_canonical
from repurchase_ml.features._arrays import (
    DAY_NS,
    HASH_MIX,
    NO_STRINGS,
    Keys,
    LogArrays,
    group_rows,
    log_arrays,
)
from repurchase_ml.features._inputs import (
    CODE,
    FIXED_SCALE,
    fixed,
    normalise_cutoffs,
)
from repurchase_ml.features._kernels import (
    ORDER_SLOTS,
    bucket_counts,
    carts_after,
    category_spread,
    count_before,
    customer_order,
    first_times,
    group_within,
    in_time_order,
    last_before,
    order_features,
    order_runs,
    order_sums,
    pair_sums,
    price_tiers,
    sort_ties,
    sums_between,
)
from repurchase_ml.features.spec import (
    ENGAGEMENT_RECENT_DAYS,
    SAME_PERIOD_DAYS,
    VALUE_WINDOW_DAYS,
    FeatureSpec,
    feature_names,
)

__all__ = ["build_features", "compute_features", "category_price_levels"]

logger = logging.getLogger(__name__)

#: event type code -> slot of the engagement counts: view, cart, favourite (3: none)
_INTERACTION_SLOT = np.full(len(CODE), 3, dtype=np.int8)
_INTERACTION_SLOT[[CODE["view"], CODE["cart"], CODE["favorite"]]] = [0, 1, 2]
_CART = CODE["cart"]
_I64_MIN = np.iinfo(np.int64).min
#: largest per-customer bucket table (customers x slots x buckets) one pass over the events
#: may fill; cutoffs are grouped into passes under it (one cutoff always gets its own pass)
_CELL_BUDGET = 48_000_000


# ---------------------------------------------------------------- windowed sums


class _WindowCounts:
    """Per-customer counts of rows in time windows that end at cutoffs, from one pass.

    Each row falls in the bucket between consecutive edges (the cutoffs, and
    each cutoff minus each window length in ``days``) and in the slot
    ``slot_of[slot[row]]`` (``n_slots`` or more: left out). Counts per (slot,
    bucket, customer) are accumulated by one compiled loop and turned into
    running counts over buckets; the count over a window is one subtraction.
    """

    def __init__(self, customer: np.ndarray, timestamp: np.ndarray, n_customers: int,
                 cutoffs: Sequence[int], days: Iterable[int], slot: np.ndarray,
                 slot_of: np.ndarray, n_slots: int) -> None:
        self.edges = _edges(cutoffs, days)
        self._position = {int(e): i for i, e in enumerate(self.edges)}
        # counts fit int32 whenever the rows do (half the memory of int64)
        self.counts = np.zeros((n_slots, len(self.edges), n_customers),
                               dtype=np.int32 if len(timestamp) < 2**31 else np.int64)
        bucket_counts(customer, timestamp, self.edges, slot, slot_of, self.counts)

    def between(self, cutoff: int, newer: float, older: float | None = None,
                slot: int = 0) -> np.ndarray:
        """Per customer: rows of ``slot`` with ``newer < age <= older`` days before ``cutoff``.

        ``older=None`` means every row before ``cutoff - newer`` days.
        """
        counts = self.counts[slot]
        upper = counts[self._position[cutoff - int(newer * DAY_NS)]]
        if older is None:
            return upper
        return upper - counts[self._position[cutoff - int(older * DAY_NS)]]

    @staticmethod
    def cells(n_customers: int, n_slots: int, cutoffs: Sequence[int], days: Iterable[int]) -> int:
        return n_customers * n_slots * len(_edges(cutoffs, days))


def _edges(cutoffs: Sequence[int], days: Iterable[int]) -> np.ndarray:
    """Sorted distinct bucket edges: every cutoff, and every cutoff minus every window (ns)."""
    days = list(days)
    edges = set(cutoffs) | {t - d * DAY_NS for t in cutoffs for d in days}
    return np.array(sorted(edges), dtype=np.int64)


class _Rows:
    """The result rows of one cutoff: a feature assigned per customer keeps only those rows.

    Features named in the output go straight into their column of the result
    block, so no per-customer array outlives its computation; other values
    (helpers such as ``_views_all``) are kept for those rows only.
    """

    def __init__(self, block: np.ndarray, offset: int, rows: np.ndarray,
                 names: Sequence[str]) -> None:
        self.rows = rows
        self._block = block[offset:offset + len(rows)]
        self._column = {name: j for j, name in enumerate(names)}
        self._kept: dict[str, np.ndarray] = {}
        self._written: set[str] = set()

    def __setitem__(self, name: str, per_customer: np.ndarray) -> None:
        self.put(name, per_customer[self.rows])

    def put(self, name: str, picked: np.ndarray) -> None:
        """Set a feature from values for this cutoff's rows only."""
        if name in self._column:
            self._block[:, self._column[name]] = picked
        else:
            self._kept[name] = picked.astype(np.float64)
        self._written.add(name)

    @property
    def block(self) -> np.ndarray:
        """This cutoff's rows of the result block."""
        return self._block

    def columns(self, names: Sequence[str]) -> np.ndarray:
        """Column of each name in :attr:`block` (-1: not an output); the names count as set."""
        self._written.update(name for name in names if name in self._column)
        return np.array([self._column.get(name, -1) for name in names], dtype=np.int64)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._block[:, self._column[name]] if name in self._column else self._kept[name]

    def __contains__(self, name: object) -> bool:
        return name in self._written


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` where the denominator is positive, NaN elsewhere."""
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


def _days(cutoff: int, timestamp: np.ndarray) -> np.ndarray:
    """Age in days of ``timestamp`` (int64 ns) before ``cutoff``."""
    return (cutoff - timestamp).astype(np.float64) / DAY_NS


# ---------------------------------------------------------------- once per log


@dataclasses.dataclass
class _Orders:
    """Orders sorted by (customer, time, larger value first): one row per order."""

    customer: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray  # int64 fixed point (see _inputs.FIXED_SCALE)
    items: np.ndarray  # int64 fixed point
    discount: np.ndarray | None  # 1.0 where any row of the order had a discount
    void_at: np.ndarray | None = None  # cancelled from then on (int64 max: never); None: none

    def before(self, cutoff: int) -> _Orders:
        """Orders placed before ``cutoff`` and not cancelled by then."""
        keep = self.timestamp < cutoff
        if self.void_at is not None:
            keep &= self.void_at >= cutoff
        return _Orders(self.customer[keep], self.timestamp[keep], self.value[keep],
                       self.items[keep], None if self.discount is None else self.discount[keep])


def order_parts(log: LogArrays) -> dict[str, np.ndarray]:
    """What each purchase row adds to its order: value and items (fixed point), discount."""
    columns = log.columns
    quantity = pl.col("quantity").fill_null(1.0) if "quantity" in columns else pl.lit(1.0)
    parts = [fixed(pl.col("amount")).fill_null(0).alias("value"), fixed(quantity).alias("items")]
    if "discount" in columns:
        parts.append(pl.col("discount").fill_null(False).alias("discount"))
    frame = log.purchases.select(parts)
    return {name: frame[name].to_numpy() for name in frame.columns}


def _time_order(customer: np.ndarray, timestamp: np.ndarray,
                value: np.ndarray) -> np.ndarray | None:
    """Permutation sorting orders by customer, then time, then larger value first.

    ``None`` when they are in that order already.
    """
    order = _customer_time_order(customer, timestamp)
    in_order = order is None
    if order is None:
        order = np.arange(len(customer))
    moved = sort_ties(customer, timestamp, value, order)
    return None if in_order and not moved else order


def _customer_time_order(customer: np.ndarray, timestamp: np.ndarray) -> np.ndarray | None:
    """Permutation sorting rows by customer, then time (stable: ties keep their order).

    A counting sort by customer, then each customer's few rows by time.
    ``None`` when the rows are in that order already.
    """
    n = len(customer)
    if n == 0 or in_time_order(customer, timestamp):
        return None
    rows = customer_order(customer, np.ones(n, dtype=np.bool_), int(customer.max()) + 1)
    order, _, _ = group_within(rows, customer, timestamp, *NO_STRINGS)
    return order


def _promo_calendar(timestamp: np.ndarray,
                    promo_days: Sequence[tuple[int, int]]) -> tuple[int, np.ndarray]:
    """The first day (counted from 1970-01-01) spanned by ``timestamp``, and from it a flag per
    day: whether that day is a (month, day) promotion day."""
    if len(timestamp) == 0:
        return 0, np.zeros(0, dtype=np.bool_)
    first, last = int(timestamp.min()) // DAY_NS, int(timestamp.max()) // DAY_NS
    calendar = pd.date_range(pd.Timestamp(first, unit="D"), periods=last - first + 1, freq="D")
    return first, np.isin(calendar.month * 100 + calendar.day,
                          [m * 100 + d for m, d in promo_days])


def _make_orders(customer: np.ndarray, timestamp: np.ndarray, value: np.ndarray,
                 items: np.ndarray, discount: np.ndarray | None,
                 void_at: np.ndarray | None = None) -> _Orders:
    """Orders as :class:`_Orders`, sorted."""
    order = _time_order(customer, timestamp, value)
    if order is not None:
        customer, timestamp, value, items = (customer[order], timestamp[order], value[order],
                                             items[order])
        discount = None if discount is None else discount[order]
        void_at = None if void_at is None else void_at[order]
    return _Orders(customer=customer, timestamp=timestamp, value=value, items=items,
                   discount=None if discount is None else discount.astype(np.float64),
                   void_at=void_at)


@dataclasses.dataclass
class _Spanning:
    """Rows of orders spread over several timestamps, sorted by (order, time)."""

    order: np.ndarray
    customer: np.ndarray
    timestamp: np.ndarray
    value: np.ndarray
    items: np.ndarray
    discount: np.ndarray | None
    void_at: np.ndarray | None = None  # per row, as in LogArrays

    def first_rows(self) -> np.ndarray:
        """Index of each order's first row (rows are sorted by order, then time)."""
        order = self.order
        return np.flatnonzero(np.r_[True, order[1:] != order[:-1]]) if len(order) \
            else np.zeros(0, dtype=np.int64)

    def orders_before(self, cutoff: int) -> _Orders:
        """Each order's rows before ``cutoff`` as one order at its first row's time (orders
        cancelled by then left out)."""
        keep = self.timestamp < cutoff
        if self.void_at is not None:
            keep &= self.void_at >= cutoff
        order = self.order[keep]
        starts = np.flatnonzero(np.r_[True, order[1:] != order[:-1]]) if len(order) \
            else np.zeros(0, dtype=np.int64)

        def add(values: np.ndarray) -> np.ndarray:
            return np.add.reduceat(values[keep], starts) if len(starts) else values[:0]

        discount = None if self.discount is None else \
            (np.maximum.reduceat(self.discount[keep], starts) if len(starts)
             else self.discount[:0])
        return _make_orders(self.customer[keep][starts], self.timestamp[keep][starts],
                            add(self.value), add(self.items), discount)


def group_orders(log: LogArrays) -> tuple[_Orders, _Spanning | None]:
    """Purchase rows into orders: a distinct ``order_id`` per customer, or a row of its own.

    Orders whose rows share one timestamp (almost all) are complete here; the
    rows of an order spread over several timestamps go to :class:`_Spanning`
    and are grouped per cutoff from the rows before it.
    """
    parts = order_parts(log)
    customer = log.purchases["customer_id"].to_numpy()
    timestamp = log.purchases["timestamp"].to_numpy()
    value, items, discount = parts["value"], parts["items"], parts.get("discount")
    void = log.void_at  # one value for every row of an order (see .orders)
    if "order_id" not in log.columns:
        return _make_orders(customer, timestamp, value, items, discount, void), None
    order_id = log.purchases["order_id"]
    runs = _orders_as_runs(customer, timestamp, order_id)
    if runs is not None:  # every order is one run of rows at one time
        rows, starts = runs
        value_sums, items_sums, discount_any = order_sums(
            rows, starts, value, items,
            discount if discount is not None else np.zeros(0, dtype=np.bool_))
        return _make_orders(customer[rows[starts]], timestamp[rows[starts]], value_sums,
                            items_sums, None if discount is None else discount_any,
                            None if void is None else void[rows[starts]]), None
    single = np.flatnonzero(order_id.is_null().to_numpy())
    rows, starts = group_rows(customer, order_id, log.n_customers)
    first, last = (np.minimum.reduceat(timestamp[rows], starts),
                   np.maximum.reduceat(timestamp[rows], starts)) if len(starts) \
        else (timestamp[:0], timestamp[:0])
    whole = first == last
    sizes = np.diff(np.r_[starts, len(rows)])
    spanning = None
    if not whole.all():
        run = np.repeat(np.arange(len(starts)), sizes)
        split_rows = rows[~whole[run]]
        split_run = run[~whole[run]]
        by_time = np.lexsort((timestamp[split_rows], split_run))
        split_rows, split_run = split_rows[by_time], split_run[by_time]
        spanning = _Spanning(
            order=split_run, customer=customer[split_rows], timestamp=timestamp[split_rows],
            value=value[split_rows], items=items[split_rows],
            discount=None if discount is None else discount[split_rows],
            void_at=None if void is None else void[split_rows])

    def whole_orders(values: np.ndarray, reduce: np.ufunc) -> np.ndarray:
        summed = reduce.reduceat(values[rows], starts) if len(starts) else values[:0]
        return np.concatenate([summed[whole], values[single]])

    return _make_orders(
        np.concatenate([customer[rows[starts]][whole], customer[single]]),
        np.concatenate([first[whole], timestamp[single]]),
        whole_orders(value, np.add), whole_orders(items, np.add),
        None if discount is None else whole_orders(discount, np.maximum),
        None if void is None else whole_orders(void, np.minimum),
    ), spanning


def _orders_as_runs(customer: np.ndarray, timestamp: np.ndarray,
                    order_id: pl.Series) -> tuple[np.ndarray, np.ndarray] | None:
    """Rows sorted by (customer, time) and the start of each order among them, if that is exact.

    An order is a run of rows of one customer at one time with one order id
    (a row without an id is an order of its own). Exact when no (customer,
    order id) starts two runs, checked on a hash of the pair (equal pairs have
    equal hashes, so distinct hashes prove it). ``None`` when an order
    spreads over several times, or interleaves with another at one time, or
    two hashes collide: the caller then groups by id.
    """
    rows = _customer_time_order(customer, timestamp)
    if rows is None:
        rows = np.arange(len(customer))
    keys = Keys.of(order_id)
    starts, pair_hashes = order_runs(rows, customer, timestamp, keys.key.view(np.uint64),
                                     keys.valid, keys.offsets, keys.data, HASH_MIX)
    pair_hashes.sort()
    if (pair_hashes[1:] == pair_hashes[:-1]).any():
        return None
    return rows, starts


@dataclasses.dataclass
class _Bought:
    """Orders, built once per log."""

    orders: _Orders  # orders complete at their first row
    spanning: _Spanning | None  # rows of orders spread over several timestamps


@dataclasses.dataclass
class _Pairs:
    """Purchase rows and their (customer, category) pairs."""

    pair: np.ndarray  # per purchase row, -1 where it has no category
    timestamp: np.ndarray  # per row
    price: np.ndarray  # per row, int64 fixed point, 0 where unknown
    known: np.ndarray  # per row, True where the unit price is known
    customer: np.ndarray  # per pair, pairs sorted by (customer, category)
    category: np.ndarray  # per pair
    n_categories: int
    void: np.ndarray  # per row, as LogArrays.void_at; empty: nothing cancelled

    def sums(self, cutoff: int, recent_from: int) -> tuple[np.ndarray, ...]:
        """Per pair, over rows before ``cutoff`` (not cancelled by then): rows, sum of known
        unit prices and their count; then that sum and count over the rows from ``recent_from``."""
        return pair_sums(self.pair, self.timestamp, self.price, self.known, self.void, cutoff,
                         recent_from, len(self.customer))


def _unit_price(columns: set[str]) -> pl.Expr:
    """Unit price: ``unit_price``, else ``amount / quantity``, else ``amount``."""
    by_quantity = pl.when(pl.col("quantity") > 0).then(pl.col("amount") / pl.col("quantity"))
    if "unit_price" in columns:
        price = pl.col("unit_price")
        return price.fill_null(by_quantity) if "quantity" in columns else price
    return by_quantity if "quantity" in columns else pl.col("amount")


def _category_pairs(log: LogArrays) -> _Pairs:
    price = log.purchases.select(fixed(_unit_price(log.columns)).alias("price"))["price"]
    customer = log.purchases["customer_id"].to_numpy()
    category = log.purchases["category"]
    grouping, starts = group_rows(customer, category, log.n_customers)  # rows with a category
    pair = np.full(len(customer), -1, dtype=np.int64)
    pair[grouping] = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(grouping)]))
    first = grouping[starts]
    return _Pairs(
        pair=pair, timestamp=log.purchases["timestamp"].to_numpy(),
        price=price.fill_null(0).to_numpy(), known=price.is_not_null().to_numpy(),
        customer=customer[first], category=category.fill_null(0).to_numpy()[first],
        n_categories=len(log.categories) if log.categories is not None else 0,
        void=log.void_at if log.void_at is not None else np.zeros(0, dtype=np.int64),
    )


@dataclasses.dataclass
class _FirstItems:
    """Per (customer, item) bought: the customer and the time of the first purchase; the few
    pairs with a cancelled row keep their rows (``late_*``), as they count only while a row is
    visible."""

    customer: np.ndarray
    first: np.ndarray
    late_pair: np.ndarray  # per row of a pair with a cancelled row
    late_customer: np.ndarray
    late_time: np.ndarray
    late_void: np.ndarray

    def distinct(self, cutoff: int, n: int) -> np.ndarray:
        """Per customer: distinct items with a purchase row before ``cutoff`` not cancelled by
        then."""
        counts = count_before(self.customer, self.first, cutoff, n)
        if len(self.late_pair):
            seen = (self.late_time < cutoff) & (self.late_void >= cutoff)
            _, once = np.unique(self.late_pair[seen], return_index=True)
            counts += np.bincount(self.late_customer[seen][once], minlength=n)
        return counts


def _first_purchases(log: LogArrays) -> _FirstItems:
    """The first purchase of each (customer, item), see :class:`_FirstItems`."""
    customer = log.purchases["customer_id"].to_numpy()
    timestamp = log.purchases["timestamp"].to_numpy()
    grouping, starts = group_rows(customer, log.purchases["item_id"], log.n_customers)
    if len(starts) == 0:
        return _FirstItems(customer[:0], timestamp[:0], *[np.zeros(0, dtype=np.int64)] * 4)
    owner, first = customer[grouping[starts]], np.minimum.reduceat(timestamp[grouping], starts)
    none = np.zeros(0, dtype=np.int64)
    if log.void_at is None:
        return _FirstItems(owner, first, none, none, none, none)
    void = log.void_at[grouping]
    late = np.maximum.reduceat((void < np.iinfo(np.int64).max).astype(np.int8), starts) > 0
    pair = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(grouping)]))
    rows = late[pair]
    return _FirstItems(owner[~late], first[~late], pair[rows], customer[grouping][rows],
                       timestamp[grouping][rows], void[rows])


def _bought(log: LogArrays) -> _Bought:
    return _Bought(*group_orders(log))


# ---------------------------------------------------------------- per cutoff


def _orders_at(prepared: _Bought, cutoff: int) -> _Orders:
    """Orders before ``cutoff``; an order spread over several timestamps counts its rows before it."""
    orders = prepared.orders.before(cutoff)
    if prepared.spanning is None:
        return orders
    partial = prepared.spanning.orders_before(cutoff)
    if len(partial.customer) == 0:
        return orders
    discount = None
    if orders.discount is not None and partial.discount is not None:
        discount = np.concatenate([orders.discount, partial.discount])
    return _make_orders(np.concatenate([orders.customer, partial.customer]),
                        np.concatenate([orders.timestamp, partial.timestamp]),
                        np.concatenate([orders.value, partial.value]),
                        np.concatenate([orders.items, partial.items]), discount)


def _order_slot_names(spec: FeatureSpec) -> list[str]:
    """Feature names in the slot order of :func:`._kernels.order_features` for ``spec``."""
    vw = VALUE_WINDOW_DAYS
    fixed_slots = [{"aov_recent": f"aov_{vw}d", "aov_ratio_recent": f"aov_ratio_{vw}d"}.get(s, s)
                   for s in ORDER_SLOTS]
    windows = [f"{kind}_{w}d" for w in spec.windows for kind in ("orders", "revenue", "items")]
    trend = [f"{kind}_change_{w}d" for w in spec.trend_windows for kind in ("orders", "revenue")]
    return fixed_slots + windows + trend


def _order_features(orders: _Orders, cutoff: int, spec: FeatureSpec, out: _Rows) -> np.ndarray:
    """Order-level features at ``cutoff`` of the rows of ``out``; returns their order counts."""
    first_day, promo = _promo_calendar(orders.timestamp, spec.promo_days)
    count, revenue = order_features(
        orders.customer, orders.timestamp, orders.value, orders.items,
        orders.discount if orders.discount is not None else np.zeros(0), cutoff, out.rows,
        np.array(spec.windows, dtype=np.int64), np.array(spec.trend_windows, dtype=np.int64),
        spec.slope_months, VALUE_WINDOW_DAYS, *spec.night_hours, first_day, promo, DAY_NS,
        float(FIXED_SCALE), out.block, out.columns(_order_slot_names(spec)))
    out.put("orders_all", count)
    out.put("revenue_all", revenue)
    return count


def _event_features(log: LogArrays, first_event: np.ndarray, cutoffs: Sequence[int],
                    spec: FeatureSpec, behaviour: bool, outs: Sequence[_Rows]) -> None:
    """Activity, refund and engagement features at each cutoff of a group (one pass)."""
    n = log.n_customers
    for out, cutoff in zip(outs, cutoffs, strict=True):
        if spec.has("lifecycle"):
            out["tenure_days"] = np.where(first_event < cutoff, _days(cutoff, first_event),
                                          np.nan)
        if spec.has("value"):
            before = log.refund_timestamp < cutoff
            out["refunds_all"] = np.bincount(log.refund_customer[before],
                                             minlength=n).astype(np.float64)
        spans = {}
        if spec.has("value") or spec.has("rfm"):
            spans["refund_amount_all"] = (_I64_MIN, cutoff)
        if spec.has("rfm"):
            spans.update({f"_refunded_{w}d": (cutoff - w * DAY_NS, cutoff) for w in spec.windows})
        if spec.has("trend"):
            spans["_refunded_last_year"] = _last_year(cutoff)
        for name, refunded in _refunded(log, spans).items():
            out[name] = refunded
    if not (spec.has("engagement") and behaviour):
        return
    r = ENGAGEMENT_RECENT_DAYS
    counts = _WindowCounts(log.customer, log.timestamp, n, cutoffs, [*spec.windows, r, 2 * r],
                           slot=log.event_type, slot_of=_INTERACTION_SLOT, n_slots=3)
    cuts = np.asarray(cutoffs, dtype=np.int64)
    latest = last_before(log.customer, log.timestamp, cuts, n)
    carts = carts_after(log.customer, log.timestamp, log.event_type, _CART, cuts, r * DAY_NS,
                        _last_purchases(log, cuts))
    names = {0: "views", 1: "carts", 2: "favorites"}
    for i, (out, cutoff) in enumerate(zip(outs, cutoffs, strict=True)):
        for w in spec.windows:
            for code, name in names.items():
                out[f"{name}_{w}d"] = counts.between(cutoff, 0, w, slot=code) \
                    .astype(np.float64)
        change = np.zeros(n, dtype=np.int64)
        for code in names:
            change += counts.between(cutoff, 0, r, slot=code)
            change -= counts.between(cutoff, r, 2 * r, slot=code)
        out[f"interactions_change_{r}d"] = change.astype(np.float64)
        out["_views_all"] = counts.between(cutoff, 0, slot=0).astype(np.float64)
        seen = latest[:, i]
        out["days_since_last_activity"] = np.where(seen > _I64_MIN, _days(cutoff, seen), np.nan)
        # carts in the recent window placed after the customer's last purchase
        out[f"carts_without_purchase_{r}d"] = carts[i].astype(np.float64)


def _last_purchases(log: LogArrays, cuts: np.ndarray) -> np.ndarray:
    """``[c, j]``: time of customer ``c``'s last purchase row before ``cuts[j]`` that is not
    cancelled by then (int64 min: none)."""
    customer = log.purchases["customer_id"].to_numpy()
    timestamp = log.purchases["timestamp"].to_numpy()
    if log.void_at is None:
        return last_before(customer, timestamp, cuts, log.n_customers)
    kept = log.void_at == np.iinfo(np.int64).max
    latest = last_before(customer[kept], timestamp[kept], cuts, log.n_customers)
    customer, timestamp, void = customer[~kept], timestamp[~kept], log.void_at[~kept]
    for j, cut in enumerate(cuts):  # the few cancelled rows count until their refund
        seen = (timestamp < cut) & (void >= cut)
        np.maximum.at(latest[:, j], customer[seen], timestamp[seen])
    return latest


def _refunded(log: LogArrays, spans: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """Per customer: money refunded in each span ``start <= timestamp < end`` (ns), in one pass
    (refunds that cancel an order are not in ``log``, see :mod:`.orders`)."""
    starts = np.array([start for start, _ in spans.values()], dtype=np.int64)
    ends = np.array([end for _, end in spans.values()], dtype=np.int64)
    sums = sums_between(log.refund_customer, log.refund_timestamp, log.refund_amount, starts,
                        ends, log.n_customers)
    return {name: sums[i] / FIXED_SCALE for i, name in enumerate(spans)}


def _last_year(cutoff: int) -> tuple[int, int]:
    """The same period last year: ``SAME_PERIOD_DAYS`` from 365 days before ``cutoff`` (ns)."""
    start = cutoff - 365 * DAY_NS
    return start, start + SAME_PERIOD_DAYS * DAY_NS


def _same_period_orders(orders: _Orders, cutoff: int, n: int, out: _Rows) -> None:
    """Orders and their gross value in the same period last year, per customer of ``out``."""
    start, end = _last_year(cutoff)
    inside = (orders.timestamp >= start) & (orders.timestamp < end)
    out["orders_same_period_last_year"] = np.bincount(
        orders.customer[inside], minlength=n).astype(np.float64)
    out["_bought_last_year"] = np.bincount(
        orders.customer[inside], weights=orders.value[inside].astype(np.float64),
        minlength=n) / FIXED_SCALE


def _purchase_row_features(pairs: _Pairs | None, first_items: _FirstItems | None,
                           cutoff: int, n: int, spec: FeatureSpec,
                           levels: np.ndarray | None, out: _Rows) -> None:
    """Breadth and price-tier features from purchase rows before ``cutoff``.

    ``levels`` are the category price levels at this cutoff (NaN where
    unknown); ``None`` computes them from ``pairs`` (every customer's rows).
    """
    if first_items is not None:
        out["distinct_items"] = first_items.distinct(cutoff, n)
    if pairs is None:
        return
    vw = VALUE_WINDOW_DAYS
    rows, price_sum, price_n, recent_sum, recent_n = pairs.sums(cutoff, cutoff - vw * DAY_NS)
    if spec.has("breadth"):
        total, distinct, n_log_n, top = category_spread(pairs.customer, rows, n)
        # entropy of the shares n_c / N as log N - sum(n_c log n_c) / N
        entropy = np.log(total, where=total > 0, out=np.zeros(n)) - _safe_divide(n_log_n, total)
        out["distinct_categories"] = distinct
        out["category_entropy"] = np.where(total > 0, np.maximum(entropy, 0.0), np.nan)
        out["top_category_share"] = _safe_divide(top, total)
    if spec.has("value"):
        if levels is None:
            levels = _levels(pairs, price_sum, price_n)
        tier_all, tier_recent = price_tiers(pairs.customer, pairs.category, levels, price_sum,
                                            price_n, recent_sum, recent_n, float(FIXED_SCALE), n)
        out["price_tier_all"] = tier_all
        out[f"price_tier_{vw}d"] = tier_recent
        out[f"price_tier_drift_{vw}d"] = tier_recent - tier_all


def _levels(pairs: _Pairs, price_sum: np.ndarray, price_n: np.ndarray) -> np.ndarray:
    """Average unit price per category over every pair's sums (NaN where none is known)."""
    sums = np.bincount(pairs.category, weights=price_sum, minlength=pairs.n_categories)
    counts = np.bincount(pairs.category, weights=price_n, minlength=pairs.n_categories)
    return _safe_divide(sums / FIXED_SCALE, counts)


# ---------------------------------------------------------------- drivers


def _cutoff_groups(n: int, cutoffs: Sequence[int], days: list[int]) -> list[list[int]]:
    """Consecutive cutoffs whose event buckets fit :data:`_CELL_BUDGET` in one pass."""
    groups: list[list[int]] = []
    for cutoff in cutoffs:
        if groups and _WindowCounts.cells(n, 3, [*groups[-1], cutoff], days) <= _CELL_BUDGET:
            groups[-1].append(cutoff)
        else:
            groups.append([cutoff])
    return groups


def _given_levels(table: pd.DataFrame, log: LogArrays,
                  cutoffs: Sequence[pd.Timestamp]) -> dict[int, np.ndarray]:
    """Category price levels of a broadcast table, per cutoff, indexed by category code."""
    n_categories = 0 if log.categories is None else len(log.categories)
    codes = pd.Index(log.categories if log.categories is not None else []) \
        .get_indexer(table["category"])
    cut = pd.Index(cutoffs).get_indexer(pd.to_datetime(table["cutoff"]))
    prices = table["category_price"].to_numpy(dtype=np.float64)
    out: dict[int, np.ndarray] = {}
    for i, cutoff in enumerate(cutoffs):
        levels = np.full(n_categories, np.nan)
        rows = (cut == i) & (codes >= 0)
        levels[codes[rows]] = prices[rows]
        out[int(cutoff.value)] = levels
    return out


def _compute(log: LogArrays, cutoffs: Sequence[pd.Timestamp], spec: FeatureSpec,
             behaviour: bool, given_levels: dict[int, np.ndarray] | None,
             rows: Sequence[np.ndarray] | None = None) -> pd.DataFrame:
    """Features of every (customer, cutoff) with an event before the cutoff, as a pandas frame.

    The result is filled in place in one float64 block (no per-cutoff frames to concatenate).
    Two lanes: orders, items and the order features on a worker thread; events and
    categories here (numpy, polars and the compiled kernels release the GIL, so both lanes
    use a core). The worker runs its tasks in order: the orders, the first purchase of each
    item, then the order features of each group of cutoffs.
    """
    with ThreadPoolExecutor(max_workers=1) as lane:
        building = lane.submit(_bought, log)
        first_items = lane.submit(_first_purchases, log) \
            if spec.has("breadth") and "item_id" in log.columns else None
        return _fill(log, cutoffs, spec, behaviour, given_levels, lane, building, first_items,
                     rows)


def _fill(log: LogArrays, cutoffs: Sequence[pd.Timestamp], spec: FeatureSpec, behaviour: bool,
          given_levels: dict[int, np.ndarray] | None, lane: ThreadPoolExecutor,
          building: Future[_Bought],
          first_items: Future[_FirstItems] | None,
          rows: Sequence[np.ndarray] | None = None) -> pd.DataFrame:
    """The caller's lane of :func:`_compute`; the worker ``lane`` is building the orders
    (``building``) and then the first purchases of items (``first_items``)."""
    n = log.n_customers
    names = feature_names(spec, has_behaviour=behaviour, columns=log.columns)
    first_event = first_times(log.customer, log.timestamp, n)
    cuts = [int(c.value) for c in cutoffs]
    populations = list(rows) if rows is not None else \
        [np.flatnonzero(first_event < cutoff) for cutoff in cuts]
    # column-major: each feature is written (and later read by pandas) as one contiguous run
    block = np.empty((sum(len(rows) for rows in populations), len(names)), order="F")
    offsets = np.cumsum([0] + [len(rows) for rows in populations])
    sinks = {cutoff: _Rows(block, offsets[i], populations[i], names)
             for i, cutoff in enumerate(cuts)}
    days = [*spec.windows, ENGAGEMENT_RECENT_DAYS, 2 * ENGAGEMENT_RECENT_DAYS]

    def order_side(group: list[int]) -> dict[int, np.ndarray]:
        """Order features of a group of cutoffs; order counts per cutoff."""
        bought = building.result()  # done: the lane ran it before this task
        counts = {}
        for cutoff in group:
            out = sinks[cutoff]
            orders = _orders_at(bought, cutoff)
            counts[cutoff] = _order_features(orders, cutoff, spec, out)
            if spec.has("trend"):
                _same_period_orders(orders, cutoff, n, out)
        return counts

    pairs = None
    for group in _cutoff_groups(n, cuts, days):
        orders_done = lane.submit(order_side, group)
        _event_features(log, first_event, group, spec, behaviour, [sinks[c] for c in group])
        if spec.has("breadth") or spec.has("value"):
            if pairs is None and "category" in log.columns:
                pairs = _category_pairs(log)
            for cutoff in group:
                _purchase_row_features(
                    pairs, None if first_items is None else first_items.result(), cutoff, n,
                    spec, None if given_levels is None else given_levels[cutoff], sinks[cutoff])
        advance(len(group))  # the caller's progress bar, if it shows one (per cutoff)
        for cutoff, count in orders_done.result().items():
            out = sinks.pop(cutoff)
            if "_views_all" in out:
                out.put("view_to_purchase_rate", _safe_divide(count, out["_views_all"]))
            if spec.has("value"):
                out.put("refund_rate", _safe_divide(out["refund_amount_all"], out["revenue_all"]))
            if spec.has("trend"):  # defined where the customer's history started by then
                known = first_event[out.rows] <= _last_year(cutoff)[0]
                out.put("orders_same_period_last_year",
                        np.where(known, out["orders_same_period_last_year"], np.nan))
                out.put("net_revenue_same_period_last_year", np.where(
                    known, out["_bought_last_year"] - out["_refunded_last_year"], np.nan))
            if spec.has("lifecycle"):
                _tenure_ratios(out)
            if spec.has("rfm"):
                out.put("net_revenue_all", out["revenue_all"] - out["refund_amount_all"])
                for w in spec.windows:
                    out.put(f"net_revenue_{w}d", out[f"revenue_{w}d"] - out[f"_refunded_{w}d"])
    frame = pd.DataFrame(block, columns=names, copy=False)
    frame.insert(0, "cutoff", np.repeat(np.array(cuts, dtype="datetime64[ns]"),
                                        [len(rows) for rows in populations]))
    customers = np.concatenate(populations)
    frame.insert(0, "customer_id", pd.Series(log.ids[customers], dtype=log.ids.dtype))
    return frame


def _tenure_ratios(out: _Rows) -> None:
    """Recency and frequency relative to the customer's age (days since the first order)."""
    tenure = out["days_since_first_purchase"]
    if "days_since_last_purchase" in out and "orders_all" in out:
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(tenure > 0, out["days_since_last_purchase"] / tenure, 0.0)
        out.put("recency_share_of_tenure", np.where(np.isnan(tenure), np.nan, share))
        out.put("orders_per_week", np.where(np.isnan(tenure), np.nan,
                                            out["orders_all"] * 7.0 / np.maximum(tenure, 7.0)))
    else:
        out.put("recency_share_of_tenure", np.full(len(tenure), np.nan))
        out.put("orders_per_week", np.full(len(tenure), np.nan))


def _empty(ids: np.ndarray, names: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "customer_id": pd.Series([], dtype=ids.dtype),
        "cutoff": pd.Series([], dtype="datetime64[ns]"),
    })
    for name in names:
        frame[name] = pd.Series([], dtype="float64")
    return frame


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
    log = log_arrays(events)
    if log.categories is None:
        raise ValueError("events: has no 'category' column, so there are no category prices. "
                         "Fix: map a category column when reading the log.")
    pairs = _category_pairs(log)
    frames = []
    for cutoff in cuts:
        _, price_sum, price_n, _, _ = pairs.sums(cutoff.value, cutoff.value)
        levels = _levels(pairs, price_sum, price_n)
        known = np.flatnonzero(~np.isnan(levels))
        frames.append(pd.DataFrame({"cutoff": np.full(len(known), cutoff.to_datetime64()),
                                    "category": log.categories[known],
                                    "category_price": levels[known]}))
    out = pd.concat(frames, ignore_index=True)
    out["cutoff"] = out["cutoff"].astype("datetime64[ns]")
    return out.sort_values(["cutoff", "category"], ignore_index=True)


def checked_spec(spec: object) -> FeatureSpec:
    if spec is None:
        return FeatureSpec()
    if not isinstance(spec, FeatureSpec):
        raise TypeError(f"spec: expected a FeatureSpec or None, got {type(spec).__name__}.")
    return spec


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
    spec = checked_spec(spec)
    return features_of_log(spec_log(events_partition, spec), normalise_cutoffs(cutoffs), spec,
                           category_prices=category_prices)


def spec_log(events: pd.DataFrame | pl.DataFrame, spec: FeatureSpec) -> LogArrays:
    """:func:`._arrays.log_arrays` with the spec's order definition and cancellation window."""
    return log_arrays(events, order_definition=spec.order_definition,
                      cancellation_window_days=spec.cancellation_window_days)


def features_of_log(log: LogArrays, cutoffs: Sequence[pd.Timestamp], spec: FeatureSpec, *,
                    category_prices: pd.DataFrame | None = None,
                    rows: Sequence[np.ndarray] | None = None) -> pd.DataFrame:
    """:func:`compute_features` of a log already split by :func:`._arrays.log_arrays`.

    ``rows`` (one array per cutoff, ascending customer codes, each a subset of
    the customers with an event before that cutoff) limits the result to those
    rows, in that order; default every such customer.
    """
    behaviour = spec.behaviour if spec.behaviour is not None else log.has_behaviour()
    names = feature_names(spec, has_behaviour=behaviour, columns=log.columns)
    if log.n_customers == 0:
        return _empty(log.ids, names)
    levels = None
    if category_prices is not None and log.categories is not None:
        levels = _given_levels(category_prices, log, cutoffs)
    result = _compute(log, cutoffs, spec, behaviour, levels, rows)
    result = result if len(result) else _empty(log.ids, names)
    if log.cancellations is not None:  # plain numbers: pandas compares attrs when combining
        report = log.cancellations
        result.attrs["cancelled_orders"] = {
            "n_orders": report.n_orders, "n_purchase_rows": report.n_purchase_rows,
            "n_refunds": report.n_refunds, "amount": report.amount}
    return result


def _timestamps_ns(events: pd.DataFrame | pl.DataFrame) -> np.ndarray | None:
    """Event times as int64 nanoseconds, or None when there are none or they carry a zone."""
    column = events.get_column("timestamp") if isinstance(events, pl.DataFrame) \
        else events["timestamp"]
    if len(column) == 0:
        return None
    if isinstance(column, pl.Series):
        if getattr(column.dtype, "time_zone", None) is not None:
            return None  # the engine refuses it, naming the column
        return column.dt.cast_time_unit("ns").cast(pl.Int64).to_numpy()
    if not pd.api.types.is_datetime64_ns_dtype(column.dtype):
        return None
    return column.to_numpy().view(np.int64)


def check_cutoffs_near_data(events: pd.DataFrame | pl.DataFrame, cutoffs: Sequence[Any], *,
                            max_days: float, argument: str = "cutoffs") -> None:
    """Refuse a cutoff with no event in the ``max_days`` days before it.

    Only events before each cutoff are read (so, like every feature, the
    answer never depends on what happens at or after it), at the resolution
    of whole days. A cutoff past the end of the log is the usual cause: a
    typo in a date or a stale export.

    Examples
    --------
    >>> from repurchase_ml.events import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1], "timestamp": pd.to_datetime(["2024-01-01"]),
    ...                    "event_type": pd.Categorical(["purchase"], categories=EVENT_TYPES),
    ...                    "amount": [10.0]})
    >>> check_cutoffs_near_data(ev, [pd.Timestamp("2024-01-20")], max_days=31)
    >>> check_cutoffs_near_data(ev, [pd.Timestamp("2024-12-31")], max_days=31)
    Traceback (most recent call last):
    ...
    ValueError: cutoffs: 2024-12-31 is 365 days after the last event before it (on 2024-01-01), more than the 31 allowed; every customer would look lapsed only because the log stops. Fix: use a date on or before 2024-02-01, load a log that reaches it, or pass max_days_after_data=None.
    """
    if not isinstance(max_days, int | float) or isinstance(max_days, bool) or max_days < 0:
        raise ValueError(f"max_days_after_data: expected a number of days >= 0 or None, "
                         f"got {max_days!r}.")
    ts = _timestamps_ns(events)
    if ts is None or len(cutoffs) == 0:
        return
    origin = int(ts.min()) // DAY_NS
    per_day = np.bincount(ts // DAY_NS - origin)
    for cutoff in sorted(pd.Timestamp(c) for c in cutoffs):
        day = cutoff.value // DAY_NS - origin  # events on earlier days are before the cutoff
        if day <= 0:
            continue  # no event before it at all: no rows, nothing to refuse
        lo = max(day - int(np.ceil(max_days)), 0)
        if per_day[lo:day].any():
            continue
        last_day = int(np.flatnonzero(per_day[:day])[-1]) if per_day[:day].any() else None
        if last_day is None:
            continue
        last = pd.Timestamp((last_day + origin) * DAY_NS)
        gap = (cutoff.normalize() - last) / pd.Timedelta(days=1)
        limit = (last + pd.Timedelta(days=max_days)).date()
        raise ValueError(
            f"{argument}: {cutoff.date()} is {gap:.0f} days after the last event before it "
            f"(on {last.date()}), more than the {max_days:g} allowed; every customer would look "
            f"lapsed only because the log stops. Fix: use a date on or before {limit}, load a "
            "log that reaches it, or pass max_days_after_data=None."
        )


def build_features(
    events: pd.DataFrame | pl.DataFrame,
    *,
    cutoffs: object,
    spec: FeatureSpec | None = None,
    max_days_after_data: float | None = 31.0,
    extra_features: pd.DataFrame | pl.DataFrame | None = None,
) -> pd.DataFrame:
    """Behaviour features per (customer, cutoff), reading only events before each cutoff.

    Parameters
    ----------
    events : pandas.DataFrame or polars.DataFrame
        A canonical event log (see :func:`repurchase_ml.read_events`), or a
        polars frame with the same columns (strings as ``String`` or
        ``Categorical``), e.g. ``pl.read_parquet`` of a saved canonical log:
        the fast, low-memory path for large logs (no Python string objects).
    cutoffs : timestamp, sequence of timestamps, or a cutoff table
        Naive timestamps; required, never defaulted. Features at cutoff ``t``
        read only events with ``timestamp < t``. A frame with
        ``customer_id`` and ``cutoff`` columns gives each customer its own
        cutoffs (see :mod:`repurchase_ml.features.per_customer`).
    spec : FeatureSpec, optional
        Windows and families; default ``FeatureSpec()``. Its ``custom``
        features are added after the built-in columns.
    extra_features : pandas or polars DataFrame, optional
        Your own feature values keyed by (``customer_id``, ``cutoff``), joined
        to the rows (see :mod:`repurchase_ml.features.custom`).
    max_days_after_data : float or None, default 31
        Refuse a cutoff with no event of any customer in this many days
        before it (see :func:`check_cutoffs_near_data`): features there would
        describe every customer as lapsed only because the log stops (a typo
        in a date, or a stale export). ``None`` allows any cutoff.

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
    Windows cover ``cutoff - w days <= timestamp < cutoff``. Orders follow
    ``spec.order_definition`` and count at their first row's time; a refund
    of at least an order's value within ``spec.cancellation_window_days``
    after it cancels it from the refund on (see
    :mod:`repurchase_ml.features.orders`); ``result.attrs["cancelled_orders"]``
    counts them. ``revenue_*`` are gross, ``net_revenue_*`` subtract refunds
    at their own time. Gaps are whole calendar days between distinct purchase
    days (sample standard deviation), so same-day orders never make a 0-day
    gap. ``overdue_ratio`` divides by the usual gap floored at one day. Shares and habits are over orders;
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
    from repurchase_ml.features.custom import add_custom_features
    from repurchase_ml.features.per_customer import cutoff_table, is_cutoff_table, rows_per_customer

    spec = checked_spec(spec)
    table = is_cutoff_table(cutoffs)
    cuts = sorted(cutoff_table(cutoffs, events)["cutoff"].unique()) if table \
        else normalise_cutoffs(cutoffs)
    if not isinstance(events, pl.DataFrame):
        check_canonical(events)
    if max_days_after_data is not None:
        check_cutoffs_near_data(events, cuts, max_days=max_days_after_data)
    out = rows_per_customer(events, cutoffs, spec, lambda part, cutoff, pinned, prices:
                            compute_features(part, [cutoff], pinned, category_prices=prices),
                            price_levels=category_price_levels) if table \
        else compute_features(events, cuts, spec)  # the whole log decides on engagement
    out = add_custom_features(out, events, spec, extra_features)
    logger.debug("built %d feature rows x %d columns for %d cutoffs", len(out), out.shape[1],
                 len(cuts))
    return out
