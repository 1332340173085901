"""What each recommended action of the radar covers: customers, value at risk, expected value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._frames import as_pandas
from repurchase_ml.errors import SchemaError

__all__ = ["action_summary"]

_NO_ACTION = "(no action)"


def action_summary(radar: Any) -> pd.DataFrame:
    """Customers, value at risk and expected value covered by each recommended action.

    Parameters
    ----------
    radar : DataFrame
        The radar list (:func:`repurchase_ml.radar.churn_radar`, pandas or
        polars) with ``action`` and ``value_at_risk``; ``action_id``,
        ``churn_probability``, ``value_if_retained`` and ``predicted_ltv``
        are summed or averaged when present.

    Returns
    -------
    DataFrame
        One row per action, most value at risk first: ``action_id`` (when the
        radar has it), ``action``, ``customers``, ``share_of_customers``,
        ``value_at_risk``, ``share_of_value_at_risk``, ``value_if_retained``
        (the net revenue the action keeps if it works), ``expected_value``
        (predicted LTV: what the customers are expected to bring as things
        stand) and ``mean_churn_probability``; NaN for a column the radar
        lacks. Customers without an action count under ``"(no action)"``.

    Examples
    --------
    >>> radar = pd.DataFrame({"customer_id": [1, 2, 3], "action": ["win back", "vip", "win back"],
    ...                       "value_at_risk": [30.0, 50.0, 10.0],
    ...                       "churn_probability": [0.6, 0.5, 0.2]})
    >>> action_summary(radar)[["action", "customers", "value_at_risk"]].values.tolist()
    [['vip', 1, 50.0], ['win back', 2, 40.0]]
    """
    frame = as_pandas(radar, argument="radar")
    for column in ("action", "value_at_risk"):
        if column not in frame.columns:
            raise SchemaError(column, "radar: required column is missing",
                              fix="pass the radar list of repurchase_ml.churn_radar (or the "
                                  "radar file the score job wrote)")
    keys = ["action_id", "action"] if "action_id" in frame.columns else ["action"]
    grouped = frame[keys].astype(object).fillna(_NO_ACTION)
    values = {name: (frame[name].astype(float) if name in frame.columns
                     else pd.Series(np.nan, index=frame.index))
              for name in ("value_at_risk", "value_if_retained", "predicted_ltv",
                           "churn_probability")}
    work = pd.concat([grouped, pd.DataFrame(values)], axis=1)
    table = work.groupby(keys, sort=False, dropna=False).agg(
        customers=("value_at_risk", "size"),
        value_at_risk=("value_at_risk", "sum"),
        value_if_retained=("value_if_retained", lambda s: s.sum(min_count=1)),
        expected_value=("predicted_ltv", lambda s: s.sum(min_count=1)),
        mean_churn_probability=("churn_probability", "mean"),
    ).reset_index()
    total_risk = float(table["value_at_risk"].sum())
    table.insert(len(keys) + 1, "share_of_customers",
                 table["customers"] / max(int(table["customers"].sum()), 1))
    table.insert(len(keys) + 3, "share_of_value_at_risk",
                 table["value_at_risk"] / total_risk if total_risk else np.nan)
    table["customers"] = table["customers"].astype(np.int64)
    return table.sort_values(["value_at_risk", "customers"], ascending=False, kind="stable") \
        .reset_index(drop=True)
