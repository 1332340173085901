"""The analytics page: one self-contained HTML file (images inline, no external resources).

Every text a reader sees comes from the message catalogues
(:mod:`repurchase_ml.i18n`, ``analytics.*``), in English or Chinese; table
headers are translated there too, while the CSV and Parquet files keep the
column codes. Segment and lifecycle codes in the tables are shown by name.
"""

from __future__ import annotations

import base64
import html
import io
import re
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from repurchase_ml import i18n
from repurchase_ml.analytics import plots

__all__ = ["CATEGORY_SECTION", "SECTIONS", "build_page"]

#: the page's sections in order: table name and the plot that draws it (None: table only)
SECTIONS: tuple[tuple[str, Callable[..., Any] | None], ...] = (
    ("repurchase_funnel", plots.plot_repurchase_funnel),
    ("repurchase_funnel_by_cohort", plots.plot_repurchase_funnel),
    ("repurchase_funnel_by_segment", plots.plot_repurchase_funnel),
    ("time_to_second_order", plots.plot_time_to_next_order),
    ("return_shares", None),
    ("nudge_window", None),
    ("cohort_retention", plots.plot_cohort_retention),
    ("cohort_revenue_retention", plots.plot_cohort_retention),
    ("segment_migration_rfm", plots.plot_segment_migration),
    ("segment_migration_lifecycle", plots.plot_segment_flow),
    ("behaviour_funnel", plots.plot_behaviour_funnel),
    ("behaviour_funnel_by_segment", plots.plot_behaviour_funnel),
    ("behaviour_funnel_by_category", plots.plot_behaviour_funnel),
    ("activity_by_month", plots.plot_activity_over_time),
    ("activity_by_week", plots.plot_activity_over_time),
    ("promotion_effects", plots.plot_promotion_effects),
    ("action_summary", plots.plot_action_summary),
    ("frequency_recency_matrix", plots.plot_frequency_recency_matrix),
    ("probability_alive_matrix", plots.plot_probability_alive_matrix),
    ("period_transactions", plots.plot_period_transactions),
    ("calibration_vs_holdout", plots.plot_calibration_vs_holdout),
    ("cumulative_transactions", plots.plot_cumulative_transactions),
)
_ROWS_SHOWN = 12
#: the category-paths section: its ``id`` and its tables (``run_analytics``'s
#: ``category_<key>``, keys of :data:`repurchase_ml.categories.CATEGORY_SECTION_TITLES`)
CATEGORY_SECTION = "category_paths"
CATEGORY_TABLES = ("first_category", "transitions", "co_bought", "browse_to_buy")
#: columns of the category tables that are shares of customers or orders, shown in per cent
_CATEGORY_PERCENT = ("retention_180d", "retention_180d_low", "retention_180d_high", "share",
                     "share_low", "share_high", "base_rate", "support", "confidence",
                     "consequent_rate")

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",
"Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;
color:#1a1a1a;background:#fff}
main{max-width:1300px;margin:0 auto;padding:16px 24px;box-sizing:border-box}
section{margin:28px 0;border-top:1px solid #ddd;padding-top:8px}
h1{font-size:1.6em}h2{font-size:1.2em;margin:8px 0}h3{font-size:1em;margin:14px 0 4px}
p.help{color:#444;margin:4px 0 10px}
img{max-width:100%;height:auto;display:block}
.table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:0.85em;margin-top:8px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3;white-space:normal;vertical-align:bottom;overflow-wrap:anywhere}td.text{text-align:left}
p.caption{color:#555;font-size:0.8em}
"""


def _figure_png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)  # laid out by the plot (tight_layout)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _format(value: Any) -> tuple[str, bool]:
    """(text, is_text) of one cell."""
    if isinstance(value, float):
        return ("" if value != value else f"{value:,.3f}".rstrip("0").rstrip(".")), False
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d"), True
    if isinstance(value, bool | int):
        return f"{value:,}" if not isinstance(value, bool) else str(value), False
    return str(value), True


#: table columns whose values are segment or lifecycle codes, shown by name
_CODED = ("group", "from_segment", "to_segment")


def _shown_value(value: Any, kind: str, language: str) -> Any:
    if value == "all":  # the overall row of a grouped table
        return i18n.text("analytics.page.all", language)
    if isinstance(value, str) and i18n.has(f"{kind}.{value}", language):
        return i18n.label(kind, value, language)
    return value


def _in_language(figure: Any, language: str) -> Any:
    """The figure's own words (titles, axes, legends, segment names) in ``language``.

    The plot functions draw in English; without a font with Chinese glyphs the
    figure keeps English words rather than show empty boxes.
    """
    from matplotlib.text import Text

    from repurchase_ml.report.plots import cjk_font, plot_language

    if plot_language(language) == "en":
        return figure

    def said(words: str) -> str | None:
        for key in (f"analytics.plot.{words}", f"segment.{words}", f"lifecycle.{words}"):
            if i18n.has(key, language):
                return i18n.text(key, language)
        counted = re.fullmatch(r"(.+) (\([\d,]+\))", words)  # a flow's "at_risk (37)"
        name = said(counted.group(1)) if counted else None
        return f"{name} {counted.group(2)}" if counted and name else None

    for ax in figure.axes:  # tick labels are made on drawing: set named ones explicitly
        for ticks, labels, setter in ((ax.get_xticks, ax.get_xticklabels, ax.set_xticks),
                                      (ax.get_yticks, ax.get_yticklabels, ax.set_yticks)):
            words = [t.get_text() for t in labels()]
            if any(said(w) for w in words):
                setter(ticks(), [said(w) or w for w in words])
    font = [str(cjk_font()), "DejaVu Sans"]
    for item in figure.findobj(Text):
        item.set_text(said(item.get_text()) or item.get_text())
        item.set_fontfamily(font)
    return figure


def _html_table(table: pd.DataFrame, name: str, language: str) -> str:
    shown = table.head(_ROWS_SHOWN)
    if {"action_id", "action"} <= set(shown.columns):  # the packaged actions in the page's words
        shown = shown.assign(action=[
            i18n.label("action", a, language) if i18n.has(f"action.{a}", language) else text
            for a, text in zip(shown["action_id"], shown["action"], strict=True)])
    kind = "lifecycle" if "lifecycle" in name else "segment"
    head = "".join(f"<th>{html.escape(i18n.label('analytics.col', c, language))}</th>"
                   for c in shown.columns)
    coded = [c in _CODED for c in shown.columns]
    percent = [name.startswith("category_") and c in _CATEGORY_PERCENT for c in shown.columns]
    rows = []
    for record in shown.itertuples(index=False):
        cells = []
        for value, is_code, is_percent in zip(record, coded, percent, strict=True):
            if is_code:
                value = _shown_value(value, kind, language)
            value = value.item() if hasattr(value, "item") else value
            if isinstance(value, bool):  # a flag such as "complete period"
                value = i18n.text(f"analytics.page.{'yes' if value else 'no'}", language)
            text, is_text = (f"{value:.1%}", False) if is_percent and isinstance(value, float) \
                and value == value else _format(value)
            cells.append(f'<td class="text">{html.escape(text)}</td>' if is_text
                         else f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = i18n.text("analytics.page.table_rows", language, shown=len(shown), total=len(table),
                        name=name)
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>'
            f'{"".join(rows)}</tbody></table></div><p class="caption">{html.escape(caption)}</p>')


def _section(name: str, table: pd.DataFrame, plot: Callable[..., Any] | None,
             extra: Mapping[str, Any], language: str) -> str:
    title = i18n.text(f"analytics.section.{name}.title", language)
    parts = [f'<section id="{name}"><h2>{html.escape(title)}</h2>',
             '<p class="help">'
             f'{html.escape(i18n.text(f"analytics.section.{name}.help", language))}</p>']
    if plot is not None:
        figure = _in_language(plot(table, **extra.get(name, {})), language)
        parts.append(f'<img alt="{html.escape(title)}" '
                     f'src="data:image/png;base64,{_figure_png(figure)}">')
    if table.empty:
        empty = table.attrs.get("note", i18n.text("analytics.page.empty", language))
        parts.append(f"<p>{html.escape(empty)}</p>")
    elif not name.endswith("_matrix"):
        parts.append(_html_table(table, name, language))
    parts.append("</section>")
    return "".join(parts)


def _category_section(tables: Mapping[str, pd.DataFrame], language: str) -> str:
    """Category paths under their titles, or one line when the log has no categories."""
    def say(key: str) -> str:
        return html.escape(i18n.text(f"analytics.section.{CATEGORY_SECTION}.{key}", language))

    parts = [f'<section id="{CATEGORY_SECTION}"><h2>{say("title")}</h2>']
    shown = [k for k in CATEGORY_TABLES if f"category_{k}" in tables]
    if not shown:
        parts.append(f'<p class="help">{say("absent")}</p>')
    else:
        parts.append(f'<p class="help">{say("help")}</p>')
    for key in shown:
        table = tables[f"category_{key}"]
        if key == "browse_to_buy":  # its pair is browsed -> bought, not bought -> also bought
            table = table.rename(columns={"antecedent": "browsed", "consequent": "bought"})
        parts.append(f"<h3>{say(key)}</h3>")
        parts.append(f"<p>{say('empty')}</p>" if table.empty
                     else _html_table(table, f"category_{key}", language))
    return "".join(parts) + "</section>"


def build_page(tables: Mapping[str, pd.DataFrame], *, as_of: pd.Timestamp,
               previous_as_of: pd.Timestamp | None = None, language: str = "en",
               report_href: str | None = None) -> str:
    """The HTML page of :func:`~repurchase_ml.analytics.run_analytics`'s tables.

    Sections follow :data:`SECTIONS`, then the category paths
    (:data:`CATEGORY_SECTION`, one line without categories); a table that is missing is left out
    and listed with its reason when ``tables["notes"]`` has one. ``language``
    (``en`` or ``zh``) is the language of every text; ``report_href`` links
    the churn report of the same date.

    Examples
    --------
    >>> t = {"return_shares": pd.DataFrame({"days": [7], "share_returned": [0.2]})}
    >>> page = build_page(t, as_of=pd.Timestamp("2024-06-01"))
    >>> "Share back within N days" in page, page.count("<section")  # and the category paths
    (True, 2)
    >>> "N 天内回购占比" in build_page(t, as_of=pd.Timestamp("2024-06-01"), language="zh")
    True
    """
    i18n.check_language(language)
    stamp = pd.Timestamp(as_of).strftime("%Y-%m-%d")
    extra: dict[str, dict[str, Any]] = {}
    nudge = tables.get("nudge_window")
    if nudge is not None and len(nudge) and pd.notna(nudge["nudge_day"].iat[0]):
        extra["time_to_second_order"] = {"nudge_day": int(nudge["nudge_day"].iat[0])}
    def say(key: str, **values: Any) -> str:
        return html.escape(i18n.text(f"analytics.page.{key}", language, **values))

    body = [f"<h1>{say('title', as_of=stamp)}</h1>", f"<p>{say('intro', as_of=stamp)}</p>"]
    if report_href:
        body.append(f'<p><a href="{html.escape(report_href)}">{say("report_link")}</a></p>')
    if previous_as_of is not None:
        previous = pd.Timestamp(previous_as_of).strftime("%Y-%m-%d")
        body.append(f"<p>{say('migration_since', previous=previous)}</p>")
    for name, plot in SECTIONS:
        if name in tables:
            body.append(_section(name, tables[name], plot, extra, language))
    body.append(_category_section(tables, language))
    notes = tables.get("notes")
    if notes is not None and len(notes):
        items = "".join(f"<li><b>{html.escape(str(r.table))}</b>: {html.escape(str(r.note))}</li>"
                        for r in notes.itertuples())
        body.append(f'<section id="notes"><h2>{say("notes")}</h2><ul>{items}</ul></section>')
    lang = "zh-CN" if language == "zh" else "en"
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{say('title', as_of=stamp)}</title><style>{_STYLE}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>")
