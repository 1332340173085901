"""A Dask client for one job: connect to a scheduler, or start and close a local cluster."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

__all__ = ["dask_client", "require_dask"]

logger = logging.getLogger(__name__)


def require_dask() -> None:
    """Raise a clear ImportError when the optional Dask packages are missing."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the test environment has the extra
        raise ImportError(
            "engine 'dask' needs the optional packages dask[dataframe] and distributed "
            f"({exc}). Fix: pip install 'repurchase_ml[dask]', or set engine: local."
        ) from exc


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, *, n_workers: int = 2, threads_per_worker: int = 1,
                memory_limit: str | float | None = "4GB", processes: bool = True) -> Iterator[Any]:
    """A :class:`distributed.Client` for the duration of a ``with`` block.

    With ``scheduler`` (e.g. ``"tcp://10.0.0.5:8786"``) the client connects to
    that running cluster and leaves it running. Without one a
    :class:`distributed.LocalCluster` of ``n_workers`` processes (each with
    ``threads_per_worker`` threads and ``memory_limit``) is started here and
    closed when the block ends, whatever happens inside it. ``processes=False``
    runs the workers as threads of this process (a quick look in a notebook or
    a script without an ``if __name__ == "__main__":`` guard, which worker
    processes need to start).

    Examples
    --------
    >>> with dask_client(n_workers=1, memory_limit="1GB") as client:  # doctest: +SKIP
    ...     client.submit(sum, [1, 2]).result()
    3
    """
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        logger.info("dask: connecting to the scheduler at %s", scheduler)
        with Client(scheduler) as client:
            yield client
        return
    if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
        raise ValueError(f"dask.n_workers: expected a whole number >= 1, got {n_workers!r}.")
    logger.info("dask: starting a local cluster of %d worker process(es)", n_workers)
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                      processes=processes, memory_limit=memory_limit,
                      dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client
