"""Fast classic models: BG/NBD and Gamma-Gamma by maximum likelihood, pinned to the paper and
to PyMC-Marketing, and the ClassicModel on feature rows."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

from repurchase_ml.errors import SchemaError
from repurchase_ml.models.baselines import purchase_summary
from repurchase_ml.models.btyd import (
    CLASSIC_COLUMNS,
    ClassicModel,
    bgnbd_expected_orders,
    bgnbd_log_likelihood,
    bgnbd_probability_alive,
    bgnbd_probability_no_order,
    classic_predictions,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    gamma_gamma_expected_spend,
    pareto_nbd_expected_orders,
    pareto_nbd_log_likelihood,
    pareto_nbd_probability_alive,
    pareto_nbd_probability_no_order,
    summary_from_features,
)

PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO_PUBLISHED = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}


@pytest.fixture(scope="module")
def cdnow_events():
    from repurchase_ml.datasets import load_cdnow_sample

    try:
        return load_cdnow_sample()[0]
    except FileNotFoundError as exc:
        pytest.skip(f"CDNOW sample (shared data cdnow/CDNOW_sample.txt) not available: {exc}")


@pytest.fixture(scope="module")
def cdnow_summary(cdnow_events):
    # weeks 1-39 calibration, counted once per customer per day (the paper's definition)
    return purchase_summary(cdnow_events, cutoff="1997-10-01", order_definition="customer_day")


def _summary_columns(summary):
    return summary["frequency"], summary["recency"], summary["T"]


def test_bgnbd_fit_reproduces_the_published_cdnow_parameters(cdnow_summary):
    assert len(cdnow_summary) == 2357 and cdnow_summary["frequency"].sum() == 2457
    fit = fit_bgnbd(*_summary_columns(cdnow_summary))
    assert fit.converged
    for name, value in PUBLISHED.items():
        assert round(fit.params[name], 3) == value, name
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert fit.n_customers == 2357 and fit.n_rows < 2357  # equal rows merged


def test_pareto_nbd_fit_reproduces_the_published_cdnow_parameters(cdnow_summary):
    # Fader, Hardie & Lee (2005): r = 0.55, alpha = 10.58, s = 0.61, beta = 11.67, LL -9595.0
    fit = fit_pareto_nbd(*_summary_columns(cdnow_summary))
    assert fit.converged
    assert {k: round(v, 2) for k, v in fit.params.items()} == \
        {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
    assert fit.log_likelihood == pytest.approx(-9595.0, abs=0.05)
    # BG/NBD fits this sample slightly better (-9582.4), as the paper reports
    assert fit.log_likelihood < fit_bgnbd(*_summary_columns(cdnow_summary)).log_likelihood


def test_pareto_nbd_predictions_match_the_posterior_by_simulation():
    x, t_x, T, t = 2.0, 30.0, 38.0, 39.0
    p = PARETO_PUBLISHED
    alive = pareto_nbd_probability_alive(p, [x], [t_x], [T])[0]
    rng = np.random.default_rng(0)
    rate = rng.gamma(p["r"] + x, 1 / (p["alpha"] + T), 400_000)  # posterior, given alive
    dropout = rng.gamma(p["s"], 1 / (p["beta"] + T), 400_000)
    both = rate + dropout
    quiet = np.mean(dropout / both * -np.expm1(-both * t) + np.exp(-both * t))
    assert pareto_nbd_probability_no_order(p, [x], [t_x], [T], t)[0] == pytest.approx(
        1 - alive + alive * quiet, abs=2e-3)
    orders = alive * np.mean(rate * -np.expm1(-dropout * t) / dropout)
    assert pareto_nbd_expected_orders(p, [x], [t_x], [T], t)[0] == pytest.approx(orders, rel=1e-2)
    assert 0 < alive < 1


def test_gamma_gamma_reaches_the_maximum_likelihood_on_cdnow(cdnow_summary):
    fit = fit_gamma_gamma(cdnow_summary["frequency"], cdnow_summary["monetary_value"])
    assert fit.n_customers == 946  # repeat customers with a positive mean value
    assert {k: round(v, 2) for k, v in fit.params.items()} == {"p": 6.25, "q": 3.74, "v": 15.44}
    spend = gamma_gamma_expected_spend(fit.params, cdnow_summary["frequency"],
                                       cdnow_summary["monetary_value"])
    one_timers = cdnow_summary["frequency"].to_numpy() == 0
    p, q, v = fit.params["p"], fit.params["q"], fit.params["v"]
    np.testing.assert_allclose(spend[one_timers], p * v / (q - 1))


def test_a_tiny_case_by_hand():
    r, alpha, a, b = 0.5, 2.0, 0.8, 2.0
    p = {"r": r, "alpha": alpha, "a": a, "b": b}
    # one-time buyer watched for T = 3: still alive, never bought again
    assert bgnbd_log_likelihood(p, [0], [0], [3])[0] == pytest.approx(r * np.log(alpha / 5))
    assert bgnbd_probability_alive(p, [0], [0], [3])[0] == 1.0
    assert bgnbd_probability_no_order(p, [0], [0], [3], 4)[0] == pytest.approx((5 / 9) ** r)
    # one repeat order at t_x = 1, T = 3 (equation 6 of the paper, written out)
    alive = np.exp(betaln(a, b + 1) - betaln(a, b)) * r * alpha**r / (alpha + 3) ** (r + 1)
    gone = np.exp(betaln(a + 1, b) - betaln(a, b)) * r * alpha**r / (alpha + 1) ** (r + 1)
    assert bgnbd_log_likelihood(p, [1], [1], [3])[0] == pytest.approx(np.log(alive + gone))
    assert bgnbd_probability_alive(p, [1], [1], [3])[0] == pytest.approx(alive / (alive + gone))
    # a customer alive with a rate ~ Gamma(r + x, alpha + T) expects (r + x) / (alpha + T) per unit
    t = 1e-6
    expected = bgnbd_expected_orders(p, [1], [1], [3], t)[0] / t
    assert expected == pytest.approx(alive / (alive + gone) * 1.5 / 5, rel=1e-4)


def test_closed_form_expected_orders_equal_the_integral_over_dropout():
    from repurchase_ml.models.btyd import _orders_if_alive_by_quadrature

    x = np.array([0.0, 1, 2, 5, 10])
    T = np.array([38.0, 30, 20, 38, 38])
    t_x = np.minimum(T, 10)
    closed = (bgnbd_expected_orders(PUBLISHED, x, t_x, T, 39)
              / bgnbd_probability_alive(PUBLISHED, x, t_x, T))
    integral = _orders_if_alive_by_quadrature(PUBLISHED["r"], PUBLISHED["a"], PUBLISHED["b"], x,
                                              PUBLISHED["alpha"] + T, np.full(5, 39.0))
    np.testing.assert_allclose(closed, integral, rtol=1e-6)


def test_weights_merge_rows_and_the_time_unit_does_not_matter(cdnow_summary):
    x, t_x, T = (c.to_numpy() for c in _summary_columns(cdnow_summary))
    rows = pd.DataFrame({"x": x, "t_x": t_x, "T": T})
    counts = rows.value_counts().reset_index()
    weighted = fit_bgnbd(counts["x"], counts["t_x"], counts["T"], sample_weight=counts["count"])
    full = fit_bgnbd(x, t_x, T)
    for name in full.params:
        assert weighted.params[name] == pytest.approx(full.params[name], rel=1e-5)
    days = fit_bgnbd(x, t_x * 7, T * 7)
    assert days.params["alpha"] == pytest.approx(7 * full.params["alpha"], rel=1e-4)
    np.testing.assert_allclose(bgnbd_expected_orders(days.params, x, t_x * 7, T * 7, 273),
                               bgnbd_expected_orders(full.params, x, t_x, T, 39), rtol=1e-4)


def test_bad_summaries_are_refused_with_the_column_named():
    with pytest.raises(SchemaError, match="recency"):
        fit_bgnbd([1, 2], [5.0, 1.0], [4.0, 3.0])
    with pytest.raises(SchemaError, match="frequency"):
        fit_bgnbd([1.5, 2], [1.0, 1.0], [4.0, 3.0])
    with pytest.raises(SchemaError, match="'T'"):
        fit_bgnbd([1, 2], [1.0, 1.0], [np.nan, 3.0])
    with pytest.raises(ValueError, match="repeat order to estimate dropout"):
        fit_bgnbd([0, 0, 0], [0, 0, 0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least 2 customers"):
        fit_gamma_gamma([0, 1], [0.0, 10.0])


@pytest.fixture(scope="module")
def pymc_reference():
    """A PyMC-Marketing BetaGeoModel holding the published parameters as a one-draw posterior."""
    pytest.importorskip("pymc_marketing", reason="the 'baselines' extra is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az
        import xarray as xr
        from pymc_marketing import clv

    rng = np.random.default_rng(0)
    n = 300
    T = rng.uniform(0.5, 40, n)
    x = rng.poisson(2, n).astype(float)
    data = pd.DataFrame({"customer_id": np.arange(n), "frequency": x,
                         "recency": np.where(x > 0, T * rng.uniform(0, 1, n), 0.0), "T": T})
    model = clv.BetaGeoModel()
    model.build_model(data)
    model.idata = az.InferenceData(posterior=xr.Dataset(
        {k: xr.DataArray([[v]], dims=("chain", "draw")) for k, v in PUBLISHED.items()}))
    return model, data


@pytest.mark.slow  # importing PyMC-Marketing takes seconds
def test_predictions_agree_with_pymc_marketing(pymc_reference):
    model, data = pymc_reference
    x, t_x, T = data["frequency"], data["recency"], data["T"]
    t = 39.0
    np.testing.assert_allclose(bgnbd_expected_orders(PUBLISHED, x, t_x, T, t),
                               model.expected_purchases(data, future_t=t).values.ravel(),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(bgnbd_probability_alive(PUBLISHED, x, t_x, T),
                               model.expected_probability_alive(data).values.ravel(),
                               rtol=0, atol=1e-6)
    ours = bgnbd_probability_no_order(PUBLISHED, x, t_x, T, t)
    theirs = model.expected_probability_no_purchase(t, data=data).values.ravel()
    repeat = x.to_numpy() > 0
    np.testing.assert_allclose(ours[repeat], theirs[repeat], rtol=0, atol=1e-6)
    # PyMC-Marketing 0.19 lets one-time buyers drop out; in BG/NBD they are alive for sure
    r, alpha = PUBLISHED["r"], PUBLISHED["alpha"]
    np.testing.assert_allclose(ours[~repeat],
                               ((alpha + T[~repeat]) / (alpha + T[~repeat] + t)) ** r)
    assert not np.allclose(ours[~repeat], theirs[~repeat], atol=1e-3)


@pytest.mark.slow  # importing PyMC-Marketing takes seconds
def test_pareto_nbd_likelihood_agrees_with_pymc_marketing(pymc_reference):
    import pymc as pm
    from pymc_marketing.clv.distributions import ParetoNBD

    _, data = pymc_reference
    p = PARETO_PUBLISHED
    dist = ParetoNBD.dist(r=p["r"], alpha=p["alpha"], s=p["s"], beta=p["beta"],
                          T=data["T"].to_numpy())
    theirs = pm.logp(dist, data[["recency", "frequency"]].to_numpy()).eval()
    ours = pareto_nbd_log_likelihood(p, data["frequency"], data["recency"], data["T"])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


# --------------------------------------------------------------------------- feature rows


def _events(rows):
    from repurchase_ml.events import read_events

    columns = ["customer_id", "timestamp", "event_type", "amount", "order_id"]
    return read_events(pd.DataFrame(rows, columns=columns))[0]


def test_order_definitions_count_as_the_features_do():
    from repurchase_ml import build_features

    ev = _events([
        (1, "2024-01-01 09:00", "purchase", 10.0, "A"),
        (1, "2024-01-01 09:00", "purchase", 5.0, "A"),    # second line of invoice A
        (1, "2024-01-01 12:00", "purchase", 7.0, "B"),    # another invoice the same day
        (1, "2024-01-01 18:00", "purchase", 3.0, None),   # a row without an id: an order
        (1, "2024-01-20 10:00", "purchase", 40.0, "C"),
        (1, "2024-01-25 10:00", "refund", 6.0, None),
        (1, "2024-02-05 10:00", "purchase", 99.0, "D"),   # after the cutoff
        (2, "2024-01-30 08:00", "purchase", 12.0, "E"),
        (2, "2024-01-30 08:00", "purchase", 1.0, "E"),
        (3, "2024-01-10 08:00", "view", np.nan, None),    # no purchase: no summary row
    ])
    cutoff = "2024-02-01"
    feats = build_features(ev, cutoffs=[cutoff]).set_index("customer_id")
    by_order = purchase_summary(ev, cutoff=cutoff, period_days=1).set_index("customer_id")
    by_day = purchase_summary(ev, cutoff=cutoff, period_days=1,
                              order_definition="customer_day").set_index("customer_id")
    assert feats.loc[[1, 2], "orders_all"].tolist() == [4.0, 1.0]
    assert (by_order["frequency"] + 1).tolist() == [4.0, 1.0]
    assert (by_day["frequency"] + 1).tolist() == [2.0, 1.0]
    from_features = summary_from_features(feats.loc[[1, 2]], period_days=1)
    np.testing.assert_allclose(from_features[["frequency", "recency", "T"]],
                               by_order[["frequency", "recency", "T"]])
    # repeat orders B, the lone row and C: 50 of purchases less the 6 refunded, over 3 orders
    assert by_order.loc[1, "monetary_value"] == pytest.approx(44.0 / 3)
    assert by_day.loc[1, "monetary_value"] == pytest.approx(34.0)
    assert np.isnan(summary_from_features(feats, period_days=1).loc[3, "frequency"])


@pytest.fixture(scope="module")
def synthetic_features():
    from repurchase_ml import build_features, make_event_log

    # refunds included: some cancel their orders, the rest are netted out of the money
    events, _ = make_event_log(800, "2022-01-01", "2023-07-01", random_state=3)
    assert (events["event_type"] == "refund").any()
    feats = build_features(events, cutoffs=["2023-01-01", "2023-04-01"])
    return events, feats


def test_classic_model_on_feature_rows_agrees_with_the_event_summary(synthetic_features):
    events, feats = synthetic_features
    rows = feats[feats["cutoff"] == "2023-04-01"]
    model = ClassicModel().fit(rows)
    summary = purchase_summary(events, cutoff="2023-04-01")
    direct = fit_bgnbd(summary["frequency"], summary["recency"], summary["T"])
    for name, value in direct.params.items():
        assert model.params_[name] == pytest.approx(value, rel=1e-5), name
    assert model.log_likelihood_ == pytest.approx(direct.log_likelihood, rel=1e-9)
    from_rows = summary_from_features(rows).set_index(rows["customer_id"]).dropna()
    np.testing.assert_allclose(from_rows.to_numpy(), summary.set_index("customer_id")
                               .loc[from_rows.index, list(from_rows.columns)].to_numpy(),
                               rtol=1e-12, atol=1e-9)
    gg = fit_gamma_gamma(summary["frequency"], summary["monetary_value"])
    for name, value in gg.params.items():
        assert model.gamma_gamma_params_[name] == pytest.approx(value, rel=1e-4), name

    pred = model.predict(rows, horizon_days=90)
    assert list(pred.columns) == list(CLASSIC_COLUMNS) and pred.index.equals(rows.index)
    bought = rows["orders_all"] > 0
    assert pred.loc[~bought].isna().all().all() and pred.loc[bought].notna().all().all()
    aligned = summary.set_index("customer_id").loc[rows.loc[bought, "customer_id"]]
    np.testing.assert_allclose(
        pred.loc[bought, "expected_orders"],
        bgnbd_expected_orders(model.params_, aligned["frequency"], aligned["recency"],
                              aligned["T"], 90 / 7), rtol=1e-9)
    p = pred.loc[bought]
    np.testing.assert_allclose(p["expected_orders_if_alive"] * p["probability_alive"],
                               p["expected_orders"])
    np.testing.assert_allclose(p["expected_revenue"], p["expected_orders"] * p["expected_spend"])
    assert p["probability_repurchase"].between(0, 1).all()


def test_classic_model_pickles_and_does_not_depend_on_the_time_unit(synthetic_features):
    _, feats = synthetic_features
    rows = feats[feats["cutoff"] == "2023-04-01"]
    weeks = ClassicModel().fit(rows)
    days = ClassicModel(period_days=1.0).fit(rows)
    a = weeks.predict(rows, horizon_days=60)
    pd.testing.assert_frame_equal(days.predict(rows, horizon_days=60), a, rtol=1e-4)
    restored = pickle.loads(pickle.dumps(weeks))
    pd.testing.assert_frame_equal(restored.predict(rows, horizon_days=60), a)
    with pytest.raises(ValueError, match="one cutoff, got 2 cutoffs"):
        ClassicModel().fit(feats)
    with pytest.raises(SchemaError, match="orders_all"):
        ClassicModel().fit(rows.drop(columns="orders_all"))


def test_net_revenue_is_the_money_when_the_features_have_it():
    f = pd.DataFrame({"orders_all": [3.0], "revenue_all": [90.0], "net_revenue_all": [60.0],
                      "first_order_value": [30.0], "days_since_first_purchase": [70.0],
                      "days_since_last_purchase": [14.0]})
    assert summary_from_features(f)["monetary_value"].tolist() == [15.0]
    assert summary_from_features(f.drop(columns="net_revenue_all"))["monetary_value"].tolist() \
        == [30.0]


def test_classic_model_on_cdnow_feature_rows_forecasts_the_holdout(cdnow_events):
    from sklearn.metrics import roc_auc_score

    from repurchase_ml import build_features

    # the loader's orders are customer-days, so orders_all counts what the paper counts; T runs
    # to the cutoff itself (one day longer than the paper's end of week 39)
    feats = build_features(cdnow_events, cutoffs=["1997-10-01"])
    model = ClassicModel().fit(feats)
    for name, value in PUBLISHED.items():
        assert model.params_[name] == pytest.approx(value, rel=0.03), name
    pred = model.predict(feats, horizon_days=273)
    holdout = cdnow_events[cdnow_events["timestamp"].between("1997-10-01", "1998-06-30")]
    actual = (holdout.groupby("customer_id")["order_id"].nunique()
              .reindex(feats["customer_id"], fill_value=0).to_numpy())
    assert actual.sum() == 1882
    assert pred["expected_orders"].sum() == pytest.approx(1654, rel=0.02)  # the paper's forecast
    assert roc_auc_score(actual > 0, pred["expected_orders"]) == pytest.approx(0.773, abs=0.005)
    best = ClassicModel(model="best").fit(feats)
    assert set(best.log_likelihoods_) == {"bgnbd", "pareto_nbd"}
    assert best.model_ == max(best.log_likelihoods_, key=best.log_likelihoods_.get)
    assert best.log_likelihood_ == pytest.approx(model.log_likelihood_) if best.model_ == "bgnbd" \
        else best.log_likelihood_ > model.log_likelihood_
    pareto = ClassicModel(model="pareto_nbd").fit(feats).predict(feats, horizon_days=273)
    assert pareto["expected_orders"].sum() == pytest.approx(actual.sum(), rel=0.2)
    assert pareto["probability_repurchase"].between(0, 1).all()
    assert roc_auc_score(actual > 0, pareto["expected_orders"]) > 0.75
    with pytest.raises(ValueError, match="model must be"):
        ClassicModel(model="pnbd").fit(feats)


def test_classic_predictions_fit_each_cutoff_on_its_own_history(synthetic_features):
    events, feats = synthetic_features
    pred, models = classic_predictions(feats, horizon_days=30)
    assert sorted(models) == [pd.Timestamp("2023-01-01"), pd.Timestamp("2023-04-01")]
    assert pred.index.equals(feats.index)
    early = feats["cutoff"] == "2023-01-01"
    alone = ClassicModel().fit(feats[early]).predict(feats[early], horizon_days=30)
    pd.testing.assert_frame_equal(pred[early], alone)
    assert models[pd.Timestamp("2023-01-01")].params_ != models[pd.Timestamp("2023-04-01")].params_
    # events after the last cutoff change nothing
    from repurchase_ml import build_features

    later = events[events["timestamp"] < "2023-04-01"]
    again, _ = classic_predictions(build_features(later, cutoffs=["2023-01-01", "2023-04-01"]),
                                   horizon_days=30)
    np.testing.assert_allclose(again.to_numpy(), pred.to_numpy())


def test_classic_predictions_can_leave_an_unfittable_cutoff_blank(synthetic_features):
    _, feats = synthetic_features
    later = feats[feats["cutoff"] == "2023-04-01"]
    first_orders = later[later["orders_all"] > 0].assign(
        cutoff=pd.Timestamp("2022-02-01"), orders_all=1.0,
                                days_since_last_purchase=later["days_since_first_purchase"])
    stacked = pd.concat([first_orders, later], ignore_index=True)
    with pytest.raises(ValueError, match="cutoff 2022-02-01: .*repeat order"):
        classic_predictions(stacked, horizon_days=30)
    pred, models = classic_predictions(stacked, horizon_days=30, skip_unfittable=True)
    assert list(models) == [pd.Timestamp("2023-04-01")]
    assert pred.iloc[:len(first_orders)].isna().all().all()
    bought = later["orders_all"].to_numpy() > 0
    assert pred.iloc[len(first_orders):][bought].notna().all().all()


def test_a_degenerate_fit_still_predicts_finite_orders():
    # two customers: the likelihood runs off to a Poisson rate with no heterogeneity, where
    # the closed form's hyp2f1 fails; the quadrature fallback answers instead
    f = pd.DataFrame({"orders_all": [2.0, 1.0], "revenue_all": [30.0, 5.0],
                      "days_since_first_purchase": [34.0, 40.0],
                      "days_since_last_purchase": [4.0, 40.0]})
    model = ClassicModel(gamma_gamma=False).fit(f)
    assert model.params_["r"] > 1e3
    pred = model.predict(f, horizon_days=30)
    assert np.isfinite(pred[list(CLASSIC_COLUMNS[:4])].to_numpy()).all()
    # the rate is r / alpha per week for everyone and a repeat order ends almost every
    # customer: the one-time buyer's expected orders are P(at least one) of that Poisson
    rate = model.params_["r"] / model.params_["alpha"] * 30 / 7
    assert pred.loc[1, "expected_orders"] == pytest.approx(-np.expm1(-rate), rel=1e-3)
