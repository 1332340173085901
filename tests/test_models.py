"""Estimators, out-of-time training and the model bundle."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from repurchase_ml.errors import SchemaError
from repurchase_ml.models import (
    LGBMTaskClassifier,
    LTVRegressor,
    ModelBundle,
    OrderCountRegressor,
    train_models,
)
from repurchase_ml.models.plan import TrainingMinimums

FAST = {"n_estimators": 60}


def _frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Features with real signal: recency drives buying, frequency drives counts and value."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "days_since_last_purchase": rng.uniform(0, 200, n),
            "orders_all": rng.poisson(3, n).astype(float) + 1,
            "noise": rng.normal(size=n),
        }
    )
    rate = X["orders_all"] / 4 * np.exp(-X["days_since_last_purchase"] / 80)
    counts = rng.poisson(rate).astype(float)
    buys = (counts > 0).astype(float)
    revenue = np.where(counts > 0, rng.gamma(2.0, 20.0 * (1 + X["orders_all"] / 3)) * counts, 0.0)
    return X, buys, counts, revenue


@pytest.fixture(scope="module")
def data():
    return _frame(1500, 0), _frame(600, 1)


ESTIMATORS = [
    (LGBMTaskClassifier, 1),
    (OrderCountRegressor, 2),
    (lambda **kw: LTVRegressor(strategy="tweedie", **kw), 3),
    (lambda **kw: LTVRegressor(strategy="two_part", **kw), 3),
]


@pytest.mark.parametrize("make, target", ESTIMATORS)
def test_same_seed_same_model_bit_for_bit(data, make, target):
    (X, *ys), (Xv, *yvs) = data
    a = make(random_state=7, lgbm_params={"bagging_fraction": 0.7, "bagging_freq": 1}, **FAST)
    b = clone(a)
    a.fit(X, ys[target - 1], eval_set=(Xv, yvs[target - 1]))
    b.fit(X, ys[target - 1], eval_set=(Xv, yvs[target - 1]))
    assert a.booster_.model_to_string() == b.booster_.model_to_string()
    pa = a.predict_proba(Xv) if hasattr(a, "predict_proba") else a.predict(Xv)
    pb = b.predict_proba(Xv) if hasattr(b, "predict_proba") else b.predict(Xv)
    np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("make, target", ESTIMATORS)
def test_pickle_roundtrip_gives_same_predictions(data, make, target):
    (X, *ys), (Xv, *yvs) = data
    model = make(**FAST).fit(X, ys[target - 1], eval_set=(Xv, yvs[target - 1]))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.predict(Xv), again.predict(Xv))
    assert list(again.feature_names_in_) == list(X.columns)


def test_clone_keeps_settings_as_given():
    params = {"num_leaves": 7}
    model = LTVRegressor(strategy="two_part", lgbm_params=params, random_state=3)
    copy = clone(model)
    assert copy.get_params()["lgbm_params"] == {"num_leaves": 7}
    assert copy.get_params()["strategy"] == "two_part"
    assert not hasattr(copy, "booster_")


def test_unfitted_model_raises_not_fitted(data):
    (X, *_), _ = data
    for model in (LGBMTaskClassifier(), OrderCountRegressor(), LTVRegressor()):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            model.predict(X)


def test_classifier_finds_the_signal_and_early_stops(data):
    (X, y, *_), (Xv, yv, *_) = data
    model = LGBMTaskClassifier(n_estimators=2000, early_stopping_rounds=20).fit(
        X, y, eval_set=(Xv, yv)
    )
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(yv, model.predict_proba(Xv)[:, 1]) > 0.7
    assert model.best_iteration_ < 2000
    assert model.booster_.current_iteration() == model.best_iteration_


def test_booster_contributions_add_up_to_the_margin(data):
    (X, y, *_), (Xv, yv, *_) = data
    model = LGBMTaskClassifier(calibration=None, **FAST).fit(X, y, eval_set=(Xv, yv))
    contrib = model.booster_.predict(Xv, pred_contrib=True)
    margin = model.booster_.predict(Xv, raw_score=True)
    assert contrib.shape == (len(Xv), X.shape[1] + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), margin, rtol=1e-6, atol=1e-9)


def test_calibration_kept_only_when_it_lowers_validation_log_loss(data):
    (X, y, *_), (Xv, yv, *_) = data
    # a strong L2 penalty and few rounds squeeze probabilities towards the mean,
    # which calibration on the later cutoff must repair
    squeezed = LGBMTaskClassifier(n_estimators=15, lgbm_params={"learning_rate": 0.02},
                                  calibration="auto").fit(X, y, eval_set=(Xv, yv))
    losses = squeezed.calibration_log_loss_
    assert squeezed.calibration_ in ("isotonic", "sigmoid")
    assert losses[squeezed.calibration_] < losses["none"]
    raw = squeezed.predict_raw_proba(Xv)
    cal = squeezed.predict_proba(Xv)[:, 1]
    assert np.std(cal) > np.std(raw)

    none = LGBMTaskClassifier(calibration=None, **FAST).fit(X, y, eval_set=(Xv, yv))
    assert none.calibrator_ is None and none.calibration_ is None


def test_explicit_calibration_needs_a_validation_set(data):
    (X, y, *_), _ = data
    with pytest.raises(ValueError, match="eval_set"):
        LGBMTaskClassifier(calibration="isotonic").fit(X, y)
    with pytest.raises(ValueError, match="calibration must be"):
        LGBMTaskClassifier(calibration="platt").fit(X, y)


def test_count_model_matches_total_orders(data):
    (X, _, counts, _), (Xv, _, counts_v, _) = data
    model = OrderCountRegressor().fit(X, counts, eval_set=(Xv, counts_v))
    assert model.predict(Xv).sum() == pytest.approx(counts_v.sum(), rel=0.1)


@pytest.mark.parametrize("strategy", ["tweedie", "two_part"])
def test_ltv_model_ranks_revenue(data, strategy):
    (X, _, _, rev), (Xv, _, _, rev_v) = data
    model = LTVRegressor(strategy=strategy).fit(X, rev, eval_set=(Xv, rev_v))
    from scipy.stats import spearmanr

    pred = model.predict(Xv)
    assert (pred >= 0).all()
    assert spearmanr(pred, rev_v).statistic > 0.3
    assert (model.amount_booster_ is None) == (strategy == "tweedie")


def test_ltv_negative_targets_are_counted_and_clipped(data):
    (X, _, _, rev), _ = data
    y = rev.copy()
    y[:5] = -10.0
    model = LTVRegressor(**FAST).fit(X, y)
    assert model.n_negative_clipped_ == 5


def test_check_features_shows_the_diff(data):
    (X, y, *_), _ = data
    model = OrderCountRegressor(**FAST).fit(X, y)
    bad = X.drop(columns=["noise"]).assign(extra=1.0, orders_all=X["orders_all"].astype(str))
    with pytest.raises(SchemaError) as err:
        model.predict(bad)
    msg = str(err.value)
    assert "missing 1: ['noise']" in msg
    assert "unexpected 1: ['extra']" in msg
    assert "'orders_all' expected float64, got object" in msg
    # a compatible dtype is cast, not refused: a float32 copy scores the same
    np.testing.assert_allclose(model.predict(X.astype("float32")), model.predict(X), rtol=1e-5)
    # same columns in another order are accepted and reordered
    shuffled = X[["noise", "orders_all", "days_since_last_purchase"]]
    np.testing.assert_array_equal(model.predict(shuffled), model.predict(X))


@pytest.mark.parametrize(
    "X, y, error, match",
    [
        (np.zeros(3), [0, 1, 0], ValueError, "2-D table of feature columns"),
        (pd.DataFrame({"a": ["x", "y", "z"]}), [0, 1, 0], SchemaError, "numeric or bool"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), [0, 1], ValueError, "2 values but X has 3 rows"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), [0, np.nan, 1], ValueError, "missing or infinite"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), [0, 2, 1], ValueError, "3 classes"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), [1, 1, 1], ValueError, "both 0 and 1"),
    ],
)
def test_classifier_refuses_bad_input(X, y, error, match):
    with pytest.raises(error, match=match):
        LGBMTaskClassifier(**FAST).fit(X, y)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"lgbm_params": {"objective": "l2"}}, ValueError, "must not set"),
        ({"lgbm_params": [1]}, TypeError, "dict of LightGBM"),
        ({"n_estimators": 0}, ValueError, "n_estimators must be a positive int"),
        ({"random_state": 1.5}, TypeError, "random_state must be an int"),
    ],
)
def test_settings_are_validated_in_fit(kwargs, error, match):
    X = pd.DataFrame({"a": np.arange(40.0)})
    y = np.arange(40.0) % 3
    model = OrderCountRegressor(**kwargs)  # construction never fails
    with pytest.raises(error, match=match):
        model.fit(X, y)


def test_count_model_refuses_negative_counts():
    with pytest.raises(ValueError, match=">= 0 for a count model"):
        OrderCountRegressor(**FAST).fit(pd.DataFrame({"a": [1.0, 2.0]}), [1, -1])


# -- out-of-time training ---------------------------------------------------------


def _training_set(n_customers: int = 400, n_cutoffs: int = 7, seed: int = 0) -> pd.DataFrame:
    """A synthetic training-set frame with the columns build_training_set emits."""
    rng = np.random.default_rng(seed)
    cutoffs = pd.date_range("2023-01-01", periods=n_cutoffs, freq="MS")
    rows = []
    for cutoff in cutoffs:
        X, buys, counts, revenue = _frame(n_customers, int(rng.integers(1 << 30)))
        frame = X.assign(
            customer_id=np.arange(n_customers),
            cutoff=cutoff,
            revenue_all=X["orders_all"] * 30.0,
            days_since_first_purchase=X["days_since_last_purchase"] + 100.0,
            label_repurchase=buys,
            label_order_count=counts,
            label_ltv=revenue,
            label_churn=np.where(X["days_since_last_purchase"] < 150, 1.0 - buys, np.nan),
        )
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    first = ["customer_id", "cutoff"]
    return out[first + [c for c in out.columns if c not in first]]


@pytest.fixture(scope="module")
def training_set():
    return _training_set()


HORIZONS = {"repurchase": 30, "order_count": 30, "churn": 30, "ltv": 60}
#: 400 customers over 7 cutoffs sit below the default minimums (e.g. churn: 297 test rows)
SMALL = TrainingMinimums(train_positives=200, train_negatives=200, eval_rows=250,
                         eval_positives=50, eval_negatives=50, history_days=90)


@pytest.fixture(scope="module")
def bundle(training_set):
    return train_models(training_set, tasks=["repurchase", "order_count", "churn", "ltv"],
                        horizons=HORIZONS, n_estimators=80, minimums=SMALL)


def test_splits_are_out_of_time_with_a_horizon_gap(bundle):
    cuts = pd.date_range("2023-01-01", periods=7, freq="MS")
    rep = bundle.cutoffs["repurchase"]
    assert rep["test"] == cuts[-1] and rep["valid"] == cuts[-2]
    assert rep["train"] == list(cuts[:-2])
    ltv = bundle.cutoffs["ltv"]  # 60-day labels: validation ends by test, train ends by valid
    assert ltv["test"] == cuts[-1]
    assert ltv["valid"] == cuts[-3]
    assert ltv["train"] == list(cuts[:3])  # 2023-03-01 + 60 days = 2023-04-30 <= valid
    for split in bundle.cutoffs.values():
        assert max(split["train"]) < split["valid"] < split["test"]


def test_scorecards_put_model_beside_baselines_on_the_same_rows(bundle):
    cards = bundle.scorecards["repurchase"]
    # the shipped scorer, every candidate and every baseline, on the same test rows
    assert set(cards) == {"model", "rfm", "bgnbd", "lightgbm", "hybrid", "blend"}
    assert cards["model"].n_rows == cards["rfm"].n_rows == cards["bgnbd"].n_rows == 400
    assert cards["model"]["roc_auc"] > 0.7
    assert np.isnan(cards["rfm"]["log_loss"])  # a ranking, not a probability
    assert {"model", "run_rate", "bgnbd", "lightgbm", "hybrid"} <= set(
        bundle.scorecards["order_count"])
    choice = bundle.choice["repurchase"]
    assert choice["chosen"] in cards and choice["metric"] == "roc_auc"
    assert cards["model"]["roc_auc"] == pytest.approx(cards[choice["chosen"]]["roc_auc"])
    table = bundle.choice_table()
    assert table.loc[table["chosen"], "task"].tolist() == list(bundle.choice)
    churn = bundle.scorecards["churn"]["model"]
    assert churn.n_rows < 400  # population only
    table = bundle.scorecard_table()
    assert set(table.columns) == {"task", "scorer", "metric", "value"}
    assert set(table["task"]) == {"repurchase", "order_count", "churn", "ltv"}


def test_bundle_predict_and_pickle(bundle, training_set):
    feats = training_set[training_set["cutoff"] == training_set["cutoff"].max()].drop(
        columns=[c for c in training_set.columns if c.startswith("label_")]
    )
    out = bundle.predict(feats)
    assert list(out.columns) == [
        "customer_id", "cutoff", "churn_probability", "repurchase_probability",
        "predicted_orders", "predicted_ltv", "expected_next_order_date",
    ]
    assert out["churn_probability"].between(0, 1).all()
    wait = (out["expected_next_order_date"] - out["cutoff"]).dt.days
    expected = 30 / out["predicted_orders"]
    ok = expected <= 365
    np.testing.assert_allclose(wait[ok], np.floor(expected[ok]), atol=1)
    assert out.loc[~ok, "expected_next_order_date"].isna().all()
    again = pickle.loads(pickle.dumps(bundle))
    pd.testing.assert_frame_equal(again.predict(feats), out)
    assert isinstance(again, ModelBundle)


def test_bundle_predict_refuses_other_features(bundle, training_set):
    feats = training_set.drop(columns=["noise"])
    with pytest.raises(SchemaError, match="missing 1: \\['noise'\\]"):
        bundle.predict(feats)


def test_training_is_reproducible_and_refit_is_documented(training_set):
    # refit is the default now; the test scorecards describe the refitted (shipped) scorer
    kw = {"tasks": ["repurchase"], "horizons": HORIZONS, "n_estimators": 40,
          "candidates": ["lightgbm"], "minimums": SMALL}
    a = train_models(training_set, refit=False, **kw)
    b = train_models(training_set, refit=False, **kw)
    assert (a.models["repurchase"].booster_.model_to_string()
            == b.models["repurchase"].booster_.model_to_string())
    c = train_models(training_set, **kw)
    assert c.refit and not a.refit
    model = c.models["repurchase"]
    assert model.booster_.current_iteration() == a.models["repurchase"].best_iteration_
    assert model.calibration_ == a.models["repurchase"].calibration_
    assert a.choice["repurchase"]["validation"] == c.choice["repurchase"]["validation"]


def test_tuning_inside_training(training_set):
    seen = []
    bundle = train_models(training_set, tasks=["order_count"], horizons=HORIZONS,
                          n_estimators=40, tune=True, n_trials=3, minimums=SMALL,
                          tuning_callbacks=[lambda study, trial: seen.append(trial.number)])
    result = bundle.tuning["order_count"]
    assert seen == [0, 1, 2]
    assert result.n_trials == 3 and len(result.study_summary) == 3
    assert bundle.models["order_count"].lgbm_params == result.best_params
    assert result.best_value == pytest.approx(result.study_summary["value"].min())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tasks": ["nope"]}, ValueError, "unknown task 'nope'"),
        ({"tasks": ["second_purchase"]}, SchemaError, "label_second_purchase"),
        ({"valid_cutoff": "2023-07-01"}, ValueError, "runs past"),
        ({"test_cutoff": "2024-01-01"}, ValueError, "no labelled rows"),
        ({"ltv_strategy": "hurdle"}, ValueError, "ltv_strategy"),
        ({"horizons": {"repurchase": 200}}, ValueError, "no cutoff's 200-day label window"),
    ],
)
def test_train_models_refuses_bad_arguments(training_set, kwargs, error, match):
    args = {"tasks": ["repurchase"], "horizons": HORIZONS, "n_estimators": 10,
            "minimums": SMALL, **kwargs}
    if "horizons" in kwargs:
        args["horizons"] = {**HORIZONS, **kwargs["horizons"]}
    with pytest.raises(error, match=match):
        train_models(training_set, **args)


def test_relaxed_validation_lets_training_labels_overlap_validation_not_test(training_set):
    horizons = {**HORIZONS, "ltv": 100}
    with pytest.raises(ValueError, match="strict_validation=False"):
        train_models(training_set, tasks=["ltv"], horizons=horizons, n_estimators=10,
                     minimums=SMALL)
    bundle = train_models(training_set, tasks=["ltv"], horizons=horizons, n_estimators=10,
                          minimums=SMALL,
                          strict_validation=False)
    split = bundle.cutoffs["ltv"]
    cuts = pd.date_range("2023-01-01", periods=7, freq="MS")
    assert split["test"] == cuts[-1] and split["valid"] == cuts[-5]
    assert split["train"] == list(cuts[:2])  # labels end by the test cutoff, all before valid
    for c in split["train"]:
        assert c + pd.Timedelta(days=100) <= split["test"]


def test_train_models_needs_three_cutoffs():
    ts = _training_set(n_customers=50, n_cutoffs=2)
    with pytest.raises(ValueError, match="at least 3 labelled cutoffs"):
        train_models(ts, tasks=["repurchase"], horizons=HORIZONS)


def test_tuning_is_reproducible_with_a_trial_budget(data):
    from repurchase_ml.models import tune_estimator

    (X, y, *_), (Xv, yv, *_) = data
    runs = [
        tune_estimator(LGBMTaskClassifier(n_estimators=40), X, y, eval_set=(Xv, yv),
                       n_trials=4, random_state=5)
        for _ in range(2)
    ]
    assert runs[0].best_params == runs[1].best_params
    pd.testing.assert_series_equal(runs[0].study_summary["value"], runs[1].study_summary["value"])
    assert runs[0].metric == "log_loss"
    assert set(runs[0].study_summary["state"]) <= {"COMPLETE", "PRUNED"}
    assert runs[0].best_value == pytest.approx(runs[0].study_summary["value"].min())


def test_pruning_callback_stops_a_trial_when_optuna_says_so():
    import optuna

    from repurchase_ml.models.tuning import LightGBMPruningCallback

    class Trial:
        def __init__(self):
            self.reports = []

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) >= 2

    class Env:
        def __init__(self, iteration):
            self.iteration = iteration
            self.evaluation_result_list = [("valid", "binary_logloss", 0.5 - iteration / 1000, False)]

    trial = Trial()
    callback = LightGBMPruningCallback(trial, report_every=10)
    for i in range(19):
        callback(Env(i))
    assert trial.reports == [(10, pytest.approx(0.491))]
    with pytest.raises(optuna.TrialPruned, match="round 20"):
        callback(Env(19))


def test_models_import_no_heavy_integrations():
    import subprocess
    import sys

    code = ("import sys, repurchase_ml.models; "
            "print(sorted(m for m in ('mlflow', 'shap', 'pymc_marketing', 'pymc') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ltv_labels_with_refunds_beyond_purchases_are_a_note_not_a_warning(caplog):
    import logging

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.uniform(0, 1, 200)})
    y = X["x"].to_numpy() * 100
    y[:3] = -5.0  # three customers refunded more than they bought
    with caplog.at_level(logging.DEBUG, logger="repurchase_ml"):
        LTVRegressor(n_estimators=5).fit(X, y)
    notes = [r for r in caplog.records if "refunded more than they bought" in r.getMessage()]
    assert [r.levelno for r in notes] == [logging.INFO]
    assert notes[0].getMessage().startswith("LTV training labels: 3 of 200 rows refunded")
