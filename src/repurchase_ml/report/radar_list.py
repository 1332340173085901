"""Radar: the top of the list CRM works from, as a fixed-width table sortable and filterable in place.

The table has fixed column widths (so a long reason cannot squeeze the
numbers or push the action off screen), each customer's reasons as a short
list of one line each (the whole sentence on hover), the action in the last
column, and a small inline script (see ``_base.SCRIPT``) that sorts by a
clicked header and filters rows by typed text without a server. It shows the
first ``top_n`` rows and links the full CSV.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from repurchase_ml.errors import SchemaError
from repurchase_ml.i18n import has
from repurchase_ml.report._base import (
    Raw,
    ReportContext,
    Section,
    e,
    empty_radar,
    is_number,
    missing,
    note,
)

#: radar column -> (width in % of the table, how its cells are shown)
COLUMNS: dict[str, tuple[float, str]] = {
    "rank": (3.5, "count"),
    "customer_id": (7.0, "id"),
    "churn_probability": (6.0, "share"),
    "value_at_risk": (7.0, "money"),
    "value_if_retained": (7.0, "money"),
    "segment": (8.5, "segment"),
    "lifecycle_stage": (6.5, "lifecycle"),
    # the widest: a reason is one line with its numbers at the end (hover shows the rest)
    "reasons": (38.0, "reasons"),
    "action": (16.5, "action"),
}


def _reasons(frame: pd.DataFrame) -> pd.Series:
    """Each row's reasons as a list, from a ``reasons`` column or ``reason_1 ..`` columns."""
    if "reasons" in frame.columns:
        return frame["reasons"].map(
            lambda v: [str(x) for x in v if isinstance(x, str) and x]
            if isinstance(v, list | tuple | np.ndarray) else
            ([] if v is None or (isinstance(v, float) and np.isnan(v)) else [str(v)]))
    cols = sorted((c for c in frame.columns if c.startswith("reason_") and c[7:].isdigit()),
                  key=lambda c: int(c[7:]))
    return pd.Series([[r for r in row if isinstance(r, str) and r]
                      for row in frame[cols].itertuples(index=False, name=None)],
                     index=frame.index, dtype=object)


def _ordered(ctx: ReportContext, radar: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    if "rank" in radar.columns:  # the radar's own order (by value at risk or churn probability)
        return radar.sort_values("rank", kind="mergesort"), ctx.t("report.radar.order_rank")
    if "value_at_risk" in radar.columns:
        return (radar.sort_values("value_at_risk", ascending=False, kind="mergesort"),
                ctx.t("report.radar.order_value"))
    return radar, ctx.t("report.radar.order_given")


def _cell(ctx: ReportContext, kind: str, value: Any, row: dict[str, Any]) -> str:
    f = ctx.fmt
    if kind == "reasons":
        items = "".join(f'<li title="{e(r)}">{e(r)}</li>' for r in value)
        return f"<td><ul>{items}</ul></td>" if value else "<td></td>"
    if kind == "action":
        action_id = row.get("action_id")
        text = (f.label("action", action_id) if isinstance(action_id, str)
                and has(f"action.{action_id}", f.language) else str(value or ""))
        return f'<td><div class="clamp" title="{e(text)}">{e(text)}</div></td>'
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return '<td data-v="NaN"></td>' if kind in ("count", "share", "money") else "<td></td>"
    if kind in ("count", "share", "money") and is_number(value):
        shown = {"count": f.count, "share": f.share, "money": f.money}[kind](float(value))
        return f'<td class="num" data-v="{float(value)!r}">{e(shown)}</td>'
    if kind in ("segment", "lifecycle"):
        return f"<td>{e(f.label(kind, value))}</td>"
    return f'<td class="id" title="{e(value)}">{e(value)}</td>'


def render(ctx: ReportContext) -> str:
    radar = ctx.radar
    if radar is None:
        return missing(ctx, "radar")
    if not isinstance(radar, pd.DataFrame):
        raise TypeError(f"radar must be a DataFrame, got {type(radar).__name__}.")
    if radar.empty:
        return empty_radar(ctx)
    frame, order = _ordered(ctx, radar)
    frame = frame.assign(reasons=_reasons(frame)) if "reasons" in frame.columns or any(
        c.startswith("reason_") for c in frame.columns) else frame
    # a score the model set does not give (e.g. no LTV task) is left out, not shown empty
    cols = [c for c in COLUMNS if c in frame.columns
            and (c == "reasons" or frame[c].notna().any())]
    if not cols:
        raise SchemaError(None, f"radar has none of the expected columns {list(COLUMNS)}",
                          fix="pass the frame returned by churn_radar")
    top = frame.head(ctx.top_n)
    f = ctx.fmt
    scale = 100.0 / sum(COLUMNS[c][0] for c in cols)
    colgroup = "".join(f'<col style="width:{COLUMNS[c][0] * scale:.2f}%">' for c in cols)
    head = "".join(f'<th scope="col">{ctx.t(f"report.col.{c}")}</th>' for c in cols)
    extra = [c for c in ("action_id",) if c in top.columns]
    body = []
    for row in top[cols + extra].to_dict(orient="records"):
        body.append("<tr>" + "".join(_cell(ctx, COLUMNS[c][1], row[c], row) for c in cols)
                    + "</tr>")
    csv = (ctx.t("report.radar.csv", file=Raw(f'<a href="{e(ctx.radar_csv)}">'
                                              f"{e(ctx.radar_csv)}</a>"))
           if ctx.radar_csv else "")
    csv = " " + csv if csv else ""
    intro = (f"<p>{ctx.t('report.radar.top', shown=f.count(len(top)), total=f.count(len(frame)))}"
             f"{ctx.t('report.radar.order', order=Raw(order))}{csv}</p>")
    money = note(ctx.t("report.radar.money")) if "value_if_retained" in cols else ""
    showing = ctx.t("report.radar.showing", total=f.count(len(top)),
                    shown=Raw(f'<b id="radar-shown">{len(top)}</b>'))
    tools = ('<div class="tools"><label for="radar-filter">'
             f'{ctx.t("report.radar.filter")}</label><input id="radar-filter" type="search" '
             f'placeholder="{ctx.t("report.radar.filter_hint")}"><span>{showing}</span>'
             f'<span class="note">{ctx.t("report.radar.sort_hint")}</span></div>')
    return (intro + money + tools
            + f'<table class="radar" id="radar-table"><colgroup>{colgroup}</colgroup>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


SECTION = Section("radar", render)
