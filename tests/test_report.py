"""The HTML report: its computations against hand-worked numbers, its sections and its file."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from repurchase_ml.datasets import make_event_log
from repurchase_ml.errors import SchemaError
from repurchase_ml.events import read_events
from repurchase_ml.features import build_training_set, make_labels, propose_cutoffs
from repurchase_ml.models import train_models
from repurchase_ml.models.evaluate import evaluate, scorecards_to_frame
from repurchase_ml.models.plan import TrainingMinimums
from repurchase_ml.radar import radar_from_scores
from repurchase_ml.report import (
    SECTION_IDS,
    build_report,
    bundle_report_inputs,
    calibration_table,
    gain_curve,
    output_report_inputs,
    repurchase_curve,
    run_report,
    write_report,
)
from repurchase_ml.segments import value_risk_matrix

AS_OF = pd.Timestamp("2024-03-01")
#: the small synthetic shops here are below the default training minimums
FEW = TrainingMinimums(train_positives=20, train_negatives=20, eval_rows=30, eval_positives=5,
                       eval_negatives=5, history_days=30)
#: ``id`` of every plot the report draws from :func:`report_inputs`, in page order
EXPECTED_PLOTS = (
    "plot-performance-churn",
    "plot-lift-churn",
    "plot-lift-order-count",
    "plot-calibration-churn",
    "plot-calibration-order-count",
    "plot-drivers-all",
    "plot-segments-bars",
    "plot-value-risk-heatmap",
    "plot-repurchase-curve-plot",
)


def _events(rows: list[tuple]) -> pd.DataFrame:
    cols = ["customer_id", "timestamp", "event_type", "amount", "order_id"]
    frame, _ = read_events(pd.DataFrame(rows, columns=cols))
    return frame


# customer a: orders o1 (two rows) on 01-01, o2 on 01-11 -> second order after 10 days
# customer b: one order on 01-20, a refund on 01-25 (not an order), a view
# customer c: first order 02-25 (only 4 days observed), second order 02-26
# customer d: first order 01-05, second order exactly at AS_OF (the future: ignored)
CURVE_ROWS = [
    ("a", "2024-01-01 10:00", "purchase", 5.0, "o1"),
    ("a", "2024-01-01 10:05", "purchase", 7.0, "o1"),
    ("a", "2024-01-11 10:00", "purchase", 9.0, "o2"),
    ("b", "2024-01-20 08:00", "purchase", 20.0, "o3"),
    ("b", "2024-01-25 08:00", "refund", 20.0, None),
    ("b", "2024-01-26 08:00", "view", None, None),
    ("c", "2024-02-25 00:00", "purchase", 3.0, "o4"),
    ("c", "2024-02-26 00:00", "purchase", 3.0, "o5"),
    ("d", "2024-01-05 00:00", "purchase", 4.0, "o6"),
    ("d", "2024-03-01 00:00", "purchase", 4.0, "o7"),
]


def report_inputs(seed: int = 0) -> dict:
    """Every report input, small and deterministic (shared with the browser test)."""
    rng = np.random.default_rng(seed)
    n = 400
    y = rng.binomial(1, 0.3, n)
    model = np.clip(0.3 + 0.35 * (y - 0.3) + rng.normal(0, 0.15, n), 0.01, 0.99)
    rfm = rng.uniform(0, 1, n) + 0.3 * y
    orders = rng.poisson(1.5, n).astype(float)
    predictions = {
        "churn": pd.DataFrame({"y_true": y, "lightgbm": model, "rfm_heuristic": rfm}),
        "order_count": pd.DataFrame(
            {
                "y_true": orders,
                "lightgbm": orders * 0.8 + rng.uniform(0, 1, n),
                "bgnbd": rng.gamma(2.0, 0.7, n),
            }
        ),
    }
    scorecards = {
        "churn": {
            "lightgbm": {"roc_auc": 0.81, "pr_auc": 0.62, "brier": 0.15},
            "rfm_heuristic": {"roc_auc": 0.70, "pr_auc": 0.48, "brier": np.nan},
        },
        "order_count": scorecards_to_frame(
            {
                "lightgbm": evaluate(orders, predictions["order_count"]["lightgbm"], kind="count"),
                "bgnbd": evaluate(orders, predictions["order_count"]["bgnbd"], kind="count"),
            }
        ),
    }
    drivers = pd.DataFrame(
        {
            "feature": ["days_since_last_purchase", "overdue_ratio", "orders_90d", "revenue_365d"],
            "mean_abs_contribution": [0.42, 0.31, 0.12, 0.05],
        }
    )
    segments = ["champions", "loyal", "at risk", "hibernating <lost>"]
    m = 60
    radar = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in range(m)],
            "churn_probability": rng.uniform(0, 1, m),
            "repurchase_probability": rng.uniform(0, 1, m),
            "predicted_ltv": rng.gamma(2.0, 50.0, m),
            "value_if_retained": rng.gamma(2.0, 80.0, m),
            "net_revenue_all": rng.gamma(2.0, 150.0, m),
            "segment": [segments[i % 4] for i in range(m)],
            "lifecycle_stage": ["active", "at-risk", "new"] * 20,
            "reasons": [["38 days overdue against a usual 12-day rhythm", "2 orders in 90 days"]]
            * m,
            "action": ["win-back voucher"] * m,
        }
    )
    radar["value_at_risk"] = radar["churn_probability"] * radar["value_if_retained"]
    radar = radar.sort_values("value_at_risk", ascending=False, ignore_index=True)
    value_risk = pd.DataFrame(
        [[5, 3, 2], [8, 6, 4], [10, 12, 10]],
        index=pd.Index(["high", "medium", "low"], name="value"),
        columns=pd.Index(["low", "medium", "high"], name="risk"),
    )
    return {
        "as_of": AS_OF,
        "scorecards": scorecards,
        "predictions": predictions,
        "drivers": drivers,
        "radar": radar,
        "value_risk": value_risk,
        "events": _events(CURVE_ROWS),
        "curve_days": 40,
        "extras": report_extras(),
    }


def report_extras() -> dict:
    """Monitoring and a campaign read-out, as the outputs folder gives them (small, by hand)."""
    nan = float("nan")
    drift = pd.DataFrame({
        "column": ["days_since_last_purchase", "churn_probability", "lifecycle_stage",
                   "orders_90d"],
        "group": ["feature", "score", "segment", "feature"],
        "kind": ["numeric", "numeric", "categorical", "numeric"],
        "psi": [0.412, 0.263, 0.031, 0.018], "natural_psi": [0.051, 0.04, 0.02, 0.01],
        "js_distance": [0.21, 0.15, 0.05, 0.03],
        "missing_reference": [0.0, 0.0, 0.0, 0.1], "missing_current": [0.0, 0.0, 0.0, 0.1],
        "new_category_share": [nan, nan, 0.0, nan],
        "flagged": [True, True, False, False]})
    dates = ["2023-10-01", "2023-11-01", "2023-12-01"]
    history = pd.DataFrame({
        "scored_at": dates * 2, "evaluated_at": "2024-03-01", "model_version": "7",
        "task": "churn", "metric": ["roc_auc"] * 3 + ["precision_top10"] * 3,
        "realised": [0.78, 0.76, 0.71, 0.52, 0.5, 0.44],
        "estimated": [0.77, 0.77, 0.75, 0.5, 0.51, 0.49], "n_rows": [900, 950, 1010] * 2})
    campaigns = pd.DataFrame({
        "campaign_id": ["spring_sale", "vip_call"], "n_treatment": [1200, 300],
        "n_control": [1180, 320], "treatment_share": [0.504, 0.484],
        "srm_p_value": [0.68, 0.43], "srm": [False, False],
        "incremental_net_revenue": [8450.0, -120.0], "incremental_low": [1210.0, -900.0],
        "incremental_high": [15690.0, 660.0], "cost": [3000.0, 600.0], "roi": [1.82, -1.2]})
    effects = pd.DataFrame({
        "campaign_id": ["spring_sale"] * 3 + ["vip_call"] * 3,
        "metric": ["conversion", "orders", "net_revenue"] * 2,
        "treatment": [0.231, 0.31, 24.5, 0.4, 0.55, 41.0],
        "control": [0.187, 0.25, 17.4, 0.41, 0.56, 41.4],
        "difference": [0.044, 0.06, 7.1, -0.01, -0.01, -0.4],
        "low": [0.011, 0.01, 1.0, -0.09, -0.2, -3.0], "high": [0.077, 0.11, 13.2, 0.07, 0.18, 2.2],
        "p_value": [0.009, 0.02, 0.023, 0.8, 0.9, 0.76], "mde": [0.033, 0.05, 6.0, 0.11, 0.3, 9.0]})
    return {"monitoring": {"drift": drift, "history": history},
            "readout": {"campaigns": campaigns, "effects": effects,
                        "written": pd.Timestamp("2024-02-20")}}


# --- repurchase curve -----------------------------------------------------------------


def test_repurchase_curve_hand_computed():
    curve = repurchase_curve(_events(CURVE_ROWS), as_of=AS_OF, max_days=60).set_index("days")
    # observed days before AS_OF: a 60.6, b 41.7, c 5, d 56
    # second order gaps: a 10 (order o1 starts 10:00, o2 at 10:00 ten days later), c 1, b and d none
    assert curve.loc[0].tolist() == [4, 0, 0.0]
    assert curve.loc[1].tolist() == [4, 1, 0.25]  # c within 1 day
    assert curve.loc[9].tolist() == [3, 0, 0.0]  # c no longer observed for 9 days
    assert curve.loc[10].tolist() == [3, 1, pytest.approx(1 / 3)]  # a after exactly 10 days
    assert curve.loc[42].tolist() == [2, 1, 0.5]  # b drops out after 41.7 days
    assert curve.loc[57].tolist() == [1, 1, 1.0]  # only a remains
    assert list(curve.columns) == ["eligible_buyers", "repeat_buyers", "share"]
    assert str(curve["eligible_buyers"].dtype) == "int64"


def test_repurchase_curve_ignores_events_at_or_after_as_of():
    base = repurchase_curve(_events(CURVE_ROWS), as_of=AS_OF, max_days=30)
    later = CURVE_ROWS + [
        ("b", "2024-03-01 00:00", "purchase", 1.0, "o8"),
        ("e", "2024-03-02 00:00", "purchase", 1.0, "o9"),
    ]
    changed = [r for r in later if r[4] != "o7"]  # delete an event after the cut
    pd.testing.assert_frame_equal(repurchase_curve(_events(later), as_of=AS_OF, max_days=30), base)
    pd.testing.assert_frame_equal(
        repurchase_curve(_events(changed), as_of=AS_OF, max_days=30), base
    )


def test_repurchase_curve_matches_the_definition_on_a_synthetic_log():
    events, _ = make_event_log(300, "2023-01-01", "2024-01-01", random_state=5)
    as_of = pd.Timestamp("2023-09-15 12:00")
    curve = repurchase_curve(events, as_of=as_of, max_days=120).set_index("days")
    buys = events[(events["event_type"] == "purchase") & (events["timestamp"] < as_of)]
    orders = buys.groupby(["customer_id", "order_id"])["timestamp"].min().reset_index()
    per_customer = orders.sort_values("timestamp").groupby("customer_id")["timestamp"]
    first, second = per_customer.nth(0), per_customer.nth(1)
    first = first.set_axis(orders.loc[first.index, "customer_id"])
    second = second.set_axis(orders.loc[second.index, "customer_id"])
    observed = (as_of - first).dt.total_seconds() / 86400
    gap = ((second - first.reindex(second.index)).dt.total_seconds() / 86400).reindex(first.index)
    for n in (0, 1, 7, 30, 45, 90, 120):
        eligible = observed >= n
        assert curve.loc[n, "eligible_buyers"] == eligible.sum()
        assert curve.loc[n, "repeat_buyers"] == (eligible & (gap <= n)).sum()
    assert curve["eligible_buyers"].is_monotonic_decreasing
    assert curve.loc[90, "repeat_buyers"] > 10  # the check above compared real repeaters


def test_repurchase_curve_purchase_rows_without_order_id_are_orders():
    rows = [(*r[:4], None) if r[0] == "a" else r for r in CURVE_ROWS]
    curve = repurchase_curve(_events(rows), as_of=AS_OF, max_days=1).set_index("days")
    assert curve.loc[1, "repeat_buyers"] == 2  # a's rows five minutes apart are now two orders


def test_repurchase_curve_without_order_id_counts_each_purchase_row():
    rows = [r[:4] for r in CURVE_ROWS]
    frame, _ = read_events(
        pd.DataFrame(rows, columns=["customer_id", "timestamp", "event_type", "amount"])
    )
    curve = repurchase_curve(frame, as_of=AS_OF, max_days=1).set_index("days")
    # without order ids a's two rows five minutes apart are two orders: a and c within 1 day
    assert curve.loc[0, "repeat_buyers"] == 0
    assert curve.loc[1, "repeat_buyers"] == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"as_of": None}, ValueError, "as_of: is required"),
        ({"as_of": "not a date"}, ValueError, "as_of: cannot read"),
        ({"as_of": ["2024-01-01"]}, TypeError, "as_of: expected one date"),
        ({"as_of": pd.Timestamp("2024-03-01", tz="UTC")}, ValueError, "timezone-aware"),
        ({"as_of": AS_OF, "max_days": -1}, ValueError, "max_days must be a non-negative integer"),
    ],
)
def test_repurchase_curve_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        repurchase_curve(_events(CURVE_ROWS), **kwargs)


def test_repurchase_curve_refuses_a_raw_frame():
    raw = pd.DataFrame(
        {"customer_id": [1], "timestamp": ["2024-01-01"], "event_type": ["purchase"]}
    )
    with pytest.raises(SchemaError, match="amount"):
        repurchase_curve(raw, as_of=AS_OF)


# --- gain and calibration --------------------------------------------------------------


def test_gain_curve_binary_and_amounts():
    g = gain_curve([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8])
    assert g["gain"].tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert g["lift"].tolist()[1:] == [2.0, 2.0, pytest.approx(4 / 3), 1.0]
    amounts = gain_curve([10.0, 0.0, 30.0], [1, 3, 2])
    assert amounts["gain"].tolist() == [0.0, 0.0, 0.75, 1.0]


@pytest.mark.parametrize(
    ("y", "s", "match"),
    [
        ([1, 0], [0.5], "same length"),
        ([], [], "empty"),
        ([1, np.nan], [0.2, 0.3], "NaN"),
        ([-1, 2], [0.2, 0.3], "non-negative"),
    ],
)
def test_gain_curve_bad_input(y, s, match):
    with pytest.raises(ValueError, match=match):
        gain_curve(y, s)


def test_calibration_table_equal_bins():
    y = [0, 0, 0, 1, 1, 1]
    s = [0.6, 0.1, 0.2, 0.9, 0.3, 0.8]
    t = calibration_table(y, s, n_bins=3)
    assert t["n"].tolist() == [2.0, 2.0, 2.0]
    assert t["mean_predicted"].tolist() == pytest.approx([0.15, 0.45, 0.85])
    assert t["mean_actual"].tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="n_bins"):
        calibration_table(y, s, n_bins=0)


# --- the page --------------------------------------------------------------------------


def test_report_has_every_section_and_plot():
    page = build_report(**report_inputs())
    ids = re.findall(r'<section id="([^"]+)"', page)
    assert ids == list(SECTION_IDS)
    plots = re.findall(r'<img class="plot" id="([^"]+)"[^>]*src="data:image/png;base64,', page)
    assert plots == list(EXPECTED_PLOTS)
    assert "Not included" not in page
    # self-contained: no reference to anything outside the file (the CSV link is opt-in)
    assert not re.search(r'(src|href)="(?!data:|#)', page)
    # one inline script (the radar's sorting and filtering), nothing loaded
    assert page.count("<script") == 1 and "<script>" in page and "<script src" not in page
    page = build_report(**report_inputs(), radar_csv="radar_2024-03-01.csv",
                        analytics_href="analytics_2024-03-01.html")
    assert re.findall(r'(?:src|href)="(?!data:|#)([^"]+)"', page) == [
        "analytics_2024-03-01.html", "radar_2024-03-01.csv"]
    assert "The whole list: <a href=\"radar_2024-03-01.csv\">" in page


def test_report_escapes_cell_values():
    inputs = report_inputs()
    inputs["radar"].loc[0, "action"] = "<script>alert(1)</script>"
    page = build_report(**inputs)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "hibernating &lt;lost&gt;" in page


def test_report_radar_rows_and_reasons():
    inputs = report_inputs()
    page = build_report(**{**inputs, "top_n": 5})
    radar_html = page.split('<section id="radar">')[1].split("</section>")[0]
    assert radar_html.count("<tr>") == 6  # header + 5 rows
    # reasons as a short list, one line each, the whole sentence on hover
    assert ('<ul><li title="38 days overdue against a usual 12-day rhythm">38 days overdue '
            'against a usual 12-day rhythm</li><li title="2 orders in 90 days">2 orders in 90 '
            "days</li></ul>") in radar_html
    top_id = inputs["radar"].sort_values("value_at_risk", ascending=False)["customer_id"].iloc[0]
    first_row = radar_html.split("<tbody>")[1].split("</tr>")[0]
    assert f'<td class="id" title="{top_id}">{top_id}</td>' in first_row
    assert "Top 5 of 60 customers, ranked by value at risk." in radar_html
    # fixed widths: one <col> per column, adding up to the table's width
    widths = [float(w) for w in re.findall(r'<col style="width:([\d.]+)%">', radar_html)]
    assert len(widths) == radar_html.split("<thead>")[1].count("<th") and \
        sum(widths) == pytest.approx(100, abs=0.1)
    # numbers sort by value, not by their text
    churn = inputs["radar"].sort_values("value_at_risk", ascending=False)["churn_probability"]
    assert f'data-v="{float(churn.iloc[0])!r}"' in first_row


def test_report_radar_keeps_the_radar_rank():
    inputs = report_inputs()
    radar = inputs["radar"].sort_values("churn_probability", ascending=False, ignore_index=True)
    radar["rank"] = range(1, len(radar) + 1)  # ranked by churn probability, not value at risk
    page = build_report(**{**inputs, "radar": radar.sample(frac=1, random_state=0), "top_n": 3})
    body = page.split('<section id="radar">')[1].split("<tbody>")[1].split("</tbody>")[0]
    shown = re.findall(r'<td class="id" title="(c\d{3})">', body)
    assert shown == radar["customer_id"].head(3).tolist()
    assert "in the radar&#x27;s order" in page


def test_report_radar_joins_reason_columns():
    inputs = report_inputs()
    radar = inputs["radar"].drop(columns="reasons")
    radar["reason_1"] = "38 days overdue"
    radar["reason_2"] = None
    radar["reason_3"] = "spend falling"
    page = build_report(**{**inputs, "radar": radar})
    radar_html = page.split('<section id="radar">')[1].split("</section>")[0]
    assert ('<ul><li title="38 days overdue">38 days overdue</li><li title="spend falling">'
            "spend falling</li></ul>") in radar_html
    assert "reason_1" not in radar_html


def test_report_segment_table_sums():
    inputs = report_inputs()
    page = build_report(**inputs)
    seg_html = page.split('<section id="segments">')[1].split("</section>")[0]
    counts = inputs["radar"]["segment"].value_counts()
    assert all(f'<td class="num">{n}</td>' in seg_html for n in counts)
    assert "value at risk (sum)" in seg_html and "value if retained (sum)" in seg_html
    row = seg_html.split("<th>champions</th>")[1].split("</tr>")[0]
    want = inputs["radar"].loc[inputs["radar"]["segment"] == "champions", "value_if_retained"]
    assert f"<td class=\"num\">{want.sum():,.0f}</td>" in row


def test_report_radar_shows_net_value_columns():
    page = build_report(**report_inputs())
    radar_html = page.split('<section id="radar">')[1].split("</section>")[0]
    head = radar_html.split("<thead>")[1].split("</thead>")[0]
    assert re.findall(r'<th scope="col">([^<]+)</th>', head)[:5] == [
        "customer", "churn risk", "value at risk", "value if retained", "segment"]
    assert "Money is net of refunds" in radar_html
    # a CRM reader's columns fit a laptop screen: the value x risk cell and the repurchase
    # probability stay in the CSV; the action is always shown
    inputs = report_inputs()
    radar = inputs["radar"].assign(repurchase_probability=0.2, value_risk="high value, high risk",
                                   action="VIP care")
    page = build_report(**{**inputs, "radar": radar})
    head = page.split('<section id="radar">')[1].split("<thead>")[1].split("</thead>")[0]
    shown = re.findall(r'<th scope="col">([^<]+)</th>', head)
    assert shown[-2:] == ["why (top reasons)", "recommended action"]
    assert not {"value risk", "repurchase probability", "predicted LTV"} & set(shown)


def test_an_empty_radar_is_one_line_not_broken_plots():
    inputs = report_inputs()
    empty = inputs["radar"].head(0)
    page = build_report(**{**inputs, "radar": empty, "value_risk": None})
    assert "nan%" not in page and ">nan<" not in page
    for sid in ("segments", "value-risk", "radar"):
        html = page.split(f'<section id="{sid}">')[1].split("</section>")[0]
        assert "The radar is empty: no customer bought in the year before 2024-03-01" in html
        assert "<img" not in html and "<table" not in html
    summary = page.split('<section id="summary">')[1].split("</section>")[0]
    assert "Customers on the radar<b>0</b>" in summary
    assert "Mean churn probability" not in summary and "Value at risk" not in summary


def test_report_shows_what_training_chose_and_the_promotion_gate():
    choice = {"churn": {"chosen": "blend", "metric": "roc_auc",
                        "reason": "blend kept: no other scorer is ahead beyond noise",
                        "validation": {"lightgbm": 0.8012, "rfm": 0.7, "blend": 0.8123}}}
    decision = {"promoted": False, "reason": "challenger is not better: mean change -0.0100",
                "baseline_gate": {"passed": True, "reason": "churn: model 0.81 >= rfm 0.70"}}
    page = build_report(**report_inputs(), choice=choice, decision=decision)
    card = page.split('<section id="scorecard">')[1].split("</section>")[0]
    assert ("<p>Ships <b>blend</b>: blend kept: no other scorer is ahead beyond noise. "
            "Validation roc_auc: lightgbm 0.8012, rfm 0.7, blend 0.8123.</p>") in card
    assert "<b>Promotion:</b> not promoted: challenger is not better" in card
    assert "<b>Baseline gate:</b> passed: churn: model 0.81" in card
    # a task without a choice (hand-made scorecards) shows its table only
    assert card.count("<p>Ships") == 1 and card.count("<table>") == 2


def test_report_scorecard_puts_scorers_side_by_side():
    page = build_report(**report_inputs())
    card_html = page.split('<section id="scorecard">')[1].split("</section>")[0]
    assert "<th>metric</th><th>lightgbm</th><th>rfm_heuristic</th>" in card_html
    assert "<th>metric</th><th>lightgbm</th><th>bgnbd</th>" in card_html
    assert "<th>spearman</th>" in card_html and "<th>roc_auc</th>" in card_html
    # every known scorer column is named in words; P(alive) is marked as not a churn ranking
    page = build_report(as_of="2024-01-01",
                        scorecards={"churn": {"model": {"roc_auc": 0.8}, "bgnbd": {"roc_auc": 0.7},
                                              "bgnbd_events_p_alive": {"roc_auc": 0.38}}})
    legend = page.split('<section id="scorecard">')[1].split("<table>")[0]
    assert "<code>bgnbd</code>: BG/NBD (1 - P(repurchase in the horizon) for churn)" in legend
    assert "<code>bgnbd_events_p_alive</code>: 1 - BG/NBD&#x27;s P(alive), for completeness only" \
        in legend and "the baseline gate does not use it" in legend
    assert "<code>hybrid</code>" not in legend  # only the scorers shown


def test_value_risk_counted_from_radar_when_not_given():
    inputs = {**report_inputs(), "value_risk": None}
    radar = inputs["radar"]
    page = build_report(**inputs)
    vr_html = page.split('<section id="value-risk">')[1].split("</section>")[0]
    assert 'id="plot-value-risk-heatmap"' in vr_html
    tiers = value_risk_matrix(radar["value_if_retained"], radar["churn_probability"])
    high_high = int(((tiers["value_tier"] == "high") & (tiers["risk_tier"] == "high")).sum())
    row = vr_html.split("<th>high</th><td")[1].split("</tr>")[0]  # first row: high value
    cells = re.findall(r">(\d+)</td>", "<td" + row)
    assert len(cells) == 3 and int(cells[2]) == high_high  # columns low, medium, high risk
    assert sum(int(c) for c in re.findall(r'<td class="num">(\d+)</td>', vr_html)) == len(radar)


def test_report_without_inputs_names_missing_arguments():
    page = build_report(as_of="2024-03-01")
    assert re.findall(r'<section id="([^"]+)"', page) == list(SECTION_IDS)
    for arg in ("scorecards", "predictions", "drivers", "radar", "value_risk", "events"):
        assert f"pass <code>{arg}</code>" in page


@pytest.mark.parametrize(
    ("override", "error", "match"),
    [
        ({"predictions": {"churn": pd.DataFrame({"score": [0.1]})}}, SchemaError, "y_true"),
        (
            {"predictions": {"churn": pd.DataFrame({"y_true": [1]})}},
            SchemaError,
            "no numeric score",
        ),
        ({"scorecards": {"churn": [0.8]}}, TypeError, r"scorecards\['churn'\]"),
        ({"scorecards": {"churn": {"lightgbm": 0.8}}}, TypeError, r"\['lightgbm'\] must be"),
        ({"drivers": pd.DataFrame({"x": [1.0]})}, SchemaError, "text column"),
        ({"value_risk": pd.DataFrame({"low": ["many"]})}, ValueError, "value_risk cells"),
        ({"top_n": 0}, ValueError, "top_n"),
        ({"as_of": None}, ValueError, "as_of: is required"),
    ],
)
def test_report_bad_inputs(override, error, match):
    with pytest.raises(error, match=match):
        build_report(**{**report_inputs(), **override})


def test_write_report_is_atomic(tmp_path):
    target = tmp_path / "out" / "report.html"
    written = write_report(target, **report_inputs())
    assert written == target
    first = target.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="top_n"):
        write_report(target, **{**report_inputs(), "top_n": -1})
    assert target.read_text(encoding="utf-8") == first  # a failed build leaves the old file
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]  # no temp file left
    with pytest.raises(ValueError, match=".html suffix"):
        write_report(tmp_path / "report.txt", as_of=AS_OF)


def test_report_reads_the_radar_module_output():
    features = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "cutoff": AS_OF,
            "days_since_last_purchase": [10.0, 200, 300, 40],
            "days_since_first_purchase": [300.0, 500, 800, 60],
            "orders_all": [6.0, 3, 2, 1],
            "revenue_all": [600.0, 90, 40, 25],
            "gap_median_days": [40.0, 100, 200, np.nan],
        }
    )
    scores = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "churn_probability": [0.1, 0.8, 0.9, 0.5],
            "predicted_ltv": [500.0, 100, 10, 30],
        }
    )
    radar = radar_from_scores(scores, features=features, as_of=AS_OF, cluster_k=1)
    page = build_report(as_of=AS_OF, radar=radar)
    radar_html = page.split('<section id="radar">')[1].split("</section>")[0]
    body = radar_html.split("<tbody>")[1]
    assert [re.search(r'<td class="id" title="(\w)">', row).group(1)
            for row in body.split("</tr>")[:-1]] == (
        radar["customer_id"].tolist()
    )
    vr_html = page.split('<section id="value-risk">')[1].split("</section>")[0]
    assert "Not included" not in vr_html
    assert sum(int(c) for c in re.findall(r'<td class="num">(\d+)</td>', vr_html)) == len(radar)


@pytest.fixture(scope="module")
def trained():
    events, _truth = make_event_log(800, "2022-01-01", "2024-01-01", random_state=3)
    horizons = {"churn": 90, "ltv": 90}
    cutoffs = propose_cutoffs(events, horizon_days=90, n=10)
    training = build_training_set(events, cutoffs=cutoffs, tasks=list(horizons), horizons=horizons)
    bundle = train_models(
        training, tasks=list(horizons), horizons=horizons, n_estimators=60, random_state=0,
        minimums=FEW,
    )
    return events, bundle


def test_bundle_report_inputs_rebuild_the_test_rows(trained, tmp_path):
    events, bundle = trained
    inputs = bundle_report_inputs(bundle, events, as_of="2024-01-01")
    assert set(inputs["predictions"]) == {"churn", "ltv"}
    churn = inputs["predictions"]["churn"]
    test_cutoff = bundle.cutoffs["churn"]["test"]
    labels = make_labels(events, cutoffs=[test_cutoff], task="churn", horizon_days=90)
    assert len(churn) == len(labels)
    assert churn["y_true"].sum() == labels["churn"].sum()
    # the model and every baseline of the scorecard, on the rows it was computed on
    assert list(churn.columns) == ["y_true", "model", "rfm", "bgnbd"]
    for scorer in ("model", "rfm", "bgnbd"):
        card = evaluate(churn["y_true"], churn[scorer], kind="classification")
        assert card["roc_auc"] == pytest.approx(bundle.scorecards["churn"][scorer]["roc_auc"])
    assert churn.attrs["calibrated"] == ["model", "bgnbd"]  # the RFM rule is a ranking
    assert list(inputs["predictions"]["ltv"].columns) == ["y_true", "model", "run_rate",
                                                          "bgnbd_gg"]
    assert inputs["choice"]["churn"]["chosen"] == bundle.choice["churn"]["chosen"]
    assert set(inputs["drivers"]) == {"churn", "ltv"}
    assert inputs["drivers"]["churn"]["feature"].isin(bundle.feature_names).all()
    assert inputs["radar"]["cutoff"].eq(pd.Timestamp("2024-01-01")).all()

    # every baseline of each scorecard has its scores, so the lift and calibration plots show it
    for task, cards in bundle.scorecards.items():
        baselines = set(cards) - {"model", "lightgbm", "hybrid", "blend"}
        assert baselines and baselines <= set(inputs["predictions"][task].columns), task
    assert inputs["model"]["tasks"]["churn"]["test_rows"] == len(churn)
    assert inputs["model"]["tasks"]["churn"]["test_cutoff"] == test_cutoff
    assert set(inputs["drivers"]["churn"]["direction"]) <= {
        "higher raises score", "lower raises score", "mixed"}
    # an outputs folder with no monitoring yet and no read-out: one line each, nothing missing
    page = build_report(**inputs, extras=output_report_inputs(tmp_path, as_of="2024-01-01"))
    assert "Not included" not in page and "without scores to plot here" not in page
    assert re.findall(r'<section id="([^"]+)"', page) == list(SECTION_IDS)
    assert 'id="plot-calibration-ltv"' in page and 'id="plot-drivers-churn"' in page
    assert f"<p>Ships <b>{bundle.choice['churn']['chosen']}</b>" in page


def test_bundle_report_inputs_refuses_other_objects(trained):
    events, _bundle = trained
    with pytest.raises(TypeError, match="expected a ModelBundle"):
        bundle_report_inputs(object(), events, as_of="2024-01-01")


@pytest.mark.slow
def test_run_report_for_the_champion(tmp_path):
    from repurchase_ml.config import load_settings
    from repurchase_ml.jobs import run_retrain, run_score

    settings = load_settings(
        overrides={
            "project_dir": str(tmp_path / "project"),
            "data": {
                "on_invalid": "drop",
                "synthetic": {"n_customers": 400, "start": "2022-01-01", "end": "2024-01-01"},
            },
            "tasks": ["churn", "ltv"],
            "horizons": {"ltv": 90},
            "cutoffs": {"n": 10},
            "baselines": False,
            "tuning": {"n_estimators": 50},
            "training": {"minimums": dataclasses.asdict(FEW)},
        },
        environ={},
    )
    assert run_retrain(settings).promoted
    with pytest.raises(FileNotFoundError, match="repurchase-ml score --as-of 2024-01-01"):
        run_report(settings, as_of="2024-01-01")
    result = run_score(settings, "2024-01-01")
    scored_report = settings.output_path() / "report_2024-01-01.html"
    assert str(scored_report) in result.paths  # the score job writes the report too
    radar_file = settings.output_path() / "radar_2024-01-01.parquet"
    stamp = radar_file.stat().st_mtime_ns

    # a campaign read-out written since (the files `repurchase-ml readout` writes)
    from repurchase_ml._io import write_frame_atomic

    readout = report_extras()["readout"]
    for name in ("campaigns", "effects"):
        write_frame_atomic(readout[name],
                           settings.output_path() / "readout" / f"readout_{name}.parquet")
    path = run_report(settings, as_of="2024-01-01", path=tmp_path / "copy.html")
    assert path == tmp_path / "copy.html"
    page = path.read_text(encoding="utf-8")
    assert "2 campaign(s)" in page and "<th>spring_sale</th>" in page
    assert "No campaign read-out yet" in scored_report.read_text(encoding="utf-8")
    # the drift the score job wrote for the date, read back from the outputs folder
    section = 'id="monitoring"><h2>Drift and realised performance</h2>\n<h3>'
    assert section in page
    assert page.split(section)[1].split("<h3>")[1] == scored_report.read_text(
        encoding="utf-8").split(section)[1].split("<h3>")[1]
    assert "repurchase_ml version 1: customers at 2024-01-01" in page
    assert re.findall(r'<section id="([^"]+)"', page) == list(SECTION_IDS)
    assert "Not included" not in page
    radar = pd.read_parquet(radar_file)
    assert f"of {len(radar):,} customers" in page  # the list the score job wrote
    # why this model: the champion run's promotion and gate decisions, and each task's choice
    assert "<b>Promotion:</b> promoted to champion" in page
    assert "<b>Baseline gate:</b>" in page and page.count("<p>Ships <b>") == 2
    assert "<b>Promotion:</b>" in scored_report.read_text(encoding="utf-8")
    assert radar_file.stat().st_mtime_ns == stamp  # the radar is read, not rescored
    assert run_report(settings, as_of="2024-01-01") == scored_report
    assert "repurchase_ml version 1" in scored_report.read_text(encoding="utf-8")
    assert 'The whole list: <a href="radar_2024-01-01.csv">' in page  # the CSV beside it
    assert "model repurchase_ml version 1" in page.split("</header>")[0]
    # the same report rebuilt in Chinese with yuan, from the report settings
    zh = settings.model_copy(update={"report": settings.report.model_copy(
        update={"language": "zh", "currency": "\u00a5"})})
    page = run_report(zh, as_of="2024-01-01", path=tmp_path / "zh.html").read_text("utf-8")
    assert page.startswith('<!DOCTYPE html>\n<html lang="zh-CN">')
    assert "<title>repurchase_ml 第 1 版模型：2024-01-01 的用户</title>" in page
    assert "流失预警名单" in page and "潜在流失金额（净额合计）<b>\u00a5" in page


def test_cli_report_without_a_scored_date_says_to_score_first(tmp_path):
    from typer.testing import CliRunner

    from repurchase_ml.cli import app

    result = CliRunner().invoke(
        app, ["report", "--as-of", "2024-01-01", "--project-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "repurchase-ml score --as-of 2024-01-01" in " ".join(result.output.split())
    assert not (tmp_path / "outputs" / "report_2024-01-01.html").exists()


def test_bundle_report_inputs_on_a_sample_are_deterministic(trained, tmp_path):
    from repurchase_ml.explain import contributions, driver_ranking
    from repurchase_ml.features import build_features

    events, bundle = trained
    kwargs = {"as_of": "2024-01-01", "sample_rows": 300, "random_state": 1}
    one = bundle_report_inputs(bundle, events, **kwargs)
    kwargs["radar"] = one["radar"]  # the radar does not depend on the sample
    two = bundle_report_inputs(bundle, events, **kwargs)
    whole = bundle_report_inputs(bundle, events, as_of="2024-01-01", sample_rows=None,
                                 radar=one["radar"])
    for task in ("churn", "ltv"):
        pd.testing.assert_frame_equal(one["predictions"][task], two["predictions"][task])
        pd.testing.assert_frame_equal(one["drivers"][task], two["drivers"][task])
        assert 0 < len(one["predictions"][task]) < len(whole["predictions"][task])
    # the counts come from training, not from the sample
    assert one["model"] == whole["model"] and one["scorecards"] == whole["scorecards"]
    extras = output_report_inputs(tmp_path, as_of="2024-01-01")
    pages = [re.sub(r"generated [0-9-]+ [0-9:]+ UTC", "", build_report(**inputs, extras=extras))
             for inputs in (one, two)]  # the same page but for the minute it was drawn
    assert pages[0] == pages[1]
    # another seed, other customers
    from repurchase_ml._frames import sample_ids

    assert not sample_ids(events["customer_id"], 300, random_state=2).equals(
        sample_ids(events["customer_id"], 300, random_state=1))

    # the caller's feature table at as_of: the drivers of a seeded sample of its rows
    features = build_features(events, cutoffs=["2024-01-01"])
    given = bundle_report_inputs(bundle, events, features=features, **kwargs)
    X = features[bundle.feature_names].sample(300, random_state=1).sort_index()
    want = driver_ranking(contributions(bundle.models["churn"], X), X)
    pd.testing.assert_frame_equal(given["drivers"]["churn"], want[list(given["drivers"]["churn"])])
    with pytest.raises(ValueError, match="features: expected the feature table at as_of 2024-01-01"):
        bundle_report_inputs(bundle, events, features=features.assign(
            cutoff=pd.Timestamp("2023-12-01")), **kwargs)
