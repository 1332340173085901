"""The drift reference stored with a model: summaries of its training rows, never the rows.

Built when the model is packaged (:func:`repurchase_ml.tracking.make_served_model`), so this
module imports nothing of the tracking or the jobs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._frames import fixed_sample
from repurchase_ml.monitoring.drift import DriftReference, summarise_reference
from repurchase_ml.monitoring.performance import fit_calibration

__all__ = ["SEGMENT_COLUMN", "model_reference", "segments_of"]

#: the segment monitored for its mix: lifecycle stage (RFM segments are quantile ranks
#: within a cutoff, so their mix is fixed by construction)
SEGMENT_COLUMN = "lifecycle_stage"


def segments_of(features: pd.DataFrame) -> pd.Series | None:
    from repurchase_ml.segments import lifecycle_stage

    try:
        return lifecycle_stage(features)
    except (KeyError, ValueError):  # SchemaError included: a spec without the rhythm family
        return None


def model_reference(bundle: Any, training: pd.DataFrame, *, features: list[str],
                    rows_per_cutoff: int = 5000, bins: int = 10,
                    random_state: int = 0) -> DriftReference:
    """The drift reference of a trained bundle: its features, scores and segment mix.

    At most ``rows_per_cutoff`` training rows per cutoff are summarised (a
    fixed sample: bin shares from 5,000 rows are within about 0.01 of the
    whole), and the calibration is fitted on at most
    :data:`~repurchase_ml._frames.SUMMARY_ROWS` test rows, so the summary
    costs seconds even for a large training set.
    """
    from repurchase_ml.models.training import OUTPUT_COLUMNS

    # the rows DataFrame.sample would draw from each cutoff's group, taken by position
    # (no copy of each group: the training set can hold millions of rows)
    codes, _ = pd.factorize(pd.to_datetime(training["cutoff"]), sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(codes.max() + 2 if len(codes) else 1))
    picked = []
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        positions = pd.Series(order[start:stop])
        picked.append(positions.sample(min(len(positions), rows_per_cutoff),
                                       random_state=random_state).to_numpy())
    rows = training.take(np.concatenate(picked) if picked else []).reset_index(drop=True)
    scores = bundle.predict(rows[["customer_id", "cutoff", *features]])
    frame = rows[["cutoff", *features]].copy()
    groups = {name: "feature" for name in features}
    for column in OUTPUT_COLUMNS.values():
        if column in scores:
            frame[column] = scores[column].to_numpy()
            groups[column] = "score"
    stage = segments_of(rows)
    if stage is not None:
        frame[SEGMENT_COLUMN] = stage.to_numpy()
        groups[SEGMENT_COLUMN] = "segment"
    reference = summarise_reference(frame, groups=groups, bins=bins)
    reference.calibration = _test_calibration(bundle, training, features=features)
    return reference


def _test_calibration(bundle: Any, training: pd.DataFrame, *,
                      features: list[str]) -> dict[str, tuple[list[float], list[float]]]:
    """Per probability task, score -> observed rate on its test cutoff (held out of training)."""
    from repurchase_ml.models.training import OUTPUT_COLUMNS, TASK_KINDS

    out = {}
    cut = pd.to_datetime(training["cutoff"])
    for task, split in (getattr(bundle, "cutoffs", None) or {}).items():
        label = f"label_{task}"
        if TASK_KINDS.get(task) != "classification" or label not in training:
            continue
        rows = fixed_sample(training[((cut == pd.Timestamp(split["test"]))
                                      & training[label].notna()).to_numpy()])
        if rows[label].nunique() < 2:
            continue
        p = bundle.predict(rows[["customer_id", "cutoff", *features]])[OUTPUT_COLUMNS[task]]
        out[task] = fit_calibration(p.to_numpy(dtype=float), rows[label].to_numpy(dtype=float))
    return out
