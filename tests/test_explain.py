"""Explanations: TreeSHAP contributions, driver ranking, reasons in words, plots."""

from __future__ import annotations

import subprocess
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from repurchase_ml.errors import SchemaError
from repurchase_ml.explain import (
    contributions,
    describe_feature,
    driver_ranking,
    feature_directions,
    is_telling,
    plot_dependence,
    plot_drivers,
    reasons,
    top_drivers,
    typical_values,
)
from repurchase_ml.features import feature_info, feature_names


def _data(n: int = 600, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "days_since_last_purchase": rng.uniform(0, 200, n),
        "orders_90d": rng.poisson(2, n).astype(float),
        "gap_median_days": rng.uniform(5, 60, n),
        "refund_rate": rng.uniform(0, 0.3, n),
    })
    logit = X["days_since_last_purchase"] / 40 - X["orders_90d"] - 1.5
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y.to_numpy()


@pytest.fixture(scope="module")
def model_and_data():
    X, y = _data()
    model = lgb.LGBMClassifier(n_estimators=40, num_leaves=8, verbose=-1, random_state=0)
    model.fit(X, y)
    return model, X


def test_contributions_sum_to_the_raw_score(model_and_data):
    model, X = model_and_data
    c = contributions(model, X.assign(customer_id=np.arange(len(X))))
    assert list(c.columns) == [*X.columns, "bias"]
    assert c.index.equals(X.index)
    np.testing.assert_allclose(c.sum(axis=1), model.predict(X, raw_score=True), atol=1e-9)
    same = contributions(model.booster_, X, num_threads=1)
    np.testing.assert_allclose(same.to_numpy(), c.to_numpy())


def test_contributions_from_the_project_estimator():
    from repurchase_ml.models import LGBMTaskClassifier

    X, y = _data(400, seed=3)
    model = LGBMTaskClassifier(n_estimators=30, calibration=None, random_state=0).fit(X, y)
    c = contributions(model, X)
    np.testing.assert_allclose(c.sum(axis=1), model.booster_.predict(X, raw_score=True), atol=1e-9)
    # a compatible dtype is cast (as the estimator's own predict does); a non-number is refused
    np.testing.assert_allclose(contributions(model, X.astype({"orders_90d": "int64"})), c)
    with pytest.raises(SchemaError, match="orders_90d"):
        contributions(model, X.astype({"orders_90d": str}))


def test_contributions_errors(model_and_data):
    model, X = model_and_data
    with pytest.raises(SchemaError, match="refund_rate"):
        contributions(model, X.drop(columns="refund_rate"))
    with pytest.raises(TypeError, match="booster_"):
        contributions(object(), X)
    with pytest.raises(TypeError, match="X: expected"):
        contributions(model, X.to_numpy())


def test_driver_ranking_finds_the_signal(model_and_data):
    model, X = model_and_data
    ranking = driver_ranking(contributions(model, X), X)
    assert set(ranking["feature"].head(2)) == {"days_since_last_purchase", "orders_90d"}
    assert ranking["share"].sum() == pytest.approx(1.0)
    direction = dict(zip(ranking["feature"], ranking["direction"], strict=True))
    assert direction["days_since_last_purchase"] == "higher raises score"
    assert direction["orders_90d"] == "lower raises score"


def test_top_drivers_order_and_sign():
    c = pd.DataFrame({"a": [0.5, -0.3, 0.0], "b": [0.9, -0.1, 0.2], "c": [-0.4, 0.05, 0.2],
                      "bias": [1.0, 1.0, 1.0]})
    d = top_drivers(c, top=3)
    assert d.loc[0, ["driver_1", "driver_2", "driver_3"]].tolist() == ["b", "a", None]
    assert d.loc[1, ["driver_1", "driver_2"]].tolist() == ["c", None]
    # ties keep column order
    assert d.loc[2, ["driver_1", "driver_2"]].tolist() == ["b", "c"]
    assert d.loc[0, "contribution_1"] == 0.9
    assert np.isnan(d.loc[0, "contribution_3"])
    with pytest.raises(ValueError, match="top"):
        top_drivers(c, top=0)


def test_reasons_match_sign_and_size_of_contributions(model_and_data):
    model, X = model_and_data
    rows = X.iloc[:80]
    c = contributions(model, rows)
    typical = typical_values(X)
    words = reasons(c, rows, top=3, typical=typical)
    assert list(words.columns) == ["reason_1", "reason_2", "reason_3"]
    features = list(X.columns)
    directions = feature_directions(c, rows)
    for i in range(len(rows)):
        values = c.iloc[i][features]
        positive = values[values > 0].sort_values(ascending=False, kind="stable")
        expected: list[str] = []
        for f in positive.index:  # largest first; a repeated sentence gives way to the next
            if not is_telling(f, rows.iloc[i][f], typical=typical[f], row=rows.iloc[i].to_dict(),
                              direction=directions[f]):
                continue  # same as typical, or against the feature's direction: not a reason
            text = describe_feature(f, rows.iloc[i][f], typical=typical[f],
                                    row=rows.iloc[i].to_dict())
            if text not in expected and len(expected) < 3:
                expected.append(text)
        got = [w for w in words.iloc[i].tolist() if w is not None]
        assert got == expected
        # a feature pulling risk down never appears as a reason
        for f in values[values <= 0].index:
            own = describe_feature(f, rows.iloc[i][f], typical=typical[f],
                                   row=rows.iloc[i].to_dict())
            assert own not in got


def test_repeated_sentences_give_way_to_the_next_driver():
    X = pd.DataFrame({"gap_median_days": [np.nan], "gap_mean_days": [np.nan],
                      "orders_all": [1.0], "orders_90d": [0.0]})
    c = pd.DataFrame({"gap_median_days": [0.9], "gap_mean_days": [0.8], "orders_all": [0.5],
                      "orders_90d": [0.1], "bias": [0.0]})
    words = reasons(c, X, top=3, typical={"orders_all": 3.0, "orders_90d": 1.0})
    assert words.iloc[0].tolist() == ["only one order so far: no buying rhythm yet",
                                      "1 orders before the cutoff (typical 3)",
                                      "no orders in the last 90 days (typical 1)"]


def test_reasons_read_as_sentences():
    assert describe_feature("days_since_last_purchase", 38, row={"gap_median_days": 12}) == \
        "38 days since the last order; usually buys every 12 days"
    assert describe_feature("orders_change_30d", -3, row={"orders_30d": 0}) == \
        "no orders in the last 30 days after 3 in the 30 before"
    assert describe_feature("interactions_change_30d", -14,
                            row={"views_30d": 0, "carts_30d": 0, "favorites_30d": 0}) == \
        "no views, carts or favourites in the last 30 days after 14 in the 30 before"
    refunds = describe_feature("refund_rate", 0.25, typical=0.0)
    assert refunds.startswith("money refunded divided by ") and \
        refunds.endswith(": 25% (typical 0%)")
    assert describe_feature("price_tier_drift_90d", -0.3) == \
        "recent items cheaper than usual: relative price down 0.30 (in category averages)"
    assert describe_feature("price_tier_drift_90d", -1.32, row={"price_tier_90d": 0.2,
                                                                "price_tier_all": 1.52}) == \
        "recent items cheaper than usual: 0.20x the category average in the last 90 days " \
        "against 1.52x overall"
    assert describe_feature("gap_last_days", 1.0).endswith(": 1 day")
    assert describe_feature("overdue_ratio", 3.2, row={"gap_median_days": 12,
                                                        "days_since_last_purchase": 38}) == \
        "3.2x the usual gap since the last order (38 days against a usual 12)"
    assert describe_feature("gap_median_days", np.nan).endswith(": not known yet")
    assert describe_feature("price_tier_90d", np.nan) == "no orders in the last 90 days"
    # a column the feature engine does not know still gets a sentence
    assert describe_feature("my_custom_score", 0.1234, typical=0.5) == \
        "my custom score: 0.123 (typical 0.5)"


def test_reasons_never_say_nothing():
    # the top-of-list reasons: a spread of gaps "not known yet" for a two-order
    # customer, "0% (typical 0%)", "+0.00 per month (typical +0.00)"
    X = pd.DataFrame({"gap_std_days": [np.nan, np.nan], "weekend_share": [0.0, 0.5],
                      "monthly_order_slope": [-0.001, -0.4], "orders_all": [2.0, 1.0],
                      "days_since_last_purchase": [120.0, 200.0]})
    c = pd.DataFrame({"gap_std_days": [0.9, 0.9], "weekend_share": [0.5, 0.5],
                      "monthly_order_slope": [0.4, 0.4], "orders_all": [0.0, 0.0],
                      "days_since_last_purchase": [-0.2, 0.1], "bias": [0.0, 0.0]})
    typical = {"weekend_share": 0.0, "monthly_order_slope": 0.0, "orders_all": 3.0,
               "days_since_last_purchase": 40.0}
    words = reasons(c, X, top=3, typical=typical)
    assert words.iloc[0].isna().all()  # fewer reasons rather than meaningless ones
    second = [w for w in words.iloc[1] if w is not None]
    assert second == ["only one order so far: no buying rhythm yet",
                      "share of orders placed on Saturday or Sunday: 50% (typical 0%)",
                      "least-squares slope of orders per 30-day month over the last months: "
                      "-0.40 per month (typical +0.00)"]
    everything = " | ".join(str(w) for w in words.to_numpy().ravel())
    assert "not known yet" not in everything and ": 0% (typical 0%)" not in everything
    assert is_telling("days_since_last_purchase", 120.4, typical=120.0) is False
    assert is_telling("days_since_last_purchase", 121.0, typical=120.0) is True


def test_every_catalogued_feature_gets_a_sentence():
    for name in feature_names():
        text = describe_feature(name, 3.0, typical=1.0, row={})
        assert text and "{" not in text and "nan" not in text
        info = feature_info(name)
        if info.unit in ("count", "currency", "days"):
            assert "3" in text, (name, text)


def test_reasons_validate_their_input(model_and_data):
    model, X = model_and_data
    c = contributions(model, X.iloc[:5])
    with pytest.raises(ValueError, match="same rows"):
        reasons(c, X.iloc[5:10])
    with pytest.raises(TypeError, match="contributions"):
        reasons(c.drop(columns="bias"), X.iloc[:5])


def test_plots_are_figures(model_and_data):
    model, X = model_and_data
    c = contributions(model, X.iloc[:200])
    bar = plot_drivers(c, X.iloc[:200], kind="bar", max_display=3)
    swarm = plot_drivers(c, X.iloc[:200], kind="beeswarm")
    dep = plot_dependence(c, X.iloc[:200], top=2)
    assert len(dep.axes) >= 2
    assert bar.axes and swarm.axes
    labels = " ".join(t.get_text() for t in bar.axes[0].get_yticklabels())
    assert "days_since_last_purchase" in labels
    with pytest.raises(ValueError, match="kind"):
        plot_drivers(c, X.iloc[:200], kind="pie")
    with pytest.raises(ValueError, match="features"):
        plot_dependence(c, X.iloc[:200], features=["nope"])


def test_scoring_path_does_not_import_shap():
    code = ("import sys, repurchase_ml.explain, repurchase_ml.radar; "
            "print('shap' in sys.modules, 'mlflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_a_reason_never_points_against_how_the_feature_acts_on_everyone():
    # more orders lower churn risk across the list; one row's interaction gives its 3 orders
    # (typical 1) a positive contribution: that is no reason to churn, and the next driver is
    rng = np.random.default_rng(0)
    orders = rng.integers(0, 6, 200).astype(float)
    since = rng.uniform(10, 400, 200)
    X = pd.DataFrame({"orders_365d": orders, "days_since_last_purchase": since})
    c = pd.DataFrame({"orders_365d": 0.5 - 0.2 * orders, "days_since_last_purchase":
                      (since - 200) / 400, "bias": 0.0})
    X.loc[0, ["orders_365d", "days_since_last_purchase"]] = [3.0, 350.0]
    c.loc[0, ["orders_365d", "days_since_last_purchase"]] = [0.8, 0.3]
    typical = {"orders_365d": 1.0, "days_since_last_purchase": 150.0}
    directions = feature_directions(c, X)
    assert directions["orders_365d"] < -0.9 and directions["days_since_last_purchase"] > 0.9
    words = reasons(c, X, top=2, typical=typical)
    assert words.iloc[0].tolist() == ["350 days since the last order (typical 150 days)", None]
    # a row whose few orders raise the risk keeps that reason
    X.loc[1, "orders_365d"], c.loc[1, "orders_365d"] = 0.0, 0.9
    assert reasons(c, X, top=1, typical=typical).iloc[1, 0] == \
        "no orders in the last 365 days (typical 1)"
    # one row alone has no direction to point against
    assert reasons(c.iloc[:1], X.iloc[:1], top=1, typical=typical).iloc[0, 0] == \
        "3 orders in the last 365 days (typical 1)"


def test_equal_gaps_are_one_reason():
    # a two-order customer has one gap: mean, median and last gap say the same thing once
    X = pd.DataFrame({"gap_mean_days": [483.0], "gap_median_days": [483.0],
                      "gap_last_days": [483.0], "orders_90d": [0.0]})
    c = pd.DataFrame({"gap_mean_days": [0.9], "gap_median_days": [0.8], "gap_last_days": [0.7],
                      "orders_90d": [0.1], "bias": [0.0]})
    typical = {"gap_mean_days": 104.0, "gap_median_days": 89.0, "gap_last_days": 100.0,
               "orders_90d": 1.0}
    assert reasons(c, X, top=3, typical=typical).iloc[0].tolist() == [
        "mean gap between consecutive purchase days: 483 days (typical 104)",
        "no orders in the last 90 days (typical 1)", None]
