"""Money columns of a feature table, net of refunds: one definition for every consumer.

The RFM rule, the run-rate baseline, RFM segments and the radar all price a
customer by net revenue (purchases minus refunds, DESIGN.md); this is where
they read it from a feature table, whichever money columns it has.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.errors import SchemaError

__all__ = ["incremental_value", "net_revenue", "money_column"]


def money_column(features: pd.DataFrame, *, window: str = "all") -> str:
    """Name of the best money column: ``net_revenue_<window>`` if present, else gross.

    Examples
    --------
    >>> money_column(pd.DataFrame({"revenue_all": [1.0], "net_revenue_all": [0.5]}))
    'net_revenue_all'
    >>> money_column(pd.DataFrame({"revenue_all": [1.0]}))
    'revenue_all'
    """
    net = f"net_revenue_{window}"
    return net if net in features.columns else f"revenue_{window}"


def net_revenue(features: pd.DataFrame, *, window: str = "all") -> pd.Series:
    """Purchases minus refunds per row: ``net_revenue_<window>`` when the table has it.

    Falls back to ``revenue_<window> - refund_amount_<window>`` (refunds are
    only counted all-time by the feature engine, so the fallback of a day
    window is gross ``revenue_<window>d``), then to gross revenue; never below 0.

    Examples
    --------
    >>> f = pd.DataFrame({"revenue_all": [168_000.0, 50.0], "refund_amount_all": [168_000.0, 0]})
    >>> net_revenue(f).tolist()
    [0.0, 50.0]
    """
    net, gross, refunds = f"net_revenue_{window}", f"revenue_{window}", f"refund_amount_{window}"
    if net in features.columns:
        values = features[net].astype(float)
    elif gross in features.columns:
        values = features[gross].astype(float)
        if refunds in features.columns:
            values = values - features[refunds].astype(float).fillna(0.0)
    else:
        raise SchemaError(net, f"pricing a customer needs {net!r} or {gross!r}",
                          fix="build features with the rfm family on")
    return values.fillna(0.0).clip(lower=0.0)


def incremental_value(expected_uplift: Any, value: Any, cost: Any, *,
                      outcome: str = "conversion") -> np.ndarray:
    """Expected incremental net value of sending the offer: uplift x value - cost.

    For an uplift on ``conversion`` the value of a converted customer is ``value`` (the
    radar passes value if retained); an uplift on ``net_revenue`` is money already.

    Examples
    --------
    >>> incremental_value([0.1, 0.0], [200.0, 500.0], 2.0).tolist()
    [18.0, -2.0]
    """
    uplift = np.asarray(expected_uplift, dtype=float)
    gain = uplift if outcome == "net_revenue" else uplift * np.asarray(value, dtype=float)
    return gain - np.asarray(cost, dtype=float)
