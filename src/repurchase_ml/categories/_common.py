"""What the category analytics share: point-in-time purchase lines and intervals."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from repurchase_ml._frames import as_pandas
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES, check_canonical
from repurchase_ml.features._inputs import normalise_cutoffs
from repurchase_ml.features.orders import (
    check_cancellation_window,
    check_order_definition,
    net_out_cancellations,
)

logger = logging.getLogger(__name__)

BEHAVIOUR_TYPES = ("view", "cart", "favorite")
_DAY = pd.Timedelta(days=1)


def as_of_time(as_of: object, argument: str = "as_of") -> pd.Timestamp:
    """One naive timestamp, or the errors :func:`normalise_cutoffs` gives, naming ``argument``."""
    if as_of is None:
        raise ValueError(f"{argument}: required, got None. Fix: pass the date the analysis "
                         "speaks for, e.g. '2024-06-01' (only events before it are read).")
    if isinstance(as_of, list | tuple):
        raise TypeError(f"{argument}: expected one date, got {type(as_of).__name__}. "
                        "Fix: pass a single date such as '2024-06-01'.")
    return normalise_cutoffs([as_of], argument=argument)[0]


def canonical_pandas(events: object) -> pd.DataFrame:
    """A canonical pandas log from a pandas or polars frame (polars' strings and
    categoricals become the canonical event-type categorical)."""
    frame = as_pandas(events, argument="events")
    if not isinstance(events, pd.DataFrame) and "event_type" in frame.columns:
        frame["event_type"] = pd.Categorical(frame["event_type"].astype(str),
                                             categories=list(EVENT_TYPES))
    check_canonical(frame)
    return frame


def log_before(events: object, as_of: pd.Timestamp, *, cancellation_window_days: float = 1.0,
               need_category: bool = True) -> pd.DataFrame:
    """Canonical rows before ``as_of``, orders cancelled before it netted out.

    A refund that cancels an order (see :mod:`repurchase_ml.features.orders`)
    takes the order and itself out once it has happened, as the features do.
    """
    frame = canonical_pandas(events)
    if need_category and "category" not in frame.columns:
        raise SchemaError("category", "events: category analytics need a category per "
                          "purchase row", fix="map your category column to 'category' in "
                          "read_events (ColumnMapping(columns={'category': ...}))")
    before = frame.loc[frame["timestamp"].to_numpy() < as_of.to_datetime64()]
    kept, _ = net_out_cancellations(before, within_days=check_cancellation_window(
        cancellation_window_days, "cancellation_window_days"))
    return kept  # type: ignore[return-value]


def purchase_lines(log: pd.DataFrame, *, order_definition: str = "order_id") -> pd.DataFrame:
    """Purchase rows with a category: ``customer_id``, ``timestamp``, ``order_key``,
    ``category`` (text), ``amount``. Rows without a category are left out (logged)."""
    check_order_definition(order_definition)
    bought = log.loc[(log["event_type"] == "purchase").to_numpy()]
    missing = bought["category"].isna().to_numpy()
    if missing.any():
        logger.info("category analytics: %d purchase row(s) without a category are left out",
                    int(missing.sum()))
        bought = bought.loc[~missing]
    if order_definition == "customer_day":
        key = bought["timestamp"].dt.normalize().astype("int64").astype(str)
    elif "order_id" in bought.columns:
        # a purchase row without an order id is an order of its own (features/orders.py)
        rows = pd.Series("row" + bought.index.astype(str), index=bought.index)
        key = bought["order_id"].astype(object).where(bought["order_id"].notna(), rows)
        key = key.astype(str)
    else:
        key = pd.Series("row" + bought.index.astype(str), index=bought.index)
    return pd.DataFrame({
        "customer_id": bought["customer_id"].to_numpy(),
        "timestamp": bought["timestamp"].to_numpy(),
        "order_key": key.to_numpy(),
        "category": bought["category"].astype(str).to_numpy(),
        "amount": bought["amount"].fillna(0.0).to_numpy(dtype=float),
    })


def orders_of(lines: pd.DataFrame) -> pd.DataFrame:
    """One row per order: time of its first line, primary category (the one with the most
    money; ties by name), value, distinct categories; ``order_index`` 0, 1, ... per customer."""
    if lines.empty:
        return pd.DataFrame({"customer_id": lines["customer_id"], "order_key": [],
                             "timestamp": pd.Series([], dtype="datetime64[ns]"), "category": [],
                             "value": [], "n_categories": [], "order_index": []})
    keys = ["customer_id", "order_key"]
    by_cat = lines.groupby([*keys, "category"], sort=False, observed=True)["amount"].sum()
    by_cat = by_cat.reset_index().sort_values([*keys, "amount", "category"],
                                              ascending=[True, True, False, True], kind="stable")
    primary = by_cat.drop_duplicates(keys, keep="first").set_index(keys)["category"]
    grouped = lines.groupby(keys, sort=False)
    orders = pd.DataFrame({
        "timestamp": grouped["timestamp"].min(),
        "value": grouped["amount"].sum(),
        "n_categories": grouped["category"].nunique(),
    })
    orders["category"] = primary.reindex(orders.index).to_numpy()
    orders = orders.reset_index().sort_values(["customer_id", "timestamp", "order_key"],
                                              kind="stable").reset_index(drop=True)
    orders["order_index"] = orders.groupby("customer_id").cumcount()
    return orders[["customer_id", "order_key", "timestamp", "category", "value",
                   "n_categories", "order_index"]]


def wilson_interval(successes: np.ndarray, n: np.ndarray,
                    level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (NaN where ``n`` is 0).

    Examples
    --------
    >>> low, high = wilson_interval(np.array([5]), np.array([10]))
    >>> round(float(low[0]), 3), round(float(high[0]), 3)
    (0.237, 0.763)
    """
    from statsmodels.stats.proportion import proportion_confint

    check_level(level)
    s, m = np.asarray(successes, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low, high = proportion_confint(s, m, alpha=1.0 - level, method="wilson")
    empty = m <= 0
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def bootstrap_mean_interval(values: np.ndarray, groups: np.ndarray, *, level: float,
                            n_boot: int, random_state: int) -> pd.DataFrame:
    """Per group: mean of ``values`` and a percentile bootstrap interval (rows resampled
    within each group)."""
    rng = np.random.default_rng(random_state)
    tail = (1.0 - check_level(level)) / 2.0
    out = {}
    for name, idx in pd.Series(np.arange(len(values))).groupby(groups, sort=True):
        v = values[idx.to_numpy()]
        means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(axis=1)
        out[name] = (v.mean(), *np.quantile(means, [tail, 1.0 - tail]))
    return pd.DataFrame.from_dict(out, orient="index", columns=["mean", "low", "high"])


def check_level(level: object) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"level: expected a coverage between 0 and 1 (e.g. 0.95), got {level!r}.")
    return float(level)


def check_count(value: object, argument: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{argument}: expected a whole number >= {minimum}, got {value!r}.")
    return int(value)
