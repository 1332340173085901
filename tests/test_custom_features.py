"""Your own features, end to end, as a notebook would use them; and polars frames everywhere.

One walk-through trains on a per-customer cutoff table with a registered feature (a function of
the events before each cutoff) and a frame feature (values keyed by customer and cutoff), then
finds both in the bundle's schema, the served model's reasons and the radar's reasons.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import polars as pl
import pytest

import repurchase_ml as rm
from repurchase_ml.errors import SchemaError
from repurchase_ml.features import spec as spec_module
from repurchase_ml.models.plan import TrainingMinimums
from repurchase_ml.radar import radar_spec

AS_OF = pd.Timestamp("2024-01-01")
HORIZONS = {"churn": 90, "ltv": 90}
FEW = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=30, eval_positives=5,
                       eval_negatives=5, history_days=30)
COUPON_WORDS = "share of purchases with a coupon in the last 90 days"
REQUEST_WORDS = "cancellation requests filed with customer service"


def coupon_share(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
    """Share of the customer's purchase rows in the 90 days before the cutoff bought on a coupon."""
    recent = events[(events["event_type"] == "purchase")
                    & (events["timestamp"] >= cutoff - pd.Timedelta(days=90))]
    return recent["discount"].astype(float).groupby(recent["customer_id"]).mean()


def _requests(events: pd.DataFrame, table: pd.DataFrame, seed: int) -> pd.DataFrame:
    """A CRM export: cancellation requests per (customer, cutoff), most often from customers who
    then stop buying (the test's stand-in for an informative signal the log does not hold)."""
    rng = np.random.default_rng(seed)
    buys = events[events["event_type"] == "purchase"]
    later = table.merge(buys[["customer_id", "timestamp"]], on="customer_id", how="left")
    later = later[(later["timestamp"] >= later["cutoff"])
                  & (later["timestamp"] < later["cutoff"] + pd.Timedelta(days=90))]
    bought = table.merge(later[["customer_id", "cutoff"]].drop_duplicates(),
                         on=["customer_id", "cutoff"], how="left", indicator=True)["_merge"]
    leaving = (bought == "left_only").to_numpy()
    filed = np.where(leaving, rng.uniform(size=len(table)) < 0.8,
                     rng.uniform(size=len(table)) < 0.05)
    return table.assign(cancellation_requests=filed * rng.integers(1, 4, len(table)).astype(float))


@pytest.fixture(scope="module")
def walkthrough():
    events, truth = rm.make_event_log(400, "2022-01-01", "2024-01-01", random_state=3,
                                      behaviour=False)
    # 1. your own features: one computed from the log, one from a CRM export
    coupon = rm.register_feature("my_coupon_share", coupon_share, description=COUPON_WORDS,
                                 unit="share", window_days=90)
    request = rm.CustomFeature("cancellation_requests", REQUEST_WORDS, unit="count")
    spec = rm.FeatureSpec(custom=(coupon, request))
    # 2. each customer described at their own month starts, not on one calendar
    rng = np.random.default_rng(0)
    months = pd.date_range("2022-07-01", "2023-10-01", freq="MS")
    table = pd.DataFrame([(c, m) for c in truth["customer_id"] for m in months
                          if rng.uniform() < 0.7], columns=["customer_id", "cutoff"])
    training = rm.build_training_set(events, cutoffs=table, tasks=list(HORIZONS),
                                     horizons=HORIZONS, spec=radar_spec(spec),
                                     extra_features=_requests(events, table, seed=1))
    bundle = rm.train_models(training, tasks=list(HORIZONS), horizons=HORIZONS,
                             n_estimators=40, minimums=FEW)
    # 3. at the as-of date: the CRM export as of that day (a few open requests)
    alive = rm.build_features(events, cutoffs=[AS_OF], spec=radar_spec(rm.FeatureSpec()))
    alive = alive.loc[alive["days_since_last_purchase"] < 120, "customer_id"].to_numpy()
    flagged = rng.choice(alive, size=12, replace=False)
    at_as_of = pd.DataFrame({"customer_id": truth["customer_id"], "cutoff": AS_OF})
    at_as_of["cancellation_requests"] = np.where(at_as_of["customer_id"].isin(flagged), 3.0, 0.0)
    return {"events": events, "spec": spec, "table": table, "training": training,
            "bundle": bundle, "at_as_of": at_as_of, "flagged": flagged}


def test_custom_features_reach_training_schema_served_model_and_radar(walkthrough):
    from repurchase_ml import tracking

    w = walkthrough
    training, bundle, spec = w["training"], w["bundle"], w["spec"]
    # the training set: one row per table pair with history, your columns after the built-ins
    assert {"my_coupon_share", "cancellation_requests"} <= set(training.columns)
    pairs = training[["customer_id", "cutoff"]].merge(w["table"], on=["customer_id", "cutoff"])
    assert len(pairs) == len(training)
    assert training.attrs["customers_without_history"] == len(w["table"]) - len(training)
    # the bundle's schema, and a churn model that uses the CRM signal
    assert {"my_coupon_share", "cancellation_requests"} <= set(bundle.feature_names)
    churn = bundle.models["churn"]
    importance = dict(zip(churn.feature_names_in_, churn.feature_importances_, strict=True))
    assert importance["cancellation_requests"] > 0.05

    # the served model: features rebuilt at the as-of date (the registered function re-run on
    # the events before it, the frame giving its values there), scored with reasons
    features = rm.build_features(w["events"], cutoffs=[AS_OF], spec=radar_spec(spec),
                                 extra_features=w["at_as_of"])
    served = tracking.make_served_model(bundle, training, spec=radar_spec(spec))
    assert {"my_coupon_share", "cancellation_requests"} <= set(served.schema()["features"])
    scored = served.score(features[["customer_id", "cutoff", *served.features]])
    reasons = scored[["reason_1", "reason_2", "reason_3"]].astype(str).agg(" | ".join, axis=1)
    flagged = scored["customer_id"].isin(w["flagged"]).to_numpy()
    assert reasons[flagged].str.contains(f"3 {REQUEST_WORDS}").mean() >= 0.5
    assert not reasons[~flagged].str.contains(REQUEST_WORDS).any()
    # the registered feature was re-run on the events before the as-of date
    expected = coupon_share(w["events"][w["events"]["timestamp"] < AS_OF], AS_OF)
    served_values = features.set_index("customer_id")["my_coupon_share"]
    pd.testing.assert_series_equal(served_values.dropna().sort_index(),
                                   expected.rename("my_coupon_share").sort_index(),
                                   check_names=False, check_index_type=False)

    # the radar says the same, in the user's words
    radar = rm.churn_radar(bundle, w["events"], as_of=AS_OF, spec=spec,
                           extra_features=w["at_as_of"])
    radar_reasons = radar[["reason_1", "reason_2", "reason_3"]].astype(str).agg(" | ".join, axis=1)
    on_list = radar["customer_id"].isin(w["flagged"]).to_numpy()
    assert on_list.sum() >= 6
    assert radar_reasons[on_list].str.contains(f"3 {REQUEST_WORDS} \\(typical 0\\)").mean() >= 0.5


def _forget(monkeypatch, registry):
    """Empty a registry of this process for one test (restored after it)."""
    for name in list(registry):
        monkeypatch.delitem(registry, name)


def test_descriptions_travel_with_the_pickled_spec(walkthrough, monkeypatch):
    spec = walkthrough["spec"]
    blob = pickle.dumps(spec)
    _forget(monkeypatch, spec_module._DECLARED)  # a fresh process: nothing declared yet
    assert rm.describe_feature("cancellation_requests", 2.0) == "cancellation requests: 2"
    assert pickle.loads(blob) == spec
    assert rm.describe_feature("cancellation_requests", 2.0, typical=0.0) == \
        f"2 {REQUEST_WORDS} (typical 0)"
    assert rm.feature_info("my_coupon_share").description == COUPON_WORDS


def test_the_radar_names_a_missing_custom_feature_and_how_to_supply_it(walkthrough):
    w = walkthrough
    with pytest.raises(SchemaError, match=r"cancellation_requests.*pass extra_features="):
        rm.churn_radar(w["bundle"], w["events"], as_of=AS_OF, spec=w["spec"])
    with pytest.raises(SchemaError, match=r"my_coupon_share.*spec= with the custom features"):
        rm.churn_radar(w["bundle"], w["events"], as_of=AS_OF, extra_features=w["at_as_of"])


def test_an_unregistered_function_is_named_at_scoring(walkthrough, monkeypatch):
    _forget(monkeypatch, spec_module._FUNCTIONS)
    with pytest.raises(ValueError, match="'my_coupon_share': no function is registered"):
        rm.build_features(walkthrough["events"], cutoffs=[AS_OF], spec=walkthrough["spec"],
                          extra_features=walkthrough["at_as_of"])


def test_a_registered_function_sees_only_events_before_the_cutoff(walkthrough):
    seen: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def last_seen(events: pd.DataFrame, cutoff: pd.Timestamp) -> pd.Series:
        seen.append((events["timestamp"].max(), cutoff))
        return events.groupby("customer_id")["timestamp"].max().rsub(cutoff).dt.days

    feature = rm.register_feature("my_days_quiet", last_seen, description="days without events",
                                  unit="days")
    cuts = ["2023-03-01", "2023-06-01"]
    out = rm.build_features(walkthrough["events"], cutoffs=cuts,
                            spec=rm.FeatureSpec(families=("rfm",), custom=(feature,)))
    assert [c for _, c in seen] == [pd.Timestamp(c) for c in cuts]
    assert all(last < cutoff for last, cutoff in seen)
    # every event counts as activity here, so the value is at least the days since an order
    assert (out["my_days_quiet"] <= out["days_since_last_purchase"] + 1e-9).all()


@pytest.mark.parametrize("change, error, match", [
    (lambda f: pd.concat([f, f.head(1)]), SchemaError, "several rows for one"),
    (lambda f: f.assign(cancellation_requests="many"), SchemaError, "numbers or booleans"),
    (lambda f: f.assign(cutoff=pd.Timestamp("2020-01-01")), SchemaError, "none of its"),
    (lambda f: f.rename(columns={"cancellation_requests": "orders_all"}), SchemaError,
     "built-in features"),
    (lambda f: f.drop(columns="cutoff"), SchemaError, "key column is missing"),
])
def test_extra_features_are_checked(walkthrough, change, error, match):
    with pytest.raises(error, match=match):
        rm.build_features(walkthrough["events"], cutoffs=[AS_OF],
                          spec=rm.FeatureSpec(families=("rfm",)),
                          extra_features=change(walkthrough["at_as_of"]))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": "orders_30d", "description": "x"}, ValueError, "built-in feature"),
    ({"name": "label_churn", "description": "x"}, ValueError, "identifier or label"),
    ({"name": "my_x", "description": ""}, ValueError, "description"),
    ({"name": "my_x", "description": "x", "unit": "euros"}, ValueError, "unit"),
])
def test_custom_feature_declarations_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        rm.CustomFeature(**kwargs)


def test_a_spec_names_only_registered_features():
    with pytest.raises(ValueError, match="no feature named 'nowhere' is registered"):
        rm.FeatureSpec(custom=("nowhere",))


# --------------------------------------------------------------------------- polars everywhere
def test_polars_frames_give_the_pandas_results(walkthrough):
    w = walkthrough
    events, bundle, spec, at_as_of = w["events"], w["bundle"], w["spec"], w["at_as_of"]
    on_polars = rm.train_models(pl.from_pandas(w["training"]), tasks=list(HORIZONS),
                                horizons=HORIZONS, n_estimators=40, minimums=FEW)
    features = rm.build_features(events, cutoffs=[AS_OF], spec=radar_spec(spec),
                                 extra_features=at_as_of)
    scores = bundle.predict(features)
    pd.testing.assert_frame_equal(on_polars.predict(features), scores)
    pd.testing.assert_frame_equal(bundle.predict(pl.from_pandas(features)), scores)
    pd.testing.assert_frame_equal(
        rm.build_features(pl.from_pandas(events), cutoffs=[AS_OF], spec=radar_spec(spec),
                          extra_features=pl.from_pandas(at_as_of)), features)

    radar = rm.churn_radar(bundle, events, as_of=AS_OF, spec=spec, extra_features=at_as_of)
    pd.testing.assert_frame_equal(rm.churn_radar(bundle, pl.from_pandas(events), as_of=AS_OF,
                                                 spec=spec,
                                                 extra_features=pl.from_pandas(at_as_of)), radar)
    from_scores = rm.radar_from_scores(pl.from_pandas(scores), features=pl.from_pandas(features),
                                       as_of=AS_OF, churn_model=bundle.models["churn"])
    pd.testing.assert_frame_equal(from_scores, rm.radar_from_scores(
        scores, features=features, as_of=AS_OF, churn_model=bundle.models["churn"]))


def test_read_events_takes_a_polars_frame():
    raw = pd.DataFrame({"customer_id": ["a", "a", "b"], "timestamp": ["2024-01-01 10:00",
                        "2024-01-03 12:00", "2024-01-02 09:00"], "amount": [10.0, 12.5, 3.0]})
    mapping = {"event_type_constant": "purchase"}
    from_pandas, report = rm.read_events(raw, mapping)
    from_polars, report_pl = rm.read_events(pl.from_pandas(raw), mapping)
    pd.testing.assert_frame_equal(from_polars, from_pandas)
    assert report_pl.n_rows == report.n_rows == 3
