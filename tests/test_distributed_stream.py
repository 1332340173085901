"""``dask.stream``: the log stays on the workers, on a real local cluster (2 worker processes).

The workers validate a folder of Parquet files to the same report and rows as
the local reader; the training set sampled per partition keeps the budget's
fraction of every cutoff and label, with the local engine's features on every
kept row; the streamed score job writes the local scores and radar for the
same champion; a file that fails validation is named, a customer split across
files is refused, and a worker killed mid-job leaves every output as it was.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed")

from repurchase_ml import jobs  # noqa: E402
from repurchase_ml.config import load_settings  # noqa: E402
from repurchase_ml.datasets import write_event_log_files  # noqa: E402
from repurchase_ml.distributed import stream  # noqa: E402
from repurchase_ml.events import read_events  # noqa: E402
from repurchase_ml.features import build_training_set  # noqa: E402

READ = {"mapping": None, "timezone": "UTC", "on_invalid": "drop",
        "plausible_range": ("2000-01-01", None)}
CUTOFFS = ["2023-03-01", "2023-06-01", "2023-09-01"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """600 customers in 4 files, one with a duplicated row and one with a negative amount."""
    path = tmp_path_factory.mktemp("stream") / "log"
    files = write_event_log_files(path, 600, "2022-01-01", "2024-01-01", random_state=4,
                                  customers_per_file=150)
    first = pd.read_parquet(files[0])
    pd.concat([first, first.iloc[[5]]], ignore_index=True).to_parquet(files[0], index=False)
    second = pd.read_parquet(files[1])
    row = int(np.flatnonzero(second["event_type"].astype(str) == "purchase")[0])
    second.loc[row, "amount"] = -1e9
    second.to_parquet(files[1], index=False)
    return path


@pytest.fixture(scope="module")
def streamed(cluster, folder, tmp_path_factory):
    return stream.open_log(folder, tmp_path_factory.mktemp("work"), read=READ)


def test_workers_validate_each_file_to_the_local_readers_report_and_rows(streamed, folder):
    events, report = read_events(folder, **READ)
    got = streamed.report
    assert got.n_input_rows == report.n_input_rows and got.n_rows == report.n_rows
    assert got.n_customers == report.n_customers == events["customer_id"].nunique()
    assert got.dropped == report.dropped and sum(got.dropped.values()) == 2
    assert (got.start, got.end) == (report.start, report.end)
    assert got.event_counts == report.event_counts
    rows = streamed.events.compute().sort_values(["customer_id", "timestamp", "event_type"],
                                                 kind="mergesort", ignore_index=True)
    want = events.sort_values(["customer_id", "timestamp", "event_type"], kind="mergesort",
                              ignore_index=True)
    assert len(rows) == len(want)
    pd.testing.assert_series_equal(rows["amount"], want["amount"])
    assert rows["customer_id"].tolist() == want["customer_id"].tolist()


def test_a_file_that_fails_validation_is_named(cluster, folder, tmp_path):
    bad = tmp_path / "log"
    bad.mkdir()
    for i, file in enumerate(sorted(folder.glob("*.parquet"))[2:]):  # two valid files
        frame = pd.read_parquet(file)
        if i == 1:
            frame = frame.drop(columns=["timestamp"])
        frame.to_parquet(bad / f"part-{i:05d}.parquet", index=False)
    with pytest.raises(ValueError, match=r"part-00001\.parquet: .*timestamp"):
        stream.open_log(bad, tmp_path / "work", read={**READ, "on_invalid": "raise"})


def test_a_customer_in_two_files_is_refused(cluster, folder, tmp_path):
    split = tmp_path / "log"
    split.mkdir()
    files = sorted(folder.glob("*.parquet"))[:2]
    first = pd.read_parquet(files[0])
    moved = (first["customer_id"] == first["customer_id"].iloc[-1]).to_numpy()
    moved[np.flatnonzero(moved)[0]] = False  # the customer's first event stays in a.parquet
    first[~moved].to_parquet(split / "a.parquet", index=False)
    pd.concat([pd.read_parquet(files[1]), first[moved]]).to_parquet(split / "b.parquet",
                                                                     index=False)
    with pytest.raises(ValueError, match=r"1 customer\(s\) have events in more than one "
                                         r"partition.*one customer bucket per file"):
        stream.open_log(split, tmp_path / "work", read=READ)


def test_without_a_budget_the_training_set_is_the_local_one(streamed, folder):
    events, _report = read_events(folder, **READ)
    got = stream.training_set(streamed, cutoffs=CUTOFFS, tasks=["churn", "repurchase"])
    want = build_training_set(events, cutoffs=CUTOFFS, tasks=["churn", "repurchase"])
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert "sampled" not in got.attrs


def test_a_budget_keeps_its_fraction_of_every_cutoff_and_label_with_local_features(
        streamed, folder):
    events, _report = read_events(folder, **READ)
    full = build_training_set(events, cutoffs=CUTOFFS, tasks=["churn", "repurchase"])
    budget = len(full) // 3
    got = stream.training_set(streamed, cutoffs=CUTOFFS, tasks=["churn", "repurchase"],
                              max_rows=budget, random_state=3)
    fraction = budget / len(full)
    assert got.attrs["sampled"]["rows_before"] == len(full)
    assert got.attrs["sampled"]["task_fractions"] == {"churn": fraction, "repurchase": fraction}
    parts = streamed.events.npartitions
    # per cutoff and label stratum: floor(fraction x rows) of each partition's stratum
    for (cutoff, label), rows in full.groupby(["cutoff", "label_churn"], dropna=False):
        kept = got[(got["cutoff"] == cutoff) & (got["label_churn"].fillna(-1)
                                                == (-1 if pd.isna(label) else label))]
        assert fraction * len(rows) - 9 * parts <= len(kept) <= fraction * len(rows)
    assert len(got) <= budget and len(got) > 0.8 * budget
    # every kept row carries the local engine's features and labels for its customer and cutoff
    want = full.merge(got[["customer_id", "cutoff"]], on=["customer_id", "cutoff"])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want, check_exact=True,
                                  check_like=False)
    again = stream.training_set(streamed, cutoffs=CUTOFFS, tasks=["churn", "repurchase"],
                                max_rows=budget, random_state=3)
    pd.testing.assert_frame_equal(again, got)  # seeded


def test_events_of_returns_every_event_of_the_customers_asked(streamed, folder):
    events, _report = read_events(folder, **READ)
    ids = events["customer_id"].drop_duplicates().iloc[::7].to_numpy()
    got = stream.events_of(streamed, ids)
    want = events[events["customer_id"].isin(ids)].reset_index(drop=True)
    assert got["customer_id"].is_monotonic_increasing
    pd.testing.assert_frame_equal(
        got.sort_values(["customer_id", "timestamp"], kind="mergesort", ignore_index=True)
        [["customer_id", "timestamp", "amount"]],
        want.sort_values(["customer_id", "timestamp"], kind="mergesort", ignore_index=True)
        [["customer_id", "timestamp", "amount"]])


# ------------------------------------------------------------------ the jobs

BASE = {
    "data": {"source": "path", "on_invalid": "drop"},
    "tasks": ["churn", "repurchase"], "horizons": {"churn": 60, "repurchase": 60},
    "cutoffs": {"n": 5}, "baselines": True, "tuning": {"n_estimators": 20},
    "training": {"max_rows": 1500,
                 "minimums": {"train_positives": 20, "train_negatives": 20, "eval_rows": 30,
                              "eval_positives": 5, "eval_negatives": 5, "history_days": 30}},
    "promotion": {"min_eval_rows": 20, "baseline_tolerance": 1.0},
    "output": {"report": True},
}


def _outputs(settings):
    out = settings.output_path()
    return {p.name: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def streamed_project(cluster, folder, tmp_path_factory):
    """A champion trained by the streamed retrain; settings of the streamed and local engines."""
    root = tmp_path_factory.mktemp("stream_jobs")
    data = {**BASE["data"], "path": str(folder)}
    dask = load_settings(overrides={
        **BASE, "data": data, "project_dir": str(root / "project"), "engine": "dask",
        "dask": {"scheduler": cluster.scheduler.address, "stream": True}}, environ={})
    local = load_settings(overrides={**BASE, "data": data, "project_dir": str(root / "project"),
                                     "output": {"report": False, "dir": str(root / "local")}},
                          environ={})
    result = jobs.run_retrain(dask)
    return dask, local, result


def test_streamed_retrain_trains_on_the_sample_and_scores_the_baselines(streamed_project):
    dask, _local, result = streamed_project
    assert result.promoted and result.model_version == "1"
    for task in ("churn", "repurchase"):
        card = result.scorecard[task]
        assert {"rfm", "bgnbd"} <= set(card["baselines"]), card
        assert 0.5 < result.challenger_metrics[task] <= 1.0
    stages = [s["stage"] for s in result.stages]
    assert "events of the sampled customers" in stages
    assert list((dask.project_path() / ".dask-work").iterdir()) == []  # work folder removed
    again = jobs.run_retrain(dask)  # same files, settings and code: kept without retraining
    assert not again.promoted and "identical data, settings and code" in again.reason


def test_streamed_score_writes_the_local_scores_and_radar(streamed_project):
    dask, local, _result = streamed_project
    got = jobs.run_score(dask, "2024-01-01")
    jobs.run_score(local, "2024-01-01")
    mine, theirs = _outputs(dask), _outputs(local)
    for name in ("scores_2024-01-01.csv", "radar_2024-01-01.csv"):
        assert mine[name] == theirs[name], name
    radar = pd.read_csv(dask.output_path() / "radar_2024-01-01.csv")
    assert len(radar) > 50 and radar["reason_1"].head(20).notna().sum() >= 15  # top explained
    assert "report_2024-01-01.html" in mine and "monitoring_2024-01-01.json" in mine
    parts = pd.read_parquet(dask.output_path() / "scores_2024-01-01.parts")
    assert len(parts) == got.n_scored == len(pd.read_csv(dask.output_path()
                                                         / "scores_2024-01-01.csv"))


def test_a_killed_worker_fails_the_streamed_score_and_leaves_every_output(streamed_project,
                                                                         kill_on_score):
    import dask as dask_
    from distributed import Client, LocalCluster

    from repurchase_ml.distributed.jobs import DaskJobError

    settings, _local, _result = streamed_project
    jobs.run_score(settings, "2023-12-01")
    before = _outputs(settings)
    with dask_.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         memory_limit="1GB", dashboard_address=":0") as doomed, \
            Client(doomed) as client:
        client.register_plugin(kill_on_score())
        doomed_settings = settings.model_copy(update={"dask": settings.dask.model_copy(
            update={"scheduler": doomed.scheduler_address})})
        with pytest.raises(DaskJobError, match=r"features and scores step failed on the "
                           r"cluster \(KilledWorker.*nothing was written"):
            jobs.run_score(doomed_settings, "2023-12-01")
    assert _outputs(settings) == before
    assert list((settings.project_path() / ".dask-work").iterdir()) == []


def test_the_stream_needs_a_parquet_path(cluster, tmp_path):
    settings = load_settings(overrides={
        "project_dir": str(tmp_path), "engine": "dask",
        "data": {"synthetic": {"n_customers": 50, "start": "2023-01-01", "end": "2023-07-01"}},
        "dask": {"scheduler": cluster.scheduler.address, "stream": True}}, environ={})
    with pytest.raises(ValueError, match="dask.stream: the workers read the log from "
                                         "data.path; got data.source 'synthetic'"):
        jobs.run_retrain(settings)
