"""Baselines: the RFM rule, the run-rate rule, the purchase summary and BG/NBD pinned to the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import EVENT_TYPES
from repurchase_ml.models import (
    fit_bgnbd_baseline,
    purchase_summary,
    rfm_heuristic_score,
    run_rate_baseline,
)


def _events(rows):
    frame = pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame["event_type"] = pd.Categorical(frame["event_type"], categories=list(EVENT_TYPES))
    frame["amount"] = frame["amount"].astype(float)
    return frame.sort_values(["customer_id", "timestamp"], ignore_index=True)


def test_purchase_summary_counts_days_and_ignores_the_future():
    ev = _events([
        (1, "2024-01-01 09:00", "purchase", 10.0),
        (1, "2024-01-01 17:00", "purchase", 5.0),   # same day: one transaction of 15
        (1, "2024-01-15 10:00", "purchase", 30.0),
        (1, "2024-01-29 10:00", "purchase", 50.0),
        (1, "2024-01-20 10:00", "view", np.nan),    # not a purchase
        (1, "2024-01-22 10:00", "refund", 30.0),    # not a purchase, netted out of the value
        (1, "2024-02-01 00:00", "purchase", 999.0),  # at the cutoff: future
        (2, "2024-01-22 08:00", "purchase", 12.0),
    ])
    out = purchase_summary(ev, cutoff="2024-02-01", order_definition="customer_day")
    # observation ends 2024-01-31: customer 1 first bought 30 days before, last 28 days after first
    assert out["customer_id"].tolist() == [1, 2]
    assert out["frequency"].tolist() == [2.0, 0.0]
    np.testing.assert_allclose(out["recency"], [28 / 7, 0.0])
    np.testing.assert_allclose(out["T"], [30 / 7, 9 / 7])
    # repeat days 30 and 50, net of the 30 refunded before the cutoff: money is net of refunds
    np.testing.assert_allclose(out["monetary_value"], [25.0, 0.0])
    days = purchase_summary(ev, cutoff="2024-02-01", period_days=1,
                            order_definition="customer_day")
    np.testing.assert_allclose(days["T"], [30.0, 9.0])
    # the default counts every purchase row without an order id as an order, timed exactly,
    # and nets the refund (30) out of the repeat value: (5 + 30 + 50 - 30) / 3
    rows = purchase_summary(ev, cutoff="2024-02-01", period_days=1)
    assert rows["frequency"].tolist() == [3.0, 0.0]
    np.testing.assert_allclose(rows["T"], [31 - 9 / 24, 10 - 8 / 24])
    np.testing.assert_allclose(rows["monetary_value"], [55.0 / 3, 0.0])
    with pytest.raises(ValueError, match="order_definition"):
        purchase_summary(ev, cutoff="2024-02-01", order_definition="invoice")


def test_purchase_summary_needs_purchases_before_the_cutoff():
    ev = _events([(1, "2024-03-01", "purchase", 10.0)])
    with pytest.raises(ValueError, match="no purchase before cutoff"):
        purchase_summary(ev, cutoff="2024-02-01")
    with pytest.raises(ValueError, match="period_days"):
        purchase_summary(ev, cutoff="2024-04-01", period_days=0)


def test_rfm_score_orders_best_customers_first_and_is_row_order_free():
    f = pd.DataFrame({
        "days_since_last_purchase": [5.0, 300.0, 60.0, 20.0, 150.0],
        "orders_all": [8.0, 1.0, 3.0, 5.0, 2.0],
        "revenue_all": [500.0, 10.0, 90.0, 200.0, 40.0],
    })
    score = rfm_heuristic_score(f)
    assert score.idxmax() == 0 and score.idxmin() == 1
    assert score.between(0, 1).all()
    shuffled = f.iloc[[3, 1, 4, 0, 2]]
    pd.testing.assert_series_equal(rfm_heuristic_score(shuffled).sort_index(), score)


def test_rfm_score_needs_its_columns():
    with pytest.raises(SchemaError, match="revenue_all"):
        rfm_heuristic_score(pd.DataFrame({"days_since_last_purchase": [1.0], "orders_all": [1.0]}))


def test_run_rate_has_a_one_month_floor():
    f = pd.DataFrame({"orders_all": [2.0, 1.0, 0.0], "revenue_all": [100.0, 10.0, 0.0],
                      "days_since_first_purchase": [100.0, 3.0, np.nan]})
    out = run_rate_baseline(f, horizon_days=50)
    np.testing.assert_allclose(out["expected_orders"], [1.0, 50 / 30, 0.0])
    np.testing.assert_allclose(out["expected_revenue"], [50.0, 500 / 30, 0.0])
    with pytest.raises(ValueError, match="horizon_days"):
        run_rate_baseline(f, horizon_days=-1)


@pytest.fixture(scope="module")
def cdnow_sample():
    from repurchase_ml.datasets import load_cdnow_sample

    try:
        events, _ = load_cdnow_sample()
    except FileNotFoundError as exc:
        pytest.skip(f"CDNOW sample not available: {exc}")
    return events


@pytest.fixture(scope="module")
def published_fit(cdnow_sample):
    # weeks 1-39 calibration, weeks 40-78 (273 days) holdout, one transaction per customer-day
    return fit_bgnbd_baseline(cdnow_sample, cutoff="1997-10-01", horizon_days=273,
                              order_definition="customer_day")


@pytest.mark.slow  # PyMC-Marketing compiles its graphs: seconds per fit
def test_the_pymc_backend_is_the_reference_the_fast_fit_matches(published_fit, cdnow_sample):
    pytest.importorskip("pymc_marketing", reason="the 'baselines' extra is not installed")
    reference = fit_bgnbd_baseline(cdnow_sample, cutoff="1997-10-01", horizon_days=273,
                                   order_definition="customer_day", backend="pymc")
    assert reference.attrs["backend"] == "pymc" and published_fit.attrs["backend"] == "scipy"
    for key in ("bgnbd_params", "gamma_gamma_params"):
        for name, value in reference.attrs[key].items():
            assert published_fit.attrs[key][name] == pytest.approx(value, rel=2e-3), name
    for col in ("expected_orders", "probability_alive", "expected_spend"):
        np.testing.assert_allclose(published_fit[col], reference[col], rtol=2e-3)


def test_bgnbd_reproduces_the_published_cdnow_fit(published_fit):
    params = published_fit.attrs["bgnbd_params"]
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        assert params[name] == pytest.approx(value, rel=0.01), name
    assert len(published_fit) == 2357
    assert published_fit["frequency"].sum() == 2457  # repeat purchase days in weeks 1-39


def test_gamma_gamma_reaches_the_maximum_likelihood(published_fit):
    gg = published_fit.attrs["gamma_gamma_params"]
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert gg[name] == pytest.approx(value, rel=0.02), name
    revenue = published_fit["expected_revenue"]
    np.testing.assert_allclose(revenue, published_fit["expected_orders"]
                               * published_fit["expected_spend"])


def test_bgnbd_holdout_forecast_matches_the_measured_numbers(published_fit, cdnow_sample):
    holdout = cdnow_sample[(cdnow_sample["timestamp"] >= "1997-10-01")
                           & (cdnow_sample["timestamp"] < "1998-07-01")]
    actual = (holdout.assign(day=holdout["timestamp"].dt.normalize())
              .groupby("customer_id")["day"].nunique()
              .reindex(published_fit["customer_id"], fill_value=0).to_numpy())
    pred = published_fit["expected_orders"].to_numpy()
    assert actual.sum() == 1882
    assert pred.sum() == pytest.approx(1654, rel=0.01)
    assert np.sqrt(np.mean((pred - actual) ** 2)) == pytest.approx(1.608, abs=0.005)
    assert spearmanr(pred, actual).statistic == pytest.approx(0.449, abs=0.005)
    assert roc_auc_score(actual > 0, pred) == pytest.approx(0.773, abs=0.005)
    # P(alive) is exactly 1 without a repeat purchase; P(buy again) is a real probability
    one_timers = published_fit["frequency"] == 0
    assert (published_fit.loc[one_timers, "probability_alive"] == 1.0).all()
    assert published_fit["probability_repurchase"].between(0, 1).all()


@pytest.mark.slow  # trains LightGBM on a year of monthly cutoffs
def test_train_models_scores_bgnbd_beside_the_model_on_the_same_rows(cdnow_sample):
    from repurchase_ml.features import build_training_set
    from repurchase_ml.models import train_models

    horizons = {"repurchase": 60, "order_count": 60}
    cutoffs = pd.date_range("1997-04-01", "1998-03-01", freq="MS")
    ts = build_training_set(cdnow_sample, cutoffs=cutoffs, tasks=list(horizons),
                            horizons=horizons)
    bundle = train_models(ts, tasks=list(horizons), horizons=horizons, events=cdnow_sample,
                          n_estimators=100)
    assert bundle.cutoffs["repurchase"]["test"] == pd.Timestamp("1998-03-01")
    rep = bundle.scorecards["repurchase"]
    assert {"model", "rfm", "bgnbd", "bgnbd_events"} <= set(rep)
    assert rep["model"].n_rows == rep["bgnbd"].n_rows == rep["rfm"].n_rows
    assert rep["bgnbd"]["roc_auc"] > 0.6 and rep["model"]["roc_auc"] > 0.6
    counts = bundle.scorecards["order_count"]
    assert {"model", "run_rate", "bgnbd", "bgnbd_events"} <= set(counts)
    population = ts[(ts["cutoff"] == "1998-03-01") & ts["label_order_count"].notna()]
    assert counts["bgnbd"]["total_actual"] == population["label_order_count"].sum()
