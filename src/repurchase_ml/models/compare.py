"""Paired bootstrap comparisons of two scorers on the same rows.

One number says little on a shared test window: "0.741 against 0.735" may be
noise. :func:`paired_bootstrap` resamples the test rows with replacement,
scores both scorers on every resample and reports the difference with a
percentile interval. Because both scorers see the same resampled rows, the
interval is that of the *difference* (much tighter than two separate
intervals when the scorers agree on most rows).

Metrics are the ranking metrics a primary metric may be: ``roc_auc``,
``pr_auc``, ``normalized_gini``, ``spearman`` and ``lift_top10``, and ``mean``
of per-row values a ranker earned (hit@k, NDCG@k); higher is better for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

__all__ = ["BOOTSTRAP_METRICS", "BootstrapComparison", "paired_bootstrap", "compare_to_reference"]


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    pos = y > 0.5
    n1 = int(pos.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        return np.nan
    ranks = rankdata(s)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


class _ResampledAUC:
    """ROC-AUC of bootstrap resamples from row counts, without sorting each resample.

    The scores' tie groups are found once; a resample is its count per row, and
    its AUC is the Mann-Whitney statistic over groups (ties count a half), equal
    to :func:`_auc` on the resampled rows (rank sums with average ranks).
    """

    def __init__(self, y: np.ndarray, s: np.ndarray) -> None:
        self.pos = y > 0.5
        _, self.group = np.unique(s, return_inverse=True)
        self.n_groups = int(self.group.max()) + 1 if s.size else 0

    def __call__(self, counts: np.ndarray) -> float:
        w_pos = np.where(self.pos, counts, 0).astype(np.float64)
        w_neg = counts - w_pos
        p = np.bincount(self.group, weights=w_pos, minlength=self.n_groups)
        q = np.bincount(self.group, weights=w_neg, minlength=self.n_groups)
        n1, n0 = p.sum(), q.sum()
        if n1 == 0 or n0 == 0:
            return np.nan
        below = np.cumsum(q) - q  # negatives with a lower score
        return float((p * (below + 0.5 * q)).sum() / (n1 * n0))


def _pr_auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    if y.min() == y.max():
        return np.nan
    return float(average_precision_score(y > 0.5, s))


def _gini(y: np.ndarray, s: np.ndarray) -> float:
    from repurchase_ml.models.evaluate import normalized_gini

    return float(normalized_gini(y, s))


def _spearman(y: np.ndarray, s: np.ndarray) -> float:
    ry, rs = rankdata(y), rankdata(s)
    if ry.std() == 0 or rs.std() == 0:
        return np.nan
    return float(np.corrcoef(ry, rs)[0, 1])


def _lift_top10(y: np.ndarray, s: np.ndarray) -> float:
    base = y.mean()
    if base <= 0:
        return np.nan
    k = max(int(np.ceil(0.1 * y.size)), 1)
    top = np.argsort(-s, kind="stable")[:k]
    return float(y[top].mean() / base)


def _mean(y: np.ndarray, s: np.ndarray) -> float:
    """Mean of per-row values already scored (a hit at k, an NDCG): ``y`` is not read."""
    return float(s.mean())


def _mean_top20(y: np.ndarray, s: np.ndarray) -> float:
    """Mean outcome of the top 20 % by score: e.g. true incremental value per customer
    targeted when the budget reaches a fifth of them."""
    k = max(int(np.ceil(0.2 * y.size)), 1)
    return float(y[np.argsort(-s, kind="stable")[:k]].mean())


#: metric name -> function(y_true, score) -> float (higher is better); ``mean`` compares
#: per-row values such as hit@k of two rankers on the same customers
BOOTSTRAP_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": _auc,
    "pr_auc": _pr_auc,
    "normalized_gini": _gini,
    "spearman": _spearman,
    "lift_top10": _lift_top10,
    "mean": _mean,
    "mean_top20": _mean_top20,
}


@dataclass(frozen=True)
class BootstrapComparison:
    """Scorer ``a`` against scorer ``b`` on the same rows.

    Attributes
    ----------
    metric : str
    a, b : float
        The metric of each scorer on all rows.
    difference : float
        ``a - b`` on all rows.
    low, high : float
        Percentile interval of the difference over the resamples.
    level : float
        Coverage of the interval (0.95 = 95 %).
    n_rows, n_boot : int
    """

    metric: str
    a: float
    b: float
    difference: float
    low: float
    high: float
    level: float
    n_rows: int
    n_boot: int

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for tables and MLflow)."""
        return asdict(self)

    def __str__(self) -> str:
        pct = round(100 * self.level)
        return (f"{self.metric}: {self.a:.3f} vs {self.b:.3f}, difference "
                f"{self.difference:+.3f} [{self.low:+.3f}, {self.high:+.3f}] ({pct} % interval, "
                f"{self.n_boot} paired resamples of {self.n_rows:,} rows)")


def _as_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: every value must be finite; drop rows a scorer cannot score "
                         "before comparing (the comparison must be on the same rows).")
    return arr


def paired_bootstrap(
    y_true: Any,
    score_a: Any,
    score_b: Any,
    *,
    metric: str = "roc_auc",
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
) -> BootstrapComparison:
    """Difference of ``metric`` between two scorers, with a paired bootstrap interval.

    Parameters
    ----------
    y_true : array-like
        Outcomes (0/1 for classification metrics, amounts or counts otherwise).
    score_a, score_b : array-like
        Scores of the two scorers for the same rows, in the same order.
    metric : str, default "roc_auc"
        One of :data:`BOOTSTRAP_METRICS`.
    n_boot : int, default 1000
        Number of resamples.
    level : float, default 0.95
        Coverage of the percentile interval.
    random_state : int, default 0

    Returns
    -------
    BootstrapComparison

    Examples
    --------
    A scorer that sees the outcome through less noise is reliably ahead:

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 2000)
    >>> better, worse = y + rng.normal(0, 1, 2000), y + rng.normal(0, 2, 2000)
    >>> cmp = paired_bootstrap(y, better, worse, n_boot=200)
    >>> cmp.difference > 0 and cmp.low > 0
    True
    >>> paired_bootstrap(y, better, better, n_boot=50).high
    0.0
    """
    if metric not in BOOTSTRAP_METRICS:
        raise ValueError(f"metric: expected one of {sorted(BOOTSTRAP_METRICS)}, got {metric!r}.")
    if not 0 < level < 1:
        raise ValueError(f"level: expected a coverage between 0 and 1 (e.g. 0.95), got {level!r}.")
    if int(n_boot) < 10:
        raise ValueError(f"n_boot: expected at least 10 resamples, got {n_boot!r}.")
    y = _as_array(y_true, "y_true")
    a = _as_array(score_a, "score_a")
    b = _as_array(score_b, "score_b")
    if not (y.size == a.size == b.size):
        raise ValueError(f"y_true, score_a and score_b must have the same length, got "
                         f"{y.size}, {a.size} and {b.size}.")
    if y.size < 2:
        raise ValueError("y_true: need at least 2 rows to compare scorers.")
    fn = BOOTSTRAP_METRICS[metric]
    rng = np.random.default_rng(random_state)
    diffs = np.empty(int(n_boot))
    if metric == "roc_auc":  # the same resamples, scored from counts (linear, no sort)
        auc_a, auc_b = _ResampledAUC(y, a), _ResampledAUC(y, b)
        for i in range(int(n_boot)):
            counts = np.bincount(rng.integers(0, y.size, y.size), minlength=y.size)
            diffs[i] = auc_a(counts) - auc_b(counts)
    else:
        for i in range(int(n_boot)):
            idx = rng.integers(0, y.size, y.size)
            diffs[i] = fn(y[idx], a[idx]) - fn(y[idx], b[idx])
    diffs = diffs[np.isfinite(diffs)]
    tail = (1.0 - level) / 2.0
    low, high = (np.quantile(diffs, [tail, 1.0 - tail]) if diffs.size else (np.nan, np.nan))
    va, vb = fn(y, a), fn(y, b)
    return BootstrapComparison(metric=metric, a=va, b=vb, difference=va - vb, low=float(low),
                               high=float(high), level=float(level), n_rows=int(y.size),
                               n_boot=int(n_boot))


def compare_to_reference(
    y_true: Any,
    scores: Mapping[str, Any],
    *,
    reference: str,
    metric: str = "roc_auc",
    n_boot: int = 1000,
    level: float = 0.95,
    random_state: int = 0,
) -> pd.DataFrame:
    """Every scorer against one reference scorer, each with a paired interval.

    Returns one row per scorer other than ``reference``: ``scorer``,
    ``metric``, ``value``, ``reference_value``, ``difference``, ``low``,
    ``high``. All comparisons reuse the same resampled rows (same seed).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 2, 500)
    >>> table = compare_to_reference(y, {"model": y + rng.normal(0, 1, 500),
    ...                                  "rule": rng.normal(0, 1, 500)},
    ...                              reference="rule", n_boot=100)
    >>> table["scorer"].tolist(), bool(table["low"].iloc[0] > 0)
    (['model'], True)
    """
    if reference not in scores:
        raise ValueError(f"reference: {reference!r} is not one of the scorers {list(scores)}.")
    rows = []
    for name, score in scores.items():
        if name == reference:
            continue
        cmp = paired_bootstrap(y_true, score, scores[reference], metric=metric, n_boot=n_boot,
                               level=level, random_state=random_state)
        rows.append({"scorer": name, "metric": metric, "value": cmp.a,
                     "reference_value": cmp.b, "difference": cmp.difference,
                     "low": cmp.low, "high": cmp.high})
    return pd.DataFrame(rows, columns=["scorer", "metric", "value", "reference_value",
                                       "difference", "low", "high"])
