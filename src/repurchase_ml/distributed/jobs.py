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
from collections.abc import Iterator, Mapping
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

__all__ = ["DaskJobError", "features_and_scores", "session", "training_set"]

logger = logging.getLogger(__name__)

_CLIENT: list[Any] = []  # the client of the running job's session, if any


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
        try:
            yield client
        finally:
            _CLIENT.remove(client)


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
                 alive_days: int | None, label_cutoffs: Mapping[str, Any]) -> pd.DataFrame:
    """The training set built per customer partition on the cluster, collected.

    Equal to :func:`repurchase_ml.features.build_training_set` of the same arguments.
    """
    with _client(settings) as client, _failing_cleanly("training set"):
        ddf = _partitioned(settings, events, client)
        inputs = global_inputs(ddf, cutoffs=cutoffs, spec=spec)
        parts, attrs = build_training_set_dask(
            ddf, cutoffs=cutoffs, tasks=tasks, spec=spec, horizons=horizons,
            alive_days=alive_days, label_cutoffs=label_cutoffs, inputs=inputs)
        training = collect(parts, attrs)
    logger.info("engine dask: training set of %d rows from %d partitions", len(training),
                ddf.npartitions)
    return training


def features_and_scores(settings: Settings, events: pd.DataFrame, *, as_of: pd.Timestamp,
                        spec: Any, champion: Any, max_days_after_data: float | None
                        ) -> tuple[pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """Features and scores at ``as_of`` per customer partition (scores and reasons on the
    workers), as :func:`score_partitions`."""
    with _client(settings) as client, _failing_cleanly("features and scores"):
        ddf = _partitioned(settings, events, client)
        return score_partitions(ddf, scorer=champion, as_of=as_of, spec=spec,
                                max_days_after_data=max_days_after_data)


def write_score_parts(parts: list[pd.DataFrame], folder: Path) -> Path:
    """The scores of each partition as ``part-NNNNN.parquet`` in ``folder``, atomically."""
    from repurchase_ml.distributed.partition import write_frames_atomic

    return write_frames_atomic(parts, folder)
