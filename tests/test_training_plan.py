"""Training plan, choice on validation, refit on every labelled cutoff, churn's alive window."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from repurchase_ml.models import train_models
from repurchase_ml.models import training as training_module
from repurchase_ml.models.plan import (
    TrainingMinimums,
    TrainingPlanError,
    plan_lines,
    plan_training,
)

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
    with pytest.raises(TrainingPlanError, match="No task is left to train"):
        train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30}, n_estimators=10)


def _two_task_set() -> pd.DataFrame:
    """Repurchase with enough rows for LOW; churn whose 365-day window admits every buyer."""
    ts = _recency_rule_set(n=300)
    ts["days_since_first_purchase"] = ts["days_since_last_purchase"] + 20.0
    ts["label_churn"] = 1.0 - ts["label_repurchase"]  # every buyer "alive"
    return ts


def test_default_skips_a_refused_task_with_its_message_and_trains_the_rest(caplog):
    ts = _two_task_set()
    with caplog.at_level("WARNING", logger="repurchase_ml.models.training"):
        bundle = train_models(ts, tasks=["repurchase", "churn"],
                              horizons={"repurchase": 30, "churn": 30}, n_estimators=20,
                              minimums=LOW, candidates=["lightgbm"])
    assert bundle.tasks == ["repurchase"] and list(bundle.skipped) == ["churn"]
    message = bundle.skipped["churn"]
    assert message == bundle.plan.tasks["churn"].message()
    assert message.startswith("task 'churn' cannot be trained as planned")
    assert "every buyer counts as alive" in message and "alive_days=300" in message
    assert "training.alive_days: 300" in message  # the job's setting that fixes it
    assert any("Skipped (on_insufficient='skip')" in r.getMessage() for r in caplog.records)
    assert "churn" not in bundle.scorecards and bundle.scorecards["repurchase"]["model"].n_rows
    # 'warn' trains it anyway; the plan still says it is refused
    warned = train_models(ts, tasks=["repurchase", "churn"],
                          horizons={"repurchase": 30, "churn": 30}, n_estimators=20,
                          minimums=LOW, candidates=["lightgbm"], on_insufficient="warn")
    assert warned.tasks == ["repurchase", "churn"] and warned.skipped == {}
    assert not warned.plan.tasks["churn"].ok


def test_when_every_task_is_refused_the_error_holds_every_message():
    ts = _two_task_set()
    with pytest.raises(TrainingPlanError) as err:
        train_models(ts, tasks=["repurchase", "churn"],
                     horizons={"repurchase": 30, "churn": 30}, n_estimators=10)
    msg = str(err.value)
    plan = plan_training(ts, tasks=["repurchase", "churn"],
                         horizons={"repurchase": 30, "churn": 30})
    for task in ("repurchase", "churn"):
        assert plan.tasks[task].message() in msg
    assert "train has" in msg and "every buyer counts as alive" in msg
    assert msg.endswith("No task is left to train.")
    with pytest.raises(ValueError, match="on_insufficient must be one of 'skip', 'raise', 'warn'"):
        train_models(ts, tasks=["repurchase"], on_insufficient="ignore")


def test_alive_days_passed_to_training_lifts_the_churn_refusal_when_it_fits():
    # without order counts the check compares the window with the history (320 days)
    ts = _churn_set(alive_filter=True).drop(columns=["orders_all"])
    refused = plan_training(ts, tasks=["churn"], horizons={"churn": 30}, minimums=LOW)
    assert "alive window is 365 days" in refused.tasks["churn"].message()
    bundle = train_models(ts, tasks=["churn"], horizons={"churn": 30}, n_estimators=10,
                          minimums=LOW, alive_days=150, candidates=["lightgbm"])
    assert bundle.tasks == ["churn"] and bundle.skipped == {}


def test_plan_as_data_and_lines():
    ts = _two_task_set()
    plan = plan_training(ts, tasks=["repurchase", "churn"],
                         horizons={"repurchase": 30, "churn": 30}, minimums=LOW)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["minimums"]["eval_rows"] == 50
    rep = data["tasks"]["repurchase"]
    assert rep["status"] == "ok" and rep["message"] == ""
    assert rep["cutoffs"] == {"train": ["2023-01-01", "2023-02-01", "2023-03-01"],
                              "valid": "2023-04-01", "test": "2023-05-01"}
    assert rep["rows"] == {"train": 900, "valid": 300, "test": 300}
    lines = plan_lines(data)
    assert lines == plan_lines(plan)
    assert lines[0].startswith("repurchase (30 d): train 3 cutoffs 2023-01-01..2023-03-01: "
                               f"900 rows, {rep['positives']['train']} positives; valid "
                               "2023-04-01: 300 rows")
    assert lines[-1].startswith("  refused: churn's alive window is 365 days")
    assert str(plan).splitlines()[1:len(lines) + 1] == lines


@pytest.mark.parametrize("override, match", [
    ({"minimums": {"train_positve": 5}},
     r"unknown key 'training\.minimums\.train_positve'.*did you mean "
     r"'training\.minimums\.train_positives'"),
    ({"minimums": {"eval_rows": -1}}, r"training\.minimums\.eval_rows: .*greater than or equal to 0"),
    ({"minimums": {"history_days": "long"}}, r"training\.minimums\.history_days: .*integer"),
    ({"on_insufficient": "ignore"}, r"training\.on_insufficient: unknown 'ignore'; allowed: skip"),
    ({"alive_days": 0}, r"training\.alive_days: .*greater than or equal to 1"),
])
def test_training_settings_are_validated_naming_the_key(override, match):
    from repurchase_ml.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match=match):
        load_settings(overrides={"training": override}, environ={})


def test_training_settings_give_the_minimums_train_models_takes():
    from repurchase_ml.config import load_settings

    default = load_settings(environ={}).training
    assert default.training_minimums() == TrainingMinimums()
    assert default.on_insufficient == "skip" and default.alive_days is None
    env = {"REPURCHASE_ML_TRAINING__MINIMUMS__EVAL_ROWS": "40",
           "REPURCHASE_ML_TRAINING__ON_INSUFFICIENT": "raise"}
    settings = load_settings(overrides={"training": {"minimums": {"train_positives": 7}}},
                             environ=env).training
    assert settings.training_minimums() == TrainingMinimums(train_positives=7, eval_rows=40)
    assert settings.on_insufficient == "raise"


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


@pytest.mark.slow  # a real retrain through the CLI on a SQLite MLflow store (~15 s)
def test_retrain_prints_the_plan_and_the_refused_task_and_logs_it(tmp_path):
    pytest.importorskip("mlflow")
    import mlflow
    import yaml
    from typer.testing import CliRunner

    from repurchase_ml import cli, tracking
    from repurchase_ml.config import load_settings

    config = tmp_path / "shop.yaml"
    config.write_text(yaml.safe_dump({
        "project_dir": "project",
        "data": {"on_invalid": "drop", "synthetic": {
            "n_customers": 300, "start": "2022-01-01", "end": "2024-01-01", "random_state": 3}},
        "tasks": ["repurchase", "second_purchase"], "cutoffs": {"n": 6},
        "baselines": False, "tuning": {"n_estimators": 10},
        "promotion": {"baseline_tolerance": 1.0}, "output": {"report": False},
        # enough for repurchase on 300 customers; second purchases stay far below
        "training": {"minimums": {"train_positives": 20, "train_negatives": 20,
                                  "eval_rows": 30, "eval_positives": 5, "eval_negatives": 5,
                                  "history_days": 30}},
    }))
    result = CliRunner().invoke(cli.app, ["retrain", "--config", str(config)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "training plan (per task: cutoffs, rows, positives):" in out
    assert "repurchase (30 d): train " in out and "second_purchase (30 d): train " in out
    assert "refused: " in out and "needs 30" in out and "training.minimums" in out
    assert "not trained (refused by the training plan above): second_purchase" in out
    assert out.index("training plan") < out.index("repurchase roc_auc") < out.index("not trained")
    settings = load_settings(config, environ={})
    tracking.configure(settings)
    run = mlflow.search_runs(experiment_names=[settings.tracking.experiment],
                             output_format="list")[0]
    plan = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/plan.json")
    assert plan["tasks"]["repurchase"]["status"] == "ok"
    assert plan["tasks"]["second_purchase"]["status"] == "refused"
    assert plan["minimums"]["eval_rows"] == 30
    text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/plan.txt")
    assert text.splitlines() == plan_lines(plan)
    decision = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/decision.json")
    assert list(decision["skipped"]) == ["second_purchase"]


def test_the_raw_log_bgnbd_counts_orders_as_the_training_set_does(monkeypatch):
    """A training set of customer-days gets a BG/NBD cross-check of customer-days too."""
    from repurchase_ml.datasets import make_event_log
    from repurchase_ml.features import FeatureSpec, build_training_set
    from repurchase_ml.models import baselines

    events, _ = make_event_log(400, "2022-01-01", "2024-01-01", random_state=2,
                               profile="retail")
    spec = FeatureSpec(order_definition="customer_day", cancellation_window_days=2)
    cuts = pd.date_range("2023-01-01", "2023-11-01", freq="MS")
    ts = build_training_set(events, cutoffs=cuts, tasks=["repurchase"],
                            horizons={"repurchase": 30}, spec=spec)
    assert ts.attrs["order_definition"] == "customer_day"
    seen = {}

    def recording(*args, **kwargs):
        seen.update(kwargs)
        return baselines.fit_clv_models(*args, **kwargs)

    monkeypatch.setattr(training_module, "fit_clv_models", recording)
    bundle = train_models(ts, tasks=["repurchase"], horizons={"repurchase": 30}, events=events,
                          n_estimators=10, minimums=LOW, candidates=["lightgbm"])
    assert (seen["order_definition"], seen["cancellation_window_days"]) == ("customer_day", 2.0)
    assert "bgnbd_events" in bundle.scorecards["repurchase"]
