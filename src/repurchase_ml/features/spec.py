"""Feature specification and the catalogue of every feature column.

The catalogue is the single source of truth for feature names, their order,
their family, window, unit and a one-line description. ``build_features``
emits exactly ``feature_names(spec, ...)`` and ``feature_info`` describes any
name it can emit, so reasons in words and model signatures stay in step with
the engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import pandas as pd

from repurchase_ml.features.orders import check_cancellation_window, check_order_definition

__all__ = [
    "FAMILIES",
    "FeatureInfo",
    "FeatureSpec",
    "feature_info",
    "feature_names",
]

FAMILIES: tuple[str, ...] = (
    "rfm",
    "rhythm",
    "trend",
    "engagement",
    "value",
    "breadth",
    "habits",
    "lifecycle",
)

Unit = Literal["days", "count", "currency", "ratio", "share", "hour", "tier", "per_month"]

#: window (days) of the fixed-window features of the value-mix family
VALUE_WINDOW_DAYS = 90
#: window (days) of the fixed-window engagement features
ENGAGEMENT_RECENT_DAYS = 30
#: the same period last year: the days from one year (365 days) before the cutoff
SAME_PERIOD_DAYS = 90


@dataclass(frozen=True)
class FeatureSpec:
    """What ``build_features`` computes.

    Parameters
    ----------
    windows : tuple of int
        Look-back windows in days for the per-window counts (RFM and
        engagement). A window ``w`` covers ``cutoff - w days <= timestamp < cutoff``.
    families : tuple of str
        Feature families to compute, any of :data:`FAMILIES`.
    trend_windows : tuple of int
        Windows ``w`` for which the last ``w`` days are compared with the
        ``w`` days before them.
    slope_months : int
        Number of 30-day months in the least-squares slope of monthly orders.
    night_hours : tuple of int
        ``(start, end)`` hours of the night, end exclusive; ``(22, 6)`` means
        22:00-05:59.
    promo_days : tuple of (month, day)
        Promotion days of every year (default 11.11 and 6.18).
    behaviour : bool or None
        Compute the engagement family. ``None`` (default) decides from the
        log: on when it holds any ``view``, ``cart`` or ``favorite`` event.
    order_definition : {"order_id", "customer_day"}
        What one order is, for the features and the labels alike:
        ``"order_id"`` (default) a distinct ``order_id`` of a customer (a
        purchase row without one is an order of its own); ``"customer_day"``
        all purchase rows of a customer on one calendar day, at the first
        row's time. See :mod:`repurchase_ml.features.orders`.
    cancellation_window_days : float
        A refund of at least an order's value at most this many days after it
        (same customer; same ``order_id`` when both have one) cancels the
        order: from the refund on, neither counts (orders, money, gaps, labels).
        Default 1 day; 0 keeps every order.
    custom : tuple of CustomFeature (or names of registered features)
        Your own feature columns, added after the built-in ones (see
        :mod:`repurchase_ml.features.custom` and ``docs/custom-features.md``):
        a feature registered with :func:`~repurchase_ml.features.custom.register_feature`
        is computed from the events before each cutoff; a
        :class:`~repurchase_ml.features.custom.CustomFeature` without a
        function comes from the ``extra_features`` frame. Their descriptions
        travel with the spec into the served model and the radar's reasons.

    Examples
    --------
    >>> FeatureSpec(windows=(30, 90)).windows
    (30, 90)
    >>> FeatureSpec(families=("rfm", "lifecycle")).families
    ('rfm', 'lifecycle')
    """

    windows: tuple[int, ...] = (7, 30, 90, 180, 365)
    families: tuple[str, ...] = FAMILIES
    trend_windows: tuple[int, ...] = (30, 90)
    slope_months: int = 6
    night_hours: tuple[int, int] = (22, 6)
    promo_days: tuple[tuple[int, int], ...] = ((11, 11), (6, 18))
    behaviour: bool | None = None
    order_definition: str = "order_id"
    cancellation_window_days: float = 1.0
    custom: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "custom", normalise_custom(self.custom))
        check_order_definition(self.order_definition, "FeatureSpec.order_definition")
        object.__setattr__(self, "cancellation_window_days", check_cancellation_window(
            self.cancellation_window_days, "FeatureSpec.cancellation_window_days"))
        for name in ("windows", "trend_windows"):
            value = getattr(self, name)
            if isinstance(value, int | str) or not all(
                isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in value
            ):
                raise ValueError(
                    f"FeatureSpec.{name}: expected a tuple of positive whole days, got {value!r}. "
                    "Fix: pass e.g. (7, 30, 90)."
                )
            object.__setattr__(self, name, tuple(sorted(set(value))))
        if not self.windows:
            raise ValueError("FeatureSpec.windows: expected at least one window, got (). "
                             "Fix: pass e.g. (30, 90).")
        families = (self.families,) if isinstance(self.families, str) else tuple(self.families)
        unknown = [f for f in families if f not in FAMILIES]
        if unknown:
            raise ValueError(
                f"FeatureSpec.families: unknown families {unknown!r}; allowed: {list(FAMILIES)}."
            )
        # keep the catalogue order, whatever order the user gave
        object.__setattr__(self, "families", tuple(f for f in FAMILIES if f in families))
        if not isinstance(self.slope_months, int) or self.slope_months < 2:
            raise ValueError(f"FeatureSpec.slope_months: expected an integer >= 2, "
                             f"got {self.slope_months!r}.")
        hours = tuple(self.night_hours)
        if len(hours) != 2 or not all(isinstance(h, int) and 0 <= h <= 23 for h in hours) \
                or hours[0] == hours[1]:
            raise ValueError(f"FeatureSpec.night_hours: expected (start, end) hours in 0..23 "
                             f"that differ, got {self.night_hours!r}.")
        object.__setattr__(self, "night_hours", hours)
        days = tuple(tuple(d) for d in self.promo_days)
        for month_day in days:
            if len(month_day) != 2 or not (1 <= month_day[0] <= 12 and 1 <= month_day[1] <= 31):
                raise ValueError(f"FeatureSpec.promo_days: expected (month, day) pairs such as "
                                 f"(11, 11), got {month_day!r}.")
        object.__setattr__(self, "promo_days", days)
        if self.behaviour not in (None, True, False):
            raise ValueError(f"FeatureSpec.behaviour: expected None, True or False, "
                             f"got {self.behaviour!r}.")

    def has(self, family: str) -> bool:
        """Whether ``family`` is switched on."""
        return family in self.families


@dataclass(frozen=True)
class FeatureInfo:
    """What one feature column means.

    ``window_days`` is ``None`` for features that are not tied to a window.
    """

    name: str
    family: str
    window_days: int | None
    unit: Unit
    description: str


@dataclass(frozen=True)
class _Template:
    name: str  # may contain "{w}"
    family: str
    unit: Unit
    description: str  # may contain "{w}"
    windows: str | None = None  # None, "windows" or "trend_windows"
    needs: tuple[str, ...] = ()  # optional canonical columns it needs
    fixed_window: int | None = None


_V = VALUE_WINDOW_DAYS
_E = ENGAGEMENT_RECENT_DAYS

_TEMPLATES: tuple[_Template, ...] = (
    # rfm
    _Template("orders_{w}d", "rfm", "count", "orders in the last {w} days", "windows"),
    _Template("revenue_{w}d", "rfm", "currency",
              "gross purchase revenue (before refunds) in the last {w} days", "windows"),
    _Template("items_{w}d", "rfm", "count", "items bought in the last {w} days", "windows"),
    _Template("orders_all", "rfm", "count", "orders before the cutoff"),
    _Template("revenue_all", "rfm", "currency",
              "gross purchase revenue (before refunds) before the cutoff"),
    _Template("items_all", "rfm", "count", "items bought before the cutoff"),
    _Template("days_since_last_purchase", "rfm", "days", "days since the last order"),
    _Template("net_revenue_{w}d", "rfm", "currency",
              "net revenue (purchases minus refunds) in the last {w} days", "windows"),
    _Template("net_revenue_all", "rfm", "currency",
              "net revenue (purchases minus refunds) before the cutoff"),
    # rhythm
    _Template("gap_mean_days", "rhythm", "days", "mean gap between consecutive purchase days"),
    _Template("gap_median_days", "rhythm", "days", "usual (median) gap between purchase days"),
    _Template("gap_std_days", "rhythm", "days",
              "spread (standard deviation) of gaps between purchase days"),
    _Template("gap_last_days", "rhythm", "days", "gap between the last two purchase days"),
    _Template("overdue_ratio", "rhythm", "ratio",
              "days since the last order divided by the usual gap (at least one day)"),
    _Template("days_until_expected_purchase", "rhythm", "days",
              "usual gap minus days since the last order (negative: overdue)"),
    # trend
    _Template("orders_change_{w}d", "trend", "count",
              "orders in the last {w} days minus orders in the {w} days before", "trend_windows"),
    _Template("revenue_change_{w}d", "trend", "currency",
              "revenue in the last {w} days minus revenue in the {w} days before",
              "trend_windows"),
    _Template("orders_same_period_last_year", "trend", "count",
              f"orders in the {SAME_PERIOD_DAYS} days from one year (365 days) before the cutoff"
              " (NaN: the customer's history starts later)", fixed_window=SAME_PERIOD_DAYS),
    _Template("net_revenue_same_period_last_year", "trend", "currency",
              f"net revenue in the {SAME_PERIOD_DAYS} days from one year (365 days) before the "
              "cutoff (NaN: the customer's history starts later)", fixed_window=SAME_PERIOD_DAYS),
    _Template("monthly_order_slope", "trend", "per_month",
              "least-squares slope of orders per 30-day month over the last months"),
    # engagement
    _Template("views_{w}d", "engagement", "count", "product views in the last {w} days",
              "windows"),
    _Template("carts_{w}d", "engagement", "count", "add-to-cart events in the last {w} days",
              "windows"),
    _Template("favorites_{w}d", "engagement", "count", "favourites in the last {w} days",
              "windows"),
    _Template(f"carts_without_purchase_{_E}d", "engagement", "count",
              f"add-to-cart events in the last {_E} days not followed by an order",
              fixed_window=_E),
    _Template("view_to_purchase_rate", "engagement", "ratio", "orders per product view, all time"),
    _Template("days_since_last_activity", "engagement", "days",
              "days since the last event of any kind"),
    _Template(f"interactions_change_{_E}d", "engagement", "count",
              f"views, carts and favourites in the last {_E} days minus the {_E} days before",
              fixed_window=_E),
    # value mix
    _Template("aov_all", "value", "currency", "average order value, all time"),
    _Template(f"aov_{_V}d", "value", "currency", f"average order value in the last {_V} days",
              fixed_window=_V),
    _Template(f"aov_ratio_{_V}d", "value", "ratio",
              f"average order value in the last {_V} days divided by the one before",
              fixed_window=_V),
    _Template("refunds_all", "value", "count", "refunds before the cutoff"),
    _Template("refund_amount_all", "value", "currency", "money refunded before the cutoff"),
    _Template("refund_rate", "value", "share", "money refunded divided by gross purchase revenue"),
    _Template("price_tier_all", "value", "tier",
              "price of bought items relative to their category's average price (1 = average)",
              needs=("category",)),
    _Template(f"price_tier_{_V}d", "value", "tier",
              f"relative price of items bought in the last {_V} days (1 = category average)",
              needs=("category",), fixed_window=_V),
    _Template(f"price_tier_drift_{_V}d", "value", "tier",
              f"relative price in the last {_V} days minus all time (negative: cheaper items)",
              needs=("category",), fixed_window=_V),
    _Template("discount_share", "value", "share", "share of orders with a discount or coupon",
              needs=("discount",)),
    # breadth
    _Template("distinct_categories", "breadth", "count", "distinct categories bought",
              needs=("category",)),
    _Template("distinct_items", "breadth", "count", "distinct items bought", needs=("item_id",)),
    _Template("category_entropy", "breadth", "ratio",
              "spread of purchases across categories (entropy: 0 = all in one)", needs=("category",)),
    _Template("top_category_share", "breadth", "share",
              "share of purchases in the most-bought category", needs=("category",)),
    # habits
    _Template("night_share", "habits", "share", "share of orders placed at night"),
    _Template("weekend_share", "habits", "share", "share of orders placed on Saturday or Sunday"),
    _Template("peak_hour", "habits", "hour", "hour of day with the most orders"),
    _Template("promo_day_share", "habits", "share", "share of orders placed on promotion days"),
    # lifecycle
    _Template("days_since_first_purchase", "lifecycle", "days", "days since the first order"),
    _Template("tenure_days", "lifecycle", "days", "days since the first event of any kind"),
    _Template("first_order_value", "lifecycle", "currency", "value of the first order"),
    _Template("first_to_second_gap_days", "lifecycle", "days",
              "days between the first and the second purchase day"),
    _Template("purchase_days_all", "lifecycle", "count",
              "distinct calendar days with an order before the cutoff"),
    # ratios to the customer's own age: comparable across cutoffs of any age, so they carry
    # over from young training cutoffs to an older scoring cutoff (NaN without the rfm family)
    _Template("recency_share_of_tenure", "lifecycle", "share",
              "days since the last order as a share of the days since the first order"),
    _Template("orders_per_week", "lifecycle", "count",
              "orders per week since the first order (at least one week)"),
)


def _expand(template: _Template, spec: FeatureSpec) -> list[FeatureInfo]:
    if template.windows is None:
        return [FeatureInfo(template.name, template.family, template.fixed_window, template.unit,
                            template.description)]
    windows: tuple[int, ...] = getattr(spec, template.windows)
    return [
        FeatureInfo(template.name.format(w=w), template.family, w, template.unit,
                    template.description.format(w=w))
        for w in windows
    ]


def catalogue(
    spec: FeatureSpec, *, has_behaviour: bool, columns: Iterable[str] | None = None
) -> list[FeatureInfo]:
    """Every feature the spec emits, in output order (see :func:`feature_names`)."""
    available = None if columns is None else set(columns)
    out: list[FeatureInfo] = []
    for family in spec.families:
        if family == "engagement" and not has_behaviour:
            continue
        for template in _TEMPLATES:
            if template.family != family:
                continue
            if available is not None and not set(template.needs) <= available:
                continue
            out.extend(_expand(template, spec))
    return out


def feature_names(
    spec: FeatureSpec | None = None,
    *,
    has_behaviour: bool = True,
    columns: Iterable[str] | None = None,
) -> list[str]:
    """Feature columns ``build_features`` emits, in order.

    Parameters
    ----------
    spec : FeatureSpec, optional
        Defaults to ``FeatureSpec()``.
    has_behaviour : bool
        Whether the engagement family is computed (the log has views, carts or
        favourites, or ``spec.behaviour`` is True).
    columns : iterable of str, optional
        Columns of the event log. Features that need an optional column
        (``category``, ``item_id``, ``discount``) are left out when it is
        absent. ``None`` means every optional column is present.

    Examples
    --------
    >>> feature_names(FeatureSpec(windows=(30,), families=("rfm",)))
    ['orders_30d', 'revenue_30d', 'items_30d', 'orders_all', 'revenue_all', 'items_all', 'days_since_last_purchase', 'net_revenue_30d', 'net_revenue_all']
    >>> "views_30d" in feature_names(has_behaviour=False)
    False
    """
    spec = FeatureSpec() if spec is None else spec
    return [i.name for i in catalogue(spec, has_behaviour=has_behaviour, columns=columns)]


def feature_info(name: str) -> FeatureInfo:
    """Describe a feature column: family, window, unit and a one-line description.

    Works for any window, not only the default ones (``orders_45d``).

    Examples
    --------
    >>> feature_info("orders_30d")
    FeatureInfo(name='orders_30d', family='rfm', window_days=30, unit='count', description='orders in the last 30 days')
    >>> feature_info("overdue_ratio").unit
    'ratio'
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a feature name (str), got {type(name).__name__}.")
    own = described(name)
    if own is not None:  # a feature the user declared (CustomFeature, register_feature)
        return FeatureInfo(name, "custom", own.window_days, own.unit, own.description)
    for template in _TEMPLATES:
        if template.windows is None:
            if name == template.name:
                return _expand(template, FeatureSpec())[0]
            continue
        pattern = "^" + re.escape(template.name).replace(r"\{w\}", r"(\d+)") + "$"
        match = re.match(pattern, name)
        if match and int(match.group(1)) > 0:
            w = int(match.group(1))
            return FeatureInfo(name, template.family, w, template.unit,
                               template.description.format(w=w))
    raise KeyError(
        f"feature {name!r} is not a feature of repurchase_ml; see "
        "repurchase_ml.features.feature_names() for the list."
    )


# --------------------------------------------------------------------------- custom features
# Declared here, beside the built-in catalogue: a custom name is checked against the built-ins
# and feature_info describes both (repurchase_ml.features.custom computes them).
KEYS = ("customer_id", "cutoff")

#: registered functions of (events before the cutoff, cutoff), by feature name
_FUNCTIONS: dict[str, Callable[[pd.DataFrame, pd.Timestamp], Any]] = {}
#: every custom feature declared in this process (a registered one, or one unpickled with a
#: spec), by name: what reasons and ``feature_info`` say about it
_DECLARED: dict[str, CustomFeature] = {}


def _units() -> tuple[str, ...]:
    return tuple(get_args(Unit))


@dataclass(frozen=True)
class CustomFeature:
    """A feature column of your own: its name, what it means and how to show its value.

    Parameters
    ----------
    name : str
        Column name (a built-in feature name, ``customer_id``, ``cutoff`` or a
        ``label_`` name is refused).
    description : str
        What the value is, in words a CRM operator reads in a reason. Shown as
        ``"<description>: <value>"``; for ``unit="count"`` as ``"<value>
        <description>"`` (so write a plural noun: ``"open support tickets"``).
    unit : {"ratio", "share", "count", "currency", "days", "hour", "tier", "per_month"}
        How the value is shown: ``share`` as a percentage, ``currency`` with
        two decimals, ``ratio`` (default) with three significant digits.
    computed : bool
        True when a function registered with :func:`register_feature`
        computes it; False (default) when its values come from an
        ``extra_features`` frame.
    window_days : int, optional
        The look-back window the value covers, if any (shown in reasons about
        a missing value: "no orders in the last 90 days").

    Examples
    --------
    >>> CustomFeature("coupon_share_crm", "share of orders with a coupon (CRM)", unit="share")
    CustomFeature(name='coupon_share_crm', description='share of orders with a coupon (CRM)', unit='share', computed=False, window_days=None)
    """

    name: str
    description: str
    unit: Unit = "ratio"
    computed: bool = False
    window_days: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise TypeError(f"CustomFeature.name: expected a column name (str), got {self.name!r}.")
        if self.name in KEYS or self.name.startswith("label_"):
            raise ValueError(f"CustomFeature.name: {self.name!r} is an identifier or label column "
                             "name. Fix: give the feature another name.")
        if self.name not in _DECLARED:  # a built-in name would shadow the library's feature
            try:
                feature_info(self.name)
            except KeyError:
                pass
            else:
                raise ValueError(f"CustomFeature.name: {self.name!r} is a built-in feature of "
                                 "repurchase_ml. Fix: give your feature another name, e.g. "
                                 f"'my_{self.name}'.")
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError(f"CustomFeature.description: expected a sentence fragment saying "
                             f"what {self.name!r} is, got {self.description!r}.")
        if self.unit not in _units():
            raise ValueError(f"CustomFeature.unit: expected one of {list(_units())}, "
                             f"got {self.unit!r}.")
        if self.window_days is not None and (isinstance(self.window_days, bool) or not isinstance(
                self.window_days, int) or self.window_days <= 0):
            raise ValueError(f"CustomFeature.window_days: expected a positive whole number of "
                             f"days or None, got {self.window_days!r}.")
        _DECLARED[self.name] = self

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # unpickling (a served model's spec) runs __init__, which declares the feature in the
        # loading process, so its reasons read its description there too
        return (CustomFeature, (self.name, self.description, self.unit, self.computed,
                                self.window_days))


def register_feature(
    name: str,
    function: Callable[[pd.DataFrame, pd.Timestamp], Any] | None = None,
    *,
    description: str,
    unit: Unit = "ratio",
    window_days: int | None = None,
) -> Any:
    """Register a function of ``(events, cutoff)`` as a feature column named ``name``.

    The function receives the canonical events (pandas) *before* ``cutoff``
    only and the cutoff (a naive :class:`pandas.Timestamp`), and returns one
    value per customer: a Series indexed by ``customer_id``, or a frame with
    ``customer_id`` and a ``name`` column (pandas or polars). Numbers or
    booleans; a customer it leaves out gets NaN. Values should depend on each
    customer's own events, as every built-in feature does, so that features
    built per partition or per customer cutoff agree.

    Used with a function, returns the :class:`CustomFeature` to put in
    ``FeatureSpec(custom=...)``; used as a decorator
    (``@register_feature("x", description=...)``), returns the function
    unchanged and the spec takes the name (``custom=("x",)``). Registering a
    name again replaces the function (re-running a notebook cell).

    Examples
    --------
    >>> @register_feature("coupon_orders", description="orders placed with a coupon",
    ...                   unit="count")
    ... def coupon_orders(events, cutoff):
    ...     buys = events[events["event_type"] == "purchase"]
    ...     return buys["discount"].astype(bool).groupby(buys["customer_id"]).sum()
    >>> described("coupon_orders").computed, "coupon_orders" in registered_features()
    (True, True)
    """
    feature = CustomFeature(name, description, unit=unit, computed=True, window_days=window_days)

    def register(fn: Callable[[pd.DataFrame, pd.Timestamp], Any]) -> Any:
        if not callable(fn):
            raise TypeError(f"register_feature: expected a function of (events, cutoff) for "
                            f"{name!r}, got {type(fn).__name__}.")
        _FUNCTIONS[name] = fn
        return fn

    if function is None:
        return register
    register(function)
    return feature


def registered_features() -> list[str]:
    """Names of the functions registered in this process."""
    return sorted(_FUNCTIONS)


def described(name: str) -> CustomFeature | None:
    """The custom feature declared under ``name`` in this process, or None."""
    return _DECLARED.get(name)


def normalise_custom(custom: Any) -> tuple[CustomFeature, ...]:
    """``FeatureSpec.custom`` as a tuple of :class:`CustomFeature`: names and functions resolved.

    Examples
    --------
    >>> normalise_custom([CustomFeature("vip_flag", "VIP programme member", unit="share")])[0].name
    'vip_flag'
    """
    if isinstance(custom, str | CustomFeature) or callable(custom):
        custom = (custom,)
    if not isinstance(custom, Iterable):
        raise TypeError(f"FeatureSpec.custom: expected a tuple of CustomFeature or registered "
                        f"feature names, got {type(custom).__name__}.")
    out: list[CustomFeature] = []
    for item in custom:
        if isinstance(item, CustomFeature):
            out.append(item)
            continue
        if callable(item):  # a function registered with the decorator form
            names = [n for n, fn in _FUNCTIONS.items() if fn is item]
            if not names:
                raise ValueError(f"FeatureSpec.custom: the function {getattr(item, '__name__', item)!r} "
                                 "is not registered. Fix: register it first with "
                                 "repurchase_ml.register_feature(name, function, description=...).")
            item = names[-1]
        if not isinstance(item, str):
            raise TypeError(f"FeatureSpec.custom: expected CustomFeature objects or names of "
                            f"registered features, got {type(item).__name__}.")
        feature = _DECLARED.get(item)
        if feature is None:
            raise ValueError(
                f"FeatureSpec.custom: no feature named {item!r} is registered in this process"
                f" (registered: {registered_features()}). Fix: register it with "
                "repurchase_ml.register_feature(name, function, description=...), or declare a "
                "frame feature with repurchase_ml.CustomFeature(name, description).")
        out.append(feature)
    names = [f.name for f in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"FeatureSpec.custom: {twice} declared more than once.")
    return tuple(out)
