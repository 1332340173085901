"""Suite-wide hygiene: what one test changes in process-wide state is undone after it."""

from __future__ import annotations

import logging
import os
import signal

import pytest

# files that mypy checks (tests/test_static_checks.py); importing them would run misuse on purpose
collect_ignore = ["typing"]


@pytest.fixture(autouse=True)
def _restore_library_logger():
    """The CLI points the library's logger at its console and stops propagation (as a
    command line should); in-process CLI tests would otherwise hide later tests' log
    records from ``caplog``."""
    logger = logging.getLogger("repurchase_ml")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


# ------------------------------------------------------------------ the dask engine's tests
@pytest.fixture(scope="module")
def cluster():
    """Two worker processes for the whole test module; closed at its end."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="2GB",
                      dashboard_address=":0") as local, Client(local) as client:
        yield client


@pytest.fixture
def kill_on_score():
    """Makes a worker plugin that SIGKILLs its worker when a scoring task starts: a crash
    mid-job (register it on a cluster of its own)."""
    return _kill_on_score_plugin


def _kill_on_score_plugin():
    """A worker plugin that SIGKILLs its worker when a scoring task starts: a crash mid-job.

    Defined in a function so that it travels to the workers by value.
    """
    from distributed import WorkerPlugin

    class KillOnScore(WorkerPlugin):
        name = "kill-on-score"

        def transition(self, key, start, finish, **kwargs):
            name = key[0] if isinstance(key, tuple) else key
            if finish == "executing" and "_score_part" in str(name):
                os.kill(os.getpid(), signal.SIGKILL)

    return KillOnScore()
