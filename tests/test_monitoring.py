"""Monitoring: drift on planted shifts, performance estimated and realised, the data gate."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import repurchase_ml as rm
from repurchase_ml.datasets.shifts import plant_shift
from repurchase_ml.features import build_features, make_labels, propose_cutoffs
from repurchase_ml.models.plan import TrainingPlanError, history_shortfalls
from repurchase_ml.monitoring import (
    DriftThresholds,
    drift_report,
    estimated_performance,
    expected_roc_auc,
    flagged_columns,
    summarise_reference,
)
from repurchase_ml.segments import lifecycle_stage

AS_OF = pd.Timestamp("2024-01-01")
N_CUSTOMERS = 2500


def _with_stage(features):
    return features.assign(lifecycle_stage=lifecycle_stage(features).to_numpy())


def _groups(features):
    names = [c for c in features if c not in ("customer_id", "cutoff", "lifecycle_stage")]
    return {**{c: "feature" for c in names}, "lifecycle_stage": "segment"}


def _at(events, when=AS_OF):
    return _with_stage(build_features(events[events["timestamp"] < when], cutoffs=[when]))


@pytest.fixture(scope="module")
def shop():
    """A synthetic shop, the drift reference of its monthly training rows, its rows at AS_OF."""
    events, _ = rm.make_event_log(N_CUSTOMERS, "2021-01-01", "2024-01-01", random_state=0)
    cutoffs = propose_cutoffs(events, horizon_days=90, n=12)
    training = _with_stage(build_features(events, cutoffs=cutoffs))
    reference = summarise_reference(training, groups=_groups(training))
    return events, reference, _at(events)


def test_the_same_process_flags_nothing(shop):
    events, reference, now = shop
    assert flagged_columns(drift_report(reference, now, as_of=AS_OF)) == []
    other, _ = rm.make_event_log(N_CUSTOMERS, "2021-01-01", "2024-01-01", random_state=1)
    table = drift_report(reference, _at(other), as_of=AS_OF)
    assert flagged_columns(table) == [], table.head()
    # tenure grows as the shop ages: above 0.2 by itself, and not flagged for it
    assert table.set_index("column").loc["tenure_days", "natural_psi"] > 0.2


@pytest.mark.parametrize("as_of", ["2024-01-01", "2024-02-15"])
def test_the_retail_year_flags_nothing(as_of):
    """The Q4 peak and the new-year dip move short windows by themselves; no flag for that."""
    def shop(seed):
        return rm.make_event_log(N_CUSTOMERS, "2021-01-01", "2024-03-01", random_state=seed,
                                 profile="retail")[0]

    events = shop(0)
    training = _with_stage(build_features(events, cutoffs=propose_cutoffs(
        events, horizon_days=90, n=12)))
    reference = summarise_reference(training, groups=_groups(training))
    when = pd.Timestamp(as_of)
    table = drift_report(reference, _at(shop(1), when), as_of=when)
    assert flagged_columns(table) == [], table.head(3)
    # mid-February sits in the dip: a short-window trend moves beyond the newest cutoff
    # but stays near the training rows of a February
    row = table.set_index("column").loc["interactions_change_30d"]
    assert row["psi_nearest"] < 0.2 <= row["psi"] or as_of == "2024-01-01"


SHIFTS = {
    "tracking_outage": ({"start": "2023-12-01"}, {"views_7d", "views_30d"}),
    "price_change": ({"start": "2023-10-01", "factor": 2.0}, {"aov_90d", "price_tier_90d"}),
    "new_source": ({"start": "2023-10-01", "share": 0.5},
                   {"view_to_purchase_rate", "orders_30d"}),
}


@pytest.mark.parametrize("kind", list(SHIFTS))
def test_a_planted_shift_flags_its_features_and_no_others(shop, kind):
    events, reference, before = shop
    params, expected = SHIFTS[kind]
    after = _at(plant_shift(events, kind, random_state=5, **params))
    flagged = set(flagged_columns(drift_report(reference, after, as_of=AS_OF)))
    assert expected <= flagged, flagged
    # what the shift left alone (the same rows without and with the shift, at AS_OF) stays quiet
    oracle = drift_report(summarise_reference(before.assign(cutoff=AS_OF),
                                              groups=_groups(before)), after, as_of=AS_OF)
    untouched = set(oracle.loc[(oracle["psi"] < 0.02) & ((oracle["missing_current"]
                                - oracle["missing_reference"]).abs() < 0.01), "column"])
    assert untouched and not flagged & untouched, flagged & untouched


def test_drift_table_columns_and_thresholds(shop):
    _, reference, now = shop
    table = drift_report(reference, now, as_of=AS_OF, thresholds=DriftThresholds(new_category=0))
    assert flagged_columns(table) == ["lifecycle_stage"]  # a share >= 0 always passes
    row = table.set_index("column").loc["orders_90d"]
    assert row["n_current"] == len(now) and 0 <= row["js_distance"] <= 1
    assert row["wasserstein"] >= 0 and row["kind"] == "numeric"
    with pytest.raises(ValueError, match="drift threshold psi"):
        DriftThresholds(psi=-1)
    with pytest.raises(ValueError, match="lack monitored column"):
        drift_report(reference, now.drop(columns=["views_7d"]), as_of=AS_OF)


def test_the_reference_holds_counts_not_rows(shop):
    _, reference, _ = shop
    col = reference.columns["orders_90d"]
    assert col.counts.shape == (len(reference.cutoffs), col.edges.size + 2)
    assert set(reference.to_frame()) == {"column", "group", "cutoff", "bin", "count"}


def test_expected_auc_is_the_pairwise_expectation():
    rng = np.random.default_rng(0)
    p = np.round(rng.beta(1, 3, 60), 2)  # rounded: ties count a half
    right = pairs = 0.0
    for i in range(len(p)):
        for j in range(len(p)):
            if i != j:
                w = p[i] * (1 - p[j])
                pairs += w
                right += w * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    assert expected_roc_auc(p) == pytest.approx(right / pairs, abs=1e-12)


def test_a_calibration_map_ranks_by_score_and_expects_by_map():
    p = np.array([0.1, 0.2, 0.3, 0.4])
    doubled = ([0.0, 0.5], [0.0, 1.0])  # the model says half of what happens
    assert expected_roc_auc(p, calibration=doubled) == pytest.approx(
        expected_roc_auc(2 * p), abs=1e-12)
    assert estimated_performance(p, calibration=doubled)["base_rate"] == pytest.approx(0.5)


def test_estimates_match_labels_drawn_from_calibrated_probabilities():
    rng = np.random.default_rng(1)
    p = rng.beta(0.8, 2.5, 3000)
    est = estimated_performance(p)
    draws = [rng.random(len(p)) < p for _ in range(60)]
    order = np.argsort(-p, kind="stable")[:300]
    assert np.mean([roc_auc_score(y, p) for y in draws]) == pytest.approx(est["roc_auc"],
                                                                          abs=0.005)
    assert np.mean([y[order].mean() for y in draws]) == pytest.approx(est["precision_top10"],
                                                                      abs=0.01)
    assert np.mean([y.mean() for y in draws]) == pytest.approx(est["base_rate"], abs=0.005)
    with pytest.raises(ValueError, match="probabilities"):
        estimated_performance([0.2, 1.5])


def test_history_gate_names_what_is_missing():
    short = history_shortfalls(374, tasks=["churn", "repurchase"],
                               horizons={"churn": 90, "repurchase": 30})
    assert list(short) == ["churn"]
    assert short["churn"].startswith("churn needs >= 455 days of history (365-day alive "
                                     "window + 90-day horizon); the log has 374")


# --------------------------------------------------------------------------- jobs
mlflow = pytest.importorskip("mlflow")


def _settings(project, **changes):
    from repurchase_ml.config import deep_merge, load_settings

    small = {
        "project_dir": str(project),
        "data": {"synthetic": {"n_customers": 400, "start": "2022-01-01", "end": "2024-01-01",
                               "random_state": 3}},
        "tasks": ["churn", "repurchase", "ltv"],
        "horizons": {"churn": 60, "repurchase": 30, "ltv": 60},
        "cutoffs": {"n": 8}, "baselines": False, "tuning": {"n_estimators": 30},
        "output": {"top_reasons": 1, "report": False},
        "training": {"minimums": {"train_positives": 20, "train_negatives": 20,
                                  "eval_rows": 30, "eval_positives": 5, "eval_negatives": 5,
                                  "history_days": 30}},
        "promotion": {"baseline_tolerance": 1.0},
    }
    return load_settings(overrides=deep_merge(small, changes), environ={})


def test_refused_before_anything_is_built(tmp_path):
    from repurchase_ml import jobs

    settings = _settings(tmp_path, data={"synthetic": {"start": "2023-01-01",
                                                       "end": "2024-01-10"}},
                         horizons={"churn": 90}, training={"on_insufficient": "raise"})
    with pytest.raises(TrainingPlanError, match="churn needs >= 455 days of history"):
        jobs.run_retrain(settings)
    assert not (tmp_path / "mlflow.db").exists()


def test_unsplittable_task_refused_before_anything_is_built(tmp_path):
    """8 monthly cutoffs cannot hold train, validation and test 180 days apart."""
    from repurchase_ml import jobs

    settings = _settings(tmp_path, horizons={"ltv": 180}, training={"on_insufficient": "raise"})
    with pytest.raises(TrainingPlanError, match=r"ltv: its 8 cutoffs .* span 212 days; an "
                       r"out-of-time split with a 180-day horizon needs >= 360"):
        jobs.run_retrain(settings)
    assert not (tmp_path / "mlflow.db").exists()


def test_stage_clock_records_each_stage():
    from repurchase_ml._stages import StageClock

    clock = StageClock("test")
    with clock.stage("allocate"):
        block = np.ones(20_000_000)  # 160 MB, freed before the next stage
    del block
    with clock.stage("nothing"):
        pass
    first, second = clock.records
    assert [first["stage"], second["stage"]] == ["allocate", "nothing"]
    assert first["peak_gb"] >= second["peak_gb"] + 0.15  # the peak is reset per stage
    assert clock.metrics()["stage_seconds/nothing"] == second["seconds"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    from repurchase_ml import jobs

    project = tmp_path_factory.mktemp("monitoring")
    settings = _settings(project)
    retrain = jobs.run_retrain(settings)
    score = jobs.run_score(settings, "2023-10-01")
    return settings, retrain, score


def test_score_writes_drift_and_estimates_beside_the_scores(scored):
    settings, retrain, score = scored
    out = settings.output_path()
    table = pd.read_parquet(out / "drift_2023-10-01.parquet")
    assert {"churn_probability", "repurchase_probability", "lifecycle_stage"} <= set(
        table["column"])
    assert set(table.loc[table["group"] == "score", "column"]) == {
        "churn_probability", "repurchase_probability", "predicted_ltv"}
    record = json.loads((out / "monitoring_2023-10-01.json").read_text())
    assert record["model_version"] == retrain.model_version == score.model_version
    assert [r["stage"] for r in record["stages"]] == [r["stage"] for r in score.stages]
    assert {"read and validate the log", "features", "scores", "radar"} <= {
        r["stage"] for r in score.stages}
    assert {"training set", "train", "log the run"} <= {r["stage"] for r in retrain.stages}
    assert record["drift_flagged"] == score.drift_flagged == flagged_columns(table)
    scores = pd.read_parquet(out / "scores_2023-10-01.parquet")
    # the estimate covers churn's population (alive customers) with the test-cutoff calibration
    from repurchase_ml import tracking
    from repurchase_ml.monitoring.performance import task_population

    reference = tracking.load_champion(settings).served.drift_reference
    events, _ = rm.make_event_log(400, "2022-01-01", "2024-01-01", random_state=3)
    features = build_features(events[events["timestamp"] < "2023-10-01"], cutoffs=["2023-10-01"])
    alive = task_population("churn", features)
    assert 0 < alive.sum() < len(features) and set(reference.calibration) == {"churn",
                                                                                "repurchase"}
    p = scores["churn_probability"].to_numpy()[alive]
    assert record["estimated"]["churn"]["roc_auc"] == pytest.approx(
        expected_roc_auc(p, calibration=reference.calibration["churn"]))
    runs = mlflow.search_runs(experiment_names=[settings.tracking.experiment + "-monitoring"],
                              output_format="list")
    assert [r.data.tags["model_version"] for r in runs] == [score.model_version]


def test_evaluate_equals_an_independent_recomputation(scored):
    from repurchase_ml.jobs import run_evaluate
    from repurchase_ml.monitoring import performance_history

    settings, _, score = scored
    early = run_evaluate(settings, "2023-10-20")  # both horizons still running
    assert early.evaluated == [] and set(early.waiting) == {
        "2023-10-01 churn", "2023-10-01 repurchase", "2023-10-01 ltv"}
    result = run_evaluate(settings, "2024-01-01")
    assert result.evaluated == ["2023-10-01"]
    history = performance_history(settings.output_path()).set_index(["task", "metric"])
    events, _ = rm.make_event_log(400, "2022-01-01", "2024-01-01", random_state=3)
    scores = pd.read_parquet(settings.output_path() / "scores_2023-10-01.parquet")
    for task, horizon in (("churn", 60), ("repurchase", 30)):
        labels = make_labels(events, cutoffs="2023-10-01", task=task, horizon_days=horizon)
        joined = labels.merge(scores, on="customer_id")
        p = joined[f"{task}_probability"]
        assert history.loc[(task, "roc_auc"), "realised"] == pytest.approx(
            roc_auc_score(joined[task], p))
        assert history.loc[(task, "base_rate"), "realised"] == pytest.approx(joined[task].mean())
        record = json.loads((settings.output_path() / "monitoring_2023-10-01.json").read_text())
        assert history.loc[(task, "roc_auc"), "estimated"] == record["estimated"][task]["roc_auc"]
        assert history.loc[(task, "roc_auc"), "model_version"] == score.model_version
    ltv = make_labels(events, cutoffs="2023-10-01", task="ltv", horizon_days=60).merge(
        scores, on="customer_id")
    assert history.loc[("ltv", "total_actual"), "realised"] == pytest.approx(ltv["ltv"].sum())
    assert history.loc[("ltv", "total_predicted"), "realised"] == pytest.approx(
        ltv["predicted_ltv"].sum())
    radar = pd.read_parquet(settings.output_path() / "radar_2023-10-01.parquet")
    k = max(1, len(radar) // 10)
    churned = make_labels(events, cutoffs="2023-10-01", task="churn", horizon_days=60)
    top = radar.head(k)[["customer_id"]].merge(churned, on="customer_id")
    assert history.loc[("churn", "radar_precision_at_k"), "realised"] == pytest.approx(
        top["churn"].mean())
    assert run_evaluate(settings, "2024-01-01").evaluated == []  # nothing twice
    runs = mlflow.search_runs(experiment_names=[settings.tracking.experiment + "-monitoring"],
                              filter_string="tags.job = 'evaluate'", output_format="list")
    assert len(runs) == 1 and runs[0].data.metrics["churn/realised/roc_auc"] == pytest.approx(
        history.loc[("churn", "roc_auc"), "realised"])


def test_fail_on_drift_and_retrain_triggers(scored):
    from typer.testing import CliRunner

    from repurchase_ml import cli, jobs

    settings, retrain, _ = scored
    project = settings.project_dir
    common = ["--project-dir", project, "--set", "output.report=false",
              "--set", "data.synthetic.n_customers=400", "--set", "data.synthetic.start=2022-01-01",
              "--set", "data.synthetic.random_state=3"]
    quiet = CliRunner().invoke(cli.app, ["score", "--as-of", "2023-11-01", "--fail-on-drift",
                                         *common])
    record = json.loads((settings.output_path() / "monitoring_2023-11-01.json").read_text())
    assert quiet.exit_code == (cli.EXIT_DRIFT if record["drift_flagged"] else 0), quiet.output
    loud = CliRunner().invoke(cli.app, ["score", "--as-of", "2023-11-01", "--fail-on-drift",
                                        "--set", "monitoring.new_category=0", *common])
    assert loud.exit_code == cli.EXIT_DRIFT, loud.output
    assert "lifecycle_stage" in loud.stderr
    # the newest drift table of the champion flags a column: a triggered retrain runs
    triggered = _settings(settings.project_dir, monitoring={"retrain_when": "triggered"},
                          tuning={"n_estimators": 31})
    result = jobs.run_retrain(triggered)
    assert result.model_version != retrain.model_version
    decision = mlflow.artifacts.load_dict(f"runs:/{result.run_id}/decision.json")
    assert "column(s) flagged" in decision["trigger"]


def test_history_plots_a_line_per_metric():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from repurchase_ml.monitoring import plot_performance_history

    history = pd.DataFrame({
        "scored_at": ["2023-01-01", "2023-02-01"] * 2, "evaluated_at": "2023-06-01",
        "model_version": "1", "task": "churn", "metric": ["roc_auc"] * 2 + ["ece"] * 2,
        "realised": [0.8, 0.78, 0.02, 0.03], "estimated": [0.81, 0.8, np.nan, np.nan],
        "n_rows": 100.0})
    fig = plot_performance_history(history, task="churn")
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["ece", "roc_auc", "roc_auc (estimated)"]
    plt.close(fig)
    with pytest.raises(ValueError, match="no realised performance of 'ltv'"):
        plot_performance_history(history, task="ltv")

