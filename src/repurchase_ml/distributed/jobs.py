"""The retrain and score jobs' steps on the ``dask`` engine (``engine: dask`` in the settings).

:func:`repurchase_ml.jobs.run_retrain` and :func:`~repurchase_ml.jobs.run_score`
call these in place of their local steps; everything around them (reading and
validating the log, the gates, MLflow, promotion, the radar, monitoring and
the atomic writes) is the same code. A job holds one client for its whole run
(:func:`session`): connected to ``dask.scheduler``, or a local cluster it
starts and closes. A lost worker fails the step with :class:`DaskJobError`,
before anything is logged or written, so the champion and earlier outputs stay
as they were.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from repurchase_ml.config import Settings
from repurchase_ml.distributed.cluster import dask_client
from repurchase_ml.distributed.features import (
    build_training_set_dask,
    collect,
    global_inputs,
    warm_up,
)
from repurchase_ml.distributed.partition import partition_events
from repurchase_ml.distributed.scoring import score_partitions

__all__ = ["DaskJobError", "features_and_scores", "session", "streamed_events_of",
           "streamed_log", "streamed_scores", "streamed_training_set", "train", "training_set"]

logger = logging.getLogger(__name__)

_CLIENT: list[Any] = []  # the client of the running job's session, if any
_WORK: list[Path] = []  # the work folder of the running streamed job's session


class DaskJobError(RuntimeError):
    """A step on the Dask cluster failed (a worker died, a task raised); nothing was written."""


@contextlib.contextmanager
def session(settings: Settings) -> Iterator[Any]:
    """One Dask client for a job's whole run (nothing with ``engine: local``)."""
    if settings.engine != "dask":
        yield None
        return
    conf = settings.dask
    with dask_client(conf.scheduler, n_workers=conf.n_workers,
                     threads_per_worker=conf.threads_per_worker,
                     memory_limit=conf.memory_limit) as client:
        warm_up(client)
        _CLIENT.append(client)
        work = None
        if conf.stream:  # the job's canonical log files; removed when the job ends
            root = Path(conf.work_dir).expanduser() if conf.work_dir \
                else settings.project_path() / ".dask-work"
            root.mkdir(parents=True, exist_ok=True)
            work = Path(tempfile.mkdtemp(prefix="job-", dir=root))
            _WORK.append(work)
        try:
            yield client
        finally:
            _CLIENT.remove(client)
            if work is not None:
                _WORK.remove(work)
                shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def _client(settings: Settings) -> Iterator[Any]:
    if _CLIENT:
        yield _CLIENT[-1]
        return
    with session(settings) as client:
        yield client


@contextlib.contextmanager
def _failing_cleanly(step: str) -> Iterator[None]:
    """Turn a cluster failure into one clear :class:`DaskJobError`."""
    try:
        yield
    except (ValueError, TypeError, KeyError):  # the library's own checks: as on one machine
        raise
    except Exception as exc:  # KilledWorker, CommError, CancelledError, a worker's own error
        raise DaskJobError(
            f"engine dask: the {step} step failed on the cluster ({type(exc).__name__}: "
            f"{str(exc)[:300]}); nothing was written and the champion is unchanged. Fix: "
            "check the workers' logs (memory limit, a killed process) and re-run, or set "
            "engine: local.") from exc


def _partitioned(settings: Settings, events: pd.DataFrame, client: Any) -> Any:
    ddf = partition_events(events, n_partitions=settings.dask.partitions)
    return client.persist(ddf)  # shuffled once; every later step reads these partitions


def training_set(settings: Settings, events: pd.DataFrame, *, cutoffs: list[pd.Timestamp],
                 spec: Any, tasks: list[str], horizons: Mapping[str, int],
                 alive_days: int | None, label_cutoffs: Mapping[str, Any],
                 max_rows: int | None = None, random_state: int = 0) -> pd.DataFrame:
    """The training set built per customer partition on the cluster, collected.

    Equal to :func:`repurchase_ml.features.build_training_set` of the same
    arguments; with ``max_rows``, only the sampled rows are built and collected
    (:func:`~repurchase_ml.distributed.features.build_training_set_dask`).
    """
    with _client(settings) as client, _failing_cleanly("training set"):
        ddf = _partitioned(settings, events, client)
        inputs = global_inputs(ddf, cutoffs=cutoffs, spec=spec)
        parts, attrs = build_training_set_dask(
            ddf, cutoffs=cutoffs, tasks=tasks, spec=spec, horizons=horizons,
            alive_days=alive_days, label_cutoffs=label_cutoffs, inputs=inputs,
            max_rows=max_rows, random_state=random_state)
        training = collect(parts, attrs)
    logger.info("engine dask: training set of %d rows from %d partitions", len(training),
                ddf.npartitions)
    return training


def features_and_scores(settings: Settings, events: pd.DataFrame, *, as_of: pd.Timestamp,
                        spec: Any, champion: Any, max_days_after_data: float | None,
                        reasons: bool = True,
                        ) -> tuple[pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """Features and scores at ``as_of`` per customer partition (scores and reasons on the
    workers), as :func:`score_partitions`."""
    with _client(settings) as client, _failing_cleanly("features and scores"):
        ddf = _partitioned(settings, events, client)
        return score_partitions(ddf, scorer=champion, as_of=as_of, spec=spec,
                                max_days_after_data=max_days_after_data, reasons=reasons)


def write_score_parts(parts: list[pd.DataFrame], folder: Path) -> Path:
    """The scores of each partition as ``part-NNNNN.parquet`` in ``folder``, atomically."""
    from repurchase_ml.distributed.partition import write_frames_atomic

    return write_frames_atomic(parts, folder)


def train(settings: Settings, training: pd.DataFrame, train_local: Callable[[pd.DataFrame], Any]
          ) -> Any:
    """``dask.training: dask``: choose and calibrate on a sample, retrain on every row.

    ``train_local`` (the job's own training call) runs on the rows of
    ``dask.sample_customers`` customers (all their cutoffs): it keeps the
    out-of-time split, early-stops, calibrates and scores the baselines.
    Then :func:`~repurchase_ml.distributed.training.refit_bundle_dask`
    retrains its plain LightGBM models with ``lightgbm.dask`` on every row.
    The bundle's scorecards stay those of the sample; the job's champion
    comparison scores the final models on every test row.
    """
    import dask.dataframe as dd

    from repurchase_ml.distributed.training import refit_bundle_dask, sample_customers

    sample = sample_customers(training, settings.dask.sample_customers)
    logger.info("engine dask: choosing rounds and calibration on %d of %d rows (%d customers)",
                len(sample), len(training), sample["customer_id"].nunique())
    bundle = train_local(sample)
    with _client(settings) as client, _failing_cleanly("train"):
        parts = max(2, 2 * len(client.scheduler_info().get("workers", {})))
        rows = client.persist(dd.from_pandas(training, npartitions=parts, sort=False))
        refit_bundle_dask(bundle, rows, client=client)
    return bundle


# ------------------------------------------------------------------ dask.stream: true
def _streamed_session() -> tuple[Any, Path]:
    if not _CLIENT or not _WORK:
        raise RuntimeError("dask.stream: the streamed steps run inside a job's session "
                           "(repurchase_ml.distributed.jobs.session with dask.stream: true).")
    return _CLIENT[-1], _WORK[-1]


def streamed_log(settings: Settings) -> Any:
    """The configured Parquet log validated on the workers (:func:`.stream.open_log`)."""
    from repurchase_ml.distributed.stream import open_log

    data = settings.data
    if data.source != "path" or data.path is None:
        raise ValueError(f"dask.stream: the workers read the log from data.path; got data.source "
                         f"{data.source!r}. Fix: save the log as Parquet and set data.source: "
                         "path, or set dask.stream: false.")
    _client_, work = _streamed_session()
    read = {"mapping": data.mapping, "timezone": data.timezone, "on_invalid": data.on_invalid,
            "plausible_range": data.plausible_range}
    with _failing_cleanly("read and validate the log"):
        return open_log(data.path, work / "log", read=read)


def streamed_training_set(log: Any, **arguments: Any) -> pd.DataFrame:
    """:func:`.stream.training_set` of the streamed log, as a job step."""
    from repurchase_ml.distributed.stream import training_set as build

    with _failing_cleanly("training set"):
        return build(log, **arguments)


def streamed_events_of(log: Any, customer_ids: Any) -> pd.DataFrame:
    """The events of the training sample's customers (the baselines' histories)."""
    from repurchase_ml.distributed.stream import events_of

    with _failing_cleanly("events of the sampled customers"):
        events = events_of(log, customer_ids)
    logger.info("engine dask: %d events of %d sampled customers for the baselines",
                len(events), events["customer_id"].nunique())
    return events


def streamed_scores(log: Any, **arguments: Any) -> Any:
    """:func:`.stream.score` of the streamed log, as a job step."""
    from repurchase_ml.distributed.stream import score

    with _failing_cleanly("features and scores"):
        return score(log, **arguments)
