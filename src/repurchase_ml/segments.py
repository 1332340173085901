"""Customer segments over the feature table: RFM, lifecycle, behaviour clusters, value x risk.

Every function here is a plain function of a feature table as returned by
:func:`repurchase_ml.features.build_features` (columns ``customer_id``,
``cutoff`` and the contract's feature names). Nothing here reads events, so a
segment at a cutoff can only ever use what the features saw before it.

Recommended actions per segment live in :class:`ActionTable`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import KEY_COLUMNS
from repurchase_ml.money import money_column

__all__ = [
    "RFM_SEGMENT_RULES",
    "LIFECYCLE_STAGES",
    "rfm_scores",
    "lifecycle_stage",
    "behaviour_clusters",
    "value_risk_matrix",
    "segment_migration",
    "plot_segment_sizes",
    "plot_segment_migration",
    "ActionTable",
    "recommend_actions",
]

logger = logging.getLogger(__name__)


#: Named RFM segments on the 5-point recency (R) x frequency (F) grid. Rules are
#: checked top to bottom and the first match wins; together they cover all 25
#: cells exactly once. Scores on another scale (``bins != 5``) are mapped onto
#: 1..5 first. Monetary (M) is reported beside them but does not name a segment,
#: following the usual R x F grid of e-commerce CRM practice.
RFM_SEGMENT_RULES = pd.DataFrame(
    [
        ("champions", 5, 5, 4, 5, "bought recently, buy often"),
        ("loyal", 3, 4, 4, 5, "buy often, fairly recent"),
        ("potential loyalists", 4, 5, 2, 3, "recent, a few orders already"),
        ("new", 5, 5, 1, 1, "first order very recently"),
        ("promising", 4, 4, 1, 1, "recent first-timers"),
        ("need attention", 3, 3, 3, 3, "middle of the road on both"),
        ("about to sleep", 3, 3, 1, 2, "few orders, recency slipping"),
        ("can't lose", 1, 2, 5, 5, "used to buy the most, gone quiet"),
        ("at risk", 1, 2, 3, 4, "bought often, long ago"),
        ("hibernating", 2, 2, 1, 2, "few orders, long ago"),
        ("lost", 1, 1, 1, 2, "few orders, longest ago"),
    ],
    columns=["segment", "r_min", "r_max", "f_min", "f_max", "description"],
)

#: Lifecycle stages in the order they are decided (first match wins).
LIFECYCLE_STAGES = ("prospect", "churned", "new", "at_risk", "reactivated", "active")


def _require(frame: pd.DataFrame, columns: Iterable[str], *, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"features: expected a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            missing[0],
            f"{what} needs columns {list(columns)}; missing {missing}",
            fix="pass the table returned by build_features (or add the columns)",
        )


def _group_keys(features: pd.DataFrame) -> pd.Series:
    """Cutoff of each row (a single group when the table has no cutoff column)."""
    if "cutoff" in features.columns:
        return features["cutoff"]
    return pd.Series(0, index=features.index)


def _quantile_score(values: pd.Series, groups: pd.Series, *, bins: int, ascending: bool) -> pd.Series:
    """Score 1..bins by rank within each group; ties share the lower score, NaN stays NaN."""
    v = values if ascending else -values
    rank = v.groupby(groups).rank(method="min")
    n = v.notna().groupby(groups).transform("sum")
    score = np.floor((rank - 1) / n * bins) + 1
    return score.clip(upper=bins).astype("Float64")


def rfm_scores(
    features: pd.DataFrame,
    *,
    bins: int = 5,
    recency: str = "days_since_last_purchase",
    frequency: str = "orders_all",
    monetary: str | None = None,
    rules: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Recency, frequency and monetary scores (1..``bins``) and a named segment.

    Scores are rank quantiles within each cutoff among customers with at least
    one purchase: ``score = floor((rank - 1) / n * bins) + 1`` with ties taking
    the lowest rank, so tied customers always share a score (most one-time
    buyers get F = 1). Recency is scored the other way round (fewer days since
    the last purchase = higher R). Customers without a purchase get no scores
    and the segment ``"no purchase"``.

    Parameters
    ----------
    features : DataFrame
        Feature table with ``customer_id``, ``cutoff`` and the three columns.
    bins : int, default 5
        Number of score levels per dimension.
    recency, frequency, monetary : str
        Columns used for R, F and M; ``monetary`` defaults to net revenue
        (``net_revenue_all``, or ``revenue_all`` in a table without it).
    rules : DataFrame, optional
        Segment rules shaped like :data:`RFM_SEGMENT_RULES` (on the 1..5 scale).

    Returns
    -------
    DataFrame
        ``customer_id``, ``cutoff``, ``r_score``, ``f_score``, ``m_score``,
        ``rfm_score`` (e.g. ``"545"``) and ``segment``; same row order as
        ``features``.

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": [1, 2, 3, 4, 5],
    ...                   "cutoff": pd.Timestamp("2024-01-01"),
    ...                   "days_since_last_purchase": [5.0, 40, 100, 200, 300],
    ...                   "orders_all": [9.0, 4, 2, 1, 1],
    ...                   "revenue_all": [900.0, 300, 80, 20, 10]})
    >>> rfm_scores(f)[["rfm_score", "segment"]].values.tolist()
    [['555', 'champions'], ['444', 'loyal'], ['333', 'need attention'], ['212', 'hibernating'], ['111', 'lost']]
    """
    if monetary is None:
        monetary = money_column(features)
    _require(features, [recency, frequency, monetary], what="rfm_scores")
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins: expected an integer >= 2, got {bins!r}.")
    groups = _group_keys(features)
    buyer = features[frequency].fillna(0) > 0
    out = features[[c for c in KEY_COLUMNS if c in features.columns]].copy()
    for name, col, asc in (("r_score", recency, False), ("f_score", frequency, True),
                           ("m_score", monetary, True)):
        values = features[col].astype(float).where(buyer)
        out[name] = _quantile_score(values, groups, bins=bins, ascending=asc)
    code = (out["r_score"] * 100 + out["f_score"] * 10 + out["m_score"]).astype("Int64")
    out["rfm_score"] = code.astype(str).where(code.notna(), "no purchase").astype(object)
    out["segment"] = _name_segments(out["r_score"], out["f_score"], bins=bins, rules=rules)
    return out


def _name_segments(r: pd.Series, f: pd.Series, *, bins: int, rules: pd.DataFrame | None) -> pd.Series:
    table = RFM_SEGMENT_RULES if rules is None else rules
    _require(table, ["segment", "r_min", "r_max", "f_min", "f_max"], what="RFM segment rules")
    r5 = ((r.astype(float) - 1) * 5 // bins + 1).to_numpy()
    f5 = ((f.astype(float) - 1) * 5 // bins + 1).to_numpy()
    names = np.full(len(r), None, dtype=object)
    for rule in table.itertuples(index=False):
        hit = (names == None) & (r5 >= rule.r_min) & (r5 <= rule.r_max)  # noqa: E711
        hit &= (f5 >= rule.f_min) & (f5 <= rule.f_max)
        names[hit] = rule.segment
    names[np.isnan(r5)] = "no purchase"
    unnamed = pd.isna(pd.Series(names))
    if unnamed.any():
        raise ValueError(
            f"rules: {int(unnamed.sum())} customers match no RFM segment rule "
            f"(e.g. R={r5[unnamed.to_numpy()][0]:.0f}, F={f5[unnamed.to_numpy()][0]:.0f}); "
            "make the rules cover the whole 5 x 5 grid."
        )
    return pd.Series(names, index=r.index, dtype=object)


def lifecycle_stage(
    features: pd.DataFrame,
    *,
    new_days: float = 30.0,
    at_risk_ratio: float = 1.5,
    churn_ratio: float = 3.0,
    churn_days: float = 365.0,
    reactivation_days: float = 90.0,
) -> pd.Series:
    """Lifecycle stage of each customer at the cutoff, relative to their own rhythm.

    The customer's expected gap is their median gap between purchase days
    (``gap_median_days``: several invoices on one day never make a 0-day
    gap); for customers with one purchase day it is the median of that
    column among the others at the same cutoff. ``overdue = days since last
    purchase / expected gap``. Purchase days are ``purchase_days_all`` when
    the frame has it, else ``orders_all``. Rules, first match wins:

    ==============  ==========================================================
    prospect        no purchase yet
    churned         overdue >= ``churn_ratio`` or no purchase in ``churn_days``
    new             exactly one purchase day, within ``new_days``
    at_risk         overdue >= ``at_risk_ratio`` (sleeping)
    reactivated     came back: ordered in the last ``reactivation_days`` after
                    a silence from then back to ``churn_days`` (needs
                    ``orders_{reactivation_days}d`` and ``orders_{churn_days}d``)
    active          everyone else
    ==============  ==========================================================

    Parameters
    ----------
    features : DataFrame
        Needs ``days_since_last_purchase``, ``days_since_first_purchase``,
        ``orders_all`` and ``gap_median_days``; reads ``purchase_days_all``
        when present (as ``build_features`` gives it).
    new_days, at_risk_ratio, churn_ratio, churn_days, reactivation_days : float
        Thresholds of the rules above.

    Returns
    -------
    Series
        One of :data:`LIFECYCLE_STAGES` per row, index of ``features``.

    Examples
    --------
    >>> f = pd.DataFrame({"days_since_last_purchase": [10.0, 70, 400, 5, 20, np.nan],
    ...                   "days_since_first_purchase": [300.0, 300, 700, 5, 600, np.nan],
    ...                   "orders_all": [8.0, 8, 3, 1, 4, 0],
    ...                   "gap_median_days": [30.0, 30, 60, np.nan, 40, np.nan],
    ...                   "orders_90d": [1.0, 0, 0, 1, 1, 0],
    ...                   "orders_365d": [6.0, 5, 0, 1, 1, 0]})
    >>> lifecycle_stage(f).tolist()
    ['active', 'at_risk', 'churned', 'new', 'reactivated', 'prospect']
    """
    need = ["days_since_last_purchase", "days_since_first_purchase", "orders_all", "gap_median_days"]
    _require(features, need, what="lifecycle_stage")
    for name, value in (("new_days", new_days), ("at_risk_ratio", at_risk_ratio),
                        ("churn_ratio", churn_ratio), ("churn_days", churn_days)):
        if not value > 0:
            raise ValueError(f"{name}: expected a positive number, got {value!r}.")
    if not at_risk_ratio < churn_ratio:
        raise ValueError(
            f"at_risk_ratio ({at_risk_ratio}) must be below churn_ratio ({churn_ratio})."
        )
    since = features["days_since_last_purchase"].astype(float)
    orders = features["orders_all"].fillna(0).astype(float)
    days = features["purchase_days_all"].fillna(0).astype(float) \
        if "purchase_days_all" in features.columns else orders
    gap = features["gap_median_days"].astype(float)
    population_gap = gap.where(days >= 2).groupby(_group_keys(features)).transform("median")
    expected = gap.fillna(population_gap).clip(lower=1.0)
    overdue = since / expected
    stage = np.full(len(features), "active", dtype=object)
    recent_col, year_col = f"orders_{reactivation_days:g}d", f"orders_{churn_days:g}d"
    if recent_col in features.columns and year_col in features.columns:
        recent = features[recent_col].fillna(0).to_numpy()
        year = features[year_col].fillna(0).to_numpy()
        came_back = (recent > 0) & (year == recent) & (orders.to_numpy() > year)
        stage[came_back] = "reactivated"
    else:
        logger.info("lifecycle_stage: %s or %s missing; no customer is marked reactivated",
                    recent_col, year_col)
    stage[(overdue >= at_risk_ratio).to_numpy()] = "at_risk"
    is_new = (days == 1) & (features["days_since_first_purchase"] <= new_days)
    stage[is_new.to_numpy()] = "new"
    stage[((overdue >= churn_ratio) | (since > churn_days)).to_numpy()] = "churned"
    stage[(orders <= 0).to_numpy() | since.isna().to_numpy()] = "prospect"
    return pd.Series(stage, index=features.index, name="lifecycle_stage")


DEFAULT_CLUSTER_COLUMNS = (
    "days_since_last_purchase",
    "days_since_first_purchase",
    "orders_365d",
    "revenue_365d",
    "orders_all",
    "revenue_all",
    "gap_median_days",
    "overdue_ratio",
    "refund_rate",
    "views_30d",
    "carts_30d",
    "favorites_30d",
)


#: rows on which the silhouette of each candidate k is computed
SILHOUETTE_SAMPLE = 2_000


def behaviour_clusters(
    features: pd.DataFrame,
    *,
    k: int | None = None,
    k_range: Sequence[int] = range(2, 9),
    columns: Sequence[str] | None = None,
    sample_size: int = 5_000,
    random_state: int | None = 0,
) -> pd.DataFrame:
    """Behaviour clusters (K-Means on scaled features), each described in words.

    Columns are log-transformed when non-negative (counts, money and days are
    heavy-tailed), missing values set to the column median, then standardised.
    When ``k`` is None it is the value in ``k_range`` with the highest
    silhouette score on a random sample of 2,000 rows; the centres are then
    fitted on ``sample_size`` rows and every row is assigned to the nearest. Each cluster
    is described by the two or three features whose cluster median sets it
    furthest apart from everyone (in standard deviations of the scaled
    feature), quoting the cluster's mean against everyone's mean, e.g.
    ``"high orders 365d (8 vs 3); low days since last purchase (12 vs 90)"``.

    Parameters
    ----------
    features : DataFrame
        Feature table; rows are clustered together regardless of cutoff.
    k : int, optional
        Number of clusters; chosen by silhouette when None.
    k_range : sequence of int
        Candidates for ``k``.
    columns : sequence of str, optional
        Behaviour columns; default: those of ``DEFAULT_CLUSTER_COLUMNS`` present
        and not all missing.
    sample_size : int
        Rows used to choose ``k`` and fit the centres (all rows are assigned).
    random_state : int or None
        Seed of the sample and of K-Means.

    Returns
    -------
    DataFrame
        ``cluster`` (int, 0 = largest) and ``cluster_description`` per row,
        index of ``features``; ``.attrs["k"]`` and ``.attrs["silhouette"]``
        record the choice.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> f = pd.DataFrame({"orders_all": np.r_[rng.poisson(1, 50), rng.poisson(20, 50)] + 1.0,
    ...                   "days_since_last_purchase": np.r_[rng.uniform(100, 300, 50),
    ...                                                     rng.uniform(1, 20, 50)]})
    >>> out = behaviour_clusters(f, random_state=0)
    >>> out.attrs["k"], sorted(out["cluster"].value_counts().tolist())
    (2, [50, 50])
    """
    from threadpoolctl import threadpool_limits

    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features: expected a pandas DataFrame, got {type(features).__name__}.")
    if columns is None:
        columns = [c for c in DEFAULT_CLUSTER_COLUMNS
                   if c in features.columns and features[c].notna().any()]
        if not columns:
            raise SchemaError(None, f"behaviour_clusters found none of {list(DEFAULT_CLUSTER_COLUMNS)}",
                              fix="pass columns=[...] naming numeric behaviour features")
    _require(features, columns, what="behaviour_clusters")
    if len(features) < 3:
        raise ValueError(f"features: behaviour_clusters needs at least 3 rows, got {len(features)}.")
    raw = features[list(columns)].astype(float)
    x = raw.copy()
    for c in x.columns:
        if (x[c].dropna() >= 0).all():
            x[c] = np.log1p(x[c])
    x = x.fillna(x.median()).fillna(0.0)
    std = x.std(ddof=0).replace(0.0, 1.0)
    z = ((x - x.mean()) / std).to_numpy()
    if k is not None and (not isinstance(k, int) or k < 1 or k > len(z)):
        raise ValueError(f"k: expected an integer between 1 and {len(z)}, got {k!r}.")
    rng = np.random.default_rng(random_state)
    sample = z if len(z) <= sample_size else z[rng.choice(len(z), sample_size, replace=False)]
    # K-Means on a few thousand rows is fastest on one thread; OpenMP threads on a busy
    # machine made it 40x slower in measurements
    with threadpool_limits(limits=1, user_api="openmp"):
        k, silhouette, model = _fit_kmeans(sample, k, k_range, random_state)
    labels = model.predict(z)
    # renumber by size so that cluster 0 is the largest (stable across runs)
    sizes = np.bincount(labels, minlength=k)
    order = np.argsort(-sizes, kind="stable")
    relabel = np.empty(k, dtype=int)
    relabel[order] = np.arange(k)
    labels = relabel[labels]
    words = _describe_clusters(raw, z, labels, k)
    out = pd.DataFrame({"cluster": labels, "cluster_description": [words[i] for i in labels]},
                       index=features.index)
    out.attrs.update({"k": int(k), "silhouette": silhouette, "columns": list(columns)})
    return out


def _fit_kmeans(sample: np.ndarray, k: int | None, k_range: Sequence[int],
                random_state: int | None) -> tuple[int, float | None, Any]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    silhouette: float | None = None
    if k is None:
        # k is chosen on a smaller sample: silhouette costs the square of its size
        probe = sample[: min(len(sample), SILHOUETTE_SAMPLE)]
        best: tuple[float, int] | None = None
        for cand in k_range:
            if cand >= len(probe):
                continue
            labels = KMeans(cand, n_init=2, random_state=random_state).fit_predict(probe)
            if len(set(labels)) < 2:
                continue
            score = float(silhouette_score(probe, labels))
            logger.debug("behaviour_clusters: k=%d silhouette=%.3f", cand, score)
            if best is None or score > best[0]:
                best = (score, cand)
        if best is None:
            raise ValueError(f"k_range: no candidate in {list(k_range)} fits {len(sample)} rows.")
        silhouette, k = best
    model = KMeans(k, n_init=4, random_state=random_state).fit(sample)
    return int(k), silhouette, model


def _describe_clusters(raw: pd.DataFrame, z: np.ndarray, labels: np.ndarray, k: int) -> list[str]:
    overall = raw.mean()
    words = []
    for i in range(k):
        member = labels == i
        shift = np.median(z[member], axis=0)
        top = np.argsort(-np.abs(shift))[:3]
        parts = []
        for j in top:
            if abs(shift[j]) < 0.25:
                continue
            col = raw.columns[j]
            mean = raw.loc[member, col].mean()
            parts.append(f"{'high' if shift[j] > 0 else 'low'} {col.replace('_', ' ')} "
                         f"({_fmt(mean)} vs {_fmt(overall[col])})")
        words.append("; ".join(parts) or "close to typical")
    return words


def _fmt(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:,.2g}"


def value_risk_matrix(
    predicted_ltv: pd.Series | np.ndarray,
    churn_probability: pd.Series | np.ndarray,
    *,
    value_quantiles: tuple[float, float] = (0.5, 0.8),
    risk_thresholds: tuple[float, float] = (0.3, 0.6),
) -> pd.DataFrame:
    """Place each customer in a value tier x churn-risk tier cell.

    Value tiers are by rank: the top 20 % of the value (the radar passes
    ``value_if_retained``, which does not price in churn risk; predicted LTV
    does) is ``high``, the next 30 % ``medium``, the rest ``low``
    (``value_quantiles``). Risk tiers
    are by probability: below 0.3 ``low``, below 0.6 ``medium``, else
    ``high`` (``risk_thresholds``), so a calibrated model reads directly.

    Returns
    -------
    DataFrame
        ``value_tier``, ``risk_tier`` and ``value_risk`` (e.g.
        ``"high value, high risk"``), index of ``predicted_ltv`` when a Series.

    Examples
    --------
    >>> m = value_risk_matrix(pd.Series([10.0, 50, 500]), pd.Series([0.9, 0.5, 0.1]))
    >>> m["value_risk"].tolist()
    ['low value, high risk', 'medium value, medium risk', 'high value, low risk']
    """
    ltv = pd.Series(predicted_ltv, dtype=float)
    if isinstance(predicted_ltv, pd.Series):
        ltv.index = predicted_ltv.index
    prob = np.asarray(churn_probability, dtype=float)
    if len(prob) != len(ltv):
        raise ValueError(
            f"churn_probability: expected {len(ltv)} values (one per predicted_ltv), got {len(prob)}."
        )
    if np.any((prob < 0) | (prob > 1)):
        raise ValueError("churn_probability: expected probabilities in [0, 1].")
    lo_q, hi_q = value_quantiles
    lo_r, hi_r = risk_thresholds
    if not (0 < lo_q < hi_q < 1 and 0 < lo_r < hi_r < 1):
        raise ValueError("value_quantiles and risk_thresholds: expected two increasing numbers in (0, 1).")
    pct = ltv.rank(method="max", pct=True).to_numpy()
    value_tier = np.where(pct > hi_q, "high", np.where(pct > lo_q, "medium", "low"))
    risk_tier = np.where(prob >= hi_r, "high", np.where(prob >= lo_r, "medium", "low"))
    missing = np.isnan(pct) | np.isnan(prob)
    value_tier = np.where(missing, "unknown", value_tier)
    risk_tier = np.where(missing, "unknown", risk_tier)
    cell = [f"{v} value, {r} risk" for v, r in zip(value_tier, risk_tier, strict=True)]
    return pd.DataFrame({"value_tier": value_tier, "risk_tier": risk_tier, "value_risk": cell},
                        index=ltv.index)


def segment_migration(
    before: pd.DataFrame, after: pd.DataFrame, *, column: str = "segment", normalize: bool = False
) -> pd.DataFrame:
    """Cross-table of customers moving between segments from one cutoff to another.

    ``before`` and ``after`` hold ``customer_id`` and ``column``. A customer in
    only one of them is counted in the ``"(absent)"`` row or column rather than
    dropped.

    Examples
    --------
    >>> a = pd.DataFrame({"customer_id": [1, 2, 3], "segment": ["new", "new", "loyal"]})
    >>> b = pd.DataFrame({"customer_id": [1, 2, 4], "segment": ["loyal", "lost", "new"]})
    >>> int(segment_migration(a, b).loc["new", "loyal"])
    1
    """
    for name, frame in (("before", before), ("after", after)):
        _require(frame, ["customer_id", column], what=f"segment_migration ({name})")
        if frame["customer_id"].duplicated().any():
            raise ValueError(f"{name}: one row per customer expected (select a single cutoff first).")
    merged = before[["customer_id", column]].merge(
        after[["customer_id", column]], on="customer_id", how="outer", suffixes=("_before", "_after")
    )
    table = pd.crosstab(
        merged[f"{column}_before"].fillna("(absent)"),
        merged[f"{column}_after"].fillna("(absent)"),
        normalize="index" if normalize else False,
    )
    table.index.name, table.columns.name = "before", "after"
    return table


def plot_segment_sizes(
    segments: pd.Series, *, value: pd.Series | None = None, title: str = "Segments"
) -> Any:
    """Bar chart of customers per segment and, when ``value`` is given, value per segment.

    Returns a matplotlib Figure (closed, so a notebook shows it once).

    Examples
    --------
    >>> seg = pd.Series(["loyal", "new", "new", "lost"])
    >>> fig = plot_segment_sizes(seg, value=pd.Series([90.0, 10, 20, 5], name="revenue"))
    >>> type(fig).__name__, [ax.get_xlabel() for ax in fig.axes]
    ('Figure', ['customers', 'revenue'])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['new', 'loyal', 'lost']
    """
    import matplotlib.pyplot as plt

    counts = segments.value_counts()
    ncols = 1 if value is None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 0.35 * len(counts) + 1.5), squeeze=False)
    axes[0, 0].barh(counts.index.astype(str), counts.to_numpy(), color="#4C72B0")
    axes[0, 0].invert_yaxis()
    axes[0, 0].set_xlabel("customers")
    axes[0, 0].set_title(title)
    if value is not None:
        total = pd.Series(np.asarray(value, dtype=float), index=segments.index).groupby(segments).sum()
        total = total.reindex(counts.index)
        axes[0, 1].barh(total.index.astype(str), total.to_numpy(), color="#DD8452")
        axes[0, 1].invert_yaxis()
        axes[0, 1].set_xlabel(value.name if isinstance(value, pd.Series) and value.name else "value")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_segment_migration(before: pd.DataFrame, after: pd.DataFrame, *, column: str = "segment") -> Any:
    """Heatmap of :func:`segment_migration` (share of each row's customers); a matplotlib Figure.

    Examples
    --------
    >>> a = pd.DataFrame({"customer_id": [1, 2, 3], "segment": ["new", "new", "loyal"]})
    >>> b = pd.DataFrame({"customer_id": [1, 2, 3], "segment": ["loyal", "lost", "loyal"]})
    >>> fig = plot_segment_migration(a, b)
    >>> type(fig).__name__, [t.get_text() for t in fig.axes[0].texts]
    ('Figure', ['0%', '100%', '50%', '50%'])
    """
    import matplotlib.pyplot as plt

    table = segment_migration(before, after, column=column, normalize=True)
    fig, ax = plt.subplots(figsize=(1 + 0.7 * table.shape[1], 1 + 0.5 * table.shape[0]))
    im = ax.imshow(table.to_numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(table.shape[1]), table.columns.astype(str), rotation=45, ha="right")
    ax.set_yticks(range(table.shape[0]), table.index.astype(str))
    ax.set_xlabel("after")
    ax.set_ylabel("before")
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            ax.text(j, i, f"{table.iat[i, j]:.0%}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="share of the row")
    fig.tight_layout()
    plt.close(fig)
    return fig


# ---------------------------------------------------------------------------
# actions


_ANY = "*"
#: keys of a rule that describe it rather than test a column
_RULE_FIELDS = ("action_id", "action", "priority", "channel", "description")


@dataclass(frozen=True)
class ActionTable:
    """Rules mapping a customer's segment, stage or value-risk cell to an action.

    Each rule has an ``action_id``, an ``action`` (text for the CRM team; a
    packaged ``action_id`` may leave it out and gets the message catalogue's
    words, :mod:`repurchase_ml.i18n`) and
    conditions on columns of the radar: a list of allowed values (e.g.
    ``lifecycle_stage: [new]``) or a numeric range written as ``<column>_min`` /
    ``<column>_max``. Rules are tried in order; the first whose conditions all
    hold wins; a rule on a column the table does not have never matches. The
    last rule should have no conditions (the fallback).

    Build with :meth:`default`, :meth:`from_yaml` or :meth:`from_frame`.

    Examples
    --------
    >>> t = ActionTable.from_frame(pd.DataFrame({
    ...     "action_id": ["nudge", "none"], "action": ["send a nudge", "no action"],
    ...     "lifecycle_stage": ["new", None]}))
    >>> t.recommend(pd.DataFrame({"lifecycle_stage": ["new", "active"]}))["action_id"].tolist()
    ['nudge', 'none']
    """

    rules: tuple[Mapping[str, Any], ...]

    @classmethod
    def default(cls) -> ActionTable:
        """The packaged defaults (``repurchase_ml/actions.yaml``)."""
        text = resources.files("repurchase_ml").joinpath("actions.yaml").read_text(encoding="utf-8")
        return cls._from_yaml_text(text, source="repurchase_ml/actions.yaml")

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ActionTable:
        """Load rules from a YAML file with a top-level ``rules:`` list."""
        with open(path, encoding="utf-8") as fh:
            return cls._from_yaml_text(fh.read(), source=str(path))

    @classmethod
    def _from_yaml_text(cls, text: str, *, source: str) -> ActionTable:
        import yaml

        data = yaml.safe_load(text)
        if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
            raise ValueError(f"{source}: expected a mapping with a 'rules:' list of rules.")
        rules = []
        for i, rule in enumerate(data["rules"]):
            if not isinstance(rule, dict):
                raise ValueError(f"{source}: rule {i} must be a mapping, got {type(rule).__name__}.")
            flat = {k: v for k, v in rule.items() if k != "when"}
            when = rule.get("when") or {}
            if not isinstance(when, dict):
                raise ValueError(f"{source}: rule {i} 'when' must be a mapping of column -> values.")
            flat.update(when)
            rules.append(flat)
        return cls._checked(rules, source=source)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> ActionTable:
        """One rule per row; a missing cell means "any"; ``"a|b"`` means one of."""
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame: expected a pandas DataFrame, got {type(frame).__name__}.")
        rules = []
        for row in frame.to_dict(orient="records"):
            rule = {}
            for key, value in row.items():
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                if isinstance(value, str) and "|" in value and key not in ("action", "action_id"):
                    value = value.split("|")
                rule[key] = value
            rules.append(rule)
        return cls._checked(rules, source="frame")

    @classmethod
    def _checked(cls, rules: list[dict[str, Any]], *, source: str) -> ActionTable:
        if not rules:
            raise ValueError(f"{source}: the action table has no rules.")
        from repurchase_ml import i18n

        for i, rule in enumerate(rules):
            for key in ("action_id", "action"):
                if key == "action" and "action" not in rule and isinstance(
                        rule.get("action_id"), str) and i18n.has(f"action.{rule['action_id']}"):
                    continue  # a packaged action: its words come from the message catalogues
                if not isinstance(rule.get(key), str) or not rule[key]:
                    raise ValueError(f"{source}: rule {i} needs a non-empty text '{key}'.")
            for key, value in rule.items():
                if key.endswith(("_min", "_max")) and not isinstance(value, int | float):
                    raise ValueError(f"{source}: rule {i} '{key}' must be a number, got {value!r}.")
        return cls(rules=tuple(rules))

    @classmethod
    def resolve(cls, table: ActionTable | pd.DataFrame | str | os.PathLike[str] | None) -> ActionTable:
        """An ActionTable from any accepted form: itself, a DataFrame, a YAML path, or None."""
        if table is None:
            return cls.default()
        if isinstance(table, ActionTable):
            return table
        if isinstance(table, pd.DataFrame):
            return cls.from_frame(table)
        if isinstance(table, str | os.PathLike):
            return cls.from_yaml(table)
        raise TypeError(
            "action_table: expected an ActionTable, a DataFrame, a YAML path or None, "
            f"got {type(table).__name__}."
        )

    @property
    def columns(self) -> list[str]:
        """Columns the rules look at, in first-use order."""
        out: list[str] = []
        for rule in self.rules:
            for key in rule:
                if key in _RULE_FIELDS:
                    continue
                col = key[:-4] if key.endswith(("_min", "_max")) else key
                if col not in out:
                    out.append(col)
        return out

    def to_frame(self) -> pd.DataFrame:
        """The rules as a DataFrame (lists joined with ``|``), ready for :meth:`from_frame`."""
        rows = [{k: "|".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()}
                for r in self.rules]
        return pd.DataFrame(rows)

    def recommend(self, frame: pd.DataFrame, *, language: str = "en") -> pd.DataFrame:
        """``action_id`` and ``action`` for every row of ``frame`` (index kept).

        ``action`` is the rule's own text, or for a rule without one (the
        packaged table) the catalogue's words for its ``action_id`` in
        ``language`` (``en`` or ``zh``). A row matching no rule gets ``"none"``
        / ``"no rule matched"``.
        """
        from repurchase_ml import i18n

        i18n.check_language(language)
        n = len(frame)
        chosen = np.full(n, -1)
        skipped: set[str] = set()
        for i, rule in enumerate(self.rules):
            mask = chosen < 0
            for key, value in rule.items():
                if key in _RULE_FIELDS:
                    continue
                col = key[:-4] if key.endswith(("_min", "_max")) else key
                if col not in frame.columns:
                    skipped.add(col)
                    mask &= False
                    break
                values = frame[col]
                if key.endswith("_min"):
                    mask &= (values.astype(float) >= value).to_numpy()
                elif key.endswith("_max"):
                    mask &= (values.astype(float) <= value).to_numpy()
                else:
                    allowed = value if isinstance(value, list) else [value]
                    if _ANY not in allowed:
                        mask &= values.isin(allowed).to_numpy()
            chosen[mask] = i
        if skipped:
            logger.info("action rules on absent columns never match: %s", sorted(skipped))
        ids = [self.rules[i]["action_id"] if i >= 0 else "none" for i in chosen]
        words = [self.rules[i].get("action") or i18n.label("action", self.rules[i]["action_id"],
                                                           language)
                 for i in range(len(self.rules))] + [i18n.label("action", "none", language)]
        text = [words[i] for i in chosen]  # -1: the last entry, no rule matched
        return pd.DataFrame({"action_id": ids, "action": text}, index=frame.index)


def recommend_actions(frame: pd.DataFrame, *, action_table: ActionTable | pd.DataFrame | str
                      | os.PathLike[str] | None = None, language: str = "en") -> pd.DataFrame:
    """Recommended ``action_id`` and ``action`` per row, from an action table.

    Parameters
    ----------
    frame : DataFrame
        Rows with the columns the rules look at (``segment``,
        ``lifecycle_stage``, ``value_risk``, ``value_tier``, ``risk_tier``,
        features ...), e.g. the radar.
    action_table : ActionTable, DataFrame, path to YAML, or None
        None uses :meth:`ActionTable.default`.
    language : {"en", "zh"}, default "en"
        Language of the packaged actions' words (see :meth:`ActionTable.recommend`).

    Examples
    --------
    >>> r = pd.DataFrame({"segment": ["champions", "champions"],
    ...                   "lifecycle_stage": ["active", "at_risk"],
    ...                   "value_tier": ["high", "medium"], "risk_tier": ["low", "low"]})
    >>> recommend_actions(r)["action_id"].tolist()   # low risk: no win-back coupon
    ['nurture', 'early_access']
    """
    table = ActionTable.resolve(action_table)
    return table.recommend(frame, language=language)
