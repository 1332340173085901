"""The category section of a report or analytics page: a few small tables at one date."""

from __future__ import annotations

from typing import Any

import pandas as pd

from repurchase_ml.categories._common import BEHAVIOUR_TYPES, as_of_time, canonical_pandas
from repurchase_ml.categories.affinity import browse_to_buy_affinity, category_affinity
from repurchase_ml.categories.paths import category_transitions, repurchase_by_first_category

__all__ = ["CATEGORY_SECTION_TITLES", "category_section_tables"]

#: table key -> title a page shows above it
CATEGORY_SECTION_TITLES = {
    "first_category": "First categories whose buyers come back (180-day retention)",
    "transitions": "From one category to the next (consecutive orders, by lift)",
    "co_bought": "Categories bought by the same customers (by lift)",
    "browse_to_buy": "Browsed, then bought (by lift)",
}


def category_section_tables(events: Any, *, as_of: object, top: int = 10,
                            min_customers: int = 30) -> dict[str, pd.DataFrame]:
    """The category section's tables at ``as_of`` (keys of :data:`CATEGORY_SECTION_TITLES`).

    ``first_category`` (retention and net revenue by first-order category, 180-day
    window), ``transitions`` (category -> next category, same category left out),
    ``co_bought`` and, when the log has views, carts or favourites, ``browse_to_buy``;
    each the ``top`` rows, with their support and interval columns. Only events before
    ``as_of`` are read.

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> ev, _ = rm.make_event_log(600, "2022-01-01", "2024-01-01", random_state=0,
    ...                           category_paths=True)
    >>> tables = category_section_tables(ev, as_of="2024-01-01", top=3)
    >>> list(tables), len(tables["transitions"])
    (['first_category', 'transitions', 'co_bought', 'browse_to_buy'], 3)
    """
    t = as_of_time(as_of)
    frame = canonical_pandas(events)
    first = repurchase_by_first_category(frame, as_of=t, windows=(90, 180),
                                         min_customers=min_customers)
    tables = {
        "first_category": first[["category", "customers", "eligible_180d", "retention_180d",
                                 "retention_180d_low", "retention_180d_high",
                                 "retention_180d_lift", "net_revenue_180d"]].head(top),
        "transitions": category_transitions(frame, as_of=t, include_same=False).head(top),
        "co_bought": category_affinity(frame, as_of=t).head(top),
    }
    if frame["event_type"].isin(BEHAVIOUR_TYPES).any():
        tables["browse_to_buy"] = browse_to_buy_affinity(frame, as_of=t).head(top)
    return {k: v.reset_index(drop=True) for k, v in tables.items()}
