"""The next category per customer: which category not yet bought a customer buys next.

At a cutoff ``t`` every customer with at least ``min_orders`` orders before
``t`` gets candidate categories they have not bought yet: the most popular
categories, the categories they browsed, and the likeliest next categories
after their last order's. Each (customer, category) pair gets point-in-time
features, all from events before ``t``:

* the customer's own features (the feature engine's
  :func:`~repurchase_ml.features.build_features` at ``t``);
* the category's popularity (share of buyers, all time and last 30 days);
* the transition table of consecutive orders before ``t``: the share of next
  orders in this category after the customer's last order's category (and
  its lift), and the mean over every category the customer bought;
* co-buying: mean confidence ``P(this category | a category the customer bought)``;
* browsing of the category: views, carts, favourites, the last week's
  browsing, days since the last, share of the customer's browsing.

The label is "bought the category in ``[t, t + horizon)``". One LightGBM
model ranks the pairs: a binary model over all pairs (one-vs-rest as one
model) or a lambdarank model per (customer, cutoff), whichever has the higher
NDCG@k on the newest training cutoff (``objective="auto"``).
:func:`evaluate_next_category` judges it out of time with hit rate@k and
NDCG@k against baselines on the same customers: category popularity, the
transition table from the last order's category, and the customer's most
browsed categories (:data:`BASELINES`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from repurchase_ml.categories._common import (
    BEHAVIOUR_TYPES,
    as_of_time,
    canonical_pandas,
    check_count,
    log_before,
    orders_of,
    purchase_lines,
)
from repurchase_ml.categories.paths import transition_counts
from repurchase_ml.features._inputs import normalise_cutoffs
from repurchase_ml.features.labels import data_end

__all__ = ["NextCategoryModel", "next_category_frame", "evaluate_next_category",
           "PAIR_FEATURES", "OBJECTIVES", "BASELINES"]

logger = logging.getLogger(__name__)

#: features of a (customer, category) pair, besides the customer's own
PAIR_FEATURES = (
    "category_buyer_share", "category_buyer_share_30d", "category_trend_30d",
    "transition_from_last", "transition_lift_from_last", "transition_from_bought",
    "affinity_from_bought", "category_views", "category_carts", "category_favorites",
    "category_browse_7d", "days_since_category_browse", "category_browse_share",
    "categories_bought",
)
OBJECTIVES = ("auto", "binary", "lambdarank")
#: baseline scorers: the pair column each ranks by (ties by popularity): the most bought
#: categories, the transition table from the last order's category, and the customer's
#: most browsed categories (the obvious heuristic where views exist)
BASELINES = {"popularity": "category_buyer_share", "transition": "transition_from_last",
             "browsing": "category_browse_share"}
_DAY = pd.Timedelta(days=1)
_KEYS = ["customer_id", "cutoff", "category"]


@dataclass
class _Snapshot:
    """Pairs at one cutoff and, with labels, every customer's new categories bought."""

    pairs: pd.DataFrame
    customers: pd.DataFrame  # customer_id, new_categories (bought in the horizon, not before)


def _codes(values: np.ndarray, vocabulary: pd.Index) -> np.ndarray:
    return vocabulary.get_indexer(values)


def _pair_values(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows[i], cols[i]]`` for every i (0 where not stored)."""
    if len(rows) == 0:
        return np.zeros(0)
    return np.asarray(matrix[rows, cols]).ravel()


def _row_normalised(matrix: sp.csr_matrix) -> sp.csr_matrix:
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals, dtype=float), where=totals > 0)
    return sp.csr_matrix(sp.diags(scale) @ matrix)


def _snapshot(events: pd.DataFrame, cutoff: pd.Timestamp, *, horizon_days: int | None,
              popular: int, transitions: int, min_orders: int, order_definition: str,
              cancellation_window_days: float, features: pd.DataFrame | None) -> _Snapshot:
    """Candidate pairs with features (and labels) at one cutoff; reads events before it
    (and, for labels only, events in ``[cutoff, cutoff + horizon)``)."""
    log = log_before(events, cutoff, cancellation_window_days=cancellation_window_days)
    lines = purchase_lines(log, order_definition=order_definition)
    orders = orders_of(lines)
    browsing = log.loc[log["event_type"].isin(BEHAVIOUR_TYPES).to_numpy()
                       & log["category"].notna().to_numpy(),
                       ["customer_id", "timestamp", "event_type", "category"]]
    browsing = browsing.assign(category=browsing["category"].astype(str).to_numpy())
    vocab = pd.Index(sorted(set(lines["category"]).union(browsing["category"])), dtype=object)
    # the population: customers with enough orders (or, min_orders 0, any event) before t
    n_orders = orders.groupby("customer_id").size()
    if min_orders > 0:
        population = np.sort(n_orders.index[n_orders >= min_orders].to_numpy())
    else:
        population = np.sort(pd.unique(log["customer_id"]))
    pop_index = pd.Index(population)
    n_pop, n_cat = len(population), len(vocab)

    # what each category is, from every buyer before t
    bought = lines[["customer_id", "category"]].drop_duplicates()
    buyers = max(bought["customer_id"].nunique(), 1)
    share = bought["category"].value_counts().reindex(vocab, fill_value=0) / buyers
    recent = lines.loc[(lines["timestamp"] >= cutoff - 30 * _DAY).to_numpy(),
                       ["customer_id", "category"]].drop_duplicates()
    recent_share = (recent["category"].value_counts().reindex(vocab, fill_value=0)
                    / max(recent["customer_id"].nunique(), 1))
    trans = transition_counts(orders)
    t_matrix = sp.csr_matrix((trans["share"].to_numpy(dtype=float),
                              (_codes(trans["from_category"].to_numpy(), vocab),
                               _codes(trans["to_category"].to_numpy(), vocab))),
                             shape=(n_cat, n_cat))
    next_rate = np.zeros(n_cat)
    if len(trans):
        to_total = trans.groupby("to_category")["count"].sum()
        next_rate = (to_total.reindex(vocab, fill_value=0) / to_total.sum()).to_numpy(dtype=float)
    all_buyers = pd.Index(np.sort(bought["customer_id"].unique()))
    x_all = sp.csr_matrix((np.ones(len(bought)),
                           (all_buyers.get_indexer(bought["customer_id"].to_numpy()),
                            _codes(bought["category"].to_numpy(), vocab))),
                          shape=(len(all_buyers), n_cat))
    confidence = _row_normalised(sp.csr_matrix(x_all.T @ x_all))  # P(B | A), A -> B

    # the population's own categories
    mine = bought.loc[bought["customer_id"].isin(population).to_numpy()]
    x = sp.csr_matrix((np.ones(len(mine)), (pop_index.get_indexer(mine["customer_id"].to_numpy()),
                                            _codes(mine["category"].to_numpy(), vocab))),
                      shape=(n_pop, n_cat))
    n_bought = np.asarray(x.sum(axis=1)).ravel()
    last = orders.drop_duplicates("customer_id", keep="last").set_index("customer_id")["category"]
    last_code = _codes(last.reindex(population).to_numpy(dtype=object), vocab)  # -1: no order

    # candidates: popular, browsed, next after the last order's category; not yet bought
    top = np.argsort(-share.to_numpy(), kind="stable")[:popular]
    parts = [pd.DataFrame({"row": np.repeat(np.arange(n_pop), len(top)),
                           "col": np.tile(top, n_pop)})]
    seen = browsing.loc[browsing["customer_id"].isin(population).to_numpy()]
    parts.append(pd.DataFrame({"row": pop_index.get_indexer(seen["customer_id"].to_numpy()),
                               "col": _codes(seen["category"].to_numpy(), vocab)}))
    if transitions > 0 and len(trans):
        dense_next = t_matrix.toarray() if n_cat <= 2_000 else None
        has_last = np.flatnonzero(last_code >= 0)
        for rows in np.array_split(has_last, max(1, len(has_last) // 5_000)):
            block = (dense_next[last_code[rows]] if dense_next is not None
                     else t_matrix[last_code[rows]].toarray())
            best = np.argsort(-block, axis=1, kind="stable")[:, :transitions]
            keep = np.take_along_axis(block, best, axis=1) > 0
            parts.append(pd.DataFrame({"row": np.repeat(rows, best.shape[1])[keep.ravel()],
                                       "col": best.ravel()[keep.ravel()]}))
    cand = pd.concat(parts, ignore_index=True).drop_duplicates()
    owned = _pair_values(x, cand["row"].to_numpy(), cand["col"].to_numpy()) > 0
    cand = cand.loc[~owned].sort_values(["row", "col"], kind="stable").reset_index(drop=True)
    row, col = cand["row"].to_numpy(), cand["col"].to_numpy()

    pairs = pd.DataFrame({"customer_id": population[row], "cutoff": cutoff,
                          "category": vocab.to_numpy()[col]})
    pairs["category_buyer_share"] = share.to_numpy(dtype=float)[col]
    pairs["category_buyer_share_30d"] = recent_share.to_numpy(dtype=float)[col]
    with np.errstate(divide="ignore", invalid="ignore"):
        pairs["category_trend_30d"] = pairs["category_buyer_share_30d"] / pairs[
            "category_buyer_share"].replace(0.0, np.nan)
        lc = last_code[row]
        from_last = np.where(lc >= 0, _pair_values(t_matrix, np.maximum(lc, 0), col), np.nan)
        pairs["transition_from_last"] = from_last
        pairs["transition_lift_from_last"] = from_last / np.where(next_rate[col] > 0,
                                                                  next_rate[col], np.nan)
        spread = n_bought[row]
        pairs["transition_from_bought"] = _pair_values(sp.csr_matrix(x @ t_matrix), row,
                                                       col) / spread
        pairs["affinity_from_bought"] = _pair_values(sp.csr_matrix(x @ confidence), row,
                                                     col) / spread
    pairs["categories_bought"] = spread
    _browse_features(pairs, seen, cutoff)
    if features is not None:
        own = features.drop(columns=["cutoff"]).set_index("customer_id")
        own = own.reindex(pairs["customer_id"].to_numpy())
        pairs = pd.concat([pairs, own.reset_index(drop=True)], axis=1)
    customers = pd.DataFrame({"customer_id": population})
    if horizon_days is not None:
        pairs, customers = _labels(events, pairs, customers, cutoff, horizon_days, x, vocab,
                                   pop_index, order_definition, cancellation_window_days)
    return _Snapshot(pairs, customers)


def _browse_features(pairs: pd.DataFrame, seen: pd.DataFrame, cutoff: pd.Timestamp) -> None:
    """Browsing of the pair's category by the customer before the cutoff (in place)."""
    key = ["customer_id", "category"]
    kinds = seen.assign(kind=seen["event_type"].astype(str).to_numpy()).groupby(
        [*key, "kind"]).size().unstack("kind")
    week = seen.loc[(seen["timestamp"] >= cutoff - 7 * _DAY).to_numpy()].groupby(key).size()
    latest = seen.groupby(key)["timestamp"].max()
    total = seen.groupby("customer_id").size()
    index = pd.MultiIndex.from_arrays([pairs["customer_id"].to_numpy(),
                                       pairs["category"].to_numpy()])
    for kind, name in (("view", "category_views"), ("cart", "category_carts"),
                       ("favorite", "category_favorites")):
        counts = kinds[kind] if kind in kinds.columns else pd.Series(dtype=float)
        pairs[name] = counts.reindex(index).fillna(0.0).to_numpy(dtype=float)
    pairs["category_browse_7d"] = week.reindex(index).fillna(0.0).to_numpy(dtype=float)
    pairs["days_since_category_browse"] = (
        (cutoff - latest.reindex(index)).dt.total_seconds().to_numpy() / 86_400)
    browsed = pairs[["category_views", "category_carts", "category_favorites"]].sum(axis=1)
    mine = total.reindex(pairs["customer_id"].to_numpy()).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pairs["category_browse_share"] = np.where(mine > 0, browsed.to_numpy() / mine, 0.0)


def _labels(events: pd.DataFrame, pairs: pd.DataFrame, customers: pd.DataFrame,
            cutoff: pd.Timestamp, horizon_days: int, x: sp.csr_matrix, vocab: pd.Index,
            pop_index: pd.Index, order_definition: str,
            cancellation_window_days: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``label``: the pair's category bought in ``[cutoff, cutoff + horizon)``; and per
    customer the number of categories bought there for the first time."""
    end = cutoff + horizon_days * _DAY
    later = purchase_lines(log_before(events, end,
                                      cancellation_window_days=cancellation_window_days),
                           order_definition=order_definition)
    later = later.loc[(later["timestamp"] >= cutoff).to_numpy()
                      & later["customer_id"].isin(pop_index).to_numpy(),
                      ["customer_id", "category"]].drop_duplicates()
    row = pop_index.get_indexer(later["customer_id"].to_numpy())
    col = _codes(later["category"].to_numpy(), vocab)
    known = col >= 0
    new = np.ones(len(later), dtype=bool)  # a category never seen before t is new to everyone
    new[known] = _pair_values(x, row[known], col[known]) == 0
    fresh = later.loc[new]
    customers = customers.assign(new_categories=fresh.groupby("customer_id").size().reindex(
        customers["customer_id"].to_numpy()).fillna(0).to_numpy(dtype=np.int64))
    hit = pd.MultiIndex.from_frame(fresh)
    pairs = pairs.assign(label=pd.MultiIndex.from_arrays(
        [pairs["customer_id"].to_numpy(), pairs["category"].to_numpy()]).isin(hit).astype(np.int8))
    return pairs, customers


def _check_horizon(events: pd.DataFrame, cutoffs: Sequence[pd.Timestamp], horizon: int) -> None:
    end = data_end(events)
    late = [c for c in cutoffs if c + horizon * _DAY > end]
    if late:
        raise ValueError(f"cutoffs: {[str(c.date()) for c in late]} leave less than the "
                         f"{horizon}-day horizon inside the log (it ends {end.date()}). Fix: "
                         f"use cutoffs on or before {(end - horizon * _DAY).date()}.")


def _customer_features(events: pd.DataFrame, cutoffs: Sequence[pd.Timestamp],
                       spec: Any) -> pd.DataFrame:
    from repurchase_ml.features.engine import build_features

    return build_features(events, cutoffs=list(cutoffs), spec=spec, max_days_after_data=None)


def next_category_frame(events: Any, *, cutoffs: object, horizon_days: int | None = None,
                        popular_candidates: int = 20, transition_candidates: int = 10,
                        min_orders: int = 1, customer_features: bool = True,
                        feature_spec: Any = None, order_definition: str = "order_id",
                        cancellation_window_days: float = 1.0) -> pd.DataFrame:
    """Candidate (customer, category) pairs with point-in-time features, per cutoff.

    Parameters
    ----------
    events : pandas or polars DataFrame
        A canonical event log with a ``category`` column.
    cutoffs : date or sequence of dates
        Required. Pairs at ``t`` read only events before ``t``.
    horizon_days : int, optional
        Add ``label`` (the category bought in ``[t, t + horizon_days)``); every
        cutoff's horizon must lie inside the log.
    popular_candidates : int, default 20
        Candidates from the most bought categories.
    transition_candidates : int, default 10
        Candidates from the likeliest next categories after the last order's.
    min_orders : int, default 1
        Customers with at least this many orders before ``t`` get pairs (0: any event).
    customer_features : bool, default True
        Join the customer's feature-engine columns.
    feature_spec : FeatureSpec, optional
        Spec of those columns.
    order_definition, cancellation_window_days
        As in :func:`~repurchase_ml.categories.category_orders`.

    Returns
    -------
    DataFrame
        ``customer_id``, ``cutoff``, ``category``, :data:`PAIR_FEATURES`, the
        customer's features, and ``label`` when ``horizon_days`` is given;
        sorted by cutoff, customer and category.

    Examples
    --------
    >>> ev = pd.DataFrame({"customer_id": [1, 1, 2, 2, 2, 3],
    ...     "timestamp": pd.to_datetime(["2024-01-01", "2024-01-10", "2024-01-02",
    ...                                  "2024-01-05", "2024-01-20", "2024-01-03"]),
    ...     "event_type": pd.Categorical(["purchase", "view"] + ["purchase"] * 4,
    ...         categories=["purchase", "refund", "view", "cart", "favorite"]),
    ...     "amount": [5.0, np.nan, 5.0, 5.0, 5.0, 5.0],
    ...     "category": ["a", "b", "a", "b", "c", "c"]})
    >>> f = next_category_frame(ev, cutoffs="2024-01-15", horizon_days=6,
    ...                         customer_features=False)
    >>> f[["customer_id", "category", "transition_from_last", "category_views", "label"]]
       customer_id category  transition_from_last  category_views  label
    0            1        b                   1.0             1.0      0
    1            1        c                   0.0             0.0      0
    2            2        c                   0.0             0.0      1
    3            3        a                   0.0             0.0      0
    4            3        b                   0.0             0.0      0
    """
    frame = canonical_pandas(events)
    cuts = normalise_cutoffs(cutoffs)
    popular = check_count(popular_candidates, "popular_candidates", minimum=0)
    trans = check_count(transition_candidates, "transition_candidates", minimum=0)
    min_o = check_count(min_orders, "min_orders", minimum=0)
    horizon = None if horizon_days is None else check_count(horizon_days, "horizon_days")
    if horizon is not None:
        _check_horizon(frame, cuts, horizon)
    own = _customer_features(frame, cuts, feature_spec) if customer_features else None
    parts = []
    for cutoff in cuts:
        feats = None if own is None else own.loc[own["cutoff"] == cutoff]
        parts.append(_snapshot(frame, cutoff, horizon_days=horizon, popular=popular,
                               transitions=trans, min_orders=min_o,
                               order_definition=order_definition,
                               cancellation_window_days=cancellation_window_days,
                               features=feats).pairs)
    return pd.concat(parts, ignore_index=True)


def _groups(pairs: pd.DataFrame) -> np.ndarray:
    """Sizes of consecutive (cutoff, customer) groups (pairs sorted by them)."""
    key = pairs["cutoff"].astype("int64").astype(str) + "|" + pairs["customer_id"].astype(str)
    starts = np.flatnonzero(np.r_[True, key.to_numpy()[1:] != key.to_numpy()[:-1]])
    return np.diff(np.r_[starts, len(pairs)])


def _ranked(pairs: pd.DataFrame, score: np.ndarray) -> pd.DataFrame:
    """Pairs with ``score`` and ``rank`` (1 = best) per (cutoff, customer); ties by category."""
    out = pairs[["customer_id", "cutoff", "category"]].assign(score=score)
    if "label" in pairs.columns:
        out["label"] = pairs["label"].to_numpy()
    out = out.sort_values(["cutoff", "customer_id", "score", "category"],
                          ascending=[True, True, False, True], kind="stable")
    out["rank"] = out.groupby(["cutoff", "customer_id"], sort=False).cumcount() + 1
    return out


def ranking_metrics(ranked: pd.DataFrame, customers: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """Hit@k and NDCG@k per customer with at least one new category bought in the horizon.

    ``customers`` has ``customer_id`` and ``new_categories`` (how many categories
    the customer bought for the first time, candidates or not: the ideal DCG
    counts them all, so a category missing from the candidates is a miss).
    """
    target = customers.loc[customers["new_categories"] > 0, ["customer_id", "new_categories"]]
    top = ranked.loc[(ranked["rank"] <= k).to_numpy()]
    gain = top["label"].to_numpy() / np.log2(top["rank"].to_numpy() + 1.0)
    dcg = pd.Series(gain).groupby(top["customer_id"].to_numpy()).sum()
    hits = pd.Series(top["label"].to_numpy()).groupby(top["customer_id"].to_numpy()).max()
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discounts)[np.minimum(target["new_categories"].to_numpy(), k) - 1]
    ids = target["customer_id"].to_numpy()
    return pd.DataFrame({"customer_id": ids,
                         "hit": hits.reindex(ids).fillna(0).to_numpy(dtype=float),
                         "ndcg": dcg.reindex(ids).fillna(0).to_numpy(dtype=float) / ideal})


class NextCategoryModel:
    """A ranked list of categories not yet bought per customer, trained out of time.

    Parameters
    ----------
    horizon_days : int, default 30
        The label window: a category bought in ``[t, t + horizon_days)``.
    objective : {"auto", "binary", "lambdarank"}, default "auto"
        ``"binary"``: one model over all (customer, category) pairs, its output
        the probability. ``"lambdarank"``: a ranking model per customer, its
        scores mapped to probabilities by a logistic fit on the validation
        cutoff. ``"auto"``: both, keep the one with the higher NDCG@k there.
    k : int, default 3
        Length of the list the objective choice is judged on.
    popular_candidates, transition_candidates, min_orders
        See :func:`next_category_frame`.
    customer_features : bool, default True
        Use the customer's feature-engine columns beside the pair features.
    feature_spec : FeatureSpec, optional
    lgbm_params : dict, optional
        LightGBM parameters over the library's defaults.
    n_estimators : int, default 400
        Most boosting rounds; early stopping on the validation cutoff picks fewer.
    early_stopping_rounds : int, default 30
    random_state : int, default 0
    order_definition : {"order_id", "customer_day"}, default "order_id"
    cancellation_window_days : float, default 1.0

    Attributes
    ----------
    objective_ : str
        The objective kept.
    validation_ : DataFrame
        NDCG@k and hit rate@k of each objective tried on the validation cutoff.
    feature_names_ : list of str
    booster_ : lightgbm.Booster

    Examples
    --------
    >>> import repurchase_ml as rm
    >>> ev, _ = rm.make_event_log(400, "2022-01-01", "2023-07-01", random_state=0,
    ...                           category_paths=True)
    >>> model = NextCategoryModel(horizon_days=60, objective="binary", customer_features=False)
    >>> model = model.fit(ev, cutoffs=["2022-09-01", "2022-11-01", "2023-01-01"])
    >>> top = model.predict(ev, as_of="2023-03-01", top_k=2)
    >>> list(top.columns), bool(top["probability"].between(0, 1).all())
    (['customer_id', 'rank', 'next_category', 'probability'], True)
    """

    def __init__(self, *, horizon_days: int = 30, objective: str = "auto", k: int = 3,
                 popular_candidates: int = 20, transition_candidates: int = 10,
                 min_orders: int = 1, customer_features: bool = True, feature_spec: Any = None,
                 lgbm_params: Mapping[str, Any] | None = None, n_estimators: int = 400,
                 early_stopping_rounds: int = 30, random_state: int = 0,
                 order_definition: str = "order_id",
                 cancellation_window_days: float = 1.0) -> None:
        self.horizon_days = horizon_days
        self.objective = objective
        self.k = k
        self.popular_candidates = popular_candidates
        self.transition_candidates = transition_candidates
        self.min_orders = min_orders
        self.customer_features = customer_features
        self.feature_spec = feature_spec
        self.lgbm_params = lgbm_params
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.order_definition = order_definition
        self.cancellation_window_days = cancellation_window_days

    def _frame_args(self) -> dict[str, Any]:
        return {"popular": check_count(self.popular_candidates, "popular_candidates", minimum=0),
                "transitions": check_count(self.transition_candidates, "transition_candidates",
                                           minimum=0),
                "min_orders": check_count(self.min_orders, "min_orders", minimum=0),
                "order_definition": self.order_definition,
                "cancellation_window_days": self.cancellation_window_days}

    def snapshots(self, events: Any, cutoffs: object, *, labels: bool) -> list[_Snapshot]:
        """Pairs (and, with ``labels``, outcomes) per cutoff, as the model sees them."""
        frame = canonical_pandas(events)
        cuts = normalise_cutoffs(cutoffs)
        horizon = check_count(self.horizon_days, "horizon_days") if labels else None
        if horizon is not None:
            _check_horizon(frame, cuts, horizon)
        own = (_customer_features(frame, cuts, self._spec(frame))
               if self.customer_features else None)
        return [_snapshot(frame, cutoff, horizon_days=horizon,
                          features=None if own is None else own.loc[own["cutoff"] == cutoff],
                          **self._frame_args()) for cutoff in cuts]

    def _spec(self, frame: pd.DataFrame) -> Any:
        """The feature spec, with engagement pinned to what training saw (stable columns)."""
        from dataclasses import replace

        from repurchase_ml.features.spec import FeatureSpec

        spec = self.feature_spec or FeatureSpec()
        behaviour = getattr(self, "behaviour_", None)
        if behaviour is None:
            behaviour = bool(frame["event_type"].isin(BEHAVIOUR_TYPES).any())
        return replace(spec, behaviour=behaviour)

    def fit(self, events: Any, *, cutoffs: object) -> NextCategoryModel:
        """Train on the pairs of ``cutoffs``; the newest is held out for early stopping and
        the objective choice. Every cutoff's horizon must lie inside the log."""
        import lightgbm as lgb

        from repurchase_ml.models._base import resolve_lgbm_params

        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective: expected one of {list(OBJECTIVES)}, "
                             f"got {self.objective!r}.")
        k = check_count(self.k, "k")
        cuts = sorted(normalise_cutoffs(cutoffs))
        if len(cuts) < 2:
            raise ValueError(f"cutoffs: expected at least 2 (the newest validates), got "
                             f"{len(cuts)}. Fix: pass e.g. monthly cutoffs.")
        newest = cuts[-1]
        if cuts[-2] + check_count(self.horizon_days, "horizon_days") * _DAY > newest:
            logger.info("next category: training labels of %s overlap the validation cutoff %s",
                        cuts[-2].date(), newest.date())
        frame = canonical_pandas(events)
        self.behaviour_ = bool(frame["event_type"].isin(BEHAVIOUR_TYPES).any())
        snaps = self.snapshots(frame, cuts, labels=True)
        train = pd.concat([s.pairs for s in snaps[:-1]], ignore_index=True)
        valid, valid_customers = snaps[-1].pairs, snaps[-1].customers
        if train["label"].sum() == 0 or valid["label"].sum() == 0:
            raise ValueError("cutoffs: no customer bought a new category in the horizon of the "
                             "training or validation cutoffs. Fix: use more cutoffs, a longer "
                             "horizon_days or more candidates.")
        names = [c for c in train.columns if c not in (*_KEYS, "label")]
        self.feature_names_ = names
        tried = ("binary", "lambdarank") if self.objective == "auto" else (self.objective,)
        results, boosters = [], {}
        for objective in tried:
            params = resolve_lgbm_params(self.lgbm_params, objective=objective,
                                         random_state=self.random_state)
            if objective == "lambdarank":
                params.update({"eval_at": [k], "metric": "ndcg"})
            else:
                params["metric"] = "binary_logloss"
            dtrain = lgb.Dataset(train[names], train["label"], free_raw_data=False,
                                 group=_groups(train) if objective == "lambdarank" else None)
            dvalid = lgb.Dataset(valid[names], valid["label"], reference=dtrain,
                                 group=_groups(valid) if objective == "lambdarank" else None)
            booster = lgb.train(params, dtrain, num_boost_round=int(self.n_estimators),
                                valid_sets=[dvalid], callbacks=[lgb.early_stopping(
                                    int(self.early_stopping_rounds), verbose=False)])
            score = np.asarray(booster.predict(valid[names], num_iteration=booster.best_iteration))
            quality = ranking_metrics(_ranked(valid, score), valid_customers, k=k)
            results.append({"objective": objective, f"ndcg_at_{k}": quality["ndcg"].mean(),
                            f"hit_rate_at_{k}": quality["hit"].mean(),
                            "rounds": booster.best_iteration})
            boosters[objective] = (booster, score)
        self.validation_ = pd.DataFrame(results)
        best = self.validation_.sort_values(f"ndcg_at_{k}", ascending=False, kind="stable")
        self.objective_ = str(best["objective"].iloc[0])
        self.booster_, valid_score = boosters[self.objective_]
        self.calibration_ = None
        if self.objective_ == "lambdarank":  # probabilities from the validation cutoff
            from sklearn.linear_model import LogisticRegression

            self.calibration_ = LogisticRegression().fit(valid_score.reshape(-1, 1),
                                                         valid["label"].to_numpy())
        logger.info("next category: kept %s (validation at %s: %s)", self.objective_,
                    newest.date(), self.validation_.round(4).to_dict("records"))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "booster_"):
            raise ValueError("NextCategoryModel: not fitted yet. Fix: call fit(events, "
                             "cutoffs=[...]) first.")

    def score_pairs(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """``score`` and ``probability`` of pairs from :meth:`snapshots` /
        :func:`next_category_frame`, with ``rank`` per customer."""
        self._check_fitted()
        missing = [c for c in self.feature_names_ if c not in pairs.columns]
        if missing:
            logger.warning("next category: %d feature column(s) missing at scoring (e.g. %s); "
                           "scored as unknown", len(missing), missing[:3])
        X = pairs.reindex(columns=self.feature_names_)
        raw = np.asarray(self.booster_.predict(X, num_iteration=self.booster_.best_iteration))
        ranked = _ranked(pairs, raw)
        if self.calibration_ is not None:
            probability = self.calibration_.predict_proba(
                ranked["score"].to_numpy().reshape(-1, 1))[:, 1]
        else:
            probability = ranked["score"].to_numpy()
        return ranked.assign(probability=probability)

    def predict(self, events: Any, *, as_of: object, top_k: int = 3) -> pd.DataFrame:
        """The ``top_k`` categories not yet bought per customer at ``as_of``.

        Returns ``customer_id``, ``rank``, ``next_category`` and ``probability``
        (of buying it within ``horizon_days``), best first per customer.
        """
        self._check_fitted()
        t = as_of_time(as_of)
        check_count(top_k, "top_k")
        pairs = self.snapshots(events, [t], labels=False)[0].pairs
        scored = self.score_pairs(pairs)
        top = scored.loc[(scored["rank"] <= top_k).to_numpy()]
        return top.rename(columns={"category": "next_category"})[
            ["customer_id", "rank", "next_category", "probability"]].reset_index(drop=True)


def evaluate_next_category(model: NextCategoryModel, events: Any, *, cutoff: object,
                           k: int = 3, n_boot: int = 1000, level: float = 0.95,
                           random_state: int = 0) -> pd.DataFrame:
    """Hit rate@k and NDCG@k of the model and the baselines at one out-of-time cutoff.

    The customers judged are those who bought at least one category new to
    them in ``[cutoff, cutoff + model.horizon_days)``; every scorer ranks the
    same candidate pairs, so a new category outside the candidates is a miss
    for all. The model must have been trained on cutoffs whose horizons end
    by ``cutoff`` for the comparison to be out of time.

    Returns
    -------
    DataFrame
        One row per scorer (``model``, then :data:`BASELINES`):
        ``customers``, ``hit_rate_at_k``, ``ndcg_at_k``, and per baseline
        ``b``: ``hit_rate_vs_<b>`` / ``ndcg_vs_<b>`` (the model minus the
        scorer, paired bootstrap ``_low`` / ``_high`` over customers; on the
        model's row, against each baseline).
    """
    from repurchase_ml.models.compare import paired_bootstrap

    model._check_fitted()
    k = check_count(k, "k")
    snap = model.snapshots(events, [as_of_time(cutoff, "cutoff")], labels=True)[0]
    pairs = snap.pairs
    scores = {"model": model.score_pairs(pairs)}
    for name, column in BASELINES.items():
        # ties (e.g. no transition out of the last category) fall back to popularity
        tie_break = 1e-9 * pairs["category_buyer_share"].fillna(0.0).to_numpy()
        scores[name] = _ranked(pairs, pairs[column].fillna(0.0).to_numpy() + tie_break)
    per_customer = {name: ranking_metrics(ranked, snap.customers, k=k)
                    for name, ranked in scores.items()}
    rows = []
    model_rows = per_customer["model"]
    for name, metrics in per_customer.items():
        row: dict[str, Any] = {"scorer": name, "customers": len(metrics),
                               f"hit_rate_at_{k}": metrics["hit"].mean(),
                               f"ndcg_at_{k}": metrics["ndcg"].mean()}
        for baseline in BASELINES:
            if name != "model":
                continue
            other = per_customer[baseline]
            for metric, column in (("hit", "hit_rate"), ("ndcg", "ndcg")):
                if len(metrics) < 2:
                    row[f"{column}_vs_{baseline}"] = np.nan
                    continue
                cmp = paired_bootstrap(np.zeros(len(metrics)), model_rows[metric],
                                       other[metric], metric="mean", n_boot=n_boot,
                                       level=level, random_state=random_state)
                row[f"{column}_vs_{baseline}"] = cmp.difference
                row[f"{column}_vs_{baseline}_low"] = cmp.low
                row[f"{column}_vs_{baseline}_high"] = cmp.high
        rows.append(row)
    table = pd.DataFrame(rows)
    table.attrs["cutoff"] = str(as_of_time(cutoff, "cutoff").date())
    table.attrs["objective"] = model.objective_
    return table


#: radar columns a next-category model adds (after the standard ones)
NEXT_CATEGORY_COLUMNS = ("next_category", "next_category_probability")
#: the placeholder an action text may hold for the customer's next category
CATEGORY_PLACEHOLDER = "{category}"


def with_next_category(radar: pd.DataFrame, next_categories: pd.DataFrame) -> pd.DataFrame:
    """The radar with :data:`NEXT_CATEGORY_COLUMNS` from a :meth:`NextCategoryModel.predict`
    frame (its best category per customer; none where the model has no candidate).

    Examples
    --------
    >>> radar = pd.DataFrame({"customer_id": [1, 2]})
    >>> top = pd.DataFrame({"customer_id": [1, 1], "rank": [1, 2],
    ...                     "next_category": ["shoes", "bags"], "probability": [0.3, 0.2]})
    >>> with_next_category(radar, top).values.tolist()
    [[1, 'shoes', 0.3], [2, nan, nan]]
    """
    need = {"customer_id", "next_category", "probability"}
    if not isinstance(next_categories, pd.DataFrame) or not need <= set(next_categories.columns):
        raise ValueError(f"next_categories: expected a DataFrame with columns {sorted(need)} "
                         "(NextCategoryModel.predict), got "
                         f"{getattr(next_categories, 'columns', type(next_categories).__name__)!r}.")
    ranked = next_categories.sort_values(["customer_id", "probability"], ascending=[True, False],
                                         kind="stable")
    if "rank" in ranked.columns:
        ranked = ranked.sort_values(["customer_id", "rank"], kind="stable")
    best = ranked.drop_duplicates("customer_id").set_index("customer_id")
    ids = radar["customer_id"].to_numpy()
    return radar.assign(
        next_category=best["next_category"].reindex(ids).to_numpy(dtype=object),
        next_category_probability=best["probability"].reindex(ids).to_numpy(dtype=float))


def name_next_category(actions: pd.Series, categories: pd.Series) -> pd.Series:
    """Action texts with :data:`CATEGORY_PLACEHOLDER` replaced by each row's next category.

    Examples
    --------
    >>> name_next_category(pd.Series(["Nudge with a {category} coupon", "Keep warm"]),
    ...                    pd.Series(["shoes", None])).tolist()
    ['Nudge with a shoes coupon', 'Keep warm']
    """
    texts = actions.astype(object).to_numpy().copy()
    names = categories.to_numpy(dtype=object)
    for i, text in enumerate(texts):
        if isinstance(text, str) and CATEGORY_PLACEHOLDER in text:
            name = names[i] if isinstance(names[i], str) else "matching-category"
            texts[i] = text.replace(CATEGORY_PLACEHOLDER, name)
    return pd.Series(texts, index=actions.index)
