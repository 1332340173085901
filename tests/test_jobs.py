"""Retrain and score jobs on a real SQLite MLflow store: promotion, idempotence, crashes, locks."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from repurchase_ml import jobs
from repurchase_ml.config import load_settings
from repurchase_ml.errors import SchemaError

mlflow = pytest.importorskip("mlflow")

SMALL = {
    "data": {"on_invalid": "drop",
             "synthetic": {"n_customers": 300, "start": "2022-01-01", "end": "2024-01-01",
                           "random_state": 3}},
    "tasks": ["churn", "repurchase", "ltv"],
    "horizons": {"churn": 60, "repurchase": 30, "ltv": 90},
    "cutoffs": {"n": 10},
    "baselines": False,
    "tuning": {"n_estimators": 40},
    "output": {"top_reasons": 2},
}


def settings_for(project, **changes):
    from repurchase_ml.config import deep_merge

    return load_settings(overrides=deep_merge({**SMALL, "project_dir": str(project)}, changes),
                         environ={})


def champion_version(settings):
    from repurchase_ml import tracking

    tracking.configure(settings)
    return tracking.champion_version(settings)


def n_versions(settings):
    client = mlflow.MlflowClient()
    return len(client.search_model_versions(f"name='{settings.tracking.model_name}'"))


@pytest.fixture(scope="module")
def weak_champion(tmp_path_factory):
    """A project whose champion sees only lifecycle features and uses one tree."""
    project = tmp_path_factory.mktemp("project")
    settings = settings_for(project, features={"families": ["lifecycle"]},
                            tuning={"n_estimators": 1})
    result = jobs.run_retrain(settings)
    return project, settings, result


def test_first_run_promotes_and_records_why(weak_champion):
    _, settings, result = weak_champion
    assert (result.promoted, result.model_version, result.champion_version) == (True, "1", "1")
    assert champion_version(settings) == "1"
    run = mlflow.get_run(result.run_id)
    assert run.data.tags["decision"] == "promoted"
    assert "no champion yet" in run.data.tags["decision_reason"]
    decision = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/decision.json")
    assert decision["promoted"] is True and decision["challenger_version"] == "1"
    assert set(decision["challenger"]) <= {"churn", "repurchase", "ltv"}
    # what a run must log: settings, data window, row counts, metrics, plots, features
    assert run.data.params["cutoffs.n"] == "10"
    assert run.data.params["data.window_end"].startswith("2023-12-31")
    assert run.data.metrics["churn/rows.test"] > 0
    assert 0 <= run.data.metrics["churn/model/roc_auc"] <= 1
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "plots")}
    assert {"plots/churn_gain.png", "plots/churn_calibration.png",
            "plots/churn_shap_summary.png", "plots/ltv_gain.png"} <= artifacts
    features = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/features.json")["features"]
    assert features and all(dtype == "float64" for dtype in features.values())


def test_identical_rerun_keeps_the_champion_without_a_new_version(weak_champion):
    _, settings, first = weak_champion
    again = jobs.run_retrain(settings)
    assert (again.promoted, again.model_version, again.champion_version) == (False, "1", "1")
    assert "identical data, settings and code" in again.reason
    assert n_versions(settings) == 1
    assert mlflow.get_run(again.run_id).data.tags["decision"] == "kept"


def test_strict_rule_keeps_the_champion_and_registers_the_challenger(weak_champion):
    project, _, _ = weak_champion
    strict = settings_for(project, promotion={"min_improvement": 0.9})
    result = jobs.run_retrain(strict)
    assert result.promoted is False
    assert result.champion_version == "1" and champion_version(strict) == "1"
    assert "not better" in result.reason
    version = mlflow.MlflowClient().get_model_version(strict.tracking.model_name,
                                                      result.model_version)
    assert version.tags["decision"] == "kept"
    # both were scored on the same rows of the same cutoff
    run = mlflow.get_run(result.run_id)
    for task in ("churn", "repurchase"):
        assert (run.data.metrics[f"{task}/challenger/n_rows"]
                == run.data.metrics[f"{task}/champion/n_rows"])


@pytest.mark.parametrize("step", ["log_training_run", "register", "promote"])
def test_a_crash_at_any_step_leaves_the_champion_untouched(weak_champion, monkeypatch, step):
    from repurchase_ml import tracking

    project, settings, _ = weak_champion
    before = champion_version(settings)

    def crash(*args, **kwargs):
        raise RuntimeError(f"injected failure in {step}")

    monkeypatch.setattr(tracking, step, crash)
    challenger = settings_for(project, tuning={"n_estimators": 25})
    with pytest.raises(RuntimeError, match="injected failure"):
        jobs.run_retrain(challenger)
    assert champion_version(settings) == before
    assert not (project / jobs.LOCK_NAME).exists()


def test_a_better_challenger_is_promoted(weak_champion):
    project, settings, _ = weak_champion
    before = champion_version(settings)
    result = jobs.run_retrain(settings_for(project))
    assert result.promoted is True, result.reason
    assert "beats champion" in result.reason
    assert champion_version(settings) == result.model_version != before
    # with the RFM features on, the RFM baseline is scored beside the model
    assert "churn/rfm/roc_auc" in mlflow.get_run(result.run_id).data.metrics
    assert all(result.challenger_metrics[t] > result.champion_metrics[t] - 0.01
               for t in result.challenger_metrics)


def test_score_writes_scores_and_radar_atomically(weak_champion):
    project, settings, _ = weak_champion
    result = jobs.run_score(settings, "2024-01-01")
    out = project / "outputs"
    assert sorted(p.name for p in out.iterdir()) == [
        "radar_2024-01-01.csv", "radar_2024-01-01.parquet", "report_2024-01-01.html",
        "scores_2024-01-01.csv", "scores_2024-01-01.parquet"]
    assert "<section id=" in (out / "report_2024-01-01.html").read_text(encoding="utf-8")
    scores = pd.read_parquet(out / "scores_2024-01-01.parquet")
    radar = pd.read_parquet(out / "radar_2024-01-01.parquet")
    assert len(scores) == result.n_scored and len(radar) == result.n_radar > 0
    assert scores["customer_id"].is_unique
    assert (scores["value_at_risk"] - scores["churn_probability"] * scores["predicted_ltv"]
            ).abs().max() < 1e-9
    assert radar["value_at_risk"].is_monotonic_decreasing
    assert scores["reason_1"].notna().any()
    assert result.model_version == champion_version(settings)


def test_score_refuses_schema_drift_with_a_diff(weak_champion):
    from repurchase_ml import tracking
    from repurchase_ml.features import build_features

    _, settings, _ = weak_champion
    tracking.configure(settings)
    champion = tracking.load_champion(settings)
    events, _ = jobs.load_event_log(settings)
    features = build_features(events, cutoffs=["2024-01-01"], spec=champion.spec)
    dropped = champion.served.features[0]
    drifted = features.drop(columns=[dropped]).assign(coupon_share=0.0)
    with pytest.raises(SchemaError, match=rf"missing 1: \['{dropped}'\]; unexpected 1: "
                                          r"\['coupon_share'\]"):
        champion.score(drifted)


def test_score_without_a_champion_says_how_to_fix(weak_champion):
    project, _, _ = weak_champion
    unknown = settings_for(project, tracking={"model_name": "never_trained"})
    with pytest.raises(ValueError, match="no champion.*repurchase-ml retrain"):
        jobs.run_score(unknown, "2024-01-01")


def test_score_refuses_an_aware_or_unparseable_as_of(tmp_path):
    for bad in ("2024-01-01T00:00:00+02:00", "next monday"):
        with pytest.raises(ValueError, match="as_of"):
            jobs.run_score(settings_for(tmp_path), bad)


def test_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path):
    lock = tmp_path / jobs.LOCK_NAME
    sleeper = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom repurchase_ml.jobs import retrain_lock\n"
        f"with retrain_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n"
        "    time.sleep(60)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert sleeper.stdout.readline().strip() == "held"
        with pytest.raises(jobs.JobLockedError, match=f"pid {sleeper.pid}"), \
                jobs.retrain_lock(tmp_path):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with jobs.retrain_lock(tmp_path) as held:  # the holder is gone: stale lock taken over
        assert json.loads(held.read_text())["pid"] == os.getpid()
    assert not lock.exists()


def test_promotion_rule_table():
    rule = {"min_improvement": 0.01, "tolerance": 0.02}
    assert jobs.decide_promotion({"churn": 0.7}, None, **rule)[0] is True
    assert jobs.decide_promotion({"churn": 0.75, "ltv": 0.5}, {"churn": 0.70, "ltv": 0.5},
                                 **rule)[0] is True
    assert jobs.decide_promotion({"churn": 0.705}, {"churn": 0.70}, **rule)[0] is False
    worse = jobs.decide_promotion({"churn": 0.90, "ltv": 0.47}, {"churn": 0.70, "ltv": 0.5},
                                  **rule)
    assert worse == (False, "ltv is worse by 0.0300 (> tolerance 0.02)")
    assert jobs.decide_promotion({"churn": 0.8, "ltv": 0.5}, {"churn": 0.8}, **rule)[0] is True
    assert jobs.decide_promotion({}, {"churn": 0.8}, **rule)[0] is False
