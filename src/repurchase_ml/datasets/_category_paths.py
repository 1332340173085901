"""Category structure planted in the synthetic log (``make_event_log(category_paths=True)``).

Without it a line's category is the customer's favourite or a popular one, so
nothing links one order's category to the next, or a first category to coming
back. With it, categories follow a process a merchant would want to find:

* **Paths.** Each customer's orders walk a Markov chain over categories: the
  next order stays in the previous order's category (``STAY``), follows the
  planted path out of it (``FOLLOW``, :data:`CATEGORY_PATHS`), or picks a
  category by popularity. Most lines of an order (``ORDER_SHARE``) are in the
  order's category; the rest keep the category drawn without the structure.
* **Gateways.** The first order of a customer who comes back (a second order on
  a later day within ``LOYAL_DAYS``) is ``GATEWAY_TILT[0]`` times as likely to be
  in a gateway category (:data:`CATEGORY_GATEWAYS`), that of a customer who does
  not ``GATEWAY_TILT[1]`` times: first-time buyers of a gateway category come
  back more often. The effect is planted by choosing categories given who
  returns, so no time, amount or customer of the log changes.
* **Browsing ahead.** ``BROWSE_AHEAD`` of the browsing rows look at the category
  of the customer's next order (within ``BROWSE_AHEAD_DAYS``): views and carts
  say where a customer goes next.

Everything is drawn from its own random stream, and only item ids (hence
categories) change: an item keeps its price tier and place in the catalogue
and moves to the new category, while prices and amounts stay those of the
log without the structure (so they no longer follow the category's price level).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: categories whose first-time buyers come back more often (planted)
CATEGORY_GATEWAYS: tuple[str, ...] = ("beauty", "baby", "pets")
#: planted first -> next category paths
CATEGORY_PATHS: Mapping[str, str] = {
    "apparel": "shoes", "snacks": "kitchen", "baby": "toys", "electronics": "appliances",
    "beauty": "health", "pets": "garden",
}  # fmt: skip
STAY, FOLLOW = 0.3, 0.4
ORDER_SHARE = 0.85
GATEWAY_TILT = (3.0, 0.5)
LOYAL_DAYS = 180
BROWSE_AHEAD, BROWSE_AHEAD_DAYS = 0.4, 30
_DAY = 86_400
_TIME_BITS = 36  # seconds since the calendar origin fit in 36 bits (2,177 years)


def structure_attrs() -> dict[str, object]:
    """What the truth frame records of the structure (``truth.attrs``)."""
    return {
        "category_gateways": list(CATEGORY_GATEWAYS),
        "category_paths": dict(CATEGORY_PATHS),
        "category_path_probability": {"stay": STAY, "follow": FOLLOW},
    }


class CategoryPlanter:
    """Relabels the items of purchase and browsing rows (see the module docstring)."""

    def __init__(self, rng: np.random.Generator, *, names: np.ndarray, popularity: np.ndarray,
                 items_per_bucket: int) -> None:
        self.rng = rng
        self.popularity = popularity
        self.items_per_bucket = items_per_bucket
        code = {str(name): i for i, name in enumerate(names)}
        self.gateway = np.zeros(len(names), dtype=bool)
        self.gateway[[code[g] for g in CATEGORY_GATEWAYS]] = True
        self.successor = np.full(len(names), -1, dtype=np.int64)
        for source, target in CATEGORY_PATHS.items():
            self.successor[code[source]] = code[target]
        self._order_key = np.zeros(0, dtype=np.int64)
        self._order_cat = np.zeros(0, dtype=np.int64)

    def _category(self, item: np.ndarray) -> np.ndarray:
        return item.astype(np.int64) // (3 * self.items_per_bucket)

    def _moved(self, item: np.ndarray, category: np.ndarray) -> np.ndarray:
        """The item with the same tier and place in ``category``."""
        ipb = self.items_per_bucket
        tier, within = (item // ipb) % 3, item % ipb
        return ((category * 3 + tier) * ipb + within).astype(item.dtype)

    def _popular(self, m: int) -> np.ndarray:
        return self.rng.choice(len(self.popularity), size=m, p=self.popularity)

    def purchases(self, cust: np.ndarray, t: np.ndarray, order: np.ndarray,
                  item: np.ndarray) -> np.ndarray:
        """New items of purchase lines: each order's category walks the chain."""
        o_num, first_line = np.unique(order, return_index=True)
        o_cust, o_t = cust[first_line].astype(np.int64), t[first_line].astype(np.int64)
        seq = np.lexsort((o_num, o_cust))  # by customer, then time (order numbers follow time)
        c, tt = o_cust[seq], o_t[seq]
        n = len(seq)
        starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]]) if n else np.zeros(0, np.int64)
        counts = np.diff(np.r_[starts, n])
        pos = np.arange(n) - np.repeat(starts, counts)
        cat = np.empty(n, dtype=np.int64)
        # first orders: gateway categories for customers who come back
        day = tt // _DAY
        later = np.where(day > np.repeat(day[starts], counts), tt, np.iinfo(np.int64).max)
        back = np.minimum.reduceat(later, starts) if n else later
        loyal = back - tt[starts] <= LOYAL_DAYS * _DAY
        u = self.rng.random(len(starts))
        for flag, tilt in zip((True, False), GATEWAY_TILT, strict=True):
            rows = np.flatnonzero(loyal == flag)
            w = self.popularity * np.where(self.gateway, tilt, 1.0)
            cdf = np.cumsum(w / w.sum())
            cat[starts[rows]] = np.minimum(np.searchsorted(cdf, u[rows], side="right"),
                                           len(cdf) - 1)
        # later orders, one step of the chain at a time
        by_pos = np.argsort(pos, kind="stable")
        edges = np.searchsorted(pos[by_pos], np.arange(1, int(pos.max(initial=0)) + 2))
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            rows = by_pos[lo:hi]
            prev = cat[rows - 1]
            u = self.rng.random(len(rows))
            follow = self.successor[prev]
            cat[rows] = np.where(u < STAY, prev, np.where((u < STAY + FOLLOW) & (follow >= 0),
                                                          follow, self._popular(len(rows))))
        order_cat = np.empty(n, dtype=np.int64)
        order_cat[seq] = cat
        line_order = np.searchsorted(o_num, order)
        in_order = self.rng.random(len(item)) < ORDER_SHARE
        new_cat = np.where(in_order, order_cat[line_order], self._category(item))
        self._order_key = (c << _TIME_BITS) + tt
        self._order_cat = cat
        return self._moved(item, new_cat)

    def browsing(self, cust: np.ndarray, t: np.ndarray, item: np.ndarray) -> np.ndarray:
        """New items of browsing rows: some look at the category of the next order."""
        key = (cust.astype(np.int64) << _TIME_BITS) + t.astype(np.int64)
        nxt = np.searchsorted(self._order_key, key, side="right")
        found = nxt < len(self._order_key)
        nxt = np.minimum(nxt, max(len(self._order_key) - 1, 0))
        if len(self._order_key):
            next_cust = self._order_key[nxt] >> _TIME_BITS
            gap = (self._order_key[nxt] & ((1 << _TIME_BITS) - 1)) - t
            found &= (next_cust == cust) & (gap <= BROWSE_AHEAD_DAYS * _DAY)
            ahead = found & (self.rng.random(len(item)) < BROWSE_AHEAD)
            new_cat = np.where(ahead, self._order_cat[nxt], self._category(item))
            return self._moved(item, new_cat)
        return item
