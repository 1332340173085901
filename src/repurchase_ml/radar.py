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

from repurchase_ml._frames import as_pandas
from repurchase_ml._io import atomic_write, write_frame_atomic
from repurchase_ml.errors import SchemaError, format_examples
from repurchase_ml.explain import contributions, feature_directions, reasons, typical_values
from repurchase_ml.money import incremental_value, net_revenue
from repurchase_ml.segments import (
    LIFECYCLE_STAGES,
    RFM_SEGMENT_RULES,
    ActionTable,
    behaviour_clusters,
    lifecycle_stage,
    rfm_scores,
    value_risk_matrix,
)

__all__ = [
    "RADAR_COLUMNS",
    "RANK_BY",
    "alive_mask",
    "churn_radar",
    "evaluate_radar",
    "net_revenue",
    "parse_as_of",
    "radar_spec",
    "radar_from_scores",
    "radar_metrics",
    "value_if_retained",
    "value_priors",
    "write_radar",
]

logger = logging.getLogger(__name__)

ALIVE_DAYS = 365
N_REASONS = 3
#: customers whose contributions tell each feature's direction (a fixed sample of a larger
#: population; the explained top alone would show its extremes' direction)
DIRECTION_SAMPLE = 5_000
#: the churn task's default horizon: value if retained is priced over it
CHURN_HORIZON_DAYS = 90
#: orders' worth of the population's average order value mixed into a customer's own
#: (a one-order customer's value per order is half their own, half the population's)
VALUE_PRIOR_ORDERS = 1.0
#: pseudo-exposure (days) that shrinks a customer's order rate toward the population's: the
#: gamma prior's scale; BG/NBD's published CDNOW fit has alpha = 4.4 weeks (31 days)
RATE_PRIOR_DAYS = 30.0

#: feature families the radar reads beside the model's own columns: who is alive, RFM
#: segment, lifecycle stage and value if retained
RADAR_FAMILIES = ("rfm", "rhythm", "lifecycle")

#: Orders of the list: ``value_at_risk`` (churn probability x value if retained),
#: ``churn_probability``, ``value_if_retained``, ``incremental_value`` (expected incremental
#: value of the offer, with an uplift model).
RANK_BY = ("value_at_risk", "churn_probability", "value_if_retained", "incremental_value")
#: Columns added after :data:`RADAR_COLUMNS` when an uplift model scores the list
UPLIFT_COLUMNS = ("expected_uplift", "expected_incremental_value", "uplift_decision")
#: ``risk_floor`` value meaning "the mean churn probability of the listed customers"
BASE_RATE = "base_rate"

#: Columns of the radar, in order (``reason_*`` may be missing for rows below ``explain_top``).
RADAR_COLUMNS = (
    "rank", "customer_id", "cutoff", "churn_probability", "repurchase_probability",
    "predicted_ltv", "value_if_retained", "value_at_risk", "segment", "rfm_score",
    "lifecycle_stage", "cluster", "cluster_description", "value_tier", "risk_tier", "value_risk",
    *(f"reason_{i}" for i in range(1, N_REASONS + 1)),
    "action_id", "action", "days_since_last_purchase", "orders_all", "net_revenue_all",
)  # fmt: skip

_SCORE_COLUMNS = ("churn_probability",)


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
    lifecycle_stages: Sequence[str] | None = None,
    explain_top: int | None = 50_000,
    action_table: ActionTable | pd.DataFrame | str | os.PathLike[str] | None = None,
    cluster_k: int | None = None,
    rank_by: str = "value_at_risk",
    risk_floor: float | str | None = BASE_RATE,
    min_churn_probability: float | None = None,
    horizon_days: int | None = None,
    random_state: int | None = 0,
    language: str = "en",
    next_category_model: Any = None,
    uplift_model: Any = None,
    extra_features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The about-to-churn list at ``as_of``, valuable customers at risk first.

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
        The feature spec the bundle was trained with (default ``FeatureSpec()``);
        its registered custom features are computed at ``as_of``.
    extra_features : pandas or polars DataFrame, optional
        Values of your own frame features at ``as_of`` (``customer_id``,
        ``cutoff``, one column per feature), as in training.
    horizon_days : int, optional
        Horizon of value if retained; default the bundle's churn horizon (90 days).
    next_category_model : NextCategoryModel, optional
        Adds each customer's likeliest next category (default: the bundle's
        ``next_category`` model, if it has one); see :func:`radar_from_scores`.
    uplift_model : UpliftModel, optional
        Default: the bundle's ``uplift_model`` when it has one. See :func:`radar_from_scores`.
    top_k, min_value, segments, lifecycle_stages, explain_top, action_table, cluster_k, rank_by, \
risk_floor, min_churn_probability, random_state, language
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
    >>> from repurchase_ml.models.plan import TrainingMinimums
    >>> few = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=30,
    ...                        eval_positives=5, eval_negatives=5, history_days=30)
    >>> bundle = train_models(ts, tasks=list(h), horizons=h, n_estimators=20, minimums=few)
    >>> radar = churn_radar(bundle, events, as_of="2024-01-01", top_k=5)
    >>> len(radar), radar["rank"].tolist(), str(radar["cutoff"].iloc[0].date())
    (5, [1, 2, 3, 4, 5], '2024-01-01')
    >>> bool(np.allclose(radar["value_at_risk"],
    ...                  radar["churn_probability"] * radar["value_if_retained"]))
    True
    >>> bool((radar["churn_probability"] >= 0).all())
    True
    >>> bool(radar["reason_1"].notna().all())
    True
    """
    from repurchase_ml.features import build_features
    from repurchase_ml.features.custom import check_model_columns

    cutoff = parse_as_of(as_of)
    if not callable(getattr(bundle, "predict", None)):
        raise TypeError(f"bundle: expected a ModelBundle with predict(features), "
                        f"got {type(bundle).__name__}.")
    t0 = time.perf_counter()
    features = build_features(events, cutoffs=[cutoff], spec=radar_spec(spec),
                              extra_features=extra_features)
    check_model_columns(getattr(bundle, "feature_names", None) or [], features)
    logger.info("churn_radar: features for %d customers in %.1fs", len(features),
                time.perf_counter() - t0)
    scores = bundle.predict(features)
    if horizon_days is None:
        horizon_days = _churn_horizon(bundle)
    next_model = (next_category_model if next_category_model is not None
                  else _task_model(bundle, "next_category"))
    next_categories = None if next_model is None else next_model.predict(events, as_of=cutoff,
                                                                        top_k=1)
    return radar_from_scores(
        scores, features=features, as_of=cutoff, churn_model=_task_model(bundle, "churn"),
        top_k=top_k, min_value=min_value, segments=segments, lifecycle_stages=lifecycle_stages,
        explain_top=explain_top, action_table=action_table, cluster_k=cluster_k, rank_by=rank_by, risk_floor=risk_floor,
        min_churn_probability=min_churn_probability, horizon_days=horizon_days,
        random_state=random_state, language=language, next_categories=next_categories,
        uplift_model=uplift_model if uplift_model is not None else getattr(bundle, "uplift_model", None),
    )


def parse_as_of(value: Any) -> pd.Timestamp:
    """``value`` as the naive timestamp of an as-of date; a ValueError naming ``as_of`` if not.

    Examples
    --------
    >>> parse_as_of("2024-06-01")
    Timestamp('2024-06-01 00:00:00')
    >>> try:
    ...     parse_as_of("next monday")
    ... except ValueError as error:
    ...     print(error)
    as_of: expected a date such as 2024-01-01, got 'next monday'. Fix: pass the date the list speaks for in ISO form, e.g. '2024-06-01'.
    """
    how = "Fix: pass the date the list speaks for in ISO form, e.g. '2024-06-01'."
    if value is None:
        raise ValueError(f"as_of: required, got None. {how}")
    try:
        moment = pd.Timestamp(value)
    except (TypeError, ValueError):  # pandas' DateParseError is a ValueError
        moment = pd.NaT
    if moment is pd.NaT:
        raise ValueError(f"as_of: expected a date such as 2024-01-01, got {value!r}. {how}")
    if moment.tzinfo is not None:
        raise ValueError(f"as_of: expected a naive date (the wall clock of the log), got "
                         f"{value!r}. Fix: drop the time zone, e.g. '2024-06-01'.")
    return moment


def radar_spec(spec: Any = None) -> Any:
    """``spec`` with the feature families the radar reads switched on (:data:`RADAR_FAMILIES`).

    A model may use a few families only; the radar still needs recency,
    rhythm, tenure and money to list, segment and price customers. The
    model's own columns are unchanged (it picks them by name).

    Examples
    --------
    >>> from repurchase_ml.features import FeatureSpec
    >>> radar_spec(FeatureSpec(families=("lifecycle",))).families
    ('rfm', 'rhythm', 'lifecycle')
    """
    import dataclasses

    from repurchase_ml.features import FeatureSpec

    base = FeatureSpec() if spec is None else spec
    families = (*base.families, *(f for f in RADAR_FAMILIES if f not in base.families))
    return dataclasses.replace(base, families=families)


def _churn_horizon(bundle: Any) -> int:
    horizons = getattr(bundle, "horizons", None)
    if isinstance(horizons, Mapping) and horizons.get("churn"):
        return int(horizons["churn"])
    return CHURN_HORIZON_DAYS


def _check_scores(scores: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores: expected a pandas DataFrame, got {type(scores).__name__}.")
    need = ["customer_id", *_SCORE_COLUMNS]
    missing = [c for c in need if c not in scores.columns]
    if missing:
        raise SchemaError(missing[0], f"scores need columns {need}; missing {missing}",
                          fix="score with a bundle trained on the churn task")
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


def _need(frame: Any, arg: str, columns: Sequence[str], *, what: str, fix: str) -> None:
    """``frame`` (argument ``arg``) is a DataFrame with ``columns``, or a named error."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{arg}: expected a pandas DataFrame, got {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(missing[0], f"{what} needs columns {list(columns)}; missing {missing}",
                          fix=fix)


def _value_inputs(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders, days since the first order and net revenue of each row (checked, finite)."""
    _need(features, "features", ("orders_all", "days_since_first_purchase"),
          what="value_if_retained", fix="build features with the rfm and lifecycle families on")
    orders = features["orders_all"].to_numpy(dtype=float)
    orders = np.where(np.isfinite(orders), orders, 0.0)
    exposure = np.clip(np.nan_to_num(features["days_since_first_purchase"].to_numpy(dtype=float)),
                       0.0, None)
    return orders, exposure, net_revenue(features).to_numpy()


def value_priors(features: pd.DataFrame) -> dict[str, float]:
    """The population figures :func:`value_if_retained` shrinks toward, from these rows.

    ``repeat_rate_per_day`` (repeat orders over days since the first order,
    pooled) and ``net_order_value`` (net revenue over orders, pooled), over
    the rows with at least one order. Keep them with a model to price a few
    rows at a time as the whole population would (the served model).

    Examples
    --------
    >>> value_priors(pd.DataFrame({"orders_all": [3.0, 1.0], "days_since_first_purchase": [90.0, 10],
    ...                            "revenue_all": [300.0, 100]}))
    {'repeat_rate_per_day': 0.02, 'net_order_value': 100.0}
    """
    orders, exposure, money = _value_inputs(features)
    buyers = orders > 0
    if not buyers.any():
        return {"repeat_rate_per_day": 0.0, "net_order_value": 0.0}
    repeats = np.maximum(orders[buyers] - 1.0, 0.0)
    return {"repeat_rate_per_day": float(repeats.sum() / max(exposure[buyers].sum(), 1.0)),
            "net_order_value": float(money[buyers].sum() / orders[buyers].sum())}


def value_if_retained(
    features: pd.DataFrame,
    *,
    horizon_days: int = CHURN_HORIZON_DAYS,
    priors: Mapping[str, float] | None = None,
) -> pd.Series:
    """Expected net revenue over ``horizon_days`` if the customer stays active.

    ``value_if_retained = horizon_days x order rate if alive x net value per order``:

    - *order rate if alive*: repeat orders (``orders_all - 1``) over the days
      since the first order, shrunk toward the population's rate as a
      gamma-Poisson posterior, ``(x + m * P) / (T + P)``, with ``m`` the pooled
      repeat rate of the rows given and ``P`` = 30 days of pseudo-exposure
      (:data:`RATE_PRIOR_DAYS`). This is BG/NBD's rate given the customer is
      alive, so churn risk is not priced in.
    - *net value per order*: net revenue (purchases minus refunds,
      :func:`net_revenue`) over orders, mixed with the population's pooled net
      order value with the weight of one order: ``(n * own + 1 * pop) / (n + 1)``.

    The population figures come from the rows given (compute on the whole
    population at a cutoff) or from ``priors`` (:func:`value_priors` of the
    training population, to price a few rows). Rows without orders get 0.

    Parameters
    ----------
    features : DataFrame
        ``orders_all``, ``days_since_first_purchase`` and ``net_revenue_all``
        (or ``revenue_all`` and ``refund_amount_all``).
    horizon_days : int, default 90
        The churn horizon.
    priors : mapping, optional
        :func:`value_priors` to shrink toward; default: those of ``features``.

    Returns
    -------
    Series
        Index of ``features``.

    Examples
    --------
    >>> f = pd.DataFrame({"orders_all": [10.0, 1.0, 1.0], "days_since_first_purchase": [300.0, 5, 5],
    ...                   "revenue_all": [1000.0, 168_000, 100],
    ...                   "refund_amount_all": [0.0, 168_000, 0]})
    >>> v = value_if_retained(f, horizon_days=90)
    >>> bool(v.iloc[0] > v.iloc[2] > v.iloc[1] > 0)   # the cancelled big order is not value
    True
    """
    if not isinstance(horizon_days, int | np.integer) or horizon_days < 1:
        raise ValueError(f"horizon_days: expected a positive number of days, got {horizon_days!r}.")
    orders, exposure, money = _value_inputs(features)
    pop = value_priors(features) if priors is None else priors
    rate, pop_value = float(pop["repeat_rate_per_day"]), float(pop["net_order_value"])
    buyers = orders > 0
    repeats = np.maximum(orders - 1.0, 0.0)
    own_rate = (repeats + rate * RATE_PRIOR_DAYS) / (exposure + RATE_PRIOR_DAYS)
    per_order = (money + VALUE_PRIOR_ORDERS * pop_value) / (orders + VALUE_PRIOR_ORDERS)
    value = np.where(buyers, horizon_days * own_rate * per_order, 0.0)
    return pd.Series(value, index=features.index, name="value_if_retained")


def radar_from_scores(
    scores: pd.DataFrame,
    *,
    features: pd.DataFrame,
    as_of: str | pd.Timestamp | None = None,
    churn_model: Any | None = None,
    top_k: int | None = None,
    min_value: float | None = None,
    segments: Sequence[str] | None = None,
    lifecycle_stages: Sequence[str] | None = None,
    explain_top: int | None = 50_000,
    action_table: ActionTable | pd.DataFrame | str | os.PathLike[str] | None = None,
    cluster_k: int | None = None,
    rank_by: str = "value_at_risk",
    risk_floor: float | str | None = BASE_RATE,
    min_churn_probability: float | None = None,
    horizon_days: int = CHURN_HORIZON_DAYS,
    random_state: int | None = 0,
    num_threads: int | None = None,
    language: str = "en",
    next_categories: pd.DataFrame | None = None,
    uplift_model: Any = None,
) -> pd.DataFrame:
    """The radar from features and scores already computed at one cutoff.

    Every customer alive at the cutoff (at least one purchase in the 365 days
    before it) gets: churn and repurchase probability, predicted LTV,
    :func:`value_if_retained` (expected net revenue over the churn horizon if
    the customer stays), ``value_at_risk = churn_probability *
    value_if_retained``, RFM segment, lifecycle stage, behaviour cluster,
    value x risk cell, up to three reasons (for the ``explain_top`` highest
    rows, when ``churn_model`` is given) and the recommended action. By
    default customers at or above the base churn rate come first, by value at
    risk, then the rest by value at risk (ties by customer id).

    Parameters
    ----------
    scores : pandas or polars DataFrame
        ``customer_id``, ``churn_probability`` and optionally ``predicted_ltv``
        and ``repurchase_probability`` (e.g. ``bundle.predict(features)``).
        Every alive customer must have a score. A ``value_if_retained`` column
        (the served model's, :meth:`~repurchase_ml.tracking.ServedModel.score`)
        is used as is, so that scores and radar agree; otherwise it is computed.
    features : pandas or polars DataFrame
        The feature table at the cutoff (one cutoff).
    as_of : str or Timestamp, optional
        Checked against the features' cutoff when given.
    churn_model : fitted estimator or lightgbm.Booster, optional
        The churn model, for reasons; without it the reason columns are empty.
    top_k : int, optional
        Keep the first ``top_k`` rows after the other filters.
    min_value : float, optional
        Keep customers with ``value_at_risk >= min_value``.
    min_churn_probability : float, optional
        Keep customers with ``churn_probability >= min_churn_probability``.
    segments : sequence of str, optional
        Keep these RFM segments (names of :data:`RFM_SEGMENT_RULES`).
    lifecycle_stages : sequence of str, optional
        Keep these lifecycle stages (of :data:`~repurchase_ml.segments.LIFECYCLE_STAGES`),
        e.g. ``["at_risk", "active"]`` for customers who are slipping rather than gone.
    explain_top : int or None, default 50_000
        Rows (from the top of the filtered list) that get reasons; None: all.
    action_table : ActionTable, DataFrame, YAML path or None
        Action rules; None uses the packaged defaults.
    cluster_k : int, optional
        Number of behaviour clusters; chosen by silhouette when None.
    rank_by : {"value_at_risk", "churn_probability", "value_if_retained"}
        Order of the list (ties by customer id). Value at risk puts valuable
        customers at risk first; churn probability the likeliest leavers,
        whatever their value; value if retained the most valuable customers.
    risk_floor : float, "base_rate" or None, default "base_rate"
        Customers whose churn probability is below the floor go after every
        customer at or above it (each part in ``rank_by`` order), so that a
        low-risk big spender never heads the list. ``"base_rate"`` is the mean
        churn probability of the listed customers (the churn rate the model
        expects); None ranks by ``rank_by`` alone.
    horizon_days : int, default 90
        Horizon of :func:`value_if_retained` (the churn horizon).
    random_state : int or None
        Seed of the clustering.
    num_threads : int, optional
        LightGBM threads for the reasons (default: all cores).
    language : {"en", "zh"}, default "en"
        Language of the reasons and the action words (``report.language`` in
        the settings); column names and codes (segment, lifecycle stage,
        ``action_id``) stay the same in every language.
    next_categories : DataFrame, optional
        :meth:`~repurchase_ml.categories.NextCategoryModel.predict` at the cutoff: adds
        ``next_category`` and ``next_category_probability`` after the standard columns,
        and an action text's ``{category}`` names the customer's next category.
    uplift_model : UpliftModel, optional
        A model of the offer's effect (:class:`~repurchase_ml.campaigns.UpliftModel`). With
        it, or with ``expected_uplift`` in ``scores`` (the served model's), the list gains
        :data:`UPLIFT_COLUMNS`: ``expected_uplift``, ``expected_incremental_value``
        (uplift x value if retained - offer cost) and ``uplift_decision`` ("treat" for the
        persuadable; "skip" for sure things, lost causes and those who react badly), and
        ``rank_by="incremental_value"`` puts the largest expected gain first (no risk floor).

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
    >>> r[["customer_id", "lifecycle_stage"]].values.tolist()
    [['b', 'at_risk'], ['a', 'active']]
    >>> bool(np.allclose(r["value_at_risk"], r["churn_probability"] * r["value_if_retained"]))
    True
    """
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    scores = as_pandas(scores, argument="scores")
    features = as_pandas(features, argument="features")
    _check_scores(scores)
    cutoff = _single_cutoff(features, as_of)
    if rank_by not in RANK_BY:
        raise ValueError(f"rank_by: expected one of {list(RANK_BY)}, got {rank_by!r}.")
    if not (risk_floor is None or risk_floor == BASE_RATE
            or (isinstance(risk_floor, int | float) and 0 <= risk_floor <= 1)):
        raise ValueError(f"risk_floor: expected a probability in [0, 1], {BASE_RATE!r} or None, "
                         f"got {risk_floor!r}.")
    if min_churn_probability is not None and not 0 <= min_churn_probability <= 1:
        raise ValueError(f"min_churn_probability: expected a probability in [0, 1] or None, "
                         f"got {min_churn_probability!r}.")
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
    if lifecycle_stages is not None:
        if isinstance(lifecycle_stages, str):
            lifecycle_stages = [lifecycle_stages]
        unknown = [s for s in lifecycle_stages if s not in LIFECYCLE_STAGES]
        if unknown:
            raise ValueError(f"lifecycle_stages: unknown {unknown}; choose from "
                             f"{list(LIFECYCLE_STAGES)}.")

    features = features.reset_index(drop=True)
    alive = alive_mask(features).to_numpy()
    base = features.loc[alive].reset_index(drop=True)  # feature rows of the listed customers
    if "cutoff" in scores.columns and not (pd.to_datetime(scores["cutoff"]) == cutoff).all():
        raise ValueError(f"scores: rows scored at another cutoff than the features' {cutoff}; "
                         "score the features of the as-of date.")
    aligned = scores.set_index("customer_id").reindex(base["customer_id"])
    unscored = aligned["churn_probability"].isna().to_numpy()
    if "predicted_ltv" in aligned.columns:
        unscored |= aligned["predicted_ltv"].isna().to_numpy()
    if unscored.any():
        raise SchemaError("customer_id", "alive customers without churn_probability or "
                          "predicted_ltv in scores", n_rows=int(unscored.sum()),
                          examples=base.loc[unscored, "customer_id"].tolist(),
                          fix="score every row of the feature table")
    # the list is built on a narrow frame; feature rows are looked up only where needed
    radar = pd.DataFrame({"customer_id": base["customer_id"].to_numpy()})
    for col in ("churn_probability", "repurchase_probability", "predicted_ltv"):
        radar[col] = aligned[col].to_numpy(dtype=float) if col in aligned.columns else np.nan
    for col in ("repurchase_probability", "predicted_ltv"):
        if col not in aligned.columns:
            logger.warning("radar: scores have no %s; the column is left empty", col)
    if "value_if_retained" in aligned.columns:  # the served model's, priced on its priors
        radar["value_if_retained"] = aligned["value_if_retained"].to_numpy(dtype=float)
    else:
        radar["value_if_retained"] = value_if_retained(base, horizon_days=horizon_days).to_numpy()
    radar["value_at_risk"] = radar["churn_probability"] * radar["value_if_retained"]
    uplift = _uplift_columns(radar, aligned, base, uplift_model)
    if rank_by == "incremental_value":
        if uplift is None:
            raise ValueError("rank_by: 'incremental_value' needs an uplift model (uplift_model=, "
                             "or expected_uplift in scores). Fix: train one on past campaigns "
                             "with repurchase_ml.campaigns.UpliftModel.")
        rank_by, risk_floor = "expected_incremental_value", None
    if uplift is not None:
        radar = radar.assign(**uplift)
    lap("scores")

    # RFM quantiles among the customers on the list (alive at the cutoff), so that the
    # long-gone customers of an old log do not push every listed customer into the top R
    rfm = rfm_scores(base)
    radar["segment"] = rfm["segment"].to_numpy()
    radar["rfm_score"] = rfm["rfm_score"].to_numpy()
    radar["lifecycle_stage"] = lifecycle_stage(base).to_numpy()
    tiers = value_risk_matrix(radar["value_if_retained"], radar["churn_probability"])
    for col in tiers.columns:
        radar[col] = tiers[col].to_numpy()
    for col in ("days_since_last_purchase", "orders_all"):
        radar[col] = base[col].to_numpy() if col in base.columns else np.nan
    radar["net_revenue_all"] = net_revenue(base).to_numpy()
    lap("segments")

    if len(base) >= 3:
        clusters = behaviour_clusters(base, k=cluster_k, random_state=random_state)
        radar["cluster"] = clusters["cluster"].to_numpy()
        radar["cluster_description"] = clusters["cluster_description"].to_numpy()
    else:
        radar["cluster"] = 0
        radar["cluster_description"] = "too few customers to cluster"
    lap("clusters")

    floor = _risk_floor(radar["churn_probability"], risk_floor)
    ranked = radar.assign(_below_floor=radar["churn_probability"] < floor).sort_values(
        ["_below_floor", rank_by, "customer_id"], ascending=[True, False, True], kind="mergesort")
    keep = np.ones(len(ranked), dtype=bool)
    if segments is not None:
        keep &= ranked["segment"].isin(segments).to_numpy()
    if lifecycle_stages is not None:
        keep &= ranked["lifecycle_stage"].isin(lifecycle_stages).to_numpy()
    if min_value is not None:
        keep &= (ranked["value_at_risk"] >= float(min_value)).to_numpy()
    if min_churn_probability is not None:
        keep &= (ranked["churn_probability"] >= float(min_churn_probability)).to_numpy()
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
        if len(head) >= min(len(base), DIRECTION_SAMPLE):
            directions = feature_directions(contribs, head)
        else:
            sample = base.sample(min(len(base), DIRECTION_SAMPLE), random_state=0)
            directions = feature_directions(
                contributions(churn_model, sample, num_threads=num_threads), sample)
        words = reasons(contribs, head, top=N_REASONS, typical=typical, directions=directions,
                        language=language)
        radar.loc[: n_explain - 1, reason_cols] = words[reason_cols].to_numpy()
        lap("reasons")
    elif churn_model is None:
        logger.debug("radar: no churn model given; reasons are left empty")

    table = ActionTable.resolve(action_table)
    extra = [c for c in table.columns if c not in radar.columns and c in base.columns]
    if next_categories is not None:
        from repurchase_ml.categories.next_category import name_next_category, with_next_category

        radar = with_next_category(radar, next_categories)
    facts = radar.assign(**{c: base[c].to_numpy()[order] for c in extra})
    if next_categories is None:  # no model: its rule (second_purchase_category_coupon) is off
        facts["next_category_probability"] = np.nan
    radar[["action_id", "action"]] = table.recommend(facts, language=language)
    if next_categories is not None:
        radar["action"] = name_next_category(radar["action"], radar["next_category"])
    lap("actions")
    radar["cutoff"] = cutoff
    radar = radar[[*RADAR_COLUMNS, *(c for c in UPLIFT_COLUMNS if uplift is not None),
                   *(c for c in radar.columns if c.startswith("next_category"))]]
    radar.attrs["timings"] = timings
    radar.attrs["risk_floor"] = floor
    logger.info("radar: %d customers listed at %s; timings %s", len(radar), cutoff.date(),
                {k: round(v, 2) for k, v in timings.items()})
    return radar


def _uplift_columns(radar: pd.DataFrame, aligned: pd.DataFrame, base: pd.DataFrame,
                    uplift_model: Any) -> dict[str, np.ndarray] | None:
    """:data:`UPLIFT_COLUMNS` from the model (or the scores' ``expected_uplift``); None without."""
    if uplift_model is not None:
        uplift = uplift_model.predict_uplift(base)
        gain = uplift_model.incremental_value(base, radar["value_if_retained"].to_numpy())
    elif "expected_uplift" in aligned.columns:
        uplift = aligned["expected_uplift"].to_numpy(dtype=float)
        gain = (aligned["expected_incremental_value"].to_numpy(dtype=float)
                if "expected_incremental_value" in aligned.columns
                else incremental_value(uplift, radar["value_if_retained"].to_numpy(), 0.0))
    else:
        return None
    likely = radar["churn_probability"].to_numpy() < 0.5  # would buy again anyway
    decision = np.select([gain > 0, uplift < 0, likely],
                         ["treat: persuadable", "skip: reacts badly", "skip: sure thing"],
                         "skip: lost cause")
    return {"expected_uplift": uplift, "expected_incremental_value": gain,
            "uplift_decision": decision}


#: names a churn outcome column may have: make_labels' task name, build_training_set's label
_OUTCOME_COLUMNS = ("churn", "label_churn", "churned")
#: list length of the "at k" metrics when top_k is not given (the top 100 a CRM team works)
DEFAULT_METRICS_TOP_K = 100


def _churn_outcomes(outcomes: pd.DataFrame | pd.Series) -> pd.Series:
    """Realised churn (0/1) indexed by customer id, rows without an outcome dropped."""
    if isinstance(outcomes, pd.Series):
        series = outcomes
    elif isinstance(outcomes, pd.DataFrame):
        found = [c for c in _OUTCOME_COLUMNS if c in outcomes.columns]
        if "customer_id" not in outcomes.columns or not found:
            raise SchemaError(found[0] if found else "churn",
                              f"outcomes need 'customer_id' and one of {list(_OUTCOME_COLUMNS)}; "
                              f"got columns {list(outcomes.columns)[:10]}",
                              fix="pass make_labels(events, cutoffs=[as_of], task='churn')")
        series = outcomes.set_index("customer_id")[found[0]]
    else:
        raise TypeError("outcomes: expected a DataFrame or a Series indexed by customer id, "
                        f"got {type(outcomes).__name__}.")
    series = series.dropna().astype(float)
    bad = ~series.isin([0.0, 1.0])
    if bad.any():
        raise SchemaError(str(series.name), "expected realised churn as 0/1 or True/False",
                          n_rows=int(bad.sum()), examples=series[bad].tolist(),
                          fix="pass the churn labels, not scores")
    if series.index.duplicated().any():
        dup = series.index[series.index.duplicated()]
        raise SchemaError("customer_id", "outcomes must hold one row per customer",
                          n_rows=len(dup), examples=dup.tolist(),
                          fix="pass the labels of a single cutoff")
    return series


def radar_metrics(
    radar: pd.DataFrame,
    outcomes: pd.DataFrame | pd.Series,
    *,
    top_k: int | None = None,
    top_fraction: float = 0.1,
) -> dict[str, float]:
    """How well the radar's order points at the customers who then churned.

    The radar is read in ``rank`` order; customers without an outcome are left
    out (counted in ``n_without_outcome``). Pass the whole list (no ``top_k``
    filter in the radar) so that the shares and the top fraction are of
    everyone who could have been listed.

    Parameters
    ----------
    radar : DataFrame
        Output of :func:`radar_from_scores` / :func:`churn_radar` at a cutoff
        whose horizon has passed.
    outcomes : DataFrame or Series
        Realised churn per customer: ``customer_id`` and ``churn`` (as
        :func:`repurchase_ml.features.make_labels` returns), ``label_churn``
        or ``churned``; or a 0/1 Series indexed by customer id.
    top_k : int, optional
        Length of the list a team works (default: 100, or everyone when fewer).
    top_fraction : float, default 0.1
        The top share of the list for the decile metrics.

    Returns
    -------
    dict
        ``n`` (rows with an outcome), ``n_without_outcome``, ``base_rate``
        (share churned), ``k``, ``precision_at_k`` (share of the top ``k``
        who churned), ``lift_at_k`` (precision / base rate),
        ``precision_top_fraction`` and ``lift_top_fraction`` (same for the
        top ``ceil(top_fraction * n)``), ``value_lost_at_k`` (sum of
        ``value_if_retained`` over the top-``k`` customers who churned: the
        revenue the list said was at stake and that was lost) and
        ``value_lost_share_at_k`` (that sum over the value if retained of
        every churner on the list: how much of the loss the top ``k`` covered).

    Examples
    --------
    >>> radar = pd.DataFrame({"rank": [1, 2, 3, 4], "customer_id": ["a", "b", "c", "d"],
    ...                       "value_if_retained": [100.0, 50, 30, 20]})
    >>> labels = pd.DataFrame({"customer_id": ["a", "b", "c", "d"], "churn": [1, 0, 0, 1]})
    >>> m = radar_metrics(radar, labels, top_k=2, top_fraction=0.25)
    >>> m["base_rate"], m["precision_at_k"], m["lift_at_k"], m["lift_top_fraction"]
    (0.5, 0.5, 1.0, 2.0)
    >>> m["value_lost_at_k"], round(m["value_lost_share_at_k"], 3)
    (100.0, 0.833)
    """
    _need(radar, "radar", ("customer_id", "value_if_retained"), what="radar_metrics",
          fix="pass the frame returned by churn_radar / radar_from_scores")
    if top_k is not None and (not isinstance(top_k, int | np.integer) or top_k < 1):
        raise ValueError(f"top_k: expected a positive integer or None, got {top_k!r}.")
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction: expected a share in (0, 1], got {top_fraction!r}.")
    churned = _churn_outcomes(outcomes)
    ordered = radar.sort_values("rank", kind="mergesort") if "rank" in radar.columns else radar
    known = ordered["customer_id"].isin(churned.index).to_numpy()
    listed = ordered.loc[known]
    y = churned.reindex(listed["customer_id"]).to_numpy()
    value = listed["value_if_retained"].to_numpy(dtype=float)
    n = len(y)
    k = min(DEFAULT_METRICS_TOP_K if top_k is None else int(top_k), n)
    n_top = min(n, int(np.ceil(top_fraction * n - 1e-9)))
    base_rate = float(y.mean()) if n else float("nan")

    def precision(m: int) -> float:
        return float(y[:m].mean()) if m else float("nan")

    def lift(p: float) -> float:
        return p / base_rate if base_rate > 0 else float("nan")

    lost_total = float(np.sum(value * y))
    lost_at_k = float(np.sum(value[:k] * y[:k]))
    at_k, top = precision(k), precision(n_top)
    return {
        "n": float(n), "n_without_outcome": float(len(ordered) - n), "base_rate": base_rate,
        "k": float(k), "precision_at_k": at_k, "lift_at_k": lift(at_k),
        "top_fraction": float(top_fraction), "precision_top_fraction": top,
        "lift_top_fraction": lift(top), "value_lost_at_k": lost_at_k,
        "value_lost_share_at_k": lost_at_k / lost_total if lost_total > 0 else float("nan"),
    }


def evaluate_radar(
    bundle: Any,
    labelled: pd.DataFrame,
    *,
    cutoff: str | pd.Timestamp | None = None,
    top_k: int | None = None,
    top_fraction: float = 0.1,
    **radar_options: Any,
) -> dict[str, float]:
    """Radar metrics of a bundle at a labelled cutoff (e.g. its out-of-time test cutoff).

    Scores the feature rows of ``cutoff`` in ``labelled`` (a training set from
    :func:`repurchase_ml.features.build_training_set` with ``label_churn``),
    builds the whole radar (no reasons) with ``radar_options`` and returns
    :func:`radar_metrics` against the realised churn labels.

    Parameters
    ----------
    bundle : ModelBundle
        Trained models with at least the churn and LTV tasks.
    labelled : DataFrame
        Feature rows with ``label_churn``, one or more cutoffs.
    cutoff : str or Timestamp, optional
        The cutoff to measure; default ``bundle.cutoffs["churn"]["test"]``,
        else the newest cutoff of ``labelled``.
    top_k : int, optional
        The length of the list measured (see :func:`radar_metrics`); the
        radar itself is built whole, so ``**settings.radar.options()`` can be
        passed as is.
    top_fraction : float, default 0.1
        See :func:`radar_metrics`.
    **radar_options
        ``rank_by``, ``risk_floor``, ``min_value``, ``min_churn_probability``,
        ``segments``, ``action_table`` (see :func:`radar_from_scores`).

    Returns
    -------
    dict
        :func:`radar_metrics`.
    """
    if not isinstance(labelled, pd.DataFrame) or "label_churn" not in labelled.columns:
        raise SchemaError("label_churn", "evaluate_radar needs feature rows with realised churn",
                          fix="pass build_training_set(events, cutoffs=..., tasks=['churn', ...])")
    if cutoff is None:
        test = (getattr(bundle, "cutoffs", None) or {}).get("churn", {}).get("test")
        cutoff = test if test is not None else labelled["cutoff"].max()
    at = pd.Timestamp(cutoff)
    rows = labelled.loc[labelled["cutoff"] == at].reset_index(drop=True)
    if rows.empty:
        raise ValueError(f"cutoff: no rows of {at.date()} in labelled; its cutoffs are "
                         f"{format_examples(sorted(str(pd.Timestamp(c).date()) for c in labelled['cutoff'].unique()))}.")
    features = rows.drop(columns=[c for c in rows.columns if c.startswith("label_")])
    options = {"explain_top": 0, "horizon_days": _churn_horizon(bundle), "cluster_k": 2,
               **radar_options}
    radar = radar_from_scores(bundle.predict(features), features=features, as_of=at,
                              **options)
    outcomes = rows[["customer_id", "label_churn"]]
    return radar_metrics(radar, outcomes, top_k=top_k, top_fraction=top_fraction)


def _risk_floor(churn_probability: pd.Series, risk_floor: float | str | None) -> float:
    """The churn probability below which a customer goes after the others (-inf: no floor)."""
    if risk_floor is None or len(churn_probability) == 0:
        return -np.inf
    if risk_floor == BASE_RATE:
        return float(churn_probability.mean())
    return float(risk_floor)


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
