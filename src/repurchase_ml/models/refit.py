"""Each task at the newest cutoff its own horizon allows, and the shipped model refit on all of it.

One calendar of cutoffs computed from the longest horizon tests every task a
year before the data ends when LTV looks 365 days ahead, and the model put in
service never sees that year. Here each task gets the newest cutoffs its own
horizon fits (:func:`propose_task_cutoffs`, then one training set labelled
per task with ``build_training_set(..., label_cutoffs=...)``), is tested out
of time at the newest of them by :func:`~repurchase_ml.models.train_models`,
and, once that test has been recorded, :func:`refit_on_all_cutoffs` refits
the shipped trees on every labelled cutoff (train, validation and test rows)
with the number of rounds early stopping chose, so the served model has seen
the newest labelled behaviour.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.features import propose_cutoffs
from repurchase_ml.models.training import (
    ModelBundle,
    _classic_frame,
    _classic_task_score,
    _offset,
    _refit,
)

__all__ = ["propose_task_cutoffs", "refit_on_all_cutoffs"]

logger = logging.getLogger(__name__)


def propose_task_cutoffs(
    events: pd.DataFrame | tuple[Any, Any],
    horizons: Mapping[str, int],
    *,
    freq: str = "MS",
    n: int | None = None,
) -> dict[str, list[pd.Timestamp]]:
    """Per task, the newest ``n`` cutoffs whose whole horizon of that task lies inside the log.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1], "timestamp": pd.to_datetime(["2023-01-10", "2024-06-30"]),
    ...     "event_type": pd.Categorical(["purchase"] * 2, categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [10.0, 20.0]})
    >>> cuts = propose_task_cutoffs(ev, {"repurchase": 30, "ltv": 365}, n=2)
    >>> {task: [str(c.date()) for c in found] for task, found in cuts.items()}
    {'repurchase': ['2024-05-01', '2024-06-01'], 'ltv': ['2023-06-01', '2023-07-01']}
    """
    return {task: propose_cutoffs(events, horizon_days=int(horizon), freq=freq, n=n)
            for task, horizon in horizons.items()}


def refit_on_all_cutoffs(bundle: ModelBundle, training_set: pd.DataFrame) -> ModelBundle:
    """A copy of ``bundle`` whose tree models are refit on every labelled row of their task.

    Call it after the bundle's test scorecards have been used (they stay in the
    copy and describe the models as tested, out of time). Each tree -- plain or
    hybrid, shipped alone or in a blend -- is refit with the rounds early
    stopping chose on the train, validation and test cutoffs of its task; a
    hybrid's offsets come from the classic model at each row's own cutoff, as
    in training. What was chosen, blend weights, the classic model and
    calibrators are kept. ``bundle.cutoffs[task]["refit"]`` lists the cutoffs
    the served tree has seen.
    """
    final = copy.copy(bundle)
    final.models, final.scorers = dict(bundle.models), {}
    final.cutoffs = {task: dict(split) for task, split in bundle.cutoffs.items()}
    X_all = training_set[bundle.feature_names]
    cutoff_col = pd.to_datetime(training_set["cutoff"])
    classic_cache: dict[int, np.ndarray | None] = {}
    for task, scorer in bundle.scorers.items():
        split = bundle.cutoffs[task]
        seen = sorted({*split["train"], split["valid"], split["test"]})
        rows = (training_set[f"label_{task}"].notna() & cutoff_col.isin(seen)).to_numpy()
        final_scorer = copy.copy(scorer)
        if scorer.model is not None:
            offset = None
            if scorer.hybrid:
                if scorer.horizon not in classic_cache:
                    classic_pred, _models = _classic_frame(training_set, scorer.horizon)
                    classic_cache[scorer.horizon] = None if classic_pred is None else \
                        _classic_task_score(task, classic_pred)
                raw = classic_cache[scorer.horizon]
                if raw is None:  # the classic model fitted in training but not now: keep it
                    logger.warning("task %s: no classic prediction to refit the hybrid on; "
                                   "the tested model is served", task)
                    final.scorers[task] = final_scorer
                    continue
                filled = np.where(np.isfinite(raw), raw, scorer.classic_fill)
                offset = _offset(task, filled)[rows]
            y = training_set.loc[rows, f"label_{task}"].to_numpy(dtype=float)
            final_scorer.model = _refit(scorer.model, X_all.loc[rows], y, offset)
            if bundle.models.get(task) is scorer.model:
                final.models[task] = final_scorer.model
            final.cutoffs[task]["refit"] = seen
            logger.info("task %s: refit on all %d labelled cutoffs (%d rows) before serving",
                        task, len(seen), int(rows.sum()))
        final.scorers[task] = final_scorer
    return final
