"""The message catalogues: the same keys and placeholders in every language, every code named,
reasons and actions in Chinese, and codes and column names that stay the same."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from repurchase_ml import i18n
from repurchase_ml.explain import describe_feature, feature_label
from repurchase_ml.features.spec import _TEMPLATES
from repurchase_ml.report import SECTION_IDS
from repurchase_ml.segments import (
    LIFECYCLE_STAGES,
    RFM_SEGMENT_RULES,
    ActionTable,
    recommend_actions,
)

OWN = "feature."  # Chinese feature descriptions; English ones live with the features


def _template_key(template) -> str:
    name = template.name
    return re.sub(rf"_{template.fixed_window}d(?=_|$)", "_{w}d", name) if \
        template.fixed_window else name


def test_catalogues_have_the_same_keys_and_placeholders():
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh")
    en_keys = set(en)
    zh_keys = {k for k in zh if not k.startswith(OWN)}
    assert sorted(en_keys - zh_keys) == [] and sorted(zh_keys - en_keys) == []
    differ = {k: (i18n.placeholders(en[k]), i18n.placeholders(zh[k])) for k in en
              if i18n.placeholders(en[k]) != i18n.placeholders(zh[k])}
    assert differ == {}
    assert len(en) > 200  # the whole report, reasons, actions, segments: not a stub


def test_every_template_fills_with_its_placeholders():
    for language in i18n.LANGUAGES:
        for key, template in i18n.catalogue(language).items():
            filled = i18n.text(key, language, **dict.fromkeys(i18n.placeholders(template), "X"))
            assert "{" not in filled and "}" not in filled, (language, key)


def test_every_feature_has_a_chinese_description():
    zh = {k[len(OWN):]: v for k, v in i18n.catalogue("zh").items() if k.startswith(OWN)}
    keys = [_template_key(t) for t in _TEMPLATES]
    assert sorted(set(keys) - set(zh)) == [] and sorted(set(zh) - set(keys)) == []
    for key, text in zh.items():
        assert i18n.placeholders(text) <= {"w"}, key
        assert not re.search(r"[a-z]{3,}", text), (key, text)  # Chinese, not English left over
    assert feature_label("carts_without_purchase_30d", "zh") == "近 30 天加购后未下单次数"
    assert feature_label("no_such_feature", "zh") == "no such feature"  # unknown: readable


def test_every_code_has_a_name_in_every_language():
    codes = {
        "segment": [*RFM_SEGMENT_RULES["segment"], "no purchase"],
        "lifecycle": list(LIFECYCLE_STAGES),
        "action": [r["action_id"] for r in ActionTable.default().rules] + ["none"],
        "report.section": list(SECTION_IDS),
        "task": ["churn", "repurchase", "second_purchase", "order_count", "ltv"],
        "score": ["churn", "repurchase", "second_purchase", "order_count", "ltv"],
    }
    for language in i18n.LANGUAGES:
        for kind, names in codes.items():
            missing = [n for n in names if not i18n.has(f"{kind}.{n}", language)]
            assert missing == [], (language, kind)


def test_label_and_text():
    assert i18n.label("segment", "can't lose", "zh") == "重要挽留用户"
    assert i18n.label("segment", "my own segment", "zh") == "my own segment"
    with pytest.raises(KeyError, match="no message 'report.nope' in the 'zh' catalogue"):
        i18n.text("report.nope", "zh")
    with pytest.raises(ValueError, match="language: expected one of en, zh, got 'de'"):
        i18n.catalogue("de")


@pytest.mark.parametrize(("style", "value", "money", "count"), [
    ("grouped", 1234567.891, "\u00a51,234,568", "1,234,568"),
    ("grouped", -42.5, "-\u00a542.50", "-42"),
    ("wan", 1234567.891, "\u00a5123.5万", "123.5万"),
    ("wan", 250_000_000.0, "\u00a52.5亿", "2.5亿"),
    ("wan", 9999.0, "\u00a59,999", "9,999"),
])
def test_formatter_numbers(style, value, money, count):
    f = i18n.Formatter("zh", currency="\u00a5", number_style=style)
    assert f.money(value) == money and f.count(value) == count
    assert f.money(float("nan")) == "" and f.share(0.256) == "25.6%"


# one feature of every unit and special case, as the radar writes them
CASES = [
    ("days_since_last_purchase", 38.0, None, {"gap_median_days": 12.0}),
    ("days_since_last_purchase", 38.0, 20.0, {}),
    ("overdue_ratio", 3.2, None, {"gap_median_days": 12.0, "days_since_last_purchase": 38.0}),
    ("days_until_expected_purchase", -9.0, None, {}),
    ("days_until_expected_purchase", 4.0, None, {}),
    ("orders_change_90d", -3.0, None, {"orders_90d": 0.0}),
    ("revenue_change_90d", -120.0, None, {"revenue_90d": 30.0}),
    ("orders_change_90d", -3.0, None, {}),
    ("interactions_change_30d", -14.0, None, {"views_30d": 0, "carts_30d": 0, "favorites_30d": 0}),
    ("days_since_first_purchase", 1.0, 300.0, {}),
    ("gap_std_days", 5.0, 20.0, {}),
    ("orders_90d", 0.0, 2.0, {}),
    ("orders_all", 5.0, 2.0, {}),
    ("net_revenue_90d", 0.0, 40.0, {}),
    ("aov_all", 35.5, 50.0, {}),
    ("refund_rate", 0.4, 0.0, {}),
    ("price_tier_all", 0.8, 1.0, {}),
    ("price_tier_drift_90d", -0.3, None, {"price_tier_90d": 0.7, "price_tier_all": 1.0}),
    ("price_tier_drift_90d", 0.3, None, {}),
    ("peak_hour", 23.0, 20.0, {}),
    ("monthly_order_slope", -0.4, 0.0, {}),
    ("view_to_purchase_rate", 0.02, 0.05, {}),
    ("gap_std_days", np.nan, None, {"orders_all": 1.0}),
    ("aov_90d", np.nan, None, {}),
]


@pytest.mark.parametrize(("name", "value", "typical", "row"), CASES)
def test_reasons_read_in_chinese(name, value, typical, row):
    en = describe_feature(name, value, typical=typical, row=row)
    zh = describe_feature(name, value, typical=typical, row=row, language="zh")
    assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[A-Za-z]{3,}", zh), zh
    # the same facts: every number the English sentence gives about the customer is in the
    # Chinese one (numbers inside the English feature description, "30-day", aside)
    numbers = set(re.findall(r"\d[\d,.:]*\d|\d", en)) - set(
        re.findall(r"\d[\d,.:]*\d|\d", feature_label(name)))
    assert numbers <= set(re.findall(r"\d[\d,.:]*\d|\d", zh)), (en, zh)


def test_reason_examples_in_chinese():
    assert describe_feature("orders_90d", 0, typical=2, language="zh") == \
        "近 90 天订单数为 0（通常为 2）"
    assert describe_feature("interactions_change_30d", -14, language="zh", row={
        "views_30d": 0, "carts_30d": 0, "favorites_30d": 0}) == \
        "近 30 天没有浏览、加购或收藏，之前 30 天为 14"
    assert describe_feature("gap_std_days", np.nan, row={"orders_all": 1}, language="zh") == \
        "目前只有一单，尚无固定购买节奏"


def test_actions_in_chinese_keep_their_ids():
    radar = pd.DataFrame({"segment": ["champions", "lost"], "lifecycle_stage": ["active", "churned"],
                          "value_tier": ["high", "low"], "risk_tier": ["low", "high"]})
    en, zh = recommend_actions(radar), recommend_actions(radar, language="zh")
    assert en["action_id"].tolist() == zh["action_id"].tolist() == ["nurture",
                                                                    "low_cost_reactivation"]
    assert en["action"].tolist() == [i18n.text("action.nurture"),
                                     i18n.text("action.low_cost_reactivation")]
    assert zh["action"].iloc[0] == "持续维护：发送感谢信、新品优先购；无需折扣"
    # a rule of the user's own keeps its own words; a row no rule matches says so
    own = ActionTable.from_frame(pd.DataFrame({"action_id": ["call"], "action": ["call them"],
                                               "segment": ["champions"]}))
    assert own.recommend(radar, language="zh")["action"].tolist() == ["call them", "无匹配规则"]
    with pytest.raises(ValueError, match="rule 0 needs a non-empty text 'action'"):
        ActionTable.from_frame(pd.DataFrame({"action_id": ["my_own"], "segment": ["lost"]}))


def test_report_settings_from_file_environment_and_errors():
    from repurchase_ml.config import ConfigError, load_settings

    settings = load_settings(environ={"REPURCHASE_ML_REPORT__LANGUAGE": "zh",
                                      "REPURCHASE_ML_REPORT__CURRENCY": "\u00a5"})
    assert settings.report.options() == {"language": "zh", "currency": "\u00a5",
                                         "number_style": "grouped", "top_n": 25}
    with pytest.raises(ConfigError, match=r"report.language: unknown 'cn'.*allowed: en, zh"):
        load_settings(overrides={"report": {"language": "cn"}}, environ={})
    with pytest.raises(ConfigError, match="did you mean 'wan'"):
        load_settings(overrides={"report": {"number_style": "wann"}}, environ={})


def test_the_radar_keeps_its_columns_and_codes_in_chinese():
    from repurchase_ml.radar import RADAR_COLUMNS, radar_from_scores

    as_of = pd.Timestamp("2024-03-01")
    features = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"], "cutoff": as_of,
        "days_since_last_purchase": [10.0, 200, 300, 40],
        "days_since_first_purchase": [300.0, 500, 800, 60],
        "orders_all": [6.0, 3, 2, 1], "revenue_all": [600.0, 90, 40, 25],
        "gap_median_days": [40.0, 100, 200, np.nan]})
    scores = pd.DataFrame({"customer_id": ["a", "b", "c", "d"],
                           "churn_probability": [0.1, 0.8, 0.9, 0.5],
                           "predicted_ltv": [500.0, 100, 10, 30]})
    en = radar_from_scores(scores, features=features, as_of=as_of, cluster_k=1)
    zh = radar_from_scores(scores, features=features, as_of=as_of, cluster_k=1, language="zh")
    assert list(zh.columns) == list(en.columns) == list(RADAR_COLUMNS)
    codes = ["customer_id", "segment", "lifecycle_stage", "action_id", "value_risk", "rank"]
    pd.testing.assert_frame_equal(zh[codes], en[codes])
    assert zh["action"].tolist() == [i18n.label("action", a, "zh") for a in en["action_id"]]
    assert zh["action"].tolist() != en["action"].tolist()


def test_analytics_figures_speak_the_page_language():
    from repurchase_ml.analytics.page import _in_language
    from repurchase_ml.analytics.plots import plot_segment_migration
    from repurchase_ml.report.plots import cjk_font

    table = pd.DataFrame({"from_segment": ["champions", "lost"], "to_segment": ["lost", "lost"],
                          "customers": [3, 5], "share_of_from": [1.0, 1.0]})
    english = plot_segment_migration(table)
    figure = _in_language(plot_segment_migration(table), "zh")
    words = ({figure.axes[0].get_title(), figure.axes[0].get_xlabel()}
             | {t.get_text() for t in figure.axes[0].get_yticklabels()})
    if cjk_font() is None:  # no Chinese glyphs installed: the figure keeps its English words
        assert figure.axes[0].get_title() == english.axes[0].get_title()
        return
    assert {"分层迁移", "现分层", "核心价值用户", "已流失用户"} <= words, words
    # the numbers in the cells stay as they are
    assert {t.get_text() for t in figure.axes[0].texts} == {t.get_text()
                                                            for t in english.axes[0].texts}
