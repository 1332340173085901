"""The served pyfunc and the registry on a real temporary SQLite store (no MLflow mocks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from repurchase_ml.config import load_settings
from repurchase_ml.errors import SchemaError
from repurchase_ml.models.plan import TrainingMinimums

mlflow = pytest.importorskip("mlflow")
from repurchase_ml import tracking  # noqa: E402  (after the skip: needs mlflow)

#: 250 customers sit far below the default training minimums; these let every task train
TINY = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=40, eval_positives=10,
                        eval_negatives=10, history_days=90)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """A small bundle trained on a synthetic log, logged, registered and made champion."""
    from repurchase_ml.datasets import make_event_log
    from repurchase_ml.events import validate_events
    from repurchase_ml.features import build_training_set, propose_cutoffs
    from repurchase_ml.models import train_models

    project = tmp_path_factory.mktemp("store")
    settings = load_settings(overrides={"project_dir": str(project),
                                        "tracking": {"model_name": "shop"}}, environ={})
    raw, _ = make_event_log(250, "2022-01-01", "2024-01-01", random_state=5)
    events, _ = validate_events(raw, on_invalid="drop")
    horizons = {"churn": 60, "repurchase": 30, "ltv": 90}
    cutoffs = propose_cutoffs(events, horizon_days=90, n=8)
    training = build_training_set(events, cutoffs=cutoffs, tasks=list(horizons),
                                  horizons=horizons)
    bundle = train_models(training, tasks=list(horizons), horizons=horizons, n_estimators=30,
                          minimums=TINY)
    served = tracking.make_served_model(bundle, training, top_reasons=2)
    rows = training.loc[training["cutoff"] == max(cutoffs),
                        ["customer_id", "cutoff", *served.features]].reset_index(drop=True)
    tracking.configure(settings)
    with mlflow.start_run() as run:
        info = tracking.log_served_model(served, example=rows)
    version = tracking.register(settings, info.model_uri, tags={"decision": "promoted"})
    tracking.promote(settings, version)
    return settings, served, rows, info, version, run.info.run_id


def test_alias_points_at_the_registered_version(registered):
    settings, _, _, _, version, run_id = registered
    assert tracking.champion_version(settings) == version == "1"
    champion = tracking.load_champion(settings)
    assert champion.model_uri == "models:/shop@champion"
    assert (champion.version, champion.run_id, champion.tags["decision"]) == ("1", run_id,
                                                                              "promoted")


def test_predictions_identical_after_reload_by_alias(registered):
    _, served, rows, _, _, _ = registered
    in_memory = tracking.RepurchaseModel()
    in_memory.served = served
    expected = in_memory.predict(None, rows)
    loaded = mlflow.pyfunc.load_model("models:/shop@champion")
    got = loaded.predict(rows)
    pd.testing.assert_frame_equal(got, expected)
    assert {"churn_probability", "repurchase_probability", "predicted_ltv", "value_at_risk",
            "reason_1", "reason_2"} <= set(got.columns)
    assert np.allclose(got["value_at_risk"], got["churn_probability"] * got["value_if_retained"])
    assert got["churn_probability"].between(0, 1).all()


def test_served_value_at_risk_is_the_radars(registered):
    """Value at risk = churn x the radar's value if retained, priced on the training priors."""
    from repurchase_ml.radar import value_if_retained

    _, served, rows, _, _, _ = registered
    assert served.churn_horizon_days == 60
    assert set(served.value_priors) == {"repeat_rate_per_day", "net_order_value"}
    assert served.value_priors["net_order_value"] > 0
    got = served.score(rows)
    want = value_if_retained(rows, horizon_days=60, priors=served.value_priors)
    np.testing.assert_allclose(got["value_if_retained"], want.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(got["value_at_risk"],
                               got["churn_probability"] * want.to_numpy(), rtol=1e-12)
    # not the double-counting product with predicted LTV
    assert not np.allclose(got["value_at_risk"], got["churn_probability"] * got["predicted_ltv"])
    # a request of three rows is priced as in the whole batch (priors do not come from it)
    few = served.score(rows.iloc[[5, 0, 9]].reset_index(drop=True))
    np.testing.assert_allclose(few["value_if_retained"],
                               got["value_if_retained"].iloc[[5, 0, 9]].to_numpy(), rtol=1e-12)


def test_radar_from_served_scores_prices_as_the_scores_do(registered):
    from repurchase_ml.radar import radar_from_scores

    _, served, rows, _, _, _ = registered
    scores = served.score(rows)
    radar = radar_from_scores(scores, features=rows, cluster_k=1, explain_top=0)
    assert len(radar) > 10
    both = radar.merge(scores, on="customer_id", suffixes=("", "_served"))
    np.testing.assert_allclose(both["value_if_retained"], both["value_if_retained_served"])
    np.testing.assert_allclose(both["value_at_risk"], both["value_at_risk_served"])


def test_served_model_needs_the_value_inputs_for_churn(registered):
    _, served, rows, _, _, _ = registered
    narrow = rows.drop(columns=["days_since_first_purchase"]).assign(label_churn=0.0)
    with pytest.raises(SchemaError, match="days_since_first_purchase.*radar_spec"):
        tracking.make_served_model(served.bundle, narrow)


def test_logged_model_has_explicit_requirements_signature_and_example(registered):
    from mlflow.models import Model

    _, served, _, _, _, _ = registered
    local = Path(mlflow.artifacts.download_artifacts("models:/shop@champion"))
    requirements = (local / "requirements.txt").read_text().split()
    assert requirements == tracking.pip_requirements()
    assert any(r.startswith("lightgbm==") for r in requirements)
    model = Model.load(local)
    assert model.signature.inputs is None  # inputs are checked by the model, strictly
    assert "churn_probability" in model.signature.outputs.input_names()
    example = model.load_input_example(local)
    assert list(example.columns) == ["customer_id", "cutoff", *served.features]
    schema = json.loads((local / "artifacts" / "feature_schema.json").read_text())
    assert list(schema["features"]) == served.features


def test_request_with_unknown_columns_is_refused_not_trimmed(registered):
    _, served, rows, _, _, _ = registered
    with pytest.raises(SchemaError, match=r"unknown columns: coupon_code"):
        tracking.check_request(rows.assign(coupon_code="X"), served)


def test_request_with_missing_column_names_it(registered):
    _, served, rows, _, _, _ = registered
    missing = served.features[3]
    with pytest.raises(SchemaError, match=rf"missing columns: {missing}"):
        tracking.check_request(rows.drop(columns=[missing]), served)


def test_bad_values_are_counted_never_echoed(registered):
    _, served, rows, _, _, _ = registered
    bad = rows.head(3).astype({served.features[0]: object})
    bad.loc[1, served.features[0]] = "secret-4111"
    with pytest.raises(SchemaError) as err:
        tracking.check_request(bad, served)
    assert f"column '{served.features[0]}': value is not a number" in str(err.value)
    assert "(1 row)" in str(err.value) and "secret" not in str(err.value)
    no_id = rows.head(2).astype({"customer_id": object})
    no_id.loc[0, "customer_id"] = None
    with pytest.raises(SchemaError, match="customer id is null"):
        tracking.check_request(no_id, served)
    with pytest.raises(SchemaError, match="no rows"):
        tracking.check_request(rows.head(0), served)


def test_categorical_features_keep_their_training_categories():
    served = tracking.ServedModel(bundle=None, feature_dtypes={"x": "float64", "tier": "category"},
                                  categories={"tier": ["low", "mid", "high"]})
    request = pd.DataFrame({"customer_id": [1, 2], "x": [1, None], "tier": ["high", None]})
    frame = tracking.check_request(request, served)
    assert list(frame["tier"].cat.categories) == ["low", "mid", "high"]
    assert frame["tier"].cat.codes.tolist() == [2, -1]
    assert frame["x"].dtype == "float64" and frame["cutoff"].isna().all()
    with pytest.raises(SchemaError, match="column 'tier': value is not one of the categories"):
        tracking.check_request(request.assign(tier=["top", "low"]), served)


def test_configure_ignores_a_stale_mlruns_folder(tmp_path):
    (tmp_path / "mlruns").mkdir()
    code = (
        "import mlflow\n"
        "from repurchase_ml.config import load_settings\n"
        "from repurchase_ml.tracking import configure\n"
        f"s = load_settings(overrides={{'project_dir': {str(tmp_path / 'p')!r}}}, environ={{}})\n"
        "configure(s)\n"
        "print(mlflow.get_tracking_uri())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == f"sqlite:///{tmp_path / 'p' / 'mlflow.db'}"
    assert (tmp_path / "p" / "mlflow.db").exists()
    assert list((tmp_path / "mlruns").iterdir()) == []


def test_a_moved_project_still_loads_its_champion(registered, tmp_path):
    import shutil

    from repurchase_ml.config import settings_to_dict

    settings, _, rows, _, _, _ = registered
    old = settings.project_path()
    new = tmp_path / "moved"
    shutil.copytree(old, new)
    hidden = old.with_name(old.name + "_hidden")
    old.rename(hidden)  # the old place is gone, as after a move or a restore elsewhere
    try:
        moved = load_settings(overrides={**settings_to_dict(settings), "project_dir": str(new),
                                         "tracking": {"model_name": "shop"}}, environ={})
        tracking.configure(moved)
        champion = tracking.load_champion(moved)
        scores = champion.pyfunc.predict(rows.head(3))
        assert len(scores) == 3 and scores["churn_probability"].between(0, 1).all()
        experiment = mlflow.get_experiment_by_name(moved.tracking.experiment)
        assert experiment.artifact_location == (new / "mlartifacts").as_uri()
        run = mlflow.get_run(champion.run_id)
        assert run.info.artifact_uri.startswith((new / "mlartifacts").as_uri() + "/")
    finally:
        hidden.rename(old)
        tracking.configure(settings)


def test_missing_champion_artifacts_are_a_store_error(registered, tmp_path):
    import shutil

    from repurchase_ml.errors import StoreError

    settings, _, _, _, _, _ = registered
    copy = tmp_path / "copy"
    shutil.copytree(settings.project_path(), copy)
    shutil.rmtree(copy / "mlartifacts")
    broken = load_settings(overrides={"project_dir": str(copy),
                                      "tracking": {"model_name": "shop"}}, environ={})
    old = settings.project_path()
    hidden = old.with_name(old.name + "_hidden")
    old.rename(hidden)
    try:
        with pytest.raises(StoreError, match=r"does not exist.*restore the mlartifacts folder"):
            tracking.configure(broken)  # moved, and the artifacts did not come along
        (copy / "mlartifacts").mkdir()
        tracking.configure(broken)  # an empty artifact folder: the champion's files are gone
        with pytest.raises(StoreError, match=r"cannot load the champion models:/shop@champion "
                                             r"\(version 1\).*Fix: restore"):
            tracking.load_champion(broken)
    finally:
        hidden.rename(old)
        tracking.configure(settings)


def test_served_reasons_follow_the_training_population_directions(registered):
    # a request of one row is explained as it is on the radar: against the directions of the
    # newest training cutoff, not of its own (undefined) extremes
    from repurchase_ml.explain import contributions, reasons

    _, served, rows, _, _, _ = registered
    assert served.directions and all(-1 <= v <= 1 for v in served.directions.values())
    one = rows.iloc[:1]
    X = one[served.features].reset_index(drop=True)
    expected = reasons(contributions(served.bundle.models["churn"], X), X, top=2,
                       typical=served.typical,
                       directions=pd.Series(served.directions, dtype=float))
    got = served.score(one)
    assert got[["reason_1", "reason_2"]].equals(expected[["reason_1", "reason_2"]])


def test_a_champion_pickled_before_a_field_existed_still_loads(registered):
    import pickle

    _, served, rows, _, _, _ = registered
    state = dict(served.__dict__)
    del state["directions"], state["churn_horizon_days"]
    old = tracking.ServedModel.__new__(tracking.ServedModel)
    old.__setstate__(state)
    assert old.directions == {} and old.churn_horizon_days == tracking.CHURN_HORIZON_DAYS
    again = pickle.loads(pickle.dumps(old))
    assert again.score(rows.iloc[:3])["churn_probability"].equals(
        served.score(rows.iloc[:3])["churn_probability"])


def test_registering_prints_nothing_of_mlflow(registered, capfd, caplog):
    # MLflow prints "Successfully registered model ..." / "Created version ..." outside any
    # logger; a job's output keeps one line of its own
    import logging

    settings, _, _, info, _, _ = registered
    other = settings.model_copy(update={"tracking": settings.tracking.model_copy(
        update={"model_name": "shop_quiet"})})
    with caplog.at_level(logging.INFO, logger="repurchase_ml"):
        assert tracking.register(other, info.model_uri) == "1"
    err = capfd.readouterr().err
    assert "Successfully registered" not in err and "Created version" not in err
    assert "registered shop_quiet version 1" in caplog.text
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM

    assert MLFLOW_LOGGING_STREAM.enabled  # MLflow's own stream is left as it was


def test_a_served_request_gets_reasons_and_the_score_job_can_skip_them(registered):
    _, served, rows, _, _, _ = registered
    request = rows.iloc[:7]
    full = served.score(request)
    lean = served.score(request, reasons=False)
    assert [c for c in full.columns if c.startswith("reason_")] == ["reason_1", "reason_2"]
    assert full["reason_1"].notna().any()
    assert not [c for c in lean.columns if c.startswith("reason_")]
    pd.testing.assert_frame_equal(full[lean.columns], lean)
    # rows under any index are scored in their order, on a fresh index
    moved = request.set_index(pd.Index(range(100, 107)))
    pd.testing.assert_frame_equal(served.score(moved), full)
