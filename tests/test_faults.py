"""Fault injection: a real retrain, in its own process, SIGKILLed at each stage.

Each killed run must leave the champion, the registry's tags and the outputs as
they were (the alias move is the one commit point), and the next run must
recover (each killed run here is followed by the next one, which recovers it):
runs left RUNNING become FAILED, versions left pending are tagged for what
happened to them. The retrain runs through the CLI with a real SQLite
MLflow store; ``REPURCHASE_FAULT_AT`` names the stage at which it kills itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import yaml

from repurchase_ml import jobs
from repurchase_ml.config import deep_merge, load_settings

mlflow = pytest.importorskip("mlflow")

pytestmark = pytest.mark.slow

BASE = {
    "data": {"on_invalid": "drop",
             "synthetic": {"n_customers": 150, "start": "2022-06-01", "end": "2024-01-01",
                           "random_state": 5}},
    "tasks": ["churn"],
    "horizons": {"churn": 60},
    "cutoffs": {"n": 5},
    "baselines": False,
    "output": {"report": False},
    # 150 customers are below the default training minimums
    "training": {"minimums": {"train_positives": 20, "train_negatives": 20, "eval_rows": 30,
                              "eval_positives": 5, "eval_negatives": 5, "history_days": 30}},
    # ... and below the rows the promotion rule wants per task
    "promotion": {"min_eval_rows": 20},
}
#: the challenger every killed run trains: it would be promoted over the weak champion
CHALLENGER = {"tuning": {"n_estimators": 10}, "promotion": {"baseline_tolerance": 1.0}}
BEFORE_ALIAS = [s for s in jobs.RETRAIN_STAGES if s != "after_promote"]


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A project whose champion (version 1) is a one-tree model on shopping-hour habits only."""
    folder = tmp_path_factory.mktemp("faults")
    project = {"project_dir": str(folder / "project")}
    weak = load_settings(overrides=deep_merge({**BASE, **project}, {
        "features": {"families": ["habits"]}, "tuning": {"n_estimators": 1},
        # plain LightGBM only (no BG/NBD floor under it), let through the baseline gate
        "training": {"candidates": ["lightgbm"]}, "promotion": {"baseline_tolerance": 1.0}}),
        environ={})
    first = jobs.run_retrain(weak)
    assert first.promoted and first.model_version == "1"
    config = folder / "challenger.yaml"
    config.write_text(yaml.safe_dump(deep_merge({**BASE, **project}, CHALLENGER)))
    return folder, weak, config


def state(settings):
    """Champion, every version's tags, runs by status, and files outside the MLflow store."""
    from repurchase_ml import tracking

    tracking.configure(settings)
    client = mlflow.MlflowClient()
    versions = {str(v.version): dict(v.tags) for v in client.search_model_versions(
        f"name='{settings.tracking.model_name}'")}
    experiment = mlflow.get_experiment_by_name(settings.tracking.experiment)
    runs = {r.info.run_id: (r.info.status, dict(r.data.tags))
            for r in client.search_runs([experiment.experiment_id])}
    project = settings.project_path()
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*")
                   if p.is_file() and "mlartifacts" not in p.parts
                   and not p.name.startswith("mlflow.db") and p.name != jobs.LOCK_NAME)
    return tracking.champion_version(settings), versions, runs, files


def killed_retrain(config, stage):
    env = {**os.environ, jobs.FAULT_ENV: stage}
    proc = subprocess.run(
        [sys.executable, "-c", "from repurchase_ml.cli import app; app()", "retrain",
         "-c", str(config)], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-2000:])
    return proc


@pytest.mark.parametrize("stage", BEFORE_ALIAS)
def test_a_run_killed_before_the_alias_moves_changes_nothing(shop, stage):
    _, settings, config = shop
    champion, versions, runs, files = state(settings)
    killed_retrain(config, stage)
    champion_after, versions_after, runs_after, files_after = state(settings)
    assert champion_after == champion == "1"
    assert {v: versions_after[v] for v in versions} == versions  # old tags untouched
    for version in set(versions_after) - set(versions):  # registered, never promoted
        assert versions_after[version]["decision"] == "pending"
    assert files_after == files and not any(f.endswith(".tmp") for f in files_after)
    started = set(runs_after) - set(runs)
    if stage in ("after_lock", "after_train"):
        assert not started  # killed before its MLflow run began
    else:
        (run_id,) = started
        status, tags = runs_after[run_id]
        assert status == "RUNNING" and tags["decision"] == "pending"


def test_a_run_killed_after_the_alias_moved_has_promoted(shop):
    _, settings, config = shop
    _, versions, _, files = state(settings)
    killed_retrain(config, "after_promote")
    champion, versions_after, _, files_after = state(settings)
    (new,) = set(versions_after) - set(versions)
    assert champion == new  # the alias move is the commit point
    assert versions_after[new]["decision"] == "pending"  # tagged by the next start
    assert files_after == files


def test_the_next_run_recovers(shop):
    """Each start closes what the run before it left: here the last killed run's leftovers."""
    _, settings, config = shop
    _, _, runs, _ = state(settings)
    left_running = {r for r, (status, _tags) in runs.items() if status == "RUNNING"}
    assert len(left_running) == 1  # the after_promote run; earlier ones were closed already
    result = jobs.run_retrain(load_settings(config, environ={}))
    champion, versions, runs_after, _ = state(settings)
    # the champion promoted just before the kill has the same inputs: nothing to retrain
    assert result.promoted is False and "identical data, settings and code" in result.reason
    assert champion == result.champion_version
    assert not any(status == "RUNNING" for status, _tags in runs_after.values())
    interrupted = [r for r, (status, tags) in runs_after.items()
                   if (status, tags.get("decision")) == ("FAILED", "interrupted")]
    assert len(interrupted) == 3 and left_running <= set(interrupted)  # log, register, promote
    decisions = {v: tags["decision"] for v, tags in versions.items()}
    assert decisions.pop("1") == "promoted" and decisions.pop(champion) == "promoted"
    assert list(decisions.values()) == ["interrupted"]  # the after_register version
    assert not (settings.project_path() / jobs.LOCK_NAME).exists()
