"""Settings: the documented example, precedence file < environment < flags, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from repurchase_ml.config import ConfigError, Settings, load_settings, settings_to_dict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "example-config.yaml"


def test_example_config_loads_and_equals_the_defaults():
    loaded = load_settings(EXAMPLE, environ={})
    defaults = Settings(project_dir=str(ROOT / "models"))
    assert loaded == defaults
    assert loaded.tracking_uri() == f"sqlite:///{ROOT / 'models' / 'mlflow.db'}"
    assert loaded.artifact_location() == (ROOT / "models" / "mlartifacts").as_uri()


def test_precedence_file_then_environment_then_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("cutoffs: {n: 5, freq: MS}\ntracking: {experiment: from_file}\n")
    env = {"REPURCHASE_ML_CUTOFFS__N": "7", "REPURCHASE_ML_TRACKING__MODEL_NAME": "env_model"}
    s = load_settings(cfg, environ=env, overrides={"cutoffs": {"n": 9}})
    assert s.cutoffs.n == 9  # flag beats environment beats file
    assert s.tracking.model_name == "env_model"  # environment beats default
    assert s.tracking.experiment == "from_file"  # file beats default
    assert load_settings(cfg, environ=env).cutoffs.n == 7
    assert load_settings(cfg, environ={}).cutoffs.n == 5


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    cfg = tmp_path / "sub" / "c.yaml"
    cfg.parent.mkdir()
    cfg.write_text("project_dir: proj\ndata: {source: cdnow, path: data/x.txt}\n")
    s = load_settings(cfg, environ={})
    assert s.project_path() == (tmp_path / "sub" / "proj").resolve()
    assert s.data.path == str(tmp_path / "sub" / "data" / "x.txt")
    assert settings_to_dict(s)["output"]["dir"] == str(tmp_path / "sub" / "proj" / "outputs")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("trackng: {uri: x}\n", r"unknown key 'trackng'.*did you mean 'tracking'"),
        ("tracking: {experimnt: x}\n", r"unknown key 'tracking.experimnt'.*'tracking.experiment'"),
        ("data: {synthetic: {n_customer: 5}}\n", r"'data.synthetic.n_customer'.*n_customers"),
        ("tasks: [churn, ltvv]\n", r"unknown task 'ltvv'.*did you mean 'ltv'"),
        ("horizons: {churn: 0}\n", r"horizons.churn must be >= 1"),
        ("promotion: {primary_metric: {churn: auc}}\n", r"unknown metric 'auc'.*roc_auc"),
        ("data: {source: path}\n", r"data.path is required when data.source is 'path'"),
        ("cutoffs: {n: 1}\n", r"cutoffs.n: Input should be greater than or equal to 3"),
        ("features: {window: [30]}\n", r"features: .*unknown key 'window'.*'windows'"),
        ("features: {windows: [0]}\n", r"features: .*FeatureSpec.windows: expected a tuple"),
        ("- a\n- b\n", r"must hold a mapping"),
        ("data: [\n", r"not valid YAML"),
    ],
)
def test_bad_config_files_name_the_key_and_the_fix(tmp_path, text, match):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings(cfg, environ={})


def test_unknown_environment_variable_is_an_error():
    with pytest.raises(ConfigError, match=r"'tracking.urii' in environment.*'tracking.uri'"):
        load_settings(environ={"REPURCHASE_ML_TRACKING__URII": "sqlite:///x.db"})


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml", environ={})


def test_explicit_tracking_uri_wins_over_the_embedded_default(tmp_path):
    s = load_settings(overrides={"project_dir": str(tmp_path),
                                 "tracking": {"uri": "http://127.0.0.1:5000"}}, environ={})
    assert s.tracking_uri() == "http://127.0.0.1:5000"
    assert s.artifact_location() is None  # a tracking server keeps its own artifact store
    assert s.max_horizon() == 365


def test_unknown_timezone_is_refused_up_front_even_with_naive_data():
    with pytest.raises(ConfigError, match=r"data.timezone: unknown time zone 'Europe/Berln' "
                                          r"\(did you mean 'Europe/Berlin'\?\)"):
        load_settings(overrides={"data": {"timezone": "Europe/Berln"}}, environ={})
    assert load_settings(overrides={"data": {"timezone": "Asia/Shanghai"}},
                         environ={}).data.timezone == "Asia/Shanghai"


def test_mapping_is_checked_when_the_settings_load():
    data = {"source": "path", "path": "orders.csv", "mapping": {"columns": {"custmer_id": "id"}}}
    with pytest.raises(ConfigError, match=r"data.mapping: columns: mapping key 'custmer_id'.*"
                                          r"Did you mean 'customer_id'"):
        load_settings(overrides={"data": data}, environ={})
    with pytest.raises(ConfigError, match=r"data.mapping: amont_from: Extra inputs"):
        load_settings(overrides={"data": {**data, "mapping": {"amont_from": ["q", "p"]}}},
                      environ={})


def test_text_settings_keep_digits_and_dates_as_text():
    env = {"REPURCHASE_ML_TRACKING__EXPERIMENT": "007",
           "REPURCHASE_ML_TRACKING__MODEL_NAME": "2024",
           "REPURCHASE_ML_DATA__SYNTHETIC__START": "2021-06-01",
           "REPURCHASE_ML_CUTOFFS__N": "12"}
    s = load_settings(environ=env)
    assert (s.tracking.experiment, s.tracking.model_name) == ("007", "2024")
    assert s.data.synthetic.start == "2021-06-01"
    assert s.cutoffs.n == 12  # numbers stay numbers


def test_the_public_data_folder_variable_is_not_a_setting(tmp_path):
    from repurchase_ml.datasets.loaders import DATA_ENV_VAR

    s = load_settings(environ={DATA_ENV_VAR: str(tmp_path), "REPURCHASE_ML_CONFIG": "x.yaml",
                               "REPURCHASE_ML_DATA__SOURCE": "cdnow"})
    assert s.data.source == "cdnow"


def test_training_candidates_are_checked_by_name():
    s = load_settings(overrides={"training": {"candidates": ["bgnbd", "rfm"]}}, environ={})
    assert s.training.candidates == ("bgnbd", "rfm")
    assert load_settings(environ={}).training.candidates is None
    with pytest.raises(ConfigError, match=r"training.candidates: unknown scorer 'hybird'.*"
                                          r"did you mean 'hybrid'"):
        load_settings(overrides={"training": {"candidates": ["hybird"]}}, environ={})
    with pytest.raises(ConfigError, match="training.candidates: name at least one scorer"):
        load_settings(overrides={"training": {"candidates": []}}, environ={})


def test_radar_lifecycle_stages_are_checked_and_passed_on():
    s = load_settings(overrides={"radar": {"lifecycle_stages": ["at_risk", "active"]}},
                      environ={})
    assert s.radar.options()["lifecycle_stages"] == ["at_risk", "active"]
    assert load_settings(environ={}).radar.options()["lifecycle_stages"] is None
    with pytest.raises(ConfigError, match=r"radar.lifecycle_stages: unknown stage 'at-risk'.*"
                                          r"did you mean 'at_risk'"):
        load_settings(overrides={"radar": {"lifecycle_stages": ["at-risk"]}}, environ={})
