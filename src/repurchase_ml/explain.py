"""Why a model scores a customer the way it does: SHAP drivers and reasons in words.

Contributions come from LightGBM's own TreeSHAP (``pred_contrib=True``), which
is what the shap package calls for LightGBM models anyway, so scoring never
imports shap. The shap package is imported only to draw plots.

Contributions are in the model's raw score space (log-odds for a classifier):
a positive value pushes the score (e.g. churn risk) up.
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import KEY_COLUMNS

__all__ = [
    "contributions",
    "driver_ranking",
    "feature_directions",
    "top_drivers",
    "typical_values",
    "describe_feature",
    "is_telling",
    "reasons",
    "plot_drivers",
    "plot_dependence",
]

logger = logging.getLogger(__name__)

BIAS = "bias"


def _booster(model: Any) -> Any:
    import lightgbm as lgb

    if isinstance(model, lgb.Booster):
        return model
    booster = getattr(model, "booster_", None)
    if isinstance(booster, lgb.Booster):
        return booster
    raise TypeError(
        "model: expected a lightgbm.Booster or a fitted estimator with a `booster_` "
        f"(lightgbm.Booster) attribute, got {type(model).__name__}. Fit the model first."
    )


def contributions(model: Any, X: pd.DataFrame, *, num_threads: int | None = None) -> pd.DataFrame:
    """Per-row SHAP contributions of every feature, from LightGBM's TreeSHAP.

    Parameters
    ----------
    model : lightgbm.Booster or fitted estimator with ``booster_``
        A single-output LightGBM model (binary classifier or regressor).
    X : DataFrame
        Rows to explain; must hold every feature the model was trained on
        (extra columns such as ``customer_id`` are ignored).
    num_threads : int, optional
        Threads for LightGBM (rows are split across them); default: the
        model's setting (all cores).

    Returns
    -------
    DataFrame
        One column per model feature plus ``bias`` (the expected raw score);
        each row sums to the model's raw score. Index of ``X``.

    Examples
    --------
    >>> import lightgbm as lgb
    >>> X = pd.DataFrame({"a": np.arange(200.0), "b": np.tile([0.0, 1.0], 100)})
    >>> y = (X["a"] > 100).astype(int)
    >>> m = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    >>> c = contributions(m, X)
    >>> list(c.columns)
    ['a', 'b', 'bias']
    >>> bool(np.allclose(c.sum(axis=1), m.predict(X, raw_score=True)))
    True
    """
    booster = _booster(model)
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X: expected a pandas DataFrame, got {type(X).__name__}.")
    names = list(booster.feature_name())
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise SchemaError(
            missing[0],
            f"X lacks {len(missing)} feature(s) the model was trained on: {missing[:10]}",
            fix="build the rows with the same feature spec as the training set",
        )
    if booster.num_model_per_iteration() != 1:
        raise ValueError(
            "model: contributions support single-output models (binary or regression); "
            f"this one has {booster.num_model_per_iteration()} outputs per iteration."
        )
    rows = X[names]
    check = getattr(model, "check_features", None)
    if callable(check):  # the estimator's own dtype check, with a diff
        rows = check(rows)
    params = {} if num_threads is None else {"num_threads": int(num_threads)}
    values = booster.predict(rows, pred_contrib=True, **params)
    return pd.DataFrame(np.asarray(values), columns=[*names, BIAS], index=X.index)


def _feature_columns(contribs: pd.DataFrame) -> list[str]:
    if not isinstance(contribs, pd.DataFrame) or BIAS not in contribs.columns:
        raise TypeError("contribs: expected the DataFrame returned by contributions() "
                        f"(with a {BIAS!r} column).")
    return [c for c in contribs.columns if c != BIAS]


#: |Spearman rho| of value and contribution below which a feature has no direction ("mixed")
DIRECTION_MIN_RHO = 0.05
#: rows with a value needed before :func:`reasons` trusts a feature's direction
DIRECTION_MIN_ROWS = 30


def feature_directions(contribs: pd.DataFrame, X: pd.DataFrame, *,
                       min_rows: int = DIRECTION_MIN_ROWS) -> pd.Series:
    """How each feature moves the score across the explained rows.

    The Spearman correlation between a feature's value and its contribution:
    positive when higher values push the score up, negative when lower ones
    do, NaN when it cannot be told (fewer than ``min_rows`` rows with a
    value, or no variation). :func:`reasons` uses it so that a sentence never points
    against how the feature acts on everyone else.

    Examples
    --------
    >>> X = pd.DataFrame({"days_since_last_purchase": [10.0, 50.0, 200.0], "orders_all": [1.0, 1.0, 1.0]})
    >>> c = pd.DataFrame({"days_since_last_purchase": [-0.5, 0.1, 0.9], "orders_all": [0.0, 0.0, 0.0],
    ...                   "bias": [0.0, 0.0, 0.0]})
    >>> feature_directions(c, X, min_rows=3).round(2).tolist()
    [1.0, nan]
    """
    cols = _feature_columns(contribs)
    rhos = {}
    for c in cols:
        pair = pd.DataFrame({"x": X[c].to_numpy(dtype=float),
                             "s": contribs[c].to_numpy(dtype=float)}).dropna()
        varies = len(pair) >= max(min_rows, 3) and pair["x"].nunique() > 1 \
            and pair["s"].nunique() > 1
        rhos[c] = float(pair["x"].corr(pair["s"], method="spearman")) if varies else np.nan
    return pd.Series(rhos, index=cols, dtype=float)


def driver_ranking(contribs: pd.DataFrame, X: pd.DataFrame | None = None) -> pd.DataFrame:
    """Global ranking of drivers by mean absolute contribution.

    Parameters
    ----------
    contribs : DataFrame
        Output of :func:`contributions`.
    X : DataFrame, optional
        The explained rows; adds ``direction``: whether higher values of the
        feature push the score up or down (sign of the Spearman correlation
        between value and contribution).

    Returns
    -------
    DataFrame
        ``feature``, ``mean_abs_contribution``, ``share`` (of the total),
        ``mean_contribution`` and, with ``X``, ``direction``; sorted, most
        important first.

    Examples
    --------
    >>> c = pd.DataFrame({"a": [1.0, -1.0], "b": [0.1, 0.3], "bias": [0.0, 0.0]})
    >>> driver_ranking(c)["feature"].tolist()
    ['a', 'b']
    """
    cols = _feature_columns(contribs)
    values = contribs[cols]
    mean_abs = values.abs().mean()
    total = float(mean_abs.sum()) or 1.0
    out = pd.DataFrame({
        "feature": cols,
        "mean_abs_contribution": mean_abs.to_numpy(),
        "share": (mean_abs / total).to_numpy(),
        "mean_contribution": values.mean().to_numpy(),
    })
    if X is not None:
        rho = feature_directions(contribs, X, min_rows=3).to_numpy()
        out["direction"] = np.where(rho > DIRECTION_MIN_RHO, "higher raises score",
                                    np.where(rho < -DIRECTION_MIN_RHO, "lower raises score",
                                             "mixed"))
    out = out.sort_values(["mean_abs_contribution", "feature"], ascending=[False, True],
                          kind="stable")
    return out.reset_index(drop=True)


def top_drivers(contribs: pd.DataFrame, *, top: int = 3, min_contribution: float = 0.0) -> pd.DataFrame:
    """The ``top`` features pushing each row's score up, largest contribution first.

    Only contributions above ``min_contribution`` count; a row with fewer has
    missing values in the last slots.

    Returns
    -------
    DataFrame
        ``driver_1 .. driver_{top}`` (feature names) and ``contribution_1 ..``,
        index of ``contribs``.

    Examples
    --------
    >>> c = pd.DataFrame({"a": [0.5, -0.2], "b": [0.9, 0.1], "bias": [0.0, 0.0]})
    >>> top_drivers(c, top=2).iloc[0].tolist()
    ['b', 'a', np.float64(0.9), np.float64(0.5)]
    """
    if not isinstance(top, int) or top < 1:
        raise ValueError(f"top: expected a positive integer, got {top!r}.")
    cols = np.asarray(_feature_columns(contribs), dtype=object)
    values = contribs[list(cols)].to_numpy(dtype=float)
    k = min(top, values.shape[1])
    # stable descending order; ties keep column order
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(values, order, axis=1)
    names = cols[order]
    keep = chosen > min_contribution
    out: dict[str, Any] = {}
    for j in range(top):
        if j < k:
            driver = names[:, j].copy()
            driver[~keep[:, j]] = None
            out[f"driver_{j + 1}"] = driver
            out[f"contribution_{j + 1}"] = np.where(keep[:, j], chosen[:, j], np.nan)
        else:
            out[f"driver_{j + 1}"] = np.full(len(values), None, dtype=object)
            out[f"contribution_{j + 1}"] = np.full(len(values), np.nan)
    frame = pd.DataFrame(out, index=contribs.index)
    return frame[[f"driver_{j + 1}" for j in range(top)] + [f"contribution_{j + 1}" for j in range(top)]]


def typical_values(features: pd.DataFrame, *, columns: Sequence[str] | None = None) -> pd.Series:
    """Typical value of each feature: the population median (NaN ignored).

    Compute it on the whole population at a cutoff, then pass it to
    :func:`reasons` for the few rows being explained.

    Examples
    --------
    >>> float(typical_values(pd.DataFrame({"customer_id": [1, 2, 3], "x": [1.0, 2.0, 10.0]}))["x"])
    2.0
    """
    cols = list(columns) if columns is not None else [
        c for c in features.columns
        if c not in KEY_COLUMNS and pd.api.types.is_numeric_dtype(features[c])
    ]
    return features[cols].median(numeric_only=True)


# ---------------------------------------------------------------------------
# reasons in words


def _info(name: str) -> tuple[str, int | None, str]:
    """(unit, window_days, description) of a feature; a readable guess for unknown names."""
    from repurchase_ml.features.custom import described

    own = described(name)  # the user's features are looked up each time: declared any time
    return (own.unit, own.window_days, own.description) if own is not None \
        else _catalogue_info(name)


@functools.lru_cache(maxsize=4096)
def _catalogue_info(name: str) -> tuple[str, int | None, str]:
    from repurchase_ml.features import feature_info

    try:
        info = feature_info(name)
    except KeyError:
        return "value", None, name.replace("_", " ")
    return info.unit, info.window_days, info.description


def feature_label(name: str, language: str = "en") -> str:
    """A feature's description in ``language``: what a report prints instead of its column name.

    English descriptions are the features' own (:func:`~repurchase_ml.features.feature_info`);
    other languages read the catalogue's ``feature.<template>`` (``orders_{w}d``).

    Examples
    --------
    >>> feature_label("orders_90d"), feature_label("orders_90d", "zh")
    ('orders in the last 90 days', '近 90 天订单数')
    """
    from repurchase_ml import i18n

    _unit, window, description = _info(name)
    if language == "en":
        return description
    key = re.sub(rf"_{window}d(?=_|$)", "_{w}d", name) if window is not None else name
    if i18n.has(f"feature.{key}", language):
        return i18n.text(f"feature.{key}", language, w=window)
    return description


def _num(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.1f}" if abs(v) >= 1 else f"{v:.2g}"


def _say(key: str, language: str, /, **values: Any) -> str:
    """The reason template ``reason.<key>`` of the message catalogue, filled."""
    from repurchase_ml import i18n

    return i18n.text(f"reason.{key}", language, **values)


def _typical(t: float | None, fmt: Callable[[float], str] = _num, language: str = "en") -> str:
    return "" if t is None or not math.isfinite(t) else _say("typical", language, value=fmt(t))


#: how a value of each unit is shown in a reason (and compared with the typical value)
_SHOWN: dict[str, Callable[[float], str]] = {
    "days": lambda x: f"{x:.0f}", "count": _num, "currency": lambda x: f"{x:,.2f}",
    "share": lambda x: f"{x:.0%}", "tier": lambda x: f"{x:.2f}",
    "hour": lambda x: f"{x:02.0f}", "per_month": lambda x: f"{x:+.2f}",
}


def _shown(unit: str, x: float) -> str:
    """``x`` as a reason shows it; a zero keeps no sign ("+0.00" and "-0.00" read "0.00")."""
    text = _SHOWN.get(unit, lambda v: f"{v:.3g}")(x)
    return text.lstrip("+-") if not any(c in "123456789" for c in text) else text


def _change(name: str, v: float, window: int, row: Mapping[str, Any], *, money: bool,
            language: str = "en") -> str:
    from repurchase_ml import i18n

    base = name.split("_change_")[0]
    noun = i18n.label("reason.noun", base, language) if i18n.has(
        f"reason.noun.{base}", language) else base.replace("_", " ")
    fmt: Callable[[float], str] = (lambda x: f"{x:,.2f}") if money else _num
    current: float | None
    if base == "interactions":
        parts = [_as_float(row.get(f"{p}_{window}d")) for p in ("views", "carts", "favorites")]
        current = None if None in parts else sum(p for p in parts if p is not None)
    else:
        current = _as_float(row.get(f"{base}_{window}d"))
    if current is not None:
        now = (_say("change_none", language, noun=noun) if current == 0 else
               _say("change_money" if money else "change_count", language, noun=noun,
                    value=fmt(current)))
        return _say("change_after", language, now=now, w=window, before=fmt(current - v))
    return _say("change_money_delta" if money else "change_count_delta", language, noun=noun,
                w=window, delta=f"{v:+,.2f}" if money else f"{v:+,.0f}")


def _as_float(x: Any) -> float | None:
    """``x`` as a finite float, or None (missing, NaN, infinite or not a number)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# gaps between purchase days that are one fact when equal (a two-order customer has one gap)
_SAME_GAP = {"gap_mean_days", "gap_median_days", "gap_last_days"}

# features undefined until a customer's second order
_RHYTHM = {"gap_mean_days", "gap_median_days", "gap_std_days", "gap_last_days", "overdue_ratio",
           "days_until_expected_purchase", "first_to_second_gap_days"}


def _missing_sentence(name: str, row: Mapping[str, Any], language: str = "en") -> str | None:
    """What a missing value says about the customer, or None when it says nothing."""
    unit, window, _ = _info(name)
    orders = _as_float(row.get("orders_all"))
    if name in _RHYTHM and orders is not None and orders <= 1:
        return _say("one_order", language)
    if window is not None and unit in ("currency", "ratio", "tier", "share"):
        # value-mix features of a window are undefined when nothing was bought in it
        return _say("no_orders_window", language, w=window)
    return None


def is_telling(name: str, value: Any, *, typical: float | None = None,
               row: Mapping[str, Any] | None = None, direction: float | None = None) -> bool:
    """Whether a feature's value can be a reason: it differs from the typical one.

    A missing value tells something only when the missingness is a fact about
    the customer (one order so far: no rhythm; nothing bought in a window);
    a present value only when it differs from ``typical`` as a reason shows
    it (``0%`` against a typical ``0%`` says nothing) and, given the feature's
    ``direction`` (see :func:`feature_directions`), lies on the side of
    ``typical`` that raises the score: "3 orders in the last year (typical 1)"
    is no reason to churn where more orders lower churn risk for everyone
    else, whatever an interaction gives this one row.

    Examples
    --------
    >>> is_telling("weekend_share", 0.0, typical=0.0)
    False
    >>> is_telling("monthly_order_slope", -0.001, typical=0.0)
    False
    >>> is_telling("gap_std_days", float("nan"), row={"orders_all": 2})
    False
    >>> is_telling("gap_std_days", float("nan"), row={"orders_all": 1})
    True
    >>> is_telling("orders_90d", 0.0, typical=2.0)
    True
    >>> is_telling("orders_365d", 3.0, typical=1.0, direction=-0.6)
    False
    """
    raw = _as_float(value)
    if raw is None:
        return _missing_sentence(name, row or {}) is not None
    t = _as_float(typical)
    if t is None:
        return True
    unit = _info(name)[0]
    if _shown(unit, raw) == _shown(unit, t):
        return False
    rho = _as_float(direction)
    return rho is None or abs(rho) <= DIRECTION_MIN_RHO or (raw > t) == (rho > 0)


def describe_feature(
    name: str,
    value: float,
    *,
    typical: float | None = None,
    row: Mapping[str, Any] | None = None,
    language: str = "en",
) -> str:
    """A sentence a CRM operator understands for one feature's value.

    The template is chosen by the feature's unit and family from
    :func:`repurchase_ml.features.feature_info`, so any feature gets a
    sentence; a few rhythm features read the customer's own usual gap from
    ``row``. ``typical`` (e.g. the population median) is shown for comparison.
    The templates are the ``reason`` messages of the catalogue of ``language``
    (``en`` or ``zh``, see :mod:`repurchase_ml.i18n`).

    Examples
    --------
    >>> describe_feature("days_since_last_purchase", 38, row={"gap_median_days": 12})
    '38 days since the last order; usually buys every 12 days'
    >>> describe_feature("interactions_change_30d", -14,
    ...                  row={"views_30d": 0, "carts_30d": 0, "favorites_30d": 0})
    'no views, carts or favourites in the last 30 days after 14 in the 30 before'
    >>> describe_feature("orders_90d", 0, typical=2)
    'no orders in the last 90 days (typical 2)'
    >>> describe_feature("days_since_last_purchase", 38, row={"gap_median_days": 12},
    ...                  language="zh")
    '距上次下单已 38 天，平时每 12 天左右下单一次'
    """
    row = row or {}
    lang = language
    unit, window, desc = _info(name)
    if lang != "en":
        desc = feature_label(name, lang)
    raw = _as_float(value)
    if raw is None:
        return _missing_sentence(name, row, lang) or _say("unknown", lang, desc=desc)
    v = raw + 0.0  # no "-0"
    t = _as_float(typical)
    t = None if t is None else t + 0.0
    gap = _as_float(row.get("gap_median_days"))
    if name == "days_since_last_purchase":
        if gap is not None:
            return _say("since_last_gap", lang, days=f"{v:.0f}", gap=f"{gap:.0f}")
        return _say("since_last", lang, days=f"{v:.0f}") + _typical(
            t, lambda x: _say("n_days", lang, days=f"{x:.0f}"), lang)
    if name == "overdue_ratio":
        text = _say("overdue", lang, ratio=f"{v:.1f}")
        since = _as_float(row.get("days_since_last_purchase"))
        if gap is not None and since is not None:
            text += _say("overdue_detail", lang, since=f"{since:.0f}", gap=f"{gap:.0f}")
        return text
    if name == "days_until_expected_purchase":
        if v < 0:
            return _say("next_overdue", lang, days=f"{-v:.0f}")
        return _say("next_expected", lang, days=f"{v:.0f}")
    if "_change_" in name and window is not None and unit in ("count", "currency"):
        return _change(name, v, window, row, money=unit == "currency", language=lang)
    if unit == "days":
        shown, one = f"{v:.0f}", f"{v:.0f}" == "1"
        if lang == "en" and desc.startswith("days "):  # "45 days since ..." / "1 day since ..."
            body = _say("days_lead_one" if one else "days_lead", lang, value=shown, rest=desc[4:])
        else:
            body = _say("days_value_one" if one else "days_value", lang, desc=desc, value=shown)
        return body + _typical(t, lambda x: f"{x:.0f}", lang)
    if unit == "count":
        return (_say("count_zero", lang, desc=desc) if v == 0 else
                _say("count", lang, desc=desc, value=_num(v))) + _typical(t, _num, lang)
    if unit == "currency":
        return (_say("money_zero", lang, desc=desc) if v == 0 and window else
                _say("money", lang, desc=desc, value=f"{v:,.2f}")) + _typical(
            t, lambda x: f"{x:,.2f}", lang)
    if unit == "share":
        return _say("share", lang, desc=desc, value=f"{v:.0%}") + _typical(
            t, lambda x: f"{x:.0%}", lang)
    if unit == "tier":
        short = re.split(r" \(|（", desc)[0]
        if "drift" in name:
            direction = _say("cheaper" if v < 0 else "pricier", lang)
            recent, overall = (_as_float(row.get(c)) for c in (f"price_tier_{window}d",
                                                                 "price_tier_all"))
            if recent is not None and overall is not None:
                return _say("drift_detail", lang, direction=direction, recent=f"{recent:.2f}",
                            w=window, overall=f"{overall:.2f}")
            return _say("drift", lang, direction=direction, value=f"{abs(v):.2f}",
                        change=_say("down" if v < 0 else "up", lang))
        return _say("tier", lang, desc=short, value=f"{v:.2f}") + _typical(
            t, lambda x: _say("times", lang, value=f"{x:.2f}"), lang)
    if unit == "hour":
        return _say("hour", lang, desc=desc, value=f"{v:02.0f}:00") + _typical(
            t, lambda x: f"{x:02.0f}:00", lang)
    if unit == "per_month":
        return _say("per_month", lang, desc=desc, value=f"{v:+.2f}") + _typical(
            t, lambda x: f"{x:+.2f}", lang)
    return _say("value", lang, desc=desc, value=f"{v:.3g}") + _typical(
        t, lambda x: f"{x:.3g}", lang)


def reasons(
    contribs: pd.DataFrame,
    X: pd.DataFrame,
    *,
    top: int = 3,
    typical: pd.Series | Mapping[str, float] | None = None,
    min_contribution: float = 0.0,
    directions: pd.Series | None = None,
    language: str = "en",
) -> pd.DataFrame:
    """The top drivers pushing each row's score up, as sentences.

    ``reason_1`` renders the feature with the largest positive contribution,
    ``reason_2`` the next, and so on (see :func:`top_drivers`). A driver is
    skipped for the next when its value says nothing about the customer
    (:func:`is_telling`: missing without meaning, shown the same as the
    typical value, or on the side of it that lowers the score for everyone
    else, see :func:`feature_directions`) or it repeats an earlier fact (the
    same sentence, or the mean, median and last gap of a two-order customer,
    which are one gap) (e.g. several
    rhythm features undefined for a one-time buyer); slots without such a
    driver are missing: fewer reasons rather than a meaningless one.

    Parameters
    ----------
    contribs : DataFrame
        Output of :func:`contributions` for the rows of ``X`` (same index).
    X : DataFrame
        Feature values of those rows.
    top : int, default 3
        Reasons per row.
    typical : Series or mapping, optional
        Typical value per feature (see :func:`typical_values`); default: the
        median of ``X``. Pass the whole population's medians when ``X`` is only
        the rows being explained.
    min_contribution : float, default 0.0
        Contributions at or below this are not reasons.
    directions : Series, optional
        :func:`feature_directions` of the population; default: those of
        ``contribs`` and ``X`` (none below ``DIRECTION_MIN_ROWS`` rows, 30). Pass the population's when ``X`` is only
        the top of a list (its extremes can show a direction the population
        does not have).
    language : {"en", "zh"}, default "en"
        Language of the sentences (:func:`describe_feature`).

    Returns
    -------
    DataFrame
        ``reason_1 .. reason_{top}``, index of ``contribs``.

    Examples
    --------
    >>> X = pd.DataFrame({"orders_90d": [0.0], "days_since_last_purchase": [38.0],
    ...                   "gap_median_days": [12.0]})
    >>> c = pd.DataFrame({"orders_90d": [0.4], "days_since_last_purchase": [1.2],
    ...                   "gap_median_days": [-0.1], "bias": [0.0]})
    >>> reasons(c, X, top=2, typical={"orders_90d": 2}).iloc[0].tolist()
    ['38 days since the last order; usually buys every 12 days', 'no orders in the last 90 days (typical 2)']
    """
    if not isinstance(X, pd.DataFrame):
        raise TypeError(f"X: expected a pandas DataFrame, got {type(X).__name__}.")
    if len(X) != len(contribs) or not X.index.equals(contribs.index):
        raise ValueError("contribs and X: expected the same rows (same index, same order); "
                         f"got {len(contribs)} and {len(X)} rows.")
    # spare drivers, for those that repeat a fact or say nothing about the customer
    spare = top + 6
    drivers = top_drivers(contribs, top=spare, min_contribution=min_contribution)
    typ = typical_values(X, columns=_feature_columns(contribs)) if typical is None else pd.Series(
        typical, dtype=float)
    missing = [c for c in _feature_columns(contribs) if c not in X.columns]
    if missing:
        raise SchemaError(missing[0], f"X lacks features that contribs explains: {missing[:10]}",
                          fix="pass the same rows the contributions were computed on")
    if directions is None:
        directions = feature_directions(contribs, X)
    context_cols = [c for c in X.columns if c.startswith("price_tier_") or c in (
        "gap_median_days", "days_since_last_purchase", "orders_all", "views_30d", "carts_30d",
        "favorites_30d")]
    names = [c for c in X.columns if c not in KEY_COLUMNS]
    values = {c: X[c].to_numpy() for c in names}
    chosen = drivers[[f"driver_{j}" for j in range(1, spare + 1)]].to_numpy()
    texts = np.full((len(X), top), None, dtype=object)
    for i in range(len(X)):
        context = {c: values[c][i] for c in context_cols}
        said: list[str] = []
        gaps_said: set[float] = set()
        for feature in chosen[i]:
            if feature is None or len(said) == top:
                break
            row = {c: values[c][i] for c in names} if "_change_" in feature else context
            value, typical_value = values[feature][i], typ.get(feature)
            if not is_telling(feature, value, typical=typical_value, row=row,
                              direction=directions.get(feature)):
                continue
            text = describe_feature(feature, value, typical=typical_value, row=row,
                                    language=language)
            gap = _as_float(value) if feature in _SAME_GAP else None
            if text not in said and (gap is None or gap not in gaps_said):
                said.append(text)
                if gap is not None:
                    gaps_said.add(gap)
        texts[i, : len(said)] = said
    return pd.DataFrame(texts, columns=[f"reason_{j}" for j in range(1, top + 1)],
                        index=contribs.index)


# ---------------------------------------------------------------------------
# plots (these import shap)


def _explanation(contribs: pd.DataFrame, X: pd.DataFrame) -> Any:
    try:
        import shap
    except ImportError as exc:  # pragma: no cover - shap is a core dependency
        raise ImportError("plotting drivers needs the shap package: pip install shap") from exc
    cols = _feature_columns(contribs)
    return shap.Explanation(
        values=contribs[cols].to_numpy(),
        base_values=contribs[BIAS].to_numpy(),
        data=X[cols].to_numpy(dtype=float),
        feature_names=cols,
    )


def plot_drivers(
    contribs: pd.DataFrame, X: pd.DataFrame, *, kind: str = "bar", max_display: int = 15
) -> Any:
    """Global driver plot: ``kind="bar"`` (mean |SHAP|) or ``"beeswarm"``.

    Returns a matplotlib Figure (closed, so a notebook shows it once and a run
    can ``fig.savefig(...)`` it).

    Examples
    --------
    >>> X = pd.DataFrame({"a": np.arange(40.0), "b": np.tile([0.0, 1.0], 20)})
    >>> c = pd.DataFrame({"a": X["a"] / 40 - 0.5, "b": 0.1 * X["b"], "bias": 0.0})
    >>> fig = plot_drivers(c, X, kind="beeswarm")
    >>> type(fig).__name__, fig.axes[0].get_xlabel()[:5]
    ('Figure', 'SHAP ')
    """
    import matplotlib.pyplot as plt

    if kind not in ("bar", "beeswarm"):
        raise ValueError(f"kind: expected 'bar' or 'beeswarm', got {kind!r}.")
    import shap

    explanation = _explanation(contribs, X)
    n = min(max_display, explanation.shape[1])
    fig, ax = plt.subplots(figsize=(8, 0.4 * n + 1.5))
    if kind == "bar":
        shap.plots.bar(explanation, max_display=max_display, ax=ax, show=False)
    else:
        shap.plots.beeswarm(explanation, max_display=max_display, ax=ax, show=False, plot_size=None)
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_dependence(
    contribs: pd.DataFrame, X: pd.DataFrame, *, features: Sequence[str] | None = None, top: int = 3
) -> Any:
    """Dependence plots (value against contribution), one panel per feature.

    ``features`` defaults to the ``top`` drivers of :func:`driver_ranking`.
    Returns a closed matplotlib Figure.

    Examples
    --------
    >>> X = pd.DataFrame({"a": np.arange(40.0), "b": np.tile([0.0, 1.0], 20)})
    >>> c = pd.DataFrame({"a": X["a"] / 40 - 0.5, "b": 0.1 * X["b"], "bias": 0.0})
    >>> fig = plot_dependence(c, X, top=2)
    >>> type(fig).__name__, [ax.get_xlabel() for ax in fig.axes[:2]]
    ('Figure', ['a', 'b'])
    """
    import matplotlib.pyplot as plt
    import shap

    if features is None:
        features = driver_ranking(contribs)["feature"].head(top).tolist()
    unknown = [f for f in features if f not in contribs.columns or f == BIAS]
    if unknown:
        raise ValueError(f"features: {unknown} are not explained features; "
                         f"choose from {_feature_columns(contribs)[:10]}...")
    explanation = _explanation(contribs, X)
    fig, axes = plt.subplots(1, len(features), figsize=(4.5 * len(features), 3.8), squeeze=False)
    for ax, feature in zip(axes[0], features, strict=True):
        shap.plots.scatter(explanation[:, feature], ax=ax, show=False, hist=False)
    fig.tight_layout()
    plt.close(fig)
    return fig
