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

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

__all__ = ["make_event_log", "DEFAULT_PROMOTIONS", "CATEGORY_NAMES"]

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


def _calendar(start: pd.Timestamp, end: pd.Timestamp, promos: dict[tuple[int, int], float]) -> _Calendar:
    origin = start.normalize()
    n_days = int(np.ceil((end - origin) / pd.Timedelta(days=1)))
    days = origin + pd.to_timedelta(np.arange(n_days), unit="D")
    weekday = _WEEKDAY[days.dayofweek.to_numpy()]
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
    lo: np.ndarray,
    hi: np.ndarray,
) -> np.ndarray:
    """One time per row in ``[lo, hi)`` (integer seconds), following the calendar.

    The day is drawn by inverting the cumulative daily intensity, the time of
    day from the hour profile; a time of day falling outside ``[lo, hi)`` on a
    partial first or last day keeps the uniform draw instead.
    """
    m = len(lo)
    g_lo = _exposure(cum, cal.edges, lo)
    g_hi = _exposure(cum, cal.edges, hi)
    t = np.interp(g_lo + rng.random(m) * (g_hi - g_lo), cum, cal.edges)
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
    lost = np.where(
        x1 > x2, (1.0 - _FADE_FLOOR) * ((x1 - x2) - (x1**2 - x2**2) / (2.0 * f)), 0.0
    ) / _DAY
    return float(weights @ xp.mean(axis=1)), float(weights @ (xb - lost).mean(axis=1))


def _check_args(
    n_customers: object,
    start: object,
    end: object,
    events_per_customer: object,
    mean_lifetime_days: object,
    existing_share: object,
    fade_days: object,
) -> tuple[int, pd.Timestamp, pd.Timestamp]:
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
    for name, value, lo_ok in (
        ("events_per_customer", events_per_customer, 0.0),
        ("mean_lifetime_days", mean_lifetime_days, 0.0),
        ("fade_days", fade_days, 0.0),
    ):
        if isinstance(value, bool) or not isinstance(value, Real) or not value > lo_ok:
            raise ValueError(f"{name} must be a positive number, got {value!r}.")
    if (
        isinstance(existing_share, bool)
        or not isinstance(existing_share, Real)
        or not 0.0 <= existing_share <= 1.0
    ):
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

    Returns
    -------
    events : pandas.DataFrame
        The canonical event frame: ``customer_id`` (int64), ``timestamp``,
        ``event_type`` (categorical), ``amount`` (purchase and refund rows),
        ``order_id``, ``item_id``, ``category``, ``quantity``, ``unit_price``
        (list price less any discount), ``channel``, ``discount``; sorted by
        customer and time. Behaviour rows have no ``order_id`` (None), amount
        and quantity (NaN), and ``discount`` False.
    truth : pandas.DataFrame
        One row per customer: ``customer_id``, ``purchase_rate`` (orders per
        ordinary day), ``spend_level`` (expected order value at list price
        before any drift), ``signup_time`` (before ``start`` for customers
        already active), ``dropout_time`` (may lie after ``end``) and
        ``alive_at_end`` (``dropout_time >= end``).

    Examples
    --------
    >>> events, truth = make_event_log(200, "2024-01-01", "2024-12-31", random_state=0)
    >>> list(events["event_type"].cat.categories)
    ['purchase', 'refund', 'view', 'cart', 'favorite']
    >>> bool(events["timestamp"].max() < pd.Timestamp("2024-12-31"))
    True
    >>> len(truth), truth["customer_id"].dtype
    (200, dtype('int64'))
    """
    n, t_start, t_end = _check_args(
        n_customers, start, end, events_per_customer, mean_lifetime_days, existing_share,
        fade_days,
    )  # fmt: skip
    promos = _parse_promotions(promotions)
    streams = [np.random.Generator(np.random.PCG64(s)) for s in _seed_sequence(random_state).spawn(6)]
    rng_cust, rng_catalog, rng_orders, rng_refund, rng_funnel, rng_browse = streams

    cal = _calendar(t_start, t_end, promos)
    w_lo = (t_start - cal.origin).total_seconds()
    w_hi = (t_end - cal.origin).total_seconds()

    # ---- catalogue: categories x tiers x items, list prices ------------------------------
    n_cat = len(CATEGORY_NAMES)
    popularity = 1.0 / (np.arange(n_cat) + 2.0)
    popularity /= popularity.sum()
    n_items = n_cat * 3 * _ITEMS_PER_BUCKET
    bucket = np.repeat(np.arange(n_cat * 3), _ITEMS_PER_BUCKET)  # = category * 3 + tier
    item_category = bucket // 3
    item_tier = bucket % 3
    list_price = np.round(
        _TIER_PRICE[item_tier]
        * _CATEGORY_PRICE[item_category]
        * rng_catalog.lognormal(0.0, 0.35, n_items),
        1,
    ) + 0.09
    mean_bucket_price = list_price.reshape(n_cat, 3, _ITEMS_PER_BUCKET).mean(axis=2)
    item_names = np.array([f"I{i:06d}" for i in range(n_items)], dtype=object)
    category_names = np.array(CATEGORY_NAMES, dtype=object)

    # ---- customers ------------------------------------------------------------------------
    existing = rng_cust.random(n) < existing_share
    arrival = np.floor(w_lo + rng_cust.random(n) * (w_hi - w_lo))
    signup = np.where(existing, np.floor(w_lo - rng_cust.random(n) * 365.0 * _DAY), arrival)
    first = np.maximum(signup, w_lo)
    hazard = rng_cust.gamma(_LIFE_SHAPE, 1.0 / ((_LIFE_SHAPE - 1.0) * mean_lifetime_days), n)
    lifetime = np.minimum(rng_cust.exponential(1.0 / hazard), _MAX_LIFETIME_DAYS)
    dropout = first + np.maximum(np.floor(lifetime * _DAY), 1.0)
    last = np.minimum(dropout, w_hi)  # activity is in [first, last)

    exp_p, exp_b = _expected_exposures(
        cal, w_lo, w_hi, existing_share=float(existing_share),
        mean_lifetime_days=float(mean_lifetime_days), fade_days=float(fade_days),
    )  # fmt: skip
    lines_mean = 1.0 + _LINES_EXTRA
    refund_mean = _REFUND_A / (_REFUND_A + _REFUND_B)
    per_rate = exp_p * lines_mean * (1.0 + refund_mean + _FUNNEL_VIEW + _FUNNEL_CART)
    mean_rate = float(events_per_customer) / (per_rate + _BROWSE_RATIO * exp_b)
    rate = rng_cust.gamma(_RATE_SHAPE, mean_rate / _RATE_SHAPE, n)
    browse_rate = rate * rng_cust.gamma(_BROWSE_SHAPE, _BROWSE_RATIO / _BROWSE_SHAPE, n)
    spend = rng_cust.gamma(4.0, 0.25, n)
    logits = _TIER_LOGITS[None, :] + np.log(spend)[:, None] * np.array([-1.0, 0.0, 1.0])
    tier_p = np.exp(logits)
    tier_p /= tier_p.sum(axis=1, keepdims=True)
    cum0, cum1 = tier_p[:, 0], tier_p[:, 0] + tier_p[:, 1]
    fav_category = rng_cust.choice(n_cat, size=n, p=popularity)
    channel_pref = rng_cust.choice(len(_CHANNELS), size=n, p=_CHANNEL_P)
    refund_prop = rng_cust.beta(_REFUND_A, _REFUND_B, n)

    # expected order value at list price: lines x quantity x price of the category/tier mix
    price_fav = (tier_p * mean_bucket_price[fav_category]).sum(axis=1)
    price_any = tier_p @ (popularity @ mean_bucket_price)
    spend_level = lines_mean * (1.0 + _QTY_EXTRA) * (
        _FAV_CATEGORY * price_fav + (1.0 - _FAV_CATEGORY) * price_any
    )

    def choose_items(rng: np.random.Generator, cust: np.ndarray, t: np.ndarray) -> np.ndarray:
        m = len(cust)
        in_fav = rng.random(m) < _FAV_CATEGORY
        cat = np.where(in_fav, fav_category[cust], rng.choice(n_cat, size=m, p=popularity))
        drift = _DRIFT * _fade_progress(t, dropout[cust], fade_days)
        u = rng.random(m)
        c0 = cum0[cust] * (1.0 - drift) + drift
        c1 = cum1[cust] * (1.0 - drift) + drift
        tier = (u >= c0).astype(np.int64) + (u >= c1)
        within = rng.integers(0, _ITEMS_PER_BUCKET, m)
        return (cat * 3 + tier) * _ITEMS_PER_BUCKET + within

    def channels(rng: np.random.Generator, cust: np.ndarray) -> np.ndarray:
        m = len(cust)
        other = rng.choice(len(_CHANNELS), size=m, p=_CHANNEL_P)
        return np.where(rng.random(m) < 0.85, channel_pref[cust], other)

    # ---- orders and purchase lines ----------------------------------------------------------
    x_p = _exposure(cal.cum_purchase, cal.edges, last) - _exposure(cal.cum_purchase, cal.edges, first)
    n_orders = rng_orders.poisson(rate * np.maximum(x_p, 0.0))
    o_cust = np.repeat(np.arange(n), n_orders)
    o_time = _sample_times(rng_orders, cal, cal.cum_purchase, first[o_cust], last[o_cust])
    rank = np.empty(len(o_time), dtype=np.int64)
    rank[np.argsort(o_time, kind="stable")] = np.arange(len(o_time))
    order_names = np.array([f"O{i:09d}" for i in range(len(o_time))] + [None], dtype=object)
    n_lines = 1 + rng_orders.poisson(_LINES_EXTRA, len(o_time))
    p_cust = np.repeat(o_cust, n_lines)
    p_time = np.repeat(o_time, n_lines)
    p_order = np.repeat(rank, n_lines)
    p_item = choose_items(rng_orders, p_cust, p_time)
    p_qty = 1.0 + rng_orders.poisson(_QTY_EXTRA, len(p_cust))
    p_promo = cal.promo_day[cal.day_index(p_time)]
    p_disc = rng_orders.random(len(p_cust)) < np.where(p_promo, _DISCOUNT_P_PROMO, _DISCOUNT_P)
    p_price = np.round(list_price[p_item] * np.where(p_disc, _DISCOUNT_FACTOR, 1.0), 2)
    p_amount = np.round(p_qty * p_price, 2)
    p_channel = channels(rng_orders, p_cust)

    # ---- refunds ------------------------------------------------------------------------------
    fading = _fade_progress(p_time, dropout[p_cust], fade_days) > 0
    p_refund = np.minimum(refund_prop[p_cust] * np.where(fading, 1.6, 1.0), 0.9)
    delay = np.floor((0.5 + rng_refund.gamma(2.0, 2.0, len(p_cust))) * _DAY)
    r_take = (rng_refund.random(len(p_cust)) < p_refund) & (p_time + delay < w_hi)
    r_idx = np.flatnonzero(r_take)

    parts: list[dict[str, np.ndarray]] = [
        dict(cust=p_cust, t=p_time, kind=np.full(len(p_cust), _PURCHASE), item=p_item,
             order=p_order, qty=p_qty, price=p_price, amount=p_amount, channel=p_channel,
             disc=p_disc),
        dict(cust=p_cust[r_idx], t=p_time[r_idx] + delay[r_idx],
             kind=np.full(len(r_idx), _REFUND), item=p_item[r_idx], order=p_order[r_idx],
             qty=p_qty[r_idx], price=p_price[r_idx], amount=p_amount[r_idx],
             channel=p_channel[r_idx], disc=p_disc[r_idx]),
    ]  # fmt: skip

    if behaviour:
        # ---- funnel: a view and often a cart of the same item minutes before buying --------
        m = len(p_cust)
        f_view = rng_funnel.random(m) < _FUNNEL_VIEW
        f_cart = rng_funnel.random(m) < np.where(p_promo, _FUNNEL_CART_PROMO, _FUNNEL_CART)
        lead_view = np.floor(10.0 + rng_funnel.exponential(25.0 * 60.0, m))
        lead_cart = np.floor(5.0 + rng_funnel.exponential(8.0 * 60.0, m))
        floor_t = first[p_cust]
        for take, lead, kind in ((f_view, lead_view, _VIEW), (f_cart, lead_cart, _CART)):
            idx = np.flatnonzero(take)
            parts.append(
                dict(cust=p_cust[idx], t=np.maximum(p_time[idx] - lead[idx], floor_t[idx]),
                     kind=np.full(len(idx), kind), item=p_item[idx],
                     order=np.full(len(idx), -1), qty=np.full(len(idx), np.nan),
                     price=list_price[p_item[idx]], amount=np.full(len(idx), np.nan),
                     channel=p_channel[idx], disc=np.zeros(len(idx), dtype=bool))
            )  # fmt: skip

        # ---- browsing, fading before dropout (thinning) ---------------------------------------
        x_b = _exposure(cal.cum_browse, cal.edges, last) - _exposure(cal.cum_browse, cal.edges, first)
        n_browse = rng_browse.poisson(browse_rate * np.maximum(x_b, 0.0))
        b_cust = np.repeat(np.arange(n), n_browse)
        b_time = _sample_times(rng_browse, cal, cal.cum_browse, first[b_cust], last[b_cust])
        keep_p = 1.0 - (1.0 - _FADE_FLOOR) * _fade_progress(b_time, dropout[b_cust], fade_days)
        keep = rng_browse.random(len(b_cust)) < keep_p
        b_cust, b_time = b_cust[keep], b_time[keep]
        mb = len(b_cust)
        presale = cal.presale_day[cal.day_index(b_time)]
        p_cart_b = np.where(presale, 0.2, 0.07)
        u = rng_browse.random(mb)
        b_kind = np.where(u < p_cart_b, _CART, np.where(u < p_cart_b + 0.05, _FAVORITE, _VIEW))
        b_item = choose_items(rng_browse, b_cust, b_time)
        parts.append(
            dict(cust=b_cust, t=b_time, kind=b_kind, item=b_item, order=np.full(mb, -1),
                 qty=np.full(mb, np.nan), price=list_price[b_item],
                 amount=np.full(mb, np.nan), channel=channels(rng_browse, b_cust),
                 disc=np.zeros(mb, dtype=bool))
        )  # fmt: skip

    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    t_sec = cols["t"].astype(np.int64)
    order = np.argsort(cols["cust"].astype(np.int64) * np.int64(2**36) + t_sec, kind="stable")
    cust = cols["cust"][order]
    stamps = cal.origin.value + t_sec[order] * np.int64(1_000_000_000)
    item = cols["item"][order]
    events = pd.DataFrame(
        {
            "customer_id": (cust + 1).astype(np.int64),
            "timestamp": stamps.astype("datetime64[ns]"),
            "event_type": pd.Categorical.from_codes(
                cols["kind"][order].astype(np.int8), categories=list(_EVENT_TYPES)
            ),
            "amount": cols["amount"][order].astype(np.float64),
            "order_id": order_names[cols["order"][order]],
            "item_id": item_names[item],
            "category": category_names[item_category[item]],
            "quantity": cols["qty"][order].astype(np.float64),
            "unit_price": cols["price"][order].astype(np.float64),
            "channel": _CHANNELS[cols["channel"][order]],
            "discount": cols["disc"][order].astype(bool),
        }
    )

    def to_time(seconds: np.ndarray) -> np.ndarray:
        return (cal.origin.value + seconds.astype(np.int64) * np.int64(1_000_000_000)).astype(
            "datetime64[ns]"
        )

    truth = pd.DataFrame(
        {
            "customer_id": np.arange(1, n + 1, dtype=np.int64),
            "purchase_rate": rate,
            "spend_level": spend_level,
            "signup_time": to_time(signup),
            "dropout_time": to_time(dropout),
            "alive_at_end": dropout >= w_hi,
        }
    )
    logger.info(
        "generated %d events for %d customers (%d orders) in [%s, %s)",
        len(events), n, len(o_time), t_start, t_end,
    )  # fmt: skip
    return events, truth
