"""The retrain and score work on a Dask cluster, partitioned by customer.

Features of a customer depend only on that customer's events, the cutoffs,
the spec and a few inputs taken from the whole log (see
:func:`~repurchase_ml.distributed.features.global_inputs`). So the log is
shuffled once by a stable hash of ``customer_id`` into partitions
(:func:`~repurchase_ml.distributed.partition.partition_events`), the global
inputs are computed once on the whole log and broadcast, and the same
per-partition functions as the local engine
(:func:`repurchase_ml.features.compute_features`, the training rows of
:func:`repurchase_ml.features.build_training_set`) run on every partition.
The results equal the local engine's row for row.

Needs the optional extra ``repurchase_ml[dask]`` (``dask[dataframe]`` and
``distributed``); importing :mod:`repurchase_ml` never imports Dask. The
scheduled jobs choose this engine with ``engine: dask`` in the config (see
``docs/scale.md``).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "GlobalInputs",
    "build_features_dask",
    "build_training_set_dask",
    "check_partitioned",
    "dask_client",
    "global_inputs",
    "make_labels_dask",
    "partition_events",
    "score_partitions",
    "train_lightgbm_dask",
    "write_parquet_atomic",
]

_WHERE = {
    "dask_client": "cluster",
    "partition_events": "partition",
    "check_partitioned": "partition",
    "write_parquet_atomic": "partition",
    "GlobalInputs": "features",
    "global_inputs": "features",
    "build_features_dask": "features",
    "make_labels_dask": "features",
    "build_training_set_dask": "features",
    "score_partitions": "scoring",
    "train_lightgbm_dask": "training",
}


def __getattr__(name: str) -> Any:
    """Names resolve on first use, so that importing this package stays cheap."""
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
    return getattr(module, name)
