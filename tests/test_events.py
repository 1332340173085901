"""The event-log contract: mapping, canonical frame, and one clear error per broken rule."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from repurchase_ml.errors import SchemaError
from repurchase_ml.events import (
    EVENT_TYPES,
    ColumnMapping,
    check_canonical,
    read_events,
)


def good_raw() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cust": ["b", "a", "a", "a"],
            "ts": ["2024-03-01 12:00", "2024-01-05 08:00", "2024-01-20 21:15", "2024-01-05 07:00"],
            "type": ["buy", "pv", "buy", "cart"],
            "value": ["20.5", None, "7", None],
            "sku": ["x1", "x2", "x2", "x2"],
        }
    )


MAPPING = ColumnMapping(
    columns={"customer_id": "cust", "timestamp": "ts", "event_type": "type", "amount": "value",
             "item_id": "sku"},
    event_type_map={"buy": "purchase", "pv": "view"},
)


def test_hand_computed_canonical_frame():
    events, report = read_events(good_raw(), MAPPING)
    expected = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "b"],
            "timestamp": pd.to_datetime(
                ["2024-01-05 07:00", "2024-01-05 08:00", "2024-01-20 21:15", "2024-03-01 12:00"]
            ),
            "event_type": pd.Categorical(["cart", "view", "purchase", "purchase"],
                                         categories=list(EVENT_TYPES)),
            "amount": [np.nan, np.nan, 7.0, 20.5],
            "item_id": pd.array(["x2", "x2", "x2", "x1"], dtype="string[pyarrow]"),
        }
    )
    pd.testing.assert_frame_equal(events, expected)
    assert report.n_rows == 4 and report.n_input_rows == 4 and report.n_customers == 2
    assert report.event_counts == {"purchase": 2, "refund": 0, "view": 1, "cart": 1, "favorite": 0}
    assert report.dropped == {}
    check_canonical(events)


def test_order_export_with_computed_amount_and_constant_type():
    raw = pd.DataFrame({"Customer ID": [12346.0, 12347.0], "InvoiceDate": ["2011-01-01", "2011-01-02"],
                        "Quantity": [3, 2], "Price": [1.5, 10.0], "Country": ["UK", "FR"]})
    mapping = ColumnMapping(columns={"customer_id": "Customer ID", "timestamp": "InvoiceDate"},
                            amount_from=("Quantity", "Price"), event_type_constant="purchase")
    events, report = read_events(raw, mapping)
    assert events["customer_id"].tolist() == [12346, 12347]
    assert events["customer_id"].dtype == "int64"
    assert events["amount"].tolist() == [4.5, 20.0]
    assert events["quantity"].tolist() == [3.0, 2.0]
    assert report.ignored_columns == ["Country"]


def test_aware_timestamps_convert_to_named_zone_and_naive_are_kept():
    raw = pd.DataFrame({"customer_id": ["a", "b"], "event_type": ["view", "view"],
                        "timestamp": ["2017-11-25T00:30:00+00:00", "2017-11-25T12:00:00+00:00"]})
    events, _ = read_events(raw, timezone="Asia/Shanghai")
    assert events["timestamp"].tolist() == [pd.Timestamp("2017-11-25 08:30"),
                                            pd.Timestamp("2017-11-25 20:00")]
    naive = raw.assign(timestamp=["2017-11-25 00:30", "2017-11-25 12:00"])
    events, _ = read_events(naive, timezone="Asia/Shanghai")
    assert events["timestamp"].tolist() == [pd.Timestamp("2017-11-25 00:30"),
                                            pd.Timestamp("2017-11-25 12:00")]


def test_unix_seconds():
    raw = pd.DataFrame({"u": [1, 1], "t": [1511539200, 1511542800], "b": ["pv", "fav"]})
    mapping = ColumnMapping(columns={"customer_id": "u", "timestamp": "t", "event_type": "b"},
                            timestamp_unit="s", event_type_map={"pv": "view", "fav": "favorite"})
    events, _ = read_events(raw, mapping, timezone="Asia/Shanghai")
    assert events["timestamp"].tolist() == [pd.Timestamp("2017-11-25 00:00"),
                                            pd.Timestamp("2017-11-25 01:00")]
    assert events["event_type"].tolist() == ["view", "favorite"]


def test_csv_and_parquet_paths_give_the_same_frame(tmp_path):
    raw = good_raw()
    raw.to_csv(tmp_path / "log.csv", index=False)
    raw.to_parquet(tmp_path / "log.parquet", index=False)
    from_csv, _ = read_events(tmp_path / "log.csv", MAPPING)
    from_parquet, _ = read_events(tmp_path / "log.parquet", MAPPING)
    pd.testing.assert_frame_equal(from_csv, from_parquet)


def _canonical(**overrides) -> pd.DataFrame:
    base = {
        "customer_id": ["a", "b", "c"],
        "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03"],
        "event_type": ["purchase", "purchase", "view"],
        "amount": [10.0, 5.0, None],
    }
    base.update(overrides)
    return pd.DataFrame(base)


# (case id, raw frame, mapping, kwargs, column named in the message, words of the rule)
BAD_INPUTS = [
    ("missing customer column", _canonical().drop(columns="customer_id"), None, {},
     "customer_id", "required column is missing"),
    ("missing timestamp column", _canonical().drop(columns="timestamp"), None, {},
     "timestamp", "required column is missing"),
    ("missing amount with purchases", _canonical().drop(columns="amount"), None, {},
     "amount", "purchases and refunds need an amount"),
    ("mapping to absent column", _canonical(), {"columns": {"customer_id": "Customer ID"}}, {},
     "Customer ID", "does not exist"),
    ("unparseable timestamp", _canonical(timestamp=["2024-01-01", "not a date", "2024-01-03"]),
     None, {}, "timestamp", "cannot be parsed"),
    ("null customer id", _canonical(customer_id=["a", None, "c"]), None, {},
     "customer_id", "customer id is null"),
    ("negative purchase amount", _canonical(amount=[-3.0, 5.0, None]), None, {},
     "amount", "negative"),
    ("non-numeric amount", _canonical(amount=["ten", 5.0, None]), None, {},
     "amount", "not a number"),
    ("missing purchase amount", _canonical(amount=[None, 5.0, None]), None, {},
     "amount", "amount is missing"),
    ("unknown event type", _canonical(event_type=["purchase", "buy", "view"]), None, {},
     "event_type", "unknown event type"),
    ("exact duplicates", _canonical(customer_id=["a", "a", "c"], timestamp=["2024-01-01"] * 2 + ["2024-01-03"],
                                    amount=[10.0, 10.0, None]), None, {},
     "customer_id", "exact duplicate rows"),
    ("after as_of", _canonical(), None, {"as_of": "2024-01-02"},
     "timestamp", "after as_of"),
    ("empty log", _canonical().iloc[0:0], None, {}, None, "empty"),
    ("mixed id types", _canonical(customer_id=["a", 2, "c"]), None, {},
     "customer_id", "mixed types"),
    ("fractional numeric ids", _canonical(customer_id=[1.0, 2.5, 3.0]), None, {},
     "customer_id", "fractional"),
    ("bad discount flag", _canonical().assign(discount=["yes", "maybe", "no"]), None, {},
     "discount", "not true/false"),
]


@pytest.mark.parametrize(("raw", "mapping", "kwargs", "column", "rule"),
                         [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_refused_with_column_and_fix(raw, mapping, kwargs, column, rule):
    with pytest.raises(SchemaError, match=re.escape(rule)) as info:
        read_events(raw, mapping, **kwargs)
    err = info.value
    assert err.column == column
    message = str(err)
    if column is not None:
        assert f"column {column!r}" in message
    assert "Fix:" in message and len(err.fix) > 10


def test_row_error_message_counts_rows_and_shows_examples():
    raw = _canonical(amount=[-3.0, -4.0, None], event_type=["purchase", "refund", "view"])
    with pytest.raises(SchemaError) as info:
        read_events(raw)
    assert info.value.n_rows == 2
    assert info.value.examples == [-3.0, -4.0]
    assert "(2 rows, e.g. -3.0, -4.0)" in str(info.value)
    assert "on_invalid='drop'" in str(info.value)


def test_drop_mode_counts_every_dropped_row_per_rule():
    raw = pd.DataFrame(
        {
            "customer_id": ["a", None, "c", "d", "e", "e"],
            "timestamp": ["2024-01-01", "2024-01-02", "garbage", "2024-01-04", "2024-01-05", "2024-01-05"],
            "event_type": ["purchase", "purchase", "purchase", "teleport", "view", "view"],
            "amount": [1.0, 2.0, 3.0, 4.0, None, None],
        }
    )
    events, report = read_events(raw, on_invalid="drop")
    assert events["customer_id"].tolist() == ["a", "e"]
    assert report.dropped == {
        "customer id is null": 1,
        "timestamp is missing or cannot be parsed": 1,
        "unknown event type (allowed: purchase, refund, view, cart, favorite)": 1,
        "exact duplicate rows (every column equal)": 1,
    }
    assert report.n_input_rows == 6 and report.n_rows == 2 and report.n_dropped == 4
    assert "dropped for customer id is null: 1" in report.summary()


def test_table_level_errors_raise_even_in_drop_mode():
    with pytest.raises(SchemaError, match="mixed types"):
        read_events(_canonical(customer_id=["a", 2, "c"]), on_invalid="drop")


def test_mixed_ids_read_as_text_on_request():
    events, _ = read_events(_canonical(customer_id=["a", 2, "c"]), {"customer_id_type": "str"})
    assert sorted(events["customer_id"]) == ["2", "a", "c"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"columns": {"custmer_id": "x"}}, "Did you mean 'customer_id'"),
        ({"event_type_constant": "purchases"}, "Did you mean 'purchase'"),
        ({"event_type_map": {"pv": "views"}}, "Did you mean 'view'"),
        ({"colums": {}}, "colums"),
    ],
)
def test_mapping_errors_name_the_key(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ColumnMapping.model_validate(fields)


def test_mapping_from_yaml(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("columns:\n  customer_id: cust\n  timestamp: ts\nevent_type_constant: purchase\n"
                    "amount_from: [qty, price]\n")
    mapping = ColumnMapping.from_yaml(path)
    assert mapping.source_for("customer_id") == "cust"
    assert mapping.amount_from == ("qty", "price")


def test_source_type_errors():
    with pytest.raises(TypeError, match="source: expected a pandas DataFrame"):
        read_events(42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no file at"):
        read_events("/nonexistent/log.csv")


def test_check_canonical_refuses_raw_frames():
    with pytest.raises(SchemaError, match="unexpected dtype"):
        check_canonical(_canonical())


# --------------------------------------------------------------------------- issue 18


def _purchases(customer_id, timestamp, amount=None) -> pd.DataFrame:
    n = len(timestamp)
    return pd.DataFrame({"customer_id": customer_id, "timestamp": timestamp,
                         "event_type": ["purchase"] * n,
                         "amount": [5.0] * n if amount is None else amount})


def test_any_iso_8601_form_is_parsed_and_nothing_is_dropped():
    stamps = ["2024-01-01", "2024-01-01T10:00", "2024-01-01 10:00:05",
              pd.Timestamp("2024-01-01 10:00:05.123456").isoformat()]
    for on_invalid in ("raise", "drop"):
        events, report = read_events(_purchases(list("abcd"), stamps), on_invalid=on_invalid)
        assert events["timestamp"].tolist() == [pd.Timestamp(s) for s in stamps]
        assert report.n_dropped == 0


def test_non_iso_text_still_parses_by_inference():
    events, _ = read_events(_purchases(["a", "b"], ["12/1/2010 8:26", "12/13/2010 10:00"]))
    assert events["timestamp"].tolist() == [pd.Timestamp("2010-12-01 08:26"),
                                            pd.Timestamp("2010-12-13 10:00")]


def test_mixed_aware_and_naive_stamps_are_named_as_such():
    raw = _purchases(["a", "b"], ["2024-01-01T10:00:00+01:00", "2024-01-01 10:00:00"])
    with pytest.raises(SchemaError, match="mixes time-zone-aware stamps") as info:
        read_events(raw, on_invalid="drop")
    assert info.value.column == "timestamp" and info.value.examples == ["2024-01-01 10:00:00"]


def test_dst_fall_back_keeps_two_purchases_an_hour_apart():
    raw = _purchases(["a", "a"], ["2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z"])
    for on_invalid in ("raise", "drop"):
        events, report = read_events(raw, timezone="Europe/Berlin", on_invalid=on_invalid)
        assert events["timestamp"].tolist() == [pd.Timestamp("2024-10-27 02:30")] * 2
        assert report.n_dropped == 0
        assert "repeated (daylight-saving fall-back) hour" in report.summary()
    # the same instant twice is still a duplicate
    with pytest.raises(SchemaError, match="exact duplicate"):
        read_events(_purchases(["a", "a"], ["2024-10-27T00:30:00Z", "2024-10-27T02:30:00+02:00"]),
                    timezone="Europe/Berlin")


@pytest.mark.parametrize("ids", [pd.Series([2**64 - 1, 1], dtype="uint64"),
                                 pd.Series([2**70, 1], dtype=object)],
                         ids=["uint64", "python int 2**70"])
def test_ids_beyond_int64_are_kept_exactly_as_text(ids):
    events, report = read_events(_purchases(ids, ["2024-01-01", "2024-01-02"]))
    assert sorted(events["customer_id"]) == sorted(str(int(v)) for v in ids)
    assert events["customer_id"].dtype == object
    assert "beyond the int64 range" in report.warnings[0]
    check_canonical(events)


def test_csv_ids_that_look_like_missing_values_are_ids(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("customer_id,timestamp,event_type,amount\n"
                    "NA,2024-01-01,purchase,1\nnull,2024-01-01,purchase,1\nNone,2024-01-01,view,NA\n"
                    "nan,2024-01-01,purchase,2\nN/A,2024-01-02,view,\n,2024-01-03,purchase,3\n")
    events, report = read_events(path, on_invalid="drop")
    assert sorted(events["customer_id"]) == ["N/A", "NA", "None", "nan", "null"]
    assert report.dropped == {"customer id is null": 1}
    assert events.loc[events["customer_id"] == "None", "amount"].isna().all()


def test_implausible_dates_are_a_rule_with_a_configurable_range():
    raw = _purchases(list("abc"), ["1900-01-01", "2024-01-02", "2200-01-01"])
    events, report = read_events(raw, on_invalid="drop")
    assert events["customer_id"].tolist() == ["b"]
    assert report.dropped == {"implausible date (before 1970-01-01 or after now + 1 day)": 2}
    events, _ = read_events(raw, plausible_range=None)
    assert len(events) == 3
    events, report = read_events(raw, plausible_range=("1850-01-01", "2024-12-31"),
                                 on_invalid="drop")
    assert events["customer_id"].tolist() == ["a", "b"]
    assert report.dropped == {"implausible date (before 1850-01-01 or after 2024-12-31 00:00:00)": 1}


def test_amount_limits_match_the_feature_engine():
    from repurchase_ml.events import FIXED_SCALE, MAX_AMOUNT
    from repurchase_ml.features import _inputs

    assert FIXED_SCALE == _inputs.FIXED_SCALE
    assert MAX_AMOUNT * FIXED_SCALE <= 2**63 - 1 < (MAX_AMOUNT + 1) * FIXED_SCALE
    events, _ = read_events(_purchases(["a", "b"], ["2024-01-01", "2024-01-02"],
                                       [MAX_AMOUNT, 1.0]))
    assert events["amount"].max() == MAX_AMOUNT
    with pytest.raises(SchemaError, match="not a number"):
        read_events(_purchases(["a"], ["2024-01-01"], ["1,5"]))


def test_ids_differing_by_whitespace_or_unicode_form_are_reported_and_can_be_merged():
    raw = _purchases(["a1", " a1", "ａ1", "b"], ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"])
    events, report = read_events(raw)
    assert events["customer_id"].nunique() == 4
    assert report.warnings and "2 customer ids differ" in report.warnings[0]
    assert "' a1'" in report.warnings[0] and "normalize_ids=True" in report.warnings[0]
    assert report.to_dict()["warnings"] == report.warnings
    events, report = read_events(raw, {"normalize_ids": True})
    assert events["customer_id"].tolist() == ["a1", "a1", "a1", "b"]
    assert report.n_customers == 2


def test_categorical_ids_are_accepted():
    ids = pd.Series(["x", "y"], dtype="category")
    events, _ = read_events(_purchases(ids, ["2024-01-01", "2024-01-02"]))
    assert events["customer_id"].tolist() == ["x", "y"] and events["customer_id"].dtype == object
    events, _ = read_events(_purchases(pd.Series([7, 8], dtype="category"),
                                       ["2024-01-01", "2024-01-02"]))
    assert events["customer_id"].tolist() == [7, 8] and events["customer_id"].dtype == "int64"


def test_nullable_integer_ids_drop_only_the_missing_one():
    ids = pd.array([5, None, 6], dtype="Int64")
    events, report = read_events(_purchases(ids, ["2024-01-01"] * 3), on_invalid="drop")
    assert events["customer_id"].tolist() == [5, 6] and events["customer_id"].dtype == "int64"
    assert report.dropped == {"customer id is null": 1}


def test_the_job_config_sets_the_plausible_range(tmp_path):
    from repurchase_ml.config import load_settings
    from repurchase_ml.jobs import load_event_log

    raw = _purchases(list("abc"), ["1900-01-01", "2024-01-02", "2200-01-01"])
    path = tmp_path / "orders.csv"
    raw.to_csv(path, index=False)
    data = {"source": "path", "path": str(path), "on_invalid": "drop"}
    _, report = load_event_log(load_settings(overrides={"data": data}, environ={}))
    assert sum(report.dropped.values()) == 2
    wide = {**data, "plausible_range": ["1850-01-01", None]}
    events, report = load_event_log(load_settings(overrides={"data": wide}, environ={}))
    assert sorted(events["customer_id"]) == ["a", "b"] and sum(report.dropped.values()) == 1
    events, _ = load_event_log(load_settings(overrides={"data": {**data,
                                                                 "plausible_range": None}},
                                             environ={}))
    assert len(events) == 3
