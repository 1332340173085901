"""The dask engine on a real local cluster (2 worker processes) equals the local engine.

Features, labels and training sets built per customer partition equal the
local engine's row for row; the score job's scores and radar with
``engine: dask`` equal the local job's for the same champion; a worker killed
in the middle of a job fails it with a clear error and leaves the champion and
the outputs as they were.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from repurchase_ml import jobs  # noqa: E402
from repurchase_ml.config import load_settings  # noqa: E402
from repurchase_ml.datasets import make_event_log  # noqa: E402
from repurchase_ml.distributed.features import (  # noqa: E402
    build_features_dask,
    build_training_set_dask,
    collect,
    global_inputs,
    make_labels_dask,
)
from repurchase_ml.distributed.partition import (  # noqa: E402
    check_partitioned,
    customer_bucket,
    partition_events,
    write_parquet_atomic,
)
from repurchase_ml.features import (  # noqa: E402
    FeatureSpec,
    build_features,
    build_training_set,
    make_labels,
)

CUTOFFS = ["2023-03-01", "2023-06-01", "2023-09-01"]


@pytest.fixture(scope="module")
def log():
    events, _truth = make_event_log(300, "2022-01-01", "2024-01-01", random_state=11)
    return events


@pytest.fixture(scope="module")
def partitioned(cluster, log):
    return cluster.persist(partition_events(log, n_partitions=5))


def test_each_customer_lands_in_the_partition_of_its_stable_hash(partitioned, log):
    parts = [p.compute() for p in partitioned.to_delayed()]
    assert sum(len(p) for p in parts) == len(log)
    for i, part in enumerate(parts):
        assert (customer_bucket(part["customer_id"], 5) == i).all()
    check_partitioned(partitioned)  # no customer in two partitions: no error
    # the hash is fixed: the same ids, the same buckets, in any process
    assert customer_bucket(pd.Series([1, 2, 3, 4]), 3).tolist() == [1, 1, 2, 2]


def test_a_log_split_across_partitions_is_refused(cluster, log):
    import dask.dataframe as dd

    unsorted = dd.from_pandas(log.sample(frac=1.0, random_state=0), npartitions=3, sort=False)
    with pytest.raises(ValueError, match=r"customer\(s\) have events in more than one partition"):
        partition_events(unsorted, partitioned=True)


def test_features_equal_the_local_engine_row_for_row(partitioned, log):
    # behaviour left open: the whole log decides, as on one machine
    got = collect(build_features_dask(partitioned, cutoffs=CUTOFFS))
    pd.testing.assert_frame_equal(got, build_features(log, cutoffs=CUTOFFS), check_exact=True)
    assert got["price_tier_all"].notna().sum() > 100  # the broadcast price levels are used


def test_a_partition_without_behaviour_events_still_gets_the_engagement_columns(cluster, log):
    # only one customer has views: every other partition must still have the columns
    orders = log[log["event_type"].isin(["purchase", "refund"]) |
                 (log["customer_id"] == log["customer_id"].iloc[0])].reset_index(drop=True)
    ddf = partition_events(orders, n_partitions=4)
    got = collect(build_features_dask(ddf, cutoffs=CUTOFFS[-1:]))
    pd.testing.assert_frame_equal(got, build_features(orders, cutoffs=CUTOFFS[-1:]))
    assert "views_30d" in got.columns


def test_labels_and_training_set_equal_the_local_engine(partitioned, log):
    inputs = global_inputs(partitioned, cutoffs=CUTOFFS)
    for task in ("churn", "ltv"):
        got = collect(make_labels_dask(partitioned, cutoffs=CUTOFFS, task=task, inputs=inputs,
                                       horizon_days=90))
        pd.testing.assert_frame_equal(got, make_labels(log, cutoffs=CUTOFFS, task=task,
                                                       horizon_days=90))
    spec = FeatureSpec(windows=(30, 90), behaviour=None)
    label_cutoffs = {"churn": CUTOFFS[:2]}
    parts, attrs = build_training_set_dask(partitioned, cutoffs=CUTOFFS, spec=spec,
                                           tasks=["churn", "repurchase"],
                                           label_cutoffs=label_cutoffs, alive_days=200)
    got = collect(parts, attrs)
    want = build_training_set(log, cutoffs=CUTOFFS, spec=spec, tasks=["churn", "repurchase"],
                              label_cutoffs=label_cutoffs, alive_days=200)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    _same_attrs(got.attrs, want.attrs)
    last = got["cutoff"] == CUTOFFS[-1]
    assert got.loc[last, "label_churn"].isna().all() and got.loc[~last, "label_churn"].notna().any()


def test_a_training_set_within_a_row_budget_keeps_the_local_engines_rows(partitioned, log):
    spec = FeatureSpec(windows=(30,), families=("rfm", "rhythm"))
    # every cutoff keeps the same fraction, stratified by both tasks' labels
    tasks = ["churn", "second_purchase"]
    parts, attrs = build_training_set_dask(partitioned, cutoffs=CUTOFFS, spec=spec, tasks=tasks,
                                           max_rows=300, random_state=4)
    got = collect(parts, attrs)
    want = build_training_set(log, cutoffs=CUTOFFS, spec=spec, tasks=tasks, max_rows=300,
                              random_state=4)
    fractions = want.attrs["sampled"]["task_fractions"]
    assert 100 < len(want) <= 300 and fractions["second_purchase"] == fractions["churn"] < 1
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    _same_attrs(got.attrs, want.attrs)


def _same_attrs(got, want):
    """Equal attrs; the cancelled amount is added up per partition (equal up to rounding)."""
    got, want = dict(got), dict(want)
    if "cancelled_orders" in want:
        amount = want["cancelled_orders"].pop("amount")
        assert got["cancelled_orders"].pop("amount") == pytest.approx(amount, rel=1e-12)
        assert want["cancelled_orders"]["n_orders"] > 0
    assert got == want


def test_label_windows_are_checked_against_the_whole_logs_end(partitioned):
    with pytest.raises(ValueError, match="past the end of the log"):
        make_labels_dask(partitioned, cutoffs=["2023-12-01"], task="churn").compute()


def test_partitioned_outputs_are_written_atomically(partitioned, tmp_path):
    features = build_features_dask(partitioned, cutoffs=CUTOFFS[-1:])
    folder = write_parquet_atomic(features, tmp_path / "features")
    assert len(list(folder.glob("part-*.parquet"))) == 5
    first = pd.read_parquet(folder).sort_values("customer_id", ignore_index=True)
    assert len(first) == len(features.compute())
    broken = partitioned.map_partitions(lambda p: 1 / 0, meta=partitioned._meta)
    with pytest.raises(ZeroDivisionError):
        write_parquet_atomic(broken, tmp_path / "features")
    again = pd.read_parquet(folder).sort_values("customer_id", ignore_index=True)
    pd.testing.assert_frame_equal(again, first)  # the earlier output is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["features"]


# ------------------------------------------------------------------ the jobs

BASE = {
    "data": {"on_invalid": "drop",
             "synthetic": {"n_customers": 150, "start": "2022-06-01", "end": "2024-01-01",
                           "random_state": 5}},
    "tasks": ["churn"], "horizons": {"churn": 60}, "cutoffs": {"n": 5},
    "baselines": False, "tuning": {"n_estimators": 20},
    "training": {"candidates": ["lightgbm"],
                 "minimums": {"train_positives": 20, "train_negatives": 20, "eval_rows": 30,
                              "eval_positives": 5, "eval_negatives": 5, "history_days": 30}},
    "promotion": {"min_eval_rows": 20, "baseline_tolerance": 1.0},
    "output": {"report": False}, "monitoring": {"drift": False},
}


@pytest.fixture(scope="module")
def project(tmp_path_factory, cluster):
    """A champion trained by the local engine, and the settings of both engines."""
    folder = tmp_path_factory.mktemp("dask_jobs")
    local = load_settings(overrides={**BASE, "project_dir": str(folder / "project")}, environ={})
    assert jobs.run_retrain(local).promoted
    dask = load_settings(overrides={**BASE, "project_dir": str(folder / "project"),
                                    "engine": "dask",
                                    "dask": {"scheduler": cluster.scheduler.address}},
                         environ={})
    return local, dask


def _outputs(settings):
    out = settings.output_path()
    return {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_score_job_on_dask_writes_the_local_scores_and_radar(project):
    local, dask = project
    jobs.run_score(local, "2023-12-01")
    want = _outputs(local)
    result = jobs.run_score(dask, "2023-12-01")
    got = _outputs(dask)
    for name in ("scores_2023-12-01.csv", "radar_2023-12-01.csv"):
        assert got[name] == want[name], name
    radar = pd.read_csv(local.output_path() / "radar_2023-12-01.csv")
    assert len(radar) > 20 and radar["reason_1"].notna().any()
    parts = pd.read_parquet(local.output_path() / "scores_2023-12-01.parts")
    scores = pd.read_parquet(local.output_path() / "scores_2023-12-01.parquet")
    pd.testing.assert_frame_equal(parts.sort_values("customer_id", ignore_index=True), scores)
    assert result.n_scored == len(scores)
    assert [s["stage"] for s in result.stages if "scores" in s["stage"]] == ["features and scores"]


def test_scores_with_reasons_per_partition_equal_the_local_scores(project, cluster):
    from repurchase_ml import tracking
    from repurchase_ml.distributed.scoring import score_partitions

    local, _dask = project
    tracking.configure(local)
    champion = tracking.load_champion(local)
    events, _report = jobs.load_event_log(local)
    spec = jobs.pinned_spec(champion.spec, champion.served.features)
    ddf = cluster.persist(partition_events(events, n_partitions=3))
    features, scores, parts = score_partitions(ddf, scorer=champion, as_of="2023-12-01",
                                               spec=spec, reasons=True)
    history = events[events["timestamp"] < "2023-12-01"].reset_index(drop=True)
    want_features = build_features(history, cutoffs=["2023-12-01"], spec=spec)
    pd.testing.assert_frame_equal(features, want_features, check_exact=True)
    want = champion.score(want_features, reasons=True)
    pd.testing.assert_frame_equal(scores, want, check_exact=True)
    assert len(parts) == 3 and want["reason_1"].notna().any()


def test_retrain_job_on_dask_trains_on_the_local_training_set(project, monkeypatch):
    local, dask = project
    from repurchase_ml.distributed import jobs as dask_jobs
    from repurchase_ml.features import build_training_set as local_build

    seen = {}

    def spy(*args, **kwargs):
        seen["dask"] = out = real(*args, **kwargs)
        return out

    real = dask_jobs.training_set
    monkeypatch.setattr(dask_jobs, "training_set", spy)
    result = jobs.run_retrain(dask.model_copy(update={"tuning": dask.tuning.model_copy(
        update={"n_estimators": 21})}))  # another fingerprint: a real retrain
    events, _report = jobs.load_event_log(local)
    assert result.model_version == "2"
    training = seen["dask"]
    cutoffs = sorted(training["cutoff"].unique())
    want = local_build(events, cutoffs=cutoffs, tasks=["churn"], horizons={"churn": 60},
                       label_cutoffs={"churn": cutoffs})
    pd.testing.assert_frame_equal(training, want, check_exact=True)


def test_lightgbm_dask_agrees_with_a_local_lightgbm_within_tolerance(cluster, log):
    import dask.dataframe as dd
    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score

    from repurchase_ml.distributed.training import train_lightgbm_dask
    from repurchase_ml.models._base import resolve_lgbm_params

    cuts = ["2022-09-01", "2022-12-01", "2023-03-01", "2023-06-01", "2023-09-01"]
    training = build_training_set(log, cutoffs=cuts, tasks=["churn"], horizons={"churn": 90})
    features = [c for c in training.columns
                if c not in ("customer_id", "cutoff") and not c.startswith("label_")]
    params = resolve_lgbm_params({"min_child_samples": 20}, objective="binary", random_state=0)
    train = training[(training["cutoff"] < cuts[-1]) & training["label_churn"].notna()]
    test = training[(training["cutoff"] == cuts[-1]) & training["label_churn"].notna()]
    local = lgb.train(params, lgb.Dataset(train[features], train["label_churn"]),
                      num_boost_round=40)
    booster = train_lightgbm_dask(dd.from_pandas(training, npartitions=4), label="label_churn",
                                  features=features, cutoffs=cuts[:-1], params=dict(local.params),
                                  n_estimators=40, classification=True, client=cluster)
    assert booster.current_iteration() == 40
    auc_local = roc_auc_score(test["label_churn"], local.predict(test[features]))
    auc_dask = roc_auc_score(test["label_churn"], booster.predict(test[features]))
    assert auc_local > 0.7 and abs(auc_dask - auc_local) < 0.03


def test_retrain_with_lightgbm_dask_ships_the_boosters_trained_on_every_row(project, caplog):
    _local, dask = project
    settings = dask.model_copy(update={
        "dask": dask.dask.model_copy(update={"training": "dask", "sample_customers": 100}),
        "tuning": dask.tuning.model_copy(update={"n_estimators": 22})})
    with caplog.at_level("INFO", logger="repurchase_ml.distributed"):
        result = jobs.run_retrain(settings)
    assert result.model_version == "3"
    messages = [r.getMessage() for r in caplog.records]
    assert any("choosing rounds and calibration on" in m for m in messages)
    assert any(m.startswith("engine dask: churn retrained with lightgbm.dask") for m in messages)
    assert 0.0 <= result.challenger_metrics["churn"] <= 1.0


def test_a_killed_worker_fails_the_score_job_and_leaves_every_output(project, kill_on_score):
    import dask
    from distributed import Client, LocalCluster

    local, _dask = project
    jobs.run_score(local, "2023-11-01")
    before = _outputs(local)
    from repurchase_ml import tracking

    tracking.configure(local)
    champion = tracking.champion_version(local)
    # a cluster that gives up on a task at its first lost worker, so the test is quick
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         memory_limit="1GB", dashboard_address=":0") as doomed, \
            Client(doomed) as client:
        client.register_plugin(kill_on_score())
        settings = local.model_copy(update={"engine": "dask", "dask": local.dask.model_copy(
            update={"scheduler": doomed.scheduler_address})})
        from repurchase_ml.distributed.jobs import DaskJobError

        with pytest.raises(DaskJobError, match=r"features and scores step failed on the "
                           r"cluster \(KilledWorker.*nothing was written"):
            jobs.run_score(settings, "2023-11-01")
    assert _outputs(local) == before
    assert champion is not None and tracking.champion_version(local) == champion
    assert not np.any([p.name.startswith(".") for p in local.output_path().iterdir()])
