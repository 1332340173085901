"""The analytics page: one self-contained HTML file (images inline, no external resources).

Every label a reader sees is in :data:`LABELS`, keyed by a message id, so the
texts live in one place.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from repurchase_ml.analytics import plots

__all__ = ["LABELS", "SECTIONS", "build_page"]

#: every user-visible text of the page, by message id
LABELS: dict[str, str] = {
    "page.title": "Operations analytics at {as_of}",
    "page.intro": ("Computed from events before {as_of}. Orders are counted as the models "
                   "count them; money is net of refunds."),
    "page.migration_since": "Segment migration since {previous}.",
    "page.table_rows": "First {shown} of {total} rows; every row is in {name}.csv / .parquet.",
    "page.empty": "Nothing to show.",
    "page.notes": "Left out",
    "section.repurchase_funnel": "Repurchase funnel",
    "section.repurchase_funnel.help": ("Customers who reached their 1st, 2nd, 3rd ... order, "
                                       "with the share of the previous step."),
    "section.repurchase_funnel_by_cohort": "Repurchase funnel by acquisition month",
    "section.repurchase_funnel_by_cohort.help": ("Younger cohorts had less time to come back: "
                                                 "compare cohorts of similar age."),
    "section.repurchase_funnel_by_segment": "Repurchase funnel by RFM segment",
    "section.repurchase_funnel_by_segment.help": "The funnel within each RFM segment today.",
    "section.time_to_second_order": "Time from the first to the second order",
    "section.time_to_second_order.help": (
        "Kaplan-Meier: buyers who have not come back yet are counted as still waiting, "
        "not as lost. The dashed line is the nudge window."),
    "section.return_shares": "Share back within N days",
    "section.return_shares.help": "Share of new buyers who placed a second order within N days.",
    "section.nudge_window": "Nudge window",
    "section.nudge_window.help": (
        "The day after which a new buyer's daily chance of a second order stays below the "
        "threshold: nudge before it."),
    "section.cohort_retention": "Cohort retention (customers)",
    "section.cohort_retention.help": ("Share of each acquisition month's customers who ordered "
                                      "in each later month."),
    "section.cohort_revenue_retention": "Cohort retention (revenue)",
    "section.cohort_revenue_retention.help": ("Net revenue of each cohort per month, as a share "
                                              "of its first month's."),
    "section.segment_migration_rfm": "RFM segment migration",
    "section.segment_migration_rfm.help": "Where last period's segments are now.",
    "section.segment_migration_lifecycle": "Lifecycle stage migration",
    "section.segment_migration_lifecycle.help": "Where last period's lifecycle stages are now.",
    "section.behaviour_funnel": "Behaviour funnel (last 30 days)",
    "section.behaviour_funnel.help": "Viewed, then carted or favourited, then bought.",
    "section.behaviour_funnel_by_segment": "Behaviour funnel by RFM segment",
    "section.behaviour_funnel_by_segment.help": "Share of each segment's viewers at each step.",
    "section.behaviour_funnel_by_category": "Behaviour funnel by category",
    "section.behaviour_funnel_by_category.help": "Share of each category's viewers at each step.",
    "section.activity_by_month": "Activity by month",
    "section.activity_by_month.help": ("New and returning buyers and net revenue; the running "
                                       "month is hatched."),
    "section.activity_by_week": "Activity by week",
    "section.activity_by_week.help": "The same by week.",
    "section.promotion_effects": "Promotion days",
    "section.promotion_effects.help": (
        "Orders on each promotion day against the daily mean of the surrounding two weeks, and "
        "how often the buyers it won came back within 90 days."),
    "section.action_summary": "Recommended actions",
    "section.action_summary.help": "Customers and value at risk each action of the radar covers.",
    "section.frequency_recency_matrix": "BG/NBD: expected orders next week",
    "section.frequency_recency_matrix.help": "By repeat orders and recency of the last one.",
    "section.probability_alive_matrix": "BG/NBD: probability still active",
    "section.probability_alive_matrix.help": "By repeat orders and recency of the last one.",
    "section.period_transactions": "BG/NBD: repeat orders per customer",
    "section.period_transactions.help": "Observed against the model: the fit check.",
    "section.calibration_vs_holdout": "BG/NBD: calibration against holdout",
    "section.calibration_vs_holdout.help": ("Fitted before the last 90 days; mean orders in "
                                            "those days, forecast against actual."),
    "section.cumulative_transactions": "BG/NBD: cumulative repeat orders",
    "section.cumulative_transactions.help": "Actual against the model fitted before the holdout.",
}

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

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans SC",sans-serif;margin:0;
color:#1a1a1a;background:#fff}
main{max-width:1200px;margin:0 auto;padding:16px 24px;box-sizing:border-box}
section{margin:28px 0;border-top:1px solid #ddd;padding-top:8px}
h1{font-size:1.6em}h2{font-size:1.2em;margin:8px 0}
p.help{color:#444;margin:4px 0 10px}
img{max-width:100%;height:auto;display:block}
.table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;font-size:0.85em;margin-top:8px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td.text{text-align:left}
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


def _html_table(table: pd.DataFrame, name: str) -> str:
    shown = table.head(_ROWS_SHOWN)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for record in shown.itertuples(index=False):
        cells = []
        for value in record:
            text, is_text = _format(value.item() if hasattr(value, "item") else value)
            cells.append(f'<td class="text">{html.escape(text)}</td>' if is_text
                         else f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = LABELS["page.table_rows"].format(shown=len(shown), total=len(table), name=name)
    return (f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>'
            f'{"".join(rows)}</tbody></table></div><p class="caption">{html.escape(caption)}</p>')


def _section(name: str, table: pd.DataFrame, plot: Callable[..., Any] | None,
             extra: Mapping[str, Any]) -> str:
    parts = [f'<section id="{name}"><h2>{html.escape(LABELS[f"section.{name}"])}</h2>',
             f'<p class="help">{html.escape(LABELS[f"section.{name}.help"])}</p>']
    if plot is not None:
        figure = plot(table, **extra.get(name, {}))
        parts.append(f'<img alt="{html.escape(LABELS[f"section.{name}"])}" '
                     f'src="data:image/png;base64,{_figure_png(figure)}">')
    if table.empty:
        parts.append(f"<p>{html.escape(table.attrs.get('note', LABELS['page.empty']))}</p>")
    elif not name.endswith("_matrix"):
        parts.append(_html_table(table, name))
    parts.append("</section>")
    return "".join(parts)


def build_page(tables: Mapping[str, pd.DataFrame], *, as_of: pd.Timestamp,
               previous_as_of: pd.Timestamp | None = None) -> str:
    """The HTML page of :func:`~repurchase_ml.analytics.run_analytics`'s tables.

    Sections follow :data:`SECTIONS`; a table that is missing is left out
    and listed with its reason when ``tables["notes"]`` has one.

    Examples
    --------
    >>> t = {"return_shares": pd.DataFrame({"days": [7], "share_returned": [0.2]})}
    >>> page = build_page(t, as_of=pd.Timestamp("2024-06-01"))
    >>> "Share back within N days" in page, page.count("<section")
    (True, 1)
    """
    stamp = pd.Timestamp(as_of).strftime("%Y-%m-%d")
    extra: dict[str, dict[str, Any]] = {}
    nudge = tables.get("nudge_window")
    if nudge is not None and len(nudge) and pd.notna(nudge["nudge_day"].iat[0]):
        extra["time_to_second_order"] = {"nudge_day": int(nudge["nudge_day"].iat[0])}
    body = [f"<h1>{html.escape(LABELS['page.title'].format(as_of=stamp))}</h1>",
            f"<p>{html.escape(LABELS['page.intro'].format(as_of=stamp))}</p>"]
    if previous_as_of is not None:
        since = LABELS["page.migration_since"].format(
            previous=pd.Timestamp(previous_as_of).strftime("%Y-%m-%d"))
        body.append(f"<p>{html.escape(since)}</p>")
    for name, plot in SECTIONS:
        if name in tables:
            body.append(_section(name, tables[name], plot, extra))
    notes = tables.get("notes")
    if notes is not None and len(notes):
        items = "".join(f"<li><b>{html.escape(str(r.table))}</b>: {html.escape(str(r.note))}</li>"
                        for r in notes.itertuples())
        body.append(f'<section id="notes"><h2>{html.escape(LABELS["page.notes"])}</h2>'
                    f"<ul>{items}</ul></section>")
    title = html.escape(LABELS["page.title"].format(as_of=stamp))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_STYLE}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>")
