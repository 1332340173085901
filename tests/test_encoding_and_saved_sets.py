"""A GBK export reads with the encoding option; training sets keep their attrs through Parquet."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

import repurchase_ml as rm
from repurchase_ml.errors import SchemaError

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
TMALL = rm.ColumnMapping(
    columns={"customer_id": "买家会员名", "order_id": "订单编号", "timestamp": "订单付款时间",
             "amount": "买家实际支付金额"},
    event_type_constant="purchase", customer_id_type="str")


def test_a_gbk_export_is_refused_naming_the_encoding_option_then_reads_with_it():
    path = EXAMPLES / "tmall_orders.csv"
    with pytest.raises(SchemaError, match="not UTF-8 text.*encoding='gbk'.*--encoding gbk"):
        rm.read_events(path, TMALL)
    events, report = rm.read_events(path, TMALL, encoding="gbk", timezone="Asia/Shanghai")
    assert report.n_rows == len(events) > 50
    assert events["customer_id"].str.contains("[\u4e00-\u9fff]").all()  # Chinese names intact
    # the mapping may carry it, as the YAML does; an explicit argument wins
    with_encoding = TMALL.model_copy(update={"encoding": "gbk"})
    again, _ = rm.read_events(path, with_encoding, timezone="Asia/Shanghai")
    pd.testing.assert_frame_equal(events, again)
    from_yaml = rm.ColumnMapping.from_yaml(EXAMPLES / "tmall_mapping.yaml")
    assert from_yaml.encoding == "gbk"
    with pytest.raises(SchemaError, match="not UTF-8"):
        rm.read_events(path, with_encoding, encoding="utf-8")


def test_an_unknown_encoding_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="encoding: unknown text encoding 'gbk2'.*'gb18030'"):
        rm.read_events(EXAMPLES / "tmall_orders.csv", TMALL, encoding="gbk2")
    with pytest.raises(ValueError, match="unknown text encoding"):
        rm.ColumnMapping(encoding="nope")


def test_the_config_and_the_cli_take_the_encoding(tmp_path):
    from typer.testing import CliRunner

    from repurchase_ml import cli
    from repurchase_ml.config import load_settings
    from repurchase_ml.jobs import load_event_log

    shutil.copy(EXAMPLES / "tmall_orders.csv", tmp_path)
    settings = load_settings(overrides={"data": {
        "source": "path", "path": str(tmp_path / "tmall_orders.csv"),
        "mapping": {**TMALL.model_dump(exclude_defaults=True), "encoding": "gbk"}}}, environ={})
    events, _ = load_event_log(settings)
    assert len(events) > 50
    runner = CliRunner()
    refused = runner.invoke(cli.app, ["validate", str(tmp_path / "tmall_orders.csv"),
                                      "--mapping", str(EXAMPLES / "mapping.yaml")])
    assert refused.exit_code == cli.EXIT_SCHEMA and "--encoding gbk" in refused.output
    read = runner.invoke(cli.app, ["validate", str(tmp_path / "tmall_orders.csv"),
                                   "--mapping", str(EXAMPLES / "tmall_mapping.yaml"),
                                   "--timezone", "Asia/Shanghai"])
    assert read.exit_code == 0 and f"{len(events)} events" in read.output


@pytest.fixture(scope="module")
def training():
    events, _ = rm.make_event_log(80, "2023-01-01", "2024-01-01", random_state=2)
    cutoffs = rm.propose_cutoffs(events, horizon_days=60, n=4)
    return rm.build_training_set(events, cutoffs=cutoffs, tasks=["repurchase", "ltv"],
                                 horizons={"ltv": 60}, alive_days=200)


def test_a_saved_training_set_comes_back_with_its_horizons(training, tmp_path):
    assert training.attrs["horizons"] == {"repurchase": 30, "ltv": 60}
    path = rm.save_training_set(training, tmp_path / "training.parquet")
    back = rm.load_training_set(path)
    pd.testing.assert_frame_equal(back, training)
    assert back.attrs == training.attrs  # horizons, alive_days, order definition
    import polars as pl

    assert pl.read_parquet(path).height == len(training)  # any Parquet reader reads it


def test_train_models_says_when_horizons_were_lost_or_contradict_the_labels(training, tmp_path,
                                                                           caplog):
    plain = tmp_path / "plain.parquet"
    training.to_parquet(plain)
    with pytest.raises(SchemaError, match="not written by save_training_set.*horizons="):
        rm.load_training_set(plain)
    stripped = training.copy()
    stripped.attrs = {}
    # with the default 365-day horizon the 60-day labels cannot be split; the warning says why
    with caplog.at_level("WARNING", logger="repurchase_ml"), pytest.raises(ValueError):
        rm.train_models(stripped, tasks=["ltv"])
    assert "assuming the defaults {'ltv': 365}" in caplog.text
    with pytest.raises(ValueError, match=r"horizons\['ltv'\] = 90 days, but .* built with 60"):
        rm.train_models(training, tasks=["ltv"], horizons={"ltv": 90})
