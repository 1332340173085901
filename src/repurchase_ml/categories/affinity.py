"""Cross-category affinity: which categories the same customers buy, and browse then buy.

Association rules over customers (not baskets): a customer "has" a category
once any purchase line of it lies before ``as_of``. For a pair ``A -> B``:
``support`` = share of customers with both, ``confidence`` = share of A's
customers who also have B, ``lift`` = confidence / share of customers with B.
Point in time like every feature: only events before ``as_of`` are read.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from repurchase_ml.categories._common import (
    BEHAVIOUR_TYPES,
    as_of_time,
    check_count,
    log_before,
    purchase_lines,
)

__all__ = ["category_affinity", "browse_to_buy_affinity", "customer_category_matrix"]


def _binary(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """0/1 matrix with a 1 at each (row, col) pair; repeated pairs count once."""
    matrix = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix


def customer_category_matrix(customer: np.ndarray, category: np.ndarray,
                             ) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Binary customers x categories matrix of the given pairs, with the customer ids and
    category names of its rows and columns (both sorted)."""
    cust_codes, customers = pd.factorize(pd.Series(customer), sort=True)
    cat_codes, categories = pd.factorize(pd.Series(category, dtype=object), sort=True)
    matrix = _binary(cust_codes, cat_codes, (len(customers), len(categories)))
    return matrix, np.asarray(customers), np.asarray(categories, dtype=object)


def _rules(left: sp.csr_matrix, right: sp.csr_matrix, left_names: np.ndarray,
           right_names: np.ndarray, n_customers: int, min_customers: int,
           same: bool) -> pd.DataFrame:
    """Support, confidence and lift of ``left`` column -> ``right`` column over shared rows."""
    both = (left.T @ right).tocoo()
    n_left = np.asarray(left.sum(axis=0)).ravel()
    n_right = np.asarray(right.sum(axis=0)).ravel()
    keep = both.data >= min_customers
    if not same:
        keep &= left_names[both.row] != right_names[both.col]
    i, j, count = both.row[keep], both.col[keep], both.data[keep]
    table = pd.DataFrame({
        "antecedent": left_names[i], "consequent": right_names[j],
        "customers": count.astype(np.int64),
        "support": count / n_customers,
        "confidence": count / n_left[i],
        "consequent_rate": n_right[j] / n_customers,
    })
    table["lift"] = table["confidence"] / table["consequent_rate"]
    return table.sort_values(["lift", "customers", "antecedent", "consequent"],
                             ascending=[False, False, True, True], kind="stable"
                             ).reset_index(drop=True)


def category_affinity(events: Any, *, as_of: object, min_customers: int = 10,
                      cancellation_window_days: float = 1.0) -> pd.DataFrame:
    """Categories bought by the same customers before ``as_of``: support, confidence, lift.

    Parameters
    ----------
    events : pandas or polars DataFrame
        A canonical event log with a ``category`` column.
    as_of : date
        Only events before it are read.
    min_customers : int, default 10
        Keep pairs bought by at least this many customers (both categories).
    cancellation_window_days : float, default 1.0
        A full refund this soon after an order cancels it (see :mod:`repurchase_ml.features.orders`).

    Returns
    -------
    DataFrame
        ``antecedent``, ``consequent``, ``customers`` (with both), ``support``,
        ``confidence`` (P(consequent | antecedent)), ``consequent_rate``
        (P(consequent)) and ``lift``; both directions of each pair, sorted by lift.
        ``attrs["customers"]`` is the number of buyers the shares are of.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 2, 3, 4],
    ...     "timestamp": pd.to_datetime(["2024-01-01"] * 6),
    ...     "event_type": pd.Categorical(["purchase"] * 6,
    ...         categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": 10.0, "category": ["a", "b", "a", "b", "a", "c"]})
    >>> t = category_affinity(ev, as_of="2024-02-01", min_customers=1)
    >>> t.loc[t["antecedent"] == "a", ["consequent", "support", "confidence", "lift"]]
      consequent  support  confidence      lift
    0          b      0.5    0.666667  1.333333
    """
    t = as_of_time(as_of)
    check_count(min_customers, "min_customers")
    lines = purchase_lines(log_before(events, t, cancellation_window_days=cancellation_window_days))
    matrix, customers, names = customer_category_matrix(lines["customer_id"].to_numpy(),
                                                        lines["category"].to_numpy())
    table = _rules(matrix, matrix, names, names, len(customers), min_customers, same=False)
    table.attrs["customers"] = len(customers)
    return table


def browse_to_buy_affinity(events: Any, *, as_of: object, min_customers: int = 10,
                           cancellation_window_days: float = 1.0) -> pd.DataFrame:
    """Browsed category -> bought category among customers who did both before ``as_of``.

    A customer browsed ``A`` with a view, cart or favourite of it, and bought
    ``B`` with a purchase line of it, both before ``as_of`` (in any order).
    Shares are over customers with at least one browsing event and one
    purchase. Same-category pairs are kept (browsing A and buying A is the
    common case). Needs a log with views, carts or favourites.

    Returns
    -------
    DataFrame
        ``antecedent`` (browsed), ``consequent`` (bought), ``customers``,
        ``support``, ``confidence`` (P(bought B | browsed A)), ``consequent_rate``
        (P(bought B)), ``lift``; sorted by lift. ``attrs["customers"]`` as above.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 2, 3, 3],
    ...     "timestamp": pd.to_datetime(["2024-01-01"] * 6),
    ...     "event_type": pd.Categorical(["view", "purchase"] * 3,
    ...         categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [np.nan, 5.0] * 3, "category": ["a", "a", "a", "a", "b", "c"]})
    >>> t = browse_to_buy_affinity(ev, as_of="2024-02-01", min_customers=1)
    >>> t[["antecedent", "consequent", "confidence", "lift"]]
      antecedent consequent  confidence  lift
    0          b          c         1.0   3.0
    1          a          a         1.0   1.5
    """
    t = as_of_time(as_of)
    check_count(min_customers, "min_customers")
    log = log_before(events, t, cancellation_window_days=cancellation_window_days)
    browsed = log.loc[log["event_type"].isin(BEHAVIOUR_TYPES).to_numpy()
                      & log["category"].notna().to_numpy()]
    if browsed.empty and not log["event_type"].isin(BEHAVIOUR_TYPES).any():
        raise ValueError("events: browse-to-buy affinity needs views, carts or favourites "
                         "(event_type 'view', 'cart', 'favorite') before as_of; this log has "
                         "purchases only. Fix: use category_affinity for an order log.")
    lines = purchase_lines(log)
    both = np.intersect1d(pd.unique(browsed["customer_id"]), pd.unique(lines["customer_id"]))
    browsed = browsed.loc[browsed["customer_id"].isin(both).to_numpy()]
    lines = lines.loc[lines["customer_id"].isin(both).to_numpy()]
    ids = np.concatenate([browsed["customer_id"].to_numpy(), lines["customer_id"].to_numpy()])
    names = np.concatenate([browsed["category"].astype(str).to_numpy(dtype=object),
                            lines["category"].to_numpy(dtype=object)])
    cust_codes, customers = pd.factorize(pd.Series(ids), sort=True)
    cat_codes, cats = pd.factorize(pd.Series(names, dtype=object), sort=True)
    shape, n_b = (len(customers), len(cats)), len(browsed)
    left = _binary(cust_codes[:n_b], cat_codes[:n_b], shape)
    right = _binary(cust_codes[n_b:], cat_codes[n_b:], shape)
    cats = np.asarray(cats, dtype=object)
    table = _rules(left, right, cats, cats, len(customers), min_customers, same=True)
    table.attrs["customers"] = len(customers)
    return table
