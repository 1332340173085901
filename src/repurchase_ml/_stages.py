"""Wall time and peak memory per stage of a job, logged as one line per stage.

The retrain and score jobs wrap each stage (read the log, build the training
set, train, score, write ...) in :meth:`StageClock.stage`. Each stage logs one
INFO line with its elapsed seconds and the process's peak resident memory
during the stage, and the clock keeps the records (with the CPU seconds of
the process's threads, which other load on the machine does not inflate) for
MLflow and for ``benchmarks/job.py``.

Peak memory per stage comes from ``VmHWM`` in ``/proc/self/status``, reset at
the start of each stage through ``/proc/self/clear_refs`` (Linux). Where that
is not available the peak is the process's peak so far (``getrusage``), which
never decreases -- the line says which (``peak`` or ``peak so far``).

Examples
--------
>>> clock = StageClock("demo")
>>> with clock.stage("sum"):
...     total = sum(range(1000))
>>> [record["stage"] for record in clock.records], total
(['sum'], 499500)
>>> sorted(clock.metrics())
['stage_cpu_seconds/sum', 'stage_peak_gb/sum', 'stage_seconds/sum']
"""

from __future__ import annotations

import logging
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["StageClock", "job_peak_gb", "peak_rss_gb", "reset_peak_rss", "stage_metrics"]

logger = logging.getLogger("repurchase_ml.jobs")

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_rss() -> bool:
    """Reset this process's peak resident memory to its current size; whether that worked."""
    try:
        _CLEAR_REFS.write_text("5")  # "5" resets VmHWM (Linux >= 4.0)
    except OSError:
        return False
    return True


def peak_rss_gb() -> float:
    """This process's peak resident memory in GB (VmHWM where readable, else getrusage)."""
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9


def job_peak_gb(records: list[dict[str, Any]]) -> float:
    """The peak resident memory (GB) of a whole job run whose stages are ``records``.

    The stage clock resets the kernel's high-water mark at each stage, and
    ``getrusage`` reads that same, reset, mark: the job's peak is the largest
    stage peak (or the mark since the last stage, if larger).

    Examples
    --------
    >>> job_peak_gb([{"peak_gb": 9.5}, {"peak_gb": 0.1}]) >= 9.5
    True
    """
    return max([float(r["peak_gb"]) for r in records] + [peak_rss_gb()])


class StageClock:
    """Times the stages of one job run; see the module docstring."""

    def __init__(self, job: str) -> None:
        self.job = job
        self.records: list[dict[str, Any]] = []
        self._started = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as stage ``name`` and log one line when it ends (not when it raises)."""
        per_stage = reset_peak_rss()
        tic, cpu = time.perf_counter(), time.process_time()
        yield
        seconds, cpu = time.perf_counter() - tic, time.process_time() - cpu
        peak = peak_rss_gb()
        self.records.append({"stage": name, "seconds": round(seconds, 3),
                             "cpu_seconds": round(cpu, 3), "peak_gb": round(peak, 3)})
        logger.info("%s: %s done in %.1f s (job %.1f s), %s memory %.2f GB", self.job, name,
                    seconds, time.perf_counter() - self._started,
                    "peak" if per_stage else "peak so far", peak)

    @property
    def total_seconds(self) -> float:
        """Seconds since the clock was made."""
        return time.perf_counter() - self._started

    def metrics(self) -> dict[str, float]:
        """The records as MLflow metrics (:func:`stage_metrics`)."""
        return stage_metrics(self.records)


def stage_metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    """Stage records as MLflow metrics: ``stage_seconds/<stage>``, ``stage_cpu_seconds/<stage>``
    and ``stage_peak_gb/<stage>``."""
    out: dict[str, float] = {}
    for record in records:
        out[f"stage_seconds/{record['stage']}"] = record["seconds"]
        out[f"stage_cpu_seconds/{record['stage']}"] = record["cpu_seconds"]
        out[f"stage_peak_gb/{record['stage']}"] = record["peak_gb"]
    return out
