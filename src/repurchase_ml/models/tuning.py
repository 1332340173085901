"""Optuna tuning of a LightGBM estimator on a later (validation) cutoff.

Plain Optuna with a small LightGBM pruning callback of our own (the LightGBM
integration moved to the separate ``optuna-integration`` package; twenty
lines here keep the dependencies lean). A seeded TPE sampler and a median
pruner make a run with a trial budget reproducible; a time budget stops
earlier on a slower machine, which changes how many trials run, never what a
given trial does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import log_loss, mean_poisson_deviance, mean_tweedie_deviance

if TYPE_CHECKING:  # imported on first use: optuna's import pulls tqdm, which warns in Jupyter
    import optuna

from repurchase_ml._progress import step

__all__ = ["TuningResult", "tune_estimator", "default_search_space", "LightGBMPruningCallback"]

logger = logging.getLogger(__name__)

SearchSpace = Callable[["optuna.Trial"], dict[str, Any]]


def default_search_space(trial: optuna.Trial) -> dict[str, Any]:
    """LightGBM parameters sampled for one trial (ranges that suit tabular churn data).

    Examples
    --------
    >>> import optuna
    >>> study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    >>> sorted(default_search_space(study.ask()))[:3]
    ['bagging_fraction', 'bagging_freq', 'feature_fraction']
    """
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.2, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 4, 128, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 300, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.4, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "bagging_freq": 1,
        "lambda_l2": trial.suggest_float("lambda_l2", 1e-3, 30.0, log=True),
    }


class LightGBMPruningCallback:
    """Report the validation metric to an Optuna trial each round; prune when told.

    Parameters
    ----------
    trial : optuna.Trial
    report_every : int, default 10
        Report every this many rounds (fewer reports, less overhead).
    """

    order = 30  # after LightGBM's own evaluation callbacks

    def __init__(self, trial: optuna.Trial, *, report_every: int = 10) -> None:
        self.trial = trial
        self.report_every = report_every

    def __call__(self, env: Any) -> None:
        if not env.evaluation_result_list or (env.iteration + 1) % self.report_every:
            return
        _, _, value, higher_is_better = env.evaluation_result_list[0]
        self.trial.report(-value if higher_is_better else value, step=env.iteration + 1)
        if self.trial.should_prune():
            import optuna

            raise optuna.TrialPruned(f"pruned at round {env.iteration + 1}")


@dataclass(frozen=True)
class TuningResult:
    """Outcome of :func:`tune_estimator` (plain data; pickles without Optuna objects).

    Attributes
    ----------
    best_params : dict
        LightGBM parameters of the best trial (pass as ``lgbm_params``).
    best_value : float
        Its validation loss (lower is better).
    study_summary : pandas.DataFrame
        One row per trial: number, state, value, duration and parameters.
    n_trials : int
        Trials run (complete and pruned).
    metric : str
        Name of the validation loss.
    """

    best_params: dict[str, Any]
    best_value: float
    study_summary: pd.DataFrame
    n_trials: int
    metric: str


def _validation_loss(estimator: Any, X: pd.DataFrame, y: np.ndarray) -> tuple[str, float]:
    if hasattr(estimator, "predict_proba"):
        p = np.clip(estimator.predict_raw_proba(X), 1e-15, 1 - 1e-15)
        return "log_loss", float(log_loss(y, p, labels=[0, 1]))
    pred = np.maximum(estimator.predict(X), 1e-9)
    if getattr(estimator, "strategy", None) is not None:
        power = float((estimator.lgbm_params or {}).get("tweedie_variance_power", 1.5))
        return "tweedie_deviance", float(
            mean_tweedie_deviance(np.maximum(y, 0), pred, power=power)
        )
    return "poisson_deviance", float(mean_poisson_deviance(y, pred))


def tune_estimator(
    estimator: Any,
    X: pd.DataFrame,
    y: Any,
    *,
    eval_set: tuple[pd.DataFrame, Any],
    n_trials: int = 30,
    timeout: float | None = None,
    random_state: int = 0,
    search_space: SearchSpace | None = None,
    callbacks: Sequence[Callable[[optuna.Study, optuna.trial.FrozenTrial], None]] | None = None,
) -> TuningResult:
    """Tune ``estimator``'s LightGBM parameters against a validation cutoff.

    Each trial clones ``estimator`` with sampled ``lgbm_params`` (merged over
    its own), fits on ``(X, y)`` early-stopped on ``eval_set`` and is scored on
    ``eval_set`` by log loss before calibration (classifiers), Poisson
    deviance (order counts) or Tweedie deviance (LTV). Unpromising trials are
    pruned from the validation metric reported every 10 rounds.

    Parameters
    ----------
    estimator : LGBMTaskClassifier, OrderCountRegressor or LTVRegressor
        Unfitted template.
    X, y : training rows (earlier cutoffs).
    eval_set : (pandas.DataFrame, array-like)
        Validation rows (a later cutoff).
    n_trials : int, default 30
        Trial budget.
    timeout : float, optional
        Time budget in seconds (the study stops after the running trial).
    random_state : int, default 0
        Seeds the TPE sampler and every trial's LightGBM.
    search_space : callable, optional
        ``trial -> dict`` of LightGBM parameters; default :func:`default_search_space`.
    callbacks : list of callables, optional
        Optuna study callbacks ``(study, frozen_trial) -> None``, called after
        every trial (e.g. to log trials to MLflow).

    Returns
    -------
    TuningResult

    Examples
    --------
    >>> from repurchase_ml.models import OrderCountRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"rate": rng.uniform(0, 3, 600)})
    >>> y = rng.poisson(X["rate"])
    >>> res = tune_estimator(OrderCountRegressor(n_estimators=40), X[:400], y[:400],
    ...                      eval_set=(X[400:], y[400:]), n_trials=3)
    >>> res.n_trials, res.metric, len(res.study_summary)
    (3, 'poisson_deviance', 3)
    """
    if not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive int, got {n_trials!r}.")
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}.")
    space = search_space or default_search_space
    base_params = dict(estimator.get_params().get("lgbm_params") or {})
    y_arr = np.asarray(y, dtype=float)
    X_valid, y_valid = eval_set
    y_valid = np.asarray(y_valid, dtype=float)
    metric_name = {"name": ""}

    def objective(trial: optuna.Trial) -> float:
        params = {**base_params, **space(trial)}
        model = clone(estimator).set_params(lgbm_params=params, random_state=random_state)
        if "calibration" in model.get_params():
            model.set_params(calibration=None)
        model.fit(X, y_arr, eval_set=(X_valid, y_valid),
                  callbacks=[LightGBMPruningCallback(trial)])
        name, value = _validation_loss(model, X_valid, y_valid)
        metric_name["name"] = name
        trial.set_user_attr("best_iteration", int(model.best_iteration_))
        trial.set_user_attr("lgbm_params", params)
        return value

    import optuna

    # one progress bar instead of Optuna's lines per study and trial (its warnings still show)
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(verbosity, optuna.logging.WARNING))
    try:
        study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(seed=random_state),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=30),
        )
        with step("tuning", total=n_trials, unit="trial") as bar:
            study.optimize(objective, n_trials=n_trials, timeout=timeout,
                           callbacks=[*(callbacks or ()), lambda _study, _trial: bar.advance()])
    finally:
        optuna.logging.set_verbosity(verbosity)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise RuntimeError(
            "tuning finished without a complete trial; raise n_trials or timeout."
        )
    summary = study.trials_dataframe(
        attrs=("number", "state", "value", "duration", "params", "user_attrs")
    ).drop(columns=["user_attrs_lgbm_params"], errors="ignore")
    summary["duration"] = summary["duration"].dt.total_seconds()
    best = dict(study.best_trial.user_attrs["lgbm_params"])
    logger.info("tuning: %d trials, best %s = %.5f", len(study.trials), metric_name["name"],
                study.best_value)
    return TuningResult(
        best_params=best,
        best_value=float(study.best_value),
        study_summary=summary,
        n_trials=len(study.trials),
        metric=metric_name["name"],
    )
