"""The champion served by `mlflow models serve` on a free loopback port, over real HTTP."""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.request

import pytest

from repurchase_ml import jobs
from repurchase_ml.config import load_settings

mlflow = pytest.importorskip("mlflow")

SMALL = {
    "data": {"on_invalid": "drop",
             "synthetic": {"n_customers": 200, "start": "2022-01-01", "end": "2024-01-01",
                           "random_state": 11}},
    "tasks": ["churn", "repurchase", "ltv"],
    "horizons": {"churn": 60, "repurchase": 30, "ltv": 90},
    "cutoffs": {"n": 8},
    "baselines": False,
    "tuning": {"n_estimators": 20},
    # 200 customers are below the default training minimums
    "training": {"minimums": {"train_positives": 20, "train_negatives": 20, "eval_rows": 30,
                              "eval_positives": 5, "eval_negatives": 5, "history_days": 30}},
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def payload(frame) -> bytes:
    rows = [[None if isinstance(v, float) and math.isnan(v) else v for v in row]
            for row in frame.astype(object).itertuples(index=False)]
    return json.dumps({"dataframe_split": {"columns": list(frame.columns),
                                           "data": rows}}).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from repurchase_ml import tracking
    from repurchase_ml.features import build_features

    project = tmp_path_factory.mktemp("serve")
    settings = load_settings(overrides={**SMALL, "project_dir": str(project)}, environ={})
    result = jobs.run_retrain(settings)
    if not result.promoted:  # a tiny model may lose to the baselines; serve it all the same
        tracking.promote(settings, result.model_version)
    champion = tracking.load_champion(settings)
    events, _ = jobs.load_event_log(settings)
    features = build_features(events, cutoffs=["2024-01-01"], spec=champion.spec)
    features["cutoff"] = features["cutoff"].dt.strftime("%Y-%m-%d")

    port = free_port()
    proc = jobs.start_server(settings, port=port, log_path=project / "server.log", timeout=180)
    try:
        yield f"http://127.0.0.1:{port}/invocations", features, champion
    finally:
        code = jobs.stop_server(proc)
        assert proc.poll() is not None, f"server {proc.pid} still running (exit {code})"


def test_good_request_returns_every_score_per_customer(server):
    url, features, champion = server
    rows = features.head(5)
    status, text = post(url, payload(rows))
    assert status == 200, text
    predictions = json.loads(text)["predictions"]
    assert [p["customer_id"] for p in predictions] == rows["customer_id"].tolist()
    expected = champion.score(features.head(5).assign(
        cutoff=lambda f: f["cutoff"].astype("datetime64[ns]")))
    for got, want in zip(predictions, expected.to_dict("records"), strict=True):
        assert 0 <= got["churn_probability"] <= 1
        assert got["churn_probability"] == pytest.approx(want["churn_probability"], rel=1e-9)
        # the radar's value at risk: churn x value if retained (not x predicted LTV)
        assert got["value_if_retained"] == pytest.approx(want["value_if_retained"], rel=1e-9)
        assert got["value_at_risk"] == pytest.approx(
            got["churn_probability"] * got["value_if_retained"], rel=1e-9)
        assert "reason_1" in got


def test_malformed_json_is_a_400_that_does_not_echo_the_body(server):
    url, _, _ = server
    status, text = post(url, b'{"dataframe_split": {"columns": ["customer_id"], "data": [["secret-0"')
    assert status == 400
    assert json.loads(text)["error_code"] == "BAD_REQUEST"
    assert "not valid JSON" in json.loads(text)["message"]
    assert "secret" not in text


@pytest.mark.parametrize("body", [
    b'{"dataframe_split": {"columns": ["customer_id", "orders_7d"], "data": [["secret-1"]]}}',
    b'{"records": [{"customer_id": "secret-2"}]}',
    b'{"dataframe_records": [{"customer_id": "secret-3"}, 5]}',
    b'[1, "secret-4"]',
])
def test_malformed_tables_are_400s_that_do_not_echo_the_data(server, body):
    url, _, _ = server
    status, text = post(url, body)
    assert status == 400
    assert "secret" not in text


def test_missing_column_is_refused_with_its_name(server):
    url, features, _ = server
    dropped = features.columns[5]
    status, text = post(url, payload(features.head(2).drop(columns=[dropped])))
    assert status == 400
    assert f"missing columns: {dropped}" in text


def test_extra_column_is_refused_not_trimmed(server):
    url, features, _ = server
    status, text = post(url, payload(features.head(2).assign(coupon_code="X")))
    assert status == 400
    assert "unknown columns: coupon_code" in text


def test_bad_value_is_refused_without_echoing_it(server):
    url, features, _ = server
    rows = features.head(2).astype({features.columns[4]: object})
    rows.iloc[0, 4] = "secret-4111-1111"
    status, text = post(url, payload(rows))
    assert status == 400
    assert "value is not a number" in text
    assert "secret-4111" not in text


def refusal(text: str) -> str:
    """The message of a 400, checked to carry no server stack trace or file path."""
    body = json.loads(text)
    assert body["error_code"] == "BAD_REQUEST"
    assert "stack_trace" not in body and ".py" not in text and "Traceback" not in text
    return body["message"]


def test_refusal_reason_is_the_message_without_a_stack_trace(server):
    url, features, _ = server
    dropped = features.columns[5]
    status, text = post(url, payload(features.head(2).drop(columns=[dropped])))
    assert status == 400
    assert refusal(text).startswith("request columns differ from the model's input schema "
                                    f"(missing columns: {dropped})")


def test_nested_json_bomb_is_a_400(server):
    url, _, _ = server
    depth = 100_000
    status, text = post(url, b'{"dataframe_records": ' + b"[" * depth + b"]" * depth + b"}")
    assert status == 400
    assert "nested too deeply" in refusal(text)


@pytest.mark.parametrize("bad_id", [{"secret": 1}, ["secret"], True])
def test_object_list_and_boolean_ids_are_refused(server, bad_id):
    url, features, _ = server
    record = json.loads(payload(features.head(1)))["dataframe_split"]
    record["data"][0][0] = bad_id
    status, text = post(url, json.dumps({"dataframe_split": record}).encode())
    assert status == 400
    assert "column 'customer_id': customer id is not a string or a number" in refusal(text)
    assert "secret" not in text


def test_booleans_are_not_numbers(server):
    url, features, _ = server
    record = json.loads(payload(features.head(2)))["dataframe_split"]
    record["data"][1][4] = True
    status, text = post(url, json.dumps({"dataframe_split": record}).encode())
    assert status == 400
    assert (f"column '{features.columns[4]}': value is not a number (expected float64) (1 row)"
            in refusal(text))
