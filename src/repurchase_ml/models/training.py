"""Out-of-time training of one model per task, scored beside the baselines.

Splits are by cutoff, never by row. For each task with horizon ``h``:

- **test**: the latest cutoff with labels (or ``test_cutoff``);
- **validation**: the latest cutoff whose label window ends by the test
  cutoff (``valid + h <= test``), or ``valid_cutoff``; used for early
  stopping, tuning and calibration;
- **train**: every cutoff whose label window ends by the validation cutoff
  (``cutoff + h <= valid``), so no training label has seen the validation
  period and no validation label has seen the test period. With
  ``strict_validation=False`` training labels need only end by the test
  cutoff (for histories short compared with the horizon).

Scorecards compare the model with the RFM rule (classification), the
run-rate rule (counts and revenue) and, when the event log is passed,
BG/NBD + Gamma-Gamma fitted on the purchases before the test cutoff, all on
the same test rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import KEY_COLUMNS
from repurchase_ml.models._base import match_feature_frame, validate_feature_frame
from repurchase_ml.models.baselines import (
    RFM_FEATURES,
    fit_clv_models,
    predict_clv,
    rfm_heuristic_score,
    run_rate_baseline,
)
from repurchase_ml.models.estimators import LGBMTaskClassifier, LTVRegressor, OrderCountRegressor
from repurchase_ml.models.evaluate import Scorecard, evaluate
from repurchase_ml.models.tuning import TuningResult, tune_estimator

__all__ = ["TASK_KINDS", "OUTPUT_COLUMNS", "ModelBundle", "train_models", "expected_next_order_date",
           "baseline_scores"]

logger = logging.getLogger(__name__)

#: metric family of each task
TASK_KINDS: dict[str, str] = {
    "repurchase": "classification",
    "order_count": "count",
    "churn": "classification",
    "ltv": "ltv",
    "second_purchase": "classification",
}

#: column of :meth:`ModelBundle.predict` holding each task's score
OUTPUT_COLUMNS: dict[str, str] = {
    "churn": "churn_probability",
    "repurchase": "repurchase_probability",
    "second_purchase": "second_purchase_probability",
    "order_count": "predicted_orders",
    "ltv": "predicted_ltv",
}

_PROBABILITY_METRICS = ("log_loss", "brier", "ece", "mean_predicted")


def expected_next_order_date(
    cutoff: pd.Series,
    *,
    predicted_orders: np.ndarray | None = None,
    repurchase_probability: np.ndarray | None = None,
    horizon_days: float,
    max_days: float = 365.0,
) -> pd.Series:
    """Expected date of the next order, assuming orders arrive as a Poisson process.

    The rate over the horizon is ``lambda = predicted_orders / horizon_days``
    (from the order-count model) or, without it, ``lambda = -log(1 - p) /
    horizon_days`` from the repurchase probability ``p`` (the Poisson chance of
    at least one order). The expected wait is ``1 / lambda`` days from the
    cutoff. Waits longer than ``max_days`` (customers not expected back) give
    ``NaT`` rather than a date no model supports.

    Examples
    --------
    >>> c = pd.Series(pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]))
    >>> expected_next_order_date(c, predicted_orders=np.array([3.0, 0.5, 0.0]),
    ...                          horizon_days=90).dt.strftime("%Y-%m-%d").tolist()
    ['2024-01-31', '2024-06-29', nan]
    """
    if predicted_orders is not None:
        rate = np.asarray(predicted_orders, dtype=float) / horizon_days
    elif repurchase_probability is not None:
        p = np.clip(np.asarray(repurchase_probability, dtype=float), 0.0, 1.0 - 1e-12)
        rate = -np.log1p(-p) / horizon_days
    else:
        raise ValueError("pass predicted_orders or repurchase_probability.")
    with np.errstate(divide="ignore"):
        wait = np.where(rate > 0, 1.0 / np.maximum(rate, 1e-300), np.inf)
    wait = np.where(wait <= max_days, wait, np.nan)
    # waits are at most max_days or NaN, so rounding cannot overflow; native code run earlier
    # in the thread (a JIT compile, LightGBM) can leave the CPU's overflow flag set, which
    # numpy would otherwise report here as its own
    with np.errstate(over="ignore"):
        wait = np.round(wait, 6)
    return pd.Series(
        pd.to_datetime(cutoff.to_numpy()) + pd.to_timedelta(wait, unit="D"),
        index=cutoff.index,
        name="expected_next_order_date",
    )


@dataclass
class ModelBundle:
    """Fitted models for several tasks, with the splits and scorecards that justify them.

    Plain data plus fitted estimators: it pickles, and ``predict`` runs the
    same checks as each estimator.

    Attributes
    ----------
    models : dict of str to estimator
        One fitted estimator per task.
    feature_names : list of str
    feature_dtypes : dict of str to str
    horizons : dict of str to int
        Label window of each task, in days.
    cutoffs : dict of str to dict
        Per task: ``{"train": [...], "valid": Timestamp, "test": Timestamp}``.
    scorecards : dict of str to dict of str to Scorecard
        Per task: ``"model"`` and each baseline, on the same test rows.
    tuning : dict of str to TuningResult
        Per tuned task.
    refit : bool
        Whether the models were refitted on train + validation rows after
        being scored (the scorecards describe the models before refitting).
    next_order_max_days : float
        Longest expected wait still given a date in ``expected_next_order_date``.
    """

    models: dict[str, Any]
    feature_names: list[str]
    feature_dtypes: dict[str, str]
    horizons: dict[str, int]
    cutoffs: dict[str, dict[str, Any]] = field(default_factory=dict)
    scorecards: dict[str, dict[str, Scorecard]] = field(default_factory=dict)
    tuning: dict[str, TuningResult] = field(default_factory=dict)
    refit: bool = False
    next_order_max_days: float = 365.0

    @property
    def tasks(self) -> list[str]:
        """Trained tasks, in training order."""
        return list(self.models)

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """Score feature rows with every model.

        Parameters
        ----------
        features : pandas.DataFrame
            ``customer_id``, ``cutoff`` and the training feature columns (the
            output of ``build_features`` with the training spec). Other
            columns starting with ``label_`` are ignored; any other extra
            column is an error.

        Returns
        -------
        pandas.DataFrame
            ``customer_id``, ``cutoff``, then for trained tasks only:
            ``churn_probability``, ``repurchase_probability``,
            ``second_purchase_probability``, ``predicted_orders``,
            ``predicted_ltv``, and ``expected_next_order_date`` (when the
            order-count or repurchase model is present; see
            :func:`expected_next_order_date`). Every row is scored; whether a
            row belongs to a task's population is the caller's choice.
        """
        if not isinstance(features, pd.DataFrame):
            raise TypeError(f"features must be a pandas DataFrame, got {type(features).__name__}.")
        for col in KEY_COLUMNS:
            if col not in features.columns:
                raise SchemaError(col, "features: identifier column is missing",
                                  fix="pass the output of build_features")
        X = match_feature_frame(
            features.drop(columns=[*KEY_COLUMNS, *_label_columns(features)]),
            self.feature_dtypes,
            name="features",
        )
        out = features.loc[:, list(KEY_COLUMNS)].copy()
        for name in OUTPUT_COLUMNS:
            if name not in self.models:
                continue
            model = self.models[name]
            score = model.predict_proba(X)[:, 1] if TASK_KINDS[name] == "classification" \
                else model.predict(X)
            out[OUTPUT_COLUMNS[name]] = score
        if "order_count" in self.models:
            out["expected_next_order_date"] = expected_next_order_date(
                out["cutoff"], predicted_orders=out["predicted_orders"].to_numpy(),
                horizon_days=self.horizons["order_count"], max_days=self.next_order_max_days,
            )
        elif "repurchase" in self.models:
            out["expected_next_order_date"] = expected_next_order_date(
                out["cutoff"], repurchase_probability=out["repurchase_probability"].to_numpy(),
                horizon_days=self.horizons["repurchase"], max_days=self.next_order_max_days,
            )
        return out

    def scorecard_table(self) -> pd.DataFrame:
        """All scorecards as one long table: ``task``, ``scorer``, ``metric``, ``value``."""
        rows = [
            (task, scorer, metric, value)
            for task, cards in self.scorecards.items()
            for scorer, card in cards.items()
            for metric, value in card.metrics.items()
        ]
        return pd.DataFrame(rows, columns=["task", "scorer", "metric", "value"])


def _label_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if isinstance(c, str) and c.startswith("label_")]


def _make_estimator(task: str, *, params: dict[str, Any] | None, n_estimators: int,
                    ltv_strategy: str, random_state: int) -> Any:
    common: dict[str, Any] = {"lgbm_params": params, "n_estimators": n_estimators, "random_state": random_state}
    if TASK_KINDS[task] == "classification":
        return LGBMTaskClassifier(**common)
    if task == "order_count":
        return OrderCountRegressor(**common)
    return LTVRegressor(strategy=ltv_strategy, **common)


def _default_horizons() -> dict[str, int]:
    from repurchase_ml.features import TASKS

    return {name: int(spec.horizon_days) for name, spec in TASKS.items()}


def _split_cutoffs(
    labelled: pd.Series, *, task: str, horizon: int, valid_cutoff: Any, test_cutoff: Any,
    strict_validation: bool = True,
) -> dict[str, Any]:
    cutoffs = sorted(pd.to_datetime(labelled.unique()))
    if len(cutoffs) < 3:
        raise ValueError(
            f"task {task!r}: out-of-time training needs at least 3 labelled cutoffs "
            f"(train, validation, test), got {len(cutoffs)}. Build the training set with more "
            "cutoffs (see propose_cutoffs)."
        )
    h = pd.Timedelta(days=horizon)
    test = pd.Timestamp(test_cutoff) if test_cutoff is not None else cutoffs[-1]
    if test not in cutoffs:
        raise ValueError(f"test_cutoff {test} has no labelled rows for task {task!r}; "
                         f"labelled cutoffs are {[str(c.date()) for c in cutoffs]}.")
    if valid_cutoff is not None:
        valid = pd.Timestamp(valid_cutoff)
        if valid not in cutoffs:
            raise ValueError(f"valid_cutoff {valid} has no labelled rows for task {task!r}.")
        if valid + h > test:
            raise ValueError(
                f"valid_cutoff {valid.date()} + the {horizon}-day {task!r} horizon runs past "
                f"test_cutoff {test.date()}: validation labels would see the test period. Pick "
                f"a validation cutoff on or before {(test - h).date()}."
            )
    else:
        candidates = [c for c in cutoffs if c + h <= test]
        if not candidates:
            raise ValueError(
                f"task {task!r}: no cutoff's {horizon}-day label window ends by the test cutoff "
                f"{test.date()}; add earlier cutoffs or shorten the horizon."
            )
        valid = candidates[-1]
    label_end = valid if strict_validation else test
    train = [c for c in cutoffs if c < valid and c + h <= label_end]
    if not train:
        raise ValueError(
            f"task {task!r}: no training cutoff before {valid.date()} has its {horizon}-day "
            f"label window ending by {label_end.date()}; add cutoffs on or before "
            f"{(label_end - h).date()}"
            + (" or pass strict_validation=False." if strict_validation else ".")
        )
    return {"train": train, "valid": valid, "test": test}


def _rank_only(card: Scorecard) -> Scorecard:
    """Blank the probability metrics of a score that is a ranking, not a probability."""
    metrics = {k: (np.nan if k in _PROBABILITY_METRICS else v) for k, v in card.metrics.items()}
    return Scorecard(kind=card.kind, n_rows=card.n_rows, metrics=metrics, tables=card.tables)


def baseline_scores(
    task: str, rows: pd.DataFrame, *, horizon: int, clv: Any | None
) -> dict[str, tuple[np.ndarray, bool]]:
    """Baseline scores for the test rows: name -> (score, is_probability)."""
    kind = TASK_KINDS[task]
    out: dict[str, tuple[np.ndarray, bool]] = {}
    missing = [c for c in RFM_FEATURES if c not in rows.columns]
    if missing:
        logger.warning("task %s: RFM and run-rate baselines skipped; feature columns %s are "
                       "missing (turn the RFM feature family on)", task, missing)
    elif kind == "classification":
        rfm = rfm_heuristic_score(rows).to_numpy()
        out["rfm"] = (1.0 - rfm if task == "churn" else rfm, False)
    else:
        rate = run_rate_baseline(rows, horizon_days=horizon)
        out["run_rate"] = (
            rate["expected_orders" if task == "order_count" else "expected_revenue"].to_numpy(),
            True,
        )
    if clv is not None:
        pred = predict_clv(clv, horizon_days=horizon).set_index("customer_id")
        aligned = pred.reindex(rows["customer_id"].to_numpy())
        if task == "churn":
            out["bgnbd"] = (1.0 - aligned["probability_repurchase"].to_numpy(), True)
            out["bgnbd_p_alive"] = (1.0 - aligned["probability_alive"].to_numpy(), True)
        elif kind == "classification":
            out["bgnbd"] = (aligned["probability_repurchase"].to_numpy(), True)
        elif task == "order_count":
            out["bgnbd"] = (aligned["expected_orders"].to_numpy(), True)
        elif "expected_revenue" in aligned:
            out["bgnbd_gg"] = (aligned["expected_revenue"].to_numpy(), True)
    return out


def _score_test(task: str, model: Any, X: pd.DataFrame, y: np.ndarray, rows: pd.DataFrame,
                *, horizon: int, clv: Any | None) -> dict[str, Scorecard]:
    kind = TASK_KINDS[task]
    pred = model.predict_proba(X)[:, 1] if kind == "classification" else model.predict(X)
    scores = {"model": (pred, True), **baseline_scores(task, rows, horizon=horizon, clv=clv)}
    keep = np.logical_and.reduce([np.isfinite(s) for s, _ in scores.values()])
    if not keep.all():
        logger.warning(
            "task %s: %d of %d test rows have no baseline prediction (no purchase before the "
            "cutoff); every scorer is evaluated on the other %d rows",
            task, int((~keep).sum()), len(keep), int(keep.sum()),
        )
    cards = {}
    for name, (score, is_probability) in scores.items():
        card = evaluate(y[keep], score[keep], kind=kind)
        cards[name] = card if is_probability else _rank_only(card)
    return cards


def _refit(model: Any, X: pd.DataFrame, y: np.ndarray) -> Any:
    """Refit on more rows with the number of rounds early stopping chose.

    No held-out rows are left to calibrate on, so a classifier keeps the
    calibrator chosen on the validation cutoff.
    """
    final = clone(model).set_params(n_estimators=max(int(model.best_iteration_), 1))
    if isinstance(final, LGBMTaskClassifier):
        final.set_params(calibration=None)
        final.fit(X, y)
        final.calibrator_ = model.calibrator_
        final.calibration_ = model.calibration_
        final.calibration_log_loss_ = model.calibration_log_loss_
        return final
    return final.fit(X, y)


def train_models(
    training_set: pd.DataFrame,
    *,
    tasks: Sequence[str] | None = None,
    horizons: Mapping[str, int] | None = None,
    valid_cutoff: Any = None,
    test_cutoff: Any = None,
    events: pd.DataFrame | None = None,
    tune: bool = False,
    n_trials: int = 30,
    timeout: float | None = None,
    tuning_callbacks: Sequence[Callable[..., None]] | None = None,
    lgbm_params: Mapping[str, dict[str, Any]] | None = None,
    n_estimators: int = 1000,
    ltv_strategy: str = "tweedie",
    strict_validation: bool = True,
    refit: bool = False,
    random_state: int = 0,
) -> ModelBundle:
    """Train, validate and test one LightGBM model per task, out of time.

    Parameters
    ----------
    training_set : pandas.DataFrame
        Output of ``build_training_set``: ``customer_id``, ``cutoff``, feature
        columns and ``label_<task>`` columns (NaN outside the task's population).
    tasks : sequence of str, optional
        Tasks to train; default every task with a ``label_<task>`` column.
    horizons : mapping of task to days, optional
        Label windows the training set was built with (default: each task's
        default, as in ``repurchase_ml.features.TASKS``). They decide which
        cutoffs may train and validate without seeing the test period.
    valid_cutoff, test_cutoff : timestamp-like, optional
        Override the default split (see the module notes). Both must be
        labelled cutoffs and ``valid_cutoff + horizon <= test_cutoff``.
    events : pandas.DataFrame, optional
        The canonical event log; when given, BG/NBD + Gamma-Gamma are fitted
        on its purchases before each test cutoff and scored beside the model
        (needs the ``baselines`` extra).
    tune : bool, default False
        Tune LightGBM parameters with Optuna on the validation cutoff first.
    n_trials, timeout : trial budget and time budget in seconds, per task.
    tuning_callbacks : list of callables, optional
        Optuna study callbacks, e.g. to log each trial to MLflow.
    lgbm_params : mapping of task to dict, optional
        LightGBM parameters per task (the start point when tuning).
    n_estimators : int, default 1000
        Maximum boosting rounds (early stopping picks the number).
    ltv_strategy : {"tweedie", "two_part"}, default "tweedie"
    strict_validation : bool, default True
        Training cutoffs need their label windows to end by the validation
        cutoff. ``False`` lets them end by the test cutoff instead (they may
        overlap the validation period, which makes early stopping slightly
        optimistic), for histories short compared with the horizon. The test
        score is out of time either way.
    refit : bool, default False
        After scoring on the test cutoff, refit each model on the train and
        validation rows with the chosen number of rounds (classifiers keep the
        calibrator fitted on the validation cutoff). The scorecards describe
        the models before refitting.
    random_state : int, default 0

    Returns
    -------
    ModelBundle

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> cuts = pd.date_range("2024-01-01", periods=6, freq="MS")
    >>> ts = pd.DataFrame({"customer_id": np.tile(np.arange(300), 6),
    ...                    "cutoff": np.repeat(cuts, 300),
    ...                    "days_since_last_purchase": rng.uniform(0, 200, 1800)})
    >>> ts["label_repurchase"] = (rng.uniform(size=1800)
    ...     < np.exp(-ts["days_since_last_purchase"] / 60)).astype(float)
    >>> bundle = train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30},
    ...                       n_estimators=50)
    >>> bundle.cutoffs["repurchase"]["test"], bundle.cutoffs["repurchase"]["valid"]
    (Timestamp('2024-06-01 00:00:00'), Timestamp('2024-05-01 00:00:00'))
    >>> bundle.scorecards["repurchase"]["model"]["roc_auc"] > 0.7
    True
    """
    if not isinstance(training_set, pd.DataFrame):
        raise TypeError(
            f"training_set must be a pandas DataFrame, got {type(training_set).__name__}."
        )
    for col in KEY_COLUMNS:
        if col not in training_set.columns:
            raise SchemaError(col, "training_set: identifier column is missing",
                              fix="pass the output of build_training_set")
    available = [c.removeprefix("label_") for c in _label_columns(training_set)]
    names = available if tasks is None else ([tasks] if isinstance(tasks, str) else list(tasks))
    if not names:
        raise SchemaError(None, "training_set has no label_<task> column",
                          fix="build it with build_training_set(..., tasks=[...])")
    for task in names:
        if task not in TASK_KINDS:
            raise ValueError(f"tasks: unknown task {task!r}; expected some of {list(TASK_KINDS)}.")
        if task not in available:
            raise SchemaError(f"label_{task}", "training_set has no label for this task",
                              fix=f"build the training set with tasks including {task!r}")
    if ltv_strategy not in ("tweedie", "two_part"):
        raise ValueError(f"ltv_strategy must be 'tweedie' or 'two_part', got {ltv_strategy!r}.")
    resolved = {**_default_horizons(), **dict(training_set.attrs.get("horizons", {})),
                **dict(horizons or {})}
    feature_cols = [c for c in training_set.columns
                    if c not in KEY_COLUMNS and c not in _label_columns(training_set)]
    X_all = validate_feature_frame(training_set[feature_cols], name="training_set features")
    cutoff_col = pd.to_datetime(training_set["cutoff"])
    clv_cache: dict[pd.Timestamp, Any] = {}
    bundle = ModelBundle(
        models={}, feature_names=feature_cols,
        feature_dtypes={c: str(X_all[c].dtype) for c in feature_cols},
        horizons={t: int(resolved[t]) for t in names}, refit=bool(refit),
    )
    for task in names:
        label = training_set[f"label_{task}"]
        labelled = label.notna()
        split = _split_cutoffs(cutoff_col[labelled], task=task, horizon=bundle.horizons[task],
                               valid_cutoff=valid_cutoff, test_cutoff=test_cutoff,
                               strict_validation=strict_validation)
        masks = {
            "train": labelled & cutoff_col.isin(split["train"]),
            "valid": labelled & (cutoff_col == split["valid"]),
            "test": labelled & (cutoff_col == split["test"]),
        }
        X = {k: X_all.loc[m] for k, m in masks.items()}
        y = {k: label[m].to_numpy(dtype=float) for k, m in masks.items()}
        logger.info("task %s: train %d rows (%d cutoffs), valid %d rows at %s, test %d rows at %s",
                    task, len(y["train"]), len(split["train"]), len(y["valid"]),
                    split["valid"].date(), len(y["test"]), split["test"].date())
        model = _make_estimator(task, params=(lgbm_params or {}).get(task),
                                n_estimators=n_estimators, ltv_strategy=ltv_strategy,
                                random_state=random_state)
        if tune:
            result = tune_estimator(model, X["train"], y["train"],
                                    eval_set=(X["valid"], y["valid"]), n_trials=n_trials,
                                    timeout=timeout, random_state=random_state,
                                    callbacks=tuning_callbacks)
            bundle.tuning[task] = result
            model.set_params(lgbm_params=result.best_params)
        model.fit(X["train"], y["train"], eval_set=(X["valid"], y["valid"]))
        clv = None
        if events is not None:
            if split["test"] not in clv_cache:
                clv_cache[split["test"]] = fit_clv_models(events, cutoff=split["test"])
            clv = clv_cache[split["test"]]
        bundle.scorecards[task] = _score_test(
            task, model, X["test"], y["test"], training_set.loc[masks["test"]],
            horizon=bundle.horizons[task], clv=clv,
        )
        if refit:
            both = masks["train"] | masks["valid"]
            model = _refit(model, X_all.loc[both], label[both].to_numpy(dtype=float))
        bundle.models[task] = model
        bundle.cutoffs[task] = split
    return bundle
