"""Per-customer cutoffs: a table of (customer_id, cutoff) instead of one calendar for everyone.

As featuretools' ``cutoff_time``: each customer is described at their own
moments (the day of a support call, a subscription renewal, the date a CRM
list was drawn), and labelled over the horizon from each of them. Pass the
table as ``cutoffs=`` to ``build_features`` or ``build_training_set``.

The same time rules hold per row: a row at cutoff ``t`` reads only that
customer's events before ``t``, its labels only ``[t, t + horizon)``. The
work is done per distinct cutoff on the events of the customers who have it;
what is shared across customers is fixed on the whole log first (whether the
engagement family exists, the category price levels at each cutoff, where
the data ends), so a row is the row the calendar version would give for
that customer at that cutoff.

Examples
--------
>>> import pandas as pd
>>> from repurchase_ml.features import FeatureSpec, build_features
>>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 2], "timestamp": pd.to_datetime(
...     ["2024-01-01", "2024-02-10", "2024-01-05", "2024-03-01"]), "event_type": pd.Categorical(
...     ["purchase"] * 4, categories=["purchase", "refund", "view", "cart", "favorite"]),
...     "amount": [10.0, 20.0, 5.0, 7.0]})
>>> table = pd.DataFrame({"customer_id": [1, 2], "cutoff": ["2024-02-01", "2024-03-15"]})
>>> build_features(ev, cutoffs=table, spec=FeatureSpec(families=("rfm",), windows=(30,)))[
...     ["customer_id", "cutoff", "orders_all"]]
   customer_id     cutoff  orders_all
0            1 2024-02-01         1.0
1            2 2024-03-15         2.0
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from repurchase_ml._frames import as_pandas, is_polars
from repurchase_ml.errors import SchemaError

__all__ = ["cutoff_table", "is_cutoff_table", "rows_per_customer"]

logger = logging.getLogger(__name__)

_BEHAVIOUR_EVENTS = ("view", "cart", "favorite")


def is_cutoff_table(cutoffs: Any) -> bool:
    """Whether ``cutoffs`` is a per-customer table (a pandas or polars frame)."""
    return isinstance(cutoffs, pd.DataFrame) or is_polars(cutoffs)


def _ids(events: Any) -> pd.Series:
    return events.get_column("customer_id").to_pandas() if isinstance(events, pl.DataFrame) \
        else events["customer_id"]


def cutoff_table(table: Any, events: Any) -> pd.DataFrame:
    """The table checked and normalised: ``customer_id`` as in ``events``, naive ``cutoff`` (ns).

    Refuses missing columns or values, zone-aware or unreadable cutoffs, a
    repeated (customer, cutoff) pair and customer ids of another type than the
    log's; sorted by (``cutoff``, ``customer_id``).
    """
    fix = "pass a frame with one row per (customer_id, cutoff), e.g. pd.DataFrame({'customer_id':" \
          " [...], 'cutoff': pd.to_datetime([...])})"
    table = as_pandas(table, argument="cutoffs")
    for column in ("customer_id", "cutoff"):
        if column not in table.columns:
            raise SchemaError(column, "cutoffs: the cutoff table lacks this column", fix=fix)
        if table[column].isna().any():
            raise SchemaError(column, "cutoffs: missing value in the cutoff table",
                              n_rows=int(table[column].isna().sum()), fix=fix)
    if table.empty:
        raise ValueError(f"cutoffs: the cutoff table has no rows. Fix: {fix}.")
    try:
        when = pd.to_datetime(table["cutoff"])
    except (TypeError, ValueError) as exc:
        raise SchemaError("cutoff", f"cutoffs: cannot read the cutoff column as dates ({exc})",
                          fix=fix) from None
    if getattr(when.dt, "tz", None) is not None:
        raise SchemaError("cutoff", "cutoffs: zone-aware cutoffs; the log's times are naive",
                          fix="drop the zone, e.g. table['cutoff'].dt.tz_localize(None)")
    ids = table["customer_id"]
    log_ids = _ids(events)
    numeric_log = pd.api.types.is_numeric_dtype(log_ids)
    if numeric_log != pd.api.types.is_numeric_dtype(ids):
        raise SchemaError("customer_id", f"cutoffs: customer ids are {ids.dtype} but the event "
                          f"log's are {log_ids.dtype}", examples=ids.tolist(),
                          fix="give the table the same id type as the log (e.g. "
                          "table['customer_id'].astype(events['customer_id'].dtype))")
    out = pd.DataFrame({"customer_id": ids.astype(log_ids.dtype) if numeric_log else ids,
                        "cutoff": when.astype("datetime64[ns]")})
    twice = out.duplicated()
    if twice.any():
        raise SchemaError("customer_id", "cutoffs: a (customer_id, cutoff) pair is repeated",
                          n_rows=int(twice.sum()), examples=out.loc[twice, "customer_id"].tolist(),
                          fix="keep one row per pair")
    return out.sort_values(["cutoff", "customer_id"], ignore_index=True)


def _pinned(spec: Any, events: Any) -> Any:
    """``spec`` with the engagement family decided on the whole log, not on each part."""
    if spec.behaviour is not None:
        return spec
    if isinstance(events, pl.DataFrame):
        types = events.get_column("event_type").cast(pl.String)
        has = bool(types.is_in(list(_BEHAVIOUR_EVENTS)).any())
    else:
        has = bool(events["event_type"].isin(_BEHAVIOUR_EVENTS).any())
    return dataclasses.replace(spec, behaviour=has)


def _part(events: Any, ids: np.ndarray) -> Any:
    if isinstance(events, pl.DataFrame):
        return events.filter(pl.col("customer_id").is_in(pl.Series(ids)))
    return events[events["customer_id"].isin(ids)]


def rows_per_customer(events: Any, cutoffs: Any, spec: Any, rows: Callable[..., pd.DataFrame], *,
                      price_levels: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """``rows(part, cutoff, spec, category_prices)`` at each customer's own cutoffs, concatenated.

    The caller (``build_features`` or ``build_training_set``) passes its own per-cutoff
    function and the engine's ``category_price_levels``, so this module needs neither the
    engine nor the labels. What rows of different customers share is fixed on the whole log:
    whether engagement features are built, and the category price levels.
    """
    table = cutoff_table(cutoffs, events)
    spec = _pinned(spec, events)
    prices = None
    if "category" in events.columns:
        prices = price_levels(events, cutoffs=sorted(table["cutoff"].unique()))
    parts = []
    for cutoff, group in table.groupby("cutoff", sort=True):
        at = pd.Timestamp(cutoff)
        parts.append(rows(_part(events, group["customer_id"].to_numpy()), at, spec,
                          None if prices is None else prices[prices["cutoff"] == at]))
    out = pd.concat(parts, ignore_index=True)
    kept = out[["customer_id", "cutoff"]].merge(table, on=["customer_id", "cutoff"])
    missing = len(table) - len(kept)
    if missing:  # never silently: counted, logged and kept in attrs
        logger.warning("cutoffs: %d of %d (customer, cutoff) rows have no event before their "
                       "cutoff and get no feature row", missing, len(table))
    out = out.sort_values(["cutoff", "customer_id"], ignore_index=True)
    out.attrs["customers_without_history"] = int(missing)
    return out
