"""Compiled loops for the passes numpy cannot fuse (numba; compiled once, cached on disk).

Each kernel reads the rows once and writes per-customer tables, with no
per-row temporaries. They release the GIL, so the engine's two lanes run
them side by side. Every kernel is a plain loop over arrays: the same
function runs on any partition of customers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "bucket_counts", "first_times", "last_before", "carts_after", "in_time_order", "sort_ties",
    "mark_present", "map_codes", "customer_order", "group_within", "first_rows", "order_runs",
    "order_sums", "pair_sums", "category_spread", "count_before", "price_tiers", "ORDER_SLOTS",
    "order_features", "match_cancellations", "NO_STRINGS", "sums_between",
]

_I64_MAX = np.iinfo(np.int64).max
_I64_MIN = np.iinfo(np.int64).min

_jit = njit(cache=True, nogil=True)

#: the ``offsets`` and ``data`` of a key column without strings (see :func:`group_within`)
NO_STRINGS = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint8))


@_jit
def bucket_counts(customer, timestamp, edges, slot_code, slot_of, counts):  # type: ignore[no-untyped-def]
    """Running counts over time buckets, per (slot, edge, customer), in place.

    Row ``i`` lies in bucket ``b`` when ``edges[b - 1] <= timestamp[i] <
    edges[b]`` (rows at or after the last edge are skipped); its slot is
    ``slot_of[slot_code[i]]`` (a slot outside ``counts`` skips the row). After
    counting, the counts become running sums over ``b``: ``counts[s, b, c]``
    holds the rows of slot ``s`` of customer ``c`` with ``timestamp < edges[b]``.
    """
    n_slots, n_edges, _ = counts.shape
    last = edges[n_edges - 1] if n_edges else _I64_MIN
    for i in range(len(customer)):
        if timestamp[i] >= last:  # at or after every edge: in no window
            continue
        s = slot_of[slot_code[i]]
        if s < 0 or s >= n_slots:
            continue
        counts[s, np.searchsorted(edges, timestamp[i], side="right"), customer[i]] += 1
    for s in range(n_slots):
        for b in range(1, n_edges):
            counts[s, b] += counts[s, b - 1]


@_jit
def first_times(customer, timestamp, n_customers):  # type: ignore[no-untyped-def]
    """Per customer, the earliest timestamp (int64 max where it has no row)."""
    first = np.full(n_customers, _I64_MAX, dtype=np.int64)
    for i in range(len(customer)):
        c = customer[i]
        if timestamp[i] < first[c]:
            first[c] = timestamp[i]
    return first


@_jit
def last_before(customer, timestamp, cutoffs, n_customers):  # type: ignore[no-untyped-def]
    """``[c, j]``: the latest timestamp of customer ``c`` before ``cutoffs[j]`` (sorted), else int64 min."""
    k = len(cutoffs)
    latest = np.full((n_customers, k), _I64_MIN, dtype=np.int64)
    for i in range(len(customer)):
        j = np.searchsorted(cutoffs, timestamp[i], side="right")  # first cutoff after the row
        if j < k and timestamp[i] > latest[customer[i], j]:
            latest[customer[i], j] = timestamp[i]
    for c in range(n_customers):  # before cutoff j means before any later cutoff too
        for j in range(1, k):
            if latest[c, j - 1] > latest[c, j]:
                latest[c, j] = latest[c, j - 1]
    return latest


@_jit
def carts_after(customer, timestamp, event_type, cart_code, cutoffs, window_ns,
                last_purchase):  # type: ignore[no-untyped-def]
    """``[j, c]``: carts of customer ``c`` in the ``window_ns`` before ``cutoffs[j]``, placed after
    its last purchase before that cutoff (``last_purchase[c, j]``)."""
    k = len(cutoffs)
    out = np.zeros((k, len(last_purchase)), dtype=np.int64)
    for i in range(len(customer)):
        if event_type[i] != cart_code:
            continue
        t, c = timestamp[i], customer[i]
        for j in range(k):
            if cutoffs[j] - window_ns <= t < cutoffs[j] and t > last_purchase[c, j]:
                out[j, c] += 1
    return out


@_jit
def in_time_order(customer, timestamp):  # type: ignore[no-untyped-def]
    """Whether rows are sorted by customer, then by time (ties allowed)."""
    for i in range(1, len(customer)):
        if customer[i] < customer[i - 1] or (
                customer[i] == customer[i - 1] and timestamp[i] < timestamp[i - 1]):
            return False
    return True


@_jit
def sort_ties(customer, timestamp, value, order):  # type: ignore[no-untyped-def]
    """Put each run of ``order`` at one (customer, time) in larger-``value``-first order, in place.

    Stable: rows of equal value keep their order. Returns whether any row moved.
    """
    moved = False
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and customer[order[j]] == customer[order[i]] \
                and timestamp[order[j]] == timestamp[order[i]]:
            j += 1
        if j - i > 1:
            run = order[i:j].copy()
            by_value = np.argsort(-value[run], kind="mergesort")
            for k in range(j - i):
                if by_value[k] != k:
                    moved = True
                order[i + k] = run[by_value[k]]
        i = j
    return moved


@_jit
def mark_present(values, low, present):  # type: ignore[no-untyped-def]
    """``present[v - low] = True`` for every value ``v``."""
    for i in range(len(values)):
        present[values[i] - low] = True


@_jit
def map_codes(values, low, table, codes):  # type: ignore[no-untyped-def]
    """``codes[i] = table[values[i] - low]``."""
    for i in range(len(values)):
        codes[i] = table[values[i] - low]


@_jit
def customer_order(customer, keep, n_customers):  # type: ignore[no-untyped-def]
    """The rows where ``keep`` holds, stably sorted by customer (a counting sort)."""
    start = np.zeros(n_customers + 1, dtype=np.int64)
    for i in range(len(customer)):
        if keep[i]:
            start[customer[i] + 1] += 1
    for c in range(n_customers):
        start[c + 1] += start[c]
    order = np.empty(start[n_customers], dtype=np.int64)
    for i in range(len(customer)):
        if keep[i]:
            order[start[customer[i]]] = i
            start[customer[i]] += 1
    return order


@_jit
def _same_string(offsets, data, a, b):  # type: ignore[no-untyped-def]
    """Whether rows ``a`` and ``b`` of an Arrow string column hold the same bytes."""
    length = offsets[a + 1] - offsets[a]
    if length != offsets[b + 1] - offsets[b]:
        return False
    for k in range(length):  # noqa: SIM110 (numba compiles loops, not generators)
        if data[offsets[a] + k] != data[offsets[b] + k]:
            return False
    return True


@_jit
def group_within(rows, customer, key, offsets, data):  # type: ignore[no-untyped-def]
    """Group ``rows`` (sorted by customer) by (customer, ``key``).

    Within each customer, rows are sorted by ``key`` (stable); returns that
    permutation, the start of each group of equal keys in it, and whether
    the grouping is exact. ``key`` is exact when ``offsets`` is empty;
    otherwise it is a hash of the Arrow strings ``offsets``/``data``, and every
    row is checked against the row before it in its group (``False``: two
    strings share a hash).
    """
    n = len(rows)
    order = rows.copy()
    keys = np.empty(n, dtype=key.dtype)  # gathered once: the sorts below read them in sequence
    owner = np.empty(n, dtype=customer.dtype)
    for i in range(n):
        keys[i] = key[rows[i]]
        owner[i] = customer[rows[i]]
    starts = np.empty(n, dtype=np.int64)
    n_groups = 0
    verify = len(offsets) > 0
    exact = True
    i = 0
    while i < n:
        j = i + 1
        while j < n and owner[j] == owner[i]:
            j += 1
        if j - i <= 32:  # insertion sort in place: most customers have a few rows
            for k in range(i + 1, j):
                row, value = order[k], keys[k]
                m = k
                while m > i and keys[m - 1] > value:
                    order[m], keys[m] = order[m - 1], keys[m - 1]
                    m -= 1
                order[m], keys[m] = row, value
        else:
            by_key = np.argsort(keys[i:j], kind="mergesort")
            order[i:j] = order[i:j][by_key]
            keys[i:j] = keys[i:j][by_key]
        for k in range(i, j):
            if k == i or keys[k] != keys[k - 1]:
                starts[n_groups] = k
                n_groups += 1
            elif verify and not _same_string(offsets, data, order[k], order[k - 1]):
                exact = False
        i = j
    return order, starts[:n_groups].copy(), exact


@_jit
def first_rows(codes, n_codes):  # type: ignore[no-untyped-def]
    """Per code ``0..n_codes-1``, the first row holding it (-1: none)."""
    first = np.full(n_codes, -1, dtype=np.int64)
    for i in range(len(codes)):
        if first[codes[i]] < 0:
            first[codes[i]] = i
    return first


@_jit
def order_runs(rows, customer, timestamp, key, valid, offsets, data, mix):  # type: ignore[no-untyped-def]
    """Orders as runs of ``rows`` (sorted by customer, then time).

    A row continues the run before it when both have a key (see
    :class:`~repurchase_ml.features._arrays.Keys`: equal ``key``, and equal
    bytes for strings) and the same customer and time. Returns the start of
    each run in ``rows``, and a hash of (customer, key) per run with a key:
    if these are distinct, no order id starts two runs.
    """
    n = len(rows)
    starts = np.empty(n, dtype=np.int64)
    n_runs = 0
    n_keyed = 0
    verify = len(offsets) > 0
    for i in range(n):
        r = rows[i]
        same = False
        if i > 0:
            p = rows[i - 1]
            same = valid[r] and valid[p] and customer[r] == customer[p] \
                and timestamp[r] == timestamp[p] and key[r] == key[p]
            if same and verify:
                same = _same_string(offsets, data, r, p)
        if not same:
            starts[n_runs] = i
            n_runs += 1
            n_keyed += valid[r]
    hashes = np.empty(n_keyed, dtype=np.uint64)
    k = 0
    for j in range(n_runs):
        r = rows[starts[j]]
        if valid[r]:
            hashes[k] = key[r] ^ (np.uint64(customer[r]) * mix)
            k += 1
    return starts[:n_runs].copy(), hashes


@_jit
def order_sums(rows, starts, value, items, discount):  # type: ignore[no-untyped-def]
    """Per run of ``rows`` (runs begin at ``starts``): the int64 sums of ``value`` and ``items``,
    and whether any row has ``discount`` (all False when ``discount`` is empty)."""
    n = len(starts)
    value_sums = np.zeros(n, dtype=np.int64)
    items_sums = np.zeros(n, dtype=np.int64)
    any_discount = np.zeros(n, dtype=np.bool_)
    has_discount = len(discount) > 0
    for j in range(n):
        end = starts[j + 1] if j + 1 < n else len(rows)
        for i in range(starts[j], end):
            r = rows[i]
            value_sums[j] += value[r]
            items_sums[j] += items[r]
            if has_discount and discount[r]:
                any_discount[j] = True
    return value_sums, items_sums, any_discount


@_jit
def pair_sums(pair, timestamp, price, known, void, cutoff, recent_from, n_pairs):  # type: ignore[no-untyped-def]
    """Per (customer, category) pair (``pair`` -1: none), over its rows before ``cutoff``: rows,
    and the sum and count of the ``known`` prices; then that sum and count over the rows at or
    after ``recent_from``. Rows cancelled before ``cutoff`` (``void``; empty: none) are left out."""
    has_void = len(void) > 0
    rows = np.zeros(n_pairs)
    price_sum = np.zeros(n_pairs)
    price_n = np.zeros(n_pairs)
    recent_sum = np.zeros(n_pairs)
    recent_n = np.zeros(n_pairs)
    for i in range(len(pair)):
        t, p = timestamp[i], pair[i]
        if t >= cutoff or p < 0 or (has_void and void[i] < cutoff):
            continue
        rows[p] += 1.0
        if known[i]:
            price_sum[p] += price[i]
            price_n[p] += 1.0
            if t >= recent_from:
                recent_sum[p] += price[i]
                recent_n[p] += 1.0
    return rows, price_sum, price_n, recent_sum, recent_n


@_jit
def sums_between(customer, timestamp, value, starts, ends, n_customers):  # type: ignore[no-untyped-def]
    """``[i, c]``: the int64 sum of ``value`` over customer ``c``'s rows with
    ``starts[i] <= timestamp < ends[i]``, for every span ``i`` in one pass."""
    out = np.zeros((len(starts), n_customers), dtype=np.int64)
    for r in range(len(customer)):
        t = timestamp[r]
        for i in range(len(starts)):
            if starts[i] <= t < ends[i]:
                out[i, customer[r]] += value[r]
    return out


@_jit
def category_spread(pair_customer, rows, n_customers):  # type: ignore[no-untyped-def]
    """Per customer, from its pairs' row counts: total rows, categories bought, sum of
    ``rows * log(rows)`` and the largest count."""
    total = np.zeros(n_customers)
    distinct = np.zeros(n_customers)
    n_log_n = np.zeros(n_customers)
    top = np.zeros(n_customers)
    for p in range(len(pair_customer)):
        r = rows[p]
        if r > 0:
            c = pair_customer[p]
            total[c] += r
            distinct[c] += 1.0
            n_log_n[c] += r * np.log(r)
            if r > top[c]:
                top[c] = r
    return total, distinct, n_log_n, top


@_jit
def count_before(customer, timestamp, cutoff, n_customers):  # type: ignore[no-untyped-def]
    """Per customer, how many of its rows have ``timestamp < cutoff`` (as float64)."""
    counts = np.zeros(n_customers)
    for i in range(len(customer)):
        if timestamp[i] < cutoff:
            counts[customer[i]] += 1.0
    return counts


@_jit
def price_tiers(pair_customer, pair_category, levels, sums, counts, recent_sums, recent_counts,
                scale, n_customers):  # type: ignore[no-untyped-def]
    """Per customer: the mean of its unit prices relative to their category's level
    (``levels``, NaN or 0: unknown), over all its pairs' price ``sums``/``counts``, then over
    the recent ones (NaN where no price is known)."""
    tier = np.zeros(n_customers)
    known = np.zeros(n_customers)
    recent = np.zeros(n_customers)
    recent_known = np.zeros(n_customers)
    for p in range(len(pair_customer)):
        level = levels[pair_category[p]]
        if level > 0:  # NaN compares False
            c = pair_customer[p]
            tier[c] += (sums[p] / scale) / level
            known[c] += counts[p]
            recent[c] += (recent_sums[p] / scale) / level
            recent_known[c] += recent_counts[p]
    for c in range(n_customers):
        tier[c] = tier[c] / known[c] if known[c] > 0 else np.nan
        recent[c] = recent[c] / recent_known[c] if recent_known[c] > 0 else np.nan
    return tier, recent


#: what :func:`order_features` computes, in its slot order; then per window ``w`` of
#: ``windows``: orders, revenue, items; then per trend window: orders and revenue change
ORDER_SLOTS = ("items_all", "days_since_last_purchase", "days_since_first_purchase",
               "gap_mean_days", "gap_median_days", "gap_std_days", "gap_last_days",
               "overdue_ratio", "days_until_expected_purchase", "monthly_order_slope",
               "aov_all", "aov_recent", "aov_ratio_recent", "discount_share", "night_share",
               "weekend_share", "promo_day_share", "peak_hour", "first_order_value",
               "first_to_second_gap_days", "purchase_days_all")


@_jit
def order_features(customer, timestamp, value, items, discount, cutoff, rows, windows, trend,
                   slope_months, value_window, night_start, night_end, first_day, promo,
                   day, scale, out, cols):  # type: ignore[no-untyped-def]
    """Order features of the customers ``rows`` (sorted codes) at ``cutoff``, into ``out``.

    Orders are sorted by customer, then time (larger value first), all before
    ``cutoff``; ``value`` and ``items`` are fixed point (``scale``),
    ``discount`` 0/1 per order (empty: no discount column). Slot ``s`` (see
    :data:`ORDER_SLOTS`) goes to column ``cols[s]`` of ``out`` (row ``r`` for
    customer ``rows[r]``); ``-1`` skips it. Windows are in days: a window
    ``w`` holds orders with ``cutoff - w days <= timestamp``. Gaps are in whole
    calendar days between distinct purchase days (orders on one day never
    make a 0-day gap). Returns the order count and revenue of each row.
    """
    n_fixed = 21
    n_rows = len(rows)
    count_out = np.zeros(n_rows)
    revenue_out = np.zeros(n_rows)
    slots = np.empty(len(cols))
    n_w, n_t = len(windows), len(trend)
    w_n = np.zeros(n_w)
    w_value = np.zeros(n_w)
    w_items = np.zeros(n_w)
    t_n = np.zeros(n_t)
    t_value = np.zeros(n_t)
    by_hour = np.zeros(24, dtype=np.int64)
    gaps = np.empty(len(customer))
    hour_ns = day // 24
    month_ns = 30 * day
    has_discount = len(discount) > 0
    p = 0
    for r in range(n_rows):
        c = rows[r]
        while p < len(customer) and customer[p] < c:
            p += 1
        q = p
        while q < len(customer) and customer[q] == c:
            q += 1
        m = q - p
        if m == 0:  # no order: counts and sums are 0, everything else undefined
            for s in range(len(cols)):
                if cols[s] >= 0:
                    out[r, cols[s]] = 0.0 if s == 0 or s == 9 or s >= n_fixed - 1 else np.nan
            continue
        revenue = 0.0
        n_items = 0.0
        on_discount = 0.0
        night = 0.0
        weekend = 0.0
        on_promo = 0.0
        twice_slope = 0
        recent_n = 0.0
        recent_value = 0.0
        w_n[:] = 0.0
        w_value[:] = 0.0
        w_items[:] = 0.0
        t_n[:] = 0.0
        t_value[:] = 0.0
        by_hour[:] = 0
        for k in range(p, q):
            t = timestamp[k]
            age = cutoff - t  # > 0
            revenue += value[k]
            n_items += items[k]
            if has_discount:
                on_discount += discount[k]
            for i in range(n_w):
                if t >= cutoff - windows[i] * day:
                    w_n[i] += 1.0
                    w_value[i] += value[k]
                    w_items[i] += items[k]
            for i in range(n_t):
                lo = cutoff - 2 * trend[i] * day
                if t >= cutoff - trend[i] * day:
                    t_n[i] += 1.0
                    t_value[i] += value[k]
                elif t >= lo:
                    t_n[i] -= 1.0
                    t_value[i] -= value[k]
            month = (age - 1) // month_ns  # month 0 holds ages in (0, 30 days]
            if month < slope_months:
                twice_slope += (slope_months - 1) - 2 * month
            if t >= cutoff - value_window * day:
                recent_n += 1.0
                recent_value += value[k]
            hour = (t // hour_ns) % 24
            t_day = t // day
            if (night_start <= hour < night_end) if night_start < night_end \
                    else (hour >= night_start or hour < night_end):
                night += 1.0
            if (t_day + 3) % 7 >= 5:  # 1970-01-01 was a Thursday
                weekend += 1.0
            if promo[t_day - first_day]:
                on_promo += 1.0
            by_hour[hour] += 1
        # gaps between distinct purchase days (orders are in time order)
        n_days = 1
        previous = timestamp[p] // day
        for k in range(p + 1, q):
            today = timestamp[k] // day
            if today != previous:
                gaps[n_days - 1] = today - previous
                n_days += 1
                previous = today
        last_age = (cutoff - timestamp[q - 1]) / day
        first_age = (cutoff - timestamp[p]) / day
        median = std = last_gap = first_gap = gap_mean = np.nan
        if n_days >= 2:
            g = gaps[:n_days - 1]
            median = np.median(g)
            last_gap, first_gap = g[n_days - 2], g[0]
            gap_mean = (previous - timestamp[p] // day) / (n_days - 1)
            if n_days >= 3:
                mean = g.sum() / (n_days - 1)
                std = np.sqrt(((g - mean) ** 2).sum() / (n_days - 2))
        aov_recent = (recent_value / recent_n) / scale if recent_n > 0 else np.nan
        aov_before = ((revenue - recent_value) / (m - recent_n)) / scale if m - recent_n > 0 \
            else np.nan
        peak = 0
        for h in range(24):
            if by_hour[h] > by_hour[peak]:
                peak = h
        slots[0] = n_items / scale
        slots[1] = last_age
        slots[2] = first_age
        slots[3] = gap_mean
        slots[4] = median
        slots[5] = std
        slots[6] = last_gap
        slots[7] = last_age / max(median, 1.0) if n_days >= 2 else np.nan
        slots[8] = median - last_age
        slots[9] = twice_slope / (slope_months * (slope_months * slope_months - 1) / 6.0)
        slots[10] = (revenue / m) / scale
        slots[11] = aov_recent
        slots[12] = aov_recent / aov_before if aov_before > 0 else np.nan
        slots[13] = on_discount / m
        slots[14] = night / m
        slots[15] = weekend / m
        slots[16] = on_promo / m
        slots[17] = peak
        slots[18] = value[p] / scale
        slots[19] = first_gap
        slots[20] = n_days
        for i in range(n_w):
            slots[n_fixed + 3 * i] = w_n[i]
            slots[n_fixed + 3 * i + 1] = w_value[i] / scale
            slots[n_fixed + 3 * i + 2] = w_items[i] / scale
        for i in range(n_t):
            slots[n_fixed + 3 * n_w + 2 * i] = t_n[i]
            slots[n_fixed + 3 * n_w + 2 * i + 1] = t_value[i] / scale
        for s in range(len(cols)):
            if cols[s] >= 0:
                out[r, cols[s]] = slots[s]
        count_out[r] = m
        revenue_out[r] = revenue / scale
        p = q
    return count_out, revenue_out


@_jit
def match_cancellations(rows, customer, timestamp, key, value, is_first, group_of, by_group,
                        group_starts, refunds, refund_customer, refund_time, refund_key,
                        refund_amount, within):  # type: ignore[no-untyped-def]
    """Which orders full refunds cancel soon after them; refunds in time order, greedily.

    ``rows`` are the purchase rows to consider, sorted by (customer, time);
    ``key`` is each row's order id code (-1: none, the row is an order of its
    own), ``value`` its fixed-point amount, ``is_first`` whether it is its
    order's first row. ``by_group`` lists the keyed rows order by order
    (order ``g`` from ``group_starts[g]`` to ``group_starts[g + 1]``);
    ``group_of`` names each keyed row's order. ``refunds`` are refund rows
    sorted by (customer, time). A refund cancels the order that starts at
    most ``within`` ns before it (and not after it), that no earlier refund
    cancelled, whose rows up to the refund sum to at most the refund amount,
    and whose order id equals the refund's when both have one; an order with
    the same id wins, then the latest. A refund's choice reads no row after
    it, so matches never depend on later events. Each refund reads only the
    rows in its window. Returns, per purchase row, the time of the refund
    that cancels its order (int64 max: none), and per refund whether it
    cancels one.
    """
    void = np.full(len(customer), _I64_MAX, dtype=np.int64)
    cancels = np.zeros(len(refund_customer), dtype=np.bool_)
    n = len(rows)
    p = 0  # the refund's customer's first row
    lo = 0  # its first row inside the refund's window
    for kk in range(len(refunds)):
        k = refunds[kk]
        c, t = refund_customer[k], refund_time[k]
        if p < n and customer[rows[p]] < c:
            while p < n and customer[rows[p]] < c:
                p += 1
            lo = p
        lo = max(lo, p)
        while lo < n and customer[rows[lo]] == c and timestamp[rows[lo]] < t - within:
            lo += 1
        best, best_by_id = -1, False
        i = lo
        while i < n and customer[rows[i]] == c and timestamp[rows[i]] <= t:
            r = rows[i]
            by_id = key[r] >= 0 and refund_key[k] >= 0
            if is_first[r] and void[r] == _I64_MAX and (not by_id or key[r] == refund_key[k]):
                total = value[r]
                if key[r] >= 0:  # the order's later rows up to the refund are in the window
                    j = i + 1
                    while j < n and customer[rows[j]] == c and timestamp[rows[j]] <= t:
                        if key[rows[j]] == key[r]:
                            total += value[rows[j]]
                        j += 1
                if total <= refund_amount[k] and (by_id or not best_by_id):
                    best, best_by_id = r, by_id
            i += 1
        if best >= 0:
            cancels[k] = True
            if key[best] < 0:
                void[best] = t
            else:  # every row of that order, later ones too
                g = group_of[best]
                for j in range(group_starts[g], group_starts[g + 1]):
                    void[by_group[j]] = t
    return void, cancels


# numba sets itself up on the first call of any compiled function in a process (it imports
# its typing registries and scipy.linalg, ~0.3 s): done here, with the module, so that it
# counts as import time and not as the first feature build's
first_times(np.zeros(1, dtype=np.int32), np.zeros(1, dtype=np.int64), 1)
