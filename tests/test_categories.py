"""Category paths, affinity and the next-category model: hand-computed tables, the planted
structure of the synthetic log recovered, and nothing read at or after the cutoff."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import repurchase_ml as rm
from repurchase_ml.categories import (
    browse_to_buy_affinity,
    category_affinity,
    category_orders,
    category_section_tables,
    category_transitions,
    repurchase_by_first_category,
)
from repurchase_ml.categories.next_category import (
    NextCategoryModel,
    evaluate_next_category,
    next_category_frame,
    ranking_metrics,
    with_next_category,
)
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES
from repurchase_ml.features.orders import net_out_cancellations

AS_OF = "2024-06-01"


def _log(rows: list[tuple]) -> pd.DataFrame:
    """(customer, time, type, amount, order, category) rows as a canonical log."""
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount",
                                        "order_id", "category"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], format="ISO8601").astype("datetime64[ns]")
    frame["event_type"] = pd.Categorical(frame["event_type"], categories=list(EVENT_TYPES))
    frame["amount"] = frame["amount"].astype(float)
    frame["customer_id"] = frame["customer_id"].astype("int64")
    return frame.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


# Four customers' orders (primary category: most money in the order):
#   1: a, then b, then a          -> a->b, b->a
#   2: a (a 5 + c 3 in one order), then b, then c    -> a->b, b->c
#   3: b, then c; a later order cancelled in full within a day -> b->c only
#   4: c only; an order after as_of does not count
#   a view of customer 3 before as_of, a view of customer 4 after it
SMALL = _log([
    (1, "2024-01-01", "purchase", 10, "o1", "a"),
    (1, "2024-02-01", "purchase", 20, "o2", "b"),
    (1, "2024-03-01", "purchase", 15, "o3", "a"),
    (2, "2024-01-05", "purchase", 5, "o4", "a"),
    (2, "2024-01-05", "purchase", 3, "o4", "c"),
    (2, "2024-01-20", "purchase", 7, "o5", "b"),
    (2, "2024-04-01", "purchase", 9, "o6", "c"),
    (3, "2024-01-10", "view", np.nan, None, "a"),
    (3, "2024-01-11", "purchase", 8, "o7", "b"),
    (3, "2024-02-11", "purchase", 4, "o8", "c"),
    (3, "2024-03-11 10:00", "purchase", 30, "o9", "a"),
    (3, "2024-03-11 12:00", "refund", 30, "o9", "a"),
    (4, "2024-01-15", "purchase", 6, "o10", "c"),
    (4, "2024-06-02", "purchase", 6, "o11", "a"),
    (4, "2024-06-03", "view", np.nan, None, "b"),
])


def test_orders_take_the_primary_category_and_net_out_cancellations():
    orders = category_orders(SMALL, as_of=AS_OF)
    assert orders["order_key"].tolist() == ["o1", "o2", "o3", "o4", "o5", "o6", "o7", "o8", "o10"]
    assert orders["category"].tolist() == ["a", "b", "a", "a", "b", "c", "b", "c", "c"]
    assert orders.loc[orders["order_key"] == "o4", ["value", "n_categories"]].values.tolist() == [
        [8.0, 2]]
    # before the cancelling refund, the order is known
    early = category_orders(SMALL, as_of="2024-03-11 11:00")
    assert "o9" in early["order_key"].tolist()


def test_transition_table_equals_hand_counts():
    table = category_transitions(SMALL, as_of=AS_OF, min_count=1, min_from=1)
    got = {(r.from_category, r.to_category): (r.count, r.from_count, r.share, r.base_rate, r.lift)
           for r in table.itertuples()}
    # next orders: a->b, b->a, a->b, b->c, b->c: 5 transitions; to-rates a 1/5, b 2/5, c 2/5
    assert got == {
        ("a", "b"): (2, 2, 1.0, 0.4, 2.5),
        ("b", "a"): (1, 3, pytest.approx(1 / 3), 0.2, pytest.approx(5 / 3)),
        ("b", "c"): (2, 3, pytest.approx(2 / 3), 0.4, pytest.approx(5 / 3)),
    }
    # sorted by lift; Wilson interval brackets the share
    assert table["lift"].is_monotonic_decreasing
    assert ((table["share_low"] <= table["share"]) & (table["share"] <= table["share_high"])).all()
    # the minimum-support filter drops small pairs and says how many
    filtered = category_transitions(SMALL, as_of=AS_OF, min_count=2, min_from=3)
    assert filtered[["from_category", "to_category"]].values.tolist() == [["b", "c"]]
    assert filtered.attrs["pairs_below_support"] == 2


def test_category_affinity_equals_hand_computed_lift():
    table = category_affinity(SMALL, as_of=AS_OF, min_customers=1)
    got = {(r.antecedent, r.consequent): (r.customers, r.support, r.confidence, r.lift)
           for r in table.itertuples()}
    # buyers before as_of: 1 {a, b}, 2 {a, b, c}, 3 {b, c}, 4 {c}; N = 4
    # a: 2, b: 3, c: 3; a&b 2, a&c 1, b&c 2
    assert got[("a", "b")] == (2, 0.5, 1.0, pytest.approx(4 / 3))
    assert got[("b", "a")] == (2, 0.5, pytest.approx(2 / 3), pytest.approx(4 / 3))
    assert got[("a", "c")] == (1, 0.25, 0.5, pytest.approx(2 / 3))
    assert got[("c", "b")] == (2, 0.5, pytest.approx(2 / 3), pytest.approx(8 / 9))
    assert len(table) == 6 and table.attrs["customers"] == 4


def test_browse_to_buy_affinity_equals_hand_computed_lift():
    table = browse_to_buy_affinity(SMALL, as_of=AS_OF, min_customers=1)
    # customer 3 alone browsed (a) and bought (b, c) before as_of: N = 1
    assert table[["antecedent", "consequent", "confidence", "lift"]].values.tolist() == [
        ["a", "b", 1.0, 1.0], ["a", "c", 1.0, 1.0]]
    orders_only = SMALL.loc[SMALL["event_type"] != "view"]
    with pytest.raises(ValueError, match="views, carts or favourites"):
        browse_to_buy_affinity(orders_only, as_of=AS_OF)


def test_repurchase_by_first_category_equals_hand_computed():
    table = repurchase_by_first_category(SMALL, as_of=AS_OF, windows=(30, 90), min_customers=1,
                                         n_boot=50).set_index("category")
    # first orders: 1 a (back day 31), 2 a (back day 15), 3 b (back day 31), 4 c (never)
    assert table.loc["a", "customers"] == 2 and table.loc["a", "repurchase_rate"] == 1.0
    assert table.loc["a", "days_to_next_order_median"] == 23.0
    assert table.loc["a", "retention_30d"] == 0.5  # only customer 2 within 30 days
    assert table.loc["a", "retention_90d"] == 1.0
    assert table.loc["b", "retention_30d"] == 0.0 and table.loc["b", "retention_90d"] == 1.0
    # net revenue over 90 days from the first order: 1: 10+20+15, 2: 5+3+7 (day 87: +9)
    assert table.loc["a", "net_revenue_90d"] == pytest.approx((45 + 24) / 2)
    assert table.loc["c", "net_revenue_90d"] == 6.0
    # over all eligible first-time buyers 3 of 4 came back within 90 days
    assert table.loc["a", "retention_90d_lift"] == pytest.approx(1 / 0.75)
    big = repurchase_by_first_category(SMALL, as_of=AS_OF, windows=(90,), min_customers=2,
                                       n_boot=50)
    assert big["category"].tolist() == ["a"]
    assert big.attrs["categories_below_support"] == ["b", "c"]


def test_bad_input_names_the_argument():
    with pytest.raises(SchemaError, match="category"):
        category_transitions(SMALL.drop(columns="category"), as_of=AS_OF)
    with pytest.raises(ValueError, match="as_of"):
        category_transitions(SMALL, as_of=None)
    with pytest.raises(ValueError, match="min_count"):
        category_transitions(SMALL, as_of=AS_OF, min_count=0)
    with pytest.raises(ValueError, match="horizon"):
        next_category_frame(SMALL, cutoffs="2024-06-01", horizon_days=30)
    with pytest.raises(ValueError, match="at least 2"):
        NextCategoryModel().fit(SMALL, cutoffs=["2024-02-01"])
    with pytest.raises(ValueError, match="not fitted"):
        NextCategoryModel().predict(SMALL, as_of=AS_OF)


def test_polars_input_gives_the_same_table():
    pl = pytest.importorskip("polars")
    frame = pl.from_pandas(SMALL)
    pd.testing.assert_frame_equal(category_transitions(frame, as_of=AS_OF, min_count=1, min_from=1),
                                  category_transitions(SMALL, as_of=AS_OF, min_count=1, min_from=1))


def test_ranking_metrics_equal_hand_computed():
    ranked = pd.DataFrame({"customer_id": [1, 1, 1, 2, 2], "rank": [1, 2, 3, 1, 2],
                           "label": [0, 1, 1, 0, 0]})
    customers = pd.DataFrame({"customer_id": [1, 2, 3], "new_categories": [3, 1, 0]})
    got = ranking_metrics(ranked, customers, k=3)
    ideal = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert got["customer_id"].tolist() == [1, 2]  # customer 3 bought nothing new
    assert got["hit"].tolist() == [1.0, 0.0]
    assert got["ndcg"].tolist() == pytest.approx([(1 / np.log2(3) + 1 / np.log2(4)) / ideal, 0])


# the synthetic log with planted category structure: small, shared by the tests below
@pytest.fixture(scope="module")
def planted():
    return rm.make_event_log(2500, "2022-01-01", "2024-01-01", random_state=7,
                             category_paths=True)


def test_category_structure_changes_only_categories_and_item_ids():
    plain, plain_truth = rm.make_event_log(400, "2023-01-01", "2024-01-01", random_state=3,
                                           profile="retail")
    paths, paths_truth = rm.make_event_log(400, "2023-01-01", "2024-01-01", random_state=3,
                                           profile="retail", category_paths=True)
    others = [c for c in plain.columns if c not in ("category", "item_id")]
    pd.testing.assert_frame_equal(plain[others], paths[others])
    pd.testing.assert_frame_equal(plain_truth, paths_truth)
    assert (plain["category"] != paths["category"]).mean() > 0.2
    assert paths.groupby("item_id")["category"].nunique().max() == 1  # an item, one category
    assert paths_truth.attrs["category_gateways"] == ["beauty", "baby", "pets"]
    assert "category_gateways" not in plain_truth.attrs


def test_planted_gateways_are_recovered(planted):
    events, truth = planted
    table = repurchase_by_first_category(events, as_of="2024-01-01", n_boot=50)
    gateways = set(truth.attrs["category_gateways"])
    # the three categories with the highest lower bound of 180-day retention are the gateways
    assert set(table["category"].head(3)) == gateways
    assert (table.loc[table["category"].isin(gateways), "retention_180d_lift"] > 1.1).all()


def test_category_section_tables_for_a_report_page(planted):
    events, truth = planted
    tables = category_section_tables(events, as_of="2024-01-01", top=4)
    assert list(tables) == ["first_category", "transitions", "co_bought", "browse_to_buy"]
    assert all(len(t) == 4 for t in tables.values())
    assert set(tables["first_category"]["category"].head(3)) == set(
        truth.attrs["category_gateways"])
    orders_only = events.loc[events["event_type"].isin(["purchase", "refund"])]
    assert "browse_to_buy" not in category_section_tables(orders_only, as_of="2024-01-01")


def test_planted_paths_are_recovered(planted):
    events, truth = planted
    table = category_transitions(events, as_of="2024-01-01", include_same=False)
    for source, target in truth.attrs["category_paths"].items():
        best = table.loc[table["from_category"] == source].iloc[0]  # highest lift first
        assert best["to_category"] == target, (source, best["to_category"])
        assert best["lift"] > 2.0 and best["share_low"] > best["base_rate"]


def test_next_category_model_ranks_and_feeds_the_radar(planted):
    events, _ = planted
    model = NextCategoryModel(horizon_days=60, objective="auto", n_estimators=150)
    model.fit(events, cutoffs=["2022-11-01", "2023-01-01", "2023-03-01", "2023-05-01"])
    assert model.objective_ in ("binary", "lambdarank")
    assert set(model.validation_["objective"]) == {"binary", "lambdarank"}
    table = evaluate_next_category(model, events, cutoff="2023-07-01", n_boot=100)
    assert table["scorer"].tolist() == ["model", "popularity", "transition", "browsing"]
    assert table["customers"].nunique() == 1 and table["customers"].iloc[0] > 50
    row = table.iloc[0]
    assert row["hit_rate_vs_popularity_low"] <= row["hit_rate_vs_popularity"] <= row[
        "hit_rate_vs_popularity_high"]
    # the planted paths and browsing make the model beat popularity on the same customers
    assert row["hit_rate_vs_popularity_low"] > 0
    top = model.predict(events, as_of="2023-11-01", top_k=3)
    assert top.groupby("customer_id")["rank"].max().max() <= 3
    assert top["probability"].between(0, 1).all()
    # never a category the customer already bought
    before, _ = net_out_cancellations(events.loc[events["timestamp"] < pd.Timestamp("2023-11-01")])
    lines = before.loc[before["event_type"] == "purchase", ["customer_id", "category"]]
    clash = top.merge(lines, left_on=["customer_id", "next_category"],
                      right_on=["customer_id", "category"])
    assert clash.empty and len(lines) > 0
    radar = pd.DataFrame({"customer_id": top["customer_id"].unique()})
    joined = with_next_category(radar, top)
    first = top.loc[top["rank"] == 1].set_index("customer_id")["next_category"]
    assert (joined.set_index("customer_id")["next_category"] == first).all()

    # on the radar: the columns, and the coupon action naming each new buyer's category
    features = rm.build_features(events, cutoffs=["2023-11-01"])
    rng = np.random.default_rng(0)
    scores = pd.DataFrame({"customer_id": features["customer_id"],
                           "churn_probability": rng.uniform(0, 1, len(features)),
                           "predicted_ltv": rng.uniform(0, 100, len(features))})
    listed = rm.radar_from_scores(scores, features=features, next_categories=top, cluster_k=2)
    assert list(listed.columns[-2:]) == ["next_category", "next_category_probability"]
    coupon = listed.loc[listed["action_id"] == "second_purchase_category_coupon"]
    assert len(coupon) > 0 and (coupon["lifecycle_stage"] == "new").all()
    assert all(f"with a {c} coupon" in a for c, a in zip(coupon["next_category"], coupon["action"],
                                                          strict=True))
    plain = rm.radar_from_scores(scores, features=features, cluster_k=2)
    assert "next_category" not in plain.columns
    assert "second_purchase_category_coupon" not in set(plain["action_id"])


def _perturbed_after(events: pd.DataFrame, cutoff: pd.Timestamp, seed: int) -> pd.DataFrame:
    """Events at or after ``cutoff`` changed: amounts and categories scrambled, a share
    deleted, new purchases and views (new customers and a new category too) appended."""
    rng = np.random.default_rng(seed)
    late = events["timestamp"] >= cutoff
    out = events.copy()
    idx = np.flatnonzero(late.to_numpy())
    out.loc[idx, "amount"] = out.loc[idx, "amount"] * rng.uniform(0.1, 5.0, len(idx))
    out.loc[idx, "category"] = rng.choice(["shoes", "toys", "brand-new"], len(idx))
    out = out.drop(index=idx[rng.random(len(idx)) < 0.3])
    n = 200
    extra = pd.DataFrame({
        "customer_id": rng.choice(np.r_[events["customer_id"].unique()[:50], 10**6], n),
        "timestamp": cutoff + pd.to_timedelta(rng.integers(0, 40 * 86_400, n), unit="s"),
        "event_type": pd.Categorical(rng.choice(["purchase", "view", "refund"], n),
                                     categories=list(EVENT_TYPES)),
        "category": rng.choice(["pets", "garden", "brand-new"], n),
    })
    extra["amount"] = np.where(extra["event_type"] == "view", np.nan, rng.uniform(1, 90, n))
    extra = extra.assign(order_id=pd.array([None] * n, dtype="string[pyarrow]"), item_id="I-new",
                         quantity=1.0,
                         unit_price=extra["amount"].fillna(9.0), channel="app", discount=False)
    out = pd.concat([out, extra], ignore_index=True)
    out["timestamp"] = out["timestamp"].astype("datetime64[ns]")
    return out.sort_values(["customer_id", "timestamp"], kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def small_model():
    events, _ = rm.make_event_log(500, "2022-01-01", "2023-07-01", random_state=11,
                                  category_paths=True)
    model = NextCategoryModel(horizon_days=45, objective="lambdarank", n_estimators=40)
    return events, model.fit(events, cutoffs=["2022-09-01", "2022-11-01", "2023-01-01"])


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), day=st.integers(0, 120))
def test_nothing_at_or_after_the_cutoff_is_read(small_model, seed, day):
    events, model = small_model
    cutoff = pd.Timestamp("2023-02-01") + pd.Timedelta(days=day)
    changed = _perturbed_after(events, cutoff, seed)
    frame = next_category_frame(events, cutoffs=cutoff)
    frame_changed = next_category_frame(changed, cutoffs=cutoff)
    pd.testing.assert_frame_equal(frame, frame_changed)
    pd.testing.assert_frame_equal(model.predict(events, as_of=cutoff),
                                  model.predict(changed, as_of=cutoff))
    for table in (category_transitions, category_affinity, browse_to_buy_affinity):
        pd.testing.assert_frame_equal(table(events, as_of=cutoff),
                                      table(changed, as_of=cutoff))
    pd.testing.assert_frame_equal(
        repurchase_by_first_category(events, as_of=cutoff, n_boot=20),
        repurchase_by_first_category(changed, as_of=cutoff, n_boot=20))
