"""The churn radar: population, ranking, columns, filters, reasons, safe files, real signal."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from repurchase_ml.errors import SchemaError
from repurchase_ml.models.plan import TrainingMinimums
from repurchase_ml.radar import (
    RADAR_COLUMNS,
    churn_radar,
    evaluate_radar,
    radar_from_scores,
    radar_metrics,
    value_if_retained,
    value_priors,
    write_radar,
)

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
    # value at risk = churn probability x value if retained (of the alive population);
    # customers below the mean churn probability come after the others
    retained = value_if_retained(features.iloc[3:]).to_numpy()
    expected = scores.iloc[3:].assign(v=scores["churn_probability"].iloc[3:] * retained)
    expected["below"] = expected["churn_probability"] < expected["churn_probability"].mean()
    expected = expected.sort_values(["below", "v", "customer_id"], ascending=[True, False, True])
    assert radar["customer_id"].tolist() == expected["customer_id"].tolist()
    np.testing.assert_allclose(radar["value_at_risk"], expected["v"])
    np.testing.assert_allclose(radar["value_if_retained"] * radar["churn_probability"],
                               radar["value_at_risk"])
    assert radar.attrs["risk_floor"] == pytest.approx(expected["churn_probability"].mean())
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
    risky = radar_from_scores(scores, features=features, cluster_k=2, min_churn_probability=0.5)
    assert risky["customer_id"].tolist() == full.loc[full["churn_probability"] >= 0.5,
                                                      "customer_id"].tolist()
    assert 0 < len(risky) < len(full)
    stage = full["lifecycle_stage"].iloc[0]
    slipping = radar_from_scores(scores, features=features, cluster_k=2,
                                 lifecycle_stages=[stage])
    assert slipping["customer_id"].tolist() == full.loc[full["lifecycle_stage"] == stage,
                                                        "customer_id"].tolist()
    assert slipping["rank"].tolist() == list(range(1, len(slipping) + 1))


def test_low_risk_big_spenders_do_not_head_the_list():
    features, scores = _table()
    # c010 spends ten times anyone else but is unlikely to leave (the rank 3 and 5)
    features.loc[10, ["orders_all", "revenue_all", "days_since_last_purchase"]] = [40.0, 1e6, 5.0]
    scores.loc[10, "churn_probability"] = 0.08
    unfloored = radar_from_scores(scores, features=features, cluster_k=2, risk_floor=None)
    assert unfloored["customer_id"].iloc[0] == "c010"
    assert unfloored["value_at_risk"].is_monotonic_decreasing
    radar = radar_from_scores(scores, features=features, cluster_k=2)
    above = radar["churn_probability"] >= radar.attrs["risk_floor"]
    n_above = int(above.sum())
    assert above.iloc[:n_above].all() and not above.iloc[n_above:].any()
    assert radar["value_at_risk"].iloc[:n_above].is_monotonic_decreasing
    assert radar["customer_id"].iloc[n_above] == "c010"  # first of the low-risk part
    fixed = radar_from_scores(scores, features=features, cluster_k=2, risk_floor=0.9)
    assert (fixed["churn_probability"].iloc[: int((scores["churn_probability"].iloc[3:] >= 0.9)
                                                  .sum())] >= 0.9).all()
    by_value = radar_from_scores(scores, features=features, cluster_k=2,
                                 rank_by="value_if_retained", risk_floor=None)
    assert by_value["value_if_retained"].is_monotonic_decreasing
    # and the big spender gets no win-back coupon or discount
    row = radar.set_index("customer_id").loc["c010"]
    assert row["risk_tier"] == "low"
    assert row["action_id"] not in ("win_back_coupon", "time_limited_discount", "vip_care")


def test_value_if_retained_is_net_and_shrunk():
    f = pd.DataFrame({
        "orders_all": [1.0, 1.0, 10.0, 10.0, 2.0, 0.0],
        "days_since_first_purchase": [5.0, 5.0, 300.0, 300.0, 600.0, 0.0],
        "revenue_all": [168_000.0, 100.0, 1_000.0, 1_000.0, 200.0, 0.0],
        "refund_amount_all": [168_000.0, 0.0, 0.0, 500.0, 0.0, 0.0],
    })
    v = value_if_retained(f, horizon_days=90)
    # a big order cancelled at once is worth less than a small one kept
    assert v[0] < v[1]
    # refunds lower the value; a frequent buyer is worth more than a rare one
    assert v[3] < v[2] and v[4] < v[2]
    assert v[5] == 0.0 and (v[:5] > 0).all()
    # value is proportional to the horizon
    np.testing.assert_allclose(value_if_retained(f, horizon_days=180), 2 * v)
    # net_revenue_all, when the table has it, wins over revenue - refunds
    net = f.assign(net_revenue_all=[0.0, 100.0, 1_000.0, 500.0, 200.0, 0.0])
    np.testing.assert_allclose(value_if_retained(net.drop(columns="refund_amount_all")), v)
    # hand-computed: pooled repeat rate m = 19 / 1210 per day, pooled net value 1800 / 24
    m, pop = 19 / 1210, 1_800 / 24
    rate = (9 + m * 30) / (300 + 30)
    per_order = (1_000 + pop) / (10 + 1)
    assert v[2] == pytest.approx(90 * rate * per_order)
    # one row priced with the population's figures (the served model) = priced in it
    priors = value_priors(f)
    assert priors == pytest.approx({"repeat_rate_per_day": m, "net_order_value": pop})
    alone = value_if_retained(f.iloc[[2]], horizon_days=90, priors=priors)
    assert alone.iloc[0] == pytest.approx(v[2]) and alone.index.tolist() == [2]
    with pytest.raises(SchemaError, match="days_since_first_purchase"):
        value_if_retained(f.drop(columns="days_since_first_purchase"))
    with pytest.raises(SchemaError, match="net_revenue_all"):
        value_if_retained(f.drop(columns="revenue_all"))
    with pytest.raises(ValueError, match="horizon_days"):
        value_if_retained(f, horizon_days=0)


def test_radar_metrics_by_hand():
    radar = pd.DataFrame({"rank": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                          "customer_id": list("abcdefghij"),
                          "value_if_retained": [100.0, 80, 60, 50, 40, 30, 20, 10, 5, 5]})
    radar = radar.sample(frac=1.0, random_state=1)  # read in rank order, not row order
    labels = pd.DataFrame({"customer_id": list("abcdefghijz"),
                           "churn": [1, 1, 0, 1, 0, 0, 0, 0, 1, 0, 1]})
    m = radar_metrics(radar, labels, top_k=3, top_fraction=0.2)
    assert m["n"] == 10 and m["n_without_outcome"] == 0
    assert m["base_rate"] == pytest.approx(0.4)
    assert m["precision_at_k"] == pytest.approx(2 / 3)
    assert m["lift_at_k"] == pytest.approx((2 / 3) / 0.4)
    assert m["precision_top_fraction"] == 1.0 and m["lift_top_fraction"] == pytest.approx(2.5)
    assert m["value_lost_at_k"] == 180.0
    assert m["value_lost_share_at_k"] == pytest.approx(180 / 235)
    # a Series of outcomes, training-set labels with NaN outside the population, default k
    series = labels.set_index("customer_id")["churn"]
    assert radar_metrics(radar, series, top_k=3) == radar_metrics(radar, labels, top_k=3)
    nan_labels = labels.rename(columns={"churn": "label_churn"}).astype({"label_churn": float})
    nan_labels.loc[0, "label_churn"] = np.nan
    partial = radar_metrics(radar, nan_labels)
    assert partial["n"] == 9 and partial["n_without_outcome"] == 1 and partial["k"] == 9
    with pytest.raises(SchemaError, match="0/1"):
        radar_metrics(radar, labels.assign(churn=0.3))
    with pytest.raises(SchemaError, match="churn"):
        radar_metrics(radar, labels.rename(columns={"churn": "y"}))
    with pytest.raises(ValueError, match="top_fraction"):
        radar_metrics(radar, labels, top_fraction=0)


def test_radar_reasons_only_for_the_explained_top():
    features, scores = _table()
    model = _model(features)
    radar = radar_from_scores(scores, features=features, churn_model=model, explain_top=10,
                              cluster_k=2)
    assert radar["reason_1"].iloc[:10].notna().all()
    assert radar["reason_1"].iloc[10:].isna().all()
    # reason_1 is the sentence of the largest positive contribution whose value differs
    # from the typical one (the median of the listed customers)
    from repurchase_ml.explain import (
        contributions,
        feature_directions,
        is_telling,
        top_drivers,
        typical_values,
    )

    head = features.set_index("customer_id").loc[radar["customer_id"].iloc[:10]].reset_index()
    typical = typical_values(features.iloc[3:], columns=FEATURES)
    drivers = top_drivers(contributions(model, head), top=len(FEATURES))
    # directions of the listed population, not of the 10 extremes explained
    listed = features.iloc[3:].reset_index(drop=True)
    directions = feature_directions(contributions(model, listed), listed)
    for i, text in enumerate(radar["reason_1"].iloc[:10]):
        row = head.iloc[i]
        feature = next(f for f in drivers.iloc[i, : len(FEATURES)]
                       if f is not None and is_telling(f, row[f], typical=typical[f], row=row,
                                                       direction=directions[f]))
        word = {"days_since_last_purchase": "since the last order",
                "days_since_first_purchase": "since the first order",
                "orders_all": "orders before the cutoff",
                "revenue_all": "revenue before the cutoff",
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
    with pytest.raises(SchemaError, match="churn_probability"):
        radar_from_scores(scores.drop(columns="churn_probability"), features=features)
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
    with pytest.raises(ValueError, match=r"lifecycle_stages: unknown \['lapsed'\]"):
        radar_from_scores(scores, features=features, lifecycle_stages=["lapsed"])
    with pytest.raises(ValueError, match="rank_by"):
        radar_from_scores(scores, features=features, rank_by="ltv")
    with pytest.raises(ValueError, match="risk_floor"):
        radar_from_scores(scores, features=features, risk_floor="median")
    with pytest.raises(ValueError, match="min_churn_probability"):
        radar_from_scores(scores, features=features, min_churn_probability=2.0)
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


#: test shops are below the default training minimums
FEW = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=30, eval_positives=5,
                       eval_negatives=5, history_days=30)


@pytest.fixture(scope="module")
def synthetic_radar():
    from repurchase_ml.datasets import make_event_log
    from repurchase_ml.features import build_training_set
    from repurchase_ml.models.training import train_models

    events, truth = make_event_log(2_500, "2019-01-01", "2024-01-01", random_state=7)
    cutoffs = list(pd.date_range("2019-07-01", "2023-01-01", freq="3MS"))
    tasks = ["churn", "ltv", "repurchase"]
    training = build_training_set(events, cutoffs=cutoffs, tasks=tasks)
    bundle = train_models(training, tasks=tasks, n_estimators=150, random_state=0,
                          minimums=FEW)
    as_of = pd.Timestamp("2023-10-01")
    by_risk = churn_radar(bundle, events, as_of=as_of, rank_by="churn_probability")
    radar = churn_radar(bundle, events, as_of=as_of, explain_top=100)
    radar.attrs["metrics"] = {
        label: evaluate_radar(bundle, training, **options)
        for label, options in (("default", {}), ("churn", {"rank_by": "churn_probability"}),
                               ("no floor", {"risk_floor": None}))}
    return by_risk, radar, truth, as_of


@pytest.mark.slow
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


@pytest.mark.slow
def test_synthetic_radar_reads_well(synthetic_radar):
    _, radar, _, as_of = synthetic_radar
    assert list(radar.columns) == list(RADAR_COLUMNS)
    above = (radar["churn_probability"] >= radar.attrs["risk_floor"]).to_numpy()
    n_above = int(above.sum())
    assert above[:n_above].all() and 0 < n_above < len(radar)
    assert radar["value_at_risk"].iloc[:n_above].is_monotonic_decreasing
    assert radar["value_at_risk"].iloc[n_above:].is_monotonic_decreasing
    assert (radar["cutoff"] == as_of).all()
    assert radar["reason_1"].iloc[:100].notna().all()
    assert radar["reason_1"].iloc[100:].isna().all()
    assert radar["segment"].nunique() >= 5
    assert radar["lifecycle_stage"].nunique() >= 3
    assert radar["action_id"].nunique() >= 3


@pytest.mark.slow
def test_value_if_retained_follows_the_hidden_spend_rate_of_stayers(synthetic_radar):
    _, radar, truth, as_of = synthetic_radar
    hidden = truth.set_index("customer_id").reindex(radar["customer_id"])
    stayed = (hidden["dropout_time"] >= as_of + pd.Timedelta(days=90)).to_numpy()
    spend_rate = (hidden["purchase_rate"] * hidden["spend_level"]).to_numpy()
    frame = pd.DataFrame({"spend_rate": spend_rate, "retained": radar["value_if_retained"],
                          "net": radar["net_revenue_all"]})[stayed]
    assert stayed.sum() > 200
    rho = frame.corr(method="spearman")["spend_rate"]
    assert rho["retained"] > 0.6
    assert rho["retained"] > rho["net"] + 0.05  # better than the money spent so far


@pytest.mark.slow
def test_the_default_top_decile_churns_well_above_the_base_rate(synthetic_radar):
    metrics = synthetic_radar[1].attrs["metrics"]
    default, churn, no_floor = metrics["default"], metrics["churn"], metrics["no floor"]
    assert default["base_rate"] == churn["base_rate"] and 0.2 < default["base_rate"] < 0.9
    ceiling = 1 / default["base_rate"]  # a top decile that all churned
    assert default["lift_top_fraction"] >= min(1.5, 0.95 * ceiling)
    assert churn["lift_top_fraction"] >= default["lift_top_fraction"] - 0.02
    # valuable customers first: the default list's churners hold more value than the
    # likeliest leavers' list, and the floor does not cost much of it
    assert default["value_lost_at_k"] > churn["value_lost_at_k"]
    assert default["lift_top_fraction"] >= no_floor["lift_top_fraction"]


def test_default_actions_fit_the_row():
    import itertools

    from repurchase_ml.segments import RFM_SEGMENT_RULES, recommend_actions

    stages = ["new", "active", "at_risk", "churned", "reactivated"]
    grid = pd.DataFrame(
        list(itertools.product(sorted(set(RFM_SEGMENT_RULES["segment"])), stages,
                               ["low", "medium", "high"], ["low", "medium", "high"], [0.0, 0.9])),
        columns=["segment", "lifecycle_stage", "value_tier", "risk_tier", "discount_share"])
    actions = recommend_actions(grid)["action_id"]
    low = grid["risk_tier"] == "low"
    incentives = {"win_back_coupon", "time_limited_discount"}
    assert not actions[low].isin(incentives).any()  # no coupon to a low-risk customer
    assert actions[~low].isin(incentives).any()
    champion = (grid["segment"] == "champions") & low & (grid["value_tier"] == "high")
    assert set(actions[champion]) == {"nurture"}
    slipping = (grid["lifecycle_stage"] == "at_risk") & (grid["risk_tier"] == "high") & (
        grid["value_tier"] == "low") & (grid["segment"] == "at risk")
    assert set(actions[slipping]) == {"win_back_coupon"}
    assert (actions != "none").all()


def test_radar_options_from_config_and_score_flags(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from repurchase_ml import cli, jobs
    from repurchase_ml.config import load_settings

    cfg = tmp_path / "c.yaml"
    cfg.write_text("radar: {rank_by: churn_probability, top_k: 50, risk_floor: null}\n")
    seen = {}

    def fake(settings, *args, **kwargs):
        seen["settings"] = settings
        raise ValueError("stopped after capturing the settings")

    monkeypatch.setattr(jobs, "run_score", fake)
    result = CliRunner().invoke(cli.app, [
        "score", "--as-of", "2024-01-01", "--project-dir", str(tmp_path), "--config", str(cfg),
        "--top-k", "20", "--min-churn-probability", "0.4", "--segment", "champions",
        "--segment", "at risk", "--stage", "at_risk", "--stage", "active"])
    assert "stopped after capturing" in result.output
    options = seen["settings"].radar.options()
    assert options["rank_by"] == "churn_probability" and options["risk_floor"] is None  # file
    assert options["top_k"] == 20 and options["min_churn_probability"] == 0.4  # flags win
    assert options["segments"] == ["champions", "at risk"]
    assert options["lifecycle_stages"] == ["at_risk", "active"]
    bad = CliRunner().invoke(cli.app, ["score", "--as-of", "2024-01-01", "--project-dir",
                                       str(tmp_path), "--rank-by", "value_at_rsk"])
    assert bad.exit_code == cli.EXIT_CONFIG
    assert "did you mean 'value_at_risk'" in " ".join(bad.output.split())
    # every option is a keyword radar_from_scores takes
    features, scores = _table()
    defaults = load_settings(environ={}).radar.options()
    radar = radar_from_scores(scores, features=features, cluster_k=2, **defaults)
    assert radar["customer_id"].tolist() == radar_from_scores(
        scores, features=features, cluster_k=2)["customer_id"].tolist()


def test_evaluate_radar_measures_a_labelled_cutoff_with_the_configured_options():
    from repurchase_ml.config import load_settings

    features, scores = _table()
    later = features.assign(cutoff=pd.Timestamp("2024-09-01"))
    labelled = pd.concat([features, later], ignore_index=True)
    labelled["label_churn"] = (labelled["days_since_last_purchase"] > 150).astype(float)
    labelled.loc[labelled["days_since_last_purchase"] > 365, "label_churn"] = np.nan

    class Bundle:  # scores like _table(), at whatever cutoff it is given
        horizons = {"churn": 90}
        cutoffs = {"churn": {"test": CUTOFF}}

        def predict(self, rows):
            out = scores.set_index("customer_id").loc[rows["customer_id"]].reset_index()
            return out.assign(cutoff=rows["cutoff"].to_numpy())

    options = load_settings(environ={}).radar.options()
    m = evaluate_radar(Bundle(), labelled, **{**options, "top_k": 10})
    radar = radar_from_scores(scores, features=features, cluster_k=2)
    expected = radar_metrics(radar, labelled.loc[labelled["cutoff"] == CUTOFF], top_k=10)
    assert m == expected
    assert m["n"] == 57 and m["lift_top_fraction"] > 1.5
    by_risk = evaluate_radar(Bundle(), labelled, top_k=10, rank_by="churn_probability")
    assert by_risk["precision_at_k"] == 1.0
    with pytest.raises(ValueError, match="no rows of 2025-01-01"):
        evaluate_radar(Bundle(), labelled, cutoff="2025-01-01")
    with pytest.raises(SchemaError, match="label_churn"):
        evaluate_radar(Bundle(), features)


def test_churn_radar_builds_the_columns_it_needs_beside_a_narrow_model_spec():
    from repurchase_ml.datasets import make_event_log
    from repurchase_ml.features import FeatureSpec

    events, _ = make_event_log(300, "2023-01-01", "2024-01-01", random_state=0)
    seen = {}

    class LifecycleOnly:  # a model trained on lifecycle features only
        horizons = {"churn": 60}

        def predict(self, rows):
            seen["columns"] = set(rows.columns)
            since = rows["days_since_first_purchase"].fillna(0.0).to_numpy()
            return pd.DataFrame({"customer_id": rows["customer_id"], "cutoff": rows["cutoff"],
                                 "churn_probability": np.clip(1 - since / 400, 0.01, 0.99),
                                 "predicted_ltv": 10.0})

    radar = churn_radar(LifecycleOnly(), events, as_of="2023-10-01", cluster_k=2,
                        spec=FeatureSpec(families=("lifecycle",)))
    assert {"days_since_last_purchase", "orders_all", "gap_median_days"} <= seen["columns"]
    assert len(radar) > 50 and radar["value_if_retained"].gt(0).all()
    assert radar.attrs["risk_floor"] == pytest.approx(radar["churn_probability"].mean())
    # the bundle's 60-day churn horizon prices value if retained: two thirds of 90 days' worth
    longer = churn_radar(LifecycleOnly(), events, as_of="2023-10-01", cluster_k=2,
                         horizon_days=90).set_index("customer_id")["value_if_retained"]
    np.testing.assert_allclose(radar["value_if_retained"],
                               longer.loc[radar["customer_id"]].to_numpy() * 60 / 90)


def test_radar_without_ltv_scores_leaves_the_column_empty():
    """A champion without an LTV task (refused on a short log) still writes the radar."""
    features, scores = _table()
    full = radar_from_scores(scores, features=features)
    radar = radar_from_scores(scores.drop(columns="predicted_ltv"), features=features)
    assert radar["predicted_ltv"].isna().all()
    assert radar["customer_id"].tolist() == full["customer_id"].tolist()
    assert np.allclose(radar["value_at_risk"], full["value_at_risk"])
