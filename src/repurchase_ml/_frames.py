"""One conversion at the public boundary: every function that takes a table accepts pandas or polars.

Call :func:`as_pandas` first thing in a public function that reads a frame, so polars users get
the same results and the same error messages as pandas users, and nothing downstream needs to
know which library the caller used.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["as_pandas", "is_polars"]


def is_polars(frame: Any) -> bool:
    """True for a polars DataFrame or LazyFrame (without importing polars when it is absent)."""
    module = type(frame).__module__
    return module.startswith("polars") and type(frame).__name__ in ("DataFrame", "LazyFrame")


def as_pandas(frame: Any, *, argument: str) -> pd.DataFrame:
    """Return ``frame`` as a pandas DataFrame; a pandas frame is returned as it is (no copy).

    A polars frame (or LazyFrame, collected) is converted with its dtypes kept where pandas has
    them (datetimes stay naive datetimes, strings become object columns). Anything else is
    refused with a message naming ``argument``.

    Examples
    --------
    >>> import polars as pl
    >>> as_pandas(pl.DataFrame({"customer_id": ["a"], "amount": [1.5]}), argument="events")
      customer_id  amount
    0           a     1.5
    >>> as_pandas([1, 2], argument="events")
    Traceback (most recent call last):
    TypeError: events: expected a pandas or polars DataFrame, got list. Fix: pass a DataFrame (pd.DataFrame or pl.DataFrame).
    """
    if isinstance(frame, pd.DataFrame):
        return frame
    if is_polars(frame):
        if type(frame).__name__ == "LazyFrame":
            frame = frame.collect()
        return frame.to_pandas()
    raise TypeError(f"{argument}: expected a pandas or polars DataFrame, got "
                    f"{type(frame).__name__}. Fix: pass a DataFrame (pd.DataFrame or pl.DataFrame).")
