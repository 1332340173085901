"""The report as its readers need it: what it speaks for, warnings, drivers in words,
every baseline, readable colours, and the same page in Chinese."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from test_report import AS_OF, report_extras, report_inputs

from repurchase_ml.models.evaluate import Scorecard
from repurchase_ml.report import SECTION_IDS, build_report
from repurchase_ml.report.plots import HEATMAP, contrast_ratio, text_colour


def _section(page: str, sid: str) -> str:
    return page.split(f'<section id="{sid}">')[1].split("</section>")[0]


MODEL = {
    "name": "repurchase_ml", "version": 7,
    "tasks": {
        "churn": {"horizon_days": 90, "test_cutoff": pd.Timestamp("2023-10-01"), "test_rows": 3120,
                  "train_cutoffs": [pd.Timestamp("2023-01-01"), pd.Timestamp("2023-04-01")]},
        "second_purchase": {"horizon_days": 30, "test_cutoff": pd.Timestamp("2023-11-01"),
                            "test_rows": 10, "train_cutoffs": [pd.Timestamp("2023-02-01")]},
    },
}


def test_summary_states_what_the_report_speaks_for():
    page = build_report(as_of=AS_OF, model=MODEL)
    header = page.split("<header>")[1].split("</header>")[0]
    assert "As of 2024-03-01" in header and "model repurchase_ml version 7" in header
    summary = _section(page, "summary")
    rows = re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>"
                      r"<td[^>]*>([^<]*)</td></tr>", summary)
    assert rows == [
        ("Churn", "90 days", "2023-01-01 to 2023-04-01 (2 cutoffs)", "2023-10-01", "3,120"),
        ("Second purchase", "30 days", "2023-02-01 to 2023-02-01 (1 cutoffs)", "2023-11-01",
         "10 \u26a0"),
    ]


def test_a_scorecard_on_few_test_rows_warns_where_it_is_read():
    cards = {"second_purchase": {
        "model": Scorecard("classification", 10, {"roc_auc": 0.9}),
        "rfm": Scorecard("classification", 10, {"roc_auc": 0.6})},
        "churn": {"model": Scorecard("classification", 3120, {"roc_auc": 0.8})}}
    page = build_report(as_of=AS_OF, scorecards=cards)
    warning = ("Second purchase: tested on only 10 customers (fewer than 500); read its metrics "
               "as rough indications, not proof.")
    for sid in ("summary", "scorecard"):
        html = _section(page, sid)
        assert html.count('<p class="warn" role="alert">') == 1 and warning in html
    assert build_report(as_of=AS_OF, scorecards=cards, min_test_rows=10).count('class="warn"') == 0
    zh = build_report(as_of=AS_OF, scorecards=cards, language="zh")
    assert "首单后二次购买：仅用 10 位用户做测试（少于 500 位）" in _section(zh, "scorecard")


def test_drivers_in_words_with_their_direction():
    drivers = {"churn": pd.DataFrame({
        "feature": ["days_since_last_purchase", "orders_90d", "weekend_share"],
        "mean_abs_contribution": [0.6, 0.3, 0.1],
        "direction": ["higher raises score", "lower raises score", "mixed"]})}
    html = _section(build_report(as_of=AS_OF, drivers=drivers), "drivers")
    items = re.findall(r"<li>.*?</li>", html)
    assert "<b>days since the last order</b> \u2014 higher values raise the churn risk" in items[0]
    assert "<b>orders in the last 90 days</b> \u2014 higher values lower the churn risk" in items[1]
    assert "no single direction for the churn risk" in items[2] and "(10%," in items[2]
    assert 'class="up"' in items[0] and 'class="down"' in items[1]
    zh = _section(build_report(as_of=AS_OF, drivers=drivers, language="zh"), "drivers")
    assert "<b>距上次下单天数</b> \u2014 数值越高，流失风险越高" in zh
    assert "<b>近 90 天订单数</b> \u2014 数值越高，流失风险越低" in zh


def test_a_scorecard_column_without_scores_is_named_under_the_plots():
    inputs = report_inputs()
    cards = {"churn": {"lightgbm": {"roc_auc": 0.8}, "rfm_heuristic": {"roc_auc": 0.7},
                       "bgnbd": {"roc_auc": 0.72}}}
    page = build_report(as_of=AS_OF, scorecards=cards, predictions={
        "churn": inputs["predictions"]["churn"]})
    for sid in ("lift", "calibration"):
        assert "In the scorecard but without scores to plot here: bgnbd." in _section(page, sid)


@pytest.mark.parametrize("level", np.linspace(0.0, 1.0, 41))
def test_heatmap_text_is_readable_on_every_cell(level):
    from matplotlib import colormaps

    cell = colormaps[HEATMAP](level)
    ink = (0, 0, 0) if text_colour(cell) == "black" else (1, 1, 1)
    assert contrast_ratio(cell, ink) >= 4.5  # WCAG AA for normal text


def test_contrast_ratio_matches_wcag():
    assert contrast_ratio((0, 0, 0), (1, 1, 1)) == pytest.approx(21.0)
    assert contrast_ratio((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) == pytest.approx(1.0)


def test_an_empty_radar_is_one_line_in_either_language():
    empty = report_inputs()["radar"].head(0)
    for language, line in (("en", "The radar is empty"), ("zh", "预警名单为空")):
        page = build_report(as_of=AS_OF, radar=empty, language=language)
        for sid in ("segments", "value-risk", "radar"):
            html = _section(page, sid)
            assert html.count("<p") == 1 and line in html and "<img" not in html
        assert "<script" not in page  # nothing to sort


def test_the_whole_report_in_chinese_with_yuan():
    inputs = report_inputs()
    inputs["radar"]["action_id"] = "win_back_coupon"
    page = build_report(**inputs, language="zh", currency="\u00a5", model=MODEL)
    assert page.startswith('<!DOCTYPE html>\n<html lang="zh-CN">')
    titles = re.findall(r'<section id="[^"]+"><h2>([^<]+)</h2>', page)
    assert titles == ["概览", "模型效果与基线对比", "数据漂移与模型实际效果", "累积增益（提升度）",
                      "分十组校准", "影响得分的主要因素", "用户分层：人数与价值", "价值 × 风险矩阵",
                      "复购曲线", "营销活动复盘（实验组对比对照组）", "流失预警名单"]
    assert len(titles) == len(SECTION_IDS)
    radar = _section(page, "radar")
    assert "共 60 位用户，显示前 25 位" in radar and "挽回优惠券：7 天内有效" in radar
    assert "<td>核心价值用户</td>" in radar and "<td>新客</td>" in radar
    money = re.findall(r'<td class="num" data-v="[^"]+">(\u00a5[\d,.]+)</td>', radar)
    assert len(money) == 2 * 25  # value at risk and value if retained on every row
    summary = _section(page, "summary")
    assert "潜在流失金额（净额合计）<b>\u00a5" in summary
    # no English text of the page's own is left (data such as reasons and codes aside)
    own = re.sub(r"<(script|style)>.*?</\1>|<[^>]+>|<code>[^<]*</code>", " ", page, flags=re.S)
    english = set(re.findall(r"\b[a-z]{4,}\b", own)) - {
        "lightgbm", "bgnbd", "heuristic", "days", "overdue", "against", "usual", "rhythm",
        "orders", "voucher", "hibernating", "lost", "repurchase", "brier", "spearman",
        "normalized", "gini", "total", "actual", "predicted", "error", "mean", "rmse",
        "lift", "risk"}  # lift@5%: a metric name; "at-risk": a stage of the test data
    assert english == set(), sorted(english)


def test_money_in_wan():
    radar = report_inputs()["radar"].assign(value_at_risk=25_000.0)
    page = build_report(as_of=AS_OF, radar=radar, language="zh", currency="\u00a5",
                        number_style="wan")
    assert "\u00a52.5万" in _section(page, "radar")
    assert "\u00a5150.0万" in _section(page, "summary")  # 60 x 25,000


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"language": "fr"}, "language: expected one of en, zh, got 'fr'"),
    ({"number_style": "lakh"}, "number_style: expected one of grouped, wan"),
    ({"currency": "dollars!"}, "currency: expected a short symbol"),
])
def test_bad_language_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_report(as_of=AS_OF, **kwargs)


# --- monitoring and the campaign read-out ------------------------------------------------


def _rows(html: str) -> list[list[str]]:
    """Each body row of the section's tables as its cells' texts."""
    body = "".join(re.findall(r"<tbody>(.*?)</tbody>", html, flags=re.S))
    return [re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", row)
            for row in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)]


def test_monitoring_shows_the_flagged_columns_and_the_latest_realised_values():
    extras = report_extras()
    history = extras["monitoring"]["history"]
    # a metric on another scale (a count) stays in the history file, out of the plot and table
    more = pd.concat([history, history.head(1).assign(metric="radar_k", realised=15.0)])
    page = build_report(as_of=AS_OF, extras={**extras, "monitoring": {
        "drift": extras["monitoring"]["drift"], "history": more}})
    html = _section(page, "monitoring")
    assert "radar_k" not in html and "performance_history.csv" in html
    assert "2 of 4 monitored columns drifted at 2024-03-01" in html
    rows = _rows(html)
    drift = extras["monitoring"]["drift"]
    flagged = drift[drift["flagged"]]
    # one row per flagged column, its values as given: PSI, natural PSI, JS, missing shares
    assert [r[0] for r in rows[:2]] == flagged["column"].tolist()
    assert rows[0][2:9] == ["model input", "0.412", "0.051", "0.210", "0.0%", "0.0%", ""]
    assert rows[1][2:4] == ["score", "0.263"]
    # the realised history: the latest date per metric, realised beside the estimate
    assert rows[2:] == [["precision_top10", "2023-12-01", "0.440", "0.490", "1,010"],
                        ["roc_auc", "2023-12-01", "0.710", "0.750", "1,010"]]
    assert 'id="plot-performance-churn"' in html
    zh = _section(build_report(as_of=AS_OF, extras=extras, language="zh"), "monitoring")
    assert "共 4 个监控字段中有 2 个发生漂移" in zh and "<td>模型输入</td>" in zh
    assert "距上次购买天数" in zh or "days_since_last_purchase" in zh


@pytest.mark.parametrize("language", ["en", "zh"])
def test_monitoring_without_its_inputs_is_one_line_each(language):
    extras = report_extras()
    quiet = extras["monitoring"]["drift"].assign(flagged=False)
    cases = {
        # an old champion: no drift reference, no table; nothing evaluated yet
        "none": ({"drift": quiet.head(0), "history": extras["monitoring"]["history"].head(0)},
                 {"en": ("No drift check for 2024-03-01", "No realised performance yet"),
                  "zh": ("2024-03-01 没有漂移检查", "暂无实际效果")}),
        "quiet": ({"drift": quiet, "history": extras["monitoring"]["history"].head(0)},
                  {"en": ("No drift flagged at 2024-03-01: all 4 monitored columns",
                          "No realised performance yet"),
                   "zh": ("2024-03-01 未发现漂移：4 个监控字段", "暂无实际效果")}),
    }
    for given, lines in cases.values():
        html = _section(build_report(as_of=AS_OF, extras={"monitoring": given},
                                     language=language), "monitoring")
        assert html.count("<p") == 2 and "<table" not in html and "<img" not in html
        assert all(line in html for line in lines[language]), html


def test_campaign_readout_shows_the_newest_readout_in_the_readers_words():
    extras = report_extras()
    page = build_report(as_of=AS_OF, extras=extras, currency="$")
    html = _section(page, "campaign-readout")
    assert "The newest read-out (2024-02-20): 2 campaign(s)" in html
    rows = _rows(html)
    assert rows[0] == ["spring_sale", "1,200", "1,180", "50.4%", "0.68", "$8,450", "$1,210",
                       "$15,690", "$3,000", "1.82"]
    assert rows[1][:2] == ["vip_call", "300"] and rows[1][5] == "-$120"
    # effects: conversion in shares and percentage points, money per customer, orders as numbers
    assert rows[2] == ["spring_sale", "bought again (share)", "23.1%", "18.7%", "+4.4 pp",
                       "[+1.1, +7.7] pp", "0.009", "3.3 pp"]
    assert rows[4][1:6] == ["net revenue per customer", "$24.50", "$17.40", "+$7.10",
                            "[+$1.00, +$13.20]"]
    assert rows[3][4] == "+0.060" and rows[6][4] == "-0.010"
    assert 'role="alert"' not in html
    zh = _section(build_report(as_of=AS_OF, extras=extras, language="zh", currency="\u00a5"),
                  "campaign-readout")
    assert "最新复盘（2024-02-20）：共 2 个活动" in zh and "<td>复购率</td>" in zh
    assert "<td>[+1.1, +7.7] 个百分点</td>" in zh
    assert "<th>增量净收入</th>" in zh and "\u00a58,450" in zh


def test_campaign_readout_flags_a_sample_ratio_mismatch_and_degrades_to_one_line():
    extras = report_extras()
    readout = dict(extras["readout"])
    readout["campaigns"] = readout["campaigns"].assign(srm=[False, True], cost=float("nan"))
    html = _section(build_report(as_of=AS_OF, extras={"readout": readout}), "campaign-readout")
    assert html.count('role="alert"') == 1 and "Campaign vip_call: the group sizes" in html
    assert "no cost column, so ROI is not computed" in html
    for language, line in (("en", "No campaign read-out yet"), ("zh", "暂无营销活动复盘")):
        html = _section(build_report(as_of=AS_OF, language=language), "campaign-readout")
        assert html.count("<p") == 1 and line in html


def test_output_report_inputs_read_what_the_jobs_wrote(tmp_path):
    from repurchase_ml._io import write_frame_atomic
    from repurchase_ml.campaigns.readout import campaign_readout, write_readout
    from repurchase_ml.datasets import make_event_log
    from repurchase_ml.report import output_report_inputs

    extras = report_extras()
    drift = extras["monitoring"]["drift"]
    write_frame_atomic(drift, tmp_path / "drift_2024-03-01.parquet")
    write_frame_atomic(drift.assign(flagged=False), tmp_path / "drift_2024-02-01.parquet")
    write_frame_atomic(extras["monitoring"]["history"], tmp_path / "performance_history.parquet")
    events, _ = make_event_log(120, "2023-01-01", "2024-03-01", random_state=2)
    buyers = events.loc[events["timestamp"] < "2024-01-01", "customer_id"].unique()[:80]
    log = pd.DataFrame({"customer_id": buyers, "campaign_id": "winter",
                        "group": np.resize(["treatment", "control"], len(buyers)),
                        "sent_at": pd.Timestamp("2024-01-10")})
    readout = campaign_readout(log, events, window_days=30, by=())
    write_readout(readout, tmp_path / "readout")

    got = output_report_inputs(tmp_path, as_of="2024-03-01")
    # the drift of the report's date, not the newest or another day's
    assert got["monitoring"]["drift"]["flagged"].tolist() == drift["flagged"].tolist()
    assert got["monitoring"]["history"]["realised"].tolist() == \
        extras["monitoring"]["history"]["realised"].tolist()
    assert output_report_inputs(tmp_path, as_of="2024-01-01")["monitoring"]["drift"].empty
    html = _section(build_report(as_of=AS_OF, extras=got), "campaign-readout")
    treated = int(readout.campaigns["n_treatment"].iat[0])
    held_out = int(readout.campaigns["n_control"].iat[0])
    assert _rows(html)[0][:3] == ["winter", str(treated), str(held_out)]
    conversion = readout.effects.set_index("metric").loc["conversion"]
    assert f"{conversion['treatment']:.1%}" in html and f"{conversion['control']:.1%}" in html
