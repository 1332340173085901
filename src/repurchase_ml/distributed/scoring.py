"""Features and scores at an as-of date, one customer partition at a time.

Each partition builds its customers' features at the as-of date (with the
broadcast category price levels, :mod:`.features`) and scores them with the
champion on the worker: probabilities and value at risk, and with
``reasons=True`` every row's reasons (LightGBM ``pred_contrib`` on the
worker's rows, against the typical values and directions stored with the
served model, so a row's reasons do not depend on the other rows). Scores
equal the local engine's row for row.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.distributed.features import GlobalInputs, global_inputs
from repurchase_ml.distributed.partition import canonical_partition
from repurchase_ml.features._inputs import normalise_cutoffs
from repurchase_ml.features.engine import checked_spec, compute_features
from repurchase_ml.features.spec import FeatureSpec

__all__ = ["score_partitions", "top_k"]

logger = logging.getLogger(__name__)


def _score_part(part: pd.DataFrame, cutoff: pd.Timestamp, spec: FeatureSpec,
                prices: pd.DataFrame | None, scorer: Any,
                reasons: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    return score_events(canonical_partition(part), cutoff, spec, prices, scorer, reasons)


def score_events(events: pd.DataFrame, cutoff: pd.Timestamp, spec: FeatureSpec,
                 prices: pd.DataFrame | None, scorer: Any,
                 reasons: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features (by customer id) and scores at ``cutoff`` of a canonical partition's events."""
    events = events[events["timestamp"] < cutoff].reset_index(drop=True)
    features = compute_features(events, [cutoff], spec, category_prices=prices)
    features.attrs = {}
    features = features.sort_values("customer_id", kind="mergesort", ignore_index=True)
    if features.empty:
        return features, pd.DataFrame()
    return features, scorer.score(features, reasons=reasons).reset_index(drop=True)


def score_partitions(events: Any, *, scorer: Any, as_of: Any, spec: FeatureSpec,
                     inputs: GlobalInputs | None = None,
                     max_days_after_data: float | None = 31.0, reasons: bool = True,
                     ) -> tuple[pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """Features and scores of every customer at ``as_of``, computed per partition.

    Parameters
    ----------
    events : dask.dataframe.DataFrame
        The log partitioned by customer (events at or after ``as_of`` are
        never read: each partition keeps only the rows before it).
    scorer : object with ``score(features, *, reasons) -> DataFrame``
        E.g. the champion (:class:`repurchase_ml.tracking.Champion`): its
        schema check and scores (and, with ``reasons``, the reasons from
        LightGBM ``pred_contrib``) run on the workers.
    as_of : timestamp
    spec : FeatureSpec
        The champion's pinned spec (``behaviour`` set).

    Returns
    -------
    (features, scores, parts)
        The features and scores as the local engine returns them (rows by
        customer id; scores aligned with the features' rows), and the scores
        of each partition (for a partitioned output).
    """
    import dask

    spec = checked_spec(spec)
    cutoff = normalise_cutoffs(as_of)
    if len(cutoff) != 1:
        raise ValueError(f"as_of: expected one date, got {len(cutoff)}.")
    cut = cutoff[0]
    history = events[events["timestamp"] < cut]
    inputs = inputs if inputs is not None else global_inputs(history, cutoffs=cutoff, spec=spec)
    inputs.check_cutoffs(cutoff, max_days_after_data)
    prices = inputs.prices_for(cutoff)
    pinned = inputs.pinned(spec)
    scorer_ = dask.delayed(scorer, pure=True)  # one copy in the graph, shipped once per worker
    tasks = [dask.delayed(_score_part, nout=2)(p, cut, pinned, prices, scorer_, reasons)
             for p in events.to_delayed()]
    results = dask.compute(*tasks)
    features = [f for f, _ in results]
    scores = [s for f, s in results if len(f)]
    shown = [f for f in features if len(f)]
    if not shown:
        return features[0], pd.DataFrame(), []
    all_features = pd.concat(shown, ignore_index=True)
    all_scores = pd.concat(scores, ignore_index=True)
    order = np.argsort(all_features["customer_id"].to_numpy(), kind="stable")
    return (all_features.take(order).reset_index(drop=True),
            all_scores.take(order).reset_index(drop=True), scores)


def top_k(ddf: Any, k: int, by: str, *, tie: str = "customer_id") -> pd.DataFrame:
    """The ``k`` rows with the largest ``by`` (ties: smallest ``tie``), found per partition.

    Each partition keeps its own top ``k`` and only those meet on the client,
    so the client holds at most ``k x partitions`` rows.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> frame = pd.DataFrame({"customer_id": range(6), "value": [5.0, 1, 5, 3, 9, 0]})
    >>> top_k(dd.from_pandas(frame, npartitions=3), 3, "value")["customer_id"].tolist()
    [4, 0, 2]
    """
    if not isinstance(k, int | np.integer) or k < 0:
        raise ValueError(f"k: expected a whole number >= 0, got {k!r}.")

    def head(part: pd.DataFrame) -> pd.DataFrame:
        return part.sort_values([by, tie], ascending=[False, True], kind="mergesort").head(k)

    kept = ddf.map_partitions(head, meta=ddf._meta).compute()
    return head(kept).reset_index(drop=True)
