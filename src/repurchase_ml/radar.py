"""The about-to-churn radar: who, why, how much is at stake and what to do.

:func:`churn_radar` builds features at an as-of date with the same code as in
training, scores them with a model bundle and hands over to
:func:`radar_from_scores`, which a scoring job can call directly with scores
it already has. :func:`write_radar` writes the list as CSV and Parquet.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._io import atomic_write, write_frame_atomic
from repurchase_ml.errors import SchemaError, format_examples
from repurchase_ml.explain import contributions, reasons, typical_values
from repurchase_ml.segments import (
    RFM_SEGMENT_RULES,
    ActionTable,
    behaviour_clusters,
    lifecycle_stage,
    rfm_scores,
    value_risk_matrix,
)

__all__ = ["RADAR_COLUMNS", "alive_mask", "churn_radar", "radar_from_scores", "write_radar"]

logger = logging.getLogger(__name__)

ALIVE_DAYS = 365
N_REASONS = 3

#: Columns of the radar, in order (``reason_*`` may be missing for rows below ``explain_top``).
RADAR_COLUMNS = (
    "rank", "customer_id", "cutoff", "churn_probability", "repurchase_probability",
    "predicted_ltv", "value_at_risk", "segment", "rfm_score", "lifecycle_stage", "cluster",
    "cluster_description", "value_tier", "risk_tier", "value_risk",
    *(f"reason_{i}" for i in range(1, N_REASONS + 1)),
    "action_id", "action", "days_since_last_purchase", "orders_all", "revenue_all",
)  # fmt: skip

_SCORE_COLUMNS = ("churn_probability", "predicted_ltv")


def _task_model(bundle: Any, task: str) -> Any | None:
    models = getattr(bundle, "models", None)
    if isinstance(models, Mapping):
        return models.get(task)
    return None


def churn_radar(
    bundle: Any,
    events: pd.DataFrame,
    *,
    as_of: str | pd.Timestamp,
    spec: Any = None,
    top_k: int | None = None,
    min_value: float | None = None,
    segments: Sequence[str] | None = None,
    explain_top: int | None = 50_000,
    action_table: ActionTable | pd.DataFrame | str | os.PathLike[str] | None = None,
    cluster_k: int | None = None,
    rank_by: str = "value_at_risk",
    random_state: int | None = 0,
) -> pd.DataFrame:
    """The about-to-churn list at ``as_of``, ranked by value at risk.

    Features are built from events before ``as_of`` with the bundle's feature
    spec, scored with ``bundle.predict`` and turned into the list by
    :func:`radar_from_scores` (see there for the columns and filters). Reasons
    come from the bundle's churn model.

    Parameters
    ----------
    bundle : ModelBundle
        Trained models with at least the churn and LTV tasks.
    events : DataFrame
        Canonical event log.
    as_of : str or Timestamp
        The date the list speaks for (required; never guessed from the data).
    spec : FeatureSpec, optional
        The feature spec the bundle was trained with (default ``FeatureSpec()``).
    top_k, min_value, segments, explain_top, action_table, cluster_k, rank_by, random_state
        See :func:`radar_from_scores`.

    Returns
    -------
    DataFrame
        The radar (:data:`RADAR_COLUMNS`).

    Examples
    --------
    >>> from repurchase_ml import (build_training_set, make_event_log, propose_cutoffs,
    ...                            train_models)
    >>> events, _ = make_event_log(300, "2022-01-01", "2024-01-01", random_state=0)
    >>> h = {"churn": 90, "ltv": 90}
    >>> cuts = propose_cutoffs(events, horizon_days=90, n=10)
    >>> ts = build_training_set(events, cutoffs=cuts, tasks=list(h), horizons=h)
    >>> bundle = train_models(ts, tasks=list(h), horizons=h, n_estimators=20)
    >>> radar = churn_radar(bundle, events, as_of="2024-01-01", top_k=5)
    >>> len(radar), radar["rank"].tolist(), str(radar["cutoff"].iloc[0].date())
    (5, [1, 2, 3, 4, 5], '2024-01-01')
    >>> bool(radar["value_at_risk"].is_monotonic_decreasing)
    True
    >>> bool(np.allclose(radar["value_at_risk"],
    ...                  radar["churn_probability"] * radar["predicted_ltv"]))
    True
    >>> bool(radar["reason_1"].notna().all())
    True
    """
    from repurchase_ml.features import build_features

    if as_of is None:
        raise ValueError("as_of: required; pass the date the list speaks for, e.g. '2024-06-01'.")
    cutoff = pd.Timestamp(as_of)
    if cutoff.tzinfo is not None:
        raise ValueError(f"as_of: expected a naive timestamp (wall clock of the log), got {as_of!r}.")
    if not callable(getattr(bundle, "predict", None)):
        raise TypeError(f"bundle: expected a ModelBundle with predict(features), "
                        f"got {type(bundle).__name__}.")
    t0 = time.perf_counter()
    features = build_features(events, cutoffs=[cutoff], spec=spec)
    logger.info("churn_radar: features for %d customers in %.1fs", len(features),
                time.perf_counter() - t0)
    scores = bundle.predict(features)
    return radar_from_scores(
        scores, features=features, as_of=cutoff, churn_model=_task_model(bundle, "churn"),
        top_k=top_k, min_value=min_value, segments=segments, explain_top=explain_top,
        action_table=action_table, cluster_k=cluster_k, rank_by=rank_by,
        random_state=random_state,
    )


def _check_scores(scores: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores: expected a pandas DataFrame, got {type(scores).__name__}.")
    need = ["customer_id", *_SCORE_COLUMNS]
    missing = [c for c in need if c not in scores.columns]
    if missing:
        raise SchemaError(missing[0], f"scores need columns {need}; missing {missing}",
                          fix="score with a bundle trained on the churn and ltv tasks")
    if scores["customer_id"].duplicated().any():
        dup = scores.loc[scores["customer_id"].duplicated(), "customer_id"]
        raise SchemaError("customer_id", "scores must hold one row per customer (one cutoff)",
                          n_rows=len(dup), examples=dup.tolist(),
                          fix="score the features of a single cutoff")
    p = scores["churn_probability"].to_numpy(dtype=float)
    bad = ~((p >= 0) & (p <= 1))
    if bad.any():
        raise SchemaError("churn_probability", "expected probabilities in [0, 1]",
                          n_rows=int(bad.sum()), examples=p[bad].tolist(),
                          fix="pass calibrated probabilities from predict/predict_proba")
    return scores


def _single_cutoff(features: pd.DataFrame, as_of: str | pd.Timestamp | None) -> pd.Timestamp:
    if "cutoff" not in features.columns:
        raise SchemaError("cutoff", "features need a 'cutoff' column",
                          fix="pass the table returned by build_features")
    cutoffs = pd.unique(features["cutoff"])
    if len(cutoffs) == 0 and as_of is not None:  # nobody had history before as_of
        return pd.Timestamp(as_of)
    if len(cutoffs) != 1:
        raise ValueError(
            f"features: expected one cutoff, got {len(cutoffs)} "
            f"({format_examples([str(pd.Timestamp(c).date()) for c in cutoffs])}); "
            "select the rows of the as-of date."
        )
    cutoff = pd.Timestamp(cutoffs[0])
    if as_of is not None and pd.Timestamp(as_of) != cutoff:
        raise ValueError(f"as_of: {pd.Timestamp(as_of)} differs from the features' cutoff "
                         f"{cutoff}; build the features at as_of.")
    return cutoff


def alive_mask(features: pd.DataFrame, *, days: int = ALIVE_DAYS) -> pd.Series:
    """Customers with at least one purchase in the ``days`` before the cutoff.

    Uses ``orders_{days}d`` when the table has it, else ``days_since_last_purchase``.

    Examples
    --------
    >>> alive_mask(pd.DataFrame({"orders_365d": [0.0, 2.0]})).tolist()
    [False, True]
    """
    window = f"orders_{days}d"
    if window in features.columns:
        return features[window].fillna(0) > 0
    if "days_since_last_purchase" not in features.columns:
        raise SchemaError("days_since_last_purchase",
                          f"the radar needs {window!r} or 'days_since_last_purchase' to find "
                          "customers alive at the cutoff",
                          fix="build features with the rfm family on")
    return features["days_since_last_purchase"] <= days


def radar_from_scores(
    scores: pd.DataFrame,
    *,
    features: pd.DataFrame,
    as_of: str | pd.Timestamp | None = None,
    churn_model: Any | None = None,
    top_k: int | None = None,
    min_value: float | None = None,
    segments: Sequence[str] | None = None,
    explain_top: int | None = 50_000,
    action_table: ActionTable | pd.DataFrame | str | os.PathLike[str] | None = None,
    cluster_k: int | None = None,
    rank_by: str = "value_at_risk",
    random_state: int | None = 0,
    num_threads: int | None = None,
) -> pd.DataFrame:
    """The radar from features and scores already computed at one cutoff.

    Every customer alive at the cutoff (at least one purchase in the 365 days
    before it) gets: churn and repurchase probability, predicted LTV,
    ``value_at_risk = churn_probability * predicted_ltv``, RFM segment,
    lifecycle stage, behaviour cluster, value x risk cell, up to three
    reasons (for the ``explain_top`` highest rows, when ``churn_model`` is
    given) and the recommended action; ranked by value at risk (ties by
    customer id).

    Parameters
    ----------
    scores : DataFrame
        ``customer_id``, ``churn_probability``, ``predicted_ltv`` and
        optionally ``repurchase_probability`` (e.g. ``bundle.predict(features)``).
        Every alive customer must have a score.
    features : DataFrame
        The feature table at the cutoff (one cutoff).
    as_of : str or Timestamp, optional
        Checked against the features' cutoff when given.
    churn_model : fitted estimator or lightgbm.Booster, optional
        The churn model, for reasons; without it the reason columns are empty.
    top_k : int, optional
        Keep the first ``top_k`` rows after the other filters.
    min_value : float, optional
        Keep customers with ``value_at_risk >= min_value``.
    segments : sequence of str, optional
        Keep these RFM segments (names of :data:`RFM_SEGMENT_RULES`).
    explain_top : int or None, default 50_000
        Rows (from the top of the filtered list) that get reasons; None: all.
    action_table : ActionTable, DataFrame, YAML path or None
        Action rules; None uses the packaged defaults.
    cluster_k : int, optional
        Number of behaviour clusters; chosen by silhouette when None.
    rank_by : {"value_at_risk", "churn_probability"}
        Order of the list (ties by customer id). Value at risk puts valuable
        customers at moderate risk first; churn probability puts the likeliest
        leavers first, whatever their value.
    random_state : int or None
        Seed of the clustering.
    num_threads : int, optional
        LightGBM threads for the reasons (default: all cores).

    Returns
    -------
    DataFrame
        :data:`RADAR_COLUMNS`, one row per listed customer, fresh index.
        ``.attrs["timings"]`` holds seconds per step.

    Examples
    --------
    >>> f = pd.DataFrame({"customer_id": ["a", "b", "c"], "cutoff": pd.Timestamp("2024-06-01"),
    ...                   "days_since_last_purchase": [10.0, 200, 400],
    ...                   "days_since_first_purchase": [300.0, 500, 800],
    ...                   "orders_all": [6.0, 3, 2], "revenue_all": [600.0, 90, 40],
    ...                   "gap_median_days": [40.0, 100, 200]})
    >>> s = pd.DataFrame({"customer_id": ["a", "b", "c"], "churn_probability": [0.1, 0.8, 0.9],
    ...                   "predicted_ltv": [500.0, 100, 10]})
    >>> r = radar_from_scores(s, features=f, cluster_k=1)
    >>> r[["customer_id", "value_at_risk", "lifecycle_stage"]].values.tolist()
    [['b', 80.0, 'at_risk'], ['a', 50.0, 'active']]
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    _check_scores(scores)
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features: expected a pandas DataFrame, got {type(features).__name__}.")
    cutoff = _single_cutoff(features, as_of)
    if rank_by not in ("value_at_risk", "churn_probability"):
        raise ValueError(f"rank_by: expected 'value_at_risk' or 'churn_probability', "
                         f"got {rank_by!r}.")
    for name, value in (("top_k", top_k), ("explain_top", explain_top)):
        if value is not None and (not isinstance(value, int | np.integer) or value < 0):
            raise ValueError(f"{name}: expected a non-negative integer or None, got {value!r}.")
    if segments is not None:
        if isinstance(segments, str):
            segments = [segments]
        known = set(RFM_SEGMENT_RULES["segment"]) | {"no purchase"}
        unknown = [s for s in segments if s not in known]
        if unknown:
            raise ValueError(f"segments: unknown {unknown}; choose from {sorted(known)}.")

    features = features.reset_index(drop=True)
    alive = alive_mask(features).to_numpy()
    base = features.loc[alive].reset_index(drop=True)  # feature rows of the listed customers
    if "cutoff" in scores.columns and not (pd.to_datetime(scores["cutoff"]) == cutoff).all():
        raise ValueError(f"scores: rows scored at another cutoff than the features' {cutoff}; "
                         "score the features of the as-of date.")
    aligned = scores.set_index("customer_id").reindex(base["customer_id"])
    unscored = (aligned["churn_probability"].isna() | aligned["predicted_ltv"].isna()).to_numpy()
    if unscored.any():
        raise SchemaError("customer_id", "alive customers without churn_probability or "
                          "predicted_ltv in scores", n_rows=int(unscored.sum()),
                          examples=base.loc[unscored, "customer_id"].tolist(),
                          fix="score every row of the feature table")
    # the list is built on a narrow frame; feature rows are looked up only where needed
    radar = pd.DataFrame({"customer_id": base["customer_id"].to_numpy()})
    for col in ("churn_probability", "repurchase_probability", "predicted_ltv"):
        radar[col] = aligned[col].to_numpy(dtype=float) if col in aligned.columns else np.nan
    if "repurchase_probability" not in aligned.columns:
        logger.warning("radar: scores have no repurchase_probability; the column is left empty")
    radar["value_at_risk"] = radar["churn_probability"] * radar["predicted_ltv"]
    lap("scores")

    # RFM quantiles among the customers on the list (alive at the cutoff), so that the
    # long-gone customers of an old log do not push every listed customer into the top R
    rfm = rfm_scores(base)
    radar["segment"] = rfm["segment"].to_numpy()
    radar["rfm_score"] = rfm["rfm_score"].to_numpy()
    radar["lifecycle_stage"] = lifecycle_stage(base).to_numpy()
    tiers = value_risk_matrix(radar["predicted_ltv"], radar["churn_probability"])
    for col in tiers.columns:
        radar[col] = tiers[col].to_numpy()
    for col in ("days_since_last_purchase", "orders_all", "revenue_all"):
        radar[col] = base[col].to_numpy() if col in base.columns else np.nan
    lap("segments")

    if len(base) >= 3:
        clusters = behaviour_clusters(base, k=cluster_k, random_state=random_state)
        radar["cluster"] = clusters["cluster"].to_numpy()
        radar["cluster_description"] = clusters["cluster_description"].to_numpy()
    else:
        radar["cluster"] = 0
        radar["cluster_description"] = "too few customers to cluster"
    lap("clusters")

    ranked = radar.sort_values([rank_by, "customer_id"], ascending=[False, True],
                               kind="mergesort")
    keep = np.ones(len(ranked), dtype=bool)
    if segments is not None:
        keep &= ranked["segment"].isin(segments).to_numpy()
    if min_value is not None:
        keep &= (ranked["value_at_risk"] >= float(min_value)).to_numpy()
    order = ranked.index.to_numpy()[keep]
    if top_k is not None:
        order = order[: int(top_k)]
    radar = radar.take(order).reset_index(drop=True)
    radar["rank"] = np.arange(1, len(radar) + 1)
    lap("rank")

    reason_cols = [f"reason_{i}" for i in range(1, N_REASONS + 1)]
    for col in reason_cols:
        radar[col] = None
    n_explain = len(radar) if explain_top is None else min(len(radar), explain_top)
    if churn_model is not None and n_explain > 0:
        head = base.take(order[:n_explain]).reset_index(drop=True)
        contribs = contributions(churn_model, head, num_threads=num_threads)
        lap("contributions")
        typical = typical_values(base, columns=[c for c in contribs.columns if c != "bias"])
        words = reasons(contribs, head, top=N_REASONS, typical=typical)
        radar.loc[: n_explain - 1, reason_cols] = words[reason_cols].to_numpy()
        lap("reasons")
    elif churn_model is None:
        logger.info("radar: no churn model given; reasons are left empty")

    table = ActionTable.resolve(action_table)
    extra = [c for c in table.columns if c not in radar.columns and c in base.columns]
    facts = radar.assign(**{c: base[c].to_numpy()[order] for c in extra})
    radar[["action_id", "action"]] = table.recommend(facts)
    lap("actions")
    radar["cutoff"] = cutoff
    radar = radar[list(RADAR_COLUMNS)]
    radar.attrs["timings"] = timings
    logger.info("radar: %d customers listed at %s; timings %s", len(radar), cutoff.date(),
                {k: round(v, 2) for k, v in timings.items()})
    return radar


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _neutralise(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix a quote to text cells a spreadsheet would run as a formula."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or isinstance(out[col].dtype, pd.StringDtype | pd.CategoricalDtype):
            values = out[col].astype(object)
            try:
                risky = values.str.startswith(_FORMULA_START).astype("boolean").fillna(False)
            except AttributeError:  # no text in this column
                continue
            if risky.any():
                out[col] = values.where(~risky, "'" + values.astype(str))
    return out


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    """CSV through Arrow (fast); text with a quote, comma or line break is quoted."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):  # "2024-06-01 00:00:00", not nanoseconds
            seconds = pc.cast(table.column(i), pa.timestamp("s"), safe=False)
            table = table.set_column(i, field.name, pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S"))
    pcsv.write_csv(table, path, write_options=pcsv.WriteOptions(quoting_style="needed"))


def write_radar(radar: pd.DataFrame, path: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the radar atomically as ``<path>.csv`` and ``<path>.parquet``.

    A ``.csv`` or ``.parquet`` suffix on ``path`` is replaced. In the CSV, text
    cells starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
    get a leading ``'`` so that a spreadsheet shows them instead of running
    them, and text holding a quote, comma or line break is quoted (it stays
    in its cell); the Parquet file keeps the values as they are.

    Returns
    -------
    dict
        ``{"csv": Path, "parquet": Path}``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> paths = write_radar(pd.DataFrame({"customer_id": ["=1+1", "b"]}), d / "radar")
    >>> pd.read_csv(paths["csv"])["customer_id"].tolist()
    ["'=1+1", 'b']
    """
    if not isinstance(radar, pd.DataFrame):
        raise TypeError(f"radar: expected a pandas DataFrame, got {type(radar).__name__}.")
    base = Path(path)
    if base.suffix.lower() in (".csv", ".parquet"):
        base = base.with_suffix("")
    csv_path = atomic_write(base.with_name(base.name + ".csv"),
                            lambda tmp: _write_csv(_neutralise(radar), tmp))
    parquet = write_frame_atomic(radar, base.with_name(base.name + ".parquet"))
    return {"csv": csv_path, "parquet": parquet}
