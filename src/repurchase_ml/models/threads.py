"""How many threads LightGBM gets: every available core when the data is big enough to gain.

LightGBM splits each boosting round's histogram work across threads. On a few
tens of thousands of rows a round takes well under a millisecond and the
threads mostly wait for each other (much slower still when other processes
hold the cores: OpenMP threads spin while they wait), so one thread is the
fastest; on hundreds of thousands of rows the work divides well.
"""

from __future__ import annotations

import os

__all__ = ["MIN_ROWS_PER_EXTRA_THREAD", "available_cores", "lgbm_threads"]

#: training rows from which a model gets every available core (one thread below)
MIN_ROWS_PER_EXTRA_THREAD = 100_000


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(os.cpu_count() or 1, 1)


def lgbm_threads(n_rows: int, threads: int | None = None) -> int:
    """LightGBM's ``num_threads`` for ``n_rows`` training rows; ``threads`` pins it.

    The same data, settings and thread count give the same model bit for bit
    (LightGBM's ``deterministic`` mode); another thread count may differ in
    the last digits, so pin ``threads`` to reproduce a model across machines.

    Examples
    --------
    >>> lgbm_threads(5_000)
    1
    >>> lgbm_threads(5_000, threads=4)
    4
    >>> lgbm_threads(2_000_000) == available_cores()
    True
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int or None, got {threads!r}.")
        return threads
    return available_cores() if n_rows >= MIN_ROWS_PER_EXTRA_THREAD else 1
