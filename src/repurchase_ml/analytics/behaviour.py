"""The behaviour funnel: view, then cart or favourite, then purchase, per segment or category.

Only logs with browsing events (``view``, ``cart``, ``favorite``) have one; an
order export gets an empty table that says why (``attrs["note"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.analytics._orders import DAY_NS, Snapshot, check_choice, snapshot
from repurchase_ml.features._inputs import CODE
from repurchase_ml.features.spec import FeatureSpec

__all__ = ["behaviour_funnel", "BEHAVIOUR_STAGES", "NO_BROWSING"]

#: the funnel's steps, in order
BEHAVIOUR_STAGES = ("view", "cart_or_favorite", "purchase")
BEHAVIOUR_GROUPS = (None, "segment", "category")
#: why a behaviour funnel is empty
NO_BROWSING = ("the log has no browsing events (view, cart, favorite) before the as-of date: "
               "a behaviour funnel needs a behaviour log")
_COLUMNS = ("group", "stage", "customers", "step_conversion", "overall_conversion")


def behaviour_funnel(events: Any, as_of: Any, *, by: str | None = None,
                     days: int | None = 30, spec: FeatureSpec | None = None) -> pd.DataFrame:
    """Customers who viewed, then also carted or favourited, then also bought, in a window.

    The steps are nested: a customer counts at ``cart_or_favorite`` if they
    viewed and carted or favourited in the window, and at ``purchase`` if
    they also placed an order (cancelled orders left out) in it. Per
    category, a step counts the customer's events in that category.

    Parameters
    ----------
    events : DataFrame
        Canonical event log (pandas or polars).
    as_of : date
        Only events before it count.
    by : {None, "segment", "category"}
        One funnel (group ``"all"``), per RFM segment at ``as_of``, or per
        product category (needs the ``category`` column).
    days : int or None, default 30
        The window: the last ``days`` days before ``as_of``; None for all
        history.

    Returns
    -------
    DataFrame
        ``group``, ``stage``, ``customers``, ``step_conversion`` (of the
        previous stage) and ``overall_conversion`` (of the viewers). Empty,
        with ``attrs["note"]`` saying why, when the window has no views.

    Examples
    --------
    >>> from repurchase_ml.analytics._orders import EVENT_TYPES
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2, 3],
    ...     "timestamp": pd.to_datetime(["2024-01-10"] * 6),
    ...     "event_type": pd.Categorical(["view", "cart", "purchase", "view", "favorite", "view"],
    ...                                  categories=EVENT_TYPES),
    ...     "amount": [0.0, 0.0, 9.0, 0.0, 0.0, 0.0]})
    >>> behaviour_funnel(ev, "2024-01-31")[["stage", "customers"]].values.tolist()
    [['view', 3], ['cart_or_favorite', 2], ['purchase', 1]]
    """
    check_choice(by, "by", BEHAVIOUR_GROUPS)
    if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 1):
        raise ValueError(f"days: expected a whole number of days >= 1 or None, got {days!r}.")
    snap = snapshot(events, as_of, spec=spec)
    if by == "category" and "category" not in snap.events.columns:
        raise ValueError("by: 'category' needs a 'category' column in events. Fix: map the "
                         "product category column when reading the log, or use by=None.")
    return behaviour_table(snap, by=by, days=days)


def _empty(note: str) -> pd.DataFrame:
    table = pd.DataFrame({c: pd.Series(dtype=object if c in ("group", "stage") else float)
                          for c in _COLUMNS})
    table.attrs["note"] = note
    return table


def behaviour_table(snap: Snapshot, *, by: str | None, days: int | None) -> pd.DataFrame:
    """:func:`behaviour_funnel` of a snapshot."""
    log = snap.log
    start = np.iinfo(np.int64).min if days is None else snap.as_of_ns - days * DAY_NS
    in_window = log.timestamp >= start
    kind = log.event_type
    viewed = in_window & (kind == CODE["view"])
    if not viewed.any():
        return _empty(NO_BROWSING)
    engaged = in_window & ((kind == CODE["cart"]) | (kind == CODE["favorite"]))
    order_rows = np.flatnonzero(snap.order_time >= start)
    if by == "category":
        group_of_event, names = _event_categories(snap)
        buy_keys = _purchase_category_keys(snap, group_of_event, start, len(names))
    else:
        customer_group, names = _customer_groups(snap, by)
        group_of_event = customer_group[log.customer]
        buy_customer = snap.order_customer[order_rows]
        buy_keys = buy_customer * len(names) + customer_group[buy_customer]
    n_groups = len(names)
    keys = log.customer.astype(np.int64) * n_groups + group_of_event
    has_group = group_of_event >= 0
    view_keys = np.unique(keys[viewed & has_group])
    cart_keys = np.unique(keys[engaged & has_group])
    step2 = np.intersect1d(view_keys, cart_keys, assume_unique=True)
    step3 = np.intersect1d(step2, np.unique(buy_keys), assume_unique=True)
    counts = np.stack([np.bincount(k % n_groups, minlength=n_groups)
                       for k in (view_keys, step2, step3)], axis=1)
    keep = counts[:, 0] > 0
    counts, kept_names = counts[keep], [n for n, k in zip(names, keep, strict=True) if k]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.c_[np.ones(len(counts)), counts[:, 1:] / counts[:, :-1]]
        overall = counts / counts[:, :1]
    return pd.DataFrame({
        "group": np.repeat(np.asarray(kept_names, dtype=object), len(BEHAVIOUR_STAGES)),
        "stage": np.tile(np.asarray(BEHAVIOUR_STAGES, dtype=object), len(kept_names)),
        "customers": counts.ravel().astype(np.int64), "step_conversion": step.ravel(),
        "overall_conversion": overall.ravel()})


def _customer_groups(snap: Snapshot, by: str | None) -> tuple[np.ndarray, list[str]]:
    if by is None:
        return np.zeros(snap.n_customers, dtype=np.int64), ["all"]
    from repurchase_ml.analytics.migration import segment_order, segments_at

    segment = segments_at(snap).reindex(snap.ids).fillna("no purchase").to_numpy()
    names = [s for s in segment_order("rfm") if s in set(segment)]
    lookup = {name: i for i, name in enumerate(names)}
    return np.array([lookup[s] for s in segment], dtype=np.int64), names


def _event_categories(snap: Snapshot) -> tuple[np.ndarray, list[str]]:
    """Category code of every event (-1: none), in the order of the log's arrays."""
    column = snap.events["category"]
    codes, names = pd.factorize(column, sort=True)
    return codes.astype(np.int64), [str(n) for n in names]


def _purchase_category_keys(snap: Snapshot, codes: np.ndarray, start: int,
                            n_groups: int) -> np.ndarray:
    """(customer, category) keys of purchase rows in the window whose order still stands."""
    log = snap.log
    bought = log.event_type == CODE["purchase"]  # the log's purchase rows, in row order
    time = log.purchases["timestamp"].to_numpy()
    keep = time >= start
    visible = log.visible(snap.as_of_ns)
    if visible is not None:
        keep &= visible
    category = codes[bought][keep].astype(np.int64)
    customer = log.purchases["customer_id"].to_numpy()[keep].astype(np.int64)
    ok = category >= 0
    return customer[ok] * n_groups + category[ok]
