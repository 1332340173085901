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
    if by == "category" and not snap.has_column("category"):
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
    # the window's rows once; every step below reads only them
    rows = np.flatnonzero(log.timestamp >= start) if days is not None \
        else np.arange(len(log.timestamp))
    kind, customer = log.event_type[rows], log.customer[rows].astype(np.int64)
    viewed = kind == CODE["view"]
    if not viewed.any():
        return _empty(NO_BROWSING)
    engaged = (kind == CODE["cart"]) | (kind == CODE["favorite"])
    if by == "category":
        # the window's purchase rows, of orders that still stand at as_of
        bought = kind == CODE["purchase"]
        visible = log.visible(snap.as_of_ns)
        if visible is not None:
            bought[bought] = visible[np.searchsorted(np.flatnonzero(
                log.event_type == CODE["purchase"]), rows[bought])]
        group_of_event, names = _categories(snap.column("category", rows))
        buy_keys = customer[bought] * len(names) + group_of_event[bought]
        buy_keys = buy_keys[group_of_event[bought] >= 0]
    else:
        customer_group, names = _customer_groups(snap, by)
        group_of_event = customer_group[customer]
        buy_customer = snap.order_customer[snap.order_time >= start].astype(np.int64)
        buy_keys = buy_customer * len(names) + customer_group[buy_customer]
    n_groups = len(names)
    keys = customer * n_groups + group_of_event
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
    from repurchase_ml.analytics.migration import segment_codes, segment_order, segments_at

    return segment_codes(segments_at(snap).reindex(snap.ids), segment_order("rfm"))


def _categories(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Category code of each value (-1: none) and the names, sorted."""
    codes, names = pd.factorize(values, sort=True)
    return codes.astype(np.int64), [str(n) for n in names]
