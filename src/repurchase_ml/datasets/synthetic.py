"""A synthetic Tmall-style event log with its hidden truth.

The generator draws a population of customers, each with a latent purchase
rate, spend level, browsing intensity and dropout time, and turns them into
the canonical event frame (see ``docs/architecture.md``). Everything is
vectorised with numpy, so a million customers and twenty million events take
seconds, not hours.

The model, in words:

* **Arrival.** A share of customers (``existing_share``) is already active
  when the log starts (their earlier history is not in the log, as in any
  real export); the others sign up uniformly over the window.
* **Purchases.** Each customer orders as a Poisson process with a
  gamma-distributed rate (the NBD part of BG/NBD and Pareto/NBD), modulated by
  the calendar: weekend and evening peaks, promotion days (11.11 and 6.18 by
  default) with spikes and a dip the days after. An order has one or more
  lines (items); each line is one ``purchase`` row sharing the ``order_id``.
* **Dropout.** Each customer has a hidden exponential lifetime whose hazard
  is gamma distributed across customers. Nothing is bought at or after the
  dropout time.
* **Behaviour warns first.** Views, carts and favourites (browsing at a rate
  proportional to the purchase rate) fade linearly over ``fade_days`` before
  the dropout, while purchases keep their rate until the end. Items bought
  or looked at drift to the cheap price tier in the same weeks, and refunds
  become more likely.
* **Items.** A catalogue of categories with three price tiers (1 cheap, 2 mid,
  3 premium). Richer customers prefer higher tiers; each customer has a
  favourite category. Every purchase line is usually preceded by a view (and
  often a cart) of the same item minutes before.
* **Refunds.** Some lines are refunded a few days later: a ``refund`` row with
  the positive amount returned, the same order, item and quantity. Refunds
  falling at or after ``end`` have not happened yet and are not in the log.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.datasets._category_paths import CategoryPlanter, structure_attrs
from repurchase_ml.events import STRING_DTYPE

__all__ = [
    "make_event_log",
    "RetailProfile",
    "DEFAULT_PROMOTIONS",
    "CATEGORY_NAMES",
    "CHINESE_NEW_YEAR",
]

logger = logging.getLogger(__name__)

_DAY = 86_400.0
_EVENT_TYPES = ("purchase", "refund", "view", "cart", "favorite")
_PURCHASE, _REFUND, _VIEW, _CART, _FAVORITE = range(5)

#: Promotion days (``"MM-DD"``) and how many times an ordinary day's purchases they bring.
DEFAULT_PROMOTIONS: Mapping[str, float] = {"11-11": 6.0, "06-18": 3.0}

#: Category names of the catalogue and their price multipliers.
CATEGORY_NAMES: tuple[str, ...] = (
    "apparel", "beauty", "snacks", "home", "electronics", "shoes", "baby", "sports",
    "books", "pets", "kitchen", "toys", "health", "bags", "jewelry", "appliances",
    "stationery", "garden", "auto", "music",
)  # fmt: skip
_CATEGORY_PRICE = np.array(
    [1.0, 1.1, 0.35, 0.9, 3.0, 1.3, 0.8, 1.2, 0.4, 0.6, 0.9, 0.7, 0.8, 1.6, 2.5, 4.0,
     0.3, 0.7, 1.5, 0.5]
)  # fmt: skip
_TIER_PRICE = np.array([12.0, 40.0, 140.0])  # median list price per tier (category multiplier 1)
_TIER_LOGITS = np.array([0.4, 0.2, -0.9])  # tier preference of a customer with spend multiplier 1
_CHANNELS = np.array(["app", "web", "mini_program"], dtype=object)
_CHANNEL_P = np.array([0.7, 0.22, 0.08])

# Weekly rhythm (Mon..Sun, mean 1) and hour-of-day profile (evening peak).
_WEEKDAY = np.array([0.93, 0.9, 0.92, 0.96, 1.02, 1.13, 1.14])
_WEEKDAY = _WEEKDAY / _WEEKDAY.mean()
_HOURS = np.array(
    [0.9, 0.5, 0.3, 0.2, 0.15, 0.2, 0.4, 0.8, 1.1, 1.2, 1.3, 1.4,
     1.5, 1.3, 1.2, 1.2, 1.2, 1.3, 1.5, 1.9, 2.3, 2.5, 2.2, 1.6]
)  # fmt: skip
_HOUR_CDF = np.cumsum(_HOURS) / _HOURS.sum()

# The retail year (profile "retail"): month factors with the Q4 peak, and the Chinese New
# Year dip (logistics stop, shoppers away) from a week before to a week after the holiday.
_MONTH_SEASON = np.array([0.92, 0.9, 0.95, 0.95, 1.0, 1.0, 0.95, 0.95, 1.0, 1.05, 1.3, 1.4])
_NEW_YEAR_FACTOR, _NEW_YEAR_HALF_WIDTH = 0.45, 7
#: Chinese New Year's Day by year (the dip is skipped for years not listed).
CHINESE_NEW_YEAR: Mapping[int, str] = {
    2010: "02-14", 2011: "02-03", 2012: "01-23", 2013: "02-10", 2014: "01-31", 2015: "02-19",
    2016: "02-08", 2017: "01-28", 2018: "02-16", 2019: "02-05", 2020: "01-25", 2021: "02-12",
    2022: "02-01", 2023: "01-22", 2024: "02-10", 2025: "01-29", 2026: "02-17", 2027: "02-06",
    2028: "01-26", 2029: "02-13", 2030: "02-03",
}  # fmt: skip


def _new_year_dip(days: pd.DatetimeIndex) -> np.ndarray:
    """Factor per day: ``_NEW_YEAR_FACTOR`` within a week of Chinese New Year, else 1."""
    factor = np.ones(len(days))
    day_num = days.asi8 // 86_400_000_000_000
    for year in range(days[0].year, days[-1].year + 1):
        if year in CHINESE_NEW_YEAR:
            k = pd.Timestamp(f"{year}-{CHINESE_NEW_YEAR[year]}").value // 86_400_000_000_000
            factor[np.abs(day_num - k) <= _NEW_YEAR_HALF_WIDTH] = _NEW_YEAR_FACTOR
    return factor


# Fixed shape parameters of the latent distributions.
_RATE_SHAPE = 0.8  # gamma shape of purchase rates (smaller = more heterogeneous)
_LIFE_SHAPE = 3.0  # gamma shape of dropout hazards (lifetimes are Lomax)
_BROWSE_RATIO = 4.0  # mean browsing events per purchase line rate
_BROWSE_SHAPE = 3.0
_LINES_EXTRA = 0.3  # order lines = 1 + Poisson(0.3)
_QTY_EXTRA = 0.2  # quantity = 1 + Poisson(0.2)
_REFUND_A, _REFUND_B = 1.5, 22.0  # beta prior of refund propensity (mean ~6 %)
_FUNNEL_VIEW, _FUNNEL_CART, _FUNNEL_CART_PROMO = 0.85, 0.45, 0.85
_FAV_CATEGORY = 0.6  # share of lines in the customer's favourite category
_FADE_FLOOR = 0.1  # browsing intensity left just before dropout
_DRIFT = 0.6  # weight moved to tier 1 at dropout
_DISCOUNT_P, _DISCOUNT_P_PROMO, _DISCOUNT_FACTOR = 0.12, 0.6, 0.8
_PRESALE_DAYS = 10
_MAX_LIFETIME_DAYS = 36_500.0  # keeps latent dropout times inside datetime64[ns]
_ITEMS_PER_BUCKET = 150
_ORDER_BASE = 1_000_000_000  # first order number


@dataclass(frozen=True)
class _Calendar:
    """Daily intensity factors on a grid of day edges (seconds since ``origin``)."""

    origin: pd.Timestamp
    edges: np.ndarray  # seconds, n_days + 1
    cum_purchase: np.ndarray  # cumulative ordinary-day equivalents at each edge
    cum_browse: np.ndarray
    promo_day: np.ndarray  # bool per day: a promotion day
    presale_day: np.ndarray  # bool per day: one of the days before a promotion

    def day_index(self, t: np.ndarray) -> np.ndarray:
        return np.clip((t // _DAY).astype(np.int64), 0, len(self.promo_day) - 1)


def _parse_promotions(promotions: Mapping[str, float] | None) -> dict[tuple[int, int], float]:
    promos = DEFAULT_PROMOTIONS if promotions is None else promotions
    if not isinstance(promos, Mapping):
        raise TypeError(
            f"promotions must be a mapping like {{'11-11': 6.0}}, got {type(promos).__name__}."
        )
    out: dict[tuple[int, int], float] = {}
    for key, factor in promos.items():
        try:
            month, day = (int(x) for x in str(key).split("-"))
            pd.Timestamp(year=2000, month=month, day=day)
        except (ValueError, TypeError):
            raise ValueError(
                f"promotions: key {key!r} is not a month-day like '11-11'; "
                "use 'MM-DD' strings as keys."
            ) from None
        if not isinstance(factor, Real) or not factor > 0:
            raise ValueError(
                f"promotions[{key!r}] must be a positive number (purchase multiplier), "
                f"got {factor!r}."
            )
        out[(month, day)] = float(factor)
    return out


def _calendar(
    start: pd.Timestamp,
    end: pd.Timestamp,
    promos: dict[tuple[int, int], float],
    *,
    lead_days: int = 0,
    seasonal: bool = False,
) -> _Calendar:
    """Daily factors from ``lead_days`` before ``start`` to ``end``; ``seasonal`` adds the
    retail year (Q4 peak, the Chinese New Year dip)."""
    origin = (start - pd.Timedelta(days=lead_days)).normalize()
    n_days = int(np.ceil((end - origin) / pd.Timedelta(days=1)))
    days = origin + pd.to_timedelta(np.arange(n_days), unit="D")
    weekday = _WEEKDAY[days.dayofweek.to_numpy()]
    if seasonal:
        weekday = weekday * _MONTH_SEASON[days.month.to_numpy() - 1] * _new_year_dip(days)
    purchase = weekday.copy()
    browse = weekday.copy()
    promo_day = np.zeros(n_days, dtype=bool)
    presale_day = np.zeros(n_days, dtype=bool)
    # Promotions are placed by date, also those just outside the window, so
    # a window starting mid-pre-sale sees the pre-sale and the dip.
    years = range(origin.year - 1, end.year + 2)
    day_num = (days - origin).days.to_numpy()
    for (month, mday), factor in promos.items():
        for year in years:
            try:
                when = pd.Timestamp(year=year, month=month, day=mday)
            except ValueError:  # 29 February in a non-leap year
                continue
            k = (when - origin).days
            on = day_num == k
            pre = (day_num >= k - _PRESALE_DAYS) & (day_num < k)
            after = (day_num > k) & (day_num <= k + 3)
            promo_day |= on
            presale_day |= pre
            purchase = np.where(on, purchase * factor, purchase)
            purchase = np.where(after, purchase * 0.7, purchase)
            browse = np.where(on, browse * np.sqrt(factor) * 1.5, browse)
            browse = np.where(pre, browse * 1.5, browse)
    edges = np.arange(n_days + 1, dtype=np.float64) * _DAY
    return _Calendar(
        origin=origin,
        edges=edges,
        cum_purchase=np.concatenate([[0.0], np.cumsum(purchase)]),
        cum_browse=np.concatenate([[0.0], np.cumsum(browse)]),
        promo_day=promo_day,
        presale_day=presale_day,
    )


def _exposure(cum: np.ndarray, edges: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Ordinary-day equivalents elapsed from the origin to ``t`` (seconds)."""
    return np.interp(t, edges, cum)


def _sample_times(
    rng: np.random.Generator,
    cal: _Calendar,
    cum: np.ndarray,
    cust: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray],
    g_bounds: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """One time per row in its customer's ``[lo, hi)`` (integer seconds), following the calendar.

    ``bounds`` are the per-customer limits in seconds, ``g_bounds`` the same in
    cumulative intensity. The day is drawn by inverting the cumulative daily
    intensity, the time of day from the hour profile; a time of day falling
    outside ``[lo, hi)`` on a partial first or last day keeps the uniform draw.
    """
    m = len(cust)
    g_lo, g_hi = g_bounds[0][cust], g_bounds[1][cust]
    t = np.interp(g_lo + rng.random(m) * (g_hi - g_lo), cum, cal.edges)
    del g_lo, g_hi
    return _time_of_day(rng, t, bounds[0][cust], bounds[1][cust])


def _time_of_day(
    rng: np.random.Generator, t: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> np.ndarray:
    """Keep the day of ``t`` (seconds), draw the time of day from the hour profile.

    A time of day outside ``[lo, hi)`` (a partial first or last day) keeps ``t``;
    the result is whole seconds in ``[lo, hi)``.
    """
    m = len(t)
    hour = np.searchsorted(_HOUR_CDF, rng.random(m), side="right")
    shaped = np.floor(t / _DAY) * _DAY + hour * 3600.0 + np.floor(rng.random(m) * 3600.0)
    t = np.where((shaped >= lo) & (shaped < hi), shaped, np.floor(t))
    return np.maximum(np.minimum(t, hi - 1.0), lo)


def _fade_progress(t: np.ndarray, dropout: np.ndarray, fade_days: float) -> np.ndarray:
    """0 until ``fade_days`` before dropout, rising linearly to 1 at dropout."""
    return np.clip(1.0 - (dropout - t) / (fade_days * _DAY), 0.0, 1.0)


def _expected_exposures(
    cal: _Calendar,
    lo_window: float,
    hi_window: float,
    *,
    existing_share: float,
    mean_lifetime_days: float,
    fade_days: float,
    k: int = 256,
) -> tuple[float, float]:
    """Population means of purchase exposure and faded browsing exposure (days).

    A deterministic quadrature over the arrival time (uniform over the window
    for new customers, the window start for existing ones) and the Lomax
    lifetime; it does not look at the sampled customers, so the latent rates
    do not depend on the sample.
    """
    q = (np.arange(k) + 0.5) / k
    scale = (_LIFE_SHAPE - 1.0) * mean_lifetime_days
    life = np.minimum(scale * ((1.0 - q) ** (-1.0 / _LIFE_SHAPE) - 1.0), _MAX_LIFETIME_DAYS) * _DAY
    arrivals = np.concatenate([[lo_window], lo_window + q * (hi_window - lo_window)])
    weights = np.concatenate([[existing_share], np.full(k, (1.0 - existing_share) / k)])
    a = arrivals[:, None]
    d = a + life[None, :]
    b = np.minimum(d, hi_window)
    xp = _exposure(cal.cum_purchase, cal.edges, b) - _exposure(cal.cum_purchase, cal.edges, a)
    xb = _exposure(cal.cum_browse, cal.edges, b) - _exposure(cal.cum_browse, cal.edges, a)
    # Browsing lost to the fade: integral of (1 - floor) * progress over [max(a, d - F), b).
    f = fade_days * _DAY
    x1 = d - np.maximum(a, d - f)  # distance to dropout where the fade zone starts
    x2 = d - b
    lost = (
        np.where(x1 > x2, (1.0 - _FADE_FLOOR) * ((x1 - x2) - (x1**2 - x2**2) / (2.0 * f)), 0.0)
        / _DAY
    )
    return float(weights @ xp.mean(axis=1)), float(weights @ (xb - lost).mean(axis=1))


def _real(value: object) -> float | None:
    """``value`` as a float when it is a real number (not a bool, not NaN), else None."""
    if isinstance(value, bool) or not isinstance(value, Real) or np.isnan(float(value)):
        return None
    return float(value)


def _check_args(
    n_customers: object,
    start: object,
    end: object,
    events_per_customer: object,
    mean_lifetime_days: object,
    existing_share: object,
    fade_days: object,
    behaviour: object,
) -> tuple[int, pd.Timestamp, pd.Timestamp]:
    if not isinstance(behaviour, bool):
        raise TypeError(f"behaviour must be True or False, got {type(behaviour).__name__}.")
    if isinstance(n_customers, bool) or not isinstance(n_customers, Integral):
        raise TypeError(f"n_customers must be an int, got {type(n_customers).__name__}.")
    if n_customers < 1:
        raise ValueError(f"n_customers must be >= 1, got {n_customers}.")
    stamps = []
    for name, value in (("start", start), ("end", end)):
        try:
            ts = pd.Timestamp(value)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            raise ValueError(
                f"{name} must be a date or timestamp like '2024-01-01', got {value!r}."
            ) from None
        if ts is pd.NaT:
            raise ValueError(f"{name} must be a date or timestamp, got a missing value.")
        if ts.tz is not None:
            raise ValueError(
                f"{name} must be naive wall-clock time (the event frame is naive), got {ts}; "
                "pass e.g. ts.tz_localize(None)."
            )
        stamps.append(ts)
    t0, t1 = stamps
    if not t0 < t1:
        raise ValueError(f"start must be before end, got start={t0} and end={t1}.")
    for name, value in (
        ("events_per_customer", events_per_customer),
        ("mean_lifetime_days", mean_lifetime_days),
        ("fade_days", fade_days),
    ):
        number = _real(value)
        if number is None or number <= 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    share = _real(existing_share)
    if share is None or not 0.0 <= share <= 1.0:
        raise ValueError(f"existing_share must be a number in [0, 1], got {existing_share!r}.")
    return int(n_customers), t0, t1


def _seed_sequence(random_state: int | np.random.Generator | None) -> np.random.SeedSequence:
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(int(random_state.integers(0, 2**63)))
    if random_state is None or (
        isinstance(random_state, Integral) and not isinstance(random_state, bool)
    ):
        return np.random.SeedSequence(random_state)
    raise TypeError(
        "random_state must be an int, a numpy Generator or None, "
        f"got {type(random_state).__name__}."
    )


@dataclass(frozen=True)
class _Catalog:
    """Items sorted by (category, tier), ``_ITEMS_PER_BUCKET`` items per pair."""

    list_price: np.ndarray
    category: np.ndarray  # category code per item
    mean_bucket_price: np.ndarray  # (n_categories, 3)
    item_names: np.ndarray
    category_names: np.ndarray
    popularity: np.ndarray  # sampling probability per category

    @property
    def n_items(self) -> int:
        return len(self.list_price)


def _make_catalog(rng: np.random.Generator) -> _Catalog:
    n_cat = len(CATEGORY_NAMES)
    popularity = 1.0 / (np.arange(n_cat) + 2.0)
    bucket = np.repeat(np.arange(n_cat * 3), _ITEMS_PER_BUCKET)  # = category * 3 + tier
    category, tier = bucket // 3, bucket % 3
    noise = rng.lognormal(0.0, 0.35, len(bucket))
    list_price = np.round(_TIER_PRICE[tier] * _CATEGORY_PRICE[category] * noise, 1) + 0.09
    return _Catalog(
        list_price=list_price,
        category=category,
        mean_bucket_price=list_price.reshape(n_cat, 3, _ITEMS_PER_BUCKET).mean(axis=2),
        item_names=np.array([f"I{i:06d}" for i in range(len(bucket))], dtype=object),
        category_names=np.array(CATEGORY_NAMES, dtype=object),
        popularity=popularity / popularity.sum(),
    )


@dataclass(frozen=True)
class _Population:
    """Latent traits per customer; times in seconds since the calendar origin."""

    signup: np.ndarray
    first: np.ndarray  # start of observable activity: max(signup, start)
    dropout: np.ndarray
    last: np.ndarray  # end of activity: min(dropout, end)
    rate: np.ndarray  # orders per ordinary day
    browse_rate: np.ndarray  # browsing events per ordinary day
    tier_cum0: np.ndarray  # P(tier 1)
    tier_cum1: np.ndarray  # P(tier 1 or 2)
    fav_category: np.ndarray
    channel: np.ndarray
    refund_propensity: np.ndarray
    spend_level: np.ndarray
    fade_days: float
    # order shape: lines = 1 + Poisson(lines_extra), quantity = qty_base + Poisson(qty_extra);
    # scalars, or one value per customer (profile "retail")
    lines_extra: float | np.ndarray = _LINES_EXTRA
    qty_base: float | np.ndarray = 1.0
    qty_extra: float | np.ndarray = _QTY_EXTRA


def _make_population(
    rng: np.random.Generator,
    n: int,
    catalog: _Catalog,
    window: tuple[float, float],
    *,
    mean_rate: float,
    mean_lifetime_days: float,
    existing_share: float,
    fade_days: float,
) -> _Population:
    w_lo, w_hi = window
    existing = rng.random(n) < existing_share
    arrival = np.floor(w_lo + rng.random(n) * (w_hi - w_lo))
    signup = np.where(existing, np.floor(w_lo - rng.random(n) * 365.0 * _DAY), arrival)
    first = np.maximum(signup, w_lo)
    hazard = rng.gamma(_LIFE_SHAPE, 1.0 / ((_LIFE_SHAPE - 1.0) * mean_lifetime_days), n)
    lifetime = np.minimum(rng.exponential(1.0 / hazard), _MAX_LIFETIME_DAYS)
    dropout = first + np.maximum(np.floor(lifetime * _DAY), 1.0)
    rate = rng.gamma(_RATE_SHAPE, mean_rate / _RATE_SHAPE, n)
    browse_rate = rate * rng.gamma(_BROWSE_SHAPE, _BROWSE_RATIO / _BROWSE_SHAPE, n)
    return _Population(
        signup=signup, first=first, dropout=dropout, last=np.minimum(dropout, w_hi), rate=rate,
        browse_rate=browse_rate, fade_days=fade_days, **_tastes(rng, n, catalog),
    )  # fmt: skip


def _tastes(rng: np.random.Generator, n: int, catalog: _Catalog) -> dict[str, np.ndarray]:
    """Spend, price tiers, favourite category, channel and refund propensity per customer."""
    spend = rng.gamma(4.0, 0.25, n)
    tier_p = np.exp(_TIER_LOGITS[None, :] + np.log(spend)[:, None] * np.array([-1.0, 0.0, 1.0]))
    tier_p /= tier_p.sum(axis=1, keepdims=True)
    n_cat = len(catalog.popularity)
    fav_category = rng.choice(n_cat, size=n, p=catalog.popularity)
    channel = rng.choice(len(_CHANNELS), size=n, p=_CHANNEL_P)
    refund_propensity = rng.beta(_REFUND_A, _REFUND_B, n)
    # expected order value at list price: lines x quantity x price of the category/tier mix
    price_fav = (tier_p * catalog.mean_bucket_price[fav_category]).sum(axis=1)
    price_any = tier_p @ (catalog.popularity @ catalog.mean_bucket_price)
    spend_level = (
        (1.0 + _LINES_EXTRA)
        * (1.0 + _QTY_EXTRA)
        * (_FAV_CATEGORY * price_fav + (1.0 - _FAV_CATEGORY) * price_any)
    )
    return {
        "tier_cum0": tier_p[:, 0], "tier_cum1": tier_p[:, 0] + tier_p[:, 1],
        "fav_category": fav_category, "channel": channel,
        "refund_propensity": refund_propensity, "spend_level": spend_level,
    }  # fmt: skip


_SEGMENTS = ("one_time", "regular", "bulk")
_ONE_TIME, _REGULAR, _BULK = range(3)
_CAMPAIGN_DAYS = 7  # length of an acquisition campaign burst
_BULK_DROPOUT = 0.25  # bulk buyers' dropout probability relative to a regular's draw
_BULK_QTY_BASE = 10.0  # a bulk line has 10 + Poisson(bulk_quantity) units
_FIRST_ORDER_LEAD_MIN = 30.0  # mean minutes from a new customer's arrival to the first order
_SPLIT_GAP_MIN = 45.0  # mean minutes between same-day invoices


@dataclass(frozen=True)
class RetailProfile:
    """Knobs of the realistic shop log, ``make_event_log(..., profile=RetailProfile(...))``.

    ``profile="retail"`` is ``RetailProfile()``. Every field is described in the table of
    :func:`make_event_log`; every latent draw it controls is a column of the truth frame.

    Examples
    --------
    >>> RetailProfile(one_time_share=0.6).one_time_share
    0.6
    """

    one_time_share: float = 0.45
    bulk_share: float = 0.01
    orders_per_year: float = 4.0
    rate_shape: float = 0.6
    dropout_a: float = 0.8
    dropout_b: float = 2.5
    habit_share: float = 0.3
    habit_shape: float = 4.0
    fade_orders: int = 3
    fade_stretch: float = 1.5
    bulk_rate_factor: float = 8.0
    bulk_lines: float = 4.0
    bulk_quantity: float = 30.0
    split_order_rate: float = 0.05
    cancel_rate: float = 0.025
    partial_refund_share: float = 0.4
    campaigns_per_year: float = 4.0
    campaign_boost: float = 4.0
    history_days: int = 730
    lapsed_browse_share: float = 0.3

    def __post_init__(self) -> None:
        shares = ("one_time_share", "bulk_share", "habit_share", "split_order_rate",
                  "cancel_rate", "partial_refund_share", "lapsed_browse_share")  # fmt: skip
        for name in shares:
            value = _real(getattr(self, name))
            if value is None or not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"RetailProfile.{name} must be a number in [0, 1], got "
                    f"{getattr(self, name)!r}; pass a share such as 0.05."
                )
        if self.one_time_share + self.bulk_share > 1.0:
            raise ValueError(
                "RetailProfile.one_time_share + bulk_share must be at most 1, got "
                f"{self.one_time_share} + {self.bulk_share}; lower one of them."
            )
        for name in ("orders_per_year", "rate_shape", "dropout_a", "dropout_b", "habit_shape",
                     "bulk_rate_factor", "campaign_boost"):  # fmt: skip
            value = _real(getattr(self, name))
            if value is None or value <= 0:
                raise ValueError(
                    f"RetailProfile.{name} must be a positive number, got {getattr(self, name)!r}."
                )
        for name in ("fade_stretch", "bulk_lines", "bulk_quantity", "campaigns_per_year"):
            value = _real(getattr(self, name))
            if value is None or value < 0:
                raise ValueError(
                    f"RetailProfile.{name} must be a number >= 0, got {getattr(self, name)!r}."
                )
        for name in ("fade_orders", "history_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"RetailProfile.{name} must be an int >= 1, got {value!r}.")


def _resolve_profile(profile: object) -> RetailProfile | None:
    """``None`` for the basic profile, the knobs for the retail one."""
    if isinstance(profile, RetailProfile):
        return profile
    if profile == "retail":
        return RetailProfile()
    if profile == "basic":
        return None
    raise ValueError(
        f"profile must be 'basic', 'retail' or a RetailProfile, got {profile!r}; "
        "use profile='retail' for the realistic shop log."
    )


@dataclass(frozen=True)
class _RetailLatent:
    """What the retail profile draws beyond ``_Population`` (all reported in the truth)."""

    segment: np.ndarray  # _ONE_TIME, _REGULAR or _BULK
    in_campaign: np.ndarray  # arrived during an acquisition campaign burst
    lapsed_browser: np.ndarray  # keeps browsing (at the fade floor) after dropout
    dropout_p: np.ndarray  # dropout probability after each repeat order (1 for one-time)
    repeats: np.ndarray  # repeat orders until dropout (0 for one-time buyers)
    rhythm_shape: np.ndarray  # gamma shape of the gaps (1 = Poisson, larger = habit)
    first_order: np.ndarray  # seconds


def _acquisition_times(
    rng: np.random.Generator,
    cal: _Calendar,
    n: int,
    window: tuple[float, float],
    n_years: float,
    profile: RetailProfile,
) -> tuple[np.ndarray, np.ndarray]:
    """Arrival times over the window: shop traffic times campaign bursts; and the burst flag."""
    w_lo, w_hi = window
    daily = np.diff(cal.cum_purchase)
    first_day, last_day = int(w_lo // _DAY), int(np.ceil(w_hi / _DAY))
    burst = np.zeros(len(daily), dtype=bool)
    for day in rng.integers(first_day, last_day, rng.poisson(profile.campaigns_per_year * n_years)):
        burst[day : day + _CAMPAIGN_DAYS] = True
    cum = np.concatenate([[0.0], np.cumsum(daily * np.where(burst, profile.campaign_boost, 1.0))])
    lo, hi = np.full(n, w_lo), np.full(n, w_hi)
    g_lo, g_hi = _exposure(cum, cal.edges, lo), _exposure(cum, cal.edges, hi)
    t = _sample_times(rng, cal, cum, np.arange(n), (lo, hi), (g_lo, g_hi))
    return t, burst[cal.day_index(t)]


def _make_retail_population(
    rng: np.random.Generator,
    cal: _Calendar,
    n: int,
    catalog: _Catalog,
    window: tuple[float, float],
    *,
    existing_share: float,
    fade_days: float,
    profile: RetailProfile,
) -> tuple[_Population, _RetailLatent]:
    """Segments, BG/NBD-style rates and dropout, arrivals with campaign bursts."""
    w_lo, w_hi = window
    u = rng.random(n)
    segment = np.where(
        u < profile.one_time_share, _ONE_TIME,
        np.where(u < profile.one_time_share + profile.bulk_share, _BULK, _REGULAR),
    ).astype(np.int8)  # fmt: skip
    bulk = segment == _BULK
    existing = rng.random(n) < existing_share
    arrival, in_campaign = _acquisition_times(
        rng, cal, n, window, (w_hi - w_lo) / (365.25 * _DAY), profile
    )
    before = np.floor(w_lo - (1.0 + rng.random(n) * (profile.history_days - 1)) * _DAY)
    signup = np.where(existing, before, arrival)
    in_campaign &= ~existing
    lead = np.floor(60.0 + rng.exponential(_FIRST_ORDER_LEAD_MIN * 60.0, n))
    first_order = signup + lead
    rate = rng.gamma(profile.rate_shape, profile.orders_per_year / 365.0 / profile.rate_shape, n)
    rate = np.where(bulk, rate * profile.bulk_rate_factor, rate)
    rate = np.where(segment == _ONE_TIME, 0.0, rate)
    dropout_p = rng.beta(profile.dropout_a, profile.dropout_b, n)
    dropout_p = np.where(bulk, dropout_p * _BULK_DROPOUT, dropout_p)
    dropout_p = np.where(segment == _ONE_TIME, 1.0, np.maximum(dropout_p, 1e-6))
    repeats = np.where(segment == _ONE_TIME, 0, rng.geometric(dropout_p)).astype(np.int64)
    habit = rng.random(n) < profile.habit_share
    rhythm_shape = np.where(habit & (segment != _ONE_TIME), profile.habit_shape, 1.0)
    tastes = _tastes(rng, n, catalog)
    lines_extra = np.where(bulk, profile.bulk_lines, _LINES_EXTRA)
    qty_base = np.where(bulk, _BULK_QTY_BASE, 1.0)
    qty_extra = np.where(bulk, profile.bulk_quantity, _QTY_EXTRA)
    shape = (
        (1.0 + lines_extra) * (qty_base + qty_extra) / ((1.0 + _LINES_EXTRA) * (1.0 + _QTY_EXTRA))
    )
    browse_rate = np.maximum(rate, profile.orders_per_year / 365.0) * rng.gamma(
        _BROWSE_SHAPE, _BROWSE_RATIO / _BROWSE_SHAPE, n
    )
    tastes["spend_level"] = tastes["spend_level"] * shape
    latent = _RetailLatent(segment=segment, in_campaign=in_campaign, dropout_p=dropout_p,
                           repeats=repeats, rhythm_shape=rhythm_shape, first_order=first_order,
                           lapsed_browser=rng.random(n) < profile.lapsed_browse_share)  # fmt: skip
    # dropout and last are set once the orders are drawn (_with_dropout)
    pop = _Population(
        signup=signup, first=np.maximum(signup, w_lo), dropout=np.full(n, w_hi),
        last=np.full(n, w_hi), rate=rate, browse_rate=browse_rate, fade_days=fade_days,
        lines_extra=lines_extra, qty_base=qty_base, qty_extra=qty_extra, **tastes,
    )  # fmt: skip
    return pop, latent


def _grouped_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each group of ``counts`` consecutive values."""
    total = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    return total - np.repeat(total[starts] - values[starts], counts)


def _retail_order_times(
    rng: np.random.Generator,
    cal: _Calendar,
    pop: _Population,
    latent: _RetailLatent,
    window: tuple[float, float],
    profile: RetailProfile,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orders in the window and the latent dropout time of every customer (seconds).

    The first order follows arrival; repeat orders come at gamma-distributed gaps in
    calendar exposure (shape 1 is Poisson, larger is a habit rhythm), the last
    ``fade_orders`` gaps stretched, until the ``repeats``-th, after which the customer
    is gone. Some orders get further invoices the same day.
    """
    w_lo, w_hi = window
    n = len(pop.rate)
    cum, edges = cal.cum_purchase, cal.edges
    g_end = float(_exposure(cum, edges, np.array([w_hi]))[0])
    g_first = _exposure(cum, edges, latent.first_order)
    g_cur, done = g_first.copy(), np.zeros(n, dtype=np.int64)
    rep_cust, rep_g = [], []
    active = np.flatnonzero(latent.repeats > 0)
    while active.size:
        left = latent.repeats[active] - done[active]
        expected = pop.rate[active] * np.maximum(g_end - g_cur[active], 0.0)
        count = np.minimum(left, np.ceil(1.5 * expected + 2.0)).astype(np.int64)
        cust = np.repeat(active, count)
        index = _grouped_cumsum(np.ones(len(cust), dtype=np.int64), count) + done[cust]
        from_end = latent.repeats[cust] - index  # 0 for the last order before dropout
        stretch = 1.0 + profile.fade_stretch * np.clip(1.0 - from_end / profile.fade_orders, 0, 1)
        k = latent.rhythm_shape[cust]
        gaps = rng.gamma(k, 1.0 / (k * pop.rate[cust])) * stretch
        g = g_cur[cust] + _grouped_cumsum(gaps, count)
        rep_cust.append(cust)
        rep_g.append(g)
        g_cur[active] = g[np.cumsum(count) - 1]
        done[active] += count
        active = active[(done[active] < latent.repeats[active]) & (g_cur[active] < g_end)]
    cust = np.concatenate(rep_cust) if rep_cust else np.zeros(0, dtype=np.int64)
    g = np.concatenate(rep_g) if rep_g else np.zeros(0)
    inside = g < g_end
    cust, g = cust[inside], g[inside]
    t = _time_of_day(rng, np.interp(g, cum, edges), latent.first_order[cust] + 1.0,
                     np.full(len(g), w_hi))  # fmt: skip
    o_cust = np.concatenate([np.arange(n), cust])
    o_time = np.concatenate([latent.first_order, t])
    # same-day further invoices, minutes apart
    split = np.flatnonzero((rng.random(len(o_time)) < profile.split_order_rate) & (o_time < w_hi))
    n_extra = 1 + (rng.random(len(split)) < 0.3)
    s_cust, s_base = np.repeat(o_cust[split], n_extra), np.repeat(o_time[split], n_extra)
    gaps = np.floor(120.0 + rng.exponential(_SPLIT_GAP_MIN * 60.0, len(s_cust)))
    s_time = s_base + _grouped_cumsum(gaps, n_extra)
    same_day = (np.floor(s_time / _DAY) == np.floor(s_base / _DAY)) & (s_time < w_hi)
    o_cust = np.concatenate([o_cust, s_cust[same_day]])
    o_time = np.concatenate([o_time, s_time[same_day]])
    # dropout: just after the last order when it falls in the window, else beyond the end
    g_drop = g_cur.copy()
    left = latent.repeats - done
    later = left > 0
    k = latent.rhythm_shape[later]
    g_drop[later] += rng.gamma(k * left[later], 1.0 / (k * pop.rate[later]))
    last_order = np.full(n, -np.inf)
    np.maximum.at(last_order, o_cust, o_time)
    beyond = np.minimum(
        w_hi + np.floor((g_drop - g_end) * _DAY), pop.signup + _MAX_LIFETIME_DAYS * _DAY
    )
    dropout = np.where(g_drop < g_end, last_order + 1.0, np.maximum(beyond, w_hi))
    keep = (o_time >= w_lo) & (o_time < w_hi)
    return o_cust[keep], o_time[keep], dropout


def _choose_items(
    rng: np.random.Generator, pop: _Population, catalog: _Catalog, cust: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """An item per row: favourite or popular category, tier drifting cheap before dropout."""
    m = len(cust)
    in_fav = rng.random(m) < _FAV_CATEGORY
    n_cat = len(catalog.popularity)
    cat = np.where(in_fav, pop.fav_category[cust], rng.choice(n_cat, size=m, p=catalog.popularity))
    drift = _DRIFT * _fade_progress(t, pop.dropout[cust], pop.fade_days)
    u = rng.random(m)
    tier = (u >= pop.tier_cum0[cust] * (1.0 - drift) + drift).astype(np.int64)
    tier += u >= pop.tier_cum1[cust] * (1.0 - drift) + drift
    within = rng.integers(0, _ITEMS_PER_BUCKET, m)
    return ((cat * 3 + tier) * _ITEMS_PER_BUCKET + within).astype(np.int32)


def _channels(rng: np.random.Generator, pop: _Population, cust: np.ndarray) -> np.ndarray:
    m = len(cust)
    other = rng.choice(len(_CHANNELS), size=m, p=_CHANNEL_P)
    return np.where(rng.random(m) < 0.85, pop.channel[cust], other).astype(np.int8)


def _rows(
    cust: np.ndarray,
    t: np.ndarray,
    kind: int | np.ndarray,
    item: np.ndarray,
    price: np.ndarray,
    channel: np.ndarray,
    *,
    order: np.ndarray | None = None,
    qty: np.ndarray | None = None,
    amount: np.ndarray | None = None,
    disc: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One block of event rows in compact dtypes; behaviour rows when order is None."""
    m = len(cust)
    return {
        "cust": cust.astype(np.int32),
        "t": t.astype(np.int64),
        "kind": np.broadcast_to(np.asarray(kind, dtype=np.int8), (m,)),
        "item": item,
        "price": price,
        "channel": channel,
        "order": np.full(m, -1, dtype=np.int64) if order is None else order,
        "qty": np.full(m, np.nan, dtype=np.float32) if qty is None else qty.astype(np.float32),
        "amount": np.full(m, np.nan) if amount is None else amount,
        "disc": np.zeros(m, dtype=bool) if disc is None else disc,
    }


def _take(rows: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    return {key: value[idx] for key, value in rows.items()}


def _purchases(
    rng: np.random.Generator, cal: _Calendar, pop: _Population, catalog: _Catalog
) -> tuple[dict[str, np.ndarray], int]:
    """Orders (Poisson in calendar time until dropout) split into purchase lines."""
    n = len(pop.rate)
    g_first = _exposure(cal.cum_purchase, cal.edges, pop.first)
    g_last = _exposure(cal.cum_purchase, cal.edges, pop.last)
    o_cust = np.repeat(np.arange(n), rng.poisson(pop.rate * np.maximum(g_last - g_first, 0.0)))
    o_time = _sample_times(
        rng, cal, cal.cum_purchase, o_cust, (pop.first, pop.last), (g_first, g_last)
    )
    return _order_lines(rng, cal, pop, catalog, o_cust, o_time)


def _per_customer(value: float | np.ndarray, cust: np.ndarray) -> float | np.ndarray:
    """A per-customer array taken at ``cust``; a scalar stays a scalar."""
    return value[cust] if isinstance(value, np.ndarray) else value


def _order_lines(
    rng: np.random.Generator,
    cal: _Calendar,
    pop: _Population,
    catalog: _Catalog,
    o_cust: np.ndarray,
    o_time: np.ndarray,
) -> tuple[dict[str, np.ndarray], int]:
    """Purchase lines of the orders ``(o_cust, o_time)``; order numbers follow time."""
    rank = np.empty(len(o_time), dtype=np.int64)
    rank[np.argsort(o_time, kind="stable")] = np.arange(len(o_time))
    n_lines = 1 + rng.poisson(_per_customer(pop.lines_extra, o_cust), len(o_time))
    cust = np.repeat(o_cust, n_lines)
    time = np.repeat(o_time, n_lines)
    order = np.repeat(rank, n_lines)
    channel = np.repeat(_channels(rng, pop, o_cust), n_lines)
    item = _choose_items(rng, pop, catalog, cust, time)
    qty = _per_customer(pop.qty_base, cust) + rng.poisson(
        _per_customer(pop.qty_extra, cust), len(cust)
    ).astype(np.float64)
    # the same item twice in one order is one line with the summed quantity
    _, first_idx, inverse = np.unique(
        order * catalog.n_items + item, return_index=True, return_inverse=True
    )
    if len(first_idx) < len(order):
        keep = np.sort(first_idx)
        summed = np.asarray(np.bincount(inverse, weights=qty), dtype=np.float64)
        qty = summed[inverse[keep]]
        cust, time, order, item, channel = (
            cust[keep],
            time[keep],
            order[keep],
            item[keep],
            channel[keep],
        )
    promo = cal.promo_day[cal.day_index(time)]
    disc = rng.random(len(cust)) < np.where(promo, _DISCOUNT_P_PROMO, _DISCOUNT_P)
    price = np.round(catalog.list_price[item] * np.where(disc, _DISCOUNT_FACTOR, 1.0), 2)
    rows = _rows(cust, time, _PURCHASE, item, price, channel, order=order,
                 qty=qty, amount=np.round(qty * price, 2), disc=disc)  # fmt: skip
    return rows, len(o_time)


def _refunds(
    rng: np.random.Generator, purchases: dict[str, np.ndarray], pop: _Population, w_hi: float
) -> dict[str, np.ndarray]:
    """Some lines come back a few days later (more often while fading), if before ``end``."""
    cust, time = purchases["cust"], purchases["t"]
    fading = _fade_progress(time, pop.dropout[cust], pop.fade_days) > 0
    p = np.minimum(pop.refund_propensity[cust] * np.where(fading, 1.6, 1.0), 0.9)
    delay = np.floor((0.5 + rng.gamma(2.0, 2.0, len(cust))) * _DAY).astype(np.int64)
    idx = np.flatnonzero((rng.random(len(cust)) < p) & (time + delay < w_hi))
    rows = _take(purchases, idx)
    rows["t"] = rows["t"] + delay[idx]
    rows["kind"] = np.full(len(idx), _REFUND, dtype=np.int8)
    return rows


def _retail_refunds(
    rng: np.random.Generator,
    purchases: dict[str, np.ndarray],
    pop: _Population,
    w_hi: float,
    n_orders: int,
    profile: RetailProfile,
) -> list[dict[str, np.ndarray]]:
    """Cancellations (every line of an order back within hours) and returns days later.

    A cancelled order is refunded in full, line by line with its ``order_id``, minutes to
    hours after it was placed. Other lines come back as in the basic profile, a share of
    the multi-unit ones only in part (some of the units).
    """
    order = purchases["order"]
    cancel_delay = np.floor(300.0 + rng.gamma(1.5, 2.0 * 3600.0, n_orders))
    cancelled = rng.random(n_orders) < profile.cancel_rate
    delay = cancel_delay[order]
    take = cancelled[order] & (purchases["t"] + delay < w_hi)
    idx = np.flatnonzero(take)
    cancellations = _take(purchases, idx)
    cancellations["t"] = cancellations["t"] + delay[idx].astype(np.int64)
    cancellations["kind"] = np.full(len(idx), _REFUND, dtype=np.int8)
    returns = _refunds(rng, _take(purchases, np.flatnonzero(~cancelled[order])), pop, w_hi)
    qty = returns["qty"].astype(np.float64)
    partial = (qty > 1) & (rng.random(len(qty)) < profile.partial_refund_share)
    units = np.floor(1.0 + rng.random(len(qty)) * (qty - 1.0))  # 1 .. qty - 1 units back
    qty = np.where(partial, units, qty)
    returns["qty"] = qty.astype(np.float32)
    returns["amount"] = np.where(partial, np.round(qty * returns["price"], 2), returns["amount"])
    return [cancellations, returns]


def _funnel(
    rng: np.random.Generator,
    cal: _Calendar,
    purchases: dict[str, np.ndarray],
    pop: _Population,
    catalog: _Catalog,
    priced: np.ndarray | None = None,
) -> list[dict[str, np.ndarray]]:
    """A view, and often a cart, of the purchased item minutes before the purchase.

    ``priced``: the items whose list price the rows carry, when ``purchases["item"]`` was
    relabelled to other categories (``category_paths``).
    """
    cust, time, item = purchases["cust"], purchases["t"], purchases["item"]
    priced = item if priced is None else priced
    m = len(cust)
    promo = cal.promo_day[cal.day_index(time)]
    take_view = rng.random(m) < _FUNNEL_VIEW
    take_cart = rng.random(m) < np.where(promo, _FUNNEL_CART_PROMO, _FUNNEL_CART)
    lead_cart = np.floor(5.0 + rng.exponential(8.0 * 60.0, m))
    lead_view = lead_cart + np.floor(10.0 + rng.exponential(20.0 * 60.0, m))  # view, then cart
    blocks = []
    for take, lead, kind in ((take_view, lead_view, _VIEW), (take_cart, lead_cart, _CART)):
        idx = np.flatnonzero(take)
        t = np.maximum(time[idx] - lead[idx], pop.first[cust[idx]])
        blocks.append(_rows(cust[idx], t, kind, item[idx], catalog.list_price[priced[idx]],
                            purchases["channel"][idx]))  # fmt: skip
    return blocks


def _browsing(
    rng: np.random.Generator, cal: _Calendar, pop: _Population, catalog: _Catalog
) -> dict[str, np.ndarray]:
    """Views, carts and favourites at the browsing rate, thinned by the fade before dropout."""
    n = len(pop.rate)
    g_first = _exposure(cal.cum_browse, cal.edges, pop.first)
    g_last = _exposure(cal.cum_browse, cal.edges, pop.last)
    cust = np.repeat(np.arange(n), rng.poisson(pop.browse_rate * np.maximum(g_last - g_first, 0.0)))
    time = _sample_times(rng, cal, cal.cum_browse, cust, (pop.first, pop.last), (g_first, g_last))
    progress = _fade_progress(time, pop.dropout[cust], pop.fade_days)
    keep = rng.random(len(cust)) < 1.0 - (1.0 - _FADE_FLOOR) * progress
    cust, time = cust[keep], time[keep]
    p_cart = np.where(cal.presale_day[cal.day_index(time)], 0.2, 0.07)
    u = rng.random(len(cust))
    kind = np.where(u < p_cart, _CART, np.where(u < p_cart + 0.05, _FAVORITE, _VIEW))
    item = _choose_items(rng, pop, catalog, cust, time)
    return _rows(cust, time, kind, item, catalog.list_price[item], _channels(rng, pop, cust))


def _assemble(
    blocks: list[dict[str, np.ndarray]], cal: _Calendar, catalog: _Catalog, n_orders: int
) -> pd.DataFrame:
    """Concatenate row blocks, sort by (customer, time) and build the canonical frame."""
    cols = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    blocks.clear()
    t_sec = cols.pop("t")
    perm = np.argsort(cols["cust"].astype(np.int64) * np.int64(2**36) + t_sec, kind="stable")
    # order numbers as text, "1000000000" upwards; index -1 (behaviour rows) gives None
    order_names = np.empty(n_orders + 1, dtype=object)
    order_names[:n_orders] = list(map(str, range(_ORDER_BASE, _ORDER_BASE + n_orders)))
    item = cols.pop("item")[perm]

    def take(key: str) -> np.ndarray:
        return cols.pop(key)[perm]

    columns = {
        "customer_id": lambda: take("cust").astype(np.int64) + 1,
        "timestamp": lambda: (cal.origin.value + t_sec[perm] * np.int64(1_000_000_000)).astype(
            "datetime64[ns]"
        ),
        "event_type": lambda: pd.Categorical.from_codes(
            take("kind"), categories=list(_EVENT_TYPES)
        ),
        "amount": lambda: take("amount").astype(np.float64),
        "order_id": lambda: _text(order_names, take("order")),
        "item_id": lambda: _text(catalog.item_names, item),
        "category": lambda: _text(catalog.category_names, catalog.category[item]),
        "quantity": lambda: take("qty").astype(np.float64),
        "unit_price": lambda: take("price").astype(np.float64),
        "channel": lambda: _text(_CHANNELS, take("channel")),
        "discount": lambda: take("disc").astype(bool),
    }
    # one column at a time: each source array is freed once used, and pandas does not
    # copy the columns into consolidated blocks
    frame = pd.DataFrame(index=pd.RangeIndex(len(perm)))
    for name, build in columns.items():
        frame[name] = build()
    return _without_exact_duplicates(frame)


def _text(names: np.ndarray, codes: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``names[codes]`` (negative codes count from the end, as in numpy) as the canonical
    Arrow-backed text column, without a Python string per row."""
    import pyarrow as pa

    values = pa.array(names, type=pa.large_string()).take(
        pa.array(np.asarray(codes, dtype=np.int64) % len(names)))
    return pd.array(values, dtype=STRING_DTYPE)


def _without_exact_duplicates(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows equal in every column to an earlier row (the canonical log refuses them).

    They are rare (two events of one customer, item and kind in the same second, e.g. where
    times are clamped to a short window) and can only sit in a run of rows sharing customer
    and time, so only those runs are compared.
    """
    customer, time = frame["customer_id"].to_numpy(), frame["timestamp"].to_numpy()
    tied = (customer[1:] == customer[:-1]) & (time[1:] == time[:-1])
    shared = np.zeros(len(frame), dtype=bool)
    shared[1:] |= tied
    shared[:-1] |= tied
    if not shared.any():
        return frame
    candidates = frame[shared]
    repeated = candidates.index[candidates.duplicated(keep="first").to_numpy()]
    if len(repeated) == 0:
        return frame
    return frame.drop(index=repeated).reset_index(drop=True)


def make_event_log(
    n_customers: int,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    random_state: int | np.random.Generator | None,
    behaviour: bool = True,
    events_per_customer: float = 20.0,
    mean_lifetime_days: float = 400.0,
    existing_share: float = 0.2,
    fade_days: float = 45.0,
    promotions: Mapping[str, float] | None = None,
    profile: str | RetailProfile = "basic",
    category_paths: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate a Tmall-style event log and the hidden truth behind it.

    Parameters
    ----------
    n_customers : int
        Number of customers drawn (some may never produce an event in the window).
    start, end : str or pandas.Timestamp
        The window ``[start, end)``, naive wall-clock time. Nothing happens at or after ``end``.
    random_state : int, numpy.random.Generator or None
        Seed; the same value gives the same frames bit for bit. ``None`` draws fresh entropy.
    behaviour : bool, default True
        Include views, carts and favourites. ``False`` gives an order log
        (purchases and refunds only) with exactly the purchase and refund rows
        the behaviour log would have for the same seed.
    events_per_customer : float, default 20.0
        Expected number of events per customer with ``behaviour=True``, about
        a fifth of them purchase rows. The mean purchase rate is set from it
        and from the window length (a population average, not fitted to the sample).
    mean_lifetime_days : float, default 400.0
        Mean of the hidden lifetime from arrival (or from ``start`` for customers
        already active then) to dropout.
    existing_share : float, default 0.2
        Share of customers already active at ``start``; the others arrive
        uniformly over the window.
    fade_days : float, default 45.0
        Length of the fade before dropout: browsing falls linearly to 10 % of its
        rate, items drift to the cheap tier and refunds get more likely.
    promotions : mapping of str to float, optional
        ``"MM-DD" -> purchase multiplier`` of promotion days (default
        ``{"11-11": 6.0, "06-18": 3.0}``); browsing rises in the ten days before.
    profile : {"basic", "retail"} or RetailProfile, default "basic"
        ``"basic"``: the model described at the top of this module (Poisson orders until
        an exponential lifetime); its output is unchanged from earlier releases, and the
        doctests, notebooks and benchmarks of the library rely on it. ``"retail"`` (or a
        :class:`RetailProfile` with other knobs): a realistic shop log and a fair, hard
        test for models against RFM and BG/NBD. Its backbone is BG/NBD (gamma purchase
        rates; after each repeat order the customer drops out with a beta-distributed
        probability), plus what BG/NBD does not model: one-time buyers, bulk buyers,
        habit rhythms, gaps lengthening before dropout, a retail year (Q4 peak,
        Chinese New Year dip, promotion days), arrivals over the whole window with
        campaign bursts, same-day further invoices, cancellations and partial refunds.
        ``existing_share``, ``fade_days`` (browsing fade and cheap-tier drift),
        ``behaviour`` and ``promotions`` apply to both profiles;
        ``events_per_customer`` and ``mean_lifetime_days`` only to ``"basic"``.
    category_paths : bool, default False
        Give categories a structure to find (either profile): gateway categories whose
        first-time buyers come back more often, common paths from one order's category to
        the next, browsing that looks ahead to the next order's category; recorded in
        ``truth.attrs`` (``category_gateways``, ``category_paths``). Drawn from a random
        stream of its own: every column but ``item_id`` and ``category`` is the same as
        without it, bit for bit (see ``docs/synthetic.md``).

        Knobs of ``RetailProfile`` (defaults in brackets):

        ======================  ====================================================
        ``one_time_share``      share of customers who buy once and never return [0.45]
        ``bulk_share``          share of bulk / wholesale buyers [0.01]
        ``orders_per_year``     mean repeat-order rate of regular customers [4.0]
        ``rate_shape``          gamma shape of rates across customers (BG/NBD r) [0.6]
        ``dropout_a``, ``_b``   beta prior of the dropout probability [0.8, 2.5]
        ``habit_share``         share of customers with a habit rhythm [0.3]
        ``habit_shape``         gamma shape of their gaps (1 would be Poisson) [4.0]
        ``fade_orders``         how many gaps before dropout lengthen [3]
        ``fade_stretch``        the last gap is ``1 + fade_stretch`` times longer [1.5]
        ``bulk_rate_factor``    bulk buyers' rate multiplier; their dropout is 1/4 [8.0]
        ``bulk_lines``          bulk order lines: 1 + Poisson(bulk_lines) [4.0]
        ``bulk_quantity``       bulk line units: 10 + Poisson(bulk_quantity) [30.0]
        ``split_order_rate``    share of orders followed by 1-2 same-day invoices [0.05]
        ``cancel_rate``         share of orders cancelled (full refund in hours) [0.025]
        ``partial_refund_share`` share of returned multi-unit lines returned in part [0.4]
        ``campaigns_per_year``  acquisition campaigns (a week each) per year [4.0]
        ``campaign_boost``      arrivals per day during a campaign, times normal [4.0]
        ``history_days``        existing customers signed up up to this before start [730]
        ``lapsed_browse_share`` share still browsing after dropout (1/10 rate, cheap) [0.3]
        ======================  ====================================================

    Returns
    -------
    events : pandas.DataFrame
        The canonical event frame: ``customer_id`` (int64), ``timestamp``,
        ``event_type`` (categorical), ``amount`` (purchase and refund rows),
        ``order_id`` (numbers as text, increasing with time; the lines of an
        order share it and its timestamp), ``item_id``, ``category``,
        ``quantity``, ``unit_price`` (list price less any discount),
        ``channel`` (``app``, ``web`` or ``mini_program``), ``discount``;
        sorted by customer and time, customer ids 1 to ``n_customers``.
        Behaviour rows have no ``order_id`` (None), amount and quantity (NaN),
        and ``discount`` False; their ``unit_price`` is the item's list price.
        A refund repeats its purchase line's order, item, quantity and amount.
    truth : pandas.DataFrame
        One row per customer: ``customer_id``, ``purchase_rate`` (orders per
        ordinary day), ``spend_level`` (expected order value at list price
        before any drift), ``signup_time`` (before ``start`` for customers
        already active), ``dropout_time`` (may lie after ``end``) and
        ``alive_at_end`` (``dropout_time >= end``). Customers whose latent rate
        is low or who arrive late may have no event at all; they are still in
        ``truth``. With ``profile="retail"`` also: ``segment`` (``one_time``,
        ``regular``, ``bulk``), ``cohort`` (month of signup), ``acquired_in_campaign``,
        ``browses_after_dropout`` (views, carts and favourites go on after dropout, never
        a purchase),
        ``rhythm_shape`` (1 = Poisson), ``dropout_probability`` (1 for one-time buyers),
        ``repeat_orders_until_dropout`` and ``first_order_time``; ``purchase_rate`` is the
        repeat-order rate (0 for one-time buyers) and ``signup_time`` the first visit.
        A customer whose dropout falls in the window drops out one second after the last
        order (same-day invoices included).

    Examples
    --------
    >>> events, truth = make_event_log(200, "2024-01-01", "2024-12-31", random_state=0)
    >>> list(events["event_type"].cat.categories)
    ['purchase', 'refund', 'view', 'cart', 'favorite']
    >>> bool(events["timestamp"].max() < pd.Timestamp("2024-12-31"))
    True
    >>> len(truth), truth["customer_id"].dtype
    (200, dtype('int64'))

    The realistic shop log, with its segments in the truth:

    >>> events, truth = make_event_log(
    ...     300, "2022-01-01", "2024-01-01", random_state=0, profile="retail"
    ... )
    >>> sorted(truth["segment"].cat.categories)
    ['bulk', 'one_time', 'regular']
    >>> bought = events[events["event_type"] == "purchase"].merge(truth, on="customer_id")
    >>> bool((bought["timestamp"] < bought["dropout_time"]).all())
    True
    """
    n, t_start, t_end = _check_args(
        n_customers, start, end, events_per_customer, mean_lifetime_days, existing_share,
        fade_days, behaviour,
    )  # fmt: skip
    if not isinstance(category_paths, bool):
        raise TypeError(f"category_paths must be True or False, got {type(category_paths).__name__}.")
    promos = _parse_promotions(promotions)
    retail = _resolve_profile(profile)
    # the 7th stream (categories) leaves the first six, hence every other column, as they were
    seeds = _seed_sequence(random_state).spawn(7)
    rng_cust, rng_catalog, rng_orders, rng_refund, rng_funnel, rng_browse = (
        np.random.Generator(np.random.PCG64(s)) for s in seeds[:6]
    )
    rng_paths = np.random.Generator(np.random.PCG64(seeds[6])) if category_paths else None
    if retail is not None:
        return _make_retail_log(
            n, t_start, t_end, promos, retail, rng_cust, rng_catalog, rng_orders, rng_refund,
            rng_funnel, rng_browse, behaviour=behaviour, existing_share=float(existing_share),
            fade_days=float(fade_days), rng_paths=rng_paths,
        )  # fmt: skip
    cal = _calendar(t_start, t_end, promos)
    window = ((t_start - cal.origin).total_seconds(), (t_end - cal.origin).total_seconds())

    exp_p, exp_b = _expected_exposures(
        cal, *window, existing_share=float(existing_share),
        mean_lifetime_days=float(mean_lifetime_days), fade_days=float(fade_days),
    )  # fmt: skip
    refund_mean = _REFUND_A / (_REFUND_A + _REFUND_B)
    per_rate = exp_p * (1.0 + _LINES_EXTRA) * (1.0 + refund_mean + _FUNNEL_VIEW + _FUNNEL_CART)
    mean_rate = float(events_per_customer) / (per_rate + _BROWSE_RATIO * exp_b)

    catalog = _make_catalog(rng_catalog)
    pop = _make_population(
        rng_cust, n, catalog, window, mean_rate=mean_rate,
        mean_lifetime_days=float(mean_lifetime_days), existing_share=float(existing_share),
        fade_days=float(fade_days),
    )  # fmt: skip
    purchases, n_orders = _purchases(rng_orders, cal, pop, catalog)
    planter, priced = _plant_purchases(rng_paths, catalog, purchases)
    blocks = [purchases, _refunds(rng_refund, purchases, pop, window[1])]
    if behaviour:
        blocks += _funnel(rng_funnel, cal, purchases, pop, catalog, priced)
        blocks.append(_planted(planter, _browsing(rng_browse, cal, pop, catalog)))
    del purchases
    events = _assemble(blocks, cal, catalog, n_orders)

    truth = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "purchase_rate": pop.rate,
            "spend_level": pop.spend_level,
            "signup_time": _to_time(cal, pop.signup),
            "dropout_time": _to_time(cal, pop.dropout),
            "alive_at_end": pop.dropout >= window[1],
        }
    )
    if planter is not None:
        truth.attrs.update(structure_attrs())
    _log_done(events, n, n_orders, t_start, t_end)
    return events, truth


def _plant_purchases(
    rng: np.random.Generator | None, catalog: _Catalog, purchases: dict[str, np.ndarray]
) -> tuple[CategoryPlanter | None, np.ndarray | None]:
    """With ``category_paths``: purchase lines moved to the planted categories (in place),
    and the items they had, whose prices the funnel rows keep."""
    if rng is None:
        return None, None
    planter = CategoryPlanter(rng, names=catalog.category_names, popularity=catalog.popularity,
                              items_per_bucket=_ITEMS_PER_BUCKET)  # fmt: skip
    priced = purchases["item"]
    purchases["item"] = planter.purchases(purchases["cust"], purchases["t"], purchases["order"],
                                          priced)  # fmt: skip
    return planter, priced


def _planted(planter: CategoryPlanter | None, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Browsing rows, some moved to the next order's category when a planter is given."""
    if planter is not None:
        rows["item"] = planter.browsing(rows["cust"], rows["t"], rows["item"])
    return rows


def _to_time(cal: _Calendar, seconds: np.ndarray) -> np.ndarray:
    nanos = cal.origin.value + seconds.astype(np.int64) * np.int64(1_000_000_000)
    return nanos.astype("datetime64[ns]")


def _log_done(
    events: pd.DataFrame, n: int, n_orders: int, t_start: pd.Timestamp, t_end: pd.Timestamp
) -> None:
    logger.info(
        "generated %d events for %d customers (%d orders) in [%s, %s)",
        len(events), n, n_orders, t_start, t_end,
    )  # fmt: skip


def _make_retail_log(
    n: int,
    t_start: pd.Timestamp,
    t_end: pd.Timestamp,
    promos: dict[tuple[int, int], float],
    profile: RetailProfile,
    *rngs: np.random.Generator,
    behaviour: bool,
    existing_share: float,
    fade_days: float,
    rng_paths: np.random.Generator | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``make_event_log`` with ``profile="retail"`` (see its docstring)."""
    rng_cust, rng_catalog, rng_orders, rng_refund, rng_funnel, rng_browse = rngs
    cal = _calendar(t_start, t_end, promos, lead_days=profile.history_days + 1, seasonal=True)
    window = ((t_start - cal.origin).total_seconds(), (t_end - cal.origin).total_seconds())
    catalog = _make_catalog(rng_catalog)
    pop, latent = _make_retail_population(
        rng_cust, cal, n, catalog, window, existing_share=existing_share, fade_days=fade_days,
        profile=profile,
    )  # fmt: skip
    o_cust, o_time, dropout = _retail_order_times(rng_orders, cal, pop, latent, window, profile)
    pop = dataclasses.replace(pop, dropout=dropout, last=np.minimum(dropout, window[1]))
    purchases, n_orders = _order_lines(rng_orders, cal, pop, catalog, o_cust, o_time)
    planter, priced = _plant_purchases(rng_paths, catalog, purchases)
    blocks = [purchases, *_retail_refunds(rng_refund, purchases, pop, window[1], n_orders, profile)]
    if behaviour:
        blocks += _funnel(rng_funnel, cal, purchases, pop, catalog, priced)
        blocks.append(_planted(planter, _browsing(rng_browse, cal, pop, catalog)))
        # lapsed browsers look around after dropout, at the fade floor, cheap items
        after = np.where(latent.lapsed_browser, np.clip(pop.dropout, *window), window[1])
        lapsed = dataclasses.replace(pop, first=after, last=np.full(n, window[1]))
        blocks.append(_planted(planter, _browsing(rng_browse, cal, lapsed, catalog)))
    del purchases
    events = _assemble(blocks, cal, catalog, n_orders)
    signup = _to_time(cal, pop.signup)
    truth = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "segment": pd.Categorical.from_codes(latent.segment, categories=list(_SEGMENTS)),
            "cohort": signup.astype("datetime64[M]").astype("datetime64[ns]"),
            "acquired_in_campaign": latent.in_campaign,
            "browses_after_dropout": latent.lapsed_browser,
            "purchase_rate": pop.rate,
            "rhythm_shape": latent.rhythm_shape,
            "dropout_probability": latent.dropout_p,
            "repeat_orders_until_dropout": latent.repeats,
            "spend_level": pop.spend_level,
            "signup_time": signup,
            "first_order_time": _to_time(cal, latent.first_order),
            "dropout_time": _to_time(cal, pop.dropout),
            "alive_at_end": pop.dropout >= window[1],
        }
    )
    if planter is not None:
        truth.attrs.update(structure_attrs())
    _log_done(events, n, n_orders, t_start, t_end)
    return events, truth


def write_event_log_files(
    folder: str | os.PathLike[str],
    n_customers: int,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    random_state: int,
    customers_per_file: int = 100_000,
    **options: Any,
) -> list[Path]:
    """A synthetic log of any size, written one Parquet file per block of customers.

    A log of tens of millions of customers does not fit one process's
    memory; this writes it a block at a time. Block ``i`` is
    :func:`make_event_log` of ``customers_per_file`` customers seeded with
    ``(random_state, i)``, its customer ids shifted by ``i x
    customers_per_file`` and its order ids prefixed with the block number, so
    ids are unique across files and every customer's events are in one file
    (the layout ``dask.stream`` reads). ``options`` go to
    :func:`make_event_log`. The folder is written atomically (a temp folder
    beside it, then one rename); an existing ``folder`` is refused.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "log"
    >>> files = write_event_log_files(folder, 250, "2023-01-01", "2024-01-01",
    ...                               random_state=0, customers_per_file=100)
    >>> [f.name for f in files]
    ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    >>> ids = pd.read_parquet(files[1])["customer_id"]  # the second block of customers
    >>> int(ids.min()) > 100, int(ids.max()) <= 200
    (True, True)
    """
    target = Path(folder)
    if target.exists():
        raise FileExistsError(f"folder: {str(target)!r} exists. Fix: give a new folder (the "
                              "log is written whole or not at all).")
    if isinstance(n_customers, bool) or not isinstance(n_customers, int) or n_customers < 1:
        raise ValueError(f"n_customers: expected a whole number >= 1, got {n_customers!r}.")
    if (isinstance(customers_per_file, bool) or not isinstance(customers_per_file, int)
            or customers_per_file < 1):
        raise ValueError(f"customers_per_file: expected a whole number >= 1, got "
                         f"{customers_per_file!r}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    names = []
    try:
        for i, first in enumerate(range(0, n_customers, customers_per_file)):
            size = min(customers_per_file, n_customers - first)
            events, _truth = make_event_log(size, start, end,
                                            random_state=np.random.default_rng([random_state, i]),
                                            **options)
            events["customer_id"] += first
            events["order_id"] = f"{i:05d}-" + events["order_id"]
            name = f"part-{i:05d}.parquet"
            events.to_parquet(tmp / name, index=False)
            names.append(name)
            del events, _truth
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [target / name for name in names]
