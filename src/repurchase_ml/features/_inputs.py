"""Checks and conversions at the boundary of the feature and label functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES, FIXED_SCALE, REQUIRED_COLUMNS
from repurchase_ml.features._kernels import first_rows

__all__ = ["normalise_cutoffs", "CODE", "fixed", "FIXED_SCALE", "check_polars",
           "event_type_codes"]

#: integer code of each event type inside the engine (position in EVENT_TYPES)
CODE: dict[str, int] = {name: i for i, name in enumerate(EVENT_TYPES)}

# FIXED_SCALE (money and quantities summed as int64 multiples of 1e-4) is defined beside the
# event-log rules, which refuse amounts beyond what those sums hold (events.MAX_AMOUNT)

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
        # categorical: name the few physical codes present, then map every row through a
        # table, chunk by chunk in place
        chunks = [chunk.to_physical().to_numpy() for chunk in event_type.get_chunks()]
        n_physical = max((int(c.max()) + 1 for c in chunks if len(c)), default=0)
        if 0 < n_physical <= 1_000_000:
            first = np.full(n_physical, -1, dtype=np.int64)
            start = 0
            for chunk in chunks:
                here = first_rows(chunk, n_physical)
                found = (first < 0) & (here >= 0)
                first[found] = here[found] + start
                start += len(chunk)
            present = np.flatnonzero(first >= 0)
            names = event_type.gather(first[present]).cast(pl.String).to_list()
            table = np.full(n_physical, -1, dtype=np.int8)
            table[present] = [CODE.get(name, -1) for name in names]
            if (table[present] >= 0).all():
                codes_fast = np.empty(len(event_type), dtype=np.int8)
                start = 0
                for chunk in chunks:
                    np.take(table, chunk, out=codes_fast[start:start + len(chunk)])
                    start += len(chunk)
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
