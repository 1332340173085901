"""One conversion at the public boundary: every function that takes a table accepts pandas or polars.

Call :func:`as_pandas` first thing in a public function that reads a frame, so polars users get
the same results and the same error messages as pandas users, and nothing downstream needs to
know which library the caller used.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SHAP_ROWS", "SUMMARY_ROWS", "as_pandas", "fixed_sample", "is_polars",
           "sample_ids"]

#: Rows that a plot or a summary over a large table is drawn from (the report's lift and
#: calibration sections, the training run's gain and calibration plots, the served model's
#: typical values and drift calibration): a seeded sample of this size puts a decile's
#: share within about 0.003 of the whole and costs the same at 100k customers as at 10M.
SUMMARY_ROWS = 50_000
#: Rows whose SHAP contributions a driver summary is computed from (the report's driver
#: ranking, the training run's SHAP beeswarm): contributions cost about a hundred
#: predictions each, and the ranking of mean absolute contributions is settled long
#: before this many rows.
SHAP_ROWS = 10_000


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


def fixed_sample(frame: pd.DataFrame, n: int = SUMMARY_ROWS, *,
                 random_state: int = 0) -> pd.DataFrame:
    """``frame`` itself when it has at most ``n`` rows, else ``n`` rows drawn with ``random_state``.

    The drawn rows keep their original order and index, so a summary of the
    sample does not depend on how the draw shuffled them.

    Examples
    --------
    >>> frame = pd.DataFrame({"x": range(10)})
    >>> fixed_sample(frame, 3, random_state=0)["x"].tolist()
    [2, 4, 8]
    >>> fixed_sample(frame, 20) is frame
    True
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive number of rows, got {n!r}.")
    if len(frame) <= n:
        return frame
    return frame.sample(n, random_state=random_state).sort_index()


def sample_ids(ids: Any, n: int = SUMMARY_ROWS, *, random_state: int = 0) -> pd.Index | None:
    """``n`` of the distinct ``ids`` drawn with ``random_state``; None when there are at most ``n``.

    The draw is made among the sorted distinct ids, so it does not depend on
    the order of ``ids``: filter an event log with it to rebuild the rows of a
    sample of customers (features depend on a customer's own events only).

    Examples
    --------
    >>> sample_ids(["c", "a", "b", "a", "d"], 2, random_state=0).tolist()
    ['c', 'd']
    >>> sample_ids(["c", "a"], 2) is None
    True
    """
    distinct = pd.Index(pd.unique(pd.Series(ids)))
    if len(distinct) <= n:
        return None
    distinct = distinct.sort_values()
    picked = np.random.default_rng(random_state).choice(len(distinct), size=n, replace=False)
    return distinct[np.sort(picked)]
