"""Checks and conversions at the boundary of the feature and label functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES, REQUIRED_COLUMNS, check_canonical

__all__ = ["normalise_cutoffs", "to_polars", "has_behaviour_events", "CODE", "fixed",
           "unfixed", "FIXED_SCALE", "check_polars", "event_type_codes"]

#: integer code of each event type inside the engine (position in EVENT_TYPES)
CODE: dict[str, int] = {name: i for i, name in enumerate(EVENT_TYPES)}

#: money and quantities are summed as int64 multiples of 1 / FIXED_SCALE (1e-4 units), so
#: sums do not depend on row order or thread scheduling and repeat bit for bit
FIXED_SCALE = 10_000

_ENGINE_COLUMNS = ("order_id", "item_id", "category", "quantity", "unit_price", "discount")
_CODED_COLUMNS = ("order_id", "item_id", "category")


def normalise_cutoffs(cutoffs: object, *, argument: str = "cutoffs") -> list[pd.Timestamp]:
    """Turn one cutoff or many into a sorted list of distinct naive timestamps.

    Examples
    --------
    >>> normalise_cutoffs(["2024-02-01", "2024-01-01", "2024-02-01"])
    [Timestamp('2024-01-01 00:00:00'), Timestamp('2024-02-01 00:00:00')]
    """
    how = ("pass cutoffs=pd.Timestamp('2024-01-01') or a list of naive timestamps; "
           "a cutoff is never defaulted to the last date of the log")
    if cutoffs is None:
        raise ValueError(f"{argument}: is required and was None. Fix: {how}.")
    if isinstance(cutoffs, str | dt.date | np.datetime64 | pd.Timestamp):
        items: list[object] = [cutoffs]
    elif isinstance(cutoffs, Iterable):
        items = list(cutoffs)
    else:
        raise TypeError(f"{argument}: expected a timestamp or a list of timestamps, "
                        f"got {type(cutoffs).__name__}. Fix: {how}.")
    if not items:
        raise ValueError(f"{argument}: expected at least one cutoff, got none. Fix: {how}.")
    out: list[pd.Timestamp] = []
    for item in items:
        try:
            ts = pd.Timestamp(item)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{argument}: cannot read {item!r} as a timestamp ({exc}). "
                             f"Fix: {how}.") from None
        if ts is pd.NaT or pd.isna(ts):
            raise ValueError(f"{argument}: contains a missing value (NaT). Fix: {how}.")
        if ts.tzinfo is not None:
            raise ValueError(
                f"{argument}: {ts!r} is timezone-aware; event timestamps are naive wall-clock "
                "times. Fix: convert it with ts.tz_convert(zone).tz_localize(None) in the "
                "zone the log was read in."
            )
        out.append(ts.as_unit("ns"))
    return sorted(set(out))


def fixed(value: pl.Expr) -> pl.Expr:
    """``value`` as an ``Int64`` count of 1e-4 units (rounded), for exact, order-free sums."""
    return (value * FIXED_SCALE).round().cast(pl.Int64)


def unfixed(value: pl.Expr) -> pl.Expr:
    """Back from 1e-4 units (see :func:`fixed`) to a ``Float64`` amount."""
    return value.cast(pl.Float64) / FIXED_SCALE


def has_behaviour_events(events: pd.DataFrame | pl.DataFrame) -> bool:
    """Whether the log (pandas canonical, or polars, see :func:`to_polars`) holds any view, cart or favourite event."""
    behaviour = ["view", "cart", "favorite"]
    if isinstance(events, pl.DataFrame):
        column = events["event_type"]
        if column.dtype not in (pl.String, pl.Categorical) and not isinstance(column.dtype,
                                                                              pl.Enum):
            check_polars(events)  # raises: names the column and the expected types
        return bool(column.is_in(behaviour).any())
    codes = events["event_type"].cat.codes.to_numpy()
    return any(bool((codes == CODE[name]).any()) for name in behaviour)


def _codes(values: pd.Series, rows: np.ndarray, *,
           sort: bool = False) -> tuple[pl.Series, np.ndarray]:
    """Integer codes of a string column on ``rows`` (null elsewhere, and where null).

    Only purchase rows are coded: nothing reads these columns on other rows,
    and hashing Python strings is the slow part of the conversion. With
    ``sort`` the codes follow the sorted values, so they do not depend on row
    order (needed where codes order a float sum).
    """
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[rows], uniques = pd.factorize(values.to_numpy()[rows], use_na_sentinel=True, sort=sort)
    series = pl.Series(str(values.name), codes, dtype=pl.Int64)
    if (codes < 0).any():
        series = series.set(pl.Series(codes < 0), None)  # type: ignore[arg-type]
    return series, np.asarray(uniques, dtype=object)


def check_polars(events: pl.DataFrame, argument: str = "events") -> None:
    """Refuse a polars frame whose columns cannot be read as a canonical event log."""
    fix = ("give it the canonical columns and types (see repurchase_ml.read_events), e.g. "
           "pl.from_pandas(read_events(...))")
    for column in REQUIRED_COLUMNS:
        if column not in events.columns:
            raise SchemaError(column, f"{argument}: required column is missing", fix=fix)
    schema = events.schema
    expectations = {
        "timestamp": lambda d: isinstance(d, pl.Datetime) and d.time_zone is None,
        "event_type": lambda d: d in (pl.String, pl.Categorical) or isinstance(d, pl.Enum),
        "amount": lambda d: d.is_numeric(),
        "customer_id": lambda d: d.is_integer() or d == pl.String,
    }
    for column, ok in expectations.items():
        if not ok(schema[column]):
            raise SchemaError(column, f"{argument}: unexpected dtype {schema[column]}", fix=fix)
    for column in _CODED_COLUMNS:
        if column in schema and schema[column] not in (pl.String, pl.Categorical, pl.Null):
            raise SchemaError(column, f"{argument}: unexpected dtype {schema[column]}", fix=fix)


def event_type_codes(event_type: pl.Series) -> np.ndarray:
    """Int8 codes (see :data:`CODE`) of a polars ``event_type`` column; unknown types refused."""
    if isinstance(event_type.dtype, pl.Categorical | pl.Enum) and not event_type.null_count():
        # categorical: map the few names present, then index by the physical codes
        present = event_type.unique()
        physical = present.to_physical().to_numpy().astype(np.int64)
        if len(physical) and physical.max() < 1_000_000:
            table = np.full(physical.max() + 1, -1, dtype=np.int8)
            table[physical] = [CODE.get(name, -1) for name in present.cast(pl.String).to_list()]
            codes_fast = table[event_type.to_physical().to_numpy()]
            if (codes_fast >= 0).all():
                return codes_fast
    try:
        codes = event_type.cast(pl.Enum(list(EVENT_TYPES))).to_physical().cast(pl.Int8)
    except pl.exceptions.InvalidOperationError:  # an unknown type: reported below
        codes = event_type.cast(pl.String).replace_strict(
            list(EVENT_TYPES), list(range(len(EVENT_TYPES))), default=None, return_dtype=pl.Int8)
    if codes.null_count():
        bad = event_type.cast(pl.String).filter(codes.is_null())
        raise SchemaError("event_type", "missing or unknown event type", n_rows=len(bad),
                          examples=bad.unique().head(5).to_list(),
                          fix=f"give every row one of {list(EVENT_TYPES)}")
    return codes.to_numpy()


def _from_polars(events: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """:func:`to_polars` for a polars frame: no Python objects, one pass per column.

    ``order_id`` and ``item_id`` stay strings (null off purchase rows): the
    engine only groups by them. ``category`` and ``customer_id`` become codes
    in the sorted order of their values.
    """
    check_polars(events)
    codes = pl.Series("event_type", event_type_codes(events["event_type"]))
    ids = events["customer_id"]
    if ids.null_count():
        raise SchemaError("customer_id", "missing customer id", n_rows=ids.null_count(),
                          fix="drop or fill those rows with repurchase_ml.read_events")
    id_values = ids.unique().sort()
    purchases = codes == CODE["purchase"]
    if ids.is_sorted():  # common (logs kept by customer): codes from a running count
        id_codes = (ids != ids.shift(1)).fill_null(True).cum_sum().cast(pl.Int64) - 1
    else:
        id_codes = ids.rank("dense").cast(pl.Int64) - 1
    columns: list[pl.Series] = [
        id_codes.alias("customer_id"),  # position in id_values
        events["timestamp"].cast(pl.Datetime("ns")),
        codes.alias("event_type"),
        events["amount"].cast(pl.Float64).fill_nan(None),
    ]
    uniques: dict[str, np.ndarray] = {
        "customer_id": id_values.to_numpy() if ids.dtype.is_integer()
        else np.asarray(id_values.to_list(), dtype=object)}
    if ids.dtype.is_integer():
        uniques["customer_id"] = uniques["customer_id"].astype(np.int64)
    for name in _ENGINE_COLUMNS:
        if name not in events.columns:
            continue
        column = events[name]
        if name in _CODED_COLUMNS:
            bought = pl.select(pl.when(purchases).then(column.cast(pl.String))).to_series()
            if name == "category":
                values = bought.drop_nulls().unique().sort()
                uniques[name] = np.asarray(values.to_list(), dtype=object)
                bought = bought.cast(pl.Enum(values)).to_physical().cast(pl.Int64)
            columns.append(bought.alias(name))
        elif name == "discount":
            columns.append(column.cast(pl.Boolean).fill_null(False))
        else:
            columns.append(column.cast(pl.Float64).fill_nan(None))
    return pl.DataFrame(columns), uniques


def to_polars(events: pd.DataFrame | pl.DataFrame) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    """Check an event frame and convert the columns the engine reads.

    ``events`` is a canonical pandas event frame, or a polars frame with the
    same columns (strings as ``String`` or ``Categorical``; read straight from
    Parquet this skips Python objects altogether).

    ``event_type`` becomes an ``Int8`` code (see :data:`CODE`); ``customer_id``
    becomes an ``Int64`` code in the sort order of the ids, and the string
    columns ``order_id``, ``item_id`` and ``category`` become ``Int64`` codes
    on purchase rows and null on other rows (equality on purchase rows is all
    the engine needs, and integers are much cheaper to move than strings). Returns the frame and, per coded column, the values its
    codes stand for.
    """
    if isinstance(events, pl.DataFrame):
        return _from_polars(events)
    check_canonical(events)
    codes = events["event_type"].cat.codes.to_numpy()
    if (codes < 0).any():
        raise SchemaError("event_type", "missing event type", n_rows=int((codes < 0).sum()),
                          fix=f"give every row one of {list(EVENT_TYPES)}")
    if events["customer_id"].isna().any():
        raise SchemaError("customer_id", "missing customer id",
                          n_rows=int(events["customer_id"].isna().sum()),
                          fix="drop or fill those rows with repurchase_ml.read_events")
    ids, id_values = pd.factorize(events["customer_id"].to_numpy(), sort=True)
    columns: list[pl.Series] = [
        pl.Series("customer_id", ids, dtype=pl.Int64),
        pl.Series("timestamp", events["timestamp"].to_numpy()),
        pl.Series("event_type", codes, dtype=pl.Int8),
        pl.Series("amount", events["amount"].to_numpy(), dtype=pl.Float64, nan_to_null=True),
    ]
    uniques: dict[str, np.ndarray] = {"customer_id": id_values}
    purchases = codes == CODE["purchase"]
    for name in _ENGINE_COLUMNS:
        if name not in events.columns:
            continue
        if name in _CODED_COLUMNS:
            series, uniques[name] = _codes(events[name], purchases, sort=name == "category")
            columns.append(series)
        elif name == "discount":
            columns.append(pl.Series(name, events[name].to_numpy(), dtype=pl.Boolean))
        else:
            columns.append(pl.Series(name, events[name].to_numpy(), dtype=pl.Float64,
                                     nan_to_null=True))
    return pl.DataFrame(columns), uniques

