"""The campaign log: who was sent what, when, and who was held out.

One row per (customer, campaign): ``customer_id``, ``campaign_id``, ``group``
(``treatment`` or ``control``), ``sent_at`` (for a control customer: when they
would have been sent), and optionally ``action``, ``channel`` and ``cost`` (the
offer's cost for that customer, 0 for a control row). It is read and validated
once, at the boundary, like the event log (:mod:`repurchase_ml.events`): a
broken rule raises :class:`~repurchase_ml.errors.SchemaError` naming the column,
how many rows, a few examples and the fix; with ``on_invalid="drop"`` the rows
are removed and counted in ``frame.attrs["dropped"]``. Nothing is dropped
silently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._frames import as_pandas, is_polars
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import (
    ColumnMapping,
    OnInvalid,
    ValidationReport,
    _check_numbers,
    _check_timezone,
    _Checker,
    _normalise_ids,
    _parse_timestamps,
    _read_table,
    _suggest,
)

__all__ = ["GROUPS", "CAMPAIGN_COLUMNS", "REQUIRED_CAMPAIGN_COLUMNS", "read_campaigns"]

logger = logging.getLogger(__name__)

#: the two arms of a randomised campaign
GROUPS: tuple[str, ...] = ("treatment", "control")
REQUIRED_CAMPAIGN_COLUMNS: tuple[str, ...] = ("customer_id", "campaign_id", "group", "sent_at")
OPTIONAL_CAMPAIGN_COLUMNS: tuple[str, ...] = ("action", "channel", "cost")
CAMPAIGN_COLUMNS: tuple[str, ...] = REQUIRED_CAMPAIGN_COLUMNS + OPTIONAL_CAMPAIGN_COLUMNS
#: labels read as a group without a mapping (after lower-casing and stripping)
_GROUP_SYNONYMS = {"treatment": "treatment", "treated": "treatment", "test": "treatment",
                   "control": "control", "holdout": "control", "hold-out": "control"}


def _rename(raw: pd.DataFrame, columns: Mapping[str, str] | None) -> pd.DataFrame:
    columns = dict(columns or {})
    available = [str(c) for c in raw.columns]
    for canonical, source in columns.items():
        if canonical not in CAMPAIGN_COLUMNS:
            raise ValueError(f"columns: key {canonical!r} is not a campaign-log column."
                             f"{_suggest(canonical, CAMPAIGN_COLUMNS)} Valid keys: "
                             f"{', '.join(CAMPAIGN_COLUMNS)}.")
        if source not in raw.columns:
            raise SchemaError(source, f"columns sends {canonical!r} to source column {source!r}, "
                              "which does not exist",
                              fix=f"use one of the source columns ({', '.join(available[:20])})")
    out = {c: raw[columns.get(c, c)] for c in CAMPAIGN_COLUMNS if columns.get(c, c) in raw.columns}
    for column in REQUIRED_CAMPAIGN_COLUMNS:
        if column not in out:
            raise SchemaError(column, "required column of the campaign log is missing",
                              fix=f"map it with columns={{{column!r}: '<your column>'}}"
                                  + _suggest(column, available).replace(" Did you mean",
                                                                        "; did you mean"))
    used = {columns.get(c, c) for c in out}
    # other columns (a segment or value-risk cell at send time, say) travel along as given
    out.update({str(c): raw[c] for c in raw.columns if c not in used and c not in out})
    return pd.DataFrame(out, index=raw.index)


def read_campaigns(
    source: Any,
    *,
    columns: Mapping[str, str] | None = None,
    group_map: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    on_invalid: OnInvalid = "raise",
) -> pd.DataFrame:
    """Read and validate a campaign log (a DataFrame, pandas or polars, or a .csv/.parquet path).

    Parameters
    ----------
    source
        The log. Columns already named as in :data:`CAMPAIGN_COLUMNS` need no mapping.
    columns
        Canonical name -> source column, e.g. ``{"group": "arm", "sent_at": "send_time"}``.
    group_map
        Source label -> ``"treatment"`` or ``"control"``, e.g. ``{"T": "treatment",
        "C": "control"}``. ``treated``/``test`` and ``holdout`` are understood without one.
    timezone
        Time-zone-aware send times are converted to this zone and kept as naive wall clock,
        as :func:`~repurchase_ml.events.read_events` does with event times.
    on_invalid
        ``"raise"`` (default) stops at the first broken rule; ``"drop"`` removes the
        offending rows and counts them per rule in ``frame.attrs["dropped"]``.

    Returns
    -------
    DataFrame
        ``customer_id`` (int64 or str), ``campaign_id`` (str), ``group`` (categorical,
        :data:`GROUPS`), ``sent_at`` (datetime64[ns]) and those of ``action``, ``channel``
        (str) and ``cost`` (float64, >= 0) the source has, then any other source columns as
        they are (e.g. a segment at send time, to read the campaign out by); sorted by
        campaign and customer.

    Examples
    --------
    >>> log = pd.DataFrame({"customer_id": [1, 2, 3], "campaign_id": ["win-back"] * 3,
    ...                     "group": ["treatment", "control", "Treatment"],
    ...                     "sent_at": ["2024-03-01", "2024-03-01", "2024-03-01"],
    ...                     "cost": [2.0, 0.0, 2.0]})
    >>> read_campaigns(log)[["customer_id", "group", "cost"]].values.tolist()
    [[1, 'treatment', 2.0], [2, 'control', 0.0], [3, 'treatment', 2.0]]
    >>> read_campaigns(log.assign(group=["A", "B", "A"]))
    Traceback (most recent call last):
    repurchase_ml.errors.SchemaError: column 'group': group must be 'treatment' or 'control' (3 rows, e.g. 'A', 'B'). Fix: map your labels with group_map={'<label>': 'treatment', '<label>': 'control'}, or pass on_invalid='drop' to drop these rows.
    """
    if on_invalid not in ("raise", "drop"):
        raise ValueError(f"on_invalid: expected 'raise' or 'drop', got {on_invalid!r}.")
    _check_timezone(timezone)
    if is_polars(source):
        source = as_pandas(source, argument="campaigns")
    raw = _read_table(source) if isinstance(source, str | os.PathLike) else \
        as_pandas(source, argument="campaigns")
    if len(raw) == 0:
        raise SchemaError(None, "the campaign log is empty (0 rows)",
                          fix="check the source file and any filter applied before loading")
    frame = _rename(raw, columns).reset_index(drop=True)
    check = _Checker(frame)
    warnings: list[str] = []

    ids, null_ids = _normalise_ids(frame["customer_id"], ColumnMapping(), warnings.append)
    check.add("customer_id", "customer id is null", null_ids,
              "fill or remove rows without a customer id", examples_from=frame.index.to_series())
    frame["customer_id"] = ids

    campaign = frame["campaign_id"]
    check.add("campaign_id", "campaign id is null", campaign.isna().to_numpy(),
              "give every row the campaign it belongs to", examples_from=frame.index.to_series())
    frame["campaign_id"] = campaign.map(str, na_action="ignore").astype(object)

    labels = frame["group"].astype("string").str.strip()
    mapped = labels.map(dict(group_map)) if group_map else labels.str.lower().map(_GROUP_SYNONYMS)
    mapped = mapped.astype(object).where(mapped.isin(GROUPS), None)
    check.add("group", f"group must be {GROUPS[0]!r} or {GROUPS[1]!r}",
              mapped.isna().to_numpy(), "map your labels with group_map={'<label>': "
              "'treatment', '<label>': 'control'}")
    frame["group"] = pd.Categorical(mapped, categories=list(GROUPS))

    stamps = _parse_timestamps(frame["sent_at"], ColumnMapping(), timezone).wall
    check.add("sent_at", "send time is missing or cannot be parsed", stamps.isna().to_numpy(),
              "give an ISO date-time such as '2024-03-01 09:00'")
    frame["sent_at"] = stamps

    if "cost" in frame.columns:
        cost = _check_numbers(frame["cost"], "cost", check)
        check.add("cost", "offer cost is missing", np.isnan(cost.to_numpy()),
                  "fill the cost (0 for control rows and free actions)")
        check.add("cost", "offer cost is negative", (cost < 0).to_numpy(),
                  "record what the offer cost as a positive number")
        frame["cost"] = cost
    for column in ("action", "channel"):
        if column in frame.columns:
            frame[column] = frame[column].map(str, na_action="ignore").astype(object)

    key = frame[["customer_id", "campaign_id"]]
    repeated = key.duplicated(keep="first").to_numpy()
    check.add("customer_id", "customer appears more than once in a campaign (in one group or "
              "both)", repeated, "keep one row per customer and campaign: a customer is either "
              "treated or held out", examples_from=frame["customer_id"])
    dropped = ValidationReport(n_input_rows=len(frame))
    keep = check.resolve(on_invalid, dropped)
    out = frame.loc[keep].sort_values(["campaign_id", "customer_id"], kind="mergesort")
    out = out.reset_index(drop=True)
    out.attrs["dropped"] = dict(dropped.dropped)
    out.attrs["warnings"] = warnings
    if dropped.dropped:
        logger.warning("campaign log: dropped %s", dropped.dropped)
    return out
