"""An event log partitioned by customer: read, shuffle once, check, write.

Every event of a customer must be in one partition, so that the per-partition
feature and label functions see each customer's whole history. The log is
shuffled once by a stable hash of ``customer_id`` (:func:`customer_bucket`:
pandas' SipHash with its fixed key, the same in every process, on every
machine and on every run): partition ``i`` of ``n`` holds exactly the
customers whose bucket is ``i``, and that partitioning is kept by every later
step (features, labels, scores are computed partition by partition and
written as one Parquet file per partition).

A log partitioned by customer already (e.g. written by another engine, one
file per customer bucket) can skip the shuffle with ``partitioned=True``;
:func:`check_partitioned` then checks that no customer appears in two
partitions.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.distributed.cluster import require_dask
from repurchase_ml.events import EVENT_TYPES

__all__ = [
    "BUCKET",
    "canonical_partition",
    "check_partitioned",
    "customer_bucket",
    "partition_events",
    "write_folder_atomic",
    "write_frames_atomic",
    "write_parquet_atomic",
]

logger = logging.getLogger(__name__)

#: name of the index column that holds each row's customer bucket
BUCKET = "customer_bucket"
#: default events per partition when the number of partitions is not given
ROWS_PER_PARTITION = 2_000_000


def customer_bucket(customer_id: pd.Series | np.ndarray, n_partitions: int) -> np.ndarray:
    """The partition (0 .. ``n_partitions - 1``) of each customer id: a stable hash.

    The same id gets the same bucket in every process and on every run
    (``pandas.util.hash_array``, SipHash with a fixed key).

    Examples
    --------
    >>> customer_bucket(pd.Series([1, 2, 1, 3]), 2).tolist()
    [1, 0, 1, 0]
    >>> customer_bucket(pd.Series(["a", "b"]), 4).tolist() == customer_bucket(pd.Series(["a", "b"]), 4).tolist()
    True
    """
    if not isinstance(n_partitions, int | np.integer) or n_partitions < 1:
        raise ValueError(f"n_partitions: expected a whole number >= 1, got {n_partitions!r}.")
    values = np.asarray(customer_id)
    if values.dtype.kind in "OUS":
        values = values.astype(object)
    return (pd.util.hash_array(values) % np.uint64(n_partitions)).astype(np.int64)


def canonical_partition(frame: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    """One partition as the canonical pandas log the feature engine reads.

    Dask and Parquet may hand back strings as Arrow strings, event types as
    a categorical with other categories, or timestamps in another unit; the
    local engine reads object strings, the canonical categories and
    nanoseconds, and so does every partition. A path is read as one
    partition's Parquet file (inside the task that uses it, so a worker
    holds one partition at a time).
    """
    if isinstance(frame, str | os.PathLike):
        frame = pd.read_parquet(frame)
    out = frame.reset_index(drop=True)
    for column in out.columns:
        dtype = out[column].dtype
        if column == "event_type":
            out[column] = pd.Categorical(out[column].astype(object), categories=list(EVENT_TYPES))
        elif column == "timestamp":
            out[column] = out[column].astype("datetime64[ns]")
        elif isinstance(dtype, pd.StringDtype) or str(dtype) in ("string", "large_string") \
                or (isinstance(dtype, pd.ArrowDtype) and "string" in str(dtype)):
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def partition_events(source: Any, *, n_partitions: int | None = None,
                     partitioned: bool = False) -> Any:
    """The event log as a Dask DataFrame partitioned by customer.

    Parameters
    ----------
    source : pandas or polars DataFrame, Dask DataFrame, or path
        A canonical event log, or a Parquet file or folder of Parquet files
        holding one (e.g. ``frame.to_parquet`` of :func:`repurchase_ml.read_events`).
    n_partitions : int, optional
        Number of customer buckets. Default: one per 2 million events, at least 2.
    partitioned : bool, default False
        The source is partitioned by customer already: keep its partitions
        (no shuffle) after :func:`check_partitioned`.

    Returns
    -------
    dask.dataframe.DataFrame
        Canonical columns, indexed by :data:`BUCKET` with known divisions:
        partition ``i`` holds the customers of bucket ``i`` (with
        ``partitioned=True``, the source's partitions as they were).
    """
    require_dask()
    import dask.dataframe as dd

    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"events: no Parquet file or folder at {str(path)!r}. "
                                    "Fix: give the path of a canonical event log saved as Parquet.")
        ddf = dd.read_parquet(str(path))
    elif isinstance(source, dd.DataFrame):
        ddf = source
    elif isinstance(source, pd.DataFrame):
        ddf = dd.from_pandas(source, npartitions=max(1, -(-len(source) // ROWS_PER_PARTITION)),
                             sort=False)
    elif type(source).__module__.startswith("polars"):
        frame = source.to_pandas()
        ddf = dd.from_pandas(frame, npartitions=max(1, -(-len(frame) // ROWS_PER_PARTITION)),
                             sort=False)
    else:
        raise TypeError(f"events: expected a pandas, polars or Dask DataFrame or a Parquet path, "
                        f"got {type(source).__name__}.")
    for column in ("customer_id", "timestamp", "event_type"):
        if column not in ddf.columns:
            raise ValueError(f"events: required column {column!r} is missing (columns: "
                             f"{list(ddf.columns)}). Fix: save the canonical log of "
                             "repurchase_ml.read_events (or a loader) as Parquet.")
    if partitioned:
        check_partitioned(ddf)
        return ddf
    if n_partitions is None:
        rows = len(source) if hasattr(source, "__len__") and not isinstance(source, dd.DataFrame) \
            else int(ddf.map_partitions(len).sum().compute())
        n_partitions = max(2, -(-rows // ROWS_PER_PARTITION))
    if not isinstance(n_partitions, int) or isinstance(n_partitions, bool) or n_partitions < 1:
        raise ValueError(f"n_partitions: expected a whole number >= 1, got {n_partitions!r}.")
    ddf = ddf.reset_index(drop=True)
    ddf = ddf.assign(**{BUCKET: ddf["customer_id"].map_partitions(
        lambda ids: pd.Series(customer_bucket(ids, n_partitions), index=ids.index),
        meta=(BUCKET, "int64"))})
    # one shuffle: bucket i lands in partition i (divisions 0, 1, ..., n - 1, n - 1)
    divisions = [*range(n_partitions), n_partitions - 1]
    return ddf.set_index(BUCKET, divisions=divisions, sort=True)


def check_partitioned(ddf: Any) -> None:
    """Refuse a Dask DataFrame in which some customer has events in two partitions.

    Computes each partition's distinct customer ids (one id per customer
    travels to the client).

    Raises
    ------
    ValueError
        Naming how many customers are split and a few of them, and how to fix it.
    """
    import dask

    parts = ddf["customer_id"].to_delayed()
    ids = dask.compute(*[dask.delayed(lambda s: pd.unique(s.to_numpy()))(p) for p in parts])
    refuse_split_customers(ids, fix="pass partitioned=False to shuffle the log by customer")


def refuse_split_customers(ids: Any, *, fix: str) -> None:
    """Raise ``ValueError`` when a customer id is among the distinct ids of two partitions.

    ``ids``: each partition's distinct customer ids; ``fix`` ends the message.

    Examples
    --------
    >>> refuse_split_customers([np.array([1, 2]), np.array([3])], fix="shuffle")
    >>> try:
    ...     refuse_split_customers([np.array([1, 2]), np.array([2])], fix="shuffle")
    ... except ValueError as error:
    ...     print(str(error)[:60])
    events: 1 customer(s) have events in more than one partition
    """
    counts = pd.Series(np.concatenate(list(ids)) if len(ids) else np.array([])).value_counts()
    split = counts[counts > 1]
    if len(split):
        raise ValueError(
            f"events: {len(split)} customer(s) have events in more than one partition, e.g. "
            f"{split.index[:5].tolist()}; features need each customer's whole history in one "
            f"partition. Fix: {fix}.")


def write_folder_atomic(folder: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_folder)``, then put the folder in place of ``folder``.

    The files are written into a hidden sibling folder first; only when
    ``write`` returns does it replace ``folder``. A failure (a worker lost, a
    full disk) leaves ``folder`` as it was.
    """
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        write(tmp)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old",
                                        dir=target.parent))
            os.replace(target, old / "previous")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def write_parquet_atomic(ddf: Any, folder: str | os.PathLike[str]) -> Path:
    """Write a Dask DataFrame as one Parquet file per partition into ``folder``, atomically
    (:func:`write_folder_atomic`); the workers write their own partitions."""
    return write_folder_atomic(folder, lambda tmp: ddf.to_parquet(
        str(tmp), write_index=False, name_function=lambda i: f"part-{i:05d}.parquet"))


def write_frames_atomic(parts: list[pd.DataFrame], folder: str | os.PathLike[str]) -> Path:
    """Write frames as ``part-00000.parquet``, ... into ``folder``, atomically.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()) / "scores"
    >>> _ = write_frames_atomic([pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [2]})], d)
    >>> sorted(p.name for p in d.iterdir()), pd.read_parquet(d)["a"].tolist()
    (['part-00000.parquet', 'part-00001.parquet'], [1, 2])
    """
    def write(tmp: Path) -> None:
        for i, part in enumerate(parts):
            part.to_parquet(tmp / f"part-{i:05d}.parquet", index=False)

    return write_folder_atomic(folder, write)
