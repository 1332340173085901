"""The event log as flat arrays, built once for every cutoff of a feature build.

Customers become dense integer codes ``0..n-1`` in the sort order of their
ids, so that per-customer results are plain arrays indexed by code and the
engine's aggregations are single passes over rows (no hashing of customers).
Only purchase rows keep the string columns (order, item, category): nothing
else reads them, and moving 20M strings is the slow part of any conversion.
Key columns reach the compiled loops as :class:`Keys` (integers, or a hash
plus the Arrow bytes of the strings).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES, check_canonical
from repurchase_ml.features._inputs import CODE, check_polars, event_type_codes, fixed
from repurchase_ml.features._kernels import (
    NO_STRINGS,
    customer_order,
    first_rows,
    group_within,
    map_codes,
    mark_present,
)
from repurchase_ml.features.orders import (
    CancellationReport,
    check_cancellation_window,
    check_order_definition,
    find_cancellations,
    id_codes,
)

__all__ = ["LogArrays", "log_arrays", "dense_codes", "DAY_NS", "group_rows", "Keys", "NO_STRINGS",
           "HASH_MIX"]

DAY_NS = 86_400 * 10**9
_PURCHASE_COLUMNS = ("order_id", "item_id", "category", "quantity", "unit_price", "amount",
                     "discount")


@dataclass
class LogArrays:
    """One event log, column by column.

    ``customer``, ``timestamp`` (int64 ns) and ``event_type`` (int8, see
    :data:`~repurchase_ml.features._inputs.CODE`) hold every event;
    ``purchases`` is a polars frame of the purchase rows only, with
    ``customer_id`` as the code, ``timestamp`` as int64 ns and ``category`` as
    an Int64 code in the sort order of the names (``categories``); order and
    item ids stay strings (polars input) or become integer codes (pandas
    input). ``refund_*`` hold the refunds. With ``order_definition="customer_day"``
    the ``order_id`` column holds a day code instead (see :func:`log_arrays`).

    ``void_at`` (None: nothing cancelled) holds per purchase row the time
    from which its order is cancelled (int64 max: never); the refunds that
    cancel orders are left out of ``refund_*`` (they are only ever seen
    together with their cancellation). ``cancellations`` reports them.
    """

    ids: np.ndarray
    customer: np.ndarray
    timestamp: np.ndarray
    event_type: np.ndarray
    purchases: pl.DataFrame
    categories: np.ndarray | None
    refund_customer: np.ndarray
    refund_timestamp: np.ndarray
    refund_amount: np.ndarray  # fixed point, see _inputs.fixed
    void_at: np.ndarray | None = None
    cancellations: CancellationReport | None = None

    def visible(self, cutoff: int) -> np.ndarray | None:
        """Per purchase row: whether its order is not cancelled before ``cutoff`` (None: all)."""
        return None if self.void_at is None else self.void_at >= cutoff

    @property
    def n_customers(self) -> int:
        return len(self.ids)

    @property
    def columns(self) -> set[str]:
        """Optional canonical columns present in the log (as the feature catalogue names them)."""
        return set(self.purchases.columns) - {"customer_id", "timestamp"}

    def has_behaviour(self) -> bool:
        """Whether the log holds any view, cart or favourite event."""
        first = first_rows(self.event_type, len(CODE))
        return bool((first[[CODE["view"], CODE["cart"], CODE["favorite"]]] >= 0).any())


def dense_codes(values: np.ndarray | list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``0..n-1`` of ``values`` in the sort order of the distinct values, and those values.

    ``values`` may come in chunks (a list of arrays, read in place). Integer
    ids that span a range no wider than a few times their count use a direct
    lookup table (linear time); anything else is factorised.

    Examples
    --------
    >>> codes, values = dense_codes(np.array([30, 10, 30, 20]))
    >>> codes.tolist(), values.tolist()
    ([2, 0, 2, 1], [10, 20, 30])
    >>> dense_codes([np.array([30, 10]), np.array([30, 20])])[0].tolist()
    [2, 0, 2, 1]
    """
    chunks = [c for c in (values if isinstance(values, list) else [values]) if len(c)]
    total = sum(len(c) for c in chunks)
    if chunks and all(c.dtype.kind in "iu" for c in chunks):
        # the table offsets must not overflow a narrow type
        chunks = [c if c.itemsize == 8 else c.astype(np.int64) for c in chunks]
        low, high = min(int(c.min()) for c in chunks), max(int(c.max()) for c in chunks)
        span = high - low + 1
        if span <= 4 * total + 1024:
            present = np.zeros(span, dtype=np.bool_)
            for chunk in chunks:
                mark_present(chunk, chunk.dtype.type(low), present)
            codes = np.empty(total, dtype=np.int32 if total < 2**31 else np.int64)
            table = (np.cumsum(present, dtype=np.int64) - 1).astype(codes.dtype)
            start = 0
            for chunk in chunks:
                map_codes(chunk, chunk.dtype.type(low), table, codes[start:start + len(chunk)])
                start += len(chunk)
            return codes, (np.flatnonzero(present) + low).astype(chunks[0].dtype)
    flat = chunks[0] if len(chunks) == 1 else np.concatenate(chunks) if chunks \
        else np.zeros(0, dtype=np.int64)
    codes_, uniques = pd.factorize(flat, sort=True)
    return codes_.astype(np.int64), np.asarray(uniques)


#: odd 64-bit constant that spreads customer codes over the bits of a hash key
HASH_MIX = np.uint64(0x9E3779B97F4A7C15)




@dataclass
class Keys:
    """A key column as compiled loops compare it: an integer per row, and the strings if any.

    Integer columns are their own ``key``. For strings, ``key`` is a 64-bit
    hash (equal strings hash alike) and ``offsets``/``data`` hold the Arrow
    bytes, so that rows of equal hash can be compared exactly. ``valid`` is
    False where the value is missing.
    """

    key: np.ndarray
    valid: np.ndarray
    offsets: np.ndarray  # empty for integer keys
    data: np.ndarray

    @classmethod
    def of(cls, column: pl.Series) -> Keys:
        valid = column.is_not_null().to_numpy()
        if column.dtype.is_integer():
            return cls(column.fill_null(0).cast(pl.Int64).to_numpy(), valid, *NO_STRINGS)
        strings = column.cast(pl.String).rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
        _, offsets, data = strings.buffers()
        return cls(
            column.hash(seed=0).to_numpy(), valid,
            np.frombuffer(offsets, dtype=np.int64)[strings.offset:strings.offset + len(column) + 1],
            NO_STRINGS[1] if data is None else np.frombuffer(data, dtype=np.uint8))


def group_rows(customer: np.ndarray, key: pl.Series,
               n_customers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Put rows with equal (``customer``, ``key``) next to each other; rows of a null key are left out.

    Returns a permutation of the rows kept and the start of each group in it.
    Groups come in customer order, then in the order of the key (integer
    keys) or of its hash (strings). Strings are compared byte for byte
    within each group; should two strings of one customer share a hash,
    however unlikely, exact codes are used instead.

    Examples
    --------
    >>> order, starts = group_rows(np.array([1, 0, 1]), pl.Series(["a", "b", "a"]))
    >>> order.tolist(), starts.tolist()
    ([1, 0, 2], [0, 1])
    """
    if len(customer) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    n_customers = int(customer.max()) + 1 if n_customers is None else n_customers
    keys = Keys.of(key)
    rows = customer_order(customer, keys.valid, n_customers)
    order, starts, exact = group_within(rows, customer, keys.key, keys.offsets, keys.data)
    if not exact:
        codes = pl.Series(dense_codes(key.to_numpy())[0]).set(key.is_null(), None)  # type: ignore[arg-type]
        return group_rows(customer, codes, n_customers)
    return order, starts


def _fixed(values: np.ndarray) -> np.ndarray:
    """Float amounts as int64 counts of 1e-4 units (missing: 0), as the engine sums money."""
    frame = pl.DataFrame({"v": pl.Series(values, dtype=pl.Float64, nan_to_null=True)})
    return frame.select(fixed(pl.col("v")).fill_null(0))["v"].to_numpy()


def _polars_purchases(events: pl.DataFrame,
                      present: list[str]) -> tuple[pl.DataFrame, np.ndarray | None]:
    """Purchase rows of a polars log: strings kept, categories as codes in name order."""
    kind = events.schema["event_type"]
    bought = pl.lit(False) if isinstance(kind, pl.Enum) and "purchase" not in kind.categories \
        else pl.col("event_type") == "purchase"
    rows = events.filter(bought).select(present).with_columns(
        pl.col(c).cast(pl.String) for c in ("order_id", "item_id", "category") if c in present)
    if "category" not in present:
        return rows, None
    names = rows["category"].drop_nulls().unique().sort()
    codes = pl.col("category").cast(pl.Enum(names.to_list())).to_physical().cast(pl.Int64)
    return rows.with_columns(codes), np.asarray(names.to_list(), dtype=object)


def log_arrays(events: pd.DataFrame | pl.DataFrame, *, order_definition: str = "order_id",
               cancellation_window_days: float = 1.0) -> LogArrays:
    """Check an event log (pandas canonical or polars) and split it into :class:`LogArrays`.

    Orders follow ``order_definition`` and cancellations within
    ``cancellation_window_days`` are found (see :mod:`.orders`).
    """
    check_order_definition(order_definition)
    within = check_cancellation_window(cancellation_window_days, "cancellation_window_days")
    if isinstance(events, pl.DataFrame):
        check_polars(events)
        present = [c for c in _PURCHASE_COLUMNS if c in events.columns]
        with ThreadPoolExecutor(max_workers=1) as pool:
            # the purchase rows are cut out (polars) while the arrays of every row are made
            cutting = pool.submit(_polars_purchases, events, present)
            ids = events["customer_id"]
            if ids.null_count():
                raise SchemaError("customer_id", "missing customer id", n_rows=ids.null_count(),
                                  fix="drop or fill those rows with repurchase_ml.read_events")
            # integer ids are read chunk by chunk in place (no copy of the whole column)
            raw_ids = [chunk.to_numpy() for chunk in ids.get_chunks()] \
                if ids.dtype.is_integer() else np.asarray(ids.to_list(), dtype=object)
            if events["timestamp"].null_count():
                raise SchemaError("timestamp", "missing timestamp",
                                  n_rows=events["timestamp"].null_count(),
                                  fix="drop or fill those rows with repurchase_ml.read_events")
            timestamp = events["timestamp"].cast(pl.Datetime("ns")).to_physical().to_numpy()
            types = event_type_codes(events["event_type"])
            bought = types == CODE["purchase"]
            customer, ids_sorted = dense_codes(raw_ids)
            purchases, category_names = cutting.result()
    else:
        check_canonical(events)
        types = events["event_type"].cat.codes.to_numpy().astype(np.int8)
        if (types < 0).any():
            raise SchemaError("event_type", "missing event type", n_rows=int((types < 0).sum()),
                              fix=f"give every row one of {list(EVENT_TYPES)}")
        if events["customer_id"].isna().any():
            raise SchemaError("customer_id", "missing customer id",
                              n_rows=int(events["customer_id"].isna().sum()),
                              fix="drop or fill those rows with repurchase_ml.read_events")
        raw_ids = events["customer_id"].to_numpy()
        timestamp = events["timestamp"].to_numpy().view(np.int64)
        category_names = None
        order_ids = None  # the distinct purchase order ids, in the order of their codes
        bought = types == CODE["purchase"]
        present = [c for c in _PURCHASE_COLUMNS if c in events.columns]
        data: dict[str, pl.Series] = {}
        for name in present:
            values = events[name].to_numpy()[bought]
            if name in ("order_id", "item_id", "category"):
                # integer codes (the engine only compares them); categories in name order
                codes, uniques = pd.factorize(values, sort=name == "category")
                data[name] = pl.Series(name, codes, dtype=pl.Int64).set(
                    pl.Series(codes < 0), None)  # type: ignore[arg-type]
                if name == "category":
                    category_names = np.asarray(uniques, dtype=object)
                elif name == "order_id":
                    order_ids = uniques
            elif name == "discount":
                data[name] = pl.Series(name, values, dtype=pl.Boolean)
            else:
                data[name] = pl.Series(name, values.astype(np.float64), dtype=pl.Float64,
                                       nan_to_null=True)
        purchases = pl.DataFrame(data, height=int(bought.sum()))
        customer, ids_sorted = dense_codes(raw_ids)
    if ids_sorted.dtype.kind in "iu":
        ids_sorted = ids_sorted.astype(np.int64)
    if customer.max(initial=0) < np.iinfo(np.int32).max:
        customer = customer.astype(np.int32)
    bought_rows = np.flatnonzero(bought)  # a gather by index beats two 20M-row masks
    purchases = purchases.with_columns(
        pl.Series("customer_id", customer[bought_rows]),
        pl.Series("timestamp", timestamp[bought_rows]),
        pl.col("amount").fill_nan(None) if "amount" in purchases.columns else pl.lit(None),
    ).select("customer_id", "timestamp", *present)
    refunds = np.flatnonzero(types == CODE["refund"])
    if isinstance(events, pl.DataFrame):
        amount = events["amount"].cast(pl.Float64).gather(refunds).to_numpy()
    else:
        amount = events["amount"].to_numpy(dtype=np.float64)[refunds]
    log = LogArrays(
        ids=ids_sorted, customer=customer, timestamp=timestamp, event_type=types,
        purchases=purchases, categories=category_names,
        refund_customer=customer[refunds], refund_timestamp=timestamp[refunds],
        refund_amount=_fixed(amount),
    )
    if within > 0 and len(refunds):
        _cancel(log, events, refunds, within,
                None if isinstance(events, pl.DataFrame) else order_ids)
    if order_definition == "customer_day":
        _orders_by_day(log)
    return log


def _cancel(log: LogArrays, events: pd.DataFrame | pl.DataFrame, refunds: np.ndarray,
            within: float, order_ids: np.ndarray | None) -> None:
    """Find the orders that refunds cancel: set ``void_at``, drop those refunds (in place).

    ``order_ids`` (pandas input): the distinct purchase order ids, whose
    positions are the codes in ``log.purchases``; refunds are coded against them.
    """
    order_id: pl.Series | np.ndarray | None = None
    refund_order_id: pl.Series | np.ndarray | None = None
    if "order_id" in log.purchases.columns:
        if isinstance(events, pl.DataFrame):
            order_id = log.purchases["order_id"]
            refund_order_id = events["order_id"].gather(refunds).cast(pl.String)
        else:  # codes; a refund's id no purchase has gets a code no order has
            order_id = log.purchases["order_id"].fill_null(-1).to_numpy()
            known = np.asarray(order_ids if order_ids is not None else [], dtype=object)
            # factorised after the known ids (distinct), a refund's id gets its purchase code
            codes, _ = pd.factorize(np.concatenate([known, events["order_id"].to_numpy()[refunds]]))
            refund_order_id = codes[len(known):].astype(np.int64)
    value = log.purchases.select(fixed(pl.col("amount")).fill_null(0))["amount"].to_numpy()
    found = find_cancellations(
        log.purchases["customer_id"].to_numpy(), log.purchases["timestamp"].to_numpy(), value,
        order_id, log.refund_customer, log.refund_timestamp, log.refund_amount, refund_order_id,
        within_days=within, ids=log.ids)
    log.cancellations = found.report
    if found.any:
        log.void_at = found.void_at
        keep = ~found.cancels
        log.refund_customer = log.refund_customer[keep]
        log.refund_timestamp = log.refund_timestamp[keep]
        log.refund_amount = log.refund_amount[keep]


def _orders_by_day(log: LogArrays) -> None:
    """One order per customer and calendar day: the ``order_id`` column becomes a day code.

    A cancelled order keeps its own key (odd codes; days are even), so the
    rest of its day stays one order when it is cancelled.
    """
    day = log.purchases["timestamp"].to_numpy() // DAY_NS
    key = 2 * day
    if log.void_at is not None:
        voided = log.void_at < np.iinfo(np.int64).max
        if "order_id" in log.purchases.columns:
            own = id_codes(log.purchases["order_id"])
            own = np.where(own < 0, -np.arange(len(day)) - 1, own)  # no id: an order of its own
        else:
            own = np.arange(len(day))
        key = np.where(voided, 2 * own + 1, key)
    log.purchases = log.purchases.with_columns(pl.Series("order_id", key, dtype=pl.Int64))
