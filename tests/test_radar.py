"""The churn radar: population, ranking, columns, filters, reasons, safe files, real signal."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from repurchase_ml.errors import SchemaError
from repurchase_ml.radar import RADAR_COLUMNS, churn_radar, radar_from_scores, write_radar

CUTOFF = pd.Timestamp("2024-06-01")
FEATURES = ["days_since_last_purchase", "days_since_first_purchase", "orders_all",
            "revenue_all", "gap_median_days"]


def _table(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    since = rng.uniform(1, 360, n)
    since[:3] = [400.0, 500.0, 380.0]  # three customers not alive at the cutoff
    orders = rng.integers(1, 12, n).astype(float)
    features = pd.DataFrame({
        "customer_id": [f"c{i:03d}" for i in range(n)],
        "cutoff": CUTOFF,
        "days_since_last_purchase": since,
        "days_since_first_purchase": since + rng.uniform(0, 400, n),
        "orders_all": orders,
        "revenue_all": orders * rng.uniform(20, 80, n),
        "gap_median_days": np.where(orders > 1, rng.uniform(10, 90, n), np.nan),
    })
    scores = pd.DataFrame({
        "customer_id": features["customer_id"],
        "cutoff": CUTOFF,
        "churn_probability": np.clip(since / 365, 0.01, 0.99),
        "repurchase_probability": np.clip(1 - since / 365, 0.01, 0.99),
        "predicted_ltv": features["revenue_all"] * 0.5,
    })
    return features, scores


def _model(features: pd.DataFrame) -> lgb.LGBMClassifier:
    y = (features["days_since_last_purchase"] > 150).astype(int)
    return lgb.LGBMClassifier(n_estimators=20, num_leaves=4, min_child_samples=5, verbose=-1,
                              random_state=0).fit(features[FEATURES], y)


def test_radar_population_ranking_and_columns():
    features, scores = _table()
    radar = radar_from_scores(scores, features=features, as_of=CUTOFF, cluster_k=2)
    assert list(radar.columns) == list(RADAR_COLUMNS)
    # every alive customer, nobody else
    assert len(radar) == 57
    assert not set(radar["customer_id"]) & {"c000", "c001", "c002"}
    expected = scores.iloc[3:].assign(v=lambda s: s["churn_probability"] * s["predicted_ltv"])
    expected = expected.sort_values(["v", "customer_id"], ascending=[False, True])
    assert radar["customer_id"].tolist() == expected["customer_id"].tolist()
    np.testing.assert_allclose(radar["value_at_risk"], expected["v"])
    assert radar["rank"].tolist() == list(range(1, 58))
    assert (radar["cutoff"] == CUTOFF).all()
    assert radar["cluster"].nunique() == 2
    assert radar["action_id"].notna().all() and (radar["action_id"] != "none").all()
    assert radar["reason_1"].isna().all()  # no churn model given
    by_risk = radar_from_scores(scores, features=features, cluster_k=2,
                                rank_by="churn_probability")
    assert by_risk["churn_probability"].is_monotonic_decreasing


def test_radar_filters():
    features, scores = _table()
    full = radar_from_scores(scores, features=features, cluster_k=2)
    top = radar_from_scores(scores, features=features, cluster_k=2, top_k=5)
    assert top["customer_id"].tolist() == full["customer_id"].head(5).tolist()
    rich = radar_from_scores(scores, features=features, cluster_k=2, min_value=50.0)
    assert rich["customer_id"].tolist() == full.loc[full["value_at_risk"] >= 50,
                                                    "customer_id"].tolist()
    wanted = full["segment"].iloc[0]
    seg = radar_from_scores(scores, features=features, cluster_k=2, segments=[wanted], top_k=3)
    assert set(seg["segment"]) == {wanted}
    assert seg["rank"].tolist() == [1, 2, 3][: len(seg)]


def test_radar_reasons_only_for_the_explained_top():
    features, scores = _table()
    model = _model(features)
    radar = radar_from_scores(scores, features=features, churn_model=model, explain_top=10,
                              cluster_k=2)
    assert radar["reason_1"].iloc[:10].notna().all()
    assert radar["reason_1"].iloc[10:].isna().all()
    # reason_1 is the sentence of the largest positive contribution
    from repurchase_ml.explain import contributions, top_drivers

    head = features.set_index("customer_id").loc[radar["customer_id"].iloc[:10]].reset_index()
    first = top_drivers(contributions(model, head), top=1)["driver_1"]
    for feature, text in zip(first, radar["reason_1"].iloc[:10], strict=True):
        word = {"days_since_last_purchase": "since the last order",
                "days_since_first_purchase": "since the first order",
                "orders_all": "orders before the cutoff",
                "revenue_all": "purchase revenue before the cutoff",
                "gap_median_days": "gap"}[feature]
        assert word in text


def test_radar_with_nobody_alive_is_empty_with_every_column():
    features, scores = _table()
    for frame in (features.assign(days_since_last_purchase=500.0), features.iloc[:0]):
        radar = radar_from_scores(scores, features=frame, as_of=CUTOFF)
        assert len(radar) == 0
        assert list(radar.columns) == list(RADAR_COLUMNS)


def test_radar_input_errors():
    features, scores = _table()
    with pytest.raises(SchemaError, match="without churn_probability"):
        radar_from_scores(scores.iloc[5:], features=features)
    with pytest.raises(SchemaError, match="predicted_ltv"):
        radar_from_scores(scores.drop(columns="predicted_ltv"), features=features)
    with pytest.raises(SchemaError, match="one row per customer"):
        radar_from_scores(pd.concat([scores, scores]), features=features)
    with pytest.raises(SchemaError, match=r"\[0, 1\]"):
        radar_from_scores(scores.assign(churn_probability=1.5), features=features)
    with pytest.raises(ValueError, match="another cutoff"):
        radar_from_scores(scores.assign(cutoff=pd.Timestamp("2024-05-01")), features=features)
    with pytest.raises(ValueError, match="differs from the features' cutoff"):
        radar_from_scores(scores, features=features, as_of="2024-07-01")
    two = pd.concat([features, features.assign(cutoff=pd.Timestamp("2024-07-01"))])
    with pytest.raises(ValueError, match="expected one cutoff"):
        radar_from_scores(scores, features=two)
    with pytest.raises(ValueError, match="segments: unknown"):
        radar_from_scores(scores, features=features, segments=["vip"])
    with pytest.raises(ValueError, match="rank_by"):
        radar_from_scores(scores, features=features, rank_by="ltv")
    with pytest.raises(ValueError, match="as_of: required"):
        churn_radar(object(), pd.DataFrame(), as_of=None)


def test_write_radar_neutralises_formulas(tmp_path):
    features, scores = _table(10)
    evil = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\ry"]
    ids = dict(zip(features["customer_id"].iloc[3:9], evil, strict=True))
    features["customer_id"] = features["customer_id"].replace(ids)
    scores["customer_id"] = scores["customer_id"].replace(ids)
    radar = radar_from_scores(scores, features=features, cluster_k=1)
    paths = write_radar(radar, tmp_path / "radar.csv")
    assert sorted(p.name for p in paths.values()) == ["radar.csv", "radar.parquet"]
    text = paths["csv"].read_text(encoding="utf-8")
    assert "'=HYPERLINK" in text
    back = pd.read_csv(paths["csv"], keep_default_na=False)
    for cell in back["customer_id"]:
        assert not str(cell).startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert set(back["customer_id"]) >= {"'" + e for e in evil[:4]}
    # Parquet keeps the values as they are, and the numbers stay numbers in both
    raw = pd.read_parquet(paths["parquet"])
    assert set(raw["customer_id"]) >= set(evil)
    np.testing.assert_allclose(back["value_at_risk"], radar["value_at_risk"])
    assert not list(tmp_path.glob(".*tmp"))


@pytest.fixture(scope="module")
def synthetic_radar():
    from repurchase_ml.datasets import make_event_log
    from repurchase_ml.features import build_training_set
    from repurchase_ml.models.training import train_models

    events, truth = make_event_log(2_500, "2019-01-01", "2024-01-01", random_state=7)
    cutoffs = list(pd.date_range("2019-07-01", "2023-01-01", freq="3MS"))
    tasks = ["churn", "ltv", "repurchase"]
    training = build_training_set(events, cutoffs=cutoffs, tasks=tasks)
    bundle = train_models(training, tasks=tasks, n_estimators=150, random_state=0)
    as_of = pd.Timestamp("2023-10-01")
    return churn_radar(bundle, events, as_of=as_of, rank_by="churn_probability"), \
        churn_radar(bundle, events, as_of=as_of, explain_top=100), truth, as_of


def test_dropouts_are_over_represented_at_the_top(synthetic_radar):
    by_risk, _, truth, as_of = synthetic_radar
    # the generator's truth: the customer has dropped out by the end of the 90-day horizon,
    # so will not buy in it (the churn label's meaning)
    dropout = truth.set_index("customer_id")["dropout_time"]
    gone = (dropout.loc[by_risk["customer_id"]] < as_of + pd.Timedelta(days=90)).to_numpy()
    top = len(by_risk) // 10
    base_rate = gone.mean()
    assert 0.2 < base_rate < 0.8
    assert gone[:top].mean() >= min(1.5 * base_rate, 0.95)
    assert gone[-top:].mean() < base_rate


def test_synthetic_radar_reads_well(synthetic_radar):
    _, radar, _, as_of = synthetic_radar
    assert list(radar.columns) == list(RADAR_COLUMNS)
    assert radar["value_at_risk"].is_monotonic_decreasing
    assert (radar["cutoff"] == as_of).all()
    assert radar["reason_1"].iloc[:100].notna().all()
    assert radar["reason_1"].iloc[100:].isna().all()
    assert radar["segment"].nunique() >= 5
    assert radar["lifecycle_stage"].nunique() >= 3
    assert radar["action_id"].nunique() >= 3
