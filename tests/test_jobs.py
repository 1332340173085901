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
    # 300 customers are below the default training minimums (e.g. 24 repurchase positives)
    "training": {"minimums": {"train_positives": 20, "train_negatives": 20, "eval_rows": 30,
                              "eval_positives": 5, "eval_negatives": 5, "history_days": 30}},
    # ... and below the rows the promotion rule wants per task (tested in test_retrain_refit)
    "promotion": {"min_eval_rows": 20},
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
    # each task tested at the newest month start its own horizon allows (60, 30, 90 days of
    # a log ending 2023-12-31), then refit on every labelled cutoff before registration
    newest = {"churn": "2023-11-01", "repurchase": "2023-12-01", "ltv": "2023-10-01"}
    assert decision["evaluation_cutoffs"] == {t: newest[t] for t in decision["evaluation_cutoffs"]}
    assert len(decision["evaluation_cutoffs"]) >= 2
    assert decision["refit_on_all_cutoffs"] is True and decision["left_out_of_promotion"] == {}
    from repurchase_ml import tracking

    served = tracking.load_champion(settings).served
    for split in served.bundle.cutoffs.values():
        assert split["test"] in split["refit"] and split["valid"] in split["refit"]
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
    # a version registered before the crash never claims a promotion it did not get
    client = mlflow.MlflowClient()
    claims = {str(v.version) for v in client.search_model_versions(
        f"name='{settings.tracking.model_name}'") if v.tags.get("decision") == "promoted"}
    assert claims <= {before, "1"} and before in claims
    experiment = mlflow.get_experiment_by_name(settings.tracking.experiment)
    (last,) = client.search_runs([experiment.experiment_id], max_results=1,
                                 order_by=["attributes.start_time DESC"])
    assert last.info.status == "FAILED" and last.data.tags["decision"] == "failed"
    assert last.data.tags["decision_reason"] == f"RuntimeError: injected failure in {step}"


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


def test_a_challenger_worse_than_a_baseline_is_never_promoted(weak_champion, monkeypatch):
    """The shipped churn scorer falls 0.05 below the best baseline on the test cutoff: kept."""
    import dataclasses

    from repurchase_ml import models

    project, settings, _ = weak_champion
    before = champion_version(settings)
    train = models.train_models
    best = {}

    def worse_than_a_baseline(*args, **kwargs):
        bundle = train(*args, **kwargs)
        cards = bundle.scorecards["churn"]
        rivals = {name: card.metrics["roc_auc"] for name, card in cards.items()
                  if name in ("rfm", "bgnbd")}
        best["name"] = max(rivals, key=rivals.get)
        cards["model"] = dataclasses.replace(cards["model"], metrics={
            **cards["model"].metrics, "roc_auc": rivals[best["name"]] - 0.05})
        return bundle

    monkeypatch.setattr(models, "train_models", worse_than_a_baseline)
    result = jobs.run_retrain(settings_for(project, tuning={"n_estimators": 30},
                                           promotion={"baseline_tolerance": 0.02}))
    assert result.promoted is False
    assert result.reason.startswith("baseline gate: churn: roc_auc ")
    assert f"worse than the {best['name']} baseline" in result.reason
    assert "by 0.0500 (> baseline tolerance 0.02)" in result.reason
    assert champion_version(settings) == before
    client = mlflow.MlflowClient()
    assert client.get_model_version(settings.tracking.model_name,
                                    result.model_version).tags["decision"] == "kept"
    decision = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/decision.json")
    assert decision["baseline_gate"] == {"passed": False, "reason": result.reason[15:],
                                         "tolerance": 0.02}
    card = result.scorecard["churn"]
    assert card["metric"] == "roc_auc" and card["shipped_on_test"] == pytest.approx(
        card["baselines"][best["name"]] - 0.05)
    assert 0 < card["challenger"] <= 1 and 0 < card["champion"] <= 1
    lines = jobs.scorecard_lines(result.to_dict())
    assert lines[0].startswith("churn      roc_auc  challenger 0.") and "rfm 0." in lines[0]
    # the choice per task and the radar's top decile are logged beside the decision
    run = mlflow.get_run(result.run_id)
    assert set(mlflow.artifacts.load_dict(f"runs:/{result.run_id}/choice.json")) == {
        "churn", "repurchase", "ltv"}
    assert 0 <= run.data.metrics["radar/precision_top_fraction"] <= 1
    assert result.radar_metrics["lift_top_fraction"] == run.data.metrics[
        "radar/lift_top_fraction"]
    assert run.data.tags["job.pid"] == str(os.getpid())


def test_fingerprint_ignores_row_order_and_sees_top_reasons(tmp_path):
    settings = settings_for(tmp_path)
    events, _ = jobs.load_event_log(settings)
    shuffled = events.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert jobs._fingerprint(shuffled, settings) == jobs._fingerprint(events, settings)
    fewer_reasons = settings_for(tmp_path, output={"top_reasons": 1})
    elsewhere = settings_for(tmp_path, output={"dir": str(tmp_path / "elsewhere")})
    assert jobs._fingerprint(events, fewer_reasons) != jobs._fingerprint(events, settings)
    assert jobs._fingerprint(events, elsewhere) == jobs._fingerprint(events, settings)
    assert jobs._fingerprint(events.iloc[1:], settings) != jobs._fingerprint(events, settings)


def test_fingerprint_of_a_file_source_is_its_bytes(tmp_path):
    events, _ = jobs.load_event_log(settings_for(tmp_path))
    log = tmp_path / "log.parquet"
    events.to_parquet(log)
    settings = settings_for(tmp_path, data={"source": "path", "path": str(log)})
    first = jobs._fingerprint(events, settings)
    assert jobs._fingerprint(events.iloc[:0], settings) == first  # the frame is not read
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "log.parquet").write_bytes(log.read_bytes())
    assert jobs._fingerprint(events, settings_for(
        tmp_path, data={"source": "path", "path": str(moved / "log.parquet")})) == first
    events.iloc[1:].to_parquet(log)
    assert jobs._fingerprint(events, settings) != first


# ------------------------------------------------- a purchases-only shop scored at past dates
AS_OF = "2023-11-15"


@pytest.fixture(scope="module")
def order_shop(tmp_path_factory):
    """A champion trained on a purchases-only log; the full log (with views) kept aside."""
    from repurchase_ml.datasets import make_event_log

    folder = tmp_path_factory.mktemp("shop")
    events, _ = make_event_log(300, "2022-01-01", "2024-01-01", random_state=3)
    orders = events[events["event_type"].isin(["purchase", "refund"])].reset_index(drop=True)
    orders.to_parquet(folder / "orders.parquet")
    settings = shop_settings(folder, "orders.parquet")
    result = jobs.run_retrain(settings)
    assert result.promoted, result.reason
    return folder, events, orders


def shop_settings(folder, log, **changes):
    from repurchase_ml.config import deep_merge

    base = {"project_dir": str(folder / "project"),
            "data": {"source": "path", "path": str(folder / log)},
            "tasks": ["churn", "ltv"], "horizons": {"churn": 60, "ltv": 60},
            "cutoffs": {"n": 6}, "tuning": {"n_estimators": 20}, "baselines": False,
            "promotion": {"baseline_tolerance": 1.0}, "training": SMALL["training"],
            "output": {"dir": str(folder / f"out_{log}"), "report": False}}
    return load_settings(overrides=deep_merge(base, changes), environ={})


def test_views_added_after_as_of_do_not_change_scores(order_shop):
    folder, events, orders = order_shop
    before = jobs.run_score(shop_settings(folder, "orders.parquet"), AS_OF)
    later_views = events[(events["event_type"] == "view") & (events["timestamp"] >= AS_OF)]
    grown = pd.concat([orders, later_views]).sort_values(["customer_id", "timestamp"])
    grown.reset_index(drop=True).to_parquet(folder / "grown.parquet")
    after = jobs.run_score(shop_settings(folder, "grown.parquet"), AS_OF)
    pd.testing.assert_frame_equal(pd.read_parquet(after.paths[1]),
                                  pd.read_parquet(before.paths[1]))
    assert after.n_scored == before.n_scored > 0


def test_report_of_a_log_that_ends_at_as_of_is_written_whole(order_shop):
    folder, _, orders = order_shop
    orders[orders["timestamp"] < AS_OF].to_parquet(folder / "ends.parquet")
    result = jobs.run_score(shop_settings(folder, "ends.parquet", output={"report": True}),
                            AS_OF)
    report = folder / "out_ends.parquet" / f"report_{AS_OF}.html"
    assert str(report) in result.paths and result.notes == []
    page = report.read_text(encoding="utf-8")
    assert "<section id=" in page
    # the drift of this very run (written after the page), and no read-out or history yet
    drift = pd.read_parquet(folder / "out_ends.parquet" / f"drift_{AS_OF}.parquet")
    monitoring = page.split('<section id="monitoring">')[1].split("</section>")[0]
    flagged = drift.loc[drift["flagged"], "column"].tolist()
    if flagged:
        assert f"{len(flagged)} of {len(drift)} monitored columns drifted" in monitoring
        assert all(f"<th>{c}</th>" in monitoring for c in flagged)
    else:
        assert f"all {len(drift)} monitored columns look like training" in monitoring
    assert "No realised performance yet" in monitoring
    assert "No campaign read-out yet" in page


def test_a_failing_score_run_writes_nothing(order_shop, monkeypatch):
    from repurchase_ml import report

    folder, _, _ = order_shop

    def broken(**kwargs):
        raise RuntimeError("injected report failure")

    monkeypatch.setattr(report, "build_report", broken)
    settings = shop_settings(folder, "orders.parquet", output={
        "report": True, "dir": str(folder / "out_failing")})
    with pytest.raises(RuntimeError, match="injected report failure"):
        jobs.run_score(settings, AS_OF)
    assert not (folder / "out_failing").exists() or not any(
        (folder / "out_failing").iterdir())


def test_score_file_has_no_reasons_and_stale_temp_files_are_cleared(order_shop):
    import time

    folder, _, _ = order_shop
    out = folder / "out_reasons"
    out.mkdir()
    stale, fresh = out / ".scores_x.csv.abc123.tmp", out / ".radar_x.csv.def456.tmp"
    stale.write_text("half a file")
    fresh.write_text("being written")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    settings = shop_settings(folder, "orders.parquet",
                             output={"top_reasons": 1, "dir": str(out)})
    result = jobs.run_score(settings, AS_OF)
    scores = pd.read_parquet(result.paths[1])
    radar = pd.read_parquet(result.paths[3])
    # every customer is scored without reasons; the radar explains its top rows
    assert not [c for c in scores.columns if c.startswith("reason_")]
    assert len(scores) == result.n_scored and radar["reason_1"].notna().any()
    assert not stale.exists() and fresh.exists()


def test_score_refuses_an_as_of_long_after_the_log_and_reports_an_empty_radar(order_shop):
    folder, _, orders = order_shop
    last = orders["timestamp"].max()
    with pytest.raises(ValueError, match=rf"as_of: 2024-12-31 is \d+ days after the log's last "
                                         rf"event \({last.date()}\).*max_days_after_last_event"):
        jobs.run_score(shop_settings(folder, "orders.parquet"), "2024-12-31")
    allowed = shop_settings(folder, "orders.parquet", output={"report": True},
                            data={"max_days_after_last_event": 1000})
    result = jobs.run_score(allowed, "2025-06-01")
    assert result.n_radar == 0 and result.n_scored > 0
    assert result.notes and result.notes[0].startswith("the radar is empty")
    assert not any(p.endswith(".html") for p in result.paths)


def test_score_writes_scores_and_radar_atomically(weak_champion):
    project, settings, _ = weak_champion
    result = jobs.run_score(settings, "2024-01-01")
    out = project / "outputs"
    assert sorted(p.name for p in out.iterdir()) == [
        "drift_2024-01-01.csv", "drift_2024-01-01.parquet", "monitoring_2024-01-01.json",
        "radar_2024-01-01.csv", "radar_2024-01-01.parquet", "report_2024-01-01.html",
        "scores_2024-01-01.csv", "scores_2024-01-01.parquet"]
    assert "<section id=" in (out / "report_2024-01-01.html").read_text(encoding="utf-8")
    scores = pd.read_parquet(out / "scores_2024-01-01.parquet")
    radar = pd.read_parquet(out / "radar_2024-01-01.parquet")
    assert len(scores) == result.n_scored and len(radar) == result.n_radar > 0
    assert scores["customer_id"].is_unique
    assert (scores["value_at_risk"] - scores["churn_probability"] * scores["value_if_retained"]
            ).abs().max() < 1e-9
    # the scores and the radar price a customer the same (the served model's value if retained)
    both = radar.merge(scores, on="customer_id", suffixes=("", "_scores"))
    assert len(both) == len(radar)
    assert (both["value_at_risk"] - both["value_at_risk_scores"]).abs().max() < 1e-9
    # customers at or above the base churn rate first, by value at risk (docs/radar.md)
    above = radar["churn_probability"] >= radar["churn_probability"].mean()
    n_above = int(above.sum())
    assert above.iloc[:n_above].all() and not above.iloc[n_above:].any()
    assert radar["value_at_risk"].iloc[:n_above].is_monotonic_decreasing
    assert not [c for c in scores.columns if c.startswith("reason_")]
    assert result.model_version == champion_version(settings)


def test_score_job_outputs_are_the_direct_computation(weak_champion):
    """Scores without reasons and the radar with its own: as computed from all scores directly."""
    from repurchase_ml import tracking
    from repurchase_ml.features import build_features
    from repurchase_ml.radar import N_REASONS, radar_from_scores

    project, settings, _ = weak_champion
    jobs.run_score(settings, "2024-01-01")
    out = project / "outputs"
    scores = pd.read_parquet(out / "scores_2024-01-01.parquet")
    radar = pd.read_parquet(out / "radar_2024-01-01.parquet")
    tracking.configure(settings)
    champion = tracking.load_champion(settings)
    events, _ = jobs.load_event_log(settings)
    cutoff = pd.Timestamp("2024-01-01")
    spec = jobs.pinned_spec(champion.spec, champion.served.features)
    features = build_features(events[events["timestamp"] < cutoff], cutoffs=[cutoff], spec=spec)
    full = champion.score(features)  # every customer with reasons, as a served request gets
    words = [c for c in full.columns if c.startswith("reason_")]
    assert words == ["reason_1", "reason_2"]  # output.top_reasons
    pd.testing.assert_frame_equal(scores, full.drop(columns=words), check_dtype=False)
    churn = champion.served.bundle
    direct = radar_from_scores(full, features=features, as_of=cutoff,
                               churn_model=churn.models["churn"],
                               random_state=settings.tuning.random_state,
                               language=settings.report.language,
                               horizon_days=churn.horizons["churn"],
                               **settings.radar.options())
    assert radar["customer_id"].tolist() == direct["customer_id"].tolist()
    reasons = [f"reason_{i}" for i in range(1, N_REASONS + 1)]
    assert radar["reason_1"].notna().sum() > 10
    pd.testing.assert_frame_equal(radar[reasons], direct[reasons].astype(radar[reasons].dtypes))
    pd.testing.assert_frame_equal(radar.drop(columns=["cutoff", *reasons]),
                                  direct.drop(columns=["cutoff", *reasons]), check_dtype=False)


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
