"""Training plan, choice on validation, refit on every labelled cutoff, churn's alive window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repurchase_ml.models import train_models
from repurchase_ml.models import training as training_module
from repurchase_ml.models.plan import TrainingMinimums, TrainingPlanError, plan_training

LOW = TrainingMinimums(train_positives=10, train_negatives=10, eval_rows=50, eval_positives=5,
                       eval_negatives=5, history_days=0)


def _recency_rule_set(n: int = 600, n_cutoffs: int = 5, seed: int = 0) -> pd.DataFrame:
    """The label depends only on the recency quintile: the RFM rule ranks it optimally."""
    rng = np.random.default_rng(seed)
    frames = []
    for cutoff in pd.date_range("2023-01-01", periods=n_cutoffs, freq="MS"):
        recency = rng.uniform(0, 300, n)
        quintile = np.ceil(pd.Series(-recency).rank(pct=True) * 5).to_numpy()
        p = np.array([0.02, 0.08, 0.2, 0.4, 0.7])[quintile.astype(int) - 1]
        frames.append(pd.DataFrame({
            "customer_id": np.arange(n), "cutoff": cutoff,
            "days_since_last_purchase": recency, "orders_all": 1.0, "revenue_all": 50.0,
            "noise": rng.normal(size=n),
            "label_repurchase": (rng.uniform(size=n) < p).astype(float),
        }))
    return pd.concat(frames, ignore_index=True)


def test_choice_ships_the_rule_when_the_rule_is_optimal_and_says_so():
    ts = _recency_rule_set()
    bundle = train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30},
                          n_estimators=200, minimums=LOW)
    choice = bundle.choice["repurchase"]
    assert choice["chosen"] == "rfm", choice
    assert choice["reason"].startswith("baseline shipped")
    assert set(choice["validation"]) == {"lightgbm", "rfm"}
    # the rule ships as a probability, calibrated on the validation cutoff
    feats = ts[ts["cutoff"] == ts["cutoff"].max()].drop(columns=["label_repurchase"])
    p = bundle.predict(feats)["repurchase_probability"]
    assert p.between(0, 1).all() and p.nunique() <= 5
    card = bundle.scorecards["repurchase"]["model"]
    assert np.isfinite(card["log_loss"])
    assert card["roc_auc"] == pytest.approx(bundle.scorecards["repurchase"]["rfm"]["roc_auc"])
    table = bundle.choice_table()
    assert table.loc[table["chosen"], "scorer"].tolist() == ["rfm"]


def test_plan_counts_rows_and_refusal_names_task_counts_and_fix():
    ts = _recency_rule_set(n=200)
    plan = plan_training(ts, tasks=["repurchase"], horizons={"repurchase": 30})
    task = plan.tasks["repurchase"]
    assert task.rows == {"train": 600, "valid": 200, "test": 200}
    assert task.positives["train"] + task.negatives["train"] == 600
    frame = plan.to_frame()
    assert frame["split"].tolist() == ["train", "valid", "test"]
    assert (frame["status"] == "refused").all()
    with pytest.raises(TrainingPlanError) as err:
        train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30}, n_estimators=10,
                     on_insufficient="raise")
    msg = str(err.value)
    assert "task 'repurchase'" in msg
    assert f"train has {task.positives['train']} positives, needs 1000" in msg
    assert "valid has 200 rows, needs 500" in msg
    assert "shorter 'repurchase' horizon" in msg and "minimums=TrainingMinimums" in msg
    skipped = train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30},
                           n_estimators=10, on_insufficient="skip")
    assert skipped.tasks == [] and "needs 1000" in skipped.skipped["repurchase"]


def test_refit_uses_train_and_validation_rows(monkeypatch):
    ts = _recency_rule_set(n=300)
    seen = []
    original = training_module._refit

    def spy(model, X, y, offset=None):
        seen.append(len(X))
        return original(model, X, y, offset)

    monkeypatch.setattr(training_module, "_refit", spy)
    bundle = train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30},
                          n_estimators=30, minimums=LOW, candidates=["lightgbm"])
    plan = bundle.plan.tasks["repurchase"]
    assert seen == [plan.rows["train"] + plan.rows["valid"]] == [1200]
    assert bundle.refit and bundle.choice["repurchase"]["chosen"] == "lightgbm"
    seen.clear()
    train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30}, n_estimators=30,
                 minimums=LOW, candidates=["lightgbm"], refit=False)
    assert seen == []


def _churn_set(alive_filter: bool) -> pd.DataFrame:
    ts = _recency_rule_set(n=300)
    tenure = ts["days_since_last_purchase"] + 20.0
    ts["days_since_first_purchase"] = tenure  # at most 320 days of history: < 365
    alive = ts["days_since_last_purchase"] < 150 if alive_filter else np.ones(len(ts), bool)
    ts["label_churn"] = np.where(alive, 1.0 - ts["label_repurchase"], np.nan)
    return ts.drop(columns=["label_repurchase"])


def test_churn_whose_alive_window_exceeds_the_history_is_refused_with_the_fix():
    ts = _churn_set(alive_filter=False)
    with pytest.raises(TrainingPlanError) as err:
        train_models(ts, tasks=["churn"], horizons={"churn": 30}, minimums=LOW,
                     n_estimators=10, on_insufficient="raise")
    msg = str(err.value)
    assert "alive window is 365 days" in msg and "every buyer counts as alive" in msg
    assert "alive_days=300" in msg  # the longest whole-month window under 319 days of history
    # a training set built with a window that fits the log is not refused
    ok = _churn_set(alive_filter=True)
    ok.attrs["alive_days"] = 150
    plan = plan_training(ok, tasks=["churn"], horizons={"churn": 30}, minimums=LOW)
    assert plan.tasks["churn"].ok, plan.tasks["churn"].problems


def test_make_labels_alive_days_adapts_the_churn_population():
    from repurchase_ml.features import make_labels

    cats = ["purchase", "refund", "view", "cart", "favorite"]
    ev = pd.DataFrame({"customer_id": [1, 2, 2], "timestamp": pd.to_datetime(
        ["2024-01-05", "2024-03-20", "2024-04-10"]),
        "event_type": pd.Categorical(["purchase"] * 3, categories=cats), "amount": [1.0] * 3})
    wide = make_labels(ev, cutoffs="2024-04-01", task="churn", horizon_days=10)
    narrow = make_labels(ev, cutoffs="2024-04-01", task="churn", horizon_days=10, alive_days=30)
    assert wide["customer_id"].tolist() == [1, 2]  # 365 days: both alive
    assert narrow["customer_id"].tolist() == [2]   # 30 days: only the recent buyer
    assert narrow["churn"].tolist() == [0.0]
    with pytest.raises(ValueError, match="alive_days"):
        make_labels(ev, cutoffs="2024-04-01", task="churn", horizon_days=10, alive_days=0)
