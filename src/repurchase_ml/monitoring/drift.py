"""Drift at scoring time: this week's rows against a summary of the model's training rows.

The reference is a :class:`DriftReference`: per column, bin edges (quantiles
of the training rows for numbers, the category set for labels) and the count
of training rows in each bin at each training cutoff, missing values counted
in a bin of their own. It is small (no raw rows) and travels with the model.

:func:`drift_report` bins the rows scored at an as-of date with the same
edges and compares them with the newest training cutoff, column by column:

- ``psi``: population stability index over the bins of the present values
  (a column missing on most rows, such as the order value of the last 90
  days, would otherwise hide a shift of its values);
- ``js_distance``: Jensen-Shannon distance (base 2, in [0, 1]) over the same bins;
- ``wasserstein``: for numbers, the Wasserstein distance between the binned
  distributions (CDFs compared between the outer edges), divided by the
  reference's interquartile range, so it reads "shift in IQRs";
- ``missing_reference`` / ``missing_current``: share of missing values;
- ``new_category_share``: for labels, share of rows with a value the training
  rows never had.

Thresholds, and why
-------------------
A column is flagged when one of these holds:

- its PSI is at least ``psi`` (default 0.2, the usual "significant shift"
  line: below 0.1 is noise, 0.1-0.2 moderate) **and** larger than the
  column's *natural drift*: the largest PSI it showed between two training
  cutoffs at most as far apart as the as-of date is from the newest one. Some
  columns move by themselves: tenure and days since the last purchase grow
  as the customer base ages, and 7- and 30-day counts swing with the
  season and its promotion days. The natural drift is what such a column
  does in the training data over the same distance in time, seasons
  included; a column is flagged only when it moves more than that, and
  when its PSI against every training cutoff (``psi_nearest``, the most
  similar one: a February for rows scored in February) is at least ``psi``
  too: rows like some the model was trained on are not drift;
- its share of missing values changed by at least ``missing`` (default 0.05)
  and by more than it changed naturally over the same distance;
- at least ``new_category`` (default 1 %) of its rows hold a category the
  training rows never had.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> train = pd.DataFrame({"cutoff": np.repeat(pd.to_datetime(["2024-01-01", "2024-02-01"]), 500),
...                       "spend": rng.gamma(2.0, 10.0, 1000)})
>>> ref = summarise_reference(train, groups={"spend": "feature"})
>>> now = pd.DataFrame({"spend": rng.gamma(2.0, 10.0, 500) * 2})
>>> table = drift_report(ref, now, as_of="2024-03-01")
>>> flagged_columns(table), bool(table.loc[0, "psi"] > 0.2)
(['spend'], True)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DriftThresholds",
    "ColumnSummary",
    "DriftReference",
    "summarise_reference",
    "drift_report",
    "flagged_columns",
    "DRIFT_COLUMNS",
    "GROUPS",
]

logger = logging.getLogger(__name__)

#: what a monitored column is: a model input, a model output, or a customer segment
GROUPS = ("feature", "score", "segment")
#: columns of :func:`drift_report`, in order
DRIFT_COLUMNS = ("column", "group", "kind", "reference_cutoff", "n_reference", "n_current",
                 "psi", "natural_psi", "psi_nearest", "js_distance", "wasserstein", "missing_reference",
                 "missing_current", "natural_missing_change", "new_category_share", "flagged",
                 "reason")
# half a month of slack on the as-of distance when choosing training cutoff pairs
_LAG_SLACK_DAYS = 16.0


@dataclass(frozen=True)
class DriftThresholds:
    """When a column counts as drifted (see the module notes for the defaults and why).

    Examples
    --------
    >>> DriftThresholds().psi, DriftThresholds(psi=0.25).psi
    (0.2, 0.25)
    """

    psi: float = 0.2
    missing: float = 0.05
    new_category: float = 0.01

    def __post_init__(self) -> None:
        for name in ("psi", "missing", "new_category"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"drift threshold {name} must be a number >= 0, got {value!r}")


@dataclass
class ColumnSummary:
    """One column of the reference: its bins and the training rows in each, per cutoff.

    ``counts[i, b]`` is the number of rows of training cutoff ``i`` in bin
    ``b``; the last bin holds missing values. Numeric bins are
    ``(-inf, e0], (e0, e1], ..., (e_last, inf)``; categorical bins are the
    ``categories`` in order, then "other" (a value training never had), then missing.
    """

    kind: str
    counts: np.ndarray
    edges: np.ndarray = field(default_factory=lambda: np.empty(0))
    categories: list[str] = field(default_factory=list)
    iqr: float = float("nan")


@dataclass
class DriftReference:
    """Summary of a model's training rows: per column, bins and counts per training cutoff."""

    cutoffs: list[pd.Timestamp]
    columns: dict[str, ColumnSummary]
    groups: dict[str, str]
    #: per probability task, the isotonic map from score to observed rate on the newest
    #: labelled out-of-time rows (``performance.fit_calibration``), for the estimates
    calibration: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows (column, group, cutoff, bin, count): what the summary holds, for a look.

        Examples
        --------
        >>> train = pd.DataFrame({"cutoff": pd.to_datetime(["2024-01-01"] * 4),
        ...                       "x": [1.0, 2.0, np.nan, 4.0]})
        >>> int(summarise_reference(train, groups={"x": "feature"}, bins=2).to_frame()["count"].sum())
        4
        """
        rows = []
        for name, col in self.columns.items():
            labels = (_numeric_bin_labels(col.edges) if col.kind == "numeric"
                      else [*col.categories, "(other)"]) + ["(missing)"]
            for i, cutoff in enumerate(self.cutoffs):
                rows += [{"column": name, "group": self.groups[name], "cutoff": cutoff,
                          "bin": label, "count": int(n)}
                         for label, n in zip(labels, col.counts[i], strict=True)]
        return pd.DataFrame(rows)


def _numeric_bin_labels(edges: np.ndarray) -> list[str]:
    bounds = ["-inf", *[f"{e:.4g}" for e in edges], "inf"]
    return [f"({lo}, {hi}]" for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _quantile_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges: quantiles, refined above a heavy atom (e.g. most counts are 0).

    Examples
    --------
    >>> _quantile_edges(np.array([0.0] * 95 + [1.0, 2.0, 3.0, 4.0, 5.0]), 4)
    array([0.        , 2.33333333, 3.66666667])
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.empty(0)
    levels = np.linspace(0, 1, bins + 1)[1:-1]
    edges = np.unique(np.quantile(finite, levels))
    if edges.size < bins - 1:  # a value holds many rows: split what lies above it too
        above = finite[finite > edges[-1]]
        if above.size:
            more = np.quantile(above, np.linspace(0, 1, bins - edges.size + 1)[1:-1])
            edges = np.unique(np.concatenate([edges, more]))
    return edges.astype(float)


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="left"),
                         minlength=edges.size + 1)
    return np.append(counts, missing.sum())


def _category_counts(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    missing = values.isna().to_numpy()
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        values = values.astype(str)  # categories are kept as text
    codes = pd.Categorical(values[~missing], categories=list(categories)).codes
    codes = np.where(codes < 0, len(categories), codes)  # "other": a value training never had
    counts = np.bincount(codes, minlength=len(categories) + 1)
    return np.append(counts, missing.sum())


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def summarise_reference(
    frame: pd.DataFrame,
    *,
    groups: Mapping[str, str],
    cutoff_column: str = "cutoff",
    bins: int = 10,
) -> DriftReference:
    """Summarise training rows for drift: per column, bin edges and counts per cutoff.

    Parameters
    ----------
    frame : pandas.DataFrame
        Training rows: ``cutoff_column`` and every column named in ``groups``.
    groups : mapping of column to group
        Each monitored column and what it is (one of :data:`GROUPS`).
    bins : int, default 10
        Quantile bins per numeric column (fewer where values repeat).

    Examples
    --------
    >>> train = pd.DataFrame({"cutoff": pd.to_datetime(["2024-01-01"] * 3 + ["2024-02-01"] * 3),
    ...                       "stage": ["new", "active", "new", "active", "active", None]})
    >>> ref = summarise_reference(train, groups={"stage": "segment"})
    >>> ref.columns["stage"].categories, ref.columns["stage"].counts.tolist()
    (['active', 'new'], [[1, 2, 0, 0], [2, 0, 0, 1]])
    """
    if cutoff_column not in frame:
        raise ValueError(f"frame: no {cutoff_column!r} column; pass the training rows with "
                         "their cutoff (build_training_set output)")
    if not isinstance(bins, int) or bins < 2:
        raise ValueError(f"bins must be an int >= 2, got {bins!r}")
    missing = [c for c in groups if c not in frame]
    if missing:
        raise ValueError(f"frame lacks monitored column(s) {missing}; pass rows holding them")
    for name, group in groups.items():
        if group not in GROUPS:
            raise ValueError(f"groups[{name!r}]: expected one of {GROUPS}, got {group!r}")
    cut = pd.to_datetime(frame[cutoff_column]).to_numpy()
    cutoffs = sorted(pd.unique(cut))
    masks = [cut == c for c in cutoffs]
    columns: dict[str, ColumnSummary] = {}
    for name in groups:
        series = frame[name]
        if _is_numeric(series):
            values = series.to_numpy(dtype=float)
            edges = _quantile_edges(values, bins)
            finite = values[np.isfinite(values)]
            q1, q3 = np.quantile(finite, [0.25, 0.75]) if finite.size else (np.nan, np.nan)
            spread = q3 - q1 if q3 > q1 else (np.ptp(finite) if finite.size else np.nan)
            counts = np.stack([_numeric_counts(values[m], edges) for m in masks])
            columns[name] = ColumnSummary("numeric", counts, edges=edges,
                                          iqr=float(spread) if spread else float("nan"))
        else:
            categories = sorted(series.dropna().astype(str).unique().tolist())
            counts = np.stack([_category_counts(series[m], categories) for m in masks])
            columns[name] = ColumnSummary("categorical", counts, categories=categories)
    return DriftReference(cutoffs=[pd.Timestamp(c) for c in cutoffs], columns=columns,
                          groups=dict(groups))


def _shares(counts: np.ndarray) -> np.ndarray:
    """Bin shares with half a row added to every bin, so an empty bin keeps PSI finite."""
    counts = np.asarray(counts, dtype=float) + 0.5
    return counts / counts.sum(axis=-1, keepdims=True)


def _psi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    p, q = _shares(a), _shares(b)
    return np.sum((q - p) * np.log(q / p), axis=-1)


def _js_distance(a: np.ndarray, b: np.ndarray) -> float:
    p, q = _shares(a), _shares(b)
    m = (p + q) / 2
    div = 0.5 * np.sum(p * np.log2(p / m)) + 0.5 * np.sum(q * np.log2(q / m))
    return float(np.sqrt(max(div, 0.0)))


def _wasserstein(a: np.ndarray, b: np.ndarray, edges: np.ndarray, scale: float) -> float:
    """Wasserstein distance of the binned distributions between the outer edges, in ``scale``s."""
    if edges.size < 2 or not scale > 0:
        return float("nan")
    fa = np.cumsum(a[:-1])[:-1] / max(a[:-1].sum(), 1)  # CDF at each inner edge
    fb = np.cumsum(b[:-1])[:-1] / max(b[:-1].sum(), 1)
    gaps = np.diff(edges)
    gap_mass = (np.abs(fa[:-1] - fb[:-1]) + np.abs(fa[1:] - fb[1:])) / 2
    return float(np.sum(gap_mass * gaps) / scale)


def _missing_share(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=-1)
    return np.divide(counts[..., -1], total, out=np.zeros_like(total), where=total > 0)


def _natural_pairs(cutoffs: Sequence[pd.Timestamp], lag_days: float) -> list[tuple[int, int]]:
    """Pairs of training cutoffs at most as far apart as the as-of date is from the newest one.

    Every pair no farther apart than ``lag_days`` (or than the closest pair,
    when the as-of date is nearer than that), with half a month of slack: a
    column that swings within a season (a new-year dip) swings between some
    such pair. None with fewer than two cutoffs.

    Examples
    --------
    >>> cuts = list(pd.date_range("2023-01-01", periods=4, freq="MS"))
    >>> _natural_pairs(cuts, 40)
    [(0, 1), (1, 2), (2, 3)]
    >>> len(_natural_pairs(cuts, 70))
    5
    """
    days = np.array([pd.Timestamp(c).value for c in cutoffs], dtype=float) / 86_400e9
    pairs = [(i, j) for i in range(len(days)) for j in range(i + 1, len(days))]
    if not pairs:
        return []
    gaps = np.array([days[j] - days[i] for i, j in pairs])
    reach = max(float(lag_days), float(gaps.min())) + _LAG_SLACK_DAYS
    return [p for p, g in zip(pairs, gaps, strict=True) if g <= reach]


def drift_report(
    reference: DriftReference,
    current: pd.DataFrame | Mapping[str, Any],
    *,
    as_of: Any,
    thresholds: DriftThresholds | None = None,
) -> pd.DataFrame:
    """Compare the rows scored at ``as_of`` with the reference, one row per monitored column.

    Parameters
    ----------
    reference : DriftReference
        From :func:`summarise_reference` (the served model carries one).
    current : pandas.DataFrame or mapping of column to array
        The scored rows: every column of the reference (features, scores, segments).
    as_of : date
        The scoring date: how far it is from the newest training cutoff sets
        which training cutoffs give each column's natural drift.
    thresholds : DriftThresholds, optional

    Returns
    -------
    pandas.DataFrame
        Columns :data:`DRIFT_COLUMNS`, flagged rows first (largest PSI first), then the rest.
    """
    thresholds = thresholds or DriftThresholds()
    if not isinstance(thresholds, DriftThresholds):
        raise TypeError(f"thresholds must be a DriftThresholds, got {type(thresholds).__name__}")
    missing = [c for c in reference.columns if c not in current]
    if missing:
        raise ValueError(f"current rows lack monitored column(s) {missing[:10]}; pass the "
                         "scored rows with the model's features, scores and segments")
    as_of = pd.Timestamp(as_of)
    newest = len(reference.cutoffs) - 1
    lag = (as_of - reference.cutoffs[newest]) / pd.Timedelta(days=1)
    pairs = _natural_pairs(reference.cutoffs, lag)
    first = np.array([i for i, _ in pairs], dtype=int)
    second = np.array([j for _, j in pairs], dtype=int)
    rows = []
    for name, col in reference.columns.items():
        values = current[name]
        if col.kind == "numeric":
            now = _numeric_counts(pd.to_numeric(pd.Series(values), errors="coerce")
                                  .to_numpy(dtype=float), col.edges)
        else:
            now = _category_counts(pd.Series(values), col.categories)
        ref = col.counts[newest]
        # PSI over the present values: a column missing on most rows (AOV of the last 90 days)
        # would otherwise hide a shift of its values; the missing share is checked on its own
        psi = float(_psi(ref[:-1], now[:-1]))
        natural = (float(np.max(_psi(col.counts[first, :-1], col.counts[second, :-1])))
                   if pairs else 0.0)
        # the training cutoff most like today's rows (a February for a February)
        nearest = float(np.min(_psi(col.counts[:, :-1], now[None, :-1])))
        miss_ref, miss_now = float(_missing_share(ref)), float(_missing_share(now))
        natural_miss = (float(np.max(np.abs(_missing_share(col.counts[first])
                                            - _missing_share(col.counts[second]))))
                        if pairs else 0.0)
        new_share = (float(now[-2] / max(now.sum(), 1)) if col.kind == "categorical"
                     else float("nan"))
        reasons = []
        if psi >= thresholds.psi and psi > natural and nearest >= thresholds.psi:
            reasons.append(f"PSI {psi:.2f} >= {thresholds.psi:g}, above its natural drift "
                           f"{natural:.2f}, and {nearest:.2f} from the most similar training "
                           "cutoff")
        change = abs(miss_now - miss_ref)
        if change >= thresholds.missing and change > natural_miss:
            reasons.append(f"missing share {miss_ref:.1%} -> {miss_now:.1%}")
        if new_share >= thresholds.new_category:
            reasons.append(f"{new_share:.1%} of rows hold a category training never had")
        rows.append({
            "column": name, "group": reference.groups[name], "kind": col.kind,
            "reference_cutoff": reference.cutoffs[newest], "n_reference": int(ref.sum()),
            "n_current": int(now.sum()), "psi": psi, "natural_psi": natural,
            "psi_nearest": nearest,
            "js_distance": _js_distance(ref[:-1], now[:-1]),
            "wasserstein": (_wasserstein(ref, now, col.edges, col.iqr)
                            if col.kind == "numeric" else float("nan")),
            "missing_reference": miss_ref, "missing_current": miss_now,
            "natural_missing_change": natural_miss, "new_category_share": new_share,
            "flagged": bool(reasons), "reason": "; ".join(reasons),
        })
    table = pd.DataFrame(rows, columns=list(DRIFT_COLUMNS))
    table = table.sort_values(["flagged", "psi"], ascending=[False, False], kind="stable")
    return table.reset_index(drop=True)


def flagged_columns(table: pd.DataFrame, *, group: str | None = None) -> list[str]:
    """Names of the flagged columns of a :func:`drift_report` table (of one ``group``).

    Examples
    --------
    >>> flagged_columns(pd.DataFrame({"column": ["a", "b"], "group": ["feature", "score"],
    ...                               "flagged": [True, True]}), group="score")
    ['b']
    """
    keep = table["flagged"].astype(bool)
    if group is not None:
        keep &= table["group"] == group
    return table.loc[keep, "column"].tolist()
