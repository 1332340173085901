"""Probability calibration chosen by out-of-fold log loss on the validation cutoff.

A calibrator is fitted on the validation rows (later in time than the training
rows) and is kept only when it lowers log loss. The comparison is honest: each
candidate is scored on folds of the validation set it was not fitted on, so
isotonic regression cannot win by memorising the validation labels.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold

__all__ = ["CALIBRATION_METHODS", "fit_calibrator", "apply_calibrator", "choose_calibration"]

logger = logging.getLogger(__name__)

CALIBRATION_METHODS = ("isotonic", "sigmoid")

# calibrated probabilities are kept inside [_EPS, 1 - _EPS] so that log loss stays finite
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def fit_calibrator(method: str, p_raw: np.ndarray, y: np.ndarray) -> Any:
    """Fit a calibrator mapping raw probabilities to calibrated ones.

    Parameters
    ----------
    method : {"isotonic", "sigmoid"}
        Isotonic regression, or Platt scaling (logistic regression on the logit).
    p_raw : ndarray
        Uncalibrated probabilities.
    y : ndarray
        0/1 outcomes.

    Returns
    -------
    object
        A fitted scikit-learn estimator, used through :func:`apply_calibrator`.

    Examples
    --------
    >>> p = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    >>> y = np.array([0, 0, 1, 0, 1, 1])
    >>> cal = fit_calibrator("isotonic", p, y)
    >>> apply_calibrator(cal, np.array([0.05, 0.95])).round(3).tolist()
    [0.0, 1.0]
    """
    if method == "isotonic":
        return IsotonicRegression(y_min=_EPS, y_max=1 - _EPS, out_of_bounds="clip").fit(p_raw, y)
    if method == "sigmoid":
        return LogisticRegression(C=1e6, solver="lbfgs").fit(_logit(p_raw)[:, None], y)
    raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}.")


def apply_calibrator(calibrator: Any, p_raw: np.ndarray) -> np.ndarray:
    """Map raw probabilities through a calibrator from :func:`fit_calibrator`."""
    if isinstance(calibrator, IsotonicRegression):
        out = calibrator.predict(p_raw)
    else:
        out = calibrator.predict_proba(_logit(p_raw)[:, None])[:, 1]
    return np.clip(out, _EPS, 1 - _EPS)


def choose_calibration(
    p_raw: np.ndarray,
    y: np.ndarray,
    *,
    candidates: tuple[str, ...],
    n_splits: int = 5,
    random_state: int = 0,
) -> tuple[str | None, dict[str, float]]:
    """Pick the calibration with the lowest out-of-fold log loss, or None.

    Parameters
    ----------
    p_raw : ndarray
        Uncalibrated validation probabilities.
    y : ndarray
        Validation 0/1 outcomes.
    candidates : tuple of str
        Methods to try (subset of :data:`CALIBRATION_METHODS`).
    n_splits : int
        Stratified folds; reduced when a class has fewer rows, and
        calibration is skipped (None) below two rows per class.
    random_state : int
        Seed of the fold assignment.

    Returns
    -------
    method : str or None
        The winner, or None when no candidate lowers log loss.
    losses : dict
        Log loss of ``"none"`` and of every candidate (out of fold).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0.3, 0.7, 400)            # squeezed towards 0.5
    >>> y = (rng.uniform(size=400) < (p - 0.3) * 2.5).astype(int)
    >>> method, losses = choose_calibration(p, y, candidates=("sigmoid",))
    >>> method, losses["sigmoid"] < losses["none"]
    ('sigmoid', True)
    """
    y = np.asarray(y, dtype=int)
    losses = {"none": float(log_loss(y, np.clip(p_raw, _EPS, 1 - _EPS), labels=[0, 1]))}
    minority = int(min(y.sum(), len(y) - y.sum()))
    folds = min(n_splits, minority)
    if folds < 2:
        logger.info("calibration skipped: the validation set has %d rows of its rarer class", minority)
        return None, losses
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=random_state)
    for method in candidates:
        oof = np.empty(len(y))
        for fit_idx, out_idx in splitter.split(p_raw, y):
            cal = fit_calibrator(method, p_raw[fit_idx], y[fit_idx])
            oof[out_idx] = apply_calibrator(cal, p_raw[out_idx])
        losses[method] = float(log_loss(y, oof, labels=[0, 1]))
    best = min(losses, key=lambda k: losses[k])
    return (None if best == "none" else best), losses
