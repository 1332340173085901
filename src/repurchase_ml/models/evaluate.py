"""Scorecards: one tidy set of metrics and tables per (task, scorer) on the same rows.

``evaluate(y_true, y_score, kind=...)`` returns a :class:`Scorecard`: a dict of
scalar metrics (ready for ``mlflow.log_metrics``) and a dict of small tables
(calibration or error by decile), ready for a notebook.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    roc_auc_score,
    root_mean_squared_error,
)

__all__ = [
    "KINDS",
    "PRIMARY_METRICS",
    "SIMPLICITY",
    "choose_by_metric",
    "TOP_FRACTIONS",
    "Scorecard",
    "calibration_table",
    "evaluate",
    "expected_calibration_error",
    "gain_curve",
    "normalized_gini",
    "scorecards_to_frame",
]

KINDS = ("classification", "count", "ltv")

#: the metric each task's scorers are chosen and promoted by (higher is better for all)
PRIMARY_METRICS: dict[str, str] = {"repurchase": "roc_auc", "churn": "roc_auc",
                                   "second_purchase": "roc_auc", "order_count": "spearman",
                                   "ltv": "normalized_gini"}

#: scorers from simplest to most complex: a tie on the primary metric goes to the earlier one
SIMPLICITY = ("rfm", "run_rate", "bgnbd", "bgnbd_gg", "lightgbm", "hybrid", "blend")
TOP_FRACTIONS = (0.05, 0.10, 0.20)

# probabilities are clipped to [_EPS, 1 - _EPS] before log loss, so a score of exactly 0 or 1
# costs a large but finite penalty
_EPS = 1e-15


@dataclass(frozen=True)
class Scorecard:
    """Metrics of one scorer on one set of rows.

    Attributes
    ----------
    kind : str
        ``"classification"``, ``"count"`` or ``"ltv"``.
    n_rows : int
        Rows scored.
    metrics : dict of str to float
        Scalar metrics (names are stable; see :func:`evaluate`).
    tables : dict of str to pandas.DataFrame
        ``"deciles"``: calibration (classification) or error (count, LTV) by
        decile of the score, highest scores in decile 1.
    """

    kind: str
    n_rows: int
    metrics: dict[str, float]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        return self.metrics[name]


def expected_calibration_error(y_true: Any, y_prob: Any, *, n_bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins.

    The row-weighted mean of ``|mean predicted - observed rate|`` across
    ``n_bins`` bins of width ``1 / n_bins``.

    Examples
    --------
    >>> expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5])
    0.0
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.1, 0.6, 0.6]), 3)
    0.25
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(y_prob, dtype=float)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in np.unique(bins):
        mask = bins == b
        total += mask.sum() * abs(p[mask].mean() - y[mask].mean())
    return float(total / len(y))


def normalized_gini(y_true: Any, y_score: Any) -> float:
    """Gini of ``y_score`` as a ranking of ``y_true``, divided by the perfect ranking's Gini.

    1 means the score orders rows exactly as the outcome does, 0 means no
    better than random. Ties in the score are broken by the original order.

    Examples
    --------
    >>> normalized_gini([0, 0, 10, 30], [0.1, 0.2, 0.5, 0.9])
    1.0
    >>> round(normalized_gini([0, 0, 10, 30], [0.9, 0.5, 0.2, 0.1]), 3)
    -1.0
    """
    y = np.asarray(y_true, dtype=float)

    def gini(score: np.ndarray) -> float:
        order = np.argsort(-score, kind="stable")
        cum = np.cumsum(y[order]) / y.sum()
        n = len(y)
        return float(cum.sum() / n - (n + 1) / (2 * n))

    perfect = gini(y)
    if y.sum() == 0 or perfect == 0:
        return float("nan")
    return gini(np.asarray(y_score, dtype=float)) / perfect


def _deciles(y_score: np.ndarray) -> np.ndarray:
    """Decile 1..10 of each row, 1 = highest scores; ties broken by row order."""
    order = np.argsort(-y_score, kind="stable")
    ranks = np.empty(len(y_score), dtype=int)
    ranks[order] = np.arange(len(y_score))
    return (ranks * 10 // len(y_score)) + 1


def _classification(y: np.ndarray, p: np.ndarray) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    if not set(np.unique(y).tolist()) <= {0.0, 1.0}:
        raise ValueError("y_true must hold 0/1 labels for kind='classification'.")
    if (p < 0).any() or (p > 1).any():
        raise ValueError(
            "y_score must be probabilities in [0, 1] for kind='classification' "
            "(rescale a ranking score, or pass kind='count')."
        )
    both = len(np.unique(y)) == 2
    base = float(y.mean())
    metrics = {
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "log_loss": float(log_loss(y, np.clip(p, _EPS, 1 - _EPS), labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "base_rate": base,
        "mean_predicted": float(p.mean()),
    }
    order = np.argsort(-p, kind="stable")
    for frac in TOP_FRACTIONS:
        k = max(1, int(round(frac * len(y))))
        precision = float(y[order[:k]].mean())
        pct = int(round(frac * 100))
        metrics[f"precision_top{pct}"] = precision
        metrics[f"lift_top{pct}"] = precision / base if base > 0 else float("nan")
    frame = pd.DataFrame({"decile": _deciles(p), "p": p, "y": y})
    table = (
        frame.groupby("decile")
        .agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
        .reset_index()
    )
    table["lift"] = table["observed_rate"] / base if base > 0 else np.nan
    return metrics, {"deciles": table}


def _regression(y: np.ndarray, pred: np.ndarray) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
    total_actual = float(y.sum())
    total_pred = float(pred.sum())
    spearman = spearmanr(y, pred).statistic if np.ptp(y) > 0 and np.ptp(pred) > 0 else np.nan
    metrics = {
        "mae": float(mean_absolute_error(y, pred)),
        "rmse": float(root_mean_squared_error(y, pred)),
        "spearman": float(spearman),
        "normalized_gini": normalized_gini(y, pred),
        "total_actual": total_actual,
        "total_predicted": total_pred,
        "total_error_pct": (
            100.0 * (total_pred - total_actual) / total_actual if total_actual else float("nan")
        ),
        "mean_actual": float(y.mean()),
        "mean_predicted": float(pred.mean()),
    }
    frame = pd.DataFrame({"decile": _deciles(pred), "pred": pred, "y": y})
    table = (
        frame.groupby("decile")
        .agg(
            n=("y", "size"),
            mean_predicted=("pred", "mean"),
            mean_actual=("y", "mean"),
            total_predicted=("pred", "sum"),
            total_actual=("y", "sum"),
        )
        .reset_index()
    )
    table["error_pct"] = np.where(
        table["total_actual"] != 0,
        100.0 * (table["total_predicted"] - table["total_actual"])
        / table["total_actual"].where(table["total_actual"] != 0, np.nan),
        np.nan,
    )
    table["share_of_actual"] = table["total_actual"] / total_actual if total_actual else np.nan
    return metrics, {"deciles": table}


def evaluate(y_true: Any, y_score: Any, *, kind: str) -> Scorecard:
    """Score predictions against outcomes.

    Parameters
    ----------
    y_true : array-like
        Outcomes: 0/1 for ``kind="classification"``, counts or revenue otherwise.
    y_score : array-like
        Predictions on the same rows: probabilities of class 1, expected
        counts or expected revenue.
    kind : {"classification", "count", "ltv"}
        Which metric family.

    Returns
    -------
    Scorecard
        ``classification``: ``roc_auc``, ``pr_auc``, ``log_loss``, ``brier``,
        ``ece`` (10 equal-width bins), ``base_rate``, ``mean_predicted``,
        ``precision_top{5,10,20}`` and ``lift_top{5,10,20}`` (precision over
        base rate), table ``deciles`` (n, mean predicted, observed rate, lift).
        ``count`` / ``ltv``: ``mae``, ``rmse``, ``spearman``,
        ``normalized_gini``, ``total_actual``, ``total_predicted``,
        ``total_error_pct`` (100 x (predicted - actual) / actual),
        ``mean_actual``, ``mean_predicted``, table ``deciles`` (totals and
        error by decile of the prediction). Metrics that are undefined on
        these rows (AUC with one class) are NaN.

    Examples
    --------
    >>> card = evaluate([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], kind="classification")
    >>> card.metrics["roc_auc"], card.n_rows
    (0.75, 4)
    >>> evaluate([0, 2, 1], [0.5, 1.5, 1.0], kind="count")["total_error_pct"]
    0.0
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(y_score, dtype=float)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(
            f"y_true and y_score must be 1-D and of the same length, got shapes {y.shape} "
            f"and {s.shape}."
        )
    if len(y) == 0:
        raise ValueError("y_true is empty; evaluate needs at least one row.")
    for name, arr in (("y_true", y), ("y_score", s)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"{name} has {int(bad.sum())} missing or infinite values; score only the "
                "rows where both outcome and prediction exist."
            )
    metrics, tables = _classification(y, s) if kind == "classification" else _regression(y, s)
    return Scorecard(kind=kind, n_rows=len(y), metrics=metrics, tables=tables)


def choose_by_metric(values: dict[str, float], *, tolerance: float = 1e-3) -> str:
    """The scorer with the highest metric; within ``tolerance`` of it, the simplest one.

    Simplicity follows :data:`SIMPLICITY` (unknown names count as the most
    complex); NaN values never win.

    Examples
    --------
    >>> choose_by_metric({"lightgbm": 0.7205, "rfm": 0.7200, "bgnbd": 0.65})
    'rfm'
    >>> choose_by_metric({"lightgbm": 0.75, "rfm": 0.72})
    'lightgbm'
    """
    finite = {k: v for k, v in values.items() if np.isfinite(v)}
    if not finite:
        raise ValueError(f"values: no scorer has a finite metric ({values}); there is nothing "
                         "to choose between (does the validation cutoff hold both classes?).")
    best = max(finite.values())
    near = [k for k, v in finite.items() if v >= best - tolerance]
    rank = {name: i for i, name in enumerate(SIMPLICITY)}
    return min(near, key=lambda k: (rank.get(k, len(rank)), -finite[k]))


def scorecards_to_frame(cards: dict[str, Scorecard]) -> pd.DataFrame:
    """One wide table: a row per metric, a column per scorer.

    Examples
    --------
    >>> a = evaluate([0, 1], [0.2, 0.7], kind="classification")
    >>> b = evaluate([0, 1], [0.6, 0.4], kind="classification")
    >>> scorecards_to_frame({"model": a, "rfm": b}).loc["roc_auc"].tolist()
    [1.0, 0.0]
    """
    return pd.DataFrame({name: pd.Series(card.metrics) for name, card in cards.items()})


# ---------------------------------------------------------------------------
# curves shared by the report and the MLflow run plots


def gain_curve(y_true: Sequence[float], y_score: Sequence[float]) -> pd.DataFrame:
    """Cumulative gain: share of the total outcome captured by the top-scored customers.

    Customers are ranked by ``y_score`` (highest first, ties broken by input
    order). Works for a binary outcome (share of positives found) and for a
    non-negative amount such as orders or revenue (share of the total).

    Returns
    -------
    pandas.DataFrame
        ``population_share`` (0..1, starting at 0), ``gain`` (0..1) and
        ``lift`` (gain / population share; NaN at 0).

    Examples
    --------
    >>> g = gain_curve([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1])
    >>> g["gain"].tolist()
    [0.0, 0.5, 0.5, 1.0, 1.0]
    >>> float(g["lift"].iloc[1])
    2.0
    """
    y, s = _paired_arrays(y_true, y_score)
    if np.any(y < 0):
        raise ValueError(
            "y_true must be non-negative (a 0/1 outcome or an amount) for a gain curve."
        )
    order = np.argsort(-s, kind="mergesort")
    captured = np.concatenate([[0.0], np.cumsum(y[order])])
    total = captured[-1]
    gain = captured / total if total > 0 else np.full_like(captured, np.nan)
    pop = np.arange(len(y) + 1) / len(y)
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(pop > 0, gain / np.where(pop > 0, pop, 1.0), np.nan)
    return pd.DataFrame({"population_share": pop, "gain": gain, "lift": lift})


def calibration_table(
    y_true: Sequence[float], y_score: Sequence[float], *, n_bins: int = 10
) -> pd.DataFrame:
    """Mean prediction against mean outcome in equal-size bins of the prediction.

    Returns
    -------
    pandas.DataFrame
        ``bin`` (1 = lowest predictions), ``n``, ``mean_predicted``,
        ``mean_actual``.

    Examples
    --------
    >>> t = calibration_table([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], n_bins=2)
    >>> t[["n", "mean_predicted", "mean_actual"]].to_numpy().tolist()
    [[2.0, 0.15000000000000002, 0.0], [2.0, 0.8, 1.0]]
    """
    if not isinstance(n_bins, int) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    y, s = _paired_arrays(y_true, y_score)
    order = np.argsort(s, kind="mergesort")
    bins = np.empty(len(s), dtype=int)
    bins[order] = (np.arange(len(s)) * min(n_bins, len(s))) // len(s)
    frame = pd.DataFrame({"bin": bins + 1, "pred": s, "actual": y})
    out = frame.groupby("bin").agg(
        n=("pred", "size"), mean_predicted=("pred", "mean"), mean_actual=("actual", "mean")
    )
    out["n"] = out["n"].astype(float)
    return out.reset_index()


def _paired_arrays(
    y_true: Sequence[float], y_score: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float)
    s = np.asarray(y_score, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(
            f"y_true and y_score must be 1-D and the same length, got {y.shape} and {s.shape}."
        )
    if len(y) == 0:
        raise ValueError("y_true and y_score are empty; pass at least one row.")
    if np.isnan(y).any() or np.isnan(s).any():
        raise ValueError(
            "y_true and y_score must not contain NaN; keep only rows in the task's population."
        )
    return y, s
