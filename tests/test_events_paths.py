"""The columnar (polars) validation and the pandas one agree: same frame, report and messages.

Typed logs (a Parquet file, a polars frame, a pandas frame with datetime stamps) are
validated with polars; everything else with pandas. Each case here runs both ways (the
columnar path switched off for the second) and compares the outcome exactly: the canonical
frame and the report, or the error's type and message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from test_bad_input import API_CASES

from repurchase_ml import events as ev
from repurchase_ml.events import (
    EVENT_TYPES,
    STRING_DTYPE,
    ColumnMapping,
    check_canonical,
    read_events,
    validate_events,
)

Outcome = tuple[Any, ...]


@contextmanager
def columnar_counted() -> Iterator[list[int]]:
    """Count the runs of the columnar path while the block runs."""
    runs: list[int] = []
    original = ev._validate_columnar

    def counted(*args: Any, **kwargs: Any) -> Any:
        runs.append(1)
        return original(*args, **kwargs)

    ev._validate_columnar = counted  # type: ignore[assignment]
    try:
        yield runs
    finally:
        ev._validate_columnar = original  # type: ignore[assignment]


def outcome(call: Callable[[], Any]) -> Outcome:
    try:
        result = call()
    except Exception as error:  # noqa: BLE001 - the outcome is compared, whatever it is
        return ("error", type(error), str(error))
    return ("ok", result)


def both_paths(call: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> tuple[Outcome, Outcome, int]:
    """(outcome with the columnar path, outcome with the pandas path only, columnar runs)."""
    with columnar_counted() as runs:
        columnar = outcome(call)
    with monkeypatch.context() as patch:
        patch.setattr(ev, "_columnar_ok", lambda table, mapping: False)
        plain = outcome(call)
    return columnar, plain, len(runs)


def assert_same(columnar: Outcome, plain: Outcome) -> None:
    assert columnar[0] == plain[0], (columnar, plain)
    if columnar[0] == "error":
        assert columnar[1:] == plain[1:]
        return
    result, expected = columnar[1], plain[1]
    if isinstance(expected, tuple):  # (frame, report)
        pd.testing.assert_frame_equal(result[0], expected[0])
        assert result[1] == expected[1]
        check_canonical(result[0])
    else:
        assert result == expected


# --------------------------------------------------------------------------- the bad-input suite

_EVENT_CASES = API_CASES[:[c.id for c in API_CASES].index("validate_events on a bad frame") + 1]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", _EVENT_CASES, ids=[c.id for c in _EVENT_CASES])
def test_bad_input_suite_same_messages(case: Any, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    columnar, plain, _ = both_paths(case.make(tmp_path), monkeypatch)
    assert columnar[0] == "error" and issubclass(columnar[1], case.error)
    assert_same(columnar, plain)


# --------------------------------------------------------------------------- typed bad logs


def typed(**overrides: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "customer_id": ["a", "b", "c", "a"],
        "timestamp": pd.to_datetime(["2024-01-03", "2024-01-02", "2024-01-03", "2024-01-01"]),
        "event_type": ["purchase", "purchase", "view", "refund"],
        "amount": [10.0, 5.0, None, 2.0],
        "order_id": ["o1", "o2", None, "o1"],
        "quantity": [1, 2, 1, 1],
        "discount": [True, False, False, True],
    }
    base.update(overrides)
    return pd.DataFrame(base)


BERLIN_FALL_BACK = pd.DatetimeIndex(
    ["2024-10-27 00:30:00+00:00", "2024-10-27 01:30:00+00:00", "2024-10-27 01:30:00+00:00",
     "2024-10-27 02:30:00+00:00"]).tz_convert("Europe/Berlin")

TYPED_CASES: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {
    "valid": (typed(), {}),
    "unsorted int ids": (typed(customer_id=[3, 1, 2, 1]), {}),
    "null customer id": (typed(customer_id=["a", None, "c", "a"]), {}),
    "null int ids": (typed(customer_id=pd.array([1, None, 3, 1], dtype="Int64")), {}),
    "ids differing by whitespace": (typed(customer_id=["a", " a", "ａ", "b"]), {}),
    "ids normalised": (typed(customer_id=["a", " a", "ａ", "b"]), {"normalize_ids": True}),
    "missing stamp": (typed(timestamp=pd.to_datetime(["2024-01-03", None, "2024-01-03",
                                                      "2024-01-01"])), {}),
    "datetime64[us] beyond 2262": (typed(timestamp=np.array(
        ["3000-01-01", "2024-01-02", "2024-01-03", "2024-01-01"], dtype="datetime64[us]")), {}),
    "year 1900": (typed(timestamp=pd.to_datetime(["1900-01-01", "2024-01-02", "2024-01-03",
                                                  "2024-01-01"])), {}),
    "after as_of": (typed(), {"as_of": "2024-01-02 12:00"}),
    "narrow plausible range": (typed(), {"plausible_range": ("2024-01-02", "2024-01-02 23:00")}),
    "no plausible range": (typed(timestamp=pd.to_datetime(
        ["1900-01-01", "2024-01-02", "2024-01-03", "2024-01-01"])), {"plausible_range": None}),
    "aware stamps to Shanghai": (typed(timestamp=BERLIN_FALL_BACK), {"timezone": "Asia/Shanghai"}),
    "repeated daylight-saving hour": (typed(customer_id=["a"] * 4, timestamp=BERLIN_FALL_BACK,
                                            amount=[1.0] * 4, order_id=["o"] * 4,
                                            event_type=["purchase"] * 4, quantity=[1] * 4,
                                            discount=[False] * 4),
                                      {"timezone": "Europe/Berlin"}),
    "unknown event type": (typed(event_type=["purchase", "buy", None, "refund"]), {}),
    "event type map": (typed(event_type=["buy", "buy", "pv", "refund"]),
                       {"event_type_map": {"buy": "purchase", "pv": "view"}}),
    "negative amount": (typed(amount=[-3.0, 5.0, None, 2.0]), {}),
    "missing purchase amount": (typed(amount=[None, 5.0, None, 2.0]), {}),
    "infinite amount": (typed(amount=[np.inf, 5.0, -np.inf, 2.0]), {}),
    "1e300 amount": (typed(amount=[1e300, 5.0, None, 2.0]), {}),
    "customer total beyond fixed point": (typed(amount=[5e14, 5.0, None, 5e14]), {}),
    "infinite quantity": (typed(quantity=[1.0, np.inf, 2.0, 1.0]), {}),
    "integer order ids": (typed(order_id=[7, 8, 9, 7]), {}),
    "discount with a gap": (typed(discount=[True, None, False, True]), {}),
    "text discount": (typed(discount=["yes", "maybe", "no", "no"]), {}),
    "exact duplicates": (typed(customer_id=["a", "a", "c", "a"],
                               timestamp=pd.to_datetime(["2024-01-03"] * 2 + ["2024-01-03",
                                                                              "2024-01-01"]),
                               event_type=["purchase"] * 2 + ["view", "refund"],
                               amount=[10.0, 10.0, None, 2.0], order_id=["o1", "o1", None, "o1"],
                               quantity=[1, 1, 1, 1], discount=[True, True, False, True]), {}),
    "every row dropped": (typed(event_type=["buy"] * 4), {}),
}

_SETTINGS = ("timezone", "as_of", "plausible_range")


def _call(source: Any, options: dict[str, Any], on_invalid: str) -> Callable[[], Any]:
    settings = {k: v for k, v in options.items() if k in _SETTINGS}
    mapping = {k: v for k, v in options.items() if k not in _SETTINGS}
    return lambda: read_events(source, mapping or None, on_invalid=on_invalid, **settings)


@pytest.mark.parametrize("on_invalid", ["raise", "drop"])
@pytest.mark.parametrize("source", ["pandas", "polars", "parquet"])
@pytest.mark.parametrize("name", list(TYPED_CASES))
def test_typed_logs_same_outcome(name: str, source: str, on_invalid: str, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data, options = TYPED_CASES[name]
    if source == "pandas":
        given: Any = data
    else:
        try:
            given = pl.from_pandas(data)
        except Exception:  # noqa: BLE001 - a column polars cannot hold: pandas only
            pytest.skip("not a polars frame")
        if source == "parquet":
            given.write_parquet(tmp_path / "log.parquet")
            given = tmp_path / "log.parquet"
    columnar, plain, runs = both_paths(_call(given, options, on_invalid), monkeypatch)
    assert_same(columnar, plain)
    typed_columns = name not in ("null int ids", "text discount")
    assert runs == (1 if typed_columns else 0)


def test_typed_cases_break_what_they_say(monkeypatch: pytest.MonkeyPatch) -> None:
    """A few of the outcomes above, spelled out (so the agreement is not one of two bugs)."""
    with pytest.raises(ev.SchemaError, match=r"column 'customer_id': customer id is null "
                                             r"\(1 row, e.g. 1\)"):
        read_events(typed(customer_id=["a", None, "c", "a"]))
    with pytest.raises(ev.SchemaError, match=r"column 'timestamp': timestamp is outside the range "
                                             r".*e.g. Timestamp\('3000-01-01 00:00:00'\)"):
        read_events(pl.from_pandas(TYPED_CASES["datetime64[us] beyond 2262"][0]))
    frame, report = read_events(*TYPED_CASES["repeated daylight-saving hour"][:1],
                                timezone="Europe/Berlin", on_invalid="drop")
    assert report.dropped == {"exact duplicate rows (every column equal)": 1}
    assert report.warnings == ["1 events share a wall-clock time with another event an hour "
                               "apart in a repeated (daylight-saving fall-back) hour; both are kept"]
    assert frame["timestamp"].astype(str).tolist() == [
        "2024-10-27 02:30:00", "2024-10-27 02:30:00", "2024-10-27 03:30:00"]
    frame, report = read_events(typed(customer_id=[3, 1, 2, 1]))
    assert frame["customer_id"].tolist() == [1, 1, 2, 3]
    assert frame["order_id"].dtype == STRING_DTYPE
    assert frame["order_id"].tolist() == ["o1", "o2", pd.NA, "o1"]
    assert report.event_counts == {"purchase": 2, "refund": 1, "view": 1, "cart": 0,
                                   "favorite": 0}


# --------------------------------------------------------------------------- random logs


def random_log(seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A small log with duplicates, gaps, bad values, sorted or not, naive or aware."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 80))
    customers = rng.integers(1, 9, n)
    ids: Any = customers if seed % 2 else np.array([f"c{c}" if c % 4 else f" c{c - 1}"
                                                    for c in customers], dtype=object)
    stamps = pd.Timestamp("2024-10-26") + pd.to_timedelta(rng.integers(0, 3 * 24, n), unit="h")
    kinds = rng.choice([*EVENT_TYPES, "click"], n, p=[0.4, 0.1, 0.25, 0.1, 0.1, 0.05])
    amount = np.round(rng.gamma(2.0, 20.0, n), 2)
    amount[rng.random(n) < 0.1] = np.nan
    amount[rng.random(n) < 0.05] *= -1
    frame = pd.DataFrame({
        "customer_id": ids, "timestamp": stamps, "event_type": kinds, "amount": amount,
        "order_id": np.where(rng.random(n) < 0.3, None, rng.integers(0, 6, n).astype(str)),
        "category": rng.choice(np.array(["x", "y", None], dtype=object), n),
        "quantity": rng.integers(1, 3, n).astype(float),
        "discount": rng.random(n) < 0.2,
    })
    if seed % 3 == 0:
        frame.loc[rng.random(n) < 0.05, "timestamp"] = pd.NaT
    if seed % 4 == 0:  # stamps with an offset: a fall-back hour in Berlin on 2024-10-27
        frame["timestamp"] = frame["timestamp"].dt.tz_localize("UTC")
    repeat = rng.integers(0, n, n // 5)
    frame = pd.concat([frame, frame.iloc[repeat]], ignore_index=True)
    if seed % 5 == 1:
        frame = frame.sort_values(["customer_id", "timestamp"], kind="mergesort",
                                  ignore_index=True)
    else:
        frame = frame.sample(frac=1.0, random_state=seed, ignore_index=True)
    options = {"timezone": "Europe/Berlin" if seed % 4 == 0 else "UTC"}
    return frame, options


@pytest.mark.parametrize("seed", range(24))
def test_random_logs_same_outcome(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    frame, options = random_log(seed)
    for source in (frame, pl.from_pandas(frame)):
        for on_invalid in ("drop", "raise"):
            columnar, plain, runs = both_paths(_call(source, options, on_invalid), monkeypatch)
            assert runs == 1
            assert_same(columnar, plain)
            if on_invalid == "drop" and columnar[0] == "ok":
                events, report = columnar[1]
                assert report.n_rows == len(events) == report.n_input_rows - report.n_dropped
                key = events[["customer_id", "timestamp"]]
                assert key.equals(key.sort_values(["customer_id", "timestamp"],
                                                  kind="mergesort"))


def test_validate_events_takes_a_polars_frame() -> None:
    frame = typed()
    expected, expected_report = validate_events(frame)
    result, report = validate_events(pl.from_pandas(frame).lazy())
    pd.testing.assert_frame_equal(result, expected)
    assert report == expected_report


# --------------------------------------------------------------------------- duplicate rows


@pytest.mark.parametrize("seed", range(6))
def test_repeated_rows_match_pandas(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    frame = pd.DataFrame({
        "a": rng.integers(0, 3, n),
        "b": rng.choice(np.array([0.0, -0.0, np.nan, 1.5]), n),
        "c": pd.array(rng.choice(np.array(["x", "y", None], dtype=object), n), dtype=STRING_DTYPE),
        "d": pd.to_datetime(rng.choice(np.array(["2024-01-01", "2024-01-02", None]), n)),
        "e": rng.random(n) < 0.5,
    })
    expected = frame.assign(c=frame["c"].astype(object)).duplicated(keep="first").to_numpy()
    assert expected.any()
    np.testing.assert_array_equal(ev._repeated_rows(pl.from_pandas(frame)), expected)


def test_repeated_rows_among_missing_values() -> None:
    """Rows in key order but for a missing value between them are still found."""
    table = pl.DataFrame({"a": [1, 1, 1, None, 1], "b": [1.5, float("nan"), 1.5, 2.0, None],
                          "c": ["x", "y", "x", "z", "y"]})
    expected = table.to_pandas().duplicated(keep="first").tolist()
    assert expected == [False, False, True, False, True]
    assert ev._repeated_rows(table).tolist() == expected


def test_a_hash_collision_never_marks_a_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row hashing alike: only rows really equal to an earlier one are marked."""
    table = pl.DataFrame({"a": [1, 2, 1, 3, 2], "b": ["x", "x", "x", "y", "z"]})
    monkeypatch.setattr(pl.DataFrame, "hash_rows",
                        lambda self, seed=0: pl.Series([7] * self.height, dtype=pl.UInt64))
    assert ev._repeated_rows(table).tolist() == [False, False, True, False, False]


def test_sorted_log_is_not_reordered() -> None:
    stamps = pl.Series([dt.datetime(2024, 1, d) for d in (1, 1, 2, 1)])
    assert ev._sort_order(pl.Series([1, 1, 1, 2]), stamps) is None
    assert ev._sort_order(pl.Series([2, 1, 1, 1]), stamps).tolist() == [1, 3, 2, 0]


def test_column_mapping_on_a_parquet_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = pd.DataFrame({"Customer ID": [1, 1, 2], "When": pd.to_datetime(
        ["2024-01-02", "2024-01-01", "2024-01-05"]), "Qty": [2, 1, 3], "Price": [2.5, 1.0, 4.0],
        "Note": ["a", "b", "c"]})
    raw.to_parquet(tmp_path / "log.parquet", index=False)
    mapping = ColumnMapping(columns={"customer_id": "Customer ID", "timestamp": "When"},
                            amount_from=("Qty", "Price"), event_type_constant="purchase")
    columnar, plain, runs = both_paths(lambda: read_events(tmp_path / "log.parquet", mapping),
                                       monkeypatch)
    assert runs == 1
    assert_same(columnar, plain)
    events, report = columnar[1]
    assert events["amount"].tolist() == [1.0, 5.0, 12.0]
    assert report.ignored_columns == ["Note"] and report.n_input_rows == 3
