"""Bad input stops at the door: one table of cases across the API and the CLI.

Every case asserts the error type (or exit code), that the message names the
column or argument at fault and the fix, and that nothing was written: the
folder holding the inputs (for the CLI, the project directory) has exactly the
same files afterwards.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import repurchase_ml as rm
from repurchase_ml import cli
from repurchase_ml.datasets import make_event_log
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import ColumnMapping, read_events, validate_events

HEADER = "customer_id,timestamp,event_type,amount\n"
GOOD_ROWS = "a,2024-01-02,purchase,10\nb,2024-01-03,purchase,5\n"


def frame(**overrides: object) -> pd.DataFrame:
    base: dict[str, object] = {
        "customer_id": ["a", "b", "c"],
        "timestamp": ["2024-01-01", "2024-01-02", "2024-01-03"],
        "event_type": ["purchase", "purchase", "view"],
        "amount": [10.0, 5.0, None],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def snapshot(folder: Path) -> dict[str, int]:
    """Every file below ``folder`` with its size: equal snapshots mean nothing was written."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def parquet(folder: Path, data: pd.DataFrame, name: str = "log.parquet") -> Path:
    path = folder / name
    data.to_parquet(path, index=False)
    return path


# --------------------------------------------------------------------------- API cases


@dataclass(frozen=True)
class ApiCase:
    id: str
    #: writes what the call reads into the folder, returns the failing call
    make: Callable[[Path], Callable[[], object]]
    error: type[BaseException]
    #: the column or argument the message names
    names: str
    #: words of the fix
    fix: str


def events_call(data: pd.DataFrame, mapping: object = None, **kwargs: object):
    return lambda _folder: lambda: read_events(data, mapping, **kwargs)


def file_call(name: str, content: str | bytes, mapping: object = None, **kwargs: object):
    def make(folder: Path) -> Callable[[], object]:
        path = write(folder, name, content)
        return lambda: read_events(path, mapping, **kwargs)
    return make


_LOG: dict[str, pd.DataFrame] = {}


def small_log() -> pd.DataFrame:
    if "log" not in _LOG:
        _LOG["log"], _ = make_event_log(40, "2023-01-01", "2023-12-31", random_state=0)
    return _LOG["log"]


def on_log(action: Callable[[pd.DataFrame], object]):
    return lambda _folder: lambda: action(small_log())


def training_set() -> pd.DataFrame:
    if "training" not in _LOG:
        _LOG["training"] = rm.build_training_set(small_log(), cutoffs=["2023-05-01"],
                                                 tasks=["repurchase"])
    return _LOG["training"]


BIG = 1e300
NOT_UTF8 = (HEADER + "caf\xe9,2024-01-02,purchase,10\n").encode("latin-1")

API_CASES = [
    # --- table shape and mapping
    ApiCase("missing customer_id column", events_call(frame().drop(columns="customer_id")),
            SchemaError, "customer_id", "columns={'customer_id'"),
    ApiCase("missing timestamp column", events_call(frame().drop(columns="timestamp")),
            SchemaError, "timestamp", "columns={'timestamp'"),
    ApiCase("missing event_type column", events_call(frame().drop(columns="event_type")),
            SchemaError, "event_type", "event_type_constant='purchase'"),
    ApiCase("missing amount with purchases", events_call(frame().drop(columns="amount")),
            SchemaError, "amount", "amount_from="),
    ApiCase("mapping names an absent column",
            events_call(frame(), {"columns": {"customer_id": "Customer ID"}}),
            SchemaError, "Customer ID", "use one of the source columns"),
    ApiCase("amount_from names an absent column",
            events_call(frame(), {"amount_from": ["qty", "price"]}),
            SchemaError, "qty", "use one of the source columns"),
    ApiCase("mapping key typo", lambda _f: lambda: ColumnMapping(columns={"custmer_id": "id"}),
            ValueError, "custmer_id", "Did you mean 'customer_id'"),
    ApiCase("event_type_constant typo",
            lambda _f: lambda: ColumnMapping(event_type_constant="purchases"),
            ValueError, "event_type_constant", "Did you mean 'purchase'"),
    ApiCase("event_type_map target typo",
            lambda _f: lambda: ColumnMapping(event_type_map={"pv": "views"}),
            ValueError, "event_type_map", "Did you mean 'view'"),
    ApiCase("timestamp_unit not s or ms",
            lambda _f: lambda: ColumnMapping(timestamp_unit="us"),  # type: ignore[arg-type]
            ValueError, "timestamp_unit", "'s' or 'ms'"),
    ApiCase("constant and event_type column both given",
            events_call(frame(), {"columns": {"event_type": "event_type"},
                                  "event_type_constant": "purchase"}),
            ValueError, "event_type_constant", "either columns['event_type']"),
    ApiCase("mapping is not a mapping", events_call(frame(), 5),
            TypeError, "mapping", "ColumnMapping or a dict"),
    ApiCase("source of the wrong type", lambda _f: lambda: read_events(42),  # type: ignore[arg-type]
            TypeError, "source", "pandas DataFrame or a path"),
    ApiCase("source file does not exist",
            lambda folder: lambda: read_events(folder / "nope.csv"),
            FileNotFoundError, "nope.csv", "check the path"),
    ApiCase("unknown file suffix", file_call("log.xlsb", HEADER + GOOD_ROWS),
            ValueError, "source", "use .csv"),
    ApiCase("mapping YAML file does not exist",
            lambda folder: lambda: ColumnMapping.from_yaml(folder / "m.yaml"),
            FileNotFoundError, "m.yaml", "check the path"),
    ApiCase("mapping YAML that does not parse",
            lambda folder: (lambda path: lambda: ColumnMapping.from_yaml(path))(
                write(folder, "m.yaml", "a: [1,\n")),
            ValueError, "m.yaml", "'field: value' per line"),
    # --- files
    ApiCase("0-byte CSV", file_call("log.csv", ""), SchemaError, "log.csv", "header line"),
    ApiCase("CSV with a header only", file_call("log.csv", HEADER), SchemaError,
            "empty (0 rows)", "check the source file"),
    ApiCase("latin-1 CSV", file_call("log.csv", NOT_UTF8), SchemaError, "not UTF-8",
            "save the file as UTF-8"),
    ApiCase("semicolon-delimited CSV",
            file_call("log.csv", HEADER.replace(",", ";") + GOOD_ROWS.replace(",", ";")),
            SchemaError, "';'-delimited", "sep=';'"),
    ApiCase("row with an extra field",
            file_call("log.csv", HEADER + GOOD_ROWS + "c,2024-01-04,purchase,5,oops\n"),
            SchemaError, "line 4 has 5 fields, the header 4", "quote values"),
    ApiCase("first row with an extra field",
            file_call("log.csv", HEADER + "c,2024-01-04,purchase,5,oops\n" + GOOD_ROWS),
            SchemaError, "line 2 has 5 fields", "quote values"),
    ApiCase("0-byte Parquet", file_call("log.parquet", b""), SchemaError, "log.parquet",
            "re-export the file"),
    ApiCase("corrupt Parquet", file_call("log.parquet", b"PAR1 this is not parquet PAR1"),
            SchemaError, "log.parquet", "re-export the file"),
    # --- arguments
    ApiCase("unparseable as_of", events_call(frame(), as_of="next monday"),
            ValueError, "as_of", "ISO date such as '2024-12-31'"),
    ApiCase("unknown time zone", events_call(frame(), timezone="Mars/Olympus"),
            ValueError, "timezone", "IANA zone name"),
    ApiCase("on_invalid not raise or drop", events_call(frame(), on_invalid="skip"),
            ValueError, "on_invalid", "on_invalid='drop'"),
    ApiCase("plausible_range not a pair", events_call(frame(), plausible_range="1990"),
            ValueError, "plausible_range", "(start, end)"),
    ApiCase("plausible_range unparseable", events_call(frame(), plausible_range=("x", None)),
            ValueError, "plausible_range", "ISO date"),
    # --- customer ids
    ApiCase("null customer id", events_call(frame(customer_id=["a", None, "c"])),
            SchemaError, "customer_id", "fill or remove rows"),
    ApiCase("nullable Int64 ids with NA",
            events_call(frame(customer_id=pd.array([1, None, 3], dtype="Int64"))),
            SchemaError, "customer_id", "fill or remove rows"),
    ApiCase("mixed id types", events_call(frame(customer_id=["a", 2, "c"])),
            SchemaError, "customer_id", "customer_id_type='str'"),
    ApiCase("fractional ids", events_call(frame(customer_id=[1.0, 2.5, 3.0])),
            SchemaError, "customer_id", "cast the id column"),
    ApiCase("bool ids", events_call(frame(customer_id=[True, False, True])),
            SchemaError, "customer_id", "map customer_id to the column"),
    # --- timestamps
    ApiCase("unparseable timestamp", events_call(frame(timestamp=["2024-01-01", "soon", "2024-01-03"])),
            SchemaError, "timestamp", "timestamp_format"),
    ApiCase("aware and naive stamps mixed",
            events_call(frame(timestamp=["2024-01-01T10:00+01:00", "2024-01-02", "2024-01-03"])),
            SchemaError, "timestamp", "give every stamp an offset"),
    ApiCase("year 1900 typo", events_call(frame(timestamp=["1900-01-01", "2024-01-02", "2024-01-03"])),
            SchemaError, "implausible date", "plausible_range"),
    ApiCase("year 2200 typo", events_call(frame(timestamp=["2200-01-01", "2024-01-02", "2024-01-03"])),
            SchemaError, "implausible date", "plausible_range"),
    ApiCase("year 3000 as text", events_call(frame(timestamp=["3000-01-01", "2024-01-02", "2024-01-03"])),
            SchemaError, "timestamp", "correct the year"),
    ApiCase("datetime64[us] beyond 2262",
            events_call(frame(timestamp=np.array(["3000-01-01", "2024-01-02", "2024-01-03"],
                                                 dtype="datetime64[us]"))),
            SchemaError, "timestamp", "correct the year"),
    ApiCase("Python datetime beyond 2262",
            events_call(frame(timestamp=pd.Series([dt.datetime(3000, 1, 1), dt.datetime(2024, 1, 2),
                                                   dt.datetime(2024, 1, 3)], dtype=object))),
            SchemaError, "timestamp", "correct the year"),
    ApiCase("epoch unit on text", events_call(frame(), {"timestamp_unit": "s"}),
            SchemaError, "timestamp", "timestamp_format / timestamp_unit"),
    ApiCase("event after as_of", events_call(frame(), as_of="2024-01-02"),
            SchemaError, "timestamp", "extract date"),
    # --- amounts and other values
    ApiCase("negative amount", events_call(frame(amount=[-3.0, 5.0, None])),
            SchemaError, "amount", "event_type 'refund'"),
    ApiCase("text amount", events_call(frame(amount=["ten", 5.0, None])),
            SchemaError, "amount", "plain numbers"),
    ApiCase("missing purchase amount", events_call(frame(amount=[None, 5.0, None])),
            SchemaError, "amount", "fill the amount"),
    ApiCase("+inf amount", events_call(frame(amount=[np.inf, 5.0, None])),
            SchemaError, "amount", "replace infinities"),
    ApiCase("'Infinity' amount", events_call(frame(amount=["Infinity", "5", None])),
            SchemaError, "amount", "replace infinities"),
    ApiCase("1e300 amount", events_call(frame(amount=[BIG, 5.0, None])),
            SchemaError, "amount", "922,337,203,685,477"),
    ApiCase("customer total beyond the fixed-point range",
            events_call(frame(customer_id=["a", "a", "c"], amount=[5e14, 5e14, None])),
            SchemaError, "amount", "922,337,203,685,477"),
    ApiCase("infinite quantity", events_call(frame().assign(quantity=[1, np.inf, 2])),
            SchemaError, "quantity", "replace infinities"),
    ApiCase("unknown event type", events_call(frame(event_type=["purchase", "buy", "view"])),
            SchemaError, "event_type", "event_type_map"),
    ApiCase("bad discount flag", events_call(frame().assign(discount=["yes", "maybe", "no"])),
            SchemaError, "discount", "true/false"),
    ApiCase("exact duplicate rows",
            events_call(frame(customer_id=["a", "a", "c"], timestamp=["2024-01-01"] * 2 + ["2024-01-03"],
                              amount=[10.0, 10.0, None])),
            SchemaError, "customer_id", "order_id/item_id"),
    ApiCase("empty frame", events_call(frame().iloc[0:0]), SchemaError, "empty (0 rows)",
            "check the source file"),
    ApiCase("every row dropped",
            events_call(frame(event_type=["buy", "buy", "buy"]), on_invalid="drop"),
            SchemaError, "no valid rows", "validation report"),
    ApiCase("validate_events on a bad frame",
            lambda _f: lambda: validate_events(frame(amount=[-1.0, 5.0, None])),
            SchemaError, "amount", "on_invalid='drop'"),
    # --- features, labels, training, radar
    ApiCase("build_features without cutoffs", on_log(lambda e: rm.build_features(e, cutoffs=None)),
            ValueError, "cutoffs", "pass cutoffs="),
    ApiCase("build_features unparseable cutoff",
            on_log(lambda e: rm.build_features(e, cutoffs=["someday"])),
            ValueError, "cutoffs", "pass cutoffs="),
    ApiCase("build_features aware cutoff",
            on_log(lambda e: rm.build_features(e, cutoffs=pd.Timestamp("2023-06-01", tz="UTC"))),
            ValueError, "cutoffs", "tz_localize(None)"),
    ApiCase("build_features cutoff of the wrong type",
            on_log(lambda e: rm.build_features(e, cutoffs=5)),
            TypeError, "cutoffs", "pass cutoffs="),
    ApiCase("build_features spec of the wrong type",
            on_log(lambda e: rm.build_features(e, cutoffs="2023-06-01", spec="fast")),
            TypeError, "spec", "FeatureSpec or None"),
    ApiCase("FeatureSpec with a zero-day window", lambda _f: lambda: rm.FeatureSpec(windows=(0, 30)),
            ValueError, "FeatureSpec.windows", "e.g. (7, 30, 90)"),
    ApiCase("build_features on a raw frame",
            lambda _f: lambda: rm.build_features(frame(), cutoffs="2024-02-01"),
            SchemaError, "timestamp", "read_events"),
    ApiCase("make_labels unknown task",
            on_log(lambda e: rm.make_labels(e, cutoffs="2023-06-01", task="chrun")),
            ValueError, "task", "expected one of"),
    ApiCase("make_labels negative horizon",
            on_log(lambda e: rm.make_labels(e, cutoffs="2023-06-01", task="churn", horizon_days=-5)),
            ValueError, "horizon_days", "positive whole number of days"),
    ApiCase("make_labels horizon past the data",
            on_log(lambda e: rm.make_labels(e, cutoffs="2023-12-01", task="churn")),
            ValueError, "cutoffs", "propose_cutoffs"),
    ApiCase("propose_cutoffs zero horizon",
            on_log(lambda e: rm.propose_cutoffs(e, horizon_days=0)),
            ValueError, "horizon_days", "positive whole number of days"),
    ApiCase("build_training_set unknown task",
            on_log(lambda e: rm.build_training_set(e, cutoffs=["2023-06-01"], tasks=["ltvv"])),
            ValueError, "ltvv", "expected one of"),
    ApiCase("train_models unknown task",
            lambda _f: lambda: rm.train_models(training_set(), tasks=["churnn"]),
            ValueError, "tasks", "expected some of"),
    ApiCase("train_models on a non-frame", lambda _f: lambda: rm.train_models("x", tasks=["churn"]),
            TypeError, "training_set", "pandas or polars DataFrame"),
    ApiCase("train_models without the task's label",
            lambda _f: lambda: rm.train_models(training_set(), tasks=["churn"]),
            SchemaError, "label_churn", "tasks including 'churn'"),
    ApiCase("churn_radar with a non-bundle",
            on_log(lambda e: rm.churn_radar("bundle", e, as_of="2023-06-01")),
            TypeError, "bundle", "ModelBundle"),
]

XFAIL_API: dict[str, str] = {}
API_CASES.append(ApiCase("churn_radar unparseable as_of",
                         on_log(lambda e: rm.churn_radar(None, e, as_of="not a date")),
                         ValueError, "as_of", "2024"))


def _api_params():
    for case in API_CASES:
        marks = ([pytest.mark.xfail(strict=True, reason=XFAIL_API[case.id])]
                 if case.id in XFAIL_API else [])
        yield pytest.param(case, id=case.id, marks=marks)


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", list(_api_params()))
def test_api_refuses_bad_input(case: ApiCase, tmp_path: Path) -> None:
    call = case.make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(case.error) as info:
        call()
    message = _flat(str(info.value))
    assert case.names in message, message
    assert case.fix in message, message
    if isinstance(info.value, SchemaError) and info.value.column is not None:
        assert f"column {info.value.column!r}" in message
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- CLI cases

runner = CliRunner()


@dataclass(frozen=True)
class CliCase:
    id: str
    #: writes inputs (outside ``project``), returns the argv; ``project`` must stay unchanged
    make: Callable[[Path, Path], list[str]]
    exit_code: int
    names: str
    fix: str


def validate_file(name: str, content: str | bytes, *extra: str):
    def make(inputs: Path, _project: Path) -> list[str]:
        return ["validate", str(write(inputs, name, content)), *extra]
    return make


def with_config(data_yaml: str, command: list[str], log: tuple[str, str | bytes] | None = None):
    """A project run whose config points at a log file in ``inputs``."""
    def make(inputs: Path, project: Path) -> list[str]:
        text = data_yaml
        if log is not None:
            text = text.replace("LOG", str(write(inputs, *log)))
        config = write(inputs, "config.yaml", text)
        return [*command, "--config", str(config), "--project-dir", str(project)]
    return make


PATH_DATA = "data: {source: path, path: LOG}\n"

CLI_CASES = [
    CliCase("validate: no such file",
            lambda inputs, _p: ["validate", str(inputs / "missing.csv")],
            cli.EXIT_VALUE, "missing.csv", "check the path"),
    CliCase("validate: unknown suffix", validate_file("log.json", "{}"), cli.EXIT_VALUE,
            "log.json", "use .csv"),
    CliCase("validate: 0-byte CSV", validate_file("log.csv", ""), cli.EXIT_SCHEMA, "log.csv",
            "header line"),
    CliCase("validate: latin-1 CSV", validate_file("log.csv", NOT_UTF8), cli.EXIT_SCHEMA,
            "not UTF-8", "save the file as UTF-8"),
    CliCase("validate: semicolons",
            validate_file("log.csv", HEADER.replace(",", ";") + GOOD_ROWS.replace(",", ";")),
            cli.EXIT_SCHEMA, "';'-delimited", "sep=';'"),
    CliCase("validate: extra field",
            validate_file("log.csv", HEADER + GOOD_ROWS + "c,2024-01-04,purchase,5,6\n"),
            cli.EXIT_SCHEMA, "line 4 has 5 fields", "quote values"),
    CliCase("validate: corrupt Parquet", validate_file("log.parquet", b"PAR1 garbage"),
            cli.EXIT_SCHEMA, "log.parquet", "re-export the file"),
    CliCase("validate: Infinity amount",
            validate_file("log.csv", HEADER + GOOD_ROWS + "c,2024-01-04,purchase,Infinity\n"),
            cli.EXIT_SCHEMA, "column 'amount'", "replace infinities"),
    CliCase("validate: 1e300 amount",
            validate_file("log.csv", HEADER + GOOD_ROWS + "c,2024-01-04,purchase,1e300\n"),
            cli.EXIT_SCHEMA, "column 'amount'", "922,337,203,685,477"),
    CliCase("validate: year 2200",
            validate_file("log.csv", HEADER + GOOD_ROWS + "c,2200-01-04,purchase,5\n"),
            cli.EXIT_SCHEMA, "implausible date", "plausible_range"),
    CliCase("validate: aware and naive mixed",
            validate_file("log.csv", HEADER + GOOD_ROWS + "c,2024-01-04T10:00:00Z,purchase,5\n"),
            cli.EXIT_SCHEMA, "column 'timestamp'", "give every stamp an offset"),
    CliCase("validate: unparseable timestamp",
            validate_file("log.csv", HEADER + GOOD_ROWS + "c,tomorrow,purchase,5\n"),
            cli.EXIT_SCHEMA, "column 'timestamp'", "timestamp_format"),
    CliCase("validate: unparseable --as-of",
            validate_file("log.csv", HEADER + GOOD_ROWS, "--as-of", "next monday"),
            cli.EXIT_VALUE, "as_of", "ISO date"),
    CliCase("validate: unknown --timezone",
            validate_file("log.csv", HEADER + GOOD_ROWS, "--timezone", "Mars/Olympus"),
            cli.EXIT_VALUE, "timezone", "IANA"),
    CliCase("validate: mapping key typo",
            lambda inputs, _p: ["validate", str(write(inputs, "log.csv", HEADER + GOOD_ROWS)),
                                "-m", str(write(inputs, "m.yaml", "columns: {custmer_id: x}\n"))],
            cli.EXIT_VALUE, "custmer_id", "Did you mean 'customer_id'"),
    CliCase("validate: mapping to an absent column",
            lambda inputs, _p: ["validate", str(write(inputs, "log.csv", HEADER + GOOD_ROWS)),
                                "-m", str(write(inputs, "m.yaml",
                                                "columns: {customer_id: Customer ID}\n"))],
            cli.EXIT_SCHEMA, "Customer ID", "use one of the source columns"),
    CliCase("validate: mapping YAML not valid",
            lambda inputs, _p: ["validate", str(write(inputs, "log.csv", HEADER + GOOD_ROWS)),
                                "-m", str(write(inputs, "m.yaml", "columns: [a,\n"))],
            cli.EXIT_VALUE, "m.yaml", "'field: value' per line"),
    CliCase("validate: mapping YAML missing",
            lambda inputs, _p: ["validate", str(write(inputs, "log.csv", HEADER + GOOD_ROWS)),
                                "-m", str(inputs / "none.yaml")],
            cli.EXIT_VALUE, "none.yaml", "mapping YAML"),
    CliCase("validate: negative amount",
            validate_file("log.csv", HEADER + GOOD_ROWS + "c,2024-01-04,purchase,-5\n"),
            cli.EXIT_SCHEMA, "column 'amount'", "event_type 'refund'"),
    CliCase("retrain: 0-byte log",
            with_config(PATH_DATA, ["retrain"], ("log.csv", "")),
            cli.EXIT_SCHEMA, "log.csv", "header line"),
    CliCase("retrain: unknown setting",
            with_config("promotion: {tolerence: 0.1}\n", ["retrain"]),
            cli.EXIT_CONFIG, "tolerence", "did you mean"),
    CliCase("score: unparseable --as-of",
            with_config(PATH_DATA, ["score", "--as-of", "next monday"],
                        ("log.csv", HEADER + GOOD_ROWS)),
            cli.EXIT_VALUE, "as_of", "2024-01-01"),
]

XFAIL_CLI: dict[str, str] = {}


def _cli_params():
    for case in CLI_CASES:
        marks = ([pytest.mark.xfail(strict=True, reason=XFAIL_CLI[case.id])]
                 if case.id in XFAIL_CLI else [])
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_cli_params()))
def test_cli_refuses_bad_input(case: CliCase, tmp_path: Path) -> None:
    inputs, project = tmp_path / "inputs", tmp_path / "project"
    inputs.mkdir()
    project.mkdir()
    argv = case.make(inputs, project)
    before_inputs, before_project = snapshot(inputs), snapshot(project)
    result = runner.invoke(cli.app, argv)
    message = _flat(result.output)
    assert result.exit_code == case.exit_code, message
    assert "Traceback" not in message
    assert case.names in message, message
    assert case.fix in message, message
    assert snapshot(project) == before_project
    assert snapshot(inputs) == before_inputs


def test_the_suite_is_large_enough() -> None:
    assert len(API_CASES) + len(CLI_CASES) >= 60
    assert len({c.id for c in API_CASES}) == len(API_CASES)
    assert len({c.id for c in CLI_CASES}) == len(CLI_CASES)
    assert all(re.search(r"\w", c.fix) for c in [*API_CASES, *CLI_CASES])
