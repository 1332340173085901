"""Performance after labels arrive (realised) and before they do (estimated, CBPE).

**Realised.** Once a task's horizon after a scoring date has passed,
:func:`realised_scorecard` joins the scores stored that day with what
happened (labels from :func:`~repurchase_ml.features.make_labels` at the
scoring date, on events before the evaluation date only) and scores them
with the same :func:`~repurchase_ml.models.evaluate` as training: ROC-AUC,
calibration (ECE, mean predicted against the observed rate), precision at
the top 5/10/20 %, totals for counts and money.

**Estimated (confidence-based performance estimation).** A calibrated
probability ``p`` says a customer is positive with probability ``p``. If that
holds on the scored rows, every metric has an expected value computable from
the scores alone, before a single label exists:

- ROC-AUC: the expected share of (positive, negative) pairs ranked right,
  ``sum_{i != j} p_i (1 - p_j) [s_i > s_j] / sum_{i != j} p_i (1 - p_j)``
  (ties count a half), in one pass over the sorted scores;
- precision in the top ``k``: the mean probability of the ``k`` highest scores;
- the positive rate (calibration in the large): the mean probability;
- the Brier score: ``mean p (1 - p)``.

The estimate is as good as the calibration: shown beside the realised value
once it exists, a gap says the probabilities were not calibrated on these
customers (a shifted population), which is itself worth knowing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "estimated_performance",
    "expected_roc_auc",
    "fit_calibration",
    "realised_scorecard",
    "task_population",
    "ESTIMATED_METRICS",
    "HISTORY_COLUMNS",
    "plot_performance_history",
]

#: metrics :func:`estimated_performance` estimates for a probability
ESTIMATED_METRICS = ("roc_auc", "precision_top5", "precision_top10", "precision_top20",
                     "base_rate", "brier")
#: columns of the realised-performance history (one row per scored date, task and metric)
HISTORY_COLUMNS = ("scored_at", "evaluated_at", "model_version", "task", "metric", "realised",
                   "estimated", "n_rows")


def _probabilities(p: Any) -> np.ndarray:
    values = np.asarray(p, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("probabilities: expected a non-empty 1-d array of scores")
    if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        raise ValueError("probabilities: expected values in [0, 1] without NaN; pass a "
                         "calibrated probability column such as churn_probability")
    return values


def expected_roc_auc(p: Any, *, calibration: tuple[Any, Any] | None = None) -> float:
    """Expected ROC-AUC of probabilities ``p`` if labels follow them.

    With ``calibration`` (from :func:`fit_calibration`), rows are ranked by
    ``p`` and their labels expected from the calibrated probabilities.

    Examples
    --------
    >>> expected_roc_auc([0.5, 0.5, 0.5])  # no ranking information
    0.5
    >>> round(expected_roc_auc([0.1, 0.9]), 4)  # right with chance 0.81 / (0.81 + 0.01)
    0.9878
    """
    score, prob = _ranked(p, calibration)
    return _expected_auc_sorted(score, prob)


def fit_calibration(p: Any, y: Any) -> tuple[list[float], list[float]]:
    """Isotonic map from scores to observed rates on labelled rows, as (x, y) knots.

    Confidence-based estimation is only as good as the calibration: fitted on
    the newest labelled out-of-time rows (the model's test cutoff), it fixes
    what the model's own calibration, fitted on an earlier cutoff, does not.

    Examples
    --------
    >>> fit_calibration([0.1, 0.2, 0.8, 0.9], [0, 1, 0, 1])
    ([0.1, 0.2, 0.8, 0.9], [0.0, 0.5, 0.5, 1.0])
    """
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(_probabilities(p), np.asarray(y, dtype=float))
    return ([float(v) for v in iso.X_thresholds_], [float(v) for v in iso.y_thresholds_])


def _ranked(p: Any, calibration: tuple[Any, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Scores in ascending order and the (calibrated) probability of each."""
    score = _probabilities(p)
    order = np.argsort(score, kind="stable")
    score = score[order]
    if calibration is None:
        return score, score
    x, y = (np.asarray(v, dtype=float) for v in calibration)
    return score, np.interp(score, x, y)


def _expected_auc_sorted(score: np.ndarray, prob: np.ndarray) -> float:
    """:func:`expected_roc_auc` of rows sorted by ascending score (one sort shared)."""
    starts = np.flatnonzero(np.r_[True, score[1:] != score[:-1]])  # runs of equal scores
    pos = np.add.reduceat(prob, starts)  # expected positives per distinct score
    neg = np.add.reduceat(1 - prob, starts)
    self_pairs = np.add.reduceat(prob * (1 - prob), starts)
    neg_below = np.cumsum(neg) - neg
    ties = pos * neg - self_pairs  # pairs of different rows sharing a score
    right = float(np.sum(pos * neg_below) + 0.5 * np.sum(ties))
    pairs = float(pos.sum() * neg.sum() - self_pairs.sum())
    return right / pairs if pairs > 0 else float("nan")


def estimated_performance(p: Any, *, calibration: tuple[Any, Any] | None = None
                          ) -> dict[str, float]:
    """Expected metrics (:data:`ESTIMATED_METRICS`) of probabilities, no labels needed.

    Rows are ranked by ``p``; their labels are expected from ``p``, or from
    the ``calibration`` map (:func:`fit_calibration`) when given. Precision in
    the top 5/10/20 % ranks as :func:`~repurchase_ml.models.evaluate` does.

    Examples
    --------
    >>> est = estimated_performance([0.9, 0.8, 0.1, 0.1, 0.05, 0.05, 0.02, 0.02, 0.01, 0.01])
    >>> est["precision_top10"], round(est["base_rate"], 3), round(est["roc_auc"], 3)
    (0.9, 0.206, 0.95)
    """
    from repurchase_ml.models.evaluate import TOP_FRACTIONS

    score, prob = _ranked(p, calibration)  # the top k are the last k
    out = {"roc_auc": _expected_auc_sorted(score, prob), "base_rate": float(prob.mean()),
           "brier": float(np.mean(prob * (1 - prob)))}
    for frac in TOP_FRACTIONS:
        k = max(1, int(round(frac * len(prob))))
        out[f"precision_top{int(round(frac * 100))}"] = float(prob[len(prob) - k:].mean())
    return {name: out[name] for name in ESTIMATED_METRICS}


def task_population(task: str, features: pd.DataFrame, *,
                    alive_days: int | None = None) -> np.ndarray:
    """Rows of a feature table in a task's population at its cutoff (who gets a label).

    The estimate must cover the rows the realised metric will: churn's alive
    customers, not every customer scored.

    Examples
    --------
    >>> f = pd.DataFrame({"orders_all": [0.0, 1, 3], "orders_365d": [0.0, 0, 2],
    ...                   "days_since_last_purchase": [np.nan, 400, 10],
    ...                   "days_since_first_purchase": [np.nan, 400, 300]})
    >>> task_population("churn", f).tolist(), task_population("repurchase", f).tolist()
    ([False, False, True], [False, True, True])
    """
    from repurchase_ml.features.labels import TASKS
    from repurchase_ml.radar import alive_mask

    spec = TASKS[task]
    orders = features["orders_all"].fillna(0).to_numpy()
    if spec.population == "alive":
        days = int(alive_days if alive_days is not None else spec.population_days or 365)
        return alive_mask(features, days=days).to_numpy(dtype=bool) & (orders > 0)
    if spec.population == "new_single_order":
        first = features["days_since_first_purchase"].to_numpy(dtype=float)
        return (orders == 1) & (first <= float(spec.population_days or 30))
    return orders > 0


def realised_scorecard(
    scores: pd.DataFrame,
    events: pd.DataFrame,
    *,
    scored_at: Any,
    horizons: Mapping[str, int],
    radar: pd.DataFrame | None = None,
    radar_k: int | None = None,
    spec: Any = None,
    alive_days: int | None = None,
) -> dict[str, dict[str, float]]:
    """What the scores of ``scored_at`` turned out to be worth, per task.

    Parameters
    ----------
    scores : pandas.DataFrame
        The score job's ``scores_<date>`` table (``customer_id`` and a column per task).
    events : pandas.DataFrame
        The event log, holding at least the whole horizon after ``scored_at``
        of every task in ``horizons``.
    scored_at : date
    horizons : mapping of task to days
        The tasks to evaluate and their horizons (as the model was trained).
    radar : pandas.DataFrame, optional
        The radar list of that day, in its order: adds ``churn``'s
        ``radar_precision_at_k`` (share of the first ``radar_k`` rows who did churn).
    spec, alive_days
        Order definition and churn alive window, as the model was trained.

    Returns
    -------
    dict of task to metrics
        :func:`~repurchase_ml.models.evaluate` metrics on the labelled
        population rows that were scored, plus ``n_rows``.

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> from repurchase_ml.features import build_features
    >>> events, _ = rm.make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    >>> at = pd.Timestamp("2023-10-01")
    >>> f = build_features(events[events["timestamp"] < at], cutoffs=[at])
    >>> scores = f[["customer_id"]].assign(repurchase_probability=(f["orders_90d"] > 0) * 0.5)
    >>> card = realised_scorecard(scores, events, scored_at=at, horizons={"repurchase": 30})
    >>> 0.5 < card["repurchase"]["roc_auc"] <= 1, card["repurchase"]["n_rows"] > 50
    (True, True)
    """
    from repurchase_ml.features import make_labels
    from repurchase_ml.models import evaluate
    from repurchase_ml.models.training import OUTPUT_COLUMNS, TASK_KINDS

    at = pd.Timestamp(scored_at)
    cards: dict[str, dict[str, float]] = {}
    for task, horizon in horizons.items():
        column = OUTPUT_COLUMNS[task]
        if column not in scores:
            continue
        labels = make_labels(events, cutoffs=[at], task=task, horizon_days=int(horizon),
                             spec=spec, alive_days=alive_days)
        joined = labels.merge(scores[["customer_id", column]], on="customer_id", how="inner")
        joined = joined[joined[column].notna()]
        if joined.empty:
            continue
        y = joined[task].to_numpy(dtype=float)
        card = evaluate(y, joined[column].to_numpy(dtype=float), kind=TASK_KINDS[task])
        cards[task] = {k: float(v) for k, v in card.metrics.items()}
        cards[task]["n_rows"] = float(len(joined))
        if task == "churn" and radar is not None and len(radar):
            k = min(len(radar), radar_k or max(1, len(radar) // 10))
            top = radar.head(k)[["customer_id"]].merge(joined[["customer_id", task]],
                                                       on="customer_id", how="inner")
            cards[task]["radar_precision_at_k"] = (float(top[task].mean()) if len(top)
                                                   else float("nan"))
            cards[task]["radar_k"] = float(k)
    return cards


def plot_performance_history(history: pd.DataFrame, *, task: str, ax: Any = None) -> Any:
    """Realised metrics of one task over scoring dates, a line per metric (estimates dashed).

    ``history`` has :data:`HISTORY_COLUMNS` (``repurchase_ml.monitoring.performance_history``).
    Returns the matplotlib figure.
    """
    import matplotlib.pyplot as plt

    rows = history[history["task"] == task]
    if rows.empty:
        raise ValueError(f"task: no realised performance of {task!r} in the history; tasks "
                         f"there: {sorted(history['task'].unique())}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for metric, part in rows.groupby("metric", sort=True):
        part = part.sort_values("scored_at")
        when = pd.to_datetime(part["scored_at"])
        line = ax.plot(when, part["realised"], marker="o", label=f"{metric}")[0]
        if part["estimated"].notna().any():
            ax.plot(when, part["estimated"], linestyle="--", color=line.get_color(),
                    label=f"{metric} (estimated)")
    ax.set(xlabel="scoring date", ylabel="value", title=f"{task}: realised performance")
    ax.legend(fontsize="small")
    fig.autofmt_xdate()
    return fig
