"""Segment migration between two as-of dates: RFM segments or lifecycle stages, as counts.

Segments come from :mod:`repurchase_ml.segments` over features built at each
date with the library's feature engine, so a customer's segment here is the
one the radar shows at that date.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.analytics._orders import Snapshot, check_choice, check_date, snapshot
from repurchase_ml.features.spec import FeatureSpec
from repurchase_ml.segments import LIFECYCLE_STAGES, RFM_SEGMENT_RULES, lifecycle_stage, rfm_scores
from repurchase_ml.segments import segment_migration as _crosstab

__all__ = ["segment_migration", "segments_at", "SEGMENT_KINDS", "ABSENT", "segment_order"]

SEGMENT_KINDS = ("rfm", "lifecycle")
#: the row or column of customers not yet (or no longer) in the other table
ABSENT = "(absent)"
_NO_PURCHASE = "no purchase"
#: lifecycle stages from the start of a customer's life to its end (LIFECYCLE_STAGES is the
#: order the rules are checked in)
_LIFECYCLE_READING = ("prospect", "new", "active", "reactivated", "at_risk", "churned")


def segment_order(kind: str) -> list[str]:
    """Segments of ``kind`` in their reading order (best first), then the catch-alls."""
    names = list(RFM_SEGMENT_RULES["segment"]) + [_NO_PURCHASE] if kind == "rfm" \
        else [s for s in _LIFECYCLE_READING if s in LIFECYCLE_STAGES]
    return names + [ABSENT]


def segments_at(snap: Snapshot, cutoff: pd.Timestamp | None = None, *,
                kind: str = "rfm") -> pd.Series:
    """Segment (``kind`` "rfm" or "lifecycle") of every customer seen before ``cutoff``, by id
    (computed once per snapshot, cutoff and kind)."""
    key = (snap.as_of if cutoff is None else cutoff, kind)
    if key not in snap.segments:
        features = snap.features(cutoff)
        labels = rfm_scores(features)["segment"] if kind == "rfm" else lifecycle_stage(features)
        snap.segments[key] = pd.Series(np.asarray(labels, dtype=object),
                                       index=features["customer_id"].to_numpy(), name=kind)
    return snap.segments[key]


def segment_codes(segment: pd.Series, order: list[str]) -> tuple[np.ndarray, list[str]]:
    """A code per row of ``segment`` (missing: "no purchase") and the names present, in
    ``order``.

    Examples
    --------
    >>> segment_codes(pd.Series(["lost", None, "new"]), segment_order("rfm"))
    (array([1, 2, 0]), ['new', 'lost', 'no purchase'])
    """
    labels = segment.fillna(_NO_PURCHASE).to_numpy(dtype=object)
    present = set(pd.unique(labels))
    names = [s for s in order if s in present]
    codes = pd.Categorical(labels, categories=names).codes.astype(np.int64)
    return codes, names


def segment_migration(events: Any, from_as_of: Any, to_as_of: Any, *,
                      kind: str = "rfm", spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Customers moving between segments from one as-of date to a later one.

    Each customer's segment (RFM segment or lifecycle stage, see
    :func:`repurchase_ml.segments.rfm_scores` and
    :func:`~repurchase_ml.segments.lifecycle_stage`) is computed from events
    before each date. A customer first seen between the dates comes from
    ``"(absent)"``.

    Parameters
    ----------
    events : DataFrame
        Canonical event log (pandas or polars).
    from_as_of, to_as_of : date
        The earlier and the later date; only events before ``to_as_of`` are read.
    kind : {"rfm", "lifecycle"}
        Which segmentation.

    Returns
    -------
    DataFrame
        One row per (from, to) pair with customers: ``from_segment``,
        ``to_segment``, ``customers``, ``share_of_from`` (of the customers in
        ``from_segment``), in the segments' reading order.

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 2, 2, 3], "timestamp": pd.to_datetime(
    ...     ["2024-01-05", "2024-01-10", "2024-02-10", "2024-02-15"]),
    ...     "event_type": pd.Categorical(["purchase"] * 4, categories=EVENT_TYPES),
    ...     "amount": [10.0, 20.0, 5.0, 7.0]})
    >>> t = segment_migration(ev, "2024-02-01", "2024-03-01", kind="lifecycle")
    >>> t[["from_segment", "to_segment", "customers"]].values.tolist()
    [['new', 'active', 1], ['new', 'at_risk', 1], ['(absent)', 'new', 1]]
    """
    check_choice(kind, "kind", SEGMENT_KINDS)
    start, end = check_date(from_as_of, "from_as_of"), check_date(to_as_of, "to_as_of")
    if not start < end:
        raise ValueError(f"from_as_of: must be before to_as_of, got {start.date()} and "
                         f"{end.date()}. Fix: pass the earlier date first.")
    return migration_table(snapshot(events, end, spec=spec, argument="to_as_of"), start, kind=kind)


def migration_table(snap: Snapshot, start: pd.Timestamp, *, kind: str) -> pd.DataFrame:
    """:func:`segment_migration` from ``start`` to the snapshot's as-of date."""
    before, after = (segments_at(snap, cutoff, kind=kind) for cutoff in (start, snap.as_of))
    frames = [pd.DataFrame({"customer_id": s.index, "segment": s.to_numpy()})
              for s in (before, after)]
    cross = _crosstab(frames[0], frames[1])
    tidy = cross.stack().rename("customers").reset_index()
    tidy.columns = ["from_segment", "to_segment", "customers"]
    tidy = tidy.loc[tidy["customers"] > 0]
    order = {name: i for i, name in enumerate(segment_order(kind))}
    tidy = tidy.assign(_f=tidy["from_segment"].map(order), _t=tidy["to_segment"].map(order))
    tidy = tidy.sort_values(["_f", "_t"]).drop(columns=["_f", "_t"]).reset_index(drop=True)
    totals = tidy.groupby("from_segment")["customers"].transform("sum")
    tidy["customers"] = tidy["customers"].astype(np.int64)
    tidy["share_of_from"] = tidy["customers"] / totals
    return tidy
