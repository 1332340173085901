"""Training sets on disk: Parquet with what the frame knows about itself in the file's metadata.

A training set's ``attrs`` say how it was built -- the label horizons, churn's
alive window, what an order is -- and :func:`~repurchase_ml.models.train_models`
reads them. They live in the Parquet schema's metadata under one key, as JSON,
so any Parquet reader (pandas, polars, pyarrow, Spark) keeps the table and
:func:`load_training_set` gives the frame back with its ``attrs``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from repurchase_ml._io import atomic_write
from repurchase_ml.errors import SchemaError

__all__ = ["METADATA_KEY", "save_training_set", "load_training_set"]

#: key of the JSON ``attrs`` in the Parquet schema metadata
METADATA_KEY = b"repurchase_ml.attrs"


def save_training_set(training: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a training set to Parquet (atomically) with its ``attrs`` in the file's metadata.

    Examples
    --------
    >>> import tempfile
    >>> ts = pd.DataFrame({"customer_id": [1, 2], "cutoff": pd.to_datetime(["2024-01-01"] * 2),
    ...                    "orders_all": [1.0, 3.0], "label_ltv": [0.0, 12.5]})
    >>> ts.attrs["horizons"] = {"ltv": 90}
    >>> path = save_training_set(ts, Path(tempfile.mkdtemp()) / "training.parquet")
    >>> load_training_set(path).attrs["horizons"]
    {'ltv': 90}
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not isinstance(training, pd.DataFrame):
        raise TypeError(f"training: expected a pandas DataFrame, got {type(training).__name__}.")
    try:
        attrs = json.dumps(training.attrs, sort_keys=True)
    except TypeError as exc:
        raise ValueError(f"training.attrs: only plain values (numbers, text, lists, dicts) can be "
                         f"saved ({exc}). Fix: remove the other entries from training.attrs."
                         ) from None
    table = pa.Table.from_pandas(training, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           METADATA_KEY: attrs.encode()})
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def load_training_set(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a training set written by :func:`save_training_set`, ``attrs`` included.

    A Parquet file without the metadata (written by another tool) is refused,
    saying what to pass instead: ``train_models`` would otherwise assume the
    default horizons, which are probably not the ones the labels were made with.
    """
    import pyarrow.parquet as pq

    file = Path(path)
    if not file.exists():
        raise FileNotFoundError(f"path: no file at {str(file)!r}. Fix: check the path.")
    table = pq.read_table(file)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise SchemaError(
            None, f"{str(file)!r} has no training-set metadata (label horizons, alive window, "
                  "order definition): it was not written by save_training_set",
            fix="save training sets with repurchase_ml.save_training_set, or read this one "
                "with pandas.read_parquet and pass horizons=... (the ones its labels were "
                "built with) to train_models")
    frame = table.to_pandas()
    attrs: dict[str, Any] = json.loads(raw)
    frame.attrs = attrs
    return frame
