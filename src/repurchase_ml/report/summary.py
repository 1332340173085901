"""Summary: what the report speaks for (as-of, model, windows, test sizes) and the headline numbers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from repurchase_ml.events import check_canonical
from repurchase_ml.report._base import ReportContext, Section, e, warning


def task_facts(ctx: ReportContext) -> dict[str, dict[str, Any]]:
    """Per task: horizon, training cutoffs, test cutoff and test rows, from what was given.

    ``model["tasks"]`` (from :func:`~repurchase_ml.report.bundle_report_inputs`)
    first; test rows otherwise from the scorecards' ``Scorecard.n_rows``.
    """
    facts: dict[str, dict[str, Any]] = {
        str(task): dict(info) for task, info in ((ctx.model or {}).get("tasks") or {}).items()}
    for task, table in (ctx.scorecards or {}).items():
        if isinstance(table, Mapping) and "test_rows" not in facts.get(task, {}):
            rows = [getattr(card, "n_rows", None) for card in table.values()]
            rows = [int(n) for n in rows if isinstance(n, int) and not isinstance(n, bool)]
            if rows:
                facts.setdefault(task, {})["test_rows"] = rows[0]
    return facts


def small_tests(ctx: ReportContext) -> dict[str, int]:
    """Tasks whose test rows are fewer than ``min_test_rows``: task -> rows."""
    return {task: int(f["test_rows"]) for task, f in task_facts(ctx).items()
            if f.get("test_rows") is not None and int(f["test_rows"]) < ctx.min_test_rows}


def small_test_warning(ctx: ReportContext, task: str, rows: int) -> str:
    return warning(ctx.t("report.summary.small_test", task=ctx.fmt.label("task", task),
                         rows=ctx.fmt.count(rows), minimum=ctx.fmt.count(ctx.min_test_rows)))


def _facts_table(ctx: ReportContext) -> str:
    facts = task_facts(ctx)
    if not facts:
        return ""
    f = ctx.fmt
    head = "".join(f"<th>{ctx.t(f'report.summary.facts.{c}')}</th>" for c in (
        "task", "horizon", "training", "test_cutoff", "test_rows"))
    rows = []
    for task, info in facts.items():
        train = info.get("train_cutoffs") or []
        training = (ctx.t("report.summary.facts.training_value", first=f.date(min(train)),
                          last=f.date(max(train)), n=len(train)) if train else "")
        horizon = (ctx.t("report.summary.facts.days", days=int(info["horizon_days"]))
                   if info.get("horizon_days") is not None else "")
        test = f.date(info["test_cutoff"]) if info.get("test_cutoff") is not None else ""
        n = info.get("test_rows")
        small = n is not None and int(n) < ctx.min_test_rows
        size = "" if n is None else f.count(int(n)) + (" \u26a0" if small else "")
        rows.append(
            f"<tr><th>{e(f.label('task', task))}</th><td>{horizon}</td><td>{training}</td>"
            f"<td>{e(test)}</td><td class=\"num{' warn' if small else ''}\">"
            f"{e(size)}</td></tr>")
    return (f"<h3>{ctx.t('report.summary.facts.title')}</h3><table>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + "".join(small_test_warning(ctx, t, n) for t, n in small_tests(ctx).items()))


def render(ctx: ReportContext) -> str:
    f = ctx.fmt
    cards = [(ctx.t("report.summary.as_of"), f.date(ctx.cutoff))]
    if ctx.events is not None:
        check_canonical(ctx.events, argument="events")
        seen = ctx.events.loc[ctx.events["timestamp"] < ctx.cutoff]
        cards.append((ctx.t("report.summary.customers"), f.count(seen["customer_id"].nunique())))
    radar = ctx.radar
    if radar is not None:
        cards.append((ctx.t("report.summary.on_radar"), f.count(len(radar))))
        if len(radar) and "value_at_risk" in radar.columns:
            cards.append((ctx.t("report.summary.value_at_risk"),
                          f.money(float(radar["value_at_risk"].sum()))))
        if len(radar) and "value_if_retained" in radar.columns:
            cards.append((ctx.t("report.summary.value_if_retained"),
                          f.money(float(radar["value_if_retained"].sum()))))
        if len(radar) and "churn_probability" in radar.columns:
            cards.append((ctx.t("report.summary.mean_churn"),
                          f.share(float(radar["churn_probability"].mean()))))
    html = ('<div class="cards">' + "".join(
        f'<div class="card">{label}<b>{e(value)}</b></div>' for label, value in cards) + "</div>")
    return html + _facts_table(ctx)


def header_line(ctx: ReportContext, generated: pd.Timestamp) -> str:
    """The line under the title: as-of, model and version, when the page was made."""
    parts = [ctx.t("report.header.as_of", date=ctx.fmt.date(ctx.cutoff))]
    model = ctx.model or {}
    if model.get("version") is not None:
        parts.append(ctx.t("report.header.model", name=model.get("name") or "",
                           version=model["version"]))
    parts.append(ctx.t("report.header.generated", when=generated.strftime("%Y-%m-%d %H:%M UTC")))
    return " \u00b7 ".join(parts)


SECTION = Section("summary", render)
