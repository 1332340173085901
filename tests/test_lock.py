"""The retrain lock: one holder at a time, even when many runs race for a stale lock."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys

import pytest

from repurchase_ml import jobs

N_PROCESSES = 8
N_ROUNDS = 30


def _contender(project, barrier, results, release):
    """Wait for the others, try the lock once, report, and hold it until the parent says so."""
    barrier.wait()
    try:
        with jobs.retrain_lock(project):
            results.put("held")
            release.wait(30)
    except jobs.JobLockedError:
        results.put("refused")


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _stale_lock(project, pid):
    (project / jobs.LOCK_NAME).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "started": "2020-01-01T00:00:00+00:00"}))


def test_runs_racing_for_a_stale_lock_leave_exactly_one_holder(tmp_path):
    context = multiprocessing.get_context("fork")
    dead = _dead_pid()
    outcomes = []
    for round_ in range(N_ROUNDS):
        project = tmp_path / f"round{round_}"
        project.mkdir()
        _stale_lock(project, dead)
        barrier, results, release = (context.Barrier(N_PROCESSES), context.Queue(),
                                     context.Event())
        procs = [context.Process(target=_contender, args=(project, barrier, results, release))
                 for _ in range(N_PROCESSES)]
        for proc in procs:
            proc.start()
        try:
            got = sorted(results.get(timeout=60) for _ in procs)
        finally:
            release.set()
            for proc in procs:
                proc.join(30)
        outcomes.append(got.count("held"))
    assert outcomes == [1] * N_ROUNDS


def _hold_forever(project, ready):
    with jobs.retrain_lock(project):
        ready.set()
        while True:
            signal.pause()


def test_a_killed_holder_frees_the_lock_and_a_live_one_is_named(tmp_path):
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    holder = context.Process(target=_hold_forever, args=(tmp_path, ready))
    holder.start()
    try:
        assert ready.wait(30)
        with (pytest.raises(jobs.JobLockedError, match=rf"pid {holder.pid} on"),
              jobs.retrain_lock(tmp_path)):
            pass
    finally:
        holder.kill()
        holder.join(30)
    assert (tmp_path / jobs.LOCK_NAME).exists()  # a crash leaves the file, not the lock
    with jobs.retrain_lock(tmp_path) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


def test_project_dir_that_is_a_file_is_a_value_error(tmp_path):
    not_a_dir = tmp_path / "project"
    not_a_dir.write_text("x")
    with (pytest.raises(ValueError, match=r"project_dir: .*project' is not a directory"),
          jobs.retrain_lock(not_a_dir)):
        pass
