"""Loaders for public formats: real files in shared/data, hand-written Online Retail lines."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from repurchase_ml.datasets import (
    find_data_file,
    load_cdnow,
    load_cdnow_sample,
    load_online_retail,
    load_taobao,
)
from repurchase_ml.datasets.loaders import CDNOW_MASTER, CDNOW_SAMPLE, DATA_ENV_VAR, TAOBAO_SAMPLE
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import CANONICAL_COLUMNS, EVENT_TYPES, STRING_DTYPE, check_canonical


def _require(relative: str) -> Path:
    try:
        return find_data_file(relative)
    except FileNotFoundError as err:
        pytest.skip(f"public dataset not available on this machine: {err}")


def _check_frame(events: pd.DataFrame) -> None:
    check_canonical(events)
    assert list(events.columns) == [c for c in CANONICAL_COLUMNS if c in events.columns]
    assert isinstance(events.index, pd.RangeIndex)


# --------------------------------------------------------------------------- CDNOW


def test_cdnow_master_counts_and_window():
    _require(CDNOW_MASTER)
    events, report = load_cdnow()
    _check_frame(events)
    assert len(events) == 69_659 and report.n_rows == 69_659 and report.n_dropped == 0
    assert events["customer_id"].nunique() == 23_570 and report.n_customers == 23_570
    assert events["customer_id"].dtype == "int64"
    assert events["customer_id"].min() == 1 and events["customer_id"].max() == 23_570
    assert events["timestamp"].min() == pd.Timestamp("1997-01-01")
    assert events["timestamp"].max() == pd.Timestamp("1998-06-30")
    assert (events["event_type"] == "purchase").all()
    # orders are customer-days: 2,068 lines share a customer and a day with an earlier one
    assert events["order_id"].nunique() == 69_659 - 2_068
    assert events["item_id"].is_unique
    assert int((events["amount"] == 0).sum()) == 80
    assert events["quantity"].sum() == 167_881
    assert events["amount"].sum() == pytest.approx(2_500_315.63)


def test_cdnow_sample_reproduces_the_published_repeat_counts():
    _require(CDNOW_SAMPLE)
    events, report = load_cdnow_sample()
    _check_frame(events)
    assert len(events) == 6_919 and report.n_customers == 2_357
    assert sorted(events["customer_id"].unique()) == list(range(1, 2_358))
    assert report.ignored_columns == ["master_id"]
    # Fader, Hardie & Lee (2005): weeks 1-39 calibration, 40-78 holdout, one
    # transaction per customer-day. 2,457 repeat days in calibration, 1,882 in holdout.
    calibration = events[events["timestamp"] < "1997-10-01"]
    repeat = calibration.groupby("customer_id")["order_id"].nunique().sub(1).sum()
    assert repeat == 2_457
    holdout = events[events["timestamp"] >= "1997-10-01"]
    assert holdout["order_id"].nunique() == 1_882


def test_cdnow_loaders_refuse_each_others_file():
    master, sample = _require(CDNOW_MASTER), _require(CDNOW_SAMPLE)
    with pytest.raises(SchemaError, match="load_cdnow_sample"):
        load_cdnow(sample)
    with pytest.raises(SchemaError, match="load_cdnow"):
        load_cdnow_sample(master)


def test_cdnow_explicit_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file at"):
        load_cdnow(tmp_path / "missing.txt")


# --------------------------------------------------------------------------- Taobao


def test_taobao_counts_types_and_china_time():
    _require(TAOBAO_SAMPLE)
    events, report = load_taobao()
    _check_frame(events)
    assert len(events) == 84_287 and report.n_customers == 814
    counts = events["event_type"].value_counts()
    assert counts["view"] == 75_693
    assert counts["cart"] == 4_494
    assert counts["favorite"] == 2_351
    assert counts["purchase"] == 1_749
    assert counts["refund"] == 0
    assert report.event_counts == {t: int(counts[t]) for t in EVENT_TYPES}
    # Unix 1511544070 (user 1's first row) is 2017-11-25 01:21:10 in Beijing
    first = events[events["customer_id"] == 1].iloc[0]
    assert first["timestamp"] == pd.Timestamp("2017-11-25 01:21:10")
    assert first["item_id"] == "2268318" and first["category"] == "2520377"
    # the official window is 2017-11-25 to 2017-12-03 China time; 35 rows are earlier noise
    assert int((events["timestamp"] < "2017-11-25").sum()) == 35
    assert events["timestamp"].max() < pd.Timestamp("2017-12-04")


def test_taobao_purchase_amount_is_a_documented_placeholder():
    _require(TAOBAO_SAMPLE)
    events, _ = load_taobao(purchase_amount=2.5)
    purchases = events["event_type"] == "purchase"
    assert (events.loc[purchases, "amount"] == 2.5).all()
    assert events.loc[~purchases, "amount"].isna().all()


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "1", True])
def test_taobao_purchase_amount_must_be_a_number(bad):
    with pytest.raises(ValueError, match="purchase_amount must be a finite number"):
        load_taobao(purchase_amount=bad)


def test_taobao_unknown_behaviour_raises_or_is_dropped(tmp_path):
    path = tmp_path / "ub.csv"
    path.write_text(
        "user_id,item_id,category_id,behavior_type,timestamp\n"
        "1,10,100,pv,1511544070\n1,10,100,clk,1511544080\n2,11,100,buy,1511544090\n"
    )
    with pytest.raises(SchemaError, match="'event_type'.*unknown event type.*'clk'"):
        load_taobao(path)
    events, report = load_taobao(path, on_invalid="drop")
    assert events["event_type"].tolist() == ["view", "purchase"]
    assert report.n_input_rows == 3 and report.n_dropped == 1


def test_taobao_missing_column_is_named(tmp_path):
    path = tmp_path / "ub.csv"
    path.write_text("user_id,item_id,category_id,timestamp\n1,2,3,1511544070\n")
    with pytest.raises(SchemaError, match="'behavior_type'.*user_id,item_id"):
        load_taobao(path)


# --------------------------------------------------------------------------- Online Retail


def _lines(**changes: list) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "InvoiceNo": ["536365", "536365", "536366", "C536379", "536380"],
            "StockCode": ["85123A", "71053", "22633", "85123A", "22633"],
            "Description": ["HEART HOLDER", "LANTERN", "HAND WARMER", "HEART HOLDER", "WARMER"],
            "Quantity": [6, 2, 3, -2, 1],
            "InvoiceDate": [
                "12/1/2010 8:26", "12/1/2010 8:26", "12/1/2010 8:28", "12/3/2010 9:41",
                "12/5/2010 10:00",
            ],
            "UnitPrice": [2.55, 3.39, 1.85, 2.55, 1.85],
            "CustomerID": [17850.0, 17850.0, 13047.0, 17850.0, 13047.0],
            "Country": ["United Kingdom", "United Kingdom", "France", "United Kingdom", "France"],
        }
    )  # fmt: skip
    for column, values in changes.items():
        frame[column] = values
    return frame


def test_online_retail_purchases_and_refunds():
    events, report = load_online_retail(_lines())
    _check_frame(events)
    expected = pd.DataFrame(
        {
            "customer_id": [13047, 13047, 17850, 17850, 17850],
            "timestamp": pd.to_datetime(
                [
                    "2010-12-01 08:28",
                    "2010-12-05 10:00",
                    "2010-12-01 08:26",
                    "2010-12-01 08:26",
                    "2010-12-03 09:41",
                ]
            ),  # fmt: skip
            "event_type": pd.Categorical(
                ["purchase", "purchase", "purchase", "purchase", "refund"],
                categories=list(EVENT_TYPES),
            ),
            "amount": [5.55, 1.85, 15.3, 6.78, 5.1],
            "order_id": ["536366", "536380", "536365", "536365", "C536379"],
            "item_id": ["22633", "22633", "85123A", "71053", "85123A"],
            "quantity": [3.0, 1.0, 6.0, 2.0, 2.0],
            "unit_price": [1.85, 1.85, 2.55, 3.39, 2.55],
            "channel": ["France", "France", "United Kingdom", "United Kingdom", "United Kingdom"],
        }
    ).astype({c: STRING_DTYPE for c in ("order_id", "item_id", "channel")})
    pd.testing.assert_frame_equal(events, expected)
    assert report.n_input_rows == 5 and report.n_dropped == 0
    assert report.event_counts["refund"] == 1
    assert report.ignored_columns == ["Description"]


def test_online_retail_missing_customer_is_an_error_naming_the_fix():
    lines = _lines(CustomerID=[17850.0, None, 13047.0, 17850.0, None])
    with pytest.raises(SchemaError, match=r"'CustomerID'.*\(2 rows.*drop_missing_customers=True"):
        load_online_retail(lines)


def test_online_retail_drops_missing_customers_on_request_and_counts_them():
    lines = _lines(CustomerID=[17850.0, None, 13047.0, 17850.0, None])
    events, report = load_online_retail(lines, drop_missing_customers=True)
    assert len(events) == 3
    assert report.n_input_rows == 5 and report.n_rows == 3
    assert report.dropped == {"no customer id (CustomerID)": 2}
    assert report.n_dropped == 2
    assert sorted(events["order_id"]) == ["536365", "536366", "C536379"]


def test_online_retail_other_invalid_rows_follow_on_invalid():
    # a negative quantity on an ordinary invoice is a stock adjustment, not a refund
    lines = _lines(Quantity=[6, 2, -3, -2, 1])
    with pytest.raises(SchemaError, match="'amount'.*negative"):
        load_online_retail(lines)
    events, report = load_online_retail(lines, on_invalid="drop")
    assert len(events) == 4
    assert report.dropped == {"purchase or refund amount is negative": 1}


def test_online_retail_reads_files_and_release_ii_names(tmp_path):
    lines = _lines().rename(
        columns={"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
    )
    path = tmp_path / "online_retail_II.csv"
    lines.to_csv(path, index=False)
    from_file, _ = load_online_retail(path)
    from_frame, _ = load_online_retail(_lines())
    pd.testing.assert_frame_equal(from_file, from_frame)


def test_online_retail_keeps_text_ids_and_names_missing_columns():
    events, _ = load_online_retail(_lines(CustomerID=["A1", "A1", "B2", "A1", "B2"]))
    assert events["customer_id"].tolist() == ["A1", "A1", "A1", "B2", "B2"]
    with pytest.raises(SchemaError, match="'UnitPrice'.*InvoiceNo, StockCode"):
        load_online_retail(_lines().drop(columns="UnitPrice"))
    with pytest.raises(TypeError, match="source: expected a pandas DataFrame"):
        load_online_retail(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- find_data_file


def test_find_data_file_walks_up_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    target = tmp_path / "shared" / "data" / "toy" / "events.csv"
    target.parent.mkdir(parents=True)
    target.write_text("x")
    deep = tmp_path / "project" / "notebooks"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert find_data_file("toy/events.csv") == target


def test_find_data_file_environment_variable_wins(tmp_path, monkeypatch):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "events.csv").write_text("x")
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path))
    assert find_data_file("toy/events.csv") == tmp_path / "toy" / "events.csv"
    with pytest.raises(FileNotFoundError, match=f"{DATA_ENV_VAR}=.*Point {DATA_ENV_VAR} at"):
        find_data_file("toy/absent.csv")


def test_find_data_file_missing_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as info:
        find_data_file("nowhere/none.csv")
    message = str(info.value)
    assert str(tmp_path / "shared" / "data") in message
    assert f"Set the environment variable {DATA_ENV_VAR}" in message
    with pytest.raises(ValueError, match="absolute path"):
        find_data_file(os.path.abspath("x.csv"))
