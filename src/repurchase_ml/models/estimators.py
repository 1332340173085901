"""LightGBM estimators for the prediction tasks, on the scikit-learn contract.

- :class:`LGBMTaskClassifier`: churn, repurchase, second purchase (binary),
  early-stopped on a later cutoff and calibrated there when that helps.
- :class:`OrderCountRegressor`: number of orders in the horizon (Poisson).
- :class:`LTVRegressor`: net revenue in the horizon, zero-inflated and heavy
  tailed (Tweedie, or a two-part model P(buy) x E[revenue | buy]).

All of them take ``fit(X, y, *, sample_weight=None, eval_set=(X_valid, y_valid))``
with ``X`` a pandas or polars frame or a 2-D array, remember the feature names
and dtypes, expose ``booster_`` (a :class:`lightgbm.Booster`, so
``booster_.predict(X, pred_contrib=True)`` gives contributions on the margin
scale) and ``feature_importances_``, and refuse a mismatched frame through
``check_features``. They pass scikit-learn's ``check_estimator`` (see
``tests/test_sklearn_contract.py`` for the few checks left out and why), so they
work in a ``Pipeline``, ``GridSearchCV`` (also over ``lgbm_params__<name>``)
and ``cross_val_score``.

**Hybrid (boosted from a classic model).** Every ``fit`` also takes
``init_score`` (and ``eval_init_score`` for the ``eval_set`` rows): a per-row
starting point on the link scale -- the logit of a probability for the
classifier, the log of the expected count or revenue for the regressors
(:func:`logit_offset`, :func:`log_offset`). The trees then learn only the
correction. LightGBM does not store the offset, so ``predict`` /
``predict_proba`` take ``init_score=`` too and add it to the raw score; a model
fitted with an offset refuses to predict without one. ``booster_`` still
describes the trees alone: its ``pred_contrib`` (and SHAP expected value, the
``bias`` column) explain the *correction* to the classic prediction, without
the offset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd  # noqa: F401  (the docstring examples use it)
from scipy.special import expit
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets

from repurchase_ml.models._base import (
    LGBMEstimatorBase,
    target_array,
    validate_sample_weight,
    validate_target,
)
from repurchase_ml.models.calibration import (
    CALIBRATION_METHODS,
    apply_calibrator,
    choose_calibration,
    fit_calibrator,
)

__all__ = ["LGBMTaskClassifier", "OrderCountRegressor", "LTVRegressor", "logit_offset",
           "log_offset", "OFFSET_EPS"]

logger = logging.getLogger(__name__)

Callback = Callable[..., Any]

#: classic predictions are kept at least this far from 0 (and 1) before the logit or log
OFFSET_EPS = 1e-6


def logit_offset(probability: Any) -> np.ndarray:
    """Logit of a probability, clipped to ``[OFFSET_EPS, 1 - OFFSET_EPS]``: a classifier's offset.

    Examples
    --------
    >>> logit_offset([0.5, 0.8]).round(4).tolist()
    [0.0, 1.3863]
    """
    p = np.clip(np.asarray(probability, dtype=float), OFFSET_EPS, 1.0 - OFFSET_EPS)
    return np.log(p / (1.0 - p))


def log_offset(expected: Any) -> np.ndarray:
    """Log of an expected count or revenue, floored at ``OFFSET_EPS``: a regressor's offset.

    Examples
    --------
    >>> log_offset([1.0, 0.0]).round(3).tolist()
    [0.0, -13.816]
    """
    return np.log(np.maximum(np.asarray(expected, dtype=float), OFFSET_EPS))


def _binary_target(y: np.ndarray, name: str) -> np.ndarray:
    values = set(np.unique(y).tolist())
    if not values <= {0.0, 1.0}:
        raise ValueError(
            f"{name} must hold 0/1 (or bool) labels, got values {sorted(values)[:5]}; "
            "a classification task needs a binary label."
        )
    return y


def _nonnegative_target(y: np.ndarray, name: str) -> np.ndarray:
    if (y < 0).any():
        raise ValueError(
            f"{name} must be >= 0 for a count model, got {int((y < 0).sum())} negative "
            f"values (e.g. {y[y < 0][:3].tolist()})."
        )
    return y


class LGBMTaskClassifier(ClassifierMixin, LGBMEstimatorBase):
    """Binary LightGBM classifier for churn, repurchase or second purchase.

    Parameters
    ----------
    lgbm_params : dict, optional
        LightGBM parameters over :data:`repurchase_ml.models._base.DEFAULT_LGBM_PARAMS`
        (objective, seed and rounds are set by this estimator).
    n_estimators : int, default 1000
        Maximum boosting rounds (all of them when no ``eval_set`` is given).
    early_stopping_rounds : int, default 50
        Stop when the validation log loss has not improved for this many rounds.
    calibration : {"auto", "isotonic", "sigmoid", None}, default "auto"
        Calibration fitted on ``eval_set`` (the validation cutoff). ``"auto"``
        tries isotonic and sigmoid (Platt); a named method tries only that one.
        A calibrator is kept only when its out-of-fold log loss on the
        validation set is lower than the raw model's; without ``eval_set`` no
        calibration is done (an explicit method then raises).
    random_state : int, default 0
        Seed for LightGBM and for the calibration folds.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        The margin (log-odds) model, truncated at the best round.
        ``booster_.predict(X, pred_contrib=True)`` explains the margin before
        calibration.
    best_iteration_ : int
    calibration_ : str or None
        The calibration kept.
    calibrator_ : object or None
    calibration_log_loss_ : dict
        Out-of-fold validation log loss of ``"none"`` and each candidate.
    classes_ : ndarray of shape (2,)
        The two labels, sorted; ``classes_[1]`` is the positive class
        (``[0, 1]`` for 0/1, bool or 0.0/1.0 labels; e.g. ``['stayed',
        'churned']`` sorts to ``['churned', 'stayed']``: pass 0/1 to choose).
    feature_importances_ : ndarray
        Share of the split gain per feature.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a frame (absent for an array).
    feature_dtypes_ : dict, n_features_in_ : int
        The fitted schema (array columns are named ``Column_0``, ...).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"recency": rng.uniform(0, 100, 300)})
    >>> y = (rng.uniform(size=300) < np.exp(-X["recency"] / 30)).astype(int)
    >>> clf = LGBMTaskClassifier(n_estimators=50, calibration=None).fit(X, y)
    >>> p = clf.predict_proba(pd.DataFrame({"recency": [1.0, 90.0]}))[:, 1]
    >>> bool(p[0] > p[1])
    True
    """

    def __init__(
        self,
        *,
        lgbm_params: dict[str, Any] | None = None,
        n_estimators: int = 1000,
        early_stopping_rounds: int = 50,
        calibration: str | None = "auto",
        random_state: int = 0,
    ) -> None:
        super().__init__(
            lgbm_params=lgbm_params,
            n_estimators=n_estimators,
            early_stopping_rounds=early_stopping_rounds,
            random_state=random_state,
        )
        self.calibration = calibration

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # churn, repurchase: one binary label
        return tags

    def _encode(self, y: Any, *, name: str) -> np.ndarray:
        """Labels as 0.0/1.0 by :attr:`classes_`; an unknown label is refused."""
        arr = target_array(y, name=name)
        known = np.isin(arr, self.classes_)
        if not known.all():
            raise ValueError(f"{name} holds labels outside the training classes "
                             f"{self.classes_.tolist()}: {np.unique(arr[~known])[:5].tolist()}.")
        return (arr == self.classes_[1]).astype(float)

    def _valid_target(self, y: Any, *, n_rows: int) -> np.ndarray:
        return validate_target(self._encode(y, name="eval_set y"), n_rows=n_rows,
                               name="eval_set y")

    def _learn_classes(self, y: Any) -> np.ndarray:
        """Set :attr:`classes_` from the training labels and return them as 0.0/1.0."""
        arr = target_array(y)
        if arr.dtype.kind in "biuf":
            validate_target(arr, n_rows=len(arr))  # names missing or infinite labels
        check_classification_targets(arr)  # "Unknown label type: continuous" for amounts
        present = np.unique(arr)
        if len(present) > 2:
            raise ValueError(
                f"y holds {len(present)} classes ({present[:5].tolist()}): Only binary "
                "classification is supported; this classifier predicts one yes/no label "
                "(e.g. churned or not). Fix: map the labels to 0/1.")
        if len(present) < 2:
            raise ValueError(
                f"y holds only one class ({present[0]!r}); a classifier needs both 0 and 1 in "
                "its training rows (use more cutoffs or a longer horizon).")
        zero_one = arr.dtype.kind in "biuf" and set(present.astype(float).tolist()) == {0.0, 1.0}
        self.classes_ = np.array([0, 1]) if zero_one else present  # 0/1, bool, 0.0/1.0 alike
        return self._encode(arr, name="y")

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        eval_set: tuple[Any, Any] | None = None,
        callbacks: Sequence[Callback] | None = None,
        init_score: Any = None,
        eval_init_score: Any = None,
    ) -> LGBMTaskClassifier:
        """Fit on ``(X, y)``; early-stop and calibrate on ``eval_set``.

        Parameters
        ----------
        X : pandas or polars DataFrame, or 2-D array
            Numeric feature columns.
        y : array-like
            One label per row, no missing values: 0/1 (or bool), or any two
            labels (strings too; see :attr:`classes_`).
        sample_weight : array-like, optional
            Non-negative weight per training row (the ``eval_set`` rows are
            unweighted).
        eval_set : (frame or array, array-like), optional
            Validation rows from a later cutoff.
        callbacks : list of callables, optional
            Extra LightGBM training callbacks (e.g. an Optuna pruner).
        init_score, eval_init_score : array-like, optional
            Per-row log-odds to boost from (a hybrid), for ``X`` and for the
            ``eval_set`` rows (:func:`logit_offset` of a classic probability).

        Returns
        -------
        LGBMTaskClassifier
            ``self``, fitted.
        """
        if self.calibration not in (*CALIBRATION_METHODS, "auto", None):
            raise ValueError(
                f"calibration must be 'auto', 'isotonic', 'sigmoid' or None, got {self.calibration!r}."
            )
        X = self._fit_features(X)
        y_arr = validate_target(self._learn_classes(y), n_rows=len(X))
        weight = validate_sample_weight(sample_weight, n_rows=len(X))
        valid = self._split_eval_set(eval_set, X, target_check=_binary_target)
        if valid is None and self.calibration in CALIBRATION_METHODS:
            raise ValueError(
                f"calibration={self.calibration!r} is fitted on the validation rows; pass "
                "eval_set=(X_valid, y_valid) or use calibration='auto' or None."
            )
        offset, valid_offset = self._fit_offsets(init_score, eval_init_score, X, valid)
        booster, best, history = self._train_booster(
            X, y_arr, objective="binary", eval_set=valid, callbacks=callbacks,
            init_score=offset, eval_init_score=valid_offset, sample_weight=weight,
        )
        self.fitted_with_offset_ = offset is not None
        calibrator, method = None, None
        losses: dict[str, float] = {}
        if valid is not None and self.calibration is not None:
            candidates = CALIBRATION_METHODS if self.calibration == "auto" else (self.calibration,)
            p_valid = expit(self._raw_margin(booster, valid[0], valid_offset))
            method, losses = choose_calibration(
                p_valid, valid[1], candidates=candidates, random_state=self.random_state
            )
            if method is not None:
                calibrator = fit_calibrator(method, p_valid, valid[1].astype(int))
            logger.debug("calibration kept: %s (validation log loss: %s)", method or "none",
                         ", ".join(f"{k} {v:.4f}" for k, v in losses.items()))
        self.booster_ = booster
        self.best_iteration_ = best
        self.evals_result_ = history
        self.calibration_ = method
        self.calibrator_ = calibrator
        self.calibration_log_loss_ = losses
        self._remember_schema(X)
        return self

    def predict_raw_proba(self, X: Any, *, init_score: Any = None) -> np.ndarray:
        """Probability of class 1 before calibration, shape ``(n,)``.

        A hybrid needs ``init_score``: ``expit(raw_score + init_score)``.
        """
        X = self.check_features(X)
        if init_score is None and not getattr(self, "fitted_with_offset_", False):
            return np.asarray(self.booster_.predict(X), dtype=float)
        return expit(self._raw_margin(self.booster_, X, init_score))

    def predict_proba(self, X: Any, *, init_score: Any = None) -> np.ndarray:
        """Calibrated class probabilities, shape ``(n, 2)``: columns P(classes_[0]), P(classes_[1])."""
        p = self.predict_raw_proba(X, init_score=init_score)
        if self.calibrator_ is not None:
            p = apply_calibrator(self.calibrator_, p)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any, *, init_score: Any = None) -> np.ndarray:
        """``classes_[1]`` where the calibrated probability is at least 0.5, else ``classes_[0]``."""
        positive = self.predict_proba(X, init_score=init_score)[:, 1] >= 0.5
        return self.classes_[positive.astype(int)]


class OrderCountRegressor(RegressorMixin, LGBMEstimatorBase):
    """LightGBM Poisson model of the number of orders in the horizon.

    Parameters
    ----------
    lgbm_params : dict, optional
        LightGBM parameters over the defaults.
    n_estimators : int, default 1000
        Maximum boosting rounds.
    early_stopping_rounds : int, default 50
        Patience on the validation Poisson deviance.
    random_state : int, default 0
        Seed.

    Attributes
    ----------
    booster_ : lightgbm.Booster
        Margin is the log of the expected count, so ``pred_contrib`` explains
        log orders.
    best_iteration_, evals_result_, feature_importances_, feature_names_in_, feature_dtypes_, \
n_features_in_
        As for :class:`LGBMTaskClassifier`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"rate": rng.uniform(0, 3, 400)})
    >>> y = rng.poisson(X["rate"])
    >>> m = OrderCountRegressor(n_estimators=60).fit(X, y)
    >>> bool(abs(m.predict(X).sum() / y.sum() - 1) < 0.05)
    True
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # counts of orders
        return tags

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        eval_set: tuple[Any, Any] | None = None,
        callbacks: Sequence[Callback] | None = None,
        init_score: Any = None,
        eval_init_score: Any = None,
    ) -> OrderCountRegressor:
        """Fit on non-negative counts; early-stop on ``eval_set`` when given.

        Parameters
        ----------
        X : pandas or polars DataFrame, or 2-D array
        y : array-like of counts >= 0
        sample_weight : array-like, optional
            Non-negative weight per training row.
        eval_set : (frame or array, array-like), optional
        callbacks : list of callables, optional
        init_score, eval_init_score : array-like, optional
            Per-row log expected orders to boost from (:func:`log_offset` of a
            classic forecast), for ``X`` and for the ``eval_set`` rows.

        Returns
        -------
        OrderCountRegressor
        """
        X = self._fit_features(X)
        y_arr = _nonnegative_target(validate_target(y, n_rows=len(X)), "y")
        weight = validate_sample_weight(sample_weight, n_rows=len(X))
        valid = self._split_eval_set(eval_set, X, target_check=_nonnegative_target)
        offset, valid_offset = self._fit_offsets(init_score, eval_init_score, X, valid)
        self.booster_, self.best_iteration_, self.evals_result_ = self._train_booster(
            X, y_arr, objective="poisson", eval_set=valid, callbacks=callbacks,
            init_score=offset, eval_init_score=valid_offset, sample_weight=weight,
        )
        self.fitted_with_offset_ = offset is not None
        self._remember_schema(X)
        return self

    def predict(self, X: Any, *, init_score: Any = None) -> np.ndarray:
        """Expected number of orders in the horizon (``exp(raw + init_score)`` for a hybrid)."""
        X = self.check_features(X)
        if init_score is None and not getattr(self, "fitted_with_offset_", False):
            return np.asarray(self.booster_.predict(X), dtype=float)
        return np.exp(self._raw_margin(self.booster_, X, init_score))


class LTVRegressor(RegressorMixin, LGBMEstimatorBase):
    """LightGBM model of net revenue in the horizon (zero-inflated, heavy tailed).

    Parameters
    ----------
    strategy : {"tweedie", "two_part"}, default "tweedie"
        ``"tweedie"``: one booster with the Tweedie objective (variance power
        from ``lgbm_params["tweedie_variance_power"]``, default 1.5).
        ``"two_part"``: a binary booster for P(revenue > 0) times a Gamma
        booster for E[revenue | revenue > 0], fitted on the buyers only.
        ``docs/ltv_model_choice.md`` compares the two.
    lgbm_params : dict, optional
        LightGBM parameters over the defaults (shared by both parts).
    n_estimators : int, default 1000
    early_stopping_rounds : int, default 50
    random_state : int, default 0

    Attributes
    ----------
    booster_ : lightgbm.Booster
        Tweedie: the one booster (margin = log expected revenue). Two-part:
        the purchase booster (margin = log-odds of any revenue), which drives
        most of the ranking; the spend part is ``amount_booster_``.
    amount_booster_ : lightgbm.Booster or None
        Two-part only: Gamma model of revenue among buyers (margin = log spend).
    n_negative_clipped_ : int
        Targets below 0 (net refunds) are set to 0 for fitting, which both
        objectives need; their number is kept here and logged as a warning.
    best_iteration_, feature_importances_, feature_names_in_, feature_dtypes_, n_features_in_
        As for :class:`LGBMTaskClassifier`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"value": rng.uniform(0, 1, 500)})
    >>> buy = rng.uniform(size=500) < X["value"]
    >>> y = np.where(buy, rng.gamma(2.0, 50 * (1 + X["value"])), 0.0)
    >>> m = LTVRegressor(strategy="two_part", n_estimators=40).fit(X, y)
    >>> pred = m.predict(pd.DataFrame({"value": [0.05, 0.95]}))
    >>> bool(pred[1] > 3 * pred[0])
    True
    """

    def __init__(
        self,
        *,
        strategy: str = "tweedie",
        lgbm_params: dict[str, Any] | None = None,
        n_estimators: int = 1000,
        early_stopping_rounds: int = 50,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            lgbm_params=lgbm_params,
            n_estimators=n_estimators,
            early_stopping_rounds=early_stopping_rounds,
            random_state=random_state,
        )
        self.strategy = strategy

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # revenue; net refunds count as 0 (see _clip)
        return tags

    def _clip(self, y: np.ndarray, name: str) -> tuple[np.ndarray, int]:
        neg = int((y < 0).sum())
        if neg:
            # refunds beyond purchases in a horizon are ordinary, not a fault to warn about
            what = "early-stopping" if name.startswith("eval_set") else "training"
            logger.info(
                "LTV %s labels: %d of %d rows refunded more than they bought in the horizon; "
                "their net revenue counts as 0 for fitting (%s)", what, neg, len(y), name,
            )
        return np.maximum(y, 0.0), neg

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        sample_weight: Any = None,
        eval_set: tuple[Any, Any] | None = None,
        callbacks: Sequence[Callback] | None = None,
        init_score: Any = None,
        eval_init_score: Any = None,
    ) -> LTVRegressor:
        """Fit on net revenue per row; early-stop on ``eval_set`` when given.

        Parameters
        ----------
        X : pandas or polars DataFrame, or 2-D array
        y : array-like of revenue
        sample_weight : array-like, optional
            Non-negative weight per training row (both parts of the two-part model).
        eval_set : (frame or array, array-like), optional
        callbacks : list of callables, optional
            Passed to the Tweedie booster, or to the purchase booster of the
            two-part model.
        init_score, eval_init_score : array-like, optional
            Tweedie only: per-row log expected revenue to boost from
            (:func:`log_offset` of BG/NBD x Gamma-Gamma), for ``X`` and for
            the ``eval_set`` rows.

        Returns
        -------
        LTVRegressor
        """
        if self.strategy not in ("tweedie", "two_part"):
            raise ValueError(
                f"strategy must be 'tweedie' or 'two_part', got {self.strategy!r}."
            )
        X = self._fit_features(X)
        y_arr, n_neg = self._clip(validate_target(y, n_rows=len(X)), "y")
        weight = validate_sample_weight(sample_weight, n_rows=len(X))
        valid = self._split_eval_set(
            eval_set, X, target_check=lambda v, name: self._clip(v, name)[0]
        )
        offset, valid_offset = self._fit_offsets(init_score, eval_init_score, X, valid)
        if offset is not None and self.strategy != "tweedie":
            raise ValueError(
                "init_score: only strategy='tweedie' can boost from a classic forecast (one "
                "log-revenue margin); the two-part model has two. Use strategy='tweedie' for "
                "the hybrid."
            )
        if self.strategy == "tweedie":
            booster, best, history = self._train_booster(
                X, y_arr, objective="tweedie", eval_set=valid, callbacks=callbacks,
                init_score=offset, eval_init_score=valid_offset, sample_weight=weight,
            )
            amount_booster = None
        else:
            buy = (y_arr > 0).astype(float)
            if buy.min() == buy.max():
                raise ValueError(
                    "y: the two-part LTV model needs rows with and without revenue; "
                    f"all {len(y_arr)} rows have {'some' if buy[0] else 'no'} revenue."
                )
            valid_buy = None if valid is None else (valid[0], (valid[1] > 0).astype(float))
            booster, best, history = self._train_booster(
                X, buy, objective="binary", eval_set=valid_buy, callbacks=callbacks,
                sample_weight=weight,
            )
            pos = y_arr > 0
            valid_amount = None
            if valid is not None and (valid[1] > 0).any():
                vpos = valid[1] > 0
                valid_amount = (valid[0].loc[vpos], valid[1][vpos])
            amount_booster, _, amount_history = self._train_booster(
                X.loc[pos], y_arr[pos], objective="gamma", eval_set=valid_amount,
                sample_weight=None if weight is None else weight[pos],
            )
            history = {"purchase": history, "amount": amount_history}
        self.booster_ = booster
        self.amount_booster_ = amount_booster
        self.best_iteration_ = best
        self.evals_result_ = history
        self.n_negative_clipped_ = n_neg
        self.fitted_with_offset_ = offset is not None
        self._remember_schema(X)
        return self

    def predict(self, X: Any, *, init_score: Any = None) -> np.ndarray:
        """Expected net revenue in the horizon (``exp(raw + init_score)`` for a hybrid)."""
        X = self.check_features(X)
        if init_score is not None or getattr(self, "fitted_with_offset_", False):
            return np.exp(self._raw_margin(self.booster_, X, init_score))
        pred = np.asarray(self.booster_.predict(X), dtype=float)
        if self.amount_booster_ is not None:
            pred = pred * np.asarray(self.amount_booster_.predict(X), dtype=float)
        return pred

