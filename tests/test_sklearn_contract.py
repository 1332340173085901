"""The LightGBM estimators keep scikit-learn's contract: check_estimator, pipelines, search, inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from repurchase_ml.errors import SchemaError
from repurchase_ml.models import LGBMTaskClassifier, LTVRegressor, OrderCountRegressor

#: settings under which trees really split on check_estimator's small data sets (tens of rows);
#: with the defaults (at least 50 rows per leaf) most checks would fit stumps only
LEARNING = {"n_estimators": 30, "lgbm_params": {"min_child_samples": 5, "num_leaves": 7}}

#: Checks deliberately left out, per check name, with the reason.
SKIPPED_CHECKS = {
    # LightGBM counts rows, not weights, in min_child_samples and builds its histogram bins from
    # the rows, so a row of weight 2 is not the same model as the row twice (LightGBM's own
    # scikit-learn wrapper fails this check for the same reason). Weights do act as weights:
    # see test_sample_weight_moves_the_model.
    "check_sample_weight_equivalence_on_dense_data":
        "LightGBM counts rows, not weights, in min_child_samples and histogram bins",
}


# Every estimator with small leaves, so that the trees learn on the checks' tiny data sets (with
# the defaults, 50 rows per leaf, most checks would fit constant models and pass trivially).
# The two-part LTV strategy refuses a target without zeros by design (it models
# P(revenue > 0)), which every generated regression target of check_estimator is:
# test_two_part_ltv_in_a_search covers it.
@parametrize_with_checks(
    [LGBMTaskClassifier(**LEARNING), OrderCountRegressor(**LEARNING), LTVRegressor(**LEARNING)],
    expected_failed_checks=lambda estimator: SKIPPED_CHECKS,
)
def test_check_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # LightGBM's "no further splits" notes
        check(estimator)


def _data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"recency": rng.uniform(0, 200, n), "orders": rng.poisson(3, n).astype(float),
                      "noise": rng.normal(size=n)})
    y = (rng.uniform(size=n) < np.exp(-X["recency"].to_numpy() / 60)).astype(int)
    return X, y


FAST = {"n_estimators": 40, "random_state": 0}


def test_pipeline_with_imputer_and_scaler_on_numpy():
    X, y = _data()
    arr = X.to_numpy()
    arr[::7, 1] = np.nan
    pipe = make_pipeline(SimpleImputer(), StandardScaler(), LGBMTaskClassifier(**FAST))
    pipe.fit(arr, y)
    model = pipe[-1]
    assert model.n_features_in_ == 3
    assert not hasattr(model, "feature_names_in_")  # fitted on an array: no names
    proba = pipe.predict_proba(arr)[:, 1]
    assert proba.shape == (len(y),)
    assert np.corrcoef(proba, -X["recency"])[0, 1] > 0.5


def test_grid_search_over_a_nested_lightgbm_parameter():
    X, y = _data()
    model = LGBMTaskClassifier(lgbm_params={"min_child_samples": 20}, calibration=None, **FAST)
    assert model.get_params()["lgbm_params__min_child_samples"] == 20
    search = GridSearchCV(model, {"lgbm_params__num_leaves": [3, 7]}, cv=3, scoring="roc_auc")
    search.fit(X, y)
    assert search.best_params_["lgbm_params__num_leaves"] in (3, 7)
    best = search.best_estimator_.lgbm_params
    assert best == {"min_child_samples": 20, "num_leaves": search.best_params_[
        "lgbm_params__num_leaves"]}
    assert model.lgbm_params == {"min_child_samples": 20}  # the original dict is untouched
    assert search.best_score_ > 0.7


def test_compatible_dtypes_are_cast_and_a_real_difference_is_a_diff():
    X, y = _data()
    model = OrderCountRegressor(**FAST).fit(X, X["orders"].to_numpy())
    np.testing.assert_allclose(model.predict(X.astype("float32")), model.predict(X), rtol=1e-5)
    ints = X.assign(orders=X["orders"].astype("int64"))
    np.testing.assert_allclose(model.predict(ints), model.predict(X))
    with pytest.raises(SchemaError, match=r"missing 1: \['noise'\].*unexpected 1: \['other'\]"):
        model.predict(X.rename(columns={"noise": "other"}))
    with pytest.raises(SchemaError, match="'recency' expected float64, got object"):
        model.predict(X.assign(recency=X["recency"].astype(str)))


def test_names_from_a_frame_are_kept_and_arrays_match_by_position():
    X, y = _data()
    model = LGBMTaskClassifier(**FAST).fit(X, y)
    assert model.feature_names_in_.tolist() == ["recency", "orders", "noise"]
    assert model.feature_names_in_.dtype == object and model.n_features_in_ == 3
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        from_array = model.predict_proba(X.to_numpy())
    np.testing.assert_array_equal(from_array, model.predict_proba(X))
    # columns are matched by name: another order is the same frame
    np.testing.assert_array_equal(model.predict_proba(X[["noise", "recency", "orders"]]),
                                  model.predict_proba(X))
    with pytest.raises(ValueError, match="X has 2 features, but LGBMTaskClassifier is expecting 3"):
        model.predict(X.to_numpy()[:, :2])


def test_string_labels_for_the_classifier():
    X, y = _data()
    labels = np.where(y == 1, "stayed", "churned")
    model = LGBMTaskClassifier(**FAST).fit(X, labels)
    assert model.classes_.tolist() == ["churned", "stayed"]
    numeric = LGBMTaskClassifier(**FAST).fit(X, y)  # classes_[1] = "stayed" is the 1 of y
    np.testing.assert_allclose(model.predict_proba(X), numeric.predict_proba(X))
    assert set(model.predict(X)) <= {"churned", "stayed"}
    assert (model.predict(X) == np.where(numeric.predict(X) == 1, "stayed", "churned")).all()
    with pytest.raises(ValueError, match="Only binary classification"):
        LGBMTaskClassifier(**FAST).fit(X, np.where(y == 1, "a", np.where(X["orders"] > 3, "b",
                                                                         "c")))


def test_sample_weight_moves_the_model():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.uniform(size=800)})
    y = rng.poisson(np.where(np.arange(800) < 400, 1.0, 5.0)).astype(float)
    first_half = (np.arange(800) < 400).astype(float)
    plain = OrderCountRegressor(**FAST).fit(X, y)
    weighted = OrderCountRegressor(**FAST).fit(X, y, sample_weight=first_half)
    only_first = OrderCountRegressor(**FAST).fit(X.iloc[:400], y[:400])
    assert plain.predict(X).mean() == pytest.approx(y.mean(), rel=0.05)
    assert weighted.predict(X).mean() == pytest.approx(y[:400].mean(), rel=0.1)
    assert weighted.predict(X).mean() == pytest.approx(only_first.predict(X).mean(), rel=0.1)
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        OrderCountRegressor(**FAST).fit(X, y, sample_weight=-first_half)


def test_feature_importances_point_at_the_signal():
    X, y = _data()
    for model in (LGBMTaskClassifier(**FAST).fit(X, y),
                  LTVRegressor(strategy="two_part", **FAST).fit(X, y * X["orders"] * 10)):
        importances = model.feature_importances_
        assert importances.shape == (3,)
        assert importances.sum() == pytest.approx(1.0)
        assert importances[0] == importances.max()  # recency drives the label
    assert not hasattr(LGBMTaskClassifier(), "feature_importances_")


def test_two_part_ltv_in_a_search():
    X, y = _data()
    revenue = y * (X["orders"].to_numpy() + 1) * 20.0
    search = GridSearchCV(LTVRegressor(strategy="two_part", **FAST),
                          {"lgbm_params__num_leaves": [3, 5]}, cv=3).fit(X.to_numpy(), revenue)
    model = search.best_estimator_
    assert clone(model).get_params()["strategy"] == "two_part"
    assert model.n_features_in_ == 3 and not hasattr(model, "feature_names_in_")
    assert np.corrcoef(model.predict(X.to_numpy()), revenue)[0, 1] > 0.5


@pytest.mark.parametrize("make", [
    lambda: LGBMTaskClassifier(**FAST),
    lambda: OrderCountRegressor(**FAST),
    lambda: LTVRegressor(**FAST),
])
def test_polars_frames_give_the_pandas_result(make):
    X, y = _data()
    target = y if isinstance(make(), LGBMTaskClassifier) else y * X["orders"].to_numpy()
    on_pandas = make().fit(X, target)
    on_polars = make().fit(pl.from_pandas(X), pl.Series(target))
    assert on_polars.feature_names_in_.tolist() == X.columns.tolist()
    np.testing.assert_array_equal(on_polars.predict(pl.from_pandas(X)), on_pandas.predict(X))
    np.testing.assert_array_equal(on_pandas.predict(pl.from_pandas(X)), on_pandas.predict(X))
