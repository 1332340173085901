"""Your own features beside the built-in ones, from training to the radar's reasons.

Two sources, both keyed by (``customer_id``, ``cutoff``):

- **A registered function** of ``(events, cutoff)``
  (:func:`register_feature`), computed wherever features are built: the
  training set, scoring, the radar and the score job. It receives only the
  events *before* the cutoff, so it cannot read the future, however it is
  written.
- **A frame** of values you computed elsewhere (a CRM export, a survey
  score), passed as ``extra_features=`` to ``build_training_set``,
  ``build_features`` and ``churn_radar``; at scoring time it must hold the
  values at the scoring cutoff. Its values are yours to keep point-in-time.

Declare either kind in ``FeatureSpec(custom=...)`` with a description, and
the description is what the radar's reasons and the served model say about
the feature ("share of orders with a coupon in the last 90 days: 60%
(typical 10%)"). The spec, with its descriptions, is pickled with the served
model; a registered function is looked up by name, so the process that
scores must have registered it (import the module that registers it).

Examples
--------
>>> import pandas as pd
>>> from repurchase_ml.features import FeatureSpec, build_features
>>> def big_orders(events, cutoff):
...     buys = events[events["event_type"] == "purchase"]
...     return (buys["amount"] >= 20).groupby(buys["customer_id"]).sum()
>>> feature = register_feature("big_orders", big_orders, description="orders of 20 or more",
...                            unit="count")
>>> ev = pd.DataFrame({"customer_id": [1, 1, 2], "timestamp": pd.to_datetime(
...     ["2024-01-01", "2024-01-20", "2024-01-05"]), "event_type": pd.Categorical(
...     ["purchase"] * 3, categories=["purchase", "refund", "view", "cart", "favorite"]),
...     "amount": [25.0, 30.0, 5.0]})
>>> spec = FeatureSpec(families=("rfm",), windows=(30,), custom=(feature,))
>>> build_features(ev, cutoffs="2024-01-10", spec=spec)[["customer_id", "orders_all",
...                                                      "big_orders"]]
   customer_id  orders_all  big_orders
0            1         1.0         1.0
1            2         1.0         0.0
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml._frames import as_pandas, is_polars
from repurchase_ml.errors import SchemaError
from repurchase_ml.features.spec import (  # declared beside the built-ins they must not shadow
    _FUNCTIONS,
    KEYS,
    CustomFeature,
    described,
    register_feature,
    registered_features,
)

__all__ = [
    "CustomFeature",
    "add_custom_features",
    "check_model_columns",
    "described",
    "register_feature",
    "registered_features",
]

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------- computing
def _values(result: Any, feature: CustomFeature, cutoff: pd.Timestamp) -> pd.Series:
    """What a registered function returned, as float values indexed by customer id."""
    where = f"custom feature {feature.name!r} at {cutoff.date()}"
    if is_polars(result):
        result = as_pandas(result, argument=where)
    if isinstance(result, pd.DataFrame):
        if "customer_id" not in result.columns or feature.name not in result.columns:
            raise SchemaError(feature.name, f"{where}: the function returned a frame without "
                              f"'customer_id' and {feature.name!r} columns",
                              fix="return a Series indexed by customer_id, or a frame with "
                              "both columns")
        result = result.set_index("customer_id")[feature.name]
    if not isinstance(result, pd.Series):
        raise TypeError(f"{where}: the function must return a Series indexed by customer_id or "
                        f"a frame, got {type(result).__name__}.")
    if result.index.duplicated().any():
        raise SchemaError(feature.name, f"{where}: the function returned several values for "
                          "one customer", examples=result.index[result.index.duplicated()]
                          .tolist(), fix="return one value per customer (e.g. a groupby result)")
    return _numeric(result, where=where, column=feature.name)


def _numeric(values: pd.Series, *, where: str, column: str) -> pd.Series:
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)) \
            or pd.api.types.is_complex_dtype(values):
        raise SchemaError(column, f"{where}: values must be numbers or booleans, got dtype "
                          f"{values.dtype}", fix="encode the values as numbers")
    return values.astype("float64")


def _events_before(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return events.loc[events["timestamp"] < cutoff].reset_index(drop=True)


def _computed(features: pd.DataFrame, events: pd.DataFrame,
              feature: CustomFeature) -> np.ndarray:
    """A registered feature's value for every row of ``features``, cutoff by cutoff."""
    function = _FUNCTIONS.get(feature.name)
    if function is None:
        raise ValueError(
            f"custom feature {feature.name!r}: no function is registered under this name in this "
            f"process (registered: {registered_features()}). Fix: import or run the code that "
            f"calls repurchase_ml.register_feature({feature.name!r}, ...) before building "
            "features or scoring.")
    out = np.full(len(features), np.nan)
    for cutoff, rows in features.groupby("cutoff", sort=True).indices.items():
        cutoff = pd.Timestamp(cutoff)
        values = _values(function(_events_before(events, cutoff), cutoff), feature, cutoff)
        out[rows] = values.reindex(features["customer_id"].to_numpy()[rows]).to_numpy()
    return out


def _check_extra(extra: Any, features: pd.DataFrame, builtin: Sequence[str]) -> pd.DataFrame:
    """The ``extra_features`` frame, checked: keys, one row per key, numeric values, new names."""
    extra = as_pandas(extra, argument="extra_features")
    for key in KEYS:
        if key not in extra.columns:
            raise SchemaError(key, "extra_features: key column is missing",
                              fix="pass a frame with customer_id, cutoff and your feature columns")
    values = [c for c in extra.columns if c not in KEYS]
    if not values:
        raise SchemaError(None, "extra_features has no feature column besides customer_id and "
                          "cutoff", fix="add the columns of your features")
    clash = [c for c in values if c in builtin]
    if clash:
        raise SchemaError(clash[0], "extra_features: these columns are built-in features "
                          f"{clash[:5]}", fix="rename your columns (e.g. with a 'my_' prefix)")
    extra = extra.assign(cutoff=pd.to_datetime(extra["cutoff"]).astype("datetime64[ns]"))
    duplicated = extra.duplicated(list(KEYS))
    if duplicated.any():
        raise SchemaError("customer_id", "extra_features holds several rows for one "
                          "(customer_id, cutoff)", n_rows=int(duplicated.sum()),
                          examples=extra.loc[duplicated, "customer_id"].tolist(),
                          fix="keep one row per customer and cutoff")
    for column in values:
        extra[column] = _numeric(extra[column], where="extra_features", column=column)
    matched = features[list(KEYS)].merge(extra[list(KEYS)], on=list(KEYS), how="inner")
    if len(features) and matched.empty:
        raise SchemaError("cutoff", "extra_features: none of its (customer_id, cutoff) pairs is "
                          f"a feature row (its cutoffs: {sorted(extra['cutoff'].dt.date.unique())[:3]}"
                          f"; the features': {sorted(features['cutoff'].dt.date.unique())[:3]})",
                          fix="give the values at the cutoffs the features are built at (the "
                          "as-of date when scoring), with the same customer ids")
    if len(matched) < len(features):
        logger.info("extra_features: %d of %d feature rows have no values (left missing)",
                    len(features) - len(matched), len(features))
    return extra


def add_custom_features(features: pd.DataFrame, events: Any, spec: Any,
                        extra_features: Any = None) -> pd.DataFrame:
    """``features`` with the spec's registered features and the ``extra_features`` columns added.

    Columns follow the built-in ones: the spec's custom features in their
    order, then the frame's other columns. A custom feature declared without
    a function must be a column of ``extra_features``.
    """
    custom = tuple(getattr(spec, "custom", ()) or ())
    if not custom and extra_features is None:
        return features
    builtin = [c for c in features.columns if c not in KEYS]
    extra = None if extra_features is None else _check_extra(extra_features, features, builtin)
    out = features.copy()
    if any(f.computed for f in custom):
        events = as_pandas(events, argument="events")  # once: functions get pandas events
    for feature in custom:
        if feature.computed:
            out[feature.name] = _computed(features, events, feature)
        elif extra is None or feature.name not in extra.columns:
            raise SchemaError(feature.name, "the spec declares this custom feature without a "
                              "function, so its values come from extra_features, which lacks it",
                              fix=f"pass extra_features= with customer_id, cutoff and "
                              f"{feature.name!r} (at the as-of date when scoring), or register a "
                              "function for it with repurchase_ml.register_feature")
    if extra is not None:
        added = [c for c in extra.columns if c not in KEYS and c not in out.columns]
        computed = [f.name for f in custom if f.computed and f.name in extra.columns]
        if computed:
            raise SchemaError(computed[0], "extra_features holds a column the spec computes "
                              "with a registered function", fix="drop one of the two")
        out = out.merge(extra[[*KEYS, *added]], on=list(KEYS), how="left", validate="one_to_one")
        out.attrs = dict(features.attrs)
        declared = [f.name for f in custom]
        out = out[[*KEYS, *builtin, *declared, *[c for c in added if c not in declared]]]
    return out


def check_model_columns(feature_names: Sequence[str], features: pd.DataFrame) -> None:
    """Refuse features that lack a custom column the model was trained on, saying how to add it.

    Examples
    --------
    >>> check_model_columns(["orders_all", "my_coupon_share"],
    ...                     pd.DataFrame(columns=["customer_id", "cutoff", "orders_all"]))
    Traceback (most recent call last):
    ...
    repurchase_ml.errors.SchemaError: column 'my_coupon_share': the model was trained on features that were not built here: ['my_coupon_share']. Fix: pass extra_features= (customer_id, cutoff = the as-of date, and these columns) for features from a frame, and spec= with the custom features the training set used for registered ones.
    """
    missing = [c for c in feature_names if c not in features.columns]
    if missing:
        raise SchemaError(missing[0], "the model was trained on features that were not built "
                          f"here: {missing[:10]}",
                          fix="pass extra_features= (customer_id, cutoff = the as-of date, and "
                          "these columns) for features from a frame, and spec= with the custom "
                          "features the training set used for registered ones")
