"""Segments: RFM scores and names, lifecycle stages, clusters, value x risk, actions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repurchase_ml.errors import SchemaError
from repurchase_ml.segments import (
    LIFECYCLE_STAGES,
    RFM_SEGMENT_RULES,
    ActionTable,
    _name_segments,
    behaviour_clusters,
    lifecycle_stage,
    plot_segment_migration,
    plot_segment_sizes,
    recommend_actions,
    rfm_scores,
    segment_migration,
    value_risk_matrix,
)

CUTOFF = pd.Timestamp("2024-06-01")


def _rfm_table() -> pd.DataFrame:
    # ten buyers with hand-picked values (ties in frequency) and one non-buyer
    return pd.DataFrame({
        "customer_id": list(range(1, 12)),
        "cutoff": CUTOFF,
        "days_since_last_purchase": [1.0, 3, 8, 15, 30, 60, 90, 150, 250, 360, np.nan],
        "orders_all": [12.0, 1, 6, 1, 9, 3, 1, 7, 2, 1, 0],
        "revenue_all": [1200.0, 30, 400, 20, 700, 150, 25, 650, 80, 10, 0],
    })


def test_rfm_scores_hand_checked():
    out = rfm_scores(_rfm_table())
    # R: recency ranks 1..10 -> two per score, most recent highest
    assert out["r_score"].tolist()[:10] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # F: four customers with 1 order tie at rank 1 -> score 1; 2 -> rank 5 -> 3; 3 -> rank 6 -> 3;
    # 6 -> rank 7 -> 4; 7 -> rank 8 -> 4; 9 -> rank 9 -> 5; 12 -> rank 10 -> 5
    assert out["f_score"].tolist()[:10] == [5, 1, 4, 1, 5, 3, 1, 4, 3, 1]
    assert out["m_score"].tolist()[:10] == [5, 2, 4, 1, 5, 3, 2, 4, 3, 1]
    assert out["rfm_score"].tolist() == ["555", "512", "444", "411", "355", "333", "212", "244",
                                         "133", "111", "no purchase"]
    assert out["segment"].tolist() == [
        "champions", "new", "loyal", "promising", "loyal", "need attention", "hibernating",
        "at risk", "at risk", "lost", "no purchase",
    ]
    assert out["customer_id"].tolist() == list(range(1, 12))


def test_rfm_scores_per_cutoff_and_bins():
    one = _rfm_table()
    two = one.assign(cutoff=pd.Timestamp("2024-07-01"), orders_all=one["orders_all"] * 10)
    out = rfm_scores(pd.concat([one, two], ignore_index=True), bins=5)
    # quantiles are within each cutoff, so scaling one cutoff changes nothing
    assert out["f_score"].iloc[:11].tolist() == out["f_score"].iloc[11:].tolist()
    three = rfm_scores(one, bins=3)
    assert three["r_score"].tolist()[:10] == [3, 3, 3, 2, 2, 2, 1, 1, 1, 1]


def test_segment_rules_cover_the_grid_exactly_once():
    for r in range(1, 6):
        for f in range(1, 6):
            hits = RFM_SEGMENT_RULES.query("r_min <= @r <= r_max and f_min <= @f <= f_max")
            assert len(hits) == 1, (r, f, hits["segment"].tolist())
    names = _name_segments(pd.Series([5.0, 1.0]), pd.Series([1.0, 5.0]), bins=5, rules=None)
    assert names.tolist() == ["new", "can't lose"]


def test_rfm_errors():
    with pytest.raises(SchemaError, match="revenue_all"):
        rfm_scores(_rfm_table().drop(columns="revenue_all"))
    with pytest.raises(ValueError, match="bins"):
        rfm_scores(_rfm_table(), bins=1)
    gap_rules = RFM_SEGMENT_RULES.iloc[:3]
    with pytest.raises(ValueError, match="match no RFM segment rule"):
        rfm_scores(_rfm_table(), rules=gap_rules)


def _purchases(customer: int, days_before: list[float]) -> list[dict]:
    return [{"customer_id": customer, "timestamp": CUTOFF - pd.Timedelta(days=d),
             "event_type": "purchase", "amount": 20.0} for d in days_before]


def _crafted_events() -> pd.DataFrame:
    rows = (
        _purchases(1, [10, 40, 70, 100, 130])            # regular monthly, last 10 days ago
        + _purchases(2, [50, 70, 90, 110, 130])          # every 20 days, 50 days silent (2.5x)
        + _purchases(3, [400, 430, 460])                 # nothing in the last year
        + _purchases(4, [5])                             # first order five days ago
        + _purchases(5, [20, 500, 520, 540])             # came back after a long silence
        + [{"customer_id": 6, "timestamp": CUTOFF - pd.Timedelta(days=3), "event_type": "view",
            "amount": np.nan}]                           # browsing only
        # an order after the cutoff must not change anything
        + [{"customer_id": 2, "timestamp": CUTOFF + pd.Timedelta(days=1),
            "event_type": "purchase", "amount": 20.0}]
    )
    events = pd.DataFrame(rows)
    events["event_type"] = pd.Categorical(
        events["event_type"], categories=["purchase", "refund", "view", "cart", "favorite"])
    return events.sort_values(["customer_id", "timestamp"], ignore_index=True)


def test_lifecycle_on_crafted_histories():
    from repurchase_ml.features import build_features

    features = build_features(_crafted_events(), cutoffs=[CUTOFF])
    stages = dict(zip(features["customer_id"], lifecycle_stage(features), strict=True))
    assert stages == {1: "active", 2: "at_risk", 3: "churned", 4: "new", 5: "reactivated",
                      6: "prospect"}
    assert set(stages.values()) <= set(LIFECYCLE_STAGES)


def test_same_day_invoices_keep_a_recent_customer_active():
    from repurchase_ml.features import build_features

    rows = _purchases(1, [100, 70, 40]) + [  # a 30-day rhythm, then 3 invoices on one day
        {"customer_id": 1, "timestamp": CUTOFF - pd.Timedelta(days=10, hours=h),
         "event_type": "purchase", "amount": 20.0} for h in (1, 3, 5)]
    rows += [{"customer_id": 2, "timestamp": CUTOFF - pd.Timedelta(days=4, hours=h),
              "event_type": "purchase", "amount": 20.0} for h in (1, 2)]  # new: one day
    events = pd.DataFrame(rows)
    events["event_type"] = pd.Categorical(
        events["event_type"], categories=["purchase", "refund", "view", "cart", "favorite"])
    features = build_features(events.sort_values(["customer_id", "timestamp"],
                                                 ignore_index=True), cutoffs=[CUTOFF])
    assert features["gap_median_days"].iloc[0] == 30.0  # not 0: gaps between purchase days
    assert lifecycle_stage(features).tolist() == ["active", "new"]
    # by orders alone (a frame without purchase_days_all) customer 2 would not be new
    assert lifecycle_stage(features.drop(columns="purchase_days_all")).tolist()[1] == "active"


def test_lifecycle_thresholds_and_errors():
    f = pd.DataFrame({"days_since_last_purchase": [50.0], "days_since_first_purchase": [200.0],
                      "orders_all": [5.0], "gap_median_days": [20.0]})
    assert lifecycle_stage(f).tolist() == ["at_risk"]
    assert lifecycle_stage(f, churn_ratio=2.0, at_risk_ratio=1.0).tolist() == ["churned"]
    assert lifecycle_stage(f, at_risk_ratio=3.0, churn_ratio=4.0).tolist() == ["active"]
    with pytest.raises(ValueError, match="at_risk_ratio"):
        lifecycle_stage(f, at_risk_ratio=3.0, churn_ratio=2.0)
    with pytest.raises(SchemaError, match="gap_median_days"):
        lifecycle_stage(f.drop(columns="gap_median_days"))


def test_behaviour_clusters_find_and_describe_groups():
    rng = np.random.default_rng(1)
    n = 150
    features = pd.DataFrame({
        "orders_365d": np.r_[rng.poisson(1, n), rng.poisson(25, n), rng.poisson(2, n)] + 1.0,
        "days_since_last_purchase": np.r_[rng.uniform(150, 300, n), rng.uniform(1, 10, n),
                                          rng.uniform(1, 10, n)],
        "revenue_365d": np.r_[rng.uniform(10, 50, n), rng.uniform(500, 900, n),
                              rng.uniform(10, 50, n)],
    })
    out = behaviour_clusters(features, random_state=0)
    assert out.attrs["k"] == 3
    assert out.attrs["silhouette"] > 0.5
    assert sorted(out["cluster"].value_counts().tolist()) == [n, n, n]
    # the frequent big spenders form one cluster, described by what sets them apart
    heavy = out.iloc[n:2 * n]
    assert heavy["cluster"].nunique() == 1
    assert "high orders 365d" in heavy["cluster_description"].iloc[0]
    assert "high revenue 365d" in heavy["cluster_description"].iloc[0]
    again = behaviour_clusters(features, random_state=0)
    assert again["cluster"].tolist() == out["cluster"].tolist()
    fixed = behaviour_clusters(features, k=2, random_state=0)
    assert fixed.attrs["k"] == 2 and fixed["cluster"].nunique() == 2


def test_behaviour_clusters_errors():
    with pytest.raises(SchemaError, match="behaviour_clusters"):
        behaviour_clusters(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))
    with pytest.raises(ValueError, match="k: expected"):
        behaviour_clusters(pd.DataFrame({"orders_all": [1.0, 2.0, 3.0]}), k=10)


def test_value_risk_matrix():
    ltv = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], index=list("abcdefghij"))
    prob = pd.Series([0.1, 0.2, 0.35, 0.5, 0.59, 0.6, 0.7, 0.9, 0.95, 0.05], index=ltv.index)
    m = value_risk_matrix(ltv, prob)
    assert m["value_tier"].tolist() == ["low"] * 5 + ["medium"] * 3 + ["high"] * 2
    assert m["risk_tier"].tolist() == ["low", "low", "medium", "medium", "medium", "high", "high",
                                       "high", "high", "low"]
    assert m.loc["i", "value_risk"] == "high value, high risk"
    assert m.index.tolist() == ltv.index.tolist()
    with pytest.raises(ValueError, match="churn_probability"):
        value_risk_matrix(ltv, prob * 2)


def test_segment_migration_counts_absent_customers():
    before = pd.DataFrame({"customer_id": [1, 2, 3, 4], "segment": ["new", "new", "loyal", "lost"]})
    after = pd.DataFrame({"customer_id": [1, 2, 3, 5],
                          "segment": ["loyal", "lost", "loyal", "new"]})
    table = segment_migration(before, after)
    assert table.loc["new", "loyal"] == 1
    assert table.loc["new", "lost"] == 1
    assert table.loc["loyal", "loyal"] == 1
    assert table.loc["lost", "(absent)"] == 1
    assert table.loc["(absent)", "new"] == 1
    assert int(table.to_numpy().sum()) == 5
    with pytest.raises(ValueError, match="one row per customer"):
        segment_migration(pd.concat([before, before]), after)


def test_segment_plots_render():
    seg = pd.Series(["loyal", "new", "new", "lost"])
    fig = plot_segment_sizes(seg, value=pd.Series([10.0, 1, 2, 0.5], name="predicted_ltv"))
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["new", "loyal", "lost"]
    a = pd.DataFrame({"customer_id": [1, 2], "segment": ["new", "loyal"]})
    b = pd.DataFrame({"customer_id": [1, 2], "segment": ["loyal", "loyal"]})
    fig = plot_segment_migration(a, b)
    assert fig.axes[0].get_xlabel() == "after"


def test_slipping_champions_are_won_back_only_when_the_model_sees_risk():
    radar = pd.DataFrame({"segment": ["champions"] * 4,
                          "lifecycle_stage": ["churned", "churned", "active", "at_risk"],
                          "value_tier": ["medium", "medium", "medium", "high"],
                          "risk_tier": ["medium", "low", "low", "low"]})
    # a coupon only where the model sees risk; a low-risk champion buys anyway
    assert recommend_actions(radar)["action_id"].tolist() == [
        "win_back_coupon", "early_access", "early_access", "nurture"]


def test_default_actions_follow_practice():
    radar = pd.DataFrame({
        "segment": ["at risk", "new", "champions", "at risk", "potential loyalists",
                    "potential loyalists", "lost"],
        "lifecycle_stage": ["at_risk", "new", "active", "at_risk", "active", "active", "churned"],
        "value_tier": ["high", "low", "high", "low", "low", "low", "low"],
        "risk_tier": ["high", "medium", "low", "high", "medium", "low", "high"],
        "discount_share": [0.0, 0.0, 0.0, 0.0, 0.8, 0.1, 0.0],
    })
    assert recommend_actions(radar)["action_id"].tolist() == [
        "vip_care", "second_purchase_nudge", "nurture", "win_back_coupon",
        "time_limited_discount", "loyalty_programme", "low_cost_reactivation",
    ]
    # without the discount column the price-sensitive rule cannot match
    assert recommend_actions(radar.drop(columns="discount_share"))["action_id"].iloc[4] == \
        "loyalty_programme"
    # a first-time buyer of a big first order gets the second-purchase nudge, not a VIP call
    new_vip = radar.iloc[:1].assign(lifecycle_stage="new", segment="new")
    assert recommend_actions(new_vip)["action_id"].tolist() == ["second_purchase_nudge"]


def test_action_table_is_replaceable(tmp_path):
    path = tmp_path / "actions.yaml"
    path.write_text(
        "rules:\n"
        "  - action_id: call\n    when: {lifecycle_stage: [at_risk], value_at_risk_min: 100}\n"
        "    action: phone the customer\n"
        "  - action_id: mail\n    action: send the newsletter\n",
        encoding="utf-8",
    )
    table = ActionTable.from_yaml(path)
    radar = pd.DataFrame({"lifecycle_stage": ["at_risk", "at_risk", "active"],
                          "value_at_risk": [150.0, 50.0, 500.0]})
    assert table.recommend(radar)["action_id"].tolist() == ["call", "mail", "mail"]
    again = ActionTable.from_frame(table.to_frame())
    assert again.recommend(radar)["action"].tolist() == table.recommend(radar)["action"].tolist()
    assert recommend_actions(radar, action_table=path)["action_id"].tolist() == \
        ["call", "mail", "mail"]
    default = ActionTable.default()
    assert default.rules[-1]["action_id"] == "keep_warm"


def test_action_table_errors(tmp_path):
    with pytest.raises(ValueError, match="action_id"):
        ActionTable.from_frame(pd.DataFrame({"action": ["x"]}))
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: nope\n", encoding="utf-8")
    with pytest.raises(ValueError, match="rules"):
        ActionTable.from_yaml(bad)
    with pytest.raises(ValueError, match="must be a number"):
        ActionTable.from_frame(pd.DataFrame({"action_id": ["a"], "action": ["b"],
                                             "value_at_risk_min": ["high"]}))
    with pytest.raises(TypeError, match="action_table"):
        recommend_actions(pd.DataFrame({"segment": ["new"]}), action_table=42)
    empty = ActionTable.from_frame(pd.DataFrame({"action_id": ["a"], "action": ["b"],
                                                 "segment": ["new"]}))
    assert empty.recommend(pd.DataFrame({"segment": ["lost"]}))["action_id"].tolist() == ["none"]
