"""Hybrid estimators: boosting from a classic prediction given as a link-scale offset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from repurchase_ml.models import LGBMTaskClassifier, LTVRegressor, OrderCountRegressor
from repurchase_ml.models.estimators import log_offset, logit_offset


def _constant_rows(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": np.ones(n)})  # nothing to split on: no correction is learnable
    p0 = rng.uniform(0.05, 0.9, n)
    return X, p0, rng


def test_a_hybrid_with_nothing_to_learn_returns_the_classic_probability():
    X, p0, rng = _constant_rows()
    y = (rng.uniform(size=len(X)) < p0).astype(float)
    model = LGBMTaskClassifier(n_estimators=30, calibration=None).fit(
        X, y, init_score=logit_offset(p0))
    np.testing.assert_allclose(model.predict_proba(X, init_score=logit_offset(p0))[:, 1], p0,
                               rtol=0, atol=1e-12)
    assert model.fitted_with_offset_


def test_a_count_hybrid_with_nothing_to_learn_returns_the_classic_forecast():
    X, p0, rng = _constant_rows(seed=1)
    expected = p0 * 3
    y = rng.poisson(expected).astype(float)
    model = OrderCountRegressor(n_estimators=30).fit(X, y, init_score=log_offset(expected))
    np.testing.assert_allclose(model.predict(X, init_score=log_offset(expected)), expected,
                               rtol=1e-12)


def test_offset_is_added_on_the_logit_scale():
    rng = np.random.default_rng(2)
    n = 1500
    X = pd.DataFrame({"x": rng.uniform(-1, 1, n)})
    offset = rng.normal(0, 1, n)
    y = (rng.uniform(size=n) < expit(offset + 1.5 * X["x"])).astype(float)
    model = LGBMTaskClassifier(n_estimators=40, calibration=None).fit(X, y, init_score=offset)
    raw = model.booster_.predict(X, raw_score=True)
    np.testing.assert_allclose(model.predict_proba(X, init_score=offset)[:, 1],
                               1 / (1 + np.exp(-(raw + offset))), rtol=1e-12)
    # the trees learn the correction only: contributions add up to the margin without offset
    contrib = model.booster_.predict(X, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), raw, atol=1e-9)
    # a shifted offset shifts the probability exactly through the logit
    shifted = model.predict_proba(X.iloc[:3], init_score=offset[:3] + 1.0)[:, 1]
    np.testing.assert_allclose(shifted, expit(raw[:3] + offset[:3] + 1.0), rtol=1e-12)


def test_hybrid_refuses_to_predict_without_its_offset_and_checks_shapes():
    X, p0, rng = _constant_rows(seed=3)
    y = (rng.uniform(size=len(X)) < p0).astype(float)
    model = LGBMTaskClassifier(n_estimators=5, calibration=None).fit(
        X, y, init_score=logit_offset(p0))
    with pytest.raises(ValueError, match="boosted from an offset"):
        model.predict_proba(X)
    with pytest.raises(ValueError, match="one link-scale offset per row \\(400\\)"):
        model.predict_proba(X, init_score=np.zeros(3))
    with pytest.raises(ValueError, match="go together"):
        LGBMTaskClassifier(n_estimators=5).fit(X, y, init_score=logit_offset(p0),
                                               eval_set=(X, y))
    with pytest.raises(ValueError, match="strategy='tweedie'"):
        LTVRegressor(strategy="two_part", n_estimators=5).fit(X, y * 10, init_score=np.zeros(400))


def test_ltv_hybrid_early_stops_with_validation_offsets():
    rng = np.random.default_rng(4)
    n = 1200
    X = pd.DataFrame({"x": rng.uniform(0, 1, n)})
    base = rng.gamma(2.0, 20.0, n)
    y = np.where(rng.uniform(size=n) < 0.5, base * (1 + X["x"]), 0.0)
    off = log_offset(base * 0.5)
    model = LTVRegressor(n_estimators=200, early_stopping_rounds=10).fit(
        X[:800], y[:800], init_score=off[:800], eval_set=(X[800:], y[800:]),
        eval_init_score=off[800:])
    pred = model.predict(X[800:], init_score=off[800:])
    assert model.best_iteration_ < 200
    assert (pred > 0).all()
    assert pred.sum() == pytest.approx(y[800:].sum(), rel=0.25)
