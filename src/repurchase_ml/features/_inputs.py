"""Checks and conversions at the boundary of the feature and label functions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES, check_canonical

__all__ = ["normalise_cutoffs", "to_polars", "has_behaviour_events", "CODE"]

#: integer code of each event type inside the engine (position in EVENT_TYPES)
CODE: dict[str, int] = {name: i for i, name in enumerate(EVENT_TYPES)}

_ENGINE_COLUMNS = ("order_id", "item_id", "category", "quantity", "unit_price", "discount")


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


def has_behaviour_events(events: pd.DataFrame) -> bool:
    """Whether the canonical log holds any view, cart or favourite event."""
    return bool(events["event_type"].isin(["view", "cart", "favorite"]).any())


def to_polars(events: pd.DataFrame) -> pl.DataFrame:
    """Check a canonical event frame and convert the columns the engine reads.

    ``event_type`` becomes an ``Int8`` code (see :data:`CODE`).
    """
    check_canonical(events)
    codes = events["event_type"].cat.codes.to_numpy()
    if (codes < 0).any():
        raise SchemaError("event_type", "missing event type", n_rows=int((codes < 0).sum()),
                          fix=f"give every row one of {list(EVENT_TYPES)}")
    if events["customer_id"].isna().any():
        raise SchemaError("customer_id", "missing customer id",
                          n_rows=int(events["customer_id"].isna().sum()),
                          fix="drop or fill those rows with repurchase_ml.read_events")
    columns = ["customer_id", "timestamp", "amount"]
    columns += [c for c in _ENGINE_COLUMNS if c in events.columns]
    frame = pl.from_pandas(events[columns].reset_index(drop=True))
    return frame.with_columns(pl.Series("event_type", codes, dtype=pl.Int8))

