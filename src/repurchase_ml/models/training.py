"""Out-of-time training of one model per task, scored beside the baselines.

Splits are by cutoff, never by row. For each task with horizon ``h``:

- **test**: the latest cutoff with labels (or ``test_cutoff``);
- **validation**: the latest cutoff whose label window ends by the test
  cutoff (``valid + h <= test``), or ``valid_cutoff``; used to choose the
  shipped scorer and to calibrate (trees early-stop and tune on the newest
  training cutoff);
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
import polars as pl
from sklearn.base import clone

from repurchase_ml._frames import as_pandas
from repurchase_ml._progress import iterate
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import KEY_COLUMNS
from repurchase_ml.models._base import (
    capacity_params,
    match_feature_frame,
    validate_feature_frame,
)
from repurchase_ml.models.baselines import (
    RFM_FEATURES,
    fit_clv_models,
    predict_clv,
    rfm_heuristic_score,
    run_rate_baseline,
)
from repurchase_ml.models.calibration import apply_calibrator, fit_calibrator
from repurchase_ml.models.compare import paired_bootstrap
from repurchase_ml.models.estimators import (
    LGBMTaskClassifier,
    LTVRegressor,
    OrderCountRegressor,
    log_offset,
    logit_offset,
)
from repurchase_ml.models.evaluate import (
    PRIMARY_METRICS,
    SIMPLICITY,
    Scorecard,
    choose_by_metric,
    evaluate,
)
from repurchase_ml.models.plan import (
    ON_INSUFFICIENT,
    TrainingMinimums,
    TrainingPlan,
    TrainingPlanError,
    plan_training,
)
from repurchase_ml.models.threads import lgbm_threads
from repurchase_ml.models.tuning import TuningResult, tune_estimator

__all__ = ["TASK_KINDS", "OUTPUT_COLUMNS", "ModelBundle", "TaskScorer", "train_models",
           "expected_next_order_date", "baseline_scores", "CLASSIC_SCORE"]

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
        Per task, the LightGBM estimator behind the shipped score (plain or
        hybrid; for a baseline choice, the better tree model, kept for
        reasons only). ``booster_`` of a hybrid explains the correction to
        the classic prediction: its ``bias`` (SHAP expected value) is the
        offset-free mean margin of the trees, not a probability.
    scorers : dict of str to TaskScorer
        Per task, the scorer :meth:`predict` uses (see ``choice``).
    choice : dict of str to dict
        Per task: ``chosen``, ``reason``, ``metric`` and ``validation``
        (candidate -> primary metric on the validation cutoff).
    plan : TrainingPlan or None
        What each task was trained on (:func:`~repurchase_ml.models.plan.plan_training`).
    skipped : dict of str to str
        Tasks left out for lack of data, with the message.
    feature_names : list of str
    feature_dtypes : dict of str to str
    horizons : dict of str to int
        Label window of each task, in days.
    cutoffs : dict of str to dict
        Per task: ``{"train": [...], "valid": Timestamp, "test": Timestamp}``.
    scorecards : dict of str to dict of str to Scorecard
        Per task, on the same test rows: ``"model"`` (the shipped scorer) and
        every candidate (``"lightgbm"``, ``"hybrid"``, ``"blend"``) and
        baseline (``"rfm"`` / ``"run_rate"``, ``"bgnbd"`` / ``"bgnbd_gg"``).
    tuning : dict of str to TuningResult
        Per tuned task.
    refit : bool
        Whether the tree models were refitted on train + validation rows
        after the choice (the test scorecards describe the refitted models).
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
    scorers: dict[str, TaskScorer] = field(default_factory=dict)
    choice: dict[str, dict[str, Any]] = field(default_factory=dict)
    plan: TrainingPlan | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        """Trained tasks, in training order."""
        return list(self.scorers or self.models)

    def predict(self, features: pd.DataFrame | pl.DataFrame) -> pd.DataFrame:
        """Score feature rows with every model.

        Parameters
        ----------
        features : pandas or polars DataFrame
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
        features = as_pandas(features, argument="features")
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
            if name in self.scorers:
                score = self.scorers[name].predict(features, X)
            elif name in self.models:  # a bundle pickled before scorers existed
                model = self.models[name]
                score = model.predict_proba(X)[:, 1] if TASK_KINDS[name] == "classification" \
                    else model.predict(X)
            else:
                continue
            out[OUTPUT_COLUMNS[name]] = score
        if "predicted_orders" in out:
            out["expected_next_order_date"] = expected_next_order_date(
                out["cutoff"], predicted_orders=out["predicted_orders"].to_numpy(),
                horizon_days=self.horizons["order_count"], max_days=self.next_order_max_days,
            )
        elif "repurchase_probability" in out:
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

    def choice_table(self) -> pd.DataFrame:
        """Per task and candidate: validation primary metric, whether it ships, and why.

        Columns ``task``, ``scorer``, ``metric``, ``validation``, ``test``
        (the same metric on the test cutoff), ``chosen`` and ``reason``.
        """
        rows = []
        for task, record in self.choice.items():
            cards = self.scorecards.get(task, {})
            for scorer, value in record["validation"].items():
                test = cards[scorer].metrics.get(record["metric"]) if scorer in cards else None
                rows.append((task, scorer, record["metric"], value, test,
                             scorer == record["chosen"], record["reason"]
                             if scorer == record["chosen"] else ""))
        return pd.DataFrame(rows, columns=["task", "scorer", "metric", "validation", "test",
                                           "chosen", "reason"])


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


def _resolved_horizons(training_set: pd.DataFrame, names: Sequence[str],
                       horizons: Mapping[str, int] | None) -> dict[str, int]:
    """Each task's horizon: as passed, else as the training set was labelled, else the default.

    A passed horizon that differs from the one the labels were built with is
    refused; a training set that lost its ``attrs`` (reloaded from a file
    written without :func:`~repurchase_ml.features.saved.save_training_set`)
    gets the defaults with a warning that says so.
    """
    built = dict(training_set.attrs.get("horizons") or {})
    given = dict(horizons or {})
    for task in names:
        if task in given and task in built and int(given[task]) != int(built[task]):
            raise ValueError(
                f"horizons[{task!r}] = {given[task]} days, but the training set's labels were "
                f"built with {built[task]} days (training_set.attrs['horizons']). Fix: pass "
                f"the horizon the labels were built with, or rebuild the training set.")
    unknown = [t for t in names if t not in given and t not in built]
    if unknown:
        logger.warning(
            "the training set does not say which horizons its labels were built with "
            "(attrs['horizons'] is lost when a frame is saved and read back without "
            "repurchase_ml.save_training_set / load_training_set); assuming the defaults %s. "
            "Pass horizons=... with the ones you built it with.",
            {t: _default_horizons()[t] for t in unknown})
    return {**_default_horizons(), **built, **given}


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
    rule = _per_cutoff_rule(task, rows, horizon)
    if rule is None:
        logger.warning("task %s: RFM and run-rate baselines skipped; feature columns %s are "
                       "missing (turn the RFM feature family on)", task,
                       [c for c in RFM_FEATURES if c not in rows.columns])
    else:  # the RFM rule is a ranking; the run rate is on the target's scale
        out[_rule_name(task)] = (rule, kind != "classification")
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



#: classic column behind each task's BG/NBD score (churn uses 1 - it)
CLASSIC_SCORE: dict[str, str] = {
    "repurchase": "probability_repurchase", "second_purchase": "probability_repurchase",
    "churn": "probability_repurchase", "order_count": "expected_orders",
    "ltv": "expected_revenue",
}
_BLEND_WEIGHTS = (0.25, 0.5, 0.75)


def _rule_name(task: str) -> str:
    return "rfm" if TASK_KINDS[task] == "classification" else "run_rate"


def _classic_name(task: str) -> str:
    return "bgnbd_gg" if task == "ltv" else "bgnbd"


def _per_cutoff_rule(task: str, rows: pd.DataFrame, horizon: int) -> np.ndarray | None:
    """The RFM rule (quintiles within each cutoff) or the run rate, per row; None without RFM."""
    kind = TASK_KINDS[task]
    needed = RFM_FEATURES[:3] if kind == "classification" else RFM_FEATURES[1:]
    if any(c not in rows.columns for c in needed):
        return None
    if kind != "classification":
        rate = run_rate_baseline(rows, horizon_days=horizon)
        return rate["expected_orders" if task == "order_count" else "expected_revenue"].to_numpy()
    if "cutoff" not in rows.columns:  # one snapshot
        out = rfm_heuristic_score(rows).to_numpy(dtype=float)
    else:
        score = pd.Series(np.nan, index=rows.index)
        for _, part in rows.groupby("cutoff", sort=False):
            score.loc[part.index] = rfm_heuristic_score(part).to_numpy()
        out = score.to_numpy(dtype=float)
    return 1.0 - out if task == "churn" else out


def _classic_task_score(task: str, pred: pd.DataFrame) -> np.ndarray:
    value = pred[CLASSIC_SCORE[task]].to_numpy(dtype=float)
    return 1.0 - value if task == "churn" else value


def _offset(task: str, classic: np.ndarray) -> np.ndarray:
    return logit_offset(classic) if TASK_KINDS[task] == "classification" else log_offset(classic)


@dataclass
class TaskScorer:
    """The scorer shipped for one task, as chosen on the validation cutoff.

    ``chosen`` is one of ``"lightgbm"`` (plain model), ``"hybrid"`` (LightGBM
    boosted from the classic prediction), ``"blend"`` (``blend_weight`` x the
    tree model + the rest x the classic prediction), ``"bgnbd"`` /
    ``"bgnbd_gg"`` (the classic model alone) or the rule ``"rfm"`` (mapped to
    a probability by ``rule_calibrator``, fitted on the validation cutoff) /
    ``"run_rate"``. ``classic`` is the :class:`~repurchase_ml.models.btyd.ClassicModel`
    fitted at the task's newest labelled cutoff, so offsets and classic scores
    are computed from feature rows alone at scoring time.
    """

    task: str
    horizon: int
    chosen: str
    model: Any = None
    hybrid: bool = False
    classic: Any = None
    classic_fill: float = 0.0
    blend_weight: float | None = None
    rule_calibrator: Any | None = None

    def classic_score(self, frame: pd.DataFrame) -> np.ndarray:
        """The classic model's task score per row (NaN rows filled with the fitted mean)."""
        pred = self.classic.predict(frame, horizon_days=self.horizon)
        score = _classic_task_score(self.task, pred)
        return np.where(np.isfinite(score), score, self.classic_fill)

    def model_score(self, frame: pd.DataFrame, X: pd.DataFrame) -> np.ndarray:
        """The tree model's score (with the classic offset for a hybrid)."""
        offset = _offset(self.task, self.classic_score(frame)) if self.hybrid else None
        if TASK_KINDS[self.task] == "classification":
            return self.model.predict_proba(X, init_score=offset)[:, 1]
        return self.model.predict(X, init_score=offset)

    def predict(self, frame: pd.DataFrame, X: pd.DataFrame) -> np.ndarray:
        """Shipped score of each row: probabilities, expected orders or expected revenue."""
        if self.chosen in ("lightgbm", "hybrid"):
            return self.model_score(frame, X)
        if self.chosen == "blend":
            w = float(self.blend_weight if self.blend_weight is not None else 1.0)
            return w * self.model_score(frame, X) + (1.0 - w) * self.classic_score(frame)
        if self.chosen in ("bgnbd", "bgnbd_gg"):
            return self.classic_score(frame)
        score = _per_cutoff_rule(self.task, frame, self.horizon)
        if score is None:
            raise SchemaError(RFM_FEATURES[0], "the shipped baseline rule needs the RFM features",
                              fix="score feature rows built with the training spec")
        if self.rule_calibrator is not None:
            score = apply_calibrator(self.rule_calibrator, np.clip(score, 0.0, 1.0))
        return score


def _inner_split(frame: pd.DataFrame, train_cutoffs: list[pd.Timestamp]) -> tuple[np.ndarray, np.ndarray]:
    """Fit/early-stop masks inside the training rows: the newest training cutoff stops early.

    With one training cutoff, a fifth of the customers (by a hash of the id) stop early.
    """
    cut = pd.to_datetime(frame["cutoff"]).to_numpy()
    if len(train_cutoffs) >= 2:
        stop = cut == np.datetime64(max(train_cutoffs))
    else:
        stop = (pd.util.hash_pandas_object(frame["customer_id"], index=False).to_numpy() % 5) == 0
    return ~stop, stop


def _fit_tree(task: str, template: Any, X: pd.DataFrame, y: np.ndarray, offset: np.ndarray | None,
              fit_mask: np.ndarray, stop_mask: np.ndarray) -> Any:
    model = clone(template)
    kwargs: dict[str, Any] = {}
    if offset is not None:
        kwargs = {"init_score": offset[fit_mask], "eval_init_score": offset[stop_mask]}
    return model.fit(X.loc[fit_mask], y[fit_mask], eval_set=(X.loc[stop_mask], y[stop_mask]),
                     **kwargs)


def _tree_score(task: str, model: Any, X: pd.DataFrame, offset: np.ndarray | None) -> np.ndarray:
    if TASK_KINDS[task] == "classification":
        return model.predict_proba(X, init_score=offset)[:, 1]
    return model.predict(X, init_score=offset)


def _refit(model: Any, X: pd.DataFrame, y: np.ndarray, offset: np.ndarray | None = None) -> Any:
    """Refit on more rows with the number of rounds early stopping chose.

    No held-out rows are left to calibrate on, so a classifier keeps the
    calibrator chosen when it was early-stopped.
    """
    final = clone(model).set_params(n_estimators=max(int(model.best_iteration_), 1))
    kwargs: dict[str, Any] = {} if offset is None else {"init_score": offset}
    if isinstance(final, LGBMTaskClassifier):
        final.set_params(calibration=None)
        final.fit(X, y, **kwargs)
        final.calibrator_ = model.calibrator_
        final.calibration_ = model.calibration_
        final.calibration_log_loss_ = model.calibration_log_loss_
        return final
    return final.fit(X, y, **kwargs)


def _evaluate_all(task: str, y: np.ndarray, scores: dict[str, tuple[np.ndarray, bool]]
                  ) -> dict[str, Scorecard]:
    kind = TASK_KINDS[task]
    keep = np.logical_and.reduce([np.isfinite(s) for s, _ in scores.values()])
    if not keep.all():
        logger.warning(
            "task %s: %d of %d rows have no baseline prediction (no purchase before the "
            "cutoff); every scorer is evaluated on the other %d rows",
            task, int((~keep).sum()), len(keep), int(keep.sum()),
        )
    cards = {}
    for name, (score, is_probability) in scores.items():
        card = evaluate(y[keep], score[keep], kind=kind)
        cards[name] = card if is_probability else _rank_only(card)
    return cards


#: candidates that combine the classic model with the trees, safest first: the default
#: choice unless another candidate is reliably better on the validation cutoff
_DEFAULT_ORDER = ("blend", "hybrid")
#: paired resamples of the validation rows behind a switch away from the default
_CHOICE_BOOT = 200


def _choose(task: str, y_valid: np.ndarray, scores: dict[str, tuple[np.ndarray, bool]],
            valid_cards: dict[str, Scorecard], *, tolerance: float, random_state: int = 0
            ) -> tuple[str, str, dict[str, float]]:
    """Pick the shipped scorer on the validation cutoff.

    One validation cutoff is a noisy judge: on a few thousand rows two scorers
    whose test metrics differ by 0.02 swap places often. So the choice starts
    from the safest candidate that has the trees and the classic model in it
    (:data:`_DEFAULT_ORDER`) and moves to another scorer only when that one
    is ahead on the validation rows by a paired bootstrap whose 95 % interval
    is above zero (then the best such scorer, ties within ``tolerance`` to the
    simpler one). Without a classic model (no blend, no hybrid) the best point
    estimate ships.
    """
    metric = PRIMARY_METRICS[task]
    values = {name: float(card.metrics[metric]) for name, card in valid_cards.items()}
    default = next((k for k in _DEFAULT_ORDER if k in values and np.isfinite(values[k])), None)
    if default is None:
        chosen = choose_by_metric(values, tolerance=tolerance)
        reason = f"best validation {metric} {values[chosen]:.4f}"
    else:
        keep = np.logical_and.reduce([np.isfinite(s) for s, _ in scores.values()])
        better: dict[str, float] = {}
        checks = []
        for name, value in values.items():
            if name == default or not np.isfinite(value) or value <= values[default] + tolerance:
                continue
            cmp = paired_bootstrap(y_valid[keep], scores[name][0][keep], scores[default][0][keep],
                                   metric=metric, n_boot=_CHOICE_BOOT, random_state=random_state)
            checks.append(f"{name} {cmp.difference:+.4f} [{cmp.low:+.4f}, {cmp.high:+.4f}]")
            if cmp.low > 0:
                better[name] = value
        if better:
            chosen = choose_by_metric(better, tolerance=tolerance)
            reason = (f"{chosen} is ahead of {default} on the validation cutoff beyond noise "
                      f"({metric} {values[chosen]:.4f} against {values[default]:.4f}; paired "
                      f"bootstrap: {'; '.join(checks)})")
        else:
            chosen = default
            reason = (f"{default} kept (validation {metric} {values[default]:.4f}): no other "
                      "scorer is ahead beyond noise"
                      + (f" (paired bootstrap of the difference: {'; '.join(checks)})"
                         if checks else ""))
    if chosen in ("rfm", "run_rate", "bgnbd", "bgnbd_gg"):
        reason = (f"baseline shipped: the data does not support a model that beats the "
                  f"{chosen} baseline on the validation cutoff; " + reason)
    return chosen, reason, values


def _classic_frame(training_set: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame | None, dict]:
    """Per-row classic predictions, each from a fit at the row's own cutoff (None if impossible)."""
    try:
        from repurchase_ml.models.btyd import SUMMARY_FEATURES, classic_predictions
    except ImportError:  # pragma: no cover - btyd ships with the package
        return None, {}
    if any(c not in training_set.columns for c in SUMMARY_FEATURES):
        logger.info("classic models skipped: feature columns %s are needed",
                    [c for c in SUMMARY_FEATURES if c not in training_set.columns])
        return None, {}
    frame = training_set.drop(columns=_label_columns(training_set))
    return classic_predictions(frame, horizon_days=horizon, skip_unfittable=True)


def train_models(
    training_set: pd.DataFrame | pl.DataFrame,
    *,
    tasks: Sequence[str] | None = None,
    horizons: Mapping[str, int] | None = None,
    valid_cutoff: Any = None,
    test_cutoff: Any = None,
    events: pd.DataFrame | pl.DataFrame | None = None,
    tune: bool = False,
    n_trials: int = 30,
    timeout: float | None = None,
    tuning_callbacks: Sequence[Callable[..., None]] | None = None,
    lgbm_params: Mapping[str, dict[str, Any]] | None = None,
    n_estimators: int = 1000,
    ltv_strategy: str = "tweedie",
    strict_validation: bool = True,
    refit: bool = True,
    random_state: int = 0,
    minimums: TrainingMinimums | None = None,
    on_insufficient: str = "skip",
    alive_days: int | None = None,
    candidates: Sequence[str] | None = None,
    tie_tolerance: float = 1e-3,
    threads: int | None = None,
) -> ModelBundle:
    """Plan, then train candidates per task, choose on validation, refit and test out of time.

    For each task: :func:`~repurchase_ml.models.plan.plan_training` shows the
    split, rows and positives first (logged; ``bundle.plan``). The candidates
    -- plain LightGBM (``"lightgbm"``), LightGBM boosted from the classic
    BG/NBD (x Gamma-Gamma) prediction of each row at its own cutoff
    (``"hybrid"``), a blend of the better tree model with the classic score
    (``"blend"``), the classic model (``"bgnbd"`` / ``"bgnbd_gg"``) and the
    rule (``"rfm"`` / ``"run_rate"``) -- are fitted on the training cutoffs
    (trees early-stopped on the newest training cutoff, so the validation
    cutoff stays clean) and scored on the validation cutoff by the task's
    primary metric (:data:`~repurchase_ml.models.evaluate.PRIMARY_METRICS`).
    The blend (else the hybrid) ships unless another
    scorer is ahead of it on the validation rows beyond noise (a paired
    bootstrap interval of the difference above zero; ties within
    ``tie_tolerance`` go to the simpler scorer): one validation cutoff is too
    noisy to switch on a point estimate. Without a classic model the best
    point estimate ships. ``bundle.choice`` records which and why. With ``refit`` the chosen trees are refitted on train +
    validation rows with the rounds early stopping chose. Every candidate is
    then scored on the test cutoff.

    Parameters
    ----------
    training_set : pandas or polars DataFrame
        Output of ``build_training_set``: ``customer_id``, ``cutoff``, feature
        columns and ``label_<task>`` columns (NaN outside the task's population).
    tasks : sequence of str, optional
        Tasks to train; default every task with a ``label_<task>`` column.
    horizons : mapping of task to days, optional
        Label windows the training set was built with (default: each task's
        default, as in ``repurchase_ml.features.TASKS``).
    valid_cutoff, test_cutoff : timestamp-like, optional
        Override the default split (see :func:`~repurchase_ml.models.plan.split_cutoffs`).
    events : pandas or polars DataFrame, optional
        The canonical event log; when given, BG/NBD + Gamma-Gamma fitted on
        its raw purchases before each test cutoff (``fit_clv_models``) is also
        scored (``"bgnbd_events"``, ``"bgnbd_gg_events"``): a cross-check of
        the fit on feature rows that the hybrid and blend build on.
    tune : bool, default False
        Tune the LightGBM parameters with Optuna on the inner split of the
        training cutoffs (never on the validation cutoff).
    n_trials, timeout : trial budget and time budget in seconds, per task.
    tuning_callbacks : list of callables, optional
    lgbm_params : mapping of task to dict, optional
        LightGBM parameters per task, over :func:`~repurchase_ml.models._base.capacity_params`.
    n_estimators : int, default 1000
    ltv_strategy : {"tweedie", "two_part"}, default "tweedie"
        ``"two_part"`` has no hybrid candidate.
    strict_validation : bool, default True
    refit : bool, default True
        Refit the chosen tree models on train + validation rows before testing.
    random_state : int, default 0
    minimums : TrainingMinimums, optional
        Least data per task (default :data:`~repurchase_ml.models.plan.DEFAULT_MINIMUMS`).
    on_insufficient : {"skip", "raise", "warn"}, default "skip"
        What happens to a task below the minimums (or churn whose alive
        window does not fit the log): ``"skip"`` leaves it untrained, with
        the plan's message (the task, what it has, what it needs, what would
        fix it) in ``bundle.skipped`` and a logged warning, and raises a
        :class:`~repurchase_ml.models.plan.TrainingPlanError` with every
        message when no requested task is left; ``"raise"`` refuses the
        whole call when any task is short; ``"warn"`` trains it anyway with
        a logged warning.
    alive_days : int, optional
        Churn's alive window the training set was built with
        (``build_training_set(..., alive_days=...)``); default
        ``training_set.attrs["alive_days"]``, else 365. Churn whose window
        admits every buyer is refused as a repurchase model under another name.
    candidates : sequence of str, optional
        Restrict the candidates (e.g. ``["lightgbm"]``); default all available.
    tie_tolerance : float, default 0.001
    threads : int, optional
        LightGBM threads per model (``num_threads``); default every available
        core from :data:`~repurchase_ml.models.threads.MIN_ROWS_PER_EXTRA_THREAD`
        training rows of a task, one below. ``lgbm_params`` may still set
        ``num_threads`` per task. The same thread count gives the same model.

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
    >>> try:  # 300 customers are below the default minimums
    ...     train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30})
    ... except TrainingPlanError as refusal:
    ...     print(str(refusal)[:78])
    task 'repurchase' cannot be trained as planned: train has 341 positives, needs
    >>> small = TrainingMinimums(train_positives=200, train_negatives=200, eval_rows=200,
    ...                          eval_positives=30, eval_negatives=30, history_days=0)
    >>> bundle = train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30},
    ...                       n_estimators=50, minimums=small)
    >>> bundle.cutoffs["repurchase"]["test"], bundle.cutoffs["repurchase"]["valid"]
    (Timestamp('2024-06-01 00:00:00'), Timestamp('2024-05-01 00:00:00'))
    >>> bundle.choice["repurchase"]["chosen"], bundle.scorecards["repurchase"]["model"]["roc_auc"] > 0.7
    ('lightgbm', True)
    """
    training_set = as_pandas(training_set, argument="training_set")
    if events is not None:
        events = as_pandas(events, argument="events")
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
    if on_insufficient not in ON_INSUFFICIENT:
        raise ValueError(f"on_insufficient must be one of {', '.join(map(repr, ON_INSUFFICIENT))}"
                         f", got {on_insufficient!r}.")
    allowed = set(SIMPLICITY) if candidates is None else set(candidates)
    unknown = sorted(allowed - set(SIMPLICITY))
    if unknown:
        raise ValueError(f"candidates: unknown {unknown}; choose among {list(SIMPLICITY)}.")
    resolved = _resolved_horizons(training_set, names, horizons)
    feature_cols = [c for c in training_set.columns
                    if c not in KEY_COLUMNS and c not in _label_columns(training_set)]
    X_all = validate_feature_frame(training_set[feature_cols], name="training_set features")
    cutoff_col = pd.to_datetime(training_set["cutoff"])
    plan = plan_training(training_set, tasks=names, horizons={t: int(resolved[t]) for t in names},
                         minimums=minimums, valid_cutoff=valid_cutoff, test_cutoff=test_cutoff,
                         strict_validation=strict_validation, alive_days=alive_days)
    logger.info("%s", plan)
    refused = plan.insufficient()
    if refused and (on_insufficient == "raise"
                    or (on_insufficient == "skip" and len(refused) == len(names))):
        raise TrainingPlanError(" ".join(refused.values()) + (
            "" if on_insufficient == "raise" else " No task is left to train."))
    for message in refused.values():
        logger.warning("%s%s", message, " Skipped (on_insufficient='skip')."
                       if on_insufficient == "skip" else
                       " Training anyway (on_insufficient='warn').")
    clv_cache: dict[pd.Timestamp, Any] = {}
    classic_cache: dict[int, tuple[pd.DataFrame | None, dict]] = {}
    bundle = ModelBundle(
        models={}, feature_names=feature_cols,
        feature_dtypes={c: str(X_all[c].dtype) for c in feature_cols},
        horizons={t: int(resolved[t]) for t in names}, refit=bool(refit), plan=plan,
    )
    for task in iterate(names, "training", unit="task"):
        if task in refused and on_insufficient == "skip":
            bundle.skipped[task] = refused[task]
            continue
        horizon = bundle.horizons[task]
        label = training_set[f"label_{task}"]
        labelled = label.notna()
        split = plan.tasks[task].split
        masks = {
            "train": (labelled & cutoff_col.isin(split["train"])).to_numpy(),
            "valid": (labelled & (cutoff_col == split["valid"])).to_numpy(),
            "test": (labelled & (cutoff_col == split["test"])).to_numpy(),
        }
        y_all = label.to_numpy(dtype=float)
        if horizon not in classic_cache:
            classic_cache[horizon] = _classic_frame(training_set, horizon)
        classic_pred, classic_models = classic_cache[horizon]
        classic_score: Any = None  # per-row classic score, when the classic model fits
        classic_model = classic_models.get(split["test"]) if classic_models else None
        if classic_pred is not None and classic_model is not None:
            raw = _classic_task_score(task, classic_pred)
            if np.isfinite(raw[masks["train"] | masks["valid"] | masks["test"]]).mean() > 0.5:
                fill = float(np.nanmean(raw[masks["train"]]))
                classic_score = np.where(np.isfinite(raw), raw, fill)
        use_classic = classic_score is not None
        rule = _per_cutoff_rule(task, training_set, horizon)
        n_train = int(masks["train"].sum())
        params = {**capacity_params(n_train), "num_threads": lgbm_threads(n_train, threads),
                  **dict((lgbm_params or {}).get(task) or {})}
        template = _make_estimator(task, params=params, n_estimators=n_estimators,
                                   ltv_strategy=ltv_strategy, random_state=random_state)
        X_train, y_train = X_all.loc[masks["train"]], y_all[masks["train"]]
        train_rows = training_set.loc[masks["train"]]
        fit_mask, stop_mask = _inner_split(train_rows, split["train"])
        logger.info("task %s: train %d rows (%d cutoffs, inner early stop on %d), valid %d rows "
                    "at %s, test %d rows at %s", task, n_train, len(split["train"]),
                    int(stop_mask.sum()), int(masks["valid"].sum()), split["valid"].date(),
                    int(masks["test"].sum()), split["test"].date())
        if tune:
            result = tune_estimator(template, X_train.loc[fit_mask], y_train[fit_mask],
                                    eval_set=(X_train.loc[stop_mask], y_train[stop_mask]),
                                    n_trials=n_trials, timeout=timeout, random_state=random_state,
                                    callbacks=tuning_callbacks)
            bundle.tuning[task] = result
            template.set_params(lgbm_params=result.best_params)
        offsets = _offset(task, classic_score) if use_classic else None
        trees: dict[str, tuple[Any, np.ndarray | None]] = {}
        if "lightgbm" in allowed or "blend" in allowed:
            trees["lightgbm"] = (_fit_tree(task, template, X_train, y_train, None, fit_mask,
                                           stop_mask), None)
        if use_classic and ("hybrid" in allowed or "blend" in allowed) and not (
                task == "ltv" and ltv_strategy == "two_part"):
            assert offsets is not None  # use_classic
            trees["hybrid"] = (_fit_tree(task, template, X_train, y_train,
                                         offsets[masks["train"]], fit_mask, stop_mask), offsets)

        def candidate_scores(mask: np.ndarray, fitted: dict[str, tuple[Any, Any]], *,
                             task: str = task, rule: Any = rule, use_classic: bool = use_classic,
                             classic_score: Any = classic_score,
                             ) -> dict[str, tuple[np.ndarray, bool]]:
            out: dict[str, tuple[np.ndarray, bool]] = {}
            for name, (model, off) in fitted.items():
                out[name] = (_tree_score(task, model, X_all.loc[mask],
                                         None if off is None else off[mask]), True)
            if rule is not None:
                out[_rule_name(task)] = (rule[mask], TASK_KINDS[task] != "classification")
            if use_classic:
                out[_classic_name(task)] = (classic_score[mask], True)
            return out

        valid_scores = candidate_scores(masks["valid"], trees)
        y_valid = y_all[masks["valid"]]
        tree_cards = _evaluate_all(task, y_valid, {k: v for k, v in valid_scores.items()
                                                   if k in trees})
        metric = PRIMARY_METRICS[task]
        best_tree = (max(tree_cards, key=lambda k: (np.nan_to_num(tree_cards[k][metric], nan=-9),
                                                    k == "lightgbm"))
                     if tree_cards else None)
        weight = None
        if best_tree is not None and use_classic and "blend" in allowed:
            tree_score = valid_scores[best_tree][0]
            by_weight = {w: evaluate(y_valid, w * tree_score + (1 - w) * classic_score[masks["valid"]],
                                     kind=TASK_KINDS[task]).metrics[metric] for w in _BLEND_WEIGHTS}
            weight = max(by_weight, key=lambda w: np.nan_to_num(by_weight[w], nan=-9))
            valid_scores["blend"] = (weight * tree_score
                                     + (1 - weight) * classic_score[masks["valid"]], True)
        choosable = {k: v for k, v in valid_scores.items() if k in allowed}
        valid_cards = _evaluate_all(task, y_valid, choosable)
        chosen, reason, values = _choose(task, y_valid, choosable, valid_cards,
                                         tolerance=tie_tolerance,
                                         random_state=random_state)
        rule_calibrator = None
        if chosen == "rfm" and rule is not None:
            rule_calibrator = fit_calibrator("isotonic", np.clip(rule[masks["valid"]], 0, 1),
                                             y_valid.astype(int))
        both = masks["train"] | masks["valid"]
        if refit:
            trees = {name: (_refit(model, X_all.loc[both], y_all[both],
                                   None if off is None else off[both]), off)
                     for name, (model, off) in trees.items()}
        tree_name = {"lightgbm": "lightgbm", "hybrid": "hybrid", "blend": best_tree}.get(
            chosen, best_tree)
        scorer = TaskScorer(
            task=task, horizon=horizon, chosen=chosen,
            model=trees[tree_name][0] if tree_name in trees else None,
            hybrid=tree_name == "hybrid", classic=classic_model if use_classic else None,
            classic_fill=float(np.nanmean(classic_score[masks["train"]])) if use_classic else 0.0,
            blend_weight=weight if chosen == "blend" else None, rule_calibrator=rule_calibrator,
        )
        test_scores = candidate_scores(masks["test"], trees)
        if weight is not None and best_tree in test_scores:
            test_scores["blend"] = (weight * test_scores[best_tree][0]
                                    + (1 - weight) * classic_score[masks["test"]], True)
        test_rows = training_set.loc[masks["test"]]
        shipped = scorer.predict(test_rows, X_all.loc[masks["test"]])
        test_scores = {"model": (shipped, TASK_KINDS[task] != "classification"
                                 or chosen != "rfm" or rule_calibrator is not None),
                       **test_scores}
        if events is not None:
            if split["test"] not in clv_cache:
                clv_cache[split["test"]] = fit_clv_models(  # orders counted as the labels do
                    events, cutoff=split["test"],
                    order_definition=training_set.attrs.get("order_definition", "order_id"),
                    cancellation_window_days=training_set.attrs.get(
                        "cancellation_window_days", 1.0))
            for name, value in baseline_scores(task, test_rows, horizon=horizon,
                                               clv=clv_cache[split["test"]]).items():
                if name.startswith("bgnbd"):
                    test_scores[name.replace("bgnbd", "bgnbd_events", 1)
                                if name != "bgnbd_gg" else "bgnbd_gg_events"] = value
        bundle.scorecards[task] = _evaluate_all(task, y_all[masks["test"]], test_scores)
        bundle.choice[task] = {"chosen": chosen, "reason": reason, "metric": metric,
                               "validation": values, "blend_weight": weight,
                               "tree_model": tree_name}
        logger.info("task %s: shipping %s (%s)", task, chosen, reason)
        bundle.scorers[task] = scorer
        bundle.models[task] = scorer.model if scorer.model is not None else (
            trees[best_tree][0] if best_tree in trees else None)
        if bundle.models[task] is None:
            del bundle.models[task]
        bundle.cutoffs[task] = split
    return bundle
